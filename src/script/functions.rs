//! Functions: FUNCTION LOAD and the other FUNCTION subcommands, FCALL and FCALL_RO.
//!
//! A library is Lua code with a shebang naming it (`#!lua name=mylib`); loading it runs the
//! code once, and the functions it registers (`redis.register_function`) become callable
//! with FCALL on every shard. The libraries live in `shard::scripts::Libraries`, where RDB
//! snapshots and FUNCTION DUMP read their code; each shard thread's functions interpreter
//! rebuilds itself from them when they change (`vm`). A function runs as an EVAL script does
//! (`super::execute`): holding every shard, its writes logged as the commands it ran.
//!
//! What changes the libraries is logged to the AOF as the command itself, on shard 0's log
//! (libraries belong to no key); AOF rewrites and RDB snapshots carry them too.

use bytes::Bytes;

use super::{execute, kill, vm, Target, BUSY_SCRIPT, RUNS_SCRIPT, RUNS_SCRIPT_READ_ONLY};
use crate::cmd::flags::*;
use crate::cmd::propagate::Rule;
use crate::cmd::session::Session;
use crate::cmd::{boxed, help_reply, Args, Command, Run, SessionFuture};
use crate::resp::Frame;
use crate::shard::scripts::{Libraries, Library};

pub static COMMANDS: &[Command] = &[
    Command::new("fcall", -3, Run::Session(fcall))
        .flags(RUNS_SCRIPT)
        .acl(&["@slow", "@scripting"]),
    Command::new("fcall_ro", -3, Run::Session(fcall_ro))
        .flags(RUNS_SCRIPT_READ_ONLY)
        .acl(&["@slow", "@scripting"]),
    Command::new("function", -2, Run::Session(function_help))
        .acl(&["@slow"])
        .subs(FUNCTION_SUBCOMMANDS),
];

static FUNCTION_SUBCOMMANDS: &[Command] = &[
    Command::new("function|load", -3, Run::Session(function_load))
        .flags(&[WRITE, DENYOOM, NOSCRIPT])
        .acl(&["@write", "@slow", "@scripting"])
        .propagates(Rule::AsIs),
    Command::new("function|delete", 3, Run::Session(function_delete))
        .flags(&[WRITE, NOSCRIPT])
        .acl(&["@write", "@slow", "@scripting"])
        .propagates(Rule::AsIs),
    Command::new("function|flush", -2, Run::Session(function_flush))
        .flags(&[WRITE, NOSCRIPT])
        .acl(&["@write", "@slow", "@scripting"])
        .propagates(Rule::AsIs),
    Command::new("function|list", -2, Run::Session(function_list))
        .flags(&[NOSCRIPT])
        .acl(&["@slow", "@scripting"]),
    Command::new("function|dump", 2, Run::Session(function_dump))
        .flags(&[NOSCRIPT])
        .acl(&["@slow", "@scripting"]),
    Command::new("function|restore", -3, Run::Session(function_restore))
        .flags(&[WRITE, DENYOOM, NOSCRIPT])
        .acl(&["@write", "@slow", "@scripting"])
        .propagates(Rule::AsIs),
    Command::new("function|stats", 2, Run::Session(function_stats))
        .flags(&[NOSCRIPT, ALLOW_BUSY])
        .acl(&["@slow", "@scripting"]),
    Command::new("function|kill", 2, Run::Session(function_kill))
        .flags(&[NOSCRIPT, ALLOW_BUSY])
        .acl(&["@slow", "@scripting"]),
    Command::new("function|help", 2, Run::Session(function_help))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@scripting"]),
];

/// How long a client's FUNCTION LOAD may run the library's code, as Redis's
/// `LOAD_TIMEOUT_MS`.
const LOAD_TIMEOUT_MS: u64 = 500;

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// A library's name, from its shebang line (`#!lua name=mylib`), as Redis's
/// `functionExtractLibMetaData` reads it, then checks it.
fn library_name(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = memchr::memchr(b'\n', code) else {
        return Err("Invalid library metadata".into());
    };
    let parts = match crate::resp::split::split_args(&code[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err("Invalid library metadata".into()),
    };
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let name = name.ok_or("Library name was not given")?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(BAD_NAME.into());
    }
    let engine = &parts[0][2..];
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!(
            "Engine '{}' not found",
            String::from_utf8_lossy(engine)
        ));
    }
    Ok(name)
}

/// Runs library `code` as FUNCTION LOAD does and returns it with what it registered; a
/// library of the same name in `existing` is an error, checked where Redis checks it (before
/// the code runs).
fn library_of(
    code: Bytes,
    timeout_ms: Option<u64>,
    existing: Option<&Libraries>,
) -> Result<Library, String> {
    let name = library_name(&code)?;
    if existing.is_some_and(|libs| libs.contains(&name)) {
        return Err(format!("Library '{name}' already exists"));
    }
    let start = memchr::memchr(b'\n', &code).unwrap_or(code.len());
    let functions = vm::check_library(&code[start..], timeout_ms)?;
    Ok(Library {
        name,
        code,
        functions,
    })
}

/// Libraries read from a file (RDB, or an AOF's RDB base) join `libraries`: all of them
/// replacing what was there (`flush`), or added to it, a library of the same name replaced
/// only with `replace` (DEBUG RELOAD MERGE).
pub fn install(
    libraries: &Libraries,
    codes: Vec<Vec<u8>>,
    flush: bool,
    replace: bool,
) -> Result<(), String> {
    let libs = codes
        .into_iter()
        .map(|code| library_of(Bytes::from(code), None, None))
        .collect::<Result<Vec<_>, _>>()?;
    if flush {
        let fresh = Libraries::default();
        fresh.add(libs, false)?;
        libraries.set(fresh.take_all());
        return Ok(());
    }
    libraries.add(libs, replace)
}

/// Logs a command that changed the libraries to shard 0's AOF, inside the session's
/// transaction when there is one (MULTI).
async fn log(s: &Session, args: &Args) {
    let command = args.to_vec();
    s.node
        .read_everywhere(s.tx.clone(), move |data| {
            if data.id == 0 {
                data.aof.record_raw(&mut data.ks, 0, &command);
            }
        })
        .await;
}

/// Applies a FUNCTION command read back from the AOF to `libraries`, as the client's
/// command did (without FUNCTION LOAD's time limit, as Redis loads).
pub fn apply_logged(libraries: &Libraries, args: &[Bytes]) -> Result<(), String> {
    let sub = args
        .get(1)
        .map(|a| a.to_ascii_lowercase())
        .unwrap_or_default();
    match sub.as_slice() {
        b"load" => load(libraries, args, None).map(drop),
        b"delete" => delete(libraries, args),
        b"flush" => {
            libraries.set(Vec::new());
            Ok(())
        }
        b"restore" => restore(libraries, args),
        _ => Err(format!(
            "FUNCTION {} cannot change the libraries",
            String::from_utf8_lossy(&sub)
        )),
    }
}

/// FUNCTION LOAD [REPLACE] code: the library's name, or the error's text.
fn load(libraries: &Libraries, args: &[Bytes], timeout_ms: Option<u64>) -> Result<String, String> {
    let mut replace = false;
    let mut at = 2;
    while at < args.len() - 1 {
        if !args[at].eq_ignore_ascii_case(b"replace") {
            return Err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(&args[at])
            ));
        }
        replace = true;
        at += 1;
    }
    let existing = (!replace).then_some(libraries);
    let lib = library_of(args[at].clone(), timeout_ms, existing)?;
    let name = lib.name.clone();
    libraries.add(vec![lib], replace)?;
    Ok(name)
}

fn function_load(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        match load(
            &s.node.global.scripts.libraries,
            &args,
            Some(LOAD_TIMEOUT_MS),
        ) {
            Ok(name) => {
                log(s, &args).await;
                Frame::bulk(Bytes::from(name))
            }
            Err(e) => Frame::error(format!("ERR {e}")),
        }
    })
}

fn delete(libraries: &Libraries, args: &[Bytes]) -> Result<(), String> {
    match libraries.remove(&String::from_utf8_lossy(&args[2])) {
        true => Ok(()),
        false => Err("Library not found".into()),
    }
}

fn function_delete(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if let Err(e) = delete(&s.node.global.scripts.libraries, &args) {
            return Frame::error(format!("ERR {e}"));
        }
        log(s, &args).await;
        Frame::ok()
    })
}

fn function_flush(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if args.len() > 3 {
            return syntax_error(&args);
        }
        if args.len() == 3
            && !args[2].eq_ignore_ascii_case(b"sync")
            && !args[2].eq_ignore_ascii_case(b"async")
        {
            return Frame::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
        }
        s.node.global.scripts.libraries.set(Vec::new());
        log(s, &args).await;
        Frame::ok()
    })
}

fn syntax_error(args: &Args) -> Frame {
    Frame::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(&args[1])
    ))
}

fn function_list(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let (mut with_code, mut pattern) = (false, None);
        let mut i = 2;
        while i < args.len() {
            let a = &args[i];
            if !with_code && a.eq_ignore_ascii_case(b"withcode") {
                with_code = true;
            } else if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
                if i + 1 >= args.len() {
                    return Frame::error("ERR library name argument was not given");
                }
                i += 1;
                pattern = Some(args[i].clone());
            } else {
                return Frame::error(format!(
                    "ERR Unknown argument {}",
                    String::from_utf8_lossy(a)
                ));
            }
            i += 1;
        }
        let bulk = |s: &str| Frame::bulk(Bytes::from(s.to_string()));
        let libraries = s.node.global.scripts.libraries.all();
        let listed = libraries
            .iter()
            .filter(|lib| {
                pattern
                    .as_ref()
                    .is_none_or(|p| crate::types::glob::glob_match(p, lib.name.as_bytes(), true))
            })
            .map(|lib| {
                let functions = lib
                    .functions
                    .iter()
                    .map(|f| {
                        Frame::Map(vec![
                            (bulk("name"), bulk(&f.name)),
                            (
                                bulk("description"),
                                f.description.clone().map_or(Frame::Null, Frame::Bulk),
                            ),
                            (
                                bulk("flags"),
                                Frame::Set(
                                    f.flags
                                        .names()
                                        .map(|n| Frame::Simple(Bytes::from_static(n.as_bytes())))
                                        .collect(),
                                ),
                            ),
                        ])
                    })
                    .collect();
                let mut fields = vec![
                    (bulk("library_name"), bulk(&lib.name)),
                    (bulk("engine"), bulk("LUA")),
                    (bulk("functions"), Frame::Array(functions)),
                ];
                if with_code {
                    fields.push((bulk("library_code"), Frame::Bulk(lib.code.clone())));
                }
                Frame::Map(fields)
            })
            .collect();
        Frame::Array(listed)
    })
}

fn function_dump(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let libraries = s.node.global.scripts.libraries.all();
        let compress = s.node.global.config.snapshot().rdbcompression();
        let payload =
            crate::rdb::functions_payload(libraries.iter().map(|l| &l.code[..]), compress);
        Frame::bulk(Bytes::from(payload))
    })
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE], once its arguments were checked.
fn restore(libraries: &Libraries, args: &[Bytes]) -> Result<(), String> {
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy = match args.get(3) {
        None => Policy::Append,
        Some(p) if p.eq_ignore_ascii_case(b"append") => Policy::Append,
        Some(p) if p.eq_ignore_ascii_case(b"replace") => Policy::Replace,
        Some(p) if p.eq_ignore_ascii_case(b"flush") => Policy::Flush,
        Some(_) => {
            return Err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
                    .into(),
            )
        }
    };
    if crate::rdb::verify_dump_payload(&args[2]).is_err() {
        return Err("DUMP payload version or checksum are wrong".into());
    }
    // The payload's libraries must agree among themselves whatever the policy.
    let incoming = Libraries::default();
    for code in crate::rdb::parse_functions_payload(&args[2])? {
        let lib = library_of(Bytes::from(code), None, Some(&incoming))?;
        incoming.add(vec![lib], false)?;
    }
    let incoming = incoming.take_all();
    match policy {
        Policy::Flush => {
            libraries.set(incoming);
            Ok(())
        }
        _ => libraries.add(incoming, policy == Policy::Replace),
    }
}

fn function_restore(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if args.len() > 4 {
            return syntax_error(&args);
        }
        match restore(&s.node.global.scripts.libraries, &args) {
            Ok(()) => {
                log(s, &args).await;
                Frame::ok()
            }
            Err(e) => Frame::error(format!("ERR {e}")),
        }
    })
}

fn function_stats(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let scripts = &s.node.global.scripts;
        let running = scripts.running.what().zip(scripts.running.elapsed_ms());
        let running_script = match running {
            Some((what, _)) if what.is_eval => return Frame::error(BUSY_SCRIPT),
            Some((what, ms)) => Frame::Map(vec![
                (
                    Frame::bulk(Bytes::from_static(b"name")),
                    Frame::bulk(Bytes::from(what.name)),
                ),
                (
                    Frame::bulk(Bytes::from_static(b"command")),
                    Frame::Array(what.command.into_iter().map(Frame::Bulk).collect()),
                ),
                (
                    Frame::bulk(Bytes::from_static(b"duration_ms")),
                    Frame::Integer(ms as i64),
                ),
            ]),
            None => Frame::Null,
        };
        let (libraries, functions) = scripts.libraries.counts();
        let lua = Frame::Map(vec![
            (
                Frame::bulk(Bytes::from_static(b"libraries_count")),
                Frame::Integer(libraries as i64),
            ),
            (
                Frame::bulk(Bytes::from_static(b"functions_count")),
                Frame::Integer(functions as i64),
            ),
        ]);
        Frame::Map(vec![
            (
                Frame::bulk(Bytes::from_static(b"running_script")),
                running_script,
            ),
            (
                Frame::bulk(Bytes::from_static(b"engines")),
                Frame::Map(vec![(Frame::bulk(Bytes::from_static(b"LUA")), lua)]),
            ),
        ])
    })
}

fn function_kill(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { kill(s, false) })
}

fn function_help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        help_reply(
            "function",
            &[
                "LOAD [REPLACE] <FUNCTION CODE>",
                "    Create a new library with the given library name and code.",
                "DELETE <LIBRARY NAME>",
                "    Delete the given library.",
                "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
                "    Return general information on all the libraries:",
                "    * Library name",
                "    * The engine used to run the Library",
                "    * Library description",
                "    * Functions list",
                "    * Library code (if WITHCODE is given)",
                "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
                "STATS",
                "    Return information about the current function running:",
                "    * Function name",
                "    * Command used to run the function",
                "    * Duration in MS that the function is running",
                "    If no function is running, return nil",
                "    In addition, returns a list of available engines.",
                "KILL",
                "    Kill the current running function.",
                "FLUSH [ASYNC|SYNC]",
                "    Delete all the libraries.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the libraries.",
                "    * SYNC: Synchronously flush the libraries.",
                "DUMP",
                "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
                "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
                "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
                "    control how to handle existing libraries (default APPEND):",
                "    * FLUSH: delete all existing libraries.",
                "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
                "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
                "      libraries with the new libraries (notice that even on this option there is a chance of failure",
                "      in case of functions name collision with another library).",
            ],
        )
    })
}

fn fcall(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(call(s, args, false))
}

fn fcall_ro(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(call(s, args, true))
}

/// FCALL and FCALL_RO: finds the function, reads its keys, and runs it as a script.
async fn call(s: &mut Session, args: Args, read_only: bool) -> Frame {
    // Before the function's own commands, as Redis shows them (FCALL's row skips the usual
    // feed).
    crate::cmd::introspect::feed_monitors(s, &args);
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    let Some((_, function)) = s.node.global.scripts.libraries.function(&name) else {
        return Frame::error("ERR Function not found");
    };
    let Ok(numkeys) = crate::cmd::args::parse_int(&args[2]) else {
        return Frame::error("ERR Bad number of keys provided");
    };
    if numkeys > (args.len() - 3) as i64 {
        return Frame::error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Frame::error("ERR Number of keys can't be negative");
    }
    let numkeys = numkeys as usize;
    let (keys, argv) = (args[3..3 + numkeys].to_vec(), args[3 + numkeys..].to_vec());
    execute(
        s,
        Target::Function(function.name),
        function.flags,
        read_only,
        keys,
        argv,
        &args,
    )
    .await
}
