//! Scripts and functions against the real binary: atomic across shards with declared keys or
//! undeclared ones, under concurrent clients; durable through kill -9 with `appendfsync
//! always`; functions in RDB files both ways with redis-server; SCRIPT KILL, FUNCTION KILL
//! and BUSY; what DEBUG SET-DISABLE-DENY-SCRIPTS still refuses; SCRIPT FLUSH returning the
//! interpreters' memory. Replies and errors command by command are in
//! tests/scripts/scripting.redis and functions.redis (differential).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, TempDir};

const ACCOUNTS: usize = 8;
const START: i64 = 1000;

fn client(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn account(i: usize) -> String {
    format!("acct:{i}")
}

/// Moves ARGV[3] from account ARGV[1] to ARGV[2], naming keys nowhere in KEYS.
const TRANSFER_UNDECLARED: &str = "
    local from, to, n = 'acct:' .. ARGV[1], 'acct:' .. ARGV[2], tonumber(ARGV[3])
    redis.call('decrby', from, n)
    return redis.call('incrby', to, n)";

/// The same move with its keys declared.
const TRANSFER_DECLARED: &str = "
    redis.call('decrby', KEYS[1], ARGV[1])
    return redis.call('incrby', KEYS[2], ARGV[1])";

/// Sums every account, naming none of them in KEYS.
const TOTAL: &str = "
    local sum = 0
    for i = 0, tonumber(ARGV[1]) - 1 do
        sum = sum + tonumber(redis.call('get', 'acct:' .. i))
    end
    return sum";

#[test]
fn the_accounts_span_several_shards() {
    let shards: std::collections::BTreeSet<usize> = (0..ACCOUNTS)
        .map(|i| tessera::slot::key_owner(account(i).as_bytes(), 4))
        .collect();
    assert!(shards.len() >= 3, "accounts on shards {shards:?}");
}

/// Transfers by EVAL (declared and undeclared keys) and by FCALL run beside readers that sum
/// the accounts by script and by MGET: no reader ever sees money in flight.
#[test]
fn transfers_across_shards_are_never_seen_half_done() {
    let server = Server::tessera_threads(4, &[]);
    let port = server.port;
    let mut c = client(port);
    for i in 0..ACCOUNTS {
        let _: () = redis::cmd("SET")
            .arg(account(i))
            .arg(START)
            .query(&mut c)
            .unwrap();
    }
    let library = format!(
        "#!lua name=bank\nredis.register_function('transfer', function(keys, args) {} end)",
        TRANSFER_UNDECLARED.replace("ARGV", "args")
    );
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(library)
        .query(&mut c)
        .unwrap();
    let expected = START * ACCOUNTS as i64;
    let stop = Arc::new(AtomicBool::new(false));
    let moves = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (stop, moves) = (stop.clone(), moves.clone());
            thread::spawn(move || {
                let mut c = client(port);
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let (from, to) = (i % ACCOUNTS, (i * 7 + 3) % ACCOUNTS);
                    let n = (i % 5 + 1) as i64;
                    let _: i64 = match i % 3 {
                        0 => redis::cmd("EVAL")
                            .arg(TRANSFER_UNDECLARED)
                            .arg(0)
                            .arg(from)
                            .arg(to)
                            .arg(n)
                            .query(&mut c)
                            .unwrap(),
                        1 => redis::cmd("EVAL")
                            .arg(TRANSFER_DECLARED)
                            .arg(2)
                            .arg(account(from))
                            .arg(account(to))
                            .arg(n)
                            .query(&mut c)
                            .unwrap(),
                        _ => redis::cmd("FCALL")
                            .arg("transfer")
                            .arg(0)
                            .arg(from)
                            .arg(to)
                            .arg(n)
                            .query(&mut c)
                            .unwrap(),
                    };
                    moves.fetch_add(1, Ordering::Relaxed);
                    i += 3;
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut c = client(port);
                let names: Vec<String> = (0..ACCOUNTS).map(account).collect();
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    let total: i64 = if r == 0 {
                        redis::cmd("EVAL_RO")
                            .arg(TOTAL)
                            .arg(0)
                            .arg(ACCOUNTS)
                            .query(&mut c)
                            .unwrap()
                    } else {
                        let values: Vec<i64> =
                            redis::cmd("MGET").arg(&names).query(&mut c).unwrap();
                        values.iter().sum()
                    };
                    assert_eq!(total, expected, "a transfer was seen half done");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
    assert!(moves.load(Ordering::Relaxed) > 0);
    let total: i64 = redis::cmd("EVAL")
        .arg(TOTAL)
        .arg(0)
        .arg(ACCOUNTS)
        .query(&mut c)
        .unwrap();
    assert_eq!(total, expected);
}

/// Each client's script writes one value to six keys on every shard and bumps its counter;
/// after kill -9 every acknowledged script is there whole, and the function still loads.
#[test]
fn acknowledged_scripts_survive_kill_9_with_appendfsync_always() {
    let dir = Arc::new(TempDir::new());
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = Server::tessera_in(Some(dir.clone()), 4, &args);
    let port = server.port;
    let library = "#!lua name=stamp\nredis.register_function('stamp', function(keys, args)\n\
        for k = 0, 5 do redis.call('set', 'group:' .. args[1] .. ':' .. k, args[2]) end\n\
        return redis.call('incr', 'count:' .. args[1]) end)";
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(library)
        .query(&mut client(port))
        .unwrap();
    let acked: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(vec![0; 4]));
    let writers: Vec<_> = (0..4)
        .map(|c| {
            let acked = acked.clone();
            thread::spawn(move || {
                let mut con = client(port);
                for i in 1.. {
                    let (command, body) = if i % 2 == 0 {
                        ("EVAL", "for k = 0, 5 do redis.call('set', 'group:' .. ARGV[1] .. ':' .. k, ARGV[2]) end return redis.call('incr', 'count:' .. ARGV[1])")
                    } else {
                        ("FCALL", "stamp")
                    };
                    let reply: redis::RedisResult<i64> =
                        redis::cmd(command).arg(body).arg(0).arg(c).arg(i).query(&mut con);
                    match reply {
                        Ok(n) => acked.lock().unwrap()[c] = n,
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(800));
    server.signal(libc::SIGKILL);
    server.wait_exit(Duration::from_secs(10)).expect("killed");
    for w in writers {
        w.join().expect("writer");
    }
    drop(server);
    let again = Server::tessera_in(Some(dir), 4, &args);
    let mut con = client(again.port);
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.iter().sum::<i64>() > 0,
        "nothing acknowledged before the kill"
    );
    for (c, &n) in acked.iter().enumerate() {
        let count: i64 = redis::cmd("GET")
            .arg(format!("count:{c}"))
            .query::<Option<i64>>(&mut con)
            .unwrap()
            .unwrap_or(0);
        // At most one more: a script applied and logged but not yet acknowledged.
        assert!(
            count == n || count == n + 1,
            "count:{c} {count} vs {n} acknowledged"
        );
        let group: Vec<Option<String>> = (0..6)
            .map(|k| {
                redis::cmd("GET")
                    .arg(format!("group:{c}:{k}"))
                    .query(&mut con)
                    .unwrap()
            })
            .collect();
        assert!(
            group.iter().all(|v| v == &group[0]),
            "half a script for client {c}: {group:?}"
        );
    }
    let n: i64 = redis::cmd("FCALL")
        .arg("stamp")
        .arg(0)
        .arg(9)
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1, "the library came back with the AOF");
}

/// A library saved by Tessera loads in redis-server and the other way round.
#[test]
fn function_libraries_in_rdb_files_interchange_with_redis() {
    let dir = Arc::new(TempDir::new());
    let tessera = Server::tessera_in(Some(dir.clone()), 2, &[]);
    let mut t = client(tessera.port);
    let from_tessera =
        "#!lua name=fromt\nredis.register_function('ft', function() return 'made by tessera' end)";
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(from_tessera)
        .query(&mut t)
        .unwrap();
    let _: () = redis::cmd("SAVE").query(&mut t).unwrap();
    drop(t);
    drop(tessera);

    let redis_server = Server::redis_in(Some(dir.clone()), &[]);
    let mut r = client(redis_server.port);
    let reply: String = redis::cmd("FCALL").arg("ft").arg(0).query(&mut r).unwrap();
    assert_eq!(reply, "made by tessera");
    let from_redis =
        "#!lua name=fromr\nredis.register_function('fr', function() return 'made by redis' end)";
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(from_redis)
        .query(&mut r)
        .unwrap();
    let _: () = redis::cmd("SAVE").query(&mut r).unwrap();
    drop(r);
    drop(redis_server);

    let tessera = Server::tessera_in(Some(dir), 2, &[]);
    let mut t = client(tessera.port);
    for (f, expected) in [("ft", "made by tessera"), ("fr", "made by redis")] {
        let reply: String = redis::cmd("FCALL").arg(f).arg(0).query(&mut t).unwrap();
        assert_eq!(reply, expected);
    }
}

/// `command`'s reply on new connections, which land on every shard, the script's own
/// included: each must be answered while the script runs.
fn busy_reply(port: u16, command: &[&str]) -> (common::RawConn, Vec<u8>) {
    let mut replies = Vec::new();
    for _ in 0..8 {
        let mut c = common::RawConn::connect(port).unwrap();
        c.set_reply_timeout(Duration::from_secs(5)).unwrap();
        let reply = c.command(command).expect("a reply while the script runs");
        replies.push((c, reply));
    }
    let first = replies[0].1.clone();
    assert!(
        replies.iter().all(|(_, r)| r[..6] == first[..6]),
        "replies differ across connections"
    );
    replies.pop().expect("eight connections")
}

const SPIN: &str = "local t = redis.call('time') \
    while true do local n = redis.call('time') \
    if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 20000000 then break end end return 'done'";

#[test]
fn a_long_script_gets_busy_replies_and_script_kill_stops_it() {
    let server = Server::tessera(&["--busy-reply-threshold", "100"]);
    let port = server.port;
    let mut runner = common::RawConn::connect(port).unwrap();
    runner.set_reply_timeout(Duration::from_secs(30)).unwrap();
    runner.send(&["EVAL", SPIN, "0"]).unwrap();
    thread::sleep(Duration::from_millis(300));
    let (mut other, reply) = busy_reply(port, &["GET", "x"]);
    assert_eq!(
        reply,
        b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    let reply = other.command(&["FUNCTION", "KILL"]).unwrap();
    assert!(
        reply.starts_with(b"-BUSY"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let started = Instant::now();
    assert_eq!(other.command(&["SCRIPT", "KILL"]).unwrap(), b"+OK\r\n");
    let reply = runner.read_reply().unwrap();
    assert!(
        reply.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the kill took effect late"
    );
    assert_eq!(
        other.command(&["SCRIPT", "KILL"]).unwrap(),
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
    assert_eq!(other.command(&["SET", "x", "1"]).unwrap(), b"+OK\r\n");
}

#[test]
fn a_long_function_shows_in_function_stats_and_function_kill_stops_it() {
    let server = Server::tessera(&["--busy-reply-threshold", "100"]);
    let port = server.port;
    let library =
        format!("#!lua name=spin\nredis.register_function('spin', function() {SPIN} end)");
    let mut setup = common::RawConn::connect(port).unwrap();
    assert_eq!(
        setup.command(&["FUNCTION", "LOAD", &library]).unwrap(),
        b"$4\r\nspin\r\n"
    );
    let mut runner = common::RawConn::connect(port).unwrap();
    runner.set_reply_timeout(Duration::from_secs(30)).unwrap();
    runner.send(&["FCALL", "spin", "0"]).unwrap();
    thread::sleep(Duration::from_millis(300));
    let (mut other, reply) = busy_reply(port, &["FUNCTION", "STATS"]);
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("$4\r\nname\r\n$4\r\nspin\r\n"), "{text}");
    assert!(
        text.contains("$7\r\ncommand\r\n*3\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n0\r\n"),
        "{text}"
    );
    assert_eq!(
        other.command(&["GET", "x"]).unwrap(),
        b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert!(other
        .command(&["SCRIPT", "KILL"])
        .unwrap()
        .starts_with(b"-BUSY"));
    assert_eq!(other.command(&["FUNCTION", "KILL"]).unwrap(), b"+OK\r\n");
    let reply = runner.read_reply().unwrap();
    assert!(
        reply.starts_with(b"-ERR Script killed by user"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
}

/// A script that wrote cannot be killed: stopping it would leave half its effects.
#[test]
fn a_script_that_wrote_is_unkillable() {
    let server = Server::tessera(&["--busy-reply-threshold", "100"]);
    let port = server.port;
    let mut runner = common::RawConn::connect(port).unwrap();
    runner.set_reply_timeout(Duration::from_secs(30)).unwrap();
    let writes_then_spins = format!(
        "redis.call('set', 'w', 1) {}",
        SPIN.replace("20000000", "1500000")
    );
    runner.send(&["EVAL", &writes_then_spins, "0"]).unwrap();
    thread::sleep(Duration::from_millis(300));
    let (_other, reply) = busy_reply(port, &["SCRIPT", "KILL"]);
    assert!(
        reply.starts_with(b"-UNKILLABLE"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert_eq!(runner.read_reply().unwrap(), b"$4\r\ndone\r\n");
}

/// During a slow script only SHUTDOWN NOSAVE ends the server, as in Redis.
#[test]
fn only_shutdown_nosave_ends_the_server_during_a_slow_script() {
    let mut server = Server::tessera(&["--busy-reply-threshold", "100"]);
    let port = server.port;
    let mut runner = common::RawConn::connect(port).unwrap();
    runner
        .send(&["EVAL", "local a = 1 while true do a = a + 1 end", "0"])
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    let (mut other, reply) = busy_reply(port, &["SHUTDOWN"]);
    assert!(
        reply.starts_with(b"-BUSY"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let _ = other.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(
        server.wait_exit(Duration::from_secs(10)).is_some(),
        "still running"
    );
}

/// DEBUG SET-DISABLE-DENY-SCRIPTS lets a script run what Redis's tests need (CLIENT LIST),
/// but never what would act on the caller's connection or transaction, or run a script inside
/// the script (real Redis crashes on MULTI and a write from a script): those stay refused and
/// the server keeps serving.
#[test]
fn lifting_the_script_deny_list_keeps_the_unsafe_commands_out() {
    let server = Server::tessera(&[]);
    let mut c = client(server.port);
    let refused = "This Redis command is not allowed from script";
    let eval = |c: &mut redis::Connection, body: &str| {
        redis::cmd("EVAL").arg(body).arg(0).query::<redis::Value>(c)
    };
    let e = eval(&mut c, "return redis.call('client', 'list')").unwrap_err();
    assert!(e.to_string().contains(refused), "{e}");

    let _: () = redis::cmd("DEBUG")
        .arg("SET-DISABLE-DENY-SCRIPTS")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let list = eval(&mut c, "return redis.call('client', 'list')").unwrap();
    assert!(
        matches!(&list, redis::Value::BulkString(b) if b.starts_with(b"id=")),
        "{list:?}"
    );
    for body in [
        "redis.call('multi') return redis.call('set', 'a', 'b')",
        "return redis.call('exec')",
        "return redis.call('watch', 'a')",
        "return redis.call('eval', 'return 1', '0')",
        "return redis.call('script', 'flush')",
        "return redis.call('client', 'reply', 'off')",
        "return redis.call('hello', '3')",
        "return redis.call('save')",
        "return redis.call('shutdown', 'nosave')",
    ] {
        let e = eval(&mut c, body).unwrap_err();
        assert!(e.to_string().contains(refused), "{body}: {e}");
    }
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let a: Option<String> = redis::cmd("GET").arg("a").query(&mut c).unwrap();
    assert_eq!(a, None, "nothing ran after the refused MULTI");
}

/// SCRIPT FLUSH drops every shard's scripts interpreter at once, as Redis starts over with a
/// new one: the memory goes back and INFO stops counting it.
#[test]
fn script_flush_returns_every_interpreters_memory() {
    let server = Server::tessera(&["--threads", "2"]);
    let lua_memory = |c: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("memory").query(c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory_lua:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    // Connections are spread over the shards: a few of them reach both interpreters.
    let mut conns: Vec<_> = (0..4).map(|_| client(server.port)).collect();
    for c in &mut conns {
        let _: i64 = redis::cmd("EVAL")
            .arg("return redis.call('incr', KEYS[1])")
            .arg(1)
            .arg("n")
            .query(c)
            .unwrap();
    }
    let c = &mut conns[0];
    assert!(lua_memory(c) > 0);
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lua_memory(c) != 0 {
        assert!(Instant::now() < deadline, "still {} bytes", lua_memory(c));
        thread::sleep(Duration::from_millis(10));
    }
}
