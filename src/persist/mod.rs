//! Persistence: RDB snapshots (SAVE, BGSAVE, save points, shutdown), the append-only file's
//! rewrites ([`rewrite`] replaces its base; each shard writes its own files, `shard::aof`, and
//! start-up opens them, `cmd::aof_load`), and loading RDB files at start-up.
//!
//! A snapshot needs every shard's keyspace at one instant. [`freeze`] stops every shard thread
//! between two commands (after claiming all shards whole, so no multi-shard write is half
//! applied) and hands their data to the shard that asked. SAVE then writes the file right
//! there; BGSAVE forks ([`fork`]) and lets the shards go at once, the child writing the file
//! from its copy-on-write image of the frozen moment; an AOF rewrite forks the same way, its
//! child writing the AOF's new base. [`snapshot`] is the file writer all of them use; [`load`]
//! reads a file back at start-up, each shard decoding and inserting its own keys.
//!
//! One freeze at a time (`State::claim_freeze`) and one child at a time (`State::child`): a
//! fork holds the freeze claim only until the child exists, so SAVE may run beside a rewrite's
//! child, as in Redis.
//!
//! The process-wide bookkeeping (what INFO persistence, LASTSAVE and the save points read)
//! lives in [`State`], inside `Global`, as atomics: shards and the child watcher update it from
//! their own threads.

pub mod cron;
pub mod fork;
pub mod freeze;
pub mod load;
pub mod rewrite;
pub mod snapshot;

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::Duration;

use crate::config::Config;
use crate::shard::global::ControlMsg;
use crate::shard::{Node, ShardData};
use snapshot::Target;

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

static STATE: std::sync::OnceLock<State> = std::sync::OnceLock::new();

/// The process's persistence status: one per process, made at start-up by [`init`].
#[inline]
pub fn state() -> &'static State {
    STATE
        .get()
        .expect("persist::init runs before any shard starts")
}

/// Makes the persistence status for `shards` shards; start-up calls it once.
pub fn init(shards: usize) {
    let _ = STATE.set(State::new(shards));
}

/// Why writes are refused, if they are: an AOF that cannot be written, or a failed background
/// save (with save points and `stop-writes-on-bgsave-error`). Redis's messages.
#[inline]
pub fn writes_refused(global: &crate::shard::global::Global) -> Option<String> {
    global
        .aof
        .refusal()
        .or_else(|| state().rdb_refusal().map(String::from))
}

const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Why BGSAVE could not start, in Redis's words.
pub const BGSAVE_IN_PROGRESS: &str = "ERR Background save already in progress";
const BGSAVE_AOF_CHILD: &str = "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.";

/// What the one child process, if any, is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// BGSAVE: writing the RDB snapshot.
    Rdb = 1,
    /// BGREWRITEAOF: writing the AOF's new base.
    Aof = 2,
}

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
    /// A freeze is under way (SAVE, shutdown, or the instant of a fork): one at a time.
    freezing: AtomicBool,
    /// The child process (BGSAVE or AOF rewrite) and its `ChildKind`; 0 when none.
    child_pid: AtomicI32,
    child_kind: AtomicU8,
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
    /// How the signal that raised `shutdown_asap` asked to shut down.
    shutdown_mode: std::sync::Mutex<ShutdownMode>,
    /// Each shard's AOF positions (see `aof::settle`).
    pub loading: AtomicBool,
    pub loaded_keys: AtomicU64,
    pub expired_on_load: AtomicU64,
    /// Commands of the AOF that replied an error while it loaded (and were skipped, as
    /// Redis skips them): INFO's unexpected_error_replies.
    pub aof_load_errors: AtomicU64,
    /// The AOF's files and its rewrites.
    pub aof: rewrite::AofFiles,
    /// The running child's progress, as INFO's `current_*` fields show it.
    pub child_progress: ChildProgress,
}

/// What the child watcher learns while a child runs; all zero when none does.
#[derive(Default)]
pub struct ChildProgress {
    pub keys_total: AtomicU64,
    pub keys_done: AtomicU64,
    /// Copy-on-write bytes (the child's Private_Dirty), its peak, and when it was read.
    pub cow_bytes: AtomicU64,
    pub cow_peak: AtomicU64,
    pub cow_read_unix: AtomicU64,
}

impl ChildProgress {
    fn reset(&self, keys_total: u64) {
        self.keys_total.store(keys_total, Relaxed);
        for a in [
            &self.keys_done,
            &self.cow_bytes,
            &self.cow_peak,
            &self.cow_read_unix,
        ] {
            a.store(0, Relaxed);
        }
    }

    fn info_lines(&self) -> Vec<(String, String)> {
        let (done, total) = (self.keys_done.load(Relaxed), self.keys_total.load(Relaxed));
        let perc = if total > 0 {
            done as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let read = self.cow_read_unix.load(Relaxed);
        let age = if read > 0 {
            unix_now().saturating_sub(read)
        } else {
            0
        };
        vec![
            (
                "current_cow_peak".into(),
                self.cow_peak.load(Relaxed).to_string(),
            ),
            (
                "current_cow_size".into(),
                self.cow_bytes.load(Relaxed).to_string(),
            ),
            ("current_cow_size_age".into(), age.to_string()),
            ("current_fork_perc".into(), format!("{perc:.2}")),
            ("current_save_keys_processed".into(), done.to_string()),
            ("current_save_keys_total".into(), total.to_string()),
        ]
    }
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
            freezing: AtomicBool::new(false),
            child_pid: AtomicI32::new(0),
            child_kind: AtomicU8::new(0),
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
            shutdown_mode: Default::default(),
            // Start-up time in the high bits: ids of this run never repeat an earlier run's,
            // whose AOF records may still be on disk.
            loading: AtomicBool::new(false),
            loaded_keys: AtomicU64::new(0),
            expired_on_load: AtomicU64::new(0),
            aof_load_errors: AtomicU64::new(0),
            aof: rewrite::AofFiles::default(),
            child_progress: ChildProgress::default(),
        }
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

    /// Why writes are refused after a failed background save (with save points and
    /// `stop-writes-on-bgsave-error`), in Redis's words.
    #[inline]
    pub fn rdb_refusal(&self) -> Option<&'static str> {
        self.refuse_writes.load(Relaxed).then_some(MISCONF_RDB)
    }

    /// Recomputes the MISCONF switch; after a save and after every CONFIG SET.
    pub fn update_refusal(&self, config: &Config) {
        let refuse = config.stop_writes_on_bgsave_error()
            && !config.save_points().is_empty()
            && !self.last_bgsave_ok.load(Relaxed);
        self.refuse_writes.store(refuse, Relaxed);
    }

    /// Claims the right to freeze the shards; false when another freeze is under way.
    fn claim_freeze(&self) -> bool {
        self.freezing
            .compare_exchange(false, true, Relaxed, Relaxed)
            .is_ok()
    }

    fn release_freeze(&self) {
        self.freezing.store(false, Relaxed);
    }

    /// What the child process is doing, if there is one.
    pub fn child(&self) -> Option<ChildKind> {
        match self.child_kind.load(Relaxed) {
            1 => Some(ChildKind::Rdb),
            2 => Some(ChildKind::Aof),
            _ => None,
        }
    }

    pub fn bgsave_in_progress(&self) -> bool {
        self.child() == Some(ChildKind::Rdb)
    }

    /// A freeze or a child is under way: background work waits for it to end.
    pub fn saving(&self) -> bool {
        self.freezing.load(Relaxed) || self.child().is_some()
    }

    /// Freezing for a fork is possible: claims it, or says why not (BGSAVE's words).
    fn claim_fork(&self) -> Result<(), &'static str> {
        let busy = |kind| match kind {
            Some(ChildKind::Aof) => BGSAVE_AOF_CHILD,
            _ => BGSAVE_IN_PROGRESS,
        };
        if let Some(kind) = self.child() {
            return Err(busy(Some(kind)));
        }
        if !self.claim_freeze() {
            return Err(BGSAVE_IN_PROGRESS);
        }
        // A fork may have finished between the check and the claim.
        if let Some(kind) = self.child() {
            self.release_freeze();
            return Err(busy(Some(kind)));
        }
        Ok(())
    }

    fn child_started(&self, pid: i32, kind: ChildKind, keys_total: u64) {
        self.child_progress.reset(keys_total);
        self.child_pid.store(pid, Relaxed);
        self.child_kind.store(kind as u8, Relaxed);
    }

    /// The child is reaped and its outcome recorded: another may start.
    fn child_gone(&self) {
        self.child_progress.reset(0);
        self.child_kind.store(0, Relaxed);
        self.child_pid.store(0, Relaxed);
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

    /// A signal asks for a shutdown in `mode`; true if one was already pending.
    pub fn request_shutdown(&self, mode: ShutdownMode) -> bool {
        *self.shutdown_mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
        self.shutdown_asap.swap(true, Relaxed)
    }

    /// The shutdown a signal asked for, if any. It stays pending while it runs, so that a
    /// second SIGINT meanwhile exits at once.
    pub fn shutdown_requested(&self) -> Option<ShutdownMode> {
        self.shutdown_asap
            .load(Relaxed)
            .then(|| *self.shutdown_mode.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The requested shutdown failed (its final save did): the server goes on serving.
    pub fn shutdown_failed(&self) {
        self.shutdown_asap.store(false, Relaxed);
    }

    fn bgsave_started(&self, dirty: u64) {
        self.dirty_at_bgsave.store(dirty, Relaxed);
        self.bgsave_started_ms.store(crate::db::now_ms(), Relaxed);
        self.last_bgsave_try_unix.store(unix_now(), Relaxed);
    }

    /// The snapshot child is gone: records how it went.
    fn finish_bgsave(&self, ok: bool, took: Duration) {
        if ok {
            self.dirty_at_save
                .store(self.dirty_at_bgsave.load(Relaxed), Relaxed);
            self.last_save_unix.store(unix_now(), Relaxed);
            self.saves.fetch_add(1, Relaxed);
        }
        self.last_bgsave_ok.store(ok, Relaxed);
        self.last_bgsave_secs.store(took.as_secs() as i64, Relaxed);
    }

    /// A foreground save (SAVE, shutdown) succeeded; `dirty` is the count it started from.
    fn saved(&self, dirty: u64) {
        self.dirty_at_save.store(dirty, Relaxed);
        self.last_save_unix.store(unix_now(), Relaxed);
        self.saves.fetch_add(1, Relaxed);
    }

    /// INFO persistence's lines, as Redis 7.0 prints them.
    /// INFO persistence's lines; `aof` is the shards' side of the AOF.
    pub fn info_lines(&self, aof: &crate::shard::aof::AofStatus) -> Vec<(String, String)> {
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
        ]
        .into_iter()
        .chain(self.child_progress.info_lines())
        .chain([
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
        ])
        .chain(self.aof.info_lines(aof))
        .collect()
    }
}

/// BGSAVE: freezes every shard, has the control thread fork the snapshot child, and lets the
/// shards go as soon as the child exists. Errors are the reply's message.
pub async fn bgsave(node: &Rc<Node>) -> Result<(), String> {
    let global = &node.global;
    let state = crate::persist::state();
    state.claim_fork()?;
    let target = Target::from_config(&global.config.snapshot());
    let dirty = state.dirty_total();
    let result = fork_frozen(node, fork::ChildJob::Snapshot(target), dirty, None).await;
    state.release_freeze();
    match result {
        Ok(pid) => {
            crate::log!(Notice, "Background saving started by pid {pid}");
            Ok(())
        }
        Err(e) => {
            crate::log!(Warning, "{e}");
            state.last_bgsave_ok.store(false, Relaxed);
            state.last_bgsave_try_unix.store(unix_now(), Relaxed);
            state.update_refusal(&global.config.snapshot());
            Err("ERR".into())
        }
    }
}

/// Freezes every shard (running `at_freeze` on each), has the control thread fork a child for
/// `job` over their data, and lets the shards go as soon as it exists: the pause is the fork.
/// The caller holds the freeze claim. Returns the child's pid.
async fn fork_frozen(
    node: &Rc<Node>,
    job: fork::ChildJob,
    dirty: u64,
    at_freeze: Option<freeze::AtFreeze>,
) -> Result<i32, String> {
    let global = &node.global;
    let pause = std::time::Instant::now();
    let frozen = freeze::freeze_with(node, at_freeze).await;
    let (reply, forked) = std::sync::mpsc::channel();
    let shards = frozen.addresses();
    // The fork happens on the control thread, which holds no allocator or shard lock.
    let sent = global.control.send(ControlMsg::Run(Box::new(move |global| {
        // SAFETY: the addresses come from a live `Frozen`, whose shard waits for this reply
        // before letting the shards go.
        let shards: Vec<&ShardData> = shards
            .iter()
            .map(|&a| unsafe { &*(a as *const ShardData) })
            .collect();
        let _ = reply.send(fork::start_child(global, &shards, job, dirty));
    })));
    // This thread stays parked with the others until the child exists.
    let result = match sent {
        Ok(()) => forked
            .recv()
            .unwrap_or_else(|_| Err("the control thread is gone".into())),
        Err(_) => Err("the control thread is gone".into()),
    };
    drop(frozen);
    let state = crate::persist::state();
    state
        .latest_fork_usec
        .store(pause.elapsed().as_micros() as u64, Relaxed);
    if result.is_ok() {
        state.total_forks.fetch_add(1, Relaxed);
    }
    result
}

/// SAVE: writes the snapshot from this thread with every shard frozen, as Redis blocks. It may
/// run while an AOF rewrite's child works, as in Redis, but not beside a BGSAVE.
pub async fn save(node: &Rc<Node>) -> Result<(), String> {
    let global = &node.global;
    let state = crate::persist::state();
    if state.bgsave_in_progress() || !state.claim_freeze() {
        return Err(BGSAVE_IN_PROGRESS.into());
    }
    let result = save_frozen(node, &Target::from_config(&global.config.snapshot())).await;
    state.release_freeze();
    result.map_err(|_| "ERR".into())
}

/// Freezes, writes, logs; the caller holds the freeze claim.
async fn save_frozen(node: &Rc<Node>, target: &Target) -> Result<(), String> {
    let frozen = freeze::freeze(node).await;
    let mut target = target.clone();
    target.libraries = node.global.scripts.libraries.codes();
    let target = &target;
    let dirty = crate::persist::state().dirty_total();
    let result = snapshot::save(target, &frozen.keyspaces(), &());
    drop(frozen);
    match &result {
        Ok(_) => {
            crate::persist::state().saved(dirty);
            crate::log!(Notice, "DB saved on disk");
        }
        Err(e) => crate::log!(Warning, "{e}"),
    }
    result.map(|_| ())
}

/// DEBUG RELOAD's options: MERGE, NOFLUSH and NOSAVE turn these off or on.
#[derive(Clone, Copy, Debug)]
pub struct ReloadMode {
    pub save: bool,
    pub flush: bool,
    pub merge: bool,
}

/// DEBUG RELOAD: saves the snapshot (unless NOSAVE), then replaces the data set with what the
/// file holds (adds to it with NOFLUSH; MERGE lets the file's keys replace those in memory).
/// Every shard is claimed whole for the swap, so no client sees one shard reloaded and another
/// not. The file is read before anything is flushed: a file that cannot be read leaves the
/// data as it was. The file's function libraries go to `install` before the keys load (it
/// compiles them: that is the scripts' layer). Errors are Redis's replies.
pub async fn reload(
    node: &Rc<Node>,
    mode: ReloadMode,
    install: impl FnOnce(Vec<Vec<u8>>) -> Result<(), String>,
) -> Result<(), &'static str> {
    const LOAD_FAILED: &str = "ERR Error trying to load the RDB dump";
    if mode.save {
        save(node).await.map_err(|_| "ERR")?;
    }
    let config = node.global.config.snapshot();
    let path = config.dir().join(config.dbfilename());
    let contents = match load::read_all(&path, node.global.databases, node.shards) {
        Ok(Some(contents)) => contents,
        Ok(None) => {
            crate::log!(
                Warning,
                "Fatal error loading the DB: No such file or directory."
            );
            return Err(LOAD_FAILED);
        }
        Err(e) => {
            crate::log!(Warning, "{e}");
            return Err(LOAD_FAILED);
        }
    };
    let duplicates = if mode.merge {
        load::Duplicates::Replace
    } else {
        load::Duplicates::Refuse
    };
    if let Err(e) = install(contents.libraries) {
        crate::log!(Warning, "Failed loading library, {e}");
        return Err(LOAD_FAILED);
    }
    let loaded =
        load::load_everywhere(
            node,
            contents.batches,
            mode.flush,
            duplicates,
            |_, _| Ok(()),
        );
    if let Err(e) = loaded.await {
        crate::log!(Warning, "{e}");
        return Err(LOAD_FAILED);
    }
    crate::log!(Warning, "DB reloaded by DEBUG RELOAD");
    Ok(())
}

/// What SHUTDOWN (or a signal) asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShutdownMode {
    /// SAVE / NOSAVE; `None` saves when save points are configured.
    pub save: Option<bool>,
    /// FORCE: exit even if the final save fails.
    pub force: bool,
}

impl ShutdownMode {
    /// `shutdown-on-sigterm` / `shutdown-on-sigint` as a mode (NOW changes nothing while there
    /// are no replicas to wait for).
    pub fn from_flags(flags: crate::config::ShutdownFlags) -> ShutdownMode {
        ShutdownMode {
            save: if flags.save {
                Some(true)
            } else if flags.nosave {
                Some(false)
            } else {
                None
            },
            force: flags.force,
        }
    }
}

/// SHUTDOWN NOSAVE while a script runs past busy-reply-threshold, which Redis allows: every
/// shard is the script's, so nothing can be frozen; what was acknowledged before the script
/// is flushed to the AOF, the script's own writes are not committed and never reach it (as
/// Redis drops a MULTI cut short at the end of its AOF), and the process exits.
pub async fn shutdown_during_script(node: &Rc<Node>) -> ! {
    let state = crate::persist::state();
    fork::kill_child(state);
    if state.aof.is_on() {
        crate::log!(Notice, "Calling fsync() on the AOF file.");
        crate::shard::aof::flush_all(node).await;
    }
    crate::log!(Warning, "Tessera is now ready to exit, bye bye...");
    crate::shard::global::exit(0);
}

/// Shuts the server down as Redis does: kills a snapshot child, writes the final snapshot
/// when asked or when save points exist, and exits. Every shard stays frozen from the save to
/// the exit, so nothing is acknowledged that the snapshot lacks. Returns only on failure.
pub async fn shutdown(node: &Rc<Node>, mode: ShutdownMode) -> String {
    let global = &node.global;
    let state = crate::persist::state();
    let config = global.config.snapshot();
    // A SAVE or a fork elsewhere finishes first; holding the claim, no new child can start.
    while !state.claim_freeze() {
        crate::shard::timer::sleep(Duration::from_millis(1)).await;
    }
    fork::kill_child(state);
    if state.aof.is_on() {
        crate::log!(Notice, "Calling fsync() on the AOF file.");
        crate::shard::aof::flush_all(node).await;
    }
    let frozen = freeze::freeze(node).await;
    if mode.save.unwrap_or(!config.save_points().is_empty()) {
        crate::log!(Notice, "Saving the final RDB snapshot before exiting.");
        let mut target = Target::from_config(&config);
        target.libraries = node.global.scripts.libraries.codes();
        match snapshot::save(&target, &frozen.keyspaces(), &()) {
            Ok(_) => crate::log!(Notice, "DB saved on disk"),
            Err(e) => {
                crate::log!(Warning, "{e}");
                if mode.force {
                    crate::log!(Warning, "Error trying to save the DB. Exit anyway.");
                } else {
                    crate::log!(Warning, "Error trying to save the DB, can't exit.");
                    drop(frozen);
                    state.release_freeze();
                    crate::log!(Notice, "Errors trying to shut down the server. Check the logs for more information.");
                    return "ERR Errors trying to SHUTDOWN. Check logs.".into();
                }
            }
        }
    }
    crate::log!(Warning, "Tessera is now ready to exit, bye bye...");
    crate::shard::global::exit(0);
}
