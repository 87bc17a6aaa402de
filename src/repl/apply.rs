//! The rule that keeps a replica's snapshot cut and its replication offset in step.
//!
//! `processed` (the replica's offset) advances when shard 0, where the master
//! connection lives (`server::worker::replica`), dispatches a command of the stream,
//! and a cut (BGSAVE, a sub-replica's full sync: `persist::cut`) records it as the
//! snapshot's `repl-offset` or `+FULLRESYNC` offset. So every command counted before
//! the cut must be in the snapshot, and no command in the snapshot may be left out of
//! the count (a sub-replica, or a restart from the file, would get it again). A
//! command whose key another shard owns travels there as an `Exec` hop; without care,
//! the cut could stop that shard before the hop arrives (or the hop could wait behind
//! the cut's own lock) while shard 0 already counted it.
//!
//! Shard 0 knows the link by its connection's (slot, generation) (`LinkShard::slot`,
//! set when a master connection is adopted): its hops and their replies are counted
//! by that, not by client id, so the two counts agree for every hop it sent.
//!
//! 1. **Hops finish first.** Shard 0 holds back its grant of a whole-shard lock (a
//!    cut's, `cmd::coord::answer_granted` → [`fence_grant`]) while a hop of the link
//!    is unanswered (`LinkShard::hops`), and the master connection dispatches nothing
//!    while shard 0 is locked whole ([`link_gated`]). A cut's hops go out only once
//!    every shard granted, so by then every counted hop ran on its target.
//! 2. **Hops pass whole-shard locks.** A command of the link waits only for a
//!    *granted key lock* (a cross-shard transaction holding its keys, which finishes
//!    without the cut) and for the link's earlier commands, never for a whole-shard
//!    lock held or queued (`cmd::dispatch::must_defer` → [`must_wait`]): the cut waits
//!    for the hop, so the hop must not wait for the cut. Such a hop was sent before
//!    shard 0 granted the lock, so running it before the lock's work is running it in
//!    stream order.
//! 3. **Coordinated commands count when they finish.** A cross-shard transaction,
//!    EXEC or fan-out of the stream (FLUSHALL, SWAPDB) takes locks in the global order
//!    and may end up after a cut it was dispatched before; it is a barrier, so nothing
//!    of the stream runs after it until it replies. Its bytes are held ([`Held`]) and
//!    counted (and forwarded to our replicas) once its reply exists ([`settle`], run
//!    before replies are delivered and when shard 0 reaches a cut).
//!
//! 4. **Under `replica-apply-order strict`, runs of the stream apply as batches**
//!    (`repl::batch`). Keeping the stream's order across shards by waiting
//!    (`cmd::order`: the link's next command for another shard waits for its owed
//!    replies) costs a round trip between shard threads per change of shard. Instead,
//!    while nothing of the link is owed, a keyed command whose keys live on one shard
//!    opens a batch: it and the batchable commands after it queue as in MULTI, each
//!    with its db and shard (a SELECT joins too and only changes the db of the next
//!    ones), and the first command that is not batchable (MULTI/EXEC of the master,
//!    FLUSHALL, SWAPDB, a cross-shard command, PING, REPLCONF GETACK, PUBLISH ...), a
//!    full batch (1024 commands or 1 MiB), or the end of the parsed input closes it.
//!    A batch over several shards runs as one transaction on EXEC's coordinator
//!    (`cmd::multi_exec`): key locks on every shard it touches, in the global order,
//!    each shard's part in one message, locks released only after every part ran. A
//!    batch on one shard runs in one message there, without locks, if that shard's
//!    lock table is idle when it arrives (else as the others do); its hop counts as a
//!    hop of the link (rule 1) and its answer puts the batch's reply in place before
//!    it counts down. So a reader sees all of a batch or none of it, and batches, like
//!    every coordinated command, follow each other. A batch is a coordinated command
//!    of rule 3: a barrier whose bytes (the master's commands verbatim, never wrapped
//!    in MULTI/EXEC) are held and counted and forwarded once its reply exists, and the
//!    stream's db a cut records with the offset (`master_db`) is the one the batch's
//!    SELECTs left, set when its bytes count, as for a transaction of the master. The
//!    command that closed it waits behind it and runs as before. So rules 1–3 hold
//!    unchanged.
//!
//! Together: at a cut, the commands counted are exactly the ones that ran. Under
//! `replica-apply-order strict` a command of the link dispatched outside a batch
//! (while something is owed) still waits for its owed replies (`cmd::order`); that
//! holds requests back before dispatch and counting, so the rules stay as they are.
//! `REPLCONF ACK`s were already safe: they queue behind the replies still owed.

use crate::cmd::Args;
use crate::cmd::table::TABLE;
use crate::shard::lock::Waiting;
use crate::shard::{ReplyTo, ShardState};

/// A coordinated command of the master link whose bytes count once it finished.
pub struct Held {
    slot: u32,
    seq: u64,
    bytes: Vec<u8>,
    /// The stream's db after it (a batch or a transaction may SELECT): what a cut
    /// records with the offset once the bytes count, never before.
    db: u16,
}

/// A shard's part of applying the master link (`ShardState::link`).
#[derive(Default)]
pub struct LinkShard {
    /// On the link's shard: hops of the link sent and not answered yet.
    pub hops: u32,
    /// The master connection's (slot, generation): its hops' answers come there.
    slot: Option<(u32, u32)>,
    /// Whole-shard grants held back until `hops` is 0 (rule 1).
    fenced: Vec<Waiting>,
    /// The master connection stopped parsing because this shard is locked whole.
    pub gated: bool,
    /// The coordinated command in flight, if any (rule 3).
    pub held: Option<Held>,
}

/// A request of the connection at (slot, generation) of this shard hops to another
/// shard: counted if that connection is the master link (rule 1). The same test as
/// [`on_reply`]'s, so every hop counted is uncounted by its reply: the link may still
/// dispatch what it had read after `REPLICAOF NO ONE` (or a new `REPLICAOF`) made its
/// client id an ordinary one, and a count by client id then missed hops whose replies
/// [`on_reply`] counted down, wrapping `hops` and fencing the next cut forever.
#[inline]
pub fn on_hop(st: &mut ShardState, to: ReplyTo) {
    if st.link.slot == Some((to.slot, to.generation)) {
        st.link.hops += 1;
    }
}

/// Does a granted key lock hold one of this command's keys? Whole-shard locks and
/// queued requests do not count (rule 2).
fn key_locked(st: &ShardState, cmd: u16, args: &Args, db: u16) -> bool {
    match TABLE.get(cmd).key_positions(args, db) {
        Ok(keys) => keys.iter().any(|&(d, i)| st.locks.key_held(d, args.get(i))),
        Err(_) => false,
    }
}

/// `cmd::dispatch::must_defer` for a request of the master link (deferred on shard
/// 0): wait behind an earlier request of the link, or a granted key lock, never a
/// whole-shard lock (rule 2).
pub fn must_wait(st: &ShardState, client_id: u64, cmd: u16, args: &Args, db: u16) -> bool {
    st.deferred.iter().any(|d| d.client_id == client_id) || key_locked(st, cmd, args, db)
}

/// Called first by `answer_granted`: a whole-shard grant waits while a hop of the
/// link is unanswered (rule 1). Returns the request when it may be answered now.
#[inline]
pub fn fence_grant(st: &mut ShardState, w: Waiting) -> Option<Waiting> {
    if st.link.hops > 0 && matches!(w.plan, crate::shard::lock::LockPlan::Whole) && w.run.is_none() {
        st.link.fenced.push(w);
        return None;
    }
    Some(w)
}

/// May the master connection not dispatch now (this shard is locked whole, rule 1)?
/// Remembers that it stopped, so the worker queues it again once the lock is gone.
#[inline]
pub fn link_gated(st: &mut ShardState) -> bool {
    if st.locks.whole_holder().is_some() {
        st.link.gated = true;
        return true;
    }
    false
}

/// The master link's request just dispatched is a coordinated command (rule 3): hold
/// its bytes, and the stream's db after it, until it finishes.
pub fn hold(st: &mut ShardState, slot: u32, seq: u64, bytes: Vec<u8>, db: u16) {
    debug_assert!(st.link.held.is_none(), "a coordinated command is a barrier");
    st.link.held = Some(Held { slot, seq, bytes, db });
}

/// Counts the held coordinated command once its reply exists (in `local_replies`,
/// before the worker delivers them, or when this shard reaches a cut).
pub fn settle(st: &mut ShardState) {
    let Some(h) = &st.link.held else { return };
    let me = st.id as u16;
    if !st.local_replies.iter().any(|(to, _)| to.shard == me && to.slot == h.slot && to.seq == h.seq) {
        return;
    }
    let h = st.link.held.take().expect("checked");
    st.shared.replica.master_db.store(h.db, std::sync::atomic::Ordering::Relaxed);
    super::replica::applied(&st.shared, h.bytes.len());
    super::replica::forward(&st.shared, h.bytes);
}

/// A hop's answer reached this shard: one of the link's, if it is for the master
/// connection; the last one lets the held-back grants go (rule 1).
pub fn on_reply(st: &mut ShardState, to: ReplyTo) {
    if st.link.slot != Some((to.slot, to.generation)) {
        return;
    }
    debug_assert!(st.link.hops > 0, "a reply to the link for a hop never counted");
    st.link.hops = st.link.hops.saturating_sub(1);
    if st.link.hops == 0 {
        for w in std::mem::take(&mut st.link.fenced) {
            crate::cmd::coord::answer_granted(st, w);
        }
    }
}

/// A new master connection at (slot, generation): nothing of an earlier one is held,
/// gated or waited for.
pub fn reset(st: &mut ShardState, slot: u32, generation: u32) {
    st.link.held = None;
    st.link.gated = false;
    st.link.hops = 0;
    st.link.slot = Some((slot, generation));
    for w in std::mem::take(&mut st.link.fenced) {
        crate::cmd::coord::answer_granted(st, w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(slot: u32, generation: u32, seq: u64) -> ReplyTo {
        ReplyTo { shard: 0, slot, generation, seq }
    }

    /// Hops are counted by the link's connection, whoever its client id now is: the
    /// replies of hops it sent after `REPLICAOF NO ONE` must not count down hops that
    /// were never counted (that wrapped `hops` and fenced the next cut forever).
    #[test]
    fn hops_and_their_replies_are_counted_by_the_same_connection() {
        let mut h = crate::cmd::harness::Harness::new(2);
        let st = &mut h.shards[0];
        reset(st, 3, 7);
        on_hop(st, to(3, 7, 1));
        on_hop(st, to(3, 8, 2)); // the slot's next connection: not the link
        on_hop(st, to(4, 7, 3));
        assert_eq!(st.link.hops, 1);
        on_reply(st, to(3, 7, 1));
        on_reply(st, to(4, 7, 3));
        assert_eq!(st.link.hops, 0);
        // A new link: what the old one sent is neither waited for nor counted down.
        on_hop(st, to(3, 7, 4));
        reset(st, 5, 1);
        assert_eq!(st.link.hops, 0);
        on_reply(st, to(3, 7, 4));
        on_hop(st, to(5, 1, 1));
        assert_eq!(st.link.hops, 1);
    }
}
