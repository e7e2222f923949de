//! Redis's CRC-64: the Jones polynomial (0xad93d23594c935a9), reflected input and output, zero
//! initial value and no final xor. It guards every RDB file and DUMP payload.
//!
//! Computed slice-by-8: eight lookup tables let the loop fold eight input bytes per step, which
//! matters because the checksum runs over every byte of a snapshot.

/// The Jones polynomial, bit-reversed for the reflected (LSB-first) algorithm.
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn make_tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    // t[k][i]: the CRC of byte i followed by k zero bytes.
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static TABLES: [[u64; 256]; 8] = make_tables();

/// Extends `crc` (0 to start) over `data`, as Redis's `crc64(crc, data, len)`.
pub fn crc64(crc: u64, data: &[u8]) -> u64 {
    let t = &TABLES;
    let mut crc = crc;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let word = crc ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        crc = t[7][(word & 0xff) as usize]
            ^ t[6][((word >> 8) & 0xff) as usize]
            ^ t[5][((word >> 16) & 0xff) as usize]
            ^ t[4][((word >> 24) & 0xff) as usize]
            ^ t[3][((word >> 32) & 0xff) as usize]
            ^ t[2][((word >> 40) & 0xff) as usize]
            ^ t[1][((word >> 48) & 0xff) as usize]
            ^ t[0][(word >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitwise(data: &[u8]) -> u64 {
        let mut crc = 0u64;
        for &b in data {
            crc ^= b as u64;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ POLY_REFLECTED
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn check_value() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn slicing_matches_bitwise_and_chains() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 999, 1000] {
            assert_eq!(crc64(0, &data[..len]), bitwise(&data[..len]), "len {len}");
        }
        let (a, b) = data.split_at(333);
        assert_eq!(crc64(crc64(0, a), b), crc64(0, &data));
    }
}
