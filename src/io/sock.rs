//! Small socket helpers that need raw fds: borrowing an fd as a std socket, shutdown,
//! close, a best-effort write for refusals, and signal flags.

use std::net::TcpStream;
use std::os::fd::{FromRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Runs `f` with `fd` viewed as a `TcpStream`, without taking ownership of it.
pub fn with_stream<T>(fd: RawFd, f: impl FnOnce(&TcpStream) -> T) -> T {
    // SAFETY: `fd` is an open socket owned by the caller. The stream is turned back
    // into a raw fd before it is dropped, so it is never closed here.
    let s = unsafe { TcpStream::from_raw_fd(fd) };
    let r = f(&s);
    let _ = s.into_raw_fd();
    r
}

/// Wakes any pending receive on `fd` with EOF so its multishot op terminates.
pub fn shutdown(fd: RawFd) {
    // SAFETY: plain syscall on an fd we own; errors (already shut down) are harmless.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

pub fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and no io_uring operation references it anymore.
    unsafe {
        libc::close(fd);
    }
}

/// Writes `msg` once, ignoring partial writes: used only to tell a refused client why
/// (maxclients) right before closing it.
pub fn write_best_effort(fd: RawFd, msg: &[u8]) {
    // SAFETY: `msg` is a valid slice for the duration of the call.
    unsafe {
        libc::send(fd, msg.as_ptr() as *const libc::c_void, msg.len(), libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT);
    }
}

/// Is a connection waiting on listening socket `fd` (or input on a stream)? Never
/// blocks.
pub fn readable_now(fd: RawFd) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: `p` is a valid pollfd for the duration of the call; timeout 0.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

/// Accepts one pending connection on listening socket `fd` (non-blocking socket
/// returned), if one is waiting. Used only by the thread that owns `fd`'s accepts, so
/// `readable_now` cannot be raced.
pub fn accept_pending(fd: RawFd) -> Option<RawFd> {
    if !readable_now(fd) {
        return None;
    }
    // SAFETY: null address pointers are allowed; the returned fd is the caller's.
    let c = unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
    (c >= 0).then_some(c)
}

/// Copies the bytes waiting on `fd` into `buf` without consuming them. Some(0): the
/// peer closed; None: nothing to read (or an error).
pub fn peek_now(fd: RawFd, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `buf` is valid for writes of its length during the call.
    let n = unsafe {
        libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), libc::MSG_PEEK | libc::MSG_DONTWAIT)
    };
    (n >= 0).then_some(n as usize)
}

/// Consumes `n` bytes that `peek_now` saw.
pub fn consume(fd: RawFd, mut n: usize) {
    let mut buf = [0u8; 4096];
    while n > 0 {
        let want = n.min(buf.len());
        // SAFETY: `buf` is valid for writes of `want` bytes during the call.
        let got = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, want, libc::MSG_DONTWAIT) };
        if got <= 0 {
            return;
        }
        n -= got as usize;
    }
}

/// Set by SIGTERM/SIGINT; the server loops poll it every turn.
pub static TERMINATE: AtomicBool = AtomicBool::new(false);

/// The signal that last set [`TERMINATE`] (`SIGTERM` or `SIGINT`), so the log and the
/// shutdown flags (`shutdown-on-sigterm` / `shutdown-on-sigint`) follow the one that
/// arrived.
pub static TERMINATE_SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_terminate(sig: libc::c_int) {
    // As Redis: a SIGINT while a signal's shutdown is under way (saving, or waiting
    // for lagging replicas) means "now": exit with an error, as this is not a clean
    // shutdown.
    if sig == libc::SIGINT && TERMINATE.load(Ordering::SeqCst) {
        log_from_handler(b"You insist... exiting now.");
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(1) };
    }
    // Logged here, as Redis's handler does: shard 0 acts on it only when it can (not
    // while a script is busy, `server::worker`).
    log_from_handler(match sig {
        libc::SIGINT => b"Received SIGINT scheduling shutdown...",
        libc::SIGTERM => b"Received SIGTERM scheduling shutdown...",
        _ => b"Received shutdown signal, scheduling shutdown...",
    });
    TERMINATE_SIGNAL.store(sig, Ordering::SeqCst);
    TERMINATE.store(true, Ordering::SeqCst);
}

/// A log line written from a signal handler, in Redis's form for those
/// (`<pid>:signal-handler (<unix time>) <msg>`): only async-signal-safe calls
/// (getpid, time, write) and no allocation.
fn log_from_handler(msg: &[u8]) {
    fn push_num(buf: &mut [u8], at: &mut usize, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut k = 0;
        loop {
            digits[k] = b'0' + (n % 10) as u8;
            k += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while k > 0 && *at < buf.len() {
            k -= 1;
            buf[*at] = digits[k];
            *at += 1;
        }
    }
    fn push(buf: &mut [u8], at: &mut usize, b: &[u8]) {
        let n = b.len().min(buf.len() - *at);
        buf[*at..*at + n].copy_from_slice(&b[..n]);
        *at += n;
    }
    let mut buf = [0u8; 160];
    let mut at = 0;
    // SAFETY: getpid(2) and time(2) (with a null pointer) are async-signal-safe and
    // touch no memory of ours.
    let (pid, now) = unsafe { (libc::getpid(), libc::time(std::ptr::null_mut())) };
    push_num(&mut buf, &mut at, pid as u64);
    push(&mut buf, &mut at, b":signal-handler (");
    push_num(&mut buf, &mut at, now as u64);
    push(&mut buf, &mut at, b") ");
    push(&mut buf, &mut at, msg);
    push(&mut buf, &mut at, b"\n");
    // SAFETY: buf holds `at` initialized bytes; write(2) is async-signal-safe, and the
    // fd is at worst stale (the write then fails).
    unsafe {
        libc::write(crate::util::log::raw_fd(), buf.as_ptr().cast(), at);
    }
}

/// The name Redis logs for a termination signal.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "shutdown signal",
    }
}

/// Installs the SIGTERM/SIGINT flag handler and ignores SIGPIPE.
pub fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_terminate as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_terminate as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Connects to `addr` within `timeout`, from the local address `source` when it is not
/// empty (Redis's `bind-source-addr`: the outgoing side of replication, MIGRATE and
/// MEET). The source port is left to the kernel. As in Redis (its best-effort
/// binding connect), a source that is not an address of this host, or not an IP
/// address at all, is dropped and the connection made from wherever the kernel picks.
pub fn connect_from(
    addr: &std::net::SocketAddr,
    source: &str,
    timeout: std::time::Duration,
) -> std::io::Result<TcpStream> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let Ok(ip) = source.parse::<std::net::IpAddr>() else {
        return TcpStream::connect_timeout(addr, timeout);
    };
    let sock = Socket::new(Domain::for_address(*addr), Type::STREAM, Some(Protocol::TCP))?;
    if sock.bind(&SockAddr::from(std::net::SocketAddr::new(ip, 0))).is_err() {
        return TcpStream::connect_timeout(addr, timeout);
    }
    sock.connect_timeout(&SockAddr::from(*addr), timeout)?;
    Ok(sock.into())
}
