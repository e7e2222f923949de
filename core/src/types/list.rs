//! Redis's list: a quicklist, a deque of packed nodes.
//!
//! Redis 7.0 stores every list as a quicklist (`OBJECT ENCODING` says `quicklist` from the first
//! element; the `listpack` list encoding only arrived in 7.2), so there is no encoding to switch.
//! What `list-max-listpack-size` decides is how big each node grows: a positive value caps the
//! entries per node (and a node stays under 8 KiB regardless), -1..-5 cap a node's bytes at
//! 4..64 KiB. A list keeps the fill it was created with, as in Redis.
//!
//! Each node is one byte buffer of entries in a listpack-like format, so a short element costs a
//! couple of bytes of framing rather than a heap allocation:
//!
//! ```text
//! entry   = body backlen
//! body    = 0xxxxxxx                  integer 0..=127
//!         | 10llllll data             string, length < 64
//!         | 110xxxxx xxxxxxxx         integer, 13-bit two's complement
//!         | 1110llll llllllll data    string, length < 4096 (big-endian length)
//!         | F0 len:u32le data         string, any length
//!         | F1 i16le | F2 i24le | F3 i32le | F4 i64le
//! backlen = the body's length in 7-bit groups, least significant group last; every byte but
//!           the first has its high bit set, so the entry can be found reading leftwards
//! ```
//!
//! Elements that are canonical decimal integers (what Redis's `string2ll` accepts) are stored as
//! integers and read back as the same text. Pushing and popping at either end touches only the
//! end node; finding an index walks node counts from the nearer end, then entries in one node.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;

use crate::types::numfmt::parse_i64_strict;

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl End {
    pub fn other(self) -> End {
        match self {
            End::Head => End::Tail,
            End::Tail => End::Head,
        }
    }
}

/// Node byte limits for fills -1..-5.
const SIZE_LIMITS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// The byte cap of a node when the fill counts entries.
const SAFETY_LIMIT: usize = 8192;
/// What a Redis listpack spends besides its entries (total bytes, count, end marker); counted so
/// that nodes hold as many entries as Redis's do.
const NODE_HEADER: usize = 7;
/// Redis clamps positive fills to its 15-bit field.
const FILL_MAX: i32 = (1 << 15) - 1;

/// Elements at least this long are "plain": each gets a node of its own and is written to RDB
/// files as a plain quicklist node rather than packed (Redis's `packed_threshold`). 1 GiB
/// unless DEBUG QUICKLIST-PACKED-THRESHOLD lowers it; process-wide, as in Redis.
static PACKED_THRESHOLD: AtomicUsize = AtomicUsize::new(DEFAULT_PACKED_THRESHOLD);
const DEFAULT_PACKED_THRESHOLD: usize = 1 << 30;

/// DEBUG QUICKLIST-PACKED-THRESHOLD: 0 restores the default; Redis refuses sizes above 4 GiB
/// less 1 MiB (false).
pub fn set_packed_threshold(bytes: u64) -> bool {
    if bytes > (1 << 32) - (1 << 20) {
        return false;
    }
    let bytes = if bytes == 0 {
        DEFAULT_PACKED_THRESHOLD
    } else {
        bytes as usize
    };
    PACKED_THRESHOLD.store(bytes, Relaxed);
    true
}

/// Whether `e` is stored plain (see [`set_packed_threshold`]): its length as a client wrote
/// it decides, integers included.
pub fn is_plain(e: Elem) -> bool {
    e.text_len() >= PACKED_THRESHOLD.load(Relaxed)
}

/// One element as stored: integers come back as integers, so that replies and comparisons need
/// not render them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl<'a> Elem<'a> {
    /// Calls `f` with the element as a client wrote it, without allocating.
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Elem::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
            Elem::Str(s) => f(s),
        }
    }

    /// The length of the element as a client wrote it.
    pub fn text_len(self) -> usize {
        match self {
            Elem::Int(n) => itoa::Buffer::new().format(n).len(),
            Elem::Str(s) => s.len(),
        }
    }

    /// The element as a client wrote it.
    pub fn to_bytes(self) -> Bytes {
        match self {
            Elem::Int(n) => Bytes::copy_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Elem::Str(s) => Bytes::copy_from_slice(s),
        }
    }

    /// How `bytes` is stored: as an integer when it is one in canonical form.
    pub fn of(bytes: &'a [u8]) -> Elem<'a> {
        if bytes.len() <= 20 {
            if let Some(n) = parse_i64_strict(bytes) {
                return Elem::Int(n);
            }
        }
        Elem::Str(bytes)
    }

    fn body_len(self) -> usize {
        match self {
            Elem::Int(n) => match n {
                0..=127 => 1,
                -4096..=4095 => 2,
                -32768..=32767 => 3,
                -8388608..=8388607 => 4,
                -2147483648..=2147483647 => 5,
                _ => 9,
            },
            Elem::Str(s) if s.len() < 64 => 1 + s.len(),
            Elem::Str(s) if s.len() < 4096 => 2 + s.len(),
            Elem::Str(s) => 5 + s.len(),
        }
    }

    /// Bytes the element takes in a node, framing included.
    fn entry_len(self) -> usize {
        let body = self.body_len();
        body + backlen_size(body)
    }

    /// Writes the entry into `dst`, which is exactly `entry_len()` long.
    fn write(self, dst: &mut [u8]) {
        let body = self.body_len();
        match self {
            Elem::Int(n) => match body {
                1 => dst[0] = n as u8,
                2 => {
                    let v = (n as u16) & 0x1FFF;
                    dst[0] = 0xC0 | (v >> 8) as u8;
                    dst[1] = v as u8;
                }
                3 => {
                    dst[0] = 0xF1;
                    dst[1..3].copy_from_slice(&(n as i16).to_le_bytes());
                }
                4 => {
                    dst[0] = 0xF2;
                    dst[1..4].copy_from_slice(&(n as i32).to_le_bytes()[..3]);
                }
                5 => {
                    dst[0] = 0xF3;
                    dst[1..5].copy_from_slice(&(n as i32).to_le_bytes());
                }
                _ => {
                    dst[0] = 0xF4;
                    dst[1..9].copy_from_slice(&n.to_le_bytes());
                }
            },
            Elem::Str(s) => {
                let start = body - s.len();
                match start {
                    1 => dst[0] = 0x80 | s.len() as u8,
                    2 => {
                        dst[0] = 0xE0 | (s.len() >> 8) as u8;
                        dst[1] = s.len() as u8;
                    }
                    _ => {
                        dst[0] = 0xF0;
                        dst[1..5].copy_from_slice(&(s.len() as u32).to_le_bytes());
                    }
                }
                dst[start..body].copy_from_slice(s);
            }
        }
        let n = backlen_size(body);
        for j in 0..n {
            let more = if j + 1 < n { 0x80 } else { 0 };
            dst[body + n - 1 - j] = ((body >> (7 * j)) & 0x7F) as u8 | more;
        }
    }
}

fn backlen_size(body: usize) -> usize {
    match body {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2097151 => 3,
        2097152..=268435455 => 4,
        _ => 5,
    }
}

/// The entry starting at `off`, and its total length.
fn decode(buf: &[u8], off: usize) -> (Elem<'_>, usize) {
    let b = buf[off];
    let (elem, body) = match b {
        0x00..=0x7F => (Elem::Int(b as i64), 1),
        0x80..=0xBF => {
            let len = (b & 0x3F) as usize;
            (Elem::Str(&buf[off + 1..off + 1 + len]), 1 + len)
        }
        0xC0..=0xDF => {
            let v = (((b & 0x1F) as i64) << 8) | buf[off + 1] as i64;
            (Elem::Int(if v >= 4096 { v - 8192 } else { v }), 2)
        }
        0xE0..=0xEF => {
            let len = (((b & 0x0F) as usize) << 8) | buf[off + 1] as usize;
            (Elem::Str(&buf[off + 2..off + 2 + len]), 2 + len)
        }
        0xF0 => {
            let len = u32::from_le_bytes(le::<4>(buf, off + 1)) as usize;
            (Elem::Str(&buf[off + 5..off + 5 + len]), 5 + len)
        }
        0xF1 => (
            Elem::Int(i16::from_le_bytes(le::<2>(buf, off + 1)) as i64),
            3,
        ),
        0xF2 => {
            let [a, b, c] = le::<3>(buf, off + 1);
            // Sign-extend the 24-bit value by placing it in the top of an i32.
            (Elem::Int((i32::from_le_bytes([0, a, b, c]) >> 8) as i64), 4)
        }
        0xF3 => (
            Elem::Int(i32::from_le_bytes(le::<4>(buf, off + 1)) as i64),
            5,
        ),
        _ => (Elem::Int(i64::from_le_bytes(le::<8>(buf, off + 1))), 9),
    };
    (elem, body + backlen_size(body))
}

fn le<const N: usize>(buf: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[off..off + N]);
    out
}

/// The start of the entry that ends at `end`, read from its backlen.
fn prev_start(buf: &[u8], end: usize) -> usize {
    let mut i = end - 1;
    let mut body = (buf[i] & 0x7F) as usize;
    let mut shift = 7;
    while buf[i] & 0x80 != 0 {
        i -= 1;
        body |= ((buf[i] & 0x7F) as usize) << shift;
        shift += 7;
    }
    i - body
}

#[derive(Clone, Debug, Default)]
struct Node {
    buf: Vec<u8>,
    count: u32,
}

impl Node {
    /// Byte offset of entry `k` (`k == count` gives the end), walking from the nearer end.
    fn offset_of(&self, k: usize) -> usize {
        let count = self.count as usize;
        if k <= count / 2 {
            let mut off = 0;
            for _ in 0..k {
                off += decode(&self.buf, off).1;
            }
            off
        } else {
            let mut off = self.buf.len();
            for _ in k..count {
                off = prev_start(&self.buf, off);
            }
            off
        }
    }

    /// Makes room for `n` bytes at `off`; the caller writes them.
    fn open_gap(&mut self, off: usize, n: usize) -> &mut [u8] {
        let old = self.buf.len();
        // Exact growth: node sizes then match what the data needs, as Redis's reallocs do.
        self.buf.reserve_exact(n);
        self.buf.resize(old + n, 0);
        self.buf.copy_within(off..old, off + n);
        &mut self.buf[off..off + n]
    }

    fn insert(&mut self, off: usize, elem: Elem) {
        elem.write(self.open_gap(off, elem.entry_len()));
        self.count += 1;
    }

    fn remove_bytes(&mut self, range: std::ops::Range<usize>) {
        self.buf.drain(range);
        self.trim_capacity();
    }

    /// Gives back spare capacity once it is a noticeable share of the node.
    fn trim_capacity(&mut self) {
        if self.buf.capacity() > self.buf.len() + self.buf.len() / 8 + 16 {
            self.buf.shrink_to_fit();
        }
    }

    /// Splits off the entries from `k` on into a new node.
    fn split_off(&mut self, k: usize) -> Node {
        let off = self.offset_of(k);
        let rest = Node {
            buf: self.buf[off..].to_vec(),
            count: self.count - k as u32,
        };
        self.buf.truncate(off);
        self.buf.shrink_to_fit();
        self.count = k as u32;
        rest
    }
}

/// A Redis list. See the module documentation for the layout.
#[derive(Clone, Debug)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    fill: i32,
}

impl List {
    /// An empty list whose nodes follow `fill` (`list-max-listpack-size`).
    pub fn new(fill: i32) -> List {
        List {
            nodes: VecDeque::new(),
            len: 0,
            fill: fill.clamp(-5, FILL_MAX),
        }
    }

    /// A list of `elems` in order, as loading one does.
    pub fn from_elems<I, T>(fill: i32, elems: I) -> List
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let mut list = List::new(fill);
        for e in elems {
            list.push(End::Tail, e.as_ref());
        }
        list
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a node of `bytes`/`count` may hold `extra_bytes`/`extra_count` more, by Redis's
    /// rule: a byte cap for negative fills, an entry cap (under 8 KiB) for positive ones.
    fn fits(&self, bytes: usize, count: usize, extra_bytes: usize, extra_count: usize) -> bool {
        let total = NODE_HEADER + bytes + extra_bytes;
        if self.fill < 0 {
            total <= SIZE_LIMITS[(-self.fill - 1) as usize]
        } else {
            total <= SAFETY_LIMIT && count + extra_count <= self.fill as usize
        }
    }

    fn node_takes(&self, node: &Node, elem: Elem) -> bool {
        // A lone entry always has a node, however big. Otherwise Redis 7.0 estimates what the
        // entry adds as its text length plus 8 (`SIZE_ESTIMATE_OVERHEAD`), not its encoded size;
        // estimating alike splits nodes where Redis does, which DUMP and RDB files show.
        let text_len = elem.text_len();
        if node.count == 0 {
            return true;
        }
        // A plain element shares its node with nothing.
        let holds_plain = node.count == 1 && is_plain(decode(&node.buf, 0).0);
        !is_plain(elem)
            && !holds_plain
            && self.fits(node.buf.len(), node.count as usize, text_len + 8, 1)
    }

    pub fn push(&mut self, end: End, bytes: &[u8]) {
        let elem = Elem::of(bytes);
        let room = match end {
            End::Head => self.nodes.front(),
            End::Tail => self.nodes.back(),
        }
        .is_some_and(|n| self.node_takes(n, elem));
        if !room {
            let node = Node {
                buf: Vec::with_capacity(elem.entry_len()),
                count: 0,
            };
            match end {
                End::Head => self.nodes.push_front(node),
                End::Tail => self.nodes.push_back(node),
            }
        }
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        }
        .expect("a node with room was ensured above");
        let off = if end == End::Head { 0 } else { node.buf.len() };
        node.insert(off, elem);
        self.len += 1;
    }

    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let node = match end {
            End::Head => self.nodes.front_mut(),
            End::Tail => self.nodes.back_mut(),
        }?;
        let range = match end {
            End::Head => 0..decode(&node.buf, 0).1,
            End::Tail => prev_start(&node.buf, node.buf.len())..node.buf.len(),
        };
        let value = decode(&node.buf, range.start).0.to_bytes();
        node.count -= 1;
        if node.count == 0 {
            match end {
                End::Head => self.nodes.pop_front(),
                End::Tail => self.nodes.pop_back(),
            };
        } else {
            node.remove_bytes(range);
        }
        self.len -= 1;
        Some(value)
    }

    /// Redis's index: negative counts from the tail (-1 is the last element).
    fn resolve(&self, index: i64) -> Option<usize> {
        let i = if index < 0 {
            (self.len as i64).checked_add(index)?
        } else {
            index
        };
        (0..self.len as i64).contains(&i).then_some(i as usize)
    }

    /// The node holding element `index` (< len) and the element's position in it.
    fn locate(&self, index: usize) -> (usize, usize) {
        if index < self.len / 2 {
            let mut rest = index;
            for (i, n) in self.nodes.iter().enumerate() {
                if rest < n.count as usize {
                    return (i, rest);
                }
                rest -= n.count as usize;
            }
        } else {
            let mut from_end = self.len - index;
            for (i, n) in self.nodes.iter().enumerate().rev() {
                if from_end <= n.count as usize {
                    return (i, n.count as usize - from_end);
                }
                from_end -= n.count as usize;
            }
        }
        unreachable!("index {index} < len {} is in some node", self.len)
    }

    pub fn get(&self, index: i64) -> Option<Elem<'_>> {
        let (n, k) = self.locate(self.resolve(index)?);
        let node = &self.nodes[n];
        Some(decode(&node.buf, node.offset_of(k)).0)
    }

    /// Replaces the element at `index`; false if there is none.
    pub fn set(&mut self, index: i64, bytes: &[u8]) -> bool {
        let Some(i) = self.resolve(index) else {
            return false;
        };
        let (n, k) = self.locate(i);
        let elem = Elem::of(bytes);
        let node = &mut self.nodes[n];
        let off = node.offset_of(k);
        let old_len = decode(&node.buf, off).1;
        node.remove_bytes(off..off + old_len);
        node.count -= 1;
        node.insert(off, elem);
        self.split_if_full(n);
        true
    }

    /// Inserts `bytes` so that it becomes element `index` (0..=len).
    pub fn insert(&mut self, index: usize, bytes: &[u8]) {
        if index == 0 {
            return self.push(End::Head, bytes);
        }
        if index >= self.len {
            return self.push(End::Tail, bytes);
        }
        let elem = Elem::of(bytes);
        let (n, k) = self.locate(index);
        // At a node's start, the previous node's end is the same position; use it if it has room.
        if k == 0 && self.node_takes(&self.nodes[n - 1], elem) {
            let prev = &mut self.nodes[n - 1];
            let off = prev.buf.len();
            prev.insert(off, elem);
        } else {
            let node = &mut self.nodes[n];
            let off = node.offset_of(k);
            node.insert(off, elem);
            self.split_if_full(n);
        }
        self.len += 1;
    }

    /// Splits node `n` in two halves when it grew past the fill.
    fn split_if_full(&mut self, n: usize) {
        let node = &self.nodes[n];
        if node.count > 1 && !self.fits(node.buf.len(), node.count as usize, 0, 0) {
            let half = node.count as usize / 2;
            let rest = self.nodes[n].split_off(half);
            self.nodes.insert(n + 1, rest);
        }
    }

    /// Removes `n` elements from the given end (all if `n >= len`).
    pub fn remove_end(&mut self, end: End, n: usize) {
        let mut left = n.min(self.len);
        self.len -= left;
        while left > 0 {
            let node = match end {
                End::Head => self.nodes.front_mut(),
                End::Tail => self.nodes.back_mut(),
            }
            .expect("elements left to remove are in some node");
            let count = node.count as usize;
            if left >= count {
                match end {
                    End::Head => self.nodes.pop_front(),
                    End::Tail => self.nodes.pop_back(),
                };
                left -= count;
            } else {
                match end {
                    End::Head => {
                        let off = node.offset_of(left);
                        node.remove_bytes(0..off);
                    }
                    End::Tail => {
                        let off = node.offset_of(count - left);
                        node.buf.truncate(off);
                        node.trim_capacity();
                    }
                }
                node.count -= left as u32;
                left = 0;
            }
        }
    }

    /// Keeps only elements `start..=stop` (already clamped to the list, as LTRIM computes them).
    pub fn retain_range(&mut self, start: usize, stop: usize) {
        if start > stop || start >= self.len {
            self.remove_end(End::Tail, self.len);
            return;
        }
        let stop = stop.min(self.len - 1);
        self.remove_end(End::Tail, self.len - 1 - stop);
        self.remove_end(End::Head, start);
    }

    /// How many elements equal `needle`.
    pub fn count_matches(&self, needle: &[u8]) -> usize {
        let target = Elem::of(needle);
        self.iter().filter(|&e| e == target).count()
    }

    /// Removes the elements equal to `needle`, as LREM does: `count > 0` the first `count` from
    /// the head, `count < 0` the last `-count`, `0` all. Returns how many were removed.
    pub fn remove_matches(&mut self, needle: &[u8], count: i64) -> usize {
        let total = self.count_matches(needle);
        let want = if count == 0 {
            total
        } else {
            (count.unsigned_abs().min(total as u64)) as usize
        };
        // Counting from the tail is the same as skipping the first matches from the head.
        let skip = if count < 0 { total - want } else { 0 };
        if want == 0 {
            return 0;
        }
        let target = Elem::of(needle);
        let mut seen = 0;
        let mut removed = 0;
        for node in self.nodes.iter_mut() {
            if removed == want {
                break;
            }
            let (mut read, mut write) = (0, 0);
            let mut dropped = 0;
            while read < node.buf.len() {
                let (e, size) = decode(&node.buf, read);
                let hit = e == target;
                let drop = hit && seen >= skip && removed < want;
                seen += hit as usize;
                if drop {
                    removed += 1;
                    dropped += 1;
                } else {
                    if write != read {
                        node.buf.copy_within(read..read + size, write);
                    }
                    write += size;
                }
                read += size;
            }
            if dropped > 0 {
                node.buf.truncate(write);
                node.trim_capacity();
                node.count -= dropped;
            }
        }
        self.len -= removed;
        self.compact();
        removed
    }

    /// Drops empty nodes and merges neighbours that fit together, after removals in the middle.
    fn compact(&mut self) {
        self.nodes.retain(|n| n.count > 0);
        let mut i = 1;
        while i < self.nodes.len() {
            let (a, b) = (&self.nodes[i - 1], &self.nodes[i]);
            if self.fits(a.buf.len(), a.count as usize, b.buf.len(), b.count as usize) {
                let b = self.nodes.remove(i).expect("i < len");
                let a = &mut self.nodes[i - 1];
                a.buf.reserve_exact(b.buf.len());
                a.buf.extend_from_slice(&b.buf);
                a.count += b.count;
            } else {
                i += 1;
            }
        }
    }

    /// The elements node by node, from the head: Redis 7.0 writes each quicklist node as one
    /// listpack in RDB files and DUMP payloads, and the nodes here split where Redis's do.
    pub fn node_elems(&self) -> impl Iterator<Item = impl Iterator<Item = Elem<'_>> + '_> + '_ {
        self.nodes.iter().map(|node| {
            let mut off = 0;
            std::iter::from_fn(move || {
                if off >= node.buf.len() {
                    return None;
                }
                let (e, size) = decode(&node.buf, off);
                off += size;
                Some(e)
            })
        })
    }

    /// Elements from the head.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Elements from index `start` (clamped) towards the tail.
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        if start >= self.len {
            return Iter {
                nodes: &self.nodes,
                node: self.nodes.len(),
                off: 0,
                left: 0,
            };
        }
        let (node, k) = self.locate(start);
        Iter {
            nodes: &self.nodes,
            node,
            off: self.nodes[node].offset_of(k),
            left: self.len - start,
        }
    }

    /// Elements from the tail towards the head.
    pub fn iter_rev(&self) -> RevIter<'_> {
        RevIter {
            nodes: &self.nodes,
            node: self.nodes.len(),
            end: 0,
            left: self.len,
        }
    }

    /// How many nodes hold the elements (DEBUG OBJECT's `ql_nodes`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// `list-max-listpack-size` as this list was created with.
    pub fn fill(&self) -> i32 {
        self.fill
    }

    /// The nodes' sizes as Redis counts them (DEBUG OBJECT's `ql_uncompressed_size`): a plain
    /// element's length, or a packed node's size as the listpack its entries are encoded as,
    /// with a listpack's 6-byte header and end byte.
    pub fn packed_size(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| match decode(&n.buf, 0).0 {
                e if n.count == 1 && is_plain(e) => e.text_len(),
                _ => n.buf.len() + NODE_HEADER,
            })
            .sum()
    }

    /// [`List::heap_size`] estimated from the first `samples` nodes' buffers, as Redis's
    /// MEMORY USAGE samples a quicklist's nodes.
    pub fn heap_size_sampled(&self, samples: usize) -> usize {
        let taken = samples.min(self.nodes.len());
        let buffers = if taken == 0 {
            0
        } else {
            let measured: usize = self
                .nodes
                .iter()
                .take(taken)
                .map(|n| n.buf.capacity())
                .sum();
            (measured as f64 / taken as f64 * self.nodes.len() as f64) as usize
        };
        std::mem::size_of::<List>() + self.nodes.capacity() * std::mem::size_of::<Node>() + buffers
    }

    /// Bytes this list owns on the heap, for memory accounting.
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<List>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        let mut total = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            assert!(n.count > 0, "node {i} is empty");
            let mut off = 0;
            let mut c = 0;
            while off < n.buf.len() {
                off += decode(&n.buf, off).1;
                c += 1;
            }
            assert_eq!(off, n.buf.len());
            assert_eq!(c, n.count as usize);
            total += c;
        }
        assert_eq!(total, self.len);
    }
}

pub struct Iter<'a> {
    nodes: &'a VecDeque<Node>,
    node: usize,
    off: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        if self.left == 0 {
            return None;
        }
        while self.off >= self.nodes[self.node].buf.len() {
            self.node += 1;
            self.off = 0;
        }
        let (e, size) = decode(&self.nodes[self.node].buf, self.off);
        self.off += size;
        self.left -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

pub struct RevIter<'a> {
    nodes: &'a VecDeque<Node>,
    /// The node being read plus one, so that 0 means none yet.
    node: usize,
    end: usize,
    left: usize,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        if self.left == 0 {
            return None;
        }
        while self.end == 0 {
            self.node -= 1;
            self.end = self.nodes[self.node].buf.len();
        }
        let buf = &self.nodes[self.node].buf;
        let start = prev_start(buf, self.end);
        self.end = start;
        self.left -= 1;
        Some(decode(buf, start).0)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn contents(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|e| e.to_bytes().to_vec()).collect()
    }

    #[test]
    fn entries_round_trip() {
        let cases: Vec<Vec<u8>> = [
            "0",
            "1",
            "127",
            "128",
            "-1",
            "4095",
            "4096",
            "-4096",
            "-4097",
            "32767",
            "-32768",
            "32768",
            "8388607",
            "-8388608",
            "8388608",
            "2147483647",
            "-2147483648",
            "2147483648",
            "9223372036854775807",
            "-9223372036854775808",
            "",
            "a",
            "01",
            "-0",
            "+1",
            "1.5",
            " 1",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([
            vec![b'x'; 63],
            vec![b'y'; 64],
            vec![b'z'; 4095],
            vec![b'w'; 4096],
        ])
        .chain([vec![b'v'; 200_000]])
        .collect();
        for c in &cases {
            let e = Elem::of(c);
            let mut buf = vec![0u8; e.entry_len()];
            e.write(&mut buf);
            let (d, size) = decode(&buf, 0);
            assert_eq!(size, buf.len());
            assert_eq!(d.to_bytes().as_ref(), &c[..]);
            assert_eq!(prev_start(&buf, buf.len()), 0);
        }
        // Canonical integers are stored compactly.
        assert_eq!(Elem::of(b"5").entry_len(), 2);
        assert_eq!(Elem::of(b"1000").entry_len(), 3);
        assert_eq!(Elem::of(b"05"), Elem::Str(b"05"));
    }

    #[test]
    fn push_pop_both_ends_across_nodes() {
        let mut l = List::new(4);
        for i in 0..50 {
            l.push(End::Tail, i.to_string().as_bytes());
        }
        assert!(l.nodes.len() >= 13);
        l.check_invariants();
        assert_eq!(l.pop(End::Head).as_deref(), Some(&b"0"[..]));
        assert_eq!(l.pop(End::Tail).as_deref(), Some(&b"49"[..]));
        l.push(End::Head, b"front");
        assert_eq!(l.get(0), Some(Elem::Str(b"front")));
        assert_eq!(l.get(-1), Some(Elem::Int(48)));
        assert_eq!(l.get(49), None);
        assert_eq!(l.get(i64::MIN), None);
        l.check_invariants();
        while l.pop(End::Tail).is_some() {}
        assert!(l.is_empty());
        assert!(l.nodes.is_empty());
    }

    #[test]
    fn byte_limited_nodes() {
        let mut l = List::new(-1);
        for _ in 0..1000 {
            l.push(End::Tail, &[b'a'; 100]);
        }
        for n in &l.nodes {
            assert!(n.buf.len() + NODE_HEADER <= 4096);
        }
        // An element bigger than the limit gets a node of its own.
        l.push(End::Head, &[b'b'; 10_000]);
        assert_eq!(l.nodes[0].count, 1);
        l.check_invariants();
    }

    #[test]
    fn insert_set_trim_remove() {
        let mut l = List::from_elems(3, ["a", "b", "c", "d", "e", "f", "g"]);
        l.insert(3, b"x");
        l.insert(0, b"h");
        l.insert(9, b"t");
        assert_eq!(
            contents(&l),
            ["h", "a", "b", "c", "x", "d", "e", "f", "g", "t"].map(|s| s.as_bytes().to_vec())
        );
        assert!(l.set(-1, b"123"));
        assert!(!l.set(10, b"z"));
        assert_eq!(l.get(9), Some(Elem::Int(123)));
        l.retain_range(2, 6);
        assert_eq!(
            contents(&l),
            ["b", "c", "x", "d", "e"].map(|s| s.as_bytes().to_vec())
        );
        l.push(End::Tail, b"c");
        l.push(End::Head, b"c");
        assert_eq!(l.remove_matches(b"c", -2), 2);
        assert_eq!(
            contents(&l),
            ["c", "b", "x", "d", "e"].map(|s| s.as_bytes().to_vec())
        );
        l.check_invariants();
        l.retain_range(3, 1);
        assert!(l.is_empty());
    }

    /// Random operations against a `VecDeque` model, over small nodes so that every operation
    /// crosses node boundaries.
    #[test]
    fn random_ops_match_model() {
        let mut rng = SmallRng::seed_from_u64(7);
        for fill in [1, 2, 5, -1] {
            let mut l = List::new(fill);
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            for step in 0..20_000 {
                let value: Vec<u8> = match rng.gen_range(0..4) {
                    0 => rng.gen_range(-5000i64..5000).to_string().into_bytes(),
                    1 => vec![b'k'; rng.gen_range(0..80)],
                    2 => format!("v{}", rng.gen_range(0..10)).into_bytes(),
                    _ => rng.gen::<i64>().to_string().into_bytes(),
                };
                let len = m.len();
                match rng.gen_range(0..12) {
                    0 | 1 => {
                        l.push(End::Head, &value);
                        m.push_front(value);
                    }
                    2 | 3 => {
                        l.push(End::Tail, &value);
                        m.push_back(value);
                    }
                    4 => assert_eq!(l.pop(End::Head).map(|b| b.to_vec()), m.pop_front()),
                    5 => assert_eq!(l.pop(End::Tail).map(|b| b.to_vec()), m.pop_back()),
                    6 => {
                        let i = rng.gen_range(0..=len);
                        l.insert(i, &value);
                        m.insert(i, value);
                    }
                    7 if len > 0 => {
                        let i = rng.gen_range(0..len);
                        assert!(l.set(i as i64, &value));
                        m[i] = value;
                    }
                    8 if len > 0 => {
                        let i = rng.gen_range(-(len as i64)..len as i64);
                        let want = &m[if i < 0 { len as i64 + i } else { i } as usize];
                        assert_eq!(l.get(i).map(|e| e.to_bytes().to_vec()).as_ref(), Some(want));
                    }
                    9 if rng.gen_range(0..20) == 0 => {
                        let a = rng.gen_range(0..=len);
                        let b = rng.gen_range(0..=len + 2);
                        l.retain_range(a, b);
                        if a > b || a >= len {
                            m.clear();
                        } else {
                            let b = b.min(len - 1);
                            m = m.drain(a..=b).collect();
                        }
                    }
                    10 => {
                        let needle = format!("v{}", rng.gen_range(0..10)).into_bytes();
                        let count = rng.gen_range(-3i64..=3);
                        let removed = l.remove_matches(&needle, count);
                        let mut idx: Vec<usize> = (0..len).filter(|&i| m[i] == needle).collect();
                        if count < 0 {
                            idx.reverse();
                        }
                        if count != 0 {
                            idx.truncate(count.unsigned_abs() as usize);
                        }
                        idx.sort_unstable();
                        for &i in idx.iter().rev() {
                            m.remove(i);
                        }
                        assert_eq!(removed, idx.len());
                    }
                    _ => {
                        let start = rng.gen_range(0..=len);
                        let got: Vec<Vec<u8>> =
                            l.iter_from(start).map(|e| e.to_bytes().to_vec()).collect();
                        assert_eq!(got, m.iter().skip(start).cloned().collect::<Vec<_>>());
                        let rev: Vec<Vec<u8>> =
                            l.iter_rev().map(|e| e.to_bytes().to_vec()).collect();
                        assert_eq!(rev, m.iter().rev().cloned().collect::<Vec<_>>());
                    }
                }
                assert_eq!(l.len(), m.len());
                if step % 500 == 0 {
                    l.check_invariants();
                }
            }
            l.check_invariants();
            assert_eq!(contents(&l), m.iter().cloned().collect::<Vec<_>>());
        }
    }

    #[test]
    fn short_elements_are_compact() {
        let mut l = List::new(-2);
        for i in 0..100_000 {
            l.push(End::Tail, format!("element:{i}").as_bytes());
        }
        // 1 header byte + up to 14 bytes + 1 backlen byte per element, plus node overhead.
        let per = l.heap_size() as f64 / l.len() as f64;
        assert!(per < 16.2, "{per} bytes per element");
    }
}
