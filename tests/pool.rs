//! shardis-pool with faked NUMA topologies on this machine: instances pinned to their
//! node's CPUs (`/proc/PID/status`) with their memory policy (`/proc/PID/numa_maps`),
//! status/down/restart, a killed instance reported, a failing one explained, and a
//! four-node cluster pool serving cluster clients.

use crate::common;

use common::{temp_dir, wait_until};
use shardis::cluster::client::{Client, Reply};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const POOL: &str = env!("CARGO_BIN_EXE_shardis-pool");

fn pool(args: &[&str]) -> Output {
    Command::new(POOL)
        .args(args)
        .env("SHARDIS_SERVER", env!("CARGO_BIN_EXE_shardis-server"))
        .output()
        .expect("run shardis-pool")
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn pid_of(dir: &Path, name: &str) -> u32 {
    std::fs::read_to_string(dir.join(name).join("shardis.pid")).unwrap().trim().parse().unwrap()
}

fn status_field(pid: u32, field: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines().find_map(|l| l.strip_prefix(field)).unwrap().trim_start_matches(':').trim().to_string()
}

/// The memory policy numa_maps shows for the process's heap-like mappings.
fn policies(pid: u32) -> Vec<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/numa_maps")).unwrap();
    let mut v: Vec<String> = s.lines().filter_map(|l| l.split_whitespace().nth(1).map(str::to_string)).collect();
    v.sort();
    v.dedup();
    v
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

/// Stops what a test started even when it fails half-way.
struct Down(String);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = pool(&["down", "--dir", &self.0]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn two_node_pool_pins_binds_restarts_and_reports_a_killed_instance() {
    let dir = temp_dir("pool2");
    let d = dir.to_str().unwrap().to_string();
    let _down = Down(d.clone());
    let base = common::free_ports(2);
    let up = pool(&[
        "up",
        "--dir",
        &d,
        "--count",
        "2",
        "--base-port",
        &base.to_string(),
        "--topology",
        "0:0;1:1",
        "--",
        "save",
        "",
    ]);
    assert!(up.status.success(), "{}", out(&up));
    let (p0, p1) = (pid_of(&dir, "i0"), pid_of(&dir, "i1"));
    // Each instance runs on its (faked) node's CPU.
    assert_eq!(status_field(p0, "Cpus_allowed_list"), "0");
    assert_eq!(status_field(p1, "Cpus_allowed_list"), "1");
    // Node 0 exists here: its memory is bound there. A faked node the kernel does not
    // know gets no policy (the tool says so in the instance's config by leaving it out).
    assert_eq!(policies(p0), vec!["bind:0".to_string()], "i0's numa_maps");
    let node1 = Path::new("/sys/devices/system/node/node1").exists();
    assert_eq!(policies(p1), vec![if node1 { "bind:1" } else { "default" }.to_string()], "i1's numa_maps");
    let conf0 = std::fs::read_to_string(dir.join("i0/shardis.conf")).unwrap();
    assert!(conf0.contains("numa-node 0\n") && conf0.contains("cpus 0\n") && conf0.contains("shards 1\n"), "{conf0}");

    let st = pool(&["status", "--dir", &d]);
    let text = out(&st);
    assert_eq!(st.status.code(), Some(0), "{text}");
    for (name, pid, port) in [("i0", p0, base), ("i1", p1, base + 1)] {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{text}"));
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&f[..4], &[name, "up", &pid.to_string(), &port.to_string()], "{text}");
        assert_eq!(f[6], "master", "{text}");
    }
    // up again: nothing restarted.
    let again = pool(&["up", "--dir", &d, "--count", "2", "--base-port", &base.to_string(), "--topology", "0:0;1:1"]);
    assert!(again.status.success() && out(&again).matches("already running").count() == 2, "{}", out(&again));
    assert_eq!(pid_of(&dir, "i0"), p0);

    // A killed instance is reported, and status fails.
    shardis::io::proc::kill(p1 as i32, libc::SIGKILL);
    assert!(wait_until(Duration::from_secs(10), || !alive(p1)));
    let st = pool(&["status", "--dir", &d]);
    let text = out(&st);
    assert_eq!(st.status.code(), Some(3), "{text}");
    assert!(text.lines().any(|l| l.starts_with("i1") && l.contains("DOWN")), "{text}");
    // restart brings it back with the same placement.
    let r = pool(&["restart", "i1", "--dir", &d]);
    assert!(r.status.success(), "{}", out(&r));
    let p1b = pid_of(&dir, "i1");
    assert_ne!(p1b, p1);
    assert_eq!(status_field(p1b, "Cpus_allowed_list"), "1");
    assert_eq!(pool(&["status", "--dir", &d]).status.code(), Some(0));
    let logs = pool(&["logs", "i1", "--dir", &d, "--lines", "5"]);
    assert!(out(&logs).contains("Ready to accept connections"), "{}", out(&logs));

    let down = pool(&["down", "--dir", &d]);
    assert!(down.status.success(), "{}", out(&down));
    assert!(wait_until(Duration::from_secs(10), || !alive(p0) && !alive(p1b)));
    assert_eq!(pool(&["status", "--dir", &d]).status.code(), Some(3));
}

#[test]
fn four_node_cluster_pool_is_one_keyspace() {
    let dir = temp_dir("pool4");
    let d = dir.to_str().unwrap().to_string();
    let _down = Down(d.clone());
    let base = common::free_ports(4);
    let up = pool(&[
        "up",
        "--dir",
        &d,
        "--count",
        "4",
        "--base-port",
        &base.to_string(),
        "--cluster",
        "--topology",
        "0:0;1:1;2:0;3:1",
        "--",
        "save",
        "",
    ]);
    assert!(up.status.success(), "{}", out(&up));
    for (k, cpu) in [(0, "0"), (1, "1"), (2, "0"), (3, "1")] {
        assert_eq!(status_field(pid_of(&dir, &format!("i{k}")), "Cpus_allowed_list"), cpu);
    }
    // up returned after every node reported cluster_state:ok.
    for k in 0..4u16 {
        let mut c = Client::connect("127.0.0.1", base + k, Duration::from_secs(10)).unwrap();
        let info = c.call(&["CLUSTER", "INFO"]).unwrap().text().unwrap();
        assert!(info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:4\r"), "{info}");
        let Reply::Array(Some(slots)) = c.call(&["CLUSTER", "SLOTS"]).unwrap() else { panic!() };
        assert_eq!(slots.len(), 4);
    }
    // redis-cli -c reaches every node's keys from any node.
    let cli = common::tool("redis-cli");
    for i in 0..40 {
        let o = Command::new(&cli)
            .args(["-c", "-p", &(base + (i % 4)).to_string(), "SET", &format!("k{i}"), &i.to_string()])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "OK");
    }
    let mut total = 0;
    for k in 0..4u16 {
        let mut c = Client::connect("127.0.0.1", base + k, Duration::from_secs(10)).unwrap();
        let Reply::Int(n) = c.call(&["DBSIZE"]).unwrap() else { panic!() };
        assert!(n > 0, "node {k} got none of 40 keys");
        total += n;
    }
    assert_eq!(total, 40);
    let st = pool(&["status", "--dir", &d]);
    assert_eq!(st.status.code(), Some(0), "{}", out(&st));
    assert_eq!(out(&st).lines().filter(|l| l.ends_with(" ok")).count(), 4, "{}", out(&st));
    // A restarted node reloads its nodes.conf: same id, same map, state ok at once.
    let id = |port: u16| {
        Client::connect("127.0.0.1", port, Duration::from_secs(10)).unwrap().call(&["CLUSTER", "MYID"]).unwrap()
    };
    let before = id(base + 3);
    let r = pool(&["restart", "i3", "--dir", &d]);
    assert!(r.status.success(), "{}", out(&r));
    assert_eq!(id(base + 3), before);
    let mut c = Client::connect("127.0.0.1", base + 3, Duration::from_secs(10)).unwrap();
    let info = c.call(&["CLUSTER", "INFO"]).unwrap().text().unwrap();
    assert!(info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:4\r"), "{info}");
}

#[test]
fn an_instance_that_cannot_start_is_explained() {
    let dir = temp_dir("poolbad");
    let d = dir.to_str().unwrap().to_string();
    let _down = Down(d.clone());
    let base = common::free_ports(2);
    let file = dir.join("pool.conf");
    std::fs::write(
        &file,
        format!(
            "[pool]\ndir = {d}\nsave \"\"\n\n[instance good]\nport = {}\ncpus = 0\n\n[instance bad]\nport = {}\ncpus = 0\nmaxmemory-policy sometimes\n",
            base,
            base + 1
        ),
    )
    .unwrap();
    let up = pool(&["up", "--file", file.to_str().unwrap()]);
    let text = out(&up);
    assert_eq!(up.status.code(), Some(1), "{text}");
    assert!(text.contains("good: started"), "{text}");
    assert!(text.contains("bad: failed to start"), "{text}");
    assert!(text.contains("maxmemory-policy"), "the log's last lines name the directive: {text}");
    let st = pool(&["status", "--file", file.to_str().unwrap()]);
    assert_eq!(st.status.code(), Some(3));
    assert!(out(&st).lines().any(|l| l.starts_with("bad") && l.contains("DOWN")), "{}", out(&st));
    // Usage errors are clear.
    let o = pool(&["up", "--dir", &d, "--count", "2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("needs both --count and --base-port"), "{}", out(&o));
    let o = pool(&["up", "--dir", &d, "--count", "1", "--base-port", "7000", "--topology", "zero"]);
    assert!(out(&o).contains("topology"), "{}", out(&o));
}

#[test]
fn units_are_generated_per_instance() {
    let dir = temp_dir("poolunits");
    let d = dir.to_str().unwrap().to_string();
    let _down = Down(d.clone());
    let units = dir.join("units");
    let o = pool(&[
        "units",
        "--out",
        units.to_str().unwrap(),
        "--dir",
        &d,
        "--count",
        "2",
        "--base-port",
        "7400",
        "--topology",
        "0:0;1:1",
        "--cluster",
    ]);
    assert!(o.status.success(), "{}", out(&o));
    let template = std::fs::read_to_string(units.join("shardis@.service")).unwrap();
    assert!(template.contains("Type=notify") && template.contains("${SHARDIS_CONF}"), "{template}");
    for (k, cpu) in [(0, "0"), (1, "1")] {
        let drop_in = std::fs::read_to_string(units.join(format!("shardis@i{k}.service.d/pool.conf"))).unwrap();
        let conf = dir.join(format!("i{k}/shardis.conf"));
        assert!(drop_in.contains(&format!("Environment=SHARDIS_CONF={}\n", conf.display())), "{drop_in}");
        assert!(
            drop_in.contains(&format!("CPUAffinity={cpu}\n")) && drop_in.contains(&format!("NUMAMask={k}\n")),
            "{drop_in}"
        );
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(text.contains(&format!("port {}\n", 7400 + k)) && text.contains("cluster-enabled yes\n"), "{text}");
    }
    assert!(out(&o).contains("systemctl daemon-reload && systemctl enable --now shardis@i0 shardis@i1"), "{}", out(&o));
}

/// The live children of `pid` (over all its threads).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(text.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
    }
    out
}

/// A BGSAVE child forked by a shard pinned to CPU 0 does not stay there: by default it
/// may run on every CPU the process may use (Redis's children are not pinned), and
/// `bgsave_cpulist` chooses its CPUs. `server_cpulist` is refused with a reason.
#[test]
fn bgsave_child_leaves_the_shard_cpu_or_takes_bgsave_cpulist() {
    let mine = status_field(std::process::id(), "Cpus_allowed_list");
    let last = mine.rsplit([',', '-']).next().unwrap().to_string();
    for (extra, want) in [(None, mine.as_str()), (Some(last.as_str()), last.as_str())] {
        let mut args = vec!["--cpus", "0", "--rdb-key-save-delay", "3000"];
        if let Some(list) = extra {
            args.extend(["--bgsave_cpulist", list]);
        }
        let s = common::Server::start(1, &args);
        let mut c = Client::connect("127.0.0.1", s.port, Duration::from_secs(10)).unwrap();
        assert_eq!(c.call(&["DEBUG", "POPULATE", "400"]).unwrap(), Reply::Simple("OK".into()));
        assert_eq!(status_field(s.pid(), "Cpus_allowed_list"), "0");
        assert_eq!(c.call(&["BGSAVE"]).unwrap(), Reply::Simple("Background saving started".into()));
        let mut child = None;
        assert!(
            wait_until(Duration::from_secs(10), || {
                child = children(s.pid()).into_iter().find(|&c| alive(c));
                child.is_some()
            }),
            "no BGSAVE child"
        );
        let child = child.unwrap();
        // The child sets its CPUs first thing; it lives ~1.2 s (3 ms per key).
        let mut got = String::new();
        assert!(
            wait_until(Duration::from_secs(5), || {
                got = std::fs::read_to_string(format!("/proc/{child}/status"))
                    .ok()
                    .and_then(|t| {
                        t.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map(|v| v.trim().to_string())
                    })
                    .unwrap_or_default();
                got == want
            }),
            "child CPUs {got:?}, want {want:?} (bgsave_cpulist {extra:?})"
        );
        let Reply::Array(Some(v)) = c.call(&["CONFIG", "GET", "bgsave_cpulist"]).unwrap() else { panic!() };
        assert_eq!(v[1], Reply::Bulk(Some(extra.unwrap_or("").as_bytes().to_vec())));
        // Not left writing behind the test.
        shardis::io::proc::kill(child as i32, libc::SIGKILL);
        assert!(wait_until(Duration::from_secs(10), || !alive(child)));
    }
    let o = Command::new(env!("CARGO_BIN_EXE_shardis-server"))
        .args(["--port", "0", "--dir", temp_dir("cpulist").to_str().unwrap(), "--server_cpulist", "0-1"])
        .output()
        .unwrap();
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("server_cpulist is not supported"), "{text}");
    let o = Command::new(env!("CARGO_BIN_EXE_shardis-server"))
        .args(["--port", "0", "--dir", temp_dir("cpulist").to_str().unwrap(), "--bgsave_cpulist", "one"])
        .output()
        .unwrap();
    assert!(o.status.code() == Some(1) && out(&o).contains("invalid CPU list"), "{}", out(&o));
}
