//! The append-only file against the real binary: kill -9 under a write load with
//! `appendfsync always`, with and without rewrites running, loses no acknowledged write and
//! never half-applies a multi-shard one;
//! `everysec` loses at most about a second; a cut-off tail loads, corruption in the middle
//! stops the start naming the file and offset; a full disk refuses writes with MISCONF.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, TempDir};

fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection())
        .expect("connect")
}

/// What one client had acknowledged when the server died.
#[derive(Default, Clone, Debug)]
struct Acked {
    /// Highest i whose `SET key:<c>:<i> i` was acknowledged (writes are sequential per client).
    sets: Option<u64>,
    incrs: u64,
    pushes: u64,
    /// Highest round whose cross-shard MSET was acknowledged.
    msets: Option<u64>,
}

/// Runs `clients` writers until the server is killed; returns what each had acknowledged.
/// With `rewrites`, another client asks for BGREWRITEAOF over and over meanwhile.
fn write_until_killed(
    server: &mut Server,
    clients: usize,
    run_for: Duration,
    rewrites: bool,
) -> Vec<Acked> {
    let stop = Arc::new(AtomicBool::new(false));
    let rewriter = rewrites.then(|| {
        let (port, stop) = (server.port, stop.clone());
        std::thread::spawn(move || {
            let mut con = connect(port);
            let mut started = 0;
            while !stop.load(Ordering::Relaxed) {
                match redis::cmd("BGREWRITEAOF").query::<String>(&mut con) {
                    Ok(reply) if reply.contains("started") => started += 1,
                    Ok(_) => {}
                    Err(e) if e.is_io_error() || e.is_connection_dropped() => break,
                    Err(_) => {} // one already in progress
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            started
        })
    });
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::new(Mutex::new(vec![Acked::default(); clients]));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (port, stop, acked) = (server.port, stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut con = connect(port);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let ok = match i % 4 {
                        0 => redis::cmd("SET")
                            .arg(format!("key:{c}:{i}"))
                            .arg(i)
                            .query::<()>(&mut con)
                            .map(|_| acked.lock().unwrap()[c].sets = Some(i)),
                        1 => redis::cmd("INCR")
                            .arg(format!("counter:{c}"))
                            .query::<i64>(&mut con)
                            .map(|_| acked.lock().unwrap()[c].incrs += 1),
                        2 => redis::cmd("RPUSH")
                            .arg(format!("list:{c}"))
                            .arg(i)
                            .query::<i64>(&mut con)
                            .map(|_| acked.lock().unwrap()[c].pushes += 1),
                        _ => {
                            // Keys spread over every shard, one value: all or nothing.
                            let mut m = redis::cmd("MSET");
                            for k in 0..6 {
                                m.arg(format!("group:{c}:{k}")).arg(i);
                            }
                            m.query::<()>(&mut con)
                                .map(|_| acked.lock().unwrap()[c].msets = Some(i))
                        }
                    };
                    if ok.is_err() {
                        break; // the server is gone
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(run_for);
    server.signal(libc::SIGKILL);
    server.wait_exit(Duration::from_secs(10)).expect("killed");
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("writer");
    }
    if let Some(r) = rewriter {
        let started = r.join().expect("rewriter");
        assert!(started > 0, "no rewrite started before the kill");
    }
    let out = acked.lock().unwrap().clone();
    out
}

fn get(con: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query(con).expect("GET")
}

fn check_recovered(port: u16, acked: &[Acked]) -> usize {
    let mut con = connect(port);
    let mut checked = 0;
    for (c, a) in acked.iter().enumerate() {
        if let Some(last) = a.sets {
            for i in (0..=last).step_by(4) {
                assert_eq!(
                    get(&mut con, &format!("key:{c}:{i}")),
                    Some(i.to_string()),
                    "lost SET key:{c}:{i}"
                );
                checked += 1;
            }
        }
        let counter: i64 = get(&mut con, &format!("counter:{c}")).map_or(0, |v| v.parse().unwrap());
        // At most one more: a write applied and logged but not yet acknowledged.
        assert!(
            counter as u64 >= a.incrs && counter as u64 <= a.incrs + 1,
            "counter:{c} {counter} vs {} acked",
            a.incrs
        );
        let len: u64 = redis::cmd("LLEN")
            .arg(format!("list:{c}"))
            .query(&mut con)
            .expect("LLEN");
        assert!(
            len >= a.pushes && len <= a.pushes + 1,
            "list:{c} {len} vs {} acked",
            a.pushes
        );
        let group: Vec<Option<String>> = (0..6)
            .map(|k| get(&mut con, &format!("group:{c}:{k}")))
            .collect();
        assert!(
            group.iter().all(|v| v == &group[0]),
            "half-applied MSET for client {c}: {group:?}"
        );
        if let Some(round) = a.msets {
            let v: u64 = group[0]
                .as_deref()
                .expect("acked MSET missing")
                .parse()
                .unwrap();
            assert!(
                v >= round && v <= round + 4,
                "MSET group {c}: {v} vs acked {round}"
            );
        }
        checked += 3;
    }
    checked
}

fn crash_rounds(threads: usize, rewrites: bool) {
    for round in 0..3 {
        let dir = Arc::new(TempDir::new());
        let args = ["--appendonly", "yes", "--appendfsync", "always"];
        let mut server = Server::tessera_in(Some(dir.clone()), threads, &args);
        // A different moment each round.
        let run_for = Duration::from_millis(300 + 250 * round as u64);
        let acked = write_until_killed(&mut server, 8, run_for, rewrites);
        let total: u64 = acked.iter().map(|a| a.incrs + a.pushes).sum();
        assert!(total > 0, "no write was acknowledged before the kill");
        drop(server);
        let again = Server::tessera_in(Some(dir), threads, &args);
        let checked = check_recovered(again.port, &acked);
        assert!(checked > 0);
    }
}

#[test]
fn kill_9_loses_no_acknowledged_write_one_shard() {
    crash_rounds(1, false);
}

#[test]
fn kill_9_loses_no_acknowledged_write_four_shards() {
    crash_rounds(4, false);
}

/// Rewrites switch every shard to new files and replace the base while writes go on; a kill
/// at any moment of that (before the manifest changes, between, after) loses nothing.
#[test]
fn kill_9_during_rewrites_loses_no_acknowledged_write() {
    crash_rounds(4, true);
}

#[test]
fn everysec_loses_at_most_about_a_second() {
    let dir = Arc::new(TempDir::new());
    let args = ["--appendonly", "yes", "--appendfsync", "everysec"];
    let mut server = Server::tessera_in(Some(dir.clone()), 2, &args);
    // One client writes sequential keys and remembers when each was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let writer = {
        let (port, stop, log) = (server.port, stop.clone(), log.clone());
        std::thread::spawn(move || {
            let mut con = connect(port);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if redis::cmd("SET")
                    .arg(format!("k{i}"))
                    .arg(i)
                    .query::<()>(&mut con)
                    .is_err()
                {
                    break;
                }
                log.lock().unwrap().push(Instant::now());
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(2500));
    server.signal(libc::SIGKILL);
    let killed = Instant::now();
    server.wait_exit(Duration::from_secs(10)).expect("killed");
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    drop(server);
    let acked = log.lock().unwrap().clone();
    let again = Server::tessera_in(Some(dir), 2, &args);
    let mut con = connect(again.port);
    let kept: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
    // Keys are sequential: the kept ones are a prefix of the acknowledged ones.
    let lost = acked.len().saturating_sub(kept);
    let window = acked
        .get(kept)
        .map_or(Duration::ZERO, |t| killed.saturating_duration_since(*t));
    eprintln!(
        "everysec: {} acknowledged, {lost} lost, covering the last {window:?} before the kill",
        acked.len()
    );
    assert!(
        window <= Duration::from_millis(2500),
        "lost {window:?} of acknowledged writes"
    );
}

fn incr_file(dir: &std::path::Path, shard: usize) -> std::path::PathBuf {
    dir.join("appendonlydir")
        .join(format!("appendonly.aof.1.incr.{shard}.aof"))
}

#[test]
fn a_cut_off_tail_loads_and_corruption_stops_the_start() {
    let dir = Arc::new(TempDir::new());
    let args = ["--appendonly", "yes"];
    {
        let server = Server::tessera_in(Some(dir.clone()), 1, &args);
        let mut con = connect(server.port);
        for i in 0..10 {
            let _: () = redis::cmd("SET")
                .arg(format!("k{i}"))
                .arg(i)
                .query(&mut con)
                .expect("SET");
        }
        let _: () = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query(&mut con)
            .unwrap_or(());
    }
    let file = incr_file(dir.path(), 0);
    let good = std::fs::read(&file).expect("incr file");
    // A record cut short, as a crash mid-write leaves it.
    let mut cut = good.clone();
    cut.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$2\r\nk1");
    std::fs::write(&file, &cut).expect("write");
    {
        let server = Server::tessera_in(Some(dir.clone()), 1, &args);
        let mut con = connect(server.port);
        let n: usize = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
        assert_eq!(n, 10);
        assert!(
            server.logs().contains("Truncating the AOF"),
            "{}",
            server.logs()
        );
        assert_eq!(
            std::fs::read(&file).expect("file").len(),
            good.len(),
            "the tail was not cut off"
        );
    }
    // Garbage in the middle: the start must stop, naming the file and offset.
    let mut bad = good.clone();
    let at = good.len() / 2;
    bad[at] = b'!';
    bad[at + 1] = b'!';
    std::fs::write(&file, &bad).expect("write");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-server"))
        .args([
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--dir",
            dir.path().to_str().unwrap(),
            "--threads",
            "1",
            "--appendonly",
            "yes",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("appendonly.aof.1.incr.0.aof"), "{text}");
}

/// Mounts a 1 MiB tmpfs (root can; `None` where it cannot), unmounted on drop.
struct SmallDisk(TempDir);

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = TempDir::new();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=1m",
                "tmpfs",
                dir.path().to_str()?,
            ])
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }

    fn path(&self) -> &str {
        self.0.path().to_str().expect("utf-8 temp path")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// Writes 64 KiB values until one is refused; returns the error.
fn fill_until_refused(port: u16) -> Option<String> {
    let mut con = connect(port);
    let value = "x".repeat(64 << 10);
    for i in 0..64 {
        if let Err(e) = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(&value)
            .query::<()>(&mut con)
        {
            return Some(e.to_string());
        }
    }
    None
}

#[test]
fn a_full_disk_refuses_writes_with_misconf() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("cannot mount a tmpfs here: skipped");
        return;
    };
    let server = Server::tessera_threads(
        1,
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--dir",
            disk.path(),
        ],
    );
    let refused = fill_until_refused(server.port).expect("a 1 MiB disk took 4 MiB of writes");
    assert!(
        refused.contains("MISCONF") && refused.contains("No space left on device"),
        "{refused}"
    );
    let mut con = connect(server.port);
    let err = redis::cmd("SET")
        .arg("after")
        .arg("v")
        .query::<()>(&mut con)
        .expect_err("still refused");
    assert!(err.to_string().contains("MISCONF"), "{err}");
    let _: String = redis::cmd("GET")
        .arg("k0")
        .query(&mut con)
        .expect("reads still work");
    // Switching the AOF off is the way out, as in Redis: the unwritable bytes are given up,
    // and writes are accepted again.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("no")
        .query(&mut con)
        .expect("CONFIG SET appendonly no");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("v")
        .query(&mut con)
        .expect("writes accepted with the AOF off");
}

#[test]
fn a_full_disk_under_always_stops_the_server_as_redis_does() {
    let Some(disk) = SmallDisk::mount() else {
        eprintln!("cannot mount a tmpfs here: skipped");
        return;
    };
    let mut server = Server::tessera_threads(
        1,
        &[
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            disk.path(),
        ],
    );
    assert!(
        fill_until_refused(server.port).is_some(),
        "a 1 MiB disk took 4 MiB of writes"
    );
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("the server stops");
    assert!(!status.success());
    assert!(
        server
            .logs()
            .contains("Can't recover from AOF write error when the AOF fsync policy is 'always'"),
        "{}",
        server.logs()
    );
}

/// DEBUG LOADAOF replaces the data set with what the AOF files replay to, and DEBUG RELOAD with
/// what the snapshot holds: the digest is the same before and after, TTLs included, across a
/// rewrite, and writes that only the AOF has come back.
#[test]
fn debug_loadaof_and_reload_give_back_the_same_data() {
    let server = Server::tessera(&["--appendonly", "yes"]);
    let mut con = connect(server.port);
    let digest = |con: &mut redis::Connection| -> String {
        redis::cmd("DEBUG").arg("DIGEST").query(con).unwrap()
    };
    let ok = |con: &mut redis::Connection, args: &[&str]| {
        let reply: String = redis::cmd("DEBUG").arg(args).query(con).unwrap();
        assert_eq!(reply, "OK", "DEBUG {args:?}");
    };
    ok(&mut con, &["POPULATE", "2000"]);
    let _: () = redis::cmd("RPUSH")
        .arg(&["{a}l", "x", "y", "3"])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg(&["{b}z", "1.5", "m"])
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&["{c}ttl", "v", "EX", "1000"])
        .query(&mut con)
        .unwrap();
    let before = digest(&mut con);
    ok(&mut con, &["LOADAOF"]);
    assert_eq!(digest(&mut con), before);
    let ttl: i64 = redis::cmd("TTL").arg("{c}ttl").query(&mut con).unwrap();
    assert!((990..=1000).contains(&ttl), "{ttl}");

    let _: () = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query(&mut con)
            .unwrap();
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            break;
        }
        assert!(Instant::now() < deadline, "the rewrite did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _: () = redis::cmd("SET")
        .arg(&["{d}after", "1"])
        .query(&mut con)
        .unwrap();
    let after = digest(&mut con);
    ok(&mut con, &["LOADAOF"]);
    assert_eq!(digest(&mut con), after);

    ok(&mut con, &["RELOAD"]);
    assert_eq!(digest(&mut con), after);
    // NOSAVE loads the file as it is: a write since the last save is gone.
    let _: () = redis::cmd("SET")
        .arg(&["{e}unsaved", "1"])
        .query(&mut con)
        .unwrap();
    ok(&mut con, &["RELOAD", "NOSAVE"]);
    assert_eq!(digest(&mut con), after);
    // NOFLUSH without MERGE meets every key twice: refused, as a corrupt file would be.
    let err = redis::cmd("DEBUG")
        .arg(&["RELOAD", "NOSAVE", "NOFLUSH"])
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Error trying to load the RDB dump"),
        "{err}"
    );
    ok(&mut con, &["RELOAD", "NOSAVE", "NOFLUSH", "MERGE"]);
    assert_eq!(digest(&mut con), after);
}
