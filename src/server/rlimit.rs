//! The open-files limit (`RLIMIT_NOFILE`) against `maxclients`, as Redis sizes it.
//!
//! Job: at start-up, raise the soft limit so that `maxclients` clients fit, plus fds
//! the server needs for itself; if the system will not allow it, lower `maxclients`
//! to what fits and say so with Redis's warning lines, so CONFIG GET maxclients shows
//! the value that is really enforced (a client past it gets "max number of clients
//! reached", not a failed accept).
//!
//! Reserved fds: Redis keeps 32 for itself (log, AOF, RDB, listeners, ...). A shard
//! here has its own ring, listeners and AOF files, so we keep 32 plus
//! [`FDS_PER_SHARD`] per shard.
//!
//! Depends on: `io::proc` (getrlimit/setrlimit), `util::log`.

use crate::io::proc;
use crate::util::log;

/// Redis's CONFIG_MIN_RESERVED_FDS.
pub const MIN_RESERVED_FDS: u64 = 32;
/// A shard's own fds: its ring, a listener per bind address (counted as one), the
/// AOF's open incremental file and the one a rewrite opens.
pub const FDS_PER_SHARD: u64 = 4;

/// What start-up decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The limit fits `maxclients` (raised or not); the soft limit now in force.
    Fits(u64),
    /// `maxclients` lowered to this to fit the limit.
    Lowered(usize),
    /// Not even the reserved fds fit: start-up must stop.
    TooLow,
}

/// Fits the open-files limit to `maxclients`, logging as Redis does. Returns the
/// outcome; the caller applies a lowered `maxclients` to the configuration.
pub fn fit(maxclients: usize, shards: usize) -> Outcome {
    let reserved = MIN_RESERVED_FDS + FDS_PER_SHARD * shards as u64;
    let wanted = maxclients as u64 + reserved;
    let (soft, hard) = match proc::nofile_limit() {
        Ok(l) => l,
        Err(e) => {
            let lowered = 1024 - reserved.min(1000) as usize;
            log::warning(&format!(
                "Unable to obtain the current NOFILE limit ({}), assuming 1024 and setting the max clients configuration accordingly.",
                strerror(&e)
            ));
            return Outcome::Lowered(lowered.min(maxclients));
        }
    };
    if soft >= wanted {
        return Outcome::Fits(soft);
    }
    // First the whole need (raising the hard limit too works with
    // CAP_SYS_RESOURCE), else as far as the hard limit allows.
    let first_error = match proc::set_nofile_limit(wanted, hard.max(wanted)) {
        Ok(()) => {
            log::notice(&format!(
                "Increased maximum number of open files to {wanted} (it was originally set to {soft})."
            ));
            return Outcome::Fits(wanted);
        }
        Err(e) => e,
    };
    let best = if hard > soft && proc::set_nofile_limit(hard, hard).is_ok() { hard } else { soft };
    if best <= reserved {
        log::warning(&format!(
            "Your current 'ulimit -n' of {soft} is not enough for the server to start. Please increase your open file limit to at least {wanted}. Exiting."
        ));
        return Outcome::TooLow;
    }
    let lowered = (best - reserved) as usize;
    log::warning(&format!(
        "You requested maxclients of {maxclients} requiring at least {wanted} max file descriptors."
    ));
    log::warning(&format!(
        "Server can't set maximum open files to {wanted} because of OS error: {}.",
        strerror(&first_error)
    ));
    log::warning(&format!(
        "Current maximum open files is {best}. maxclients has been reduced to {lowered} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'."
    ));
    Outcome::Lowered(lowered)
}

/// The C library's text for an OS error, without Rust's " (os error N)" suffix.
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}
