//! Redis's glob matching (KEYS, SCAN MATCH, CONFIG GET, and the other pattern arguments),
//! against the real redis-server: a table of cases each checked against Redis 7.0.15, and
//! random patterns and subjects compared with KEYS on a live server.

mod common;

use common::{RawConn, Server};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tessera::types::glob::glob_match;

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
    (b"[^]", b"x", false, true),   // empty negated class matches anything
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

/// `max_len` bytes at most, drawn from `from`.
fn pick(rng: &mut SmallRng, from: &[u8], max_len: usize) -> Vec<u8> {
    let len = rng.gen_range(0..=max_len);
    (0..len)
        .map(|_| from[rng.gen_range(0..from.len())])
        .collect()
}

/// A reply's elements, as byte strings.
fn strings(conn: &mut RawConn, args: &[&[u8]]) -> Vec<Vec<u8>> {
    let bytes = conn.command(args).expect("a reply");
    match common::parse_reply(&bytes)
        .expect("valid")
        .expect("whole")
        .0
    {
        common::Reply::Array(items) => items
            .into_iter()
            .map(|i| match i {
                common::Reply::Bulk(b) => b,
                other => panic!("not a bulk string: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

/// Random patterns against random keys, KEYS on redis-server deciding (case-sensitive).
#[test]
fn agrees_with_redis_keys_on_random_inputs() {
    let server = Server::redis(&[]);
    let mut redis = server.connect();
    let mut rng = SmallRng::seed_from_u64(42);
    for round in 0..300 {
        redis.command(&[b"FLUSHDB".as_slice()]).expect("FLUSHDB");
        let subjects: Vec<Vec<u8>> = (0..12)
            .map(|_| pick(&mut rng, b"ab-]^\\[A\xff", 5))
            .filter(|s| !s.is_empty())
            .collect();
        for s in &subjects {
            redis.command(&[b"SET".as_slice(), s, b"1"]).expect("SET");
        }
        let mut pattern = pick(&mut rng, b"ab*?[]^-\\A\xff", 7);
        if pattern == b"*" || (round % 50 == 0) {
            pattern = b"*a*[a-]*".to_vec(); // KEYS special-cases a lone "*"
        }
        let mut theirs = strings(&mut redis, &[b"KEYS", &pattern]);
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
}

/// Every row of the table through redis-server: case-sensitive rows with KEYS, `nocase` rows
/// with CONFIG GET (so those patterns all hold a `*`, `?` or `[`: without one CONFIG GET does
/// a plain lookup instead of matching).
#[test]
fn the_table_agrees_with_redis() {
    let server = Server::redis(&[]);
    let mut redis = server.connect();
    for &(pattern, subject, nocase, expected) in VERIFIED {
        let found = if nocase {
            let flat = strings(&mut redis, &[b"CONFIG", b"GET", pattern]);
            flat.chunks(2).any(|kv| kv[0].eq_ignore_ascii_case(subject))
        } else {
            redis.command(&[b"FLUSHDB".as_slice()]).expect("FLUSHDB");
            redis
                .command(&[b"SET".as_slice(), subject, b"1"])
                .expect("SET");
            strings(&mut redis, &[b"KEYS", pattern])
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
}
