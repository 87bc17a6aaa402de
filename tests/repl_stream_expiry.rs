//! Expiry as Redis 7.0 shows it to clients, in INFO and in the replication stream,
//! where shardis's shards and cross-shard paths could make it differ: under CLIENT
//! PAUSE.

use crate::common;
use crate::repl_stream::{RawReplica, raw_info};

use common::{Resp, Server};
use std::time::Duration;

fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

/// The stream after the snapshot up to `SET end 1`, lower-cased, without the set-up's
/// SETs and `select 0`.
fn stream_after(rep: &mut RawReplica) -> Vec<String> {
    rep.read_until_end()
        .into_iter()
        .map(|l| l.to_ascii_lowercase())
        .filter(|l| !l.starts_with("set ") && l != "select 0")
        .collect()
}

/// While clients are paused (CLIENT PAUSE WRITE), Redis 7.0 expires nothing, actively
/// or lazily: a read of an expired key answers nil but the key stays (DBSIZE counts
/// it, `expired_keys` stays 0, no DEL goes to replicas) until the pause ends, when
/// reads and the active cycle delete them as usual (Redis's `unit/pause`, "Test both
/// active and passive expires are skipped during client pause"). shardis expired them
/// during the pause.
#[test]
fn nothing_expires_while_clients_are_paused_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-pause-expire");
    let run = |port: u16| {
        let mut c = common::raw_to(port);
        c.cmd(&["flushall"]);
        c.cmd(&["config", "resetstat"]);
        let mut rep = RawReplica::attach(port);
        // a, b, c and y sit on four different shards of four.
        let at = now_ms() + 30;
        for k in ["a", "b", "c", "y"] {
            c.cmd(&["set", k, "v", "pxat", &at.to_string()]);
        }
        assert_eq!(c.cmd(&["client", "pause", "100000", "write"]), Resp::simple("OK"));
        assert!(common::wait_until(Duration::from_secs(5), || now_ms() > at + 5));
        let mut out = Vec::new();
        for args in [
            &["get", "a"][..],
            &["mget", "a", "b", "c", "y"],
            &["exists", "a", "b", "c", "y"],
            &["ttl", "b"],
            &["scan", "0", "count", "100"],
            &["dbsize"],
        ] {
            out.push(format!("{args:?} {:?}", c.cmd(args)));
        }
        out.push(raw_info(&mut c, "stats", "expired_keys"));
        assert_eq!(c.cmd(&["client", "unpause"]), Resp::simple("OK"));
        // Once the pause is over: a read deletes its key, the active cycle the others.
        out.push(format!("{:?}", c.cmd(&["get", "a"])));
        assert!(common::wait_until(Duration::from_secs(10), || c.cmd(&["dbsize"]) == Resp::Int(0)));
        out.push(raw_info(&mut c, "stats", "expired_keys"));
        c.cmd(&["set", "end", "1"]);
        let mut stream = stream_after(&mut rep);
        // The first DEL is the read's; the active cycle's come in no promised order.
        stream[1..].sort();
        out.extend(stream);
        out
    };
    let want = run(real.port);
    assert!(want.iter().any(|l| l == "[\"dbsize\"] Int(4)"), "{want:?}");
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        assert_eq!(run(s.port), want, "{shards} shard(s)");
    }
}
