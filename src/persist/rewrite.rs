//! AOF rewrites: BGREWRITEAOF, the automatic rewrite, and switching the AOF on or off at run
//! time.
//!
//! A rewrite replaces the AOF's base with a fresh snapshot of every shard and drops the
//! incremental files that snapshot covers, in Redis 7's way:
//!
//! 1. Each shard gets a new incremental file (the next generation), and the manifest naming
//!    them is written, before anything else happens.
//! 2. Every shard is frozen (`freeze`); at that instant each switches to its new file
//!    (`AofState::rotate`), and the control thread forks the child. What each shard logged
//!    before the instant goes to its old file, what it logs after goes to the new one, and
//!    the child writes exactly the state in between: `temp-rewriteaof-bg-<pid>.aof` in the
//!    AOF directory, an RDB file marked `aof-base` (or commands, with
//!    `aof-use-rdb-preamble no`).
//! 3. When the child succeeds, the watcher thread renames its file to the new base's name,
//!    writes the manifest in which the old base and the old incremental files are history,
//!    deletes them and writes the manifest again without them.
//!
//! A crash at any point leaves a manifest that names a complete set of files: before step 3's
//! first manifest write, the old base and every generation; after it, the new base and the
//! new generation. A failed child leaves the old base and both generations in use.
//!
//! Switching the AOF on (`CONFIG SET appendonly yes`) is a rewrite whose freeze starts each
//! shard's logging instead of rotating it; its manifest is written only when the base
//! exists, and CONFIG SET replies once it does (Redis replies at once and finishes later).

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::fork::{rewrite_temp_name, ChildJob};
use super::freeze::AtFreeze;
use super::snapshot::{Format, Target};
use super::{unix_now, ChildKind, State};
use crate::aof::manifest::{self, Manifest};
use crate::config::Config;
use crate::shard::aof::AofStatus;
use crate::shard::global::Global;
use crate::shard::{Node, ShardData};

const IN_PROGRESS: &str = "ERR Background append only file rewriting already in progress";
const SCHEDULED: &str = "Background append only file rewriting scheduled";
const STARTED: &str = "Background append only file rewriting started";
const CANT_START: &str = "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.";
const CANT_TURN_ON: &str = "Unable to turn on AOF. Check server logs.";

/// The AOF's files as the manifest on disk names them, and the rewrites' figures.
pub struct AofFiles {
    files: Mutex<Option<Files>>,
    /// Logging is on in every shard (`appendonly yes` in effect).
    on: AtomicBool,
    /// BGREWRITEAOF came while another child ran: the cron starts it once that one is gone.
    scheduled: AtomicBool,
    started_ms: AtomicU64,
    last_secs: AtomicI64,
    last_ok: AtomicBool,
    rewrites: AtomicU64,
    consecutive_failures: AtomicU64,
    last_attempt_unix: AtomicU64,
    pub last_cow_bytes: AtomicU64,
    base_size: AtomicU64,
    /// `aof_current_size` after the last rewrite (or at start-up): the automatic rewrite
    /// measures growth from it.
    rewrite_base_size: AtomicU64,
    /// Counts finished rewrites, failed ones too: switching the AOF on waits for its own.
    finished: AtomicU64,
    /// A `CONFIG SET appendonly` is being put into effect: one at a time.
    switching: AtomicBool,
    /// The AOF is being switched on (INFO's `aof_enabled` already says 1, as Redis's does).
    enabling: AtomicBool,
}

impl Default for AofFiles {
    fn default() -> Self {
        AofFiles {
            files: Mutex::new(None),
            on: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            started_ms: AtomicU64::new(0),
            last_secs: AtomicI64::new(-1),
            last_ok: AtomicBool::new(true),
            rewrites: AtomicU64::new(0),
            consecutive_failures: AtomicU64::new(0),
            last_attempt_unix: AtomicU64::new(0),
            last_cow_bytes: AtomicU64::new(0),
            base_size: AtomicU64::new(0),
            rewrite_base_size: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            switching: AtomicBool::new(false),
            enabling: AtomicBool::new(false),
        }
    }
}

struct Files {
    dir: PathBuf,
    /// `appendfilename`.
    name: String,
    /// As last written to disk.
    manifest: Manifest,
    /// The rewrite whose child is running.
    pending: Option<Pending>,
}

struct Pending {
    /// The manifest the rewrite finishes from: it names the generation opened for it.
    manifest: Manifest,
    /// Incremental files older than this generation are covered by the new base.
    keep_from_seq: u64,
    rdb: bool,
    /// Switching the AOF on: the new generation's files, in no manifest until the base exists.
    enabling: Vec<String>,
}

impl AofFiles {
    /// The AOF that start-up loads and appends to: its directory, `appendfilename`, manifest,
    /// base size and total size (the automatic rewrite's first reference). Called before any
    /// shard serves, so that no rewrite can see the AOF as off.
    pub fn adopt(&self, dir: PathBuf, name: String, manifest: Manifest, sizes: (u64, u64)) {
        *self.lock() = Some(Files {
            dir,
            name,
            manifest,
            pending: None,
        });
        self.base_size.store(sizes.0, Relaxed);
        self.rewrite_base_size.store(sizes.1, Relaxed);
        self.on.store(true, Release);
    }

    pub fn is_on(&self) -> bool {
        self.on.load(Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Files>> {
        // Nothing panics while holding it.
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The base plus every incremental file in the manifest (`aof_current_size`).
    pub fn current_size(&self, status: &AofStatus) -> u64 {
        self.base_size.load(Relaxed)
            + status
                .marks
                .iter()
                .map(|m| m.current_bytes.load(Relaxed) + m.earlier_bytes.load(Relaxed))
                .sum::<u64>()
    }

    /// INFO persistence's AOF lines, as Redis 7.0 prints them.
    pub fn info_lines(&self, status: &AofStatus) -> Vec<(String, String)> {
        let running = crate::persist::state().child() == Some(ChildKind::Aof);
        let current = if running {
            let started = self.started_ms.load(Relaxed);
            (crate::db::now_ms().saturating_sub(started) / 1000) as i64
        } else {
            -1
        };
        let ok = |b: bool| if b { "ok" } else { "err" }.to_string();
        let scheduled = self.scheduled.load(Relaxed) as u8;
        let mut lines: Vec<(String, String)> = vec![
            (
                "aof_enabled".into(),
                ((self.is_on() || self.enabling.load(Relaxed)) as u8).to_string(),
            ),
            (
                "aof_rewrite_in_progress".into(),
                (running as u8).to_string(),
            ),
            ("aof_rewrite_scheduled".into(), scheduled.to_string()),
            (
                "aof_last_rewrite_time_sec".into(),
                self.last_secs.load(Relaxed).to_string(),
            ),
            ("aof_current_rewrite_time_sec".into(), current.to_string()),
            (
                "aof_last_bgrewrite_status".into(),
                ok(self.last_ok.load(Relaxed)),
            ),
            (
                "aof_rewrites".into(),
                self.rewrites.load(Relaxed).to_string(),
            ),
            (
                "aof_rewrites_consecutive_failures".into(),
                self.consecutive_failures.load(Relaxed).to_string(),
            ),
            (
                "aof_last_write_status".into(),
                ok(status.refusal().is_none()),
            ),
            (
                "aof_last_cow_size".into(),
                self.last_cow_bytes.load(Relaxed).to_string(),
            ),
            ("module_fork_in_progress".into(), "0".into()),
            ("module_fork_last_cow_size".into(), "0".into()),
        ];
        if self.is_on() {
            let buffered: u64 = status
                .marks
                .iter()
                .map(|m| {
                    m.logged
                        .load(Relaxed)
                        .saturating_sub(m.written.load(Relaxed))
                })
                .sum();
            lines.extend([
                (
                    "aof_current_size".into(),
                    self.current_size(status).to_string(),
                ),
                (
                    "aof_base_size".into(),
                    self.base_size.load(Relaxed).to_string(),
                ),
                ("aof_pending_rewrite".into(), scheduled.to_string()),
                ("aof_buffer_length".into(), buffered.to_string()),
                // Shards sync their own files on their own rings: no background queue.
                ("aof_pending_bio_fsync".into(), "0".into()),
                ("aof_delayed_fsync".into(), "0".into()),
            ]);
        }
        lines
    }
}

/// BGREWRITEAOF; the reply's text, or its error.
pub async fn bgrewriteaof(node: &Rc<Node>) -> Result<&'static str, &'static str> {
    let state = crate::persist::state();
    let busy = |state: &State| match state.child() {
        Some(ChildKind::Aof) => Some(Err(IN_PROGRESS)),
        Some(ChildKind::Rdb) => {
            state.aof.scheduled.store(true, Relaxed);
            Some(Ok(SCHEDULED))
        }
        None => None,
    };
    if let Some(reply) = busy(state) {
        return reply;
    }
    if !state.claim_freeze() {
        // A SAVE or another fork is under way: run when it is done.
        state.aof.scheduled.store(true, Relaxed);
        return Ok(SCHEDULED);
    }
    if let Some(reply) = busy(state) {
        state.release_freeze();
        return reply;
    }
    let started = start(node, false).await;
    state.release_freeze();
    started.map(|_| STARTED).map_err(|e| {
        crate::log!(Warning, "{e}");
        CANT_START
    })
}

/// The cron's share: a scheduled rewrite once no child runs, and the automatic rewrite.
pub async fn cron(node: &Rc<Node>, config: &Config) {
    let state = crate::persist::state();
    let a = &state.aof;
    if state.saving() {
        return;
    }
    if a.scheduled.swap(false, Relaxed) {
        let _ = bgrewriteaof(node).await;
        return;
    }
    let percentage = config.auto_aof_rewrite_percentage();
    let size = a.current_size(&node.global.aof);
    if !a.is_on() || percentage == 0 || size <= config.auto_aof_rewrite_min_size() {
        return;
    }
    let base = a.rewrite_base_size.load(Relaxed).max(1);
    let growth = (size * 100 / base).saturating_sub(100);
    if growth < percentage || limited(a) {
        return;
    }
    crate::log!(
        Notice,
        "Starting automatic rewriting of AOF on {growth}% growth"
    );
    let _ = bgrewriteaof(node).await;
}

/// After three automatic rewrites in a row failed, Redis waits a minute before the next
/// attempt, doubling up to an hour; so does Tessera.
fn limited(a: &AofFiles) -> bool {
    let failures = a.consecutive_failures.load(Relaxed);
    if failures < 3 {
        return false;
    }
    let delay = (60u64 << (failures - 3).min(6)).min(3600);
    unix_now().saturating_sub(a.last_attempt_unix.load(Relaxed)) < delay
}

/// Opens the next generation of incremental files (when the AOF is on or being switched on),
/// freezes the shards to switch them over, and forks the child. The caller holds the freeze
/// claim and no child runs. `enabling`: this rewrite switches the AOF on.
async fn start(node: &Rc<Node>, enabling: bool) -> Result<i32, String> {
    let global = &node.global;
    let state = crate::persist::state();
    let a = &state.aof;
    let config = global.config.snapshot();
    a.last_attempt_unix.store(unix_now(), Relaxed);
    let (opened, target) = next_generation(a, &config, node.shards, enabling)?;
    let switching = !opened.is_empty();
    let opened = Arc::new(Mutex::new(opened));
    let fsync = config.appendfsync();
    let marks: Vec<_> = global.aof.marks.to_vec();
    let hook: Option<AtFreeze> = switching.then(|| {
        Arc::new(move |shard: usize, data: &mut ShardData| {
            let file = opened.lock().ok().and_then(|mut o| o[shard].take());
            if let Some(file) = file {
                if enabling {
                    data.aof.start(file, fsync, marks[shard].clone());
                    data.ks.stats.record_reaped = true;
                } else {
                    data.aof.rotate(file);
                }
            }
        }) as AtFreeze
    });
    a.started_ms.store(crate::db::now_ms(), Relaxed);
    let forked = super::fork_frozen(node, ChildJob::AofBase(target), 0, hook).await;
    match forked {
        Ok(pid) => {
            // Redis counts a rewrite when it starts.
            a.rewrites.fetch_add(1, Relaxed);
            crate::log!(
                Notice,
                "Background append only file rewriting started by pid {pid}"
            );
            Ok(pid)
        }
        Err(e) => {
            if let Some(f) = a.lock().as_mut() {
                if let Some(p) = f.pending.take() {
                    remove_all(&f.dir, &p.enabling);
                }
            }
            a.last_ok.store(false, Relaxed);
            a.consecutive_failures.fetch_add(1, Relaxed);
            Err(e)
        }
    }
}

/// Creates the files the shards switch to and records the rewrite about to start; returns the
/// files in shard order (none when the AOF is off) and where the child writes.
fn next_generation(
    a: &AofFiles,
    config: &Config,
    shards: usize,
    enabling: bool,
) -> Result<(Vec<Option<std::fs::File>>, Target), String> {
    let rdb = config.aof_use_rdb_preamble();
    let mut guard = a.lock();
    // Read under the lock `install` sets it under.
    let logging = a.is_on();
    if guard.is_none() {
        let (dir, name, manifest) = crate::aof::manifest::open_dir(config)?;
        *guard = Some(Files {
            dir,
            name,
            manifest: manifest.unwrap_or_default(),
            pending: None,
        });
    }
    let files = guard.as_mut().expect("just filled");
    let mut manifest = files.manifest.clone();
    let mut opened = Vec::new();
    let mut names = Vec::new();
    let keep_from_seq = if logging || enabling {
        names = manifest.open_incr(&files.name, shards as u32);
        for n in &names {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(files.dir.join(n));
            match f {
                Ok(f) => opened.push(Some(f)),
                Err(e) => {
                    remove_all(&files.dir, &names);
                    return Err(format!("Can't open the append-only file {n}: {e}"));
                }
            }
        }
        if logging {
            // The shards may append to the new files only once a manifest names them.
            let text = manifest.render();
            let mname = manifest::manifest_name(&files.name);
            if let Err(e) = manifest::write_atomic(&files.dir, &mname, &text) {
                remove_all(&files.dir, &names);
                return Err(format!("Can't persist the AOF manifest: {e}"));
            }
            files.manifest = manifest.clone();
        }
        for n in &names {
            crate::log!(Notice, "Creating AOF incr file {n} on background rewrite");
        }
        manifest.last_incr_seq()
    } else {
        u64::MAX
    };
    files.pending = Some(Pending {
        manifest,
        keep_from_seq,
        rdb,
        enabling: if enabling { names } else { Vec::new() },
    });
    let mut target = Target::from_config(config);
    target.dir = files.dir.clone();
    target.format = Format::AofBase { rdb };
    Ok((opened, target))
}

fn remove_all(dir: &std::path::Path, names: &[String]) {
    for n in names {
        let _ = std::fs::remove_file(dir.join(n));
    }
}

/// The rewrite child `pid` is gone (`ok`: it wrote its file). Runs on the watcher thread: puts
/// the new base in place and retires what it replaces, or cleans up after a failure.
pub fn finish(global: &Global, pid: i32, ok: bool, took: Duration) {
    let state = crate::persist::state();
    let a = &state.aof;
    let mut guard = a.lock();
    let outcome = match guard.as_mut() {
        Some(files) => {
            let pending = files.pending.take();
            let temp = files.dir.join(rewrite_temp_name(pid));
            let result = match pending {
                Some(p) if ok => install(files, p, &temp, state, &global.aof),
                Some(p) => {
                    remove_all(&files.dir, &p.enabling);
                    Err("Background AOF rewrite did not complete".into())
                }
                None => Err("Background AOF rewrite finished with nothing to install".into()),
            };
            if result.is_err() {
                let _ = std::fs::remove_file(&temp);
                let _ = std::fs::remove_file(files.dir.join(format!("temp-{pid}.rdb")));
            }
            result
        }
        None => Err("Background AOF rewrite finished without an AOF directory".into()),
    };
    drop(guard);
    a.last_secs.store(took.as_secs() as i64, Relaxed);
    match outcome {
        Ok(()) => {
            a.last_ok.store(true, Relaxed);
            a.consecutive_failures.store(0, Relaxed);
            a.rewrite_base_size
                .store(a.current_size(&global.aof), Relaxed);
            crate::log!(Notice, "Background AOF rewrite finished successfully");
        }
        Err(e) => {
            crate::log!(Warning, "{e}");
            a.last_ok.store(false, Relaxed);
            a.consecutive_failures.fetch_add(1, Relaxed);
        }
    }
    // Release: whoever sees the count move sees `last_ok` (and `on`) as set above.
    a.finished.fetch_add(1, Release);
}

/// Moves the child's file to the new base's name and persists the manifest naming it; then
/// deletes what became history.
fn install(
    files: &mut Files,
    pending: Pending,
    temp: &std::path::Path,
    state: &State,
    status: &AofStatus,
) -> Result<(), String> {
    let Pending {
        mut manifest,
        keep_from_seq,
        rdb,
        enabling,
    } = pending;
    let base = manifest.rewrite_done(&files.name, rdb, keep_from_seq);
    let base_path = files.dir.join(&base);
    std::fs::rename(temp, &base_path).map_err(|e| {
        remove_all(&files.dir, &enabling);
        format!(
            "Error trying to rename the temporary AOF base file {} into {base}: {e}",
            temp.display()
        )
    })?;
    crate::log!(
        Notice,
        "Successfully renamed the temporary AOF base file {} into {base}",
        temp.file_name().unwrap_or_default().to_string_lossy()
    );
    let mname = manifest::manifest_name(&files.name);
    if let Err(e) = manifest::write_atomic(&files.dir, &mname, &manifest.render()) {
        // The files stay: if only the directory's fsync failed, the manifest on disk names
        // the base and the new incremental files.
        return Err(format!("Can't persist the AOF manifest: {e}"));
    }
    if !enabling.is_empty() {
        // The shards log into the files this manifest names: from now on the AOF is on, for
        // any rewrite that follows (it must keep those files), under the same lock.
        state.aof.on.store(true, Release);
    }
    let base_size = std::fs::metadata(&base_path).map_or(0, |m| m.len());
    state.aof.base_size.store(base_size, Relaxed);
    for mark in status.marks.iter() {
        mark.earlier_bytes.store(0, Relaxed);
    }
    for f in manifest.take_history() {
        crate::log!(
            Notice,
            "Removing the history file {} in the background",
            f.name
        );
        let _ = std::fs::remove_file(files.dir.join(&f.name));
    }
    // The manifest without the history entries; if this write fails the old one still names
    // deleted history files, which loading skips.
    if let Err(e) = manifest::write_atomic(&files.dir, &mname, &manifest.render()) {
        crate::log!(
            Warning,
            "Can't persist the AOF manifest after removing history files: {e}"
        );
    }
    files.manifest = manifest;
    Ok(())
}

/// Puts `appendonly` into effect after a CONFIG SET that named it (`requested` is the value it
/// asked for): switches logging on (building the base first and waiting for it) or off (the
/// shards write and sync what they logged, then close their files). One switch at a time;
/// each reads the setting when its turn comes. If the AOF cannot be switched on, the setting
/// goes back to `no`, and every CONFIG SET that asked for `yes` meanwhile gets the error.
pub async fn sync_appendonly(node: &Rc<Node>, requested: bool) -> Result<(), String> {
    let a = &crate::persist::state().aof;
    while a
        .switching
        .compare_exchange(false, true, Acquire, Relaxed)
        .is_err()
    {
        crate::shard::timer::sleep(Duration::from_millis(5)).await;
    }
    let want = node.global.config.snapshot().appendonly();
    let result = if want == a.is_on() {
        Ok(())
    } else if want {
        a.enabling.store(true, Relaxed);
        let r = switch_on(node).await;
        a.enabling.store(false, Relaxed);
        if r.is_err() {
            let _ = node.global.config.set(&[("appendonly", "no")]);
        }
        r
    } else {
        switch_off(node).await;
        Ok(())
    };
    // Another CONFIG SET's failed switch may have set the setting back meanwhile.
    let result = result.and_then(|()| {
        if requested && !a.is_on() {
            Err(CANT_TURN_ON.to_string())
        } else {
            Ok(())
        }
    });
    a.switching.store(false, Release);
    result
}

async fn switch_off(node: &Rc<Node>) {
    let state = crate::persist::state();
    // Holding the freeze claim, no rewrite can be between deciding to keep logging and forking.
    while !state.claim_freeze() {
        crate::shard::timer::sleep(Duration::from_millis(1)).await;
    }
    // As Redis: a rewrite's base would not match logging that stopped.
    if state.child() == Some(ChildKind::Aof) {
        super::fork::kill_child(state);
    }
    state.aof.on.store(false, Release);
    state.release_freeze();
    stop_logging(node).await;
}

async fn switch_on(node: &Rc<Node>) -> Result<(), String> {
    let state = crate::persist::state();
    let a = &state.aof;
    // As Redis: a rewrite started while the AOF was off would not match the new logging.
    if state.child() == Some(ChildKind::Aof) {
        super::fork::kill_child(state);
    }
    // A BGSAVE or a SAVE may be running: wait for it (Redis schedules the rewrite instead).
    loop {
        if state.child().is_none() && state.claim_freeze() {
            if state.child().is_none() {
                break;
            }
            state.release_freeze();
        }
        crate::shard::timer::sleep(Duration::from_millis(10)).await;
    }
    let before = a.finished.load(Acquire);
    let started = start(node, true).await;
    state.release_freeze();
    let fail = || CANT_TURN_ON.to_string();
    if let Err(e) = started {
        crate::log!(Warning, "{e}");
        stop_logging(node).await;
        return Err(fail());
    }
    while a.finished.load(Acquire) == before {
        crate::shard::timer::sleep(Duration::from_millis(5)).await;
    }
    if !a.is_on() {
        // The base could not be written (`install` sets `on` when it is).
        stop_logging(node).await;
        return Err(fail());
    }
    a.rewrite_base_size
        .store(a.current_size(&node.global.aof), Relaxed);
    crate::log!(Notice, "AOF enabled: every write is now logged");
    Ok(())
}

/// Stops every shard's logging and waits until each has written, synced and closed its file.
async fn stop_logging(node: &Rc<Node>) {
    node.broadcast(|data| {
        data.aof.stop();
        data.ks.stats.record_reaped = false;
    })
    .await;
    for shard in 0..node.shards {
        loop {
            let closed = node
                .run_on(shard, Vec::new(), |data| data.aof.closed())
                .await;
            if closed {
                break;
            }
            crate::shard::timer::sleep(Duration::from_millis(1)).await;
        }
    }
}
