//! Argument storage for large requests, which never copies when it grows.
//!
//! Job: hold the complete arguments of a request too large to keep in the read
//! buffer, so the read buffer can drop them and stay small. Redis does the same:
//! each parsed argument of a multibulk request moves out of its query buffer into
//! `argv`, and the query buffer keeps only the unparsed tail.
//! Non-goals: parsing (see `parse`), arguments of ordinary requests (they stay
//! ranges into the read buffer, with no copy at all).
//!
//! ## Why chunks
//!
//! A request of a million arguments kept in one growing buffer (the read buffer,
//! or a `Vec` of ranges) is copied at every doubling into fresh pages the kernel
//! must zero first; past the CPU caches that made a 256 MiB request cost 2.2x
//! per MiB what a 1 MiB one does. Here small arguments are appended to chunks of
//! `CHUNK` bytes and the index to pages of `PAGE` entries; a full chunk or page is
//! never reallocated, a new one is started. An argument of `BIG_ARG` bytes or more
//! gets an allocation of its own, of its exact size, as Redis gives big bulk
//! arguments their own buffer. So every byte is copied once, into memory touched
//! once.
//!
//! ## Big arguments without a copy
//!
//! A big argument that arrived alone at the start of the read buffer (the buffer
//! grew to its exact size once its length was known) is not copied at all: the
//! connection hands the buffer itself over ([`ArgStore::push_owned`]), as Redis
//! turns such a query buffer into the argument object. A command that keeps an
//! argument as a value (SET) may then *lend* it ([`ArgStore::lend`]): it stores a
//! placeholder, and the connection moves the buffer into the value once the
//! command and everything that reads its arguments after it (the log, MONITOR,
//! the slowlog) are done ([`ArgStore::take_lent`]). The mark is a `Cell` of plain
//! numbers: the arguments stay readable and unchanged until then.

use std::cell::Cell;

/// Bytes per chunk of small arguments.
const CHUNK: usize = 64 << 10;
/// Arguments at least this long get their own allocation (Redis's
/// `PROTO_MBULK_BIG_ARG`).
pub const BIG_ARG: usize = 32 << 10;
/// Index entries per page (a power of two: `get` splits the index with a shift).
const PAGE_BITS: u32 = 12;
const PAGE: usize = 1 << PAGE_BITS;
/// Marks an index entry whose argument is in `big`.
const BIG_FLAG: u32 = 1 << 31;

/// The arguments moved out of the read buffer, in order (see the module docs).
///
/// The index is one `u32` per argument, since fresh memory is most of what a big
/// request costs: the end of the argument in the *small space*, the chunks laid
/// end to end (chunk `c` covers `c * CHUNK ..`). An argument starts where the one
/// before it ended, unless it did not fit in that chunk: then it starts at the
/// next chunk, the one holding its last byte. A big argument's entry is
/// `BIG_FLAG` with the small space's end at that point, and its bytes are in
/// `big` (few, found by binary search). Past 2 GiB of small arguments (the
/// offsets' range), the rest go to `big` too.
#[derive(Debug, Default)]
pub struct ArgStore {
    chunks: Vec<Vec<u8>>,
    pages: Vec<Vec<u32>>,
    /// Arguments with their own allocation: (argument number, bytes), ascending.
    big: Vec<(usize, Vec<u8>)>,
    len: usize,
    /// Bytes held: chunk and page capacities and big arguments (memory limits).
    bytes: usize,
    /// The arguments' own bytes (CLIENT LIST `argv-mem`, Redis's `argv_len_sum`).
    arg_bytes: usize,
    /// An argument a command asked to keep as a value (see the module docs).
    lent: Cell<Option<Lent>>,
}

/// A big argument lent to a command: the value argument, the key it was stored
/// under (an argument too) and the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lent {
    pub value: usize,
    pub key: usize,
    pub db: usize,
}

impl ArgStore {
    pub fn new() -> ArgStore {
        ArgStore::default()
    }

    /// Number of arguments held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Memory held, in bytes.
    pub fn memory(&self) -> usize {
        self.bytes
    }

    /// Total length of the arguments held.
    pub fn arg_bytes(&self) -> usize {
        self.arg_bytes
    }

    /// The end of the small space so far.
    fn small_end(&self) -> usize {
        self.chunks.last().map_or(0, |c| (self.chunks.len() - 1) * CHUNK + c.len())
    }

    /// Appends `arg` as a big argument, keeping its allocation (no copy).
    pub fn push_owned(&mut self, arg: Vec<u8>) {
        self.bytes += arg.capacity();
        self.arg_bytes += arg.len();
        let end = self.small_end();
        self.big.push((self.len, arg));
        self.push_entry(BIG_FLAG | end as u32);
    }

    /// Is argument `i` one with its own allocation?
    fn is_big(&self, i: usize) -> bool {
        i < self.len && self.entry(i) & BIG_FLAG != 0
    }

    /// Marks big argument `value` as kept by the running command under argument
    /// `key` in database `db` (see the module docs). False (nothing marked) if it
    /// is not a big argument, or another one is lent already: the command copies.
    pub fn lend(&self, value: usize, key: usize, db: usize) -> bool {
        if !self.is_big(value) || key >= self.len || self.lent.get().is_some() {
            return false;
        }
        self.lent.set(Some(Lent { value, key, db }));
        true
    }

    /// Did the running command lend an argument?
    #[inline]
    pub fn has_lent(&self) -> bool {
        self.lent.get().is_some()
    }

    /// The lent argument's bytes, moved out (the argument reads as empty after),
    /// with where they go. None if nothing was lent.
    pub fn take_lent(&mut self) -> Option<(Lent, Vec<u8>)> {
        let lent = self.lent.take()?;
        let at = self.big.binary_search_by_key(&lent.value, |b| b.0).expect("a lent argument is big");
        let bytes = std::mem::take(&mut self.big[at].1);
        self.bytes -= bytes.capacity();
        self.arg_bytes -= bytes.len();
        Some((lent, bytes))
    }

    /// Appends a copy of `arg`.
    pub fn push(&mut self, arg: &[u8]) {
        let n = arg.len();
        self.arg_bytes += n;
        let mut end = self.small_end();
        let entry = if n >= BIG_ARG || end + n >= BIG_FLAG as usize {
            self.bytes += n;
            self.big.push((self.len, arg.to_vec()));
            BIG_FLAG | end as u32
        } else {
            if n > 0 {
                if self.chunks.last().is_none_or(|c| CHUNK - c.len() < n) {
                    self.chunks.push(Vec::with_capacity(CHUNK));
                    self.bytes += CHUNK;
                    end = (self.chunks.len() - 1) * CHUNK;
                }
                self.chunks.last_mut().expect("a chunk with room").extend_from_slice(arg);
            }
            (end + n) as u32
        };
        self.push_entry(entry);
    }

    fn push_entry(&mut self, entry: u32) {
        if self.len & (PAGE - 1) == 0 {
            self.pages.push(Vec::with_capacity(PAGE));
            self.bytes += PAGE * std::mem::size_of::<u32>();
        }
        self.pages.last_mut().expect("a page was started above").push(entry);
        self.len += 1;
    }

    #[inline]
    fn entry(&self, i: usize) -> u32 {
        self.pages[i >> PAGE_BITS][i & (PAGE - 1)]
    }

    /// Argument `i` (`i < len()`).
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let e = self.entry(i);
        if e & BIG_FLAG != 0 {
            let at = self.big.binary_search_by_key(&i, |b| b.0).expect("a big argument");
            return &self.big[at].1;
        }
        let start = if i == 0 { 0 } else { (self.entry(i - 1) & !BIG_FLAG) as usize };
        let end = e as usize;
        if end == start {
            return &[];
        }
        let chunk = (end - 1) / CHUNK;
        let base = chunk * CHUNK;
        &self.chunks[chunk][start.max(base) - base..end - base]
    }

    /// Drops every argument and frees their memory (a large request is rare: its
    /// memory is not worth keeping for the next one).
    #[inline]
    pub fn clear(&mut self) {
        // Called after every request: the common, empty case stays a compare.
        if self.len != 0 || !self.chunks.is_empty() {
            self.release();
        }
    }

    #[cold]
    fn release(&mut self) {
        *self = ArgStore::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_big_arguments_come_back_in_order() {
        let mut s = ArgStore::new();
        let mut want: Vec<Vec<u8>> = Vec::new();
        for i in 0..20_000usize {
            let len = match i % 7 {
                0 => 0,
                1 if i % 3 == 0 => BIG_ARG,
                2 if i % 1000 == 2 => 3 * BIG_ARG + 5,
                3 => BIG_ARG - 1,
                4 => CHUNK - BIG_ARG + 1 + i % 3,
                _ => i % 50,
            };
            let arg: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            s.push(&arg);
            want.push(arg);
        }
        assert_eq!(s.len(), want.len());
        for (i, w) in want.iter().enumerate() {
            assert_eq!(s.get(i), &w[..], "argument {i}");
        }
        assert!(s.memory() >= want.iter().map(Vec::len).sum::<usize>());
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.memory(), 0);
    }

    /// An owned argument keeps its allocation; lent, it moves out whole, once.
    #[test]
    fn owned_arguments_are_lent_without_a_copy() {
        let mut s = ArgStore::new();
        s.push(b"set");
        s.push(b"k");
        let value = vec![7u8; BIG_ARG * 2];
        let at = value.as_ptr();
        s.push_owned(value);
        s.push(b"ex");
        assert_eq!(s.get(2).as_ptr(), at);
        assert_eq!(s.get(3), b"ex");
        assert!(s.memory() >= BIG_ARG * 2);
        assert!(!s.lend(0, 1, 0), "a small argument is not lent");
        let held = s.memory();
        assert!(s.lend(2, 1, 3));
        assert!(!s.lend(2, 1, 3), "lent once");
        assert_eq!(s.get(2).len(), BIG_ARG * 2, "readable until taken");
        let (lent, bytes) = s.take_lent().expect("lent");
        assert_eq!(lent, Lent { value: 2, key: 1, db: 3 });
        assert_eq!(bytes.as_ptr(), at);
        assert!(s.get(2).is_empty());
        assert!(s.take_lent().is_none());
        assert_eq!(s.memory(), held - BIG_ARG * 2, "the value's bytes left with it");
        s.clear();
        assert_eq!(s.memory(), 0);
    }

    /// Chunks are filled, never reallocated: the first argument stays where it was
    /// put while many more are added.
    #[test]
    fn growing_never_moves_stored_bytes() {
        let mut s = ArgStore::new();
        s.push(b"first");
        let at = s.get(0).as_ptr();
        for i in 0..100_000u32 {
            s.push(&i.to_le_bytes());
        }
        assert_eq!(s.get(0).as_ptr(), at);
        assert_eq!(s.get(0), b"first");
        assert_eq!(s.get(100_000), &99_999u32.to_le_bytes());
    }
}
