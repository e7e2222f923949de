//! The append-only file's runtime half: each shard logs its writes and writes its own file
//! through its own io_uring.
//!
//! A shard appends every write it performs to its [`AofLog`] while the command runs (on the
//! shard's thread, in execution order, so the log's order is the shard's order). Its writer
//! task takes whatever accumulated since its last turn and appends it to the shard's current
//! incremental file with one write; under `appendfsync always` it then fdatasyncs, and every
//! client whose writes that covered gets its reply: commands logged while a sync is in flight
//! ride on the next one, which is group commit. `everysec` syncs at most once a second (also
//! from a timer, so the last second is synced when writes stop); `no` leaves it to the kernel.
//!
//! A reply to a write is held back until the log positions it produced are durable (see
//! `Session::durable_wait` and `net::conn::flush`): under `always`, an acknowledged write has
//! reached the disk.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::aof::log::AofLog;
use crate::aof::restate;
use crate::config::AppendFsync;
use crate::db::Keyspace;
use crate::shard::uring::Driver;
use crate::shard::{Node, ShardData};

/// One shard's AOF: its log, where it goes, and who waits for it.
pub struct AofState {
    pub log: AofLog,
    /// Logging is on (`appendonly yes`).
    pub on: bool,
    pub fsync: AppendFsync,
    /// The incremental file the writer appends to.
    file: Option<Rc<AppendFile>>,
    /// Files a rewrite replaced, with the bytes logged for them before the switch and the log
    /// position those bytes end at: the writer finishes and syncs them before anything newer.
    retiring: VecDeque<(Rc<AppendFile>, Vec<u8>, u64)>,
    /// The writer is appending to or syncing a retired file (taken off `retiring`).
    finishing_retired: bool,
    /// Log position the file holds (written, maybe not synced).
    written: u64,
    /// Log position known to be on disk.
    durable: u64,
    writer: Option<Waker>,
    /// Replies waiting for a position to be durable.
    waiters: Vec<(u64, Waker)>,
    /// The last write or sync error, until a later one succeeds: writes are refused meanwhile.
    pub error: Option<String>,
    /// This shard's positions as other shards' connections see them (`persist::State`).
    mark: Option<Arc<AofMark>>,
    /// The multi-shard transaction whose hop is running, if any: its records go to its own
    /// buffer in `tx_logs`, appended to the log as one bracketed part when it commits. Other
    /// commands run on this shard between its hops, and their records must not land inside.
    in_tx: Option<u64>,
    tx_logs: ahash::AHashMap<u64, AofLog>,
}

/// An incremental file open for appending, and how long it is: where a failed append is cut
/// back to.
struct AppendFile {
    file: std::fs::File,
    len: Cell<u64>,
}

impl AppendFile {
    fn new(file: std::fs::File) -> Rc<AppendFile> {
        let len = file.metadata().map_or(0, |m| m.len());
        Rc::new(AppendFile {
            file,
            len: Cell::new(len),
        })
    }
}

/// How far one shard's log goes and how much of it is on disk, readable from any shard: a
/// reply under `appendfsync always` waits until everything logged before it is durable,
/// on every shard, as Redis's replies wait for the fsync of their event-loop turn.
#[derive(Default)]
#[repr(align(128))]
pub struct AofMark {
    pub logged: AtomicU64,
    pub written: AtomicU64,
    pub durable: AtomicU64,
    /// Bytes in the file the shard appends to now, and in its older incremental files still
    /// in the manifest: INFO's `aof_current_size` and the automatic rewrite add them up.
    pub current_bytes: AtomicU64,
    pub earlier_bytes: AtomicU64,
}

/// The AOF's state that every shard shares: each shard's positions, the fsync policy, the
/// write errors that refuse writes, and the transaction ids that name multi-shard parts.
pub struct AofStatus {
    pub marks: Box<[Arc<AofMark>]>,
    /// `appendfsync always` with the AOF on: replies wait for the disk.
    always: std::sync::atomic::AtomicBool,
    /// Shards whose last write failed, and the error: writes are refused meanwhile.
    failing: std::sync::atomic::AtomicUsize,
    error: std::sync::Mutex<String>,
    /// The next multi-shard transaction id (see `next_tx_id`).
    tx_ids: AtomicU64,
}

impl AofStatus {
    pub fn new(shards: usize) -> AofStatus {
        AofStatus {
            marks: (0..shards).map(|_| Default::default()).collect(),
            always: Default::default(),
            failing: Default::default(),
            error: Default::default(),
            // Unique across runs too: the ids name transactions' parts in files that outlive
            // the process.
            tx_ids: AtomicU64::new(crate::db::now_ms() << 20),
        }
    }

    /// A transaction id unique across shards and runs (lock owners, AOF parts).
    pub fn next_tx_id(&self) -> u64 {
        self.tx_ids.fetch_add(1, Relaxed)
    }

    #[inline]
    pub fn always(&self) -> bool {
        self.always.load(Relaxed)
    }

    pub fn set_always(&self, on: bool) {
        self.always.store(on, Relaxed);
    }

    /// Why writes are refused, if a shard cannot write its AOF: Redis's message.
    #[inline]
    pub fn refusal(&self) -> Option<String> {
        if self.failing.load(Relaxed) == 0 {
            return None;
        }
        let e = self.error.lock().map(|e| e.clone()).unwrap_or_default();
        Some(format!("MISCONF Errors writing to the AOF file: {e}"))
    }

    /// A shard's AOF write failed (`Some`) or succeeded again (`None`); `was_failing` is
    /// whether it had failed before.
    pub fn write_result(&self, error: Option<&str>, was_failing: bool) {
        match (error, was_failing) {
            (Some(e), false) => {
                if let Ok(mut m) = self.error.lock() {
                    *m = e.to_string();
                }
                self.failing.fetch_add(1, Relaxed);
            }
            (None, true) => {
                self.failing.fetch_sub(1, Relaxed);
            }
            _ => {}
        }
    }
}

impl Default for AofState {
    fn default() -> Self {
        AofState {
            log: AofLog::new(),
            on: false,
            fsync: AppendFsync::EverySec,
            file: None,
            retiring: VecDeque::new(),
            finishing_retired: false,
            written: 0,
            durable: 0,
            writer: None,
            waiters: Vec::new(),
            error: None,
            mark: None,
            in_tx: None,
            tx_logs: ahash::AHashMap::new(),
        }
    }
}

impl AofState {
    /// Bytes this shard holds for the log that are not yet written (INFO's
    /// mem_aof_buffer): its buffer, retired files' tails, transactions' parts.
    pub fn buffered_bytes(&self) -> usize {
        if !self.on {
            return 0;
        }
        self.log.allocated()
            + self.retiring.iter().map(|r| r.1.capacity()).sum::<usize>()
            + self.tx_logs.values().map(AofLog::allocated).sum::<usize>()
    }

    /// Starts logging into `file`, an incremental file opened for appending.
    pub fn start(&mut self, file: std::fs::File, fsync: AppendFsync, mark: Arc<AofMark>) {
        mark.logged.store(self.log.position(), Release);
        mark.durable.store(self.durable, Release);
        let file = AppendFile::new(file);
        mark.current_bytes.store(file.len.get(), Relaxed);
        self.mark = Some(mark);
        self.file = Some(file);
        self.on = true;
        self.fsync = fsync;
        self.log.forget_db();
        self.wake_writer();
    }

    /// Switches to a new incremental file at this instant, for a rewrite whose snapshot is
    /// taken at the same instant (the shard is frozen): what was logged so far still goes to
    /// the old file, everything logged from now on to `file`.
    pub fn rotate(&mut self, file: std::fs::File) {
        let pending = self.log.take();
        let end = self.log.position();
        let new = AppendFile::new(file);
        if let Some(mark) = &self.mark {
            let moved = mark.current_bytes.swap(new.len.get(), Relaxed) + pending.len() as u64;
            mark.earlier_bytes.fetch_add(moved, Relaxed);
        }
        if let Some(old) = self.file.replace(new) {
            // Even with nothing pending: the old file's unsynced bytes get their fsync.
            self.retiring.push_back((old, pending, end));
        }
        // The new file starts with a SELECT of its own.
        self.log.forget_db();
        self.wake_writer();
    }

    /// Stops logging (`appendonly no`): the writer writes what was logged, syncs and closes.
    pub fn stop(&mut self) {
        self.on = false;
        self.wake_writer();
    }

    /// No file is open any more (never opened, or closed after `stop`).
    pub fn closed(&self) -> bool {
        self.file.is_none() && self.retiring.is_empty()
    }

    /// Logs each of `keys` as it now is (its value rebuilt, or DEL when it is gone). For
    /// writes done outside a command's own handler (the scatter of a multi-shard command,
    /// COPY...), whose effect is simplest to state as the result.
    pub fn record_keys<K: AsRef<[u8]>>(&mut self, ks: &mut Keyspace, db: usize, keys: &[K]) {
        if !self.on {
            return;
        }
        self.log_reaped(ks);
        for key in keys {
            for c in restate(key.as_ref(), ks.dbs[db].peek(key.as_ref())) {
                self.target().command(db, &c);
            }
        }
        self.published();
    }

    /// Logs records a command's propagation decided (see `cmd::propagate`), in database `db`.
    pub fn record_all(&mut self, ks: &mut Keyspace, db: usize, records: &[Vec<Bytes>]) {
        if !self.on || records.is_empty() {
            return;
        }
        self.log_reaped(ks);
        for rec in records {
            self.target().command(db, rec);
        }
        self.published();
    }

    /// Logs one command of the shard's own making (a blocked client served, a part of a
    /// multi-shard write...).
    pub fn record_raw<A: AsRef<[u8]>>(&mut self, ks: &mut Keyspace, db: usize, args: &[A]) {
        if !self.on {
            return;
        }
        self.log_reaped(ks);
        self.target().command(db, args);
        self.published();
    }

    /// Where records go: the running transaction's buffer, or the log.
    fn target(&mut self) -> &mut AofLog {
        match self.in_tx {
            Some(id) => self.tx_logs.entry(id).or_default(),
            None => &mut self.log,
        }
    }

    /// A hop of transaction `id` starts on this shard: what it logs is held for its commit.
    pub fn enter_tx(&mut self, id: u64) {
        self.in_tx = Some(id);
    }

    /// The hop ends; returns whether the transaction has records waiting on this shard.
    pub fn leave_tx(&mut self) -> bool {
        let id = self.in_tx.take();
        id.is_some_and(|id| self.tx_logs.get(&id).is_some_and(|l| l.pending() > 0))
    }

    /// Appends transaction `id`'s records to the log, bracketed as one of the `parts` shards
    /// that wrote for it: loading applies the part only if every part made it to disk.
    pub fn commit_tx(&mut self, id: u64, parts: usize) {
        let Some(records) = self.tx_logs.remove(&id) else {
            return;
        };
        if !self.on || records.pending() == 0 {
            return;
        }
        self.log.tx_begin(id, parts as u32);
        self.log.append(records);
        self.log.tx_end(id);
        self.published();
    }

    /// Logs the deletion of keys that expired or were evicted since the last record.
    pub fn log_reaped(&mut self, ks: &mut Keyspace) {
        if !ks.stats.reaped_pending {
            return;
        }
        ks.stats.reaped_pending = false;
        for (db, d) in ks.dbs.iter_mut().enumerate() {
            for key in d.take_reaped() {
                // Keys reaped just before logging stopped are dropped with the rest.
                // Straight into the log even during a transaction's hop: a key's expiry is
                // no part of the transaction, and its bracket holds only what the transaction
                // itself decided (the coordinator counts which shards it writes to).
                if self.on {
                    self.log.command(db, &[&b"DEL"[..], key.as_bytes()]);
                }
            }
        }
        self.published();
    }

    /// New records are in the log: tells replies what they must wait for, and the writer.
    fn published(&mut self) {
        if let Some(mark) = &self.mark {
            mark.logged.store(self.log.position(), Release);
        }
        self.wake_writer();
    }

    fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    fn mark_durable(&mut self, pos: u64) {
        self.durable = self.durable.max(pos);
        let durable = self.durable;
        if let Some(mark) = &self.mark {
            mark.durable.store(durable, Release);
        }
        self.waiters.retain(|(p, w)| {
            if *p <= durable {
                w.wake_by_ref();
                false
            } else {
                true
            }
        });
    }
}

/// Resolves once `pos` of this shard's log is on disk (or the AOF is off).
pub struct Durable<'a> {
    pub node: &'a Node,
    pub pos: u64,
}

impl Future for Durable<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut data = self.node.data.borrow_mut();
        let st = &mut data.aof;
        if st.durable >= self.pos || (st.file.is_none() && st.retiring.is_empty()) {
            return Poll::Ready(());
        }
        st.waiters.push((self.pos, cx.waker().clone()));
        Poll::Pending
    }
}

/// Starts the shard's writer task and, for `everysec`, its once-a-second sync.
pub fn start_writer(node: Rc<Node>, uring: Rc<Driver>) {
    crate::shard::task::spawn(write_loop(node.clone(), uring.clone())).detach();
    crate::shard::task::spawn(async move {
        loop {
            crate::shard::timer::sleep(Duration::from_secs(1)).await;
            let pending = {
                let data = node.data.borrow();
                let st = &data.aof;
                // A retired file is synced by the writer first: `written` may include its bytes.
                let due = st.on
                    && st.fsync == AppendFsync::EverySec
                    && st.retiring.is_empty()
                    && !st.finishing_retired;
                (due && st.written > st.durable).then(|| (st.file.clone(), st.written))
            };
            if let Some((Some(file), upto)) = pending {
                if uring.fdatasync(file.file.as_raw_fd()).await.is_ok() {
                    node.data.borrow_mut().aof.mark_durable(upto);
                }
            }
        }
    })
    .detach();
}

/// What the writer does next.
enum Job {
    /// Append `bytes` (ending at log position `end`) to `file`, then sync if the policy says so
    /// (always, for a file a rewrite retired: nothing will sync it later).
    Append {
        file: Rc<AppendFile>,
        bytes: Vec<u8>,
        end: u64,
        retired: bool,
    },
    /// The AOF was switched off and everything logged is written: sync and close the file.
    Close(Rc<AppendFile>, u64),
}

/// Appends what the log accumulated, then syncs as the policy says; again and again.
async fn write_loop(node: Rc<Node>, uring: Rc<Driver>) {
    let mut last_sync = Instant::now();
    loop {
        let job = std::future::poll_fn(|cx| {
            let mut data = node.data.borrow_mut();
            let ShardData { ks, aof, .. } = &mut *data;
            // Keys reaped by reads or by the expiry cycle are logged even if no write follows.
            aof.log_reaped(ks);
            aof.finishing_retired = false;
            if let Some((file, bytes, end)) = aof.retiring.pop_front() {
                aof.finishing_retired = true;
                return Poll::Ready(Job::Append {
                    file,
                    bytes,
                    end,
                    retired: true,
                });
            }
            match &aof.file {
                Some(file) if aof.log.position() > aof.written => Poll::Ready(Job::Append {
                    file: file.clone(),
                    bytes: aof.log.take(),
                    end: aof.log.position(),
                    retired: false,
                }),
                Some(_) if !aof.on => {
                    let file = aof.file.take().expect("matched Some");
                    Poll::Ready(Job::Close(file, aof.written))
                }
                _ => {
                    aof.writer = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        let (file, bytes, end, retired) = match job {
            Job::Append {
                file,
                bytes,
                end,
                retired,
            } => (file, bytes, end, retired),
            Job::Close(file, end) => {
                if let Err(e) = uring.fdatasync(file.file.as_raw_fd()).await {
                    crate::log!(Warning, "Error syncing the AOF file being closed: {e}");
                }
                node.data.borrow_mut().aof.mark_durable(end);
                continue;
            }
        };
        let fd = file.file.as_raw_fd();
        let bytes = BytesMut::from(&bytes[..]);
        loop {
            let mut result = if bytes.is_empty() {
                Ok(())
            } else {
                uring.append_file(fd, bytes.clone()).await
            };
            let policy = node.data.borrow().aof.fsync;
            let sync_now = retired
                || match policy {
                    AppendFsync::Always => true,
                    AppendFsync::EverySec => last_sync.elapsed() >= Duration::from_secs(1),
                    AppendFsync::No => false,
                };
            if result.is_ok() && sync_now {
                result = uring.fdatasync(fd).await;
                last_sync = Instant::now();
            }
            let failed = {
                let mut data = node.data.borrow_mut();
                let st = &mut data.aof;
                match result {
                    Ok(()) => {
                        st.written = st.written.max(end);
                        file.len.set(file.len.get() + bytes.len() as u64);
                        if let Some(mark) = &st.mark {
                            mark.written.store(st.written, Release);
                            if !retired {
                                mark.current_bytes.fetch_add(bytes.len() as u64, Relaxed);
                            }
                        }
                        if st.error.take().is_some() {
                            node.global.aof.write_result(None, true);
                            crate::log!(
                                Warning,
                                "AOF write error looks solved. Tessera can write again."
                            );
                        }
                        if sync_now || policy == AppendFsync::No {
                            st.mark_durable(end);
                        }
                        false
                    }
                    Err(e) => {
                        // As Redis: cut off whatever part of the bytes did land (so the retry does
                        // not write them twice), log, refuse writes meanwhile, retry.
                        // SAFETY: ftruncate(2) on our own open descriptor.
                        if unsafe { libc::ftruncate(fd, file.len.get() as libc::off_t) } != 0 {
                            crate::log!(
                                Warning,
                                "Could not remove short write from the append-only file: {}",
                                std::io::Error::last_os_error()
                            );
                        }
                        if !st.on {
                            // The AOF was switched off (to get out of a full disk, typically):
                            // give these bytes up rather than retry forever, and stop refusing
                            // writes, as Redis clears its AOF error when the AOF stops.
                            crate::log!(Warning, "Dropping {} AOF bytes that could not be written: the AOF is off ({e})", bytes.len());
                            if st.error.take().is_some() {
                                node.global.aof.write_result(None, true);
                            }
                            st.written = st.written.max(end);
                            if let Some(mark) = &st.mark {
                                mark.written.store(st.written, Release);
                            }
                            st.mark_durable(end);
                            false
                        } else {
                            if policy == AppendFsync::Always {
                                // As Redis: the writes waiting on this were not acknowledged, and
                                // later ones could not be either; stopping is the only safe course.
                                crate::log!(Warning, "Error writing to the AOF file: {e}");
                                crate::log!(Warning, "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                                crate::shard::global::exit(1);
                            }
                            if st.error.is_none() {
                                crate::log!(Warning, "Error writing to the AOF file: {e}");
                                // strerror's text, as Redis's MISCONF message has it.
                                let text = e.to_string();
                                let text = text.split(" (os error").next().unwrap_or(&text);
                                node.global.aof.write_result(Some(text), false);
                            }
                            st.error = Some(e.to_string());
                            true
                        }
                    }
                }
            };
            if !failed {
                break;
            }
            crate::shard::timer::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits until everything logged so far, on every shard, is on disk; replies go out after
/// that under `appendfsync always`. This shard's own log is waited on directly; other shards'
/// positions are polled, since their wake-ups cannot cross threads.
pub async fn settle(node: &Rc<Node>) {
    let marks = &node.global.aof.marks;
    for (shard, mark) in marks.iter().enumerate() {
        let target = mark.logged.load(Acquire);
        if mark.durable.load(Acquire) >= target {
            continue;
        }
        if shard == node.id {
            Durable { node, pos: target }.await;
        } else {
            while mark.durable.load(Acquire) < target && node.global.aof.always() {
                crate::shard::timer::sleep(Duration::from_micros(20)).await;
            }
        }
    }
}

/// Before exiting: lets every shard's writer finish what was logged (for up to five seconds),
/// then syncs every file, as Redis flushes and fsyncs its AOF on shutdown.
pub async fn flush_all(node: &Rc<Node>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    for mark in node.global.aof.marks.iter() {
        let target = mark.logged.load(Acquire);
        while mark.written.load(Acquire) < target && Instant::now() < deadline {
            crate::shard::timer::sleep(Duration::from_millis(1)).await;
        }
    }
    for shard in 0..node.shards {
        node.run_on(shard, Vec::new(), |data| {
            if let Some(file) = &data.aof.file {
                if let Err(e) = file.file.sync_data() {
                    crate::log!(Warning, "Error syncing the AOF on shutdown: {e}");
                }
            }
        })
        .await;
    }
}
