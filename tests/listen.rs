//! Listening sockets and accepting: a port in use fails start-up as redis-server
//! does, the Unix socket, tcp-keepalive, CONFIG SET port / bind at run time, and
//! accept failing for lack of file descriptors.

use crate::common;

use common::{RealRedis, Server, temp_dir, tool, wait_until};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` to its exit (killing it and failing after `timeout`); returns its exit
/// code and everything it printed.
fn run_to_exit(cmd: &mut Command, timeout: Duration) -> (Option<i32>, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return (status.code(), reader.join().unwrap());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not exit within {timeout:?}; output: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn shardis(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shardis-server"));
    cmd.args(["--bind", "127.0.0.1", "--save", "", "--shards", "2", "--dir", dir.to_str().unwrap()]).args(args);
    cmd
}

fn log_has(srv: &Server, needle: &str) -> bool {
    srv.log.lock().unwrap().iter().any(|l| l.contains(needle))
}

fn log_count(srv: &Server, needle: &str) -> usize {
    srv.log.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
}

/// PING over a fresh raw connection to `port`: whether PONG came back within 5 s.
fn fresh_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Every one of `n` fresh connections sees the key `who` set to `value`: a second
/// server sharing the port would answer some of them without it.
fn all_connections_see(port: u16, value: &str, n: usize) {
    for i in 0..n {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        let got: Option<String> = redis::cmd("GET").arg("who").query(&mut c).unwrap();
        assert_eq!(got.as_deref(), Some(value), "connection {i}");
    }
}

fn info_field(c: &mut redis::Connection, field: &str) -> String {
    let info: String = redis::cmd("INFO").arg("server").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .to_string()
}

#[test]
fn a_port_in_use_fails_start_up_like_redis_server() {
    // shardis on a port shardis holds.
    let srv = Server::start(2, &[]);
    let mut c = srv.conn();
    let _: () = redis::cmd("SET").arg("who").arg("first").query(&mut c).unwrap();
    let dir = temp_dir("second");
    let p = srv.port.to_string();
    let (code, out) = run_to_exit(&mut shardis(&dir, &["--port", &p]), Duration::from_secs(30));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "# Warning: Could not create server TCP listening socket 127.0.0.1:{p}: bind: Address already in use"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("# Failed listening on port {p} (TCP), aborting.")), "{out}");
    all_connections_see(srv.port, "first", 20);

    // redis-server on a port shardis holds: it fails the same way, in its own words.
    let (code, out) = run_to_exit(
        Command::new(tool("redis-server")).args([
            "--port",
            &p,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("Failed listening on port {p} (TCP), aborting.")), "{out}");
    all_connections_see(srv.port, "first", 20);

    // shardis on a port redis-server holds.
    let real = RealRedis::start(&temp_dir("real"));
    let mut rc = real.conn();
    let _: () = redis::cmd("SET").arg("who").arg("redis").query(&mut rc).unwrap();
    let rp = real.port.to_string();
    let (code, out) = run_to_exit(&mut shardis(&dir, &["--port", &rp]), Duration::from_secs(30));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("Failed listening on port {rp} (TCP), aborting.")), "{out}");
    all_connections_see(real.port, "redis", 20);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unix_socket_serves_clients_and_is_cleaned_up() {
    let dir = temp_dir("unix");
    let path = dir.join("shardis.sock");
    let p = path.to_str().unwrap().to_string();
    // A stale socket file (its server is gone) is replaced, as Redis does.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let mut srv = Server::start(2, &["--unixsocket", &p, "--unixsocketperm", "700"]);
    assert!(wait_until(Duration::from_secs(10), || log_has(&srv, "Ready to accept connections unix")));
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);

    // The redis crate over the socket, on several connections (spread over the shards).
    let client = redis::Client::open(format!("unix://{p}")).unwrap();
    let mut conns: Vec<redis::Connection> = (0..8).map(|_| client.get_connection().unwrap()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(c).unwrap();
    }
    let mut tcp = srv.conn();
    for i in 0..8 {
        let v: i64 = redis::cmd("GET").arg(format!("k{i}")).query(&mut tcp).unwrap();
        assert_eq!(v, i);
    }
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut conns[0]).unwrap();
    assert!(info.contains(&format!(" addr={p}:0 laddr={p}:0 ")), "{info}");
    assert!(info.contains(" flags=U "), "{info}");
    let tcp_info: String = redis::cmd("CLIENT").arg("INFO").query(&mut tcp).unwrap();
    assert!(tcp_info.contains(" flags=N "), "{tcp_info}");
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut tcp).unwrap();
    assert_eq!(list.lines().filter(|l| l.contains("flags=U")).count(), 8, "{list}");

    // redis-cli -s.
    let out = Command::new(tool("redis-cli")).args(["-s", &p, "CLIENT", "INFO"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("addr={p}:0")) && text.contains("flags=U"), "{text}");

    // A second server may not take over a socket a live server accepts on.
    let other = temp_dir("unix2");
    let (code, out) = run_to_exit(&mut shardis(&other, &["--port", "0", "--unixsocket", &p]), Duration::from_secs(30));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("Failed opening Unix socket: bind: Address already in use"), "{out}");
    let _ = std::fs::remove_dir_all(&other);
    let v: i64 = redis::cmd("GET").arg("k3").query(&mut conns[3]).unwrap();
    assert_eq!(v, 3);

    // Removed at exit.
    drop(conns);
    let status = srv.terminate().expect("exit status");
    assert!(status.success(), "{status:?}");
    // (The log is read by another thread, which may still be catching up.)
    assert!(wait_until(Duration::from_secs(10), || log_has(&srv, "Removing the unix socket file.")));
    assert!(!path.exists(), "socket file left behind");
}

/// The server side's keepalive timer of the connection whose client end is
/// `client_port`, in seconds (None: no keepalive timer), from `ss -tno`.
fn server_keepalive_secs(server_port: u16, client_port: u16) -> Option<u64> {
    let filter = format!("( sport = :{server_port} and dport = :{client_port} )");
    let out = Command::new("ss").args(["-tnoH", "state", "established", &filter]).output().expect("run ss");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(text.lines().count(), 1, "one server-side socket expected: {text:?}");
    let timer = text.split("timer:(keepalive,").nth(1)?;
    let t = timer.split(',').next().unwrap();
    // Values of a minute or more print as `XminYsec`.
    let (min, sec) = t.strip_suffix("sec").and_then(|t| t.split_once("min")).unwrap_or_else(|| panic!("{text}"));
    Some(min.parse::<u64>().unwrap() * 60 + sec.parse::<u64>().unwrap())
}

#[test]
fn tcp_keepalive_is_applied_to_new_connections() {
    let srv = Server::start(2, &[]);
    let connect = || {
        let mut s = srv.tcp();
        s.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).unwrap();
        let port = s.local_addr().unwrap().port();
        (s, port)
    };
    // Default 300 s: the first probe is due within 300 s of the last packet.
    let (_a, pa) = connect();
    let t = server_keepalive_secs(srv.port, pa).expect("keepalive on by default");
    assert!((240..=300).contains(&t), "{t}");

    let mut c = srv.conn();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("tcp-keepalive").arg("100").query(&mut c).unwrap();
    let (_b, pb) = connect();
    let t = server_keepalive_secs(srv.port, pb).expect("keepalive after CONFIG SET");
    assert!((60..=100).contains(&t), "{t}");
    // Connections made before keep theirs.
    assert!(server_keepalive_secs(srv.port, pa).unwrap() > 200);

    let _: () = redis::cmd("CONFIG").arg("SET").arg("tcp-keepalive").arg("0").query(&mut c).unwrap();
    let (_d, pd) = connect();
    assert_eq!(server_keepalive_secs(srv.port, pd), None);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// CONFIG SET port to a free port; returns it.
fn move_to_free_port(c: &mut redis::Connection) -> u16 {
    for _ in 0..5 {
        let q = free_port();
        // The port may be taken between picking and binding: retry then.
        if config_set(c, "port", &q.to_string()).is_ok() {
            return q;
        }
    }
    panic!("CONFIG SET port kept failing");
}

/// A server error as redis-server sends it (`ERR message`).
fn err_text(e: &redis::RedisError) -> String {
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

fn config_set(c: &mut redis::Connection, name: &str, value: &str) -> redis::RedisResult<()> {
    redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query(c)
}

#[test]
fn config_set_port_and_bind_move_the_listeners() {
    let srv = Server::start(4, &[]);
    let mut c = srv.conn();
    let fds = open_fds(srv.pid());

    // A free port: OK, the new port answers, the old one refuses, this connection stays.
    let port = move_to_free_port(&mut c);
    let refused = TcpStream::connect(("127.0.0.1", srv.port)).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(fresh_ping(port));
    assert_eq!(info_field(&mut c, "tcp_port"), port.to_string());
    let got: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("port").query(&mut c).unwrap();
    assert_eq!(got, vec!["port".to_string(), port.to_string()]);

    // A port in use: Redis's error; the server keeps the port it has.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let err = config_set(&mut c, "port", &taken.to_string()).unwrap_err();
    assert_eq!(
        err_text(&err),
        "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port. Check server logs."
    );
    assert!(fresh_ping(port));
    assert_eq!(info_field(&mut c, "tcp_port"), port.to_string());
    assert!(wait_until(Duration::from_secs(10), || log_has(
        &srv,
        &format!("127.0.0.1:{taken}: bind: Address already in use")
    ) && log_has(
        &srv,
        "Failed applying new configuration. Possibly related to new port setting."
    )));

    // bind: an address this host does not have fails as in Redis; an optional one
    // (`-addr`) is skipped.
    let err = config_set(&mut c, "bind", "127.0.0.1 192.0.2.1").unwrap_err();
    assert_eq!(
        err_text(&err),
        "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses."
    );
    assert!(fresh_ping(port));
    config_set(&mut c, "bind", "127.0.0.1 -192.0.2.1").unwrap();
    assert!(fresh_ping(port));
    // ... but not when that would leave no address at all.
    let err = config_set(&mut c, "bind", "-192.0.2.1").unwrap_err();
    assert!(err_text(&err).ends_with("Failed to bind to specified addresses."), "{err}");
    assert!(fresh_ping(port));
    // The wildcard overlaps our own listeners on the same port, and back again.
    config_set(&mut c, "bind", "0.0.0.0").unwrap();
    assert!(fresh_ping(port));
    config_set(&mut c, "bind", "127.0.0.1").unwrap();
    assert!(fresh_ping(port));

    // port 0 picks a free port, as at start-up.
    config_set(&mut c, "port", "0").unwrap();
    let picked: u16 = info_field(&mut c, "tcp_port").parse().unwrap();
    assert_ne!(picked, port);
    assert!(fresh_ping(picked));
    assert_eq!(TcpStream::connect(("127.0.0.1", port)).unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);

    // The connection that did all this is still here, and no listener fd leaked.
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert!(
        wait_until(Duration::from_secs(10), || open_fds(srv.pid()) == fds),
        "fds {} -> {}",
        fds,
        open_fds(srv.pid())
    );
    drop(holder);
}

const EMFILE_LINE: &str = "Accepting client connection: accept: Too many open files";

#[test]
fn accept_out_of_fds_backs_off_and_recovers() {
    let srv = Server::start(2, &[]);
    let pid = srv.pid();
    let mut c = srv.conn();
    let st = Command::new("prlimit").args([format!("--pid={pid}"), "--nofile=64:64".into()]).status().unwrap();
    assert!(st.success());
    // io_uring reads RLIMIT_NOFILE when an accept is armed: move the listeners so the
    // accepts run under the lowered limit.
    let port = move_to_free_port(&mut c);

    // Open connections until one is not accepted.
    let mut accepted = Vec::new();
    let mut stuck = None;
    let mut since = Instant::now();
    for _ in 0..200 {
        since = Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        match s.read_exact(&mut buf) {
            Ok(()) => accepted.push(s),
            Err(_) => {
                stuck = Some(s);
                break;
            }
        }
    }
    // `since`: when accept started failing (the stuck connection's attempt).
    let mut stuck = stuck.expect("accept never failed under a 64-fd limit");
    assert!(wait_until(Duration::from_secs(10), || log_has(&srv, EMFILE_LINE)));

    // The server stays responsive, and does not spin: over one second of failing
    // accepts it uses a small fraction of a CPU (a spinning shard uses all of one).
    let cpu_ticks = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu_ticks();
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(1) {
        let pong: String = redis::cmd("PING").query(&mut c).unwrap();
        assert_eq!(pong, "PONG");
        std::thread::sleep(Duration::from_millis(50));
    }
    let used = cpu_ticks() - before;
    // Measured: 0-1 ticks here; re-arming at once after EMFILE used 34.
    assert!(used < 15, "server used {used} ticks of CPU in 1 s while accept failed");

    // Closing connections frees fds: the waiting connection is accepted, new ones too.
    accepted.truncate(accepted.len() - 4);
    stuck.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 7];
    stuck.read_exact(&mut buf).expect("the queued connection is accepted once fds are free");
    assert_eq!(&buf, b"+PONG\r\n");
    assert!(fresh_ping(port));

    // At most about one log line a second.
    let lines = log_count(&srv, EMFILE_LINE);
    let allowed = since.elapsed().as_secs() as usize + 2;
    assert!((1..=allowed).contains(&lines), "{lines} lines in {:?}", since.elapsed());
}

/// A BGSAVE child holds no listening socket, directly or through a ring: after the
/// server is killed mid-snapshot the port frees up (once the kernel has torn the
/// dead process's rings down) and a new server binds it while the child still runs.
/// Before, the child kept the port for the whole snapshot.
#[test]
fn a_snapshot_child_does_not_keep_the_port() {
    let mut srv = Server::start(2, &[]);
    let mut c = srv.conn();
    for i in 0..60 {
        let _: () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut c).unwrap();
    }
    // 60 keys at 500 ms each: the child runs for ~30 s unless killed.
    let _: () = redis::cmd("CONFIG").arg("SET").arg("rdb-key-save-delay").arg("500000").query(&mut c).unwrap();
    let _: String = redis::cmd("BGSAVE").query(&mut c).unwrap();
    assert!(wait_until(Duration::from_secs(20), || log_has(&srv, "Background saving started by pid")));
    let child_pid: i32 = srv
        .log
        .lock()
        .unwrap()
        .iter()
        .find_map(|l| l.split("Background saving started by pid ").nth(1).and_then(|p| p.trim().parse().ok()))
        .expect("child pid in the log");
    let child_alive = || std::path::Path::new(&format!("/proc/{child_pid}")).exists();
    let port = srv.port;
    srv.kill9();
    let freed = wait_until(Duration::from_secs(15), || std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    let alive_after = child_alive();
    let dir = temp_dir("after-child");
    let p = port.to_string();
    let mut next = shardis(&dir, &["--port", &p]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let up = freed && wait_until(Duration::from_secs(20), || fresh_ping(port));
    // The orphaned child is ours to stop.
    let _ = Command::new("kill").args(["-9", &child_pid.to_string()]).status();
    let _ = next.kill();
    let out = next.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let out = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(freed, "port {port} stayed bound after the server died, while its snapshot child ran");
    assert!(alive_after, "the snapshot child ended before the check; the test proved nothing");
    assert!(up, "a new server could not serve on the freed port: {out}");
}
