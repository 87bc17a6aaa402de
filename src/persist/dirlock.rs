//! The data directory's lock: one server per `dir`.
//!
//! Job: two servers writing one `dir` would overwrite each other's dump.rdb and
//! interleave commands in one AOF (which then fails to load). At start-up, before
//! anything is loaded, the server takes an exclusive non-blocking `flock` on
//! `dir/shardis.lock` and writes its pid there; a second server finds the lock taken,
//! reads the pid and refuses to start. `CONFIG SET dir` locks the new directory
//! before switching, and releases the old one only once the switch is done.
//!
//! The lock lives as long as the open file: the kernel drops it when the process
//! dies, however it dies, so a stale file never blocks a restart. Forked snapshot and
//! rewrite children close their inherited copy at once (`io::proc::close_in_child`),
//! so a child still writing after its parent was killed does not keep a restart out.
//!
//! Non-goals: locking against other software, or over NFS (flock there is local).
//!
//! Depends on: std, `io::proc`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Mutex;

/// The lock file's name inside `dir`.
pub const LOCK_FILE: &str = "shardis.lock";

/// A held lock on one directory.
pub struct DirLock {
    /// Canonical path of the locked directory.
    dir: PathBuf,
    /// The open, flock'ed lock file: closing it releases the lock.
    file: File,
}

/// The lock this process holds (one directory at a time).
static HELD: Mutex<Option<DirLock>> = Mutex::new(None);

/// Locks `dir` (which must exist). The error is a full sentence for the log or a
/// CONFIG SET reply, naming the directory and, when it wrote it, the other server's
/// pid. Locking the directory this process already holds returns a handle that
/// shares nothing and is a no-op to [`hold`].
pub fn acquire(dir: &str) -> Result<Option<DirLock>, String> {
    let canon = std::fs::canonicalize(dir).map_err(|e| format!("Can't lock the data directory '{dir}': {e}"))?;
    if HELD.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|h| h.dir == canon) {
        return Ok(None);
    }
    let path = canon.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("Can't open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let who = match text.trim().parse::<u32>() {
                Ok(pid) => format!("another shardis-server (pid {pid})"),
                Err(_) => "another shardis-server".to_string(),
            };
            return Err(format!(
                "The data directory {} is in use by {who}: it holds the lock on {}. Two servers on one dir would overwrite each other's files; give each its own 'dir'.",
                canon.display(),
                path.display()
            ));
        }
        Err(TryLockError::Error(e)) => return Err(format!("Can't lock {}: {e}", path.display())),
    }
    // Only the lock holder rewrites the pid, so a reader never sees another's.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    Ok(Some(DirLock { dir: canon, file }))
}

/// Makes `lock` the one this process holds, releasing the previous one. `None` (the
/// directory already held) changes nothing.
pub fn hold(lock: Option<DirLock>) {
    let Some(lock) = lock else { return };
    crate::io::proc::close_in_child(lock.file.as_raw_fd());
    let old = HELD.lock().unwrap_or_else(|e| e.into_inner()).replace(lock);
    // Dropping the old handle closes its file, which releases its lock.
    drop(old);
}

/// The directory this process holds locked, if any.
pub fn held_dir() -> Option<PathBuf> {
    HELD.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|h| h.dir.clone())
}
