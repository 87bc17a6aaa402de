//! Per-command latency histograms (`latency-tracking`): what INFO latencystats and
//! LATENCY HISTOGRAM report.
//!
//! Redis keeps one HdrHistogram per command (1 ns to 1000 s, two significant digits)
//! and records each call's duration, in whole microseconds times 1000. The bucket
//! layout here is the same one, so percentiles and the histogram's bucket labels come
//! out as Redis's do (`p50=1.003`): 256 sub-buckets in the first bucket, then 128 per
//! power of two, each value counted in the slot whose range holds it. Recording is an
//! index computation and an increment; the counts array grows only as far as the
//! largest value seen, so a fast command costs a few KiB.
//!
//! Histograms are kept per shard, in `ShardStats` (CONFIG RESETSTAT clears them, as in
//! Redis), and summed across shards when reported.

/// log2 of half the sub-bucket count (two significant digits: 2 * 10^2 -> 256 -> 128).
const HALF_MAGNITUDE: u32 = 7;
const HALF_COUNT: u64 = 1 << HALF_MAGNITUDE;
const SUB_MASK: u64 = (HALF_COUNT << 1) - 1;
/// Redis's LATENCY_HISTOGRAM_MIN_VALUE / MAX_VALUE, in nanoseconds.
const MIN_NS: u64 = 1;
const MAX_NS: u64 = 1_000_000_000_000;

/// One command's latency distribution.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: Vec<u32>,
    pub total: u64,
}

/// (bucket, sub-bucket) of a value, as HdrHistogram computes them.
fn bucket_of(v: u64) -> (u32, u64) {
    let pow2ceiling = 64 - (v | SUB_MASK).leading_zeros();
    let bucket = pow2ceiling - (HALF_MAGNITUDE + 1);
    (bucket, v >> bucket)
}

fn index_of(v: u64) -> usize {
    let (bucket, sub) = bucket_of(v);
    (((bucket as u64 + 1) << HALF_MAGNITUDE) + sub - HALF_COUNT) as usize
}

/// The smallest value counted in slot `i`.
fn value_at(i: usize) -> u64 {
    let i = i as u64;
    let mut bucket = (i >> HALF_MAGNITUDE) as i64 - 1;
    let mut sub = (i & (HALF_COUNT - 1)) + HALF_COUNT;
    if bucket < 0 {
        sub -= HALF_COUNT;
        bucket = 0;
    }
    sub << bucket
}

/// The largest value equivalent to `v` (HdrHistogram's highest_equivalent_value).
pub fn highest_equivalent(v: u64) -> u64 {
    let (bucket, sub) = bucket_of(v);
    let adjusted = if sub >= HALF_COUNT << 1 { bucket + 1 } else { bucket };
    let lowest = sub << bucket;
    lowest + (1u64 << adjusted) - 1
}

impl Histogram {
    /// Records one call that took `us` microseconds.
    #[inline]
    pub fn record_us(&mut self, us: u64) {
        self.record_us_n(us, 1);
    }

    /// Records `n` calls that took `us` microseconds each (a timed group's members).
    #[inline]
    pub fn record_us_n(&mut self, us: u64, n: u32) {
        let ns = us.saturating_mul(1000).clamp(MIN_NS, MAX_NS);
        let i = index_of(ns);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] = self.counts[i].saturating_add(n);
        self.total += n as u64;
    }

    pub fn merge(&mut self, other: &Histogram) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.total += other.total;
    }

    /// The value (ns) at `pct` percent, as hdr_value_at_percentile reports it.
    pub fn value_at_percentile(&self, pct: f64) -> u64 {
        let pct = pct.min(100.0);
        let want = (((pct / 100.0) * self.total as f64) + 0.5) as u64;
        let want = want.max(1);
        let mut seen = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n as u64;
            if seen >= want {
                let v = value_at(i);
                return if pct == 0.0 { v } else { highest_equivalent(v) };
            }
        }
        0
    }

    /// LATENCY HISTOGRAM's `histogram_usec`: (µs label, cumulative count) at each power
    /// of two from 1024 ns, where the count grew (Redis's log iteration).
    pub fn cumulative_usec(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut level = 1024u64;
        let mut cumulative = 0u64;
        let mut i = 0;
        let mut previous = 0;
        while cumulative < self.total && level <= MAX_NS * 2 {
            let top = highest_equivalent(level);
            while i < self.counts.len() && value_at(i) <= top {
                cumulative += self.counts[i] as u64;
                i += 1;
            }
            if cumulative > previous {
                out.push((top / 1000, cumulative));
            }
            previous = cumulative;
            level *= 2;
        }
        out
    }
}

/// Every command's histogram on one shard: by command-table index, and for a
/// container's subcommands by their `parent|sub` name.
#[derive(Clone, Debug, Default)]
pub struct CommandHistograms {
    pub by_command: Vec<Option<Box<Histogram>>>,
    pub by_subcommand: Vec<(&'static str, Histogram)>,
}

impl CommandHistograms {
    #[inline]
    pub fn record(&mut self, idx: u16, us: u64) {
        self.record_n(idx, us, 1);
    }

    /// Records `n` calls of command `idx` that took `us` microseconds each.
    #[inline]
    pub fn record_n(&mut self, idx: u16, us: u64, n: u32) {
        let i = idx as usize;
        if i >= self.by_command.len() {
            self.by_command.resize(i + 1, None);
        }
        self.by_command[i].get_or_insert_with(Default::default).record_us_n(us, n);
    }

    pub fn record_sub(&mut self, name: &'static str, us: u64) {
        match self.by_subcommand.iter_mut().find(|(n, _)| *n == name) {
            Some((_, h)) => h.record_us(us),
            None => {
                let mut h = Histogram::default();
                h.record_us(us);
                self.by_subcommand.push((name, h));
            }
        }
    }

    pub fn merge(&mut self, other: &CommandHistograms) {
        if other.by_command.len() > self.by_command.len() {
            self.by_command.resize(other.by_command.len(), None);
        }
        for (a, b) in self.by_command.iter_mut().zip(&other.by_command) {
            if let Some(b) = b {
                a.get_or_insert_with(Default::default).merge(b);
            }
        }
        for (name, h) in &other.by_subcommand {
            match self.by_subcommand.iter_mut().find(|(n, _)| n == name) {
                Some((_, mine)) => mine.merge(h),
                None => self.by_subcommand.push((name, h.clone())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_redis_labels() {
        let mut h = Histogram::default();
        for _ in 0..10 {
            h.record_us(1);
        }
        // Redis shows a 1 µs command as p50=1.003.
        assert_eq!(h.value_at_percentile(50.0), 1003);
        h.record_us(23724);
        assert!(h.value_at_percentile(100.0) >= 23_724_000);
        // A 0 µs call counts as the smallest value.
        let mut z = Histogram::default();
        z.record_us(0);
        assert_eq!(z.total, 1);
        assert_eq!(z.cumulative_usec(), vec![(1, 1)]);
    }

    #[test]
    fn cumulative_buckets_grow_by_powers_of_two() {
        let mut h = Histogram::default();
        for us in [1, 1, 2, 3, 5, 9, 17] {
            h.record_us(us);
        }
        let c = h.cumulative_usec();
        assert_eq!(c.last().unwrap().1, 7);
        let labels: Vec<u64> = c.iter().map(|(l, _)| *l).collect();
        assert_eq!(labels, vec![1, 2, 4, 8, 16, 33]);
        assert_eq!(c[0].1, 2);
        let mut m = h.clone();
        m.merge(&h);
        assert_eq!(m.total, 14);
        assert_eq!(m.cumulative_usec().last().unwrap().1, 14);
    }
}
