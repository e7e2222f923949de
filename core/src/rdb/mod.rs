//! Redis's RDB format: snapshot files and DUMP/RESTORE payloads, without any runtime.
//!
//! Writing follows Redis 7.0 (RDB version 10) byte for byte where Redis is deterministic:
//! strings that read as 32-bit integers are integer-encoded, strings over 20 bytes are LZF
//! compressed when that saves at least four bytes, small hashes and sorted sets are listpacks,
//! small integer sets are intsets and lists are quicklists of listpacks split where Redis's
//! nodes split.
//!
//! Reading accepts versions 1 to 12 (Redis up to 7.4, Valkey 8). [`RdbReader`] only frames the
//! file into items, copying each value's bytes as stored, so that [`decode_value`] can run on
//! the shard that owns the key, in parallel with the other shards. Decoding validates every
//! packed structure: a hostile file or payload yields an [`RdbError`], never a panic, an
//! out-of-bounds read or an allocation beyond what the input could justify.

pub mod crc64;
pub mod lzf;
pub mod packed;

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read, Write};

use crate::db::{EncodingLimits, StrValue, Value};
use crate::resp::frame::format_g17;
use crate::types::hash::{self, Hash};
use crate::types::list::{Elem, List};
use crate::types::numfmt::{parse_f64_strict, parse_i64_strict};
use crate::types::set::{IntSet, Set};
use crate::types::zset::{self, ZSet};
use packed::{Entry, ListpackBuilder};

/// The version Tessera writes: Redis 7.0's.
pub const RDB_VERSION: u16 = 10;
/// The newest version Tessera reads (Redis 7.4).
pub const RDB_MAX_VERSION: u16 = 12;

mod op {
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Value type bytes.
pub mod ty {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const SET_LISTPACK: u8 = 20;
}

/// Quicklist node containers.
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// What a type byte Tessera cannot load stands for, for the error message.
fn unsupported_type(t: u8) -> Option<&'static str> {
    match t {
        6 | 7 => Some("module"),
        15 | 19 | 21 => Some("stream"),
        22..=25 => Some("hash with field expiration (Redis 7.4)"),
        0..=5 | 9..=14 | 16..=18 | 20 => None,
        _ => Some("unknown"),
    }
}

#[derive(Debug)]
pub enum RdbError {
    Io(io::Error),
    /// The input is not valid RDB; the message says what and, where it helps, where.
    Format(String),
    /// A collection with no elements, which Redis 7.0 refuses to create: loading skips the key,
    /// RESTORE answers "Bad data format".
    EmptyKey,
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::Io(e) => write!(f, "I/O error: {e}"),
            RdbError::Format(m) => f.write_str(m),
            RdbError::EmptyKey => f.write_str("empty collection (Redis skips such keys)"),
        }
    }
}

impl std::error::Error for RdbError {}

impl From<io::Error> for RdbError {
    fn from(e: io::Error) -> Self {
        RdbError::Io(e)
    }
}

fn format_err(msg: impl Into<String>) -> RdbError {
    RdbError::Format(msg.into())
}

#[derive(Clone, Copy, Debug)]
pub struct SaveOptions {
    /// `rdbcompression`: LZF for strings over 20 bytes.
    pub compress: bool,
    /// `rdbchecksum`: the CRC64 trailer (0 when off, as Redis writes).
    pub checksum: bool,
}

/// Access metadata stored before a key: Redis writes IDLE under an LRU maxmemory-policy and FREQ
/// under an LFU one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMeta {
    None,
    /// Idle time in seconds.
    Idle(u64),
    /// The LFU counter.
    Freq(u8),
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A string as Redis's `rdbSaveRawString`: integer-encoded when short and a 32-bit integer, LZF
/// when long and compressible, raw otherwise.
fn put_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11 {
        if let Some(n) = parse_i64_strict(s) {
            if put_int_encoded(out, n) {
                return;
            }
        }
    }
    if compress && s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push(0xc3);
            put_len(out, c.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn put_int_encoded(out: &mut Vec<u8>, n: i64) -> bool {
    if let Ok(v) = i8::try_from(n) {
        out.extend_from_slice(&[0xc0, v as u8]);
    } else if let Ok(v) = i16::try_from(n) {
        out.push(0xc1);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(n) {
        out.push(0xc2);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// A score as Redis 7.0's `d2string` renders it into a listpack.
fn d2string(d: f64) -> Vec<u8> {
    if d.is_nan() {
        b"nan".to_vec()
    } else if d.is_infinite() {
        if d < 0.0 {
            b"-inf".to_vec()
        } else {
            b"inf".to_vec()
        }
    } else if d == 0.0 {
        if d.is_sign_negative() {
            b"-0".to_vec()
        } else {
            b"0".to_vec()
        }
    } else if d > -4503599627370495.0 && d < 4503599627370496.0 && d == (d as i64) as f64 {
        itoa::Buffer::new().format(d as i64).as_bytes().to_vec()
    } else {
        format_g17(d).into_bytes()
    }
}

/// The type byte Redis 7.0 writes for `v`.
pub fn value_type(v: &Value) -> u8 {
    match v {
        Value::Str(_) => ty::STRING,
        Value::List(_) => ty::LIST_QUICKLIST_2,
        Value::Set(Set::Ints(_)) => ty::SET_INTSET,
        Value::Set(Set::Hash(_)) => ty::SET,
        Value::ZSet(ZSet::Packed(_)) => ty::ZSET_LISTPACK,
        Value::ZSet(ZSet::Tree(_)) => ty::ZSET_2,
        Value::Hash(Hash::Listpack(_)) => ty::HASH_LISTPACK,
        Value::Hash(Hash::Table(_)) => ty::HASH,
    }
}

fn is_plain(e: Elem) -> bool {
    crate::types::list::is_plain(e)
}

/// The value's bytes (after its type byte), as Redis's `rdbSaveObject`.
pub fn put_value(out: &mut Vec<u8>, v: &Value, compress: bool) {
    match v {
        Value::Str(StrValue::Int(n)) => {
            if !put_int_encoded(out, *n) {
                let mut b = itoa::Buffer::new();
                let s = b.format(*n).as_bytes();
                put_len(out, s.len() as u64);
                out.extend_from_slice(s);
            }
        }
        Value::Str(s) => {
            let mut scratch = itoa::Buffer::new();
            put_string(out, s.bytes(&mut scratch), compress);
        }
        Value::List(l) => put_list(out, l, compress),
        Value::Set(Set::Ints(is)) => put_string(out, &is.to_redis_bytes(), compress),
        Value::Set(s @ Set::Hash(_)) => {
            put_len(out, s.len() as u64);
            for m in s.iter() {
                m.with_bytes(|b| put_string(out, b, compress));
            }
        }
        Value::ZSet(z @ ZSet::Packed(_)) => {
            let mut lp = ListpackBuilder::new();
            for (m, s) in z.iter() {
                lp.push_bytes(m);
                lp.push_bytes(&d2string(s));
            }
            put_string(out, &lp.finish(), compress);
        }
        Value::ZSet(z) => {
            put_len(out, z.len() as u64);
            // Highest first, as Redis walks its skiplist from the tail.
            z.range(0, z.len(), true, |m, s| {
                put_string(out, m, compress);
                out.extend_from_slice(&s.to_le_bytes());
            });
        }
        Value::Hash(h @ Hash::Listpack(_)) => {
            let mut lp = ListpackBuilder::new();
            for (f, v) in h.iter() {
                push_hash_item(&mut lp, f);
                push_hash_item(&mut lp, v);
            }
            put_string(out, &lp.finish(), compress);
        }
        Value::Hash(h) => {
            put_len(out, h.len() as u64);
            let (mut a, mut b) = (itoa::Buffer::new(), itoa::Buffer::new());
            for (f, v) in h.iter() {
                put_string(out, f.bytes(&mut a), compress);
                put_string(out, v.bytes(&mut b), compress);
            }
        }
    }
}

fn push_hash_item(lp: &mut ListpackBuilder, item: hash::Item) {
    match item {
        hash::Item::Int(n) => lp.push_int(n),
        hash::Item::Str(s) => lp.push_bytes(s),
    }
}

fn push_elem(lp: &mut ListpackBuilder, e: Elem) {
    match e {
        Elem::Int(n) => lp.push_int(n),
        Elem::Str(s) => lp.push_bytes(s),
    }
}

/// QUICKLIST_2: one listpack per node; an element of 1 GiB or more is a plain node of its own.
fn put_list(out: &mut Vec<u8>, l: &List, compress: bool) {
    let mut containers = 0u64;
    for node in l.node_elems() {
        let mut open = false;
        for e in node {
            if is_plain(e) {
                containers += 1;
                open = false;
            } else if !open {
                containers += 1;
                open = true;
            }
        }
    }
    put_len(out, containers);
    let flush = |out: &mut Vec<u8>, lp: ListpackBuilder| {
        put_len(out, CONTAINER_PACKED);
        put_string(out, &lp.finish(), compress);
    };
    for node in l.node_elems() {
        let mut lp = ListpackBuilder::new();
        for e in node {
            if is_plain(e) {
                if !lp.is_empty() {
                    flush(out, std::mem::take(&mut lp));
                }
                put_len(out, CONTAINER_PLAIN);
                e.with_bytes(|s| put_string(out, s, compress));
            } else {
                push_elem(&mut lp, e);
            }
        }
        if !lp.is_empty() {
            flush(out, lp);
        }
    }
}

/// Streaming RDB writer; computes the CRC64 as the bytes go out.
pub struct RdbWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    crc: u64,
    flushed: u64,
    opts: SaveOptions,
}

const FLUSH_AT: usize = 64 * 1024;

impl<W: Write> RdbWriter<W> {
    pub fn new(out: W, opts: SaveOptions) -> Self {
        RdbWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT * 2),
            crc: 0,
            flushed: 0,
            opts,
        }
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.opts.checksum {
            self.crc = crc64::crc64(self.crc, &self.buf);
        }
        self.out.write_all(&self.buf)?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// The magic and version, `REDIS0010`.
    pub fn header(&mut self) -> io::Result<()> {
        self.buf
            .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        self.maybe_flush()
    }

    /// An AUX field; values that read as integers are integer-encoded, as Redis does.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.buf.push(op::AUX);
        put_string(&mut self.buf, key, self.opts.compress);
        put_string(&mut self.buf, value, self.opts.compress);
        self.maybe_flush()
    }

    /// A function library's code (`RDB_OPCODE_FUNCTION2`), written after the AUX fields.
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.buf.push(op::FUNCTION2);
        put_string(&mut self.buf, code, self.opts.compress);
        self.maybe_flush()
    }

    pub fn select_db(&mut self, db: u32) -> io::Result<()> {
        self.buf.push(op::SELECTDB);
        put_len(&mut self.buf, db as u64);
        self.maybe_flush()
    }

    pub fn resize_db(&mut self, keys: u64, expires: u64) -> io::Result<()> {
        self.buf.push(op::RESIZEDB);
        put_len(&mut self.buf, keys);
        put_len(&mut self.buf, expires);
        self.maybe_flush()
    }

    /// One key: its expiry (if `expire_at_ms != 0`), IDLE or FREQ if given, then type byte,
    /// key and value.
    pub fn entry(
        &mut self,
        key: &[u8],
        value: &Value,
        expire_at_ms: u64,
        meta: KeyMeta,
    ) -> io::Result<()> {
        if expire_at_ms != 0 {
            self.buf.push(op::EXPIRETIME_MS);
            self.buf.extend_from_slice(&expire_at_ms.to_le_bytes());
        }
        match meta {
            KeyMeta::None => {}
            KeyMeta::Idle(secs) => {
                self.buf.push(op::IDLE);
                put_len(&mut self.buf, secs);
            }
            KeyMeta::Freq(f) => self.buf.extend_from_slice(&[op::FREQ, f]),
        }
        self.buf.push(value_type(value));
        put_string(&mut self.buf, key, self.opts.compress);
        put_value(&mut self.buf, value, self.opts.compress);
        self.maybe_flush()
    }

    /// The EOF opcode and the 8-byte little-endian checksum (0 with checksums off); flushes.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(op::EOF);
        self.flush_buf()?;
        let crc = if self.opts.checksum { self.crc } else { 0 };
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Bytes written so far, buffered ones included.
    pub fn written(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }
}

// ---------------------------------------------------------------------------------------------
// DUMP / RESTORE payloads

/// A DUMP payload: type byte, value, the RDB version (2 bytes LE) and the CRC64 (8 bytes LE) of
/// everything before it.
pub fn dump_payload(value: &Value, compress: bool) -> Vec<u8> {
    let mut out = vec![value_type(value)];
    put_value(&mut out, value, compress);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// DEBUG SET-SKIP-CHECKSUM-VALIDATION: when set, DUMP payloads and RDB files are accepted
/// whatever their CRC64 (to feed a server deliberately corrupt data). A process-wide debugging
/// switch, as in Redis.
pub static SKIP_CHECKSUM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn checksums_checked() -> bool {
    !SKIP_CHECKSUM.load(std::sync::atomic::Ordering::Relaxed)
}

/// Checks a DUMP payload's footer as Redis's `verifyDumpPayload`: a version this reader knows
/// and a matching CRC64. RESTORE answers "DUMP payload version or checksum are wrong" on error.
pub fn verify_dump_payload(payload: &[u8]) -> Result<(), RdbError> {
    let Some(body_len) = payload.len().checked_sub(10) else {
        return Err(format_err("DUMP payload too short"));
    };
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_MAX_VERSION {
        return Err(format_err(format!(
            "DUMP payload RDB version {version} is newer than supported ({RDB_MAX_VERSION})"
        )));
    }
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&footer[2..]);
    if checksums_checked()
        && crc64::crc64(0, &payload[..body_len + 2]) != u64::from_le_bytes(stored)
    {
        return Err(format_err("DUMP payload checksum mismatch"));
    }
    Ok(())
}

/// Decodes a DUMP payload's value without checking its footer (see [`verify_dump_payload`]).
/// RESTORE answers "Bad data format" on error.
pub fn decode_dump_value(payload: &[u8], limits: &EncodingLimits) -> Result<Value, RdbError> {
    let body = payload
        .len()
        .checked_sub(10)
        .and_then(|n| payload.get(..n))
        .filter(|b| !b.is_empty())
        .ok_or_else(|| format_err("DUMP payload too short"))?;
    let t = body[0];
    if let Some(what) = unsupported_type(t) {
        return Err(format_err(format!("{what} type ({t}) not supported")));
    }
    // As Redis, bytes after the value (before the footer) are not looked at.
    decode_from(t, &mut Cursor::new(&body[1..]), limits)
}

/// Verifies and decodes a DUMP payload.
pub fn parse_dump_payload(payload: &[u8], limits: &EncodingLimits) -> Result<Value, RdbError> {
    verify_dump_payload(payload)?;
    decode_dump_value(payload, limits)
}

/// FUNCTION DUMP's payload: each library as in an RDB file, then the RDB version and the
/// CRC64, as a key's DUMP.
pub fn functions_payload<'a>(codes: impl IntoIterator<Item = &'a [u8]>, compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(op::FUNCTION2);
        put_string(&mut out, code, compress);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The libraries' code in a FUNCTION DUMP payload whose footer [`verify_dump_payload`]
/// accepted, or FUNCTION RESTORE's complaint.
pub fn parse_functions_payload(payload: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let body = &payload[..payload.len().saturating_sub(10)];
    let mut c = Cursor::new(body);
    let mut codes = Vec::new();
    let failed = |_| "failed loading the given functions payload".to_string();
    while c.remaining() > 0 {
        match c.byte().map_err(|_| "can not read data type".to_string())? {
            op::FUNCTION2 => codes.push(c.string().map_err(failed)?.into_owned()),
            op::FUNCTION_PRE_GA => {
                let name = c.string().map_err(failed)?;
                let engine = c.string().map_err(failed)?;
                if c.len().map_err(failed)? != 0 {
                    c.string().map_err(failed)?;
                }
                let code = c.string().map_err(failed)?;
                codes.push(pre_ga_library(&engine, &name, &code));
            }
            _ => return Err("given type is not a function".into()),
        }
    }
    Ok(codes)
}

/// A release candidate's library as the code Redis 7.0 makes of it: `#!<engine> name=<name>`
/// and a newline before the code.
fn pre_ga_library(engine: &[u8], name: &[u8], code: &[u8]) -> Vec<u8> {
    let mut out = b"#!".to_vec();
    out.extend_from_slice(engine);
    out.extend_from_slice(b" name=");
    out.extend_from_slice(name);
    out.push(b'\n');
    out.extend_from_slice(code);
    out
}

// ---------------------------------------------------------------------------------------------
// Decoding values

/// A value's bytes exactly as stored in the file, with its type byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawValue {
    pub type_byte: u8,
    pub bytes: Vec<u8>,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor { b, pos: 0 }
    }

    fn err(&self, what: &str) -> RdbError {
        format_err(format!("{what} (at byte {} of the value)", self.pos))
    }

    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], RdbError> {
        let n = usize::try_from(n).map_err(|_| self.err("length out of range"))?;
        if n > self.remaining() {
            return Err(self.err("value truncated"));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?[0])
    }

    /// A length, or (true, encoding) for a special string encoding.
    fn len_or_enc(&mut self) -> Result<(u64, bool), RdbError> {
        let h = self.byte()?;
        Ok(match h >> 6 {
            0 => ((h & 0x3f) as u64, false),
            1 => ((((h & 0x3f) as u64) << 8) | self.byte()? as u64, false),
            3 => ((h & 0x3f) as u64, true),
            _ => match h {
                0x80 => {
                    let b = self.take(4)?;
                    (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64, false)
                }
                0x81 => {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(self.take(8)?);
                    (u64::from_be_bytes(w), false)
                }
                _ => return Err(self.err("unknown length encoding")),
            },
        })
    }

    fn len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            (n, false) => Ok(n),
            _ => Err(self.err("encoded value where a length was expected")),
        }
    }

    /// A count of items each taking at least `min_bytes`: refuses counts the rest of the input
    /// cannot hold, which also bounds preallocations.
    fn count(&mut self, min_bytes: usize) -> Result<usize, RdbError> {
        let n = self.len()?;
        if n > (self.remaining() / min_bytes.max(1)) as u64 {
            return Err(self.err("element count exceeds the data"));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<Cow<'a, [u8]>, RdbError> {
        let (n, enc) = self.len_or_enc()?;
        if !enc {
            return Ok(Cow::Borrowed(self.take(n)?));
        }
        let v = match n {
            0 => self.byte()? as i8 as i64,
            1 => {
                let b = self.take(2)?;
                i16::from_le_bytes([b[0], b[1]]) as i64
            }
            2 => {
                let b = self.take(4)?;
                i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
            }
            3 => {
                let clen = self.len()?;
                let ulen = self.len()?;
                let c = self.take(clen)?;
                let ulen = usize::try_from(ulen).map_err(|_| self.err("LZF length too big"))?;
                return lzf::decompress(c, ulen)
                    .map(Cow::Owned)
                    .map_err(|_| self.err("invalid LZF compressed string"));
            }
            _ => return Err(self.err("unknown string encoding")),
        };
        Ok(Cow::Owned(
            itoa::Buffer::new().format(v).as_bytes().to_vec(),
        ))
    }

    fn binary_double(&mut self) -> Result<f64, RdbError> {
        let mut w = [0u8; 8];
        w.copy_from_slice(self.take(8)?);
        Ok(f64::from_le_bytes(w))
    }

    /// The old string score format: a length byte (253 nan, 254 +inf, 255 -inf), then text.
    fn double_string(&mut self) -> Result<f64, RdbError> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let s = self.take(n as u64)?;
                parse_score(s).ok_or_else(|| self.err("invalid double"))
            }
        }
    }
}

/// A score written as text (old zsets, ziplist/listpack scores).
fn parse_score(s: &[u8]) -> Option<f64> {
    match s {
        b"inf" | b"+inf" => Some(f64::INFINITY),
        b"-inf" => Some(f64::NEG_INFINITY),
        _ => parse_f64_strict(s),
    }
}

/// Redis 7.0 converts a packed hash or zset (ziplist, listpack) on load only when it has too
/// many entries, not for long elements (checking those would mean a scan); a packed value that
/// fits by count stays packed.
fn by_count<T>(mut limits: T, value: impl FnOnce(&mut T)) -> T {
    value(&mut limits);
    limits
}

fn hash_limits(l: &EncodingLimits) -> hash::Limits {
    hash::Limits {
        max_entries: l.hash_max_listpack_entries,
        max_value: l.hash_max_listpack_value,
    }
}

fn zset_limits(l: &EncodingLimits) -> zset::Limits {
    zset::Limits {
        entries: l.zset_max_listpack_entries,
        value: l.zset_max_listpack_value,
    }
}

/// Field/value pairs as decoded: borrowed from the payload or built from packed integers.
type Pairs<'a> = [(Cow<'a, [u8]>, Cow<'a, [u8]>)];

fn build_hash(pairs: &Pairs, limits: hash::Limits) -> Result<Value, RdbError> {
    if pairs.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    let h = Hash::from_pairs(pairs.iter().map(|(f, v)| (&f[..], &v[..])), limits);
    if h.len() != pairs.len() {
        return Err(format_err("duplicate hash fields detected"));
    }
    Ok(Value::Hash(h))
}

fn build_zset(pairs: Vec<(Cow<[u8]>, f64)>, limits: zset::Limits) -> Result<Value, RdbError> {
    if pairs.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    if pairs.iter().any(|p| p.1.is_nan()) {
        return Err(format_err("zset with NaN score detected"));
    }
    let mut seen = ahash::AHashSet::with_capacity(pairs.len());
    if !pairs.iter().all(|p| seen.insert(&p.0[..])) {
        return Err(format_err("duplicate zset fields detected"));
    }
    drop(seen);
    Ok(Value::ZSet(ZSet::from_pairs(pairs, limits)))
}

fn build_set<M: AsRef<[u8]>>(members: &[M], l: &EncodingLimits) -> Result<Value, RdbError> {
    if members.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    let s = Set::from_members(members.iter(), l.set_max_intset_entries);
    if s.len() != members.len() {
        return Err(format_err("duplicate set members detected"));
    }
    Ok(Value::Set(s))
}

fn build_list<M: AsRef<[u8]>>(elems: &[M], l: &EncodingLimits) -> Result<Value, RdbError> {
    if elems.is_empty() {
        return Err(RdbError::EmptyKey);
    }
    Ok(Value::List(Box::new(List::from_elems(
        l.list_max_listpack_size,
        elems.iter(),
    ))))
}

fn entry_pairs<'a>(
    entries: Vec<Entry<'a>>,
    what: &str,
) -> Result<Vec<(Entry<'a>, Entry<'a>)>, RdbError> {
    if !entries.len().is_multiple_of(2) {
        return Err(format_err(format!(
            "{what} integrity check failed (odd entry count)"
        )));
    }
    Ok(entries.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

fn entry_bytes(e: Entry) -> Cow<[u8]> {
    match e {
        Entry::Str(s) => Cow::Borrowed(s),
        Entry::Int(_) => Cow::Owned(e.to_vec()),
    }
}

fn decode_from(t: u8, c: &mut Cursor, l: &EncodingLimits) -> Result<Value, RdbError> {
    match t {
        ty::STRING => Ok(Value::from_bytes(&c.string()?)),
        ty::LIST => {
            let n = c.count(1)?;
            let elems = (0..n).map(|_| c.string()).collect::<Result<Vec<_>, _>>()?;
            build_list(&elems, l)
        }
        ty::SET => {
            let n = c.count(1)?;
            let members = (0..n).map(|_| c.string()).collect::<Result<Vec<_>, _>>()?;
            build_set(&members, l)
        }
        ty::ZSET | ty::ZSET_2 => {
            let n = c.count(2)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                let m = c.string()?;
                let s = if t == ty::ZSET_2 {
                    c.binary_double()?
                } else {
                    c.double_string()?
                };
                pairs.push((m, s));
            }
            build_zset(pairs, zset_limits(l))
        }
        ty::HASH => {
            let n = c.count(2)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((c.string()?, c.string()?));
            }
            build_hash(&pairs, hash_limits(l))
        }
        ty::HASH_ZIPMAP => {
            let blob = c.string()?;
            let pairs = packed::parse_zipmap(&blob)
                .ok_or_else(|| format_err("zipmap integrity check failed"))?;
            let pairs: Vec<_> = pairs
                .into_iter()
                .map(|(f, v)| (Cow::Borrowed(f), Cow::Borrowed(v)))
                .collect();
            // Zipmaps are converted by length too, as Redis does.
            build_hash(&pairs, hash_limits(l))
        }
        ty::LIST_ZIPLIST => {
            let blob = c.string()?;
            let entries = packed::parse_ziplist(&blob)
                .ok_or_else(|| format_err("list ziplist integrity check failed"))?;
            let elems: Vec<_> = entries.into_iter().map(entry_bytes).collect();
            build_list(&elems, l)
        }
        ty::SET_INTSET => {
            let blob = c.string()?;
            let is = IntSet::from_redis_bytes(&blob)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format_err("intset integrity check failed"))?;
            if is.len() <= l.set_max_intset_entries {
                Ok(Value::Set(Set::Ints(is)))
            } else {
                let members: Vec<Vec<u8>> = is
                    .iter()
                    .map(|n| itoa::Buffer::new().format(n).as_bytes().to_vec())
                    .collect();
                build_set(&members, l)
            }
        }
        ty::SET_LISTPACK => {
            let blob = c.string()?;
            let entries = packed::parse_listpack(&blob)
                .ok_or_else(|| format_err("set listpack integrity check failed"))?;
            let members: Vec<_> = entries.into_iter().map(entry_bytes).collect();
            build_set(&members, l)
        }
        ty::ZSET_ZIPLIST | ty::ZSET_LISTPACK => {
            let what = if t == ty::ZSET_ZIPLIST {
                "zset ziplist"
            } else {
                "zset listpack"
            };
            let blob = c.string()?;
            let entries = if t == ty::ZSET_ZIPLIST {
                packed::parse_ziplist(&blob)
            } else {
                packed::parse_listpack(&blob)
            }
            .ok_or_else(|| format_err(format!("{what} integrity check failed")))?;
            let mut pairs = Vec::with_capacity(entries.len() / 2);
            for (m, s) in entry_pairs(entries, what)? {
                let score = match s {
                    Entry::Int(n) => n as f64,
                    Entry::Str(s) => parse_score(s)
                        .ok_or_else(|| format_err(format!("{what} has an invalid score")))?,
                };
                pairs.push((Cow::Owned(entry_bytes(m).into_owned()), score));
            }
            build_zset(pairs, by_count(zset_limits(l), |z| z.value = usize::MAX))
        }
        ty::HASH_ZIPLIST | ty::HASH_LISTPACK => {
            let what = if t == ty::HASH_ZIPLIST {
                "hash ziplist"
            } else {
                "hash listpack"
            };
            let blob = c.string()?;
            let entries = if t == ty::HASH_ZIPLIST {
                packed::parse_ziplist(&blob)
            } else {
                packed::parse_listpack(&blob)
            }
            .ok_or_else(|| format_err(format!("{what} integrity check failed")))?;
            let pairs: Vec<_> = entry_pairs(entries, what)?
                .into_iter()
                .map(|(f, v)| {
                    (
                        Cow::Owned(entry_bytes(f).into_owned()),
                        Cow::Owned(entry_bytes(v).into_owned()),
                    )
                })
                .collect();
            build_hash(
                &pairs,
                by_count(hash_limits(l), |h| h.max_value = usize::MAX),
            )
        }
        ty::LIST_QUICKLIST | ty::LIST_QUICKLIST_2 => {
            let n = c.count(1)?;
            let mut elems: Vec<Vec<u8>> = Vec::new();
            for _ in 0..n {
                let container = if t == ty::LIST_QUICKLIST_2 {
                    c.len()?
                } else {
                    CONTAINER_PACKED
                };
                if container != CONTAINER_PLAIN && container != CONTAINER_PACKED {
                    return Err(c.err("quicklist integrity check failed (bad container)"));
                }
                let data = c.string()?;
                if data.is_empty() {
                    return Err(c.err("quicklist integrity check failed (empty node)"));
                }
                if container == CONTAINER_PLAIN {
                    elems.push(data.into_owned());
                    continue;
                }
                let entries = if t == ty::LIST_QUICKLIST_2 {
                    packed::parse_listpack(&data)
                        .ok_or_else(|| format_err("listpack integrity check failed"))?
                } else {
                    packed::parse_ziplist(&data)
                        .ok_or_else(|| format_err("ziplist integrity check failed"))?
                };
                // Empty nodes are skipped, as Redis does.
                elems.extend(entries.into_iter().map(Entry::to_vec));
            }
            build_list(&elems, l)
        }
        _ => Err(format_err(format!(
            "{} type ({t}) not supported",
            unsupported_type(t).unwrap_or("unknown")
        ))),
    }
}

/// Decodes one value framed by [`RdbReader`]. `limits` choose the in-memory encodings as
/// Redis 7.0 does on load. An empty collection gives [`RdbError::EmptyKey`]: skip the key.
pub fn decode_value(raw: &RawValue, limits: &EncodingLimits) -> Result<Value, RdbError> {
    let mut c = Cursor::new(&raw.bytes);
    let v = decode_from(raw.type_byte, &mut c, limits)?;
    if c.remaining() != 0 {
        return Err(c.err("trailing bytes after the value"));
    }
    Ok(v)
}

// ---------------------------------------------------------------------------------------------
// Reading files

/// One item of an RDB file.
#[derive(Debug)]
pub enum Item {
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    SelectDb(u64),
    ResizeDb {
        keys: u64,
        expires: u64,
    },
    Key {
        key: Vec<u8>,
        value: RawValue,
        /// Absolute Unix ms; 0 = none. An expiry stored as 0 or negative reads as 1 (long
        /// expired).
        expire_at_ms: u64,
        meta: KeyMeta,
    },
    /// A function library (`RDB_OPCODE_FUNCTION2`): its code, shebang included.
    Function(Vec<u8>),
    /// After the EOF opcode and a verified checksum (not checked when the stored one is 0).
    End,
}

/// Frames an RDB stream into [`Item`]s, checking the CRC64 trailer at the end.
pub struct RdbReader<R: Read> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Checksum of everything before `buf[crc_from]`.
    crc: u64,
    crc_from: usize,
    /// File offset of `buf[0]`.
    base: u64,
    version: u16,
    finished: bool,
    scratch: Vec<u8>,
}

const READ_BUF: usize = 64 * 1024;
/// Strings grow at most this much ahead of the bytes actually read, so that a hostile length
/// cannot make the reader allocate what the file does not contain.
const READ_CHUNK: usize = 1 << 20;

impl<R: Read> RdbReader<R> {
    /// Reads and checks the header: "REDIS" and a four-digit version from 1 to 12.
    pub fn new(r: R) -> Result<Self, RdbError> {
        let mut rd = RdbReader {
            inner: r,
            buf: vec![0u8; READ_BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            crc: 0,
            crc_from: 0,
            base: 0,
            version: 0,
            finished: false,
            scratch: Vec::new(),
        };
        let mut head = Vec::with_capacity(9);
        rd.bytes_into(9, &mut head)
            .map_err(|_| format_err("not an RDB file: shorter than its header"))?;
        if &head[..5] != b"REDIS" {
            return Err(format_err(
                "not an RDB file: wrong signature (expected \"REDIS\")",
            ));
        }
        let version = std::str::from_utf8(&head[5..])
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format_err("not an RDB file: bad version digits"))?;
        if !(1..=RDB_MAX_VERSION).contains(&version) {
            return Err(format_err(format!(
                "can't handle RDB format version {version} (this server reads 1 to {RDB_MAX_VERSION})"
            )));
        }
        rd.version = version;
        Ok(rd)
    }

    pub fn version(&self) -> u16 {
        self.version
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn truncated(&self) -> RdbError {
        format_err(format!(
            "unexpected end of file at offset {} (truncated RDB)",
            self.offset()
        ))
    }

    fn fill(&mut self) -> Result<bool, RdbError> {
        self.crc = crc64::crc64(self.crc, &self.buf[self.crc_from..self.end]);
        self.base += self.end as u64;
        self.pos = 0;
        self.end = 0;
        self.crc_from = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RdbError::Io(e)),
            }
        }
    }

    fn byte(&mut self) -> Result<u8, RdbError> {
        if self.pos == self.end && !self.fill()? {
            return Err(self.truncated());
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn bytes_into(&mut self, n: u64, out: &mut Vec<u8>) -> Result<(), RdbError> {
        let mut left = n;
        while left > 0 {
            if self.pos == self.end && !self.fill()? {
                return Err(self.truncated());
            }
            let avail = (self.end - self.pos) as u64;
            let take = left.min(avail) as usize;
            if out.capacity() - out.len() < take {
                out.reserve(take.max((left.min(READ_CHUNK as u64)) as usize));
            }
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            left -= take as u64;
        }
        Ok(())
    }

    /// A length or special encoding, copied into `rec`.
    fn rec_len(&mut self, rec: &mut Vec<u8>) -> Result<(u64, bool), RdbError> {
        let h = self.byte()?;
        rec.push(h);
        let extra = match h >> 6 {
            0 | 3 => 0,
            1 => 1,
            _ => match h {
                0x80 => 4,
                0x81 => 8,
                _ => {
                    return Err(format_err(format!(
                        "unknown length encoding 0x{h:02x} at offset {}",
                        self.offset() - 1
                    )))
                }
            },
        };
        let start = rec.len();
        self.bytes_into(extra, rec)?;
        let mut c = Cursor::new(&rec[start - 1..]);
        c.len_or_enc()
    }

    fn rec_plain_len(&mut self, rec: &mut Vec<u8>) -> Result<u64, RdbError> {
        match self.rec_len(rec)? {
            (n, false) => Ok(n),
            _ => Err(format_err(format!(
                "encoded value where a length was expected at offset {}",
                self.offset()
            ))),
        }
    }

    fn rec_string(&mut self, rec: &mut Vec<u8>) -> Result<(), RdbError> {
        match self.rec_len(rec)? {
            (n, false) => self.bytes_into(n, rec),
            (0, true) => self.bytes_into(1, rec),
            (1, true) => self.bytes_into(2, rec),
            (2, true) => self.bytes_into(4, rec),
            (3, true) => {
                let clen = self.rec_plain_len(rec)?;
                self.rec_plain_len(rec)?;
                self.bytes_into(clen, rec)
            }
            (e, true) => Err(format_err(format!(
                "unknown string encoding {e} at offset {}",
                self.offset()
            ))),
        }
    }

    fn read_len(&mut self) -> Result<u64, RdbError> {
        let mut rec = std::mem::take(&mut self.scratch);
        rec.clear();
        let r = self.rec_plain_len(&mut rec);
        self.scratch = rec;
        r
    }

    fn read_string(&mut self) -> Result<Vec<u8>, RdbError> {
        let mut rec = Vec::new();
        let at = self.offset();
        self.rec_string(&mut rec)?;
        let mut c = Cursor::new(&rec);
        c.string()
            .map(Cow::into_owned)
            .map_err(|e| format_err(format!("bad string at offset {at}: {e}")))
    }

    fn read_fixed<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte()?;
        }
        Ok(out)
    }

    /// Copies one value of type `t` into `rec`, following only its framing.
    fn frame_value(&mut self, t: u8, rec: &mut Vec<u8>) -> Result<(), RdbError> {
        match t {
            ty::STRING
            | ty::HASH_ZIPMAP
            | ty::LIST_ZIPLIST
            | ty::SET_INTSET
            | ty::ZSET_ZIPLIST
            | ty::HASH_ZIPLIST
            | ty::HASH_LISTPACK
            | ty::ZSET_LISTPACK
            | ty::SET_LISTPACK => self.rec_string(rec),
            ty::LIST | ty::SET | ty::LIST_QUICKLIST => {
                for _ in 0..self.rec_plain_len(rec)? {
                    self.rec_string(rec)?;
                }
                Ok(())
            }
            ty::ZSET => {
                for _ in 0..self.rec_plain_len(rec)? {
                    self.rec_string(rec)?;
                    let n = self.byte()?;
                    rec.push(n);
                    if n < 253 {
                        self.bytes_into(n as u64, rec)?;
                    }
                }
                Ok(())
            }
            ty::ZSET_2 => {
                for _ in 0..self.rec_plain_len(rec)? {
                    self.rec_string(rec)?;
                    self.bytes_into(8, rec)?;
                }
                Ok(())
            }
            ty::HASH => {
                for _ in 0..self.rec_plain_len(rec)? {
                    self.rec_string(rec)?;
                    self.rec_string(rec)?;
                }
                Ok(())
            }
            ty::LIST_QUICKLIST_2 => {
                for _ in 0..self.rec_plain_len(rec)? {
                    self.rec_plain_len(rec)?;
                    self.rec_string(rec)?;
                }
                Ok(())
            }
            _ => Err(format_err(format!("unknown value type {t}"))),
        }
    }

    /// The next item. After [`Item::End`], keeps returning `End`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Item, RdbError> {
        if self.finished {
            return Ok(Item::End);
        }
        let mut expire_at_ms = 0u64;
        let mut meta = KeyMeta::None;
        loop {
            let at = self.offset();
            let code = self.byte()?;
            match code {
                op::EXPIRETIME_MS => {
                    let t = i64::from_le_bytes(self.read_fixed::<8>()?);
                    expire_at_ms = t.max(1) as u64;
                }
                op::EXPIRETIME => {
                    let t = i32::from_le_bytes(self.read_fixed::<4>()?) as i64;
                    expire_at_ms = (t * 1000).max(1) as u64;
                }
                op::IDLE => meta = KeyMeta::Idle(self.read_len()?),
                op::FREQ => meta = KeyMeta::Freq(self.byte()?),
                op::AUX => {
                    let key = self.read_string()?;
                    let value = self.read_string()?;
                    return Ok(Item::Aux { key, value });
                }
                op::RESIZEDB => {
                    let keys = self.read_len()?;
                    let expires = self.read_len()?;
                    return Ok(Item::ResizeDb { keys, expires });
                }
                op::SELECTDB => return Ok(Item::SelectDb(self.read_len()?)),
                op::SLOT_INFO => {
                    // Redis 7.4 cluster slot sizes: hints only.
                    for _ in 0..3 {
                        self.read_len()?;
                    }
                }
                op::MODULE_AUX => {
                    return Err(format_err(format!(
                        "module auxiliary data at offset {at} not supported: Tessera has no modules"
                    )))
                }
                op::FUNCTION2 => return Ok(Item::Function(self.read_string()?)),
                op::FUNCTION_PRE_GA => {
                    // Redis 7.0's release candidates kept name, engine and description apart
                    // from the code; Redis loads them as the shebang they became.
                    let name = self.read_string()?;
                    let engine = self.read_string()?;
                    if self.read_len()? != 0 {
                        self.read_string()?;
                    }
                    let code = self.read_string()?;
                    return Ok(Item::Function(pre_ga_library(&engine, &name, &code)));
                }
                op::EOF => {
                    let expected = crc64::crc64(self.crc, &self.buf[self.crc_from..self.pos]);
                    if self.version >= 5 {
                        let stored = u64::from_le_bytes(self.read_fixed::<8>()?);
                        if stored != 0 && stored != expected && checksums_checked() {
                            return Err(format_err(format!(
                                "wrong RDB checksum: stored {stored:016x}, computed {expected:016x}"
                            )));
                        }
                    }
                    self.finished = true;
                    return Ok(Item::End);
                }
                t => {
                    let key = self.read_string()?;
                    if let Some(what) = unsupported_type(t) {
                        return Err(format_err(format!(
                            "key '{}' at offset {at}: {what} type ({t}) not supported",
                            String::from_utf8_lossy(&key)
                        )));
                    }
                    let mut bytes = Vec::new();
                    self.frame_value(t, &mut bytes)?;
                    return Ok(Item::Key {
                        key,
                        value: RawValue {
                            type_byte: t,
                            bytes,
                        },
                        expire_at_ms,
                        meta,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
