//! The time commands see, read from the system as rarely as correctness allows.
//!
//! Reading a clock is a vDSO call that, on a virtual machine's paravirtual clock, costs about as
//! much as the rest of a pipelined GET's user-space work: with four reads per command it was
//! the largest single item in the profile. So a shard thread reads the monotonic clock once
//! per turn of its driver and once at the end of each command (for the command's duration);
//! expiry's milliseconds and the LRU clock are derived from the latest of those readings, and
//! the wall clock is read once a second to anchor them.
//!
//! A thread that never calls [`tick`] (the control thread, a fork child) always reads the
//! system clock afresh.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

thread_local! {
    /// The latest reading [`tick`] took on this thread.
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    /// A monotonic instant and the wall clock's time since the epoch at that instant, whole:
    /// truncating it to milliseconds here and again after adding the time elapsed since
    /// would put the derived time up to 2 ms behind the wall clock, where a client would see
    /// a PTTL longer than the one it set.
    static ANCHOR: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// How long an anchor serves before the wall clock is read again, so that a change of the
/// system's time (or NTP's slewing) shows within this much.
const RESYNC: Duration = Duration::from_secs(1);

/// Reads the monotonic clock and makes the reading this thread's time until the next tick.
pub fn tick() -> Instant {
    let now = Instant::now();
    LAST.with(|l| l.set(Some(now)));
    now
}

/// This thread's latest reading, or the clock itself if it never ticks.
pub fn last() -> Instant {
    LAST.with(Cell::get).unwrap_or_else(Instant::now)
}

/// Milliseconds since the Unix epoch, at this thread's latest reading.
pub fn now_ms() -> u64 {
    match LAST.with(Cell::get) {
        Some(at) => wall_ms(at),
        None => system_ms(),
    }
}

/// Whole seconds since the Unix epoch, truncated to 32 bits: the clock OBJECT IDLETIME reads.
pub fn lru_clock() -> u32 {
    (now_ms() / 1000) as u32
}

fn wall_ms(at: Instant) -> u64 {
    // An anchor serves readings within RESYNC of it, on either side.
    let fresh = |(i, _): &(Instant, Duration)| {
        at.saturating_duration_since(*i) < RESYNC && i.saturating_duration_since(at) < RESYNC
    };
    let (anchor, wall) = match ANCHOR.with(Cell::get).filter(fresh) {
        Some(anchor) => anchor,
        None => {
            // Both clocks read now, as a pair: `at` may be older than this moment.
            let anchor = (Instant::now(), system_time());
            ANCHOR.with(|a| a.set(Some(anchor)));
            anchor
        }
    };
    let wall = if at >= anchor {
        wall + at.duration_since(anchor)
    } else {
        wall.saturating_sub(anchor.duration_since(at))
    };
    wall.as_millis() as u64
}

fn system_time() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn system_ms() -> u64 {
    system_time().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_time_follows_the_readings_and_the_wall_clock() {
        std::thread::spawn(|| {
            let before = system_ms();
            assert!(now_ms() >= before, "without ticks: the system clock");
            let first = tick();
            let t1 = now_ms();
            assert!(t1 >= before && t1 <= system_ms());
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(now_ms(), t1, "the time stays at the latest reading");
            let second = tick();
            let t2 = now_ms();
            let elapsed = second.duration_since(first).as_millis() as u64;
            assert!(t2 >= t1 + elapsed && t2 <= t1 + elapsed + 1);
            assert!(t2.abs_diff(system_ms()) <= 2, "close to the wall clock");
            assert_eq!(last(), second);
            // A reading older than the anchor (the thread was busy since) maps to its own
            // time, not to the moment the anchor was taken.
            ANCHOR.with(|a| a.set(None));
            std::thread::sleep(Duration::from_millis(30));
            let t3 = now_ms();
            assert!(t3.abs_diff(t2) <= 2, "{t3} for a reading made at {t2}");
            // Never ahead of the wall clock, and behind it by less than a millisecond.
            ANCHOR.with(|a| a.set(None));
            for _ in 0..1000 {
                let before = system_time();
                tick();
                let derived = now_ms();
                assert!(derived >= before.as_millis() as u64 && derived <= system_ms());
            }
        })
        .join()
        .unwrap();
    }
}
