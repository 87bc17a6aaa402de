//! Argument storage for large requests, which never copies when it grows.
//!
//! Job: hold the complete arguments of a request too large to keep in the read
//! buffer, so the read buffer can drop them and stay small. Redis does the same:
//! each parsed argument of a multibulk request moves out of its query buffer into
//! `argv`, and the query buffer keeps only the unparsed tail.
//! Non-goals: parsing (see `parse`), arguments of ordinary requests (they stay
//! ranges into the read buffer, with no copy at all).
//! Dependencies: `crate::io::pages` (chunks kept out of huge pages).
//!
//! ## Why chunks of records
//!
//! A request of a million arguments kept in one growing buffer (the read buffer,
//! or a `Vec` of ranges) is copied at every doubling into fresh pages the kernel
//! must zero first; past the CPU caches that made a 256 MiB request cost 2.2x
//! per MiB what a 1 MiB one does. Here arguments are appended to chunks (64 KiB,
//! doubling up to `CHUNK_MAX`) that are never reallocated: a full chunk is left
//! as it is and a new one started. Fresh memory is still most of what such a
//! request costs, so each argument takes as few bytes as possible: a record of a
//! one-to-three-byte length header and the bytes (6 bytes for a 5-byte
//! argument; a `u32` index beside the bytes took 9). Chunks from 1 MiB on are
//! kept out of transparent huge pages (`io::pages`): zeroing them 2 MiB at a
//! time was the cost that grew with the request. An argument of `BIG_ARG` bytes
//! or more gets an allocation of its own, of its exact size, as Redis gives big
//! bulk arguments their own buffer; its record only marks the place.
//!
//! Records have no index, so reading argument `i` walks the records from the
//! last one read (commands read their arguments in order: one step each) or from
//! a mark kept every `MARK_EVERY` arguments (at most that many steps).
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

/// Bytes of the first chunk; each next one is twice as large, up to `CHUNK_MAX`.
const CHUNK_MIN: usize = 64 << 10;
const CHUNK_MAX: usize = 1 << 20;
/// Arguments at least this long get their own allocation (Redis's
/// `PROTO_MBULK_BIG_ARG`).
pub const BIG_ARG: usize = 32 << 10;
/// A mark (where an argument's record is) every this many arguments.
const MARK_BITS: u32 = 7;
const MARK_EVERY: usize = 1 << MARK_BITS;

/// Where a record starts: chunk number and offset in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct At {
    chunk: u32,
    off: u32,
}

/// The arguments moved out of the read buffer, in order (see the module docs).
///
/// A record is a header, LEB128 of `len << 1 | big` (one byte up to 63 bytes,
/// three at most since small arguments are under `BIG_ARG`), then `len` bytes;
/// a big argument's record has no bytes and its `big` bit set, and its bytes are
/// in `big` (few, found by binary search). A record never spans two chunks: a
/// reader at the end of a chunk's bytes goes on at the start of the next one.
#[derive(Debug, Default)]
pub struct ArgStore {
    chunks: Vec<Vec<u8>>,
    /// Where the records of arguments 0, `MARK_EVERY`, 2 x `MARK_EVERY`, ... start.
    marks: Vec<At>,
    /// Arguments with their own allocation: (argument number, bytes), ascending.
    big: Vec<(usize, Vec<u8>)>,
    len: usize,
    /// Bytes held: chunk and mark capacities and big arguments (memory limits).
    bytes: usize,
    /// The arguments' own bytes (CLIENT LIST `argv-mem`, Redis's `argv_len_sum`).
    arg_bytes: usize,
    /// An argument a command asked to keep as a value (see the module docs).
    lent: Cell<Option<Lent>>,
    /// The argument after the last one read, and where its record starts.
    cursor: Cell<(usize, At)>,
}

/// A big argument lent to a command: the value argument, the key it was stored
/// under (an argument too) and the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lent {
    pub value: usize,
    pub key: usize,
    pub db: usize,
}

/// A record's header: `len << 1 | big` (`h`). Returns the header's bytes and length.
#[inline]
fn encode_header(h: u32) -> ([u8; 3], usize) {
    if h < 0x80 {
        return ([h as u8, 0, 0], 1);
    }
    if h < 0x4000 {
        return ([(h as u8) | 0x80, (h >> 7) as u8, 0], 2);
    }
    ([(h as u8) | 0x80, ((h >> 7) as u8) | 0x80, (h >> 14) as u8], 3)
}

/// The header at the start of `rec`: (`len << 1 | big`, header length).
#[inline]
fn decode_header(rec: &[u8]) -> (usize, usize) {
    let b0 = rec[0] as usize;
    if b0 < 0x80 {
        return (b0, 1);
    }
    let b1 = rec[1] as usize;
    if b1 < 0x80 {
        return ((b0 & 0x7f) | b1 << 7, 2);
    }
    ((b0 & 0x7f) | (b1 & 0x7f) << 7 | (rec[2] as usize) << 14, 3)
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

    /// Appends `arg` as a big argument, keeping its allocation (no copy).
    pub fn push_owned(&mut self, arg: Vec<u8>) {
        self.bytes += arg.capacity();
        self.arg_bytes += arg.len();
        self.big.push((self.len, arg));
        self.push_record(1, &[]);
    }

    /// Appends a copy of `arg`.
    pub fn push(&mut self, arg: &[u8]) {
        let n = arg.len();
        if n >= BIG_ARG {
            self.arg_bytes += n;
            self.bytes += n;
            self.big.push((self.len, arg.to_vec()));
            self.push_record(1, &[]);
        } else {
            self.arg_bytes += n;
            self.push_record((n as u32) << 1, arg);
        }
    }

    /// Appends a record of header `h` and `bytes`, in a new chunk if it may not
    /// fit in the last one.
    #[inline]
    fn push_record(&mut self, h: u32, bytes: &[u8]) {
        // Room for the longest header: a reader finds the end of a chunk's records
        // by its length, whatever rule decided to start the next one.
        if self.chunks.last().is_none_or(|c| c.capacity() - c.len() < 3 + bytes.len()) {
            self.start_chunk();
        }
        let chunk = self.chunks.len() - 1;
        if self.len & (MARK_EVERY - 1) == 0 {
            self.marks.push(At { chunk: chunk as u32, off: self.chunks[chunk].len() as u32 });
            self.bytes += std::mem::size_of::<At>();
        }
        let c = &mut self.chunks[chunk];
        if h < 0x80 {
            c.push(h as u8);
        } else {
            let (head, head_len) = encode_header(h);
            c.extend_from_slice(&head[..head_len]);
        }
        c.extend_from_slice(bytes);
        self.len += 1;
    }

    #[cold]
    fn start_chunk(&mut self) {
        let size = self.chunks.last().map_or(CHUNK_MIN, |c| (c.capacity() * 2).min(CHUNK_MAX));
        let mut chunk = Vec::with_capacity(size);
        crate::io::pages::avoid_huge_pages(&mut chunk);
        self.bytes += chunk.capacity();
        self.chunks.push(chunk);
    }

    /// Where the record of argument `i` (`i < len()`) starts, when it is not the
    /// one after the last read: from the last read or the closest mark before it.
    #[inline(never)]
    fn locate(&self, i: usize) -> At {
        let (mut at_arg, mut at) = self.cursor.get();
        if i < at_arg || i - at_arg >= MARK_EVERY {
            at_arg = i & !(MARK_EVERY - 1);
            at = self.marks[i >> MARK_BITS];
        }
        while at_arg < i {
            let (chunk, off) = self.normalize(at);
            let (h, head_len) = decode_header(&self.chunks[chunk][off..]);
            let skip = head_len + if h & 1 == 0 { h >> 1 } else { 0 };
            at = At { chunk: chunk as u32, off: (off + skip) as u32 };
            at_arg += 1;
        }
        at
    }

    /// A position at the end of a chunk's records is the start of the next chunk.
    #[inline(always)]
    fn normalize(&self, at: At) -> (usize, usize) {
        let (chunk, off) = (at.chunk as usize, at.off as usize);
        if off == self.chunks[chunk].len() { (chunk + 1, 0) } else { (chunk, off) }
    }

    /// Is argument `i` one with its own allocation?
    fn is_big(&self, i: usize) -> bool {
        if i >= self.len {
            return false;
        }
        let (chunk, off) = self.normalize(self.locate(i));
        decode_header(&self.chunks[chunk][off..]).0 & 1 != 0
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

    /// Argument `i` (`i < len()`).
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let (next, at) = self.cursor.get();
        let at = if next == i { at } else { self.locate(i) };
        let (chunk, off) = self.normalize(at);
        let c = &self.chunks[chunk];
        let b0 = c[off] as usize;
        // The common case: a small argument under 64 bytes, a one-byte header.
        let (h, head_len) = if b0 < 0x80 { (b0, 1) } else { decode_header(&c[off..]) };
        let from = off + head_len;
        if h & 1 != 0 {
            return self.get_big(i, chunk, from);
        }
        let to = from + (h >> 1);
        self.cursor.set((i + 1, At { chunk: chunk as u32, off: to as u32 }));
        &c[from..to]
    }

    #[cold]
    fn get_big(&self, i: usize, chunk: usize, after: usize) -> &[u8] {
        self.cursor.set((i + 1, At { chunk: chunk as u32, off: after as u32 }));
        let at = self.big.binary_search_by_key(&i, |b| b.0).expect("a big argument");
        &self.big[at].1
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
                4 => CHUNK_MIN - BIG_ARG + 1 + i % 3,
                5 if i % 5 == 0 => 64 + i % 20_000,
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
        // Out of order: backwards, strided, and random jumps (from marks or the cursor).
        for (i, w) in want.iter().enumerate().rev() {
            assert_eq!(s.get(i), &w[..], "argument {i} backwards");
        }
        let mut x = 12345usize;
        for _ in 0..50_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let i = (x >> 33) % want.len();
            assert_eq!(s.get(i), &want[i][..], "argument {i} at random");
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

    /// Fresh memory is what a big request costs: a 5-byte argument takes 6 bytes
    /// (its header and itself) and a share of the marks, with chunks filled up.
    #[test]
    fn small_arguments_take_one_byte_more_than_themselves() {
        let mut s = ArgStore::new();
        let n = 1_000_000;
        for i in 0..n {
            s.push(format!("{:05}", i % 100_000).as_bytes());
        }
        assert_eq!(s.arg_bytes(), 5 * n);
        assert!(s.memory() < 6 * n + n / 10 + CHUNK_MAX, "{} bytes for {n} arguments", s.memory());
        assert_eq!(s.get(n - 1), b"99999");
        // Headers of every length come back (1, 2 and 3 bytes).
        for len in [0, 1, 62, 63, 64, 127, 128, 8191, 8192, 8193, BIG_ARG - 1] {
            let arg = vec![b'x'; len];
            s.push(&arg);
            assert_eq!(s.get(s.len() - 1), &arg[..], "length {len}");
        }
    }
}
