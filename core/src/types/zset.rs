//! Sorted sets: members with f64 scores, ordered by (score, member).
//!
//! Two encodings, switched at Redis's thresholds so that OBJECT ENCODING answers the same:
//!
//! - `listpack` ([`Packed`]): one byte buffer of entries in order, each a LEB128 member length,
//!   the member, and the score as a tagged small integer or an 8-byte double. Everything is a
//!   linear scan, which is what a set of at most `zset-max-listpack-entries` short members
//!   wants.
//! - `skiplist` ([`Tree`]): each member once, in a [`DenseMap`] from member to score, and the
//!   order as an order-statistics B+tree ([`OsTree`]) of the members' positions in that map.
//!   Lookups by member are hashed; by score, lex range and rank O(log n). See
//!   docs/architecture.md for why this and not a skiplist.
//!
//! A set converts from listpack to skiplist when it gains an entry beyond the entry limit or a
//! member longer than the value limit, and never back, except that a set built whole (the STORE
//! commands' results, RDB loading) gets the encoding its size calls for, as in Redis.

use std::cmp::Ordering;

use crate::types::dense::DenseMap;
use crate::types::ostree::OsTree;

/// The listpack thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries: usize,
    pub value: usize,
}

impl Limits {
    fn packs(&self, count: usize, longest: usize) -> bool {
        count <= self.entries && longest <= self.value
    }
}

/// Orders (score, member) pairs as Redis does: by score, then member bytes.
pub fn cmp_entry(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

#[derive(Clone, Debug)]
pub enum ZSet {
    Packed(Packed),
    Tree(Box<Tree>),
}

/// What an insertion did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Added,
    /// The member existed; its score was changed.
    Updated,
    /// The member existed with this very score.
    Same,
}

impl ZSet {
    /// An empty set with the encoding Redis gives a set created for a first member of
    /// `first_len` bytes.
    pub fn new(limits: Limits, first_len: usize) -> ZSet {
        if limits.entries == 0 || first_len > limits.value {
            ZSet::Tree(Box::default())
        } else {
            ZSet::Packed(Packed::default())
        }
    }

    /// A set holding `pairs` (members distinct), encoded as the limits call for: a set built
    /// whole (RDB loading, the STORE commands' results).
    pub fn from_pairs<M: AsRef<[u8]>>(
        pairs: impl IntoIterator<Item = (M, f64)>,
        limits: Limits,
    ) -> ZSet {
        let mut pairs: Vec<(M, f64)> = pairs.into_iter().collect();
        pairs.sort_by(|a, b| cmp_entry((a.1, a.0.as_ref()), (b.1, b.0.as_ref())));
        let longest = pairs.iter().map(|p| p.0.as_ref().len()).max().unwrap_or(0);
        if limits.packs(pairs.len(), longest) {
            let mut p = Packed::default();
            for (m, s) in &pairs {
                p.push_back(m.as_ref(), *s);
            }
            ZSet::Packed(p)
        } else {
            let mut t = Tree::default();
            for (m, s) in &pairs {
                t.push_back(m.as_ref(), *s);
            }
            ZSet::Tree(Box::new(t))
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Tree(_) => "skiplist",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.len(),
            ZSet::Tree(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(p) => p.find(member).map(|f| f.score),
            ZSet::Tree(t) => t.members.get(member).copied(),
        }
    }

    /// Sets `member`'s score, adding it if absent; converts to skiplist first when adding it
    /// would cross a limit.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: Limits) -> Change {
        if let ZSet::Packed(p) = self {
            match p.find(member) {
                Some(found) if found.score == score => return Change::Same,
                Some(found) => {
                    p.remove_span(found.start, found.end);
                    p.insert_sorted(member, score);
                    return Change::Updated;
                }
                None if limits.packs(p.len() + 1, member.len()) => {
                    p.insert_sorted(member, score);
                    return Change::Added;
                }
                None => self.convert_to_tree(),
            }
        }
        match self {
            ZSet::Tree(t) => t.insert(member, score),
            ZSet::Packed(_) => unreachable!("converted above"),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Packed(p) => match p.find(member) {
                Some(found) => {
                    p.remove_span(found.start, found.end);
                    true
                }
                None => false,
            },
            ZSet::Tree(t) => t.remove(member),
        }
    }

    /// The member's rank in ascending order, and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            ZSet::Packed(p) => p.find(member).map(|f| (f.rank, f.score)),
            ZSet::Tree(t) => {
                let score = *t.members.get(member)?;
                Some((t.rank_of(score, member), score))
            }
        }
    }

    /// How many entries, from the lowest, satisfy `before` — a predicate that holds for a
    /// prefix of the order (below a score or lex bound).
    pub fn partition(&self, mut before: impl FnMut(&[u8], f64) -> bool) -> usize {
        match self {
            ZSet::Packed(p) => p.iter().take_while(|&(m, s)| before(m, s)).count(),
            ZSet::Tree(t) => t.order.partition(|id| {
                let (m, s) = t.entry(id);
                before(m, s)
            }),
        }
    }

    /// Visits the entries at ranks `start..end`, in order or backwards (from `end - 1` down).
    pub fn range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match self {
            ZSet::Packed(p) => {
                if rev {
                    let entries: Vec<(&[u8], f64)> =
                        p.iter().skip(start).take(end - start).collect();
                    entries.into_iter().rev().for_each(|(m, s)| f(m, s));
                } else {
                    p.iter()
                        .skip(start)
                        .take(end - start)
                        .for_each(|(m, s)| f(m, s));
                }
            }
            ZSet::Tree(t) => t.order.walk(start, end, rev, |id| {
                let (m, s) = t.entry(id);
                f(m, s)
            }),
        }
    }

    /// The entry at `rank` (< len).
    pub fn at(&self, rank: usize) -> (&[u8], f64) {
        match self {
            ZSet::Packed(p) => p.iter().nth(rank).expect("rank < len"),
            ZSet::Tree(t) => t.entry(t.order.get(rank)),
        }
    }

    /// Removes the entries at ranks `start..end`; returns how many went.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match self {
            ZSet::Packed(p) => {
                let from = p.offsets().nth(start).expect("start < len");
                let to = p.offsets().nth(end).unwrap_or(p.buf.len());
                p.buf.drain(from..to);
                p.set_len(p.len() - (end - start));
                p.buf.shrink_to_fit();
            }
            ZSet::Tree(t) => {
                for _ in start..end {
                    t.remove_rank(start);
                }
            }
        }
        end - start
    }

    /// Every entry in ascending order (RDB saving, conversions).
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Packed(p) => Box::new(p.iter()),
            ZSet::Tree(t) => Box::new(t.order.iter().map(|id| t.entry(id))),
        }
    }

    /// A SCAN step over the members: the listpack in one go (cursor 0 back), the skiplist
    /// encoding by its member table's cursor.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        match self {
            ZSet::Packed(p) => {
                p.iter().for_each(|(m, s)| visit(m, s));
                0
            }
            ZSet::Tree(t) => t.members.scan(cursor, count, |m, s| visit(m, *s)),
        }
    }

    /// Bytes owned on the heap, for memory accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.buf.capacity(),
            ZSet::Tree(t) => {
                std::mem::size_of::<Tree>()
                    + t.members.allocated()
                    + t.member_heap
                    + t.order.heap_size()
            }
        }
    }

    pub fn convert_to_tree(&mut self) {
        if let ZSet::Packed(p) = self {
            let mut t = Tree::default();
            for (m, s) in p.iter() {
                t.push_back(m, s);
            }
            *self = ZSet::Tree(Box::new(t));
        }
    }
}

/// Where a member sits in a listpack.
struct Found {
    start: usize,
    end: usize,
    rank: usize,
    score: f64,
}

/// The listpack encoding: a 4-byte entry count, then the entries in order.
#[derive(Clone, Debug)]
pub struct Packed {
    buf: Vec<u8>,
}

impl Default for Packed {
    fn default() -> Self {
        Packed { buf: vec![0; 4] }
    }
}

const TAG_I8: u8 = 0;
const TAG_I16: u8 = 1;
const TAG_I32: u8 = 2;
const TAG_F64: u8 = 3;

impl Packed {
    pub fn len(&self) -> usize {
        u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn set_len(&mut self, n: usize) {
        self.buf[..4].copy_from_slice(&(n as u32).to_le_bytes());
    }

    /// Decodes the entry at `off`: (member, score, next offset).
    fn decode(&self, off: usize) -> (&[u8], f64, usize) {
        let b = &self.buf;
        let (mut len, mut shift, mut i) = (0usize, 0, off);
        loop {
            let byte = b[i];
            i += 1;
            len |= ((byte & 0x7f) as usize) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let member = &b[i..i + len];
        i += len;
        let tag = b[i];
        i += 1;
        let (score, width) = match tag {
            TAG_I8 => (b[i] as i8 as f64, 1),
            TAG_I16 => (i16::from_le_bytes([b[i], b[i + 1]]) as f64, 2),
            TAG_I32 => (
                i32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes")) as f64,
                4,
            ),
            _ => (
                f64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes")),
                8,
            ),
        };
        (member, score, i + width)
    }

    fn encode(member: &[u8], score: f64, out: &mut Vec<u8>) {
        let mut len = member.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(member);
        // Integral scores take 1-4 bytes, as Redis's listpack stores them as integers; that also
        // turns -0 into 0, which Redis's listpack does too.
        if score.fract() == 0.0 && (i32::MIN as f64..=i32::MAX as f64).contains(&score) {
            let n = score as i32;
            if let Ok(v) = i8::try_from(n) {
                out.extend_from_slice(&[TAG_I8, v as u8]);
            } else if let Ok(v) = i16::try_from(n) {
                out.push(TAG_I16);
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                out.push(TAG_I32);
                out.extend_from_slice(&n.to_le_bytes());
            }
        } else {
            out.push(TAG_F64);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }

    fn offsets(&self) -> impl Iterator<Item = usize> + '_ {
        let mut off = 4;
        std::iter::from_fn(move || {
            if off >= self.buf.len() {
                return None;
            }
            let at = off;
            off = self.decode(off).2;
            Some(at)
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut off = 4;
        std::iter::from_fn(move || {
            if off >= self.buf.len() {
                return None;
            }
            let (m, s, next) = self.decode(off);
            off = next;
            Some((m, s))
        })
    }

    fn find(&self, member: &[u8]) -> Option<Found> {
        let mut off = 4;
        let mut rank = 0;
        while off < self.buf.len() {
            let (m, score, next) = self.decode(off);
            if m == member {
                return Some(Found {
                    start: off,
                    end: next,
                    rank,
                    score,
                });
            }
            off = next;
            rank += 1;
        }
        None
    }

    fn remove_span(&mut self, start: usize, end: usize) {
        self.buf.drain(start..end);
        self.set_len(self.len() - 1);
        self.buf.shrink_to_fit();
    }

    fn insert_sorted(&mut self, member: &[u8], score: f64) {
        let mut off = 4;
        while off < self.buf.len() {
            let (m, s, next) = self.decode(off);
            if cmp_entry((s, m), (score, member)) == Ordering::Greater {
                break;
            }
            off = next;
        }
        let mut bytes = Vec::with_capacity(member.len() + 12);
        Packed::encode(member, score, &mut bytes);
        // Exact growth: a listpack is small and lives long, so no doubling slack.
        self.buf.reserve_exact(bytes.len());
        self.buf.splice(off..off, bytes);
        self.set_len(self.len() + 1);
    }

    fn push_back(&mut self, member: &[u8], score: f64) {
        Packed::encode(member, score, &mut self.buf);
        self.set_len(self.len() + 1);
    }
}

/// The skiplist encoding (named so by OBJECT ENCODING): a member table and an order tree of
/// the members' positions in it.
#[derive(Clone, Default)]
pub struct Tree {
    members: DenseMap<f64>,
    order: OsTree,
    /// Heap bytes of members too long to sit inline in the map, kept so that memory
    /// accounting need not walk the set.
    member_heap: usize,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tree({} members)", self.len())
    }
}

impl Tree {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn entry(&self, id: u32) -> (&[u8], f64) {
        let (m, s) = self
            .members
            .at(id as usize)
            .expect("the tree holds live ids");
        (m.as_bytes(), *s)
    }

    fn rank_of(&self, score: f64, member: &[u8]) -> usize {
        self.order.partition(|id| {
            let (m, s) = self.entry(id);
            cmp_entry((s, m), (score, member)) == Ordering::Less
        })
    }

    fn add_member(&mut self, member: &[u8], score: f64) {
        self.members.insert(member, score);
        let (stored, _) = self
            .members
            .at(self.members.len() - 1)
            .expect("just appended");
        self.member_heap += stored.heap_size();
    }

    /// Appends an entry known to sort after every present one and to be new.
    fn push_back(&mut self, member: &[u8], score: f64) {
        let id = self.members.len() as u32;
        self.add_member(member, score);
        self.order.insert(self.order.len(), id);
    }

    fn insert(&mut self, member: &[u8], score: f64) -> Change {
        if let Some(pos) = self.members.position(member) {
            let old = *self.members.at(pos).expect("position is live").1;
            if old == score {
                return Change::Same;
            }
            let rank = self.rank_of(old, member);
            let id = self.order.remove(rank);
            *self.members.at_mut(pos) = score;
            let rank = self.rank_of(score, member);
            self.order.insert(rank, id);
            return Change::Updated;
        }
        let rank = self.rank_of(score, member);
        let id = u32::try_from(self.members.len()).expect("fewer than 2^32 members");
        self.add_member(member, score);
        self.order.insert(rank, id);
        Change::Added
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let Some(&score) = self.members.get(member) else {
            return false;
        };
        let rank = self.rank_of(score, member);
        self.remove_rank(rank);
        true
    }

    /// Removes the entry at `rank`. The member table fills the hole with its last entry, so
    /// the tree's reference to that one is repointed.
    fn remove_rank(&mut self, rank: usize) {
        let id = self.order.remove(rank);
        let last = (self.members.len() - 1) as u32;
        let moved_rank = (id != last).then(|| {
            let (m, s) = self.entry(last);
            self.rank_of(s, m)
        });
        let member = self.members.at(id as usize).expect("live id").0.clone();
        self.member_heap -= member.heap_size();
        self.members.swap_remove(&member);
        if let Some(r) = moved_rank {
            self.order.set(r, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        entries: 128,
        value: 64,
    };

    fn members(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn both_encodings_agree_with_a_model() {
        let mut packed = ZSet::new(
            Limits {
                entries: usize::MAX,
                value: usize::MAX,
            },
            0,
        );
        let mut tree = ZSet::Tree(Box::default());
        let mut model: std::collections::BTreeMap<Vec<u8>, f64> = Default::default();
        let mut x: u64 = 88172645463325252;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let big = Limits {
            entries: usize::MAX,
            value: usize::MAX,
        };
        for round in 0..6000 {
            let m = format!("m{}", rnd(700)).into_bytes();
            let op = rnd(10);
            if op < 6 {
                let s = match rnd(4) {
                    0 => rnd(5) as f64,
                    1 => rnd(100000) as f64 - 50000.0,
                    2 => rnd(1000) as f64 / 7.0,
                    _ => 1e10 * rnd(3) as f64,
                };
                let want = match model.insert(m.clone(), s) {
                    None => Change::Added,
                    Some(o) if o == s => Change::Same,
                    Some(_) => Change::Updated,
                };
                assert_eq!(packed.insert(&m, s, big), want);
                assert_eq!(tree.insert(&m, s, big), want);
            } else if op < 9 {
                let want = model.remove(&m).is_some();
                assert_eq!(packed.remove(&m), want);
                assert_eq!(tree.remove(&m), want);
            } else if !model.is_empty() {
                let n = model.len();
                let (a, b) = (rnd(n as u64) as usize, rnd(n as u64 + 3) as usize);
                let (start, end) = (a.min(b), a.max(b));
                assert_eq!(
                    packed.remove_range(start, end),
                    tree.remove_range(start, end)
                );
                let mut sorted: Vec<(Vec<u8>, f64)> =
                    model.iter().map(|(m, s)| (m.clone(), *s)).collect();
                sorted.sort_by(|a, b| cmp_entry((a.1, &a.0), (b.1, &b.0)));
                for (m, _) in &sorted[start..end.min(n)] {
                    model.remove(m);
                }
            }
            if round % 500 == 0 || round == 5999 {
                let mut sorted: Vec<(Vec<u8>, f64)> =
                    model.iter().map(|(m, s)| (m.clone(), *s)).collect();
                sorted.sort_by(|a, b| cmp_entry((a.1, &a.0), (b.1, &b.0)));
                assert_eq!(members(&packed), sorted);
                assert_eq!(members(&tree), sorted);
                for (r, (m, s)) in sorted.iter().enumerate() {
                    assert_eq!(packed.rank(m), Some((r, *s)));
                    assert_eq!(tree.rank(m), Some((r, *s)));
                    assert_eq!(tree.at(r), (&m[..], *s));
                }
                let below = |_: &[u8], s: f64| s < 100.0;
                assert_eq!(packed.partition(below), tree.partition(below));
                let mut a = Vec::new();
                let mut b = Vec::new();
                packed.range(1, 20, true, |m, s| a.push((m.to_vec(), s)));
                tree.range(1, 20, true, |m, s| b.push((m.to_vec(), s)));
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn converts_at_the_limits() {
        let limits = Limits {
            entries: 3,
            value: 5,
        };
        let mut z = ZSet::new(limits, 1);
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            z.insert(m.as_bytes(), i as f64, limits);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"a", 10.0, limits);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"d", 1.0, limits);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::new(limits, 1);
        z.insert(b"abcdef", 1.0, limits);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(ZSet::new(limits, 6).encoding(), "skiplist");
        let built = ZSet::from_pairs([(&b"x"[..], 2.0), (b"y", 1.0)], limits);
        assert_eq!(built.encoding(), "listpack");
        assert_eq!(
            members(&built),
            vec![(b"y".to_vec(), 1.0), (b"x".to_vec(), 2.0)]
        );
        assert_eq!(
            ZSet::from_pairs([(&b"xxxxxx"[..], 2.0)], limits).encoding(),
            "skiplist"
        );
    }

    #[test]
    fn packed_scores_round_trip() {
        let mut p = ZSet::new(L, 0);
        let scores = [
            0.0,
            -0.0,
            1.5,
            127.0,
            128.0,
            -129.0,
            40000.0,
            -3e9,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1,
            f64::MAX,
        ];
        for (i, s) in scores.iter().enumerate() {
            p.insert(format!("m{i}").as_bytes(), *s, L);
        }
        for (i, s) in scores.iter().enumerate() {
            let got = p.score(format!("m{i}").as_bytes()).unwrap();
            assert_eq!(got, *s);
            // -0 is stored as the integer 0, as Redis's listpack does.
            assert!(!got.is_sign_negative() || got < 0.0);
        }
    }

    #[test]
    fn long_members_in_packed() {
        let big = Limits {
            entries: 10,
            value: 1000,
        };
        let mut z = ZSet::new(big, 300);
        let m = vec![b'x'; 300];
        z.insert(&m, 1.0, big);
        z.insert(b"a", 0.0, big);
        assert_eq!(z.at(1), (&m[..], 1.0));
        assert_eq!(z.rank(&m), Some((1, 1.0)));
    }
}
