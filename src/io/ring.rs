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
    /// What `io_uring_enter` names the ring by: its index in this thread's registered
    /// ring table (`IORING_REGISTER_RING_FDS`, with `IORING_ENTER_REGISTERED_RING`),
    /// which spares the kernel the fd lookup and reference count per enter, or its fd.
    enter_fd: i32,
    enter_flags: u32,
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
        let fd = std::os::fd::AsRawFd::as_raw_fd(&uring);
        Ok(Ring { uring, enter_fd: fd, enter_flags: 0, fixed_files: 0, backlog: Vec::new() })
    }

    /// Registers the ring's own fd in the calling thread's ring table, so that every
    /// enter names it by index. The table is per thread: call this only on the thread
    /// that will enter the ring, and only once. A kernel that refuses keeps the fd.
    pub fn register_own_fd(&mut self) {
        if self.enter_flags != 0 {
            return;
        }
        let mut up = RsrcUpdate { offset: u32::MAX, resv: 0, data: self.enter_fd as u64 };
        // SAFETY: `up` is a valid `io_uring_rsrc_update` the kernel reads and writes
        // (the index it chose goes to `offset`) only during the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.enter_fd,
                IORING_REGISTER_RING_FDS,
                &mut up as *mut RsrcUpdate,
                1u32,
            )
        };
        if r == 1 {
            self.enter_fd = up.offset as i32;
            self.enter_flags = IORING_ENTER_REGISTERED_RING;
        }
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
        if let Err(e) = self.enter(0, None) {
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

    /// A send that posts no completion when it sends all `len` bytes, and that never
    /// waits: `MSG_DONTWAIT` makes the kernel fail it rather than wait for room in the
    /// socket (`-EAGAIN`, or the count sent so far: `MSG_WAITALL` makes a short send a
    /// failure), and `IOSQE_CQE_SKIP_SUCCESS` drops the completion of a whole one. So
    /// once an enter has taken it ([`Ring::all_submitted`]) it has finished, and it
    /// finished whole unless a completion for `user_data` is in the queue: the
    /// buffer is free without reaping a completion for it. Only where
    /// [`Ring::probe_quiet_sends`] found the kernel keeps to that.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid and unmoved until an enter has taken the entry
    /// and its completion, if any, has been reaped.
    pub unsafe fn send_quiet(&mut self, sock: Sock, ptr: *const u8, len: usize, user_data: u64) {
        let e = match sock {
            Sock::Fd(fd) => opcode::Send::new(types::Fd(fd), ptr, len as u32),
            Sock::Fixed(i) => opcode::Send::new(types::Fixed(i), ptr, len as u32),
        }
        .flags(QUIET_SEND_FLAGS)
        .build()
        .user_data(user_data)
        .flags(squeue::Flags::SKIP_SUCCESS);
        // SAFETY: forwarded to the caller's contract.
        unsafe { self.push(e) }
    }

    /// Whether this kernel finishes a quiet send within the enter that takes it: a
    /// quiet send into a full socket must come back at once with `-EAGAIN` (an older
    /// kernel would wait for room and finish later, without a completion). Tried on
    /// a socket pair whose sending side is filled first. Call before any other entry
    /// is queued.
    pub fn probe_quiet_sends(&mut self) -> bool {
        static PROBE_BYTE: [u8; 1] = [b'x'];
        const PROBE_UD: u64 = u64::MAX;
        let Ok((a, b)) = std::os::unix::net::UnixStream::pair() else { return false };
        if a.set_nonblocking(true).is_err() {
            return false;
        }
        let filler = [0u8; 4096];
        loop {
            match io::Write::write(&mut &a, &filler) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        use std::os::fd::AsRawFd;
        // SAFETY: the byte is static, so it outlives the send however it ends.
        unsafe { self.send_quiet(Sock::Fd(a.as_raw_fd()), PROBE_BYTE.as_ptr(), 1, PROBE_UD) };
        if self.enter(0, None).is_err() || !self.all_submitted() {
            return false;
        }
        let mut seen = Vec::new();
        self.reap(&mut seen);
        let failed_at_once = seen.iter().any(|&(ud, res, _)| ud == PROBE_UD && res == -libc::EAGAIN);
        self.backlog.extend(seen.into_iter().filter(|&(ud, _, _)| ud != PROBE_UD));
        if !failed_at_once {
            // The send waits for room: let it finish (or fail) before the pair closes.
            drop(b);
            let _ = self.enter(1, Some(Duration::from_millis(100)));
            let mut rest = Vec::new();
            self.reap(&mut rest);
            self.backlog.extend(rest.into_iter().filter(|&(ud, _, _)| ud != PROBE_UD));
        }
        failed_at_once
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
        match self.enter(1, timeout) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Submits without waiting (used when completions are already pending).
    pub fn submit(&mut self) -> io::Result<()> {
        match self.enter(0, None) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `io_uring_enter`: submits everything queued, and waits for `want` completions
    /// (bounded by `timeout` if given). Entered by hand rather than through the
    /// crate's `Submitter`, which forgets a registered ring index between calls.
    fn enter(&mut self, want: u32, timeout: Option<Duration>) -> io::Result<usize> {
        let (to_submit, overflow) = {
            let sq = self.uring.submission();
            (sq.len() as u32, sq.cq_overflow())
        };
        let mut flags = self.enter_flags;
        // An overflowed completion queue is flushed only by an enter that gets events.
        if want > 0 || overflow {
            flags |= IORING_ENTER_GETEVENTS;
        }
        let ts;
        let arg;
        let (argp, argsz): (*const libc::c_void, usize) = match timeout {
            Some(t) => {
                ts = KernelTimespec { tv_sec: t.as_secs() as i64, tv_nsec: t.subsec_nanos() as i64 };
                arg = GeteventsArg { sigmask: 0, sigmask_sz: 0, min_wait_usec: 0, ts: &ts as *const _ as u64 };
                flags |= IORING_ENTER_EXT_ARG;
                (&arg as *const GeteventsArg as *const libc::c_void, std::mem::size_of::<GeteventsArg>())
            }
            None => (std::ptr::null(), 0),
        };
        // SAFETY: the submission queue's entries were written by `push`, whose callers
        // keep their buffers alive; `arg` and `ts` outlive the call, and `argsz` is the
        // size of the struct `argp` points to (or 0 with a null pointer).
        let r = unsafe { libc::syscall(libc::SYS_io_uring_enter, self.enter_fd, to_submit, want, flags, argp, argsz) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EBADF) && self.enter_flags != 0 {
            // Entered from a thread whose ring table does not hold it: by fd from now on.
            self.enter_fd = std::os::fd::AsRawFd::as_raw_fd(&self.uring);
            self.enter_flags = 0;
            return self.enter(want, timeout);
        }
        Err(e)
    }

    /// Whether every entry pushed so far has been taken by the kernel, and every
    /// completion posted so far is in the completion queue (none waits in the
    /// kernel's overflow list): then a quiet send ([`Ring::send_quiet`]) has finished,
    /// and a reap now sees its completion if it has one.
    pub fn all_submitted(&mut self) -> bool {
        let sq = self.uring.submission();
        sq.is_empty() && !sq.cq_overflow()
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

impl Drop for Ring {
    fn drop(&mut self) {
        if self.enter_flags & IORING_ENTER_REGISTERED_RING != 0 {
            let up = RsrcUpdate { offset: self.enter_fd as u32, resv: 0, data: 0 };
            // SAFETY: the kernel only reads `up` during the call. On another thread
            // than the one that registered it this fails harmlessly (the entry goes
            // with that thread).
            unsafe {
                libc::syscall(
                    libc::SYS_io_uring_register,
                    std::os::fd::AsRawFd::as_raw_fd(&self.uring),
                    IORING_UNREGISTER_RING_FDS,
                    &up as *const RsrcUpdate,
                    1u32,
                );
            }
        }
    }
}

/// A quiet send's flags (see [`Ring::send_quiet`]).
const QUIET_SEND_FLAGS: i32 = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT | libc::MSG_WAITALL;

// The kernel ABI (include/uapi/linux/io_uring.h) for the enters and registrations
// made by hand.
const IORING_ENTER_GETEVENTS: u32 = 1 << 0;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;
const IORING_ENTER_REGISTERED_RING: u32 = 1 << 4;
const IORING_REGISTER_RING_FDS: u32 = 20;
const IORING_UNREGISTER_RING_FDS: u32 = 21;

#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

#[repr(C)]
struct KernelTimespec {
    tv_sec: i64,
    tv_nsec: i64,
}

#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// Completion flag helpers re-exported so callers need not import io_uring.
pub fn cqe_more(flags: u32) -> bool {
    cqueue::more(flags)
}

pub fn cqe_buffer(flags: u32) -> Option<u16> {
    cqueue::buffer_select(flags)
}
