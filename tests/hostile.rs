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

#[test]
fn maxclients_refuses_the_client_past_it_as_redis_does() {
    let tessera = Server::tessera(&["--maxclients", "3"]);
    let mut admitted: Vec<_> = (0..3).map(|_| tessera.connect()).collect();
    for c in &mut admitted {
        assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n");
    }
    // The fourth hears why and is closed, on whichever shard it landed.
    let mut refused = tessera.connect();
    assert_eq!(
        refused.read_reply().unwrap(),
        b"-ERR max number of clients reached\r\n"
    );
    // One leaves, another may come.
    admitted.pop();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut next = loop {
        let mut c = tessera.connect();
        match c.command(&["PING"]) {
            Ok(reply) if reply == b"+PONG\r\n" => break c,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("no room after a client left: {other:?}"),
        }
    };
    // The refused one, and any retry above that came before the leaver was gone.
    let info = text(next.command(&["INFO", "stats"]).unwrap());
    let rejected: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("rejected_connections:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rejected_connections in {info}"));
    assert!(rejected >= 1, "{info}");
    // Raised at run time: room for more.
    assert_eq!(
        next.command(&["CONFIG", "SET", "maxclients", "10"])
            .unwrap(),
        b"+OK\r\n"
    );
    let mut more: Vec<_> = (0..5).map(|_| tessera.connect()).collect();
    for c in &mut more {
        assert_eq!(c.command(&["PING"]).unwrap(), b"+PONG\r\n");
    }
}

#[test]
fn maxclients_fits_the_descriptor_limit_at_start() {
    let tessera = Server::tessera(&["--maxclients", "10000000"]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", tessera.pid())).unwrap();
    let open_files: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap();
    // Two shards keep 32 + 2 * 8 descriptors for themselves.
    let fitted = open_files.min(10_000_000 + 48) - 48;
    let reply = text(
        tessera
            .connect()
            .command(&["CONFIG", "GET", "maxclients"])
            .unwrap(),
    );
    assert_eq!(
        reply,
        format!(
            "*2\r\n$10\r\nmaxclients\r\n${}\r\n{fitted}\r\n",
            fitted.to_string().len()
        )
    );
    if fitted < 10_000_000 {
        assert!(tessera.logs().contains("maxclients has been reduced to"));
        let refused = text(
            tessera
                .connect()
                .command(&["CONFIG", "SET", "maxclients", "10000000"])
                .unwrap(),
        );
        assert_eq!(refused, format!("-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with {fitted}\r\n"));
    }
}
