//! Transactions across shards: the one layer every multi-shard operation goes through.
//!
//! A [`Tx`] locks its keys on each shard it touches in ascending shard order (see [`locks`] for
//! why that cannot deadlock), then runs *hops*: closures executed on one shard's thread with the
//! keys held. When it ends, each shard releases the keys and the commands queued behind them run.
//! Between `begin` and the end of the transaction no other client can see or change those keys,
//! so a multi-shard command is exactly as atomic as it is in single-threaded Redis.
//!
//! Commands do not use hops directly. Two strategies cover them:
//! - *spread*: split the command per shard, run the same handler on each part, merge replies
//!   (MGET, MSET, DEL, EXISTS...); values never move.
//! - *gather*: copy every key's entry onto the coordinating shard into a scratch keyspace, run
//!   the ordinary single-shard handler there, and scatter the results back (RENAME, MSETNX,
//!   BITOP...). Any keyed command becomes atomic across shards without code of its own; the same
//!   path will carry MULTI/EXEC and scripts.
//!
//! [`locks`]: super::locks

use std::rc::Rc;

use super::locks::LockKey;
use super::{Node, ShardData};
use crate::db::{Entry, Keyspace};
use crate::types::blob::Blob;

pub struct Tx {
    node: Rc<Node>,
    owner: u64,
    /// Shards holding locks for this transaction, ascending.
    shards: Vec<usize>,
}

impl Tx {
    /// Locks every `(shard, key)` pair, shard by shard in ascending order.
    pub async fn begin(node: &Rc<Node>, keys: impl IntoIterator<Item = (usize, LockKey)>) -> Tx {
        let mut per_shard: Vec<Vec<LockKey>> = vec![Vec::new(); node.shards];
        for (shard, key) in keys {
            if !per_shard[shard].contains(&key) {
                per_shard[shard].push(key);
            }
        }
        // Unique across shards and across restarts: it also names the transaction's parts in
        // the AOF, which outlives the process.
        let owner = node.global.persist.next_tx_id();
        let mut tx = Tx {
            node: node.clone(),
            owner,
            shards: Vec::new(),
        };
        for (shard, keys) in per_shard.into_iter().enumerate() {
            if keys.is_empty() {
                continue;
            }
            node.lock_on(shard, owner, keys).await;
            tx.shards.push(shard);
        }
        tx
    }

    /// Runs `f` on `shard` while the transaction's locks are held. Only the transaction's own
    /// keys may be touched: others are not protected.
    pub async fn hop<R, F>(&self, shard: usize, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut ShardData) -> R + Send + 'static,
    {
        self.node.run_on(shard, Vec::new(), f).await
    }

    /// Copies the entries of `keys` in database `db` from their shards into a fresh scratch
    /// keyspace. The originals stay in place, visible to readers that take no locks, until
    /// `scatter` replaces them.
    pub async fn gather(&self, db: usize, keys: &[(usize, Blob)]) -> Keyspace {
        let mut scratch = Keyspace::new(self.node.global.databases);
        // Commands run on the scratch copy must pick encodings by the configured thresholds.
        scratch.limits = self.node.data.borrow().ks.limits;
        for &shard in &self.shards {
            let wanted: Vec<Blob> = keys
                .iter()
                .filter(|(s, _)| *s == shard)
                .map(|(_, k)| k.clone())
                .collect();
            if wanted.is_empty() {
                continue;
            }
            // The command runs against the scratch keyspace, so it takes the shards' encoding
            // limits too (a STORE result's encoding depends on them).
            let (entries, limits) = self
                .hop(shard, move |data| {
                    let db = &data.ks.dbs[db];
                    let entries = wanted
                        .into_iter()
                        .map(|k| {
                            let e = db.peek(&k).cloned();
                            (k, e)
                        })
                        .collect::<Vec<(Blob, Option<Entry>)>>();
                    (entries, data.ks.limits)
                })
                .await;
            scratch.limits = limits;
            for (k, e) in entries {
                if let Some(e) = e {
                    scratch.dbs[db].insert_entry(&k, e);
                }
            }
        }
        scratch
    }

    /// Writes the scratch keyspace's state of `keys` back to their shards: present keys are
    /// stored, absent ones deleted.
    pub async fn scatter(&self, db: usize, keys: &[(usize, Blob)], scratch: &mut Keyspace) {
        let writing = self
            .shards
            .iter()
            .filter(|&&sh| keys.iter().any(|(s, _)| *s == sh))
            .count();
        for &shard in &self.shards {
            let updates: Vec<(Blob, Option<Entry>)> = keys
                .iter()
                .filter(|(s, _)| *s == shard)
                .map(|(_, k)| (k.clone(), scratch.dbs[db].remove(k)))
                .collect();
            if updates.is_empty() {
                continue;
            }
            let (id, parts) = (self.owner, writing);
            self.hop(shard, move |data| {
                let d = &mut data.ks.dbs[db];
                let mut written = Vec::with_capacity(updates.len());
                for (k, e) in updates {
                    match e {
                        Some(e) => d.insert_entry(&k, e),
                        None => {
                            d.remove(&k);
                        }
                    }
                    written.push(k);
                }
                // The result, not the command: the command ran on a copy, elsewhere.
                data.aof.tx_begin(id, parts);
                data.aof.record_keys(&mut data.ks, db, &written);
                data.aof.tx_end(id);
            })
            .await;
        }
    }

    /// Unique across shards: names the transaction's parts in the AOF.
    pub fn id(&self) -> u64 {
        self.owner
    }

    pub fn shards(&self) -> &[usize] {
        &self.shards
    }
}

impl Drop for Tx {
    /// Ending the transaction, normally or because its task was cancelled, releases its locks.
    fn drop(&mut self) {
        for &shard in &self.shards {
            self.node.unlock_on(shard, self.owner);
        }
    }
}

impl Node {
    /// Like [`Node::broadcast`], but as one transaction that claims every shard whole: no
    /// keyed command anywhere runs between the first hop and the last, so FLUSHALL, SWAPDB,
    /// DBSIZE or KEYS never see or leave a multi-shard write half-applied.
    pub async fn broadcast_atomic<R, F>(self: &Rc<Self>, f: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&mut ShardData) -> R + Send + Clone + 'static,
    {
        let tx = Tx::begin(
            self,
            (0..self.shards).map(|s| (s, super::locks::everything())),
        )
        .await;
        let mut out = Vec::with_capacity(self.shards);
        for shard in 0..self.shards {
            out.push(tx.hop(shard, f.clone()).await);
        }
        out
    }

    /// [`Node::broadcast_atomic`] for a write of every shard (FLUSHALL, SWAPDB...): each shard
    /// logs `command` to its AOF as its part of one multi-shard transaction.
    pub async fn broadcast_write<F>(self: &Rc<Self>, db: usize, command: Vec<bytes::Bytes>, f: F)
    where
        F: Fn(&mut ShardData) + Send + Clone + 'static,
    {
        let tx = Tx::begin(
            self,
            (0..self.shards).map(|s| (s, super::locks::everything())),
        )
        .await;
        let (id, parts) = (tx.id(), self.shards);
        for shard in 0..self.shards {
            let (f, command) = (f.clone(), command.clone());
            tx.hop(shard, move |data| {
                f(data);
                data.aof.tx_begin(id, parts);
                data.aof.record_raw(&mut data.ks, db, &command);
                data.aof.tx_end(id);
            })
            .await;
        }
        if self.global.persist.aof_always() {
            crate::persist::aof::settle(self).await;
        }
    }
}
