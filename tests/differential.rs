//! Differential tests: Tessera against the real `redis-server`.
//!
//! Tessera promises to be a drop-in for Redis 7.0: the same reply bytes and
//! the same error strings for the same commands. Rather than writing the
//! expected replies by hand (and getting them subtly wrong), each script in
//! `tests/scripts/<group>.redis` is sent to a real `redis-server` and to
//! Tessera in lockstep, and every reply is compared byte for byte.
//!
//! # How a script runs
//!
//! For every script one `redis-server` (the reference) and two Tessera
//! instances are started: `--threads 2`, so keys land on different shards,
//! and `--threads 1`, so everything is on one. The script then runs twice,
//! each time on fresh connections that first send `FLUSHALL`:
//!
//! 1. in RESP2;
//! 2. in RESP3, after `HELLO 3` (whose reply carries the server's name,
//!    version and connection id, so it is only checked to be a map).
//!
//! Each command is sent to all servers before any reply is read, so they see
//! it at almost the same moment (which keeps expiry tests honest), then each
//! Tessera reply is compared with Redis's. After the last line one more PING
//! goes to everyone, so a stray extra reply cannot hide at the end.
//!
//! All mismatches of a script are collected and reported together before the
//! test fails, because one look at every difference says more than the first
//! one alone:
//!
//! ```text
//! strings.redis:47 [Resp3] tessera-server --threads 2
//!     command: SET k v EX 0
//!     redis:   "-ERR invalid expire time in 'set' command\r\n"
//!     tessera: "+OK\r\n"
//!     (exact comparison; first difference at byte 0)
//! ```
//!
//! A server that stops answering is reported once, with the tail of its
//! stdout/stderr, and skipped for the rest of that pass. If the *reference*
//! does not answer, the script itself is wrong and the test panics saying so.
//!
//! Redis is absent? Every test fails, saying how to install it (CI does).
//!
//! # Script syntax
//!
//! One command per line, in redis-cli syntax (the rules of Redis's
//! `sdssplitargs`): words separated by spaces; `"double quotes"` with the
//! escapes `\n \r \t \b \a \\ \" \xHH`; `'single quotes'` where only `\'` is
//! an escape; `""` is an empty argument; a closing quote must be followed by
//! a space or the end of the line. Blank lines and lines starting with `#`
//! are ignored (an argument that starts with `#` must not start a line —
//! no command name does).
//!
//! State carries over from line to line; `SELECT`, `CONFIG SET` and the like
//! are allowed, but a script that changes server configuration must restore
//! it at its end, because the RESP3 pass reuses the same servers.
//!
//! # Directives
//!
//! A line `@name [arg]` changes how the *next command* is run or compared
//! (directives stack; `@sleep` is a step of its own):
//!
//! | directive       | effect |
//! |-----------------|--------|
//! | `@skip-resp2`   | run the next command only in the RESP3 pass (mind that state then differs between the passes) |
//! | `@skip-resp3`   | run the next command only in the RESP2 pass |
//! | `@type-only`    | compare only the reply's shape: the same type at every level and the same number of elements in aggregates, but not the scalar values (TIME, CLIENT ID, RANDOMKEY, INFO) |
//! | `@sorted`       | the order of elements is unspecified: sort every aggregate (arrays, sets, maps by key, push), at every depth, before comparing (KEYS, SCAN) |
//! | `@approx [N]`   | integers anywhere in the reply may differ by up to N (default 1): TTL, PTTL, OBJECT IDLETIME |
//! | `@no-reply`     | the next command gets no reply (CLIENT REPLY OFF/SKIP); nothing is read. A server that does reply anyway shifts every later reply, which the next comparison catches |
//! | `@replies N`    | the next command gets N replies (SUBSCRIBE to N channels), each compared |
//! | `@read`         | a step of its own: read one more reply (a Pub/Sub message) from the connection `@conn` names, sending nothing, and compare it |
//! | `@sleep MS`     | wait MS milliseconds (expiry tests) |
//! | `@conn N`       | send the next command on the script's connection N (1, the default, or more: opened on first use, same protocol, not flushed) — another client, for WATCH and the like |
//!
//! `@type-only` cannot be combined with `@sorted` or `@approx`; with both of
//! those, sorting happens first. A RESP2 reply that is a flat key/value list
//! (CONFIG GET) is sorted element by element, so which value belongs to which
//! key is checked only in the RESP3 pass, where it is a map.
//!
//! Non-determinism is not only random output: two replies that depend on the
//! millisecond clock (`EXPIRE k 100` then `EXPIRE k 100 GT`) can differ too.
//! Run a new script a few dozen times against Redis alone (the scratch crate
//! that validated this harness runs a second redis-server as "Tessera").
//!
//! # Adding a script
//!
//! Write `tests/scripts/<group>.redis` and add `<group>` to the
//! `differential_scripts!` list below (a test fails if a file is not listed).
//! Each listed group becomes its own test, `scripts::<group>`, so
//! `cargo test --test differential strings` runs one group. To see what
//! Redis answers to each line while writing a script, set
//! `TESSERA_DIFF_TRACE=1` and pass `-- --nocapture`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{escape, parse_reply, require_redis, RawConn, Reply, Server};

/// Declares the script groups: one `#[test]` each, named after the file.
macro_rules! differential_scripts {
    ($($name:ident),+ $(,)?) => {
        /// Every group the suite runs, for `every_script_is_listed`.
        const SCRIPTS: &[&str] = &[$(stringify!($name)),+];

        mod scripts {
            $(
                #[test]
                fn $name() {
                    super::run_script(stringify!($name));
                }
            )+
        }
    };
}

differential_scripts!(
    strings,
    bitmaps,
    keyspace,
    expiry,
    connection,
    server,
    lists,
    sets,
    zsets,
    hashes,
    blocking,
    debug,
    sort,
    dump,
    multi,
    memory,
    scripting,
    functions,
    lua_bit_struct,
    lua_cjson_cmsgpack,
    pubsub,
    notifications,
    introspection,
    tracking
);

/// A script file nobody listed would silently never run.
#[test]
fn every_script_is_listed() {
    let mut unlisted = Vec::new();
    for entry in std::fs::read_dir(scripts_dir()).expect("tests/scripts exists") {
        let path = entry.expect("readable directory entry").path();
        if path.extension().is_some_and(|ext| ext == "redis") {
            let stem = path
                .file_stem()
                .expect("a path with an extension has a stem")
                .to_string_lossy()
                .into_owned();
            if !SCRIPTS.contains(&stem.as_str()) {
                unlisted.push(stem);
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "scripts not listed in differential_scripts!: {unlisted:?}"
    );
}

/// Every script parses, even where redis-server is missing and the
/// comparisons are skipped: a typo should not wait for a machine with Redis.
#[test]
fn every_script_parses() {
    for name in SCRIPTS {
        if let Err(e) = parse_script(&read_script(name)) {
            panic!("{name}.redis: {e}");
        }
    }
}

fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("scripts")
}

fn read_script(name: &str) -> String {
    let path = scripts_dir().join(format!("{name}.redis"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Resp2,
    Resp3,
}

/// How a reply is compared; the default is byte for byte.
#[derive(Clone, Debug, Default, PartialEq)]
struct Check {
    type_only: bool,
    sorted: bool,
    approx: Option<i64>,
}

impl Check {
    fn is_exact(&self) -> bool {
        *self == Check::default()
    }
}

/// One command line of a script and the directives in force for it.
#[derive(Debug)]
struct Command {
    line: usize,
    /// The line as written, for reports.
    source: String,
    args: Vec<Vec<u8>>,
    /// `Some(p)`: run only in the pass using protocol `p`.
    only: Option<Protocol>,
    check: Check,
    /// How many replies it gets: 1, none under CLIENT REPLY OFF, several for SUBSCRIBE.
    replies: usize,
    /// Which of the script's connections sends it (0: the first).
    conn: usize,
}

#[derive(Debug)]
enum Step {
    Run(Command),
    Sleep(Duration),
}

/// Directives seen since the last command.
#[derive(Default)]
struct Pending {
    first_line: Option<usize>,
    only: Option<Protocol>,
    check: Check,
    replies: Option<usize>,
    conn: usize,
}

/// Turns a script into steps, or says which line is wrong and why.
fn parse_script(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut pending = Pending::default();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("line {line_no}: {e}");
        if let Some(directive) = line.strip_prefix('@') {
            let mut words = directive.split_whitespace();
            let name = words.next().unwrap_or("");
            let arg = words.next();
            if words.next().is_some() {
                return Err(at(format!("too many arguments to @{name}")));
            }
            let number = |what: &str| -> Result<u64, String> {
                arg.ok_or_else(|| format!("@{name} needs {what}"))?
                    .parse()
                    .map_err(|_| format!("@{name}: {what} must be a non-negative integer"))
            };
            if name != "sleep" && name != "read" {
                pending.first_line.get_or_insert(line_no);
            }
            match name {
                "skip-resp2" | "skip-resp3" => {
                    let keep = if name == "skip-resp2" {
                        Protocol::Resp3
                    } else {
                        Protocol::Resp2
                    };
                    if pending.only.is_some_and(|p| p != keep) {
                        return Err(at(
                            "@skip-resp2 and @skip-resp3 together skip the command everywhere"
                                .into(),
                        ));
                    }
                    pending.only = Some(keep);
                }
                "type-only" => pending.check.type_only = true,
                "sorted" => pending.check.sorted = true,
                "approx" => {
                    let tolerance = if arg.is_some() {
                        number("a tolerance").map_err(at)?
                    } else {
                        1
                    };
                    pending.check.approx = Some(tolerance as i64);
                }
                "no-reply" => pending.replies = Some(0),
                "replies" => pending.replies = Some(number("a count").map_err(at)? as usize),
                "read" => {
                    let p = std::mem::take(&mut pending);
                    steps.push(Step::Run(Command {
                        line: line_no,
                        source: line.to_string(),
                        args: Vec::new(),
                        only: p.only,
                        check: p.check,
                        replies: 1,
                        conn: p.conn,
                    }));
                }
                "conn" => {
                    let n = number("a connection number").map_err(at)?;
                    if n == 0 {
                        return Err(at("connections are numbered from 1".into()));
                    }
                    pending.conn = n as usize - 1;
                }
                "sleep" => steps.push(Step::Sleep(Duration::from_millis(
                    number("milliseconds").map_err(at)?,
                ))),
                _ => return Err(at(format!("unknown directive @{name}"))),
            }
            if arg.is_some() && !matches!(name, "approx" | "sleep" | "conn" | "replies") {
                return Err(at(format!("@{name} takes no argument")));
            }
            continue;
        }
        let args = split_args(line).map_err(at)?;
        let p = std::mem::take(&mut pending);
        if p.check.type_only && (p.check.sorted || p.check.approx.is_some()) {
            return Err(at(
                "@type-only cannot be combined with @sorted or @approx".into()
            ));
        }
        steps.push(Step::Run(Command {
            line: line_no,
            source: line.to_string(),
            args,
            only: p.only,
            check: p.check,
            replies: p.replies.unwrap_or(1),
            conn: p.conn,
        }));
    }
    match pending.first_line {
        Some(line) => Err(format!("line {line}: directive not followed by a command")),
        None => Ok(steps),
    }
}

/// Splits a line into arguments exactly as redis-cli does (Redis's `sdssplitargs`, the
/// server's own splitter), so a script line means what it would mean typed into redis-cli.
fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    tessera::resp::split::split_args(line.as_bytes())
        .ok_or_else(|| "unbalanced quotes, or a closing quote not followed by a space".into())
}

// ---------------------------------------------------------------------------
// Running a script
// ---------------------------------------------------------------------------

/// Runs one script against Redis and both Tessera configurations, in both
/// protocols, and fails with every mismatch found.
fn run_script(name: &str) {
    require_redis();
    let steps = parse_script(&read_script(name)).unwrap_or_else(|e| panic!("{name}.redis: {e}"));
    let reference = Server::redis(&[]);
    let candidates = [Server::tessera(&[]), Server::tessera_threads(1, &[])];

    let mut mismatches = Vec::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        run_pass(
            name,
            &steps,
            protocol,
            &reference,
            &candidates,
            &mut mismatches,
        );
    }
    if !mismatches.is_empty() {
        const SHOWN: usize = 50;
        let mut report = format!(
            "{} mismatch(es) between redis-server and Tessera in tests/scripts/{name}.redis\n\n",
            mismatches.len()
        );
        for m in mismatches.iter().take(SHOWN) {
            report.push_str(m);
            report.push('\n');
        }
        if mismatches.len() > SHOWN {
            report.push_str(&format!("... and {} more\n", mismatches.len() - SHOWN));
        }
        panic!("{report}");
    }
}

/// A server's connection for one pass; `None` once it stopped answering
/// properly, since every later reply would be out of step.
struct Peer<'a> {
    server: &'a Server,
    conn: Option<RawConn>,
    /// The script's further connections (`@conn 2`...), opened when first used.
    others: Vec<RawConn>,
}

/// Connection `n` of a pass: the first, or a further one opened now if needed.
fn nth<'c>(
    first: &'c mut RawConn,
    others: &'c mut Vec<RawConn>,
    server: &Server,
    protocol: Protocol,
    n: usize,
) -> Result<&'c mut RawConn, String> {
    if n == 0 {
        return Ok(first);
    }
    while others.len() < n {
        others.push(connect(server, protocol)?);
    }
    Ok(&mut others[n - 1])
}

fn run_pass(
    script: &str,
    steps: &[Step],
    protocol: Protocol,
    reference: &Server,
    candidates: &[Server],
    mismatches: &mut Vec<String>,
) {
    let trace = std::env::var_os("TESSERA_DIFF_TRACE").is_some();
    let mut expected_conn = open(reference, protocol).unwrap_or_else(|e| {
        panic!(
            "reference {} [{protocol:?}]: {e}\n{}",
            reference.label,
            reference.logs()
        )
    });
    let mut expected_others: Vec<RawConn> = Vec::new();
    let mut peers: Vec<Peer> = candidates
        .iter()
        .map(|server| Peer {
            server,
            others: Vec::new(),
            conn: open(server, protocol)
                .map_err(|e| {
                    mismatches.push(format!(
                        "{script}.redis [{protocol:?}] {}: {e}\n{}",
                        server.label,
                        server.logs()
                    ))
                })
                .ok(),
        })
        .collect();

    for step in steps {
        let cmd = match step {
            Step::Sleep(duration) => {
                std::thread::sleep(*duration);
                continue;
            }
            Step::Run(cmd) => cmd,
        };
        if cmd.only.is_some_and(|p| p != protocol) {
            continue;
        }
        let place = format!("{script}.redis:{} [{protocol:?}]", cmd.line);

        // Everyone gets the command before anyone's reply is read (`@read` sends nothing).
        if !cmd.args.is_empty() {
            let expected_on = nth(
                &mut expected_conn,
                &mut expected_others,
                reference,
                protocol,
                cmd.conn,
            )
            .unwrap_or_else(|e| panic!("{place}: reference redis-server: {e}"));
            expected_on.send(&cmd.args).unwrap_or_else(|e| {
                panic!("{place}: cannot send to the reference redis-server: {e}")
            });
            for peer in &mut peers {
                if let Some(first) = &mut peer.conn {
                    let sent = nth(first, &mut peer.others, peer.server, protocol, cmd.conn)
                        .and_then(|conn| conn.send(&cmd.args).map_err(|e| e.to_string()));
                    if let Err(e) = sent {
                        mismatches.push(format!(
                            "{place} {}\n    command: {}\n    cannot send: {e}\n{}",
                            peer.server.label,
                            cmd.source,
                            peer.server.logs()
                        ));
                        peer.conn = None;
                    }
                }
            }
        }
        for _ in 0..cmd.replies {
            read_and_compare(
                &place,
                cmd,
                protocol,
                reference,
                &mut expected_conn,
                &mut expected_others,
                &mut peers,
                mismatches,
                trace,
            );
        }
    }

    // A reply nobody asked for (say, to a command under CLIENT REPLY OFF)
    // would sit unread after the last line; one more round trip exposes it.
    // If the script closed the reference connection (QUIT), the others must
    // have closed theirs too.
    let place = format!("{script}.redis:end [{protocol:?}]");
    let closing = expected_conn.command(&["PING"]);
    for peer in &mut peers {
        let Some(conn) = &mut peer.conn else { continue };
        match (&closing, conn.command(&["PING"])) {
            (Ok(expected), Ok(got)) if *expected == got => {}
            (Ok(expected), Ok(got)) => mismatches.push(report(
                &place,
                &peer.server.label,
                "PING (sent after the last line: a stray earlier reply shows up here)",
                expected,
                &got,
                "exact comparison",
            )),
            (Ok(_), Err(e)) => mismatches.push(format!(
                "{place} {}\n    PING after the last line got no reply: {e}\n{}",
                peer.server.label,
                peer.server.logs()
            )),
            (Err(_), Ok(got)) => mismatches.push(format!(
                "{place} {}\n    redis closed the connection by the end of the script, \
                 this server still answers PING with {}\n",
                peer.server.label,
                escape(&got, 100)
            )),
            (Err(_), Err(_)) => {}
        }
    }
}

/// Reads one reply to `cmd` from the reference and from every candidate still answering, and
/// records how each candidate's differs.
#[allow(clippy::too_many_arguments)]
fn read_and_compare(
    place: &str,
    cmd: &Command,
    protocol: Protocol,
    reference: &Server,
    expected_conn: &mut RawConn,
    expected_others: &mut Vec<RawConn>,
    peers: &mut [Peer],
    mismatches: &mut Vec<String>,
    trace: bool,
) {
    let expected_on = nth(
        expected_conn,
        expected_others,
        reference,
        protocol,
        cmd.conn,
    )
    .expect("opened to send");
    let expected = expected_on.read_reply().unwrap_or_else(|e| {
        panic!(
            "{place}: the reference redis-server did not reply to `{}`: {e}\n\
                 (is the script right? a command without a reply needs @no-reply)\n{}",
            cmd.source,
            reference.logs()
        )
    });
    if trace {
        eprintln!("{place} {}\n    -> {}", cmd.source, escape(&expected, 300));
    }
    for peer in peers.iter_mut() {
        let Some(first) = &mut peer.conn else {
            continue;
        };
        let conn =
            nth(first, &mut peer.others, peer.server, protocol, cmd.conn).expect("opened to send");
        match conn.read_reply() {
            Ok(got) => {
                if let Err(how) = compare(&cmd.check, &expected, &got) {
                    mismatches.push(report(
                        place,
                        &peer.server.label,
                        &cmd.source,
                        &expected,
                        &got,
                        &how,
                    ));
                }
            }
            Err(e) => {
                // The server's own output usually says why (a panic,
                // an assertion), so it goes into the report.
                mismatches.push(format!(
                    "{place} {}\n    command: {}\n    redis:   {}\n    no reply: {e}\n    \
                         (later commands of this pass are not compared for this server)\n{}",
                    peer.server.label,
                    cmd.source,
                    escape(&expected, 300),
                    peer.server.logs()
                ));
                peer.conn = None;
            }
        }
    }
}

/// A connection ready for a pass: protocol chosen, all databases empty.
fn open(server: &Server, protocol: Protocol) -> Result<RawConn, String> {
    let mut conn = connect(server, protocol)?;
    let flushed = conn
        .command(&["FLUSHALL"])
        .map_err(|e| format!("FLUSHALL: {e}"))?;
    if flushed != b"+OK\r\n" {
        return Err(format!("FLUSHALL answered {}", escape(&flushed, 200)));
    }
    Ok(conn)
}

/// A connection speaking `protocol`.
fn connect(server: &Server, protocol: Protocol) -> Result<RawConn, String> {
    let mut conn = RawConn::connect(server.port).map_err(|e| format!("cannot connect: {e}"))?;
    if protocol == Protocol::Resp3 {
        let hello = conn
            .command(&["HELLO", "3"])
            .map_err(|e| format!("HELLO 3: {e}"))?;
        // The contents (server name, version, connection id) legitimately
        // differ; that it is a map shows the switch to RESP3 happened.
        if !hello.starts_with(b"%") {
            return Err(format!("HELLO 3 answered {}", escape(&hello, 200)));
        }
    }
    Ok(conn)
}

// ---------------------------------------------------------------------------
// Comparing replies
// ---------------------------------------------------------------------------

/// `Ok` if `got` matches `expected` under `check`, else why not.
fn compare(check: &Check, expected: &[u8], got: &[u8]) -> Result<(), String> {
    if expected == got {
        return Ok(());
    }
    if check.is_exact() {
        return Err("exact comparison".into());
    }
    // Both were framed by parse_reply when they were read, so they parse.
    let parse = |bytes: &[u8]| {
        parse_reply(bytes)
            .ok()
            .flatten()
            .expect("a framed reply parses")
            .0
    };
    let (mut a, mut b) = (parse(expected), parse(got));
    if check.type_only {
        let (sa, sb) = (shape(&a), shape(&b));
        return if sa == sb {
            Ok(())
        } else {
            Err(format!("type-only comparison: {sa} vs {sb}"))
        };
    }
    let mut how = Vec::new();
    if check.sorted {
        canonicalize(&mut a);
        canonicalize(&mut b);
        how.push("sorted".to_string());
    }
    let equal = match check.approx {
        Some(tolerance) => {
            how.push(format!("integers within {tolerance}"));
            approx_eq(&a, &b, tolerance)
        }
        None => a == b,
    };
    if equal {
        Ok(())
    } else {
        Err(format!("{} comparison", how.join(", ")))
    }
}

/// The reply's type tree without its values, e.g. `array[bulk-string,integer]`.
fn shape(reply: &Reply) -> String {
    let list = |items: &[Reply]| items.iter().map(shape).collect::<Vec<_>>().join(",");
    let pairs = |pairs: &[(Reply, Reply)]| {
        pairs
            .iter()
            .map(|(k, v)| format!("{}:{}", shape(k), shape(v)))
            .collect::<Vec<_>>()
            .join(",")
    };
    match reply {
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            format!("{}[{}]", reply.type_name(), list(items))
        }
        Reply::Map(p) => format!("map{{{}}}", pairs(p)),
        Reply::Attribute(attrs, inner) => format!("attribute{{{}}}{}", pairs(attrs), shape(inner)),
        scalar => scalar.type_name().to_string(),
    }
}

/// Sorts every aggregate at every depth so that two replies listing the same
/// elements in different orders become equal.
fn canonicalize(reply: &mut Reply) {
    match reply {
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            items.iter_mut().for_each(canonicalize);
            items.sort();
        }
        Reply::Map(pairs) => {
            for (k, v) in pairs.iter_mut() {
                canonicalize(k);
                canonicalize(v);
            }
            pairs.sort();
        }
        Reply::Attribute(attrs, inner) => {
            for (k, v) in attrs.iter_mut() {
                canonicalize(k);
                canonicalize(v);
            }
            attrs.sort();
            canonicalize(inner);
        }
        _ => {}
    }
}

/// Structural equality, except that integers may differ by `tolerance`.
fn approx_eq(a: &Reply, b: &Reply, tolerance: i64) -> bool {
    let all = |x: &[Reply], y: &[Reply]| {
        x.len() == y.len() && x.iter().zip(y).all(|(p, q)| approx_eq(p, q, tolerance))
    };
    let all_pairs = |x: &[(Reply, Reply)], y: &[(Reply, Reply)]| {
        x.len() == y.len()
            && x.iter().zip(y).all(|((k1, v1), (k2, v2))| {
                approx_eq(k1, k2, tolerance) && approx_eq(v1, v2, tolerance)
            })
    };
    match (a, b) {
        (Reply::Integer(x), Reply::Integer(y)) => x.abs_diff(*y) <= tolerance as u64,
        (Reply::Array(x), Reply::Array(y))
        | (Reply::Set(x), Reply::Set(y))
        | (Reply::Push(x), Reply::Push(y)) => all(x, y),
        (Reply::Map(x), Reply::Map(y)) => all_pairs(x, y),
        (Reply::Attribute(x, p), Reply::Attribute(y, q)) => {
            all_pairs(x, y) && approx_eq(p, q, tolerance)
        }
        _ => a == b,
    }
}

/// One mismatch, readable in `cargo test` output. Long replies are shown as a
/// window around the first differing byte, since that is what one needs.
fn report(
    place: &str,
    label: &str,
    source: &str,
    expected: &[u8],
    got: &[u8],
    how: &str,
) -> String {
    const WIDTH: usize = 300;
    let first_diff = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    let show = |bytes: &[u8]| {
        if bytes.len() <= WIDTH {
            return escape(bytes, WIDTH);
        }
        let start = first_diff.saturating_sub(WIDTH / 3).min(bytes.len());
        let end = (start + WIDTH).min(bytes.len());
        format!(
            "[bytes {start}..{end} of {}] {}",
            bytes.len(),
            escape(&bytes[start..end], WIDTH)
        )
    };
    format!(
        "{place} {label}\n    command: {source}\n    redis:   {}\n    tessera: {}\n    ({how}; first difference at byte {first_diff})\n",
        show(expected),
        show(got)
    )
}

// ---------------------------------------------------------------------------
// Tests of the harness itself (no servers needed)
// ---------------------------------------------------------------------------

mod harness {
    use super::*;

    fn split(line: &str) -> Vec<Vec<u8>> {
        split_args(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn split_args_follows_redis_cli() {
        assert_eq!(
            split("SET k v"),
            [b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()]
        );
        assert_eq!(split("  a\t b  "), [b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(
            split(r#"SET "a b" 'c d'"#),
            [b"SET".to_vec(), b"a b".to_vec(), b"c d".to_vec()]
        );
        assert_eq!(split(r#""" ''"#), [Vec::new(), Vec::new()]);
        assert_eq!(
            split(r#""\x41\x00\xff\n\r\t\b\a\\\"\q""#),
            [b"A\x00\xff\n\r\t\x08\x07\\\"q".to_vec()]
        );
        // \x without two hex digits is an ordinary escape of 'x'.
        assert_eq!(split(r#""\x4g""#), [b"x4g".to_vec()]);
        assert_eq!(
            split(r#"'it\'s' 'a\nb'"#),
            [b"it's".to_vec(), b"a\\nb".to_vec()]
        );
        assert_eq!(split(r#"foo"bar baz""#), [b"foobar baz".to_vec()]);
        assert_eq!(split(r"a\x41"), [b"a\\x41".to_vec()]);
        assert_eq!(split("é"), ["é".as_bytes().to_vec()]);
        for bad in [r#""abc"#, "'abc", r#""a"b"#, "'a'b", r#""abc\"#] {
            assert!(split_args(bad).is_err(), "{bad:?} should not split");
        }
    }

    #[test]
    fn directives_apply_to_the_next_command_only() {
        let steps = parse_script(
            "# comment\n\n@sorted\n@approx 5\n@skip-resp3\nKEYS *\n@sleep 20\nGET k\n@type-only\n@no-reply\nTIME\n",
        )
        .unwrap();
        let commands: Vec<&Command> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Run(c) => Some(c),
                Step::Sleep(d) => {
                    assert_eq!(*d, Duration::from_millis(20));
                    None
                }
            })
            .collect();
        assert_eq!(steps.len(), 4);
        assert_eq!(commands[0].line, 6);
        assert_eq!(
            commands[0].check,
            Check {
                type_only: false,
                sorted: true,
                approx: Some(5)
            }
        );
        assert_eq!(commands[0].only, Some(Protocol::Resp2));
        assert!(
            commands[1].check.is_exact() && commands[1].only.is_none() && commands[1].replies == 1
        );
        assert!(commands[2].check.type_only && commands[2].replies == 0);
        assert_eq!(parse_script("@approx\nTTL k").unwrap().len(), 1);
    }

    #[test]
    fn bad_scripts_are_refused_with_a_line() {
        for (script, line) in [
            ("PING\n@bogus\nPING", "line 2"),
            ("@sorted\n", "line 1"),
            ("@sleep\nPING", "line 1"),
            ("@sleep x\nPING", "line 1"),
            ("@sorted 3\nPING", "line 1"),
            ("@type-only\n@sorted\nPING", "line 3"),
            ("@skip-resp2\n@skip-resp3\nPING", "line 2"),
            ("PING\nGET \"unterminated", "line 2"),
        ] {
            let err = parse_script(script).expect_err(script);
            assert!(err.starts_with(line), "{script:?}: {err}");
        }
    }

    /// Every RESP2/RESP3 type, and a reply preceded by an attribute.
    const ALL_TYPES: &[&[u8]] = &[
        b"+OK\r\n",
        b"-ERR wrong\r\n",
        b":-42\r\n",
        b"$5\r\na\r\nbc\r\n",
        b"$0\r\n\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"*0\r\n",
        b"*3\r\n:1\r\n$1\r\nx\r\n*1\r\n_\r\n",
        b"_\r\n",
        b",3.25\r\n",
        b",-inf\r\n",
        b"#t\r\n",
        b"#f\r\n",
        b"!9\r\nERR oops!\r\n",
        b"=8\r\ntxt:a\r\nb\r\n",
        b"(3492890328409238509324850943850943825024385\r\n",
        b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n~2\r\n:1\r\n:2\r\n",
        b"~1\r\n+x\r\n",
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
        b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n",
    ];

    #[test]
    fn every_type_parses_and_reencodes_exactly() {
        for &bytes in ALL_TYPES {
            let (reply, used) = parse_reply(bytes)
                .unwrap()
                .unwrap_or_else(|| panic!("{}", escape(bytes, 100)));
            assert_eq!(used, bytes.len(), "{}", escape(bytes, 100));
            assert_eq!(reply.to_bytes(), bytes, "{}", escape(bytes, 100));
        }
        let (reply, _) = parse_reply(ALL_TYPES.last().unwrap()).unwrap().unwrap();
        assert!(
            matches!(reply, Reply::Attribute(_, inner) if *inner == Reply::Array(vec![Reply::Integer(2)]))
        );
    }

    /// Incomplete input must ask for more at every split point, never fail
    /// and never return a shorter reply: the reader depends on it.
    #[test]
    fn every_prefix_is_incomplete() {
        for &bytes in ALL_TYPES {
            for cut in 0..bytes.len() {
                assert_eq!(
                    parse_reply(&bytes[..cut]),
                    Ok(None),
                    "{} cut at {cut}",
                    escape(bytes, 100)
                );
            }
        }
        // Whatever follows a complete reply is left for the next read.
        let (_, used) = parse_reply(b"+OK\r\n:1\r\n").unwrap().unwrap();
        assert_eq!(used, 5);
    }

    #[test]
    fn invalid_replies_are_errors() {
        for bad in [
            &b"?x\r\n"[..],
            b"+OK\n",
            b":abc\r\n",
            b"$3\r\nabcd\r\n",
            b"*-2\r\n",
            b"$?\r\n",
            b"#x\r\n",
            b"_x\r\n",
        ] {
            assert!(parse_reply(bad).is_err(), "{}", escape(bad, 100));
        }
    }

    #[test]
    fn comparison_modes() {
        let exact = Check::default();
        let sorted = Check {
            sorted: true,
            ..Check::default()
        };
        let type_only = Check {
            type_only: true,
            ..Check::default()
        };
        let approx = Check {
            approx: Some(1),
            ..Check::default()
        };

        assert!(compare(&exact, b":1\r\n", b":1\r\n").is_ok());
        assert!(compare(&exact, b":1\r\n", b":2\r\n").is_err());

        // SCAN-shaped: the cursor stays, the nested key list is sorted.
        let scan_a = b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n";
        let scan_b = b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n";
        assert!(compare(&exact, scan_a, scan_b).is_err());
        assert!(compare(&sorted, scan_a, scan_b).is_ok());
        assert!(compare(&sorted, scan_a, b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n").is_err());
        assert!(compare(
            &sorted,
            b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n",
            b"%2\r\n+b\r\n:2\r\n+a\r\n:1\r\n"
        )
        .is_ok());
        assert!(compare(
            &sorted,
            b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n",
            b"%2\r\n+b\r\n:1\r\n+a\r\n:2\r\n"
        )
        .is_err());

        assert!(compare(
            &type_only,
            b"*2\r\n$3\r\n123\r\n$1\r\n4\r\n",
            b"*2\r\n$1\r\n9\r\n$2\r\n99\r\n"
        )
        .is_ok());
        assert!(compare(
            &type_only,
            b"*2\r\n$3\r\n123\r\n$1\r\n4\r\n",
            b"*1\r\n$1\r\n9\r\n"
        )
        .is_err());
        assert!(compare(&type_only, b"$1\r\nk\r\n", b"$-1\r\n").is_err());
        assert!(compare(&type_only, b":1\r\n", b"-ERR x\r\n").is_err());

        assert!(compare(&approx, b":100\r\n", b":99\r\n").is_ok());
        assert!(compare(&approx, b":100\r\n", b":98\r\n").is_err());
        assert!(compare(&approx, b"*1\r\n:-1\r\n", b"*1\r\n:0\r\n").is_ok());
        assert!(compare(&approx, b"+100\r\n", b"+99\r\n").is_err());
    }
}
