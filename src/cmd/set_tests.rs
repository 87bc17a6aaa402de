use super::super::harness::{Harness, Reply};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

fn sorted(r: Reply) -> Vec<String> {
    let Reply::Array(items) = r else { panic!("not an array: {r:?}") };
    let mut v: Vec<String> = items
        .into_iter()
        .map(|i| match i {
            Reply::Bulk(b) => String::from_utf8(b).unwrap(),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn each_shard_count(f: impl Fn(&mut Harness)) {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        f(&mut h);
    }
}

fn enc(h: &mut Harness, key: &str) -> Reply {
    h.run(&["object", "encoding", key])
}

#[test]
fn sadd_srem_membership() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["sadd", "s", "a", "b", "a"]), Reply::Int(2));
        assert_eq!(h.run(&["sadd", "s", "b", "c"]), Reply::Int(1));
        assert_eq!(h.run(&["scard", "s"]), Reply::Int(3));
        assert_eq!(h.run(&["scard", "nokey"]), Reply::Int(0));
        assert_eq!(h.run(&["sismember", "s", "a"]), Reply::Int(1));
        assert_eq!(h.run(&["sismember", "s", "z"]), Reply::Int(0));
        assert_eq!(h.run(&["sismember", "nokey", "z"]), Reply::Int(0));
        assert_eq!(
            h.run(&["smismember", "s", "a", "z", "c"]),
            Reply::Array(vec![Reply::Int(1), Reply::Int(0), Reply::Int(1)])
        );
        assert_eq!(h.run(&["smismember", "nokey", "a"]), Reply::Array(vec![Reply::Int(0)]));
        assert_eq!(sorted(h.run(&["smembers", "s"])), strs(&["a", "b", "c"]));
        assert_eq!(h.run(&["smembers", "nokey"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["srem", "s", "a", "z"]), Reply::Int(1));
        assert_eq!(h.run(&["srem", "nokey", "a"]), Reply::Int(0));
        assert_eq!(h.run(&["srem", "s", "b", "c", "d"]), Reply::Int(2));
        assert_eq!(h.run(&["exists", "s"]), Reply::Int(0));
        assert_eq!(h.run(&["type", "nokey"]), Reply::Simple("none".into()));
        h.run(&["sadd", "s", "1"]);
        assert_eq!(h.run(&["type", "s"]), Reply::Simple("set".into()));
    });
}

#[test]
fn wrongtype_everywhere() {
    each_shard_count(|h| {
        h.run(&["set", "str", "v"]);
        h.run(&["sadd", "s", "a"]);
        for cmd in [
            &["sadd", "str", "a"][..],
            &["srem", "str", "a"],
            &["scard", "str"],
            &["sismember", "str", "a"],
            &["smismember", "str", "a"],
            &["smembers", "str"],
            &["spop", "str"],
            &["spop", "str", "2"],
            &["srandmember", "str"],
            &["srandmember", "str", "2"],
            &["sscan", "str", "0"],
            &["sinter", "s", "str"],
            &["sinter", "nokey", "str"],
            &["sunion", "s", "str"],
            &["sdiff", "s", "str"],
            &["sintercard", "2", "s", "str"],
            &["sinterstore", "d", "s", "str"],
            &["sunionstore", "d", "s", "str"],
            &["sdiffstore", "d", "s", "str"],
            &["smove", "str", "s", "a"],
            &["smove", "s", "str", "a"],
        ] {
            assert_eq!(h.run(cmd), err(WRONGTYPE), "{cmd:?}");
        }
        assert_eq!(h.run(&["exists", "d"]), Reply::Int(0));
        // A missing source answers 0 before the destination's type is looked at.
        assert_eq!(h.run(&["smove", "nokey", "str", "a"]), Reply::Int(0));
    });
}

#[test]
fn encodings_follow_redis() {
    each_shard_count(|h| {
        h.run(&["sadd", "i", "1", "2", "3"]);
        assert_eq!(enc(h, "i"), b("intset"));
        h.run(&["sadd", "i", "x"]);
        assert_eq!(enc(h, "i"), b("hashtable"));
        assert_eq!(sorted(h.run(&["smembers", "i"])), strs(&["1", "2", "3", "x"]));
        h.run(&["sadd", "l", "a"]);
        assert_eq!(enc(h, "l"), b("hashtable"));
        h.run(&["sadd", "l", &"z".repeat(65)]);
        assert_eq!(enc(h, "l"), b("hashtable"));
        let many: Vec<String> = (0..513).map(|i| i.to_string()).collect();
        let mut args = vec!["sadd", "big"];
        args.extend(many[..512].iter().map(|s| s.as_str()));
        h.run(&args);
        assert_eq!(enc(h, "big"), b("intset"));
        h.run(&["sadd", "big", "512"]);
        assert_eq!(enc(h, "big"), b("hashtable"));
        // SADD sizes a new set for all its members at once.
        let mut args = vec!["sadd", "hinted"];
        args.extend(many.iter().map(|s| s.as_str()));
        h.run(&args);
        assert_eq!(enc(h, "hinted"), b("hashtable"));
    });
}

#[test]
fn smove_cases() {
    each_shard_count(|h| {
        h.run(&["sadd", "src", "a", "b"]);
        h.run(&["sadd", "dst", "1"]);
        assert_eq!(h.run(&["smove", "src", "dst", "a"]), Reply::Int(1));
        assert_eq!(h.run(&["smove", "src", "dst", "zz"]), Reply::Int(0));
        assert_eq!(sorted(h.run(&["smembers", "dst"])), strs(&["1", "a"]));
        assert_eq!(enc(h, "dst"), b("hashtable"));
        assert_eq!(h.run(&["smove", "src", "src", "b"]), Reply::Int(1));
        assert_eq!(h.run(&["smove", "src", "src", "zz"]), Reply::Int(0));
        assert_eq!(h.run(&["smove", "src", "new", "b"]), Reply::Int(1));
        assert_eq!(h.run(&["exists", "src"]), Reply::Int(0));
        assert_eq!(h.run(&["smembers", "new"]), Reply::Array(vec![b("b")]));
        // Moving a member the destination already has still removes it from the source.
        h.run(&["sadd", "src", "1"]);
        assert_eq!(h.run(&["smove", "src", "dst", "1"]), Reply::Int(1));
        assert_eq!(h.run(&["exists", "src"]), Reply::Int(0));
        h.run(&["sadd", "ints", "5"]);
        assert_eq!(h.run(&["smove", "ints", "ints2", "5"]), Reply::Int(1));
        assert_eq!(enc(h, "ints2"), b("intset"));
    });
}

#[test]
fn spop_forms() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["spop", "nokey"]), Reply::Nil);
        assert_eq!(h.run(&["spop", "nokey", "3"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["spop", "nokey", "-1"]), err("ERR value is out of range, must be positive"));
        assert_eq!(h.run(&["spop", "nokey", "x"]), err("ERR value is out of range, must be positive"));
        assert_eq!(h.run(&["spop", "nokey", "1", "2"]), err("ERR syntax error"));
        for (n, enc_name) in [(10, "intset"), (600, "hashtable"), (40, "listpack")] {
            h.run(&["del", "s"]);
            for i in 0..n {
                let m = if enc_name == "listpack" { format!("m{i}") } else { i.to_string() };
                h.run(&["sadd", "s", &m]);
            }
            // Redis 7.0 names a listpack set "hashtable".
            assert_eq!(enc(h, "s"), b(if enc_name == "listpack" { "hashtable" } else { enc_name }));
            let Reply::Bulk(_) = h.run(&["spop", "s"]) else { panic!() };
            assert_eq!(h.run(&["scard", "s"]), Reply::Int(n - 1));
            assert_eq!(h.run(&["spop", "s", "0"]), Reply::Array(vec![]));
            let got = sorted(h.run(&["spop", "s", "3"]));
            assert_eq!(got.len(), 3);
            assert_eq!(h.run(&["scard", "s"]), Reply::Int(n - 4));
            // Most of the rest (the "keep the survivors" path), then all of it.
            let k = (n - 4) - 2;
            let got = sorted(h.run(&["spop", "s", &k.to_string()]));
            assert_eq!(got.len() as i64, k);
            assert_eq!(h.run(&["scard", "s"]), Reply::Int(2));
            let got = sorted(h.run(&["spop", "s", "100"]));
            assert_eq!(got.len(), 2);
            assert_eq!(h.run(&["exists", "s"]), Reply::Int(0));
        }
        h.run(&["sadd", "s", "a"]);
        assert_eq!(h.run(&["spop", "s"]), b("a"));
        assert_eq!(h.run(&["exists", "s"]), Reply::Int(0));
    });
}

#[test]
fn srandmember_forms() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["srandmember", "nokey"]), Reply::Nil);
        assert_eq!(h.run(&["srandmember", "nokey", "5"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["srandmember", "nokey", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["srandmember", "nokey", "1", "2"]), err("ERR syntax error"));
        assert_eq!(
            h.run(&["srandmember", "nokey", "-9223372036854775808"]),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
        for (n, kind) in [(30, "int"), (30, "str"), (600, "int")] {
            h.run(&["del", "s"]);
            for i in 0..n {
                let m = if kind == "str" { format!("m{i}") } else { i.to_string() };
                h.run(&["sadd", "s", &m]);
            }
            for count in [1, 5, 15, n - 1, n, n + 5] {
                let mut got = sorted(h.run(&["srandmember", "s", &count.to_string()]));
                assert_eq!(got.len(), count.min(n));
                let len = got.len();
                got.dedup();
                assert_eq!(got.len(), len, "distinct");
            }
            let Reply::Array(items) = h.run(&["srandmember", "s", "-100"]) else { panic!() };
            assert_eq!(items.len(), 100);
            assert_eq!(h.run(&["srandmember", "s", "0"]), Reply::Array(vec![]));
            assert_eq!(h.run(&["scard", "s"]), Reply::Int(n as i64), "nothing removed");
        }
    });
}

#[test]
fn algebra_across_shards() {
    each_shard_count(|h| {
        h.run(&["sadd", "a", "1", "2", "3", "x"]);
        h.run(&["sadd", "b", "2", "3", "4", "x"]);
        h.run(&["sadd", "c", "3", "x", "9"]);
        assert_eq!(sorted(h.run(&["sinter", "a", "b", "c"])), strs(&["3", "x"]));
        assert_eq!(sorted(h.run(&["sinter", "a", "b", "nokey"])), Vec::<String>::new());
        assert_eq!(sorted(h.run(&["sinter", "a", "a"])), strs(&["1", "2", "3", "x"]));
        assert_eq!(sorted(h.run(&["sunion", "a", "nokey", "c"])), strs(&["1", "2", "3", "9", "x"]));
        assert_eq!(sorted(h.run(&["sdiff", "a", "b"])), strs(&["1"]));
        assert_eq!(sorted(h.run(&["sdiff", "a", "nokey"])), strs(&["1", "2", "3", "x"]));
        assert_eq!(sorted(h.run(&["sdiff", "nokey", "a"])), Vec::<String>::new());
        assert_eq!(sorted(h.run(&["sdiff", "a", "a"])), Vec::<String>::new());

        assert_eq!(h.run(&["sinterstore", "d", "a", "b"]), Reply::Int(3));
        assert_eq!(sorted(h.run(&["smembers", "d"])), strs(&["2", "3", "x"]));
        assert_eq!(enc(h, "d"), b("hashtable"));
        assert_eq!(h.run(&["sunionstore", "d", "a", "b"]), Reply::Int(5));
        assert_eq!(h.run(&["sdiffstore", "d", "a", "b"]), Reply::Int(1));
        assert_eq!(h.run(&["smembers", "d"]), Reply::Array(vec![b("1")]));
        assert_eq!(enc(h, "d"), b("intset"));
        // The destination may be a source; an empty result deletes it.
        assert_eq!(h.run(&["sdiffstore", "a", "a", "b"]), Reply::Int(1));
        assert_eq!(h.run(&["smembers", "a"]), Reply::Array(vec![b("1")]));
        h.run(&["set", "str", "v"]);
        h.run(&["expire", "d", "100"]);
        assert_eq!(h.run(&["sinterstore", "d", "a", "nokey"]), Reply::Int(0));
        assert_eq!(h.run(&["exists", "d"]), Reply::Int(0));
        // Overwrites any type and drops the TTL.
        h.run(&["expire", "str", "100"]);
        assert_eq!(h.run(&["sunionstore", "str", "b"]), Reply::Int(4));
        assert_eq!(h.run(&["ttl", "str"]), Reply::Int(-1));
        assert_eq!(h.run(&["type", "str"]), Reply::Simple("set".into()));

        h.resp3();
        let raw = h.run_raw(&[b"sinter", b"b", b"c"]);
        assert!(raw.starts_with(b"~2\r\n"), "{}", String::from_utf8_lossy(&raw));
        let raw = h.run_raw(&[b"smembers", b"nokey"]);
        assert_eq!(raw, b"~0\r\n");
        let raw = h.run_raw(&[b"srandmember", b"b", b"-2"]);
        assert!(raw.starts_with(b"*2\r\n"));
        let raw = h.run_raw(&[b"spop", b"nokey", b"2"]);
        assert_eq!(raw, b"~0\r\n");
    });
}

#[test]
fn sintercard_forms() {
    each_shard_count(|h| {
        h.run(&["sadd", "a", "1", "2", "3", "4"]);
        h.run(&["sadd", "b", "2", "3", "4", "5"]);
        assert_eq!(h.run(&["sintercard", "2", "a", "b"]), Reply::Int(3));
        assert_eq!(h.run(&["sintercard", "2", "a", "b", "limit", "2"]), Reply::Int(2));
        assert_eq!(h.run(&["sintercard", "2", "a", "b", "LIMIT", "0"]), Reply::Int(3));
        assert_eq!(h.run(&["sintercard", "1", "a"]), Reply::Int(4));
        assert_eq!(h.run(&["sintercard", "2", "a", "nokey"]), Reply::Int(0));
        assert_eq!(h.run(&["sintercard", "0", "a"]), err("ERR numkeys should be greater than 0"));
        assert_eq!(h.run(&["sintercard", "x", "a"]), err("ERR numkeys should be greater than 0"));
        assert_eq!(
            h.run(&["sintercard", "3", "a", "b"]),
            err("ERR Number of keys can't be greater than number of args")
        );
        assert_eq!(h.run(&["sintercard", "2", "a", "b", "limit", "-1"]), err("ERR LIMIT can't be negative"));
        assert_eq!(h.run(&["sintercard", "2", "a", "b", "limit"]), err("ERR syntax error"));
        assert_eq!(h.run(&["sintercard", "1", "a", "b"]), err("ERR syntax error"));
    });
}

#[test]
fn sscan_forms() {
    each_shard_count(|h| {
        assert_eq!(h.run(&["sscan", "nokey", "0"]), Reply::Array(vec![b("0"), Reply::Array(vec![])]));
        for i in 0..10 {
            h.run(&["sadd", "small", &i.to_string()]);
        }
        let Reply::Array(r) = h.run(&["sscan", "small", "0", "count", "1"]) else { panic!() };
        assert_eq!(r[0], b("0"));
        assert_eq!(sorted(r[1].clone()).len(), 10);
        let Reply::Array(r) = h.run(&["sscan", "small", "0", "match", "1*"]) else { panic!() };
        assert_eq!(r[1], Reply::Array(vec![b("1")]));
        for i in 0..500 {
            h.run(&["sadd", "big", &format!("m{i}")]);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let Reply::Array(r) = h.run(&["sscan", "big", &cursor, "count", "20"]) else { panic!() };
            calls += 1;
            let Reply::Bulk(c) = &r[0] else { panic!() };
            seen.extend(sorted(r[1].clone()));
            // Churn between calls.
            h.run(&["sadd", "big", &format!("new{calls}")]);
            cursor = String::from_utf8(c.clone()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert!(calls >= 25);
        assert!((0..500).all(|i| seen.contains(&format!("m{i}"))));
        assert_eq!(h.run(&["sscan", "big", "abc"]), err("ERR invalid cursor"));
        assert_eq!(h.run(&["sscan", "big", "0", "count", "0"]), err("ERR syntax error"));
    });
}

#[test]
fn keyspace_events() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEA");
        h.run(&["sadd", "s", "a", "b", "c"]);
        h.run(&["sadd", "s", "a"]);
        h.run(&["srem", "s", "nope"]);
        h.run(&["srem", "s", "a"]);
        h.run(&["sismember", "s", "b"]);
        assert_eq!(h.events(), ["sadd s", "srem s"], "{n} shards");
        h.run(&["smove", "s", "t", "nope"]);
        h.run(&["smove", "s", "s", "b"]);
        h.run(&["smove", "s", "t", "b"]);
        h.run(&["sadd", "t", "c"]);
        h.run(&["smove", "s", "t", "c"]);
        assert_eq!(h.events(), ["srem s", "sadd t", "sadd t", "srem s", "del s"]);
        h.run(&["sadd", "u", "1", "2", "3"]);
        h.run(&["spop", "u"]);
        h.run(&["spop", "u", "0"]);
        h.run(&["spop", "u", "1"]);
        h.run(&["spop", "u", "5"]);
        h.run(&["spop", "u"]);
        assert_eq!(h.events(), ["sadd u", "spop u", "spop u", "spop u", "del u"]);
        h.run(&["sadd", "{x}1", "a", "b"]);
        h.run(&["sadd", "{x}2", "b", "c"]);
        h.events();
        h.run(&["sinterstore", "{x}d", "{x}1", "{x}2"]);
        h.run(&["sunionstore", "{x}d", "{x}1", "{x}2"]);
        h.run(&["sdiffstore", "{x}d", "{x}1", "{x}2"]);
        h.run(&["sinterstore", "{x}d", "{x}1", "{x}none"]);
        h.run(&["sinterstore", "{x}d", "{x}1", "{x}none"]);
        h.run(&["sinter", "{x}1", "{x}2"]);
        assert_eq!(h.events(), ["sinterstore {x}d", "sunionstore {x}d", "sdiffstore {x}d", "del {x}d"]);
        // Across shards, through a coordinator.
        h.run(&["sunionstore", "dest", "{x}1", "t"]);
        assert_eq!(h.events(), ["sunionstore dest"]);
    }
}
