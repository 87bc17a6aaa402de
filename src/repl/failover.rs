//! FAILOVER, as Redis 7.0 coordinates it between a master and one of its replicas.
//!
//! ```text
//!  FAILOVER [TO host port [FORCE]] [TIMEOUT ms]        (cmd::failover)
//!    state waiting-for-sync, client writes paused (`ReplState::failover_paused`),
//!    a cut makes every shard push what it wrote before the pause: the stream ends
//!    at the cut's mark (`barrier`).
//!  replication thread, every loop (`step`):
//!    the target (or any replica) acknowledged the whole stream -> failover-in-progress:
//!    this server follows the target (`replica::follow`), offering its own history
//!    timeout passed -> FORCE: go on anyway; else abort, writes resume
//!  link thread (`repl::link`): PSYNC <replid> <offset> FAILOVER to the target, which
//!    promotes itself and answers +CONTINUE (or +FULLRESYNC) -> `clear`: writes resume
//!    (and now get -READONLY); an error reply -> `abort`: master again.
//! ```
//!
//! The receiving side (a replica getting `PSYNC ... FAILOVER` from its master) is in
//! `cmd::repl`: it promotes itself when the replid is its own, as Redis does.
//!
//! Why a cut rather than reading the offset at once: shards feed the stream at the end
//! of their turn, so right after the pause a write of a turn that began before it may
//! still be on its way. After the cut's rendezvous every shard has pushed its earlier
//! writes and sees the pause, so the stream's end after the mark is final. (Expiry is
//! paused too: active expiry skips its cycle while the flag is set.)

use super::replica;
use crate::shard::Shared;
use crate::util::log;
use std::sync::atomic::Ordering;

/// Where a failover is (INFO `master_failover_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    None,
    WaitForSync,
    InProgress,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::None => "no-failover",
            Phase::WaitForSync => "waiting-for-sync",
            Phase::InProgress => "failover-in-progress",
        }
    }
}

/// The failover under way, if any (`ReplState::failover`).
#[derive(Clone, Debug, Default)]
pub struct Failover {
    pub phase: Phase,
    /// TO host port; None until a replica is chosen when FAILOVER named none.
    pub target: Option<(String, u16)>,
    /// Unix ms after which the wait for sync ends (0: no TIMEOUT).
    pub deadline_ms: u64,
    pub force: bool,
    /// The stream's offset at the cut taken after the pause, once reached.
    pub barrier: Option<u64>,
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Failover> {
    shared.repl.failover.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn phase(shared: &Shared) -> Phase {
    lock(shared).phase
}

/// Starts a failover (the command checked everything): pause writes, then a cut fixes
/// where the stream ends.
pub fn begin(st: &mut crate::shard::ShardState, target: Option<(String, u16)>, timeout_ms: u64, force: bool) {
    let shared = st.shared.clone();
    {
        let mut f = lock(&shared);
        *f = Failover {
            phase: Phase::WaitForSync,
            target,
            deadline_ms: if timeout_ms > 0 { Shared::now_unix_ms() + timeout_ms } else { 0 },
            force,
            barrier: None,
        };
        shared.repl.failover_paused.store(true, Ordering::SeqCst);
    }
    let fan = crate::persist::cut::cut(
        |w: &mut crate::persist::cut::World| super::fullsync::position_at_cut(w.shared).map(|p| p.1),
        None,
        |st: &mut crate::shard::ShardState, at: Option<Option<u64>>, _out: &mut crate::resp::ReplyWriter| {
            let shared = st.shared.clone();
            let mut f = lock(&shared);
            if f.phase == Phase::WaitForSync {
                // Without a position (shutting down) the current offset is the best known.
                f.barrier = Some(at.flatten().unwrap_or_else(|| shared.repl.offset.load(Ordering::Acquire)));
            }
            drop(f);
            shared.repl.wake();
        },
    );
    crate::cmd::coord::start_fanout_detached(st, fan);
}

/// Ends the failover (done or given up): writes resume.
pub fn clear(shared: &Shared) {
    *lock(shared) = Failover::default();
    shared.repl.failover_paused.store(false, Ordering::SeqCst);
}

/// Gives the failover up; a server that already followed its target is a master again.
pub fn abort(shared: &Shared, why: &str) {
    let f = lock(shared).clone();
    if f.phase == Phase::None {
        return;
    }
    match &f.target {
        Some((h, p)) => log::notice(&format!("FAILOVER to {h}:{p} aborted: {why}")),
        None => log::notice(&format!("FAILOVER to any replica aborted: {why}")),
    }
    if f.phase == Phase::InProgress {
        replica::promote(shared);
    }
    clear(shared);
}

/// A replica as the replication thread sees it: (ip, listening port, acked offset,
/// online).
pub type Candidate<'a> = (&'a str, u16, u64, bool);

/// The replication thread's step: `end` is the stream's end (master_repl_offset).
/// Returns true when this server just started following the target (the caller wakes
/// shard 0, which starts the link).
pub fn step(shared: &Shared, replicas: &[Candidate], end: u64, now_ms: u64) -> bool {
    let mut f = lock(shared);
    if f.phase != Phase::WaitForSync {
        return false;
    }
    if f.deadline_ms != 0 && now_ms >= f.deadline_ms {
        if f.force {
            let (h, p) = f.target.clone().unwrap_or_default();
            log::notice(&format!("FAILOVER to {h}:{p} time out exceeded, failing over."));
            f.phase = Phase::InProgress;
            drop(f);
            replica::follow(shared, &h, p, false);
            return true;
        }
        drop(f);
        abort(shared, "Replica never caught up before timeout");
        return false;
    }
    if f.barrier.is_none() {
        return false;
    }
    let synced = |r: &Candidate| r.3 && r.2 == end;
    let chosen = match &f.target {
        Some((h, p)) => replicas.iter().find(|r| r.0.eq_ignore_ascii_case(h) && r.1 == *p).filter(|r| synced(r)),
        None => replicas.iter().find(|r| synced(r)),
    };
    let Some(r) = chosen else { return false };
    let (h, p) = (r.0.to_string(), r.1);
    f.target = Some((h.clone(), p));
    f.phase = Phase::InProgress;
    drop(f);
    log::notice(&format!("Failover target {h}:{p} is synced, failing over."));
    replica::follow(shared, &h, p, false);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_have_redis_names() {
        assert_eq!(Phase::None.name(), "no-failover");
        assert_eq!(Phase::WaitForSync.name(), "waiting-for-sync");
        assert_eq!(Phase::InProgress.name(), "failover-in-progress");
    }
}
