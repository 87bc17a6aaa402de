//! AOF rewrite: BGREWRITEAOF, the automatic rewrite, and `appendonly yes` at runtime.
//!
//! A rewrite is a cut (`cut`) whose leader, with every shard stopped:
//! 1. picks `seq` (one more than any in the manifest) and creates one empty
//!    incremental file per shard, `<prefix>.s<s>.<seq>.incr.aof`;
//! 2. while logging, appends them to the manifest on disk (so a crash from here on
//!    replays old files then new ones: nothing acknowledged is lost);
//! 3. forks. The child writes one base per shard from its copy-on-write memory:
//!    `<prefix>.s<s>.<seq>.base.rdb` (an RDB of that shard's keys, `aof-use-rdb-preamble
//!    yes`) or `.base.aof` (RESP commands), each through a temp file, fsync, rename.
//!
//! Right after the leader, still at the cut, every shard moves its log to its new
//! incremental file (`ShardLog::rotate_to`): what was logged before the cut finishes in
//! the old file, everything after goes to the new one, so base + new incr is exactly
//! the data set. Shard 0's cron reaps the child: on success it writes the manifest
//! naming only the new bases and incrs (atomically) and deletes every other file of
//! the set; on failure the new incrs simply stay listed after the old files.
//!
//! `appendonly yes` at runtime (Redis's "wait for rewrite" state): logging starts at
//! the first rewrite's cut, and the manifest is written only when that rewrite
//! succeeds (retried until it does); until then the old manifest, if any, is not
//! touched. `appendonly no` stops logging once the log is drained.

use super::cut::{self, World};
use crate::persist::files::{self, FileEntry, Kind, Manifest};

mod child;
mod finish;

use super::snapstate::{Child, ChildKind};
use crate::cmd::ctx::FanOut;
use crate::config::Config;
use crate::io::proc::{self, Exit, Forked, SharedPage};
use crate::shard::{ShardState, Shared};
use crate::util::log;
pub use finish::done;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

const R: Ordering = Ordering::Relaxed;

/// A failed automatic (or enabling) rewrite is retried only after this long.
const RETRY_MS: u64 = 5000;

pub const IN_PROGRESS: &str = "ERR Background append only file rewriting already in progress";

/// Process-wide rewrite status (`Shared::aofrw`), read by INFO persistence.
pub struct RewriteState {
    /// A rewrite's cut has been started and has not finished.
    pub cutting: AtomicBool,
    /// Start one as soon as no child runs.
    pub scheduled: AtomicBool,
    /// `appendonly yes` at runtime, waiting for its first successful rewrite.
    pub waiting: AtomicBool,
    pub last_ok: AtomicBool,
    pub last_secs: AtomicI64,
    pub rewrites: AtomicU64,
    pub failures: AtomicU64,
    pub last_fail_ms: AtomicU64,
    /// The seq of the last rewrite installed (its files are the whole set).
    pub installed: AtomicU64,
    /// The last rewrite child's copy-on-write bytes (INFO aof_last_cow_size).
    pub last_cow_bytes: AtomicU64,
    /// Set by the leader for the per-shard hook: the new files' seq and whether the
    /// shards log to them.
    seq: AtomicU64,
    rotate: AtomicBool,
    /// The base files are RDB (decided at the fork).
    rdb_base: AtomicBool,
    /// A shard could not open its new incremental file: the rewrite must not succeed.
    rotate_failed: AtomicBool,
}

impl Default for RewriteState {
    fn default() -> Self {
        RewriteState {
            cutting: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
            last_secs: AtomicI64::new(-1),
            rewrites: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_fail_ms: AtomicU64::new(0),
            installed: AtomicU64::new(0),
            last_cow_bytes: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            rotate: AtomicBool::new(false),
            rdb_base: AtomicBool::new(true),
            rotate_failed: AtomicBool::new(false),
        }
    }
}

/// What starting a rewrite at a cut came to.
pub enum Started {
    Forked,
    /// A child (BGSAVE) runs: scheduled for when it ends.
    Scheduled,
    Busy,
    Failed,
}

/// BGREWRITEAOF's reply for the current state, or the fan-out that starts it.
pub fn command(shared: &Shared) -> Result<FanOut, (bool, &'static str)> {
    let rw = &shared.aofrw;
    match shared.rdb.child_kind() {
        Some(ChildKind::Aof) => Err((true, IN_PROGRESS)),
        Some(ChildKind::Rdb) => {
            rw.scheduled.store(true, R);
            Err((false, "Background append only file rewriting scheduled"))
        }
        None if rw.cutting.swap(true, R) => Err((true, IN_PROGRESS)),
        None => Ok(fanout()),
    }
}

/// The rewrite's cut (the caller has set `cutting`).
pub fn fanout() -> FanOut {
    cut::cut(
        |w: &mut World| {
            let r = fork_here(w);
            w.shared.rdb.latest_cut_usec.store(w.started.elapsed().as_micros() as u64, R);
            r
        },
        Some(Arc::new(at_cut)),
        |st: &mut ShardState, r: Option<Started>, out| {
            st.shared.aofrw.cutting.store(false, R);
            match r {
                Some(Started::Forked) => out.simple("Background append only file rewriting started"),
                Some(Started::Scheduled) => out.simple("Background append only file rewriting scheduled"),
                Some(Started::Busy) => out.error(IN_PROGRESS),
                Some(Started::Failed) => out.error(
                    "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
                ),
                None => out.error("ERR the server is shutting down"),
            }
        },
    )
}

/// Every shard, still at the cut: log to the new incremental file from here on.
fn at_cut(st: &mut ShardState) {
    let rw = &st.shared.aofrw;
    if !rw.rotate.load(Ordering::SeqCst) {
        return;
    }
    let cfg = st.shared.config();
    let seq = rw.seq.load(Ordering::SeqCst);
    let path = files::aof_dir(&cfg).join(files::file_name(&cfg.appendfilename, st.id, seq, Kind::Incr));
    match files::open_log(&path, cfg.aof_direct()) {
        Ok(f) => {
            let was_on = st.aof.on;
            st.aof.rotate_to(f, seq);
            if !was_on {
                st.aof.policy = cfg.appendfsync;
                st.aof.last_sync_ms = st.now_ms;
            }
        }
        Err(e) => {
            log::warning(&format!("Can't open the append-only file {}: {e}", path.display()));
            rw.rotate_failed.store(true, Ordering::SeqCst);
        }
    }
}

fn fail(shared: &Shared, msg: &str) -> Started {
    log::warning(msg);
    let rw = &shared.aofrw;
    rw.last_ok.store(false, R);
    rw.failures.fetch_add(1, R);
    rw.last_fail_ms.store(Shared::now_unix_ms(), R);
    if rw.waiting.load(R) {
        rw.scheduled.store(true, R); // `appendonly yes` still needs its base
    }
    Started::Failed
}

/// The leader: new incremental files (listed in the manifest while logging), fork.
fn fork_here(w: &mut World) -> Started {
    let shared = w.shared;
    let rw = &shared.aofrw;
    rw.rotate.store(false, Ordering::SeqCst);
    match shared.rdb.child_kind() {
        Some(ChildKind::Aof) => return Started::Busy,
        Some(ChildKind::Rdb) => {
            rw.scheduled.store(true, R);
            return Started::Scheduled;
        }
        None => {}
    }
    rw.scheduled.store(false, R);
    let cfg = shared.config();
    let dir = files::aof_dir(&cfg);
    let prefix = cfg.appendfilename.as_str();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return fail(shared, &format!("Can't create the AOF directory {}: {e}", dir.display()));
    }
    let on_disk = read_manifest(&dir, prefix);
    let logging = cfg.appendonly;
    let listed = logging && !rw.waiting.load(R);
    let old = match on_disk {
        Ok(m) => m,
        Err(e) if listed => return fail(shared, &e),
        Err(_) => None,
    };
    let seq = old.as_ref().map_or(0, |m| m.max_seq()).max(rw.seq.load(R)) + 1;
    let n = w.dbs.len();
    for s in 0..n {
        let name = files::file_name(prefix, s, seq, Kind::Incr);
        if let Err(e) = files::write_file_synced(&dir.join(&name), b"") {
            return fail(shared, &format!("Can't create the AOF file {name}: {e}"));
        }
    }
    if listed {
        let mut m = old.unwrap_or_default();
        m.files.extend((0..n).map(|s| FileEntry {
            name: files::file_name(prefix, s, seq, Kind::Incr),
            seq,
            kind: Kind::Incr,
            shard: s,
        }));
        if let Err(e) = files::write_manifest(&dir, prefix, &m) {
            return fail(shared, &format!("Can't persist the AOF manifest: {e}"));
        }
    }
    rw.seq.store(seq, Ordering::SeqCst);
    rw.rotate.store(logging, Ordering::SeqCst);
    rw.rotate_failed.store(false, Ordering::SeqCst);
    let rdb_base = super::rdbfile::flag(&cfg, "aof-use-rdb-preamble", true);
    rw.rdb_base.store(rdb_base, R);
    let page = match SharedPage::new() {
        Ok(p) => p,
        Err(e) => return fail(shared, &format!("Can't rewrite append only file in background: {e}")),
    };
    let now = Shared::now_unix_ms();
    let t = std::time::Instant::now();
    // SAFETY: this is a cut's leader: every other shard thread waits at the rendezvous
    // and the main thread only joins, so no thread is writing what the child reads or
    // holds a lock the child takes; the child uses no ring and ends with `exit_now`.
    match unsafe { proc::fork() } {
        Err(e) => fail(shared, &format!("Can't rewrite append only file in background: fork: {e}")),
        Ok(Forked::Child) => child::child_main(w, &cfg, seq, rdb_base, now, &page),
        Ok(Forked::Parent(pid)) => {
            let fork_us = t.elapsed().as_micros() as u64;
            shared.rdb.latest_fork_usec.store(fork_us, R);
            crate::cmd::latency::add_shared_sample_if_needed(shared, "fork", fork_us / 1000);
            shared.rdb.total_forks.fetch_add(1, R);
            log::notice(&format!("Background append only file rewriting started by pid {pid}"));
            *shared.rdb.child() = Some(Child {
                pid,
                kind: ChildKind::Aof,
                started_ms: now,
                dirty_at: w.dirty.clone(),
                report: page,
                tmp: dir,
                killed: false,
                seq,
            });
            Started::Forked
        }
    }
}

fn read_manifest(dir: &Path, prefix: &str) -> Result<Option<Manifest>, String> {
    match std::fs::read_to_string(dir.join(files::manifest_name(prefix))) {
        Ok(t) => Manifest::parse(&t).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("Can't read the AOF manifest: {e}")),
    }
}

/// `CONFIG SET appendonly` changed: start (via a rewrite) or stop logging.
pub fn on_config(shared: &Shared, was: bool, now: bool) {
    let rw = &shared.aofrw;
    if !was && now {
        rw.waiting.store(true, R);
        rw.scheduled.store(true, R);
    } else if was && !now {
        rw.waiting.store(false, R);
        rw.scheduled.store(false, R);
        kill_child(shared);
    }
}

/// Redis's rule at shutdown: while `appendonly yes` still waits for the rewrite that
/// writes its first base, exiting would lose the data set; only FORCE goes on.
pub fn initial_rewrite_blocks_exit(shared: &Shared, force: bool) -> bool {
    let rw = &shared.aofrw;
    let writing = shared.rdb.child_kind() == Some(ChildKind::Aof) || rw.cutting.load(R);
    if !(writing && rw.waiting.load(R)) {
        return false;
    }
    if force {
        log::warning("Writing initial AOF. Exit anyway.");
        return false;
    }
    log::warning("Writing initial AOF, can't exit.");
    true
}

/// Kills a running rewrite child (`appendonly no`) and waits for it.
pub fn kill_child(shared: &Shared) {
    super::bgsave::reap(shared);
    let mut g = shared.rdb.child();
    if g.as_ref().is_none_or(|c| c.kind != ChildKind::Aof) {
        return;
    }
    let mut c = g.take().expect("checked");
    drop(g);
    log::notice(&format!("Killing running AOF rewrite child: {}", c.pid));
    proc::kill(c.pid, libc::SIGUSR1);
    proc::reap_blocking(c.pid);
    c.killed = true;
    done(shared, c, Exit::Signal(libc::SIGUSR1));
}

/// Shard 0's cron, with no child and no cut running: start a scheduled or automatic
/// rewrite. Returns whether one was started.
pub fn cron(st: &mut ShardState) -> bool {
    let shared = st.shared.clone();
    let rw = &shared.aofrw;
    let now = Shared::now_unix_ms();
    let retry_ok = rw.last_ok.load(R) || now.saturating_sub(rw.last_fail_ms.load(R)) > RETRY_MS;
    let waiting = rw.waiting.load(R);
    let start = if rw.scheduled.load(R) && (retry_ok || !waiting) {
        true
    } else if st.config.appendonly && !waiting && retry_ok {
        auto_due(&st.config, &shared)
    } else {
        false
    };
    if !start {
        return false;
    }
    rw.cutting.store(true, R);
    crate::cmd::coord::start_fanout_detached(st, fanout());
    true
}

/// `auto-aof-rewrite-percentage` / `-min-size` against the current and base sizes.
fn auto_due(cfg: &Config, shared: &Shared) -> bool {
    let pct: u64 = cfg.compat_value("auto-aof-rewrite-percentage").and_then(|v| v.parse().ok()).unwrap_or(100);
    let min =
        cfg.compat_value("auto-aof-rewrite-min-size").and_then(crate::config::parse::parse_memory).unwrap_or(64 << 20);
    if pct == 0 {
        return false;
    }
    let cur: u64 = shared.aof.iter().map(|a| a.current_size.load(R)).sum();
    let base: u64 = shared.aof.iter().map(|a| a.base_size.load(R)).sum::<u64>().max(1);
    if cur <= min {
        return false;
    }
    let growth = (cur * 100 / base).saturating_sub(100);
    if growth >= pct {
        log::notice(&format!("Starting automatic rewriting of AOF on {growth}% growth"));
        return true;
    }
    false
}
