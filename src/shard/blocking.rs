//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN...), served exactly once, in arrival order.
//!
//! A blocked client registers a [`Waiter`] on the shard of each key it names; the waiters of
//! one client share one [`BlockState`]. Whoever moves that state out of `WAITING` first wins:
//! the shard that serves the client (it then pops and delivers the reply), the client's own
//! timeout, CLIENT UNBLOCK, or the client going away. Only the winner acts, so an element is
//! taken for a client only while that client still waits, and a client that timed out is
//! never served afterwards.
//!
//! Serving happens on the key's shard, synchronously, right after the command that created the
//! key (see [`crate::db::Db::take_ready`]): no other command can run in between, as in Redis.
//! A BLMOVE whose destination lives on another shard cannot be finished here atomically, so the
//! shard only claims the client and tells it to retry its move through the transaction layer.
//!
//! Nothing here touches the runtime: replies for clients of other shards are returned to the
//! caller, which sends them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use ahash::AHashMap;
use bytes::Bytes;

use super::locks::LockTable;
use super::oneshot;
use crate::db::Ctx;
use crate::db::Keyspace;
use crate::error::CmdError;
use crate::resp::Frame;
use crate::shard::aof::AofState;

const WAITING: u8 = 0;
const CLAIMED: u8 = 1;
const ENDED: u8 = 2;

/// One blocked command's fate, shared by its waiters on every shard and by the client.
pub struct BlockState {
    state: AtomicU8,
    /// The shard the client's connection lives on.
    pub client_shard: usize,
    /// Unique across shards (see `Node::fresh_id`).
    pub id: u64,
}

impl BlockState {
    pub fn new(client_shard: usize, id: u64) -> BlockState {
        BlockState {
            state: AtomicU8::new(WAITING),
            client_shard,
            id,
        }
    }

    pub fn waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// A shard takes the client to serve it. False if someone else decided first.
    fn claim(&self) -> bool {
        self.transition(CLAIMED)
    }

    /// The wait ends without service (timeout, CLIENT UNBLOCK, disconnect, an error found while
    /// registering). False if a shard claimed the client first: its reply is on the way.
    pub fn end(&self) -> bool {
        self.transition(ENDED)
    }

    fn transition(&self, to: u8) -> bool {
        self.state
            .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Serves a blocked command from one of its keys: the command's non-blocking form restricted
/// to `key` (BLPOP's is LPOP's single pop with the key in the reply). `Ok(None)` when the key
/// holds nothing to take.
pub type ServeFn = fn(&mut Ctx, key: &Bytes, args: &[Bytes]) -> Result<Option<Frame>, CmdError>;

/// The records that replay a blocking command served with `reply` (see `cmd::propagate`).
pub type LogFn = fn(args: &[Bytes], reply: &Frame) -> Vec<Vec<Bytes>>;

#[derive(Clone)]
pub struct Waiter {
    pub state: Arc<BlockState>,
    pub db: usize,
    pub args: Arc<Vec<Bytes>>,
    pub serve: ServeFn,
    /// What the AOF logs for the command served with a reply (its non-blocking form).
    pub log: LogFn,
    /// The type the key must hold for the command to be served from it ("list", "zset").
    pub wants: &'static str,
    /// Serving needs keys of another shard (BLMOVE across shards): claim and let the client
    /// retry under the transaction layer instead of serving here.
    pub retry_elsewhere: bool,
    /// Another key of this shard that serving writes (BLMOVE's destination): it must not be
    /// locked by a transaction either.
    pub also_writes: Option<Bytes>,
}

/// What a blocked client receives.
pub enum Delivery {
    Reply(Frame),
    /// Claimed for a move across shards: retry it, then tell `shard` that `key` may still hold
    /// elements for the next waiter.
    Retry {
        shard: usize,
        db: usize,
        key: Bytes,
    },
    /// CLIENT UNBLOCK ... TIMEOUT: reply as if timed out.
    TimedOut,
    /// CLIENT UNBLOCK ... ERROR.
    Error(Frame),
}

/// The outcome of registering on one key.
pub enum Registration {
    /// The key had something: served on the spot.
    Served(Frame),
    /// Claimed for a retry across shards (see [`Waiter::retry_elsewhere`]).
    Retry,
    /// Queued behind the key's earlier waiters.
    Queued,
    /// The client no longer waits (served or ended meanwhile): nothing done.
    Skipped,
    /// The key holds another type: the command fails with this error.
    Failed(Frame),
}

struct LocalClient {
    client_id: u64,
    /// It waits with a timeout (Redis keeps such clients in its timeout table).
    timed: bool,
    state: Arc<BlockState>,
    reply: oneshot::Sender<Delivery>,
}

/// A shard's blocking table: waiters on its keys, and its own connections that are blocked.
#[derive(Default)]
pub struct Blocking {
    queues: AHashMap<(usize, Bytes), VecDeque<Waiter>>,
    local: AHashMap<u64, LocalClient>,
}

/// A reply for a client on another shard: (its shard, its block id, the reply).
pub type Outgoing = (usize, u64, Delivery);

impl Blocking {
    /// A connection of this shard starts blocking; its deliveries arrive on the returned end.
    pub fn add_client(
        &mut self,
        client_id: u64,
        state: Arc<BlockState>,
        timed: bool,
    ) -> oneshot::Receiver<Delivery> {
        let (tx, rx) = oneshot::channel();
        self.local.insert(
            state.id,
            LocalClient {
                client_id,
                timed,
                state,
                reply: tx,
            },
        );
        rx
    }

    pub fn remove_client(&mut self, id: u64) {
        self.local.remove(&id);
    }

    /// Whether any client waits on a key of this shard.
    #[inline]
    pub fn has_waiters(&self) -> bool {
        !self.queues.is_empty()
    }

    /// How many of this shard's connections are blocked (INFO's blocked_clients).
    pub fn blocked_clients(&self) -> usize {
        self.local.len()
    }

    /// How many of them wait with a timeout (INFO's clients_in_timeout_table).
    pub fn clients_with_timeout(&self) -> usize {
        self.local.values().filter(|c| c.timed).count()
    }

    /// Hands a reply to a blocked connection of this shard. A connection that went away has no
    /// entry left: its reply comes back, to be dropped as Redis drops a reply to a closed
    /// socket, unless it is a claim that others wait on (see [`deliver`]).
    #[must_use]
    pub fn deliver(&mut self, id: u64, delivery: Delivery) -> Option<Delivery> {
        match self.local.remove(&id) {
            Some(client) => {
                client.reply.send(delivery);
                None
            }
            None => Some(delivery),
        }
    }

    /// CLIENT UNBLOCK: ends the wait of connection `client_id` if it is blocked here.
    pub fn unblock(&mut self, client_id: u64, delivery: impl FnOnce() -> Delivery) -> bool {
        let Some(id) = self
            .local
            .iter()
            .find(|(_, c)| c.client_id == client_id && c.state.waiting())
            .map(|(id, _)| *id)
        else {
            return false;
        };
        let ended = self.local[&id].state.end();
        if ended {
            // The client is here and waiting: nothing comes back.
            let _ = self.deliver(id, delivery());
        }
        ended
    }
}

/// Delivers a reply sent from another shard to one of this shard's blocked clients. A move
/// claimed for a client that has left meanwhile ([`Delivery::Retry`]) would hold the source's
/// other waiters back for ever: its source is marked ready again instead.
pub fn deliver(data: &mut crate::shard::ShardData, block: u64, delivery: Delivery) {
    if let Some(Delivery::Retry { shard, db, key }) = data.blocking.deliver(block, delivery) {
        data.outgoing.push((
            shard,
            Box::new(move |data: &mut crate::shard::ShardData| data.ks.dbs[db].mark_ready(&key)),
        ));
    }
}

/// Registers `waiter` on `key` of this shard, serving it at once if the key already holds
/// something and nobody queued earlier waits for it.
pub fn register(
    blocking: &mut Blocking,
    ks: &mut Keyspace,
    now: u64,
    key: Bytes,
    waiter: Waiter,
) -> Registration {
    if !waiter.state.waiting() {
        return Registration::Skipped;
    }
    let queue_key = (waiter.db, key.clone());
    if let Some(queue) = blocking.queues.get_mut(&queue_key) {
        queue.retain(|w| w.state.waiting());
        if !queue.is_empty() {
            queue.push_back(waiter);
            return Registration::Queued;
        }
    }
    let (db, stats) = ks.db(waiter.db);
    let held = db
        .lookup_untouched(&key, now, stats)
        .map(|e| e.value.type_name());
    match held {
        None => {
            db.watch_blocked(&key);
            blocking
                .queues
                .entry(queue_key)
                .or_default()
                .push_back(waiter);
            Registration::Queued
        }
        Some(t) if t != waiter.wants => {
            if waiter.state.end() {
                Registration::Failed(CmdError::WrongType.into())
            } else {
                Registration::Skipped
            }
        }
        Some(_) => {
            if !waiter.state.claim() {
                return Registration::Skipped;
            }
            if waiter.retry_elsewhere {
                return Registration::Retry;
            }
            let mut ctx = Ctx {
                ks,
                db: waiter.db,
                now,
            };
            Registration::Served(serve_one(&mut ctx, &key, &waiter))
        }
    }
}

/// Runs a claimed waiter's command on `key`.
fn serve_one(ctx: &mut Ctx, key: &Bytes, w: &Waiter) -> Frame {
    match (w.serve)(ctx, key, &w.args) {
        Ok(Some(reply)) => reply,
        // The key was checked to hold the right type just before, on this thread.
        Ok(None) => Frame::NullArray,
        Err(e) => e.into(),
    }
}

/// Serves the clients blocked on keys created since the last call, in the order they blocked,
/// for as long as the keys hold something. Replies for this shard's own connections are handed
/// over directly; those for other shards are returned. A key a transaction holds (it may
/// still write it back from its copy) waits until the locks are released, when this runs
/// again.
pub fn serve_ready(
    shard: usize,
    blocking: &mut Blocking,
    ks: &mut Keyspace,
    aof: &mut AofState,
    locks: &LockTable,
    now: u64,
) -> Vec<Outgoing> {
    let mut out = Vec::new();
    let mut later: Vec<(usize, Bytes)> = Vec::new();
    loop {
        let mut ready = Vec::new();
        for (i, db) in ks.dbs.iter_mut().enumerate() {
            if db.has_blocked() {
                ready.extend(db.take_ready().into_iter().map(|k| (i, k)));
            }
        }
        if ready.is_empty() {
            for (db, key) in later {
                ks.dbs[db].mark_ready(&key);
            }
            return out;
        }
        for (db, key) in ready {
            if let Some(key) = serve_key(shard, blocking, ks, aof, locks, now, db, key, &mut out) {
                later.push((db, key));
            }
        }
    }
}

/// Serves `key`'s waiters; returns the key if locks stopped it, to be tried again later.
#[allow(clippy::too_many_arguments)]
fn serve_key(
    shard: usize,
    blocking: &mut Blocking,
    ks: &mut Keyspace,
    aof: &mut AofState,
    locks: &LockTable,
    now: u64,
    db: usize,
    key: Bytes,
    out: &mut Vec<Outgoing>,
) -> Option<Bytes> {
    let queue_key = (db, key);
    let Some(mut queue) = blocking.queues.remove(&queue_key) else {
        ks.dbs[db].unwatch_blocked(&queue_key.1);
        return None;
    };
    let key = &queue_key.1;
    let mut deferred = None;
    while let Some(w) = queue.front() {
        if !w.state.waiting() {
            queue.pop_front();
            continue;
        }
        let touched = std::iter::once(&key[..]).chain(w.also_writes.as_deref());
        if !locks.is_free(touched.map(|k| (db as u32, k))) {
            deferred = Some(key.clone());
            break;
        }
        let (d, stats) = ks.db(db);
        let holds = d
            .lookup_untouched(key, now, stats)
            .is_some_and(|e| e.value.type_name() == w.wants);
        if !holds {
            break;
        }
        let Some(w) = queue.pop_front() else { break };
        if !w.state.claim() {
            continue;
        }
        let delivery = if w.retry_elsewhere {
            Delivery::Retry {
                shard,
                db,
                key: key.clone(),
            }
        } else {
            let mut ctx = Ctx { ks, db, now };
            let reply = serve_one(&mut ctx, key, &w);
            if aof.on && !reply.is_error() {
                aof.record_all(ks, db, &(w.log)(&w.args, &reply));
            }
            if !reply.is_error() {
                touch_served(ks, db, key, &w.args);
            }
            Delivery::Reply(reply)
        };
        let retry = matches!(delivery, Delivery::Retry { .. });
        if w.state.client_shard == shard {
            if let Some(Delivery::Retry { .. }) = blocking.deliver(w.state.id, delivery) {
                // The client left before its claim reached it: the next waiter may go.
                ks.dbs[db].mark_ready(key);
            }
        } else {
            out.push((w.state.client_shard, w.state.id, delivery));
        }
        if retry {
            // The retrying client marks the key ready again when done; serving the next
            // waiter now could take the element it was promised.
            break;
        }
    }
    if queue.is_empty() {
        ks.dbs[db].unwatch_blocked(key);
    } else {
        blocking.queues.insert(queue_key, queue);
    }
    deferred
}

/// WATCH: a blocking command served from `key` changed it, and a move its destination too.
pub fn touch_served(ks: &mut Keyspace, db: usize, key: &[u8], args: &[Bytes]) {
    let d = &mut ks.dbs[db];
    if !d.observed() {
        return;
    }
    d.touch(key);
    let name = &args[0];
    if name.eq_ignore_ascii_case(b"blmove") || name.eq_ignore_ascii_case(b"brpoplpush") {
        d.touch(&args[2]);
    }
}

/// Drops the waiters of clients that no longer wait on `key` (timed out, served elsewhere).
pub fn prune(blocking: &mut Blocking, ks: &mut Keyspace, db: usize, key: &Bytes) {
    let queue_key = (db, key.clone());
    if let Some(queue) = blocking.queues.get_mut(&queue_key) {
        queue.retain(|w| w.state.waiting());
        if queue.is_empty() {
            blocking.queues.remove(&queue_key);
            ks.dbs[db].unwatch_blocked(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Value;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    /// A stand-in command for the tests: takes the whole string at `key` (GETDEL).
    fn take(ctx: &mut Ctx, key: &Bytes, _args: &[Bytes]) -> Result<Option<Frame>, CmdError> {
        let (db, _) = ctx.db();
        Ok(db.remove(key).map(|e| match e.value {
            Value::Str(s) => Frame::Bulk(s.to_bytes()),
            #[allow(unreachable_patterns)]
            _ => Frame::Null,
        }))
    }

    fn waiter(id: u64, retry: bool) -> Waiter {
        Waiter {
            state: Arc::new(BlockState::new(0, id)),
            db: 0,
            args: Arc::new(Vec::new()),
            serve: take,
            log: |_, _| Vec::new(),
            wants: "string",
            retry_elsewhere: retry,
            also_writes: None,
        }
    }

    fn poll<T>(rx: &mut oneshot::Receiver<T>) -> Option<Option<T>> {
        let mut cx = Context::from_waker(Waker::noop());
        match std::pin::Pin::new(rx).poll(&mut cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }

    fn key(k: &str) -> Bytes {
        Bytes::copy_from_slice(k.as_bytes())
    }

    #[test]
    fn waiters_are_served_once_each_in_arrival_order() {
        let mut b = Blocking::default();
        let mut ks = Keyspace::new(1);
        let (w1, w2) = (waiter(1, false), waiter(2, false));
        let mut rx1 = b.add_client(10, w1.state.clone(), false);
        let mut rx2 = b.add_client(11, w2.state.clone(), false);
        assert!(matches!(
            register(&mut b, &mut ks, 0, key("k"), w1),
            Registration::Queued
        ));
        assert!(matches!(
            register(&mut b, &mut ks, 0, key("k"), w2),
            Registration::Queued
        ));
        ks.dbs[0].set(b"k", Value::from_bytes(b"a"), 0);
        assert!(serve_ready(
            0,
            &mut b,
            &mut ks,
            &mut AofState::default(),
            &LockTable::default(),
            0
        )
        .is_empty());
        assert!(matches!(poll(&mut rx1), Some(Some(Delivery::Reply(Frame::Bulk(v)))) if v == "a"));
        assert!(poll(&mut rx2).is_none(), "one element serves one client");
        ks.dbs[0].set(b"k", Value::from_bytes(b"b"), 0);
        serve_ready(
            0,
            &mut b,
            &mut ks,
            &mut AofState::default(),
            &LockTable::default(),
            0,
        );
        assert!(matches!(poll(&mut rx2), Some(Some(Delivery::Reply(Frame::Bulk(v)))) if v == "b"));
        assert!(!b.has_waiters(), "served queues are dropped");
        assert!(!ks.dbs[0].has_blocked());
    }

    #[test]
    fn an_ended_wait_is_never_served() {
        let mut b = Blocking::default();
        let mut ks = Keyspace::new(1);
        let (w1, w2) = (waiter(1, false), waiter(2, false));
        let _rx1 = b.add_client(10, w1.state.clone(), false);
        let mut rx2 = b.add_client(11, w2.state.clone(), false);
        let first = w1.state.clone();
        register(&mut b, &mut ks, 0, key("k"), w1);
        register(&mut b, &mut ks, 0, key("k"), w2);
        assert!(first.end(), "the timeout wins while nothing was pushed");
        ks.dbs[0].set(b"k", Value::from_bytes(b"a"), 0);
        serve_ready(
            0,
            &mut b,
            &mut ks,
            &mut AofState::default(),
            &LockTable::default(),
            0,
        );
        assert!(matches!(poll(&mut rx2), Some(Some(Delivery::Reply(_)))));
        assert!(!first.end(), "ending twice fails");
    }

    #[test]
    fn a_present_key_serves_at_once_and_a_wrong_type_fails() {
        let mut b = Blocking::default();
        let mut ks = Keyspace::new(1);
        ks.dbs[0].set(b"k", Value::from_bytes(b"a"), 0);
        assert!(matches!(
            register(&mut b, &mut ks, 0, key("k"), waiter(1, false)),
            Registration::Served(Frame::Bulk(_))
        ));
        ks.dbs[0].set(b"k", Value::from_bytes(b"a"), 0);
        let mut w = waiter(2, false);
        w.wants = "list";
        assert!(matches!(
            register(&mut b, &mut ks, 0, key("k"), w),
            Registration::Failed(Frame::Error(_))
        ));
    }

    #[test]
    fn a_cross_shard_move_is_claimed_for_retry_and_holds_the_queue() {
        let mut b = Blocking::default();
        let mut ks = Keyspace::new(1);
        let (w1, w2) = (waiter(1, true), waiter(2, false));
        let mut rx1 = b.add_client(10, w1.state.clone(), false);
        let mut rx2 = b.add_client(11, w2.state.clone(), false);
        register(&mut b, &mut ks, 0, key("k"), w1);
        register(&mut b, &mut ks, 0, key("k"), w2);
        ks.dbs[0].set(b"k", Value::from_bytes(b"a"), 0);
        serve_ready(
            0,
            &mut b,
            &mut ks,
            &mut AofState::default(),
            &LockTable::default(),
            0,
        );
        assert!(matches!(poll(&mut rx1), Some(Some(Delivery::Retry { .. }))));
        assert!(
            poll(&mut rx2).is_none(),
            "the next waiter waits for the retry"
        );
        ks.dbs[0].mark_ready(b"k");
        serve_ready(
            0,
            &mut b,
            &mut ks,
            &mut AofState::default(),
            &LockTable::default(),
            0,
        );
        assert!(matches!(poll(&mut rx2), Some(Some(Delivery::Reply(_)))));
    }
}
