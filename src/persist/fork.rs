//! The child process of BGSAVE and of an AOF rewrite, and the thread in the parent that
//! watches it.
//!
//! The child is forked by the control thread while every shard is frozen (see `freeze`; the
//! shard that froze them waits for the fork), so it starts with one thread, a plain one with
//! no executor on its stack, and a consistent image of all keyspaces. Before anything else it
//! switches the allocator to its private arena (`alloc::enter_fork_child`): another thread of
//! the parent may have been inside mimalloc at the fork. It then only reads memory and makes
//! plain system calls: no glommio, no io_uring, no lock the parent's threads use. It never
//! returns into the executor: it ends with `_exit`.
//!
//! Progress travels through one shared page: the watcher kills a child whose figures have not
//! moved for `stall_after`, and reads the child's copy-on-write figure from the same page.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::snapshot::{self, Progress, Target};
use super::{ChildKind, State};
use crate::shard::global::Global;
use crate::shard::ShardData;

/// Figures the child publishes; lives in a MAP_SHARED page, so both processes see it.
#[repr(C)]
struct Report {
    keys: AtomicU64,
    bytes: AtomicU64,
    /// Private dirty bytes of the child at the end: memory that copy-on-write duplicated.
    cow_bytes: AtomicU64,
}

struct SharedReport(*mut Report);

// SAFETY: the page is only accessed through atomics.
unsafe impl Send for SharedReport {}

impl SharedReport {
    fn new() -> Result<SharedReport, String> {
        // SAFETY: an anonymous shared mapping, checked for failure; zeroed atomics are valid.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        Ok(SharedReport(p as *mut Report))
    }

    fn get(&self) -> &Report {
        // SAFETY: mapped in `new` and unmapped only in `drop`.
        unsafe { &*self.0 }
    }
}

impl Drop for SharedReport {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer referenced.
        unsafe { libc::munmap(self.0 as *mut libc::c_void, 4096) };
    }
}

impl Progress for Report {
    fn keys_written(&self, keys: u64, bytes: u64) {
        self.keys.store(keys, Relaxed);
        self.bytes.store(bytes, Relaxed);
    }
}

/// What a child writes.
pub enum ChildJob {
    /// BGSAVE's snapshot.
    Snapshot(Target),
    /// An AOF rewrite's new base, into `temp-rewriteaof-bg-<pid>.aof` in the target's `dir`
    /// (the AOF directory): the watcher renames it into place and updates the manifest.
    AofBase(Target),
}

impl ChildJob {
    fn target(&mut self) -> &mut Target {
        match self {
            ChildJob::Snapshot(t) | ChildJob::AofBase(t) => t,
        }
    }

    fn kind(&self) -> ChildKind {
        match self {
            ChildJob::Snapshot(_) => ChildKind::Rdb,
            ChildJob::AofBase(_) => ChildKind::Aof,
        }
    }
}

/// Where an AOF rewrite child writes the new base.
pub fn rewrite_temp_name(pid: i32) -> String {
    format!("temp-rewriteaof-bg-{pid}.aof")
}

/// Forks the child; runs on the control thread while every shard is frozen, and returns as
/// soon as the child exists: a watcher thread takes it from there. `dirty` is the write count
/// the snapshot contains. On failure nothing is left running.
pub fn start_child(
    global: &Arc<Global>,
    shards: &[&ShardData],
    mut job: ChildJob,
    dirty: u64,
) -> Result<i32, String> {
    // Read here, with every shard frozen: a FUNCTION LOAD is either in the snapshot or logged
    // after it. The child must not take the libraries' lock itself: another thread may hold
    // it at the fork.
    job.target().libraries = global.scripts.libraries.codes();
    let report = SharedReport::new()?;
    let kind = job.kind();
    let config = global.config.snapshot();
    let cpus = crate::cpus::parse_list(match kind {
        ChildKind::Rdb => config.bgsave_cpulist(),
        ChildKind::Aof => config.aof_rewrite_cpulist(),
    });
    // SAFETY: fork in a multi-threaded process: the child below touches only memory frozen at
    // this instant, the arena allocator and plain system calls, then _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let what = match kind {
            ChildKind::Rdb => "Can't save in background",
            ChildKind::Aof => "Can't rewrite append only file in background",
        };
        return Err(format!("{what}: fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        crate::alloc::enter_fork_child();
        if let Some(cpus) = &cpus {
            crate::cpus::pin_current_thread(cpus);
        }
        // Under memory pressure the child should go before the server.
        if let Err(e) = crate::oom::apply(&config, crate::oom::ProcessClass::Child) {
            crate::log!(Warning, "{e}");
        }
        let shards: Vec<&crate::db::Keyspace> = shards.iter().map(|s| &s.ks).collect();
        let shards = &shards[..];
        let result = match job {
            ChildJob::Snapshot(target) => {
                let saved = snapshot::save(&target, shards, report.get());
                if saved.is_ok() {
                    crate::log!(Notice, "DB saved on disk");
                }
                saved
            }
            ChildJob::AofBase(mut target) => {
                target.filename = rewrite_temp_name(std::process::id() as i32).into();
                let saved = snapshot::save(&target, shards, report.get());
                if saved.is_ok() {
                    crate::log!(
                        Notice,
                        "Successfully created the temporary AOF base file {}",
                        target.filename.display()
                    );
                }
                saved
            }
        };
        let code = match result {
            Ok(_) => {
                report
                    .get()
                    .cow_bytes
                    .store(private_dirty("/proc/self/smaps_rollup"), Relaxed);
                0
            }
            Err(e) => {
                crate::log!(Warning, "{e}");
                1
            }
        };
        // SAFETY: ends the child without running anything of the parent's (atexit, destructors).
        unsafe { libc::_exit(code) };
    }
    let keys_total = shards
        .iter()
        .map(|s| s.ks.dbs.iter().map(|d| d.len() as u64).sum::<u64>())
        .sum();
    crate::persist::state().child_started(pid, kind, keys_total);
    if kind == ChildKind::Rdb {
        crate::persist::state().bgsave_started(dirty);
    }
    let state_owner = global.clone();
    let stall_after = Duration::from_secs(global.config.snapshot().rdb_child_stall_timeout());
    std::thread::Builder::new()
        .name("child-watch".into())
        .spawn(move || {
            crate::cpus::pin_bio_thread();
            watch(pid, kind, report, stall_after, &state_owner)
        })
        .map_err(|e| {
            // SAFETY: our own child; reaping it so that no zombie is left.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            finish(global, pid, kind, false, Duration::ZERO);
            format!("Can't start the child watcher: {e}")
        })?;
    Ok(pid)
}

/// Waits for the child, killing it if it stops making progress, then records the outcome.
fn watch(pid: i32, kind: ChildKind, report: SharedReport, stall_after: Duration, global: &Global) {
    let started = Instant::now();
    let mut last = (0, 0);
    let mut last_move = Instant::now();
    let mut status = 0;
    let mut killed_for_stall = false;
    let mut last_cow_read = Instant::now();
    loop {
        // SAFETY: waiting on our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid || r < 0 {
            break;
        }
        let now = (
            report.get().keys.load(Relaxed),
            report.get().bytes.load(Relaxed),
        );
        let progress = &crate::persist::state().child_progress;
        progress.keys_done.store(now.0, Relaxed);
        if last_cow_read.elapsed() >= Duration::from_secs(1) {
            last_cow_read = Instant::now();
            let cow = private_dirty(&format!("/proc/{pid}/smaps_rollup"));
            progress.cow_bytes.store(cow, Relaxed);
            progress.cow_peak.fetch_max(cow, Relaxed);
            progress.cow_read_unix.store(super::unix_now(), Relaxed);
        }
        if now != last {
            last = now;
            last_move = Instant::now();
        } else if !stall_after.is_zero() && last_move.elapsed() >= stall_after && !killed_for_stall
        {
            crate::log!(
                Warning,
                "Child {pid} made no progress for {}s: killing it",
                stall_after.as_secs()
            );
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed_for_stall = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 && !killed_for_stall;
    let cow = report.get().cow_bytes.load(Relaxed);
    let what = match kind {
        ChildKind::Rdb => "Background saving",
        ChildKind::Aof => "Background AOF rewrite",
    };
    if ok {
        crate::log!(Notice, "{what} terminated with success");
    } else if libc::WIFSIGNALED(status) {
        crate::log!(
            Warning,
            "{what} terminated by signal {}",
            libc::WTERMSIG(status)
        );
    } else {
        crate::log!(Warning, "{what} error");
    }
    match kind {
        ChildKind::Rdb => crate::persist::state().last_cow_bytes.store(cow, Relaxed),
        ChildKind::Aof => crate::persist::state()
            .aof
            .last_cow_bytes
            .store(cow, Relaxed),
    }
    finish(global, pid, kind, ok, started.elapsed());
}

/// Records a child's outcome (and for a rewrite, puts its base in place), removes what a
/// failed child left, and lets another child start.
fn finish(global: &Global, pid: i32, kind: ChildKind, ok: bool, took: Duration) {
    let config = global.config.snapshot();
    match kind {
        ChildKind::Rdb => {
            crate::persist::state().finish_bgsave(ok, took);
            if !ok {
                let _ = std::fs::remove_file(config.dir().join(format!("temp-{pid}.rdb")));
            }
        }
        ChildKind::Aof => super::rewrite::finish(global, pid, ok, took),
    }
    crate::persist::state().child_gone();
    crate::persist::state().update_refusal(&config);
}

/// Kills a running child (shutdown does this before its own save) and waits for the
/// watcher to record it.
pub fn kill_child(state: &State) {
    let pid = state.child_pid.load(Relaxed);
    if pid != 0 {
        match state.child() {
            Some(ChildKind::Aof) => {
                crate::log!(Warning, "There is a child rewriting the AOF. Killing it!")
            }
            _ => crate::log!(Warning, "There is a child saving an .rdb. Killing it!"),
        }
        // SAFETY: signalling our own child; the watcher reaps it.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        while state.child_pid.load(Relaxed) != 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A child's memory duplicated by copy-on-write since the fork, from its `smaps_rollup`.
fn private_dirty(smaps_rollup: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string(smaps_rollup) else {
        return 0;
    };
    text.lines()
        .filter(|l| l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}
