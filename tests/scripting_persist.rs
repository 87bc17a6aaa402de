//! Function libraries are part of the dataset: they survive SAVE and a restart,
//! DEBUG RELOAD, an AOF restart (before and after a rewrite, with either base form),
//! reach replicas in the full sync and through the stream, and the RDB function
//! opcode is interchangeable with redis-server 7.0's.

use crate::common;

use common::{RealRedis, Resp, Server, temp_dir, wait_until};
use std::time::Duration;

const LIB1: &str = "#!lua name=lib1\n\
    redis.register_function('f1', function(keys, args) return redis.call('incr', keys[1]) end)\n\
    redis.register_function{function_name='f2', callback=function(keys, args) return args[1] end, \
    flags={'no-writes'}, description='d'}";
const LIB2: &str = "#!lua name=lib2\nredis.register_function('g', function(keys, args) return 'g' end)";

use common::raw_to as connect;

/// The library names FUNCTION LIST shows, sorted.
fn libraries(c: &mut common::Raw) -> Vec<String> {
    let Resp::Array(libs) = c.cmd(&["function", "list"]) else { panic!("FUNCTION LIST is not an array") };
    let mut names: Vec<String> = libs
        .into_iter()
        .map(|l| match l {
            Resp::Array(kv) => match &kv[1] {
                Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    names.sort();
    names
}

#[test]
fn save_restart_and_debug_reload_keep_functions() {
    let dir = temp_dir("fn-rdb");
    let mut s = Server::start_in(dir.clone(), 2, &[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["function", "load", LIB1]), Resp::bulk("lib1"));
    assert_eq!(c.cmd(&["function", "load", LIB2]), Resp::bulk("lib2"));
    assert_eq!(c.cmd(&["debug", "reload"]), Resp::simple("OK"));
    assert_eq!(libraries(&mut c), ["lib1", "lib2"]);
    assert_eq!(c.cmd(&["fcall", "f1", "1", "k"]), Resp::Int(1));
    // A library deleted before DEBUG RELOAD stays deleted (the reload replaces them).
    assert_eq!(c.cmd(&["function", "delete", "lib2"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["debug", "reload"]), Resp::simple("OK"));
    assert_eq!(libraries(&mut c), ["lib1"]);
    assert_eq!(c.cmd(&["save"]), Resp::simple("OK"));
    drop(c);
    s.terminate();
    let s = Server::start_in(dir, 2, &[]);
    let mut c = s.raw();
    assert_eq!(libraries(&mut c), ["lib1"]);
    assert_eq!(c.cmd(&["fcall", "f1", "1", "k"]), Resp::Int(2));
    assert_eq!(c.cmd(&["fcall_ro", "f2", "0", "x"]), Resp::bulk("x"));
    // BGSAVE writes them too (from the forked child).
    assert_eq!(c.cmd(&["function", "load", LIB2]), Resp::bulk("lib2"));
    let before = std::fs::metadata(s.dir.join("dump.rdb")).map(|m| m.modified().unwrap()).ok();
    assert_eq!(c.cmd(&["bgsave"]), Resp::simple("Background saving started"));
    assert!(wait_until(Duration::from_secs(20), || {
        matches!(c.cmd(&["info", "persistence"]), Resp::Bulk(b) if String::from_utf8_lossy(&b).contains("rdb_bgsave_in_progress:0"))
            && std::fs::metadata(s.dir.join("dump.rdb")).map(|m| m.modified().unwrap()).ok() != before
    }));
    let file = std::fs::read(s.dir.join("dump.rdb")).unwrap();
    assert!(file.windows(8).any(|w| w == b"name=lib" || w == b"ame=lib2"), "the BGSAVE file holds the libraries");
}

#[test]
fn rdb_function_opcode_interoperates_with_redis_server() {
    // shardis -> redis-server
    let s = Server::start(4, &[]);
    let mut c = s.raw();
    c.cmd(&["function", "load", LIB1]);
    c.cmd(&["set", "plain", "v"]);
    assert_eq!(c.cmd(&["save"]), Resp::simple("OK"));
    let rdir = temp_dir("fn-rdb-real");
    std::fs::copy(s.dir.join("dump.rdb"), rdir.join("dump.rdb")).unwrap();
    let real = RealRedis::start(&rdir);
    let mut r = connect(real.port);
    assert_eq!(r.cmd(&["fcall", "f1", "1", "k"]), Resp::Int(1));
    assert_eq!(r.cmd(&["get", "plain"]), Resp::bulk("v"));
    // redis-server -> shardis
    r.cmd(&["function", "load", LIB2]);
    assert_eq!(r.cmd(&["save"]), Resp::simple("OK"));
    let sdir = temp_dir("fn-rdb-ours");
    std::fs::copy(rdir.join("dump.rdb"), sdir.join("dump.rdb")).unwrap();
    let s2 = Server::start_in(sdir, 4, &[]);
    let mut c2 = s2.raw();
    assert_eq!(libraries(&mut c2), ["lib1", "lib2"]);
    assert_eq!(c2.cmd(&["fcall", "f1", "1", "k"]), Resp::Int(2));
    assert_eq!(c2.cmd(&["fcall", "g", "0"]), Resp::bulk("g"));
}

#[test]
fn aof_restart_and_rewrite_keep_functions() {
    for (shards, preamble) in [(1, "yes"), (3, "no"), (3, "yes")] {
        let dir = temp_dir("fn-aof");
        let args = ["--appendonly", "yes", "--aof-use-rdb-preamble", preamble];
        let mut s = Server::start_in(dir.clone(), shards, &args);
        let mut c = s.raw();
        assert_eq!(c.cmd(&["function", "load", LIB1]), Resp::bulk("lib1"));
        assert_eq!(c.cmd(&["fcall", "f1", "1", "k"]), Resp::Int(1));
        drop(c);
        s.terminate();
        let mut s = Server::start_in(dir.clone(), shards, &args);
        let mut c = s.raw();
        assert_eq!(libraries(&mut c), ["lib1"], "{shards} shards: the AOF replays FUNCTION LOAD");
        assert_eq!(c.cmd(&["fcall", "f1", "1", "k"]), Resp::Int(2));
        c.cmd(&["function", "load", LIB2]);
        assert_eq!(c.cmd(&["bgrewriteaof"]), Resp::simple("Background append only file rewriting started"));
        assert!(wait_until(Duration::from_secs(20), || {
            matches!(c.cmd(&["info", "persistence"]), Resp::Bulk(b) if String::from_utf8_lossy(&b).contains("aof_rewrite_in_progress:0"))
                && common::aof_files(&dir.join("appendonlydir")).iter().any(|f| f.2 > 1)
        }));
        // After the rewrite, the libraries come from the base, and later commands apply.
        assert_eq!(c.cmd(&["function", "delete", "lib2"]), Resp::simple("OK"));
        drop(c);
        s.terminate();
        let s = Server::start_in(dir.clone(), shards, &args);
        let mut c = s.raw();
        assert_eq!(libraries(&mut c), ["lib1"], "{shards} shards, preamble {preamble}: after a rewrite");
        assert_eq!(c.cmd(&["fcall", "f1", "1", "k"]), Resp::Int(3));
    }
}

#[test]
fn replicas_get_functions_in_full_sync_and_stream() {
    let m = Server::start(2, &[]);
    let mut mc = m.raw();
    mc.cmd(&["function", "load", LIB1]);
    let port = m.port.to_string();
    let r = Server::start(2, &["--replicaof", "127.0.0.1", &port]);
    let mut rc = r.raw();
    assert!(wait_until(Duration::from_secs(20), || libraries(&mut rc) == ["lib1"]), "full sync brings lib1");
    assert_eq!(rc.cmd(&["fcall_ro", "f2", "0", "x"]), Resp::bulk("x"));
    mc.cmd(&["function", "load", LIB2]);
    assert!(wait_until(Duration::from_secs(20), || libraries(&mut rc) == ["lib1", "lib2"]), "the stream brings lib2");
    mc.cmd(&["function", "flush"]);
    assert!(wait_until(Duration::from_secs(20), || libraries(&mut rc).is_empty()), "the stream brings FLUSH");
}

/// FUNCTION writes sent through connections on every shard are logged by shard 0, so
/// per-shard AOF replay keeps their order; restarting with another shard count (fresh
/// base files) keeps the libraries.
#[test]
fn function_writes_from_any_shard_keep_their_order_across_shard_counts() {
    let dir = temp_dir("fn-aof-shards");
    let args = ["--appendonly", "yes", "--aof-use-rdb-preamble", "no"];
    let mut s = Server::start_in(dir.clone(), 4, &args);
    let lib1_v2 = LIB1.replace("args[1] end", "args[1] .. '!' end");
    let writes: [&[&str]; 6] = [
        &["function", "load", LIB1],
        &["function", "load", LIB2],
        &["function", "delete", "lib1"],
        &["function", "load", LIB1],
        &["function", "delete", "lib2"],
        &["function", "load", "replace", &lib1_v2],
    ];
    // A new connection for each write: connections are spread over the shards.
    for w in writes {
        let mut c = s.raw();
        assert!(!matches!(c.cmd(w), Resp::Error(_)), "{w:?}");
    }
    let mut c = s.raw();
    assert_eq!(c.cmd(&["set", "k", "5"]), Resp::simple("OK"));
    assert_eq!(libraries(&mut c), ["lib1"]);
    drop(c);
    s.terminate();
    let aofdir = dir.join("appendonlydir");
    let mut per_shard = [0usize; 4];
    for (shard, _, _, name) in common::aof_files(&aofdir) {
        let b = std::fs::read(aofdir.join(&name)).unwrap();
        per_shard[shard] += b.windows(8).filter(|w| w.eq_ignore_ascii_case(b"function")).count();
    }
    assert_eq!(per_shard[1..], [0, 0, 0], "only shard 0 logs FUNCTION writes");
    assert!(per_shard[0] >= 6, "shard 0 logged the FUNCTION writes: {per_shard:?}");
    let mut stopped = vec![s];
    for shards in [4, 2, 2, 3] {
        let mut s = Server::start_in(dir.clone(), shards, &args);
        let mut c = s.raw();
        assert_eq!(libraries(&mut c), ["lib1"], "{shards} shards");
        assert_eq!(c.cmd(&["fcall_ro", "f2", "0", "x"]), Resp::bulk("x!"), "{shards} shards: the replaced code");
        assert_eq!(c.cmd(&["get", "k"]), Resp::bulk("5"));
        drop(c);
        s.terminate();
        // A dropped server removes its directory: keep it until the end.
        stopped.push(s);
    }
}
