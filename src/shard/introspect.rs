//! What observers see of the commands that run: the slow log, the latency monitor's
//! `command` samples and MONITOR's feed. All three are fed after a command ran, from the
//! shard of the connection that sent it (`after_command`), as Redis feeds them from `call()`.
//!
//! The slow log and the latency events are process-wide, behind locks: only commands past a
//! threshold reach them. MONITOR clients are listed on their own shard; each shard counts its
//! monitors in `Global::monitors`, so a shard with none costs a command one atomic read, and a
//! line is built once and sent once to each shard that has some.

use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use crate::cmd::flags::{ADMIN, FAST, SKIP_MONITOR, SKIP_SLOWLOG};
use crate::cmd::session::Session;
use crate::cmd::Command;
use crate::config::{ClientClass, Config, ObufLimit};
use crate::shard::clients::ClientInfo;
use crate::shard::Node;

/// A shard's part: its cached thresholds and its MONITOR clients.
#[derive(Default)]
pub struct Introspect {
    /// `slowlog-log-slower-than` in microseconds; negative turns the log off.
    slower_than: i64,
    slowlog_max_len: usize,
    /// `latency-monitor-threshold` in milliseconds; 0 turns the monitor off.
    latency_threshold: u64,
    monitors: Vec<Rc<ClientInfo>>,
    /// `client-output-buffer-limit normal`, which monitors are held to.
    normal_limit: ObufLimit,
}

impl Introspect {
    pub fn apply_config(&mut self, config: &Config) {
        self.slower_than = config.slowlog_log_slower_than();
        self.slowlog_max_len = config.slowlog_max_len() as usize;
        self.latency_threshold = config.latency_monitor_threshold().max(0) as u64;
        self.normal_limit = config.obuf_limit(ClientClass::Normal);
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

/// Feeds the latency monitor, the slow log and the monitors with a command that ran for
/// `nanos` (its time blocked excluded). `args` are its arguments when they were kept (see
/// [`keeps_args`]).
pub fn after_command(s: &Session, cmd: &'static Command, args: Option<&[Bytes]>, nanos: u64) {
    let micros = nanos / 1000;
    let (slow, max_len) = {
        let data = s.node.data.borrow();
        let event = if cmd.flags.has(FAST) {
            "fast-command"
        } else {
            "command"
        };
        data.introspect.sample(&s.node, event, micros / 1000);
        let i = &data.introspect;
        (
            i.slower_than >= 0 && micros >= i.slower_than as u64,
            i.slowlog_max_len,
        )
    };
    let Some(args) = args else { return };
    if slow && !cmd.flags.has(SKIP_SLOWLOG) {
        let args = redacted(cmd, args);
        let name = s.info.name.borrow().clone().unwrap_or_default();
        let now = crate::db::now_ms() as i64 / 1000;
        s.node
            .global
            .slowlog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(&args, micros, now, s.info.addr.clone(), name, max_len);
    }
    if !cmd.flags.has(SKIP_MONITOR) && !cmd.flags.has(ADMIN) && monitoring(&s.node) {
        feed_monitors(s, &redacted(cmd, args));
    }
}

/// Sends a command's line to every MONITOR client: EVAL and FCALL call this before their
/// script runs, so that the script's commands show after them, as in Redis.
pub fn feed_monitors(s: &Session, args: &[Bytes]) {
    if !monitoring(&s.node) {
        return;
    }
    let line = monitor_line(s, args);
    for (shard, count) in s.node.global.monitors.iter().enumerate() {
        if count.load(Relaxed) > 0 {
            let line = line.clone();
            s.node.post(shard, move |data| data.introspect.send(&line));
        }
    }
}

impl Introspect {
    /// Queues a MONITOR line for this shard's monitors.
    fn send(&mut self, line: &Bytes) {
        for m in &self.monitors {
            // A monitor is a normal client to the output buffer limits, as in Redis.
            crate::shard::pubsub::push_to(m, line.clone(), self.normal_limit);
        }
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

/// MONITOR's line for a command: `+<unix time with µs> [<db> <client>] "arg" ...`, each
/// argument quoted as Redis's `sdscatrepr` quotes it.
fn monitor_line(s: &Session, args: &[Bytes]) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let client = if s.in_script {
        "lua".to_string()
    } else if s.info.unix {
        let path = s.node.global.config.snapshot();
        let path = path
            .unixsocket()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        format!("unix:{path}")
    } else {
        s.info.addr.clone()
    };
    let mut line = format!(
        "+{}.{:06} [{} {}] ",
        now.as_secs(),
        now.subsec_micros(),
        s.db,
        client
    )
    .into_bytes();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        crate::resp::split::push_repr(&mut line, a);
    }
    line.extend_from_slice(b"\r\n");
    Bytes::from(line)
}

/// A command's arguments with its secrets replaced by `(redacted)`, as Redis shows them in
/// the slow log and to monitors: passwords of AUTH, HELLO and MIGRATE, and the values of
/// `masterauth`, `masteruser` and `requirepass` in CONFIG SET.
fn redacted<'a>(cmd: &Command, args: &'a [Bytes]) -> std::borrow::Cow<'a, [Bytes]> {
    let hidden: Vec<usize> = match cmd.name {
        "auth" => (1..args.len()).collect(),
        "hello" => match args.iter().position(|a| a.eq_ignore_ascii_case(b"auth")) {
            Some(at) => vec![at + 1, at + 2],
            None => vec![],
        },
        "migrate" => {
            let mut hidden = vec![];
            for (i, a) in args.iter().enumerate() {
                if a.eq_ignore_ascii_case(b"auth") {
                    hidden.push(i + 1);
                } else if a.eq_ignore_ascii_case(b"auth2") {
                    hidden.extend([i + 1, i + 2]);
                }
            }
            hidden
        }
        "config|set" => (2..args.len())
            .step_by(2)
            .filter(|&i| {
                ["masterauth", "masteruser", "requirepass"]
                    .iter()
                    .any(|p| args[i].eq_ignore_ascii_case(p.as_bytes()))
            })
            .map(|i| i + 1)
            .collect(),
        _ => return args.into(),
    };
    let mut out = args.to_vec();
    for i in hidden {
        if let Some(a) = out.get_mut(i) {
            *a = Bytes::from_static(b"(redacted)");
        }
    }
    out.into()
}
