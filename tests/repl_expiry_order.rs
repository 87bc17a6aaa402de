//! Deletions nobody asked for (active expiry, eviction) keep their place around a
//! cross-shard transaction in the replication stream.
//!
//! The stream's assembler lets a shard's later commands go out before a transaction
//! whose other parts are still on their way, which is right only for commands that
//! respect the transaction's locks. Active expiry did not: on a 2-shard master, a key
//! that expired on one shard right after that shard ran its part of `SWAPDB 0 1` had
//! its `DEL` (in the new db) sent ahead of the `SWAPDB`, so replicas deleted the
//! *live* key of the same name in the other db. (Found by `perf/repl-stress.py`'s
//! mixed load: a replica once ended without a hash the master had.) Expiry and eviction
//! now leave a shard held whole, and keys held by a transaction, alone until released.
//!
//! And a replica judges no expiry for the master: its cross-shard commands gathered the
//! keys' values with the replica's own clock, so a key the master renamed just before
//! its TTL, applied here a moment after, was taken as absent (RENAME found nothing).

use crate::common;

use common::repl::{Kind, Node, wait_in_sync};
use common::wait_until;
use shardis::util::hash::shard_of;
use std::time::Duration;

const SYNC: Duration = Duration::from_secs(60);
/// Enough expired keys that active expiry is still deleting them over many turns
/// while the SWAPDB runs (with 20k–50k the old binary stayed in sync; with 100k it
/// lost 7–45% of the live keys in each of 7 runs).
const KEYS: usize = 100_000;

/// `SET k<i> value [PX px]` for every key in `db`, pipelined.
fn fill(node: &Node, db: u8, value: &str, px: Option<u64>) {
    let mut c = node.conn();
    redis::cmd("SELECT").arg(db).query::<()>(&mut c).expect("SELECT");
    for start in (0..KEYS).step_by(1000) {
        let mut p = redis::pipe();
        for i in start..(start + 1000).min(KEYS) {
            let cmd = p.cmd("SET").arg(format!("k{i}")).arg(value);
            if let Some(ms) = px {
                cmd.arg("PX").arg(ms);
            }
            cmd.ignore();
        }
        p.query::<()>(&mut c).expect("fill");
    }
}

fn server_ms(node: &Node) -> u64 {
    let (s, us): (u64, u64) = redis::cmd("TIME").query(&mut node.conn()).expect("TIME");
    s * 1000 + us / 1000
}

fn keyspace(node: &Node, db: u8) -> Option<String> {
    node.info("keyspace").get(&format!("db{db}")).cloned()
}

#[test]
fn keys_expiring_after_a_shards_swapdb_part_are_deleted_after_the_swapdb_on_replicas() {
    let m = Node::start(Kind::shardis(2), &[]);
    let r = Node::start_replica_of(Kind::shardis(1), m.port, &[]);
    wait_in_sync(&m, &r, SYNC);
    // Same names in both dbs: live in db 1, expired (but kept: no active expiry yet) in
    // db 0.
    let _: () = redis::cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query(&mut m.conn()).expect("DEBUG");
    fill(&m, 1, "live", None);
    fill(&m, 0, "short", Some(1));
    let filled = server_ms(&m);
    assert!(wait_until(Duration::from_secs(5), || server_ms(&m) > filled + 2), "the master's clock moves");
    // Active expiry starts deleting the expired keys, and the swap lands in the middle:
    // those deleted after it are in db 1 (`SELECT 1; DEL k<i>`), and must reach the
    // replica after the SWAPDB, or it deletes its live k<i> of db 1.
    let mut c = m.conn();
    let mut p = redis::pipe();
    p.cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(1).ignore().cmd("SWAPDB").arg(0).arg(1).ignore();
    p.query::<()>(&mut c).expect("SWAPDB");
    assert!(
        wait_until(SYNC, || keyspace(&m, 1).is_none()),
        "the master's active expiry did not delete the expired keys: db1 {:?}",
        keyspace(&m, 1)
    );
    wait_in_sync(&m, &r, SYNC);
    let live = format!("keys={KEYS},expires=0,avg_ttl=0");
    assert_eq!(keyspace(&m, 0).as_deref(), Some(live.as_str()), "the master keeps every live key in db 0");
    assert_eq!(keyspace(&r, 0), keyspace(&m, 0), "the replica lost live keys of db 0");
    assert_eq!(keyspace(&r, 1), None, "nothing left in db 1 on the replica");
    assert_eq!(r.digest(), m.digest());
}

/// Stops (`STOP`) or resumes (`CONT`) a node's process.
fn signal(node: &Node, sig: &str) {
    let ok = std::process::Command::new("kill").args([&format!("-{sig}"), &node.pid().to_string()]).status();
    assert!(ok.is_ok_and(|s| s.success()), "kill -{sig}");
}

#[test]
fn a_replica_applies_the_masters_cross_shard_rename_of_a_key_its_own_clock_says_expired() {
    let m = Node::start(Kind::shardis(1), &[]);
    let r = Node::start_replica_of(Kind::shardis(4), m.port, &[]);
    wait_in_sync(&m, &r, SYNC);
    // Pairs whose names live on different shards of the replica: a cross-shard RENAME
    // there, a plain one on the 1-shard master (which sends it as it is).
    let pairs: Vec<(String, String)> = (0..)
        .map(|i| (format!("h{i}"), format!("t{i}")))
        .filter(|(h, t)| shard_of(h.as_bytes(), 4) != shard_of(t.as_bytes(), 4))
        .take(6)
        .collect();
    let mut c = m.conn();
    for (h, _) in &pairs {
        redis::cmd("HSET").arg(h).arg("f").arg(1).query::<()>(&mut c).unwrap();
        redis::cmd("PEXPIRE").arg(h).arg(300).query::<()>(&mut c).unwrap();
    }
    wait_in_sync(&m, &r, SYNC);
    // The replica stops; the master renames the hashes in time and keeps them; the
    // replica resumes only after their old TTL passed (on both clocks).
    signal(&r, "STOP");
    let set = server_ms(&m);
    for (h, t) in &pairs {
        redis::cmd("RENAME").arg(h).arg(t).query::<()>(&mut c).unwrap();
        redis::cmd("PERSIST").arg(t).query::<()>(&mut c).unwrap();
    }
    let waited = wait_until(Duration::from_secs(10), || server_ms(&m) > set + 500);
    signal(&r, "CONT");
    assert!(waited, "the master's clock moves");
    wait_in_sync(&m, &r, SYNC);
    let mut rc = r.conn();
    for (h, t) in &pairs {
        let got: Option<String> = redis::cmd("HGET").arg(t).arg("f").query(&mut rc).unwrap();
        assert_eq!(got.as_deref(), Some("1"), "{h} renamed to {t} on the replica too");
    }
    assert_eq!(r.digest(), m.digest());
}
