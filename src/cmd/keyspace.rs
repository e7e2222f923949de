//! Generic key commands: existence, deletion, expiry, renaming, iteration.
//!
//! Commands over one key or a few keys are keyed handlers like any other. Commands over the whole
//! keyspace (KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB...) are session handlers that visit every
//! shard; SCAN's cursor names the shard it is in, so one cursor walks them all.

use bytes::Bytes;
use rand::Rng;

use super::args::{parse_c_int, parse_int, ArgCursor};
use super::flags::*;
use super::propagate::{self, Rule};
use super::{
    boxed, keys, one_key, Args, CmdError, CmdResult, Command, Ctx, Merge, Run, SessionFuture,
};
use crate::cmd::session::Session;
use crate::db::notify::{self, class as ev};
use crate::db::{lru_clock, now_ms, Entry};
use crate::resp::Frame;
use crate::shard::tx::{Plan, Tx};
use crate::shard::Node;
use crate::slot::key_owner;
use crate::types::blob::Blob;
use crate::types::glob::glob_match;

pub static COMMANDS: &[Command] = &[
    Command::new("del", -2, Run::Spread(del, Merge::Sum))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE])
        .acl(&["@keyspace", "@write", "@slow"])
        .keys(keys(1, -1, 1)),
    Command::new("unlink", -2, Run::Spread(del, Merge::Sum))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast"])
        .keys(keys(1, -1, 1)),
    Command::new("exists", -2, Run::Spread(exists, Merge::Sum))
        .flags(&[READONLY, FAST])
        .acl(&["@keyspace", "@read", "@fast"])
        .keys(keys(1, -1, 1)),
    Command::new("touch", -2, Run::Spread(touch, Merge::Sum))
        .flags(&[READONLY, FAST])
        .acl(&["@keyspace", "@read", "@fast"])
        .keys(keys(1, -1, 1)),
    Command::new("type", 2, Run::Keyed(type_))
        .flags(&[READONLY, FAST])
        .acl(&["@keyspace", "@read", "@fast"])
        .keys(one_key()),
    Command::new("expire", -3, Run::Keyed(expire))
        .propagates(Rule::Own(propagate::expire))
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast"])
        .keys(one_key()),
    Command::new("pexpire", -3, Run::Keyed(pexpire))
        .propagates(Rule::Own(propagate::expire))
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast"])
        .keys(one_key()),
    Command::new("expireat", -3, Run::Keyed(expireat))
        .propagates(Rule::Own(propagate::expire))
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast"])
        .keys(one_key()),
    Command::new("pexpireat", -3, Run::Keyed(pexpireat))
        .propagates(Rule::Own(propagate::expire))
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast"])
        .keys(one_key()),
    Command::new("ttl", 2, Run::Keyed(ttl))
        .flags(&[READONLY, FAST])
        .acl(&["@keyspace", "@read", "@fast"])
        .keys(one_key()),
    Command::new("pttl", 2, Run::Keyed(pttl))
        .flags(&[READONLY, FAST])
        .acl(&["@keyspace", "@read", "@fast"])
        .keys(one_key()),
    Command::new("expiretime", 2, Run::Keyed(expiretime))
        .flags(&[READONLY, FAST])
        .acl(&["@keyspace", "@read", "@fast"])
        .keys(one_key()),
    Command::new("pexpiretime", 2, Run::Keyed(pexpiretime))
        .flags(&[READONLY, FAST])
        .acl(&["@keyspace", "@read", "@fast"])
        .keys(one_key()),
    Command::new("persist", 2, Run::Keyed(persist))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast"])
        .keys(one_key()),
    Command::new("rename", 3, Run::Keyed(rename))
        .propagates(Rule::AsIs)
        .flags(&[WRITE])
        .acl(&["@keyspace", "@write", "@slow"])
        .keys(keys(1, 2, 1)),
    Command::new("renamenx", 3, Run::Keyed(renamenx))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast"])
        .keys(keys(1, 2, 1)),
    Command::new("copy", -3, Run::Session(copy))
        .propagates(Rule::Own(propagate::copy))
        .flags(&[WRITE, DENYOOM])
        .acl(&["@keyspace", "@write", "@slow"])
        .keys(keys(1, 2, 1)),
    Command::new("move", 3, Run::Keyed(move_))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, FAST])
        .acl(&["@keyspace", "@write", "@fast"])
        .keys(one_key()),
    Command::new("keys", 2, Run::Session(keys_cmd))
        .flags(&[READONLY])
        .acl(&["@keyspace", "@read", "@slow", "@dangerous"]),
    Command::new("scan", -2, Run::Session(scan))
        .flags(&[READONLY])
        .acl(&["@keyspace", "@read", "@slow"]),
    Command::new("randomkey", 1, Run::Session(randomkey))
        .flags(&[READONLY])
        .acl(&["@keyspace", "@read", "@slow"]),
    Command::new("object", -2, Run::Keyed(object_help))
        .acl(&["@slow"])
        .subs(OBJECT_SUBCOMMANDS),
];

static OBJECT_SUBCOMMANDS: &[Command] = &[
    Command::new("object|encoding", 3, Run::Keyed(object_encoding))
        .flags(&[READONLY])
        .acl(&["@keyspace", "@read", "@slow"])
        .keys(keys(2, 2, 1)),
    Command::new("object|freq", 3, Run::Keyed(object_freq))
        .flags(&[READONLY])
        .acl(&["@keyspace", "@read", "@slow"])
        .keys(keys(2, 2, 1)),
    Command::new("object|idletime", 3, Run::Keyed(object_idletime))
        .flags(&[READONLY])
        .acl(&["@keyspace", "@read", "@slow"])
        .keys(keys(2, 2, 1)),
    Command::new("object|refcount", 3, Run::Keyed(object_refcount))
        .flags(&[READONLY])
        .acl(&["@keyspace", "@read", "@slow"])
        .keys(keys(2, 2, 1)),
    Command::new("object|help", 2, Run::Keyed(object_help))
        .flags(&[LOADING, STALE])
        .acl(&["@keyspace", "@slow"]),
];

fn del(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (now, index) = (ctx.now, ctx.db);
    let (db, stats) = ctx.db();
    let mut n = 0;
    for k in &args[1..] {
        // An expired key is announced as expired, not deleted.
        if db.contains(k, now, stats) {
            db.remove(k);
            notify::emit(ev::GENERIC, "del", index, k);
            n += 1;
        }
    }
    Ok(Frame::Integer(n))
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(Frame::Integer(
        args[1..]
            .iter()
            // Counted as Redis's lookupKeyReadWithFlags(LOOKUP_NOTOUCH) counts.
            .filter(|k| db.lookup_untouched(k, now, stats).is_some())
            .count() as i64,
    ))
}

fn touch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let mut n = 0;
    for k in &args[1..] {
        // A read lookup, as Redis's: counted, and it refreshes the access time.
        if db.lookup(k, now, stats).is_some() {
            n += 1;
        }
    }
    Ok(Frame::Integer(n))
}

fn type_(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(Frame::simple(
        db.lookup_untouched(&args[1], now, stats)
            .map_or("none", |e| e.value.type_name()),
    ))
}

/// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: `unit_ms` is 1000 or 1, `absolute` whether the
/// argument is a timestamp.
fn expire_generic(ctx: &mut Ctx, args: &[Bytes], unit_ms: i64, absolute: bool) -> CmdResult {
    let when = parse_int(&args[2])?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in &args[3..] {
        match a.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                return Err(CmdError::err(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(a)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let name = String::from_utf8_lossy(&args[0]).to_lowercase();
    let invalid = || CmdError::InvalidExpire(name.clone());
    let mut when = when;
    if unit_ms == 1000 {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let now = ctx.now;
    if !absolute {
        when = when.checked_add(now as i64).ok_or_else(invalid)?;
    }
    let (db, stats) = ctx.db();
    let Some(entry) = db.get(&args[1], now, stats) else {
        return Ok(Frame::Integer(0));
    };
    let current = entry.expire();
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| when <= c as i64))
        || (lt && current.is_some_and(|c| when >= c as i64));
    if refused {
        return Ok(Frame::Integer(0));
    }
    // A time already past deletes the key, announced as a deletion, as Redis does.
    if when <= now as i64 {
        db.remove(&args[1]);
        ctx.notify(ev::GENERIC, "del", &args[1]);
    } else {
        db.set_expire(&args[1], when as u64);
        ctx.notify(ev::GENERIC, "expire", &args[1]);
    }
    Ok(Frame::Integer(1))
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1000, false)
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1, false)
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1000, true)
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1, true)
}

/// The key's expiry as TTL-family commands report it: -2 absent, -1 persistent, else `f(at)`.
fn ttl_generic(ctx: &mut Ctx, key: &[u8], f: impl Fn(u64, u64) -> i64) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(Frame::Integer(match db.lookup_untouched(key, now, stats) {
        None => -2,
        Some(e) => match e.expire() {
            None => -1,
            Some(at) => f(at, now),
        },
    }))
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], |at, now| {
        ((at.saturating_sub(now) + 500) / 1000) as i64
    })
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], |at, now| at.saturating_sub(now) as i64)
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // Rounded to the nearest second like TTL, not truncated: Redis shares the arithmetic.
    ttl_generic(ctx, &args[1], |at, _| ((at + 500) / 1000) as i64)
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &args[1], |at, _| at as i64)
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let had_ttl = db
        .get(&args[1], now, stats)
        .is_some_and(|e| e.expire_at != 0);
    if had_ttl {
        db.set_expire(&args[1], 0);
        ctx.notify(ev::GENERIC, "persist", &args[1]);
    }
    Ok(Frame::Integer(had_ttl as i64))
}

/// RENAME and RENAMENX; the entry keeps its expiry.
fn rename_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Result<bool, CmdError> {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    if !db.contains(&args[1], now, stats) {
        return Err(CmdError::NoSuchKey);
    }
    if args[1] == args[2] {
        return Ok(!nx);
    }
    if nx && db.contains(&args[2], now, stats) {
        return Ok(false);
    }
    let entry = db.remove(&args[1]).expect("checked present above");
    // The old destination goes silently; the new one is a new key either way, as in Redis.
    db.remove(&args[2]);
    db.insert_entry(&args[2], entry);
    ctx.notify(ev::GENERIC, "rename_from", &args[1]);
    ctx.notify(ev::GENERIC, "rename_to", &args[2]);
    Ok(true)
}

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, false).map(|_| Frame::ok())
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, true).map(|done| Frame::Integer(done as i64))
}

/// A database index argument (SELECT, MOVE, COPY ... DB): a C `int`, then in range.
pub fn db_index(arg: &[u8], databases: usize) -> Result<usize, CmdError> {
    in_range(parse_c_int(arg)?, databases)
}

pub fn in_range(index: i32, databases: usize) -> Result<usize, CmdError> {
    usize::try_from(index)
        .ok()
        .filter(|&i| i < databases)
        .ok_or(CmdError::DbIndexOutOfRange)
}

fn move_(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let target = db_index(&args[2], ctx.ks.dbs.len())?;
    if target == ctx.db {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let now = ctx.now;
    let src = ctx.db;
    let stats = &mut ctx.ks.stats;
    if !ctx.ks.dbs[src].contains(&args[1], now, stats)
        || ctx.ks.dbs[target].contains(&args[1], now, stats)
    {
        return Ok(Frame::Integer(0));
    }
    let entry = ctx.ks.dbs[src]
        .remove(&args[1])
        .expect("checked present above");
    ctx.ks.dbs[target].insert_entry(&args[1], entry);
    // The source key is touched by the dispatcher; the target's is this command's own.
    ctx.ks.dbs[target].touch(&args[1]);
    notify::emit(ev::GENERIC, "move_from", src, &args[1]);
    notify::emit(ev::GENERIC, "move_to", target, &args[1]);
    Ok(Frame::Integer(1))
}

/// COPY may name another database, so it is not a plain keyed command: it locks the source in
/// this database and the destination in the target database, wherever they live.
fn copy(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let databases = s.node.global.databases;
        let mut target = s.db;
        let mut replace = false;
        let mut c = ArgCursor::new(&args, 3);
        while !c.done() {
            if c.eat("replace") {
                replace = true;
            } else if c.eat("db") {
                match c.next().and_then(|a| db_index(a, databases)) {
                    Ok(db) => target = db,
                    Err(e) => return e.into(),
                }
            } else {
                return CmdError::Syntax.into();
            }
        }
        let (src, dst) = (Blob::new(&args[1]), Blob::new(&args[2]));
        if target == s.db && src == dst {
            return CmdError::err("source and destination objects are the same").into();
        }
        let node = s.node.clone();
        let (src_shard, dst_shard) = (key_owner(&src, node.shards), key_owner(&dst, node.shards));
        let db = s.db;
        let copy = Copy {
            src: (src_shard, db, src),
            dst: (dst_shard, target, dst),
            replace,
        };
        if let Some(tx) = s.tx.clone() {
            return copy.run(&tx).await;
        }
        let mut plan = Plan::new();
        plan.key(src_shard, (db as u32, copy.src.2.clone()));
        plan.key(dst_shard, (target as u32, copy.dst.2.clone()));
        Node::detached(async move {
            let tx = Tx::begin(&node, plan).await;
            let reply = copy.run(&tx).await;
            tx.finish().await;
            reply
        })
        .await
    })
}

/// A COPY's two keys, each as (shard, database, key), with the transaction holding both.
struct Copy {
    src: (usize, usize, Blob),
    dst: (usize, usize, Blob),
    replace: bool,
}

impl Copy {
    async fn run(self, tx: &Tx) -> Frame {
        let now = now_ms();
        let ((src_shard, db, src), (dst_shard, target, dst)) = (self.src, self.dst);
        let entry: Option<Entry> = tx
            .hop(src_shard, move |data| {
                let (db, stats) = data.ks.db(db);
                // A read lookup, as Redis's COPY: counted, and it refreshes the access time.
                db.lookup(&src, now, stats).cloned()
            })
            .await;
        let Some(entry) = entry else {
            return Frame::Integer(0);
        };
        let replace = self.replace;
        tx.hop(dst_shard, move |data| {
            let (db, stats) = data.ks.db(target);
            if db.contains(&dst, now, stats) && !replace {
                return Frame::Integer(0);
            }
            let mut entry = entry;
            entry.access = lru_clock();
            // A replaced destination goes silently: the copy is a new key, as in Redis.
            db.remove(&dst);
            db.insert_entry(&dst, entry);
            db.touch(&dst);
            notify::emit(ev::GENERIC, "copy_to", target, &dst);
            // Logged as its result: the source may live in another shard's log.
            data.aof.record_keys(&mut data.ks, target, &[dst]);
            Frame::Integer(1)
        })
        .await
    }
}

fn keys_cmd(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let db = s.db;
        let pattern = args[1].clone();
        let per_shard = s
            .node
            .read_everywhere(s.tx.clone(), move |data| {
                let now = now_ms();
                let all = pattern.as_ref() == b"*";
                data.ks.dbs[db]
                    .iter()
                    .filter(|(k, e)| {
                        (e.expire_at == 0 || e.expire_at > now)
                            && (all || glob_match(&pattern, k, false))
                    })
                    .map(|(k, _)| Frame::Bulk(Bytes::copy_from_slice(k)))
                    .collect::<Vec<_>>()
            })
            .await;
        Frame::Array(per_shard.into_iter().flatten().collect())
    })
}

/// SCAN's cursor: the low bits name the shard (as many bits as the most shards a process can
/// have need), the rest is that shard's position cursor.
fn scan_cursor(shard: u64, inner: u64) -> u64 {
    (inner << crate::shard::SHARD_BITS) | shard
}

/// The shard and position a SCAN cursor names.
fn split_cursor(cursor: u64) -> (u64, u64) {
    let bits = crate::shard::SHARD_BITS;
    (cursor & ((1 << bits) - 1), cursor >> bits)
}

fn scan(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let Some(cursor) = std::str::from_utf8(&args[1])
            .ok()
            .and_then(|c| c.parse::<u64>().ok())
        else {
            return CmdError::err("invalid cursor").into();
        };
        let mut count = 10usize;
        let mut pattern: Option<Bytes> = None;
        let mut type_filter: Option<Bytes> = None;
        let mut c = ArgCursor::new(&args, 2);
        while !c.done() {
            if c.eat("count") {
                match c.next_i64() {
                    Ok(n) if n >= 1 => count = n as usize,
                    Ok(_) => return CmdError::Syntax.into(),
                    Err(e) => return e.into(),
                }
            } else if c.eat("match") {
                match c.next() {
                    Ok(p) => pattern = Some(p.clone()),
                    Err(e) => return e.into(),
                }
            } else if c.eat("type") {
                match c.next() {
                    Ok(t) => type_filter = Some(t.clone()),
                    Err(e) => return e.into(),
                }
            } else {
                return CmdError::Syntax.into();
            }
        }
        let shards = s.node.shards as u64;
        let (mut shard, mut inner) = split_cursor(cursor);
        if shard >= shards {
            return CmdError::err("invalid cursor").into();
        }
        let db = s.db;
        let mut keys = Vec::new();
        // Visit shards until `count` positions have been examined or the walk is complete.
        let mut budget = count;
        loop {
            let (pattern, type_filter) = (pattern.clone(), type_filter.clone());
            let (next, found, visited) = s
                .node
                .run_on(shard as usize, Vec::new(), move |data| {
                    let now = now_ms();
                    let mut found = Vec::new();
                    let mut visited = 0;
                    let next = data.ks.dbs[db].scan(inner, budget, |k, e| {
                        visited += 1;
                        let live = e.expire_at == 0 || e.expire_at > now;
                        let matches = pattern.as_ref().is_none_or(|p| glob_match(p, k, false));
                        let typed = type_filter
                            .as_ref()
                            .is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()));
                        if live && matches && typed {
                            found.push(Frame::Bulk(Bytes::copy_from_slice(k)));
                        }
                    });
                    (next, found, visited)
                })
                .await;
            keys.extend(found);
            budget = budget.saturating_sub(visited);
            if next != 0 {
                inner = next;
                break;
            }
            shard += 1;
            inner = 0;
            if shard == shards {
                shard = 0;
                break;
            }
            if budget == 0 {
                break;
            }
        }
        let next_cursor = if shard == 0 && inner == 0 {
            0
        } else {
            scan_cursor(shard, inner)
        };
        Frame::Array(vec![
            Frame::Bulk(Bytes::from(next_cursor.to_string())),
            Frame::Array(keys),
        ])
    })
}

fn randomkey(s: &mut Session, _args: Args) -> SessionFuture<'_> {
    boxed(async move {
        let db = s.db;
        let shards = s.node.shards;
        let start = rand::thread_rng().gen_range(0..shards);
        for i in 0..shards {
            let shard = (start + i) % shards;
            let key = s
                .node
                .run_on(shard, Vec::new(), move |data| {
                    let (db, stats) = data.ks.db(db);
                    db.random_key(now_ms(), stats)
                })
                .await;
            if let Some(k) = key {
                return Frame::Bulk(Bytes::copy_from_slice(&k));
            }
        }
        Frame::Null
    })
}

fn object_encoding(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(match db.lookup_untouched(&args[2], now, stats) {
        Some(e) => Frame::bulk_str(e.value.encoding()),
        None => Frame::Null,
    })
}

fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let lfu = stats.lfu;
    let Some(entry) = db.lookup_untouched(&args[2], now, stats) else {
        return Ok(Frame::Null);
    };
    match lfu {
        Some(lfu) => Ok(Frame::Integer(lfu.decayed(entry) as i64)),
        None => Err(CmdError::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")),
    }
}

fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let lfu = stats.lfu.is_some();
    let Some(entry) = db.lookup_untouched(&args[2], now, stats) else {
        return Ok(Frame::Null);
    };
    if lfu {
        return Err(CmdError::err("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    Ok(Frame::Integer(
        lru_clock().saturating_sub(entry.access) as i64
    ))
}

fn object_refcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(match db.lookup_untouched(&args[2], now, stats) {
        Some(e) => Frame::Integer(e.value.refcount() as i64),
        None => Frame::Null,
    })
}

fn object_help(_ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    Ok(super::help_reply(
        "object",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_cursors_name_every_shard_a_process_can_have() {
        for shard in [0, 1, 255, 256, 300, crate::shard::MAX_SHARDS as u64 - 1] {
            for inner in [0, 1, 12345, 1 << 40] {
                assert_eq!(split_cursor(scan_cursor(shard, inner)), (shard, inner));
            }
        }
    }
}
