//! A real `redis-sentinel` monitoring a shardis master with two shardis replicas fails
//! over when the master is killed: it promotes one replica, repoints the other, and a
//! client that asks Sentinel for the master (`SENTINEL get-master-addr-by-name`)
//! writes to the new one, whose write reaches the remaining replica.
//!
//! Everything Sentinel sends a server takes part: INFO (role, run_id, slaveN lines,
//! master_link_down_since_seconds, slave_priority, slave_repl_offset ...), PING,
//! PUBLISH/SUBSCRIBE on `__sentinel__:hello`, and the failover transaction `MULTI;
//! SLAVEOF ...; CONFIG REWRITE; CLIENT KILL TYPE normal; CLIENT KILL TYPE pubsub;
//! EXEC`. CONFIG REWRITE needs a config file, so each node starts from one.
//! `SHARDIS_REPL_ALL_REDIS=1` runs the same test with redis-server nodes.

use crate::common;

use common::repl::{Kind, Node, wait_in_sync};
use common::{served_by, temp_dir, tool, wait_until};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NAME: &str = "mymaster";

/// A redis-sentinel process with its own config and log; killed on drop.
struct Sentinel {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Sentinel {
    fn start(master_port: u16) -> Sentinel {
        let dir = temp_dir("sentinel");
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let conf = dir.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {d}\nlogfile {d}/sentinel.log\n\
                     sentinel monitor {NAME} 127.0.0.1 {master_port} 1\n\
                     sentinel down-after-milliseconds {NAME} 1000\n\
                     sentinel failover-timeout {NAME} 20000\n\
                     sentinel parallel-syncs {NAME} 1\n",
                    d = dir.display()
                ),
            )
            .unwrap();
            let mut child = Command::new(tool("redis-sentinel"))
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-sentinel");
            let up = wait_until(Duration::from_secs(10), || {
                matches!(child.try_wait(), Ok(None))
                    && Sentinel::ask(port, &["PING"]).is_ok()
                    && served_by(port, child.id())
            });
            if up {
                return Sentinel { child, port, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-sentinel did not start")
    }

    fn ask(port: u16, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?.get_connection()?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c)
    }

    /// What a client asks: the current master's port.
    fn master_port(&self) -> Option<u16> {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).ok()?.get_connection().ok()?;
        let addr: Option<(String, String)> =
            redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg(NAME).query(&mut c).ok()?;
        addr.and_then(|(_, p)| p.parse().ok())
    }

    /// Replicas Sentinel knows of the master, as (port, flags).
    fn replicas(&self) -> Vec<(u16, String)> {
        let Ok(mut c) = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap().get_connection()
        else {
            return Vec::new();
        };
        let list: Vec<Vec<String>> = redis::cmd("SENTINEL").arg("replicas").arg(NAME).query(&mut c).unwrap_or_default();
        list.iter()
            .map(|kv| {
                let get = |k: &str| kv.chunks(2).find(|p| p[0] == k).map(|p| p[1].clone()).unwrap_or_default();
                (get("port").parse().unwrap_or(0), get("flags"))
            })
            .collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sentinel.log")).unwrap_or_default()
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A node started from a config file in its own dir (CONFIG REWRITE has a file to write).
fn node_with_config(kind: Kind, replica_of: Option<u16>) -> (Node, std::path::PathBuf) {
    let confdir = temp_dir("sentinel-conf");
    let conf = confdir.join("node.conf");
    let mut text = String::from("# written by the sentinel test\nappendonly no\n");
    if let Some(p) = replica_of {
        text.push_str(&format!("replicaof 127.0.0.1 {p}\n"));
    }
    std::fs::write(&conf, text).unwrap();
    (Node::start_with_config(kind, &conf, &[]), confdir)
}

#[test]
fn sentinel_fails_over_a_killed_master() {
    let shards = 4;
    let (mut master, _m_conf) = node_with_config(Kind::shardis(shards), None);
    let _: () = redis::cmd("SET").arg("before").arg("failover").query(&mut master.conn()).unwrap();
    let (r1, r1_conf) = node_with_config(Kind::shardis(shards), Some(master.port));
    let (r2, r2_conf) = node_with_config(Kind::shardis(shards), Some(master.port));
    wait_in_sync(&master, &r1, Duration::from_secs(30));
    wait_in_sync(&master, &r2, Duration::from_secs(30));

    let sentinel = Sentinel::start(master.port);
    // Sentinel learns the replicas from the master's INFO (slaveN lines).
    let both = |s: &Sentinel| {
        let mut ports: Vec<u16> = s.replicas().iter().map(|r| r.0).collect();
        ports.sort();
        let mut want = vec![r1.port, r2.port];
        want.sort();
        ports == want
    };
    assert!(
        wait_until(Duration::from_secs(30), || both(&sentinel)),
        "sentinel did not discover both replicas: {:?}\nsentinel log:\n{}",
        sentinel.replicas(),
        sentinel.log()
    );
    assert_eq!(sentinel.master_port(), Some(master.port));

    master.kill9();
    let promoted =
        wait_until(Duration::from_secs(60), || sentinel.master_port().is_some_and(|p| p == r1.port || p == r2.port));
    assert!(promoted, "sentinel did not fail over to a replica\nsentinel log:\n{}", sentinel.log());
    let new_port = sentinel.master_port().unwrap();
    let (new, other) = if new_port == r1.port { (&r1, &r2) } else { (&r2, &r1) };
    let (new_conf, other_conf) = if new_port == r1.port { (&r1_conf, &r2_conf) } else { (&r2_conf, &r1_conf) };

    // The promoted replica is a master with the old data.
    let role = |n: &Node| n.info("replication").get("role").cloned().unwrap_or_default();
    assert!(wait_until(Duration::from_secs(30), || role(new) == "master"), "promoted node is not a master");
    let mut c = new.conn();
    let v: Option<String> = redis::cmd("GET").arg("before").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("failover"));

    // The other replica is repointed to it (by Sentinel) and follows its writes.
    let repointed = wait_until(Duration::from_secs(60), || {
        let i = other.info("replication");
        i.get("master_port").is_some_and(|p| *p == new_port.to_string())
            && i.get("master_link_status").is_some_and(|s| s == "up")
    });
    assert!(
        repointed,
        "the other replica was not repointed: {:?}\nsentinel log:\n{}",
        other.info("replication"),
        sentinel.log()
    );

    // A client that asks Sentinel for the master writes to the new one.
    let port = sentinel.master_port().unwrap();
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("after").arg("failover").query(&mut c).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || {
            let got = redis::cmd("GET").arg("after").query::<Option<String>>(&mut other.conn());
            got.ok().flatten().as_deref() == Some("failover")
        }),
        "the write on the new master did not reach the other replica"
    );

    // CONFIG REWRITE (inside Sentinel's transaction) persisted the new roles.
    let conf_text = |d: &std::path::Path| std::fs::read_to_string(d.join("node.conf")).unwrap();
    let replicaof_lines = |t: &str| {
        t.lines()
            .filter(|l| l.starts_with("replicaof ") || l.starts_with("slaveof "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let none: Vec<String> = Vec::new();
    assert_eq!(replicaof_lines(&conf_text(new_conf)), none, "the promoted node's config still names a master");
    assert_eq!(
        replicaof_lines(&conf_text(other_conf)),
        vec![format!("replicaof 127.0.0.1 {new_port}")],
        "the other replica's config does not name the new master"
    );
    // Sentinel answers with the promoted replica already while the failover runs; it
    // ends with +switch-master once every replica is reconfigured.
    assert!(
        wait_until(Duration::from_secs(60), || sentinel.log().contains("+switch-master")),
        "sentinel log has no +switch-master:\n{}",
        sentinel.log()
    );
}
