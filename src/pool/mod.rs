//! `shardis-pool`: several shardis instances on one machine, one per NUMA node or as
//! the pool file says, each pinned to its node's CPUs with its memory bound there,
//! optionally forming one keyspace over the Redis Cluster protocol. A binary (not a
//! script) so it can share the cluster client, CRC16 and the CPU-list parser with the
//! server and need nothing else installed. See `docs/pools.md`.
//!
//! Files: `topology` (NUMA nodes from /sys or `--topology`), `spec` (pool file, quick
//! form, state file, generated shardis.conf), `ops` (up/down/status/restart/logs),
//! `cluster` (forming the cluster, rebalance), `units` (systemd units).

pub mod cluster;
pub mod ops;
pub mod spec;
pub mod topology;
pub mod units;
