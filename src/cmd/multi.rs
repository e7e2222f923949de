//! MULTI, EXEC, DISCARD, WATCH and UNWATCH: Redis transactions, atomic across shards.
//!
//! MULTI makes the session queue commands instead of running them (`Session::queue`); a
//! command that cannot be queued (unknown, wrong arity, refused) marks the transaction failed
//! and EXEC then aborts it, as Redis does.
//!
//! EXEC locks, in one transaction of the layer (`shard::tx`), every key the queued commands
//! name — or every shard whole when a command works on whole databases (FLUSHALL, KEYS,
//! DBSIZE...) or on keys known only as it runs (SORT ... BY/GET) — plus the watched keys. With
//! the locks held it checks the watches and runs the commands one after the other, each where
//! its keys live, through the transaction (`Session::tx`); nothing else can see or change
//! those keys until the last one has run, whatever shards they live on. The whole EXEC runs in
//! a task of its own, so a client that leaves meanwhile cannot cut it short.
//!
//! WATCH registers the client on each key's shard (`Db::watch`); every change to the key marks
//! the client's [`Watcher`] dirty, from whichever shard, and EXEC fails with a null reply if it
//! is. A watched key whose time passed since WATCH fails EXEC too, even if nothing deleted it
//! yet (Redis 7.0's rule).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::flags::*;
use super::keyspace::db_index;
use super::{boxed, Args, Command, KeyedFn, Run, SessionFuture};
use crate::cmd::route::{account, lock_set, run_in_order, Numbered};
use crate::cmd::session::{Multi, Session, Watch};
use crate::db::{now_ms, Watcher};
use crate::resp::Frame;
use crate::shard::tx::{Plan, Tx};
use crate::shard::{Node, ShardData};
use crate::slot::key_owner;
use crate::types::blob::Blob;

pub static COMMANDS: &[Command] = &[
    Command::new("multi", 1, Run::Session(multi))
        .flags(&[NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY])
        .acl(&["@fast", "@transaction"]),
    Command::new("exec", 1, Run::Session(exec))
        .flags(&[NOSCRIPT, LOADING, STALE, SKIP_SLOWLOG])
        .acl(&["@slow", "@transaction"]),
    Command::new("discard", 1, Run::Session(discard))
        .flags(&[NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY])
        .acl(&["@fast", "@transaction"]),
    Command::new("watch", -2, Run::Session(watch))
        .flags(&[NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY])
        .acl(&["@fast", "@transaction"])
        .keys(super::keys(1, -1, 1)),
    Command::new("unwatch", 1, Run::Session(unwatch))
        .flags(&[NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY])
        .acl(&["@fast", "@transaction"]),
];

fn multi(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if s.in_multi() {
            return Frame::error("ERR MULTI calls can not be nested");
        }
        s.multi = Some(Multi::default());
        s.info.multi.set(0);
        Frame::ok()
    })
}

fn discard(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if !s.in_multi() {
            return Frame::error("ERR DISCARD without MULTI");
        }
        end_multi(s);
        Frame::ok()
    })
}

/// Leaves MULTI and forgets the watched keys, as Redis's `discardTransaction`.
pub fn end_multi(s: &mut Session) {
    s.multi = None;
    s.info.multi.set(-1);
    s.unwatch_all();
}

fn watch(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if s.in_multi() {
            return Frame::error("ERR WATCH inside MULTI is not allowed");
        }
        let w = s.watch.get_or_insert_with(|| Watch {
            watcher: Arc::new(Watcher::default()),
            keys: Vec::new(),
        });
        // No point in watching more once a watched key has changed.
        if w.watcher.dirty.load(Ordering::Acquire) {
            return Frame::ok();
        }
        let db = s.db;
        let mut fresh = Vec::new();
        for key in &args[1..] {
            if !w.keys.iter().any(|(d, k)| *d == db && k == key) {
                w.keys.push((db, key.clone()));
                fresh.push(key.clone());
            }
        }
        let watcher = w.watcher.clone();
        // Each key is registered on its shard once no transaction holds it, so that whether
        // it had already expired is judged between transactions, never in the middle of one.
        for key in fresh {
            let shard = key_owner(&key, s.node.shards);
            let watcher = watcher.clone();
            let lock = vec![(db as u32, Blob::new(&key))];
            s.node
                .run_on(shard, lock, move |data| {
                    data.ks.dbs[db].watch(&key, watcher, now_ms())
                })
                .await;
        }
        Frame::ok()
    })
}

fn unwatch(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        s.unwatch_all();
        Frame::ok()
    })
}

/// Where a queued command sits relative to the transaction's locks.
enum Part {
    /// Runs inside the transaction.
    Inside,
    /// Needs a snapshot of the whole server (BGSAVE, BGREWRITEAOF, CONFIG SET appendonly):
    /// runs right after the transaction releases its locks, so the snapshot holds all of it.
    After,
}

fn exec(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let Some(queued) = s.multi.take() else {
            return Frame::error("ERR EXEC without MULTI");
        };
        s.info.multi.set(-1);
        let watch = s.watch.take();
        if queued.failed {
            drop_watch(s, watch);
            return Frame::error("EXECABORT Transaction discarded because of previous errors.");
        }
        if watch
            .as_ref()
            .is_some_and(|w| w.watcher.dirty.load(Ordering::Acquire))
        {
            drop_watch(s, watch);
            return Frame::NullArray;
        }
        let (plan, parts) = plan(s, &queued.commands, watch.as_ref());
        // The session goes with the transaction's own task and comes back with the reply.
        let mut owned = std::mem::replace(s, s.stand_in());
        let (owned, reply) = Node::detached(async move {
            let reply = run_transaction(&mut owned, plan, queued.commands, parts, watch).await;
            (owned, reply)
        })
        .await;
        *s = owned;
        reply
    })
}

/// Forgets a watch that EXEC consumed.
fn drop_watch(s: &mut Session, watch: Option<Watch>) {
    s.watch = watch;
    s.unwatch_all();
}

/// What EXEC must lock: every queued command's keys in the database it will run in (SELECT
/// inside the transaction moves later commands), every shard whole for commands over whole
/// databases or keys found only while running, and the watched keys.
fn plan(
    s: &Session,
    commands: &[(&'static Command, Args)],
    watch: Option<&Watch>,
) -> (Plan, Vec<Part>) {
    let shards = s.node.shards;
    let mut plan = Plan::new();
    let mut everything = false;
    let mut parts = Vec::with_capacity(commands.len());
    let mut db = s.db;
    for (cmd, args) in commands {
        let mut part = Part::Inside;
        match claim(cmd, args) {
            Claim::Nothing => {}
            Claim::Select => {
                if let Ok(d) = db_index(&args[1], s.node.global.databases) {
                    db = d;
                }
            }
            Claim::Keys => {
                for (shard, key) in lock_set(shards, cmd, db, args) {
                    plan.key(shard, key);
                }
            }
            Claim::Everything => everything = true,
            Claim::After => part = Part::After,
        }
        parts.push(part);
    }
    if let Some(w) = watch {
        for (wdb, key) in &w.keys {
            plan.key(key_owner(key, shards), (*wdb as u32, Blob::new(key)));
        }
    }
    if everything {
        plan = Plan::everything(shards);
    }
    (plan, parts)
}

/// What a queued command needs held while it runs.
enum Claim {
    /// Touches no keys (PING, CLIENT, INFO...).
    Nothing,
    /// SELECT: later commands run in another database.
    Select,
    /// Its keys, as `lock_set` finds them.
    Keys,
    /// Every shard whole.
    Everything,
    /// Runs after the transaction (see [`Part::After`]).
    After,
}

fn claim(cmd: &Command, args: &[Bytes]) -> Claim {
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    match cmd.run {
        Run::Keyed(_) | Run::Spread(..) => return Claim::Keys,
        Run::Session(_) => {}
    }
    match cmd.name {
        "select" => Claim::Select,
        // Keyed commands that need the session (blocking ones run as their non-blocking
        // forms inside EXEC).
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin" | "bzpopmax"
        | "bzmpop" => Claim::Keys,
        // COPY ... DB names a key of another database; SORT's BY and GET patterns name keys
        // known only from the source's elements.
        "copy" if !args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"db")) => Claim::Keys,
        "sort" | "sort_ro"
            if !args
                .iter()
                .skip(2)
                .any(|a| a.eq_ignore_ascii_case(b"by") || a.eq_ignore_ascii_case(b"get")) =>
        {
            Claim::Keys
        }
        "bgsave" | "bgrewriteaof" => Claim::After,
        "config|set"
            if args
                .iter()
                .skip(2)
                .step_by(2)
                .any(|a| a.eq_ignore_ascii_case(b"appendonly")) =>
        {
            Claim::After
        }
        "ping"
        | "echo"
        | "time"
        | "info"
        | "lastsave"
        | "cluster|keyslot"
        | "config|get"
        | "config|set"
        | "config|resetstat"
        | "command"
        | "command|count"
        | "command|info"
        | "command|docs"
        | "command|getkeys"
        | "command|getkeysandflags"
        | "command|list"
        | "command|help"
        | "hello"
        | "auth" => Claim::Nothing,
        name if name.starts_with("client|") || is(0, "client") => Claim::Nothing,
        // Anything else over the data (FLUSHALL, SWAPDB, KEYS, DBSIZE, SCAN, RANDOMKEY,
        // DEBUG...) sees or changes whole databases.
        _ => Claim::Everything,
    }
}

/// Locks, checks the watches, runs every queued command in order, then lets go.
async fn run_transaction(
    s: &mut Session,
    plan: Plan,
    commands: Vec<(&'static Command, Args)>,
    parts: Vec<Part>,
    watch: Option<Watch>,
) -> Frame {
    let node = s.node.clone();
    let tx = std::rc::Rc::new(Tx::begin(&node, plan).await);
    if let Some(w) = &watch {
        if watches_broken(&tx, w).await {
            finish(tx).await;
            drop_watch(s, watch);
            return Frame::NullArray;
        }
    }
    drop_watch(s, watch);
    let mut replies: Vec<Option<Frame>> = Vec::with_capacity(commands.len());
    let mut later = Vec::new();
    let mut batch = Batch::default();
    s.tx = Some(tx.clone());
    for (i, ((cmd, args), part)) in commands.into_iter().zip(parts).enumerate() {
        replies.push(None);
        match (part, one_shard(s, cmd, &args)) {
            (Part::Inside, Some((shard, f))) => batch.push(shard, i, cmd, f, args),
            (Part::Inside, None) => {
                batch.run(s, &tx, &mut replies).await;
                replies[i] = Some(run_one(s, cmd, args).await);
            }
            (Part::After, _) => later.push((i, cmd, args)),
        }
    }
    batch.run(s, &tx, &mut replies).await;
    s.tx = None;
    finish(tx).await;
    for (i, cmd, args) in later {
        replies[i] = Some(run_one(s, cmd, args).await);
    }
    Frame::Array(
        replies
            .into_iter()
            .map(|r| r.unwrap_or(Frame::Null))
            .collect(),
    )
}

/// The shard a queued command runs on alone, and its handler: a keyed command whose keys all
/// live on one shard. Such commands, one after the other, run together: one hop per shard,
/// in parallel, each shard's in their order. Nothing else can see the keys meanwhile, and
/// commands on different shards touch different keys, so no client can tell this from
/// running them one by one.
fn one_shard(s: &Session, cmd: &Command, args: &[Bytes]) -> Option<(usize, KeyedFn)> {
    let f = match cmd.run {
        Run::Keyed(f) | Run::Spread(f, _) => f,
        Run::Session(_) => return None,
    };
    crate::cmd::route::only_shard(cmd, args, s.node.shards).map(|shard| (shard, f))
}

/// Consecutive one-shard commands waiting to run together (see [`one_shard`]).
#[derive(Default)]
struct Batch {
    per_shard: BTreeMap<usize, Vec<Numbered>>,
}

impl Batch {
    fn push(&mut self, shard: usize, i: usize, cmd: &'static Command, f: KeyedFn, args: Args) {
        self.per_shard
            .entry(shard)
            .or_default()
            .push((i, cmd, f, args));
    }

    /// Runs what is waiting, one hop per shard, and files the replies by position.
    async fn run(&mut self, s: &mut Session, tx: &Tx, replies: &mut [Option<Frame>]) {
        if self.per_shard.is_empty() {
            return;
        }
        let started = crate::db::clock::last();
        let at = s.at();
        let hops = std::mem::take(&mut self.per_shard)
            .into_iter()
            .map(|(shard, cmds)| (shard, run_in_order(at, cmds)))
            .collect();
        let mut ran: Vec<_> = tx.hops(hops).await.into_iter().flatten().collect();
        // Counted in the transaction's order, as monitors show them.
        ran.sort_unstable_by_key(|r| r.0);
        for (i, cmd, reply, args) in ran {
            account(s, cmd, Some(&args), &reply, started);
            replies[i] = Some(reply);
        }
    }
}

async fn run_one(s: &mut Session, cmd: &'static Command, args: Args) -> Frame {
    let started = crate::db::clock::last();
    let kept = crate::shard::introspect::keeps_args(&s.node).then(|| args.clone());
    let reply = crate::cmd::route::run(s, cmd, args).await;
    account(s, cmd, kept.as_deref(), &reply, started);
    reply
}

async fn finish(tx: std::rc::Rc<Tx>) {
    match std::rc::Rc::try_unwrap(tx) {
        Ok(tx) => tx.finish().await,
        // Nothing keeps another handle past the commands; dropping still commits and releases.
        Err(rc) => drop(rc),
    }
}

/// With the watched keys locked: has any changed, or passed its time since WATCH?
async fn watches_broken(tx: &Tx, w: &Watch) -> bool {
    if w.watcher.dirty.load(Ordering::Acquire) {
        return true;
    }
    let shards = tx.shards();
    let mut per_shard: std::collections::BTreeMap<usize, Vec<(usize, Bytes)>> = Default::default();
    for (db, key) in &w.keys {
        per_shard
            .entry(key_owner(key, shards))
            .or_default()
            .push((*db, key.clone()));
    }
    let hops = per_shard
        .into_iter()
        .map(|(shard, keys)| {
            let watcher = w.watcher.clone();
            (shard, move |data: &mut ShardData| {
                let now = now_ms();
                keys.iter()
                    .any(|(db, k)| data.ks.dbs[*db].watched_key_expired(k, &watcher, now))
            })
        })
        .collect();
    tx.hops(hops).await.into_iter().any(|expired| expired)
        || w.watcher.dirty.load(Ordering::Acquire)
}
