//! What observers see of the commands that run: the slow log, the latency monitor's samples
//! and MONITOR's feed. All three are fed after a command ran, from the shard of the
//! connection that sent it (`cmd::introspect::after_command`), as Redis feeds them from
//! `call()`; this is their runtime side.
//!
//! The slow log and the latency events are process-wide, behind locks: only commands past a
//! threshold reach them. MONITOR clients are listed on their own shard; each shard counts its
//! monitors in `Global::monitors`, so a shard with none costs a command one atomic read, and a
//! line is built once and sent once to each shard that has some.

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use crate::config::Config;
use crate::shard::clients::ClientInfo;
use crate::shard::{Node, ShardData};

/// A shard's part: its cached thresholds and its MONITOR clients.
#[derive(Default)]
pub struct Introspect {
    /// `slowlog-log-slower-than` in microseconds; negative turns the log off.
    slower_than: i64,
    slowlog_max_len: usize,
    /// `latency-monitor-threshold` in milliseconds; 0 turns the monitor off.
    latency_threshold: u64,
    monitors: Vec<Rc<ClientInfo>>,
}

impl Introspect {
    pub fn apply_config(&mut self, config: &Config) {
        self.slower_than = config.slowlog_log_slower_than();
        self.slowlog_max_len = config.slowlog_max_len() as usize;
        self.latency_threshold = config.latency_monitor_threshold().max(0) as u64;
    }

    /// Whether a command that ran `micros` goes to the slow log.
    pub fn is_slow(&self, micros: u64) -> bool {
        self.slower_than >= 0 && micros >= self.slower_than as u64
    }

    pub fn slowlog_max_len(&self) -> usize {
        self.slowlog_max_len
    }

    /// Records a latency sample for `event` if it reached `latency-monitor-threshold`.
    pub fn sample(&self, node: &Node, event: &str, millis: u64) {
        if self.latency_threshold > 0 && millis >= self.latency_threshold {
            let now = crate::db::now_ms() as i64 / 1000;
            node.global
                .latency
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .add_sample(event, millis, now);
        }
    }
}

/// Whether a command's arguments must be kept past its run: the slow log is on, or a MONITOR
/// listens somewhere.
pub fn keeps_args(node: &Node) -> bool {
    node.data.borrow().introspect.slower_than >= 0 || monitoring(node)
}

pub fn monitoring(node: &Node) -> bool {
    node.global.monitors.iter().any(|n| n.load(Relaxed) > 0)
}

/// Queues a MONITOR line for this shard's monitors (normal clients to the output buffer
/// limits, as in Redis).
pub fn send_to_monitors(data: &ShardData, line: &[u8]) {
    for m in &data.introspect.monitors {
        data.push(m, line);
    }
}

/// Makes `client` a monitor on this shard.
pub fn start_monitor(node: &Node, client: &Rc<ClientInfo>) {
    node.data
        .borrow_mut()
        .introspect
        .monitors
        .push(client.clone());
    node.global.monitors[node.id].fetch_add(1, Relaxed);
}

/// Ends `client`'s monitoring (RESET, or it left); false when it was not a monitor.
pub fn stop_monitor(node: &Node, id: u64) -> bool {
    let mut data = node.data.borrow_mut();
    let monitors = &mut data.introspect.monitors;
    let before = monitors.len();
    monitors.retain(|m| m.id != id);
    let stopped = before - monitors.len();
    node.global.monitors[node.id].fetch_sub(stopped, Relaxed);
    stopped > 0
}
