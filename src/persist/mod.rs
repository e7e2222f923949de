//! Persistence: RDB snapshots (SAVE, BGSAVE, save points, shutdown) and loading at start-up.
//!
//! A snapshot needs every shard's keyspace at one instant. [`freeze`] stops every shard thread
//! between two commands (after claiming all shards whole, so no multi-shard write is half
//! applied) and hands their data to the shard that asked. SAVE then writes the file right
//! there; BGSAVE forks ([`fork`]) and lets the shards go at once, the child writing the file
//! from its copy-on-write image of the frozen moment. [`snapshot`] is the file writer both use;
//! [`load`] reads a file back at start-up, each shard decoding and inserting its own keys.
//!
//! The process-wide bookkeeping (what INFO persistence, LASTSAVE and the save points read)
//! lives in [`State`], inside `Global`, as atomics: shards and the child watcher update it from
//! their own threads.

pub mod aof;
pub mod aof_load;
pub mod cron;
pub mod fork;
pub mod freeze;
pub mod load;
pub mod snapshot;

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::config::Config;
use crate::server::ControlMsg;
use crate::shard::Node;
use snapshot::Target;

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Why BGSAVE could not start, in Redis's words.
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";

/// After a failed background save, save points wait this long before trying again.
const BGSAVE_RETRY_DELAY_S: u64 = 5;

pub struct State {
    /// Writes since start-up (Redis's `server.dirty`), one counter per shard so that shards
    /// never share a cache line on the write path.
    dirty: Box<[Padded]>,
    /// `dirty` when the last successful save began: changes since then are unsaved.
    dirty_at_save: AtomicU64,
    /// `dirty` when the running background save began.
    dirty_at_bgsave: AtomicU64,
    /// A save is under way (SAVE in a shard, or a BGSAVE child): there is only ever one.
    busy: AtomicBool,
    child_pid: AtomicI32,
    bgsave_started_ms: AtomicU64,
    last_save_unix: AtomicU64,
    last_bgsave_ok: AtomicBool,
    last_bgsave_try_unix: AtomicU64,
    last_bgsave_secs: AtomicI64,
    saves: AtomicU64,
    last_cow_bytes: AtomicU64,
    /// How long the shards stood still for the last fork: freezing, forking, letting go.
    latest_fork_usec: AtomicU64,
    total_forks: AtomicU64,
    /// BGSAVE SCHEDULE was asked while a save was running.
    scheduled: AtomicBool,
    /// Writes are refused with MISCONF: the last background save failed, save points are set
    /// and `stop-writes-on-bgsave-error` is on. Kept here so the write path reads one atomic.
    refuse_writes: AtomicBool,
    /// SIGTERM or SIGINT arrived; the cron acts on it.
    shutdown_asap: AtomicBool,
    /// Each shard's AOF positions (see `aof::settle`).
    pub aof_marks: Box<[std::sync::Arc<aof::AofMark>]>,
    /// The AOF is on with `appendfsync always`: replies wait for the disk.
    aof_always: AtomicBool,
    /// Shards whose last AOF write failed, and the error: writes are refused meanwhile.
    aof_failing: std::sync::atomic::AtomicUsize,
    aof_error: std::sync::Mutex<String>,
    /// The next multi-shard transaction id (see `next_tx_id`).
    tx_ids: AtomicU64,
    pub loading: AtomicBool,
    pub loaded_keys: AtomicU64,
    pub expired_on_load: AtomicU64,
}

pub fn unix_now() -> u64 {
    crate::db::now_ms() / 1000
}

impl State {
    pub fn new(shards: usize) -> State {
        State {
            dirty: (0..shards).map(|_| Padded::default()).collect(),
            dirty_at_save: AtomicU64::new(0),
            dirty_at_bgsave: AtomicU64::new(0),
            busy: AtomicBool::new(false),
            child_pid: AtomicI32::new(0),
            bgsave_started_ms: AtomicU64::new(0),
            last_save_unix: AtomicU64::new(unix_now()),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_try_unix: AtomicU64::new(0),
            last_bgsave_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            last_cow_bytes: AtomicU64::new(0),
            latest_fork_usec: AtomicU64::new(0),
            total_forks: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            refuse_writes: AtomicBool::new(false),
            shutdown_asap: AtomicBool::new(false),
            aof_marks: (0..shards).map(|_| Default::default()).collect(),
            aof_always: AtomicBool::new(false),
            aof_failing: Default::default(),
            aof_error: Default::default(),
            // Start-up time in the high bits: ids of this run never repeat an earlier run's,
            // whose AOF records may still be on disk.
            tx_ids: AtomicU64::new(crate::db::now_ms() << 20),
            loading: AtomicBool::new(false),
            loaded_keys: AtomicU64::new(0),
            expired_on_load: AtomicU64::new(0),
        }
    }

    /// A transaction id unique across shards and runs (lock owners, AOF parts).
    pub fn next_tx_id(&self) -> u64 {
        self.tx_ids.fetch_add(1, Relaxed)
    }

    /// Counts `n` writes done by a command of `shard`'s.
    #[inline]
    pub fn add_dirty(&self, shard: usize, n: u64) {
        self.dirty[shard].0.fetch_add(n, Relaxed);
    }

    fn dirty_total(&self) -> u64 {
        self.dirty.iter().map(|d| d.0.load(Relaxed)).sum()
    }

    /// Writes not yet in a snapshot (`rdb_changes_since_last_save`).
    pub fn unsaved_changes(&self) -> u64 {
        self.dirty_total()
            .saturating_sub(self.dirty_at_save.load(Relaxed))
    }

    #[inline]
    pub fn aof_always(&self) -> bool {
        self.aof_always.load(Relaxed)
    }

    pub fn set_aof_always(&self, on: bool) {
        self.aof_always.store(on, Relaxed);
    }

    /// Why writes are refused, if they are: a failed background save (with save points and
    /// `stop-writes-on-bgsave-error`), or an AOF that cannot be written. Redis's messages.
    #[inline]
    pub fn writes_refused(&self) -> Option<String> {
        if self.aof_failing.load(Relaxed) > 0 {
            let e = self.aof_error.lock().map(|e| e.clone()).unwrap_or_default();
            return Some(format!("MISCONF Errors writing to the AOF file: {e}"));
        }
        self.refuse_writes
            .load(Relaxed)
            .then(|| MISCONF_RDB.to_string())
    }

    /// A shard's AOF write failed (`Some`) or succeeded again (`None`); `was_failing` is
    /// whether it had failed before.
    pub fn aof_write_result(&self, error: Option<&str>, was_failing: bool) {
        match (error, was_failing) {
            (Some(e), false) => {
                if let Ok(mut m) = self.aof_error.lock() {
                    *m = e.to_string();
                }
                self.aof_failing.fetch_add(1, Relaxed);
            }
            (None, true) => {
                self.aof_failing.fetch_sub(1, Relaxed);
            }
            _ => {}
        }
    }

    /// Recomputes the MISCONF switch; after a save and after every CONFIG SET.
    pub fn update_refusal(&self, config: &Config) {
        let refuse = config.stop_writes_on_bgsave_error()
            && !config.save_points().is_empty()
            && !self.last_bgsave_ok.load(Relaxed);
        self.refuse_writes.store(refuse, Relaxed);
    }

    /// Claims the right to save; false when a save is already running.
    fn try_begin(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Relaxed, Relaxed)
            .is_ok()
    }

    fn end(&self) {
        self.busy.store(false, Relaxed);
    }

    pub fn bgsave_in_progress(&self) -> bool {
        self.child_pid.load(Relaxed) != 0
    }

    pub fn saving(&self) -> bool {
        self.busy.load(Relaxed)
    }

    pub fn last_save_unix(&self) -> u64 {
        self.last_save_unix.load(Relaxed)
    }

    pub fn latest_fork_usec(&self) -> u64 {
        self.latest_fork_usec.load(Relaxed)
    }

    pub fn total_forks(&self) -> u64 {
        self.total_forks.load(Relaxed)
    }

    pub fn schedule(&self) {
        self.scheduled.store(true, Relaxed);
    }

    pub fn request_shutdown(&self) -> bool {
        self.shutdown_asap.swap(true, Relaxed)
    }

    fn bgsave_started(&self, pid: i32, dirty: u64) {
        self.dirty_at_bgsave.store(dirty, Relaxed);
        self.bgsave_started_ms.store(crate::db::now_ms(), Relaxed);
        self.last_bgsave_try_unix.store(unix_now(), Relaxed);
        self.child_pid.store(pid, Relaxed);
    }

    /// The child is gone: records how it went and frees the save claim.
    fn finish_bgsave(&self, ok: bool, took: Duration) {
        if ok {
            self.dirty_at_save
                .store(self.dirty_at_bgsave.load(Relaxed), Relaxed);
            self.last_save_unix.store(unix_now(), Relaxed);
            self.saves.fetch_add(1, Relaxed);
        }
        self.last_bgsave_ok.store(ok, Relaxed);
        self.last_bgsave_secs.store(took.as_secs() as i64, Relaxed);
        self.child_pid.store(0, Relaxed);
        self.end();
    }

    /// A foreground save (SAVE, shutdown) succeeded; `dirty` is the count it started from.
    fn saved(&self, dirty: u64) {
        self.dirty_at_save.store(dirty, Relaxed);
        self.last_save_unix.store(unix_now(), Relaxed);
        self.saves.fetch_add(1, Relaxed);
    }

    /// INFO persistence's lines, as Redis 7.0 prints them.
    pub fn info_lines(&self, config: &Config) -> Vec<(String, String)> {
        let child = self.bgsave_in_progress();
        let current = if child {
            let started = self.bgsave_started_ms.load(Relaxed);
            ((crate::db::now_ms().saturating_sub(started)) / 1000) as i64
        } else {
            -1
        };
        let ok = |b: bool| if b { "ok" } else { "err" }.to_string();
        vec![
            (
                "loading".into(),
                (self.loading.load(Relaxed) as u8).to_string(),
            ),
            ("async_loading".into(), "0".into()),
            (
                "rdb_changes_since_last_save".into(),
                self.unsaved_changes().to_string(),
            ),
            ("rdb_bgsave_in_progress".into(), (child as u8).to_string()),
            (
                "rdb_last_save_time".into(),
                self.last_save_unix().to_string(),
            ),
            (
                "rdb_last_bgsave_status".into(),
                ok(self.last_bgsave_ok.load(Relaxed)),
            ),
            (
                "rdb_last_bgsave_time_sec".into(),
                self.last_bgsave_secs.load(Relaxed).to_string(),
            ),
            ("rdb_current_bgsave_time_sec".into(), current.to_string()),
            ("rdb_saves".into(), self.saves.load(Relaxed).to_string()),
            (
                "rdb_last_cow_size".into(),
                self.last_cow_bytes.load(Relaxed).to_string(),
            ),
            (
                "rdb_last_load_keys_expired".into(),
                self.expired_on_load.load(Relaxed).to_string(),
            ),
            (
                "rdb_last_load_keys_loaded".into(),
                self.loaded_keys.load(Relaxed).to_string(),
            ),
            (
                "aof_enabled".into(),
                (config.appendonly() as u8).to_string(),
            ),
            // Rewrites are not implemented yet: none ever runs.
            ("aof_rewrite_in_progress".into(), "0".into()),
            (
                "aof_last_write_status".into(),
                ok(self.aof_failing.load(Relaxed) == 0),
            ),
        ]
    }
}

/// BGSAVE: freezes every shard, has the control thread fork the snapshot child, and lets the
/// shards go as soon as the child exists. Errors are the reply's message.
pub async fn bgsave(node: &Rc<Node>) -> Result<(), String> {
    let global = &node.global;
    let state = &global.persist;
    if !state.try_begin() {
        return Err(BGSAVE_IN_PROGRESS.into());
    }
    let target = Target::from_config(&global.config.snapshot());
    let pause = std::time::Instant::now();
    let frozen = freeze::freeze(node).await;
    let dirty = state.dirty_total();
    let (reply, forked) = std::sync::mpsc::channel();
    let sent = global.control.send(ControlMsg::Fork {
        shards: frozen.addresses(),
        target,
        dirty,
        reply,
    });
    // This thread stays parked with the others until the child exists.
    let result = match sent {
        Ok(()) => forked
            .recv()
            .unwrap_or_else(|_| Err("the control thread is gone".into())),
        Err(_) => Err("the control thread is gone".into()),
    };
    drop(frozen);
    state
        .latest_fork_usec
        .store(pause.elapsed().as_micros() as u64, Relaxed);
    match result {
        Ok(pid) => {
            state.total_forks.fetch_add(1, Relaxed);
            println!("Background saving started by pid {pid}");
            Ok(())
        }
        Err(e) => {
            println!("{e}");
            state.last_bgsave_ok.store(false, Relaxed);
            state.last_bgsave_try_unix.store(unix_now(), Relaxed);
            state.end();
            state.update_refusal(&global.config.snapshot());
            Err("ERR".into())
        }
    }
}

/// SAVE: writes the snapshot from this thread with every shard frozen, as Redis blocks.
pub async fn save(node: &Rc<Node>) -> Result<(), String> {
    let global = &node.global;
    let state = &global.persist;
    if !state.try_begin() {
        return Err(BGSAVE_IN_PROGRESS.into());
    }
    let result = save_frozen(node, &Target::from_config(&global.config.snapshot())).await;
    state.end();
    result.map_err(|_| "ERR".into())
}

/// Freezes, writes, logs; the caller holds the save claim.
async fn save_frozen(node: &Rc<Node>, target: &Target) -> Result<(), String> {
    let frozen = freeze::freeze(node).await;
    let dirty = node.global.persist.dirty_total();
    let result = snapshot::save(target, &frozen.shards(), &());
    drop(frozen);
    match &result {
        Ok(_) => {
            node.global.persist.saved(dirty);
            println!("DB saved on disk");
        }
        Err(e) => println!("{e}"),
    }
    result.map(|_| ())
}

/// What SHUTDOWN (or a signal) asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShutdownMode {
    /// SAVE / NOSAVE; `None` saves when save points are configured.
    pub save: Option<bool>,
    /// FORCE: exit even if the final save fails.
    pub force: bool,
}

/// Shuts the server down as Redis does: kills a snapshot child, writes the final snapshot
/// when asked or when save points exist, and exits. Every shard stays frozen from the save to
/// the exit, so nothing is acknowledged that the snapshot lacks. Returns only on failure.
pub async fn shutdown(node: &Rc<Node>, mode: ShutdownMode) -> String {
    let global = &node.global;
    let state = &global.persist;
    let config = global.config.snapshot();
    fork::kill_child(state);
    if config.appendonly() {
        println!("Calling fsync() on the AOF file.");
        aof::flush_all(node).await;
    }
    // A SAVE elsewhere finishes first.
    while !state.try_begin() {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    let frozen = freeze::freeze(node).await;
    if mode.save.unwrap_or(!config.save_points().is_empty()) {
        println!("Saving the final RDB snapshot before exiting.");
        match snapshot::save(&Target::from_config(&config), &frozen.shards(), &()) {
            Ok(_) => println!("DB saved on disk"),
            Err(e) => {
                println!("{e}");
                if !mode.force {
                    drop(frozen);
                    state.end();
                    println!("Errors trying to shut down the server. Check the logs for more information.");
                    return "ERR Errors trying to SHUTDOWN. Check logs.".into();
                }
            }
        }
    }
    println!("Tessera is now ready to exit, bye bye...");
    std::process::exit(0);
}
