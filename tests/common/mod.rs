//! Starts the real `shardis-server` binary for integration tests.
//!
//! The server is started with `--port 0`; it picks a free port and logs it, and we
//! wait (with a deadline) for the "Ready to accept connections" line instead of
//! sleeping. Each server gets its own temporary `dir`, removed on drop (kept when the
//! test fails, see [`temp_dirs`]).
#![allow(dead_code)]

pub mod compare;
pub mod diff;
pub mod fake_master;
pub mod repl;
pub mod temp_dirs;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub shards: usize,
    pub dir: PathBuf,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new empty directory under the system temp dir, removed when the test that made
/// it passes and kept when it fails ([`temp_dirs`]).
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("shardis-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    temp_dirs::remove_when_test_passes(&d);
    d
}

impl Server {
    /// Starts a server with `shards` shards and extra flags. Tests may use DEBUG
    /// (DIGEST, RELOAD, SLEEP ...), so `--enable-debug-command yes` is passed unless
    /// `extra` sets it; the server's own default (`no`) is checked with
    /// [`Server::start_without_debug`].
    pub fn start(shards: usize, extra: &[&str]) -> Server {
        Server::start_in(temp_dir("srv"), shards, extra)
    }

    /// Starts a server without enabling DEBUG: `enable-debug-command` keeps its default.
    pub fn start_without_debug(shards: usize, extra: &[&str]) -> Server {
        Server::launch_with(None, temp_dir("srv"), shards, extra, false)
    }

    pub fn start_in(dir: PathBuf, shards: usize, extra: &[&str]) -> Server {
        Server::launch(None, dir, shards, extra)
    }

    /// Starts a server whose first argument is the config file `conf` (as
    /// `shardis-server /path/shardis.conf --flags...`), so CONFIG REWRITE has a file.
    pub fn start_with_config_file(conf: &std::path::Path, shards: usize, extra: &[&str]) -> Server {
        Server::launch(Some(conf), temp_dir("srv"), shards, extra)
    }

    fn launch(conf: Option<&std::path::Path>, dir: PathBuf, shards: usize, extra: &[&str]) -> Server {
        Server::launch_with(conf, dir, shards, extra, true)
    }

    fn launch_with(conf: Option<&std::path::Path>, dir: PathBuf, shards: usize, extra: &[&str], debug: bool) -> Server {
        // SHARDIS_TEST_SERVER runs a test against another build (checking that a
        // test fails without a fix); the default is this build's binary.
        let bin =
            std::env::var_os("SHARDIS_TEST_SERVER").unwrap_or_else(|| env!("CARGO_BIN_EXE_shardis-server").into());
        let mut cmd = Command::new(bin);
        if let Some(conf) = conf {
            cmd.arg(conf);
        }
        cmd.args(["--port", "0", "--bind", "127.0.0.1", "--shards", &shards.to_string()])
            .args(["--dir", dir.to_str().expect("utf8 path")])
            .args(["--save", ""]);
        if debug && !extra.iter().any(|a| a.contains("enable-debug-command")) {
            cmd.args(["--enable-debug-command", "yes"]);
        }
        cmd.args(extra).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn shardis-server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut port = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening on ").nth(1) {
                    port = rest.rsplit(':').next().and_then(|p| p.trim().parse::<u16>().ok());
                }
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(port);
                }
                log2.lock().unwrap().push(line);
            }
            let _ = tx.send(None);
        });
        let port = rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("server did not become ready; log: {:?}", log.lock().unwrap()));
        Server { child: Some(child), port, shards, dir, log }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub fn conn(&self) -> redis::Connection {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.client().get_connection() {
                Ok(c) => return c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::yield_now();
                }
                Err(e) => panic!("connect: {e}"),
            }
        }
    }

    /// Raw TCP connection, for protocol-level tests.
    pub fn tcp(&self) -> std::net::TcpStream {
        let s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends SIGKILL and waits.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM and waits for exit, returning the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        unsafe_free_kill(c.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the child exits by itself (e.g. after SHUTDOWN).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until every needle appears in the server's log, or panics with the log.
    /// The log reaches the test through a pipe drained by another thread, so a line
    /// the server wrote before a state the test saw may not be here yet.
    pub fn assert_logged(&self, needles: &[&str]) {
        let has_all = || {
            let log = self.log.lock().unwrap();
            needles.iter().all(|n| log.iter().any(|l| l.contains(n)))
        };
        if !wait_until(Duration::from_secs(10), has_all) {
            let log = self.log.lock().unwrap().join("\n");
            let missing: Vec<&&str> = needles.iter().filter(|n| !log.contains(**n)).collect();
            panic!("log lacks {missing:?}:\n{log}");
        }
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

/// SIGTERM via the `kill` command, keeping tests free of `unsafe`.
fn unsafe_free_kill(pid: u32) {
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        // Dropped while a failing test unwinds: its files may say why.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `cond` until it holds or `timeout` passes. Returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// The shard counts every integration test runs with.
pub const SHARD_COUNTS: [usize; 2] = [1, 4];

// ---------------------------------------------------------------------------
// Raw RESP helpers, for tests that need to see the exact bytes on the wire
// (pipelines written in one go, malformed input, RESP3 types, closed sockets).
// ---------------------------------------------------------------------------

/// A reply as it arrived, keeping the RESP type so RESP2 and RESP3 can be told apart.
#[derive(Clone, Debug, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    /// `$-1` (RESP2 nil bulk).
    NilBulk,
    Bulk(Vec<u8>),
    /// `*-1` (RESP2 nil array).
    NilArray,
    Array(Vec<Resp>),
    /// `_` (RESP3 null).
    Null,
    Double(String),
    Bool(bool),
    BigNumber(String),
    Verbatim(String, Vec<u8>),
    Map(Vec<(Resp, Resp)>),
    Set(Vec<Resp>),
    Push(Vec<Resp>),
}

impl Resp {
    pub fn bulk(s: &str) -> Resp {
        Resp::Bulk(s.as_bytes().to_vec())
    }
    pub fn simple(s: &str) -> Resp {
        Resp::Simple(s.to_string())
    }
    pub fn err(s: &str) -> Resp {
        Resp::Error(s.to_string())
    }
}

/// The first arguments of the `SLOWLOG GET` entries whose command is `command`, in
/// the log's order (newest first), e.g. the keys of logged GETs.
pub fn slowlogged_first_args(entries: &[Resp], command: &str) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| match e {
            Resp::Array(f) => match &f[3] {
                Resp::Array(a) if a[0] == Resp::bulk(command) => match &a[1] {
                    Resp::Bulk(k) => Some(String::from_utf8_lossy(k).into_owned()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Encodes one command as a RESP multibulk request.
pub fn encode_cmd<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_cmd_into(&mut out, args);
    out
}

/// Appends one RESP multibulk request to `out` (for building pipelines).
pub fn encode_cmd_into<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads RESP2/RESP3 replies from a socket, buffering across reads.
pub struct RespReader<R: std::io::Read> {
    inner: BufReader<R>,
}

impl<R: std::io::Read> RespReader<R> {
    pub fn new(r: R) -> Self {
        RespReader { inner: BufReader::with_capacity(64 << 10, r) }
    }

    pub fn get_mut(&mut self) -> &mut R {
        self.inner.get_mut()
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut buf = Vec::new();
        let n = self.inner.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        if !buf.ends_with(b"\r\n") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("reply line without CRLF: {:?}", String::from_utf8_lossy(&buf)),
            ));
        }
        buf.truncate(buf.len() - 2);
        String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    fn exact(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut data = vec![0u8; n + 2];
        self.inner.read_exact(&mut data)?;
        if &data[n..] != b"\r\n" {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "payload not followed by CRLF"));
        }
        data.truncate(n);
        Ok(data)
    }

    fn int(s: &str) -> std::io::Result<i64> {
        s.parse::<i64>().map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad integer {s:?}")))
    }

    fn many(&mut self, n: i64) -> std::io::Result<Vec<Resp>> {
        (0..n).map(|_| self.read()).collect()
    }

    /// Reads one complete reply.
    pub fn read(&mut self) -> std::io::Result<Resp> {
        let line = self.line()?;
        let (t, rest) = line.split_at(1.min(line.len()));
        Ok(match t {
            "+" => Resp::Simple(rest.to_string()),
            "-" => Resp::Error(rest.to_string()),
            ":" => Resp::Int(Self::int(rest)?),
            "$" => match Self::int(rest)? {
                -1 => Resp::NilBulk,
                n => Resp::Bulk(self.exact(n as usize)?),
            },
            "*" => match Self::int(rest)? {
                -1 => Resp::NilArray,
                n => Resp::Array(self.many(n)?),
            },
            "_" => Resp::Null,
            "," => Resp::Double(rest.to_string()),
            "#" => Resp::Bool(rest == "t"),
            "(" => Resp::BigNumber(rest.to_string()),
            "=" => {
                let data = self.exact(Self::int(rest)? as usize)?;
                Resp::Verbatim(String::from_utf8_lossy(&data[..3]).into_owned(), data[4..].to_vec())
            }
            "%" => {
                let n = Self::int(rest)?;
                let mut v = Vec::new();
                for _ in 0..n {
                    let k = self.read()?;
                    let val = self.read()?;
                    v.push((k, val));
                }
                Resp::Map(v)
            }
            "~" => Resp::Set(self.many(Self::int(rest)?)?),
            ">" => Resp::Push(self.many(Self::int(rest)?)?),
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("unknown reply type in line {line:?}"),
                ));
            }
        })
    }

    /// Reads `n` replies.
    pub fn read_n(&mut self, n: usize) -> std::io::Result<Vec<Resp>> {
        (0..n).map(|_| self.read()).collect()
    }

    /// Asserts the peer closed the connection: the next read sees EOF (or a reset)
    /// with no further reply bytes. Relies on the socket's read timeout as the deadline.
    pub fn expect_closed(&mut self) {
        use std::io::Read;
        let mut rest = Vec::new();
        match self.inner.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!(
                "expected the server to close the connection, got {e} after {:?}",
                String::from_utf8_lossy(&rest)
            ),
        }
        assert!(rest.is_empty(), "unexpected bytes before close: {:?}", String::from_utf8_lossy(&rest));
    }
}

/// A raw connection: a writer half and a RESP reader over a clone of the socket.
pub struct Raw {
    pub w: std::net::TcpStream,
    pub r: RespReader<std::net::TcpStream>,
}

impl Raw {
    pub fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.w.write_all(bytes).expect("write to server");
    }

    /// Sends one command and reads its reply.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Resp {
        self.send(&encode_cmd(args));
        self.r.read().expect("read reply")
    }

    pub fn read(&mut self) -> Resp {
        self.r.read().expect("read reply")
    }
}

impl Server {
    /// A raw connection with a 20 s read timeout.
    pub fn raw(&self) -> Raw {
        raw_to(self.port)
    }
}

/// A raw connection to any server on 127.0.0.1 (shardis or a real redis-server), with
/// a 20 s read timeout.
/// `n` consecutive free ports (for pools and clusters, whose nodes take consecutive
/// ports), whose cluster-bus ports (+10000) are free too. Taken below the kernel's
/// ephemeral range, where no outgoing connection of the suite holds a port: picked
/// from it, a base's neighbours were often some client's local ports in a busy run.
pub fn free_ports(n: u16) -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32768);
    // Bases in [10000, low - 10000 - n): the bus ports stay below the range too.
    let span = low.saturating_sub(20000 + n).max(1) as u64;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut rng = Rng::new(seed ^ ((std::process::id() as u64) << 32));
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    for _ in 0..1000 {
        let base = 10000 + rng.below(span) as u16;
        if (0..n).all(|k| free(base + k) && free(base + k + 10000)) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports below {low}");
}

pub fn raw_to(port: u16) -> Raw {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("set read timeout");
    let r = s.try_clone().expect("clone socket");
    Raw { w: s, r: RespReader::new(r) }
}

/// Tiny deterministic PRNG (xorshift64*), so randomized tests replay exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next_u64() as u8;
        }
    }
}

/// Path of a Redis tool (`redis-server`, `redis-cli`, `redis-benchmark`), or a test
/// failure that says how to get it: a missing tool fails, it never skips.
pub fn tool(name: &str) -> String {
    let found = std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|f| f.is_file()))
        .or_else(|| Some(PathBuf::from("/usr/bin").join(name)).filter(|p| p.is_file()));
    match found {
        Some(p) => p.to_string_lossy().into_owned(),
        None => panic!(
            "`{name}` not found: install redis-server and redis-tools (`bash scripts/test.sh` runs apt-get install)"
        ),
    }
}

/// Spawns a real Debian `redis-server` on a free loopback port, persistence off, with
/// `extra` arguments after those, and waits (20 s) until `ready(port)` holds. The port
/// is free when picked but may be taken before redis binds it, so a server that exits
/// or never gets ready is killed and another port tried, 10 times; then None.
pub fn spawn_redis_server(extra: &[&str], ready: impl Fn(u16) -> bool) -> Option<(Child, u16)> {
    let bin = tool("redis-server");
    for _ in 0..10 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if ready(port) && served_by(port, child.id()) {
                return Some((child, port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    None
}

/// Whether the server answering on `port` is process `pid`. A port found free can be
/// taken by another test's server before redis-server binds it; redis-server then
/// exits, but a readiness check made before it does would reach the other server.
pub fn served_by(port: u16, pid: u32) -> bool {
    // The listening socket on `port` (in /proc/net/tcp, state 0A) must be one of the
    // process's descriptors; this needs no command, so AUTH and ACLs do not matter.
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    let sockets: std::collections::HashSet<String> = fds
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| Some(l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_string()))
        .collect();
    let hex_port = format!("{port:04X}");
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 9 && f[3] == "0A" && f[1].rsplit(':').next() == Some(hex_port.as_str()) && sockets.contains(f[9])
    })
}

/// A real Debian `redis-server` on a free port with `dir` as its working directory
/// (it loads `dir/dump.rdb` if present); killed on drop.
pub struct RealRedis {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl RealRedis {
    pub fn start(dir: &std::path::Path) -> RealRedis {
        let extra = ["--dir", dir.to_str().unwrap(), "--dbfilename", "dump.rdb", "--enable-debug-command", "yes"];
        // Ready once PING answers PONG (not -LOADING while it reads the dump).
        let ready = |port: u16| {
            redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .unwrap()
                .get_connection()
                .is_ok_and(|mut c| redis::cmd("PING").query::<String>(&mut c).is_ok())
        };
        match spawn_redis_server(&extra, ready) {
            Some((child, port)) => RealRedis { child, port, dir: dir.to_path_buf() },
            None => panic!(
                "redis-server did not start in {dir:?} (does it refuse the dump.rdb there? run it by hand to see)"
            ),
        }
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap().get_connection().unwrap()
    }

    /// Feeds `bytes` (RESP commands) through `redis-cli --pipe`, asserting that every
    /// command succeeded (its summary line ends in "errors: N, replies: M").
    pub fn pipe(&self, bytes: &[u8]) {
        use std::io::Write;
        let mut pipe = Command::new(tool("redis-cli"))
            .args(["-p", &self.port.to_string(), "--pipe"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn redis-cli --pipe");
        pipe.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = pipe.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("errors: 0,"), "redis-cli --pipe reported errors:\n{text}");
    }
}

/// An AOF directory's files as its manifest lists them, as (shard, incremental?, seq,
/// name), sorted: per shard, the base, then the incrementals in order.
pub fn aof_files(aofdir: &std::path::Path) -> Vec<(usize, bool, u64, String)> {
    let manifest = std::fs::read_to_string(aofdir.join("appendonly.aof.manifest")).expect("manifest");
    let mut files = Vec::new();
    for line in manifest.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let get = |k: &str| w.chunks(2).find(|kv| kv[0] == k).map(|kv| kv[1]);
        let name = get("file").unwrap_or_else(|| panic!("no file in manifest line {line:?}"));
        let seq = get("seq").and_then(|s| s.parse().ok()).expect("seq");
        let incr = match get("type") {
            Some("b") => false,
            Some("i") => true,
            t => panic!("bad type {t:?} in {line:?}"),
        };
        let shard = get("shard").map_or(0, |s| s.parse().expect("shard"));
        files.push((shard, incr, seq, name.to_string()));
    }
    files.sort();
    files
}

/// Every file of an AOF set written by `shards` shards, one shard after another, as
/// one RESP stream (the bases must be RESP: `--aof-use-rdb-preamble no`).
pub fn concatenated_aof(aofdir: &std::path::Path, shards: usize) -> Vec<u8> {
    let files = aof_files(aofdir);
    let seen: std::collections::BTreeSet<usize> = files.iter().map(|f| f.0).collect();
    assert_eq!(seen.len(), shards, "files of every shard: {files:?}");
    let mut out = Vec::new();
    for (_, _, _, name) in &files {
        let bytes = std::fs::read(aofdir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(bytes.is_empty() || bytes[0] == b'*', "{name} is not RESP");
        out.extend_from_slice(&bytes);
    }
    out
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` key names, each on a different shard (for `n` ≤ shards), all starting `prefix`.
pub fn keys_on_distinct_shards(prefix: &str, n: usize, shards: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in 0.. {
        let k = format!("{prefix}{i}");
        let s = shardis::util::hash::shard_of(k.as_bytes(), shards);
        if out.iter().all(|o| shardis::util::hash::shard_of(o.as_bytes(), shards) != s) {
            out.push(k);
        }
        if out.len() == n {
            return out;
        }
    }
    unreachable!()
}

/// A 256 KiB tmpfs mounted on `dir` (a disk that fills up), unmounted when dropped.
/// Needs permission to mount (root, as `scripts/test.sh` runs in CI); without it the
/// test fails rather than pass untested.
pub struct SmallTmpfs(PathBuf);

impl SmallTmpfs {
    pub fn mount(dir: &std::path::Path) -> SmallTmpfs {
        let mount =
            Command::new("mount").args(["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir.to_str().unwrap()]).status();
        assert!(
            mount.is_ok_and(|s| s.success()),
            "cannot mount a size-limited tmpfs on {}: this test needs root (mount -t tmpfs)",
            dir.display()
        );
        SmallTmpfs(dir.to_path_buf())
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// CLIENT LIST's line for the client named `name`, as field -> value.
pub fn client_fields(c: &mut Raw, name: &str) -> Option<std::collections::HashMap<String, String>> {
    let text = match c.cmd(&["CLIENT", "LIST"]) {
        Resp::Bulk(b) | Resp::Verbatim(_, b) => String::from_utf8(b).unwrap(),
        other => panic!("CLIENT LIST: {other:?}"),
    };
    text.lines().find(|l| l.contains(&format!(" name={name} "))).map(|l| {
        l.split(' ').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    })
}
