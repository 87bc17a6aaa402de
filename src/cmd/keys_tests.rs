//! Unit tests of the generic key commands (DEL, EXISTS, EXPIRE family, RENAME, COPY,
//! OBJECT, SCAN, ...) on 1- and 4-shard harnesses.

use crate::cmd::harness::{Harness, Reply};
use crate::shard::shard_of;
use std::collections::HashSet;

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

/// A bulk or error reply as text.
fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Error(e) | Reply::Simple(e) => e.clone(),
        other => panic!("not text: {other:?}"),
    }
}

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

/// Two key names owned by different shards (the same shard when there is one).
fn apart(n: usize) -> (String, String) {
    let a = "src".to_string();
    let b = (0..).map(|i| format!("dst{i}")).find(|k| n == 1 || shard_of(k.as_bytes(), n) != shard_of(b"src", n));
    (a, b.expect("some name lands elsewhere"))
}

#[test]
fn del_unlink_exists_type_touch() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        h.run(&["mset", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(h.run(&["exists", "a", "a", "b", "nope"]), int(3), "duplicates count");
        assert_eq!(h.run(&["type", "a"]), Reply::Simple("string".into()));
        assert_eq!(h.run(&["type", "nope"]), Reply::Simple("none".into()));
        assert_eq!(h.run(&["touch", "a", "b", "nope", "a"]), int(3));
        assert_eq!(h.run(&["del", "a", "a", "nope"]), int(1));
        assert_eq!(h.run(&["unlink", "b", "c", "b"]), int(2));
        assert_eq!(h.run(&["exists", "a", "b", "c"]), int(0));
        assert_eq!(h.run(&["del"]), err("ERR wrong number of arguments for 'del' command"));
        assert_eq!(h.run(&["type", "a", "b"]), err("ERR wrong number of arguments for 'type' command"));
    }
}

#[test]
fn exists_and_touch_count_keyspace_hits() {
    let mut h = Harness::new(1);
    h.run(&["set", "a", "1"]);
    h.run(&["exists", "a", "x"]);
    h.run(&["touch", "a", "a"]);
    let st = &h.shards[0].stats;
    assert_eq!((st.keyspace_hits, st.keyspace_misses), (3, 1));
}

#[test]
fn ttl_family_and_lazy_expiry() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        let now = h.clock.now_ms() as i64;
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        assert_eq!(h.run(&["pttl", "k"]), int(-1));
        assert_eq!(h.run(&["expiretime", "k"]), int(-1));
        assert_eq!(h.run(&["ttl", "missing"]), int(-2));
        assert_eq!(h.run(&["pexpiretime", "missing"]), int(-2));
        assert_eq!(h.run(&["expire", "k", "10"]), int(1));
        assert_eq!(h.run(&["ttl", "k"]), int(10));
        assert_eq!(h.run(&["pttl", "k"]), int(10_000));
        assert_eq!(h.run(&["pexpiretime", "k"]), int(now + 10_000));
        assert_eq!(h.run(&["expiretime", "k"]), int((now + 10_000 + 500) / 1000));
        h.advance_ms(2_400);
        assert_eq!(h.run(&["pttl", "k"]), int(7_600));
        assert_eq!(h.run(&["ttl", "k"]), int(8), "rounded to the nearest second");
        h.advance_ms(200);
        assert_eq!(h.run(&["ttl", "k"]), int(7));
        assert_eq!(h.run(&["persist", "k"]), int(1));
        assert_eq!(h.run(&["persist", "k"]), int(0));
        assert_eq!(h.run(&["persist", "missing"]), int(0));
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        assert_eq!(h.run(&["pexpire", "k", "50"]), int(1));
        h.advance_ms(49);
        assert_eq!(h.run(&["get", "k"]), Reply::bulk("v"));
        h.advance_ms(1);
        assert_eq!(h.run(&["get", "k"]), Reply::bulk("v"), "still there at its deadline, as in Redis");
        assert_eq!(h.run(&["pttl", "k"]), int(0));
        h.advance_ms(1);
        assert_eq!(h.run(&["get", "k"]), Reply::Nil, "lazily expired once past its deadline");
        assert_eq!(h.run(&["ttl", "k"]), int(-2));
        assert_eq!(h.run(&["dbsize"]), int(0));
        let expired: u64 = h.shards.iter().map(|s| s.stats.expired_keys).sum();
        assert_eq!(expired, 1);
    }
}

#[test]
fn expire_absolute_and_past_times() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        let now = h.clock.now_ms();
        h.run(&["mset", "a", "1", "b", "2", "c", "3", "d", "4"]);
        assert_eq!(h.run(&["expireat", "a", &(now / 1000 + 100).to_string()]), int(1));
        assert_eq!(h.run(&["expiretime", "a"]), int((now / 1000 + 100) as i64));
        assert_eq!(h.run(&["pexpireat", "b", &(now + 1234).to_string()]), int(1));
        assert_eq!(h.run(&["pttl", "b"]), int(1234));
        // Times already past delete the key and still answer 1.
        assert_eq!(h.run(&["expire", "c", "0"]), int(1));
        assert_eq!(h.run(&["pexpire", "d", "-5"]), int(1));
        assert_eq!(h.run(&["expireat", "a", "1"]), int(1));
        assert_eq!(h.run(&["exists", "a", "c", "d"]), int(0));
        assert_eq!(h.run(&["expire", "missing", "10"]), int(0));
        let expired: u64 = h.shards.iter().map(|s| s.stats.expired_keys).sum();
        assert_eq!(expired, 0, "an EXPIRE in the past is a delete, not an expiry");
    }
}

#[test]
fn expire_option_matrix() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        h.run(&["set", "k", "v"]);
        // No TTL: NX and LT apply, XX and GT do not.
        assert_eq!(h.run(&["expire", "k", "100", "xx"]), int(0));
        assert_eq!(h.run(&["expire", "k", "100", "gt"]), int(0));
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        assert_eq!(h.run(&["expire", "k", "100", "lt"]), int(1));
        h.run(&["persist", "k"]);
        assert_eq!(h.run(&["expire", "k", "100", "NX"]), int(1));
        // TTL 100 now.
        assert_eq!(h.run(&["expire", "k", "50", "nx"]), int(0));
        assert_eq!(h.run(&["expire", "k", "200", "xx"]), int(1));
        assert_eq!(h.run(&["ttl", "k"]), int(200));
        assert_eq!(h.run(&["expire", "k", "100", "gt"]), int(0));
        assert_eq!(h.run(&["expire", "k", "200", "gt"]), int(0), "equal is not greater");
        assert_eq!(h.run(&["expire", "k", "300", "gt"]), int(1));
        assert_eq!(h.run(&["expire", "k", "300", "lt"]), int(0), "equal is not less");
        assert_eq!(h.run(&["expire", "k", "400", "lt"]), int(0));
        assert_eq!(h.run(&["expire", "k", "150", "lt"]), int(1));
        assert_eq!(h.run(&["expire", "k", "160", "xx", "gt"]), int(1));
        assert_eq!(h.run(&["expire", "k", "170", "lt", "xx"]), int(0));
        assert_eq!(h.run(&["ttl", "k"]), int(160));
        assert_eq!(h.run(&["pexpire", "k", "1000", "lt"]), int(1));
        assert_eq!(h.run(&["pttl", "k"]), int(1000));
        // A refused option leaves a key alone even when the time is in the past.
        assert_eq!(h.run(&["expire", "k", "-1", "gt"]), int(0));
        assert_eq!(h.run(&["exists", "k"]), int(1));
        for bad in [["nx", "xx"], ["nx", "gt"], ["lt", "nx"]] {
            assert_eq!(
                h.run(&["expire", "k", "10", bad[0], bad[1]]),
                err("ERR NX and XX, GT or LT options at the same time are not compatible")
            );
        }
        assert_eq!(
            h.run(&["expire", "k", "10", "gt", "lt"]),
            err("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(h.run(&["expire", "k", "10", "xx", "bogus"]), err("ERR Unsupported option bogus"));
        // Options are checked before the time, as in Redis.
        assert_eq!(h.run(&["expire", "k", "x", "bogus"]), err("ERR Unsupported option bogus"));
        assert_eq!(h.run(&["expire", "k", "x"]), err("ERR value is not an integer or out of range"));
    }
}

#[test]
fn expire_overflow_errors() {
    let mut h = Harness::new(1);
    h.run(&["set", "k", "v"]);
    let big = (i64::MAX / 1000 + 1).to_string();
    assert_eq!(h.run(&["expire", "k", &big]), err("ERR invalid expire time in 'expire' command"));
    assert_eq!(h.run(&["expireat", "k", &big]), err("ERR invalid expire time in 'expireat' command"));
    let small = (i64::MIN / 1000 - 1).to_string();
    assert_eq!(h.run(&["expire", "k", &small]), err("ERR invalid expire time in 'expire' command"));
    let max = i64::MAX.to_string();
    assert_eq!(h.run(&["pexpire", "k", &max]), err("ERR invalid expire time in 'pexpire' command"));
    assert_eq!(h.run(&["pexpireat", "k", &max]), int(1), "absolute max fits");
    assert_eq!(h.run(&["pexpiretime", "k"]), int(i64::MAX));
    assert_eq!(h.run(&["expire", "missing", &big]), err("ERR invalid expire time in 'expire' command"));
    assert_eq!(h.run(&["expire", "k"]), err("ERR wrong number of arguments for 'expire' command"));
}

#[test]
fn rename_and_renamenx_across_shards() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        let (a, b) = apart(n);
        h.run(&["set", &a, "v"]);
        h.run(&["pexpire", &a, "5000"]);
        assert_eq!(h.run(&["rename", &a, &b]), ok());
        assert_eq!(h.run(&["get", &b]), Reply::bulk("v"));
        assert_eq!(h.run(&["pttl", &b]), int(5000), "TTL moves with the value");
        assert_eq!(h.run(&["exists", &a]), int(0));
        assert_eq!(h.run(&["rename", &a, &b]), err("ERR no such key"));
        assert_eq!(h.run(&["renamenx", &a, &b]), err("ERR no such key"));
        assert_eq!(h.run(&["rename", &b, &b]), ok());
        assert_eq!(h.run(&["renamenx", &b, &b]), int(0));
        assert_eq!(h.run(&["rename", "nope", "nope"]), err("ERR no such key"));
        // Overwrite: the destination's old TTL goes away with its value.
        h.run(&["set", &a, "new"]);
        assert_eq!(h.run(&["renamenx", &b, &a]), int(0));
        assert_eq!(h.run(&["rename", &a, &b]), ok());
        assert_eq!(h.run(&["get", &b]), Reply::bulk("new"));
        assert_eq!(h.run(&["ttl", &b]), int(-1));
        assert_eq!(h.run(&["renamenx", &b, &a]), int(1));
        assert_eq!(h.run(&["get", &a]), Reply::bulk("new"));
        assert_eq!(h.run(&["dbsize"]), int(1));
        for s in &h.shards {
            assert!(s.locks.is_idle());
        }
    }
}

#[test]
fn copy_same_db_other_db_and_replace() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        let (a, b) = apart(n);
        h.run(&["set", &a, "v"]);
        h.run(&["expire", &a, "100"]);
        assert_eq!(h.run(&["copy", &a, &b]), int(1));
        assert_eq!(h.run(&["get", &b]), Reply::bulk("v"));
        assert_eq!(h.run(&["ttl", &b]), int(100));
        assert_eq!(h.run(&["get", &a]), Reply::bulk("v"), "the source stays");
        h.run(&["set", &a, "w"]);
        assert_eq!(h.run(&["copy", &a, &b]), int(0), "destination exists");
        assert_eq!(h.run(&["copy", &a, &b, "replace"]), int(1));
        assert_eq!(h.run(&["get", &b]), Reply::bulk("w"));
        assert_eq!(h.run(&["ttl", &b]), int(-1));
        assert_eq!(h.run(&["copy", "missing", &b, "replace"]), int(0));
        // Into another database, under the same or another name.
        assert_eq!(h.run(&["copy", &a, &a, "db", "3"]), int(1));
        assert_eq!(h.run(&["copy", &a, &b, "DB", "3"]), int(1));
        assert_eq!(h.run(&["copy", &a, &b, "db", "3"]), int(0));
        assert_eq!(h.run(&["copy", &a, &b, "db", "3", "replace"]), int(1));
        h.run(&["select", "3"]);
        assert_eq!(h.run(&["mget", &a, &b]), Reply::Array(vec![Reply::bulk("w"), Reply::bulk("w")]));
        assert_eq!(h.run(&["dbsize"]), int(2));
        h.run(&["select", "0"]);
        assert_eq!(h.run(&["copy", &a, &a]), err("ERR source and destination objects are the same"));
        assert_eq!(h.run(&["copy", &a, &a, "db", "0"]), err("ERR source and destination objects are the same"));
        assert_eq!(h.run(&["copy", &a, &b, "db", "16"]), err("ERR DB index is out of range"));
        assert_eq!(h.run(&["copy", &a, &b, "db", "-1"]), err("ERR DB index is out of range"));
        assert_eq!(h.run(&["copy", &a, &b, "db", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["copy", &a, &b, "db"]), err("ERR syntax error"));
        assert_eq!(h.run(&["copy", &a, &b, "bogus"]), err("ERR syntax error"));
        for s in &h.shards {
            assert!(s.locks.is_idle());
        }
    }
}

#[test]
fn move_between_databases() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        h.run(&["set", "k", "v"]);
        h.run(&["pexpire", "k", "9000"]);
        assert_eq!(h.run(&["move", "k", "1"]), int(1));
        assert_eq!(h.run(&["exists", "k"]), int(0));
        assert_eq!(h.run(&["move", "k", "1"]), int(0), "gone from the source");
        h.run(&["select", "1"]);
        assert_eq!(h.run(&["get", "k"]), Reply::bulk("v"));
        assert_eq!(h.run(&["pttl", "k"]), int(9000));
        h.run(&["select", "0"]);
        h.run(&["set", "k", "other"]);
        assert_eq!(h.run(&["move", "k", "1"]), int(0), "target exists");
        assert_eq!(h.run(&["get", "k"]), Reply::bulk("other"));
        assert_eq!(h.run(&["move", "k", "0"]), err("ERR source and destination objects are the same"));
        assert_eq!(h.run(&["move", "k", "16"]), err("ERR DB index is out of range"));
        assert_eq!(h.run(&["move", "k", "99999999999"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["move", "k", "x"]), err("ERR value is not an integer or out of range"));
    }
}

#[test]
fn object_subcommands() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        h.run(&["mset", "i", "123", "big", "10000", "s", "hello", "neg", "-1"]);
        h.run(&["set", "r", &"x".repeat(45)]);
        assert_eq!(h.run(&["object", "encoding", "i"]), Reply::bulk("int"));
        assert_eq!(h.run(&["object", "ENCODING", "s"]), Reply::bulk("embstr"));
        assert_eq!(h.run(&["object", "encoding", "r"]), Reply::bulk("raw"));
        assert_eq!(h.run(&["object", "encoding", "missing"]), Reply::Nil);
        assert_eq!(h.run(&["object", "refcount", "i"]), int(2147483647));
        assert_eq!(h.run(&["object", "refcount", "big"]), int(1));
        assert_eq!(h.run(&["object", "refcount", "neg"]), int(1));
        assert_eq!(h.run(&["object", "refcount", "s"]), int(1));
        assert_eq!(h.run(&["object", "refcount", "missing"]), Reply::Nil);
        assert!(text(&h.run(&["object", "freq", "s"])).starts_with("ERR An LFU maxmemory policy is not selected"));
        assert_eq!(h.run(&["object", "idletime", "s"]), int(0));
        h.run(&["touch", "s"]);
        h.advance_ms(5_000);
        assert_eq!(h.run(&["object", "idletime", "s"]), int(5));
        h.run(&["object", "encoding", "s"]);
        h.run(&["ttl", "s"]);
        assert_eq!(h.run(&["object", "idletime", "s"]), int(5), "OBJECT and TTL do not touch");
        h.run(&["expire", "s", "100"]);
        assert_eq!(h.run(&["object", "idletime", "s"]), int(0), "EXPIRE touches");
        assert_eq!(h.run(&["object", "foo", "s"]), err("ERR unknown subcommand 'foo'. Try OBJECT HELP."));
        assert_eq!(h.run(&["object", "encoding"]), err("ERR wrong number of arguments for 'object|encoding' command"));
        assert_eq!(h.run(&["object", "help", "x"]), err("ERR wrong number of arguments for 'object|help' command"));
        assert_eq!(h.run(&["object"]), err("ERR wrong number of arguments for 'object' command"));
        let Reply::Array(help) = h.run(&["object", "help"]) else { panic!("help is an array") };
        assert_eq!(help.len(), 15);
        assert_eq!(help[0], Reply::Simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into()));
        assert_eq!(help[13], Reply::Simple("HELP".into()));
    }
}

#[test]
fn object_under_lfu_and_lru_policies() {
    let cfg = crate::config::Config {
        shards: 1,
        maxmemory_policy: "allkeys-lfu".into(),
        maxmemory: 1 << 30,
        ..Default::default()
    };
    let mut h = Harness::with_config(cfg);
    h.run(&["set", "i", "5"]);
    assert!(text(&h.run(&["object", "idletime", "i"])).starts_with("ERR An LFU maxmemory policy is selected"));
    assert_eq!(h.run(&["object", "refcount", "i"]), int(1), "no shared integers under LFU with maxmemory");
    // A new key's LFU counter starts at LFU_INIT_VAL, as in Redis.
    assert_eq!(h.run(&["object", "freq", "i"]), int(5));
}

#[test]
fn memory_usage() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        h.run(&["set", "k", "v"]);
        h.run(&["set", "long", &"x".repeat(1000)]);
        let Reply::Int(small) = h.run(&["memory", "usage", "k"]) else { panic!() };
        let Reply::Int(large) = h.run(&["memory", "usage", "long", "samples", "0"]) else { panic!() };
        assert!(small > 2 && large >= small + 999, "{small} {large}");
        assert_eq!(h.run(&["memory", "usage", "missing"]), Reply::Nil);
        assert_eq!(h.run(&["memory", "usage", "k", "samples", "-1"]), err("ERR syntax error"));
        assert_eq!(h.run(&["memory", "usage", "k", "samples"]), err("ERR syntax error"));
        assert_eq!(
            h.run(&["memory", "usage", "k", "samples", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(h.run(&["memory", "usage"]), err("ERR wrong number of arguments for 'memory|usage' command"));
        assert_eq!(h.run(&["memory", "doctorx"]), err("ERR unknown subcommand 'doctorx'. Try MEMORY HELP."));
        let Reply::Array(help) = h.run(&["memory", "help"]) else { panic!() };
        assert_eq!(help.len(), 14);
    }
}

#[test]
fn keys_and_randomkey_across_shards() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        assert_eq!(h.run(&["keys", "*"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["randomkey"]), Reply::Nil);
        for i in 0..50 {
            h.run(&["set", &format!("user:{i}"), "x"]);
            h.run(&["set", &format!("item:{i}"), "x"]);
        }
        h.run(&["pexpire", "user:0", "10"]);
        h.advance_ms(11);
        let Reply::Array(all) = h.run(&["keys", "*"]) else { panic!() };
        assert_eq!(all.len(), 99, "expired keys are not listed");
        let Reply::Array(users) = h.run(&["keys", "user:?"]) else { panic!() };
        let mut got: Vec<String> = users.iter().map(text).collect();
        got.sort();
        let want: Vec<String> = (1..10).map(|i| format!("user:{i}")).collect();
        assert_eq!(got, want);
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let Reply::Bulk(k) = h.run(&["randomkey"]) else { panic!() };
            assert_ne!(k, b"user:0");
            seen.insert(k);
        }
        assert!(seen.len() > 20, "random keys spread: {}", seen.len());
        h.run(&["flushall"]);
        h.run(&["set", "only", "1"]);
        assert_eq!(h.run(&["randomkey"]), Reply::bulk("only"));
    }
}

/// Runs a full SCAN, calling `between` after every step; returns the keys seen and
/// the number of calls.
fn full_scan(
    h: &mut Harness,
    extra: &[&str],
    mut between: impl FnMut(&mut Harness, usize),
) -> (HashSet<String>, usize) {
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let mut args = vec!["scan", cursor.as_str()];
        args.extend_from_slice(extra);
        let Reply::Array(r) = h.run(&args) else { panic!("scan reply") };
        let Reply::Array(keys) = &r[1] else { panic!("key list") };
        seen.extend(keys.iter().map(text));
        cursor = text(&r[0]);
        between(h, calls);
        calls += 1;
        assert!(calls < 100_000, "scan terminates");
        if cursor == "0" {
            return (seen, calls);
        }
    }
}

#[test]
fn scan_full_iteration_with_churn() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        for i in 0..500 {
            h.run(&["set", &format!("stay{i}"), "v"]);
            h.run(&["set", &format!("go{i}"), "v"]);
        }
        let (seen, calls) = full_scan(&mut h, &["count", "7"], |h, step| {
            // Delete transient keys and add new ones between calls.
            for j in 0..4 {
                h.run(&["del", &format!("go{}", (step * 4 + j) % 500)]);
                h.run(&["set", &format!("new{step}-{j}"), "v"]);
            }
        });
        for i in 0..500 {
            assert!(seen.contains(&format!("stay{i}")), "{n} shards: missed stay{i}");
        }
        // A step that finishes a shard short of COUNT goes on into the next one, so a
        // call returns up to about twice COUNT.
        assert!(calls > 1000 / 14, "COUNT bounds each step: {calls}");
    }
}

#[test]
fn scan_match_type_and_errors() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        for i in 0..100 {
            h.run(&["set", &format!("a{i}"), "v"]);
            h.run(&["set", &format!("b{i}"), "v"]);
        }
        let (seen, _) = full_scan(&mut h, &["match", "a*", "count", "1000"], |_, _| {});
        assert_eq!(seen.len(), 100);
        assert!(seen.iter().all(|k| k.starts_with('a')));
        let (seen, _) = full_scan(&mut h, &["type", "STRING"], |_, _| {});
        assert_eq!(seen.len(), 200);
        let (seen, _) = full_scan(&mut h, &["type", "list"], |_, _| {});
        assert!(seen.is_empty());
        assert_eq!(h.run(&["scan", "x"]), err("ERR invalid cursor"));
        assert_eq!(h.run(&["scan", " 1"]), err("ERR invalid cursor"));
        assert_eq!(h.run(&["scan", "18446744073709551616"]), err("ERR invalid cursor"));
        assert_eq!(h.run(&["scan", "0", "count", "0"]), err("ERR syntax error"));
        assert_eq!(h.run(&["scan", "0", "count", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["scan", "0", "match"]), err("ERR syntax error"));
        assert_eq!(h.run(&["scan", "0", "bogus", "1"]), err("ERR syntax error"));
        // Any number is a cursor; one past every shard's end just finishes.
        let Reply::Array(r) = h.run(&["scan", "18446744073709551615"]) else { panic!() };
        assert_eq!(r.len(), 2);
        h.run(&["select", "5"]);
        assert_eq!(full_scan(&mut h, &[], |_, _| {}).0.len(), 0, "SCAN walks the selected db");
    }
}

#[test]
fn copy_to_missing_db_across_shards_is_an_error_not_a_crash() {
    let mut h = Harness::new(4);
    let (a, b) = apart(4);
    h.run(&["set", &a, "v"]);
    assert_eq!(h.run(&["copy", &a, &b, "db", "200"]), err("ERR DB index is out of range"));
    assert_eq!(h.run(&["copy", &a, &b, "db", "7"]), int(1));
    for s in &h.shards {
        assert!(s.locks.is_idle());
    }
}

#[test]
fn keyspace_events() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEA");
        let (a, b) = apart(n);
        h.run(&["mset", &a, "1", &b, "2"]);
        h.events();
        h.run(&["del", &a, "nosuch", &b]);
        h.run(&["del", &a]);
        assert_eq!(h.events(), [format!("del {a}"), format!("del {b}")], "{n} shards");
        h.run(&["set", "k", "v"]);
        h.run(&["expire", "k", "100"]);
        h.run(&["expire", "k", "50", "gt"]);
        h.run(&["pexpire", "k", "5000"]);
        h.run(&["expire", "nosuch", "100"]);
        h.run(&["persist", "k"]);
        h.run(&["persist", "k"]);
        h.run(&["expireat", "k", "1"]);
        assert_eq!(h.events(), ["set k", "expire k", "expire k", "persist k", "del k"]);
        h.run(&["set", &a, "v"]);
        h.run(&["set", &b, "v"]);
        h.events();
        h.run(&["rename", &a, &b]);
        h.run(&["rename", &b, &b]);
        h.run(&["renamenx", &b, &a]);
        h.run(&["set", &b, "v"]);
        h.run(&["renamenx", &a, &b]);
        assert_eq!(
            h.events(),
            [
                format!("rename_from {a}"),
                format!("rename_to {b}"),
                format!("rename_from {b}"),
                format!("rename_to {a}"),
                format!("set {b}"),
            ]
        );
        h.run(&["copy", &a, &b]);
        h.run(&["copy", &a, &b, "replace"]);
        h.run(&["copy", &a, "x", "db", "3"]);
        h.run(&["move", &a, "2"]);
        h.run(&["move", "nosuch", "2"]);
        assert_eq!(
            h.events(),
            [format!("copy_to {b}"), "copy_to x @3".to_string(), format!("move_from {a}"), format!("move_to {a} @2")]
        );
        h.run(&["get", &b]);
        h.run(&["touch", &b]);
        h.run(&["exists", &b]);
        h.run(&["type", &b]);
        h.run(&["flushall"]);
        h.run(&["swapdb", "0", "1"]);
        assert!(h.events().is_empty(), "reads, FLUSHALL and SWAPDB raise no key events");
    }
}

#[test]
fn new_events_for_rename_copy_move() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEgn");
        let (a, b) = apart(n);
        h.run(&["set", &a, "1"]);
        h.run(&["set", &b, "2"]);
        h.run(&["rename", &a, &b]);
        assert_eq!(
            h.events(),
            [
                format!("new {a}"),
                format!("new {b}"),
                format!("new {b}"),
                format!("rename_from {a}"),
                format!("rename_to {b}")
            ],
            "{n} shards: the overwritten destination is new again, as in Redis"
        );
        h.run(&["copy", &b, &a]);
        h.run(&["move", &a, "5"]);
        assert_eq!(
            h.events(),
            [
                format!("new {a}"),
                format!("copy_to {a}"),
                format!("new {a} @5"),
                format!("move_from {a}"),
                format!("move_to {a} @5")
            ]
        );
    }
}

#[test]
fn expired_events_from_lazy_and_active_expiry() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEA");
        let (a, b) = apart(n);
        // Lazy, on a read.
        h.run(&["set", "k", "v", "px", "100"]);
        h.events();
        h.advance_ms(200);
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
        assert_eq!(h.events(), ["expired k"], "{n} shards");
        // Lazy, on a write that recreates the key: expired comes first.
        h.run(&["set", "k", "1", "px", "100"]);
        h.events();
        h.advance_ms(200);
        h.run(&["incr", "k"]);
        assert_eq!(h.events(), ["expired k", "incrby k"]);
        // Lazy, while a cross-shard command gathers its keys.
        h.run(&["set", &a, "v", "px", "100"]);
        h.run(&["set", &b, "v"]);
        h.events();
        h.advance_ms(200);
        h.run(&["mget", &a, &b]);
        assert_eq!(h.events(), [format!("expired {a}")]);
        // Active expiry, on every shard.
        h.run(&["set", &a, "v", "px", "100"]);
        h.run(&["set", &b, "v", "px", "100"]);
        h.run(&["set", "other", "v", "px", "100"]);
        h.run(&["select", "4"]);
        h.run(&["set", "in4", "v", "px", "100"]);
        h.run(&["select", "0"]);
        h.events();
        h.advance_ms(200);
        for s in &mut h.shards {
            s.begin_turn();
            let now = s.now_ms;
            s.active_expire_cycle(now, std::time::Duration::from_secs(1));
        }
        let mut got = h.events();
        got.sort();
        let mut want =
            vec![format!("expired {a}"), format!("expired {b}"), "expired other".into(), "expired in4 @4".into()];
        want.sort();
        assert_eq!(got, want);
        assert_eq!(h.run(&["dbsize"]), int(1), "only k (no TTL) is left");
    }
}

#[test]
fn expired_and_new_in_order_with_only_x_and_n() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "Exn");
        h.run(&["set", "k", "1", "px", "100"]);
        h.advance_ms(200);
        h.run(&["incr", "k"]);
        assert_eq!(h.events(), ["new k", "expired k", "new k"], "{n} shards");
    }
}
