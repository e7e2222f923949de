//! Protocol edge cases over raw sockets against the real binary: split reads, pipelining,
//! inline commands, binary keys, hostile length headers. Byte-exact expectations are Redis's.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{encode_command, Server};

#[test]
fn a_request_split_at_every_byte_still_parses() {
    let server = Server::tessera(&[]);
    let mut c = server.connect();
    let request = encode_command(&["SET", "split-key", "a value with spaces"]);
    for chunk in request.chunks(1) {
        c.send_raw(chunk).unwrap();
    }
    assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
    for size in [2, 3, 5, 7, 11] {
        let request = encode_command(&["GET", "split-key"]);
        for chunk in request.chunks(size) {
            c.send_raw(chunk).unwrap();
        }
        assert_eq!(c.read_reply().unwrap(), b"$19\r\na value with spaces\r\n");
    }
}

#[test]
fn pipelined_replies_come_back_in_order_across_shards() {
    let server = Server::tessera_threads(4, &[]);
    let mut c = server.connect();
    let mut batch = Vec::new();
    for i in 0..500 {
        batch.extend(encode_command(&[
            "SET",
            &format!("key:{i}"),
            &i.to_string(),
        ]));
        batch.extend(encode_command(&["GET", &format!("key:{i}")]));
    }
    c.send_raw(&batch).unwrap();
    for i in 0..500 {
        assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
        let v = i.to_string();
        assert_eq!(
            c.read_reply().unwrap(),
            format!("${}\r\n{}\r\n", v.len(), v).into_bytes()
        );
    }
}

#[test]
fn inline_commands_work_as_in_telnet() {
    let server = Server::tessera(&[]);
    let mut c = server.connect();
    c.send_raw(b"SET inline \"hello world\"\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap(), b"+OK\r\n");
    c.send_raw(b"GET inline\n").unwrap();
    assert_eq!(c.read_reply().unwrap(), b"$11\r\nhello world\r\n");
    c.send_raw(b"\r\n\r\nPING\r\n").unwrap();
    assert_eq!(c.read_reply().unwrap(), b"+PONG\r\n");
}

#[test]
fn binary_keys_and_values_round_trip() {
    let server = Server::tessera(&[]);
    let mut c = server.connect();
    let key: Vec<u8> = (0..=255u8).collect();
    let value: Vec<u8> = (0..=255u8).rev().cycle().take(1000).collect();
    assert_eq!(c.command(&[&b"SET"[..], &key, &value]).unwrap(), b"+OK\r\n");
    let mut expected = format!("${}\r\n", value.len()).into_bytes();
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(c.command(&[&b"GET"[..], &key]).unwrap(), expected);
}

#[test]
fn a_huge_bulk_header_allocates_nothing_and_is_refused_past_the_limit() {
    let server = Server::tessera(&[]);
    // Announce 500 MB and send nothing: the server must keep serving others meanwhile, and its
    // resident memory must not jump. (Like Redis, it reserves room for the whole argument at
    // once, so that a big value is not grown step by step; the room is only address space
    // until the bytes arrive, and Redis's used_memory shows it too.)
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .expect("VmRSS")
            * 1024
    };
    let before = rss();
    let mut waiting = server.connect();
    waiting
        .send_raw(b"*2\r\n$3\r\nGET\r\n$524288000\r\n")
        .unwrap();
    let mut other = server.connect();
    assert_eq!(other.command(&["PING"]).unwrap(), b"+PONG\r\n");
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 100 << 20,
        "a length header must not take memory: RSS grew by {grown}"
    );
    // Past proto-max-bulk-len: Redis's error, then the connection is closed.
    let mut bad = server.connect();
    bad.send_raw(b"*2\r\n$3\r\nGET\r\n$9999999999\r\n").unwrap();
    assert_eq!(
        bad.read_reply().unwrap(),
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
}

#[test]
fn protocol_errors_reply_and_close() {
    let server = Server::tessera(&[]);
    let cases: [(&[u8], &[u8]); 3] = [
        (
            b"*1\r\n+PING\r\n",
            b"-ERR Protocol error: expected '$', got '+'\r\n",
        ),
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"SET \"unbalanced\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (request, reply) in cases {
        let mut c = server.connect();
        c.send_raw(request).unwrap();
        assert_eq!(
            c.read_reply().unwrap(),
            reply,
            "for {:?}",
            String::from_utf8_lossy(request)
        );
        c.set_reply_timeout(Duration::from_secs(5)).unwrap();
        // The server closes the connection after a protocol error.
        let started = Instant::now();
        let mut rest = Vec::new();
        let mut stream = c.into_stream();
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty() && started.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn resp3_after_hello() {
    let server = Server::tessera(&[]);
    let mut c = server.connect();
    let hello = c.command(&["HELLO", "3"]).unwrap();
    assert!(
        hello.starts_with(b"%7\r\n"),
        "HELLO 3 replies with a map: {:?}",
        String::from_utf8_lossy(&hello)
    );
    assert_eq!(c.command(&["GET", "missing"]).unwrap(), b"_\r\n");
    c.command(&["SET", "n", "1"]).unwrap();
    assert_eq!(
        c.command(&["INCRBYFLOAT", "n", "0.5"]).unwrap(),
        b"$3\r\n1.5\r\n"
    );
}
