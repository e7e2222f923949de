//! List commands: pushes and pops at both ends, indexed access, search, trimming, and moving
//! elements between lists.
//!
//! The pop and move logic is also what the blocking commands serve a waiting client with, so it
//! is written as plain functions of a `Db` ([`pop_elems`], [`mpop`], [`move_elem`]) that the
//! handlers here merely wrap.

use bytes::Bytes;

use super::args::{is_cstr, parse_int};
use super::flags::*;
use super::propagate::{self, Rule};
use super::{keys, one_key, CmdError, CmdResult, Command, Ctx, Run};
use crate::db::notify::{self, class as ev};
use crate::db::{Db, KeyStats, Value};
use crate::resp::{BulkArray, Frame};
use crate::types::list::{Elem, End, List};

pub static COMMANDS: &[Command] = &[
    Command::new("lpush", -3, Run::Keyed(lpush))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@list", "@fast"])
        .keys(one_key()),
    Command::new("rpush", -3, Run::Keyed(rpush))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@list", "@fast"])
        .keys(one_key()),
    Command::new("lpushx", -3, Run::Keyed(lpushx))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@list", "@fast"])
        .keys(one_key()),
    Command::new("rpushx", -3, Run::Keyed(rpushx))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@list", "@fast"])
        .keys(one_key()),
    Command::new("lpop", -2, Run::Keyed(lpop))
        .propagates(Rule::UnlessEmpty)
        .flags(&[WRITE, FAST])
        .acl(&["@write", "@list", "@fast"])
        .keys(one_key()),
    Command::new("rpop", -2, Run::Keyed(rpop))
        .propagates(Rule::UnlessEmpty)
        .flags(&[WRITE, FAST])
        .acl(&["@write", "@list", "@fast"])
        .keys(one_key()),
    Command::new("llen", 2, Run::Keyed(llen))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@list", "@fast"])
        .keys(one_key()),
    Command::new("lrange", 4, Run::Keyed(lrange))
        .flags(&[READONLY])
        .acl(&["@read", "@list", "@slow"])
        .keys(one_key()),
    Command::new("lindex", 3, Run::Keyed(lindex))
        .flags(&[READONLY])
        .acl(&["@read", "@list", "@slow"])
        .keys(one_key()),
    Command::new("lset", 4, Run::Keyed(lset))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@list", "@slow"])
        .keys(one_key()),
    Command::new("linsert", 5, Run::Keyed(linsert))
        .propagates(Rule::Own(propagate::linsert))
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@list", "@slow"])
        .keys(one_key()),
    Command::new("lrem", 4, Run::Keyed(lrem))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE])
        .acl(&["@write", "@list", "@slow"])
        .keys(one_key()),
    Command::new("ltrim", 4, Run::Keyed(ltrim))
        .propagates(Rule::AsIs)
        .flags(&[WRITE])
        .acl(&["@write", "@list", "@slow"])
        .keys(one_key()),
    Command::new("lpos", -3, Run::Keyed(lpos))
        .flags(&[READONLY])
        .acl(&["@read", "@list", "@slow"])
        .keys(one_key()),
    Command::new("lmove", 5, Run::Keyed(lmove))
        .propagates(Rule::UnlessEmpty)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@list", "@slow"])
        .keys(keys(1, 2, 1)),
    Command::new("rpoplpush", 3, Run::Keyed(rpoplpush))
        .propagates(Rule::UnlessEmpty)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@list", "@slow"])
        .keys(keys(1, 2, 1)),
    Command::new("lmpop", -4, Run::Keyed(lmpop))
        .propagates(Rule::Own(propagate::blocked))
        .flags(&[WRITE, MOVABLEKEYS])
        .acl(&["@write", "@list", "@slow"]),
];

/// The list at `key`: `None` if absent, WRONGTYPE if the key holds another type.
pub fn lookup_list<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &mut KeyStats,
) -> Result<Option<&'a mut List>, CmdError> {
    match db.lookup(key, now, stats) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The list at `key`, created empty (with nodes following `fill`) if the key is absent. The
/// caller must add an element: Redis never stores an empty list.
fn list_for_push<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &mut KeyStats,
    fill: i32,
) -> Result<&'a mut List, CmdError> {
    if lookup_list(db, key, now, stats)?.is_none() {
        db.set(key, Value::List(Box::new(List::new(fill))), 0);
    }
    match db.get(key, now, stats).map(|e| &mut e.value) {
        Some(Value::List(l)) => Ok(l),
        _ => unreachable!("the key was just checked or created as a list"),
    }
}

/// Pops up to `count` elements from `end` of the list at `key`, deleting the key if that empties
/// it. `Ok(None)` when the key does not exist; WRONGTYPE when it is not a list. `count` 0 on an
/// existing list gives an empty vector and leaves it alone.
///
/// For the blocking layer: BLPOP/BRPOP serve a client with `count` 1.
pub fn pop_elems(
    db: &mut Db,
    stats: &mut KeyStats,
    now: u64,
    key: &[u8],
    end: End,
    count: usize,
) -> Result<Option<Vec<Bytes>>, CmdError> {
    let Some(list) = lookup_list(db, key, now, stats)? else {
        return Ok(None);
    };
    let n = count.min(list.len());
    let popped: Vec<Bytes> = (0..n).filter_map(|_| list.pop(end)).collect();
    let emptied = list.is_empty();
    if n > 0 {
        notify::emit(ev::LIST, pop_event(end), db.index(), key);
    }
    if emptied {
        db.remove(key);
        notify::emit(ev::GENERIC, "del", db.index(), key);
    }
    Ok(Some(popped))
}

/// LMPOP's work, and BLMPOP's when a list is ready: pops up to `count` elements from `end` of
/// the first non-empty list among `keys`, replying `[key, [elements...]]`. `Ok(None)` when all
/// are missing; WRONGTYPE for a non-list key met before a non-empty one.
pub fn mpop(
    db: &mut Db,
    stats: &mut KeyStats,
    now: u64,
    keys: &[Bytes],
    end: End,
    count: usize,
) -> Result<Option<Frame>, CmdError> {
    for key in keys {
        if let Some(popped) = pop_elems(db, stats, now, key, end, count)? {
            return Ok(Some(Frame::Array(vec![
                Frame::Bulk(key.clone()),
                Frame::Array(popped.into_iter().map(Frame::Bulk).collect()),
            ])));
        }
    }
    Ok(None)
}

/// LMOVE's work, and BLMOVE/BRPOPLPUSH's when the source is ready: pops from `from` of `src`
/// and pushes onto `to` of `dst` (created with `fill` if absent). `Ok(None)` when `src` does not
/// exist; WRONGTYPE when either key holds another type (then nothing moves). With `src == dst`
/// the list rotates.
#[allow(clippy::too_many_arguments)]
pub fn move_elem(
    db: &mut Db,
    stats: &mut KeyStats,
    now: u64,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    fill: i32,
) -> Result<Option<Bytes>, CmdError> {
    if lookup_list(db, src, now, stats)?.is_none() {
        return Ok(None);
    }
    if src != dst {
        lookup_list(db, dst, now, stats)?;
    }
    let list = lookup_list(db, src, now, stats)?.expect("looked up above");
    let Some(value) = list.pop(from) else {
        return Ok(None);
    };
    // A rotation's list is never empty for a moment: the element goes straight back.
    let emptied = list.is_empty() && src != dst;
    if emptied {
        db.remove(src);
    }
    list_for_push(db, dst, now, stats, fill)?.push(to, &value);
    // Redis announces the push before the pop.
    let index = db.index();
    notify::emit(ev::LIST, push_event(to), index, dst);
    notify::emit(ev::LIST, pop_event(from), index, src);
    if emptied {
        notify::emit(ev::GENERIC, "del", index, src);
    }
    Ok(Some(value))
}

fn push_generic(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let fill = ctx.ks.limits.list_max_listpack_size;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let key = &args[1];
    let list = if only_existing {
        match lookup_list(db, key, now, stats)? {
            Some(l) => l,
            None => return Ok(Frame::Integer(0)),
        }
    } else {
        list_for_push(db, key, now, stats, fill)?
    };
    for elem in &args[2..] {
        list.push(end, elem);
    }
    let len = list.len();
    ctx.notify(ev::LIST, push_event(end), key);
    Ok(Frame::Integer(len as i64))
}

/// The events of a push and a pop at `end`, as Redis names them.
fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Head, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Head, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Tail, true)
}

/// LPOP and RPOP: without a count one element or a null; with one an array, or a null array
/// when the key is missing.
fn pop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    // The row's arity (-2) admits any number of arguments; Redis then allows only the count.
    if args.len() > 3 {
        let name = if end == End::Head { "lpop" } else { "rpop" };
        return Err(CmdError::Raw(format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
    }
    let count = match args.get(2) {
        Some(a) => Some(parse_positive(
            a,
            "value is out of range, must be positive",
        )?),
        None => None,
    };
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let popped = pop_elems(db, stats, now, &args[1], end, count.unwrap_or(1))?;
    Ok(match (popped, count) {
        (None, None) => Frame::Null,
        (None, Some(_)) => Frame::NullArray,
        (Some(mut v), None) => v.pop().map_or(Frame::Null, Frame::Bulk),
        (Some(v), Some(_)) => Frame::Array(v.into_iter().map(Frame::Bulk).collect()),
    })
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, End::Head)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, End::Tail)
}

/// A non-negative integer argument; anything else is the error `msg`, as Redis's
/// `getPositiveLongFromObjectOrReply` reports it.
fn parse_positive(a: &[u8], msg: &str) -> Result<usize, CmdError> {
    match parse_int(a) {
        Ok(n) if n >= 0 => Ok(n as usize),
        _ => Err(CmdError::err(msg)),
    }
}

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let len = lookup_list(db, &args[1], now, stats)?.map_or(0, |l| l.len());
    Ok(Frame::Integer(len as i64))
}

/// Redis's start/stop clamping shared by LRANGE and LTRIM: the inclusive range, or `None` when
/// it is empty.
fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = parse_int(&args[2])?;
    let stop = parse_int(&args[3])?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(list) = lookup_list(db, &args[1], now, stats)? else {
        return Ok(Frame::Array(Vec::new()));
    };
    let Some((a, b)) = clamp_range(start, stop, list.len()) else {
        return Ok(Frame::Array(Vec::new()));
    };
    // Written straight out (a 10M-element range is its bytes, not 10M frames), sized first.
    let range = || list.iter_from(a).take(b - a + 1);
    let size = range()
        .map(|e| e.with_bytes(|b| BulkArray::element_len(b.len())))
        .sum();
    let mut reply = BulkArray::new(b - a + 1, size).ok_or(CmdError::Overflow)?;
    range().for_each(|e| e.with_bytes(|b| reply.push(b)));
    Ok(reply.finish())
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(list) = lookup_list(db, &args[1], now, stats)? else {
        return Ok(Frame::Null);
    };
    let index = parse_int(&args[2])?;
    Ok(list
        .get(index)
        .map_or(Frame::Null, |e| Frame::Bulk(e.to_bytes())))
}

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let list = lookup_list(db, &args[1], now, stats)?.ok_or(CmdError::NoSuchKey)?;
    let index = parse_int(&args[2])?;
    if !list.set(index, &args[3]) {
        return Err(CmdError::OutOfRange);
    }
    ctx.notify(ev::LIST, "lset", &args[1]);
    Ok(Frame::ok())
}

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let after = if is_cstr(&args[2], "after") {
        true
    } else if is_cstr(&args[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(list) = lookup_list(db, &args[1], now, stats)? else {
        return Ok(Frame::Integer(0));
    };
    let pivot = Elem::of(&args[3]);
    let Some(at) = list.iter().position(|e| e == pivot) else {
        return Ok(Frame::Integer(-1));
    };
    list.insert(at + after as usize, &args[4]);
    let len = list.len();
    ctx.notify(ev::LIST, "linsert", &args[1]);
    Ok(Frame::Integer(len as i64))
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let count = parse_int(&args[2])?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(list) = lookup_list(db, &args[1], now, stats)? else {
        return Ok(Frame::Integer(0));
    };
    let removed = list.remove_matches(&args[3], count);
    let emptied = list.is_empty();
    if emptied {
        db.remove(&args[1]);
    }
    if removed > 0 {
        ctx.notify(ev::LIST, "lrem", &args[1]);
    }
    if emptied {
        ctx.notify(ev::GENERIC, "del", &args[1]);
    }
    Ok(Frame::Integer(removed as i64))
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = parse_int(&args[2])?;
    let stop = parse_int(&args[3])?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(list) = lookup_list(db, &args[1], now, stats)? else {
        return Ok(Frame::ok());
    };
    match clamp_range(start, stop, list.len()) {
        Some((a, b)) => list.retain_range(a, b),
        None => list.remove_end(End::Tail, list.len()),
    }
    let emptied = list.is_empty();
    if emptied {
        db.remove(&args[1]);
    }
    ctx.notify(ev::LIST, "ltrim", &args[1]);
    if emptied {
        ctx.notify(ev::GENERIC, "del", &args[1]);
    }
    Ok(Frame::ok())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // COUNT absent is -1, as in Redis: COUNT 0 means "all matches".
    let (mut rank, mut count, mut maxlen) = (1i64, -1i64, 0i64);
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = &args[j];
        if is_cstr(opt, "rank") && more {
            rank = parse_int(&args[j + 1])?;
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is_cstr(opt, "count") && more {
            count = parse_positive(&args[j + 1], "COUNT can't be negative")? as i64;
        } else if is_cstr(opt, "maxlen") && more {
            maxlen = parse_positive(&args[j + 1], "MAXLEN can't be negative")? as i64;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    let with_count = count != -1;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(list) = lookup_list(db, &args[1], now, stats)? else {
        return Ok(if with_count {
            Frame::Array(Vec::new())
        } else {
            Frame::Null
        });
    };
    let from_tail = rank < 0;
    // Redis negates a negative rank in a C long: RANK -9223372036854775808 stays negative, so
    // every match counts as reached and, with COUNT, the count limit is never met. The
    // wrapping arithmetic below reproduces that.
    if from_tail {
        rank = rank.wrapping_neg();
    }
    let len = list.len() as i64;
    let target = Elem::of(&args[2]);
    let elems: Box<dyn Iterator<Item = Elem>> = if from_tail {
        Box::new(list.iter_rev())
    } else {
        Box::new(list.iter())
    };
    let limit = if maxlen == 0 {
        usize::MAX
    } else {
        maxlen as usize
    };
    let (mut matches, mut found) = (0i64, Vec::new());
    for (index, e) in elems.take(limit).enumerate() {
        if e != target {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        let index = index as i64;
        found.push(if from_tail { len - index - 1 } else { index });
        let done =
            !with_count || (count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count);
        if done {
            break;
        }
    }
    Ok(if with_count {
        Frame::Array(found.into_iter().map(Frame::Integer).collect())
    } else {
        found.first().map_or(Frame::Null, |&i| Frame::Integer(i))
    })
}

/// LEFT or RIGHT, as LMOVE and LMPOP spell the ends.
pub fn parse_end(a: &[u8]) -> Result<End, CmdError> {
    if is_cstr(a, "left") {
        Ok(End::Head)
    } else if is_cstr(a, "right") {
        Ok(End::Tail)
    } else {
        Err(CmdError::Syntax)
    }
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let from = parse_end(&args[3])?;
    let to = parse_end(&args[4])?;
    move_reply(ctx, &args[1], &args[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    move_reply(ctx, &args[1], &args[2], End::Tail, End::Head)
}

fn move_reply(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let fill = ctx.ks.limits.list_max_listpack_size;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(move_elem(db, stats, now, src, dst, from, to, fill)?.map_or(Frame::Null, Frame::Bulk))
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (keys, end, count) = parse_mpop(args, 1)?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(mpop(db, stats, now, keys, end, count)?.unwrap_or(Frame::NullArray))
}

/// The arguments of LMPOP (and BLMPOP, whose `numkeys` is at index 2): the keys, the end and
/// the count, checked in Redis's order.
pub fn parse_mpop(args: &[Bytes], numkeys_at: usize) -> Result<(&[Bytes], End, usize), CmdError> {
    let numkeys = match parse_int(&args[numkeys_at]) {
        Ok(n) if n > 0 => n as u64,
        _ => return Err(CmdError::err("numkeys should be greater than 0")),
    };
    let first = numkeys_at + 1;
    let end_at = (first as u64).saturating_add(numkeys);
    if end_at >= args.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let end_at = end_at as usize;
    let end = parse_end(&args[end_at])?;
    let mut count = None;
    let mut j = end_at + 1;
    while j < args.len() {
        if is_cstr(&args[j], "count") && j + 1 < args.len() && count.is_none() {
            count = Some(match parse_int(&args[j + 1]) {
                Ok(n) if n > 0 => n as usize,
                _ => return Err(CmdError::err("count should be greater than 0")),
            });
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((&args[first..end_at], end, count.unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Db, KeyStats) {
        let mut db = Db::default();
        db.set(
            b"l",
            Value::List(Box::new(List::from_elems(-2, ["a", "b", "c"]))),
            0,
        );
        db.set(b"s", Value::from_bytes(b"v"), 0);
        (db, KeyStats::default())
    }

    fn contents(db: &mut Db, stats: &mut KeyStats, key: &[u8]) -> Option<Vec<Bytes>> {
        lookup_list(db, key, 0, stats)
            .unwrap()
            .map(|l| l.iter().map(|e| e.to_bytes()).collect())
    }

    #[test]
    fn pop_elems_deletes_emptied_lists() {
        let (mut db, mut st) = setup();
        assert_eq!(pop_elems(&mut db, &mut st, 0, b"x", End::Head, 1), Ok(None));
        assert_eq!(
            pop_elems(&mut db, &mut st, 0, b"s", End::Head, 1),
            Err(CmdError::WrongType)
        );
        assert_eq!(
            pop_elems(&mut db, &mut st, 0, b"l", End::Tail, 0),
            Ok(Some(vec![]))
        );
        let got = pop_elems(&mut db, &mut st, 0, b"l", End::Tail, 5).unwrap();
        assert_eq!(
            got,
            Some(vec![Bytes::from("c"), Bytes::from("b"), Bytes::from("a")])
        );
        assert!(db.peek(b"l").is_none());
    }

    #[test]
    fn move_elem_checks_both_types_before_moving() {
        let (mut db, mut st) = setup();
        let moved = move_elem(&mut db, &mut st, 0, b"l", b"s", End::Head, End::Tail, -2);
        assert_eq!(moved, Err(CmdError::WrongType));
        assert_eq!(contents(&mut db, &mut st, b"l").unwrap().len(), 3);
        let moved = move_elem(&mut db, &mut st, 0, b"l", b"l", End::Head, End::Tail, -2);
        assert_eq!(moved, Ok(Some(Bytes::from("a"))));
        assert_eq!(
            contents(&mut db, &mut st, b"l"),
            Some(vec![Bytes::from("b"), Bytes::from("c"), Bytes::from("a")])
        );
        for _ in 0..3 {
            move_elem(&mut db, &mut st, 0, b"l", b"n", End::Tail, End::Head, -2).unwrap();
        }
        assert!(db.peek(b"l").is_none());
        assert_eq!(
            contents(&mut db, &mut st, b"n"),
            Some(vec![Bytes::from("b"), Bytes::from("c"), Bytes::from("a")])
        );
        assert_eq!(
            move_elem(&mut db, &mut st, 0, b"l", b"n", End::Tail, End::Head, -2),
            Ok(None)
        );
    }

    #[test]
    fn mpop_takes_the_first_non_empty_list() {
        let (mut db, mut st) = setup();
        let keys = [Bytes::from("x"), Bytes::from("l"), Bytes::from("s")];
        let reply = mpop(&mut db, &mut st, 0, &keys, End::Head, 2).unwrap();
        assert_eq!(
            reply,
            Some(Frame::Array(vec![
                Frame::Bulk(Bytes::from("l")),
                Frame::Array(vec![
                    Frame::Bulk(Bytes::from("a")),
                    Frame::Bulk(Bytes::from("b"))
                ]),
            ]))
        );
        let keys = [Bytes::from("x"), Bytes::from("s"), Bytes::from("l")];
        assert_eq!(
            mpop(&mut db, &mut st, 0, &keys, End::Head, 1),
            Err(CmdError::WrongType)
        );
        assert_eq!(
            mpop(&mut db, &mut st, 0, &keys[..1], End::Head, 1),
            Ok(None)
        );
    }
}
