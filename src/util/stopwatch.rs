//! `Stopwatch`: a cheaper `Instant` for timing every command.
//!
//! Each command's duration feeds INFO commandstats and SLOWLOG, so the command path
//! reads a clock twice per command. Through the vDSO `clock_gettime` that was 4–9% of
//! the server's CPU under pipelined load. On x86-64 with an invariant TSC (constant
//! rate, running in every C-state, which Linux also requires to use it as the
//! clocksource), a bare `rdtsc` is a fraction of that; its rate is calibrated once per
//! process against `Instant` (about 2 ms, on first use). Elsewhere this is `Instant`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(Repr);

#[derive(Clone, Copy, Debug)]
enum Repr {
    Tsc(u64),
    Std(Instant),
}

/// Nanoseconds per TSC tick, or None when the TSC is not usable.
fn ns_per_tick() -> Option<f64> {
    static RATE: OnceLock<Option<f64>> = OnceLock::new();
    *RATE.get_or_init(calibrate)
}

#[cfg(target_arch = "x86_64")]
fn calibrate() -> Option<f64> {
    use std::arch::x86_64::{__cpuid, _rdtsc};
    // Leaf 0x8000_0000 reports the highest extended leaf, checked before leaf
    // 0x8000_0007 (EDX bit 8: invariant TSC) is read.
    let invariant = __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0;
    if !invariant {
        return None;
    }
    let t0 = Instant::now();
    // SAFETY: RDTSC has no preconditions on x86-64.
    let c0 = unsafe { _rdtsc() };
    let mut t1;
    loop {
        t1 = Instant::now();
        if t1 - t0 >= Duration::from_millis(2) {
            break;
        }
    }
    // SAFETY: as above.
    let c1 = unsafe { _rdtsc() };
    let ticks = c1.checked_sub(c0)?;
    if ticks == 0 {
        return None;
    }
    Some((t1 - t0).as_nanos() as f64 / ticks as f64)
}

#[cfg(not(target_arch = "x86_64"))]
fn calibrate() -> Option<f64> {
    None
}

impl Stopwatch {
    #[inline]
    pub fn now() -> Stopwatch {
        #[cfg(target_arch = "x86_64")]
        if ns_per_tick().is_some() {
            // SAFETY: RDTSC has no preconditions on x86-64.
            return Stopwatch(Repr::Tsc(unsafe { std::arch::x86_64::_rdtsc() }));
        }
        Stopwatch(Repr::Std(Instant::now()))
    }

    /// Time since `now()` (zero if the TSC appears to go backwards, e.g. after a
    /// migration to a CPU whose counter lags).
    #[inline]
    pub fn elapsed(&self) -> Duration {
        self.until(Stopwatch::now())
    }

    /// Time from `self` to `later`, both from `now()` (zero if `later` is earlier):
    /// one reading can end one measurement and start the next.
    #[inline]
    pub fn until(&self, later: Stopwatch) -> Duration {
        match (self.0, later.0) {
            (Repr::Tsc(c0), Repr::Tsc(c1)) => {
                let rate = ns_per_tick().unwrap_or(0.0);
                Duration::from_nanos((c1.saturating_sub(c0) as f64 * rate) as u64)
            }
            (Repr::Std(t0), Repr::Std(t1)) => t1.saturating_duration_since(t0),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_sleep() {
        let s = Stopwatch::now();
        std::thread::sleep(Duration::from_millis(20));
        let e = s.elapsed();
        assert!(e >= Duration::from_millis(19) && e < Duration::from_secs(2), "{e:?}");
        let later = Stopwatch::now();
        assert!(s.until(later) >= e);
        assert_eq!(later.until(s), Duration::ZERO);
    }
}
