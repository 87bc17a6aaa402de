//! The replication stream as a raw replica sees it: a socket that does the PSYNC
//! handshake, takes the RDB, and then reads the stream when the test says so (or
//! never). Covers the zero-copy sends of a replica that fell behind, and the output
//! buffer limit dropping a stuck replica without the master's memory growing.

use crate::common;

use common::{Resp, Server, wait_until};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn info_field(c: &mut redis::Connection, section: &str, name: &str) -> Option<String> {
    let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()))
}

fn info_u64(c: &mut redis::Connection, section: &str, name: &str) -> u64 {
    info_field(c, section, name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {name} in INFO {section}"))
}

/// A replica made of a bare socket: handshake and RDB done, positioned at the start
/// of the stream.
pub(crate) struct RawReplica {
    r: BufReader<TcpStream>,
    /// master_repl_offset at the snapshot (the stream starts after it).
    offset: u64,
}

fn send(s: &mut TcpStream, args: &[&str]) {
    let mut b = format!("*{}\r\n", args.len());
    for a in args {
        b += &format!("${}\r\n{a}\r\n", a.len());
    }
    s.write_all(b.as_bytes()).unwrap();
}

impl RawReplica {
    /// Disk-backed (no `capa eof`), so the RDB comes as `$<len>` + bytes and the
    /// replica is online as soon as it is sent.
    pub(crate) fn attach(port: u16) -> RawReplica {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        for args in [&["REPLCONF", "listening-port", "7777"][..], &["REPLCONF", "capa", "psync2"]] {
            send(&mut s, args);
            line.clear();
            r.read_line(&mut line).unwrap();
            assert_eq!(line, "+OK\r\n");
        }
        send(&mut s, &["PSYNC", "?", "-1"]);
        // Newlines are keepalives while the snapshot is on its way.
        line.clear();
        while line.trim().is_empty() {
            line.clear();
            r.read_line(&mut line).unwrap();
        }
        let offset: u64 = line.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
        assert!(line.starts_with("+FULLRESYNC "), "{line}");
        let len: usize = loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if let Some(n) = line.strip_prefix('$') {
                break n.trim_end().parse().unwrap();
            }
            assert_eq!(line.trim(), "", "unexpected before the RDB: {line:?}");
        };
        let mut rdb = vec![0u8; len];
        r.read_exact(&mut rdb).unwrap();
        assert!(rdb.starts_with(b"REDIS"), "an RDB payload");
        RawReplica { r, offset }
    }

    /// Reads the stream until `want` SET commands arrived; returns them.
    fn read_sets(&mut self, want: usize) -> Vec<Vec<Vec<u8>>> {
        let (mut buf, mut sets) = (Vec::new(), Vec::new());
        let mut chunk = vec![0u8; 256 << 10];
        while sets.len() < want {
            let n = self.r.read(&mut chunk).expect("the stream keeps coming");
            assert!(n > 0, "the master closed the link after {} SETs", sets.len());
            buf.extend_from_slice(&chunk[..n]);
            let (cmds, used) = parse_stream(&buf);
            buf.drain(..used);
            sets.extend(cmds.into_iter().filter(|c| c[0].eq_ignore_ascii_case(b"SET")));
        }
        sets
    }
}

/// The complete commands at the start of `b` (as argument lists) and the bytes they
/// take; an incomplete command at the end is left for later.
fn parse_stream(b: &[u8]) -> (Vec<Vec<Vec<u8>>>, usize) {
    fn line<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a str> {
        let end = b[*at..].windows(2).position(|w| w == b"\r\n")? + *at;
        let l = std::str::from_utf8(&b[*at..end]).unwrap();
        *at = end + 2;
        Some(l)
    }
    let mut cmds = Vec::new();
    let mut done = 0;
    'cmds: loop {
        let mut at = done;
        let Some(head) = line(b, &mut at) else { break };
        let n: usize = head.strip_prefix('*').unwrap_or_else(|| panic!("not an array: {head}")).parse().unwrap();
        let mut args = Vec::with_capacity(n);
        for _ in 0..n {
            let Some(l) = line(b, &mut at) else { break 'cmds };
            let len: usize = l.strip_prefix('$').unwrap().parse().unwrap();
            if b.len() < at + len + 2 {
                break 'cmds;
            }
            args.push(b[at..at + len].to_vec());
            assert_eq!(&b[at + len..at + len + 2], b"\r\n");
            at += len + 2;
        }
        cmds.push(args);
        done = at;
    }
    (cmds, done)
}

fn value(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| b'a' + ((i * 31 + j) % 26) as u8).collect()
}

/// A replica that stops reading falls megabytes behind; once it reads again the
/// master catches it up from whole backlog blocks with SEND_ZC, and every byte of the
/// stream arrives, in order.
#[test]
fn a_replica_that_fell_behind_catches_up_with_zero_copy_sends() {
    let master = Server::start(2, &["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    let mut rep = RawReplica::attach(master.port);
    const N: usize = 320;
    const LEN: usize = 64 << 10;
    for chunk in (0..N).collect::<Vec<_>>().chunks(16) {
        let mut p = redis::pipe();
        for &i in chunk {
            p.cmd("SET").arg(format!("zc:{i}")).arg(value(i, LEN)).ignore();
        }
        p.query::<()>(&mut m).unwrap();
    }
    let sets = rep.read_sets(N);
    assert_eq!(sets.len(), N, "every SET is in the stream once");
    assert!(info_u64(&mut m, "replication", "master_repl_offset") - rep.offset > (N * LEN) as u64);
    let mut seen = vec![false; N];
    for c in &sets {
        let i: usize = std::str::from_utf8(&c[1]).unwrap().strip_prefix("zc:").unwrap().parse().unwrap();
        assert_eq!(c[2], value(i, LEN), "zc:{i}'s value arrived intact");
        seen[i] = true;
    }
    assert!(seen.iter().all(|&s| s));
    let zc = info_u64(&mut m, "stats", "repl_zc_sends");
    let copied_by_kernel = info_u64(&mut m, "stats", "repl_zc_sends_kernel_copied");
    let plain = info_u64(&mut m, "stats", "repl_copied_sends");
    assert!(zc > 0, "a replica behind by whole blocks gets zero-copy sends (zc {zc}, plain {plain})");
    assert!(copied_by_kernel <= zc);
    // The master stays consistent: the stream is intact and it still serves.
    let v: Vec<u8> = redis::cmd("GET").arg("zc:5").query(&mut m).unwrap();
    assert_eq!(v, value(5, LEN));
}

fn proc_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A replica that never reads again is disconnected by `client-output-buffer-limit
/// replica` under a write load, and the master's peak RSS stays far below what the
/// stream it was written would need.
#[test]
fn a_stuck_replica_is_dropped_by_the_output_limit_and_memory_stays_bounded() {
    let master = Server::start(2, &["--repl-diskless-sync-delay", "0"]);
    let mut m = master.conn();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("replica 16mb 8mb 60")
        .query::<()>(&mut m)
        .unwrap();
    let _stuck = RawReplica::attach(master.port);
    assert_eq!(info_u64(&mut m, "replication", "connected_slaves"), 1);
    let base_kb = proc_kb(master.pid(), "VmRSS:");
    // 64 keys overwritten again and again: the dataset stays at ~6 MB while the
    // stream grows without end.
    const LEN: usize = 100 << 10;
    let mut written = 0usize;
    let t = Instant::now();
    let mut i = 0;
    while info_u64(&mut m, "replication", "connected_slaves") > 0 {
        assert!(written < 400 << 20, "still connected after {} MB of stream", written >> 20);
        assert!(t.elapsed() < Duration::from_secs(60), "still connected after 60 s");
        let mut p = redis::pipe();
        for _ in 0..16 {
            p.cmd("SET").arg(format!("big:{}", i % 64)).arg(value(i, LEN)).ignore();
            i += 1;
            written += LEN;
        }
        p.query::<()>(&mut m).unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(10), || master
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("scheduled to be closed ASAP for overcoming of output buffer limits"))),
        "Redis's log line for the disconnection"
    );
    // Keep writing: with the replica gone, nothing pins the stream any more.
    for _ in 0..(256 << 20) / (16 * LEN) {
        let mut p = redis::pipe();
        for _ in 0..16 {
            p.cmd("SET").arg(format!("big:{}", i % 64)).arg(value(i, LEN)).ignore();
            i += 1;
            written += LEN;
        }
        p.query::<()>(&mut m).unwrap();
    }
    let peak_kb = proc_kb(master.pid(), "VmHWM:");
    let growth_mb = peak_kb.saturating_sub(base_kb) >> 10;
    // Dataset (~6 MB, twice while values are replaced) + the hard limit (16 MB of
    // backlog blocks) + allocator and client buffers + what piles up while the
    // replication thread is starved of CPU on a loaded machine: well under the stream.
    assert!(
        growth_mb < 128,
        "peak RSS grew by {growth_mb} MB (from {} MB) while {} MB of stream were written",
        base_kb >> 10,
        written >> 20
    );
    assert!(
        written >> 20 > 2 * growth_mb as usize,
        "peak RSS grew by {growth_mb} MB while {} MB of stream were written",
        written >> 20
    );
    let pong: String = redis::cmd("PING").query(&mut m).unwrap();
    assert_eq!(pong, "PONG");
}

/// `repl-backlog-ttl`: once no replica has been connected for that long, the master
/// frees its backlog and takes a new replication id (Redis's behaviour); WAIT and a
/// new replica still work afterwards.
#[test]
fn the_backlog_is_freed_after_repl_backlog_ttl_without_replicas() {
    let master = Server::start(2, &["--repl-diskless-sync-delay", "0", "--repl-backlog-ttl", "1"]);
    let mut m = master.conn();
    let rep = RawReplica::attach(master.port);
    redis::cmd("SET").arg("k").arg("v").query::<()>(&mut m).unwrap();
    assert_eq!(info_field(&mut m, "replication", "repl_backlog_active").as_deref(), Some("1"));
    let old_id = info_field(&mut m, "replication", "master_replid").unwrap();
    drop(rep);
    assert!(
        wait_until(Duration::from_secs(15), || info_field(&mut m, "replication", "repl_backlog_active").as_deref()
            == Some("0")),
        "the backlog outlived repl-backlog-ttl"
    );
    // The log is read by another thread: its line may follow the INFO change.
    assert!(
        wait_until(Duration::from_secs(10), || master
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Replication backlog freed after 1 seconds"))),
        "no 'Replication backlog freed' log line"
    );
    assert_ne!(info_field(&mut m, "replication", "master_replid").unwrap(), old_id, "a new history starts");
    assert_eq!(info_field(&mut m, "replication", "master_replid2").as_deref(), Some(&*"0".repeat(40)));
    let n: i64 = redis::cmd("WAIT").arg(0).arg(0).query(&mut m).unwrap();
    assert_eq!(n, 0);
    let n: i64 = redis::cmd("WAIT").arg(1).arg(50).query(&mut m).unwrap();
    assert_eq!(n, 0);
    // A new replica gets a full sync and the stream again.
    let mut rep = RawReplica::attach(master.port);
    assert_eq!(info_field(&mut m, "replication", "repl_backlog_active").as_deref(), Some("1"));
    redis::cmd("SET").arg("again").arg("1").query::<()>(&mut m).unwrap();
    let sets = rep.read_sets(1);
    assert_eq!(sets[0][1], b"again");
}

/// INFO's `master_repl_offset` and ROLE's offset count every write a client already
/// saw answered, on any shard and from any connection, even while the replication
/// thread lets the shards' segments gather (it dozes while writes stream to online
/// replicas): a client that reads the offset to wait for its replicas must not stop
/// before its last write. Redis's own tests and ours read it that way.
#[test]
fn master_repl_offset_covers_every_answered_write() {
    for shards in [2, 1] {
        offsets_cover_answered_writes(shards);
    }
}

fn offsets_cover_answered_writes(shards: usize) {
    let master = Server::start(shards, &["--repl-diskless-sync-delay", "0"]);
    let _replicas = [RawReplica::attach(master.port), RawReplica::attach(master.port)];
    let (mut writer, mut reader) = (master.conn(), master.conn());
    let mut before = info_u64(&mut reader, "replication", "master_repl_offset");
    for i in 0..3000 {
        let (key, val) = (format!("offset:{i}"), format!("v{i}"));
        // Half of the writes from the reading connection itself, half from another.
        let c = if i % 2 == 0 { &mut writer } else { &mut reader };
        redis::cmd("SET").arg(&key).arg(&val).query::<()>(c).unwrap();
        let len = common::encode_cmd(&["SET", key.as_str(), val.as_str()]).len() as u64;
        let after = if i % 3 == 0 {
            let role: (String, u64, Vec<redis::Value>) = redis::cmd("ROLE").query(&mut reader).unwrap();
            assert_eq!(role.0, "master");
            role.1
        } else {
            info_u64(&mut reader, "replication", "master_repl_offset")
        };
        assert!(
            after >= before + len,
            "{shards} shards: write {i} ({key}) was answered but the offset moved {} bytes, not at least {len}",
            after as i64 - before as i64
        );
        before = after;
    }
    // In one pipeline: a SET answered before ROLE (on either shard, often in the same
    // turn as ROLE) is counted by ROLE, and INFO after them never shows less.
    for i in 0..300 {
        let (key, val) = (format!("piped:{i}"), format!("v{i}"));
        let len = common::encode_cmd(&["SET", key.as_str(), val.as_str()]).len() as u64;
        let (role, info): ((String, u64, Vec<redis::Value>), String) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(&val)
            .ignore()
            .cmd("ROLE")
            .cmd("INFO")
            .arg("replication")
            .query(&mut reader)
            .unwrap();
        assert!(
            role.1 >= before + len,
            "{shards} shards: pipelined write {i}: ROLE's offset moved {} bytes, not at least {len}",
            role.1 as i64 - before as i64
        );
        let after = common::repl::parse_info(&info)["master_repl_offset"].parse::<u64>().unwrap();
        assert!(after >= role.1, "INFO's offset {after} is behind ROLE's {}", role.1);
        before = after;
    }
}

impl RawReplica {
    /// Reads the stream up to and including `SET end 1`; returns the commands, with
    /// PING (the master's heartbeat) left out and millisecond times (13 digits) as
    /// `<ms>`, so two masters' streams compare.
    pub(crate) fn read_until_end(&mut self) -> Vec<String> {
        let (mut buf, mut out) = (Vec::new(), Vec::new());
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = self.r.read(&mut chunk).expect("the stream keeps coming");
            assert!(n > 0, "the master closed the link");
            buf.extend_from_slice(&chunk[..n]);
            let (cmds, used) = parse_stream(&buf);
            buf.drain(..used);
            for c in cmds {
                let shown: Vec<String> = c
                    .iter()
                    .map(|a| {
                        let s = String::from_utf8_lossy(a).into_owned();
                        if s.len() == 13 && s.bytes().all(|b| b.is_ascii_digit()) { "<ms>".into() } else { s }
                    })
                    .collect();
                let line = shown.join(" ");
                if line.eq_ignore_ascii_case("ping") {
                    continue;
                }
                let end = line == "SET end 1" || line == "set end 1";
                out.push(line);
                if end {
                    return out;
                }
            }
        }
    }
}

/// Stream lines with the command name lower-cased and the arguments as they are (Redis
/// logs some commands in the client's case, shardis in capitals).
fn names_lowered(v: Vec<String>) -> Vec<String> {
    v.into_iter()
        .map(|l| match l.split_once(' ') {
            Some((name, rest)) => format!("{} {rest}", name.to_ascii_lowercase()),
            None => l.to_ascii_lowercase(),
        })
        .collect()
}

/// The stream shardis sends for `script`, with 1 and with 4 shards, is redis-server's
/// (lower-cased), and one of Redis's lines passes `premise` (what the test is about).
fn same_stream_as_redis(real_port: u16, script: &[Vec<&str>], premise: impl Fn(&str) -> bool) {
    let lower = |v: Vec<String>| v.into_iter().map(|l| l.to_ascii_lowercase()).collect::<Vec<_>>();
    let want = lower(stream_of(real_port, script));
    assert!(want.iter().any(|l| premise(l)), "{want:?}");
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        assert_eq!(lower(stream_of(s.port, script)), want, "{shards} shard(s)");
    }
}

/// What a raw replica attached to `port` receives while `script` runs there, up to the
/// final `SET end` (each line a command of the stream).
pub(crate) fn stream_of(port: u16, script: &[Vec<&str>]) -> Vec<String> {
    let mut rep = RawReplica::attach(port);
    let mut c = common::raw_to(port);
    for args in script {
        c.cmd(args);
    }
    rep.read_until_end()
}

/// What a replica receives for FLUSHALL and SWAPDB (under the client's SELECT, no
/// `SELECT 0` first), MULTI (after its first command's SELECT), SET with PXAT (rewritten to `SET k v PXAT ms` like every other
/// expiry option) and SET ... GET (without its GET) is what Redis 7.0 sends, byte for
/// byte. Redis's own suite reads these streams (`assert_replication_stream`).
#[test]
fn flush_swapdb_and_set_go_out_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-shape");
    let future_ms =
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 100_000).to_string();
    let script: Vec<Vec<&str>> = vec![
        vec!["select", "1"],
        vec!["rpush", "k", "hello"],
        vec!["swapdb", "1", "9"],
        vec!["set", "a", "b", "get"],
        vec!["set", "a", "c", "xx", "GET", "keepttl"],
        vec!["set", "foo1", "bar", "ex", "200"],
        vec!["set", "foo1", "bar", "pxat", &future_ms],
        vec!["set", "foo1", "bar", "PXAT", &future_ms, "get"],
        vec!["flushall"],
        vec!["select", "3"],
        vec!["multi"],
        vec!["set", "m1", "1"],
        vec!["get", "m1"],
        vec!["set", "m2", "2"],
        vec!["exec"],
        vec!["select", "2"],
        vec!["flushall", "ASYNC"],
        vec!["set", "end", "1"],
    ];
    let want = stream_of(real.port, &script);
    let s = Server::start(1, &[]);
    let got = stream_of(s.port, &script);
    // Redis logs FLUSHALL and SWAPDB in the client's case, shardis in capitals: the
    // command name compares case-insensitively, its arguments exactly (PXAT).
    let lower = names_lowered;
    assert_eq!(lower(got), lower(want));
}

/// PEXPIREAT to a time already past deletes the key and goes down the stream as a DEL
/// (a replica applying the PEXPIREAT itself would keep the key, expired but present);
/// an approximate MINID trim that empties a stream is sent as MINID = the largest ID,
/// which trims everything on replay (0-0 would trim nothing). Found by the diff
/// generators' redis-server replica (`common::diff`).
#[test]
fn past_pexpireat_and_an_emptying_minid_trim_go_out_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-past-expire");
    let script: Vec<Vec<&str>> = vec![
        vec!["select", "1"],
        vec!["hset", "zz", "f", "v"],
        vec!["pexpireat", "zz", "0"],
        vec!["set", "k", "v"],
        vec!["pexpireat", "k", "4000000000000", "nx"],
        vec!["xadd", "u", "0-2", "h", "v"],
        vec!["xtrim", "u", "minid", "~", "8-0"],
        vec!["xadd", "w", "1-1", "h", "v"],
        vec!["xadd", "w", "minid", "~", "9-0", "2-1", "h", "v"],
        vec!["set", "end", "1"],
    ];
    same_stream_as_redis(real.port, &script, |l| l.starts_with("del zz"));
}

/// A script's FLUSHDB / FLUSHALL (one shard) goes down the stream inside the script's
/// MULTI/EXEC between its other writes, as Redis 7.0 sends it.
#[test]
fn a_scripts_flushes_go_down_the_stream_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-script-flush");
    let body = "redis.call('set', 'a', '1') redis.call(ARGV[1]) redis.call('set', 'b', '2')";
    let script: Vec<Vec<&str>> = vec![
        vec!["select", "2"],
        vec!["eval", body, "0", "flushdb"],
        vec!["eval", "redis.call('flushall')", "0"],
        vec!["eval", body, "0", "flushall"],
        vec!["set", "end", "1"],
    ];
    let lower = names_lowered;
    let want = lower(stream_of(real.port, &script));
    let s = Server::start(1, &[]);
    assert_eq!(lower(stream_of(s.port, &script)), want);
}

/// A transaction whose only writes come from commands without the write flag (EVAL,
/// FCALL, a read's lazy-expiry DEL) reaches replicas and the AOF as in Redis ("MULTI
/// propagation of EVAL"); shardis dropped it: its staged part was never committed,
/// because no queued command had the write flag (an acknowledged write lost on the
/// replica and at restart).
#[test]
fn a_transaction_of_scripts_alone_is_propagated_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-eval-multi");
    let script: Vec<Vec<&str>> = vec![
        vec!["select", "2"],
        vec!["multi"],
        vec!["eval", "redis.call('set', KEYS[1], 'bar')", "1", "bar"],
        vec!["exec"],
        vec!["multi"],
        vec!["eval", "redis.call('set', KEYS[1], 'x') redis.call('incr', KEYS[2])", "2", "{t}a", "{t}b"],
        vec!["eval_ro", "return redis.call('get', KEYS[1])", "1", "{t}a"],
        vec!["exec"],
        vec!["set", "end", "1"],
    ];
    let want = stream_of(real.port, &script);
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        assert_eq!(stream_of(s.port, &script), want, "{shards} shard(s)");
    }
}

/// SCAN deletes the expired keys it meets, as Redis 7.0's does (`expireIfNeeded` on
/// each key it would return): each goes to replicas as a plain DEL (not wrapped in
/// MULTI/EXEC) and counts in `expired_keys` ("SCAN: Lazy-expire should not be wrapped in
/// MULTI/EXEC"); shardis skipped them and left them in place.
#[test]
fn scan_expires_what_it_meets_as_redis() {
    let real = common::compare::real_redis("repl-stream-scan-expire");
    let server_ms = |c: &mut common::Raw| match c.cmd(&["time"]) {
        Resp::Array(v) => match (&v[0], &v[1]) {
            (Resp::Bulk(s), Resp::Bulk(us)) => {
                let s: u64 = String::from_utf8_lossy(s).parse().unwrap();
                let us: u64 = String::from_utf8_lossy(us).parse().unwrap();
                s * 1000 + us / 1000
            }
            _ => panic!("time"),
        },
        _ => panic!("time"),
    };
    let run = |port: u16| {
        let mut c = common::raw_to(port);
        c.cmd(&["debug", "set-active-expire", "0"]);
        c.cmd(&["flushall"]);
        c.cmd(&["config", "resetstat"]);
        c.cmd(&["set", "live", "1"]);
        let mut rep = RawReplica::attach(port);
        c.cmd(&["select", "0"]);
        let at = server_ms(&mut c) + 20;
        for k in ["foo1", "foo2", "foo3"] {
            c.cmd(&["set", k, "bar", "pxat", &at.to_string()]);
        }
        assert!(common::wait_until(Duration::from_secs(5), || server_ms(&mut c) > at));
        let mut keys = match c.cmd(&["scan", "0", "count", "100"]) {
            Resp::Array(v) => match &v[1] {
                Resp::Array(k) => k.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        keys.sort_by_key(|k| format!("{k:?}"));
        let dbsize = c.cmd(&["dbsize"]);
        let info = match c.cmd(&["info", "stats"]) {
            Resp::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("{other:?}"),
        };
        let expired = info.lines().find(|l| l.starts_with("expired_keys:")).unwrap().to_string();
        c.cmd(&["set", "end", "1"]);
        let mut stream: Vec<String> =
            rep.read_until_end().into_iter().filter(|l| !l.to_ascii_lowercase().starts_with("set ")).collect();
        stream.sort();
        c.cmd(&["debug", "set-active-expire", "1"]);
        (keys, dbsize, expired, stream)
    };
    let want = run(real.port);
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        assert_eq!(run(s.port), want, "{shards} shard(s)");
    }
}

/// PUBLISH and SPUBLISH go down the replication stream as Redis 7.0 sends them (not
/// to the AOF): under the client's SELECT, in order with the writes around them, a
/// transaction holding only a PUBLISH as the bare command, one with a write as
/// MULTI ... EXEC ("MULTI propagation of PUBLISH"). shardis sent none of them, so a
/// replica's subscribers never got the master's messages.
#[test]
fn publish_goes_down_the_stream_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-publish");
    let plain: Vec<Vec<&str>> = vec![
        vec!["select", "2"],
        vec!["publish", "a", "b"],
        vec!["set", "x", "1"],
        vec!["multi"],
        vec!["publish", "bla", "bla"],
        vec!["exec"],
        vec!["spublish", "s", "m"],
        vec!["select", "0"],
        vec!["publish", "e", "f"],
        vec!["set", "end", "1"],
    ];
    // A transaction's PUBLISHes between writes on other shards, in queued order.
    let mixed: Vec<Vec<&str>> = vec![
        vec!["multi"],
        vec!["publish", "q", "w"],
        vec!["set", "y", "1"],
        vec!["publish", "q", "w2"],
        vec!["exec"],
        vec!["set", "end", "1"],
    ];
    let lower = |v: Vec<String>| v.into_iter().map(|l| l.to_ascii_lowercase()).collect::<Vec<_>>();
    let (want_plain, want_mixed) = (lower(stream_of(real.port, &plain)), lower(stream_of(real.port, &mixed)));
    assert!(want_plain.iter().any(|l| l == "publish e f"), "{want_plain:?}");
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        assert_eq!(lower(stream_of(s.port, &plain)), want_plain, "{shards} shard(s)");
        assert_eq!(lower(stream_of(s.port, &mixed)), want_mixed, "{shards} shard(s)");
    }
}

/// PUBLISH run by a script (Redis 7.0 allows it) goes down the stream among the
/// script's effects, inside their MULTI/EXEC, in the order the script ran them; a
/// script that only publishes sends the PUBLISH alone. shardis refused it (`This Redis
/// command is not allowed from script`).
#[test]
fn a_scripts_publish_goes_down_the_stream_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-script-publish");
    let script: Vec<Vec<&str>> = vec![
        vec!["eval", "redis.call('set', KEYS[1], '1'); return redis.call('publish', 'ch', 'hi')", "1", "a"],
        vec!["eval", "return redis.call('publish', 'ch', 'only')", "0"],
        vec!["select", "2"],
        vec!["eval", "redis.call('spublish', 'sch', 'first'); redis.call('incr', KEYS[1])", "1", "b"],
        vec!["eval", "redis.call('publish', 'ch', 'a'); redis.call('publish', 'ch', 'b')", "0"],
        vec!["multi"],
        vec!["eval", "return redis.call('publish', 'ch', 'in-multi')", "0"],
        vec!["set", "c", "3"],
        vec!["exec"],
        vec!["set", "end", "1"],
    ];
    same_stream_as_redis(real.port, &script, |l| l == "publish ch only");
}

/// A MULTI whose commands run on several shards goes down the stream as one MULTI/EXEC
/// in the order the client queued them, as Redis sends it (a replica's keyspace events
/// and MONITOR follow that order). shardis sent each shard's part in turn (with 4
/// shards: `SET b` first, then `SET a`, `INCR a`).
#[test]
fn a_multi_over_shards_goes_down_the_stream_in_queued_order_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-multi-order");
    // a, b, c and y sit on four different shards of four.
    let script: Vec<Vec<&str>> = vec![
        vec!["multi"],
        vec!["set", "a", "1"],
        vec!["set", "b", "2"],
        vec!["incr", "a"],
        vec!["set", "c", "3"],
        vec!["select", "3"],
        vec!["set", "b", "4"],
        vec!["publish", "x", "y"],
        vec!["eval", "redis.call('set', KEYS[1], 1); redis.call('publish', 'q', 'w')", "1", "y"],
        vec!["rpush", "c", "x"],
        vec!["exec"],
        vec!["set", "end", "1"],
    ];
    same_stream_as_redis(real.port, &script, |l| l == "incr a");
}

/// Commands inside a MULTI whose keys span shards (MSET, DEL, RENAME, SMOVE, LMOVE,
/// SINTERSTORE, COPY ...) go down the stream as Redis sends them: the command itself
/// (rewritten as on one keyspace: `SET ... PXAT`), nothing for one that changed nothing.
/// shardis sent each key's final state (`DEL a`, `SET a 1`, `DEL b`, ...), which a
/// replica replays to the same data but which its MONITOR, keyspace events and a reader
/// of the stream see differently.
#[test]
fn a_multi_key_write_over_shards_in_a_multi_goes_down_the_stream_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-multi-mset");
    // a, b, c and y sit on four different shards of four.
    let script: Vec<Vec<&str>> = vec![
        vec!["sadd", "c", "m1", "m2"],
        vec!["rpush", "y", "e1", "e2"],
        vec!["multi"],
        vec!["set", "x", "1"],
        vec!["mset", "a", "1", "b", "2", "c2", "3", "y2", "4"],
        vec!["msetnx", "a", "9", "zz", "9"],
        vec!["del", "a", "b", "nosuch"],
        vec!["del", "nosuch1", "nosuch2"],
        vec!["smove", "c", "b", "m1"],
        vec!["lmove", "y", "a", "left", "right"],
        vec!["sinterstore", "c", "b", "c"],
        vec!["rename", "c2", "y2"],
        vec!["copy", "y2", "b2"],
        vec!["incr", "x"],
        vec!["exec"],
        vec!["set", "end", "1"],
    ];
    same_stream_as_redis(real.port, &script, |l| l.starts_with("mset a 1 b 2"));
}

/// A SWAPDB that brings an expired key to a blocked BRPOP's db deletes the key when it
/// looks for the waiter (Redis's lazy expiry): the `DEL` goes down the stream and
/// `expired_keys` counts it at once, and the client stays blocked ("SWAPDB wants to
/// wake blocked client, but the key already expired"). shardis deleted it but sent and
/// counted it only with a later command on that shard.
#[test]
fn a_blocked_pops_expired_key_is_deleted_at_once_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-swapdb-expired");
    let run = |port: u16| -> Vec<String> {
        let mut rep = RawReplica::attach(port);
        let mut c = common::raw_to(port);
        let mut out = Vec::new();
        for args in
            [&["flushall"][..], &["debug", "set-active-expire", "0"], &["select", "1"], &["rpush", "k", "hello"]]
        {
            out.push(format!("{:?}", c.cmd(args)));
        }
        let mut b = common::raw_to(port);
        b.cmd(&["select", "9"]);
        let Resp::Int(id) = b.cmd(&["client", "id"]) else { panic!("CLIENT ID") };
        b.send(&common::encode_cmd(&["brpop", "k", "0"]));
        assert!(common::wait_until(Duration::from_secs(10), || {
            raw_info(&mut c, "clients", "blocked_clients") == "1"
        }));
        // Expires 30 ms from now; waited for by the clock, not by a read (which would
        // delete it).
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 30;
        out.push(format!("{:?}", c.cmd(&["pexpireat", "k", &at.to_string()])));
        assert!(common::wait_until(Duration::from_secs(5), || {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() > at + 5
        }));
        out.push(format!("{:?}", c.cmd(&["swapdb", "1", "9"])));
        out.push(raw_info(&mut c, "stats", "expired_keys"));
        out.push(raw_info(&mut c, "clients", "blocked_clients"));
        out.push(format!("{:?}", c.cmd(&["client", "unblock", &id.to_string()])));
        out.push(format!("{:?}", b.read()));
        c.cmd(&["debug", "set-active-expire", "1"]);
        c.cmd(&["select", "0"]);
        c.cmd(&["set", "end", "1"]);
        out.extend(rep.read_until_end().into_iter().map(|l| l.to_ascii_lowercase()));
        out
    };
    let want = run(real.port);
    assert!(want.iter().any(|l| l == "del k"), "{want:?}");
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        assert_eq!(run(s.port), want, "{shards} shard(s)");
    }
}

/// BLMPOP that finds data at once goes down the stream as the pop it did (`LPOP key n`,
/// `RPOP key n`), as LMPOP does and Redis sends it ("BLMPOP propagate as pop with count
/// command to replica"); shardis sent the BLMPOP itself.
#[test]
fn blmpop_served_at_once_goes_down_the_stream_as_a_pop_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-blmpop");
    let script: Vec<Vec<&str>> = vec![
        vec!["lpush", "mylist{t}", "a", "b", "c"],
        vec!["rpush", "mylist2{t}", "1", "2", "3"],
        vec!["blmpop", "0", "1", "mylist{t}", "left", "count", "1"],
        vec!["blmpop", "0", "2", "mylist{t}", "mylist2{t}", "right", "count", "10"],
        vec!["blmpop", "0", "2", "mylist{t}", "mylist2{t}", "right", "count", "10"],
        vec!["lmpop", "2", "mylist{t}", "mylist2{t}", "left"],
        vec!["set", "end", "1"],
    ];
    same_stream_as_redis(real.port, &script, |l| l == "lpop mylist{t} 1");
}

/// INFO field `name` of `section`, read over a raw connection.
pub(crate) fn raw_info(c: &mut common::Raw, section: &str, name: &str) -> String {
    let Resp::Bulk(b) = c.cmd(&["info", section]) else { panic!("INFO") };
    let text = String::from_utf8_lossy(&b).into_owned();
    let prefix = format!("{name}:");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_default().trim().to_string()
}

/// A multi-key command over shards expires only the keys it reads, as Redis's lookups
/// do: `PFCOUNT list expired...` answers WRONGTYPE at the list and leaves the later
/// expired keys alone (in DBSIZE, `expired_keys` and the stream), RENAME expires its
/// source only, SMOVE both its keys. shardis's cross-shard gather expired every key
/// it gathered first (random generator, seed 1186), and SMOVE of a missing source left
/// its destination unexpired on one shard too. (One command expiring two keys is left
/// out: Redis 7.0 wraps those DELs in MULTI/EXEC, shardis does not.)
#[test]
fn a_command_over_shards_expires_only_what_it_reads_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-gather-expire");
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let run = |port: u16| {
        let mut c = common::raw_to(port);
        c.cmd(&["debug", "set-active-expire", "0"]);
        c.cmd(&["flushall"]);
        c.cmd(&["config", "resetstat"]);
        // a, b, c and y sit on four different shards of four.
        c.cmd(&["rpush", "a", "e"]);
        c.cmd(&["sadd", "c", "m"]);
        let mut rep = RawReplica::attach(port);
        let at = now_ms() + 30;
        for k in ["b", "y", "b2", "y2", "c2", "a2"] {
            c.cmd(&["set", k, "v", "pxat", &at.to_string()]);
        }
        // Waited for by the clock, not by a read (which would expire them).
        assert!(common::wait_until(Duration::from_secs(5), || now_ms() > at + 5));
        let mut out = Vec::new();
        for args in [
            &["pfcount", "a", "b", "y"][..],
            &["sinter", "a", "b2"],
            &["sunionstore", "x", "c", "a", "y2"],
            &["zunionstore", "x", "2", "a", "c2"],
            &["dbsize"],
            &["rename", "b", "y"],
            &["smove", "nosuch", "a2", "m"],
            &["smove", "y2", "c", "m"],
            &["dbsize"],
        ] {
            out.push(format!("{args:?} {:?}", c.cmd(args)));
        }
        out.push(raw_info(&mut c, "stats", "expired_keys"));
        c.cmd(&["set", "end", "1"]);
        let mut stream: Vec<String> = rep
            .read_until_end()
            .into_iter()
            .map(|l| l.to_ascii_lowercase())
            .filter(|l| !l.starts_with("set ") && l != "select 0")
            .collect();
        // Deletions on different shards reach the stream in no promised order.
        stream.sort();
        out.extend(stream);
        c.cmd(&["debug", "set-active-expire", "1"]);
        out
    };
    let want = run(real.port);
    assert!(want.iter().any(|l| l == "del y2"), "{want:?}");
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        assert_eq!(run(s.port), want, "{shards} shard(s)");
    }
}

/// A write over shards outside MULTI goes down the stream as the command Redis sends:
/// one `mset` (not a MULTI of per-shard MSETs), `msetnx`, `smove`, `lmove`, `rename`
/// as they were sent, so a replica (whatever its shard count), MONITOR on it and a
/// reader of the stream see Redis's stream.
#[test]
fn a_multi_key_write_over_shards_goes_down_the_stream_as_the_command_as_in_redis() {
    let real = common::compare::real_redis("repl-stream-mset-alone");
    // a, b, c and y sit on four different shards of four.
    let script: Vec<Vec<&str>> = vec![
        vec!["sadd", "c", "m1", "m2"],
        vec!["rpush", "y", "e1", "e2"],
        vec!["mset", "a", "1", "b", "2", "c2", "3", "y2", "4"],
        vec!["msetnx", "a", "9", "zz", "9"],
        vec!["msetnx", "a3", "9", "zz", "9"],
        vec!["smove", "c", "b3", "m1"],
        vec!["lmove", "y", "a4", "left", "right"],
        vec!["rename", "c2", "y3"],
        vec!["set", "end", "1"],
    ];
    same_stream_as_redis(real.port, &script, |l| l.starts_with("mset a 1 b 2"));
}
