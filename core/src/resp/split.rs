//! Redis's `sdssplitargs()`, the one splitter for everything typed as a line: inline commands,
//! redis.conf and `--name value` overrides, AOF manifests, and the test suite's scripts.

/// C's `isspace` in the C locale, which `sdssplitargs` uses between arguments and after a
/// closing quote.
#[inline]
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Redis's `sdssplitargs()`: splits a line into arguments separated by blanks. Arguments may be
/// "double quoted" (with \n \r \t \b \a \xHH and backslash escapes) or 'single quoted' (only
/// \' is an escape); a closing quote must be followed by a blank or the end of the line.
/// Returns `None` on unbalanced quotes. Like the C original, a NUL byte ends the line.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // The C code walks a NUL-terminated string; reading past the end as NUL keeps the logic
    // identical.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while at(i) != 0 && is_c_space(at(i)) {
            i += 1;
        }
        if at(i) == 0 {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(i);
            let mut done = false;
            if in_double {
                if c == b'\\'
                    && at(i + 1) == b'x'
                    && hex(at(i + 2)).is_some()
                    && hex(at(i + 3)).is_some()
                {
                    current.push(hex(at(i + 2)).unwrap() * 16 + hex(at(i + 3)).unwrap());
                    i += 3;
                } else if c == b'\\' && at(i + 1) != 0 {
                    i += 1;
                    current.push(match at(i) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(i + 1) == b'\'' {
                    i += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => current.push(c),
                }
            }
            if c != 0 {
                i += 1;
            }
            if done {
                break;
            }
        }
        args.push(current);
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Redis's `sdscatrepr()`: quotes an argument so that `split_args` reads it back unchanged.
pub fn push_repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_args_follows_sdssplitargs() {
        let split = |s: &str| {
            split_args(s.as_bytes()).map(|v| {
                v.into_iter()
                    .map(|a| String::from_utf8(a).unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(split("  a   b\t c  ").unwrap(), ["a", "b", "c"]);
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(
            split(r"requirepass 'a b\'c'").unwrap(),
            ["requirepass", "a b'c"]
        );
        assert_eq!(split(r#"x "a\x41\n\"b\\""#).unwrap(), ["x", "aA\n\"b\\"]);
        assert_eq!(split(r#""\xZZ""#).unwrap(), ["xZZ"]); // not a hex escape: plain escape
        assert_eq!(split(r#"ab"cd""#).unwrap(), ["abcd"]); // a quote may open mid-word
        assert_eq!(split(r#""""#).unwrap(), [""]);
        assert_eq!(split(r#""abc"d"#), None); // closing quote must end the word
        assert_eq!(split("'abc'd"), None);
        assert_eq!(split(r#""abc"#), None);
        assert_eq!(split("'abc"), None);
        assert_eq!(split("a\0b c").unwrap(), ["a"]); // NUL ends the line, as in C
    }
}
