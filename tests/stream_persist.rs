//! Streams survive persistence: an AOF restart (and a rewritten AOF) keeps entries,
//! groups, pending entries and lag counters; RDB files and DUMP payloads move streams
//! with their consumer groups between shardis and redis-server 7.0 in both directions
//! (RDB type 19), compared through ordinary commands and DEBUG DIGEST.
//!
//! Needs `redis-server`; a missing binary fails the test, it never skips.

use crate::common;
use crate::stream_common;

use common::{RealRedis, Resp, SHARD_COUNTS, Server, temp_dir, wait_until};
use std::path::PathBuf;
use std::time::Duration;
use stream_common::{KEYS, all_states, assert_same, raw_to, workload};

fn stop_keep(mut s: Server) -> PathBuf {
    s.terminate();
    let dir = s.dir.clone();
    std::mem::forget(s);
    dir
}

fn info_field(c: &mut common::Raw, section: &str, field: &str) -> String {
    let Resp::Bulk(b) = c.cmd(&["info", section]) else { panic!("info") };
    let text = String::from_utf8(b).unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).unwrap_or_default().trim().to_string()
}

#[test]
fn aof_restart_and_rewrite_keep_streams_and_groups() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &["--appendonly", "yes", "--appendfsync", "always"]);
        let mut c = s.raw();
        workload(&mut c);
        let before = all_states(&mut c, false);
        let digest = c.cmd(&["debug", "digest"]);
        drop(c);
        let dir = stop_keep(s);
        let s = Server::start_in(dir, shards, &["--appendonly", "yes"]);
        let mut c = s.raw();
        assert_same(&all_states(&mut c, false), &before, &format!("after an AOF replay ({shards} shards)"));
        assert_eq!(c.cmd(&["debug", "digest"]), digest);
        assert_eq!(c.cmd(&["bgrewriteaof"]), Resp::simple("Background append only file rewriting started"));
        assert!(
            wait_until(Duration::from_secs(20), || {
                info_field(&mut c, "persistence", "aof_rewrite_in_progress") == "0"
                    && info_field(&mut c, "persistence", "aof_rewrite_scheduled") == "0"
                    && info_field(&mut c, "persistence", "aof_last_bgrewrite_status") == "ok"
            }),
            "rewrite never finished"
        );
        // One more write after the rewrite goes to the new incremental file.
        assert!(matches!(c.cmd(&["xadd", "big", "400-0", "late", "1"]), Resp::Bulk(_)));
        let before = all_states(&mut c, false);
        drop(c);
        let dir = stop_keep(s);
        let s = Server::start_in(dir, shards, &["--appendonly", "yes"]);
        let mut c = s.raw();
        assert_same(&all_states(&mut c, false), &before, &format!("after a rewritten AOF ({shards} shards)"));
    }
}

#[test]
fn redis_rdb_with_streams_loads_here() {
    let rdir = temp_dir("stream-rdb-real");
    let real = RealRedis::start(&rdir);
    let mut rc = raw_to(real.port);
    workload(&mut rc);
    let want = all_states(&mut rc, true);
    let digest = rc.cmd(&["debug", "digest"]);
    assert_eq!(rc.cmd(&["save"]), Resp::simple("OK"));
    for shards in SHARD_COUNTS {
        let dir = temp_dir("stream-rdb-load");
        std::fs::copy(rdir.join("dump.rdb"), dir.join("dump.rdb")).unwrap();
        let s = Server::start_in(dir, shards, &[]);
        let mut c = s.raw();
        assert_same(&all_states(&mut c, true), &want, &format!("Redis dump.rdb -> shardis ({shards} shards)"));
        assert_eq!(c.cmd(&["debug", "digest"]), digest, "digest ({shards} shards)");
    }
    drop(real);
    let _ = std::fs::remove_dir_all(&rdir);
}

#[test]
fn our_rdb_with_streams_loads_into_redis() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut c = s.raw();
        workload(&mut c);
        let want = all_states(&mut c, true);
        let digest = c.cmd(&["debug", "digest"]);
        assert_eq!(c.cmd(&["save"]), Resp::simple("OK"));
        let rdir = temp_dir("stream-rdb-ours");
        std::fs::copy(s.dir.join("dump.rdb"), rdir.join("dump.rdb")).unwrap();
        let real = RealRedis::start(&rdir);
        let mut rc = raw_to(real.port);
        assert_same(&all_states(&mut rc, true), &want, &format!("shardis dump.rdb -> Redis ({shards} shards)"));
        assert_eq!(rc.cmd(&["debug", "digest"]), digest, "digest ({shards} shards)");
        drop(real);
        let _ = std::fs::remove_dir_all(&rdir);
    }
}

#[test]
fn dump_restore_moves_streams_both_ways() {
    let rdir = temp_dir("stream-dump");
    let real = RealRedis::start(&rdir);
    let mut rc = raw_to(real.port);
    let s = Server::start(4, &[]);
    let mut sc = s.raw();
    workload(&mut rc);
    let want = all_states(&mut rc, true);
    // Redis -> shardis.
    for k in KEYS {
        let Resp::Bulk(p) = rc.cmd(&["dump", k]) else { panic!("dump {k}") };
        let r = sc.cmd(&[b"restore".as_slice(), k.as_bytes(), b"0", &p]);
        assert_eq!(r, Resp::simple("OK"), "restore {k}");
    }
    assert_same(&all_states(&mut sc, true), &want, "Redis DUMP -> shardis RESTORE");
    // shardis -> Redis, under new names... the same names in a flushed Redis.
    let payloads: Vec<Vec<u8>> = KEYS
        .iter()
        .map(|k| match sc.cmd(&["dump", k]) {
            Resp::Bulk(p) => p,
            other => panic!("dump {k}: {other:?}"),
        })
        .collect();
    assert_eq!(rc.cmd(&["flushall"]), Resp::simple("OK"));
    for (k, p) in KEYS.iter().zip(&payloads) {
        let r = rc.cmd(&[b"restore".as_slice(), k.as_bytes(), b"0", p]);
        assert_eq!(r, Resp::simple("OK"), "Redis RESTORE of our {k}");
    }
    assert_same(&all_states(&mut rc, true), &want, "shardis DUMP -> Redis RESTORE");
    // A corrupt stream payload is refused, not loaded half-way.
    let mut bad = payloads[0].clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    let r = sc.cmd(&[b"restore".as_slice(), b"bad", b"0", &bad]);
    assert!(matches!(r, Resp::Error(_)), "{r:?}");
    assert_eq!(sc.cmd(&["ping"]), Resp::simple("PONG"));
    drop(real);
    let _ = std::fs::remove_dir_all(&rdir);
}
