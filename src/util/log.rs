//! Redis-style log lines: `pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`, to stdout
//! or the configured `logfile`, filtered by `loglevel`.
//!
//! Level marks follow Redis: `.` debug, `-` verbose, `*` notice, `#` warning. The role
//! letter follows Redis's too: `C` until the configuration is loaded and in a forked
//! child (a line written by any process other than the server's own), `M` for a
//! master, `S` for a replica (switched by REPLICAOF and REPLICAOF NO ONE through
//! [`set_role_replica`]), so operators' greps read a shardis log like redis-server's.
//!
//! Hot paths that log at `verbose` or `debug` call [`enabled`] first, so a line that
//! is filtered out costs one relaxed load and no formatting.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
    Nothing = 4,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static FILE: Mutex<Option<std::fs::File>> = Mutex::new(None);
/// The role letter of the server's own lines (`C` during start-up, then `M` or `S`).
static ROLE: AtomicU8 = AtomicU8::new(b'C');
/// The server's pid, once known: lines from any other pid come from a forked child.
static SERVER_PID: AtomicU32 = AtomicU32::new(0);

/// Switches the role letter from `C` (start-up) to `M` (running as a master), and
/// records this process as the server (a forked child's lines then read `C`).
pub fn set_role_master() {
    SERVER_PID.store(std::process::id(), Ordering::Relaxed);
    ROLE.store(b'M', Ordering::Relaxed);
}

/// `S` while following a master (REPLICAOF host port), `M` again after REPLICAOF NO ONE.
pub fn set_role_replica(replica: bool) {
    ROLE.store(if replica { b'S' } else { b'M' }, Ordering::Relaxed);
}

/// The letter for a line written now by this process.
fn role_letter() -> char {
    let pid = SERVER_PID.load(Ordering::Relaxed);
    if pid != 0 && pid != std::process::id() { 'C' } else { ROLE.load(Ordering::Relaxed) as char }
}

/// Would a line at `level` be written? Check this before formatting a message on a
/// hot path.
#[inline]
pub fn enabled(level: Level) -> bool {
    level != Level::Nothing && (level as u8) >= LEVEL.load(Ordering::Relaxed)
}

/// Sets the minimum level from a `loglevel` name; unknown names leave it unchanged.
pub fn set_level(name: &str) {
    let l = match name {
        "debug" => Level::Debug,
        "verbose" => Level::Verbose,
        "notice" => Level::Notice,
        "warning" => Level::Warning,
        "nothing" => Level::Nothing,
        _ => return,
    };
    LEVEL.store(l as u8, Ordering::Relaxed);
}

/// The descriptor log lines go to, for a signal handler, which may not take `FILE`'s
/// lock (`io::sock`'s second SIGINT).
static RAW_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(1);

pub fn raw_fd() -> i32 {
    RAW_FD.load(Ordering::Relaxed)
}

/// Sends log lines to `path` (empty: stdout).
pub fn set_file(path: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f =
        if path.is_empty() { None } else { Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?) };
    RAW_FD.store(f.as_ref().map_or(1, |f| f.as_raw_fd()), Ordering::Relaxed);
    *FILE.lock().unwrap_or_else(|e| e.into_inner()) = f;
    Ok(())
}

pub fn log(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    let mark = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        _ => '#',
    };
    let role = role_letter();
    let line = format!("{}:{role} {} {} {}\n", std::process::id(), timestamp(), mark, msg);
    write_out(&line);
}

/// Writes `text` as is (no prefix), like Redis's `serverLogRaw` for the ASCII logo,
/// if `level` passes the filter.
pub fn raw(level: Level, text: &str) {
    if enabled(level) {
        write_out(text);
    }
}

fn write_out(line: &str) {
    let mut f = FILE.lock().unwrap_or_else(|e| e.into_inner());
    match f.as_mut() {
        Some(file) => {
            let _ = file.write_all(line.as_bytes());
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

pub fn notice(msg: &str) {
    log(Level::Notice, msg)
}

pub fn warning(msg: &str) {
    log(Level::Warning, msg)
}

pub fn verbose(msg: &str) {
    log(Level::Verbose, msg)
}

pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

/// `24 Nov 2026 17:31:29.123` in UTC, computed without a date crate.
fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let ms = now.subsec_millis();
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's civil calendar method.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
