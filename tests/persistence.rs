//! RDB persistence against the real binary: snapshots written by SAVE, BGSAVE and shutdown,
//! loaded at start-up; files interchanged with real `redis-server` 7.0 in both directions; the
//! failure paths (MISCONF, a stalled child) and the atomicity of a snapshot across shards.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::data::{assert_same, client, cmd, info_field, populate, run, walk};
use common::{require_redis, Server, TempDir};

fn wait_bgsave(c: &mut redis::Connection) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(c, "rdb_bgsave_in_progress") == "1" {
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    info_field(c, "rdb_last_bgsave_status")
}

fn check_rdb(path: &Path) {
    let out = std::process::Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("redis-check-rdb runs");
    assert!(
        out.status.success(),
        "redis-check-rdb refused {}:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tessera_snapshot_loads_into_redis() {
    require_redis();
    let tessera = Server::tessera_threads(2, &[]);
    let mut t = client(&tessera);
    populate(&mut t);
    let expected = walk(&mut t);
    assert_eq!(run(&mut t, &["SAVE"]), "OK");
    let file = tessera.dir().join("dump.rdb");
    check_rdb(&file);
    let redis = Server::redis_in(Some(tessera.shared_dir()), &[]);
    let mut r = client(&redis);
    assert_same(
        &expected,
        &walk(&mut r),
        "Tessera's dump.rdb loaded by Redis",
    );
}

#[test]
fn redis_snapshot_loads_into_tessera() {
    require_redis();
    let redis = Server::redis(&[]);
    let mut r = client(&redis);
    populate(&mut r);
    let expected = walk(&mut r);
    assert_eq!(run(&mut r, &["SAVE"]), "OK");
    for threads in [1, 4] {
        let tessera = Server::tessera_in(Some(redis.shared_dir()), threads, &[]);
        let mut t = client(&tessera);
        assert_same(
            &expected,
            &walk(&mut t),
            &format!("Redis's dump.rdb in Tessera --threads {threads}"),
        );
        assert_eq!(
            info_field(&mut t, "rdb_last_load_keys_loaded"),
            expected.len().to_string()
        );
    }
}

#[test]
fn bgsave_and_restart_with_another_shard_count() {
    let first = Server::tessera_threads(2, &[]);
    let mut c = client(&first);
    populate(&mut c);
    let expected = walk(&mut c);
    let before = run(&mut c, &["LASTSAVE"]).parse::<u64>().expect("integer");
    assert_eq!(run(&mut c, &["BGSAVE"]), "Background saving started");
    assert_eq!(wait_bgsave(&mut c), "ok");
    assert!(run(&mut c, &["LASTSAVE"]).parse::<u64>().expect("integer") >= before);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    drop(c);
    let dir = first.shared_dir();
    drop(first);
    let second = Server::tessera_in(Some(dir), 3, &[]);
    let mut c = client(&second);
    assert_same(&expected, &walk(&mut c), "restart on 3 shards");
}

#[test]
fn shutdown_saves_as_asked() {
    // SHUTDOWN NOSAVE with save points: no file.
    let s = Server::tessera_threads(2, &["--save", "3600 1"]);
    let mut c = client(&s);
    run(&mut c, &["SET", "k", "v"]);
    let _ = cmd(&mut c, &["SHUTDOWN", "NOSAVE"]);
    let mut s = s;
    assert!(
        s.wait_exit(Duration::from_secs(10)).is_some(),
        "SHUTDOWN NOSAVE did not exit"
    );
    assert!(!s.dir().join("dump.rdb").exists());

    // SHUTDOWN SAVE without save points: a file, which the next start loads.
    let s = Server::tessera_threads(2, &[]);
    let mut c = client(&s);
    run(&mut c, &["SET", "k", "saved by shutdown"]);
    let _ = cmd(&mut c, &["SHUTDOWN", "SAVE"]);
    let mut s = s;
    assert!(
        s.wait_exit(Duration::from_secs(10)).is_some(),
        "SHUTDOWN SAVE did not exit"
    );
    let again = Server::tessera_in(Some(s.shared_dir()), 2, &[]);
    assert_eq!(run(&mut client(&again), &["GET", "k"]), "saved by shutdown");

    // SIGTERM with save points: saved, as Redis does.
    let mut s = Server::tessera_threads(2, &["--save", "3600 1"]);
    let mut c = client(&s);
    run(&mut c, &["SET", "k", "saved on SIGTERM"]);
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(Duration::from_secs(10)).expect("SIGTERM exits");
    assert!(status.success(), "{status:?}\n{}", s.logs());
    let again = Server::tessera_in(Some(s.shared_dir()), 1, &[]);
    assert_eq!(run(&mut client(&again), &["GET", "k"]), "saved on SIGTERM");

    // SIGTERM without save points: nothing written.
    let mut s = Server::tessera_threads(2, &[]);
    run(&mut client(&s), &["SET", "k", "v"]);
    s.signal(libc::SIGTERM);
    s.wait_exit(Duration::from_secs(10)).expect("SIGTERM exits");
    assert!(!s.dir().join("dump.rdb").exists());
}

/// The same script against a server whose `dir` vanished, and against Redis likewise.
fn failing_save_script(s: &Server, dir: &Path) -> Vec<String> {
    let mut c = client(s);
    let mut out = vec![run(&mut c, &["SET", "k", "v"])];
    std::fs::remove_dir_all(dir).expect("remove the save dir");
    out.push(run(&mut c, &["SAVE"]));
    out.push(run(&mut c, &["BGSAVE"]));
    wait_bgsave(&mut c);
    out.push(info_field(&mut c, "rdb_last_bgsave_status"));
    out.push(run(&mut c, &["SET", "k", "v2"]));
    out.push(run(&mut c, &["PING"]));
    out.push(run(&mut c, &["GET", "k"]));
    out.push(run(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
    ));
    out.push(run(&mut c, &["SET", "k", "v3"]));
    out.push(run(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
    ));
    out.push(run(&mut c, &["DEL", "k"]));
    out.push(run(&mut c, &["CONFIG", "SET", "save", ""]));
    out.push(run(&mut c, &["DEL", "k"]));
    out
}

#[test]
fn failed_background_save_refuses_writes_like_redis() {
    require_redis();
    let mut results = Vec::new();
    for redis in [false, true] {
        let holder = TempDir::new();
        let dir = holder.path().join("vanishing");
        std::fs::create_dir(&dir).expect("mkdir");
        let dir_arg = dir.to_str().expect("utf-8 temp path").to_string();
        let args = ["--save", "3600 1", "--dir", dir_arg.as_str()];
        let s = if redis {
            Server::redis(&args)
        } else {
            Server::tessera_threads(2, &args)
        };
        results.push(failing_save_script(&s, &dir));
    }
    assert_eq!(results[0], results[1], "Tessera (left) vs Redis (right)");
}

#[test]
fn stalled_snapshot_child_is_killed() {
    // Each key takes 3 s to write; a child with no progress for 1 s is declared stalled.
    let s = Server::tessera_threads(
        2,
        &[
            "--rdb-key-save-delay",
            "3000000",
            "--rdb-child-stall-timeout",
            "1",
        ],
    );
    let mut c = client(&s);
    run(&mut c, &["SET", "a", "1"]);
    run(&mut c, &["SET", "b", "2"]);
    assert_eq!(run(&mut c, &["BGSAVE"]), "Background saving started");
    assert!(run(&mut c, &["BGSAVE"]).contains("Background save already in progress"));
    assert!(run(&mut c, &["BGSAVE", "SCHEDULE"]).contains("Background save already in progress"));
    assert!(run(&mut c, &["SAVE"]).contains("Background save already in progress"));
    let started = Instant::now();
    assert_eq!(wait_bgsave(&mut c), "err");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the stall was not cut short"
    );
    assert!(!s.dir().join("dump.rdb").exists());
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(s.dir())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn snapshot_never_splits_a_multi_shard_write() {
    let s = Server::tessera_threads(4, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    // Each round sets 8 keys on different shards to the same value in one MSET.
    let writer = {
        let (port, stop) = (s.port, stop.clone());
        std::thread::spawn(move || {
            let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .and_then(|c| c.get_connection())
                .expect("connect");
            let mut round = 0u64;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let mut m = redis::cmd("MSET");
                for k in 0..8 {
                    m.arg(format!("key{k}")).arg(round);
                }
                let _: () = m.query(&mut c).expect("MSET");
            }
            round
        })
    };
    let mut c = client(&s);
    let mut checked = 0;
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(run(&mut c, &["BGSAVE"]), "Background saving started");
        assert_eq!(wait_bgsave(&mut c), "ok");
        let copy = TempDir::new();
        std::fs::copy(s.dir().join("dump.rdb"), copy.path().join("dump.rdb")).expect("copy");
        let check = Server::tessera_in(Some(Arc::new(copy)), 1, &[]);
        let mut k = client(&check);
        let values: Vec<String> = (0..8)
            .map(|i| run(&mut k, &["GET", &format!("key{i}")]))
            .collect();
        assert!(
            values.iter().all(|v| v == &values[0]),
            "torn snapshot: {values:?}"
        );
        checked += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().expect("writer");
    assert!(rounds > 0 && checked == 5);
}

#[test]
fn info_shows_the_running_childs_progress() {
    let s = Server::tessera(&["--save", ""]);
    let mut c = client(&s);
    for i in 0..300 {
        run(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    // 2 ms per key: the child runs for about 0.6 s.
    run(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "2000"]);
    assert_eq!(run(&mut c, &["BGSAVE"]), "Background saving started");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&mut c, "current_save_keys_processed") == "0" {
        assert!(Instant::now() < deadline, "no progress reported");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(info_field(&mut c, "current_save_keys_total"), "300");
    let perc: f64 = info_field(&mut c, "current_fork_perc").parse().unwrap();
    assert!(perc > 0.0 && perc <= 100.0, "current_fork_perc {perc}");
    assert_eq!(wait_bgsave(&mut c), "ok");
    for field in [
        "current_save_keys_total",
        "current_save_keys_processed",
        "current_cow_size",
    ] {
        assert_eq!(info_field(&mut c, field), "0", "{field} after the child");
    }
    assert_eq!(info_field(&mut c, "current_fork_perc"), "0.00");
}
