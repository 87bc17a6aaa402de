//! A small seeded pseudo-random generator (xorshift64*).
//!
//! The random picks of HRANDFIELD, SRANDMEMBER, SPOP and RANDOMKEY need speed and
//! spread, not unpredictability; tests and benches need repeatable sequences. One
//! generator serves all of them.

/// xorshift64*: 8 bytes of state, a handful of instructions per number.
#[derive(Clone, Copy, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from any seed (zero included: the state must never be zero).
    pub fn new(seed: u64) -> XorShift {
        // splitmix64 finaliser: nearby seeds (consecutive clock values) give unrelated
        // streams.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        XorShift(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A uniform index below `n` (n > 0). The modulo bias is below 2^-50 for the
    /// collection sizes that fit in memory.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift;

    #[test]
    fn seeds_give_distinct_repeatable_streams() {
        let a: Vec<u64> = (0..4).scan(XorShift::new(1), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..4).scan(XorShift::new(1), |r, _| Some(r.next_u64())).collect();
        let c: Vec<u64> = (0..4).scan(XorShift::new(2), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut r = XorShift::new(0);
        let mut seen = [0usize; 10];
        for _ in 0..10_000 {
            seen[r.below(10)] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }
}
