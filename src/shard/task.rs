//! A shard's tasks, spawned through here so that its ring driver can tell when none is left
//! to run.
//!
//! The driver blocks the thread in its ring when the shard is idle (see `uring::Driver`), and
//! it must never do so while a task is runnable: that task would wait for the next socket,
//! message or deadline. glommio cannot be asked whether its run queue is empty, so every task
//! counts its polls here; the driver yields once, and if no other task was polled before it
//! runs again, nothing was runnable (only a running task could have woken another).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

thread_local! {
    static POLLS: Cell<u64> = const { Cell::new(0) };
}

/// Runs `future` as a task of this shard.
pub fn spawn<F>(future: F) -> glommio::Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    glommio::spawn_local(Counted(future))
}

/// How many times this thread's tasks have been polled.
pub fn polls() -> u64 {
    POLLS.with(Cell::get)
}

struct Counted<F>(F);

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        POLLS.with(|p| p.set(p.get() + 1));
        // SAFETY: structural pinning of the only field; `Counted` never moves it.
        unsafe { self.map_unchecked_mut(|c| &mut c.0) }.poll(cx)
    }
}
