//! Redis's packed containers as they appear in RDB files: listpacks (written and read),
//! ziplists and zipmaps (read only, from older files). Readers validate everything: a hostile
//! payload gives `None`, never a panic or an out-of-bounds read.

use crate::types::numfmt::parse_i64_strict;

/// One packed entry: a string, or an integer standing for its decimal text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Entry<'_> {
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Entry::Str(s) => s.to_vec(),
            Entry::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
        }
    }
}

/// Builds a listpack byte-exact as Redis's `lpAppend` would.
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackBuilder {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; 6]);
        ListpackBuilder { buf, count: 0 }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends a string; integer-looking strings (Redis's `lpStringToInt64`: canonical, at
    /// most 20 characters) are stored as integers, as Redis does.
    pub fn push_bytes(&mut self, s: &[u8]) {
        match parse_i64_strict(s) {
            Some(n) if s.len() <= 20 => self.push_int(n),
            _ => self.push_str(s),
        }
    }

    pub fn push(&mut self, e: Entry) {
        match e {
            Entry::Int(n) => self.push_int(n),
            Entry::Str(s) => self.push_bytes(s),
        }
    }

    pub fn push_int(&mut self, n: i64) {
        let start = self.buf.len();
        match n {
            0..=127 => self.buf.push(n as u8),
            -4096..=4095 => {
                let v = (n as u16) & 0x1fff;
                self.buf
                    .extend_from_slice(&[0xc0 | (v >> 8) as u8, v as u8]);
            }
            -32768..=32767 => {
                self.buf.push(0xf1);
                self.buf.extend_from_slice(&(n as i16).to_le_bytes());
            }
            -8388608..=8388607 => {
                self.buf.push(0xf2);
                self.buf.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
            }
            -2147483648..=2147483647 => {
                self.buf.push(0xf3);
                self.buf.extend_from_slice(&(n as i32).to_le_bytes());
            }
            _ => {
                self.buf.push(0xf4);
                self.buf.extend_from_slice(&n.to_le_bytes());
            }
        }
        self.finish_entry(start);
    }

    /// Appends a string as a string, whatever it looks like.
    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf
                .extend_from_slice(&[0xe0 | (len >> 8) as u8, len as u8]);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.finish_entry(start);
    }

    fn finish_entry(&mut self, start: usize) {
        let body = self.buf.len() - start;
        let mut tmp = [0u8; 5];
        let n = encode_backlen(body, &mut tmp);
        self.buf.extend_from_slice(&tmp[..n]);
        self.count += 1;
    }

    /// The finished listpack: total bytes and count in the header, the end byte.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xff);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        // Counts from 65535 up are stored as "unknown", as Redis does.
        let count = self.count.min(65535) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }

    /// Bytes the finished listpack would take.
    pub fn byte_len(&self) -> usize {
        self.buf.len() + 1
    }
}

/// A listpack entry's back-length: its encoding+data size in 7-bit groups, most significant
/// group first, every byte after the first flagged with the high bit.
fn encode_backlen(l: usize, out: &mut [u8; 5]) -> usize {
    let groups = match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    };
    for (i, slot) in out.iter_mut().take(groups).enumerate() {
        let shift = 7 * (groups - 1 - i);
        let b = ((l >> shift) & 127) as u8;
        *slot = if i > 0 { b | 128 } else { b };
    }
    groups
}

fn decode_backlen(buf: &[u8], end: usize) -> Option<(usize, usize)> {
    // Reads leftwards from `end - 1`: (value, bytes used).
    let mut val = 0usize;
    let mut shift = 0;
    let mut i = end;
    loop {
        i = i.checked_sub(1)?;
        let b = buf[i];
        val |= ((b & 127) as usize) << shift;
        if b & 128 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
    Some((val, end - i))
}

fn slice(b: &[u8], from: usize, len: usize) -> Option<&[u8]> {
    b.get(from..from.checked_add(len)?)
}

fn le_i64(b: &[u8]) -> i64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    let shift = 64 - 8 * b.len() as u32;
    (i64::from_le_bytes(w) << shift) >> shift
}

/// Parses and fully validates a listpack (header, every entry and back-length, the end byte,
/// the count unless stored as unknown). Entries in order.
pub fn parse_listpack(b: &[u8]) -> Option<Vec<Entry<'_>>> {
    if b.len() < 7 {
        return None;
    }
    let total = u32::from_le_bytes(b[0..4].try_into().ok()?) as usize;
    if total != b.len() || b[b.len() - 1] != 0xff {
        return None;
    }
    let stated = u16::from_le_bytes([b[4], b[5]]) as usize;
    let end = b.len() - 1;
    // Each entry takes at least two bytes, which bounds the preallocation.
    let mut out = Vec::with_capacity(stated.min(end / 2));
    let mut p = 6;
    while p < end {
        let h = b[p];
        let (e, body) = match h {
            0x00..=0x7f => (Entry::Int(h as i64), 1),
            0x80..=0xbf => {
                let len = (h & 0x3f) as usize;
                (Entry::Str(slice(b, p + 1, len)?), 1 + len)
            }
            0xc0..=0xdf => {
                let v = (((h & 0x1f) as i64) << 8) | *b.get(p + 1)? as i64;
                (Entry::Int(if v >= 4096 { v - 8192 } else { v }), 2)
            }
            0xe0..=0xef => {
                let len = (((h & 0x0f) as usize) << 8) | *b.get(p + 1)? as usize;
                (Entry::Str(slice(b, p + 2, len)?), 2 + len)
            }
            0xf0 => {
                let len = u32::from_le_bytes(slice(b, p + 1, 4)?.try_into().ok()?) as usize;
                (Entry::Str(slice(b, p + 5, len)?), 5 + len)
            }
            0xf1 => (Entry::Int(le_i64(slice(b, p + 1, 2)?)), 3),
            0xf2 => (Entry::Int(le_i64(slice(b, p + 1, 3)?)), 4),
            0xf3 => (Entry::Int(le_i64(slice(b, p + 1, 4)?)), 5),
            0xf4 => (Entry::Int(le_i64(slice(b, p + 1, 8)?)), 9),
            _ => return None,
        };
        let mut tmp = [0u8; 5];
        let blen = encode_backlen(body, &mut tmp);
        let after = p.checked_add(body)?.checked_add(blen)?;
        if after > end {
            return None;
        }
        if decode_backlen(b, after)? != (body, blen) {
            return None;
        }
        out.push(e);
        p = after;
    }
    if stated != 65535 && stated != out.len() {
        return None;
    }
    Some(out)
}

/// Parses and validates a ziplist (Redis < 7): header, entries with their prevlen, end byte.
pub fn parse_ziplist(b: &[u8]) -> Option<Vec<Entry<'_>>> {
    if b.len() < 11 {
        return None;
    }
    let zlbytes = u32::from_le_bytes(b[0..4].try_into().ok()?) as usize;
    let zltail = u32::from_le_bytes(b[4..8].try_into().ok()?) as usize;
    let stated = u16::from_le_bytes([b[8], b[9]]) as usize;
    if zlbytes != b.len() || b[b.len() - 1] != 0xff {
        return None;
    }
    let end = b.len() - 1;
    let mut out = Vec::with_capacity(stated.min(end / 2));
    let mut p = 10;
    let mut prev_len = 0usize;
    let mut last_start = 10;
    while p < end {
        let start = p;
        // prevlen
        let pl = *b.get(p)?;
        let stored_prev = if pl < 254 {
            p += 1;
            pl as usize
        } else if pl == 254 {
            let v = u32::from_le_bytes(slice(b, p + 1, 4)?.try_into().ok()?) as usize;
            p += 5;
            v
        } else {
            return None;
        };
        if stored_prev != prev_len {
            return None;
        }
        let enc = *b.get(p)?;
        let e = match enc >> 6 {
            0 => {
                let len = (enc & 0x3f) as usize;
                p += 1;
                let s = slice(b, p, len)?;
                p += len;
                Entry::Str(s)
            }
            1 => {
                let len = (((enc & 0x3f) as usize) << 8) | *b.get(p + 1)? as usize;
                p += 2;
                let s = slice(b, p, len)?;
                p += len;
                Entry::Str(s)
            }
            2 => {
                if enc != 0x80 {
                    return None;
                }
                let len = u32::from_be_bytes(slice(b, p + 1, 4)?.try_into().ok()?) as usize;
                p += 5;
                let s = slice(b, p, len)?;
                p += len;
                Entry::Str(s)
            }
            _ => {
                let (width, imm) = match enc {
                    0xc0 => (2, None),
                    0xd0 => (4, None),
                    0xe0 => (8, None),
                    0xf0 => (3, None),
                    0xfe => (1, None),
                    0xf1..=0xfd => (0, Some((enc & 0x0f) as i64 - 1)),
                    _ => return None,
                };
                p += 1;
                let v = match imm {
                    Some(v) => v,
                    None => le_i64(slice(b, p, width)?),
                };
                p += width;
                Entry::Int(v)
            }
        };
        if p > end {
            return None;
        }
        out.push(e);
        prev_len = p - start;
        last_start = start;
    }
    // The tail offset points at the last entry (or at the end byte when empty).
    let expected_tail = if out.is_empty() { 10 } else { last_start };
    if zltail != expected_tail {
        return None;
    }
    if stated != 65535 && stated != out.len() {
        return None;
    }
    Some(out)
}

/// Parses a zipmap (Redis < 2.6 hashes): field/value pairs.
pub fn parse_zipmap(b: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    fn len_at(b: &[u8], p: &mut usize) -> Option<Option<usize>> {
        let h = *b.get(*p)?;
        match h {
            0..=253 => {
                *p += 1;
                Some(Some(h as usize))
            }
            254 => {
                let v = u32::from_le_bytes(slice(b, *p + 1, 4)?.try_into().ok()?) as usize;
                *p += 5;
                Some(Some(v))
            }
            _ => Some(None), // end marker
        }
    }
    let stated = *b.first()? as usize;
    let mut p = 1;
    let mut out = Vec::new();
    while let Some(klen) = len_at(b, &mut p)? {
        let key = slice(b, p, klen)?;
        p += klen;
        let vlen = len_at(b, &mut p)??;
        let free = *b.get(p)? as usize;
        p += 1;
        let val = slice(b, p, vlen)?;
        p = p.checked_add(vlen)?.checked_add(free)?;
        out.push((key, val));
    }
    // The end byte must be the last one.
    if p + 1 != b.len() {
        return None;
    }
    if stated < 254 && stated != out.len() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trip_every_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 100];
        let items: Vec<Entry> = vec![
            Entry::Int(0),
            Entry::Int(127),
            Entry::Int(128),
            Entry::Int(-4096),
            Entry::Int(4095),
            Entry::Int(-32768),
            Entry::Int(32767),
            Entry::Int(8388607),
            Entry::Int(-8388608),
            Entry::Int(i32::MIN as i64),
            Entry::Int(i64::MAX),
            Entry::Int(i64::MIN),
            Entry::Str(b""),
            Entry::Str(b"hello"),
            Entry::Str(&mid),
            Entry::Str(&long),
        ];
        let mut lp = ListpackBuilder::new();
        for &e in &items {
            lp.push(e);
        }
        let bytes = lp.finish();
        assert_eq!(parse_listpack(&bytes), Some(items));
    }

    #[test]
    fn listpack_matches_redis_bytes() {
        // HSET h a 1 in Redis 7.0, DUMP: the listpack inside.
        let mut lp = ListpackBuilder::new();
        lp.push_bytes(b"a");
        lp.push_bytes(b"1");
        assert_eq!(
            lp.finish(),
            vec![0x0c, 0, 0, 0, 0x02, 0, 0x81, b'a', 0x02, 0x01, 0x01, 0xff]
        );
    }

    #[test]
    fn listpack_rejects_corruption() {
        let mut lp = ListpackBuilder::new();
        lp.push_bytes(b"abc");
        lp.push_bytes(b"12345");
        let good = lp.finish();
        for cut in 0..good.len() {
            assert_eq!(parse_listpack(&good[..cut]), None);
        }
        for i in 0..good.len() {
            for v in [0x00, 0x7f, 0x80, 0xbf, 0xf0, 0xf4, 0xfe, 0xff] {
                let mut bad = good.clone();
                bad[i] = v;
                let _ = parse_listpack(&bad);
            }
        }
        let mut bad = good.clone();
        bad[4] = 3; // wrong count
        assert_eq!(parse_listpack(&bad), None);
    }

    /// A ziplist by hand: "a", 5, -2000, "hello".
    fn ziplist() -> Vec<u8> {
        let mut entries = vec![];
        let mut tail = 10;
        let mut prev = 0u8;
        for e in [
            vec![0x01, b'a'],
            vec![0xf6],
            vec![0xc0, 0x30, 0xf8],
            vec![0x05, b'h', b'e', b'l', b'l', b'o'],
        ] {
            tail = 10 + entries.len();
            entries.push(prev);
            entries.extend_from_slice(&e);
            prev = (e.len() + 1) as u8;
        }
        let mut zl = vec![];
        zl.extend_from_slice(&((11 + entries.len()) as u32).to_le_bytes());
        zl.extend_from_slice(&(tail as u32).to_le_bytes());
        zl.extend_from_slice(&4u16.to_le_bytes());
        zl.extend_from_slice(&entries);
        zl.push(0xff);
        zl
    }

    #[test]
    fn ziplist_by_hand() {
        let zl = ziplist();
        assert_eq!(
            parse_ziplist(&zl),
            Some(vec![
                Entry::Str(b"a"),
                Entry::Int(5),
                Entry::Int(-2000),
                Entry::Str(b"hello")
            ])
        );
        for cut in 0..zl.len() {
            assert_eq!(parse_ziplist(&zl[..cut]), None);
        }
        let mut bad = zl.clone();
        bad[4] = 11; // wrong tail
        assert_eq!(parse_ziplist(&bad), None);
    }

    #[test]
    fn zipmap_by_hand() {
        // {"foo": "bar", "k": "vv"} with one free byte after "vv".
        let zm = [
            2, 3, b'f', b'o', b'o', 3, 0, b'b', b'a', b'r', 1, b'k', 2, 1, b'v', b'v', 0, 0xff,
        ];
        assert_eq!(
            parse_zipmap(&zm),
            Some(vec![(&b"foo"[..], &b"bar"[..]), (&b"k"[..], &b"vv"[..])])
        );
        for cut in 0..zm.len() {
            assert_eq!(parse_zipmap(&zm[..cut]), None);
        }
    }
}
