//! INFO: Redis 7.0's sections and fields, in Redis's order, each with a figure from Tessera.
//!
//! One broadcast collects what every shard counts ([`ShardReport`]); the rest is process-wide
//! (the allocator, the persistence state, the configuration). Each section is one function
//! over the same [`Figures`], listed in [`SECTIONS`] with the names that select it.
//!
//! Where Tessera lacks the subject of a field (replicas, Lua, modules, cluster mode, pub/sub,
//! client tracking), the field shows what a Redis in the same state shows: those are true
//! statements about Tessera (a master with no replica, no script cached, ...). Tessera adds two
//! fields of its own at the end of Server: `tessera_version` and `shards`.

use std::fmt::{Display, Write as _};
use std::sync::Arc;

use bytes::Bytes;

use super::flags::*;
use super::memory::{MemoryFigures, ShardMemory};
use super::session::Session;
use super::{boxed, Args, Command, Run, SessionFuture};
use crate::config::Config;
use crate::resp::Frame;
use crate::shard::global::Global;
use crate::shard::pubsub::Kind;
use crate::shard::{CmdStat, ShardData};

pub static COMMANDS: &[Command] = &[Command::new("info", -1, Run::Session(info))
    .flags(&[LOADING, STALE])
    .acl(&["@slow", "@dangerous"])];

/// Fields Tessera prints that Redis does not: they close the Server section.
pub const TESSERA_ONLY: &[&str] = &["tessera_version", "shards"];

type Build = fn(&Figures, &mut Lines);

/// The sections in Redis's order: title, the names that select it, and its builder.
const SECTIONS: &[(&str, &[&str], Build)] = &[
    ("Server", &["server"], server),
    ("Clients", &["clients"], clients),
    ("Memory", &["memory"], memory),
    ("Persistence", &["persistence"], persistence),
    ("Stats", &["stats"], stats),
    ("Replication", &["replication"], replication),
    ("CPU", &["cpu"], cpu),
    // No module can be loaded: the list is empty, as in a Redis without modules.
    ("Modules", &["module_list", "modules"], |_, _| {}),
    ("Commandstats", &["commandstats"], commandstats),
    ("Errorstats", &["errorstats"], errorstats),
    ("Latencystats", &["latencystats"], latencystats),
    ("Cluster", &["cluster"], cluster),
    ("Keyspace", &["keyspace"], keyspace),
];

/// What INFO with no argument, or `default`, shows.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// The sections a request names, by Redis's rules: none means the default ones; `default`
/// adds them; `all` and `everything` take every section (they differ only in modules'
/// own sections, which Tessera has none of); other names, in any case, pick their section;
/// unknown ones pick nothing.
struct Asked {
    all: bool,
    names: Vec<String>,
}

impl Asked {
    fn parse(args: &[Bytes]) -> Asked {
        let mut asked = Asked {
            all: false,
            names: Vec::new(),
        };
        if args.is_empty() {
            asked.names = DEFAULT.iter().map(|s| s.to_string()).collect();
        }
        for a in args {
            let name = String::from_utf8_lossy(a).to_ascii_lowercase();
            match name.as_str() {
                "default" => asked.names.extend(DEFAULT.iter().map(|s| s.to_string())),
                "all" | "everything" => asked.all = true,
                _ => asked.names.push(name),
            }
        }
        asked
    }

    fn wants(&self, selectors: &[&str]) -> bool {
        self.all || selectors.iter().any(|s| self.names.iter().any(|n| n == s))
    }
}

fn info(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let asked = Asked::parse(&args[1..]);
        let with_latency = asked.wants(&["latencystats"]);
        let shards = s
            .node
            .broadcast(move |data| ShardReport::take(data, with_latency))
            .await;
        let global = s.node.global.clone();
        let config = global.config.snapshot();
        let memory = MemoryFigures::gather(&global, shards.iter().map(|r| &r.memory));
        let figures = Figures {
            shards,
            global,
            config,
            memory,
        };
        let mut text = String::new();
        for (title, selectors, build) in SECTIONS {
            if !asked.wants(selectors) {
                continue;
            }
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let _ = write!(text, "# {title}\r\n");
            build(&figures, &mut Lines(&mut text));
        }
        Frame::Verbatim("txt", Bytes::from(text))
    })
}

/// A section's `name:value` lines.
struct Lines<'a>(&'a mut String);

impl Lines<'_> {
    fn field(&mut self, name: &str, value: impl Display) {
        let _ = write!(self.0, "{name}:{value}\r\n");
    }
}

/// What one shard reports for INFO.
struct ShardReport {
    clients: usize,
    /// Client-side caching: keys remembered here, their readers, and the BCAST prefixes of
    /// this shard's clients.
    tracking_keys: usize,
    tracking_items: usize,
    tracking_prefixes: Vec<Bytes>,
    /// The largest query and output buffers of recent seconds.
    recent_peaks: (usize, usize),
    blocked_clients: usize,
    clients_with_timeout: usize,
    /// (keys, keys with a TTL, their average remaining TTL) per database.
    keys: Vec<(usize, usize, u64)>,
    commands: Vec<(&'static str, CmdStat)>,
    errors: Vec<(String, u64)>,
    total_error_replies: u64,
    total_commands: u64,
    total_connections: u64,
    rejected_connections: u64,
    expired_keys: u64,
    expired_stale_perc: f64,
    expired_time_cap_reached: u64,
    expire_cycle_usec: u64,
    evicted_keys: u64,
    /// Channels this shard owns with subscribers, patterns with subscribers anywhere (the
    /// same on every shard), sharded channels this shard owns.
    pubsub: [usize; 3],
    hits: u64,
    misses: u64,
    net_in: u64,
    net_out: u64,
    reads: u64,
    writes: u64,
    /// Per second: commands, input bytes, output bytes.
    rates: [u64; 3],
    /// The shard thread's CPU time (system, user), in microseconds.
    thread_cpu: (u64, u64),
    memory: ShardMemory,
}

impl ShardReport {
    fn take(data: &mut ShardData, with_latency: bool) -> ShardReport {
        let stats = &data.stats;
        let ks = &data.ks;
        let (tracking_keys, tracking_items) = crate::db::tracking::counts();
        ShardReport {
            clients: data.clients.len(),
            tracking_keys,
            tracking_items,
            tracking_prefixes: data
                .clients
                .iter()
                .flat_map(|c| c.tracking.borrow().prefixes.clone())
                .collect(),
            recent_peaks: data.clients.recent_peaks.get(),
            blocked_clients: data.blocking.blocked_clients(),
            clients_with_timeout: data.blocking.clients_with_timeout(),
            keys: ks
                .dbs
                .iter()
                .map(|d| (d.len(), d.volatile_len(), d.avg_ttl()))
                .collect(),
            commands: stats
                .commands
                .iter()
                .map(|(name, st)| {
                    // A histogram is 24 KB: copied only when latencystats is asked for.
                    let latency = st.latency.clone().filter(|_| with_latency);
                    let st = CmdStat {
                        calls: st.calls,
                        usec: st.usec,
                        rejected: st.rejected,
                        failed: st.failed,
                        latency,
                    };
                    (*name, st)
                })
                .collect(),
            errors: stats.errors.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            total_error_replies: stats.total_error_replies,
            total_commands: stats.total_commands,
            total_connections: stats.total_connections,
            rejected_connections: stats.rejected_connections,
            expired_keys: ks.stats.expired_keys,
            expired_stale_perc: stats.expired_stale_perc,
            expired_time_cap_reached: stats.expired_time_cap_reached,
            expire_cycle_usec: stats.expire_cycle_usec,
            evicted_keys: ks.stats.evicted_keys,
            pubsub: [
                data.pubsub.owned_count(Kind::Plain),
                data.pubsub.pattern_count(),
                data.pubsub.owned_count(Kind::Sharded),
            ],
            hits: ks.stats.keyspace_hits,
            misses: ks.stats.keyspace_misses,
            net_in: stats.net_input_bytes,
            net_out: stats.net_output_bytes,
            reads: stats.reads_processed,
            writes: stats.writes_processed,
            rates: stats.instantaneous.rates(),
            thread_cpu: cpu_micros(libc::RUSAGE_THREAD),
            memory: ShardMemory::take(data),
        }
    }
}

/// Everything the sections are built from.
struct Figures {
    shards: Vec<ShardReport>,
    global: Arc<Global>,
    config: Arc<Config>,
    memory: MemoryFigures,
}

impl Figures {
    fn sum(&self, f: impl Fn(&ShardReport) -> u64) -> u64 {
        self.shards.iter().map(f).sum()
    }

    fn max(&self, f: impl Fn(&ShardReport) -> usize) -> usize {
        self.shards.iter().map(f).max().unwrap_or(0)
    }
}

fn server(f: &Figures, out: &mut Lines) {
    let cfg = &f.config;
    let uptime = f.global.started.elapsed().as_secs();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let config_file = cfg
        .config_file()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    out.field("redis_version", crate::REDIS_VERSION);
    // Not built from a Redis source tree: what Redis prints then.
    out.field("redis_git_sha1", "00000000");
    out.field("redis_git_dirty", 0);
    out.field("redis_build_id", build_id());
    out.field("redis_mode", "standalone");
    out.field("os", os_name());
    out.field("arch_bits", usize::BITS);
    // Rust's Instant reads clock_gettime(CLOCK_MONOTONIC).
    out.field("monotonic_clock", "POSIX clock_gettime");
    out.field("multiplexing_api", "io_uring");
    // Rust's atomics are the C11 memory model's.
    out.field("atomicvar_api", "c11-builtin");
    // Redis prints GCC's version, 0.0.0 when another compiler built it: rustc did.
    out.field("gcc_version", "0.0.0");
    out.field("process_id", std::process::id());
    // Tessera speaks to no supervisor (no sd_notify, no upstart stop signal).
    out.field("process_supervised", "no");
    out.field("run_id", &f.global.run_id);
    out.field("tcp_port", cfg.port());
    out.field("server_time_usec", now_us);
    out.field("uptime_in_seconds", uptime);
    out.field("uptime_in_days", uptime / 86400);
    out.field("hz", cfg.hz());
    out.field("configured_hz", cfg.hz());
    // Redis's LRU clock: seconds on 24 bits. Tessera's keys note access times on the same
    // clock of seconds, on 32 bits.
    out.field("lru_clock", crate::db::lru_clock() & ((1 << 24) - 1));
    out.field("executable", exe);
    out.field("config_file", config_file);
    out.field("io_threads_active", 0);
    out.field("tessera_version", env!("CARGO_PKG_VERSION"));
    out.field("shards", f.global.shards);
}

fn clients(f: &Figures, out: &mut Lines) {
    out.field("connected_clients", f.sum(|r| r.clients as u64));
    out.field("cluster_connections", 0);
    out.field("maxclients", f.config.maxclients());
    out.field(
        "client_recent_max_input_buffer",
        f.max(|r| r.recent_peaks.0),
    );
    out.field(
        "client_recent_max_output_buffer",
        f.max(|r| r.recent_peaks.1),
    );
    out.field("blocked_clients", f.sum(|r| r.blocked_clients as u64));
    out.field(
        "tracking_clients",
        f.global
            .tracking_clients
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    out.field(
        "clients_in_timeout_table",
        f.sum(|r| r.clients_with_timeout as u64),
    );
}

fn memory(f: &Figures, out: &mut Lines) {
    let m = &f.memory;
    let cfg = &f.config;
    let total_system = crate::alloc::total_system_memory();
    out.field("used_memory", m.used);
    out.field("used_memory_human", human_bytes(m.used));
    out.field("used_memory_rss", m.rss);
    out.field("used_memory_rss_human", human_bytes(m.rss));
    out.field("used_memory_peak", m.peak);
    out.field("used_memory_peak_human", human_bytes(m.peak));
    out.field("used_memory_peak_perc", format!("{:.2}%", m.peak_perc()));
    out.field("used_memory_overhead", m.overhead_total());
    out.field("used_memory_startup", m.startup);
    out.field("used_memory_dataset", m.dataset());
    out.field(
        "used_memory_dataset_perc",
        format!("{:.2}%", m.dataset_perc()),
    );
    out.field("allocator_allocated", m.allocated);
    out.field("allocator_active", m.active);
    out.field("allocator_resident", m.resident);
    out.field("total_system_memory", total_system);
    out.field("total_system_memory_human", human_bytes(total_system));
    // Every shard has its own interpreters (script/vm.rs): their sums, as of each one's last
    // run; the scripts' and libraries' own bytes as the shared caches hold them.
    let scripts = &f.global.scripts;
    let (vm_eval, vm_functions) = scripts.vm_memory();
    let (cached, script_bytes) = scripts.usage();
    let (libraries, functions) = scripts.libraries.counts();
    let function_bytes = scripts.libraries.code_bytes() as u64;
    let script_bytes = script_bytes as u64;
    out.field("used_memory_lua", vm_eval);
    out.field("used_memory_vm_eval", vm_eval);
    out.field("used_memory_lua_human", human_bytes(vm_eval));
    out.field("used_memory_scripts_eval", script_bytes);
    out.field("number_of_cached_scripts", cached);
    out.field("number_of_functions", functions);
    out.field("number_of_libraries", libraries);
    out.field("used_memory_vm_functions", vm_functions);
    out.field("used_memory_vm_total", vm_eval + vm_functions);
    out.field(
        "used_memory_vm_total_human",
        human_bytes(vm_eval + vm_functions),
    );
    out.field("used_memory_functions", function_bytes);
    out.field("used_memory_scripts", script_bytes + function_bytes);
    out.field(
        "used_memory_scripts_human",
        human_bytes(script_bytes + function_bytes),
    );
    out.field("maxmemory", cfg.maxmemory());
    out.field("maxmemory_human", human_bytes(cfg.maxmemory()));
    out.field("maxmemory_policy", cfg.maxmemory_policy().as_str());
    out.field("allocator_frag_ratio", format!("{:.2}", m.allocator_frag()));
    out.field("allocator_frag_bytes", m.allocator_frag_bytes());
    out.field("allocator_rss_ratio", format!("{:.2}", m.allocator_rss()));
    out.field("allocator_rss_bytes", m.allocator_rss_bytes());
    out.field("rss_overhead_ratio", format!("{:.2}", m.rss_overhead()));
    out.field("rss_overhead_bytes", m.rss_overhead_bytes());
    out.field(
        "mem_fragmentation_ratio",
        format!("{:.2}", m.fragmentation()),
    );
    out.field("mem_fragmentation_bytes", m.fragmentation_bytes());
    // Eviction weighs all of used_memory against maxmemory: nothing is left out.
    out.field("mem_not_counted_for_evict", 0);
    out.field("mem_replication_backlog", 0);
    out.field("mem_total_replication_buffers", 0);
    out.field("mem_clients_slaves", 0);
    out.field("mem_clients_normal", m.clients_normal);
    out.field("mem_cluster_links", 0);
    out.field("mem_aof_buffer", m.aof_buffer);
    out.field("mem_allocator", crate::alloc::allocator_name());
    // Tessera has no defragmenter (activedefrag is refused).
    out.field("active_defrag_running", 0);
    out.field(
        "lazyfree_pending_objects",
        crate::types::lazyfree::pending(),
    );
    out.field("lazyfreed_objects", crate::types::lazyfree::freed());
}

fn persistence(f: &Figures, out: &mut Lines) {
    for (k, v) in crate::persist::state().info_lines(&f.global.aof) {
        out.field(&k, v);
    }
}

fn stats(f: &Figures, out: &mut Lines) {
    let state = crate::persist::state();
    let rate = |i: usize| f.sum(|r| r.rates[i]);
    let kbps = |i: usize| format!("{:.2}", rate(i) as f64 / 1024.0);
    let (exceeded_total, exceeded_now) = f.global.eviction_exceeded.micros();
    let stale = if f.shards.is_empty() {
        0.0
    } else {
        f.shards.iter().map(|r| r.expired_stale_perc).sum::<f64>() / f.shards.len() as f64
    };
    out.field("total_connections_received", f.sum(|r| r.total_connections));
    out.field("total_commands_processed", f.sum(|r| r.total_commands));
    out.field("instantaneous_ops_per_sec", rate(0));
    out.field("total_net_input_bytes", f.sum(|r| r.net_in));
    out.field("total_net_output_bytes", f.sum(|r| r.net_out));
    // No replication: no replication traffic, no synchronisation.
    out.field("total_net_repl_input_bytes", 0);
    out.field("total_net_repl_output_bytes", 0);
    out.field("instantaneous_input_kbps", kbps(1));
    out.field("instantaneous_output_kbps", kbps(2));
    out.field("instantaneous_input_repl_kbps", "0.00");
    out.field("instantaneous_output_repl_kbps", "0.00");
    out.field("rejected_connections", f.sum(|r| r.rejected_connections));
    out.field("sync_full", 0);
    out.field("sync_partial_ok", 0);
    out.field("sync_partial_err", 0);
    out.field("expired_keys", f.sum(|r| r.expired_keys));
    out.field("expired_stale_perc", format!("{:.2}", stale * 100.0));
    out.field(
        "expired_time_cap_reached_count",
        f.sum(|r| r.expired_time_cap_reached),
    );
    out.field(
        "expire_cycle_cpu_milliseconds",
        f.sum(|r| r.expire_cycle_usec) / 1000,
    );
    out.field("evicted_keys", f.sum(|r| r.evicted_keys));
    // No client eviction (maxmemory-clients) yet.
    out.field("evicted_clients", 0);
    out.field("total_eviction_exceeded_time", exceeded_total / 1000);
    out.field("current_eviction_exceeded_time", exceeded_now / 1000);
    out.field("keyspace_hits", f.sum(|r| r.hits));
    out.field("keyspace_misses", f.sum(|r| r.misses));
    out.field("pubsub_channels", f.sum(|r| r.pubsub[0] as u64));
    out.field(
        "pubsub_patterns",
        f.shards.first().map_or(0, |r| r.pubsub[1]),
    );
    out.field("pubsubshard_channels", f.sum(|r| r.pubsub[2] as u64));
    out.field("latest_fork_usec", state.latest_fork_usec());
    out.field("total_forks", state.total_forks());
    // No MIGRATE, no replica, no defragmenter, no client tracking yet.
    out.field("migrate_cached_sockets", 0);
    out.field("slave_expires_tracked_keys", 0);
    out.field("active_defrag_hits", 0);
    out.field("active_defrag_misses", 0);
    out.field("active_defrag_key_hits", 0);
    out.field("active_defrag_key_misses", 0);
    out.field("total_active_defrag_time", 0);
    out.field("current_active_defrag_time", 0);
    out.field("tracking_total_keys", f.sum(|r| r.tracking_keys as u64));
    out.field("tracking_total_items", f.sum(|r| r.tracking_items as u64));
    let prefixes: ahash::AHashSet<&Bytes> =
        f.shards.iter().flat_map(|r| &r.tracking_prefixes).collect();
    out.field("tracking_total_prefixes", prefixes.len());
    // Errors replied to the AOF loader (to a master too in Redis: Tessera has none yet).
    out.field(
        "unexpected_error_replies",
        state
            .aof_load_errors
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    out.field("total_error_replies", f.sum(|r| r.total_error_replies));
    // RESTORE checks every payload's structure whatever sanitize-dump-payload says; Redis
    // counts only the deep checks that setting asks for.
    out.field("dump_payload_sanitizations", 0);
    out.field("total_reads_processed", f.sum(|r| r.reads));
    out.field("total_writes_processed", f.sum(|r| r.writes));
    // Shards do their own I/O: no I/O threads. Reply buffers are not Redis's 16 KB
    // buffers that it shrinks and grows.
    out.field("io_threaded_reads_processed", 0);
    out.field("io_threaded_writes_processed", 0);
    out.field("reply_buffer_shrinks", 0);
    out.field("reply_buffer_expands", 0);
}

/// A master that has never had a replica, as Redis describes one.
fn replication(f: &Figures, out: &mut Lines) {
    let cfg = &f.config;
    let setting = |name: &str| {
        cfg.get(name)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    out.field("role", "master");
    out.field("connected_slaves", 0);
    // With min-replicas-to-write on, Redis counts the good replicas: none.
    if setting("min-replicas-to-write") != "0" && setting("min-replicas-max-lag") != "0" {
        out.field("min_slaves_good_slaves", 0);
    }
    out.field("master_failover_state", "no-failover");
    out.field("master_replid", &f.global.replid);
    out.field("master_replid2", "0".repeat(40));
    out.field("master_repl_offset", 0);
    out.field("second_repl_offset", -1);
    out.field("repl_backlog_active", 0);
    out.field("repl_backlog_size", setting("repl-backlog-size"));
    out.field("repl_backlog_first_byte_offset", 0);
    out.field("repl_backlog_histlen", 0);
}

fn cpu(f: &Figures, out: &mut Lines) {
    let seconds = |us: u64| format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    let (sys, user) = cpu_micros(libc::RUSAGE_SELF);
    let (csys, cuser) = cpu_micros(libc::RUSAGE_CHILDREN);
    out.field("used_cpu_sys", seconds(sys));
    out.field("used_cpu_user", seconds(user));
    out.field("used_cpu_sys_children", seconds(csys));
    out.field("used_cpu_user_children", seconds(cuser));
    // Redis's main thread runs the commands: here the shard threads do, together.
    out.field(
        "used_cpu_sys_main_thread",
        seconds(f.sum(|r| r.thread_cpu.0)),
    );
    out.field(
        "used_cpu_user_main_thread",
        seconds(f.sum(|r| r.thread_cpu.1)),
    );
}

/// Every shard's per-command counters, added up, by command name (`parent|sub` for
/// subcommands); Redis walks its command table, which is no particular order.
fn merged_commands(f: &Figures) -> std::collections::BTreeMap<&'static str, CmdStat> {
    let mut merged: std::collections::BTreeMap<&'static str, CmdStat> = Default::default();
    for r in &f.shards {
        for (name, st) in &r.commands {
            let m = merged.entry(name).or_default();
            m.calls += st.calls;
            m.usec += st.usec;
            m.rejected += st.rejected;
            m.failed += st.failed;
            if let Some(h) = &st.latency {
                m.latency.get_or_insert_with(Default::default).merge(h);
            }
        }
    }
    merged
}

fn commandstats(f: &Figures, out: &mut Lines) {
    for (name, st) in merged_commands(f) {
        if st.calls == 0 && st.failed == 0 && st.rejected == 0 {
            continue;
        }
        let per_call = if st.calls == 0 {
            0.0
        } else {
            st.usec as f64 / st.calls as f64
        };
        out.field(
            &format!("cmdstat_{name}"),
            format!(
                "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                st.calls, st.usec, st.rejected, st.failed
            ),
        );
    }
}

fn errorstats(f: &Figures, out: &mut Lines) {
    let mut merged: std::collections::BTreeMap<&str, u64> = Default::default();
    for r in &f.shards {
        for (prefix, n) in &r.errors {
            *merged.entry(prefix).or_default() += n;
        }
    }
    for (prefix, n) in merged {
        out.field(&format!("errorstat_{}", safe(prefix)), format!("count={n}"));
    }
}

fn latencystats(f: &Figures, out: &mut Lines) {
    if !f.config.latency_tracking() {
        return;
    }
    let percentiles = f.config.latency_tracking_info_percentiles();
    for (name, st) in merged_commands(f) {
        let Some(h) = st.latency else { continue };
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                let usec = h.value_at_percentile(p) as f64 / 1000.0;
                format!("p{}={usec:.3}", crate::config::format_percentile(p))
            })
            .collect();
        out.field(
            &format!("latency_percentiles_usec_{name}"),
            values.join(","),
        );
    }
}

fn cluster(_: &Figures, out: &mut Lines) {
    out.field("cluster_enabled", 0);
}

fn keyspace(f: &Figures, out: &mut Lines) {
    for db in 0..f.global.databases {
        let (keys, expires) = f
            .shards
            .iter()
            .fold((0, 0), |(k, e), r| (k + r.keys[db].0, e + r.keys[db].1));
        if keys == 0 && expires == 0 {
            continue;
        }
        // Each shard estimates the TTLs of its own keys; those with an estimate are averaged.
        let ttls: Vec<u64> = f
            .shards
            .iter()
            .map(|r| r.keys[db].2)
            .filter(|t| *t > 0)
            .collect();
        let avg_ttl = ttls.iter().sum::<u64>() / (ttls.len().max(1) as u64);
        out.field(
            &format!("db{db}"),
            format!("keys={keys},expires={expires},avg_ttl={avg_ttl}"),
        );
    }
}

/// An error prefix with INFO's separators replaced, as Redis's getSafeInfoString does.
fn safe(name: &str) -> String {
    name.replace(['#', ':', '\n', '\r'], "_")
}

/// Redis's bytesToHuman.
pub fn human_bytes(n: u64) -> String {
    const K: u64 = 1024;
    let units = [
        ("P", K.pow(5)),
        ("T", K.pow(4)),
        ("G", K.pow(3)),
        ("M", K * K),
        ("K", K),
    ];
    if n >= K.pow(6) {
        return format!("{n}B");
    }
    for (u, size) in units {
        if n >= size {
            return format!("{:.2}{}", n as f64 / size as f64, u);
        }
    }
    format!("{n}B")
}

/// (system, user) CPU time of `who` (RUSAGE_SELF, _CHILDREN or _THREAD), in microseconds.
fn cpu_micros(who: libc::c_int) -> (u64, u64) {
    // SAFETY: getrusage only writes into the struct we hand it.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    (us(ru.ru_stime), us(ru.ru_utime))
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

/// The executable's GNU build id (the linker's hash of the binary), its first 8 bytes in hex
/// as Redis prints its own 64-bit build id; 0 when the binary carries none.
fn build_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        // The note sits among the first pages, after the program headers: namesz 4, descsz
        // 20, type 3 (NT_GNU_BUILD_ID), "GNU\0", then the id.
        const HEAD: [u8; 16] = [4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, b'G', b'N', b'U', 0];
        let mut start = vec![0u8; 64 << 10];
        let read = std::fs::File::open("/proc/self/exe").and_then(|mut f| {
            use std::io::Read;
            f.read(&mut start)
        });
        let start = &start[..read.unwrap_or(0)];
        start
            .windows(HEAD.len() + 8)
            .find(|w| w[..HEAD.len()] == HEAD)
            .map(|w| w[HEAD.len()..].iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_else(|| "0".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_as_redis() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1024), "1.00K");
        assert_eq!(human_bytes(941216), "919.16K");
        assert_eq!(human_bytes(25276502016), "23.54G");
        assert_eq!(human_bytes(5 << 40), "5.00T");
    }

    #[test]
    fn sections_follow_redis_rules() {
        let b = |xs: &[&str]| {
            xs.iter()
                .map(|x| Bytes::from(x.to_string()))
                .collect::<Vec<_>>()
        };
        let none = Asked::parse(&[]);
        assert!(none.wants(&["server"]) && !none.wants(&["commandstats"]));
        assert!(none.wants(&["module_list", "modules"]));
        let two = Asked::parse(&b(&["CPU", "sentinel"]));
        assert!(two.wants(&["cpu"]) && !two.wants(&["server"]));
        let all = Asked::parse(&b(&["cpu", "all"]));
        assert!(all.wants(&["latencystats"]));
        let default = Asked::parse(&b(&["commandstats", "default"]));
        assert!(default.wants(&["commandstats"]) && default.wants(&["keyspace"]));
        assert!(!default.wants(&["latencystats"]));
    }
}
