//! Process-wide snapshot state (`Shared::rdb`): the running child, save statistics
//! for INFO persistence and LASTSAVE, each shard's change counter, and the databases
//! start-up loaded for each shard.

use super::dbview::Loaded;
use crate::io::proc::SharedPage;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// What a forked child is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// BGSAVE.
    Rdb,
    /// AOF rewrite (BGREWRITEAOF, auto rewrite, `appendonly yes` at runtime).
    Aof,
}

/// `SharedPage` slots the snapshot child fills in.
pub mod report {
    /// Private_Dirty of the child at its end: the copy-on-write cost.
    pub const COW_BYTES: usize = 0;
    pub const KEYS: usize = 1;
}

/// A forked child the parent must reap.
pub struct Child {
    pub pid: i32,
    pub kind: ChildKind,
    pub started_ms: u64,
    /// Each shard's `dirty` at the cut: on success, changes up to here are saved.
    pub dirty_at: Vec<u64>,
    pub report: SharedPage,
    /// The temp file to remove if it fails or is killed.
    pub tmp: PathBuf,
    /// Killed on purpose (SHUTDOWN, FLUSHALL...): not an error.
    pub killed: bool,
    /// AOF rewrite: the seq of the base and incremental files it started.
    pub seq: u64,
}

pub struct SnapState {
    pub child: Mutex<Option<Child>>,
    /// A snapshot cut has been started and has not finished: a second one waits.
    pub cutting: AtomicBool,
    pub last_bgsave_ok: AtomicBool,
    /// Seconds the last BGSAVE took, -1 before the first.
    pub last_bgsave_secs: AtomicI64,
    pub saves: AtomicU64,
    pub last_cow_bytes: AtomicU64,
    pub latest_fork_usec: AtomicU64,
    /// How long the last cut stopped the shards (first arrival to release).
    pub latest_cut_usec: AtomicU64,
    pub total_forks: AtomicU64,
    /// Unix ms of the last BGSAVE attempt (failed ones are retried after 5 s).
    pub last_try_ms: AtomicU64,
    /// BGSAVE SCHEDULE: start one as soon as no child runs.
    pub scheduled: AtomicBool,
    /// Each shard's `dirty`, published by its thread every cron tick.
    pub dirty: Vec<AtomicU64>,
    /// Each shard's `dirty` as of the last successful save.
    pub saved: Vec<AtomicU64>,
    pub load_keys: AtomicU64,
    pub load_expired: AtomicU64,
    /// What start-up loaded for each shard, taken by its thread.
    pub boot: Mutex<Vec<Option<Loaded>>>,
    /// SIGTERM/SIGINT is being handled (a save before exit is underway).
    pub terminating: AtomicBool,
}

impl SnapState {
    pub fn new(nshards: usize) -> SnapState {
        SnapState {
            child: Mutex::new(None),
            cutting: AtomicBool::new(false),
            last_bgsave_ok: AtomicBool::new(true),
            last_bgsave_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            last_cow_bytes: AtomicU64::new(0),
            latest_fork_usec: AtomicU64::new(0),
            latest_cut_usec: AtomicU64::new(0),
            total_forks: AtomicU64::new(0),
            last_try_ms: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            dirty: (0..nshards).map(|_| AtomicU64::new(0)).collect(),
            saved: (0..nshards).map(|_| AtomicU64::new(0)).collect(),
            load_keys: AtomicU64::new(0),
            load_expired: AtomicU64::new(0),
            boot: Mutex::new(Vec::new()),
            terminating: AtomicBool::new(false),
        }
    }

    pub fn child(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kind of the running child, if any.
    pub fn child_kind(&self) -> Option<ChildKind> {
        self.child().as_ref().map(|c| c.kind)
    }

    /// Records a successful save of the state as of `dirty_at` (per shard).
    pub fn saved_at(&self, dirty_at: &[u64], now_ms: u64, lastsave: &AtomicU64) {
        for (s, d) in self.saved.iter().zip(dirty_at) {
            s.store(*d, Ordering::Relaxed);
        }
        lastsave.store(now_ms / 1000, Ordering::Relaxed);
    }

    /// Changes since the last save, given each shard's current `dirty`.
    pub fn changes(&self, dirty: impl Iterator<Item = (usize, u64)>) -> u64 {
        dirty.map(|(s, d)| d.saturating_sub(self.saved[s].load(Ordering::Relaxed))).sum()
    }

    /// Changes since the last save from the published counters (cron's view).
    pub fn changes_published(&self) -> u64 {
        self.changes(self.dirty.iter().enumerate().map(|(s, d)| (s, d.load(Ordering::Relaxed))))
    }
}
