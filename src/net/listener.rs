//! Listening sockets. Every shard thread gets its own socket on the same address with
//! SO_REUSEPORT, so the kernel spreads new connections across shards and each thread
//! accepts on its own ring without sharing a queue.

use crate::io::sock::with_stream;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{IntoRawFd, RawFd};

/// Opens `count` listeners on `addr:port`. Port 0 picks a free port once; the other
/// listeners join that same port. Returns the fds and the bound port.
pub fn open(addr: &str, port: u16, count: usize, backlog: u32) -> io::Result<(Vec<RawFd>, u16)> {
    let ip: IpAddr = match addr {
        "*" => "0.0.0.0".parse().expect("literal"),
        "::*" => "::".parse().expect("literal"),
        a => a
            .trim_start_matches('-')
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad bind address {a}")))?,
    };
    let mut fds = Vec::with_capacity(count);
    let mut port = port;
    for _ in 0..count {
        let sa = SocketAddr::new(ip, port);
        let s = Socket::new(Domain::for_address(sa), Type::STREAM.cloexec(), Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
        if ip.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.bind(&sa.into())?;
        s.listen(backlog as i32)?;
        if port == 0 {
            port = s.local_addr()?.as_socket().map(|a| a.port()).unwrap_or(0);
        }
        fds.push(s.into_raw_fd());
    }
    Ok((fds, port))
}

/// Peer and local address of an accepted socket, formatted as CLIENT LIST shows them.
pub fn addrs(fd: RawFd) -> (String, String) {
    with_stream(fd, |s| {
        let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        let local = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
        (peer, local)
    })
}

/// Sets TCP_NODELAY: replies are already coalesced per loop turn, so Nagle only adds
/// latency.
pub fn tune(fd: RawFd) {
    with_stream(fd, |s| {
        let _ = s.set_nodelay(true);
    });
}
