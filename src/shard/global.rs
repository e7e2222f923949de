//! Process-wide state: the little that all shards share. Settings that CONFIG SET may change,
//! client id allocation, the persistence status, and the channel to the control thread.
//! Everything on the data path lives in the shards; what is here is read rarely or through
//! atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Instant;

use bytes::Bytes;

use crate::config::{ClientClass, ConfigStore, ObufLimit};
use crate::resp::parse::Limits;
use std::sync::Arc;

pub struct Global {
    pub databases: usize,
    pub shards: usize,
    pub config: Arc<ConfigStore>,
    pub started: Instant,
    next_client_id: AtomicU64,
    /// Clients connected on every shard, for `maxclients`.
    pub clients: std::sync::atomic::AtomicUsize,
    /// CLIENT PAUSE: Unix ms until which clients are paused (0 = not), and whether only writes.
    pub pause_until_ms: AtomicU64,
    pub pause_writes_only: std::sync::atomic::AtomicBool,
    /// DEBUG SET-ACTIVE-EXPIRE: a runtime switch, not a configuration parameter.
    pub active_expire: std::sync::atomic::AtomicBool,
    /// DEBUG PAUSE-CRON: the timers (Redis's serverCron: persistence, clients, active expiry)
    /// skip their work while set.
    pub pause_cron: std::sync::atomic::AtomicBool,
    pub control: std::sync::mpsc::Sender<ControlMsg>,
    pub run_id: String,
    limits: RwLock<Limits>,
    /// `client-output-buffer-limit`, by [`ClientClass`], checked after every reply.
    obuf_limits: RwLock<[ObufLimit; 3]>,
    requirepass: RwLock<Option<Bytes>>,
    /// `maxmemory`, read before every command that may grow memory; 0 means no limit.
    maxmemory: AtomicU64,
    pub aof: crate::shard::aof::AofStatus,
    /// The replication id INFO replication shows: like a Redis master's, random at start,
    /// though no replica has used it yet.
    pub replid: String,
    /// The most memory in use at once, sampled by the client cron and by INFO, as Redis's
    /// serverCron samples it (`used_memory_peak`).
    pub peak_memory: AtomicU64,
    /// Lua scripts, cached for EVALSHA on every shard, and the one running now.
    pub scripts: crate::shard::scripts::Store,
    /// Memory in use once the server was ready (`used_memory_startup`).
    pub startup_memory: AtomicU64,
    pub eviction_exceeded: crate::shard::evict::ExceededTime,
    /// Each shard's count of its clients' channel and pattern subscriptions (`shard::pubsub`).
    pub pubsub_listening: Arc<[std::sync::atomic::AtomicUsize]>,
    /// The slow log and the latency monitor's events, of every shard (`shard::introspect`).
    pub slowlog: std::sync::Mutex<crate::types::slowlog::SlowLog>,
    pub latency: std::sync::Mutex<crate::types::latency::LatencyEvents>,
    /// Each shard's count of its MONITOR clients.
    pub monitors: Box<[std::sync::atomic::AtomicUsize]>,
    /// Clients with CLIENT TRACKING on (INFO's `tracking_clients`), and each shard's count of
    /// those tracking by prefix (`shard::tracking`).
    pub tracking_clients: std::sync::atomic::AtomicUsize,
    pub tracking_bcast: Arc<[std::sync::atomic::AtomicUsize]>,
    /// Keys every shard's tracking table holds, for `tracking-table-max-keys`.
    pub tracking_keys: Arc<std::sync::atomic::AtomicUsize>,
}

pub enum ControlMsg {
    /// Exit now (SHUTDOWN has already done what had to be done).
    Shutdown,
    /// SIGTERM or SIGINT arrived.
    Signal(i32),
    /// Run this on the control thread: it is not a shard, so it may block, and it holds no
    /// shard's locks (a fork of frozen shards happens there).
    Run(Box<dyn FnOnce(&Arc<Global>) + Send>),
}

/// Ends the process once the listening sockets are released (see `uring::stop_listening`) and
/// the files that only say the server runs (its pid file, its Unix socket) are removed.
pub fn exit(code: i32) -> ! {
    crate::shard::uring::stop_listening();
    for path in REMOVE_AT_EXIT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = std::fs::remove_file(path);
    }
    std::process::exit(code)
}

/// Files for [`exit`] to remove.
static REMOVE_AT_EXIT: std::sync::Mutex<Vec<std::path::PathBuf>> =
    std::sync::Mutex::new(Vec::new());

pub fn remove_at_exit(path: &std::path::Path) {
    REMOVE_AT_EXIT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.to_path_buf());
}

impl Global {
    /// Whether DEBUG PAUSE-CRON holds the timers.
    pub fn cron_paused(&self) -> bool {
        self.pause_cron.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn new(
        config: Arc<ConfigStore>,
        shards: usize,
        control: std::sync::mpsc::Sender<ControlMsg>,
        run_id: String,
    ) -> Global {
        let global = Global {
            databases: config.snapshot().databases(),
            shards,
            config,
            started: Instant::now(),
            next_client_id: AtomicU64::new(1),
            clients: Default::default(),
            pause_until_ms: AtomicU64::new(0),
            pause_writes_only: Default::default(),
            active_expire: std::sync::atomic::AtomicBool::new(true),
            pause_cron: std::sync::atomic::AtomicBool::new(false),
            control,
            run_id,
            limits: RwLock::new(Limits::default()),
            obuf_limits: RwLock::new([ObufLimit::default(); 3]),
            requirepass: RwLock::new(None),
            maxmemory: AtomicU64::new(0),
            aof: crate::shard::aof::AofStatus::new(shards),
            replid: random_hex_id(),
            peak_memory: AtomicU64::new(0),
            scripts: Default::default(),
            startup_memory: AtomicU64::new(0),
            eviction_exceeded: Default::default(),
            pubsub_listening: (0..shards).map(|_| Default::default()).collect(),
            slowlog: Default::default(),
            latency: Default::default(),
            monitors: (0..shards).map(|_| Default::default()).collect(),
            tracking_clients: Default::default(),
            tracking_bcast: (0..shards).map(|_| Default::default()).collect(),
            tracking_keys: Default::default(),
        };
        global.refresh();
        global
    }

    /// Memory in use now, raising the recorded peak if it is higher.
    pub fn sample_memory(&self) -> u64 {
        let used = crate::alloc::used_memory();
        self.peak_memory.fetch_max(used, Ordering::Relaxed);
        used
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn limits(&self) -> Limits {
        *self
            .limits
            .read()
            .expect("limits lock is never poisoned: writers do not panic")
    }

    pub fn obuf_limit(&self, class: ClientClass) -> ObufLimit {
        self.obuf_limits.read().expect("not poisoned")[class as usize]
    }

    pub fn requirepass(&self) -> Option<Bytes> {
        self.requirepass
            .read()
            .expect("requirepass lock is never poisoned")
            .clone()
    }

    /// Re-reads the settings cached here after CONFIG SET.
    pub fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Relaxed)
    }

    pub fn refresh(&self) {
        let c = self.config.snapshot();
        self.maxmemory.store(c.maxmemory(), Ordering::Relaxed);
        *self.limits.write().expect("not poisoned") = Limits {
            proto_max_bulk_len: c.proto_max_bulk_len() as usize,
            client_query_buffer_limit: c.client_query_buffer_limit() as usize,
        };
        *self.obuf_limits.write().expect("not poisoned") =
            ClientClass::ALL.map(|class| c.obuf_limit(class));
        *self.requirepass.write().expect("not poisoned") =
            c.requirepass().map(Bytes::copy_from_slice);
    }
}

/// Forty random hex digits, as Redis makes its run id and replication id.
pub fn random_hex_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| std::char::from_digit(rng.gen_range(0..16), 16).expect("digit < 16"))
        .collect()
}
