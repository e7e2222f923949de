//! INFO and MEMORY against the real binary, and against redis-server where the two must agree:
//! the sections each INFO request selects, every section's field names in Redis's order, and
//! the counters that the same commands move the same way (error replies by prefix, calls,
//! rejected and failed calls). Values that differ by nature (memory, times, ids) are checked
//! for being real: they move when what they measure moves.

mod common;

use std::time::{Duration, Instant};

use common::{parse_reply, RawConn, Reply, Server};

/// Fields Tessera adds to the Server section (src/cmd/info.rs `TESSERA_ONLY`).
const TESSERA_ONLY: &[&str] = &["tessera_version", "shards"];

fn info(c: &mut RawConn, args: &[&str]) -> String {
    let mut cmd = vec!["INFO"];
    cmd.extend_from_slice(args);
    let raw = c.command(&cmd).unwrap();
    match parse_reply(&raw).unwrap().map(|(r, _)| r) {
        Some(Reply::Bulk(text)) => String::from_utf8(text).unwrap(),
        other => panic!("INFO {args:?} replied {other:?}"),
    }
}

/// The value of `field` in an INFO text.
fn field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in INFO"))
        .to_string()
}

fn number(text: &str, name: &str) -> f64 {
    let v = field(text, name);
    v.trim_end_matches(['%', 'K', 'M', 'G', 'B'])
        .parse()
        .unwrap_or_else(|_| panic!("{name}:{v} is not a number"))
}

/// Section titles and field names in order. Lines whose names depend on what ran
/// (cmdstat_*, errorstat_*, latency_percentiles_usec_*, dbN) are sorted within their
/// section, since Redis lists commands in its hash table's order.
fn shape(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if let Some(title) = line.strip_prefix("# ") {
            sections.push((title.to_string(), Vec::new()));
            continue;
        }
        let name = line.split(':').next().unwrap().to_string();
        if TESSERA_ONLY.contains(&name.as_str()) {
            continue;
        }
        sections
            .last_mut()
            .expect("a field before any title")
            .1
            .push(name);
    }
    for (title, names) in &mut sections {
        if ["Commandstats", "Errorstats", "Latencystats", "Keyspace"].contains(&title.as_str()) {
            names.sort();
        }
    }
    sections
}

#[test]
fn every_request_selects_redis_sections_with_redis_fields_in_redis_order() {
    let redis = Server::redis(&[]);
    let tessera = Server::tessera(&[]);
    let (mut r, mut t) = (redis.connect(), tessera.connect());
    for c in [&mut r, &mut t] {
        // The same commands on both, so the same cmdstat_ and errorstat_ lines exist.
        for cmd in [
            &["SET", "k", "v"][..],
            &["EXPIRE", "k", "1000"],
            &["GET", "k"],
            &["GET", "nokey"],
            &["LPUSH", "k", "x"],
            &["SELECT", "3"],
            &["SET", "k3", "v"],
            &["SELECT", "0"],
            &["CLIENT", "ID"],
            &["NOSUCHCOMMAND"],
        ] {
            c.command(cmd).unwrap();
        }
    }
    let requests: &[&[&str]] = &[
        &[],
        &["default"],
        &["all"],
        &["everything"],
        &["server", "clients"],
        &["CPU", "sentinel"],
        &["commandSTATS"],
        &["nosuchsection"],
        &["modules"],
        &["module_list", "keyspace"],
        &["cpu", "all"],
        &["cpu", "default"],
        &["default", "default", "memory"],
        &["errorstats", "latencystats", "cluster"],
        &["replication", "persistence", "stats"],
    ];
    for args in requests {
        assert_eq!(
            shape(&info(&mut t, args)),
            shape(&info(&mut r, args)),
            "INFO {args:?}"
        );
    }
    // With min-replicas-to-write on, a master counts its good replicas.
    for c in [&mut r, &mut t] {
        c.command(&["CONFIG", "SET", "min-replicas-to-write", "1"])
            .unwrap();
    }
    assert_eq!(
        shape(&info(&mut t, &["replication"])),
        shape(&info(&mut r, &["replication"]))
    );
    // The AOF adds its own fields to Persistence.
    for c in [&mut r, &mut t] {
        c.command(&["CONFIG", "SET", "appendonly", "yes"]).unwrap();
    }
    assert_eq!(
        shape(&info(&mut t, &["persistence"])),
        shape(&info(&mut r, &["persistence"]))
    );
}

#[test]
fn what_a_master_without_replicas_prints_is_what_redis_prints() {
    let redis = Server::redis(&[]);
    let tessera = Server::tessera(&[]);
    let (mut r, mut t) = (redis.connect(), tessera.connect());
    let (ri, ti) = (info(&mut r, &["everything"]), info(&mut t, &["everything"]));
    for name in [
        "redis_version",
        "redis_mode",
        "arch_bits",
        "io_threads_active",
        "cluster_connections",
        "tracking_clients",
        "role",
        "connected_slaves",
        "master_failover_state",
        "master_replid2",
        "master_repl_offset",
        "second_repl_offset",
        "repl_backlog_active",
        "repl_backlog_size",
        "repl_backlog_first_byte_offset",
        "repl_backlog_histlen",
        "cluster_enabled",
        "pubsub_channels",
        "sync_full",
        "total_net_repl_input_bytes",
        "mem_replication_backlog",
        "mem_clients_slaves",
        "maxmemory",
        "maxmemory_policy",
        "aof_enabled",
        "loading",
    ] {
        assert_eq!(field(&ti, name), field(&ri, name), "{name}");
    }
    // Ids: forty hex digits, new at every start.
    for name in ["run_id", "master_replid"] {
        let id = field(&ti, name);
        assert!(
            id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}:{id}"
        );
    }
    assert_ne!(field(&ti, "run_id"), field(&ti, "master_replid"));
    assert!(field(&ti, "mem_allocator").starts_with("mimalloc-"));
    assert!(ti.contains("\r\n# Modules\r\n\r\n# Commandstats\r\n"));
}

#[test]
fn the_same_commands_move_the_same_counters_as_in_redis() {
    let redis = Server::redis(&[]);
    let tessera = Server::tessera(&[]);
    let (mut r, mut t) = (redis.connect(), tessera.connect());
    let script: &[&[&str]] = &[
        &["CONFIG", "RESETSTAT"],
        &["SET", "k", "v"],
        &["GET", "k"],
        &["GET", "nokey"],
        &["EXISTS", "k", "nokey"],
        // Rejected: wrong arity, unknown command and subcommand.
        &["SET", "k"],
        &["FOO"],
        &["CLIENT", "NOSUCH"],
        // Failed: WRONGTYPE, a bad argument.
        &["LPUSH", "k", "x"],
        &["GETRANGE", "k", "a", "b"],
        // A rejection inside MULTI aborts EXEC; an error inside EXEC is its command's.
        &["MULTI"],
        &["SET", "a"],
        &["EXEC"],
        &["MULTI"],
        &["INCR", "k"],
        &["EXEC"],
        &["EXEC"],
        &["CLIENT", "UNBLOCK", "123456", "ERROR"],
    ];
    for c in [&mut r, &mut t] {
        for cmd in script {
            c.command(cmd).unwrap();
        }
    }
    let (ri, ti) = (info(&mut r, &["all"]), info(&mut t, &["all"]));
    let counters = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> = text
            .split("\r\n")
            .filter(|l| {
                [
                    "errorstat_",
                    "cmdstat_",
                    "total_error_replies",
                    "keyspace_",
                    "total_commands",
                ]
                .iter()
                .any(|p| l.starts_with(p))
            })
            // Durations differ by nature.
            .map(|l| match l.split_once("usec=") {
                Some((head, tail)) => {
                    format!("{head}{}", tail.split_once(",rejected").unwrap().1)
                }
                None => l.to_string(),
            })
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(counters(&ti), counters(&ri));
    assert_eq!(field(&ti, "total_error_replies"), "9");
    // CONFIG RESETSTAT clears them again.
    t.command(&["CONFIG", "RESETSTAT"]).unwrap();
    let after = info(&mut t, &["errorstats", "stats"]);
    assert_eq!(field(&after, "total_error_replies"), "0");
    assert!(!after.contains("errorstat_"));
}

#[test]
fn latencystats_follow_the_tracking_settings() {
    let tessera = Server::tessera(&[]);
    let mut t = tessera.connect();
    t.command(&["SET", "k", "v"]).unwrap();
    let text = info(&mut t, &["latencystats"]);
    let line = field(&text, "latency_percentiles_usec_set");
    assert!(line.starts_with("p50=") && line.contains(",p99=") && line.contains(",p99.9="));
    t.command(&[
        "CONFIG",
        "SET",
        "latency-tracking-info-percentiles",
        "0 50.5 100",
    ])
    .unwrap();
    let line = field(
        &info(&mut t, &["latencystats"]),
        "latency_percentiles_usec_set",
    );
    let parts: Vec<&str> = line.split(',').collect();
    assert_eq!(parts.len(), 3, "{line}");
    assert!(
        parts[0].starts_with("p0=")
            && parts[1].starts_with("p50.5=")
            && parts[2].starts_with("p100=")
    );
    // Three decimals of microseconds; the percentiles ascend.
    let values: Vec<f64> = parts
        .iter()
        .map(|p| p.split_once('=').unwrap().1.parse().unwrap())
        .collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{line}");
    assert!(parts.iter().all(|p| p.split_once('.').is_some()));
    // DEBUG SLEEP 0.05 takes at least 50 ms: its percentile says so.
    t.command(&["DEBUG", "SLEEP", "0.05"]).unwrap();
    let debug = field(
        &info(&mut t, &["latencystats"]),
        "latency_percentiles_usec_debug",
    );
    let p50: f64 = debug.split(['=', ',']).nth(3).unwrap().parse().unwrap();
    assert!(p50 >= 50_000.0, "{debug}");
    // Tracking off: the section is empty; RESETSTAT forgets the histograms.
    t.command(&["CONFIG", "SET", "latency-tracking", "no"])
        .unwrap();
    assert_eq!(info(&mut t, &["latencystats"]), "# Latencystats\r\n");
    t.command(&["CONFIG", "SET", "latency-tracking", "yes"])
        .unwrap();
    t.command(&["CONFIG", "RESETSTAT"]).unwrap();
    assert!(!info(&mut t, &["latencystats"]).contains("usec_set"));
}

#[test]
fn rates_and_io_counters_are_measured() {
    let tessera = Server::tessera(&[]);
    let mut t = tessera.connect();
    let before = info(&mut t, &["stats"]);
    // A second of steady traffic: the per-second rates see it.
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_millis(1200) {
        let batch: Vec<u8> = (0..100)
            .flat_map(|_| common::encode_command(&["SET", "key", "value"]))
            .collect();
        t.send_raw(&batch).unwrap();
        for _ in 0..100 {
            t.read_reply().unwrap();
        }
        sent += 100;
    }
    let after = info(&mut t, &["stats"]);
    assert!(number(&after, "instantaneous_ops_per_sec") > 0.0, "{after}");
    assert!(number(&after, "instantaneous_input_kbps") > 0.0);
    assert!(number(&after, "instantaneous_output_kbps") > 0.0);
    let grew = |name: &str| number(&after, name) - number(&before, name);
    assert!(grew("total_commands_processed") >= sent as f64);
    assert!(grew("total_reads_processed") >= 1.0);
    assert!(grew("total_writes_processed") >= 1.0);
    assert!(number(&after, "total_reads_processed") >= number(&after, "total_writes_processed"));
}

#[test]
fn expiry_and_blocking_counters_are_measured() {
    let tessera = Server::tessera(&["--hz", "100"]);
    let mut t = tessera.connect();
    for i in 0..200 {
        t.command(&["SET", &format!("k{i}"), "v", "PX", "1"])
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = info(&mut t, &["stats"]);
        if number(&stats, "expired_keys") >= 200.0 {
            // Every key the cycle sampled had expired.
            assert!(number(&stats, "expired_stale_perc") > 0.0, "{stats}");
            break;
        }
        assert!(Instant::now() < deadline, "{stats}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A client blocked with a timeout is in the timeout table; one without is not.
    let mut b1 = tessera.connect();
    let mut b2 = tessera.connect();
    b1.send(&["BLPOP", "list1", "100"]).unwrap();
    b2.send(&["BLPOP", "list2", "0"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let clients = info(&mut t, &["clients"]);
        if field(&clients, "blocked_clients") == "2" {
            assert_eq!(field(&clients, "clients_in_timeout_table"), "1");
            break;
        }
        assert!(Instant::now() < deadline, "{clients}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn memory_figures_follow_the_data() {
    let tessera = Server::tessera(&[]);
    let mut t = tessera.connect();
    let empty = info(&mut t, &["memory"]);
    let value = "x".repeat(1000);
    for i in 0..20_000 {
        t.send(&["SET", &format!("key:{i}"), &value]).unwrap();
    }
    for _ in 0..20_000 {
        t.read_reply().unwrap();
    }
    let full = info(&mut t, &["memory"]);
    let used = number(&full, "used_memory");
    assert!(
        used - number(&empty, "used_memory") > 20_000.0 * 1000.0,
        "{full}"
    );
    assert!(number(&full, "used_memory_peak") >= used);
    assert!(number(&full, "used_memory_dataset") > 20_000.0 * 1000.0);
    assert!(number(&full, "used_memory_overhead") > number(&full, "used_memory_startup"));
    assert!(number(&full, "used_memory_rss") > 0.0);
    let ratio = number(&full, "mem_fragmentation_ratio");
    let expected = number(&full, "used_memory_rss") / used;
    assert!((ratio - expected).abs() < 0.05, "{ratio} vs {expected}");
    t.command(&["FLUSHALL"]).unwrap();
    let flushed = info(&mut t, &["memory"]);
    assert!(number(&flushed, "used_memory") < used / 2.0);
    // The peak remembers.
    assert!(number(&flushed, "used_memory_peak") >= used);
    assert!(field(&flushed, "used_memory_peak_perc").ends_with('%'));
    // maxmemory and its policy are the settings.
    t.command(&["CONFIG", "SET", "maxmemory", "100mb"]).unwrap();
    t.command(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])
        .unwrap();
    let set = info(&mut t, &["memory"]);
    assert_eq!(field(&set, "maxmemory"), "104857600");
    assert_eq!(field(&set, "maxmemory_human"), "100.00M");
    assert_eq!(field(&set, "maxmemory_policy"), "allkeys-lru");
}

fn integer(c: &mut RawConn, args: &[&str]) -> i64 {
    let raw = c.command(args).unwrap();
    match parse_reply(&raw).unwrap().map(|(r, _)| r) {
        Some(Reply::Integer(n)) => n,
        other => panic!("{args:?} replied {other:?}"),
    }
}

#[test]
fn memory_usage_counts_what_the_key_holds() {
    let tessera = Server::tessera(&[]);
    let mut t = tessera.connect();
    t.command(&["SET", "small", "1"]).unwrap();
    t.command(&["SET", "big", &"v".repeat(10_000)]).unwrap();
    let small = integer(&mut t, &["MEMORY", "USAGE", "small"]);
    let big = integer(&mut t, &["MEMORY", "USAGE", "big"]);
    assert!(
        small > 0 && (10_000..10_200).contains(&big),
        "{small} {big}"
    );
    // A TTL costs the second table's slot.
    t.command(&["EXPIRE", "small", "100"]).unwrap();
    assert!(integer(&mut t, &["MEMORY", "USAGE", "small"]) > small);
    // A big hash: sampling all fields and sampling five agree when fields are alike.
    for i in 0..1000 {
        t.command(&[
            "HSET",
            "h",
            &format!("field-with-a-long-name-{i:05}"),
            &"x".repeat(100),
        ])
        .unwrap();
    }
    let all = integer(&mut t, &["MEMORY", "USAGE", "h", "SAMPLES", "0"]);
    let five = integer(&mut t, &["MEMORY", "USAGE", "h"]);
    assert!(all > 1000 * 100, "{all}");
    assert!((all - five).abs() < all / 20, "{all} vs {five}");
    // A list of many nodes, a set, a sorted set: each at least its elements' bytes.
    for i in 0..2000 {
        t.command(&["RPUSH", "l", &format!("element-{i:06}")])
            .unwrap();
        t.command(&["SADD", "s", &format!("member-number-{i:06}")])
            .unwrap();
        t.command(&["ZADD", "z", &i.to_string(), &format!("member-{i:06}")])
            .unwrap();
    }
    for key in ["l", "s", "z"] {
        let n = integer(&mut t, &["MEMORY", "USAGE", key, "SAMPLES", "0"]);
        assert!(n > 2000 * 14, "{key}: {n}");
    }
    // MEMORY STATS counts the keys and names their database.
    let raw = t.command(&["MEMORY", "STATS"]).unwrap();
    let Some((Reply::Array(items), _)) = parse_reply(&raw).unwrap() else {
        panic!("MEMORY STATS replied {}", String::from_utf8_lossy(&raw));
    };
    let names: Vec<String> = items
        .iter()
        .step_by(2)
        .map(|r| match r {
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    let at = names.iter().position(|n| n == "keys.count").unwrap();
    assert_eq!(items[at * 2 + 1], Reply::Integer(6));
    assert!(names.contains(&"db.0".to_string()));
    // PURGE and MALLOC-STATS ask the allocator.
    assert_eq!(t.command(&["MEMORY", "PURGE"]).unwrap(), b"+OK\r\n");
    let stats =
        String::from_utf8_lossy(&t.command(&["MEMORY", "MALLOC-STATS"]).unwrap()).into_owned();
    assert!(stats.contains("committed"), "{stats:.200}");
}
