//! Client-side caching (CLIENT TRACKING): which clients may hold which keys of this shard in
//! their cache, and the invalidations owed to them once a key changes.
//!
//! Like [`super::notify`], the table belongs to the thread: a shard is one thread, and a key
//! is read and changed only on its owner's. A read run for a tracking client remembers its
//! keys in the same job that reads them ([`remember`]), so no write can come between the read
//! and the remembering; any change of a key ([`invalidate`], from `Db::touch`) takes its
//! trackers off the table and owes each an invalidation, which the runtime sends after the
//! job. Keys are remembered by name alone, in every database, as Redis does.
//!
//! Clients tracking by prefix (BCAST) are not in the table: while some exist, every changed
//! key is kept for the runtime to match against their prefixes.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use ahash::AHashMap;
use bytes::Bytes;

/// Who the current job runs for: the client's id and shard, and whether its reads are to be
/// remembered (tracking on, not by prefix, and not excluded by OPTIN/OPTOUT).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub id: u64,
    pub shard: usize,
    pub remembers: bool,
}

/// An invalidation owed: `key` changed, and client `id` on `shard` may hold it. `by` is the
/// client whose command changed it (0 for the server itself), for NOLOOP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalidation {
    pub id: u64,
    pub shard: usize,
    pub key: Bytes,
    pub by: u64,
}

#[derive(Default)]
struct Table {
    trackers: AHashMap<Bytes, Vec<(u64, usize)>>,
    /// Trackers over all keys (INFO's `tracking_total_items`).
    items: usize,
    owed: Vec<Invalidation>,
    /// Some client somewhere tracks by prefix: changed keys, with who changed them, are kept.
    broadcasting: bool,
    changed: Vec<(Bytes, u64)>,
    /// `tracking-table-max-keys`; 0 means no limit.
    max_keys: usize,
    /// Keys remembered by every shard's table: the limit is the process's, as Redis's is one
    /// table. Each thread's own until the runtime shares one ([`share_total`]).
    total: Arc<AtomicUsize>,
}

impl Table {
    fn insert_key(&mut self, key: Bytes) -> &mut Vec<(u64, usize)> {
        self.total.fetch_add(1, Relaxed);
        self.trackers.entry(key).or_default()
    }

    /// Takes `key` off the table; `counted` when its removal was already taken off the
    /// shared count (see [`enforce_limit`]).
    fn remove_key(&mut self, key: &[u8], counted: bool) -> Option<(Bytes, Vec<(u64, usize)>)> {
        let removed = self.trackers.remove_entry(key)?;
        if !counted {
            self.total.fetch_sub(1, Relaxed);
        }
        self.items -= removed.1.len();
        Some(removed)
    }
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
    static CURRENT: Cell<Caller> = const { Cell::new(Caller { id: 0, shard: 0, remembers: false }) };
}

/// Runs `f` on behalf of `caller`: its reads may be remembered, its writes are its own.
pub fn calling<R>(caller: Caller, f: impl FnOnce() -> R) -> R {
    let before = CURRENT.with(|c| c.replace(caller));
    let out = f();
    CURRENT.with(|c| c.set(before));
    out
}

pub fn current() -> Caller {
    CURRENT.with(Cell::get)
}

/// Whether a change to a key must be looked up here: some key is tracked, or some client
/// tracks by prefix.
#[inline]
pub fn active() -> bool {
    TABLE.with(|t| {
        let t = t.borrow();
        t.broadcasting || !t.trackers.is_empty()
    })
}

/// Remembers that the current caller may cache `key`, if its reads are remembered.
pub fn remember(key: &[u8]) {
    let caller = current();
    if !caller.remembers {
        return;
    }
    TABLE.with(|t| {
        let t = &mut *t.borrow_mut();
        let list = if t.trackers.contains_key(key) {
            t.trackers.get_mut(key).expect("just found")
        } else {
            t.insert_key(Bytes::copy_from_slice(key))
        };
        if !list.iter().any(|(id, _)| *id == caller.id) {
            list.push((caller.id, caller.shard));
            t.items += 1;
        }
    });
}

/// `key` changed: every client that may cache it is owed an invalidation, and is forgotten
/// until it reads the key again.
pub fn invalidate(key: &[u8]) {
    invalidate_counted(key, false);
}

fn invalidate_counted(key: &[u8], counted: bool) {
    let by = current().id;
    TABLE.with(|t| {
        let t = &mut *t.borrow_mut();
        if t.broadcasting {
            t.changed.push((Bytes::copy_from_slice(key), by));
        }
        if let Some((key, trackers)) = t.remove_key(key, counted) {
            t.owed
                .extend(trackers.into_iter().map(|(id, shard)| Invalidation {
                    id,
                    shard,
                    key: key.clone(),
                    by,
                }));
        }
    });
}

/// FLUSHALL and FLUSHDB: every tracked key is forgotten (the clients are told by a null
/// invalidation instead).
pub fn forget_all() {
    TABLE.with(|t| {
        let t = &mut *t.borrow_mut();
        t.total.fetch_sub(t.trackers.len(), Relaxed);
        t.trackers.clear();
        t.items = 0;
    });
}

/// Whether invalidations or changed keys wait for [`take`].
#[inline]
pub fn pending() -> bool {
    TABLE.with(|t| {
        let t = t.borrow();
        !t.owed.is_empty() || !t.changed.is_empty()
    })
}

/// The invalidations owed and, while some client tracks by prefix, the keys changed (with
/// who changed them), since the last call.
pub fn take() -> (Vec<Invalidation>, Vec<(Bytes, u64)>) {
    TABLE.with(|t| {
        let t = &mut *t.borrow_mut();
        (std::mem::take(&mut t.owed), std::mem::take(&mut t.changed))
    })
}

pub fn set_broadcasting(on: bool) {
    TABLE.with(|t| t.borrow_mut().broadcasting = on);
}

/// Makes this thread's table count its keys in `total`, shared by every shard.
pub fn share_total(total: Arc<AtomicUsize>) {
    TABLE.with(|t| {
        let t = &mut *t.borrow_mut();
        total.fetch_add(t.trackers.len(), Relaxed);
        t.total = total;
    });
}

pub fn set_max_keys(max: usize) {
    TABLE.with(|t| t.borrow_mut().max_keys = max);
}

/// INFO's `tracking_total_keys` and `tracking_total_items`, this shard's part.
pub fn counts() -> (usize, usize) {
    TABLE.with(|t| {
        let t = t.borrow();
        (t.trackers.len(), t.items)
    })
}

/// Keeps every shard's tables together within `tracking-table-max-keys`: keys past the limit
/// are invalidated (their clients told, as for a change) and forgotten, as Redis does. Each
/// eviction first claims one key off the shared count, so that shards evicting at once never
/// go below the limit together. Which keys go is arbitrary.
pub fn enforce_limit() {
    loop {
        let claimed = TABLE.with(|t| {
            let t = t.borrow();
            if t.max_keys == 0 || t.trackers.is_empty() {
                return None;
            }
            let total = t.total.load(Relaxed);
            if total <= t.max_keys {
                return None;
            }
            t.total
                .compare_exchange(total, total - 1, Relaxed, Relaxed)
                .ok()?;
            t.trackers.keys().next().cloned()
        });
        let Some(key) = claimed else {
            // Lost a race for the count, or nothing to do: look again only if over.
            if over_limit() {
                continue;
            }
            return;
        };
        // The claim stands for this key's removal.
        calling(Caller::default(), || invalidate_counted(&key, true));
    }
}

fn over_limit() -> bool {
    TABLE.with(|t| {
        let t = t.borrow();
        t.max_keys != 0 && !t.trackers.is_empty() && t.total.load(Relaxed) > t.max_keys
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(id: u64) -> Caller {
        Caller {
            id,
            shard: 1,
            remembers: true,
        }
    }

    fn reset() {
        TABLE.with(|t| *t.borrow_mut() = Table::default());
    }

    #[test]
    fn a_change_owes_one_invalidation_per_reader_once() {
        reset();
        calling(reader(7), || remember(b"k"));
        calling(reader(7), || remember(b"k"));
        calling(reader(8), || remember(b"k"));
        calling(Caller::default(), || remember(b"j"));
        assert_eq!(counts(), (1, 2));
        calling(reader(9), || invalidate(b"k"));
        let (owed, changed) = take();
        assert_eq!(owed.len(), 2);
        assert_eq!(owed[0].id, 7);
        assert_eq!(owed[0].by, 9);
        assert!(changed.is_empty());
        // Forgotten until read again.
        invalidate(b"k");
        assert!(!pending());
        assert_eq!(counts(), (0, 0));
    }

    #[test]
    fn broadcasting_keeps_every_change_and_the_limit_evicts() {
        reset();
        set_broadcasting(true);
        calling(reader(3), || invalidate(b"a"));
        assert_eq!(take().1, vec![(Bytes::from_static(b"a"), 3)]);
        set_broadcasting(false);
        set_max_keys(2);
        for k in ["x", "y", "z"] {
            calling(reader(1), || remember(k.as_bytes()));
        }
        enforce_limit();
        assert_eq!(counts().0, 2);
        assert_eq!(take().0.len(), 1);
        // Another shard's keys count toward the same limit.
        let shared = Arc::new(AtomicUsize::new(5));
        share_total(shared.clone());
        assert_eq!(shared.load(Relaxed), 7);
        enforce_limit();
        assert_eq!(counts().0, 0);
        assert_eq!(shared.load(Relaxed), 5);
        set_max_keys(0);
        reset();
    }
}
