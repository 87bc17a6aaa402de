//! AOF interoperability with Debian's `redis-server` 7.0: the files shardis writes are
//! plain RESP that Redis itself accepts. A 2-shard server under `appendfsync always`
//! runs a mixed workload and stops cleanly; each shard's base and incremental files,
//! in manifest order, are piped into a fresh redis-server with `redis-cli --pipe`,
//! which must report no errors and end with the same DEBUG DIGEST.
//!
//! Shards' files are simply concatenated one shard after another: each shard's log
//! holds only its own keys (a cross-shard command logs the final state of the keys it
//! wrote back to each shard), so replaying shard 0 entirely before shard 1 gives the
//! same dataset. FLUSHALL, FLUSHDB and SWAPDB, which each shard logs as what they did
//! to its own keys, have their own interop test in `tests/aof_flush.rs`.
//!
//! Needs `redis-server` and `redis-cli` (`scripts/test.sh` installs them); a missing
//! tool fails the test rather than skipping it.

use crate::common;

use common::{RealRedis, Server, concatenated_aof, temp_dir, wait_until};
use redis::Value;
use std::time::Duration;

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

/// Strings with TTLs, lists, hashes, sets, zsets, several dbs, MULTI/EXEC and
/// cross-shard commands. TTLs are long so nothing expires between the two digests;
/// one short one expires for real (logged as a DEL).
fn workload(s: &Server) {
    let mut c = s.conn();
    let script: &[&[&str]] = &[
        &["set", "s1", "v1"],
        &["set", "s2", "v2", "ex", "10000"],
        &["set", "s3", "v3", "px", "9000000"],
        &["setex", "s4", "5000", "x"],
        &["set", "s5", "y"],
        &["expire", "s5", "7000"],
        &["set", "s6", "z", "exat", "4000000000"],
        &["pexpireat", "s1", "4100000000000"],
        &["persist", "s1"],
        &["incr", "n1"],
        &["incrby", "n1", "41"],
        &["incrbyfloat", "f1", "2.75"],
        &["append", "s5", "-more"],
        &["setrange", "s5", "0", "Y"],
        &["getex", "s3", "persist"],
        // Cross-shard multi-key commands.
        &["mset", "m1", "a", "m2", "b", "m3", "c", "m4", "d", "m5", "e", "m6", "f"],
        &["msetnx", "m7", "g", "m8", "h"],
        &["del", "m6", "nosuch"],
        &["rename", "m1", "m1renamed"],
        &["copy", "s2", "s2copy"],
        // Lists.
        &["rpush", "l1", "a", "b", "c", "d", "e", "f", "1", "2", "3"],
        &["lpush", "l1", "z"],
        &["lpop", "l1"],
        &["rpop", "l1", "2"],
        &["lset", "l1", "0", "A"],
        &["linsert", "l1", "before", "c", "bb"],
        &["lrem", "l1", "1", "d"],
        &["ltrim", "l1", "0", "20"],
        &["lmove", "l1", "l2", "left", "right"],
        &["rpoplpush", "l1", "l3"],
        &["expire", "l3", "8000"],
        // Hashes.
        &["hset", "h1", "a", "1", "b", "2", "c", "3", "d", "4"],
        &["hsetnx", "h1", "e", "5"],
        &["hdel", "h1", "b"],
        &["hincrby", "h1", "a", "10"],
        &["hincrbyfloat", "h1", "c", "0.5"],
        // Sets (strings and integers).
        &["sadd", "st1", "a", "b", "c", "d", "e", "f"],
        &["sadd", "st2", "1", "2", "3", "4", "5"],
        &["srem", "st1", "f"],
        &["spop", "st1"],
        &["spop", "st2", "2"],
        &["smove", "st1", "st2", "a"],
        &["sunionstore", "st3", "st1", "st2"],
        &["sinterstore", "st4", "st1", "st2"],
        // Sorted sets.
        &["zadd", "z1", "1", "a", "2", "b", "3.5", "c", "4", "d", "-inf", "e", "inf", "f"],
        &["zincrby", "z1", "10", "a"],
        &["zrem", "z1", "b"],
        &["zpopmin", "z1"],
        &["zpopmax", "z1"],
        &["zadd", "z2", "1", "x", "2", "y"],
        &["zunionstore", "z3", "2", "z1", "z2"],
        &["zremrangebyscore", "z1", "100", "200"],
        &["pexpire", "z3", "6000000"],
        // Another db, with a MOVE between dbs.
        &["select", "3"],
        &["set", "db3key", "v", "ex", "9000"],
        &["rpush", "db3list", "1", "2"],
        &["move", "db3list", "4"],
        &["select", "0"],
    ];
    for cmd in script {
        r(&mut c, cmd);
    }
    // Collections larger than a logged command's chunk (emit::ITEMS_PER_CMD), moved
    // across keys so a cross-shard RENAME logs their whole state.
    let big: Vec<String> = (0..300).map(|i| format!("item{i}")).collect();
    for (cmd, key) in [("rpush", "bigl"), ("sadd", "bigs")] {
        let mut q = redis::cmd(cmd);
        q.arg(key).arg(&big);
        let _: Value = q.query(&mut c).unwrap();
    }
    let mut hz = redis::cmd("zadd");
    hz.arg("bigz");
    for (i, m) in big.iter().enumerate() {
        // Quarter steps: scores whose shortest round-trip text and `%.17g` text agree.
        // DEBUG DIGEST hashes a score's text; Redis 7.0 prints `%.17g` but shardis's
        // DEBUG (cmd/debug.rs) prints the shortest form, so with i/3.0 the replayed data
        // is identical yet the digests differ. That is a DEBUG issue, not an AOF one.
        hz.arg(i as f64 / 4.0).arg(m);
    }
    let _: Value = hz.query(&mut c).unwrap();
    let mut hh = redis::cmd("hset");
    hh.arg("bigh");
    for (i, m) in big.iter().enumerate() {
        hh.arg(m).arg(i);
    }
    let _: Value = hh.query(&mut c).unwrap();
    for (from, to) in [("bigl", "bigl2"), ("bigs", "bigs2"), ("bigz", "bigz2"), ("bigh", "bigh2")] {
        r(&mut c, &["rename", from, to]);
    }
    // Many small keys, so both shards hold plenty of them.
    let mut p = redis::pipe();
    for i in 0..500 {
        p.cmd("set").arg(format!("key:{i}")).arg(i).ignore();
        if i % 7 == 0 {
            p.cmd("expire").arg(format!("key:{i}")).arg(10_000 + i).ignore();
        }
        if i % 5 == 0 {
            p.cmd("hset").arg(format!("hash:{}", i % 50)).arg(format!("f{i}")).arg(i).ignore();
        }
    }
    let _: () = p.query(&mut c).unwrap();
    // MULTI/EXEC over keys on several shards, with a SELECT inside.
    let mut p = redis::pipe();
    p.atomic()
        .cmd("set")
        .arg("tx1")
        .arg("a")
        .cmd("incr")
        .arg("tx2")
        .cmd("mset")
        .arg("tx3")
        .arg("x")
        .arg("tx4")
        .arg("y")
        .cmd("rpush")
        .arg("txl")
        .arg("1")
        .cmd("zadd")
        .arg("z2")
        .arg(5)
        .arg("w")
        .cmd("expire")
        .arg("tx1")
        .arg(9999)
        .cmd("select")
        .arg("2")
        .cmd("set")
        .arg("tx5")
        .arg("in2");
    let _: Value = p.query(&mut c).expect("exec");
    let _: Value = redis::cmd("select").arg(0).query(&mut c).unwrap();
    // A key that expires and is deleted by the server.
    r(&mut c, &["set", "short", "x", "px", "5"]);
    assert!(wait_until(Duration::from_secs(5), || r(&mut c, &["exists", "short"]) == Value::Int(0)));
}

/// Per key (db, key): its DEBUG DIGEST-VALUE and whether it has a TTL, so a digest
/// mismatch names the keys that differ.
fn keyed(c: &mut redis::Connection) -> std::collections::BTreeMap<(u32, String), (String, bool)> {
    let mut m = std::collections::BTreeMap::new();
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

#[test]
fn aof_files_replay_in_redis_to_the_same_digest() {
    let mut s = Server::start(2, &["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no"]);
    workload(&s);
    let want = digest(&mut s.conn());
    let want_keys = keyed(&mut s.conn());
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut s.conn()).unwrap();
    assert!(dbsize > 500, "workload wrote {dbsize} keys");
    let st = s.terminate().expect("shardis exit status");
    assert!(st.success(), "shardis did not stop cleanly: {st:?}");

    let aof = concatenated_aof(&s.dir.join("appendonlydir"), 2);
    assert!(!aof.is_empty());
    let rdir = temp_dir("redis-aof");
    let redis = RealRedis::start(&rdir);
    redis.pipe(&aof);
    let got = digest(&mut redis.conn());
    if got != want {
        let got_keys = keyed(&mut redis.conn());
        let diff: Vec<_> = want_keys
            .keys()
            .chain(got_keys.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| want_keys.get(*k) != got_keys.get(*k))
            .map(|k| (k, want_keys.get(k), got_keys.get(k)))
            .collect();
        eprintln!("keys that differ (shardis, redis): {diff:#?}");
    }
    assert_eq!(got, want, "Redis's digest after replaying the AOF differs from shardis's");
    drop(redis);
    let _ = std::fs::remove_dir_all(&rdir);
}

/// The files of a *running* server under O_DIRECT (padded to whole blocks, with
/// preallocated blocks after them) are at every moment a command stream Redis's tools
/// take: redis-check-aof (and shardis-check-aof) pass each live file, `redis-cli --pipe` of them into
/// redis-server reports no error and gives the same data, and Redis's own AOF loader
/// loads each shard's live files (with a Redis manifest naming them) without
/// truncating anything. With 1 and 2 shards.
#[test]
fn live_direct_files_are_pipeable_and_load_in_redis() {
    for shards in [1, 2] {
        let flags = ["--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "no"];
        let flags = [&flags[..], &["--appendonly-direct", "yes"]].concat();
        let s = Server::start(shards, &flags);
        workload(&s);
        check_live_files(&s, shards);
        // Killed and restarted: the files are reopened in the middle of a block, and
        // stay valid while the log grows again.
        let mut s = s;
        s.kill9();
        let dir = s.dir.clone();
        std::mem::forget(s);
        let s = Server::start_in(dir, shards, &flags);
        let mut c = s.conn();
        for i in 0..50 {
            r(&mut c, &["rpush", &format!("again{}", i % 7), &"w".repeat(i * 13)]);
        }
        check_live_files(&s, shards);
    }
}

/// The checks above, on the files of the running server `s`.
fn check_live_files(s: &Server, shards: usize) {
    let mut c = s.conn();
    let want = digest(&mut c);
    let want_keys = keyed(&mut c);
    let aofdir = s.dir.join("appendonlydir");
    let files = common::aof_files(&aofdir);
    // The live files really are padded: whole blocks, more bytes than commands.
    for (_, incr, _, name) in &files {
        let b = std::fs::read(aofdir.join(name)).unwrap();
        if *incr {
            assert!(b.len().is_multiple_of(4096) && b.ends_with(b"\0\r\n"), "{name}: a live O_DIRECT file, padded");
        } else if b.is_empty() {
            continue; // a shard's base from start-up: redis-check-aof calls it empty
        }
        let out = std::process::Command::new(common::tool("redis-check-aof"))
            .arg(aofdir.join(name))
            .output()
            .expect("run redis-check-aof");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("is valid"), "redis-check-aof {name}:\n{text}");
    }

    // shardis-check-aof agrees: valid, then padding that loading cuts off.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardis-check-aof"))
        .arg(aofdir.join("appendonly.aof.manifest"))
        .output()
        .expect("run shardis-check-aof");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && text.contains("O_DIRECT padding"), "shardis-check-aof:\n{text}");

    // redis-cli --pipe into redis-server: no error, the same data.
    let rdir = temp_dir("redis-live");
    let redis = RealRedis::start(&rdir);
    redis.pipe(&concatenated_aof(&aofdir, shards));
    assert_eq!(digest(&mut redis.conn()), want, "{shards} shard(s): piped live files");
    drop(redis);
    let _ = std::fs::remove_dir_all(&rdir);

    // Redis's AOF loader, one shard's files at a time: together they hold every key.
    let mut got_keys = std::collections::BTreeMap::new();
    for shard in 0..shards {
        let ldir = temp_dir("redis-load");
        let sub = ldir.join("appendonlydir");
        std::fs::create_dir_all(&sub).unwrap();
        let mut manifest = String::new();
        for (_, incr, seq, name) in files.iter().filter(|f| f.0 == shard) {
            std::fs::copy(aofdir.join(name), sub.join(name)).unwrap();
            manifest += &format!("file {name} seq {seq} type {}\n", if *incr { "i" } else { "b" });
        }
        std::fs::write(sub.join("appendonly.aof.manifest"), manifest).unwrap();
        let log = ldir.join("redis.log");
        let mut redis = redis_loading_aof(&ldir, &log);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains("DB loaded from append only file")
                && !text.contains("short read")
                && !text.contains("Truncat"),
            "shard {shard}: Redis's loader:\n{text}"
        );
        got_keys.extend(keyed(&mut redis.1));
        let _ = redis.0.kill();
        let _ = redis.0.wait();
        let _ = std::fs::remove_dir_all(&ldir);
    }
    assert_eq!(got_keys, want_keys, "{shards} shard(s): Redis's loader on the live files");
    // The server is still running and writing: nothing above stopped it.
    assert_eq!(r(&mut c, &["set", "after", "1"]), Value::Okay);
}

/// A real redis-server started with `appendonly yes` in `dir` (so it loads the AOF set
/// there), once it answers PING; with a connection to it.
fn redis_loading_aof(dir: &std::path::Path, log: &std::path::Path) -> (std::process::Child, redis::Connection) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = std::process::Command::new(common::tool("redis-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
        .args(["--dir", dir.to_str().unwrap(), "--logfile", log.to_str().unwrap(), "--enable-debug-command", "yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let mut conn = None;
    let up = wait_until(Duration::from_secs(30), || {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        if let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection()
            && redis::cmd("PING").query::<String>(&mut c).is_ok()
            && common::served_by(port, child.id())
        {
            conn = Some(c);
            return true;
        }
        false
    });
    let Some(c) = conn.filter(|_| up) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not load the AOF in {dir:?}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
    };
    (child, c)
}
