//! The `cmsgpack` library Redis 7.0 gives scripts: lua-cmsgpack 0.4.0 as Redis vendors it.
//! Bytes produced, Lua values returned and error texts are those of the C library on 64-bit
//! Linux, including its choices: a table is an array only when its keys are exactly 1..n,
//! numbers are integers when they convert to int64 exactly and otherwise float32 when that is
//! lossless, tables nested 16 deep are written as nil, and the Lua stack limits that bound
//! what one call may hold are emulated.
//!
//! Self-contained: depends on `mlua` and `std` only.

use mlua::{Error, Lua, LuaString, MultiValue, Table, Value};

use super::lauxlib::{c_double_to_i64, stack_overflow, type_error, Fault, TWO_POW_63};

const MODULE_NAME: &str = "cmsgpack";
const MODULE_VERSION: &str = "lua-cmsgpack 0.4.0";
const MODULE_COPYRIGHT: &str = "Copyright (C) 2012, Salvatore Sanfilippo";
const MODULE_DESCRIPTION: &str = "MessagePack C implementation for Lua";

/// Tables at this depth (the packed value itself being depth 0) are written as nil, which
/// also stops on tables that contain themselves.
const MAX_NESTING: usize = 16;

/// LUAI_MAXCSTACK: the Lua stack slots a C function may hold. The C library keeps arguments,
/// results and the tables being walked on the Lua stack; running out raises its "stack
/// overflow (...)" errors, reproduced here at the same points.
const LUA_C_STACK: usize = 8000;

/// Builds the `cmsgpack` table (what `luaopen_cmsgpack` returns), its fields set in the C
/// library's order so that iterating it gives the same order as in Redis.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| pack(lua, args).map_err(|f| f.raise(lua)))?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| unpack(lua, args).map_err(|f| f.raise(lua)))?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, args: MultiValue| {
            unpack_one(lua, args).map_err(|f| f.raise(lua))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(|lua, args: MultiValue| {
            unpack_limit(lua, args).map_err(|f| f.raise(lua))
        })?,
    )?;
    t.raw_set("_NAME", MODULE_NAME)?;
    t.raw_set("_VERSION", MODULE_VERSION)?;
    t.raw_set("_COPYRIGHT", MODULE_COPYRIGHT)?;
    t.raw_set("_DESCRIPTION", MODULE_DESCRIPTION)?;
    Ok(t)
}

// ===== Errors, raised as the Lua C API raises them =====

/// `luaL_checkinteger` (a `lua_Integer`, 64 bits).
fn check_integer(lua: &Lua, args: &MultiValue, narg: usize) -> Result<i64, Fault> {
    let v = args.get(narg - 1);
    let n = match v {
        Some(v) => lua.coerce_number(v.clone())?,
        None => None,
    };
    match n {
        Some(d) => Ok(c_double_to_i64(d)),
        None => Err(type_error(narg, "number", v)),
    }
}

/// `luaL_optinteger(L, narg, 0)`.
fn opt_integer(lua: &Lua, args: &MultiValue, narg: usize) -> Result<i64, Fault> {
    match args.get(narg - 1) {
        None | Some(Value::Nil) => Ok(0),
        Some(_) => check_integer(lua, args, narg),
    }
}

/// `luaL_checklstring(L, 1)`: numbers are taken as their string form.
fn check_string(lua: &Lua, args: &MultiValue) -> Result<LuaString, Fault> {
    let v = args.front();
    let s = match v {
        Some(v) => lua.coerce_string(v.clone())?,
        None => None,
    };
    s.ok_or_else(|| type_error(1, "string", v))
}

// ===== Packing =====

fn pack(lua: &Lua, args: MultiValue) -> Result<LuaString, Fault> {
    let nargs = args.len();
    if nargs == 0 {
        return Err(Fault::Arg(0, "MessagePack pack needs input.".into()));
    }
    // lua_checkstack(L, nargs) with the nargs arguments already on the stack.
    if nargs + nargs > LUA_C_STACK {
        return Err(Fault::Arg(
            0,
            "Too many arguments for MessagePack pack.".into(),
        ));
    }
    let mut buf = Vec::new();
    for (i, v) in args.iter().enumerate() {
        // On the C stack: the arguments, the strings packed so far, and this value's copy.
        let top = nargs + i + 1;
        encode(v, 0, top, &mut buf)?;
    }
    Ok(lua.create_string(&buf)?)
}

/// Writes `v` at nesting `level`; `top` is the Lua stack height in C with `v` on top.
fn encode(v: &Value, level: usize, top: usize, buf: &mut Vec<u8>) -> Result<(), Fault> {
    match v {
        Value::Table(_) if level == MAX_NESTING => buf.push(0xc0),
        Value::String(s) => encode_bytes(&s.as_bytes(), buf),
        Value::Boolean(b) => buf.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(*i as f64, buf),
        Value::Number(n) => encode_number(*n, buf),
        Value::Table(t) => {
            if is_array(t, top)? {
                encode_array(t, level, top, buf)?;
            } else {
                encode_map(t, level, top, buf)?;
            }
        }
        _ => buf.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(s: &[u8], buf: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len <= 0xff {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s);
}

/// Lua 5.1 numbers are doubles: integral ones that convert to int64 exactly are written as
/// integers (-0 included, as 0), the rest as float32 when that loses nothing, else float64.
fn encode_number(n: f64, buf: &mut Vec<u8>) {
    let fits_i64 = (-TWO_POW_63..TWO_POW_63).contains(&n);
    if fits_i64 && n.trunc() == n {
        encode_int(n as i64, buf);
        return;
    }
    let f = n as f32;
    if f as f64 == n {
        buf.push(0xca);
        buf.extend_from_slice(&f.to_be_bytes());
    } else {
        buf.push(0xcb);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(n: i64, buf: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            buf.push(n as u8);
        } else if n <= 0xff {
            buf.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            buf.push(0xcd);
            buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            buf.push(0xce);
            buf.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            buf.push(0xcf);
            buf.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        buf.push(n as i8 as u8);
    } else if n >= -128 {
        buf.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn container_header(n: usize, fix: u8, wide16: u8, wide32: u8, buf: &mut Vec<u8>) {
    if n <= 15 {
        buf.push(fix | n as u8);
    } else if n <= 0xffff {
        buf.push(wide16);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        buf.push(wide32);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// True when the keys are exactly 1..n (n may be 0: an empty table is an array). Keys must
/// fit a C `int`.
fn is_array(t: &Table, top: usize) -> Result<bool, Fault> {
    if top + 2 > LUA_C_STACK {
        return Err(stack_overflow("in function table_is_an_array"));
    }
    let mut count: i64 = 0;
    let mut max: i64 = 0;
    let mut array = true;
    let walk = t.for_each::<Value, Value>(|k, _| {
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => f64::NAN,
        };
        if n > 0.0 && n <= i32::MAX as f64 && n.trunc() == n {
            max = max.max(n as i64);
            count += 1;
            Ok(())
        } else {
            array = false;
            // Stops the walk: one key that is not an index settles it.
            Err(Error::runtime(""))
        }
    });
    if !array {
        return Ok(false);
    }
    walk?;
    Ok(max == count)
}

fn encode_array(t: &Table, level: usize, top: usize, buf: &mut Vec<u8>) -> Result<(), Fault> {
    let len = t.raw_len();
    container_header(len, 0x90, 0xdc, 0xdd, buf);
    if top + 1 > LUA_C_STACK {
        return Err(stack_overflow("in function mp_encode_lua_table_as_array"));
    }
    for j in 1..=len {
        // lua_gettable, as in C (metamethods apply, though every index is present).
        let v: Value = t.get(j as f64)?;
        encode(&v, level + 1, top + 1, buf)?;
    }
    Ok(())
}

fn encode_map(t: &Table, level: usize, top: usize, buf: &mut Vec<u8>) -> Result<(), Fault> {
    if top + 3 > LUA_C_STACK {
        return Err(stack_overflow("in function mp_encode_lua_table_as_map"));
    }
    // The header needs the count first; the C library walks the table twice, one walk into
    // a side buffer gives the same bytes.
    let mut body = Vec::new();
    let mut count = 0usize;
    let mut failure = None;
    let walk = t.for_each::<Value, Value>(|k, v| {
        count += 1;
        // While the key is written C holds the key, the value and a copy of the key.
        let r = encode(&k, level + 1, top + 3, &mut body)
            .and_then(|()| encode(&v, level + 1, top + 2, &mut body));
        r.map_err(|f| {
            failure = Some(f);
            Error::runtime("")
        })
    });
    if let Some(f) = failure {
        return Err(f);
    }
    walk?;
    container_header(count, 0x80, 0xde, 0xdf, buf);
    buf.extend_from_slice(&body);
    Ok(())
}

// ===== Unpacking =====

fn unpack(lua: &Lua, args: MultiValue) -> Result<MultiValue, Fault> {
    let s = check_string(lua, &args)?;
    // Extra arguments stay on the C stack under the results.
    unpack_full(lua, &s.as_bytes(), 0, 0, args.len(), args.len())
}

fn unpack_one(lua: &Lua, args: MultiValue) -> Result<MultiValue, Fault> {
    let offset = opt_integer(lua, &args, 2)?;
    let s = check_string(lua, &args)?;
    unpack_full(lua, &s.as_bytes(), 1, offset, 1, args.len())
}

fn unpack_limit(lua: &Lua, args: MultiValue) -> Result<MultiValue, Fault> {
    let limit = check_integer(lua, &args, 2)?;
    let offset = opt_integer(lua, &args, 3)?;
    let s = check_string(lua, &args)?;
    unpack_full(lua, &s.as_bytes(), limit, offset, 1, args.len())
}

/// Decodes up to `limit` values from `offset`. With both 0 it decodes everything and returns
/// just the values; otherwise the next offset (-1 at the end) comes first. `base` is the C
/// stack height before any result is pushed; `nargs` how many arguments the call got.
fn unpack_full(
    lua: &Lua,
    s: &[u8],
    limit: i64,
    offset: i64,
    base: usize,
    nargs: usize,
) -> Result<MultiValue, Fault> {
    let len = s.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // The C library prints the input's length where it means the limit.
        return Err(Fault::Error(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(Fault::Error(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut r = Reader {
        lua,
        s,
        pos: offset as usize,
    };
    let mut values = Vec::new();
    while r.pos < len && (values.len() as i64) < limit {
        match r.value(base + values.len()) {
            Ok(v) => values.push(v),
            Err(Fail::Eof) => return Err(Fault::Error("Missing bytes in input.".into())),
            Err(Fail::BadFormat) => return Err(Fault::Error("Bad data format in input.".into())),
            Err(Fail::Fault(f)) => return Err(f),
        }
    }
    if !decode_all {
        if base + values.len() + 1 > LUA_C_STACK {
            return Err(stack_overflow("in function mp_unpack_full"));
        }
        let next = if r.pos == len { -1.0 } else { r.pos as f64 };
        values.insert(0, Value::Number(next));
    }
    // mlua returns results above all the arguments plus one spare slot (and possibly one
    // more for its error object), so near the 8000-slot limit it can return one to three
    // values fewer than C. Past that, fail with the C library's message rather than mlua's.
    if nargs + values.len() + 2 > LUA_C_STACK {
        return Err(stack_overflow(
            "too many return values at once; use unpack_one or unpack_limit instead.",
        ));
    }
    Ok(MultiValue::from_iter(values))
}

enum Fail {
    Eof,
    BadFormat,
    Fault(Fault),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        // mlua has room for about 8000 live values; a stream of that many strings or tables
        // runs out just before the C library's own limit, so it fails the same way.
        match e {
            Error::StackError => Fail::Fault(stack_overflow(
                "too many return values at once; use unpack_one or unpack_limit instead.",
            )),
            e => Fail::Fault(Fault::Lua(e)),
        }
    }
}

/// An array or map being filled.
enum Level {
    Array { left: u64, index: i64 },
    Map { left: u64, have_key: bool },
}

impl Level {
    /// Lua stack slots C holds for this level while it decodes the next item: the table
    /// and the index, or the table and (once read) the key.
    fn slots(&self) -> usize {
        match self {
            Level::Array { .. } => 2,
            Level::Map {
                have_key: false, ..
            } => 1,
            Level::Map { have_key: true, .. } => 2,
        }
    }
}

/// The containers open while one value is decoded. The innermost one's table is `cur`; the
/// outer ones wait in a Lua table (`path[2d-1]`, with a map's pending key at `path[2d]`), so
/// deep input needs few live mlua handles (mlua has room for about 8000).
struct Nest<'l> {
    lua: &'l Lua,
    levels: Vec<Level>,
    /// The C stack height while the next item is decoded.
    top: usize,
    cur: Option<Table>,
    path: Option<Table>,
}

impl Nest<'_> {
    fn path(&mut self) -> mlua::Result<&Table> {
        match self.path {
            Some(ref p) => Ok(p),
            None => Ok(self.path.insert(self.lua.create_table()?)),
        }
    }

    /// Starts a container: its (empty) table when it has no items, else `None`.
    fn open(&mut self, level: Level) -> Result<Option<Value>, Fail> {
        let table = self.lua.create_table()?;
        if matches!(
            level,
            Level::Array { left: 0, .. } | Level::Map { left: 0, .. }
        ) {
            return Ok(Some(Value::Table(table)));
        }
        if let Some(outer) = self.cur.replace(table) {
            let slot = 2 * self.levels.len() - 1;
            self.path()?.raw_set(slot, outer)?;
        }
        self.top += level.slots();
        self.levels.push(level);
        Ok(None)
    }

    /// Puts a decoded item in its container, closing each container it fills. Returns the
    /// whole value once nothing is left open.
    fn store(&mut self, mut value: Value) -> Result<Option<Value>, Fail> {
        loop {
            let depth = self.levels.len();
            let (Some(level), Some(t)) = (self.levels.last_mut(), &self.cur) else {
                return Ok(Some(value));
            };
            let full = match level {
                Level::Array { left, index } => {
                    t.raw_set(*index, value)?;
                    *index += 1;
                    *left -= 1;
                    *left == 0
                }
                Level::Map {
                    have_key: have_key @ false,
                    ..
                } => {
                    *have_key = true;
                    self.top += 1;
                    self.path()?.raw_set(2 * depth, value)?;
                    return Ok(None);
                }
                Level::Map { left, have_key } => {
                    let key: Value = match &self.path {
                        Some(p) => p.raw_get(2 * depth)?,
                        None => Value::Nil,
                    };
                    // lua_settable's own errors, raised without a location from C.
                    match key {
                        Value::Nil => {
                            return Err(Fail::Fault(Fault::Bare("table index is nil".into())))
                        }
                        Value::Number(n) if n.is_nan() => {
                            return Err(Fail::Fault(Fault::Bare("table index is NaN".into())))
                        }
                        key => t.raw_set(key, value)?,
                    }
                    *have_key = false;
                    self.top -= 1;
                    *left -= 1;
                    *left == 0
                }
            };
            if !full {
                return Ok(None);
            }
            if let Some(done) = self.levels.pop() {
                self.top -= done.slots();
            }
            value = self.cur.take().map(Value::Table).unwrap_or(Value::Nil);
            if !self.levels.is_empty() {
                let slot = 2 * self.levels.len() - 1;
                self.cur = Some(self.path()?.raw_get(slot)?);
            }
        }
    }
}

struct Reader<'a> {
    lua: &'a Lua,
    s: &'a [u8],
    pos: usize,
}

/// What one header byte starts.
enum Item {
    Done(Value),
    Array(u64),
    Map(u64),
}

impl Reader<'_> {
    fn need(&self, n: usize) -> Result<(), Fail> {
        if self.s.len() - self.pos < n {
            return Err(Fail::Eof);
        }
        Ok(())
    }

    /// `N` bytes at `pos + at`, once `need` has vouched for them.
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut b = [0u8; N];
        let from = self.pos + at;
        if let Some(src) = self.s.get(from..from + N) {
            b.copy_from_slice(src);
        }
        b
    }

    /// A `size`-byte big-endian number after the type byte, the whole item then consumed.
    fn uint(&mut self, size: usize) -> Result<u64, Fail> {
        self.need(1 + size)?;
        let v = (1..=size).fold(0u64, |acc, i| acc << 8 | self.s[self.pos + i] as u64);
        self.pos += 1 + size;
        Ok(v)
    }

    fn string(&mut self, header: usize, len: usize) -> Result<Item, Fail> {
        self.need(header)?;
        self.pos += header;
        self.need(len)?;
        let v = self.lua.create_string(&self.s[self.pos..self.pos + len])?;
        self.pos += len;
        Ok(Item::Done(Value::String(v)))
    }

    /// Reads one item's header (and all of it, for a scalar).
    fn item(&mut self) -> Result<Item, Fail> {
        let num = |n: f64| Ok(Item::Done(Value::Number(n)));
        let b = self.s[self.pos];
        match b {
            0xcc => num(self.uint(1)? as f64),
            0xd0 => num(self.uint(1)? as u8 as i8 as f64),
            0xcd => num(self.uint(2)? as f64),
            0xd1 => num(self.uint(2)? as u16 as i16 as f64),
            0xce => num(self.uint(4)? as f64),
            0xd2 => num(self.uint(4)? as u32 as i32 as f64),
            // Pushed as a lua_Integer: values from 2^63 come out negative.
            0xcf => num(self.uint(8)? as i64 as f64),
            0xd3 => num(self.uint(8)? as i64 as f64),
            0xc0 | 0xc2 | 0xc3 => {
                self.pos += 1;
                Ok(Item::Done(match b {
                    0xc0 => Value::Nil,
                    0xc2 => Value::Boolean(false),
                    _ => Value::Boolean(true),
                }))
            }
            0xca => {
                self.need(5)?;
                let f = f32::from_be_bytes(self.bytes(1));
                self.pos += 5;
                num(f as f64)
            }
            0xcb => {
                self.need(9)?;
                let d = f64::from_be_bytes(self.bytes(1));
                self.pos += 9;
                num(d)
            }
            0xd9 => {
                self.need(2)?;
                let len = self.s[self.pos + 1] as usize;
                self.string(2, len)
            }
            0xda => {
                self.need(3)?;
                let len = u16::from_be_bytes(self.bytes(1)) as usize;
                self.string(3, len)
            }
            0xdb => {
                self.need(5)?;
                let len = u32::from_be_bytes(self.bytes(1)) as usize;
                self.string(5, len)
            }
            0xdc => Ok(Item::Array(self.uint(2)?)),
            0xdd => Ok(Item::Array(self.uint(4)?)),
            0xde => Ok(Item::Map(self.uint(2)?)),
            0xdf => Ok(Item::Map(self.uint(4)?)),
            _ if b & 0x80 == 0 => {
                self.pos += 1;
                num(b as f64)
            }
            _ if b & 0xe0 == 0xe0 => {
                self.pos += 1;
                num(b as i8 as f64)
            }
            _ if b & 0xe0 == 0xa0 => self.string(1, (b & 0x1f) as usize),
            _ if b & 0xf0 == 0x90 => {
                self.pos += 1;
                Ok(Item::Array((b & 0xf) as u64))
            }
            _ if b & 0xf0 == 0x80 => {
                self.pos += 1;
                Ok(Item::Map((b & 0xf) as u64))
            }
            // bin, ext and the unused 0xc1.
            _ => Err(Fail::BadFormat),
        }
    }

    /// Decodes one complete value; `base` is the C stack height before it is pushed.
    fn value(&mut self, base: usize) -> Result<Value, Fail> {
        let mut nest = Nest {
            lua: self.lua,
            levels: Vec::new(),
            top: base,
            cur: None,
            path: None,
        };
        loop {
            self.need(1)?;
            if nest.top + 1 > LUA_C_STACK {
                return Err(Fail::Fault(stack_overflow(
                    "too many return values at once; use unpack_one or unpack_limit instead.",
                )));
            }
            let item = match self.item()? {
                Item::Done(v) => Some(v),
                Item::Array(n) => {
                    // C asks for a slot for the index even when there are no elements.
                    if nest.top + 2 > LUA_C_STACK {
                        return Err(Fail::Fault(stack_overflow(
                            "in function mp_decode_to_lua_array",
                        )));
                    }
                    nest.open(Level::Array { left: n, index: 1 })?
                }
                Item::Map(n) => nest.open(Level::Map {
                    left: n,
                    have_key: false,
                })?,
            };
            if let Some(v) = item {
                if let Some(whole) = nest.store(v)? {
                    return Ok(whole);
                }
            }
        }
    }
}
