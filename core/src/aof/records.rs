//! Records that rebuild a key's value: how a key is restated in the AOF (a multi-shard
//! command's written keys, SORT ... STORE, COPY) and how a rewrite without an RDB preamble
//! writes every key.

use bytes::Bytes;

use super::log::AofLog;
use crate::db::{Entry, Keyspace, Value};
use crate::resp::frame::format_double;

/// Elements per command when restating a collection, Redis's `AOF_REWRITE_ITEMS_PER_CMD`.
const ITEMS_PER_CMD: usize = 64;

/// Records that make `key` hold exactly `entry` (or not exist), whatever it held before: for
/// keys a multi-shard command wrote back, SORT ... STORE and COPY destinations.
pub fn restate(key: &[u8], entry: Option<&Entry>) -> Vec<Vec<Bytes>> {
    let key = Bytes::copy_from_slice(key);
    match entry {
        None => vec![vec![Bytes::from_static(b"DEL"), key]],
        // SET replaces a value of any type and its expiry.
        Some(
            e @ Entry {
                value: Value::Str(_),
                ..
            },
        ) => value_records(&key, e),
        Some(e) => {
            let mut out = vec![vec![Bytes::from_static(b"DEL"), key.clone()]];
            out.extend(value_records(&key, e));
            out
        }
    }
}

/// Records that create `key` holding `entry` where it does not exist: what an AOF rewrite
/// without an RDB preamble writes, as Redis's `rewriteAppendOnlyFileRio` does.
pub fn value_records(key: &Bytes, entry: &Entry) -> Vec<Vec<Bytes>> {
    let b = Bytes::from_static;
    let mut out = Vec::new();
    let batched = |out: &mut Vec<Vec<Bytes>>,
                   cmd: &'static str,
                   items: &mut dyn Iterator<Item = Vec<Bytes>>| {
        let mut rec: Vec<Bytes> = Vec::new();
        let mut n = 0;
        for item in items {
            if n == 0 {
                rec = vec![b(cmd.as_bytes()), key.clone()];
            }
            rec.extend(item);
            n += 1;
            if n == ITEMS_PER_CMD {
                out.push(std::mem::take(&mut rec));
                n = 0;
            }
        }
        if n > 0 {
            out.push(rec);
        }
    };
    match &entry.value {
        Value::Str(s) => {
            let mut rec = vec![b(b"SET"), key.clone(), s.to_bytes()];
            if let Some(at) = entry.expire() {
                rec.push(b(b"PXAT"));
                rec.push(Bytes::from(at.to_string()));
            }
            out.push(rec);
            return out;
        }
        Value::List(l) => batched(&mut out, "RPUSH", &mut l.iter().map(|e| vec![e.to_bytes()])),
        Value::Set(s) => batched(&mut out, "SADD", &mut s.iter().map(|m| vec![m.to_bytes()])),
        Value::ZSet(z) => batched(
            &mut out,
            "ZADD",
            &mut z.iter().map(|(m, score)| {
                vec![Bytes::from(format_double(score)), Bytes::copy_from_slice(m)]
            }),
        ),
        Value::Hash(h) => batched(
            &mut out,
            "HSET",
            &mut h.iter().map(|(f, v)| vec![f.to_bytes(), v.to_bytes()]),
        ),
    }
    if let Some(at) = entry.expire() {
        out.push(vec![
            b(b"PEXPIREAT"),
            key.clone(),
            Bytes::from(at.to_string()),
        ]);
    }
    out
}

/// Writes every key of `ks` alive at `now` into `log`, one database after the other: the body
/// of a rewritten AOF when it has no RDB preamble.
pub fn rewrite_keyspace(ks: &Keyspace, now: u64, log: &mut AofLog) {
    for (i, db) in ks.dbs.iter().enumerate() {
        for (k, e) in db.iter() {
            if e.expire_at != 0 && e.expire_at <= now {
                continue;
            }
            let key = Bytes::copy_from_slice(k);
            for rec in value_records(&key, e) {
                log.command(i, &rec);
            }
        }
    }
}
