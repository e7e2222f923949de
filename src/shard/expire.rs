//! The active expiry cycle: each shard reaps its own expired keys in the background.
//!
//! As in Redis, every `1000/hz` ms a shard samples keys that have a TTL and deletes the expired
//! ones, repeating while more than a quarter of a sample was expired, within a CPU budget of a
//! quarter of the period, so that keys nobody touches again still free their memory while the
//! shard stays responsive.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::Node;
use crate::db::now_ms;

const SAMPLE: usize = 20;

pub fn start_active_expiry(node: Rc<Node>) {
    crate::shard::task::spawn(async move {
        loop {
            let hz = u64::from(node.global.config.snapshot().hz()); // already 1..=500
            let period = Duration::from_millis(1000 / hz);
            crate::shard::timer::sleep(period).await;
            // mimalloc hands freed pages back to the OS only when the thread allocates again;
            // an idle shard would keep the memory of everything deleted or expired. Like
            // jemalloc's background thread for Redis, purge on the tick.
            // SAFETY: mi_collect only walks this thread's own heap.
            unsafe { libmimalloc_sys::mi_collect(false) };
            if node
                .global
                .active_expire
                .load(std::sync::atomic::Ordering::Relaxed)
                && !node.global.cron_paused()
            {
                cycle(&node, period / 4);
            }
        }
    })
    .detach();
}

fn cycle(node: &Rc<Node>, budget: Duration) {
    let started = Instant::now();
    let mut data = node.data.borrow_mut();
    let data = &mut *data;
    let now = now_ms();
    let locks = &data.locks;
    let (mut sampled_all, mut expired_all) = (0, 0);
    let mut out_of_time = false;
    for (i, db) in data.ks.dbs.iter_mut().enumerate() {
        loop {
            // A transaction may be between its hops over a key it holds: leave those to it.
            let (sampled, expired) = db.expire_sample(now, SAMPLE, &mut data.ks.stats, |k| {
                locks.is_claimed(i as u32, k)
            });
            sampled_all += sampled;
            expired_all += expired;
            out_of_time = started.elapsed() >= budget;
            if sampled == 0 || expired * 4 <= sampled || out_of_time {
                break;
            }
        }
        if out_of_time {
            break;
        }
    }
    data.aof.log_reaped(&mut data.ks);
    // The `expired` events of what it reaped.
    node.after_job(data);
    // INFO's expiry figures, kept as Redis's activeExpireCycle keeps them: the share of
    // expired keys among those sampled, as a running average weighing each cycle 5%.
    let stats = &mut data.stats;
    if sampled_all > 0 {
        let share = expired_all as f64 / sampled_all as f64;
        stats.expired_stale_perc = share * 0.05 + stats.expired_stale_perc * 0.95;
    }
    if out_of_time {
        stats.expired_time_cap_reached += 1;
    }
    let elapsed = started.elapsed();
    stats.expire_cycle_usec += elapsed.as_micros() as u64;
    data.introspect
        .sample(node, "expire-cycle", elapsed.as_millis() as u64);
}
