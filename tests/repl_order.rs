//! A multi-shard replica applies its master's stream in stream order across shards, as
//! a Redis replica does: nobody on the replica sees a write of the stream before the
//! ones that precede it.
//!
//! The master (one shard, so its stream is exactly its client's order) gets pipelines
//! of counter pairs, `SET first i` then `SET second i`, for every ordered pair of the
//! replica's shards (some pairs start on the link's shard and end on another, some the
//! other way round, some between two other shards), and the job-queue pattern (`SET
//! job:i`, then `RPUSH queue job:i`). A reader on the replica, over several connections
//! (so coordinated by several shards), reads `MGET second first`: an MGET over two
//! shards is a snapshot of both (its parts run under key locks granted in one global
//! order, `cmd::coord_split`), so `first` must never be older than `second`; and a job
//! the queue names must exist.
//!
//! Without the order (`per-shard`, or before `replica-apply-order` existed), the link
//! ran its own shard's commands at once while earlier ones were still on their way to
//! another shard, and hops to two other shards ran in whichever order those shards
//! took them: `second` was ahead of `first` by up to a whole pipeline, in every run.
//! (Single GETs one after the other rarely catch it: a shard drains its inbox before it
//! parses a read that came after the write was sent, unless its thread is descheduled
//! in between.)
//!
//! That order is `replica-apply-order strict`, the default (runs of the stream apply
//! as batches visible at once, `repl::apply` rule 4); with `per-shard` this test fails.
//! `SHARDIS_REPL_ALL_REDIS=1` runs the test with redis-server on both sides.

use crate::common;

use common::repl::{Kind, Node, all_redis, wait_in_sync};
use shardis::util::hash::shard_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const SYNC: Duration = Duration::from_secs(60);
/// Rounds the writer sends (pipelines of 64), each a write of every pair and a job.
const ROUNDS: u64 = 64 * 100;
const QUEUE: &str = "ord:queue";

/// A key named `{prefix}…` on shard `shard` of `shards`.
fn key_on(prefix: &str, shard: usize, shards: usize) -> String {
    (0..).map(|i| format!("{prefix}{i}")).find(|k| shard_of(k.as_bytes(), shards) == shard).expect("some key")
}

/// For every ordered pair of distinct shards, a key there written first and a key
/// here written second; no key is in two pairs (each key's value is its pair's round).
fn pairs(shards: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..shards {
        for j in (0..shards).filter(|&j| j != i) {
            out.push((
                key_on(&format!("ord:{i}{j}:first:"), i, shards),
                key_on(&format!("ord:{i}{j}:second:"), j, shards),
            ));
        }
    }
    out
}

fn int(v: Option<String>) -> u64 {
    v.map(|s| s.parse().expect("a counter")).unwrap_or(0)
}

/// How the replica is told to keep the stream's order.
enum Strict {
    /// Nothing: `strict` is the default.
    ByDefault,
    /// `CONFIG SET replica-apply-order strict` once it is in sync (started with
    /// `per-shard`).
    AtRunTime,
}

fn stream_order_holds_on_a_replica_of(shards: usize, how: Strict) {
    let m = Node::start(Kind::shardis(1), &[]);
    // redis-server has no such setting: it always applies the stream in order.
    let flag: &[&str] = match how {
        Strict::AtRunTime if !all_redis() => &["--replica-apply-order", "per-shard"],
        _ => &[],
    };
    let r = Node::start_replica_of(Kind::shardis(shards), m.port, flag);
    wait_in_sync(&m, &r, SYNC);
    if matches!(how, Strict::AtRunTime) && !all_redis() {
        let mut c = r.conn();
        let get = |c: &mut redis::Connection| -> Vec<String> {
            redis::cmd("CONFIG").arg("GET").arg("replica-apply-order").query(c).unwrap()
        };
        assert_eq!(get(&mut c), ["replica-apply-order", "per-shard"]);
        let _: () = redis::cmd("CONFIG").arg("SET").arg("replica-apply-order").arg("strict").query(&mut c).unwrap();
        assert_eq!(get(&mut c), ["replica-apply-order", "strict"]);
    }
    let pairs = pairs(shards);

    let done = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (pairs, done, written) = (pairs.clone(), done.clone(), written.clone());
        let mut c = m.conn();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while i < ROUNDS {
                let mut p = redis::pipe();
                for _ in 0..64 {
                    i += 1;
                    for (first, second) in &pairs {
                        p.cmd("SET").arg(first).arg(i).ignore();
                        p.cmd("SET").arg(second).arg(i).ignore();
                    }
                    // The job on any shard, the queue on one of them.
                    p.cmd("SET").arg(format!("ord:job:{i}")).arg(i).ignore();
                    p.cmd("RPUSH").arg(QUEUE).arg(format!("ord:job:{i}")).ignore();
                    p.cmd("LTRIM").arg(QUEUE).arg(-8).arg(-1).ignore();
                }
                p.query::<()>(&mut c).expect("master write");
                written.store(i, Ordering::Relaxed);
            }
            done.store(true, Ordering::Relaxed);
        })
    };

    // Reads go over several connections, so over several of the replica's shards:
    // an MGET over two shards is a snapshot of both (its parts run under key locks
    // granted in one global order, `cmd::coord_split`), whichever shard coordinates it.
    let mut conns: Vec<redis::Connection> = (0..4).map(|_| r.conn()).collect();
    let mut checks = 0u64;
    let mut violations: Vec<String> = Vec::new();
    let mut turn = 0usize;
    while !done.load(Ordering::Relaxed) && violations.len() < 5 {
        for (first, second) in &pairs {
            turn += 1;
            let (b, a): (Option<String>, Option<String>) =
                redis::cmd("MGET").arg(second).arg(first).query(&mut conns[turn % 4]).expect("MGET");
            let (b, a) = (int(b), int(a));
            checks += 1;
            if a < b {
                violations.push(format!("{second} = {b} but {first} = {a} (written before it)"));
            }
        }
        // The job-queue pattern, read by two connections one after the other.
        let (x, y) = (turn % conns.len(), (turn + 2) % conns.len());
        let newest: Option<String> = redis::cmd("LINDEX").arg(QUEUE).arg(-1).query(&mut conns[x]).expect("LINDEX");
        if let Some(job) = newest {
            let found: bool = redis::cmd("EXISTS").arg(&job).query(&mut conns[y]).expect("EXISTS");
            checks += 1;
            if !found {
                violations.push(format!("the queue names {job}, which does not exist (it was set before)"));
            }
        }
    }
    writer.join().expect("writer");
    assert!(violations.is_empty(), "after {checks} checks, the replica showed later writes first: {violations:#?}");
    wait_in_sync(&m, &r, SYNC);
    let last = pairs.iter().map(|(f, _)| int(redis::cmd("GET").arg(f).query(&mut conns[0]).unwrap())).min();
    assert_eq!(last, Some(ROUNDS), "the replica did not apply the whole stream");
}

#[test]
fn a_four_shard_replica_applies_the_stream_in_order() {
    stream_order_holds_on_a_replica_of(4, Strict::ByDefault);
}

#[test]
fn a_two_shard_replica_applies_the_stream_in_order() {
    stream_order_holds_on_a_replica_of(2, Strict::AtRunTime);
}
