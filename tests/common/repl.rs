//! Replication test helpers: nodes of either kind (shardis or redis-server) that can be
//! made replicas of each other, a TCP proxy to cut replication links at will, a mixed
//! write load run from a thread, and the convergence check (offsets, `DEBUG DIGEST`
//! and a logical dump of all 16 dbs).
//!
//! Every test is written so that it also passes when all nodes are redis-server: set
//! `SHARDIS_REPL_ALL_REDIS=1` and each node asked for as shardis starts as redis-server
//! instead. That proves the test itself (its topology, waits and checks) against the
//! reference, independently of shardis.

use super::{Rng, Server, served_by, spawn_redis_server, temp_dir, tool, wait_until};
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whether `SHARDIS_REPL_ALL_REDIS` asks for redis-server in place of every shardis node.
pub fn all_redis() -> bool {
    std::env::var("SHARDIS_REPL_ALL_REDIS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Which server a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Shardis(usize),
    Redis,
}

impl Kind {
    /// A shardis node with `shards` shards, or redis-server under `SHARDIS_REPL_ALL_REDIS`.
    pub fn shardis(shards: usize) -> Kind {
        if all_redis() { Kind::Redis } else { Kind::Shardis(shards) }
    }
}

enum Proc {
    Shardis(Server),
    Redis(Child),
    Stopped,
}

/// One server of a replication topology. Its directory survives restarts and is
/// removed on drop.
pub struct Node {
    pub kind: Kind,
    pub port: u16,
    pub dir: PathBuf,
    proc: Proc,
    /// The config file the node starts from (its first argument), if any.
    conf: Option<PathBuf>,
    /// Lines logged by earlier runs of this node (kept across restarts).
    old_log: Vec<String>,
}

impl Node {
    /// Starts a fresh node with extra config flags (`--name value` pairs).
    pub fn start(kind: Kind, extra: &[&str]) -> Node {
        let dir = temp_dir("repl");
        let mut n = Node { kind, port: 0, dir, proc: Proc::Stopped, conf: None, old_log: Vec::new() };
        n.launch(extra);
        n
    }

    /// Starts a fresh node whose first argument is the config file `conf`, so CONFIG
    /// REWRITE has a file to write.
    pub fn start_with_config(kind: Kind, conf: &Path, extra: &[&str]) -> Node {
        let dir = temp_dir("repl");
        let mut n =
            Node { kind, port: 0, dir, proc: Proc::Stopped, conf: Some(conf.to_path_buf()), old_log: Vec::new() };
        n.launch(extra);
        n
    }

    /// Starts a fresh node already configured (by the `replicaof` directive) to
    /// replicate from `master_port`.
    pub fn start_replica_of(kind: Kind, master_port: u16, extra: &[&str]) -> Node {
        let port = master_port.to_string();
        let mut args = vec!["--replicaof", "127.0.0.1", port.as_str()];
        args.extend_from_slice(extra);
        Node::start(kind, &args)
    }

    fn launch(&mut self, extra: &[&str]) {
        let dir = self.dir.to_str().expect("utf8 dir").to_string();
        match self.kind {
            Kind::Shardis(shards) => {
                let mut args = vec!["--dir", &dir];
                args.extend_from_slice(extra);
                let s = match &self.conf {
                    Some(conf) => Server::start_with_config_file(conf, shards, &args),
                    None => Server::start_in(self.dir.clone(), shards, extra),
                };
                self.port = s.port;
                self.proc = Proc::Shardis(s);
            }
            Kind::Redis => {
                let logfile = self.dir.join("redis.log");
                let logfile = logfile.to_str().unwrap().to_string();
                let mut args = vec![
                    "--dir",
                    &dir,
                    "--dbfilename",
                    "dump.rdb",
                    "--enable-debug-command",
                    "yes",
                    "--logfile",
                    &logfile,
                ];
                args.extend_from_slice(extra);
                // Ready once it answers PING at all (a replica may say -LOADING or
                // -MASTERDOWN first; that is still a running server).
                let ready = |port: u16| {
                    TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
                        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let mut buf = [0u8; 64];
                        s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| n > 0)
                    })
                };
                let (child, port) = match &self.conf {
                    Some(conf) => spawn_redis_with_conf(conf, &args, ready),
                    None => spawn_redis_server(&args, ready),
                }
                .expect("redis-server did not start");
                self.port = port;
                self.proc = Proc::Redis(child);
            }
        }
    }

    /// The node's log so far (all runs).
    pub fn log(&self) -> Vec<String> {
        let mut lines = self.old_log.clone();
        lines.extend(self.current_log());
        lines
    }

    fn current_log(&self) -> Vec<String> {
        match &self.proc {
            Proc::Shardis(s) => s.log.lock().unwrap().clone(),
            Proc::Redis(_) => std::fs::read_to_string(self.dir.join("redis.log"))
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect(),
            Proc::Stopped => Vec::new(),
        }
    }

    /// Whether some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log().iter().any(|l| l.contains(needle))
    }

    pub fn pid(&self) -> u32 {
        match &self.proc {
            Proc::Shardis(s) => s.pid(),
            Proc::Redis(c) => c.id(),
            Proc::Stopped => 0,
        }
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.proc {
            Proc::Shardis(s) => s.is_running(),
            Proc::Redis(c) => matches!(c.try_wait(), Ok(None)),
            Proc::Stopped => false,
        }
    }

    /// Waits for the process to exit on its own (SHUTDOWN, a signal) and returns its
    /// status; None if it still runs after `timeout` (it is then killed). The node's
    /// log stays readable.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let st = match &mut self.proc {
                Proc::Shardis(s) => return s.wait_exit(timeout),
                Proc::Redis(c) => c.try_wait().ok().flatten(),
                Proc::Stopped => return None,
            };
            if st.is_some() {
                return st;
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends the signal named `sig` (`STOP`, `CONT`, `TERM`, `INT`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill").arg(format!("-{sig}")).arg(self.pid().to_string()).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{sig} {}", self.pid());
    }

    /// SIGKILL, keeping the directory.
    pub fn kill9(&mut self) {
        self.old_log = self.log();
        match std::mem::replace(&mut self.proc, Proc::Stopped) {
            Proc::Shardis(mut s) => {
                s.kill9();
                // Dropping a Server removes its dir: point it at a scratch one.
                s.dir = temp_dir("gone");
            }
            Proc::Redis(mut c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            Proc::Stopped => {}
        }
    }

    /// `SHUTDOWN SAVE` (the RDB then carries the replication id and offset) and waits
    /// for the process to exit, keeping the directory.
    pub fn shutdown_save(&mut self) {
        let mut c = self.conn();
        let _ = redis::cmd("SHUTDOWN").arg("SAVE").query::<redis::Value>(&mut c);
        self.old_log = self.log();
        match std::mem::replace(&mut self.proc, Proc::Stopped) {
            Proc::Shardis(mut s) => {
                let st = s.wait_exit(Duration::from_secs(30));
                assert!(st.is_some_and(|s| s.success()), "shardis did not exit cleanly after SHUTDOWN SAVE: {st:?}");
                s.dir = temp_dir("gone");
            }
            Proc::Redis(mut c) => {
                let deadline = Instant::now() + Duration::from_secs(30);
                while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = c.kill();
                let _ = c.wait();
            }
            Proc::Stopped => {}
        }
        assert!(self.dir.join("dump.rdb").exists(), "SHUTDOWN SAVE wrote no dump.rdb in {:?}", self.dir);
    }

    /// Starts the node again in its directory (it loads `dump.rdb`), on a new port.
    pub fn restart(&mut self, extra: &[&str]) {
        assert!(matches!(self.proc, Proc::Stopped), "restart of a running node");
        self.launch(extra);
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("client")
    }

    pub fn conn(&self) -> redis::Connection {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.client().get_connection_with_timeout(Duration::from_secs(5)) {
                Ok(c) => {
                    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    return c;
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("connect to {:?} on port {}: {e}", self.kind, self.port),
            }
        }
    }

    /// `REPLICAOF 127.0.0.1 <port>`, or `REPLICAOF NO ONE` for None.
    pub fn replicaof(&self, master: Option<u16>) {
        let mut c = self.conn();
        let r: redis::RedisResult<String> = match master {
            Some(p) => redis::cmd("REPLICAOF").arg("127.0.0.1").arg(p).query(&mut c),
            None => redis::cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut c),
        };
        let r = r.unwrap_or_else(|e| panic!("REPLICAOF on {:?}: {e}", self.kind));
        assert!(r.starts_with("OK"), "REPLICAOF answered {r:?}");
    }

    /// The fields of `INFO <section>`.
    /// Retried for 10 s: during a failover Sentinel's `CLIENT KILL TYPE normal` may
    /// close the connection under us.
    pub fn info(&self, section: &str) -> HashMap<String, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match redis::cmd("INFO").arg(section).query::<String>(&mut self.conn()) {
                Ok(text) => return parse_info(&text),
                Err(e) if Instant::now() > deadline => panic!("INFO {section} on port {}: {e}", self.port),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// One numeric INFO field (0 when absent: Redis omits some until first set).
    pub fn info_u64(&self, section: &str, field: &str) -> u64 {
        self.info(section).get(field).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub fn digest(&self) -> String {
        redis::cmd("DEBUG").arg("DIGEST").query(&mut self.conn()).expect("DEBUG DIGEST")
    }

    /// (sync_full, sync_partial_ok, sync_partial_err) from INFO stats.
    pub fn sync_counts(&self) -> (u64, u64, u64) {
        let s = self.info("stats");
        let get = |k: &str| s.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        (get("sync_full"), get("sync_partial_ok"), get("sync_partial_err"))
    }

    /// Every key of all 16 dbs with its type, absolute expiry (PEXPIRETIME) and value,
    /// as text; sets and hashes sorted so the order of either server does not matter.
    pub fn logical_dump(&self) -> BTreeMap<(u8, Vec<u8>), String> {
        let mut c = self.conn();
        let mut out = BTreeMap::new();
        for db in 0..16u8 {
            let _: () = redis::cmd("SELECT").arg(db).query(&mut c).expect("SELECT");
            let mut cursor = 0u64;
            let mut keys: Vec<Vec<u8>> = Vec::new();
            loop {
                let (next, batch): (u64, Vec<Vec<u8>>) =
                    redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(1000).query(&mut c).expect("SCAN");
                keys.extend(batch);
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
            keys.sort();
            keys.dedup();
            for key in keys {
                let mut p = redis::pipe();
                p.cmd("TYPE").arg(&key).cmd("PEXPIRETIME").arg(&key);
                let (ty, at): (String, i64) = p.query(&mut c).expect("TYPE/PEXPIRETIME");
                let value = match ty.as_str() {
                    "none" => continue, // expired between SCAN and TYPE
                    "string" => format!("{:?}", redis::cmd("GET").arg(&key).query::<Option<Vec<u8>>>(&mut c).unwrap()),
                    "list" => format!(
                        "{:?}",
                        redis::cmd("LRANGE").arg(&key).arg(0).arg(-1).query::<Vec<Vec<u8>>>(&mut c).unwrap()
                    ),
                    "set" => {
                        let mut v: Vec<Vec<u8>> = redis::cmd("SMEMBERS").arg(&key).query(&mut c).unwrap();
                        v.sort();
                        format!("{v:?}")
                    }
                    "hash" => {
                        let mut v: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL").arg(&key).query(&mut c).unwrap();
                        v.sort();
                        format!("{v:?}")
                    }
                    "zset" => format!(
                        "{:?}",
                        redis::cmd("ZRANGE")
                            .arg(&key)
                            .arg(0)
                            .arg(-1)
                            .arg("WITHSCORES")
                            .query::<Vec<Vec<u8>>>(&mut c)
                            .unwrap()
                    ),
                    other => format!("<{other}>"),
                };
                out.insert((db, key), format!("{ty} at={at} {value}"));
            }
        }
        out
    }
}

/// [`spawn_redis_server`] with a config file as redis-server's first argument.
fn spawn_redis_with_conf(conf: &Path, extra: &[&str], ready: impl Fn(u16) -> bool) -> Option<(Child, u16)> {
    for _ in 0..10 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(tool("redis-server"))
            .arg(conf)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        if wait_until(Duration::from_secs(20), || {
            matches!(child.try_wait(), Ok(None)) && ready(port) && served_by(port, child.id())
        }) {
            return Some((child, port));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    None
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            // A failed run keeps its evidence: the directory (redis-server's log is
            // there already) with this node's log lines written beside it.
            let _ = std::fs::write(self.dir.join("node.log"), self.old_log.join("\n") + "\n");
            eprintln!("kept the {:?} node's directory (port {}): {}", self.kind, self.port, self.dir.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits (up to `timeout`) until `replica` reports its link to the master up and has
/// processed the master's whole stream (its `slave_repl_offset` is the master's
/// `master_repl_offset`). Panics with both INFOs otherwise. (That the replica's own
/// `master_repl_offset` follows, as Redis's does, is checked by [`assert_converged`].)
pub fn wait_in_sync(master: &Node, replica: &Node, timeout: Duration) {
    let synced = wait_until(timeout, || {
        let (m, r) = (master.info("replication"), replica.info("replication"));
        r.get("master_link_status").map(String::as_str) == Some("up")
            && m.contains_key("master_repl_offset")
            && m.get("master_repl_offset") == r.get("slave_repl_offset")
            && replica_online(&m, replica.port)
    });
    if !synced {
        panic!(
            "replica on port {} ({:?}) not in sync with master on port {} ({:?}) after {timeout:?}\n\
             master INFO: {:?}\nreplica INFO: {:?}\nreplica log tail: {:?}",
            replica.port,
            replica.kind,
            master.port,
            master.kind,
            master.info("replication"),
            replica.info("replication"),
            tail(&replica.log(), 30),
        );
    }
}

/// Whether the master's INFO lists the replica listening on `port` as `state=online`.
/// A replica can hold the whole stream before its master says so: redis-server marks
/// a diskless replica online only when its cron reaps the RDB child, up to 100 ms
/// later, and until then refuses `FAILOVER TO` it ("target replica is not online").
fn replica_online(master_info: &HashMap<String, String>, port: u16) -> bool {
    let port = format!("port={port},");
    master_info.iter().any(|(k, v)| {
        k.starts_with("slave") && k[5..].parse::<u32>().is_ok() && v.contains(&port) && v.contains("state=online")
    })
}

fn tail(lines: &[String], n: usize) -> &[String] {
    &lines[lines.len().saturating_sub(n)..]
}

/// Waits until every node of `chain` (master first, then each replica of the one
/// before) is in sync, then until they all have the master's `DEBUG DIGEST` and the
/// same logical dump. Keys expiring meanwhile are deleted by the master and the DELs
/// replicated, so the loop converges; it panics with the differences after `timeout`.
pub fn assert_converged(chain: &[&Node], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for pair in chain.windows(2) {
        wait_in_sync(pair[0], pair[1], deadline.saturating_duration_since(Instant::now()));
    }
    let same = |a: &Node, b: &Node| a.digest() == b.digest();
    let ok = wait_until(deadline.saturating_duration_since(Instant::now()), || {
        chain.windows(2).all(|p| same(p[0], p[1]))
            && chain.windows(2).all(|p| p[0].logical_dump() == p[1].logical_dump())
    });
    if ok {
        // A replica's own master_repl_offset is the stream it serves its sub-replicas:
        // the top master's offset, as in Redis.
        // (Polled: the master may still be replicating DELs of expired keys.)
        for p in chain.windows(2) {
            let offset = |n: &Node| n.info("replication").get("master_repl_offset").cloned();
            let equal = wait_until(Duration::from_secs(10), || offset(p[0]) == offset(p[1]));
            assert!(
                equal,
                "replica on port {} ({:?}): its master_repl_offset {:?} is not its master's {:?} (slave_repl_offset {:?})",
                p[1].port,
                p[1].kind,
                offset(p[1]),
                offset(p[0]),
                p[1].info("replication").get("slave_repl_offset")
            );
        }
    } else {
        let mut report = String::new();
        let base = chain[0].logical_dump();
        for (i, n) in chain.iter().enumerate() {
            report.push_str(&format!(
                "\nnode {i} {:?} port {}: digest {} offset {:?} keys {}",
                n.kind,
                n.port,
                n.digest(),
                n.info("replication").get("master_repl_offset"),
                n.logical_dump().len()
            ));
            if i > 0 {
                let d = n.logical_dump();
                let diff: Vec<_> = base
                    .iter()
                    .filter(|(k, v)| d.get(*k) != Some(*v))
                    .map(|(k, v)| format!("{}:{} master={v} here={:?}", k.0, String::from_utf8_lossy(&k.1), d.get(k)))
                    .chain(
                        d.keys()
                            .filter(|k| !base.contains_key(*k))
                            .map(|k| format!("{}:{} only here: {}", k.0, String::from_utf8_lossy(&k.1), d[k])),
                    )
                    .take(20)
                    .collect();
                report.push_str(&format!("\n  first differences from the master: {diff:#?}"));
            }
        }
        panic!("replicas did not converge with the master within {timeout:?}:{report}");
    }
}

/// A mixed write load on one connection, from a thread: SET with EX/PX, cross-shard
/// MSET, MULTI/EXEC, INCR/INCRBYFLOAT, HSET/LPUSH/SADD/ZADD, SPOP, short expiries (so
/// the master expires keys and replicates DELs), SELECT of four dbs, SWAPDB and two
/// FLUSHALLs. Every reply must be a success.
pub struct Load {
    stop: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl Load {
    pub fn start(port: u16, seed: u64) -> Load {
        Load::start_with(port, seed, 2000, |p, rng, n| {
            for _ in 0..16 {
                add_random_op(p, rng, *n);
                *n += 1;
            }
        })
    }

    /// A load of the caller's own mix: `batch` adds one pipeline's commands and
    /// advances the op count; at least `min_ops` run before a stop takes effect.
    pub fn start_with(
        port: u16,
        seed: u64,
        min_ops: u64,
        batch: impl Fn(&mut redis::Pipeline, &mut Rng, &mut u64) + Send + 'static,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicU64::new(0));
        let (stop2, ops2) = (stop.clone(), ops.clone());
        let handle = std::thread::spawn(move || {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let mut c = client.get_connection().expect("load: connect");
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut rng = Rng::new(seed);
            let mut n = 0u64;
            while !stop2.load(Ordering::Relaxed) || n < min_ops {
                let mut p = redis::pipe();
                batch(&mut p, &mut rng, &mut n);
                let r: redis::RedisResult<redis::Value> = p.query(&mut c);
                if let Err(e) = r {
                    panic!("load: a write failed after {n} ops: {e}");
                }
                ops2.store(n, Ordering::Relaxed);
            }
        });
        Load { stop, ops, handle: Some(handle) }
    }

    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::Relaxed)
    }

    /// Waits until at least `n` operations ran (the load thread is making progress).
    pub fn wait_ops(&self, n: u64, timeout: Duration) {
        assert!(wait_until(timeout, || self.ops() >= n), "load stuck at {} ops (wanted {n})", self.ops());
    }

    /// Stops the load and joins it (propagating its panic), returning the op count.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take()
            && let Err(e) = h.join()
        {
            std::panic::resume_unwind(e);
        }
        self.ops()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn add_random_op(p: &mut redis::Pipeline, rng: &mut Rng, n: u64) {
    let k = rng.below(300);
    let v = format!("v{}-{}", n, rng.below(1_000_000));
    // Two FLUSHALLs at fixed points, so both sides see them mid-load.
    if n == 3000 || n == 7000 {
        p.cmd("FLUSHALL");
        return;
    }
    match rng.below(22) {
        0 => {
            p.cmd("SELECT").arg(rng.below(4));
        }
        1 => {
            p.cmd("SET").arg(format!("s:{k}")).arg(&v).arg("EX").arg(1000 + rng.below(1000));
        }
        2 => {
            // Short TTL: expires soon, the master's DEL must reach the replicas.
            p.cmd("SET").arg(format!("t:{k}")).arg(&v).arg("PX").arg(50 + rng.below(1500));
        }
        3 => {
            p.cmd("MSET")
                .arg(format!("m:{k}"))
                .arg(&v)
                .arg(format!("m:{}", rng.below(300)))
                .arg(&v)
                .arg(format!("m:{}", rng.below(300)))
                .arg(&v);
        }
        4 => {
            p.cmd("MULTI")
                .cmd("INCR")
                .arg(format!("c:{k}"))
                .cmd("HSET")
                .arg(format!("h:{}", rng.below(300)))
                .arg("f")
                .arg(&v)
                .cmd("LPUSH")
                .arg(format!("l:{}", rng.below(300)))
                .arg(&v)
                .cmd("SET")
                .arg(format!("s:{}", rng.below(300)))
                .arg(&v)
                .cmd("EXEC");
        }
        5 => {
            p.cmd("INCR").arg(format!("c:{k}"));
        }
        6 => {
            p.cmd("INCRBYFLOAT").arg(format!("f:{k}")).arg("1.5");
        }
        7 => {
            p.cmd("HSET").arg(format!("h:{k}")).arg(format!("f{}", rng.below(20))).arg(&v);
        }
        8 => {
            p.cmd("LPUSH").arg(format!("l:{k}")).arg(&v).cmd("LTRIM").arg(format!("l:{k}")).arg(0).arg(30);
        }
        9 => {
            p.cmd("SADD").arg(format!("S:{k}")).arg(rng.below(50));
        }
        10 => {
            p.cmd("ZADD").arg(format!("z:{k}")).arg(rng.below(1000) as f64 / 7.0).arg(format!("m{}", rng.below(40)));
        }
        11 => {
            p.cmd("SPOP").arg(format!("S:{k}"));
        }
        12 => {
            p.cmd("PEXPIRE").arg(format!("h:{k}")).arg(100 + rng.below(1500));
        }
        13 => {
            p.cmd("EXPIRE").arg(format!("l:{k}")).arg(5000);
        }
        14 => {
            p.cmd("DEL").arg(format!("s:{k}")).arg(format!("m:{}", rng.below(300)));
        }
        15 if rng.below(20) == 0 => {
            p.cmd("SWAPDB").arg(rng.below(4)).arg(rng.below(4));
        }
        16 => {
            p.cmd("HINCRBY").arg(format!("h:{k}")).arg("n").arg(3);
        }
        17 => {
            p.cmd("ZINCRBY").arg(format!("z:{k}")).arg(2).arg(format!("m{}", rng.below(40)));
        }
        18 => {
            p.cmd("SETEX").arg(format!("x:{k}")).arg(1 + rng.below(2)).arg(&v);
        }
        19 => {
            p.cmd("GETDEL").arg(format!("s:{k}"));
        }
        20 => {
            p.cmd("APPEND").arg(format!("a:{k}")).arg("xy");
        }
        _ => {
            p.cmd("SET").arg(format!("s:{k}")).arg(&v);
        }
    }
}

/// Fills db 0 with `n` string keys fast (for initial-sync tests), via DEBUG POPULATE.
pub fn populate(node: &Node, n: u64) {
    let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(n).query(&mut node.conn()).expect("DEBUG POPULATE");
}

/// A TCP proxy between a replica and its master, so a test can cut the replication
/// link (both sockets closed, as a network failure would) or point it at a master
/// restarted on another port, whatever the servers' own commands support.
pub struct LinkProxy {
    pub port: u16,
    target: Arc<AtomicU16>,
    live: Arc<Mutex<Vec<TcpStream>>>,
    /// Connections accepted so far (each is one replica connection attempt).
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl LinkProxy {
    pub fn start(target_port: u16) -> LinkProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().unwrap().port();
        let target = Arc::new(AtomicU16::new(target_port));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (target2, live2, accepted2, stop2) = (target.clone(), live.clone(), accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = client else { continue };
                accepted2.fetch_add(1, Ordering::Relaxed);
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", target2.load(Ordering::Relaxed))) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = upstream.set_nodelay(true);
                {
                    let mut l = live2.lock().unwrap();
                    l.push(client.try_clone().unwrap());
                    l.push(upstream.try_clone().unwrap());
                }
                pump(client.try_clone().unwrap(), upstream.try_clone().unwrap());
                pump(upstream, client);
            }
        });
        LinkProxy { port, target, live, accepted, stop }
    }

    /// Closes every connection through the proxy (new ones still get through).
    pub fn cut(&self) {
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Sends new connections to `port` from now on.
    pub fn retarget(&self, port: u16) {
        self.target.store(port, Ordering::Relaxed);
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
        // Wake the accept loop so it sees the stop flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Runs `redis-cli` with `args` against `port`, returning stdout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out =
        Command::new(tool("redis-cli")).args(["-p", &port.to_string()]).args(args).output().expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Path helper so tests can name files in a node's directory.
pub fn in_dir(node: &Node, name: &str) -> PathBuf {
    Path::new(&node.dir).join(name)
}

/// A shardis node and a redis-server node started with the same flags and driven in
/// lockstep (`same`); test files add their own comparisons in `impl NodePair` blocks.
pub struct NodePair {
    pub ours: Node,
    pub redis: Node,
}

impl NodePair {
    pub fn start(shards: usize, extra: &[&str]) -> NodePair {
        NodePair { ours: Node::start(Kind::Shardis(shards), extra), redis: Node::start(Kind::Redis, extra) }
    }

    /// Runs `args` on both and asserts the replies are equal; returns shardis's.
    pub fn same(&self, args: &[&str]) -> super::Resp {
        let ours = super::raw_to(self.ours.port).cmd(args);
        let redis = super::raw_to(self.redis.port).cmd(args);
        assert_eq!(ours, redis, "reply to {args:?} ({:?})", self.ours.kind);
        ours
    }
}
