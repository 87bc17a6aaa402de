//! Opening listening sockets (the TCP group the shards accept on, the Unix socket), and
//! the handoff that gives them to the shard threads, at start-up and when CONFIG SET
//! moves them.
//!
//! TCP: every shard gets its own socket on each address, all in one SO_REUSEPORT group,
//! so the kernel spreads new connections across shards and each ring accepts from its
//! own queue.
//!
//! **Port already in use.** SO_REUSEPORT alone lets a second server running as the same
//! user join the group without an error, and the kernel then splits clients between two
//! datasets. So the first socket of each address is bound and put into LISTEN *without*
//! SO_REUSEPORT: that bind conflicts with any socket already listening there (redis-server,
//! another shardis, anything) and fails with EADDRINUSE, as redis-server's own bind
//! does. Only then is SO_REUSEPORT turned on for that socket and the rest of the group
//! bound next to it (Linux allows setting it on a listening socket; the group forms
//! when the second member listens, and connections do spread over all members). A
//! separate probe socket, closed before building the group, would leave a window in
//! which two servers starting together both pass the probe; here, from the first bind
//! on, a newcomer's exclusive bind conflicts with a socket we hold. SO_REUSEADDR stays
//! on so TIME_WAIT connections of a previous run do not block a restart. What this cannot
//! stop is a program that itself binds with SO_REUSEPORT as our user: it joins, as it
//! would join any group.
//!
//! Unix socket: one listening fd that every shard accepts on (AF_UNIX has no
//! SO_REUSEPORT). Unix clients are typically a local application with a connection
//! pool, the busiest clients a server has; funnelling them all through one shard would
//! make that shard parse and answer for everyone. io_uring wakes accept waiters one
//! at a time from the front of the socket's wait queue, so a multishot accept on every
//! shard would still hand every connection to the same shard (measured: 81 of 81 to
//! shard 0 with 2 shards). So each shard arms one single-shot accept at a time on it
//! and re-arms after each connection, which puts it at the back of the queue: Unix
//! connections spread over the shards (measured: 20 and 61 of 81). The extra submission per connection is nothing
//! next to setting the connection up.
//!
//! Depends on: `socket2`, std.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{IntoRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// One address that could not be listened on, with Redis's `neterr` stage.
#[derive(Debug)]
pub struct ListenError {
    /// The address as configured, without the optional `-` prefix.
    pub addr: String,
    pub port: u16,
    /// `creating socket`, `bind`, `listen` or `setsockopt` (Redis's `neterr` prefixes).
    pub stage: &'static str,
    pub err: io::Error,
}

impl ListenError {
    /// Redis's log line for it.
    pub fn log_line(&self) -> String {
        format!(
            "Warning: Could not create server TCP listening socket {}:{}: {}: {}",
            self.addr,
            self.port,
            self.stage,
            strerror(&self.err)
        )
    }
}

/// The error text without Rust's " (os error N)" suffix, as strerror(3) gives it.
pub fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// An opened TCP group: per shard, one listening fd per address that could be bound.
#[derive(Debug)]
pub struct TcpGroup {
    pub per_shard: Vec<Vec<RawFd>>,
    /// The port bound (the kernel's pick when 0 was asked).
    pub port: u16,
    /// Addresses skipped as Redis skips them (optional `-addr` not available here, an
    /// address family the host lacks): log them, they are not fatal.
    pub skipped: Vec<ListenError>,
    /// Each address listened on, as `addr:port` (for the start-up log).
    pub listening: Vec<String>,
}

/// The listeners we already hold, for a change at run time: our own sockets must not
/// count as "port in use".
#[derive(Clone, Debug, Default)]
pub struct Current {
    pub bind: Vec<String>,
    pub port: u16,
}

/// Opens `shards` listeners per address of `bind` on `port` (0 = the kernel picks one
/// port for the first address; the others use it too). On failure everything opened
/// is closed and the errors to log are returned, the fatal one last.
pub fn open_tcp(
    bind: &[String],
    port: u16,
    shards: usize,
    backlog: u32,
    ours: Option<&Current>,
) -> Result<TcpGroup, Vec<ListenError>> {
    let mut group = TcpGroup { per_shard: vec![Vec::new(); shards], port, skipped: Vec::new(), listening: Vec::new() };
    for given in bind {
        let optional = given.starts_with('-');
        let addr = given.trim_start_matches('-');
        let port_now = group.port;
        let fail = |stage, err| ListenError { addr: addr.to_string(), port: port_now, stage, err };
        let ip: IpAddr = match addr {
            "*" => IpAddr::from([0u8; 4]),
            "::*" => IpAddr::from([0u16; 8]),
            a => match a.parse() {
                Ok(ip) => ip,
                Err(_) => {
                    let e = io::Error::new(io::ErrorKind::InvalidInput, "Name or service not known");
                    close_group(&group);
                    return Err(std::mem::take(&mut group.skipped).into_iter().chain([fail("bind", e)]).collect());
                }
            },
        };
        match open_address(ip, group.port, shards, backlog, overlaps_ours(ip, group.port, ours)) {
            Ok((fds, bound)) => {
                group.port = bound;
                group.listening.push(format!("{addr}:{bound}"));
                for (s, fd) in fds.into_iter().enumerate() {
                    group.per_shard[s].push(fd);
                }
            }
            Err((stage, err)) => {
                let e = fail(stage, err);
                // Redis goes on without an optional address that is not available
                // here, and without an address family the host does not have.
                let errno = e.err.raw_os_error().unwrap_or(0);
                let skip = (optional && errno == libc::EADDRNOTAVAIL)
                    || [
                        libc::ENOPROTOOPT,
                        libc::EPROTONOSUPPORT,
                        libc::ESOCKTNOSUPPORT,
                        libc::EPFNOSUPPORT,
                        libc::EAFNOSUPPORT,
                    ]
                    .contains(&errno);
                if skip {
                    group.skipped.push(e);
                    continue;
                }
                close_group(&group);
                return Err(std::mem::take(&mut group.skipped).into_iter().chain([e]).collect());
            }
        }
    }
    Ok(group)
}

/// Whether `ip:port` may collide with a socket we already hold (same port, and the same
/// address or a wildcard of the same family on either side).
fn overlaps_ours(ip: IpAddr, port: u16, ours: Option<&Current>) -> bool {
    let Some(ours) = ours else { return false };
    if port == 0 || ours.port != port {
        return false;
    }
    ours.bind
        .iter()
        .filter_map(|a| parse_ip(a.trim_start_matches('-')))
        .any(|o| o.is_ipv4() == ip.is_ipv4() && (o == ip || o.is_unspecified() || ip.is_unspecified()))
}

fn parse_ip(a: &str) -> Option<IpAddr> {
    match a {
        "*" => Some(IpAddr::from([0u8; 4])),
        "::*" => Some(IpAddr::from([0u16; 8])),
        a => a.parse().ok(),
    }
}

fn close_group(group: &TcpGroup) {
    for fd in group.per_shard.iter().flatten() {
        super::sock::close(*fd);
    }
}

/// Opens the `count` sockets of one address. The first is bound exclusively (see the
/// module docs) unless `ours_may_hold_it`: at run time our own old listeners may hold
/// the same address or an overlapping wildcard, so after an exclusive bind fails with
/// EADDRINUSE the bind is retried inside the SO_REUSEPORT group, which a non-reuseport
/// socket of anyone else (redis-server) still refuses.
fn open_address(
    ip: IpAddr,
    port: u16,
    count: usize,
    backlog: u32,
    ours_may_hold_it: bool,
) -> Result<(Vec<RawFd>, u16), (&'static str, io::Error)> {
    let mut sockets: Vec<Socket> = Vec::with_capacity(count);
    let mut port = port;
    for i in 0..count {
        let exclusive = i == 0;
        let s = match tcp_socket(ip, port, backlog, exclusive) {
            Ok(s) => s,
            Err((_, e)) if exclusive && ours_may_hold_it && e.raw_os_error() == Some(libc::EADDRINUSE) => {
                tcp_socket(ip, port, backlog, false)?
            }
            Err(e) => return Err(e),
        };
        if exclusive {
            s.set_reuse_port(true).map_err(|e| ("setsockopt", e))?;
            if port == 0 {
                port = s.local_addr().ok().and_then(|a| a.as_socket()).map_or(0, |a| a.port());
            }
        }
        sockets.push(s);
    }
    Ok((sockets.into_iter().map(IntoRawFd::into_raw_fd).collect(), port))
}

fn tcp_socket(ip: IpAddr, port: u16, backlog: u32, exclusive: bool) -> Result<Socket, (&'static str, io::Error)> {
    let sa = SocketAddr::new(ip, port);
    let s = Socket::new(Domain::for_address(sa), Type::STREAM.cloexec(), Some(Protocol::TCP))
        .map_err(|e| ("creating socket", e))?;
    s.set_reuse_address(true).map_err(|e| ("setsockopt", e))?;
    if !exclusive {
        s.set_reuse_port(true).map_err(|e| ("setsockopt", e))?;
    }
    if ip.is_ipv6() {
        s.set_only_v6(true).map_err(|e| ("setsockopt", e))?;
    }
    s.bind(&sa.into()).map_err(|e| ("bind", e))?;
    s.listen(backlog.min(i32::MAX as u32) as i32).map_err(|e| ("listen", e))?;
    Ok(s)
}

/// Opens the Unix socket at `path` with mode `perm` (0: leave the umask's). A stale
/// socket file is removed first, as Redis does; unlike Redis, a socket a live server
/// still accepts on is left alone and reported, rather than silently taken over.
/// Errors are Redis's `neterr` text (`bind: Permission denied`).
pub fn open_unix(path: &str, perm: u32, backlog: u32) -> Result<RawFd, String> {
    // sun_path holds 108 bytes including the terminating NUL.
    const SUN_PATH: usize = 108;
    if path.len() >= SUN_PATH {
        return Err(format!("unix socket path too long ({}), must be under {SUN_PATH}", path.len()));
    }
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_socket()
    {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err("bind: Address already in use (a running server accepts connections on it)".into());
        }
        let _ = std::fs::remove_file(path);
    }
    let s = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None)
        .map_err(|e| format!("creating socket: {}", strerror(&e)))?;
    let addr = SockAddr::unix(path).map_err(|e| format!("bind: {}", strerror(&e)))?;
    s.bind(&addr).map_err(|e| format!("bind: {}", strerror(&e)))?;
    s.listen(backlog.min(i32::MAX as u32) as i32).map_err(|e| format!("listen: {}", strerror(&e)))?;
    if perm != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))
            .map_err(|e| format!("chmod: {}", strerror(&e)))?;
    }
    Ok(s.into_raw_fd())
}

/// How listening sockets reach the shard threads. Start-up and CONFIG SET publish a
/// set of TCP listeners per shard and bump `epoch`; each worker compares the epoch
/// once per turn and, when it moved, takes what was published for it: it arms the new
/// sockets and retires the ones no longer listed (on its own thread, since its ring
/// holds their accepts).
pub struct Handoff {
    /// Per shard: published sets not yet taken, oldest first.
    pending: Mutex<Vec<Vec<Vec<RawFd>>>>,
    epoch: AtomicU64,
    /// The Unix socket every shard accepts on, -1 for none. Set before the shards start;
    /// closed once, after they stop (never by a shard).
    pub unix: AtomicI32,
    current: Mutex<Current>,
    /// Per shard: the TCP listeners last published for it (what it accepts on), read
    /// by a shard busy in a long script (`server::busy_door`).
    serving: Mutex<Vec<Vec<RawFd>>>,
}

impl Handoff {
    pub fn new(shards: usize) -> Handoff {
        Handoff {
            pending: Mutex::new(vec![Vec::new(); shards]),
            epoch: AtomicU64::new(0),
            unix: AtomicI32::new(-1),
            current: Mutex::new(Current::default()),
            serving: Mutex::new(vec![Vec::new(); shards]),
        }
    }

    /// Hands `group` to the shards (shard `i` takes `group.per_shard[i]`), replacing
    /// the listeners they have; `bind` is what the group was opened for.
    pub fn publish(&self, group: &TcpGroup, bind: &[String]) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (queue, fds) in pending.iter_mut().zip(&group.per_shard) {
                queue.push(fds.clone());
            }
        }
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Current { bind: bind.to_vec(), port: group.port };
        *self.serving.lock().unwrap_or_else(|e| e.into_inner()) = group.per_shard.clone();
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The sets published for `shard` since it last took, oldest first (the last one is
    /// what it should listen on).
    pub fn take(&self, shard: usize) -> Vec<Vec<RawFd>> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.get_mut(shard).map(std::mem::take).unwrap_or_default()
    }

    /// The TCP listeners last published for `shard`.
    pub fn serving(&self, shard: usize) -> Vec<RawFd> {
        self.serving.lock().unwrap_or_else(|e| e.into_inner()).get(shard).cloned().unwrap_or_default()
    }

    /// The addresses and port the last published group listens on.
    pub fn current(&self) -> Current {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Vec<String> {
        vec!["127.0.0.1".to_string()]
    }

    #[test]
    fn a_port_in_use_fails_and_closes_what_it_opened() {
        let g = open_tcp(&local(), 0, 3, 16, None).unwrap();
        assert_eq!(g.per_shard.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 1]);
        let errs = open_tcp(&local(), g.port, 2, 16, None).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].err.raw_os_error(), Some(libc::EADDRINUSE), "{errs:?}");
        assert_eq!(
            errs[0].log_line(),
            format!(
                "Warning: Could not create server TCP listening socket 127.0.0.1:{}: bind: Address already in use",
                g.port
            )
        );
        // A plain std listener (no SO_REUSEPORT, like redis-server's) is refused too.
        assert!(std::net::TcpListener::bind(("127.0.0.1", g.port)).is_err());
        // Our own group may be rebuilt on top of itself at run time.
        let ours = Current { bind: local(), port: g.port };
        let again = open_tcp(&["0.0.0.0".to_string()], g.port, 2, 16, Some(&ours)).unwrap();
        close_group(&again);
        close_group(&g);
    }

    #[test]
    fn optional_unavailable_addresses_are_skipped() {
        // 192.0.2.0/24 is TEST-NET-1: never assigned to this host.
        let bind = vec!["-192.0.2.1".to_string(), "127.0.0.1".to_string()];
        let g = open_tcp(&bind, 0, 1, 16, None).unwrap();
        assert_eq!(g.skipped.len(), 1);
        assert_eq!(g.listening, vec![format!("127.0.0.1:{}", g.port)]);
        close_group(&g);
        let errs = open_tcp(&["192.0.2.1".to_string()], 0, 1, 16, None).unwrap_err();
        assert_eq!(errs[0].err.raw_os_error(), Some(libc::EADDRNOTAVAIL));
    }

    #[test]
    fn overlap_rule() {
        let ours = Current { bind: vec!["127.0.0.1".into(), "::1".into()], port: 7000 };
        let ip = |s: &str| parse_ip(s).unwrap();
        assert!(overlaps_ours(ip("0.0.0.0"), 7000, Some(&ours)));
        assert!(overlaps_ours(ip("127.0.0.1"), 7000, Some(&ours)));
        assert!(overlaps_ours(ip("::*"), 7000, Some(&ours)));
        assert!(!overlaps_ours(ip("10.0.0.1"), 7000, Some(&ours)));
        assert!(!overlaps_ours(ip("0.0.0.0"), 7001, Some(&ours)));
        assert!(!overlaps_ours(ip("0.0.0.0"), 7000, None));
    }
}
