//! MONITOR, SLOWLOG and LATENCY: watching the commands that run. [`after_command`] feeds
//! them after each command (`route::account`); their per-shard state is
//! [`crate::shard::introspect`]'s.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::flags::*;
use super::{boxed, help_reply, Args, Command, Run, SessionFuture};
use crate::cmd::session::Session;
use crate::resp::Frame;
use crate::shard::introspect::{monitoring, start_monitor, stop_monitor};
use crate::types::histogram::Histogram;
use crate::types::latency::DoctorFacts;

pub static COMMANDS: &[Command] = &[
    Command::new("monitor", 1, Run::Session(monitor))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("slowlog", -2, Run::Session(slowlog_help))
        .acl(&["@slow"])
        .subs(SLOWLOG_SUBCOMMANDS),
    Command::new("latency", -2, Run::Session(latency_help))
        .acl(&["@slow"])
        .subs(LATENCY_SUBCOMMANDS),
];

const ADMIN_ACL: &[&str] = &["@admin", "@slow", "@dangerous"];

static SLOWLOG_SUBCOMMANDS: &[Command] = &[
    Command::new("slowlog|get", -2, Run::Session(slowlog_get))
        .flags(&[ADMIN, LOADING, STALE])
        .acl(ADMIN_ACL),
    Command::new("slowlog|len", 2, Run::Session(slowlog_len))
        .flags(&[ADMIN, LOADING, STALE])
        .acl(ADMIN_ACL),
    Command::new("slowlog|reset", 2, Run::Session(slowlog_reset))
        .flags(&[ADMIN, LOADING, STALE])
        .acl(ADMIN_ACL),
    Command::new("slowlog|help", 2, Run::Session(slowlog_help))
        .flags(&[LOADING, STALE])
        .acl(&["@slow"]),
];

static LATENCY_SUBCOMMANDS: &[Command] = &[
    Command::new("latency|latest", 2, Run::Session(latency_latest))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(ADMIN_ACL),
    Command::new("latency|history", 3, Run::Session(latency_history))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(ADMIN_ACL),
    Command::new("latency|reset", -2, Run::Session(latency_reset))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(ADMIN_ACL),
    Command::new("latency|graph", 3, Run::Session(latency_graph))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(ADMIN_ACL),
    Command::new("latency|doctor", 2, Run::Session(latency_doctor))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(ADMIN_ACL),
    Command::new("latency|histogram", -2, Run::Session(latency_histogram))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(ADMIN_ACL),
    Command::new("latency|help", 2, Run::Session(latency_help))
        .flags(&[LOADING, STALE])
        .acl(&["@slow"]),
];

/// Feeds the latency monitor, the slow log and the monitors with a command that ran for
/// `nanos` (its time blocked excluded). `args` are its arguments when they were kept (see
/// [`crate::shard::introspect::keeps_args`]).
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
        (i.is_slow(micros), i.slowlog_max_len())
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
            s.node.post(shard, move |data| {
                crate::shard::introspect::send_to_monitors(data, &line)
            });
        }
    }
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

/// MONITOR: from now on the client hears every command as it runs, until RESET or it leaves.
/// A client already monitoring gets no reply at all, as from Redis.
fn monitor(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if s.info.monitor.get() {
            return Frame::Encoded(Bytes::new());
        }
        s.info.monitor.set(true);
        // The +OK goes before any line: the lines go through the outbox, which the
        // connection sends only after this reply.
        start_monitor(&s.node, &s.info);
        Frame::ok()
    })
}

/// Undoes MONITOR (RESET).
pub fn leave_monitor(s: &mut Session) {
    if s.info.monitor.replace(false) {
        stop_monitor(&s.node, s.info.id);
    }
}

fn slowlog_get(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if args.len() > 3 {
            return unknown_or_arity(&args, "SLOWLOG");
        }
        let count = match args.get(2) {
            None => 10,
            Some(a) => match crate::cmd::args::parse_int(a) {
                Ok(-1) => usize::MAX,
                Ok(n) if n >= 0 => n as usize,
                _ => return Frame::error("ERR count should be greater than or equal to -1"),
            },
        };
        let log = s
            .node
            .global
            .slowlog
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Frame::Array(
            log.newest(count)
                .map(|e| {
                    Frame::Array(vec![
                        Frame::Integer(e.id as i64),
                        Frame::Integer(e.time),
                        Frame::Integer(e.micros as i64),
                        Frame::Array(e.args.iter().cloned().map(Frame::Bulk).collect()),
                        Frame::Bulk(Bytes::from(e.peer.clone())),
                        Frame::Bulk(e.name.clone()),
                    ])
                })
                .collect(),
        )
    })
}

fn slowlog_len(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let log = s
            .node
            .global
            .slowlog
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Frame::Integer(log.len() as i64)
    })
}

fn slowlog_reset(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        s.node
            .global
            .slowlog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reset();
        Frame::ok()
    })
}

fn slowlog_help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        help_reply(
            "slowlog",
            &[
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
            ],
        )
    })
}

/// Redis's `addReplySubcommandSyntaxError`.
fn unknown_or_arity(args: &Args, command: &str) -> Frame {
    Frame::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {command} HELP.",
        String::from_utf8_lossy(&args[1])
    ))
}

fn latency_events(s: &Session) -> std::sync::MutexGuard<'_, crate::types::latency::LatencyEvents> {
    s.node
        .global
        .latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn now_secs() -> i64 {
    crate::db::now_ms() as i64 / 1000
}

fn latency_latest(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        Frame::Array(
            latency_events(s)
                .latest()
                .map(|l| {
                    Frame::Array(vec![
                        Frame::bulk_str(l.event),
                        Frame::Integer(l.time),
                        Frame::Integer(l.latency.into()),
                        Frame::Integer(l.all_time_high.into()),
                    ])
                })
                .collect(),
        )
    })
}

fn latency_history(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let event = String::from_utf8_lossy(&args[2]);
        Frame::Array(
            latency_events(s)
                .history(&event)
                .into_iter()
                .map(|l| {
                    Frame::Array(vec![
                        Frame::Integer(l.time),
                        Frame::Integer(l.latency.into()),
                    ])
                })
                .collect(),
        )
    })
}

fn latency_reset(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut events = latency_events(s);
        let resets = if args.len() == 2 {
            events.reset(None)
        } else {
            args[2..]
                .iter()
                .map(|e| events.reset(Some(&String::from_utf8_lossy(e))))
                .sum()
        };
        Frame::Integer(resets as i64)
    })
}

fn latency_graph(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let event = String::from_utf8_lossy(&args[2]);
        match latency_events(s).graph(&event, now_secs()) {
            Some(graph) => Frame::Verbatim("txt", Bytes::from(graph)),
            None => Frame::error(format!("ERR No samples available for event '{event}'")),
        }
    })
}

fn latency_doctor(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let config = s.node.global.config.snapshot();
        let facts = DoctorFacts {
            monitor_threshold_ms: config.latency_monitor_threshold().max(0) as u64,
            slowlog_slower_than_us: config.slowlog_log_slower_than(),
            appendfsync_always: config.appendonly()
                && config.appendfsync() == crate::config::AppendFsync::Always,
            hz: config.hz(),
            ..DoctorFacts::default()
        };
        let report = latency_events(s).doctor(now_secs(), &facts);
        Frame::Verbatim("txt", Bytes::from(report))
    })
}

/// LATENCY HISTOGRAM [command ...]: every shard's histograms added up, of the commands named
/// in their order (a container with its subcommands; unknown names are skipped, as in Redis),
/// or of every command that has one.
fn latency_histogram(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let shards = s
            .node
            .broadcast(|data| {
                data.stats
                    .commands
                    .iter()
                    .filter_map(|(name, st)| Some((*name, st.latency.clone()?)))
                    .collect::<Vec<_>>()
            })
            .await;
        let mut merged: BTreeMap<&'static str, Histogram> = BTreeMap::new();
        for (name, h) in shards.into_iter().flatten() {
            merged.entry(name).or_default().merge(&h);
        }
        let names: Vec<&'static str> = if args.len() == 2 {
            merged.keys().copied().collect()
        } else {
            args[2..]
                .iter()
                .filter_map(|name| by_full_name(name))
                .flat_map(|cmd| std::iter::once(cmd).chain(cmd.subcommands))
                .map(|cmd| cmd.name)
                .collect()
        };
        Frame::Map(
            names
                .into_iter()
                .filter_map(|name| Some((name, merged.get(name)?)))
                .map(|(name, h)| (Frame::bulk_str(name), cumulative(h)))
                .collect(),
        )
    })
}

/// One command's LATENCY HISTOGRAM entry: its calls and its cumulative buckets.
fn cumulative(h: &Histogram) -> Frame {
    let buckets = h
        .log_buckets()
        .into_iter()
        .map(|(usec, count)| (Frame::Integer(usec as i64), Frame::Integer(count as i64)))
        .collect();
    Frame::Map(vec![
        (Frame::bulk_str("calls"), Frame::Integer(h.total() as i64)),
        (Frame::bulk_str("histogram_usec"), Frame::Map(buckets)),
    ])
}

/// A command's row by its full name: `get`, or `client|id` for a subcommand.
fn by_full_name(name: &[u8]) -> Option<&'static Command> {
    let table = super::Table::get();
    match memchr::memchr(b'|', name) {
        None => table.lookup(name),
        Some(bar) => super::subcommand(table.lookup(&name[..bar])?, &name[bar + 1..]),
    }
}

fn latency_help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        help_reply(
            "latency",
            &[
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "GRAPH <event>",
                "    Return an ASCII latency graph for the <event> class.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
            ],
        )
    })
}
