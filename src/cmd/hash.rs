//! Hash commands: HSET and friends, counters, whole-hash reads, HRANDFIELD and HSCAN.
//!
//! The data structure and its encodings are in `types::hash`; here are only the argument rules
//! and replies. A hash key exists only while it has fields: writers create it, and HDEL deletes
//! it with its last field. Numbers are checked before the key is written, so a failed command
//! never leaves an empty hash behind.

use bytes::Bytes;

use super::args::{is_cstr, parse_int, parse_scan_cursor, scan_reply, ScanOptions};
use super::flags::*;
use super::propagate::{self, Rule};
use super::{one_key, CmdError, CmdResult, Command, Ctx, Run};
use crate::db::notify::class as ev;
use crate::db::{Db, Entry, KeyStats, Value};
use crate::resp::Frame;
use crate::types::hash::{Hash, Item, Limits};
use crate::types::longdouble;
use crate::types::numfmt::parse_i64_strict;

pub static COMMANDS: &[Command] = &[
    Command::new("hset", -4, Run::Keyed(hset))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hmset", -4, Run::Keyed(hmset))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hsetnx", 4, Run::Keyed(hsetnx))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hget", 3, Run::Keyed(hget))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hmget", -3, Run::Keyed(hmget))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hdel", -3, Run::Keyed(hdel))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, FAST])
        .acl(&["@write", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hexists", 3, Run::Keyed(hexists))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hlen", 2, Run::Keyed(hlen))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hstrlen", 3, Run::Keyed(hstrlen))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hkeys", 2, Run::Keyed(hkeys))
        .flags(&[READONLY])
        .acl(&["@read", "@hash", "@slow"])
        .keys(one_key()),
    Command::new("hvals", 2, Run::Keyed(hvals))
        .flags(&[READONLY])
        .acl(&["@read", "@hash", "@slow"])
        .keys(one_key()),
    Command::new("hgetall", 2, Run::Keyed(hgetall))
        .flags(&[READONLY])
        .acl(&["@read", "@hash", "@slow"])
        .keys(one_key()),
    Command::new("hincrby", 4, Run::Keyed(hincrby))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hincrbyfloat", 4, Run::Keyed(hincrbyfloat))
        .propagates(Rule::Own(propagate::hincrbyfloat))
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@hash", "@fast"])
        .keys(one_key()),
    Command::new("hrandfield", -2, Run::Keyed(hrandfield))
        .flags(&[READONLY])
        .acl(&["@read", "@hash", "@slow"])
        .keys(one_key()),
    Command::new("hscan", -3, Run::Keyed(hscan))
        .flags(&[READONLY])
        .acl(&["@read", "@hash", "@slow"])
        .keys(one_key()),
];

/// The shard's `hash-max-listpack-*` settings.
fn limits(ctx: &Ctx) -> Limits {
    Limits {
        max_entries: ctx.ks.limits.hash_max_listpack_entries,
        max_value: ctx.ks.limits.hash_max_listpack_value,
    }
}

/// The hash stored at `key`: `None` if absent, WRONGTYPE if it holds another type.
pub fn lookup_hash<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &mut KeyStats,
) -> Result<Option<&'a mut Hash>, CmdError> {
    match db.lookup(key, now, stats) {
        None => Ok(None),
        Some(Entry {
            value: Value::Hash(h),
            ..
        }) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The hash at `key` for writing, created empty if absent (the caller then adds to it).
fn hash_for_write<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Hash, CmdError> {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    if lookup_hash(db, key, now, stats)?.is_none() {
        db.set(key, Value::Hash(Hash::new()), 0);
    }
    match db.get(key, now, stats) {
        Some(Entry {
            value: Value::Hash(h),
            ..
        }) => Ok(h),
        _ => unreachable!("checked or created just above"),
    }
}

/// The field's value as its text, or `None` if the key or the field is missing.
fn field_value(ctx: &mut Ctx, key: &[u8], field: &[u8]) -> Result<Option<Bytes>, CmdError> {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(lookup_hash(db, key, now, stats)?
        .and_then(|h| h.get(field))
        .map(|v| v.to_bytes()))
}

/// HSET and HMSET: the arguments after the key must come in pairs, which the arity cannot say.
fn set_pairs(ctx: &mut Ctx, args: &[Bytes], name: &str) -> Result<i64, CmdError> {
    if args.len() % 2 == 1 {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{name}' command"
        )));
    }
    let limits = limits(ctx);
    let h = hash_for_write(ctx, &args[1])?;
    let added = args[2..]
        .chunks(2)
        .filter(|pair| h.set(&pair[0], &pair[1], limits))
        .count();
    // HMSET too is "hset", whatever changed.
    ctx.notify(ev::HASH, "hset", &args[1]);
    Ok(added as i64)
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Frame::Integer(set_pairs(ctx, args, "hset")?))
}

fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_pairs(ctx, args, "hmset")?;
    Ok(Frame::ok())
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if field_value(ctx, &args[1], &args[2])?.is_some() {
        return Ok(Frame::Integer(0));
    }
    let limits = limits(ctx);
    hash_for_write(ctx, &args[1])?.set(&args[2], &args[3], limits);
    ctx.notify(ev::HASH, "hset", &args[1]);
    Ok(Frame::Integer(1))
}

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(field_value(ctx, &args[1], &args[2])?.map_or(Frame::Null, Frame::Bulk))
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let h = lookup_hash(db, &args[1], now, stats)?;
    let values = args[2..]
        .iter()
        .map(|f| match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => Frame::Bulk(v.to_bytes()),
            None => Frame::Null,
        })
        .collect();
    Ok(Frame::Array(values))
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(h) = lookup_hash(db, &args[1], now, stats)? else {
        return Ok(Frame::Integer(0));
    };
    let removed = args[2..].iter().filter(|f| h.remove(f)).count();
    let emptied = h.is_empty();
    if emptied {
        db.remove(&args[1]);
    }
    if removed > 0 {
        ctx.notify(ev::HASH, "hdel", &args[1]);
    }
    if emptied {
        ctx.notify(ev::GENERIC, "del", &args[1]);
    }
    Ok(Frame::Integer(removed as i64))
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let found = field_value(ctx, &args[1], &args[2])?.is_some();
    Ok(Frame::Integer(found as i64))
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let len = lookup_hash(db, &args[1], now, stats)?.map_or(0, |h| h.len());
    Ok(Frame::Integer(len as i64))
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let len = lookup_hash(db, &args[1], now, stats)?
        .and_then(|h| h.get(&args[2]))
        .map_or(0, |v| v.len());
    Ok(Frame::Integer(len as i64))
}

/// Every pair of the hash at `key` turned into replies by `each`; an absent key has none.
fn collect<T>(
    ctx: &mut Ctx,
    key: &[u8],
    mut each: impl FnMut(Item, Item) -> T,
) -> Result<Vec<T>, CmdError> {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(lookup_hash(db, key, now, stats)?
        .map(|h| h.iter().map(|(f, v)| each(f, v)).collect())
        .unwrap_or_default())
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let keys = collect(ctx, &args[1], |f, _| Frame::Bulk(f.to_bytes()))?;
    Ok(Frame::Array(keys))
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let values = collect(ctx, &args[1], |_, v| Frame::Bulk(v.to_bytes()))?;
    Ok(Frame::Array(values))
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let pairs = collect(ctx, &args[1], |f, v| {
        (Frame::Bulk(f.to_bytes()), Frame::Bulk(v.to_bytes()))
    })?;
    Ok(Frame::Map(pairs))
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = parse_int(&args[3])?;
    let current = match field_value(ctx, &args[1], &args[2])? {
        None => 0,
        Some(v) => {
            parse_i64_strict(&v).ok_or_else(|| CmdError::err("hash value is not an integer"))?
        }
    };
    let next = current.checked_add(by).ok_or(CmdError::IncrOverflow)?;
    let limits = limits(ctx);
    let text = itoa::Buffer::new().format(next).as_bytes().to_vec();
    hash_for_write(ctx, &args[1])?.set(&args[2], &text, limits);
    ctx.notify(ev::HASH, "hincrby", &args[1]);
    Ok(Frame::Integer(next))
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    longdouble::check_hincr_increment(&args[3])?;
    let current = field_value(ctx, &args[1], &args[2])?;
    let next = longdouble::hincr_by_float(current.as_deref(), &args[3])?;
    let limits = limits(ctx);
    hash_for_write(ctx, &args[1])?.set(&args[2], &next, limits);
    ctx.notify(ev::HASH, "hincrbyfloat", &args[1]);
    Ok(Frame::Bulk(Bytes::from(next)))
}

fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        let now = ctx.now;
        let (db, stats) = ctx.db();
        let mut reply = Frame::Null;
        if let Some(h) = lookup_hash(db, &args[1], now, stats)? {
            h.random_pairs(1, false, |_, f, _| reply = Frame::Bulk(f.to_bytes()));
        }
        return Ok(reply);
    }
    let l = parse_int(&args[2])?;
    if l == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let with_values = match args.get(3) {
        None => false,
        Some(a) if args.len() == 4 && is_cstr(a, "withvalues") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    // Redis bounds the count where a flat RESP2 reply of pairs would overflow its length.
    if with_values && l.unsigned_abs() > (i64::MAX / 2) as u64 {
        return Err(CmdError::Overflow);
    }
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(h) = lookup_hash(db, &args[1], now, stats)? else {
        return Ok(Frame::Array(Vec::new()));
    };
    let distinct = l >= 0;
    let count = usize::try_from(l.unsigned_abs()).map_err(|_| CmdError::Overflow)?;
    let replies = if distinct { count.min(h.len()) } else { count };
    // A negative count repeats picks without bound: refuse what memory cannot hold rather
    // than abort the server, and render each pair once however often it is picked.
    let mut picks = Vec::new();
    picks.try_reserve(replies).map_err(|_| CmdError::Overflow)?;
    let render = |f: Item, v: Item| {
        let v = if with_values {
            v.to_bytes()
        } else {
            Bytes::new()
        };
        (f.to_bytes(), v)
    };
    let repeats = !distinct && count > h.len();
    let mut rendered: Vec<Option<(Bytes, Bytes)>> = vec![None; if repeats { h.len() } else { 0 }];
    h.random_pairs(count, distinct, |i, f, v| {
        let (f, v) = match rendered.get_mut(i) {
            Some(slot) => slot.get_or_insert_with(|| render(f, v)).clone(),
            None => render(f, v),
        };
        picks.push((Frame::Bulk(f), Frame::Bulk(v)));
    });
    Ok(if with_values {
        Frame::Pairs(picks)
    } else {
        Frame::Array(picks.into_iter().map(|(f, _)| f).collect())
    })
}

fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = parse_scan_cursor(&args[2])?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    // Redis reads the options only once it has a hash to scan.
    let Some(h) = lookup_hash(db, &args[1], now, stats)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = ScanOptions::parse(args)?;
    let mut found = Vec::new();
    let next = h.scan(cursor, opts.count, |f, v| {
        let field = f.to_bytes();
        if opts.matches(&field) {
            found.push(Frame::Bulk(field));
            found.push(Frame::Bulk(v.to_bytes()));
        }
    });
    Ok(scan_reply(next, found))
}

#[cfg(test)]
mod tests {
    use crate::cmd::args::parse_scan_cursor as parse_cursor;

    #[test]
    fn cursors_parse_like_strtoul() {
        let ok = |s: &[u8]| parse_cursor(s).ok();
        assert_eq!(ok(b"0"), Some(0));
        assert_eq!(ok(b""), Some(0));
        assert_eq!(ok(b"0012"), Some(12));
        assert_eq!(ok(b"+5"), Some(5));
        assert_eq!(ok(b"-1"), Some(u64::MAX));
        assert_eq!(ok(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(ok(b"7\0junk"), Some(7));
        assert_eq!(ok(b"18446744073709551616"), None);
        assert_eq!(ok(b" 1"), None);
        assert_eq!(ok(b"1 "), None);
        assert_eq!(ok(b"-"), None);
        assert_eq!(ok(b"abc"), None);
    }
}
