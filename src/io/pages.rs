//! Keeping big, write-once buffers out of transparent huge pages.
//!
//! Job: ask the kernel to back the unused capacity of a large buffer with ordinary
//! 4 KiB pages. mimalloc asks for huge pages for its arenas (`MADV_HUGEPAGE`), so
//! the first write to fresh arena memory faults in and zeroes 2 MiB at a time. For
//! the memory a big request is read into (`net::conn`'s read buffer sized for a big
//! argument, `resp::ArgStore`'s chunks) that first touch is most of what the request
//! costs: measured here, a 64 MiB SET cost 8.3 ms of CPU per MiB with huge pages
//! and 3.9 without (Redis 3.9, which gets no huge pages from jemalloc under the
//! `madvise` THP mode), and an RPUSH of 64 MiB of small elements 9.4 against 6.7.
//! The dataset keeps its huge pages (the fork of a snapshot is faster with them,
//! see `disable-thp`); only these buffers opt out.
//!
//! Non-goals: allocating (the buffers stay ordinary `Vec`s of the global allocator,
//! so `used_memory` counts them and they can become values), small buffers (a system
//! call and a split of the allocator's mapping per buffer are not worth it below
//! `MIN_RANGE`). A range need not cover a whole huge page: the 2 MiB extents it
//! touches can no longer be faulted in as huge pages.

/// The smallest spare capacity worth the advice.
const MIN_RANGE: usize = 1 << 20;
const PAGE: usize = 4096;

/// Marks the spare capacity of `buf` (from its length to its capacity) `MADV_NOHUGEPAGE`
/// when it is at least `MIN_RANGE`, before anything is written there. Memory already
/// faulted in keeps its pages; failures are ignored (it is only advice).
pub fn avoid_huge_pages(buf: &mut Vec<u8>) {
    if buf.capacity() - buf.len() < MIN_RANGE {
        return;
    }
    let spare = buf.spare_capacity_mut();
    let from = spare.as_mut_ptr() as usize;
    let start = from.next_multiple_of(PAGE);
    let end = (from + spare.len()) & !(PAGE - 1);
    if end <= start {
        return;
    }
    // SAFETY: [start, end) lies inside `buf`'s own allocation (its spare capacity,
    // rounded inwards to whole pages), which this function holds exclusively through
    // `&mut`. MADV_NOHUGEPAGE changes only how future faults in the range are served:
    // no byte's value changes and the mapping stays readable and writable.
    let _ = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_NOHUGEPAGE) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The advice leaves the buffer usable and its contents intact.
    #[test]
    fn advised_buffers_keep_their_bytes() {
        let mut buf = Vec::with_capacity(5 * MIN_RANGE + 123);
        buf.extend_from_slice(b"head");
        avoid_huge_pages(&mut buf);
        buf.resize(5 * MIN_RANGE, 7);
        assert_eq!(&buf[..4], b"head");
        assert!(buf[4..].iter().all(|&b| b == 7));
        let mut small = vec![1u8; 10];
        avoid_huge_pages(&mut small);
        assert_eq!(small, vec![1u8; 10]);
    }
}
