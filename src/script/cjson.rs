//! The `cjson` library Redis 7.0 gives scripts: lua_cjson 2.1.0 as Redis vendors it, with
//! Redis's build settings. Output bytes, the Lua values produced and error texts are those of
//! the C library, including its quirks: '/' escaped as "\/", numbers through "%.14g", numbers
//! read with C's strtod (hex, inf, nan), NUL ending the input, and the nesting limits that
//! come from Lua's 8000-slot C stack as well as from the configured depths.
//!
//! Self-contained: depends on `mlua` and `std` only.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::Write;
use std::rc::Rc;

use mlua::{Error, LightUserData, Lua, MultiValue, Table, Value};

use super::lauxlib::{arg_type, c_double_to_i64, type_error, Fault};

const MODULE_NAME: &str = "cjson";
const MODULE_VERSION: &str = "2.1.0";

/// LUAI_MAXCSTACK: a C function may hold at most this many Lua stack slots. lua_cjson keeps
/// the tables it walks on the Lua stack, so this bounds nesting even when the configured
/// depth limit is raised; the limit is emulated so the same input fails at the same depth.
const LUA_C_STACK: usize = 8000;

#[derive(Clone, Copy, PartialEq)]
enum InvalidNumbers {
    Off,
    On,
    Null,
}

/// One module table's settings. `cjson.new()` makes another table with its own.
#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    encode_invalid_numbers: InvalidNumbers,
    number_precision: i32,
    /// Only memory management in C; kept because the setter reports it back.
    keep_buffer: bool,
    decode_invalid_numbers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: InvalidNumbers::Off,
            number_precision: 14,
            keep_buffer: true,
            decode_invalid_numbers: true,
        }
    }
}

/// Builds the `cjson` table (what `luaopen_cjson` returns). Fields are set in the C
/// library's order, so iterating the table visits them in the same order as in Redis.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let cfg = Rc::new(Cell::new(Config::default()));
    let t = lua.create_table()?;

    let c = cfg.clone();
    t.raw_set(
        "encode",
        lua.create_function(move |lua, args: MultiValue| {
            encode_entry(lua, c.get(), args).map_err(|f| f.raise(lua))
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode",
        lua.create_function(move |lua, args: MultiValue| {
            decode_entry(lua, c.get(), args).map_err(|f| f.raise(lua))
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(move |lua, args: MultiValue| {
            cfg_sparse_array(lua, &c, &args).map_err(|f| f.raise(lua))
        })?,
    )?;
    type Field = fn(&mut Config) -> &mut i32;
    let int_setters: [(&str, Field, i32, i32); 3] = [
        ("encode_max_depth", |c| &mut c.encode_max_depth, 1, i32::MAX),
        ("decode_max_depth", |c| &mut c.decode_max_depth, 1, i32::MAX),
        (
            "encode_number_precision",
            |c| &mut c.number_precision,
            1,
            14,
        ),
    ];
    for (name, field, min, max) in int_setters {
        let c = cfg.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                cfg_integer(lua, &c, &args, field, min, max).map_err(|f| f.raise(lua))
            })?,
        )?;
    }
    let c = cfg.clone();
    t.raw_set(
        "encode_keep_buffer",
        lua.create_function(move |lua, args: MultiValue| {
            cfg_bool(lua, &c, &args, |c| &mut c.keep_buffer).map_err(|f| f.raise(lua))
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, args: MultiValue| {
            cfg_encode_invalid_numbers(lua, &c, &args).map_err(|f| f.raise(lua))
        })?,
    )?;
    let c = cfg;
    t.raw_set(
        "decode_invalid_numbers",
        lua.create_function(move |lua, args: MultiValue| {
            cfg_bool(lua, &c, &args, |c| &mut c.decode_invalid_numbers).map_err(|f| f.raise(lua))
        })?,
    )?;
    t.raw_set("new", lua.create_function(|lua, ()| open(lua))?)?;
    t.raw_set("null", null())?;
    t.raw_set("_NAME", MODULE_NAME)?;
    t.raw_set("_VERSION", MODULE_VERSION)?;
    Ok(t)
}

/// `cjson.null`: JSON null, a NULL light userdata since a table cannot hold nil.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

// ===== Errors, raised as the Lua C API raises them =====

/// `luaL_checkinteger`, narrowed to C `int` as lua_cjson stores it (keeping the low 32 bits).
fn check_int(lua: &Lua, args: &MultiValue, narg: usize) -> Result<i32, Fault> {
    let v = args.get(narg - 1);
    let n = match v {
        Some(v) => lua.coerce_number(v.clone())?,
        None => None,
    };
    match n {
        Some(d) => Ok(c_double_to_i64(d) as i32),
        None => Err(type_error(narg, "number", v)),
    }
}

/// `luaL_checkstring`, as bytes up to the first NUL (what C's strcmp and "%s" see).
fn check_c_string(lua: &Lua, args: &MultiValue, narg: usize) -> Result<Vec<u8>, Fault> {
    let v = args.get(narg - 1);
    let s = match v {
        Some(v) => lua.coerce_string(v.clone())?,
        None => None,
    };
    match s {
        Some(s) => {
            let bytes = s.as_bytes();
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            Ok(bytes[..end].to_vec())
        }
        None => Err(type_error(narg, "string", v)),
    }
}

// ===== Configuration functions =====

/// Arguments beyond `n` are an error; missing ones read as nil.
fn check_arg_count(args: &MultiValue, n: usize) -> Result<(), Fault> {
    if args.len() > n {
        return Err(Fault::Arg(n as i32 + 1, "found too many arguments".into()));
    }
    Ok(())
}

fn is_nil(args: &MultiValue, narg: usize) -> bool {
    matches!(args.get(narg - 1), None | Some(Value::Nil))
}

/// An integer setting: set when given, always reported back. The range error names
/// argument #1 whichever argument was wrong, as lua_cjson does.
fn integer_option(
    lua: &Lua,
    args: &MultiValue,
    narg: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> Result<Value, Fault> {
    if !is_nil(args, narg) {
        let value = check_int(lua, args, narg)?;
        if value < min || value > max {
            return Err(Fault::Arg(
                1,
                format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = value;
    }
    Ok(Value::Number(*setting as f64))
}

/// An enumerated setting taking a boolean or one of `options`; settings 0 and 1 are
/// reported as booleans, others by their name.
fn enum_option(
    lua: &Lua,
    args: &MultiValue,
    narg: usize,
    setting: &mut usize,
    options: &[&str],
) -> Result<Value, Fault> {
    if !is_nil(args, narg) {
        if let Some(Value::Boolean(b)) = args.get(narg - 1) {
            *setting = usize::from(*b);
        } else {
            let name = check_c_string(lua, args, narg)?;
            match options.iter().position(|o| o.as_bytes() == name.as_slice()) {
                Some(i) => *setting = i,
                None => {
                    let shown = String::from_utf8_lossy(&name);
                    return Err(Fault::Arg(narg as i32, format!("invalid option '{shown}'")));
                }
            }
        }
    }
    Ok(match *setting {
        0 | 1 => Value::Boolean(*setting == 1),
        n => Value::String(lua.create_string(options[n])?),
    })
}

const ON_OFF: [&str; 2] = ["off", "on"];

fn cfg_sparse_array(lua: &Lua, cfg: &Cell<Config>, args: &MultiValue) -> Result<MultiValue, Fault> {
    check_arg_count(args, 3)?;
    // Each setting is stored as soon as it is read, so an error in a later argument keeps the
    // earlier ones, as in C.
    let mut c = cfg.get();
    let mut convert = usize::from(c.sparse_convert);
    let first = enum_option(lua, args, 1, &mut convert, &ON_OFF)?;
    c.sparse_convert = convert == 1;
    cfg.set(c);
    let second = integer_option(lua, args, 2, &mut c.sparse_ratio, 0, i32::MAX)?;
    cfg.set(c);
    let third = integer_option(lua, args, 3, &mut c.sparse_safe, 0, i32::MAX)?;
    cfg.set(c);
    Ok(MultiValue::from_iter([first, second, third]))
}

fn cfg_integer(
    lua: &Lua,
    cfg: &Cell<Config>,
    args: &MultiValue,
    field: fn(&mut Config) -> &mut i32,
    min: i32,
    max: i32,
) -> Result<Value, Fault> {
    check_arg_count(args, 1)?;
    let mut c = cfg.get();
    let v = integer_option(lua, args, 1, field(&mut c), min, max)?;
    cfg.set(c);
    Ok(v)
}

fn cfg_bool(
    lua: &Lua,
    cfg: &Cell<Config>,
    args: &MultiValue,
    field: fn(&mut Config) -> &mut bool,
) -> Result<Value, Fault> {
    check_arg_count(args, 1)?;
    let mut c = cfg.get();
    let mut setting = usize::from(*field(&mut c));
    let v = enum_option(lua, args, 1, &mut setting, &ON_OFF)?;
    *field(&mut c) = setting == 1;
    cfg.set(c);
    Ok(v)
}

fn cfg_encode_invalid_numbers(
    lua: &Lua,
    cfg: &Cell<Config>,
    args: &MultiValue,
) -> Result<Value, Fault> {
    check_arg_count(args, 1)?;
    let mut c = cfg.get();
    let mut setting = match c.encode_invalid_numbers {
        InvalidNumbers::Off => 0,
        InvalidNumbers::On => 1,
        InvalidNumbers::Null => 2,
    };
    let v = enum_option(lua, args, 1, &mut setting, &["off", "on", "null"])?;
    c.encode_invalid_numbers = match setting {
        0 => InvalidNumbers::Off,
        1 => InvalidNumbers::On,
        _ => InvalidNumbers::Null,
    };
    cfg.set(c);
    Ok(v)
}

// ===== Encoding =====

fn encode_entry(lua: &Lua, cfg: Config, args: MultiValue) -> Result<mlua::LuaString, Fault> {
    if args.len() != 1 {
        return Err(Fault::Arg(1, "expected 1 argument".into()));
    }
    let value = args.into_iter().next().unwrap_or(Value::Nil);
    let json = Encoder::new(lua, cfg).run(value)?;
    Ok(lua.create_string(&json)?)
}

fn cannot_serialise(what: &str, reason: &str) -> Fault {
    Fault::Error(format!("Cannot serialise {what}: {reason}"))
}

/// How lua_cjson escapes each byte of a string; `None` leaves it as it is.
fn escape(b: u8) -> Option<&'static [u8]> {
    const CONTROL: [&[u8]; 32] = [
        b"\\u0000", b"\\u0001", b"\\u0002", b"\\u0003", b"\\u0004", b"\\u0005", b"\\u0006",
        b"\\u0007", b"\\b", b"\\t", b"\\n", b"\\u000b", b"\\f", b"\\r", b"\\u000e", b"\\u000f",
        b"\\u0010", b"\\u0011", b"\\u0012", b"\\u0013", b"\\u0014", b"\\u0015", b"\\u0016",
        b"\\u0017", b"\\u0018", b"\\u0019", b"\\u001a", b"\\u001b", b"\\u001c", b"\\u001d",
        b"\\u001e", b"\\u001f",
    ];
    match b {
        0..=0x1f => Some(CONTROL[b as usize]),
        b'"' => Some(b"\\\""),
        b'\\' => Some(b"\\\\"),
        b'/' => Some(b"\\/"),
        0x7f => Some(b"\\u007f"),
        _ => None,
    }
}

fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut plain = 0;
    for (i, &b) in s.iter().enumerate() {
        if let Some(esc) = escape(b) {
            out.extend_from_slice(&s[plain..i]);
            out.extend_from_slice(esc);
            plain = i + 1;
        }
    }
    out.extend_from_slice(&s[plain..]);
    out.push(b'"');
}

/// The number `v` holds, if it is one.
fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// mlua keeps every Rust handle to a Lua value in one Lua stack with room for about 8000, and
/// the C encoder can be about that deep, so tables waiting on the path are held as handles
/// only up to this many and beyond that parked in a Lua table (`Encoder::path`).
const HANDLE_BUDGET: usize = 1000;

/// A table the encoder will come back to.
enum Kept {
    Held(Table),
    /// Index in the list parked at `path[depth]` of the frame that waits for it.
    Parked(i32),
}

/// A table being written.
enum Frame {
    /// Elements `next..=len` are still to be written.
    Array { table: Kept, len: i32, next: i32 },
    /// An object's members are written in one pass of `next`, which cannot be paused, so
    /// values that are tables leave holes in `text` (what follows the first hole), filled in
    /// order. A failure ends the pass and waits in its place, so that errors still come in
    /// the order the C library meets them.
    Object {
        text: Vec<u8>,
        holes: VecDeque<Hole>,
        written: usize,
    },
}

enum Hole {
    Table { at: usize, table: Kept },
    Failure(Fault),
}

impl Frame {
    /// Lua stack slots the C encoder holds for this level while a child is written: the
    /// element for an array, the key and value for an object.
    fn slots(&self) -> usize {
        match self {
            Frame::Array { .. } => 1,
            Frame::Object { .. } => 2,
        }
    }
}

struct Encoder<'l> {
    lua: &'l Lua,
    cfg: Config,
    out: Vec<u8>,
    stack: Vec<Frame>,
    /// Lua stack slots the C encoder would hold: the argument plus each frame's slots.
    slots: usize,
    /// Handles held in `stack`.
    held: usize,
    path: Option<Table>,
}

/// What to do after looking at the innermost frame (decided while it is borrowed).
enum Step {
    Enter(Table),
    Close(u8),
    Fail(Fault),
}

impl<'l> Encoder<'l> {
    fn new(lua: &'l Lua, cfg: Config) -> Self {
        Encoder {
            lua,
            cfg,
            out: Vec::new(),
            stack: Vec::new(),
            slots: 1,
            held: 0,
            path: None,
        }
    }

    fn run(mut self, value: Value) -> Result<Vec<u8>, Fault> {
        let root = match value {
            Value::Table(t) => t,
            v => {
                scalar(&self.cfg, &v, &mut self.out)?;
                return Ok(self.out);
            }
        };
        self.enter(root)?;
        loop {
            let depth = self.stack.len();
            let Some(frame) = self.stack.last_mut() else {
                break;
            };
            let step = match frame {
                Frame::Array { table, len, next } => {
                    let t = match table {
                        Kept::Held(t) => t.clone(),
                        Kept::Parked(_) => parked(&self.path, depth)?,
                    };
                    let mut step = Step::Close(b']');
                    while *next <= *len {
                        let i = *next;
                        *next += 1;
                        if i > 1 {
                            self.out.push(b',');
                        }
                        match t.raw_get::<Value>(i)? {
                            Value::Table(child) => {
                                step = Step::Enter(child);
                                break;
                            }
                            v => scalar(&self.cfg, &v, &mut self.out)?,
                        }
                    }
                    step
                }
                Frame::Object {
                    text,
                    holes,
                    written,
                } => match holes.pop_front() {
                    None => {
                        self.out.extend_from_slice(&text[*written..]);
                        Step::Close(b'}')
                    }
                    Some(Hole::Table { at, table }) => {
                        self.out.extend_from_slice(&text[*written..at]);
                        *written = at;
                        Step::Enter(match table {
                            Kept::Held(t) => {
                                self.held -= 1;
                                t
                            }
                            Kept::Parked(i) => parked(&self.path, depth)?.raw_get(i)?,
                        })
                    }
                    Some(Hole::Failure(fault)) => Step::Fail(fault),
                },
            };
            match step {
                Step::Enter(t) => self.enter(t)?,
                Step::Close(c) => {
                    self.out.push(c);
                    if let Some(done) = self.stack.pop() {
                        self.slots -= done.slots();
                        if let Frame::Array {
                            table: Kept::Held(_),
                            ..
                        } = done
                        {
                            self.held -= 1;
                        }
                    }
                }
                Step::Fail(f) => return Err(f),
            }
        }
        Ok(self.out)
    }

    /// Starts writing table `t` one level below the current frame.
    fn enter(&mut self, t: Table) -> Result<(), Fault> {
        let depth = self.stack.len() + 1;
        // The C encoder checks it can push 3 more slots on top of what the path holds.
        if depth > self.cfg.encode_max_depth as usize || self.slots + 3 > LUA_C_STACK {
            return Err(Fault::Error(format!(
                "Cannot serialise, excessive nesting ({depth})"
            )));
        }
        let len = self.array_length(&t)?;
        let frame = if len > 0 {
            self.out.push(b'[');
            let table = if self.held < HANDLE_BUDGET {
                self.held += 1;
                Kept::Held(t)
            } else {
                self.park(depth, Value::Table(t))?;
                Kept::Parked(0)
            };
            Frame::Array {
                table,
                len,
                next: 1,
            }
        } else {
            self.out.push(b'{');
            self.object_pass(depth, &t)?
        };
        self.slots += frame.slots();
        self.stack.push(frame);
        Ok(())
    }

    fn park(&mut self, depth: usize, v: Value) -> Result<(), Fault> {
        let path = match &self.path {
            Some(p) => p,
            None => self.path.insert(self.lua.create_table()?),
        };
        path.raw_set(depth, v)?;
        Ok(())
    }

    /// lua_cjson's `lua_array_length`: the largest key if every key is a positive integer
    /// and the array is not too sparse, else 0 for "write as an object". The largest key is
    /// kept in a C `int`, so keys of 2^31 and above wrap it to INT_MIN (x86's conversion), and
    /// the outcome then depends on the order of the keys, as in C.
    fn array_length(&self, t: &Table) -> Result<i32, Fault> {
        let mut max: i32 = 0;
        let mut items: i32 = 0;
        let mut is_array = true;
        // The values do not matter; `bool` reads them without making handles.
        let walk = t.for_each::<Value, bool>(|k, _| {
            let k = number_of(&k).unwrap_or(0.0);
            if k != 0.0 && k.floor() == k && k >= 1.0 {
                if k > max as f64 {
                    max = if k < 2_147_483_648.0 {
                        k as i32
                    } else {
                        i32::MIN
                    };
                }
                items = items.wrapping_add(1);
                Ok(())
            } else {
                is_array = false;
                // Stops the walk: one key that is not an index settles it.
                Err(Error::runtime(""))
            }
        });
        if !is_array {
            return Ok(0);
        }
        walk?;
        let cfg = &self.cfg;
        if cfg.sparse_ratio > 0
            && max > items.wrapping_mul(cfg.sparse_ratio)
            && max > cfg.sparse_safe
        {
            if !cfg.sparse_convert {
                return Err(cannot_serialise("table", "excessively sparse array"));
            }
            return Ok(0);
        }
        Ok(max.max(0))
    }

    /// Writes an object's members in `next` order: straight to the output until the first
    /// value that is a table, then to the frame's text around holes for the tables.
    fn object_pass(&mut self, depth: usize, t: &Table) -> Result<Frame, Fault> {
        let mut text = Vec::new();
        let mut holes = VecDeque::new();
        let mut parked_kids: Option<Table> = None;
        let mut nparked = 0;
        let mut failure: Option<Fault> = None;
        let mut first = true;
        let cfg = self.cfg;
        let lua = self.lua;
        let out = &mut self.out;
        let held = &mut self.held;
        let walk = t.for_each::<Value, Value>(|k, v| {
            let dst = if holes.is_empty() {
                &mut *out
            } else {
                &mut text
            };
            let step = (|| -> Result<(), Fault> {
                if !first {
                    dst.push(b',');
                }
                first = false;
                match &k {
                    Value::String(s) => {
                        append_string(dst, &s.as_bytes());
                        dst.push(b':');
                    }
                    k => match number_of(k) {
                        Some(n) => {
                            dst.push(b'"');
                            append_number(&cfg, n, dst)?;
                            dst.extend_from_slice(b"\":");
                        }
                        None => {
                            return Err(cannot_serialise(
                                arg_type(Some(k)),
                                "table key must be a number or string",
                            ))
                        }
                    },
                }
                match v {
                    Value::Table(child) => {
                        let table = if *held < HANDLE_BUDGET {
                            *held += 1;
                            Kept::Held(child)
                        } else {
                            let list = match &parked_kids {
                                Some(l) => l,
                                None => parked_kids.insert(lua.create_table()?),
                            };
                            nparked += 1;
                            list.raw_set(nparked, child)?;
                            Kept::Parked(nparked)
                        };
                        // Offsets are into `text`, which is still empty while `dst` is the output.
                        let at = if holes.is_empty() { 0 } else { dst.len() };
                        holes.push_back(Hole::Table { at, table });
                        Ok(())
                    }
                    v => scalar(&cfg, &v, dst),
                }
            })();
            step.map_err(|f| {
                failure = Some(f);
                Error::runtime("")
            })
        });
        match failure {
            // Nothing waits before it: it is the first error the C library would meet.
            Some(fault) if holes.is_empty() => return Err(fault),
            Some(fault) => holes.push_back(Hole::Failure(fault)),
            None => walk?,
        }
        if let Some(list) = parked_kids {
            self.park(depth, Value::Table(list))?;
        }
        Ok(Frame::Object {
            text,
            holes,
            written: 0,
        })
    }
}

/// The table parked for the frame at `depth`.
fn parked(path: &Option<Table>, depth: usize) -> Result<Table, Fault> {
    match path {
        Some(p) => Ok(p.raw_get(depth)?),
        None => Err(Fault::Error(
            "BUG: cjson lost the table it was encoding".into(),
        )),
    }
}

/// Writes a value that is not a table.
fn scalar(cfg: &Config, v: &Value, out: &mut Vec<u8>) -> Result<(), Fault> {
    match v {
        Value::String(s) => append_string(out, &s.as_bytes()),
        Value::Integer(i) => append_number(cfg, *i as f64, out)?,
        Value::Number(n) => append_number(cfg, *n, out)?,
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        v => return Err(cannot_serialise(arg_type(Some(v)), "type not supported")),
    }
    Ok(())
}

fn append_number(cfg: &Config, n: f64, out: &mut Vec<u8>) -> Result<(), Fault> {
    match cfg.encode_invalid_numbers {
        InvalidNumbers::Off if !n.is_finite() => {
            return Err(cannot_serialise("number", "must not be NaN or Inf"));
        }
        // "nan" whatever its sign: printf would write "-nan" for some NaNs.
        InvalidNumbers::On if n.is_nan() => {
            out.extend_from_slice(b"nan");
            return Ok(());
        }
        InvalidNumbers::Null if !n.is_finite() => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        _ => {}
    }
    format_g(n, cfg.number_precision.max(1) as usize, out);
    Ok(())
}

/// C's printf "%.{precision}g" (glibc, "C" locale): `precision` significant digits, exponent
/// form when the exponent is below -4 or at least the precision, trailing zeros dropped.
fn format_g(x: f64, precision: usize, out: &mut Vec<u8>) {
    if x.is_nan() {
        out.extend_from_slice(if x.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if x.is_infinite() {
        out.extend_from_slice(if x < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    if x == 0.0 {
        out.extend_from_slice(if x.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // An integer with at most `precision` digits prints as itself.
    if x.trunc() == x && x.abs() < 10f64.powi(precision as i32) {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{}", x as i64);
        return;
    }
    if x < 0.0 {
        out.push(b'-');
    }
    // When the shortest digits that identify a normal double fit the precision they are
    // also the correctly rounded ones (its spacing is below a unit of the 15th digit);
    // otherwise round the exact binary value, half-to-even as glibc does.
    let shortest = if x.is_normal() {
        format!("{:e}", x.abs())
    } else {
        String::new()
    };
    let sci = match shortest.find('e') {
        Some(e) if shortest[..e].bytes().filter(u8::is_ascii_digit).count() <= precision => {
            shortest
        }
        _ => format!("{:.*e}", precision - 1, x.abs()),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let digits = match digits.iter().rposition(|&d| d != b'0') {
        Some(last) => &digits[..=last],
        None => &digits[..1],
    };
    if exp < -4 || exp >= precision as i32 {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
    } else if exp < 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
        out.extend_from_slice(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
        } else {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    }
}

// ===== Decoding =====

fn decode_entry(lua: &Lua, cfg: Config, args: MultiValue) -> Result<Value, Fault> {
    if args.len() != 1 {
        return Err(Fault::Arg(1, "expected 1 argument".into()));
    }
    let text = match args.front() {
        Some(v) => lua.coerce_string(v.clone())?,
        None => None,
    };
    let Some(text) = text else {
        return Err(type_error(1, "string", args.front()));
    };
    let data = text.as_bytes();
    // The first two bytes of any JSON text are ASCII in UTF-8, so a NUL there means UTF-16 or
    // UTF-32.
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(Fault::Error(
            "JSON parser does not support UTF-16 or UTF-32".into(),
        ));
    }
    Decoder::new(lua, cfg, &data).run()
}

#[derive(Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    /// The string's bytes are in `Decoder::tmp`.
    Str,
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    /// How a parse error names the token it found.
    fn describe(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Number(_) => "T_NUMBER",
            Tok::Boolean(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(what) => what,
        }
    }
}

/// An array or object being filled. Its table is `cur` for the innermost level and
/// `path[depth]` for the outer ones (few live mlua handles, however deep the input).
enum Open {
    Array { next: i32 },
    Object { key: Vec<u8> },
}

impl Open {
    /// Lua stack slots the C parser holds for this level while reading a value in it.
    fn slots(&self) -> usize {
        match self {
            Open::Array { .. } => 1,
            Open::Object { .. } => 2,
        }
    }
}

struct Decoder<'a> {
    lua: &'a Lua,
    cfg: Config,
    data: &'a [u8],
    pos: usize,
    tok_index: usize,
    tmp: Vec<u8>,
    open: Vec<Open>,
    /// Lua stack slots the C parser would hold: the JSON text plus each open level's slots.
    slots: usize,
    cur: Option<Table>,
    path: Option<Table>,
}

impl<'a> Decoder<'a> {
    fn new(lua: &'a Lua, cfg: Config, data: &'a [u8]) -> Self {
        Decoder {
            lua,
            cfg,
            data,
            pos: 0,
            tok_index: 0,
            tmp: Vec::new(),
            open: Vec::new(),
            slots: 1,
            cur: None,
            path: None,
        }
    }

    /// The byte at `i`, with 0 past the end: the C parser reads a NUL-terminated string, so
    /// an embedded NUL ends the input just as the end does.
    fn byte(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn run(mut self) -> Result<Value, Fault> {
        let mut tok = self.next_token();
        'value: loop {
            // `tok` starts a value.
            let mut value = match tok {
                Tok::Str => Value::String(self.lua.create_string(&self.tmp)?),
                Tok::Number(n) => Value::Number(n),
                Tok::Boolean(b) => Value::Boolean(b),
                Tok::Null => null(),
                Tok::ObjBegin => {
                    self.descend(Open::Object { key: Vec::new() })?;
                    tok = self.next_token();
                    if tok == Tok::ObjEnd {
                        self.ascend()?
                    } else {
                        self.read_key(tok)?;
                        tok = self.next_token();
                        continue 'value;
                    }
                }
                Tok::ArrBegin => {
                    self.descend(Open::Array { next: 1 })?;
                    tok = self.next_token();
                    if tok == Tok::ArrEnd {
                        self.ascend()?
                    } else {
                        continue 'value;
                    }
                }
                _ => return Err(parse_error("value", tok, self.tok_index)),
            };
            // Store the value in its container; each closing bracket hands the finished
            // container up to the next level.
            loop {
                let Some(cur) = &self.cur else {
                    tok = self.next_token();
                    if tok != Tok::End {
                        return Err(parse_error("the end", tok, self.tok_index));
                    }
                    return Ok(value);
                };
                let in_array = match self.open.last_mut() {
                    Some(Open::Array { next }) => {
                        cur.raw_set(*next, value)?;
                        *next += 1;
                        true
                    }
                    Some(Open::Object { key }) => {
                        cur.raw_set(self.lua.create_string(&*key)?, value)?;
                        false
                    }
                    None => return Err(Fault::Error("BUG: decoder lost its container".into())),
                };
                tok = self.next_token();
                if tok == (if in_array { Tok::ArrEnd } else { Tok::ObjEnd }) {
                    value = self.ascend()?;
                    continue;
                }
                if tok != Tok::Comma {
                    let expected = if in_array {
                        "comma or array end"
                    } else {
                        "comma or object end"
                    };
                    return Err(parse_error(expected, tok, self.tok_index));
                }
                tok = self.next_token();
                if !in_array {
                    self.read_key(tok)?;
                    tok = self.next_token();
                }
                continue 'value;
            }
        }
    }

    /// Reads `"key" :` of an object member (its first token is `tok`, just read).
    fn read_key(&mut self, tok: Tok) -> Result<(), Fault> {
        if tok != Tok::Str {
            return Err(parse_error("object key string", tok, self.tok_index));
        }
        let key = std::mem::take(&mut self.tmp);
        let colon = self.next_token();
        if colon != Tok::Colon {
            return Err(parse_error("colon", colon, self.tok_index));
        }
        if let Some(Open::Object { key: slot }) = self.open.last_mut() {
            *slot = key;
        }
        Ok(())
    }

    /// Opens a container, once its bracket has been read.
    fn descend(&mut self, kind: Open) -> Result<(), Fault> {
        let depth = self.open.len() + 1;
        // The C parser asks Lua for 2 slots (array) or 3 (object) on top of what it holds.
        let wanted = match kind {
            Open::Array { .. } => 2,
            Open::Object { .. } => 3,
        };
        if depth > self.cfg.decode_max_depth as usize || self.slots + wanted > LUA_C_STACK {
            return Err(Fault::Error(format!(
                "Found too many nested data structures ({depth}) at character {}",
                self.pos
            )));
        }
        let t = self.lua.create_table()?;
        if let Some(outer) = self.cur.replace(t) {
            let path = match &self.path {
                Some(p) => p,
                None => self.path.insert(self.lua.create_table()?),
            };
            path.raw_set(depth - 1, outer)?;
        }
        self.slots += kind.slots();
        self.open.push(kind);
        Ok(())
    }

    /// Closes the innermost container and returns it.
    fn ascend(&mut self) -> Result<Value, Fault> {
        if let Some(done) = self.open.pop() {
            self.slots -= done.slots();
        }
        let done = self.cur.take().map(Value::Table).unwrap_or(Value::Nil);
        if !self.open.is_empty() {
            if let Some(path) = &self.path {
                self.cur = Some(path.raw_get(self.open.len())?);
            }
        }
        Ok(done)
    }
}

fn parse_error(expected: &str, found: Tok, index: usize) -> Fault {
    Fault::Error(format!(
        "Expected {expected} but found {} at character {}",
        found.describe(),
        index + 1
    ))
}

// The tokenizer. `tok_index` is where the last token starts, or where its error was found.
impl Decoder<'_> {
    fn next_token(&mut self) -> Tok {
        while matches!(self.byte(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        self.tok_index = self.pos;
        let ch = self.byte(self.pos);
        let single = match ch {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            _ => None,
        };
        if let Some(t) = single {
            self.pos += 1;
            return t;
        }
        match ch {
            0 => Tok::End,
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid_numbers && self.is_invalid_number() {
                    return self.error_here("invalid number");
                }
                self.number_token()
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                let rest = self.data.get(self.pos..).unwrap_or_default();
                if rest.starts_with(b"true") {
                    self.pos += 4;
                    Tok::Boolean(true)
                } else if rest.starts_with(b"false") {
                    self.pos += 5;
                    Tok::Boolean(false)
                } else if rest.starts_with(b"null") {
                    self.pos += 4;
                    Tok::Null
                } else if self.cfg.decode_invalid_numbers && self.is_invalid_number() {
                    // Only forms JSON forbids (inf, nan, a leading '+') are read as numbers
                    // here, so other bad words still report an invalid token.
                    self.number_token()
                } else {
                    self.error_here("invalid token")
                }
            }
            _ => self.error_here("invalid token"),
        }
    }

    fn error_here(&mut self, what: &'static str) -> Tok {
        self.tok_index = self.pos;
        Tok::Error(what)
    }

    /// Numbers strtod accepts but JSON does not: a leading '+', hex, leading zeros, inf, nan.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.byte(p) == b'+' {
            return true;
        }
        if self.byte(p) == b'-' {
            p += 1;
        }
        let c = self.byte(p);
        if c == b'0' {
            let c2 = self.byte(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        // C compares a signed char here: bytes from 0x80 count as "ordinary".
        if c <= b'9' || c >= 0x80 {
            return false;
        }
        let word = |w: &[u8]| (0..3).all(|i| self.byte(p + i).to_ascii_lowercase() == w[i]);
        word(b"inf") || word(b"nan")
    }

    fn number_token(&mut self) -> Tok {
        match strtod(self.data.get(self.pos..).unwrap_or_default()) {
            Some((n, used)) => {
                self.pos += used;
                Tok::Number(n)
            }
            None => self.error_here("invalid number"),
        }
    }

    fn string_token(&mut self) -> Tok {
        self.pos += 1;
        self.tmp.clear();
        loop {
            let ch = self.byte(self.pos);
            match ch {
                b'"' => break,
                0 => return self.error_here("unexpected end of string"),
                b'\\' => {
                    let plain = match self.byte(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 0x0c,
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape() {
                                continue;
                            }
                            return self.error_here("invalid unicode escape code");
                        }
                        _ => return self.error_here("invalid escape code"),
                    };
                    self.tmp.push(plain);
                    self.pos += 2;
                }
                _ => {
                    self.tmp.push(ch);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Tok::Str
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, i| {
            let d = (self.byte(at + i) as char).to_digit(16)?;
            Some(acc << 4 | d)
        })
    }

    /// `\uXXXX` (a UTF-16 unit, or a surrogate pair as two escapes) at `pos`, appended as
    /// UTF-8. Lone or reversed surrogates are errors.
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            if cp & 0x400 != 0 {
                return false;
            }
            if self.byte(self.pos + 6) != b'\\' || self.byte(self.pos + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        // Surrogates were either paired or refused, so this is always a char.
        let Some(c) = char::from_u32(cp) else {
            return false;
        };
        self.tmp
            .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        self.pos += len;
        true
    }
}

// ===== strtod =====

/// glibc's strtod in the "C" locale over `s` (which ends where the C string would): the
/// value and how many bytes it used, or `None` when no number starts `s`. Decimal and hex
/// forms are correctly rounded; "inf", "infinity" and "nan" (with an optional "(chars)"
/// payload) in any case, all with an optional sign.
fn strtod(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    let negative = at(0) == b'-';
    if matches!(at(0), b'+' | b'-') {
        i = 1;
    }
    let signed = |x: f64| if negative { -x } else { x };
    let word =
        |from: usize, w: &[u8]| (0..w.len()).all(|k| at(from + k).to_ascii_lowercase() == w[k]);

    if word(i, b"inf") {
        let used = if word(i + 3, b"inity") { i + 8 } else { i + 3 };
        return Some((signed(f64::INFINITY), used));
    }
    if word(i, b"nan") {
        let (bits, used) = nan_payload(s, i + 3);
        return Some((signed(f64::from_bits(bits)), used));
    }
    if at(i) == b'0' && at(i + 1) | 0x20 == b'x' {
        if let Some((x, used)) = hex_float(s, i + 2) {
            return Some((signed(x), used));
        }
        // "0x" with no hex digits: just the "0".
        return Some((signed(0.0), i + 1));
    }

    let start = i;
    let mut digits = 0;
    while at(i).is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if at(i) == b'.' {
        i += 1;
        while at(i).is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if at(i) | 0x20 == b'e' {
        let mut j = i + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            while at(j).is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    let text = std::str::from_utf8(&s[start..i]).ok()?;
    let x: f64 = text.parse().ok()?;
    Some((signed(x), i))
}

/// After "nan": glibc also takes "(n-char-sequence)", and when the sequence is a whole
/// number (strtoull, base 0) it becomes the NaN's payload.
fn nan_payload(s: &[u8], after: usize) -> (u64, usize) {
    const QUIET_NAN: u64 = 0x7ff8_0000_0000_0000;
    if s.get(after) != Some(&b'(') {
        return (QUIET_NAN, after);
    }
    let seq_start = after + 1;
    let mut j = seq_start;
    while s
        .get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        j += 1;
    }
    if s.get(j) != Some(&b')') {
        return (QUIET_NAN, after);
    }
    let bits = match c_strtoull_whole(&s[seq_start..j]) {
        Some(m) => QUIET_NAN | (m & 0x0007_ffff_ffff_ffff),
        None => QUIET_NAN,
    };
    (bits, j + 1)
}

/// strtoull(s, &end, 0) when it consumes all of `s` (only digits and letters reach here),
/// saturating like strtoull on overflow.
fn c_strtoull_whole(s: &[u8]) -> Option<u64> {
    let (digits, radix) = if s.len() > 2 && s[0] == b'0' && s[1] | 0x20 == b'x' {
        (&s[2..], 16)
    } else if s.len() > 1 && s[0] == b'0' {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    let mut overflow = false;
    for &c in digits {
        let d = (c as char).to_digit(radix)? as u64;
        match v.checked_mul(radix as u64).and_then(|v| v.checked_add(d)) {
            Some(n) => v = n,
            None => overflow = true,
        }
    }
    Some(if overflow { u64::MAX } else { v })
}

/// The hex digits after "0x": mantissa, optional fraction, optional binary exponent "p".
/// `None` when there is no hex digit at all.
fn hex_float(s: &[u8], from: usize) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let hex = |c: u8| (c as char).to_digit(16);
    let mut i = from;
    let mut mant: u64 = 0;
    let mut sticky = false;
    let mut exp: i64 = 0;
    let mut any = false;
    let mut seen_point = false;
    loop {
        let c = at(i);
        if let Some(d) = hex(c) {
            any = true;
            if mant < 1 << 60 {
                mant = mant << 4 | d as u64;
                if seen_point {
                    exp -= 4;
                }
            } else {
                // No room for more bits: remember whether anything was dropped, for rounding.
                sticky |= d != 0;
                if !seen_point {
                    exp += 4;
                }
            }
        } else if c == b'.' && !seen_point {
            seen_point = true;
        } else {
            break;
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if at(i) | 0x20 == b'p' {
        let mut j = i + 1;
        let neg = at(j) == b'-';
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            let mut e: i64 = 0;
            while at(j).is_ascii_digit() {
                e = (e * 10 + (at(j) - b'0') as i64).min(1 << 40);
                j += 1;
            }
            exp += if neg { -e } else { e };
            i = j;
        }
    }
    Some((scale_binary(mant, sticky, exp), i))
}

/// `mant * 2^exp` rounded to nearest, ties to even (`sticky`: nonzero bits below `mant`).
fn scale_binary(mant: u64, sticky: bool, exp: i64) -> f64 {
    if mant == 0 {
        return 0.0;
    }
    let lz = mant.leading_zeros() as i64;
    let m = mant << lz;
    // Value = m * 2^(e - 63), with m's top bit set: e is the exponent of the leading bit.
    let e = exp - lz + 63;
    if e > 1023 {
        return f64::INFINITY;
    }
    // Bits of m to drop: 11 for a normal double, more below the normal range.
    let shift = (11 + (-1022 - e).max(0)) as u32;
    if shift > 64 {
        return 0.0;
    }
    let wide = m as u128;
    let mut kept = (wide >> shift) as u64;
    let rest = wide & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rest > half || (rest == half && (sticky || kept & 1 == 1)) {
        kept += 1;
    }
    let bits = if e < -1022 {
        // Subnormal: `kept` is the bit pattern (a carry into bit 52 makes it the smallest
        // normal, which is also right).
        kept
    } else {
        // `kept` includes the implicit bit, so adding it carries into the exponent as needed.
        (((e + 1022) as u64) << 52) + kept
    };
    if bits >= 0x7ff0_0000_0000_0000 {
        f64::INFINITY
    } else {
        f64::from_bits(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_forms() {
        assert_eq!(strtod(b"0x10"), Some((16.0, 4)));
        assert_eq!(strtod(b"0x"), Some((0.0, 1)));
        assert_eq!(strtod(b"-0x1.8p1]"), Some((-3.0, 8)));
        assert_eq!(strtod(b"1e"), Some((1.0, 1)));
        assert_eq!(strtod(b"-"), None);
        assert_eq!(strtod(b"Infinity"), Some((f64::INFINITY, 8)));
        assert_eq!(strtod(b"0x1p-1074"), Some((f64::from_bits(1), 9)));
        assert_eq!(strtod(b"0x1p-1075").map(|v| v.0), Some(0.0));
        assert_eq!(strtod(b"0x3p-1075").map(|v| v.0.to_bits()), Some(2));
    }

    #[test]
    fn g_format() {
        let g = |x: f64| {
            let mut v = Vec::new();
            format_g(x, 14, &mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(g(0.1), "0.1");
        assert_eq!(g(1e15), "1e+15");
        assert_eq!(g(123456789012345.0), "1.2345678901234e+14");
        assert_eq!(g(1.0 / 3.0), "0.33333333333333");
        assert_eq!(g(1e-5), "1e-05");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g(1e300), "1e+300");
    }
}
