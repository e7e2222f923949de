//! Hostile and careless clients: requests that once crashed or froze the server. Each runs
//! against Tessera and, where Redis answers at all, against Redis, and the server must stay up
//! and answer PING afterwards.

mod common;

use std::time::{Duration, Instant};

use common::Server;

fn text(reply: Vec<u8>) -> String {
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn huge_negative_random_counts_are_refused_and_the_server_stays_up() {
    let tessera = Server::tessera(&[]);
    let mut t = tessera.connect();
    t.command(&["SADD", "s", "a", "b"]).unwrap();
    t.command(&["ZADD", "z", "1", "a", "2", "b"]).unwrap();
    t.command(&["HSET", "h", "a", "1"]).unwrap();
    for cmd in [
        vec!["SRANDMEMBER", "s", "-9223372036854775807"],
        vec!["ZRANDMEMBER", "z", "-9223372036854775807"],
        vec!["HRANDFIELD", "h", "-9223372036854775807"],
    ] {
        // Redis would stream 2^63 replies until its output-buffer limit or the kernel stops
        // it; Tessera cannot hold that reply and says so instead of aborting.
        assert_eq!(
            text(t.command(&cmd).unwrap()),
            "-ERR value is out of range\r\n",
            "{cmd:?}"
        );
        assert_eq!(t.command(&["PING"]).unwrap(), b"+PONG\r\n");
    }
    // Large but possible counts still work, repeats and all.
    let reply = text(t.command(&["SRANDMEMBER", "s", "-1000"]).unwrap());
    assert!(reply.starts_with("*1000\r\n"), "{reply:.40}");
    let reply = text(
        t.command(&["ZRANDMEMBER", "z", "-1000", "WITHSCORES"])
            .unwrap(),
    );
    assert!(reply.starts_with("*2000\r\n"), "{reply:.40}");
}

#[test]
fn debug_sleep_reads_its_number_as_redis_does() {
    let redis = Server::redis(&[]);
    let tessera = Server::tessera(&[]);
    let (mut r, mut t) = (redis.connect(), tessera.connect());
    // Times a C long long cannot hold, negative ones and non-numbers: Redis replies OK at once.
    for arg in [
        "1e300", "inf", "-inf", "nan", "-1", "abc", "", "0", "0.001", "1e-9",
    ] {
        let started = Instant::now();
        let got = t.command(&["DEBUG", "SLEEP", arg]).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "DEBUG SLEEP {arg} slept"
        );
        assert_eq!(
            text(got),
            text(r.command(&["DEBUG", "SLEEP", arg]).unwrap()),
            "{arg}"
        );
        assert_eq!(
            t.command(&["PING"]).unwrap(),
            b"+PONG\r\n",
            "after DEBUG SLEEP {arg}"
        );
    }
    // A number at the front counts: "0.2s" sleeps 0.2 s in both.
    let started = Instant::now();
    assert_eq!(t.command(&["DEBUG", "SLEEP", "0.2s"]).unwrap(), b"+OK\r\n");
    assert!(started.elapsed() >= Duration::from_millis(200));
}
