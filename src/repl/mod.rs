//! Replication, as Redis 7.0 speaks it (PSYNC2): shardis as a master of Redis or
//! shardis replicas, and as a replica of a Redis or shardis master.
//!
//! - `state`: what every thread shares: the role, the replication ids and the offset
//!   of the one replication stream, and the queue of segments that feed it.
//! - `replica`: the replica side's shared state and design; `link`: the thread that
//!   connects to the master, handshakes and loads its RDB.
//!
//! The master side (the stream's assembly from every shard's propagation, the backlog,
//! serving replicas) and the replica side (the link to a master, loading its RDB,
//! applying its stream through `cmd::dispatch`) document themselves in their modules.

pub mod link;
pub mod replica;
pub mod state;

pub use state::{ReplState, Role};
