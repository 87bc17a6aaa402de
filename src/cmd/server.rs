//! Server commands over the whole keyspace or the whole process: DBSIZE, FLUSHDB,
//! FLUSHALL, SWAPDB, TIME, LASTSAVE, SHUTDOWN.
//!
//! The keyspace-wide ones are fan-outs: FLUSHDB, FLUSHALL and SWAPDB lock every shard
//! whole first, so no client can observe a half-flushed or half-swapped keyspace (one
//! shard already swapped while another still serves the old database). With the AOF
//! on, each shard logs what the command did to its own keys (`persist::prop`) as its
//! part of one tagged block (`coord::atomic_part`), so a restart applies it everywhere
//! or nowhere.

use super::coord::atomic_part;
use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::persist::bgsave;
use crate::persist::prop::{flush_part, swap_part};
use crate::repl::shutdown::Flags as ShutdownFlags;
use crate::shard::ShardState;
use crate::shard::msg::ReplyTo;
use crate::shard::watch::DbChange;
use crate::util::log;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn dbsize(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    let db = c.sess.db as usize;
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| Box::new(st.dbs[db].len() as i64)),
        lock_whole: false,
        finish: Box::new(|_, results, out| {
            let total: i64 = results.into_iter().map(|(_, r)| *r.downcast::<i64>().expect("i64")).sum();
            out.int(total);
        }),
    }))
}

/// The optional ASYNC|SYNC argument of FLUSHDB/FLUSHALL: is the flush lazy? Without
/// one, `lazyfree-lazy-user-flush` decides, as in Redis. Both empty the keyspace at
/// once; a lazy flush hands the old databases to `shard::lazyfree` to free in slices, and logs
/// UNLINK rather than DEL (`persist::prop::flush_part`).
fn flush_mode(c: &ConnCtx, a: &Args) -> Result<bool, CmdError> {
    match a.len() {
        1 => Ok(c.st.config.lazyfree_lazy_user_flush),
        2 if a.is(1, "ASYNC") => Ok(true),
        2 if a.is(1, "SYNC") => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

fn flushdb(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let lazy = flush_mode(c, a)?;
    let db = c.sess.db as usize;
    Ok(ConnOutcome::FanOut(FanOut {
        hop: atomic_part(Arc::new(move |st| {
            let n = st.dbs[db].len() as u64;
            let (flushed, now) = (&st.dbs[db], st.now_ms);
            st.watch.touch_db_where(db as u16, |k| flushed_change(flushed, k, now));
            super::tracking::on_flush(st, false);
            flush_part(&mut st.aof, &st.dbs, Some(db as u16), db as u16, lazy, st.nshards == 1);
            let old = std::mem::take(&mut st.dbs[db]);
            crate::shard::lazyfree::free_db(old, lazy);
            // A blocked XREADGROUP whose stream went answers an error, as in Redis 7.0.
            st.blocked.touched_db(db as u16);
            st.dirty += n;
            Box::new(())
        })),
        lock_whole: true,
        finish: Box::new(|_, _, out| out.ok()),
    }))
}

fn flushall(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let lazy = flush_mode(c, a)?;
    let selected = c.sess.db;
    Ok(ConnOutcome::FanOut(FanOut {
        hop: atomic_part(Arc::new(move |st| {
            let n: usize = st.dbs.iter().map(|d| d.len()).sum();
            let now = st.now_ms;
            for (i, flushed) in st.dbs.iter().enumerate() {
                st.watch.touch_db_where(i as u16, |k| flushed_change(flushed, k, now));
            }
            super::tracking::on_flush(st, true);
            flush_part(&mut st.aof, &st.dbs, None, selected, lazy, st.nshards == 1);
            for (i, d) in st.dbs.iter_mut().enumerate() {
                let old = std::mem::take(d);
                crate::shard::lazyfree::free_db(old, lazy);
                // As FLUSHDB: blocked XREADGROUPs on a stream that went answer an error.
                st.blocked.touched_db(i as u16);
            }
            // Redis counts one more change than the keys removed (once, not per
            // shard), so that even an empty FLUSHALL counts as a change.
            st.dirty += n as u64 + u64::from(st.id == 0);
            Box::new(())
        })),
        lock_whole: true,
        finish: Box::new(|_, _, out| out.ok()),
    }))
}

/// Whether `key` is in `db`, and live: an expired key not yet removed is there, dead.
fn presence(db: &crate::storage::Db, key: &[u8], now: u64) -> Option<bool> {
    db.peek_with_expire(key).map(|(_, at)| !crate::storage::has_expired(at, now))
}

/// What emptying `flushed` does to a watched key.
pub(super) fn flushed_change(flushed: &crate::storage::Db, key: &[u8], now: u64) -> DbChange {
    match presence(flushed, key, now) {
        None => DbChange::None,
        Some(true) => DbChange::Real,
        Some(false) => DbChange::ExpiredGone,
    }
}

/// What SWAPDB does to a watched key of the db whose contents `gone` are replaced by
/// `coming`: an expired key leaving, staying expired or coming in expired is no change
/// to a watch that saw it expired (or missing), as in Redis 7.0.
fn swapped_change(gone: &crate::storage::Db, coming: &crate::storage::Db, key: &[u8], now: u64) -> DbChange {
    match (presence(gone, key, now), presence(coming, key, now)) {
        (None, None) => DbChange::None,
        (Some(true), _) | (_, Some(true)) => DbChange::Real,
        (Some(false), _) => DbChange::ExpiredGone,
        (None, Some(false)) => DbChange::ExpiredCame,
    }
}

fn swapdb(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let first = a.i64(1).map_err(|_| CmdError::msg("ERR invalid first DB index"))?;
    let second = a.i64(2).map_err(|_| CmdError::msg("ERR invalid second DB index"))?;
    let n = c.st.dbs.len() as i64;
    if first < 0 || first >= n || second < 0 || second >= n {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    let (x, y) = (first as usize, second as usize);
    let selected = c.sess.db;
    Ok(ConnOutcome::FanOut(FanOut {
        hop: atomic_part(Arc::new(move |st| {
            if x != y {
                swap_part(&mut st.aof, &st.dbs, x as u16, y as u16, selected, st.nshards == 1);
                let now = st.now_ms;
                for (from, to) in [(x, y), (y, x)] {
                    let (gone, coming) = (&st.dbs[from], &st.dbs[to]);
                    st.watch.touch_db_where(from as u16, |k| swapped_change(gone, coming, k, now));
                }
                st.dbs.swap(x, y);
                // Keys with a TTL moved to another index (`shard::dbwatch`).
                st.db_watch.stale();
                // Clients blocked on keys the swap brings in wake (once the whole
                // lock goes, `blocking::serve_blocked`).
                st.blocked.touched_db(x as u16);
                st.blocked.touched_db(y as u16);
            }
            // One change for the whole command, as in Redis.
            st.dirty += u64::from(st.id == 0);
            Box::new(())
        })),
        lock_whole: true,
        finish: Box::new(|_, _, out| out.ok()),
    }))
}

fn time(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    let us = c.st.clock.now_us();
    c.out.array(2);
    c.out.bulk_i64((us / 1_000_000) as i64);
    c.out.bulk_i64((us % 1_000_000) as i64);
    Ok(ConnOutcome::Done)
}

fn lastsave(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    c.out.int(c.st.shared.lastsave.load(Ordering::Relaxed) as i64);
    Ok(ConnOutcome::Done)
}

const SHUTDOWN_FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";

/// SHUTDOWN's options, checked as Redis's `shutdownCommand` checks them; the bool is
/// ABORT.
fn shutdown_args(a: &Args) -> Result<(ShutdownFlags, bool), CmdError> {
    let words: Vec<&[u8]> = (1..a.len()).map(|i| a.get(i)).collect();
    shutdown_words(&words).ok_or(CmdError::Syntax)
}

/// [`shutdown_args`] over the words after SHUTDOWN (also the busy door's,
/// `server::busy_door`); `None` is a syntax error.
pub fn shutdown_words(words: &[&[u8]]) -> Option<(ShutdownFlags, bool)> {
    let (mut f, mut abort) = (ShutdownFlags::default(), false);
    for w in words {
        let is = |s: &str| w.eq_ignore_ascii_case(s.as_bytes());
        if is("NOSAVE") {
            f.nosave = true;
        } else if is("SAVE") {
            f.save = true;
        } else if is("NOW") {
            f.now = true;
        } else if is("FORCE") {
            f.force = true;
        } else if is("ABORT") {
            abort = true;
        } else {
            return None;
        }
    }
    if (f.save && f.nosave) || (abort && words.len() != 1) {
        return None;
    }
    Some((f, abort))
}

/// SHUTDOWN, seen first by dispatch with the request's reply address (as WAIT is): a
/// shutdown that must wait for lagging replicas (`repl::shutdown`), or one sent while
/// another waits (it joins, whatever its flags, as in Redis), leaves the caller
/// blocked: no reply if the server exits, "Errors trying to SHUTDOWN" if the wait is
/// cancelled. Returns false when the handler below is to run instead.
pub fn shutdown_waits(st: &mut ShardState, a: &Args, to: ReplyTo) -> bool {
    let Ok((flags, false)) = shutdown_args(a) else { return false };
    if crate::repl::shutdown::join(&st.shared, to) {
        return true;
    }
    if !crate::repl::shutdown::should_wait(st, flags) {
        return false;
    }
    log::warning("User requested shutdown...");
    crate::repl::shutdown::begin(st, flags, Some(to), None);
    true
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], when nothing is to be waited for
/// (`shutdown_waits`): Redis's `finishShutdown` (`persist::bgsave::finish_shutdown`).
/// A running BGSAVE or AOF rewrite child is killed first, except the rewrite that
/// writes the first base after `CONFIG SET appendonly yes` (Redis refuses to exit
/// then, unless FORCE). Then, with SAVE (or save points set and no NOSAVE), the
/// snapshot is written at a cut; if that fails and FORCE is not given, the server
/// stays up and answers "ERR Errors trying to SHUTDOWN. Check logs.". ABORT cancels
/// a shutdown waiting for replicas.
fn shutdown(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let (flags, abort) = shutdown_args(a)?;
    if abort {
        if crate::repl::shutdown::abort(c.st) {
            c.out.ok();
            return Ok(ConnOutcome::Done);
        }
        return Err(CmdError::msg("ERR No shutdown in progress."));
    }
    log::warning("User requested shutdown...");
    match bgsave::finish_shutdown(c.st, flags, |_, out| out.error(SHUTDOWN_FAILED)) {
        // Like Redis, no reply: the connection just closes as the server goes down.
        bgsave::Finish::Exiting => Ok(ConnOutcome::Close),
        bgsave::Finish::Refused => Err(CmdError::msg(SHUTDOWN_FAILED)),
        bgsave::Finish::Saving(f) => Ok(ConnOutcome::FanOut(f)),
    }
}

/// A keyless server-group command handled on the connection's shard (also used by
/// the replication command families).
pub(super) const fn server(
    name: &'static str,
    arity: i32,
    flags: u32,
    f: super::table::ConnFn,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys: KeySpec::None, handler: Handler::Conn(f), group: "server", summary, since }
}

pub static COMMANDS: &[CommandSpec] = &[
    server("dbsize", 1, flag::READONLY | flag::FAST, dbsize, "Returns the number of keys in the database.", "1.0.0"),
    server("flushdb", -1, flag::WRITE, flushdb, "Remove all keys from the current database.", "1.0.0"),
    server("flushall", -1, flag::WRITE, flushall, "Removes all keys from all databases.", "1.0.0"),
    server("swapdb", 3, flag::WRITE | flag::FAST, swapdb, "Swaps two Redis databases.", "4.0.0"),
    server("time", 1, flag::LOADING | flag::STALE | flag::FAST, time, "Returns the server time.", "2.6.0"),
    server(
        "lastsave",
        1,
        flag::LOADING | flag::STALE | flag::FAST,
        lastsave,
        "Returns the Unix timestamp of the last successful save to disk.",
        "1.0.0",
    ),
    server(
        "shutdown",
        -1,
        flag::ADMIN | flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::NO_MULTI | flag::ALLOW_BUSY,
        shutdown,
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        "1.0.0",
    ),
];

#[cfg(test)]
mod tests {
    use crate::cmd::harness::{Harness, Reply};

    fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    #[test]
    fn flushdb_flushall_and_dbsize() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["mset", "a", "1", "b", "2", "c", "3"]);
            h.run(&["select", "1"]);
            h.run(&["set", "x", "1"]);
            assert_eq!(h.run(&["dbsize"]), Reply::Int(1));
            assert_eq!(h.run(&["flushdb"]), ok());
            assert_eq!(h.run(&["dbsize"]), Reply::Int(0));
            h.run(&["select", "0"]);
            assert_eq!(h.run(&["dbsize"]), Reply::Int(3));
            assert_eq!(h.run(&["flushdb", "bogus"]), Reply::Error("ERR syntax error".into()));
            assert_eq!(h.run(&["flushall", "async"]), ok());
            assert_eq!(h.run(&["dbsize"]), Reply::Int(0));
            assert_eq!(h.run(&["flushall", "sync", "x"]), Reply::Error("ERR syntax error".into()));
            let dirty: u64 = h.shards.iter().map(|s| s.dirty).sum();
            assert!(dirty >= 5, "flushes count dirty: {dirty}");
            for s in &h.shards {
                assert!(s.locks.is_idle());
            }
        }
    }

    #[test]
    fn swapdb_swaps_on_every_shard() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["mset", "a", "1", "b", "2", "c", "3"]);
            assert_eq!(h.run(&["swapdb", "0", "1"]), ok());
            assert_eq!(h.run(&["dbsize"]), Reply::Int(0));
            h.run(&["select", "1"]);
            assert_eq!(h.run(&["dbsize"]), Reply::Int(3));
            assert_eq!(h.run(&["get", "b"]), Reply::bulk("2"));
            assert_eq!(h.run(&["swapdb", "1", "1"]), ok());
            assert_eq!(h.run(&["swapdb", "x", "1"]), Reply::Error("ERR invalid first DB index".into()));
            assert_eq!(h.run(&["swapdb", "0", "y"]), Reply::Error("ERR invalid second DB index".into()));
            assert_eq!(h.run(&["swapdb", "0", "16"]), Reply::Error("ERR DB index is out of range".into()));
            assert_eq!(h.run(&["swapdb", "-1", "0"]), Reply::Error("ERR DB index is out of range".into()));
        }
    }

    #[test]
    fn time_and_lastsave() {
        let mut h = Harness::new(2);
        assert_eq!(h.run(&["time"]), Reply::Array(vec![Reply::bulk("1700000000"), Reply::bulk("0")]));
        h.advance_ms(1500);
        assert_eq!(h.run(&["time"]), Reply::Array(vec![Reply::bulk("1700000001"), Reply::bulk("500000")]));
        assert!(matches!(h.run(&["lastsave"]), Reply::Int(t) if t > 1_600_000_000));
    }

    #[test]
    fn shutdown_options() {
        let mut h = Harness::new(4);
        assert_eq!(h.run(&["shutdown", "save", "nosave"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(h.run(&["shutdown", "later"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(h.run(&["shutdown", "abort", "now"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(h.run(&["shutdown", "abort"]), Reply::Error("ERR No shutdown in progress.".into()));
        assert!(!h.shards[0].shared.shutdown.load(std::sync::atomic::Ordering::SeqCst));
        let raw = h.run_raw(&[b"shutdown", b"nosave", b"now", b"force"]);
        assert!(raw.is_empty(), "no reply to a successful SHUTDOWN");
        assert!(h.shards[0].shared.shutdown.load(std::sync::atomic::Ordering::SeqCst));
    }
}
