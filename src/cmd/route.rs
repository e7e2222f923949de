//! Running a keyed command where its keys live.
//!
//! A command whose keys live on this shard runs inline without yielding; one whose keys live on
//! one other shard runs there; one whose keys span shards goes through the transaction layer
//! (`shard::tx`), split per shard (MGET, MSET...) or run on its keys lent to this shard
//! (RENAME, SINTERSTORE, LMOVE...). After a command runs on its shard, its effects are logged
//! and the keys it changed are touched for WATCH.
//!
//! Inside EXEC, commands run within the transaction that EXEC holds (`Session::tx`): they take
//! no locks of their own, and their hops and logs are that transaction's.

use std::rc::Rc;
use std::time::Instant;

use ahash::AHashMap;
use bytes::Bytes;

use super::flags::{PUBSUB, READONLY};
use super::session::Session;
use super::{Access, Args, Command, Ctx, KeyedFn, Merge, Run};
use crate::cmd::propagate::{propagate_row, records_by_shard, Propagation};
use crate::db::tracking::{self, Caller};
use crate::db::{now_ms, Entry, Keyspace};
use crate::resp::Frame;
use crate::shard::aof::AofState;
use crate::shard::locks::LockKey;
use crate::shard::tx::{Plan, Tx};
use crate::shard::{Node, ShardData};
use crate::slot::key_owner;
use crate::types::blob::Blob;

/// Per-command statistics, the write count save points follow, and what observers see of
/// the command (`shard::introspect`): `args` are its arguments when they were kept for them.
pub fn account(
    s: &mut Session,
    cmd: &'static Command,
    args: Option<&[Bytes]>,
    reply: &Frame,
    started: Instant,
) {
    // The reading that ends this command also starts the next one (see `dispatch::execute`).
    let nanos = crate::db::clock::tick().duration_since(started).as_nanos() as u64;
    account_nanos(s, cmd, args, reply, nanos);
}

/// [`account`] for a command whose duration the caller measured (a share of a batch's).
pub fn account_nanos(
    s: &mut Session,
    cmd: &'static Command,
    args: Option<&[Bytes]>,
    reply: &Frame,
    nanos: u64,
) {
    // As in Redis, a blocking command's time blocked is not its duration.
    let nanos = nanos.saturating_sub(std::mem::take(&mut s.blocked_nanos));
    s.info.last_cmd.set(cmd.name);
    {
        let mut data = s.node.data.borrow_mut();
        let stats = &mut data.stats;
        let tracking = stats.latency_tracking;
        let stat = stats.commands.entry(cmd.name).or_default();
        stat.calls += 1;
        stat.usec += nanos / 1000;
        if tracking {
            stat.latency
                .get_or_insert_with(Default::default)
                .record(nanos);
        }
        if let Frame::Error(text) = reply {
            stat.failed += 1;
            stats.count_error(text);
        } else if cmd.is_write() {
            // Redis counts each change; one per write command is close enough for save points.
            crate::persist::state().add_dirty(s.node.id, 1);
        }
        stats.total_commands += 1;
    }
    crate::cmd::introspect::after_command(s, cmd, args, nanos);
}

/// Counts a command refused before it ran (wrong arity, OOM, NOAUTH...): its
/// `rejected_calls` when it is known, and the error reply.
pub fn account_rejected(s: &Session, cmd: Option<&'static Command>, reply: &Frame) {
    let mut data = s.node.data.borrow_mut();
    if let Some(cmd) = cmd {
        data.stats.commands.entry(cmd.name).or_default().rejected += 1;
    }
    if let Frame::Error(text) = reply {
        data.stats.count_error(text);
    }
}

/// Where a keyed command runs and for whom: its database, and the client it runs for, whose
/// reads client-side caching remembers and whose own writes NOLOOP keeps quiet.
#[derive(Clone, Copy, Debug)]
pub struct At {
    pub db: usize,
    pub caller: Caller,
}

impl At {
    /// For the server's own work: no client.
    pub fn server(db: usize) -> At {
        At {
            db,
            caller: Caller::default(),
        }
    }
}

/// Runs a checked command: a session command with the session, a keyed one where its keys
/// live (within the session's EXEC transaction, if one runs).
pub async fn run(s: &mut Session, cmd: &'static Command, args: Args) -> Frame {
    match cmd.run {
        Run::Session(f) => f(s, args).await,
        Run::Keyed(f) => run_keyed(&s.node, s.tx.clone(), s.at(), cmd, f, None, args).await,
        Run::Spread(f, merge) => {
            run_keyed(&s.node, s.tx.clone(), s.at(), cmd, f, Some(merge), args).await
        }
    }
}

/// Runs a keyed command where its keys live; inside `within` when given (EXEC).
pub async fn run_keyed(
    node: &Rc<Node>,
    within: Option<Rc<Tx>>,
    at: At,
    cmd: &'static Command,
    f: KeyedFn,
    merge: Option<Merge>,
    args: Args,
) -> Frame {
    let db = at.db;
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
        return match (merge, within) {
            (Some(merge), Some(tx)) => spread(&tx, at, cmd, f, merge, &args).await,
            (None, Some(tx)) => {
                let keys = cmd.key_positions(&args).map(|p| args[p].clone()).collect();
                run_gathered(node, Some(tx), at, keys, cmd, f, args, |_| true)
                    .await
                    .unwrap_or_else(|| unreachable!("accepts every gathering"))
            }
            (Some(merge), None) => {
                let node = node.clone();
                Node::detached(async move { spread_alone(&node, at, cmd, f, merge, args).await })
                    .await
            }
            (None, None) => {
                let keys = cmd.key_positions(&args).map(|p| args[p].clone()).collect();
                run_gathered(node, None, at, keys, cmd, f, args, |_| true)
                    .await
                    .unwrap_or_else(|| unreachable!("accepts every gathering"))
            }
        };
    }
    let shard = owner.unwrap_or(node.id);
    if let Some(tx) = within {
        return tx
            .hop(shard, move |data| run_logged(data, cmd, f, at, &args))
            .await;
    }
    if shard == node.id {
        if let Some(reply) = run_idle(node, cmd, f, at, &args) {
            return reply;
        }
    }
    let wait_for = lock_keys(cmd, db, &args);
    node.run_on(shard, wait_for, move |data| {
        run_logged(data, cmd, f, at, &args)
    })
    .await
}

/// Runs `cmd` at once when its keys (if any) all live on this shard and nothing is locked
/// here: the common case, which neither yields nor allocates, and leaves `args` with the
/// caller. None when it must go through [`run`].
pub fn run_inline(s: &Session, cmd: &'static Command, args: &[Bytes]) -> Option<Frame> {
    let f = match cmd.run {
        Run::Keyed(f) | Run::Spread(f, _) if s.tx.is_none() => f,
        _ => return None,
    };
    let here = s.node.id;
    if cmd
        .key_positions(args)
        .any(|p| key_owner(&args[p], s.node.shards) != here)
    {
        return None;
    }
    run_idle(&s.node, cmd, f, s.at(), args)
}

/// Runs a keyed command of this shard's keys unless a lock is held here.
fn run_idle(node: &Rc<Node>, cmd: &Command, f: KeyedFn, at: At, args: &[Bytes]) -> Option<Frame> {
    let mut data = node.data.borrow_mut();
    if !data.locks.is_idle() {
        return None;
    }
    let reply = run_logged(&mut data, cmd, f, at, args);
    node.after_job(&mut data);
    Some(reply)
}

/// Remembers `keys` for a tracking `caller`, each on its shard, within `tx`, which holds
/// them: no change can come between the read that justified it and the remembering.
pub async fn remember_keys(tx: &Tx, caller: Caller, keys: &[Bytes]) {
    let mut by_shard: AHashMap<usize, Vec<Bytes>> = AHashMap::new();
    for k in keys {
        by_shard
            .entry(key_owner(k, tx.shards()))
            .or_default()
            .push(k.clone());
    }
    let hops = by_shard
        .into_iter()
        .map(|(shard, keys)| {
            (shard, move |_: &mut ShardData| {
                tracking::calling(caller, || keys.iter().for_each(|k| tracking::remember(k)))
            })
        })
        .collect();
    tx.hops(hops).await;
}

/// The one shard all of `cmd`'s keys in `args` live on; None when it has no keys or they
/// span shards.
pub fn only_shard(cmd: &Command, args: &[Bytes], shards: usize) -> Option<usize> {
    let mut owner = None;
    for p in cmd.key_positions(args) {
        let o = key_owner(&args[p], shards);
        if owner.is_some_and(|x| x != o) {
            return None;
        }
        owner = Some(o);
    }
    owner
}

/// A keyed command numbered by its place among others (in a pipeline, in EXEC), with its
/// handler and arguments.
pub type Numbered = (usize, &'static Command, KeyedFn, Args);

/// A command that ran on another shard, back with its number, its reply and its arguments
/// (moved back rather than copied beforehand, for the slow log and monitors).
pub type Ran = (usize, &'static Command, Frame, Args);

/// A shard's job that runs `cmds`, all of that shard, in their order, logged as each is:
/// how several commands travel to a shard in one hop. Each reply keeps its number.
pub fn run_in_order(
    at: At,
    cmds: Vec<Numbered>,
) -> impl FnOnce(&mut ShardData) -> Vec<Ran> + Send + 'static {
    let job = run_in_order_until(at, cmds, usize::MAX);
    move |data| job(data).0
}

/// [`run_in_order`], stopping once the replies take `budget` bytes (about): the commands
/// not run come back with the replies. The first command always runs.
fn run_in_order_until(
    at: At,
    cmds: Vec<Numbered>,
    budget: usize,
) -> impl FnOnce(&mut ShardData) -> (Vec<Ran>, Vec<Numbered>) + Send + 'static {
    move |data| {
        let mut spent = 0;
        let mut done = Vec::with_capacity(cmds.len());
        let mut left = Vec::new();
        for (i, cmd, f, args) in cmds {
            if spent >= budget {
                left.push((i, cmd, f, args));
                continue;
            }
            let reply = run_logged(data, cmd, f, at, &args);
            if budget != usize::MAX {
                // Without a budget (EXEC's batches) the replies need not be sized.
                spent += reply.approx_len();
            }
            done.push((i, cmd, reply, args));
        }
        (done, left)
    }
}

/// A read of a pipeline that [`run_reads`] may run out of order: its shard, its command and
/// handler, its arguments.
pub type Read = (usize, &'static Command, KeyedFn, Args);

/// How many bytes of replies one shard's part of a read batch may produce before it stops
/// and leaves the rest for the next round: replies wait in memory as frames until they are
/// written out, and a client's output limit is checked only then.
const READS_BUDGET: usize = 256 * 1024;

/// Runs consecutive single-shard reads of one pipeline with one hop per shard they live on,
/// all hops at once, instead of one hop per read. Reads may run in any order against each
/// other (they change nothing), never against a write: the caller gathers only reads. Each
/// shard runs its reads once none of their keys is locked.
///
/// Reads carry their numbers in the pipeline. Each shard stops once its replies pass
/// [`READS_BUDGET`] and hands back the reads it did not run, for the caller to run after
/// writing out the replies it has: a pipeline of big replies is then not held in memory
/// whole, and its client's output limit is checked as it goes. The first read of each
/// shard always runs.
pub async fn run_reads(
    node: &Rc<Node>,
    at: At,
    reads: Vec<(usize, Read)>,
) -> (Vec<Ran>, Vec<(usize, Read)>) {
    let db = at.db;
    type Group = (usize, Vec<LockKey>, Vec<Numbered>);
    // A pipeline names few shards: a list is cheaper than a map.
    let mut groups: Vec<Group> = Vec::new();
    for (i, (shard, cmd, f, args)) in reads {
        let at = match groups.iter().position(|g| g.0 == shard) {
            Some(at) => at,
            None => {
                groups.push((shard, Vec::new(), Vec::new()));
                groups.len() - 1
            }
        };
        groups[at].1.extend(lock_keys(cmd, db, &args));
        groups[at].2.push((i, cmd, f, args));
    }
    let jobs = groups
        .into_iter()
        .map(|(shard, wait_for, reads)| {
            let job = run_in_order_until(at, reads, READS_BUDGET);
            (shard, wait_for, move |data: &mut ShardData| {
                (shard, job(data))
            })
        })
        .collect();
    let (mut done, mut left) = (Vec::new(), Vec::new());
    for (shard, (ran, not_run)) in node.run_on_each_unlocked(jobs).await {
        done.extend(ran);
        left.extend(
            not_run
                .into_iter()
                .map(|(i, cmd, f, args)| (i, (shard, cmd, f, args))),
        );
    }
    left.sort_unstable_by_key(|r| r.0);
    (done, left)
}

/// Runs `f` on `shard` once none of `wait_for` is locked, or, inside `within` (EXEC, which
/// holds those keys already), as one of its hops.
pub async fn run_where<R, F>(
    node: &Rc<Node>,
    within: Option<&Rc<Tx>>,
    shard: usize,
    wait_for: Vec<LockKey>,
    f: F,
) -> R
where
    R: Send + 'static,
    F: FnOnce(&mut ShardData) -> R + Send + 'static,
{
    match within {
        Some(tx) => tx.hop(shard, f).await,
        None => node.run_on(shard, wait_for, f).await,
    }
}

/// Runs a keyed handler on the shard that owns its keys, logs it to that shard's AOF, and
/// touches the watched keys it changed.
pub fn run_logged(
    data: &mut ShardData,
    cmd: &Command,
    f: KeyedFn,
    at: At,
    args: &[Bytes],
) -> Frame {
    tracking::calling(at.caller, || run_logged_for(data, cmd, f, at.db, args))
}

fn run_logged_for(
    data: &mut ShardData,
    cmd: &Command,
    f: KeyedFn,
    db: usize,
    args: &[Bytes],
) -> Frame {
    let now = now_ms();
    let ShardData { ks, aof, .. } = data;
    // Only when someone watches a key here: which keys a deleting command will find.
    let watched = cmd.is_write() && ks.dbs[db].observed();
    let live = if watched {
        live_removals(ks, cmd, db, args, now)
    } else {
        Vec::new()
    };
    ks.stats.uncounted = !cmd.lookups_count(args);
    let reply = f(&mut Ctx { ks, db, now }, args).unwrap_or_else(Frame::from);
    ks.stats.uncounted = false;
    log_effects(aof, ks, cmd, db, args, &reply, now);
    if watched {
        touch_written(ks, cmd, db, args, &reply, now, &live);
    }
    if tracking::current().remembers && cmd.flags.has(READONLY) && !cmd.flags.has(PUBSUB) {
        // Client-side caching: the keys read for a tracking client (Redis's
        // trackingRememberKeys), in the job that read them.
        for p in cmd.key_positions(args) {
            tracking::remember(&args[p]);
        }
    }
    reply
}

/// Logs what a command did, if the AOF is on: the keys it reaped, and for a write that
/// succeeded, the command in its replayable form (`cmd::propagate`).
pub fn log_effects(
    aof: &mut AofState,
    ks: &mut Keyspace,
    cmd: &Command,
    db: usize,
    args: &[Bytes],
    reply: &Frame,
    now: u64,
) {
    if !aof.on {
        return;
    }
    aof.log_reaped(ks);
    if !cmd.is_write() || reply.is_error() {
        return;
    }
    match propagate_row(cmd, db, args, reply, now) {
        Propagation::AsIs => aof.record_raw(ks, db, args),
        Propagation::Nothing => {}
        Propagation::Rewritten(records) => aof.record_all(ks, db, &records),
        Propagation::Restate(keys) => {
            for (db, key) in keys {
                aof.record_keys(ks, db, &[key]);
            }
        }
    }
}

/// The positions of the keys `cmd` deletes without reading (DEL, UNLINK: key spec RM) that
/// exist right now: only those does the command change.
fn live_removals(ks: &Keyspace, cmd: &Command, db: usize, args: &[Bytes], now: u64) -> Vec<usize> {
    cmd.key_access(args)
        .into_iter()
        .filter(|(p, a)| {
            a.has(Access::RM)
                && ks.dbs[db]
                    .peek(&args[*p])
                    .is_some_and(|e| e.expire_at == 0 || e.expire_at > now)
        })
        .map(|(p, _)| p)
        .collect()
}

/// WATCH: a write that changed something touches the keys it writes (as Redis's
/// `signalModifiedKey`), which makes their watchers' EXEC fail; of the keys it deletes
/// without reading, only those that were there (`live`).
fn touch_written(
    ks: &mut Keyspace,
    cmd: &Command,
    db: usize,
    args: &[Bytes],
    reply: &Frame,
    now: u64,
    live: &[usize],
) {
    if reply.is_error() || propagate_row(cmd, db, args, reply, now) == Propagation::Nothing {
        return;
    }
    for (p, access) in cmd.key_access(args) {
        if access.has(Access::RM) && !live.contains(&p) {
            continue;
        }
        if access.writes() {
            ks.dbs[db].touch(&args[p]);
        }
    }
}

fn lock_keys(cmd: &Command, db: usize, args: &[Bytes]) -> Vec<LockKey> {
    lock_set(usize::MAX, cmd, db, args)
        .into_iter()
        .map(|(_, k)| k)
        .collect()
}

/// The keys a keyed command must hold while it runs, each with its shard (with `shards` of
/// `usize::MAX`, shards are not wanted): its key arguments in database `db`, and for MOVE the
/// same key in the target database too.
pub fn lock_set(shards: usize, cmd: &Command, db: usize, args: &[Bytes]) -> Vec<(usize, LockKey)> {
    let owner = |k: &[u8]| {
        if shards == usize::MAX {
            0
        } else {
            key_owner(k, shards)
        }
    };
    let mut keys: Vec<(usize, LockKey)> = cmd
        .key_positions(args)
        .map(|p| (owner(&args[p]), (db as u32, Blob::new(&args[p]))))
        .collect();
    if cmd.name == "move" && args.len() == 3 {
        if let Ok(Ok(target)) = std::str::from_utf8(&args[2]).map(|t| t.parse::<u32>()) {
            keys.push((owner(&args[1]), (target, Blob::new(&args[1]))));
        }
    }
    keys
}

/// A spread command's parts: per shard, the part's arguments and which of the command's
/// keys (indexes into its key list) it carries.
struct Parts {
    keys: usize,
    parts: Vec<(usize, Args, Vec<usize>)>,
}

/// Splits a spread command per shard. MSET-like commands are checked whole first: a part
/// must never run when another part is malformed (Redis sets nothing for `MSET a 1 b`).
fn split(shards: usize, cmd: &Command, args: &[Bytes]) -> Result<Parts, Frame> {
    let first = cmd.keys.first.max(0) as usize;
    let step = cmd.keys.step.max(1) as usize;
    if step > 1 && !args.len().saturating_sub(first).is_multiple_of(step) {
        return Err(super::wrong_arity(cmd));
    }
    let positions: Vec<usize> = cmd.key_positions(args).collect();
    let mut by_shard: AHashMap<usize, Vec<usize>> = AHashMap::new();
    for (i, &p) in positions.iter().enumerate() {
        by_shard
            .entry(key_owner(&args[p], shards))
            .or_default()
            .push(i);
    }
    let mut parts: Vec<(usize, Args, Vec<usize>)> = by_shard
        .into_iter()
        .map(|(shard, mine)| {
            let mut part = args[..first.min(args.len())].to_vec();
            for &i in &mine {
                let p = positions[i];
                part.extend_from_slice(&args[p..(p + step).min(args.len())]);
            }
            (shard, part, mine)
        })
        .collect();
    parts.sort_by_key(|(shard, _, _)| *shard);
    Ok(Parts {
        keys: positions.len(),
        parts,
    })
}

/// The lock plan of a split command: each part's keys on its shard.
fn spread_plan(db: usize, cmd: &Command, parts: &Parts) -> Plan {
    let mut plan = Plan::new();
    for (shard, part, _) in &parts.parts {
        for p in cmd.key_positions(part) {
            plan.key(*shard, (db as u32, Blob::new(&part[p])));
        }
    }
    plan
}

/// A spread command on its own: locks every part's keys, runs the parts in parallel, and
/// merges the replies. A read-only command sends its parts with the lock requests, so that
/// without contention it takes one round trip.
async fn spread_alone(
    node: &Rc<Node>,
    at: At,
    cmd: &'static Command,
    f: KeyedFn,
    merge: Merge,
    args: Args,
) -> Frame {
    let db = at.db;
    let parts = match split(node.shards, cmd, &args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let plan = spread_plan(db, cmd, &parts);
    if cmd.is_write() {
        let tx = Tx::begin(node, plan).await;
        let replies = run_parts(&tx, at, cmd, f, &parts).await;
        tx.finish().await;
        return merged(merge, parts, replies);
    }
    let mut by_shard: AHashMap<usize, Args> = parts
        .parts
        .iter()
        .map(|(s, a, _)| (*s, a.clone()))
        .collect();
    let (tx, replies) = Tx::begin_with(node, plan, |shard| {
        let part = by_shard.remove(&shard)?;
        Some(move |data: &mut ShardData| run_logged(data, cmd, f, at, &part))
    })
    .await;
    let replies = match replies {
        Some(r) => r,
        None => run_parts(&tx, at, cmd, f, &parts).await,
    };
    tx.finish().await;
    merged(merge, parts, replies)
}

/// A spread command inside a transaction that already holds its keys (EXEC).
async fn spread(
    tx: &Tx,
    at: At,
    cmd: &'static Command,
    f: KeyedFn,
    merge: Merge,
    args: &[Bytes],
) -> Frame {
    let parts = match split(tx.shards(), cmd, args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let replies = run_parts(tx, at, cmd, f, &parts).await;
    merged(merge, parts, replies)
}

async fn run_parts(
    tx: &Tx,
    at: At,
    cmd: &'static Command,
    f: KeyedFn,
    parts: &Parts,
) -> Vec<Frame> {
    let hops = parts
        .parts
        .iter()
        .map(|(shard, part, _)| {
            let part = part.clone();
            (*shard, move |data: &mut ShardData| {
                run_logged(data, cmd, f, at, &part)
            })
        })
        .collect();
    tx.hops(hops).await
}

/// Combines the parts' replies (in shard order, as `parts` lists them).
fn merged(merge: Merge, parts: Parts, replies: Vec<Frame>) -> Frame {
    if let Some(err) = replies.iter().find(|r| r.is_error()) {
        return err.clone();
    }
    match merge {
        Merge::Ok => Frame::ok(),
        Merge::Sum => Frame::Integer(
            replies
                .iter()
                .map(|p| if let Frame::Integer(n) = p { *n } else { 0 })
                .sum(),
        ),
        Merge::PerKey => {
            let mut out = vec![Frame::Null; parts.keys];
            for (reply, (_, _, idxs)) in replies.into_iter().zip(parts.parts) {
                if let Frame::Array(items) = reply {
                    for (item, i) in items.into_iter().zip(idxs) {
                        out[i] = item;
                    }
                }
            }
            Frame::Array(out)
        }
    }
}

/// One key a gathered command names: its shard, and everything the command does to it.
struct Named {
    shard: usize,
    key: Blob,
    access: Access,
}

/// The keys of a command, once each, with what it does to them. Keys the specs do not
/// describe (SORT's BY and GET keys) are only read.
fn named_keys(shards: usize, cmd: &Command, keys: &[Bytes], args: &[Bytes]) -> Vec<Named> {
    let mut access: AHashMap<&[u8], Access> = AHashMap::new();
    for (p, a) in cmd.key_access(args) {
        let e = access.entry(&args[p][..]).or_default();
        *e = e.with(a);
    }
    let mut seen = ahash::AHashSet::new();
    keys.iter()
        .filter(|k| seen.insert(&k[..]))
        .map(|k| Named {
            shard: key_owner(k, shards),
            key: Blob::new(k),
            access: access.get(&k[..]).copied().unwrap_or(Access::RO),
        })
        .collect()
}

/// Runs keyed handler `f` over `keys` (any keys, from any shards): the keys are locked and
/// lent to this shard, `f` runs on them, and each goes back to its shard with what the command
/// made of it. `accept` first checks the lent keys; if it refuses (SORT finds its source now
/// names keys it did not gather), they go back untouched and `None` tells the caller to try
/// again with the right keys.
///
/// On its own, the command is a transaction of its own, run in a detached task, and the keys
/// go back with the transaction's release, without waiting. Inside `within` (EXEC, which
/// holds the keys already), they go back before the next command runs.
#[allow(clippy::too_many_arguments)]
pub async fn run_gathered(
    node: &Rc<Node>,
    within: Option<Rc<Tx>>,
    at: At,
    keys: Vec<Bytes>,
    cmd: &'static Command,
    f: KeyedFn,
    args: Args,
    accept: impl FnOnce(&mut Keyspace) -> bool + 'static,
) -> Option<Frame> {
    let db = at.db;
    let named = named_keys(node.shards, cmd, &keys, &args);
    if let Some(tx) = within {
        let (reply, jobs) = gather(&tx, at, &named, cmd, f, &args, accept).await;
        tx.hops(jobs).await;
        return reply;
    }
    let mut plan = Plan::new();
    for n in &named {
        plan.key(n.shard, (db as u32, n.key.clone()));
    }
    let node = node.clone();
    Node::detached(async move {
        let tx = Tx::begin(&node, plan).await;
        let (reply, jobs) = gather(&tx, at, &named, cmd, f, &args, accept).await;
        tx.finish_with(jobs).await;
        reply
    })
    .await
}

/// Lends the keys, runs the command, and returns its reply (`None` if `accept` refused) with
/// the jobs that give the keys back.
async fn gather(
    tx: &Tx,
    at: At,
    named: &[Named],
    cmd: &'static Command,
    f: KeyedFn,
    args: &[Bytes],
    accept: impl FnOnce(&mut Keyspace) -> bool,
) -> (Option<Frame>, Vec<(usize, ReturnJob)>) {
    let db = at.db;
    let mut scratch = tx.lend(db, &lent_list(named)).await;
    if !accept(&mut scratch) {
        let outcome = expired(tx.shards(), db, &mut scratch);
        let jobs = give_back(tx, db, named, &mut scratch, outcome, None);
        return (None, jobs);
    }
    let (reply, outcome) = run_lent(tx.node(), db, cmd, f, args, &mut scratch);
    // The keys a tracking client read are remembered on their shards before they are
    // released: no write can come between.
    let reader = (cmd.flags.has(READONLY) && !cmd.flags.has(PUBSUB) && at.caller.remembers)
        .then_some(at.caller);
    let jobs = give_back(tx, db, named, &mut scratch, outcome, reader);
    (Some(reply), jobs)
}

fn lent_list(named: &[Named]) -> Vec<(usize, Blob)> {
    named.iter().map(|n| (n.shard, n.key.clone())).collect()
}

/// What running a command on lent keys produced besides its reply: the records each shard
/// must log, and per key whether it expired meanwhile and whether the command changed it.
struct Outcome {
    records: Vec<(usize, usize, Vec<Bytes>)>,
    expired: ahash::AHashSet<Blob>,
    changed: bool,
}

/// Runs `f` on the lent keys and works out what each shard must log.
fn run_lent(
    node: &Rc<Node>,
    db: usize,
    cmd: &'static Command,
    f: KeyedFn,
    args: &[Bytes],
    scratch: &mut Keyspace,
) -> (Frame, Outcome) {
    let now = now_ms();
    scratch.stats.lfu = node.data.borrow().ks.stats.lfu;
    scratch.stats.uncounted = !cmd.lookups_count(args);
    let reply = f(
        &mut Ctx {
            ks: scratch,
            db,
            now,
        },
        args,
    )
    .unwrap_or_else(Frame::from);
    node.data.borrow_mut().ks.stats.add_counts(&scratch.stats);
    let shards = node.shards;
    let mut outcome = expired(shards, db, scratch);
    if cmd.is_write() && !reply.is_error() {
        let own = records_by_shard(
            cmd.name,
            db,
            args,
            &reply,
            now,
            |k| key_owner(k, shards),
            |d, k| scratch.dbs[d].peek(k).cloned(),
        );
        outcome.changed = !own.is_empty();
        outcome.records.extend(own);
    }
    (reply, outcome)
}

/// The lent keys found past their time in the scratch keyspace and deleted there (`Tx::lend`
/// has it remember them): their shards log the deletions, first, and tell their watchers.
fn expired(shards: usize, db: usize, scratch: &mut Keyspace) -> Outcome {
    let expired: ahash::AHashSet<Blob> = scratch.dbs[db].take_reaped().into_iter().collect();
    let records = expired
        .iter()
        .map(|k| {
            let del = vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(k)];
            (key_owner(k, shards), db, del)
        })
        .collect();
    Outcome {
        records,
        expired,
        changed: false,
    }
}

/// What a key's shard does when the transaction gives it back.
struct Return {
    key: Blob,
    /// Its new state (`None`: deleted).
    entry: Option<Entry>,
    /// It expired while lent: deleted, and its watchers told, before the command's change.
    expired: bool,
    /// The command changed it: its watchers are told.
    touch: bool,
}

/// A job giving lent keys back to one shard.
type ReturnJob = Box<dyn FnOnce(&mut ShardData) + Send>;

/// The jobs that give every lent key back to its shard, with what the command did to it.
fn give_back(
    tx: &Tx,
    db: usize,
    named: &[Named],
    scratch: &mut Keyspace,
    outcome: Outcome,
    reader: Option<Caller>,
) -> Vec<(usize, ReturnJob)> {
    let Outcome {
        records,
        expired,
        changed,
    } = outcome;
    let mut per_shard: AHashMap<usize, (Vec<Return>, Vec<(usize, Vec<Bytes>)>)> = AHashMap::new();
    for n in named {
        per_shard.entry(n.shard).or_default().0.push(Return {
            entry: scratch.dbs[db].remove(&n.key),
            expired: expired.contains(&n.key),
            touch: changed && n.access.writes(),
            key: n.key.clone(),
        });
    }
    for (shard, rdb, rec) in records {
        tx.will_log(shard);
        per_shard.entry(shard).or_default().1.push((rdb, rec));
    }
    let mut jobs: Vec<_> = per_shard
        .into_iter()
        .map(|(shard, (keys, records))| {
            let job: ReturnJob = Box::new(move |data: &mut ShardData| {
                let d = &mut data.ks.dbs[db];
                for r in keys {
                    if r.expired {
                        d.settle_loan(&r.key, None);
                        d.touch(&r.key);
                    }
                    d.settle_loan(&r.key, r.entry);
                    if r.touch {
                        d.touch(&r.key);
                    }
                    if let Some(reader) = reader {
                        tracking::calling(reader, || tracking::remember(&r.key));
                    }
                }
                for (rdb, rec) in records {
                    data.aof.record_raw(&mut data.ks, rdb, &rec);
                }
            });
            (shard, job)
        })
        .collect();
    jobs.sort_by_key(|(s, _)| *s);
    jobs
}
