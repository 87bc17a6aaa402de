//! A shard: one thread's share of the keyspace plus everything that thread needs to run
//! commands against it and to talk to the other shards.
//!
//! Job: own the databases, the per-thread stats, the intent-lock table that makes
//! cross-shard commands atomic, the outboxes of messages to other shards, and the
//! table of cross-shard operations this thread coordinates.
//!
//! Non-goals: sockets (see `net`), command syntax (see `cmd`).
//!
//! Depends on: `storage`, `resp` (reply protocol flag), `config`, `util`, `io::alloc`
//! (the memory figure eviction checks).

pub mod block;
pub mod dbwatch;
pub mod evict;
pub mod histogram;
pub mod hopbatch;
pub mod lazyfree;
pub mod lock;
mod lockkeys;
pub mod msg;
pub mod pubsub;
pub mod shared;
pub mod slowlog;
pub mod state;
pub mod stats;
pub mod tracking;
pub mod turns;
pub mod watch;

pub use lock::{LockPlan, LockTable};
pub use msg::{Hop, HopResult, Msg, Outbox, OwnedArgs, ReplyTo};
pub use shared::Shared;
pub use state::{KeyEvent, ShardState};
pub use stats::{CmdStat, ShardStats};

/// The shard that owns `key`: by hash slot, honouring `{hash tags}`.
#[inline]
pub fn shard_of(key: &[u8], nshards: usize) -> usize {
    crate::util::hash::shard_of(key, nshards)
}
