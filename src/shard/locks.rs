//! Per-shard intent locks on keys: the isolation half of the cross-shard transaction layer.
//!
//! A command whose keys all live on one shard runs to completion on that shard's thread without
//! yielding, so it is atomic by construction and takes no lock. A transaction that spans shards
//! cannot be: it locks its keys on every shard it touches, runs its hops, then releases. While a
//! key is locked, any other command on it waits here, so no client can observe a transaction
//! half-applied.
//!
//! Every key has a FIFO queue of the requests that want it; the request at the front holds it.
//! A request names all its keys on this shard at once and enters all their queues in one step,
//! so two requests meet in the same order in every queue they share: no cycle of waiters can
//! form on one shard, and a request never overtakes an earlier one it conflicts with. Granting,
//! releasing and cancelling cost time in the number of the request's own keys, never in the
//! size of the table. (Deadlock freedom across shards is the transaction layer's business, see
//! `shard::tx`.)
//!
//! A claim on the whole shard (FLUSHALL, SWAPDB, KEYS, a snapshot's freeze) conflicts with
//! every key. It waits until every request that entered before it is released, and requests
//! that arrive after it wait in `deferred`, in arrival order, until it is released.

use std::collections::VecDeque;

use ahash::{AHashMap, AHashSet};

use super::oneshot;
use crate::types::blob::Blob;

/// A key in a given database.
pub type LockKey = (u32, Blob);

/// What a request locks on one shard.
#[derive(Clone, Debug)]
pub enum Claim {
    Keys(Vec<LockKey>),
    /// Every key of the shard, in every database.
    Everything,
}

/// The answer to a lock request.
pub enum Acquired {
    Granted,
    /// Queued; resolves once granted (`None` if the request was cancelled meanwhile).
    Queued(oneshot::Receiver<()>),
    /// Not grantable at once, and the request asked not to wait: nothing was taken.
    Refused,
}

struct Request {
    /// The request's keys; empty for a whole-shard claim.
    keys: Vec<LockKey>,
    whole: bool,
    /// Whether the request is in the key queues (false while deferred behind a whole claim).
    entered: bool,
    /// Key queues whose front this request has not reached yet: granted at 0.
    missing: usize,
    grant: Option<oneshot::Sender<()>>,
}

#[derive(Default)]
pub struct LockTable {
    /// Live requests (granted or waiting) by owner; an owner has one request per shard.
    requests: AHashMap<u64, Request>,
    /// Per locked key, the owners that want it, the holder first.
    queues: AHashMap<LockKey, VecDeque<u64>>,
    /// Requests in the key queues, granted or not: a whole claim waits for this to reach 0.
    entered: usize,
    /// The owner of the granted whole-shard claim.
    whole: Option<u64>,
    /// Requests that arrived while a whole claim was held or waiting, in arrival order.
    deferred: VecDeque<u64>,
}

impl LockTable {
    /// True when no transaction holds or waits for anything: the common case, checked first.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.requests.is_empty()
    }

    /// True when a request for `keys` would be granted right now without overtaking anyone.
    pub fn is_free<'a>(&self, mut keys: impl Iterator<Item = (u32, &'a [u8])>) -> bool {
        if self.is_idle() {
            return true;
        }
        if self.whole.is_some() || !self.deferred.is_empty() {
            return false;
        }
        keys.all(|(db, k)| !self.queues.contains_key(&(db, Blob::new(k))))
    }

    /// Whether some request holds or waits for `key` (or the whole shard): active expiry and
    /// eviction leave such keys alone, since a transaction may be between its hops over them.
    pub fn is_claimed(&self, db: u32, key: &[u8]) -> bool {
        !self.is_idle()
            && (self.whole.is_some()
                || !self.deferred.is_empty()
                || self.queues.contains_key(&(db, Blob::new(key))))
    }

    /// Locks `claim` for `owner`. With `wait` false, a request that cannot be granted at once
    /// is refused and leaves no trace; otherwise it queues.
    pub fn acquire(&mut self, owner: u64, claim: Claim, wait: bool) -> Acquired {
        // One request per owner: a second would orphan the first's queue entries. Messages
        // between two shards arrive in order, so a transaction's release always comes before
        // its next request; should that ever fail, the old request goes first.
        debug_assert!(!self.requests.contains_key(&owner), "one request per owner");
        if self.requests.contains_key(&owner) {
            self.release(owner);
        }
        let (keys, whole) = match claim {
            Claim::Keys(keys) => (dedup(keys), false),
            Claim::Everything => (Vec::new(), true),
        };
        let free = if whole {
            self.is_idle()
        } else {
            self.is_free(keys.iter().map(|(db, k)| (*db, k.as_bytes())))
        };
        if !free && !wait {
            return Acquired::Refused;
        }
        let mut req = Request {
            keys,
            whole,
            entered: false,
            missing: 0,
            grant: None,
        };
        let receiver = if free {
            None
        } else {
            let (tx, rx) = oneshot::channel();
            req.grant = Some(tx);
            Some(rx)
        };
        self.requests.insert(owner, req);
        if whole {
            if free {
                self.whole = Some(owner);
            } else {
                self.deferred.push_back(owner);
            }
        } else if self.whole.is_some() || !self.deferred.is_empty() {
            self.deferred.push_back(owner);
        } else {
            self.enter(owner);
        }
        match receiver {
            None => Acquired::Granted,
            Some(rx) => Acquired::Queued(rx),
        }
    }

    /// Puts a key request into its keys' queues, granting it if it is at every front.
    fn enter(&mut self, owner: u64) {
        let Some(req) = self.requests.get_mut(&owner) else {
            return;
        };
        req.entered = true;
        self.entered += 1;
        let mut missing = 0;
        for key in &req.keys {
            let q = self.queues.entry(key.clone()).or_default();
            if !q.is_empty() {
                missing += 1;
            }
            q.push_back(owner);
        }
        req.missing = missing;
        if missing == 0 {
            if let Some(g) = req.grant.take() {
                g.send(());
            }
        }
    }

    /// Releases what `owner` holds, or cancels its waiting request, and grants what that
    /// frees. Unknown owners are ignored (a release may follow a refused attempt).
    pub fn release(&mut self, owner: u64) {
        let Some(req) = self.requests.remove(&owner) else {
            return;
        };
        if req.whole && self.whole == Some(owner) {
            self.whole = None;
        } else if !req.entered {
            self.deferred.retain(|o| *o != owner);
        } else {
            self.entered -= 1;
            for key in &req.keys {
                let Some(q) = self.queues.get_mut(key) else {
                    continue;
                };
                if q.front() == Some(&owner) {
                    q.pop_front();
                    if let Some(&next) = q.front() {
                        if let Some(r) = self.requests.get_mut(&next) {
                            r.missing -= 1;
                            if r.missing == 0 {
                                if let Some(g) = r.grant.take() {
                                    g.send(());
                                }
                            }
                        }
                    }
                } else {
                    // Cancelled while waiting behind others: it blocked nobody in this queue.
                    q.retain(|o| *o != owner);
                }
                if q.is_empty() {
                    self.queues.remove(key);
                }
            }
        }
        self.promote();
    }

    /// Lets deferred requests in, in arrival order, up to the next whole claim, which is
    /// granted once everything before it is released.
    fn promote(&mut self) {
        while self.whole.is_none() {
            let Some(&next) = self.deferred.front() else {
                return;
            };
            let whole = self.requests.get(&next).is_some_and(|r| r.whole);
            if whole {
                if self.entered > 0 {
                    return;
                }
                self.deferred.pop_front();
                self.whole = Some(next);
                if let Some(g) = self.requests.get_mut(&next).and_then(|r| r.grant.take()) {
                    g.send(());
                }
                return;
            }
            self.deferred.pop_front();
            self.enter(next);
        }
    }
}

/// Removes repeated keys, keeping the first occurrence: a request locks each key once.
fn dedup(keys: Vec<LockKey>) -> Vec<LockKey> {
    if keys.len() < 2 {
        return keys;
    }
    let mut seen = AHashSet::with_capacity(keys.len());
    keys.into_iter()
        .filter(|k| seen.insert(k.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> LockKey {
        (0, Blob::new(s.as_bytes()))
    }

    fn keys(list: &[&str]) -> Claim {
        Claim::Keys(list.iter().map(|s| k(s)).collect())
    }

    fn queued(a: Acquired) -> oneshot::Receiver<()> {
        match a {
            Acquired::Queued(rx) => rx,
            Acquired::Granted => panic!("granted, expected to queue"),
            Acquired::Refused => panic!("refused, expected to queue"),
        }
    }

    fn granted(a: Acquired) -> bool {
        matches!(a, Acquired::Granted)
    }

    #[test]
    fn conflicting_requests_wait_in_order() {
        let mut t = LockTable::default();
        assert!(granted(t.acquire(1, keys(&["a", "b"]), true)));
        let mut second = queued(t.acquire(2, keys(&["b"]), true));
        // c is free: only conflicting requests must not be overtaken.
        assert!(granted(t.acquire(3, keys(&["c"]), true)));
        let mut third = queued(t.acquire(4, keys(&["b", "c"]), true));
        t.release(1);
        assert!(poll_ready(&mut second));
        assert!(!poll_ready(&mut third));
        t.release(2);
        assert!(!poll_ready(&mut third), "c is still held by 3");
        t.release(3);
        assert!(poll_ready(&mut third));
        t.release(4);
        assert!(t.is_idle());
        assert!(t.queues.is_empty());
    }

    #[test]
    fn whole_shard_claims_wait_for_keys_and_block_them() {
        let mut t = LockTable::default();
        assert!(granted(t.acquire(1, keys(&["a"]), true)));
        let mut flush = queued(t.acquire(2, Claim::Everything, true));
        // A later request for another key must not overtake the queued whole-shard claim.
        let mut later = queued(t.acquire(3, keys(&["b"]), true));
        assert!(!t.is_free([(0, &b"c"[..])].into_iter()));
        t.release(1);
        assert!(poll_ready(&mut flush));
        assert!(!poll_ready(&mut later));
        t.release(2);
        assert!(poll_ready(&mut later));
        t.release(3);
        assert!(t.is_idle());
    }

    #[test]
    fn try_requests_never_queue() {
        let mut t = LockTable::default();
        assert!(granted(t.acquire(1, keys(&["a"]), false)));
        assert!(matches!(
            t.acquire(2, keys(&["a", "b"]), false),
            Acquired::Refused
        ));
        assert!(matches!(
            t.acquire(3, Claim::Everything, false),
            Acquired::Refused
        ));
        assert!(granted(t.acquire(4, keys(&["b"]), false)));
        t.release(1);
        t.release(4);
        assert!(t.is_idle() && t.queues.is_empty());
        // Releasing a refused owner is harmless.
        t.release(2);
    }

    #[test]
    fn cancelling_a_waiter_frees_what_it_blocked() {
        let mut t = LockTable::default();
        assert!(granted(t.acquire(1, keys(&["a"]), true)));
        let mut w2 = queued(t.acquire(2, keys(&["a", "b"]), true));
        let mut w3 = queued(t.acquire(3, keys(&["b"]), true));
        // 2 holds b (front of its queue) while waiting for a: 3 waits for it.
        assert!(!poll_ready(&mut w3));
        t.release(2);
        assert!(poll_ready(&mut w3), "cancelling 2 hands b to 3");
        assert!(
            matches!(poll(&mut w2), Some(None)),
            "the cancelled waiter ends"
        );
        t.release(1);
        t.release(3);
        assert!(t.is_idle() && t.queues.is_empty() && t.entered == 0);
    }

    #[test]
    fn cancelling_a_deferred_whole_claim_lets_the_rest_in() {
        let mut t = LockTable::default();
        assert!(granted(t.acquire(1, keys(&["a"]), true)));
        let _flush = queued(t.acquire(2, Claim::Everything, true));
        let mut later = queued(t.acquire(3, keys(&["b"]), true));
        t.release(2);
        assert!(poll_ready(&mut later));
        t.release(1);
        t.release(3);
        assert!(t.is_idle() && t.deferred.is_empty());
    }

    #[test]
    fn repeated_keys_count_once() {
        let mut t = LockTable::default();
        assert!(granted(t.acquire(1, keys(&["a", "a", "b", "a"]), true)));
        let mut w = queued(t.acquire(2, keys(&["a"]), true));
        t.release(1);
        assert!(poll_ready(&mut w));
        t.release(2);
        assert!(t.is_idle() && t.queues.is_empty());
    }

    #[test]
    fn many_keys_cost_linear_time() {
        // 200,000 keys in one request, then a conflicting one: quadratic bookkeeping would not
        // finish in any reasonable time.
        let mut t = LockTable::default();
        let big: Vec<LockKey> = (0..200_000).map(|i| k(&i.to_string())).collect();
        assert!(granted(t.acquire(1, Claim::Keys(big.clone()), true)));
        let mut w = queued(t.acquire(2, Claim::Keys(big), true));
        t.release(1);
        assert!(poll_ready(&mut w));
        t.release(2);
        assert!(t.is_idle());
    }

    fn poll(r: &mut oneshot::Receiver<()>) -> Option<Option<()>> {
        use std::future::Future;
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(r).poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    fn poll_ready(r: &mut oneshot::Receiver<()>) -> bool {
        matches!(poll(r), Some(Some(())))
    }
}
