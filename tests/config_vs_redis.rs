//! The configuration store (CONFIG GET and SET, their validation and errors) against a real
//! redis-server: every default Tessera shares with Redis, and what a list of CONFIG SETs, good
//! and bad, does to both.

mod common;

use std::collections::HashMap;

use common::{parse_reply, RawConn, Reply, Server};
use tessera::config::{Config, ConfigStore};

fn reply(conn: &mut RawConn, args: &[&[u8]]) -> Reply {
    let bytes = conn.command(args).expect("a reply");
    parse_reply(&bytes).expect("valid").expect("whole").0
}

/// A CONFIG GET's name/value pairs.
fn get(conn: &mut RawConn, names: &[&[u8]]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut args: Vec<&[u8]> = vec![b"CONFIG", b"GET"];
    args.extend_from_slice(names);
    let Reply::Array(flat) = reply(conn, &args) else {
        panic!("CONFIG GET answers an array")
    };
    flat.chunks(2)
        .map(|kv| match kv {
            [Reply::Bulk(k), Reply::Bulk(v)] => (k.clone(), v.clone()),
            other => panic!("not a name and a value: {other:?}"),
        })
        .collect()
}

fn set(store: &ConfigStore, args: &[&str]) -> Result<(), String> {
    let pairs: Vec<(&str, &str)> = args.chunks(2).map(|p| (p[0], p[1])).collect();
    store.set(&pairs)
}

/// Tessera's own parameters, which Redis does not have.
const TESSERA_ONLY: &[&str] = &["threads", "rdb-child-stall-timeout"];

/// Redis's HIDDEN parameters: CONFIG GET patterns skip them, exact names find them.
const HIDDEN: &[&str] = &[
    "use-exit-on-panic",
    "rdb-key-save-delay",
    "key-load-delay",
    "watchdog-period",
    "loading-process-events-interval-bytes",
];

#[test]
fn defaults_agree_with_redis() {
    let server = Server::redis(&[]);
    let mut redis = server.connect();
    let theirs: HashMap<String, Vec<u8>> = get(&mut redis, &[b"*"])
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), v))
        .collect();
    let store = ConfigStore::new(Config::default());
    let ours: HashMap<String, Vec<u8>> = store.get(&["*"]).into_iter().collect();
    // What the test's server was started with, or Tessera's default by design (bind: the
    // loopback addresses of the redis.conf Redis ships; dir: the working directory).
    let differ = [
        "port",
        "save",
        "daemonize",
        "dir",
        "appendonly",
        "bind",
        "enable-debug-command",
    ];
    let mut missing: Vec<&String> = theirs.keys().filter(|n| !ours.contains_key(*n)).collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "Redis has parameters Tessera lacks: {missing:?}"
    );
    for (name, value) in &ours {
        if TESSERA_ONLY.contains(&name.as_str()) {
            assert!(
                !theirs.contains_key(name),
                "{name} is no longer Tessera's own"
            );
            continue;
        }
        let theirs = theirs
            .get(name)
            .unwrap_or_else(|| panic!("Tessera lists {name}, Redis does not"));
        if !differ.contains(&name.as_str()) {
            assert_eq!(
                String::from_utf8_lossy(value),
                String::from_utf8_lossy(theirs),
                "default of {name}"
            );
        }
    }
    assert_eq!(ours.len(), theirs.len() + TESSERA_ONLY.len());
    for name in HIDDEN {
        assert!(
            !ours.contains_key(*name) && !theirs.contains_key(*name),
            "{name} is listed"
        );
        let exact = [name.as_bytes()];
        assert_eq!(
            store.get(&exact),
            get(&mut redis, &exact)
                .into_iter()
                .map(|(k, v)| (String::from_utf8(k).unwrap(), v))
                .collect::<Vec<_>>(),
            "{name}"
        );
    }
}

#[test]
fn config_set_agrees_with_redis() {
    let server = Server::redis(&[]);
    let mut redis = server.connect();
    let commands: &[&[&str]] = &[
        &["maxmemory", "x"],
        &["maxmemory", "20000000000gb"],
        &["maxmemory", "1kb", "maxmemory", "2kb"],
        &["maxmemory", "1", "HZ", "x"],
        &["hz", "1000"],
        &["hz", "-1"],
        &["timeout", "007"],
        &["maxclients", "-1"],
        &["client-query-buffer-limit", "1000"],
        &["proto-max-bulk-len", "99999999999999999999"],
        &["list-max-ziplist-size", "-9999999999"],
        &[
            "hash-max-ziplist-entries",
            "100",
            "hash-max-listpack-entries",
            "200",
        ],
        &["loglevel", "nope"],
        &["maxmemory-policy", "ALLKEYS-LRU"],
        &["appendfsync", "x"],
        &["latency-tracking", "maybe"],
        &["save", "100 1 200"],
        &["save", "3600 99999999999"],
        &["save", "100 "],
        &["databases", "5", "foo", "2"],
        &["foo", "2", "databases", "5"],
        &["dir", "/tmp"],
        &["dbfilename", "x"],
        &["tcp-backlog", "1"],
        &["client-output-buffer-limit", "normal 1mb 2mb 60"],
        &[
            "client-output-buffer-limit",
            "replica 3mb 4mb 70 pubsub 5mb 6mb 80",
        ],
        &["client-output-buffer-limit", "pubsub 10 10 4294967296"],
        &["client-output-buffer-limit", "normal 1 1"],
        &["client-output-buffer-limit", "master 1 1 1"],
        &["client-output-buffer-limit", "normal 10mbs 1 1"],
        &["client-output-buffer-limit", "normal 1 1 60s"],
        &["client-output-buffer-limit", "normal 1 1 -1"],
        &["client-output-buffer-limit", "normal 5 5 5 pubsub x 1 1"],
        &["client-output-buffer-limit", ""],
        // Redis's special kinds.
        &["notify-keyspace-events", "KEA"],
        &["notify-keyspace-events", "Kxg$lshzetdnmE"],
        &["notify-keyspace-events", "gE"],
        &["notify-keyspace-events", "xyz"],
        &["notify-keyspace-events", "K\0E"],
        &["oom-score-adj-values", "-1 +2 3"],
        &["oom-score-adj-values", "1 2"],
        &["oom-score-adj-values", "1 2 3000"],
        &["oom-score-adj-values", "1  2 3"],
        &["oom-score-adj", "relative"],
        &["oom-score-adj", "x"],
        &["shutdown-on-sigint", "now save"],
        &["shutdown-on-sigint", "force NOSAVE now"],
        &["shutdown-on-sigint", "default now"],
        &["shutdown-on-sigint", "save nosave"],
        &["shutdown-on-sigterm", ""],
        &["shutdown-on-sigterm", "x"],
        &["latency-tracking-info-percentiles", "0.5 99.99999999 1e2"],
        &["latency-tracking-info-percentiles", ""],
        &["latency-tracking-info-percentiles", "50 101"],
        &["latency-tracking-info-percentiles", "50 abc"],
        &["latency-tracking-info-percentiles", "0x10 -0"],
        &["maxmemory-clients", "10%"],
        &["maxmemory-clients", "101%"],
        &["maxmemory-clients", "-5%"],
        &["maxmemory-clients", "1gb"],
        &["maxmemory-clients", "9223372036854775808"],
        &["cluster-announce-hostname", "a_b"],
        &["cluster-announce-hostname", "ok.host-1"],
        &["proc-title-template", "{title}"],
        &["proc-title-template", "{nosuch}"],
        &["proc-title-template", "x {{"],
        &["proc-title-template", "{port} {config-file} {unixsocket}"],
        &["proc-title-template", "{unixsocket}"],
        &["repl-diskless-load", "swapdb"],
        &["sanitize-dump-payload", "clients"],
        &["acl-pubsub-default", "allchannels"],
        &["tls-auth-clients", "maybe"],
        &["cluster-preferred-endpoint-type", "hostname"],
        &["propagation-error-behavior", "panic-on-replicas"],
        &["active-defrag-max-scan-fields", "-1"],
        &["repl-backlog-size", "0"],
        &["repl-backlog-size", "16mb"],
        &["lua-time-limit", "100"],
        &["slave-read-only", "no", "replica-read-only", "yes"],
        &["maxmemory-samples", "100"],
        // Immutable or protected, whatever the value.
        &["unixsocketperm", "700"],
        &["replicaof", "127.0.0.1 1"],
        &["enable-protected-configs", "yes"],
        &["io-threads", "2"],
        &["cluster-enabled", "yes"],
        &["rdb-key-save-delay", "10"],
    ];
    for &args in commands {
        let names: Vec<&str> = args.iter().step_by(2).copied().collect();
        let name_bytes: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
        let before = get(&mut redis, &name_bytes);
        // Start both from the server's current values (immutable ones agree already).
        let store = ConfigStore::new(Config::default());
        for (k, v) in &before {
            let _ = store.set(&[(k, v)]);
        }
        let mut cmd: Vec<&[u8]> = vec![b"CONFIG", b"SET"];
        cmd.extend(args.iter().map(|a| a.as_bytes()));
        let expected = match reply(&mut redis, &cmd) {
            Reply::Simple(_) => Ok(()),
            Reply::Error(e) => Err(String::from_utf8(e).unwrap()),
            other => panic!("{other:?}"),
        };
        assert_eq!(set(&store, args), expected, "CONFIG SET {args:?}");
        for name in &names {
            let theirs = get(&mut redis, &[name.as_bytes()]);
            let ours = store.get(&[name]);
            if !theirs.is_empty() && !ours.is_empty() && *name != "dir" {
                assert_eq!(ours[0].1, theirs[0].1, "{name} after CONFIG SET {args:?}");
            }
        }
        // Put the server back.
        for (k, v) in &before {
            reply(&mut redis, &[b"CONFIG", b"SET", k, v]);
        }
    }
}
