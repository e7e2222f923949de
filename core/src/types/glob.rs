//! Glob-style pattern matching with exactly the semantics of Redis's `stringmatchlen()`, the
//! matcher behind KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET and friends.
//!
//! The syntax is the familiar one: `*` matches any run of bytes, `?` exactly one byte,
//! `[abc]`, `[^abc]` and `[a-z]` are byte classes and `\x` matches `x` literally. What makes it
//! worth a file of its own are the corner cases, which clients can observe and which we
//! reproduce on purpose (each one is pinned by a test checked against redis-server 7.0.15):
//!
//! * An empty subject matches only the empty pattern: `*` does **not** match `""`. KEYS and
//!   SCAN never notice because they treat a lone `*` as "everything" before calling the
//!   matcher; callers here must do the same.
//! * An unterminated `[` extends the class to the end of the pattern, so `[ab` behaves like
//!   `[ab]`, `[^` matches any byte and `[` matches nothing. `[]` is an empty class and never
//!   matches.
//! * Ranges may be written backwards (`[z-a]` is `[a-z]`). Range bounds are compared as C
//!   `char`, which is signed on the platforms Redis ships on, so bytes >= 0x80 sort *below*
//!   `\0` inside ranges. With `nocase`, the bounds are lowered after being put in order, which
//!   makes `[Z-a]` empty.
//! * Inside a class, `\x` matches `x` case-sensitively even when `nocase` is set; outside a
//!   class `\x` follows `nocase` like any literal. A trailing lone `\` is a literal backslash.
//! * Since 7.0.9 Redis refuses to recurse through more than 1000 `*`s (CVE-2022-36021): a
//!   pattern whose 1001st run of stars is followed by anything never matches.
//!
//! Redis implements `*` by recursion, which needs the nesting cap above to stay safe. Here the
//! matcher is the classic iterative two-pointer algorithm that remembers only the most recent
//! `*`: because every other token consumes exactly one byte, retrying from the latest star is
//! enough, so matching takes O(pattern × subject) time in the worst case, with no recursion
//! and no allocation. The 1000-star cap is reproduced by a linear pre-scan, for fidelity
//! rather than safety.

/// Redis's `stringmatchlen()` gives up beyond this many nested `*` runs.
const MAX_STAR_NESTING: usize = 1000;

/// Whether `subject` matches the glob `pattern`, exactly as Redis's `stringmatchlen()` decides.
/// `nocase` folds ASCII letters only (Redis runs in the C locale).
pub fn glob_match(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    // Redis's main loop runs only while both pattern and subject are non-empty, so an empty
    // subject can only ever match an empty pattern.
    if subject.is_empty() {
        return pattern.is_empty();
    }
    if exceeds_star_nesting(pattern) {
        return false;
    }

    // `p` is the next pattern token, `i` the next subject byte. `resume` is where to go back to
    // after a mismatch: the token after the latest run of stars, and the subject position that
    // run has absorbed up to so far.
    let (mut p, mut i) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;

    while i < subject.len() {
        if pattern.get(p) == Some(&b'*') {
            p = skip_stars(pattern, p);
            if p == pattern.len() {
                return true; // a trailing star swallows whatever is left
            }
            resume = Some((p, i));
            continue;
        }
        if let Some(next) = match_token(pattern, p, subject[i], nocase) {
            p = next;
            i += 1;
            continue;
        }
        // Mismatch (or pattern exhausted): let the latest star absorb one more byte.
        match resume {
            Some((star_next, absorbed)) => {
                resume = Some((star_next, absorbed + 1));
                p = star_next;
                i = absorbed + 1;
            }
            None => return false,
        }
    }
    // Subject consumed: only stars may remain.
    skip_stars(pattern, p) == pattern.len()
}

/// Index of the first non-`*` byte at or after `p`.
fn skip_stars(pattern: &[u8], mut p: usize) -> usize {
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p
}

/// Matches the single-byte token starting at `pattern[p]` (anything but `*`) against `c`.
/// Returns the index just past the token on a match, `None` on a mismatch or at the end.
fn match_token(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    let token = *pattern.get(p)?;
    match token {
        b'?' => Some(p + 1),
        b'[' => {
            let (matched, next) = match_class(pattern, p + 1, c, nocase);
            matched.then_some(next)
        }
        b'\\' if p + 1 < pattern.len() => same_byte(pattern[p + 1], c, nocase).then_some(p + 2),
        _ => same_byte(token, c, nocase).then_some(p + 1),
    }
}

/// Evaluates the class whose body starts at `start` (just past the `[`) against `c`.
/// Returns whether it matched and the index just past the class (past its `]`, or the end of
/// the pattern when the class is unterminated). The walk is independent of `c`, so it also
/// serves to find where a class ends.
fn match_class(pattern: &[u8], start: usize, c: u8, nocase: bool) -> (bool, usize) {
    let mut p = start;
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    loop {
        let remaining = pattern.len() - p;
        match pattern.get(p) {
            // Escapes inside a class compare exactly, ignoring `nocase` (as Redis does).
            Some(b'\\') if remaining >= 2 => {
                matched |= pattern[p + 1] == c;
                p += 2;
            }
            Some(b']') => {
                p += 1;
                break;
            }
            None => break, // unterminated: the class runs to the end of the pattern
            Some(&lo) if remaining >= 3 && pattern[p + 1] == b'-' => {
                matched |= in_range(lo, pattern[p + 2], c, nocase);
                p += 3;
            }
            Some(&b) => {
                matched |= same_byte(b, c, nocase);
                p += 1;
            }
        }
    }
    (matched != negate, p)
}

/// Range test with C semantics: bytes are signed `char`s, reversed bounds are swapped, and
/// with `nocase` all three values are lowered only after the swap.
fn in_range(lo: u8, hi: u8, c: u8, nocase: bool) -> bool {
    let (mut lo, mut hi, mut c) = (signed(lo), signed(hi), signed(c));
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    if nocase {
        (lo, hi, c) = (c_tolower(lo), c_tolower(hi), c_tolower(c));
    }
    lo <= c && c <= hi
}

/// A byte as C's (signed) `char` sees it.
fn signed(b: u8) -> i32 {
    b as i8 as i32
}

/// `tolower()` in the C locale: only `A`..=`Z` change; negative chars map to themselves.
fn c_tolower(c: i32) -> i32 {
    if (b'A' as i32..=b'Z' as i32).contains(&c) {
        c + 32
    } else {
        c
    }
}

fn same_byte(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// True when matching would need to go through more than [`MAX_STAR_NESTING`] runs of `*`:
/// Redis checks the depth on entry to each recursive call, so the pattern fails as soon as its
/// 1001st run of stars is followed by another token (a trailing 1001st run is still fine).
fn exceeds_star_nesting(pattern: &[u8]) -> bool {
    let mut runs = 0;
    let mut p = 0;
    while p < pattern.len() {
        match pattern[p] {
            b'*' => {
                p = skip_stars(pattern, p);
                runs += 1;
                if runs > MAX_STAR_NESTING && p < pattern.len() {
                    return true;
                }
            }
            b'[' => p = match_class(pattern, p + 1, 0, false).1,
            b'\\' if p + 1 < pattern.len() => p += 2,
            _ => p += 1,
        }
    }
    false
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// (pattern, subject, nocase, expected). Every row was checked against redis-server
    /// 7.0.15: case-sensitive rows with `KEYS`, `nocase` rows with `CONFIG GET` (whose
    /// subjects are therefore real config names).
    const VERIFIED: &[(&[u8], &[u8], bool, bool)] = &[
        // Basics.
        (b"hello", b"hello", false, true),
        (b"hello", b"hellO", false, false),
        (b"h?llo", b"hallo", false, true),
        (b"h?llo", b"hllo", false, false),
        (b"h*llo", b"hllo", false, true),
        (b"h*llo", b"heeeello", false, true),
        (b"h*", b"h", false, true),
        (b"*o", b"hello", false, true),
        (b"*", b"x", false, true),
        (b"**", b"x", false, true),
        (b"a**b", b"ab", false, true),
        (b"*a*b*", b"xxaxxbxx", false, true),
        (b"*a*b", b"xxaxxbxxa", false, false),
        (b"", b"a", false, false),
        (b"a", b"ab", false, false),
        (b"ab", b"a", false, false),
        // Classes.
        (b"h[ae]llo", b"hello", false, true),
        (b"h[ae]llo", b"hillo", false, false),
        (b"h[^e]llo", b"hallo", false, true),
        (b"h[^e]llo", b"hello", false, false),
        (b"h[a-b]llo", b"hbllo", false, true),
        (b"h[b-a]llo", b"hbllo", false, true), // reversed range
        (b"h[a-b]llo", b"hcllo", false, false),
        (b"[]a]", b"a", false, false), // `[]` is empty; then literal "a]"
        (b"[]a]", b"]", false, false),
        (b"[^]", b"x", false, true), // empty negated class matches anything
        (b"[a-]", b"-", false, false), // "a-]" is a range a..']'
        (b"[a-]", b"_", false, true),
        (b"[a-]", b"]", false, true),
        (b"[-a]", b"-", false, true),
        (b"[\\]]", b"]", false, true),
        (b"[\\-]", b"-", false, true),
        (b"[\\", b"\\", false, true),
        // Unterminated classes.
        (b"[ab", b"a", false, true),
        (b"[ab", b"c", false, false),
        (b"x[", b"x[", false, false),
        (b"[", b"[", false, false),
        (b"[^", b"q", false, true),
        (b"[a-", b"-", false, true),
        (b"[a-", b"b", false, false),
        (b"[a-c", b"b", false, true),
        // Escapes.
        (b"\\*", b"*", false, true),
        (b"\\*", b"a", false, false),
        (b"a\\", b"a\\", false, true),
        (b"\\?x", b"?x", false, true),
        (b"\\[a]", b"[a]", false, true),
        // Signed-char ranges: 0xff is -1, so [a-\xff] is really -1..=97.
        (b"[a-\xff]", b"\xfe", false, false),
        (b"[a-\xff]", b"\xff", false, true),
        (b"[a-\xff]", b"\x01", false, true),
        (b"[\x01-\xf0]", b"\x10", false, false), // 0xf0 is -16: the range is -16..=1
        (b"[\x80-\x90]", b"\x85", false, true),
        (b"\xe9t\xe9", b"\xe9t\xe9", false, true),
        // Case folding (CONFIG GET matches with nocase).
        (b"PO*T", b"port", true, true),
        (b"P?RT", b"port", true, true),
        (b"[P]ort", b"port", true, true),
        (b"[O-Q]ort", b"port", true, true),
        (b"[^P]ort", b"port", true, false),
        (b"[\\P]ort", b"port", true, false), // escapes in a class stay case-sensitive
        (b"\\Por*", b"port", true, true),    // ... but not outside
        (b"[Z-a]ort", b"port", true, false), // swapped, then lowered: z..a is empty
        (b"MAXMEMORY*", b"maxmemory-policy", true, true),
        (b"*-ENTRIES", b"hash-max-listpack-entries", true, true),
    ];

    #[test]
    fn matches_redis_on_verified_cases() {
        for &(pattern, subject, nocase, expected) in VERIFIED {
            assert_eq!(
                glob_match(pattern, subject, nocase),
                expected,
                "pattern {:?} subject {:?} nocase {}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(subject),
                nocase
            );
        }
    }

    #[test]
    fn empty_subject_only_matches_empty_pattern() {
        assert!(glob_match(b"", b"", false));
        assert!(!glob_match(b"*", b"", false));
        assert!(!glob_match(b"**", b"", false));
        assert!(!glob_match(b"?", b"", false));
    }

    #[test]
    fn star_nesting_limit_matches_redis() {
        // Checked with KEYS against 7.0.15: 1000 runs are fine, a 1001st followed by a token
        // is refused, a trailing 1001st run is fine.
        let subject = vec![b'a'; 1001];
        let p1000 = b"*a".repeat(1000);
        assert!(glob_match(&p1000, &subject[..1000], false));
        let p1001 = b"*a".repeat(1001);
        assert!(!glob_match(&p1001, &subject, false));
        let mut trailing = b"a*".repeat(1001);
        assert!(glob_match(&trailing, &subject, false));
        trailing.push(b'a');
        let longer = vec![b'a'; 1002];
        assert!(!glob_match(&trailing, &longer, false));
        let mut within = b"a*".repeat(1000);
        within.push(b'a');
        assert!(glob_match(&within, &longer, false));
        // Stars inside classes or escaped do not count.
        let escaped = b"\\*a".repeat(1001);
        assert!(glob_match(&escaped, &b"*a".repeat(1001), false));
    }

    #[test]
    fn pathological_patterns_take_polynomial_time() {
        // Exponential for a naive backtracker: 40 stars against 20k bytes that never match.
        let mut pattern = b"*a".repeat(40);
        pattern.extend_from_slice(b"*b");
        let subject = vec![b'a'; 20_000];
        let start = std::time::Instant::now();
        assert!(!glob_match(&pattern, &subject, false));
        let mut hit = subject.clone();
        hit.push(b'b');
        assert!(glob_match(&pattern, &hit, false));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    /// A direct transcription of the recursive algorithm Redis documents (a loop over tokens,
    /// recursion on every `*`, the nesting cap), kept deliberately naive, exponential in the
    /// worst case, to serve as an oracle on short inputs.
    fn oracle(mut p: &[u8], mut s: &[u8], nocase: bool, depth: usize) -> bool {
        if depth > MAX_STAR_NESTING {
            return false;
        }
        while !p.is_empty() && !s.is_empty() {
            if p[0] == b'*' {
                let rest = &p[skip_stars(p, 0)..];
                if rest.is_empty() {
                    return true;
                }
                return (0..s.len()).any(|k| oracle(rest, &s[k..], nocase, depth + 1));
            }
            match match_token(p, 0, s[0], nocase) {
                Some(next) => (p, s) = (&p[next..], &s[1..]),
                None => return false,
            }
            if s.is_empty() {
                p = &p[skip_stars(p, 0)..];
            }
        }
        p.is_empty() && s.is_empty()
    }

    /// xorshift64*: a tiny deterministic generator, enough to drive the differential test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn pick(&mut self, from: &[u8], max_len: usize) -> Vec<u8> {
            let len = (self.next() % (max_len as u64 + 1)) as usize;
            (0..len)
                .map(|_| from[(self.next() % from.len() as u64) as usize])
                .collect()
        }
    }

    #[test]
    fn agrees_with_recursive_oracle_on_random_inputs() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let pattern_bytes = b"ab*?[]^-\\A\xff";
        let subject_bytes = b"ab-]^\\[A\xff";
        for _ in 0..200_000 {
            let p = rng.pick(pattern_bytes, 8);
            let s = rng.pick(subject_bytes, 6);
            let nocase = rng.next() & 1 == 1;
            assert_eq!(
                glob_match(&p, &s, nocase),
                oracle(&p, &s, nocase, 0),
                "pattern {:?} subject {:?} nocase {}",
                String::from_utf8_lossy(&p),
                String::from_utf8_lossy(&s),
                nocase
            );
        }
    }

    /// Differential check against a live redis-server (KEYS is case-sensitive). Run with
    /// `REDIS_PORT=7103 cargo test -- --ignored` while a scratch server listens there; it
    /// writes to database 9 of that server.
    #[test]
    #[ignore]
    fn agrees_with_live_redis_keys() {
        let port = std::env::var("REDIS_PORT").unwrap_or_else(|_| "7103".into());
        let mut redis = live::Conn::connect(&format!("127.0.0.1:{port}"));
        redis.call(&[b"SELECT", b"9"]);
        let mut rng = Rng(42);
        for round in 0..300 {
            redis.call(&[b"FLUSHDB"]);
            let subjects: Vec<Vec<u8>> = (0..12)
                .map(|_| rng.pick(b"ab-]^\\[A\xff", 5))
                .filter(|s| !s.is_empty())
                .collect();
            for s in &subjects {
                redis.call(&[b"SET", s, b"1"]);
            }
            let mut pattern = rng.pick(b"ab*?[]^-\\A\xff", 7);
            if pattern == b"*" || (round % 50 == 0) {
                pattern = b"*a*[a-]*".to_vec(); // KEYS special-cases a lone "*"
            }
            let mut theirs = redis.call_array(&[b"KEYS", &pattern]);
            theirs.sort();
            let mut ours: Vec<Vec<u8>> = subjects
                .iter()
                .filter(|s| glob_match(&pattern, s, false))
                .cloned()
                .collect();
            ours.sort();
            ours.dedup();
            assert_eq!(
                ours,
                theirs,
                "pattern {:?}",
                String::from_utf8_lossy(&pattern)
            );
        }
        redis.call(&[b"FLUSHDB"]);
    }

    /// Re-checks [`VERIFIED`] against a live redis-server: case-sensitive rows through KEYS,
    /// `nocase` rows through CONFIG GET (so those patterns all hold a `*`, `?` or `[`: without
    /// one CONFIG GET does a plain lookup instead of matching). Same setup as above, but database 10.
    #[test]
    #[ignore]
    fn verified_table_matches_live_redis() {
        let port = std::env::var("REDIS_PORT").unwrap_or_else(|_| "7103".into());
        let mut redis = live::Conn::connect(&format!("127.0.0.1:{port}"));
        redis.call(&[b"SELECT", b"10"]);
        for &(pattern, subject, nocase, expected) in VERIFIED {
            let found = if nocase {
                let flat = redis.call_array(&[b"CONFIG", b"GET", pattern]);
                flat.chunks(2).any(|kv| kv[0].eq_ignore_ascii_case(subject))
            } else {
                redis.call(&[b"FLUSHDB"]);
                redis.call(&[b"SET", subject, b"1"]);
                redis
                    .call_array(&[b"KEYS", pattern])
                    .iter()
                    .any(|k| k == subject)
            };
            assert_eq!(
                found,
                expected,
                "redis disagrees on pattern {:?} subject {:?}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(subject)
            );
        }
        redis.call(&[b"FLUSHDB"]);
    }

    /// Just enough RESP to drive the live differential tests (also used by config.rs's).
    pub(crate) mod live {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::TcpStream;

        pub struct Conn(BufReader<TcpStream>);

        #[derive(Debug)]
        #[allow(dead_code)] // some payloads only ever show up in assertion messages
        pub enum Reply {
            Simple(Vec<u8>),
            Error(String),
            Int(i64),
            Bulk(Option<Vec<u8>>),
            Array(Vec<Reply>),
        }

        impl Conn {
            pub fn connect(addr: &str) -> Conn {
                Conn(BufReader::new(
                    TcpStream::connect(addr).expect("no redis-server"),
                ))
            }

            pub fn call(&mut self, args: &[&[u8]]) -> Reply {
                let mut out = format!("*{}\r\n", args.len()).into_bytes();
                for a in args {
                    out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                    out.extend_from_slice(a);
                    out.extend_from_slice(b"\r\n");
                }
                self.0.get_mut().write_all(&out).unwrap();
                self.read()
            }

            pub fn call_array(&mut self, args: &[&[u8]]) -> Vec<Vec<u8>> {
                match self.call(args) {
                    Reply::Array(items) => items
                        .into_iter()
                        .map(|r| match r {
                            Reply::Bulk(Some(b)) => b,
                            other => panic!("unexpected {other:?}"),
                        })
                        .collect(),
                    other => panic!("unexpected {other:?}"),
                }
            }

            fn line(&mut self) -> Vec<u8> {
                let mut line = Vec::new();
                self.0.read_until(b'\n', &mut line).unwrap();
                line.truncate(line.len() - 2);
                line
            }

            fn read(&mut self) -> Reply {
                let line = self.line();
                let rest = String::from_utf8_lossy(&line[1..]).into_owned();
                match line[0] {
                    b'+' => Reply::Simple(line[1..].to_vec()),
                    b'-' => Reply::Error(rest),
                    b':' => Reply::Int(rest.parse().unwrap()),
                    b'$' => {
                        let n: i64 = rest.parse().unwrap();
                        if n < 0 {
                            return Reply::Bulk(None);
                        }
                        let mut buf = vec![0; n as usize + 2];
                        self.0.read_exact(&mut buf).unwrap();
                        buf.truncate(n as usize);
                        Reply::Bulk(Some(buf))
                    }
                    b'*' | b'%' => {
                        let n: usize = rest.parse().unwrap();
                        let n = if line[0] == b'%' { n * 2 } else { n };
                        Reply::Array((0..n).map(|_| self.read()).collect())
                    }
                    other => panic!("unexpected RESP type byte {other}"),
                }
            }
        }
    }
}
