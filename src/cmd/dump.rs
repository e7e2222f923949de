//! DUMP and RESTORE: a key's value as Redis's serialized payload (RDB value, RDB version, CRC64),
//! so that values move between Tessera and Redis in both directions.

use bytes::Bytes;

use super::args::parse_int;
use super::flags::*;
use super::propagate::{self, Rule};
use super::{one_key, CmdError, CmdResult, Command, Ctx, Run};
use crate::db::notify::class as ev;
use crate::db::{lru_clock, Entry};
use crate::rdb;
use crate::resp::Frame;

pub static COMMANDS: &[Command] = &[
    Command::new("dump", 2, Run::Keyed(dump))
        .flags(&[READONLY])
        .acl(&["@keyspace", "@read", "@slow"])
        .keys(one_key()),
    Command::new("restore", -4, Run::Keyed(restore))
        .propagates(Rule::Own(propagate::restore))
        .flags(&[WRITE, DENYOOM])
        .acl(&["@keyspace", "@write", "@slow", "@dangerous"])
        .keys(one_key()),
];

fn dump(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now;
    let (db, stats) = ctx.db();
    Ok(match db.lookup(&args[1], now, stats) {
        // rdbcompression's default; the setting does not reach keyed handlers yet.
        Some(e) => Frame::bulk(rdb::dump_payload(&e.value, true)),
        None => Frame::Null,
    })
}

/// RESTORE's options, checked in Redis's order: all of them before the key or the payload.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle: Option<i64>,
    freq: Option<i64>,
}

fn restore_opts(args: &[Bytes]) -> Result<RestoreOpts, CmdError> {
    let mut o = RestoreOpts::default();
    let mut i = 4;
    while i < args.len() {
        let has_arg = i + 1 < args.len();
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"replace") {
            o.replace = true;
        } else if a.eq_ignore_ascii_case(b"absttl") {
            o.absttl = true;
        } else if a.eq_ignore_ascii_case(b"idletime") && has_arg && o.freq.is_none() {
            let v = parse_int(&args[i + 1])?;
            if v < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            o.idle = Some(v);
            i += 1;
        } else if a.eq_ignore_ascii_case(b"freq") && has_arg && o.idle.is_none() {
            let v = parse_int(&args[i + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            o.freq = Some(v);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

fn restore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = restore_opts(args)?;
    let now = ctx.now;
    let limits = ctx.ks.limits;
    let (db, stats) = ctx.db();
    let key = &args[1];
    if !opts.replace && db.contains(key, now, stats) {
        return Err(CmdError::Raw(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let ttl = parse_int(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let payload = &args[3];
    if rdb::verify_dump_payload(payload).is_err() {
        return Err(CmdError::err("DUMP payload version or checksum are wrong"));
    }
    let value =
        rdb::decode_dump_value(payload, &limits).map_err(|_| CmdError::err("Bad data format"))?;
    let replaced = opts.replace && db.remove(key).is_some();
    // A relative TTL that overflows wraps into the past, as in Redis: the key is then expired.
    let expire_at = match (ttl, opts.absttl) {
        (0, _) => 0,
        (t, true) => t,
        (t, false) => t.wrapping_add(now as i64),
    };
    if ttl != 0 && expire_at <= now as i64 {
        if replaced {
            ctx.notify(ev::GENERIC, "del", key);
        }
        return Ok(Frame::ok());
    }
    let mut entry = Entry::new(value);
    entry.expire_at = expire_at as u64;
    // As Redis's objectSetLRUOrLFU: FREQ counts under an LFU policy, IDLETIME under any other.
    match (stats.lfu.is_some(), opts.freq, opts.idle) {
        (true, Some(f), _) => entry.freq = f as u8,
        (false, _, Some(idle)) => {
            let clock = lru_clock();
            entry.access = clock - idle.min(clock as i64) as u32;
        }
        _ => {}
    }
    db.insert_entry(key, entry);
    ctx.notify(ev::GENERIC, "restore", key);
    Ok(Frame::ok())
}
