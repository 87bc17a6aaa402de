//! Process lifetime and start-up: the data directory lock, a panic ending the process,
//! the open-files limit against maxclients, the pid file, sd_notify and upstart
//! supervision, SIGINT/SIGTERM with their shutdown flags, the start-up log lines, the
//! verbose log, and a refused io_uring.
//!
//! These tests start the binary themselves (through `prlimit`, with environment
//! variables or a seccomp filter), so they use their own launcher, [`Proc`], which
//! collects stdout lines and waits on them with deadlines.

use crate::common;

use common::{Server, temp_dir, wait_until};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shardis-server");
const READY: Duration = Duration::from_secs(60);

/// A server process started by a test, its stdout collected line by line.
struct Proc {
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
}

impl Proc {
    /// `shardis-server --port 0 --bind 127.0.0.1 --dir <dir> --save "" <extra>`, run
    /// through `cmd` (the binary itself, or a wrapper such as prlimit).
    fn spawn(mut cmd: Command, dir: &Path, extra: &[&str]) -> Proc {
        cmd.args(["--port", "0", "--bind", "127.0.0.1", "--dir", dir.to_str().unwrap(), "--save", ""])
            .args(extra)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("UPSTART_JOB")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Proc::spawn_raw(cmd, dir)
    }

    fn spawn_raw(mut cmd: Command, dir: &Path) -> Proc {
        let mut child = cmd.spawn().expect("spawn shardis-server");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        Proc { child: Some(child), log, dir: dir.to_path_buf() }
    }

    fn server(dir: &Path, extra: &[&str]) -> Proc {
        Proc::spawn(Command::new(BIN), dir, extra)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn has(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// Waits for a line containing `needle`; panics with the log after `timeout`.
    fn wait_for(&self, needle: &str, timeout: Duration) {
        if !wait_until(timeout, || self.has(needle)) {
            panic!("no line with {needle:?} within {timeout:?}; log:\n{}", self.text());
        }
    }

    /// Waits for readiness and returns the port from the `Listening on` line.
    fn ready(&self) -> u16 {
        self.wait_for("Ready to accept connections", READY);
        let log = self.log.lock().unwrap();
        log.iter()
            .find_map(|l| l.split("Listening on ").nth(1)?.rsplit(':').next()?.trim().parse().ok())
            .expect("Listening on line")
    }

    /// Waits for the process to exit by itself.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let c = self.child.as_mut().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return st;
            }
            if Instant::now() > deadline {
                panic!("process did not exit within {timeout:?}; log:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(self.pid().to_string()).status().unwrap();
        assert!(ok.success());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // A stopped process (upstart test) must be continued to die of SIGKILL's
            // reaping cleanly; SIGKILL works on stopped processes too.
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn redis_conn(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.get_connection() {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
}

fn config_get(con: &mut redis::Connection, name: &str) -> String {
    let v: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(con).unwrap();
    v[1].clone()
}

// ---------------------------------------------------------------------------
// The data directory lock
// ---------------------------------------------------------------------------

#[test]
fn a_second_server_on_the_same_dir_refuses_to_start() {
    let first = Server::start(1, &[]);
    let mut second = Proc::spawn(Command::new(BIN), &first.dir, &[]);
    let st = second.wait_exit(Duration::from_secs(20));
    assert_eq!(st.code(), Some(1), "log:\n{}", second.text());
    let want = format!("is in use by another shardis-server (pid {})", first.pid());
    assert!(second.has(&want), "log:\n{}", second.text());
    assert!(!second.has("Ready to accept connections"));
    // The refused server must not remove the first one's directory on drop.
    second.dir = temp_dir("unused");
    // The first server is untouched.
    let mut con = first.conn();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn the_lock_goes_with_the_process_and_config_set_dir_moves_it() {
    let dir_a = temp_dir("lock-a");
    let dir_b = temp_dir("lock-b");
    let mut first = Server::start_in(dir_a.clone(), 2, &["--enable-debug-command", "yes"]);
    // A BGSAVE child inherits the lock's fd; it must not keep the lock after the
    // parent dies. rdb-key-save-delay keeps the child writing for a while.
    let mut con = first.conn();
    for i in 0..50 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg("v").query(&mut con).unwrap();
    }
    let _: () = redis::cmd("CONFIG").arg("SET").arg("rdb-key-save-delay").arg("200000").query(&mut con).unwrap();
    let _: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    let info: String = redis::cmd("INFO").arg("persistence").query(&mut con).unwrap();
    assert!(info.contains("rdb_bgsave_in_progress:1"), "{info}");
    assert!(wait_until(Duration::from_secs(10), || first
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("Background saving started by pid"))));
    let child: u32 = first
        .log
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| l.split("Background saving started by pid ").nth(1)?.trim().parse().ok())
        .unwrap();
    first.kill9();
    // The orphaned child still runs (it sleeps 0.2 s per key) but holds no lock.
    // CONFIG SET dir needs `enable-protected-configs` (Redis 7.0 protects it).
    let mut second = Proc::server(&dir_a, &["--shards", "1", "--enable-protected-configs", "local"]);
    let port = second.ready();
    let child_alive = || {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        !stat.is_empty() && stat.rsplit(") ").next().and_then(|r| r.chars().next()) != Some('Z')
    };
    assert!(child_alive(), "the snapshot child ended too early for this test to mean anything");
    // It inherited the test's stderr: end it now rather than leave it writing.
    let _ = Command::new("kill").arg("-KILL").arg(child.to_string()).status();
    assert!(wait_until(Duration::from_secs(10), || !child_alive()));
    let mut con = redis_conn(port);

    // CONFIG SET dir to a directory another server holds is refused ...
    let third = Server::start_in(dir_b.clone(), 1, &[]);
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("dir")
        .arg(dir_b.to_str().unwrap())
        .query::<()>(&mut con)
        .unwrap_err()
        .to_string();
    assert!(err.contains("CONFIG SET failed (possibly related to argument 'dir')"), "{err}");
    assert!(err.contains(&format!("pid {}", third.pid())), "{err}");
    assert_eq!(config_get(&mut con, "dir"), dir_a.to_str().unwrap());
    drop(third);

    // ... a free one is taken, and the old one released.
    let dir_c = temp_dir("lock-c");
    let _: () = redis::cmd("CONFIG").arg("SET").arg("dir").arg(dir_c.to_str().unwrap()).query(&mut con).unwrap();
    assert_eq!(std::fs::read_to_string(dir_c.join("shardis.lock")).unwrap().trim(), second.pid().to_string());
    let mut fourth = Proc::server(&dir_a, &["--shards", "1"]);
    let fourth_port = fourth.ready();
    // By default `dir` is protected, as in Redis 7.0.
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("dir")
        .arg(dir_c.to_str().unwrap())
        .query::<()>(&mut redis_conn(fourth_port))
        .unwrap_err()
        .to_string();
    assert!(err.contains("(possibly related to argument 'dir') - can't set protected config"), "{err}");
    let mut fifth = Proc::server(&dir_c, &["--shards", "1"]);
    assert_eq!(fifth.wait_exit(Duration::from_secs(20)).code(), Some(1));
    fifth.dir = temp_dir("unused");
    second.signal("KILL");
    second.wait_exit(Duration::from_secs(10));
    fourth.signal("KILL");
    fourth.wait_exit(Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir_c);
}

// ---------------------------------------------------------------------------
// A panic ends the process
// ---------------------------------------------------------------------------

#[test]
fn a_panic_in_a_shard_thread_ends_the_process_with_a_backtrace() {
    let dir = temp_dir("panic");
    let mut p = Proc::server(&dir, &["--shards", "2", "--enable-debug-command", "yes"]);
    let port = p.ready();
    // Some traffic on both shards first, then a panic on the connection's shard.
    let mut con = redis_conn(port);
    for i in 0..20 {
        let _: () = redis::cmd("SET").arg(format!("key{i}")).arg(i).query(&mut con).unwrap();
    }
    let r = redis::cmd("DEBUG").arg("PANIC").query::<String>(&mut con);
    assert!(r.is_err(), "DEBUG PANIC answered {r:?}");
    let st = p.wait_exit(Duration::from_secs(30));
    assert_eq!(st.code(), Some(1), "log:\n{}", p.text());
    let log = p.text();
    assert!(log.contains("thread 'shard-"), "{log}");
    assert!(log.contains("panicked at src/cmd/debug.rs"), "{log}");
    assert!(log.contains("DEBUG PANIC called"), "{log}");
    assert!(log.contains("STACK TRACE"), "{log}");
    // A symbolized frame of the handler that panicked.
    assert!(log.contains("shardis::cmd::debug"), "{log}");
    assert!(!log.contains("bye bye"), "{log}");
}

// ---------------------------------------------------------------------------
// RLIMIT_NOFILE against maxclients
// ---------------------------------------------------------------------------

fn under_prlimit(limit: &str) -> Command {
    let mut c = Command::new("prlimit");
    c.arg(format!("--nofile={limit}")).arg("--").arg(BIN);
    c
}

#[test]
fn maxclients_is_lowered_to_fit_a_low_hard_limit() {
    // 4,000,000 clients need more fds than the kernel allows anyone (fs.nr_open), so
    // the limit cannot be raised even with CAP_SYS_RESOURCE: maxclients must come down
    // to the hard limit minus the reserved fds (32 + 4 per shard).
    let dir = temp_dir("nofile-low");
    let p = Proc::spawn(under_prlimit("256:256"), &dir, &["--shards", "2", "--maxclients", "4000000"]);
    let port = p.ready();
    let mut con = redis_conn(port);
    assert_eq!(config_get(&mut con, "maxclients"), "216");
    p.wait_for("You requested maxclients of 4000000 requiring at least 4000040 max file descriptors.", READY);
    p.wait_for("Server can't set maximum open files to 4000040 because of OS error: Operation not permitted.", READY);
    p.wait_for(
        "Current maximum open files is 256. maxclients has been reduced to 216 to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
        READY,
    );

    // CONFIG SET maxclients above what the limit allows is refused, as in Redis.
    let err = redis::cmd("CONFIG").arg("SET").arg("maxclients").arg("100000").query::<()>(&mut con).unwrap_err();
    assert!(
        err.to_string().contains(
            "CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with 216"
        ),
        "{err}"
    );
    assert_eq!(config_get(&mut con, "maxclients"), "216");
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxclients").arg("100").query(&mut con).unwrap();
    assert_eq!(config_get(&mut con, "maxclients"), "100");

    // A soft limit below the hard one is raised as far as the hard one allows.
    let dir = temp_dir("nofile-soft");
    let p = Proc::spawn(under_prlimit("256:600"), &dir, &["--shards", "1", "--maxclients", "4000000"]);
    let port = p.ready();
    let mut con = redis_conn(port);
    assert_eq!(config_get(&mut con, "maxclients"), "564");
    p.wait_for("Current maximum open files is 600. maxclients has been reduced to 564", READY);
}

#[test]
fn the_soft_limit_is_raised_when_maxclients_fits_under_the_hard_limit() {
    let dir = temp_dir("nofile-raise");
    let p = Proc::spawn(under_prlimit("256:4096"), &dir, &["--shards", "2", "--maxclients", "1000"]);
    let port = p.ready();
    let mut con = redis_conn(port);
    assert_eq!(config_get(&mut con, "maxclients"), "1000");
    p.wait_for("Increased maximum number of open files to 1040 (it was originally set to 256).", READY);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", p.pid())).unwrap();
    let soft_limit = || {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", p.pid())).unwrap();
        let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
        line.split_whitespace().nth(3).unwrap().to_string()
    };
    assert_eq!(soft_limit(), "1040", "{limits}");
    // CONFIG SET maxclients raises it again, within the hard limit.
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxclients").arg("2000").query(&mut con).unwrap();
    assert_eq!(soft_limit(), "2040");
    assert_eq!(config_get(&mut con, "maxclients"), "2000");
}

#[test]
fn a_limit_too_low_for_the_reserved_fds_stops_start_up() {
    let dir = temp_dir("nofile-tiny");
    let mut p = Proc::spawn(under_prlimit("30:30"), &dir, &["--shards", "1"]);
    assert_eq!(p.wait_exit(Duration::from_secs(20)).code(), Some(1), "log:\n{}", p.text());
    assert!(
        p.has("Your current 'ulimit -n' of 30 is not enough for the server to start. Please increase your open file limit to at least 10036. Exiting."),
        "log:\n{}",
        p.text()
    );
}

// ---------------------------------------------------------------------------
// pidfile
// ---------------------------------------------------------------------------

#[test]
fn the_pid_file_exists_while_the_server_runs_and_goes_at_a_clean_exit() {
    let dir = temp_dir("pidfile");
    let pidfile = dir.join("shardis.pid");
    let mut p = Proc::server(&dir, &["--shards", "2", "--pidfile", pidfile.to_str().unwrap()]);
    let port = p.ready();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), format!("{}\n", p.pid()));
    let mut con = redis_conn(port);
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut con);
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
    assert!(!pidfile.exists(), "pid file left behind");
    assert!(p.has("Removing the pid file."));

    // An unwritable path is a warning, as in Redis, not a silent no-op.
    let dir = temp_dir("pidfile-bad");
    let p = Proc::server(&dir, &["--shards", "1", "--pidfile", "/nonexistent/dir/x.pid"]);
    p.ready();
    assert!(p.has("Failed to write PID file: No such file or directory"), "log:\n{}", p.text());
}

// ---------------------------------------------------------------------------
// supervised
// ---------------------------------------------------------------------------

/// Receives sd_notify datagrams until one equals `want`, returning all seen.
fn recv_until(sock: &std::os::unix::net::UnixDatagram, want: &str, seen: &mut Vec<String>) {
    sock.set_read_timeout(Some(READY)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        let n = sock.recv(&mut buf).unwrap_or_else(|e| panic!("no {want:?} (got {seen:?}): {e}"));
        let msg = String::from_utf8_lossy(&buf[..n]).to_string();
        seen.push(msg.clone());
        if msg.trim_end() == want {
            return;
        }
    }
}

#[test]
fn supervised_systemd_notifies_ready_and_stopping() {
    let dir = temp_dir("sdnotify");
    let path = dir.join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let data = temp_dir("sdnotify-data");
    let env = [("NOTIFY_SOCKET", path.to_str().unwrap())];
    let mut p = Proc::spawn_with_env(Command::new(BIN), &data, &["--shards", "2", "--supervised", "systemd"], &env);
    let mut seen = Vec::new();
    recv_until(&sock, "READY=1", &mut seen);
    assert!(seen.iter().any(|m| m == "STATUS=Ready to accept connections\n"), "{seen:?}");
    // READY only once the server answers.
    let port = p.ready();
    let mut con = redis_conn(port);
    let _: String = redis::cmd("PING").query(&mut con).unwrap();
    assert!(p.has("Supervised by systemd."));
    p.signal("TERM");
    recv_until(&sock, "STOPPING=1", &mut seen);
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn supervised_auto_uses_an_abstract_notify_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("shardis-test-notify-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let sock = std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap();
    let dir = temp_dir("sdnotify-abstract");
    let env_value = format!("@{name}");
    let p = Proc::spawn_with_env(
        Command::new(BIN),
        &dir,
        &["--shards", "1", "--supervised", "auto"],
        &[("NOTIFY_SOCKET", &env_value)],
    );
    let mut seen = Vec::new();
    recv_until(&sock, "READY=1", &mut seen);
    p.ready();
}

#[test]
fn supervised_systemd_without_notify_socket_says_so() {
    let dir = temp_dir("sdnotify-missing");
    let p = Proc::server(&dir, &["--shards", "1", "--supervised", "systemd"]);
    p.ready();
    assert!(
        p.has("systemd supervision requested or auto-detected, but NOTIFY_SOCKET environment variable not found!"),
        "log:\n{}",
        p.text()
    );
}

#[test]
fn supervised_upstart_stops_itself_once_ready() {
    let dir = temp_dir("upstart");
    let p = Proc::spawn_with_env(
        Command::new(BIN),
        &dir,
        &["--shards", "1", "--supervised", "upstart"],
        &[("UPSTART_JOB", "shardis")],
    );
    let port = p.ready();
    let stat = format!("/proc/{}/stat", p.pid());
    let stopped = || {
        let s = std::fs::read_to_string(&stat).unwrap_or_default();
        s.rsplit(") ").next().and_then(|r| r.chars().next()) == Some('T')
    };
    assert!(wait_until(Duration::from_secs(20), stopped), "the server did not stop itself");
    p.signal("CONT");
    let mut con = redis_conn(port);
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    assert!(p.has("supervised by upstart, will stop to signal readiness."));
}

impl Proc {
    fn spawn_with_env(mut cmd: Command, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proc {
        cmd.args(["--port", "0", "--bind", "127.0.0.1", "--dir", dir.to_str().unwrap(), "--save", ""])
            .args(extra)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("UPSTART_JOB")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Proc::spawn_raw(cmd, dir)
    }
}

// ---------------------------------------------------------------------------
// SIGINT and SIGTERM
// ---------------------------------------------------------------------------

#[test]
fn sigint_is_named_and_follows_shutdown_on_sigint() {
    // save points off, but `shutdown-on-sigint save`: SIGINT must save.
    let dir = temp_dir("sigint");
    let mut p = Proc::server(&dir, &["--shards", "2", "--shutdown-on-sigint", "save"]);
    let port = p.ready();
    let mut con = redis_conn(port);
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    p.signal("INT");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0), "log:\n{}", p.text());
    assert!(p.has("Received SIGINT scheduling shutdown..."), "log:\n{}", p.text());
    assert!(!p.has("SIGTERM"));
    assert!(p.has("Saving the final RDB snapshot before exiting."));
    assert!(dir.join("dump.rdb").exists());
}

#[test]
fn sigterm_is_named_and_follows_shutdown_on_sigterm() {
    // save points on, but `shutdown-on-sigterm nosave`: SIGTERM must not save ...
    let dir = temp_dir("sigterm");
    let mut p = Proc::server(&dir, &["--shards", "2", "--save", "3600 1", "--shutdown-on-sigterm", "nosave"]);
    let port = p.ready();
    let mut con = redis_conn(port);
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0), "log:\n{}", p.text());
    assert!(p.has("Received SIGTERM scheduling shutdown..."), "log:\n{}", p.text());
    assert!(!p.has("Saving the final RDB snapshot"));
    assert!(!dir.join("dump.rdb").exists());

    // ... while SIGINT on the same settings follows `shutdown-on-sigint default`:
    // save points are set, so it saves.
    let dir = temp_dir("sigint-default");
    let mut p = Proc::server(&dir, &["--shards", "1", "--save", "3600 1", "--shutdown-on-sigterm", "nosave"]);
    p.ready();
    p.signal("INT");
    assert_eq!(p.wait_exit(Duration::from_secs(30)).code(), Some(0), "log:\n{}", p.text());
    assert!(p.has("Received SIGINT scheduling shutdown..."));
    assert!(dir.join("dump.rdb").exists(), "log:\n{}", p.text());
}

// ---------------------------------------------------------------------------
// Start-up log lines
// ---------------------------------------------------------------------------

/// `pid:role dd Mon yyyy hh:mm:ss.mmm <mark> message`, as redis-server writes it.
fn is_redis_log_line(line: &str, pid: u32) -> bool {
    let Some(rest) = line.strip_prefix(&format!("{pid}:")) else { return false };
    let b = rest.as_bytes();
    // C 05 Dec 2026 08:04:35.989 # msg
    b.len() > 28
        && (b[0] == b'C' || b[0] == b'M')
        && b[1] == b' '
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit()
        && b[4] == b' '
        && b[5].is_ascii_uppercase()
        && b[6].is_ascii_lowercase()
        && b[7].is_ascii_lowercase()
        && b[8] == b' '
        && b[9..13].iter().all(u8::is_ascii_digit)
        && b[13] == b' '
        && &rest[16..17] == ":"
        && &rest[19..20] == ":"
        && &rest[22..23] == "."
        && b[23..26].iter().all(u8::is_ascii_digit)
        && b[26] == b' '
        && matches!(b[27], b'.' | b'-' | b'*' | b'#')
        && b[28] == b' '
}

#[test]
fn start_up_logs_read_like_redis_server() {
    let dir = temp_dir("startlog");
    let conf = dir.join("shardis.conf");
    std::fs::write(&conf, "loglevel notice\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg(&conf);
    let p = Proc::spawn(cmd, &dir, &["--shards", "2", "--cpus", "0", "--tcp-backlog", "1000000"]);
    let port = p.ready();
    let pid = p.pid();
    let log = p.log.lock().unwrap().clone();
    let pos = |needle: &str| {
        log.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle:?} in:\n{}", log.join("\n")))
    };
    for l in &log {
        assert!(is_redis_log_line(l, pid), "not a Redis-style line: {l:?}");
    }
    let order = [
        "oO0OoO0OoO0Oo shardis is starting oO0OoO0OoO0Oo".to_string(),
        format!("version={}, bits=64, commit=", env!("CARGO_PKG_VERSION")),
        "Configuration loaded".to_string(),
        format!("Running mode=standalone, port={port}."),
        "# Server initialized".to_string(),
        "2 shard(s): shard 0 on CPU 0, shard 1 on CPU 0".to_string(),
        "Persistence: none (no save points, appendonly no)".to_string(),
        "Ready to accept connections tcp".to_string(),
    ];
    let at: Vec<usize> = order.iter().map(|n| pos(n)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "out of order: {at:?}\n{}", log.join("\n"));
    assert!(log[pos("just started")].contains(&format!("modified=0, pid={pid}, just started")));
    assert!(log[pos("oO0OoO0OoO0Oo")].starts_with(&format!("{pid}:C ")));
    let canon = std::fs::canonicalize(&conf).unwrap();
    pos(&format!("Configuration file: {}", canon.display()));
    // The system checks, against what this machine says.
    let somaxconn: u64 = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap();
    let warned = log.iter().any(|l| {
        l.contains(&format!(
            "WARNING: The TCP backlog setting of 1000000 cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {somaxconn}."
        ))
    });
    assert_eq!(warned, somaxconn < 1_000_000);
    let overcommit = std::fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap();
    assert_eq!(log.iter().any(|l| l.contains("WARNING Memory overcommit must be enabled!")), overcommit.trim() == "0");
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    assert_eq!(log.iter().any(|l| l.contains("Transparent Huge Pages (THP)")), thp.contains("[always]"));
}

#[test]
fn always_show_logo_prints_the_banner_with_port_and_pid() {
    let dir = temp_dir("logo");
    let p = Proc::server(&dir, &["--shards", "1", "--always-show-logo", "yes", "--appendonly", "yes"]);
    let port = p.ready();
    let log = p.text();
    assert!(log.contains(&format!(" PID: {}\n", p.pid())), "{log}");
    assert!(log.contains(&format!(" Port: {port}\n")), "{log}");
    assert!(!log.contains("Running mode=standalone"), "{log}");
    assert!(log.contains("Persistence: AOF only (appendfsync everysec)"), "{log}");
}

#[test]
fn no_arguments_at_all_warns_about_the_missing_config_file() {
    // Started bare, the server would listen on 6379 and write ./data: run it in a
    // scratch working directory and only look at its first lines.
    let dir = temp_dir("bare");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(&dir).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut p = Proc::spawn_raw(cmd, &dir);
    p.wait_for("Warning: no config file specified, using the default config.", READY);
    assert!(!p.has("Configuration loaded"));
    p.signal("KILL");
    p.wait_exit(Duration::from_secs(10));
}

// ---------------------------------------------------------------------------
// loglevel verbose
// ---------------------------------------------------------------------------

#[test]
fn loglevel_verbose_logs_clients_and_database_sizes() {
    let dir = temp_dir("verbose");
    let p = Proc::server(&dir, &["--shards", "1", "--loglevel", "verbose"]);
    let port = p.ready();
    {
        let mut con = redis_conn(port);
        let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
        let _: () = redis::cmd("SET").arg("b").arg("1").arg("EX").arg("100").query(&mut con).unwrap();
        let _: String = redis::cmd("PING").query(&mut con).unwrap();
    }
    p.wait_for("- Accepted 127.0.0.1:", READY);
    p.wait_for("- Client closed connection id=", READY);
    // Every 5 s of cron.
    p.wait_for("- DB 0: 2 keys (1 volatile)", Duration::from_secs(30));

    // At notice (the default), none of it.
    let dir = temp_dir("notice");
    let q = Proc::server(&dir, &["--shards", "1"]);
    let port = q.ready();
    let mut con = redis_conn(port);
    let _: String = redis::cmd("PING").query(&mut con).unwrap();
    drop(con);
    assert!(!q.has("Accepted"));
}

// ---------------------------------------------------------------------------
// io_uring refused
// ---------------------------------------------------------------------------

/// Runs the server under a seccomp filter that fails `io_uring_setup` with `errno`,
/// as a container runtime's default profile does.
fn server_without_io_uring(errno: i32) -> Proc {
    use std::os::unix::process::CommandExt;
    let dir = temp_dir("nouring");
    let mut cmd = Command::new(BIN);
    // SAFETY: the closure runs in the forked child before exec and only makes two
    // prctl calls on memory it owns (the filter lives on its stack until the call).
    unsafe {
        cmd.pre_exec(move || {
            let nr = libc::SYS_io_uring_setup as u32;
            let filter = [
                // A = seccomp_data.nr
                libc::sock_filter { code: 0x20, jt: 0, jf: 0, k: 0 },
                // if A == io_uring_setup: next, else skip one
                libc::sock_filter { code: 0x15, jt: 0, jf: 1, k: nr },
                libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: libc::SECCOMP_RET_ERRNO | errno as u32 },
                libc::sock_filter { code: 0x06, jt: 0, jf: 0, k: libc::SECCOMP_RET_ALLOW },
            ];
            let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
            let (one, zero) = (1 as libc::c_ulong, 0 as libc::c_ulong);
            let mode = libc::SECCOMP_MODE_FILTER as libc::c_ulong;
            let prog_ptr = &prog as *const libc::sock_fprog as libc::c_ulong;
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, one, zero, zero, zero) != 0
                || libc::prctl(libc::PR_SET_SECCOMP, mode, prog_ptr, zero, zero) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Proc::spawn(cmd, &dir, &["--shards", "2"])
}

#[test]
fn io_uring_refused_by_seccomp_names_the_cause_and_exits() {
    let mut p = server_without_io_uring(libc::EPERM);
    assert_eq!(p.wait_exit(Duration::from_secs(20)).code(), Some(1), "log:\n{}", p.text());
    let log = p.text();
    assert!(log.contains("Can't set up io_uring"), "{log}");
    assert!(log.contains("(EPERM)"), "{log}");
    assert!(log.contains("seccomp"), "{log}");
    assert!(log.contains("kernel.io_uring_disabled"), "{log}");
    assert!(!log.contains("Ready to accept connections"));

    let mut p = server_without_io_uring(libc::ENOSYS);
    assert_eq!(p.wait_exit(Duration::from_secs(20)).code(), Some(1), "log:\n{}", p.text());
    let log = p.text();
    assert!(log.contains("has no io_uring (ENOSYS)") && log.contains("Linux 6.0"), "{log}");
}
