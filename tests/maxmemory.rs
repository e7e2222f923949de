//! `maxmemory` against the real binary: eviction keeps memory near the limit, and
//! `noeviction` refuses writes with Redis's OOM error.

mod common;

use common::{encode_command, Server};

fn info_field(c: &mut common::RawConn, section: &str, field: &str) -> u64 {
    let text = String::from_utf8(c.command(&["INFO", section]).unwrap()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

/// Writes `count` keys of `size` bytes in pipelined batches; returns how many were refused.
fn fill(c: &mut common::RawConn, count: usize, size: usize) -> usize {
    let value = "x".repeat(size);
    let mut refused = 0;
    for batch in (0..count).collect::<Vec<_>>().chunks(100) {
        let mut bytes = Vec::new();
        for i in batch {
            bytes.extend(encode_command(&["SET", &format!("key:{i}"), &value]));
        }
        c.send_raw(&bytes).unwrap();
        for _ in batch {
            let reply = c.read_reply().unwrap();
            if reply.starts_with(b"-OOM") {
                refused += 1;
            } else {
                assert_eq!(reply, b"+OK\r\n");
            }
        }
    }
    refused
}

#[test]
fn allkeys_lru_evicts_to_stay_under_the_limit() {
    let server = Server::tessera(&["--maxmemory", "30mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = server.connect();
    assert_eq!(
        fill(&mut c, 60_000, 1000),
        0,
        "an evicting policy never refuses a write"
    );
    let used = info_field(&mut c, "memory", "used_memory");
    assert!(
        used <= 32 << 20,
        "used_memory {used} should stay near maxmemory"
    );
    assert!(info_field(&mut c, "stats", "evicted_keys") > 10_000);
    // The most recent key survives an LRU policy.
    assert_eq!(&c.command(&["EXISTS", "key:59999"]).unwrap()[..], b":1\r\n");
}

#[test]
fn noeviction_refuses_writes_but_serves_reads_and_deletes() {
    let server = Server::tessera(&["--maxmemory", "20mb"]);
    let mut c = server.connect();
    let refused = fill(&mut c, 40_000, 1000);
    assert!(
        refused > 10_000,
        "writes past the limit are refused ({refused})"
    );
    assert_eq!(
        c.command(&["SET", "one-more", "v"]).unwrap(),
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(&c.command(&["GET", "key:0"]).unwrap()[..5], b"$1000");
    assert_eq!(c.command(&["DEL", "key:0"]).unwrap(), b":1\r\n");
    assert_eq!(info_field(&mut c, "stats", "evicted_keys"), 0);
}

#[test]
fn lfu_counters_follow_redis() {
    let server = Server::tessera(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut c = server.connect();
    c.command(&["SET", "k", "v"]).unwrap();
    // A new key starts at 5; the first accesses always increment it.
    assert_eq!(c.command(&["OBJECT", "FREQ", "k"]).unwrap(), b":5\r\n");
    c.command(&["GET", "k"]).unwrap();
    assert_eq!(c.command(&["OBJECT", "FREQ", "k"]).unwrap(), b":6\r\n");
    assert!(c
        .command(&["OBJECT", "IDLETIME", "k"])
        .unwrap()
        .starts_with(b"-ERR An LFU maxmemory policy is selected"));
}
