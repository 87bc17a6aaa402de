//! `list-compress-depth` acts as in Redis 7.0, against a real redis-server run side by
//! side with the same settings: random push/pop/insert/set/trim/rem sequences at depths
//! 0..=3 with small node fills give the same replies; DEBUG OBJECT reports the same
//! `ql_compressed` and `ql_listpack_max`; a list keeps the depth it was made with;
//! compressed lists cross RDB files and DUMP payloads both ways, survive an AOF rewrite
//! and reach a replica; MEMORY USAGE shrinks as Redis's does.

use crate::common::repl::{Kind, Node, NodePair as Pair, wait_in_sync};
use crate::common::{Resp, Rng, raw_to, wait_until};
use std::time::Duration;

/// DEBUG OBJECT's `name:value` field.
fn debug_field(port: u16, key: &str, name: &str) -> String {
    let Resp::Simple(line) = raw_to(port).cmd(&["DEBUG", "OBJECT", key]) else { panic!("DEBUG OBJECT {key}") };
    let prefix = format!("{name}:");
    line.split(' ').find_map(|f| f.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {name} in {line}")).to_string()
}

fn memory_usage(port: u16, key: &str) -> i64 {
    match raw_to(port).cmd(&["MEMORY", "USAGE", key, "SAMPLES", "0"]) {
        Resp::Int(n) => n,
        other => panic!("MEMORY USAGE {key}: {other:?}"),
    }
}

/// An element: mostly long and compressible (so nodes compress), some short, some
/// integers, a few from a small set (so LREM, LPOS and LINSERT find them).
fn element(r: &mut Rng) -> String {
    match r.below(6) {
        0 => format!("{}", r.below(1000)),
        1 => format!("p{}", r.below(5)),
        2 => format!("s{}", r.below(100)),
        _ => format!("{}-{}", r.below(50), "compressible-".repeat(1 + r.below(6) as usize)),
    }
}

fn random_ops(p: &Pair, seed: u64, steps: usize) {
    let mut r = Rng::new(seed);
    let keys = ["{c}a", "{c}b"];
    for step in 0..steps {
        let k = keys[r.below(2) as usize];
        let len = match raw_to(p.ours.port).cmd(&["LLEN", k]) {
            Resp::Int(n) => n,
            other => panic!("LLEN: {other:?}"),
        };
        let i = (r.below(len as u64 + 4) as i64 - 2).to_string();
        let j = (r.below(len as u64 + 4) as i64 - 2).to_string();
        let (e1, e2, e3) = (element(&mut r), element(&mut r), element(&mut r));
        let op = r.below(20);
        // Grow more than shrink until the lists are long, then keep them around there.
        let grow = len < 60 || op < 9;
        let args: Vec<&str> = match op {
            0..=3 if grow => vec!["RPUSH", k, &e1, &e2, &e3],
            4..=7 if grow => vec!["LPUSH", k, &e1, &e2],
            8 => vec!["LINSERT", k, if r.below(2) == 0 { "BEFORE" } else { "AFTER" }, "p1", &e1],
            9 => vec!["LSET", k, &i, &e1],
            10 => vec!["LPOP", k],
            11 => vec!["RPOP", k, "3"],
            12 => vec!["LREM", k, if r.below(2) == 0 { "2" } else { "-1" }, "p2"],
            13 if len > 80 => vec!["LTRIM", k, "5", "-6"],
            14 => vec!["LINDEX", k, &i],
            15 => vec!["LRANGE", k, &i, &j],
            16 => vec!["LPOS", k, "p3", "COUNT", "0"],
            17 => vec!["LMOVE", keys[0], keys[1], "LEFT", "RIGHT"],
            _ => vec!["LRANGE", k, "0", "-1"],
        };
        p.same(&args);
        if step % 50 == 0 {
            for k in keys {
                p.same(&["LRANGE", k, "0", "-1"]);
            }
        }
    }
    for k in keys {
        p.same(&["LRANGE", k, "0", "-1"]);
        if p.same(&["EXISTS", k]) == Resp::Int(1) {
            for f in ["ql_compressed", "ql_listpack_max"] {
                assert_eq!(debug_field(p.ours.port, k, f), debug_field(p.redis.port, k, f), "{k} {f}");
            }
        }
    }
    // DEBUG DIGEST-VALUE covers every element.
    p.same(&["DEBUG", "DIGEST-VALUE", keys[0], keys[1]]);
}

#[test]
fn random_list_ops_match_redis_at_depths_0_to_3() {
    for (depth, fill, shards, seed) in
        [("0", "3", 1, 11u64), ("1", "2", 1, 12), ("2", "4", 4, 13), ("3", "-1", 1, 14), ("1", "1", 4, 15)]
    {
        let p = Pair::start(shards, &["--list-compress-depth", depth, "--list-max-listpack-size", fill]);
        random_ops(&p, seed, 1500);
    }
}

/// A list keeps the depth it was made with: CONFIG SET affects new lists only. DEBUG
/// OBJECT's quicklist fields as Redis prints them, and MEMORY USAGE of a long list of
/// repetitive elements shrinks with compression on both.
#[test]
fn depth_is_fixed_at_creation_and_saves_memory_like_redis() {
    let p = Pair::start(1, &[]);
    let items: Vec<String> = (0..3000).map(|i| format!("log line {i:05}: GET /index.html 200")).collect();
    let push = |key: &str| {
        for chunk in items.chunks(500) {
            let mut args = vec!["RPUSH", key];
            args.extend(chunk.iter().map(String::as_str));
            p.same(&args);
        }
    };
    push("plain");
    p.same(&["CONFIG", "SET", "list-compress-depth", "1"]);
    p.same(&["CONFIG", "GET", "list-compress-depth"]);
    push("packed");
    p.same(&["RPUSH", "plain", "more"]);
    p.same(&["CONFIG", "SET", "list-compress-depth", "0"]);
    p.same(&["LPUSH", "packed", "more"]);
    for (key, compressed) in [("plain", "0"), ("packed", "1")] {
        for port in [p.ours.port, p.redis.port] {
            assert_eq!(debug_field(port, key, "ql_compressed"), compressed, "{key}");
            assert_eq!(debug_field(port, key, "ql_listpack_max"), "-2", "{key}");
        }
        let ours: f64 = debug_field(p.ours.port, key, "ql_nodes").parse().unwrap();
        let redis: f64 = debug_field(p.redis.port, key, "ql_nodes").parse().unwrap();
        assert!((ours / redis - 1.0).abs() < 0.5, "{key}: ql_nodes {ours} vs Redis {redis}");
        p.same(&["LINDEX", key, "1500"]);
        p.same(&["LRANGE", key, "1000", "1010"]);
    }
    for port in [p.ours.port, p.redis.port] {
        let (plain, packed) = (memory_usage(port, "plain"), memory_usage(port, "packed"));
        assert!(packed * 2 < plain, "port {port}: MEMORY USAGE packed {packed}, plain {plain}");
    }
}

/// Compressed lists through RDB files (shardis's dump.rdb loads in redis-server and
/// Redis's in shardis), DUMP/RESTORE both ways, an AOF rewrite and a replica.
#[test]
fn compressed_lists_cross_rdb_dump_aof_and_replication() {
    let flags = ["--list-compress-depth", "2", "--list-max-listpack-size", "8", "--appendonly", "yes"];
    let mut p = Pair::start(2, &flags);
    let mut r = Rng::new(7);
    for k in ["l1", "l2"] {
        for _ in 0..40 {
            let (a, b, c) = (element(&mut r), element(&mut r), element(&mut r));
            p.same(&["RPUSH", k, &a, &b, &c]);
        }
    }
    p.same(&["LSET", "l1", "50", "changed"]);
    let want = |k: &str| raw_to(p.redis.port).cmd(&["LRANGE", k, "0", "-1"]);
    let l1 = want("l1");

    // DUMP payloads carry compressed nodes: each side restores the other's.
    for (from, to) in [(p.ours.port, p.redis.port), (p.redis.port, p.ours.port)] {
        let Resp::Bulk(d) = raw_to(from).cmd(&["DUMP", "l1"]) else { panic!("DUMP") };
        let args: Vec<&[u8]> = vec![b"RESTORE", b"copy", b"0", &d, b"REPLACE"];
        assert_eq!(raw_to(to).cmd(&args), Resp::simple("OK"));
        assert_eq!(raw_to(to).cmd(&["LRANGE", "copy", "0", "-1"]), l1);
        assert_eq!(debug_field(to, "copy", "ql_compressed"), "1");
    }

    // A replica configured alike: full sync (an RDB), then the stream.
    let replica = Node::start_replica_of(Kind::Shardis(1), p.ours.port, &flags[..4]);
    wait_in_sync(&p.ours, &replica, Duration::from_secs(30));
    p.same(&["LINSERT", "l2", "AFTER", "p1", "after-p1"]);
    p.same(&["RPOP", "l1"]);
    wait_in_sync(&p.ours, &replica, Duration::from_secs(30));
    for k in ["l1", "l2"] {
        assert_eq!(raw_to(replica.port).cmd(&["LRANGE", k, "0", "-1"]), want(k), "replica {k}");
        assert_eq!(debug_field(replica.port, k, "ql_compressed"), "1");
    }
    let (l1, l2) = (want("l1"), want("l2"));
    drop(replica);

    // AOF rewrite, then a restart that loads the rewritten AOF.
    assert_eq!(
        raw_to(p.ours.port).cmd(&["BGREWRITEAOF"]),
        Resp::simple("Background append only file rewriting started")
    );
    let done = wait_until(Duration::from_secs(30), || {
        let info = p.ours.info("persistence");
        info["aof_rewrite_in_progress"] == "0" && info["aof_rewrite_scheduled"] == "0" && info["aof_rewrites"] != "0"
    });
    assert!(done, "rewrite did not finish");
    let digest = p.ours.digest();
    p.ours.shutdown_save();
    p.ours.restart(&flags);
    assert_eq!(p.ours.digest(), digest, "after the AOF rewrite and reload");

    // RDB files both ways: each side saves, and loads the other's file.
    let no_aof = ["--list-compress-depth", "2", "--list-max-listpack-size", "8"];
    p.ours.shutdown_save();
    p.redis.shutdown_save();
    let ours_file = std::fs::read(p.ours.dir.join("dump.rdb")).unwrap();
    let redis_file = std::fs::read(p.redis.dir.join("dump.rdb")).unwrap();
    std::fs::write(p.ours.dir.join("dump.rdb"), &redis_file).unwrap();
    std::fs::write(p.redis.dir.join("dump.rdb"), &ours_file).unwrap();
    p.ours.restart(&no_aof);
    p.redis.restart(&no_aof);
    for port in [p.ours.port, p.redis.port] {
        assert_eq!(raw_to(port).cmd(&["LRANGE", "l1", "0", "-1"]), l1, "port {port}");
        assert_eq!(raw_to(port).cmd(&["LRANGE", "l2", "0", "-1"]), l2, "port {port}");
        assert_eq!(debug_field(port, "l1", "ql_compressed"), "1");
    }
}
