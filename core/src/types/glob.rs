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
mod tests {
    use super::*;

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
}
