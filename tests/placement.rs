//! Where the server's threads run: inside the CPUs the process is given (taskset, cpusets),
//! and on those of Redis's `server_cpulist`, `bio_cpulist` and `bgsave_cpulist` when set.
//! Each check reads the threads' `Cpus_allowed_list` from /proc.

mod common;

use std::time::{Duration, Instant};

use common::{require_redis, Server};

/// The CPUs the test thread may run on.
fn allowed() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    list.split(',')
        .flat_map(|part| match part.split_once('-') {
            Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect::<Vec<usize>>(),
            None => vec![part.parse().unwrap()],
        })
        .collect()
}

/// Restricts the test thread (and so the processes it starts) to `cpu`.
fn pin_test_thread(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity get a live set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0
        );
    }
}

/// Each thread of `pid` by name (several may share one), with its CPU list.
fn threads(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let (Ok(comm), Ok(status)) = (
            std::fs::read_to_string(task.join("comm")),
            std::fs::read_to_string(task.join("status")),
        ) else {
            continue; // the thread ended meanwhile
        };
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_string();
        out.push((comm.trim().to_string(), cpus));
    }
    out
}

fn cpus_of(pid: u32, prefix: &str) -> Vec<String> {
    threads(pid)
        .into_iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, cpus)| cpus)
        .collect()
}

#[test]
fn shards_stay_inside_the_cpus_the_process_is_given() {
    let cpus = allowed();
    let last = *cpus.last().unwrap();
    pin_test_thread(last);
    // Two shards on one allowed CPU: both must be on it, not on CPU 0.
    let server = Server::tessera_threads(2, &[]);
    let shards = cpus_of(server.pid(), "shard-");
    assert!(shards.len() >= 2, "{:?}", threads(server.pid()));
    for cpus in shards {
        assert_eq!(cpus, last.to_string());
    }
}

#[test]
fn the_default_thread_count_is_the_cpus_allowed() {
    let cpus = allowed();
    pin_test_thread(*cpus.last().unwrap());
    let program = env!("CARGO_BIN_EXE_tessera-server");
    // Started by hand: the helper always passes --threads.
    let dir = std::env::temp_dir().join(format!("tessera-placement-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = std::process::Command::new(program)
        .args(["--port", &port.to_string(), "--save", "", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = loop {
        if let Ok(c) = common::RawConn::connect(port) {
            break c;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let reply = conn.command(&["CONFIG", "GET", "threads"]).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(reply, b"*2\r\n$7\r\nthreads\r\n$1\r\n1\r\n");
}

#[test]
fn cpulists_place_the_shards_background_threads_and_children() {
    let cpus = allowed();
    if cpus.len() < 2 {
        eprintln!("one CPU only: nothing to place apart");
        return;
    }
    let (first, last) = (cpus[0].to_string(), cpus[cpus.len() - 1].to_string());
    let server = Server::tessera_threads(
        2,
        &[
            "--server_cpulist",
            &last,
            "--bio_cpulist",
            &first,
            "--bgsave_cpulist",
            &first,
            "--rdb-key-save-delay",
            "100000",
        ],
    );
    for cpus in cpus_of(server.pid(), "shard-") {
        assert_eq!(cpus, last);
    }
    assert_eq!(cpus_of(server.pid(), "signals"), vec![first.clone()]);
    let mut conn = server.connect();
    let reply = conn.command(&["CONFIG", "GET", "server_cpulist"]).unwrap();
    assert_eq!(
        reply,
        format!(
            "*2\r\n$14\r\nserver_cpulist\r\n${}\r\n{last}\r\n",
            last.len()
        )
        .as_bytes()
    );
    // A snapshot child on bgsave_cpulist; the delay keeps it alive to be looked at.
    conn.command(&["SET", "a", "1"]).unwrap();
    conn.command(&["SET", "b", "2"]).unwrap();
    assert_eq!(
        conn.command(&["BGSAVE"]).unwrap(),
        b"+Background saving started\r\n"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let child = loop {
        let children: Vec<u32> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .unwrap()
            .flat_map(|t| std::fs::read_to_string(t.unwrap().path().join("children")))
            .flat_map(|s| {
                s.split_whitespace()
                    .map(|p| p.parse::<u32>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        if let Some(&pid) = children.first() {
            break pid;
        }
        assert!(Instant::now() < deadline, "no snapshot child appeared");
        std::thread::sleep(Duration::from_millis(10));
    };
    let child_cpus = threads(child);
    assert!(
        child_cpus.iter().all(|(_, cpus)| *cpus == first),
        "{child_cpus:?}"
    );
}

#[test]
fn cpulists_are_immutable_as_in_redis() {
    require_redis();
    let tessera = Server::tessera(&[]);
    let redis = Server::redis(&[]);
    for name in [
        "server_cpulist",
        "bio_cpulist",
        "aof_rewrite_cpulist",
        "bgsave_cpulist",
    ] {
        for args in [
            vec!["CONFIG", "GET", name],
            vec!["CONFIG", "SET", name, "0"],
        ] {
            let expected = redis.connect().command(&args).unwrap();
            let got = tessera.connect().command(&args).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&expected),
                "{args:?}"
            );
        }
    }
}
