//! The `struct` library that Redis exposes to scripts (Roberto
//! Ierusalimschy's lua_struct, as vendored in Redis 7.0
//! `deps/lua/src/lua_struct.c`): `struct.pack`, `struct.unpack`,
//! `struct.size`.
//!
//! Behaviour follows the C code as built for Redis on x86-64 Linux:
//! `long` and `size_t` are 8 bytes, `int` is 4, the default alignment
//! limit is 8, native byte order is the target's, and out-of-range
//! double-to-integer conversions give what the x86-64 instructions give.
//! Scripts can observe all of this, so it is kept deliberately, quirks
//! included (see the comments at each one).

use mlua::{Lua, LuaString, MultiValue, Table, Value};

use super::lauxlib::{arg_error, lua_error, type_name};

/// Builds the `struct` table. The caller decides where to store it (Redis
/// puts it in the global `struct`).
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", lua.create_function(pack)?)?;
    t.set("unpack", lua.create_function(unpack)?)?;
    t.set("size", lua.create_function(size)?)?;
    Ok(t)
}

/// Integral formats may ask for up to this many bytes ("i32").
const MAXINTSIZE: i32 = 32;
/// `!` without a number: alignment of `double` in a struct on x86-64,
/// which is larger than `sizeof(int)`.
const MAXALIGN: i32 = 8;
/// `LUAI_MAXCSTACK`: `unpack` checks its result count against this.
const MAXCSTACK: usize = 8000;

const SIZE_SHORT: u64 = 2;
const SIZE_INT: i32 = 4;
const SIZE_LONG: u64 = 8;
const SIZE_SIZE_T: u64 = 8;

#[derive(Clone, Copy, PartialEq)]
enum Endian {
    Big,
    Little,
}

const NATIVE: Endian = if cfg!(target_endian = "big") {
    Endian::Big
} else {
    Endian::Little
};

struct Header {
    endian: Endian,
    align: i32,
}

impl Header {
    fn new() -> Self {
        Header {
            endian: NATIVE,
            align: 1,
        }
    }
}

/// A format string as the C code walks it: a `char *` read until the first
/// NUL, so anything after an embedded zero byte is never looked at.
struct Fmt<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Fmt<'a> {
    fn new(s: &'a [u8]) -> Self {
        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        Fmt {
            bytes: &s[..end],
            pos: 0,
        }
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.bytes.get(self.pos).copied()?;
        self.pos += 1;
        Some(c)
    }

    fn peek_digit(&self) -> Option<i32> {
        match self.bytes.get(self.pos) {
            Some(c) if c.is_ascii_digit() => Some(i32::from(c - b'0')),
            _ => None,
        }
    }
}

/// Reads an optional decimal count; the overflow test is the C one, done
/// before each digit so it fires as soon as an `int` would overflow.
fn getnum(lua: &Lua, fmt: &mut Fmt, df: i32) -> mlua::Result<i32> {
    if fmt.peek_digit().is_none() {
        return Ok(df);
    }
    let mut a: i32 = 0;
    while let Some(d) = fmt.peek_digit() {
        if a > i32::MAX / 10 || a * 10 > i32::MAX - d {
            return Err(lua_error(lua, "integral size overflow"));
        }
        a = a * 10 + d;
        fmt.pos += 1;
    }
    Ok(a)
}

/// Size of one item; options without a size (control characters, `s`,
/// unknown letters) are 0 and so never trigger alignment.
fn optsize(lua: &Lua, opt: u8, fmt: &mut Fmt) -> mlua::Result<u64> {
    Ok(match opt {
        b'B' | b'b' => 1,
        b'H' | b'h' => SIZE_SHORT,
        b'L' | b'l' => SIZE_LONG,
        b'T' => SIZE_SIZE_T,
        b'f' => 4,
        b'd' => 8,
        b'x' => 1,
        b'c' => getnum(lua, fmt, 1)? as u64,
        b'i' | b'I' => {
            let sz = getnum(lua, fmt, SIZE_INT)?;
            if sz > MAXINTSIZE {
                return Err(lua_error(
                    lua,
                    &format!("integral size {sz} is larger than limit of {MAXINTSIZE}"),
                ));
            }
            sz as u64
        }
        _ => 0,
    })
}

/// Padding needed before an item of `size` bytes at offset `len`. Sizes that
/// are not powers of two ("i3") are not rejected by the C code and give odd
/// paddings under `!`; the arithmetic is reproduced as is.
fn gettoalign(len: u64, h: &Header, opt: u8, size: u64) -> u64 {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align as u64);
    size.wrapping_sub(len & (size - 1)) & (size - 1)
}

fn controloptions(lua: &Lua, opt: u8, fmt: &mut Fmt, h: &mut Header) -> mlua::Result<()> {
    match opt {
        b' ' => Ok(()),
        b'>' => {
            h.endian = Endian::Big;
            Ok(())
        }
        b'<' => {
            h.endian = Endian::Little;
            Ok(())
        }
        b'!' => {
            let a = getnum(lua, fmt, MAXALIGN)?;
            if !(a > 0 && (a & (a - 1)) == 0) {
                return Err(lua_error(
                    lua,
                    &format!("alignment {a} is not a power of 2"),
                ));
            }
            h.align = a;
            Ok(())
        }
        _ => {
            // Error texts are Rust strings, so a byte >= 0x80 cannot be
            // reproduced exactly and shows as U+FFFD.
            let shown = String::from_utf8_lossy(&[opt]).into_owned();
            Err(arg_error(
                lua,
                1,
                &format!("invalid format option '{shown}'"),
            ))
        }
    }
}

/// `(long)d` as cvttsd2si computes it: NaN and out-of-range values become
/// the "integer indefinite" value, i64::MIN.
fn double_to_long(d: f64) -> i64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    // NaN is outside every range too.
    if (-TWO63..TWO63).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}

/// `(unsigned long)d` as gcc emits it on x86-64: values below 2^63 (and
/// NaN, which compares unordered) take the signed conversion; the others
/// are reduced by 2^63 first and get the top bit flipped back, so 2^64 and
/// beyond come out as 0.
fn double_to_ulong(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if d >= TWO63 {
        (double_to_long(d - TWO63) as u64) ^ (1u64 << 63)
    } else {
        double_to_long(d) as u64
    }
}

fn put_integer(buf: &mut Vec<u8>, n: f64, endian: Endian, size: u64) {
    let mut value: u64 = if n < 0.0 {
        double_to_long(n) as u64
    } else {
        double_to_ulong(n)
    };
    // Past 8 bytes the value has been shifted out, so wide integers are
    // zero-padded, not sign-extended.
    let mut bytes = Vec::with_capacity(size as usize);
    for _ in 0..size {
        bytes.push((value & 0xff) as u8);
        value >>= 8;
    }
    if endian == Endian::Big {
        bytes.reverse();
    }
    buf.extend_from_slice(&bytes);
}

fn get_integer(data: &[u8], endian: Endian, signed: bool, size: u64) -> f64 {
    let mut l: u64 = 0;
    let mut push = |c: u8| l = (l << 8) | u64::from(c);
    if endian == Endian::Big {
        data.iter().for_each(|&c| push(c));
    } else {
        data.iter().rev().for_each(|&c| push(c));
    }
    if !signed {
        return l as f64;
    }
    // The C shift count is `size*8 - 1` on a 64-bit value; for sizes of 0
    // or above 8 it is out of range and x86 uses it modulo 64, which
    // `wrapping_shl` reproduces.
    let count = (size as i32).wrapping_mul(8).wrapping_sub(1) as u32;
    let mask = (!0u64).wrapping_shl(count);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// Byte order for `f`/`d`: the value's native bytes, reversed when the
/// requested order is not the native one.
fn ordered<const N: usize>(mut b: [u8; N], endian: Endian) -> [u8; N] {
    if endian != NATIVE {
        b.reverse();
    }
    b
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<LuaString> {
    let args = Args {
        values: &args,
        nil_marker: true,
    };
    let fmt_s = check_lstring(lua, &args, 1)?;
    let fmt_b = fmt_s.as_bytes();
    let mut fmt = Fmt::new(&fmt_b);
    let mut h = Header::new();
    let mut arg = 2usize;
    let mut totalsize: u64 = 0;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = fmt.next() {
        let mut size = optsize(lua, opt, &mut fmt)?;
        let toalign = gettoalign(totalsize, &h, opt, size);
        totalsize = totalsize.wrapping_add(toalign);
        out.resize(out.len() + toalign as usize, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, &args, arg)?;
                arg += 1;
                put_integer(&mut out, n, h.endian, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = check_number(lua, &args, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&ordered(f.to_ne_bytes(), h.endian));
            }
            b'd' => {
                let d = check_number(lua, &args, arg)?;
                arg += 1;
                out.extend_from_slice(&ordered(d.to_ne_bytes(), h.endian));
            }
            b'c' | b's' => {
                let s = check_lstring(lua, &args, arg)?;
                arg += 1;
                let s = s.as_bytes();
                let l = s.len() as u64;
                if size == 0 {
                    size = l;
                }
                if l < size {
                    // The C code has already advanced its argument counter
                    // here, so it blames the argument after the string.
                    return Err(arg_error(lua, arg, "string too short"));
                }
                out.extend_from_slice(&s[..size as usize]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => controloptions(lua, opt, &mut fmt, &mut h)?,
        }
        totalsize = totalsize.wrapping_add(size);
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args = Args {
        values: &args,
        nil_marker: false,
    };
    let fmt_s = check_lstring(lua, &args, 1)?;
    let data_s = check_lstring(lua, &args, 2)?;
    let fmt_b = fmt_s.as_bytes();
    let data_b = data_s.as_bytes();
    let data: &[u8] = &data_b;
    let ld = data.len() as u64;
    // luaL_optinteger stored into a size_t: a negative offset becomes huge,
    // slips past the "> 0" test and fails later as "data string too short"
    // (or, with an empty format, is handed back wrapped).
    let mut pos: u64 = match args.get(3) {
        None | Some(Value::Nil) => 1,
        Some(_) => double_to_long(check_number(lua, &args, 3)?) as u64,
    };
    if pos == 0 {
        return Err(arg_error(lua, 3, "offset must be 1 or greater"));
    }
    pos -= 1;
    let mut fmt = Fmt::new(&fmt_b);
    let mut h = Header::new();
    let mut results: Vec<Value> = Vec::new();
    while let Some(opt) = fmt.next() {
        let mut size = optsize(lua, opt, &mut fmt)?;
        pos = pos.wrapping_add(gettoalign(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(arg_error(lua, 2, "data string too short"));
        }
        if args.values.len() + results.len() + 2 > MAXCSTACK {
            return Err(lua_error(lua, "stack overflow (too many results)"));
        }
        // In range: checked just above (and again for `c0`).
        let at = pos as usize;
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let bytes = &data[at..at + size as usize];
                let n = get_integer(bytes, h.endian, opt.is_ascii_lowercase(), size);
                results.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[at..at + 4]);
                let f = f32::from_ne_bytes(ordered(b, h.endian));
                results.push(Value::Number(f64::from(f)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[at..at + 8]);
                results.push(Value::Number(f64::from_ne_bytes(ordered(b, h.endian))));
            }
            b'c' => {
                if size == 0 {
                    // The length is whatever the previous result converts
                    // to, strings like "3" included; it is consumed.
                    let prev = match results.last() {
                        Some(v) => lua.coerce_number(v.clone())?,
                        None => None,
                    };
                    let Some(prev) = prev else {
                        return Err(lua_error(lua, "format 'c0' needs a previous size"));
                    };
                    size = double_to_ulong(prev);
                    results.pop();
                    if !(size <= ld && pos <= ld - size) {
                        return Err(arg_error(lua, 2, "data string too short"));
                    }
                }
                let s = lua.create_string(&data[at..at + size as usize])?;
                results.push(Value::String(s));
            }
            b's' => {
                let Some(len) = data[at..].iter().position(|&c| c == 0) else {
                    return Err(lua_error(lua, "unfinished string in data"));
                };
                let s = lua.create_string(&data[at..at + len])?;
                results.push(Value::String(s));
                size = len as u64 + 1;
            }
            _ => controloptions(lua, opt, &mut fmt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    // Pushed as lua_Integer, so a wrapped position reads back negative.
    results.push(Value::Number(pos.wrapping_add(1) as i64 as f64));
    Ok(MultiValue::from_vec(results))
}

fn size(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let args = Args {
        values: &args,
        nil_marker: false,
    };
    let fmt_s = check_lstring(lua, &args, 1)?;
    let fmt_b = fmt_s.as_bytes();
    let mut fmt = Fmt::new(&fmt_b);
    let mut h = Header::new();
    let mut pos: u64 = 0;
    while let Some(opt) = fmt.next() {
        let size = optsize(lua, opt, &mut fmt)?;
        pos = pos.wrapping_add(gettoalign(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(lua, 1, "option 's' has no fixed size"));
        } else if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "option 'c0' has no fixed size"));
        }
        // Letters and digits the packer does not know are silently taken
        // as size 0 here, unlike in pack/unpack.
        if !opt.is_ascii_alphanumeric() {
            controloptions(lua, opt, &mut fmt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(pos as i64 as f64)
}

// ---- argument checks and error texts as lauxlib.c builds them ----

/// The arguments of one call. In `pack` the C code keeps a nil on the stack
/// right after the arguments, so the first missing one reads as nil ("got
/// nil", not "got no value"); every format that consumes an argument fails
/// on nil, so nothing further up is ever reached.
struct Args<'a> {
    values: &'a MultiValue,
    nil_marker: bool,
}

impl Args<'_> {
    fn get(&self, idx: usize) -> Option<&Value> {
        self.values.get(idx - 1)
    }

    fn type_name(&self, idx: usize) -> &'static str {
        match self.get(idx) {
            Some(v) => type_name(v),
            // The marker is pushed after the format string is checked.
            None if self.nil_marker && idx >= 2 && idx == self.values.len() + 1 => "nil",
            None => "no value",
        }
    }
}

fn check_number(lua: &Lua, args: &Args, idx: usize) -> mlua::Result<f64> {
    let n = match args.get(idx) {
        Some(v) => lua.coerce_number(v.clone())?,
        None => None,
    };
    n.ok_or_else(|| type_error(lua, args, idx, "number"))
}

/// `luaL_checklstring`: numbers are accepted and converted as Lua does.
fn check_lstring(lua: &Lua, args: &Args, idx: usize) -> mlua::Result<LuaString> {
    let s = match args.get(idx) {
        Some(v) => lua.coerce_string(v.clone())?,
        None => None,
    };
    s.ok_or_else(|| type_error(lua, args, idx, "string"))
}

fn type_error(lua: &Lua, args: &Args, idx: usize, expected: &str) -> mlua::Error {
    let got = args.type_name(idx);
    arg_error(lua, idx, &format!("{expected} expected, got {got}"))
}
