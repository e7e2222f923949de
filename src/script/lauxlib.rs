//! Errors raised from Rust functions as Lua's C libraries raise them (lauxlib.c's
//! `luaL_error`, `luaL_argerror`), with the same texts, for the Redis API and the `bit`,
//! `struct`, `cjson` and `cmsgpack` libraries.
//!
//! mlua hands a Rust function's error to Lua as a userdata, where a C library's is a string
//! (or Redis's error table). The value a script must see is therefore left in the registry
//! under [`PENDING_ERROR`], and env.lua's `pcall`, `xpcall` and error handler take it from
//! there wherever the error is caught.

use mlua::{Error, Lua, Value};

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

/// Why a call failed. Texts from `luaL_error` and `luaL_argerror` depend on the caller's frame,
/// read at the callback's boundary (inside a protected table walk the frames differ).
pub enum Fault {
    /// `luaL_error`: gets the calling script's "source:line: " in front.
    Error(String),
    /// `luaL_argerror(narg, extramsg)`.
    Arg(i32, String),
    /// An error Lua raises from inside a C function (e.g. "table index is nil"): no location.
    Bare(String),
    /// A failure inside mlua itself, passed on as it is.
    Lua(Error),
}

impl From<Error> for Fault {
    fn from(e: Error) -> Self {
        Fault::Lua(e)
    }
}

impl Fault {
    pub fn raise(self, lua: &Lua) -> Error {
        match self {
            Fault::Error(msg) => lua_error(lua, &msg),
            Fault::Arg(narg, extra) => arg_error(lua, narg.max(0) as usize, &extra),
            Fault::Bare(msg) => raise_value(lua, msg),
            Fault::Lua(e) => e,
        }
    }
}

/// `luaL_checkstack`'s failure.
pub fn stack_overflow(what: &str) -> Fault {
    Fault::Error(format!("stack overflow ({what})"))
}

/// `luaL_typename` of an argument (`None` when it was not passed at all).
pub fn arg_type(v: Option<&Value>) -> &'static str {
    v.map_or("no value", type_name)
}

/// `luaL_typerror` for argument `narg`.
pub fn type_error(narg: usize, expected: &str, got: Option<&Value>) -> Fault {
    Fault::Arg(
        narg as i32,
        format!("{expected} expected, got {}", arg_type(got)),
    )
}

pub const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// A double cast to a 64-bit integer as C does it on x86-64: truncated toward zero, and
/// anything out of range (NaN included) becomes the minimum, where Rust's `as` saturates.
pub fn c_double_to_i64(d: f64) -> i64 {
    if (-TWO_POW_63..TWO_POW_63).contains(&d) {
        d as i64
    } else {
        i64::MIN
    }
}
