use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::resp::split::split_args;

use super::*;
use crate::resp::split::push_repr;

use std::sync::atomic::AtomicUsize;

// -- helpers --------------------------------------------------------------------------

fn run(args: &[&str]) -> Result<Config, String> {
    run_with_stdin(args, "")
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Result<Config, String> {
    let argv = std::iter::once("tessera-server").chain(args.iter().copied());
    match parse_command_line(argv.map(String::from), &mut stdin.as_bytes())? {
        Startup::Run(config) => Ok(config),
        other => panic!("expected a configuration, got {other:?}"),
    }
}

fn value(config: &Config, name: &str) -> String {
    String::from_utf8(config.get(name).expect(name)).unwrap()
}

fn store_value(store: &ConfigStore, name: &str) -> String {
    let got = store.get(&[name]);
    assert_eq!(got.len(), 1, "{name}: {got:?}");
    String::from_utf8(got[0].1.clone()).unwrap()
}

/// The full message Redis prints for an error on a config line (with our header).
fn line_error(line_no: usize, line: &str, err: &str) -> String {
    format!(
        "{}\nReading the configuration file, at line {line_no}\n>>> '{line}'\n{err}",
        fatal_header()
    )
}

/// A fresh directory under the system temp dir, for config files; removed on drop.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tessera-config-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

fn write(path: &Path, text: &str) -> String {
    fs::write(path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn set(store: &ConfigStore, args: &[&str]) -> Result<(), String> {
    let pairs: Vec<(&str, &str)> = args.chunks(2).map(|p| (p[0], p[1])).collect();
    store.set(&pairs)
}

// -- the table ------------------------------------------------------------------------

#[test]
fn table_rows_are_consistent() {
    let mut seen = std::collections::HashSet::new();
    for (i, def) in TABLE.iter().enumerate() {
        assert_eq!(def.param as usize, i, "{} is out of place", def.name);
        for name in def.names() {
            assert_eq!(name, name.to_ascii_lowercase());
            assert!(seen.insert(name), "{name} is declared twice");
            assert!(
                !FILE_DIRECTIVES.iter().any(|(d, _)| *d == name),
                "{name} is also a file directive"
            );
            assert!(
                !IGNORED_DEPRECATED.contains(&name),
                "{name} is also 'ignored'"
            );
        }
        assert!(
            !(def.has(IMMUTABLE) && def.has(LIVE)),
            "{}: LIVE only makes sense for mutable parameters",
            def.name
        );
    }
    let config = Config::default(); // panics if a built-in default does not parse
    assert_eq!(config.values.len(), TABLE.len());
}

#[test]
fn enum_getters_round_trip() {
    for (word, _) in LOGLEVELS {
        assert_eq!(
            from_text(&format!("loglevel {word}\n"))
                .unwrap()
                .loglevel()
                .as_str(),
            *word
        );
    }
    for (word, _) in FSYNC_POLICIES {
        let c = from_text(&format!("appendfsync {word}\n")).unwrap();
        assert_eq!(c.appendfsync().as_str(), *word);
    }
    for (word, _) in MAXMEMORY_POLICIES {
        let c = from_text(&format!("maxmemory-policy {word}\n")).unwrap();
        assert_eq!(c.maxmemory_policy().as_str(), *word);
    }
    for (word, _) in SYSLOG_FACILITIES {
        let c = from_text(&format!("syslog-facility {word}\n")).unwrap();
        assert_eq!(c.syslog_facility(), *word);
    }
    for (word, _) in SUPERVISED_MODES {
        let c = from_text(&format!("supervised {word}\n")).unwrap();
        assert_eq!(c.supervised(), *word);
    }
}

#[test]
fn passwords_are_sensitive() {
    // Redis's SENSITIVE_CONFIG: requirepass, and the credentials a replica presents.
    assert!(is_sensitive(b"requirepass") && is_sensitive(b"REQUIREPASS"));
    assert!(is_sensitive(b"masterauth") && is_sensitive(b"masteruser"));
    let sensitive: Vec<&str> = TABLE
        .iter()
        .filter(|d| d.has(SENSITIVE))
        .map(|d| d.name)
        .collect();
    assert_eq!(sensitive, ["requirepass", "masterauth", "masteruser"]);
    assert!(!is_sensitive(b"port") && !is_sensitive(b"nosuch"));
}

#[test]
fn defaults_print_like_redis() {
    // CONFIG GET on a redis-server 7.0.15 started without a config file.
    let expected = [
        ("port", "6379"),
        ("bind", "127.0.0.1 -::1"),
        ("requirepass", ""),
        ("dbfilename", "dump.rdb"),
        ("databases", "16"),
        ("maxclients", "10000"),
        ("timeout", "0"),
        ("tcp-keepalive", "300"),
        ("tcp-backlog", "511"),
        ("proto-max-bulk-len", "536870912"),
        ("client-query-buffer-limit", "1073741824"),
        ("hz", "10"),
        ("loglevel", "notice"),
        ("logfile", ""),
        ("daemonize", "no"),
        ("protected-mode", "yes"),
        ("save", "3600 1 300 100 60 10000"),
        ("appendonly", "no"),
        ("appendfsync", "everysec"),
        ("appendfilename", "appendonly.aof"),
        ("appenddirname", "appendonlydir"),
        ("aof-use-rdb-preamble", "yes"),
        ("auto-aof-rewrite-percentage", "100"),
        ("auto-aof-rewrite-min-size", "67108864"),
        ("rdbcompression", "yes"),
        ("rdbchecksum", "yes"),
        ("stop-writes-on-bgsave-error", "yes"),
        ("maxmemory", "0"),
        ("maxmemory-policy", "noeviction"),
        ("lazyfree-lazy-eviction", "no"),
        ("lazyfree-lazy-expire", "no"),
        ("lazyfree-lazy-server-del", "no"),
        ("lazyfree-lazy-user-del", "no"),
        ("lazyfree-lazy-user-flush", "no"),
        ("hash-max-listpack-entries", "512"),
        ("hash-max-listpack-value", "64"),
        ("hash-max-ziplist-entries", "512"),
        ("hash-max-ziplist-value", "64"),
        ("set-max-intset-entries", "512"),
        ("zset-max-listpack-entries", "128"),
        ("zset-max-listpack-value", "64"),
        ("list-max-listpack-size", "-2"),
        ("list-max-ziplist-size", "-2"),
        ("active-expire-effort", "1"),
        ("latency-tracking", "yes"),
        ("slowlog-log-slower-than", "10000"),
        ("slowlog-max-len", "128"),
    ];
    let config = Config::default();
    for (name, want) in expected {
        assert_eq!(value(&config, name), want, "{name}");
    }
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(config.threads(), cpus);
    assert_eq!(value(&config, "threads"), cpus.to_string());
    let cwd = fs::canonicalize(std::env::current_dir().unwrap()).unwrap();
    assert_eq!(config.dir(), cwd);
}

#[test]
fn typed_getters_see_defaults() {
    let c = Config::default();
    assert_eq!(c.port(), 6379);
    assert_eq!(
        c.bind(),
        vec![
            BindAddr {
                addr: "127.0.0.1".into(),
                optional: false
            },
            BindAddr {
                addr: "::1".into(),
                optional: true
            },
        ]
    );
    assert_eq!(c.requirepass(), None);
    assert_eq!(c.databases(), 16);
    assert_eq!(c.maxclients(), 10000);
    assert_eq!(c.proto_max_bulk_len(), 512 << 20);
    assert_eq!(c.client_query_buffer_limit(), 1 << 30);
    assert_eq!(c.hz(), 10);
    assert_eq!(c.loglevel(), LogLevel::Notice);
    assert_eq!(c.logfile(), None);
    assert_eq!(c.dbfilename(), Path::new("dump.rdb"));
    assert_eq!(
        c.save_points(),
        &[
            SavePoint {
                seconds: 3600,
                changes: 1
            },
            SavePoint {
                seconds: 300,
                changes: 100
            },
            SavePoint {
                seconds: 60,
                changes: 10000
            },
        ]
    );
    assert_eq!(c.appendfsync(), AppendFsync::EverySec);
    assert_eq!(c.maxmemory_policy(), MaxmemoryPolicy::NoEviction);
    assert_eq!(c.list_max_listpack_size(), -2);
    assert_eq!(c.slowlog_log_slower_than(), 10000);
    assert!(c.protected_mode() && c.rdbchecksum() && !c.appendonly());
    assert_eq!(c.config_file(), None);
}

// -- value syntax ---------------------------------------------------------------------

#[test]
fn repr_round_trips_through_split_args() {
    let all: Vec<u8> = (1..=255).collect(); // NUL cannot appear in a C argv
    let mut quoted = Vec::new();
    push_repr(&mut quoted, &all);
    assert_eq!(split_args(&quoted).unwrap(), vec![all]);
    let mut quoted = Vec::new();
    push_repr(&mut quoted, b"say \"hi\"\n");
    assert_eq!(quoted, br#""say \"hi\"\n""#);
}

// -- config files ---------------------------------------------------------------------

#[test]
fn file_syntax() {
    let c = from_text(
        "# a comment\n   # an indented comment\n\nPORT 7000\n  Save 100 1 200 2  \r\n\
             requirepass \"p w\"\nbind 127.0.0.1 -::1\nlist-max-ziplist-entries 5\n",
    )
    .unwrap();
    assert_eq!(c.port(), 7000);
    assert_eq!(value(&c, "save"), "100 1 200 2");
    assert_eq!(c.requirepass(), Some(&b"p w"[..]));
    assert_eq!(value(&c, "bind"), "127.0.0.1 -::1");
    assert_eq!(
        c.bind()[1],
        BindAddr {
            addr: "::1".into(),
            optional: true
        }
    );
}

#[test]
fn file_values_are_parsed_like_redis() {
    let c = from_text(
        "hz 0\nmaxmemory 1gb\nhash-max-ziplist-entries 7\nloglevel WARNING\n\
             appendonly YES\ndir /\nlogfile \"\"\nthreads 3\n",
    )
    .unwrap();
    assert_eq!(c.hz(), 1); // clamped, not refused
    assert_eq!(c.maxmemory(), 1 << 30);
    assert_eq!(c.hash_max_listpack_entries(), 7);
    assert_eq!(c.loglevel(), LogLevel::Warning);
    assert!(c.appendonly());
    assert_eq!(c.dir(), Path::new("/"));
    assert_eq!(c.threads(), 3);
    assert_eq!(from_text("hz 100000\n").unwrap().hz(), 500);
}

#[test]
fn save_lines_accumulate_like_redis() {
    // All checked with CONFIG GET save on redis-server 7.0.15.
    let save = |text: &str| value(&from_text(text).unwrap(), "save");
    assert_eq!(save("save 100 1\nsave 200 2\n"), "100 1 200 2");
    assert_eq!(save("save 100 1\nsave \"\"\nsave 200 2\n"), "200 2");
    assert_eq!(save("save 100 1\nsave \"\"\n"), "");
    assert_eq!(save("save \"\"\nsave 200 2\n"), "200 2");
    // One quoted argument is split on spaces, as `--save "60 1"` needs.
    assert_eq!(save("save \"60 1 30 5\"\n"), "60 1 30 5");
    assert_eq!(save("save\n"), "");
    // No `save` line: Redis's defaults.
    assert_eq!(save("port 7000\n"), "3600 1 300 100 60 10000");
}

#[test]
fn file_errors_match_redis() {
    // The messages redis-server 7.0.15 prints for each of these files (header aside).
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "foo bar\n",
            1,
            "foo bar",
            "Bad directive or wrong number of arguments",
        ),
        ("\n\nport 1 2\n", 3, "port 1 2", "wrong number of arguments"),
        ("port\n", 1, "port", "wrong number of arguments"),
        (
            "port 7104 # trailing\n",
            1,
            "port 7104 # trailing",
            "wrong number of arguments",
        ),
        (
            "port abc\n",
            1,
            "port abc",
            "argument couldn't be parsed into an integer",
        ),
        (
            "  port 70000  \n",
            1,
            "port 70000",
            "argument must be between 0 and 65535 inclusive",
        ),
        ("save 0 1\n", 1, "save 0 1", "Invalid save parameters"),
        (
            "databases 0\n",
            1,
            "databases 0",
            "argument must be between 1 and 2147483647 inclusive",
        ),
        (
            "maxmemory 1x\n",
            1,
            "maxmemory 1x",
            "argument must be a memory value",
        ),
        (
            "loglevel x\n",
            1,
            "loglevel x",
            "argument(s) must be one of the following: debug, verbose, notice, warning",
        ),
        (
            "port \"7104\n",
            1,
            "port \"7104",
            "Unbalanced quotes in configuration line",
        ),
        (
            "requirepass \"abc\"d\n",
            1,
            "requirepass \"abc\"d",
            "Unbalanced quotes in configuration line",
        ),
        (
            "appendonly maybe\n",
            1,
            "appendonly maybe",
            "argument must be 'yes' or 'no'",
        ),
        (
            "daemonize maybe\n",
            1,
            "daemonize maybe",
            "argument must be 'yes' or 'no'",
        ),
        (
            "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
            1,
            "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
            "Too many bind addresses specified.",
        ),
        (
            "dbfilename a/b\n",
            1,
            "dbfilename a/b",
            "dbfilename can't be a path, just a filename",
        ),
        (
            "dbfilename a\\\\b\n",
            1,
            "dbfilename a\\\\b",
            "dbfilename can't be a path, just a filename",
        ),
        (
            "appendfilename \"\"\n",
            1,
            "appendfilename \"\"",
            "appendfilename can't be empty",
        ),
        (
            "appendfilename a/b\n",
            1,
            "appendfilename a/b",
            "appendfilename can't be a path, just a filename",
        ),
        (
            "appenddirname a/b\n",
            1,
            "appenddirname a/b",
            "appenddirname can't be a path, just a dirname",
        ),
        (
            "dir /nonexistent\n",
            1,
            "dir /nonexistent",
            "No such file or directory",
        ),
        (
            "include\n",
            1,
            "include",
            "Bad directive or wrong number of arguments",
        ),
        (
            "include a b\n",
            1,
            "include a b",
            "Bad directive or wrong number of arguments",
        ),
    ];
    for &(text, line_no, line, err) in cases {
        assert_eq!(
            from_text(text).unwrap_err(),
            line_error(line_no, line, err),
            "{text:?}"
        );
    }
}

#[test]
fn every_redis_directive_is_accepted() {
    // What Tessera used to refuse: Redis parameters it does not apply, and daemonize.
    let c = from_text(
        "io-threads 4\nio-threads-do-reads yes\ndaemonize yes\nactive-defrag-cycle-max 50\n\
         cluster-enabled no\nrepl-backlog-size 10mb\ntls-port 0\nlua-time-limit 100\n",
    )
    .unwrap();
    assert!(c.daemonize());
    assert_eq!(value(&c, "io-threads"), "4");
    assert_eq!(value(&c, "repl-backlog-size"), "10485760");
    assert_eq!(value(&c, "busy-reply-threshold"), "100");
    let mut warned: Vec<&str> = c.not_applied().into_iter().map(|(n, _)| n).collect();
    warned.sort();
    assert_eq!(
        warned,
        [
            "active-defrag-cycle-max",
            "io-threads",
            "io-threads-do-reads",
            "repl-backlog-size"
        ]
    );
    assert_eq!(
        effect(b"io-threads"),
        Some(Effect::NotApplicable(
            "Tessera runs one shard per thread: see 'threads'"
        ))
    );
    assert_eq!(effect(b"daemonize"), Some(Effect::Applied));
    assert_eq!(effect(b"nosuch"), None);
}

#[test]
fn load_time_checks() {
    assert_eq!(
        from_text("logfile /nonexistent/x.log\n").unwrap_err(),
        format!(
            "{}\nCan't open the log file: No such file or directory",
            fatal_header()
        )
    );
    let dir = temp_dir();
    let log = dir.join("tessera.log");
    let c = from_text(&format!("logfile {}\n", log.display())).unwrap();
    assert_eq!(c.logfile(), Some(log.as_path()));
    assert!(log.exists());
    let nowhere = "Configured to not listen anywhere, exiting.";
    assert_eq!(from_text("port 0\n").unwrap_err(), nowhere);
    assert_eq!(from_text("bind \"\"\n").unwrap_err(), nowhere);
    assert_eq!(from_text("bind\n").unwrap_err(), nowhere);
}

#[test]
fn includes() {
    let dir = temp_dir();
    let inc = write(&dir.join("inc.conf"), "save 500 5\nmaxclients 77\n");
    let main = write(
        &dir.join("main.conf"),
        &format!("port 7000\nsave 100 1\ninclude {inc}\n"),
    );
    let c = run(&[&main]).unwrap();
    assert_eq!((c.port(), c.maxclients()), (7000, 77));
    assert_eq!(value(&c, "save"), "100 1 500 5");
    assert_eq!(c.config_file(), Some(Path::new(&main)));

    // Errors in an included file are numbered within that file, and name it.
    let bad = write(&dir.join("bad.conf"), "save 500 5\nfoo\n");
    let main = write(
        &dir.join("main2.conf"),
        &format!("port 7000\ninclude {bad}\n"),
    );
    assert_eq!(
        run(&[&main]).unwrap_err(),
        format!(
            "{}\nReading the included configuration file '{bad}', at line 2\n>>> 'foo'\n\
                 Bad directive or wrong number of arguments",
            fatal_header()
        )
    );

    // Wildcards: files are read in name order, and matching nothing is fine.
    fs::create_dir(dir.join("conf.d")).unwrap();
    write(&dir.join("conf.d/b.conf"), "maxclients 2\n");
    write(&dir.join("conf.d/a.conf"), "maxclients 1\n");
    write(&dir.join("conf.d/.hidden.conf"), "maxclients 3\n");
    let text = format!(
        "include {d}/conf.d/*.conf\ninclude {d}/empty.d/*.conf\n",
        d = dir.display()
    );
    assert_eq!(from_text(&text).unwrap().maxclients(), 2);

    // A missing plain file is fatal, with Redis's message.
    let missing = dir.join("missing.conf");
    assert_eq!(
        from_text(&format!("include {}\n", missing.display())).unwrap_err(),
        format!(
            "Fatal error, can't open config file '{}': No such file or directory",
            missing.display()
        )
    );

    // An include loop is stopped instead of overflowing the stack.
    let me = dir.join("loop.conf");
    write(&me, &format!("include {}\n", me.display()));
    assert!(from_text(&format!("include {}\n", me.display()))
        .unwrap_err()
        .contains("include nesting too deep"));
}

// -- the command line -----------------------------------------------------------------

#[test]
fn command_line_special_forms() {
    assert_eq!(run(&[]).unwrap(), Config::default());
    let argv = |a: &[&str]| {
        let args = std::iter::once("tessera-server").chain(a.iter().copied());
        parse_command_line(args.map(String::from), &mut io::empty()).unwrap()
    };
    assert!(matches!(argv(&["-v"]), Startup::Version(v) if v.starts_with("Tessera server v=")));
    assert!(matches!(
        argv(&["--version", "--port", "1"]),
        Startup::Version(_)
    ));
    match argv(&["--help"]) {
        Startup::Help(text) => {
            assert!(text.starts_with("Usage: tessera-server [/path/to/redis.conf]"));
            assert!(text.contains("threads") && text.contains("hash-max-ziplist-entries"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(argv(&["-h"]), Startup::Help(_)));
}

#[test]
fn command_line_overrides_follow_the_file() {
    let dir = temp_dir();
    let file = write(
        &dir.join("redis.conf"),
        "port 7000\nsave 100 1\nmaxclients 5\n",
    );
    let c = run(&[
        &file,
        "--port",
        "7001",
        "--save",
        "300",
        "3",
        "--threads",
        "2",
    ])
    .unwrap();
    assert_eq!(c.port(), 7001);
    assert_eq!(c.maxclients(), 5);
    assert_eq!(value(&c, "save"), "100 1 300 3"); // Redis appends here too
    assert_eq!(c.threads(), 2);

    let c = run(&[
        "--bind",
        "127.0.0.1",
        "::1",
        "--requirepass",
        "a \"quoted\" pass",
    ])
    .unwrap();
    assert_eq!(value(&c, "bind"), "127.0.0.1 ::1");
    assert_eq!(c.requirepass(), Some(&b"a \"quoted\" pass"[..]));

    // "--name value" in a single argument.
    assert_eq!(run(&["--port 7002"]).unwrap().port(), 7002);
    // Options names are case-insensitive, like config directives.
    assert_eq!(run(&["--PORT", "7003"]).unwrap().port(), 7003);
}

#[test]
fn command_line_save_special_cases() {
    // Checked against redis-server 7.0.15.
    let save = |args: &[&str]| value(&run(args).unwrap(), "save");
    assert_eq!(save(&["--save", ""]), "");
    assert_eq!(save(&["--save"]), "");
    assert_eq!(save(&["--port", "7000", "--save"]), "");
    let c = run(&["--save", "--loglevel", "debug"]).unwrap();
    assert_eq!(
        (value(&c, "save").as_str(), c.loglevel()),
        ("", LogLevel::Debug)
    );
}

#[test]
fn command_line_errors_match_redis() {
    // Options are numbered as lines after the (here absent) file and a blank line, and are
    // echoed quoted, exactly as redis-server 7.0.15 prints them.
    assert_eq!(
        run(&["--foo", "bar"]).unwrap_err(),
        line_error(
            2,
            "foo \"bar\"",
            "Bad directive or wrong number of arguments"
        )
    );
    // A bare option is not "yes": it takes the next argument as its value...
    assert_eq!(
        run(&["--appendonly", "--port", "7104"]).unwrap_err(),
        line_error(
            2,
            "appendonly \"--port\" \"7104\"",
            "wrong number of arguments"
        )
    );
    // ... or has none at all.
    assert_eq!(
        run(&["--port", "7000", "--appendonly"]).unwrap_err(),
        line_error(3, "appendonly", "wrong number of arguments")
    );
    let dir = temp_dir();
    let file = write(&dir.join("two-lines.conf"), "port 7000\nmaxclients 5");
    assert_eq!(
        run(&[&file, "--maxclients", "0"]).unwrap_err(),
        line_error(
            3,
            "maxclients \"0\"",
            "argument must be between 1 and 4294967295 inclusive"
        )
    );
    let missing = dir.join("nope.conf");
    assert_eq!(
        run(&[missing.to_str().unwrap()]).unwrap_err(),
        format!(
            "Fatal error, can't open config file '{}': No such file or directory",
            missing.display()
        )
    );
}

#[test]
fn command_line_reads_stdin_for_a_lone_dash() {
    let c = run_with_stdin(&["-"], "maxmemory 128mb\n").unwrap();
    assert_eq!(c.maxmemory(), 128 << 20);
    // File, then stdin, then options.
    let dir = temp_dir();
    let file = write(&dir.join("f.conf"), "loglevel warning\nmaxclients 5\n");
    let c = run_with_stdin(
        &[&file, "--loglevel", "verbose", "-"],
        "loglevel debug\nmaxclients 6\n",
    )
    .unwrap();
    assert_eq!((c.loglevel(), c.maxclients()), (LogLevel::Verbose, 6));
    // A dash in the middle is just a value.
    assert_eq!(
        run_with_stdin(&["--port", "-", "--hz", "5"], "port 1\n").unwrap_err(),
        line_error(
            2,
            "port \"-\"",
            "argument couldn't be parsed into an integer"
        )
    );
}

// -- CONFIG GET -----------------------------------------------------------------------

fn names(found: &[(String, Vec<u8>)]) -> Vec<&str> {
    let mut names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    names
}

#[test]
fn config_get_patterns() {
    let store = ConfigStore::new(Config::default());
    // Redis 7.0.15 answers these with these names.
    assert_eq!(
        names(&store.get(&["hash-max-*"])),
        [
            "hash-max-listpack-entries",
            "hash-max-listpack-value",
            "hash-max-ziplist-entries",
            "hash-max-ziplist-value"
        ]
    );
    assert_eq!(
        store.get(&["HASH-MAX-ZIPLIST-ENTRIES"]),
        [("HASH-MAX-ZIPLIST-ENTRIES".to_owned(), b"512".to_vec())]
    );
    assert_eq!(store.get(&["port", "port", "p?rt", "PORT"]).len(), 1);
    assert!(store.get(&["nosuch"]).is_empty());
    // Hidden parameters answer their exact name only.
    assert_eq!(
        store.get(&["rdb-key-save-delay"]),
        [("rdb-key-save-delay".to_owned(), b"0".to_vec())]
    );
    assert!(store.get(&["rdb-key-save-*"]).is_empty());
    assert!(store
        .get(&["*delay*"])
        .iter()
        .all(|(n, _)| n != "key-load-delay"));
    assert_eq!(
        names(&store.get(&["lazyfree*", "lazyfree-lazy-e*"])),
        [
            "lazyfree-lazy-eviction",
            "lazyfree-lazy-expire",
            "lazyfree-lazy-server-del",
            "lazyfree-lazy-user-del",
            "lazyfree-lazy-user-flush"
        ]
    );
    assert_eq!(
        names(&store.get(&["MAXMEMORY*"])),
        [
            "maxmemory",
            "maxmemory-clients",
            "maxmemory-eviction-tenacity",
            "maxmemory-policy",
            "maxmemory-samples"
        ]
    );
    let everything = store.get(&["*"]);
    let table_names: usize = TABLE
        .iter()
        .filter(|d| !d.has(HIDDEN))
        .map(|d| 1 + d.aliases.len())
        .sum();
    assert_eq!(everything.len(), table_names);
    // Several patterns: the union, each name once.
    let union = store.get(&["port", "*port*", "save"]);
    assert_eq!(
        names(&union),
        [
            "cluster-announce-bus-port",
            "cluster-announce-port",
            "cluster-announce-tls-port",
            "cluster-port",
            "port",
            "replica-announce-port",
            "save",
            "slave-announce-port",
            "tls-port"
        ]
    );
}

// -- CONFIG SET -----------------------------------------------------------------------

#[test]
fn config_set_errors_match_redis() {
    // Replies of redis-server 7.0.15 to the same CONFIG SET commands.
    let store = ConfigStore::new(Config::default());
    let failed = |arg: &str, why: &str| {
        format!("ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}")
    };
    let unknown =
        |arg: &str| format!("ERR Unknown option or number of arguments for CONFIG SET - '{arg}'");
    let between = |lo: &str, hi: &str| format!("argument must be between {lo} and {hi} inclusive");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["foo", "bar"], unknown("foo")),
        (vec!["FOO", "1"], unknown("FOO")),
        (vec!["maxmemory", "1kb", "foo", "2"], unknown("foo")),
        (vec!["foo", "2", "databases", "5"], unknown("foo")),
        (
            vec!["databases", "5", "foo", "2"],
            failed("databases", "can't set immutable config"),
        ),
        (
            vec!["DATABASES", "5"],
            failed("DATABASES", "can't set immutable config"),
        ),
        (
            vec!["dir", "/tmp"],
            failed("dir", "can't set protected config"),
        ),
        (
            vec!["DIR", "/tmp"],
            failed("DIR", "can't set protected config"),
        ),
        (
            vec!["dbfilename", "x"],
            failed("dbfilename", "can't set protected config"),
        ),
        (
            vec!["logfile", "x"],
            failed("logfile", "can't set immutable config"),
        ),
        (
            vec!["appendfilename", "x"],
            failed("appendfilename", "can't set immutable config"),
        ),
        (
            vec!["appenddirname", "x"],
            failed("appenddirname", "can't set immutable config"),
        ),
        (
            vec!["daemonize", "x"],
            failed("daemonize", "can't set immutable config"),
        ),
        (
            vec!["tcp-backlog", "x"],
            failed("tcp-backlog", "can't set immutable config"),
        ),
        (
            vec!["rdbchecksum", "x"],
            failed("rdbchecksum", "can't set immutable config"),
        ),
        (
            vec!["maxmemory", "1kb", "maxmemory", "2kb"],
            failed("maxmemory", "duplicate parameter"),
        ),
        (
            vec!["hz", "1", "HZ", "2"],
            failed("HZ", "duplicate parameter"),
        ),
        (
            vec!["maxmemory", "x"],
            failed("maxmemory", "argument must be a memory value"),
        ),
        (
            vec!["maxmemory", "-1"],
            failed("maxmemory", "argument must be a memory value"),
        ),
        (
            vec!["maxmemory", "1.5mb"],
            failed("maxmemory", "argument must be a memory value"),
        ),
        (
            vec!["hz", "abc"],
            failed("hz", "argument couldn't be parsed into an integer"),
        ),
        (
            vec!["HZ", "abc"],
            failed("hz", "argument couldn't be parsed into an integer"),
        ),
        (
            vec!["maxmemory", "1", "HZ", "x"],
            failed("hz", "argument couldn't be parsed into an integer"),
        ),
        (vec!["hz", "-1"], failed("hz", &between("0", "2147483647"))),
        (
            vec!["timeout", "1e3"],
            failed("timeout", "argument couldn't be parsed into an integer"),
        ),
        (
            vec!["timeout", "00"],
            failed("timeout", "argument couldn't be parsed into an integer"),
        ),
        (
            vec!["timeout", "-0"],
            failed("timeout", "argument couldn't be parsed into an integer"),
        ),
        (
            vec!["maxclients", "-1"],
            failed("maxclients", &between("1", "4294967295")),
        ),
        (
            vec!["slowlog-max-len", "-1"],
            failed("slowlog-max-len", &between("0", "9223372036854775807")),
        ),
        (
            vec!["set-max-intset-entries", "-1"],
            failed(
                "set-max-intset-entries",
                &between("0", "9223372036854775807"),
            ),
        ),
        (
            vec!["slowlog-log-slower-than", "-2"],
            failed(
                "slowlog-log-slower-than",
                &between("-1", "9223372036854775807"),
            ),
        ),
        (
            vec!["list-max-listpack-size", "-9999999999"],
            failed(
                "list-max-listpack-size",
                &between("-2147483648", "2147483647"),
            ),
        ),
        (
            vec!["proto-max-bulk-len", "1000000"],
            failed(
                "proto-max-bulk-len",
                &between("1048576", "9223372036854775807"),
            ),
        ),
        (
            vec!["proto-max-bulk-len", "99999999999999999999"],
            failed(
                "proto-max-bulk-len",
                &between("1048576", "9223372036854775807"),
            ),
        ),
        (
            vec!["proto-max-bulk-len", ""],
            failed(
                "proto-max-bulk-len",
                &between("1048576", "9223372036854775807"),
            ),
        ),
        (
            vec!["client-query-buffer-limit", "99999999999999999999"],
            failed(
                "client-query-buffer-limit",
                &between("1048576", "9223372036854775807"),
            ),
        ),
        (
            vec!["hash-max-ziplist-value", "abc"],
            failed("hash-max-ziplist-value", "argument must be a memory value"),
        ),
        (
            vec!["HASH-MAX-ZIPLIST-VALUE", "abc"],
            failed("hash-max-ziplist-value", "argument must be a memory value"),
        ),
        (
            vec!["appendfsync", "x"],
            failed(
                "appendfsync",
                "argument(s) must be one of the following: everysec, always, no",
            ),
        ),
        (
            vec!["maxmemory-policy", "x"],
            failed(
                "maxmemory-policy",
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, \
                     volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, \
                     noeviction",
            ),
        ),
        (
            vec!["protected-mode", "maybe"],
            failed("protected-mode", "argument must be 'yes' or 'no'"),
        ),
    ];
    for (args, want) in cases {
        assert_eq!(set(&store, &args), Err(want), "{args:?}");
    }
    for bad in [
        "100 1 200",
        "0 1",
        "100 -1",
        "  100   1  ",
        "100 1 ",
        " 100 1",
        "100\t1",
        "100 1\t",
        "abc 1",
        "1.5 1",
        "100 0x1",
    ] {
        assert_eq!(
            set(&store, &["save", bad]),
            Err(failed("save", "Invalid save parameters")),
            "{bad:?}"
        );
    }
    assert_eq!(
        store.version(),
        0,
        "failed CONFIG SETs must not publish anything"
    );
    assert_eq!(*store.snapshot(), Config::default());
}

#[test]
fn config_set_values_read_back_like_redis() {
    // (name, value set, value CONFIG GET returns), from redis-server 7.0.15.
    let cases = [
        ("maxmemory", "1Gb", "1073741824"),
        ("maxmemory", "", "0"),
        ("maxmemory", "kb", "0"),
        ("maxmemory", "99999999999999999999", "18446744073709551615"),
        ("maxmemory", "20000000000gb", "3028092406290448384"),
        ("maxmemory", "1K", "1000"),
        ("hz", "1000", "500"),
        ("hz", "0", "1"),
        ("loglevel", "WARNING", "warning"),
        ("protected-mode", "YES", "yes"),
        ("proto-max-bulk-len", "1g", "1000000000"),
        ("client-query-buffer-limit", "2gb", "2147483648"),
        ("hash-max-listpack-value", "2k", "2000"),
        ("save", "", ""),
        ("save", "100 0", "100 0"),
        ("save", "100 1 50 2", "100 1 50 2"),
        ("save", "+5 1", "5 1"),
        ("save", "100 ", "100 0"),
        ("save", "100 -0", "100 0"),
        ("save", "3600 99999999999", "3600 1215752191"),
        ("save", "9223372036854775808 1", "9223372036854775807 1"),
        ("requirepass", "s3cret", "s3cret"),
        ("slowlog-log-slower-than", "-1", "-1"),
    ];
    let store = ConfigStore::new(Config::default());
    for (name, set_to, want) in cases {
        assert_eq!(set(&store, &[name, set_to]), Ok(()), "{name} {set_to:?}");
        assert_eq!(store_value(&store, name), want, "{name} {set_to:?}");
    }
    assert_eq!(store.snapshot().requirepass(), Some(&b"s3cret"[..]));
    set(&store, &["requirepass", ""]).unwrap();
    assert_eq!(store.snapshot().requirepass(), None);

    // An alias and its parameter are distinct entries to Redis: no "duplicate", last wins.
    set(
        &store,
        &[
            "hash-max-ziplist-entries",
            "100",
            "hash-max-listpack-entries",
            "200",
        ],
    )
    .unwrap();
    assert_eq!(store_value(&store, "hash-max-ziplist-entries"), "200");
    assert_eq!(store.snapshot().hash_max_listpack_entries(), 200);
}

#[test]
fn config_set_is_all_or_nothing_and_versioned() {
    let store = ConfigStore::new(Config::default());
    assert_eq!(store.version(), 0);
    set(
        &store,
        &["maxmemory", "1mb", "maxmemory-policy", "allkeys-lru"],
    )
    .unwrap();
    assert_eq!(store.version(), 1);
    let c = store.snapshot();
    assert_eq!(
        (c.maxmemory(), c.maxmemory_policy()),
        (1 << 20, MaxmemoryPolicy::AllkeysLru)
    );

    assert!(set(&store, &["maxmemory", "2mb", "hz", "x"]).is_err());
    assert_eq!(store.snapshot().maxmemory(), 1 << 20);
    assert_eq!(store.version(), 1);

    // Setting a value to what it already is publishes nothing.
    set(&store, &["maxmemory", "1048576"]).unwrap();
    assert_eq!(store.version(), 1);
}

#[test]
fn live_parameters_need_an_apply_hook() {
    let store = ConfigStore::new(Config::default());
    let immutable = |arg: &str| {
        Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{arg}') - can't set immutable config"
            ))
    };
    assert_eq!(set(&store, &["port", "7000"]), immutable("port"));
    assert_eq!(set(&store, &["bind", "127.0.0.1"]), immutable("bind"));
    assert_eq!(set(&store, &["appendonly", "yes"]), immutable("appendonly"));

    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    store.on_apply(&["port", "bind"], move |c| {
        log.lock().unwrap().push((c.port(), c.bind().len()));
        if c.port() == 1 {
            Err("Unable to listen on this port. Check server logs.".into())
        } else {
            Ok(())
        }
    });
    set(&store, &["port", "7000", "bind", "127.0.0.1 -::1"]).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [(7000, 2)],
        "one call for both parameters"
    );
    let c = store.snapshot();
    assert_eq!(c.port(), 7000);
    assert_eq!(
        c.bind(),
        [
            BindAddr {
                addr: "127.0.0.1".into(),
                optional: false
            },
            BindAddr {
                addr: "::1".into(),
                optional: true
            }
        ]
    );

    assert_eq!(
        set(&store, &["port", "1"]),
        Err(
            "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen \
                 on this port. Check server logs."
                .into()
        )
    );
    assert_eq!(store.snapshot().port(), 7000);

    // A refusal by a later hook undoes the earlier ones, which see the old config again.
    store.on_apply(&["appendonly"], |_| {
        Err("Unable to turn on AOF. Check server logs.".into())
    });
    seen.lock().unwrap().clear();
    assert_eq!(
        set(&store, &["port", "7001", "appendonly", "yes"]),
        Err(
            "ERR CONFIG SET failed (possibly related to argument 'appendonly') - Unable to \
                 turn on AOF. Check server logs."
                .into()
        )
    );
    assert_eq!(*seen.lock().unwrap(), [(7001, 2), (7000, 2)]);
    assert_eq!(store.snapshot().port(), 7000);
    assert!(!store.snapshot().appendonly());
}

#[test]
fn listeners_and_caches_see_changes() {
    let store = ConfigStore::new(Config::default());
    let heard = Arc::new(AtomicU64::new(0));
    let h = heard.clone();
    store.subscribe(move |c| h.store(c.maxmemory(), Ordering::SeqCst));
    let mut cache = ConfigCache::new(&store);
    assert_eq!(cache.get().maxmemory(), 0);
    set(&store, &["maxmemory", "5mb"]).unwrap();
    assert_eq!(heard.load(Ordering::SeqCst), 5 << 20);
    assert_eq!(cache.get().maxmemory(), 5 << 20);
}

#[test]
fn concurrent_readers_see_whole_snapshots() {
    // Writers always change two values together; readers must never see them disagree.
    let store = ConfigStore::new(Config::default());
    set(&store, &["maxmemory", "0", "slowlog-max-len", "0"]).unwrap();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut cache = ConfigCache::new(&store);
                let mut last = 0;
                while last < 200 {
                    let c = cache.get();
                    assert_eq!(c.maxmemory(), c.slowlog_max_len() * 1024);
                    last = c.slowlog_max_len();
                }
            })
        })
        .collect();
    for n in 1..=200u64 {
        let mm = (n * 1024).to_string();
        set(
            &store,
            &["maxmemory", &mm, "slowlog-max-len", &n.to_string()],
        )
        .unwrap();
    }
    for r in readers {
        r.join().unwrap();
    }
}

/// Feeds bad config files to the real redis-server binary and compares its complaint with
/// ours (header aside). Every file is invalid, and `--port 0` makes even a valid one exit.
/// Needs Debian's redis-server, as the rest of the suite does (CI installs it).
#[test]
fn file_errors_agree_with_redis_server() {
    let dir = temp_dir();
    let texts = [
        "foo bar\n",
        "\n\nport 1 2\n",
        "port abc\n",
        "save 0 1\nsave 1 1\n",
        "hz x\n",
        "maxmemory 1x\n",
        "loglevel x\n",
        "port \"7104\n",
        "requirepass 'abc'd\n",
        "appendonly maybe\n",
        "bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
        "dbfilename a/b\n",
        "appendfilename \"\"\n",
        "appenddirname a\\b\n",
        "dir /nonexistent\n",
        "include\n",
        "maxclients 0\n",
        "proto-max-bulk-len 1k\n",
        "list-max-listpack-size 99999999999\n",
        "timeout 1.5\n",
        "port 7000 extra\n",
        // Redis's special kinds.
        "notify-keyspace-events xyz\n",
        "notify-keyspace-events K E\n",
        "oom-score-adj-values 1 2\n",
        "oom-score-adj-values \"1 2 x\"\n",
        "shutdown-on-sigint save nosave\n",
        "shutdown-on-sigterm\n",
        "latency-tracking-info-percentiles 101\n",
        "latency-tracking-info-percentiles 1 x\n",
        "replicaof a\n",
        "replicaof a 99999\n",
        "replicaof no one\ncluster-enabled yes\nreplicaof a 1\n",
        "unixsocketperm 800\n",
        "unixsocketperm -1\n",
        "maxmemory-clients 101%\n",
        "maxmemory-clients x\n",
        "cluster-announce-hostname a_b\n",
        "proc-title-template {title}\n",
        "supervised maybe\n",
        "syslog-facility local8\n",
        "repl-diskless-load x\n",
        "propagation-error-behavior x\n",
        "sanitize-dump-payload x\n",
        "cluster-preferred-endpoint-type x\n",
        "enable-protected-configs x\n",
        "io-threads 129\n",
        "activedefrag yes\n",
        "active-defrag-cycle-min 100\n",
        "socket-mark-id -1\n",
        "dir /tmp extra\n",
        // The file-only directives.
        "user bob on badrule\n",
        "user bob badrule on\n",
        "user bob on +get|\n",
        "user bob on +config|get|x\n",
        "user bob on (~x +get\n",
        "user bob\nuser bob\n",
        "user\n",
        "user bob #abc\n",
        "user bob <abc\n",
        "user bob >abc !ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad <abc\n",
        "user bob allkeys ~x\n",
        "acl-pubsub-default allchannels\nuser bob &x\n",
        "user bob (~x ~y +get) (foo)\n",
        "user bob %RX~x\n",
        "user bob %~x\n",
        "user bob %\n",
        "user bob \"~a b\"\n",
        "rename-command nosuch x\n",
        "rename-command get set\n",
        "rename-command get foo\nrename-command foo bar\nrename-command get x\n",
        "rename-command get\n",
        "sentinel monitor x\n",
        "foo.bar\n",
    ];
    for (i, text) in texts.iter().enumerate() {
        let path = write(&dir.join(format!("bad{i}.conf")), text);
        let out = std::process::Command::new("redis-server")
            .args([path.as_str(), "--port", "0"])
            .output()
            .expect("redis-server not installed");
        let theirs = String::from_utf8_lossy(&out.stderr);
        let theirs = theirs.trim().replace(
            "(Redis 7.0.15)",
            &format!("(Tessera {})", env!("CARGO_PKG_VERSION")),
        );
        let ours = run(&[&path, "--port", "0"]).unwrap_err();
        assert_eq!(ours, theirs, "{text:?}");
    }
}

#[test]
fn output_buffer_limits_update_only_the_classes_named() {
    let store = ConfigStore::new(Config::default());
    let get = || store_value(&store, "client-output-buffer-limit");
    assert_eq!(
        get(),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    set(&store, &["client-output-buffer-limit", "normal 1mb 2mb 60"]).unwrap();
    set(
        &store,
        &["client-output-buffer-limit", "replica 3mb 4mb 70"],
    )
    .unwrap();
    assert_eq!(
        get(),
        "normal 1048576 2097152 60 slave 3145728 4194304 70 pubsub 33554432 8388608 60"
    );
    // Redis reads the seconds into an int: 2^32 is 0.
    set(
        &store,
        &["client-output-buffer-limit", "pubsub 10 10 4294967296"],
    )
    .unwrap();
    assert!(get().ends_with("pubsub 10 10 0"));
    let why = |value: &str| {
        set(&store, &["client-output-buffer-limit", value])
            .unwrap_err()
            .rsplit(" - ")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        why("normal 1 1"),
        "Wrong number of arguments in buffer limit configuration."
    );
    for class in ["master", "bogus"] {
        assert_eq!(
            why(&format!("{class} 1 1 1")),
            "Invalid client class specified in buffer limit configuration."
        );
    }
    for bad in [
        "normal 10mbs 1 1",
        "normal 1 -1 1",
        "normal 1 1 60s",
        "normal 1 1 -1",
    ] {
        assert_eq!(
            why(bad),
            "Error in hard, soft or soft_seconds setting in buffer limit configuration."
        );
    }
    // All or nothing: a bad group leaves the good one before it unapplied.
    assert!(set(
        &store,
        &["client-output-buffer-limit", "normal 5 5 5 pubsub x 1 1"]
    )
    .is_err());
    assert!(get().starts_with("normal 1048576 "));
    let c = store.snapshot();
    assert_eq!(
        c.obuf_limit(ClientClass::Replica),
        ObufLimit {
            hard: 3 << 20,
            soft: 4 << 20,
            soft_seconds: 70
        }
    );
}

// -- effects and docs/config.md -------------------------------------------------------

#[test]
fn docs_list_every_parameter_not_applied() {
    let docs = include_str!("../../../docs/config.md");
    let row = |name: &str| {
        docs.lines()
            .find(|line| line.starts_with(&format!("| `{name}`")))
    };
    for def in TABLE {
        match (def.effect, row(def.name)) {
            (Effect::NotApplicable(why), Some(line)) => {
                assert!(
                    line.contains(why),
                    "docs/config.md gives another reason for {}",
                    def.name
                )
            }
            (Effect::NotApplicable(_), None) => {
                panic!(
                    "docs/config.md does not list {}, which Tessera does not apply",
                    def.name
                )
            }
            (Effect::Applied, Some(line))
                if !FILE_DIRECTIVES.iter().any(|(d, _)| *d == def.name) =>
            {
                panic!("docs/config.md lists {} as not applied: {line}", def.name)
            }
            _ => {}
        }
    }
    for (directive, _) in FILE_DIRECTIVES {
        assert!(
            row(directive).is_some(),
            "docs/config.md does not mention {directive}"
        );
    }
}

// -- Redis's special kinds ------------------------------------------------------------

#[test]
fn special_values_read_back_like_redis() {
    // (name, value set, value CONFIG GET returns), from redis-server 7.0.15.
    let cases = [
        ("notify-keyspace-events", "KEA", "AKE"),
        ("notify-keyspace-events", "Kxg$lshzetdnmE", "AKEm"),
        ("notify-keyspace-events", "Exe", "xeE"),
        ("notify-keyspace-events", "nm", "nm"),
        ("notify-keyspace-events", "", ""),
        ("oom-score-adj-values", "-1 +2 3", "-1 2 3"),
        ("oom-score-adj", "relative", "yes"),
        ("oom-score-adj", "ABSOLUTE", "absolute"),
        ("shutdown-on-sigint", "now save", "save now"),
        ("shutdown-on-sigint", "force nosave now", "nosave now force"),
        ("shutdown-on-sigint", "default now", "now"),
        ("shutdown-on-sigint", "DEFAULT", "default"),
        (
            "latency-tracking-info-percentiles",
            "0.5 99.99999999 1e2",
            "0.5 100 100",
        ),
        ("latency-tracking-info-percentiles", "", ""),
        ("latency-tracking-info-percentiles", "0 12.25", "0 12.25"),
        ("maxmemory-clients", "10%", "10%"),
        ("maxmemory-clients", "0%", "0"),
        ("maxmemory-clients", "1mb", "1048576"),
        ("cluster-announce-hostname", "ok.host-1", "ok.host-1"),
        ("proc-title-template", "x {{", "x {{"),
        ("proc-title-template", "{port}", "{port}"),
        ("acl-pubsub-default", "allchannels", "allchannels"),
        ("active-defrag-ignore-bytes", "1kb", "1024"),
        ("lua-time-limit", "100", "100"),
        // What Redis's apply functions make of values they find too small.
        ("repl-backlog-size", "1kb", "16384"),
        ("repl-backlog-size", "16385", "16385"),
        ("watchdog-period", "5", "200"),
        ("watchdog-period", "0", "0"),
    ];
    let store = ConfigStore::new(Config::default());
    for (name, set_to, want) in cases {
        assert_eq!(set(&store, &[name, set_to]), Ok(()), "{name} {set_to:?}");
        assert_eq!(store_value(&store, name), want, "{name} {set_to:?}");
    }
    let c = store.snapshot();
    assert_eq!(store_value(&store, "busy-reply-threshold"), "100");
    assert_eq!(c.notify_keyspace_events(), 0);
    set(&store, &["notify-keyspace-events", "Ex"]).unwrap();
    assert_eq!(
        store.snapshot().notify_keyspace_events(),
        (1 << 1) | (1 << 8)
    );
    set(&store, &["shutdown-on-sigterm", "save now"]).unwrap();
    let c = store.snapshot();
    assert_eq!(
        c.shutdown_on_sigterm(),
        ShutdownFlags {
            save: true,
            now: true,
            ..ShutdownFlags::default()
        }
    );
    assert_eq!(c.shutdown_on_sigint(), ShutdownFlags::default());
}

#[test]
fn special_errors_match_redis() {
    // Replies of redis-server 7.0.15.
    let store = ConfigStore::new(Config::default());
    let failed = |arg: &str, why: &str| {
        Err(format!(
            "ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}"
        ))
    };
    let cases: &[(&str, &str, &str)] = &[
        (
            "notify-keyspace-events",
            "xyz",
            "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
        ),
        ("oom-score-adj-values", "1 2", "wrong number of arguments"),
        (
            "oom-score-adj-values",
            "1 2 3000",
            "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
        ),
        (
            "oom-score-adj-values",
            "1 2 x",
            "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
        ),
        (
            "oom-score-adj",
            "x",
            "argument(s) must be one of the following: no, yes, relative, absolute",
        ),
        (
            "shutdown-on-sigint",
            "save nosave",
            "shutdown options SAVE and NOSAVE can't be used simultaneously",
        ),
        (
            "shutdown-on-sigint",
            "x",
            "argument(s) must be one of the following: default, save, nosave, now, force",
        ),
        (
            "shutdown-on-sigterm",
            "",
            "argument(s) must be one of the following: default, save, nosave, now, force",
        ),
        (
            "shutdown-on-sigterm",
            "save  now",
            "argument(s) must be one of the following: default, save, nosave, now, force",
        ),
        (
            "latency-tracking-info-percentiles",
            "50 101",
            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
        ),
        (
            "latency-tracking-info-percentiles",
            "50 abc",
            "Invalid latency-tracking-info-percentiles parameters",
        ),
        (
            "latency-tracking-info-percentiles",
            "-1",
            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
        ),
        (
            "maxmemory-clients",
            "101%",
            "percentage argument must be less or equal to 100",
        ),
        (
            "maxmemory-clients",
            "-5%",
            "argument must be a memory or percent value",
        ),
        (
            "maxmemory-clients",
            "x",
            "argument must be a memory or percent value",
        ),
        (
            "maxmemory-clients",
            "9223372036854775808",
            "percentage argument must be less or equal to 100",
        ),
        (
            "cluster-announce-hostname",
            "a_b",
            "Hostnames may only contain alphanumeric characters, hyphens or dots",
        ),
        (
            "proc-title-template",
            "{title}",
            "template format is invalid or contains unknown variables",
        ),
        (
            "proc-title-template",
            "{nosuch}",
            "template format is invalid or contains unknown variables",
        ),
        (
            "proc-title-template",
            "{port",
            "template format is invalid or contains unknown variables",
        ),
        (
            "proc-title-template",
            "{server-mode}  ",
            "template format is invalid or contains unknown variables",
        ),
        (
            "tls-auth-clients",
            "maybe",
            "argument(s) must be one of the following: no, yes, optional",
        ),
        (
            "repl-diskless-load",
            "x",
            "argument(s) must be one of the following: disabled, on-empty-db, swapdb",
        ),
        (
            "acl-pubsub-default",
            "x",
            "argument(s) must be one of the following: allchannels, resetchannels",
        ),
        (
            "maxmemory-eviction-tenacity",
            "101",
            "argument must be between 0 and 100 inclusive",
        ),
        (
            "active-defrag-max-scan-fields",
            "-1",
            "argument must be between 1 and 9223372036854775807 inclusive",
        ),
        (
            "repl-backlog-size",
            "0",
            "argument must be between 1 and 9223372036854775807 inclusive",
        ),
        ("replicaof", "a 1", "can't set immutable config"),
        ("unixsocketperm", "700", "can't set immutable config"),
        (
            "enable-protected-configs",
            "yes",
            "can't set immutable config",
        ),
    ];
    for &(name, value, why) in cases {
        assert_eq!(
            set(&store, &[name, value]),
            failed(name, why),
            "{name} {value:?}"
        );
    }
    let long = "a".repeat(256);
    assert_eq!(
        set(&store, &["cluster-announce-hostname", &long]),
        failed(
            "cluster-announce-hostname",
            "Hostnames must be less than 256 characters"
        )
    );
    assert_eq!(store.version(), 0);
}

#[test]
fn octal_and_file_only_kinds_parse_like_redis() {
    // unixsocketperm is immutable: checked through files (redis-server 7.0.15's messages).
    let perm = |v: &str| from_text(&format!("unixsocketperm {v}\n")).map(|c| c.unixsocketperm());
    assert_eq!(perm("700"), Ok(0o700));
    assert_eq!(perm("0777"), Ok(0o777));
    assert_eq!(perm("\"\""), Ok(0));
    assert_eq!(
        value(
            &from_text("unixsocketperm 0640\n").unwrap(),
            "unixsocketperm"
        ),
        "640"
    );
    let err = |line: &str, why: &str| {
        assert_eq!(
            from_text(&format!("{line}\n")).unwrap_err(),
            line_error(1, line, why)
        );
    };
    err(
        "unixsocketperm 800",
        "argument couldn't be parsed as an octal number",
    );
    err(
        "unixsocketperm 1000",
        "argument must be between 0 and 777 inclusive",
    );
    err(
        "unixsocketperm -1",
        "argument must be between 0 and 777 inclusive",
    );
    err(
        "unixsocketperm 0x1",
        "argument couldn't be parsed as an octal number",
    );
    err("replicaof a", "wrong number of arguments");
    err("replicaof a 99999", "Invalid master port");
    err("replicaof a 1x", "Invalid master port");
    err("notify-keyspace-events K E", "wrong number of arguments");

    let c = from_text("replicaof 10.0.0.1 6380\n").unwrap();
    assert_eq!(c.replicaof(), Some((&b"10.0.0.1"[..], 6380)));
    assert_eq!(value(&c, "slaveof"), "10.0.0.1 6380");
    let c = from_text("slaveof 10.0.0.1 6380\nreplicaof NO ONE\n").unwrap();
    assert_eq!(
        (c.replicaof(), value(&c, "replicaof")),
        (None, String::new())
    );
    assert_eq!(
        from_text("cluster-enabled yes\nreplicaof a 1\n").unwrap_err(),
        format!(
            "{}\nreplicaof directive not allowed in cluster mode",
            fatal_header()
        )
    );
    // Redis raises a short watchdog period at start-up, but a small backlog only on CONFIG SET.
    let c = from_text("repl-backlog-size 1\nwatchdog-period 5\nhz 100\n").unwrap();
    assert_eq!(value(&c, "repl-backlog-size"), "1");
    assert_eq!(value(&c, "watchdog-period"), "20");
    // One quoted argument of a multi-argument parameter is split with quoting rules.
    let c = from_text("oom-score-adj-values \"1  2 '3'\"\n").unwrap();
    assert_eq!(value(&c, "oom-score-adj-values"), "1 2 3");
}

#[test]
fn new_accessors_see_defaults_and_values() {
    let c = Config::default();
    assert!(!c.daemonize() && !c.syslog_enabled() && !c.always_show_logo());
    assert_eq!(c.pidfile(), None);
    assert_eq!((c.syslog_ident(), c.syslog_facility()), ("redis", "local0"));
    assert_eq!(c.supervised(), "no");
    assert_eq!((c.unixsocket(), c.unixsocketperm()), (None, 0));
    assert!(c.set_proc_title() && c.crash_log_enabled() && !c.no_appendfsync_on_rewrite());
    assert_eq!(
        c.proc_title_template(),
        "{title} {listen-addr} {server-mode}"
    );
    assert_eq!(
        (c.enable_protected_configs(), c.enable_module_command()),
        ("no", "no")
    );
    assert_eq!(
        (c.shutdown_timeout(), c.latency_monitor_threshold()),
        (10, 0)
    );
    assert_eq!(c.notify_keyspace_events(), 0);
    assert_eq!(c.replicaof(), None);
    assert!(c.not_applied().is_empty());

    let dir = temp_dir();
    let pid = dir.join("t.pid");
    let sock = dir.join("t.sock");
    let c = from_text(&format!(
        "daemonize yes\npidfile {}\nsyslog-enabled yes\nsyslog-ident tess\n\
         syslog-facility LOCAL3\nsupervised systemd\nalways-show-logo yes\nunixsocket {}\n\
         unixsocketperm 770\nset-proc-title no\nproc-title-template \"{{title}} {{port}}\"\n\
         enable-protected-configs local\nenable-module-command yes\n\
         no-appendfsync-on-rewrite yes\ncrash-log-enabled no\nshutdown-timeout 3\n\
         latency-monitor-threshold 100\nnotify-keyspace-events KA\n",
        pid.display(),
        sock.display()
    ))
    .unwrap();
    assert!(c.daemonize() && c.syslog_enabled() && c.always_show_logo());
    assert_eq!(c.pidfile(), Some(pid.as_path()));
    assert_eq!((c.syslog_ident(), c.syslog_facility()), ("tess", "local3"));
    assert_eq!(c.supervised(), "systemd");
    assert_eq!(
        (c.unixsocket(), c.unixsocketperm()),
        (Some(sock.as_path()), 0o770)
    );
    assert!(!c.set_proc_title() && !c.crash_log_enabled() && c.no_appendfsync_on_rewrite());
    assert_eq!(c.proc_title_template(), "{title} {port}");
    assert_eq!(
        (c.enable_protected_configs(), c.enable_module_command()),
        ("local", "yes")
    );
    assert_eq!(
        (c.shutdown_timeout(), c.latency_monitor_threshold()),
        (3, 100)
    );
    // K, and A: every class from g (bit 2) to t (bit 10), and d (bit 13).
    assert_eq!(c.notify_keyspace_events(), 1 | 0x7fc | 1 << 13);
    let proc_title = "Tessera does not rewrite its process title";
    assert_eq!(
        c.not_applied(),
        [
            ("set-proc-title", proc_title),
            ("proc-title-template", proc_title),
        ]
    );
    // A unix socket is somewhere to listen.
    let c = from_text(&format!("port 0\nunixsocket {}\n", sock.display())).unwrap();
    assert_eq!(c.port(), 0);
}

#[test]
fn protected_configs_follow_enable_protected_configs() {
    let refused = |arg: &str| {
        Err(format!(
            "ERR CONFIG SET failed (possibly related to argument '{arg}') - can't set protected config"
        ))
    };
    let dir = temp_dir();
    let target = dir.to_str().unwrap();
    for (setting, local_ok, remote_ok) in [
        ("no", false, false),
        ("local", true, false),
        ("yes", true, true),
    ] {
        let config = from_text(&format!("enable-protected-configs {setting}\n")).unwrap();
        let store = ConfigStore::new(config);
        for (caller, ok) in [(Caller::Local, local_ok), (Caller::Remote, remote_ok)] {
            let got = store.set_as(&[("dbfilename", "x.rdb"), ("dir", target)], caller);
            if ok {
                assert_eq!(got, Ok(()), "{setting} {caller:?}");
                assert_eq!(store.snapshot().dbfilename(), Path::new("x.rdb"));
                set(&store, &["dbfilename", "dump.rdb"]).unwrap_or_else(|_| {
                    store
                        .set_as(&[("dbfilename", "dump.rdb")], Caller::Local)
                        .unwrap()
                });
            } else {
                assert_eq!(got, refused("dbfilename"), "{setting} {caller:?}");
            }
        }
    }
}

#[test]
fn file_directives_are_checked_like_redis() {
    // The messages redis-server 7.0.15 prints (file_errors_agree_with_redis_server runs the
    // same files through the real binary).
    let err = |text: &str, line_no: usize, why: &str| {
        let line = text.lines().nth(line_no - 1).unwrap();
        assert_eq!(
            from_text(text).unwrap_err(),
            line_error(line_no, line, why),
            "{text:?}"
        );
    };
    err(
        "user bob on badrule\n",
        1,
        "Error in user declaration 'bob': Syntax error",
    );
    err(
        "user bob badrule on\n",
        1,
        "Error in user declaration 'user': Syntax error",
    );
    err(
        "user bob on +get|\n",
        1,
        "Error in user declaration 'bob': Syntax error",
    );
    err(
        "user bob on +config|get|x\n",
        1,
        "Error in user declaration 'bob': Allowing first-arg of a subcommand is not supported",
    );
    err(
        "user bob on (~x +get\n",
        1,
        "Error in user declaration 'bob': Unknown command or category name in ACL",
    );
    err(
        "user bob\nuser bob\n",
        2,
        "Error in user declaration 'bob': Duplicate user found. A user can only be defined once in config files",
    );
    err("user\n", 1, "Bad directive or wrong number of arguments");
    err(
        "user bob #abc\n",
        1,
        "Error in user declaration 'user': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
    );
    err(
        "user bob <abc\n",
        1,
        "Error in user declaration 'user': The password you are trying to remove from the user does not exist",
    );
    // Removing by hash what was added in clear: SHA-256("abc").
    err(
        "user bob >abc !ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad <abc\n",
        1,
        "Error in user declaration '>abc': The password you are trying to remove from the user does not exist",
    );
    err(
        "user bob allkeys ~x\n",
        1,
        "Error in user declaration 'bob': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
    );
    err(
        "acl-pubsub-default allchannels\nuser bob &x\n",
        2,
        "Error in user declaration 'user': Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
    );
    err(
        "user bob (~x ~y +get) (foo)\n",
        1,
        "Error in user declaration 'bob': Syntax error",
    );
    err(
        "user bob %RX~x\n",
        1,
        "Error in user declaration 'user': Syntax error",
    );
    err(
        "user bob on %~x\n",
        1,
        "Error in user declaration 'bob': Syntax error",
    );
    err(
        "rename-command nosuch x\n",
        1,
        "No such command in rename-command",
    );
    err(
        "rename-command get set\n",
        1,
        "Target command name already exists",
    );
    err(
        "rename-command get foo\nrename-command foo bar\nrename-command get x\n",
        3,
        "No such command in rename-command",
    );
    err(
        "rename-command get\n",
        1,
        "Bad directive or wrong number of arguments",
    );
    err(
        "sentinel monitor x\n",
        1,
        "sentinel directive while not in sentinel mode",
    );
    err("foo.bar\n", 1, "Module config specified without value");

    // Accepted, recorded, and what Redis's start-up then does with them.
    let c = from_text(
        "sentinel\nrename-command FLUSHALL \"\"\nrename-command get fetch\n\
         user alice on >pw ~cache:* &* +@read -config|set (+get ~x) +select|0\nuser bob\n",
    )
    .unwrap();
    assert_eq!(
        c.renamed_commands(),
        [
            (b"FLUSHALL".to_vec(), Vec::new()),
            (b"get".to_vec(), b"fetch".to_vec())
        ]
    );
    assert_eq!(c.acl_users().len(), 2);
    // A selector opened inside another one starts over, as Redis's merging does.
    let restarted = from_text("user bob on (~x (+get +set)\n").unwrap();
    assert_eq!(restarted.acl_users()[0][2], b"(+get +set)");
    assert_eq!(c.acl_users()[0][7], b"(+get ~x)");
    let mut warned: Vec<&str> = c.not_applied().into_iter().map(|(n, _)| n).collect();
    warned.sort();
    assert_eq!(warned, ["user"]);
    assert_eq!(
        from_text("user bob on +nosuch\n").unwrap_err(),
        "Error loading ACL rule '+nosuch' for the user named 'bob': Unknown command or category \
         name in ACL\nCritical error while loading ACLs. Exiting."
    );
    assert_eq!(
        from_text("user bob (+get +@nosuch)\n").unwrap_err(),
        "Error loading ACL rule '(+get +@nosuch)' for the user named 'bob': Unknown command or \
         category name in ACL\nCritical error while loading ACLs. Exiting."
    );
    assert!(from_text("aclfile /tmp/x.acl\nuser bob on\n")
        .unwrap_err()
        .starts_with("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid."));
    assert_eq!(
        from_text("foo.bar 1\n").unwrap_err(),
        "Module Configuration detected without loadmodule directive or no ApplyConfig call: aborting"
    );
    assert_eq!(
        from_text("loadmodule /x/m.so a b\n").unwrap_err(),
        "Module /x/m.so failed to load: Tessera cannot load Redis modules\n\
         Can't load module from /x/m.so: server aborting"
    );
    assert!(run(&["--port", "7000", "--sentinel"])
        .unwrap_err()
        .contains("no Sentinel mode"));
}
