//! AOF rewrites and run-time switching against the real binary: BGREWRITEAOF replaces the
//! base and deletes what it covers, with or without an RDB preamble; the automatic rewrite
//! fires on growth; CONFIG SET appendonly builds a base and starts logging, or stops; an AOF
//! written by real Redis 7.0 loads; and the replies of BGSAVE and BGREWRITEAOF while the other
//! runs are Redis's own.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::data::{assert_same, client, info_field, populate, run, walk};
use common::{require_redis, Server, TempDir};

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).expect("manifest")
}

fn aof_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("aof dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn wait_info(c: &mut redis::Connection, field: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while info_field(c, field) != want {
        assert!(Instant::now() < deadline, "{field} never became {want}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// BGREWRITEAOF, then the restart: the data survives whole, the manifest names the new base
/// and one new generation per shard, and the files it replaced are gone.
fn rewrite_and_restart(preamble: &str, base_suffix: &str) {
    let dir = Arc::new(TempDir::new());
    // `always`: a reply means the write is on disk, so the kill below cannot lose it.
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--aof-use-rdb-preamble",
        preamble,
    ];
    let server = Server::tessera_in(Some(dir.clone()), 2, &args);
    let mut c = client(&server);
    populate(&mut c);
    let before = walk(&mut c);
    assert_eq!(
        run(&mut c, &["BGREWRITEAOF"]),
        "Background append only file rewriting started"
    );
    wait_info(&mut c, "aof_rewrite_in_progress", "0");
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(info_field(&mut c, "aof_rewrites"), "1");
    // A write after the rewrite lands in the new generation.
    run(&mut c, &["SET", "after-rewrite", "1"]);
    let mut expected = before.clone();
    expected.insert("0/after-rewrite".into(), "string int exp=-1 1".into());
    assert_eq!(
        manifest(dir.path()),
        format!(
            "file appendonly.aof.2.base.{base_suffix} seq 2 type b\n\
             file appendonly.aof.2.incr.0.aof seq 2 type i shard 0\n\
             file appendonly.aof.2.incr.1.aof seq 2 type i shard 1\n"
        )
    );
    assert_eq!(
        aof_files(dir.path()),
        [
            format!("appendonly.aof.2.base.{base_suffix}"),
            "appendonly.aof.2.incr.0.aof".into(),
            "appendonly.aof.2.incr.1.aof".into(),
            "appendonly.aof.manifest".into(),
        ]
    );
    drop(c);
    drop(server); // kill -9
    let again = Server::tessera_in(Some(dir), 2, &args);
    let mut c = client(&again);
    assert_same(&expected, &walk(&mut c), "after the rewrite and a restart");
}

#[test]
fn bgrewriteaof_with_an_rdb_preamble() {
    rewrite_and_restart("yes", "rdb");
}

#[test]
fn bgrewriteaof_without_an_rdb_preamble() {
    rewrite_and_restart("no", "aof");
}

#[test]
fn the_aof_is_rewritten_automatically_when_it_doubles() {
    let args = [
        "--appendonly",
        "yes",
        "--auto-aof-rewrite-min-size",
        "100kb",
        "--auto-aof-rewrite-percentage",
        "100",
    ];
    let server = Server::tessera(&args);
    let mut c = client(&server);
    let value = "v".repeat(1000);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    while info_field(&mut c, "aof_rewrites") == "0" {
        assert!(Instant::now() < deadline, "no automatic rewrite");
        for _ in 0..50 {
            run(&mut c, &["SET", &format!("k{}", i % 150), &value]);
            i += 1;
        }
    }
    assert!(server
        .logs()
        .contains("Starting automatic rewriting of AOF on"));
    wait_info(&mut c, "aof_rewrite_in_progress", "0");
    // 150 keys of 1 KB: the new base is far below what 50+ overwrites of each had logged.
    let size: u64 = info_field(&mut c, "aof_current_size").parse().unwrap();
    assert!(size < 400_000, "aof_current_size {size} after the rewrite");
}

#[test]
fn config_set_appendonly_builds_a_base_then_logs() {
    let dir = Arc::new(TempDir::new());
    let server = Server::tessera_in(Some(dir.clone()), 2, &["--appendfsync", "always"]);
    let mut c = client(&server);
    populate(&mut c);
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    assert_eq!(run(&mut c, &["CONFIG", "SET", "appendonly", "yes"]), "OK");
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.1.base.rdb seq 1 type b\n\
         file appendonly.aof.1.incr.0.aof seq 1 type i shard 0\n\
         file appendonly.aof.1.incr.1.aof seq 1 type i shard 1\n"
    );
    run(&mut c, &["RPUSH", "logged", "a", "b"]);
    run(&mut c, &["MSET", "m1", "1", "m2", "2", "m3", "3"]);
    let expected = walk(&mut c);
    drop(c);
    drop(server); // kill -9: everything since the switch is in the incremental files
    let again = Server::tessera_in(Some(dir.clone()), 2, &["--appendonly", "yes"]);
    let mut c = client(&again);
    assert_same(&expected, &walk(&mut c), "after switching the AOF on");

    // Switching off: the files stay as they were, nothing more is logged.
    assert_eq!(run(&mut c, &["CONFIG", "SET", "appendonly", "no"]), "OK");
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    let sizes = |dir: &Path| -> Vec<u64> {
        aof_files(dir)
            .iter()
            .map(|n| {
                std::fs::metadata(dir.join("appendonlydir").join(n))
                    .unwrap()
                    .len()
            })
            .collect()
    };
    let before = sizes(dir.path());
    run(&mut c, &["SET", "not-logged", "1"]);
    run(&mut c, &["DEL", "logged"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sizes(dir.path()), before);
    drop(c);
    drop(again);
    let third = Server::tessera_in(Some(dir), 2, &["--appendonly", "yes"]);
    let mut c = client(&third);
    assert_same(
        &expected,
        &walk(&mut c),
        "writes after switching off are not in the AOF",
    );
}

/// An AOF that Redis 7.0 wrote (RDB base, one incremental file of every kind of command)
/// loads into Tessera with one shard and with two, identically.
#[test]
fn an_aof_written_by_redis_loads() {
    require_redis();
    let dir = Arc::new(TempDir::new());
    let redis = Server::redis_in(Some(dir.clone()), &["--appendonly", "yes"]);
    let mut c = client(&redis);
    run(&mut c, &["SET", "before-base", "1"]);
    run(&mut c, &["BGREWRITEAOF"]);
    wait_info(&mut c, "aof_rewrite_in_progress", "0");
    // Everything from here on is in Redis's incremental file, as commands.
    populate(&mut c);
    run(&mut c, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]);
    run(&mut c, &["DEL", "a", "c"]);
    // "b" and "d" are on different shards of two: only a conversion can replay this.
    run(&mut c, &["RENAME", "b", "moved"]);
    run(&mut c, &["SMOVE", "set:int", "set:new", "7"]);
    run(&mut c, &["SELECT", "3"]);
    run(&mut c, &["SET", "gone", "1"]);
    run(&mut c, &["FLUSHDB"]);
    run(&mut c, &["SELECT", "0"]);
    let expected = walk(&mut c);
    run(&mut c, &["SHUTDOWN", "NOSAVE"]);
    drop(c);
    drop(redis);
    for threads in [1, 2] {
        let copy = Arc::new(TempDir::new());
        let from = dir.path().join("appendonlydir");
        let to = copy.path().join("appendonlydir");
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(&from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
        let t = Server::tessera_in(Some(copy), threads, &["--appendonly", "yes"]);
        let mut c = client(&t);
        assert_same(
            &expected,
            &walk(&mut c),
            &format!("Redis's AOF in {threads} shard(s)"),
        );
    }
}

/// BGSAVE and BGREWRITEAOF while the other's child runs, scheduled work, and the errors: the
/// same script gets the same replies from both servers.
#[test]
fn children_exclude_each_other_as_in_redis() {
    require_redis();
    let script = |s: &Server| -> Vec<String> {
        let mut c = client(s);
        let mut out = Vec::new();
        for i in 0..5 {
            run(&mut c, &["SET", &format!("k{i}"), "v"]);
        }
        // 100 ms per key: each child lives about half a second.
        run(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "100000"]);
        out.push(run(&mut c, &["BGSAVE"]));
        out.push(run(&mut c, &["BGSAVE"]));
        out.push(run(&mut c, &["BGREWRITEAOF"]));
        out.push(info_field(&mut c, "aof_rewrite_scheduled"));
        // The scheduled rewrite starts once the snapshot child is gone.
        wait_info(&mut c, "aof_rewrite_in_progress", "1");
        out.push(info_field(&mut c, "aof_rewrite_scheduled"));
        out.push(run(&mut c, &["BGREWRITEAOF"]));
        out.push(run(&mut c, &["BGSAVE"]));
        out.push(run(&mut c, &["BGSAVE", "SCHEDULE"]));
        wait_info(&mut c, "aof_rewrite_in_progress", "0");
        out.push(info_field(&mut c, "aof_last_bgrewrite_status"));
        wait_info(&mut c, "rdb_bgsave_in_progress", "0");
        out.push(info_field(&mut c, "rdb_last_bgsave_status"));
        out.push(info_field(&mut c, "aof_rewrites"));
        out
    };
    let redis = Server::redis(&["--save", ""]);
    let tessera = Server::tessera(&["--save", ""]);
    let expected = script(&redis);
    assert_eq!(script(&tessera), expected);
    assert_eq!(expected[0], "Background saving started");
}

/// An AOF written with 4 shards, its data still in the incremental files, opened with 2 and
/// then 1: it is converted (a new base, one empty file per shard) and nothing changes.
#[test]
fn an_aof_from_another_shard_count_is_converted() {
    let dir = Arc::new(TempDir::new());
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    let four = Server::tessera_in(Some(dir.clone()), 4, &args);
    let mut c = client(&four);
    populate(&mut c);
    run(
        &mut c,
        &[
            "MSET", "x1", "1", "x2", "2", "x3", "3", "x4", "4", "x5", "5",
        ],
    );
    run(&mut c, &["RENAME", "x1", "renamed"]);
    let expected = walk(&mut c);
    drop(c);
    drop(four); // kill -9
    for threads in [2, 1] {
        let s = Server::tessera_in(Some(dir.clone()), threads, &args);
        let mut c = client(&s);
        assert_same(
            &expected,
            &walk(&mut c),
            &format!("converted to {threads} shard(s)"),
        );
        assert!(s.logs().contains("Converting the AOF"));
        let m = manifest(dir.path());
        assert_eq!(m.lines().count(), 1 + threads, "{m}");
        assert!(m.lines().all(|l| !l.contains("type h")), "{m}");
    }
}

/// A rewrite whose child fails (killed here for stalling) changes nothing that loading needs:
/// the old base and both generations stay in the manifest, and the next rewrite covers them.
#[test]
fn a_failed_rewrite_keeps_every_generation() {
    let dir = Arc::new(TempDir::new());
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--rdb-child-stall-timeout",
        "1",
    ];
    let server = Server::tessera_in(Some(dir.clone()), 2, &args);
    let mut c = client(&server);
    for i in 0..20 {
        run(&mut c, &["SET", &format!("old{i}"), "1"]);
    }
    // Five seconds per key: the child makes no progress and is killed after one.
    run(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "5000000"]);
    assert_eq!(
        run(&mut c, &["BGREWRITEAOF"]),
        "Background append only file rewriting started"
    );
    for i in 0..20 {
        run(&mut c, &["SET", &format!("new{i}"), "2"]);
    }
    wait_info(&mut c, "aof_rewrite_in_progress", "0");
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "err");
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.1.base.rdb seq 1 type b\n\
         file appendonly.aof.1.incr.0.aof seq 1 type i shard 0\n\
         file appendonly.aof.1.incr.1.aof seq 1 type i shard 1\n\
         file appendonly.aof.2.incr.0.aof seq 2 type i shard 0\n\
         file appendonly.aof.2.incr.1.aof seq 2 type i shard 1\n"
    );
    assert!(
        aof_files(dir.path())
            .iter()
            .all(|f| !f.starts_with("temp-")),
        "{:?}",
        aof_files(dir.path())
    );
    let expected = walk(&mut c);
    assert_eq!(expected.len(), 40);
    drop(c);
    drop(server); // kill -9
    let again = Server::tessera_in(Some(dir.clone()), 2, &args);
    let mut c = client(&again);
    assert_same(&expected, &walk(&mut c), "after a failed rewrite");
    // The next rewrite succeeds and retires both generations.
    assert_eq!(
        run(&mut c, &["BGREWRITEAOF"]),
        "Background append only file rewriting started"
    );
    wait_info(&mut c, "aof_rewrite_in_progress", "0");
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(
        manifest(dir.path()),
        "file appendonly.aof.2.base.rdb seq 2 type b\n\
         file appendonly.aof.3.incr.0.aof seq 3 type i shard 0\n\
         file appendonly.aof.3.incr.1.aof seq 3 type i shard 1\n"
    );
}
