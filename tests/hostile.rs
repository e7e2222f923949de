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

#[test]
fn idle_clients_are_closed_after_timeout_but_blocked_ones_are_not() {
    let tessera = Server::tessera(&[]);
    let mut admin = tessera.connect();
    let mut idle = tessera.connect();
    let mut blocked = tessera.connect();
    assert_eq!(idle.command(&["PING"]).unwrap(), b"+PONG\r\n");
    blocked.send(&["BLPOP", "nothing", "0"]).unwrap();
    assert_eq!(
        admin.command(&["CONFIG", "SET", "timeout", "1"]).unwrap(),
        b"+OK\r\n"
    );
    // Redis closes a client idle for more than `timeout` seconds within its next cron ticks.
    let mut stream = idle.into_stream();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut stream, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the idle client got data instead of end of file");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The blocked client still waits, and is served when its list gets an element. (The
    // first admin connection was idle as long, and is gone too.)
    drop(admin);
    let mut admin = tessera.connect();
    admin.command(&["CONFIG", "SET", "timeout", "0"]).unwrap();
    admin.command(&["RPUSH", "nothing", "x"]).unwrap();
    assert_eq!(
        blocked.read_reply().unwrap(),
        b"*2\r\n$7\r\nnothing\r\n$1\r\nx\r\n"
    );
}

#[test]
fn client_sockets_get_tcp_keepalive_as_redis_sets_it() {
    let tessera = Server::tessera(&["--tcp-keepalive", "60"]);
    let mut conn = tessera.connect();
    assert_eq!(conn.command(&["PING"]).unwrap(), b"+PONG\r\n");
    // The server's end of this connection in /proc/net/tcp: its timer field ("tr:when") is
    // 02 while a keepalive timer is armed (an idle socket without keepalive has 00).
    let stream = conn.into_stream();
    let client_port = stream.local_addr().unwrap().port();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let line = table
        .lines()
        .find(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 5
                && f[1].ends_with(&format!(":{:04X}", tessera.port))
                && f[2].ends_with(&format!(":{client_port:04X}"))
        })
        .unwrap_or_else(|| panic!("the server's socket is not in /proc/net/tcp:\n{table}"));
    let timer = line.split_whitespace().nth(5).unwrap();
    assert!(timer.starts_with("02:"), "no keepalive timer: {line}");
    drop(stream);
}

/// Connects to `port` on 127.0.0.1 from the source address 127.0.0.2: not Redis's loopback
/// client, though on the loopback interface.
fn connect_from_127_0_0_2(port: u16) -> common::RawConn {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(
        &"127.0.0.2:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    common::RawConn::from_stream(sock.into()).unwrap()
}

#[test]
fn protected_mode_denies_other_addresses_as_redis_does() {
    let redis = Server::redis(&[]);
    let tessera = Server::tessera(&[]);
    let expected = connect_from_127_0_0_2(redis.port).read_reply().unwrap();
    assert!(expected.starts_with(b"-DENIED Redis is running in protected mode"));
    assert_eq!(
        text(connect_from_127_0_0_2(tessera.port).read_reply().unwrap()),
        text(expected)
    );
    // Turned off from the loopback address, or with a password set, the client is served.
    let mut admin = tessera.connect();
    admin
        .command(&["CONFIG", "SET", "protected-mode", "no"])
        .unwrap();
    let mut outside = connect_from_127_0_0_2(tessera.port);
    assert_eq!(outside.command(&["PING"]).unwrap(), b"+PONG\r\n");
    admin
        .command(&["CONFIG", "SET", "protected-mode", "yes"])
        .unwrap();
    admin
        .command(&["CONFIG", "SET", "requirepass", "secret"])
        .unwrap();
    let mut outside = connect_from_127_0_0_2(tessera.port);
    assert_eq!(
        text(outside.command(&["PING"]).unwrap()),
        "-NOAUTH Authentication required.\r\n"
    );
}

/// A RESP bulk string of `n` bytes, whole.
fn bulk_of(n: usize) -> usize {
    format!("${n}\r\n").len() + n + 2
}

/// `n` pipelined GETs of the key `big`, as one buffer.
fn gets_of_big(n: usize) -> Vec<u8> {
    common::encode_command(&["GET", "big"]).repeat(n)
}

/// The server's resident memory, from /proc.
fn rss_bytes(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

fn set_output_limit(admin: &mut common::RawConn, limit: &str) {
    let reply = admin
        .command(&["CONFIG", "SET", "client-output-buffer-limit", limit])
        .unwrap();
    assert_eq!(reply, b"+OK\r\n");
}

/// Whether a client named `name` is still connected, asked over `admin`.
fn connected(admin: &mut common::RawConn, name: &str) -> bool {
    text(admin.command(&["CLIENT", "LIST"]).unwrap()).contains(&format!("name={name} "))
}

/// Waits up to ten seconds for `done`.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_client_that_never_reads_is_closed_at_its_output_limit_while_others_keep_working() {
    for server in [Server::redis(&[]), Server::tessera(&[])] {
        let mut admin = server.connect();
        let big = "x".repeat(1 << 20);
        admin.command(&["SET", "big", &big]).unwrap();
        set_output_limit(&mut admin, "normal 32mb 0 0");
        let before = rss_bytes(&server);
        // 1,000 GETs of 1 MB asked and never read: 1 GB of replies, were they all kept.
        let mut hog = server.connect();
        hog.command(&["CLIENT", "SETNAME", "hog"]).unwrap();
        let requests = gets_of_big(1000);
        let mut stream = hog.into_stream();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The server may close the socket while the requests are still going in.
        let _ = std::io::Write::write_all(&mut stream, &requests);
        assert!(
            eventually(|| !connected(&mut admin, "hog")),
            "{}: the client past its hard limit is still connected",
            server.label
        );
        assert_eq!(admin.command(&["PING"]).unwrap(), b"+PONG\r\n");
        assert_eq!(admin.command(&["STRLEN", "big"]).unwrap(), b":1048576\r\n");
        let grown = rss_bytes(&server).saturating_sub(before);
        assert!(
            grown < 200 << 20,
            "{}: memory grew by {grown} bytes for a client limited to 32 MB",
            server.label
        );
    }
}

#[test]
fn a_single_reply_past_the_hard_limit_is_never_sent() {
    // Redis's "No response for single command if client output buffer hard limit is
    // enforced": the reply is refused whole, before any of it leaves.
    for server in [Server::redis(&[]), Server::tessera(&[])] {
        let mut admin = server.connect();
        let item = "x".repeat(1000);
        for _ in 0..150 {
            admin.command(&["RPUSH", "mylist", &item]).unwrap();
        }
        set_output_limit(&mut admin, "normal 100000 0 0");
        let mut c = server.connect();
        c.command(&["CLIENT", "SETNAME", "reader"]).unwrap();
        c.send(&["LRANGE", "mylist", "0", "-1"]).unwrap();
        let mut stream = c.into_stream();
        let mut got = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut got);
        assert!(got.is_empty(), "{}: got {} bytes", server.label, got.len());
        assert!(!connected(&mut admin, "reader"));
        // A reply under the limit still goes out whole.
        let mut c = server.connect();
        let reply = c.command(&["LRANGE", "mylist", "0", "49"]).unwrap();
        assert_eq!(reply.len(), "*50\r\n".len() + 50 * bulk_of(1000));
    }
}

#[test]
fn the_soft_output_limit_closes_a_client_that_stays_over_it_even_without_traffic() {
    for server in [Server::redis(&[]), Server::tessera(&[])] {
        let mut admin = server.connect();
        admin
            .command(&["SET", "big", &"x".repeat(1 << 20)])
            .unwrap();
        set_output_limit(&mut admin, "normal 0 1mb 1");
        let mut slow = server.connect();
        slow.command(&["CLIENT", "SETNAME", "slow"]).unwrap();
        // Enough replies to stay past 1 MB even after the kernel's socket buffers took
        // their share; then nothing more is asked.
        let requests = gets_of_big(64);
        slow.send_raw(&requests).unwrap();
        let started = Instant::now();
        assert!(
            eventually(|| !connected(&mut admin, "slow")),
            "{}: still connected",
            server.label
        );
        // Not at once: only after more than the soft limit's second.
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{}: closed after {:?}",
            server.label,
            started.elapsed()
        );
    }
}

#[test]
fn a_long_pipeline_written_before_any_read_is_served_whole_as_by_redis() {
    // Without an output limit Redis keeps reading and buffering; a client that writes all
    // its requests before reading must not wait for ever.
    for server in [Server::redis(&[]), Server::tessera(&[])] {
        let mut c = server.connect();
        let value = "v".repeat(1 << 20);
        c.command(&["SET", "big", &value]).unwrap();
        let requests = gets_of_big(64);
        // 64 MB of replies, more than any socket buffer holds.
        let mut stream = c.into_stream();
        stream
            .set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        std::io::Write::write_all(&mut stream, &requests)
            .unwrap_or_else(|e| panic!("{}: the server stopped reading: {e}", server.label));
        let mut c = common::RawConn::from_stream(stream).unwrap();
        for _ in 0..64 {
            assert_eq!(c.read_reply().unwrap().len(), bulk_of(1 << 20));
        }
    }
}

fn omem_of(admin: &mut common::RawConn, name: &str) -> u64 {
    let list = text(admin.command(&["CLIENT", "LIST"]).unwrap());
    let line = list
        .lines()
        .find(|l| l.contains(&format!("name={name} ")))
        .expect("the client is listed")
        .to_owned();
    let field = line
        .split(' ')
        .find_map(|f| f.strip_prefix("omem="))
        .unwrap();
    field.parse().unwrap()
}

fn info_number(admin: &mut common::RawConn, section: &str, field: &str) -> u64 {
    let info = text(admin.command(&["INFO", section]).unwrap());
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
}

#[test]
fn client_list_shows_the_unsent_replies_as_omem() {
    let tessera = Server::tessera(&[]);
    let mut admin = tessera.connect();
    admin
        .command(&["SET", "big", &"x".repeat(1 << 20)])
        .unwrap();
    let mut slow = tessera.connect();
    slow.command(&["CLIENT", "SETNAME", "slow"]).unwrap();
    let requests = gets_of_big(32);
    slow.send_raw(&requests).unwrap();
    assert!(eventually(|| omem_of(&mut admin, "slow") > 16 << 20));
    assert!(eventually(|| info_number(
        &mut admin,
        "clients",
        "client_recent_max_output_buffer"
    ) > 16 << 20));
    // Read everything: the queue drains to nothing.
    for _ in 0..32 {
        assert_eq!(slow.read_reply().unwrap().len(), bulk_of(1 << 20));
    }
    assert!(eventually(|| omem_of(&mut admin, "slow") == 0));
}
