//! Scripts and the keyspace beyond their keys: SELECT inside a script (the script's
//! db only, as Redis 7.0), its writes replayed from the AOF and replicated to a
//! redis-server into that db, blocking reads from a script (Redis refuses
//! XREAD/XREADGROUP BLOCK there, answers the others' non-blocking forms or refuses
//! them), and the keyspace-wide commands a script cannot run here (README, Scripting
//! limits). Replies compared with redis-server on 1 and 4 shards, RESP2 and RESP3.

use crate::common;

use common::compare::{Pair, real_redis};
use common::{Resp, SHARD_COUNTS, Server, temp_dir};

const SELECT_WRITE: &str = "redis.call('select', ARGV[1]) redis.call('set', KEYS[1], ARGV[2]) return {redis.call('get', KEYS[1]), redis.call('exists', KEYS[1])}";

#[test]
fn select_inside_a_script_changes_only_the_scripts_db() {
    let real = real_redis("script-select");
    for n in SHARD_COUNTS {
        // With several shards the declared keys are in the caller's db: after a SELECT
        // a key is an undeclared one, which lock-all mode reaches.
        let s = Server::start(n, &["--lua-undeclared-keys", "lock-all"]);
        for proto in [2, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            for cmd in [
                &["eval", "return redis.call('select', '1')", "0"][..],
                &["eval", "return redis.call('select', '15')", "0"],
                &["eval", "return redis.call('select', '16')", "0"],
                &["eval", "return redis.call('select', '-1')", "0"],
                &["eval", "return redis.pcall('select', 'x')", "0"],
                &["eval", "return redis.call('select', '1', '2')", "0"],
                &["set", "k", "db0"],
                &["eval", SELECT_WRITE, "1", "k", "1", "db1"],
                // The caller is still on db 0.
                &["get", "k"],
                &["eval", "return redis.call('get', KEYS[1])", "1", "k"],
                &[
                    "eval",
                    "redis.call('select', '2') redis.call('select', '1') return redis.call('get', KEYS[1])",
                    "1",
                    "k",
                ],
                &["eval", "redis.call('select', '1') return redis.call('incr', KEYS[1])", "1", "n"],
                &["eval", SELECT_WRITE, "1", "k", "0", "back"],
                &["get", "k"],
                &["get", "n"],
                &["select", "1"],
                &["get", "k"],
                &["get", "n"],
                &["select", "0"],
            ] {
                p.same(cmd);
            }
        }
    }
}

/// In the default mode (`lua-undeclared-keys error`) with several shards, a key in a db
/// the script SELECTed is not one it declared: the cluster-mode error, not a wrong
/// answer.
#[test]
fn a_selected_db_key_is_undeclared_with_several_shards() {
    let s = Server::start(4, &[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["eval", "return redis.call('select', '1')", "0"]), Resp::simple("OK"));
    match c.cmd(&["eval", SELECT_WRITE, "1", "k", "1", "v"]) {
        Resp::Error(e) => assert!(e.contains("non local key"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["exists", "k"]), Resp::Int(0));
}

/// The script's writes in another db are logged in that db: after a restart from the
/// AOF each key is where the script put it.
#[test]
fn a_scripts_writes_after_select_replay_from_the_aof() {
    for n in SHARD_COUNTS {
        let dir = temp_dir("script-select-aof");
        let args = ["--appendonly", "yes", "--appendfsync", "always", "--lua-undeclared-keys", "lock-all"];
        let mut s = Server::start_in(dir.clone(), n, &args);
        let mut c = s.raw();
        c.cmd(&["set", "k", "db0"]);
        c.cmd(&["eval", SELECT_WRITE, "1", "k", "3", "db3"]);
        c.cmd(&[
            "eval",
            "redis.call('set', KEYS[1], 'home') redis.call('select', '2') return redis.call('rpush', KEYS[1], 'x')",
            "1",
            "l",
        ]);
        let digest = c.cmd(&["debug", "digest"]);
        s.terminate();
        let s = Server::start_in(dir, n, &args);
        let mut c = s.raw();
        assert_eq!(c.cmd(&["debug", "digest"]), digest, "{n} shard(s)");
        assert_eq!(c.cmd(&["get", "k"]), Resp::bulk("db0"));
        assert_eq!(c.cmd(&["get", "l"]), Resp::bulk("home"));
        c.cmd(&["select", "3"]);
        assert_eq!(c.cmd(&["get", "k"]), Resp::bulk("db3"));
        c.cmd(&["select", "2"]);
        assert_eq!(c.cmd(&["lrange", "l", "0", "-1"]), Resp::Array(vec![Resp::bulk("x")]));
    }
}

#[test]
fn blocking_reads_in_a_script_answer_as_redis() {
    let real = real_redis("script-blocking");
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        for proto in [2, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            for cmd in [
                &["xadd", "s", "1-1", "f", "v"][..],
                &["xgroup", "create", "s", "g", "0"],
                &["eval", "return redis.call('xread', 'block', '0', 'streams', KEYS[1], '0')", "1", "s"],
                &["eval", "return redis.call('XREAD', 'COUNT', '1', 'BLOCK', '10', 'STREAMS', KEYS[1], '$')", "1", "s"],
                &["eval", "return redis.pcall('xread', 'block', 'x', 'streams', KEYS[1], '0')", "1", "s"],
                &["eval", "return redis.call('xread', 'count', 'x', 'block', '0', 'streams', KEYS[1], '0')", "1", "s"],
                &["eval", "return redis.call('xread', 'streams', KEYS[1], '0')", "1", "s"],
                &[
                    "eval",
                    "return redis.call('xreadgroup', 'group', 'g', 'c', 'block', '0', 'streams', KEYS[1], '>')",
                    "1",
                    "s",
                ],
                &["eval", "return redis.call('xreadgroup', 'group', 'g', 'c', 'streams', KEYS[1], '>')", "1", "s"],
                &["eval", "return redis.call('blpop', KEYS[1], '0')", "1", "l"],
                &["eval", "return redis.call('brpoplpush', KEYS[1], KEYS[1], '0')", "1", "l"],
                &["eval", "return redis.call('blmpop', '0', '1', KEYS[1], 'left')", "1", "l"],
                &["eval", "return redis.call('bzmpop', '0', '1', KEYS[1], 'min')", "1", "z"],
                &["eval", "return redis.call('bzpopmin', KEYS[1], '0')", "1", "z"],
            ] {
                p.same(cmd);
            }
        }
    }
}

/// The keyspace-wide reads in a script, where the script holds the whole keyspace:
/// with one shard all four, in lock-all mode DBSIZE and KEYS (through the script's own
/// changes), as Redis answers them. KEYS and SCAN are sorted in the script (their order
/// is each server's table order).
#[test]
fn keyspace_reads_in_a_script_answer_as_redis_where_it_holds_the_keyspace() {
    let real = real_redis("script-keyspace-reads");
    const SORTED_KEYS: &str = "local t = redis.call('keys', ARGV[1]) table.sort(t) return t";
    const SCAN_ALL: &str = "local r = redis.call('scan', '0', 'count', '1000', unpack(ARGV)) table.sort(r[2]) return r";
    const CHANGED: &str = "redis.call('set', 'new', '1') redis.call('del', 'k1') redis.call('select', '1') \
        redis.call('set', 'other', '1') redis.call('select', '0') \
        local t = redis.call('keys', '*') table.sort(t) return {redis.call('dbsize'), t}";
    let one: &[&[&str]] = &[
        &["eval", "return redis.call('randomkey')", "0"],
        &["set", "only", "1"],
        &["eval", "return redis.call('randomkey')", "0"],
        &["mset", "k1", "1", "k2", "2", "x{k1}", "3"],
        &["hset", "h", "f", "v"],
        &["eval", SCAN_ALL, "0"],
        &["eval", SCAN_ALL, "0", "match", "k*"],
        &["eval", SCAN_ALL, "0", "type", "hash"],
        &["eval", "return redis.pcall('scan', 'x')", "0"],
        &["eval", "return redis.pcall('scan', '0', 'count', '0')", "0"],
        &["flushall"],
    ];
    let both: &[&[&str]] = &[
        &["eval", "return redis.call('dbsize')", "0"],
        &["eval", SORTED_KEYS, "0", "*"],
        &["mset", "k1", "1", "k2", "2", "x{k1}", "3"],
        &["hset", "h", "f", "v"],
        &["eval", "return redis.call('dbsize')", "0"],
        &["eval", SORTED_KEYS, "0", "*"],
        &["eval", SORTED_KEYS, "0", "k?"],
        &["eval", SORTED_KEYS, "0", "nothing*"],
        &["eval", CHANGED, "0"],
        &["dbsize"],
        &["eval", "redis.call('select', '1') return redis.call('dbsize')", "0"],
        &["eval", "return redis.pcall('keys')", "0"],
    ];
    for (n, flags) in [(1, &[][..]), (4, &["--lua-undeclared-keys", "lock-all"][..])] {
        let s = Server::start(n, flags);
        for proto in [2, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            if n == 1 {
                for cmd in one {
                    p.same(cmd);
                }
            }
            for cmd in both {
                p.same(cmd);
            }
        }
    }
}

/// The keyspace-wide commands a script cannot run here answer an error that says so
/// (Redis 7.0 runs them), and change nothing: SWAPDB everywhere, FLUSHDB and FLUSHALL
/// with several shards, the reads with several shards unless the script is in lock-all
/// mode, SCAN and RANDOMKEY even then.
#[test]
fn keyspace_wide_commands_in_a_script_are_refused_by_name() {
    let cases: &[(usize, &[&str], &[&str])] = &[
        (1, &[], &["swapdb"]),
        (4, &[], &["flushall", "flushdb", "swapdb", "randomkey", "dbsize", "keys", "scan"]),
        (4, &["--lua-undeclared-keys", "lock-all"], &["flushall", "flushdb", "swapdb", "randomkey", "scan"]),
    ];
    for &(n, flags, names) in cases {
        let s = Server::start(n, flags);
        let mut c = s.raw();
        c.cmd(&["set", "k", "v"]);
        for name in names {
            let args = match *name {
                "swapdb" => "'0', '1'",
                "keys" => "'*'",
                "scan" => "'0'",
                _ => "",
            };
            let sep = if args.is_empty() { "" } else { ", " };
            let body = format!("return redis.pcall('{name}'{sep}{args})");
            let want = format!(
                "ERR {} is not supported inside scripts by shardis: it spans every shard's keyspace",
                name.to_ascii_uppercase()
            );
            assert_eq!(c.cmd(&["eval", &body, "0"]), Resp::err(&want), "{n} shard(s) {flags:?}");
        }
        assert_eq!(c.cmd(&["get", "k"]), Resp::bulk("v"));
        assert_eq!(c.cmd(&["dbsize"]), Resp::Int(1));
    }
}

/// The same writes reach a redis-server replica in their dbs (the stream's SELECTs
/// inside the script's MULTI/EXEC).
#[test]
fn a_scripts_writes_after_select_replicate_to_redis() {
    use common::repl::{Kind, Node, assert_converged};
    for n in SHARD_COUNTS {
        let master = Node::start(Kind::Shardis(n), &["--lua-undeclared-keys", "lock-all"]);
        let replica = Node::start_replica_of(Kind::Redis, master.port, &[]);
        let mut c = master.conn();
        let _: () = redis::cmd("set").arg("k").arg("db0").query(&mut c).expect("set");
        let _: redis::Value =
            redis::cmd("eval").arg(SELECT_WRITE).arg(1).arg("k").arg(4).arg("db4").query(&mut c).expect("eval");
        assert_converged(&[&master, &replica], std::time::Duration::from_secs(30));
        let mut r = replica.conn();
        let got: Option<String> = redis::cmd("get").arg("k").query(&mut r).expect("get");
        assert_eq!(got.as_deref(), Some("db0"), "{n} shard(s)");
        let _: () = redis::cmd("select").arg(4).query(&mut r).expect("select");
        let got: Option<String> = redis::cmd("get").arg("k").query(&mut r).expect("get");
        assert_eq!(got.as_deref(), Some("db4"), "{n} shard(s)");
    }
}

const FLUSH_BETWEEN: &str = "redis.call('set', 'a', '1') local r = redis.call(ARGV[1]) redis.call('set', 'b', '2') return {r, redis.call('dbsize'), redis.call('get', 'a')}";

/// FLUSHDB and FLUSHALL inside a script with one shard, where the script holds the whole
/// keyspace: as Redis 7.0 runs them (replies, what is left in each db, a WATCH on a
/// flushed key aborting the watcher's EXEC, a watched key no flush reached not), with
/// their option errors and the read-only refusals.
#[test]
fn flushes_inside_a_script_with_one_shard_as_redis() {
    let real = real_redis("script-flush");
    let s = Server::start(1, &[]);
    for proto in [2, 3] {
        let mut p = Pair::new(&s, &real, proto);
        let mut w = Pair::new(&s, &real, proto);
        p.both(&["flushall"]);
        for cmd in
            [&["mset", "a", "0", "w", "1", "z", "2"][..], &["select", "1"], &["set", "other", "1"], &["select", "0"]]
        {
            p.same(cmd);
        }
        // The watcher: a key the flush removes, then one it does not reach (db 1 kept).
        w.same(&["watch", "w"]);
        p.same(&["eval", FLUSH_BETWEEN, "0", "flushdb"]);
        w.same(&["multi"]);
        w.same(&["set", "w", "x"]);
        w.same(&["exec"]);
        for cmd in [
            &["dbsize"][..],
            &["get", "b"],
            &["select", "1"],
            &["get", "other"],
            &["select", "0"],
            &["eval", "return redis.pcall('flushdb', 'x')", "0"],
            &["eval", "return redis.pcall('flushall', 'sync', 'x')", "0"],
            &["eval", "return redis.pcall('flushdb', 'ASYNC')", "0"],
            &["eval_ro", "return redis.pcall('flushall')", "0"],
            &["eval", "#!lua flags=no-writes\nreturn redis.pcall('flushdb')", "0"],
            &["set", "a", "1"],
            &["select", "1"],
            &["set", "other", "1"],
        ] {
            p.same(cmd);
        }
        w.same(&["select", "1"]);
        w.same(&["watch", "other"]);
        p.same(&["eval", FLUSH_BETWEEN, "0", "flushall"]);
        w.same(&["multi"]);
        w.same(&["set", "other", "x"]);
        w.same(&["exec"]);
        for cmd in [&["dbsize"][..], &["get", "a"], &["select", "0"], &["dbsize"], &["get", "a"]] {
            p.same(cmd);
        }
    }
}
