//! MEMORY USAGE against redis-server 7.0.15: for every type, at several sizes, our
//! figure is within an order of magnitude of Redis's for the same value. Our figures
//! are exact (the value's own heap, never sampled; SAMPLES is validated and accepted)
//! and our encodings differ from Redis's, so only the order of magnitude can match.
//! Streams under about 100 entries are left out: Redis preallocates a 4 KiB listpack
//! per stream node (`stream-node-max-bytes`), which its MEMORY USAGE counts, while
//! ours grow with their entries (a 3-entry stream: ~300 bytes here, 4728 in Redis).

use crate::common;

use common::*;

const TYPES: [&str; 9] = ["set", "intset", "hash", "zset", "list", "stream", "string", "hll", "geo"];

/// Fills key `<type>` of each type with `n` elements, the same way on any server.
fn fill(c: &mut redis::Connection, n: usize) {
    let _: () = redis::cmd("FLUSHALL").query(c).unwrap();
    let members: Vec<String> = (0..n).map(|i| format!("member:{i}")).collect();
    let run = |c: &mut redis::Connection, cmd: &mut redis::Cmd| {
        let _: redis::Value = cmd.query(c).unwrap();
    };
    run(c, redis::cmd("SADD").arg("set").arg(&members));
    run(c, redis::cmd("SADD").arg("intset").arg((0..n).collect::<Vec<_>>()));
    let pairs: Vec<(String, String)> = (0..n).map(|i| (format!("f{i}"), format!("value:{i}"))).collect();
    run(c, redis::cmd("HSET").arg("hash").arg(&pairs));
    let scored: Vec<(usize, &String)> = members.iter().enumerate().collect();
    run(c, redis::cmd("ZADD").arg("zset").arg(&scored));
    run(c, redis::cmd("RPUSH").arg("list").arg(&members));
    let mut p = redis::pipe();
    for i in 0..n {
        p.cmd("XADD").arg("stream").arg("*").arg("field").arg(format!("v{i}")).arg("other").arg(i).ignore();
    }
    let _: () = p.query(c).unwrap();
    run(c, redis::cmd("SET").arg("string").arg("x".repeat(n)));
    run(c, redis::cmd("PFADD").arg("hll").arg(&members));
    let mut geo = redis::cmd("GEOADD");
    geo.arg("geo");
    for i in 0..n {
        geo.arg(10.0 + (i % 100) as f64 * 0.01).arg(20.0 + (i / 100) as f64 * 0.01).arg(format!("p{i}"));
    }
    run(c, &mut geo);
}

fn usage(c: &mut redis::Connection, key: &str, samples: Option<u32>) -> f64 {
    let mut cmd = redis::cmd("MEMORY");
    cmd.arg("USAGE").arg(key);
    if let Some(s) = samples {
        cmd.arg("SAMPLES").arg(s);
    }
    let n: i64 = cmd.query(c).unwrap();
    n as f64
}

#[test]
fn memory_usage_is_redis_order_of_magnitude_for_every_type() {
    let real = RealRedis::start(&temp_dir("redis"));
    let mut theirs = real.conn();
    let servers: Vec<Server> = SHARD_COUNTS.iter().map(|&n| Server::start(n, &[])).collect();
    for n in [100, 1000, 10_000] {
        fill(&mut theirs, n);
        let want: Vec<f64> = TYPES.iter().map(|t| usage(&mut theirs, t, Some(0))).collect();
        for srv in &servers {
            let mut ours = srv.conn();
            fill(&mut ours, n);
            for (t, w) in TYPES.iter().zip(&want) {
                let exact = usage(&mut ours, t, Some(0));
                // SAMPLES changes nothing here: the figure is exact.
                assert_eq!(usage(&mut ours, t, None), exact, "{t}: default SAMPLES");
                assert_eq!(usage(&mut ours, t, Some(1)), exact, "{t}: SAMPLES 1");
                let ratio = exact / w;
                assert!(
                    (0.1..=10.0).contains(&ratio),
                    "{t} with {n} elements on {} shards: {exact} bytes, redis-server {w} ({ratio:.2}x)",
                    srv.shards
                );
            }
        }
    }
}

/// INFO memory's split of `used_memory` into overhead and dataset, on a server
/// holding many small keys: as in Redis, the dataset (keys and values) is most of
/// it and the overhead (table bookkeeping, start-up, clients) is a part of it.
#[test]
fn info_memory_overhead_is_a_part_of_used_memory() {
    for &shards in &SHARD_COUNTS {
        let srv = Server::start(shards, &[]);
        let mut c = srv.conn();
        let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(200_000).query(&mut c).unwrap();
        let info: redis::InfoDict = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
        let field = |k: &str| info.get::<u64>(k).unwrap_or_else(|| panic!("INFO memory lacks {k}"));
        let (used, overhead, dataset, startup) = (
            field("used_memory"),
            field("used_memory_overhead"),
            field("used_memory_dataset"),
            field("used_memory_startup"),
        );
        assert!(overhead < used, "{shards} shards: overhead {overhead} >= used {used}");
        assert_eq!(dataset, used - overhead, "{shards} shards: dataset is the rest");
        // Of what the keys added (start-up is mostly the shards' receive rings), most
        // is keys and values.
        let grown = used - startup;
        assert!(dataset > grown / 2, "{shards} shards: dataset {dataset} of {grown} grown since start-up");
    }
}

/// `used_memory_startup` is taken before the data files load, as Redis takes it: keys
/// loaded from an RDB file are dataset, not start-up. (It was taken at shard 0's first
/// cron tick, after the load, or after the first clients' writes on a busy machine.)
#[test]
fn keys_loaded_at_start_up_are_dataset() {
    for &shards in &SHARD_COUNTS {
        let mut s = Server::start(shards, &[]);
        let mut c = s.conn();
        let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(200_000).query(&mut c).unwrap();
        let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
        s.terminate();
        let dir = s.dir.clone();
        std::mem::forget(s);
        let s = Server::start_in(dir, shards, &[]);
        let mut c = s.conn();
        let n: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(n, 200_000);
        let info: redis::InfoDict = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
        let field = |k: &str| info.get::<u64>(k).unwrap_or_else(|| panic!("INFO memory lacks {k}"));
        let (used, startup, dataset) =
            (field("used_memory"), field("used_memory_startup"), field("used_memory_dataset"));
        let grown = used - startup;
        assert!(
            dataset > grown / 2 && dataset > 4 << 20,
            "{shards} shards: dataset {dataset}, used {used}, start-up {startup}"
        );
    }
}
