//! Injectable wall-clock time source.
//!
//! Job: give the server one place to read "now" (for expiry, OBJECT IDLETIME,
//! slowlog timestamps, ...), so tests can substitute a manual clock and step
//! time deterministically instead of sleeping.
//! Non-goals: monotonic/elapsed-time measurement (use `std::time::Instant`
//! for latency measurement), timers or scheduling.
//! Dependencies: std only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A cheap-to-clone handle to either the system clock or a manual clock.
///
/// Clones of a manual clock share the same counter, so a test can hand a
/// clone to the server and keep one to advance time.
#[derive(Clone, Debug)]
pub struct Clock {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    System,
    /// Milliseconds since the unix epoch; shared so every clone observes
    /// `advance_ms` calls.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// The real wall clock.
    pub fn system() -> Clock {
        Clock { kind: Kind::System }
    }

    /// A clock frozen at `start_ms` (unix milliseconds) until advanced.
    pub fn manual(start_ms: u64) -> Clock {
        Clock { kind: Kind::Manual(Arc::new(AtomicU64::new(start_ms))) }
    }

    /// True for clocks created with [`Clock::manual`].
    pub fn is_manual(&self) -> bool {
        matches!(self.kind, Kind::Manual(_))
    }

    /// Current unix time in milliseconds.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        match &self.kind {
            Kind::System => system_since_epoch().as_millis() as u64,
            Kind::Manual(ms) => ms.load(Ordering::Acquire),
        }
    }

    /// Current unix time in microseconds. A manual clock only has
    /// millisecond resolution, so it reports `ms * 1000`.
    #[inline]
    pub fn now_us(&self) -> u64 {
        match &self.kind {
            Kind::System => system_since_epoch().as_micros() as u64,
            Kind::Manual(ms) => ms.load(Ordering::Acquire).saturating_mul(1000),
        }
    }

    /// Move a manual clock forward by `ms`.
    ///
    /// # Panics
    /// On the system clock: silently ignoring the call would make a test that
    /// accidentally uses the real clock pass or fail for the wrong reason.
    pub fn advance_ms(&self, ms: u64) {
        match &self.kind {
            Kind::System => panic!("Clock::advance_ms called on the system clock"),
            Kind::Manual(cur) => {
                cur.fetch_add(ms, Ordering::AcqRel);
            }
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

fn system_since_epoch() -> std::time::Duration {
    // A clock set before 1970 is a misconfigured host; report the epoch rather
    // than panicking inside the event loop.
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_starts_where_told_and_advances() {
        let c = Clock::manual(1_000);
        assert!(c.is_manual());
        assert_eq!(c.now_ms(), 1_000);
        assert_eq!(c.now_us(), 1_000_000);
        c.advance_ms(250);
        assert_eq!(c.now_ms(), 1_250);
        assert_eq!(c.now_us(), 1_250_000);
    }

    #[test]
    fn manual_clones_share_time() {
        let a = Clock::manual(5);
        let b = a.clone();
        b.advance_ms(10);
        assert_eq!(a.now_ms(), 15);
    }

    #[test]
    fn system_is_plausible_and_consistent() {
        let c = Clock::system();
        assert!(!c.is_manual());
        let ms = c.now_ms();
        // After 2020-01-01 and before 2200-01-01.
        assert!(ms > 1_577_836_800_000 && ms < 7_258_118_400_000);
        let us = c.now_us();
        assert!(us / 1000 >= ms);
        assert!(us / 1000 - ms < 60_000);
    }

    #[test]
    #[should_panic]
    fn system_cannot_be_advanced() {
        Clock::system().advance_ms(1);
    }
}
