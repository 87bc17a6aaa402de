//! A turn's connections in stages, so that their cache misses overlap.
//!
//! At `-P 1` a turn holds a few connections' single requests (about five at `-c 50`),
//! and each used to be handled to the end before the next: its `Conn` lines, its
//! `ClientMeta`, the key's index chain, each a cache miss after the kernel's TCP work
//! evicted them, paid one after another. `net::lookahead` overlaps the key lookups of
//! one connection's pipelined batch; here the same is done across connections: the
//! reap first starts loading the `Conn` lines of every completion it holds, and the
//! parse first starts loading every queued connection's `ClientMeta` and walks
//! `storage::Warm`'s stages over their keys (`lookahead::AcrossConns`). Hints only:
//! what runs, and in what order, is unchanged.

use super::Worker;
use crate::io::{Op, Token};
use crate::net::lookahead::AcrossConns;
use crate::shard::state::ClientMeta;
use crate::storage::table::prefetch_write;

impl Worker {
    /// Before the reaped completions (and the quiet sends taken by the last enter)
    /// run: the `Conn` lines they touch, then the receives' read buffers' ends and the
    /// `ClientMeta`s that a settled send or the parse after a receive updates
    /// (`account_output`).
    pub(super) fn prefetch_reaped(&self, cqes: &[(u64, i32, u32)]) {
        if cqes.len() + self.quiet_taken.len() < 2 {
            return;
        }
        let conns = cqes.iter().map(|c| c.0).chain(self.quiet_taken.iter().copied()).filter_map(|ud| {
            let tok = Token::decode(ud)?;
            let conn = self.conns.get(tok.slot as usize)?.as_ref()?;
            Some((tok.op, conn))
        });
        for (op, c) in conns.clone() {
            if matches!(op, Op::Recv | Op::Send) {
                c.prefetch_hot();
            }
        }
        for (op, c) in conns {
            if op == Op::Recv {
                c.prefetch_input_end();
            }
            if matches!(op, Op::Recv | Op::Send) {
                self.prefetch_meta(c.sess.id);
            }
        }
    }

    /// Before the queued connections parse: their `ClientMeta`s (the parse's
    /// `account_output`), then the keys of those that hold one single-key request
    /// (marked `warmed_whole`: their own lookahead has nothing left to do).
    pub(super) fn warm_parse_queue(&mut self, queue: &[u32]) {
        if queue.len() < 2 {
            return;
        }
        let conns = queue.iter().filter_map(|&slot| self.conns.get(slot as usize)?.as_ref());
        for c in conns.clone() {
            self.prefetch_meta(c.sess.id);
        }
        let mut keys = AcrossConns::default();
        for &slot in queue {
            let Some(c) = self.conns.get_mut(slot as usize).and_then(|c| c.as_mut()) else { continue };
            c.warmed_whole = keys.add(&self.st, c.sess.db, c.skimmable_input());
        }
        keys.warm(&self.st);
    }

    /// Starts loading the whole `ClientMeta` of client `id` for a write (`sync_meta`
    /// writes fields all over it); the probe finding it is a load of its own.
    fn prefetch_meta(&self, id: u64) {
        let Some(m) = self.st.clients.get(&id) else { return };
        let start = (m as *const ClientMeta).cast::<u8>();
        for off in (0..size_of::<ClientMeta>()).step_by(64) {
            prefetch_write(start.wrapping_add(off));
        }
    }
}
