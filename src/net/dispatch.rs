//! From a parsed request to a reply: look the command up, check it, queue it or run it.
//!
//! This is the middle of a command's journey (read → parse → **dispatch** → run → reply). The
//! command table row decides everything checked here: existence, arity, authentication,
//! MULTI's queueing, whether it writes or may use memory. Running it where its keys live is
//! `cmd::route`'s.

use std::sync::atomic::Ordering::Relaxed;

use crate::cmd::route::{account, account_nanos, account_rejected, run, run_inline, Read};
use crate::cmd::session::Session;
use crate::cmd::{self, Args, Command, KeyedFn, Run, Table};
use crate::resp::Frame;
use crate::shard::introspect::keeps_args;

pub async fn execute(s: &mut Session, args: Args) -> Frame {
    let table = Table::get();
    let Some(mut cmd) = table.lookup(&args[0]) else {
        return reject(s, None, cmd::unknown_command(&args));
    };
    if !cmd.subcommands.is_empty() && args.len() >= 2 {
        if !cmd.arity_ok(args.len()) {
            return reject(s, Some(cmd), cmd::wrong_arity(cmd));
        }
        match cmd::subcommand(cmd, &args[1]) {
            Some(sub) => cmd = sub,
            None => return reject(s, None, cmd::unknown_subcommand(&args)),
        }
    }
    if !cmd.arity_ok(args.len()) {
        return reject(s, Some(cmd), cmd::wrong_arity(cmd));
    }
    if let Some(refusal) = check(s, cmd).await {
        if cmd.name == "exec" && s.in_multi() {
            // An EXEC refused (OOM, MISCONF) discards the transaction, naming why.
            crate::cmd::multi::end_multi(s);
            let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
            if let Frame::Error(why) = &refusal {
                text.extend_from_slice(why);
            }
            let abort = Frame::error_bytes(text);
            account_rejected(s, Some(cmd), &abort);
            return abort;
        }
        return reject(s, Some(cmd), refusal);
    }
    if s.queues(cmd) {
        return s.queue(cmd, args);
    }
    // A blocking command's wait may send the outbox itself: its pushes keep their order.
    if !cmd.flags.has(cmd::flags::BLOCKING) {
        s.early_pushes = s.info.outbox.len();
    }
    let reply = execute_checked(s, cmd, args).await;
    // CLIENT CACHING speaks for the next command only (for a transaction, its EXEC), as in
    // Redis: any CLIENT command leaves it be.
    if !s.in_multi() && !cmd.name.starts_with("client|") {
        s.info.tracking.borrow_mut().caching = false;
    }
    reply
}

async fn execute_checked(s: &mut Session, cmd: &'static Command, args: Args) -> Frame {
    // The latest reading on this thread (the driver's turn, or the command before this one):
    // reading the clock is dear, and the few hundred nanoseconds since count to this command.
    let started = crate::db::clock::last();
    // CLIENT LIST shows the command a client is running, its own CLIENT LIST included.
    s.info.last_cmd.set(cmd.name);
    if let Some(reply) = run_inline(s, cmd, &args) {
        account(s, cmd, Some(&args), &reply, started);
        return reply;
    }
    // Observers may want the arguments after the command took them.
    let kept = keeps_args(&s.node).then(|| args.clone());
    let reply = run(s, cmd, args).await;
    account(s, cmd, kept.as_deref(), &reply, started);
    reply
}

/// A request refused before it ran: a transaction being queued fails at EXEC, and the
/// refusal is counted (INFO errorstats, and `cmd`'s rejected_calls when it is known).
fn reject(s: &mut Session, cmd: Option<&'static Command>, refusal: Frame) -> Frame {
    s.multi_error();
    account_rejected(s, cmd, &refusal);
    refusal
}

/// Whether the request `args` is a read that may join a batch of a pipeline's reads
/// (`cmd::route::run_reads`): a keyed read-only command whose keys all live on one shard,
/// from a session in its plain state (authenticated, not in MULTI, no CLIENT PAUSE), so that
/// none of `check`'s refusals can apply to it. Returns its shard, command and handler.
pub fn batchable_read(s: &Session, args: &Args) -> Option<(usize, &'static Command, KeyedFn)> {
    if s.node.shards == 1 || !s.authenticated || s.in_multi() {
        return None;
    }
    let cmd = Table::get().lookup(&args[0])?;
    let Run::Keyed(f) = cmd.run else {
        return None;
    };
    // Monitors see a pipeline's commands in its order, one by one; CLIENT CACHING speaks
    // for one command.
    if crate::shard::introspect::monitoring(&s.node) || {
        let t = s.info.tracking.borrow();
        t.optin || t.optout
    } {
        return None;
    }
    let plain_read = cmd.flags.has(cmd::flags::READONLY)
        && !cmd.is_write()
        && !cmd.flags.has(cmd::flags::BLOCKING)
        && cmd.subcommands.is_empty()
        && cmd.arity_ok(args.len());
    if !plain_read || s.node.global.pause_until_ms.load(Relaxed) != 0 {
        return None;
    }
    // A script runs: `check` decides whether it is busy.
    if s.node.global.scripts.running.elapsed_ms().is_some() {
        return None;
    }
    let shard = cmd::route::only_shard(cmd, args, s.node.shards)?;
    Some((shard, cmd, f))
}

/// Whether the request `args` is a PUBLISH or SPUBLISH that may join a run of a pipeline's
/// publications (`cmd::pubsub::publish_all`): from a session in its plain state, so that none
/// of `check`'s refusals can apply to it. Returns its channel's owner and its row.
pub fn batchable_publish(s: &Session, args: &Args) -> Option<(usize, &'static Command)> {
    // Every request that is not a read comes here: most are told apart by their name's length
    // without a second table lookup (a PUBLISH renamed to another length is only not batched).
    if s.node.shards == 1 || !matches!(args[0].len(), 7 | 8) || !s.authenticated || s.in_multi() {
        return None;
    }
    let cmd = Table::get().lookup(&args[0])?;
    if !matches!(cmd.name, "publish" | "spublish") || !cmd.arity_ok(args.len()) {
        return None;
    }
    if s.node.global.pause_until_ms.load(Relaxed) != 0
        || s.node.global.scripts.running.elapsed_ms().is_some()
        // A subscriber's own messages go before each PUBLISH's reply (`net::conn`).
        || s.info.subs.borrow().active()
    {
        return None;
    }
    Some((crate::slot::key_owner(&args[1], s.node.shards), cmd))
}

/// Runs publications that [`batchable_publish`] admitted, with one owner, as one run, and
/// counts each.
pub async fn execute_publishes(s: &mut Session, run: Vec<(&'static Command, Args)>) -> Vec<Frame> {
    let started = crate::db::clock::last();
    let requests = run
        .iter()
        .map(|(cmd, args)| (cmd::pubsub::kind_of(cmd), args[1].clone(), args[2].clone()))
        .collect();
    let replies = cmd::pubsub::publish_all(&s.node, requests).await;
    let elapsed = crate::db::clock::tick().duration_since(started).as_nanos() as u64;
    let share = elapsed / replies.len().max(1) as u64;
    for ((cmd, args), reply) in run.iter().zip(&replies) {
        account_nanos(s, cmd, Some(args), reply, share);
    }
    replies
}

/// Runs reads that [`batchable_read`] admitted, one hop per shard, and counts each.
pub async fn execute_reads(
    s: &mut Session,
    reads: Vec<(usize, Read)>,
) -> (Vec<(usize, Frame)>, Vec<(usize, Read)>) {
    let started = crate::db::clock::last();
    let (done, left) = cmd::route::run_reads(&s.node, s.at(), reads).await;
    // They ran together: each is charged its share of the batch's time.
    let elapsed = crate::db::clock::tick().duration_since(started).as_nanos() as u64;
    let share = elapsed / done.len().max(1) as u64;
    let done = done
        .into_iter()
        .map(|(i, cmd, reply, args)| {
            account_nanos(s, cmd, Some(&args), &reply, share);
            (i, reply)
        })
        .collect();
    (done, left)
}

/// The checks Redis makes before running (or queueing) a command, in its order.
async fn check(s: &mut Session, cmd: &'static Command) -> Option<Frame> {
    if !s.authenticated && !cmd.flags.has(cmd::flags::NO_AUTH) {
        return Some(Frame::error("NOAUTH Authentication required."));
    }
    if s.in_multi() && cmd.flags.has(cmd::flags::NO_MULTI) {
        return Some(Frame::error("ERR Command not allowed inside a transaction"));
    }
    let (write, denyoom) = s.effective_flags(cmd);
    // Queueing inside MULTI may take memory without bound, so under maxmemory every command
    // but EXEC, DISCARD, QUIT and RESET is refused there like a denyoom one.
    let steers = matches!(cmd.name, "exec" | "discard" | "quit" | "reset");
    if denyoom || (s.in_multi() && !steers) {
        if let Err(oom) = s.node.make_room().await {
            return Some(oom);
        }
    }
    // As Redis: while the disk refuses what it is given (a failed background save with save
    // points set and stop-writes-on-bgsave-error on, or an AOF write error), writes (and
    // PING) are refused rather than risked.
    if write || cmd.name == "ping" {
        if let Some(refusal) = crate::persist::writes_refused(&s.node.global) {
            return Some(Frame::error(refusal));
        }
    }
    if !s.resp3 && !cmd::pubsub::allowed_while_subscribed(cmd) && s.info.subs.borrow().active() {
        return Some(Frame::error(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.name
        )));
    }
    // A monitor is a replica to Redis, and replicas do not touch the keyspace.
    if s.info.monitor.get() && touches_keyspace(cmd) {
        return Some(Frame::error("ERR Replica can't interact with the keyspace"));
    }
    if !cmd.flags.has(cmd::flags::ALLOW_BUSY) {
        if let Some(busy) = crate::script::busy(&s.node.global) {
            return Some(Frame::error(busy));
        }
    }
    if s.node
        .global
        .pause_until_ms
        .load(std::sync::atomic::Ordering::Relaxed)
        != 0
    {
        crate::cmd::connection::wait_while_paused(s, write).await;
    }
    None
}

/// Whether `cmd` reads, writes or may propagate writes (Redis's `CMD_MAY_REPLICATE`: scripts,
/// publications).
fn touches_keyspace(cmd: &Command) -> bool {
    cmd.is_write()
        || cmd.flags.has(cmd::flags::READONLY)
        || matches!(
            cmd.name,
            "eval" | "evalsha" | "fcall" | "publish" | "spublish" | "script|load" | "script|flush"
        )
}
