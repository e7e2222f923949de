//! `oom-score-adj`: the score Linux's OOM killer weighs this process by, set as Redis sets it
//! so that under memory pressure a snapshot child goes before the server: the value for the
//! server's class (`oom-score-adj-values`: primary, replica, background child), added to the
//! score the process started with (`yes`/`relative`) or as it is (`absolute`); `no` puts the
//! starting score back if it was ever changed.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};

use crate::config::Config;

/// Which of `oom-score-adj-values` applies.
#[derive(Clone, Copy, Debug)]
pub enum ProcessClass {
    Primary = 0,
    /// A snapshot or rewrite child.
    Child = 2,
}

/// The score before Tessera first changed it, once it has.
static BASE: AtomicI32 = AtomicI32::new(0);
static ADJUSTED: AtomicBool = AtomicBool::new(false);

const PATH: &str = "/proc/self/oom_score_adj";

/// Sets this process's score for `class`; the error is Redis's log message.
pub fn apply(config: &Config, class: ProcessClass) -> Result<(), String> {
    let value = match config.oom_score_adj() {
        0 if ADJUSTED.swap(false, Relaxed) => BASE.load(Relaxed),
        0 => return Ok(()),
        mode => {
            if !ADJUSTED.swap(true, Relaxed) {
                let base = std::fs::read_to_string(PATH)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                BASE.store(base, Relaxed);
            }
            let mut value = config.oom_score_adj_values()[class as usize];
            if mode == 1 {
                value += BASE.load(Relaxed);
            }
            value.clamp(-1000, 1000)
        }
    };
    std::fs::write(PATH, format!("{value}\n"))
        .map_err(|e| format!("Unable to write oom_score_adj: {e}"))
}
