//! A provided buffer ring (`IORING_REGISTER_PBUF_RING`) for multishot receives.
//!
//! The kernel picks a free buffer for each received chunk and tells us its id in the
//! completion flags. We copy the bytes into the connection's own read buffer right away
//! and hand the buffer back, so a handful of buffers serve every connection of a thread.
//! That keeps memory per idle connection at zero, unlike one posted buffer per socket.

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
    /// One allocation holding every buffer back to back.
    storage: Box<[u8]>,
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
        let mut storage = vec![0u8; count as usize * buf_size].into_boxed_slice();
        // Make every page resident now, so the ring is part of the empty server's size
        // (as Redis's own fixed buffers are) rather than growing RSS during the first
        // burst of input and being charged to whatever data arrived then. Its bytes
        // are in `used_memory` either way. `black_box` keeps the stores from being
        // elided on memory known to be zero.
        for page in storage.chunks_mut(4096) {
            page[0] = std::hint::black_box(0);
        }
        let mut br = BufRing { entries: ptr as *mut BufRingEntry, ring_bytes, count, tail: 0, storage, buf_size, bgid };
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
        let start = bid as usize * self.buf_size;
        &self.storage[start..start + len.min(self.buf_size)]
    }

    /// Gives buffer `bid` back to the kernel. Call `publish` once per batch.
    pub fn push(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        let addr = self.storage.as_ptr() as u64 + (bid as usize * self.buf_size) as u64;
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
        // SAFETY: the mapping was created in `new` with this length and is unmapped once.
        unsafe {
            libc::munmap(self.entries as *mut libc::c_void, self.ring_bytes);
        }
    }
}
