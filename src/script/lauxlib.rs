//! Errors raised from Rust functions as Lua's C libraries raise them (lauxlib.c's
//! `luaL_error`, `luaL_argerror`), with the same texts, for the Redis API and the `bit`,
//! `struct`, `cjson` and `cmsgpack` libraries.
//!
//! mlua hands a Rust function's error to Lua as a userdata, where a C library's is a string
//! (or Redis's error table). The value a script must see is therefore left in the registry
//! under [`PENDING_ERROR`], and env.lua's `pcall`, `xpcall` and error handler take it from
//! there wherever the error is caught.

use mlua::{Lua, Value};

/// Where a raised error's real value waits for env.lua's `take_error`.
pub const PENDING_ERROR: &str = "tessera.pending_error";

/// Raises `value` (a message or Redis's error table) as the error scripts see.
pub fn raise_value(lua: &Lua, value: impl mlua::IntoLua) -> mlua::Error {
    match lua.set_named_registry_value(PENDING_ERROR, value) {
        Ok(()) => mlua::Error::runtime("lua error"),
        Err(e) => e,
    }
}

/// `luaL_error`: `msg`, prefixed with where the calling Lua code is (`user_script:1: `), or
/// nothing when the caller is a C function such as `pcall`.
pub fn lua_error(lua: &Lua, msg: &str) -> mlua::Error {
    raise_value(lua, format!("{}{msg}", where_(lua)))
}

/// `luaL_where(L, 1)`.
fn where_(lua: &Lua) -> String {
    lua.inspect_stack(1, |d| match d.current_line() {
        Some(line) if line > 0 => {
            let src = d
                .source()
                .short_src
                .map(|s| s.into_owned())
                .unwrap_or_default();
            format!("{src}:{line}: ")
        }
        _ => String::new(),
    })
    .unwrap_or_default()
}

/// `luaL_argerror`: the function's name is the one the caller used for it (`band` for
/// `bit.band(...)`, `f` for a local alias, `?` from C such as `pcall`); a method call does
/// not count `self`.
pub fn arg_error(lua: &Lua, narg: usize, extramsg: &str) -> mlua::Error {
    let info = lua.inspect_stack(0, |d| {
        let names = d.names();
        (
            names.name.map(|s| s.into_owned()),
            names.name_what == Some("method"),
        )
    });
    let Some((name, is_method)) = info else {
        return lua_error(lua, &format!("bad argument #{narg} ({extramsg})"));
    };
    let mut narg = narg;
    if is_method {
        narg -= 1;
        if narg == 0 {
            let name = name.as_deref().unwrap_or("(null)");
            return lua_error(lua, &format!("calling '{name}' on bad self ({extramsg})"));
        }
    }
    let name = name.as_deref().unwrap_or("?");
    lua_error(
        lua,
        &format!("bad argument #{narg} to '{name}' ({extramsg})"),
    )
}

/// `lua_typename` as Lua 5.1 spells it (light userdata is plain "userdata").
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}
