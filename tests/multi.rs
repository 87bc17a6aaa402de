//! MULTI/EXEC/WATCH against the real server, including atomicity across shards under
//! concurrent clients.

use crate::common;

use common::{SHARD_COUNTS, Server};

#[test]
fn exec_returns_every_reply_and_watch_aborts_on_concurrent_write() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut a = s.conn();
        let mut b = s.conn();
        let (r1, r2, r3): (String, i64, Vec<Option<String>>) = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg("x")
            .arg("1")
            .cmd("INCRBY")
            .arg("x")
            .arg(41)
            .cmd("MGET")
            .arg("x")
            .arg("nope")
            .query(&mut a)
            .unwrap();
        assert_eq!((r1.as_str(), r2), ("OK", 42));
        assert_eq!(r3, vec![Some("42".to_string()), None]);

        let _: () = redis::cmd("WATCH").arg("x").query(&mut a).unwrap();
        let _: () = redis::cmd("SET").arg("x").arg("changed").query(&mut b).unwrap();
        let _: () = redis::cmd("MULTI").query(&mut a).unwrap();
        let _: () = redis::cmd("SET").arg("x").arg("mine").query(&mut a).unwrap();
        let r: Option<Vec<String>> = redis::cmd("EXEC").query(&mut a).unwrap();
        assert_eq!(r, None, "{shards} shards: EXEC must abort");
        let v: String = redis::cmd("GET").arg("x").query(&mut a).unwrap();
        assert_eq!(v, "changed");
    }
}

/// A transferer moves units between accounts on different shards inside MULTI/EXEC
/// while a reader sums them with MGET: the total never changes.
#[test]
fn transactions_are_atomic_across_shards_under_concurrency() {
    let s = Server::start(4, &[]);
    let keys: Vec<String> = (0..8).map(|i| format!("acct:{i}")).collect();
    let mut c = s.conn();
    for k in &keys {
        let _: () = redis::cmd("SET").arg(k).arg(100).query(&mut c).unwrap();
    }
    let url = s.url();
    let writer_keys = keys.clone();
    let writer = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        for i in 0..1500usize {
            let from = &writer_keys[i % 8];
            let to = &writer_keys[(i * 3 + 1) % 8];
            let _: (i64, i64) = redis::pipe()
                .atomic()
                .cmd("DECRBY")
                .arg(from)
                .arg(7)
                .cmd("INCRBY")
                .arg(to)
                .arg(7)
                .query(&mut c)
                .unwrap();
        }
    });
    let mut reads = 0;
    while !writer.is_finished() || reads < 100 {
        let vals: Vec<i64> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
        assert_eq!(vals.iter().sum::<i64>(), 800, "partial transaction observed: {vals:?}");
        reads += 1;
    }
    writer.join().unwrap();
}

/// Redis 7.0 queues UNWATCH inside MULTI (QUEUED, then OK in EXEC's array), and a
/// refused EXEC (wrong arity) discards the transaction with EXECABORT, in MULTI or not.
/// Found by `diff_random_keys`.
#[test]
fn unwatch_is_queued_and_a_refused_exec_discards_as_in_redis() {
    let real = common::compare::real_redis("multi-unwatch");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut p = common::compare::Pair::new(&s, &real, 2);
        p.same(&["exec", "x"]);
        p.same(&["watch", "k"]);
        p.same(&["multi"]);
        p.same(&["unwatch"]);
        p.same(&["set", "k", "1"]);
        p.same(&["exec"]);
        p.same(&["multi"]);
        p.same(&["set", "k", "2"]);
        p.same(&["exec", "extra"]);
        // The transaction is gone: EXEC without MULTI, and the SET never ran.
        p.same(&["exec"]);
        p.same(&["get", "k"]);
        p.same(&["del", "k"]);
    }
}

/// Found by `diff_random_keys` (seed 3087, 4 shards): a COPY or MOVE queued with a
/// database that does not exist, in a transaction whose commands span shards, killed the
/// server at EXEC (the gather indexed the missing db). Each answers "DB index is out of
/// range" in its slot, as in Redis, and the rest runs.
#[test]
fn a_queued_copy_or_move_to_a_missing_db_fails_alone_as_in_redis() {
    let real = common::compare::real_redis("multi-missing-db");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut p = common::compare::Pair::new(&s, &real, 2);
        p.same(&["flushall"]);
        p.same(&["set", "c", "1"]);
        p.same(&["multi"]);
        p.same(&["get", "{a}x"]);
        p.same(&["copy", "c", "{a}x", "db", "16"]);
        p.same(&["move", "c", "16"]);
        p.same(&["copy", "c", "{b}y", "db", "15"]);
        p.same(&["incr", "zz"]);
        p.same(&["exec"]);
        p.same(&["copy", "c", "{a}x", "db", "16"]);
        p.same(&["move", "{b}y", "99"]);
        p.same(&["get", "c"]);
    }
}

/// Found by `diff_random_keys` (seed 3004): an EXEC that fails its WATCH check runs
/// nothing, so a SELECT (or SWAPDB) it queued leaves the connection on its db; one that
/// runs moves it. Compared with redis-server, RESP2 and RESP3.
#[test]
fn a_select_queued_in_an_exec_that_fails_its_watch_changes_nothing() {
    let real = common::compare::real_redis("multi-select-watch");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        for proto in [2, 3] {
            let mut p = common::compare::Pair::new(&s, &real, proto);
            let mut other = common::compare::Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            p.same(&["set", "y", "db0"]);
            for (touch, then) in [(true, "select"), (true, "swapdb"), (false, "select"), (true, "select")] {
                p.same(&["watch", "k"]);
                if touch {
                    other.same(&["set", "k", "v"]);
                }
                p.same(&["multi"]);
                if then == "select" {
                    p.same(&["select", "1"]);
                } else {
                    p.same(&["swapdb", "0", "1"]);
                }
                p.same(&["set", "{k}x", "in-tx"]);
                // Pipelined right behind EXEC: the next commands already see the db
                // EXEC left.
                let mut bytes = common::encode_cmd(&["exec"]);
                bytes.extend(common::encode_cmd(&["get", "y"]));
                bytes.extend(common::encode_cmd(&["pttl", "{k}x"]));
                p.ours.send(&bytes);
                p.theirs.send(&bytes);
                for what in ["exec", "get y", "pttl {k}x"] {
                    assert_eq!(p.ours.read(), p.theirs.read(), "{what} ({shards} shard(s), RESP{proto})");
                }
                p.same(&["select", "0"]);
                p.same(&["get", "y"]);
            }
            p.same(&["select", "1"]);
            p.same(&["get", "{k}x"]);
            p.same(&["select", "0"]);
        }
    }
}
