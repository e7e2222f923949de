//! An argument cursor for option parsing.
//!
//! Redis commands take options in any order (`SET k v NX EX 10 GET`). The cursor walks the
//! arguments, matches keywords case-insensitively and parses numbers with Redis's rules; the
//! first error is returned through `?`, so a handler reads as the grammar it implements.

use bytes::Bytes;

use crate::error::CmdError;
use crate::types::numfmt::{parse_f64_strict, parse_i64_strict};

pub struct ArgCursor<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> ArgCursor<'a> {
    /// Starts at `pos` (usually just after the name and the fixed arguments).
    pub fn new(args: &'a [Bytes], pos: usize) -> Self {
        ArgCursor { args, pos }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.args.len()
    }

    pub fn remaining(&self) -> usize {
        self.args.len().saturating_sub(self.pos)
    }

    pub fn peek(&self) -> Option<&'a Bytes> {
        self.args.get(self.pos)
    }

    /// The next argument, or a syntax error if there is none. (Not `Iterator::next`: running
    /// out is an error the handler returns with `?`.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<&'a Bytes, CmdError> {
        let a = self.args.get(self.pos).ok_or(CmdError::Syntax)?;
        self.pos += 1;
        Ok(a)
    }

    /// Consumes the next argument if it equals `word` (ignoring case).
    pub fn eat(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(a) if a.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    pub fn next_i64(&mut self) -> Result<i64, CmdError> {
        parse_int(self.next()?)
    }

    pub fn next_f64(&mut self) -> Result<f64, CmdError> {
        parse_float(self.next()?)
    }
}

pub fn parse_int(b: &[u8]) -> Result<i64, CmdError> {
    parse_i64_strict(b).ok_or(CmdError::NotInteger)
}

/// An argument Redis reads as a C `int` (`getIntFromObjectOrReply`): database indexes, for
/// one. Beyond the `int` range is an error of its own, in Redis's words.
pub fn parse_c_int(b: &[u8]) -> Result<i32, CmdError> {
    i32::try_from(parse_int(b)?).map_err(|_| {
        CmdError::err("value is out of range, value must between -2147483648 and 2147483647")
    })
}

pub fn parse_float(b: &[u8]) -> Result<f64, CmdError> {
    parse_f64_strict(b).ok_or(CmdError::NotFloat)
}

/// True when `a` equals `word` ignoring ASCII case.
pub fn is(a: &[u8], word: &str) -> bool {
    a.eq_ignore_ascii_case(word.as_bytes())
}

/// True when `a` equals `word` ignoring ASCII case, compared as C's `strcasecmp` compares it:
/// the argument ends at its first NUL. Redis reads some options that way (SET's NX, GET...), so
/// `GET\0x` is GET there.
pub fn is_cstr(a: &[u8], word: &str) -> bool {
    let end = memchr::memchr(0, a).unwrap_or(a.len());
    is(&a[..end], word)
}
/// A SCAN cursor as Redis reads it (C's `strtoul`): optional sign, decimal digits, nothing
/// else, up to a NUL; a leading space or a value beyond 64 bits is invalid. `-1` wraps around
/// and the empty string is 0, as in Redis.
pub fn parse_scan_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::err("invalid cursor");
    let s = &arg[..memchr::memchr(0, arg).unwrap_or(arg.len())];
    if s.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match s[0] {
        b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' => return Err(invalid()),
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative { v.wrapping_neg() } else { v })
}

/// The options of HSCAN, SSCAN and ZSCAN (`COUNT n`, `MATCH pattern`, from `args[3]` on), read
/// with Redis's errors. A MATCH of `*` matches everything and is dropped.
pub struct ScanOptions<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
}

impl<'a> ScanOptions<'a> {
    pub fn parse(args: &'a [Bytes]) -> Result<ScanOptions<'a>, CmdError> {
        let mut o = ScanOptions {
            count: 10,
            pattern: None,
        };
        let mut i = 3;
        while i < args.len() {
            let has_value = i + 1 < args.len();
            if is_cstr(&args[i], "count") && has_value {
                o.count = usize::try_from(parse_int(&args[i + 1])?)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or(CmdError::Syntax)?;
            } else if is_cstr(&args[i], "match") && has_value {
                o.pattern = Some(&args[i + 1][..]).filter(|p| *p != b"*");
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
        Ok(o)
    }

    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| crate::types::glob::glob_match(p, item, false))
    }
}

/// A SCAN-family reply: the next cursor and the items found.
pub fn scan_reply(cursor: u64, items: Vec<crate::resp::Frame>) -> crate::resp::Frame {
    use crate::resp::Frame;
    Frame::Array(vec![
        Frame::Bulk(Bytes::from(cursor.to_string())),
        Frame::Array(items),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_reads_like_strtoul() {
        assert_eq!(parse_scan_cursor(b""), Ok(0));
        assert_eq!(parse_scan_cursor(b"+5"), Ok(5));
        assert_eq!(parse_scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b" 1"[..],
            b"1 ",
            b"abc",
            b"-",
            b"+",
            b"18446744073709551616",
        ] {
            assert!(parse_scan_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
