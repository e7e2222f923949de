//! Cross-shard atomicity under concurrency, against the real binary with four shards.
//!
//! Keys without hashtags spread over all shards, so every MSET/MGET/MSETNX here is a
//! multi-shard transaction. Readers must never observe half of a write: each MSET writes one
//! value to all of its keys, so every MGET snapshot must show one value everywhere.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::Server;
use redis::Commands;

const KEYS: usize = 12;

fn keys(prefix: &str) -> Vec<String> {
    (0..KEYS).map(|i| format!("{prefix}:{i}")).collect()
}

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

#[test]
fn keys_span_several_shards() {
    // Guard for the tests below: the chosen keys really live on different shards.
    let slots: std::collections::BTreeSet<usize> = keys("k")
        .iter()
        .map(|k| tessera::slot::key_owner(k.as_bytes(), 4))
        .collect();
    assert!(slots.len() >= 3, "keys cover shards {slots:?}");
}

#[test]
fn mset_is_never_seen_half_applied() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let names = keys("k");
    let init: Vec<(String, String)> = names
        .iter()
        .map(|k| (k.clone(), "init".to_string()))
        .collect();
    let _: () = client(port).mset(&init).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (names, stop) = (names.clone(), stop.clone());
        writers.push(thread::spawn(move || {
            let mut c = client(port);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let v = format!("w{w}-{i}");
                let pairs: Vec<(&String, &String)> = names.iter().map(|k| (k, &v)).collect();
                let _: () = c.mset(&pairs).unwrap();
                i += 1;
            }
            i
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (names, stop) = (names.clone(), stop.clone());
        readers.push(thread::spawn(move || {
            let mut c = client(port);
            let mut snapshots = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let values: Vec<String> = c.mget(&names).unwrap();
                assert!(
                    values.iter().all(|v| *v == values[0]),
                    "torn MSET observed: {values:?}"
                );
                snapshots += 1;
            }
            snapshots
        }));
    }
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let written: u64 = writers.into_iter().map(|h| h.join().unwrap()).sum();
    let read: u64 = readers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(
        written > 100 && read > 100,
        "too little work to mean anything: {written} writes, {read} reads"
    );
}

#[test]
fn a_pair_written_together_is_read_together() {
    // Two counters on different shards, always written together, must always read equal.
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let a = "pair:a";
    let b: &'static str = (0..)
        .map(|i| format!("pair:b:{i}"))
        .find(|b| {
            tessera::slot::key_owner(b.as_bytes(), 4) != tessera::slot::key_owner(a.as_bytes(), 4)
        })
        .map(|b| &*Box::leak(b.into_boxed_str()))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut c = client(port);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _: () = c.mset(&[(a, i), (b, i)]).unwrap();
                i += 1;
            }
        })
    };
    let mut c = client(port);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        // MGET is one transaction; it must always see the pair equal.
        let (x, y): (Option<u64>, Option<u64>) = c.mget(&[a, b]).unwrap();
        assert_eq!(x, y);
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn msetnx_is_all_or_nothing_across_shards() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let left = keys("left");
    let right = keys("right");
    // The two sets share one key, so at most one MSETNX of a round may succeed.
    let shared = "shared-key".to_string();
    let mut c = client(port);
    for round in 0..200 {
        let mut all: Vec<String> = left.iter().chain(right.iter()).cloned().collect();
        all.push(shared.clone());
        let _: () = c.del(&all).unwrap();
        let handles: Vec<_> = [(left.clone(), "L"), (right.clone(), "R")]
            .into_iter()
            .map(|(mut ks, tag)| {
                ks.push(shared.clone());
                thread::spawn(move || {
                    let mut c = client(port);
                    let pairs: Vec<(String, String)> =
                        ks.iter().map(|k| (k.clone(), tag.to_string())).collect();
                    let won: bool = c.mset_nx(&pairs).unwrap();
                    won
                })
            })
            .collect();
        let wins: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            wins.iter().filter(|w| **w).count(),
            1,
            "round {round}: exactly one MSETNX wins, got {wins:?}"
        );
        let winner = if wins[0] { "L" } else { "R" };
        let (mine, theirs) = if wins[0] {
            (&left, &right)
        } else {
            (&right, &left)
        };
        let got: Vec<Option<String>> = c.mget(mine).unwrap();
        assert!(
            got.iter().all(|v| v.as_deref() == Some(winner)),
            "round {round}: winner's keys {got:?}"
        );
        let got: Vec<Option<String>> = c.mget(theirs).unwrap();
        assert!(
            got.iter().all(|v| v.is_none()),
            "round {round}: loser's keys must be untouched: {got:?}"
        );
    }
}

#[test]
fn cross_shard_rename_moves_value_and_ttl() {
    let server = Server::tessera_threads(4, &[]);
    let mut c = client(server.port);
    let src = "rename:src";
    let dst = (0..)
        .map(|i| format!("rename:dst:{i}"))
        .find(|d| {
            tessera::slot::key_owner(d.as_bytes(), 4) != tessera::slot::key_owner(src.as_bytes(), 4)
        })
        .unwrap();
    let dst = dst.as_str();
    assert_ne!(
        tessera::slot::key_owner(src.as_bytes(), 4),
        tessera::slot::key_owner(dst.as_bytes(), 4)
    );
    let _: () = redis::cmd("SET")
        .arg(src)
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("RENAME")
        .arg(src)
        .arg(dst)
        .query(&mut c)
        .unwrap();
    let v: Option<String> = c.get(dst).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let gone: bool = c.exists(src).unwrap();
    assert!(!gone);
    let ttl: i64 = c.ttl(dst).unwrap();
    assert!((95..=100).contains(&ttl), "ttl carried over: {ttl}");
}

#[test]
fn whole_database_commands_never_split_a_transaction() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let names = keys("w");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (names, stop) = (names.clone(), stop.clone());
        thread::spawn(move || {
            let mut c = client(port);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let pairs: Vec<(&String, u64)> = names.iter().map(|k| (k, i)).collect();
                let _: () = c.mset(&pairs).unwrap();
                i += 1;
            }
        })
    };
    let flusher = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut c = client(port);
            while !stop.load(Ordering::Relaxed) {
                let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
                thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let mut c = client(port);
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        // KEYS claims every shard whole, so it sees whole MSETs only: all twelve keys or
        // none. (DBSIZE counts without locks and makes no such promise; see
        // docs/architecture.md.)
        let all: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
        assert!(
            all.is_empty() || all.len() == KEYS,
            "KEYS saw a partial MSET or FLUSHALL: {}",
            all.len()
        );
        let values: Vec<Option<u64>> = c.mget(&names).unwrap();
        assert!(
            values.iter().all(|v| *v == values[0]),
            "torn state after FLUSHALL: {values:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    flusher.join().unwrap();
}
