//! `stream-node-max-entries` and `stream-node-max-bytes` shape the stream's nodes as
//! in redis-server 7.0: XINFO STREAM's `radix-tree-keys` (nodes) and what an
//! approximate trim, which drops whole nodes, removes, compared on both servers.

use crate::common;

use common::compare::{Pair, real_redis};
use common::{Resp, SHARD_COUNTS, Server};

/// XINFO STREAM's `radix-tree-keys` and `length`.
fn nodes_and_length(r: Resp) -> (Resp, Resp) {
    let pairs: Vec<(Resp, Resp)> = match r {
        Resp::Array(v) => v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect(),
        Resp::Map(m) => m,
        other => panic!("xinfo: {other:?}"),
    };
    let get = |name: &str| pairs.iter().find(|(k, _)| *k == Resp::bulk(name)).map(|(_, v)| v.clone()).expect(name);
    (get("radix-tree-keys"), get("length"))
}

#[test]
fn node_limits_split_and_trim_as_redis() {
    let real = real_redis("stream-node");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut p = Pair::new(&s, &real, 2);
        for (entries, bytes) in
            [("10", "4096"), ("0", "4096"), ("100", "200"), ("3", "0"), ("100", "4096"), ("0", "700")]
        {
            p.same(&["config", "set", "stream-node-max-entries", entries, "stream-node-max-bytes", bytes]);
            p.both(&["del", "s", "t"]);
            for i in 1..=150 {
                let value = "v".repeat(i % 40);
                p.same(&["xadd", "s", &format!("{i}-1"), "field", &value, "n", &(i * 37).to_string()]);
                // Field names that change now and then are stored in full.
                let name = if i % 7 == 0 { "other" } else { "field" };
                p.same(&["xadd", "t", &format!("{i}-{}", i % 3), name, &i.to_string()]);
            }
            p.same(&["xdel", "s", "3-1", "4-1", "140-1"]);
            for key in ["s", "t"] {
                let (ours, theirs) = p.both(&["xinfo", "stream", key]);
                assert_eq!(nodes_and_length(ours), nodes_and_length(theirs), "{key} with {entries}/{bytes}");
                let (ours, theirs) = p.both(&["xinfo", "stream", key, "full"]);
                assert_eq!(nodes_and_length(ours), nodes_and_length(theirs), "{key} FULL with {entries}/{bytes}");
                p.same(&["xtrim", key, "maxlen", "~", "40"]);
                p.same(&["xlen", key]);
                p.same(&["xadd", key, "maxlen", "~", "5", "999-0", "a", "b"]);
                p.same(&["xtrim", key, "minid", "~", "998"]);
                p.same(&["xlen", key]);
            }
        }
        p.same(&["config", "set", "stream-node-max-entries", "100", "stream-node-max-bytes", "4096"]);
        p.same_unordered(&["config", "get", "stream-node-max-*"]);
    }
}
