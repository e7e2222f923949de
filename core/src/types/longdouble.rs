//! INCRBYFLOAT and HINCRBYFLOAT arithmetic, done in C `long double` as Redis does it.
//!
//! Redis adds in `long double` (80-bit x87 extended precision on x86_64) and prints the sum with
//! `"%.17Lf"` before trimming trailing zeros. Doing the same in `f64` changes visible answers
//! (`0.1 + 0.2` is `0.3` in Redis, `0.30000000000000004` in f64), so the arithmetic, parsing and
//! formatting happen in the C shim `csrc/longdouble.c`; this module turns its result codes into
//! the exact error replies of each command.

use std::os::raw::{c_char, c_int, c_long};

use crate::error::CmdError;

extern "C" {
    fn tessera_ld_check(s: *const c_char, len: usize) -> c_int;
    fn tessera_ld_timeout_ms(s: *const c_char, len: usize, out: *mut i64) -> c_int;
    fn tessera_ld_add(
        cur: *const c_char,
        curlen: usize,
        incr: *const c_char,
        incrlen: usize,
        out: *mut c_char,
        outcap: usize,
    ) -> c_long;
}

/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are invalid, and every rendering fits.
const LD_MAX_CHARS: usize = 5 * 1024;

// Result codes of `tessera_ld_add`, as defined in csrc/longdouble.c.
const LD_BAD_CURRENT: c_long = -1;
const LD_BAD_INCR: c_long = -2;
const LD_NOT_FINITE: c_long = -3;

/// How a string reads as a Redis long double (Redis's `string2ld`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdClass {
    /// Not a valid float: empty, 5120 bytes or longer, spaces, trailing junk, NaN, or a value
    /// that overflows or underflows to zero.
    Invalid,
    Finite,
    /// `inf`, `-Infinity` and the like: valid input, but it cannot be added to.
    Infinite,
}

/// Classifies `s` with Redis's `string2ld` rules (see [`LdClass`]).
pub fn classify_ld(s: &[u8]) -> LdClass {
    // SAFETY: the shim only reads `len` bytes from the pointer.
    match unsafe { tessera_ld_check(s.as_ptr().cast(), s.len()) } {
        1 => LdClass::Finite,
        2 => LdClass::Infinite,
        _ => LdClass::Invalid,
    }
}

/// True when Redis would accept `s` as a long double (`inf` included).
pub fn is_valid_ld(s: &[u8]) -> bool {
    classify_ld(s) != LdClass::Invalid
}

/// Why a long-double addition failed, before it is worded for a particular command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddError {
    BadCurrent,
    BadIncr,
    NotFinite,
}

fn ld_add(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, AddError> {
    let mut out = [0u8; LD_MAX_CHARS];
    // SAFETY: the shim reads `curlen`/`incrlen` bytes from the two inputs and writes at most
    // `outcap` bytes (NUL included) into `out`, returning the length written or a negative code.
    let n = unsafe {
        tessera_ld_add(
            current.as_ptr().cast(),
            current.len(),
            incr.as_ptr().cast(),
            incr.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    match n {
        LD_BAD_CURRENT => Err(AddError::BadCurrent),
        LD_BAD_INCR => Err(AddError::BadIncr),
        LD_NOT_FINITE => Err(AddError::NotFinite),
        // Every finite long double renders in under LD_MAX_CHARS bytes, so "no room" cannot
        // happen; if a platform proved otherwise, refusing is safer than truncating.
        n if n < 0 => Err(AddError::NotFinite),
        n => Ok(out[..n as usize].to_vec()),
    }
}

/// INCRBYFLOAT: the new value of a string holding `current` after adding `incr`.
///
/// Pass `b"0"` as `current` when the key does not exist (Redis starts from 0). Errors, as
/// Redis 7.0 words them (the current value is checked before the increment):
/// - `ERR value is not a valid float` ([`CmdError::NotFloat`]) if either is not a float;
/// - `ERR increment would produce NaN or Infinity` ([`CmdError::NanOrInfinity`]) if the sum
///   is not finite, which includes a current value or increment of `inf`.
pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, CmdError> {
    ld_add(current, incr).map_err(|e| match e {
        AddError::BadCurrent | AddError::BadIncr => CmdError::NotFloat,
        AddError::NotFinite => CmdError::NanOrInfinity,
    })
}

/// HINCRBYFLOAT, first step: validates the increment before the key is even looked up, as
/// Redis 7.0 does (so `HINCRBYFLOAT notahash f abc` is a float error, not WRONGTYPE).
///
/// Errors: `ERR value is not a valid float` or `ERR value is NaN or Infinity`.
pub fn check_hincr_increment(incr: &[u8]) -> Result<(), CmdError> {
    match classify_ld(incr) {
        LdClass::Finite => Ok(()),
        LdClass::Infinite => Err(CmdError::err("value is NaN or Infinity")),
        LdClass::Invalid => Err(CmdError::NotFloat),
    }
}

/// HINCRBYFLOAT, second step: the field's new value. `current` is the field's value, or `None`
/// when the field (or the whole hash) does not exist; an integer-encoded field can be passed
/// as its decimal text.
///
/// Errors: `ERR hash value is not a float` if the field holds something else, and
/// `ERR increment would produce NaN or Infinity` (also when the field holds `inf`). An invalid
/// increment gives `ERR value is not a valid float`, but [`check_hincr_increment`] should have
/// caught it already.
pub fn hincr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, CmdError> {
    ld_add(current.unwrap_or(b"0"), incr).map_err(|e| match e {
        AddError::BadCurrent => CmdError::err("hash value is not a float"),
        AddError::BadIncr => CmdError::NotFloat,
        AddError::NotFinite => CmdError::NanOrInfinity,
    })
}

/// A blocking command's timeout argument in milliseconds, as Redis computes it: seconds as a
/// long double times 1000, rounded up; values too large for that come out negative, as on
/// Redis. `None` when the argument is not a float.
pub fn timeout_ms(s: &[u8]) -> Option<i64> {
    let mut out = 0i64;
    // SAFETY: the shim reads `len` bytes from the pointer and writes one i64 to `out`.
    let ok = unsafe { tessera_ld_timeout_ms(s.as_ptr().cast(), s.len(), &mut out) };
    (ok == 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(cur: &str, by: &str) -> Result<String, CmdError> {
        incr_by_float(cur.as_bytes(), by.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    /// Each row: current value, increment, and what redis-server 7.0.15 answered.
    #[test]
    fn incrbyfloat_matches_redis() {
        let ok: &[(&str, &str, &str)] = &[
            ("0.1", "0.2", "0.3"),
            ("0.3", "-0.3", "0"),
            ("0", "1e20", "100000000000000000000"),
            ("100000000000000000000", "1.5e-30", "100000000000000000000"),
            ("10.50", "0.1", "10.6"),
            ("-0", "0", "0"),
            ("5", "-5", "0"),
            ("0", "0x1p-3", "0.125"),
            ("1", "0x10", "17"),
            ("17", "1e-4940", "17"),
            ("17", "-17.0000000000000000000000001", "0"),
            ("0", "+1", "1"),
            ("1", ".5", "1.5"),
            ("1.5", "5.", "6.5"),
            ("0", "-1.5", "-1.5"),
            ("10", "0.1", "10.1"),
            ("0", "3.0e3", "3000"),
            ("5.0e3", "2.0e2", "5200"),
            ("1", "-0.9", "0.1"),
            ("0", "1e-17", "0.00000000000000001"),
            ("0", "1e-18", "0"),
            ("0", "123456789.123456789", "123456789.12345678899873747"),
            ("0", "0.333333333333333333", "0.33333333333333333"),
            ("0", "-0.00000000000000000001", "0"),
            ("0", "1.23456789012345678e25", "12345678901234567800160256"),
            ("0", "3.14159265358979323846", "3.14159265358979324"),
            ("0", "2.5e-1", "0.25"),
            ("1.1", "2.2", "3.3"),
            ("-1.1", "-2.2", "-3.3"),
            ("1e17", "1", "100000000000000001"),
            ("1e18", "0.5", "1000000000000000000.5"),
            ("9007199254740993", "0", "9007199254740993"),
            ("0", "-1e-17", "-0.00000000000000001"),
            ("0.00000000000000000000001", "0", "0"),
            ("123.456", "-123.455", "0.001"),
            ("2", "-3", "-1"),
            ("0", "1e308", "99999999999999999996685879655845645660560099847415567207797047994921734868838061872100126921888539320446747225054013223152134749593960583597420814430196418767959100019603190778663109604507106667939153395788938914560543563061268364901618630217086589253444881623791300855757318142424510452728255046343928578048"),
        ];
        for (cur, by, want) in ok {
            assert_eq!(incr(cur, by).as_deref(), Ok(*want), "{cur} + {by}");
        }
    }

    #[test]
    fn incrbyfloat_errors_match_redis() {
        let not_float: &[(&str, &str)] = &[
            ("1\0x", "1"),
            ("1", "1\0x"),
            ("1", " 1"),
            ("1", "1 "),
            ("1", "1e5000"),
            ("1", "1e-5000"),
            ("1", "nan"),
            ("1", ""),
            ("1", "1e"),
            ("abc", "1"),
            ("abc", "inf"),
            ("", "1"),
        ];
        for (cur, by) in not_float {
            assert_eq!(incr(cur, by), Err(CmdError::NotFloat), "{cur:?} + {by:?}");
        }
        for (cur, by) in [
            ("1", "inf"),
            ("1", "infinity"),
            ("inf", "1"),
            ("1e4932", "1e4932"),
        ] {
            assert_eq!(incr(cur, by), Err(CmdError::NanOrInfinity), "{cur} + {by}");
        }
        assert_eq!(
            CmdError::NotFloat.message(),
            "ERR value is not a valid float"
        );
        assert_eq!(
            CmdError::NanOrInfinity.message(),
            "ERR increment would produce NaN or Infinity"
        );
    }

    #[test]
    fn huge_values_render_in_full() {
        let v = incr("0", "1e4000").unwrap();
        assert_eq!(v.len(), 4000);
        assert!(v.starts_with("99999999999999999999654638730996237849324925835069576313015"));
        let v = incr("0", "1e4932").unwrap();
        assert_eq!(v.len(), 4933);
        assert!(v.starts_with("100000000000000000000601894938796389132383777425453311477"));
        assert!(v.ends_with("54728589350876379371163141086538418113791886622720"));
    }

    #[test]
    fn input_length_limit_is_redis_max_long_double_chars() {
        // "000...01" is 1 at any length; redis-server 7.0.15 accepts it at 5119 bytes and
        // rejects it at 5120, as the current value and as the increment.
        let one = |len: usize| {
            let mut s = vec![b'0'; len - 1];
            s.push(b'1');
            s
        };
        assert_eq!(incr_by_float(&one(5119), b"1").unwrap(), b"2");
        assert_eq!(incr_by_float(b"1", &one(5119)).unwrap(), b"2");
        assert_eq!(incr_by_float(&one(5120), b"1"), Err(CmdError::NotFloat));
        assert_eq!(incr_by_float(b"1", &one(5120)), Err(CmdError::NotFloat));
    }

    #[test]
    fn classify() {
        assert_eq!(classify_ld(b"1.5"), LdClass::Finite);
        assert_eq!(classify_ld(b"-inf"), LdClass::Infinite);
        assert_eq!(classify_ld(b"nan"), LdClass::Invalid);
        assert!(is_valid_ld(b"+inf"));
        assert!(!is_valid_ld(b" 1"));
    }

    /// Rows checked against redis-server 7.0.15 with HSET/HINCRBYFLOAT.
    #[test]
    fn hincrbyfloat_matches_redis() {
        let msg = |r: Result<(), CmdError>| r.map_err(|e| e.message());
        assert_eq!(
            msg(check_hincr_increment(b"inf")),
            Err("ERR value is NaN or Infinity".into())
        );
        assert_eq!(
            msg(check_hincr_increment(b"abc")),
            Err("ERR value is not a valid float".into())
        );
        assert_eq!(
            msg(check_hincr_increment(b"1e5000")),
            Err("ERR value is not a valid float".into())
        );
        assert_eq!(msg(check_hincr_increment(b"0.1")), Ok(()));

        let h = |cur: Option<&str>, by: &str| {
            hincr_by_float(cur.map(str::as_bytes), by.as_bytes())
                .map(|v| String::from_utf8(v).unwrap())
                .map_err(|e| e.message())
        };
        assert_eq!(h(None, "0.1"), Ok("0.1".into()));
        assert_eq!(h(Some("0.1"), "0.2"), Ok("0.3".into()));
        assert_eq!(h(Some("10"), "1.5"), Ok("11.5".into()));
        assert_eq!(
            h(Some("abc"), "1"),
            Err("ERR hash value is not a float".into())
        );
        assert_eq!(
            h(Some("inf"), "1"),
            Err("ERR increment would produce NaN or Infinity".into())
        );
        assert_eq!(
            h(Some("1e4932"), "1e4932"),
            Err("ERR increment would produce NaN or Infinity".into())
        );
    }
}
