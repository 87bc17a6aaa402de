//! The lock table's set of locked key hashes (`shard::lock`).
//!
//! A multiset of `key_hash` values in one open-addressed array (linear probing,
//! deletion by shifting back, no tombstones), 8 bytes an entry. A key held twice (a
//! plan naming it twice) is in it twice. Why not a `HashMap<u64, u32>`: a split part's
//! keys are locked in one turn and unlocked a turn or more later, with the keyspace's
//! traffic in between, so each key's entry is a cache miss both times, and a hash map
//! reads two lines per key (its control bytes, then the bucket), one after the other.
//! Here a key's place is its hash's low bits: a plan's places are all asked for first
//! (`prefetch`), so its keys' misses overlap, and each key reads one line.

/// The value stored for hash 0, which marks an empty place. Sharing it with another
/// key only makes a command wait for a lock it did not need (`shard::lock`).
const ZERO: u64 = 1;

/// The smallest array (the table is usually empty or small).
const MIN_PLACES: usize = 64;

/// An array bigger than this (64 KiB) shrinks by half when under 1/16 full.
const SHRINK_ABOVE: usize = 8192;

#[derive(Default)]
pub struct LockKeys {
    /// Empty (0) or a stored hash; a power-of-two length (or none yet).
    places: Vec<u64>,
    len: usize,
}

#[inline]
fn stored(h: u64) -> u64 {
    if h == 0 { ZERO } else { h }
}

impl LockKeys {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn mask(&self) -> usize {
        self.places.len().wrapping_sub(1)
    }

    /// Asks for the line holding `h`'s first place, ahead of a `contains`, `insert` or
    /// `remove` of it.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        if let Some(p) = self.places.get(stored(h) as usize & self.mask()) {
            crate::storage::table::prefetch(p);
        }
    }

    pub fn contains(&self, h: u64) -> bool {
        if self.len == 0 {
            return false;
        }
        let h = stored(h);
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            match self.places[i] {
                0 => return false,
                x if x == h => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds one instance of `h` (another one if it is there already).
    pub fn insert(&mut self, h: u64) {
        if (self.len + 1) * 2 > self.places.len() {
            self.resize((self.places.len() * 2).max(MIN_PLACES));
        }
        self.put(stored(h));
        self.len += 1;
    }

    /// Adds `h` if absent (true); false if it is there (nothing added).
    pub fn insert_new(&mut self, h: u64) -> bool {
        if (self.len + 1) * 2 > self.places.len() {
            self.resize((self.places.len() * 2).max(MIN_PLACES));
        }
        let h = stored(h);
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            match self.places[i] {
                0 => {
                    self.places[i] = h;
                    self.len += 1;
                    return true;
                }
                x if x == h => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Stores an already `stored` hash in the first empty place from its own (room
    /// is there: the load stays at most one half).
    fn put(&mut self, h: u64) {
        let mask = self.mask();
        let mut i = h as usize & mask;
        while self.places[i] != 0 {
            i = (i + 1) & mask;
        }
        self.places[i] = h;
    }

    /// Removes one instance of `h`, if any.
    pub fn remove(&mut self, h: u64) {
        if self.len == 0 {
            return;
        }
        let h = stored(h);
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            match self.places[i] {
                0 => return,
                x if x == h => break,
                _ => i = (i + 1) & mask,
            }
        }
        // Shift back the entries after the hole whose probe passed through it, so that
        // every entry stays reachable from its own place without a gap.
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let x = self.places[j];
            if x == 0 {
                break;
            }
            let home = x as usize & mask;
            // Stays if its home lies cyclically in (i, j]: its probe never crossed i.
            let stays = if i <= j { i < home && home <= j } else { i < home || home <= j };
            if !stays {
                self.places[i] = x;
                i = j;
            }
        }
        self.places[i] = 0;
        self.len -= 1;
        if self.places.len() > SHRINK_ABOVE && self.len * 16 < self.places.len() {
            // A burst grew it; back toward a size whose lines stay cached (a table
            // that size or below keeps its size: no resizing back and forth).
            self.resize(self.places.len() / 2);
        }
    }

    fn resize(&mut self, places: usize) {
        let old = std::mem::replace(&mut self.places, vec![0; places]);
        for h in old {
            if h != 0 {
                self.put(h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model of the multiset: counts per hash.
    fn check(set: &LockKeys, model: &std::collections::HashMap<u64, u32>) {
        for (&h, &n) in model {
            assert_eq!(set.contains(h), n > 0, "hash {h:#x}");
        }
        assert_eq!(set.len, model.values().map(|&n| n as usize).sum::<usize>());
        let stored_count = set.places.iter().filter(|&&x| x != 0).count();
        assert_eq!(stored_count, set.len);
    }

    #[test]
    fn a_burst_shrinks_back_once_released() {
        let mut set = LockKeys::default();
        for h in 0..50_000u64 {
            set.insert(h.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        assert!(set.places.len() >= 100_000);
        for h in 0..50_000u64 {
            set.remove(h.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        assert!(set.is_empty() && set.places.len() <= SHRINK_ABOVE);
        assert!(!set.contains(0x9e37_79b9_7f4a_7c15));
    }

    #[test]
    fn agrees_with_a_counting_map_through_inserts_removes_and_resizes() {
        let mut set = LockKeys::default();
        let mut model = std::collections::HashMap::new();
        // Small hashes collide in their low bits on purpose (long probe runs that wrap
        // around the array's end), with 0 among them.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let h = if step % 3 == 0 { x % 200 } else { (x % 97) * 64 + 63 };
            let h = stored(h);
            let n = model.entry(h).or_insert(0u32);
            if x & 4 == 0 || *n == 0 {
                if x & 8 == 0 {
                    set.insert(h);
                    *n += 1;
                } else if set.insert_new(h) {
                    assert_eq!(*n, 0);
                    *n = 1;
                } else {
                    assert!(*n > 0);
                }
            } else {
                set.remove(h);
                *n -= 1;
            }
            if step % 512 == 0 {
                check(&set, &model);
            }
        }
        check(&set, &model);
        for (&h, &n) in &model {
            for _ in 0..n {
                set.remove(h);
            }
        }
        assert!(set.is_empty() && set.places.len() <= SHRINK_ABOVE);
        assert!(!set.contains(0) && !set.contains(1));
    }
}
