//! From a parsed request to a reply: look the command up, check it, route it, run it.
//!
//! This is the middle of a command's journey (read → parse → **dispatch** → run → reply). The
//! command table row decides everything checked here: existence, arity, authentication, where
//! the keys live. A command whose keys live on this shard runs inline without yielding; one whose
//! keys live on one other shard runs there; one whose keys span shards goes through the
//! transaction layer (spread or gather, see `shard::tx`).

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;

use crate::cmd::{self, Args, Command, Ctx, KeyedFn, Merge, Run, Table};
use crate::db::now_ms;
use crate::net::session::Session;
use crate::resp::Frame;
use crate::shard::locks::LockKey;
use crate::shard::tx::Tx;
use crate::shard::{Node, ShardData};
use crate::slot::key_owner;
use crate::types::blob::Blob;

/// Commands a client may send before authenticating.
const NO_AUTH: &[&str] = &["auth", "hello", "quit", "reset"];

pub async fn execute(s: &mut Session, args: Args) -> Frame {
    let table = Table::get();
    let Some(mut cmd) = table.lookup(&args[0]) else {
        return cmd::unknown_command(&args);
    };
    if !cmd.subcommands.is_empty() && args.len() >= 2 {
        if !cmd.arity_ok(args.len()) {
            return cmd::wrong_arity(cmd);
        }
        match cmd::subcommand(cmd, &args[1]) {
            Some(sub) => cmd = sub,
            None => return cmd::unknown_subcommand(&args),
        }
    }
    if !cmd.arity_ok(args.len()) {
        return cmd::wrong_arity(cmd);
    }
    if !s.authenticated && !NO_AUTH.contains(&cmd.name) {
        return Frame::error("NOAUTH Authentication required.");
    }
    if s.node
        .global
        .pause_until_ms
        .load(std::sync::atomic::Ordering::Relaxed)
        != 0
    {
        crate::cmd::connection::wait_while_paused(s, cmd.is_write()).await;
    }
    // As Redis: while the disk refuses what it is given (a failed background save with save
    // points set and stop-writes-on-bgsave-error on, or an AOF write error), writes (and
    // PING) are refused rather than risked.
    if cmd.is_write() || cmd.name == "ping" {
        if let Some(refusal) = s.node.global.persist.writes_refused() {
            return Frame::error(refusal);
        }
    }
    if cmd.flags.has(cmd::flags::DENYOOM) {
        if let Err(oom) = s.node.make_room().await {
            return oom;
        }
    }
    let started = Instant::now();
    let reply = run(s, cmd, args).await;
    s.info.last_cmd.set(cmd.name);
    let mut data = s.node.data.borrow_mut();
    let stat = data.stats.commands.entry(cmd.name).or_default();
    stat.calls += 1;
    stat.usec += started.elapsed().as_micros() as u64;
    if reply.is_error() {
        stat.failed += 1;
    } else if cmd.is_write() {
        // Redis counts each change; one per write command is close enough for save points.
        s.node.global.persist.add_dirty(s.node.id, 1);
    }
    data.stats.total_commands += 1;
    reply
}

async fn run(s: &mut Session, cmd: &'static Command, args: Args) -> Frame {
    match cmd.run {
        Run::Session(f) => f(s, args).await,
        Run::Keyed(f) => run_keyed(&s.node, s.db, cmd, f, None, args).await,
        Run::Spread(f, merge) => run_keyed(&s.node, s.db, cmd, f, Some(merge), args).await,
    }
}

/// Runs a keyed command where its keys live.
pub async fn run_keyed(
    node: &Rc<Node>,
    db: usize,
    cmd: &'static Command,
    f: KeyedFn,
    merge: Option<Merge>,
    args: Args,
) -> Frame {
    let mut owner = None;
    let mut spans = false;
    for p in cmd.key_positions(&args) {
        let o = key_owner(&args[p], node.shards);
        match owner {
            None => owner = Some(o),
            Some(x) if x != o => spans = true,
            _ => {}
        }
    }
    if spans {
        return match merge {
            Some(merge) => spread(node, db, cmd, f, merge, args).await,
            None => gather(node, db, cmd, f, args).await,
        };
    }
    let shard = owner.unwrap_or(node.id);
    if shard == node.id {
        // The common case: local keys, nothing locked. Runs without yielding or allocating.
        let mut data = node.data.borrow_mut();
        if data.locks.is_idle() {
            let reply = run_logged(&mut data, cmd, f, db, &args);
            node.serve_blocked(&mut data);
            return reply;
        }
    }
    let wait_for = lock_keys(cmd, db, &args);
    node.run_on(shard, wait_for, move |data| {
        run_logged(data, cmd, f, db, &args)
    })
    .await
}

/// Runs a keyed handler on the shard that owns its keys, and logs it to that shard's AOF.
fn run_logged(data: &mut ShardData, cmd: &Command, f: KeyedFn, db: usize, args: &[Bytes]) -> Frame {
    let now = now_ms();
    let ShardData { ks, aof, .. } = data;
    let reply = f(&mut Ctx { ks, db, now }, args).unwrap_or_else(Frame::from);
    aof.record(ks, cmd, db, args, &reply, now);
    reply
}

fn lock_keys(cmd: &Command, db: usize, args: &[Bytes]) -> Vec<LockKey> {
    cmd.key_positions(args)
        .map(|p| (db as u32, Blob::new(&args[p])))
        .collect()
}

fn keys_with_owners(node: &Node, cmd: &Command, args: &[Bytes]) -> Vec<(usize, Blob)> {
    cmd.key_positions(args)
        .map(|p| (key_owner(&args[p], node.shards), Blob::new(&args[p])))
        .collect()
}

/// Splits the command per shard, runs each part under the transaction's locks, merges replies.
async fn spread(
    node: &Rc<Node>,
    db: usize,
    cmd: &'static Command,
    f: KeyedFn,
    merge: Merge,
    args: Args,
) -> Frame {
    let owners = keys_with_owners(node, cmd, &args);
    let tx = Tx::begin(
        node,
        owners.iter().map(|(s, k)| (*s, (db as u32, k.clone()))),
    )
    .await;
    let positions: Vec<usize> = cmd.key_positions(&args).collect();
    let mut parts: Vec<Frame> = Vec::new();
    let mut order: Vec<Vec<usize>> = Vec::new();
    for &shard in tx.shards() {
        let sub: Args = cmd.spread_part(&args, &positions, |i| owners[i].0 == shard);
        let mine: Vec<usize> = (0..positions.len())
            .filter(|&i| owners[i].0 == shard)
            .collect();
        let (id, nparts, write) = (tx.id(), tx.shards().len(), cmd.is_write());
        let reply = tx
            .hop(shard, move |data| {
                if write {
                    data.aof.tx_begin(id, nparts);
                }
                let reply = run_logged(data, cmd, f, db, &sub);
                if write {
                    data.aof.tx_end(id);
                }
                reply
            })
            .await;
        if reply.is_error() {
            return reply;
        }
        parts.push(reply);
        order.push(mine);
    }
    settle_before_unlock(node).await;
    drop(tx);
    match merge {
        Merge::Ok => Frame::ok(),
        Merge::Sum => Frame::Integer(
            parts
                .iter()
                .map(|p| if let Frame::Integer(n) = p { *n } else { 0 })
                .sum(),
        ),
        Merge::PerKey => {
            let mut out = vec![Frame::Null; positions.len()];
            for (part, idxs) in parts.into_iter().zip(order) {
                if let Frame::Array(items) = part {
                    for (item, i) in items.into_iter().zip(idxs) {
                        out[i] = item;
                    }
                }
            }
            Frame::Array(out)
        }
    }
}

/// Moves the keys onto this shard under locks, runs the ordinary handler, moves them back.
async fn gather(
    node: &Rc<Node>,
    db: usize,
    cmd: &'static Command,
    f: KeyedFn,
    args: Args,
) -> Frame {
    let keys: Vec<Bytes> = cmd.key_positions(&args).map(|p| args[p].clone()).collect();
    run_with_keys(node, db, &keys, f, args, cmd.is_write(), |_| true)
        .await
        .unwrap_or_else(|| unreachable!("accepts every gathering"))
}

/// Runs `f` on a scratch keyspace holding copies of `keys` (any keys, from any shards), with
/// all of them locked, then writes them back if the command writes. `accept` first checks the
/// gathered copies; if it refuses (SORT finds its source now names keys it did not gather),
/// nothing runs and `None` tells the caller to try again with the right keys.
pub async fn run_with_keys(
    node: &Rc<Node>,
    db: usize,
    keys: &[Bytes],
    f: KeyedFn,
    args: Args,
    write: bool,
    accept: impl FnOnce(&mut crate::db::Keyspace) -> bool,
) -> Option<Frame> {
    let mut owners: Vec<(usize, Blob)> = keys
        .iter()
        .map(|k| (key_owner(k, node.shards), Blob::new(k)))
        .collect();
    owners.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
    owners.dedup_by(|a, b| a.1 == b.1);
    let tx = Tx::begin(
        node,
        owners.iter().map(|(s, k)| (*s, (db as u32, k.clone()))),
    )
    .await;
    // Copy rather than move the entries out: commands that take no key locks (SCAN, RANDOMKEY,
    // INFO) must keep seeing every key that exists before and after, not a hole while it is
    // away. The scatter overwrites them with the results.
    let mut scratch = tx.gather(db, &owners).await;
    if !accept(&mut scratch) {
        return None;
    }
    let reply = {
        let mut ctx = Ctx {
            ks: &mut scratch,
            db,
            now: now_ms(),
        };
        f(&mut ctx, &args).unwrap_or_else(Frame::from)
    };
    if write {
        tx.scatter(db, &owners, &mut scratch).await;
        settle_before_unlock(node).await;
    }
    Some(reply)
}

/// Under `appendfsync always`, a multi-shard write keeps its keys locked until every part is
/// on disk: a later command on those keys, acknowledged once its own shard synced, must never
/// build on a part that a crash could still take away.
async fn settle_before_unlock(node: &Rc<Node>) {
    if node.global.persist.aof_always() {
        crate::persist::aof::settle(node).await;
    }
}
