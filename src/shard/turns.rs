//! How long a shard thread's loop turns run, and active expiry in bounded slices.
//!
//! Job: the things that keep the tail latency of every client on a shard short.
//!
//! - `COMMANDS_PER_TURN`: a connection yields after that many commands in a turn.
//! - `TurnStats`: a histogram of busy turn durations (from the end of the wait to the
//!   next submit), power-of-two microsecond buckets, plus the longest turn and the
//!   longest expiry slice. One TSC read at each end of a turn and one add: cheap
//!   enough to stay on. `DEBUG TURNS` shows it, `DEBUG TURNS RESET` clears it; a
//!   reply waits for the whole turn it arrived in, so a long turn is a client's tail.
//! - `ExpiryPacer`: active expiry as Redis's slow cycle spends it (at most 25% of the
//!   time), but cut into slices of at most `SLICE` each, so a burst of expiring keys
//!   costs many short turns instead of one 25 ms turn at `hz 10`. While a slice ends on
//!   its budget with expired keys left (a backlog, Redis's "stale" case), the next
//!   slice runs as soon as the 25% share has earned `MIN_SLICE` again; otherwise once
//!   per cron period, like Redis's slow cycle. `active-expire-effort` scales the
//!   share, the slice and the keys per round as Redis does (`Effort`).
//!
//! Non-goals: what the slices do (`storage::Db::active_expire` samples and deletes). Time spent is measured with `util::stopwatch` (monotonic); key expiry
//! itself reads the injectable clock's `now_ms`. The pacer's own arithmetic takes
//! times as arguments, so its tests step time by hand.

use super::ShardState;
use crate::util::stopwatch::Stopwatch;
use std::time::{Duration, Instant};

/// Commands one connection may run per turn before the others get theirs. Redis
/// reads at most 16 KB per client and event (some 500 small commands); a client
/// pipelining a bulk load here would otherwise hold the shard for everything that
/// arrived, 100 ms turns and more, and every other client waits that long.
pub const COMMANDS_PER_TURN: usize = 512;
/// The longest one expiry slice may run at the default effort (Redis's fast cycle:
/// 1 ms); see [`Effort`].
pub const SLICE: Duration = Duration::from_micros(1000);
/// A backlog slice waits until the share has earned at least this much.
pub const MIN_SLICE: Duration = Duration::from_micros(200);

/// How hard active expiry works, from `active-expire-effort` (1 to 10) as Redis 7.0's
/// `activeExpireCycle` scales its constants: each step above 1 adds a quarter of the
/// base keys per round and slice length, 2 points of time share, and lowers by one
/// point the share of expired keys in a sample below which a database is left alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Effort {
    /// Keys sampled per round (Redis: ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP, 20).
    pub keys_per_loop: usize,
    /// The longest one slice may run (Redis's fast cycle duration, 1000 µs).
    pub slice: Duration,
    /// Share of wall time (Redis: ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC, 25).
    pub share_percent: u64,
    /// A round that found at most this percentage expired ends the database's turn
    /// (Redis: ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE, 10).
    pub stale_percent: usize,
}

impl Effort {
    pub fn new(level: u64) -> Effort {
        let e = level.clamp(1, 10) - 1;
        Effort {
            keys_per_loop: 20 + 20 / 4 * e as usize,
            slice: SLICE + SLICE / 4 * e as u32,
            share_percent: 25 + 2 * e,
            stale_percent: 10 - e as usize,
        }
    }

    pub fn of(cfg: &crate::config::Config) -> Effort {
        Effort::new(cfg.compat_value("active-expire-effort").and_then(|v| v.parse().ok()).unwrap_or(1))
    }
}

impl Default for Effort {
    fn default() -> Effort {
        Effort::new(1)
    }
}
const BUCKETS: usize = 24;

#[derive(Default)]
pub struct TurnStats {
    started: Option<Stopwatch>,
    /// `buckets[i]` counts turns of [2^i, 2^(i+1)) µs; bucket 0 also holds < 1 µs.
    pub buckets: [u64; BUCKETS],
    pub longest_us: u64,
    /// Connections that stopped at `COMMANDS_PER_TURN` with input left.
    pub yields: u64,
    pub slices: u64,
    pub longest_slice_us: u64,
    pub expired_by_slices: u64,
}

impl TurnStats {
    #[inline]
    pub fn begin(&mut self) {
        self.started = Some(Stopwatch::now());
    }

    /// Ends the turn `begin` started (if any) and counts it; returns its length in µs
    /// (0 when none was started).
    #[inline]
    pub fn end(&mut self) -> u64 {
        let Some(t) = self.started.take() else { return 0 };
        let us = t.elapsed().as_micros() as u64;
        self.record(us);
        us
    }

    fn record(&mut self, us: u64) {
        let b = (63 - us.max(1).leading_zeros() as usize).min(BUCKETS - 1);
        self.buckets[b] += 1;
        self.longest_us = self.longest_us.max(us);
    }

    pub fn reset(&mut self) {
        *self = TurnStats { started: self.started, ..TurnStats::default() };
    }

    /// The `DEBUG TURNS` lines of this shard: only non-empty buckets, by lower bound.
    pub fn render(&self, shard: usize) -> String {
        let turns: u64 = self.buckets.iter().sum();
        let mut s = format!(
            "shard:{shard} turns:{turns} longest_turn_us:{} yields:{} expiry_slices:{} longest_expiry_slice_us:{} expired_by_slices:{}",
            self.longest_us, self.yields, self.slices, self.longest_slice_us, self.expired_by_slices
        );
        for (i, n) in self.buckets.iter().enumerate().filter(|(_, n)| **n > 0) {
            s.push_str(&format!(" ge{}us:{n}", 1u64 << i));
        }
        s
    }
}

/// `DEBUG TURNS [RESET]` (not in Redis): one line of `TurnStats::render` per shard,
/// as a bulk string; with RESET, clears them and replies OK.
pub fn debug_turns(reset: bool) -> crate::cmd::ctx::FanOut {
    crate::cmd::ctx::FanOut {
        hop: std::sync::Arc::new(move |st: &mut ShardState| {
            let line = st.turns.render(st.id);
            if reset {
                st.turns.reset();
            }
            Box::new(line)
        }),
        lock_whole: false,
        finish: Box::new(move |_, mut results, out| {
            if reset {
                return out.ok();
            }
            results.sort_by_key(|(shard, _)| *shard);
            let lines: Vec<String> =
                results.into_iter().map(|(_, r)| *r.downcast::<String>().expect("turns line")).collect();
            out.bulk(lines.join("\n").as_bytes());
        }),
    }
}

/// Clients one timer tick may visit before `dynamic-hz` raises the rate (Redis's
/// MAX_CLIENTS_PER_CLOCK_TICK).
const CLIENTS_PER_TICK: usize = 200;

/// The timer rate (`hz`, clamped to 1..=500 as Redis's `updateHZ` does). Under
/// `dynamic-hz yes` it doubles while the server's clients outnumber 200 per tick, up
/// to 500, as Redis's `serverCron` does, so idle-client checks keep up with many
/// clients. INFO server shows it as `hz` (`configured_hz` is the setting).
pub fn effective_hz(cfg: &crate::config::Config, clients: usize) -> u32 {
    let mut hz = cfg.hz.clamp(1, 500);
    if cfg.compat_value("dynamic-hz") != Some("no") {
        while clients / hz as usize > CLIENTS_PER_TICK {
            hz *= 2;
            if hz > 500 {
                return 500;
            }
        }
    }
    hz
}

/// When and for how long the next expiry slice runs.
#[derive(Default)]
pub struct ExpiryPacer {
    /// Time earned by the share and not spent yet, capped at one cron period's share.
    credit_us: u64,
    /// When credit was last added (µs on the pacer's monotonic clock).
    last_us: u64,
    /// No slice before this (µs); 0 = now.
    next_us: u64,
    /// A slice ended on its budget with expired keys left.
    pub backlog: bool,
    /// Database the next slice starts in (round robin, as Redis's `current_db`).
    next_db: usize,
    /// `active-expire-effort`, refreshed with the configuration.
    pub effort: Effort,
}

impl ExpiryPacer {
    /// The budget of a slice that may start at `now_us` with cron period `period_us`,
    /// or None if it is not time yet. Adds the credit earned since the last call.
    pub fn budget(&mut self, now_us: u64, period_us: u64) -> Option<Duration> {
        let share = self.effort.share_percent;
        let cap = period_us * share / 100;
        if self.last_us == 0 {
            // The first call: a full period's share is available.
            self.credit_us = cap;
        } else {
            let earned = now_us.saturating_sub(self.last_us) * share / 100;
            self.credit_us = (self.credit_us + earned).min(cap);
        }
        self.last_us = now_us;
        if now_us < self.next_us || self.credit_us < (MIN_SLICE.as_micros() as u64).min(cap) {
            return None;
        }
        Some(Duration::from_micros(self.credit_us.min(self.effort.slice.as_micros() as u64)))
    }

    /// Records a slice that started at `now_us`, ran `used_us` and found a backlog
    /// (or not): without one, the next waits a cron period.
    pub fn spent(&mut self, now_us: u64, used_us: u64, backlog: bool, period_us: u64) {
        self.credit_us = self.credit_us.saturating_sub(used_us);
        self.backlog = backlog;
        self.next_us = if backlog { 0 } else { now_us + period_us };
    }

    /// Milliseconds until the worker should wake for a slice, if a backlog waits.
    pub fn wake_in_ms(&self) -> Option<u64> {
        self.backlog.then_some(1)
    }
}

/// Runs an expiry slice on `st` if one is due (the worker calls this every turn
/// when active expiry applies). A slice walks the databases round robin from where
/// the last one stopped, each until its keys run out of expired ones or the budget.
pub fn expire_slice(st: &mut ShardState) {
    // A replica never expires keys itself: it waits for the master's DELs. A client
    // pause (CLIENT PAUSE, FAILOVER's, SHUTDOWN's) holds expiry too, as in Redis 7.0:
    // the dataset stays still, and the stream ends where a failover's cut put it.
    if !st.active_expire
        || st.shared.replica.is_replica.load(std::sync::atomic::Ordering::Relaxed)
        || crate::storage::db::expiry_paused()
    {
        st.expiry.backlog = false;
        return;
    }
    let period_us = 1_000_000 / st.hz as u64;
    // Only the databases with keys that have a TTL (`dbwatch`): not 16 every turn.
    let volatile = st.db_watch.volatile_dbs(&st.dbs);
    let has_volatile = |d: usize| volatile.is_none_or(|set| set >> d & 1 == 1);
    if volatile == Some(0) || (volatile.is_none() && st.dbs.iter().all(|d| d.volatile_len() == 0)) {
        st.expiry.backlog = false;
        return;
    }
    let start = Instant::now();
    let now_us = mono_us(start);
    let Some(budget) = st.expiry.budget(now_us, period_us) else { return };
    let now_ms = st.now_ms;
    let n = st.dbs.len();
    let first = st.expiry.next_db % n;
    // Keys a cross-shard transaction holds stay until it releases them (a shard held
    // whole waits entirely): the replication stream may put this shard's later
    // commands ahead of the transaction, which is right only for commands that
    // respect its locks (`repl::feed`, "Assembler").
    if st.locks.whole_holder().is_some() {
        return;
    }
    let locks = &st.locks;
    let effort = st.expiry.effort;
    let mut expired = 0;
    let mut out_of_time = false;
    for i in 0..n {
        let d = (first + i) % n;
        if !has_volatile(d) {
            continue;
        }
        let db = &mut st.dbs[d];
        if db.volatile_len() == 0 {
            continue;
        }
        let mut in_time = true;
        expired += db.active_expire_stale(
            now_ms,
            effort.keys_per_loop,
            effort.stale_percent,
            || {
                in_time = start.elapsed() < budget;
                in_time
            },
            |key| locks.key_held(d as u16, key),
        );
        if !in_time {
            // Resume in this database next time.
            st.expiry.next_db = d;
            out_of_time = true;
            break;
        }
    }
    if !out_of_time {
        st.expiry.next_db = (first + 1) % n;
    }
    // The deletions (freeing the values, their DELs and events) belong to the cycle, as
    // in Redis, whose `expire-cycle` sample covers its `expire-del`s.
    st.account_expired();
    let used = start.elapsed().as_micros() as u64;
    crate::cmd::latency::add_sample_if_needed(st, "expire-cycle", used / 1000);
    st.expiry.spent(now_us, used, out_of_time, period_us);
    st.turns.slices += 1;
    st.turns.longest_slice_us = st.turns.longest_slice_us.max(used);
    st.turns.expired_by_slices += expired as u64;
}

/// Microseconds since the process's first call, on a monotonic clock.
fn mono_us(now: Instant) -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(|| now);
    // +1: 0 means "never" to the pacer.
    now.duration_since(origin).as_micros() as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: u64 = 100_000;

    #[test]
    fn a_slice_never_exceeds_the_slice_budget() {
        let mut p = ExpiryPacer::default();
        assert_eq!(p.budget(1, PERIOD), Some(SLICE));
    }

    #[test]
    fn backlog_slices_share_at_most_a_quarter_of_the_time() {
        let spent = spent_in_ten_periods(&mut ExpiryPacer::default());
        // The first period's share is granted up front.
        assert!(spent <= 10 * PERIOD / 4 + PERIOD / 4, "spent {spent}");
        assert!(spent >= 10 * PERIOD / 4 - PERIOD / 10, "spent {spent}");
    }

    /// The time `p` grants over 10 cron periods of 50 µs turns, every slice using its
    /// whole budget.
    fn spent_in_ten_periods(p: &mut ExpiryPacer) -> u64 {
        let (mut now, mut spent) = (1, 0);
        while now < 10 * PERIOD {
            if let Some(b) = p.budget(now, PERIOD) {
                let used = b.as_micros() as u64;
                spent += used;
                p.spent(now, used, true, PERIOD);
                now += used;
            }
            now += 50;
        }
        spent
    }

    #[test]
    fn effort_scales_as_redis_does() {
        assert_eq!(Effort::new(1), Effort { keys_per_loop: 20, slice: SLICE, share_percent: 25, stale_percent: 10 });
        let max = Effort::new(10);
        assert_eq!((max.keys_per_loop, max.slice.as_micros(), max.share_percent, max.stale_percent), (65, 3250, 43, 1));
        // At effort 10 a slice runs up to 3.25 ms and the share is 43% of the time.
        let mut p = ExpiryPacer { effort: max, ..ExpiryPacer::default() };
        assert_eq!(p.budget(1, PERIOD), Some(max.slice));
        let spent = spent_in_ten_periods(&mut p);
        assert!(spent <= 10 * PERIOD * 43 / 100 + PERIOD * 43 / 100, "spent {spent}");
        assert!(spent >= 10 * PERIOD * 43 / 100 - PERIOD / 10, "spent {spent}");
    }

    #[test]
    fn without_backlog_the_next_slice_waits_a_period() {
        let mut p = ExpiryPacer::default();
        assert!(p.budget(1, PERIOD).is_some());
        p.spent(1, 30, false, PERIOD);
        assert_eq!(p.budget(PERIOD / 2, PERIOD), None);
        assert_eq!(p.wake_in_ms(), None);
        assert!(p.budget(PERIOD + 1, PERIOD).is_some());
    }

    #[test]
    fn turn_histogram_buckets_by_power_of_two() {
        let mut t = TurnStats::default();
        for us in [0, 1, 3, 4, 1000, 40_000] {
            t.record(us);
        }
        assert_eq!(t.buckets[0], 2);
        assert_eq!(t.buckets[1], 1);
        assert_eq!(t.buckets[2], 1);
        assert_eq!(t.buckets[9], 1);
        assert_eq!(t.buckets[15], 1);
        assert_eq!(t.longest_us, 40_000);
        assert!(t.render(0).contains(" ge32768us:1"));
    }
}
