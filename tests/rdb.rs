//! RDB snapshots in the running server: SAVE/BGSAVE and restart, consistency of a
//! BGSAVE under concurrent cross-shard writes, save points, SHUTDOWN SAVE/NOSAVE, the
//! save on SIGTERM, refusing a corrupt dump at start, MISCONF after a failed BGSAVE,
//! and interop with Debian's redis-server both ways (DEBUG DIGEST equal). A missing
//! `redis-server` fails the interop test, it never skips.

use crate::common;

use common::{RealRedis, SHARD_COUNTS, Server, temp_dir, wait_until};
use redis::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn q<T: redis::FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<T>(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn digest(c: &mut Connection) -> String {
    q(c, &["DEBUG", "DIGEST"])
}

fn info_field(c: &mut Connection, name: &str) -> String {
    let info: String = q(c, &["INFO", "persistence"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {name} in INFO"))
}

/// Stops the server (kill -9 when `hard`, else SIGTERM) and keeps its directory.
fn stop_keep(mut s: Server, hard: bool) -> PathBuf {
    if hard {
        s.kill9();
    } else {
        s.terminate();
    }
    let dir = s.dir.clone();
    std::mem::forget(s);
    dir
}

/// Waits (with a deadline) until no BGSAVE runs and `rdb_saves` reached `n`.
fn wait_saves(c: &mut Connection, n: u64) {
    let ok = wait_until(Duration::from_secs(30), || {
        info_field(c, "rdb_bgsave_in_progress") == "0" && info_field(c, "rdb_saves").parse::<u64>().unwrap() >= n
    });
    assert!(ok, "no completed save #{n}: status {}", info_field(c, "rdb_last_bgsave_status"));
}

/// Every type, some with TTLs, in two databases.
fn populate(c: &mut Connection) {
    let script: &[&[&str]] = &[
        &["set", "str", "hello"],
        &["set", "int", "12345"],
        &["set", "big", &"x".repeat(5000)],
        &["set", "ttl:str", "v", "ex", "1000"],
        &["rpush", "list", "a", "b", "c", "1", "2"],
        &["rpush", "ttl:list", "x"],
        &["pexpire", "ttl:list", "900000"],
        &["sadd", "iset", "1", "2", "3"],
        &["sadd", "set", "a", "b", "c"],
        &["hset", "hash", "f1", "v1", "f2", "v2"],
        &["zadd", "zset", "1", "a", "2.5", "b", "-3", "c"],
        &["pfadd", "hll", "a", "b", "c"],
        &["setbit", "bits", "100", "1"],
        &["select", "3"],
        &["set", "db3", "v"],
        &["hset", "ttl:hash", "f", "v"],
        &["expire", "ttl:hash", "500"],
        &["select", "0"],
    ];
    for cmd in script {
        let _: redis::Value = q(c, cmd);
    }
    for i in 0..300 {
        let _: () = q(c, &["sadd", "bigset", &format!("m{i}")]);
        let _: () = q(c, &["zadd", "bigz", &i.to_string(), &format!("m{i}")]);
    }
}

#[test]
fn save_then_restart_loads_identical_data() {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        populate(&mut c);
        let before = digest(&mut c);
        assert_ne!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
        let last: i64 = q(&mut c, &["LASTSAVE"]);
        let ok: String = q(&mut c, &["SAVE"]);
        assert_eq!(ok, "OK");
        assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
        assert!(q::<i64>(&mut c, &["LASTSAVE"]) >= last);
        let dir = stop_keep(s, true);
        // Same shard count, then another one: keys are routed by the current count.
        for m in [n, 5 - n] {
            let s = Server::start_in(dir.clone(), m, &[]);
            let mut c = s.conn();
            assert_eq!(digest(&mut c), before, "{n} -> {m} shards");
            let ttl: i64 = q(&mut c, &["TTL", "ttl:str"]);
            assert!(ttl > 900 && ttl <= 1000, "ttl {ttl}");
            assert_eq!(info_field(&mut c, "rdb_last_load_keys_loaded"), "16");
            assert!(s.log.lock().unwrap().iter().any(|l| l.contains("DB loaded from disk")));
            stop_keep(s, true);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn bgsave_under_cross_shard_writes_is_a_consistent_snapshot() {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (stop, keys, mut c) = (stop.clone(), keys.clone(), s.conn());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let mut cmd = redis::cmd("MSET");
                    for k in &keys {
                        cmd.arg(k).arg(i);
                    }
                    let _: () = cmd.query(&mut c).unwrap();
                }
                i
            })
        };
        let mut c = s.conn();
        for round in 1..=3u64 {
            // Let some writes happen first.
            let seen = |c: &mut Connection| q::<Option<u64>>(c, &["GET", "k0"]).unwrap_or(0);
            let from = seen(&mut c);
            assert!(wait_until(Duration::from_secs(10), || seen(&mut c) > from + 50));
            let r: String = q(&mut c, &["BGSAVE"]);
            assert_eq!(r, "Background saving started");
            wait_saves(&mut c, round);
            let copy = temp_dir("copy");
            std::fs::copy(s.dir.join("dump.rdb"), copy.join("dump.rdb")).unwrap();
            let t = Server::start_in(copy, n, &[]);
            let mut tc = t.conn();
            let vals: Vec<Option<u64>> = keys.iter().map(|k| q(&mut tc, &["GET", k])).collect();
            assert!(vals[0].is_some() && vals.iter().all(|v| *v == vals[0]), "torn snapshot: {vals:?}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(writer.join().unwrap() > 150);
        assert!(info_field(&mut c, "rdb_last_bgsave_status") == "ok");
        let info: String = q(&mut c, &["INFO", "stats"]);
        assert!(info.contains("total_forks:3"), "{info}");
    }
}

#[test]
fn bgsave_replies() {
    let s = Server::start(2, &[]);
    let mut c = s.conn();
    assert_eq!(s.raw().cmd(&["BGSAVE", "NOW"]), common::Resp::err("ERR syntax error"));
    // Enough incompressible data that the child is still writing when we ask again.
    let mut rng = common::Rng::new(7);
    for i in 0..200 {
        let mut v = vec![0u8; 100 << 10];
        rng.fill(&mut v);
        let _: () = redis::cmd("SET").arg(format!("blob{i}")).arg(v).query(&mut c).unwrap();
    }
    let r: String = q(&mut c, &["BGSAVE", "SCHEDULE"]);
    assert_eq!(r, "Background saving started");
    let busy = common::Resp::err("ERR Background save already in progress");
    assert_eq!(s.raw().cmd(&["BGSAVE"]), busy);
    assert_eq!(s.raw().cmd(&["SAVE"]), busy);
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    wait_saves(&mut c, 1);
    assert!(s.dir.join("dump.rdb").exists());
    assert!(info_field(&mut c, "rdb_last_bgsave_time_sec").parse::<i64>().unwrap() >= 0);
    assert_eq!(info_field(&mut c, "rdb_current_bgsave_time_sec"), "-1");
    assert!(info_field(&mut c, "rdb_last_cow_size").parse::<u64>().is_ok());
}

#[test]
fn save_points_trigger_a_bgsave() {
    let s = Server::start(2, &["--save", "1 1"]);
    let mut c = s.conn();
    let _: () = q(&mut c, &["SET", "a", "1"]);
    wait_saves(&mut c, 1);
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), "0");
    s.assert_logged(&["1 changes in 1 seconds. Saving..."]);
    // Disabled at run time: no further save however many changes.
    let _: () = q(&mut c, &["CONFIG", "SET", "save", ""]);
    let _: () = q(&mut c, &["SET", "b", "1"]);
    // And enabled again.
    let _: () = q(&mut c, &["CONFIG", "SET", "save", "1 1"]);
    wait_saves(&mut c, 2);
}

#[test]
fn shutdown_save_nosave_and_default() {
    for n in SHARD_COUNTS {
        let mut s = Server::start(n, &[]);
        let mut c = s.conn();
        let _: () = q(&mut c, &["SET", "kept", "1"]);
        let _ = redis::cmd("SHUTDOWN").arg("SAVE").query::<()>(&mut c);
        assert!(s.wait_exit(Duration::from_secs(20)).is_some_and(|st| st.success()));
        let dir = stop_keep(s, true);
        let mut s = Server::start_in(dir, n, &[]);
        let mut c = s.conn();
        assert_eq!(q::<Option<String>>(&mut c, &["GET", "kept"]).as_deref(), Some("1"));
        let _: () = q(&mut c, &["SET", "lost", "1"]);
        let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
        assert!(s.wait_exit(Duration::from_secs(20)).is_some());
        let dir = stop_keep(s, true);
        // With save points, a bare SHUTDOWN saves.
        let mut s = Server::start_in(dir, n, &["--save", "3600 1"]);
        let mut c = s.conn();
        assert_eq!(q::<Option<String>>(&mut c, &["GET", "lost"]), None);
        let _: () = q(&mut c, &["SET", "third", "1"]);
        let _ = redis::cmd("SHUTDOWN").query::<()>(&mut c);
        assert!(s.wait_exit(Duration::from_secs(20)).is_some());
        let dir = stop_keep(s, true);
        let s = Server::start_in(dir, n, &[]);
        assert_eq!(q::<Option<String>>(&mut s.conn(), &["GET", "third"]).as_deref(), Some("1"));
    }
}

#[test]
fn sigterm_saves_when_save_points_are_set() {
    let s = Server::start(4, &["--save", "3600 1"]);
    let mut c = s.conn();
    populate(&mut c);
    let before = digest(&mut c);
    let dir = stop_keep(s, false);
    assert!(dir.join("dump.rdb").exists());
    let s = Server::start_in(dir, 4, &[]);
    assert_eq!(digest(&mut s.conn()), before);
    // Without save points, SIGTERM saves nothing.
    let s2 = Server::start(1, &[]);
    let _: () = q(&mut s2.conn(), &["SET", "a", "1"]);
    let dir2 = stop_keep(s2, false);
    assert!(!dir2.join("dump.rdb").exists());
    let _ = std::fs::remove_dir_all(dir2);
}

/// Runs the server expecting start-up to fail; returns its output.
fn start_fails(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shardis-server"))
        .args(["--port", "0", "--shards", "2", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert!(!out.status.success(), "started with a bad dump");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn corrupt_or_truncated_dump_refuses_to_start() {
    let s = Server::start(2, &[]);
    let mut c = s.conn();
    populate(&mut c);
    let _: String = q(&mut c, &["SAVE"]);
    let good = std::fs::read(s.dir.join("dump.rdb")).unwrap();
    let dir = temp_dir("bad");
    std::fs::write(dir.join("dump.rdb"), &good[..good.len() / 2]).unwrap();
    let out = start_fails(&dir);
    assert!(out.contains("Fatal error loading the DB") && out.contains("at offset"), "{out}");
    let mut flipped = good.clone();
    let mid = good.len() - 20;
    flipped[mid] ^= 0x55;
    std::fs::write(dir.join("dump.rdb"), &flipped).unwrap();
    let out = start_fails(&dir);
    assert!(out.contains("at offset"), "{out}");
    assert!(!out.contains("Ready to accept connections"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn misconf_after_a_failed_bgsave() {
    let s = Server::start(2, &["--save", "3600 1"]);
    let mut c = s.conn();
    let _: () = q(&mut c, &["SET", "a", "1"]);
    // Make `dir` unusable (a file where the directory was: works even as root).
    let moved = s.dir.with_extension("moved");
    std::fs::rename(&s.dir, &moved).unwrap();
    std::fs::write(&s.dir, b"not a directory").unwrap();
    let r: String = q(&mut c, &["BGSAVE"]);
    assert_eq!(r, "Background saving started");
    assert!(wait_until(Duration::from_secs(20), || info_field(&mut c, "rdb_last_bgsave_status") == "err"));
    let e = redis::cmd("SET").arg("b").arg("1").query::<()>(&mut c).unwrap_err();
    assert_eq!(e.code(), Some("MISCONF"));
    assert!(e.to_string().contains("stop-writes-on-bgsave-error option"), "{e}");
    assert_eq!(s.raw().cmd(&["SET", "b", "1"]), common::Resp::err(shardis::persist::bgsave::MISCONF));
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "a"]).as_deref(), Some("1"));
    // Writes come back after a successful save.
    std::fs::remove_file(&s.dir).unwrap();
    std::fs::rename(&moved, &s.dir).unwrap();
    let _: String = q(&mut c, &["BGSAVE"]);
    assert!(wait_until(Duration::from_secs(20), || info_field(&mut c, "rdb_last_bgsave_status") == "ok"));
    let _: () = q(&mut c, &["SET", "b", "1"]);
    // stop-writes-on-bgsave-error no: never refused.
    let _: () = q(&mut c, &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"]);
}

#[test]
fn interop_with_redis_server_both_ways() {
    // shardis BGSAVE -> redis-server.
    let s = Server::start(4, &[]);
    let mut c = s.conn();
    populate(&mut c);
    let ours = digest(&mut c);
    let _: String = q(&mut c, &["BGSAVE"]);
    wait_saves(&mut c, 1);
    let rdir = temp_dir("redis");
    std::fs::copy(s.dir.join("dump.rdb"), rdir.join("dump.rdb")).unwrap();
    let r = RealRedis::start(&rdir);
    let mut rc = r.conn();
    assert_eq!(digest(&mut rc), ours, "redis-server loaded shardis's dump differently");
    // redis-server SAVE -> shardis.
    let _: () = q(&mut rc, &["SET", "from-redis", "1"]);
    let _: () = q(&mut rc, &["HSET", "h2", "a", "1"]);
    let theirs = digest(&mut rc);
    let _: String = q(&mut rc, &["SAVE"]);
    drop(r);
    let sdir = temp_dir("from-redis");
    std::fs::copy(rdir.join("dump.rdb"), sdir.join("dump.rdb")).unwrap();
    let t = Server::start_in(sdir, 4, &[]);
    assert_eq!(digest(&mut t.conn()), theirs);
    let _ = std::fs::remove_dir_all(rdir);
}

#[test]
fn debug_reload_keeps_the_data() {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        populate(&mut c);
        let before = digest(&mut c);
        let ok: String = q(&mut c, &["DEBUG", "RELOAD"]);
        assert_eq!(ok, "OK");
        assert_eq!(digest(&mut c), before);
        assert!(s.dir.join("dump.rdb").exists());
        let _: () = q(&mut c, &["SET", "after", "1"]);
    }
}
