//! From a parsed request to a reply: look the command up, check it, queue it or run it.
//!
//! This is the middle of a command's journey (read → parse → **dispatch** → run → reply). The
//! command table row decides everything checked here: existence, arity, authentication,
//! MULTI's queueing, whether it writes or may use memory. Running it where its keys live is
//! `cmd::route`'s.

use crate::cmd::route::{account, run};
use crate::cmd::session::Session;
use crate::cmd::{self, Args, Command, Table};
use crate::resp::Frame;

pub async fn execute(s: &mut Session, args: Args) -> Frame {
    let table = Table::get();
    let Some(mut cmd) = table.lookup(&args[0]) else {
        s.multi_error();
        return cmd::unknown_command(&args);
    };
    if !cmd.subcommands.is_empty() && args.len() >= 2 {
        if !cmd.arity_ok(args.len()) {
            s.multi_error();
            return cmd::wrong_arity(cmd);
        }
        match cmd::subcommand(cmd, &args[1]) {
            Some(sub) => cmd = sub,
            None => {
                s.multi_error();
                return cmd::unknown_subcommand(&args);
            }
        }
    }
    if !cmd.arity_ok(args.len()) {
        s.multi_error();
        return cmd::wrong_arity(cmd);
    }
    if let Some(refusal) = check(s, cmd).await {
        if cmd.name == "exec" && s.in_multi() {
            // An EXEC refused (OOM, MISCONF) discards the transaction, naming why.
            crate::cmd::multi::end_multi(s);
            let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
            if let Frame::Error(why) = &refusal {
                text.extend_from_slice(why);
            }
            return Frame::error_bytes(text);
        }
        s.multi_error();
        return refusal;
    }
    if s.queues(cmd) {
        return s.queue(cmd, args);
    }
    // The latest reading on this thread (the driver's turn, or the command before this one):
    // reading the clock is dear, and the few hundred nanoseconds since count to this command.
    let started = crate::db::clock::last();
    let reply = run(s, cmd, args).await;
    account(s, cmd, &reply, started);
    reply
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
