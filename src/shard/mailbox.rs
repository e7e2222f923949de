//! How shards talk: each has a mailbox that any thread may post to, and a bell that wakes it.
//!
//! A shard that has nothing to do blocks in its own io_uring (see `uring::Driver`), where a
//! read of the bell (an eventfd) is always pending. A sender appends its message and, only if
//! the owner said it is going to sleep, rings the bell: one `write(2)`, and the owner's ring
//! completes the read and wakes it. A busy owner is never rung; it takes its mail on its
//! driver's next turn. So a hop to another shard costs microseconds, never a reactor's sleep,
//! and a shard is never asleep with mail waiting.
//!
//! No lost wake-up: the owner announces sleep (`asleep = true`) and then looks at the count of
//! waiting messages; a sender counts its message and then looks at `asleep`. All four accesses
//! are sequentially consistent, so at least one of them sees the other's write: the owner
//! stays awake, or the sender rings.
//!
//! Messages from one sender to one owner are taken in the order they were posted.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

pub struct Mailbox<M> {
    queue: Mutex<Vec<M>>,
    /// Messages posted and not yet taken.
    waiting: AtomicUsize,
    /// The owner is about to block, or blocked, in its ring.
    asleep: AtomicBool,
    bell: OwnedFd,
}

impl<M> Mailbox<M> {
    pub fn new() -> std::io::Result<Mailbox<M>> {
        // SAFETY: eventfd(2) with valid flags; the descriptor is owned by `OwnedFd` below.
        // Blocking on purpose: the ring's read of it must wait for a ring, not fail with EAGAIN.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mailbox {
            queue: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            asleep: AtomicBool::new(false),
            // SAFETY: a fresh descriptor nothing else owns.
            bell: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The eventfd the owner's ring keeps a read pending on.
    pub fn bell(&self) -> RawFd {
        self.bell.as_raw_fd()
    }

    /// Posts `msg`, ringing the owner awake if it sleeps. Any thread.
    pub fn post(&self, msg: M) {
        self.lock().push(msg);
        self.waiting.fetch_add(1, SeqCst);
        if self.asleep.load(SeqCst) && self.asleep.swap(false, SeqCst) {
            self.ring();
        }
    }

    fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: an 8-byte write from a live u64 to our own eventfd. It cannot fail short
        // of a counter overflow, which would need 2^64 rings between two reads.
        unsafe {
            libc::write(self.bell(), (&one as *const u64).cast(), 8);
        }
    }

    /// Whether anything is posted and not yet taken.
    pub fn waiting(&self) -> bool {
        self.waiting.load(SeqCst) > 0
    }

    /// Everything posted so far, in order. The owner's thread.
    pub fn take(&self) -> Vec<M> {
        if self.waiting.load(SeqCst) == 0 {
            return Vec::new();
        }
        let taken = std::mem::take(&mut *self.lock());
        self.waiting.fetch_sub(taken.len(), SeqCst);
        taken
    }

    /// The owner is going to sleep: true if it may (nothing waits), in which case senders
    /// will ring until it calls [`Mailbox::awake`].
    pub fn sleep(&self) -> bool {
        self.asleep.store(true, SeqCst);
        if self.waiting.load(SeqCst) > 0 {
            self.asleep.store(false, SeqCst);
            return false;
        }
        true
    }

    /// The owner is awake again: senders need not ring.
    pub fn awake(&self) {
        self.asleep.store(false, SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<M>> {
        // Nothing panics while holding it.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bell_count(m: &Mailbox<u32>) -> u64 {
        let mut fds = libc::pollfd {
            fd: m.bell(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a zero timeout never blocks.
        if unsafe { libc::poll(&mut fds, 1, 0) } != 1 {
            return 0;
        }
        let mut v: u64 = 0;
        // SAFETY: an 8-byte read into a live u64 from our own eventfd, which poll said is readable.
        let n = unsafe { libc::read(m.bell(), (&mut v as *mut u64).cast(), 8) };
        if n == 8 {
            v
        } else {
            0
        }
    }

    #[test]
    fn a_sleeping_owner_is_rung_and_a_busy_one_is_not() {
        let m = Mailbox::new().unwrap();
        m.post(1);
        assert_eq!(bell_count(&m), 0, "awake: no ring");
        assert!(!m.sleep(), "mail waits: no sleeping");
        assert_eq!(m.take(), vec![1]);
        assert!(m.sleep());
        m.post(2);
        m.post(3);
        assert_eq!(bell_count(&m), 1, "rung once, however many posts");
        m.awake();
        assert_eq!(m.take(), vec![2, 3]);
        assert!(m.take().is_empty());
    }

    #[test]
    fn no_wake_up_is_lost_between_threads() {
        let m = std::sync::Arc::new(Mailbox::new().unwrap());
        let sender = {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..100_000u32 {
                    m.post(i);
                }
            })
        };
        let mut got = 0;
        while got < 100_000 {
            let batch = m.take();
            got += batch.len();
            if batch.is_empty() && m.sleep() {
                // Wait for the bell, as the ring would.
                let mut fds = libc::pollfd {
                    fd: m.bell(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let ready = unsafe { libc::poll(&mut fds, 1, 5_000) };
                assert_eq!(ready, 1, "asleep with mail waiting");
                bell_count(&m);
                m.awake();
            }
        }
        sender.join().unwrap();
        assert_eq!(got, 100_000);
    }
}
