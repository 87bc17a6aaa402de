//! FLUSHALL, FLUSHDB and SWAPDB in the AOF of a server with several shards.
//!
//! Each shard logs what such a command did to its own keys (DEL / UNLINK batches; for
//! SWAPDB, MOVE and the replaced state of keys in both databases) as its part of one
//! tagged MULTI/EXEC block, never the command itself (see `persist`). So:
//! - a restart rebuilds the same data (`whole_keyspace_writes_reload_to_the_same_data`,
//!   which also covers one shard, where the commands themselves are logged);
//! - a crash that left some shards' parts on disk and not others applies none of
//!   them (`a_flush_missing_on_one_shard_is_not_replayed_anywhere`);
//! - the shards' files concatenated and piped into a real `redis-server` rebuild the
//!   same dataset, flushes and swaps included (`concatenated_files_replay_in_redis`).
//!
//! The interop test needs `redis-server` and `redis-cli` (`scripts/test.sh` installs
//! them); a missing tool fails the test rather than skipping it.

use crate::common;

use common::{RealRedis, Server, aof_files, concatenated_aof, temp_dir};
use redis::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SHARDS: usize = 4;

fn r(c: &mut redis::Connection, args: &[&str]) -> Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<Value>(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn digest(c: &mut redis::Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(c).expect("digest")
}

/// (db, key) -> (DEBUG DIGEST-VALUE, has a TTL).
type Keys = BTreeMap<(u32, String), (String, bool)>;

/// DEBUG DIGEST and every key.
type Snapshot = (String, Keys);

/// Every key of every db: its DEBUG DIGEST-VALUE and whether it has a TTL. Compared
/// along with DEBUG DIGEST, so a mismatch names the keys that differ.
fn dataset(c: &mut redis::Connection) -> Keys {
    let mut m = BTreeMap::new();
    for db in 0..16u32 {
        let _: () = redis::cmd("SELECT").arg(db).query(c).unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(c).unwrap();
        for k in keys {
            let d: Vec<String> = redis::cmd("DEBUG").arg("DIGEST-VALUE").arg(&k).query(c).unwrap();
            let ttl: i64 = redis::cmd("PTTL").arg(&k).query(c).unwrap();
            m.insert((db, k), (d.concat(), ttl != -1));
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
    m
}

/// Asserts two datasets (and digests) are equal, listing the keys that differ.
fn assert_same(what: &str, want: &Snapshot, got_conn: &mut redis::Connection) {
    let got = (digest(got_conn), dataset(got_conn));
    if got.1 != want.1 {
        let diff: Vec<_> = want
            .1
            .keys()
            .chain(got.1.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| want.1.get(*k) != got.1.get(*k))
            .map(|k| (k, want.1.get(k), got.1.get(k)))
            .collect();
        panic!("{what}: keys differ (want, got): {diff:#?}");
    }
    assert_eq!(got.0, want.0, "{what}: DEBUG DIGEST differs");
}

fn snapshot(c: &mut redis::Connection) -> Snapshot {
    (digest(c), dataset(c))
}

/// `n` keys named `{prefix}{i}` in `db` (strings, some with TTLs) plus a list, a
/// hash and a set: with 4 shards, every shard gets some.
fn fill(c: &mut redis::Connection, db: u32, prefix: &str, n: usize) {
    let _: () = redis::cmd("SELECT").arg(db).query(c).unwrap();
    let mut p = redis::pipe();
    for i in 0..n {
        p.cmd("SET").arg(format!("{prefix}{i}")).arg(format!("{db}:{prefix}:{i}")).ignore();
        if i % 5 == 0 {
            p.cmd("EXPIRE").arg(format!("{prefix}{i}")).arg(100_000 + i).ignore();
        }
    }
    p.cmd("RPUSH").arg(format!("{prefix}list")).arg(&["a", "b", "c"]).ignore();
    p.cmd("HSET").arg(format!("{prefix}hash")).arg(&["f", "1", "g", "2"]).ignore();
    p.cmd("SADD").arg(format!("{prefix}set")).arg(&["x", "y", "1", "2"]).ignore();
    let _: () = p.query(c).unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
}

fn keys_in(c: &mut redis::Connection, db: u32) -> i64 {
    let _: () = redis::cmd("SELECT").arg(db).query(c).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(c).unwrap();
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
    n
}

/// Writes on every shard with FLUSHALL (ASYNC), FLUSHDB in another db, SWAPDB (keys in
/// one db only and keys in both), the same inside MULTI/EXEC, and writes in between.
fn workload(c: &mut redis::Connection) {
    fill(c, 0, "old", 200);
    fill(c, 1, "old", 100);
    assert_eq!(r(c, &["flushall", "async"]), Value::Okay);
    assert_eq!(keys_in(c, 0) + keys_in(c, 1), 0);
    fill(c, 0, "k", 150);
    fill(c, 1, "k", 60); // k0..k59 in both dbs, k60.. only in db 0
    fill(c, 1, "only1-", 40);
    fill(c, 2, "gone", 80);
    fill(c, 3, "stay", 30);
    r(c, &["select", "2"]);
    assert_eq!(r(c, &["flushdb", "sync"]), Value::Okay);
    r(c, &["select", "0"]);
    assert_eq!(keys_in(c, 2), 0);
    assert_eq!(r(c, &["swapdb", "0", "1"]), Value::Okay);
    assert_eq!(keys_in(c, 0), 60 + 40 + 6);
    fill(c, 0, "after", 50);
    // Inside MULTI/EXEC: a transaction's part already is a tagged block.
    let mut p = redis::pipe();
    p.atomic()
        .cmd("SET")
        .arg("tx-a")
        .arg("1")
        .cmd("SWAPDB")
        .arg(1)
        .arg(3)
        .cmd("SELECT")
        .arg(3)
        .cmd("FLUSHDB")
        .cmd("SELECT")
        .arg(0)
        .cmd("SET")
        .arg("tx-b")
        .arg("2");
    let _: Value = p.query(c).expect("exec");
    assert_eq!(keys_in(c, 3), 0);
    assert!(keys_in(c, 1) > 0, "db 3's keys went to db 1");
    fill(c, 5, "last", 40);
    r(c, &["swapdb", "5", "6"]);
    r(c, &["swapdb", "4", "4"]);
}

fn aof_flags() -> Vec<&'static str> {
    vec!["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no"]
}

/// Stops the server (kill -9 when `hard`) and keeps its directory.
fn stop_keep(mut s: Server, hard: bool) -> PathBuf {
    if hard {
        s.kill9();
    } else {
        let st = s.terminate().expect("exit status");
        assert!(st.success(), "shardis did not stop cleanly: {st:?}");
    }
    let dir = s.dir.clone();
    std::mem::forget(s);
    dir
}

/// No shard file holds a bare whole-keyspace command: they would act on other shards'
/// keys when the files are concatenated.
fn assert_no_bare_flushes(aofdir: &Path) {
    for (_, _, _, name) in aof_files(aofdir) {
        let text = String::from_utf8_lossy(&std::fs::read(aofdir.join(&name)).unwrap()).to_ascii_uppercase();
        for cmd in ["FLUSHALL", "FLUSHDB", "SWAPDB"] {
            assert!(!text.contains(&format!("${}\r\n{cmd}\r\n", cmd.len())), "{name} logs {cmd}");
        }
    }
}

/// With one shard the commands themselves are logged (as Redis does), and replayed.
#[test]
fn whole_keyspace_writes_reload_to_the_same_data() {
    for (shards, hard) in [(SHARDS, false), (SHARDS, true), (1, false)] {
        let what = format!("{shards} shards, kill -9: {hard}");
        let s = Server::start(shards, &aof_flags());
        let mut c = s.conn();
        workload(&mut c);
        let want = snapshot(&mut c);
        assert!(want.1.len() > 200, "the workload left {} keys", want.1.len());
        drop(c);
        let dir = stop_keep(s, hard);
        if shards > 1 {
            assert_no_bare_flushes(&dir.join("appendonlydir"));
        }
        let s = Server::start_in(dir, shards, &aof_flags());
        assert_same(&format!("restart ({what})"), &want, &mut s.conn());
        // The same files loaded by a server with another shard count.
        let dir = stop_keep(s, false);
        let s = Server::start_in(dir, 2, &aof_flags());
        assert_same(&format!("restart with 2 shards ({what})"), &want, &mut s.conn());
    }
}

/// Where the last MULTI of `b` starts, checking it is a tagged block that runs to the
/// end of the file.
fn last_tagged_block(b: &[u8]) -> usize {
    let multi = b"*1\r\n$5\r\nMULTI\r\n";
    let at = b.windows(multi.len()).rposition(|w| w == multi).expect("a MULTI block");
    let tail = String::from_utf8_lossy(&b[at..]);
    assert!(tail.contains("shardis-tx:") && tail.ends_with("*1\r\n$4\r\nEXEC\r\n"), "tail: {tail}");
    at
}

/// A flush (or swap, alone or in a MULTI/EXEC) whose part reached the disk on every
/// shard but one is dropped on all of them at restart: the file of shard 2 is cut right before its block, or in the
/// middle of it (a torn tail, cut off by `aof-load-truncated yes`).
#[test]
fn a_flush_missing_on_one_shard_is_not_replayed_anywhere() {
    // Several commands run as one MULTI/EXEC.
    let cases: &[(&[&[&str]], bool)] = &[
        (&[&["flushall"]], false),
        (&[&["flushall"]], true),
        (&[&["flushdb", "async"]], true),
        (&[&["swapdb", "0", "1"]], false),
        (&[&["swapdb", "0", "1"]], true),
        (&[&["set", "tx", "1"], &["swapdb", "0", "1"], &["flushdb"]], false),
    ];
    for &(cmds, mid_block) in cases {
        let what = format!("{cmds:?}, cut {}", if mid_block { "inside the block" } else { "before the block" });
        let s = Server::start(SHARDS, &aof_flags());
        let mut c = s.conn();
        fill(&mut c, 0, "k", 120);
        fill(&mut c, 1, "k", 30);
        fill(&mut c, 1, "one", 30);
        let before = snapshot(&mut c);
        if let [cmd] = cmds {
            assert_eq!(r(&mut c, cmd), Value::Okay, "{what}");
        } else {
            let mut p = redis::pipe();
            p.atomic();
            for cmd in cmds {
                p.cmd(cmd[0]).arg(&cmd[1..]);
            }
            let _: Value = p.query(&mut c).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        let after = snapshot(&mut c);
        assert_ne!(after.0, before.0, "{what} changed the data");
        drop(c);
        let dir = stop_keep(s, false);
        let aofdir = dir.join("appendonlydir");
        let incr = aof_files(&aofdir).into_iter().find(|f| f.0 == 2 && f.1).expect("shard 2's incr file").3;
        let path = aofdir.join(&incr);
        let b = std::fs::read(&path).unwrap();
        let at = last_tagged_block(&b);
        // Cut inside the block: past its MULTI and marker, before its EXEC.
        let cut = if mid_block { b.len() - 7 } else { at };
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(cut as u64).unwrap();
        for (s, _, _, name) in aof_files(&aofdir) {
            if s != 2 && name.ends_with(".incr.aof") {
                last_tagged_block(&std::fs::read(aofdir.join(&name)).unwrap());
            }
        }
        let s = Server::start_in(dir.clone(), SHARDS, &aof_flags());
        assert_same(&format!("{what}: restart"), &before, &mut s.conn());
        let log = s.log.lock().unwrap().join("\n");
        assert!(log.contains("skipping incomplete cross-shard transaction"), "{what}: log:\n{log}");
        // The dropped parts stay dropped after a further restart, and the server
        // logs new writes after them as usual.
        let mut c = s.conn();
        r(&mut c, &["set", "later", "1"]);
        let want = snapshot(&mut c);
        drop(c);
        let dir = stop_keep(s, false);
        let s = Server::start_in(dir, SHARDS, &aof_flags());
        assert_same(&format!("{what}: second restart"), &want, &mut s.conn());
    }
}

#[test]
fn concatenated_files_replay_in_redis() {
    let s = Server::start(SHARDS, &aof_flags());
    let mut c = s.conn();
    workload(&mut c);
    let want = snapshot(&mut c);
    drop(c);
    let dir = stop_keep(s, false);
    let aof = concatenated_aof(&dir.join("appendonlydir"), SHARDS);
    let rdir = temp_dir("redis-aof-flush");
    let redis = RealRedis::start(&rdir);
    redis.pipe(&aof);
    assert_same("redis-server fed the concatenated files", &want, &mut redis.conn());
    drop(redis);
    let _ = std::fs::remove_dir_all(&rdir);
    let _ = std::fs::remove_dir_all(&dir);
}
