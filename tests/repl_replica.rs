//! shardis as a replica: of a real redis-server 7.0 under a write load (the datasets
//! end equal, by DEBUG DIGEST and key by key), with 1 and 4 shards, both transfer
//! formats (`$<len>` from disk, `$EOF:` diskless); READONLY, MASTERDOWN and
//! NOMASTERLINK (no sub-replica sync while the link is down); reads
//! served from the old dataset while a sync is in progress; REPLICAOF NO ONE; a partial
//! resync after the master killed the link; the `replicaof` directive and CONFIG
//! REWRITE.

use crate::common;

use common::{Rng, Server, spawn_redis_server, temp_dir, wait_until};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// A redis-server master on a free port, killed on drop.
struct Master {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Master {
    fn start(extra: &[&str]) -> Master {
        let dir = temp_dir("redis-master");
        let mut args = vec!["--dir", dir.to_str().unwrap(), "--enable-debug-command", "yes"];
        args.extend_from_slice(extra);
        let ready = |port: u16| {
            redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .is_ok_and(|mut c| redis::cmd("PING").query::<String>(&mut c).is_ok())
        };
        let (child, port) = spawn_redis_server(&args, ready).expect("redis-server starts");
        Master { child, port, dir }
    }

    fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap().get_connection().unwrap()
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(|v| v.trim().to_string()))
}

fn link_up(c: &mut redis::Connection) -> bool {
    info_field(c, "replication", "master_link_status").as_deref() == Some("up")
}

/// Waits until the replica applied everything the master has sent.
fn wait_caught_up(master: &mut redis::Connection, replica: &mut redis::Connection) {
    let ok = wait_until(LONG, || {
        let m = info_field(master, "replication", "master_repl_offset");
        let r = info_field(replica, "replication", "slave_repl_offset");
        m.is_some() && m == r
    });
    assert!(
        ok,
        "replica never caught up: master {:?}, replica {:?}",
        info_field(master, "replication", "master_repl_offset"),
        info_field(replica, "replication", "slave_repl_offset")
    );
}

type Dataset = BTreeMap<(u32, Vec<u8>), (String, Vec<Vec<u8>>, bool)>;

/// Every key of databases 0..3 with its type, contents (sorted where unordered) and
/// whether it has a TTL.
fn dataset(c: &mut redis::Connection) -> Dataset {
    let mut out = BTreeMap::new();
    for db in 0..3u32 {
        let _: () = redis::cmd("SELECT").arg(db).query(c).unwrap();
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).unwrap();
        for k in keys {
            let t: String = redis::cmd("TYPE").arg(&k).query(c).unwrap();
            let mut v: Vec<Vec<u8>> = match t.as_str() {
                "string" => vec![redis::cmd("GET").arg(&k).query(c).unwrap()],
                "list" => redis::cmd("LRANGE").arg(&k).arg(0).arg(-1).query(c).unwrap(),
                "set" => redis::cmd("SMEMBERS").arg(&k).query(c).unwrap(),
                "hash" => redis::cmd("HGETALL").arg(&k).query(c).unwrap(),
                "zset" => redis::cmd("ZRANGE").arg(&k).arg(0).arg(-1).arg("WITHSCORES").query(c).unwrap(),
                "none" => continue,
                other => panic!("unexpected type {other}"),
            };
            if t == "set" {
                v.sort();
            }
            if t == "hash" {
                let mut pairs: Vec<Vec<Vec<u8>>> = v.chunks(2).map(|p| p.to_vec()).collect();
                pairs.sort();
                v = pairs.concat();
            }
            let pttl: i64 = redis::cmd("PTTL").arg(&k).query(c).unwrap();
            out.insert((db, k), (t, v, pttl >= 0));
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(c).unwrap();
    out
}

fn digest(c: &mut redis::Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(c).unwrap()
}

fn assert_same(master: &mut redis::Connection, replica: &mut redis::Connection) {
    let (want, got) = (dataset(master), dataset(replica));
    assert!(want.len() > 50, "the load left too few keys to compare: {}", want.len());
    if want != got {
        let diff: Vec<_> = want
            .keys()
            .chain(got.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| want.get(*k) != got.get(*k))
            .take(20)
            .map(|k| (k, want.get(k), got.get(k)))
            .collect();
        panic!("datasets differ (key, master, replica): {diff:#?}");
    }
    assert_eq!(digest(replica), digest(master), "DEBUG DIGEST differs");
}

/// A mixed write load on the master: single-key writes on every type, MSET across
/// shards, MULTI/EXEC, short and long TTLs, SELECT, SWAPDB and one FLUSHALL.
fn write_load(port: u16, seed: u64, batches: usize) {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
    let mut rng = Rng::new(seed);
    for b in 0..batches {
        let mut p = redis::pipe();
        for _ in 0..25 {
            let k = format!("k{}", rng.below(300));
            let v = format!("v{}", rng.below(1_000_000));
            match rng.below(16) {
                0 | 1 => p.cmd("SET").arg(&k).arg(&v).ignore(),
                2 => p.cmd("INCR").arg(format!("n{}", rng.below(20))).ignore(),
                3 => p
                    .cmd("MSET")
                    .arg(format!("a{}", rng.below(100)))
                    .arg(&v)
                    .arg(format!("b{}", rng.below(100)))
                    .arg(&v)
                    .arg(format!("c{}", rng.below(100)))
                    .arg(&v)
                    .ignore(),
                4 => {
                    p.cmd("SET").arg(format!("t{}", rng.below(100))).arg(&v).arg("PX").arg(50 + rng.below(400)).ignore()
                }
                5 => p.cmd("EXPIRE").arg(&k).arg(100_000 + rng.below(1000)).ignore(),
                6 => p.cmd("RPUSH").arg(format!("l{}", rng.below(20))).arg(&v).ignore(),
                7 => {
                    p.cmd("HSET").arg(format!("h{}", rng.below(20))).arg(format!("f{}", rng.below(10))).arg(&v).ignore()
                }
                8 => p.cmd("SADD").arg(format!("s{}", rng.below(20))).arg(rng.below(50)).ignore(),
                9 => p.cmd("ZADD").arg(format!("z{}", rng.below(20))).arg(rng.below(100)).arg(&v).ignore(),
                10 => p.cmd("DEL").arg(&k).ignore(),
                11 => p.cmd("APPEND").arg(&k).arg("x").ignore(),
                12 => p.cmd("LPOP").arg(format!("l{}", rng.below(20))).ignore(),
                13 => p.cmd("GETEX").arg(&k).arg("PX").arg(100 + rng.below(300)).ignore(),
                14 => p.cmd("SELECT").arg(1).cmd("SET").arg(&k).arg(&v).cmd("SELECT").arg(0).ignore(),
                _ => p.cmd("SPOP").arg(format!("s{}", rng.below(20))).ignore(),
            };
        }
        let _: () = p.query(&mut c).unwrap();
        // A transaction over keys of several shards.
        let _: () = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(format!("x{}", rng.below(50)))
            .arg(b)
            .ignore()
            .cmd("INCRBY")
            .arg(format!("y{}", rng.below(50)))
            .arg(3)
            .ignore()
            .cmd("LPUSH")
            .arg(format!("q{}", rng.below(10)))
            .arg(b)
            .ignore()
            .query(&mut c)
            .unwrap();
        if b % 40 == 39 {
            let _: () = redis::cmd("SWAPDB").arg(0).arg(1).query(&mut c).unwrap();
        }
        if batches >= 40 && b == batches / 2 {
            let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
        }
    }
    // Wait for every short TTL to pass, then have the master delete the expired keys
    // (SCAN expires what it meets) so their DELs reach the replica.
    let _: () = redis::cmd("SET").arg("ttl-fence").arg(1).arg("PX").arg(600).query(&mut c).unwrap();
    assert!(wait_until(LONG, || redis::cmd("EXISTS").arg("ttl-fence").query::<i64>(&mut c).unwrap() == 0));
    for db in 0..3 {
        let _: () = redis::cmd("SELECT").arg(db).query(&mut c).unwrap();
        let mut cursor = 0u64;
        loop {
            let (next, _): (u64, Vec<Vec<u8>>) =
                redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(1000).query(&mut c).unwrap();
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
}

fn replica_of_redis_under_load(shards: usize, master_flags: &[&str]) {
    let master = Master::start(master_flags);
    let mut mc = master.conn();
    // Some data before the sync, some written while it runs.
    write_load(master.port, 1, 10);
    let replica = Server::start(shards, &[]);
    let mut rc = replica.conn();
    let _: () = redis::cmd("SET").arg("stale").arg("old").query(&mut rc).unwrap();
    let port = master.port;
    let load = std::thread::spawn(move || write_load(port, 2, 120));
    let ok: String = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(master.port).query(&mut rc).unwrap();
    assert_eq!(ok, "OK");
    assert!(wait_until(LONG, || link_up(&mut rc)), "link never came up: {:?}", replica.log.lock().unwrap());
    load.join().unwrap();
    wait_caught_up(&mut mc, &mut rc);
    assert_same(&mut mc, &mut rc);
    let n: i64 = redis::cmd("EXISTS").arg("stale").query(&mut rc).unwrap();
    assert_eq!(n, 0, "the replica's old data is gone after the full sync");
    replica.assert_logged(&[
        "Before turning into a replica, using my own master parameters to synthesize a cached master",
        &format!("Connecting to MASTER 127.0.0.1:{}", master.port),
        "MASTER <-> REPLICA sync started",
        "Master replied to PING, replication can continue...",
        "Full resync from master: ",
        "Discarding previously cached master state.",
        "MASTER <-> REPLICA sync: Flushing old data",
        "MASTER <-> REPLICA sync: Loading DB in memory",
        "MASTER <-> REPLICA sync: Finished with success",
    ]);
    // What the replica reports matches what the master sees.
    let role: redis::Value = redis::cmd("ROLE").query(&mut rc).unwrap();
    let redis::Value::Array(items) = role else { panic!("ROLE: {role:?}") };
    assert_eq!(items[0], redis::Value::BulkString(b"slave".to_vec()));
    assert_eq!(items[3], redis::Value::BulkString(b"connected".to_vec()));
    let slaves = info_field(&mut mc, "replication", "connected_slaves");
    assert_eq!(slaves.as_deref(), Some("1"));
    // WAIT on the master is answered through REPLCONF GETACK / ACK.
    let _: () = redis::cmd("SET").arg("waited").arg(1).query(&mut mc).unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(20_000).query(&mut mc).unwrap();
    assert_eq!(acked, 1);
}

#[test]
fn replica_of_redis_diskless_one_shard() {
    replica_of_redis_under_load(1, &["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]);
}

#[test]
fn replica_of_redis_from_disk_four_shards() {
    replica_of_redis_under_load(4, &["--repl-diskless-sync", "no"]);
}

#[test]
fn replica_of_redis_diskless_four_shards_diskless_load() {
    let master = Master::start(&["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]);
    let mut mc = master.conn();
    write_load(master.port, 3, 20);
    let replica = Server::start(4, &["--repl-diskless-load", "swapdb"]);
    let mut rc = replica.conn();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(master.port).query(&mut rc).unwrap();
    assert!(wait_until(LONG, || link_up(&mut rc)));
    write_load(master.port, 4, 20);
    wait_caught_up(&mut mc, &mut rc);
    assert_same(&mut mc, &mut rc);
}

/// A port where nothing listens.
fn dead_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn readonly_and_masterdown() {
    let replica = Server::start(2, &[]);
    let mut rc = replica.conn();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut rc).unwrap();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(dead_port()).query(&mut rc).unwrap();
    let err = redis::cmd("SET").arg("k").arg("w").query::<()>(&mut rc).unwrap_err();
    assert!(err.to_string().contains("You can't write against a read only replica."), "{err}");
    let mut raw = replica.raw();
    assert_eq!(raw.cmd(&["SET", "k", "w"]), common::Resp::err("READONLY You can't write against a read only replica."));
    // Inside MULTI the refused write aborts EXEC.
    assert_eq!(raw.cmd(&["MULTI"]), common::Resp::simple("OK"));
    assert!(matches!(raw.cmd(&["INCR", "n"]), common::Resp::Error(e) if e.starts_with("READONLY")));
    assert!(matches!(raw.cmd(&["EXEC"]), common::Resp::Error(e) if e.starts_with("EXECABORT")));
    // Reads still work from the stale data.
    assert_eq!(raw.cmd(&["GET", "k"]), common::Resp::bulk("v"));
    assert_eq!(info_field(&mut rc, "replication", "master_link_status").as_deref(), Some("down"));
    // A sub-replica is not served from a replica whose link is down (Redis's rule).
    assert_eq!(
        replica.raw().cmd(&["PSYNC", "?", "-1"]),
        common::Resp::err("NOMASTERLINK Can't SYNC while not connected with my master")
    );
    assert!(info_field(&mut rc, "replication", "master_link_down_since_seconds").is_some());
    // replica-serve-stale-data no: MASTERDOWN for data commands, INFO still answers.
    assert_eq!(raw.cmd(&["CONFIG", "SET", "replica-serve-stale-data", "no"]), common::Resp::simple("OK"));
    assert!(wait_until(LONG, || {
        raw.cmd(&["GET", "k"])
            == common::Resp::err("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")
    }));
    assert!(matches!(raw.cmd(&["INFO", "replication"]), common::Resp::Bulk(_)));
    // replica-read-only no lets clients write.
    assert_eq!(raw.cmd(&["CONFIG", "SET", "replica-serve-stale-data", "yes"]), common::Resp::simple("OK"));
    assert_eq!(raw.cmd(&["CONFIG", "SET", "replica-read-only", "no"]), common::Resp::simple("OK"));
    assert!(wait_until(LONG, || raw.cmd(&["SET", "k", "w"]) == common::Resp::simple("OK")));
    assert_eq!(raw.cmd(&["REPLICAOF", "127.0.0.1", "99999"]), common::Resp::err("ERR Invalid master port"));
    assert_eq!(raw.cmd(&["REPLICAOF", "NO", "ONE"]), common::Resp::simple("OK"));
}

/// A fake master that answers the handshake, starts a full resync, then sends only
/// keepalive newlines (`stall`) or a truncated RDB and closes. Returns the number of
/// connections it saw.
fn fake_master(listener: TcpListener, truncate: bool, conns: std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    listener.set_nonblocking(false).unwrap();
    for s in listener.incoming() {
        let Ok(s) = s else { return };
        conns.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = serve_fake(s, truncate);
    }
}

fn serve_fake(mut s: TcpStream, truncate: bool) -> std::io::Result<()> {
    let mut rd = BufReader::new(s.try_clone()?);
    loop {
        // Read one multibulk request.
        let mut line = String::new();
        if rd.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let n: usize = line.trim_start_matches('*').trim().parse().unwrap_or(0);
        let mut args = Vec::new();
        for _ in 0..n {
            let mut len = String::new();
            rd.read_line(&mut len)?;
            let mut arg = String::new();
            rd.read_line(&mut arg)?;
            args.push(arg.trim().to_string());
        }
        match args.first().map(|a| a.to_ascii_uppercase()).as_deref() {
            Some("PING") => s.write_all(b"+PONG\r\n")?,
            Some("PSYNC") => {
                s.write_all(format!("+FULLRESYNC {} 0\r\n", "a".repeat(40)).as_bytes())?;
                if truncate {
                    s.write_all(b"$1000\r\nREDIS0010\xfa")?;
                    return Ok(());
                }
                for _ in 0..600 {
                    if s.write_all(b"\n").is_err() {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                return Ok(());
            }
            _ => s.write_all(b"+OK\r\n")?,
        }
    }
}

#[test]
fn reads_served_from_old_data_during_sync_then_promotion_keeps_them() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = conns.clone();
    std::thread::spawn(move || fake_master(listener, false, c2));
    let replica = Server::start(4, &[]);
    let mut rc = replica.conn();
    for i in 0..50 {
        let _: () = redis::cmd("SET").arg(format!("key{i}")).arg(i).query(&mut rc).unwrap();
    }
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(port).query(&mut rc).unwrap();
    assert!(wait_until(LONG, || info_field(&mut rc, "replication", "master_sync_in_progress").as_deref() == Some("1")));
    let role: redis::Value = redis::cmd("ROLE").query(&mut rc).unwrap();
    let redis::Value::Array(items) = role else { panic!() };
    assert_eq!(items[3], redis::Value::BulkString(b"sync".to_vec()));
    // The old dataset still answers while the transfer is in progress.
    let n: i64 = redis::cmd("DBSIZE").query(&mut rc).unwrap();
    assert_eq!(n, 50);
    let v: String = redis::cmd("GET").arg("key7").query(&mut rc).unwrap();
    assert_eq!(v, "7");
    // Promotion keeps the data and accepts writes.
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut rc).unwrap();
    let _: () = redis::cmd("SET").arg("after").arg("yes").query(&mut rc).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut rc).unwrap();
    assert_eq!(n, 51);
    assert_eq!(info_field(&mut rc, "replication", "role").as_deref(), Some("master"));
    replica.assert_logged(&["MASTER MODE enabled (user request from 'id="]);
}

#[test]
fn truncated_rdb_keeps_old_data_and_retries() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = conns.clone();
    std::thread::spawn(move || fake_master(listener, true, c2));
    let replica = Server::start(2, &[]);
    let mut rc = replica.conn();
    let _: () = redis::cmd("SET").arg("keep").arg("me").query(&mut rc).unwrap();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(port).query(&mut rc).unwrap();
    assert!(wait_until(LONG, || conns.load(std::sync::atomic::Ordering::SeqCst) >= 2), "no retry");
    let v: String = redis::cmd("GET").arg("keep").query(&mut rc).unwrap();
    assert_eq!(v, "me");
    replica.assert_logged(&["connection lost after"]);
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut rc).unwrap();
}

#[test]
fn partial_resync_after_the_master_kills_the_link_and_directive_rewrite() {
    let master = Master::start(&["--repl-diskless-sync-delay", "0"]);
    let mut mc = master.conn();
    write_load(master.port, 5, 10);
    let conf_dir = temp_dir("replica-conf");
    let conf = conf_dir.join("shardis.conf");
    std::fs::write(&conf, "hz 10\n").unwrap();
    let port = master.port.to_string();
    let replica = Server::start_with_config_file(&conf, 2, &["--replicaof", "127.0.0.1", &port]);
    let mut rc = replica.conn();
    assert!(wait_until(LONG, || link_up(&mut rc)), "{:?}", replica.log.lock().unwrap());
    let _: () = redis::cmd("CONFIG").arg("REWRITE").query(&mut rc).unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains(&format!("replicaof 127.0.0.1 {port}")), "{text}");

    write_load(master.port, 6, 10);
    wait_caught_up(&mut mc, &mut rc);
    let full_before = info_field(&mut mc, "stats", "sync_full");
    // The stream is left in database 2: after the partial resync the master goes on
    // without a new SELECT.
    let mut db2 = master.conn();
    let _: () = redis::cmd("SELECT").arg(2).query(&mut db2).unwrap();
    let _: () = redis::cmd("SET").arg("in-db2").arg("a").query(&mut db2).unwrap();
    wait_caught_up(&mut mc, &mut rc);
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("replica").query(&mut mc).unwrap();
    assert_eq!(killed, 1);
    let _: () = redis::cmd("SET").arg("in-db2-later").arg("b").query(&mut db2).unwrap();
    let _: () = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("tx-db2")
        .arg("c")
        .ignore()
        .cmd("INCR")
        .arg("tx-n")
        .ignore()
        .query(&mut db2)
        .unwrap();
    // Writes while the link is down come from the backlog.
    write_load(master.port, 7, 5);
    assert!(wait_until(LONG, || {
        info_field(&mut mc, "stats", "sync_partial_ok").as_deref() == Some("1") && link_up(&mut rc)
    }));
    assert_eq!(info_field(&mut mc, "stats", "sync_full"), full_before, "no second full sync");
    // The replica's side of the link can be killed too (CLIENT KILL TYPE master).
    let mut flags = String::new();
    assert!(
        wait_until(LONG, || {
            let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut rc).unwrap();
            flags = list.clone();
            list.lines().any(|l| l.contains(" flags=M "))
        }),
        "{flags}"
    );
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("master").query(&mut rc).unwrap();
    assert_eq!(killed, 1);
    write_load(master.port, 8, 5);
    assert!(wait_until(LONG, || {
        info_field(&mut mc, "stats", "sync_partial_ok").as_deref() == Some("2") && link_up(&mut rc)
    }));
    assert_eq!(info_field(&mut mc, "stats", "sync_full"), full_before, "no second full sync");
    wait_caught_up(&mut mc, &mut rc);
    assert_same(&mut mc, &mut rc);
    replica.assert_logged(&[
        "Connection with master lost.",
        "Trying a partial resynchronization (request ",
        "Successful partial resynchronization with master.",
    ]);
    // Promotion drops the directive from the rewritten file.
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut rc).unwrap();
    let _: () = redis::cmd("CONFIG").arg("REWRITE").query(&mut rc).unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(!text.lines().any(|l| l.starts_with("replicaof")), "{text}");
    let _ = std::fs::remove_dir_all(&conf_dir);
}

#[test]
fn replica_aof_logs_what_it_applies_and_reloads_the_masters_data() {
    let master = Master::start(&["--repl-diskless-sync-delay", "0"]);
    let mut mc = master.conn();
    write_load(master.port, 9, 10);
    let mut replica = Server::start(2, &["--appendonly", "yes"]);
    let mut rc = replica.conn();
    let _: () = redis::cmd("SET").arg("stale").arg("old").query(&mut rc).unwrap();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(master.port).query(&mut rc).unwrap();
    assert!(wait_until(LONG, || link_up(&mut rc)));
    // The full sync schedules an AOF rewrite, so the log describes the new dataset.
    assert!(wait_until(LONG, || {
        info_field(&mut rc, "persistence", "aof_rewrite_scheduled").as_deref() == Some("0")
            && info_field(&mut rc, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
    }));
    write_load(master.port, 10, 10);
    wait_caught_up(&mut mc, &mut rc);
    assert_same(&mut mc, &mut rc);
    let want = digest(&mut mc);
    replica.terminate();
    let dir = replica.dir.clone();
    std::mem::forget(replica);
    let s = Server::start_in(dir, 2, &["--appendonly", "yes"]);
    let mut c = s.conn();
    assert_eq!(digest(&mut c), want, "the replica's AOF reloads to the master's dataset");
    let n: i64 = redis::cmd("EXISTS").arg("stale").query(&mut c).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn replica_waits_for_the_masters_del_of_expired_keys() {
    let master = Master::start(&["--repl-diskless-sync-delay", "0"]);
    let mut mc = master.conn();
    let _: () = redis::cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query(&mut mc).unwrap();
    let replica = Server::start(2, &[]);
    let mut rc = replica.conn();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(master.port).query(&mut rc).unwrap();
    assert!(wait_until(LONG, || link_up(&mut rc)));
    let _: () = redis::cmd("SET").arg("soon").arg("gone").arg("PX").arg(100).query(&mut mc).unwrap();
    let _: () = redis::cmd("SET").arg("stays").arg("here").query(&mut mc).unwrap();
    wait_caught_up(&mut mc, &mut rc);
    // Logically expired: reads answer "absent"...
    assert!(wait_until(LONG, || redis::cmd("GET").arg("soon").query::<Option<String>>(&mut rc).unwrap().is_none()));
    // ...but the key stays (no lazy or active expiry on a replica) until the master's DEL.
    let keyspace = |c: &mut redis::Connection| info_field(c, "keyspace", "db0").unwrap_or_default();
    assert!(keyspace(&mut rc).starts_with("keys=2,"), "{}", keyspace(&mut rc));
    assert_eq!(info_field(&mut rc, "stats", "expired_keys").as_deref(), Some("0"));
    // The master expires it on access and sends DEL. (Redis expires a key once its
    // clock is past the deadline, shardis once it reaches it: the master may still
    // hold it for that millisecond.)
    assert!(wait_until(LONG, || redis::cmd("GET").arg("soon").query::<Option<String>>(&mut mc).unwrap().is_none()));
    wait_caught_up(&mut mc, &mut rc);
    assert!(keyspace(&mut rc).starts_with("keys=1,"), "{}", keyspace(&mut rc));
    assert_eq!(digest(&mut rc), digest(&mut mc));
}

/// The role letter of the log lines (`pid:X ...`) that contain `needle`.
fn role_letters(log: &[String], needle: &str) -> Vec<char> {
    log.iter()
        .filter(|l| l.contains(needle))
        .filter_map(|l| l.split_once(':').and_then(|(_, rest)| rest.chars().next()))
        .collect()
}

#[test]
fn log_role_letter_follows_replicaof() {
    let master = Server::start(1, &[]);
    let replica = Server::start(2, &[]);
    let mut rc = replica.conn();
    let _: () = redis::cmd("REPLICAOF").arg("127.0.0.1").arg(master.port).query(&mut rc).unwrap();
    assert!(wait_until(LONG, || link_up(&mut rc)), "{:?}", replica.log.lock().unwrap());
    let _: () = redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut rc).unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut rc).unwrap();
    // The log reaches us through a pipe read by another thread: wait for the last line.
    let logged = |s: &Server, needle: &str| s.log.lock().unwrap().iter().any(|l| l.contains(needle));
    assert!(wait_until(LONG, || logged(&replica, "MASTER MODE enabled")));
    let log = replica.log.lock().unwrap().clone();
    assert_eq!(role_letters(&log, "Ready to accept connections"), vec!['M'], "{log:?}");
    assert_eq!(role_letters(&log, "REPLICAOF 127.0.0.1:"), vec!['S'], "{log:?}");
    assert_eq!(role_letters(&log, "MASTER <-> REPLICA sync: Finished with success"), vec!['S'], "{log:?}");
    assert_eq!(role_letters(&log, "MASTER MODE enabled"), vec!['M'], "{log:?}");
    // Started by the directive: a replica from its first line after the config's.
    let port = master.port.to_string();
    let directed = Server::start(1, &["--replicaof", "127.0.0.1", &port]);
    let mut dc = directed.conn();
    assert!(wait_until(LONG, || link_up(&mut dc)), "{:?}", directed.log.lock().unwrap());
    assert!(wait_until(LONG, || logged(&directed, "Finished with success")));
    let log = directed.log.lock().unwrap().clone();
    assert_eq!(role_letters(&log, "Ready to accept connections"), vec!['S'], "{log:?}");
    assert_eq!(role_letters(&log, "Connecting to MASTER"), vec!['S'], "{log:?}");
    // A fresh replica has no history to offer (Redis asks `PSYNC ? -1` too), so the
    // master does not count a failed partial resync for it.
    assert!(log.iter().any(|l| l.contains("Partial resynchronization not possible (no cached master)")), "{log:?}");
}
