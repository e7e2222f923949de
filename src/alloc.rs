//! The global allocator: mimalloc, wrapped to count live bytes for INFO memory.
//!
//! Redis reports `used_memory` from its allocator. Counting every allocation in one shared atomic
//! would bounce a cache line between cores on every allocation, so each thread adds to its own
//! padded counter and INFO sums them; a block freed by another thread than the one that allocated
//! it simply makes one counter go down and another up.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};

use mimalloc::MiMalloc;

const SLOTS: usize = 64;

#[repr(align(128))]
struct Padded(AtomicI64);

static COUNTERS: [Padded; SLOTS] = [const { Padded(AtomicI64::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn slot() -> usize {
    SLOT.try_with(|s| {
        let mut v = s.get();
        if v == usize::MAX {
            v = NEXT_SLOT.fetch_add(1, Relaxed) % SLOTS;
            s.set(v);
        }
        v
    })
    // During thread teardown the thread-local is gone; any slot will do.
    .unwrap_or(0)
}

pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            COUNTERS[slot()].0.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        COUNTERS[slot()].0.fetch_sub(layout.size() as i64, Relaxed);
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            COUNTERS[slot()].0.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            COUNTERS[slot()]
                .0
                .fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        }
        p
    }
}

/// Bytes currently allocated by the whole process through Rust's allocator.
pub fn used_memory() -> u64 {
    COUNTERS
        .iter()
        .map(|c| c.0.load(Relaxed))
        .sum::<i64>()
        .max(0) as u64
}

/// Resident set size from /proc/self/statm.
pub fn rss() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}
