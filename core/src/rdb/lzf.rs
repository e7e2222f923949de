//! LZF, as Redis uses it for long strings in RDB files and DUMP payloads.
//!
//! The compressor reproduces liblzf 3.6 as Redis builds it (a 2^16-slot hash table, the
//! `VERY_FAST` variant that re-hashes two positions after each match), so that a payload
//! compresses to the same bytes Redis writes. Its hash table starts zeroed, where liblzf leaves
//! it uninitialised; a stale slot can only ever be rejected there too, since every candidate
//! match is verified against the input.
//!
//! The stream is a sequence of runs:
//! - `000LLLLL` + L+1 literal bytes;
//! - `LLLooooo oooooooo`: copy L+2 bytes from `offset + 1` bytes back (L in 1..=6);
//! - `111ooooo LLLLLLLL oooooooo`: the same with length L+9.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// The compressor's hash table, reused across calls: zeroing 2^16 slots for every string of a
/// snapshot would cost more than compressing most of them. Each slot carries the generation
/// (call) that wrote it; a slot from an earlier call reads as empty.
struct Table {
    generation: u32,
    slots: Vec<u64>,
}

thread_local! {
    static TABLE: std::cell::RefCell<Table> = const {
        std::cell::RefCell::new(Table { generation: 0, slots: Vec::new() })
    };
}

/// Compresses `input` into at most `max_out` bytes; `None` when it does not fit (or either is
/// empty), as `lzf_compress` returning 0.
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    if input.is_empty() || max_out == 0 || input.len() > u32::MAX as usize {
        return None;
    }
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if t.slots.is_empty() {
            t.slots = vec![0; HSIZE];
        }
        t.generation = t.generation.wrapping_add(1);
        if t.generation == 0 {
            t.slots.iter_mut().for_each(|s| *s = 0);
            t.generation = 1;
        }
        let generation = t.generation;
        compress_with(input, max_out, &mut t.slots, generation)
    })
}

fn compress_with(
    input: &[u8],
    max_out: usize,
    htab: &mut [u64],
    generation: u32,
) -> Option<Vec<u8>> {
    let in_len = input.len();
    let tag = (generation as u64) << 32;
    // Positions in the input; 0 doubles as "empty", which the `reference > 0` test rejects just
    // as liblzf rejects a reference at the very start of the input.
    let get = |htab: &[u64], slot: usize| -> usize {
        let v = htab[slot];
        if v >> 32 == generation as u64 {
            (v & 0xffff_ffff) as usize
        } else {
            0
        }
    };
    let mut out = vec![0u8; max_out];
    let mut op = 1usize; // out[0] is the first literal run's header
    let mut lit = 0usize;
    let mut ip = 0usize;
    let at = |i: usize| -> u32 { input.get(i).copied().unwrap_or(0) as u32 };
    let mut hval: u32 = (at(0) << 8) | at(1);

    while ip + 2 < in_len {
        hval = (hval << 8) | at(ip + 2);
        let slot = idx(hval);
        let reference = get(htab, slot);
        htab[slot] = tag | ip as u64;
        let off = ip.wrapping_sub(reference).wrapping_sub(1);
        // Redis 7.0's liblzf has no `ip + 4 < in_end` test here (later versions added one),
        // so a match may start as late as three bytes before the end.
        if off < MAX_OFF
            && reference > 0
            && input[reference] == input[ip]
            && input[reference + 1] == input[ip + 1]
            && input[reference + 2] == input[ip + 2]
        {
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            // Close the literal run (dropping its header if empty).
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            if lit == 0 {
                op -= 1;
            }
            if op + 3 + 1 >= max_out {
                return None;
            }
            // liblzf first compares up to 16 bytes without looking at `maxlen` (the input is
            // long enough for that whenever `maxlen > 16`), which can stretch a match one or
            // two bytes past `maxlen`; reproduced, as it shows in the output.
            let mut mismatch = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if input[reference + len] != input[ip + len] {
                        mismatch = true;
                        break;
                    }
                }
            }
            if !mismatch {
                loop {
                    len += 1;
                    if len >= maxlen || input[reference + len] != input[ip + len] {
                        break;
                    }
                }
            }
            len -= 2; // now the number of bytes - 1
            ip += 1;
            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 1;
            lit = 0;
            op += 1; // start a new literal run
            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }
            // VERY_FAST: hash the two positions before the new one.
            ip -= 2;
            hval = (at(ip) << 8) | at(ip + 1);
            hval = (hval << 8) | at(ip + 2);
            htab[idx(hval)] = tag | ip as u64;
            ip += 1;
            hval = (hval << 8) | at(ip + 2);
            htab[idx(hval)] = tag | ip as u64;
            ip += 1;
        } else {
            if op >= max_out {
                return None;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8;
                lit = 0;
                op += 1;
            }
        }
    }
    if op + 3 > max_out {
        return None;
    }
    while ip < in_len {
        lit += 1;
        // Within bounds: at most 3 input bytes remain here, and `op + 3 <= max_out` held.
        if op >= max_out {
            return None;
        }
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }
    if op - lit - 1 < out.len() {
        out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    }
    if lit == 0 {
        op -= 1;
    }
    out.truncate(op);
    Some(out)
}

/// Why a compressed stream was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LzfError {
    /// The output would exceed the stated length.
    TooLong,
    /// A run reads past the input or refers before the output's start.
    Corrupt,
    /// The stream ended with fewer bytes than stated.
    TooShort,
}

/// Decompresses `input` into exactly `out_len` bytes, bounds-checking every run.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, LzfError> {
    // A run of three input bytes yields at most 264 output bytes; refuse claims beyond that
    // before allocating for them.
    if out_len > input.len().saturating_mul(88) {
        return Err(LzfError::TooLong);
    }
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < MAX_LIT {
            let n = ctrl + 1;
            if out.len() + n > out_len {
                return Err(LzfError::TooLong);
            }
            let lits = input.get(ip..ip + n).ok_or(LzfError::Corrupt)?;
            out.extend_from_slice(lits);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip).ok_or(LzfError::Corrupt)? as usize;
                ip += 1;
            }
            let low = *input.get(ip).ok_or(LzfError::Corrupt)? as usize;
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            let n = len + 2;
            if out.len() + n > out_len {
                return Err(LzfError::TooLong);
            }
            let start = out.len().checked_sub(back).ok_or(LzfError::Corrupt)?;
            // Byte by byte: the source may overlap what this run writes.
            for i in 0..n {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    if out.len() != out_len {
        return Err(LzfError::TooShort);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        if let Some(c) = compress(data, data.len() + 64) {
            assert_eq!(decompress(&c, data.len()).as_deref(), Ok(data));
        }
    }

    #[test]
    fn round_trips() {
        round_trip(b"a");
        round_trip(b"ab");
        round_trip(b"abc");
        round_trip(&[b'x'; 1000]);
        round_trip(b"hello hello hello hello hello hello world world world");
        let noisy: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        round_trip(&noisy);
        let mixed: Vec<u8> = (0..70000u32)
            .map(|i| ((i % 251) ^ (i / 1000)) as u8)
            .collect();
        round_trip(&mixed);
    }

    #[test]
    fn repetitive_input_compresses_and_respects_the_cap() {
        let data = vec![b'a'; 100];
        let c = compress(&data, 96).expect("compressible");
        assert!(c.len() < 10, "{c:?}");
        // What Redis 7.0 writes for 100 'a's (DUMP of SET a aaa...).
        assert_eq!(
            c,
            vec![0x01, b'a', b'a', 0xe0, 0x57, 0x00, 0x01, b'a', b'a']
        );
        assert_eq!(compress(b"abcdefghijklmnopqrstuvwxyz", 22), None);
    }

    #[test]
    fn reused_table_leaks_nothing_between_calls() {
        let a: Vec<u8> = b"the quick brown fox jumps over the lazy dog ".repeat(40);
        let b: Vec<u8> = b"the quick brown cat naps under the lazy dog ".repeat(3);
        let fresh = std::thread::spawn({
            let b = b.clone();
            move || compress(&b, b.len() - 4)
        })
        .join()
        .expect("thread");
        compress(&a, a.len() - 4);
        assert_eq!(compress(&b, b.len() - 4), fresh);
    }

    #[test]
    fn hostile_streams_fail_cleanly() {
        assert_eq!(decompress(&[0x05, b'a'], 6), Err(LzfError::Corrupt));
        assert_eq!(decompress(&[0x20, 0x00], 3), Err(LzfError::Corrupt));
        assert_eq!(decompress(&[0x00, b'a', 0xe0], 100), Err(LzfError::Corrupt));
        assert_eq!(decompress(&[0x00, b'a'], 2), Err(LzfError::TooShort));
        assert_eq!(decompress(&[0x01, b'a', b'b'], 1), Err(LzfError::TooLong));
        assert_eq!(
            decompress(&[0x00, b'a'], usize::MAX),
            Err(LzfError::TooLong)
        );
        for n in 0..64 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let _ = decompress(&junk, n as usize * 3);
        }
    }
}
