//! SLOWLOG, LATENCY and MONITOR on a four-shard server, with clients and keys on every shard:
//! one slow log with unique ids newest first, histograms added up over the shards, every
//! shard's commands on a monitor in Redis's line format. Replies whose content is fixed are
//! compared with Redis in tests/scripts/introspection.redis.

mod common;

use std::time::Duration;

use common::{RawConn, Server};

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn run(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap()
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn items(v: redis::Value) -> Vec<redis::Value> {
    match v {
        redis::Value::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

/// Enough connections that the kernel spreads them over all four shards (see tests/pubsub.rs).
const CLIENTS: usize = 16;

#[test]
fn one_slow_log_for_every_shard() {
    let server = Server::tessera_threads(4, &["--slowlog-log-slower-than", "0"]);
    let mut conns: Vec<redis::Connection> = (0..CLIENTS).map(|_| client(server.port)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        run(c, &["CLIENT", "SETNAME", &format!("c{i}")]);
    }
    run(&mut conns[0], &["SLOWLOG", "RESET"]);
    for (i, c) in conns.iter_mut().enumerate() {
        // Keys of every shard, from clients of every shard.
        run(c, &["SET", &format!("key{i}"), &i.to_string()]);
    }
    let entries = items(run(&mut conns[0], &["SLOWLOG", "GET", "-1"]));
    // The SETs and the RESET, newest first, ids unique and falling.
    assert_eq!(entries.len(), CLIENTS + 1, "{entries:?}");
    let mut last_id = i64::MAX;
    for (n, entry) in entries.into_iter().enumerate() {
        let fields = items(entry);
        assert_eq!(fields.len(), 6);
        let id: i64 = text(&fields[0]).parse().unwrap();
        assert!(id < last_id, "ids fall: {id} after {last_id}");
        last_id = id;
        let args: Vec<String> = items(fields[3].clone()).iter().map(text).collect();
        let peer = text(&fields[4]);
        assert!(peer.starts_with("127.0.0.1:"), "{peer}");
        if n == CLIENTS {
            assert_eq!(args, ["SLOWLOG", "RESET"]);
            continue;
        }
        let i = CLIENTS - 1 - n;
        assert_eq!(args, ["SET", &format!("key{i}"), &i.to_string()]);
        assert_eq!(text(&fields[5]), format!("c{i}"));
    }
    assert_eq!(
        run(&mut conns[3], &["SLOWLOG", "LEN"]),
        redis::Value::Int(CLIENTS as i64 + 2)
    );
}

#[test]
fn slow_log_keeps_little_of_long_commands_and_nothing_secret() {
    let server = Server::tessera_threads(2, &["--slowlog-log-slower-than", "0"]);
    let mut c = client(server.port);
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut sadd = vec!["SADD", "s"];
    sadd.extend(many.iter().map(String::as_str));
    run(&mut c, &sadd);
    let long = "x".repeat(200);
    run(&mut c, &["SET", "k", &long]);
    run(&mut c, &["CONFIG", "SET", "requirepass", "secret"]);
    run(&mut c, &["AUTH", "secret"]);
    run(&mut c, &["CONFIG", "SET", "requirepass", ""]);
    let entries = items(run(&mut c, &["SLOWLOG", "GET", "5"]));
    let args = |n: usize| -> Vec<String> {
        items(items(entries[n].clone())[3].clone())
            .iter()
            .map(text)
            .collect()
    };
    assert_eq!(args(0), ["CONFIG", "SET", "requirepass", "(redacted)"]);
    assert_eq!(args(1), ["AUTH", "(redacted)"]);
    assert_eq!(args(2), ["CONFIG", "SET", "requirepass", "(redacted)"]);
    assert_eq!(
        args(3),
        [
            "SET",
            "k",
            &format!("{}... (72 more bytes)", "x".repeat(128))
        ]
    );
    let sadd = args(4);
    assert_eq!(sadd.len(), 32);
    assert_eq!(sadd[30], "28");
    assert_eq!(sadd[31], "... (11 more arguments)");
}

#[test]
fn blocked_time_is_not_a_command_s_duration() {
    let server = Server::tessera_threads(2, &["--slowlog-log-slower-than", "100000"]);
    let mut c = client(server.port);
    // Waits 0.3 s for nothing, as Redis does without counting it.
    run(&mut c, &["BLPOP", "nothing", "0.3"]);
    run(&mut c, &["DEBUG", "SLEEP", "0.2"]);
    let entries = items(run(&mut c, &["SLOWLOG", "GET"]));
    assert_eq!(entries.len(), 1, "{entries:?}");
    let fields = items(entries[0].clone());
    assert_eq!(text(&items(fields[3].clone())[0]), "DEBUG");
}

#[test]
fn latency_samples_and_histograms() {
    let server = Server::tessera_threads(4, &["--latency-monitor-threshold", "50"]);
    let mut conns: Vec<redis::Connection> = (0..CLIENTS).map(|_| client(server.port)).collect();
    run(&mut conns[0], &["CONFIG", "RESETSTAT"]);
    for (i, c) in conns.iter_mut().enumerate() {
        run(c, &["SET", &format!("key{i}"), "v"]);
        run(c, &["GET", &format!("key{i}")]);
    }
    // Every shard's calls, in one histogram per command.
    let histograms = items(run(&mut conns[1], &["LATENCY", "HISTOGRAM", "set", "get"]));
    assert_eq!(histograms.len(), 4, "{histograms:?}");
    assert_eq!(text(&histograms[0]), "set");
    assert_eq!(text(&histograms[2]), "get");
    for h in [&histograms[1], &histograms[3]] {
        let fields = items(h.clone());
        assert_eq!(text(&fields[0]), "calls");
        assert_eq!(fields[1], redis::Value::Int(CLIENTS as i64));
        let buckets = items(fields[3].clone());
        // Cumulative: the last bucket counts every call.
        assert_eq!(buckets.last(), Some(&redis::Value::Int(CLIENTS as i64)));
    }
    run(&mut conns[2], &["DEBUG", "SLEEP", "0.1"]);
    let latest = items(run(&mut conns[3], &["LATENCY", "LATEST"]));
    assert_eq!(latest.len(), 1, "{latest:?}");
    let event = items(latest[0].clone());
    assert_eq!(text(&event[0]), "command");
    let latency: i64 = text(&event[2]).parse().unwrap();
    assert!((100..1000).contains(&latency), "{latency}");
    let history = items(run(&mut conns[0], &["LATENCY", "HISTORY", "command"]));
    assert_eq!(history.len(), 1);
    let graph = text(&run(&mut conns[0], &["LATENCY", "GRAPH", "command"]));
    assert!(graph.starts_with("command - high "), "{graph}");
    let doctor = text(&run(&mut conns[0], &["LATENCY", "DOCTOR"]));
    assert!(doctor.contains("command"), "{doctor}");
    assert_eq!(
        run(&mut conns[0], &["LATENCY", "RESET"]),
        redis::Value::Int(1)
    );
    assert_eq!(
        run(&mut conns[0], &["LATENCY", "LATEST"]),
        redis::Value::Array(vec![])
    );
}

/// Reads monitor lines until one contains `needle`; returns those read.
fn lines_until(monitor: &mut RawConn, needle: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = String::from_utf8(monitor.read_reply().unwrap()).unwrap();
        let done = line.contains(needle);
        lines.push(line);
        if done {
            return lines;
        }
    }
}

#[test]
fn monitor_sees_every_shard_in_redis_s_format() {
    let server = Server::tessera_threads(4, &[]);
    let mut monitors: Vec<RawConn> = (0..4).map(|_| server.connect()).collect();
    for m in &mut monitors {
        m.send(&["MONITOR"]).unwrap();
        assert_eq!(m.read_reply().unwrap(), b"+OK\r\n");
    }
    let mut conns: Vec<redis::Connection> = (0..CLIENTS).map(|_| client(server.port)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        run(c, &["SET", &format!("key{i}"), "a\"b\n"]);
    }
    run(&mut conns[0], &["SELECT", "2"]);
    run(
        &mut conns[0],
        &["EVAL", "return redis.call('get', KEYS[1])", "1", "x"],
    );
    run(&mut conns[0], &["CONFIG", "GET", "port"]);
    // Refused (no password is set), and shown all the same, as by Redis.
    let refused: redis::RedisResult<redis::Value> =
        redis::cmd("AUTH").arg("nopass").query(&mut conns[0]);
    assert!(refused.is_err());
    for m in &mut monitors {
        // Each client's commands in its order; all clients' in some order.
        let sets: Vec<String> = (0..CLIENTS)
            .map(|_| String::from_utf8(m.read_reply().unwrap()).unwrap())
            .collect();
        for line in &sets {
            assert!(line.contains("\"SET\" \"key"), "{line}");
            assert!(
                line.starts_with('+') && line.ends_with("\"a\\\"b\\n\"\r\n"),
                "{line}"
            );
            let (time, rest) = line[1..].split_once(' ').unwrap();
            let (secs, micros) = time.split_once('.').unwrap();
            assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{line}");
            assert!(rest.starts_with("[0 127.0.0.1:"), "{line}");
        }
        let rest = lines_until(m, "\"AUTH\"");
        // Shown with the database the command leaves, as Redis shows SELECT.
        assert!(rest[0].contains("[2 127.0.0.1:") && rest[0].ends_with("\"SELECT\" \"2\"\r\n"));
        assert!(rest[1].contains("[2 127.0.0.1:") && rest[1].contains("\"EVAL\""));
        // The script's command after the script, as its own client; CONFIG is not shown.
        assert!(rest[2].contains("[2 lua] \"get\" \"x\""), "{rest:?}");
        assert!(rest[3].ends_with("\"AUTH\" \"(redacted)\"\r\n"), "{rest:?}");
    }
    // A monitor may not touch the keyspace; RESET ends monitoring.
    let m = &mut monitors[0];
    m.send(&["GET", "k"]).unwrap();
    assert_eq!(
        m.read_reply().unwrap(),
        b"-ERR Replica can't interact with the keyspace\r\n"
    );
    m.send(&["RESET"]).unwrap();
    assert_eq!(m.read_reply().unwrap(), b"+RESET\r\n");
    run(&mut conns[1], &["PING"]);
    m.send(&["ECHO", "after"]).unwrap();
    assert_eq!(m.read_reply().unwrap(), b"$5\r\nafter\r\n");
    // The others still hear it.
    let line = lines_until(&mut monitors[1], "PING");
    assert!(line.last().unwrap().ends_with("\"PING\"\r\n"));
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn monitor_shows_a_transaction_in_its_order() {
    let server = Server::tessera_threads(4, &[]);
    let mut monitor = server.connect();
    monitor.send(&["MONITOR"]).unwrap();
    monitor.read_reply().unwrap();
    let mut c = client(server.port);
    let mut pipe = redis::pipe();
    pipe.atomic();
    // Keys on different shards, run as one hop per shard.
    for k in ["{a}", "{b}", "{c}", "{d}", "{a}2", "{b}2"] {
        pipe.cmd("SET").arg(k).arg("v").ignore();
    }
    let () = pipe.query(&mut c).unwrap();
    let lines = lines_until(&mut monitor, "\"EXEC\"");
    let shown: Vec<&str> = lines
        .iter()
        .map(|l| l.split_once("] ").unwrap().1.trim_end())
        .collect();
    assert_eq!(
        shown,
        [
            "\"MULTI\"",
            "\"SET\" \"{a}\" \"v\"",
            "\"SET\" \"{b}\" \"v\"",
            "\"SET\" \"{c}\" \"v\"",
            "\"SET\" \"{d}\" \"v\"",
            "\"SET\" \"{a}2\" \"v\"",
            "\"SET\" \"{b}2\" \"v\"",
            "\"EXEC\"",
        ]
    );
}
