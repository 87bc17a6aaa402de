//! Readiness waiting for the replication thread: `poll(2)` over its replica sockets
//! plus an eventfd the shards write to wake it, and taking ownership of a socket fd
//! handed over by a shard.

use std::io;
use std::net::TcpStream;
use std::os::fd::{FromRawFd, RawFd};

pub const IN: i16 = libc::POLLIN;
pub const OUT: i16 = libc::POLLOUT;

/// One fd to wait on and, after `wait`, what it is ready for.
#[derive(Clone, Copy)]
pub struct PollFd(libc::pollfd);

impl PollFd {
    pub fn new(fd: RawFd, events: i16) -> PollFd {
        PollFd(libc::pollfd { fd, events, revents: 0 })
    }

    /// Ready for reading, or hung up / in error (a read then tells which).
    pub fn readable(&self) -> bool {
        self.0.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
    }

    pub fn writable(&self) -> bool {
        self.0.revents & libc::POLLOUT != 0
    }
}

/// Waits until one of `fds` is ready or `timeout_ms` passed; EINTR counts as a timeout.
pub fn wait(fds: &mut [PollFd], timeout_ms: i32) {
    // SAFETY: `PollFd` is a transparent wrapper of `libc::pollfd` (one field), and the
    // slice is valid and exclusively borrowed for the call.
    unsafe {
        libc::poll(fds.as_mut_ptr() as *mut libc::pollfd, fds.len() as libc::nfds_t, timeout_ms);
    }
}

/// A non-blocking eventfd: any thread `signal`s it, the waiter polls it and `drain`s.
pub struct EventFd(RawFd);

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EventFd(fd))
    }

    pub fn fd(&self) -> RawFd {
        self.0
    }

    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        unsafe {
            libc::write(self.0, &one as *const u64 as *const libc::c_void, 8);
        }
    }

    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own non-blocking eventfd.
        unsafe {
            libc::read(self.0, &mut v as *mut u64 as *mut libc::c_void, 8);
        }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        super::sock::close(self.0);
    }
}

/// Takes ownership of a connected TCP socket handed over by a shard (which no longer
/// references it: no io_uring operation of the shard's is pending on it).
pub fn adopt(fd: RawFd) -> TcpStream {
    // SAFETY: the caller transfers sole ownership of the open socket `fd`.
    unsafe { TcpStream::from_raw_fd(fd) }
}

/// A pipe for a snapshot child's stream: (read end, non-blocking; write end, blocking).
/// Both close on exec.
pub fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two fds into the live array; the result is checked.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    let (r, w) = unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
    // SAFETY: fcntl on our own open fd.
    unsafe {
        let fl = libc::fcntl(fds[0], libc::F_GETFL);
        libc::fcntl(fds[0], libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    Ok((r, w))
}
