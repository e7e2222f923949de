//! A script's own stack, so that it can wait from deep inside the Lua interpreter.
//!
//! Lua 5.1 cannot yield across `pcall` or a C function, and scripts wrap `redis.call` in
//! both, so a script cannot be an ordinary future. Instead it runs on a stack of its own
//! (a stackful coroutine), driven by an async task ([`run`]): when `redis.call` needs another
//! shard ([`wait`]) or a long script lets its shard serve other clients ([`breathe`]), the
//! script's stack is suspended where it stands, the task awaits or yields to the executor,
//! and the stack is resumed with the result. Lua never notices: its C frames simply stay on
//! the suspended stack. The shard thread is never blocked, so its other connections get
//! BUSY replies during a long script, as Redis's do, and its mailbox keeps being served.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::resp::Frame;

/// A command's trip to other shards, which the driving task awaits.
type Hop = Pin<Box<dyn Future<Output = Frame>>>;

/// What a suspended script asks of the task that drives it.
enum Ask {
    /// Await this and resume the script with its reply.
    Await(Hop),
    /// Let the shard run its other tasks for a turn.
    Breathe,
}

/// Room for deep Lua recursion and nested replies, as the main thread's stack gives Redis.
/// Mapped once per thread and reused; pages are only committed as they are touched.
const STACK_SIZE: usize = 8 << 20;

thread_local! {
    /// The running script's way back to its driver; null outside scripts.
    static YIELDER: Cell<*const Yielder<Frame, Ask>> = const { Cell::new(std::ptr::null()) };
    static SPARE_STACK: RefCell<Option<DefaultStack>> = const { RefCell::new(None) };
}

/// Runs `f` (a script's whole run) on its own stack, serving what it asks for until it
/// returns. Must run to its end: the caller runs it in a task nobody drops (a client that
/// leaves only stops waiting for the reply), since unwinding a suspended stack would unwind
/// through Lua's C frames.
pub async fn run<R>(f: impl FnOnce() -> R) -> R {
    let stack = match SPARE_STACK.with(|s| s.borrow_mut().take()) {
        Some(stack) => stack,
        None => DefaultStack::new(STACK_SIZE).expect("a script's stack maps"),
    };
    let body = move |yielder: &Yielder<Frame, Ask>, _: Frame| {
        let outer = YIELDER.replace(yielder);
        let out = f();
        YIELDER.set(outer);
        out
    };
    // SAFETY: `f` borrows from this future's caller, which outlives the coroutine: the loop
    // below drives it to completion before returning, and this future is never dropped
    // before it completes (see above).
    let mut script = unsafe { Coroutine::with_stack_unchecked(stack, body) };
    let mut input = Frame::Null;
    loop {
        match script.resume(input) {
            CoroutineResult::Yield(Ask::Await(hop)) => input = hop.await,
            CoroutineResult::Yield(Ask::Breathe) => {
                YieldOnce(false).await;
                input = Frame::Null;
            }
            CoroutineResult::Return(out) => {
                SPARE_STACK.with(|s| *s.borrow_mut() = Some(script.into_stack()));
                return out;
            }
        }
    }
}

/// Runs a command's future from inside a script: at once when it needs nothing else (its
/// keys are here and free), otherwise by suspending the script while its driver awaits it.
pub fn wait<'a>(hop: impl Future<Output = Frame> + 'a) -> Frame {
    let mut hop: Pin<Box<dyn Future<Output = Frame> + 'a>> = Box::pin(hop);
    if let Poll::Ready(reply) = hop.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        return reply;
    }
    let yielder = YIELDER.get();
    assert!(!yielder.is_null(), "a script waits only on its own stack");
    // SAFETY: the hop borrows the script's session, which lives on the suspended stack's
    // frames; the driver awaits the hop to its end before resuming this stack, so the borrow
    // never outlives them.
    let hop: Hop = unsafe { std::mem::transmute(hop) };
    // SAFETY: set by `run` for the stack running now, which is this one.
    unsafe { &*yielder }.suspend(Ask::Await(hop))
}

/// Lets the shard serve its other clients for a turn (a script past busy-reply-threshold).
pub fn breathe() {
    let yielder = YIELDER.get();
    if !yielder.is_null() {
        // SAFETY: as in `wait`.
        unsafe { &*yielder }.suspend(Ask::Breathe);
    }
}

/// Pending once, having asked to be polled again: the executor runs what else is queued.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
