//! The thread's io_uring: setup with the cheapest flags the kernel offers, pushing
//! entries (flushing to the kernel when the submission queue is full), and one
//! submit-and-wait per loop turn bounded by the next timer. Client sockets can be
//! named by their index in a registered file table (`Sock::Fixed`), which spares the
//! kernel a file lookup and reference count per receive and send.

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// A socket as an entry names it: by its fd (the kernel looks the file up and takes a
/// reference for every operation) or by its index in the ring's registered file table
/// (`IOSQE_FIXED_FILE`: no lookup and no reference counting per receive or send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sock {
    Fd(RawFd),
    Fixed(u32),
}

/// Size of the registered file table tried first (halved until the kernel accepts it:
/// the table may not exceed RLIMIT_NOFILE). Connections whose slot is past it use their fd.
const FIXED_FILES: u32 = 16384;

pub struct Ring {
    pub uring: IoUring,
    /// Entries of the registered (sparse) file table; 0 when registration failed.
    fixed_files: u32,
    /// Completions reaped early because the completion queue was full while we were
    /// still pushing; `reap` hands them out first so none is lost.
    backlog: Vec<(u64, i32, u32)>,
}

impl Ring {
    /// Creates a ring with `entries` submission slots. SINGLE_ISSUER and DEFER_TASKRUN
    /// let the kernel skip cross-thread synchronisation and run completions only when we
    /// wait: exactly the shard-per-core contract. Falls back to plain setup on kernels
    /// that refuse them.
    pub fn new(entries: u32) -> io::Result<Ring> {
        let tuned =
            IoUring::builder().setup_single_issuer().setup_defer_taskrun().setup_cqsize(entries * 4).build(entries);
        let uring = match tuned {
            Ok(r) => r,
            Err(_) => IoUring::builder().setup_cqsize(entries * 4).build(entries)?,
        };
        super::proc::keep_rings_out_of_children();
        Ok(Ring { uring, fixed_files: 0, backlog: Vec::new() })
    }

    /// Registers an empty file table for [`Ring::register_socket`] (a ring that only
    /// ever names sockets by fd does without). Falls back to smaller tables, and to
    /// none (every socket by its fd) if the kernel refuses them all.
    pub fn enable_fixed_sockets(&mut self) {
        let mut n = FIXED_FILES;
        while n >= 64 {
            if self.uring.submitter().register_files_sparse(n).is_ok() {
                self.fixed_files = n;
                return;
            }
            n /= 2;
        }
    }

    /// Puts `fd` at `index` of the registered file table and returns how entries
    /// should name it: `Sock::Fixed(index)`, or `Sock::Fd(fd)` when the index is past
    /// the table or the kernel refused. The fd stays open and usable for everything
    /// else (socket options, shutdown, handing it over); the table holds its own
    /// reference until [`Ring::unregister_socket`].
    pub fn register_socket(&mut self, index: u32, fd: RawFd) -> Sock {
        if index < self.fixed_files && self.uring.submitter().register_files_update(index, &[fd]).is_ok() {
            Sock::Fixed(index)
        } else {
            Sock::Fd(fd)
        }
    }

    /// Empties the table entry a `Sock::Fixed` names (before its fd is closed or
    /// handed to another thread: the table's reference would keep the socket open).
    pub fn unregister_socket(&mut self, sock: Sock) {
        if let Sock::Fixed(index) = sock {
            let _ = self.uring.submitter().register_files_update(index, &[-1]);
        }
    }

    /// The ring's own fd, the target of other shards' MSG_RING wakeups.
    pub fn fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.uring.as_raw_fd()
    }

    /// Queues one entry; if the submission queue is full, hands what is queued to the
    /// kernel first (this only happens under bursts larger than the ring).
    ///
    /// # Safety
    /// Every buffer the entry points to must stay valid until its completion arrives.
    pub unsafe fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: forwarded to the caller's contract.
            let pushed = unsafe { self.uring.submission().push(&entry) };
            if pushed.is_ok() {
                return;
            }
            self.make_room();
        }
    }

    /// Queues two entries back to back, so they reach the kernel in the same
    /// submission (a link chain must not be split across two `io_uring_enter`s).
    ///
    /// # Safety
    /// As `push`, for both entries.
    pub unsafe fn push_pair(&mut self, a: squeue::Entry, b: squeue::Entry) {
        loop {
            // SAFETY: forwarded to the caller's contract.
            let pushed = unsafe { self.uring.submission().push_multiple(&[a.clone(), b.clone()]) };
            if pushed.is_ok() {
                return;
            }
            self.make_room();
        }
    }

    /// Hands queued entries to the kernel so the submission queue has room again.
    fn make_room(&mut self) {
        if let Err(e) = self.uring.submit() {
            if e.raw_os_error() != Some(libc::EBUSY) && e.raw_os_error() != Some(libc::EINTR) {
                panic!("io_uring submit failed: {e}");
            }
            // EBUSY: the completion queue is full. Park its entries in the backlog
            // so the kernel can make progress, then retry.
            let mut cq = self.uring.completion();
            cq.sync();
            for cqe in &mut cq {
                self.backlog.push((cqe.user_data(), cqe.result(), cqe.flags()));
            }
        }
    }

    /// Multishot accept on `fd`; completions carry new connection fds.
    pub fn accept_multi(&mut self, fd: RawFd, user_data: u64) {
        let e = opcode::AcceptMulti::new(types::Fd(fd)).flags(libc::SOCK_CLOEXEC).build().user_data(user_data);
        // SAFETY: accept writes no user memory (no sockaddr is passed).
        unsafe { self.push(e) }
    }

    /// One accept on `fd` (the shared Unix socket: see `io::listen`).
    pub fn accept_once(&mut self, fd: RawFd, user_data: u64) {
        let e = opcode::Accept::new(types::Fd(fd), std::ptr::null_mut(), std::ptr::null_mut())
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data);
        // SAFETY: accept writes no user memory (no sockaddr is passed).
        unsafe { self.push(e) }
    }

    /// Cancels the operation submitted with user_data `target` (a retired listener's
    /// multishot accept, or a multishot receive that must stop reading; the target
    /// completes with `-ECANCELED`). Only a failure of the cancel itself (nothing left
    /// to cancel) posts a completion, carrying `own_user_data`.
    pub fn cancel(&mut self, target: u64, own_user_data: u64) {
        let e = opcode::AsyncCancel::new(target).build().user_data(own_user_data).flags(squeue::Flags::SKIP_SUCCESS);
        // SAFETY: a cancel reads no user memory.
        unsafe { self.push(e) }
    }

    /// Multishot receive into the provided buffer group `bgid`.
    pub fn recv_multi(&mut self, sock: Sock, bgid: u16, user_data: u64) {
        let e = match sock {
            Sock::Fd(fd) => opcode::RecvMulti::new(types::Fd(fd), bgid).build(),
            Sock::Fixed(i) => opcode::RecvMulti::new(types::Fixed(i), bgid).build(),
        }
        .user_data(user_data);
        // SAFETY: the kernel writes only into provided buffers, which the BufRing keeps
        // alive for the ring's lifetime.
        unsafe { self.push(e) }
    }

    /// Sends `len` bytes at `ptr`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid and unmoved until the completion arrives.
    pub unsafe fn send(&mut self, sock: Sock, ptr: *const u8, len: usize, user_data: u64) {
        let e = match sock {
            Sock::Fd(fd) => opcode::Send::new(types::Fd(fd), ptr, len as u32),
            Sock::Fixed(i) => opcode::Send::new(types::Fixed(i), ptr, len as u32),
        }
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data);
        // SAFETY: forwarded to the caller's contract.
        unsafe { self.push(e) }
    }

    /// Posts a completion carrying `user_data` into another ring: the cross-shard wakeup.
    pub fn msg_ring(&mut self, target_ring_fd: RawFd, user_data: u64, own_user_data: u64) {
        let e = opcode::MsgRingData::new(types::Fd(target_ring_fd), 0, user_data, None)
            .build()
            .user_data(own_user_data)
            .flags(squeue::Flags::SKIP_SUCCESS);
        // SAFETY: MSG_RING reads no user memory.
        unsafe { self.push(e) }
    }

    /// Submits everything queued and waits for at least one completion or `timeout`.
    pub fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let res = match timeout {
            Some(t) => {
                let ts = types::Timespec::new().sec(t.as_secs()).nsec(t.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.uring.submitter().submit_with_args(1, &args)
            }
            None => self.uring.submit_and_wait(1),
        };
        match res {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Submits without waiting (used when completions are already pending).
    pub fn submit(&mut self) -> io::Result<()> {
        match self.uring.submit() {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves every available completion into `out` (user_data, result, flags).
    pub fn reap(&mut self, out: &mut Vec<(u64, i32, u32)>) {
        out.append(&mut self.backlog);
        let mut cq = self.uring.completion();
        cq.sync();
        for cqe in &mut cq {
            out.push((cqe.user_data(), cqe.result(), cqe.flags()));
        }
    }
}

/// Completion flag helpers re-exported so callers need not import io_uring.
pub fn cqe_more(flags: u32) -> bool {
    cqueue::more(flags)
}

pub fn cqe_buffer(flags: u32) -> Option<u16> {
    cqueue::buffer_select(flags)
}
