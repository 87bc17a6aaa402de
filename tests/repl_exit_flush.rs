//! Writes acknowledged just before a master exits reach its replicas: Redis flushes
//! its replicas' output before exiting (`flushReplicasOutput`), so SHUTDOWN NOW, which
//! does not wait for acknowledgements, still sends what the replicas are due. A
//! pipeline of writes ending in `SHUTDOWN NOSAVE NOW` (one send, run in one go) on a
//! redis-server master and on shardis masters; the replica (redis-server) must end up
//! with every write.

use crate::common;

use common::repl::{Kind, Node, wait_in_sync};
use common::wait_until;
use std::time::Duration;

const WRITES: usize = 2000;

fn replica_keys_after_exit(master: Kind) -> u64 {
    let mut m = Node::start(master, &["--save", "", "--repl-diskless-sync-delay", "0"]);
    let r = Node::start_replica_of(Kind::Redis, m.port, &["--save", ""]);
    wait_in_sync(&m, &r, Duration::from_secs(60));
    let mut batch = Vec::new();
    for i in 0..WRITES {
        common::encode_cmd_into(&mut batch, &["set", &format!("k{i}"), "v"]);
    }
    common::encode_cmd_into(&mut batch, &["shutdown", "nosave", "now"]);
    let mut c = common::raw_to(m.port);
    c.send(&batch);
    let st = m.wait_exit(Duration::from_secs(30));
    assert!(st.is_some_and(|s| s.success()), "{master:?}: exit {st:?}");
    let keys = || r.info("keyspace").get("db0").map(|v| v.clone()).unwrap_or_default();
    let all = format!("keys={WRITES},");
    wait_until(Duration::from_secs(10), || keys().starts_with(&all));
    keys().strip_prefix("keys=").and_then(|v| v.split(',').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn writes_before_shutdown_now_reach_the_replica_as_redis() {
    for master in [Kind::Redis, Kind::Shardis(1), Kind::Shardis(2)] {
        assert_eq!(replica_keys_after_exit(master), WRITES as u64, "{master:?}");
    }
}
