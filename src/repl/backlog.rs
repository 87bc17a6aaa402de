//! The replication backlog: Redis 7's shared replication buffer. The stream's bytes
//! live once, in fixed-size blocks; the backlog window (`repl-backlog-size`) and every
//! replica's send position refer to them by stream offset. A block is freed when
//! nobody needs it any more: it is older than the window *and* every replica has been
//! sent past it. So a slow replica keeps the blocks it still needs (bounded by
//! `client-output-buffer-limit replica`, which drops it), and the window keeps at
//! least `repl-backlog-size` bytes of history for partial resyncs.
//!
//! Blocks are `Arc`s so that a zero-copy send (`io::zc`) can keep the block it reads
//! from alive until the kernel's notification, whatever `trim` does meanwhile. Only
//! full blocks are handed out (`sealed_block_at`): they are never written again, and
//! the last, growing block is never shared.
//!
//! Blocks that `trim` frees and nobody else holds are kept as spares (at most
//! `SPARES`) and refilled by `append`: a fresh 64 KiB allocation from the allocator
//! often comes from memory it returned to the kernel, and faulting it back in (the
//! kernel zeroing a whole huge page) cost the replication thread more than all of its
//! other work (12% of a replica's CPU under `SET -P 16`, perf/RESULTS.md, repl3).
//!
//! Offsets are 0-based stream positions: byte `i` of the stream is Redis's offset
//! `i + 1` (`repl_backlog_first_byte_offset`, PSYNC's requested offset).

use std::collections::VecDeque;
use std::sync::Arc;

/// Block size: big enough that a send covers many commands, small enough that the
/// memory a trim frees comes back in useful steps.
pub const BLOCK: usize = 64 << 10;

/// Freed blocks kept for reuse: the steady state frees about one block per block
/// appended, so a few cover it; the rest go back to the allocator.
const SPARES: usize = 8;

pub struct Backlog {
    blocks: VecDeque<Arc<Vec<u8>>>,
    /// Emptied blocks (capacity `BLOCK`) waiting to be refilled.
    spares: Vec<Vec<u8>>,
    /// Stream offset of the first byte of the first block.
    start: u64,
    /// Stream offset after the last byte (= master_repl_offset).
    end: u64,
}

impl Backlog {
    /// An empty backlog whose history starts at stream offset `at`.
    pub fn new(at: u64) -> Backlog {
        Backlog { blocks: VecDeque::new(), spares: Vec::new(), start: at, end: at }
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    pub fn histlen(&self) -> u64 {
        self.end - self.start
    }

    /// Is stream offset `pos` (the next byte a replica needs) servable from here?
    pub fn has(&self, pos: u64) -> bool {
        self.start <= pos && pos <= self.end
    }

    pub fn append(&mut self, mut b: &[u8]) {
        self.end += b.len() as u64;
        while !b.is_empty() {
            let room = match self.blocks.back() {
                Some(last) if last.len() < BLOCK => BLOCK - last.len(),
                _ => {
                    let block = self.spares.pop().unwrap_or_else(|| Vec::with_capacity(BLOCK));
                    self.blocks.push_back(Arc::new(block));
                    BLOCK
                }
            };
            let n = room.min(b.len());
            // The growing block is never shared (see `sealed_block_at`), so this does
            // not clone; if it ever were, make_mut would copy rather than race.
            Arc::make_mut(self.blocks.back_mut().expect("pushed")).extend_from_slice(&b[..n]);
            b = &b[n..];
        }
    }

    /// The contiguous bytes from `pos` to the end of the block holding it (empty at
    /// the end of the stream or outside the backlog).
    pub fn chunk_at(&self, pos: u64) -> &[u8] {
        if pos < self.start || pos >= self.end {
            return &[];
        }
        // Every block but the last is full, so the block index is arithmetic.
        let rel = (pos - self.start) as usize;
        let (i, off) = (rel / BLOCK, rel % BLOCK);
        self.blocks.get(i).map(|b| &b[off..]).unwrap_or(&[])
    }

    /// The full block holding `pos` and `pos`'s index in it, for a zero-copy send of
    /// `chunk_at(pos)`; None for the last block while it still grows.
    pub fn sealed_block_at(&self, pos: u64) -> Option<(&Arc<Vec<u8>>, usize)> {
        if pos < self.start || pos >= self.end {
            return None;
        }
        let rel = (pos - self.start) as usize;
        let (i, off) = (rel / BLOCK, rel % BLOCK);
        self.blocks.get(i).filter(|b| b.len() == BLOCK).map(|b| (b, off))
    }

    /// Frees the blocks before both the window of `size` bytes and `needed` (the
    /// oldest replica send position).
    pub fn trim(&mut self, size: u64, needed: u64) {
        let keep_from = self.end.saturating_sub(size).min(needed);
        while self.blocks.len() > 1 && self.start + BLOCK as u64 <= keep_from {
            if let Some(block) = self.blocks.pop_front() {
                self.keep_spare(block);
            }
            self.start += BLOCK as u64;
        }
        if self.blocks.len() == 1 && self.end <= keep_from && self.start < self.end {
            // Everything is outside the window (size 0 cannot be set; defensive).
            self.blocks.clear();
            self.start = self.end;
        }
    }

    /// A block leaving the backlog: kept for reuse unless a zero-copy send still
    /// holds it (it is freed with the send's notification then) or spares abound.
    fn keep_spare(&mut self, block: Arc<Vec<u8>>) {
        if self.spares.len() < SPARES
            && let Ok(mut v) = Arc::try_unwrap(block)
        {
            v.clear();
            self.spares.push(v);
        }
    }

    /// Bytes held in memory (INFO, limits), spare blocks included.
    pub fn allocated(&self) -> u64 {
        (self.blocks.len() + self.spares.len()) as u64 * BLOCK as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(b: &Backlog, mut pos: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let c = b.chunk_at(pos);
            if c.is_empty() {
                return out;
            }
            out.extend_from_slice(c);
            pos += c.len() as u64;
        }
    }

    #[test]
    fn chunks_read_back_what_was_appended_across_blocks() {
        let mut b = Backlog::new(100);
        let data: Vec<u8> = (0..(3 * BLOCK + 123)).map(|i| (i % 251) as u8).collect();
        for piece in data.chunks(1000) {
            b.append(piece);
        }
        assert_eq!(b.end(), 100 + data.len() as u64);
        assert_eq!(read_all(&b, 100), data);
        assert_eq!(read_all(&b, 100 + 70_000), &data[70_000..]);
        assert!(b.has(100) && b.has(b.end()) && !b.has(99));
    }

    #[test]
    fn only_full_blocks_are_handed_out_and_a_shared_one_outlives_trim() {
        let mut b = Backlog::new(0);
        b.append(&vec![7u8; BLOCK + 10]);
        let (blk, off) = b.sealed_block_at(100).expect("the first block is full");
        assert_eq!((off, blk.len()), (100, BLOCK));
        assert!(b.sealed_block_at(BLOCK as u64 + 1).is_none(), "the growing block is never shared");
        let held = blk.clone();
        b.append(&vec![8u8; 2 * BLOCK]);
        b.trim(1, b.end());
        assert!(b.start() > 0);
        assert_eq!(held.len(), BLOCK);
        assert!(held.iter().all(|&c| c == 7));
    }

    #[test]
    fn trimmed_blocks_are_reused_unless_a_send_holds_them() {
        let mut b = Backlog::new(0);
        b.append(&vec![1u8; 3 * BLOCK]);
        let (held, _) = b.sealed_block_at(0).expect("full");
        let (held_ptr, held) = (held.as_ptr(), held.clone());
        let second = b.sealed_block_at(BLOCK as u64).expect("full").0.as_ptr();
        b.trim(1, b.end());
        // The block a send holds is not a spare; the other trimmed one is.
        assert_eq!(b.spares.len(), 1);
        assert_eq!(b.spares[0].as_ptr(), second);
        b.append(&vec![2u8; BLOCK]);
        assert!(b.spares.is_empty());
        assert_eq!(b.chunk_at(3 * BLOCK as u64 + 5).as_ptr(), second.wrapping_add(5));
        assert_ne!(b.chunk_at(3 * BLOCK as u64).as_ptr(), held_ptr);
        assert!(held.iter().all(|&c| c == 1));
        assert_eq!(b.chunk_at(3 * BLOCK as u64), &vec![2u8; BLOCK][..]);
    }

    #[test]
    fn trim_keeps_the_window_and_what_replicas_still_need() {
        let mut b = Backlog::new(0);
        b.append(&vec![1u8; 10 * BLOCK]);
        // A replica still at offset 0 pins everything.
        b.trim(BLOCK as u64, 0);
        assert_eq!(b.start(), 0);
        // Once it moved on, only the window (rounded to blocks) stays.
        b.trim(BLOCK as u64, b.end());
        assert_eq!(b.start(), 9 * BLOCK as u64);
        assert_eq!(b.histlen(), BLOCK as u64);
        assert!(b.has(9 * BLOCK as u64) && !b.has(0));
        // A replica in the middle keeps its blocks.
        let mut b = Backlog::new(0);
        b.append(&vec![1u8; 10 * BLOCK]);
        b.trim(BLOCK as u64, 4 * BLOCK as u64 + 5);
        assert_eq!(b.start(), 4 * BLOCK as u64);
    }
}
