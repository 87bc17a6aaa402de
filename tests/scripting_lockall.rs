//! Scripts that touch keys they did not declare, on several shards: Redis's
//! cluster-mode error by default; with `lua-undeclared-keys lock-all` (or the
//! `allow-undeclared-keys` flag of a script or function) they lock every shard and
//! run with the whole keyspace in reach (`cmd::script_all`). Replies compared with
//! redis-server (which, not in cluster mode, lets every script touch any key).

use crate::common;

use common::{RealRedis, Resp, Server, temp_dir};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::raw_to as connect;

const NON_LOCAL: &str = "ERR Script attempted to access a non local key in a cluster node";

/// Writes and reads of undeclared keys spread over the shards.
const MOVES: &str = "redis.call('set', 'la:a', ARGV[1]); redis.call('rpush', 'la:l', ARGV[1]); \
    redis.call('hset', 'la:h', 'f', ARGV[1]); redis.call('incrby', 'la:n', ARGV[1]); \
    redis.call('rename', 'la:a', 'la:b'); redis.call('del', 'la:gone'); \
    return {redis.call('get', 'la:b'), redis.call('lrange', 'la:l', 0, -1), redis.call('hgetall', 'la:h'), \
    redis.call('get', 'la:n'), redis.call('exists', 'la:a', 'la:gone')}";

/// The second script carries the `allow-undeclared-keys` flag where `flag` says
/// (redis-server refuses the flag, which is shardis's and Dragonfly's).
fn cases(c: &mut common::Raw, flag: bool) -> Vec<Resp> {
    c.cmd(&["flushall"]);
    c.cmd(&["set", "la:gone", "x"]);
    let flagged = if flag { format!("#!lua flags=allow-undeclared-keys\n{MOVES}") } else { MOVES.to_string() };
    vec![
        c.cmd(&["eval", MOVES, "0", "5"]),
        c.cmd(&["eval", &flagged, "0", "7"]),
        c.cmd(&["mget", "la:a", "la:b", "la:n", "la:gone"]),
        c.cmd(&["lrange", "la:l", "0", "-1"]),
    ]
}

/// The `allow-undeclared-keys` flag, or the setting, give redis-server's replies on
/// 1 and 4 shards; without either, 4 shards give Redis's cluster-mode error and write
/// nothing.
#[test]
fn undeclared_keys_error_by_default_and_run_under_lock_all() {
    let dir = temp_dir("lockall-real");
    let real = RealRedis::start(&dir);
    let want = cases(&mut connect(real.port), false);
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        let mut c = s.raw();
        assert_eq!(
            c.cmd(&["config", "get", "lua-undeclared-keys"]),
            Resp::Array(vec![Resp::bulk("lua-undeclared-keys"), Resp::bulk("error")])
        );
        if shards > 1 {
            c.cmd(&["flushall"]);
            match c.cmd(&["eval", MOVES, "0", "5"]) {
                Resp::Error(e) => assert!(e.starts_with(NON_LOCAL), "{e}"),
                other => panic!("expected the cluster-mode error, got {other:?}"),
            }
            // A shebang without the flag changes nothing.
            match c.cmd(&["eval", &format!("#!lua\n{MOVES}"), "0", "5"]) {
                Resp::Error(e) => assert!(e.starts_with(NON_LOCAL), "{e}"),
                other => panic!("expected the cluster-mode error, got {other:?}"),
            }
        }
        assert_eq!(c.cmd(&["config", "set", "lua-undeclared-keys", "lock-all"]), Resp::simple("OK"));
        assert_eq!(cases(&mut c, false), want, "{shards} shards, lock-all");
        assert_eq!(cases(&mut c, true), want, "{shards} shards, lock-all and the flag");
        assert_eq!(c.cmd(&["config", "set", "lua-undeclared-keys", "error"]), Resp::simple("OK"));
        // Only the flagged script runs: the first case errs on several shards.
        let got = cases(&mut c, true);
        if shards > 1 {
            assert!(matches!(&got[0], Resp::Error(e) if e.starts_with(NON_LOCAL)), "{:?}", got[0]);
            // The refused first script wrote nothing: as if the second ran alone.
            let mut r = connect(real.port);
            r.cmd(&["flushall"]);
            r.cmd(&["set", "la:gone", "x"]);
            let alone = r.cmd(&["eval", MOVES, "0", "7"]);
            assert_eq!(got[1], alone, "{shards} shards, flagged script");
            assert_eq!(got[2], r.cmd(&["mget", "la:a", "la:b", "la:n", "la:gone"]), "{shards} shards");
        } else {
            assert_eq!(got, want, "{shards} shards, flagged script");
        }
        match c.cmd(&["config", "set", "lua-undeclared-keys", "sometimes"]) {
            Resp::Error(e) => assert!(e.contains("argument(s) must be one of the following"), "{e}"),
            other => panic!("{other:?}"),
        }
        // A function with the flag.
        let lib = "#!lua name=la\nredis.register_function{function_name='touch', \
            callback=function(keys, args) redis.call('set', 'la:f1', args[1]); redis.call('set', 'la:f2', args[1]); \
            return redis.call('mget', 'la:f1', 'la:f2') end, flags={'allow-undeclared-keys'}}";
        assert_eq!(c.cmd(&["function", "load", lib]), Resp::bulk("la"));
        assert_eq!(c.cmd(&["fcall", "touch", "0", "v"]), Resp::Array(vec![Resp::bulk("v"), Resp::bulk("v")]));
    }
}

/// Undeclared keys on every shard, written by lock-all scripts from two clients, are
/// never seen apart by a concurrent reader (MGET) and no increment is lost.
#[test]
fn lock_all_scripts_are_atomic_under_a_concurrent_reader() {
    for shards in [1, 4] {
        let s = Server::start(shards, &["--lua-undeclared-keys", "lock-all"]);
        let keys = ["k:a", "k:b", "k:c", "k:d", "k:e", "k:f"];
        let mut c = s.raw();
        if shards > 1 {
            // The keys must span shards for the test to mean anything: the default
            // mode refuses a script naming them all.
            c.cmd(&["config", "set", "lua-undeclared-keys", "error"]);
            let r = c.cmd(&["eval", "return redis.call('mget', 'k:a', 'k:b', 'k:c', 'k:d', 'k:e', 'k:f')", "0"]);
            assert!(matches!(&r, Resp::Error(e) if e.starts_with(NON_LOCAL)), "{r:?}");
            c.cmd(&["config", "set", "lua-undeclared-keys", "lock-all"]);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let mut r = s.raw();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    match r.cmd(&["mget", "k:a", "k:b", "k:c", "k:d", "k:e", "k:f"]) {
                        Resp::Array(v) => {
                            assert!(v.iter().all(|x| *x == v[0]), "a script's writes seen half-applied: {v:?}")
                        }
                        other => panic!("{other:?}"),
                    }
                    seen += 1;
                }
                seen
            })
        };
        let script = "for _, k in ipairs({'k:a', 'k:b', 'k:c', 'k:d', 'k:e', 'k:f'}) do redis.call('incr', k) end \
            return redis.call('get', 'k:a')";
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let mut w = s.raw();
                std::thread::spawn(move || {
                    for _ in 0..150 {
                        assert!(matches!(w.cmd(&["eval", script, "0"]), Resp::Bulk(_)));
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().expect("reader") > 0);
        let all = c.cmd(&["mget", "k:a", "k:b", "k:c", "k:d", "k:e", "k:f"]);
        assert_eq!(all, Resp::Array(keys.iter().map(|_| Resp::bulk("300")).collect()), "{shards} shards");
    }
}

/// A lock-all script's writes reach every owner's AOF (as one tagged transaction) and
/// replay to the same data after a restart, also on another shard count.
#[test]
fn lock_all_writes_reach_the_aof_and_replay() {
    let dir = temp_dir("lockall-aof");
    let flags = ["--appendonly", "yes", "--appendfsync", "always", "--lua-undeclared-keys", "lock-all"];
    let mut s = Server::start_in(dir.clone(), 4, &flags);
    let mut c = s.raw();
    for i in 0..20 {
        let v = i.to_string();
        c.cmd(&["eval", MOVES, "0", &v]);
        c.cmd(&[
            "eval",
            "redis.call('sadd', 'la:s' .. ARGV[1], ARGV[1]); redis.call('del', 'la:s' .. (ARGV[1] - 3))",
            "0",
            &v,
        ]);
    }
    let before = c.cmd(&["debug", "digest"]);
    let n = c.cmd(&["dbsize"]);
    assert_ne!(n, Resp::Int(0));
    drop(c);
    s.kill9();
    // Each server removes its directory when dropped: keep it for the next one.
    std::mem::forget(s);
    for shards in [4, 2] {
        let mut s2 = Server::start_in(dir.clone(), shards, &["--appendonly", "yes"]);
        let mut c = s2.raw();
        assert_eq!(c.cmd(&["debug", "digest"]), before, "{shards} shards: replay differs");
        assert_eq!(c.cmd(&["dbsize"]), n);
        drop(c);
        s2.terminate();
        if shards == 4 {
            std::mem::forget(s2);
        }
    }
}

/// A lock-all script past `busy-reply-threshold`: every shard is stopped, yet new
/// connections get `-BUSY` and SCRIPT KILL stops it; the server serves normally after.
#[test]
fn busy_lock_all_script_is_killable() {
    let s = Server::start(3, &["--lua-undeclared-keys", "lock-all", "--busy-reply-threshold", "100"]);
    let mut a = s.raw();
    a.cmd(&["set", "k:x", "1"]);
    a.send(&common::encode_cmd(&["eval", "redis.call('get', 'k:x') while true do end", "0"]));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // Wait for the first BUSY (before the threshold a new connection may wait).
    loop {
        let mut b = connect(s.port);
        b.w.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        b.send(&common::encode_cmd(&["ping"]));
        if let Ok(Resp::Error(e)) = b.r.read() {
            assert!(e.starts_with("BUSY Redis is busy running a script."), "{e}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server never said BUSY");
    }
    // From then on every new connection gets BUSY, whichever shard's listener the
    // kernel gave it to (the stopped shards serve their busy door too).
    for _ in 0..8 {
        let mut b = connect(s.port);
        assert!(matches!(b.cmd(&["ping"]), Resp::Error(e) if e.starts_with("BUSY ")));
    }
    assert_eq!(connect(s.port).cmd(&["script", "kill"]), Resp::simple("OK"));
    match a.read() {
        Resp::Error(e) => assert!(e.starts_with("ERR Script killed by user with SCRIPT KILL..."), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(a.cmd(&["get", "k:x"]), Resp::bulk("1"));
    for _ in 0..6 {
        assert_eq!(connect(s.port).cmd(&["ping"]), Resp::simple("PONG"));
    }
}

/// Lock-all mode does not reach into MULTI (the transaction holds only its named
/// keys): a queued script touching an undeclared key of another shard gets the
/// cluster-mode error with the reason, the transaction's other commands run, and a
/// script that declares its keys works there as anywhere.
#[test]
fn lock_all_inside_multi_refuses_undeclared_keys_with_the_reason() {
    let s = Server::start(4, &["--lua-undeclared-keys", "lock-all"]);
    let mut c = s.raw();
    let keys = common::keys_on_distinct_shards("lam:", 2, 4);
    let (mine, other) = (&keys[0], &keys[1]);
    assert_eq!(c.cmd(&["multi"]), Resp::simple("OK"));
    let touch_other = format!("redis.call('set', '{other}', 'x') return 1");
    assert_eq!(c.cmd(&["eval", &touch_other, "1", mine]), Resp::simple("QUEUED"));
    assert_eq!(c.cmd(&["eval", "return redis.call('incr', KEYS[1])", "1", mine]), Resp::simple("QUEUED"));
    match c.cmd(&["exec"]) {
        Resp::Array(items) => {
            assert_eq!(items.len(), 2, "{items:?}");
            match &items[0] {
                Resp::Error(e) => {
                    assert!(e.starts_with(NON_LOCAL) && e.contains("inside MULTI"), "{e}")
                }
                other => panic!("expected the cluster-mode error with its reason, got {other:?}"),
            }
            assert_eq!(items[1], Resp::Int(1));
        }
        other => panic!("EXEC: {other:?}"),
    }
    assert_eq!(c.cmd(&["exists", other]), Resp::Int(0), "the refused script wrote nothing");
    // Outside MULTI the same script runs in lock-all mode.
    assert_eq!(c.cmd(&["eval", &touch_other, "1", mine]), Resp::Int(1));
    assert_eq!(c.cmd(&["get", other]), Resp::bulk("x"));
}
