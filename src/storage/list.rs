//! Lists: a quicklist-like deque of small contiguous nodes.
//!
//! Job: store a Redis list compactly and give the list commands the operations they
//! need (push/pop at both ends, index, replace, insert around a pivot, remove matches,
//! trim, iterate both ways) with Redis's costs: O(1) at the ends, O(n) in the middle.
//!
//! Layout, like Redis's quicklist: a `VecDeque` of nodes, each one contiguous byte
//! buffer holding several entries, as many as the list's [`ListFill`] admits (taken
//! from `list-max-listpack-size` when the list is created, as Redis's quicklist takes
//! its fill then: by default 8 KB of live bytes per node; an element bigger than the
//! limit gets a node of its own). An entry is
//!
//! ```text
//! [header varint][payload][backlen]
//! ```
//!
//! - header: LEB128 of `len << 1` for a byte string, or of `zigzag(v) << 1 | 1` for an
//!   integer (then there is no payload). Elements that are the canonical decimal text of
//!   an integer below 2^62 in magnitude are stored this way, as listpacks do, so a small
//!   number costs two bytes instead of its text plus overhead.
//! - backlen: the size of header + payload as LEB128 written back to front, so the entry
//!   before any position can be found by reading backwards (pops from the tail and
//!   reverse iteration need that).
//!
//! Each node keeps a gap before its live bytes (`head`): popping from the front just
//! advances it and pushing to the front fills it, so both ends cost O(1) amortized
//! instead of a memmove of the node.
//!
//! Compression (`list-compress-depth`, kept in the list's [`ListFill`] from its creation,
//! as Redis's quicklist keeps it): with depth d > 0 the d nodes at each end stay raw and
//! the nodes between are LZF-compressed, as Redis does, unless a node is smaller than
//! `MIN_COMPRESS_BYTES` or compression saves less than `MIN_COMPRESS_IMPROVE` bytes.
//! Pushes and pops at the ends touch only raw nodes; when one creates or removes a node,
//! only the node crossing the depth boundary is compressed or decompressed (O(1) for a
//! small depth). A change in the middle decompresses its node and compresses it again
//! afterwards. A read through `&self` (LINDEX, LRANGE, iteration) decompresses a node
//! into a copy cached on the node; [`ListValue::end_read`] drops those copies (Redis
//! recompresses a node after the access) and every write drops them first, so a copy
//! never outlives the bytes it was made from. Whole-list readers that need no borrowed
//! elements (snapshots, AOF rewrite, digests) use [`ListValue::visit`], which caches
//! nothing.
//!
//! Non-goals: RESP, command syntax, keys and expiry (see `cmd::list`).
//!
//! Depends on: std, `storage::limits` (ListFill);
//! a node's own operations and its compression are in `list_node`, the entry encoding
//! in `list_entry`.

use super::limits::ListFill;
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;

#[path = "list_entry.rs"]
mod entry;
#[path = "list_node.rs"]
mod node;
pub use entry::{Elem, Needle};
use entry::{decode, encoded_len, prev_start, write_entry};
use node::{MIN_COMPRESS_BYTES, Node, offset_in};

// ---- The list ---------------------------------------------------------------------------

/// A Redis list. Equality compares elements, not how they are split into nodes.
#[derive(Clone)]
pub struct ListValue {
    nodes: VecDeque<Node>,
    len: usize,
    /// How full a node may get and how many end nodes stay uncompressed, fixed when
    /// the list is made.
    fill: ListFill,
    /// Set when a read made a node's decompressed copy (see `Node::view`).
    read_copies: Cell<bool>,
}

impl PartialEq for ListValue {
    fn eq(&self, other: &ListValue) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for ListValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl ListValue {
    /// An empty list whose nodes grow as `fill` allows.
    pub fn new(fill: ListFill) -> ListValue {
        ListValue { nodes: VecDeque::new(), len: 0, fill, read_copies: Cell::new(false) }
    }

    /// A list of `items`, in order.
    pub fn from_items<I, B>(items: I, fill: ListFill) -> ListValue
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        let mut l = ListValue::new(fill);
        for it in items {
            l.push_back(it.as_ref());
        }
        l
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Redis 7.0 reports "quicklist" for every list, whatever its size.
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    /// Approximate heap bytes: node slots plus node buffers (with spare capacity;
    /// compressed nodes count their compressed size, plus any read copy).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.nodes.iter().map(Node::heap_bytes).sum::<usize>()
    }

    /// Number of compressed nodes (tests and benches).
    pub fn compressed_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_packed()).count()
    }

    /// Raw bytes of all nodes, as if none were compressed (DEBUG OBJECT's
    /// `ql_uncompressed_size`; shardis's entry encoding, not a listpack's).
    pub fn uncompressed_bytes(&self) -> usize {
        self.nodes.iter().map(Node::live).sum()
    }

    /// Drops the decompressed copies that reads made of compressed nodes: Redis
    /// recompresses a node after accessing it. Readers that hold `&mut` call it when
    /// done; every write calls it first.
    #[inline]
    pub fn end_read(&mut self) {
        if *self.read_copies.get_mut() {
            for n in &mut self.nodes {
                n.unpacked.take();
            }
            *self.read_copies.get_mut() = false;
        }
    }

    /// After the node count changed at an end: the `depth` nodes at each end raw, the
    /// nodes just past them compressed (Redis's `__quicklistCompress`). O(depth).
    #[inline]
    fn compress_ends(&mut self) {
        let d = usize::from(self.fill.depth);
        if d == 0 {
            return;
        }
        let n = self.nodes.len();
        for i in 0..d.min(n) {
            self.nodes[i].unpack();
            self.nodes[n - 1 - i].unpack();
        }
        if n > 2 * d {
            self.nodes[d].pack();
            self.nodes[n - 1 - d].pack();
        }
    }

    /// After a change in the middle: every node's compression as the depth says.
    fn compress_all(&mut self) {
        let d = usize::from(self.fill.depth);
        if d == 0 {
            return;
        }
        let n = self.nodes.len();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if i < d || i + d >= n {
                node.unpack();
            } else {
                node.pack();
            }
        }
    }

    /// Calls `f` with every element, head to tail, decompressing compressed nodes into
    /// a scratch buffer (no copy stays on the list, unlike `iter`).
    pub fn visit(&self, mut f: impl FnMut(Elem<'_>)) {
        let mut scratch = Vec::new();
        for n in &self.nodes {
            let data = n.view_into(&mut scratch);
            let mut pos = 0;
            while pos < data.len() {
                let (e, l) = decode(data, pos);
                f(e);
                pos += l;
            }
        }
    }

    /// Number of nodes (for tests, benches and DEBUG OBJECT's `ql_nodes`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node fill the list was made with (DEBUG OBJECT's `ql_listpack_max`).
    pub fn fill(&self) -> ListFill {
        self.fill
    }

    // The end nodes are raw whenever compression is on (depth >= 1), so pushes and pops
    // touch compression only when they add or remove a node.

    pub fn push_back(&mut self, b: &[u8]) {
        self.end_read();
        let e = Elem::classify(b);
        let sz = encoded_len(e);
        match self.nodes.back_mut() {
            Some(n) if self.fill.admits(n.count, n.live(), sz) => n.push_back(e, sz),
            _ => {
                self.nodes.push_back(Node::with_entry(e, sz));
                self.compress_ends();
            }
        }
        self.len += 1;
    }

    pub fn push_front(&mut self, b: &[u8]) {
        self.end_read();
        let e = Elem::classify(b);
        let sz = encoded_len(e);
        match self.nodes.front_mut() {
            Some(n) if self.fill.admits(n.count, n.live(), sz) => n.push_front(e, sz),
            _ => {
                self.nodes.push_front(Node::with_entry(e, sz));
                self.compress_ends();
            }
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        self.end_read();
        let n = self.nodes.front_mut()?;
        let (e, l) = decode(n.data(), 0);
        let v = e.to_vec();
        n.remove_rel(0, l, 1);
        if n.count == 0 {
            self.nodes.pop_front();
            self.compress_ends();
        }
        self.len -= 1;
        Some(v)
    }

    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        self.end_read();
        let n = self.nodes.back_mut()?;
        let data = n.data();
        let end = data.len();
        let start = prev_start(data, end);
        let v = decode(data, start).0.to_vec();
        n.remove_rel(start, end, 1);
        if n.count == 0 {
            self.nodes.pop_back();
            self.compress_ends();
        }
        self.len -= 1;
        Some(v)
    }

    /// The head element.
    pub fn first(&self) -> Option<Elem<'_>> {
        self.nodes.front().map(|n| decode(n.view(&self.read_copies), 0).0)
    }

    /// The tail element.
    pub fn last(&self) -> Option<Elem<'_>> {
        self.nodes.back().map(|n| {
            let data = n.view(&self.read_copies);
            decode(data, prev_start(data, data.len())).0
        })
    }

    /// The node holding element `index` (< len) and the element's place in it, found
    /// by walking node counts from the nearer end.
    fn locate(&self, index: usize) -> (usize, u32) {
        debug_assert!(index < self.len);
        if index < self.len / 2 {
            let mut i = index;
            for (ni, n) in self.nodes.iter().enumerate() {
                let c = n.count as usize;
                if i < c {
                    return (ni, i as u32);
                }
                i -= c;
            }
        } else {
            let mut from_end = self.len - 1 - index;
            for ni in (0..self.nodes.len()).rev() {
                let c = self.nodes[ni].count as usize;
                if from_end < c {
                    return (ni, (c - 1 - from_end) as u32);
                }
                from_end -= c;
            }
        }
        unreachable!("node counts add up to len")
    }

    /// Element `index` (0-based from the head), if in range.
    pub fn get(&self, index: usize) -> Option<Elem<'_>> {
        if index >= self.len {
            return None;
        }
        let (ni, k) = self.locate(index);
        let n = &self.nodes[ni];
        let data = n.view(&self.read_copies);
        Some(decode(data, offset_in(data, n.count, k)).0)
    }

    /// Replaces element `index` with `b`. Returns false if out of range.
    pub fn set(&mut self, index: usize, b: &[u8]) -> bool {
        if index >= self.len {
            return false;
        }
        self.end_read();
        let (ni, k) = self.locate(index);
        let e = Elem::classify(b);
        let sz = encoded_len(e);
        let n = &mut self.nodes[ni];
        n.unpack();
        let rel = n.offset_of(k);
        let old = decode(n.data(), rel).1;
        let at = n.head as usize + rel;
        let mut enc = vec![0u8; sz];
        write_entry(&mut enc, e);
        n.buf.splice(at..at + old, enc);
        self.settle(ni);
        self.compress_all();
        true
    }

    /// Inserts `b` so that it becomes element `index` (0..=len).
    pub fn insert(&mut self, index: usize, b: &[u8]) {
        if index == 0 {
            return self.push_front(b);
        }
        if index >= self.len {
            return self.push_back(b);
        }
        self.end_read();
        let (ni, k) = self.locate(index);
        let e = Elem::classify(b);
        let sz = encoded_len(e);
        let n = &mut self.nodes[ni];
        n.unpack();
        let rel = n.offset_of(k);
        n.insert_rel(rel, e, sz);
        self.len += 1;
        self.settle(ni);
        self.compress_all();
    }

    /// LINSERT: inserts `b` before (or `after`) the first element equal to `pivot`.
    /// Returns false, changing nothing, if there is no such element.
    pub fn insert_at_pivot(&mut self, pivot: &Needle, after: bool, b: &[u8]) -> bool {
        self.end_read();
        let mut scratch = Vec::new();
        let found = 'find: {
            for (ni, n) in self.nodes.iter().enumerate() {
                let data = n.view_into(&mut scratch);
                let mut pos = 0;
                while pos < data.len() {
                    let (e, l) = decode(data, pos);
                    if e.matches(pivot) {
                        break 'find Some((ni, if after { pos + l } else { pos }));
                    }
                    pos += l;
                }
            }
            None
        };
        let Some((ni, rel)) = found else { return false };
        let e = Elem::classify(b);
        let sz = encoded_len(e);
        let n = &mut self.nodes[ni];
        n.unpack();
        n.insert_rel(rel, e, sz);
        self.len += 1;
        self.settle(ni);
        self.compress_all();
        true
    }

    /// LREM: removes elements equal to `n`: the first `count` (count > 0), the last
    /// `-count` (count < 0) or all (0). Returns how many were removed.
    pub fn remove_matching(&mut self, n: &Needle, count: i64) -> usize {
        self.end_read();
        let from_tail = count < 0;
        let mut scratch = Vec::new();
        let mut remaining =
            if count == 0 { usize::MAX } else { usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX) };
        let mut removed = 0;
        let (mut lo, mut hi) = (usize::MAX, 0);
        let nn = self.nodes.len();
        for step in 0..nn {
            if remaining == 0 {
                break;
            }
            let ni = if from_tail { nn - 1 - step } else { step };
            let node = &mut self.nodes[ni];
            if node.is_packed() {
                // Decompress for good only a node that has something to remove.
                let data = node.view_into(&mut scratch);
                let mut pos = 0;
                let mut any = false;
                while pos < data.len() && !any {
                    let (e, l) = decode(data, pos);
                    any = e.matches(n);
                    pos += l;
                }
                if !any {
                    continue;
                }
                node.unpack();
            }
            let r = node.remove_matching(n, remaining, from_tail);
            if r > 0 {
                removed += r;
                remaining -= r;
                lo = lo.min(ni);
                hi = hi.max(ni);
            }
        }
        if removed > 0 {
            self.len -= removed;
            self.tidy(lo, hi);
            self.compress_all();
        }
        removed
    }

    /// Removes the first `n` elements (all of them if n >= len).
    pub fn drop_front(&mut self, mut n: usize) {
        self.end_read();
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let node = self.nodes.front_mut().expect("counts add up");
            let c = node.count as usize;
            if c <= n {
                self.nodes.pop_front();
                n -= c;
            } else {
                node.unpack();
                let end = node.offset_of(n as u32);
                node.remove_rel(0, end, n as u32);
                n = 0;
            }
        }
        self.compress_ends();
    }

    /// Removes the last `n` elements (all of them if n >= len).
    pub fn drop_back(&mut self, mut n: usize) {
        self.end_read();
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let node = self.nodes.back_mut().expect("counts add up");
            let c = node.count as usize;
            if c <= n {
                self.nodes.pop_back();
                n -= c;
            } else {
                node.unpack();
                let start = node.offset_of((c - n) as u32);
                let end = node.live();
                node.remove_rel(start, end, n as u32);
                n = 0;
            }
        }
        self.compress_ends();
    }

    /// Restores the node invariants around node `ni` after a change in the middle: no
    /// empty nodes, no node over the size limit unless it holds one element, and
    /// neighbours merged when they fit in one node (so deletes do not leave a trail of
    /// tiny nodes).
    fn settle(&mut self, ni: usize) {
        if self.nodes[ni].count == 0 {
            self.nodes.remove(ni);
            if ni > 0 {
                self.try_merge(ni - 1);
            }
            return;
        }
        if self.is_over(ni) {
            self.split(ni);
            return;
        }
        self.try_merge(ni);
        if ni > 0 {
            self.try_merge(ni - 1);
        }
    }

    /// `settle` for a run of changed nodes `lo..=hi`.
    fn tidy(&mut self, lo: usize, hi: usize) {
        let mut hi = hi;
        let mut i = lo;
        while i <= hi && i < self.nodes.len() {
            if self.nodes[i].count == 0 {
                self.nodes.remove(i);
                if hi == 0 {
                    break;
                }
                hi -= 1;
            } else {
                i += 1;
            }
        }
        // Merge pairs from the node before the range to the node after it.
        let mut i = lo.saturating_sub(1);
        let mut last = hi + 1;
        while i < last && i + 1 < self.nodes.len() {
            if self.try_merge(i) {
                last -= 1;
            } else {
                i += 1;
            }
        }
    }

    /// Whether node `ni` holds more than the fill allows (and can be split).
    fn is_over(&self, ni: usize) -> bool {
        let n = &self.nodes[ni];
        self.fill.is_over(n.count, n.live())
    }

    /// Appends node `i + 1` to node `i` if their entries fit in one node.
    fn try_merge(&mut self, i: usize) -> bool {
        if i + 1 >= self.nodes.len() {
            return false;
        }
        let (a, b) = (&self.nodes[i], &self.nodes[i + 1]);
        if self.fill.is_over(a.count + b.count, a.live() + b.live()) {
            return false;
        }
        let mut b = self.nodes.remove(i + 1).expect("checked index");
        b.unpack();
        let a = &mut self.nodes[i];
        a.unpack();
        a.failed_len = 0;
        a.reserve_back(b.live());
        a.buf.extend_from_slice(b.data());
        a.count += b.count;
        true
    }

    /// Splits an oversized node at the entry boundary nearest its middle (repeatedly,
    /// if a half is still oversized because of a big element).
    fn split(&mut self, ni: usize) {
        let node = &mut self.nodes[ni];
        let data = node.data();
        let half = data.len() / 2;
        let (mut pos, mut k) = (0, 0u32);
        while pos < half {
            pos += decode(data, pos).1;
            k += 1;
        }
        if k == node.count {
            // The last entry straddles the middle: it starts the right half alone.
            pos = prev_start(data, data.len());
            k -= 1;
        }
        let right = Node::raw(data[pos..].to_vec(), node.count - k);
        node.buf.truncate(node.head as usize + pos);
        node.count = k;
        self.nodes.insert(ni + 1, right);
        if self.is_over(ni + 1) {
            self.split(ni + 1);
        }
        if self.is_over(ni) {
            self.split(ni);
        }
    }

    /// Iterates every element, head to tail (`.rev()` for tail to head).
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Iterates the elements from `index` to the tail.
    pub fn iter_from(&self, index: usize) -> Iter<'_> {
        if index >= self.len {
            return Iter {
                nodes: &self.nodes,
                copies: &self.read_copies,
                fnode: 0,
                fdata: &[],
                fpos: 0,
                bnode: 0,
                bdata: &[],
                bend: 0,
                remaining: 0,
            };
        }
        let (fnode, fpos) = if index == 0 {
            (0, 0)
        } else {
            let (ni, k) = self.locate(index);
            let n = &self.nodes[ni];
            (ni, offset_in(n.view(&self.read_copies), n.count, k))
        };
        let bnode = self.nodes.len() - 1;
        let bdata = self.nodes[bnode].view(&self.read_copies);
        Iter {
            nodes: &self.nodes,
            copies: &self.read_copies,
            fnode,
            fdata: self.nodes[fnode].view(&self.read_copies),
            fpos,
            bnode,
            bdata,
            bend: bdata.len(),
            remaining: self.len - index,
        }
    }

    /// Checks the structural invariants (tests and debugging).
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut total = 0;
        let d = usize::from(self.fill.depth);
        let nn = self.nodes.len();
        let mut scratch = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.count == 0 {
                return Err(format!("node {i} is empty"));
            }
            if self.fill.is_over(n.count, n.live()) {
                return Err(format!("node {i} has {} live bytes and {} entries", n.live(), n.count));
            }
            let at_end = i < d || i + d >= nn;
            if n.is_packed() && (d == 0 || at_end) {
                return Err(format!("node {i} of {nn} is compressed at depth {d}"));
            }
            if !n.is_packed() && d > 0 && !at_end && n.live() >= MIN_COMPRESS_BYTES && n.failed_len as usize != n.live()
            {
                return Err(format!("interior node {i} of {nn} was never compressed"));
            }
            let data = n.view_into(&mut scratch);
            if data.len() != n.live() {
                return Err(format!("node {i}: {} bytes decompressed, {} expected", data.len(), n.live()));
            }
            let (mut pos, mut c) = (0, 0);
            while pos < data.len() {
                let (_, l) = decode(data, pos);
                if prev_start(data, pos + l) != pos {
                    return Err(format!("node {i}: backlen mismatch at {pos}"));
                }
                pos += l;
                c += 1;
            }
            if pos != data.len() || c != n.count {
                return Err(format!("node {i}: {c} entries decoded, count says {}", n.count));
            }
            total += c as usize;
        }
        if total != self.len {
            return Err(format!("nodes hold {total} entries, len says {}", self.len));
        }
        Ok(())
    }
}

/// Double-ended iterator over a list's elements. Keeps the current front and back
/// node's bytes at hand so stepping within a node touches no deque bookkeeping.
pub struct Iter<'a> {
    nodes: &'a VecDeque<Node>,
    copies: &'a Cell<bool>,
    fnode: usize,
    fdata: &'a [u8],
    fpos: usize,
    bnode: usize,
    bdata: &'a [u8],
    bend: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Elem<'a>;

    #[inline]
    fn next(&mut self) -> Option<Elem<'a>> {
        if self.remaining == 0 {
            return None;
        }
        while self.fpos >= self.fdata.len() {
            self.fnode += 1;
            self.fpos = 0;
            self.fdata = self.nodes[self.fnode].view(self.copies);
        }
        let (e, l) = decode(self.fdata, self.fpos);
        self.fpos += l;
        self.remaining -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<Elem<'a>> {
        if self.remaining == 0 {
            return None;
        }
        while self.bend == 0 {
            self.bnode -= 1;
            self.bdata = self.nodes[self.bnode].view(self.copies);
            self.bend = self.bdata.len();
        }
        let start = prev_start(self.bdata, self.bend);
        self.bend = start;
        self.remaining -= 1;
        Some(decode(self.bdata, start).0)
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
