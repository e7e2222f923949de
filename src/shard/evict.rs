//! Eviction under `maxmemory`: make room before a command that may grow memory runs.
//!
//! As in Redis, candidates are chosen by sampling (`maxmemory-samples` keys per database) and
//! scoring them by the policy: least recently used, least frequently used (Redis's logarithmic
//! counter), soonest to expire, or random. Memory is process-wide, keys are per shard: a shard
//! first evicts its own keys, and asks the others only if that is not enough.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use super::{Node, ShardData};
use crate::alloc::used_memory;
use crate::config::{Config, MaxmemoryPolicy};
use crate::db::Lfu;
use crate::resp::Frame;

pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// The LFU settings lookups should follow under `config`, `None` when no LFU policy is selected.
pub fn lfu_of(config: &Config) -> Option<Lfu> {
    matches!(
        config.maxmemory_policy(),
        MaxmemoryPolicy::AllkeysLfu | MaxmemoryPolicy::VolatileLfu
    )
    .then(|| Lfu {
        log_factor: config.lfu_log_factor(),
        decay_minutes: config.lfu_decay_time(),
    })
}

/// Evicts keys of this shard until the process is under `maxmemory` or no candidate is left.
/// Returns whether memory is now under the limit.
pub fn evict_local(
    data: &mut ShardData,
    policy: MaxmemoryPolicy,
    samples: usize,
    maxmemory: u64,
) -> bool {
    use MaxmemoryPolicy::*;
    let volatile_only = matches!(
        policy,
        VolatileLru | VolatileLfu | VolatileRandom | VolatileTtl
    );
    let lfu = data.ks.stats.lfu;
    while used_memory() > maxmemory {
        let mut best: Option<(u64, usize, crate::types::blob::Blob)> = None;
        for (i, db) in data.ks.dbs.iter().enumerate() {
            // Keys a transaction holds are its own until it ends.
            let held = |k: &[u8]| data.locks.is_claimed(i as u32, k);
            let candidate = db.eviction_candidate(
                samples,
                volatile_only,
                |e| match policy {
                    AllkeysLru | VolatileLru => e.access as u64,
                    // Lower counter first, then older access among equals.
                    AllkeysLfu | VolatileLfu => {
                        ((lfu.map_or(e.freq, |l| l.decayed(e)) as u64) << 32) | e.access as u64
                    }
                    VolatileTtl => e.expire_at,
                    AllkeysRandom | VolatileRandom | NoEviction => rand::random::<u32>() as u64,
                },
                held,
            );
            if let Some((score, key)) = candidate {
                if best.as_ref().is_none_or(|(b, _, _)| score < *b) {
                    best = Some((score, i, key));
                }
            }
        }
        let Some((_, db, key)) = best else {
            return false;
        };
        let ks = &mut data.ks;
        ks.dbs[db].reap(&key, &mut ks.stats);
        ks.stats.evicted_keys += 1;
        crate::db::notify::emit(
            crate::db::notify::class::EVICTED,
            "evicted",
            db,
            key.as_bytes(),
        );
        data.aof.log_reaped(ks);
    }
    true
}

impl Node {
    /// Makes room for a command flagged `denyoom`, or returns Redis's OOM error.
    pub async fn make_room(self: &Rc<Self>) -> Result<(), Frame> {
        let outcome = self.try_make_room().await;
        self.global.eviction_exceeded.note(outcome.is_ok());
        outcome
    }

    async fn try_make_room(self: &Rc<Self>) -> Result<(), Frame> {
        let maxmemory = self.global.maxmemory();
        if maxmemory == 0 || used_memory() <= maxmemory {
            return Ok(());
        }
        let config = self.global.config.snapshot();
        let policy = config.maxmemory_policy();
        if policy == MaxmemoryPolicy::NoEviction {
            return Err(Frame::error(OOM));
        }
        let samples = config.maxmemory_samples();
        let made = {
            let mut data = self.data.borrow_mut();
            let made = evict_local(&mut data, policy, samples, maxmemory);
            // The evictions' notifications and invalidations leave now.
            self.after_job(&mut data);
            made
        };
        if made {
            return Ok(());
        }
        for shard in (0..self.shards).filter(|s| *s != self.id) {
            if self
                .run_on(shard, Vec::new(), move |data| {
                    evict_local(data, policy, samples, maxmemory)
                })
                .await
            {
                return Ok(());
            }
        }
        Err(Frame::error(OOM))
    }
}

/// How long memory has stayed over `maxmemory` with eviction unable to bring it under
/// (INFO's total_ and current_eviction_exceeded_time), timed as Redis times it: from a
/// command that found no room until one that found room.
#[derive(Default)]
pub struct ExceededTime {
    /// Microseconds since `EPOCH` when the current stretch began, plus one; 0 when none runs.
    since: AtomicU64,
    /// Microseconds of the stretches that ended.
    total: AtomicU64,
}

/// The origin of `ExceededTime`'s instants: the first use.
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn micros_now() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1
}

impl ExceededTime {
    /// After a command looked for room: whether it found some.
    pub fn note(&self, room: bool) {
        let since = self.since.load(Relaxed);
        if room && since != 0 {
            let since = self.since.swap(0, Relaxed);
            if since != 0 {
                self.total.fetch_add(micros_now() - since, Relaxed);
            }
        } else if !room && since == 0 {
            let _ = self
                .since
                .compare_exchange(0, micros_now(), Relaxed, Relaxed);
        }
    }

    /// (total including the current stretch, current stretch), in microseconds.
    pub fn micros(&self) -> (u64, u64) {
        let since = self.since.load(Relaxed);
        let current = if since == 0 { 0 } else { micros_now() - since };
        (self.total.load(Relaxed) + current, current)
    }
}
