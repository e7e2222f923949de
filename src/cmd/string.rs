//! String commands: GET, SET and its variants, counters, ranges, and the bitmap commands.
//!
//! SET, SETNX, SETEX, PSETEX and GETSET are all `set_generic` with different options, as in
//! Redis; the handlers here only parse arguments into those options.

use bytes::Bytes;

use super::args::{is, is_cstr, parse_int, ArgCursor};
use super::flags::*;
use super::propagate::{self, Rule};
use super::{keys, one_key, CmdError, CmdResult, Command, Ctx, Merge, Run};
use crate::db::notify::class as ev;
use crate::db::{Db, Entry, KeyStats, StrValue, Value};
use crate::resp::Frame;
use crate::types::longdouble;

/// The largest string a command may build, as Redis's default proto-max-bulk-len.
const MAX_STRING: usize = 512 * 1024 * 1024;

pub static COMMANDS: &[Command] = &[
    Command::new("get", 2, Run::Keyed(get))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@string", "@fast"])
        .keys(one_key()),
    Command::new("set", -3, Run::Keyed(set))
        .propagates(Rule::Own(propagate::set))
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@string", "@slow"])
        .keys(one_key())
        .getkeys(set_keys)
        .counts_lookups(set_reads),
    Command::new("setnx", 3, Run::Keyed(setnx))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("setex", 4, Run::Keyed(setex))
        .propagates(Rule::Own(propagate::setex))
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@string", "@slow"])
        .keys(one_key()),
    Command::new("psetex", 4, Run::Keyed(psetex))
        .propagates(Rule::Own(propagate::setex))
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@string", "@slow"])
        .keys(one_key()),
    Command::new("getset", 3, Run::Keyed(getset))
        .counts_lookups(super::always)
        .propagates(Rule::Own(propagate::getset))
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("getex", -2, Run::Keyed(getex))
        .counts_lookups(super::always)
        .propagates(Rule::Own(propagate::getex))
        .flags(&[WRITE, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("getdel", 2, Run::Keyed(getdel))
        .counts_lookups(super::always)
        .propagates(Rule::Own(propagate::getdel))
        .flags(&[WRITE, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("mget", -2, Run::Spread(mget, Merge::PerKey))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@string", "@fast"])
        .keys(keys(1, -1, 1)),
    Command::new("mset", -3, Run::Spread(mset, Merge::Ok))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@string", "@slow"])
        .keys(keys(1, -1, 2)),
    Command::new("msetnx", -3, Run::Keyed(msetnx))
        .propagates(Rule::UnlessZero)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@string", "@slow"])
        .keys(keys(1, -1, 2)),
    Command::new("incr", 2, Run::Keyed(incr))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("decr", 2, Run::Keyed(decr))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("incrby", 3, Run::Keyed(incrby))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("decrby", 3, Run::Keyed(decrby))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("incrbyfloat", 3, Run::Keyed(incrbyfloat))
        .propagates(Rule::Own(propagate::incrbyfloat))
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("append", 3, Run::Keyed(append))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM, FAST])
        .acl(&["@write", "@string", "@fast"])
        .keys(one_key()),
    Command::new("strlen", 2, Run::Keyed(strlen))
        .flags(&[READONLY, FAST])
        .acl(&["@read", "@string", "@fast"])
        .keys(one_key()),
    Command::new("getrange", 4, Run::Keyed(getrange))
        .flags(&[READONLY])
        .acl(&["@read", "@string", "@slow"])
        .keys(one_key()),
    Command::new("substr", 4, Run::Keyed(getrange))
        .flags(&[READONLY])
        .acl(&["@read", "@string", "@slow"])
        .keys(one_key()),
    Command::new("setrange", 4, Run::Keyed(setrange))
        .propagates(Rule::AsIs)
        .flags(&[WRITE, DENYOOM])
        .acl(&["@write", "@string", "@slow"])
        .keys(one_key()),
];

/// SET ... GET reads the old value as GET does, counting a keyspace hit or miss.
fn set_reads(args: &[Bytes]) -> bool {
    args.iter().skip(3).any(|a| is(a, "get"))
}

/// The string stored at `key`: `None` if absent, WRONGTYPE if it holds another type.
pub fn lookup_str<'a>(
    db: &'a mut Db,
    key: &[u8],
    now: u64,
    stats: &mut KeyStats,
) -> Result<Option<&'a mut Entry>, CmdError> {
    match db.lookup(key, now, stats) {
        None => Ok(None),
        Some(e) => match e.value {
            Value::Str(_) => Ok(Some(e)),
            #[allow(unreachable_patterns)]
            _ => Err(CmdError::WrongType),
        },
    }
}

fn str_of(e: &Entry) -> &StrValue {
    match &e.value {
        Value::Str(s) => s,
        #[allow(unreachable_patterns)]
        _ => unreachable!("lookup_str checked the type"),
    }
}

fn str_mut(e: &mut Entry) -> &mut StrValue {
    match &mut e.value {
        Value::Str(s) => s,
        #[allow(unreachable_patterns)]
        _ => unreachable!("lookup_str checked the type"),
    }
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(match lookup_str(db, &args[1], now, stats)? {
        Some(e) => Frame::Bulk(str_of(e).to_bytes()),
        None => Frame::Null,
    })
}

/// What a SET variant does to the key's expiry.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Expiry {
    /// No expiry option: the new value does not expire.
    None,
    At(u64),
    KeepTtl,
}

#[derive(Clone, Copy, PartialEq)]
enum Condition {
    Always,
    IfAbsent,
    IfPresent,
}

struct SetOptions {
    condition: Condition,
    expiry: Expiry,
    get: bool,
}

/// EX, PX, EXAT or PXAT.
#[derive(Clone, Copy, PartialEq)]
enum ExpireOption {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpireOption {
    fn named(a: &[u8]) -> Option<ExpireOption> {
        [
            ("ex", ExpireOption::Ex),
            ("px", ExpireOption::Px),
            ("exat", ExpireOption::ExAt),
            ("pxat", ExpireOption::PxAt),
        ]
        .into_iter()
        .find(|(word, _)| is_cstr(a, word))
        .map(|(_, option)| option)
    }

    /// The absolute expiry `arg` asks for, checked as Redis does (the error names `cmd`).
    fn deadline(self, cmd: &str, arg: &[u8], now: u64) -> Result<u64, CmdError> {
        let unit = if matches!(self, ExpireOption::Ex | ExpireOption::ExAt) {
            1000
        } else {
            1
        };
        let absolute = matches!(self, ExpireOption::ExAt | ExpireOption::PxAt);
        expire_at(cmd, parse_int(arg)?, unit, absolute, now)
    }
}

/// The options SET and GETEX share, as Redis's `parseExtendedStringArgumentsOrReply` reads
/// them: any order, an option may repeat (the last expire time wins), and only contradicting
/// ones are a syntax error. The expire time is only captured here; the commands check it later,
/// at the point where Redis does (GETEX on a missing key never looks at it).
#[derive(Default)]
struct ExtendedOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireOption, &'a [u8])>,
}

impl<'a> ExtendedOptions<'a> {
    /// Reads `args[from..]`; `set` chooses SET's options (NX, XX, GET, KEEPTTL) or GETEX's
    /// (PERSIST).
    fn parse(args: &'a [Bytes], from: usize, set: bool) -> Result<ExtendedOptions<'a>, CmdError> {
        let mut o = ExtendedOptions::default();
        let mut c = ArgCursor::new(args, from);
        while let Some(a) = c.peek() {
            c.next()?;
            // An expire option may repeat, but not change its kind.
            let expire_free = |option| {
                !o.keepttl && !o.persist && o.expire.is_none_or(|(kind, _)| kind == option)
            };
            if set && is_cstr(a, "nx") && !o.xx {
                o.nx = true;
            } else if set && is_cstr(a, "xx") && !o.nx {
                o.xx = true;
            } else if set && is_cstr(a, "get") {
                o.get = true;
            } else if set && is_cstr(a, "keepttl") && !o.persist && o.expire.is_none() {
                o.keepttl = true;
            } else if !set && is_cstr(a, "persist") && !o.keepttl && o.expire.is_none() {
                o.persist = true;
            } else if let Some(option) = ExpireOption::named(a).filter(|&opt| expire_free(opt)) {
                o.expire = Some((option, c.next()?));
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(o)
    }
}

/// Turns a relative or absolute expire argument into absolute Unix ms, with Redis's range
/// checks (the error names the command).
pub fn expire_at(
    cmd: &str,
    value: i64,
    unit_ms: i64,
    absolute: bool,
    now: u64,
) -> Result<u64, CmdError> {
    let invalid = || CmdError::InvalidExpire(cmd.to_string());
    if value <= 0 || (unit_ms == 1000 && value > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = value * unit_ms;
    if absolute {
        return Ok(ms as u64);
    }
    if ms > i64::MAX - now as i64 {
        return Err(invalid());
    }
    Ok((ms + now as i64) as u64)
}

/// The shared core of every SET variant. Replies as SET does (OK / nil, or the old value with
/// GET); callers with other replies translate.
fn set_generic(ctx: &mut Ctx, key: &[u8], value: &[u8], opts: SetOptions) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    // SET overwrites a key of any type; only GET needs the old value to be a string.
    let old_value = if opts.get {
        Some(lookup_str(db, key, now, stats)?.map(|e| str_of(e).to_bytes()))
    } else {
        None
    };
    let existed = match &old_value {
        Some(old) => old.is_some(),
        None => db.lookup(key, now, stats).is_some(),
    };
    let blocked = match opts.condition {
        Condition::IfAbsent => existed,
        Condition::IfPresent => !existed,
        Condition::Always => false,
    };
    if !blocked {
        let value = Value::from_bytes(value);
        match opts.expiry {
            Expiry::KeepTtl => db.set_keep_ttl(key, value),
            Expiry::At(at) => db.set(key, value, at),
            Expiry::None => db.set(key, value, 0),
        }
        ctx.notify(ev::STRING, "set", key);
        if let Expiry::At(_) = opts.expiry {
            ctx.notify(ev::GENERIC, "expire", key);
        }
    }
    Ok(match old_value {
        Some(Some(v)) => Frame::Bulk(v),
        Some(None) => Frame::Null,
        None if blocked => Frame::Null,
        None => Frame::ok(),
    })
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let o = ExtendedOptions::parse(args, 3, true)?;
    let expiry = match o.expire {
        Some((option, arg)) => Expiry::At(option.deadline("set", arg, ctx.now)?),
        None if o.keepttl => Expiry::KeepTtl,
        None => Expiry::None,
    };
    let condition = match (o.nx, o.xx) {
        (true, _) => Condition::IfAbsent,
        (_, true) => Condition::IfPresent,
        _ => Condition::Always,
    };
    set_generic(
        ctx,
        &args[1],
        &args[2],
        SetOptions {
            condition,
            expiry,
            get: o.get,
        },
    )
}

/// SET reads the old value only with GET, so its key's access flags depend on the options, as
/// Redis's `setGetKeys` reports them.
fn set_keys(args: &[Bytes]) -> Vec<(usize, &'static [&'static str])> {
    if args.iter().skip(3).any(|a| is_cstr(a, "get")) {
        vec![(1, &["RW", "access", "update"])]
    } else {
        vec![(1, &["OW", "update"])]
    }
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = SetOptions {
        condition: Condition::IfAbsent,
        expiry: Expiry::None,
        get: false,
    };
    let reply = set_generic(ctx, &args[1], &args[2], opts)?;
    Ok(Frame::Integer((reply == Frame::ok()) as i64))
}

fn setex_with(ctx: &mut Ctx, args: &[Bytes], unit: i64) -> CmdResult {
    let n = parse_int(&args[2])?;
    let at = expire_at(
        &String::from_utf8_lossy(&args[0]).to_lowercase(),
        n,
        unit,
        false,
        ctx.now,
    )?;
    let opts = SetOptions {
        condition: Condition::Always,
        expiry: Expiry::At(at),
        get: false,
    };
    set_generic(ctx, &args[1], &args[3], opts)
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setex_with(ctx, args, 1000)
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setex_with(ctx, args, 1)
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = SetOptions {
        condition: Condition::Always,
        expiry: Expiry::None,
        get: true,
    };
    set_generic(ctx, &args[1], &args[2], opts)
}

fn getex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let o = ExtendedOptions::parse(args, 2, false)?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(e) = lookup_str(db, &args[1], now, stats)? else {
        return Ok(Frame::Null);
    };
    let value = str_of(e).to_bytes();
    let e_had_ttl = e.expire_at != 0;
    match o.expire {
        Some((option, arg)) => {
            let at = option.deadline("getex", arg, now)?;
            if at <= now {
                db.remove(&args[1]);
                ctx.notify(ev::GENERIC, "del", &args[1]);
            } else {
                db.set_expire(&args[1], at);
                ctx.notify(ev::GENERIC, "expire", &args[1]);
            }
        }
        None if o.persist => {
            let had_ttl = e_had_ttl;
            db.set_expire(&args[1], 0);
            if had_ttl {
                ctx.notify(ev::GENERIC, "persist", &args[1]);
            }
        }
        None => {}
    }
    Ok(Frame::Bulk(value))
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(e) = lookup_str(db, &args[1], now, stats)? else {
        return Ok(Frame::Null);
    };
    let value = str_of(e).to_bytes();
    db.remove(&args[1]);
    ctx.notify(ev::GENERIC, "del", &args[1]);
    Ok(Frame::Bulk(value))
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let items = args[1..]
        .iter()
        .map(|k| match db.lookup(k, now, stats) {
            Some(Entry {
                value: Value::Str(s),
                ..
            }) => Frame::Bulk(s.to_bytes()),
            #[allow(unreachable_patterns)]
            _ => Frame::Null,
        })
        .collect();
    Ok(Frame::Array(items))
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::Raw(
            "ERR wrong number of arguments for 'mset' command".into(),
        ));
    }
    for pair in args[1..].chunks(2) {
        ctx.db().0.set(&pair[0], Value::from_bytes(&pair[1]), 0);
        ctx.notify(ev::STRING, "set", &pair[0]);
    }
    Ok(Frame::ok())
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::Raw(
            "ERR wrong number of arguments for 'msetnx' command".into(),
        ));
    }
    let now = ctx.now;
    let (db, stats) = ctx.db();
    if args[1..]
        .chunks(2)
        .any(|pair| db.contains(&pair[0], now, stats))
    {
        return Ok(Frame::Integer(0));
    }
    for pair in args[1..].chunks(2) {
        ctx.db().0.set(&pair[0], Value::from_bytes(&pair[1]), 0);
        ctx.notify(ev::STRING, "set", &pair[0]);
    }
    Ok(Frame::Integer(1))
}

/// INCR and friends: the current value must be an integer; overflow is an error.
fn incr_generic(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let current = match lookup_str(db, key, now, stats)? {
        None => 0,
        Some(e) => match str_of(e) {
            StrValue::Int(n) => *n,
            s => {
                let mut scratch = itoa::Buffer::new();
                parse_int(s.bytes(&mut scratch))?
            }
        },
    };
    let next = current.checked_add(by).ok_or(CmdError::IncrOverflow)?;
    match db.get(key, now, stats) {
        Some(e) => e.value = Value::Str(StrValue::Int(next)),
        None => db.set(key, Value::Str(StrValue::Int(next)), 0),
    }
    // Redis names every one of INCR, DECR, INCRBY and DECRBY "incrby".
    ctx.notify(ev::STRING, "incrby", key);
    Ok(Frame::Integer(next))
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    incr_generic(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    incr_generic(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = parse_int(&args[2])?;
    incr_generic(ctx, &args[1], by)
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = parse_int(&args[2])?;
    let by = by
        .checked_neg()
        .ok_or_else(|| CmdError::err("decrement would overflow"))?;
    incr_generic(ctx, &args[1], by)
}

fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let current = match lookup_str(db, &args[1], now, stats)? {
        None => Bytes::from_static(b"0"),
        Some(e) => str_of(e).to_bytes(),
    };
    let next = longdouble::incr_by_float(&current, &args[2])?;
    let value = Value::from_bytes_no_int(&next);
    db.set_keep_ttl(&args[1], value);
    ctx.notify(ev::STRING, "incrbyfloat", &args[1]);
    Ok(Frame::Bulk(Bytes::from(next)))
}

fn check_size(len: usize) -> Result<(), CmdError> {
    if len > MAX_STRING {
        return Err(CmdError::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

fn append(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let len = match lookup_str(db, &args[1], now, stats)? {
        None => {
            // A new key gets the same compact encoding SET would give it.
            db.set(&args[1], Value::from_bytes(&args[2]), 0);
            args[2].len()
        }
        Some(e) => {
            let s = str_mut(e);
            check_size(s.len() + args[2].len())?;
            let raw = s.make_raw();
            raw.extend_from_slice(&args[2]);
            raw.len()
        }
    };
    ctx.notify(ev::STRING, "append", &args[1]);
    Ok(Frame::Integer(len as i64))
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(Frame::Integer(
        lookup_str(db, &args[1], now, stats)?.map_or(0, |e| str_of(e).len() as i64),
    ))
}

fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = parse_int(&args[2])?;
    let end = parse_int(&args[3])?;
    let now = ctx.now;
    let (db, stats) = ctx.db();
    let Some(e) = lookup_str(db, &args[1], now, stats)? else {
        return Ok(Frame::bulk(Bytes::new()));
    };
    let mut scratch = itoa::Buffer::new();
    let s = str_of(e).bytes(&mut scratch);
    Ok(Frame::Bulk(Bytes::copy_from_slice(range_of(s, start, end))))
}

/// The bytes GETRANGE returns for inclusive, possibly negative indexes.
pub fn range_of(s: &[u8], start: i64, end: i64) -> &[u8] {
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { (len + end).max(0) } else { end };
    let end = end.min(len - 1);
    if len == 0 || start > end {
        return &[];
    }
    &s[start as usize..=end as usize]
}

fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let offset = parse_int(&args[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as usize;
    let value = &args[3];
    let now = ctx.now;
    let (db, stats) = ctx.db();
    match lookup_str(db, &args[1], now, stats)? {
        None => {
            if value.is_empty() {
                return Ok(Frame::Integer(0));
            }
            check_size(offset + value.len())?;
            let mut raw = vec![0u8; offset];
            raw.extend_from_slice(value);
            let len = raw.len();
            db.set(&args[1], Value::Str(StrValue::Raw(raw)), 0);
            ctx.notify(ev::STRING, "setrange", &args[1]);
            Ok(Frame::Integer(len as i64))
        }
        Some(e) => {
            let s = str_mut(e);
            if value.is_empty() {
                return Ok(Frame::Integer(s.len() as i64));
            }
            check_size(offset + value.len())?;
            let raw = s.make_raw();
            if raw.len() < offset + value.len() {
                raw.resize(offset + value.len(), 0);
            }
            raw[offset..offset + value.len()].copy_from_slice(value);
            let len = raw.len();
            ctx.notify(ev::STRING, "setrange", &args[1]);
            Ok(Frame::Integer(len as i64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::range_of;

    #[test]
    fn getrange_indexes() {
        assert_eq!(range_of(b"Hello", 0, -1), b"Hello");
        assert_eq!(range_of(b"Hello", -3, -1), b"llo");
        assert_eq!(range_of(b"Hello", 3, 100), b"lo");
        assert_eq!(range_of(b"Hello", -1, -3), b"");
        assert_eq!(range_of(b"", 0, -1), b"");
        assert_eq!(range_of(b"Hello", 4, 2), b"");
    }
}
