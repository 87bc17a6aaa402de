//! SORT and SORT_RO compared with a real redis-server (RESP2 and RESP3, 1 and 4
//! shards), with BY and GET patterns whose keys live on other shards; STORE waking a
//! client blocked in BLPOP; a pattern SORT ... STORE surviving an AOF restart.

use crate::common;

use common::compare::{Pair, real_redis};
use common::{Resp, Rng, SHARD_COUNTS, Server, wait_until};
use std::time::Duration;

fn run(p: &mut Pair, seed: u64) {
    let mut r = Rng::new(seed);
    // A list of numbers and words, weights and hash fields under keys spread over shards.
    let mut push = vec!["rpush".to_string(), "l".into()];
    for i in 0..40 {
        push.push(format!("{}", r.below(1000) as i64 - 500 + i));
    }
    p.same(&push);
    let mut mset = vec!["mset".to_string()];
    for i in 0..40usize {
        let v = push[2 + i].clone();
        mset.extend([format!("w_{v}"), format!("{}", r.below(50))]);
    }
    p.same(&mset);
    for i in (0..40usize).step_by(3) {
        let v = push[2 + i].clone();
        p.same(&["hset", &format!("h_{v}"), "f", &format!("val{}", r.below(10)), "g", &format!("{}", r.below(99))]);
    }
    p.same(&["sort", "l"]);
    p.same(&["sort", "l", "desc"]);
    p.same(&["sort", "l", "alpha", "limit", "5", "10"]);
    p.same(&["sort", "l", "by", "w_*"]);
    p.same(&["sort", "l", "by", "w_*", "desc", "limit", "3", "7"]);
    p.same(&["sort", "l", "by", "w_*", "get", "#", "get", "w_*", "get", "h_*->f"]);
    p.same(&["sort", "l", "by", "h_*->g", "get", "h_*->f", "get", "#"]);
    p.same(&["sort", "l", "by", "nosort", "get", "h_*->f", "limit", "2", "9"]);
    p.same(&["sort", "l", "by", "nosort", "desc", "limit", "0", "4"]);
    p.same(&["sort", "l", "by", "w_*", "get", "h_*->f", "store", "dst"]);
    p.same(&["lrange", "dst", "0", "-1"]);
    p.same(&["sort", "l", "by", "w_*", "store", "{l}dst"]);
    p.same(&["lrange", "{l}dst", "0", "-1"]);
    p.same(&["sort_ro", "l", "by", "w_*", "get", "w_*"]);
    p.same(&["sort_ro", "l", "store", "x"]);
    // Sets and sorted sets.
    p.same(&["sadd", "s", "5", "3", "banana", "apple", "10"]);
    p.same(&["sort", "s", "alpha"]);
    p.same(&["sort", "s"]);
    p.same(&["sort", "s", "by", "nosort", "store", "sdst"]);
    p.same(&["lrange", "sdst", "0", "-1"]);
    p.same(&["zadd", "z", "3", "a", "1", "b", "2", "c", "2", "d"]);
    p.same(&["sort", "z", "by", "nosort"]);
    p.same(&["sort", "z", "by", "nosort", "desc", "limit", "1", "2"]);
    p.same(&["sort", "z", "alpha", "desc"]);
    p.same(&["mset", "w_a", "x", "w_b", "2"]);
    p.same(&["sort", "z", "by", "w_*"]);
    // Errors and edge cases.
    p.same(&["sort", "l", "limit", "a", "b"]);
    p.same(&["sort", "l", "foo"]);
    p.same(&["sort", "l", "limit", "1"]);
    p.same(&["sort", "l", "limit", "100", "5"]);
    p.same(&["sort", "l", "limit", "-5", "3"]);
    p.same(&["set", "str", "x"]);
    p.same(&["sort", "str"]);
    p.same(&["sort", "nosuch"]);
    p.same(&["sort", "nosuch", "store", "dst"]);
    p.same(&["exists", "dst"]);
    p.same(&["rpush", "f", "1.5", "-2", "1e3", " 7", "inf"]);
    p.same(&["sort", "f"]);
    p.same(&["rpush", "bad", "1", "x"]);
    p.same(&["sort", "bad"]);
    p.same(&["sort", "bad", "store", "baddst"]);
    p.same(&["exists", "baddst"]);
}

#[test]
fn sort_matches_redis_with_patterns_across_shards() {
    let real = real_redis("sort");
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        for proto in [2u8, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            run(&mut p, 77 + n as u64 + proto as u64);
        }
    }
}

#[test]
fn sort_store_wakes_a_blocked_blpop() {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.raw();
        c.cmd(&["rpush", "src", "3", "1", "2"]);
        c.cmd(&["mset", "w_1", "30", "w_2", "20", "w_3", "10"]);
        for (dst, by) in [("dst", "w_*"), ("other", "nosort")] {
            let mut blocked = s.raw();
            blocked.send(&common::encode_cmd(&["blpop", dst, "10"]));
            // Wait until the server has parked it.
            let mut admin = s.raw();
            assert!(wait_until(Duration::from_secs(10), || {
                matches!(admin.cmd(&["info", "clients"]), Resp::Bulk(b) | Resp::Verbatim(_, b)
                    if String::from_utf8_lossy(&b).contains("blocked_clients:1"))
            }));
            assert_eq!(c.cmd(&["sort", "src", "by", by, "store", dst]), Resp::Int(3));
            // By weight (w_3 lightest) or in list order, "3" comes first either way.
            assert_eq!(blocked.read(), Resp::Array(vec![Resp::bulk(dst), Resp::bulk("3")]));
            assert_eq!(c.cmd(&["llen", dst]), Resp::Int(2));
        }
    }
}

#[test]
fn pattern_sort_store_survives_an_aof_restart() {
    for n in SHARD_COUNTS {
        let dir = common::temp_dir("sort-aof");
        let mut s = Server::start_in(dir.clone(), n, &["--appendonly", "yes"]);
        let mut c = s.raw();
        c.cmd(&["rpush", "src", "a", "b", "c", "d"]);
        c.cmd(&["mset", "w_a", "4", "w_b", "3", "w_c", "2", "w_d", "1", "v_a", "A", "v_c", "C"]);
        assert_eq!(c.cmd(&["sort", "src", "by", "w_*", "get", "v_*", "get", "#", "store", "out"]), Resp::Int(8));
        let before = c.cmd(&["lrange", "out", "0", "-1"]);
        drop(c);
        s.terminate();
        let s = Server::start_in(dir, n, &["--appendonly", "yes"]);
        let after = s.raw().cmd(&["lrange", "out", "0", "-1"]);
        assert_eq!(before, after);
        let want: Vec<Resp> = ["", "d", "C", "c", "", "b", "A", "a"].iter().map(|v| Resp::bulk(v)).collect();
        assert_eq!(after, Resp::Array(want));
    }
}

/// Inside MULTI/EXEC a SORT's BY and GET patterns see keys on every shard, as outside
/// (and as in Redis, where there is one keyspace), STORE included.
#[test]
fn sort_patterns_inside_multi_match_redis() {
    let real = real_redis("sort-multi");
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        for proto in [2u8, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            p.same(&["rpush", "src", "3", "1", "2", "5", "4"]);
            for i in 1..=5 {
                p.same(&["set", &format!("w_{i}"), &format!("{}", 10 - i)]);
                p.same(&["hset", &format!("h_{i}"), "f", &format!("v{i}")]);
                p.same(&["set", &format!("o_{i}"), &format!("obj{i}")]);
            }
            p.same(&["multi"]);
            p.same(&["sort", "src", "by", "w_*", "get", "#", "get", "h_*->f", "get", "o_*"]);
            p.same(&["sort", "src", "by", "h_*->f", "alpha", "desc", "get", "o_*", "store", "dst"]);
            p.same(&["lrange", "dst", "0", "-1"]);
            p.same(&["sort_ro", "src", "by", "nosort", "get", "o_*"]);
            p.same(&["set", "w_1", "100"]);
            p.same(&["sort", "src", "by", "w_*", "limit", "0", "2", "get", "o_*"]);
            p.same(&["exec"]);
            p.same(&["lrange", "dst", "0", "-1"]);
            p.same(&["get", "o_1"]);
            p.same(&["sort", "src", "by", "w_*", "get", "o_*"]);
        }
    }
}

/// Found by `diff_random_types`: ALPHA by a pattern compares the pattern's values
/// only, so elements with equal or missing values tie; Redis keeps ties in input order
/// for a full sort (glibc's stable qsort) and leaves them as its partial quicksort
/// does when LIMIT asks for part of the list. Lists long enough for the quicksort's
/// median-of-three and ninther pivots too.
#[test]
fn sort_by_pattern_alpha_ties_come_out_as_in_redis() {
    let real = real_redis("sort-ties");
    let mut r = Rng::new(15);
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        for proto in [2u8, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            for len in [7usize, 12, 60] {
                let mut push = vec!["rpush".to_string(), format!("l{len}")];
                push.extend((0..len).map(|i| format!("e{i}")));
                p.same(&push);
            }
            // A few weight values for many elements; some elements have none.
            for i in 0..60 {
                if r.below(4) != 0 {
                    p.same(&["set", &format!("w_e{i}"), &format!("v{}", r.below(3))]);
                }
            }
            for len in [7usize, 12, 60] {
                let key = format!("l{len}");
                p.same(&["sort", &key, "by", "w_*", "alpha"]);
                p.same(&["sort", &key, "by", "w_*", "alpha", "desc"]);
                for (start, count) in [("0", "3"), ("1", "4"), ("2", "-1"), ("5", "20"), ("0", "0"), ("100", "2")] {
                    p.same(&["sort", &key, "by", "w_*", "alpha", "limit", start, count]);
                    p.same(&[
                        "sort", &key, "by", "w_*", "alpha", "desc", "limit", start, count, "get", "#", "get", "w_*",
                    ]);
                    p.same(&["sort", &key, "by", "nokey_*", "alpha", "limit", start, count]);
                }
            }
        }
    }
}
