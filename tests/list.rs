//! List commands against the real server, with 1 and 4 shards: pushes and pops (with
//! COUNT and the RESP2/RESP3 null replies), ranges, LINSERT/LSET/LREM/LTRIM, LPOS, the
//! moves between lists whose keys live on different shards (LMOVE, RPOPLPUSH, LMPOP, run
//! by the cross-shard coordinator), and a seeded random workload checked against a model.

use crate::common;

use common::{Resp, Rng, SHARD_COUNTS, Server};
use redis::Connection;
use std::collections::VecDeque;

fn each(f: impl Fn(&mut Connection)) {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        f(&mut c);
    }
}

fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let e = cmd.query::<redis::Value>(c).expect_err("command must fail");
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn range(c: &mut Connection, k: &str) -> Vec<String> {
    redis::cmd("LRANGE").arg(k).arg(0).arg(-1).query(c).unwrap()
}

fn int(c: &mut Connection, args: &[&str]) -> i64 {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap()
}

#[test]
fn push_pop_range() {
    each(|c| {
        assert_eq!(int(c, &["RPUSH", "l", "a", "b", "c"]), 3);
        assert_eq!(int(c, &["LPUSH", "l", "z"]), 4);
        assert_eq!(range(c, "l"), ["z", "a", "b", "c"]);
        let enc: String = redis::cmd("OBJECT").arg("ENCODING").arg("l").query(c).unwrap();
        assert_eq!(enc, "quicklist");
        let t: String = redis::cmd("TYPE").arg("l").query(c).unwrap();
        assert_eq!(t, "list");
        let v: Option<String> = redis::cmd("LPOP").arg("l").query(c).unwrap();
        assert_eq!(v.as_deref(), Some("z"));
        let v: Vec<String> = redis::cmd("RPOP").arg("l").arg(2).query(c).unwrap();
        assert_eq!(v, ["c", "b"]);
        assert_eq!(int(c, &["LLEN", "l"]), 1);
        assert_eq!(int(c, &["LPUSHX", "nope", "x"]), 0);
        assert_eq!(int(c, &["EXISTS", "nope"]), 0);
        let v: Option<String> = redis::cmd("LINDEX").arg("l").arg(-1).query(c).unwrap();
        assert_eq!(v.as_deref(), Some("a"));
        let v: Vec<String> = redis::cmd("LPOP").arg("l").arg(5).query(c).unwrap();
        assert_eq!(v, ["a"]);
        assert_eq!(int(c, &["EXISTS", "l"]), 0, "the emptied list is gone");
        assert_eq!(err(c, &["LPOP", "l", "-2"]), "ERR value is out of range, must be positive");
        redis::cmd("SET").arg("s").arg("v").query::<()>(c).unwrap();
        assert_eq!(err(c, &["RPUSH", "s", "a"]), "WRONGTYPE Operation against a key holding the wrong kind of value");
    });
}

#[test]
fn null_replies_in_both_protocols() {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut r = s.raw();
        assert_eq!(r.cmd(&["LPOP", "missing"]), Resp::NilBulk);
        assert_eq!(r.cmd(&["LPOP", "missing", "2"]), Resp::NilArray);
        assert_eq!(r.cmd(&["LMPOP", "1", "missing", "LEFT"]), Resp::NilArray);
        assert_eq!(r.cmd(&["LPOS", "missing", "x"]), Resp::NilBulk);
        assert_eq!(r.cmd(&["LPOS", "missing", "x", "COUNT", "0"]), Resp::Array(vec![]));
        assert_eq!(r.cmd(&["RPUSH", "l", "a"]), Resp::Int(1));
        assert_eq!(r.cmd(&["LPOP", "l", "0"]), Resp::Array(vec![]));
        assert!(matches!(r.cmd(&["HELLO", "3"]), Resp::Map(_)));
        assert_eq!(r.cmd(&["LPOP", "missing"]), Resp::Null);
        assert_eq!(r.cmd(&["RPOP", "missing", "2"]), Resp::Null);
        assert_eq!(r.cmd(&["LMPOP", "1", "missing", "RIGHT"]), Resp::Null);
        assert_eq!(r.cmd(&["LINDEX", "l", "5"]), Resp::Null);
        assert_eq!(r.cmd(&["RPOPLPUSH", "missing", "l"]), Resp::Null);
    }
}

#[test]
fn middle_operations() {
    each(|c| {
        int(c, &["RPUSH", "l", "a", "b", "c", "b", "a"]);
        assert_eq!(int(c, &["LINSERT", "l", "BEFORE", "b", "x"]), 6);
        assert_eq!(int(c, &["LINSERT", "l", "AFTER", "nope", "x"]), -1);
        let ok: String = redis::cmd("LSET").arg("l").arg(-1).arg("A").query(c).unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(range(c, "l"), ["a", "x", "b", "c", "b", "A"]);
        assert_eq!(err(c, &["LSET", "l", "10", "v"]), "ERR index out of range");
        assert_eq!(err(c, &["LSET", "nope", "0", "v"]), "ERR no such key");
        assert_eq!(int(c, &["LREM", "l", "-1", "b"]), 1);
        assert_eq!(range(c, "l"), ["a", "x", "b", "c", "A"]);
        assert_eq!(int(c, &["LPOS", "l", "c"]), 3);
        let v: Vec<i64> =
            redis::cmd("LPOS").arg("l").arg("A").arg("RANK").arg(-1).arg("COUNT").arg(0).query(c).unwrap();
        assert_eq!(v, [4]);
        let ok: String = redis::cmd("LTRIM").arg("l").arg(1).arg(-2).query(c).unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(range(c, "l"), ["x", "b", "c"]);
        assert_eq!(
            err(c, &["LPOS", "l", "b", "RANK", "0"]),
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
        );
    });
}

#[test]
fn moves_across_shards() {
    // Hash tags put these on different shards of four.
    let (a, b, d) = ("list{a}", "list{b}", "list{d}");
    each(|c| {
        int(c, &["RPUSH", a, "1", "2", "3"]);
        let v: String = redis::cmd("LMOVE").arg(a).arg(b).arg("LEFT").arg("RIGHT").query(c).unwrap();
        assert_eq!(v, "1");
        let v: String = redis::cmd("RPOPLPUSH").arg(a).arg(b).query(c).unwrap();
        assert_eq!(v, "3");
        assert_eq!(range(c, a), ["2"]);
        assert_eq!(range(c, b), ["3", "1"]);
        let v: redis::Value =
            redis::cmd("LMPOP").arg(3).arg(d).arg(a).arg(b).arg("RIGHT").arg("COUNT").arg(5).query(c).unwrap();
        assert_eq!(
            v,
            redis::Value::Array(vec![
                redis::Value::BulkString(a.as_bytes().to_vec()),
                redis::Value::Array(vec![redis::Value::BulkString(b"2".to_vec())]),
            ])
        );
        assert_eq!(int(c, &["EXISTS", a]), 0);
        // A move into a wrong-type destination changes nothing.
        redis::cmd("SET").arg(d).arg("str").query::<()>(c).unwrap();
        assert_eq!(
            err(c, &["LMOVE", b, d, "LEFT", "LEFT"]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(range(c, b), ["3", "1"]);
        // Moving the last element deletes the source and creates the destination.
        int(c, &["DEL", d]);
        int(c, &["LPOP", b]);
        let v: String = redis::cmd("LMOVE").arg(b).arg(d).arg("RIGHT").arg("LEFT").query(c).unwrap();
        assert_eq!(v, "1");
        assert_eq!(int(c, &["EXISTS", b]), 0);
        assert_eq!(range(c, d), ["1"]);
    });
}

/// Random pushes, pops, inserts, removals and trims over a few lists, compared with a
/// `VecDeque` model after every command. Elements mix short strings, integers (stored
/// compactly) and kilobyte strings, so the lists span several nodes.
#[test]
fn random_workload_matches_model() {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        let mut rng = Rng::new(42 + n as u64);
        let keys = ["w{1}", "w{2}", "w{3}"];
        let mut model: Vec<VecDeque<String>> = vec![VecDeque::new(); keys.len()];
        for step in 0..1500 {
            let k = rng.below(keys.len() as u64) as usize;
            let key = keys[k];
            let val = match rng.below(4) {
                0 => rng.below(50).to_string(),
                1 => format!("v{}", rng.below(20)),
                2 => "x".repeat(500 + rng.below(1500) as usize),
                _ => format!("-{}", rng.below(1000)),
            };
            let grow = (step / 300) % 2 == 0;
            match rng.below(9) {
                0 | 1 if grow || rng.below(2) == 0 => {
                    let len: usize = redis::cmd("RPUSH").arg(key).arg(&val).query(&mut c).unwrap();
                    model[k].push_back(val);
                    assert_eq!(len, model[k].len());
                }
                2 if grow || rng.below(2) == 0 => {
                    let _: usize = redis::cmd("LPUSH").arg(key).arg(&val).query(&mut c).unwrap();
                    model[k].push_front(val);
                }
                3 => {
                    let cnt = rng.below(4) as usize;
                    let got: Option<Vec<String>> = redis::cmd("LPOP").arg(key).arg(cnt).query(&mut c).unwrap();
                    let existed = !model[k].is_empty();
                    let take = cnt.min(model[k].len());
                    let want: Vec<String> = model[k].drain(..take).collect();
                    // A missing key is a null array, even for COUNT 0.
                    assert_eq!(got, existed.then_some(want), "step {step}");
                }
                4 => {
                    let got: Option<String> = redis::cmd("RPOP").arg(key).query(&mut c).unwrap();
                    assert_eq!(got, model[k].pop_back(), "step {step}");
                }
                5 => {
                    let to = (k + 1) % keys.len();
                    let got: Option<String> =
                        redis::cmd("LMOVE").arg(key).arg(keys[to]).arg("LEFT").arg("RIGHT").query(&mut c).unwrap();
                    let want = model[k].pop_front();
                    if let Some(v) = &want {
                        model[to].push_back(v.clone());
                    }
                    assert_eq!(got, want, "step {step}");
                }
                6 if !model[k].is_empty() => {
                    let pivot = model[k][rng.below(model[k].len() as u64) as usize].clone();
                    let _: i64 =
                        redis::cmd("LINSERT").arg(key).arg("AFTER").arg(&pivot).arg(&val).query(&mut c).unwrap();
                    let p = model[k].iter().position(|x| *x == pivot).unwrap();
                    model[k].insert(p + 1, val);
                }
                7 => {
                    let target = format!("v{}", rng.below(20));
                    let removed: usize = redis::cmd("LREM").arg(key).arg(0).arg(&target).query(&mut c).unwrap();
                    let before = model[k].len();
                    model[k].retain(|x| *x != target);
                    assert_eq!(removed, before - model[k].len(), "step {step}");
                }
                8 if !grow => {
                    let len = model[k].len() as i64;
                    let (a, b) = (rng.below(4) as i64, -1 - rng.below(4) as i64);
                    let _: String = redis::cmd("LTRIM").arg(key).arg(a).arg(b).query(&mut c).unwrap();
                    let (s, e) = (a.min(len), (len + b).max(-1));
                    let kept: VecDeque<String> = if s > e {
                        VecDeque::new()
                    } else {
                        model[k].range(s as usize..=e as usize).cloned().collect()
                    };
                    model[k] = kept;
                }
                _ => {}
            }
            if step % 50 == 0 || step == 1499 {
                for (i, key) in keys.iter().enumerate() {
                    let got = range(&mut c, key);
                    assert!(got.iter().eq(model[i].iter()), "step {step} key {key}");
                    let exists: i64 = redis::cmd("EXISTS").arg(*key).query(&mut c).unwrap();
                    assert_eq!(exists == 1, !model[i].is_empty(), "step {step}: empty lists are deleted");
                }
            }
        }
    }
}

/// Found by `diff_random_types`: Redis 7.0.15 takes a RANK of LONG_MIN (7.2 refuses
/// it): its negation wraps, so it reads as the first match from the tail, and with
/// COUNT every match comes back; the later options are still checked after it.
#[test]
fn lpos_rank_long_min_matches_redis() {
    let real = common::compare::real_redis("lpos-long-min");
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        for proto in [2, 3] {
            let mut p = common::compare::Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            p.same(&["lpos", "l", "a", "rank", "-9223372036854775808"]);
            p.same(&["rpush", "l", "a", "b", "a", "c", "a"]);
            for tail in [
                &[][..],
                &["count", "1"],
                &["count", "2", "maxlen", "4"],
                &["count", "0"],
                &["maxlen", "1"],
                &["maxlen", "-1"],
                &["count", "-1"],
                &["x"],
            ] {
                let mut cmd = vec!["lpos", "l", "a", "rank", "-9223372036854775808"];
                cmd.extend_from_slice(tail);
                p.same(&cmd);
            }
        }
    }
}
