//! Process-level system calls for snapshots: fork, reaping and killing the child,
//! `_exit`, a page shared between parent and child for the child's report, and the
//! process knobs a forking server wants (transparent huge pages off, CPU affinity).
//!
//! Only `persist::cut` and `persist::bgsave` use these; see there for the protocol.

use std::io;
use std::sync::atomic::AtomicU64;

/// What `fork` returned in this process.
pub enum Forked {
    /// We are the child (single-threaded copy of the caller's thread).
    Child,
    /// We are the parent; the child's pid.
    Parent(i32),
}

/// An fd a forked child must not keep: the data directory's lock (`persist::dirlock`).
/// A `flock` belongs to the open file, so a child holding a copy would keep the
/// directory locked after the server died (a restart would be refused until the
/// snapshot child finished). -1: none.
static CLOSE_IN_CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Registers the fd that every child forked from now on closes first (-1: none).
pub fn close_in_child(fd: i32) {
    CLOSE_IN_CHILD.store(fd, std::sync::atomic::Ordering::SeqCst);
}

/// Forks the process.
///
/// # Safety
/// After `Forked::Child` the caller must only read memory that no other thread of the
/// parent was writing at the moment of the fork, must not use the parent's io_uring
/// rings or any lock another thread might have held, and must end with [`exit_now`].
pub unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: fork itself is always safe to call; the caller upholds what the child may
    // do afterwards (see above).
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let fd = CLOSE_IN_CHILD.load(std::sync::atomic::Ordering::SeqCst);
            if fd >= 0 {
                // SAFETY: `fd` is the child's copy of an fd the parent registered; the
                // child never uses it, and closing a copy leaves the parent's open.
                unsafe { libc::close(fd) };
            }
            close_inherited_sockets_and_rings();
            Ok(Forked::Child)
        }
        p => Ok(Forked::Parent(p)),
    }
}

/// Marks every io_uring mapping of this process MADV_DONTFORK, so a forked child
/// never maps a ring (see `close_inherited_sockets_and_rings`). Called after each ring
/// is created; marking a mapping twice is harmless.
pub fn keep_rings_out_of_children() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return };
    for line in maps.lines().filter(|l| l.contains("io_uring")) {
        let Some((range, _)) = line.split_once(' ') else { continue };
        let Some((a, b)) = range.split_once('-') else { continue };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else { continue };
        // SAFETY: [a, b) is a mapping of this process as the kernel lists it; the
        // advice changes only what fork copies, never the parent's memory.
        unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTFORK) };
    }
}

/// Closes the child's copies of every listening socket and io_uring ring. A child
/// that outlived a crashed or killed parent would otherwise keep the port bound, so a
/// restarted server could not listen until the snapshot finished: directly through a
/// listening fd, and indirectly through a ring, which keeps the sockets of its
/// in-flight multishot accepts alive as long as any process holds the ring (its fd or
/// a mapping: the mappings are MADV_DONTFORK, `keep_rings_out_of_children`). Redis
/// closes its listeners in the child too.
///
/// Scans `/proc/self/fd` with raw system calls and stack buffers: the child of a
/// multi-threaded parent must not allocate before it has to.
fn close_inherited_sockets_and_rings() {
    // SAFETY: a NUL-terminated literal path; open has no other preconditions.
    let dir = unsafe { libc::open(c"/proc/self/fd".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if dir < 0 {
        return;
    }
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: `buf` is writable for its whole length, which we pass as the count.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dir, buf.as_mut_ptr(), buf.len()) };
        if n <= 0 {
            break;
        }
        let mut at = 0usize;
        while at + 19 < n as usize {
            // linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[].
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &buf[at + 19..(at + reclen).min(n as usize)];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            at += reclen;
            let Some(fd) = parse_fd(name) else { continue };
            if fd <= 2 || fd == dir {
                continue;
            }
            let mut listening: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: `listening` and `len` are valid for writes of the sizes given;
            // on a non-socket fd the call fails with ENOTSOCK and writes nothing.
            let r = unsafe {
                libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN, (&raw mut listening).cast(), &mut len)
            };
            if (r == 0 && listening != 0) || is_ring(fd) {
                // SAFETY: the child's copy of a listening socket or ring it never uses.
                unsafe { libc::close(fd) };
            }
        }
    }
    // SAFETY: `dir` is the fd opened above.
    unsafe { libc::close(dir) };
}

/// Whether `fd` is an io_uring instance (`anon_inode:[io_uring]`).
fn is_ring(fd: i32) -> bool {
    let mut path = *b"/proc/self/fd/\0\0\0\0\0\0\0\0\0\0\0";
    let mut digits = [0u8; 10];
    let (mut n, mut len) = (fd as u32, 0);
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        path[14 + i] = digits[len - 1 - i];
    }
    let mut target = [0u8; 64];
    // SAFETY: `path` is NUL-terminated (at most 10 digits after the 14-byte prefix in
    // a 25-byte array of zeros) and `target` is writable for the length passed.
    let n = unsafe { libc::readlink(path.as_ptr().cast(), target.as_mut_ptr().cast(), target.len()) };
    n > 0 && target[..n as usize].windows(8).any(|w| w == b"io_uring")
}

fn parse_fd(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 9 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(name.iter().fold(0i32, |n, d| n * 10 + (d - b'0') as i32))
}

/// Ends the (child) process at once: no atexit handlers, no destructors, no stdio
/// flush of state copied from the parent.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no user memory.
    unsafe { libc::_exit(code) }
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// Reaps `pid` if it has exited (never blocks). `Ok(None)` while it runs.
pub fn reap(pid: i32) -> io::Result<Option<Exit>> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer for the call's duration.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if r == 0 {
        return Ok(None);
    }
    if libc::WIFEXITED(status) {
        Ok(Some(Exit::Code(libc::WEXITSTATUS(status))))
    } else {
        Ok(Some(Exit::Signal(libc::WTERMSIG(status))))
    }
}

/// Reaps `pid`, waiting for it.
pub fn reap_blocking(pid: i32) {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; an error (already reaped) is ignored.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

pub fn kill(pid: i32, sig: i32) {
    // SAFETY: plain syscall on a pid we forked ourselves.
    unsafe { libc::kill(pid, sig) };
}

/// One page mapped shared between parent and child, holding counters the child
/// fills in before exiting (its copy-on-write size, keys written). Created before the
/// fork; unmapped by the parent once the child is reaped.
pub struct SharedPage {
    ptr: *mut AtomicU64,
}

// SAFETY: the page is only accessed through atomics.
unsafe impl Send for SharedPage {}
// SAFETY: as above.
unsafe impl Sync for SharedPage {}

/// Number of u64 slots in a [`SharedPage`].
pub const SHARED_SLOTS: usize = 8;

impl SharedPage {
    pub fn new() -> io::Result<SharedPage> {
        // SAFETY: an anonymous shared mapping with no address hint; checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // The mapping is zero-filled, which is a valid AtomicU64 bit pattern.
        Ok(SharedPage { ptr: p as *mut AtomicU64 })
    }

    pub fn slot(&self, i: usize) -> &AtomicU64 {
        assert!(i < SHARED_SLOTS);
        // SAFETY: `i` is within the 4096-byte page, which lives as long as `self`.
        unsafe { &*self.ptr.add(i) }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the page was mapped by `new` with this length and is unmapped once.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, 4096) };
    }
}

/// Turns transparent huge pages off for this process (`disable-thp`, as Redis does):
/// with THP, one write after a fork copies 2 MB instead of 4 KB.
pub fn disable_thp() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if r < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Lets the calling thread run on every CPU: a snapshot child must not compete with
/// the shard pinned where it was forked.
pub fn unpin() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it, and
    // sched_setaffinity reads it for the call's duration.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The open-files limit (`RLIMIT_NOFILE`): (soft, hard).
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `l` is a valid out-pointer for the call's duration.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // rlim_t is u32 on some 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    Ok((l.rlim_cur as u64, l.rlim_max as u64))
}

/// Sets the open-files limit (raising `hard` needs CAP_SYS_RESOURCE).
pub fn set_nofile_limit(soft: u64, hard: u64) -> io::Result<()> {
    let l = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
    // SAFETY: `l` is a valid, initialized rlimit read by the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft open-files limit to `wanted` if it is lower: with the hard limit
/// too when allowed (CAP_SYS_RESOURCE), else as far as the hard limit goes. Returns
/// the soft limit now in force, and the error that stopped the full raise.
pub fn raise_nofile(wanted: u64) -> io::Result<(u64, Option<io::Error>)> {
    let (soft, hard) = nofile_limit()?;
    if soft >= wanted {
        return Ok((soft, None));
    }
    let err = match set_nofile_limit(wanted, hard.max(wanted)) {
        Ok(()) => return Ok((wanted, None)),
        Err(e) => e,
    };
    let now = if hard > soft && set_nofile_limit(hard, hard).is_ok() { hard } else { soft };
    Ok((now, Some(err)))
}
