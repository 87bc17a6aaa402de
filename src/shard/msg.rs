//! Messages between shards, and the per-destination outboxes that batch them.
//!
//! Every message travels in a `Vec<Msg>` batch: a thread appends to the outbox of each
//! destination during its loop turn and pushes one batch per destination at the end of
//! the turn, so a pipelined burst costs one queue operation and at most one wakeup per
//! destination shard.

use super::lock::LockPlan;
use crate::resp::Proto;
use crate::storage::Entry;
use std::any::Any;
use std::sync::Arc;

/// Where a reply must go: a connection slot on a shard, and the request's sequence
/// number on that connection (replies are put back in request order by the owner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyTo {
    pub shard: u16,
    pub slot: u32,
    pub generation: u32,
    pub seq: u64,
}

/// A request's arguments copied out of a connection's read buffer, so they can travel
/// to another thread or wait in a deferral queue.
#[derive(Clone, Debug, Default)]
pub struct OwnedArgs {
    pub data: Vec<u8>,
    pub ends: Vec<u32>,
}

impl OwnedArgs {
    pub fn from_slices<'a>(args: impl Iterator<Item = &'a [u8]>) -> OwnedArgs {
        let mut o = OwnedArgs::default();
        for a in args {
            o.data.extend_from_slice(a);
            o.ends.push(o.data.len() as u32);
        }
        o
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }
}

/// A keyed command to run on the shard that owns its keys.
pub struct ExecReq {
    pub to: ReplyTo,
    pub client_id: u64,
    pub db: u16,
    pub proto: Proto,
    /// Index into the command table.
    pub cmd: u16,
    pub args: OwnedArgs,
}

/// The result a hop sends back to its coordinator.
pub type HopResult = Box<dyn Any + Send>;
/// Work run on every shard of a fan-out (DBSIZE, KEYS, INFO, CLIENT LIST ...).
pub type Hop = Arc<dyn Fn(&mut super::ShardState) -> HopResult + Send + Sync>;

/// Keys gathered from (or scattered back to) a shard by a cross-shard command:
/// (db, key, the entry or None when the key is absent).
pub type KeyEntries = Vec<(u16, Vec<u8>, Option<Entry>)>;

/// Identifies a coordinator: the shard running it and its id there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoordRef {
    pub shard: u16,
    pub id: u64,
}

pub enum Msg {
    /// Run a keyed command here.
    Exec(Box<ExecReq>),
    /// A finished reply for one of this shard's connections.
    Reply {
        to: ReplyTo,
        bytes: Vec<u8>,
    },
    /// Take intent locks for transaction `tx` (in global tx order). When granted, answer
    /// `Locked`, carrying copies of the locked keys' entries if `gather`.
    Lock {
        tx: u64,
        coord: CoordRef,
        plan: LockPlan,
        gather: bool,
    },
    Locked {
        coord: u64,
        shard: u16,
        entries: KeyEntries,
    },
    /// Run a hop here and answer `Ran`.
    Run {
        coord: CoordRef,
        hop: Hop,
    },
    Ran {
        coord: u64,
        shard: u16,
        result: HopResult,
    },
    /// Park one part of a blocking wait whose keys span shards.
    Park(Box<super::block::Waiter>),
    /// Apply the final state of gathered keys (if any) and release `tx`'s locks.
    Release {
        tx: u64,
        writes: KeyEntries,
    },
    /// Keyspace notifications raised on another shard: (channel, message) pairs to
    /// deliver to this thread's subscribers, in order.
    Publish(Arc<Vec<(Vec<u8>, Vec<u8>)>>),
}

impl Msg {
    /// Does this message carry results that may reflect writes not yet logged? Those
    /// wait for the sender's log; requests and lock traffic never do (lock requests
    /// must reach every shard in global order).
    pub fn reveals_state(&self) -> bool {
        matches!(self, Msg::Reply { .. } | Msg::Locked { .. } | Msg::Ran { .. })
    }
}

/// Messages waiting to leave this thread, one vector per destination shard.
pub struct Outbox {
    pub per_dest: Vec<Vec<Msg>>,
    pub dirty: Vec<u16>,
}

impl Outbox {
    pub fn new(nshards: usize) -> Outbox {
        Outbox { per_dest: (0..nshards).map(|_| Vec::new()).collect(), dirty: Vec::new() }
    }

    pub fn push(&mut self, dest: usize, msg: Msg) {
        let v = &mut self.per_dest[dest];
        if v.is_empty() {
            self.dirty.push(dest as u16);
        }
        v.push(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_args_round_trip() {
        let a = OwnedArgs::from_slices([&b"set"[..], b"", b"value"].into_iter());
        assert_eq!(a.len(), 3);
        assert_eq!(a.get(0), b"set");
        assert_eq!(a.get(1), b"");
        assert_eq!(a.get(2), b"value");
    }
}
