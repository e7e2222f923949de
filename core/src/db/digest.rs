//! DEBUG DIGEST and DEBUG DIGEST-VALUE: a SHA1-based fingerprint of a data set or of values,
//! computed exactly as Redis 7.0 computes it, so that a digest taken on Tessera equals the one
//! a Redis holding the same data reports (Redis's test suite compares them across servers,
//! and across a save and a reload).
//!
//! Two ways of folding data in: `xor` (SHA1 of the data, xored in) where order must not
//! matter (set members, hash fields, the keys of a database), and `mix` (xor, then replace the
//! digest with the SHA1 of itself) where it must (list elements, a key before its value).

use sha1::{Digest as _, Sha1};

use super::value::Value;
use super::{Db, Entry};
use crate::resp::frame::format_double;
use crate::types::hash::Hash;

pub type Digest = [u8; 20];

fn xor(digest: &mut Digest, data: &[u8]) {
    let hash = Sha1::digest(data);
    for (d, h) in digest.iter_mut().zip(hash.iter()) {
        *d ^= h;
    }
}

fn mix(digest: &mut Digest, data: &[u8]) {
    xor(digest, data);
    let rehashed = Sha1::digest(&digest[..]);
    digest.copy_from_slice(&rehashed);
}

/// Redis's object type numbers, which the digest includes (in network order).
fn type_number(value: &Value) -> u32 {
    match value {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
    }
}

/// Folds a value, and whether it expires, into `digest` (Redis's `xorObjectDigest`).
pub fn add_value(digest: &mut Digest, entry: &Entry) {
    let value = &entry.value;
    mix(digest, &type_number(value).to_be_bytes());
    match value {
        Value::Str(s) => {
            let mut scratch = itoa::Buffer::new();
            mix(digest, s.bytes(&mut scratch));
        }
        Value::List(l) => {
            for e in l.iter() {
                e.with_bytes(|b| mix(digest, b));
            }
        }
        Value::Set(s) => {
            for m in s.iter() {
                m.with_bytes(|b| xor(digest, b));
            }
        }
        // Each member with its score is a digest of its own, xored in: members are unordered.
        Value::ZSet(z) => {
            for (member, score) in z.iter() {
                let mut element = Digest::default();
                mix(&mut element, member);
                mix(&mut element, format_double(score).as_bytes());
                xor(digest, &element);
            }
        }
        Value::Hash(h) => add_hash(digest, h),
    }
    if entry.expire().is_some() {
        xor(digest, b"!!expire!!");
    }
}

fn add_hash(digest: &mut Digest, h: &Hash) {
    let (mut a, mut b) = (itoa::Buffer::new(), itoa::Buffer::new());
    for (field, value) in h.iter() {
        let mut element = Digest::default();
        mix(&mut element, field.bytes(&mut a));
        mix(&mut element, value.bytes(&mut b));
        xor(digest, &element);
    }
}

/// The digest of one key's value, or zeros for a missing key (DEBUG DIGEST-VALUE).
pub fn value_digest(entry: Option<&Entry>) -> Digest {
    let mut digest = Digest::default();
    if let Some(entry) = entry {
        add_value(&mut digest, entry);
    }
    digest
}

/// The xor of every key's digest in `db`: a database's part of DEBUG DIGEST. Being a xor, the
/// parts that several shards hold of one database combine with [`xor_into`].
pub fn db_part(db: &Db) -> Digest {
    let mut part = Digest::default();
    for (key, entry) in db.iter() {
        let mut digest = Digest::default();
        mix(&mut digest, key);
        add_value(&mut digest, entry);
        xor(&mut part, &digest);
    }
    part
}

pub fn xor_into(digest: &mut Digest, other: &Digest) {
    for (d, o) in digest.iter_mut().zip(other) {
        *d ^= o;
    }
}

/// DEBUG DIGEST from each non-empty database's number and combined part, in database order.
pub fn dataset_digest(parts: impl IntoIterator<Item = (usize, Digest)>) -> Digest {
    let mut digest = Digest::default();
    for (index, part) in parts {
        mix(&mut digest, &(index as u32).to_be_bytes());
        xor_into(&mut digest, &part);
    }
    digest
}

/// A digest as Redis prints it: 40 lowercase hex digits.
pub fn to_hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
