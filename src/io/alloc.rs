//! The allocator's maintenance call: giving freed memory back to the system.
//!
//! mimalloc frees into per-thread pages and returns emptied ones to the OS after a
//! delay; frees made by another thread (the lazy-free thread dropping a shard's
//! values) wait on each page's delayed-free list until the owning thread next
//! allocates there. `collect` makes the calling thread process those lists and purge
//! what became free, so memory a burst (or a flush) left behind goes back promptly.

unsafe extern "C" {
    // mimalloc's C API (linked by the `mimalloc` crate's bundled library).
    fn mi_collect(force: bool);
}

/// Frees what the calling thread's heap holds unused (`force` also returns memory
/// kept for reuse, which is slower).
pub fn collect(force: bool) {
    // SAFETY: `mi_collect` takes a plain bool, touches only the calling thread's heap
    // and mimalloc's own state, and is safe to call at any time from any thread.
    unsafe { mi_collect(force) }
}
