//! `client-output-buffer-limit`: when a client's unsent output must close it.
//!
//! Job: given a connection's output bytes (everything queued and not yet taken by the
//! kernel: ready, in flight, held for the AOF, pipelined replies waiting their turn),
//! its class's limits and the time, say whether it must be closed, keeping the
//! soft-limit timer between calls. As in Redis (`checkClientOutputBufferLimits`): over
//! the hard limit closes at once; over the soft limit starts a timer, and staying over
//! it for more than the soft seconds closes; going back under resets the timer.
//!
//! The piece is independent of connections so that replica links (class `replica`)
//! can use it too: keep one `OutputLimitCheck` per link, call `over` whenever output is
//! added (and from a cron, so an idle client past its soft seconds is closed too).
//!
//! Non-goals: measuring the output, closing, logging (the connection layer does).
//!
//! Depends on: `config` (the parsed limits).

use crate::config::Config;

/// The client classes of `client-output-buffer-limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputClass {
    Normal,
    Replica,
    PubSub,
}

impl OutputClass {
    /// The class's name in `client-output-buffer-limit`.
    pub fn config_name(self) -> &'static str {
        match self {
            OutputClass::Normal => "normal",
            OutputClass::Replica => "slave",
            OutputClass::PubSub => "pubsub",
        }
    }
}

/// One class's limits; 0 disables a limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimits {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_secs: u64,
}

impl OutputLimits {
    /// The limits `config` sets for `class`.
    pub fn of(config: &Config, class: OutputClass) -> OutputLimits {
        let (hard_bytes, soft_bytes, soft_secs) = config.output_buffer_limit(class.config_name()).unwrap_or_default();
        OutputLimits { hard_bytes, soft_bytes, soft_secs }
    }

    pub fn unlimited(&self) -> bool {
        self.hard_bytes == 0 && self.soft_bytes == 0
    }
}

/// The soft-limit timer of one client.
#[derive(Clone, Copy, Debug, Default)]
pub struct OutputLimitCheck {
    /// When the client went over the soft limit (ms), if it is over it now.
    soft_since_ms: Option<u64>,
}

impl OutputLimitCheck {
    /// Must a client holding `used` bytes of output be closed now? Updates the soft
    /// timer.
    pub fn over(&mut self, used: u64, limits: &OutputLimits, now_ms: u64) -> bool {
        if limits.hard_bytes > 0 && used >= limits.hard_bytes {
            return true;
        }
        if limits.soft_bytes > 0 && used >= limits.soft_bytes {
            let since = *self.soft_since_ms.get_or_insert(now_ms);
            // Redis closes once the time over the limit exceeds the soft seconds.
            return now_ms.saturating_sub(since) > limits.soft_secs.saturating_mul(1000);
        }
        self.soft_since_ms = None;
        false
    }

    /// Is the soft-limit timer running (the client was over it when last checked)?
    pub fn soft_pending(&self) -> bool {
        self.soft_since_ms.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: OutputLimits = OutputLimits { hard_bytes: 1000, soft_bytes: 100, soft_secs: 2 };

    #[test]
    fn hard_limit_closes_at_once() {
        let mut c = OutputLimitCheck::default();
        assert!(!c.over(999, &OutputLimits { soft_bytes: 0, ..L }, 0));
        assert!(c.over(1000, &L, 0));
    }

    #[test]
    fn soft_limit_needs_its_seconds_and_resets_below() {
        let mut c = OutputLimitCheck::default();
        assert!(!c.over(150, &L, 10_000));
        assert!(c.soft_pending());
        assert!(!c.over(150, &L, 12_000), "exactly the soft seconds is not yet over");
        assert!(c.over(150, &L, 12_001));
        let mut c = OutputLimitCheck::default();
        assert!(!c.over(150, &L, 10_000));
        assert!(!c.over(50, &L, 11_000));
        assert!(!c.soft_pending());
        assert!(!c.over(150, &L, 12_500), "the timer restarted");
        assert!(c.over(150, &L, 14_501));
    }

    #[test]
    fn zero_disables() {
        let mut c = OutputLimitCheck::default();
        let none = OutputLimits::default();
        assert!(none.unlimited());
        assert!(!c.over(u64::MAX, &none, 0));
        let soft_now = OutputLimits { hard_bytes: 0, soft_bytes: 10, soft_secs: 0 };
        assert!(!c.over(10, &soft_now, 5));
        assert!(c.over(10, &soft_now, 6));
    }
}
