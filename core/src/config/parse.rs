//! Parsing values with Redis's rules, shared by config files, the command line and CONFIG SET.

use std::ffi::OsStr;
use std::fs;
use std::io::{self};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::types::numfmt::{c_strtoll, memtoull, parse_i64_strict};

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

/// Parses the arguments of one parameter into its new value, given its current one (which
/// matters only to parameters that update part of their value). Errors are Redis's messages.
pub(crate) fn parse_update(def: &Def, args: &[Vec<u8>], current: &Value) -> Result<Value, String> {
    match (&def.kind, current) {
        (Kind::ObufLimits, Value::ObufLimits(limits)) => {
            parse_obuf_limits(args, *limits).map(Value::ObufLimits)
        }
        _ => parse_value(def, args),
    }
}

/// Parses the arguments of one parameter into its new value. Errors are Redis's messages.
pub(crate) fn parse_value(def: &Def, args: &[Vec<u8>]) -> Result<Value, String> {
    // Multi-argument kinds check their own arity; the callers guarantee one argument otherwise.
    let one = || args.first().map(Vec::as_slice).unwrap_or_default();
    match &def.kind {
        Kind::Bool => {
            let v = match one() {
                a if a.eq_ignore_ascii_case(b"yes") => true,
                a if a.eq_ignore_ascii_case(b"no") => false,
                _ => return Err("argument must be 'yes' or 'no'".into()),
            };
            if def.param == Param::Daemonize && v {
                return Err(
                    "Tessera does not daemonize: run it in the foreground under a \
                            supervisor (systemd, Docker, ...) and set 'daemonize no'"
                        .into(),
                );
            }
            Ok(Value::Bool(v))
        }
        Kind::Int(spec) => {
            let mut v = parse_int(spec, one())?;
            if def.param == Param::Hz {
                // Redis takes hz as a hint: out-of-range values are clamped, not refused.
                v = v.clamp(HZ_RANGE.0, HZ_RANGE.1);
            }
            Ok(Value::Int(v))
        }
        Kind::Enum(words) => words
            .iter()
            .position(|w| w.as_bytes().eq_ignore_ascii_case(one()))
            .map(Value::Enum)
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                )
            }),
        Kind::Str(rule) => {
            let s = one();
            if let StrRule::BaseName { noun, empty_ok } = rule {
                if s.is_empty() && !empty_ok {
                    return Err(format!("{} can't be empty", def.name));
                }
                if s.iter().any(|&b| b == b'/' || b == b'\\') {
                    return Err(format!("{} can't be a path, just a {noun}", def.name));
                }
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
    }
}

pub(crate) fn parse_int(spec: &IntSpec, arg: &[u8]) -> Result<i128, String> {
    // Reinterpret through the C type, as Redis's assignments do: a huge memory value wraps to
    // negative in a signed parameter, a negative integer to huge in an unsigned one. Either
    // way the bounds check below then refuses it, with Redis's message.
    let v = if spec.memory {
        let v = memtoull(arg).ok_or("argument must be a memory value")?;
        if spec.unsigned {
            v as i128
        } else {
            v as i64 as i128
        }
    } else {
        let v = parse_i64_strict(arg).ok_or("argument couldn't be parsed into an integer")?;
        if spec.unsigned {
            v as u64 as i128
        } else {
            v as i128
        }
    };
    if v < spec.min || v > spec.max {
        return Err(format!(
            "argument must be between {} and {} inclusive",
            spec.min, spec.max
        ));
    }
    Ok(v)
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
    if args.len() % 4 != 0 {
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
