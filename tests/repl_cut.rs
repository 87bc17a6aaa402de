//! A snapshot cut on a replica records the offset of exactly what it holds
//! (`repl::apply`): a chained 4-shard replica streams the top master's writes to keys
//! on every shard, single-key and cross-shard (MSET, MULTI/EXEC), all non-idempotent
//! (INCR, APPEND, RPUSH: a write counted but missing, or present but not counted,
//! shows as a difference) while
//!
//! - its sub-replica full-syncs from it again and again (the `+FULLRESYNC` offset and
//!   the snapshot come from one cut), and
//! - it BGSAVEs, is killed and restarts from that RDB (its `repl-offset`), then
//!   resyncs partially from the top master.
//!
//! After each round the load stops and all three must converge (`DEBUG DIGEST` and a
//! logical dump). `SHARDIS_REPL_ALL_REDIS=1` runs it with redis-server everywhere.

use crate::common;

use common::repl::{Kind, LinkProxy, Load, Node, assert_converged, wait_in_sync};
use common::wait_until;
use std::time::Duration;

const SYNC: Duration = Duration::from_secs(90);

/// Pipelines of single-key, non-idempotent writes over keys on every shard, and the
/// stream's coordinated commands, as fast as the master takes them.
fn burst(port: u16, seed: u64) -> Load {
    Load::start_with(port, seed, 0, |p, rng, n| {
        for _ in 0..128 {
            let k = rng.below(2000);
            match rng.below(3) {
                0 => p.cmd("INCR").arg(format!("cut:n:{k}")),
                1 => p.cmd("APPEND").arg(format!("cut:a:{k}")).arg("x"),
                _ => p.cmd("RPUSH").arg(format!("cut:l:{}", k % 500)).arg(*n),
            };
            *n += 1;
        }
        // Coordinated commands of the stream (counted when they finish).
        let (k1, k2) = (rng.below(2000), rng.below(2000));
        p.cmd("MSET").arg(format!("cut:m:{k1}")).arg(*n).arg(format!("cut:m:{k2}")).arg(*n);
        p.cmd("MULTI").cmd("INCR").arg(format!("cut:n:{k1}")).cmd("APPEND").arg(format!("cut:a:{k2}")).arg("y");
        p.cmd("EXEC");
        // Keep the lists short: LTRIM is idempotent, the pushes are not.
        p.cmd("LTRIM").arg(format!("cut:l:{}", rng.below(500))).arg(-20).arg(-1);
        // A second db: the stream alternates SELECTs, which the strict replica folds
        // into its batches; a cut must record the db of the offset it records.
        p.cmd("SELECT").arg(1);
        for _ in 0..16 {
            p.cmd("INCR").arg(format!("cut:d1:{}", rng.below(2000)));
        }
        p.cmd("MULTI").cmd("INCR").arg(format!("cut:d1:{k1}")).cmd("SELECT").arg(0);
        p.cmd("INCR").arg(format!("cut:n:{k2}")).cmd("EXEC");
    })
}

fn info_u64(n: &Node, section: &str, field: &str) -> u64 {
    n.info(section).get(field).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `b` drops its history and full-syncs from `a` (reached through `proxy`).
fn full_sync_again(a: &Node, b: &Node, proxy: &LinkProxy) {
    let before = info_u64(a, "stats", "sync_full");
    b.replicaof(None);
    // A write of its own: its offset is past anything `a` could continue.
    let _: () = redis::cmd("SET").arg("cut:own").arg(1).query(&mut b.conn()).unwrap();
    b.replicaof(Some(proxy.port));
    assert!(
        wait_until(SYNC, || info_u64(a, "stats", "sync_full") > before
            && b.info("replication").get("master_link_status").is_some_and(|s| s == "up")),
        "the sub-replica did not full-sync again\nreplica log: {:#?}\nsub-replica log: {:#?}",
        tail(&a.log()),
        tail(&b.log())
    );
}

fn tail(lines: &[String]) -> &[String] {
    &lines[lines.len().saturating_sub(25)..]
}

/// BGSAVE on `n` and waits until it finished.
fn bgsave(n: &Node) {
    let done = info_u64(n, "persistence", "rdb_last_save_time");
    let mut c = n.conn();
    // A save of the server's own (a full sync's) may be running: retry until ours starts.
    assert!(wait_until(SYNC, || redis::cmd("BGSAVE").query::<String>(&mut c).is_ok()), "BGSAVE was refused throughout");
    assert!(
        wait_until(SYNC, || {
            let p = n.info("persistence");
            p.get("rdb_bgsave_in_progress").is_some_and(|v| v == "0")
                && p.get("rdb_last_save_time").and_then(|v| v.parse::<u64>().ok()).is_some_and(|t| t >= done)
        }),
        "BGSAVE did not finish"
    );
}

#[test]
fn cuts_on_a_chained_replica_record_the_offset_of_what_they_hold() {
    let m = Node::start(Kind::shardis(2), &["--repl-backlog-size", "64mb"]);
    let mut a = Node::start(Kind::shardis(4), &["--repl-backlog-size", "64mb", "--repl-diskless-sync-delay", "0"]);
    let b = Node::start(Kind::shardis(2), &[]);
    a.replicaof(Some(m.port));
    let proxy = LinkProxy::start(a.port);
    b.replicaof(Some(proxy.port));
    wait_in_sync(&m, &a, SYNC);
    wait_in_sync(&a, &b, SYNC);
    for round in 0..3u64 {
        let load = burst(m.port, 40 + round);
        load.wait_ops(20_000 * (round + 1), SYNC);
        for _ in 0..3 {
            full_sync_again(&a, &b, &proxy);
        }
        if round == 2 {
            // The RDB a BGSAVE wrote under load is what `a` restarts from: its offset
            // must match its data for the partial resync to converge.
            bgsave(&a);
            let before = m.sync_counts();
            a.kill9();
            a.restart(&["--replicaof", "127.0.0.1", &m.port.to_string()]);
            proxy.retarget(a.port);
            proxy.cut();
            wait_in_sync(&m, &a, SYNC);
            let after = m.sync_counts();
            assert_eq!(after.0, before.0, "the restarted replica resynced fully: {before:?} -> {after:?}");
            assert!(after.1 > before.1, "no partial resync after the restart: {before:?} -> {after:?}");
        } else {
            bgsave(&a);
        }
        load.stop();
        eprintln!("round {round}: loads stopped, checking convergence");
        assert_converged(&[&m, &a, &b], SYNC);
    }
}
