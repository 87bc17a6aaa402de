//! The command-name index in front of `Table::lookup`: every request looks its name up
//! here, so it is built for names of a few bytes.
//!
//! A name of up to `WORDS * 8` bytes is loaded into zero-padded 64-bit words and
//! lower-cased a word at a time (ASCII letters only, as Redis folds command names), then
//! found by one multiplicative hash into an open-addressed slot array and three word
//! compares. The general map (`foldhash`, a lower-cased copy, a `memcmp`) cost 4.6% of
//! a pipelined GET's server CPU; this is a handful of instructions. Longer names (none
//! today) are left to the caller's fallback.

const WORDS: usize = 3;
/// Longest name this index holds.
pub const MAX_LEN: usize = WORDS * 8;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// The lower-cased, zero-padded name; `len == 0` marks an empty slot.
    words: [u64; WORDS],
    len: u8,
    idx: u16,
}

pub struct NameIndex {
    slots: Box<[Slot]>,
    mask: usize,
}

/// `b` with its ASCII upper-case letters lower-cased, eight bytes at a time.
#[inline(always)]
fn lower_word(b: u64) -> u64 {
    let low7 = b & !HIGH;
    // High bit of each byte: set where the byte's low 7 bits are >= 'A', and where > 'Z'.
    let ge_a = low7.wrapping_add((0x80 - b'A' as u64) * ONES);
    let gt_z = low7.wrapping_add((0x80 - b'Z' as u64 - 1) * ONES);
    let upper = ge_a & !gt_z & !b & HIGH;
    b | (upper >> 2)
}

/// `name` (at most `MAX_LEN` bytes) as zero-padded, lower-cased little-endian words.
/// Read with whole-word and overlapping loads rather than through a byte buffer, and
/// each word chosen in registers: a `memcpy` into a buffer read back as words, and
/// later an array filled by index then lower-cased as one vector, both stalled on
/// store forwarding (a 16-byte load of two 8-byte stores), and were most of the
/// lookup's time.
#[inline(always)]
fn load(name: &[u8]) -> [u64; WORDS] {
    let full = name.len() / 8;
    let rest = &name[full * 8..];
    let n = rest.len();
    let tail = if n >= 4 {
        // Two 4-byte loads that overlap in the middle: the shared bytes are equal.
        let lo = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as u64;
        let hi = u32::from_le_bytes(rest[n - 4..].try_into().expect("4 bytes")) as u64;
        lo | hi << ((n - 4) * 8)
    } else if n > 0 {
        rest[0] as u64 | (rest[n / 2] as u64) << (n / 2 * 8) | (rest[n - 1] as u64) << ((n - 1) * 8)
    } else {
        0
    };
    let word = |k: usize| -> u64 {
        if k < full {
            lower_word(u64::from_le_bytes(name[k * 8..k * 8 + 8].try_into().expect("8 bytes")))
        } else if k == full {
            lower_word(tail)
        } else {
            0
        }
    };
    const { assert!(WORDS == 3, "one `word` call per word") };
    [word(0), word(1), word(2)]
}

#[inline(always)]
fn hash(words: &[u64; WORDS], len: usize) -> u64 {
    let h = words[0] ^ words[1].rotate_left(21) ^ words[2].rotate_left(42) ^ len as u64;
    h.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl NameIndex {
    /// An index of `names` (lower case, distinct) to their positions in the iterator;
    /// names longer than `MAX_LEN` are left out.
    pub fn new<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> NameIndex {
        let cap = (names.len() * 4).next_power_of_two().max(16);
        let mut index = NameIndex { slots: vec![Slot::default(); cap].into_boxed_slice(), mask: cap - 1 };
        for (idx, name) in names.enumerate() {
            if name.is_empty() || name.len() > MAX_LEN {
                continue;
            }
            let words = load(name.as_bytes());
            let mut i = (hash(&words, name.len()) >> 32) as usize & index.mask;
            while index.slots[i].len != 0 {
                i = (i + 1) & index.mask;
            }
            index.slots[i] = Slot { words, len: name.len() as u8, idx: idx as u16 };
        }
        index
    }

    /// The position of `name`, compared without regard to ASCII case; None for an
    /// unknown name (the caller looks names longer than `MAX_LEN` up elsewhere).
    #[inline]
    pub fn get(&self, name: &[u8]) -> Option<u16> {
        if name.is_empty() || name.len() > MAX_LEN {
            return None;
        }
        let words = load(name);
        let mut i = (hash(&words, name.len()) >> 32) as usize & self.mask;
        loop {
            let s = &self.slots[i];
            if s.len == 0 {
                return None;
            }
            // Word by word in registers: an array compare spilled the words to the
            // stack and read them back as a vector (a store-forwarding stall).
            if s.len as usize == name.len()
                && s.words[0] == words[0]
                && s.words[1] == words[1]
                && s.words[2] == words[2]
            {
                return Some(s.idx);
            }
            i = (i + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_pads_every_length_with_zeros() {
        let name = b"abcdefghijklmnopqrstuvwx";
        for len in 0..=MAX_LEN {
            let mut bytes = [0u8; MAX_LEN];
            bytes[..len].copy_from_slice(&name[..len]);
            let expected: Vec<u64> = bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
            assert_eq!(load(&name[..len]).to_vec(), expected, "length {len}");
        }
    }

    #[test]
    fn lower_word_folds_only_ascii_letters() {
        for b in 0..=255u8 {
            let w = lower_word(u64::from_le_bytes([b; 8]));
            assert_eq!(w, u64::from_le_bytes([b.to_ascii_lowercase(); 8]), "byte {b:#x}");
        }
    }

    #[test]
    fn finds_names_in_any_case_and_nothing_else() {
        let names = ["get", "set", "georadiusbymember_ro", "client", "x", "cluster"];
        let index = NameIndex::new(names.iter().copied());
        for (i, n) in names.iter().enumerate() {
            assert_eq!(index.get(n.as_bytes()), Some(i as u16));
            assert_eq!(index.get(n.to_ascii_uppercase().as_bytes()), Some(i as u16));
        }
        assert_eq!(index.get(b"GeT"), Some(0));
        for miss in [
            &b""[..],
            b"ge",
            b"gett",
            b"get\0",
            b"g\xc5t",
            b"_et",
            b"get_",
            b"client\0",
            b"georadiusbymember_rx",
            b"georadiusbymember_ro\0",
            b"aaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(index.get(miss), None, "{miss:?}");
        }
    }
}
