//! Key routing: Redis Cluster CRC16, hash tags, slots and shard selection.
//!
//! Job: map a key to its cluster slot exactly as Redis Cluster does, and map
//! keys to in-process shards *through* that slot, so that keys sharing a hash
//! tag always land on the same shard (multi-key commands stay shard-local) and
//! a later cluster mode can assign slot ranges to shards without rehashing.
//! Non-goals: slot ownership tables, resharding, MOVED/ASK handling.
//! Dependencies: none (core only).

/// Number of Redis Cluster hash slots.
pub const NUM_SLOTS: usize = 16384;

/// CRC16-CCITT (XMODEM) lookup table: polynomial 0x1021, built at compile
/// time so there is no runtime init and no `unsafe` static.
const CRC16_TABLE: [u16; 256] = build_crc16_table();

/// `CRC16_SLICES[k][x]`: the CRC of byte `x` followed by `k` zero bytes. Four bytes
/// then cost four independent lookups XORed together, instead of a chain of four
/// lookups each waiting for the last: with more than one shard every keyed request
/// routes through here, and the chain was most of the routing's cost.
const CRC16_SLICES: [[u16; 256]; 4] = build_crc16_slices();

const fn build_crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

const fn build_crc16_slices() -> [[u16; 256]; 4] {
    let mut slices = [[0u16; 256]; 4];
    slices[0] = CRC16_TABLE;
    let mut k = 1;
    while k < 4 {
        let mut x = 0;
        while x < 256 {
            // One more zero byte through the register.
            let prev = slices[k - 1][x];
            slices[k][x] = (prev << 8) ^ CRC16_TABLE[(prev >> 8) as usize];
            x += 1;
        }
        k += 1;
    }
    slices
}

/// CRC16-CCITT XMODEM (poly 0x1021, init 0, no reflection, no final xor), the
/// variant Redis Cluster uses for key slots.
#[inline]
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        // The register's two bytes fold into the next two message bytes (linearity).
        let hi = ((crc >> 8) as u8 ^ q[0]) as usize;
        let lo = (crc as u8 ^ q[1]) as usize;
        crc =
            CRC16_SLICES[3][hi] ^ CRC16_SLICES[2][lo] ^ CRC16_SLICES[1][q[2] as usize] ^ CRC16_SLICES[0][q[3] as usize];
    }
    for &b in quads.remainder() {
        crc = (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ b) as usize];
    }
    crc
}

/// The part of `key` that is hashed: the bytes between the first `{` and the
/// first `}` after it, if that span is non-empty; otherwise the whole key.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.iter().position(|&b| b == b'}')
            && close > 0
        {
            return &rest[..close];
        }
    }
    key
}

/// Redis Cluster slot of `key` (0..16383).
#[inline]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (NUM_SLOTS as u16 - 1)
}

/// Shard index (0..nshards) owning `key`.
///
/// Routing goes through the cluster slot (`slot % nshards`) rather than an
/// independent hash so hash tags co-locate keys and a future Redis Cluster
/// mode can map slots to shards the same way. With one shard we skip hashing.
///
/// # Panics
/// If `nshards == 0`.
#[inline]
pub fn shard_of(key: &[u8], nshards: usize) -> usize {
    if nshards == 1 {
        return 0;
    }
    key_slot(key) as usize % nshards
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitwise reference implementation to check the table.
    fn crc16_bitwise(data: &[u8]) -> u16 {
        let mut crc: u16 = 0;
        for &b in data {
            crc ^= (b as u16) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            }
        }
        crc
    }

    #[test]
    fn crc16_vector() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for n in 0..data.len() {
            assert_eq!(crc16(&data[..n]), crc16_bitwise(&data[..n]));
        }
    }

    #[test]
    fn known_slots() {
        // Values reported by CLUSTER KEYSLOT in Redis.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"foo{bar"), b"foo{bar");
        assert_eq!(hash_tag(b"foo}bar{"), b"foo}bar{");
        assert_eq!(hash_tag(b"}{x}"), b"x");
    }

    #[test]
    fn shards() {
        assert_eq!(shard_of(b"anything", 1), 0);
        for n in 2..9 {
            for k in [&b"a"[..], b"foo", b"{t}x", b"{t}y"] {
                let s = shard_of(k, n);
                assert!(s < n);
                assert_eq!(s, key_slot(k) as usize % n);
            }
            assert_eq!(shard_of(b"{t}x", n), shard_of(b"{t}y", n));
        }
    }
}
