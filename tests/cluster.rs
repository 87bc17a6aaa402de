//! The Redis Cluster protocol: clusters of real shardis processes on loopback, driven
//! by cluster clients (redis-cli -c, redis-py's RedisCluster, redis-benchmark
//! --cluster, memtier_benchmark --cluster-mode), error texts compared with a real
//! redis-server in cluster mode, and a slot migration under a concurrent writer.

use crate::common;

use common::{Server, temp_dir, tool, wait_until};
use shardis::cluster::client::{Client, Reply};
use shardis::util::hash::key_slot;
use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn client(port: u16) -> Client {
    Client::connect("127.0.0.1", port, T).expect("connect")
}

fn call(port: u16, args: &[&str]) -> Reply {
    client(port).call(args).expect("reply")
}

fn text(port: u16, args: &[&str]) -> String {
    match call(port, args) {
        Reply::Error(e) => format!("-{e}"),
        r => r.text().unwrap_or_else(|| format!("{r:?}")),
    }
}

fn start_node(shards: usize) -> Server {
    Server::start(shards, &["--cluster-enabled", "yes"])
}

fn cluster_ok(port: u16, nodes: usize) -> bool {
    let info = text(port, &["CLUSTER", "INFO"]);
    info.contains("cluster_state:ok") && info.contains(&format!("cluster_known_nodes:{nodes}\r"))
}

/// Splits the slots evenly, MEETs every pair, waits for `cluster_state:ok` everywhere.
fn form(ports: &[u16]) {
    let n = ports.len();
    for (i, &p) in ports.iter().enumerate() {
        let (a, b) = (16384 * i / n, 16384 * (i + 1) / n - 1);
        assert_eq!(call(p, &["CLUSTER", "ADDSLOTSRANGE", &a.to_string(), &b.to_string()]), Reply::Simple("OK".into()));
    }
    for &p in ports {
        for &q in ports {
            if p != q {
                assert_eq!(call(p, &["CLUSTER", "MEET", "127.0.0.1", &q.to_string()]), Reply::Simple("OK".into()));
            }
        }
    }
    for &p in ports {
        assert!(wait_until(T, || cluster_ok(p, n)), "node {p}: {}", text(p, &["CLUSTER", "NODES"]));
    }
}

fn redis_cli_c(port: u16, args: &[&str]) -> String {
    let out = Command::new(tool("redis-cli"))
        .args(["-c", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn three_node_cluster_serves_every_slot_to_cluster_clients() {
    let nodes: Vec<Server> = (0..3).map(|_| start_node(2)).collect();
    let ports: Vec<u16> = nodes.iter().map(|s| s.port).collect();
    form(&ports);

    // CLUSTER SLOTS covers everything once, with the right owner addresses.
    let Reply::Array(Some(ranges)) = call(ports[0], &["CLUSTER", "SLOTS"]) else { panic!("slots") };
    assert_eq!(ranges.len(), 3);
    let mut owner_of = HashMap::new();
    for r in &ranges {
        let Reply::Array(Some(f)) = r else { panic!("range") };
        let (Reply::Int(a), Reply::Int(b), Reply::Array(Some(node))) = (&f[0], &f[1], &f[2]) else { panic!("{f:?}") };
        let Reply::Int(port) = node[1] else { panic!("port") };
        owner_of.insert((*a, *b), port as u16);
    }
    assert_eq!(owner_of.keys().map(|(a, b)| b - a + 1).sum::<i64>(), 16384);

    // redis-cli -c follows MOVED across nodes.
    for i in 0..30 {
        let k = format!("cli-key-{i}");
        assert_eq!(redis_cli_c(ports[i % 3], &["SET", &k, &format!("v{i}")]), "OK");
    }
    for i in 0..30 {
        assert_eq!(redis_cli_c(ports[(i + 1) % 3], &["GET", &format!("cli-key-{i}")]), format!("v{i}"));
    }
    // A node answers MOVED for a slot it does not own, naming the owner.
    let k = "cli-key-0";
    let slot = key_slot(k.as_bytes()) as i64;
    let owner = owner_of.iter().find(|((a, b), _)| (*a..=*b).contains(&slot)).map(|(_, p)| *p).unwrap();
    let other = *ports.iter().find(|&&p| p != owner).unwrap();
    assert_eq!(call(other, &["GET", k]), Reply::Error(format!("MOVED {slot} 127.0.0.1:{owner}")));
    // Shard channels are routed by slot as keys are (they were served on any node).
    for cmd in [&["SPUBLISH", k, "m"][..], &["SSUBSCRIBE", k], &["SUNSUBSCRIBE", k]] {
        assert_eq!(call(other, cmd), Reply::Error(format!("MOVED {slot} 127.0.0.1:{owner}")), "{cmd:?}");
    }
    assert_eq!(call(owner, &["SPUBLISH", k, "m"]), Reply::Int(0));

    // redis-py's RedisCluster writes and reads keys in every slot; hash tags keep
    // multi-key commands on one node.
    let script = format!(
        r#"
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port={p})
# One key per slot: find a name for each slot.
names = {{}}
i = 0
while len(names) < 16384:
    k = "k%d" % i
    s = rc.keyslot(k)
    if s not in names:
        names[s] = k
    i += 1
items = sorted(names.items())
for i in range(0, len(items), 2000):
    p = rc.pipeline()
    for s, k in items[i:i + 2000]:
        p.set(k, "v%d" % s)
    assert all(p.execute())
for i in range(0, len(items), 2000):
    p = rc.pipeline()
    for s, k in items[i:i + 2000]:
        p.get(k)
    got = p.execute()
    for (s, k), v in zip(items[i:i + 2000], got):
        assert v == ("v%d" % s).encode(), (k, v)
# And one by one, through the plain client path, for a sample.
for s, k in items[::97]:
    assert rc.get(k) == ("v%d" % s).encode(), k
rc.mset_nonatomic({{"{{user1}}:a": "1", "{{user1}}:b": "2"}})
assert rc.execute_command("MSET", "{{user2}}:a", "1", "{{user2}}:b", "2")
assert rc.mget("{{user2}}:a", "{{user2}}:b") == [b"1", b"2"]
print("ok", len(names))
"#,
        p = ports[1]
    );
    let out = Command::new("/usr/bin/python3").arg("-c").arg(&script).output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ok 16384"),
        "redis-py (python3-redis; scripts/test.sh installs it): {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every key is on the node owning its slot: the node key counts add up, and
    // COUNTKEYSINSLOT agrees per node.
    let total: i64 = ports
        .iter()
        .map(|&p| match call(p, &["DBSIZE"]) {
            Reply::Int(n) => n,
            r => panic!("{r:?}"),
        })
        .sum();
    assert_eq!(total, 16384 + 30 + 4);
    let tag_slot = key_slot(b"{user2}:a").to_string();
    let counts: Vec<i64> = ports
        .iter()
        .map(|&p| match call(p, &["CLUSTER", "COUNTKEYSINSLOT", &tag_slot]) {
            Reply::Int(n) => n,
            r => panic!("{r:?}"),
        })
        .collect();
    assert_eq!(counts.iter().sum::<i64>(), 3, "{counts:?}"); // {user2}:a, :b and the slot's own key
    assert_eq!(counts.iter().filter(|&&c| c > 0).count(), 1);
}

/// The same requests against a real one-node Redis cluster and a one-node shardis
/// cluster give the same replies (error texts included).
#[test]
fn errors_match_a_real_redis_cluster() {
    let dir = temp_dir("real-cluster");
    let conf = dir.join("nodes.conf");
    let (mut real, rport) = common::spawn_redis_server(
        &["--cluster-enabled", "yes", "--cluster-config-file", conf.to_str().unwrap(), "--dir", dir.to_str().unwrap()],
        |p| Client::connect("127.0.0.1", p, T).and_then(|mut c| c.call(&["PING"])).is_ok(),
    )
    .expect("redis-server in cluster mode");
    let ours = start_node(3);
    for p in [rport, ours.port] {
        assert_eq!(call(p, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), Reply::Simple("OK".into()));
        assert!(wait_until(T, || cluster_ok(p, 1)));
    }
    let cases: &[&[&str]] = &[
        &["MSET", "a", "1", "b", "2"],
        &["MGET", "a", "b"],
        &["DEL", "a", "b", "c"],
        &["SUNIONSTORE", "x", "y", "z"],
        &["RENAME", "a", "b"],
        &["MSET", "{t}a", "1", "{t}b", "2"],
        &["MGET", "{t}a", "{t}b"],
        &["SELECT", "1"],
        &["SELECT", "0"],
        // Shard channels' slots as keys' (a subscription's reply is read, then the
        // connection dropped).
        &["SSUBSCRIBE", "{t}a", "b"],
        &["SSUBSCRIBE", "{t}a", "{t}b"],
        &["SUNSUBSCRIBE", "{t}a", "b"],
        &["SPUBLISH", "{t}a", "m"],
        &["SPUBLISH", "a"],
        &["CLUSTER", "KEYSLOT", "somekey"],
        &["CLUSTER", "KEYSLOT", "{user1000}.following"],
        &["CLUSTER", "COUNTKEYSINSLOT", "99999"],
        &["CLUSTER", "COUNTKEYSINSLOT", &key_slot(b"{t}a").to_string()],
        &["CLUSTER", "GETKEYSINSLOT", "1", "x"],
        &["CLUSTER", "GETKEYSINSLOT", "1", "-1"],
        &["CLUSTER", "ADDSLOTS", "8"],
        &["CLUSTER", "DELSLOTS", "100000"],
        &["CLUSTER", "ADDSLOTSRANGE", "7", "6"],
        &["CLUSTER", "ADDSLOTSRANGE", "7"],
        &["CLUSTER", "SETSLOT", "5", "MIGRATING", "0123456789012345678901234567890123456789"],
        &["CLUSTER", "SETSLOT", "5", "BOGUS"],
        &["CLUSTER", "MEET", "1.2.3.4", "x"],
        &["CLUSTER", "FOO"],
        &["CLUSTER", "LINKS"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
        // Epochs: a fresh node bumps from 0, then holds the highest; its epoch can be
        // set only while it is 0.
        &["CLUSTER", "SET-CONFIG-EPOCH", "-1"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "x"],
        &["CLUSTER", "BUMPEPOCH"],
        &["CLUSTER", "BUMPEPOCH"],
        &["CLUSTER", "SET-CONFIG-EPOCH", "5"],
    ];
    for case in cases {
        assert_eq!(call(ours.port, case), call(rport, case), "{case:?}");
    }
    let epochs = |p: u16| -> Vec<String> {
        let info = text(p, &["CLUSTER", "INFO"]);
        let mut v: Vec<String> = info.lines().filter(|l| l.contains("_epoch:")).map(str::to_string).collect();
        v.push(text(p, &["CLUSTER", "NODES"]).split_whitespace().nth(6).unwrap_or("").to_string());
        v
    };
    assert_eq!(epochs(ours.port), epochs(rport));
    assert_eq!(epochs(ours.port), vec!["cluster_current_epoch:1", "cluster_my_epoch:1", "1"]);
    // Node-id-specific replies: each about itself.
    for p in [rport, ours.port] {
        let id = text(p, &["CLUSTER", "MYID"]);
        assert_eq!(
            call(p, &["CLUSTER", "FORGET", &id]),
            Reply::Error("ERR I tried hard but I can't forget myself...".into())
        );
        assert_eq!(
            call(p, &["CLUSTER", "SETSLOT", "8", "IMPORTING", &id]),
            Reply::Error("ERR I'm already the owner of hash slot 8".into())
        );
        assert!(text(p, &["CLUSTER", "NODES"]).starts_with(&format!("{id} ")));
    }
    // Without cluster mode, CLUSTER and friends are refused the same way.
    let plain = Server::start(1, &[]);
    let (mut real_plain, pport) = common::spawn_redis_server(&[], |p| {
        Client::connect("127.0.0.1", p, T).and_then(|mut c| c.call(&["PING"])).is_ok()
    })
    .expect("redis-server");
    for case in [&["CLUSTER", "INFO"][..], &["READONLY"], &["ASKING"]] {
        assert_eq!(call(plain.port, case), call(pport, case), "{case:?}");
    }
    let _ = real.kill();
    let _ = real.wait();
    let _ = real_plain.kill();
    let _ = real_plain.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nodes_conf_survives_a_restart_and_a_corrupt_one_stops_startup() {
    let dir = temp_dir("nodes-conf");
    let (id, port) = {
        let mut s = Server::start_in(dir.clone(), 2, &["--cluster-enabled", "yes"]);
        assert_eq!(call(s.port, &["CLUSTER", "ADDSLOTSRANGE", "0", "100", "200", "300"]), Reply::Simple("OK".into()));
        assert_eq!(call(s.port, &["CLUSTER", "INFO"]).text().unwrap().lines().next(), Some("cluster_state:fail"));
        // A served slot while others are not: the whole cluster is down (full
        // coverage); an unserved slot says so first, as in Redis.
        let served = (0..).map(|i| format!("k{i}")).find(|k| key_slot(k.as_bytes()) <= 100).unwrap();
        assert_eq!(call(s.port, &["GET", &served]), Reply::Error("CLUSTERDOWN The cluster is down".into()));
        assert_eq!(call(s.port, &["GET", "x"]), Reply::Error("CLUSTERDOWN Hash slot not served".into()));
        let r = (text(s.port, &["CLUSTER", "MYID"]), s.port);
        // Stop it but keep its directory (dropping a Server removes it).
        s.terminate();
        std::mem::forget(s);
        r
    };
    let conf = std::fs::read_to_string(dir.join("nodes.conf")).unwrap();
    assert!(
        conf.starts_with(&format!(
            "{id} 127.0.0.1:{port}@{} myself,master - 0 0 0 connected 0-100 200-300\n",
            port as u32 + 10000
        )),
        "{conf}"
    );
    {
        let mut s = Server::start_in(dir.clone(), 2, &["--cluster-enabled", "yes"]);
        assert_eq!(text(s.port, &["CLUSTER", "MYID"]), id);
        let line = text(s.port, &["CLUSTER", "NODES"]);
        assert!(line.contains(" connected 0-100 200-300"), "{line}");
        // A one-node cluster owning everything serves every key.
        assert_eq!(
            call(s.port, &["CLUSTER", "ADDSLOTSRANGE", "101", "199", "301", "16383"]),
            Reply::Simple("OK".into())
        );
        assert_eq!(redis_cli_c(s.port, &["SET", "foo", "bar"]), "OK");
        assert_eq!(redis_cli_c(s.port, &["GET", "foo"]), "bar");
        s.terminate();
        std::mem::forget(s);
    }
    std::fs::write(dir.join("nodes.conf"), "this is not a nodes file\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shardis-server"))
        .args(["--port", "0", "--dir", dir.to_str().unwrap(), "--cluster-enabled", "yes", "--save", ""])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("corrupted cluster config file"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small cluster-aware client for the writer: follows MOVED (updating its map) and
/// ASK (ASKING + retry); any other error is recorded.
struct Writer {
    conns: HashMap<u16, Client>,
    owner: HashMap<u16, u16>,
    default: u16,
}

impl Writer {
    fn conn(&mut self, port: u16) -> &mut Client {
        self.conns.entry(port).or_insert_with(|| client(port))
    }

    fn run(&mut self, args: &[&str], slot: u16) -> Result<Reply, String> {
        let mut port = *self.owner.get(&slot).unwrap_or(&self.default);
        let mut asking = false;
        for _ in 0..10 {
            let c = self.conn(port);
            let r = if asking {
                c.send(&["ASKING"]).map_err(|e| e.to_string())?;
                c.send(args).map_err(|e| e.to_string())?;
                c.read().map_err(|e| e.to_string())?;
                c.read().map_err(|e| e.to_string())?
            } else {
                c.call(args).map_err(|e| e.to_string())?
            };
            match r {
                Reply::Error(e) if e.starts_with("MOVED ") || e.starts_with("ASK ") => {
                    let p: u16 = e.rsplit(':').next().unwrap().parse().unwrap();
                    asking = e.starts_with("ASK ");
                    if !asking {
                        self.owner.insert(slot, p);
                    }
                    port = p;
                }
                Reply::Error(e) => return Err(e),
                r => return Ok(r),
            }
        }
        Err("too many redirections".into())
    }
}

#[test]
fn slot_migration_under_a_concurrent_writer_loses_nothing() {
    let nodes: Vec<Server> = (0..2).map(|_| start_node(2)).collect();
    let ports: Vec<u16> = nodes.iter().map(|s| s.port).collect();
    form(&ports);
    // Keys in one slot owned by node 0 (tagged), plus untagged keys elsewhere.
    let tag = (0..).map(|i| format!("m{i}")).find(|t| key_slot(t.as_bytes()) < 8192).unwrap();
    let slot = key_slot(tag.as_bytes());
    let moving: Vec<String> = (0..300).map(|i| format!("{{{tag}}}:{i}")).collect();
    let others: Vec<String> = (0..100).map(|i| format!("other:{i}")).collect();
    let mut w = Writer { conns: HashMap::new(), owner: HashMap::new(), default: ports[0] };
    for k in moving.iter().chain(&others) {
        w.run(&["SET", k, "0"], key_slot(k.as_bytes())).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let expected: Arc<Mutex<HashMap<String, i64>>> = Arc::new(Mutex::new(HashMap::new()));
    let writer = {
        let (stop, errors, expected) = (stop.clone(), errors.clone(), expected.clone());
        let keys: Vec<String> = moving.iter().chain(&others).cloned().collect();
        let mut w = Writer { conns: HashMap::new(), owner: HashMap::new(), default: ports[0] };
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) || i < 2000 {
                let k = &keys[(i * 7) % keys.len()];
                match w.run(&["INCR", k], key_slot(k.as_bytes())) {
                    Ok(Reply::Int(_)) => *expected.lock().unwrap().entry(k.clone()).or_insert(0) += 1,
                    Ok(r) => errors.lock().unwrap().push(format!("{k}: {r:?}")),
                    Err(e) => errors.lock().unwrap().push(format!("{k}: {e}")),
                }
                i += 1;
            }
        })
    };
    // Move the slot from node 0 to node 1, a few keys per MIGRATE, as redis-cli does.
    let (src, dst) = (ports[0], ports[1]);
    let (src_id, dst_id) = (text(src, &["CLUSTER", "MYID"]), text(dst, &["CLUSTER", "MYID"]));
    let s = slot.to_string();
    assert_eq!(call(dst, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &src_id]), Reply::Simple("OK".into()));
    assert_eq!(call(src, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &dst_id]), Reply::Simple("OK".into()));
    loop {
        let Reply::Array(Some(keys)) = call(src, &["CLUSTER", "GETKEYSINSLOT", &s, "7"]) else {
            panic!("getkeysinslot")
        };
        if keys.is_empty() {
            break;
        }
        let mut args = vec![
            "MIGRATE".to_string(),
            "127.0.0.1".into(),
            dst.to_string(),
            String::new(),
            "0".into(),
            "5000".into(),
            "KEYS".into(),
        ];
        args.extend(keys.iter().map(|k| k.text().unwrap()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(call(src, &args), Reply::Simple("OK".into()));
    }
    // The target first (as redis-cli does): until the source hears it, it keeps
    // answering ASK for the missing keys, never MOVED back.
    for p in [dst, src] {
        assert_eq!(call(p, &["CLUSTER", "SETSLOT", &s, "NODE", &dst_id]), Reply::Simple("OK".into()));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(errors.lock().unwrap().is_empty(), "the writer saw errors: {:?}", errors.lock().unwrap());
    // Full comparison: every key holds exactly the increments acknowledged.
    let expected = expected.lock().unwrap();
    let mut r = Writer { conns: HashMap::new(), owner: HashMap::new(), default: ports[0] };
    for k in moving.iter().chain(&others) {
        let v = r.run(&["GET", k], key_slot(k.as_bytes())).unwrap().text().unwrap();
        assert_eq!(v.parse::<i64>().unwrap(), *expected.get(k).unwrap_or(&0), "{k}");
    }
    assert_eq!(call(src, &["CLUSTER", "COUNTKEYSINSLOT", &s]), Reply::Int(0));
    assert_eq!(call(dst, &["CLUSTER", "COUNTKEYSINSLOT", &s]), Reply::Int(300));
    assert_eq!(call(src, &["GET", &moving[0]]), Reply::Error(format!("MOVED {slot} 127.0.0.1:{dst}")));
}

#[test]
fn migrate_between_plain_servers() {
    let (a, b) = (Server::start(2, &[]), Server::start(3, &["--requirepass", "pw"]));
    let bp = b.port.to_string();
    for (k, v) in [("{x}1", "a"), ("{x}2", "b"), ("{x}3", "c")] {
        call(a.port, &["SET", k, v]);
    }
    call(a.port, &["PEXPIRE", "{x}1", "100000"]);
    assert_eq!(
        call(a.port, &["MIGRATE", "127.0.0.1", &bp, "nokey", "0", "1000", "AUTH", "pw"]),
        Reply::Simple("NOKEY".into())
    );
    assert_eq!(
        call(a.port, &["MIGRATE", "127.0.0.1", &bp, "{x}1", "0", "1000"]),
        Reply::Error("ERR Target instance replied with error: NOAUTH Authentication required.".into())
    );
    assert_eq!(
        call(a.port, &["MIGRATE", "127.0.0.1", &bp, "", "0", "1000", "AUTH", "pw", "KEYS", "{x}1", "{x}2"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(call(a.port, &["EXISTS", "{x}1", "{x}2"]), Reply::Int(0));
    let mut cb = client(b.port);
    cb.call(&["AUTH", "pw"]).unwrap();
    assert_eq!(cb.call(&["GET", "{x}2"]).unwrap(), Reply::Bulk(Some(b"b".to_vec())));
    let Reply::Int(ttl) = cb.call(&["PTTL", "{x}1"]).unwrap() else { panic!() };
    assert!(ttl > 90_000 && ttl <= 100_000, "{ttl}");
    // COPY keeps the source; an existing target key needs REPLACE.
    assert_eq!(
        call(a.port, &["MIGRATE", "127.0.0.1", &bp, "{x}3", "0", "1000", "COPY", "AUTH", "pw"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(call(a.port, &["GET", "{x}3"]), Reply::Bulk(Some(b"c".to_vec())));
    assert_eq!(
        call(a.port, &["MIGRATE", "127.0.0.1", &bp, "{x}3", "0", "1000", "AUTH", "pw"]),
        Reply::Error("ERR Target instance replied with error: BUSYKEY Target key name already exists.".into())
    );
    assert_eq!(call(a.port, &["GET", "{x}3"]), Reply::Bulk(Some(b"c".to_vec())));
    assert_eq!(
        call(a.port, &["MIGRATE", "127.0.0.1", &bp, "{x}3", "0", "1000", "REPLACE", "AUTH2", "default", "pw"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(call(a.port, &["EXISTS", "{x}3"]), Reply::Int(0));
    // Syntax and connection errors, as Redis words them.
    assert_eq!(
        call(a.port, &["MIGRATE", "127.0.0.1", &bp, "k", "0", "1000", "KEYS", "a"]),
        Reply::Error("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string".into())
    );
    assert_eq!(
        call(a.port, &["MIGRATE", "127.0.0.1", &bp, "k", "0", "1000", "BOGUS"]),
        Reply::Error("ERR syntax error".into())
    );
    call(a.port, &["SET", "k", "v"]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    assert_eq!(
        call(a.port, &["MIGRATE", "127.0.0.1", &closed, "k", "0", "1000"]),
        Reply::Error("IOERR error or timeout connecting to the client".into())
    );
    assert_eq!(call(a.port, &["GET", "k"]), Reply::Bulk(Some(b"v".to_vec())));
}

#[test]
fn benchmark_tools_run_in_cluster_mode() {
    let nodes: Vec<Server> = (0..3).map(|_| start_node(1)).collect();
    let ports: Vec<u16> = nodes.iter().map(|s| s.port).collect();
    form(&ports);
    let out = Command::new(tool("redis-benchmark"))
        .args(["--cluster", "-p", &ports[0].to_string(), "-n", "3000", "-c", "4", "-t", "set,get", "-q", "-r", "10000"])
        .output()
        .expect("redis-benchmark");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && all.contains("SET:") && all.contains("GET:") && !all.contains("rror"), "{all}");
    let memtier = "/work/shared/tools/memtier_benchmark";
    let out = Command::new(memtier)
        .args(["-s", "127.0.0.1", "-p", &ports[1].to_string(), "--cluster-mode", "-t", "1", "-c", "2", "-n", "300"])
        .args(["--hide-histogram", "--key-maximum", "5000"])
        .output()
        .unwrap_or_else(|e| panic!("{memtier}: {e} (see /work/shared/tools/README.md for its libraries)"));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && all.contains("Totals"), "{all}");
    assert!(!all.to_lowercase().contains("error"), "{all}");
    // Both wrote through the cluster: keys landed on every node.
    for &p in &ports {
        assert!(matches!(call(p, &["DBSIZE"]), Reply::Int(n) if n > 0), "node {p} got no keys");
    }
}

const POOL: &str = env!("CARGO_BIN_EXE_shardis-pool");

fn pool(args: &[&str]) -> (bool, String) {
    let o = Command::new(POOL)
        .args(args)
        .env("SHARDIS_SERVER", env!("CARGO_BIN_EXE_shardis-server"))
        .output()
        .expect("run shardis-pool");
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// Stops the pool a test started, even when it fails half-way.
struct PoolDown(String);

impl Drop for PoolDown {
    fn drop(&mut self) {
        let _ = pool(&["down", "--dir", &self.0]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The slot -> port map, as CLUSTER SLOTS on `port` tells it.
fn slot_map(port: u16) -> HashMap<u16, u16> {
    let Reply::Array(Some(ranges)) = call(port, &["CLUSTER", "SLOTS"]) else { panic!("CLUSTER SLOTS") };
    let mut map = HashMap::new();
    for r in ranges {
        let Reply::Array(Some(f)) = r else { panic!() };
        let (Reply::Int(a), Reply::Int(b), Reply::Array(Some(node))) = (&f[0], &f[1], &f[2]) else { panic!() };
        let Reply::Int(p) = node[1] else { panic!() };
        for s in *a..=*b {
            map.insert(s as u16, p as u16);
        }
    }
    map
}

/// Runs `cmds` (one per key) pipelined, each on the node `map` names for its key's slot.
fn pipelined(map: &HashMap<u16, u16>, cmds: &[Vec<String>]) -> Vec<Reply> {
    let mut by_port: HashMap<u16, Vec<usize>> = HashMap::new();
    for (i, c) in cmds.iter().enumerate() {
        by_port.entry(map[&key_slot(c[1].as_bytes())]).or_default().push(i);
    }
    let mut out = vec![Reply::Int(0); cmds.len()];
    for (port, idx) in by_port {
        let mut c = client(port);
        for chunk in idx.chunks(1000) {
            for &i in chunk {
                c.send(&cmds[i]).unwrap();
            }
            for &i in chunk {
                out[i] = c.read().unwrap();
            }
        }
    }
    out
}

/// `shardis-pool rebalance` from 2 to 3 nodes with 20k keys, while a cluster-aware
/// writer keeps incrementing some of them: it sees no error, and afterwards every key
/// is on its slot's new owner with exactly the value acknowledged. Then
/// `redis-cli --cluster check` agrees with the map and `--cluster reshard` moves slots
/// back, with nothing lost either.
#[test]
fn pool_rebalance_from_two_to_three_nodes_under_a_writer_loses_nothing() {
    let dir = temp_dir("rebalance");
    let d = dir.to_str().unwrap().to_string();
    let _down = PoolDown(d.clone());
    let base = common::free_ports(3);
    let quick = |count: &str| {
        pool(&[
            "up",
            "--dir",
            &d,
            "--count",
            count,
            "--base-port",
            &base.to_string(),
            "--cluster",
            "--topology",
            "0:0;1:1",
            "--",
            "save",
            "",
        ])
    };
    let (ok, o) = quick("2");
    assert!(ok, "{o}");
    const N: usize = 20_000;
    let keys: Vec<String> = (0..N).map(|i| format!("key:{i}")).collect();
    let map = slot_map(base);
    let sets: Vec<Vec<String>> = keys.iter().map(|k| vec!["SET".into(), k.clone(), "1".into()]).collect();
    assert!(pipelined(&map, &sets).iter().all(|r| *r == Reply::Simple("OK".into())));

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let expected: Arc<Mutex<HashMap<String, i64>>> = Arc::new(Mutex::new(HashMap::new()));
    let writer = {
        let (stop, errors, expected) = (stop.clone(), errors.clone(), expected.clone());
        let hot: Vec<String> = keys.iter().step_by(20).cloned().collect();
        let mut w = Writer { conns: HashMap::new(), owner: HashMap::new(), default: base };
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let k = &hot[(i * 7) % hot.len()];
                match w.run(&["INCR", k], key_slot(k.as_bytes())) {
                    Ok(Reply::Int(_)) => *expected.lock().unwrap().entry(k.clone()).or_insert(0) += 1,
                    Ok(r) => errors.lock().unwrap().push(format!("{k}: {r:?}")),
                    Err(e) => errors.lock().unwrap().push(format!("{k}: {e}")),
                }
                i += 1;
            }
            i
        })
    };
    // A third instance joins with no slots; rebalance gives it a third of them.
    let (ok, o) = quick("3");
    assert!(ok, "{o}");
    let t = std::time::Instant::now();
    let (ok, o) = pool(&["rebalance", "--dir", &d]);
    let took = t.elapsed();
    assert!(ok, "{o}");
    assert!(o.contains("from i0 to i2") && o.contains("from i1 to i2"), "{o}");
    // Let the writer run a little past the move (its map is stale: MOVED now).
    let done = writer_progress(&expected);
    assert!(wait_until(T, || writer_progress(&expected) > done + 50), "the writer stalled after the rebalance");
    stop.store(true, Ordering::Relaxed);
    let incrs = writer.join().unwrap();
    assert!(errors.lock().unwrap().is_empty(), "the writer saw errors: {:?}", errors.lock().unwrap());
    assert!(incrs > 100, "the writer ran only {incrs} commands");
    check_all(base, &keys, &expected.lock().unwrap(), 3);
    eprintln!("rebalance of {N} keys, 2 -> 3 nodes: {took:?} ({incrs} writes meanwhile)");

    // Every node holds a distinct, non-zero config epoch.
    let mut epochs: Vec<String> =
        (0..3).map(|k| text(base + k, &["CLUSTER", "NODES"]).split_whitespace().nth(6).unwrap().to_string()).collect();
    epochs.sort();
    epochs.dedup();
    assert!(epochs.len() == 3 && !epochs.contains(&"0".to_string()), "{epochs:?}");

    // redis-cli's own tools accept the pool: check, then reshard 200 slots from i2 to i0.
    let cli = |args: &[&str]| {
        let o = Command::new(tool("redis-cli")).args(args).output().expect("redis-cli");
        (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    };
    let addr = format!("127.0.0.1:{base}");
    let (ok, o) = cli(&["--cluster", "check", &addr]);
    assert!(
        ok && o.contains("[OK] All nodes agree about slots configuration.")
            && o.contains("[OK] All 16384 slots covered."),
        "{o}"
    );
    let (from, to) = (text(base + 2, &["CLUSTER", "MYID"]), text(base, &["CLUSTER", "MYID"]));
    let (ok, o) = cli(&[
        "--cluster",
        "reshard",
        &addr,
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        "200",
        "--cluster-yes",
    ]);
    assert!(ok, "{o}");
    // redis-cli sets NODE only on the two nodes involved (the bus tells the rest):
    // tell the third as the pool tool would.
    let map = slot_map(base);
    for (slot, port) in &map {
        if *port == base && slot_map(base + 1)[slot] != base {
            assert_eq!(
                call(base + 1, &["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &to]),
                Reply::Simple("OK".into())
            );
        }
    }
    let (ok, o) = cli(&["--cluster", "check", &addr]);
    assert!(ok && o.contains("[OK] All 16384 slots covered."), "{o}");
    check_all(base, &keys, &expected.lock().unwrap(), 3);
}

fn writer_progress(expected: &Mutex<HashMap<String, i64>>) -> i64 {
    expected.lock().unwrap().values().sum()
}

/// Every key on the node that owns its slot, holding 1 plus its acknowledged
/// increments; the nodes hold nothing else.
fn check_all(base: u16, keys: &[String], expected: &HashMap<String, i64>, nodes: u16) {
    let map = slot_map(base);
    let gets: Vec<Vec<String>> = keys.iter().map(|k| vec!["GET".into(), k.clone()]).collect();
    for (k, r) in keys.iter().zip(pipelined(&map, &gets)) {
        let want = 1 + expected.get(k).copied().unwrap_or(0);
        assert_eq!(r, Reply::Bulk(Some(want.to_string().into_bytes())), "{k}");
    }
    let total: i64 = (0..nodes)
        .map(|k| match call(base + k, &["DBSIZE"]) {
            Reply::Int(n) => {
                assert!(n > 0, "node {k} holds no keys");
                n
            }
            r => panic!("DBSIZE: {r:?}"),
        })
        .sum();
    assert_eq!(total as usize, keys.len());
}
