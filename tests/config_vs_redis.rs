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

#[test]
fn defaults_agree_with_redis() {
    let server = Server::redis(&[]);
    let mut redis = server.connect();
    let theirs: HashMap<String, Vec<u8>> = get(&mut redis, &[b"*"])
        .into_iter()
        .map(|(k, v)| (String::from_utf8(k).unwrap(), v))
        .collect();
    // What the test's server was started with differs by design.
    let started_with = [
        "port",
        "save",
        "daemonize",
        "dir",
        "appendonly",
        "bind",
        "enable-debug-command",
    ];
    for (name, ours) in ConfigStore::new(Config::default()).get(&["*"]) {
        if started_with.contains(&name.as_str()) {
            continue;
        }
        // Redis leaves its hidden parameters (rdb-key-save-delay...) out of `*`.
        // A parameter Redis does not know at all is Tessera's own (rdb-child-stall-timeout).
        let theirs = match theirs.get(&name) {
            Some(v) => v.clone(),
            None => match get(&mut redis, &[name.as_bytes()]).pop() {
                Some((_, v)) => v,
                None => continue,
            },
        };
        assert_eq!(ours, theirs, "default of {name}");
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
