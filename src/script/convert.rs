//! Replies into Lua values and Lua values into replies, exactly as Redis converts them
//! (`redisProtocolToLuaType` and `luaReplyToRedisReply` in Redis 7.0).

use bytes::Bytes;
use mlua::{Lua, Table, Value};

use crate::resp::Frame;

/// How deep a returned table may nest before the reply is refused: Redis runs out of Lua
/// stack at about this depth, and a table that contains itself must not recurse for ever.
const MAX_DEPTH: usize = 1000;

/// An error as Redis's `luaPushErrorBuff` builds it: `-CODE message` keeps its code, a bare
/// message gets `ERR`; a trailing newline goes. `ignore_stats` marks an error a command
/// already counted in INFO errorstats.
pub fn error_table(lua: &Lua, text: &str, ignore_stats: bool) -> mlua::Result<Table> {
    let (code, message) = match text.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, message)) => (code, message),
            None => ("ERR", rest),
        },
        None => ("ERR", text),
    };
    let message = message.trim_matches(|c| c == '\r' || c == '\n');
    let t = lua.create_table()?;
    t.set("err", format!("{code} {message}"))?;
    if ignore_stats {
        t.set("ignore_error_stats_update", true)?;
    }
    Ok(t)
}

/// A command's reply as the script reads it, in the RESP version the script chose
/// (`redis.setresp`). Error replies never get here: `redis.call` raises them.
pub fn frame_to_lua(lua: &Lua, frame: Frame, resp3: bool) -> mlua::Result<Value> {
    to_lua(lua, frame, resp3)
}

fn decode(bytes: &[u8]) -> mlua::Result<Frame> {
    crate::resp::reply::parse_reply(bytes)
        .map(|(f, _)| f)
        .map_err(mlua::Error::runtime)
}

/// What a RESP2 client receives of a RESP3-only type: maps and pairs flattened, sets as
/// arrays, doubles as strings, booleans as integers (as `Frame::write` encodes them).
fn in_resp2(frame: Frame) -> Frame {
    match frame {
        Frame::Map(pairs) | Frame::Pairs(pairs) => {
            Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
        }
        Frame::Set(items) | Frame::Push(items) => Frame::Array(items),
        Frame::Double(d) => Frame::Bulk(crate::resp::frame::format_double(d).into()),
        Frame::Boolean(b) => Frame::Integer(b as i64),
        Frame::Verbatim(_, text) => Frame::Bulk(text),
        other => other,
    }
}

fn to_lua(lua: &Lua, frame: Frame, resp3: bool) -> mlua::Result<Value> {
    let frame = if resp3 { frame } else { in_resp2(frame) };
    let single = |key: &str, value: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.set(key, value)?;
        Ok(Value::Table(t))
    };
    Ok(match frame {
        Frame::Simple(s) => single("ok", Value::String(lua.create_string(&s)?))?,
        Frame::Error(e) => {
            let mut text = "-".to_string();
            text.push_str(&String::from_utf8_lossy(&e));
            Value::Table(error_table(lua, &text, true)?)
        }
        Frame::Integer(n) => Value::Number(n as f64),
        Frame::Bulk(b) => Value::String(lua.create_string(&b)?),
        // RESP2's null bulk and null array are false; RESP3's null is nil.
        Frame::Null | Frame::NullArray if !resp3 => Value::Boolean(false),
        Frame::Null | Frame::NullArray => Value::Nil,
        Frame::Array(items) | Frame::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item, resp3)?)?;
            }
            Value::Table(t)
        }
        Frame::Pairs(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len(), 0)?;
            for (i, (a, b)) in pairs.into_iter().enumerate() {
                let pair = lua.create_table_with_capacity(2, 0)?;
                pair.raw_set(1, to_lua(lua, a, resp3)?)?;
                pair.raw_set(2, to_lua(lua, b, resp3)?)?;
                t.raw_set(i + 1, pair)?;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(to_lua(lua, k, resp3)?, to_lua(lua, v, resp3)?)?;
            }
            single("map", Value::Table(map))?
        }
        Frame::Set(items) => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(to_lua(lua, item, resp3)?, true)?;
            }
            single("set", Value::Table(set))?
        }
        Frame::Double(d) => single("double", Value::Number(d))?,
        Frame::Boolean(b) => Value::Boolean(b),
        Frame::Verbatim(format, text) => {
            let inner = lua.create_table()?;
            inner.set("string", lua.create_string(&text)?)?;
            inner.set("format", format)?;
            single("verbatim_string", Value::Table(inner))?
        }
        // Written out in RESP3 because a Frame has no such type (DEBUG PROTOCOL's big number
        // and attribute): Lua gets a big number as {big_number=...}, and the reply after an
        // attribute without the attribute, as from Redis's parser.
        Frame::Encoded(bytes) if bytes.starts_with(b"(") => {
            let digits = &bytes[1..bytes.len().saturating_sub(2).max(1)];
            single("big_number", Value::String(lua.create_string(digits)?))?
        }
        Frame::Encoded(bytes) if bytes.starts_with(b"|") => {
            let mut as_map = bytes.to_vec();
            as_map[0] = b'%';
            let (_, attribute_len) =
                crate::resp::reply::parse_reply(&as_map).map_err(mlua::Error::runtime)?;
            let rest = bytes.slice(attribute_len..);
            to_lua(lua, Frame::Encoded(rest), resp3)?
        }
        Frame::Encoded(bytes) => to_lua(lua, decode(&bytes)?, resp3)?,
    })
}

/// A script's return value (or a nested element of it) as the reply to the caller.
/// `resp3_script` is what the script chose with `redis.setresp` (it decides how booleans
/// reply); `resp3_caller` is the caller's protocol, for the types Frame has no variant of.
pub fn lua_to_frame(value: &Value, resp3_script: bool, resp3_caller: bool, depth: usize) -> Frame {
    if depth > MAX_DEPTH {
        return Frame::error("ERR reached lua stack limit");
    }
    match value {
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) if !resp3_script => {
            if *b {
                Frame::Integer(1)
            } else {
                Frame::Null
            }
        }
        Value::Boolean(b) => Frame::Boolean(*b),
        Value::Integer(n) => Frame::Integer(*n),
        // C's (long long) cast: truncation toward zero.
        Value::Number(n) => Frame::Integer(super::lauxlib::c_double_to_i64(*n)),
        Value::Table(t) => table_to_frame(t, resp3_script, resp3_caller, depth),
        _ => Frame::Null,
    }
}

fn string_field(t: &Table, key: &str) -> Option<Bytes> {
    match t.raw_get::<Value>(key).ok()? {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        // Only real strings: Redis asks for LUA_TSTRING, which numbers are not.
        _ => None,
    }
}

/// CR and LF in a status or big number become spaces, as Redis maps them.
fn one_line(b: &[u8]) -> Bytes {
    b.iter()
        .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
        .collect::<Vec<u8>>()
        .into()
}

fn table_to_frame(t: &Table, resp3_script: bool, resp3_caller: bool, depth: usize) -> Frame {
    if let Some(err) = string_field(t, "err") {
        return Frame::error_bytes(err.to_vec());
    }
    if let Some(ok) = string_field(t, "ok") {
        return Frame::Simple(one_line(&ok));
    }
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        return Frame::Double(d);
    }
    if let Ok(Value::Integer(d)) = t.raw_get::<Value>("double") {
        return Frame::Double(d as f64);
    }
    if let Some(big) = string_field(t, "big_number") {
        let big = one_line(&big);
        return if resp3_caller {
            let mut out = b"(".to_vec();
            out.extend_from_slice(&big);
            out.extend_from_slice(b"\r\n");
            Frame::Encoded(out.into())
        } else {
            Frame::Bulk(big)
        };
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string") {
        if let (Some(format), Some(text)) = (string_field(&v, "format"), string_field(&v, "string"))
        {
            return match &format[..] {
                b"txt" => Frame::Verbatim("txt", text),
                b"mkd" => Frame::Verbatim("mkd", text),
                _ if resp3_caller => {
                    let mut out = format!("={}\r\n", text.len() + 4).into_bytes();
                    out.extend_from_slice(&format[..format.len().min(3)]);
                    out.push(b':');
                    out.extend_from_slice(&text);
                    out.extend_from_slice(b"\r\n");
                    Frame::Encoded(out.into())
                }
                _ => Frame::Bulk(text),
            };
        }
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let pairs = m
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, v)| {
                (
                    lua_to_frame(&k, resp3_script, resp3_caller, depth + 1),
                    lua_to_frame(&v, resp3_script, resp3_caller, depth + 1),
                )
            })
            .collect();
        return Frame::Map(pairs);
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        let items = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| lua_to_frame(&k, resp3_script, resp3_caller, depth + 1))
            .collect();
        return Frame::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(lua_to_frame(&v, resp3_script, resp3_caller, depth + 1)),
        }
    }
    Frame::Array(items)
}
