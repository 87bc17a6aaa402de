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

/// `CRC16_SLICES[k][x]`: the CRC of byte `x` followed by `k` zero bytes. Eight bytes
/// then cost eight independent lookups XORed together, instead of a chain of eight
/// lookups each waiting for the last: with more than one shard every keyed request
/// routes through here, and the chain was most of the routing's cost (a 16-byte key
/// is two steps; 4 KiB of tables, which stay in L1 under a routing load).
const CRC16_SLICES: [[u16; 256]; 8] = build_crc16_slices();

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

const fn build_crc16_slices() -> [[u16; 256]; 8] {
    let mut slices = [[0u16; 256]; 8];
    slices[0] = CRC16_TABLE;
    let mut k = 1;
    while k < 8 {
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
    let t = &CRC16_SLICES;
    let mut crc: u16 = 0;
    let mut eights = data.chunks_exact(8);
    for q in &mut eights {
        // The register's two bytes fold into the next two message bytes (linearity).
        let hi = ((crc >> 8) as u8 ^ q[0]) as usize;
        let lo = (crc as u8 ^ q[1]) as usize;
        crc = t[7][hi]
            ^ t[6][lo]
            ^ t[5][q[2] as usize]
            ^ t[4][q[3] as usize]
            ^ t[3][q[4] as usize]
            ^ t[2][q[5] as usize]
            ^ t[1][q[6] as usize]
            ^ t[0][q[7] as usize];
    }
    let mut rest = eights.remainder();
    if rest.len() >= 4 {
        let hi = ((crc >> 8) as u8 ^ rest[0]) as usize;
        let lo = (crc as u8 ^ rest[1]) as usize;
        crc = t[3][hi] ^ t[2][lo] ^ t[1][rest[2] as usize] ^ t[0][rest[3] as usize];
        rest = &rest[4..];
    }
    for &b in rest {
        crc = (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ b) as usize];
    }
    crc
}

/// Where `byte` first occurs in `data`: eight bytes a step (a word compare finds
/// whether, and where, any of them matches), since every routed key is scanned for
/// `{` and most have none.
#[inline]
fn find_byte(data: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * byte as u64;
    let mut words = data.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().expect("8 bytes")) ^ pattern;
        // A zero byte in `x` is a match; the lowest flagged byte is always a true one
        // (a false flag needs a borrow from a true match below it).
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words.remainder().iter().position(|&b| b == byte).map(|i| at + i)
}

/// The part of `key` that is hashed: the bytes between the first `{` and the
/// first `}` after it, if that span is non-empty; otherwise the whole key.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = find_byte(key, b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = find_byte(rest, b'}')
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
    let slot = key_slot(key) as usize;
    // A power-of-two count takes a mask: the division was a fifth of this function's
    // samples in a profile of 2-shard MSETs, and every routed key pays it (a
    // cross-shard MSET's keys are routed twice: their lane and their parts).
    if nshards.is_power_of_two() { slot & (nshards - 1) } else { slot % nshards }
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
    fn shard_of_is_the_slot_modulo_the_shard_count() {
        for n in 1..=9 {
            for i in 0..2000 {
                let key = format!("key:{i}");
                assert_eq!(shard_of(key.as_bytes(), n), key_slot(key.as_bytes()) as usize % n, "{key} over {n}");
            }
        }
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
    fn find_byte_matches_a_plain_search_at_every_position() {
        let plain: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for at in 0..=plain.len() {
            let mut data = plain.clone();
            if at < data.len() {
                // A match, a second one later, and a byte one below the pattern
                // before it (the borrow case of the word compare).
                data[at] = b'{';
                if at + 3 < data.len() {
                    data[at + 3] = b'{';
                }
                if at > 0 {
                    data[at - 1] = b'{' - 1;
                }
            }
            for len in 0..=data.len() {
                let want = data[..len].iter().position(|&b| b == b'{');
                assert_eq!(find_byte(&data[..len], b'{'), want, "match at {at}, length {len}");
            }
        }
        assert_eq!(find_byte(&[0x80, 0x7b, 0xff], b'{'), Some(1));
        assert_eq!(find_byte(&[0xfb; 9], b'{'), None);
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
