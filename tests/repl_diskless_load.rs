//! `repl-diskless-load` as redis-server 7.0 applies it, checked side by side with a
//! real redis-server replica of the same master: `on-empty-db` loads from the socket
//! only when the replica holds no key, else through a temp file as `disabled` does;
//! `swapdb` always loads from the socket. The replica's `MASTER <-> REPLICA sync:`
//! log lines (which say which path was taken) must be Redis's, and the dataset the
//! master's. A diskless load decodes the payload as it arrives, in both transfer
//! formats (`$EOF:` from a diskless master, `$<len>` from a disk-backed one).

use crate::common;

use common::repl::{Kind, Node, assert_converged};
use common::wait_until;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
const SYNC_LINE: &str = "MASTER <-> REPLICA sync: ";

/// What follows `MASTER <-> REPLICA sync: ` in the log lines after the first `from`.
fn sync_steps(n: &Node, from: usize) -> Vec<String> {
    n.log().iter().skip(from).filter_map(|l| l.split_once(SYNC_LINE).map(|(_, s)| s.trim().to_string())).collect()
}

/// A master of `keys` keys: diskless (`$EOF:` transfers) or disk-backed (`$<len>`).
fn master(diskless: bool, keys: usize) -> Node {
    let flags: &[&str] = if diskless {
        &["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
    } else {
        &["--repl-diskless-sync", "no"]
    };
    let m = Node::start(Kind::Redis, flags);
    let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(keys).arg("m").arg(16).query(&mut m.conn()).unwrap();
    m
}

/// A replica under `repl-diskless-load mode` holding `old_keys` keys, synced from
/// `m`; returns its sync steps once it is in sync and holds the master's data.
fn sync_steps_of(m: &Node, kind: Kind, mode: &str, old_keys: usize) -> Vec<String> {
    let n = Node::start(kind, &["--repl-diskless-load", mode]);
    let mut c = n.conn();
    for i in 0..old_keys {
        let _: () = redis::cmd("SET").arg(format!("old:{i}")).arg(i).query(&mut c).unwrap();
    }
    let from = n.log().len();
    n.replicaof(Some(m.port));
    assert_converged(&[m, &n], LONG);
    // The log reaches us through a pipe or a file: wait for the last step's line.
    let finished = wait_until(LONG, || sync_steps(&n, from).iter().any(|s| s == "Finished with success"));
    assert!(finished, "{kind:?} {mode} with {old_keys} old keys: no success line: {:?}", n.log());
    let old: Option<String> = redis::cmd("GET").arg("old:0").query(&mut c).unwrap();
    assert_eq!(old, None, "{kind:?} {mode}: the old data survived the full sync");
    sync_steps(&n, from)
}

/// `mode` with `old_keys` keys on the replica: the same steps as redis-server's.
fn same_steps_as_redis(m: &Node, mode: &str, old_keys: usize, receiving: &str) -> Vec<String> {
    let redis = sync_steps_of(m, Kind::Redis, mode, old_keys);
    let ours = sync_steps_of(m, Kind::shardis(2), mode, old_keys);
    assert_eq!(ours, redis, "{mode} with {old_keys} old keys: sync steps differ from redis-server's");
    assert!(ours.first().is_some_and(|s| s.starts_with("receiving") && s.ends_with(receiving)), "{mode}: {ours:?}");
    ours
}

#[test]
fn on_empty_db_loads_from_the_socket_only_into_an_empty_dataset() {
    let m = master(true, 5_000);
    let empty = same_steps_as_redis(&m, "on-empty-db", 0, "to parser");
    assert!(empty.iter().any(|s| s == "Flushing old data"), "{empty:?}");
    let full = same_steps_as_redis(&m, "on-empty-db", 3, "to disk");
    assert!(full.iter().any(|s| s == "Flushing old data"), "{full:?}");
    let swap = same_steps_as_redis(&m, "swapdb", 3, "to parser");
    assert!(swap.iter().any(|s| s == "Swapping active DB with loaded DB"), "{swap:?}");
    same_steps_as_redis(&m, "disabled", 0, "to disk");
}

/// A `$<len>` payload decoded as it arrives, on every shard count, with enough keys
/// that it spans many reads of the socket.
#[test]
fn sized_payload_decoded_from_the_socket() {
    let m = master(false, 60_000);
    for shards in common::SHARD_COUNTS {
        let steps = sync_steps_of(&m, Kind::shardis(shards), "swapdb", 10);
        assert!(
            steps.first().is_some_and(|s| s.starts_with("receiving") && s.ends_with("bytes from master to parser"))
        );
    }
}
