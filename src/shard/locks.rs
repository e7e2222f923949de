//! Per-shard intent locks on keys: the isolation half of the cross-shard transaction layer.
//!
//! A command whose keys all live on one shard runs to completion on that shard's thread without
//! yielding, so it is atomic by construction and takes no lock. A transaction that spans shards
//! cannot be: it locks its keys on every shard it touches, in ascending shard order, runs its
//! hops, then unlocks. While a key is locked, any other command on it waits in this table's FIFO
//! queue, so no client can observe a transaction half-applied.
//!
//! Deadlock freedom: every transaction acquires shards in the same (ascending) order, and on one
//! shard it takes all its keys in a single step, so no cycle of waiters can form. Fairness: a
//! request never overtakes an earlier queued request it conflicts with.

use std::collections::VecDeque;

use ahash::{AHashMap, AHashSet};

use super::oneshot;
use crate::types::blob::Blob;

/// A key in a given database.
pub type LockKey = (u32, Blob);

/// The database number of the claim on a whole shard (FLUSHALL, SWAPDB, KEYS...): it conflicts
/// with every key, so such a command sees and changes the shard between transactions only.
const EVERYTHING: u32 = u32::MAX;

/// The claim on every key of a shard, for commands that act on whole databases.
pub fn everything() -> LockKey {
    (EVERYTHING, Blob::new(b""))
}

fn is_everything(k: &LockKey) -> bool {
    k.0 == EVERYTHING
}

struct Waiter {
    owner: u64,
    keys: Vec<LockKey>,
    grant: oneshot::Sender<()>,
}

#[derive(Default)]
pub struct LockTable {
    held: AHashMap<LockKey, u64>,
    /// The owner of the whole-shard claim, if granted; then `held` is empty.
    whole: Option<u64>,
    queue: VecDeque<Waiter>,
}

impl LockTable {
    /// True when no transaction holds or waits for anything: the common case, checked first.
    pub fn is_idle(&self) -> bool {
        self.held.is_empty() && self.whole.is_none() && self.queue.is_empty()
    }

    /// True when a request for `keys` could be granted right now.
    pub fn can_grant<'a>(&self, keys: impl IntoIterator<Item = (u32, &'a [u8])>) -> bool {
        if self.is_idle() {
            return true;
        }
        if self.whole.is_some() {
            return false;
        }
        let queued_whole = self.queue.iter().any(|w| w.keys.iter().any(is_everything));
        keys.into_iter().all(|(db, k)| {
            if db == EVERYTHING {
                return self.held.is_empty() && self.queue.is_empty();
            }
            let probe: LockKey = (db, Blob::new(k));
            !queued_whole
                && !self.held.contains_key(&probe)
                && !self.queue.iter().any(|w| w.keys.contains(&probe))
        })
    }

    fn take(&mut self, owner: u64, keys: &[LockKey]) {
        if keys.iter().any(is_everything) {
            self.whole = Some(owner);
        } else {
            for k in keys {
                self.held.insert(k.clone(), owner);
            }
        }
    }

    /// Takes the locks now if possible; otherwise queues the request and returns a receiver
    /// that resolves once they are granted.
    pub fn acquire(&mut self, owner: u64, keys: Vec<LockKey>) -> Option<oneshot::Receiver<()>> {
        if self.can_grant(keys.iter().map(|(db, k)| (*db, k.as_bytes()))) {
            self.take(owner, &keys);
            return None;
        }
        let (grant, granted) = oneshot::channel();
        self.queue.push_back(Waiter { owner, keys, grant });
        Some(granted)
    }

    /// Releases everything `owner` holds and grants queued requests that are now free, in
    /// arrival order.
    pub fn release(&mut self, owner: u64) {
        self.held.retain(|_, o| *o != owner);
        if self.whole == Some(owner) {
            self.whole = None;
        }
        // Keys claimed by earlier requests still waiting: later ones must not overtake them.
        let mut blocked: AHashSet<LockKey> = AHashSet::new();
        let mut blocked_all = false;
        let mut still_waiting = VecDeque::new();
        while let Some(w) = self.queue.pop_front() {
            let wants_whole = w.keys.iter().any(is_everything);
            let free = !blocked_all
                && self.whole.is_none()
                && if wants_whole {
                    self.held.is_empty() && blocked.is_empty()
                } else {
                    w.keys
                        .iter()
                        .all(|k| !self.held.contains_key(k) && !blocked.contains(k))
                };
            if free {
                self.take(w.owner, &w.keys);
                w.grant.send(());
            } else {
                if wants_whole {
                    blocked_all = true;
                }
                blocked.extend(w.keys.iter().cloned());
                still_waiting.push_back(w);
            }
        }
        self.queue = still_waiting;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> LockKey {
        (0, Blob::new(s.as_bytes()))
    }

    #[test]
    fn conflicting_requests_wait_in_order() {
        let mut t = LockTable::default();
        assert!(t.acquire(1, vec![k("a"), k("b")]).is_none());
        let mut second = t.acquire(2, vec![k("b")]).expect("b is held");
        // c is free, but not overtaking is only required for conflicting requests.
        assert!(t.acquire(3, vec![k("c")]).is_none());
        let mut third = t
            .acquire(4, vec![k("b"), k("c")])
            .expect("b and c are busy");
        t.release(1);
        assert!(poll_ready(&mut second));
        assert!(!poll_ready(&mut third));
        t.release(2);
        assert!(!poll_ready(&mut third), "c is still held by 3");
        t.release(3);
        assert!(poll_ready(&mut third));
        t.release(4);
        assert!(t.is_idle());
    }

    #[test]
    fn whole_shard_claims_wait_for_keys_and_block_them() {
        let mut t = LockTable::default();
        assert!(t.acquire(1, vec![k("a")]).is_none());
        let mut flush = t.acquire(2, vec![everything()]).expect("a is held");
        // A later request for another key must not overtake the queued whole-shard claim.
        let mut later = t.acquire(3, vec![k("b")]).expect("queued behind the claim");
        assert!(!t.can_grant([(0, &b"c"[..])]));
        t.release(1);
        assert!(poll_ready(&mut flush));
        assert!(!poll_ready(&mut later));
        t.release(2);
        assert!(poll_ready(&mut later));
        t.release(3);
        assert!(t.is_idle());
    }

    fn poll_ready(r: &mut oneshot::Receiver<()>) -> bool {
        use std::future::Future;
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        std::pin::Pin::new(r).poll(&mut cx).is_ready()
    }
}
