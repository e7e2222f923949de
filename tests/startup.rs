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

#[test]
fn the_log_has_redis_lines_and_the_logo_shows_the_pid() {
    let server = Server::tessera(&["--always-show-logo", "yes"]);
    let logs = server.logs();
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
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("Ready to accept connections"), "{written}");
    assert!(!server.logs().contains("Ready to accept"));
    drop(server);

    // Warnings only: the notices are left out, the warnings stay.
    let quiet = Server::tessera(&["--loglevel", "warning"]);
    let logs = quiet.logs();
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
    assert!(server.logs().contains(&format!(
        "The server is now ready to accept connections at {}",
        path.display()
    )));

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
