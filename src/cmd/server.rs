//! Server commands: INFO, COMMAND, CONFIG, database-wide operations, DEBUG, SHUTDOWN.
//!
//! Most of these span every shard: they broadcast a closure and combine what comes back.

use std::fmt::Write as _;

use bytes::Bytes;

use super::args::{is, parse_c_int, ArgCursor};
use super::flags::*;
use super::keyspace::in_range;
use super::propagate::Rule;
use super::{boxed, meta, Args, CmdError, Command, Run, SessionFuture, Table};
use crate::cmd::session::Session;
use crate::config::Caller;
use crate::resp::Frame;
use crate::shard::CmdStat;
use crate::slot::key_slot;

pub static COMMANDS: &[Command] = &[
    Command::new("dbsize", 1, Run::Session(dbsize))
        .flags(&[READONLY, FAST])
        .acl(&["@keyspace", "@read", "@fast"]),
    Command::new("flushdb", -1, Run::Session(flushdb))
        .propagates(Rule::AsIs)
        .flags(&[WRITE])
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"]),
    Command::new("flushall", -1, Run::Session(flushall))
        .propagates(Rule::AsIs)
        .flags(&[WRITE])
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"]),
    Command::new("swapdb", 3, Run::Session(swapdb))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast", "@dangerous"]),
    Command::new("time", 1, Run::Session(time))
        .flags(&[LOADING, STALE, FAST])
        .acl(&["@fast"]),
    Command::new("info", -1, Run::Session(info))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@dangerous"]),
    Command::new("shutdown", -1, Run::Session(shutdown))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE, NO_MULTI, ALLOW_BUSY])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("save", 1, Run::Session(save))
        .flags(&[ADMIN, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("bgsave", -1, Run::Session(bgsave))
        .flags(&[ADMIN, NOSCRIPT, NO_ASYNC_LOADING])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("bgrewriteaof", 1, Run::Session(bgrewriteaof))
        .flags(&[ADMIN, NOSCRIPT, NO_ASYNC_LOADING])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("lastsave", 1, Run::Session(lastsave))
        .flags(&[LOADING, STALE, FAST])
        .acl(&["@admin", "@fast", "@dangerous"]),
    Command::new("command", -1, Run::Session(command_all))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"])
        .subs(COMMAND_SUBCOMMANDS),
    Command::new("config", -2, Run::Session(command_all))
        .acl(&["@slow"])
        .subs(CONFIG_SUBCOMMANDS),
    Command::new("cluster", -2, Run::Session(command_all))
        .acl(&["@slow"])
        .subs(CLUSTER_SUBCOMMANDS),
];

static COMMAND_SUBCOMMANDS: &[Command] = &[
    Command::new("command|count", 2, Run::Session(command_count))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("command|info", -2, Run::Session(command_info))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("command|docs", -2, Run::Session(command_docs))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("command|getkeys", -4, Run::Session(command_getkeys))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new(
        "command|getkeysandflags",
        -4,
        Run::Session(command_getkeysandflags),
    )
    .flags(&[LOADING, STALE])
    .acl(&["@slow", "@connection"]),
    Command::new("command|list", -2, Run::Session(command_list))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
    Command::new("command|help", 2, Run::Session(command_help))
        .flags(&[LOADING, STALE])
        .acl(&["@slow", "@connection"]),
];

static CONFIG_SUBCOMMANDS: &[Command] = &[
    Command::new("config|get", -3, Run::Session(config_get))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("config|set", -4, Run::Session(config_set))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous"]),
    Command::new("config|resetstat", 2, Run::Session(config_resetstat))
        .flags(&[ADMIN, NOSCRIPT, LOADING, STALE])
        .acl(&["@admin", "@slow", "@dangerous"]),
];

static CLUSTER_SUBCOMMANDS: &[Command] =
    &[
        Command::new("cluster|keyslot", 3, Run::Session(cluster_keyslot))
            .flags(&[STALE])
            .acl(&["@slow"]),
    ];

fn dbsize(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let db = s.db;
        // Counted without locks, like INFO keyspace: a multi-shard write in flight may be
        // counted on some shards only. Inside EXEC every shard is held, so it is exact there.
        let sizes = s.node.broadcast(move |data| data.ks.dbs[db].len()).await;
        Frame::Integer(sizes.into_iter().sum::<usize>() as i64)
    })
}

/// FLUSHDB and FLUSHALL accept ASYNC or SYNC; both free synchronously here for now, which
/// gives the same visible result.
fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 => is(&args[1], "async") || is(&args[1], "sync"),
        _ => false,
    }
}

fn flushdb(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if !flush_mode_ok(&args) {
            return CmdError::Syntax.into();
        }
        let db = s.db;
        s.node
            .write_everywhere(s.tx.clone(), db, args.to_vec(), move |data| {
                drop(data.ks.dbs[db].clear())
            })
            .await;
        Frame::ok()
    })
}

fn flushall(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if !flush_mode_ok(&args) {
            return CmdError::Syntax.into();
        }
        s.node
            .write_everywhere(s.tx.clone(), s.db, args.to_vec(), |data| {
                for db in data.ks.dbs.iter_mut() {
                    drop(db.clear());
                }
            })
            .await;
        Frame::ok()
    })
}

fn swapdb(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let databases = s.node.global.databases;
        // Both indexes are read before either is range-checked, each with its own message.
        let Ok(a) = parse_c_int(&args[1]) else {
            return Frame::error("ERR invalid first DB index");
        };
        let Ok(b) = parse_c_int(&args[2]) else {
            return Frame::error("ERR invalid second DB index");
        };
        let (Ok(a), Ok(b)) = (in_range(a, databases), in_range(b, databases)) else {
            return CmdError::DbIndexOutOfRange.into();
        };
        s.node
            .write_everywhere(s.tx.clone(), s.db, args.to_vec(), move |data| {
                data.ks.swap_dbs(a, b)
            })
            .await;
        Frame::ok()
    })
}

fn time(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Frame::Array(vec![
            Frame::Bulk(Bytes::from(now.as_secs().to_string())),
            Frame::Bulk(Bytes::from(now.subsec_micros().to_string())),
        ])
    })
}

fn shutdown(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut mode = crate::persist::ShutdownMode::default();
        let (mut abort, mut flagged) = (false, false);
        for a in &args[1..] {
            if is(a, "nosave") || is(a, "save") {
                if mode.save == Some(!is(a, "save")) {
                    return CmdError::Syntax.into();
                }
                mode.save = Some(is(a, "save"));
            } else if is(a, "force") {
                mode.force = true;
            } else if !is(a, "now") {
                if !is(a, "abort") {
                    return CmdError::Syntax.into();
                }
                abort = true;
                continue;
            }
            flagged = true;
        }
        if abort {
            return if flagged {
                CmdError::Syntax.into()
            } else {
                // Shutdowns never wait for replicas here, so none is ever in progress.
                Frame::error("ERR No shutdown in progress.")
            };
        }
        // On success the process exits and this connection gets no reply, as in Redis.
        Frame::error(crate::persist::shutdown(&s.node, mode).await)
    })
}

fn save(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        match crate::persist::save(&s.node).await {
            Ok(()) => Frame::ok(),
            Err(e) => Frame::error(e),
        }
    })
}

fn bgsave(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let schedule = match &args[1..] {
            [] => false,
            [a] if is(a, "schedule") => true,
            _ => return CmdError::Syntax.into(),
        };
        let state = crate::persist::state();
        // SCHEDULE waits for an AOF rewrite's child.
        if schedule && state.child() == Some(crate::persist::ChildKind::Aof) {
            state.schedule();
            return Frame::simple("Background saving scheduled");
        }
        match crate::persist::bgsave(&s.node).await {
            Ok(()) => Frame::simple("Background saving started"),
            Err(e) => Frame::error(e),
        }
    })
}

fn bgrewriteaof(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        match crate::persist::rewrite::bgrewriteaof(&s.node).await {
            Ok(text) => Frame::simple(text),
            Err(e) => Frame::error(e),
        }
    })
}

fn lastsave(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Integer(crate::persist::state().last_save_unix() as i64) })
}

fn cluster_keyslot(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Integer(key_slot(&args[2]) as i64) })
}

/// One section of INFO as `name:value` lines.
struct InfoSection {
    title: &'static str,
    lines: Vec<(String, String)>,
}

fn human_bytes(n: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    for (u, size) in units {
        if n >= size {
            return format!("{:.2}{}", n as f64 / size as f64, u);
        }
    }
    format!("{}B", n)
}

fn cpu_times() -> (f64, f64, f64, f64) {
    // SAFETY: getrusage only writes into the struct we hand it.
    let get = |who| unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        (t(ru.ru_stime), t(ru.ru_utime))
    };
    let (sys, user) = get(libc::RUSAGE_SELF);
    let (csys, cuser) = get(libc::RUSAGE_CHILDREN);
    (sys, user, csys, cuser)
}

/// What every shard reports for INFO.
#[derive(Default)]
struct ShardReport {
    clients: usize,
    /// The largest query and output buffers of recent seconds.
    recent_peaks: (usize, usize),
    blocked_clients: usize,
    keys: Vec<(usize, usize, u64)>,
    commands: Vec<(&'static str, CmdStat)>,
    total_commands: u64,
    total_connections: u64,
    rejected_connections: u64,
    expired_keys: u64,
    evicted_keys: u64,
    hits: u64,
    misses: u64,
    net_in: u64,
    net_out: u64,
}

fn info(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let wanted: Vec<String> = args[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).to_lowercase())
            .collect();
        let all = wanted.iter().any(|w| w == "all" || w == "everything");
        let default = wanted.is_empty() || wanted.iter().any(|w| w == "default");
        let want = |name: &str, in_default: bool| {
            all || (default && in_default) || wanted.iter().any(|w| w == name)
        };

        let reports = s
            .node
            .broadcast(|data| ShardReport {
                clients: data.clients.len(),
                recent_peaks: data.clients.recent_peaks.get(),
                blocked_clients: data.blocking.blocked_clients(),
                keys: data
                    .ks
                    .dbs
                    .iter()
                    .map(|d| (d.len(), d.volatile_len(), d.avg_ttl()))
                    .collect(),
                commands: data
                    .stats
                    .commands
                    .iter()
                    .map(|(k, v)| (*k, v.clone()))
                    .collect(),
                total_commands: data.stats.total_commands,
                total_connections: data.stats.total_connections,
                rejected_connections: data.stats.rejected_connections,
                expired_keys: data.ks.stats.expired_keys,
                evicted_keys: data.ks.stats.evicted_keys,
                hits: data.ks.stats.keyspace_hits,
                misses: data.ks.stats.keyspace_misses,
                net_in: data.stats.net_input_bytes,
                net_out: data.stats.net_output_bytes,
            })
            .await;
        let g = &s.node.global;
        let cfg = g.config.snapshot();
        let sum = |f: fn(&ShardReport) -> u64| reports.iter().map(f).sum::<u64>();
        let mut sections = Vec::new();
        if want("server", true) {
            let uptime = g.started.elapsed().as_secs();
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_micros();
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            sections.push(InfoSection {
                title: "Server",
                lines: vec![
                    ("redis_version".into(), crate::REDIS_VERSION.into()),
                    ("tessera_version".into(), env!("CARGO_PKG_VERSION").into()),
                    ("redis_mode".into(), "standalone".into()),
                    ("os".into(), os_name()),
                    ("arch_bits".into(), (usize::BITS).to_string()),
                    ("multiplexing_api".into(), "io_uring".into()),
                    ("process_id".into(), std::process::id().to_string()),
                    ("run_id".into(), g.run_id.clone()),
                    ("tcp_port".into(), cfg.port().to_string()),
                    ("server_time_usec".into(), now_us.to_string()),
                    ("uptime_in_seconds".into(), uptime.to_string()),
                    ("uptime_in_days".into(), (uptime / 86400).to_string()),
                    ("hz".into(), cfg.hz().to_string()),
                    ("configured_hz".into(), cfg.hz().to_string()),
                    ("executable".into(), exe),
                    (
                        "config_file".into(),
                        cfg.config_file()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                    ),
                    ("shards".into(), g.shards.to_string()),
                ],
            });
        }
        if want("clients", true) {
            sections.push(InfoSection {
                title: "Clients",
                lines: vec![
                    (
                        "connected_clients".into(),
                        reports.iter().map(|r| r.clients).sum::<usize>().to_string(),
                    ),
                    ("maxclients".into(), cfg.maxclients().to_string()),
                    (
                        "client_recent_max_input_buffer".into(),
                        reports
                            .iter()
                            .map(|r| r.recent_peaks.0)
                            .max()
                            .unwrap_or(0)
                            .to_string(),
                    ),
                    (
                        "client_recent_max_output_buffer".into(),
                        reports
                            .iter()
                            .map(|r| r.recent_peaks.1)
                            .max()
                            .unwrap_or(0)
                            .to_string(),
                    ),
                    (
                        "blocked_clients".into(),
                        reports
                            .iter()
                            .map(|r| r.blocked_clients)
                            .sum::<usize>()
                            .to_string(),
                    ),
                    ("tracking_clients".into(), "0".into()),
                ],
            });
        }
        if want("memory", true) {
            let used = crate::alloc::used_memory();
            let rss = crate::alloc::rss();
            sections.push(InfoSection {
                title: "Memory",
                lines: vec![
                    ("used_memory".into(), used.to_string()),
                    ("used_memory_human".into(), human_bytes(used)),
                    ("used_memory_rss".into(), rss.to_string()),
                    ("used_memory_rss_human".into(), human_bytes(rss)),
                    ("maxmemory".into(), cfg.maxmemory().to_string()),
                    ("maxmemory_human".into(), human_bytes(cfg.maxmemory())),
                    (
                        "maxmemory_policy".into(),
                        cfg.maxmemory_policy().as_str().into(),
                    ),
                    (
                        "mem_fragmentation_ratio".into(),
                        format!("{:.2}", rss as f64 / used.max(1) as f64),
                    ),
                    ("mem_allocator".into(), "mimalloc".into()),
                    (
                        "lazyfree_pending_objects".into(),
                        crate::types::lazyfree::pending().to_string(),
                    ),
                    (
                        "lazyfreed_objects".into(),
                        crate::types::lazyfree::freed().to_string(),
                    ),
                ],
            });
        }
        if want("persistence", true) {
            sections.push(InfoSection {
                title: "Persistence",
                lines: crate::persist::state().info_lines(&g.aof),
            });
        }
        if want("stats", true) {
            sections.push(InfoSection {
                title: "Stats",
                lines: vec![
                    (
                        "total_connections_received".into(),
                        sum(|r| r.total_connections).to_string(),
                    ),
                    (
                        "total_commands_processed".into(),
                        sum(|r| r.total_commands).to_string(),
                    ),
                    (
                        "total_net_input_bytes".into(),
                        sum(|r| r.net_in).to_string(),
                    ),
                    (
                        "total_net_output_bytes".into(),
                        sum(|r| r.net_out).to_string(),
                    ),
                    (
                        "rejected_connections".into(),
                        sum(|r| r.rejected_connections).to_string(),
                    ),
                    ("expired_keys".into(), sum(|r| r.expired_keys).to_string()),
                    ("evicted_keys".into(), sum(|r| r.evicted_keys).to_string()),
                    ("keyspace_hits".into(), sum(|r| r.hits).to_string()),
                    ("keyspace_misses".into(), sum(|r| r.misses).to_string()),
                    (
                        "latest_fork_usec".into(),
                        crate::persist::state().latest_fork_usec().to_string(),
                    ),
                    (
                        "total_forks".into(),
                        crate::persist::state().total_forks().to_string(),
                    ),
                ],
            });
        }
        if want("replication", true) {
            sections.push(InfoSection {
                title: "Replication",
                lines: vec![
                    ("role".into(), "master".into()),
                    ("connected_slaves".into(), "0".into()),
                ],
            });
        }
        if want("cpu", true) {
            let (sys, user, csys, cuser) = cpu_times();
            sections.push(InfoSection {
                title: "CPU",
                lines: vec![
                    ("used_cpu_sys".into(), format!("{sys:.6}")),
                    ("used_cpu_user".into(), format!("{user:.6}")),
                    ("used_cpu_sys_children".into(), format!("{csys:.6}")),
                    ("used_cpu_user_children".into(), format!("{cuser:.6}")),
                ],
            });
        }
        if want("commandstats", false) {
            let mut merged: std::collections::BTreeMap<&str, CmdStat> = Default::default();
            for r in &reports {
                for (name, st) in &r.commands {
                    let m = merged.entry(name).or_default();
                    m.calls += st.calls;
                    m.usec += st.usec;
                    m.rejected += st.rejected;
                    m.failed += st.failed;
                }
            }
            sections.push(InfoSection {
                title: "Commandstats",
                lines: merged
                    .into_iter()
                    .map(|(name, st)| {
                        (
                            format!("cmdstat_{name}"),
                            format!(
                                "calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                                st.calls,
                                st.usec,
                                st.usec as f64 / st.calls.max(1) as f64,
                                st.rejected,
                                st.failed
                            ),
                        )
                    })
                    .collect(),
            });
        }
        if want("keyspace", true) {
            let mut lines = Vec::new();
            for db in 0..g.databases {
                let (keys, expires) = reports
                    .iter()
                    .fold((0, 0), |(k, e), r| (k + r.keys[db].0, e + r.keys[db].1));
                if keys > 0 {
                    let ttls: Vec<u64> = reports
                        .iter()
                        .map(|r| r.keys[db].2)
                        .filter(|t| *t > 0)
                        .collect();
                    let avg_ttl = if ttls.is_empty() {
                        0
                    } else {
                        ttls.iter().sum::<u64>() / ttls.len() as u64
                    };
                    lines.push((
                        format!("db{db}"),
                        format!("keys={keys},expires={expires},avg_ttl={avg_ttl}"),
                    ));
                }
            }
            sections.push(InfoSection {
                title: "Keyspace",
                lines,
            });
        }
        let mut text = String::new();
        for (i, sec) in sections.iter().enumerate() {
            if i > 0 {
                text.push_str("\r\n");
            }
            let _ = write!(text, "# {}\r\n", sec.title);
            for (k, v) in &sec.lines {
                let _ = write!(text, "{k}:{v}\r\n");
            }
        }
        Frame::Verbatim("txt", Bytes::from(text))
    })
}

fn os_name() -> String {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct with NUL-terminated strings.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    )
}

fn config_get(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let pairs = s.node.global.config.get(&args[2..]);
        Frame::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Frame::bulk(Bytes::from(k)), Frame::bulk(Bytes::from(v))))
                .collect(),
        )
    })
}

fn config_set(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        // The row's arity guarantees at least one pair; a dangling name is a syntax error.
        if !args.len().is_multiple_of(2) {
            return CmdError::Syntax.into();
        }
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = args[2..]
            .chunks(2)
            .map(|p| (p[0].to_vec(), p[1].to_vec()))
            .collect();
        let global = &s.node.global;
        let caller = if s.info.local {
            Caller::Local
        } else {
            Caller::Remote
        };
        if let Err(e) = global.config.set_as(&pairs, caller) {
            return Frame::error(e);
        }
        global.refresh();
        let config = global.config.snapshot();
        let appendonly = config.appendonly();
        s.node
            .broadcast(move |data| data.apply_config(&config))
            .await;
        // The AOF switch needs the shards frozen and a child's base: it happens here, after
        // the rest (and sets `appendonly` back to no if the AOF cannot be switched on). Any
        // CONFIG SET naming appendonly waits for it, even one that changed nothing: a switch
        // in progress decides what it gets.
        let names_appendonly = pairs
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(b"appendonly"));
        if names_appendonly {
            let sync = crate::persist::rewrite::sync_appendonly(&s.node, appendonly).await;
            if let Err(e) = sync {
                return Frame::error(format!(
                    "ERR CONFIG SET failed (possibly related to argument 'appendonly') - {e}"
                ));
            }
        }
        Frame::ok()
    })
}

fn config_resetstat(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        s.node
            .broadcast(|data| {
                data.stats.commands.clear();
                data.stats.total_commands = 0;
                data.stats.total_connections = 0;
                data.stats.rejected_connections = 0;
                data.stats.net_input_bytes = 0;
                data.stats.net_output_bytes = 0;
                data.ks.stats = crate::db::KeyStats {
                    lfu: data.ks.stats.lfu,
                    ..Default::default()
                };
            })
            .await;
        Frame::ok()
    })
}

/// One command's COMMAND INFO entry. What dispatch uses (arity, flags, key positions, ACL
/// categories, subcommands) comes from the table row; tips and key specs from Redis's record.
fn command_entry(cmd: &'static Command) -> Frame {
    let set = |xs: &[&str]| {
        Frame::Set(
            xs.iter()
                .map(|f| Frame::Simple(Bytes::copy_from_slice(f.as_bytes())))
                .collect(),
        )
    };
    let (tips, key_specs) = match meta::reference(cmd.name) {
        Some(r) => (r.tips.clone(), r.key_specs.clone()),
        None => (Frame::Set(Vec::new()), legacy_key_specs(cmd)),
    };
    // Redis writes an empty subcommand list as a set and a full one as an array.
    let subcommands = if cmd.subcommands.is_empty() {
        Frame::Set(Vec::new())
    } else {
        Frame::Array(cmd.subcommands.iter().map(command_entry).collect())
    };
    Frame::Array(vec![
        Frame::bulk_str(cmd.name),
        Frame::Integer(cmd.arity as i64),
        set(&cmd.flags.names().collect::<Vec<_>>()),
        Frame::Integer(cmd.keys.first as i64),
        Frame::Integer(cmd.keys.last as i64),
        Frame::Integer(cmd.keys.step as i64),
        set(cmd.acl),
        tips,
        key_specs,
        subcommands,
    ])
}

/// Key specs for a command Redis does not have, from the row's (first, last, step).
fn legacy_key_specs(cmd: &Command) -> Frame {
    if cmd.keys.first == 0 {
        return Frame::Set(Vec::new());
    }
    let map = |pairs: Vec<(&str, Frame)>| {
        Frame::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Frame::bulk_str(k), v))
                .collect(),
        )
    };
    let lastkey = if cmd.keys.last < 0 {
        cmd.keys.last
    } else {
        cmd.keys.last - cmd.keys.first
    };
    Frame::Set(vec![map(vec![
        (
            "flags",
            Frame::Set(vec![Frame::simple(if cmd.is_write() {
                "RW"
            } else {
                "RO"
            })]),
        ),
        (
            "begin_search",
            map(vec![
                ("type", Frame::bulk_str("index")),
                (
                    "spec",
                    map(vec![("index", Frame::Integer(cmd.keys.first as i64))]),
                ),
            ]),
        ),
        (
            "find_keys",
            map(vec![
                ("type", Frame::bulk_str("range")),
                (
                    "spec",
                    map(vec![
                        ("lastkey", Frame::Integer(lastkey as i64)),
                        ("keystep", Frame::Integer(cmd.keys.step as i64)),
                        ("limit", Frame::Integer(0)),
                    ]),
                ),
            ]),
        ),
    ])])
}

fn all_commands() -> Vec<&'static Command> {
    let mut all: Vec<_> = Table::get().iter().collect();
    all.sort_by_key(|c| c.name);
    all
}

fn command_all(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Array(all_commands().into_iter().map(command_entry).collect()) })
}

fn command_count(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Integer(Table::get().len() as i64) })
}

/// Finds a command or `parent|sub` by name for COMMAND INFO and DOCS.
fn find_command(name: &[u8]) -> Option<&'static Command> {
    let name = String::from_utf8_lossy(name).to_lowercase();
    match name.split_once('|') {
        Some((parent, sub)) => {
            super::subcommand(Table::get().lookup(parent.as_bytes())?, sub.as_bytes())
        }
        None => Table::get().lookup(name.as_bytes()),
    }
}

fn command_info(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        if args.len() == 2 {
            return Frame::Array(all_commands().into_iter().map(command_entry).collect());
        }
        Frame::Array(
            args[2..]
                .iter()
                .map(|n| find_command(n).map_or(Frame::Null, command_entry))
                .collect(),
        )
    })
}

/// One command's COMMAND DOCS entry: Redis's documentation, with the subcommands narrowed to
/// those Tessera has; the row's own summary for a command Redis does not have.
fn doc_entry(cmd: &'static Command) -> Frame {
    let subcommands = || {
        Frame::Map(
            cmd.subcommands
                .iter()
                .map(|c| (Frame::bulk_str(c.name), doc_entry(c)))
                .collect(),
        )
    };
    if let Some(r) = meta::reference(cmd.name) {
        let fields = r.docs.iter().map(|(k, v)| {
            let v = if matches!(k, Frame::Bulk(k) if &k[..] == b"subcommands") {
                subcommands()
            } else {
                v.clone()
            };
            (k.clone(), v)
        });
        return Frame::Map(fields.collect());
    }
    let mut fields = vec![
        (Frame::bulk_str("summary"), Frame::bulk_str(cmd.summary)),
        (Frame::bulk_str("since"), Frame::bulk_str(cmd.since)),
        (Frame::bulk_str("group"), Frame::bulk_str(cmd.group)),
        (
            Frame::bulk_str("complexity"),
            Frame::bulk_str(cmd.complexity),
        ),
    ];
    if !cmd.subcommands.is_empty() {
        fields.push((Frame::bulk_str("subcommands"), subcommands()));
    }
    Frame::Map(fields)
}

fn command_docs(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let cmds: Vec<&'static Command> = if args.len() == 2 {
            all_commands()
        } else {
            args[2..].iter().filter_map(|n| find_command(n)).collect()
        };
        Frame::Map(
            cmds.into_iter()
                .map(|c| (Frame::bulk_str(c.name), doc_entry(c)))
                .collect(),
        )
    })
}

fn command_getkeys(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { getkeys_generic(&args[2..], false) })
}

fn command_getkeysandflags(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move { getkeys_generic(&args[2..], true) })
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS for the command line `target`, checked and searched in
/// Redis's order (`getKeysSubcommandImpl`): the key specs when their flags are fixed, else the
/// command's own key finder.
fn getkeys_generic(target: &[Bytes], with_flags: bool) -> Frame {
    let Some(mut cmd) = Table::get().lookup(&target[0]) else {
        return Frame::error("ERR Invalid command specified");
    };
    if !cmd.subcommands.is_empty() && target.len() >= 2 {
        match super::subcommand(cmd, &target[1]) {
            Some(sub) => cmd = sub,
            None => return Frame::error("ERR Invalid command specified"),
        }
    }
    let reference = meta::reference(cmd.name);
    let specs = reference.map_or(&[][..], |r| &r.specs[..]);
    let has_specs = specs.iter().any(|s| !s.not_key);
    let has_keys = match reference {
        Some(_) => has_specs || cmd.getkeys.is_some(),
        None => cmd.keys.first > 0,
    };
    if !has_keys {
        return Frame::error("ERR The command has no key arguments");
    }
    if !cmd.arity_ok(target.len()) {
        return Frame::error("ERR Invalid number of arguments specified for command");
    }
    let keys = cmd.key_access(target);
    if keys.is_empty() {
        return if cmd.flags.has(NO_MANDATORY_KEYS) {
            Frame::Array(Vec::new())
        } else {
            Frame::error("ERR Invalid arguments specified for command")
        };
    }
    Frame::Array(
        keys.into_iter()
            .map(|(i, access)| {
                let key = Frame::Bulk(target[i].clone());
                if with_flags {
                    let flags = access.names().map(Frame::simple).collect();
                    Frame::Array(vec![key, Frame::Set(flags)])
                } else {
                    key
                }
            })
            .collect(),
    )
}

fn command_list(_s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let mut c = ArgCursor::new(&args, 2);
        let mut filter: Option<(String, Bytes)> = None;
        if !c.done() {
            if !c.eat("filterby") {
                return CmdError::Syntax.into();
            }
            let (Ok(kind), Ok(value)) = (c.next(), c.next()) else {
                return CmdError::Syntax.into();
            };
            let kind = String::from_utf8_lossy(kind).to_lowercase();
            if !["module", "aclcat", "pattern"].contains(&kind.as_str()) || !c.done() {
                return CmdError::Syntax.into();
            }
            filter = Some((kind, value.clone()));
        }
        let mut names = Vec::new();
        for cmd in all_commands() {
            for c in std::iter::once(cmd).chain(cmd.subcommands.iter()) {
                let keep = match &filter {
                    None => true,
                    Some((k, _)) if k == "module" => false,
                    Some((k, v)) if k == "aclcat" => {
                        let cat = format!("@{}", String::from_utf8_lossy(v).to_lowercase());
                        c.acl.contains(&cat.as_str())
                    }
                    Some((_, pattern)) => {
                        crate::types::glob::glob_match(pattern, c.name.as_bytes(), true)
                    }
                };
                if keep {
                    names.push(Frame::bulk_str(c.name));
                }
            }
        }
        Frame::Array(names)
    })
}

fn command_help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        super::help_reply(
            "command",
            &[
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
                "GETKEYSANDFLAGS <full-command>",
                "    Return the keys and the access flags from a full Redis command.",
            ],
        )
    })
}
