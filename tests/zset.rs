//! Sorted set commands against the real server, with 1 and 4 shards: ZADD options and
//! errors, the ZRANGE forms, a set large enough for the skiplist encoding (ranks, score
//! windows, ZSCAN), the STORE forms and ZMPOP over keys spread across shards, and the
//! RESP3 reply shapes on the wire.

use crate::common;

use common::{RespReader, SHARD_COUNTS, Server, encode_cmd};
use redis::Connection;
use std::io::Write;

/// Runs `f` against a fresh server of each shard count.
fn each(f: impl Fn(&mut Connection, &Server)) {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        f(&mut c, &s);
    }
}

/// Runs a command that must fail and returns its full error text ("ERR syntax error").
fn err(c: &mut Connection, args: &[&str]) -> String {
    let e = cmd(args).query::<redis::Value>(c).expect_err("command must fail");
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn cmd(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd
}

fn strings(c: &mut Connection, args: &[&str]) -> Vec<String> {
    cmd(args).query(c).unwrap()
}

fn int(c: &mut Connection, args: &[&str]) -> i64 {
    cmd(args).query(c).unwrap()
}

#[test]
fn zadd_and_ranges() {
    each(|c, _| {
        assert_eq!(int(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]), 3);
        assert_eq!(int(c, &["ZADD", "z", "CH", "GT", "5", "a", "1", "b"]), 1);
        let s: Option<String> = cmd(&["ZINCRBY", "z", "0.5", "c"]).query(c).unwrap();
        assert_eq!(s.as_deref(), Some("3.5"));
        assert_eq!(strings(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]), ["b", "2", "c", "3.5", "a", "5"]);
        assert_eq!(strings(c, &["ZRANGE", "z", "+inf", "(2", "BYSCORE", "REV", "LIMIT", "0", "1"]), ["a"]);
        assert_eq!(strings(c, &["ZREVRANGEBYSCORE", "z", "5", "-inf", "LIMIT", "1", "5"]), ["c", "b"]);
        assert_eq!(int(c, &["ZCOUNT", "z", "(2", "5"]), 2);
        assert_eq!(
            err(c, &["ZADD", "z", "NX", "XX", "1", "a"]),
            "ERR XX and NX options at the same time are not compatible"
        );
        assert_eq!(
            err(c, &["ZADD", "z", "LT", "GT", "1", "a"]),
            "ERR GT, LT, and/or NX options at the same time are not compatible"
        );
        assert_eq!(
            err(c, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
            "ERR INCR option supports a single increment-element pair"
        );
        assert_eq!(err(c, &["ZRANGEBYSCORE", "z", "a", "2"]), "ERR min or max is not a float");
        assert_eq!(err(c, &["ZRANGEBYLEX", "z", "a", "+"]), "ERR min or max not valid string range item");
        assert_eq!(
            err(c, &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]),
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        );
        assert_eq!(
            err(c, &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]),
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
        );
        cmd(&["SET", "str", "x"]).query::<()>(c).unwrap();
        assert_eq!(err(c, &["ZCARD", "str"]), "WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(int(c, &["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d"]), 4);
        assert_eq!(strings(c, &["ZRANGE", "l", "(a", "[c", "BYLEX"]), ["b", "c"]);
        assert_eq!(int(c, &["ZLEXCOUNT", "l", "-", "+"]), 4);
        assert_eq!(int(c, &["ZREMRANGEBYLEX", "l", "-", "(c"]), 2);
        assert_eq!(strings(c, &["ZRANGE", "l", "0", "-1"]), ["c", "d"]);
    });
}

#[test]
fn large_set_uses_skiplist() {
    each(|c, _| {
        let mut add = redis::cmd("ZADD");
        add.arg("big");
        for i in 0..1000 {
            add.arg(i).arg(format!("m{i:04}"));
        }
        assert_eq!(add.query::<i64>(c).unwrap(), 1000);
        let enc: String = cmd(&["OBJECT", "ENCODING", "big"]).query(c).unwrap();
        assert_eq!(enc, "skiplist");
        assert_eq!(int(c, &["ZRANK", "big", "m0500"]), 500);
        assert_eq!(int(c, &["ZREVRANK", "big", "m0500"]), 499);
        assert_eq!(strings(c, &["ZRANGE", "big", "100", "(103", "BYSCORE"]), ["m0100", "m0101", "m0102"]);
        assert_eq!(strings(c, &["ZRANGE", "big", "-2", "-1"]), ["m0998", "m0999"]);
        assert_eq!(int(c, &["ZCOUNT", "big", "-inf", "(500"]), 500);
        assert_eq!(int(c, &["ZREMRANGEBYRANK", "big", "0", "99"]), 100);
        assert_eq!(int(c, &["ZREMRANGEBYSCORE", "big", "(989", "+inf"]), 10);
        assert_eq!(int(c, &["ZCARD", "big"]), 890);
        // A full ZSCAN returns every member once, with its score.
        let mut seen = std::collections::BTreeMap::new();
        let mut cursor = "0".to_string();
        loop {
            let (next, items): (String, Vec<String>) = cmd(&["ZSCAN", "big", &cursor, "COUNT", "50"]).query(c).unwrap();
            for p in items.chunks(2) {
                seen.insert(p[0].clone(), p[1].clone());
            }
            cursor = next;
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 890);
        assert_eq!(seen.get("m0500").map(String::as_str), Some("500"));
        let popped = strings(c, &["ZPOPMAX", "big", "2"]);
        assert_eq!(popped, ["m0989", "989", "m0988", "988"]);
    });
}

#[test]
fn store_forms_across_shards() {
    each(|c, _| {
        // Keys with no hash tag: with 4 shards they land on different shards.
        for k in 0..6 {
            let key = format!("in{k}");
            for m in 0..=k {
                cmd(&["ZADD", &key, &m.to_string(), &format!("m{m}")]).query::<()>(c).unwrap();
            }
        }
        let keys: Vec<String> = (0..6).map(|k| format!("in{k}")).collect();
        let mut args = vec!["ZUNIONSTORE", "out", "6"];
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(int(c, &args), 6);
        assert_eq!(
            strings(c, &["ZRANGE", "out", "0", "-1", "WITHSCORES"]),
            ["m0", "0", "m1", "5", "m5", "5", "m2", "8", "m4", "8", "m3", "9"]
        );
        let mut args = vec!["ZINTERSTORE", "out2", "3", "in3", "in4", "in5", "AGGREGATE", "MAX"];
        assert_eq!(int(c, &args), 4);
        args[1] = "out3";
        args.truncate(6);
        args.extend(["WEIGHTS", "1", "1", "-1"]);
        assert_eq!(int(c, &args), 4);
        assert_eq!(
            strings(c, &["ZRANGE", "out3", "0", "-1", "WITHSCORES"]),
            ["m0", "0", "m1", "1", "m2", "2", "m3", "3"]
        );
        assert_eq!(int(c, &["ZDIFFSTORE", "out4", "2", "in5", "in3"]), 2);
        assert_eq!(strings(c, &["ZRANGE", "out4", "0", "-1"]), ["m4", "m5"]);
        assert_eq!(strings(c, &["ZDIFF", "3", "in5", "in1", "in4"]), ["m5"]);
        assert_eq!(int(c, &["ZINTERCARD", "2", "in5", "in2"]), 3);
        assert_eq!(int(c, &["ZRANGESTORE", "copy", "in5", "1", "2"]), 2);
        assert_eq!(strings(c, &["ZRANGE", "copy", "0", "-1"]), ["m1", "m2"]);
        assert_eq!(int(c, &["ZINTERSTORE", "copy", "2", "in5", "nokey"]), 0);
        assert_eq!(int(c, &["EXISTS", "copy"]), 0);
        // Sets take part with score 1.
        cmd(&["SADD", "plain", "m5", "x"]).query::<()>(c).unwrap();
        assert_eq!(strings(c, &["ZUNION", "2", "in5", "plain", "WITHSCORES"])[..4], ["m0", "0", "m1", "1"]);
        assert_eq!(strings(c, &["ZINTER", "2", "in5", "plain", "WITHSCORES"]), ["m5", "6"]);
        // ZMPOP walks its keys in order, whichever shards they are on.
        let r: (String, Vec<(String, f64)>) =
            cmd(&["ZMPOP", "3", "nokey", "in1", "in2", "MAX", "COUNT", "5"]).query(c).unwrap();
        assert_eq!(r.0, "in1");
        assert_eq!(r.1, vec![("m1".to_string(), 1.0), ("m0".to_string(), 0.0)]);
        assert_eq!(int(c, &["EXISTS", "in1"]), 0);
        let r: Option<(String, Vec<(String, f64)>)> = cmd(&["ZMPOP", "2", "nokey", "in1", "MIN"]).query(c).unwrap();
        assert_eq!(r, None);
    });
}

#[test]
fn resp3_shapes_on_the_wire() {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut t = s.tcp();
        let mut r = RespReader::new(t.try_clone().unwrap());
        let mut send = |args: &[&str]| {
            t.write_all(&encode_cmd(args)).unwrap();
            r.read().unwrap()
        };
        use common::Resp;
        assert!(matches!(send(&["HELLO", "3"]), Resp::Map(_)));
        assert_eq!(send(&["ZADD", "z", "1.5", "a", "2", "b"]), Resp::Int(2));
        assert_eq!(send(&["ZSCORE", "z", "a"]), Resp::Double("1.5".into()));
        assert_eq!(send(&["ZSCORE", "z", "nope"]), Resp::Null);
        assert_eq!(
            send(&["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
            Resp::Array(vec![
                Resp::Array(vec![Resp::bulk("a"), Resp::Double("1.5".into())]),
                Resp::Array(vec![Resp::bulk("b"), Resp::Double("2".into())]),
            ])
        );
        assert_eq!(send(&["ZMSCORE", "z", "b", "x"]), Resp::Array(vec![Resp::Double("2".into()), Resp::Null]));
        assert_eq!(send(&["ZPOPMIN", "z"]), Resp::Array(vec![Resp::bulk("a"), Resp::Double("1.5".into())]));
        assert_eq!(
            send(&["ZPOPMIN", "z", "1"]),
            Resp::Array(vec![Resp::Array(vec![Resp::bulk("b"), Resp::Double("2".into())])])
        );
        assert_eq!(send(&["ZMPOP", "1", "z", "MIN"]), Resp::Null);
    }
}

/// Found by `diff_random_types`: a lex range over a small sorted set whose scores differ
/// (so its members are not in lex order) answers as Redis's listpack walk does: empty
/// unless the last entry reaches the minimum and the first does not pass the maximum,
/// for ZRANGE BYLEX, ZLEXCOUNT, ZRANGESTORE and ZREMRANGEBYLEX alike.
#[test]
fn lex_ranges_over_unequal_scores_match_redis() {
    common::compare::each_pair("zset-lex-unequal", |p| {
        for cmd in [
            &["zadd", "z", "0", "2", "-1", "m"][..],
            &["zrange", "z", "(2", "+", "bylex"],
            &["zlexcount", "z", "(2", "+"],
            &["zrange", "z", "-", "(m", "bylex"],
            &["zrange", "z", "-", "[m", "bylex"],
            &["zrange", "z", "+", "(2", "bylex", "rev"],
            &["zrangestore", "d", "z", "(2", "+", "bylex"],
            &["zremrangebylex", "z", "(2", "+"],
            &["zadd", "z", "1", "a"],
            &["zrangebylex", "z", "[b", "+", "limit", "0", "1"],
            &["zremrangebylex", "z", "[b", "+"],
            &["zrange", "z", "0", "-1", "withscores"],
        ] {
            p.same(cmd);
        }
    });
}

/// Found by `diff_random_types`: a small sorted set (listpack) stores a score of -0
/// as the integer 0, as Redis's listpack does, so it reads back as 0; the skiplist
/// encoding keeps -0. Seen through ZADD, ZINCRBY, the store commands' weights, a
/// skiplist's -0 copied into a listpack by ZRANGESTORE, and a ZRANGESTORE target
/// that Redis fills as a listpack before a long member makes it a skiplist.
#[test]
fn negative_zero_scores_match_redis() {
    let long = "x".repeat(80);
    common::compare::each_pair("zset-negative-zero", |p| {
        for cmd in [
            &["zadd", "z", "-0", "m"][..],
            &["zscore", "z", "m"],
            &["zincrby", "z", "-0", "m"],
            &["zadd", "z", "-1", "q"],
            &["zinterstore", "e", "1", "z", "weights", "0"],
            &["zrange", "e", "0", "-1", "withscores"],
            &["zunion", "1", "z", "weights", "0", "withscores"],
            &["zadd", "big", "-0", "m", "1", "a"],
            &["zadd", "big", "0", &long],
            &["zadd", "big", "-0", "n"],
            &["zrange", "big", "0", "-1", "withscores"],
            &["zrangestore", "d", "big", "0", "1"],
            &["zrange", "d", "0", "-1", "withscores"],
            // Redis fills a ZRANGESTORE target as a listpack until a long member
            // converts it, so a -0 stored before that turns to 0 and one after it
            // stays -0; past 128 members the target is a skiplist from the start.
            &["zadd", "big", "-0", "zz"],
            &["zrangestore", "d", "big", "0", "-1"],
            &["object", "encoding", "d"],
            &["zrange", "d", "0", "-1", "withscores"],
            &["zrangestore", "d", "big", "0", "-1", "rev"],
            &["zrange", "d", "0", "-1", "withscores"],
            &["zinter", "1", "big", "weights", "-1", "withscores"],
            &["zpopmin", "z"],
        ] {
            p.same(cmd);
        }
        let mut many: Vec<String> = ["zadd", "many"].map(String::from).to_vec();
        for i in 0..130 {
            many.extend([i.to_string(), format!("m{i}")]);
        }
        p.same(&many);
        for cmd in [
            &["zadd", "many", "-0", "neg"][..],
            &["zscore", "many", "neg"],
            &["zrangestore", "d", "many", "0", "-1"],
            &["object", "encoding", "d"],
            &["zscore", "d", "neg"],
            &["zrangestore", "d", "many", "0", "127"],
            &["object", "encoding", "d"],
            &["zscore", "d", "neg"],
        ] {
            p.same(cmd);
        }
    });
}
