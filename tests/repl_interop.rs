//! Replication across implementations and hops, under a concurrent write load:
//! - redis-server → shardis → redis-server and shardis → shardis → shardis chains
//!   (1 and 4 shards): after the load stops, every hop has the master's offset,
//!   `DEBUG DIGEST` and logical dump (all 16 dbs, types, values, absolute expiries);
//! - partial resync after a killed link, after a replica restart and after a master
//!   restart: the master's `sync_partial_ok` rises and `sync_full` does not.
//!
//! Links go through a [`LinkProxy`], so a test can cut them (as a network failure
//! would) or point them at a master restarted on another port without relying on
//! either server's commands. `SHARDIS_REPL_ALL_REDIS=1` runs every test with
//! redis-server in place of shardis, which proves the tests against the reference.

use crate::common;

use common::SHARD_COUNTS;
use common::repl::{Kind, LinkProxy, Load, Node, assert_converged, wait_in_sync};
use std::time::Duration;

const SYNC: Duration = Duration::from_secs(60);
/// Every node starts a full sync at once instead of after the default 5 s of waiting
/// for more replicas (`repl-diskless-sync-delay`): no test here is about that delay,
/// and each full sync would otherwise cost 5 s.
const NO_DELAY: &[&str] = &["--repl-diskless-sync-delay", "0"];

/// A chain master → a → b, each link through a proxy, loaded while the replicas
/// attach and for a while after; then every hop must converge.
fn chain(master: Kind, mid: Kind, leaf: Kind, seed: u64) {
    let m = Node::start(master, NO_DELAY);
    // Data before the replicas attach goes through the full sync.
    let pre = Load::start(m.port, seed);
    pre.wait_ops(3000, SYNC);
    let a = Node::start(mid, NO_DELAY);
    let b = Node::start(leaf, NO_DELAY);
    let (pa, pb) = (LinkProxy::start(m.port), LinkProxy::start(a.port));
    a.replicaof(Some(pa.port));
    b.replicaof(Some(pb.port));
    // The stream carries the rest of the load, including the FLUSHALL at op 7000.
    pre.wait_ops(12_000, SYNC);
    pre.stop();
    assert_converged(&[&m, &a, &b], SYNC);
    // Sub-replicas see the top master's replication id.
    let id = |n: &Node| n.info("replication").get("master_replid").cloned();
    assert_eq!(id(&a), id(&m), "the middle replica takes the master's replid");
    assert_eq!(id(&b), id(&m), "the leaf replica takes the top master's replid");
    assert!(m.logical_dump().len() > 100, "the load left data to compare");
}

#[test]
fn chain_redis_shardis_redis() {
    for (i, shards) in SHARD_COUNTS.into_iter().enumerate() {
        chain(Kind::Redis, Kind::shardis(shards), Kind::Redis, 11 + i as u64);
    }
}

#[test]
fn chain_shardis_shardis_shardis() {
    for (i, shards) in SHARD_COUNTS.into_iter().enumerate() {
        chain(Kind::shardis(shards), Kind::shardis(shards), Kind::shardis(shards), 21 + i as u64);
    }
}

/// Master and replica linked through a proxy, in sync after an initial load.
struct Pair {
    master: Node,
    replica: Node,
    proxy: LinkProxy,
}

fn pair(master: Kind, replica: Kind, seed: u64, master_flags: &[&str]) -> Pair {
    let m = Node::start(master, master_flags);
    let load = Load::start(m.port, seed);
    load.wait_ops(4000, SYNC);
    load.stop();
    let proxy = LinkProxy::start(m.port);
    let r = Node::start(replica, NO_DELAY);
    r.replicaof(Some(proxy.port));
    wait_in_sync(&m, &r, SYNC);
    Pair { master: m, replica: r, proxy }
}

/// Asserts that since `before` (sync_full, sync_partial_ok) the master counted one
/// more partial resync and no full one.
fn assert_partial(master: &Node, before: (u64, u64, u64), what: &str) {
    let after = master.sync_counts();
    assert_eq!(after.0, before.0, "{what}: sync_full rose ({before:?} -> {after:?})");
    assert!(after.1 > before.1, "{what}: sync_partial_ok did not rise ({before:?} -> {after:?})");
}

fn partial_after_killed_link(master: Kind, replica: Kind, seed: u64) {
    let p = pair(master, replica, seed, NO_DELAY);
    let before = p.master.sync_counts();
    // Writes while the link is down must come from the backlog.
    let load = Load::start(p.master.port, seed + 1);
    load.wait_ops(2000, SYNC);
    let attempts = p.proxy.accepted();
    p.proxy.cut();
    load.wait_ops(load.ops() + 3000, SYNC);
    load.stop();
    assert!(
        common::wait_until(SYNC, || p.proxy.accepted() > attempts),
        "the replica did not reconnect after the link was cut"
    );
    assert_converged(&[&p.master, &p.replica], SYNC);
    assert_partial(&p.master, before, "killed link");
    assert!(p.replica.info("replication").get("master_link_status").is_some_and(|s| s == "up"));
}

#[test]
fn partial_resync_after_killed_link() {
    for (i, shards) in SHARD_COUNTS.into_iter().enumerate() {
        let s = 100 + 10 * i as u64;
        partial_after_killed_link(Kind::shardis(shards), Kind::shardis(shards), s);
        partial_after_killed_link(Kind::shardis(shards), Kind::Redis, s + 2);
        partial_after_killed_link(Kind::Redis, Kind::shardis(shards), s + 4);
    }
}

fn partial_after_replica_restart(master: Kind, replica: Kind, seed: u64) {
    let mut p = pair(master, replica, seed, NO_DELAY);
    // End the stream in db 3: the replica's RDB must record that (`repl-stream-db`),
    // as the master continues there without a SELECT.
    let mut mc = p.master.conn();
    redis::cmd("SELECT").arg(3).query::<()>(&mut mc).unwrap();
    redis::cmd("SET").arg("restart:anchor").arg(seed).query::<()>(&mut mc).unwrap();
    wait_in_sync(&p.master, &p.replica, SYNC);
    let before = p.master.sync_counts();
    // A clean shutdown writes the replica's RDB with the master's repl-id/repl-offset.
    p.replica.shutdown_save();
    // The first writes the replica misses stay in db 3: no SELECT precedes them.
    for i in 0..50 {
        redis::cmd("SET").arg(format!("restart:db3:{i}")).arg(i).query::<()>(&mut mc).unwrap();
    }
    let in_db3: u64 = redis::cmd("DBSIZE").query(&mut mc).unwrap();
    assert!(in_db3 >= 51, "the writes went to db 3");
    // Writes while the replica is down must come from the master's backlog.
    let load = Load::start(p.master.port, seed + 1);
    load.wait_ops(2000, SYNC);
    load.stop();
    // Restarted with the directive (as Redis, a replica caches its master from the RDB
    // only when it starts as a replica).
    let port = p.proxy.port.to_string();
    p.replica.restart(&["--replicaof", "127.0.0.1", &port]);
    assert_converged(&[&p.master, &p.replica], SYNC);
    assert_partial(&p.master, before, "replica restart");
}

#[test]
fn partial_resync_after_replica_restart() {
    for (i, shards) in SHARD_COUNTS.into_iter().enumerate() {
        let s = 200 + 10 * i as u64;
        partial_after_replica_restart(Kind::shardis(shards), Kind::shardis(shards), s);
        partial_after_replica_restart(Kind::Redis, Kind::shardis(shards), s + 2);
    }
}

fn partial_after_master_restart(master: Kind, replica: Kind, seed: u64) {
    // Nothing may move the master's offset between the read below and SHUTDOWN: no
    // PING to the replica (its period, 10 s by default, could fall in between) and no
    // DEL of an expiring key (the load sets TTLs of a second or two), so active expiry
    // is off from here.
    let mut p = pair(master, replica, seed, &["--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "3600"]);
    let _: () = redis::cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query(&mut p.master.conn()).unwrap();
    let offset = p.master.info_u64("replication", "master_repl_offset");
    // A clean shutdown writes the RDB with repl-id/repl-offset; the restarted master
    // (on another port: the proxy follows it) accepts the replica's PSYNC.
    p.master.shutdown_save();
    p.master.restart(&[]);
    p.proxy.retarget(p.master.port);
    // Keys whose TTL passed while it was down are dropped by the load and go to the
    // backlog as DELs, as Redis 7.0's reboot load feeds them (`RDBFLAGS_FEED_REPL`):
    // the offset resumes where it was, plus those (and plus any key active expiry
    // deleted since; the partial resync and convergence below check the rest).
    let resumed = p.master.info_u64("replication", "master_repl_offset");
    let expired = p.master.info_u64("persistence", "rdb_last_load_keys_expired");
    assert!(resumed >= offset, "the restarted master resumes its replication offset: {offset}, now {resumed}");
    assert!(expired == 0 || resumed > offset, "{expired} keys expired at load were not fed to the backlog");
    // The replica may still believe the old link is up: cut it so it reconnects now.
    p.proxy.cut();
    // The restarted master's counters start at zero.
    let before = (0, 0, 0);
    let load = Load::start(p.master.port, seed + 1);
    load.wait_ops(3000, SYNC);
    load.stop();
    assert_converged(&[&p.master, &p.replica], SYNC);
    assert_partial(&p.master, before, "master restart");
}

#[test]
fn partial_resync_after_master_restart() {
    for (i, shards) in SHARD_COUNTS.into_iter().enumerate() {
        let s = 300 + 10 * i as u64;
        partial_after_master_restart(Kind::shardis(shards), Kind::shardis(shards), s);
        partial_after_master_restart(Kind::shardis(shards), Kind::Redis, s + 2);
    }
}
