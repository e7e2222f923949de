//! The `bit` library that Redis exposes to scripts (LuaBitOp 1.0.2, as
//! vendored in Redis 7.0 `deps/lua/src/lua_bit.c`).
//!
//! Everything here mirrors the C library on a 64-bit little-endian build
//! with `lua_Number = double`, because scripts can observe every quirk:
//! how doubles wrap to 32 bits, which argument is checked first, and the
//! exact wording of argument errors.

use mlua::{Lua, LuaString, MultiValue, Table};

use super::lauxlib::{arg_error, type_name};

/// Builds the `bit` table. The caller decides where to store it (Redis
/// puts it in the global `bit`).
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;

    t.set(
        "tobit",
        lua.create_function(|lua, args: MultiValue| Ok(bret(barg(lua, &args, 1)?)))?,
    )?;
    t.set(
        "bnot",
        lua.create_function(|lua, args: MultiValue| Ok(bret(!barg(lua, &args, 1)?)))?,
    )?;
    t.set(
        "band",
        lua.create_function(|lua, args: MultiValue| fold(lua, &args, |a, b| a & b))?,
    )?;
    t.set(
        "bor",
        lua.create_function(|lua, args: MultiValue| fold(lua, &args, |a, b| a | b))?,
    )?;
    t.set(
        "bxor",
        lua.create_function(|lua, args: MultiValue| fold(lua, &args, |a, b| a ^ b))?,
    )?;
    t.set(
        "lshift",
        lua.create_function(|lua, args: MultiValue| shift(lua, &args, |b, n| b << n))?,
    )?;
    t.set(
        "rshift",
        lua.create_function(|lua, args: MultiValue| shift(lua, &args, |b, n| b >> n))?,
    )?;
    t.set(
        "arshift",
        lua.create_function(|lua, args: MultiValue| {
            shift(lua, &args, |b, n| ((b as i32) >> n) as u32)
        })?,
    )?;
    t.set(
        "rol",
        lua.create_function(|lua, args: MultiValue| shift(lua, &args, |b, n| b.rotate_left(n)))?,
    )?;
    t.set(
        "ror",
        lua.create_function(|lua, args: MultiValue| shift(lua, &args, |b, n| b.rotate_right(n)))?,
    )?;
    t.set(
        "bswap",
        lua.create_function(|lua, args: MultiValue| Ok(bret(barg(lua, &args, 1)?.swap_bytes())))?,
    )?;
    t.set("tohex", lua.create_function(tohex)?)?;

    Ok(t)
}

/// 2^52 + 2^51: adding it to a double leaves the number, rounded to an
/// integer and reduced modulo 2^32, in the low 32 bits of the mantissa.
/// LuaBitOp relies on that instead of a C cast so that out-of-range values
/// wrap instead of being undefined; it also rounds (ties to even) where a cast
/// would truncate, and huge values keep whatever bits survive the addition.
const NORM_MAGIC: f64 = 6_755_399_441_055_744.0;

/// Lua 5.1 `barg`: `lua_tonumber` (strings convert, anything else is 0 and
/// raises the same error as `luaL_checknumber`), then the magic addition.
fn barg(lua: &Lua, args: &MultiValue, idx: usize) -> mlua::Result<u32> {
    let n = match args.get(idx - 1) {
        Some(v) => lua.coerce_number(v.clone())?,
        None => None,
    };
    match n {
        Some(n) => Ok((n + NORM_MAGIC).to_bits() as u32),
        None => Err(type_error(lua, args, idx, "number")),
    }
}

/// Results are always handed back as a signed 32-bit value.
fn bret(b: u32) -> f64 {
    f64::from(b as i32)
}

/// band/bor/bxor: the first argument is checked first, then the rest from
/// the last one down, which decides which bad argument gets reported.
fn fold(lua: &Lua, args: &MultiValue, op: fn(u32, u32) -> u32) -> mlua::Result<f64> {
    let mut b = barg(lua, args, 1)?;
    let mut i = args.len();
    while i > 1 {
        b = op(b, barg(lua, args, i)?);
        i -= 1;
    }
    Ok(bret(b))
}

/// Shift counts use only their low five bits, as in the C library.
fn shift(lua: &Lua, args: &MultiValue, op: fn(u32, u32) -> u32) -> mlua::Result<f64> {
    let b = barg(lua, args, 1)?;
    let n = barg(lua, args, 2)? & 31;
    Ok(bret(op(b, n)))
}

fn tohex(lua: &Lua, args: MultiValue) -> mlua::Result<LuaString> {
    let mut b = barg(lua, &args, 1)?;
    // Only a missing argument means "8"; an explicit nil is an error.
    let mut n: i64 = if args.len() < 2 {
        8
    } else {
        i64::from(barg(lua, &args, 2)? as i32)
    };
    // Widened so that -(-2^31) is 2^31 and clamps to 8, which is what the
    // Redis build does with the overflowing C negation.
    let digits: &[u8; 16] = if n < 0 {
        n = -n;
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.min(8) as usize;
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    lua.create_string(&buf[..n])
}

/// `luaL_typerror` for argument `idx`; past the last argument Lua reports
/// "no value", which is why arguments are counted rather than read as nil.
fn type_error(lua: &Lua, args: &MultiValue, idx: usize, expected: &str) -> mlua::Error {
    let got = args.get(idx - 1).map_or("no value", type_name);
    arg_error(lua, idx, &format!("{expected} expected, got {got}"))
}
