//! `pidfile`: the server's pid in a file while it runs, as redis-server writes it.
//!
//! Written once the listeners exist (so a supervisor that reads it finds a server
//! that is about to serve), removed at a clean exit (SHUTDOWN, SIGTERM, SIGINT, or a
//! start-up that fails after writing it). A crash leaves it behind, as in Redis; a
//! stale file is harmless because the next start overwrites it.
//!
//! Like Redis, a file that cannot be written is a warning, not a reason to refuse to
//! start.
//!
//! Depends on: `util::log`.

use crate::util::log;
use std::path::PathBuf;

/// The written pid file; dropping it removes the file.
pub struct PidFile {
    path: PathBuf,
}

/// Writes `path` ("" = no pid file) with this process's pid and a newline.
pub fn write(path: &str) -> Option<PidFile> {
    if path.is_empty() {
        return None;
    }
    match std::fs::write(path, format!("{}\n", std::process::id())) {
        Ok(()) => Some(PidFile { path: PathBuf::from(path) }),
        Err(e) => {
            log::warning(&format!("Failed to write PID file: {}", super::rlimit::strerror(&e)));
            None
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        log::notice("Removing the pid file.");
        let _ = std::fs::remove_file(&self.path);
    }
}
