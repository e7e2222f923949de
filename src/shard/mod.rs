//! The thread-per-core runtime: one glommio executor per shard, and the messages between them.
//!
//! Each shard thread owns a [`ShardData`] (its keyspace, its lock table, its clients) that no
//! other thread ever touches. Work for another shard travels as a closure through a glommio
//! channel mesh and its result comes back through a second mesh. Requests and responses use
//! separate meshes so that a shard answering a request never waits for a full queue that only
//! its own progress could drain.
//!
//! [`Node`] is a shard's handle on all of this; connection tasks on the shard share it through
//! an `Rc`. The cross-shard transaction layer built on it lives in [`tx`].

pub mod blocking;
pub mod evict;
pub mod expire;
pub mod locks;
pub mod oneshot;
pub mod tx;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use ahash::AHashMap;
use glommio::channels::channel_mesh::{MeshBuilder, Senders};
use glommio::channels::shared_channel::ConnectedReceiver;

use crate::db::Keyspace;
use crate::server::Global;
use locks::{LockKey, LockTable};

/// Everything one shard owns.
pub struct ShardData {
    pub id: usize,
    pub ks: Keyspace,
    pub locks: LockTable,
    pub stats: ShardStats,
    pub clients: crate::net::clients::ClientRegistry,
    pub blocking: blocking::Blocking,
    pub aof: crate::persist::aof::AofState,
}

impl ShardData {
    /// Takes in the settings the shard caches from the configuration; called at start-up and
    /// on every shard after each CONFIG SET, so the data path never reads the config store.
    pub fn apply_config(&mut self, config: &crate::config::Config) {
        self.ks.stats.lfu = evict::lfu_of(config);
        self.ks.limits = encoding_limits(config);
        self.aof.fsync = config.appendfsync();
    }
}

/// The encoding thresholds the configuration sets.
pub fn encoding_limits(config: &crate::config::Config) -> crate::db::EncodingLimits {
    crate::db::EncodingLimits {
        hash_max_listpack_entries: config.hash_max_listpack_entries(),
        hash_max_listpack_value: config.hash_max_listpack_value(),
        set_max_intset_entries: config.set_max_intset_entries(),
        zset_max_listpack_entries: config.zset_max_listpack_entries(),
        zset_max_listpack_value: config.zset_max_listpack_value(),
        list_max_listpack_size: config.list_max_listpack_size(),
    }
}

/// Per-command counters for INFO commandstats; merged across shards on demand.
#[derive(Default, Clone, Debug)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

#[derive(Default)]
pub struct ShardStats {
    pub commands: AHashMap<&'static str, CmdStat>,
    pub total_commands: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
}

type AnyBox = Box<dyn Any + Send>;
/// A piece of work for another shard. It owns everything it uses (`'static + Send`): nothing
/// borrowed from the sending shard crosses cores.
pub type Job = Box<dyn FnOnce(&mut ShardData) -> AnyBox + Send>;

pub enum Request {
    /// Run `job`; if `wait_for` is non-empty, first wait until none of those keys is locked.
    Run {
        id: u64,
        job: Job,
        wait_for: Vec<LockKey>,
    },
    /// Lock `keys` for transaction `owner` and answer once granted.
    Lock {
        id: u64,
        owner: u64,
        keys: Vec<LockKey>,
    },
    /// Release what transaction `owner` holds. No answer.
    Unlock { owner: u64 },
}

pub struct Response {
    id: u64,
    value: AnyBox,
}

pub struct Node {
    pub id: usize,
    pub shards: usize,
    pub data: RefCell<ShardData>,
    pub global: Arc<Global>,
    requests: Senders<Request>,
    responses: Senders<Response>,
    pending: RefCell<AHashMap<u64, oneshot::Sender<AnyBox>>>,
    next_id: Cell<u64>,
}

impl Node {
    /// Joins the meshes and starts the tasks that serve other shards. Called once per shard
    /// thread at start-up; all shards must call it before any of them returns.
    pub async fn join(
        global: Arc<Global>,
        requests: MeshBuilder<Request, glommio::channels::channel_mesh::Full>,
        responses: MeshBuilder<Response, glommio::channels::channel_mesh::Full>,
    ) -> Rc<Node> {
        let (req_tx, mut req_rx) = requests.join().await.expect("request mesh join");
        let (resp_tx, mut resp_rx) = responses.join().await.expect("response mesh join");
        // Both meshes order peers by executor id, so the two agree on who is who.
        assert_eq!(req_tx.peer_id(), resp_tx.peer_id());
        let id = req_tx.peer_id();
        let shards = req_tx.nr_consumers();
        let databases = global.databases;
        let node = Rc::new(Node {
            id,
            shards,
            data: RefCell::new(ShardData {
                id,
                ks: Keyspace::new(databases),
                locks: LockTable::default(),
                stats: ShardStats::default(),
                blocking: Default::default(),
                clients: Default::default(),
                aof: Default::default(),
            }),
            global,
            requests: req_tx,
            responses: resp_tx,
            pending: RefCell::new(AHashMap::new()),
            next_id: Cell::new(1),
        });
        node.data
            .borrow_mut()
            .apply_config(&node.global.config.snapshot());
        for (peer, rx) in req_rx.streams() {
            glommio::spawn_local(serve_requests(node.clone(), peer, rx)).detach();
        }
        for (_, rx) in resp_rx.streams() {
            glommio::spawn_local(collect_responses(node.clone(), rx)).detach();
        }
        node
    }

    /// An id unique across all shards, for requests and transaction owners.
    pub fn fresh_id(&self) -> u64 {
        let n = self.next_id.get();
        self.next_id.set(n + 1);
        (n << 8) | self.id as u64
    }

    /// Runs `f` on `shard`'s data once none of `wait_for` is locked, and returns its result.
    /// Runs inline, without yielding, when the shard is this one and nothing is locked.
    pub async fn run_on<R, F>(self: &Rc<Self>, shard: usize, wait_for: Vec<LockKey>, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce(&mut ShardData) -> R + Send + 'static,
    {
        if shard == self.id {
            return self.run_here(wait_for, f).await;
        }
        let job: Job = Box::new(move |data| Box::new(f(data)) as AnyBox);
        let value = self
            .ask(shard, |id| Request::Run { id, job, wait_for })
            .await;
        *value
            .downcast::<R>()
            .expect("a job's result has the type its sender expects")
    }

    /// Runs `f` here, queueing behind any transaction that holds one of `wait_for`.
    pub async fn run_here<R>(
        self: &Rc<Self>,
        wait_for: Vec<LockKey>,
        f: impl FnOnce(&mut ShardData) -> R,
    ) -> R {
        let owner = self.fresh_id();
        let granted = {
            let mut data = self.data.borrow_mut();
            let free = wait_for.is_empty()
                || data
                    .locks
                    .can_grant(wait_for.iter().map(|(db, k)| (*db, k.as_bytes())));
            if free {
                // Runs to completion without yielding, so it needs no lock to be atomic.
                let r = f(&mut data);
                self.serve_blocked(&mut data);
                return r;
            }
            data.locks.acquire(owner, wait_for)
        };
        if let Some(granted) = granted {
            granted.await;
        }
        let mut data = self.data.borrow_mut();
        let r = f(&mut data);
        data.locks.release(owner);
        self.serve_blocked(&mut data);
        r
    }

    /// Serves clients blocked on keys the last command created. Called after every piece of
    /// work that may write, before anything else runs on this shard.
    #[inline]
    pub fn serve_blocked(self: &Rc<Self>, data: &mut ShardData) {
        if data.blocking.has_waiters() {
            self.serve_blocked_slow(data);
        }
    }

    fn serve_blocked_slow(self: &Rc<Self>, data: &mut ShardData) {
        let ShardData {
            id,
            ks,
            blocking,
            locks,
            aof,
            ..
        } = data;
        let out = blocking::serve_ready(*id, blocking, ks, aof, locks, crate::db::now_ms());
        for (shard, block, delivery) in out {
            self.send_delivery(shard, block, delivery);
        }
    }

    /// Hands a blocked client's reply to its shard without waiting.
    pub fn send_delivery(self: &Rc<Self>, shard: usize, block: u64, delivery: blocking::Delivery) {
        let node = self.clone();
        glommio::spawn_local(async move {
            node.run_on(shard, Vec::new(), move |data| {
                data.blocking.deliver(block, delivery)
            })
            .await
        })
        .detach();
    }

    /// Runs `f` on every shard, this one included, and returns the results in shard order.
    pub async fn broadcast<R, F>(self: &Rc<Self>, f: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&mut ShardData) -> R + Send + Clone + 'static,
    {
        let mut out = Vec::with_capacity(self.shards);
        for shard in 0..self.shards {
            out.push(self.run_on(shard, Vec::new(), f.clone()).await);
        }
        out
    }

    /// Sends a request built with a fresh id to `shard` and waits for its response.
    async fn ask(self: &Rc<Self>, shard: usize, make: impl FnOnce(u64) -> Request) -> AnyBox {
        let id = self.fresh_id();
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        if self.requests.send_to(shard, make(id)).await.is_err() {
            panic!("shard {shard} is gone");
        }
        rx.await.expect("every request is answered")
    }

    /// Locks `keys` on `shard` for transaction `owner`, waiting until granted.
    pub async fn lock_on(self: &Rc<Self>, shard: usize, owner: u64, keys: Vec<LockKey>) {
        if shard == self.id {
            let granted = self.data.borrow_mut().locks.acquire(owner, keys);
            if let Some(g) = granted {
                g.await;
            }
        } else {
            self.ask(shard, |id| Request::Lock { id, owner, keys })
                .await;
        }
    }

    /// Releases transaction `owner`'s locks on `shard`. Does not wait: requests between two
    /// shards are delivered in order, so the unlock arrives after the transaction's hops.
    pub fn unlock_on(self: &Rc<Self>, shard: usize, owner: u64) {
        if shard == self.id {
            let mut data = self.data.borrow_mut();
            data.locks.release(owner);
            self.serve_blocked(&mut data);
        } else {
            let node = self.clone();
            glommio::spawn_local(async move {
                let _ = node
                    .requests
                    .send_to(shard, Request::Unlock { owner })
                    .await;
            })
            .detach();
        }
    }

    fn respond(self: &Rc<Self>, to: usize, id: u64, value: AnyBox) {
        let msg = Response { id, value };
        // The response mesh only ever drains, so a full queue empties without our help; waiting
        // in a separate task keeps the request loop free.
        if let Err(err) = self.responses.try_send_to(to, msg) {
            let msg = match err {
                glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(msg)) => msg,
                // The peer's receiver is gone only when the process is exiting.
                _ => return,
            };
            let node = self.clone();
            glommio::spawn_local(async move {
                let _ = node.responses.send_to(to, msg).await;
            })
            .detach();
        }
    }
}

async fn serve_requests(node: Rc<Node>, peer: usize, rx: ConnectedReceiver<Request>) {
    while let Some(req) = rx.recv().await {
        match req {
            Request::Run { id, job, wait_for } => {
                let runnable = {
                    let data = node.data.borrow();
                    wait_for.is_empty()
                        || data
                            .locks
                            .can_grant(wait_for.iter().map(|(db, k)| (*db, k.as_bytes())))
                };
                if runnable {
                    let value = {
                        let mut data = node.data.borrow_mut();
                        let value = job(&mut data);
                        node.serve_blocked(&mut data);
                        value
                    };
                    node.respond(peer, id, value);
                } else {
                    let node = node.clone();
                    glommio::spawn_local(async move {
                        let value = node.run_here(wait_for, job).await;
                        node.respond(peer, id, value);
                    })
                    .detach();
                }
            }
            Request::Lock { id, owner, keys } => {
                let granted = node.data.borrow_mut().locks.acquire(owner, keys);
                match granted {
                    None => node.respond(peer, id, Box::new(())),
                    Some(g) => {
                        let node = node.clone();
                        glommio::spawn_local(async move {
                            g.await;
                            node.respond(peer, id, Box::new(()));
                        })
                        .detach();
                    }
                }
            }
            Request::Unlock { owner } => {
                let mut data = node.data.borrow_mut();
                data.locks.release(owner);
                node.serve_blocked(&mut data);
            }
        }
    }
}

async fn collect_responses(node: Rc<Node>, rx: ConnectedReceiver<Response>) {
    while let Some(Response { id, value }) = rx.recv().await {
        if let Some(waiter) = node.pending.borrow_mut().remove(&id) {
            waiter.send(value);
        }
    }
}
