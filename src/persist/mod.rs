//! The append-only file (AOF): propagation, the per-shard log, its files, and loading.
//!
//! ## Write path
//!
//! `cmd::dispatch::call` (the write choke point) hands every command that changed data
//! to `prop::propagate`, which appends its deterministic form (see `prop`) to the
//! owning shard's `log::ShardLog` buffer, after a `SELECT` when the db changes and
//! after `DEL`s for keys that expired under it. While a replica is attached the same
//! commands also go to the shard's replication feed (`repl::feed`, carried by the
//! `ShardLog`), so the AOF and the stream cannot disagree about what was written. Once per loop turn the worker hands the
//! buffer to the ring as one positional write (`io::file`), pushed before the turn's
//! sends so it reaches the kernel in the same `io_uring_enter`:
//! - `appendfsync always`: the write is linked to an fdatasync in that submission
//!   (group commit); every reply and result message produced since the bytes were
//!   appended waits until the sync completes.
//! - `everysec`: an fdatasync through the ring once a second; a sync pending for
//!   more than 2 s holds writes (and so replies) back, as in Redis.
//! - `no`: the kernel decides.
//!
//! Under `everysec` and `no` replies wait for the write's completion (the bytes are in
//! the page cache, as after Redis's write(2)), never only its submission: a buffered
//! write may be punted to an io-wq worker and still be queued when the process dies.
//! A failed fdatasync ends the process under every policy (`log::fsync_failed`).
//! One write is in flight per shard at a time; what accumulates meanwhile is the next
//! turn's write. Replies leave only once the log is cleared up to the offset current
//! when they were produced (`ShardLog::cleared`): connections hold output chunks
//! (`net::Conn::held`), shards hold result messages (`ShardState::held_out`).
//!
//! With `appendonly-direct yes` (or `auto`, the default, under `always`; a runtime
//! change switches the open file between writes, `ShardLog::set_direct`) the
//! incremental files are opened O_DIRECT and written
//! through `io::direct`: each write re-carries the file's last partial block and is
//! padded to whole blocks (rewriting those already-written bytes unchanged, so a
//! torn write never damages what was durable), chunks ahead of the log are
//! preallocated (fallocate past the end of the file, then padding written, so syncs
//! need no extent conversion), and under `always` the write itself carries RWF_DSYNC
//! instead of a linked fdatasync. The padding is no-op `ECHO` commands of exactly each
//! gap's size (`resp::filler`), so a live file is always a command stream Redis's tools
//! accept. A file the log is done with (rotation, shutdown, `appendonly no`) is cut to
//! its logical length; after a crash, start-up cuts the trailing fillers off and treats
//! a command that runs into stale filler bytes as a torn, truncated tail (`load::scan`).
//! A torn sector that falls inside a bulk string's payload cannot be told from data, as
//! with Redis's unchecksummed AOF: it can only be in the last, unacknowledged write.
//!
//! ## Layout (Redis 7 multi-part style)
//!
//! `<dir>/<appenddirname>/` holds `<appendfilename>.manifest` and, per shard `s`, one
//! base file and incremental files: `<appendfilename>.s<s>.<seq>.base.aof` and
//! `<appendfilename>.s<s>.<seq>.incr.aof` (RESP). A base is RESP (`.base.aof`, written
//! at start-up and by rewrites with `aof-use-rdb-preamble no`) or an RDB holding only
//! that shard's keys (`.base.rdb`, rewrites with the preamble, Redis's default): one
//! base per shard keeps every file a single shard's history. Manifest lines are Redis's
//! (`file <name> seq <n> type b|i`) plus `shard <s>`. A manifest change is written to a
//! temp file, fsynced, renamed over the old one and the directory fsynced.
//!
//! ## Rewrite
//!
//! `rewrite` (BGREWRITEAOF, auto rewrite, `appendonly yes` at runtime) takes a cut: the
//! leader creates a new incremental file per shard, lists it in the manifest and
//! forks; right after, every shard points its log at the new file
//! (`ShardLog::rotate_to`: bytes logged before the cut still go to the old file, which
//! is then synced and closed). The child writes the bases from copy-on-write memory;
//! shard 0's cron reaps it and installs the new manifest (bases + new incrementals) or,
//! on failure, leaves the old files followed by the new incrementals.
//!
//! ## Cross-shard atomicity
//!
//! A command or MULTI/EXEC spanning shards runs under intent locks (`cmd::coord`).
//! Each participant shard logs its part as one shard-local block:
//! `MULTI`, `ECHO shardis-tx:<run id>:<tx id>:<parts>`, the part's commands, `EXEC`.
//! For a gathered command (MSET, RENAME ... across shards) the part is a shard-local
//! form of the command where one exists (`cmd::coord_log`: `LPOP` + `RPUSH` for LMOVE,
//! each shard's pairs for MSET ...), else the final state of the keys written back to
//! that shard (`DEL` + recreate; RENAME, COPY and the STORE commands give the stream
//! the command itself and the AOF the written key's state); for EXEC it is the
//! commands that ran on that shard, staged per transaction (`ShardLog::stage`) and
//! emitted together at commit. The coordinator sends each participant a commit hop,
//! waits until every participant acknowledges it (acks are result messages, so they
//! wait for that shard's log: fsynced under `always`), only then releases the locks and
//! replies. On load, a tagged block replays only if all `<parts>` blocks of its
//! transaction are present and complete; otherwise every part is skipped. Since the
//! locks are held until all parts are logged, no later acknowledged command can depend
//! on a transaction that is then dropped.
//!
//! The whole-keyspace writes (FLUSHALL, FLUSHDB, SWAPDB) are fan-outs that lock every
//! shard whole; each shard logs its part of them the same way (`cmd::coord::atomic_part`,
//! tagged with the fan-out's lock transaction, one part per shard, even an empty one),
//! and the reply and the unlock wait for every part. A part holds only what the
//! command did to that shard's own keys (`prop::flush_part`, `prop::swap_part`): DEL
//! (UNLINK for ASYNC) batches of the keys each emptied database held; for SWAPDB, MOVE
//! for a key in one of the two databases and the other database's state written over
//! it for a key in both. Never the command itself, so every shard file replays alone,
//! and the files concatenated shard after shard and piped into a real Redis
//! (`redis-cli --pipe`) rebuild the dataset, flushes and swaps included. Inside EXEC
//! these parts are staged with the rest of the transaction's part. A server with one
//! shard logs the commands themselves, untagged, as Redis does. Files written
//! before this scheme may hold bare FLUSHALL / FLUSHDB / SWAPDB; the loader still
//! applies those to the file's own shard.
//!
//! ## Snapshots (RDB)
//!
//! `cut` stops every shard at one consistent point (whole-shard locks in the global
//! order, then a rendezvous of all shard threads) and runs one closure with every
//! shard's databases; `bgsave` builds SAVE (write there), BGSAVE (fork there; the child
//! writes `rdbfile`'s temp file, fsyncs, renames and `_exit`s), DEBUG RELOAD, the save
//! points, MISCONF and the shutdown save on it; `snapstate` is the process-wide status
//! INFO reads. The AOF rewrite forks at a cut the same way (see Rewrite above).
//!
//! ## Load
//!
//! Start-up (`load`) replays the files through `cmd::dispatch` on a socketless set of
//! shards (like `cmd::harness`), RDB bases through `rdb::load` into their shard, then
//! hands each worker its keys.

pub mod bgsave;
pub mod cut;
pub mod dbview;
pub mod dirlock;
pub mod emit;
pub mod emit_stream;
pub mod files;
pub mod load;
pub mod log;
pub mod prop;
pub mod rdbfile;
pub mod resp;
pub mod rewrite;
pub mod snapstate;
pub mod startload;

pub use prop::{Prop, propagate};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The AOF's health as one status for the whole server, as Redis has one: while any
/// shard's log is failing, every shard refuses writes (MISCONF).
#[derive(Default)]
pub struct AofHealth {
    pub failing: std::sync::atomic::AtomicUsize,
    pub message: std::sync::Mutex<String>,
    /// The last fdatasync at shutdown failed on some shard: exit non-zero.
    pub shutdown_sync_failed: std::sync::atomic::AtomicBool,
}

impl AofHealth {
    /// The MISCONF error to answer writes with, if the AOF is failing anywhere.
    #[inline]
    pub fn refusal(&self) -> Option<String> {
        if self.failing.load(Ordering::Relaxed) == 0 {
            return None;
        }
        Some(format!("MISCONF {}", self.message.lock().unwrap_or_else(|e| e.into_inner())))
    }

    /// A shard's log went from `was` failing to `now` failing.
    pub fn update(&self, was: bool, now: Option<&String>) {
        match (was, now) {
            (false, Some(m)) => {
                *self.message.lock().unwrap_or_else(|e| e.into_inner()) = m.clone();
                self.failing.fetch_add(1, Ordering::SeqCst);
            }
            (true, None) => {
                self.failing.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

/// One shard's AOF numbers, published each turn for INFO persistence (read by
/// whichever thread answers INFO).
#[derive(Default)]
pub struct AofInfo {
    pub enabled: AtomicBool,
    pub current_size: AtomicU64,
    /// Size of the shard's base file: set at start-up and by a finished rewrite.
    pub base_size: AtomicU64,
    pub buffer_length: AtomicU64,
    pub write_error: AtomicBool,
    pub delayed_fsync: AtomicU64,
    pub pending_fsync: AtomicU64,
}

impl AofInfo {
    /// `installed`: the seq of the last rewrite that replaced the set (incremental
    /// files older than it are gone).
    pub fn publish(&self, log: &mut log::ShardLog, installed: u64) {
        let r = Ordering::Relaxed;
        self.enabled.store(log.on, r);
        log.older.retain(|&(seq, _)| seq >= installed);
        let older: u64 = log.older.iter().map(|&(_, n)| n).sum();
        let incr = if log.on { older + log.file_len } else { 0 };
        self.current_size.store(self.base_size.load(r) + incr, r);
        self.buffer_length.store(log.buf.len() as u64, r);
        self.write_error.store(log.error.is_some(), r);
        self.delayed_fsync.store(log.delayed_fsync, r);
        self.pending_fsync.store(u64::from(log.sync_inflight.is_some()), r);
    }
}
