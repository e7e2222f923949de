//! The connections' transport: one io_uring per shard that batches every socket's receives and
//! sends into one `io_uring_enter`.
//!
//! glommio's own `TcpStream` reads with a plain `recv(2)`, arms a POLL_ADD for readiness, and
//! writes with a plain `send(2)`: two system calls per request however many clients are ready at
//! once. Here a connection's `read`/`write_all` instead queue an IORING_OP_RECV/SEND on a ring of
//! this shard's own and wait; a [`Driver`] task on the same executor submits everything queued
//! since its last turn and reaps what completed, in one call, then wakes the connections whose
//! operations finished. Because it yields to them before its next turn, every connection that
//! became ready queues its next operation first, and the next call carries all of them.
//!
//! The ring is made with DEFER_TASKRUN, so the kernel finishes our completions only inside our
//! own `io_uring_enter`: none of glommio's system calls does our work piecemeal, and the
//! TASKRUN flag in the shared ring tells without a system call whether there is anything to
//! reap.
//!
//! The driver is also where a shard sleeps. Everything that can wake a shard ends one wait in
//! this ring: a socket or file operation completes, another shard rings its mailbox's bell (an
//! eventfd this ring always has a read pending on, see `shard::mailbox`), or the earliest of
//! the shard's timers (`shard::timer`) passes, which bounds the wait. So when no task is
//! runnable (`shard::task`) and nothing waits, the driver blocks in `io_uring_enter` itself,
//! and glommio's reactor, whose sleep and wake-up cost several system calls and a
//! membarrier each, never sleeps at all. A message to another shard costs one eventfd write,
//! and only when that shard has said it is going to sleep.
//!
//! Receives are multishot where the kernel has them (6.0+): each connection keeps one RECV
//! standing, the kernel keeps its socket's poll armed and puts each arrival into a buffer of a
//! provided-buffer ring, and `read` copies what arrived into the connection's input and hands
//! the buffers back. No receive is submitted, attempted in vain or re-armed per request. If
//! the ring runs dry (connections not reading what they were sent), the multishot receive
//! ends and that connection's next read is a one-shot RECV into its own buffer, which is also
//! the only path on older kernels.
//!
//! A connection's send does not hold it up: `write_all` queues the send and returns, so the
//! receive for the next request goes into the same submission as the reply before it. Only the
//! next write (or `flush`) waits for that send, which keeps one send per socket in flight and
//! the byte stream in order. A short send is continued by the driver itself.
//!
//! Memory the kernel writes to or reads from belongs to the driver while an operation is in
//! flight: a buffer is moved into the operation's slot and handed back when it completes. If the
//! waiting future is dropped first, the slot keeps the buffer until the kernel's completion
//! arrives (after an IORING_OP_ASYNC_CANCEL), so no dropped future frees memory in use.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::BytesMut;
use io_uring::{opcode, squeue, types, IoUring};

/// Submission queue size. Each connection has at most one operation and one cancellation in
/// flight, and a full queue is simply submitted early, so this bounds only the batch size.
const SQ_ENTRIES: u32 = 1024;
/// Completion queue size: large, so that many connections completing at once do not overflow
/// into the kernel's (slower) backlog list.
const CQ_ENTRIES: u32 = 8192;
/// How long after its last message from another shard an idle shard polls before it blocks.
/// Shards that trade messages (a client's keys on another shard) then answer each other in
/// well under a microsecond instead of through two thread wake-ups per hop (each one several
/// microseconds of the scheduler, more in a VM), at the price of this much CPU after each
/// burst. Shards without cross-shard traffic never spin and sleep as soon as they are idle.
const SPIN: std::time::Duration = std::time::Duration::from_micros(200);
/// A read into a buffer with no spare room gets at least this much.
const MIN_READ: usize = 4096;
/// The user_data of cancellations, whose own completions carry nothing to act on.
const CANCEL: u64 = u64::MAX;
/// The user_data of the read of the mailbox's bell.
const BELL: u64 = u64::MAX - 1;
/// The user_data of the timeout that bounds a wait where the kernel lacks EXT_ARG.
const TIMEOUT: u64 = u64::MAX - 2;
/// Marks the user_data of a connection's multishot receive (the rest is its inbox index).
const INBOX: u64 = 1 << 62;
/// The provided-buffer ring multishot receives draw from: its group id, buffer count (a power
/// of two) and buffer size. Buffers go back to the ring as soon as their bytes are copied into
/// the connection's input, so only data not yet read holds one.
const BUF_GROUP: u16 = 0;
const BUF_COUNT: u16 = 256;
const BUF_SIZE: usize = 16 * 1024;

/// A shard's io_uring and the operations in flight on it. One per shard thread, shared by that
/// shard's connections through an `Rc`; never crosses threads.
pub struct Driver {
    inner: RefCell<Inner>,
}

struct Inner {
    ring: IoUring,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Sends cut short in the turn being reaped, to be continued before it ends.
    resend: Vec<u32>,
    /// Each connection's multishot receive and what it delivered that is not read yet.
    inboxes: Vec<Inbox>,
    free_inboxes: Vec<u32>,
    /// None when the kernel lacks multishot receives: connections then use one-shot RECVs.
    bufs: Option<BufRing>,
    /// The mailbox's bell, and the eight bytes its pending read fills (boxed: the kernel
    /// writes there while the read is in flight).
    bell: RawFd,
    rung: Box<u64>,
    /// The bell's read is in flight.
    bell_armed: bool,
    /// The kernel takes a timeout with its wait (IORING_FEAT_EXT_ARG, 5.11+); without it a
    /// wait is bounded by a timeout operation, whose timespec lives here while it is armed.
    ext_arg: bool,
    timeout: Box<types::Timespec>,
    timeout_armed: bool,
}

/// What the driver serves besides the ring: the shard's mailbox.
pub trait Incoming {
    /// The eventfd that senders write to wake a sleeping shard.
    fn bell(&self) -> RawFd;
    /// Serves everything that arrived; returns how many messages that was.
    fn take(&self) -> usize;
    /// Whether anything arrived that `take` would serve. Cheap: the driver spins on it.
    fn waiting(&self) -> bool;
    /// The shard is about to block: false if something arrived meanwhile and it must not.
    fn sleep(&self) -> bool;
    /// The shard is awake again.
    fn awake(&self);
}

struct Slot {
    state: State,
    /// The buffer the kernel reads from or writes into; owned here until the completion.
    buf: BytesMut,
    /// For a send: the socket, and how much of `buf` the kernel has taken so far.
    send: Option<(RawFd, usize)>,
    /// For a send: its connection's count of unsent bytes, lowered by the driver when the
    /// send is done, so that it is right even while nobody polls the send.
    unsent: Option<Rc<Cell<usize>>>,
}

/// A connection's standing multishot receive. The kernel keeps the socket's poll armed and
/// delivers each arrival into a provided buffer: no RECV is submitted or armed per request.
#[derive(Default)]
struct Inbox {
    /// The multishot receive is in flight.
    armed: bool,
    /// Buffers (id, length) received and not read yet, in order.
    chunks: std::collections::VecDeque<(u16, u32)>,
    /// End of file (0) or an error (-errno): nothing more will arrive.
    end: Option<i32>,
    /// The buffer ring ran dry: the next read uses a one-shot RECV into its own buffer.
    starved: bool,
    waker: Option<Waker>,
    /// Its stream is gone; the inbox is freed once the kernel is done with it.
    closed: bool,
}

/// The provided-buffer ring: a ring of buffer descriptors shared with the kernel, and the
/// buffers, both mapped outside the allocator (they are not data the server stores).
struct BufRing {
    ring: *mut types::BufRingEntry,
    data: *mut u8,
    /// The next tail to publish, ahead of the kernel's head by the buffers it may use.
    tail: u16,
}

impl BufRing {
    fn new(ring: &IoUring) -> io::Result<BufRing> {
        let map = crate::alloc::map_anonymous;
        let entries = map(BUF_COUNT as usize * std::mem::size_of::<types::BufRingEntry>())?;
        let data = map(BUF_COUNT as usize * BUF_SIZE)?;
        let mut bufs = BufRing {
            ring: entries.cast(),
            data: data.cast(),
            tail: 0,
        };
        for bid in 0..BUF_COUNT {
            bufs.give_back(bid);
        }
        bufs.publish();
        // SAFETY: the ring memory is mapped for the life of the process (never unmapped: the
        // driver lives as long as its thread).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries as u64,
                BUF_COUNT,
                BUF_GROUP,
                0,
            )?
        };
        Ok(bufs)
    }

    /// The bytes the kernel put in buffer `bid`.
    fn chunk(&self, bid: u16, len: u32) -> &[u8] {
        // SAFETY: `bid` < BUF_COUNT came from the kernel, which wrote `len` <= BUF_SIZE bytes.
        unsafe { std::slice::from_raw_parts(self.data.add(bid as usize * BUF_SIZE), len as usize) }
    }

    /// Puts buffer `bid` back at the tail; the kernel sees it after [`publish`](Self::publish).
    fn give_back(&mut self, bid: u16) {
        // SAFETY: the slot at the tail is not one the kernel may use until published.
        let entry = unsafe { &mut *self.ring.add((self.tail & (BUF_COUNT - 1)) as usize) };
        // SAFETY: within the data mapping, as `bid` < BUF_COUNT.
        entry.set_addr(unsafe { self.data.add(bid as usize * BUF_SIZE) } as u64);
        entry.set_len(BUF_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the mapped ring; the release
        // store orders the entries written above before it.
        unsafe {
            let tail = types::BufRingEntry::tail(self.ring) as *const std::sync::atomic::AtomicU16;
            (*tail).store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }
}

enum State {
    Free,
    InFlight(Option<Waker>),
    Done(i32),
    /// Its future was dropped; the slot is freed when the kernel's completion arrives.
    Orphaned,
}

impl Driver {
    /// Creates this shard's ring and spawns the task that drives it, serving `incoming` too.
    /// Must run on the shard's executor thread: the ring accepts submissions only from the
    /// thread that made it.
    /// With `spin`, an idle shard that served mail lately polls for a while before it blocks
    /// (see [`SPIN`]); pointless with one shard, which gets no mail.
    pub fn start(incoming: impl Incoming + 'static, spin: bool) -> io::Result<Rc<Driver>> {
        let (ring, modern) = match IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
        {
            Ok(ring) => (ring, true),
            // Kernels before 6.1 lack DEFER_TASKRUN; completions then run at any kernel entry,
            // which is correct, only less batched.
            Err(_) => (
                IoUring::builder()
                    .setup_cqsize(CQ_ENTRIES)
                    .build(SQ_ENTRIES)?,
                false,
            ),
        };
        // Multishot receives came with 6.0; a kernel with DEFER_TASKRUN has them.
        let bufs = if modern {
            BufRing::new(&ring).ok()
        } else {
            None
        };
        let ext_arg = ring.params().is_feature_ext_arg();
        let driver = Rc::new(Driver {
            inner: RefCell::new(Inner {
                ring,
                slots: Vec::new(),
                free: Vec::new(),
                resend: Vec::new(),
                inboxes: Vec::new(),
                free_inboxes: Vec::new(),
                bufs,
                bell: incoming.bell(),
                rung: Box::new(0),
                bell_armed: false,
                ext_arg,
                timeout: Box::new(types::Timespec::new()),
                timeout_armed: false,
            }),
        });
        // Not a counted task (`shard::task`): the driver asks whether *other* tasks ran.
        glommio::spawn_local(driver.clone().run(incoming, spin)).detach();
        Ok(driver)
    }

    async fn run(self: Rc<Self>, incoming: impl Incoming, spin: bool) {
        let mut last_mail = Instant::now();
        loop {
            // This turn's time, for everything that runs in it (`db::clock`).
            crate::db::clock::tick();
            let reaped = self.turn();
            let mail = incoming.take();
            if spin && mail > 0 {
                // Taking mail ticked the clock (`Node::take_mail`).
                last_mail = crate::db::clock::last();
            }
            let due = crate::shard::timer::fire_due();
            // Whatever those woke runs now, and queues its next operations for the next turn
            // to submit together.
            let polls = crate::shard::task::polls();
            futures_lite::future::yield_now().await;
            let others_ran = crate::shard::task::polls() != polls;
            if reaped > 0 || mail > 0 || due > 0 || others_ran || self.has_work() {
                continue;
            }
            // A whole pass of the run queue ran nothing else, so nothing is runnable: only a
            // running task can wake another, and other threads reach us only by mail.
            if spin && last_mail.elapsed() < SPIN && self.spin_until_work(&incoming, last_mail) {
                continue;
            }
            if !incoming.sleep() {
                continue;
            }
            self.wait_in_ring(crate::shard::timer::next_deadline());
            incoming.awake();
        }
    }

    /// Polls for mail, a completion or a due timer until [`SPIN`] has passed since
    /// `last_mail`; true if one came. It looks only at shared memory, and yields the CPU
    /// between looks (one `sched_yield` each) to anything else runnable on it.
    fn spin_until_work(&self, incoming: &impl Incoming, last_mail: Instant) -> bool {
        let deadline = crate::shard::timer::next_deadline();
        let mut spins = 0u32;
        loop {
            if incoming.waiting() || self.has_work() {
                return true;
            }
            spins += 1;
            // The clock is read every few rounds: it costs more than the checks.
            if spins.is_multiple_of(4) {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return true;
                }
                if now.duration_since(last_mail) >= SPIN {
                    return false;
                }
            }
            // Gives the CPU to anything else runnable on it (a client on the same machine,
            // another process): the polling only fills time that would otherwise be idle.
            // SAFETY: sched_yield(2) has no arguments and cannot fail.
            unsafe { libc::sched_yield() };
        }
    }

    /// Blocks the thread in this ring until a completion (the bell's included) or `deadline`.
    fn wait_in_ring(&self, deadline: Option<Instant>) {
        let mut inner = self.inner.borrow_mut();
        if !inner.bell_armed {
            inner.bell_armed = true;
            let entry = opcode::Read::new(
                types::Fd(inner.bell),
                (&mut *inner.rung as *mut u64).cast(),
                8,
            )
            .build()
            .user_data(BELL);
            inner.push(entry);
        }
        if !inner.ext_arg {
            // Kernels before 5.11 cannot bound a wait by a timeout argument: a timeout
            // operation completes instead. One at a time; a timer that comes due earlier than
            // the armed one waits for it (at most one tick of the shard's hz, in practice).
            if let Some(left) = deadline.map(|at| at.saturating_duration_since(Instant::now())) {
                if !inner.timeout_armed {
                    inner.timeout_armed = true;
                    *inner.timeout = types::Timespec::from(left);
                    let entry = opcode::Timeout::new(&*inner.timeout as *const types::Timespec)
                        .build()
                        .user_data(TIMEOUT);
                    inner.push(entry);
                }
            }
            if let Err(e) = inner.ring.submitter().submit_and_wait(1) {
                if !matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EBUSY)) {
                    crate::log!(Warning, "io_uring_enter failed: {e}");
                }
            }
            return;
        }
        let to_submit = inner.ring.submission().len();
        let submitter = inner.ring.submitter();
        let r = match deadline {
            None => submitter.submit_and_wait(1),
            Some(at) => {
                let Some(left) = at
                    .checked_duration_since(Instant::now())
                    .filter(|d| !d.is_zero())
                else {
                    // Due already: submit the bell's read, but do not wait.
                    if to_submit > 0 {
                        let _ = submitter.submit();
                    }
                    return;
                };
                let ts = types::Timespec::from(left);
                let args = types::SubmitArgs::new().timespec(&ts);
                submitter.submit_with_args(1, &args)
            }
        };
        if let Err(e) = r {
            // ETIME is the deadline; EINTR and EBUSY are retried by the next turn.
            match e.raw_os_error() {
                Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) => {}
                _ => crate::log!(Warning, "io_uring_enter failed: {e}"),
            }
        }
    }

    /// Submits every queued operation and reaps every completion, with at most one system call.
    /// Returns how many completions it reaped.
    fn turn(&self) -> usize {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let (to_submit, kernel_work) = {
            let sq = inner.ring.submission();
            (sq.len(), sq.taskrun() || sq.cq_overflow())
        };
        if to_submit > 0 || kernel_work {
            // GETEVENTS runs the deferred completions; min_complete 0 never blocks.
            // SAFETY: no extra argument is passed.
            let r = unsafe {
                inner.ring.submitter().enter::<libc::sigset_t>(
                    to_submit as u32,
                    0,
                    io_uring::EnterFlags::GETEVENTS.bits(),
                    None,
                )
            };
            if let Err(e) = r {
                // EINTR and EBUSY/EAGAIN (completion backlog full) are retried on the next turn,
                // after the reaping below has made room; anything else is a bug worth seeing.
                match e.raw_os_error() {
                    Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) => {}
                    _ => crate::log!(Warning, "io_uring_enter failed: {e}"),
                }
            }
        }
        let mut reaped = 0;
        let Inner {
            ring,
            slots,
            free,
            resend,
            inboxes,
            free_inboxes,
            bufs,
            bell_armed,
            timeout_armed,
            ..
        } = inner;
        let mut returned = false;
        for cqe in ring.completion() {
            reaped += 1;
            let ud = cqe.user_data();
            if ud == CANCEL {
                continue;
            }
            if ud == BELL {
                // The mail itself is taken by the driver's loop; only the read ends here.
                *bell_armed = false;
                continue;
            }
            if ud == TIMEOUT {
                *timeout_armed = false;
                continue;
            }
            if ud & INBOX != 0 {
                let bufs = bufs
                    .as_mut()
                    .expect("inboxes exist only with a buffer ring");
                let idx = (ud & !INBOX) as usize;
                let inbox = &mut inboxes[idx];
                let (res, flags) = (cqe.result(), cqe.flags());
                match io_uring::cqueue::buffer_select(flags) {
                    Some(bid) if res > 0 && !inbox.closed => {
                        inbox.chunks.push_back((bid, res as u32))
                    }
                    Some(bid) => {
                        bufs.give_back(bid);
                        returned = true;
                    }
                    None if res == -libc::ENOBUFS => inbox.starved = true,
                    None if res <= 0 => inbox.end = Some(res),
                    None => {}
                }
                if !io_uring::cqueue::more(flags) {
                    inbox.armed = false;
                    if inbox.closed {
                        *inbox = Inbox::default();
                        free_inboxes.push(idx as u32);
                    }
                }
                if let Some(w) = inbox.waker.take() {
                    w.wake();
                }
                continue;
            }
            let slot = &mut slots[ud as usize];
            let mut res = cqe.result();
            if let (Some((_, sent)), State::InFlight(_)) = (&mut slot.send, &slot.state) {
                if res > 0 {
                    *sent += res as usize;
                    if *sent < slot.buf.len() {
                        // Short send: the rest goes out before anyone hears of it.
                        resend.push(ud as u32);
                        continue;
                    }
                    res = *sent as i32;
                }
            }
            if let Some(unsent) = slot.unsent.take() {
                unsent.set(unsent.get().saturating_sub(slot.buf.len()));
            }
            match std::mem::replace(&mut slot.state, State::Done(res)) {
                State::InFlight(waker) => {
                    if let Some(w) = waker {
                        w.wake();
                    }
                }
                State::Orphaned => {
                    slot.state = State::Free;
                    slot.buf = BytesMut::new();
                    slot.send = None;
                    free.push(ud as u32);
                }
                State::Free | State::Done(_) => {
                    unreachable!("a completion for slot {ud} that has no operation in flight")
                }
            }
        }
        if returned {
            if let Some(b) = inner.bufs.as_ref() {
                b.publish();
            }
        }
        while let Some(idx) = inner.resend.pop() {
            let entry = inner.slots[idx as usize].send_entry();
            inner.push(entry.user_data(idx as u64));
        }
        reaped
    }

    /// Whether a turn now would find something to do: queued submissions, or completions the
    /// kernel has (or is holding) for us.
    fn has_work(&self) -> bool {
        let mut inner = self.inner.borrow_mut();
        let sq = inner.ring.submission();
        let pending = !sq.is_empty() || sq.taskrun() || sq.cq_overflow();
        drop(sq);
        pending || !inner.ring.completion().is_empty()
    }

    /// Queues `entry` (its user_data is set here) with `buf` owned by the new operation; for
    /// a send, `entry` is None and made from `send`.
    fn submit(
        self: &Rc<Self>,
        entry: Option<squeue::Entry>,
        buf: BytesMut,
        send: Option<(RawFd, usize)>,
    ) -> Op {
        let mut inner = self.inner.borrow_mut();
        let idx = match inner.free.pop() {
            Some(i) => i,
            None => {
                inner.slots.push(Slot {
                    state: State::Free,
                    buf: BytesMut::new(),
                    send: None,
                    unsent: None,
                });
                (inner.slots.len() - 1) as u32
            }
        };
        let slot = &mut inner.slots[idx as usize];
        slot.state = State::InFlight(None);
        slot.buf = buf;
        slot.send = send;
        let entry = entry.unwrap_or_else(|| slot.send_entry());
        inner.push(entry.user_data(idx as u64));
        Op {
            driver: self.clone(),
            idx,
            finished: false,
        }
    }

    /// Receives into the spare capacity of `buf`; the result is the byte count or `-errno`.
    fn recv(self: &Rc<Self>, fd: RawFd, mut buf: BytesMut) -> Op {
        let spare = buf.spare_capacity_mut();
        let len = spare.len().min(u32::MAX as usize) as u32;
        let ptr = spare.as_mut_ptr().cast::<u8>();
        // The pointer stays valid when `buf` moves into the slot: it points into the heap
        // allocation, which the slot keeps until the completion.
        let entry = opcode::Recv::new(types::Fd(fd), ptr, len).build();
        self.submit(Some(entry), buf, None)
    }

    /// Moves what inbox `idx` received into `buf`. Ready with `Some(Ok(n))` for data or end of
    /// file, `Some(Err(-errno))` for an error, `None` when the buffer ring ran dry and the caller
    /// should receive once on its own; otherwise arms the multishot receive if needed and waits.
    fn poll_inbox(
        &self,
        idx: u32,
        fd: RawFd,
        buf: &mut BytesMut,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<usize, i32>>> {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let inbox = &mut inner.inboxes[idx as usize];
        if !inbox.chunks.is_empty() {
            let bufs = inner
                .bufs
                .as_mut()
                .expect("inboxes exist only with a buffer ring");
            let mut n = 0;
            for (bid, len) in inbox.chunks.drain(..) {
                buf.extend_from_slice(bufs.chunk(bid, len));
                bufs.give_back(bid);
                n += len as usize;
            }
            bufs.publish();
            return Poll::Ready(Some(Ok(n)));
        }
        if let Some(end) = inbox.end {
            return Poll::Ready(Some(if end == 0 { Ok(0) } else { Err(end) }));
        }
        if !inbox.armed {
            if inbox.starved {
                inbox.starved = false;
                return Poll::Ready(None);
            }
            inbox.armed = true;
            inner.push(
                opcode::RecvMulti::new(types::Fd(fd), BUF_GROUP)
                    .build()
                    .user_data(INBOX | idx as u64),
            );
        }
        inner.inboxes[idx as usize].waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Sends all of `buf`; resolves to its length or `-errno`. `unsent` is lowered by the
    /// length once the send is done.
    fn send(self: &Rc<Self>, fd: RawFd, buf: BytesMut, unsent: Rc<Cell<usize>>) -> Op {
        let op = self.submit(None, buf, Some((fd, 0)));
        self.inner.borrow_mut().slots[op.idx as usize].unsent = Some(unsent);
        op
    }

    /// Appends all of `buf` to the file `fd` (opened with O_APPEND), continuing short writes.
    /// The AOF goes through here so that a shard's disk writes share its ring and its turns.
    pub async fn append_file(self: &Rc<Self>, fd: RawFd, mut buf: BytesMut) -> io::Result<()> {
        while !buf.is_empty() {
            let len = buf.len().min(1 << 30) as u32;
            // Offset -1: the file position, which O_APPEND keeps at the end.
            let entry = opcode::Write::new(types::Fd(fd), buf.as_ptr(), len)
                .offset(u64::MAX)
                .build();
            let (res, back) = self.submit(Some(entry), buf, None).await;
            buf = back;
            if res < 0 {
                return Err(io::Error::from_raw_os_error(-res));
            }
            if res == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the file took no bytes",
                ));
            }
            let _ = buf.split_to(res as usize);
        }
        Ok(())
    }

    /// fdatasync(2) through the ring.
    pub async fn fdatasync(self: &Rc<Self>, fd: RawFd) -> io::Result<()> {
        let entry = opcode::Fsync::new(types::Fd(fd))
            .flags(types::FsyncFlags::DATASYNC)
            .build();
        let (res, _) = self.submit(Some(entry), BytesMut::new(), None).await;
        if res < 0 {
            return Err(io::Error::from_raw_os_error(-res));
        }
        Ok(())
    }

    /// Accepts one connection on `listener`, through the ring like everything else.
    pub async fn accept(self: &Rc<Self>, listener: &Listener) -> io::Result<Socket> {
        let entry = opcode::Accept::new(
            types::Fd(listener.as_raw_fd()),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
        .flags(libc::SOCK_CLOEXEC)
        .build();
        let (res, _) = self.submit(Some(entry), BytesMut::new(), None).await;
        if res < 0 {
            return Err(io::Error::from_raw_os_error(-res));
        }
        // SAFETY: the kernel just created this descriptor for us and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(res) };
        Ok(match listener {
            Listener::Tcp(_) => Socket::Tcp(fd.into()),
            Listener::Unix(_) => Socket::Unix(fd.into()),
        })
    }
}

/// Where clients connect: a TCP address, or the `unixsocket` path.
pub enum Listener {
    Tcp(TcpListener),
    /// One socket shared by every shard (a path cannot be bound once per shard as a port can
    /// with SO_REUSEPORT): each shard's ring waits in accept on it, and the kernel hands each
    /// connection to one of them.
    Unix(Arc<UnixListener>),
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l) => l.as_raw_fd(),
        }
    }
}

/// A client's connection.
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Socket {
    /// The peer's address as Redis prints it (`ip:port`, `[ipv6]:port`, `/unixsocket:0`).
    pub fn peer(&self) -> String {
        match self {
            Socket::Tcp(s) => s.peer_addr().map(|a| a.to_string()).unwrap_or_default(),
            Socket::Unix(_) => UNIX_ADDR.to_string(),
        }
    }

    /// This end's address, in the same form.
    pub fn local(&self) -> String {
        match self {
            Socket::Tcp(s) => s.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            Socket::Unix(_) => UNIX_ADDR.to_string(),
        }
    }

    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Socket::Tcp(s) => Some(s),
            Socket::Unix(_) => None,
        }
    }
}

/// What Redis reports as the address of either end of a Unix socket connection.
const UNIX_ADDR: &str = "/unixsocket:0";

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Socket::Tcp(s) => s.as_raw_fd(),
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Slot {
    /// The send of what remains of this slot's buffer.
    fn send_entry(&self) -> squeue::Entry {
        let (fd, sent) = self.send.expect("a send slot");
        let rest = &self.buf[sent..];
        let len = rest.len().min(u32::MAX as usize) as u32;
        opcode::Send::new(types::Fd(fd), rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }
}

impl Inner {
    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every buffer an entry points to is owned by its slot until the
            // completion, and cancellations point to nothing.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                break;
            }
            // Full: hand the kernel what is queued now rather than wait for the driver's turn.
            if let Err(e) = self.ring.submit() {
                if e.raw_os_error() != Some(libc::EBUSY) && e.raw_os_error() != Some(libc::EINTR) {
                    panic!("cannot submit to io_uring: {e}");
                }
            }
        }
    }
}

/// One operation in flight; resolves to the kernel's result and the buffer it was given.
struct Op {
    driver: Rc<Driver>,
    idx: u32,
    finished: bool,
}

impl Future for Op {
    type Output = (i32, BytesMut);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut inner = this.driver.inner.borrow_mut();
        let idx = this.idx;
        let slot = &mut inner.slots[idx as usize];
        match &mut slot.state {
            State::Done(res) => {
                let res = *res;
                slot.state = State::Free;
                slot.send = None;
                let buf = std::mem::take(&mut slot.buf);
                inner.free.push(idx);
                this.finished = true;
                Poll::Ready((res, buf))
            }
            State::InFlight(waker) => {
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
            State::Free | State::Orphaned => unreachable!("polled an operation already finished"),
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut inner = self.driver.inner.borrow_mut();
        let slot = &mut inner.slots[self.idx as usize];
        match slot.state {
            State::Done(_) => {
                slot.state = State::Free;
                slot.buf = BytesMut::new();
                slot.send = None;
                inner.free.push(self.idx);
            }
            _ => {
                slot.state = State::Orphaned;
                inner.push(
                    opcode::AsyncCancel::new(self.idx as u64)
                        .build()
                        .user_data(CANCEL),
                );
            }
        }
    }
}

/// A connection's socket, read and written through its shard's [`Driver`].
///
/// Writing never waits: replies are queued behind the send in flight, and reading (or
/// watching for the peer to leave) keeps the sends going. A client that does not read its
/// replies therefore never stops the server from reading its requests, as with Redis; what
/// bounds its queue is the output buffer limit its connection enforces over
/// [`unsent`](Self::unsent).
pub struct UringStream {
    sock: Socket,
    driver: Rc<Driver>,
    /// This connection's inbox, when the kernel has multishot receives.
    inbox: Option<u32>,
    /// The send in flight, if any.
    sending: Option<Op>,
    /// Replies written while a send was in flight: the next send.
    queued: BytesMut,
    /// The buffer of the last finished send, cleared: the next write swaps it in.
    spare: BytesMut,
    /// Bytes written and not yet sent, shared with whoever reports or limits them.
    unsent: Rc<Cell<usize>>,
    /// What other tasks queued for this connection while it waits for input.
    outbox: Rc<Outbox>,
}

/// Messages other tasks have for a connection (pub/sub pushes), in the order they came.
///
/// The connection moves them into its own output between commands; while it waits for
/// input (or watches its socket during a blocking command) the stream sends them itself, so
/// that a subscriber that sends nothing still hears its messages.
#[derive(Default)]
pub struct Outbox {
    buf: RefCell<BytesMut>,
    waker: Cell<Option<Waker>>,
}

impl Outbox {
    /// Queues `bytes` and wakes the connection if it waits for input.
    pub fn push(&self, bytes: &[u8]) {
        self.buf.borrow_mut().extend_from_slice(bytes);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// The connection's output buffer, for writing a message into without a copy; call
    /// [`Outbox::wake`] after.
    pub fn buffer(&self) -> std::cell::RefMut<'_, BytesMut> {
        self.buf.borrow_mut()
    }

    pub fn wake(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub fn len(&self) -> usize {
        self.buf.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.borrow().is_empty()
    }

    /// Moves everything queued to the end of `out`.
    pub fn drain_into(&self, out: &mut BytesMut) {
        let mut buf = self.buf.borrow_mut();
        if buf.is_empty() {
            return;
        }
        if out.is_empty() {
            std::mem::swap(out, &mut buf);
        } else {
            out.extend_from_slice(&buf);
            buf.clear();
        }
    }

    /// Moves the first `n` bytes queued (whole messages, as queued before some moment) to the
    /// end of `out`.
    pub fn drain_front_into(&self, n: usize, out: &mut BytesMut) {
        let mut buf = self.buf.borrow_mut();
        let n = n.min(buf.len());
        out.extend_from_slice(&buf.split_to(n));
    }

    /// Asks to be woken by the next push.
    fn register(&self, cx: &Context<'_>) {
        let old = self.waker.take();
        match old {
            Some(w) if w.will_wake(cx.waker()) => self.waker.set(Some(w)),
            _ => self.waker.set(Some(cx.waker().clone())),
        }
    }
}

/// A send buffer kept for reuse when its send finishes only up to this capacity: an idle
/// connection should not hold on to the memory of its biggest reply.
const SPARE_KEEP: usize = 64 * 1024;

impl UringStream {
    pub fn new(sock: Socket, driver: Rc<Driver>) -> UringStream {
        let inbox = {
            let mut inner = driver.inner.borrow_mut();
            if inner.bufs.is_some() {
                Some(match inner.free_inboxes.pop() {
                    Some(i) => i,
                    None => {
                        inner.inboxes.push(Inbox::default());
                        (inner.inboxes.len() - 1) as u32
                    }
                })
            } else {
                None
            }
        };
        UringStream {
            sock,
            driver,
            inbox,
            sending: None,
            queued: BytesMut::new(),
            spare: BytesMut::new(),
            unsent: Rc::default(),
            outbox: Rc::default(),
        }
    }

    /// The connection's [`Outbox`], for whoever has messages for it.
    pub fn outbox(&self) -> Rc<Outbox> {
        self.outbox.clone()
    }

    /// Sends what the outbox holds and asks to be woken by its next push.
    fn send_outbox(&mut self, cx: &Context<'_>) {
        self.outbox.register(cx);
        if !self.outbox.is_empty() {
            let mut pushed = BytesMut::new();
            self.outbox.drain_into(&mut pushed);
            self.write(&mut pushed);
        }
    }

    /// The count of bytes written and not yet sent, kept up to date as sends finish.
    pub fn unsent(&self) -> Rc<Cell<usize>> {
        self.unsent.clone()
    }

    pub fn socket(&self) -> &Socket {
        &self.sock
    }

    /// Appends what the peer sent to `buf`; `Ok(0)` is end of file (also after CLIENT KILL's
    /// shutdown(2)). With an inbox, everything received so far is copied out of the provided
    /// buffers; otherwise (or when the buffers ran out) one RECV goes straight into `buf`'s
    /// spare capacity. If the future is dropped during such a RECV, `buf` is left empty: its
    /// memory stays with the pending receive. Meanwhile queued replies keep leaving; a failed
    /// send is reported here.
    pub async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        if let Some(idx) = self.inbox {
            let fd = self.sock.as_raw_fd();
            let got = std::future::poll_fn(|cx| {
                self.send_outbox(cx);
                if let Poll::Ready(Err(e)) = self.poll_sends(cx, false) {
                    return Poll::Ready(Some(Err(e)));
                }
                self.driver
                    .poll_inbox(idx, fd, buf, cx)
                    .map(|got| got.map(|r| r.map_err(|e| io::Error::from_raw_os_error(-e))))
            })
            .await;
            match got {
                Some(done) => return done,
                None => {} // starved: one one-shot receive below
            }
        }
        if buf.capacity() == buf.len() {
            buf.reserve(MIN_READ);
        }
        let mut recv = self.driver.recv(self.sock.as_raw_fd(), std::mem::take(buf));
        let (res, mut back) = std::future::poll_fn(|cx| {
            self.send_outbox(cx);
            if let Poll::Ready(Err(e)) = self.poll_sends(cx, false) {
                return Poll::Ready((-e.raw_os_error().unwrap_or(libc::EIO), BytesMut::new()));
            }
            Pin::new(&mut recv).poll(cx)
        })
        .await;
        if res > 0 {
            // SAFETY: the kernel initialised `res` bytes of the spare capacity.
            unsafe { back.set_len(back.len() + res as usize) };
        }
        *buf = back;
        if res < 0 {
            Err(io::Error::from_raw_os_error(-res))
        } else {
            Ok(res as usize)
        }
    }

    /// Resolves when the peer closes the connection or it fails, appending whatever the peer
    /// sends meanwhile to `buf` and sending what is queued. Unlike [`read`](Self::read) it can
    /// be dropped at any point without losing input, so it can watch the socket while a
    /// command waits.
    pub async fn closed(&mut self, buf: &mut BytesMut) {
        let fd = self.sock.as_raw_fd();
        loop {
            if let Some(idx) = self.inbox {
                let got = std::future::poll_fn(|cx| {
                    self.send_outbox(cx);
                    if let Poll::Ready(Err(_)) = self.poll_sends(cx, false) {
                        // A send failed: the peer is as good as gone.
                        return Poll::Ready(Some(Err(0)));
                    }
                    self.driver.poll_inbox(idx, fd, buf, cx)
                })
                .await;
                match got {
                    Some(Ok(0)) | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                    None => {} // starved: peek below until buffers are back
                }
            }
            let mut probe = 0u8;
            // SAFETY: a one-byte peek into a local; the data stays queued in the socket.
            let n = unsafe {
                libc::recv(
                    fd,
                    (&mut probe as *mut u8).cast(),
                    1,
                    libc::MSG_PEEK | libc::MSG_DONTWAIT,
                )
            };
            if n == 0 || (n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock) {
                return;
            }
            let mut nap = std::pin::pin!(crate::shard::timer::sleep(
                std::time::Duration::from_millis(100)
            ));
            std::future::poll_fn(|cx| {
                self.send_outbox(cx);
                let _ = self.poll_sends(cx, false);
                nap.as_mut().poll(cx)
            })
            .await;
        }
    }

    /// Queues all of `buf` to be sent and leaves `buf` empty; never waits. An error shows up
    /// in a later [`read`](Self::read) or [`flush`](Self::flush).
    pub fn write(&mut self, buf: &mut BytesMut) {
        if buf.is_empty() {
            return;
        }
        self.unsent.set(self.unsent.get() + buf.len());
        if self.sending.is_none() && self.queued.is_empty() {
            let data = std::mem::replace(buf, std::mem::take(&mut self.spare));
            self.start_send(data);
        } else if self.queued.is_empty() {
            std::mem::swap(&mut self.queued, buf);
        } else {
            self.queued.extend_from_slice(buf);
            buf.clear();
        }
    }

    fn start_send(&mut self, data: BytesMut) {
        let op = self
            .driver
            .send(self.sock.as_raw_fd(), data, self.unsent.clone());
        self.sending = Some(op);
    }

    /// Moves the sends along: Ready once everything written has been sent, or with the error
    /// of the send that failed (which stays in flight, so later polls fail too). Asks to be
    /// woken only when there is a next send to start or `waiting` for all to be sent: a
    /// lone send finishing needs no task to run (the driver keeps `unsent` right).
    fn poll_sends(&mut self, cx: &mut Context<'_>, waiting: bool) -> Poll<io::Result<()>> {
        loop {
            let Some(op) = self.sending.as_mut() else {
                if self.queued.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                let data = std::mem::take(&mut self.queued);
                self.start_send(data);
                continue;
            };
            if op.finished {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            let mut quiet = Context::from_waker(Waker::noop());
            let cx = if waiting || !self.queued.is_empty() {
                &mut *cx
            } else {
                &mut quiet
            };
            let (res, mut back) = std::task::ready!(Pin::new(op).poll(cx));
            if res <= 0 {
                // Left in place, finished: the connection is done for.
                return Poll::Ready(Err(if res == 0 {
                    io::ErrorKind::WriteZero.into()
                } else {
                    io::Error::from_raw_os_error(-res)
                }));
            }
            self.sending = None;
            if back.capacity() <= SPARE_KEEP {
                back.clear();
                self.spare = back;
            }
        }
    }

    /// Waits until everything written has been sent.
    pub async fn flush(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_sends(cx, true)).await
    }
}

impl Drop for UringStream {
    fn drop(&mut self) {
        let Some(idx) = self.inbox else {
            return;
        };
        let mut guard = self.driver.inner.borrow_mut();
        let inner = &mut *guard;
        let inbox = &mut inner.inboxes[idx as usize];
        let bufs = inner
            .bufs
            .as_mut()
            .expect("inboxes exist only with a buffer ring");
        for (bid, _) in inbox.chunks.drain(..) {
            bufs.give_back(bid);
        }
        bufs.publish();
        if inbox.armed {
            // Freed by the turn that reaps the receive's last completion.
            inbox.closed = true;
            inbox.waker = None;
            inner.push(
                opcode::AsyncCancel::new(INBOX | idx as u64)
                    .build()
                    .user_data(CANCEL),
            );
        } else {
            *inbox = Inbox::default();
            inner.free_inboxes.push(idx);
        }
    }
}

/// A listening socket on `addr` that every shard can bind: SO_REUSEPORT lets the kernel spread
/// new connections over the shards. Left blocking: the ring waits for connections itself.
pub fn listen(addr: SocketAddr, backlog: u32) -> io::Result<Listener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    if addr.is_ipv6() {
        // As Redis: `::` is IPv6 only, so that `* ::*` can bind both families.
        sock.set_only_v6(true)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(backlog.min(i32::MAX as u32) as i32)?;
    remember(sock.as_raw_fd());
    Ok(Listener::Tcp(sock.into()))
}

/// The `unixsocket` listener, with `unixsocketperm` applied when not 0. A stale socket file
/// left by an earlier run is removed first, as Redis does.
pub fn listen_unix(path: &std::path::Path, perm: u32, backlog: u32) -> io::Result<Listener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    sock.bind(&socket2::SockAddr::unix(path)?)?;
    sock.listen(backlog.min(i32::MAX as u32) as i32)?;
    if perm != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))?;
    }
    remember(sock.as_raw_fd());
    use std::os::fd::IntoRawFd;
    // SAFETY: the descriptor was just taken out of `sock`, so the listener is its only owner.
    let listener = unsafe { UnixListener::from_raw_fd(sock.into_raw_fd()) };
    Ok(Listener::Unix(Arc::new(listener)))
}

fn remember(fd: RawFd) {
    LISTENERS.lock().unwrap_or_else(|e| e.into_inner()).push(fd);
}

/// Every listening socket of the process, for [`stop_listening`].
static LISTENERS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Takes every listening socket out of the listening state, before the process exits. A
/// pending accept on a ring keeps its socket alive until the kernel tears the ring down,
/// which happens after the process is gone: a server restarted at once on the same port
/// could find it still taken.
pub fn stop_listening() {
    for &fd in LISTENERS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        // SAFETY: shutdown(2) on a descriptor this process opened and never closes.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    }
}
