//! DUMP/RESTORE interchange with the real redis-server 7.0: for every type and encoding, a value
//! dumped by Redis restores into Tessera with the same contents and encoding, a value dumped by
//! Tessera restores into Redis, and where Redis's encoding is deterministic the payloads are
//! byte-identical.

mod common;

use common::{parse_reply, require_redis, RawConn, Reply, Server};

fn reply(c: &mut RawConn, args: &[&[u8]]) -> Reply {
    let raw = c.command(args).expect("command");
    parse_reply(&raw)
        .expect("valid reply")
        .expect("complete reply")
        .0
}

fn bulk(r: Reply) -> Vec<u8> {
    match r {
        Reply::Bulk(b) | Reply::Simple(b) => b,
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

fn strings(r: Reply) -> Vec<Vec<u8>> {
    match r {
        Reply::Array(items) => items.into_iter().map(bulk).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

/// The key's type, encoding and contents, sets and hashes sorted.
fn contents(c: &mut RawConn, key: &str) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    let k = key.as_bytes();
    let t = bulk(reply(c, &[b"TYPE", k]));
    let enc = bulk(reply(c, &[b"OBJECT", b"ENCODING", k]));
    let items = match &t[..] {
        b"string" => vec![bulk(reply(c, &[b"GET", k]))],
        b"list" => strings(reply(c, &[b"LRANGE", k, b"0", b"-1"])),
        b"set" => {
            let mut m = strings(reply(c, &[b"SMEMBERS", k]));
            m.sort();
            m
        }
        b"zset" => strings(reply(c, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])),
        b"hash" => {
            let flat = strings(reply(c, &[b"HGETALL", k]));
            let mut pairs: Vec<Vec<u8>> = flat
                .chunks(2)
                .map(|p| [&p[0][..], b"=", &p[1][..]].concat())
                .collect();
            pairs.sort();
            pairs
        }
        other => panic!("unexpected type {}", String::from_utf8_lossy(other)),
    };
    (t, enc, items)
}

struct Case {
    name: &'static str,
    /// Commands that build key `k` (run on both servers).
    setup: Vec<Vec<String>>,
    /// Whether Redis's payload bytes are deterministic (no hash-table order).
    deterministic: bool,
}

fn case(name: &'static str, deterministic: bool, cmds: &[&[&str]]) -> Case {
    Case {
        name,
        setup: cmds
            .iter()
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect(),
        deterministic,
    }
}

fn cases() -> Vec<Case> {
    let long = "v".repeat(100);
    let many_list: Vec<String> = (0..2000).map(|i| format!("element:{i}")).collect();
    let many_set: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    let many_z: Vec<String> = (0..200)
        .flat_map(|i| [format!("{}.5", i), format!("m{i}")])
        .collect();
    let many_h: Vec<String> = (0..600)
        .flat_map(|i| [format!("f{i}"), format!("{i}")])
        .collect();
    let own = |cmd: &str, key: &str, rest: &[String]| -> Vec<String> {
        [cmd.to_string(), key.to_string()]
            .into_iter()
            .chain(rest.iter().cloned())
            .collect()
    };
    let mut v = vec![
        case("int", true, &[&["SET", "k", "12345"]]),
        case("big int", true, &[&["SET", "k", "-9223372036854775808"]]),
        case("embstr", true, &[&["SET", "k", "hello"]]),
        case("raw lzf", true, &[&["SET", "k", &long]]),
        case(
            "raw incompressible",
            true,
            &[&["SET", "k", "abcdefghijklmnopqrstuvwxyz0123456789"]],
        ),
        case(
            "float string",
            true,
            &[&["SET", "k", "1"], &["INCRBYFLOAT", "k", "0.5"]],
        ),
        case(
            "list small",
            true,
            &[&[
                "RPUSH",
                "k",
                "a",
                "1",
                "-5000",
                "70000",
                "9999999999",
                "hello",
            ]],
        ),
        case(
            "hash listpack",
            true,
            &[&["HSET", "k", "a", "1", "b", "hello", "123", "-7"]],
        ),
        case(
            "hash listpack long",
            true,
            &[&["HSET", "k", "f", &"x".repeat(60)]],
        ),
        case(
            "hash table",
            false,
            &[&["HSET", "k", "a", "1", "long", &long]],
        ),
        case(
            "set intset",
            true,
            &[&["SADD", "k", "1", "-2", "70000", "5000000000"]],
        ),
        case("set hashtable", false, &[&["SADD", "k", "a", "b", "1"]]),
        case(
            "zset listpack",
            true,
            &[&[
                "ZADD", "k", "1.5", "a", "2", "b", "-3", "c", "0.1", "d", "inf", "e",
            ]],
        ),
        case(
            "zset skiplist",
            true,
            &[
                &["ZADD", "k", "1", "a", "2", "b"],
                &["ZADD", "k", "3", &long],
            ],
        ),
    ];
    let list_cmd = own("RPUSH", "k", &many_list);
    let set_cmd = own("SADD", "k", &many_set);
    let z_cmd = own("ZADD", "k", &many_z);
    let h_cmd = own("HSET", "k", &many_h);
    for (name, det, cmd) in [
        ("list many nodes", true, list_cmd),
        ("set big hashtable", false, set_cmd),
        ("zset big skiplist", true, z_cmd),
        ("hash big table", false, h_cmd),
    ] {
        v.push(Case {
            name,
            setup: vec![cmd],
            deterministic: det,
        });
    }
    v
}

fn run(c: &mut RawConn, cmd: &[String]) {
    let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
    let r = reply(c, &args);
    assert!(!matches!(r, Reply::Error(_)), "{cmd:?}: {r:?}");
}

#[test]
fn dump_restore_both_ways() {
    require_redis();
    let redis = Server::redis(&[]);
    let tessera = Server::tessera(&[]);
    let mut r = redis.connect();
    let mut t = tessera.connect();
    for case in cases() {
        for c in [&mut r, &mut t] {
            run(c, &["FLUSHALL".to_string()]);
            for cmd in &case.setup {
                run(c, cmd);
            }
        }
        let want = contents(&mut r, "k");
        assert_eq!(
            contents(&mut t, "k"),
            want,
            "{}: same data on both",
            case.name
        );

        let from_redis = bulk(reply(&mut r, &[b"DUMP", b"k"]));
        let from_tessera = bulk(reply(&mut t, &[b"DUMP", b"k"]));
        if case.deterministic {
            assert!(
                from_redis == from_tessera,
                "{}: DUMP payloads differ",
                case.name
            );
        }
        // Redis -> Tessera
        let ok = reply(&mut t, &[b"RESTORE", b"r", b"0", &from_redis]);
        assert_eq!(ok, Reply::Simple(b"OK".to_vec()), "{}", case.name);
        assert_eq!(
            contents(&mut t, "r"),
            want,
            "{}: Redis -> Tessera",
            case.name
        );
        // Tessera -> Redis
        let ok = reply(&mut r, &[b"RESTORE", b"t", b"0", &from_tessera]);
        assert_eq!(ok, Reply::Simple(b"OK".to_vec()), "{}", case.name);
        assert_eq!(
            contents(&mut r, "t"),
            want,
            "{}: Tessera -> Redis",
            case.name
        );
    }
}

#[test]
fn restore_ttl_idletime_and_errors() {
    require_redis();
    let redis = Server::redis(&[]);
    let tessera = Server::tessera(&[]);
    let mut r = redis.connect();
    let mut t = tessera.connect();
    run(&mut r, &["SET".into(), "k".into(), "v".into()]);
    let payload = bulk(reply(&mut r, &[b"DUMP", b"k"]));
    let mut bad_crc = payload.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    let mut bad_body = payload.clone();
    bad_body[0] = 99;
    let crc_at = bad_body.len() - 8;
    let crc = tessera::rdb::crc64::crc64(0, &bad_body[..crc_at]);
    bad_body[crc_at..].copy_from_slice(&crc.to_le_bytes());
    let scripts: Vec<Vec<&[u8]>> = vec![
        vec![b"RESTORE", b"a", b"0", &payload],
        vec![b"RESTORE", b"a", b"0", &payload],
        vec![b"RESTORE", b"a", b"0", &payload, b"REPLACE"],
        vec![b"RESTORE", b"b", b"100000", &payload],
        vec![b"RESTORE", b"c", b"1", &payload, b"ABSTTL"],
        vec![b"EXISTS", b"c"],
        vec![b"RESTORE", b"d", b"0", &payload, b"IDLETIME", b"1000"],
        vec![b"OBJECT", b"IDLETIME", b"d"],
        vec![b"RESTORE", b"e", b"0", &payload, b"FREQ", b"7"],
        vec![
            b"RESTORE",
            b"e2",
            b"0",
            &payload,
            b"FREQ",
            b"7",
            b"IDLETIME",
            b"1",
        ],
        vec![b"RESTORE", b"e3", b"0", &payload, b"IDLETIME", b"-1"],
        vec![b"RESTORE", b"e4", b"0", &payload, b"FREQ", b"256"],
        vec![b"RESTORE", b"e5", b"-1", &payload],
        vec![b"RESTORE", b"e6", b"x", &payload],
        vec![b"RESTORE", b"e7", b"0", &bad_crc],
        vec![b"RESTORE", b"e8", b"0", &bad_body],
        vec![b"RESTORE", b"e9", b"0", b"short"],
        vec![b"RESTORE", b"e10", b"9223372036854775807", &payload],
        vec![b"EXISTS", b"e10"],
        vec![b"RESTORE", b"a", b"0", &payload, b"BOGUS"],
        vec![b"DUMP", b"nosuchkey"],
    ];
    for cmd in scripts {
        let want = reply(&mut r, &cmd);
        let got = reply(&mut t, &cmd);
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(cmd[0]));
    }
    let ttl = |c: &mut RawConn| match reply(c, &[b"PTTL", b"b"]) {
        Reply::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    assert!((99_000..=100_000).contains(&ttl(&mut t)));
}

#[test]
fn restore_freq_under_lfu() {
    require_redis();
    let args = ["--maxmemory-policy", "allkeys-lfu"];
    let redis = Server::redis(&args);
    let tessera = Server::tessera(&args);
    let mut r = redis.connect();
    let mut t = tessera.connect();
    run(&mut r, &["SET".into(), "k".into(), "v".into()]);
    let payload = bulk(reply(&mut r, &[b"DUMP", b"k"]));
    for cmd in [
        vec![&b"RESTORE"[..], b"f", b"0", &payload, b"FREQ", b"200"],
        vec![b"OBJECT", b"FREQ", b"f"],
        vec![b"RESTORE", b"g", b"0", &payload, b"IDLETIME", b"100"],
        vec![b"OBJECT", b"FREQ", b"g"],
    ] {
        assert_eq!(
            reply(&mut t, &cmd),
            reply(&mut r, &cmd),
            "{:?}",
            String::from_utf8_lossy(cmd[0])
        );
    }
}

/// The canonical contents of a decoded value, in the form `contents` reads from a server.
fn value_contents(v: &tessera::db::Value) -> (Vec<u8>, Vec<u8>, Vec<Vec<u8>>) {
    use tessera::db::Value;
    let items = match v {
        Value::Str(s) => vec![s.to_bytes().to_vec()],
        Value::List(l) => l.iter().map(|e| e.to_bytes().to_vec()).collect(),
        Value::Set(s) => {
            let mut m: Vec<Vec<u8>> = s.iter().map(|m| m.to_bytes().to_vec()).collect();
            m.sort();
            m
        }
        Value::ZSet(z) => z
            .iter()
            .flat_map(|(m, s)| {
                [
                    m.to_vec(),
                    tessera::resp::frame::format_double(s).into_bytes(),
                ]
            })
            .collect(),
        Value::Hash(h) => {
            let mut p: Vec<Vec<u8>> = h
                .iter()
                .map(|(f, v)| [&f.to_bytes()[..], b"=", &v.to_bytes()[..]].concat())
                .collect();
            p.sort();
            p
        }
    };
    (v.type_name().into(), v.encoding().into(), items)
}

/// Whole files: Redis's SAVE output reads back through `RdbReader`, and a file written by
/// `RdbWriter` passes `redis-check-rdb` and loads into Redis with the same contents.
#[test]
fn rdb_files_both_ways() {
    require_redis();
    use tessera::rdb::{decode_value, Item, KeyMeta, RdbReader, RdbWriter, SaveOptions};
    let redis = Server::redis(&[]);
    let mut r = redis.connect();
    let mut keys = vec![];
    for case in cases() {
        let key = format!("k:{}", case.name);
        for cmd in &case.setup {
            let mut cmd = cmd.clone();
            cmd[1] = key.clone();
            run(&mut r, &cmd);
        }
        keys.push(key);
    }
    run(
        &mut r,
        &["PEXPIREAT".into(), keys[0].clone(), "4102444800000".into()],
    );
    run(&mut r, &["SAVE".into()]);
    let file = std::fs::read(redis.dir().join("dump.rdb")).expect("Redis wrote dump.rdb");

    let mut reader = RdbReader::new(&file[..]).expect("header");
    assert_eq!(reader.version(), 10);
    let limits = tessera::db::EncodingLimits::default();
    let mut loaded = vec![];
    loop {
        match reader.next().expect("Redis's file reads") {
            Item::End => break,
            Item::Key {
                key,
                value,
                expire_at_ms,
                ..
            } => {
                let v = decode_value(&value, &limits).expect("value decodes");
                let name = String::from_utf8(key.clone()).unwrap();
                assert_eq!(value_contents(&v), contents(&mut r, &name), "{name}");
                loaded.push((key, v, expire_at_ms));
            }
            _ => {}
        }
    }
    assert_eq!(reader.offset(), file.len() as u64);
    assert_eq!(loaded.len(), keys.len());
    assert!(loaded.iter().any(|(_, _, exp)| *exp == 4102444800000));

    // Write them back with Tessera's writer, into a directory a second Redis starts from.
    let dir = std::env::temp_dir().join(format!("tessera-rdb-interop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tessera.rdb");
    let mut w = RdbWriter::new(
        Vec::new(),
        SaveOptions {
            compress: true,
            checksum: true,
        },
    );
    w.header().unwrap();
    w.aux(b"redis-ver", b"7.0.15").unwrap();
    w.aux(b"redis-bits", b"64").unwrap();
    w.select_db(0).unwrap();
    let expires = loaded.iter().filter(|l| l.2 != 0).count() as u64;
    w.resize_db(loaded.len() as u64, expires).unwrap();
    for (k, v, exp) in &loaded {
        w.entry(k, v, *exp, KeyMeta::None).unwrap();
    }
    std::fs::write(&path, w.finish().unwrap()).unwrap();
    let check = std::process::Command::new("redis-check-rdb")
        .arg(&path)
        .output()
        .expect("redis-check-rdb runs");
    let text = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(
        check.status.success() && text.contains("RDB looks OK"),
        "{text}"
    );

    let dir_s = dir.to_str().unwrap();
    let redis2 = Server::redis(&["--dir", dir_s, "--dbfilename", "tessera.rdb"]);
    let mut r2 = redis2.connect();
    for k in &keys {
        assert_eq!(
            contents(&mut r2, k),
            contents(&mut r, k),
            "{k} after loading Tessera's file"
        );
    }
    let ttl = reply(&mut r2, &[b"PEXPIRETIME", keys[0].as_bytes()]);
    assert_eq!(ttl, Reply::Integer(4102444800000));
    drop(redis2);
    let _ = std::fs::remove_dir_all(&dir);
}
