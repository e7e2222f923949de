//! Shared helpers for Tessera's integration tests.
//!
//! Integration tests talk to real processes over TCP, exactly as a client
//! would, so what they check is what a user of the binary gets:
//!
//! * [`Server`] starts `tessera-server` (the binary Cargo built for this
//!   crate) or Debian's `redis-server` on a free loopback port with a fresh
//!   temporary directory, waits until it answers PING (polling, never a fixed
//!   sleep), and kills it when dropped.
//! * [`RawConn`] is a deliberately dumb RESP client: it sends a command as a
//!   multibulk and hands back *the exact bytes* of one complete reply. Tests
//!   compare bytes, not a client library's interpretation of them, because
//!   Tessera promises byte-for-byte compatibility with Redis.
//! * [`parse_reply`] / [`Reply`] understand every RESP2 and RESP3 type
//!   (including attributes and push messages). The reader uses the parser
//!   only to find where a reply ends; tests that need structure (sorting,
//!   approximate integers, type-only checks) use the tree it returns.
//!
//! Each integration test crate includes this file with `mod common;` and uses
//! only part of it, hence the crate-wide `dead_code` allowance.

#![allow(dead_code)]

pub mod data;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a server may take to answer its first PING. Generous because CI
/// machines are small (2 cores) and tests start servers in parallel.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`RawConn::read_reply`] waits for bytes before giving up. A
/// server that forgets to reply must fail the test, not hang it.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a start is retried when the chosen port was taken between
/// probing it and the server binding it.
const START_ATTEMPTS: usize = 5;

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// A server process started for one test, killed when dropped.
pub struct Server {
    /// The loopback port it listens on.
    pub port: u16,
    /// What was started, for messages ("tessera-server --threads 2").
    pub label: String,
    child: Child,
    /// Its `--dir` and the home of its stdout/stderr logs. Declared after
    /// `child` only for readability: Drop kills the child explicitly before
    /// the fields (and so the directory) are dropped. Shared when a test
    /// restarts a server on the files an earlier one left.
    dir: Arc<TempDir>,
}

impl Server {
    /// Starts Tessera with the default two shard threads, so keys are spread
    /// over more than one shard (the interesting case for multi-key commands).
    pub fn tessera(extra_args: &[&str]) -> Server {
        Server::tessera_threads(2, extra_args)
    }

    /// Starts Tessera with an explicit thread count. A separate constructor
    /// rather than `--threads` in `extra_args` because whether a repeated
    /// option overrides or is refused is a property of the server's option
    /// parser, which tests should not depend on.
    pub fn tessera_threads(threads: usize, extra_args: &[&str]) -> Server {
        Server::tessera_in(None, threads, extra_args)
    }

    /// Starts Tessera in `dir` (a fresh one when `None`), so a test can
    /// restart it on the files an earlier server left there.
    pub fn tessera_in(dir: Option<Arc<TempDir>>, threads: usize, extra_args: &[&str]) -> Server {
        let program = env!("CARGO_BIN_EXE_tessera-server");
        let threads = threads.to_string();
        Server::start(
            &format!("tessera-server --threads {threads}"),
            Path::new(program),
            dir,
            |port, dir| {
                let mut args: Vec<OsString> = vec![
                    "--port".into(),
                    port.to_string().into(),
                    "--bind".into(),
                    "127.0.0.1".into(),
                    "--dir".into(),
                    dir.as_os_str().to_owned(),
                    "--threads".into(),
                    threads.clone().into(),
                    // Same persistence settings as the reference below, so CONFIG GET agrees.
                    "--save".into(),
                    "".into(),
                    "--appendonly".into(),
                    "no".into(),
                    // Tests use DEBUG (SLEEP, SET-ACTIVE-EXPIRE); so does the reference below.
                    "--enable-debug-command".into(),
                    "yes".into(),
                ];
                args.extend(extra_args.iter().map(OsString::from));
                args
            },
        )
    }

    /// Starts Debian's `redis-server`, the reference implementation. It
    /// keeps nothing on disk (`--save ''`, no AOF) so a test never depends on
    /// what an earlier one left behind. Fails the test if redis-server is not installed.
    pub fn redis(extra_args: &[&str]) -> Server {
        Server::redis_in(None, extra_args)
    }

    /// Starts `redis-server` in `dir` (a fresh one when `None`).
    pub fn redis_in(dir: Option<Arc<TempDir>>, extra_args: &[&str]) -> Server {
        require_redis();
        Server::start(
            "redis-server",
            Path::new("redis-server"),
            dir,
            |port, dir| {
                let mut args: Vec<OsString> = vec![
                    "--port".into(),
                    port.to_string().into(),
                    "--bind".into(),
                    "127.0.0.1".into(),
                    "--save".into(),
                    "".into(),
                    "--appendonly".into(),
                    "no".into(),
                    "--dir".into(),
                    dir.as_os_str().to_owned(),
                    "--enable-debug-command".into(),
                    "yes".into(),
                ];
                args.extend(extra_args.iter().map(OsString::from));
                args
            },
        )
    }

    /// Spawns `program` with the arguments `args(port, dir)` and waits until
    /// it answers PING. Panics, with the server's output, if it cannot.
    fn start(
        label: &str,
        program: &Path,
        dir: Option<Arc<TempDir>>,
        args: impl Fn(u16, &Path) -> Vec<OsString>,
    ) -> Server {
        for attempt in 1..=START_ATTEMPTS {
            let dir = dir.clone().unwrap_or_else(|| Arc::new(TempDir::new()));
            let port = free_port();
            let stdout = append(&dir.path().join("stdout.log"))
                .expect("temp dir was just created, a file in it can be");
            let stderr = append(&dir.path().join("stderr.log"))
                .expect("temp dir was just created, a file in it can be");
            // Output goes to files, not pipes: nobody drains a pipe while the
            // test runs, and a chatty server would block once it filled up.
            let mut child = Command::new(program)
                .args(args(port, dir.path()))
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {label} ({}): {e}", program.display()));

            match wait_until_ready(&mut child, port) {
                Ok(()) => {
                    return Server {
                        port,
                        label: label.to_string(),
                        child,
                        dir,
                    };
                }
                Err(NotReady::Exited(status)) => {
                    let output = read_logs(dir.path());
                    if attempt < START_ATTEMPTS && looks_like_port_clash(&output) {
                        continue;
                    }
                    panic!("{label} exited during startup on port {port} ({status}).\n{output}");
                }
                Err(NotReady::TimedOut) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let output = read_logs(dir.path());
                    panic!(
                        "{label} did not answer PING on port {port} within {:?}.\n{output}",
                        STARTUP_TIMEOUT
                    );
                }
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// Opens a new raw connection to this server.
    pub fn connect(&self) -> RawConn {
        RawConn::connect(self.port).unwrap_or_else(|e| {
            panic!(
                "cannot connect to {} on port {}: {e}",
                self.label, self.port
            )
        })
    }

    /// Its `--dir`: where persistence tests find the files it wrote.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's stdout and stderr so far, for failure messages.
    pub fn logs(&self) -> String {
        read_logs(self.dir.path())
    }

    /// Whether the process is still running (it may have crashed mid-test).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its directory, to start another server on the same files.
    pub fn shared_dir(&self) -> Arc<TempDir> {
        self.dir.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (SIGTERM, SIGKILL...) to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGKILL: tests never need a graceful shutdown, and a server that
        // hangs on SIGTERM must not hang the test run.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum NotReady {
    Exited(ExitStatus),
    TimedOut,
}

/// Polls the server until a PING over TCP gets `+PONG`. Each round first
/// checks whether the process died, so a bad command line fails fast instead
/// of after the full timeout.
fn wait_until_ready(child: &mut Child, port: u16) -> Result<(), NotReady> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(NotReady::Exited(status));
        }
        if ping_once(port) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(NotReady::TimedOut);
        }
        // A short pause between polls; readiness itself is decided by PING.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One readiness probe. Anything but `+PONG` (refused, reset, `-LOADING`)
/// means "not yet".
fn ping_once(port: u16) -> bool {
    let Ok(mut conn) = RawConn::connect(port) else {
        return false;
    };
    let _ = conn
        .stream
        .set_read_timeout(Some(Duration::from_millis(500)));
    matches!(conn.command(&["PING"]), Ok(reply) if reply == b"+PONG\r\n")
}

/// A port that was free a moment ago. Between releasing it and the server
/// binding it another process can take it; `Server::start` retries then.
/// Ports are never handed out twice by one test process, because two servers
/// of the same test run racing for one port could otherwise make a readiness
/// PING reach the *other* server.
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<BTreeSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(Default::default);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
        let port = listener
            .local_addr()
            .expect("a bound socket has an address")
            .port();
        drop(listener);
        if handed_out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(port)
        {
            return port;
        }
    }
}

/// Both servers' wording for a bind that failed because the port is in use
/// (redis-server: "Address already in use"; Rust's io::Error says the same).
fn looks_like_port_clash(output: &str) -> bool {
    let lower = output.to_ascii_lowercase();
    lower.contains("address already in use") || lower.contains("addrinuse")
}

fn read_logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["stdout.log", "stderr.log"] {
        let text = fs::read(dir.join(name)).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        // The tail is where the reason for a failure is; a long startup
        // banner would bury it.
        if text.trim().is_empty() {
            out.push_str(&format!("--- {name}: empty ---\n"));
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        out.push_str(&format!("--- {name} (last {} lines) ---\n", tail.len()));
        for line in tail {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Fails the test unless Debian's `redis-server` (the reference implementation) can be run
/// here: a comparison with Redis that quietly passes without Redis proves nothing. CI installs
/// it (`.ci/run`); so does `apt-get install -y redis-server redis-tools`. Checked once per
/// process.
pub fn require_redis() {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    let found = *AVAILABLE.get_or_init(|| {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });
    assert!(
        found,
        "redis-server is not installed: apt-get install -y redis-server redis-tools"
    );
}

/// A directory under the system temp dir, removed on drop. Hand-rolled so the
/// tests need no extra crate; names are unique per process and call.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("tessera-test-{}-{n}", std::process::id()));
        // A leftover from a crashed run with a recycled pid would otherwise
        // leak its files into this test.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Raw RESP connection
// ---------------------------------------------------------------------------

/// A connection that sends commands as RESP multibulks and returns replies as
/// raw bytes, one complete reply at a time. It never interprets a reply, so a
/// test can assert on exactly what went over the wire.
pub struct RawConn {
    stream: TcpStream,
    /// Bytes received but not yet returned: a read may deliver the start of
    /// the next reply (pipelining, push messages) along with this one.
    pending: Vec<u8>,
}

impl RawConn {
    pub fn connect(port: u16) -> io::Result<RawConn> {
        RawConn::from_stream(TcpStream::connect(("127.0.0.1", port))?)
    }

    /// A connection made elsewhere (from another source address, say).
    pub fn from_stream(stream: TcpStream) -> io::Result<RawConn> {
        // Commands are small and sent one at a time; without NODELAY each
        // would wait on Nagle's algorithm and the suite would crawl.
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        Ok(RawConn {
            stream,
            pending: Vec::new(),
        })
    }

    /// Sends one command, each argument a bulk string.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        self.stream.write_all(&encode_command(args))
    }

    /// Sends bytes as they are: inline commands, malformed input, pipelines.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads exactly one complete reply (an attribute counts together with
    /// the reply it precedes) and returns its bytes. Fails on timeout, on a
    /// closed connection and on bytes that are not valid RESP.
    pub fn read_reply(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match parse_reply(&self.pending) {
                Ok(Some((_, len))) => return Ok(self.pending.drain(..len).collect()),
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("invalid RESP ({e}) in {}", escape(&self.pending, 200)),
                    ))
                }
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = match self.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no complete reply within {REPLY_TIMEOUT:?}; got so far {}",
                            escape(&self.pending, 200)
                        ),
                    ))
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed; got so far {}",
                        escape(&self.pending, 200)
                    ),
                ));
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a command and reads its reply.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Vec<u8>> {
        self.send(args)?;
        self.read_reply()
    }

    /// Changes how long `read_reply` waits (e.g. shorter to assert silence).
    pub fn set_reply_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Closes the writing half, as a client does that has nothing more to send.
    /// The underlying socket, for tests that watch the connection itself (e.g. that the
    /// server closes it).
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }
}

/// Encodes a command the way every client does: `*<n>` then `$<len>` bulks.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Shows bytes as a quoted, escaped string (`"+OK\r\n"`), cut after `max`
/// bytes with a note of the full length.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let mut out = format!("\"{}\"", shown.escape_ascii());
    if bytes.len() > max {
        out.push_str(&format!("... ({} bytes in all)", bytes.len()));
    }
    out
}

// ---------------------------------------------------------------------------
// RESP2/RESP3 replies
// ---------------------------------------------------------------------------

/// One reply, as a tree. Scalars keep their payload bytes as sent (a double
/// stays `"3.5"` or `"inf"`), so re-encoding a parsed reply gives back what
/// a conforming server wrote.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reply {
    /// `+OK`
    Simple(Vec<u8>),
    /// `-ERR ...`
    Error(Vec<u8>),
    /// `:42`
    Integer(i64),
    /// `$3 foo`
    Bulk(Vec<u8>),
    /// `$-1`, RESP2's null
    NullBulk,
    /// `*2 ...`
    Array(Vec<Reply>),
    /// `*-1`, RESP2's null array
    NullArray,
    /// `_`, RESP3's null
    Null,
    /// `,1.5` (also `inf`, `-inf`, `nan`)
    Double(Vec<u8>),
    /// `#t` / `#f`
    Boolean(bool),
    /// `!<len>` error with a binary-safe message
    BlobError(Vec<u8>),
    /// `=<len>` verbatim string, payload including its `txt:` prefix
    Verbatim(Vec<u8>),
    /// `(123...`
    BigNumber(Vec<u8>),
    /// `%<n>` key/value pairs, in the order sent
    Map(Vec<(Reply, Reply)>),
    /// `~<n>`
    Set(Vec<Reply>),
    /// `><n>` out-of-band message (pub/sub, invalidation)
    Push(Vec<Reply>),
    /// `|<n>` attributes, and the reply they describe
    Attribute(Vec<(Reply, Reply)>, Box<Reply>),
}

impl Reply {
    /// The type's name, for messages and for type-only comparisons.
    pub fn type_name(&self) -> &'static str {
        match self {
            Reply::Simple(_) => "simple-string",
            Reply::Error(_) => "error",
            Reply::Integer(_) => "integer",
            Reply::Bulk(_) => "bulk-string",
            Reply::NullBulk => "null-bulk",
            Reply::Array(_) => "array",
            Reply::NullArray => "null-array",
            Reply::Null => "null",
            Reply::Double(_) => "double",
            Reply::Boolean(_) => "boolean",
            Reply::BlobError(_) => "blob-error",
            Reply::Verbatim(_) => "verbatim-string",
            Reply::BigNumber(_) => "big-number",
            Reply::Map(_) => "map",
            Reply::Set(_) => "set",
            Reply::Push(_) => "push",
            Reply::Attribute(..) => "attribute",
        }
    }

    /// Writes the reply in RESP.
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn blob(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
            out.push(tag);
            out.extend_from_slice(payload.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(payload);
            out.extend_from_slice(b"\r\n");
        }
        fn line(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
            out.push(tag);
            out.extend_from_slice(payload);
            out.extend_from_slice(b"\r\n");
        }
        fn items(out: &mut Vec<u8>, tag: u8, items: &[Reply]) {
            line(out, tag, items.len().to_string().as_bytes());
            items.iter().for_each(|item| item.encode(out));
        }
        fn pairs(out: &mut Vec<u8>, tag: u8, pairs: &[(Reply, Reply)]) {
            line(out, tag, pairs.len().to_string().as_bytes());
            for (k, v) in pairs {
                k.encode(out);
                v.encode(out);
            }
        }
        match self {
            Reply::Simple(s) => line(out, b'+', s),
            Reply::Error(s) => line(out, b'-', s),
            Reply::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Reply::Bulk(b) => blob(out, b'$', b),
            Reply::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(a) => items(out, b'*', a),
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Null => out.extend_from_slice(b"_\r\n"),
            Reply::Double(d) => line(out, b',', d),
            Reply::Boolean(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Reply::BlobError(b) => blob(out, b'!', b),
            Reply::Verbatim(b) => blob(out, b'=', b),
            Reply::BigNumber(n) => line(out, b'(', n),
            Reply::Map(p) => pairs(out, b'%', p),
            Reply::Set(s) => items(out, b'~', s),
            Reply::Push(p) => items(out, b'>', p),
            Reply::Attribute(attrs, reply) => {
                pairs(out, b'|', attrs);
                reply.encode(out);
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Parses one reply from the start of `buf`. `Ok(None)` means the bytes so
/// far are a valid but incomplete reply (read more); `Ok(Some((reply, n)))`
/// gives the reply and how many bytes it used. Streamed RESP3 types (`$?`,
/// `*?` ...) are refused: Redis never sends them, so seeing one is a bug.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let mut parser = Parser { buf, pos: 0 };
    match parser.reply(0) {
        Ok(reply) => Ok(Some((reply, parser.pos))),
        Err(ParseError::Incomplete) => Ok(None),
        Err(ParseError::Invalid(why)) => Err(why),
    }
}

/// Nesting deeper than this is refused rather than risking the test's stack.
const MAX_DEPTH: usize = 256;

enum ParseError {
    Incomplete,
    Invalid(String),
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn reply(&mut self, depth: usize) -> Result<Reply, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::Invalid(format!(
                "nested deeper than {MAX_DEPTH}"
            )));
        }
        let start = self.pos;
        let tag = *self.buf.get(self.pos).ok_or(ParseError::Incomplete)?;
        self.pos += 1;
        let head = self.line()?;
        if head.first() == Some(&b'?') && b"$*%~|>=!".contains(&tag) {
            return Err(ParseError::Invalid(
                "streamed RESP3 types are not expected from Redis".into(),
            ));
        }
        Ok(match tag {
            b'+' => Reply::Simple(head.to_vec()),
            b'-' => Reply::Error(head.to_vec()),
            b':' => Reply::Integer(self.integer(head)?),
            b',' => Reply::Double(head.to_vec()),
            b'(' => Reply::BigNumber(head.to_vec()),
            b'_' if head.is_empty() => Reply::Null,
            b'#' if head == b"t" => Reply::Boolean(true),
            b'#' if head == b"f" => Reply::Boolean(false),
            b'$' | b'!' | b'=' => {
                let len = self.integer(head)?;
                if len == -1 && tag == b'$' {
                    Reply::NullBulk
                } else {
                    let payload = self.payload(len)?;
                    match tag {
                        b'$' => Reply::Bulk(payload),
                        b'!' => Reply::BlobError(payload),
                        _ => Reply::Verbatim(payload),
                    }
                }
            }
            b'*' | b'~' | b'>' => {
                let len = self.integer(head)?;
                if len == -1 && tag == b'*' {
                    Reply::NullArray
                } else {
                    let n = self.count(len)?;
                    let items = (0..n)
                        .map(|_| self.reply(depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    match tag {
                        b'*' => Reply::Array(items),
                        b'~' => Reply::Set(items),
                        _ => Reply::Push(items),
                    }
                }
            }
            b'%' | b'|' => {
                let n = self.count(self.integer(head)?)?;
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let key = self.reply(depth + 1)?;
                    let value = self.reply(depth + 1)?;
                    pairs.push((key, value));
                }
                if tag == b'%' {
                    Reply::Map(pairs)
                } else {
                    // An attribute is not a reply by itself: it decorates the
                    // one that follows, and the two are read as one unit.
                    Reply::Attribute(pairs, Box::new(self.reply(depth + 1)?))
                }
            }
            _ => {
                return Err(ParseError::Invalid(format!(
                    "unexpected reply {} at byte {start}",
                    escape(&self.buf[start..self.pos], 60)
                )))
            }
        })
    }

    /// The rest of the current line, without its CRLF.
    fn line(&mut self) -> Result<&'a [u8], ParseError> {
        let rest: &'a [u8] = &self.buf[self.pos..];
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            return Err(ParseError::Incomplete);
        };
        if lf == 0 || rest[lf - 1] != b'\r' {
            return Err(ParseError::Invalid(format!(
                "line without CRLF at byte {}",
                self.pos
            )));
        }
        self.pos += lf + 1;
        Ok(&rest[..lf - 1])
    }

    fn integer(&self, text: &[u8]) -> Result<i64, ParseError> {
        std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ParseError::Invalid(format!("bad integer {}", escape(text, 40))))
    }

    fn count(&self, len: i64) -> Result<usize, ParseError> {
        usize::try_from(len).map_err(|_| ParseError::Invalid(format!("bad length {len}")))
    }

    /// A length-prefixed payload and the CRLF after it.
    fn payload(&mut self, len: i64) -> Result<Vec<u8>, ParseError> {
        let len = self.count(len)?;
        let end = self.pos.checked_add(len).ok_or(ParseError::Incomplete)?;
        if self.buf.len() < end + 2 {
            return Err(ParseError::Incomplete);
        }
        if &self.buf[end..end + 2] != b"\r\n" {
            return Err(ParseError::Invalid(format!(
                "payload of {len} bytes not followed by CRLF"
            )));
        }
        let payload = self.buf[self.pos..end].to_vec();
        self.pos = end + 2;
        Ok(payload)
    }
}

/// Opens a log file for appending, so a restarted server's output follows its predecessor's.
fn append(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new().create(true).append(true).open(path)
}
