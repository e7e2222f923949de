//! Redis sets with Redis 7.0's two encodings.
//!
//! A set whose members are all integers (by Redis's `string2ll` rules) and that has at most
//! `set-max-intset-entries` of them is an [`IntSet`]: a sorted, packed array of little-endian
//! integers, all of one width (2, 4 or 8 bytes), the narrowest that holds every member. Anything
//! else is a hash table of byte strings. A set leaves the intset for good: removing members never
//! converts it back, and an intset never narrows its width, as in Redis.
//!
//! Small intsets live inside the value itself, without an allocation: ten small integers take
//! 20 bytes, which fit beside the width and length. That is what keeps a key holding a small
//! set of integers cheaper than in Redis, whose intset is always a separate allocation.

use bytes::Bytes;
use rand::Rng;

use crate::types::blob::Blob;
use crate::types::dense::DenseMap;
use crate::types::numfmt::parse_i64_strict;

/// The width of an intset's elements, Redis's `INTSET_ENC_INT16/32/64`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(u8)]
pub enum Width {
    W2 = 2,
    W4 = 4,
    W8 = 8,
}

impl Width {
    /// The narrowest width that holds `v`.
    pub fn of(v: i64) -> Width {
        if i16::try_from(v).is_ok() {
            Width::W2
        } else if i32::try_from(v).is_ok() {
            Width::W4
        } else {
            Width::W8
        }
    }

    pub fn bytes(self) -> usize {
        self as usize
    }

    fn read(self, b: &[u8], i: usize) -> i64 {
        let at = i * self.bytes();
        match self {
            Width::W2 => i16::from_le_bytes([b[at], b[at + 1]]) as i64,
            Width::W4 => i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as i64,
            Width::W8 => {
                let mut w = [0u8; 8];
                w.copy_from_slice(&b[at..at + 8]);
                i64::from_le_bytes(w)
            }
        }
    }

    /// Appends `v` (which must fit) to `out`.
    fn push(self, out: &mut Vec<u8>, v: i64) {
        match self {
            Width::W2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            Width::W4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            Width::W8 => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

/// Element bytes kept in place before an intset moves to the heap.
const INLINE: usize = 21;

/// A sorted set of distinct integers in one packed buffer (Redis's `intset`).
///
/// Width and length sit in each variant (not in a shared field) so that the whole type is 24
/// bytes and still leaves a niche for [`Set`]'s other variant.
#[derive(Clone)]
pub enum IntSet {
    Inline {
        width: Width,
        len: u8,
        bytes: [u8; INLINE],
    },
    Heap {
        width: Width,
        bytes: Box<[u8]>,
    },
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::Inline {
            width: Width::W2,
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl std::fmt::Debug for IntSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl IntSet {
    pub fn new() -> IntSet {
        IntSet::default()
    }

    pub fn width(&self) -> Width {
        match self {
            IntSet::Inline { width, .. } | IntSet::Heap { width, .. } => *width,
        }
    }

    /// The packed elements, little-endian, ascending.
    pub fn bytes(&self) -> &[u8] {
        match self {
            IntSet::Inline { len, bytes, .. } => &bytes[..*len as usize],
            IntSet::Heap { bytes, .. } => bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.bytes().len() / self.width().bytes()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    pub fn get(&self, i: usize) -> i64 {
        self.width().read(self.bytes(), i)
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let (width, bytes) = (self.width(), self.bytes());
        (0..self.len()).map(move |i| width.read(bytes, i))
    }

    /// The position of `v`, or where it would go.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        Width::of(v) <= self.width() && self.search(v).is_ok()
    }

    /// Adds `v`; false if it was already there. A value wider than the current width re-encodes
    /// every element at the new width; it is then the smallest or the largest element.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = Width::of(v);
        let width = self.width();
        if need > width {
            let mut out = Vec::with_capacity((self.len() + 1) * need.bytes());
            if v < 0 {
                need.push(&mut out, v);
            }
            for x in self.iter() {
                need.push(&mut out, x);
            }
            if v >= 0 {
                need.push(&mut out, v);
            }
            self.store(need, out);
            return true;
        }
        let Err(pos) = self.search(v) else {
            return false;
        };
        let at = pos * width.bytes();
        let old = self.bytes();
        let mut out = Vec::with_capacity(old.len() + width.bytes());
        out.extend_from_slice(&old[..at]);
        width.push(&mut out, v);
        out.extend_from_slice(&old[at..]);
        self.store(width, out);
        true
    }

    /// Removes `v`; false if it was not there. The width stays as it was.
    pub fn remove(&mut self, v: i64) -> bool {
        if Width::of(v) > self.width() {
            return false;
        }
        let Ok(pos) = self.search(v) else {
            return false;
        };
        let width = self.width();
        let at = pos * width.bytes();
        let old = self.bytes();
        let mut out = Vec::with_capacity(old.len() - width.bytes());
        out.extend_from_slice(&old[..at]);
        out.extend_from_slice(&old[at + width.bytes()..]);
        self.store(width, out);
        true
    }

    /// Keeps `bytes` in place if they fit, else in an allocation of exactly their size.
    fn store(&mut self, width: Width, bytes: Vec<u8>) {
        *self = if bytes.len() <= INLINE {
            let mut inline = [0u8; INLINE];
            inline[..bytes.len()].copy_from_slice(&bytes);
            IntSet::Inline {
                width,
                len: bytes.len() as u8,
                bytes: inline,
            }
        } else {
            IntSet::Heap {
                width,
                bytes: bytes.into_boxed_slice(),
            }
        };
    }

    /// Bytes allocated beyond the value itself.
    pub fn heap_size(&self) -> usize {
        match self {
            IntSet::Inline { .. } => 0,
            IntSet::Heap { bytes, .. } => bytes.len(),
        }
    }

    /// Redis's serialized intset (the RDB `SET_INTSET` payload): a 4-byte width, a 4-byte
    /// count, then the elements, all little-endian.
    pub fn to_redis_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.bytes().len());
        out.extend_from_slice(&(self.width() as u32).to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        out.extend_from_slice(self.bytes());
        out
    }

    /// Reads Redis's serialized intset, checking it as Redis's `intsetValidateIntegrity` does
    /// (a known width, a length that matches, elements strictly ascending).
    pub fn from_redis_bytes(b: &[u8]) -> Option<IntSet> {
        let header = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
        };
        let width = match header(0)? {
            2 => Width::W2,
            4 => Width::W4,
            8 => Width::W8,
            _ => return None,
        };
        let count = header(4)? as usize;
        let body = &b[8..];
        if count.checked_mul(width.bytes())? != body.len() {
            return None;
        }
        let ascending = (1..count).all(|i| width.read(body, i - 1) < width.read(body, i));
        if !ascending {
            return None;
        }
        let mut set = IntSet::new();
        set.store(width, body.to_vec());
        Some(set)
    }
}

/// One member as a set holds it: an intset's integer or a hash table's string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Member<'_> {
    /// Calls `f` with the member's bytes; integers are formatted as Redis formats them.
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
            Member::Str(s) => f(s),
        }
    }

    pub fn to_bytes(self) -> Bytes {
        self.with_bytes(Bytes::copy_from_slice)
    }
}

/// A Redis set value.
#[derive(Clone)]
pub enum Set {
    Ints(IntSet),
    Hash(Box<DenseMap<()>>),
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|m| m.to_bytes()))
            .finish()
    }
}

impl Set {
    /// The empty set a new key starts as for its first member, as Redis's `setTypeCreate`: an
    /// intset if that member is an integer.
    pub fn new_for(first: &[u8]) -> Set {
        if parse_i64_strict(first).is_some() {
            Set::Ints(IntSet::new())
        } else {
            Set::Hash(Box::default())
        }
    }

    /// The empty intset Redis starts a computed result from (SUNION, SINTER...): the members
    /// added then decide whether it stays one.
    pub fn empty() -> Set {
        Set::Ints(IntSet::new())
    }

    /// A set of `members` (duplicates allowed), encoded as Redis encodes a set built by
    /// adding them one by one: an intset if all are integers and there are at most
    /// `max_intset` of them. For loading (RDB) and for rebuilt sets.
    pub fn from_members<I, M>(members: I, max_intset: usize) -> Set
    where
        I: IntoIterator<Item = M>,
        M: AsRef<[u8]>,
    {
        let mut set = Set::empty();
        for m in members {
            set.add(m.as_ref(), max_intset);
        }
        set
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Hash(h) => h.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Hash(_) => "hashtable",
        }
    }

    /// Adds `m`; false if it was already a member. Leaves the intset when `m` is not an
    /// integer or the set would exceed `max_intset` members.
    pub fn add(&mut self, m: &[u8], max_intset: usize) -> bool {
        match self {
            Set::Ints(s) => match parse_i64_strict(m) {
                Some(n) => {
                    if !s.insert(n) {
                        return false;
                    }
                    if s.len() > max_intset {
                        self.convert_to_hash();
                    }
                    true
                }
                None => {
                    self.convert_to_hash();
                    self.add(m, max_intset)
                }
            },
            Set::Hash(h) => {
                if h.contains(m) {
                    return false;
                }
                h.insert(m, ());
                true
            }
        }
    }

    /// Like [`Set::add`], for a member taken from another set (no formatting for intset to
    /// intset).
    pub fn add_member(&mut self, m: Member, max_intset: usize) -> bool {
        match (&mut *self, m) {
            (Set::Ints(s), Member::Int(n)) => {
                if !s.insert(n) {
                    return false;
                }
                if s.len() > max_intset {
                    self.convert_to_hash();
                }
                true
            }
            _ => m.with_bytes(|b| self.add(b, max_intset)),
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_i64_strict(m).is_some_and(|n| s.remove(n)),
            Set::Hash(h) => h.swap_remove(m).is_some(),
        }
    }

    pub fn remove_member(&mut self, m: Member) -> bool {
        match (&mut *self, m) {
            (Set::Ints(s), Member::Int(n)) => s.remove(n),
            _ => m.with_bytes(|b| self.remove(b)),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_i64_strict(m).is_some_and(|n| s.contains(n)),
            Set::Hash(h) => h.contains(m),
        }
    }

    pub fn contains_member(&self, m: Member) -> bool {
        match (self, m) {
            (Set::Ints(s), Member::Int(n)) => s.contains(n),
            _ => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// The members: ascending for an intset, in table order for a hash table.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Set::Ints(s) => Iter::Ints(s, 0),
            Set::Hash(h) => Iter::Hash(h, 0),
        }
    }

    /// The member at `i` (0..len) in iteration order; a uniform random pick is `at(random)`.
    pub fn at(&self, i: usize) -> Option<Member<'_>> {
        match self {
            Set::Ints(s) => (i < s.len()).then(|| Member::Int(s.get(i))),
            Set::Hash(h) => h.at(i).map(|(k, _)| Member::Str(k.as_bytes())),
        }
    }

    /// A uniformly random member, `None` if the set is empty.
    pub fn random(&self, rng: &mut impl Rng) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        self.at(rng.gen_range(0..self.len()))
    }

    /// Removes and returns a uniformly random member.
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Bytes> {
        let m = self.random(rng)?;
        let out = m.to_bytes();
        match m {
            Member::Int(n) => {
                if let Set::Ints(s) = self {
                    s.remove(n);
                }
            }
            Member::Str(_) => {
                self.remove(&out);
            }
        }
        Some(out)
    }

    /// SSCAN's walk: visits about `count` members from `cursor` and returns the next cursor, 0
    /// when done. An intset is visited whole in one call (cursor 0 back), as Redis does for its
    /// compact encodings.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(Member)) -> u64 {
        match self {
            Set::Ints(s) => {
                s.iter().for_each(|n| visit(Member::Int(n)));
                0
            }
            Set::Hash(h) => h.scan(cursor, count, |k, _| visit(Member::Str(k.as_bytes()))),
        }
    }

    /// [`Set::heap_size`] with the members' own bytes estimated from the first `samples`.
    pub fn heap_size_sampled(&self, samples: usize) -> usize {
        match self {
            Set::Ints(s) => s.heap_size(),
            Set::Hash(h) => {
                std::mem::size_of::<DenseMap<()>>()
                    + h.allocated()
                    + h.sampled_entry_heap(samples, |k, _| k.heap_size())
            }
        }
    }

    /// Bytes this set owns on the heap, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Set::Ints(s) => s.heap_size(),
            Set::Hash(h) => {
                std::mem::size_of::<DenseMap<()>>()
                    + h.allocated()
                    + h.iter().map(|(k, _)| k.heap_size()).sum::<usize>()
            }
        }
    }

    fn convert_to_hash(&mut self) {
        if let Set::Ints(s) = self {
            let mut h: Box<DenseMap<()>> = Box::default();
            let mut buf = itoa::Buffer::new();
            for n in s.iter() {
                h.insert(buf.format(n).as_bytes(), ());
            }
            *self = Set::Hash(h);
        }
    }
}

/// An iterator over a set's members, see [`Set::iter`].
pub enum Iter<'a> {
    Ints(&'a IntSet, usize),
    Hash(&'a DenseMap<()>, usize),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Ints(s, i) => {
                let m = (*i < s.len()).then(|| Member::Int(s.get(*i)))?;
                *i += 1;
                Some(m)
            }
            Iter::Hash(h, i) => {
                let (k, _): (&'a Blob, _) = h.at(*i)?;
                *i += 1;
                Some(Member::Str(k.as_bytes()))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match self {
            Iter::Ints(s, i) => s.len() - *i,
            Iter::Hash(h, i) => h.len() - *i,
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(s: &Set) -> Vec<i64> {
        s.iter()
            .map(|m| match m {
                Member::Int(n) => n,
                Member::Str(_) => panic!("not an intset"),
            })
            .collect()
    }

    #[test]
    fn sizes_fit_a_key_slot() {
        assert_eq!(std::mem::size_of::<IntSet>(), 24);
        assert_eq!(std::mem::size_of::<Set>(), 24);
    }

    #[test]
    fn intset_stays_sorted_and_grows_width() {
        let mut s = IntSet::new();
        for v in [5, -3, 100, 0, 7, 5] {
            s.insert(v);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), [-3, 0, 5, 7, 100]);
        assert_eq!(s.width(), Width::W2);
        assert!(s.insert(70_000));
        assert_eq!(s.width(), Width::W4);
        assert_eq!(s.bytes().len(), 6 * 4);
        assert!(s.insert(i64::MIN));
        assert_eq!(s.width(), Width::W8);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [i64::MIN, -3, 0, 5, 7, 100, 70_000]
        );
        assert!(s.contains(70_000) && s.contains(i64::MIN) && !s.contains(6));
        assert!(s.remove(i64::MIN));
        assert!(!s.remove(i64::MIN));
        // Redis never narrows an intset.
        assert_eq!(s.width(), Width::W8);
        assert!(!s.contains(i64::MAX));
    }

    #[test]
    fn ten_small_integers_stay_inline() {
        let mut s = IntSet::new();
        for v in 1..=10 {
            s.insert(v);
        }
        assert_eq!(s.heap_size(), 0);
        s.insert(11);
        assert_eq!(s.heap_size(), 22);
        for v in 1..=11 {
            assert!(s.contains(v));
        }
        s.remove(11);
        assert_eq!(s.heap_size(), 0);
    }

    #[test]
    fn wider_value_than_width_is_never_found() {
        let mut s = IntSet::new();
        s.insert(1);
        assert!(!s.contains(1 << 40));
        assert!(!s.remove(1 << 40));
    }

    #[test]
    fn redis_bytes_round_trip_and_validate() {
        let mut s = IntSet::new();
        for v in [3, 1, 2] {
            s.insert(v);
        }
        let b = s.to_redis_bytes();
        assert_eq!(&b[..8], &[2, 0, 0, 0, 3, 0, 0, 0]);
        let back = IntSet::from_redis_bytes(&b).expect("valid");
        assert_eq!(back.iter().collect::<Vec<_>>(), [1, 2, 3]);
        let mut unsorted = b.clone();
        unsorted.swap(8, 10);
        assert!(IntSet::from_redis_bytes(&unsorted).is_none());
        assert!(IntSet::from_redis_bytes(&b[..9]).is_none());
        assert!(IntSet::from_redis_bytes(&[3, 0, 0, 0, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn set_converts_on_non_integer_and_on_size() {
        let mut s = Set::new_for(b"1");
        assert!(s.add(b"1", 3));
        assert!(!s.add(b"1", 3));
        assert!(s.add(b"2", 3));
        assert_eq!(s.encoding(), "intset");
        // Redis's string2ll rules: these are not integers.
        for not_int in [&b"01"[..], b"+1", b" 1", b"-0", b""] {
            let mut t = Set::new_for(b"1");
            t.add(b"1", 10);
            t.add(not_int, 10);
            assert_eq!(t.encoding(), "hashtable", "{not_int:?}");
            assert!(t.contains(not_int) && t.contains(b"1"));
        }
        s.add(b"3", 3);
        assert_eq!(s.encoding(), "intset");
        s.add(b"4", 3);
        assert_eq!(s.encoding(), "hashtable");
        for m in [b"1", b"2", b"3", b"4"] {
            assert!(s.contains(m));
        }
        // Never back.
        s.remove(b"4");
        s.remove(b"3");
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn from_members_picks_the_encoding() {
        let s = Set::from_members([&b"3"[..], b"1", b"2", b"1"], 3);
        assert_eq!(s.encoding(), "intset");
        assert_eq!(ints(&s), [1, 2, 3]);
        let s = Set::from_members(["3", "1", "2", "4"], 3);
        assert_eq!(s.encoding(), "hashtable");
        let s = Set::from_members(["a", "1"], 3);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn members_compare_across_encodings() {
        let ints = Set::from_members(["1", "2"], 10);
        let hash = Set::from_members(["a", "1"], 10);
        assert!(hash.contains_member(Member::Int(1)));
        assert!(!hash.contains_member(Member::Int(2)));
        assert!(ints.contains_member(Member::Str(b"1")));
        assert!(!ints.contains_member(Member::Str(b"a")));
        assert_eq!(Member::Int(-12).to_bytes(), Bytes::from_static(b"-12"));
    }

    #[test]
    fn pop_random_empties_the_set() {
        let mut rng = rand::thread_rng();
        for members in [vec!["1", "2", "3"], vec!["a", "b", "c"]] {
            let mut s = Set::from_members(&members, 10);
            let mut popped = Vec::new();
            while let Some(m) = s.pop_random(&mut rng) {
                popped.push(String::from_utf8(m.to_vec()).expect("utf8"));
            }
            popped.sort();
            assert_eq!(popped, members);
            assert!(s.random(&mut rng).is_none());
        }
    }

    #[test]
    fn scan_visits_everything() {
        let members: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
        let s = Set::from_members(&members, 10);
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, 7, |m| seen.push(m.to_bytes()));
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 100);
        let ints = Set::from_members(["5", "6"], 10);
        let mut all = Vec::new();
        assert_eq!(ints.scan(0, 1, |m| all.push(m.to_bytes())), 0);
        assert_eq!(all.len(), 2);
    }
}
