//! Bitmap commands and LCS: strings viewed as bit arrays, and string comparison.
//!
//! The bit algorithms live in `types::bits`, `types::bitfield` and `types::lcs`; the handlers
//! here only look keys up in the order Redis does (some arguments are checked only after the
//! lookup, and clients can tell the difference) and store results back.

use bytes::Bytes;

use super::flags::*;
use super::propagate::Rule;
use super::string::lookup_str;
use super::{keys, one_key, CmdError, CmdResult, Command, Ctx, Run};
use crate::db::notify::class as ev;
use crate::db::{StrValue, Value};
use crate::resp::Frame;
use crate::types::bitfield::Bitfield;
use crate::types::bits::{self, BitOp, CountRange, PosRange};
use crate::types::lcs::{lcs_reply, LcsOptions};

pub static COMMANDS: &[Command] = &[
    Command::new("setbit", 4, Run::Keyed(setbit))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@bitmap", "@slow"])
        .keys(one_key()),
    Command::new("getbit", 3, Run::Keyed(getbit))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@bitmap", "@fast"])
        .keys(one_key()),
    Command::new("bitcount", -2, Run::Keyed(bitcount))
        .flags(&[READONLY])
        .acl(&["@read", "@bitmap", "@slow"])
        .keys(one_key()),
    Command::new("bitpos", -3, Run::Keyed(bitpos))
        .flags(&[READONLY])
        .acl(&["@read", "@bitmap", "@slow"])
        .keys(one_key()),
    Command::new("bitop", -4, Run::Keyed(bitop))
        .counts_lookups(super::always)
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@bitmap", "@slow"])
        .keys(keys(2, -1, 1)),
    Command::new("bitfield", -2, Run::Keyed(bitfield))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@bitmap", "@slow"])
        .keys(one_key()),
    Command::new("bitfield_ro", -2, Run::Keyed(bitfield_ro))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@bitmap", "@fast"])
        .keys(one_key()),
    Command::new("lcs", -3, Run::Keyed(lcs))
        .flags(&[READONLY])
        .acl(&["@read", "@string", "@slow"])
        .keys(keys(1, 2, 1)),
];

/// The string at `key` as bytes (integers rendered), `None` if absent, WRONGTYPE otherwise.
fn read_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, CmdError> {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(lookup_str(db, key, now, stats)?.map(|e| match &e.value {
        Value::Str(s) => s.to_bytes(),
        #[allow(unreachable_patterns)]
        _ => unreachable!("lookup_str checked the type"),
    }))
}

/// The string at `key` as a growable buffer for in-place bit writes, creating it if absent.
fn raw_for_write<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Vec<u8>, CmdError> {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    if lookup_str(db, key, now, stats)?.is_none() {
        db.set(key, Value::Str(StrValue::Raw(Vec::new())), 0);
    }
    let entry = db
        .get(key, now, stats)
        .expect("present: found or created just above");
    match &mut entry.value {
        Value::Str(s) => Ok(s.make_raw()),
        #[allow(unreachable_patterns)]
        _ => unreachable!("lookup_str checked the type"),
    }
}

fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let offset = bits::parse_bit_offset(&args[2])?;
    let on = bits::parse_setbit_value(&args[3])?;
    let buf = raw_for_write(ctx, &args[1])?;
    let before = buf.len();
    let old = bits::setbit(buf, offset, on);
    // Announced only when something changed, as in Redis (a new key always has).
    if buf.len() > before || old != on {
        ctx.notify(ev::STRING, "setbit", &args[1]);
    }
    Ok(Frame::Integer(old as i64))
}

fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let offset = bits::parse_bit_offset(&args[2])?;
    let value = read_str(ctx, &args[1])?;
    Ok(Frame::Integer(
        value.is_some_and(|v| bits::getbit(&v, offset)) as i64,
    ))
}

fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(value) = read_str(ctx, &args[1])? else {
        return Ok(Frame::Integer(0));
    };
    let range = CountRange::parse(&args[2..])?;
    Ok(Frame::Integer(bits::bitcount(&value, &range)))
}

fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let bit = bits::parse_bitpos_bit(&args[2])?;
    let Some(value) = read_str(ctx, &args[1])? else {
        return Ok(Frame::Integer(if bit { -1 } else { 0 }));
    };
    let range = PosRange::parse(&args[3..])?;
    Ok(Frame::Integer(bits::bitpos(&value, bit, &range)))
}

fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let op = BitOp::parse(&args[1])?;
    op.check_sources(args.len() - 3)?;
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        sources.push(read_str(ctx, key)?.unwrap_or_default());
    }
    let result = bits::bitop(op, &sources);
    let len = result.len();
    let (db, _) = ctx.db();
    if len == 0 {
        if db.remove(&args[2]).is_some() {
            ctx.notify(ev::GENERIC, "del", &args[2]);
        }
    } else {
        db.set(&args[2], Value::Str(StrValue::Raw(result)), 0);
        ctx.notify(ev::STRING, "set", &args[2]);
    }
    Ok(Frame::Integer(len as i64))
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], read_only: bool) -> CmdResult {
    let field = Bitfield::parse(&args[2..], read_only)?;
    if !field.writes() {
        let value = read_str(ctx, &args[1])?;
        return Ok(field.read(value.as_deref()));
    }
    let buf = raw_for_write(ctx, &args[1])?;
    let applied = field.apply(buf);
    if applied.changes > 0 {
        ctx.notify(ev::STRING, "setbit", &args[1]);
    }
    Ok(applied.reply)
}

fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let not_strings = |e: CmdError| match e {
        CmdError::WrongType => CmdError::err("The specified keys must contain string values"),
        e => e,
    };
    let a = read_str(ctx, &args[1])
        .map_err(not_strings)?
        .unwrap_or_default();
    let b = read_str(ctx, &args[2])
        .map_err(not_strings)?
        .unwrap_or_default();
    let opts = LcsOptions::parse(&args[3..])?;
    lcs_reply(&a, &b, &opts)
}
