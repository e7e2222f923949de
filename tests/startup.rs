//! Start-up as redis-server does it, which tools and Redis's own test suite rely on: the log in
//! Redis's line format with the lines they look for, the logo with the pid, `logfile`,
//! `loglevel`, `pidfile` and the `unixsocket` listener.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::Server;

/// `pid:M dd Mon yyyy hh:mm:ss.mmm <level> message`, as redis-server writes its lines.
fn is_log_line(line: &str, pid: u32, message: &str) -> bool {
    let Some((prefix, rest)) = line.split_once(' ') else {
        return false;
    };
    if prefix != format!("{pid}:M") {
        return false;
    }
    // "02 Dec 2026 14:50:04.131 * message"
    let parts: Vec<&str> = rest.splitn(6, ' ').collect();
    parts.len() == 6
        && parts[0].len() == 2
        && parts[1].len() == 3
        && parts[2].len() == 4
        && parts[3].len() == 12
        && parts[3].as_bytes()[8] == b'.'
        && [".", "-", "*", "#"].contains(&parts[4])
        && parts[5] == message
}

/// The log once it holds `text`: a server answers PING a moment before it logs that it is
/// ready (it logs once every shard listens).
fn log_with(read: impl Fn() -> String, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = read();
        if log.contains(text) || std::time::Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_log_has_redis_lines_and_the_logo_shows_the_pid() {
    let server = Server::tessera(&["--always-show-logo", "yes"]);
    let logs = log_with(|| server.logs(), "Ready to accept connections");
    let pid = server.pid();
    for message in ["Server initialized", "Ready to accept connections"] {
        assert!(
            logs.lines().any(|l| is_log_line(l, pid, message)),
            "no line '{message}' in\n{logs}"
        );
    }
    // What Redis's test suite waits for before it talks to a server it started.
    assert!(logs.contains(&format!(" PID: {pid}")), "{logs}");
}

#[test]
fn without_the_logo_a_summary_line_names_the_port() {
    let server = Server::tessera(&["--always-show-logo", "no"]);
    let line = format!("Running mode=standalone, port={}.", server.port);
    assert!(server
        .logs()
        .lines()
        .any(|l| is_log_line(l, server.pid(), &line)));
}

#[test]
fn logfile_and_loglevel() {
    let dir = common::TempDir::new();
    let log = dir.path().join("tessera.log");
    let server = Server::tessera(&["--logfile", log.to_str().unwrap()]);
    let written = log_with(
        || std::fs::read_to_string(&log).unwrap_or_default(),
        "Ready to accept connections",
    );
    assert!(written.contains("Ready to accept connections"), "{written}");
    assert!(!server.logs().contains("Ready to accept"));
    drop(server);

    // Warnings only: the notices are left out, the warnings stay.
    let quiet = Server::tessera(&["--loglevel", "warning"]);
    let logs = log_with(|| quiet.logs(), "Server initialized");
    assert!(logs.contains("Server initialized"), "{logs}");
    assert!(!logs.contains("Ready to accept"), "{logs}");
    // And CONFIG SET loglevel takes effect at once.
    let mut conn = quiet.connect();
    conn.command(&["CONFIG", "SET", "loglevel", "notice"])
        .unwrap();
    conn.command(&["SAVE"]).unwrap();
    assert!(quiet.logs().contains("DB saved on disk"));
}

#[test]
fn pidfile_is_written_and_removed_at_exit() {
    let dir = common::TempDir::new();
    let pidfile = dir.path().join("tessera.pid");
    let mut server = Server::tessera(&["--pidfile", pidfile.to_str().unwrap()]);
    let written = std::fs::read_to_string(&pidfile).unwrap();
    assert_eq!(written, format!("{}\n", server.pid()));
    let _ = server.connect().command(&["SHUTDOWN", "NOSAVE"]);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    assert!(!pidfile.exists());
}

#[test]
fn clients_connect_through_the_unix_socket() {
    let dir = common::TempDir::new();
    let path = dir.path().join("tessera.sock");
    let mut server = Server::tessera(&[
        "--unixsocket",
        path.to_str().unwrap(),
        "--unixsocketperm",
        "700",
    ]);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let ready = format!(
        "The server is now ready to accept connections at {}",
        path.display()
    );
    assert!(log_with(|| server.logs(), &ready).contains(&ready));

    let mut sock = UnixStream::connect(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut ask = |command: &[u8]| -> String {
        sock.write_all(command).unwrap();
        let mut buf = vec![0; 4096];
        let n = sock.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(ask(b"SET k v\r\n"), "+OK\r\n");
    // Keys of every shard are reachable from a Unix socket client too.
    for key in ["{a}", "{b}", "{c}", "{d}"] {
        assert_eq!(ask(format!("SET {key} 1\r\n").as_bytes()), "+OK\r\n");
    }
    let me = ask(b"CLIENT INFO\r\n");
    assert!(
        me.contains(" addr=/unixsocket:0 laddr=/unixsocket:0 "),
        "{me}"
    );
    assert!(me.contains(" flags=U "), "{me}");
    // A Unix socket client is local: protected mode and `local` settings let it in.
    assert_eq!(ask(b"DEBUG SLEEP 0\r\n"), "+OK\r\n");

    let _ = server.connect().command(&["SHUTDOWN", "NOSAVE"]);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    assert!(!path.exists(), "the socket file is removed at exit");
}

#[test]
fn a_busy_port_is_reported_as_redis_reports_it() {
    let first = Server::tessera(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-server"))
        .args(["--port", &first.port.to_string(), "--save", ""])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "Failed listening on port {} (TCP), aborting.",
            first.port
        )),
        "{stdout}"
    );
    assert!(stdout.contains("Warning: Could not create server TCP listening socket 127.0.0.1:"));
}

#[test]
fn rename_command_renames_and_removes() {
    let server = Server::tessera(&[
        "--rename-command",
        "flushall",
        "",
        "--rename-command",
        "get",
        "fetch",
    ]);
    let mut conn = server.connect();
    conn.command(&["SET", "k", "v"]).unwrap();
    assert_eq!(conn.command(&["FETCH", "k"]).unwrap(), b"$1\r\nv\r\n");
    let unknown = conn.command(&["GET", "k"]).unwrap();
    assert!(
        unknown.starts_with(b"-ERR unknown command 'GET'"),
        "{unknown:?}"
    );
    let unknown = conn.command(&["FLUSHALL"]).unwrap();
    assert!(
        unknown.starts_with(b"-ERR unknown command 'FLUSHALL'"),
        "{unknown:?}"
    );
    assert_eq!(conn.command(&["FETCH", "k"]).unwrap(), b"$1\r\nv\r\n");
}

#[test]
fn acl_users_stop_the_start_rather_than_run_without_them() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-server"))
        // It stops before binding: the port does not matter.
        .args([
            "--port", "16999", "--user", "alice", "on", ">secret", "~*", "+@all",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ACL users ('user' lines, 'aclfile') are not supported"),
        "{stdout}"
    );
}

/// Waits until `port` answers PING, or gives up after 10 s.
fn wait_for_ping(port: u16) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(mut conn) = common::RawConn::connect(port) {
            if conn.command(&["PING"]).is_ok_and(|r| r == b"+PONG\r\n") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn daemonize_detaches_and_writes_the_pidfile() {
    let dir = common::TempDir::new();
    let (pidfile, log) = (dir.path().join("d.pid"), dir.path().join("d.log"));
    let port = common::free_port();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-server"))
        .args([
            "--port",
            &port.to_string(),
            "--daemonize",
            "yes",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir.path())
        .arg("--pidfile")
        .arg(&pidfile)
        .arg("--logfile")
        .arg(&log)
        .status()
        .unwrap();
    // The command returns at once: the server runs on in the background.
    assert!(status.success());
    assert!(
        wait_for_ping(port),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(&format!("{pid}:M ")), "{logged}");
    let _ = common::RawConn::connect(port)
        .unwrap()
        .command(&["SHUTDOWN", "NOSAVE"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pidfile.exists());
}

#[test]
fn systemd_is_told_when_the_server_is_ready() {
    let dir = common::TempDir::new();
    let socket = dir.path().join("notify");
    let listener = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = common::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-server"))
        .args([
            "--port",
            &port.to_string(),
            "--supervised",
            "auto",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir.path())
        .env("NOTIFY_SOCKET", &socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let mut said = Vec::new();
    for _ in 0..2 {
        let n = listener.recv(&mut buf).unwrap();
        said.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(said, ["STATUS=Ready to accept connections\n", "READY=1\n"]);
    // Ready means ready: it answers at once.
    assert_eq!(
        common::RawConn::connect(port)
            .unwrap()
            .command(&["PING"])
            .unwrap(),
        b"+PONG\r\n"
    );
    let _ = common::RawConn::connect(port)
        .unwrap()
        .command(&["SHUTDOWN", "NOSAVE"]);
    child.wait().unwrap();
}

#[test]
fn sigterm_shuts_down_as_shutdown_on_sigterm_says() {
    // No save points: SIGTERM alone saves nothing, `save` makes it save.
    for (flags, saves) in [("default", false), ("save", true)] {
        let mut server = Server::tessera(&["--shutdown-on-sigterm", flags]);
        server.connect().command(&["SET", "k", "v"]).unwrap();
        server.signal(libc::SIGTERM);
        assert!(server.wait_exit(Duration::from_secs(10)).is_some());
        assert_eq!(server.dir().join("dump.rdb").exists(), saves, "{flags}");
    }
}

#[test]
fn a_crash_leaves_a_bug_report_in_the_log() {
    for (enabled, reported) in [("yes", true), ("no", false)] {
        let mut server = Server::tessera(&["--crash-log-enabled", enabled]);
        let _ = server.connect().command(&["DEBUG", "PANIC"]);
        let status = server
            .wait_exit(Duration::from_secs(10))
            .expect("the server ends");
        assert!(!status.success());
        // The whole log: `logs()` keeps only its tail, for messages.
        let logs = std::fs::read_to_string(server.dir().join("stdout.log")).unwrap();
        assert_eq!(logs.contains("REDIS BUG REPORT START"), reported, "{logs}");
        if reported {
            assert!(logs.contains("DEBUG PANIC called at Unix time"), "{logs}");
            assert!(logs.contains("------ STACK TRACE ------"), "{logs}");
        }
    }
}

#[test]
fn shutdown_abort_cancels_a_pending_sigterm() {
    let mut server = Server::tessera(&[]);
    let mut conn = server.connect();
    assert_eq!(
        conn.command(&["SHUTDOWN", "ABORT"]).unwrap(),
        b"-ERR No shutdown in progress.\r\n"
    );
    // With the timers held, the signal's shutdown stays pending until ABORT cancels it.
    assert_eq!(
        conn.command(&["DEBUG", "PAUSE-CRON", "1"]).unwrap(),
        b"+OK\r\n"
    );
    server.signal(libc::SIGTERM);
    let _ = log_with(|| server.logs(), "Received SIGTERM scheduling shutdown...");
    assert_eq!(conn.command(&["SHUTDOWN", "ABORT"]).unwrap(), b"+OK\r\n");
    assert_eq!(
        conn.command(&["DEBUG", "PAUSE-CRON", "0"]).unwrap(),
        b"+OK\r\n"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(conn.command(&["PING"]).unwrap(), b"+PONG\r\n");
    assert!(server.is_running());
    assert!(log_with(|| server.logs(), "Shutdown manually aborted.")
        .contains("Shutdown manually aborted."));
}

#[test]
fn fatal_signals_leave_a_bug_report_too() {
    for how in ["segfault", "sigabrt"] {
        let mut server = Server::tessera(&[]);
        if how == "segfault" {
            let _ = server.connect().command(&["DEBUG", "SEGFAULT"]);
        } else {
            server.signal(libc::SIGABRT);
        }
        let status = server
            .wait_exit(Duration::from_secs(10))
            .expect("the server ends");
        assert!(!status.success());
        let logs = std::fs::read_to_string(server.dir().join("stdout.log")).unwrap();
        assert!(logs.contains("crashed by signal"), "{how}: {logs}");
        assert!(logs.contains("------ STACK TRACE ------"), "{how}: {logs}");
        assert_eq!(
            logs.matches("REDIS BUG REPORT START").count(),
            1,
            "{how}: {logs}"
        );
    }
}

#[test]
fn debug_log_writes_to_the_log() {
    let server = Server::tessera(&[]);
    let reply = server
        .connect()
        .command(&["DEBUG", "LOG", "### Starting test x"])
        .unwrap();
    assert_eq!(reply, b"+OK\r\n");
    let logs = log_with(|| server.logs(), "DEBUG LOG: ### Starting test x");
    assert!(logs
        .lines()
        .any(|l| is_log_line(l, server.pid(), "DEBUG LOG: ### Starting test x")));
}

#[test]
fn oom_score_adj_follows_config_set() {
    let server = Server::tessera(&[]);
    let path = format!("/proc/{}/oom_score_adj", server.pid());
    let score = || -> i32 {
        std::fs::read_to_string(&path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let base = score();
    let mut conn = server.connect();
    let mut set = |name: &str, value: &str| {
        let reply = conn.command(&["CONFIG", "SET", name, value]).unwrap();
        assert_eq!(reply, b"+OK\r\n", "{name} {value}");
    };
    set("oom-score-adj-values", "10 20 30");
    assert_eq!(score(), base, "off: the values alone change nothing");
    set("oom-score-adj", "yes");
    assert_eq!(score(), base + 10);
    set("oom-score-adj-values", "15 20 30");
    assert_eq!(score(), base + 15);
    set("oom-score-adj", "absolute");
    assert_eq!(score(), 15);
    set("oom-score-adj", "no");
    assert_eq!(score(), base, "off again: the starting score is back");
}

#[test]
fn debug_reload_inside_exec_is_refused_rather_than_waiting_for_ever() {
    let server = Server::tessera(&[]);
    let mut conn = server.connect();
    conn.command(&["MULTI"]).unwrap();
    conn.command(&["DEBUG", "RELOAD"]).unwrap();
    conn.command(&["DEBUG", "LOADAOF"]).unwrap();
    conn.command(&["DEBUG", "DIGEST"]).unwrap();
    let exec = String::from_utf8(conn.command(&["EXEC"]).unwrap()).unwrap();
    assert_eq!(
        exec.matches("cannot run inside a transaction").count(),
        2,
        "{exec}"
    );
    assert!(
        exec.contains("+0000000000000000000000000000000000000000"),
        "{exec}"
    );
    assert_eq!(conn.command(&["PING"]).unwrap(), b"+PONG\r\n");
}

/// Debian's stock redis.conf, every directive of it, starts Tessera: only where it would put
/// the server (port, daemon, files under /var and /run) is overridden on the command line,
/// which redis-server reads after the file.
#[test]
fn the_stock_debian_redis_conf_starts_the_server() {
    let stock = std::path::Path::new("/etc/redis/redis.conf");
    assert!(
        stock.exists(),
        "redis-server's package installs {}",
        stock.display()
    );
    let dir = common::TempDir::new();
    let port = common::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera-server"))
        .arg(stock)
        .args([
            "--port",
            &port.to_string(),
            "--daemonize",
            "no",
            "--logfile",
            "",
        ])
        .arg("--pidfile")
        .arg(dir.path().join("redis.pid"))
        .arg("--dir")
        .arg(dir.path())
        .stdout(std::fs::File::create(dir.path().join("stdout.log")).unwrap())
        .spawn()
        .unwrap();
    let started = wait_for_ping(port);
    let log = std::fs::read_to_string(dir.path().join("stdout.log")).unwrap();
    let _ = common::RawConn::connect(port).map(|mut c| c.command(&["SHUTDOWN", "NOSAVE"]));
    let _ = child.kill();
    child.wait().unwrap();
    assert!(started, "{log}");
    assert!(log.contains("Configuration loaded"), "{log}");
}
