//! The global allocator: mimalloc, wrapped to count the bytes the process holds.
//!
//! Job: give `used_memory` (INFO, MEMORY STATS, the `maxmemory` check) an exact figure
//! that is cheap enough to read before every write command. Every allocation adds its
//! *usable* size (what mimalloc really set aside for it, size-class rounding included,
//! as Redis's `zmalloc_used_memory` counts) and every free subtracts it.
//!
//! The counters are per thread: each thread that allocates takes a slot of its own in
//! a fixed table (cache-line padded) and updates it with a plain load and store, no
//! atomic read-modify-write, because only it writes there. A block freed on another
//! thread than the one that allocated it makes one slot go up and another down; only
//! the sum means anything. Threads past the table's size share the last slot through
//! `fetch_add`. An exited thread's slot keeps its balance (the memory it left behind
//! is still held, and whoever frees it subtracts on their own slot).
//!
//! Also here: the few mimalloc entry points the memory commands need (MEMORY PURGE,
//! MEMORY MALLOC-STATS, the allocator's committed and resident figures).
//!
//! Non-goals: knowing what the memory is for (the dataset/overhead split is computed by
//! the callers from their own counts).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// Slots in the counter table. Shards plus the main thread, helpers and short-lived
/// threads (tests start many) fit; later threads share the last slot.
const SLOTS: usize = 256;

#[repr(align(64))]
struct Slot(AtomicI64);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot(AtomicI64::new(0));
static COUNTERS: [Slot; SLOTS] = [EMPTY; SLOTS];
/// Slots handed out so far (may exceed `SLOTS`; readers clamp).
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot, `usize::MAX` until its first allocation. A `const`
    /// initialiser without a destructor: readable even while the thread's other
    /// thread-locals are being torn down (which allocate and free too).
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

// SAFETY: these are mimalloc's C entry points, linked by the `mimalloc` crate's
// bundled library, declared with the signatures of its `mimalloc.h`.
unsafe extern "C" {
    fn mi_usable_size(p: *const c_void) -> usize;
    fn mi_collect(force: bool);
    fn mi_process_info(
        elapsed_msecs: *mut usize,
        user_msecs: *mut usize,
        system_msecs: *mut usize,
        current_rss: *mut usize,
        peak_rss: *mut usize,
        current_commit: *mut usize,
        peak_commit: *mut usize,
        page_faults: *mut usize,
    );
    // SAFETY (callers): `out`, when given, must be safe to call with a C string and `arg`.
    fn mi_stats_print_out(out: Option<unsafe extern "C" fn(msg: *const c_char, arg: *mut c_void)>, arg: *mut c_void);
}

#[inline]
fn add(delta: i64) {
    let slot = MY_SLOT.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_SLOT.fetch_add(1, Ordering::Relaxed).min(SLOTS - 1);
        s.set(v);
        v
    });
    let c = &COUNTERS[slot].0;
    if slot == SLOTS - 1 {
        c.fetch_add(delta, Ordering::Relaxed);
    } else {
        // Only this thread writes this slot: a load and a store suffice.
        c.store(c.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    }
}

/// Bytes the process holds through the allocator right now (all threads).
pub fn used_bytes() -> u64 {
    let n = NEXT_SLOT.load(Ordering::Relaxed).min(SLOTS);
    let sum: i64 = COUNTERS[..n].iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
    sum.max(0) as u64
}

/// mimalloc wrapped with the byte counters. Install with `#[global_allocator]`.
pub struct CountingMiMalloc;

// SAFETY: every method forwards to mimalloc's `GlobalAlloc`, which upholds the
// contract; the counting around it touches only our own counters and never allocates.
unsafe impl GlobalAlloc for CountingMiMalloc {
    // SAFETY (callers): `GlobalAlloc`'s contract, passed on unchanged to mimalloc.
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { mimalloc::MiMalloc.alloc(layout) };
        if !p.is_null() {
            // SAFETY: `p` was just returned by mimalloc and is live.
            add(unsafe { mi_usable_size(p as *const c_void) } as i64);
        }
        p
    }

    // SAFETY (callers): `GlobalAlloc`'s contract, passed on unchanged to mimalloc.
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            // SAFETY: `p` was just returned by mimalloc and is live.
            add(unsafe { mi_usable_size(p as *const c_void) } as i64);
        }
        p
    }

    // SAFETY (callers): `GlobalAlloc`'s contract, passed on unchanged to mimalloc.
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a live block from this allocator (mimalloc's).
        add(-(unsafe { mi_usable_size(ptr as *const c_void) } as i64));
        // SAFETY: same contract as ours.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }

    // SAFETY (callers): `GlobalAlloc`'s contract, passed on unchanged to mimalloc.
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a live block from this allocator (mimalloc's).
        let old = unsafe { mi_usable_size(ptr as *const c_void) } as i64;
        // SAFETY: same contract as ours.
        let p = unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // SAFETY: `p` was just returned by mimalloc and is live; on success the
            // old block is gone, on failure (null) it is untouched and still counted.
            add(unsafe { mi_usable_size(p as *const c_void) } as i64 - old);
        }
        p
    }
}

/// mimalloc's own view of the process: resident and committed bytes (now and peak).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessInfo {
    pub rss: u64,
    pub peak_rss: u64,
    pub committed: u64,
    pub peak_committed: u64,
}

pub fn process_info() -> ProcessInfo {
    let mut v = [0usize; 8];
    let [a, b, c, d, e, f, g, h] = &mut v;
    // SAFETY: every pointer is a valid, distinct `usize` out-parameter.
    unsafe { mi_process_info(a, b, c, d, e, f, g, h) };
    ProcessInfo { rss: v[3] as u64, peak_rss: v[4] as u64, committed: v[5] as u64, peak_committed: v[6] as u64 }
}

/// Returns freed memory to the OS as far as mimalloc can (MEMORY PURGE). Only the
/// calling thread's heap is collected fully; other threads' abandoned pages too.
pub fn purge() {
    // SAFETY: no arguments to uphold; mimalloc may be called from any thread.
    unsafe { mi_collect(true) }
}

/// Returns this thread's free pages to the OS (after eviction freed many blocks),
/// without the full sweep of `purge`.
pub fn collect_thread() {
    // SAFETY: no arguments to uphold; collects the calling thread's heap only.
    unsafe { mi_collect(false) }
}

/// mimalloc's statistics report (MEMORY MALLOC-STATS).
pub fn stats_text() -> String {
    // SAFETY (callers): mimalloc calls this only from `mi_stats_print_out` below, with
    // the `arg` given there and a NUL-terminated message.
    unsafe extern "C" fn sink(msg: *const c_char, arg: *mut c_void) {
        // SAFETY: `arg` is the `String` passed below, alive for the whole call, and
        // mimalloc passes a NUL-terminated message.
        let (out, msg) = unsafe { (&mut *(arg as *mut String), std::ffi::CStr::from_ptr(msg)) };
        out.push_str(&msg.to_string_lossy());
    }
    let mut out = String::new();
    // SAFETY: `sink` only appends to `out`, which outlives the call.
    unsafe { mi_stats_print_out(Some(sink), &mut out as *mut String as *mut c_void) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_this_thread_holds() {
        // Other test threads allocate at the same time: watch this thread's slot.
        let mine = || COUNTERS[MY_SLOT.with(|s| s.get())].0.load(Ordering::Relaxed);
        let a = CountingMiMalloc;
        let layout = Layout::from_size_align(1000, 8).unwrap();
        drop(vec![0u8; 1]);
        let before = mine();
        // SAFETY: a valid non-zero layout; the block is freed with its final layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(mine() >= before + 1000);
            let q = a.realloc(p, layout, 5000);
            assert!(mine() >= before + 5000);
            a.dealloc(q, Layout::from_size_align(5000, 8).unwrap());
        }
        assert_eq!(mine(), before);
        assert!(used_bytes() > 0);
        assert!(process_info().rss > 0);
        assert!(!stats_text().is_empty());
    }
}
