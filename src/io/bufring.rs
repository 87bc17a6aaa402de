//! A provided buffer ring (`IORING_REGISTER_PBUF_RING`) for multishot receives.
//!
//! The kernel picks a free buffer for each received chunk and tells us its id in the
//! completion flags. We copy the bytes into the connection's own read buffer right away
//! and hand the buffer back, so a handful of buffers serve every connection of a thread.
//! That keeps memory per idle connection at zero, unlike one posted buffer per socket.
//!
//! The buffers are mapped straight from the kernel rather than taken from the global
//! allocator: they are I/O plumbing like the rings themselves, so `used_memory` (which
//! counts the allocator, as Redis counts data and clients) leaves them out; an empty
//! 2-shard server reported 17 MB with them in.

use io_uring::IoUring;
use io_uring::types::BufRingEntry;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

pub struct BufRing {
    /// The ring of `io_uring_buf` entries, page aligned (mmap), shared with the kernel.
    entries: *mut BufRingEntry,
    ring_bytes: usize,
    count: u16,
    /// Our copy of the tail; published to the kernel with a release store.
    tail: u16,
    /// One anonymous mapping holding every buffer back to back (`storage_bytes` long).
    storage: *mut u8,
    storage_bytes: usize,
    buf_size: usize,
    pub bgid: u16,
}

impl BufRing {
    /// Allocates `count` buffers of `buf_size` bytes (count: a power of two, at most
    /// 32768), registers them with `ring` under group `bgid` and offers all of them.
    pub fn new(ring: &IoUring, count: u16, buf_size: usize, bgid: u16) -> io::Result<BufRing> {
        assert!(count.is_power_of_two());
        let ring_bytes = count as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping; the arguments are valid and the result is
        // checked before use. mmap memory is page aligned as the kernel requires.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let storage_bytes = count as usize * buf_size;
        // SAFETY: as above; pages are faulted in when the kernel first writes them.
        let storage = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                storage_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if storage == libc::MAP_FAILED {
            let err = io::Error::last_os_error();
            // SAFETY: the entry mapping was created just above with this length.
            unsafe { libc::munmap(ptr, ring_bytes) };
            return Err(err);
        }
        let mut br = BufRing {
            entries: ptr as *mut BufRingEntry,
            ring_bytes,
            count,
            tail: 0,
            storage: storage as *mut u8,
            storage_bytes,
            buf_size,
            bgid,
        };
        // SAFETY: `entries` points to `count` entries that stay mapped until `Drop`, and
        // the ring (and so the registration) is dropped before this struct by the worker
        // (the worker unregisters in its own Drop before unmapping).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(ptr as u64, count, bgid, 0)?;
        }
        for bid in 0..count {
            br.push(bid);
        }
        br.publish();
        Ok(br)
    }

    /// The bytes the kernel wrote into buffer `bid`.
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.count, "buffer id out of range");
        let start = bid as usize * self.buf_size;
        // SAFETY: bid < count, so `start + buf_size <= storage_bytes`: the slice lies
        // inside the mapping, which lives as long as `self`. The kernel wrote these
        // bytes before posting the completion and does not write this buffer again
        // until `push` hands it back.
        unsafe { std::slice::from_raw_parts(self.storage.add(start), len.min(self.buf_size)) }
    }

    /// Gives buffer `bid` back to the kernel. Call `publish` once per batch.
    pub fn push(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        let addr = self.storage as u64 + (bid as usize * self.buf_size) as u64;
        // SAFETY: idx < count, so the entry lies inside the mapping. The kernel reads only
        // entries between its head and the published tail, and this one is past the tail.
        let entry = unsafe { &mut *self.entries.add(idx) };
        entry.set_addr(addr);
        entry.set_len(self.buf_size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every pushed buffer visible to the kernel.
    pub fn publish(&mut self) {
        // SAFETY: the tail field lives inside the first entry of our mapping, and the
        // kernel only reads it; an atomic release store orders the entry writes before it.
        unsafe {
            let tail = BufRingEntry::tail(self.entries) as *mut u16;
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }

    pub fn buf_size(&self) -> usize {
        self.buf_size
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both mappings were created in `new` with these lengths and are
        // unmapped once.
        unsafe {
            libc::munmap(self.entries as *mut libc::c_void, self.ring_bytes);
            libc::munmap(self.storage as *mut libc::c_void, self.storage_bytes);
        }
    }
}
