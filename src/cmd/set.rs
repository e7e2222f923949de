//! Set commands, as Redis 7.0 runs them.
//!
//! The encoding a set ends up in is observable (OBJECT ENCODING), so results are built the way
//! Redis builds them: a new key starts as the encoding its first member allows, and computed
//! results (SUNION, SDIFF, SPOP's rebuilt set...) start as an empty intset and take their
//! members one by one, converting as Redis's would. Multi-key commands see all their keys in
//! one keyspace (the transaction layer gathers them), so they are written against one `Db`.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

use super::args::{is_cstr, parse_int, parse_scan_cursor, scan_reply, ScanOptions};
use super::flags::*;
use super::propagate::{self, Rule};
use super::{keys, one_key, CmdError, CmdResult, Command, Ctx, Run, NO_KEYS};
use crate::db::notify::{self, class as ev};
use crate::db::{Db, KeyStats, Value};
use crate::resp::{BulkArray, Frame};
use crate::types::set::{Member, Set};

pub static COMMANDS: &[Command] = &[
    Command::new("sadd", -3, Run::Keyed(sadd))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@set", "@fast"])
        .keys(one_key()),
    Command::new("srem", -3, Run::Keyed(srem))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, FAST])
        .acl(&["@write", "@set", "@fast"])
        .keys(one_key()),
    Command::new("sismember", 3, Run::Keyed(sismember))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@set", "@fast"])
        .keys(one_key()),
    Command::new("smismember", -3, Run::Keyed(smismember))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@set", "@fast"])
        .keys(one_key()),
    Command::new("scard", 2, Run::Keyed(scard))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@set", "@fast"])
        .keys(one_key()),
    Command::new("smembers", 2, Run::Keyed(smembers))
        .flags(&[READONLY])
        .acl(&["@read", "@set", "@slow"])
        .keys(one_key()),
    Command::new("srandmember", -2, Run::Keyed(srandmember))
        .flags(&[READONLY])
        .acl(&["@read", "@set", "@slow"])
        .keys(one_key()),
    Command::new("spop", -2, Run::Keyed(spop))
        .propagates(Rule::Own(propagate::spop))
        .flags(&[WRITE, FAST])
        .acl(&["@write", "@set", "@fast"])
        .keys(one_key()),
    Command::new("smove", 4, Run::Keyed(smove))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, FAST])
        .acl(&["@write", "@set", "@fast"])
        .keys(keys(1, 2, 1)),
    Command::new("sinter", -2, Run::Keyed(sinter))
        .flags(&[READONLY])
        .acl(&["@read", "@set", "@slow"])
        .keys(keys(1, -1, 1)),
    Command::new("sintercard", -3, Run::Keyed(sintercard))
        .flags(&[READONLY, MOVABLEKEYS])
        .acl(&["@read", "@set", "@slow"])
        .keys(NO_KEYS),
    Command::new("sinterstore", -3, Run::Keyed(sinterstore))
        .counts_lookups(super::always)
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@set", "@slow"])
        .keys(keys(1, -1, 1)),
    Command::new("sunion", -2, Run::Keyed(sunion))
        .flags(&[READONLY])
        .acl(&["@read", "@set", "@slow"])
        .keys(keys(1, -1, 1)),
    Command::new("sunionstore", -3, Run::Keyed(sunionstore))
        .counts_lookups(super::always)
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@set", "@slow"])
        .keys(keys(1, -1, 1)),
    Command::new("sdiff", -2, Run::Keyed(sdiff))
        .flags(&[READONLY])
        .acl(&["@read", "@set", "@slow"])
        .keys(keys(1, -1, 1)),
    Command::new("sdiffstore", -3, Run::Keyed(sdiffstore))
        .counts_lookups(super::always)
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@set", "@slow"])
        .keys(keys(1, -1, 1)),
    Command::new("sscan", -3, Run::Keyed(sscan))
        .flags(&[READONLY])
        .acl(&["@read", "@set", "@slow"])
        .keys(one_key()),
];

/// The set stored at `key`: `None` if absent, WRONGTYPE if it holds another type.
pub fn lookup_set<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &mut KeyStats,
) -> Result<Option<&'a mut Set>, CmdError> {
    match db.lookup(key, now, stats) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Set(s) => Ok(Some(s)),
            #[allow(unreachable_patterns)]
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The sets at `keys`, `None` for a missing key. Every key is checked: one of another type is
/// WRONGTYPE even after a missing one, as in Redis 7.0.
fn lookup_sets<'a>(
    db: &'a mut Db,
    keys: &[Bytes],
    now: u64,
    stats: &mut KeyStats,
) -> Result<Vec<Option<&'a Set>>, CmdError> {
    for key in keys {
        lookup_set(db, key, now, stats)?;
    }
    let db: &'a Db = db;
    Ok(keys
        .iter()
        .map(|key| match db.peek(key).map(|e| &e.value) {
            Some(Value::Set(s)) => Some(s),
            _ => None,
        })
        .collect())
}

fn bulk(m: Member) -> Frame {
    Frame::Bulk(m.to_bytes())
}

fn members_reply(set: &Set) -> Frame {
    Frame::Set(set.iter().map(bulk).collect())
}

/// Replaces `dst` with `result`, or deletes it when the result is empty (Redis never stores
/// an empty set); replies the result's size. The destination loses any TTL, as with SET.
/// `event` names the store in keyspace notifications.
fn store(db: &mut Db, dst: &[u8], result: Set, event: &'static str) -> Frame {
    let len = result.len() as i64;
    if result.is_empty() {
        if db.remove(dst).is_some() {
            notify::emit(ev::GENERIC, "del", db.index(), dst);
        }
    } else {
        db.set(dst, Value::Set(result), 0);
        notify::emit(ev::SET, event, db.index(), dst);
    }
    Frame::Integer(len)
}

/// An emptied set's key goes, announced as a deletion.
fn remove_emptied(db: &mut Db, key: &[u8]) {
    db.remove(key);
    notify::emit(ev::GENERIC, "del", db.index(), key);
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (now, max) = (ctx.now, ctx.ks.limits.set_max_intset_entries);
    let (db, stats) = ctx.db();
    let members = &args[2..];
    let added = match lookup_set(db, &args[1], now, stats)? {
        Some(set) => members.iter().filter(|m| set.add(m, max)).count(),
        None => {
            let mut set = Set::new_for(&args[2]);
            let added = members.iter().filter(|m| set.add(m, max)).count();
            db.set(&args[1], Value::Set(set), 0);
            added
        }
    };
    if added > 0 {
        ctx.notify(ev::SET, "sadd", &args[1]);
    }
    Ok(Frame::Integer(added as i64))
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(set) = lookup_set(db, &args[1], now, stats)? else {
        return Ok(Frame::Integer(0));
    };
    let removed = args[2..].iter().filter(|m| set.remove(m)).count();
    let emptied = set.is_empty();
    if removed > 0 {
        notify::emit(ev::SET, "srem", db.index(), &args[1]);
    }
    if emptied {
        remove_emptied(db, &args[1]);
    }
    Ok(Frame::Integer(removed as i64))
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let found = lookup_set(db, &args[1], now, stats)?.is_some_and(|s| s.contains(&args[2]));
    Ok(Frame::Integer(found as i64))
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let set = lookup_set(db, &args[1], now, stats)?;
    let set = set.as_deref();
    Ok(Frame::Array(
        args[2..]
            .iter()
            .map(|m| Frame::Integer(set.is_some_and(|s| s.contains(m)) as i64))
            .collect(),
    ))
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let len = lookup_set(db, &args[1], now, stats)?.map_or(0, |s| s.len());
    Ok(Frame::Integer(len as i64))
}

/// SMEMBERS is SINTER of one key in Redis 7.0.
fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    sinter(ctx, args)
}

/// SRANDMEMBER's count: any integer whose negation is one too (not `i64::MIN`).
fn parse_rand_count(arg: &[u8]) -> Result<i64, CmdError> {
    let n = parse_int(arg)?;
    if n == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = args.get(2).map(|a| parse_rand_count(a)).transpose()?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let set = lookup_set(db, &args[1], now, stats)?;
    let mut rng = rand::thread_rng();
    let Some(count) = count else {
        return Ok(set
            .and_then(|s| s.random(&mut rng))
            .map_or(Frame::Null, bulk));
    };
    let Some(set) = set.filter(|_| count != 0) else {
        return Ok(Frame::Array(Vec::new()));
    };
    let size = set.len();
    if count < 0 {
        // Repetitions allowed: independent picks, as many as asked, written straight out.
        // The picks are made twice from one seed, first to size the reply, then to write
        // it. Redis streams such a reply into the output buffer; one this server cannot
        // hold is refused rather than abort it.
        let n = usize::try_from(count.unsigned_abs()).map_err(|_| CmdError::Overflow)?;
        // Sizing walks every pick: first make sure the smallest such reply could be held.
        let smallest = n.checked_mul(BulkArray::element_len(1));
        smallest
            .and_then(|smallest| BulkArray::new(n, smallest))
            .ok_or(CmdError::Overflow)?;
        let seed = rng.gen();
        let mut size = Some(0usize);
        random_picks(set, seed, n, |m| {
            let len = m.with_bytes(|b| BulkArray::element_len(b.len()));
            size = size.and_then(|size| size.checked_add(len));
        });
        let mut reply = size
            .and_then(|size| BulkArray::new(n, size))
            .ok_or(CmdError::Overflow)?;
        random_picks(set, seed, n, |m| m.with_bytes(|b| reply.push(b)));
        return Ok(reply.finish());
    }
    let picks: Vec<Frame> = if count as u64 >= size as u64 {
        set.iter().map(bulk).collect()
    } else {
        sample(&mut rng, size, count as usize)
            .into_iter()
            .filter_map(|i| set.at(i).map(bulk))
            .collect()
    };
    Ok(Frame::Array(picks))
}

fn spop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => spop_one(ctx, &args[1]),
        3 => {
            let count = parse_int(&args[2])
                .ok()
                .filter(|&n| n >= 0)
                .ok_or_else(|| CmdError::err("value is out of range, must be positive"))?;
            spop_count(ctx, &args[1], count as u64)
        }
        _ => Err(CmdError::Syntax),
    }
}

/// `n` independent random members of `set`, the same ones for the same `seed`.
fn random_picks(set: &Set, seed: u64, n: usize, mut each: impl FnMut(Member)) {
    let mut rng = SmallRng::seed_from_u64(seed);
    for _ in 0..n {
        if let Some(m) = set.random(&mut rng) {
            each(m);
        }
    }
}

/// SPOP without a count: one random member, nil for a missing key.
pub fn spop_one(ctx: &mut Ctx, key: &[u8]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(set) = lookup_set(db, key, now, stats)? else {
        return Ok(Frame::Null);
    };
    let popped = set.pop_random(&mut rand::thread_rng());
    let emptied = set.is_empty();
    notify::emit(ev::SET, "spop", db.index(), key);
    if emptied {
        remove_emptied(db, key);
    }
    Ok(popped.map_or(Frame::Null, Frame::Bulk))
}

/// SPOP with a count: up to `count` distinct random members as a set reply.
pub fn spop_count(ctx: &mut Ctx, key: &[u8], count: u64) -> CmdResult {
    let (now, max, index) = (ctx.now, ctx.ks.limits.set_max_intset_entries, ctx.db);
    let (db, stats) = ctx.db();
    let Some(set) = lookup_set(db, key, now, stats)? else {
        return Ok(Frame::Set(Vec::new()));
    };
    if count == 0 {
        return Ok(Frame::Set(Vec::new()));
    }
    let size = set.len() as u64;
    notify::emit(ev::SET, "spop", index, key);
    if count >= size {
        let all = members_reply(set);
        remove_emptied(db, key);
        return Ok(all);
    }
    let mut rng = rand::thread_rng();
    let remaining = size - count;
    // Redis's two strategies, which differ in the encoding left behind: popping few members
    // keeps the set as it is; popping most rebuilds it from the members that stay, so a
    // hash table of integers can come back as an intset.
    if remaining.saturating_mul(5) > count {
        let popped = (0..count)
            .filter_map(|_| set.pop_random(&mut rng).map(Frame::Bulk))
            .collect();
        return Ok(Frame::Set(popped));
    }
    let mut kept = Vec::with_capacity(remaining as usize);
    for _ in 0..remaining {
        if let Some(m) = set.pop_random(&mut rng) {
            kept.push(m);
        }
    }
    let popped = members_reply(set);
    *set = Set::from_members(&kept, max);
    Ok(popped)
}

/// Moves `member` from `src` to `dst`; 1 if it was moved (or, with `src == dst`, is there).
pub fn smove_member(ctx: &mut Ctx, src: &[u8], dst: &[u8], member: &[u8]) -> CmdResult {
    let (now, max) = (ctx.now, ctx.ks.limits.set_max_intset_entries);
    let (db, stats) = ctx.db();
    let is_set = |v: &Value| matches!(v, Value::Set(_));
    let src_is_set = db.lookup(src, now, stats).map(|e| is_set(&e.value));
    let dst_is_set = db.lookup(dst, now, stats).map(|e| is_set(&e.value));
    // A missing source answers 0 before any type check.
    let Some(src_is_set) = src_is_set else {
        return Ok(Frame::Integer(0));
    };
    if !src_is_set || dst_is_set == Some(false) {
        return Err(CmdError::WrongType);
    }
    let Some(source) = found_set(db, src, now, stats) else {
        return Ok(Frame::Integer(0));
    };
    if src == dst {
        return Ok(Frame::Integer(source.contains(member) as i64));
    }
    if !source.remove(member) {
        return Ok(Frame::Integer(0));
    }
    let emptied = source.is_empty();
    notify::emit(ev::SET, "srem", db.index(), src);
    if emptied {
        remove_emptied(db, src);
    }
    let added = match found_set(db, dst, now, stats) {
        Some(target) => target.add(member, max),
        None => {
            let mut target = Set::new_for(member);
            target.add(member, max);
            db.set(dst, Value::Set(target), 0);
            true
        }
    };
    if added {
        notify::emit(ev::SET, "sadd", db.index(), dst);
    }
    Ok(Frame::Integer(1))
}

/// A set already looked up (and type-checked) by this command.
fn found_set<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &mut KeyStats,
) -> Option<&'a mut Set> {
    match db.get(key, now, stats).map(|e| &mut e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

fn smove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    smove_member(ctx, &args[1], &args[2], &args[3])
}

/// Walks the intersection of `sets` (all present), calling `emit` per member until it says
/// stop. The smallest set drives, as in Redis, which also decides the order of the members.
fn intersect<'a>(mut sets: Vec<&'a Set>, mut emit: impl FnMut(Member<'a>) -> bool) {
    sets.sort_by_key(|s| s.len());
    let Some((&first, rest)) = sets.split_first() else {
        return;
    };
    for m in first.iter() {
        let everywhere = rest
            .iter()
            .all(|s| std::ptr::eq(*s, first) || s.contains_member(m));
        if everywhere && !emit(m) {
            return;
        }
    }
}

/// The sets for SINTER and friends: `None` when a key is missing (the result is empty).
fn inter_inputs<'a>(
    db: &'a mut Db,
    keys: &[Bytes],
    now: u64,
    stats: &mut KeyStats,
) -> Result<Option<Vec<&'a Set>>, CmdError> {
    Ok(lookup_sets(db, keys, now, stats)?.into_iter().collect())
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let mut out = Vec::new();
    if let Some(sets) = inter_inputs(db, &args[1..], now, stats)? {
        intersect(sets, |m| {
            out.push(bulk(m));
            true
        });
    }
    Ok(Frame::Set(out))
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (now, max) = (ctx.now, ctx.ks.limits.set_max_intset_entries);
    let (db, stats) = ctx.db();
    let mut result = Set::empty();
    if let Some(sets) = inter_inputs(db, &args[2..], now, stats)? {
        intersect(sets, |m| {
            result.add_member(m, max);
            true
        });
    }
    Ok(store(db, &args[1], result, "sinterstore"))
}

fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let numkeys = parse_int(&args[1])
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    if numkeys as u64 > (args.len() - 2) as u64 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut i = keys_end;
    while i < args.len() {
        if is_cstr(&args[i], "limit") && i + 1 < args.len() {
            limit = parse_int(&args[i + 1])
                .ok()
                .filter(|&n| n >= 0)
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?
                as u64;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let mut card = 0u64;
    if let Some(sets) = inter_inputs(db, &args[2..keys_end], now, stats)? {
        intersect(sets, |_| {
            card += 1;
            limit == 0 || card < limit
        });
    }
    Ok(Frame::Integer(card as i64))
}

/// SUNION and SDIFF's result, built as Redis builds it: missing keys are empty sets.
fn union(sets: &[Option<&Set>], max: usize) -> Set {
    let mut result = Set::empty();
    for set in sets.iter().flatten() {
        for m in set.iter() {
            result.add_member(m, max);
        }
    }
    result
}

fn diff(sets: &[Option<&Set>], max: usize) -> Set {
    let mut result = Set::empty();
    let Some((Some(first), rest)) = sets.split_first() else {
        return result;
    };
    // Redis picks between two algorithms by estimated work. They give the same members, but
    // the second adds the whole first set before removing, so its result may have left the
    // intset on the way, and stays a hash table.
    let present = sets.iter().flatten();
    let one_work = present.clone().count() * first.len() / 2;
    let two_work: usize = present.map(|s| s.len()).sum();
    if one_work <= two_work {
        for m in first.iter() {
            let elsewhere = rest
                .iter()
                .flatten()
                .any(|s| std::ptr::eq(*s, *first) || s.contains_member(m));
            if !elsewhere {
                result.add_member(m, max);
            }
        }
    } else {
        for m in first.iter() {
            result.add_member(m, max);
        }
        for set in rest.iter().flatten() {
            if result.is_empty() {
                break;
            }
            for m in set.iter() {
                result.remove_member(m);
            }
        }
    }
    result
}

fn set_op<'c>(
    ctx: &'c mut Ctx,
    keys: &[Bytes],
    op: fn(&[Option<&Set>], usize) -> Set,
) -> Result<(Set, &'c mut Db), CmdError> {
    let (now, max) = (ctx.now, ctx.ks.limits.set_max_intset_entries);
    let (db, stats) = ctx.db();
    let result = op(&lookup_sets(db, keys, now, stats)?, max);
    Ok((result, db))
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (result, _) = set_op(ctx, &args[1..], union)?;
    Ok(members_reply(&result))
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (result, db) = set_op(ctx, &args[2..], union)?;
    Ok(store(db, &args[1], result, "sunionstore"))
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (result, _) = set_op(ctx, &args[1..], diff)?;
    Ok(members_reply(&result))
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (result, db) = set_op(ctx, &args[2..], diff)?;
    Ok(store(db, &args[1], result, "sdiffstore"))
}

fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = parse_scan_cursor(&args[2])?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(set) = lookup_set(db, &args[1], now, stats)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    // Options are read only once the key is known to be a set, as in Redis.
    let opts = ScanOptions::parse(args)?;
    let mut found = Vec::new();
    let next = set.scan(cursor, opts.count, |m| {
        m.with_bytes(|b| {
            if opts.matches(b) {
                found.push(Frame::Bulk(Bytes::copy_from_slice(b)));
            }
        })
    });
    Ok(scan_reply(next, found))
}
