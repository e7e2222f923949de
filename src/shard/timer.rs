//! Timers a shard keeps itself: a task that sleeps registers its deadline here, and the
//! shard's ring driver (`uring::Driver`) waits in the kernel no longer than the earliest one,
//! then wakes whoever is due. A shard therefore never needs glommio's reactor to wake up:
//! whatever it waits for — a socket, another shard's message, a deadline — ends one wait in
//! its own ring.
//!
//! Deadlines are kept per thread (each shard thread has its own driver and its own timers).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ahash::AHashMap;

#[derive(Default)]
struct Timers {
    /// Deadlines, earliest first, by registration id; an id no longer in `wakers` is stale.
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: AHashMap<u64, Waker>,
    next_id: u64,
}

thread_local! {
    static TIMERS: RefCell<Timers> = RefCell::new(Timers::default());
}

/// Resolves once `duration` has passed.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + duration,
        id: None,
    }
}

/// Resolves at `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, id: None }
}

pub struct Sleep {
    deadline: Instant,
    /// The registration, once polled and not yet due.
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some(id) = self.id.take() {
                TIMERS.with(|t| t.borrow_mut().wakers.remove(&id));
            }
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let id = TIMERS.with(|t| {
            let mut t = t.borrow_mut();
            match self.id {
                Some(id) => {
                    t.wakers.insert(id, cx.waker().clone());
                    id
                }
                None => {
                    let id = t.next_id;
                    t.next_id += 1;
                    t.due.push(Reverse((deadline, id)));
                    t.wakers.insert(id, cx.waker().clone());
                    id
                }
            }
        });
        self.id = Some(id);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            // The heap entry stays and is skipped when it comes up.
            TIMERS.with(|t| t.borrow_mut().wakers.remove(&id));
        }
    }
}

/// Wakes every sleeper whose deadline has passed; returns how many.
pub fn fire_due() -> usize {
    let now = crate::db::clock::last();
    let woken: Vec<Waker> = TIMERS.with(|t| {
        let mut t = t.borrow_mut();
        let mut woken = Vec::new();
        while let Some(&Reverse((at, id))) = t.due.peek() {
            if at > now {
                break;
            }
            t.due.pop();
            if let Some(w) = t.wakers.remove(&id) {
                woken.push(w);
            }
        }
        woken
    });
    let n = woken.len();
    for w in woken {
        w.wake();
    }
    n
}

/// The earliest deadline still waited for, if any.
pub fn next_deadline() -> Option<Instant> {
    TIMERS.with(|t| {
        let mut t = t.borrow_mut();
        while let Some(&Reverse((at, id))) = t.due.peek() {
            if t.wakers.contains_key(&id) {
                return Some(at);
            }
            t.due.pop();
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(s: &mut Sleep) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(s).poll(&mut cx).is_ready()
    }

    #[test]
    fn sleepers_are_due_in_deadline_order_and_dropped_ones_are_forgotten() {
        let now = Instant::now();
        let mut late = sleep_until(now + Duration::from_secs(60));
        let mut soon = sleep_until(now + Duration::from_millis(1));
        let mut gone = sleep_until(now + Duration::from_millis(2));
        assert!(!poll(&mut late) && !poll(&mut soon) && !poll(&mut gone));
        assert_eq!(next_deadline(), Some(now + Duration::from_millis(1)));
        drop(gone);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(fire_due(), 1, "the dropped sleeper wakes nobody");
        assert!(poll(&mut soon));
        assert_eq!(next_deadline(), Some(now + Duration::from_secs(60)));
        drop(late);
        assert_eq!(next_deadline(), None);
    }
}
