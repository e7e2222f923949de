//! The global allocator: mimalloc, wrapped to count live bytes for INFO memory.
//!
//! Redis reports `used_memory` from its allocator. Counting every allocation in one shared atomic
//! would bounce a cache line between cores on every allocation, so each thread adds to its own
//! padded counter and INFO sums them; a block freed by another thread than the one that allocated
//! it simply makes one counter go down and another up.
//!
//! A snapshot child (see `persist::fork`) is forked from a multi-threaded process: another
//! thread may have held one of mimalloc's locks at the fork, and nothing in the child would ever
//! release it. So the child switches this allocator to an arena of its own, fresh `mmap`ed
//! memory handed out by bumping a pointer and never reused; it frees nothing and exits when its
//! file is written, so that is all it needs. The switch is one relaxed load per allocation.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering::Relaxed};

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

/// Set once, in a forked child, by [`enter_fork_child`]; never cleared.
static IN_FORK_CHILD: AtomicBool = AtomicBool::new(false);

/// Switches this process, which must be a freshly forked child with a single thread, to the
/// fork arena: from here on nothing reaches mimalloc.
pub fn enter_fork_child() {
    IN_FORK_CHILD.store(true, Relaxed);
}

pub fn in_fork_child() -> bool {
    IN_FORK_CHILD.load(Relaxed)
}

/// Runs `step`, and in the fork child gives the arena back everything `step` allocated once
/// it succeeded: the arena never frees otherwise, so a child that allocates per key (the AOF
/// rewrite's commands) would grow by the size of the data. Whatever `step` allocates must be
/// dropped by the time it returns `Ok`. (On error nothing is reclaimed: the error may own
/// memory, and the child is about to exit anyway.)
pub fn scratch<E>(step: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
    if !in_fork_child() {
        return step();
    }
    let mark = arena::mark();
    step()?;
    arena::reset(mark);
    Ok(())
}

/// The child's bump arena: single-threaded by construction (the child has one thread).
mod arena {
    use std::cell::Cell;

    const CHUNK: usize = 64 << 20;

    struct Arena {
        next: Cell<usize>,
        end: Cell<usize>,
    }

    // SAFETY: only the forked child, which has exactly one thread, ever touches the arena.
    unsafe impl Sync for Arena {}

    static ARENA: Arena = Arena {
        next: Cell::new(0),
        end: Cell::new(0),
    };

    /// Where the arena stands: [`reset`] gives back what was allocated after it.
    pub fn mark() -> (usize, usize) {
        (ARENA.next.get(), ARENA.end.get())
    }

    /// Frees everything allocated since `mark`, which nothing may use any more. If a new chunk
    /// was mapped meanwhile, the arena stays in it (the old chunk's tail is given up).
    pub fn reset(mark: (usize, usize)) {
        if ARENA.end.get() == mark.1 {
            ARENA.next.set(mark.0);
        }
    }

    pub fn alloc(size: usize, align: usize) -> *mut u8 {
        let start = ARENA.next.get().next_multiple_of(align);
        if ARENA.next.get() != 0 && start + size <= ARENA.end.get() {
            ARENA.next.set(start + size);
            return start as *mut u8;
        }
        // A fresh mapping: mmap is a system call, safe after fork whatever other threads held.
        let len = (size + align).max(CHUNK).next_multiple_of(4096);
        let Ok(base) = super::map_anonymous(len) else {
            return std::ptr::null_mut();
        };
        let base = base as usize;
        let start = base.next_multiple_of(align);
        ARENA.next.set(start + size);
        ARENA.end.set(base + len);
        start as *mut u8
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if in_fork_child() {
            return arena::alloc(layout.size(), layout.align());
        }
        let p = unsafe { MiMalloc.alloc(layout) };
        if !p.is_null() {
            COUNTERS[slot()].0.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_fork_child() {
            // The arena never reuses memory, and blocks from before the fork stay where they
            // are: the child exits soon and the kernel takes everything back.
            return;
        }
        COUNTERS[slot()].0.fetch_sub(layout.size() as i64, Relaxed);
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if in_fork_child() {
            // `scratch` may hand bytes out again: zero them.
            let p = arena::alloc(layout.size(), layout.align());
            if !p.is_null() {
                // SAFETY: a fresh block of `layout.size()` bytes.
                unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
            }
            return p;
        }
        let p = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            COUNTERS[slot()].0.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if in_fork_child() {
            let p = arena::alloc(new_size, layout.align());
            if !p.is_null() {
                // SAFETY: both blocks are valid for the smaller of the two sizes and distinct.
                unsafe { std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size)) };
            }
            return p;
        }
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

/// The allocator's name and version as INFO's mem_allocator gives it (`mimalloc-3.3.2`;
/// mimalloc numbers its versions major × 10000 + minor × 100 + patch).
pub fn allocator_name() -> String {
    // SAFETY: a plain query with no arguments.
    let v = unsafe { libmimalloc_sys::mi_version() };
    format!("mimalloc-{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

/// Memory mimalloc holds committed from the kernel (its estimate on Linux: what it has mapped
/// read-write), for INFO's allocator_active and allocator_resident.
pub fn allocator_committed() -> u64 {
    let mut commit = 0usize;
    // SAFETY: every out-parameter but one is null, which mi_process_info allows.
    unsafe {
        libmimalloc_sys::mi_process_info(
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut commit,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    commit as u64
}

/// mimalloc's own statistics report, as `mi_stats_print_out` writes it (MEMORY MALLOC-STATS).
pub fn allocator_stats() -> String {
    unsafe extern "C" fn append(msg: *const libc::c_char, arg: *mut libc::c_void) {
        // SAFETY: `arg` is the String passed below, alive for the call; `msg` is a
        // NUL-terminated line from mimalloc.
        let out = unsafe { &mut *(arg as *mut String) };
        let line = unsafe { std::ffi::CStr::from_ptr(msg) };
        out.push_str(&line.to_string_lossy());
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call.
    unsafe { libmimalloc_sys::mi_stats_print_out(Some(append), &mut out as *mut String as *mut _) };
    out
}

/// Gives this thread's free memory back to the kernel at once (MEMORY PURGE, on each shard
/// thread): mimalloc otherwise returns it lazily.
pub fn purge_thread() {
    // SAFETY: mi_collect only walks this thread's own heap.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// The machine's physical memory (INFO's total_system_memory).
pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf only reads system parameters.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages.max(0) as u64) * (size.max(0) as u64)
}

/// Fresh zeroed memory straight from the kernel (an anonymous private mapping), outside the
/// allocator: for the fork child's arena, and for buffers shared with the kernel (io_uring's
/// provided-buffer ring). Never unmapped by its users.
pub fn map_anonymous(len: usize) -> std::io::Result<*mut u8> {
    // SAFETY: an anonymous private mapping with no address hint; checked for failure.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(p.cast())
    }
}
