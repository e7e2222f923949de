//! Redis's own description of its commands, for COMMAND INFO, COMMAND DOCS and COMMAND GETKEYS.
//!
//! Redis 7.0 describes every command in far more detail than dispatch needs: key specs with
//! access flags, tips for cluster proxies, argument trees, history notes. Clients read them
//! (redis-cli builds its hints from COMMAND DOCS), so Tessera must give the same answers, and
//! they are facts about Redis rather than choices of ours. They are therefore recorded from a
//! live redis-server by `tools/gen-redis-commands.py` into `redis-commands.resp` (RESP3, which
//! keeps sets and maps apart from arrays, so the same data renders in both protocol versions)
//! and embedded here.
//!
//! The command table stays the source of everything dispatch reads: arity, flags, ACL
//! categories, key positions, which subcommands exist. This module only adds what nothing but
//! introspection needs, and `tests/command_table.rs` checks that the table agrees with a live
//! redis-server where the two overlap.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::resp::reply::parse_reply;
use crate::resp::Frame;
use crate::types::numfmt::parse_i64_strict;

/// Redis 7.0.15's COMMAND INFO and COMMAND DOCS, one record per top-level command.
static RECORDED: &[u8] = include_bytes!("redis-commands.resp");

/// What Redis says about one command or subcommand beyond its table row.
pub struct Reference {
    /// COMMAND INFO's tips element, as Redis writes it.
    pub tips: Frame,
    /// COMMAND INFO's key specs element, as Redis writes it.
    pub key_specs: Frame,
    /// The same key specs, parsed, to find keys for COMMAND GETKEYS.
    pub specs: Vec<Spec>,
    /// COMMAND DOCS's fields, in Redis's order; a container's include all of Redis's
    /// subcommands, which COMMAND DOCS narrows to the ones Tessera has.
    pub docs: Vec<(Frame, Frame)>,
}

/// One key spec: where to start looking for keys, how to find them from there, and what the
/// command does to them.
pub struct Spec {
    /// What the command does to the keys this spec finds (`RW`, `access`, ...).
    pub access: super::Access,
    /// Arguments that look like keys but are not (SPUBLISH's channel).
    pub not_key: bool,
    /// Some keys cannot be found by the spec alone (MIGRATE's KEYS list).
    pub incomplete: bool,
    /// The flags depend on other arguments (SET ... GET), so the command finds them itself.
    pub variable_flags: bool,
    begin: Begin,
    find: Find,
}

enum Begin {
    /// At a fixed argument index.
    Index(i64),
    /// Just after the first argument equal to `keyword`, searched from `startfrom` (negative:
    /// from the end, backwards).
    Keyword {
        keyword: Bytes,
        startfrom: i64,
    },
    Unknown,
}

enum Find {
    /// Keys every `keystep` arguments up to `lastkey` (relative to the first key; negative:
    /// from the end; with `limit`, only the first 1/limit of what remains).
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    /// A key count at `keynumidx`, the first key `firstkey` after it.
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

/// What Redis records about `name` (lower case; a subcommand as `parent|sub`), if it has it.
pub fn reference(name: &str) -> Option<&'static Reference> {
    static ALL: OnceLock<HashMap<String, Reference>> = OnceLock::new();
    ALL.get_or_init(|| load(RECORDED)).get(name)
}

fn load(recorded: &[u8]) -> HashMap<String, Reference> {
    let mut all = HashMap::new();
    let mut pos = 0;
    while pos < recorded.len() {
        // The file starts with `#` comment lines saying where it comes from.
        if recorded[pos] == b'#' {
            pos += memchr::memchr(b'\n', &recorded[pos..]).map_or(recorded.len() - pos, |n| n + 1);
            continue;
        }
        let (record, used) =
            parse_reply(&recorded[pos..]).expect("redis-commands.resp is valid RESP3");
        pos += used;
        let Frame::Array(mut parts) = record else {
            panic!("a record is an array")
        };
        let docs = parts.pop().expect("a record has docs");
        let info = parts.pop().expect("a record has info");
        add(&mut all, info, docs);
    }
    all
}

/// Adds a command and, recursively, its subcommands.
fn add(all: &mut HashMap<String, Reference>, info: Frame, docs: Frame) {
    let Frame::Array(mut fields) = info else {
        panic!("a COMMAND INFO entry is an array")
    };
    let subcommands = fields.pop().expect("COMMAND INFO has 10 elements");
    let key_specs = fields.pop().expect("COMMAND INFO has 10 elements");
    let tips = fields.pop().expect("COMMAND INFO has 10 elements");
    let name = text(&fields[0]).to_string();
    let Frame::Map(docs) = docs else {
        panic!("a COMMAND DOCS entry is a map")
    };
    if let Frame::Array(subs) = subcommands {
        let sub_docs = field(&docs, "subcommands");
        for sub in subs {
            let Frame::Array(sub_fields) = &sub else {
                panic!("a subcommand entry is an array")
            };
            let sub_name = text(&sub_fields[0]);
            let doc = match sub_docs {
                Some(Frame::Map(pairs)) => pairs
                    .iter()
                    .find(|(k, _)| text(k) == sub_name)
                    .map(|(_, v)| v.clone()),
                _ => None,
            };
            add(all, sub, doc.unwrap_or(Frame::Map(Vec::new())));
        }
    }
    let specs = match &key_specs {
        Frame::Array(items) | Frame::Set(items) => items.iter().map(parse_spec).collect(),
        _ => Vec::new(),
    };
    all.insert(
        name,
        Reference {
            tips,
            key_specs,
            specs,
            docs,
        },
    );
}

fn parse_spec(spec: &Frame) -> Spec {
    let Frame::Map(spec) = spec else {
        panic!("a key spec is a map")
    };
    let flags = field(spec, "flags")
        .cloned()
        .unwrap_or(Frame::Set(Vec::new()));
    let has = |flag: &str| matches!(&flags, Frame::Set(fs) if fs.iter().any(|f| text(f) == flag));
    let search = |name: &str| -> (String, Vec<(Frame, Frame)>) {
        let Some(Frame::Map(part)) = field(spec, name) else {
            return (String::new(), Vec::new());
        };
        let kind = field(part, "type")
            .map(|t| text(t).to_string())
            .unwrap_or_default();
        let args = match field(part, "spec") {
            Some(Frame::Map(args)) => args.clone(),
            _ => Vec::new(),
        };
        (kind, args)
    };
    let int = |args: &[(Frame, Frame)], name: &str| match field(args, name) {
        Some(Frame::Integer(n)) => *n,
        _ => 0,
    };
    let (begin_kind, b) = search("begin_search");
    let begin = match begin_kind.as_str() {
        "index" => Begin::Index(int(&b, "index")),
        "keyword" => Begin::Keyword {
            keyword: match field(&b, "keyword") {
                Some(Frame::Bulk(k) | Frame::Simple(k)) => k.clone(),
                _ => Bytes::new(),
            },
            startfrom: int(&b, "startfrom"),
        },
        _ => Begin::Unknown,
    };
    let (find_kind, f) = search("find_keys");
    let find = match find_kind.as_str() {
        "range" => Find::Range {
            lastkey: int(&f, "lastkey"),
            keystep: int(&f, "keystep"),
            limit: int(&f, "limit"),
        },
        "keynum" => Find::Keynum {
            keynumidx: int(&f, "keynumidx"),
            firstkey: int(&f, "firstkey"),
            keystep: int(&f, "keystep"),
        },
        _ => Find::Unknown,
    };
    let access = match &flags {
        Frame::Set(fs) => super::Access::parse(fs.iter().map(text)),
        _ => super::Access::default(),
    };
    Spec {
        not_key: has("not_key"),
        incomplete: has("incomplete"),
        variable_flags: has("variable_flags"),
        access,
        begin,
        find,
    }
}

/// The keys `specs` find in `args` (`args[0]` is the command name), with the spec that found
/// each, as Redis's `getKeysUsingKeySpecs` finds them. `None` when a spec cannot be followed (an
/// unknown search, a key count that is not a number, keys past the end, an incomplete spec):
/// Redis then asks the command's own key finder instead.
pub fn keys_by_specs<'a>(specs: &'a [Spec], args: &[Bytes]) -> Option<Vec<(usize, &'a Spec)>> {
    let argc = args.len() as i64;
    let mut keys = Vec::new();
    for spec in specs.iter().filter(|s| !s.not_key) {
        let mut first = match &spec.begin {
            Begin::Index(i) => *i,
            Begin::Keyword { keyword, startfrom } => {
                let (start, end) = if *startfrom > 0 {
                    (*startfrom, argc - 1)
                } else {
                    (argc + startfrom, 1)
                };
                let step = if start <= end { 1 } else { -1 };
                let mut found = 0;
                let mut i = start;
                // Like Redis, the search stops short of `end`: a keyword there has no key after it.
                while i != end && (1..argc).contains(&i) {
                    if args[i as usize].eq_ignore_ascii_case(keyword) {
                        found = i + 1;
                        break;
                    }
                    i += step;
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return None,
        };
        let (last, step) = match spec.find {
            Find::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, keystep)
            }
            Find::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let numkeys = args
                    .get(usize::try_from(first + keynumidx).ok()?)
                    .and_then(|n| parse_i64_strict(n))?;
                if numkeys < 0 {
                    return None;
                }
                first += firstkey;
                (first + numkeys - 1, keystep)
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, spec));
            i += step.max(1);
        }
        if spec.incomplete {
            return None;
        }
    }
    Some(keys)
}

/// The value of `name` in a map's pairs.
fn field<'a>(pairs: &'a [(Frame, Frame)], name: &str) -> Option<&'a Frame> {
    pairs.iter().find(|(k, _)| text(k) == name).map(|(_, v)| v)
}

/// A recorded string's text; the recording is ASCII.
fn text(f: &Frame) -> &str {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => std::str::from_utf8(b).unwrap_or(""),
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    fn keys(name: &str, line: &str) -> Option<Vec<usize>> {
        let r = reference(name).unwrap_or_else(|| panic!("{name} is recorded"));
        keys_by_specs(&r.specs, &args(line)).map(|k| k.into_iter().map(|(i, _)| i).collect())
    }

    #[test]
    fn every_recorded_command_loads() {
        for name in [
            "get",
            "set",
            "client|list",
            "config|get",
            "xread",
            "zunionstore",
            "migrate",
        ] {
            assert!(reference(name).is_some(), "{name}");
        }
        assert!(reference("nosuchcommand").is_none());
        let set = reference("set").unwrap();
        assert!(set.specs[0].variable_flags);
        assert!(
            matches!(field(&set.docs, "summary"), Some(Frame::Bulk(s)) if &s[..] == b"Set the string value of a key")
        );
    }

    // Expected positions are what redis-server 7.0.15's COMMAND GETKEYS answers.
    #[test]
    fn specs_find_keys_as_redis_does() {
        assert_eq!(keys("get", "get k"), Some(vec![1]));
        assert_eq!(keys("mset", "mset a 1 b 2"), Some(vec![1, 3]));
        assert_eq!(keys("mset", "mset a 1 b"), Some(vec![1, 3]));
        assert_eq!(keys("rename", "rename a b"), Some(vec![1, 2]));
        assert_eq!(keys("object|encoding", "object encoding k"), Some(vec![2]));
        assert_eq!(
            keys("zunionstore", "zunionstore dst 2 a b WEIGHTS 1 2"),
            Some(vec![1, 3, 4])
        );
        assert_eq!(
            keys("xread", "xread COUNT 2 STREAMS s1 s2 0 0"),
            Some(vec![4, 5])
        );
        assert_eq!(keys("lmpop", "lmpop 2 a b LEFT"), Some(vec![2, 3]));
        // Zero keys is not a valid key count for a spec; EVAL's own finder handles it.
        assert_eq!(keys("eval", "eval s 0"), None);
        assert_eq!(keys("lmpop", "lmpop x a b LEFT"), None);
        assert_eq!(keys("sort", "sort k STORE dst"), None);
    }
}
