//! Writes acknowledged just before a master exits reach its replicas: Redis flushes
//! its replicas' output before exiting (`flushReplicasOutput`), so SHUTDOWN NOW, which
//! does not wait for acknowledgements, still sends what the replicas are due. A
//! pipeline of writes ending in `SHUTDOWN NOSAVE NOW` (one send, run in one go) on
//! shardis masters; the replica (redis-server) must end up with every write.

use crate::common;

use common::repl::{Kind, Node, wait_in_sync};
use common::wait_until;
use std::time::Duration;

const WRITES: usize = 2000;

fn replica_keys_after_exit(master: Kind) -> u64 {
    let mut m = Node::start(master, &["--save", "", "--repl-diskless-sync-delay", "0"]);
    let r = Node::start_replica_of(Kind::Redis, m.port, &["--save", ""]);
    wait_in_sync(&m, &r, Duration::from_secs(60));
    // After a diskless sync Redis's master streams to the replica only once its first
    // REPLCONF ACK came (`state=online`); writes before that wait in its buffer, which
    // an exit does not flush. Under load the replica may report itself in sync first.
    let online = || m.info("replication").get("slave0").is_some_and(|v| v.contains("state=online"));
    assert!(wait_until(Duration::from_secs(30), online), "{master:?}: replica never online");
    let mut batch = Vec::new();
    for i in 0..WRITES {
        common::encode_cmd_into(&mut batch, &["set", &format!("k{i}"), "v"]);
    }
    common::encode_cmd_into(&mut batch, &["shutdown", "nosave", "now"]);
    let mut c = common::raw_to(m.port);
    c.send(&batch);
    let st = m.wait_exit(Duration::from_secs(30));
    assert!(st.is_some_and(|s| s.success()), "{master:?}: exit {st:?}");
    let keys = || r.info("keyspace").get("db0").cloned().unwrap_or_default();
    let all = format!("keys={WRITES},");
    wait_until(Duration::from_secs(10), || keys().starts_with(&all));
    keys().strip_prefix("keys=").and_then(|v| v.split(',').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn writes_before_shutdown_now_reach_the_replica_as_redis() {
    // redis-server as the master is left out: in a loaded suite its replica ended
    // with 0 of the writes in about half the runs (busy19, not understood yet: RESULTS),
    // while alone it delivers them all. The property is shardis's.
    for master in [Kind::Shardis(1), Kind::Shardis(2)] {
        assert_eq!(replica_keys_after_exit(master), WRITES as u64, "{master:?}");
    }
}
