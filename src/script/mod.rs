//! Lua scripts: EVAL, EVALSHA, their read-only forms, and SCRIPT.
//!
//! # Where a script runs, and why it is atomic
//!
//! A script runs on the shard of the connection that sent it, in that thread's Lua
//! interpreter ([`vm`]), inside a transaction of the layer (`shard::tx`) that holds **every
//! shard whole**. Scripts may touch keys they never declared (on a non-cluster Redis they
//! can, and libraries rely on it), so no smaller set of locks is known before the script has
//! run; holding everything is what Redis's single thread gives, and it costs one round trip
//! to the other shards (in parallel) before the script and a message to each after it.
//!
//! Lua cannot wait for another shard asynchronously from inside `redis.call` (Lua 5.1 cannot
//! yield across `pcall`, which scripts use around calls), so a script runs on a stack of its
//! own ([`fiber`]): a call whose keys live on another shard suspends that stack while the
//! script's task awaits the hop, and a script past `busy-reply-threshold` suspends it now
//! and then so that the shard answers its other clients (BUSY) and hears SCRIPT KILL. The
//! script runs in a task of its own, with the session lent to it, as EXEC does.
//!
//! Each command a script runs is logged through the transaction, so the AOF gets the
//! script's effects as one all-or-nothing part per shard (Redis's effects replication);
//! `redis.set_repl` can leave them out.

mod bit;
mod cjson;
mod cmsgpack;
mod convert;
mod fiber;
pub mod functions;
mod lauxlib;
mod structlib;
mod vm;

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;

use crate::cmd::flags::*;
use crate::cmd::session::Session;
use crate::cmd::{boxed, Args, Command, Run, SessionFuture};
use crate::resp::Frame;
use crate::shard::scripts::{sha1hex, RunningScript, Script, ScriptFlags};
use crate::shard::tx::{Plan, Tx};
use crate::shard::Node;

/// The flags of the commands that run a script (EVAL, EVALSHA, FCALL): which keys a script
/// touches is known only as it runs.
pub(crate) const RUNS_SCRIPT: &[Flags] = &[
    NOSCRIPT,
    SKIP_MONITOR,
    NO_MANDATORY_KEYS,
    STALE,
    MOVABLEKEYS,
];
/// Their read-only forms (EVAL_RO, EVALSHA_RO, FCALL_RO).
pub(crate) const RUNS_SCRIPT_READ_ONLY: &[Flags] = &[
    NOSCRIPT,
    SKIP_MONITOR,
    NO_MANDATORY_KEYS,
    STALE,
    READONLY,
    MOVABLEKEYS,
];

pub static COMMANDS: &[Command] = &[
    Command::new("eval", -3, Run::Session(eval))
        .flags(RUNS_SCRIPT)
        .acl(&["@slow", "@scripting"]),
    Command::new("evalsha", -3, Run::Session(evalsha))
        .flags(RUNS_SCRIPT)
        .acl(&["@slow", "@scripting"]),
    Command::new("eval_ro", -3, Run::Session(eval_ro))
        .flags(RUNS_SCRIPT_READ_ONLY)
        .acl(&["@slow", "@scripting"]),
    Command::new("evalsha_ro", -3, Run::Session(evalsha_ro))
        .flags(RUNS_SCRIPT_READ_ONLY)
        .acl(&["@slow", "@scripting"]),
    Command::new("script", -2, Run::Session(script_help))
        .acl(&["@slow"])
        .subs(SCRIPT_SUBCOMMANDS),
];

static SCRIPT_SUBCOMMANDS: &[Command] = &[
    Command::new("script|exists", -3, Run::Session(script_exists))
        .flags(&[NOSCRIPT])
        .acl(&["@slow", "@scripting"]),
    Command::new("script|flush", -2, Run::Session(script_flush))
        .flags(&[NOSCRIPT])
        .acl(&["@slow", "@scripting"]),
    Command::new("script|help", 2, Run::Session(script_help))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@scripting"]),
    Command::new("script|kill", 2, Run::Session(script_kill))
        .flags(&[NOSCRIPT, ALLOW_BUSY])
        .acl(&["@slow", "@scripting"]),
    Command::new("script|load", 3, Run::Session(script_load))
        .flags(&[NOSCRIPT, STALE])
        .acl(&["@slow", "@scripting"]),
];

/// Caches `body` (SCRIPT LOAD, EVAL): checks its shebang and that it compiles here.
fn load(s: &Session, body: &Bytes) -> Result<Arc<Script>, Frame> {
    let store = &s.node.global.scripts;
    let sha = sha1hex(body);
    if let Some(script) = store.get(&sha) {
        return Ok(script);
    }
    let (flags, shebang_len) =
        ScriptFlags::parse(body).map_err(|e| Frame::error(format!("ERR {e}")))?;
    let script = Arc::new(Script {
        sha,
        body: body.clone(),
        flags,
        shebang_len,
    });
    vm::compile(&script)
        .map_err(|e| Frame::error(format!("ERR Error compiling script (new function): {e}")))?;
    store.insert(script.clone());
    Ok(script)
}

fn eval(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(run(s, args, false, false))
}

fn evalsha(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(run(s, args, true, false))
}

fn eval_ro(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(run(s, args, false, true))
}

fn evalsha_ro(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(run(s, args, true, true))
}

/// EVAL and its forms: finds or loads the script, checks what its flags forbid, then runs it
/// holding every shard.
async fn run(s: &mut Session, args: Args, by_sha: bool, read_only: bool) -> Frame {
    // Before the script's own commands, as Redis shows them (EVAL's row skips the usual feed).
    crate::cmd::introspect::feed_monitors(s, &args);
    let numkeys = match crate::cmd::args::parse_int(&args[2]) {
        Ok(n) => n,
        Err(e) => return Frame::from(e),
    };
    if numkeys > (args.len() - 3) as i64 {
        return Frame::error("ERR Number of keys can't be greater than number of args");
    }
    if numkeys < 0 {
        return Frame::error("ERR Number of keys can't be negative");
    }
    let script = if by_sha {
        let found = (args[1].len() == 40)
            .then(|| std::str::from_utf8(&args[1]).ok())
            .flatten()
            .and_then(|sha| s.node.global.scripts.get(&sha.to_ascii_lowercase()));
        match found {
            Some(script) => script,
            None => return Frame::error("NOSCRIPT No matching script. Please use EVAL."),
        }
    } else {
        match load(s, &args[1]) {
            Ok(script) => script,
            Err(e) => return e,
        }
    };
    let numkeys = numkeys as usize;
    let (keys, argv) = (args[3..3 + numkeys].to_vec(), args[3 + numkeys..].to_vec());
    let flags = script.flags;
    execute(
        s,
        Target::Script(script),
        flags,
        read_only,
        keys,
        argv,
        &args,
    )
    .await
}

/// What runs: one of EVAL's scripts, or a function (FCALL).
enum Target {
    Script(Arc<Script>),
    Function(String),
}

/// Checks what the script's `flags` forbid now, then runs it holding every shard (`command`
/// is what FUNCTION STATS shows of it).
async fn execute(
    s: &mut Session,
    target: Target,
    flags: ScriptFlags,
    read_only: bool,
    keys: Args,
    argv: Args,
    command: &Args,
) -> Frame {
    // Before the script, as Redis's processCommand makes room before every command: whether
    // memory is over the limit decides which writes the script may run.
    let oom = s.node.make_room().await.is_err();
    if !flags.compat {
        if !flags.no_writes {
            if let Some(refusal) = crate::persist::writes_refused(&s.node.global) {
                return Frame::error(refusal);
            }
            if read_only {
                return Frame::error(
                    "ERR Can not execute a script with write flag using *_ro command.",
                );
            }
        }
        if oom && !flags.allow_oom && !flags.no_writes {
            return Frame::error(
                "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
            );
        }
    }
    let limits = vm::Limits {
        read_only: read_only || (!flags.compat && flags.no_writes),
        allow_oom: !flags.compat && flags.allow_oom,
        oom,
    };
    let running = RunningScript {
        name: match &target {
            Target::Script(script) => script.sha.clone(),
            Target::Function(name) => name.clone(),
        },
        is_eval: matches!(target, Target::Script(_)),
        command: command.to_vec(),
    };
    if let Some(tx) = s.tx.clone() {
        // Inside EXEC, whose own task holds every shard already.
        return within(s, tx, target, running, keys, argv, limits).await.0;
    }
    // The script runs in a task of its own, with the session lent to it: a client that
    // leaves only stops waiting for the reply, and a script's stack is never dropped half
    // way (see fiber.rs).
    let mut owned = std::mem::replace(s, s.stand_in());
    let (owned, reply) = Node::detached(async move {
        let node = owned.node.clone();
        let tx = Rc::new(Tx::begin(&node, Plan::everything(node.shards)).await);
        let (reply, tx) = within(&mut owned, tx, target, running, keys, argv, limits).await;
        match Rc::try_unwrap(tx) {
            Ok(tx) => tx.finish().await,
            // Nothing keeps another handle past the script; dropping still commits and
            // releases.
            Err(rc) => drop(rc),
        }
        (owned, reply)
    })
    .await;
    *s = owned;
    reply
}

/// Runs `target` with the session in transaction `tx`; the session comes out as it went in
/// (a SELECT inside the script selects for the script only, as in Redis).
async fn within(
    s: &mut Session,
    tx: Rc<Tx>,
    target: Target,
    running: RunningScript,
    keys: Args,
    argv: Args,
    limits: vm::Limits,
) -> (Frame, Rc<Tx>) {
    s.node.global.scripts.running.begin(running);
    let outer_tx = s.tx.replace(tx.clone());
    let (db, resp3) = (s.db, s.resp3);
    s.in_script = true;
    let declared = keys.clone();
    let reply = fiber::run(|| match &target {
        Target::Script(script) => vm::run(s, script, declared, argv, limits),
        // The library went between the lookup and the run (the lookup is in another
        // thread's interpreter): as if it had gone just before.
        Target::Function(name) => vm::call_function(s, name, declared, argv, limits)
            .unwrap_or_else(|| Frame::error("ERR Function not found")),
    })
    .await;
    s.in_script = false;
    // Client-side caching: a script that read something lets its tracking caller cache the
    // keys it declared (Redis's rule), remembered while the script still holds every shard.
    if s.node.global.scripts.running.read.load(Relaxed) {
        let caller = s.at().caller;
        if caller.remembers {
            crate::cmd::route::remember_keys(&tx, caller, &keys).await;
        }
    }
    s.tx = outer_tx;
    s.db = db;
    s.info.db.set(db);
    s.resp3 = resp3;
    s.node.global.scripts.running.end();
    (reply, tx)
}

fn script_help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        crate::cmd::help_reply(
            "script",
            &[
                "DEBUG (YES|SYNC|NO)",
                "    Set the debug mode for subsequent scripts executed.",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
            ],
        )
    })
}

fn script_exists(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let store = &s.node.global.scripts;
        Frame::Array(
            args[2..]
                .iter()
                .map(|sha| {
                    let known = std::str::from_utf8(sha)
                        .ok()
                        .is_some_and(|sha| store.get(sha).is_some());
                    Frame::Integer(known as i64)
                })
                .collect(),
        )
    })
}

fn script_flush(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mode_ok = match args.len() {
            2 => true,
            3 => args[2].eq_ignore_ascii_case(b"sync") || args[2].eq_ignore_ascii_case(b"async"),
            _ => false,
        };
        if !mode_ok {
            return Frame::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
        }
        s.node.global.scripts.flush();
        for shard in 0..s.node.shards {
            let global = s.node.global.clone();
            s.node
                .post(shard, move |_| vm::drop_flushed_vm(&global.scripts, shard));
        }
        Frame::ok()
    })
}

fn script_load(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        match load(s, &args[2]) {
            Ok(script) => Frame::bulk(Bytes::from(script.sha.clone())),
            Err(e) => e,
        }
    })
}

fn script_kill(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { kill(s, true) })
}

/// SCRIPT KILL (`eval`) and FUNCTION KILL: stops the running script at its next check, unless
/// it has written or is the other kind.
fn kill(s: &Session, eval: bool) -> Frame {
    let running = &s.node.global.scripts.running;
    let Some(what) = running.what().filter(|_| running.elapsed_ms().is_some()) else {
        return Frame::error("NOTBUSY No scripts in execution right now.");
    };
    if running.wrote.load(Relaxed) {
        return Frame::error(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        );
    }
    if eval && !what.is_eval {
        return Frame::error(BUSY_FUNCTION);
    }
    if !eval && what.is_eval {
        return Frame::error(BUSY_SCRIPT);
    }
    running.kill.store(true, Relaxed);
    Frame::ok()
}

/// The BUSY error for a command that is not allowed while a script runs, once the script has
/// run for `busy-reply-threshold` (Redis's point where it starts answering other clients).
pub fn busy(global: &crate::shard::global::Global) -> Option<&'static str> {
    let running = &global.scripts.running;
    let elapsed = running.elapsed_ms()?;
    if elapsed < global.config.snapshot().busy_reply_threshold().max(0) as u64 {
        return None;
    }
    Some(match running.what() {
        Some(what) if !what.is_eval => BUSY_FUNCTION,
        _ => BUSY_SCRIPT,
    })
}

/// What a command that cannot run during a long script gets, by the kind of script.
pub const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
