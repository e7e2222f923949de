//! Parsing values with Redis's rules, shared by config files, the command line and CONFIG SET.

use std::ffi::OsStr;
use std::fs;
use std::io::{self};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::resp::split::is_c_space;
use crate::types::numfmt::{c_strtoll, memtoull, parse_f64_strict, parse_i64_strict};

use super::*;

/// Splits a CONFIG SET value into arguments the way Redis does (`sdssplitlen` on single
/// spaces, so doubled spaces make empty arguments; an empty value is zero arguments).
pub(crate) fn split_set_value(def: &Def, value: &[u8]) -> Vec<Vec<u8>> {
    if !def.has(MULTI_ARG) {
        vec![value.to_vec()]
    } else if value.is_empty() {
        Vec::new()
    } else {
        value.split(|&b| b == b' ').map(<[u8]>::to_vec).collect()
    }
}

/// Parses the arguments of one parameter into its new value, in the context of the
/// configuration being built (`config`): a parameter that updates part of its value starts
/// from the current one, and `proc-title-template` is checked against the other parameters it
/// names. Errors are Redis's messages.
pub(crate) fn parse_update(def: &Def, args: &[Vec<u8>], config: &Config) -> Result<Value, String> {
    match (&def.kind, config.value(def.param)) {
        (Kind::ObufLimits, Value::ObufLimits(limits)) => {
            parse_obuf_limits(args, *limits).map(Value::ObufLimits)
        }
        (Kind::Str(StrRule::ProcTitle), _) => {
            let template = args.first().map(Vec::as_slice).unwrap_or_default();
            if !valid_proc_title(template, config) {
                return Err("template format is invalid or contains unknown variables".into());
            }
            Ok(Value::Bytes(template.to_vec()))
        }
        _ => parse_value(def, args),
    }
}

/// What Redis's apply functions do to a value they accept but find too small, when CONFIG SET
/// changes it (and, for the watchdog, at start-up): the replication backlog is at least 16kb,
/// and a watchdog period at least two server ticks.
pub(crate) fn settle(param: Param, config: &mut Config) {
    const REPL_BACKLOG_MIN_SIZE: i128 = 16 * 1024;
    let floor = match param {
        Param::ReplBacklogSize => REPL_BACKLOG_MIN_SIZE,
        Param::WatchdogPeriod if config.int(param) != 0 => 1000 / config.int(Param::Hz) * 2,
        _ => return,
    };
    if config.int(param) < floor {
        config.values[param as usize] = Value::Int(floor);
    }
}

/// Parses the arguments of one parameter into its new value. Errors are Redis's messages.
pub(crate) fn parse_value(def: &Def, args: &[Vec<u8>]) -> Result<Value, String> {
    // Multi-argument kinds check their own arity; the callers guarantee one argument otherwise.
    let one = || args.first().map(Vec::as_slice).unwrap_or_default();
    match &def.kind {
        Kind::Bool => match one() {
            // Redis built without its own jemalloc (Debian's, say) says this; Tessera has no
            // defragmenter either.
            a if a.eq_ignore_ascii_case(b"yes") && def.param == Param::Activedefrag => Err(
                "Active defragmentation cannot be enabled: it requires a Redis server compiled \
                 with a modified Jemalloc like the one shipped by default with the Redis source \
                 distribution"
                    .into(),
            ),
            a if a.eq_ignore_ascii_case(b"yes") => Ok(Value::Bool(true)),
            a if a.eq_ignore_ascii_case(b"no") => Ok(Value::Bool(false)),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int(spec) => {
            let mut v = parse_int(spec, one())?;
            if def.param == Param::Hz {
                // Redis takes hz as a hint: out-of-range values are clamped, not refused.
                v = v.clamp(HZ_RANGE.0, HZ_RANGE.1);
            }
            Ok(Value::Int(v))
        }
        Kind::Enum(words) => word_value(words, one())
            .map(Value::Enum)
            .ok_or_else(|| not_one_of(words)),
        Kind::Flags(words) => {
            let mut bits = 0;
            if args.is_empty() {
                return Err(not_one_of(words));
            }
            for arg in args {
                bits |= word_value(words, arg).ok_or_else(|| not_one_of(words))?;
            }
            if bits & SHUTDOWN_SAVE != 0 && bits & SHUTDOWN_NOSAVE != 0 {
                return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
            }
            Ok(Value::Enum(bits))
        }
        Kind::Str(rule) => {
            let s = one();
            match rule {
                StrRule::BaseName { noun, empty_ok } => {
                    if s.is_empty() && !empty_ok {
                        return Err(format!("{} can't be empty", def.name));
                    }
                    if s.iter().any(|&b| b == b'/' || b == b'\\') {
                        return Err(format!("{} can't be a path, just a {noun}", def.name));
                    }
                }
                StrRule::Hostname => {
                    if s.len() >= MAX_HOSTNAME_LEN {
                        return Err(format!(
                            "Hostnames must be less than {MAX_HOSTNAME_LEN} characters"
                        ));
                    }
                    if !s
                        .iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                    {
                        return Err(
                            "Hostnames may only contain alphanumeric characters, hyphens or dots"
                                .into(),
                        );
                    }
                }
                // Checked by parse_update, which knows the rest of the configuration.
                StrRule::ProcTitle | StrRule::Any => {}
            }
            Ok(Value::Bytes(s.to_vec()))
        }
        Kind::Dir => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            // Redis chdir()s and reports strerror(); canonicalize fails the same way for a
            // missing path, and we check the "is a directory" part ourselves.
            match fs::canonicalize(OsStr::from_bytes(one())) {
                Ok(p) if p.is_dir() => Ok(Value::Bytes(p.into_os_string().into_vec())),
                Ok(_) => Err("Not a directory".into()),
                Err(e) => Err(strerror(&e)),
            }
        }
        Kind::Save => parse_save(args).map(Value::Save),
        Kind::ObufLimits => {
            parse_obuf_limits(args, [ObufLimit::default(); 3]).map(Value::ObufLimits)
        }
        Kind::Bind => {
            if args.len() > MAX_BIND_ADDRESSES {
                return Err("Too many bind addresses specified.".into());
            }
            // A single empty argument means "no addresses", as in Redis.
            let args = if args.len() == 1 && args[0].is_empty() {
                &[][..]
            } else {
                args
            };
            args.iter()
                .map(|a| {
                    String::from_utf8(a.clone()).map_err(|_| "Invalid bind address".to_owned())
                })
                .collect::<Result<_, _>>()
                .map(Value::Bind)
        }
        Kind::OomScoreAdjValues => parse_oom_score_adj_values(args).map(Value::OomScoreAdj),
        Kind::KeyspaceEvents => {
            if args.len() != 1 {
                return Err("wrong number of arguments".into());
            }
            keyspace_events_from_letters(one())
                .map(Value::Enum)
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
        }
        Kind::ReplicaOf => parse_replicaof(args).map(Value::ReplicaOf),
        Kind::Percentiles => parse_percentiles(args).map(Value::Percentiles),
    }
}

/// The value of `word` among an enum's words (case-insensitive).
pub(crate) fn word_value(words: &[(&str, u32)], word: &[u8]) -> Option<u32> {
    words
        .iter()
        .find(|(w, _)| w.as_bytes().eq_ignore_ascii_case(word))
        .map(|&(_, v)| v)
}

fn not_one_of(words: &[(&str, u32)]) -> String {
    let list: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
    format!(
        "argument(s) must be one of the following: {}",
        list.join(", ")
    )
}

pub(crate) fn parse_int(spec: &IntSpec, arg: &[u8]) -> Result<i128, String> {
    // Reinterpret through the C type, as Redis's assignments do: a huge memory value wraps to
    // negative in a signed parameter, a negative integer to huge in an unsigned one. Either
    // way the bounds check below then refuses it, with Redis's message.
    let wrap = |v: i64| {
        if spec.unsigned {
            v as u64 as i128
        } else {
            v as i128
        }
    };
    let v = match spec.syntax {
        IntSyntax::Plain => {
            wrap(parse_i64_strict(arg).ok_or("argument couldn't be parsed into an integer")?)
        }
        IntSyntax::Memory | IntSyntax::MemoryOrPercent => match memtoull(arg) {
            Some(v) => wrap(v as i64),
            // A percentage is stored negated, as Redis stores it.
            None if spec.syntax == IntSyntax::MemoryOrPercent => match arg.split_last() {
                Some((b'%', digits)) if !digits.is_empty() => parse_i64_strict(digits)
                    .filter(|p| *p >= 0)
                    .map(|p| -(p as i128))
                    .ok_or("argument must be a memory or percent value")?,
                _ => return Err("argument must be a memory or percent value".into()),
            },
            None => return Err("argument must be a memory value".into()),
        },
        IntSyntax::Octal => {
            wrap(c_strtoll_radix(arg, 8).ok_or("argument couldn't be parsed as an octal number")?)
        }
    };
    if spec.syntax == IntSyntax::MemoryOrPercent && v < 0 {
        if v < spec.min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -spec.min
            ));
        }
    } else if v < spec.min || v > spec.max {
        return Err(if spec.syntax == IntSyntax::Octal {
            format!(
                "argument must be between {:o} and {:o} inclusive",
                spec.min, spec.max
            )
        } else {
            format!(
                "argument must be between {} and {} inclusive",
                spec.min, spec.max
            )
        });
    }
    Ok(v)
}

/// C's `strtoll(s, &end, radix)` accepted only when it consumed everything without overflow
/// (`errno == 0 && *end == '\0'`): leading whitespace and a sign are allowed, and an empty
/// string reads as 0.
pub(crate) fn c_strtoll_radix(s: &[u8], radix: u32) -> Option<i64> {
    let start = s.iter().position(|&b| !is_c_space(b)).unwrap_or(s.len());
    let (negative, digits) = match s.get(start) {
        Some(b'-') => (true, &s[start + 1..]),
        Some(b'+') => (false, &s[start + 1..]),
        _ => (false, &s[start..]),
    };
    if digits.is_empty() || !digits.iter().all(|&b| char::from(b).is_digit(radix)) {
        // With no digits at all strtoll leaves `end` at the start: fine only for "".
        return s.is_empty().then_some(0);
    }
    let magnitude = digits.iter().try_fold(0u64, |acc, &b| {
        acc.checked_mul(u64::from(radix))?
            .checked_add(u64::from(char::from(b).to_digit(radix)?))
    })?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// `oom-score-adj-values`: exactly three `strtoll` integers in -2000..=2000.
pub(crate) fn parse_oom_score_adj_values(args: &[Vec<u8>]) -> Result<[i32; 3], String> {
    if args.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut values = [0; 3];
    for (slot, arg) in values.iter_mut().zip(args) {
        match c_strtoll(arg) {
            (v, true) if (-2000..=2000).contains(&v) => *slot = v as i32,
            _ => {
                return Err(
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into(),
                )
            }
        }
    }
    Ok(values)
}

use crate::db::notify::class as events;

/// The classes after `A`, in the order CONFIG GET prints them.
const EVENT_LETTERS: &[(u8, u32)] = &[
    (b'g', events::GENERIC),
    (b'$', events::STRING),
    (b'l', events::LIST),
    (b's', events::SET),
    (b'h', events::HASH),
    (b'z', events::ZSET),
    (b'x', events::EXPIRED),
    (b'e', events::EVICTED),
    (b't', events::STREAM),
    (b'd', events::MODULE),
    (b'n', events::NEW),
];
/// The letters printed after the classes.
const EVENT_TYPE_LETTERS: &[(u8, u32)] = &[
    (b'K', events::KEYSPACE),
    (b'E', events::KEYEVENT),
    (b'm', events::KEY_MISS),
];

/// Class letters to flag bits; `None` on a letter Redis does not know. Like Redis's C string,
/// the text ends at a NUL byte.
pub(crate) fn keyspace_events_from_letters(text: &[u8]) -> Option<u32> {
    text.iter()
        .take_while(|&&c| c != 0)
        .try_fold(0, |bits, &c| {
            let bit = match c {
                b'A' => events::ALL,
                _ => {
                    EVENT_LETTERS
                        .iter()
                        .chain(EVENT_TYPE_LETTERS)
                        .find(|(letter, _)| *letter == c)?
                        .1
                }
            };
            Some(bits | bit)
        })
}

/// Flag bits to letters in Redis's canonical order: `A` for the whole set of classes (or the
/// classes one by one), then K, E and m.
pub(crate) fn keyspace_events_to_letters(bits: u32) -> String {
    let mut out = String::new();
    if bits & events::ALL == events::ALL {
        out.push('A');
    } else {
        for &(letter, bit) in EVENT_LETTERS {
            if bits & bit != 0 {
                out.push(char::from(letter));
            }
        }
    }
    for &(letter, bit) in EVENT_TYPE_LETTERS {
        if bits & bit != 0 {
            out.push(char::from(letter));
        }
    }
    out
}

/// `replicaof <host> <port>` or `replicaof no one` (`None`).
pub(crate) fn parse_replicaof(args: &[Vec<u8>]) -> Result<Option<(Vec<u8>, u16)>, String> {
    let [host, port] = args else {
        return Err("wrong number of arguments".into());
    };
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        return Ok(None);
    }
    match c_strtoll(port) {
        (p, true) if (0..=65535).contains(&p) => Ok(Some((host.clone(), p as u16))),
        _ => Err("Invalid master port".into()),
    }
}

/// `latency-tracking-info-percentiles`: doubles within 0..=100; one empty argument (or none)
/// is the empty list.
pub(crate) fn parse_percentiles(args: &[Vec<u8>]) -> Result<Vec<f64>, String> {
    if args.len() == 1 && args[0].is_empty() {
        return Ok(Vec::new());
    }
    args.iter()
        .map(|arg| {
            let p = parse_f64_strict(arg)
                .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
            if !(0.0..=100.0).contains(&p) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .into(),
                );
            }
            Ok(p)
        })
        .collect()
}

/// A percentile as Redis prints it: `%f`, then trailing zeros (and a bare point) dropped.
pub fn format_percentile(p: f64) -> String {
    let mut text = format!("{p:.6}");
    if text.contains('.') {
        let kept = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(kept);
    }
    text
}

/// Redis's `validateProcTitleTemplate`: the template must expand (only known `{variables}`,
/// braces closed, `{{` for a literal brace) to something that is not blank once spaces are
/// trimmed, with an empty title. What the variables expand to depends on the configuration
/// so far, as in Redis.
pub(crate) fn valid_proc_title(template: &[u8], config: &Config) -> bool {
    let mut out: Vec<u8> = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let Some(open) = rest.iter().position(|&b| b == b'{') else {
            out.extend_from_slice(rest);
            break;
        };
        out.extend_from_slice(&rest[..open]);
        let after = &rest[open + 1..];
        match after.first() {
            None => return false,
            Some(b'{') => {
                out.push(b'{');
                rest = &after[1..];
                continue;
            }
            Some(_) => {}
        }
        let Some(close) = after.iter().position(|&b| b == b'}') else {
            return false;
        };
        let Some(value) = proc_title_variable(&after[..close], config) else {
            return false;
        };
        out.extend_from_slice(&value);
        rest = &after[close + 1..];
    }
    out.iter().any(|&b| b != b' ')
}

/// What a proc-title variable expands to (validation passes an empty title).
fn proc_title_variable(name: &[u8], config: &Config) -> Option<Vec<u8>> {
    let port = config.int(Param::Port);
    let tls_port = config.int(Param::TlsPort);
    let unixsocket = config.bytes(Param::Unixsocket);
    Some(match name {
        b"title" => Vec::new(),
        b"listen-addr" if port != 0 || tls_port != 0 => {
            let first = match config.value(Param::Bind) {
                Value::Bind(addrs) => addrs.first().map_or("*", String::as_str),
                _ => "*",
            };
            format!("{first}:{}", if port != 0 { port } else { tls_port }).into_bytes()
        }
        b"listen-addr" => [&b"unixsocket:"[..], unixsocket].concat(),
        b"server-mode" if config.flag(Param::ClusterEnabled) => b"[cluster]".to_vec(),
        b"server-mode" => Vec::new(),
        b"config-file" => config
            .config_file()
            .map_or(b"-".to_vec(), |p| p.as_os_str().as_bytes().to_vec()),
        b"port" => port.to_string().into_bytes(),
        b"tls-port" => tls_port.to_string().into_bytes(),
        b"unixsocket" => unixsocket.to_vec(),
        _ => return None,
    })
}

/// `save` arguments: pairs of `strtoll` numbers, seconds >= 1 and changes >= 0. A single
/// empty argument means "no rules".
pub(crate) fn parse_save(args: &[Vec<u8>]) -> Result<Vec<SavePoint>, String> {
    let args = if args.len() == 1 && args[0].is_empty() {
        &[][..]
    } else {
        args
    };
    let invalid = || "Invalid save parameters".to_owned();
    if args.len() % 2 != 0 {
        return Err(invalid());
    }
    args.chunks(2)
        .map(|pair| {
            let (seconds, ok_s) = c_strtoll(&pair[0]);
            let (changes, ok_c) = c_strtoll(&pair[1]);
            if !ok_s || !ok_c || seconds < 1 || changes < 0 {
                return Err(invalid());
            }
            // Redis stores `changes` in an int, truncating silently.
            Ok(SavePoint {
                seconds,
                changes: changes as i32,
            })
        })
        .collect()
}

/// `client-output-buffer-limit` groups of `<class> <hard> <soft> <soft-seconds>`, applied
/// over `limits`: all of them or, on any error, none.
pub(crate) fn parse_obuf_limits(
    args: &[Vec<u8>],
    mut limits: [ObufLimit; 3],
) -> Result<[ObufLimit; 3], String> {
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    for group in args.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_slice() {
            b"normal" => ClientClass::Normal,
            b"slave" | b"replica" => ClientClass::Replica,
            b"pubsub" => ClientClass::Pubsub,
            // "master" is a class of Redis's, but not one that limits apply to.
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        // Redis reads the seconds into an int before checking the sign.
        let (seconds, seconds_ok) = c_strtoll(&group[3]);
        let seconds = seconds as i32;
        let (Some(hard), Some(soft), true) = (
            memtoull(&group[1]),
            memtoull(&group[2]),
            seconds_ok && seconds >= 0,
        ) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        limits[class as usize] = ObufLimit {
            hard,
            soft,
            soft_seconds: seconds as u64,
        };
    }
    Ok(limits)
}

/// The text of an OS error without Rust's " (os error N)" suffix, i.e. C's `strerror()`.
pub(crate) fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}
