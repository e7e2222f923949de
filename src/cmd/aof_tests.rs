//! The AOF's central property: running commands on keyspace A while logging them as
//! [`propagate`] says, then replaying the log into an empty keyspace B at another time, gives
//! B the same data as A (every key, type, contents and expiry).

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use crate::aof::reader::Reader;
use crate::aof::{restate, rewrite_keyspace, AofLog};
use crate::cmd::propagate::{blocked_served, propagate, Propagation};
use crate::cmd::replay::*;
use crate::cmd::{Ctx, Run, Table};
use crate::db::{Keyspace, Value};
use crate::resp::Frame;

const DBS: usize = 4;
const T0: u64 = 1_700_000_000_000;

/// Runs commands as a shard would with AOF on: execute, propagate, log.
struct Harness {
    a: Keyspace,
    log: AofLog,
    file: Vec<u8>,
    now: u64,
    db: usize,
}

fn args_of(line: &str) -> Vec<Bytes> {
    line.split_whitespace()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect()
}

impl Harness {
    fn new() -> Harness {
        Harness {
            a: Keyspace::new(DBS),
            log: AofLog::new(),
            file: Vec::new(),
            now: T0,
            db: 0,
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
    }

    /// The runtime's duty that no reply shows: a DEL for each key it expires.
    fn expire_due(&mut self) {
        for (i, db) in self.a.dbs.iter_mut().enumerate() {
            let due: Vec<Bytes> = db
                .iter()
                .filter(|(_, e)| e.expire_at != 0 && e.expire_at <= self.now)
                .map(|(k, _)| Bytes::copy_from_slice(k))
                .collect();
            for k in due {
                db.remove(&k);
                self.log.command(i, &[Bytes::from_static(b"DEL"), k]);
            }
        }
    }

    fn keyed(&mut self, args: &[Bytes]) -> Frame {
        let cmd = Table::get().lookup(&args[0]).expect("known command");
        assert!(cmd.arity_ok(args.len()), "arity of {args:?}");
        let (Run::Keyed(f) | Run::Spread(f, _)) = cmd.run else {
            panic!("not keyed: {}", cmd.name)
        };
        let mut ctx = Ctx {
            ks: &mut self.a,
            db: self.db,
            now: self.now,
        };
        f(&mut ctx, args).unwrap_or_else(Frame::from)
    }

    /// A blocking command that finds data at once, served by its non-blocking form as the
    /// blocking layer does, with the blocking command's reply shape.
    fn blocking(&mut self, args: &[Bytes]) -> Frame {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let a = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let n = args.len();
        match name.as_str() {
            "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
                let pop = &name[1..];
                for key in &args[1..n - 1] {
                    match self.keyed(&[a(pop), key.clone()]) {
                        Frame::Bulk(e) => {
                            return Frame::Array(vec![Frame::Bulk(key.clone()), Frame::Bulk(e)])
                        }
                        Frame::Array(pair) if !pair.is_empty() => {
                            let mut out = vec![Frame::Bulk(key.clone())];
                            out.extend(pair);
                            return Frame::Array(out);
                        }
                        _ => {}
                    }
                }
                Frame::NullArray
            }
            "blmove" => self.keyed(&[
                a("lmove"),
                args[1].clone(),
                args[2].clone(),
                args[3].clone(),
                args[4].clone(),
            ]),
            "brpoplpush" => self.keyed(&[a("rpoplpush"), args[1].clone(), args[2].clone()]),
            "blmpop" | "bzmpop" => {
                let mut rest = vec![a(&name[1..])];
                rest.extend_from_slice(&args[2..]);
                self.keyed(&rest)
            }
            other => panic!("not blocking: {other}"),
        }
    }

    fn exec(&mut self, line: &str) -> Frame {
        let args = args_of(line);
        self.expire_due();
        let cmd = Table::get().lookup(&args[0]).expect("known command");
        let reply = match cmd.name {
            "select" => {
                self.db = line[7..].trim().parse().expect("db");
                Frame::ok()
            }
            "flushdb" => {
                drop(self.a.dbs[self.db].clear());
                Frame::ok()
            }
            "flushall" => {
                for db in self.a.dbs.iter_mut() {
                    drop(db.clear());
                }
                Frame::ok()
            }
            "swapdb" => {
                let x: usize = std::str::from_utf8(&args[1]).unwrap().parse().unwrap();
                let y: usize = std::str::from_utf8(&args[2]).unwrap().parse().unwrap();
                self.a.swap_dbs(x, y);
                Frame::ok()
            }
            "blpop" | "brpop" | "bzpopmin" | "bzpopmax" | "blmove" | "brpoplpush" | "blmpop"
            | "bzmpop" => self.blocking(&args),
            _ => self.keyed(&args),
        };
        if cmd.is_write() && !reply.is_error() {
            match propagate(cmd.name, self.db, &args, &reply, self.now) {
                Propagation::AsIs => self.log.command(self.db, &args),
                Propagation::Nothing => {}
                Propagation::Rewritten(records) => {
                    for r in records {
                        self.log.command(self.db, &r);
                    }
                }
                Propagation::Restate(keys) => {
                    for (db, k) in keys {
                        for r in restate(&k, self.a.dbs[db].peek(&k)) {
                            self.log.command(db, &r);
                        }
                    }
                }
            }
        }
        self.file.extend_from_slice(&self.log.take());
        reply
    }

    fn run(&mut self, script: &[String]) {
        for line in script {
            if let Some(ms) = line.strip_prefix("@advance ") {
                self.advance(ms.parse().unwrap());
                continue;
            }
            let reply = self.exec(line);
            assert!(!reply.is_error(), "{line}: {reply:?}");
        }
    }

    /// Replays the whole log into a fresh keyspace and compares it with A.
    fn check(&mut self) -> Keyspace {
        self.expire_due();
        self.file.extend_from_slice(&self.log.take());
        let mut b = Keyspace::new(DBS);
        let committed = scan_transactions(&[&self.file]);
        let stats = replay(&mut b, &self.file, "test.aof", &committed).expect("replays");
        assert_eq!(stats.errors, 0, "replayed commands failed");
        assert_eq!(stats.valid_len, self.file.len() as u64);
        assert_same(&self.a, &b, self.now);
        b
    }
}

/// A value in a form that compares contents whatever the encoding or iteration order.
#[derive(Debug, Clone, PartialEq)]
enum Canon {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, u64)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

fn canon(v: &Value) -> Canon {
    match v {
        Value::Str(s) => Canon::Str(s.to_bytes().to_vec()),
        Value::List(l) => Canon::List(l.iter().map(|e| e.to_bytes().to_vec()).collect()),
        Value::Set(s) => {
            let mut m: Vec<Vec<u8>> = s.iter().map(|m| m.to_bytes().to_vec()).collect();
            m.sort();
            Canon::Set(m)
        }
        Value::ZSet(z) => {
            let mut m: Vec<(Vec<u8>, u64)> =
                z.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect();
            m.sort();
            Canon::ZSet(m)
        }
        Value::Hash(h) => {
            let mut m: Vec<(Vec<u8>, Vec<u8>)> = h
                .iter()
                .map(|(f, v)| (f.to_bytes().to_vec(), v.to_bytes().to_vec()))
                .collect();
            m.sort();
            Canon::Hash(m)
        }
    }
}

type Dump = BTreeMap<(usize, Vec<u8>), (u64, Canon)>;

/// Every key alive at `now`, with its expiry and contents.
fn dump(ks: &Keyspace, now: u64) -> Dump {
    let mut out = BTreeMap::new();
    for (i, db) in ks.dbs.iter().enumerate() {
        for (k, e) in db.iter() {
            if e.expire_at == 0 || e.expire_at > now {
                out.insert((i, k.to_vec()), (e.expire_at, canon(&e.value)));
            }
        }
    }
    out
}

fn assert_same(a: &Keyspace, b: &Keyspace, now: u64) {
    let (da, db) = (dump(a, now), dump(b, now));
    for (k, v) in &da {
        assert_eq!(
            db.get(k),
            Some(v),
            "key {:?}",
            String::from_utf8_lossy(&k.1)
        );
    }
    for k in db.keys() {
        assert!(
            da.contains_key(k),
            "extra key {:?}",
            String::from_utf8_lossy(&k.1)
        );
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn strings_script() -> Vec<String> {
    let future_s = T0 / 1000 + 5000;
    let past_s = T0 / 1000 - 10;
    lines(&format!(
        "SET s1 hello
         SET s2 world EX 100
         SET s3 x PX 5000 NX
         SET s3 y NX
         SET s4 v XX
         SET s3 z XX GET
         SET s1 v2 KEEPTTL GET
         SET s5 v EXAT {future_s}
         SET s5b v PXAT {}
         SET s5c v EX 50 GET NX
         SETEX s6 100 v
         PSETEX s7 100000 v
         SETNX s8 a
         SETNX s8 b
         GETSET s8 c
         GETEX s2 PERSIST
         GETEX s6 EX 1000
         GETEX s6
         GETEX s7 EXAT {past_s}
         GETEX nokey EX 10
         GETEX s1 PXAT {}
         GETDEL s3
         GETDEL nokey
         MSET m1 1 m2 2
         MSETNX m3 1 m1 2
         MSETNX m3 1 m4 2
         INCR n
         INCRBY n 10
         DECR n
         DECRBY n 3
         INCRBYFLOAT f 1.1
         INCRBYFLOAT f 2.2e3
         SETEX fexp 100 1.5
         INCRBYFLOAT fexp 1
         APPEND s1 more
         APPEND newstr abc
         SETRANGE s9 5 abc
         SETBIT b 7 1
         SETBIT b 100 1
         BITFIELD bf SET i8 0 100 INCRBY u4 4 3
         BITFIELD bf OVERFLOW FAIL INCRBY u2 0 7
         BITOP AND dst b bf
         BITOP NOT dst2 b
         SET gone v PX 50
         @advance 100
         SET gone new
         SET ttlkeep v PX 100000
         @advance 1000
         SET ttlkeep v2 KEEPTTL
         SET longer {}",
        T0 + 99_000,
        T0 + 123_456,
        "x".repeat(100)
    ))
}

fn keyspace_script() -> Vec<String> {
    let past_s = T0 / 1000 - 10;
    lines(&format!(
        "SET k1 v
         SET k2 v
         SET k3 v
         SET k4 v
         DEL k1 nokey
         DEL nokey
         UNLINK k2
         EXPIRE k3 100
         PEXPIRE k3 200000 GT
         PEXPIRE k3 1 NX
         EXPIREAT k4 {past_s}
         SET k5 v
         PEXPIREAT k5 {}
         EXPIRE nokey 10
         SET k6 v
         EXPIRE k6 -5
         SET k7 v EX 10
         PERSIST k7
         PERSIST k7
         SET k8 v
         RENAME k8 k8b
         SET k9 v
         RENAMENX k9 k8b
         RENAMENX k9 k9b
         MOVE k9b 1
         MOVE k5 1
         SELECT 1
         SET k5 other
         SADD inone a
         SELECT 2
         RPUSH l2 a
         SWAPDB 1 2
         SELECT 3
         SET doomed v
         FLUSHDB
         SET kept v
         SELECT 0
         SET k10 v EX 1
         @advance 2000
         SADD k10 now-a-set",
        T0 + 500_000
    ))
}

fn lists_script() -> Vec<String> {
    lines(
        "RPUSH l a b c d e f
         LPUSH l z
         LPUSHX nol a
         RPUSHX l g
         LPOP l
         LPOP nol
         RPOP l 2
         LSET l 0 q
         LINSERT l BEFORE c cc
         LINSERT l BEFORE nothere x
         LINSERT nol BEFORE a x
         LREM l 1 q
         LREM l 1 nothere
         LTRIM l 0 3
         LMOVE l l2 LEFT RIGHT
         LMOVE nol l2 LEFT RIGHT
         RPOPLPUSH l l2
         RPUSH l 1 2 3 4 5
         LMPOP 2 nol l RIGHT COUNT 2
         LMPOP 1 nol LEFT
         BLPOP nol l2 0
         BRPOP l2 0
         BLMOVE l2 l3 RIGHT LEFT 0
         BRPOPLPUSH l l3 0
         BLMPOP 0 2 nol l3 LEFT COUNT 5
         BLPOP nol 1
         BLMOVE nol l3 LEFT LEFT 1
         RPUSH big 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20
         LPOP big 20",
    )
}

fn sets_script() -> Vec<String> {
    let mut s = lines(
        "SADD set1 a b c 1 2 3
         SADD set1 a
         SREM set1 a
         SREM set1 nothere
         SPOP set1
         SPOP set1 2
         SPOP nos
         SPOP nos 3
         SPOP set1 0
         SADD ints 1 2 3 4 5 6 7 8 9 10
         SPOP ints 8
         SPOP ints 100
         SADD set1 x y z
         SADD set2 q
         SMOVE set1 set2 x
         SMOVE set1 set2 nothere
         SINTERSTORE d set1 set2
         SUNIONSTORE d2 set1 set2
         SDIFFSTORE d3 set1 set2
         SINTERSTORE d3 nos set1",
    );
    let many: Vec<String> = (0..3000).map(|i| format!("m{i}")).collect();
    s.push(format!("SADD huge {}", many.join(" ")));
    s.push("SPOP huge 2500".into());
    s
}

fn zsets_script() -> Vec<String> {
    lines(
        "ZADD z 1 a 2 b 3 c 4 d 5 e 6 f
         ZADD z INCR 1.5 a
         ZADD z XX INCR 1 nothere
         ZINCRBY z 0.1 b
         ZREM z e
         ZREM z nothere
         ZREMRANGEBYRANK z 0 0
         ZREMRANGEBYSCORE z 100 200
         ZADD lex 0 a 0 b 0 c 0 d
         ZREMRANGEBYLEX lex [a [b
         ZPOPMIN z
         ZPOPMAX z 1
         ZPOPMIN noz
         ZADD z 10 p 11 q 12 r
         ZMPOP 2 noz z MIN COUNT 1
         BZPOPMIN noz z 0
         BZPOPMAX z 0
         BZMPOP 0 1 z MAX COUNT 2
         BZPOPMIN noz 1
         ZADD z2 1 x 2 y 3 p
         ZUNIONSTORE zu 2 z z2 WEIGHTS 2 3
         ZINTERSTORE zi 2 z z2 AGGREGATE MAX
         ZDIFFSTORE zd 2 z2 z
         ZRANGESTORE zr z2 0 1
         ZADD zf 0.1 a 1e300 b -inf c inf d 3.0000000000000004 e -0.0 f",
    )
}

fn hashes_script() -> Vec<String> {
    lines(
        "HSET h a 1 b 2
         HMSET h c 3
         HSETNX h a 9
         HSETNX h d 4
         HDEL h a
         HDEL h nothere
         HINCRBY h b 5
         HINCRBYFLOAT h c 0.5
         HINCRBYFLOAT h x 1e-3
         HINCRBYFLOAT h x 3.0e2
         HSET h long aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    )
}

fn all_scripts() -> Vec<Vec<String>> {
    vec![
        strings_script(),
        keyspace_script(),
        lists_script(),
        sets_script(),
        zsets_script(),
        hashes_script(),
    ]
}

#[test]
fn replaying_the_log_rebuilds_the_data_per_family() {
    for script in all_scripts() {
        let mut h = Harness::new();
        h.run(&script);
        h.check();
    }
}

#[test]
fn replaying_all_families_in_one_log_rebuilds_the_data() {
    let mut h = Harness::new();
    for script in all_scripts() {
        h.run(&script);
    }
    h.check();
}

#[test]
fn logged_records_are_in_absolute_form() {
    let mut h = Harness::new();
    h.run(&lines(
        "SET a v EX 10
         EXPIRE a 100
         SADD s x
         SPOP s
         RPUSH l a
         BLPOP l 0
         INCRBYFLOAT f 1.5",
    ));
    let records: Vec<Vec<Vec<u8>>> = Reader::new(&h.file)
        .map(|r| r.unwrap().args.iter().map(|a| a.to_vec()).collect())
        .collect();
    let text: Vec<String> = records
        .iter()
        .map(|r| {
            r.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        text,
        [
            "SELECT 0".to_string(),
            format!("SET a v PXAT {}", T0 + 10_000),
            format!("PEXPIREAT a {}", T0 + 100_000),
            "SADD s x".into(),
            "SREM s x".into(),
            "RPUSH l a".into(),
            "LPOP l".into(),
            "SET f 1.5 KEEPTTL".into(),
        ]
    );
}

#[test]
fn every_write_command_has_a_decision() {
    let mut missing: Vec<&str> = Table::get()
        .iter()
        .filter(|c| c.is_write() && c.propagates.is_none())
        .map(|c| c.name)
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "write rows that do not say what they propagate (`.propagates(...)`): {missing:?}"
    );
}

#[test]
fn blocked_clients_served_later_log_the_pop() {
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let reply = Frame::Array(vec![Frame::Bulk(b("k2")), Frame::Bulk(b("v"))]);
    assert_eq!(
        blocked_served(&args_of("BLPOP k1 k2 0"), &reply),
        Propagation::Rewritten(vec![vec![b("LPOP"), b("k2")]])
    );
    let reply = Frame::Array(vec![
        Frame::Bulk(b("z")),
        Frame::Array(vec![
            Frame::Array(vec![Frame::Bulk(b("m")), Frame::Double(1.0)]),
            Frame::Array(vec![Frame::Bulk(b("n")), Frame::Double(2.0)]),
        ]),
    ]);
    assert_eq!(
        blocked_served(&args_of("BZMPOP 0 2 y z MAX COUNT 5"), &reply),
        Propagation::Rewritten(vec![vec![b("ZPOPMAX"), b("z"), b("2")]])
    );
    assert_eq!(
        blocked_served(&args_of("BRPOPLPUSH a b 0"), &Frame::Bulk(b("x"))),
        Propagation::Rewritten(vec![vec![b("RPOPLPUSH"), b("a"), b("b")]])
    );
    assert_eq!(
        blocked_served(&args_of("BLMOVE a b LEFT RIGHT 0"), &Frame::Bulk(b("x"))),
        Propagation::Rewritten(vec![vec![
            b("LMOVE"),
            b("a"),
            b("b"),
            b("LEFT"),
            b("RIGHT")
        ]])
    );
    for args in ["BLPOP a 1", "BLMOVE a b LEFT RIGHT 1", "BZMPOP 1 1 a MIN"] {
        assert_eq!(
            blocked_served(&args_of(args), &Frame::NullArray),
            Propagation::Nothing
        );
    }
}

#[test]
fn sort_store_and_copy_restate_the_destination() {
    let reply = Frame::Integer(3);
    assert_eq!(
        propagate("sort", 2, &args_of("SORT src BY w_* STORE dst"), &reply, T0),
        Propagation::Restate(vec![(2, Bytes::from_static(b"dst"))])
    );
    assert_eq!(
        propagate("sort", 2, &args_of("SORT src"), &Frame::Array(vec![]), T0),
        Propagation::Nothing
    );
    assert_eq!(
        propagate(
            "copy",
            0,
            &args_of("COPY a b DB 3 REPLACE"),
            &Frame::Integer(1),
            T0
        ),
        Propagation::Restate(vec![(3, Bytes::from_static(b"b"))])
    );
    assert_eq!(
        propagate("copy", 0, &args_of("COPY a b"), &Frame::Integer(0), T0),
        Propagation::Nothing
    );
}

#[test]
fn restore_ttls_become_absolute() {
    let ok = Frame::ok();
    assert_eq!(
        propagate(
            "restore",
            0,
            &args_of("RESTORE k 5000 payload REPLACE"),
            &ok,
            T0
        ),
        Propagation::Rewritten(vec![args_of(&format!(
            "RESTORE k {} payload REPLACE ABSTTL",
            T0 + 5000
        ))])
    );
    assert_eq!(
        propagate("restore", 0, &args_of("RESTORE k 0 payload"), &ok, T0),
        Propagation::AsIs
    );
    assert_eq!(
        propagate(
            "restore",
            0,
            &args_of("RESTORE k 5 payload ABSTTL REPLACE"),
            &ok,
            T0
        ),
        Propagation::Rewritten(vec![args_of("DEL k")])
    );
    assert_eq!(
        propagate(
            "restore",
            0,
            &args_of("RESTORE k 5 payload ABSTTL"),
            &ok,
            T0
        ),
        Propagation::Nothing
    );
}

#[test]
fn restating_keys_overwrites_whatever_was_there() {
    let mut h = Harness::new();
    for script in all_scripts() {
        h.run(&script);
    }
    // B holds different values (and types) under the same keys; restating every key of A
    // (and deleting one A lacks) must leave B equal to A.
    let mut b = Keyspace::new(DBS);
    let mut junk = Harness::new();
    for (i, db) in h.a.dbs.iter().enumerate() {
        junk.exec(&format!("SELECT {i}"));
        for (k, _) in db.iter() {
            let k = String::from_utf8_lossy(k).into_owned();
            junk.exec(&format!("HSET {k} junk 1"));
            junk.exec(&format!("EXPIRE {k} 100000"));
        }
    }
    junk.exec("SELECT 0");
    junk.exec("SET only-in-b x");
    std::mem::swap(&mut b, &mut junk.a);
    let mut log = AofLog::new();
    for (i, db) in h.a.dbs.iter().enumerate() {
        for (k, e) in db.iter() {
            for r in restate(k, Some(e)) {
                log.command(i, &r);
            }
        }
    }
    for r in restate(b"only-in-b", None) {
        log.command(0, &r);
    }
    let file = log.take();
    let stats = replay(&mut b, &file, "restate.aof", &Committed::default()).unwrap();
    assert_eq!(stats.errors, 0);
    assert_same(&h.a, &b, h.now);
}

/// Every family's script run, and the keyspace as a rewrite without preamble writes it.
fn rewritten_base() -> (Harness, Vec<u8>) {
    let mut h = Harness::new();
    for script in all_scripts() {
        h.run(&script);
    }
    h.expire_due();
    let mut log = AofLog::new();
    rewrite_keyspace(&h.a, h.now, &mut log);
    (h, log.take())
}

#[test]
fn a_rewritten_log_rebuilds_the_data() {
    let (h, file) = rewritten_base();
    let mut b = Keyspace::new(DBS);
    replay(&mut b, &file, "base.aof", &Committed::default()).unwrap();
    assert_same(&h.a, &b, h.now);
}

/// Two shards' logs: one multi-shard write complete on both, one whose second part never
/// made it, one whose second part was cut by a crash.
fn two_shard_logs() -> (Vec<u8>, Vec<u8>) {
    let (mut l1, mut l2) = (AofLog::new(), AofLog::new());
    l1.command(0, &["SET", "before", "1"]);
    l1.tx_begin(5, 2);
    l1.command(0, &["SET", "a", "1"]);
    l1.tx_end(5);
    l2.tx_begin(5, 2);
    l2.command(1, &["SET", "b", "2"]);
    l2.tx_end(5);
    // id 6: shard 1's part only; it switches to database 2 inside the part.
    l1.tx_begin(6, 2);
    l1.command(2, &["SET", "lost1", "x"]);
    l1.tx_end(6);
    l1.command(2, &["SET", "after", "y"]);
    // id 7: shard 1's part complete, shard 2's cut short.
    l1.tx_begin(7, 2);
    l1.command(0, &["SET", "lost2", "x"]);
    l1.tx_end(7);
    l2.tx_begin(7, 2);
    l2.command(1, &["SET", "lost3", "x"]);
    (l1.take(), l2.take())
}

#[test]
fn multi_shard_writes_apply_all_or_nothing() {
    let (f1, f2) = two_shard_logs();
    let committed = scan_transactions(&[&f1, &f2]);
    assert!(committed.contains(5));
    assert!(!committed.contains(6));
    assert!(!committed.contains(7));
    let mut s1 = Keyspace::new(DBS);
    let stats = replay(&mut s1, &f1, "s1.aof", &committed).unwrap();
    assert_eq!((stats.parts_applied, stats.parts_skipped), (1, 2));
    let live = |ks: &Keyspace, db: usize, k: &str| ks.dbs[db].peek(k.as_bytes()).is_some();
    assert!(live(&s1, 0, "before") && live(&s1, 0, "a"));
    assert!(!live(&s1, 2, "lost1") && !live(&s1, 0, "lost2"));
    // The database selected inside a skipped part still applies to what follows it.
    assert!(live(&s1, 2, "after"));
    let mut s2 = Keyspace::new(DBS);
    match replay(&mut s2, &f2, "s2.aof", &committed) {
        Err(AofError::Truncated { offset, stats, .. }) => {
            assert_eq!(stats.parts_applied, 1);
            // The cut is at the unfinished part's BEGIN: everything before is whole.
            let whole = &f2[..offset as usize];
            let mut again = Keyspace::new(DBS);
            replay(&mut again, whole, "s2.aof", &committed).unwrap();
        }
        other => panic!("{other:?}"),
    }
    assert!(live(&s2, 1, "b"));
    assert!(!live(&s2, 1, "lost3"));
}

#[test]
fn redis_style_multi_exec_applies_at_exec_and_is_cut_when_unfinished() {
    let mut log = AofLog::new();
    log.command(0, &["MULTI"]);
    log.command(0, &["SET", "a", "1"]);
    log.command(0, &["EXEC"]);
    log.command(0, &["MULTI"]);
    log.command(0, &["SET", "b", "1"]);
    let file = log.take();
    let mut ks = Keyspace::new(DBS);
    match replay(&mut ks, &file, "m.aof", &Committed::default()) {
        Err(AofError::Truncated { offset, .. }) => {
            assert_eq!(&file[offset as usize..offset as usize + 4], b"*1\r\n");
        }
        other => panic!("{other:?}"),
    }
    assert!(ks.dbs[0].peek(b"a").is_some());
    assert!(ks.dbs[0].peek(b"b").is_none());
}

#[test]
fn truncation_at_every_offset_is_never_corruption() {
    let mut h = Harness::new();
    h.run(&lines(
        "SET a 1
         SELECT 1
         RPUSH l x y z
         SET e v EX 100
         SADD s p q
         SPOP s",
    ));
    let (f1, _) = two_shard_logs();
    let mut file = h.file.clone();
    h.expire_due();
    file.extend_from_slice(&f1);
    let committed = scan_transactions(&[&file]);
    for cut in 0..=file.len() {
        let mut ks = Keyspace::new(DBS);
        match replay(&mut ks, &file[..cut], "cut.aof", &committed) {
            Ok(stats) => assert_eq!(stats.valid_len, cut as u64),
            Err(AofError::Truncated { offset, .. }) => {
                assert!(offset as usize <= cut);
                // Loading what is left after truncating gives the same data.
                let mut again = Keyspace::new(DBS);
                replay(&mut again, &file[..offset as usize], "cut.aof", &committed)
                    .expect("the truncated file loads");
                assert_same(&ks, &again, 0);
            }
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
}

#[test]
fn what_cannot_be_loaded_is_corruption_naming_file_and_offset() {
    let corrupt = |input: &[u8]| {
        let mut ks = Keyspace::new(DBS);
        match replay(
            &mut ks,
            input,
            "appendonly.aof.1.incr.0.aof",
            &Committed::default(),
        ) {
            Err(AofError::Corrupt {
                file,
                offset,
                message,
            }) => {
                assert_eq!(file, "appendonly.aof.1.incr.0.aof");
                (offset, message)
            }
            other => panic!("{other:?}"),
        }
    };
    let set = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n";
    let mut input = set.to_vec();
    input.extend_from_slice(b"*1\r\n$3\r\nFOO\r\n");
    let (offset, message) = corrupt(&input);
    assert_eq!(offset, set.len() as u64);
    assert_eq!(
        message,
        "Unknown command 'FOO' reading the append only file appendonly.aof.1.incr.0.aof \
         at offset 27"
    );
    let mut input = set.to_vec();
    input.extend_from_slice(b"garbage then more\r\n");
    input.extend_from_slice(set);
    let (offset, message) = corrupt(&input);
    assert_eq!(offset, 27);
    assert!(
        message.starts_with(
            "Bad file format reading the append only file appendonly.aof.1.incr.0.aof"
        ),
        "{message}"
    );
    let (_, message) = corrupt(b"*2\r\n$3\r\nSET\r\n$1\r\na\r\n");
    assert!(
        message.starts_with("Wrong number of arguments for 'set'"),
        "{message}"
    );
    let (_, message) = corrupt(b"*2\r\n$6\r\nSELECT\r\n$2\r\n99\r\n");
    assert!(message.starts_with("Invalid DB index '99'"), "{message}");
    let (_, message) = corrupt(b"*3\r\n$10\r\nTESSERA.TX\r\n$3\r\nEND\r\n$1\r\n1\r\n");
    assert!(message.contains("END closes no open part"), "{message}");
    let (_, message) = corrupt(b"*2\r\n$4\r\nINFO\r\n$3\r\nall\r\n");
    assert!(
        message.starts_with("Command 'info' cannot be replayed"),
        "{message}"
    );
}

#[test]
fn failing_commands_are_counted_and_skipped() {
    let mut log = AofLog::new();
    log.command(0, &["SET", "a", "1"]);
    log.command(0, &["LPUSH", "a", "x"]);
    log.command(0, &["INCR", "a"]);
    let file = log.take();
    let mut ks = Keyspace::new(DBS);
    let stats = replay(&mut ks, &file, "f.aof", &Committed::default()).unwrap();
    assert_eq!((stats.commands, stats.errors), (4, 1));
}

#[test]
fn nothing_expires_while_loading() {
    let mut log = AofLog::new();
    log.command(0, &["SET", "a", "1", "PXAT", "1000"]);
    log.command(0, &["APPEND", "a", "2"]);
    log.command(0, &["PEXPIREAT", "a", "2000"]);
    let file = log.take();
    let mut ks = Keyspace::new(DBS);
    replay(&mut ks, &file, "f.aof", &Committed::default()).unwrap();
    let e = ks.dbs[0].peek(b"a").expect("kept");
    assert_eq!(e.expire_at, 2000);
    assert_eq!(canon(&e.value), Canon::Str(b"12".to_vec()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_the_loader(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut ks = Keyspace::new(DBS);
        let committed = scan_transactions(&[&input]);
        let _ = replay(&mut ks, &input, "fuzz.aof", &committed);
    }

    #[test]
    fn damaged_logs_never_panic_the_loader(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
    ) {
        let mut h = Harness::new();
        h.run(&lines("SET a 1\nRPUSH l x y\nZADD z 1 m\nHSET h f v"));
        let mut input = h.file.clone();
        let mut log = AofLog::new();
        log.tx_begin(1, 1);
        log.command(1, &["SET", "b", "2"]);
        log.tx_end(1);
        input.extend_from_slice(&log.take());
        for (at, byte) in flips {
            let i = at.index(input.len());
            input[i] = byte;
        }
        let mut ks = Keyspace::new(DBS);
        let committed = scan_transactions(&[&input]);
        let _ = replay(&mut ks, &input, "fuzz.aof", &committed);
    }
}

/// Splits `ks` into `shards` keyspaces, each with the keys that shard owns.
fn partition(ks: &Keyspace, shards: usize, now: u64) -> Vec<Dump> {
    let mut out = vec![Dump::new(); shards];
    for ((db, key), v) in dump(ks, now) {
        let owner = crate::slot::key_owner(&key, shards);
        out[owner].insert((db, key), v);
    }
    out
}

#[test]
fn every_shard_replays_its_share_of_a_shared_log() {
    // A base as a rewrite writes it (one key per command), then commands whose keys span
    // shards: split ones, and ones every shard runs (FLUSHDB, SWAPDB).
    let (mut h, base) = rewritten_base();
    h.file.clear();
    h.run(&lines(
        "MSET s1 1 s2 2 s3 3 s4 4 s5 5 s6 6
         DEL s1 s4 nosuch
         UNLINK s2
         SELECT 2
         MSET t1 1 t2 2 t3 3
         SWAPDB 2 3
         SELECT 1
         FLUSHDB
         SELECT 0
         MSET after1 x after2 y after3 z",
    ));
    h.expire_due();
    h.file.extend_from_slice(&h.log.take());
    for shards in [1, 2, 3] {
        let want = partition(&h.a, shards, h.now);
        for (shard, want) in want.iter().enumerate() {
            let mut ks = Keyspace::new(DBS);
            let none = Committed::default();
            replay_share(&mut ks, &base, "base.aof", &none, shard, shards).expect("base");
            let stats =
                replay_share(&mut ks, &h.file, "incr.aof", &none, shard, shards).expect("incr");
            assert_eq!(stats.errors, 0);
            assert_eq!(&dump(&ks, h.now), want, "shard {shard} of {shards}");
        }
    }
}

#[test]
fn a_command_that_cannot_be_split_across_shards_is_refused() {
    // "a" and "b" belong to different shards of two.
    assert_ne!(
        crate::slot::key_owner(b"a", 2),
        crate::slot::key_owner(b"b", 2)
    );
    let mut log = AofLog::new();
    log.command(0, &["SET", "a", "1"]);
    log.command(0, &["RENAME", "a", "b"]);
    let file = log.take();
    let mut ks = Keyspace::new(DBS);
    let err = replay_share(&mut ks, &file, "x.aof", &Committed::default(), 0, 2).unwrap_err();
    assert!(
        err.to_string().contains(
            "touches keys that 2 shards hold apart: Tessera can load this file with --threads 1"
        ),
        "{err}"
    );
    // With one shard it loads.
    let mut ks = Keyspace::new(DBS);
    replay_share(&mut ks, &file, "x.aof", &Committed::default(), 0, 1).unwrap();
    assert!(ks.dbs[0].peek(b"b").is_some());
}
