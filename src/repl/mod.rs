//! Replication, as Redis 7.0 speaks it (PSYNC2): shardis as a master of Redis or
//! shardis replicas, and as a replica of a Redis or shardis master.
//!
//! - `state`: what every thread shares: the role, the replication ids and the offset
//!   of the one replication stream, and the queue of segments that feed it.
//! - `feed`: each shard's contribution to the stream (fed by the same propagation as
//!   the AOF, `persist::log::ShardLog`) and the assembler that merges the shards'
//!   segments into one stream (cross-shard parts joined into one MULTI/EXEC).
//! - `backlog`: the shared replication buffer (blocks referenced by the backlog window
//!   and by each replica's send position).
//! - `master`: the replication thread (assembly, backlog, serving replicas), with
//!   `master::sync` (PSYNC's answer, a full sync's cut and transfer) and
//!   `master::publish` (INFO rows, WAIT, min-replicas-to-write);
//!   `master_replica`: one replica's connection, sends, ACKs and output limits.
//! - `fullsync`: the cut and fork of a full sync's snapshot.
//! - `apply`: the rule that a replica's snapshot cut records the offset of exactly
//!   what it holds (the master link's hops finish before the cut); `batch`: the
//!   link's batches under `replica-apply-order strict`.
//! - `failover`: FAILOVER's coordination (pause, wait for the target, hand over).
//! - `info`: INFO `# Replication`.
//! - `replica`: the replica side's shared state and design; `link`: the thread that
//!   connects to the master, handshakes and receives its RDB (`payload`: the
//!   transfer as a reader that ends where it does); `load`: decoding it there while
//!   every shard thread inserts its own keys.
//!
//! The replica side (the link to a master, loading its RDB, applying its stream
//! through `cmd::dispatch`) documents itself in its modules.

pub mod apply;
pub mod backlog;
pub mod batch;
pub mod failover;
pub mod feed;
pub mod fullsync;
pub mod info;
pub mod link;
pub mod load;
pub mod master;
mod master_replica;
pub mod payload;
pub mod replica;
pub mod shutdown;
pub mod state;

pub use state::{ReplState, Role};
