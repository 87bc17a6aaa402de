//! Running a pool's instances: `up` (idempotent), `down`, `status`, `restart`,
//! `logs`. Instances are ordinary `shardis-server` processes started in their own
//! process group with a generated `shardis.conf`; the pid file and the port tell
//! whether one runs.

use super::spec::{Instance, Pool, server_config, state_text};
use crate::cluster::client::{Client, Reply};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// `shardis-server` next to this binary (or `$SHARDIS_SERVER`).
pub fn server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SHARDIS_SERVER") {
        return PathBuf::from(p);
    }
    let me = std::env::current_exe().unwrap_or_default();
    me.with_file_name("shardis-server")
}

pub fn conf_path(i: &Instance) -> PathBuf {
    i.dir.join("shardis.conf")
}

pub fn log_path(i: &Instance) -> PathBuf {
    i.dir.join("shardis.log")
}

/// The pid of the running instance, if its pid file names a live shardis-server.
pub fn running_pid(i: &Instance) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(i.dir.join("shardis.pid")).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // A zombie (exited, not yet reaped) does not count.
    let state = stat.rsplit(')').next()?.split_whitespace().next()?;
    (String::from_utf8_lossy(&cmdline).contains("shardis-server") && state != "Z").then_some(pid)
}

pub fn call(port: u16, args: &[&str]) -> Result<Reply, String> {
    let mut c = Client::connect("127.0.0.1", port, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    c.call(args).map_err(|e| e.to_string())
}

fn answers(port: u16) -> bool {
    matches!(call(port, &["PING"]), Ok(Reply::Simple(s)) if s == "PONG")
}

/// The last `n` lines of an instance's log.
pub fn tail(i: &Instance, n: usize) -> String {
    let text = std::fs::read_to_string(log_path(i)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Starts one instance unless it runs; waits until it answers PING.
pub fn start(pool: &Pool, i: &Instance) -> Result<String, String> {
    if let Some(pid) = running_pid(i) {
        return Ok(format!("{}: already running (pid {pid}, port {})", i.name, i.port));
    }
    std::fs::create_dir_all(&i.dir).map_err(|e| format!("{}: can't create {}: {e}", i.name, i.dir.display()))?;
    let conf = conf_path(i);
    std::fs::write(&conf, server_config(pool, i))
        .map_err(|e| format!("{}: can't write {}: {e}", i.name, conf.display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(i))
        .map_err(|e| format!("{}: can't open its log: {e}", i.name))?;
    wait_for_free_port(i.port);
    let bin = server_binary();
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(&bin)
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{}: can't run {}: {e}", i.name, bin.display()))?
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{}: failed to start ({status}); last lines of {}:\n{}",
                i.name,
                log_path(i).display(),
                tail(i, 15)
            ));
        }
        if answers(i.port) && running_pid(i).is_some() {
            // Reap it in the background if it ever exits while we still run.
            std::thread::spawn(move || child.wait());
            return Ok(format!("{}: started (pid {}, port {})", i.name, running_pid(i).unwrap_or(0), i.port));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{}: did not answer on port {} within {START_TIMEOUT:?}; last lines of its log:\n{}",
                i.name,
                i.port,
                tail(i, 15)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to 5 s) until `port` can be bound. A killed instance's
/// listening sockets are closed when the kernel tears down its io_uring, a moment
/// after the process is gone; starting its replacement before that fails with
/// "Address already in use". A port someone else holds is left to the server to
/// report.
fn wait_for_free_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpListener::bind(("0.0.0.0", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops one instance (SIGTERM, then SIGKILL after `STOP_TIMEOUT`).
pub fn stop(i: &Instance) -> String {
    let Some(pid) = running_pid(i) else { return format!("{}: not running", i.name) };
    crate::io::proc::kill(pid, libc::SIGTERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    // Until the process is gone, not just its pidfile: the server removes the pidfile
    // early in its shutdown, and a restart must not meet its port or data-dir lock.
    while process_alive(pid) {
        if Instant::now() > deadline {
            crate::io::proc::kill(pid, libc::SIGKILL);
            return format!("{}: killed (pid {pid}) after {STOP_TIMEOUT:?}", i.name);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    format!("{}: stopped (pid {pid})", i.name)
}

/// Whether `pid` still exists as a process that is not a zombie.
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may hold spaces.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// `up`: writes the state file, starts every instance, forms the cluster. Returns the
/// report lines and whether everything is up.
pub fn up(pool: &Pool) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    if let Err(e) =
        std::fs::create_dir_all(&pool.dir).and_then(|_| std::fs::write(pool.dir.join("pool.state"), state_text(pool)))
    {
        return (vec![format!("can't write {}/pool.state: {e}", pool.dir.display())], false);
    }
    let mut ok = true;
    for i in &pool.instances {
        match start(pool, i) {
            Ok(l) => lines.push(l),
            Err(e) => {
                lines.push(e);
                ok = false;
            }
        }
    }
    if ok && pool.cluster {
        match super::cluster::form(pool) {
            Ok(l) => lines.extend(l),
            Err(e) => {
                lines.push(format!("cluster: {e}"));
                ok = false;
            }
        }
    }
    (lines, ok)
}

pub fn down(pool: &Pool) -> Vec<String> {
    pool.instances.iter().map(stop).collect()
}

/// One INFO field.
fn info_field(info: &str, name: &str) -> String {
    info.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':'))).unwrap_or("-").trim().to_string()
}

/// `status`: a table, and whether every instance runs.
pub fn status(pool: &Pool) -> (String, bool) {
    let mut rows = vec![vec![
        "NAME".to_string(),
        "STATE".into(),
        "PID".into(),
        "PORT".into(),
        "NODE".into(),
        "CPUS".into(),
        "ROLE".into(),
        "USED_MEMORY".into(),
        "OPS/S".into(),
        "CLUSTER".into(),
    ]];
    let mut all = true;
    for i in &pool.instances {
        let node = i.node.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        let cpus = if i.cpus.is_empty() { "-".into() } else { crate::config::parse::format_cpus(&i.cpus) };
        let pid = running_pid(i);
        let info = pid.and_then(|_| call(i.port, &["INFO"]).ok()).and_then(|r| r.text()).unwrap_or_default();
        let state = match (pid, info.is_empty()) {
            (None, _) => {
                all = false;
                "DOWN".to_string()
            }
            (Some(_), true) => {
                all = false;
                "NOT-ANSWERING".to_string()
            }
            (Some(_), false) => "up".to_string(),
        };
        let cluster = if pool.cluster && !info.is_empty() {
            call(i.port, &["CLUSTER", "INFO"])
                .ok()
                .and_then(|r| r.text())
                .map(|t| info_field(&t, "cluster_state"))
                .unwrap_or("-".into())
        } else {
            "-".into()
        };
        rows.push(vec![
            i.name.clone(),
            state,
            pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            i.port.to_string(),
            node,
            cpus,
            info_field(&info, "role"),
            info_field(&info, "used_memory_human"),
            info_field(&info, "instantaneous_ops_per_sec"),
            cluster,
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    (out, all)
}

pub fn find<'a>(pool: &'a Pool, name: &str) -> Result<&'a Instance, String> {
    pool.instances.iter().find(|i| i.name == name).ok_or_else(|| {
        let names: Vec<&str> = pool.instances.iter().map(|i| i.name.as_str()).collect();
        format!("no instance '{name}' in this pool (instances: {})", names.join(", "))
    })
}

/// Restarts one instance with its existing shardis.conf (a cluster node reloads its
/// nodes.conf and so rejoins as it was).
pub fn restart(pool: &Pool, name: &str) -> Result<Vec<String>, String> {
    let i = find(pool, name)?;
    let mut lines = vec![stop(i)];
    let conf = std::fs::read_to_string(conf_path(i)).ok();
    let mut keep = i.clone();
    if let Some(conf) = conf {
        // Directives are not in the state file: reuse the written configuration.
        keep.directives = conf
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                let k = l.split_whitespace().next().unwrap_or("");
                !matches!(
                    k,
                    "port"
                        | "dir"
                        | "pidfile"
                        | "logfile"
                        | "cpus"
                        | "shards"
                        | "numa-node"
                        | "numa-policy"
                        | "cluster-enabled"
                        | "cluster-config-file"
                )
            })
            .map(str::to_string)
            .collect();
    }
    lines.push(start(pool, &keep)?);
    Ok(lines)
}
