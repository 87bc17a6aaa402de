//! The open-files limit (`RLIMIT_NOFILE`) against `maxclients`, as Redis sizes it.
//!
//! Job: at start-up, raise the soft limit so that `maxclients` clients fit, plus fds
//! the server needs for itself; if the system will not allow it, lower `maxclients`
//! to what fits and say so with Redis's warning lines, so CONFIG GET maxclients shows
//! the value that is really enforced (a client past it gets "max number of clients
//! reached", not a failed accept).
//!
//! Reserved fds: Redis keeps 32 for itself (log, AOF, RDB, listeners, ...). A shard
//! here has its own ring, listeners and AOF files, so we keep 32 plus 4 per shard
//! (`Config::reserved_fds`). CONFIG SET maxclients raises the limit the same way, or
//! refuses with Redis's error (`cmd::config_cmd`).
//!
//! Depends on: `io::proc` (getrlimit/setrlimit), `util::log`.

use crate::io::proc;
use crate::util::log;

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
pub fn fit(maxclients: usize, reserved: u64) -> Outcome {
    let wanted = maxclients as u64 + reserved;
    let soft = match proc::nofile_limit() {
        Ok((soft, _)) => soft,
        Err(e) => {
            log::warning(&format!(
                "Unable to obtain the current NOFILE limit ({}), assuming 1024 and setting the max clients configuration accordingly.",
                strerror(&e)
            ));
            return Outcome::Lowered((1024u64.saturating_sub(reserved).max(1) as usize).min(maxclients));
        }
    };
    let (best, error) = match proc::raise_nofile(wanted) {
        Ok(r) => r,
        Err(e) => (soft, Some(e)),
    };
    let Some(error) = error else {
        if best > soft {
            log::notice(&format!(
                "Increased maximum number of open files to {wanted} (it was originally set to {soft})."
            ));
        }
        return Outcome::Fits(best);
    };
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
        strerror(&error)
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
