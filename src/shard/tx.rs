//! Transactions across shards: the one layer every multi-shard operation goes through.
//!
//! A [`Tx`] holds locks on keys (or whole shards) of several shards at once, runs *hops* —
//! closures executed on one shard's thread with the locks held — and, when it finishes, appends
//! what it logged on each shard as one bracketed part of the AOF and releases its locks. From
//! the moment its locks are granted until they are released, no other client can see or change
//! those keys, so a multi-shard command is exactly as atomic as in single-threaded Redis.
//!
//! # Taking the locks
//!
//! A transaction first asks every shard it needs at the same time, each without waiting: a
//! shard grants the request only if none of its keys is held or awaited by anyone. In the
//! common case (no conflict) every shard grants at once, in one round trip whatever the number
//! of shards. If any shard refuses, the transaction releases what it got and asks again shard
//! by shard in ascending order, this time waiting in each shard's queue. Deadlock freedom:
//! an attempt that does not wait holds nothing while waiting, and waiting attempts acquire
//! shards in the same global order, so no cycle of waiters can form. Fairness: a shard refuses
//! a non-waiting request that would overtake a queued one, and queues are FIFO per key.
//!
//! A read-only transaction with one hop per shard (MGET, EXISTS) sends its hop with the lock
//! request ([`Tx::begin_with`]): when every shard grants at once, the values read are the ones
//! held by the locks at the instant all are held, which is a consistent snapshot — one round
//! trip in all.
//!
//! # Cancellation
//!
//! Callers run transactions inside [`Node::detached`] tasks, so a client that leaves or is
//! killed only stops waiting for the reply: the transaction still finishes. And if a `Tx` is
//! dropped anyway, its `Drop` commits what it logged and releases every lock it asked for —
//! granted or still in flight — since requests between two shards are delivered in order and a
//! release cancels a waiting request as well as a granted one.
//!
//! # Logging
//!
//! What a hop logs on a shard goes to a buffer of the transaction's own on that shard
//! (`AofState::enter_tx`), not into the log, because other commands keep running on that shard
//! between the hops. At the end each shard that logged appends its buffer between
//! `TESSERA.TX BEGIN <id> <parts>` and `END <id>`; loading applies a part only when all
//! `parts` parts are in the files, so a crash leaves a transaction all or nothing. Under
//! `appendfsync always` the locks are released only once every part is durable: a later
//! command acknowledged after reading what the transaction wrote must never survive a crash
//! that the transaction does not.
//!
//! # Global order
//!
//! Conflicting transactions hold their locks during overlapping intervals never, so each key's
//! history is a sequence, and the order in which transactions take `Persist::next_tx_id` is
//! consistent with it for every key they share (a transaction takes its id before asking for
//! locks, and keeps them until after its last hop). See docs/architecture.md for how
//! replication will read one global order off this.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::locks::{Claim, LockKey};
use super::{Node, ShardData};
use crate::db::{Entry, Keyspace};
use crate::types::blob::Blob;

/// What a transaction locks, per shard.
#[derive(Default, Clone)]
pub struct Plan {
    claims: BTreeMap<usize, Claim>,
}

impl Plan {
    pub fn new() -> Plan {
        Plan::default()
    }

    /// Every shard, whole: for commands over whole databases (FLUSHALL, SWAPDB, KEYS...).
    pub fn everything(shards: usize) -> Plan {
        Plan {
            claims: (0..shards).map(|s| (s, Claim::Everything)).collect(),
        }
    }

    /// Adds `key` on `shard` (a shard already claimed whole needs nothing more).
    pub fn key(&mut self, shard: usize, key: LockKey) {
        match self
            .claims
            .entry(shard)
            .or_insert_with(|| Claim::Keys(Vec::new()))
        {
            Claim::Keys(keys) => keys.push(key),
            Claim::Everything => {}
        }
    }

    pub fn shards(&self) -> impl Iterator<Item = usize> + '_ {
        self.claims.keys().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }
}

pub struct Tx {
    node: Rc<Node>,
    id: u64,
    /// Shards where this transaction asked for locks, granted or in flight: each gets its
    /// release.
    asked: Vec<usize>,
    /// Shards where the transaction's log buffer holds records: its parts.
    logged: RefCell<Vec<usize>>,
    finished: bool,
    /// Hops sent while set log nothing (a script's `redis.set_repl(redis.REPL_NONE)`).
    quiet: std::cell::Cell<bool>,
}

impl Tx {
    /// Locks `plan` (see the module docs for how).
    pub async fn begin(node: &Rc<Node>, plan: Plan) -> Tx {
        Tx::begin_with(node, plan, |_| None::<fn(&mut ShardData)>)
            .await
            .0
    }

    /// Locks `plan`, sending along with each shard's lock request the hop `then(shard)`. When
    /// every shard grants at once, the hops ran with the locks held and their results come
    /// back in shard order; otherwise (`None`) the locks are taken by waiting and the caller
    /// runs its hops itself.
    pub async fn begin_with<R, F>(
        node: &Rc<Node>,
        plan: Plan,
        mut then: impl FnMut(usize) -> Option<F>,
    ) -> (Tx, Option<Vec<R>>)
    where
        R: Send + 'static,
        F: FnOnce(&mut ShardData) -> R + Send + 'static,
    {
        let id = node.global.aof.next_tx_id();
        let mut tx = Tx {
            node: node.clone(),
            id,
            asked: Vec::new(),
            logged: RefCell::new(Vec::new()),
            finished: false,
            quiet: std::cell::Cell::new(false),
        };
        if plan.claims.len() == 1 {
            // One shard: nothing else to hold meanwhile, so waiting cannot deadlock.
            let (&shard, claim) = plan.claims.iter().next().expect("one claim");
            tx.asked.push(shard);
            let hop = then(shard).map(|f| tx.in_tx(f));
            let (granted, result) = node
                .lock_on(shard, id, claim.clone(), true, hop)
                .granted()
                .await;
            debug_assert!(granted, "a waiting request is granted");
            let result = result.map(|(r, logged)| {
                tx.note(shard, logged);
                vec![r]
            });
            return (tx, result);
        }
        // Every shard at once, none waiting.
        let mut answers = Vec::with_capacity(plan.claims.len());
        for (&shard, claim) in &plan.claims {
            tx.asked.push(shard);
            let hop = then(shard).map(|f| tx.in_tx(f));
            answers.push((shard, node.lock_on(shard, id, claim.clone(), false, hop)));
        }
        let mut all = true;
        let mut results = Vec::with_capacity(answers.len());
        for (shard, answer) in answers {
            let (granted, result) = answer.granted().await;
            all &= granted;
            if let Some((r, logged)) = result {
                tx.note(shard, logged);
                results.push(r);
            }
        }
        if all {
            return (tx, Some(results));
        }
        // Someone is in the way: give everything back and queue, shard by shard, in order.
        debug_assert!(
            tx.logged.borrow().is_empty(),
            "read-only attempts log nothing"
        );
        for &shard in &tx.asked {
            node.post(shard, move |data| data.locks.release(id));
        }
        for (&shard, claim) in &plan.claims {
            let (granted, _) = node
                .lock_on(shard, id, claim.clone(), true, None::<fn(&mut ShardData)>)
                .granted()
                .await;
            debug_assert!(granted, "a waiting request is granted");
        }
        (tx, None)
    }

    /// Wraps a hop so that what it logs goes to this transaction's buffer on its shard, and
    /// reports whether anything is there.
    fn in_tx<R, F>(&self, f: F) -> impl FnOnce(&mut ShardData) -> (R, bool) + Send + 'static
    where
        F: FnOnce(&mut ShardData) -> R + Send + 'static,
    {
        let (id, quiet) = (self.id, self.quiet.get());
        move |data: &mut ShardData| {
            data.aof.enter_tx(id);
            let on = data.aof.on;
            if quiet {
                data.aof.on = false;
            }
            let r = f(data);
            data.aof.on = on;
            let logged = data.aof.leave_tx();
            (r, logged)
        }
    }

    /// Whether the hops sent from now on log what they do.
    pub fn set_quiet(&self, quiet: bool) {
        self.quiet.set(quiet);
    }

    fn note(&self, shard: usize, logged: bool) {
        let mut l = self.logged.borrow_mut();
        if logged && !l.contains(&shard) {
            l.push(shard);
        }
    }

    /// Declares that a finishing job (see [`Tx::finish_with`]) will log on `shard`.
    pub fn will_log(&self, shard: usize) {
        self.note(shard, true);
    }

    /// Runs `f` on `shard` while the transaction's locks are held. Only the transaction's own
    /// keys may be touched: others are not protected.
    pub async fn hop<R, F>(&self, shard: usize, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut ShardData) -> R + Send + 'static,
    {
        let (r, logged) = self.node.run_on(shard, Vec::new(), self.in_tx(f)).await;
        self.note(shard, logged);
        r
    }

    /// Runs one hop on each of several shards at once; results in the same order.
    pub async fn hops<R, F>(&self, hops: Vec<(usize, F)>) -> Vec<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut ShardData) -> R + Send + 'static,
    {
        let shards: Vec<usize> = hops.iter().map(|(s, _)| *s).collect();
        let wrapped = hops.into_iter().map(|(s, f)| (s, self.in_tx(f))).collect();
        let results = self.node.run_on_each(wrapped).await;
        results
            .into_iter()
            .zip(shards)
            .map(|((r, logged), shard)| {
                self.note(shard, logged);
                r
            })
            .collect()
    }

    /// Moves the entries of `keys` in database `db` (on any of the transaction's shards) into
    /// a scratch keyspace on this shard, whatever their size: each key's shard keeps a
    /// placeholder under the lock (see `Db::lend`). Every key must be given back, with
    /// `Db::settle_loan` in a hop or in the finishing jobs (`cmd::route` does).
    pub async fn lend(&self, db: usize, keys: &[(usize, Blob)]) -> Keyspace {
        let mut scratch = Keyspace::new(self.node.global.databases);
        // Commands run on the scratch copy must pick encodings by the configured thresholds.
        scratch.limits = self.node.data.borrow().ks.limits;
        // Lent keys past their time are deleted there by lookups, as on their own shard; the
        // caller has their shards log and signal those deletions.
        scratch.stats.record_reaped = true;
        let mut per_shard: BTreeMap<usize, Vec<Blob>> = BTreeMap::new();
        for (shard, key) in keys {
            per_shard.entry(*shard).or_default().push(key.clone());
        }
        let hops = per_shard
            .into_iter()
            .map(|(shard, keys)| {
                (shard, move |data: &mut ShardData| {
                    let d = &mut data.ks.dbs[db];
                    keys.into_iter()
                        .map(|k| {
                            let e = d.lend(&k);
                            (k, e)
                        })
                        .collect::<Vec<(Blob, Option<Entry>)>>()
                })
            })
            .collect();
        for entries in self.hops(hops).await {
            for (k, e) in entries {
                if let Some(e) = e {
                    scratch.dbs[db].place(&k, e);
                }
            }
        }
        scratch
    }

    /// Unique across shards and runs: names the transaction's parts in the AOF.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The shard the transaction is coordinated from.
    pub fn node(&self) -> &Rc<Node> {
        &self.node
    }

    /// How many shards the process has.
    pub fn shards(&self) -> usize {
        self.node.shards
    }

    /// Ends the transaction: commits what it logged and releases its locks.
    pub async fn finish(self) {
        self.finish_with(Vec::<(usize, fn(&mut ShardData))>::new())
            .await
    }

    /// Ends the transaction with a last job on some shards (giving lent keys back...), run
    /// in order before that shard's commit and release. A job that logs must have been
    /// declared with [`Tx::will_log`]. Does not wait for the jobs unless `appendfsync always`
    /// requires it: each shard runs its job before anything else touches the keys, since the
    /// locks go only after it.
    pub async fn finish_with<F>(mut self, jobs: Vec<(usize, F)>)
    where
        F: FnOnce(&mut ShardData) + Send + 'static,
    {
        let (id, parts) = (self.id, self.logged.borrow().len());
        let mut jobs: BTreeMap<usize, F> = jobs.into_iter().collect();
        let node = self.node.clone();
        if !node.global.aof.always() || parts == 0 {
            self.finished = true;
            for &shard in &self.asked {
                let job = jobs.remove(&shard);
                node.post(shard, move |data| {
                    if let Some(job) = job {
                        data.aof.enter_tx(id);
                        job(data);
                        data.aof.leave_tx();
                    }
                    data.aof.commit_tx(id, parts);
                    data.locks.release(id);
                });
            }
            return;
        }
        let commits = self
            .asked
            .iter()
            .map(|&shard| {
                let job = jobs.remove(&shard);
                (shard, move |data: &mut ShardData| {
                    if let Some(job) = job {
                        data.aof.enter_tx(id);
                        job(data);
                        data.aof.leave_tx();
                    }
                    data.aof.commit_tx(id, parts);
                })
            })
            .collect();
        // Dropped while waiting here, the transaction still releases (see `Drop`).
        node.run_on_each(commits).await;
        crate::shard::aof::settle(&node).await;
        self.finished = true;
        for &shard in &self.asked {
            node.post(shard, move |data| data.locks.release(id));
        }
    }
}

impl Drop for Tx {
    /// A transaction dropped before [`Tx::finish`] (its task was cancelled, or it stopped
    /// early) still commits what it did and releases every lock it asked for.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let (id, parts) = (self.id, self.logged.borrow().len());
        for &shard in &self.asked {
            self.node.post(shard, move |data| {
                data.aof.commit_tx(id, parts);
                data.locks.release(id);
            });
        }
    }
}

impl Node {
    /// Runs `f` on every shard with every shard claimed whole, so that no keyed command
    /// anywhere runs between the first hop and the last (KEYS never sees a multi-shard write
    /// half-applied). Inside `within` (an EXEC, which then holds every shard), as part of it.
    pub async fn read_everywhere<R, F>(self: &Rc<Self>, within: Option<Rc<Tx>>, f: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&mut ShardData) -> R + Send + Clone + 'static,
    {
        let hops: Vec<(usize, F)> = (0..self.shards).map(|s| (s, f.clone())).collect();
        if let Some(tx) = within {
            return tx.hops(hops).await;
        }
        let node = self.clone();
        Node::detached(async move {
            let tx = Tx::begin(&node, Plan::everything(node.shards)).await;
            let out = tx.hops(hops).await;
            tx.finish().await;
            out
        })
        .await
    }

    /// [`Node::read_everywhere`] for a write of every shard (FLUSHALL, FLUSHDB, SWAPDB): each
    /// shard logs `command` as its part of the transaction.
    pub async fn write_everywhere<F>(
        self: &Rc<Self>,
        within: Option<Rc<Tx>>,
        db: usize,
        command: Vec<bytes::Bytes>,
        f: F,
    ) where
        F: Fn(&mut ShardData) + Send + Clone + 'static,
    {
        let write = move |data: &mut ShardData| {
            f(data);
            data.aof.record_raw(&mut data.ks, db, &command);
        };
        self.read_everywhere(within, write).await;
    }
}
