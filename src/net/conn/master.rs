//! The master link's side of a connection (a replica's link to its master): what its
//! requests count in the replication offset, and its batches (`repl::batch`).

use super::{Conn, Slot};
use crate::cmd::dispatch::{Outcome, dispatch_known};
use crate::cmd::{Args, Session};
use crate::shard::{ReplyTo, ShardState};

/// Queues a request of the master link in its open batch (or refuses it, with an
/// error nobody reads), noting its shard (`batched`: its command and shard).
pub(super) fn queue_in_batch(
    st: &mut ShardState,
    sess: &mut Session,
    owners: &mut Vec<u16>,
    batched: (u16, u16),
    args: &Args,
    to: ReplyTo,
) -> Outcome {
    let mut discarded = Vec::new();
    let outcome = dispatch_known(st, sess, batched.0, args, &mut discarded, to);
    if sess.multi.as_ref().is_some_and(|q| q.cmds.len() > owners.len()) {
        owners.push(batched.1);
    }
    outcome
}

impl Conn {
    /// The master's request just before `rpos` ran: it counts in the replication
    /// offset and goes on to our replicas. Inside MULTI nothing counts until EXEC (as
    /// in Redis): a link broken mid-transaction resumes before its MULTI, so the
    /// master sends the whole transaction again. `REPLCONF GETACK` is answered with
    /// the offset before it, as Redis does.
    #[cold]
    pub(super) fn master_applied(
        &mut self,
        st: &mut ShardState,
        consumed: usize,
        getack: bool,
        held: Option<(u32, u64)>,
    ) {
        let before = st.shared.replica.processed.load(std::sync::atomic::Ordering::Acquire);
        let bytes = &self.rbuf[self.rpos - consumed..self.rpos];
        if self.sess.multi.is_some() {
            self.master_pending.extend_from_slice(bytes);
        } else if let Some((slot, seq)) = held {
            let mut all = std::mem::take(&mut self.master_pending);
            all.extend_from_slice(bytes);
            // The db its SELECTs leave is the stream's once it counts (`apply::settle`).
            crate::repl::apply::hold(st, slot, seq, all, self.sess.db);
        } else {
            st.shared.replica.master_db.store(self.sess.db, std::sync::atomic::Ordering::Relaxed);
            let counted = self.master_pending.len() + bytes.len();
            self.master_batch.append(&mut self.master_pending);
            self.master_batch.extend_from_slice(bytes);
            crate::repl::replica::applied(&st.shared, counted);
        }
        if getack {
            self.push_ready(crate::repl::replica::ack_request(before));
        }
    }

    /// Ends the master link's open batch: it runs as one transaction, a barrier.
    #[cold]
    pub(super) fn close_batch(&mut self, st: &mut ShardState, slot: u32) {
        self.batch_len = 0;
        let seq = self.next_seq;
        self.next_seq += 1;
        let to = ReplyTo { shard: st.id as u16, slot, generation: self.generation, seq };
        let owners = std::mem::take(&mut self.batch_owners);
        crate::repl::batch::run_batch(st, &mut self.sess, to, std::mem::take(&mut self.master_pending), owners);
        self.slots.push_back(Slot { seq, reply: None, discard: true });
        self.barrier = Some(seq);
    }

    /// Discards the unparsed input (and a request held for later) and closes once
    /// what is queued went out: the link is no longer our master's. An open batch
    /// (`repl::apply` rule 4) is dropped too: none of it ran or counted yet, so the
    /// link ends as if it had broken before it.
    #[cold]
    pub(super) fn drop_input(&mut self) {
        if self.batch_len > 0 {
            self.batch_len = 0;
            self.sess.multi = None;
            self.master_pending.clear();
            self.batch_owners.clear();
        }
        self.rpos = self.rbuf.len();
        self.need = 0;
        self.paused_request = None;
        self.moved_args.clear();
        self.overflow = Vec::new();
        self.close_after_flush = true;
    }
}
