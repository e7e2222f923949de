//! Each shard thread's Lua interpreters, and a script's run in them.
//!
//! A thread has two, as Redis has: one for EVAL's scripts and one for FUNCTION's libraries,
//! each made on first use: Lua 5.1 with the libraries Redis loads, the Redis API
//! (`redis.call` and friends, made here), and the read-only environment of `env.lua`.
//! Compiled scripts are kept per thread by SHA, and dropped with their interpreter when
//! SCRIPT FLUSH bumps the shared cache's generation; the functions interpreter is rebuilt from
//! the shared libraries whenever they change, so every shard runs the same functions.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use ahash::AHashMap;
use bytes::Bytes;
use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use super::convert::{error_table, frame_to_lua, lua_to_frame};
use super::lauxlib::{lua_error, raise_value, PENDING_ERROR};
use crate::cmd::session::Session;
use crate::cmd::{flags, Args, Command, Table as Commands};
use crate::resp::Frame;
use crate::shard::scripts::{FunctionInfo, Script, ScriptFlags};
use crate::shard::Node;

/// What a run may do, decided before it starts.
#[derive(Clone, Copy)]
pub struct Limits {
    /// EVAL_RO, EVALSHA_RO, or a script flagged no-writes: writes are refused.
    pub read_only: bool,
    /// Flagged allow-oom: writes run even over maxmemory.
    pub allow_oom: bool,
    /// Memory was over maxmemory when the script started.
    pub oom: bool,
}

struct Vm {
    lua: Lua,
    /// The proxy of the globals that scripts get as their environment.
    globals: Table,
    /// Calls a function under the error handler: (true, result) or (false, error table).
    run: Function,
    /// The real globals, where KEYS and ARGV are set for each run.
    real_globals: Table,
    /// Scripts by SHA, or functions by lowercase name.
    compiled: AHashMap<String, Function>,
    generation: u64,
    /// The environment of libraries' code, and its switch between loading and running.
    library_env: Table,
    loading: Function,
    /// Lua's `collectgarbage`, and the runs since it last took a step (see [`collect_some`]).
    collectgarbage: Function,
    runs_since_gc: u32,
}

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    static FUNCTIONS_VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    /// Redis's `redisLrand48` state: math.random in scripts draws from it.
    static RANDOM: std::cell::Cell<u64> = const { std::cell::Cell::new(0x1234_ABCD_330E) };
}

/// What `redis.call` needs while a script runs: the session it runs commands with (moved
/// here from the connection for the run), and the run's own state.
struct RunState {
    session: Session,
    limits: Limits,
    /// The RESP version the script reads replies in (`redis.setresp`).
    resp: u8,
    /// Whether the script's writes go to the AOF (`redis.set_repl`).
    log_writes: bool,
    wrote: bool,
    killed: bool,
}

/// Says why `script` does not compile, if it does not. Tried in the loader's interpreter:
/// the scripts interpreter may be in use by a script suspended on this thread.
pub fn compile(script: &Script) -> Result<(), String> {
    with_loader(|vm| compile_in(vm, script).map(drop))
}

/// After SCRIPT FLUSH: this thread's scripts interpreter goes now rather than at its next
/// script, so that its memory is returned (and no longer counted), as Redis's is. One that a
/// suspended script is using stays until that script ends.
pub fn drop_flushed_vm(scripts: &crate::shard::scripts::Store, shard: usize) {
    VM.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return;
        };
        if slot
            .as_ref()
            .is_some_and(|vm| vm.generation != scripts.generation())
        {
            *slot = None;
            scripts.note_vm_memory(shard, true, 0);
        }
    })
}

fn with_vm<R>(node: &Rc<Node>, f: impl FnOnce(&mut Vm) -> R) -> R {
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        let generation = node.global.scripts.generation();
        if slot.as_ref().is_none_or(|vm| vm.generation != generation) {
            // SCRIPT FLUSH starts over with a new interpreter, as Redis's does.
            *slot = Some(new_vm(generation).expect("the script interpreter starts"));
        }
        f(slot.as_mut().expect("made above"))
    })
}

/// The functions interpreter of this thread, rebuilt from the shared libraries when they
/// changed since it was built.
fn with_functions_vm<R>(node: &Rc<Node>, f: impl FnOnce(&mut Vm) -> R) -> R {
    FUNCTIONS_VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        let libraries = &node.global.scripts.libraries;
        let generation = libraries.generation();
        if slot.as_ref().is_none_or(|vm| vm.generation != generation) {
            let mut vm = new_vm(generation).expect("the functions interpreter starts");
            for lib in libraries.all() {
                // Every library here loaded once already, on its way in.
                match register_library(&vm, &lib.code[library_body_start(&lib.code)..], None) {
                    Ok(functions) => {
                        for (info, f) in functions {
                            vm.compiled.insert(info.name.to_ascii_lowercase(), f);
                        }
                    }
                    Err(e) => crate::log!(Warning, "Failed creating function, {e}"),
                }
            }
            *slot = Some(vm);
        }
        f(slot.as_mut().expect("made above"))
    })
}

thread_local! {
    /// Where FUNCTION LOAD tries a library's code before it joins the libraries, and EVAL
    /// and SCRIPT LOAD check that a script compiles.
    static LOADER: RefCell<Option<Vm>> = const { RefCell::new(None) };
}

/// Where a library's code starts: at the newline ending its shebang line, which keeps the
/// code's line numbers (the library's metadata was checked on its way in).
fn library_body_start(code: &[u8]) -> usize {
    memchr::memchr(b'\n', code).unwrap_or(code.len())
}

/// Runs a library's `body` (its code after the shebang line) as FUNCTION LOAD does, and
/// returns the functions it registered; `timeout_ms` bounds the run (Redis's 500 ms for a
/// client's FUNCTION LOAD, none when loading a file).
pub fn check_library(body: &[u8], timeout_ms: Option<u64>) -> Result<Vec<FunctionInfo>, String> {
    with_loader(|vm| {
        let found = register_library(vm, body, timeout_ms)?;
        Ok(found.into_iter().map(|(info, _)| info).collect())
    })
}

fn with_loader<R>(f: impl FnOnce(&Vm) -> Result<R, String>) -> Result<R, String> {
    LOADER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(new_vm(0).map_err(|e| e.to_string())?);
        }
        f(slot.as_ref().expect("made above"))
    })
}

/// What `redis.register_function` collects while a library's code runs.
struct Registering {
    functions: Vec<(FunctionInfo, Function)>,
    deadline: Option<std::time::Instant>,
}

fn register_library(
    vm: &Vm,
    body: &[u8],
    timeout_ms: Option<u64>,
) -> Result<Vec<(FunctionInfo, Function)>, String> {
    let f = vm
        .lua
        .load(body)
        .set_name("@user_function")
        .set_mode(ChunkMode::Text)
        .set_environment(vm.library_env.clone())
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => {
                format!("Error compiling function: {message}")
            }
            other => format!("Error compiling function: {other}"),
        })?;
    let deadline =
        timeout_ms.map(|ms| std::time::Instant::now() + std::time::Duration::from_millis(ms));
    vm.lua.set_app_data(Registering {
        functions: Vec::new(),
        deadline,
    });
    let _ = vm.lua.set_hook(
        HookTriggers::new().every_nth_instruction(100_000),
        |lua, _| {
            let late = lua
                .app_data_ref::<Registering>()
                .and_then(|r| r.deadline)
                .is_some_and(|d| std::time::Instant::now() > d);
            if late {
                return Err(raise(lua, "FUNCTION LOAD timeout"));
            }
            Ok(VmState::Continue)
        },
    );
    let outcome = vm
        .loading
        .call::<()>(true)
        .and_then(|()| vm.run.call::<MultiValue>(f));
    let _ = vm.loading.call::<()>(false);
    vm.lua.remove_hook();
    let registered = vm
        .lua
        .remove_app_data::<Registering>()
        .map(|r| r.functions)
        .unwrap_or_default();
    let values = outcome.map_err(|e| format!("Error registering functions: {e}"))?;
    let mut values = values.into_iter();
    if !matches!(values.next(), Some(Value::Boolean(true))) {
        let text = match values.next() {
            Some(Value::Table(t)) => t
                .get::<mlua::LuaString>("err")
                .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        };
        return Err(format!("Error registering functions: {text}"));
    }
    if registered.is_empty() {
        return Err("No functions registered".into());
    }
    Ok(registered)
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}`, while a library's code loads.
fn register_function(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if lua.app_data_ref::<Registering>().is_none() {
        return Err(raise(
            lua,
            "redis.register_function can only be called on FUNCTION LOAD command",
        ));
    }
    let (info, callback) = registration_of(&args).map_err(|text| raise(lua, text))?;
    if info.name.is_empty()
        || !info
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(raise(
            lua,
            "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    let mut registering = lua
        .app_data_mut::<Registering>()
        .expect("checked above, and only this function changes it");
    if registering
        .functions
        .iter()
        .any(|(f, _)| f.name == info.name)
    {
        drop(registering);
        return Err(raise(lua, "Function already exists in the library"));
    }
    registering.functions.push((info, callback));
    Ok(())
}

/// A value as Lua's `lua_tolstring` gives it: strings, and numbers as text.
fn string_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(n) => Some(n.to_string().into_bytes()),
        Value::Number(n) => Some(lua_number_text(*n).into_bytes()),
        _ => None,
    }
}

/// The function `register_function`'s arguments describe, or Redis's complaint about them
/// (checked in Redis's order: the named arguments in the table's own order).
fn registration_of(args: &MultiValue) -> Result<(FunctionInfo, Function), &'static str> {
    let text = |v: Vec<u8>| String::from_utf8_lossy(&v).into_owned();
    match args.len() {
        2 => {
            let name = string_of(&args[0])
                .ok_or("first argument to redis.register_function must be a string")?;
            let Value::Function(callback) = &args[1] else {
                return Err("second argument to redis.register_function must be a function");
            };
            let info = FunctionInfo {
                name: text(name),
                description: None,
                flags: ScriptFlags::default(),
            };
            Ok((info, callback.clone()))
        }
        1 => {
            let Value::Table(named) = &args[0] else {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
            };
            let (mut name, mut description, mut callback) = (None, None, None);
            let mut flags = ScriptFlags::default();
            for pair in named.pairs::<Value, Value>() {
                let (key, value) = pair.map_err(|_| {
                    "named argument key given to redis.register_function is not a string"
                })?;
                let key = string_of(&key)
                    .ok_or("named argument key given to redis.register_function is not a string")?;
                match key.to_ascii_lowercase().as_slice() {
                    b"function_name" => name = Some(string_of(&value).ok_or(
                        "function_name argument given to redis.register_function must be a string",
                    )?),
                    b"description" => description = Some(string_of(&value).ok_or(
                        "description argument given to redis.register_function must be a string",
                    )?),
                    b"callback" => match value {
                        Value::Function(f) => callback = Some(f),
                        _ => return Err(
                            "callback argument given to redis.register_function must be a function",
                        ),
                    },
                    b"flags" => {
                        let Value::Table(list) = value else {
                            return Err("flags argument to redis.register_function must be a table representing function flags");
                        };
                        flags = flags_of(&list).ok_or("unknown flag given")?;
                    }
                    _ => return Err("unknown argument given to redis.register_function"),
                }
            }
            let name = name.ok_or("redis.register_function must get a function name argument")?;
            let callback =
                callback.ok_or("redis.register_function must get a callback argument")?;
            let info = FunctionInfo {
                name: text(name),
                description: description.map(Bytes::from),
                flags,
            };
            Ok((info, callback))
        }
        _ => Err("wrong number of arguments to redis.register_function"),
    }
}

/// A function's flags table (`{'no-writes', ...}`), read from 1 up to the first nil; None
/// for anything Redis does not know.
fn flags_of(list: &Table) -> Option<ScriptFlags> {
    let mut flags = ScriptFlags::default();
    for i in 1.. {
        let v: Value = list.get(i).ok()?;
        if v == Value::Nil {
            break;
        }
        let flag = string_of(&v)?;
        match flag.to_ascii_lowercase().as_slice() {
            b"no-writes" => flags.no_writes = true,
            b"allow-oom" => flags.allow_oom = true,
            b"allow-stale" => flags.allow_stale = true,
            b"no-cluster" => flags.no_cluster = true,
            b"allow-cross-slot-keys" => flags.allow_cross_slot = true,
            _ => return None,
        }
    }
    Some(flags)
}

fn function_of(vm: &mut Vm, script: &Script) -> Result<Function, String> {
    if let Some(f) = vm.compiled.get(&script.sha) {
        return Ok(f.clone());
    }
    let f = compile_in(vm, script)?;
    vm.compiled.insert(script.sha.clone(), f.clone());
    Ok(f)
}

fn compile_in(vm: &Vm, script: &Script) -> Result<Function, String> {
    vm.lua
        .load(&script.body[script.shebang_len..])
        .set_name("@user_script")
        .set_mode(ChunkMode::Text)
        .set_environment(vm.globals.clone())
        .into_function()
        .map_err(|e| match e {
            mlua::Error::SyntaxError { message, .. } => message,
            other => other.to_string(),
        })
}

fn new_vm(generation: u64) -> mlua::Result<Vm> {
    // SAFETY: `unsafe_new_with` only because of the debug library, which mlua counts as
    // unsafe. env.lua keeps it for its error handler and removes it from the globals before
    // any script runs, as Redis does; nothing else of it is reachable from scripts.
    let lua = unsafe {
        Lua::unsafe_new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
            LuaOptions::default(),
        )
    };
    let api = lua.create_table()?;
    api.set(
        "call",
        lua.create_function(|lua, args: MultiValue| call(lua, args, true))?,
    )?;
    api.set(
        "pcall",
        lua.create_function(|lua, args: MultiValue| call(lua, args, false))?,
    )?;
    api.set("error_reply", lua.create_function(error_reply)?)?;
    api.set("status_reply", lua.create_function(status_reply)?)?;
    api.set("sha1hex", lua.create_function(sha1hex)?)?;
    api.set("setresp", lua.create_function(setresp)?)?;
    api.set("set_repl", lua.create_function(set_repl)?)?;
    api.set("log", lua.create_function(log)?)?;
    api.set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    // Without a debugging session (SCRIPT DEBUG), Redis's breakpoint answers false and
    // debug does nothing.
    api.set(
        "breakpoint",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    api.set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    api.set(
        "__take_error",
        lua.create_function(|lua, ()| {
            let pending: Value = lua.named_registry_value(PENDING_ERROR)?;
            lua.unset_named_registry_value(PENDING_ERROR)?;
            Ok(pending)
        })?,
    )?;
    api.set("acl_check_cmd", lua.create_function(acl_check_cmd)?)?;
    api.set("__random", lua.create_function(random)?)?;
    api.set(
        "__randomseed",
        lua.create_function(|lua, args: MultiValue| {
            seed_random(check_int(lua, &args, 1, "randomseed")?);
            Ok(())
        })?,
    )?;
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        api.set(name, level)?;
    }
    for (name, flags) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        api.set(name, flags)?;
    }
    api.set("REDIS_VERSION", crate::REDIS_VERSION)?;
    api.set("REDIS_VERSION_NUM", version_num(crate::REDIS_VERSION))?;
    api.set(
        "__register_function",
        lua.create_function(register_function)?,
    )?;
    api.set(
        "__killed",
        lua.create_function(|lua, ()| {
            Ok(lua.app_data_ref::<RunState>().is_some_and(|s| s.killed))
        })?,
    )?;
    let real_globals = lua.globals();
    // The libraries Redis loads beside Lua's own; env.lua makes them read-only.
    real_globals.set("bit", super::bit::open(&lua)?)?;
    real_globals.set("struct", super::structlib::open(&lua)?)?;
    real_globals.set("cjson", super::cjson::open(&lua)?)?;
    real_globals.set("cmsgpack", super::cmsgpack::open(&lua)?)?;
    let (globals, run, library_env, loading): (Table, Function, Table, Function) = lua
        .load(include_str!("env.lua"))
        .set_name("=tessera")
        .call(api)?;
    let collectgarbage: Function = real_globals.get("collectgarbage")?;
    // A new cycle as soon as one ends, rather than when memory has doubled: the interpreter's
    // own tables (the read-only proxies, the libraries) already take about 80 KB, and Redis's
    // tests expect a busy interpreter to stay under 100 KB.
    collectgarbage.call::<()>(("setpause", 100))?;
    Ok(Vm {
        collectgarbage,
        lua,
        globals,
        run,
        real_globals,
        compiled: AHashMap::new(),
        generation,
        library_env,
        loading,
        runs_since_gc: 0,
    })
}

/// `7.0.15` as Redis's REDIS_VERSION_NUM: 0x00070f.
fn version_num(version: &str) -> i64 {
    version
        .split('.')
        .take(3)
        .fold(0, |n, part| (n << 8) | part.parse::<i64>().unwrap_or(0))
}

/// Runs `script` with `keys` and `argv` in session `s`, whose transaction (`s.tx`) holds every
/// shard, and returns its reply.
pub fn run(s: &mut Session, script: &Script, keys: Args, argv: Args, limits: Limits) -> Frame {
    let node = s.node.clone();
    with_vm(&node, |vm| {
        let f = match function_of(vm, script) {
            Ok(f) => f,
            Err(e) => {
                return Frame::error(format!("ERR Error compiling script (new function): {e}"))
            }
        };
        if let Err(e) = set_arrays(vm, &keys, &argv) {
            return Frame::error(format!("ERR Error running script {}, {e}", script.sha));
        }
        execute(vm, s, f, &script.sha, None, limits)
    })
}

/// Runs function `name` (FCALL) with `keys` and `args` in session `s`, as [`run`]; None when
/// no library registered it.
pub fn call_function(
    s: &mut Session,
    name: &str,
    keys: Args,
    args: Args,
    limits: Limits,
) -> Option<Frame> {
    let node = s.node.clone();
    with_functions_vm(&node, |vm| {
        let f = vm.compiled.get(&name.to_ascii_lowercase())?.clone();
        let arrays =
            (|| Ok::<_, mlua::Error>((array_of(&vm.lua, &keys)?, array_of(&vm.lua, &args)?)))();
        Some(match arrays {
            Ok(arrays) => execute(vm, s, f, name, Some(arrays), limits),
            Err(e) => Frame::error(format!("ERR Error running script {name}, {e}")),
        })
    })
}

/// Runs `f` in `vm` with the session moved into the interpreter for `redis.call`; `name`
/// (a SHA or a function's name) goes into error replies.
fn execute(
    vm: &mut Vm,
    s: &mut Session,
    f: Function,
    name: &str,
    arrays: Option<(Table, Table)>,
    limits: Limits,
) -> Frame {
    let node = s.node.clone();
    let resp3_caller = s.resp3;
    let session = std::mem::replace(s, s.stand_in());
    vm.lua.set_app_data(RunState {
        session,
        limits,
        resp: 2,
        log_writes: true,
        wrote: false,
        killed: false,
    });
    watch_time(&vm.lua, &node);
    // EVAL's scripts find KEYS and ARGV as globals; functions get them as arguments.
    let arrays_were_globals = arrays.is_none();
    let outcome = match arrays {
        None => vm.run.call::<MultiValue>(f),
        Some((keys, args)) => vm.run.call::<MultiValue>((f, keys, args)),
    };
    vm.lua.remove_hook();
    let state = vm
        .lua
        .remove_app_data::<RunState>()
        .expect("the run's state is there until the run ends");
    let resp3 = state.resp == 3;
    *s = state.session;
    let reply = match outcome {
        Ok(values) => {
            let mut values = values.into_iter();
            let ok = matches!(values.next(), Some(Value::Boolean(true)));
            let value = values.next().unwrap_or(Value::Nil);
            if ok {
                lua_to_frame(&value, resp3, resp3_caller, 0)
            } else if state.killed {
                error_reply_of(
                    name,
                    &value,
                    Some("ERR Script killed by user with SCRIPT KILL..."),
                )
            } else {
                error_reply_of(name, &value, None)
            }
        }
        Err(e) => Frame::error(format!("ERR Error running script {name}, {e}")),
    };
    collect_some(vm);
    let is_eval = arrays_were_globals;
    node.global
        .scripts
        .note_vm_memory(node.id, is_eval, vm.lua.used_memory() as u64);
    reply
}

/// Lua collects garbage in steps as scripts allocate; extra steps between runs keep a full
/// cycle from landing on one script. Redis's rhythm: a 50 KB step every 50 runs.
fn collect_some(vm: &mut Vm) {
    const PERIOD: u32 = 50;
    vm.runs_since_gc += 1;
    if vm.runs_since_gc == PERIOD {
        vm.runs_since_gc = 0;
        let _ = vm.collectgarbage.call::<()>(("step", PERIOD));
    }
}

/// The reply for a script that failed with error `value` (the error handler's table: `err`,
/// and where: `source`, `line`), as Redis writes it.
fn error_reply_of(sha: &str, value: &Value, message: Option<&str>) -> Frame {
    let Value::Table(t) = value else {
        return Frame::error(format!("ERR Error running script {sha}, execution failure"));
    };
    let text: String = match message {
        Some(m) => m.to_string(),
        None => t
            .get::<mlua::LuaString>("err")
            .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
            .unwrap_or_default(),
    };
    let source = t.get::<Option<mlua::LuaString>>("source").ok().flatten();
    let line = t.get::<Option<i64>>("line").ok().flatten();
    let text = match (source, line) {
        (Some(source), Some(line)) => format!(
            "{text} script: {sha}, on {}:{line}.",
            String::from_utf8_lossy(&source.as_bytes())
        ),
        _ => text,
    };
    Frame::error(text)
}

/// KEYS and ARGV, set in the real globals behind the read-only proxy.
fn set_arrays(vm: &Vm, keys: &[Bytes], argv: &[Bytes]) -> mlua::Result<()> {
    vm.real_globals.raw_set("KEYS", array_of(&vm.lua, keys)?)?;
    vm.real_globals.raw_set("ARGV", array_of(&vm.lua, argv)?)
}

fn array_of(lua: &Lua, list: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(list.len(), 0)?;
    for (i, a) in list.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(a)?)?;
    }
    Ok(t)
}

/// Checks every 100,000 instructions, as Redis does, for SCRIPT KILL and for a script that
/// runs past busy-reply-threshold (logged once, as Redis logs it).
fn watch_time(lua: &Lua, node: &Rc<Node>) {
    let global = node.global.clone();
    let warned = std::cell::Cell::new(false);
    let _ = lua.set_hook(
        HookTriggers::new().every_nth_instruction(100_000),
        move |lua, _| {
            let running = &global.scripts.running;
            if running.kill.load(Relaxed) {
                if let Some(mut state) = lua.app_data_mut::<RunState>() {
                    if !state.killed {
                        crate::log!(Warning, "Lua script killed by user with SCRIPT KILL.");
                    }
                    state.killed = true;
                }
                return Err(mlua::Error::runtime("Script killed by user with SCRIPT KILL..."));
            }
            let threshold = global.config.snapshot().busy_reply_threshold();
            if let Some(elapsed) = running.elapsed_ms() {
                if elapsed >= threshold {
                    if threshold > 0 && !warned.get() {
                        warned.set(true);
                        crate::log!(
                            Warning,
                            "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the SCRIPT KILL command."
                        );
                    }
                    // As Redis serves events from its hook once a script is slow: this
                    // shard's other clients get their BUSY replies, and SCRIPT KILL can come.
                    super::fiber::breathe();
                }
            }
            Ok(VmState::Continue)
        },
    );
}

/// Raises Redis's error table for `text` from a Rust function.
fn raise(lua: &Lua, text: &str) -> mlua::Error {
    raise_table(lua, error_table(lua, text, false))
}

fn raise_table(lua: &Lua, table: mlua::Result<Table>) -> mlua::Error {
    match table {
        Ok(t) => raise_value(lua, t),
        Err(e) => e,
    }
}

/// `redis.call` (`raise`) and `redis.pcall`: runs a command from the script. An error reply
/// is raised by `redis.call` and returned by `redis.pcall`, as Redis's error table.
fn call(lua: &Lua, args: MultiValue, raise: bool) -> mlua::Result<Value> {
    let outcome = match command_args(&args) {
        Ok(argv) => run_command(lua, argv),
        Err(text) => Err(text.to_string()),
    };
    match outcome {
        Ok(value) => Ok(value),
        Err(text) if raise => Err(raise_table(lua, error_table(lua, &text, true))),
        Err(text) => Ok(Value::Table(error_table(lua, &text, true)?)),
    }
}

/// The command's arguments as Redis reads them from Lua: strings as they are, numbers in
/// `%.17g`, anything else refused.
fn command_args(args: &MultiValue) -> Result<Args, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    args.iter()
        .map(|v| match v {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            // Redis formats every number with %.17g, which prints integers of up to 17
            // digits as they are.
            Value::Integer(n) if n.unsigned_abs() < 100_000_000_000_000_000 => {
                Ok(Bytes::from(n.to_string()))
            }
            Value::Integer(n) => Ok(Bytes::from(crate::resp::frame::format_g17(*n as f64))),
            Value::Number(n) => Ok(Bytes::from(crate::resp::frame::format_g17(*n))),
            _ => Err("Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

/// Checks and runs one command for the script, as Redis's `scriptCall`; the reply comes back
/// as a Lua value, an error reply as Err with its text.
fn run_command(lua: &Lua, args: Args) -> Result<Value, String> {
    let Some(mut state) = lua.app_data_mut::<RunState>() else {
        return Err("redis.call/pcall can only be called inside a script invocation".into());
    };
    let table = Commands::get();
    let mut cmd = table
        .lookup(&args[0])
        .ok_or("Unknown Redis command called from script")?;
    if !cmd.subcommands.is_empty() && args.len() >= 2 {
        cmd = crate::cmd::subcommand(cmd, &args[1])
            .ok_or("Unknown Redis command called from script")?;
    }
    if !cmd.arity_ok(args.len()) {
        return Err("Wrong number of args calling Redis command from script".into());
    }
    if cmd.flags.has(flags::NOSCRIPT)
        && !(state
            .session
            .node
            .global
            .scripts
            .deny_disabled
            .load(Relaxed)
            && allowed_when_deny_disabled(cmd))
    {
        return Err("This Redis command is not allowed from script".into());
    }
    if cmd.is_write() {
        if state.limits.read_only {
            return Err("Write commands are not allowed from read-only scripts.".into());
        }
        if !state.wrote {
            if let Some(refusal) = crate::persist::writes_refused(&state.session.node.global) {
                return Err(refusal.to_string());
            }
        }
    }
    if cmd.flags.has(flags::DENYOOM) && state.limits.oom && !state.limits.allow_oom && !state.wrote
    {
        return Err("-OOM command not allowed when used memory > 'maxmemory'.".into());
    }
    if cmd.is_write() {
        state.wrote = true;
        state
            .session
            .node
            .global
            .scripts
            .running
            .wrote
            .store(true, Relaxed);
    }
    let resp3 = state.resp == 3;
    let log_writes = state.log_writes;
    let s = &mut state.session;
    s.resp3 = resp3;
    if let Some(tx) = &s.tx {
        tx.set_quiet(!log_writes);
    }
    let started = crate::db::clock::last();
    let kept = crate::shard::introspect::keeps_args(&s.node).then(|| args.clone());
    let reply = super::fiber::wait(crate::cmd::route::run(s, cmd, args));
    crate::cmd::route::account(s, cmd, kept.as_deref(), &reply, started);
    if cmd.flags.has(flags::READONLY) {
        s.node.global.scripts.running.read.store(true, Relaxed);
    }
    drop(state);
    if let Frame::Error(text) = &reply {
        let mut full = b"-".to_vec();
        full.extend_from_slice(text);
        return Err(String::from_utf8_lossy(&full).into_owned());
    }
    frame_to_lua(lua, reply, resp3).map_err(|e| e.to_string())
}

/// Under DEBUG SET-DISABLE-DENY-SCRIPTS, which Redis's tests use to call CLIENT LIST or DEBUG
/// PROTOCOL from a script: the commands a script may then run. Not those that act on the
/// caller's connection or transaction, run a script inside the script, or may not run inside
/// MULTI (they wait for the shards the script holds); Redis crashes on some of them.
fn allowed_when_deny_disabled(cmd: &Command) -> bool {
    let runs_scripts = ["eval", "fcall", "script|", "function|"]
        .iter()
        .any(|p| cmd.name.starts_with(p));
    let on_connection = matches!(
        cmd.name,
        "multi"
            | "exec"
            | "discard"
            | "watch"
            | "unwatch"
            | "quit"
            | "reset"
            | "hello"
            | "auth"
            | "client|reply"
            | "client|setname"
            | "client|caching"
            | "client|no-evict"
    );
    !cmd.flags.has(flags::NO_MULTI) && !runs_scripts && !on_connection
}

/// Redis's error text rules for a value given to `redis.error_reply` and friends.
fn one_string(args: &MultiValue) -> Option<mlua::LuaString> {
    match (args.len(), args.iter().next()) {
        (1, Some(Value::String(s))) => Some(s.clone()),
        _ => None,
    }
}

fn error_reply(lua: &Lua, args: MultiValue) -> mlua::Result<Table> {
    let Some(s) = one_string(&args) else {
        return error_table(lua, "wrong number or type of arguments", false);
    };
    let bytes = s.as_bytes();
    let text = if bytes.first() == Some(&b'-') {
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        format!("-{}", String::from_utf8_lossy(&bytes))
    };
    error_table(lua, &text, false)
}

fn status_reply(lua: &Lua, args: MultiValue) -> mlua::Result<Table> {
    let Some(s) = one_string(&args) else {
        return error_table(lua, "wrong number or type of arguments", false);
    };
    let t = lua.create_table()?;
    t.set("ok", s)?;
    Ok(t)
}

fn sha1hex(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    if args.len() != 1 {
        return Err(raise(lua, "wrong number of arguments"));
    }
    let bytes = match args.iter().next() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(Value::Integer(n)) => n.to_string().into_bytes(),
        Some(Value::Number(n)) => lua_number_text(*n).into_bytes(),
        _ => Vec::new(),
    };
    Ok(Value::String(
        lua.create_string(crate::shard::scripts::sha1hex(&bytes))?,
    ))
}

/// A number as Lua 5.1 turns it into a string (`%.14g`).
pub fn lua_number_text(n: f64) -> String {
    crate::resp::frame::format_g(n, 14)
}

/// A number argument as Lua's `lua_tonumber` reads it: numbers, and strings that hold one.
fn number_of(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => std::str::from_utf8(&s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn setresp(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if lua.app_data_ref::<RunState>().is_none() {
        return Err(raise(
            lua,
            "redis.setresp can only be called inside a script invocation",
        ));
    }
    if args.len() != 1 {
        return Err(raise(lua, "redis.setresp() requires one argument."));
    }
    let resp = number_of(args.iter().next()).unwrap_or(0.0) as i64;
    if resp != 2 && resp != 3 {
        return Err(raise(lua, "RESP version must be 2 or 3."));
    }
    if let Some(mut state) = lua.app_data_mut::<RunState>() {
        state.resp = resp as u8;
    }
    Ok(())
}

fn set_repl(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if lua.app_data_ref::<RunState>().is_none() {
        return Err(raise(
            lua,
            "redis.set_repl can only be called inside a script invocation",
        ));
    }
    if args.len() != 1 {
        return Err(raise(lua, "redis.set_repl() requires two arguments."));
    }
    let flags = number_of(args.iter().next()).unwrap_or(0.0) as i64;
    if flags & !3 != 0 {
        return Err(raise(
            lua,
            "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ));
    }
    if let Some(mut state) = lua.app_data_mut::<RunState>() {
        // Tessera has no replicas yet: the AOF bit is the one that decides anything.
        state.log_writes = flags & 1 != 0;
    }
    Ok(())
}

fn log(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(raise(lua, "redis.log() requires two arguments or more."));
    }
    let mut values = args.iter();
    let Some(level) = number_of(values.next()) else {
        return Err(raise(lua, "First argument must be a number (log level)."));
    };
    let level = match level as i64 {
        0 => crate::config::LogLevel::Debug,
        1 => crate::config::LogLevel::Verbose,
        2 => crate::config::LogLevel::Notice,
        3 => crate::config::LogLevel::Warning,
        _ => return Err(raise(lua, "Invalid debug level.")),
    };
    let parts: Vec<String> = values
        .filter_map(|v| match v {
            Value::String(s) => Some(String::from_utf8_lossy(&s.as_bytes()).into_owned()),
            Value::Integer(n) => Some(n.to_string()),
            Value::Number(n) => Some(lua_number_text(*n)),
            _ => None,
        })
        .collect();
    crate::log::line(level, format_args!("{}", parts.join(" ")));
    Ok(())
}

/// Every client is Redis's default user with every permission (Tessera has no ACL users):
/// any command that exists may be run.
fn acl_check_cmd(lua: &Lua, args: MultiValue) -> mlua::Result<bool> {
    if lua.app_data_ref::<RunState>().is_none() {
        return Err(raise(
            lua,
            "redis.acl_check_cmd can only be called inside a script invocation",
        ));
    }
    let argv = match command_args(&args) {
        Ok(a) => a,
        Err(text) => return Err(raise(lua, text)),
    };
    let table = Commands::get();
    let mut found = table.lookup(&argv[0]);
    if let Some(cmd) = found {
        if !cmd.subcommands.is_empty() && argv.len() >= 2 {
            found = crate::cmd::subcommand(cmd, &argv[1]);
        }
    }
    if found.is_none() {
        return Err(raise(
            lua,
            "Invalid command passed to redis.acl_check_cmd()",
        ));
    }
    Ok(true)
}

/// math.random as Redis's: no argument, a number in [0, 1); `u`, an integer in [1, u]; `l, u`,
/// an integer in [l, u].
fn random(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let r = next_random();
    match args.len() {
        0 => Ok(r),
        1 => {
            let u = check_int(lua, &args, 1, "random")?;
            if u < 1 {
                return Err(lua_error(
                    lua,
                    "bad argument #1 to 'random' (interval is empty)",
                ));
            }
            Ok((r * u as f64).floor() + 1.0)
        }
        2 => {
            let l = check_int(lua, &args, 1, "random")?;
            let u = check_int(lua, &args, 2, "random")?;
            if l > u {
                return Err(lua_error(
                    lua,
                    "bad argument #2 to 'random' (interval is empty)",
                ));
            }
            Ok((r * (u as f64 - l as f64 + 1.0)).floor() + l as f64)
        }
        _ => Err(lua_error(lua, "wrong number of arguments")),
    }
}

/// Lua's `luaL_checkint`: argument `n` (from 1) as an integer, truncated, or its error.
fn check_int(lua: &Lua, args: &MultiValue, n: usize, fname: &str) -> mlua::Result<i32> {
    let v = args.get(n - 1);
    match number_of(v) {
        Some(x) => Ok(x as i64 as i32),
        None => {
            let got = match v {
                None => "no value".to_string(),
                Some(v) => v.type_name().to_string(),
            };
            Err(lua_error(
                lua,
                &format!("bad argument #{n} to '{fname}' (number expected, got {got})"),
            ))
        }
    }
}

/// The next draw of Redis's 48-bit generator, in [0, 1): `X = X * 0x5DEECE66D + 0xB` modulo
/// 2^48, the top 31 bits, scaled as Redis's math.random scales them.
fn next_random() -> f64 {
    RANDOM.with(|state| {
        let x = state.get().wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & ((1 << 48) - 1);
        state.set(x);
        let drawn = (x >> 17) as i64;
        const MAX: i64 = i32::MAX as i64;
        (drawn % MAX) as f64 / MAX as f64
    })
}

/// math.randomseed: Redis's `redisSrand48`.
fn seed_random(seed: i32) {
    RANDOM.with(|state| state.set(((seed as u32 as u64) << 16) | 0x330E));
}
