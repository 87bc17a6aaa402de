//! HyperLogLog against the real server, with 1 and 4 shards, and against Debian's
//! `redis-server` (Redis 7.0) as the reference: the same PFADDs must leave the same
//! bytes under the key (header, cached cardinality, sparse opcodes or dense
//! registers) and PFCOUNT must answer the same numbers, including unions and merges
//! whose keys live on different shards.
//!
//! `redis-server` comes with `scripts/test.sh` (apt-get install redis-server); a
//! missing binary fails the test, so a machine without it cannot pass by accident.

use crate::common;

use common::{SHARD_COUNTS, Server};
use redis::Connection;
use std::process::Child;

/// A reference `redis-server` on a free loopback port, killed on drop.
struct Reference {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Reference {
    fn start() -> Reference {
        let dir = common::temp_dir("redis-ref");
        let ready = |port: u16| {
            redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .is_ok_and(|mut c| redis::cmd("PING").query::<String>(&mut c).is_ok())
        };
        let (child, port) = common::spawn_redis_server(&["--dir", dir.to_str().unwrap()], ready)
            .expect("redis-server did not start (run `bash scripts/test.sh`: it apt-get installs redis-server)");
        Reference { child, port, dir }
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap()
    }

    fn conn(&self) -> Connection {
        self.client().get_connection().expect("connect to redis-server")
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn get_raw(c: &mut Connection, k: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(k).query(c).unwrap()
}

fn pfcount(c: &mut Connection, keys: &[&str]) -> i64 {
    redis::cmd("PFCOUNT").arg(keys).query(c).unwrap()
}

/// Runs the same command on both servers and checks they answer alike.
fn both<T: redis::FromRedisValue + PartialEq + std::fmt::Debug>(
    ours: &mut Connection,
    theirs: &mut Connection,
    cmd: &redis::Cmd,
) -> T {
    let a: T = cmd.query(ours).unwrap_or_else(|e| panic!("shardis: {e}"));
    let b: T = cmd.query(theirs).unwrap_or_else(|e| panic!("redis-server: {e}"));
    assert_eq!(a, b, "replies differ for {:?}", String::from_utf8_lossy(&cmd.get_packed_command()));
    a
}

fn same_bytes(ours: &mut Connection, theirs: &mut Connection, key: &str, when: &str) {
    let a = get_raw(ours, key);
    let b = get_raw(theirs, key);
    assert!(a == b, "bytes of {key} differ {when}: shardis {:?} vs redis {:?}", a.map(|v| v.len()), b.map(|v| v.len()));
}

/// Element `i` of a test stream: varied lengths (every MurmurHash tail length, long
/// values) and binary content, reproducibly.
fn element(seed: u64, i: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 31;
    let len = (i % 23) as usize + if i.is_multiple_of(97) { 200 } else { 0 };
    let mut v = Vec::with_capacity(len + 8);
    v.extend_from_slice(&i.to_le_bytes()[..(i % 9) as usize]);
    for j in 0..len {
        v.push((x >> ((j % 8) * 8)) as u8 ^ j as u8);
    }
    v
}

/// Adds `n` elements to `key` on both servers in PFADD batches of varying size,
/// comparing replies, bytes and (now and then) PFCOUNT along the way.
fn feed(ours: &mut Connection, theirs: &mut Connection, key: &str, seed: u64, n: u64) {
    let mut i = 0;
    let mut batch = 1;
    while i < n {
        let end = (i + batch).min(n);
        let mut cmd = redis::cmd("PFADD");
        cmd.arg(key);
        for j in i..end {
            cmd.arg(element(seed, j));
        }
        let _: i64 = both(ours, theirs, &cmd);
        same_bytes(ours, theirs, key, &format!("after {end} elements"));
        if batch.is_multiple_of(3) {
            // Refresh the cache now and then, so stale counts ride along in the bytes.
            let _: i64 = both(ours, theirs, redis::cmd("PFCOUNT").arg(key));
            same_bytes(ours, theirs, key, &format!("after PFCOUNT at {end}"));
        }
        i = end;
        batch = (batch * 2 + 1).min(2000);
    }
}

/// Keys on pairwise different shards (as far as there are shards).
fn spread_keys(shards: usize, n: usize, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut used = vec![false; shards];
    for i in 0.. {
        let k = format!("{prefix}{i}");
        let s = shardis::util::hash::shard_of(k.as_bytes(), shards);
        if used[s] && keys.len() < shards {
            continue;
        }
        used[s] = true;
        keys.push(k);
        if keys.len() == n {
            break;
        }
    }
    keys
}

#[test]
fn pfadd_bytes_and_counts_match_redis_server() {
    let reference = Reference::start();
    let mut theirs = reference.conn();
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut ours = s.conn();
        let _: () = redis::cmd("FLUSHALL").query(&mut theirs).unwrap();
        // Sizes from empty through sparse, the promotion point, and deep into dense.
        let sizes = [0u64, 1, 3, 40, 300, 1200, 3000, 20_000, 120_000];
        let keys = spread_keys(shards, sizes.len(), "hll");
        for (k, &n) in keys.iter().zip(&sizes) {
            let _: i64 = both(&mut ours, &mut theirs, redis::cmd("PFADD").arg(k));
            feed(&mut ours, &mut theirs, k, n, n);
            let count: i64 = both(&mut ours, &mut theirs, redis::cmd("PFCOUNT").arg(k));
            let err = (count - n as i64).abs() as f64;
            assert!(err <= n as f64 * 0.03 + 2.0, "{n} elements counted as {count}");
            same_bytes(&mut ours, &mut theirs, k, "after the final PFCOUNT");
            let enc: String = both(&mut ours, &mut theirs, redis::cmd("PFDEBUG").arg("ENCODING").arg(k));
            assert_eq!(enc, if n >= 3000 { "dense" } else { "sparse" }, "{n} elements");
        }
        // Unions over keys on every shard.
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        for w in [&refs[..2], &refs[2..6], &refs[..]] {
            let _: i64 = both(&mut ours, &mut theirs, redis::cmd("PFCOUNT").arg(w).arg("nosuchkey"));
        }
        assert!(pfcount(&mut ours, &refs) > 100_000);
        // Merges: into a new key, into a sparse existing one, into a dense one.
        let dst = spread_keys(shards, 3, "dst");
        let _: String = both(&mut ours, &mut theirs, redis::cmd("PFMERGE").arg(&dst[0]).arg(&refs[1..5]));
        let _: i64 = both(&mut ours, &mut theirs, redis::cmd("PFADD").arg(&dst[1]).arg("x").arg("y"));
        let _: String = both(&mut ours, &mut theirs, redis::cmd("PFMERGE").arg(&dst[1]).arg(&refs[1..4]));
        let _: String = both(&mut ours, &mut theirs, redis::cmd("PFMERGE").arg(&dst[2]).arg(&refs[..]));
        for d in &dst {
            same_bytes(&mut ours, &mut theirs, d, "after PFMERGE");
            let _: i64 = both(&mut ours, &mut theirs, redis::cmd("PFCOUNT").arg(d));
            same_bytes(&mut ours, &mut theirs, d, "after PFCOUNT of a merge");
        }
    }
}

#[test]
fn sparse_limit_and_values_written_by_redis_match() {
    let reference = Reference::start();
    let mut theirs = reference.conn();
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut ours = s.conn();
        let _: () = redis::cmd("FLUSHALL").query(&mut theirs).unwrap();
        // A low hll-sparse-max-bytes promotes earlier, identically.
        let _: String =
            both(&mut ours, &mut theirs, redis::cmd("CONFIG").arg("SET").arg("hll-sparse-max-bytes").arg("400"));
        feed(&mut ours, &mut theirs, "low", 7, 500);
        let enc: String = both(&mut ours, &mut theirs, redis::cmd("PFDEBUG").arg("ENCODING").arg("low"));
        assert_eq!(enc, "dense");
        let _: String =
            both(&mut ours, &mut theirs, redis::cmd("CONFIG").arg("SET").arg("hll-sparse-max-bytes").arg("3000"));
        // A value Redis wrote, copied over byte for byte, is a HyperLogLog here.
        feed(&mut ours, &mut theirs, "src", 9, 700);
        let bytes = get_raw(&mut theirs, "src").unwrap();
        let _: () = redis::cmd("SET").arg("copied").arg(&bytes).query(&mut ours).unwrap();
        let _: () = redis::cmd("SET").arg("copied").arg(&bytes).query(&mut theirs).unwrap();
        feed(&mut ours, &mut theirs, "copied", 10, 300);
        let _: i64 = both(&mut ours, &mut theirs, redis::cmd("PFCOUNT").arg("copied"));
        same_bytes(&mut ours, &mut theirs, "copied", "after adding to a copied value");
        let reply: String = both(&mut ours, &mut theirs, redis::cmd("PFDEBUG").arg("DECODE").arg("src"));
        assert!(reply.starts_with('Z') || reply.starts_with('z') || reply.starts_with('v'));
        // Error replies agree too.
        let _: () = redis::cmd("SET").arg("str").arg("not an hll").query(&mut ours).unwrap();
        let _: () = redis::cmd("SET").arg("str").arg("not an hll").query(&mut theirs).unwrap();
        for cmd in
            [redis::cmd("PFADD").arg("str").arg("a").clone(), redis::cmd("PFCOUNT").arg("str").arg("src").clone()]
        {
            let a = cmd.query::<redis::Value>(&mut ours).unwrap_err();
            let b = cmd.query::<redis::Value>(&mut theirs).unwrap_err();
            assert_eq!((a.code(), a.detail()), (b.code(), b.detail()));
            assert_eq!(a.code(), Some("WRONGTYPE"));
        }
    }
}
