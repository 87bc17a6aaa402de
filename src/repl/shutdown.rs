//! SHUTDOWN's wait for lagging replicas, as Redis 7.0 does it (`shutdown-timeout`).
//!
//! ```text
//!  SHUTDOWN (without NOW) or SIGTERM/SIGINT, with replicas attached    (`begin`)
//!    client writes (and active expiry) paused, as CLIENT PAUSE WRITE does;
//!    a cut makes every shard push what it wrote before the pause (`barrier`)
//!  replication thread, every loop (`Master::shutdown_wait`):
//!    every replica acknowledged the stream's end, or `shutdown-timeout` passed
//!      -> log the lagging ones, `due`: shard 0 finishes (`finish`)
//!    else, once: REPLCONF GETACK * to the replicas
//!  shard 0 (`finish`): kill a child, save if asked, exit; if the save fails (without
//!    FORCE) the shutdown is cancelled as SHUTDOWN ABORT cancels it (`cancel`):
//!    writes resume, the blocked SHUTDOWN callers get "Errors trying to SHUTDOWN".
//! ```
//!
//! As in Redis, a SHUTDOWN sent while one is waiting (NOW included) joins the wait,
//! and a second SIGINT exits at once (`io::sock`). Why the cut: see `repl::failover`.

use crate::resp::ReplyWriter;
use crate::shard::msg::ReplyTo;
use crate::shard::{Msg, ShardState, Shared};
use crate::util::log;
use std::sync::atomic::Ordering;

/// SHUTDOWN's options (or `shutdown-on-sigterm`'s / `shutdown-on-sigint`'s words).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub save: bool,
    pub nosave: bool,
    pub now: bool,
    pub force: bool,
}

/// The wait under way (`ReplState::shutdown`).
#[derive(Debug, Default)]
pub struct Wait {
    pub active: bool,
    pub flags: Flags,
    /// Unix ms at which the wait ends whatever the replicas say.
    pub deadline_ms: u64,
    /// The stream's end at the cut taken after the pause, once reached.
    pub barrier: Option<u64>,
    pub getack_sent: bool,
    /// The replication thread is done waiting: shard 0 finishes.
    pub due: bool,
    /// The SHUTDOWN callers, blocked until the server exits or the wait is cancelled.
    pub waiters: Vec<ReplyTo>,
    /// Started by this signal (SIGTERM/SIGINT), not by a command.
    pub signal: Option<i32>,
}

const FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Wait> {
    shared.repl.shutdown.lock().unwrap_or_else(|e| e.into_inner())
}

/// Is a shutdown waiting for replicas? (INFO `shutdown_in_milliseconds`.)
pub fn remaining_ms(shared: &Shared) -> Option<u64> {
    let w = lock(shared);
    w.active.then(|| w.deadline_ms.saturating_sub(Shared::now_unix_ms()))
}

pub fn in_progress(shared: &Shared) -> bool {
    lock(shared).active
}

/// Must a shutdown with these flags wait for replicas first? (Redis's
/// `prepareForShutdown`: not with NOW, not with `shutdown-timeout 0`, not without
/// replicas.) The replication thread decides whether they are in sync already.
pub fn should_wait(st: &ShardState, flags: Flags) -> bool {
    !flags.now && timeout_secs(st) != 0 && st.shared.repl.pub_info.connected.load(Ordering::Relaxed) > 0
}

fn timeout_secs(st: &ShardState) -> u64 {
    st.config.compat.get("shutdown-timeout").and_then(|v| v.parse::<u64>().ok()).unwrap_or(10)
}

/// Joins a wait under way (the caller's flags are ignored, as Redis ignores them).
/// Returns false when none is.
pub fn join(shared: &Shared, waiter: ReplyTo) -> bool {
    let mut w = lock(shared);
    if w.active {
        w.waiters.push(waiter);
    }
    w.active
}

/// Starts the wait: pause writes, then a cut fixes where the stream ends.
pub fn begin(st: &mut ShardState, flags: Flags, waiter: Option<ReplyTo>, signal: Option<i32>) {
    let shared = st.shared.clone();
    {
        let mut w = lock(&shared);
        *w = Wait {
            active: true,
            flags,
            deadline_ms: Shared::now_unix_ms() + timeout_secs(st) * 1000,
            waiters: waiter.into_iter().collect(),
            signal,
            ..Wait::default()
        };
        shared.repl.shutdown_paused.store(true, Ordering::SeqCst);
    }
    let fan = crate::persist::cut::cut(
        |w: &mut crate::persist::cut::World| super::fullsync::position_at_cut(w.shared).map(|p| p.1),
        None,
        |st: &mut ShardState, at: Option<Option<u64>>, _out: &mut ReplyWriter| {
            let shared = st.shared.clone();
            let mut w = lock(&shared);
            if w.active {
                w.barrier = Some(at.flatten().unwrap_or_else(|| shared.repl.offset.load(Ordering::Acquire)));
            }
            drop(w);
            shared.repl.wake();
        },
    );
    crate::cmd::coord::start_fanout_detached(st, fan);
}

/// One replica as the replication thread sees it, for the decision and the log.
pub struct ReplicaView<'a> {
    pub name: &'a str,
    pub ack: u64,
    pub online: bool,
    pub last_ack_ms: u64,
    pub state: &'static str,
}

/// What the replication thread should do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Ask the replicas for an acknowledgement (once per wait).
    GetAck,
    /// Done waiting: wake shard 0.
    Finish,
}

/// The replication thread's step: `end` is the stream's end (master_repl_offset).
pub fn step(shared: &Shared, replicas: &[ReplicaView], end: u64, now_ms: u64) -> Step {
    let mut w = lock(shared);
    if !w.active || w.due {
        return Step::Nothing;
    }
    let timed_out = now_ms >= w.deadline_ms;
    if w.barrier.is_none() && !timed_out {
        return Step::Nothing;
    }
    let in_sync = |r: &ReplicaView| r.online && r.ack == end;
    if !timed_out && !replicas.iter().all(in_sync) {
        if w.getack_sent {
            return Step::Nothing;
        }
        w.getack_sent = true;
        // Redis logs this only when some replica is behind (`isReadyToShutdown`).
        log::notice("Waiting for replicas before shutting down.");
        return Step::GetAck;
    }
    w.due = true;
    drop(w);
    // Redis's finishShutdown logs these before anything else.
    let lagging = replicas.iter().filter(|r| !in_sync(r)).count();
    for r in replicas.iter().filter(|r| !in_sync(r)) {
        let lag = if r.online { now_ms.saturating_sub(r.last_ack_ms) / 1000 } else { 0 };
        log::warning(&format!(
            "Lagging replica {} reported offset {} behind master, lag={lag}, state={}.",
            r.name,
            end.saturating_sub(r.ack),
            r.state
        ));
    }
    if !replicas.is_empty() {
        log::notice(&format!(
            "{} of {} replicas are in sync when shutting down.",
            replicas.len() - lagging,
            replicas.len()
        ));
    }
    Step::Finish
}

/// Shard 0, every turn: is the wait over? Then finish the shutdown.
pub fn poll(st: &mut ShardState) {
    let flags = {
        let mut w = lock(&st.shared);
        if !w.due {
            return;
        }
        w.due = false;
        w.flags
    };
    use crate::persist::bgsave::{Finish, finish_shutdown};
    match finish_shutdown(st, flags, |st, _| {
        cancel(st);
    }) {
        Finish::Exiting => {}
        Finish::Refused => {
            cancel(st);
        }
        Finish::Saving(fan) => crate::cmd::coord::start_fanout_detached(st, fan),
    }
}

/// SHUTDOWN ABORT of a SIGTERM/SIGINT that shard 0 has not acted on yet (it waits while
/// a script is busy, as Redis's cron does not run then): the signal is forgotten, as
/// Redis clears `shutdown_asap`. False when there is none.
pub fn abort_pending_signal(shared: &Shared) -> bool {
    if shared.rdb.terminating.load(Ordering::SeqCst) || !crate::io::sock::TERMINATE.swap(false, Ordering::SeqCst) {
        return false;
    }
    log::notice("Shutdown manually aborted.");
    true
}

/// Ends the wait without exiting (SHUTDOWN ABORT, or a failed save): writes resume and
/// the blocked callers get Redis's error. Returns false when no wait was under way.
pub fn cancel(st: &mut ShardState) -> bool {
    let w = std::mem::take(&mut *lock(&st.shared));
    st.shared.repl.shutdown_paused.store(false, Ordering::SeqCst);
    if !w.active {
        return false;
    }
    if let Some(sig) = w.signal {
        log::warning(&format!(
            "{} received but errors trying to shut down the server, check the logs for more information",
            crate::io::sock::signal_name(sig)
        ));
    }
    // As Redis's cancelShutdown: a signal that asked for this shutdown is forgotten.
    crate::io::sock::TERMINATE.store(false, Ordering::SeqCst);
    st.shared.rdb.terminating.store(false, Ordering::Relaxed);
    let bytes = format!("-{FAILED}\r\n").into_bytes();
    for to in w.waiters {
        if st.shared.deliver(to.shard as usize, vec![Msg::Reply { to, bytes: bytes.clone() }]) {
            st.wakes.push(to.shard);
        }
    }
    true
}

/// SHUTDOWN ABORT: cancels a wait under way, or a signal's shutdown not yet begun
/// (true), as Redis's `abortShutdown`.
pub fn abort(st: &mut ShardState) -> bool {
    let active = lock(&st.shared).active;
    if !active {
        return abort_pending_signal(&st.shared);
    }
    // Quietly: the failure lines of `cancel` are for a shutdown that failed.
    lock(&st.shared).signal = None;
    cancel(st);
    log::notice("Shutdown manually aborted.");
    true
}
