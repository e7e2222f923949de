//! What a write command is logged as, so that replaying the log later gives the same data,
//! whenever and wherever it is replayed.
//!
//! [`propagate`] is called after a write command ran successfully (its reply is not an error)
//! with the `now` the command ran with. It follows what Redis 7.0 propagates (t_string.c,
//! expire.c, t_set.c, t_list.c, t_zset.c, blocked.c: `rewriteClientCommandVector`,
//! `alsoPropagate`): relative times become absolute, random choices become the choice made,
//! blocking commands become the non-blocking command that did the work, and a command that
//! changed nothing is not logged. Each write command's row states which [`Rule`] applies
//! (`.propagates(...)` beside its handler); the rules, command by command:
//!
//! | command | logged as |
//! |---|---|
//! | SET with EX/PX/EXAT/PXAT | `SET key value PXAT <abs ms>` (NX/XX/GET dropped: it did set); not at all when NX/XX stopped it |
//! | SET otherwise (KEEPTTL, GET, NX, XX) | as is; not at all when NX/XX stopped it |
//! | SETEX, PSETEX | `SET key value PXAT <abs ms>` |
//! | SETNX, MSETNX | as is; not at all when the reply is 0 |
//! | GETSET | `SET key value` (as Redis 7.0) |
//! | GETEX EX/PX/EXAT/PXAT | `PEXPIREAT key <abs ms>`, or `DEL key` when that time has passed |
//! | GETEX PERSIST | `PERSIST key`; GETEX without option, or on a missing key: nothing |
//! | GETDEL | `DEL key`; nothing when the key was missing |
//! | INCRBYFLOAT | `SET key <new value> KEEPTTL` (float text is what counts, as in Redis) |
//! | HINCRBYFLOAT | `HSET key field <new value>` |
//! | EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT | `PEXPIREAT key <abs ms>`, or `DEL key` when that time has passed; nothing when the reply is 0 |
//! | RESTORE with a relative TTL | the TTL made absolute, with ABSTTL; `DEL key` (REPLACE) or nothing when it has passed |
//! | SPOP | `SREM key <the popped members>` (batches of 1024); nothing when nothing was popped |
//! | BLPOP, BRPOP (served at once or later) | `LPOP key` / `RPOP key` for the key the reply names |
//! | BLMOVE, BRPOPLPUSH | `LMOVE src dst LEFT\|RIGHT LEFT\|RIGHT` / `RPOPLPUSH src dst` |
//! | BLMPOP, LMPOP | `LPOP key <count>` / `RPOP key <count>`, count = elements popped |
//! | BZPOPMIN, BZPOPMAX | `ZPOPMIN key` / `ZPOPMAX key` |
//! | BZMPOP, ZMPOP | `ZPOPMIN key <count>` / `ZPOPMAX key <count>` |
//! | a blocking command that timed out (null reply) | nothing |
//! | DEL, UNLINK, PERSIST, RENAMENX, MOVE, SADD, SREM, SMOVE, ZREM, ZREMRANGEBY*, HDEL, HSETNX, LPUSHX, RPUSHX, LREM | as is; nothing when the reply is 0 |
//! | LPOP, RPOP, ZPOPMIN, ZPOPMAX, LMOVE, RPOPLPUSH | as is (deterministic); nothing when nothing was popped |
//! | LINSERT | as is; nothing when the reply is 0 or -1 |
//! | SORT ... STORE | [`Propagation::Restate`] of the destination: its BY/GET patterns may read keys of other shards |
//! | SORT without STORE | nothing |
//! | COPY | [`Propagation::Restate`] of the destination (its source may live on another shard); nothing when the reply is 0 |
//! | FLUSHDB, FLUSHALL, SWAPDB | as is (the loader handles them) |
//! | everything else (APPEND, SETRANGE, INCR*, DECR*, MSET, SETBIT, BITFIELD, BITOP, RENAME, LPUSH, RPUSH, LSET, LTRIM, *STORE, ZADD, ZINCRBY, HSET, HMSET, HINCRBY...) | as is: deterministic given the data |
//!
//! Multi-key commands whose keys span shards run on their keys lent to one shard (see
//! [`crate::shard::tx`]); [`records_by_shard`] routes their records to the shards that own
//! the keys, splitting moves into their two halves, and the transaction brackets each shard's
//! part with `TESSERA.TX`.
//! Two more records the runtime must write, that no command's reply shows: a `DEL key` for
//! every key expired (lazily or by the active cycle) or evicted, as Redis does, since the
//! loader expires nothing and a later command must not find the old value.

use bytes::Bytes;

use crate::cmd::args::{is_cstr, parse_int};
use crate::cmd::list::parse_mpop;
use crate::cmd::string::expire_at;
use crate::cmd::zset::parse_zmpop;
use crate::cmd::Table;
use crate::db::Entry;
use crate::resp::Frame;
use crate::types::list::End;

use crate::aof::records::restate;

/// What to log for one executed write command.
#[derive(Debug, Clone, PartialEq)]
pub enum Propagation {
    /// The command's own arguments.
    AsIs,
    /// Nothing: the command changed nothing.
    Nothing,
    /// These commands instead, in order, in the command's database.
    Rewritten(Vec<Vec<Bytes>>),
    /// The values these `(db, key)` hold after the command, logged with [`restate`] on the
    /// shard that owns each key: the command's effect cannot be told from its arguments and
    /// reply alone.
    Restate(Vec<(usize, Bytes)>),
}

/// What a write command's row says it logs (`Command::propagates`): every write row states
/// one (a test checks), so that a new write command gets a decision.
#[derive(Clone, Copy)]
pub enum Rule {
    /// The command as it was sent: deterministic given the data.
    AsIs,
    /// As sent, or nothing when the reply is 0 (nothing changed).
    UnlessZero,
    /// As sent, or nothing when nothing was popped (a null or empty reply).
    UnlessEmpty,
    /// A rule of its own, given the row's name, the database, the arguments, the reply and the
    /// command's `now`.
    Own(OwnRule),
}

pub type OwnRule =
    fn(name: &str, db: usize, args: &[Bytes], reply: &Frame, now: u64) -> Propagation;

/// Members per SREM when logging a big SPOP, as Redis batches them.
const SPOP_BATCH: usize = 1024;

/// What the successfully executed write command `name` (the table row's lower-case name; a
/// client's spelling works too) must be logged as. `args` are the command's arguments, name
/// included; `reply` its reply; `now` the time it ran with (`Ctx::now`); `db` its database.
pub fn propagate(name: &str, db: usize, args: &[Bytes], reply: &Frame, now: u64) -> Propagation {
    match Table::get().lookup(name.as_bytes()) {
        Some(cmd) => propagate_row(cmd, db, args, reply, now),
        None => Propagation::Nothing,
    }
}

/// [`propagate`] for a command whose row is at hand: what its rule says.
pub fn propagate_row(
    cmd: &super::Command,
    db: usize,
    args: &[Bytes],
    reply: &Frame,
    now: u64,
) -> Propagation {
    if reply.is_error() || !cmd.is_write() {
        return Propagation::Nothing;
    }
    match cmd.propagates {
        None | Some(Rule::AsIs) => Propagation::AsIs,
        Some(Rule::UnlessZero) => match reply {
            Frame::Integer(0) => Propagation::Nothing,
            _ => Propagation::AsIs,
        },
        Some(Rule::UnlessEmpty) => match reply {
            Frame::Array(a) | Frame::Set(a) if a.is_empty() => Propagation::Nothing,
            r if is_null(r) => Propagation::Nothing,
            _ => Propagation::AsIs,
        },
        // Every such rule reads the key; the arity check guarantees one.
        Some(Rule::Own(_)) if args.len() < 2 => Propagation::Nothing,
        Some(Rule::Own(f)) => f(cmd.name, db, args, reply, now),
    }
}

/// One command instead of the one sent.
fn one(cmd: &[&[u8]]) -> Propagation {
    Propagation::Rewritten(vec![cmd
        .iter()
        .map(|a| Bytes::copy_from_slice(a))
        .collect()])
}

/// SETEX and PSETEX: `SET key value PXAT <absolute ms>`.
pub fn setex(name: &str, _db: usize, args: &[Bytes], _reply: &Frame, now: u64) -> Propagation {
    let unit = if name == "setex" { 1000 } else { 1 };
    match parse_int(&args[2]).map(|n| expire_at(name, n, unit, false, now)) {
        Ok(Ok(at)) => one(&[b"SET", &args[1], &args[3], b"PXAT", ms(at).as_bytes()]),
        _ => Propagation::AsIs,
    }
}

/// LINSERT: nothing when the pivot or the list was missing (0, -1).
pub fn linsert(_: &str, _db: usize, _args: &[Bytes], reply: &Frame, _now: u64) -> Propagation {
    match reply {
        Frame::Integer(n) if *n <= 0 => Propagation::Nothing,
        _ => Propagation::AsIs,
    }
}

/// GETSET: `SET key value` (as Redis 7.0).
pub fn getset(_: &str, _db: usize, args: &[Bytes], _reply: &Frame, _now: u64) -> Propagation {
    match args {
        [_, key, value] => one(&[b"SET", key, value]),
        _ => Propagation::AsIs,
    }
}

/// GETDEL: `DEL key`, nothing when the key was missing.
pub fn getdel(_: &str, _db: usize, args: &[Bytes], reply: &Frame, _now: u64) -> Propagation {
    if is_null(reply) {
        Propagation::Nothing
    } else {
        one(&[b"DEL", &args[1]])
    }
}

/// INCRBYFLOAT: `SET key <new value> KEEPTTL`, the float's text being what counts.
pub fn incrbyfloat(_: &str, _db: usize, args: &[Bytes], reply: &Frame, _now: u64) -> Propagation {
    match reply {
        Frame::Bulk(v) => one(&[b"SET", &args[1], v, b"KEEPTTL"]),
        _ => Propagation::AsIs,
    }
}

/// HINCRBYFLOAT: `HSET key field <new value>`.
pub fn hincrbyfloat(_: &str, _db: usize, args: &[Bytes], reply: &Frame, _now: u64) -> Propagation {
    match (args, reply) {
        ([_, key, field, _], Frame::Bulk(v)) => one(&[b"HSET", key, field, v]),
        _ => Propagation::AsIs,
    }
}

/// SPOP: `SREM key <the popped members>`.
pub fn spop(_: &str, _db: usize, args: &[Bytes], reply: &Frame, _now: u64) -> Propagation {
    spop_members(&args[1], reply)
}

/// A blocking command (or LMPOP/ZMPOP) served: see [`blocked_served`].
pub fn blocked(_: &str, _db: usize, args: &[Bytes], reply: &Frame, _now: u64) -> Propagation {
    blocked_served(args, reply)
}

/// COPY: the destination's value, which may come from another shard.
pub fn copy(_: &str, db: usize, args: &[Bytes], reply: &Frame, _now: u64) -> Propagation {
    match reply {
        Frame::Integer(1) => Propagation::Restate(vec![(copy_target(db, args), args[2].clone())]),
        _ => Propagation::Nothing,
    }
}

/// The records for a blocked client served now, or a blocking command that found data at
/// once: `args` are the blocking command's, name first (BLPOP, BLMOVE, BZMPOP...; LMPOP and
/// ZMPOP too), `reply` what the client received. In `serve_ready`: the `Waiter`'s args and the
/// `Delivery::Reply` frame, logged in the waiter's database. A null reply (timeout) logs
/// nothing. (A BLMOVE served through a retry across shards is logged as any gathered command:
/// with [`restate`] of both keys.)
pub fn blocked_served(args: &[Bytes], reply: &Frame) -> Propagation {
    let Some(name) = args.first() else {
        return Propagation::Nothing;
    };
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    let rec = |parts: Vec<Bytes>| Propagation::Rewritten(vec![parts]);
    let word = |w: &'static str| Bytes::from_static(w.as_bytes());
    // The key the reply names, and what follows it.
    let (key, rest) = match reply {
        Frame::Array(items) if !items.is_empty() => match &items[0] {
            Frame::Bulk(k) => (Some(k.clone()), &items[1..]),
            _ => (None, &items[..0]),
        },
        _ => (None, &[][..]),
    };
    let nested_count = || match rest.first() {
        Some(Frame::Array(inner)) => inner.len(),
        _ => 0,
    };
    match name.as_str() {
        "blmove" | "brpoplpush" if args.len() >= 3 => {
            if is_null(reply) {
                return Propagation::Nothing;
            }
            if name == "brpoplpush" {
                rec(vec![word("RPOPLPUSH"), args[1].clone(), args[2].clone()])
            } else if args.len() >= 5 {
                rec(vec![
                    word("LMOVE"),
                    args[1].clone(),
                    args[2].clone(),
                    args[3].clone(),
                    args[4].clone(),
                ])
            } else {
                Propagation::Nothing
            }
        }
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => match key {
            Some(k) => {
                let cmd = match name.as_str() {
                    "blpop" => "LPOP",
                    "brpop" => "RPOP",
                    "bzpopmin" => "ZPOPMIN",
                    _ => "ZPOPMAX",
                };
                rec(vec![word(cmd), k])
            }
            None => Propagation::Nothing,
        },
        "blmpop" | "lmpop" | "bzmpop" | "zmpop" => {
            let (Some(k), n) = (key, nested_count()) else {
                return Propagation::Nothing;
            };
            if n == 0 {
                return Propagation::Nothing;
            }
            let numkeys_at = if name.starts_with('b') { 2 } else { 1 };
            let cmd = if name.ends_with("zmpop") {
                match parse_zmpop(args, numkeys_at) {
                    Ok((_, crate::cmd::zset::End::Min, _)) => "ZPOPMIN",
                    Ok((_, crate::cmd::zset::End::Max, _)) => "ZPOPMAX",
                    Err(_) => return Propagation::Nothing,
                }
            } else {
                match parse_mpop(args, numkeys_at) {
                    Ok((_, End::Head, _)) => "LPOP",
                    Ok((_, End::Tail, _)) => "RPOP",
                    Err(_) => return Propagation::Nothing,
                }
            };
            rec(vec![word(cmd), k, Bytes::from(n.to_string())])
        }
        _ => Propagation::Nothing,
    }
}

fn is_null(f: &Frame) -> bool {
    matches!(f, Frame::Null | Frame::NullArray)
}

fn ms(at: u64) -> String {
    at.to_string()
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL].
/// SET: absolute expiry times; nothing when NX/XX stopped it.
pub fn set(_: &str, _db: usize, args: &[Bytes], reply: &Frame, now: u64) -> Propagation {
    if args.len() < 3 {
        return Propagation::Nothing;
    }
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut expire: Option<(i64, bool, &[u8])> = None;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        if is_cstr(a, "nx") {
            nx = true;
        } else if is_cstr(a, "xx") {
            xx = true;
        } else if is_cstr(a, "get") {
            get = true;
        } else if let Some((unit, absolute)) = expire_option(a) {
            if let Some(v) = args.get(i + 1) {
                expire = Some((unit, absolute, v));
            }
            i += 1;
        }
        i += 1;
    }
    let stopped = match (get, nx, xx) {
        (false, _, _) => is_null(reply),
        (true, true, _) => !is_null(reply),
        (true, _, true) => is_null(reply),
        (true, false, false) => false,
    };
    if stopped {
        return Propagation::Nothing;
    }
    let Some((unit, absolute, v)) = expire else {
        return Propagation::AsIs;
    };
    match parse_int(v).map(|n| expire_at("set", n, unit, absolute, now)) {
        Ok(Ok(at)) => Propagation::Rewritten(vec![vec![
            Bytes::from_static(b"SET"),
            args[1].clone(),
            args[2].clone(),
            Bytes::from_static(b"PXAT"),
            Bytes::from(ms(at)),
        ]]),
        _ => Propagation::AsIs,
    }
}

/// EX, PX, EXAT, PXAT: (unit in ms, absolute).
fn expire_option(a: &[u8]) -> Option<(i64, bool)> {
    [
        ("ex", 1000, false),
        ("px", 1, false),
        ("exat", 1000, true),
        ("pxat", 1, true),
    ]
    .into_iter()
    .find(|(w, _, _)| is_cstr(a, w))
    .map(|(_, unit, absolute)| (unit, absolute))
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST].
/// GETEX: its new expiry as `PEXPIREAT`, or `PERSIST`; nothing without an option.
pub fn getex(_: &str, _db: usize, args: &[Bytes], reply: &Frame, now: u64) -> Propagation {
    if is_null(reply) {
        return Propagation::Nothing;
    }
    let key = args[1].clone();
    let mut out = None;
    let mut i = 2;
    while i < args.len() {
        if is_cstr(&args[i], "persist") {
            out = Some(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
        } else if let Some((unit, absolute)) = expire_option(&args[i]) {
            let at = args
                .get(i + 1)
                .and_then(|v| parse_int(v).ok())
                .and_then(|n| expire_at("getex", n, unit, absolute, now).ok());
            out = at.map(|at| deadline_record(&key, at, now));
            i += 1;
        }
        i += 1;
    }
    match out {
        Some(rec) => Propagation::Rewritten(vec![rec]),
        None => Propagation::Nothing,
    }
}

/// `PEXPIREAT key at`, or `DEL key` when `at` has passed, as Redis propagates an expiry.
fn deadline_record(key: &Bytes, at: u64, now: u64) -> Vec<Bytes> {
    if at <= now {
        vec![Bytes::from_static(b"DEL"), key.clone()]
    } else {
        vec![
            Bytes::from_static(b"PEXPIREAT"),
            key.clone(),
            Bytes::from(ms(at)),
        ]
    }
}

/// EXPIRE and friends, with the arithmetic of their handler.
/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `PEXPIREAT key <abs ms>`, or `DEL key` when past.
pub fn expire(name: &str, _db: usize, args: &[Bytes], reply: &Frame, now: u64) -> Propagation {
    if *reply != Frame::Integer(1) || args.len() < 3 {
        return Propagation::Nothing;
    }
    let Ok(mut when) = parse_int(&args[2]) else {
        return Propagation::AsIs;
    };
    if name == "expire" || name == "expireat" {
        when = when.saturating_mul(1000);
    }
    if name == "expire" || name == "pexpire" {
        when = when.saturating_add(now as i64);
    }
    let rec = if when <= now as i64 {
        vec![Bytes::from_static(b"DEL"), args[1].clone()]
    } else {
        deadline_record(&args[1], when as u64, now)
    };
    Propagation::Rewritten(vec![rec])
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f].
/// RESTORE with a relative TTL: the TTL made absolute (ABSTTL).
pub fn restore(_: &str, _db: usize, args: &[Bytes], _reply: &Frame, now: u64) -> Propagation {
    if args.len() < 4 {
        return Propagation::AsIs;
    }
    let Ok(ttl) = parse_int(&args[2]) else {
        return Propagation::AsIs;
    };
    if ttl <= 0 {
        return Propagation::AsIs;
    }
    let opts = &args[4..];
    let absttl = opts.iter().any(|a| is_cstr(a, "absttl"));
    let replace = opts.iter().any(|a| is_cstr(a, "replace"));
    let at = if absttl {
        ttl
    } else {
        ttl.saturating_add(now as i64)
    };
    if at <= now as i64 {
        return if replace {
            Propagation::Rewritten(vec![vec![Bytes::from_static(b"DEL"), args[1].clone()]])
        } else {
            Propagation::Nothing
        };
    }
    if absttl {
        return Propagation::AsIs;
    }
    let mut rec = args.to_vec();
    rec[2] = Bytes::from(at.to_string());
    rec.push(Bytes::from_static(b"ABSTTL"));
    Propagation::Rewritten(vec![rec])
}

fn spop_members(key: &Bytes, reply: &Frame) -> Propagation {
    let members: Vec<Bytes> = match reply {
        Frame::Bulk(m) => vec![m.clone()],
        Frame::Array(items) | Frame::Set(items) => items
            .iter()
            .filter_map(|f| match f {
                Frame::Bulk(m) => Some(m.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if members.is_empty() {
        return Propagation::Nothing;
    }
    Propagation::Rewritten(
        members
            .chunks(SPOP_BATCH)
            .map(|chunk| {
                let mut rec = vec![Bytes::from_static(b"SREM"), key.clone()];
                rec.extend_from_slice(chunk);
                rec
            })
            .collect(),
    )
}

/// SORT ... STORE dst: the destination restated; SORT without STORE wrote nothing.
/// SORT ... STORE: the destination's value (its BY/GET keys may live on other shards).
pub fn sort(_: &str, db: usize, args: &[Bytes], _reply: &Frame, _now: u64) -> Propagation {
    let store = args
        .iter()
        .enumerate()
        .skip(2)
        .filter(|(_, a)| is_cstr(a, "store"))
        .filter_map(|(i, _)| args.get(i + 1))
        .last();
    match store {
        Some(dst) => Propagation::Restate(vec![(db, dst.clone())]),
        None => Propagation::Nothing,
    }
}

/// COPY src dst [DB n] [REPLACE]: the destination's database.
fn copy_target(db: usize, args: &[Bytes]) -> usize {
    let mut target = db;
    let mut i = 3;
    while i < args.len() {
        if is_cstr(&args[i], "db") {
            if let Some(n) = args.get(i + 1).and_then(|a| parse_int(a).ok()) {
                target = n.max(0) as usize;
            }
            i += 1;
        }
        i += 1;
    }
    target
}

/// A command's records when its keys live on several shards, each on the shard that must log
/// it (replaying a shard's file sees only that shard's keys). `owner` names a key's shard;
/// `now_holds` is what a written key holds after the command (for [`restate`]). Returns
/// `(shard, db, record)` in order.
///
/// The records are [`propagate`]'s, routed by their keys. A record whose keys still span
/// shards is split where the effect is simple (LMOVE and RPOPLPUSH pop on one side and push
/// the moved element on the other, SMOVE removes and adds the member), so a move costs the
/// same whatever the lists' lengths; any other is logged as the resulting values of the keys
/// it writes.
pub fn records_by_shard(
    name: &str,
    db: usize,
    args: &[Bytes],
    reply: &Frame,
    now: u64,
    owner: impl Fn(&[u8]) -> usize,
    now_holds: impl Fn(usize, &[u8]) -> Option<Entry>,
) -> Vec<(usize, usize, Vec<Bytes>)> {
    let mut out = Vec::new();
    let commands = match propagate(name, db, args, reply, now) {
        Propagation::Nothing => return out,
        Propagation::AsIs => vec![args.to_vec()],
        Propagation::Rewritten(commands) => commands,
        Propagation::Restate(keys) => {
            for (db, key) in keys {
                let shard = owner(&key);
                for rec in restate(&key, now_holds(db, &key).as_ref()) {
                    out.push((shard, db, rec));
                }
            }
            return out;
        }
    };
    let table = Table::get();
    for rec in commands {
        let Some(cmd) = table.lookup(&rec[0]) else {
            continue;
        };
        let mut shards = cmd.key_positions(&rec).map(|p| owner(&rec[p]));
        let first = shards.next();
        if shards.all(|s| Some(s) == first) {
            // Every key on one shard (or none: it goes with the first key's, if any).
            out.push((first.unwrap_or(0), db, rec));
            continue;
        }
        if let Some(parts) = split_move(&rec, reply) {
            out.extend(parts.into_iter().map(|r| (owner(&r[1]), db, r)));
            continue;
        }
        for (p, access) in cmd.key_access(&rec) {
            if access.writes() {
                let key = &rec[p];
                for r in restate(key, now_holds(db, key).as_ref()) {
                    out.push((owner(key), db, r));
                }
            }
        }
    }
    out
}

/// LMOVE, RPOPLPUSH and SMOVE as their two one-key halves: what the source lost and what the
/// destination gained (the moved element is the reply).
fn split_move(rec: &[Bytes], reply: &Frame) -> Option<Vec<Vec<Bytes>>> {
    let b = Bytes::from_static;
    let name = rec[0].to_ascii_lowercase();
    match (name.as_slice(), reply) {
        (b"lmove", Frame::Bulk(elem)) if rec.len() == 5 => {
            let left = |a: &Bytes| a.eq_ignore_ascii_case(b"left");
            let pop = if left(&rec[3]) {
                b(b"LPOP")
            } else {
                b(b"RPOP")
            };
            let push = if left(&rec[4]) {
                b(b"LPUSH")
            } else {
                b(b"RPUSH")
            };
            Some(vec![
                vec![pop, rec[1].clone()],
                vec![push, rec[2].clone(), elem.clone()],
            ])
        }
        (b"rpoplpush", Frame::Bulk(elem)) if rec.len() == 3 => Some(vec![
            vec![b(b"RPOP"), rec[1].clone()],
            vec![b(b"LPUSH"), rec[2].clone(), elem.clone()],
        ]),
        (b"smove", Frame::Integer(1)) if rec.len() == 4 => Some(vec![
            vec![b(b"SREM"), rec[1].clone(), rec[3].clone()],
            vec![b(b"SADD"), rec[2].clone(), rec[3].clone()],
        ]),
        _ => None,
    }
}

/// Whether the table knows `name` as a write command (for tests and the runtime's checks).
pub fn is_write(name: &[u8]) -> bool {
    Table::get().lookup(name).is_some_and(|c| c.is_write())
}
