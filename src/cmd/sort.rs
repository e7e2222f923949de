//! SORT and SORT_RO: sort a list, set or sorted set, by its elements or by other keys.
//!
//! The sort itself is one keyed function over one keyspace, like every other command. What is
//! special is where its keys are: `BY weight_*` and `GET object_*` name keys built from the
//! elements, which may live on any shard and are known only after reading the source. So when
//! a pattern names other keys, the command reads the source's elements first, gathers the
//! source, the STORE destination and every key the patterns name under the transaction layer's
//! locks, checks that the source still names only those keys (or starts over), and sorts the
//! gathered copy. Sorting stays atomic, as in Redis.

use std::cmp::Ordering;

use bytes::Bytes;

use super::args::{is, parse_int};
use super::flags::*;
use super::propagate::{self, Rule};
use super::{boxed, Args, CmdError, CmdResult, Command, Ctx, Run, SessionFuture};
use crate::cmd::route::{run_gathered, run_keyed, run_where};
use crate::cmd::session::Session;
use crate::db::notify::{self, class as ev};
use crate::db::{Db, KeyStats, Value};
use crate::resp::Frame;
use crate::slot::key_owner;
use crate::types::list::{End, List};
use crate::types::numfmt::parse_f64_strict;

pub static COMMANDS: &[Command] = &[
    Command::new("sort", -2, Run::Session(sort))
        .counts_lookups(super::always)
        .propagates(Rule::Own(propagate::sort))
        .flags(&[WRITE, DENYOOM, MOVABLEKEYS])
        .acl(&[
            "@write",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ])
        .keys(super::one_key())
        .getkeys(sort_keys),
    Command::new("sort_ro", -2, Run::Session(sort_ro))
        .flags(&[READONLY, MOVABLEKEYS])
        .acl(&[
            "@read",
            "@set",
            "@sortedset",
            "@list",
            "@slow",
            "@dangerous",
        ])
        .keys(super::one_key())
        .getkeys(sort_keys),
];

/// The source key and, for SORT, the STORE destination (Redis's `sortGetKeys`).
fn sort_keys(args: &[Bytes]) -> Vec<(usize, &'static [&'static str])> {
    let mut keys: Vec<(usize, &'static [&'static str])> = vec![(1, &["RO", "access"])];
    if is(&args[0], "sort") {
        if let Some(p) = store_position(args) {
            keys.push((p, &["OW", "update"]));
        }
    }
    keys
}

/// Where the last STORE's key is, skipping option arguments as the parser does.
fn store_position(args: &[Bytes]) -> Option<usize> {
    let mut found = None;
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        if is(&args[j], "limit") && left >= 2 {
            j += 2;
        } else if (is(&args[j], "by") || is(&args[j], "get")) && left >= 1 {
            j += 1;
        } else if is(&args[j], "store") && left >= 1 {
            found = Some(j + 1);
            j += 1;
        }
        j += 1;
    }
    found
}

fn sort(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(run(s, args, false))
}

fn sort_ro(s: &mut Session, args: Args) -> SessionFuture<'_> {
    boxed(run(s, args, true))
}

/// Routes the sort: by the source and STORE keys alone when no pattern names other keys,
/// otherwise over every key the patterns name (see the module comment).
async fn run(s: &mut Session, args: Args, readonly: bool) -> Frame {
    let f = match (readonly, s.in_script) {
        (false, false) => sort_keyed,
        (true, false) => sort_ro_keyed,
        (false, true) => sort_in_script_keyed,
        (true, true) => sort_ro_in_script_keyed,
    };
    let table = super::Table::get();
    let cmd = table
        .lookup(if readonly { b"sort_ro" } else { b"sort" })
        .expect("SORT is in the table");
    let opts = match Options::parse(&args, readonly) {
        Ok(o) => o,
        Err(e) => return e.into(),
    };
    let patterns = opts.key_patterns();
    if patterns.is_empty() {
        return run_keyed(&s.node, s.tx.clone(), s.at(), cmd, f, None, args).await;
    }
    let db = s.db;
    loop {
        let source = args[1].clone();
        let elements = run_where(
            &s.node,
            s.tx.as_ref(),
            key_owner(&source, s.node.shards),
            vec![(db as u32, crate::types::blob::Blob::new(&source))],
            move |data| {
                let (d, stats) = data.ks.db(db);
                elements_of(d, stats, &source, crate::db::now_ms())
            },
        )
        .await;
        let elements = match elements {
            Ok(e) => e,
            Err(e) => return e.into(),
        };
        let mut keys = vec![args[1].clone()];
        keys.extend(opts.store.clone());
        keys.extend(named_keys(&patterns, &elements));
        keys.sort();
        keys.dedup();
        let gathered = keys.clone();
        let (source, now) = (args[1].clone(), crate::db::now_ms());
        let patterns2 = patterns.clone();
        let within = s.tx.clone();
        let ran = run_gathered(
            &s.node,
            within,
            s.at(),
            keys,
            cmd,
            f,
            args.clone(),
            move |scratch| {
                let (d, stats) = scratch.db(db);
                match elements_of(d, stats, &source, now) {
                    // The source changed since it was read: its elements may name other keys.
                    Ok(now_elements) => named_keys(&patterns2, &now_elements)
                        .iter()
                        .all(|k| gathered.binary_search(k).is_ok()),
                    Err(_) => true,
                }
            },
        )
        .await;
        if let Some(reply) = ran {
            return reply;
        }
    }
}

/// The keys the patterns name for `elements`.
fn named_keys(patterns: &[Bytes], elements: &[Bytes]) -> Vec<Bytes> {
    let mut keys = Vec::new();
    for p in patterns {
        for e in elements {
            if let Some((key, _)) = substitute(p, e) {
                keys.push(key);
            }
        }
    }
    keys
}

/// The elements of the source key, for finding the keys its patterns name.
fn elements_of(
    db: &mut Db,
    stats: &mut KeyStats,
    key: &[u8],
    now: u64,
) -> Result<Vec<Bytes>, CmdError> {
    match db.lookup_untouched(key, now, stats).map(|e| &e.value) {
        None => Ok(Vec::new()),
        Some(v) => source_elements(v),
    }
}

/// Every element of a list, set or sorted set, in the type's own order.
fn source_elements(v: &Value) -> Result<Vec<Bytes>, CmdError> {
    Ok(match v {
        Value::List(l) => l.iter().map(|e| e.to_bytes()).collect(),
        Value::Set(s) => s.iter().map(|m| m.to_bytes()).collect(),
        Value::ZSet(z) => z.iter().map(|(m, _)| Bytes::copy_from_slice(m)).collect(),
        _ => return Err(CmdError::WrongType),
    })
}

struct Options {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<Bytes>,
    by: Option<Bytes>,
    gets: Vec<Bytes>,
}

impl Options {
    fn parse(args: &[Bytes], readonly: bool) -> Result<Options, CmdError> {
        let mut o = Options {
            desc: false,
            alpha: false,
            limit: None,
            store: None,
            by: None,
            gets: Vec::new(),
        };
        let mut j = 2;
        while j < args.len() {
            let left = args.len() - j - 1;
            let a = &args[j];
            if is(a, "asc") {
                o.desc = false;
            } else if is(a, "desc") {
                o.desc = true;
            } else if is(a, "alpha") {
                o.alpha = true;
            } else if is(a, "limit") && left >= 2 {
                o.limit = Some((parse_int(&args[j + 1])?, parse_int(&args[j + 2])?));
                j += 2;
            } else if !readonly && is(a, "store") && left >= 1 {
                o.store = Some(args[j + 1].clone());
                j += 1;
            } else if is(a, "by") && left >= 1 {
                o.by = Some(args[j + 1].clone());
                j += 1;
            } else if is(a, "get") && left >= 1 {
                o.gets.push(args[j + 1].clone());
                j += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        Ok(o)
    }

    /// BY with a constant pattern means "do not sort".
    fn dont_sort(&self) -> bool {
        self.by.as_ref().is_some_and(|b| !b.contains(&b'*'))
    }

    /// The patterns that name other keys (not `#`, and with a `*` to substitute).
    fn key_patterns(&self) -> Vec<Bytes> {
        self.by
            .iter()
            .chain(&self.gets)
            .filter(|p| p.contains(&b'*') && &p[..] != b"#")
            .cloned()
            .collect()
    }
}

/// The key a pattern names for `subst`, and the hash field after `->` if any (Redis's
/// `lookupKeyByPattern`: the first `*` is replaced; `->` after it, not at the end, splits off
/// a field).
fn substitute(pattern: &[u8], subst: &[u8]) -> Option<(Bytes, Option<Bytes>)> {
    let star = memchr::memchr(b'*', pattern)?;
    let after = &pattern[star + 1..];
    let arrow = memchr::memmem::find(after, b"->").filter(|&i| i + 2 < after.len());
    let (postfix, field) = match arrow {
        Some(i) => (&after[..i], Some(Bytes::copy_from_slice(&after[i + 2..]))),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(star + subst.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(postfix);
    Some((Bytes::from(key), field))
}

/// The value a BY or GET pattern yields for `subst`: `#` is the element itself; a string key's
/// value, or a hash field's; nothing for a missing key, another type, or a constant pattern.
fn lookup_by_pattern(
    db: &mut Db,
    stats: &mut KeyStats,
    now: u64,
    pattern: &[u8],
    subst: &Bytes,
) -> Option<Bytes> {
    if pattern == b"#" {
        return Some(subst.clone());
    }
    let (key, field) = substitute(pattern, subst)?;
    let entry = db.lookup(&key, now, stats)?;
    match (&entry.value, field) {
        (Value::Str(s), None) => Some(s.to_bytes()),
        (Value::Hash(h), Some(f)) => h.get(&f).map(|v| v.to_bytes()),
        _ => None,
    }
}

fn sort_keyed(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, false, false)
}

fn sort_ro_keyed(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, true, false)
}

fn sort_in_script_keyed(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, false, true)
}

fn sort_ro_in_script_keyed(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, true, true)
}

/// One element being sorted and what it sorts by.
struct Item {
    element: Bytes,
    score: f64,
    by: Option<Bytes>,
}

fn sort_generic(ctx: &mut Ctx, args: &[Bytes], readonly: bool, in_script: bool) -> CmdResult {
    let mut o = Options::parse(args, readonly)?;
    let now = ctx.now;
    let limits = ctx.ks.limits;
    let (db, stats) = ctx.db();
    let source = db.lookup(&args[1], now, stats).map(|e| &e.value);
    let is_set = matches!(source, Some(Value::Set(_)));
    let mut dont_sort = o.dont_sort();
    // A set's iteration order is arbitrary; what is stored, or what a script sees (and may
    // write from), must not depend on it.
    if dont_sort && is_set && (o.store.is_some() || in_script) {
        dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let elements = match source {
        None => Vec::new(),
        Some(v) => source_elements(v)?,
    };
    let len = elements.len() as i64;
    let (limit_start, limit_count) = o.limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let mut items: Vec<Item> = if dont_sort && !is_set {
        // Lists and sorted sets keep their own order, read backwards for DESC.
        let mut picked: Vec<Bytes> = if end >= start {
            let n = (end - start + 1) as usize;
            if o.desc {
                elements
                    .into_iter()
                    .rev()
                    .skip(start as usize)
                    .take(n)
                    .collect()
            } else {
                elements.into_iter().skip(start as usize).take(n).collect()
            }
        } else {
            Vec::new()
        };
        end -= start;
        start = 0;
        picked
            .drain(..)
            .map(|element| Item {
                element,
                score: 0.0,
                by: None,
            })
            .collect()
    } else {
        elements
            .into_iter()
            .map(|element| Item {
                element,
                score: 0.0,
                by: None,
            })
            .collect()
    };
    let mut not_a_number = false;
    if !dont_sort {
        for item in &mut items {
            let by = match &o.by {
                Some(pattern) => match lookup_by_pattern(db, stats, now, pattern, &item.element) {
                    Some(v) => v,
                    None => continue,
                },
                None => item.element.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    item.by = Some(by);
                }
            } else {
                match sort_score(&by) {
                    Some(score) => item.score = score,
                    None => not_a_number = true,
                }
            }
        }
        let (alpha, by_pattern, desc) = (o.alpha, o.by.is_some(), o.desc);
        items.sort_by(|a, b| {
            let cmp = compare(a, b, alpha, by_pattern);
            if desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
    }
    if not_a_number {
        return Err(CmdError::err(
            "One or more scores can't be converted into double",
        ));
    }
    let picked: &[Item] = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let mut out: Vec<Option<Bytes>> = Vec::new();
    for item in picked {
        if o.gets.is_empty() {
            out.push(Some(item.element.clone()));
        }
        for pattern in &o.gets {
            out.push(lookup_by_pattern(db, stats, now, pattern, &item.element));
        }
    }
    let Some(store) = o.store else {
        return Ok(Frame::Array(
            out.into_iter()
                .map(|v| v.map_or(Frame::Null, Frame::Bulk))
                .collect(),
        ));
    };
    let stored = out.len();
    if stored == 0 {
        if db.remove(&store).is_some() {
            notify::emit(ev::GENERIC, "del", db.index(), &store);
        }
    } else {
        let mut list = List::new(limits.list_max_listpack_size);
        for v in &out {
            list.push(End::Tail, v.as_deref().unwrap_or(b""));
        }
        db.set(&store, Value::List(Box::new(list)), 0);
        notify::emit(ev::LIST, "sortstore", db.index(), &store);
    }
    Ok(Frame::Integer(stored as i64))
}

/// A sort weight read as Redis reads it with `strtod`: the whole string (leading blanks
/// allowed), not NaN, not out of range.
fn sort_score(b: &[u8]) -> Option<f64> {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace() && *c != 0x0b)?;
    parse_f64_strict(&b[start..])
}

fn compare(a: &Item, b: &Item, alpha: bool, by_pattern: bool) -> Ordering {
    if !alpha {
        // Equal weights fall back to the elements, so the result is deterministic.
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.element.cmp(&b.element));
    }
    if by_pattern {
        // A missing weight sorts first.
        return match (&a.by, &b.by) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        };
    }
    a.element.cmp(&b.element)
}
