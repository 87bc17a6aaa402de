use super::super::harness::shorthand::{arr, b, err, int};
use super::super::harness::{Harness, Reply};

const SYNTAX: &str = "ERR syntax error";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulks(v: &[&str]) -> Reply {
    arr(v.iter().map(|s| b(s)).collect())
}
fn d(s: &str) -> Reply {
    Reply::Double(s.into())
}

use super::super::harness::each;

fn run(h: &mut Harness, args: &str) -> Reply {
    let v: Vec<&str> = args.split(' ').collect();
    h.run(&v)
}

#[test]
fn zadd_flags_and_errors() {
    each(|h| {
        assert_eq!(run(h, "zadd z 1 a 2 b 3 c"), int(3));
        assert_eq!(run(h, "zadd z 1 a 5 b 3 d"), int(1));
        assert_eq!(run(h, "zadd z ch 1 a 6 b 3 e"), int(2));
        assert_eq!(run(h, "zadd z nx 100 a 4 f"), int(1));
        assert_eq!(run(h, "zscore z a"), b("1"));
        assert_eq!(run(h, "zadd z xx ch 7 a 7 nope"), int(1));
        assert_eq!(run(h, "zscore z nope"), Reply::Nil);
        assert_eq!(run(h, "zadd z gt ch 1 a 8 b"), int(1));
        assert_eq!(run(h, "zadd z lt ch 10 a 0 b"), int(1));
        assert_eq!(run(h, "zmscore z a b x"), arr(vec![b("7"), b("0"), Reply::Nil]));
        assert_eq!(run(h, "zadd z xx nx 1 a"), err("ERR XX and NX options at the same time are not compatible"));
        assert_eq!(
            run(h, "zadd z gt lt 1 a"),
            err("ERR GT, LT, and/or NX options at the same time are not compatible")
        );
        assert_eq!(
            run(h, "zadd z gt nx 1 a"),
            err("ERR GT, LT, and/or NX options at the same time are not compatible")
        );
        assert_eq!(run(h, "zadd z incr 1 a 2 b"), err("ERR INCR option supports a single increment-element pair"));
        assert_eq!(run(h, "zadd z 1 a 2"), err(SYNTAX));
        assert_eq!(run(h, "zadd z nx ch"), err(SYNTAX));
        assert_eq!(run(h, "zadd z 1 a x b"), err("ERR value is not a valid float"));
        assert_eq!(run(h, "zadd z nan a"), err("ERR value is not a valid float"));
        // Nothing was applied by the failed command.
        assert_eq!(run(h, "zscore z a"), b("7"));
        assert_eq!(run(h, "zadd z incr 2.5 a"), b("9.5"));
        assert_eq!(run(h, "zadd z incr nx 2.5 a"), Reply::Nil);
        assert_eq!(run(h, "zadd z incr gt -1 a"), Reply::Nil);
        assert_eq!(run(h, "zadd missing xx 1 a"), int(0));
        assert_eq!(run(h, "zadd missing xx incr 1 a"), Reply::Nil);
        assert_eq!(run(h, "exists missing"), int(0));
        assert_eq!(run(h, "zadd z +inf i"), int(1));
        assert_eq!(run(h, "zincrby z -inf i"), err("ERR resulting score is not a number (NaN)"));
        assert_eq!(run(h, "zscore z i"), b("inf"));
        assert_eq!(run(h, "zincrby z 1.5 newm"), b("1.5"));
        assert_eq!(run(h, "zincrby z abc newm"), err("ERR value is not a valid float"));
        assert_eq!(run(h, "set s x"), Reply::Simple("OK".into()));
        assert_eq!(run(h, "zadd s 1 a"), err(WRONGTYPE));
        assert_eq!(run(h, "zscore s a"), err(WRONGTYPE));
        assert_eq!(run(h, "type z"), Reply::Simple("zset".into()));
    });
}

#[test]
/// Expected texts are redis-server 7.0.15's (`%.17g`; 7.2 prints shortest digits).
fn scores_format_like_redis() {
    each(|h| {
        run(h, "zadd z 0.1 a 1e20 b -0 c 3.0 d 1e-5 e");
        assert_eq!(run(h, "zscore z a"), b("0.10000000000000001"));
        assert_eq!(run(h, "zscore z b"), b("1e+20"));
        // A small (listpack) set stores -0 as the integer 0, as Redis 7.0 does.
        assert_eq!(run(h, "zscore z c"), b("0"));
        assert_eq!(run(h, "zscore z d"), b("3"));
        assert_eq!(run(h, "zscore z e"), b("1.0000000000000001e-05"));
        h.resp3();
        assert_eq!(run(h, "zscore z d"), d("3"));
        assert_eq!(run(h, "zscore z nope"), Reply::Nil);
    });
}

#[test]
fn zrem_card_rank_and_deletion() {
    each(|h| {
        run(h, "zadd z 1 a 2 b 3 c");
        assert_eq!(run(h, "zrank z b"), int(1));
        assert_eq!(run(h, "zrevrank z b"), int(1));
        assert_eq!(run(h, "zrevrank z a"), int(2));
        assert_eq!(run(h, "zrank z x"), Reply::Nil);
        assert_eq!(run(h, "zrank nokey x"), Reply::Nil);
        assert_eq!(run(h, "zrem z a x a"), int(1));
        assert_eq!(run(h, "zcard z"), int(2));
        assert_eq!(run(h, "zrem z b c"), int(2));
        assert_eq!(run(h, "exists z"), int(0));
        assert_eq!(run(h, "zcard z"), int(0));
        assert_eq!(run(h, "zrem z a"), int(0));
    });
}

#[test]
fn zrange_forms() {
    each(|h| {
        run(h, "zadd z 1 a 2 b 3 c 4 d 5 e");
        assert_eq!(run(h, "zrange z 0 -1"), bulks(&["a", "b", "c", "d", "e"]));
        assert_eq!(run(h, "zrange z -2 100"), bulks(&["d", "e"]));
        assert_eq!(run(h, "zrange z 3 1"), bulks(&[]));
        assert_eq!(run(h, "zrange z 0 1 withscores"), bulks(&["a", "1", "b", "2"]));
        assert_eq!(run(h, "zrange z 0 1 rev"), bulks(&["e", "d"]));
        assert_eq!(run(h, "zrevrange z 0 1 withscores"), bulks(&["e", "5", "d", "4"]));
        assert_eq!(run(h, "zrange z (1 3 byscore"), bulks(&["b", "c"]));
        assert_eq!(run(h, "zrange z 3 (1 byscore rev"), bulks(&["c", "b"]));
        assert_eq!(run(h, "zrange z -inf +inf byscore limit 1 2"), bulks(&["b", "c"]));
        assert_eq!(run(h, "zrange z -inf +inf byscore limit -1 2"), bulks(&[]));
        assert_eq!(run(h, "zrange z -inf +inf byscore limit 3 -1"), bulks(&["d", "e"]));
        assert_eq!(run(h, "zrangebyscore z 2 4 withscores limit 1 1"), bulks(&["c", "3"]));
        assert_eq!(run(h, "zrevrangebyscore z +inf 4"), bulks(&["e", "d"]));
        assert_eq!(run(h, "zrangebyscore z 2 x"), err("ERR min or max is not a float"));
        assert_eq!(
            run(h, "zrange z 0 1 limit 0 1"),
            err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        );
        assert_eq!(
            run(h, "zrevrange z 0 1 limit 0 1"),
            err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        );
        assert_eq!(run(h, "zrangebyscore z 1 2 rev"), err(SYNTAX));
        assert_eq!(run(h, "zrange z 0 1 byscore bylex"), err(SYNTAX));
        assert_eq!(run(h, "zrange z 0 1 limit 1"), err(SYNTAX));
        // A rank range ignores an offset whose count is -1 (Redis checks the count only).
        assert_eq!(run(h, "zrange z 0 1 limit -1 -1"), bulks(&["a", "b"]));
        assert_eq!(run(h, "zrange z 0 1 rev limit 5 -1"), bulks(&["e", "d"]));
        assert_eq!(run(h, "zrange z a 1"), err("ERR value is not an integer or out of range"));
        assert_eq!(run(h, "zrange nokey 0 -1"), bulks(&[]));
        run(h, "zadd l 0 a 0 b 0 c 0 d");
        assert_eq!(run(h, "zrange l [b (d bylex"), bulks(&["b", "c"]));
        assert_eq!(run(h, "zrange l + (b bylex rev"), bulks(&["d", "c"]));
        assert_eq!(run(h, "zrangebylex l - + limit 1 2"), bulks(&["b", "c"]));
        assert_eq!(run(h, "zrevrangebylex l (c -"), bulks(&["b", "a"]));
        assert_eq!(run(h, "zrangebylex l a +"), err("ERR min or max not valid string range item"));
        assert_eq!(
            run(h, "zrangebylex l - + withscores"),
            err("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
        );
        assert_eq!(run(h, "zlexcount l [b +"), int(3));
        assert_eq!(run(h, "zlexcount l - -"), int(0));
        assert_eq!(run(h, "zcount z (1 +inf"), int(4));
        assert_eq!(run(h, "zcount z 3 3"), int(1));
        assert_eq!(run(h, "zcount z x 3"), err("ERR min or max is not a float"));
        h.resp3();
        assert_eq!(run(h, "zrange z 0 1 withscores"), arr(vec![arr(vec![b("a"), d("1")]), arr(vec![b("b"), d("2")])]));
    });
}

#[test]
fn zrangestore_across_shards() {
    each(|h| {
        run(h, "zadd src 1 a 2 b 3 c");
        run(h, "set dst x");
        run(h, "expire dst 100");
        assert_eq!(run(h, "zrangestore dst src 0 1"), int(2));
        assert_eq!(run(h, "ttl dst"), int(-1));
        assert_eq!(run(h, "zrange dst 0 -1 withscores"), bulks(&["a", "1", "b", "2"]));
        assert_eq!(run(h, "zrangestore dst src 2 (1 byscore rev limit 0 1"), int(1));
        assert_eq!(run(h, "zrange dst 0 -1"), bulks(&["b"]));
        assert_eq!(run(h, "zrangestore dst src [a [b bylex"), int(2));
        assert_eq!(run(h, "zrangestore dst src 5 10"), int(0));
        assert_eq!(run(h, "exists dst"), int(0));
        assert_eq!(run(h, "zrangestore dst src 0 1 withscores"), err(SYNTAX));
        assert_eq!(run(h, "zrangestore dst nokey 0 1"), int(0));
    });
}

#[test]
fn zremrange_forms() {
    each(|h| {
        run(h, "zadd z 1 a 2 b 3 c 4 d 5 e");
        assert_eq!(run(h, "zremrangebyrank z 0 1"), int(2));
        assert_eq!(run(h, "zremrangebyscore z (3 4"), int(1));
        assert_eq!(run(h, "zrange z 0 -1"), bulks(&["c", "e"]));
        assert_eq!(run(h, "zremrangebyscore z x 4"), err("ERR min or max is not a float"));
        assert_eq!(run(h, "zremrangebylex z [a [d"), int(1));
        assert_eq!(run(h, "zremrangebylex z x [d"), err("ERR min or max not valid string range item"));
        assert_eq!(run(h, "zremrangebyrank z 5 10"), int(0));
        assert_eq!(run(h, "zremrangebyrank z -1 -1"), int(1));
        assert_eq!(run(h, "exists z"), int(0));
        assert_eq!(run(h, "zremrangebyrank z 0 -1"), int(0));
    });
}

#[test]
fn pops() {
    each(|h| {
        run(h, "zadd z 1 a 2 b 3 c 4 d");
        assert_eq!(run(h, "zpopmin z"), bulks(&["a", "1"]));
        assert_eq!(run(h, "zpopmax z 2"), bulks(&["d", "4", "c", "3"]));
        assert_eq!(run(h, "zpopmin z 0"), bulks(&[]));
        assert_eq!(run(h, "zpopmin z -1"), err("ERR value is out of range, must be positive"));
        assert_eq!(run(h, "zpopmin z 1 2"), err(SYNTAX));
        assert_eq!(run(h, "zpopmin z 10"), bulks(&["b", "2"]));
        assert_eq!(run(h, "exists z"), int(0));
        assert_eq!(run(h, "zpopmin z"), bulks(&[]));
        run(h, "zadd z2 1 a 2 b 3 c");
        assert_eq!(
            run(h, "zmpop 2 nokey z2 max count 2"),
            arr(vec![b("z2"), arr(vec![bulks(&["c", "3"]), bulks(&["b", "2"])])])
        );
        assert_eq!(run(h, "zmpop 1 z2 min"), arr(vec![b("z2"), arr(vec![bulks(&["a", "1"])])]));
        assert_eq!(run(h, "zmpop 1 z2 min"), Reply::Nil);
        assert_eq!(run(h, "zmpop 0 z2 min"), err("ERR numkeys should be greater than 0"));
        assert_eq!(run(h, "zmpop 2 z2 min"), err(SYNTAX));
        assert_eq!(run(h, "zmpop 1 z2 middle"), err(SYNTAX));
        assert_eq!(run(h, "zmpop 1 z2 min count 0"), err("ERR count should be greater than 0"));
        assert_eq!(run(h, "zmpop 1 z2 min count 1 count 1"), err(SYNTAX));
        run(h, "set s x");
        run(h, "zadd z3 1 a");
        assert_eq!(run(h, "zmpop 2 s z3 min"), err(WRONGTYPE));
        h.resp3();
        run(h, "zadd z 1 a 2 b");
        assert_eq!(run(h, "zpopmin z"), arr(vec![b("a"), d("1")]));
        assert_eq!(run(h, "zpopmin z 1"), arr(vec![arr(vec![b("b"), d("2")])]));
    });
}

#[test]
fn blocking_pops() {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        let mut other = crate::cmd::Session::new(2, false);
        let mut as_other = |h: &mut Harness, args: &str| {
            std::mem::swap(&mut h.sess, &mut other);
            let r = run(h, args);
            std::mem::swap(&mut h.sess, &mut other);
            r
        };
        run(&mut h, "zadd z 1 a 2 b");
        assert_eq!(run(&mut h, "bzpopmin z 0"), bulks(&["z", "a", "1"]));
        assert_eq!(run(&mut h, "bzpopmax nokey z 0"), bulks(&["z", "b", "2"]));
        assert_eq!(run(&mut h, "exists z"), int(0));
        // Nothing there: the client waits for a write on any of its keys.
        let seq = h.start(&["bzpopmin", "q1", "q2", "0"]);
        assert_eq!(h.reply_for(seq), None);
        assert_eq!(as_other(&mut h, "zadd q2 5 x 6 y"), int(2));
        assert_eq!(h.reply_for(seq), Some(bulks(&["q2", "x", "5"])));
        assert_eq!(run(&mut h, "zrange q2 0 -1"), bulks(&["y"]));
        let seq = h.start(&["bzmpop", "0", "2", "q3", "q4", "max", "count", "2"]);
        assert_eq!(h.reply_for(seq), None);
        as_other(&mut h, "zadd q4 1 a 2 b 3 c");
        assert_eq!(h.reply_for(seq), Some(arr(vec![b("q4"), arr(vec![bulks(&["c", "3"]), bulks(&["b", "2"])])])));
        // Timeouts answer a null array.
        let seq = h.start(&["bzpopmax", "none", "0.1"]);
        h.tick();
        assert_eq!(h.reply_for(seq), None);
        h.advance_ms(150);
        h.tick();
        assert_eq!(h.reply_for(seq), Some(Reply::Nil));
        assert_eq!(run(&mut h, "bzpopmin z -1"), err("ERR timeout is negative"));
        assert_eq!(run(&mut h, "bzmpop 0 0 z min"), err("ERR numkeys should be greater than 0"));
        assert_eq!(run(&mut h, "bzmpop x 1 z min"), err("ERR timeout is not a float or out of range"));
        run(&mut h, "set s x");
        assert_eq!(run(&mut h, "bzpopmin s 0"), err(WRONGTYPE));
        h.resp3();
        run(&mut h, "zadd z 1 a");
        assert_eq!(run(&mut h, "bzpopmin z 0"), arr(vec![b("z"), b("a"), d("1")]));
    }
}

#[test]
fn set_algebra() {
    each(|h| {
        run(h, "zadd a 1 x 2 y 3 z");
        run(h, "zadd b 10 y 20 z 30 w");
        assert_eq!(run(h, "zunion 2 a b withscores"), bulks(&["x", "1", "y", "12", "z", "23", "w", "30"]));
        assert_eq!(run(h, "zinter 2 a b withscores"), bulks(&["y", "12", "z", "23"]));
        assert_eq!(run(h, "zinter 2 a b weights 2 -1 withscores"), bulks(&["z", "-14", "y", "-6"]));
        assert_eq!(run(h, "zinter 2 a b aggregate max withscores"), bulks(&["y", "10", "z", "20"]));
        assert_eq!(run(h, "zunion 2 a b aggregate min"), bulks(&["x", "y", "z", "w"]));
        assert_eq!(run(h, "zdiff 2 a b withscores"), bulks(&["x", "1"]));
        assert_eq!(run(h, "zdiff 2 nokey b"), bulks(&[]));
        assert_eq!(run(h, "zunionstore dst 2 a b"), int(4));
        assert_eq!(run(h, "zrange dst 0 -1 withscores"), bulks(&["x", "1", "y", "12", "z", "23", "w", "30"]));
        assert_eq!(run(h, "zinterstore dst 2 a b weights 1 0"), int(2));
        assert_eq!(run(h, "zrange dst 0 -1 withscores"), bulks(&["y", "2", "z", "3"]));
        assert_eq!(run(h, "zdiffstore dst 2 b a"), int(1));
        assert_eq!(run(h, "zrange dst 0 -1"), bulks(&["w"]));
        assert_eq!(run(h, "zinterstore dst 2 a nokey"), int(0));
        assert_eq!(run(h, "exists dst"), int(0));
        assert_eq!(run(h, "zintercard 2 a b"), int(2));
        assert_eq!(run(h, "zintercard 2 a b limit 1"), int(1));
        assert_eq!(run(h, "zintercard 2 a b limit -1"), err("ERR LIMIT can't be negative"));
        assert_eq!(run(h, "zintercard 0 a"), err("ERR at least 1 input key is needed for 'zintercard' command"));
        assert_eq!(run(h, "zunionstore dst 0 a"), err("ERR at least 1 input key is needed for 'zunionstore' command"));
        assert_eq!(run(h, "zunion 3 a b"), err(SYNTAX));
        assert_eq!(run(h, "zunion x a"), err("ERR value is not an integer or out of range"));
        assert_eq!(run(h, "zunion 2 a b weights 1"), err(SYNTAX));
        assert_eq!(run(h, "zunion 2 a b weights 1 x"), err("ERR weight value is not a float"));
        assert_eq!(run(h, "zunion 2 a b aggregate avg"), err(SYNTAX));
        assert_eq!(run(h, "zdiff 2 a b weights 1 1"), err(SYNTAX));
        assert_eq!(run(h, "zunionstore dst 2 a b withscores"), err(SYNTAX));
        // +inf and -inf sum to 0, not NaN.
        run(h, "zadd p +inf m");
        run(h, "zadd n -inf m");
        assert_eq!(run(h, "zunion 2 p n withscores"), bulks(&["m", "0"]));
        // Plain sets are inputs with score 1.
        run(h, "sadd s y w q");
        assert_eq!(run(h, "zunion 2 a s withscores"), bulks(&["q", "1", "w", "1", "x", "1", "y", "3", "z", "3"]));
        assert_eq!(run(h, "zinter 2 s b withscores"), bulks(&["y", "11", "w", "31"]));
        run(h, "set str v");
        assert_eq!(run(h, "zunion 2 a str"), err(WRONGTYPE));
        assert_eq!(run(h, "zunion 2 a str weights x"), err(WRONGTYPE));
        h.resp3();
        assert_eq!(
            run(h, "zinter 2 a b withscores"),
            arr(vec![arr(vec![b("y"), d("12")]), arr(vec![b("z"), d("23")])])
        );
    });
}

#[test]
fn zrandmember_counts() {
    each(|h| {
        assert_eq!(run(h, "zrandmember nokey"), Reply::Nil);
        assert_eq!(run(h, "zrandmember nokey 3"), bulks(&[]));
        run(h, "zadd z 1 a 2 b 3 c");
        let Reply::Bulk(m) = run(h, "zrandmember z") else { panic!("bulk") };
        assert!([&b"a"[..], b"b", b"c"].contains(&&m[..]));
        assert_eq!(run(h, "zrandmember z 0"), bulks(&[]));
        assert_eq!(run(h, "zrandmember z 5 withscores"), bulks(&["a", "1", "b", "2", "c", "3"]));
        let Reply::Array(v) = run(h, "zrandmember z -7") else { panic!("array") };
        assert_eq!(v.len(), 7);
        let Reply::Array(v) = run(h, "zrandmember z 2") else { panic!("array") };
        assert_eq!(v.len(), 2);
        assert_ne!(v[0], v[1]);
        let Reply::Array(v) = run(h, "zrandmember z -2 withscores") else { panic!("array") };
        assert_eq!(v.len(), 4);
        assert_eq!(run(h, "zrandmember z 1 withscores x"), err(SYNTAX));
        assert_eq!(run(h, "zrandmember z 1 foo"), err(SYNTAX));
        assert_eq!(run(h, "zrandmember z 9223372036854775807 withscores"), err("ERR value is out of range"));
        assert_eq!(run(h, "zrandmember z x"), err("ERR value is not an integer or out of range"));
        h.resp3();
        let Reply::Array(v) = run(h, "zrandmember z 2 withscores") else { panic!("array") };
        assert!(v.iter().all(|p| matches!(p, Reply::Array(x) if x.len() == 2)));
    });
}

#[test]
fn zscan_small_and_large() {
    each(|h| {
        assert_eq!(run(h, "zscan nokey 0"), arr(vec![b("0"), bulks(&[])]));
        run(h, "zadd z 1 a 2.5 b 3 c");
        assert_eq!(run(h, "zscan z 0"), arr(vec![b("0"), bulks(&["a", "1", "b", "2.5", "c", "3"])]));
        assert_eq!(run(h, "zscan z 0 match b*"), arr(vec![b("0"), bulks(&["b", "2.5"])]));
        assert_eq!(run(h, "zscan z x"), err("ERR invalid cursor"));
        assert_eq!(run(h, "zscan z 0 count 0"), err(SYNTAX));
        for i in 0..300 {
            h.run(&["zadd", "big", &i.to_string(), &format!("m{i}")]);
        }
        assert_eq!(run(h, "object encoding big"), b("skiplist"));
        assert_eq!(run(h, "object encoding z"), b("listpack"));
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = "0".to_string();
        loop {
            let Reply::Array(r) = h.run(&["zscan", "big", &cursor, "count", "20"]) else { panic!("array") };
            let Reply::Bulk(c) = &r[0] else { panic!("cursor") };
            cursor = String::from_utf8(c.clone()).unwrap();
            let Reply::Array(items) = &r[1] else { panic!("items") };
            for p in items.chunks(2) {
                let Reply::Bulk(m) = &p[0] else { panic!("member") };
                seen.insert(m.clone());
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
    });
}

#[test]
fn encodings_follow_thresholds() {
    each(|h| {
        for i in 0..128 {
            h.run(&["zadd", "z", &i.to_string(), &format!("m{i}")]);
        }
        assert_eq!(run(h, "object encoding z"), b("listpack"));
        run(h, "zadd z 1000 one-more");
        assert_eq!(run(h, "object encoding z"), b("skiplist"));
        assert_eq!(run(h, "zrank z one-more"), int(128));
        let long = "x".repeat(65);
        h.run(&["zadd", "l", "1", &long]);
        assert_eq!(run(h, "object encoding l"), b("skiplist"));
        // A small computed result is compact again.
        assert_eq!(run(h, "zrangestore small z 0 9"), int(10));
        assert_eq!(run(h, "object encoding small"), b("listpack"));
        assert_eq!(run(h, "zunionstore u 1 z"), int(129));
        assert_eq!(run(h, "object encoding u"), b("skiplist"));
    });
}

#[test]
fn sort_switches_a_sorted_set_to_skiplist_as_redis_does() {
    each(|h| {
        run(h, "zadd z 1 a 2 b");
        assert_eq!(run(h, "object encoding z"), b("listpack"));
        run(h, "sort z alpha");
        assert_eq!(run(h, "object encoding z"), b("skiplist"));
        // Even a SORT that fails on the values (not numbers, no ALPHA).
        run(h, "zadd y 1 a");
        run(h, "sort_ro y");
        assert_eq!(run(h, "object encoding y"), b("skiplist"));
        // Lists and sets keep theirs.
        run(h, "rpush l 3 1 2");
        run(h, "sadd s 3 1 2");
        let before = (run(h, "object encoding l"), run(h, "object encoding s"));
        run(h, "sort l");
        run(h, "sort s");
        assert_eq!((run(h, "object encoding l"), run(h, "object encoding s")), before);
    });
}

#[test]
fn keyspace_events() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEA");
        h.run(&["zadd", "z", "1", "a", "2", "b", "3", "c"]);
        h.run(&["zadd", "z", "1", "a"]);
        h.run(&["zadd", "z", "xx", "5", "nope"]);
        h.run(&["zadd", "none", "xx", "5", "a"]);
        h.run(&["zadd", "z", "gt", "0", "a"]);
        h.run(&["zadd", "z", "ch", "9", "a"]);
        h.run(&["zadd", "z", "incr", "1", "a"]);
        h.run(&["zincrby", "z", "1", "b"]);
        assert_eq!(h.events(), ["zadd z", "zadd z", "zincr z", "zincr z"], "{n} shards");
        h.run(&["zrem", "z", "nope"]);
        h.run(&["zrem", "z", "c"]);
        h.run(&["zadd", "z", "20", "d", "30", "e", "40", "f"]);
        h.run(&["zremrangebyscore", "z", "100", "200"]);
        h.run(&["zremrangebyscore", "z", "20", "20"]);
        h.run(&["zremrangebyrank", "z", "-1", "-1"]);
        h.run(&["zremrangebylex", "z", "-", "+"]);
        assert_eq!(
            h.events(),
            ["zrem z", "zadd z", "zremrangebyscore z", "zremrangebyrank z", "zremrangebylex z", "del z"]
        );
        h.run(&["zadd", "p", "1", "a", "2", "b", "3", "c"]);
        h.run(&["zpopmin", "p"]);
        h.run(&["zpopmax", "p", "0"]);
        h.run(&["zpopmax", "p", "1"]);
        h.run(&["zmpop", "2", "none", "p", "min", "count", "9"]);
        h.run(&["zpopmin", "p"]);
        assert_eq!(h.events(), ["zadd p", "zpopmin p", "zpopmax p", "zpopmin p", "del p"]);
        h.run(&["zadd", "{t}1", "1", "a", "2", "b"]);
        h.run(&["zadd", "{t}2", "1", "b"]);
        h.events();
        h.run(&["zunionstore", "{t}d", "2", "{t}1", "{t}2"]);
        h.run(&["zinterstore", "{t}d", "2", "{t}1", "{t}2"]);
        h.run(&["zdiffstore", "{t}d", "2", "{t}1", "{t}2"]);
        h.run(&["zrangestore", "{t}d", "{t}1", "0", "0"]);
        h.run(&["zrangestore", "{t}d", "{t}1", "5", "9"]);
        h.run(&["zinterstore", "{t}d", "2", "{t}1", "{t}none"]);
        h.run(&["zunion", "2", "{t}1", "{t}2"]);
        assert_eq!(
            h.events(),
            ["zunionstore {t}d", "zinterstore {t}d", "zdiffstore {t}d", "zrangestore {t}d", "del {t}d"]
        );
        h.run(&["zunionstore", "elsewhere", "2", "{t}1", "{t}2"]);
        assert_eq!(h.events(), ["zunionstore elsewhere"]);
    }
}
