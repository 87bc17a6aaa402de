//! RDB snapshots in the running server: SAVE (written at a cut, the server stopped, as
//! Redis blocks), BGSAVE (a fork at a cut; the child writes from copy-on-write memory
//! while every shard keeps serving), reaping the child, save points, the MISCONF
//! guard, and the save before a shutdown.
//!
//! Shard 0's cron owns the periodic part: it reaps the child (waitpid WNOHANG, within
//! one cron period of its exit), starts a scheduled BGSAVE, and checks the save points
//! against the changes every shard publishes (`SnapState::dirty`).

use super::cut::{self, World};
use super::rdbfile;
use super::snapstate::{Child, ChildKind, report};
use crate::cmd::ctx::FanOut;
use crate::io::proc::{self, Exit, Forked, SharedPage};
use crate::shard::{ShardState, Shared};
use crate::util::log;
use std::sync::atomic::Ordering;
use std::time::Instant;

const R: Ordering = Ordering::Relaxed;

/// A failed BGSAVE is retried by the save points only after this long (Redis's
/// CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_MS: u64 = 5000;

pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// SAVE's leader work: write the snapshot right at the cut.
pub fn save_here(w: &mut World) -> Result<(), String> {
    let cfg = w.shared.config();
    let now = Shared::now_unix_ms();
    let repl = crate::repl::fullsync::position_at_cut(w.shared);
    let r = rdbfile::save(&w.views(), w.function_codes(), &cfg, now, repl);
    match &r {
        Ok(_) => {
            log::notice("DB saved on disk");
            w.shared.rdb.saved_at(&w.dirty, now, &w.shared.lastsave);
            w.shared.rdb.saves.fetch_add(1, R);
        }
        Err(e) => log::warning(e),
    }
    r.map(|_| ())
}

/// What starting a BGSAVE at a cut came to.
pub enum Started {
    Forked(i32),
    /// Another child appeared since the command was accepted.
    Busy,
    Failed(String),
}

/// BGSAVE's leader work: fork; the child writes and exits, the parent records it.
fn fork_here(w: &mut World) -> Started {
    let shared = w.shared;
    if shared.rdb.child_kind().is_some() {
        return Started::Busy;
    }
    let cfg = shared.config();
    let now = Shared::now_unix_ms();
    shared.rdb.last_try_ms.store(now, R);
    let page = match SharedPage::new() {
        Ok(p) => p,
        Err(e) => return failed(shared, format!("Can't save in background: {e}")),
    };
    let repl = crate::repl::fullsync::position_at_cut(shared);
    let t = Instant::now();
    // SAFETY: this is a cut's leader: every other shard thread waits at the rendezvous
    // and the main thread only joins, so no thread is writing what the child reads or
    // holds a lock the child takes (the log's); the child uses no ring and ends with
    // `exit_now` (see `child_main`).
    match unsafe { proc::fork() } {
        Err(e) => failed(shared, format!("Can't save in background: fork: {e}")),
        Ok(Forked::Child) => child_main(w, &cfg, now, &page, repl),
        Ok(Forked::Parent(pid)) => {
            let fork_us = t.elapsed().as_micros() as u64;
            shared.rdb.latest_fork_usec.store(fork_us, R);
            crate::cmd::latency::add_shared_sample_if_needed(shared, "fork", fork_us / 1000);
            shared.rdb.total_forks.fetch_add(1, R);
            log::notice(&format!("Background saving started by pid {pid}"));
            let tmp = rdbfile::temp_path(&cfg, pid as u32);
            *shared.rdb.child() = Some(Child {
                pid,
                kind: ChildKind::Rdb,
                started_ms: now,
                dirty_at: w.dirty.clone(),
                report: page,
                tmp,
                killed: false,
                seq: 0,
            });
            Started::Forked(pid)
        }
    }
}

fn failed(shared: &Shared, msg: String) -> Started {
    log::warning(&msg);
    shared.rdb.last_bgsave_ok.store(false, R);
    Started::Failed(msg)
}

/// The snapshot child: write, report, exit. Never returns to the shard loop.
fn child_main(
    w: &World,
    cfg: &crate::config::Config,
    now: u64,
    page: &SharedPage,
    repl: Option<crate::rdb::ReplPosition>,
) -> ! {
    place_child(cfg, "bgsave_cpulist");
    let code = match rdbfile::save(&w.views(), w.function_codes(), cfg, now, repl) {
        Ok(stats) => {
            let cow = private_dirty_bytes();
            page.slot(report::COW_BYTES).store(cow, R);
            page.slot(report::KEYS).store(stats.keys, R);
            log::notice("DB saved on disk");
            log::notice(&format!("Fork CoW for RDB: current {} MB", cow >> 20));
            0
        }
        Err(e) => {
            log::warning(&e);
            1
        }
    };
    proc::exit_now(code)
}

/// A forked child's CPUs: the list `param` names (`bgsave_cpulist`,
/// `aof_rewrite_cpulist`), else every CPU the process may use, as Redis's children
/// run wherever the scheduler puts them: the child inherited the pin of the shard
/// thread that forked it, and must not compete with that shard for its one CPU.
pub fn place_child(cfg: &crate::config::Config, param: &str) {
    let list = cfg.compat_value(param).unwrap_or("");
    match crate::config::parse::parse_cpus(list) {
        Ok(cpus) if !cpus.is_empty() => {
            if let Err(e) = crate::io::numa::pin_to_cpus(&cpus) {
                log::warning(&format!("Can't set the child's CPUs to {param} {list}: {e}"));
                proc::unpin();
            }
        }
        _ => proc::unpin(),
    }
}

/// This process's Private_Dirty (in a child: the pages copy-on-write gave it).
pub fn private_dirty_bytes() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/smaps_rollup") else { return 0 };
    s.lines()
        .filter(|l| l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// The BGSAVE fan-out; `reply` false when started by cron (nobody to answer).
pub fn bgsave_fanout() -> FanOut {
    cut::cut(
        |w: &mut World| {
            let r = fork_here(w);
            w.shared.rdb.latest_cut_usec.store(w.started.elapsed().as_micros() as u64, R);
            r
        },
        None,
        |st: &mut ShardState, r: Option<Started>, out| {
            st.shared.rdb.cutting.store(false, R);
            match r {
                Some(Started::Forked(_)) => out.simple("Background saving started"),
                Some(Started::Busy) => out.error("ERR Background save already in progress"),
                Some(Started::Failed(_)) => out.error("ERR"),
                None => out.error("ERR Errors trying to BGSAVE: the server is shutting down"),
            }
        },
    )
}

/// Starts a BGSAVE with no client waiting (save points, BGSAVE SCHEDULE).
fn start_detached(st: &mut ShardState) {
    st.shared.rdb.cutting.store(true, R);
    crate::cmd::coord::start_fanout_detached(st, bgsave_fanout());
}

/// Every shard's cron: publish its change count; shard 0 also reaps the child and
/// starts BGSAVEs that are due.
pub fn cron(st: &mut ShardState) {
    let shared = st.shared.clone();
    shared.rdb.dirty[st.id].store(st.dirty, R);
    if st.id != 0 {
        return;
    }
    reap(&shared);
    let rdb = &shared.rdb;
    if rdb.child_kind().is_some() || rdb.cutting.load(R) || rdb.terminating.load(R) || shared.aofrw.cutting.load(R) {
        return;
    }
    if super::rewrite::cron(st) {
        return;
    }
    if rdb.scheduled.swap(false, R) {
        start_detached(st);
        return;
    }
    let now = Shared::now_unix_ms();
    let since = (now / 1000).saturating_sub(shared.lastsave.load(R));
    let changes = rdb.changes_published();
    let retry_ok = rdb.last_bgsave_ok.load(R) || now.saturating_sub(rdb.last_try_ms.load(R)) > RETRY_MS;
    let due = st.config.save.iter().find(|&&(secs, n)| changes >= n && since > secs);
    if let (Some(&(secs, n)), true) = (due, retry_ok) {
        log::notice(&format!("{n} changes in {secs} seconds. Saving..."));
        start_detached(st);
    }
}

/// Reaps the child if it exited, and records the outcome.
pub fn reap(shared: &Shared) {
    let mut g = shared.rdb.child();
    let Some(c) = g.as_ref() else { return };
    let exit = match proc::reap(c.pid) {
        Ok(None) => return,
        Ok(Some(e)) => e,
        Err(e) => {
            log::warning(&format!("waitpid() returned an error: {e}"));
            Exit::Code(-1)
        }
    };
    let c = g.take().expect("checked");
    drop(g);
    done(shared, c, exit);
}

fn done(shared: &Shared, c: Child, exit: Exit) {
    let now = Shared::now_unix_ms();
    let rdb = &shared.rdb;
    if c.kind == ChildKind::Aof {
        return super::rewrite::done(shared, c, exit);
    }
    rdb.last_bgsave_secs.store(((now - c.started_ms.min(now)) / 1000) as i64, R);
    rdb.last_cow_bytes.store(c.report.slot(report::COW_BYTES).load(R), R);
    match exit {
        Exit::Code(0) => {
            log::notice("Background saving terminated with success");
            rdb.saved_at(&c.dirty_at, now, &shared.lastsave);
            rdb.saves.fetch_add(1, R);
            rdb.last_bgsave_ok.store(true, R);
        }
        _ if c.killed => {
            log::notice("Background saving terminated by signal 10");
            unlink_temp_file(shared, &c.tmp);
        }
        Exit::Code(_) => {
            log::warning("Background saving error");
            rdb.last_bgsave_ok.store(false, R);
            let _ = std::fs::remove_file(&c.tmp);
        }
        Exit::Signal(s) => {
            log::warning(&format!("Background saving terminated by signal {s}"));
            rdb.last_bgsave_ok.store(false, R);
            unlink_temp_file(shared, &c.tmp);
        }
    }
}

/// Removes the temporary file of a child that a signal ended, timed as Redis times
/// it: the `rdb-unlink-temp-file` latency event.
fn unlink_temp_file(shared: &Shared, tmp: &std::path::Path) {
    let start = std::time::Instant::now();
    let _ = std::fs::remove_file(tmp);
    let ms = start.elapsed().as_millis() as u64;
    crate::cmd::latency::add_shared_sample_if_needed(shared, "rdb-unlink-temp-file", ms);
}

/// Kills a running snapshot child (SHUTDOWN, exit) and waits for it.
pub fn kill_child(shared: &Shared) {
    // One that already finished keeps its outcome.
    reap(shared);
    let mut g = shared.rdb.child();
    let Some(mut c) = g.take() else { return };
    drop(g);
    match c.kind {
        ChildKind::Rdb => log::notice(&format!("There is a child saving an .rdb. Killing it! (pid {})", c.pid)),
        ChildKind::Aof => log::notice(&format!("There is a child rewriting the AOF. Killing it! (pid {})", c.pid)),
    }
    proc::kill(c.pid, libc::SIGUSR1);
    proc::reap_blocking(c.pid);
    c.killed = true;
    done(shared, c, Exit::Signal(libc::SIGUSR1));
}

/// Do save errors refuse writes now (`stop-writes-on-bgsave-error`)?
#[inline]
pub fn writes_refused(st: &ShardState) -> bool {
    !st.shared.rdb.last_bgsave_ok.load(R)
        && !st.config.save.is_empty()
        && rdbfile::flag(&st.config, "stop-writes-on-bgsave-error", true)
}

/// Raises the shutdown flag and wakes every other shard so its loop sees it.
pub fn shutdown_now(st: &mut ShardState) {
    st.shared.shutdown.store(true, Ordering::SeqCst);
    for s in 0..st.nshards {
        if s != st.id {
            st.wakes.push(s as u16);
        }
    }
}

/// A shutdown that saves first (SHUTDOWN SAVE, SIGTERM with save points): a cut that
/// writes the snapshot; `then(st, saved)` decides what happens next.
pub fn save_then(then: impl FnOnce(&mut ShardState, bool, &mut crate::resp::ReplyWriter) + 'static) -> FanOut {
    cut::cut(save_here, None, move |st: &mut ShardState, r: Option<Result<(), String>>, out| {
        then(st, matches!(r, Some(Ok(()))), out)
    })
}

/// How a shutdown goes on after `finish_shutdown`.
pub enum Finish {
    /// The first AOF rewrite after `appendonly yes` is running and FORCE was not
    /// given: the server stays up (Redis: "Writing initial AOF, can't exit.").
    Refused,
    /// The shutdown flag is up.
    Exiting,
    /// The final snapshot must be written first: this cut does it, then exits (or,
    /// if it fails without FORCE, calls `failed`).
    Saving(FanOut),
}

/// Redis's `finishShutdown`, after any wait for replicas (`repl::shutdown`): kill a
/// running child, save when asked (SAVE, or save points set and no NOSAVE), exit.
pub fn finish_shutdown(
    st: &mut ShardState,
    flags: crate::repl::shutdown::Flags,
    failed: impl FnOnce(&mut ShardState, &mut crate::resp::ReplyWriter) + 'static,
) -> Finish {
    if super::rewrite::initial_rewrite_blocks_exit(&st.shared, flags.force) {
        return Finish::Refused;
    }
    kill_child(&st.shared);
    if flags.nosave || (!flags.save && st.config.save.is_empty()) {
        shutdown_now(st);
        return Finish::Exiting;
    }
    log::notice("Saving the final RDB snapshot before exiting.");
    let force = flags.force;
    Finish::Saving(save_then(move |st, ok, out| {
        if ok {
            shutdown_now(st);
        } else if force {
            log::warning("Error trying to save the DB. Exit anyway.");
            shutdown_now(st);
        } else {
            log::warning("Error trying to save the DB, can't exit.");
            failed(st, out);
        }
    }))
}

/// The flags `shutdown-on-sigterm` / `shutdown-on-sigint` give a signal (`default`:
/// none, so save points decide).
pub fn signal_flags(st: &ShardState, sig: i32) -> crate::repl::shutdown::Flags {
    let directive = if sig == libc::SIGINT { "shutdown-on-sigint" } else { "shutdown-on-sigterm" };
    let words = st.config.compat.get(directive).cloned().unwrap_or_default();
    let has = |w: &str| words.split(' ').any(|f| f == w);
    crate::repl::shutdown::Flags { save: has("save"), nosave: has("nosave"), now: has("now"), force: has("force") }
}

/// SIGTERM/SIGINT, seen by shard 0: shut down with the flags the signal's directive
/// gives (`signal_flags`), first waiting for lagging replicas unless `now`
/// (`repl::shutdown`). If the save fails the server stays up unless `force`.
pub fn on_terminate(st: &mut ShardState) {
    let shared = st.shared.clone();
    if shared.rdb.terminating.swap(true, R) {
        return;
    }
    let sig = crate::io::sock::TERMINATE_SIGNAL.load(Ordering::SeqCst);
    let name = crate::io::sock::signal_name(sig);
    // "Received SIGTERM scheduling shutdown..." was logged by the handler (`io::sock`).
    // A SHUTDOWN already waiting for replicas goes on (Redis's serverCron).
    if crate::repl::shutdown::in_progress(&shared) {
        return;
    }
    log::warning("User requested shutdown...");
    let flags = signal_flags(st, sig);
    if crate::repl::shutdown::should_wait(st, flags) {
        crate::repl::shutdown::begin(st, flags, None, Some(sig));
        return;
    }
    match finish_shutdown(st, flags, move |st, _| signal_shutdown_failed(st, name)) {
        Finish::Exiting => {}
        Finish::Refused => signal_shutdown_failed(st, name),
        Finish::Saving(fan) => crate::cmd::coord::start_fanout_detached(st, fan),
    }
}

/// A signal's shutdown failed: the server stays up and forgets the signal.
fn signal_shutdown_failed(st: &mut ShardState, name: &str) {
    log::warning(&format!(
        "{name} received but errors trying to shut down the server, check the logs for more information"
    ));
    crate::io::sock::TERMINATE.store(false, Ordering::SeqCst);
    st.shared.rdb.terminating.store(false, R);
}

/// DEBUG RELOAD: at one cut, save, load the file back into fresh databases and
/// install them on every shard (only if the whole load succeeded).
/// DEBUG RELOAD's options (Redis 7.0): NOSAVE loads the file as it is, NOFLUSH keeps
/// the live data (and libraries) and adds the file's, MERGE lets the file's keys and
/// libraries replace live ones of the same name (without it, a name both hold fails
/// the reload).
#[derive(Clone, Copy, Debug)]
pub struct ReloadOptions {
    pub save: bool,
    pub flush: bool,
    pub merge: bool,
}

pub fn reload_fanout(opts: ReloadOptions) -> FanOut {
    cut::cut(
        move |w: &mut World| -> Result<(), String> {
            if opts.save {
                save_here(w)?;
            }
            let cfg = w.shared.config();
            let (loaded, stats) = rdbfile::load(&cfg, w.dbs.len(), Shared::now_unix_ms())?
                .ok_or_else(|| "the file just saved is gone".to_string())?;
            if !opts.flush && !opts.merge {
                // Redis refuses a library that exists and stops at a key that exists
                // (it panics there; we refuse the whole reload before changing anything).
                let have: Vec<String> = crate::cmd::function::library_codes(&w.shared.script)
                    .iter()
                    .filter_map(|c| crate::script::func::library_name(c).ok())
                    .collect();
                if stats.functions.iter().any(|c| crate::script::func::library_name(c).is_ok_and(|n| have.contains(&n)))
                {
                    return Err("a function library already exists".into());
                }
                for (dbs, l) in w.dbs.iter().zip(&loaded) {
                    for (live, new) in dbs.iter().zip(&l.0) {
                        if new.iter().any(|(k, _)| live.peek(&k).is_some()) {
                            return Err("duplicated key".into());
                        }
                    }
                }
            }
            crate::cmd::function::install_loaded(&w.shared.script, &stats.functions, opts.flush)?;
            for (dbs, l) in w.dbs.iter_mut().zip(loaded) {
                if opts.flush {
                    **dbs = l.0;
                } else {
                    // NOFLUSH: the file's keys join (MERGE: replace) the live ones.
                    for (live, mut new) in dbs.iter_mut().zip(l.0) {
                        for (k, e) in new.drain() {
                            live.set_entry(&k, e);
                        }
                    }
                }
            }
            log::notice("DB reloaded by DEBUG RELOAD");
            Ok(())
        },
        // Every key may have changed: WATCHers must see it.
        Some(std::sync::Arc::new(|st: &mut ShardState| st.watch.touch_db(None))),
        |_, r: Option<Result<(), String>>, out| match r {
            Some(Ok(())) => out.ok(),
            Some(Err(e)) => {
                // Redis's reply names no reason; the log does.
                log::warning(&format!("DEBUG RELOAD failed: {e}"));
                out.error("ERR Error trying to load the RDB dump")
            }
            None => out.error("ERR"),
        },
    )
}
