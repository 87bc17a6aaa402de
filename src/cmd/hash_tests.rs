//! Unit tests of the hash commands (`cmd::hash`), through the command harness.

use super::super::harness::{Harness, Reply};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| b(s)).collect())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

fn sorted(r: Reply) -> Vec<Vec<u8>> {
    let Reply::Array(items) = r else { panic!("not an array: {r:?}") };
    let mut v: Vec<Vec<u8>> = items
        .into_iter()
        .map(|i| match i {
            Reply::Bulk(b) => b,
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    v.sort();
    v
}

fn each_shard_count(f: impl Fn(&mut Harness)) {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        f(&mut h);
    }
}

#[test]
fn hset_hget_hmget_hdel() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["hset", "h", "a", "1", "b", "2"]), Reply::Int(2));
        assert_eq!(h.run(&["hset", "h", "a", "10", "c", "3"]), Reply::Int(1));
        assert_eq!(h.run(&["hget", "h", "a"]), b("10"));
        assert_eq!(h.run(&["hget", "h", "zz"]), Reply::Nil);
        assert_eq!(h.run(&["hget", "nokey", "a"]), Reply::Nil);
        assert_eq!(h.run(&["hmget", "h", "a", "zz", "c"]), Reply::Array(vec![b("10"), Reply::Nil, b("3")]));
        assert_eq!(h.run(&["hmget", "nokey", "a"]), Reply::Array(vec![Reply::Nil]));
        assert_eq!(h.run(&["hlen", "h"]), Reply::Int(3));
        assert_eq!(h.run(&["hexists", "h", "b"]), Reply::Int(1));
        assert_eq!(h.run(&["hexists", "h", "x"]), Reply::Int(0));
        assert_eq!(h.run(&["hstrlen", "h", "a"]), Reply::Int(2));
        assert_eq!(h.run(&["hstrlen", "h", "x"]), Reply::Int(0));
        assert_eq!(h.run(&["hdel", "h", "a", "x", "b"]), Reply::Int(2));
        assert_eq!(h.run(&["hdel", "h", "c", "c"]), Reply::Int(1));
        assert_eq!(h.run(&["exists", "h"]), Reply::Int(0), "emptied hash is deleted");
        assert_eq!(h.run(&["hdel", "h", "c"]), Reply::Int(0));
        assert_eq!(h.run(&["hmset", "h", "x", "1"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["type", "h"]), Reply::Simple("hash".into()));
    });
}

#[test]
fn arity_and_wrongtype() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["hset", "h", "a", "1", "b"]), err("ERR wrong number of arguments for 'hset' command"));
        assert_eq!(h.run(&["hmset", "h", "a"]), err("ERR wrong number of arguments for 'hmset' command"));
        assert_eq!(h.run(&["exists", "h"]), Reply::Int(0));
        h.run(&["set", "s", "v"]);
        for cmd in [
            &["hset", "s", "a", "1"][..],
            &["hsetnx", "s", "a", "1"],
            &["hget", "s", "a"],
            &["hmget", "s", "a"],
            &["hdel", "s", "a"],
            &["hlen", "s"],
            &["hstrlen", "s", "a"],
            &["hexists", "s", "a"],
            &["hkeys", "s"],
            &["hvals", "s"],
            &["hgetall", "s"],
            &["hincrby", "s", "a", "1"],
            &["hincrbyfloat", "s", "a", "1"],
            &["hrandfield", "s"],
            &["hrandfield", "s", "2"],
            &["hscan", "s", "0"],
        ] {
            assert_eq!(h.run(cmd), err(WRONGTYPE), "{cmd:?}");
        }
        h.run(&["hset", "h", "a", "1"]);
        assert_eq!(h.run(&["get", "h"]), err(WRONGTYPE));
    });
}

#[test]
fn hsetnx_and_getall_forms() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["hsetnx", "h", "a", "1"]), Reply::Int(1));
        assert_eq!(h.run(&["hsetnx", "h", "a", "2"]), Reply::Int(0));
        h.run(&["hset", "h", "b", "2"]);
        assert_eq!(h.run(&["hgetall", "h"]), arr(&["a", "1", "b", "2"]));
        assert_eq!(h.run(&["hkeys", "h"]), arr(&["a", "b"]));
        assert_eq!(h.run(&["hvals", "h"]), arr(&["1", "2"]));
        assert_eq!(h.run(&["hgetall", "nokey"]), Reply::Array(vec![]));
        h.resp3();
        assert_eq!(h.run(&["hgetall", "h"]), Reply::Map(vec![(b("a"), b("1")), (b("b"), b("2"))]));
        assert_eq!(h.run(&["hgetall", "nokey"]), Reply::Map(vec![]));
        assert_eq!(h.run(&["hget", "h", "zz"]), Reply::Nil);
    });
}

#[test]
fn hincrby_and_float() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["hincrby", "h", "n", "5"]), Reply::Int(5));
        assert_eq!(h.run(&["hincrby", "h", "n", "-7"]), Reply::Int(-2));
        assert_eq!(h.run(&["hincrby", "h", "n", "x"]), err("ERR value is not an integer or out of range"));
        h.run(&["hset", "h", "s", "abc", "big", "9223372036854775800"]);
        assert_eq!(h.run(&["hincrby", "h", "s", "1"]), err("ERR hash value is not an integer"));
        assert_eq!(h.run(&["hincrby", "h", "big", "100"]), err("ERR increment or decrement would overflow"));
        assert_eq!(h.run(&["hget", "h", "big"]), b("9223372036854775800"));
        assert_eq!(h.run(&["hincrby", "new", "f", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["exists", "new"]), Reply::Int(0));

        assert_eq!(h.run(&["hincrbyfloat", "h", "f", "10.5"]), b("10.5"));
        assert_eq!(h.run(&["hincrbyfloat", "h", "f", "0.1"]), b("10.6"));
        assert_eq!(h.run(&["hincrbyfloat", "h", "n", "1.5"]), b("-0.5"));
        // Redis's `long double` sum, digit for digit (redis-server 7.0.15 on x86-64).
        assert_eq!(h.run(&["hincrbyfloat", "h", "f", "5.0e3"]), b("5010.60000000000000009"));
        assert_eq!(h.run(&["hincrbyfloat", "h", "s", "1"]), err("ERR hash value is not a float"));
        assert_eq!(h.run(&["hincrbyfloat", "h", "f", "abc"]), err("ERR value is not a valid float"));
        assert_eq!(h.run(&["hincrbyfloat", "h", "f", "inf"]), err("ERR value is NaN or Infinity"));
        h.run(&["hset", "h", "huge", "1.1e4932"]);
        assert_eq!(
            h.run(&["hincrbyfloat", "h", "huge", "1.1e4932"]),
            err("ERR increment would produce NaN or Infinity")
        );
        assert_eq!(h.run(&["hincrbyfloat", "new", "f", "abc"]), err("ERR value is not a valid float"));
        assert_eq!(h.run(&["exists", "new"]), Reply::Int(0));
    });
}

#[test]
fn encodings_convert_like_redis() {
    each_shard_count(|h| {
        h.run(&["hset", "h", "a", "1"]);
        assert_eq!(h.run(&["object", "encoding", "h"]), b("listpack"));
        // `hash-max-listpack-entries` defaults to 512.
        for i in 0..511 {
            h.run(&["hset", "h", &format!("f{i}"), "v"]);
        }
        assert_eq!(h.run(&["object", "encoding", "h"]), b("listpack"));
        h.run(&["hset", "h", "one-more", "v"]);
        assert_eq!(h.run(&["object", "encoding", "h"]), b("hashtable"));
        assert_eq!(h.run(&["hlen", "h"]), Reply::Int(513));

        let long = "x".repeat(65);
        h.run(&["hset", "h2", "a", &long]);
        assert_eq!(h.run(&["object", "encoding", "h2"]), b("hashtable"));
        h.run(&["hset", "h3", "a", "1"]);
        h.run(&["hincrbyfloat", "h3", "a", "1.5"]);
        assert_eq!(h.run(&["object", "encoding", "h3"]), b("listpack"));
    });
}

#[test]
fn hrandfield_forms() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["hrandfield", "nokey"]), Reply::Nil);
        assert_eq!(h.run(&["hrandfield", "nokey", "3"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["hrandfield", "nokey", "3", "withvalues"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["hrandfield", "nokey", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["hrandfield", "nokey", "1", "x"]), err("ERR syntax error"));
        assert_eq!(h.run(&["hrandfield", "nokey", "1", "withvalues", "x"]), err("ERR syntax error"));
        assert_eq!(
            h.run(&["hrandfield", "nokey", "-9223372036854775808"]),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
        assert_eq!(
            h.run(&["hrandfield", "nokey", "-9223372036854775807", "withvalues"]),
            err("ERR value is out of range")
        );
        for big in [false, true] {
            let n = if big { 600 } else { 50 };
            h.run(&["del", "h"]);
            for i in 0..n {
                h.run(&["hset", "h", &format!("f{i}"), &format!("v{i}")]);
            }
            let enc = if big { "hashtable" } else { "listpack" };
            assert_eq!(h.run(&["object", "encoding", "h"]), b(enc));
            let Reply::Bulk(f) = h.run(&["hrandfield", "h"]) else { panic!() };
            assert!(f.starts_with(b"f"));
            assert_eq!(h.run(&["hrandfield", "h", "0"]), Reply::Array(vec![]));
            // Positive count: distinct fields, at most the hash's size.
            for count in [1, 5, 20, n - 1, n, n + 10] {
                let got = sorted(h.run(&["hrandfield", "h", &count.to_string()]));
                assert_eq!(got.len(), count.min(n));
                let mut dedup = got.clone();
                dedup.dedup();
                assert_eq!(dedup.len(), got.len(), "distinct");
            }
            // Negative count: exactly |count|, repeats allowed.
            let Reply::Array(items) = h.run(&["hrandfield", "h", "-1000"]) else { panic!() };
            assert_eq!(items.len(), 1000);
            // WITHVALUES pairs each field with its value.
            let Reply::Array(items) = h.run(&["hrandfield", "h", "-7", "withvalues"]) else { panic!() };
            assert_eq!(items.len(), 14);
            for p in items.chunks(2) {
                let (Reply::Bulk(f), Reply::Bulk(v)) = (&p[0], &p[1]) else { panic!() };
                assert_eq!(&f[1..], &v[1..]);
            }
            let Reply::Array(items) = h.run(&["hrandfield", "h", "10", "withvalues"]) else { panic!() };
            assert_eq!(items.len(), 20);
        }
        h.resp3();
        let Reply::Array(items) = h.run(&["hrandfield", "h", "3", "withvalues"]) else { panic!() };
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|p| matches!(p, Reply::Array(v) if v.len() == 2)));
    });
}

#[test]
fn hrandfield_covers_all_fields() {
    let mut h = Harness::new(1);
    for i in 0..10 {
        h.run(&["hset", "h", &format!("f{i}"), "v"]);
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let Reply::Bulk(f) = h.run(&["hrandfield", "h"]) else { panic!() };
        seen.insert(f);
    }
    assert_eq!(seen.len(), 10);
}

/// Every (field, value) a full HSCAN returned, and the number of calls it took.
type ScanResult = (Vec<(Vec<u8>, Vec<u8>)>, usize);

fn full_hscan(h: &mut Harness, key: &str, extra: &[&str]) -> ScanResult {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["hscan", key, &cursor];
        args.extend_from_slice(extra);
        let Reply::Array(r) = h.run(&args) else { panic!() };
        calls += 1;
        let Reply::Bulk(c) = &r[0] else { panic!() };
        let Reply::Array(items) = &r[1] else { panic!() };
        for p in items.chunks(2) {
            let (Reply::Bulk(f), Reply::Bulk(v)) = (&p[0], &p[1]) else { panic!() };
            out.push((f.clone(), v.clone()));
        }
        cursor = String::from_utf8(c.clone()).unwrap();
        if cursor == "0" {
            return (out, calls);
        }
    }
}

#[test]
fn hscan_small_and_large() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["hscan", "nokey", "0"]), Reply::Array(vec![b("0"), Reply::Array(vec![])]));
        assert_eq!(h.run(&["hscan", "nokey", "x"]), err("ERR invalid cursor"));
        for i in 0..20 {
            h.run(&["hset", "small", &format!("f{i}"), &format!("v{i}")]);
        }
        let (items, calls) = full_hscan(h, "small", &["count", "2"]);
        assert_eq!((items.len(), calls), (20, 1), "listpack: one call");
        let (items, _) = full_hscan(h, "small", &["match", "f1*"]);
        assert_eq!(items.len(), 11);
        assert!(items.iter().all(|(f, v)| f[1..] == v[1..]));
        for i in 0..1000 {
            h.run(&["hset", "big", &format!("f{i}"), "v"]);
        }
        let (items, calls) = full_hscan(h, "big", &["count", "50"]);
        let mut fields: Vec<_> = items.into_iter().map(|(f, _)| f).collect();
        fields.sort();
        fields.dedup();
        assert_eq!(fields.len(), 1000);
        assert!(calls >= 20);
        assert_eq!(h.run(&["hscan", "big", "0", "count", "0"]), err("ERR syntax error"));
        assert_eq!(h.run(&["hscan", "big", "0", "count", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["hscan", "big", "0", "type", "string"]), err("ERR syntax error"));
        assert_eq!(h.run(&["hscan", "big", "0", "match"]), err("ERR syntax error"));
    });
}

#[test]
fn expired_hash_is_gone() {
    each_shard_count(|h| {
        h.run(&["hset", "h", "a", "1"]);
        h.run(&["pexpire", "h", "100"]);
        h.advance_ms(200);
        assert_eq!(h.run(&["hget", "h", "a"]), Reply::Nil);
        assert_eq!(h.run(&["hset", "h", "b", "2"]), Reply::Int(1));
        assert_eq!(h.run(&["hgetall", "h"]), arr(&["b", "2"]));
    });
}

#[test]
fn keyspace_events() {
    each_shard_count(|h| {
        h.run(&["config", "set", "notify-keyspace-events", "KEA"]);
        h.listen_events();
        h.run(&["hset", "h", "a", "1", "b", "2"]);
        h.run(&["hset", "h", "a", "1"]);
        h.run(&["hmset", "h", "c", "3"]);
        h.run(&["hsetnx", "h", "a", "9"]);
        h.run(&["hsetnx", "h", "d", "4"]);
        assert_eq!(h.events(), ["hset h", "hset h", "hset h", "hset h"]);
        h.run(&["hincrby", "h", "a", "2"]);
        h.run(&["hincrbyfloat", "h", "a", "0.5"]);
        h.run(&["hincrby", "h", "c", "x"]);
        h.run(&["hget", "h", "a"]);
        h.run(&["hgetall", "h"]);
        assert_eq!(h.events(), ["hincrby h", "hincrbyfloat h"]);
        h.run(&["hdel", "h", "nope"]);
        h.run(&["hdel", "h", "a", "b"]);
        h.run(&["hdel", "h", "c", "d"]);
        h.run(&["hdel", "h", "c"]);
        assert_eq!(h.events(), ["hdel h", "hdel h", "del h"]);
    });
}
