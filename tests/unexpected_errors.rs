//! INFO `unexpected_error_replies`: errors a server sends to a client that is not a
//! user (the master's link, the AOF-loading client) mean the datasets may now
//! differ, so Redis counts and logs them ("== CRITICAL == This replica is sending an
//! error to its master ..."). Compared with redis-server 7.0.

use crate::common;

use common::repl::{Kind, Node, wait_in_sync};
use std::time::Duration;

/// A replica written to directly (`replica-read-only no`): the master's LPUSH on the
/// key the replica made a string fails there with WRONGTYPE.
fn replica_error_count(replica_kind: Kind) -> (u64, bool) {
    let master = Node::start(Kind::Redis, &[]);
    let replica = Node::start_replica_of(replica_kind, master.port, &["--replica-read-only", "no"]);
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    assert_eq!(replica.info_u64("stats", "unexpected_error_replies"), 0);
    let mut r = replica.conn();
    let _: () = redis::cmd("SET").arg("x").arg("foo").query(&mut r).unwrap();
    let mut m = master.conn();
    let _: i64 = redis::cmd("LPUSH").arg("x").arg("a").query(&mut m).unwrap();
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    let count = replica.info_u64("stats", "unexpected_error_replies");
    let logged = common::wait_until(Duration::from_secs(10), || {
        replica.logged("== CRITICAL == This replica is sending an error to its master: '-WRONGTYPE Operation against a key holding the wrong kind of value' after processing the command 'lpush'")
    });
    let mut c = replica.conn();
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    assert_eq!(replica.info_u64("stats", "unexpected_error_replies"), 0, "CONFIG RESETSTAT clears it");
    (count, logged)
}

#[test]
fn errors_sent_to_the_master_are_counted_as_redis() {
    let want = replica_error_count(Kind::Redis);
    assert_eq!(want, (1, true));
    assert_eq!(replica_error_count(Kind::Shardis(1)), want);
}

/// An AOF whose INCR fails on replay (the key holds a non-number): loading goes on,
/// the error is counted and logged.
fn aof_error_count(kind: Kind) -> (u64, bool, String) {
    let mut node = Node::start(kind, &[]);
    node.kill9();
    let aofdir = node.dir.join("appendonlydir");
    std::fs::create_dir_all(&aofdir).unwrap();
    let mut aof = Vec::new();
    for cmd in [&["select", "0"][..], &["set", "x", "foo"], &["incr", "x"], &["set", "y", "1"]] {
        common::encode_cmd_into(&mut aof, cmd);
    }
    std::fs::write(aofdir.join("appendonly.aof.1.incr.aof"), aof).unwrap();
    std::fs::write(aofdir.join("appendonly.aof.manifest"), "file appendonly.aof.1.incr.aof seq 1 type i\n").unwrap();
    node.restart(&["--appendonly", "yes"]);
    let mut y = String::new();
    assert!(common::wait_until(Duration::from_secs(20), || {
        let mut c = node.conn();
        y = redis::cmd("GET").arg("y").query::<String>(&mut c).unwrap_or_default();
        !y.is_empty()
    }));
    let count = node.info_u64("stats", "unexpected_error_replies");
    let logged = common::wait_until(Duration::from_secs(10), || {
        node.logged("== CRITICAL == This server is sending an error to its AOF-loading-client: 'value is not an integer or out of range' after processing the command 'incr'")
    });
    (count, logged, y)
}

#[test]
fn errors_replaying_the_aof_are_counted_as_redis() {
    let want = aof_error_count(Kind::Redis);
    assert_eq!(want.0, 1);
    assert_eq!(aof_error_count(Kind::Shardis(1)), want);
}
