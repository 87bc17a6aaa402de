//! File operations through the ring, for the append-only log: positional writes and
//! fdatasync, optionally linked so the sync starts only after the write completed.

use super::ring::Ring;
use io_uring::{opcode, squeue, types};
use std::os::fd::RawFd;

impl Ring {
    /// Writes `len` bytes at `ptr` to `fd` at `offset`. With `then_sync`, an
    /// fdatasync linked to the write is queued in the same submission: it runs only
    /// if the write completed in full, and its completion carries `sync_ud`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid and unmoved until the write's completion arrives.
    pub unsafe fn write_at(
        &mut self,
        fd: RawFd,
        ptr: *const u8,
        len: usize,
        offset: u64,
        ud: u64,
        then_sync: Option<u64>,
    ) {
        let len = len.min(u32::MAX as usize) as u32;
        let w = opcode::Write::new(types::Fd(fd), ptr, len).offset(offset).build().user_data(ud);
        match then_sync {
            None => {
                // SAFETY: forwarded to the caller's contract.
                unsafe { self.push(w) }
            }
            Some(sync_ud) => {
                let s = opcode::Fsync::new(types::Fd(fd)).flags(types::FsyncFlags::DATASYNC).build().user_data(sync_ud);
                // SAFETY: the write's buffer is the caller's contract; fsync reads no
                // user memory. Both entries go into one submission (push_pair), so
                // the link cannot be split across two io_uring_enter calls.
                unsafe { self.push_pair(w.flags(squeue::Flags::IO_LINK), s) }
            }
        }
    }

    /// Queues an fdatasync of `fd`.
    pub fn fdatasync(&mut self, fd: RawFd, ud: u64) {
        let e = opcode::Fsync::new(types::Fd(fd)).flags(types::FsyncFlags::DATASYNC).build().user_data(ud);
        // SAFETY: fsync reads no user memory.
        unsafe { self.push(e) }
    }
}

/// A buffer the kernel may be reading: while a write from it is in flight it cannot be
/// changed, moved out or freed (dropping it then leaks it rather than free memory the
/// kernel still reads).
#[derive(Default)]
pub struct PinnedBuf {
    buf: Vec<u8>,
    busy: bool,
}

impl PinnedBuf {
    pub fn is_busy(&self) -> bool {
        self.busy
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer, to fill or swap. Panics while a write is in flight.
    pub fn get_mut(&mut self) -> &mut Vec<u8> {
        assert!(!self.busy, "buffer changed while the kernel reads it");
        &mut self.buf
    }

    /// Writes `buf[from..]` to `fd` at `offset` (see `Ring::write_at`); the buffer stays
    /// frozen until `done` is called with the write's completion.
    pub fn write(&mut self, ring: &mut Ring, fd: RawFd, from: usize, offset: u64, ud: u64, then_sync: Option<u64>) {
        assert!(!self.busy && from < self.buf.len(), "one write at a time, of a non-empty range");
        self.busy = true;
        let s = &self.buf[from..];
        // SAFETY: `busy` freezes the Vec (no access can reallocate or free it) until
        // the completion calls `done`; Drop leaks it if the owner goes away first.
        unsafe { ring.write_at(fd, s.as_ptr(), s.len(), offset, ud, then_sync) }
    }

    /// The write's completion arrived: the buffer may change again.
    pub fn done(&mut self) {
        self.busy = false;
    }
}

impl Drop for PinnedBuf {
    fn drop(&mut self) {
        if self.busy {
            std::mem::forget(std::mem::take(&mut self.buf));
        }
    }
}

/// fdatasync outside the ring (shutdown, after the ring's work is done).
pub fn fdatasync_blocking(fd: RawFd) -> bool {
    // SAFETY: fdatasync takes a plain fd and touches no user memory.
    unsafe { libc::fdatasync(fd) == 0 }
}

/// Closes a file descriptor this process opened and owns (an AOF log being retired).
pub fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: the caller owns `fd` and no ring operation on it is pending; nothing
        // else uses the number afterwards.
        unsafe { libc::close(fd) };
    }
}
