//! Redis hashes: a packed listpack while small, a hash table beyond.
//!
//! A hash starts as a [`Listpack`]: field and value entries, one after the other, in one
//! exact-size heap block, searched linearly, as Redis keeps small hashes. Once it has more than
//! `hash-max-listpack-entries` fields, or a field or value longer than
//! `hash-max-listpack-value` bytes, it becomes a table of [`Blob`] pairs and never goes back,
//! so that `OBJECT ENCODING` answers what Redis answers after the same commands.
//!
//! Entries that read as canonical integers (Redis's `string2ll`, e.g. `123` but not `0123`)
//! are stored as integers, as Redis's listpack stores them: a number costs one to nine bytes
//! whatever its digit count. Canonical means the text is recovered exactly, so the encoding is
//! invisible to clients.

use bytes::Bytes;
use rand::Rng;

use crate::types::blob::Blob;
use crate::types::dense::DenseMap;
use crate::types::numfmt::parse_i64_strict;

/// When a hash leaves the listpack encoding: Redis's `hash-max-listpack-entries` and
/// `hash-max-listpack-value`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

/// Redis refuses to grow a listpack past 1 GiB (`lpSafeToAdd`) and converts instead.
const LISTPACK_MAX_BYTES: usize = 1 << 30;

/// A field or a value as stored: bytes, or an integer that stands for its decimal text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl<'a> Item<'a> {
    /// How `s` is stored: canonical integers of up to 20 characters as integers.
    pub fn of(s: &'a [u8]) -> Item<'a> {
        match parse_i64_strict(s) {
            Some(n) if s.len() <= 20 => Item::Int(n),
            _ => Item::Str(s),
        }
    }

    /// The text, integers rendered into `scratch`.
    pub fn bytes<'b>(&'b self, scratch: &'b mut itoa::Buffer) -> &'b [u8] {
        match self {
            Item::Str(s) => s,
            Item::Int(n) => scratch.format(*n).as_bytes(),
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut scratch = itoa::Buffer::new();
        Bytes::copy_from_slice(self.bytes(&mut scratch))
    }

    /// Length of the text (HSTRLEN).
    pub fn len(&self) -> usize {
        match self {
            Item::Str(s) => s.len(),
            Item::Int(n) => itoa::Buffer::new().format(*n).len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Listpack entry headers. One byte says what follows:
/// - `0x00..=0x7F`: a string of that many bytes;
/// - `0x80..=0xEF`: the integer `header - 0x80` (0..=111), nothing follows;
/// - `0xF1..=0xF8`: an integer in `header - 0xF0` little-endian two's-complement bytes;
/// - `0xFF`: a string whose length follows as a little-endian `u32`.
mod tag {
    pub const SHORT_STR_MAX: u8 = 0x7F;
    pub const SMALL_INT: u8 = 0x80;
    pub const SMALL_INT_MAX: i64 = 0xEF - 0x80;
    pub const INT: u8 = 0xF0;
    pub const LONG_STR: u8 = 0xFF;
}

/// Bytes needed for `n` as a two's-complement little-endian integer (1..=8).
fn int_width(n: i64) -> usize {
    (1..8)
        .find(|&w| {
            let bits = 8 * w as u32;
            let (lo, hi) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
            (lo..=hi).contains(&n)
        })
        .unwrap_or(8)
}

fn encoded_len(item: Item) -> usize {
    match item {
        Item::Int(n) if (0..=tag::SMALL_INT_MAX).contains(&n) => 1,
        Item::Int(n) => 1 + int_width(n),
        Item::Str(s) if s.len() <= tag::SHORT_STR_MAX as usize => 1 + s.len(),
        Item::Str(s) => 5 + s.len(),
    }
}

/// Writes `item` into `out`, which is exactly `encoded_len(item)` bytes.
fn encode(item: Item, out: &mut [u8]) {
    match item {
        Item::Int(n) if (0..=tag::SMALL_INT_MAX).contains(&n) => out[0] = tag::SMALL_INT + n as u8,
        Item::Int(n) => {
            let w = int_width(n);
            out[0] = tag::INT + w as u8;
            out[1..].copy_from_slice(&n.to_le_bytes()[..w]);
        }
        Item::Str(s) if s.len() <= tag::SHORT_STR_MAX as usize => {
            out[0] = s.len() as u8;
            out[1..].copy_from_slice(s);
        }
        Item::Str(s) => {
            out[0] = tag::LONG_STR;
            // A listpack never reaches 4 GiB (LISTPACK_MAX_BYTES), so the length fits.
            out[1..5].copy_from_slice(&(s.len() as u32).to_le_bytes());
            out[5..].copy_from_slice(s);
        }
    }
}

/// The entry at `pos` and the position just after it.
fn decode(buf: &[u8], pos: usize) -> (Item<'_>, usize) {
    let h = buf[pos];
    match h {
        0..=tag::SHORT_STR_MAX => {
            let end = pos + 1 + h as usize;
            (Item::Str(&buf[pos + 1..end]), end)
        }
        tag::LONG_STR => {
            let mut len = [0u8; 4];
            len.copy_from_slice(&buf[pos + 1..pos + 5]);
            let end = pos + 5 + u32::from_le_bytes(len) as usize;
            (Item::Str(&buf[pos + 5..end]), end)
        }
        _ if h < tag::INT => (Item::Int((h - tag::SMALL_INT) as i64), pos + 1),
        _ => {
            let w = (h - tag::INT) as usize;
            let mut bytes = [0u8; 8];
            bytes[..w].copy_from_slice(&buf[pos + 1..pos + 1 + w]);
            // Sign-extend from the top byte written.
            let shift = 64 - 8 * w as u32;
            let n = (i64::from_le_bytes(bytes) << shift) >> shift;
            (Item::Int(n), pos + 1 + w)
        }
    }
}

/// The compact encoding: field, value, field, value... entries in one exact-size block, in
/// insertion order (as Redis's listpack, so replies list fields in the same order). The pair
/// count lives beside the block rather than in it, where the value's slot has room anyway.
#[derive(Clone, Default)]
pub struct Listpack {
    buf: Box<[u8]>,
    len: u32,
}

impl Listpack {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the packed block.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn iter(&self) -> ListpackIter<'_> {
        ListpackIter {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// Where the pair of `field` lies: (pair start, value start, pair end).
    fn find(&self, field: &[u8]) -> Option<(usize, usize, usize)> {
        let probe = Item::of(field);
        let mut pos = 0;
        while pos < self.buf.len() {
            let (f, value_at) = decode(&self.buf, pos);
            let (_, end) = decode(&self.buf, value_at);
            if f == probe {
                return Some((pos, value_at, end));
            }
            pos = end;
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<Item<'_>> {
        self.find(field)
            .map(|(_, value_at, _)| decode(&self.buf, value_at).0)
    }

    /// Replaces `range` of the block with `len` new bytes (returned for the caller to fill),
    /// reallocating once to the exact new size.
    fn open(&mut self, range: std::ops::Range<usize>, len: usize) -> &mut [u8] {
        let mut v = std::mem::take(&mut self.buf).into_vec();
        let old = v.len();
        let (start, tail) = (range.start, range.end);
        let removed = tail - start;
        if len > removed {
            let grow = len - removed;
            v.reserve_exact(grow);
            v.resize(old + grow, 0);
            v.copy_within(tail..old, tail + grow);
        } else {
            let shrink = removed - len;
            v.copy_within(tail..old, tail - shrink);
            v.truncate(old - shrink);
        }
        self.buf = v.into_boxed_slice();
        &mut self.buf[start..start + len]
    }

    /// Sets `field` to `value`; true if the field is new. A new field goes last.
    fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        let value = Item::of(value);
        let vlen = encoded_len(value);
        match self.find(field) {
            Some((_, value_at, end)) => {
                encode(value, self.open(value_at..end, vlen));
                false
            }
            None => {
                let field = Item::of(field);
                let flen = encoded_len(field);
                let end = self.buf.len();
                let out = self.open(end..end, flen + vlen);
                let (f, v) = out.split_at_mut(flen);
                encode(field, f);
                encode(value, v);
                self.len += 1;
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Some((start, _, end)) = self.find(field) else {
            return false;
        };
        self.open(start..end, 0);
        self.len -= 1;
        true
    }

    fn pair_offsets(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < self.buf.len() {
            out.push(pos);
            let (_, value_at) = decode(&self.buf, pos);
            pos = decode(&self.buf, value_at).1;
        }
        out
    }

    fn pair_at(&self, pos: usize) -> (Item<'_>, Item<'_>) {
        let (f, value_at) = decode(&self.buf, pos);
        (f, decode(&self.buf, value_at).0)
    }
}

pub struct ListpackIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = (Item<'a>, Item<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (f, value_at) = decode(self.buf, self.pos);
        let (v, end) = decode(self.buf, value_at);
        self.pos = end;
        Some((f, v))
    }
}

/// A Redis hash in one of its two encodings.
#[derive(Clone)]
pub enum Hash {
    Listpack(Listpack),
    /// Boxed so that a hash stays as small as a string value in the key table.
    Table(Box<DenseMap<Blob>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Listpack(Listpack::default())
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({}, {} fields)", self.encoding(), self.len())
    }
}

impl Hash {
    /// An empty hash, as Redis creates one: a listpack.
    pub fn new() -> Hash {
        Hash::default()
    }

    /// A hash holding `pairs` (a later duplicate field replaces an earlier one), in the
    /// encoding Redis would pick for them under `limits`: for loading a snapshot.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        limits: Limits,
    ) -> Hash {
        let mut h = Hash::new();
        for (f, v) in pairs {
            h.set(f, v, limits);
        }
        h
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.len(),
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Hash::Listpack(lp) => lp.is_empty(),
            Hash::Table(t) => t.is_empty(),
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Listpack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<Item<'_>> {
        match self {
            Hash::Listpack(lp) => lp.get(field),
            Hash::Table(t) => t.get(field).map(|v| Item::Str(v)),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new. Converts to a table first when either
    /// is too long for a listpack, and afterwards when there are too many fields, where Redis's
    /// `hashTypeSet` does.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: Limits) -> bool {
        if let Hash::Listpack(lp) = self {
            let too_long = field.len() > limits.max_value || value.len() > limits.max_value;
            let too_big = lp.bytes() + field.len() + value.len() > LISTPACK_MAX_BYTES;
            if too_long || too_big {
                self.convert();
            }
        }
        match self {
            Hash::Listpack(lp) => {
                let added = lp.insert(field, value);
                // Checked on replacing too: the limit may have been lowered since.
                if lp.len() > limits.max_entries {
                    self.convert();
                }
                added
            }
            Hash::Table(t) => t.insert(field, Blob::new(value)).is_none(),
        }
    }

    /// Removes `field`; true if it was there. The caller deletes the key when the hash empties.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Listpack(lp) => lp.remove(field),
            Hash::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// Turns a listpack into a table; a table stays as it is.
    fn convert(&mut self) {
        if let Hash::Listpack(lp) = self {
            let mut t = DenseMap::default();
            let mut scratch = (itoa::Buffer::new(), itoa::Buffer::new());
            for (f, v) in lp.iter() {
                t.insert(f.bytes(&mut scratch.0), Blob::new(v.bytes(&mut scratch.1)));
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// Every (field, value) pair: in insertion order for a listpack, in table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Hash::Listpack(lp) => Iter::Listpack(lp.iter()),
            Hash::Table(t) => Iter::Table(t, 0),
        }
    }

    /// Visits `count` random pairs with their position (0..len): distinct ones when `distinct`
    /// (all of them, in order, when `count` is at least the size), or independent picks that
    /// may repeat otherwise.
    pub fn random_pairs(
        &self,
        count: usize,
        distinct: bool,
        mut visit: impl FnMut(usize, Item<'_>, Item<'_>),
    ) {
        let len = self.len();
        if len == 0 {
            return;
        }
        if distinct && count >= len {
            self.iter()
                .enumerate()
                .for_each(|(i, (f, v))| visit(i, f, v));
            return;
        }
        let mut rng = rand::thread_rng();
        // A listpack has no random access: index its pairs once.
        let offsets = match self {
            Hash::Listpack(lp) => lp.pair_offsets(),
            Hash::Table(_) => Vec::new(),
        };
        let mut emit = |i: usize| match self {
            Hash::Listpack(lp) => {
                let (f, v) = lp.pair_at(offsets[i]);
                visit(i, f, v)
            }
            Hash::Table(t) => {
                if let Some((f, v)) = t.at(i) {
                    visit(i, Item::Str(f), Item::Str(v))
                }
            }
        };
        if distinct {
            for i in rand::seq::index::sample(&mut rng, len, count) {
                emit(i);
            }
        } else {
            for _ in 0..count {
                emit(rng.gen_range(0..len));
            }
        }
    }

    /// HSCAN's walk: a listpack is visited whole (cursor 0 next, as Redis does); a table by
    /// about `count` pairs from `cursor`, returning the cursor to continue from (0: done).
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(Item<'_>, Item<'_>),
    ) -> u64 {
        match self {
            Hash::Listpack(lp) => {
                lp.iter().for_each(|(f, v)| visit(f, v));
                0
            }
            Hash::Table(t) => t.scan(cursor, count, |f, v| visit(Item::Str(f), Item::Str(v))),
        }
    }

    /// [`Hash::heap_size`] with the fields' and values' own bytes estimated from the first
    /// `samples` pairs.
    pub fn heap_size_sampled(&self, samples: usize) -> usize {
        match self {
            Hash::Listpack(lp) => lp.bytes(),
            Hash::Table(t) => {
                std::mem::size_of::<DenseMap<Blob>>()
                    + t.allocated()
                    + t.sampled_entry_heap(samples, |f, v| f.heap_size() + v.heap_size())
            }
        }
    }

    /// Heap bytes the hash owns, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Hash::Listpack(lp) => lp.bytes(),
            Hash::Table(t) => {
                std::mem::size_of::<DenseMap<Blob>>()
                    + t.allocated()
                    + t.iter()
                        .map(|(f, v)| f.heap_size() + v.heap_size())
                        .sum::<usize>()
            }
        }
    }
}

/// Pairs of a [`Hash`], from [`Hash::iter`].
pub enum Iter<'a> {
    Listpack(ListpackIter<'a>),
    Table(&'a DenseMap<Blob>, usize),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (Item<'a>, Item<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Listpack(it) => it.next(),
            Iter::Table(t, i) => {
                let (f, v) = t.at(*i)?;
                *i += 1;
                Some((Item::Str(f), Item::Str(v)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: Limits = Limits {
        max_entries: 512,
        max_value: 64,
    };

    fn text(i: Item) -> Vec<u8> {
        i.to_bytes().to_vec()
    }

    fn pairs(h: &Hash) -> Vec<(Vec<u8>, Vec<u8>)> {
        h.iter().map(|(f, v)| (text(f), text(v))).collect()
    }

    #[test]
    fn items_round_trip_through_the_packed_encoding() {
        let long = vec![b'x'; 300];
        let samples: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"0",
            b"111",
            b"112",
            b"-1",
            b"127",
            b"-128",
            b"128",
            b"32767",
            b"-32769",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"9223372036854775808",
            b"0123",
            b"-0",
            b"+1",
            b" 1",
            &long,
            &long[..127],
            &long[..128],
        ];
        for s in samples {
            let item = Item::of(s);
            let mut buf = vec![0u8; encoded_len(item)];
            encode(item, &mut buf);
            let (back, end) = decode(&buf, 0);
            assert_eq!(back, item, "{:?}", String::from_utf8_lossy(s));
            assert_eq!(end, buf.len());
            assert_eq!(text(back), s);
            assert_eq!(back.len(), s.len());
        }
        assert_eq!(encoded_len(Item::of(b"100")), 1);
        assert_eq!(encoded_len(Item::of(b"1234567")), 4);
        assert_eq!(encoded_len(Item::of(b"field1")), 7);
    }

    #[test]
    fn listpack_set_get_remove_keep_order() {
        let mut h = Hash::new();
        assert!(h.set(b"a", b"1", DEFAULT));
        assert!(h.set(b"b", b"two", DEFAULT));
        assert!(h.set(b"c", b"-300", DEFAULT));
        assert!(!h.set(b"a", b"a much longer value than before", DEFAULT));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.len(), 3);
        assert_eq!(
            h.get(b"a").map(text),
            Some(b"a much longer value than before".to_vec())
        );
        assert_eq!(h.get(b"c"), Some(Item::Int(-300)));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(
            pairs(&h),
            vec![
                (b"a".to_vec(), b"a much longer value than before".to_vec()),
                (b"c".to_vec(), b"-300".to_vec())
            ]
        );
        assert!(!h.set(b"a", b"1", DEFAULT));
        assert!(h.remove(b"a") && h.remove(b"c"));
        assert!(h.is_empty());
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn integer_fields_do_not_match_other_spellings() {
        let mut h = Hash::new();
        h.set(b"1", b"x", DEFAULT);
        assert!(h.get(b"01").is_none());
        assert!(h.get(b"+1").is_none());
        assert!(h.get(b"1").is_some());
        h.set(b"01", b"y", DEFAULT);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn converts_at_redis_thresholds() {
        let small = Limits {
            max_entries: 2,
            max_value: 4,
        };
        let mut h = Hash::new();
        h.set(b"a", b"1", small);
        h.set(b"b", b"1234", small);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"a", b"2", small);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"c", b"3", small);
        assert_eq!(h.encoding(), "hashtable");
        h.remove(b"c");
        h.remove(b"b");
        assert_eq!(h.encoding(), "hashtable", "never converts back");
        assert_eq!(pairs(&h), vec![(b"a".to_vec(), b"2".to_vec())]);

        let mut h = Hash::new();
        h.set(b"a", b"12345", small);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        h.set(b"abcde", b"1", small);
        assert_eq!(h.encoding(), "hashtable");

        let none = Limits {
            max_entries: 0,
            max_value: 64,
        };
        let mut h = Hash::new();
        h.set(b"a", b"1", none);
        assert_eq!(h.encoding(), "hashtable");

        // Lowering the limit converts on the next write, even one that replaces a value.
        let mut h = Hash::new();
        for f in [b"a", b"b", b"c"] {
            h.set(f, b"1", DEFAULT);
        }
        assert!(h.remove(b"c"));
        assert_eq!(h.encoding(), "listpack");
        let lowered = Limits {
            max_entries: 1,
            max_value: 64,
        };
        assert!(!h.set(b"a", b"2", lowered));
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn from_pairs_picks_the_encoding() {
        let few: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"b", b"2"), (b"a", b"3")];
        let h = Hash::from_pairs(few.iter().copied(), DEFAULT);
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.len(), 2);
        let many: Vec<(Vec<u8>, Vec<u8>)> = (0..600)
            .map(|i| (format!("f{i}").into_bytes(), format!("{i}").into_bytes()))
            .collect();
        let h = Hash::from_pairs(many.iter().map(|(f, v)| (&f[..], &v[..])), DEFAULT);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 600);
        assert_eq!(h.get(b"f599"), Some(Item::Str(b"599")));
    }

    #[test]
    fn an_empty_listpack_owns_no_memory() {
        let mut h = Hash::new();
        assert_eq!(h.heap_size(), 0);
        h.set(b"f", b"v", DEFAULT);
        assert_eq!(h.heap_size(), 4);
        h.remove(b"f");
        assert_eq!(h.heap_size(), 0);
    }

    #[test]
    fn random_pairs_distinct_and_repeated() {
        for limits in [
            DEFAULT,
            Limits {
                max_entries: 0,
                max_value: 64,
            },
        ] {
            let mut h = Hash::new();
            for i in 0..10 {
                h.set(
                    format!("f{i}").as_bytes(),
                    format!("{i}").as_bytes(),
                    limits,
                );
            }
            let mut seen = Vec::new();
            h.random_pairs(5, true, |_, f, v| {
                assert_eq!(&text(f)[1..], &text(v)[..]);
                seen.push(text(f));
            });
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 5);
            let mut n = 0;
            h.random_pairs(50, false, |i, _, _| {
                assert!(i < 10);
                n += 1
            });
            assert_eq!(n, 50);
            let mut all = Vec::new();
            h.random_pairs(11, true, |_, f, _| all.push(text(f)));
            assert_eq!(all.len(), 10);
        }
    }

    #[test]
    fn scan_covers_a_table() {
        let limits = Limits {
            max_entries: 0,
            max_value: 64,
        };
        let mut h = Hash::new();
        for i in 0..100 {
            h.set(format!("f{i}").as_bytes(), b"v", limits);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, 7, |f, _| {
                seen.insert(text(f));
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 100);
    }
}
