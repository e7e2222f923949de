//! The thread-per-core runtime: one glommio executor per shard, and the messages between them.
//!
//! Each shard thread owns a [`ShardData`] (its keyspace, its lock table, its clients) that no
//! other thread ever touches. Work for another shard travels as a closure into that shard's
//! [`mailbox`], and its result comes back into the sender's. Mailboxes never fill, so a shard
//! answering a request never waits on another; and a shard asleep in its ring is rung awake by
//! whoever posts to it (see [`mailbox`] and [`uring`]).
//!
//! [`Node`] is a shard's handle on all of this; connection tasks on the shard share it through
//! an `Rc`. The cross-shard transaction layer built on it lives in [`tx`].

pub mod aof;
pub mod blocking;
pub mod clients;
pub mod evict;
pub mod expire;
pub mod global;
pub mod introspect;
pub mod locks;
pub mod mailbox;
pub mod oneshot;
pub mod pubsub;
pub mod scripts;
pub mod task;
pub mod timer;
pub mod tracking;
pub mod tx;
pub mod uring;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use ahash::AHashMap;

use crate::db::Keyspace;
use crate::shard::global::Global;
use crate::types::histogram::Histogram;
use locks::{Acquired, Claim, LockKey, LockTable};
use mailbox::Mailbox;

/// Everything one shard owns.
pub struct ShardData {
    pub id: usize,
    pub ks: Keyspace,
    pub locks: LockTable,
    pub stats: ShardStats,
    pub clients: crate::shard::clients::ClientRegistry,
    pub blocking: blocking::Blocking,
    pub aof: crate::shard::aof::AofState,
    pub pubsub: pubsub::PubSub,
    pub introspect: introspect::Introspect,
    /// `client-output-buffer-limit` by class, which pushes to this shard's clients are held
    /// to ([`ShardData::push`]).
    pub obuf_limits: [crate::config::ObufLimit; 3],
    /// Work for other shards that a job running here produced (it has no `Node` to send it
    /// with); sent as soon as the job ends.
    pub outgoing: Vec<(usize, PostFn)>,
}

/// Work posted to another shard, answered by nobody.
pub type PostFn = Box<dyn FnOnce(&mut ShardData) + Send>;

impl ShardData {
    /// Takes in the settings the shard caches from the configuration; called at start-up and
    /// on every shard after each CONFIG SET, so the data path never reads the config store.
    pub fn apply_config(&mut self, config: &crate::config::Config) {
        self.ks.stats.lfu = evict::lfu_of(config);
        self.ks.limits = encoding_limits(config);
        self.aof.fsync = config.appendfsync();
        self.stats.latency_tracking = config.latency_tracking();
        self.obuf_limits = crate::config::ClientClass::ALL.map(|class| config.obuf_limit(class));
        crate::db::notify::set_enabled(config.notify_keyspace_events());
        self.introspect.apply_config(config);
        crate::db::tracking::set_max_keys(config.tracking_table_max_keys() as usize);
    }
}

impl ShardData {
    /// Queues a push (a Pub/Sub message, a MONITOR line, an invalidation) for one of this
    /// shard's clients, and closes a client whose waiting output passes its class's output
    /// buffer limit, as Redis does, rather than letting a client that does not read hold
    /// memory without bound.
    pub fn push(&self, client: &clients::ClientInfo, bytes: &[u8]) {
        if client.killed.get() {
            return;
        }
        client.outbox.push(bytes);
        let pending = client.outbox.len() + client.unsent.get();
        let limit = self.obuf_limits[clients::client_class(client) as usize];
        if client.over_output_limit(pending, limit, crate::db::clock::last()) {
            client.close_for_output_limit();
        }
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

/// Per-command counters for INFO commandstats and latencystats; merged across shards on
/// demand.
#[derive(Default, Clone, Debug)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
    /// Durations in nanoseconds while `latency-tracking` is on; made at the first one, as
    /// Redis makes a command's histogram at its first call.
    pub latency: Option<Box<Histogram>>,
}

/// A shard's counters for INFO stats; CONFIG RESETSTAT zeroes them (`Default`), keeping the
/// settings.
#[derive(Default)]
pub struct ShardStats {
    pub commands: AHashMap<&'static str, CmdStat>,
    /// Error replies by their first word (`ERR`, `WRONGTYPE`...), INFO errorstats.
    pub errors: BTreeMap<String, u64>,
    pub total_error_replies: u64,
    pub total_commands: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    /// Reads from and writes to client sockets.
    pub reads_processed: u64,
    pub writes_processed: u64,
    /// Running share of expired keys among those the active expiry cycle sampled.
    pub expired_stale_perc: f64,
    /// Active expiry cycles that stopped for their time budget.
    pub expired_time_cap_reached: u64,
    pub expire_cycle_usec: u64,
    /// Per-second rates sampled by the client cron (`instantaneous_*`).
    pub instantaneous: Instantaneous,
    /// Whether command durations go into `CmdStat::latency` (`latency-tracking`), cached.
    pub latency_tracking: bool,
}

impl ShardStats {
    /// Counts an error reply under its first word, as Redis's `afterErrorReply`: the word
    /// before the first space within 32 bytes, or `ERR` when there is none.
    pub fn count_error(&mut self, text: &[u8]) {
        self.total_error_replies += 1;
        let head = &text[..text.len().min(32)];
        let prefix = match memchr::memchr(b' ', head) {
            Some(end) => &text[..end],
            None => b"ERR",
        };
        let name = String::from_utf8_lossy(prefix);
        match self.errors.get_mut(name.as_ref()) {
            Some(n) => *n += 1,
            None => {
                self.errors.insert(name.into_owned(), 1);
            }
        }
    }

    /// CONFIG RESETSTAT: every counter back to zero, the cached setting kept.
    pub fn reset(&mut self) {
        *self = ShardStats {
            latency_tracking: self.latency_tracking,
            ..Default::default()
        };
    }
}

/// Redis's instantaneous metrics: every 100 ms the rate since the previous sample, the last
/// sixteen averaged.
#[derive(Default)]
pub struct Instantaneous {
    last: Option<(std::time::Instant, [u64; 3])>,
    samples: [[u64; 3]; METRIC_SAMPLES],
    next: usize,
}

const METRIC_SAMPLES: usize = 16;

impl Instantaneous {
    /// Takes a sample of the totals (commands, input bytes, output bytes) if 100 ms have
    /// passed since the last one.
    pub fn sample(&mut self, now: std::time::Instant, totals: [u64; 3]) {
        let Some((at, before)) = self.last else {
            self.last = Some((now, totals));
            return;
        };
        let ms = now.saturating_duration_since(at).as_millis() as u64;
        if ms < 100 {
            return;
        }
        self.samples[self.next] =
            std::array::from_fn(|i| totals[i].saturating_sub(before[i]) * 1000 / ms);
        self.next = (self.next + 1) % METRIC_SAMPLES;
        self.last = Some((now, totals));
    }

    /// Per second: commands, input bytes, output bytes.
    pub fn rates(&self) -> [u64; 3] {
        std::array::from_fn(|i| {
            self.samples.iter().map(|s| s[i]).sum::<u64>() / METRIC_SAMPLES as u64
        })
    }
}

/// The most shards a process may have (`--threads`): ids that name a shard keep it in this
/// many low bits (SCAN cursors, request ids).
pub const MAX_SHARDS: usize = 1024;
pub const SHARD_BITS: u32 = MAX_SHARDS.trailing_zeros();

type AnyBox = Box<dyn Any + Send>;
/// A piece of work for another shard. It owns everything it uses (`'static + Send`): nothing
/// borrowed from the sending shard crosses cores.
pub type Job = Box<dyn FnOnce(&mut ShardData) -> AnyBox + Send>;

pub enum Request {
    /// Run `job` once none of `wait_for` is claimed here; answer with its result if `id` is
    /// given.
    Run {
        id: Option<u64>,
        job: Job,
        wait_for: Vec<LockKey>,
    },
    /// Lock `claim` for transaction `owner` and answer `(granted, result of then)`. With `wait`
    /// the answer comes once granted; without, at once, and a refusal takes nothing. `then`
    /// runs right after the grant, before anything else can touch the keys.
    Lock {
        id: u64,
        owner: u64,
        claim: Claim,
        wait: bool,
        then: Option<Job>,
    },
}

pub struct Response {
    id: u64,
    value: AnyBox,
}

/// What lands in a shard's mailbox.
pub enum Mail {
    Request { from: usize, request: Request },
    Response(Response),
}

pub struct Node {
    pub id: usize,
    pub shards: usize,
    pub data: RefCell<ShardData>,
    pub global: Arc<Global>,
    /// Every shard's mailbox, this one's included: how work and answers reach a shard.
    mail: Arc<[Mailbox<Mail>]>,
    pending: RefCell<AHashMap<u64, oneshot::Sender<AnyBox>>>,
    next_id: Cell<u64>,
}

impl Node {
    /// The shard `id`'s node, with every shard's mailbox. Called once per shard thread at
    /// start-up; the shard's ring driver then takes its mail (see [`Node::take_mail`]).
    pub fn new(global: Arc<Global>, id: usize, mail: Arc<[Mailbox<Mail>]>) -> Rc<Node> {
        let shards = mail.len();
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
                pubsub: pubsub::PubSub::new(id, global.pubsub_listening.clone()),
                introspect: Default::default(),
                obuf_limits: Default::default(),
                outgoing: Vec::new(),
            }),
            global,
            mail,
            pending: RefCell::new(AHashMap::new()),
            next_id: Cell::new(1),
        });
        node.data
            .borrow_mut()
            .apply_config(&node.global.config.snapshot());
        crate::db::tracking::share_total(node.global.tracking_keys.clone());
        node
    }

    /// This shard's mailbox (its bell is what the ring driver waits on).
    fn mailbox(&self) -> &Mailbox<Mail> {
        &self.mail[self.id]
    }

    /// Serves what other shards sent: runs their requests, hands their answers to whoever
    /// waits. Called by the ring driver on every turn; returns how many messages it took.
    fn take_mail(self: &Rc<Self>) -> usize {
        let mail = self.mailbox().take();
        let n = mail.len();
        for m in mail {
            match m {
                Mail::Request { from, request } => {
                    // Each job sees the time it starts at, as each command does in Redis,
                    // however long the jobs before it ran.
                    crate::db::clock::tick();
                    self.serve(from, request)
                }
                Mail::Response(Response { id, value }) => {
                    let waiter = self.pending.borrow_mut().remove(&id);
                    if let Some(waiter) = waiter {
                        waiter.send(value);
                    }
                }
            }
        }
        if n > 0 {
            // And what runs next does not inherit the time before these jobs.
            crate::db::clock::tick();
        }
        n
    }

    /// An id unique across all shards, for requests, blocked clients and the lock requests of
    /// single-shard commands. The top bit keeps them apart from transaction ids
    /// (`Persist::next_tx_id`), which own locks too.
    pub fn fresh_id(&self) -> u64 {
        let n = self.next_id.get();
        self.next_id.set(n + 1);
        (1 << 63) | (n << SHARD_BITS) | self.id as u64
    }

    /// Runs `fut` in a task of its own and waits for its result. The task finishes even if the
    /// caller stops waiting (its client left): a multi-shard operation, once begun, always
    /// completes and releases what it holds, however its caller is cancelled.
    pub async fn detached<T: 'static>(fut: impl std::future::Future<Output = T> + 'static) -> T {
        crate::shard::task::spawn(fut)
            .detach()
            .await
            .expect("a detached task runs to completion")
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
        let value = self.ask(shard, job(f), wait_for).await;
        *value
            .downcast::<R>()
            .expect("a job's result has the type its sender expects")
    }

    /// Runs `f` on every shard in `jobs` at once and returns the results in the same order;
    /// this shard's own job (if any) runs inline while the others are on their way.
    pub async fn run_on_each<R, F>(self: &Rc<Self>, jobs: Vec<(usize, F)>) -> Vec<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut ShardData) -> R + Send + 'static,
    {
        let jobs = jobs.into_iter().map(|(s, f)| (s, Vec::new(), f)).collect();
        self.run_on_each_unlocked(jobs).await
    }

    /// [`Node::run_on_each`], each job waiting until none of its keys is locked on its shard.
    pub async fn run_on_each_unlocked<R, F>(
        self: &Rc<Self>,
        jobs: Vec<(usize, Vec<LockKey>, F)>,
    ) -> Vec<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut ShardData) -> R + Send + 'static,
    {
        let mut waits = Vec::with_capacity(jobs.len());
        let mut local = None;
        for (i, (shard, wait_for, f)) in jobs.into_iter().enumerate() {
            if shard == self.id {
                local = Some((i, wait_for, f));
                waits.push(None);
            } else {
                waits.push(Some(self.send_request(shard, job(f), wait_for)));
            }
        }
        let mut out: Vec<Option<R>> = (0..waits.len()).map(|_| None).collect();
        if let Some((i, wait_for, f)) = local {
            out[i] = Some(self.run_here(wait_for, f).await);
        }
        for (i, wait) in waits.into_iter().enumerate() {
            if let Some(wait) = wait {
                let value = wait.await;
                out[i] = Some(
                    *value
                        .downcast::<R>()
                        .expect("a job's result has the type its sender expects"),
                );
            }
        }
        out.into_iter()
            .map(|r| r.expect("every job answered"))
            .collect()
    }

    /// Runs `f` on `shard` without waiting for it: in order after everything this shard sent
    /// there before. Runs inline when the shard is this one.
    pub fn post<F>(self: &Rc<Self>, shard: usize, f: F)
    where
        F: FnOnce(&mut ShardData) + Send + 'static,
    {
        if shard == self.id {
            let mut data = self.data.borrow_mut();
            f(&mut data);
            self.after_job(&mut data);
        } else {
            self.send_unanswered(shard, job(f), Vec::new());
        }
    }

    /// Like [`Node::post`], but the job waits behind whoever holds or awaits `wait_for` there
    /// (an UNWATCH behind the WATCH registration still queued on the same key).
    pub fn post_behind<F>(self: &Rc<Self>, shard: usize, wait_for: Vec<LockKey>, f: F)
    where
        F: FnOnce(&mut ShardData) + Send + 'static,
    {
        if shard == self.id {
            let free = self
                .data
                .borrow()
                .locks
                .is_free(wait_for.iter().map(|(db, k)| (*db, k.as_bytes())));
            if free {
                return self.post(shard, f);
            }
            let node = self.clone();
            crate::shard::task::spawn(async move { node.run_here(wait_for, f).await }).detach();
        } else {
            self.send_unanswered(shard, job(f), wait_for);
        }
    }

    /// Runs `f` here, queueing behind any transaction that holds one of `wait_for`. If the
    /// caller goes away while queued, its place in the queue goes with it.
    pub async fn run_here<R>(
        self: &Rc<Self>,
        wait_for: Vec<LockKey>,
        f: impl FnOnce(&mut ShardData) -> R,
    ) -> R {
        let owner = self.fresh_id();
        let acquired = {
            let mut data = self.data.borrow_mut();
            let free = wait_for.is_empty()
                || data
                    .locks
                    .is_free(wait_for.iter().map(|(db, k)| (*db, k.as_bytes())));
            if free {
                // Runs to completion without yielding, so it needs no lock to be atomic.
                let r = f(&mut data);
                self.after_job(&mut data);
                return r;
            }
            data.locks.acquire(owner, Claim::Keys(wait_for), true)
        };
        let held = LocalClaim { node: self, owner };
        if let Acquired::Queued(granted) = acquired {
            granted.await;
        }
        let mut data = self.data.borrow_mut();
        let r = f(&mut data);
        drop(data);
        drop(held);
        r
    }

    /// Finishes a piece of work done on this shard's data: serves clients blocked on keys it
    /// created, and sends what it left for other shards. Called after everything that may
    /// write, before anything else runs on this shard.
    #[inline]
    pub fn after_job(self: &Rc<Self>, data: &mut ShardData) {
        if data.blocking.has_waiters() {
            self.serve_blocked(data);
        }
        if crate::db::notify::pending() {
            pubsub::publish_events(data);
        }
        if crate::db::tracking::active() {
            crate::db::tracking::enforce_limit();
        }
        if crate::db::tracking::pending() {
            tracking::send_owed(self, data);
        }
        // Work run here may owe more work (an invalidation for a client that redirects to
        // another shard's client): until none is left.
        while !data.outgoing.is_empty() {
            for (shard, f) in std::mem::take(&mut data.outgoing) {
                if shard == self.id {
                    f(data);
                } else {
                    self.send_unanswered(shard, job(f), Vec::new());
                }
            }
        }
    }

    fn serve_blocked(self: &Rc<Self>, data: &mut ShardData) {
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
        self.post(shard, move |data| blocking::deliver(data, block, delivery));
    }

    /// Runs `f` on every shard, this one included, and returns the results in shard order.
    /// Takes no locks: for what may see a multi-shard write on some shards and not others
    /// (INFO, CLIENT LIST, DBSIZE, CONFIG SET's refresh).
    pub async fn broadcast<R, F>(self: &Rc<Self>, f: F) -> Vec<R>
    where
        R: Send + 'static,
        F: Fn(&mut ShardData) -> R + Send + Clone + 'static,
    {
        self.run_on_each((0..self.shards).map(|s| (s, f.clone())).collect())
            .await
    }

    /// Sends `job` to `shard`, to run once none of `wait_for` is locked there; nobody waits
    /// for its result.
    fn send_unanswered(self: &Rc<Self>, shard: usize, job: Job, wait_for: Vec<LockKey>) {
        let id = None;
        self.send(shard, Request::Run { id, job, wait_for });
    }

    /// Sends `job` to `shard` and returns the wait for its answer.
    fn send_request(self: &Rc<Self>, shard: usize, job: Job, wait_for: Vec<LockKey>) -> Answer<'_> {
        let id = self.fresh_id();
        let answer = self.expect_answer(id);
        self.send(
            shard,
            Request::Run {
                id: Some(id),
                job,
                wait_for,
            },
        );
        answer
    }

    async fn ask(self: &Rc<Self>, shard: usize, job: Job, wait_for: Vec<LockKey>) -> AnyBox {
        self.send_request(shard, job, wait_for).await
    }

    /// Registers a wait for the response `id`; dropping it forgets the wait.
    fn expect_answer(&self, id: u64) -> Answer<'_> {
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        Answer { node: self, id, rx }
    }

    /// Sends `req` to `shard`, in order after everything sent there before, without waiting.
    fn send(self: &Rc<Self>, shard: usize, request: Request) {
        let from = self.id;
        self.mail[shard].post(Mail::Request { from, request });
    }

    /// Locks `claim` on `shard` for transaction `owner`. Without `wait`, answers at once whether
    /// it was granted (a refusal takes nothing); with it, once granted. `then` runs right after a
    /// grant, on that shard, and its result comes back with the answer.
    pub fn lock_on<R, F>(
        self: &Rc<Self>,
        shard: usize,
        owner: u64,
        claim: Claim,
        wait: bool,
        then: Option<F>,
    ) -> LockAnswer<'_, R>
    where
        R: Send + 'static,
        F: FnOnce(&mut ShardData) -> R + Send + 'static,
    {
        if shard == self.id {
            let acquired = self.data.borrow_mut().locks.acquire(owner, claim, wait);
            return LockAnswer::Local {
                node: self,
                acquired: Some(acquired),
                then: then.map(|f| Box::new(f) as Box<dyn FnOnce(&mut ShardData) -> R + Send>),
            };
        }
        let id = self.fresh_id();
        let answer = self.expect_answer(id);
        self.send(
            shard,
            Request::Lock {
                id,
                owner,
                claim,
                wait,
                then: then.map(job),
            },
        );
        LockAnswer::Remote(answer, std::marker::PhantomData)
    }

    fn respond(self: &Rc<Self>, to: usize, id: u64, value: AnyBox) {
        self.mail[to].post(Mail::Response(Response { id, value }));
    }
}

/// Boxes a closure as a [`Job`].
fn job<R, F>(f: F) -> Job
where
    R: Send + 'static,
    F: FnOnce(&mut ShardData) -> R + Send + 'static,
{
    Box::new(move |data| Box::new(f(data)) as AnyBox)
}

/// The wait for one response. Dropping it (the caller was cancelled) forgets the request's
/// entry; the response, when it comes, is dropped.
pub struct Answer<'a> {
    node: &'a Node,
    id: u64,
    rx: oneshot::Receiver<AnyBox>,
}

impl std::future::Future for Answer<'_> {
    type Output = AnyBox;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<AnyBox> {
        std::pin::Pin::new(&mut self.rx)
            .poll(cx)
            .map(|v| v.expect("every request is answered"))
    }
}

impl Drop for Answer<'_> {
    fn drop(&mut self) {
        self.node.pending.borrow_mut().remove(&self.id);
    }
}

/// The answer to [`Node::lock_on`]: whether the locks were granted, and what `then` returned.
pub enum LockAnswer<'a, R> {
    Local {
        node: &'a Rc<Node>,
        acquired: Option<Acquired>,
        then: Option<Box<dyn FnOnce(&mut ShardData) -> R + Send>>,
    },
    Remote(Answer<'a>, std::marker::PhantomData<R>),
}

impl<R: Send + 'static> LockAnswer<'_, R> {
    pub async fn granted(self) -> (bool, Option<R>) {
        match self {
            LockAnswer::Local {
                node,
                acquired,
                then,
            } => {
                let granted = match acquired.expect("answered once") {
                    Acquired::Granted => true,
                    Acquired::Queued(rx) => rx.await.is_some(),
                    Acquired::Refused => false,
                };
                let result = match (granted, then) {
                    (true, Some(f)) => {
                        let mut data = node.data.borrow_mut();
                        let r = f(&mut data);
                        node.after_job(&mut data);
                        Some(r)
                    }
                    _ => None,
                };
                (granted, result)
            }
            LockAnswer::Remote(answer, _) => {
                let (granted, value) = *answer
                    .await
                    .downcast::<(bool, Option<AnyBox>)>()
                    .expect("a lock answer");
                let result = value.map(|v| {
                    *v.downcast::<R>()
                        .expect("a job's result has the type its sender expects")
                });
                (granted, result)
            }
        }
    }
}

/// A single-shard command's place in this shard's lock queue: released when dropped, whether
/// the command ran or its caller gave up waiting.
struct LocalClaim<'a> {
    node: &'a Rc<Node>,
    owner: u64,
}

impl Drop for LocalClaim<'_> {
    fn drop(&mut self) {
        let mut data = self.node.data.borrow_mut();
        data.locks.release(self.owner);
        self.node.after_job(&mut data);
    }
}

impl Node {
    /// Serves one request from shard `peer`.
    fn serve(self: &Rc<Self>, peer: usize, request: Request) {
        match request {
            Request::Run { id, job, wait_for } => {
                let runnable = wait_for.is_empty() || {
                    let data = self.data.borrow();
                    data.locks
                        .is_free(wait_for.iter().map(|(db, k)| (*db, k.as_bytes())))
                };
                if runnable {
                    let value = {
                        let mut data = self.data.borrow_mut();
                        let value = job(&mut data);
                        self.after_job(&mut data);
                        value
                    };
                    if let Some(id) = id {
                        self.respond(peer, id, value);
                    }
                } else {
                    let node = self.clone();
                    crate::shard::task::spawn(async move {
                        let value = node.run_here(wait_for, job).await;
                        if let Some(id) = id {
                            node.respond(peer, id, value);
                        }
                    })
                    .detach();
                }
            }
            Request::Lock {
                id,
                owner,
                claim,
                wait,
                then,
            } => {
                let acquired = self.data.borrow_mut().locks.acquire(owner, claim, wait);
                let granted = match acquired {
                    Acquired::Granted => true,
                    Acquired::Refused => false,
                    Acquired::Queued(rx) => {
                        let node = self.clone();
                        crate::shard::task::spawn(async move {
                            let granted = rx.await.is_some();
                            let value = lock_then(&node, granted, then);
                            node.respond(peer, id, Box::new((granted, value)));
                        })
                        .detach();
                        return;
                    }
                };
                let value = lock_then(self, granted, then);
                self.respond(peer, id, Box::new((granted, value)));
            }
        }
    }
}

/// Runs a lock request's `then` job if the locks were granted.
fn lock_then(node: &Rc<Node>, granted: bool, then: Option<Job>) -> Option<AnyBox> {
    let f = then.filter(|_| granted)?;
    let mut data = node.data.borrow_mut();
    let value = f(&mut data);
    node.after_job(&mut data);
    Some(value)
}

/// The ring driver serves the shard's mailbox (see `uring::Driver`).
impl uring::Incoming for Rc<Node> {
    fn bell(&self) -> std::os::fd::RawFd {
        self.mailbox().bell()
    }

    fn take(&self) -> usize {
        self.take_mail()
    }

    fn waiting(&self) -> bool {
        self.mailbox().waiting()
    }

    fn sleep(&self) -> bool {
        self.mailbox().sleep()
    }

    fn awake(&self) {
        self.mailbox().awake()
    }
}
