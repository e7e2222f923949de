//! Data helpers shared by the persistence tests: a client, replies as comparable text, a
//! keyspace with every type in every encoding, and a walk of a whole keyspace that two
//! servers match exactly when they hold the same data.

use std::collections::BTreeMap;

use super::Server;

pub fn client(s: &Server) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{}/", s.port))
        .and_then(|c| c.get_connection())
        .unwrap_or_else(|e| panic!("connect to {}: {e}", s.label))
}

/// A reply, or an error reply as `-CODE detail`.
pub fn cmd(c: &mut redis::Connection, args: &[&str]) -> Result<redis::Value, String> {
    let mut command = redis::cmd(args[0]);
    for a in &args[1..] {
        command.arg(*a);
    }
    command
        .query::<redis::Value>(c)
        .map_err(|e| format!("-{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")))
}

/// A reply as comparable text: the same for both servers exactly when the replies are equal.
pub fn text_of(r: &Result<redis::Value, String>) -> String {
    match r {
        Ok(v) => text(v),
        Err(e) => e.clone(),
    }
}

pub fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Okay => "OK".into(),
        redis::Value::Int(i) => i.to_string(),
        redis::Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => format!("{other:?}"),
    }
}

pub fn run(c: &mut redis::Connection, args: &[&str]) -> String {
    text_of(&cmd(c, args))
}

/// Every type in its every encoding, in two databases, with expiries.
pub fn populate(c: &mut redis::Connection) {
    let long_a = "a".repeat(3000);
    let noise: String = (0..500)
        .map(|i| char::from(b'!' + (i * 7 % 90) as u8))
        .collect();
    let mut script: Vec<Vec<String>> = vec![
        vec!["SET".into(), "int".into(), "12345".into()],
        vec!["SET".into(), "negint".into(), "-9223372036854775808".into()],
        vec![
            "SET".into(),
            "bigint".into(),
            "123456789012345678901234567890".into(),
        ],
        vec!["SET".into(), "short".into(), "hello world".into()],
        vec!["SET".into(), "compressible".into(), long_a.clone()],
        vec!["SET".into(), "noise".into(), noise.clone()],
        vec!["SET".into(), "empty".into(), "".into()],
        vec![
            "SET".into(),
            "ttl-ms".into(),
            "v".into(),
            "PX".into(),
            "86400123".into(),
        ],
        vec![
            "RPUSH".into(),
            "list-small".into(),
            "a".into(),
            "1".into(),
            "-7".into(),
            "9999999999".into(),
            long_a.clone(),
        ],
        vec![
            "SADD".into(),
            "intset16".into(),
            "1".into(),
            "2".into(),
            "-3".into(),
        ],
        vec![
            "SADD".into(),
            "intset64".into(),
            "1".into(),
            "5000000000".into(),
            "-70000".into(),
        ],
        vec![
            "SADD".into(),
            "set-small".into(),
            "a".into(),
            "b".into(),
            "12".into(),
        ],
        vec![
            "ZADD".into(),
            "zset-small".into(),
            "1".into(),
            "a".into(),
            "2.5".into(),
            "b".into(),
            "-inf".into(),
            "c".into(),
            "1e300".into(),
            "d".into(),
        ],
        vec![
            "HSET".into(),
            "hash-small".into(),
            "f".into(),
            "v".into(),
            "n".into(),
            "123".into(),
            "".into(),
            "empty-field".into(),
        ],
        vec![
            "HSET".into(),
            "hash-longval".into(),
            "f".into(),
            noise.clone(),
        ],
        vec!["SET".into(), "{tag}a".into(), "1".into()],
        vec!["SET".into(), "{tag}b".into(), "2".into()],
    ];
    let mut big_list = vec!["RPUSH".to_string(), "list-big".into()];
    let mut big_set = vec!["SADD".to_string(), "set-big".into()];
    let mut big_ints = vec!["SADD".to_string(), "intset-big".into()];
    let mut big_zset = vec!["ZADD".to_string(), "zset-big".into()];
    let mut big_hash = vec!["HSET".to_string(), "hash-big".into()];
    for i in 0..1500 {
        big_list.push(if i % 3 == 0 {
            i.to_string()
        } else {
            format!("elem-{i}-{}", "x".repeat(i % 40))
        });
        big_set.push(format!("m{i}"));
        big_ints.push((i * 1000).to_string());
        big_zset.push(format!("{}", (i as f64) / 7.0 - 50.0));
        big_zset.push(format!("z{i}"));
        big_hash.push(format!("field{i}"));
        big_hash.push(if i % 2 == 0 {
            i.to_string()
        } else {
            format!("value-{i}")
        });
    }
    script.extend([big_list, big_set, big_ints, big_zset, big_hash]);
    for line in &script {
        let args: Vec<&str> = line.iter().map(String::as_str).collect();
        let r = cmd(c, &args);
        assert!(r.is_ok(), "{line:?}: {r:?}");
    }
    for (key, at) in [
        ("list-small", "4102444800123"),
        ("zset-big", "4102444800"),
        ("hash-small", "4102444801"),
    ] {
        let command = if at.len() > 10 {
            "PEXPIREAT"
        } else {
            "EXPIREAT"
        };
        assert_eq!(run(c, &[command, key, at]), "1");
    }
    run(c, &["SELECT", "3"]);
    run(c, &["SET", "db3-key", "in db 3"]);
    run(c, &["RPUSH", "db3-list", "x", "y"]);
    run(c, &["SELECT", "0"]);
}

/// Every key of every database, with type, encoding, contents (sorted where the type has no
/// order) and absolute expiry: two servers hold the same data exactly when their walks match.
pub fn walk(c: &mut redis::Connection) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for db in 0..16 {
        run(c, &["SELECT", &db.to_string()]);
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let r = cmd(c, &["SCAN", &cursor, "COUNT", "1000"]);
            let Ok(redis::Value::Array(parts)) = r else {
                panic!("SCAN: {r:?}")
            };
            cursor = text(&parts[0]);
            if let redis::Value::Array(ks) = &parts[1] {
                keys.extend(ks.iter().map(text));
            }
            if cursor == "0" {
                break;
            }
        }
        for key in keys {
            let kind = run(c, &["TYPE", &key]);
            let contents = match kind.as_str() {
                "string" => run(c, &["GET", &key]),
                "list" => run(c, &["LRANGE", &key, "0", "-1"]),
                "set" => {
                    let mut m: Vec<String> = run(c, &["SMEMBERS", &key])
                        .split(',')
                        .map(String::from)
                        .collect();
                    m.sort();
                    m.join(",")
                }
                "zset" => run(c, &["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
                "hash" => {
                    let flat: Vec<String> = run(c, &["HGETALL", &key])
                        .split(',')
                        .map(String::from)
                        .collect();
                    let mut pairs: Vec<String> = flat.chunks(2).map(|p| p.join("=")).collect();
                    pairs.sort();
                    pairs.join(",")
                }
                other => panic!("unexpected type {other} for {key}"),
            };
            let encoding = run(c, &["OBJECT", "ENCODING", &key]);
            let expiry = run(c, &["PEXPIRETIME", &key]);
            out.insert(
                format!("{db}/{key}"),
                format!("{kind} {encoding} exp={expiry} {contents}"),
            );
        }
    }
    run(c, &["SELECT", "0"]);
    out
}

pub fn assert_same(
    expected: &BTreeMap<String, String>,
    actual: &BTreeMap<String, String>,
    what: &str,
) {
    assert_eq!(expected.len(), actual.len(), "{what}: key counts differ");
    for (k, v) in expected {
        let got = actual
            .get(k)
            .unwrap_or_else(|| panic!("{what}: {k} missing"));
        if got != v {
            panic!(
                "{what}: {k} differs\nexpected {}\n     got {}",
                super::escape(v.as_bytes(), 300),
                super::escape(got.as_bytes(), 300)
            );
        }
    }
}

pub fn info_field(c: &mut redis::Connection, field: &str) -> String {
    let info = run(c, &["INFO", "persistence"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO persistence"))
        .trim()
        .to_string()
}
