//! Key → slot → shard.
//!
//! A key's slot is CRC16(key) mod 16384, hashing only the `{hashtag}` when the key has a
//! non-empty one, exactly as Redis Cluster computes it, so that `CLUSTER KEYSLOT` agrees with
//! Redis and keys that share a hashtag always land on the same shard. Slots are dealt to shards
//! in contiguous ranges, as a cluster would deal them to nodes.

pub const SLOTS: usize = 16384;

/// CRC16-CCITT (XModem): polynomial 0x1021, initial value 0, as Redis Cluster specifies.
const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC16_TABLE: [u16; 256] = crc16_table();

pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ b) as usize]
    })
}

/// The part of the key that is hashed: the text between the first `{` and the first `}` after
/// it, when that text is non-empty; otherwise the whole key.
fn hash_part(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_part(key)) & (SLOTS as u16 - 1)
}

/// The shard that owns `slot` when there are `shards` shards.
pub fn slot_owner(slot: u16, shards: usize) -> usize {
    slot as usize * shards / SLOTS
}

pub fn key_owner(key: &[u8], shards: usize) -> usize {
    if shards == 1 {
        return 0;
    }
    slot_owner(key_slot(key), shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_cluster_keyslot() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0 and the cluster spec's test vector.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn slots_are_dealt_in_ranges() {
        assert_eq!(slot_owner(0, 4), 0);
        assert_eq!(slot_owner(4095, 4), 0);
        assert_eq!(slot_owner(4096, 4), 1);
        assert_eq!(slot_owner(16383, 4), 3);
    }
}
