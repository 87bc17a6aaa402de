//! The append-only file: every write family reloads to the same data (DEBUG DIGEST),
//! acknowledged writes survive kill -9 under `appendfsync always`, torn tails and
//! corruption are handled at start-up, buffered and with the O_DIRECT log.

use crate::common;

use common::{SHARD_COUNTS, Server, SmallTmpfs, temp_dir, wait_until};
use redis::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Stops the server (kill -9 when `hard`) and keeps its directory for a restart.
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

fn aof_flags(policy: &str) -> Vec<&str> {
    vec!["--appendonly", "yes", "--appendfsync", policy]
}

/// A script touching every write family, with relative expiries, random pops,
/// blocking pops (served at once and after waiting), cross-shard commands and
/// MULTI/EXEC.
fn workload(s: &Server) {
    let mut c = s.conn();
    let script: &[&[&str]] = &[
        // strings
        &["set", "s1", "v"],
        &["set", "s2", "v", "ex", "1000"],
        &["set", "s3", "v", "px", "900000", "get"],
        &["setex", "s4", "500", "x"],
        &["psetex", "s5", "500000", "y"],
        &["setnx", "s6", "z"],
        &["getset", "s1", "w"],
        &["set", "gd", "1"],
        &["getdel", "gd"],
        &["getex", "s1", "ex", "300"],
        &["set", "s7", "q", "ex", "100"],
        &["getex", "s7", "persist"],
        &["append", "s6", "more"],
        &["setrange", "s6", "1", "ABC"],
        &["incr", "n1"],
        &["decrby", "n1", "7"],
        &["incrbyfloat", "f1", "1.5"],
        &["incrbyfloat", "f1", "0.25"],
        &["mset", "m1", "a", "m2", "b", "m3", "c", "m4", "d"],
        &["msetnx", "m5", "e", "m6", "f"],
        // keys and expiry
        &["set", "k1", "1"],
        &["expire", "k1", "1000"],
        &["pexpire", "m1", "100000"],
        &["expireat", "m2", "4000000000"],
        &["persist", "m1"],
        &["rename", "m3", "m3renamed"],
        &["renamenx", "m4", "m4renamed"],
        &["copy", "s6", "s6copy"],
        &["del", "m5", "m6", "nosuch"],
        &["unlink", "s4"],
        &["set", "gone", "x"],
        &["expire", "gone", "-1"],
        // lists
        &["rpush", "l1", "a", "b", "c", "d", "e", "f"],
        &["lpush", "l1", "z"],
        &["lpop", "l1"],
        &["rpop", "l1", "2"],
        &["lset", "l1", "0", "A"],
        &["linsert", "l1", "before", "c", "bb"],
        &["lrem", "l1", "1", "bb"],
        &["ltrim", "l1", "0", "10"],
        &["lmove", "l1", "l2", "left", "right"],
        &["rpoplpush", "l1", "l3"],
        &["lmpop", "2", "nosuch", "l1", "left", "count", "1"],
        &["blpop", "l2", "0"],
        &["rpush", "l4", "1", "2", "3"],
        &["brpop", "nosuch", "l4", "1"],
        &["blmove", "l4", "l5", "right", "left", "1"],
        &["blmpop", "1", "2", "l4", "l5", "right", "count", "5"],
        // hashes
        &["hset", "h1", "a", "1", "b", "2", "c", "3"],
        &["hsetnx", "h1", "d", "4"],
        &["hdel", "h1", "b"],
        &["hincrby", "h1", "a", "10"],
        &["hincrbyfloat", "h1", "c", "0.5"],
        // sets
        &["sadd", "st1", "a", "b", "c", "d", "e", "f", "1", "2"],
        &["srem", "st1", "f"],
        &["spop", "st1"],
        &["spop", "st1", "2"],
        &["sadd", "st2", "b", "c", "x"],
        &["smove", "st2", "st1", "x"],
        &["sinterstore", "st3", "st1", "st2"],
        &["sunionstore", "st4", "st1", "st2"],
        &["sdiffstore", "st5", "st1", "st2"],
        // sorted sets
        &["zadd", "z1", "1", "a", "2", "b", "3", "c", "4", "d", "5.5", "e", "inf", "f"],
        &["zincrby", "z1", "10", "a"],
        &["zrem", "z1", "b"],
        &["zpopmin", "z1"],
        &["zpopmax", "z1", "1"],
        &["bzpopmin", "z1", "1"],
        &["zadd", "z2", "1", "x", "2", "y", "3", "w"],
        &["zmpop", "2", "nosuch", "z2", "min"],
        &["bzmpop", "1", "1", "z2", "max", "count", "1"],
        &["zremrangebyscore", "z1", "-inf", "4"],
        &["zunionstore", "z3", "2", "z1", "z2"],
        &["zrangestore", "z4", "z1", "0", "-1"],
        // bitmaps and HyperLogLog
        &["setbit", "b1", "100", "1"],
        &["bitfield", "b2", "set", "u8", "0", "200", "incrby", "u8", "0", "100"],
        &["bitop", "or", "b3", "b1", "b2"],
        &["pfadd", "hl1", "a", "b", "c"],
        &["pfadd", "hl2", "c", "d"],
        &["pfmerge", "hl3", "hl1", "hl2"],
        &["pfcount", "hl1"],
        // databases
        &["select", "3"],
        &["set", "db3key", "v"],
        &["move", "db3key", "4"],
        &["select", "5"],
        &["set", "doomed", "1"],
        &["flushdb"],
        &["select", "6"],
        &["set", "swapped", "1"],
        &["swapdb", "6", "7"],
        &["select", "0"],
    ];
    for cmd in script {
        r(&mut c, cmd);
    }
    // RESTORE with a relative TTL (logged with the absolute time it gave) and without.
    let payload: Vec<u8> = redis::cmd("dump").arg("z1").query(&mut c).unwrap();
    let _: () = redis::cmd("restore").arg("rz1").arg(600000).arg(&payload).query(&mut c).unwrap();
    let _: () = redis::cmd("restore").arg("rz2").arg(0).arg(&payload).query(&mut c).unwrap();
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
        .cmd("spop")
        .arg("st1")
        .cmd("select")
        .arg("2")
        .cmd("set")
        .arg("tx5")
        .arg("in2");
    let _: Value = p.query(&mut c).expect("exec");
    let _: Value = redis::cmd("select").arg(0).query(&mut c).unwrap();
    // A blocking pop served after it waited (propagated as the pop it did).
    let mut waiter = s.conn();
    let t = std::thread::spawn(move || {
        let v: Value = redis::cmd("blpop").arg("later").arg(10).query(&mut waiter).unwrap();
        v
    });
    assert!(wait_until(Duration::from_secs(10), || {
        let info: String = redis::cmd("info").arg("clients").query(&mut c).unwrap();
        info.contains("blocked_clients:1")
    }));
    r(&mut c, &["rpush", "later", "p1", "p2"]);
    t.join().unwrap();
    // A key that expires and is deleted by the server (propagated as DEL).
    r(&mut c, &["set", "short", "x", "px", "5"]);
    assert!(wait_until(Duration::from_secs(5), || r(&mut c, &["exists", "short"]) == Value::Int(0)));
}

#[test]
fn every_write_family_reloads_to_the_same_digest() {
    for n in SHARD_COUNTS {
        for policy in ["everysec", "always"] {
            let s = Server::start(n, &aof_flags(policy));
            workload(&s);
            let mut c = s.conn();
            let before = digest(&mut c);
            let dbsize = r(&mut c, &["dbsize"]);
            // Clean shutdown and kill -9 must both reload to the same data.
            let dir = stop_keep(s, policy == "always");
            let s = Server::start_in(dir, n, &aof_flags(policy));
            let mut c = s.conn();
            assert_eq!(digest(&mut c), before, "{n} shards, {policy}");
            assert_eq!(r(&mut c, &["dbsize"]), dbsize);
            let info: String = redis::cmd("info").arg("persistence").query(&mut c).unwrap();
            assert!(info.contains("aof_enabled:1"), "{info}");
            assert!(info.contains("aof_last_write_status:ok"));
            // Restarting with another shard count loads too (and writes new bases).
            let dir = stop_keep(s, false);
            let s = Server::start_in(dir, n + 1, &aof_flags(policy));
            assert_eq!(digest(&mut s.conn()), before, "{n} -> {} shards", n + 1);
        }
    }
}

/// Pipelines SETs over a raw socket, counting the ones acknowledged with +OK.
/// Returns why it stopped: "stopped" when asked to, else the error that ended it (a
/// test that kills the server expects one; one that does not reports it).
fn pipeline_writer(port: u16, cycle: usize, acked: Arc<AtomicU64>, stop: Arc<AtomicBool>) -> String {
    let mut s = match std::net::TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => return format!("connect: {e}"),
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut next = 0u64;
    let mut buf = Vec::new();
    let mut rd = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        buf.clear();
        for i in 0..64 {
            let k = format!("c{cycle}:{}", next + i);
            buf.extend_from_slice(
                format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{}\r\n", k.len(), k.len(), k).as_bytes(),
            );
        }
        if let Err(e) = s.write_all(&buf) {
            return format!("write: {e}");
        }
        let mut got = 0;
        let mut pending = Vec::new();
        while got < 64 {
            let n = match s.read(&mut rd) {
                Ok(0) => return "closed by the server".into(),
                Err(e) => return format!("read after {} acks: {e}", next + got),
                Ok(n) => n,
            };
            pending.extend_from_slice(&rd[..n]);
            while let Some(p) = pending.windows(2).position(|w| w == b"\r\n") {
                assert_eq!(&pending[..p], b"+OK");
                pending.drain(..p + 2);
                got += 1;
                // Acks arrive in order: everything up to here is acknowledged.
                acked.fetch_max(next + got, Ordering::SeqCst);
            }
        }
        next += 64;
    }
    "stopped".into()
}

/// Waits until the writers' acks reach `target`, or panics saying why each writer
/// that ended stopped.
fn wait_acks(total: impl Fn() -> u64, target: u64, writers: &mut Vec<std::thread::JoinHandle<String>>) {
    if wait_until(Duration::from_secs(60), || total() >= target) {
        return;
    }
    let mut why = Vec::new();
    for w in std::mem::take(writers) {
        if w.is_finished() {
            why.push(w.join().unwrap_or_else(|_| "panicked".into()));
        } else {
            why.push("still writing".into());
            writers.push(w);
        }
    }
    panic!("{} of {target} acks; writers: {why:?}", total());
}

#[test]
fn kill9_under_always_keeps_every_acknowledged_write() {
    kill9_cycles(4, &aof_flags("always"));
}

#[test]
fn kill9_under_always_keeps_every_acknowledged_write_with_o_direct() {
    kill9_cycles(4, &direct_flags("always"));
}

/// Under `everysec` and `no` a reply leaves once its log write has completed (the
/// bytes are in the kernel), not merely been submitted: a process crash loses no
/// acknowledged write, with one shard or several.
#[test]
fn kill9_under_everysec_keeps_every_acknowledged_write() {
    kill9_cycles(1, &aof_flags("everysec"));
    kill9_cycles(2, &aof_flags("everysec"));
}

#[test]
fn kill9_under_no_keeps_every_acknowledged_write() {
    kill9_cycles(1, &aof_flags("no"));
    kill9_cycles(2, &aof_flags("no"));
}

/// Three cycles of pipelined writes killed with -9 in the middle, then a check that
/// every write acknowledged in any cycle is there.
fn kill9_cycles(shards: usize, flags: &[&str]) {
    let dir = temp_dir("aof-kill");
    let mut dir = Some(dir);
    let mut acked_per_cycle: Vec<u64> = Vec::new();
    for cycle in 0..3 {
        let s = Server::start_in(dir.take().unwrap(), shards, flags);
        // Everything acknowledged in earlier cycles is there.
        let mut c = s.conn();
        for (cy, &n) in acked_per_cycle.iter().enumerate() {
            for i in (0..n).step_by(7).chain(n.checked_sub(1)) {
                let k = format!("c{cy}:{i}");
                assert_eq!(
                    r(&mut c, &["get", &k]),
                    Value::BulkString(k.clone().into_bytes()),
                    "cycle {cy} key {i} of {n}"
                );
            }
        }
        let acked = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers: Vec<_> = (0..1)
            .map(|_| {
                let (a, st, port) = (acked.clone(), stop.clone(), s.port);
                std::thread::spawn(move || pipeline_writer(port, cycle, a, st))
            })
            .collect();
        wait_acks(|| acked.load(Ordering::SeqCst), 2000 + 500 * cycle as u64, &mut writers);
        dir = Some(stop_keep(s, true));
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        acked_per_cycle.push(acked.load(Ordering::SeqCst));
    }
    let s = Server::start_in(dir.take().unwrap(), shards, flags);
    let mut c = s.conn();
    for (cy, &n) in acked_per_cycle.iter().enumerate() {
        for i in 0..n {
            let k = format!("c{cy}:{i}");
            assert_eq!(r(&mut c, &["get", &k]), Value::BulkString(k.clone().into_bytes()), "cycle {cy} key {i} of {n}");
        }
    }
}

/// The shard-0 incremental file of a one-shard server's AOF directory.
fn incr_file(dir: &std::path::Path) -> PathBuf {
    incr_files(dir).pop().expect("an incr file")
}

/// Runs the server binary expecting it to fail at start-up; returns its output.
fn start_fails(dir: &std::path::Path, extra: &[&str]) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shardis-server"))
        .args(["--port", "0", "--bind", "127.0.0.1", "--shards", "1", "--save", ""])
        .args(["--dir", dir.to_str().unwrap()])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run server");
    let exited = wait_until(Duration::from_secs(20), || child.try_wait().is_ok_and(|s| s.is_some()));
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("output");
    assert!(exited && !out.status.success(), "start-up should fail");
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn check_aof(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shardis-check-aof")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
}

#[test]
fn truncated_tail_and_corruption() {
    let s = Server::start(1, &aof_flags("always"));
    let mut c = s.conn();
    r(&mut c, &["set", "a", "1"]);
    r(&mut c, &["rpush", "l", "x", "y"]);
    let dir = stop_keep(s, false);
    let incr = incr_file(&dir);
    let good = std::fs::read(&incr).unwrap();

    // A torn last command: refused with aof-load-truncated no, dropped with yes.
    let mut torn = good.clone();
    torn.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5\r\nhal");
    std::fs::write(&incr, &torn).unwrap();
    let out = start_fails(&dir, &["--appendonly", "yes", "--aof-load-truncated", "no"]);
    assert!(out.contains("Unexpected end of file") && out.contains(&format!("offset {}", good.len())), "{out}");
    let (ok, report) = check_aof(&[incr.to_str().unwrap()]);
    assert!(!ok && report.contains(&format!("ok_up_to={}", good.len())), "{report}");
    let s = Server::start_in(dir, 1, &aof_flags("always"));
    let mut c = s.conn();
    assert_eq!(r(&mut c, &["get", "a"]), Value::BulkString(b"1".to_vec()));
    assert_eq!(r(&mut c, &["exists", "b"]), Value::Int(0));
    assert!(s.log.lock().unwrap().iter().any(|l| l.contains("Truncating the AOF")));
    // ... and the file was cut back, so appending goes on after a whole command.
    r(&mut c, &["set", "after", "1"]);
    let dir = stop_keep(s, false);
    let s = Server::start_in(dir, 1, &aof_flags("always"));
    assert_eq!(r(&mut s.conn(), &["get", "after"]), Value::BulkString(b"1".to_vec()));
    let dir = stop_keep(s, false);

    // A MULTI without its EXEC at the end is an unfinished transaction: dropped.
    let incr = incr_file(&dir);
    let mut f = std::fs::OpenOptions::new().append(true).open(&incr).unwrap();
    f.write_all(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nm\r\n$1\r\n1\r\n").unwrap();
    drop(f);
    let s = Server::start_in(dir, 1, &aof_flags("always"));
    assert_eq!(r(&mut s.conn(), &["exists", "m"]), Value::Int(0));
    let dir = stop_keep(s, false);

    // Corruption in the middle stops start-up, naming the file and offset; check-aof
    // reports the same offset and --fix truncates there.
    let incr = incr_file(&dir);
    let mut bad = std::fs::read(&incr).unwrap();
    // Offset 16 is the '$' of SELECT's argument, the file's first command.
    let at = 16;
    assert_eq!(bad[at], b'$');
    bad[at] = b'!';
    std::fs::write(&incr, &bad).unwrap();
    let out = start_fails(&dir, &["--appendonly", "yes"]);
    let name = incr.file_name().unwrap().to_string_lossy().to_string();
    assert!(out.contains("Bad file format") && out.contains(&name), "{out}");
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let (ok, report) = check_aof(&[manifest.to_str().unwrap()]);
    assert!(!ok && report.contains("ok_up_to="), "{report}");
    let (ok, report) = check_aof(&["--fix", manifest.to_str().unwrap()]);
    assert!(ok && report.contains("Successfully truncated"), "{report}");
    let s = Server::start_in(dir, 1, &aof_flags("always"));
    r(&mut s.conn(), &["ping"]);
}

/// A size-limited tmpfs fills up: writes are refused with MISCONF and never
/// acknowledged, reads keep working, and once there is room again writes resume.
/// Needs permission to mount a tmpfs (root, as `scripts/test.sh` runs in CI); without
/// it the test fails rather than pass untested.
#[test]
fn enospc_refuses_writes_cleanly() {
    enospc(&aof_flags("always"));
}

/// The same with the O_DIRECT log, whose preallocation fails first.
#[test]
fn enospc_refuses_writes_cleanly_with_o_direct() {
    enospc(&direct_flags("always"));
}

fn enospc(flags: &[&str]) {
    let dir = temp_dir("aof-enospc");
    let _disk = SmallTmpfs::mount(&dir);
    let s = Server::start_in(dir.clone(), 2, flags);
    let mut c = s.conn();
    // The write that hits ENOSPC is never answered: notice it by a read timeout.
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    r(&mut c, &["set", "kept", "1"]);
    let big = "x".repeat(16 << 10);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..100 {
        let k = format!("big{i}");
        match redis::cmd("set").arg(&k).arg(&big).query::<Value>(&mut c) {
            Ok(_) => acked.push(k),
            Err(e) => {
                refused = Some(e.to_string());
                break;
            }
        }
    }
    // The write that hit ENOSPC is not answered (or answered MISCONF); later writes
    // get MISCONF.
    assert!(refused.is_some(), "256k filled without an error");
    let err = wait_until(Duration::from_secs(10), || {
        let mut c2 = s.conn();
        c2.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        redis::cmd("set").arg("more").arg("1").query::<Value>(&mut c2).is_err_and(|e| e.to_string().contains("MISCONF"))
    });
    assert!(err, "writes refused with MISCONF");
    let mut c2 = s.conn();
    assert_eq!(r(&mut c2, &["get", "kept"]), Value::BulkString(b"1".to_vec()), "reads still served");
    let info: String = redis::cmd("info").arg("persistence").query(&mut c2).unwrap();
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    // Room again: the pending write completes and writes are accepted.
    let _ = std::process::Command::new("mount").args(["-o", "remount,size=8m", dir.to_str().unwrap()]).status();
    assert!(wait_until(Duration::from_secs(10), || {
        redis::cmd("set").arg("more").arg("1").query::<Value>(&mut c2).is_ok()
    }));
    let d = stop_keep(s, false);
    let s = Server::start_in(d.clone(), 2, flags);
    let mut c = s.conn();
    for k in &acked {
        assert_eq!(r(&mut c, &["strlen", k]), Value::Int(big.len() as i64), "{k}");
    }
    assert_eq!(r(&mut c, &["get", "more"]), Value::BulkString(b"1".to_vec()));
    drop(s);
}

fn info_field(c: &mut redis::Connection, name: &str) -> String {
    let info: String = redis::cmd("info").arg("persistence").query(c).unwrap();
    let prefix = format!("{name}:");
    info.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{name} missing")).trim().to_string()
}

/// Waits until `aof_rewrites` reaches `n` and no rewrite is running or scheduled.
fn wait_rewrites(c: &mut redis::Connection, n: u64) {
    let ok = wait_until(Duration::from_secs(30), || {
        info_field(c, "aof_rewrites").parse::<u64>().unwrap() >= n
            && info_field(c, "aof_rewrite_in_progress") == "0"
            && info_field(c, "aof_rewrite_scheduled") == "0"
    });
    assert!(ok, "rewrite {n} did not finish: status {}", info_field(c, "aof_last_bgrewrite_status"));
}

/// The manifest's lines as (name, seq, type).
fn manifest(dir: &std::path::Path) -> Vec<(String, u64, String)> {
    let text = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    text.lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[1].to_string(), w[3].parse().unwrap(), w[5].to_string())
        })
        .collect()
}

/// After a successful rewrite: one base and one incr per shard, all of the newest seq,
/// and no other AOF file left in the directory.
fn assert_rewritten_set(dir: &std::path::Path, shards: usize, base_ext: &str, min_seq: u64) {
    let m = manifest(dir);
    assert_eq!(m.len(), 2 * shards, "{m:?}");
    let seq = m[0].1;
    assert!(seq >= min_seq, "a new seq: {m:?}");
    for (name, s, t) in &m {
        assert_eq!(*s, seq, "{m:?}");
        let ext = if t == "b" { base_ext } else { ".incr.aof" };
        assert!(name.ends_with(ext), "{name}");
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".manifest"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = m.into_iter().map(|(n, _, _)| n).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "old files are removed");
}

#[test]
fn bgrewriteaof_under_pipelined_writers_keeps_every_acknowledged_write() {
    for (n, preamble) in [(4, "yes"), (1, "no")] {
        let mut flags = aof_flags("always");
        flags.extend(["--aof-use-rdb-preamble", preamble]);
        let s = Server::start(n, &flags);
        workload(&s);
        let mut c = s.conn();
        let acked: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers: Vec<_> = (0..2)
            .map(|cycle| {
                let (a, st, port) = (acked[cycle].clone(), stop.clone(), s.port);
                std::thread::spawn(move || pipeline_writer(port, cycle, a, st))
            })
            .collect();
        let total = || acked.iter().map(|a| a.load(Ordering::SeqCst)).sum::<u64>();
        wait_acks(total, 1000, &mut writers);
        assert_eq!(
            r(&mut c, &["bgrewriteaof"]),
            Value::SimpleString("Background append only file rewriting started".into())
        );
        wait_rewrites(&mut c, 1);
        assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
        let at = total();
        wait_acks(total, at + 1000, &mut writers);
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        let before = digest(&mut c);
        let base_ext = if preamble == "yes" { ".base.rdb" } else { ".base.aof" };
        assert_rewritten_set(&s.dir, n, base_ext, 2);
        assert!(info_field(&mut c, "aof_base_size").parse::<u64>().unwrap() > 0);
        assert!(info_field(&mut c, "aof_last_cow_size").parse::<u64>().is_ok());
        let dir = stop_keep(s, true);
        let s = Server::start_in(dir, n, &aof_flags("always"));
        let mut c = s.conn();
        for (cycle, a) in acked.iter().enumerate() {
            for i in 0..a.load(Ordering::SeqCst) {
                let k = format!("c{cycle}:{i}");
                assert_eq!(r(&mut c, &["get", &k]), Value::BulkString(k.clone().into_bytes()), "{n} shards: {k}");
            }
        }
        assert_eq!(digest(&mut c), before, "{n} shards, preamble {preamble}");
    }
}

#[test]
fn bgrewriteaof_replies_like_redis() {
    let s = Server::start(1, &aof_flags("everysec"));
    let mut c = s.conn();
    r(&mut c, &["select", "3"]);
    r(&mut c, &["set", "k", "v"]);
    let started = r(&mut c, &["bgrewriteaof"]);
    assert_eq!(started, Value::SimpleString("Background append only file rewriting started".into()));
    let again = redis::cmd("bgrewriteaof").query::<Value>(&mut c);
    if let Err(e) = again {
        assert!(e.to_string().contains("already in progress"), "{e}");
    }
    wait_rewrites(&mut c, 1);
    assert_eq!(info_field(&mut c, "aof_last_rewrite_time_sec"), "0");
    assert_eq!(info_field(&mut c, "aof_current_rewrite_time_sec"), "-1");
    // The first command after the cut, in the db the log last selected, still lands
    // in that db after a restart (the new incremental file re-selects).
    r(&mut c, &["set", "after", "1"]);
    let dir = stop_keep(s, false);
    let s = Server::start_in(dir, 1, &aof_flags("everysec"));
    let mut c = s.conn();
    r(&mut c, &["select", "3"]);
    assert_eq!(
        r(&mut c, &["mget", "k", "after"]),
        Value::Array(vec![Value::BulkString(b"v".to_vec()), Value::BulkString(b"1".to_vec())])
    );
}

#[test]
fn auto_rewrite_triggers_on_growth() {
    let mut flags = aof_flags("everysec");
    flags.extend(["--auto-aof-rewrite-min-size", "1kb", "--auto-aof-rewrite-percentage", "100"]);
    let s = Server::start(2, &flags);
    let mut c = s.conn();
    let val = "x".repeat(100);
    for i in 0..100 {
        r(&mut c, &["set", &format!("k{i}"), &val]);
    }
    wait_rewrites(&mut c, 1);
    let before = digest(&mut c);
    let dir = stop_keep(s, false);
    assert_rewritten_set(&dir, 2, ".base.rdb", 2);
    let s = Server::start_in(dir, 2, &flags);
    assert_eq!(digest(&mut s.conn()), before);
}

#[test]
fn appendonly_yes_at_runtime_then_restart() {
    let s = Server::start(3, &[]);
    workload(&s);
    let mut c = s.conn();
    assert_eq!(info_field(&mut c, "aof_enabled"), "0");
    r(&mut c, &["config", "set", "appendonly", "yes"]);
    wait_rewrites(&mut c, 1);
    assert_eq!(info_field(&mut c, "aof_enabled"), "1");
    for i in 0..200 {
        r(&mut c, &["incr", &format!("after{}", i % 17)]);
    }
    let before = digest(&mut c);
    let dir = stop_keep(s, true);
    assert_rewritten_set(&dir, 3, ".base.rdb", 1);
    let s = Server::start_in(dir, 3, &aof_flags("everysec"));
    let mut c = s.conn();
    assert_eq!(digest(&mut c), before);
    // `appendonly no` stops logging.
    r(&mut c, &["config", "set", "appendonly", "no"]);
    assert!(wait_until(Duration::from_secs(10), || info_field(&mut c, "aof_enabled") == "0"));
    r(&mut c, &["set", "k", "v"]);
}

#[test]
fn failed_rewrite_keeps_old_files_and_new_incrs() {
    let s = Server::start(2, &aof_flags("always"));
    let mut c = s.conn();
    for i in 0..50 {
        r(&mut c, &["set", &format!("k{i}"), "v"]);
    }
    // The child cannot rename its base onto a directory: the rewrite fails.
    let blocker = s.dir.join("appendonlydir/appendonly.aof.s0.2.base.rdb");
    std::fs::create_dir_all(blocker.join("x")).unwrap();
    r(&mut c, &["bgrewriteaof"]);
    assert!(wait_until(Duration::from_secs(30), || {
        info_field(&mut c, "aof_rewrite_in_progress") == "0" && info_field(&mut c, "aof_last_bgrewrite_status") == "err"
    }));
    let m = manifest(&s.dir);
    let incrs: Vec<u64> = m.iter().filter(|f| f.2 == "i").map(|f| f.1).collect();
    assert_eq!(incrs.len(), 4, "old and new incrs listed: {m:?}");
    assert!(incrs.contains(&1) && incrs.contains(&2), "{m:?}");
    for i in 0..50 {
        r(&mut c, &["incr", &format!("n{}", i % 7)]);
    }
    let before = digest(&mut c);
    let dir = stop_keep(s, true);
    let s = Server::start_in(dir, 2, &aof_flags("always"));
    let mut c = s.conn();
    assert_eq!(digest(&mut c), before, "nothing lost after a failed rewrite");
    // Once possible again, a rewrite replaces everything.
    std::fs::remove_dir_all(&blocker).unwrap();
    r(&mut c, &["bgrewriteaof"]);
    wait_rewrites(&mut c, 1);
    assert_eq!(info_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    let dir = stop_keep(s, true);
    assert_rewritten_set(&dir, 2, ".base.rdb", 3);
    let s = Server::start_in(dir, 2, &aof_flags("always"));
    assert_eq!(digest(&mut s.conn()), before);
}

#[test]
fn bgrewriteaof_is_scheduled_behind_a_bgsave_child() {
    let s = Server::start(2, &aof_flags("everysec"));
    let mut c = s.conn();
    // The BGSAVE child sleeps 50 ms per key (`rdb-key-save-delay`): 100 keys keep it
    // busy for 5 s, far longer than the next command takes to arrive.
    for i in 0..100 {
        r(&mut c, &["set", &format!("k{i}"), "v"]);
    }
    r(&mut c, &["config", "set", "rdb-key-save-delay", "50000"]);
    assert_eq!(r(&mut c, &["bgsave"]), Value::SimpleString("Background saving started".into()));
    let scheduled = Value::SimpleString("Background append only file rewriting scheduled".into());
    assert_eq!(r(&mut c, &["bgrewriteaof"]), scheduled);
    assert_eq!(info_field(&mut c, "aof_rewrite_scheduled"), "1");
    r(&mut c, &["config", "set", "rdb-key-save-delay", "0"]);
    wait_rewrites(&mut c, 1);
    let before = digest(&mut c);
    let dir = stop_keep(s, false);
    assert_rewritten_set(&dir, 2, ".base.rdb", 2);
    let s = Server::start_in(dir, 2, &aof_flags("everysec"));
    assert_eq!(digest(&mut s.conn()), before);
}

#[test]
fn shutdown_waits_for_the_initial_rewrite() {
    let s = Server::start(2, &[]);
    let mut c = s.conn();
    // The rewrite child sleeps 50 ms per key (`rdb-key-save-delay`): 100 keys keep the
    // first rewrite in progress for 5 s.
    for i in 0..100 {
        r(&mut c, &["set", &format!("k{i}"), "v"]);
    }
    r(&mut c, &["config", "set", "rdb-key-save-delay", "50000"]);
    r(&mut c, &["config", "set", "appendonly", "yes"]);
    assert!(wait_until(Duration::from_secs(10), || info_field(&mut c, "aof_rewrite_in_progress") == "1"));
    let e = redis::cmd("shutdown").query::<Value>(&mut c).unwrap_err();
    assert!(e.to_string().contains("Errors trying to SHUTDOWN"), "{e}");
    wait_rewrites(&mut c, 1);
    let before = digest(&mut c);
    let dir = stop_keep(s, false);
    let s = Server::start_in(dir, 2, &aof_flags("everysec"));
    assert_eq!(digest(&mut s.conn()), before);
}

fn direct_flags(policy: &str) -> Vec<&str> {
    [aof_flags(policy), vec!["--appendonly-direct", "yes"]].concat()
}

/// The incremental files of a directory's AOF set.
fn incr_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .collect();
    v.sort();
    v
}

/// `appendonly-direct yes`: the O_DIRECT log reloads to the same data after kill -9
/// (its files then end in padding and preallocated blocks of no-op fillers, which
/// loading cuts off) and after a clean shutdown (which leaves files of exactly their commands); a
/// rewrite moves it to new O_DIRECT files; the same files load with buffered I/O.
#[test]
fn direct_log_reloads_after_kill9_rewrite_and_a_mode_switch() {
    for policy in ["always", "everysec"] {
        let s = Server::start(4, &direct_flags(policy));
        let mut c = s.conn();
        assert_eq!(
            r(&mut c, &["config", "get", "appendonly-direct"]),
            Value::Array(vec![Value::BulkString(b"appendonly-direct".to_vec()), Value::BulkString(b"yes".to_vec())])
        );
        workload(&s);
        let before = digest(&mut c);
        let killed = policy == "always";
        let dir = stop_keep(s, killed);
        if killed {
            let padded = incr_files(&dir).iter().any(|p| {
                let b = std::fs::read(p).unwrap();
                b.len().is_multiple_of(4096) && b.ends_with(b"\0\r\n")
            });
            assert!(padded, "a killed O_DIRECT log leaves its preallocated blocks, filled with no-op ECHOs");
        }
        let s = Server::start_in(dir, 4, &direct_flags(policy));
        let mut c = s.conn();
        assert_eq!(digest(&mut c), before, "{policy}: reload");
        if killed {
            assert!(s.log.lock().unwrap().iter().any(|l| l.contains("O_DIRECT padding")));
        }
        // A rewrite in the middle of writes, then more writes on every shard.
        for i in 0..200 {
            r(&mut c, &["set", &format!("pre{i}"), &"p".repeat(i)]);
        }
        r(&mut c, &["bgrewriteaof"]);
        for i in 0..200 {
            r(&mut c, &["rpush", &format!("post{}", i % 16), &"q".repeat(i * 37)]);
        }
        wait_rewrites(&mut c, 1);
        r(&mut c, &["set", "last", "1"]);
        let before = digest(&mut c);
        let dir = stop_keep(s, false);
        for p in incr_files(&dir) {
            let b = std::fs::read(&p).unwrap();
            assert!(b.is_empty() || b.last() == Some(&b'\n'), "{}: cut to its commands at shutdown", p.display());
        }
        let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
        let (ok, report) = check_aof(&[manifest.to_str().unwrap()]);
        assert!(ok && !report.contains("padding"), "{report}");
        let s = Server::start_in(dir, 4, &aof_flags(policy));
        assert_eq!(digest(&mut s.conn()), before, "{policy}: the O_DIRECT files load buffered");
        let dir = stop_keep(s, false);
        let s = Server::start_in(dir, 4, &direct_flags(policy));
        assert_eq!(digest(&mut s.conn()), before, "{policy}: and buffered files load direct");
    }
}

/// A crash in the middle of an O_DIRECT write can leave some of its sectors on disk
/// and not others: NUL bytes inside the last command, then padding. That is a torn
/// tail (dropped with `aof-load-truncated yes`, refused with no), never corruption
/// that stops start-up for good, and check-aof --fix agrees.
#[test]
fn torn_direct_write_is_a_truncated_tail() {
    let s = Server::start(1, &direct_flags("always"));
    let mut c = s.conn();
    r(&mut c, &["set", "a", "1"]);
    r(&mut c, &["rpush", "l", "x", "y"]);
    let dir = stop_keep(s, false);
    let incr = incr_file(&dir);
    let good = std::fs::read(&incr).unwrap();
    let mut torn = good.clone();
    let cmd = b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$40\r\n0123456789012345678901234567890123456789\r\n";
    torn.extend_from_slice(cmd);
    // A stretch that never made it, across the command's framing (`b`'s CRLF and the
    // next length), then padding to the block end.
    let at = good.len();
    torn[at + 18..at + 30].fill(0);
    torn.resize(8192, 0);
    std::fs::write(&incr, &torn).unwrap();
    let out = start_fails(&dir, &["--appendonly", "yes", "--aof-load-truncated", "no"]);
    assert!(out.contains("Unexpected end of file") && out.contains(&format!("offset {}", good.len())), "{out}");
    let (ok, report) = check_aof(&[incr.to_str().unwrap()]);
    assert!(!ok && report.contains(&format!("ok_up_to={}", good.len())), "{report}");
    let s = Server::start_in(dir, 1, &direct_flags("always"));
    let mut c = s.conn();
    assert_eq!(r(&mut c, &["get", "a"]), Value::BulkString(b"1".to_vec()));
    assert_eq!(r(&mut c, &["exists", "b"]), Value::Int(0));
    assert!(s.log.lock().unwrap().iter().any(|l| l.contains("Truncating the AOF")));
    r(&mut c, &["set", "after", "1"]);
    let dir = stop_keep(s, true);
    let s = Server::start_in(dir, 1, &direct_flags("always"));
    let mut c = s.conn();
    assert_eq!(r(&mut c, &["get", "after"]), Value::BulkString(b"1".to_vec()));
    assert_eq!(
        r(&mut c, &["lrange", "l", "0", "-1"]),
        Value::Array(vec![Value::BulkString(b"x".to_vec()), Value::BulkString(b"y".to_vec())])
    );
}

/// For each open incremental file of process `pid`: is it O_DIRECT? (from
/// /proc/PID/fdinfo, whose `flags` field is the open flags in octal).
fn incr_fds_direct(pid: u32) -> Vec<bool> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        let Ok(target) = std::fs::read_link(e.path()) else { continue };
        if !target.to_string_lossy().ends_with(".incr.aof") {
            continue;
        }
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", e.file_name().to_string_lossy())).unwrap();
        let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap().trim();
        out.push(u32::from_str_radix(flags, 8).unwrap() & libc_o_direct() != 0);
    }
    out
}

/// O_DIRECT on x86-64 and aarch64 Linux differ; read it from the platform's value.
fn libc_o_direct() -> u32 {
    if cfg!(any(target_arch = "aarch64", target_arch = "arm")) { 0o200000 } else { 0o40000 }
}

/// `appendonly-direct auto` (the default) writes O_DIRECT under `always` and buffered
/// otherwise, following CONFIG SET at runtime; `yes` and `no` force the mode; every
/// switch keeps the log whole (kill -9 afterwards loses no acknowledged write).
#[test]
fn direct_auto_follows_appendfsync_at_runtime() {
    let s = Server::start(2, &aof_flags("everysec"));
    let mut c = s.conn();
    assert_eq!(
        r(&mut c, &["config", "get", "appendonly-direct"]),
        Value::Array(vec![Value::BulkString(b"appendonly-direct".to_vec()), Value::BulkString(b"auto".to_vec())])
    );
    let pid = s.pid();
    let all = |want: bool| {
        wait_until(Duration::from_secs(10), || {
            let v = incr_fds_direct(pid);
            v.len() == 2 && v.iter().all(|&d| d == want)
        })
    };
    let mut n = 0;
    let mut write = |c: &mut redis::Connection| {
        for _ in 0..50 {
            r(c, &["set", &format!("k{n}"), &"v".repeat(n % 300)]);
            n += 1;
        }
    };
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(all(false), "everysec: buffered");
    write(&mut c);
    r(&mut c, &["config", "set", "appendfsync", "always"]);
    assert!(all(true), "always: O_DIRECT");
    write(&mut c);
    r(&mut c, &["config", "set", "appendonly-direct", "no"]);
    assert!(all(false), "forced off");
    write(&mut c);
    r(&mut c, &["config", "set", "appendonly-direct", "yes", "appendfsync", "everysec"]);
    assert!(all(true), "forced on");
    write(&mut c);
    r(&mut c, &["config", "set", "appendfsync", "always"]);
    write(&mut c);
    let before = digest(&mut c);
    let dir = stop_keep(s, true);
    let s = Server::start_in(dir, 2, &aof_flags("always"));
    assert_eq!(digest(&mut s.conn()), before);
    assert!(all_direct_now(&s), "auto under always at start-up: O_DIRECT");
}

fn all_direct_now(s: &Server) -> bool {
    let v = incr_fds_direct(s.pid());
    !v.is_empty() && v.iter().all(|&d| d)
}
