//! Blocking commands against the real binary with four shards: every element pushed is popped
//! exactly once, whatever the mix of producers, blocked consumers, timeouts and disconnects;
//! waiters are served in the order they blocked; CLIENT UNBLOCK; moves across shards.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::Server;
use redis::Value;

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Keys that live on different shards of a four-shard server.
fn spread_keys(prefix: &str, n: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let mut shards = HashSet::new();
    let mut i = 0;
    while keys.len() < n {
        let k = format!("{prefix}:{i}");
        let shard = tessera::slot::key_owner(k.as_bytes(), 4);
        if shards.len() < 4 && shards.insert(shard) || shards.len() == 4 {
            keys.push(k);
        }
        i += 1;
    }
    keys
}

fn wait_blocked(port: u16, n: usize) {
    let mut c = client(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
        let blocked: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        if blocked >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{blocked} of {n} clients blocked"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Producers push numbered elements onto keys of every shard while consumers pop them with
/// BLPOP/BRPOP/BLMPOP over several keys, some with short timeouts, some dropping their
/// connection mid-wait. At the end, what was consumed plus what is left is exactly what was
/// produced: nothing lost, nothing twice.
#[test]
fn every_element_is_consumed_exactly_once() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let keys = spread_keys("q", 8);
    const PRODUCERS: usize = 4;
    const PER_PRODUCER: usize = 2000;
    const CONSUMERS: usize = 8;
    let consumed = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let timeouts = Arc::new(AtomicUsize::new(0));

    let mut consumers = Vec::new();
    for c in 0..CONSUMERS {
        let (keys, consumed, done, timeouts) = (
            keys.clone(),
            consumed.clone(),
            done.clone(),
            timeouts.clone(),
        );
        consumers.push(thread::spawn(move || {
            let mut conn = client(port);
            let mut round = 0usize;
            loop {
                round += 1;
                // Every few rounds, wait on a fresh connection and drop it mid-wait: a client
                // that leaves must not take an element with it.
                if round.is_multiple_of(50) {
                    let mut raw = common::RawConn::connect(port).unwrap();
                    raw.send(&["BLPOP", "never:pushed", "0"]).unwrap();
                    drop(raw);
                }
                let mine: Vec<&String> = keys.iter().skip(c % 3).step_by(2).collect();
                let timeout = if round.is_multiple_of(3) {
                    "0.01"
                } else {
                    "0.2"
                };
                let reply: Value = match c % 3 {
                    0 => redis::cmd("BLPOP").arg(&mine).arg(timeout).query(&mut conn),
                    1 => redis::cmd("BRPOP").arg(&mine).arg(timeout).query(&mut conn),
                    _ => redis::cmd("BLMPOP")
                        .arg(timeout)
                        .arg(mine.len())
                        .arg(&mine)
                        .arg("LEFT")
                        .arg("COUNT")
                        .arg(3)
                        .query(&mut conn),
                }
                .unwrap();
                let got = popped(reply);
                if got.is_empty() {
                    timeouts.fetch_add(1, Ordering::Relaxed);
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                }
                consumed.lock().unwrap().extend(got);
            }
        }));
    }
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let keys = keys.clone();
        producers.push(thread::spawn(move || {
            let mut conn = client(port);
            for i in 0..PER_PRODUCER {
                let key = &keys[(i * 7 + p) % keys.len()];
                let () = redis::cmd("RPUSH")
                    .arg(key)
                    .arg(format!("{p}:{i}"))
                    .query(&mut conn)
                    .unwrap();
            }
        }));
    }
    for p in producers {
        p.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for c in consumers {
        c.join().unwrap();
    }
    let mut conn = client(port);
    let mut all = consumed.lock().unwrap().clone();
    for k in &keys {
        let rest: Vec<String> = redis::cmd("LRANGE")
            .arg(k)
            .arg(0)
            .arg(-1)
            .query(&mut conn)
            .unwrap();
        all.extend(rest);
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "no element delivered twice");
    assert_eq!(all.len(), PRODUCERS * PER_PRODUCER, "no element lost");
    assert!(
        timeouts.load(Ordering::Relaxed) > 0,
        "the test exercised timeouts"
    );
}

/// The elements of a BLPOP/BRPOP ([key, element]) or BLMPOP ([key, [elements]]) reply.
fn popped(reply: Value) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
        other => panic!("an element: {other:?}"),
    };
    match reply {
        Value::Nil => Vec::new(),
        Value::Array(items) => match &items[1] {
            Value::Array(elements) => elements.iter().map(text).collect(),
            one => vec![text(one)],
        },
        other => panic!("a pop reply: {other:?}"),
    }
}

/// Clients blocked on one key get its elements in the order they blocked, each one.
#[test]
fn waiters_are_served_in_the_order_they_blocked() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let mut waiters = Vec::new();
    for i in 0..5 {
        let mut raw = common::RawConn::connect(port).unwrap();
        raw.send(&["BLPOP", "fifo", "0"]).unwrap();
        wait_blocked(port, i + 1);
        waiters.push(raw);
    }
    let mut conn = client(port);
    let () = redis::cmd("RPUSH")
        .arg("fifo")
        .arg(&["a", "b", "c", "d", "e"])
        .query(&mut conn)
        .unwrap();
    for (w, expected) in waiters.iter_mut().zip(["a", "b", "c", "d", "e"]) {
        let reply = w.read_reply().unwrap();
        let want = format!("*2\r\n$4\r\nfifo\r\n$1\r\n{expected}\r\n");
        assert_eq!(String::from_utf8_lossy(&reply), want);
    }
}

/// A BLMOVE whose destination is on another shard moves atomically once data arrives.
#[test]
fn blmove_across_shards() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let keys = spread_keys("m", 4);
    let (src, dst) = (&keys[0], &keys[1]);
    assert_ne!(
        tessera::slot::key_owner(src.as_bytes(), 4),
        tessera::slot::key_owner(dst.as_bytes(), 4)
    );
    let mut raw = common::RawConn::connect(port).unwrap();
    raw.send(&["BLMOVE", src, dst, "RIGHT", "LEFT", "5"])
        .unwrap();
    wait_blocked(port, 1);
    let mut conn = client(port);
    let () = redis::cmd("RPUSH")
        .arg(src)
        .arg("x")
        .query(&mut conn)
        .unwrap();
    assert_eq!(raw.read_reply().unwrap(), b"$1\r\nx\r\n");
    let moved: Vec<String> = redis::cmd("LRANGE")
        .arg(dst)
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    assert_eq!(moved, vec!["x"]);
    let left: usize = redis::cmd("LLEN").arg(src).query(&mut conn).unwrap();
    assert_eq!(left, 0);
}

/// CLIENT UNBLOCK ends a wait as a timeout or with an error; a timeout of 0.05 s times out.
#[test]
fn unblock_and_timeouts() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let mut raw = common::RawConn::connect(port).unwrap();
    let id = String::from_utf8(raw.command(&["CLIENT", "ID"]).unwrap()).unwrap();
    let id = id.trim_start_matches(':').trim().to_string();
    raw.send(&["BLPOP", "u1", "u2", "0"]).unwrap();
    wait_blocked(port, 1);
    let mut conn = client(port);
    let n: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(&id)
        .query(&mut conn)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(raw.read_reply().unwrap(), b"*-1\r\n");
    raw.send(&["BZPOPMIN", "u1", "0"]).unwrap();
    wait_blocked(port, 1);
    let n: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(&id)
        .arg("ERROR")
        .query(&mut conn)
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        raw.read_reply().unwrap(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    let n: i64 = redis::cmd("CLIENT")
        .arg("UNBLOCK")
        .arg(&id)
        .query(&mut conn)
        .unwrap();
    assert_eq!(n, 0, "not blocked any more");
    let began = Instant::now();
    assert_eq!(raw.command(&["BRPOP", "u1", "0.05"]).unwrap(), b"*-1\r\n");
    assert!(began.elapsed() >= Duration::from_millis(50));
    // A client that left is no longer counted as blocked.
    let mut gone = common::RawConn::connect(port).unwrap();
    gone.send(&["BLPOP", "u3", "0"]).unwrap();
    wait_blocked(port, 1);
    drop(gone);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut conn).unwrap();
        if info.contains("blocked_clients:0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the departed client still counts as blocked"
        );
        thread::sleep(Duration::from_millis(20));
    }
    // Pushing afterwards leaves the element in place: nobody took it for the departed client.
    let () = redis::cmd("RPUSH")
        .arg("u3")
        .arg("kept")
        .query(&mut conn)
        .unwrap();
    let len: usize = redis::cmd("LLEN").arg("u3").query(&mut conn).unwrap();
    assert_eq!(len, 1);
}

#[test]
fn replies_before_a_blocking_command_arrive_while_it_waits() {
    // One read brings SET, GET and a BLPOP that blocks: Redis sends the first two replies
    // at once, not when the BLPOP is served.
    let server = Server::tessera_threads(4, &[]);
    let mut c = server.connect();
    c.send_raw(b"SET k v\r\nGET k\r\nBLPOP nothing 0\r\n")
        .unwrap();
    assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
    assert_eq!(c.read_reply().unwrap(), b"$1\r\nv\r\n");
    server
        .connect()
        .command(&["RPUSH", "nothing", "x"])
        .unwrap();
    assert_eq!(
        c.read_reply().unwrap(),
        b"*2\r\n$7\r\nnothing\r\n$1\r\nx\r\n"
    );
}
