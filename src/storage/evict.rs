//! Per-key access data for eviction, and the eviction pool, as in Redis's `evict.c`.
//!
//! Every entry has one 32-bit access field (`Entry::access_secs`). What it holds
//! depends on the `maxmemory-policy`, as in Redis's `robj.lru`:
//! - LRU policies (and any non-LFU policy): the shard clock in unix seconds at the last
//!   access, so OBJECT IDLETIME, DUMP/RESTORE IDLETIME and the RDB `IDLE` field read
//!   it directly;
//! - LFU policies: `minutes << 8 | counter`, 16 bits of the last decrement time in
//!   minutes (mod 2^16) and an 8-bit logarithmic access counter (Redis's algorithm:
//!   an access bumps the counter with probability `1 / ((c - 5) * lfu-log-factor + 1)`,
//!   and it decays by one per `lfu-decay-time` minutes without access).
//!
//! Switching policy at runtime leaves the old meaning in place until keys are touched
//! again, as in Redis ("LRU and LFU data will take some time to adjust").
//!
//! The pool keeps the best eviction candidates seen in recent samples (the highest
//! idle score first out), so a small sample per round still approximates the true
//! LRU/LFU/TTL order well.
//!
//! Non-goals: deciding when to evict or deleting keys (`shard::evict` does, because
//! deletion is propagated and notified), any clock of its own (the caller passes the
//! time: `AccessClock::tick`).

/// A new key's LFU counter, so that it is not evicted before it had a chance to be
/// accessed again (Redis's `LFU_INIT_VAL`).
pub const LFU_INIT_VAL: u8 = 5;

/// How a database writes the access field on creation and on access. Copied into
/// each `Db` and refreshed by the shard every loop turn (`tick`).
#[derive(Clone, Copy, Debug)]
pub struct AccessClock {
    /// The LFU encoding is in use (an `*-lfu` policy).
    pub lfu: bool,
    /// The shard clock in unix seconds.
    pub now_secs: u32,
    /// `lfu-log-factor`.
    pub log_factor: u32,
    /// `lfu-decay-time`, minutes.
    pub decay_time: u32,
    rng: crate::util::rng::XorShift,
}

impl Default for AccessClock {
    fn default() -> Self {
        AccessClock { lfu: false, now_secs: 0, log_factor: 10, decay_time: 1, rng: crate::util::rng::XorShift::new(0) }
    }
}

impl AccessClock {
    /// Moves the clock to `now_ms` and the policy's settings.
    #[inline]
    pub fn tick(&mut self, now_ms: u64, lfu: bool, log_factor: u32, decay_time: u32) {
        self.now_secs = (now_ms / 1000) as u32;
        self.lfu = lfu;
        self.log_factor = log_factor;
        self.decay_time = decay_time;
    }

    /// Minutes, mod 2^16 (Redis's `LFUGetTimeInMinutes`).
    #[inline]
    fn minutes(&self) -> u32 {
        (self.now_secs / 60) & 0xffff
    }

    /// The access field of a key created now.
    #[inline]
    pub fn fresh(&self) -> u32 {
        if self.lfu { (self.minutes() << 8) | LFU_INIT_VAL as u32 } else { self.now_secs }
    }

    /// The LFU access field of a key whose counter is set to `counter` at `now_secs`
    /// (RESTORE ... FREQ), whatever the clock's last tick said about the policy.
    pub fn lfu_field(now_secs: u32, counter: u8) -> u32 {
        (((now_secs / 60) & 0xffff) << 8) | counter as u32
    }

    /// The LFU field of a key created at `now_secs` (its counter starts at 5).
    pub fn lfu_fresh(now_secs: u32) -> u32 {
        Self::lfu_field(now_secs, LFU_INIT_VAL)
    }

    /// The access field after one more access of a key whose field was `old`.
    #[inline]
    pub fn touch(&mut self, old: u32) -> u32 {
        if !self.lfu {
            return self.now_secs;
        }
        let counter = self.log_incr(self.decayed(old));
        (self.minutes() << 8) | counter as u32
    }

    /// The LFU counter of `field` after the decay its idle minutes call for
    /// (Redis's `LFUDecrAndReturn`): what OBJECT FREQ reports.
    #[inline]
    pub fn decayed(&self, field: u32) -> u8 {
        let counter = (field & 0xff) as u8;
        let then = field >> 8 & 0xffff;
        let now = self.minutes();
        let elapsed = if now >= then { now - then } else { 65535 - then + now };
        let periods = elapsed.checked_div(self.decay_time).unwrap_or(0);
        counter.saturating_sub(periods.min(255) as u8)
    }

    /// Redis's `LFULogIncr`.
    fn log_incr(&mut self, counter: u8) -> u8 {
        if counter == 255 {
            return 255;
        }
        let r = (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * self.log_factor as f64 + 1.0);
        if r < p { counter + 1 } else { counter }
    }

    fn next_random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Seconds since the last access for an LRU field (OBJECT IDLETIME).
    pub fn idle_secs(&self, field: u32) -> u64 {
        self.now_secs.saturating_sub(field) as u64
    }

    /// The eviction score of a key: higher goes first. LRU: idle milliseconds-ish
    /// (seconds, as Redis's clock); LFU: `255 - counter`.
    #[inline]
    pub fn idle_score(&self, field: u32) -> u64 {
        if self.lfu { 255 - self.decayed(field) as u64 } else { self.idle_secs(field) }
    }
}

/// Redis's `EVPOOL_SIZE`.
pub const POOL_SIZE: usize = 16;

/// One eviction candidate.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub score: u64,
    pub db: u16,
    /// The key's bytes, in a buffer the pool reuses (give it back with
    /// [`Pool::recycle`]).
    pub key: Vec<u8>,
}

/// The best candidates of recent samples, in ascending score order (the best last),
/// at most `POOL_SIZE` of them.
///
/// Key buffers are reused (as Redis's pool keeps a cached sds per entry): an eviction
/// offers several keys and takes one out, and allocating a buffer for each showed up
/// as a tenth of the eviction's cost.
#[derive(Default, Debug)]
pub struct Pool {
    entries: Vec<Candidate>,
    spare: Vec<Vec<u8>>,
}

impl Pool {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn clear(&mut self) {
        while let Some(c) = self.entries.pop() {
            self.recycle(c.key);
        }
    }

    /// Whether a key of this score could enter the pool (room, or better than the
    /// worst candidate): checked before reading a sampled key at all.
    #[inline]
    pub fn admits(&self, score: u64) -> bool {
        self.entries.len() < POOL_SIZE || score > self.entries[0].score
    }

    /// Offers a sampled key. It enters if the pool has room or it beats the worst
    /// candidate; a key already in the pool only has its score refreshed.
    pub fn offer(&mut self, score: u64, db: u16, key: &[u8]) {
        if let Some(i) = self.entries.iter().position(|c| c.db == db && c.key == key) {
            let old = self.entries.remove(i);
            self.recycle(old.key);
        } else if self.entries.len() == POOL_SIZE {
            if score <= self.entries[0].score {
                return;
            }
            let worst = self.entries.remove(0);
            self.recycle(worst.key);
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.extend_from_slice(key);
        let at = self.entries.partition_point(|c| c.score <= score);
        self.entries.insert(at, Candidate { score, db, key: buf });
    }

    /// Takes the best candidate out.
    pub fn pop_best(&mut self) -> Option<Candidate> {
        self.entries.pop()
    }

    /// A buffer of an evicted or dropped candidate (or any key buffer), for reuse.
    /// Big ones are not kept.
    pub fn recycle(&mut self, mut key: Vec<u8>) {
        if self.spare.len() <= POOL_SIZE && key.capacity() <= 256 {
            key.clear();
            self.spare.push(key);
        }
    }

    /// An empty key buffer (recycled when there is one).
    pub fn buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(lfu: bool) -> AccessClock {
        let mut c = AccessClock::default();
        c.tick(1_000_000_000, lfu, 10, 1);
        c
    }

    #[test]
    fn lru_field_is_the_access_second() {
        let mut c = clock(false);
        assert_eq!(c.fresh(), 1_000_000);
        assert_eq!(c.touch(5), 1_000_000);
        assert_eq!(c.idle_secs(999_990), 10);
        assert_eq!(c.idle_score(999_990), 10);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let mut c = clock(true);
        let mut f = c.fresh();
        assert_eq!(c.decayed(f), LFU_INIT_VAL);
        for _ in 0..100 {
            f = c.touch(f);
        }
        let after100 = c.decayed(f);
        for _ in 0..100_000 {
            f = c.touch(f);
        }
        let after100k = c.decayed(f);
        // Redis's table for factor 10: ~10 hits -> 10, 100 -> 18, 100K -> ~142 (with
        // LFU_INIT_VAL 5 at the start); allow for the coin flips.
        assert!((7..=30).contains(&after100), "{after100}");
        assert!((100..=200).contains(&after100k), "{after100k}");
        // Three minutes without access with a decay time of 1: three less.
        let mut later = c;
        later.tick(1_000_000_000 + 180_000, true, 10, 1);
        assert_eq!(later.decayed(f), after100k - 3);
        later.decay_time = 0;
        assert_eq!(later.decayed(f), after100k);
        assert_eq!(later.idle_score(f), 255 - after100k as u64);
    }

    #[test]
    fn pool_keeps_the_best_candidates() {
        let mut p = Pool::default();
        for i in 0..40u64 {
            p.offer(i, 0, format!("k{i}").as_bytes());
        }
        assert_eq!(p.len(), POOL_SIZE);
        p.offer(3, 0, b"low");
        p.offer(39, 0, b"k39");
        assert_eq!(p.len(), POOL_SIZE);
        assert!(!p.admits(3) && p.admits(40), "a full pool admits only better keys");
        let best = p.pop_best().unwrap();
        assert_eq!((best.score, &best.key[..]), (39, &b"k39"[..]));
        assert_eq!(p.pop_best().unwrap().score, 38);
        p.recycle(best.key);
        p.offer(100, 1, b"fresh");
        assert_eq!(&p.pop_best().unwrap().key[..], b"fresh", "a recycled buffer holds only the new key");
    }
}
