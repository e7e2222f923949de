//! MEMORY: what a key takes (USAGE), where the process's memory goes (STATS, DOCTOR, INFO
//! memory's figures), the allocator's own report (MALLOC-STATS) and giving memory back
//! (PURGE).
//!
//! The breakdown follows Redis's `getMemoryOverheadData`: the memory in use at start-up, the
//! clients' buffers, the AOF buffer and each database's key tables are overhead; the rest of
//! what the allocator handed out is the dataset. Every figure is Tessera's own: the counting
//! allocator (`crate::alloc`), mimalloc's committed memory, and the shards' tables.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::args::{is, parse_int};
use super::flags::*;
use super::keys;
use super::session::Session;
use super::{boxed, Args, CmdError, CmdResult, Command, Ctx, Run, SessionFuture};
use crate::resp::Frame;
use crate::shard::global::Global;
use crate::shard::ShardData;

pub static COMMANDS: &[Command] = &[Command::new("memory", -2, Run::Session(help))
    .acl(&["@slow"])
    .subs(SUBCOMMANDS)];

static SUBCOMMANDS: &[Command] = &[
    Command::new("memory|doctor", 2, Run::Session(doctor)).acl(&["@slow"]),
    Command::new("memory|malloc-stats", 2, Run::Session(malloc_stats)).acl(&["@slow"]),
    Command::new("memory|purge", 2, Run::Session(purge)).acl(&["@slow"]),
    Command::new("memory|stats", 2, Run::Session(stats)).acl(&["@slow"]),
    Command::new("memory|usage", -3, Run::Keyed(usage))
        .flags(&[READONLY])
        .acl(&["@read", "@slow"])
        .keys(keys(2, 2, 1)),
    Command::new("memory|help", 2, Run::Session(help))
        .flags(&[LOADING, STALE])
        .acl(&["@slow"]),
];

/// How many elements of a big collection MEMORY USAGE measures without SAMPLES.
const DEFAULT_SAMPLES: usize = 5;

fn help(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        super::help_reply(
            "memory",
            &[
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
            ],
        )
    })
}

/// MEMORY USAGE key [SAMPLES count]: the options are checked before the key is looked up,
/// and an expired key not yet deleted still counts, as in Redis.
fn usage(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut samples = DEFAULT_SAMPLES;
    let mut options = args[3..].iter();
    while let Some(option) = options.next() {
        let Some(count) = options.next().filter(|_| is(option, "samples")) else {
            return Err(CmdError::Syntax);
        };
        samples = match parse_int(count).map_err(|_| CmdError::NotInteger)? {
            n if n < 0 => return Err(CmdError::Syntax),
            0 => usize::MAX,
            n => n as usize,
        };
    }
    let db = &ctx.ks.dbs[ctx.db];
    Ok(match db.usage(&args[2], samples) {
        Some(bytes) => Frame::Integer(bytes as i64),
        None => Frame::Null,
    })
}

fn stats(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let m = gather(s).await;
        let int = |n: u64| Frame::Integer(n as i64);
        let mut fields = vec![
            ("peak.allocated", int(m.peak)),
            ("total.allocated", int(m.used)),
            ("startup.allocated", int(m.startup)),
            ("replication.backlog", int(0)),
            ("clients.slaves", int(0)),
            ("clients.normal", int(m.clients_normal)),
            ("cluster.links", int(0)),
            ("aof.buffer", int(m.aof_buffer)),
            ("lua.caches", int(0)),
            ("functions.caches", int(0)),
        ];
        let mut map: Vec<(Frame, Frame)> = fields
            .drain(..)
            .map(|(k, v)| (Frame::bulk_str(k), v))
            .collect();
        for d in &m.dbs {
            let tables = Frame::Map(vec![
                (Frame::bulk_str("overhead.hashtable.main"), int(d.main)),
                (
                    Frame::bulk_str("overhead.hashtable.expires"),
                    int(d.expires),
                ),
                (Frame::bulk_str("overhead.hashtable.slot-to-keys"), int(0)),
            ]);
            map.push((Frame::Bulk(Bytes::from(format!("db.{}", d.db))), tables));
        }
        let rest = [
            ("overhead.total", int(m.overhead_total())),
            ("keys.count", int(m.total_keys)),
            ("keys.bytes-per-key", int(m.bytes_per_key())),
            ("dataset.bytes", int(m.dataset())),
            ("dataset.percentage", Frame::Double(m.dataset_perc())),
            ("peak.percentage", Frame::Double(m.peak_perc())),
            ("allocator.allocated", int(m.allocated)),
            ("allocator.active", int(m.active)),
            ("allocator.resident", int(m.resident)),
            (
                "allocator-fragmentation.ratio",
                Frame::Double(m.allocator_frag()),
            ),
            (
                "allocator-fragmentation.bytes",
                Frame::Integer(m.allocator_frag_bytes()),
            ),
            ("allocator-rss.ratio", Frame::Double(m.allocator_rss())),
            (
                "allocator-rss.bytes",
                Frame::Integer(m.allocator_rss_bytes()),
            ),
            ("rss-overhead.ratio", Frame::Double(m.rss_overhead())),
            ("rss-overhead.bytes", Frame::Integer(m.rss_overhead_bytes())),
            ("fragmentation", Frame::Double(m.fragmentation())),
            (
                "fragmentation.bytes",
                Frame::Integer(m.fragmentation_bytes()),
            ),
        ];
        map.extend(rest.into_iter().map(|(k, v)| (Frame::bulk_str(k), v)));
        Frame::Map(map)
    })
}

fn doctor(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let m = gather(s).await;
        let clients = s.node.global.clients.load(Relaxed).max(1) as u64;
        Frame::Verbatim("txt", Bytes::from(diagnose(&m, clients)))
    })
}

fn malloc_stats(_s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move { Frame::Verbatim("txt", Bytes::from(crate::alloc::allocator_stats())) })
}

/// Each shard thread gives its free pages back: mimalloc's heaps are per thread.
fn purge(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        s.node.broadcast(|_| crate::alloc::purge_thread()).await;
        Frame::ok()
    })
}

async fn gather(s: &Session) -> MemoryFigures {
    let shards = s.node.broadcast(|data| ShardMemory::take(data)).await;
    MemoryFigures::gather(&s.node.global, shards.iter())
}

/// MEMORY DOCTOR's report: Redis's checks and, where the condition is the same, its words.
fn diagnose(m: &MemoryFigures, clients: u64) -> String {
    const MB10: i64 = 10 << 20;
    if m.used < 5 << 20 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let mut issues = Vec::new();
    if m.peak as f64 / m.used as f64 > 1.5 {
        issues.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n".to_string());
    }
    if m.fragmentation() > 1.4 && m.fragmentation_bytes() > MB10 {
        issues.push(format!(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, try the MEMORY PURGE command to return the allocator's free pages. Note: The currently used allocator is \"{}\".\n\n", crate::alloc::allocator_name()));
    }
    if m.allocator_frag() > 1.1 && m.allocator_frag_bytes() > MB10 {
        issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. Tessera has no active defragmentation; the MEMORY PURGE command returns the allocator's free pages.\n\n".to_string());
    }
    if m.allocator_rss() > 1.1 && m.allocator_rss_bytes() > MB10 {
        issues.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n".to_string());
    }
    if m.rss_overhead() > 1.1 && m.rss_overhead_bytes() > MB10 {
        issues.push(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). In Tessera this memory is mapped outside the allocator: the receive buffers shared with io_uring, the threads' stacks and the program itself.\n\n".to_string());
    }
    if m.clients_normal / clients > 200 * 1024 {
        issues.push(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n".to_string());
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    let mut report =
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n".to_string();
    for issue in issues {
        report.push_str(&issue);
    }
    report.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    report
}

/// What one shard holds outside its values: its key tables, its clients' buffers, its AOF
/// buffer.
pub struct ShardMemory {
    /// (database, keys, key table bytes, TTL table bytes) for each database with keys.
    dbs: Vec<(usize, usize, usize, usize)>,
    clients: usize,
    aof_buffer: usize,
}

impl ShardMemory {
    pub fn take(data: &ShardData) -> ShardMemory {
        ShardMemory {
            dbs: data
                .ks
                .dbs
                .iter()
                .enumerate()
                .filter(|(_, d)| !d.is_empty())
                .map(|(i, d)| {
                    let (main, expires) = d.table_overhead();
                    (i, d.len(), main, expires)
                })
                .collect(),
            clients: data.clients.memory(),
            aof_buffer: data.aof.buffered_bytes(),
        }
    }
}

/// One database's key tables, over every shard.
pub struct DbOverhead {
    pub db: usize,
    pub main: u64,
    pub expires: u64,
}

/// The process's memory figures, as Redis's `redisMemOverhead` and `cron_malloc_stats` hold
/// them: INFO memory, MEMORY STATS and MEMORY DOCTOR read the same.
pub struct MemoryFigures {
    /// Bytes handed out by the allocator and not freed (`used_memory`).
    pub used: u64,
    pub rss: u64,
    pub peak: u64,
    pub startup: u64,
    /// The allocator's view: what it handed out, and the memory it holds committed for that
    /// (mimalloc keeps no separate count of active pages, so active and resident are both
    /// its committed memory, as Redis sets them equal for allocators without the figures).
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub clients_normal: u64,
    pub aof_buffer: u64,
    pub dbs: Vec<DbOverhead>,
    pub total_keys: u64,
}

impl MemoryFigures {
    pub fn gather<'a>(
        global: &Global,
        shards: impl Iterator<Item = &'a ShardMemory>,
    ) -> MemoryFigures {
        let used = global.sample_memory();
        let rss = crate::alloc::rss();
        let committed = crate::alloc::allocator_committed();
        let resident = if committed > 0 { committed } else { rss };
        let mut dbs: std::collections::BTreeMap<usize, DbOverhead> = Default::default();
        let (mut clients_normal, mut aof_buffer, mut total_keys) = (0, 0, 0);
        for shard in shards {
            clients_normal += shard.clients as u64;
            aof_buffer += shard.aof_buffer as u64;
            for &(db, keys, main, expires) in &shard.dbs {
                total_keys += keys as u64;
                let d = dbs.entry(db).or_insert(DbOverhead {
                    db,
                    main: 0,
                    expires: 0,
                });
                d.main += main as u64;
                d.expires += expires as u64;
            }
        }
        MemoryFigures {
            used,
            rss,
            peak: global.peak_memory.load(Relaxed).max(used),
            startup: global.startup_memory.load(Relaxed),
            allocated: used,
            active: resident,
            resident,
            clients_normal,
            aof_buffer,
            dbs: dbs.into_values().collect(),
            total_keys,
        }
    }

    pub fn overhead_total(&self) -> u64 {
        self.startup
            + self.clients_normal
            + self.aof_buffer
            + self.dbs.iter().map(|d| d.main + d.expires).sum::<u64>()
    }

    pub fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.overhead_total())
    }

    /// Memory in use beyond what start-up took (at least 1, as Redis divides by it).
    fn net_usage(&self) -> u64 {
        self.used.saturating_sub(self.startup).max(1)
    }

    pub fn dataset_perc(&self) -> f64 {
        self.dataset() as f64 * 100.0 / self.net_usage() as f64
    }

    pub fn peak_perc(&self) -> f64 {
        self.used as f64 * 100.0 / self.peak.max(1) as f64
    }

    pub fn bytes_per_key(&self) -> u64 {
        self.net_usage().checked_div(self.total_keys).unwrap_or(0)
    }

    pub fn allocator_frag(&self) -> f64 {
        ratio(self.active, self.allocated)
    }

    pub fn allocator_frag_bytes(&self) -> i64 {
        self.active as i64 - self.allocated as i64
    }

    pub fn allocator_rss(&self) -> f64 {
        ratio(self.resident, self.active)
    }

    pub fn allocator_rss_bytes(&self) -> i64 {
        self.resident as i64 - self.active as i64
    }

    pub fn rss_overhead(&self) -> f64 {
        ratio(self.rss, self.resident)
    }

    pub fn rss_overhead_bytes(&self) -> i64 {
        self.rss as i64 - self.resident as i64
    }

    /// RSS over used memory: Redis's mem_fragmentation_ratio.
    pub fn fragmentation(&self) -> f64 {
        ratio(self.rss, self.used)
    }

    pub fn fragmentation_bytes(&self) -> i64 {
        self.rss as i64 - self.used as i64
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(used: u64, peak: u64, rss: u64) -> MemoryFigures {
        MemoryFigures {
            used,
            rss,
            peak,
            startup: 1 << 20,
            allocated: used,
            active: rss,
            resident: rss,
            clients_normal: 0,
            aof_buffer: 0,
            dbs: Vec::new(),
            total_keys: 0,
        }
    }

    #[test]
    fn doctor_speaks_as_redis() {
        assert!(diagnose(&figures(1 << 20, 1 << 20, 2 << 20), 1).contains("empty"));
        let fine = diagnose(&figures(100 << 20, 100 << 20, 101 << 20), 1);
        assert!(fine.starts_with("Hi Sam, I can't find any memory issue"));
        let peaked = diagnose(&figures(100 << 20, 200 << 20, 101 << 20), 1);
        assert!(peaked.contains(" * Peak memory:") && peaked.ends_with("help you.\n"));
        let fragmented = diagnose(&figures(100 << 20, 100 << 20, 200 << 20), 1);
        assert!(fragmented.contains(" * High total RSS:"));
        assert!(fragmented.contains(" * High allocator fragmentation:"));
    }

    #[test]
    fn dataset_is_what_overhead_leaves() {
        let mut m = figures(10 << 20, 10 << 20, 12 << 20);
        m.clients_normal = 1000;
        m.dbs.push(DbOverhead {
            db: 0,
            main: 5000,
            expires: 0,
        });
        m.total_keys = 100;
        assert_eq!(m.overhead_total(), (1 << 20) + 6000);
        assert_eq!(m.dataset(), (10 << 20) - (1 << 20) - 6000);
        assert_eq!(m.bytes_per_key(), (9 << 20) / 100);
    }
}
