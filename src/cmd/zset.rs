//! Sorted set commands.
//!
//! Ranges are computed as rank intervals: a score or lex bound becomes the number of entries
//! below it ([`ZSet::partition`]), so every range command, forwards or backwards, with or
//! without LIMIT, is "walk ranks `start..end`" over either encoding. The multi-key commands
//! (ZUNION, ZINTER, ZDIFF and their STORE forms) read their inputs into plain vectors first,
//! which is also where a plain set enters as members of score 1.
//!
//! For the blocking layer: [`pop_reply`] pops from one key and replies as ZMPOP/BZMPOP or
//! BZPOPMIN/BZPOPMAX do ([`pop`], [`zmpop_reply`] and [`bzpop_reply`] are its parts).

use std::collections::HashMap;
use std::os::raw::c_char;

use bytes::Bytes;

use super::args::{is_cstr, parse_float, parse_int, parse_scan_cursor, scan_reply, ScanOptions};
use super::flags::*;
use super::propagate::{self, Rule};
use super::{keys, one_key, CmdError, CmdResult, Command, Ctx, Run};
use crate::db::notify::class as ev;
use crate::db::{Db, KeyStats, Value};
use crate::resp::Frame;
use crate::types::zset::{cmp_entry, Change, Limits, ZSet};

const W_FAST: &[Flags] = &[WRITE, DENYOOM, FAST];
const ACL_W_FAST: &[&str] = &["@write", "@sortedset", "@fast"];
const ACL_R_FAST: &[&str] = &["@read", "@sortedset", "@fast"];
const ACL_R_SLOW: &[&str] = &["@read", "@sortedset", "@slow"];
const ACL_W_SLOW: &[&str] = &["@write", "@sortedset", "@slow"];
const NO_KEYS_MOVABLE: super::KeySpec = keys(0, 0, 0);

pub static COMMANDS: &[Command] = &[
    Command::new("zadd", -4, Run::Keyed(zadd))
        .propagates(Rule::AsIs)
        .flags(W_FAST)
        .acl(ACL_W_FAST)
        .keys(one_key()),
    Command::new("zincrby", 4, Run::Keyed(zincrby))
        .propagates(Rule::AsIs)
        .flags(W_FAST)
        .acl(ACL_W_FAST)
        .keys(one_key()),
    Command::new("zrem", -3, Run::Keyed(zrem))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, FAST])
        .acl(ACL_W_FAST)
        .keys(one_key()),
    Command::new("zcard", 2, Run::Keyed(zcard))
        .flags(&[READONLY, FAST])
        .acl(ACL_R_FAST)
        .keys(one_key()),
    Command::new("zcount", 4, Run::Keyed(zcount))
        .flags(&[READONLY, FAST])
        .acl(ACL_R_FAST)
        .keys(one_key()),
    Command::new("zlexcount", 4, Run::Keyed(zlexcount))
        .flags(&[READONLY, FAST])
        .acl(ACL_R_FAST)
        .keys(one_key()),
    Command::new("zscore", 3, Run::Keyed(zscore))
        .flags(&[READONLY, FAST])
        .acl(ACL_R_FAST)
        .keys(one_key()),
    Command::new("zmscore", -3, Run::Keyed(zmscore))
        .flags(&[READONLY, FAST])
        .acl(ACL_R_FAST)
        .keys(one_key()),
    Command::new("zrank", 3, Run::Keyed(zrank))
        .flags(&[READONLY, FAST])
        .acl(ACL_R_FAST)
        .keys(one_key()),
    Command::new("zrevrank", 3, Run::Keyed(zrevrank))
        .flags(&[READONLY, FAST])
        .acl(ACL_R_FAST)
        .keys(one_key()),
    Command::new("zrange", -4, Run::Keyed(zrange))
        .flags(&[READONLY])
        .acl(ACL_R_SLOW)
        .keys(one_key()),
    Command::new("zrangestore", -5, Run::Keyed(zrangestore))
        .counts_lookups(super::always)
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(ACL_W_SLOW)
        .keys(keys(1, 2, 1)),
    Command::new("zrangebyscore", -4, Run::Keyed(zrangebyscore))
        .flags(&[READONLY])
        .acl(ACL_R_SLOW)
        .keys(one_key()),
    Command::new("zrevrangebyscore", -4, Run::Keyed(zrevrangebyscore))
        .flags(&[READONLY])
        .acl(ACL_R_SLOW)
        .keys(one_key()),
    Command::new("zrangebylex", -4, Run::Keyed(zrangebylex))
        .flags(&[READONLY])
        .acl(ACL_R_SLOW)
        .keys(one_key()),
    Command::new("zrevrangebylex", -4, Run::Keyed(zrevrangebylex))
        .flags(&[READONLY])
        .acl(ACL_R_SLOW)
        .keys(one_key()),
    Command::new("zrevrange", -4, Run::Keyed(zrevrange))
        .flags(&[READONLY])
        .acl(ACL_R_SLOW)
        .keys(one_key()),
    Command::new("zremrangebyrank", 4, Run::Keyed(zremrangebyrank))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE])
        .acl(ACL_W_SLOW)
        .keys(one_key()),
    Command::new("zremrangebyscore", 4, Run::Keyed(zremrangebyscore))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE])
        .acl(ACL_W_SLOW)
        .keys(one_key()),
    Command::new("zremrangebylex", 4, Run::Keyed(zremrangebylex))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE])
        .acl(ACL_W_SLOW)
        .keys(one_key()),
    Command::new("zpopmin", -2, Run::Keyed(zpopmin))
        .propagates(Rule::UnlessEmpty)
        .flags(&[WRITE, FAST])
        .acl(ACL_W_FAST)
        .keys(one_key()),
    Command::new("zpopmax", -2, Run::Keyed(zpopmax))
        .propagates(Rule::UnlessEmpty)
        .flags(&[WRITE, FAST])
        .acl(ACL_W_FAST)
        .keys(one_key()),
    Command::new("zmpop", -4, Run::Keyed(zmpop))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, MOVABLEKEYS])
        .acl(ACL_W_SLOW)
        .keys(NO_KEYS_MOVABLE),
    Command::new("zrandmember", -2, Run::Keyed(zrandmember))
        .flags(&[READONLY])
        .acl(ACL_R_SLOW)
        .keys(one_key()),
    Command::new("zunion", -3, Run::Keyed(zunion))
        .flags(&[READONLY, MOVABLEKEYS])
        .acl(ACL_R_SLOW)
        .keys(NO_KEYS_MOVABLE),
    Command::new("zunionstore", -4, Run::Keyed(zunionstore))
        .counts_lookups(super::always)
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, MOVABLEKEYS])
        .acl(ACL_W_SLOW)
        .keys(one_key()),
    Command::new("zinter", -3, Run::Keyed(zinter))
        .flags(&[READONLY, MOVABLEKEYS])
        .acl(ACL_R_SLOW)
        .keys(NO_KEYS_MOVABLE),
    Command::new("zinterstore", -4, Run::Keyed(zinterstore))
        .counts_lookups(super::always)
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, MOVABLEKEYS])
        .acl(ACL_W_SLOW)
        .keys(one_key()),
    Command::new("zintercard", -3, Run::Keyed(zintercard))
        .flags(&[READONLY, MOVABLEKEYS])
        .acl(ACL_R_SLOW)
        .keys(NO_KEYS_MOVABLE),
    Command::new("zdiff", -3, Run::Keyed(zdiff))
        .flags(&[READONLY, MOVABLEKEYS])
        .acl(ACL_R_SLOW)
        .keys(NO_KEYS_MOVABLE),
    Command::new("zdiffstore", -4, Run::Keyed(zdiffstore))
        .counts_lookups(super::always)
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, MOVABLEKEYS])
        .acl(ACL_W_SLOW)
        .keys(one_key()),
    Command::new("zscan", -3, Run::Keyed(zscan))
        .flags(&[READONLY])
        .acl(ACL_R_SLOW)
        .keys(one_key()),
];

// ---------------------------------------------------------------------------------------------
// Lookup and storage

fn limits(ctx: &Ctx) -> Limits {
    Limits {
        entries: ctx.ks.limits.zset_max_listpack_entries,
        value: ctx.ks.limits.zset_max_listpack_value,
    }
}

/// The sorted set at `key`: `None` if absent, WRONGTYPE if it holds another type.
pub fn lookup_zset<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &mut KeyStats,
) -> Result<Option<&'a mut ZSet>, CmdError> {
    match db.lookup(key, now, stats) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Runs `f` on the set at `key` (absent: `None`), then deletes the key if `f` emptied it, as
/// Redis never keeps an empty collection. `f` also says how many entries it removed: any is
/// announced as `event`, and an emptied key as deleted.
fn modify<T>(
    ctx: &mut Ctx,
    key: &[u8],
    event: &'static str,
    f: impl FnOnce(Option<&mut ZSet>) -> (T, usize),
) -> Result<T, CmdError> {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let (out, removed, emptied) = match lookup_zset(db, key, now, stats)? {
        Some(z) => {
            let (out, removed) = f(Some(&mut *z));
            (out, removed, z.is_empty())
        }
        None => (f(None).0, 0, false),
    };
    if emptied {
        db.remove(key);
    }
    if removed > 0 {
        ctx.notify(ev::ZSET, event, key);
    }
    if emptied {
        ctx.notify(ev::GENERIC, "del", key);
    }
    Ok(out)
}

/// Stores a computed result at `dst`, replacing whatever was there (and its TTL); an empty
/// result deletes `dst` instead. Returns the result's size. `event` names the store.
fn store_result(ctx: &mut Ctx, dst: &[u8], pairs: Vec<(Bytes, f64)>, event: &'static str) -> i64 {
    let n = pairs.len();
    let limits = limits(ctx);
    let (db, _) = ctx.db();
    if n == 0 {
        if db.remove(dst).is_some() {
            ctx.notify(ev::GENERIC, "del", dst);
        }
    } else {
        db.set(dst, Value::ZSet(ZSet::from_pairs(pairs, limits)), 0);
        ctx.notify(ev::ZSET, event, dst);
    }
    n as i64
}

// ---------------------------------------------------------------------------------------------
// Replies

fn member(m: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(m))
}

/// Members, or member/score pairs (flat in RESP2, nested in RESP3) when `withscores`.
fn entries_reply(entries: Vec<(Bytes, f64)>, withscores: bool) -> Frame {
    if withscores {
        Frame::Pairs(
            entries
                .into_iter()
                .map(|(m, s)| (Frame::Bulk(m), Frame::Double(s)))
                .collect(),
        )
    } else {
        Frame::Array(entries.into_iter().map(|(m, _)| Frame::Bulk(m)).collect())
    }
}

fn collect(z: &ZSet, start: usize, end: usize, rev: bool) -> Vec<(Bytes, f64)> {
    let mut out = Vec::with_capacity(end.saturating_sub(start).min(z.len()));
    z.range(start, end, rev, |m, s| {
        out.push((Bytes::copy_from_slice(m), s))
    });
    out
}

// ---------------------------------------------------------------------------------------------
// Argument grammar

/// Redis compares option words with `strcasecmp`, so an argument ends at its first NUL.
fn kw(a: &[u8], word: &str) -> bool {
    is_cstr(a, word)
}

extern "C" {
    fn strtod(s: *const c_char, end: *mut *mut c_char) -> f64;
}

/// C's `strtod` over the whole argument, as Redis reads range bounds (`zslParseRange`): more
/// lenient than score arguments — leading spaces, the empty string (0), and out-of-range
/// values (±inf, 0) pass; NaN and trailing bytes do not.
fn parse_bound_float(b: &[u8]) -> Option<f64> {
    let end = memchr::memchr(0, b).unwrap_or(b.len());
    let mut text = Vec::with_capacity(end + 1);
    text.extend_from_slice(&b[..end]);
    text.push(0);
    let mut stop: *mut c_char = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated and outlives the call; strtod writes only `stop`.
    let v = unsafe { strtod(text.as_ptr().cast(), &mut stop) };
    let consumed = stop as usize - text.as_ptr() as usize;
    (consumed == end && !v.is_nan()).then_some(v)
}

/// A score range, `(` marking an exclusive bound.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

impl ScoreRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
        let bound = |b: &[u8]| -> Option<(f64, bool)> {
            match b.split_first() {
                Some((b'(', rest)) => parse_bound_float(rest).map(|v| (v, true)),
                _ => parse_bound_float(b).map(|v| (v, false)),
            }
        };
        let bad = || CmdError::err("min or max is not a float");
        let (min, minex) = bound(min).ok_or_else(bad)?;
        let (max, maxex) = bound(max).ok_or_else(bad)?;
        Ok(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }

    /// The ranks `start..end` of the entries within the range.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let start = z.partition(|_, s| s < self.min || (self.minex && s == self.min));
        let end = z.partition(|_, s| s < self.max || (!self.maxex && s == self.max));
        (start, end.max(start))
    }
}

/// A lex bound: `-`, `+`, or a member with `[` (inclusive) or `(` (exclusive).
#[derive(Clone, Debug)]
enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

impl LexBound {
    fn parse(b: &Bytes) -> Option<LexBound> {
        // `+` and `-` must be the whole argument (as C strings, so up to a NUL).
        let alone = b.len() == 1 || b.get(1) == Some(&0);
        match b.first()? {
            b'+' if alone => Some(LexBound::Max),
            b'-' if alone => Some(LexBound::Min),
            b'[' => Some(LexBound::Incl(b.slice(1..))),
            b'(' => Some(LexBound::Excl(b.slice(1..))),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    pub fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, CmdError> {
        let bad = || CmdError::err("min or max not valid string range item");
        Ok(LexRange {
            min: LexBound::parse(min).ok_or_else(bad)?,
            max: LexBound::parse(max).ok_or_else(bad)?,
        })
    }

    /// Ranks of the members within the range, assuming (as Redis does) that they all share one
    /// score, so that member order is the set's order.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let below_min = |m: &[u8]| match &self.min {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(v) => m < &v[..],
            LexBound::Excl(v) => m <= &v[..],
        };
        let up_to_max = |m: &[u8]| match &self.max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(v) => m <= &v[..],
            LexBound::Excl(v) => m < &v[..],
        };
        let start = z.partition(|m, _| below_min(m));
        let end = z.partition(|m, _| up_to_max(m));
        (start, end.max(start))
    }
}

/// Redis's clamping of a rank range given as `start stop` (negative from the end, inclusive):
/// the ranks `from..to`, or `None` when empty.
fn rank_span(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut stop = if stop < 0 { len + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize + 1))
}

// ---------------------------------------------------------------------------------------------
// ZADD, ZINCRBY

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    incr: bool,
}

/// What one element of a ZADD did.
enum Added {
    /// Ignored by NX, XX, GT or LT.
    Nop,
    Done(Change, f64),
}

/// Redis's `zsetAdd`: one element under the ZADD flags.
fn add_one(
    z: &mut ZSet,
    m: &[u8],
    score: f64,
    f: AddFlags,
    limits: Limits,
) -> Result<Added, CmdError> {
    match z.score(m) {
        Some(_) if f.nx => Ok(Added::Nop),
        Some(cur) => {
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(CmdError::err("resulting score is not a number (NaN)"));
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok(Added::Nop);
            }
            Ok(Added::Done(z.insert(m, new, limits), new))
        }
        None if f.xx => Ok(Added::Nop),
        None => Ok(Added::Done(z.insert(m, score, limits), score)),
    }
}

fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zadd_generic(ctx, args, false)
}

/// ZINCRBY is ZADD with INCR, options included: `ZINCRBY z nx m` is a syntax error as in
/// Redis, not a bad float.
fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zadd_generic(ctx, args, true)
}

fn zadd_generic(ctx: &mut Ctx, args: &[Bytes], incr: bool) -> CmdResult {
    let mut f = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut i = 2;
    while let Some(a) = args.get(i) {
        match () {
            _ if kw(a, "nx") => f.nx = true,
            _ if kw(a, "xx") => f.xx = true,
            _ if kw(a, "gt") => f.gt = true,
            _ if kw(a, "lt") => f.lt = true,
            _ if kw(a, "ch") => ch = true,
            _ if kw(a, "incr") => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && pairs.len() > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let scores = pairs
        .chunks(2)
        .map(|p| parse_float(&p[0]))
        .collect::<Result<Vec<f64>, _>>()?;
    let limits = limits(ctx);
    let now = ctx.now;
    let (db, stats) = ctx.db();
    if lookup_zset(db, &args[1], now, stats)?.is_none() {
        if f.xx {
            return Ok(if f.incr {
                Frame::Null
            } else {
                Frame::Integer(0)
            });
        }
        db.set(&args[1], Value::ZSet(ZSet::new(limits, pairs[1].len())), 0);
    }
    // Fetched again without counting a second keyspace hit.
    let z = match db.get(&args[1], now, stats).map(|e| &mut e.value) {
        Some(Value::ZSet(z)) => z,
        _ => unreachable!("found or created as a sorted set just above"),
    };
    let (mut added, mut updated, mut last) = (0, 0, None);
    for (p, &score) in pairs.chunks(2).zip(&scores) {
        if let Added::Done(change, new) = add_one(z, &p[1], score, f, limits)? {
            match change {
                Change::Added => added += 1,
                Change::Updated => updated += 1,
                Change::Same => {}
            }
            last = Some(new);
        }
    }
    if added + updated > 0 {
        let event = if f.incr { "zincr" } else { "zadd" };
        ctx.notify(ev::ZSET, event, &args[1]);
    }
    Ok(match (f.incr, last) {
        (true, Some(score)) => Frame::Double(score),
        (true, None) => Frame::Null,
        _ => Frame::Integer(if ch { added + updated } else { added }),
    })
}

// ---------------------------------------------------------------------------------------------
// Reads by member

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let removed = modify(ctx, &args[1], "zrem", |z| {
        let n = match z {
            Some(z) => args[2..].iter().filter(|m| z.remove(m)).count(),
            None => 0,
        };
        (n, n)
    })?;
    Ok(Frame::Integer(removed as i64))
}

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let n = lookup_zset(db, &args[1], now, stats)?.map_or(0, |z| z.len());
    Ok(Frame::Integer(n as i64))
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let score = lookup_zset(db, &args[1], now, stats)?.and_then(|z| z.score(&args[2]));
    Ok(score.map_or(Frame::Null, Frame::Double))
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let z = lookup_zset(db, &args[1], now, stats)?;
    let z = z.as_deref();
    Ok(Frame::Array(
        args[2..]
            .iter()
            .map(|m| {
                z.and_then(|z| z.score(m))
                    .map_or(Frame::Null, Frame::Double)
            })
            .collect(),
    ))
}

fn rank_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(z) = lookup_zset(db, &args[1], now, stats)? else {
        return Ok(Frame::Null);
    };
    Ok(match z.rank(&args[2]) {
        Some((r, _)) if rev => Frame::Integer((z.len() - 1 - r) as i64),
        Some((r, _)) => Frame::Integer(r as i64),
        None => Frame::Null,
    })
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, true)
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = ScoreRange::parse(&args[2], &args[3])?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let n = lookup_zset(db, &args[1], now, stats)?.map_or(0, |z| {
        let (start, end) = range.ranks(z);
        end - start
    });
    Ok(Frame::Integer(n as i64))
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = LexRange::parse(&args[2], &args[3])?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let n = lookup_zset(db, &args[1], now, stats)?.map_or(0, |z| {
        let (start, end) = range.ranks(z);
        end - start
    });
    Ok(Frame::Integer(n as i64))
}

// ---------------------------------------------------------------------------------------------
// ZRANGE and its older forms

#[derive(Clone, Copy, PartialEq)]
enum RangeBy {
    Rank,
    Score,
    Lex,
}

/// Redis's `zrangeGenericCommand`: `args[first]` is the source key, then the two bounds and
/// the options. `by`/`rev` fixed by the older commands (ZRANGEBYSCORE...) cannot be given
/// again as options. With `store`, the result goes to that key.
fn zrange_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    first: usize,
    store: Option<&Bytes>,
    fixed_by: Option<RangeBy>,
    fixed_rev: Option<bool>,
) -> CmdResult {
    let (mut withscores, mut by, mut rev) = (false, fixed_by, fixed_rev);
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = first + 3;
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if store.is_none() && kw(a, "withscores") {
            withscores = true;
        } else if kw(a, "limit") && left >= 2 {
            offset = parse_int(&args[j + 1])?;
            limit = parse_int(&args[j + 2])?;
            j += 2;
        } else if fixed_rev.is_none() && rev.is_none() && kw(a, "rev") {
            rev = Some(true);
        } else if fixed_by.is_none() && by.is_none() && kw(a, "bylex") {
            by = Some(RangeBy::Lex);
        } else if fixed_by.is_none() && by.is_none() && kw(a, "byscore") {
            by = Some(RangeBy::Score);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let by = by.unwrap_or(RangeBy::Rank);
    let rev = rev.unwrap_or(false);
    if limit != -1 && by == RangeBy::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == RangeBy::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Score and lex ranges are given as max, min when reversed.
    let (lo, hi) = if rev && by != RangeBy::Rank {
        (&args[first + 2], &args[first + 1])
    } else {
        (&args[first + 1], &args[first + 2])
    };
    enum Bounds {
        Rank(i64, i64),
        Score(ScoreRange),
        Lex(LexRange),
    }
    let bounds = match by {
        RangeBy::Rank => Bounds::Rank(parse_int(lo)?, parse_int(hi)?),
        RangeBy::Score => Bounds::Score(ScoreRange::parse(lo, hi)?),
        RangeBy::Lex => Bounds::Lex(LexRange::parse(lo, hi)?),
    };
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let result = match lookup_zset(db, &args[first], now, stats)? {
        None => Vec::new(),
        Some(z) => {
            let span = match &bounds {
                Bounds::Rank(a, b) => rank_span(*a, *b, z.len()).map(|(s, e)| {
                    if rev {
                        (z.len() - e, z.len() - s)
                    } else {
                        (s, e)
                    }
                }),
                Bounds::Score(r) => Some(limited(r.ranks(z), offset, limit, rev)),
                Bounds::Lex(r) => Some(limited(r.ranks(z), offset, limit, rev)),
            };
            span.map_or_else(Vec::new, |(s, e)| collect(z, s, e, rev))
        }
    };
    match store {
        Some(dst) => Ok(Frame::Integer(store_result(
            ctx,
            dst,
            result,
            "zrangestore",
        ))),
        None => Ok(entries_reply(result, withscores)),
    }
}

/// Applies LIMIT to the ranks `start..end` of a score or lex range, counted from the end when
/// reversed. A negative offset yields nothing and a negative count means all, as in Redis.
fn limited((start, end): (usize, usize), offset: i64, limit: i64, rev: bool) -> (usize, usize) {
    if offset < 0 {
        return (0, 0);
    }
    let len = end - start;
    let skip = (offset as u64).min(len as u64) as usize;
    let take = if limit < 0 {
        len - skip
    } else {
        (limit as u64).min((len - skip) as u64) as usize
    };
    if rev {
        (end - skip - take, end - skip)
    } else {
        (start + skip, start + skip + take)
    }
}

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, None, None)
}

fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 2, Some(&args[1]), None, None)
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, Some(RangeBy::Score), Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, Some(RangeBy::Score), Some(true))
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, Some(RangeBy::Lex), Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, Some(RangeBy::Lex), Some(true))
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, 1, None, Some(RangeBy::Rank), Some(true))
}

// ---------------------------------------------------------------------------------------------
// ZREMRANGEBY*

/// Removes the ranks that `span` picks from the set at `key`.
fn remove_span(
    ctx: &mut Ctx,
    key: &[u8],
    event: &'static str,
    span: impl FnOnce(&ZSet) -> Option<(usize, usize)>,
) -> CmdResult {
    let n = modify(ctx, key, event, |z| {
        let n = match z {
            Some(z) => span(z).map_or(0, |(s, e)| z.remove_range(s, e)),
            None => 0,
        };
        (n, n)
    })?;
    Ok(Frame::Integer(n as i64))
}

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (parse_int(&args[2])?, parse_int(&args[3])?);
    remove_span(ctx, &args[1], "zremrangebyrank", |z| {
        rank_span(start, stop, z.len())
    })
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = ScoreRange::parse(&args[2], &args[3])?;
    remove_span(ctx, &args[1], "zremrangebyscore", |z| Some(range.ranks(z)))
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = LexRange::parse(&args[2], &args[3])?;
    remove_span(ctx, &args[1], "zremrangebylex", |z| Some(range.ranks(z)))
}

// ---------------------------------------------------------------------------------------------
// Pops

/// Which end a pop takes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Min,
    Max,
}

/// Pops up to `count` entries from the `end` of the sorted set at `key`, deleting the key when
/// it empties. `Ok(None)` when the key is absent; WRONGTYPE when it is not a sorted set. For
/// ZPOPMIN/ZPOPMAX/ZMPOP and the blocking layer (BZPOPMIN, BZPOPMAX, BZMPOP).
pub fn pop(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    count: usize,
) -> Result<Option<Vec<(Bytes, f64)>>, CmdError> {
    let event = match end {
        End::Min => "zpopmin",
        End::Max => "zpopmax",
    };
    modify(ctx, key, event, |z| {
        let Some(z) = z else {
            return (None, 0);
        };
        let n = count.min(z.len());
        let (s, e) = match end {
            End::Min => (0, n),
            End::Max => (z.len() - n, z.len()),
        };
        let popped = collect(z, s, e, end == End::Max);
        z.remove_range(s, e);
        (Some(popped), n)
    })
}

/// The reply shapes a pop can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopShape {
    /// ZMPOP, BZMPOP: `[key, [[member, score], ...]]`.
    Multi,
    /// BZPOPMIN, BZPOPMAX: `[key, member, score]`.
    Single,
}

/// [`pop`] with its reply: `Ok(None)` when `key` is absent (the blocking layer then waits or
/// tries the next key), WRONGTYPE when it holds another type.
pub fn pop_reply(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    count: usize,
    shape: PopShape,
) -> Result<Option<Frame>, CmdError> {
    Ok(pop(ctx, key, end, count)?.map(|popped| match shape {
        PopShape::Multi => zmpop_reply(key, popped),
        PopShape::Single => bzpop_reply(key, popped),
    }))
}

/// ZMPOP's (and BZMPOP's) reply: the key, then the popped pairs, nested in both protocols.
pub fn zmpop_reply(key: &[u8], popped: Vec<(Bytes, f64)>) -> Frame {
    Frame::Array(vec![
        member(key),
        Frame::Array(
            popped
                .into_iter()
                .map(|(m, s)| Frame::Array(vec![Frame::Bulk(m), Frame::Double(s)]))
                .collect(),
        ),
    ])
}

/// BZPOPMIN's and BZPOPMAX's reply: key, member, score (one entry popped).
pub fn bzpop_reply(key: &[u8], popped: Vec<(Bytes, f64)>) -> Frame {
    let mut out = vec![member(key)];
    if let Some((m, s)) = popped.into_iter().next() {
        out.push(Frame::Bulk(m));
        out.push(Frame::Double(s));
    }
    Frame::Array(out)
}

fn zpop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(a) => Some(
            parse_int(a)
                .ok()
                .filter(|&n| n >= 0)
                .ok_or_else(|| CmdError::err("value is out of range, must be positive"))?
                as usize,
        ),
        None => None,
    };
    let popped = pop(ctx, &args[1], end, count.unwrap_or(1))?.unwrap_or_default();
    Ok(match count {
        // Without a count the reply is one flat pair; with one, pairs (nested in RESP3).
        None => Frame::Array(
            popped
                .into_iter()
                .flat_map(|(m, s)| [Frame::Bulk(m), Frame::Double(s)])
                .collect(),
        ),
        Some(_) => entries_reply(popped, true),
    })
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, args, End::Min)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, args, End::Max)
}

/// A count argument Redis reads with `getRangeLongFromObjectOrReply(.., 1, LONG_MAX, msg)`:
/// anything but a positive integer is `msg`.
fn positive(a: &[u8], msg: &str) -> Result<usize, CmdError> {
    match parse_int(a) {
        Ok(n) if n >= 1 => Ok(n as usize),
        _ => Err(CmdError::err(msg)),
    }
}

fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (keys, end, count) = parse_zmpop(args, 1)?;
    for key in &args[keys] {
        if let Some(reply) = pop_reply(ctx, key, end, count, PopShape::Multi)? {
            return Ok(reply);
        }
    }
    Ok(Frame::NullArray)
}

/// The arguments of ZMPOP (and BZMPOP, whose key count is at index 2): where the keys are, the
/// end to pop from and the count, checked in Redis's order.
pub fn parse_zmpop(
    args: &[Bytes],
    numkeys_at: usize,
) -> Result<(std::ops::Range<usize>, End, usize), CmdError> {
    let numkeys = positive(&args[numkeys_at], "numkeys should be greater than 0")?;
    let first = numkeys_at + 1;
    let where_at = numkeys
        .checked_add(first)
        .filter(|&w| w < args.len())
        .ok_or(CmdError::Syntax)?;
    let end = match &args[where_at] {
        a if kw(a, "min") => End::Min,
        a if kw(a, "max") => End::Max,
        _ => return Err(CmdError::Syntax),
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && kw(&args[j], "count") && j + 1 < args.len() {
            count = Some(positive(&args[j + 1], "count should be greater than 0")?);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((first..where_at, end, count.unwrap_or(1)))
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    use rand::Rng;
    let now = ctx.now;
    if args.len() == 2 {
        let (db, stats) = ctx.db();
        return Ok(match lookup_zset(db, &args[1], now, stats)? {
            Some(z) => member(z.at(rand::thread_rng().gen_range(0..z.len())).0),
            None => Frame::Null,
        });
    }
    let n = parse_int(&args[2])?;
    if n == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withscores = match args.get(3) {
        _ if args.len() > 4 => return Err(CmdError::Syntax),
        Some(a) if !kw(a, "withscores") => return Err(CmdError::Syntax),
        Some(_) => {
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
                return Err(CmdError::err("value is out of range"));
            }
            true
        }
        None => false,
    };
    let (db, stats) = ctx.db();
    let Some(z) = lookup_zset(db, &args[1], now, stats)? else {
        return Ok(Frame::Array(Vec::new()));
    };
    let count = usize::try_from(n.unsigned_abs()).map_err(|_| CmdError::Overflow)?;
    let mut rng = rand::thread_rng();
    let mut out = Vec::new();
    // Repeated picks are as many as asked: a reply this server cannot hold is refused (Redis
    // streams it into the output buffer) rather than abort the process.
    let wanted = if n < 0 { count } else { count.min(z.len()) };
    out.try_reserve(wanted).map_err(|_| CmdError::Overflow)?;
    let push = |rank: usize, out: &mut Vec<(Bytes, f64)>| {
        let (m, s) = z.at(rank);
        out.push((Bytes::copy_from_slice(m), s));
    };
    if n < 0 {
        // Repeats allowed: independent picks.
        for _ in 0..count {
            push(rng.gen_range(0..z.len()), &mut out);
        }
    } else if count >= z.len() {
        for r in 0..z.len() {
            push(r, &mut out);
        }
    } else {
        for r in rand::seq::index::sample(&mut rng, z.len(), count) {
            push(r, &mut out);
        }
    }
    Ok(entries_reply(out, withscores))
}

// ---------------------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF (+STORE), ZINTERCARD

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`: a sum that is NaN (inf + -inf) counts as 0.
    fn apply(self, target: &mut f64, v: f64) {
        match self {
            Aggregate::Sum => {
                *target += v;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => *target = if v < *target { v } else { *target },
            Aggregate::Max => *target = if v > *target { v } else { *target },
        }
    }
}

/// One input of a set operation: its entries, in order.
type Input = Vec<(Bytes, f64)>;

/// Reads the input at `key`: empty when absent, WRONGTYPE unless a sorted set or a set.
fn read_input(ctx: &mut Ctx, key: &[u8]) -> Result<Input, CmdError> {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(e) = db.lookup(key, now, stats) else {
        return Ok(Vec::new());
    };
    match &e.value {
        Value::ZSet(z) => Ok(z
            .iter()
            .map(|(m, s)| (Bytes::copy_from_slice(m), s))
            .collect()),
        // A plain set counts as a sorted set whose members all score 1.
        Value::Set(set) => Ok(set.iter().map(|m| (m.to_bytes(), 1.0)).collect()),
        _ => Err(CmdError::WrongType),
    }
}

/// Redis's `zunionInterDiffGenericCommand`. `numkeys_at` is the index of the key count; `dst`
/// the destination for the STORE forms; `card` selects ZINTERCARD.
fn setop_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    numkeys_at: usize,
    dst: Option<&Bytes>,
    op: SetOp,
    card: bool,
) -> CmdResult {
    let numkeys = parse_int(&args[numkeys_at])?;
    if numkeys < 1 {
        let name = String::from_utf8_lossy(&args[0]).to_lowercase();
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys as u64 > (args.len() - numkeys_at - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    let numkeys = numkeys as usize;
    let first_key = numkeys_at + 1;
    // Types are checked before the options are parsed, as in Redis.
    let mut inputs = Vec::with_capacity(numkeys);
    for key in &args[first_key..first_key + numkeys] {
        inputs.push(read_input(ctx, key)?);
    }
    let mut weights = vec![1.0f64; numkeys];
    let mut aggregate = Aggregate::Sum;
    let (mut withscores, mut limit) = (false, 0usize);
    let mut j = first_key + numkeys;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if op != SetOp::Diff && !card && remaining > numkeys && kw(a, "weights") {
            for (k, w) in weights.iter_mut().enumerate() {
                *w = parse_float(&args[j + 1 + k])
                    .map_err(|_| CmdError::err("weight value is not a float"))?;
            }
            j += 1 + numkeys;
        } else if op != SetOp::Diff && !card && remaining >= 2 && kw(a, "aggregate") {
            aggregate = match &args[j + 1] {
                x if kw(x, "sum") => Aggregate::Sum,
                x if kw(x, "min") => Aggregate::Min,
                x if kw(x, "max") => Aggregate::Max,
                _ => return Err(CmdError::Syntax),
            };
            j += 2;
        } else if dst.is_none() && !card && kw(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card && remaining >= 2 && kw(a, "limit") {
            limit = match parse_int(&args[j + 1]) {
                Ok(n) if n >= 0 => n as usize,
                _ => return Err(CmdError::err("LIMIT can't be negative")),
            };
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let result = match op {
        SetOp::Union => union(inputs, &weights, aggregate),
        SetOp::Inter if card => return Ok(Frame::Integer(inter_card(&inputs, limit) as i64)),
        SetOp::Inter => inter(inputs, &weights, aggregate),
        SetOp::Diff => diff(inputs),
    };
    match dst {
        Some(dst) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            Ok(Frame::Integer(store_result(ctx, dst, result, event)))
        }
        None => {
            let mut result = result;
            result.sort_by(|a, b| cmp_entry((a.1, &a.0), (b.1, &b.0)));
            Ok(entries_reply(result, withscores))
        }
    }
}

/// Pairs each input with its weight, smallest input first (Redis's order, which decides the
/// order scores are summed in).
fn by_size(inputs: Vec<Input>, weights: &[f64]) -> Vec<(Input, f64)> {
    let mut v: Vec<(Input, f64)> = inputs.into_iter().zip(weights.iter().copied()).collect();
    v.sort_by_key(|(input, _)| input.len());
    v
}

fn weighted(s: f64, w: f64) -> f64 {
    let v = s * w;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn union(inputs: Vec<Input>, weights: &[f64], agg: Aggregate) -> Vec<(Bytes, f64)> {
    let mut acc: HashMap<Bytes, usize> = HashMap::new();
    let mut out: Vec<(Bytes, f64)> = Vec::new();
    for (input, w) in by_size(inputs, weights) {
        for (m, s) in input {
            let v = weighted(s, w);
            match acc.get(&m) {
                Some(&i) => agg.apply(&mut out[i].1, v),
                None => {
                    acc.insert(m.clone(), out.len());
                    out.push((m, v));
                }
            }
        }
    }
    out
}

fn inter(inputs: Vec<Input>, weights: &[f64], agg: Aggregate) -> Vec<(Bytes, f64)> {
    let mut sources = by_size(inputs, weights).into_iter();
    let Some((smallest, w0)) = sources.next() else {
        return Vec::new();
    };
    let others: Vec<(HashMap<Bytes, f64>, f64)> =
        sources.map(|(i, w)| (i.into_iter().collect(), w)).collect();
    let mut out = Vec::new();
    'members: for (m, s) in smallest {
        let mut score = weighted(s, w0);
        for (map, w) in &others {
            match map.get(&m) {
                // Only the first input's product is cleared of NaN, as in Redis.
                Some(&v) => agg.apply(&mut score, v * w),
                None => continue 'members,
            }
        }
        out.push((m, score));
    }
    out
}

fn inter_card(inputs: &[Input], limit: usize) -> usize {
    let mut sorted: Vec<&Input> = inputs.iter().collect();
    sorted.sort_by_key(|i| i.len());
    let Some((smallest, others)) = sorted.split_first() else {
        return 0;
    };
    let others: Vec<std::collections::HashSet<&Bytes>> = others
        .iter()
        .map(|i| i.iter().map(|(m, _)| m).collect())
        .collect();
    let mut n = 0;
    for (m, _) in smallest.iter() {
        if others.iter().all(|o| o.contains(m)) {
            n += 1;
            if limit != 0 && n >= limit {
                break;
            }
        }
    }
    n
}

fn diff(inputs: Vec<Input>) -> Vec<(Bytes, f64)> {
    let mut inputs = inputs.into_iter();
    let Some(first) = inputs.next() else {
        return Vec::new();
    };
    let others: Vec<std::collections::HashSet<Bytes>> = inputs
        .map(|i| i.into_iter().map(|(m, _)| m).collect())
        .collect();
    first
        .into_iter()
        .filter(|(m, _)| !others.iter().any(|o| o.contains(m)))
        .collect()
}

fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, 1, None, SetOp::Union, false)
}

fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, 2, Some(&args[1]), SetOp::Union, false)
}

fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, 1, None, SetOp::Inter, false)
}

fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, 2, Some(&args[1]), SetOp::Inter, false)
}

fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, 1, None, SetOp::Inter, true)
}

fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, 1, None, SetOp::Diff, false)
}

fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, 2, Some(&args[1]), SetOp::Diff, false)
}

// ---------------------------------------------------------------------------------------------
// ZSCAN

fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = parse_scan_cursor(&args[2])?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(z) = lookup_zset(db, &args[1], now, stats)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let opts = ScanOptions::parse(args)?;
    let mut items = Vec::new();
    let next = z.scan(cursor, opts.count, |m, s| {
        if opts.matches(m) {
            items.push(member(m));
            items.push(Frame::Bulk(Bytes::from(crate::resp::frame::format_double(
                s,
            ))));
        }
    });
    Ok(scan_reply(next, items))
}
