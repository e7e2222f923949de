//! Number parsing with Redis's exact acceptance rules.
//!
//! Every numeric argument a client sends goes through one of these, and clients notice when a
//! server is more lenient or stricter than Redis (`INCRBY k +1`, `ZADD z 0x10 m`, `SETEX k 010`).
//! `parse_i64_strict` is Redis's `string2ll`, reimplemented because it is a simple grammar;
//! `parse_f64_strict` is Redis's `string2d`, delegated to libc's `strtod` through the C shim in
//! `csrc/longdouble.c`, because Redis accepts exactly what strtod accepts (hex floats,
//! "Infinity"), rounds as strtod rounds, and rejects on strtod's ERANGE.

use std::os::raw::{c_char, c_int};

extern "C" {
    fn tessera_strtod_strict(s: *const c_char, len: usize, out: *mut f64) -> c_int;
}

/// Parses a signed 64-bit integer exactly as Redis's `string2ll` does.
///
/// Accepted: `0`, or an optional `-` followed by a digit 1-9 and more digits, in range.
/// Rejected: empty input, `+1`, leading zeros (`01`, `-0`), any space, and overflow.
pub fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    // Redis fast-paths the single "0"; every other number must start with 1-9, which is what
    // rules out "-0", "00" and "007".
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    // Accumulate the magnitude as u64 so that i64::MIN, whose magnitude has no positive i64,
    // can still be represented before the sign is applied.
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > i64::MIN.unsigned_abs() {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses a double exactly as Redis 7.0 reads a float argument (`getDoubleFromObject`).
///
/// libc's `strtod` must consume the whole input; empty input, leading whitespace, NaN, and
/// values that overflow to infinity or underflow to zero are rejected. Because it is strtod,
/// `inf`, `+inf`, `-Infinity`, `1e5`, `.5`, `5.` and hex floats such as `0x10` are accepted,
/// as they are by Redis.
pub fn parse_f64_strict(s: &[u8]) -> Option<f64> {
    let mut out = 0.0f64;
    // SAFETY: the shim reads exactly `len` bytes from `s` (copying them before calling strtod)
    // and writes one f64 through `out`, which points to a live local.
    let ok = unsafe { tessera_strtod_strict(s.as_ptr().cast(), s.len(), &mut out) };
    (ok != 0).then_some(out)
}

/// Redis's `memtoull()`: digits followed by an optional unit among b, k, kb, m, mb, g, gb
/// (case-insensitive; k/m/g are powers of 1000, kb/mb/gb of 1024). Faithful to its quirks: no
/// digits at all reads as 0, an overflowing number saturates (C `strtoull`), and the unit
/// multiplication wraps.
pub fn memtoull(s: &[u8]) -> Option<u64> {
    let digits_end = s
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() >= 128 {
        return None; // Redis copies the digits into a 128-byte buffer
    }
    let value = digits.iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some(value.wrapping_mul(mul))
}

/// C's `strtoll(s, &end, 10)` followed by Redis's `*end == '\0'` check: leading whitespace and
/// a sign are allowed, overflow saturates, and an empty string reads as a valid 0.
pub fn c_strtoll(s: &[u8]) -> (i64, bool) {
    let start = s
        .iter()
        .position(|&b| !crate::resp::split::is_c_space(b))
        .unwrap_or(s.len());
    let mut i = start;
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits_start = i;
    let mut value: i64 = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        let d = i64::from(d - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(d)
        } else {
            value.saturating_mul(10).saturating_add(d)
        };
        i += 1;
    }
    if i == digits_start {
        // No conversion: strtoll leaves `end` at the very beginning of the string.
        return (0, s.is_empty());
    }
    (value, i == s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i64_accepts_canonical_integers() {
        assert_eq!(parse_i64_strict(b"0"), Some(0));
        assert_eq!(parse_i64_strict(b"1"), Some(1));
        assert_eq!(parse_i64_strict(b"-1"), Some(-1));
        assert_eq!(parse_i64_strict(b"99"), Some(99));
        assert_eq!(parse_i64_strict(b"-99"), Some(-99));
        assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn i64_rejects_what_string2ll_rejects() {
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"00",
            b"-0",
            b"-01",
            b"1.0",
            b"1e3",
            b"0x10",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"99999999999999999999999",
            b"1\0",
            b"--1",
        ] {
            assert_eq!(
                parse_i64_strict(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn i64_round_trips_random_values() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = x as i64 >> (x % 64);
            assert_eq!(parse_i64_strict(v.to_string().as_bytes()), Some(v));
        }
    }

    /// Acceptance checked against redis-server 7.0.15 with `ZADD z <score> m`.
    #[test]
    fn f64_matches_redis_zadd() {
        let accepted: &[(&[u8], f64)] = &[
            (b"0x10", 16.0),
            (b"inf", f64::INFINITY),
            (b"+inf", f64::INFINITY),
            (b"-inf", f64::NEG_INFINITY),
            (b"INF", f64::INFINITY),
            (b"Infinity", f64::INFINITY),
            (b"1e-310", 1e-310),
            (b"+1.5", 1.5),
            (b".5", 0.5),
            (b"5.", 5.0),
            (b"1e5", 100000.0),
            (b"0x1p3", 8.0),
            (b"1.1", 1.1),
            (b"-2.5e-3", -2.5e-3),
            (b"0e-999", 0.0),
            (b"1.7976931348623157e308", f64::MAX),
        ];
        for (s, v) in accepted {
            assert_eq!(
                parse_f64_strict(s),
                Some(*v),
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
        assert!(parse_f64_strict(b"-0").unwrap().is_sign_negative());
        let rejected: &[&[u8]] = &[
            b"", b"nan", b"NaN", b" 1", b"1 ", b"\t1", b"1e400", b"-1e400", b"1e-400", b"1\0",
            b"1_0", b"abc", b"1e", b"e5", b"--1", b"0x",
        ];
        for s in rejected {
            assert_eq!(
                parse_f64_strict(s),
                None,
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn f64_long_inputs_use_the_heap_path() {
        let mut long = b"1.".to_vec();
        long.extend(std::iter::repeat_n(b'0', 500));
        long.push(b'1');
        assert_eq!(parse_f64_strict(&long), Some(1.0));
        let mut digits = vec![b'0'; 300];
        digits.push(b'7');
        assert_eq!(parse_f64_strict(&digits), Some(7.0));
    }

    #[test]
    fn memtoull_matches_redis() {
        // Each value was set with CONFIG SET maxmemory on redis-server 7.0.15 and read back.
        let cases: &[(&str, Option<u64>)] = &[
            ("", Some(0)),
            ("kb", Some(0)),
            ("1B", Some(1)),
            ("1b", Some(1)),
            ("1K", Some(1000)),
            ("1k", Some(1000)),
            ("1M", Some(1_000_000)),
            ("1G", Some(1_000_000_000)),
            ("1gB", Some(1 << 30)),
            ("99999999999999999999", Some(u64::MAX)),
            ("18446744073709551616", Some(u64::MAX)),
            ("20000000000gb", Some(3028092406290448384)),
            (" 1", None),
            ("+1", None),
            ("-1", None),
            ("0x10", None),
            ("1 ", None),
            ("1.5mb", None),
        ];
        for &(text, want) in cases {
            assert_eq!(memtoull(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn strtoll_follows_c() {
        assert_eq!(c_strtoll(b""), (0, true));
        assert_eq!(c_strtoll(b"+5"), (5, true));
        assert_eq!(c_strtoll(b"\t7"), (7, true));
        assert_eq!(c_strtoll(b"-0"), (0, true));
        assert_eq!(c_strtoll(b"99999999999999999999"), (i64::MAX, true));
        assert_eq!(c_strtoll(b"-99999999999999999999"), (i64::MIN, true));
        assert!(!c_strtoll(b" ").1);
        assert!(!c_strtoll(b"+").1);
        assert!(!c_strtoll(b"1\t").1);
        assert!(!c_strtoll(b"0x1").1);
    }
}
