use super::super::harness::{Harness, Reply};
use crate::util::hash::shard_of;

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

fn arr(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| b(s)).collect())
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|&i| Reply::Int(i)).collect())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

use super::super::harness::each;

#[test]
fn push_pop_and_len() {
    each(|h| {
        assert_eq!(h.run(&["rpush", "l", "a", "b", "c"]), Reply::Int(3));
        assert_eq!(h.run(&["lpush", "l", "x", "y"]), Reply::Int(5));
        assert_eq!(h.run(&["lrange", "l", "0", "-1"]), arr(&["y", "x", "a", "b", "c"]));
        assert_eq!(h.run(&["llen", "l"]), Reply::Int(5));
        assert_eq!(h.run(&["llen", "none"]), Reply::Int(0));
        assert_eq!(h.run(&["lpop", "l"]), b("y"));
        assert_eq!(h.run(&["rpop", "l"]), b("c"));
        assert_eq!(h.run(&["lpushx", "none", "a"]), Reply::Int(0));
        assert_eq!(h.run(&["exists", "none"]), Reply::Int(0));
        assert_eq!(h.run(&["rpushx", "l", "z", "w"]), Reply::Int(5));
        assert_eq!(h.run(&["lpushx", "l", "0"]), Reply::Int(6));
        assert_eq!(h.run(&["lrange", "l", "0", "-1"]), arr(&["0", "x", "a", "b", "z", "w"]));
        assert_eq!(h.run(&["type", "l"]), Reply::Simple("list".into()));
        assert_eq!(h.run(&["object", "encoding", "l"]), b("quicklist"));
        for _ in 0..6 {
            assert!(matches!(h.run(&["rpop", "l"]), Reply::Bulk(_)));
        }
        assert_eq!(h.run(&["exists", "l"]), Reply::Int(0), "an emptied list is deleted");
        assert_eq!(h.run(&["lpop", "l"]), Reply::Nil);
    });
}

#[test]
fn pop_with_count_and_null_rules() {
    each(|h| {
        h.run(&["rpush", "l", "1", "2", "3", "4", "5"]);
        assert_eq!(h.run(&["lpop", "l", "2"]), arr(&["1", "2"]));
        assert_eq!(h.run(&["rpop", "l", "2"]), arr(&["5", "4"]));
        assert_eq!(h.run(&["lpop", "l", "0"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["rpop", "l", "10"]), arr(&["3"]));
        assert_eq!(h.run(&["exists", "l"]), Reply::Int(0));
        // Missing key: null bulk without count, null array with one (even 0).
        assert_eq!(h.run_raw(&[b"lpop", b"l"]), b"$-1\r\n");
        assert_eq!(h.run_raw(&[b"lpop", b"l", b"3"]), b"*-1\r\n");
        assert_eq!(h.run_raw(&[b"rpop", b"l", b"0"]), b"*-1\r\n");
        assert_eq!(h.run(&["lpop", "l", "-1"]), err("ERR value is out of range, must be positive"));
        assert_eq!(h.run(&["lpop", "l", "x"]), err("ERR value is out of range, must be positive"));
        assert_eq!(h.run(&["lpop", "l", "1", "2"]), err("ERR wrong number of arguments for 'lpop' command"));
        h.resp3();
        assert_eq!(h.run_raw(&[b"lpop", b"l", b"3"]), b"_\r\n");
        assert_eq!(h.run_raw(&[b"rpop", b"l"]), b"_\r\n");
        h.sess.proto = crate::resp::Proto::Resp2;
    });
}

#[test]
fn wrong_type_everywhere() {
    each(|h| {
        h.run(&["set", "s", "v"]);
        h.run(&["rpush", "l", "a"]);
        for cmd in [
            &["lpush", "s", "a"][..],
            &["rpushx", "s", "a"],
            &["lpop", "s"],
            &["rpop", "s", "0"],
            &["llen", "s"],
            &["lindex", "s", "0"],
            &["linsert", "s", "before", "a", "b"],
            &["lset", "s", "0", "a"],
            &["lrange", "s", "0", "1"],
            &["lrem", "s", "0", "a"],
            &["ltrim", "s", "0", "1"],
            &["lpos", "s", "a"],
            &["lmove", "s", "l", "left", "left"],
            &["lmove", "l", "s", "left", "left"],
            &["rpoplpush", "s", "l"],
            &["lmpop", "2", "nx", "s", "left"],
        ] {
            assert_eq!(h.run(cmd), err(WRONGTYPE), "{cmd:?}");
        }
        assert_eq!(h.run(&["lrange", "l", "0", "-1"]), arr(&["a"]), "a failed LMOVE changes nothing");
        assert_eq!(h.run(&["get", "s"]), b("v"));
    });
}

#[test]
fn index_set_insert() {
    each(|h| {
        h.run(&["rpush", "l", "a", "b", "c"]);
        assert_eq!(h.run(&["lindex", "l", "0"]), b("a"));
        assert_eq!(h.run(&["lindex", "l", "-1"]), b("c"));
        assert_eq!(h.run(&["lindex", "l", "3"]), Reply::Nil);
        assert_eq!(h.run(&["lindex", "l", "-4"]), Reply::Nil);
        assert_eq!(h.run(&["lindex", "l", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["lindex", "none", "x"]), Reply::Nil, "key looked up before the index is parsed");
        assert_eq!(h.run(&["lset", "l", "1", "B"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["lset", "l", "-1", "C"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["lset", "l", "3", "x"]), err("ERR index out of range"));
        assert_eq!(h.run(&["lset", "none", "0", "x"]), err("ERR no such key"));
        assert_eq!(h.run(&["lset", "none", "x", "x"]), err("ERR no such key"));
        assert_eq!(h.run(&["lset", "l", "x", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["linsert", "l", "before", "B", "1"]), Reply::Int(4));
        assert_eq!(h.run(&["linsert", "l", "AFTER", "C", "2"]), Reply::Int(5));
        assert_eq!(h.run(&["linsert", "l", "after", "zz", "2"]), Reply::Int(-1));
        assert_eq!(h.run(&["linsert", "none", "after", "a", "2"]), Reply::Int(0));
        assert_eq!(h.run(&["linsert", "l", "middle", "a", "2"]), err("ERR syntax error"));
        assert_eq!(h.run(&["lrange", "l", "0", "-1"]), arr(&["a", "1", "B", "C", "2"]));
    });
}

#[test]
fn ranges_and_trim() {
    each(|h| {
        h.run(&["rpush", "l", "0", "1", "2", "3", "4", "5"]);
        assert_eq!(h.run(&["lrange", "l", "1", "2"]), arr(&["1", "2"]));
        assert_eq!(h.run(&["lrange", "l", "-2", "100"]), arr(&["4", "5"]));
        assert_eq!(h.run(&["lrange", "l", "-100", "0"]), arr(&["0"]));
        assert_eq!(h.run(&["lrange", "l", "4", "2"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["lrange", "l", "6", "10"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["lrange", "none", "0", "-1"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["lrange", "none", "a", "-1"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["ltrim", "l", "1", "-2"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["lrange", "l", "0", "-1"]), arr(&["1", "2", "3", "4"]));
        assert_eq!(h.run(&["ltrim", "l", "-100", "100"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["llen", "l"]), Reply::Int(4));
        assert_eq!(h.run(&["ltrim", "none", "0", "1"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["ltrim", "l", "3", "1"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["exists", "l"]), Reply::Int(0), "an empty range deletes the list");
    });
}

#[test]
fn lrem_counts_and_directions() {
    each(|h| {
        h.run(&["rpush", "l", "a", "b", "a", "c", "a", "1", "01", "1"]);
        assert_eq!(h.run(&["lrem", "l", "-2", "a"]), Reply::Int(2));
        assert_eq!(h.run(&["lrange", "l", "0", "-1"]), arr(&["a", "b", "c", "1", "01", "1"]));
        assert_eq!(h.run(&["lrem", "l", "1", "1"]), Reply::Int(1));
        assert_eq!(h.run(&["lrange", "l", "0", "-1"]), arr(&["a", "b", "c", "01", "1"]));
        assert_eq!(h.run(&["lrem", "l", "0", "01"]), Reply::Int(1));
        assert_eq!(h.run(&["lrem", "l", "0", "zz"]), Reply::Int(0));
        assert_eq!(h.run(&["lrem", "none", "0", "zz"]), Reply::Int(0));
        assert_eq!(h.run(&["lrem", "l", "x", "a"]), err("ERR value is not an integer or out of range"));
        for v in ["a", "b", "c", "1"] {
            assert_eq!(h.run(&["lrem", "l", "0", v]), Reply::Int(1));
        }
        assert_eq!(h.run(&["exists", "l"]), Reply::Int(0));
    });
}

#[test]
fn lpos_options() {
    each(|h| {
        h.run(&["rpush", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(h.run(&["lpos", "l", "c"]), Reply::Int(2));
        assert_eq!(h.run(&["lpos", "l", "c", "rank", "2"]), Reply::Int(6));
        assert_eq!(h.run(&["lpos", "l", "c", "rank", "-1"]), Reply::Int(7));
        assert_eq!(h.run(&["lpos", "l", "c", "rank", "-3"]), Reply::Int(2));
        assert_eq!(h.run(&["lpos", "l", "c", "rank", "4"]), Reply::Nil);
        assert_eq!(h.run(&["lpos", "l", "c", "count", "0"]), ints(&[2, 6, 7]));
        assert_eq!(h.run(&["lpos", "l", "c", "count", "2"]), ints(&[2, 6]));
        assert_eq!(h.run(&["lpos", "l", "c", "count", "2", "rank", "-1"]), ints(&[7, 6]));
        assert_eq!(h.run(&["lpos", "l", "c", "count", "0", "maxlen", "7"]), ints(&[2, 6]));
        assert_eq!(h.run(&["lpos", "l", "c", "count", "0", "rank", "-1", "maxlen", "2"]), ints(&[7, 6]));
        assert_eq!(h.run(&["lpos", "l", "c", "maxlen", "2"]), Reply::Nil);
        assert_eq!(h.run(&["lpos", "l", "3"]), Reply::Int(5));
        assert_eq!(h.run(&["lpos", "l", "zz", "count", "1"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["lpos", "none", "a"]), Reply::Nil);
        assert_eq!(h.run(&["lpos", "none", "a", "count", "0"]), Reply::Array(vec![]));
        assert_eq!(
            h.run(&["lpos", "l", "c", "rank", "0"]),
            err(
                "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
            )
        );
        // Redis 7.0.15: a RANK of LONG_MIN is the first match from the tail, and with
        // COUNT every match (its negation and COUNT check wrap; 7.2 refuses it).
        assert_eq!(h.run(&["lpos", "l", "c", "rank", "-9223372036854775808"]), Reply::Int(7));
        assert_eq!(
            h.run(&["lpos", "l", "c", "rank", "-9223372036854775808", "count", "1"]),
            h.run(&["lpos", "l", "c", "rank", "-1", "count", "0"])
        );
        assert_eq!(h.run(&["lpos", "l", "c", "rank", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["lpos", "l", "c", "count", "-1"]), err("ERR COUNT can't be negative"));
        assert_eq!(h.run(&["lpos", "l", "c", "maxlen", "-1"]), err("ERR MAXLEN can't be negative"));
        assert_eq!(h.run(&["lpos", "l", "c", "rank"]), err("ERR syntax error"));
        assert_eq!(h.run(&["lpos", "l", "c", "foo", "1"]), err("ERR syntax error"));
        assert_eq!(
            h.run(&["lpos", "none", "c", "rank", "0"]),
            err(
                "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
            )
        );
    });
}

#[test]
fn lmove_and_rpoplpush_across_shards() {
    // Names on different shards when there are four.
    let (src, dst) = ("src{a}", "dst{b}");
    assert_ne!(shard_of(src.as_bytes(), 4), shard_of(dst.as_bytes(), 4));
    each(|h| {
        h.run(&["rpush", src, "1", "2", "3"]);
        assert_eq!(h.run(&["lmove", src, dst, "left", "right"]), b("1"));
        assert_eq!(h.run(&["lmove", src, dst, "RIGHT", "LEFT"]), b("3"));
        assert_eq!(h.run(&["lrange", dst, "0", "-1"]), arr(&["3", "1"]));
        assert_eq!(h.run(&["rpoplpush", src, dst]), b("2"));
        assert_eq!(h.run(&["exists", src]), Reply::Int(0));
        assert_eq!(h.run(&["lrange", dst, "0", "-1"]), arr(&["2", "3", "1"]));
        assert_eq!(h.run(&["rpoplpush", src, dst]), Reply::Nil);
        assert_eq!(h.run(&["lmove", src, dst, "up", "left"]), err("ERR syntax error"));
        // Same key: rotation; a one-element list survives.
        assert_eq!(h.run(&["lmove", dst, dst, "left", "right"]), b("2"));
        assert_eq!(h.run(&["lrange", dst, "0", "-1"]), arr(&["3", "1", "2"]));
        h.run(&["rpush", "one", "x"]);
        assert_eq!(h.run(&["rpoplpush", "one", "one"]), b("x"));
        assert_eq!(h.run(&["lrange", "one", "0", "-1"]), arr(&["x"]));
        // The destination keeps its TTL.
        h.run(&["rpush", src, "9"]);
        h.run(&["expire", dst, "100"]);
        h.run(&["lmove", src, dst, "left", "left"]);
        assert_eq!(h.run(&["ttl", dst]), Reply::Int(100));
    });
}

#[test]
fn lmpop() {
    let keys = ["k1{x}", "k2{y}", "k3{z}"];
    each(|h| {
        assert_eq!(h.run_raw(&[b"lmpop", b"2", keys[0].as_bytes(), keys[1].as_bytes(), b"left"]), b"*-1\r\n");
        h.run(&["rpush", keys[1], "a", "b", "c"]);
        h.run(&["rpush", keys[2], "z"]);
        assert_eq!(
            h.run(&["lmpop", "3", keys[0], keys[1], keys[2], "left"]),
            Reply::Array(vec![b(keys[1]), arr(&["a"])])
        );
        assert_eq!(
            h.run(&["lmpop", "3", keys[0], keys[1], keys[2], "RIGHT", "count", "5"]),
            Reply::Array(vec![b(keys[1]), arr(&["c", "b"])])
        );
        assert_eq!(h.run(&["exists", keys[1]]), Reply::Int(0));
        assert_eq!(
            h.run(&["lmpop", "3", keys[0], keys[1], keys[2], "left", "count", "2"]),
            Reply::Array(vec![b(keys[2]), arr(&["z"])])
        );
        assert_eq!(h.run(&["lmpop", "0", "k", "left"]), err("ERR numkeys should be greater than 0"));
        assert_eq!(h.run(&["lmpop", "x", "k", "left"]), err("ERR numkeys should be greater than 0"));
        assert_eq!(h.run(&["lmpop", "2", "k", "left"]), err("ERR syntax error"));
        assert_eq!(h.run(&["lmpop", "1", "k", "up"]), err("ERR syntax error"));
        assert_eq!(h.run(&["lmpop", "1", "k", "left", "count", "0"]), err("ERR count should be greater than 0"));
        assert_eq!(h.run(&["lmpop", "1", "k", "left", "count", "1", "count", "1"]), err("ERR syntax error"));
        assert_eq!(h.run(&["lmpop", "1", "k", "left", "count"]), err("ERR syntax error"));
        assert_eq!(h.run(&["lmpop", "9223372036854775807", "k", "left"]), err("ERR syntax error"));
        // A list before a wrong-type key wins; a wrong-type key first is an error.
        h.run(&["set", "str", "v"]);
        h.run(&["rpush", keys[0], "q"]);
        assert_eq!(h.run(&["lmpop", "2", keys[0], "str", "left"]), Reply::Array(vec![b(keys[0]), arr(&["q"])]));
    });
}

#[test]
fn integers_and_large_lists_round_trip() {
    each(|h| {
        let mut args: Vec<String> = vec!["rpush".into(), "big".into()];
        for i in 0..5000 {
            args.push(if i % 3 == 0 {
                i.to_string()
            } else if i % 3 == 1 {
                format!("-{i}")
            } else {
                format!("0{i}")
            });
        }
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        assert_eq!(h.run(&refs), Reply::Int(5000));
        let Reply::Array(all) = h.run(&["lrange", "big", "0", "-1"]) else { panic!() };
        assert_eq!(all.len(), 5000);
        for (i, r) in all.iter().enumerate() {
            assert_eq!(*r, b(&args[i + 2]));
        }
        assert_eq!(h.run(&["lindex", "big", "2501"]), b(&args[2503]));
        assert_eq!(h.run(&["lpos", "big", "-4"]), Reply::Int(4));
        assert_eq!(h.run(&["lpos", "big", "03"]), Reply::Nil);
        assert_eq!(h.run(&["lpos", "big", "02"]), Reply::Int(2));
        assert_eq!(h.run(&["linsert", "big", "after", "-4999", "end"]), Reply::Int(5001));
        assert_eq!(h.run(&["rpop", "big"]), b("end"));
    });
}

#[test]
fn dirty_counts_changes() {
    let mut h = Harness::new(1);
    let step = |h: &mut Harness, cmd: &[&str]| {
        let before = h.shards[0].dirty;
        h.run(cmd);
        h.shards[0].dirty - before
    };
    assert_eq!(step(&mut h, &["rpush", "k", "a", "b", "c", "a"]), 4);
    assert_eq!(step(&mut h, &["lpushx", "none", "a"]), 0);
    assert_eq!(step(&mut h, &["lrem", "k", "0", "a"]), 2);
    assert_eq!(step(&mut h, &["lrem", "k", "0", "a"]), 0);
    assert_eq!(step(&mut h, &["linsert", "k", "after", "zz", "x"]), 0);
    assert_eq!(step(&mut h, &["linsert", "k", "after", "b", "x"]), 1);
    assert_eq!(step(&mut h, &["lset", "k", "0", "y"]), 1);
    assert_eq!(step(&mut h, &["ltrim", "k", "0", "-1"]), 0);
    assert_eq!(step(&mut h, &["ltrim", "k", "1", "1"]), 2);
    assert_eq!(step(&mut h, &["rpush", "k", "1", "2", "3"]), 3);
    assert_eq!(step(&mut h, &["lpop", "k", "2"]), 2);
    assert_eq!(step(&mut h, &["lpop", "k", "0"]), 0);
    assert_eq!(step(&mut h, &["lmove", "k", "d", "left", "left"]), 1);
    assert_eq!(step(&mut h, &["lmpop", "2", "k", "d", "left", "count", "9"]), 1);
    assert_eq!(step(&mut h, &["llen", "d"]), 0);
}

/// Two key names on different shards when there are several.
fn apart(n: usize) -> (String, String) {
    let a = "la".to_string();
    let b =
        (0..1000).map(|i| format!("lb{i}")).find(|k| n == 1 || shard_of(k.as_bytes(), n) != shard_of(a.as_bytes(), n));
    (a, b.expect("a key on another shard"))
}

#[test]
fn keyspace_events() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEA");
        h.run(&["lpush", "l", "a", "b", "c"]);
        h.run(&["rpush", "l", "d"]);
        h.run(&["lpushx", "nosuch", "a"]);
        h.run(&["rpushx", "l", "e"]);
        assert_eq!(h.events(), ["lpush l", "rpush l", "rpush l"], "{n} shards");
        h.run(&["lpop", "l"]);
        h.run(&["rpop", "l", "2"]);
        h.run(&["lpop", "l", "0"]);
        h.run(&["lpop", "nosuch"]);
        h.run(&["linsert", "l", "before", "b", "x"]);
        h.run(&["linsert", "l", "before", "nope", "x"]);
        h.run(&["lset", "l", "0", "y"]);
        h.run(&["lrem", "l", "0", "nope"]);
        h.run(&["lrem", "l", "0", "y"]);
        h.run(&["ltrim", "l", "0", "-1"]);
        h.run(&["ltrim", "nosuch", "0", "-1"]);
        assert_eq!(h.events(), ["lpop l", "rpop l", "linsert l", "lset l", "lrem l", "ltrim l"]);
        h.run(&["ltrim", "l", "5", "1"]);
        assert_eq!(h.events(), ["ltrim l", "del l"]);
        h.run(&["rpush", "l", "a", "b"]);
        h.run(&["lrem", "l", "0", "a"]);
        h.run(&["rpop", "l", "5"]);
        assert_eq!(h.events(), ["rpush l", "lrem l", "rpop l", "del l"]);
        let (a, b) = apart(n);
        h.run(&["rpush", &a, "1", "2"]);
        h.run(&["lmove", &a, &b, "left", "right"]);
        h.run(&["rpoplpush", &a, &b]);
        h.run(&["rpoplpush", &b, &b]);
        h.run(&["lmpop", "2", "nosuch", &b, "left", "count", "5"]);
        assert_eq!(
            h.events(),
            [
                format!("rpush {a}"),
                format!("rpush {b}"),
                format!("lpop {a}"),
                format!("lpush {b}"),
                format!("rpop {a}"),
                format!("del {a}"),
                format!("lpush {b}"),
                format!("rpop {b}"),
                format!("lpop {b}"),
                format!("del {b}"),
            ]
        );
    }
}

#[test]
fn served_blocking_pops_raise_the_same_events() {
    use super::super::ctx::Session;
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEln");
        let mut other = Session::new(2, false);
        let seq = h.start(&["blpop", "q", "0"]);
        std::mem::swap(&mut h.sess, &mut other);
        h.run(&["rpush", "q", "a"]);
        std::mem::swap(&mut h.sess, &mut other);
        assert_eq!(h.reply_for(seq), Some(Reply::Array(vec![b("q"), b("a")])));
        assert_eq!(h.events(), ["new q", "rpush q", "lpop q"], "{n} shards (del is class g)");
        let (src, dst) = apart(n);
        let seq = h.start(&["blmove", &src, &dst, "right", "left", "0"]);
        std::mem::swap(&mut h.sess, &mut other);
        h.run(&["rpush", &src, "x"]);
        std::mem::swap(&mut h.sess, &mut other);
        assert_eq!(h.reply_for(seq), Some(b("x")));
        assert_eq!(
            h.events(),
            [
                format!("new {src}"),
                format!("rpush {src}"),
                format!("new {dst}"),
                format!("lpush {dst}"),
                format!("rpop {src}")
            ]
        );
    }
}
