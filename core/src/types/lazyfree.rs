//! Freeing big values off the shard threads.
//!
//! Dropping a collection of millions of elements takes a good fraction of a second, all of it
//! spent on the shard that dropped it, during which none of its clients are served. Like Redis's
//! lazyfree (UNLINK, and the `lazyfree-lazy-*` settings), a collection with more than
//! [`LAZYFREE_THRESHOLD`] allocations gives its storage to one background thread to free.
//! Tessera does this for every drop of such a value — DEL, overwrite, expiry, eviction, FLUSH —
//! because freeing in the background is never slower for the shard and never visible to
//! clients except through INFO's counters.
//!
//! Collections opt in by handing their storage to [`defer`] from their `Drop` when it is big.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

/// Redis's `LAZYFREE_THRESHOLD`: below this many allocations freeing in place is cheaper than
/// handing over.
pub const LAZYFREE_THRESHOLD: usize = 64;

type Garbage = Box<dyn Send>;

static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

/// Run first on the lazyfree thread (the server pins it to `bio_cpulist`).
static THREAD_START: OnceLock<fn()> = OnceLock::new();

/// Sets what the lazyfree thread runs when it starts; before the first [`defer`].
pub fn on_thread_start(hook: fn()) {
    let _ = THREAD_START.set(hook);
}

fn freer() -> &'static Sender<Garbage> {
    static FREER: OnceLock<Sender<Garbage>> = OnceLock::new();
    FREER.get_or_init(|| {
        let (tx, rx) = channel::<Garbage>();
        std::thread::Builder::new()
            .name("lazyfree".into())
            .spawn(move || {
                if let Some(hook) = THREAD_START.get() {
                    hook();
                }
                for garbage in rx {
                    drop(garbage);
                    PENDING.fetch_sub(1, Relaxed);
                    FREED.fetch_add(1, Relaxed);
                }
            })
            .expect("spawn the lazyfree thread");
        tx
    })
}

/// Frees `garbage` on the background thread.
pub fn defer<T: Send + 'static>(garbage: T) {
    PENDING.fetch_add(1, Relaxed);
    if let Err(returned) = freer().send(Box::new(garbage)) {
        // The thread is gone (process exiting): free here.
        PENDING.fetch_sub(1, Relaxed);
        drop(returned);
    }
}

/// INFO's `lazyfree_pending_objects`.
pub fn pending() -> u64 {
    PENDING.load(Relaxed)
}

/// INFO's `lazyfreed_objects`.
pub fn freed() -> u64 {
    FREED.load(Relaxed)
}
