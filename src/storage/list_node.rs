//! A list's node: one contiguous run of encoded entries, raw or LZF-compressed
//! (see `storage::list` for the layout and when nodes are compressed).
//!
//! Job: the operations on one node that the list is built from: append and prepend,
//! read, replace, insert and remove entries at an offset, split, merge, compress and
//! decompress, with the cached decompressed copy that reads through `&self` use.
//!
//! Depends on: std, `util::lzf`, the entry encoding (`list_entry`).

use super::entry::{Elem, Needle, decode, prev_start, write_entry};
use crate::util::lzf;
use std::cell::{Cell, OnceCell};

/// Redis's `MIN_COMPRESS_BYTES`: smaller nodes are never compressed.
pub(super) const MIN_COMPRESS_BYTES: usize = 48;
/// Redis's `MIN_COMPRESS_IMPROVE`: a node stays compressed only if that saves more than
/// this many bytes.
pub(super) const MIN_COMPRESS_IMPROVE: usize = 8;

/// Node buffers grow by doubling up to this size (the default fill's node size), so a
/// full default node carries little spare capacity; past it (larger fills) by half.
pub(super) const GROW_CAP: usize = 8192;

// ---- Nodes ------------------------------------------------------------------------------

/// One contiguous run of entries: live bytes are `buf[head..]`, or, when the node is
/// compressed (`packed_len != 0`), `buf` is the LZF stream of those bytes.
#[derive(Clone)]
pub(super) struct Node {
    pub(super) buf: Vec<u8>,
    pub(super) head: u32,
    pub(super) count: u32,
    /// 0 for a raw node; otherwise the raw size of the compressed bytes in `buf`.
    pub(super) packed_len: u32,
    /// The raw size at the last compression attempt that did not pay (0: none), so an
    /// incompressible node is not compressed again on every push until it changes size.
    pub(super) failed_len: u32,
    /// A compressed node's bytes, decompressed by a read through `&self`; dropped by
    /// `ListValue::drop_read_copies` (before any write and by `end_read`).
    pub(super) unpacked: OnceCell<Box<[u8]>>,
}

impl Node {
    pub(super) fn raw(buf: Vec<u8>, count: u32) -> Node {
        Node { buf, head: 0, count, packed_len: 0, failed_len: 0, unpacked: OnceCell::new() }
    }

    pub(super) fn with_entry(e: Elem, sz: usize) -> Node {
        let mut buf = vec![0u8; sz];
        write_entry(&mut buf, e);
        Node::raw(buf, 1)
    }

    #[inline]
    pub(super) fn is_packed(&self) -> bool {
        self.packed_len != 0
    }

    /// The live bytes of a raw node (every writer unpacks its node first).
    #[inline]
    pub(super) fn data(&self) -> &[u8] {
        debug_assert!(!self.is_packed(), "raw access to a compressed node");
        &self.buf[self.head as usize..]
    }

    /// The live bytes for a reader: a compressed node is decompressed once into its
    /// read copy, and `copies` records that some copy exists.
    #[inline]
    pub(super) fn view<'a>(&'a self, copies: &Cell<bool>) -> &'a [u8] {
        if !self.is_packed() {
            return &self.buf[self.head as usize..];
        }
        self.unpacked.get_or_init(|| {
            copies.set(true);
            self.decompressed().into_boxed_slice()
        })
    }

    /// The live bytes, decompressed into `scratch` if the node is compressed (no copy is
    /// kept on the node).
    #[inline]
    pub(super) fn view_into<'a>(&'a self, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        if !self.is_packed() {
            return &self.buf[self.head as usize..];
        }
        if let Some(c) = self.unpacked.get() {
            return c;
        }
        *scratch = self.decompressed();
        scratch
    }

    pub(super) fn decompressed(&self) -> Vec<u8> {
        lzf::decompress(&self.buf, self.packed_len as usize).expect("a list node's own LZF stream expands")
    }

    /// Raw size of the live bytes, compressed or not (what the fill limits count).
    #[inline]
    pub(super) fn live(&self) -> usize {
        if self.is_packed() { self.packed_len as usize } else { self.buf.len() - self.head as usize }
    }

    /// Makes the node raw (for a write or because it entered the uncompressed ends).
    #[inline]
    pub(super) fn unpack(&mut self) {
        if self.is_packed() {
            self.buf = match self.unpacked.take() {
                Some(c) => c.into_vec(),
                None => self.decompressed(),
            };
            self.head = 0;
            self.packed_len = 0;
        }
    }

    /// Compresses the node if that pays as Redis's `__quicklistCompressNode` requires:
    /// at least `MIN_COMPRESS_BYTES` raw bytes, and a result more than
    /// `MIN_COMPRESS_IMPROVE` bytes smaller.
    #[inline]
    pub(super) fn pack(&mut self) {
        let live = self.live();
        if self.is_packed() || live < MIN_COMPRESS_BYTES || self.failed_len as usize == live {
            return;
        }
        match lzf::compress(self.data(), live - MIN_COMPRESS_IMPROVE - 1) {
            Some(c) => {
                self.buf = c.into_boxed_slice().into_vec();
                self.head = 0;
                self.packed_len = live as u32;
                self.failed_len = 0;
            }
            None => self.failed_len = live as u32,
        }
    }

    /// Heap bytes: the buffer (with spare capacity) and any read copy.
    pub(super) fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.unpacked.get().map_or(0, |c| c.len())
    }

    /// Moves the live bytes to the start of the buffer, dropping the front gap.
    pub(super) fn compact(&mut self) {
        let head = self.head as usize;
        if head > 0 {
            self.buf.copy_within(head.., 0);
            self.buf.truncate(self.buf.len() - head);
            self.head = 0;
        }
    }

    /// Makes room for `sz` more bytes at the back. Growth doubles like a Vec but stops
    /// at `GROW_CAP`, so a full default node does not carry up to 8 KB of spare
    /// capacity; larger nodes (fills -3..-5) grow by half.
    pub(super) fn reserve_back(&mut self, sz: usize) {
        if self.buf.len() + sz <= self.buf.capacity() {
            return;
        }
        self.compact();
        let need = self.buf.len() + sz;
        let cap = self.buf.capacity();
        if need > cap {
            let target =
                if need <= GROW_CAP { need.max((cap * 2).min(GROW_CAP)).max(16) } else { need.max(cap + cap / 2) };
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// Makes the front gap at least `sz` bytes, growing it geometrically (up to the node
    /// size) so repeated front pushes copy each byte O(1) times.
    pub(super) fn reserve_front(&mut self, sz: usize) {
        if self.head as usize >= sz {
            return;
        }
        let live = self.live();
        let gap =
            sz.max(live.max(16).min(GROW_CAP.saturating_sub(live))).max(if live >= GROW_CAP { live / 2 } else { 0 });
        let mut nb = Vec::with_capacity(gap + live);
        nb.resize(gap, 0);
        nb.extend_from_slice(self.data());
        self.buf = nb;
        self.head = gap as u32;
    }

    pub(super) fn push_back(&mut self, e: Elem, sz: usize) {
        self.reserve_back(sz);
        let old = self.buf.len();
        self.buf.resize(old + sz, 0);
        write_entry(&mut self.buf[old..], e);
        self.count += 1;
    }

    pub(super) fn push_front(&mut self, e: Elem, sz: usize) {
        self.reserve_front(sz);
        let at = self.head as usize - sz;
        write_entry(&mut self.buf[at..at + sz], e);
        self.head = at as u32;
        self.count += 1;
    }

    /// Inserts an entry at live offset `rel` (an entry boundary).
    pub(super) fn insert_rel(&mut self, rel: usize, e: Elem, sz: usize) {
        if rel == 0 {
            return self.push_front(e, sz);
        }
        self.reserve_back(sz);
        let at = self.head as usize + rel;
        let old = self.buf.len();
        self.buf.resize(old + sz, 0);
        self.buf.copy_within(at..old, at + sz);
        write_entry(&mut self.buf[at..at + sz], e);
        self.count += 1;
    }

    /// Removes the `n` entries that occupy live bytes `start..end`.
    pub(super) fn remove_rel(&mut self, start: usize, end: usize, n: u32) {
        let head = self.head as usize;
        if start == 0 {
            self.head = (head + end) as u32;
        } else if head + end == self.buf.len() {
            self.buf.truncate(head + start);
        } else {
            self.buf.drain(head + start..head + end);
        }
        self.count -= n;
        if self.count == 0 {
            self.buf = Vec::new();
            self.head = 0;
        }
    }

    /// Live offset of entry `k` (k == count gives the end) of a raw node.
    pub(super) fn offset_of(&self, k: u32) -> usize {
        offset_in(self.data(), self.count, k)
    }

    /// Removes up to `limit` entries matching `n`: the first ones, or with `from_tail`
    /// the last ones. Compacts in place; returns how many went.
    pub(super) fn remove_matching(&mut self, n: &Needle, limit: usize, from_tail: bool) -> usize {
        let head = self.head as usize;
        let end = self.buf.len();
        let skip = if from_tail {
            let mut m = 0;
            let mut p = head;
            while p < end {
                let (e, l) = decode(&self.buf, p);
                m += usize::from(e.matches(n));
                p += l;
            }
            m.saturating_sub(limit)
        } else {
            0
        };
        let (mut r, mut w, mut seen, mut removed) = (head, head, 0usize, 0usize);
        while r < end {
            let (is, l) = {
                let (e, l) = decode(&self.buf, r);
                (e.matches(n), l)
            };
            let drop =
                is && {
                    seen += 1;
                    seen > skip
                } && removed < limit;
            if drop {
                removed += 1;
            } else {
                if w != r {
                    self.buf.copy_within(r..r + l, w);
                }
                w += l;
            }
            r += l;
        }
        if removed > 0 {
            self.buf.truncate(w);
            self.count -= removed as u32;
        }
        removed
    }
}

/// Live offset of entry `k` (k == count gives the end) in the `count` entries of `data`,
/// walking from the nearer end.
pub(super) fn offset_in(data: &[u8], count: u32, k: u32) -> usize {
    if k <= count / 2 {
        let mut pos = 0;
        for _ in 0..k {
            pos += decode(data, pos).1;
        }
        pos
    } else {
        let mut pos = data.len();
        for _ in k..count {
            pos = prev_start(data, pos);
        }
        pos
    }
}
