//! Consumer groups of a stream: the group's last delivered ID and read counter, its
//! pending entries list (PEL: delivered, not yet acknowledged) and its consumers, each
//! with its own view of the PEL.
//!
//! The group PEL maps an ID to its pending record (owner, delivery time and count);
//! each consumer keeps the set of IDs it owns, so that per-consumer listings (XPENDING
//! ... consumer, XINFO) are ordered walks, as with Redis's two rax trees.
//!
//! Non-goals: RESP, command syntax, propagation (see `cmd::stream_group`).
//!
//! Depends on: std, `storage::stream` (IDs).

use super::stream::StreamId;
use std::collections::{BTreeMap, BTreeSet};

/// A delivered, unacknowledged entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub consumer: Vec<u8>,
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Consumer {
    /// Unix ms of the consumer's last interaction (Redis 7.0's `seen-time`).
    pub seen_time: u64,
    /// IDs pending for this consumer.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries the group read, None when unknown (Redis's SCG_INVALID_ENTRIES_READ).
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group { last_id, entries_read, ..Default::default() }
    }

    /// The consumer `name`, created (seen now) if missing; true in `.1` when created.
    pub fn consumer(&mut self, name: &[u8], now_ms: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c =
            self.consumers.entry(name.to_vec()).or_insert_with(|| Consumer { seen_time: now_ms, pel: BTreeSet::new() });
        (c, created)
    }

    /// The group moves past `id` (XREADGROUP `>`): Redis's read-counter update, then
    /// the last ID.
    pub fn advance(&mut self, meta: &super::stream::Meta, id: StreamId) {
        if id <= self.last_id {
            return;
        }
        if self.entries_read.is_some() && !meta.has_tombstones_from(id) {
            self.entries_read = self.entries_read.map(|n| n + 1);
        } else if meta.entries_added != 0 {
            self.entries_read = meta.estimate_distance(id);
        }
        self.last_id = id;
    }

    /// Delivers `id` to `consumer` (XREADGROUP): a new pending record, or an existing
    /// one reassigned with its count reset to 1, as Redis does.
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now_ms: u64) {
        if let Some(old) = self.pel.get(&id)
            && let Some(c) = self.consumers.get_mut(&old.consumer)
        {
            c.pel.remove(&id);
        }
        self.pel.insert(id, Pending { consumer: consumer.to_vec(), delivery_time: now_ms, delivery_count: 1 });
        self.consumer(consumer, now_ms).0.pel.insert(id);
    }

    /// Moves a pending record to `consumer` (XCLAIM), with the given time and count.
    pub fn claim(&mut self, id: StreamId, consumer: &[u8], time: u64, count: u64, now_ms: u64) {
        if let Some(old) = self.pel.get(&id)
            && let Some(c) = self.consumers.get_mut(&old.consumer)
        {
            c.pel.remove(&id);
        }
        self.pel.insert(id, Pending { consumer: consumer.to_vec(), delivery_time: time, delivery_count: count });
        self.consumer(consumer, now_ms).0.pel.insert(id);
    }

    /// Acknowledges `id`; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(p) = self.pel.remove(&id) else { return false };
        if let Some(c) = self.consumers.get_mut(&p.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Deletes a consumer and its pending entries; returns how many were pending.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    pub fn heap_bytes(&self) -> usize {
        let pel: usize = self.pel.values().map(|p| 64 + p.consumer.capacity()).sum();
        let cons: usize = self.consumers.iter().map(|(n, c)| 64 + n.capacity() + c.pel.len() * 24).sum();
        64 + pel + cons
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliver_claim_ack_keep_both_views_in_step() {
        let mut g = Group::new(StreamId::ZERO, Some(0));
        let id = StreamId::new(1, 0);
        g.deliver(id, b"alice", 10);
        assert!(g.consumers[&b"alice"[..]].pel.contains(&id));
        g.claim(id, b"bob", 20, 5, 20);
        assert!(g.consumers[&b"alice"[..]].pel.is_empty());
        assert_eq!(g.pel[&id].delivery_count, 5);
        g.deliver(id, b"alice", 30);
        assert_eq!(g.pel[&id].delivery_count, 1);
        assert!(g.consumers[&b"bob"[..]].pel.is_empty());
        assert!(g.ack(id));
        assert!(!g.ack(id));
        assert!(g.consumers[&b"alice"[..]].pel.is_empty());
        g.deliver(id, b"alice", 40);
        assert_eq!(g.delete_consumer(b"alice"), Some(1));
        assert!(g.pel.is_empty());
    }
}
