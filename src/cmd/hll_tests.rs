//! Unit tests of the HyperLogLog commands, on 1- and 4-shard harnesses. Expected
//! bytes and counts were taken from Redis 7.0.15 for the same command sequences.

use super::super::harness::{Harness, Reply};
use crate::shard::shard_of;
use crate::storage::hll;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";

fn int(n: i64) -> Reply {
    Reply::Int(n)
}
fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}
fn ok() -> Reply {
    Reply::Simple("OK".into())
}

use super::super::harness::each;

fn dirty(h: &Harness) -> u64 {
    h.shards.iter().map(|s| s.dirty).sum()
}

fn hits_misses(h: &Harness) -> (u64, u64) {
    h.shards.iter().fold((0, 0), |(a, b), s| (a + s.stats.keyspace_hits, b + s.stats.keyspace_misses))
}

fn get(h: &mut Harness, key: &str) -> Vec<u8> {
    match h.run(&["get", key]) {
        Reply::Bulk(b) => b,
        other => panic!("GET {key}: {other:?}"),
    }
}

fn set_raw(h: &mut Harness, key: &str, v: &[u8]) {
    assert_eq!(h.run_raw(&[b"set", key.as_bytes(), v]), b"+OK\r\n");
}

fn pfadd_many(h: &mut Harness, key: &str, elements: impl IntoIterator<Item = String>) {
    let elements: Vec<String> = elements.into_iter().collect();
    for chunk in elements.chunks(500) {
        let mut args = vec!["pfadd", key];
        args.extend(chunk.iter().map(String::as_str));
        h.run(&args);
    }
}

/// `n` keys on pairwise different shards (as far as there are shards).
fn spread_keys(h: &Harness, n: usize) -> Vec<String> {
    let shards = h.shards.len();
    let mut keys: Vec<String> = Vec::new();
    for i in 0..10_000 {
        let k = format!("hk{i}");
        let s = shard_of(k.as_bytes(), shards);
        if keys.len() < shards.min(n) && keys.iter().any(|o| shard_of(o.as_bytes(), shards) == s) {
            continue;
        }
        keys.push(k);
        if keys.len() == n {
            return keys;
        }
    }
    panic!("not enough keys");
}

#[test]
fn pfadd_pfcount_and_the_cached_cardinality() {
    each(|h| {
        let d0 = dirty(h);
        assert_eq!(h.run(&["pfadd", "h"]), int(1), "creating the key is an update");
        assert_eq!(dirty(h), d0 + 1);
        assert_eq!(get(h, "h"), b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff");
        assert_eq!(h.run(&["pfadd", "h"]), int(0));
        assert_eq!(h.run(&["pfadd", "h", "a", "b", "c"]), int(1));
        assert_eq!(dirty(h), d0 + 4, "one change per register raised");
        assert_eq!(get(h, "h"), b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a");
        assert_eq!(h.run(&["pfadd", "h", "a", "b"]), int(0));
        assert_eq!(dirty(h), d0 + 4);
        assert_eq!(h.run(&["pfcount", "h"]), int(3));
        assert_eq!(dirty(h), d0 + 5, "refreshing the cache is a change");
        assert_eq!(get(h, "h"), b"HYLL\x01\0\0\0\x03\0\0\0\0\0\0\0\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a");
        assert_eq!(h.run(&["pfcount", "h"]), int(3));
        assert_eq!(dirty(h), d0 + 5, "a valid cache is only read");
        // A later add flags the cache stale and keeps its old bytes.
        assert_eq!(h.run(&["pfadd", "h", "d"]), int(1));
        assert_eq!(&get(h, "h")[8..16], &[3, 0, 0, 0, 0, 0, 0, 0x80]);
        assert_eq!(h.run(&["pfcount", "h"]), int(4));
        assert_eq!(h.run(&["pfcount", "missing"]), int(0));
        assert_eq!(h.run(&["exists", "missing"]), int(0));
        assert_eq!(h.run(&["type", "h"]), Reply::Simple("string".into()));
        let (hits, misses) = hits_misses(h);
        h.run(&["pfcount", "h"]);
        h.run(&["pfcount", "missing"]);
        h.run(&["pfadd", "h", "e"]);
        assert_eq!(hits_misses(h), (hits + 1, misses + 1), "PFCOUNT reads, PFADD writes");
    });
}

#[test]
fn pfadd_keeps_ttl_and_values_survive_string_commands() {
    each(|h| {
        h.run(&["pfadd", "h", "x"]);
        h.run(&["expire", "h", "100"]);
        h.run(&["pfadd", "h", "y", "z"]);
        assert_eq!(h.run(&["ttl", "h"]), int(100));
        // A value copied byte for byte is the same HyperLogLog.
        let bytes = get(h, "h");
        set_raw(h, "copy", &bytes);
        assert_eq!(h.run(&["pfcount", "copy"]), int(3));
        assert_eq!(h.run(&["pfadd", "copy", "x", "y", "z"]), int(0));
    });
}

#[test]
fn error_cases() {
    each(|h| {
        h.run(&["set", "str", "foo"]);
        assert_eq!(h.run(&["pfadd", "str", "a"]), err(NOT_HLL));
        assert_eq!(h.run(&["pfcount", "str"]), err(NOT_HLL));
        assert_eq!(h.run(&["pfmerge", "str", "missing"]), err(NOT_HLL));
        assert_eq!(h.run(&["pfmerge", "d", "str"]), err(NOT_HLL));
        assert_eq!(h.run(&["exists", "d"]), int(0));
        h.run(&["set", "short", "HYLL"]);
        assert_eq!(h.run(&["pfcount", "short"]), err(NOT_HLL));
        // A dense header on the wrong length, and an unknown encoding.
        let mut bad = hll::new_sparse();
        bad[4] = 0;
        set_raw(h, "baddense", &bad);
        assert_eq!(h.run(&["pfcount", "baddense"]), err(NOT_HLL));
        bad[4] = 2;
        set_raw(h, "badenc", &bad);
        assert_eq!(h.run(&["pfadd", "badenc", "a"]), err(NOT_HLL));
        h.run(&["lpush", "list", "a"]);
        assert_eq!(h.run(&["pfadd", "list", "a"]), err(WRONGTYPE));
        assert_eq!(h.run(&["pfcount", "list"]), err(WRONGTYPE));
        assert_eq!(h.run(&["pfadd"]), err("ERR wrong number of arguments for 'pfadd' command"));
        assert_eq!(h.run(&["pfcount"]), err("ERR wrong number of arguments for 'pfcount' command"));
        assert_eq!(h.run(&["pfmerge"]), err("ERR wrong number of arguments for 'pfmerge' command"));
    });
}

#[test]
fn corrupt_values_are_invalidobj() {
    each(|h| {
        // A sparse body covering 16383 registers only, with a stale cache.
        let mut bad = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xfe".to_vec();
        set_raw(h, "bad", &bad);
        assert_eq!(h.run(&["pfcount", "bad"]), err(INVALID));
        assert_eq!(h.run(&["pfcount", "bad", "missing"]), err(INVALID));
        assert_eq!(h.run(&["pfmerge", "d", "bad"]), err(INVALID));
        assert_eq!(h.run(&["exists", "d"]), int(0));
        assert_eq!(h.run(&["pfdebug", "todense", "bad"]), err(INVALID));
        assert_eq!(h.run(&["pfdebug", "getreg", "bad"]), err(INVALID));
        // Redis only notices where it walks: the last register is past the body.
        let reg16383 = (0..100_000).map(|i| format!("e{i}")).find(|e| hll::pattern(e.as_bytes()).0 == 16383).unwrap();
        assert_eq!(h.run(&["pfadd", "bad", &reg16383]), err(INVALID));
        // A cached count is trusted without walking the body.
        bad[15] = 0;
        bad[8] = 42;
        set_raw(h, "cached", &bad);
        assert_eq!(h.run(&["pfcount", "cached"]), int(42));
    });
}

#[test]
fn pfmerge_unions_across_shards() {
    each(|h| {
        let k = spread_keys(h, 4);
        let (a, b, c, dst) = (&k[0], &k[1], &k[2], &k[3]);
        pfadd_many(h, a, (0..300).map(|i| format!("e{i}")));
        pfadd_many(h, b, (200..500).map(|i| format!("e{i}")));
        pfadd_many(h, c, (400..2000).map(|i| format!("e{i}")));
        pfadd_many(h, "all", (0..2000).map(|i| format!("e{i}")));
        let want = match h.run(&["pfcount", "all"]) {
            Reply::Int(n) => n,
            other => panic!("{other:?}"),
        };
        assert!((want - 2000).abs() < 40, "estimate {want}");
        assert_eq!(h.run(&["pfcount", a, b, c]), int(want), "the union of the parts is the whole");
        assert_eq!(h.run(&["pfcount", a, "nokey", b, c]), int(want));
        let d0 = dirty(h);
        assert_eq!(h.run(&["pfmerge", dst, a, b, c]), ok());
        assert_eq!(dirty(h), d0 + 1);
        assert_eq!(h.run(&["pfcount", dst]), int(want));
        // Same registers: the sparse/dense choice may differ, the union may not.
        let all = get(h, "all");
        let merged = get(h, dst);
        assert_eq!(hll::registers(&merged).unwrap(), hll::registers(&all).unwrap());
        // The destination is also a source.
        assert_eq!(h.run(&["pfmerge", a, b]), ok());
        assert_eq!(h.run(&["pfcount", a, "nokey"]), h.run(&["pfcount", a, b]));
        assert_eq!(h.run(&["pfmerge", "fresh"]), ok());
        assert_eq!(get(h, "fresh"), b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff");
        assert_eq!(h.run(&["pfcount", "fresh", "nokey"]), int(0));
    });
}

#[test]
fn sparse_promotion_follows_the_config() {
    each(|h| {
        pfadd_many(h, "small", (0..100).map(|i| format!("e{i}")));
        assert_eq!(h.run(&["pfdebug", "encoding", "small"]), Reply::Simple("sparse".into()));
        assert_eq!(h.run(&["config", "set", "hll-sparse-max-bytes", "100"]), ok());
        assert_eq!(
            h.run(&["config", "get", "hll-sparse-max-bytes"]),
            Reply::Array(vec![Reply::bulk("hll-sparse-max-bytes"), Reply::bulk("100")])
        );
        h.run(&["pfadd", "small", "one-more", "and-another", "x", "y", "z"]);
        assert_eq!(h.run(&["pfdebug", "encoding", "small"]), Reply::Simple("dense".into()));
        assert_eq!(get(h, "small").len(), hll::DENSE_SIZE);
        assert_eq!(h.run(&["pfcount", "small"]), int(105));
        // A dense input makes PFMERGE's destination dense.
        assert_eq!(h.run(&["config", "set", "hll-sparse-max-bytes", "3000"]), ok());
        h.run(&["pfadd", "sp", "a"]);
        assert_eq!(h.run(&["pfmerge", "sp", "small"]), ok());
        assert_eq!(h.run(&["pfdebug", "encoding", "sp"]), Reply::Simple("dense".into()));
    });
}

#[test]
fn pfdebug_subcommands() {
    each(|h| {
        h.run(&["pfadd", "h", "a", "b", "c"]);
        assert_eq!(h.run(&["pfdebug", "decode", "h"]), Reply::bulk("Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"));
        assert_eq!(h.run(&["pfdebug", "encoding", "h"]), Reply::Simple("sparse".into()));
        assert_eq!(h.run(&["pfdebug", "frob", "h"]), err("ERR Unknown PFDEBUG subcommand 'frob'"));
        assert_eq!(h.run(&["pfdebug", "frob", "nokey"]), err("ERR The specified key does not exist"));
        h.run(&["set", "str", "x"]);
        assert_eq!(h.run(&["pfdebug", "encoding", "str"]), err(NOT_HLL));
        let d0 = dirty(h);
        let Reply::Array(regs) = h.run(&["pfdebug", "getreg", "h"]) else { panic!("array") };
        assert_eq!(regs.len(), hll::REGISTERS);
        assert_eq!((regs[8436].clone(), regs[12711].clone(), regs[0].clone()), (int(1), int(2), int(0)));
        assert_eq!(dirty(h), d0 + 1, "GETREG converts to dense");
        assert_eq!(h.run(&["pfdebug", "encoding", "h"]), Reply::Simple("dense".into()));
        assert_eq!(h.run(&["pfdebug", "decode", "h"]), err("ERR HLL encoding is not sparse"));
        assert_eq!(h.run(&["pfdebug", "todense", "h"]), int(0));
        h.run(&["pfadd", "h2", "a"]);
        assert_eq!(h.run(&["pfdebug", "todense", "h2"]), int(1));
        assert_eq!(h.run(&["pfcount", "h", "h2"]), int(3));
        assert_eq!(h.run(&["pfdebug", "getreg"]), err("ERR wrong number of arguments for 'pfdebug' command"));
    });
}

#[test]
fn pfselftest_passes() {
    let mut h = Harness::new(1);
    assert_eq!(h.run(&["pfselftest"]), ok());
}

#[test]
fn command_table_entries_match_redis() {
    use super::super::table::flag;
    let spec = |name: &str| super::COMMANDS.iter().find(|c| c.name == name).expect(name);
    for (name, arity, flags, keys) in [
        ("pfadd", -2, flag::WRITE | flag::DENYOOM | flag::FAST, (1, 1, 1)),
        ("pfcount", -2, flag::READONLY | flag::MAY_REPLICATE, (1, -1, 1)),
        ("pfmerge", -2, flag::WRITE | flag::DENYOOM, (1, -1, 1)),
        ("pfdebug", 3, flag::WRITE | flag::DENYOOM | flag::ADMIN, (2, 2, 1)),
        ("pfselftest", 1, flag::ADMIN, (0, 0, 0)),
    ] {
        let s = spec(name);
        assert_eq!((s.arity, s.flags, s.key_triple(), s.group), (arity, flags, keys, "hyperloglog"), "{name}");
    }
}
