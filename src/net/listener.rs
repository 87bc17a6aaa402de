//! Listening sockets as the server uses them: opening them at start-up with Redis's log
//! lines and exit, the Unix socket file's lifetime, and what is done to each accepted
//! socket (options, addresses as CLIENT LIST shows them). The sockets themselves are
//! opened by `io::listen`, which explains the SO_REUSEPORT group and how a port
//! already in use is detected.

use crate::config::Config;
use crate::io::listen::{self, TcpGroup};
use crate::io::sock::{self, with_stream};
use crate::util::log;
use socket2::{SockRef, TcpKeepalive};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What start-up opened.
pub struct Opened {
    pub tcp: TcpGroup,
    /// The Unix socket, if `unixsocket` is set; removed when dropped.
    pub unix: Option<UnixSocketFile>,
}

/// Opens every listener the config asks for, logging as redis-server does. On failure
/// (None) the reason is logged and the caller exits with 1 (`Failed listening on port ...`).
pub fn open_at_startup(config: &Config, shards: usize) -> Option<Opened> {
    let tcp = match listen::open_tcp(&config.bind, config.port, shards, config.tcp_backlog, None) {
        Ok(g) => g,
        Err(errs) => {
            for e in &errs {
                log::warning(&e.log_line());
            }
            log::warning(&format!("Failed listening on port {} (TCP), aborting.", config.port));
            return None;
        }
    };
    for e in &tcp.skipped {
        log::warning(&e.log_line());
    }
    let unix = if config.unixsocket.is_empty() {
        None
    } else {
        match listen::open_unix(&config.unixsocket, config.unixsocketperm, config.tcp_backlog) {
            Ok(fd) => Some(UnixSocketFile { path: config.unixsocket.clone(), fd }),
            Err(e) => {
                for fd in tcp.per_shard.iter().flatten() {
                    sock::close(*fd);
                }
                log::warning(&format!("Failed opening Unix socket: {e}"));
                return None;
            }
        }
    };
    if tcp.listening.is_empty() && unix.is_none() {
        log::warning("Configured to not listen anywhere, exiting.");
        return None;
    }
    Some(Opened { tcp, unix })
}

/// The Unix socket: its fd (which every shard accepts on, so it is closed here once,
/// after they stopped) and its file, removed at exit as Redis does.
pub struct UnixSocketFile {
    pub path: String,
    pub fd: RawFd,
}

impl Drop for UnixSocketFile {
    fn drop(&mut self) {
        sock::close(self.fd);
        log::notice("Removing the unix socket file.");
        if let Err(e) = std::fs::remove_file(&self.path) {
            log::warning(&format!("Error removing the unix socket file: {}", listen::strerror(&e)));
        }
    }
}

/// Peer and local address of an accepted TCP socket, formatted as CLIENT LIST shows
/// them.
pub fn addrs(fd: RawFd) -> (String, String) {
    with_stream(fd, |s| {
        let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        let local = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
        (peer, local)
    })
}

/// CLIENT LIST's address of a Unix socket client (both `addr` and `laddr`), as Redis
/// shows it.
pub fn unix_addr(path: &str) -> String {
    format!("{path}:0")
}

/// Options for an accepted TCP socket (Unix sockets get none, as in Redis):
/// TCP_NODELAY, since replies are already coalesced per loop turn and Nagle would only
/// add latency; and with `keepalive` seconds > 0 (`tcp-keepalive`), Redis's keepalive:
/// first probe after `keepalive` idle seconds, then every third of it, 3 probes.
pub fn tune(fd: RawFd, keepalive: u64) {
    with_stream(fd, |s| {
        let _ = s.set_nodelay(true);
        if keepalive > 0 {
            let idle = Duration::from_secs(keepalive.min(i32::MAX as u64));
            let every = Duration::from_secs((keepalive / 3).clamp(1, i32::MAX as u64));
            let ka = TcpKeepalive::new().with_time(idle).with_interval(every).with_retries(3);
            let _ = SockRef::from(s).set_tcp_keepalive(&ka);
        }
    });
}

/// Unix millisecond of the last accept error logged, process-wide.
static LAST_ACCEPT_ERROR_MS: AtomicU64 = AtomicU64::new(0);

/// Logs a failed accept with Redis's wording (`Accepting client connection: accept:
/// Too many open files`), at most once a second across all shards: accept keeps
/// failing while the condition lasts, and every shard retries on its own.
pub fn log_accept_error(errno: i32, now_ms: u64) {
    let last = LAST_ACCEPT_ERROR_MS.load(Ordering::Relaxed);
    if now_ms < last.saturating_add(1000)
        || LAST_ACCEPT_ERROR_MS.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_err()
    {
        return;
    }
    let e = std::io::Error::from_raw_os_error(errno);
    log::warning(&format!("Accepting client connection: accept: {}", listen::strerror(&e)));
}
