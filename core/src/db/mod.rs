//! One shard's keyspace: its databases, their keys, and expiry.
//!
//! Nothing here knows about connections, the protocol or threads: a shard thread owns its
//! `Keyspace` outright and command handlers operate on it directly, so this module is tested
//! without a runtime.
//!
//! Keys live in a hash map whose entries sit in one dense vector (`DenseMap`): lookups are hashed, and the dense
//! entry vector gives SCAN a cursor that survives growth, and RANDOMKEY an O(1) random pick.
//! Removal swaps the last entry into the hole, so SCAN walks positions from the end downwards:
//! a swap only ever moves an already-visited entry, never one the cursor has yet to reach.

pub mod clock;
pub mod digest;
pub mod notify;
pub mod tracking;
pub mod value;

use bytes::Bytes;
use rand::Rng;

use crate::types::blob::Blob;
use crate::types::dense::DenseMap;
pub use clock::{lru_clock, now_ms};
pub use value::{StrValue, Value};

/// A key's value with the metadata Redis keeps beside it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 when the key does not expire.
    pub expire_at: u64,
    /// Seconds (on the shard's LRU clock) of the last access, for OBJECT IDLETIME and LRU
    /// eviction.
    pub access: u32,
    /// Redis's logarithmic LFU counter, maintained while an LFU policy is selected. It fits in
    /// what would otherwise be padding.
    pub freq: u8,
    /// The value is away on another shard, under a transaction's lock (see [`Db::lend`]); what
    /// is here is a placeholder of the same type. Also fits in padding.
    pub lent: bool,
}

impl Entry {
    pub fn new(value: Value) -> Entry {
        Entry {
            value,
            expire_at: 0,
            access: lru_clock(),
            freq: LFU_INIT,
            lent: false,
        }
    }

    pub fn expire(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }
}

/// Counters a shard reports in INFO stats, and the access-tracking settings that lookups
/// follow (they travel together into every lookup).
#[derive(Debug, Default, Clone)]
pub struct KeyStats {
    pub expired_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub evicted_keys: u64,
    /// Set while an LFU maxmemory policy is selected: lookups then update `Entry::freq`.
    pub lfu: Option<Lfu>,
    /// Set while the AOF is on: keys deleted by expiry or eviction are remembered (in
    /// `Db::reaped`) so that the log records their deletion, as Redis propagates a DEL.
    pub record_reaped: bool,
    /// Some database has reaped keys the AOF has not logged yet.
    pub reaped_pending: bool,
    /// The running command looks keys up to write them (Redis's `lookupKeyWrite`): its
    /// lookups count no keyspace hit or miss.
    pub uncounted: bool,
}

impl KeyStats {
    /// CONFIG RESETSTAT: the counters back to zero, the settings kept.
    pub fn reset_counts(&mut self) {
        self.expired_keys = 0;
        self.keyspace_hits = 0;
        self.keyspace_misses = 0;
        self.evicted_keys = 0;
    }

    /// Adds the counters of `other` (a scratch keyspace's, after a command ran on it).
    pub fn add_counts(&mut self, other: &KeyStats) {
        self.expired_keys += other.expired_keys;
        self.keyspace_hits += other.keyspace_hits;
        self.keyspace_misses += other.keyspace_misses;
        self.evicted_keys += other.evicted_keys;
    }
}

/// A new key's LFU counter, so that it is not evicted before it had a chance to be used.
pub const LFU_INIT: u8 = 5;

/// Redis's LFU parameters (`lfu-log-factor`, `lfu-decay-time`).
#[derive(Debug, Clone, Copy)]
pub struct Lfu {
    pub log_factor: u32,
    pub decay_minutes: u32,
}

impl Lfu {
    /// The counter after decaying one step per `decay_minutes` since the last access.
    pub fn decayed(&self, e: &Entry) -> u8 {
        if self.decay_minutes == 0 {
            return e.freq;
        }
        let idle_minutes = lru_clock().saturating_sub(e.access) / 60;
        let periods = idle_minutes / self.decay_minutes;
        e.freq.saturating_sub(periods.min(255) as u8)
    }

    /// Logarithmic increment: the higher the counter, the less likely an access bumps it.
    pub fn incremented(&self, counter: u8) -> u8 {
        if counter == 255 {
            return 255;
        }
        let base = counter.saturating_sub(LFU_INIT) as f64;
        let p = 1.0 / (base * self.log_factor as f64 + 1.0);
        if rand::random::<f64>() < p {
            counter + 1
        } else {
            counter
        }
    }
}

#[derive(Default)]
pub struct Db {
    keys: DenseMap<Entry>,
    /// The keys that have an expiry, so the active cycle samples only those (Redis's `expires`).
    volatile: DenseMap<()>,
    /// Running estimate of the remaining TTL of volatile keys, from the active cycle's samples,
    /// as Redis estimates INFO keyspace's avg_ttl.
    avg_ttl: u64,
    /// Keys some client is blocked on (BLPOP, BZPOPMIN...), kept by the shard's blocking
    /// table. Blocked keys are always absent, so creating one is what makes it ready.
    blocked: ahash::AHashSet<Bytes>,
    /// Blocked keys created since the shard last served its blocked clients.
    ready: Vec<Bytes>,
    /// Keys deleted by expiry or eviction, not yet in the AOF (see `KeyStats::record_reaped`).
    reaped: Vec<Blob>,
    /// Keys clients WATCH, with their watchers in the order they watched (Redis's
    /// `watched_keys`): changing such a key makes their next EXEC fail.
    watched: ahash::AHashMap<Bytes, Vec<WatchedBy>>,
    /// This database's number, which the events of its keys carry. It belongs to the place in
    /// the keyspace, not to the contents: SWAPDB and FLUSHDB leave it where it is.
    index: usize,
}

/// A client's WATCH, shared by its registrations on every shard: set dirty when a watched key
/// changes, read by its EXEC.
#[derive(Debug, Default)]
pub struct Watcher {
    pub dirty: std::sync::atomic::AtomicBool,
}

impl Watcher {
    fn touch(&self) {
        self.dirty.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// One client watching one key.
#[derive(Debug)]
struct WatchedBy {
    watcher: std::sync::Arc<Watcher>,
    /// The key was logically expired (present, but past its time) when watched. Deleting
    /// such a key is no change (Redis 7.0's `watchedKey.expired`).
    expired: bool,
}

impl Db {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Bytes the key table and the table of keys with a TTL take themselves, entries'
    /// handles included, values and long keys' bytes not (MEMORY STATS's
    /// overhead.hashtable.main and .expires).
    pub fn table_overhead(&self) -> (usize, usize) {
        (self.keys.allocated(), self.volatile.allocated())
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    pub fn avg_ttl(&self) -> u64 {
        if self.volatile.is_empty() {
            0
        } else {
            self.avg_ttl
        }
    }

    /// This database's number.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Looks a key up, deleting it first if it has expired (lazy expiry).
    pub fn get(&mut self, key: &[u8], now: u64, stats: &mut KeyStats) -> Option<&mut Entry> {
        let idx = self.keys.position(key)?;
        let entry = self.keys.at_mut(idx);
        let expire_at = entry.expire_at;
        // A lent entry is under a transaction's lock; only the transaction may end it.
        if expire_at != 0 && expire_at <= now && !entry.lent {
            self.reap(key, stats);
            stats.expired_keys += 1;
            notify::emit(notify::class::EXPIRED, "expired", self.index, key);
            return None;
        }
        Some(self.keys.at_mut(idx))
    }

    /// Like `get`, counting a hit or miss but leaving the access time alone, as Redis's
    /// `LOOKUP_NOTOUCH` lookups (TTL, OBJECT...) do.
    pub fn lookup_untouched(
        &mut self,
        key: &[u8],
        now: u64,
        stats: &mut KeyStats,
    ) -> Option<&mut Entry> {
        let found = self.get(key, now, stats).is_some();
        match (stats.uncounted, found) {
            (true, _) => {}
            (false, true) => stats.keyspace_hits += 1,
            (false, false) => {
                stats.keyspace_misses += 1;
                notify::emit(notify::class::KEY_MISS, "keymiss", self.index, key);
            }
        }
        self.keys.get_mut(key)
    }

    /// Like `get`, but also counts a hit or miss and refreshes the access time, as a read
    /// command's lookup does in Redis.
    pub fn lookup(&mut self, key: &[u8], now: u64, stats: &mut KeyStats) -> Option<&mut Entry> {
        let found = self.get(key, now, stats).is_some();
        match (stats.uncounted, found) {
            (true, _) => {}
            (false, true) => stats.keyspace_hits += 1,
            (false, false) => {
                stats.keyspace_misses += 1;
                notify::emit(notify::class::KEY_MISS, "keymiss", self.index, key);
            }
        }
        let entry = self.keys.get_mut(key)?;
        if let Some(lfu) = stats.lfu {
            entry.freq = lfu.incremented(lfu.decayed(entry));
        }
        entry.access = lru_clock();
        Some(entry)
    }

    /// MEMORY USAGE: the bytes `key` takes, expired or not, counted without side effects:
    /// its slot in the key table (entry and index), the key's own bytes when they do not fit
    /// inline, and the value's (big collections estimated from `samples` elements).
    pub fn usage(&self, key: &[u8], samples: usize) -> Option<usize> {
        let (stored, entry) = self.keys.at(self.keys.position(key)?)?;
        let slot = std::mem::size_of::<(Blob, Entry)>() + std::mem::size_of::<u32>() + 1;
        // A key with a TTL has a second slot, with its own copy of the key.
        let volatile = if entry.expire_at != 0 {
            std::mem::size_of::<(Blob, ())>() + std::mem::size_of::<u32>() + 1 + stored.heap_size()
        } else {
            0
        };
        Some(slot + volatile + stored.heap_size() + entry.value.heap_size_sampled(samples))
    }

    /// The entry as stored, expired or not, without side effects.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.keys.get(key)
    }

    pub fn contains(&mut self, key: &[u8], now: u64, stats: &mut KeyStats) -> bool {
        self.get(key, now, stats).is_some()
    }

    /// Stores `value` under `key` with the given expiry (0 = none), replacing any old entry.
    pub fn set(&mut self, key: &[u8], value: Value, expire_at: u64) {
        let mut entry = Entry::new(value);
        entry.expire_at = expire_at;
        self.insert_entry(key, entry);
    }

    /// Replaces the value but keeps the key's expiry (SET ... KEEPTTL, SETRANGE, APPEND...).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        match self.keys.get_mut(key) {
            Some(entry) => {
                entry.value = value;
                entry.access = lru_clock();
            }
            None => self.set(key, value, 0),
        }
    }

    /// Stores `entry` under `key`; creating the key is a `new` event.
    pub fn insert_entry(&mut self, key: &[u8], entry: Entry) {
        if self.place(key, entry) {
            notify::emit(notify::class::NEW, "new", self.index, key);
        }
    }

    /// Stores `entry` under `key` with no event: for entries moving rather than being made (a
    /// lent value going back, a file loading). Returns whether the key was created.
    pub fn place(&mut self, key: &[u8], entry: Entry) -> bool {
        let expiring = entry.expire_at != 0;
        let created = self.keys.insert(key, entry).is_none();
        if created && !self.blocked.is_empty() {
            if let Some(k) = self.blocked.get(key) {
                self.ready.push(k.clone());
            }
        }
        if expiring {
            if !self.volatile.contains(key) {
                self.volatile.insert(key, ());
            }
        } else {
            self.volatile.swap_remove(key);
        }
        created
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let entry = self.keys.swap_remove(key)?;
        if entry.expire_at != 0 {
            self.volatile.swap_remove(key);
        }
        Some(entry)
    }

    /// Sets or clears (`at == 0`) the expiry of an existing key. Returns false if it is absent.
    pub fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        let Some(entry) = self.keys.get_mut(key) else {
            return false;
        };
        let had = entry.expire_at != 0;
        entry.expire_at = at;
        if at != 0 && !had {
            self.volatile.insert(key, ());
        } else if at == 0 && had {
            self.volatile.swap_remove(key);
        }
        true
    }

    /// Empties the database and returns its old contents; which keys are blocked on stays.
    /// Deletes a key whose time is up (or that eviction chose), counting it, and remembering it
    /// for the AOF when that is on.
    pub fn reap(&mut self, key: &[u8], stats: &mut KeyStats) {
        self.remove(key);
        // The server deletes it, not the client whose command found it stale: NOLOOP does
        // not hide this change from that client.
        tracking::calling(tracking::Caller::default(), || self.touch(key));
        if stats.record_reaped {
            self.reaped.push(Blob::new(key));
            stats.reaped_pending = true;
        }
    }

    /// The reaped keys not logged yet.
    pub fn take_reaped(&mut self) -> Vec<Blob> {
        std::mem::take(&mut self.reaped)
    }

    /// Empties the database and returns its old contents. Which keys are blocked on and
    /// watched stays with the database; the watched keys that existed are touched first.
    pub fn clear(&mut self) -> Db {
        self.touch_all(None);
        let mut old = std::mem::take(self);
        self.blocked = std::mem::take(&mut old.blocked);
        self.watched = std::mem::take(&mut old.watched);
        self.index = old.index;
        old
    }

    /// Registers `watcher` on `key` (WATCH). Watching a key already past its time (not yet
    /// deleted) is remembered: deleting it later is no change.
    pub fn watch(&mut self, key: &[u8], watcher: std::sync::Arc<Watcher>, now: u64) {
        let expired = self
            .keys
            .get(key)
            .is_some_and(|e| e.expire_at != 0 && e.expire_at <= now);
        self.watched
            .entry(Bytes::copy_from_slice(key))
            .or_default()
            .push(WatchedBy { watcher, expired });
    }

    /// Removes `watcher`'s registration on `key` (UNWATCH, EXEC, a client leaving).
    pub fn unwatch(&mut self, key: &[u8], watcher: &std::sync::Arc<Watcher>) {
        if let Some(list) = self.watched.get_mut(key) {
            list.retain(|w| !std::sync::Arc::ptr_eq(&w.watcher, watcher));
            if list.is_empty() {
                self.watched.remove(key);
            }
        }
    }

    /// Whether `watcher`'s key has passed its time since it was watched (checked by EXEC,
    /// which fails then even if nothing deleted the key yet).
    pub fn watched_key_expired(
        &self,
        key: &[u8],
        watcher: &std::sync::Arc<Watcher>,
        now: u64,
    ) -> bool {
        let stale_when_watched = self.watched.get(key).is_some_and(|l| {
            l.iter()
                .any(|w| std::sync::Arc::ptr_eq(&w.watcher, watcher) && w.expired)
        });
        !stale_when_watched
            && self
                .keys
                .get(key)
                .is_some_and(|e| e.expire_at != 0 && e.expire_at <= now)
    }

    /// Whether a change to a key here must be signalled ([`Db::touch`]): someone watches a
    /// key of this database, or a client tracks keys. The common case is no.
    #[inline]
    pub fn observed(&self) -> bool {
        !self.watched.is_empty() || tracking::active()
    }

    /// `key` was changed (Redis's `signalModifiedKey`): the clients that may cache it are
    /// owed an invalidation, and its watchers' EXEC will fail. A watcher of a key that was
    /// already stale sees its deletion as no change. Redis 7.0 stops at the first such
    /// watcher when the key exists again, leaving the ones after it untouched; so does this.
    pub fn touch(&mut self, key: &[u8]) {
        if tracking::active() {
            tracking::invalidate(key);
        }
        if self.watched.is_empty() {
            return;
        }
        let exists = self.keys.contains(key);
        let Some(list) = self.watched.get_mut(key) else {
            return;
        };
        let mut i = 0;
        while i < list.len() {
            if list[i].expired {
                if exists {
                    break;
                }
                list[i].expired = false;
                i += 1;
                continue;
            }
            // A dirty client's EXEC fails whatever happens next: forget it here.
            list.remove(i).watcher.touch();
        }
        if list.is_empty() {
            self.watched.remove(key);
        }
    }

    /// Touches every watched key this database's emptying or swapping changes (Redis's
    /// `touchAllWatchedKeysInDb`): keys that exist here, or, for SWAPDB, in `replaced_with`,
    /// the database that takes this one's place.
    fn touch_all(&mut self, replaced_with: Option<&Db>) {
        if self.watched.is_empty() {
            return;
        }
        let now = now_ms();
        let stale_in = |db: &Db, key: &[u8]| {
            db.keys
                .get(key)
                .is_some_and(|e| e.expire_at != 0 && e.expire_at <= now)
        };
        for (key, list) in self.watched.iter_mut() {
            let here = self.keys.contains(key);
            let there = replaced_with.is_some_and(|r| r.keys.contains(key));
            if !here && !there {
                continue;
            }
            list.retain_mut(|w| {
                if w.expired {
                    if !there {
                        // Expired key now deleted: no logical change.
                        w.expired = false;
                        return true;
                    }
                    if replaced_with.is_some_and(|r| stale_in(r, key)) {
                        // Expired key replaced by another expired key.
                        return true;
                    }
                } else if !here && replaced_with.is_some_and(|r| stale_in(r, key)) {
                    // A missing key replaced by an expired one.
                    w.expired = true;
                    return true;
                }
                w.watcher.touch();
                false
            });
        }
        self.watched.retain(|_, l| !l.is_empty());
    }

    /// Lends `key`'s value to a transaction running its command on another shard: the value
    /// moves out (no copy, whatever its size) and a placeholder of the same type stays, so the
    /// key keeps its place for SCAN, RANDOMKEY and DBSIZE. The transaction holds the key's
    /// lock until it gives the value back with [`Db::settle_loan`].
    pub fn lend(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.keys.get_mut(key)?;
        debug_assert!(!e.lent, "a key is lent once");
        let placeholder = e.value.placeholder();
        let value = std::mem::replace(&mut e.value, placeholder);
        e.lent = true;
        Some(Entry {
            value,
            lent: false,
            ..*e
        })
    }

    /// Ends a transaction's hold on `key`: `entry` takes its place (the lent value back, or
    /// the command's result), or, when `None`, the key is deleted.
    pub fn settle_loan(&mut self, key: &[u8], entry: Option<Entry>) {
        match entry {
            // What the command made of it was announced where it ran.
            Some(e) => {
                self.place(key, e);
            }
            None => {
                self.remove(key);
            }
        }
    }

    /// Notes that a client blocks on `key` (absent), so its creation makes it ready.
    pub fn watch_blocked(&mut self, key: &Bytes) {
        self.blocked.insert(key.clone());
    }

    /// No client blocks on `key` any more.
    pub fn unwatch_blocked(&mut self, key: &[u8]) {
        self.blocked.remove(key);
    }

    /// Blocked keys created since the last call.
    pub fn take_ready(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.ready)
    }

    /// Marks a blocked key ready whether or not it was just created: after SWAPDB, or when a
    /// client served elsewhere leaves elements behind.
    pub fn mark_ready(&mut self, key: &[u8]) {
        if let Some(k) = self.blocked.get(key) {
            self.ready.push(k.clone());
        }
    }

    pub fn has_blocked(&self) -> bool {
        !self.blocked.is_empty()
    }

    /// A uniformly random live key, deleting expired ones met on the way.
    pub fn random_key(&mut self, now: u64, stats: &mut KeyStats) -> Option<Blob> {
        let mut rng = rand::thread_rng();
        // Bounded tries: if almost everything is expired, reap what we meet and give up as Redis
        // does after enough attempts rather than spin.
        for _ in 0..100 {
            if self.keys.is_empty() {
                return None;
            }
            let idx = rng.gen_range(0..self.keys.len());
            let (key, entry) = self.keys.at(idx)?;
            if entry.expire_at != 0 && entry.expire_at <= now && !entry.lent {
                let key = key.clone();
                self.reap(key.as_bytes(), stats);
                stats.expired_keys += 1;
                continue;
            }
            return Some(key.clone());
        }
        self.keys.at(0).map(|(k, _)| k.clone())
    }

    /// Visits up to `count` positions of the key table from `cursor` downwards (see the module
    /// comment) and returns the next cursor, 0 when the walk is complete. Cursor `0` starts a
    /// walk; internally positions are shifted by one so that 0 can mean both "start" and "end".
    pub fn scan(&self, cursor: u64, count: usize, visit: impl FnMut(&Blob, &Entry)) -> u64 {
        self.keys.scan(cursor, count, visit)
    }

    /// Samples `samples` keys (volatile ones only if `volatile_only`) and returns the one with
    /// the lowest `score`, the approximated eviction candidate Redis picks the same way.
    /// Keys for which `skip` is true (locked by a transaction) are never candidates.
    pub fn eviction_candidate(
        &self,
        samples: usize,
        volatile_only: bool,
        score: impl Fn(&Entry) -> u64,
        skip: impl Fn(&[u8]) -> bool,
    ) -> Option<(u64, Blob)> {
        let mut rng = rand::thread_rng();
        let mut best: Option<(u64, Blob)> = None;
        for _ in 0..samples {
            let key = if volatile_only {
                if self.volatile.is_empty() {
                    return None;
                }
                self.volatile
                    .at(rng.gen_range(0..self.volatile.len()))
                    .map(|(k, _)| k)?
            } else {
                if self.keys.is_empty() {
                    return None;
                }
                self.keys
                    .at(rng.gen_range(0..self.keys.len()))
                    .map(|(k, _)| k)?
            };
            let Some(entry) = self.keys.get(key).filter(|e| !e.lent && !skip(key)) else {
                continue;
            };
            let s = score(entry);
            if best.as_ref().is_none_or(|(b, _)| s < *b) {
                best = Some((s, key.clone()));
            }
        }
        best
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Blob, &Entry)> {
        self.keys.iter()
    }

    /// One round of Redis's active expiry: sample up to `samples` volatile keys and delete the
    /// expired ones, except those `skip` says a transaction holds. Returns (sampled, expired)
    /// so the caller can decide whether to go on.
    pub fn expire_sample(
        &mut self,
        now: u64,
        samples: usize,
        stats: &mut KeyStats,
        skip: impl Fn(&[u8]) -> bool,
    ) -> (usize, usize) {
        let n = self.volatile.len();
        if n == 0 {
            return (0, 0);
        }
        let mut rng = rand::thread_rng();
        let mut expired = 0;
        let (mut ttl_sum, mut ttl_count) = (0u64, 0u64);
        let take = samples.min(n);
        for _ in 0..take {
            if self.volatile.is_empty() {
                break;
            }
            let idx = rng.gen_range(0..self.volatile.len());
            let key = self.volatile.at(idx).expect("idx < len").0.clone();
            let (at, lent) = self
                .keys
                .get(key.as_bytes())
                .map_or((0, false), |e| (e.expire_at, e.lent));
            let dead = at != 0 && at <= now && !lent && !skip(key.as_bytes());
            if at > now {
                ttl_sum += at - now;
                ttl_count += 1;
            }
            if dead {
                self.reap(key.as_bytes(), stats);
                stats.expired_keys += 1;
                notify::emit(
                    notify::class::EXPIRED,
                    "expired",
                    self.index,
                    key.as_bytes(),
                );
                expired += 1;
            }
        }
        if let Some(sample) = ttl_sum.checked_div(ttl_count) {
            // Smooth like Redis: the new sample weighs 2% against the running estimate.
            self.avg_ttl = if self.avg_ttl == 0 {
                sample
            } else {
                (self.avg_ttl * 49 + sample) / 50
            };
        }
        (take, expired)
    }
}

/// Two distinct elements of a slice, both mutable.
fn two_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    if a < b {
        let (l, r) = v.split_at_mut(b);
        (&mut l[a], &mut r[0])
    } else {
        let (l, r) = v.split_at_mut(a);
        (&mut r[0], &mut l[b])
    }
}

/// What a keyed command's handler sees: one shard's keyspace, the client's selected database
/// and the command's notion of "now" (fixed for the whole command, as Redis does).
pub struct Ctx<'a> {
    pub ks: &'a mut Keyspace,
    pub db: usize,
    pub now: u64,
}

impl Ctx<'_> {
    pub fn db(&mut self) -> (&mut Db, &mut KeyStats) {
        self.ks.db(self.db)
    }

    /// A keyspace event of `class` for `key` in this command's database (see [`notify`]).
    #[inline]
    pub fn notify(&self, class: u32, name: &'static str, key: &[u8]) {
        notify::emit(class, name, self.db, key);
    }
}

/// When a collection leaves its compact encoding, from the `*-max-listpack-*` and
/// `set-max-intset-entries` parameters. Kept with the keyspace so that data-structure code gets
/// them from its caller rather than from the runtime's configuration.
#[derive(Clone, Copy, Debug)]
pub struct EncodingLimits {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// Positive: entries per list node; -1..=-5: node size 4 KiB..64 KiB.
    pub list_max_listpack_size: i32,
}

impl Default for EncodingLimits {
    /// Redis's defaults.
    fn default() -> Self {
        EncodingLimits {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
        }
    }
}

/// All databases of one shard.
pub struct Keyspace {
    pub dbs: Vec<Db>,
    pub stats: KeyStats,
    pub limits: EncodingLimits,
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        Keyspace {
            dbs: (0..databases)
                .map(|index| Db {
                    index,
                    ..Db::default()
                })
                .collect(),
            stats: KeyStats::default(),
            limits: EncodingLimits::default(),
        }
    }

    pub fn db(&mut self, index: usize) -> (&mut Db, &mut KeyStats) {
        (&mut self.dbs[index], &mut self.stats)
    }

    /// SWAPDB: the data moves, but clients stay blocked on the database index they named, and
    /// their keys may now exist.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a != b {
            let (x, y) = two_mut(&mut self.dbs, a, b);
            x.touch_all(Some(&*y));
            y.touch_all(Some(&*x));
        }
        self.dbs.swap(a, b);
        self.dbs[a].index = a;
        self.dbs[b].index = b;
        // Blocked and watched keys belong to the database number, not to its contents.
        let (x, y) = (
            std::mem::take(&mut self.dbs[a].blocked),
            std::mem::take(&mut self.dbs[b].blocked),
        );
        self.dbs[a].blocked = y;
        self.dbs[b].blocked = x;
        let (x, y) = (
            std::mem::take(&mut self.dbs[a].watched),
            std::mem::take(&mut self.dbs[b].watched),
        );
        self.dbs[a].watched = y;
        self.dbs[b].watched = x;
        for db in [a, b] {
            let keys: Vec<Bytes> = self.dbs[db].blocked.iter().cloned().collect();
            for k in keys {
                if self.dbs[db].keys.contains(&k) {
                    self.dbs[db].ready.push(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        Value::from_bytes(s.as_bytes())
    }

    #[test]
    fn a_key_slot_is_72_bytes() {
        // docs/benchmarks.md accounts for memory per key with this figure.
        assert_eq!(std::mem::size_of::<(Blob, Entry)>(), 72);
    }

    #[test]
    fn lazy_expiry_removes_on_access() {
        let mut db = Db::default();
        let mut stats = KeyStats::default();
        db.set(b"a", v("1"), 100);
        assert!(db.get(b"a", 99, &mut stats).is_some());
        assert!(db.get(b"a", 100, &mut stats).is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(db.volatile_len(), 0);
        assert_eq!(stats.expired_keys, 1);
    }

    #[test]
    fn scan_never_skips_keys_present_throughout() {
        let mut db = Db::default();
        for i in 0..1000 {
            db.set(format!("k{i}").as_bytes(), v("x"), 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 10, |k, _| {
                seen.insert(k.as_bytes().to_vec());
            });
            // Churn between calls: delete keys >= 500 and add new ones.
            round += 1;
            if round % 3 == 0 {
                let victim = format!("k{}", 500 + round);
                db.remove(victim.as_bytes());
                db.set(format!("new{round}").as_bytes(), v("y"), 0);
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} skipped");
        }
    }

    #[test]
    fn active_expiry_reaps_without_access() {
        let mut db = Db::default();
        let mut stats = KeyStats::default();
        for i in 0..100 {
            db.set(format!("k{i}").as_bytes(), v("x"), 10);
        }
        db.set(b"keep", v("x"), 0);
        while db.volatile_len() > 0 {
            db.expire_sample(20, 20, &mut stats, |_| false);
        }
        assert_eq!(db.len(), 1);
        assert_eq!(stats.expired_keys, 100);
    }
}
