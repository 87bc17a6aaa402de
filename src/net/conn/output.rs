//! A connection's output side: the reply slots that keep replies in request order,
//! the ready buffer, and output held for the log (`persist`).

use super::{Conn, OUTPUT_HIGH_WATER, SPARE_MAX, Slot, WAIT_HOLD_MAX};

impl Conn {
    /// Is its output kept back for now? While a parsed request waits for the replies
    /// owed by another shard (`cmd::order`), those replies, and the requests after it,
    /// come within a round trip between the shard threads: sent at once, a pipeline
    /// that changes shard eight times would go out in eight pieces, each a send (the
    /// costliest step of a request at `-P 16`) and a wake-up of the client. So the
    /// output waits for the wait to end, up to `WAIT_HOLD_MAX` bytes. The wait ends
    /// when the owed replies land (`after_fill`), which queues the send.
    pub fn holds_output(&self) -> bool {
        self.drain_wait && self.out.len() < WAIT_HOLD_MAX
    }

    /// So much output waits that parsing stops (`OUTPUT_HIGH_WATER`).
    pub fn output_backlogged(&self) -> bool {
        self.out.len() + self.sending.len() > OUTPUT_HIGH_WATER
    }

    /// Output bytes the kernel has not taken yet: ready, in flight, held for the log,
    /// and replies that wait behind an earlier one (what `client-output-buffer-limit`
    /// counts).
    pub fn output_bytes(&self) -> usize {
        self.out.len() + self.sending.len().saturating_sub(self.send_off) + self.held_bytes + self.slot_bytes
    }

    /// Drops every byte of output not in flight (the client is being closed for its
    /// output limit: nothing more will be sent, and the memory goes now).
    pub fn discard_output(&mut self) {
        self.out = Vec::new();
        self.spare = Vec::new();
        self.held.clear();
        self.held_bytes = 0;
        for s in self.slots.iter_mut() {
            if let Some(r) = s.reply.take() {
                self.slot_bytes -= r.len();
                s.reply = Some(Vec::new());
            }
        }
    }

    /// Turns the output ready now into a chunk held until the log reaches offset
    /// `need` (`persist`).
    pub fn hold(&mut self, need: u64) {
        let fresh = std::mem::take(&mut self.spare);
        let chunk = std::mem::replace(&mut self.out, fresh);
        self.held_bytes += chunk.len();
        self.held.push_back((need, chunk));
    }

    /// Moves the held chunks the log has cleared (offset <= `cleared`) into `sending`.
    /// Returns false if none is cleared yet. Only when no send is in flight.
    pub fn take_cleared(&mut self, cleared: u64) -> bool {
        debug_assert!(!self.send_inflight);
        self.sending.clear();
        while self.held.front().is_some_and(|(need, _)| *need <= cleared) {
            let (_, chunk) = self.held.pop_front().expect("checked");
            self.held_bytes -= chunk.len();
            if self.sending.is_empty() {
                let mut old = std::mem::replace(&mut self.sending, chunk);
                if old.capacity() > self.spare.capacity() && old.capacity() <= SPARE_MAX {
                    old.clear();
                    self.spare = old;
                }
            } else {
                self.sending.extend_from_slice(&chunk);
            }
        }
        !self.sending.is_empty()
    }

    /// Queues an already complete reply behind whatever is pending.
    pub fn push_ready(&mut self, bytes: Vec<u8>) {
        if self.slots.is_empty() {
            self.out.extend_from_slice(&bytes);
        } else {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.slot_bytes += bytes.len();
            self.slots.push_back(Slot { seq, reply: Some(bytes), discard: false });
        }
    }

    /// A reply for request `seq` arrived. Returns true if it lifted the barrier or
    /// reopened the reply window (the caller should parse this connection's remaining
    /// input).
    pub fn fill_reply(&mut self, seq: u64, bytes: Vec<u8>) -> bool {
        self.note_reply_size(bytes.len());
        if let Some(s) = self.slots.iter_mut().find(|s| s.seq == seq) {
            self.slot_bytes += bytes.len();
            s.reply = Some(bytes);
        }
        self.sync_reply_order();
        self.after_fill(seq)
    }

    /// `fill_reply` for a reply read from a packed buffer (`shard::hopbatch`): the
    /// request next in line (the usual case) gets it copied straight into the output;
    /// one behind an earlier request still owed keeps a copy in its slot.
    pub fn fill_reply_from(&mut self, seq: u64, bytes: &[u8]) -> bool {
        self.note_reply_size(bytes.len());
        if self.slots.front().is_some_and(|s| s.seq == seq && s.reply.is_none()) {
            let s = self.slots.pop_front().expect("checked");
            if !s.discard {
                self.out.extend_from_slice(bytes);
            }
        } else if let Some(s) = self.slots.iter_mut().find(|s| s.seq == seq) {
            self.slot_bytes += bytes.len();
            s.reply = Some(bytes.to_vec());
        }
        self.sync_reply_order();
        self.after_fill(seq)
    }

    fn note_reply_size(&mut self, len: usize) {
        self.avg_reply = if self.avg_reply == 0 { len.max(1) } else { (self.avg_reply * 7 + len) / 8 };
    }

    /// After reply `seq` arrived: did it lift the barrier or reopen the window?
    fn after_fill(&mut self, seq: u64) -> bool {
        if self.drain_wait && self.slots.is_empty() {
            self.drain_wait = false;
            return true;
        }
        if self.barrier == Some(seq) {
            self.barrier = None;
            return true;
        }
        if self.window_full && self.slots.len() < self.reply_window() {
            self.window_full = false;
            return true;
        }
        false
    }

    /// How many replies may be owed at once: as many as fit under the output
    /// high-water mark at the connection's average reply size (16 until one came
    /// back), between 4 and 1024. Without it, a client pipelining GETs of a big value
    /// on another shard would make that shard build every reply at once, whatever the
    /// output limits say.
    pub(super) fn reply_window(&self) -> usize {
        OUTPUT_HIGH_WATER.checked_div(self.avg_reply).map_or(16, |n| n.clamp(4, 1024))
    }

    /// Moves the ready prefix of the slot queue to the output buffer.
    pub(super) fn sync_reply_order(&mut self) {
        while let Some(front) = self.slots.front() {
            if front.reply.is_none() {
                break;
            }
            let s = self.slots.pop_front().expect("front exists");
            let reply = s.reply.expect("checked");
            self.slot_bytes -= reply.len();
            if !s.discard {
                self.out.extend_from_slice(&reply);
            }
        }
        if self.slots.is_empty() {
            self.blocked = false;
            self.running_argv = 0;
        }
    }
}
