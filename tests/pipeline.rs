//! Pipelines whose keys live on several shards. Consecutive single-shard reads of a pipeline go
//! out as one hop per shard and may run in any order against each other; nothing else may
//! move. These tests send the same pipelines to real Redis and to Tessera with four shards, as
//! one write each, and compare every reply byte for byte: any reordering a client could see
//! would show as a different reply.

mod common;

use common::{encode_command, RawConn, Server};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Keys spread over every shard of four (hash tags pick their slots).
const KEYS: &[&str] = &[
    "{a}k", "{b}k", "{c}k", "{x}k", "{a}l", "{b}l", "{c}l", "{x}l", "{q}k", "{zz}k",
];

fn random_command(rng: &mut SmallRng) -> Vec<String> {
    let (a, b) = (rng.gen_range(0..KEYS.len()), rng.gen_range(0..KEYS.len()));
    let key = || KEYS[a].to_string();
    let other = KEYS[b].to_string();
    match rng.gen_range(0..20) {
        // Mostly reads, so that long runs of them form.
        0..=5 => vec!["GET".into(), key()],
        6 => vec!["EXISTS".into(), key()],
        7 => vec!["STRLEN".into(), key()],
        8 => vec!["TTL".into(), key()],
        9 => vec![
            "LRANGE".into(),
            format!("{}list", key()),
            "0".into(),
            "-1".into(),
        ],
        10 => vec!["TYPE".into(), key()],
        11 => vec!["GETRANGE".into(), key(), "0".into(), "2".into()],
        12 | 13 => vec!["SET".into(), key(), rng.gen_range(0..1000).to_string()],
        14 => vec!["INCR".into(), key()],
        15 => vec!["APPEND".into(), key(), "x".into()],
        16 => vec!["DEL".into(), key()],
        17 => vec!["RPUSH".into(), format!("{}list", key()), "e".into()],
        18 => vec!["MGET".into(), key(), other],
        // A session change in the middle of reads.
        _ => vec!["SELECT".into(), rng.gen_range(0..2).to_string()],
    }
}

fn replies(conn: &mut RawConn, pipeline: &[Vec<String>]) -> Vec<String> {
    let mut bytes = Vec::new();
    for cmd in pipeline {
        bytes.extend(encode_command(cmd));
    }
    conn.send_raw(&bytes).unwrap();
    pipeline
        .iter()
        .map(|_| String::from_utf8_lossy(&conn.read_reply().unwrap()).into_owned())
        .collect()
}

#[test]
fn pipelined_reads_and_writes_on_every_shard_reply_as_redis_does() {
    let redis = Server::redis(&[]);
    let tessera = Server::tessera_threads(4, &[]);
    let (mut r, mut t) = (redis.connect(), tessera.connect());
    let mut rng = SmallRng::seed_from_u64(18);
    for round in 0..50 {
        // The same commands for both: the key choice comes from the pipeline, not a new draw.
        let pipeline: Vec<Vec<String>> = (0..rng.gen_range(1..200))
            .map(|_| random_command(&mut rng))
            .collect();
        let expected = replies(&mut r, &pipeline);
        let got = replies(&mut t, &pipeline);
        for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
            assert_eq!(g, e, "round {round}, command {i}: {:?}", pipeline[i]);
        }
    }
}

#[test]
fn a_long_run_of_reads_on_other_shards_keeps_its_order_and_errors() {
    let redis = Server::redis(&[]);
    let tessera = Server::tessera_threads(4, &[]);
    let (mut r, mut t) = (redis.connect(), tessera.connect());
    let mut pipeline: Vec<Vec<String>> = Vec::new();
    for (i, key) in KEYS.iter().enumerate() {
        pipeline.push(vec!["SET".into(), key.to_string(), format!("v{i}")]);
        pipeline.push(vec!["RPUSH".into(), format!("{key}list"), "e".into()]);
    }
    // 300 reads in a row, over every shard, with wrong types and arities among them.
    for i in 0..300 {
        let key = KEYS[i % KEYS.len()].to_string();
        pipeline.push(match i % 7 {
            0 => vec!["LRANGE".into(), key, "0".into(), "-1".into()],
            1 => vec!["GET".into(), format!("{key}list")],
            2 => vec!["GET".into()],
            _ => vec!["GET".into(), key],
        });
    }
    pipeline.push(vec!["DBSIZE".into()]);
    assert_eq!(replies(&mut t, &pipeline), replies(&mut r, &pipeline));
}

#[test]
fn big_replies_of_a_read_batch_come_in_order_over_several_rounds() {
    // Each shard stops a read batch after a few hundred KB of replies and the rest runs in a
    // later round: the replies must still arrive whole and in request order.
    let tessera = Server::tessera_threads(4, &[]);
    let mut c = tessera.connect();
    for (i, key) in KEYS.iter().enumerate() {
        c.command(&["SET", key, &format!("{i}").repeat(100_000)])
            .unwrap();
    }
    let mut pipeline = Vec::new();
    let order: Vec<usize> = (0..120).map(|i| (i * 7) % KEYS.len()).collect();
    for &k in &order {
        pipeline.extend(encode_command(&["GET", KEYS[k]]));
    }
    c.send_raw(&pipeline).unwrap();
    for &k in &order {
        let reply = c.read_reply().unwrap();
        let body = format!("{k}").repeat(100_000);
        assert_eq!(reply, format!("${}\r\n{body}\r\n", body.len()).into_bytes());
    }
}
