//! The worker's side of the inbox bound (`shard::msg`, "The inbox bound"): connections
//! that stopped parsing because some shard's inbox is full wait in `stalled` and are
//! parsed again once every inbox is back under the bound; one that also holds more
//! than `READ_PAUSE_BYTES` of unparsed input stops reading its socket (its multishot
//! receive is cancelled) until it parses again, so TCP pushes back on the client
//! instead of the read buffer growing towards `client-query-buffer-limit`.

use super::Worker;
use crate::io::{Op, Token};
use crate::net::Conn;
use std::sync::atomic::Ordering;

/// Unparsed bytes a stalled connection may hold before it stops reading its socket.
/// A few receive buffers' worth: enough that a pipelining client resumes at full
/// speed, small enough that thousands of stalled clients cost little.
const READ_PAUSE_BYTES: usize = 128 << 10;

/// Does `c` hold enough unparsed input to stop reading while it is stalled?
pub(super) fn past_read_pause(c: &Conn) -> bool {
    c.buffered_input() > READ_PAUSE_BYTES
}

/// Connection slots, in insertion order, with O(1) membership.
#[derive(Default)]
pub(super) struct SlotSet {
    list: Vec<u32>,
    mark: Vec<bool>,
}

impl SlotSet {
    /// Adds `slot`; false if it was there already.
    pub fn insert(&mut self, slot: u32) -> bool {
        let i = slot as usize;
        if self.mark.len() <= i {
            self.mark.resize(i + 1, false);
        }
        if self.mark[i] {
            return false;
        }
        self.mark[i] = true;
        self.list.push(slot);
        true
    }

    pub fn contains(&self, slot: u32) -> bool {
        self.mark.get(slot as usize).copied().unwrap_or(false)
    }

    /// Removes `slot`; false if it was not there.
    pub fn remove(&mut self, slot: u32) -> bool {
        if !self.contains(slot) {
            return false;
        }
        self.mark[slot as usize] = false;
        if let Some(pos) = self.list.iter().position(|&s| s == slot) {
            self.list.swap_remove(pos);
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Empties the set, returning its slots in insertion order.
    pub fn take_all(&mut self) -> Vec<u32> {
        for &s in &self.list {
            self.mark[s as usize] = false;
        }
        std::mem::take(&mut self.list)
    }
}

impl Worker {
    /// `slot` stopped parsing at the inbox bound.
    pub(super) fn on_flooded(&mut self, slot: u32) {
        if self.stalled.insert(slot) {
            self.st.shared.inboxes[self.st.id].stalls.fetch_add(1, Ordering::Relaxed);
        }
        if self.conns[slot as usize].as_ref().is_some_and(past_read_pause) {
            self.pause_reading(slot);
        }
    }

    /// Stops reading `slot`'s socket (cancels its multishot receive) until it parses
    /// again (`resume_reading`).
    pub(super) fn pause_reading(&mut self, slot: u32) {
        let Some(c) = self.conns[slot as usize].as_ref() else { return };
        if c.recv_active && self.unread.insert(slot) {
            let target = Token::new(Op::Recv, slot, c.generation).encode();
            self.ring.cancel(target, Token::new(Op::Cancel, slot, c.generation).encode());
        }
    }

    /// Every inbox is under the bound again: parse the stalled connections.
    pub(super) fn resume_stalled(&mut self) {
        for slot in self.stalled.take_all() {
            let Some(c) = self.conns[slot as usize].as_mut() else { continue };
            if !c.queued_for_parse {
                c.queued_for_parse = true;
                self.parse_queue.push(slot);
            }
        }
    }

    /// `slot` parsed all it could: if its reading was paused, read again. (A receive
    /// still being cancelled is re-armed by its `-ECANCELED` completion instead.)
    pub(super) fn resume_reading(&mut self, slot: u32) {
        if self.unread.remove(slot) {
            self.arm_recv(slot);
        }
    }

    /// May `slot`'s receive be re-armed (after it ended, cancelled or not)? Not while
    /// its reading is paused.
    pub(super) fn reading_allowed(&self, slot: u32) -> bool {
        !self.unread.contains(slot)
    }

    /// A connection slot was freed.
    pub(super) fn forget_flow(&mut self, slot: u32) {
        self.stalled.remove(slot);
        self.unread.remove(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::SlotSet;

    #[test]
    fn slot_set_keeps_one_of_each_in_order() {
        let mut s = SlotSet::default();
        assert!(s.insert(5) && s.insert(1) && !s.insert(5));
        assert!(s.contains(5) && !s.contains(2) && !s.contains(100));
        assert!(s.remove(5) && !s.remove(5));
        assert!(s.insert(7));
        assert_eq!(s.take_all(), vec![1, 7]);
        assert!(s.is_empty() && !s.contains(1));
        assert!(s.insert(1));
    }
}
