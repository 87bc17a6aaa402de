//! CLIENT LIST / CLIENT INFO `rbs` and `rbp`: a client's reply buffer size and its
//! recent peak, as Redis 7.0 shows them.
//!
//! Redis 7.0 gives each client a fixed reply buffer (16 KiB at connect time) that
//! replies fill before they spill into a list of blocks. Its client cron, which
//! visits a client every 100 ms (when fewer than 50 are connected), resizes that
//! buffer from its peak fill: halves-or-more when the peak stays under half of it
//! (down to 1 KiB, the peak plus one), doubles it (up to 16 KiB) when a reply filled
//! it; then, every `peak-reset-time` (5 s), it resets the peak to what is buffered
//! then (0 for an idle client). A fresh client reads 16384/16384 and drops to
//! 1024/0 within two visits (7.0 starts the peak timer at 0, so the first visit
//! resets it). With resizing off (DEBUG REPLYBUFFER RESIZING 0) the cron does
//! nothing, not even reset the peak.
//!
//! shardis's output buffer (`net::Conn::out`) follows its own rules (grown as
//! needed, released when idle), so `rbs` would say nothing useful about it. Instead
//! each connection keeps a `ReplyBufferGauge`: Redis's policy applied to the output
//! the connection really queued. Every time its output is accounted (after a burst
//! of replies or messages, after a send), the bytes waiting — at most the buffer's
//! size, as in Redis where the rest goes to the list — can raise the peak. The
//! cron's visits are replayed lazily, on the 100 ms grid, whenever the gauge is
//! observed or shown, so idle clients cost nothing. `DEBUG REPLYBUFFER` changes the
//! policy (`ReplyBufferPolicy`) as in Redis.

use super::ctx::{ConnOutcome, FanOut};
use super::{Args, CmdError};
use std::sync::Arc;

/// The reply buffer a client starts with, and the most the cron grows it to
/// (Redis's PROTO_REPLY_CHUNK_BYTES).
pub const CHUNK_BYTES: usize = 16 * 1024;
/// The least the cron shrinks it to (PROTO_REPLY_MIN_BYTES).
pub const MIN_BYTES: usize = 1024;
/// How often Redis's client cron visits a client (hz 10, under 50 clients).
const CRON_TICK_MS: u64 = 100;
/// Redis's default `reply_buffer_peak_reset_time`.
pub const DEFAULT_PEAK_RESET_MS: u64 = 5000;

/// How the cron treats reply buffers: `DEBUG REPLYBUFFER PEAK-RESET-TIME|RESIZING`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyBufferPolicy {
    /// None: NEVER (the peak is never reset).
    pub peak_reset_ms: Option<u64>,
    pub resizing: bool,
}

impl Default for ReplyBufferPolicy {
    fn default() -> Self {
        ReplyBufferPolicy { peak_reset_ms: Some(DEFAULT_PEAK_RESET_MS), resizing: true }
    }
}

/// One client's reply buffer, as Redis would have sized it (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyBufferGauge {
    size: usize,
    peak: usize,
    /// Bytes waiting in the buffer at the last observation (Redis's `bufpos`).
    pending: usize,
    last_reset_ms: Option<u64>,
    /// The last cron visit replayed; None until first observed.
    cron_ms: Option<u64>,
}

impl Default for ReplyBufferGauge {
    fn default() -> Self {
        ReplyBufferGauge { size: CHUNK_BYTES, peak: CHUNK_BYTES, pending: 0, last_reset_ms: None, cron_ms: None }
    }
}

impl ReplyBufferGauge {
    /// `waiting` output bytes are queued for the client at `now_ms`.
    pub fn observe(&mut self, waiting: usize, now_ms: u64, policy: ReplyBufferPolicy) {
        self.catch_up(now_ms, policy);
        self.pending = waiting.min(self.size);
        self.peak = self.peak.max(self.pending);
    }

    /// (`rbs`, `rbp`) as CLIENT LIST shows them at `now_ms`.
    pub fn shown(&self, now_ms: u64, policy: ReplyBufferPolicy) -> (usize, usize) {
        let mut g = *self;
        g.catch_up(now_ms, policy);
        (g.size, g.peak)
    }

    /// Replays the cron's visits up to `now_ms`, jumping over visits that change
    /// nothing.
    fn catch_up(&mut self, now_ms: u64, policy: ReplyBufferPolicy) {
        let now_tick = now_ms / CRON_TICK_MS * CRON_TICK_MS;
        let Some(mut last) = self.cron_ms else {
            self.cron_ms = Some(now_tick);
            return;
        };
        // With resizing off Redis's cron leaves the buffer alone, peak included.
        while policy.resizing && last < now_tick {
            let next = last + CRON_TICK_MS;
            let mut t = next;
            if !self.would_resize(policy) {
                let Some(period) = policy.peak_reset_ms else { break };
                if self.peak == self.pending {
                    // Resets would leave the peak as it is: nothing changes any more
                    // but their timer, which moves on the visit grid.
                    let step = period.div_ceil(CRON_TICK_MS).max(1) * CRON_TICK_MS;
                    let from = self.last_reset_ms.unwrap_or(next);
                    self.last_reset_ms = Some(from + (now_tick - from) / step * step);
                    break;
                }
                // Nothing happens before the next reset.
                if let Some(from) = self.last_reset_ms {
                    t = t.max((from + period).div_ceil(CRON_TICK_MS) * CRON_TICK_MS);
                }
                if t > now_tick {
                    break;
                }
            }
            self.visit(t, policy);
            last = t;
        }
        self.cron_ms = Some(now_tick.max(last));
    }

    /// One visit of Redis's `clientsCronResizeOutputBuffer` (with resizing on).
    fn visit(&mut self, t: u64, policy: ReplyBufferPolicy) {
        if let Some(size) = self.resized(policy) {
            self.size = size;
        }
        if self.reset_due(t, policy) {
            self.peak = self.pending;
            self.last_reset_ms = Some(t);
        }
    }

    fn would_resize(&self, policy: ReplyBufferPolicy) -> bool {
        self.resized(policy).is_some()
    }

    /// The new size if the cron resizes the buffer now.
    fn resized(&self, policy: ReplyBufferPolicy) -> Option<usize> {
        if !policy.resizing {
            return None;
        }
        let (shrink_below, expand_to) = (self.size / 2, self.size * 2);
        if shrink_below >= MIN_BYTES && self.peak < shrink_below {
            Some(allocator_usable(MIN_BYTES.max(self.peak + 1)))
        } else if expand_to < CHUNK_BYTES * 2 && self.peak == self.size {
            Some(allocator_usable(CHUNK_BYTES.min(expand_to)))
        } else {
            None
        }
    }

    /// Redis 7.0 starts a client's peak timer at 0 (`last_reset_ms` None): its first
    /// visit resets the peak.
    fn reset_due(&self, t: u64, policy: ReplyBufferPolicy) -> bool {
        policy.peak_reset_ms.is_some_and(|p| self.last_reset_ms.is_none_or(|from| t.saturating_sub(from) >= p))
    }
}

/// `DEBUG REPLYBUFFER PEAK-RESET-TIME <NEVER|RESET|ms>` and `DEBUG REPLYBUFFER
/// RESIZING <0|1>`, on every shard. As in Redis, a negative time means never and
/// RESIZING reads its argument as C's atoi does.
pub fn debug_replybuffer(a: &Args) -> Result<ConnOutcome, CmdError> {
    enum Change {
        PeakReset(Option<u64>),
        Resizing(bool),
    }
    let change = if a.is(2, "PEAK-RESET-TIME") {
        if a.is(3, "NEVER") {
            Change::PeakReset(None)
        } else if a.is(3, "RESET") {
            Change::PeakReset(Some(DEFAULT_PEAK_RESET_MS))
        } else {
            let ms = a.i64(3).map_err(|_| CmdError::msg("ERR value is not an integer or out of range"))?;
            Change::PeakReset(u64::try_from(ms).ok())
        }
    } else if a.is(2, "RESIZING") {
        let text = a.str(3);
        let digits: String = text
            .trim_start()
            .char_indices()
            .take_while(|(i, ch)| ch.is_ascii_digit() || (*i == 0 && (*ch == '-' || *ch == '+')))
            .map(|(_, ch)| ch)
            .collect();
        Change::Resizing(digits.parse::<i64>().unwrap_or(0) != 0)
    } else {
        return Err(CmdError::msg(
            "ERR unknown subcommand or wrong number of arguments for 'replybuffer'. Try DEBUG HELP.",
        ));
    };
    let change = Arc::new(change);
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| {
            match *change {
                Change::PeakReset(ms) => st.reply_buffer_policy.peak_reset_ms = ms,
                Change::Resizing(on) => st.reply_buffer_policy.resizing = on,
            }
            Box::new(())
        }),
        lock_whole: false,
        finish: Box::new(|_, _, out| out.ok()),
    }))
}

/// What jemalloc (Redis's allocator) really gives for a request of `n` bytes, which
/// Redis reports as the buffer's size: sizes between 2^k and 2^(k+1) round up to a
/// quarter of 2^k.
fn allocator_usable(n: usize) -> usize {
    if n <= 16 {
        return n.max(8).next_power_of_two();
    }
    let k = usize::BITS - 1 - (n - 1).leading_zeros();
    let step = 1usize << (k - 2);
    n.div_ceil(step) * step
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: ReplyBufferPolicy = ReplyBufferPolicy { peak_reset_ms: Some(5000), resizing: true };

    #[test]
    fn jemalloc_size_classes() {
        assert_eq!(allocator_usable(1024), 1024);
        assert_eq!(allocator_usable(1025), 1280);
        assert_eq!(allocator_usable(3001), 3072);
        assert_eq!(allocator_usable(16384), 16384);
        assert_eq!(allocator_usable(8193), 10240);
    }

    #[test]
    fn a_fresh_client_shrinks_to_the_minimum_within_two_visits() {
        let mut g = ReplyBufferGauge::default();
        g.observe(0, 10_000, P);
        assert_eq!(g.shown(10_000, P), (16384, 16384));
        assert_eq!(g.shown(10_250, P), (1024, 0));
    }

    #[test]
    fn a_big_reply_doubles_the_buffer_then_it_shrinks_after_the_peak_reset() {
        let mut g = ReplyBufferGauge::default();
        g.observe(0, 1_000, P);
        g.observe(100_000, 3_000, P);
        assert_eq!(g.shown(3_000, P), (1024, 1024));
        assert_eq!(g.shown(3_150, P), (2048, 1024), "doubled at the next visit");
        assert_eq!(g.shown(3_900, P), (2048, 1024), "no more: the peak no longer fills it");
        g.observe(0, 4_000, P);
        // The peak timer started at the first visit (1.1 s): resets at 6.1, 11.1, ...
        assert_eq!(g.shown(6_050, P), (2048, 1024));
        assert_eq!(g.shown(6_250, P), (1024, 0));
        assert_eq!(g.shown(3_600_000, P), (1024, 0), "an hour idle: nothing more");
    }

    #[test]
    fn repeated_big_replies_grow_it_to_16k_and_no_further() {
        let mut g = ReplyBufferGauge::default();
        g.observe(0, 0, P);
        let mut now = 500;
        for _ in 0..8 {
            g.observe(1 << 20, now, P);
            now += 200;
        }
        assert_eq!(g.shown(now, P), (16384, 16384));
    }

    #[test]
    fn a_steady_peak_keeps_a_buffer_just_above_it() {
        let mut g = ReplyBufferGauge::default();
        g.observe(0, 0, P);
        let mut now = 0;
        while now < 20_000 {
            g.observe(3000, now, P);
            g.observe(0, now + 1, P);
            now += 50;
        }
        // The first visit resets the peak, the next shrinks the buffer to just above
        // the 3000 bytes seen since (rounded to an allocator size), and there it stays.
        assert_eq!(g.shown(now, P), (3072, 3000));
    }

    #[test]
    fn never_reset_keeps_the_peak_and_no_resizing_keeps_the_size() {
        let never = ReplyBufferPolicy { peak_reset_ms: None, resizing: true };
        let mut g = ReplyBufferGauge::default();
        g.observe(0, 0, P);
        g.observe(0, 1_000, P);
        g.observe(500, 1_000, never);
        assert_eq!(g.shown(100_000, never), (1024, 500));
        let frozen = ReplyBufferPolicy { peak_reset_ms: Some(100), resizing: false };
        let mut g = ReplyBufferGauge::default();
        g.observe(0, 0, frozen);
        assert_eq!(g.shown(60_000, frozen), (16384, 16384), "not even the peak resets");
    }

    #[test]
    fn a_short_reset_time_resets_on_the_visit_grid() {
        let fast = ReplyBufferPolicy { peak_reset_ms: Some(100), resizing: true };
        let mut g = ReplyBufferGauge::default();
        g.observe(0, 0, fast);
        g.observe(0, 1_000, fast);
        g.observe(700, 1_020, fast);
        g.observe(0, 1_030, fast);
        assert_eq!(g.shown(1_050, fast), (1024, 700));
        assert_eq!(g.shown(1_100, fast), (1024, 0));
    }
}
