//! The values a key can hold, with Redis's compact encodings.
//!
//! Strings that look like integers are stored as integers (`OBJECT ENCODING int`), short strings
//! without a separate allocation when they fit a `Blob` (`embstr`), and strings that commands
//! modify in place (APPEND, SETRANGE, SETBIT) as growable vectors (`raw`), mirroring when Redis
//! switches encodings so that OBJECT ENCODING answers the same.

use bytes::Bytes;

use crate::types::blob::Blob;
use crate::types::hash::Hash;
use crate::types::list::List;
use crate::types::numfmt::parse_i64_strict;
use crate::types::set::Set;
use crate::types::zset::ZSet;

/// Redis keeps strings up to this length in one allocation with their header (`embstr`).
pub const EMBSTR_MAX: usize = 44;

#[derive(Debug, Clone)]
pub enum Value {
    Str(StrValue),
    /// Boxed: a list is rare next to strings and should not widen every entry.
    List(Box<List>),
    Set(Set),
    ZSet(ZSet),
    Hash(Hash),
}

#[derive(Debug, Clone)]
pub enum StrValue {
    Int(i64),
    Emb(Blob),
    Raw(Vec<u8>),
}

impl Value {
    /// The value a SET-like command stores: integer-looking strings of up to 20 characters
    /// become integers, short ones embedded, long ones raw.
    pub fn from_bytes(b: &[u8]) -> Value {
        Value::Str(StrValue::from_bytes(b))
    }

    /// A string stored as Redis's `createStringObject` stores it, without trying the integer
    /// encoding: embedded up to 44 bytes, raw beyond. Redis does this for strings it builds
    /// itself rather than receives (INCRBYFLOAT's result), so `OBJECT ENCODING` says `embstr`
    /// even for "5".
    pub fn from_bytes_no_int(b: &[u8]) -> Value {
        Value::Str(if b.len() <= EMBSTR_MAX {
            StrValue::Emb(Blob::new(b))
        } else {
            StrValue::Raw(b.to_vec())
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Hash(_) => "hash",
        }
    }

    /// An empty value of the same type, left in a key's place while its value is lent to
    /// another shard (see [`super::Db::lend`]): lock-free readers such as SCAN ... TYPE still
    /// see the key and its type, and nothing that respects locks ever reads it.
    pub fn placeholder(&self) -> Value {
        match self {
            Value::Str(_) => Value::Str(StrValue::Int(0)),
            Value::List(_) => Value::List(Box::new(List::new(0))),
            Value::Set(_) => Value::Set(Set::empty()),
            Value::ZSet(_) => Value::ZSet(ZSet::Packed(Default::default())),
            Value::Hash(_) => Value::Hash(Hash::new()),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(StrValue::Int(_)) => "int",
            Value::Str(StrValue::Emb(_)) => "embstr",
            Value::Str(StrValue::Raw(_)) => "raw",
            // Redis 7.0 has no other list encoding (listpack lists came in 7.2).
            Value::List(_) => "quicklist",
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Hash(h) => h.encoding(),
        }
    }

    /// What Redis reports as the value's reference count: it shares the integers 0..9999
    /// among all keys and reports them with the maximum count; everything else is owned once.
    pub fn refcount(&self) -> i32 {
        match self {
            Value::Str(StrValue::Int(n)) if (0..10000).contains(n) => i32::MAX,
            _ => 1,
        }
    }

    /// [`Value::heap_size`] as MEMORY USAGE estimates it: the elements of a big set, hash or
    /// list measured on the first `samples` (nodes, for a list) and their average counted for
    /// all. Compact encodings and sorted sets (which keep their members' total) are exact.
    pub fn heap_size_sampled(&self, samples: usize) -> usize {
        match self {
            Value::List(l) => l.heap_size_sampled(samples),
            Value::Set(s) => s.heap_size_sampled(samples),
            Value::Hash(h) => h.heap_size_sampled(samples),
            _ => self.heap_size(),
        }
    }

    /// Bytes this value owns on the heap beyond the entry itself, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(StrValue::Int(_)) => 0,
            Value::Str(StrValue::Emb(b)) => b.heap_size(),
            Value::Str(StrValue::Raw(v)) => v.capacity(),
            Value::List(l) => l.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
            Value::Hash(h) => h.heap_size(),
        }
    }
}

impl StrValue {
    pub fn from_bytes(b: &[u8]) -> StrValue {
        if b.len() <= 20 {
            if let Some(n) = parse_i64_strict(b) {
                return StrValue::Int(n);
            }
        }
        if b.len() <= EMBSTR_MAX {
            StrValue::Emb(Blob::new(b))
        } else {
            StrValue::Raw(b.to_vec())
        }
    }

    /// The string's bytes. Integers are rendered into `scratch`.
    pub fn bytes<'a>(&'a self, scratch: &'a mut itoa::Buffer) -> &'a [u8] {
        match self {
            StrValue::Int(n) => scratch.format(*n).as_bytes(),
            StrValue::Emb(b) => b.as_bytes(),
            StrValue::Raw(v) => v,
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut scratch = itoa::Buffer::new();
        Bytes::copy_from_slice(self.bytes(&mut scratch))
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => itoa::Buffer::new().format(*n).len(),
            StrValue::Emb(b) => b.len(),
            StrValue::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Turns the value into a growable byte vector for in-place modification, the `raw`
    /// encoding Redis uses after APPEND or SETRANGE.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrValue::Raw(_)) {
            let mut scratch = itoa::Buffer::new();
            let bytes = self.bytes(&mut scratch).to_vec();
            *self = StrValue::Raw(bytes);
        }
        match self {
            StrValue::Raw(v) => v,
            _ => unreachable!("converted to Raw just above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(Value::from_bytes(b"123").encoding(), "int");
        assert_eq!(Value::from_bytes(b"-9223372036854775808").encoding(), "int");
        assert_eq!(Value::from_bytes(b"0123").encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::from_bytes(&[b'a'; 45]).encoding(), "raw");
        assert_eq!(Value::from_bytes_no_int(b"5").encoding(), "embstr");
        assert_eq!(Value::from_bytes_no_int(&[b'1'; 45]).encoding(), "raw");
    }
}
