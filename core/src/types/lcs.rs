//! The LCS command: longest common subsequence of two strings, with its reply shapes.
//!
//! Redis fills the classic (len_a + 1) x (len_b + 1) dynamic-programming table and walks it
//! back from the end, emitting matched ranges from the last to the first. When several common
//! subsequences have the maximal length, which one is reported depends on the walk's
//! tie-breaking, so the walk here follows Redis 7.0 step by step. The table size is limited
//! the way Redis limits it (by `proto-max-bulk-len`), which also bounds this server's memory.

use bytes::Bytes;

use crate::error::CmdError;
use crate::resp::Frame;
use crate::types::numfmt::parse_i64_strict;

/// Redis's default `proto-max-bulk-len`, which also caps LCS's temporary table (in bytes).
pub const MAX_TABLE_BYTES: u64 = 512 * 1024 * 1024;

/// The options after the two keys: `[LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LcsOptions {
    /// Reply only the length.
    pub len: bool,
    /// Reply the matched ranges and the length.
    pub idx: bool,
    /// With IDX, leave out ranges shorter than this (0: keep all; negative input becomes 0).
    pub min_match_len: u64,
    /// With IDX, add each range's length to its entry.
    pub with_match_len: bool,
}

impl LcsOptions {
    /// Parses the options after the keys, in any order and case.
    ///
    /// Errors in Redis 7.0's order: an unknown word, or MINMATCHLEN without a value, is
    /// `ERR syntax error`; a MINMATCHLEN value that is not an integer is `ERR value is not an
    /// integer or out of range`; after all options, LEN together with IDX is `ERR If you want
    /// both the length and indexes, please just use IDX.`.
    ///
    /// Redis looks both keys up before parsing these: a key holding another type is
    /// `ERR The specified keys must contain string values` (not WRONGTYPE), and a missing key
    /// counts as an empty string.
    pub fn parse<A: AsRef<[u8]>>(args: &[A]) -> Result<LcsOptions, CmdError> {
        let mut opts = LcsOptions::default();
        let mut i = 0;
        while i < args.len() {
            let opt = args[i].as_ref();
            let more = i + 1 < args.len();
            if opt.eq_ignore_ascii_case(b"idx") {
                opts.idx = true;
            } else if opt.eq_ignore_ascii_case(b"len") {
                opts.len = true;
            } else if opt.eq_ignore_ascii_case(b"withmatchlen") {
                opts.with_match_len = true;
            } else if opt.eq_ignore_ascii_case(b"minmatchlen") && more {
                let n = parse_i64_strict(args[i + 1].as_ref()).ok_or(CmdError::NotInteger)?;
                opts.min_match_len = n.max(0) as u64;
                i += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            i += 1;
        }
        if opts.len && opts.idx {
            return Err(CmdError::err(
                "If you want both the length and indexes, please just use IDX.",
            ));
        }
        Ok(opts)
    }
}

/// One matched range: inclusive byte ranges in each string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcsMatch {
    pub a: (u32, u32),
    pub b: (u32, u32),
}

impl LcsMatch {
    /// Number of bytes in the range (WITHMATCHLEN's value); ranges are never empty.
    pub fn match_len(&self) -> u32 {
        self.a.1 - self.a.0 + 1
    }
}

/// The longest common subsequence itself and its matched ranges, last match first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcsResult {
    pub lcs: Vec<u8>,
    /// Every maximal run of consecutive matched bytes, from the end of the strings backwards
    /// (the order Redis replies them in), unfiltered by MINMATCHLEN.
    pub matches: Vec<LcsMatch>,
}

/// The DP table, indexed as Redis indexes it: `at(i, j)` is the LCS length of a[..i], b[..j].
struct Table {
    cells: Vec<u32>,
    width: usize,
}

impl Table {
    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }
}

/// Refuses the inputs Redis refuses before allocating its table, so that LEN (which needs no
/// table here) fails exactly when Redis would.
///
/// Errors: `ERR String too long for LCS` and `ERR Insufficient memory, transient memory for
/// LCS exceeds proto-max-bulk-len`.
fn check_sizes(a: &[u8], b: &[u8]) -> Result<u64, CmdError> {
    if a.len() as u64 >= u64::from(u32::MAX) - 1 || b.len() as u64 >= u64::from(u32::MAX) - 1 {
        return Err(CmdError::err("String too long for LCS"));
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells * 4 > MAX_TABLE_BYTES {
        return Err(CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    Ok(cells)
}

/// Checks the sizes (see [`check_sizes`]), then allocates and fills the table; an allocation
/// failure is `ERR Insufficient memory, failed allocating transient memory for LCS`.
fn build_table(a: &[u8], b: &[u8]) -> Result<Table, CmdError> {
    let cells = check_sizes(a, b)?;
    let width = b.len() + 1;
    let mut table = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(CmdError::err(
            "Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    // Row 0 (empty prefix of a) is all zeros; each later row is built from the previous one.
    table.resize(width, 0u32);
    for i in 1..=a.len() {
        let prev = (i - 1) * width;
        table.push(0);
        for j in 1..=b.len() {
            let v = if a[i - 1] == b[j - 1] {
                table[prev + j - 1] + 1
            } else {
                table[prev + j].max(table[prev + width + j - 1])
            };
            table.push(v);
        }
    }
    Ok(Table {
        cells: table,
        width,
    })
}

/// Only the LCS length (LCS ... LEN). Refuses the same inputs as [`lcs`], with the same
/// errors: `ERR String too long for LCS` and `ERR Insufficient memory, transient memory for
/// LCS exceeds proto-max-bulk-len` (the table Redis would build exceeds 512 MB).
pub fn lcs_len(a: &[u8], b: &[u8]) -> Result<u32, CmdError> {
    check_sizes(a, b)?;
    // The length needs only the previous row of the table, not the whole of it.
    let mut prev = vec![0u32; b.len() + 1];
    let mut cur = vec![0u32; b.len() + 1];
    for &x in a {
        for (j, &y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Ok(prev[b.len()])
}

/// The LCS of `a` and `b` and its matched ranges, as Redis's walk finds them.
/// Errors as [`lcs_len`], plus `ERR Insufficient memory, failed allocating transient memory
/// for LCS` if the table (up to 512 MB) cannot be allocated.
pub fn lcs(a: &[u8], b: &[u8]) -> Result<LcsResult, CmdError> {
    let t = build_table(a, b)?;
    let total = t.at(a.len(), b.len()) as usize;
    let mut lcs = vec![0u8; total];
    let mut matches = Vec::new();
    // The range being extended backwards, if any: (a_start, a_end, b_start, b_end).
    let mut open: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j, mut k) = (a.len(), b.len(), total);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            lcs[k - 1] = a[i - 1];
            match open {
                None => open = Some((i - 1, i - 1, j - 1, j - 1)),
                // Contiguous with the open range: extend it backwards.
                Some((sa, ea, sb, eb)) if sa == i && sb == j => {
                    open = Some((sa - 1, ea, sb - 1, eb))
                }
                // Redis emits the open range here without recording this byte in a new one;
                // it cannot happen (a gap always passes through the branch below first), but
                // the walk stays Redis's.
                Some(_) => emit = true,
            }
            // Reaching the start of either string ends the walk: emit what is open.
            if matches!(open, Some((sa, _, sb, _)) if sa == 0 || sb == 0) {
                emit = true;
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            // Redis moves up only when that keeps a strictly longer LCS; on ties it moves left.
            if t.at(i - 1, j) > t.at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = open.is_some();
        }
        if emit {
            if let Some((sa, ea, sb, eb)) = open.take() {
                matches.push(LcsMatch {
                    a: (sa as u32, ea as u32),
                    b: (sb as u32, eb as u32),
                });
            }
        }
    }
    Ok(LcsResult { lcs, matches })
}

/// Runs LCS on the two values (missing keys as empty strings) and builds the reply:
/// the LCS as a bulk string by default; its length as an integer with LEN; with IDX a map
/// `{"matches": [[[a_start, a_end], [b_start, b_end](, len)?], ...], "len": n}` (a flat
/// array for RESP2 clients, as Redis sends). Errors as [`lcs`].
pub fn lcs_reply(a: &[u8], b: &[u8], opts: &LcsOptions) -> Result<Frame, CmdError> {
    if opts.len && !opts.idx {
        return Ok(Frame::Integer(i64::from(lcs_len(a, b)?)));
    }
    let result = lcs(a, b)?;
    if !opts.idx {
        return Ok(Frame::Bulk(Bytes::from(result.lcs)));
    }
    let range = |(s, e): (u32, u32)| {
        Frame::Array(vec![
            Frame::Integer(i64::from(s)),
            Frame::Integer(i64::from(e)),
        ])
    };
    let matches = result
        .matches
        .iter()
        .filter(|m| opts.min_match_len == 0 || u64::from(m.match_len()) >= opts.min_match_len)
        .map(|m| {
            let mut entry = vec![range(m.a), range(m.b)];
            if opts.with_match_len {
                entry.push(Frame::Integer(i64::from(m.match_len())));
            }
            Frame::Array(entry)
        })
        .collect();
    Ok(Frame::Map(vec![
        (Frame::bulk_str("matches"), Frame::Array(matches)),
        (
            Frame::bulk_str("len"),
            Frame::Integer(result.lcs.len() as i64),
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn args(s: &str) -> Vec<&[u8]> {
        s.split(' ')
            .filter(|a| !a.is_empty())
            .map(str::as_bytes)
            .collect()
    }

    /// The reply bytes for `LCS` with options `o`, in RESP2 or RESP3.
    fn wire(a: &[u8], b: &[u8], o: &str, resp3: bool) -> String {
        let reply = LcsOptions::parse(&args(o))
            .and_then(|opts| lcs_reply(a, b, &opts))
            .unwrap_or_else(Frame::from);
        let mut out = BytesMut::new();
        reply.write(&mut out, resp3);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Exact replies captured from redis-server 7.0.15 (RESP2 and `HELLO 3`).
    #[test]
    fn replies_match_redis_bytes() {
        let (a, b) = (b"ohmytext", b"mynewtext");
        assert_eq!(wire(a, b, "", false), "$6\r\nmytext\r\n");
        assert_eq!(wire(a, b, "LEN", false), ":6\r\n");
        assert_eq!(wire(a, b, "len", true), ":6\r\n");
        assert_eq!(
            wire(a, b, "idx withmatchlen", false),
            "*4\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n\
             *3\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(
            wire(a, b, "idx withmatchlen", true),
            "%2\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n\
             *3\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(
            wire(a, b, "IDX MINMATCHLEN 4 WITHMATCHLEN", false),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(
            wire(a, b, "idx", false),
            "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n\
             *2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n"
        );
        assert_eq!(
            wire(b"", b"mynewtext", "idx", true),
            "%2\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n"
        );
        assert_eq!(wire(b"", b"", "", false), "$0\r\n\r\n");
    }

    #[test]
    fn option_errors_match_redis() {
        let e = |o: &str| LcsOptions::parse(&args(o)).unwrap_err().message();
        assert_eq!(
            e("len idx"),
            "ERR If you want both the length and indexes, please just use IDX."
        );
        assert_eq!(e("foo"), "ERR syntax error");
        assert_eq!(e("minmatchlen"), "ERR syntax error");
        assert_eq!(e("len idx foo"), "ERR syntax error");
        assert_eq!(
            e("minmatchlen x"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            e("len minmatchlen x"),
            "ERR value is not an integer or out of range"
        );
        let o = LcsOptions::parse(&args("MinMatchLen -5 idx idx")).unwrap();
        assert_eq!(o.min_match_len, 0);
        assert!(o.idx);
    }

    #[test]
    fn table_size_limit_matches_redis() {
        // redis-server 7.0.15: 12000 x 12000 is refused, 11580 x 11580 (536 MB of table) runs.
        let big = vec![b'x'; 12000];
        let other = vec![b'y'; 12000];
        let msg = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
        assert_eq!(lcs_len(&big, &other).unwrap_err().message(), msg);
        // The limit is on the product: a long string against an empty one is fine.
        assert_eq!(lcs_len(&vec![b'x'; 1_000_000], b""), Ok(0));
    }

    /// LCS length by an independent two-row DP, to check the table.
    fn reference_len(a: &[u8], b: &[u8]) -> u32 {
        let mut prev = vec![0u32; b.len() + 1];
        for &x in a {
            let mut cur = vec![0u32; b.len() + 1];
            for (j, &y) in b.iter().enumerate() {
                cur[j + 1] = if x == y {
                    prev[j] + 1
                } else {
                    prev[j + 1].max(cur[j])
                };
            }
            prev = cur;
        }
        prev[b.len()]
    }

    #[test]
    fn results_are_consistent() {
        let mut seed = 12345u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            seed >> 16
        };
        for _ in 0..300 {
            let a: Vec<u8> = (0..next() % 30)
                .map(|_| b"abc"[(next() % 3) as usize])
                .collect();
            let b: Vec<u8> = (0..next() % 30)
                .map(|_| b"abc"[(next() % 3) as usize])
                .collect();
            let r = lcs(&a, &b).unwrap();
            assert_eq!(r.lcs.len() as u32, reference_len(&a, &b));
            assert_eq!(lcs_len(&a, &b), Ok(reference_len(&a, &b)));
            // The matched ranges, read forwards, spell the LCS in both strings.
            let mut from_a = Vec::new();
            let mut from_b = Vec::new();
            for m in r.matches.iter().rev() {
                from_a.extend_from_slice(&a[m.a.0 as usize..=m.a.1 as usize]);
                from_b.extend_from_slice(&b[m.b.0 as usize..=m.b.1 as usize]);
            }
            assert_eq!(from_a, r.lcs);
            assert_eq!(from_b, r.lcs);
        }
    }

    /// Generated from redis-server 7.0.15: a, b, MINMATCHLEN, `LCS a b`, and the matches of
    /// `LCS a b IDX MINMATCHLEN n WITHMATCHLEN` as "a_start,a_end,b_start,b_end,len;...".
    const REDIS_LCS: &[(&str, &str, i64, &str, &str)] = &[
        ("ababbbcba", "abbabba", 3, "abbbba", "2,4,0,2,3"),
        ("aaaab", "cacabb", 3, "aab", ""),
        ("acabb", "aababb", 3, "aabb", "2,4,3,5,3"),
        ("bcbc", "x0y00yz1z", 0, "", ""),
        ("1xy10z0x0x", "dbbbabbdccd", 1, "", ""),
        ("aababb", "bbbbbacc", 3, "bbb", ""),
        ("abbbaca", "a", 2, "a", ""),
        ("babaabbaaaba", "cdcddaacdc", 2, "aa", ""),
        ("abcc", "baaabaaca", 2, "abc", "0,1,3,4,2"),
        ("y10y1x01", "dacbbacaac", 1, "", ""),
        (
            "cbaaca",
            "bacccabab",
            0,
            "baca",
            "5,5,7,7,1;4,4,4,4,1;3,3,1,1,1;1,1,0,0,1",
        ),
        ("cbcabacbb", "", 1, "", ""),
        ("xyyz", "babca", 2, "", ""),
        ("dbaaabbbbcccc", "acbdb", 3, "abb", ""),
        ("ababa", "accba", 3, "aba", ""),
        (
            "abbbccabb",
            "abaaabaaaaba",
            0,
            "ababb",
            "8,8,10,10,1;6,7,4,5,2;3,3,1,1,1;0,0,0,0,1",
        ),
        ("yy", "bbbbba", 0, "", ""),
        ("", "", 1, "", ""),
        ("dcdaacd", "abbb", 0, "a", "4,4,0,0,1"),
        ("aaba", "d", 0, "", ""),
        ("dca", "cc", 0, "c", "1,1,0,0,1"),
        ("a", "aab", 0, "a", "0,0,1,1,1"),
        ("aaaaccdd", "c", 1, "c", "5,5,0,0,1"),
        ("aaaabbab", "acc", 0, "a", "6,6,0,0,1"),
        ("bbcdbabcaddcd", "", 2, "", ""),
        ("cd", "baabaaabbbba", 3, "", ""),
        ("baa", "dbbcddbd", 1, "b", "0,0,1,1,1"),
        (
            "baacbbcccc",
            "ccbcaacccba",
            0,
            "cbcccc",
            "7,9,6,8,3;5,6,2,3,2;3,3,0,0,1",
        ),
        ("baddcd", "cacabcab", -1, "ac", "4,4,2,2,1;1,1,1,1,1"),
        ("ab", "bbbabbacbaabc", 3, "ab", ""),
        ("z", "dab", 3, "", ""),
        ("xx1yzyyzy", "bcbc", 2, "", ""),
        ("bbbaacba", "aaaacbaccdcc", 0, "aacba", "3,7,2,6,5"),
        ("bbbbbba", "y1xz11", 0, "", ""),
        ("10zy011yz", "bbbbababab", -1, "", ""),
        ("bbaacabbcb", "dc", 2, "c", ""),
        ("cabcacc", "z", 0, "", ""),
        ("", "cacabccb", 3, "", ""),
        ("bbc", "a", -1, "", ""),
        ("abcccbd", "0z", 3, "", ""),
        ("bcbadcdbcba", "cbccacbbcaaac", 2, "cbacbba", "1,2,0,1,2"),
        ("dbab", "a", 0, "a", "2,2,0,0,1"),
        ("0xyxx", "aabbbbaaaaba", 2, "", ""),
        ("yyyz01", "0zz", 2, "0", ""),
        ("aaa", "bbbbabaaaabaa", 3, "aaa", ""),
        ("yx0z", "", 3, "", ""),
        ("aababaaa", "yzy00zzzyy", 0, "", ""),
        ("bcccc", "babab", -1, "b", "0,0,0,0,1"),
        ("aaaa", "baacacbcbabaa", 3, "aaaa", ""),
        ("abbabab", "c", 0, "", ""),
        ("", "bcdac", 0, "", ""),
        ("y11yzz1010xy0", "baabbbabbaaab", -1, "", ""),
        ("ccccca", "bb", 1, "", ""),
        ("bbbbbaa", "", 3, "", ""),
        ("zy1zzz0z0", "babcbbab", 2, "", ""),
        ("abaabaaaaaba", "dcbbdbddcbdac", 2, "bbba", ""),
        ("", "0x011110", 0, "", ""),
        ("dabcaacccddcd", "db", 3, "db", ""),
        ("cabc", "bbbaa", 0, "b", "2,2,0,0,1"),
        ("bbbbbb", "x0zy0yx", 0, "", ""),
    ];

    #[test]
    fn lcs_matches_redis_cases() {
        for (a, b, min, plain, idx) in REDIS_LCS {
            let min_arg = min.to_string();
            let opts =
                LcsOptions::parse(&["IDX", "MINMATCHLEN", &min_arg, "WITHMATCHLEN"]).unwrap();
            let want_matches: Vec<Frame> = idx
                .split(';')
                .filter(|m| !m.is_empty())
                .map(|m| {
                    let n: Vec<i64> = m.split(',').map(|x| x.parse().unwrap()).collect();
                    let pair = |s, e| Frame::Array(vec![Frame::Integer(s), Frame::Integer(e)]);
                    Frame::Array(vec![
                        pair(n[0], n[1]),
                        pair(n[2], n[3]),
                        Frame::Integer(n[4]),
                    ])
                })
                .collect();
            let want = Frame::Map(vec![
                (Frame::bulk_str("matches"), Frame::Array(want_matches)),
                (Frame::bulk_str("len"), Frame::Integer(plain.len() as i64)),
            ]);
            assert_eq!(
                lcs_reply(a.as_bytes(), b.as_bytes(), &opts),
                Ok(want),
                "LCS {a} {b} IDX"
            );
            let plain_reply = lcs_reply(a.as_bytes(), b.as_bytes(), &LcsOptions::default());
            assert_eq!(plain_reply, Ok(Frame::bulk_str(plain)), "LCS {a} {b}");
            let len_opts = LcsOptions {
                len: true,
                ..LcsOptions::default()
            };
            let len_reply = lcs_reply(a.as_bytes(), b.as_bytes(), &len_opts);
            assert_eq!(
                len_reply,
                Ok(Frame::Integer(plain.len() as i64)),
                "LCS {a} {b} LEN"
            );
        }
    }
}
