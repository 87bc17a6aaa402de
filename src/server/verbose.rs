//! What `loglevel verbose` and `debug` add, as Redis logs them: client connections
//! opening and closing, and every 5 seconds each database's size (each shard logs the
//! share it owns, so the numbers need no cross-shard round).
//!
//! Every function checks the level before formatting anything, so with the default
//! `notice` the cost on the accept and close paths is one relaxed atomic load.
//!
//! Depends on: `util::log`, `shard` (the shard's databases and clients).

use crate::shard::ShardState;
use crate::util::log::{self, Level};
use std::cell::Cell;

/// Redis logs database sizes every 5 seconds of cron.
const DB_SIZES_EVERY_MS: u64 = 5000;

thread_local! {
    /// When this shard thread last logged its database sizes.
    static LAST_DB_LOG_MS: Cell<u64> = const { Cell::new(0) };
}

/// A client's connection is gone (Redis: `Client closed connection id=... addr=...`).
#[inline]
pub fn closed(id: u64, addr: &str, laddr: &str, fd: i32) {
    if log::enabled(Level::Verbose) {
        log::verbose(&format!("Client closed connection id={id} addr={addr} laddr={laddr} fd={fd}"));
    }
}

/// From the shard's cron: every 5 s, `DB n: K keys (V volatile)` for each non-empty
/// database this shard owns; at `debug`, also its client count.
#[inline]
pub fn cron(st: &ShardState, now_ms: u64) {
    if !log::enabled(Level::Verbose) {
        return;
    }
    let last = LAST_DB_LOG_MS.with(Cell::get);
    if now_ms.saturating_sub(last) < DB_SIZES_EVERY_MS {
        return;
    }
    LAST_DB_LOG_MS.with(|c| c.set(now_ms));
    let shard = if st.nshards > 1 { format!(" on shard {}", st.id) } else { String::new() };
    for (i, db) in st.dbs.iter().enumerate() {
        if !db.is_empty() {
            log::verbose(&format!("DB {i}: {} keys ({} volatile){shard}", db.len(), db.volatile_len()));
        }
    }
    if log::enabled(Level::Debug) {
        log::debug(&format!("shard {}: {} clients connected to this shard", st.id, st.clients.len()));
    }
}
