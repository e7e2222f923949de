//! Pub/Sub with many clients on a four-shard server: fan-out to subscribers on every shard,
//! each publisher's order and one order per channel under concurrent publishers, patterns,
//! and a subscriber that does not read being dropped while the others keep receiving.
//! Replies to single commands are compared with Redis in tests/scripts/pubsub.redis.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{RawConn, Server};

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Enough connections that the kernel, which spreads them over the shards, leaves no shard
/// without subscribers (the chance of that with 4 shards is 4 × (3/4)^32, about 1 in 2,500).
const SUBSCRIBERS: usize = 32;

#[test]
fn every_subscriber_on_every_shard_gets_every_message_in_order() {
    let server = Server::tessera_threads(4, &[]);
    let mut conns: Vec<redis::Connection> = (0..SUBSCRIBERS).map(|_| client(server.port)).collect();
    let mut subs: Vec<redis::PubSub> = conns.iter_mut().map(|c| c.as_pubsub()).collect();
    for (i, sub) in subs.iter_mut().enumerate() {
        sub.subscribe("news").unwrap();
        if i % 2 == 0 {
            sub.psubscribe("n*").unwrap();
        }
        sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let mut publisher = client(server.port);
    const MESSAGES: usize = 200;
    for n in 0..MESSAGES {
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg("news")
            .arg(n.to_string())
            .query(&mut publisher)
            .unwrap();
        // A channel subscription and, for half of them, a pattern subscription each.
        assert_eq!(receivers as usize, SUBSCRIBERS + SUBSCRIBERS / 2);
    }
    for (i, sub) in subs.iter_mut().enumerate() {
        let (mut plain, mut pattern) = (0, 0);
        let per_message = if i % 2 == 0 { 2 } else { 1 };
        for _ in 0..MESSAGES * per_message {
            let msg = sub.get_message().unwrap();
            let payload: String = msg.get_payload().unwrap();
            assert_eq!(msg.get_channel_name(), "news");
            let expected = if msg.from_pattern() {
                assert_eq!(msg.get_pattern::<String>().unwrap(), "n*");
                pattern += 1;
                pattern - 1
            } else {
                plain += 1;
                plain - 1
            };
            assert_eq!(payload, expected.to_string(), "subscriber {i}");
        }
    }
    let numsub: (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("news")
        .query(&mut publisher)
        .unwrap();
    assert_eq!(numsub.1 as usize, SUBSCRIBERS);
}

#[test]
fn concurrent_publishers_keep_their_order_and_every_subscriber_sees_one_order() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    const PUBLISHERS: usize = 4;
    const EACH: usize = 500;
    let mut conns: Vec<redis::Connection> = (0..8).map(|_| client(port)).collect();
    let mut subs: Vec<redis::PubSub> = conns.iter_mut().map(|c| c.as_pubsub()).collect();
    for sub in &mut subs {
        sub.subscribe("ticker").unwrap();
        sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            thread::spawn(move || {
                let mut c = client(port);
                for n in 0..EACH {
                    let _: i64 = redis::cmd("PUBLISH")
                        .arg("ticker")
                        .arg(format!("{p}:{n}"))
                        .query(&mut c)
                        .unwrap();
                }
            })
        })
        .collect();
    let mut sequences = Vec::new();
    for sub in &mut subs {
        let mut seen = Vec::with_capacity(PUBLISHERS * EACH);
        let mut next = [0usize; PUBLISHERS];
        for _ in 0..PUBLISHERS * EACH {
            let payload: String = sub.get_message().unwrap().get_payload().unwrap();
            let (p, n) = payload.split_once(':').unwrap();
            let (p, n): (usize, usize) = (p.parse().unwrap(), n.parse().unwrap());
            assert_eq!(n, next[p], "publisher {p}'s messages out of order");
            next[p] += 1;
            seen.push(payload);
        }
        sequences.push(seen);
    }
    for publisher in publishers {
        publisher.join().unwrap();
    }
    for other in &sequences[1..] {
        assert!(
            *other == sequences[0],
            "two subscribers saw the channel's messages in different orders"
        );
    }
}

#[test]
fn every_matching_pattern_delivers_once() {
    let server = Server::tessera_threads(4, &[]);
    let mut conn = client(server.port);
    let mut sub = conn.as_pubsub();
    // One at a time: the client waits only for the first confirmation of a command.
    for pattern in ["*", "h*", "h?llo", "x*"] {
        sub.psubscribe(pattern).unwrap();
    }
    sub.subscribe("hello").unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut publisher = client(server.port);
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg("hello")
        .arg("m")
        .query(&mut publisher)
        .unwrap();
    assert_eq!(receivers, 4);
    // The channel's own subscription first, as in Redis; the patterns in any order.
    let first = sub.get_message().unwrap();
    assert!(!first.from_pattern());
    let mut patterns: Vec<String> = (0..3)
        .map(|_| sub.get_message().unwrap().get_pattern().unwrap())
        .collect();
    patterns.sort();
    assert_eq!(patterns, ["*", "h*", "h?llo"]);
    let numpat: i64 = redis::cmd("PUBSUB")
        .arg("NUMPAT")
        .query(&mut publisher)
        .unwrap();
    assert_eq!(numpat, 4);
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut publisher)
        .unwrap();
    assert!(info.contains("pubsub_channels:1\r\n"), "{info}");
    assert!(info.contains("pubsub_patterns:4\r\n"), "{info}");
}

#[test]
fn a_subscriber_that_does_not_read_is_dropped_and_the_others_keep_receiving() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let mut admin = client(port);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("pubsub 4mb 0 0")
        .query(&mut admin)
        .unwrap();
    // The sleepers subscribe and never read again; the readers read everything.
    let mut sleepers: Vec<RawConn> = (0..8).map(|_| RawConn::connect(port).unwrap()).collect();
    for s in &mut sleepers {
        s.command(&["SUBSCRIBE", "firehose"]).unwrap();
    }
    // How many messages the slowest reader has read: the publisher stays within 1 MB of it,
    // so that only the sleepers ever fall behind.
    let progress: Arc<Vec<AtomicUsize>> = Arc::new((0..8).map(|_| AtomicUsize::new(0)).collect());
    let readers: Vec<_> = (0..8)
        .map(|r| {
            let mut c = client(port);
            let progress = progress.clone();
            thread::spawn(move || {
                let mut sub = c.as_pubsub();
                sub.subscribe("firehose").unwrap();
                sub.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut got = 0;
                loop {
                    let payload: Vec<u8> = sub.get_message().unwrap().get_payload().unwrap();
                    if payload == b"end" {
                        return got;
                    }
                    got += 1;
                    progress[r].store(got, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Wait until all 16 are counted before publishing.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("firehose")
            .query(&mut admin)
            .unwrap();
        if n == 16 {
            break;
        }
        assert!(Instant::now() < deadline, "subscribers never registered");
        thread::sleep(Duration::from_millis(20));
    }
    // 64 MB of messages: far past what the sleepers' socket buffers hold, so each one's
    // unsent messages pass the 4 MB limit and it is closed.
    let payload = vec![b'x'; 64 * 1024];
    const MESSAGES: usize = 1024;
    let mut receivers = Vec::new();
    for sent in 0..MESSAGES {
        while progress
            .iter()
            .any(|p| p.load(Ordering::Relaxed) + 16 < sent)
        {
            thread::sleep(Duration::from_micros(200));
        }
        let n: i64 = redis::cmd("PUBLISH")
            .arg("firehose")
            .arg(&payload[..])
            .query(&mut admin)
            .unwrap();
        receivers.push(n);
    }
    // Only the readers are left: the server closed the sleepers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query(&mut admin)
            .unwrap();
        if list.lines().count() == 8 {
            break;
        }
        assert!(Instant::now() < deadline, "{list}");
        thread::sleep(Duration::from_millis(20));
    }
    let last: i64 = redis::cmd("PUBLISH")
        .arg("firehose")
        .arg("end")
        .query(&mut admin)
        .unwrap();
    assert_eq!(last, 8, "only the readers are left");
    assert_eq!(receivers[0], 16);
    for reader in readers {
        assert_eq!(reader.join().unwrap(), MESSAGES);
    }
    // Each sleeper's connection was closed by the server.
    for s in &mut sleepers {
        s.set_reply_timeout(Duration::from_secs(10)).unwrap();
        let mut drained = 0;
        while s.read_reply().is_ok() {
            drained += 1;
        }
        assert!(drained < MESSAGES, "a sleeper got everything");
    }
}

/// Keys spread over the shards of a four-shard server, one per shard in turn.
fn keys_on_every_shard(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key:{i}")).collect()
}

#[test]
fn keyspace_events_of_every_shard_reach_every_subscriber_in_order() {
    let server = Server::tessera_threads(4, &[]);
    let mut writer = client(server.port);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEA")
        .query(&mut writer)
        .unwrap();
    let mut conns: Vec<redis::Connection> = (0..SUBSCRIBERS).map(|_| client(server.port)).collect();
    let mut subs: Vec<redis::PubSub> = conns.iter_mut().map(|c| c.as_pubsub()).collect();
    for sub in &mut subs {
        sub.psubscribe("__key*__:*").unwrap();
        sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let keys = keys_on_every_shard(100);
    let shards: std::collections::HashSet<usize> = keys
        .iter()
        .map(|k| tessera::slot::key_owner(k.as_bytes(), 4))
        .collect();
    assert_eq!(shards.len(), 4);
    // One client's writes, one after another: every subscriber sees their events in the
    // order they were made, a key's keyspace message before its keyevent one.
    let mut expected = Vec::new();
    for key in &keys {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .query(&mut writer)
            .unwrap();
        expected.push((format!("__keyspace@0__:{key}"), "set".to_string()));
        expected.push(("__keyevent@0__:set".to_string(), key.clone()));
        let _: i64 = redis::cmd("DEL").arg(key).query(&mut writer).unwrap();
        expected.push((format!("__keyspace@0__:{key}"), "del".to_string()));
        expected.push(("__keyevent@0__:del".to_string(), key.clone()));
    }
    for (i, sub) in subs.iter_mut().enumerate() {
        for want in &expected {
            let msg = sub.get_message().unwrap();
            let got = (
                msg.get_channel_name().to_string(),
                msg.get_payload().unwrap(),
            );
            assert_eq!(&got, want, "subscriber {i}");
        }
    }
}

#[test]
fn keys_that_expire_are_announced_by_the_active_cycle_and_on_access() {
    let server = Server::tessera_threads(4, &[]);
    let mut admin = client(server.port);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("Ex")
        .query(&mut admin)
        .unwrap();
    let mut conn = client(server.port);
    let mut sub = conn.as_pubsub();
    sub.subscribe("__keyevent@0__:expired").unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Nobody touches it: the shard's active expiry cycle finds it.
    let _: () = redis::cmd("PSETEX")
        .arg("a")
        .arg(50)
        .arg(1)
        .query(&mut admin)
        .unwrap();
    let payload: String = sub.get_message().unwrap().get_payload().unwrap();
    assert_eq!(payload, "a");
    // With the cycle off, a read finds it expired.
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(0)
        .query(&mut admin)
        .unwrap();
    let _: () = redis::cmd("PSETEX")
        .arg("b")
        .arg(20)
        .arg(1)
        .query(&mut admin)
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    let value: Option<String> = redis::cmd("GET").arg("b").query(&mut admin).unwrap();
    assert_eq!(value, None);
    let payload: String = sub.get_message().unwrap().get_payload().unwrap();
    assert_eq!(payload, "b");
}
