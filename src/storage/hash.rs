//! Hash values (`HSET` and friends), plus the compact building blocks the set type
//! shares: `Listpack` and the `XorShift` sampler.
//!
//! Job: store field/value pairs the way Redis 7.0 does, observably: a small hash is a
//! *listpack*, one contiguous buffer of length-prefixed entries (field, value, field,
//! value ...); past `hash-max-listpack-entries` pairs or once a field or value is longer
//! than `hash-max-listpack-value` bytes (the caller's [`EncodingLimits`], checked on each
//! write) it becomes a *hashtable*, and it never goes back (Redis does not convert hashes back either). The listpack costs two bytes of
//! overhead per short entry and one allocation per hash, which is what makes millions
//! of small hashes cheap; the table gives O(1) access and O(1) random picks for large
//! ones.
//!
//! The table is an `IndexMap` rather than a plain hash map for the same reasons as the
//! keyspace (see `storage::db`): uniform random fields by index (HRANDFIELD), and a
//! downward index cursor for HSCAN that never misses a field present throughout,
//! because `swap_remove` only ever moves an entry to a lower index.
//!
//! Non-goals: RESP, command syntax, error texts (the `cmd::hash` family owns those);
//! integer-encoded listpack entries (values are kept as the bytes the client sent).
//!
//! Depends on: std, `indexmap`, `foldhash`.

use super::limits::EncodingLimits;
use super::small::SmallBytes;
use indexmap::IndexMap;
use std::fmt;

type Hasher = foldhash::fast::RandomState;

/// A (field, value) pair borrowed from a hash.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// The large encoding of a hash.
pub type HashTable = IndexMap<SmallBytes, SmallBytes, Hasher>;

// ---- Listpack ----------------------------------------------------------------------------

/// A compact sequence of byte strings in one buffer: a 4-byte little-endian entry count,
/// then for each entry its length as a LEB128 varint followed by its bytes.
///
/// An empty listpack owns no allocation at all. Lookups are linear scans, which is what
/// Redis does too and is fast at the sizes listpacks are kept to (a few hundred entries
/// at most, all in a handful of cache lines). Entries are addressed by byte offset so a
/// caller that found an entry can replace or remove it without a second scan.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Listpack {
    buf: Vec<u8>,
}

const LP_HEADER: usize = 4;

/// Appends `n` as a LEB128 varint.
fn put_varint(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

/// Bytes `put_varint` writes for `n`.
fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

impl Listpack {
    pub fn new() -> Listpack {
        Listpack { buf: Vec::new() }
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        if self.buf.is_empty() {
            0
        } else {
            u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn set_len(&mut self, n: usize) {
        if n == 0 {
            // Drop the allocation with the last entry: an empty collection is about to
            // be deleted or refilled, and either way it should not pin memory.
            self.buf = Vec::new();
            return;
        }
        let n = u32::try_from(n).expect("listpacks are kept far below 2^32 entries");
        self.buf[..LP_HEADER].copy_from_slice(&n.to_le_bytes());
    }

    /// Offset of the first entry (also the end offset when there are none).
    #[inline]
    pub fn first(&self) -> usize {
        LP_HEADER.min(self.buf.len())
    }

    /// Decodes the length prefix at `off`: (entry length, offset of its bytes).
    #[inline(always)]
    fn len_at(buf: &[u8], off: usize) -> (usize, usize) {
        let b = buf[off];
        // Listpacks only hold short entries, so one length byte is the rule.
        if b < 0x80 {
            return (b as usize, off + 1);
        }
        let mut len = (b & 0x7f) as usize;
        let mut shift = 7;
        let mut p = off + 1;
        loop {
            let b = buf[p];
            p += 1;
            len |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                return (len, p);
            }
            shift += 7;
        }
    }

    /// The entry at `off` and the offset of the next one, or None at the end.
    #[inline]
    pub fn entry_at(&self, off: usize) -> Option<(&[u8], usize)> {
        if off >= self.buf.len() {
            return None;
        }
        let (len, p) = Self::len_at(&self.buf, off);
        Some((&self.buf[p..p + len], p + len))
    }

    /// Iterates the entries in order.
    pub fn iter(&self) -> ListpackIter<'_> {
        ListpackIter { lp: self, off: self.first() }
    }

    /// Offset of the first entry equal to `needle`.
    pub fn find(&self, needle: &[u8]) -> Option<usize> {
        self.find_stride::<1>(needle)
    }

    /// Offset of the first entry at an even position (a hash field) equal to `needle`.
    pub fn find_even(&self, needle: &[u8]) -> Option<usize> {
        self.find_stride::<2>(needle)
    }

    /// Scans every `STRIDE`th entry, comparing lengths before bytes; the stride is a
    /// constant so skipping values costs no division.
    #[inline]
    fn find_stride<const STRIDE: usize>(&self, needle: &[u8]) -> Option<usize> {
        let buf = &self.buf[..];
        let mut off = self.first();
        while off < buf.len() {
            let (len, p) = Self::len_at(buf, off);
            if len == needle.len() && &buf[p..p + len] == needle {
                return Some(off);
            }
            off = p + len;
            for _ in 1..STRIDE {
                if off >= buf.len() {
                    return None;
                }
                let (len, p) = Self::len_at(buf, off);
                off = p + len;
            }
        }
        None
    }

    /// Appends an entry, growing the buffer by exactly what the entry needs: listpacks
    /// exist to save memory, so they carry no spare capacity.
    pub fn push(&mut self, entry: &[u8]) {
        self.push_many(&[entry]);
    }

    /// Appends several entries with one reallocation.
    pub fn push_many(&mut self, entries: &[&[u8]]) {
        let n = self.len();
        if self.buf.is_empty() {
            self.buf.extend_from_slice(&[0; LP_HEADER]);
        }
        let extra: usize = entries.iter().map(|e| varint_len(e.len()) + e.len()).sum();
        self.buf.reserve_exact(extra);
        for e in entries {
            put_varint(&mut self.buf, e.len());
            self.buf.extend_from_slice(e);
        }
        self.set_len(n + entries.len());
    }

    /// Removes `count` consecutive entries starting at offset `off`.
    pub fn remove_at(&mut self, off: usize, count: usize) {
        let mut end = off;
        for _ in 0..count {
            end = self.entry_at(end).expect("removing existing entries").1;
        }
        self.buf.drain(off..end);
        let n = self.len() - count;
        self.set_len(n);
        if n != 0 && self.buf.capacity() > self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    /// Replaces the entry at `off` with `entry`.
    pub fn replace_at(&mut self, off: usize, entry: &[u8]) {
        let (_, end) = self.entry_at(off).expect("replacing an existing entry");
        let mut enc = Vec::with_capacity(varint_len(entry.len()) + entry.len());
        put_varint(&mut enc, entry.len());
        enc.extend_from_slice(entry);
        self.buf.splice(off..end, enc);
    }

    /// Bytes of heap the listpack holds.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes of actual content (header and entries).
    pub fn blob_len(&self) -> usize {
        self.buf.len()
    }
}

impl fmt::Debug for Listpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|e| String::from_utf8_lossy(e).into_owned())).finish()
    }
}

pub struct ListpackIter<'a> {
    lp: &'a Listpack,
    off: usize,
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let (e, next) = self.lp.entry_at(self.off)?;
        self.off = next;
        Some(e)
    }
}

// ---- Random sampling -------------------------------------------------------------------------

pub use crate::util::rng::XorShift;

// ---- Hash ----------------------------------------------------------------------------------

/// A hash value in one of its two encodings.
#[derive(Clone)]
pub enum HashValue {
    /// Field, value, field, value ... in insertion order.
    Listpack(Listpack),
    /// Boxed so the small encoding keeps `Value` small.
    Table(Box<HashTable>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::new()
    }
}

impl fmt::Debug for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.iter() {
            m.entry(&String::from_utf8_lossy(k), &String::from_utf8_lossy(v));
        }
        m.finish()
    }
}

/// Equality is by content: the same pairs, whatever the encoding or order.
impl PartialEq for HashValue {
    fn eq(&self, other: &HashValue) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl HashValue {
    /// An empty hash, listpack-encoded (as Redis's `createHashObject`).
    pub fn new() -> HashValue {
        HashValue::Listpack(Listpack::new())
    }

    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.len() / 2,
            HashValue::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes: the listpack buffer, or the table's entry vector and
    /// index plus each field and value allocation.
    pub fn heap_bytes(&self) -> usize {
        match self {
            HashValue::Listpack(lp) => lp.heap_bytes(),
            HashValue::Table(t) => {
                use std::mem::size_of;
                let slot = size_of::<u64>() + 2 * size_of::<SmallBytes>();
                let index = t.capacity() * size_of::<usize>() * 8 / 7;
                let data: usize = t.iter().map(|(k, v)| k.heap_bytes() + v.heap_bytes()).sum();
                size_of::<HashTable>() + t.capacity() * slot + index + data
            }
        }
    }

    /// Offset of `field`'s entry in a listpack.
    #[inline]
    fn lp_find(lp: &Listpack, field: &[u8]) -> Option<usize> {
        lp.find_even(field)
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(lp) => {
                let off = Self::lp_find(lp, field)?;
                let (_, voff) = lp.entry_at(off)?;
                lp.entry_at(voff).map(|(v, _)| v)
            }
            HashValue::Table(t) => t.get(field).map(|v| &**v),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => Self::lp_find(lp, field).is_some(),
            HashValue::Table(t) => t.contains_key(field),
        }
    }

    /// Converts to the hashtable encoding (no-op if already there).
    pub fn convert_to_table(&mut self) {
        if let HashValue::Listpack(lp) = self {
            let mut t = HashTable::with_capacity_and_hasher(lp.len() / 2, Hasher::default());
            let mut it = lp.iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                t.insert(k.into(), v.into());
            }
            *self = HashValue::Table(Box::new(t));
        }
    }

    /// Sets `field` to `value`. Returns true if the field is new. Converts to a
    /// hashtable when the pair is too long for a listpack or the listpack grows past
    /// its entry limit (both from `lim`), as Redis's `hashTypeSet` does.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: &EncodingLimits) -> bool {
        if let HashValue::Listpack(lp) = self {
            if lim.hash_pair_fits(field.len(), value.len()) {
                match Self::lp_find(lp, field) {
                    Some(off) => {
                        let (_, voff) = lp.entry_at(off).expect("found entry");
                        lp.replace_at(voff, value);
                        // Redis checks the count after an overwrite too: a listpack
                        // left over from a larger limit converts on any write.
                        if lp.len() / 2 > lim.hash_max_listpack_entries {
                            self.convert_to_table();
                        }
                        return false;
                    }
                    None => {
                        lp.push_many(&[field, value]);
                        if lp.len() / 2 > lim.hash_max_listpack_entries {
                            self.convert_to_table();
                        }
                        return true;
                    }
                }
            }
            self.convert_to_table();
        }
        let HashValue::Table(t) = self else { unreachable!("converted above") };
        match t.get_mut(field) {
            Some(v) => {
                *v = value.into();
                false
            }
            None => {
                t.insert(field.into(), value.into());
                true
            }
        }
    }

    /// Removes `field`. Returns true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(lp) => match Self::lp_find(lp, field) {
                Some(off) => {
                    lp.remove_at(off, 2);
                    true
                }
                None => false,
            },
            // swap_remove keeps HSCAN's downward cursor sound (see the module doc).
            HashValue::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// Iterates (field, value) pairs.
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            HashValue::Listpack(lp) => HashIter::Listpack(lp.iter()),
            HashValue::Table(t) => HashIter::Table(t.iter()),
        }
    }

    /// All pairs, for callers that need random access into a small hash (a listpack
    /// has none of its own). Use `get_index` on large ones.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        self.iter().collect()
    }

    /// The pair at position `i` of the encoding's order: O(1) for a hashtable, a scan
    /// for a listpack.
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            HashValue::Listpack(_) => self.iter().nth(i),
            HashValue::Table(t) => t.get_index(i).map(|(k, v)| (&**k, &**v)),
        }
    }

    /// One HSCAN step from `cursor`, visiting at most `count` table slots. A listpack
    /// is returned whole with cursor 0, as Redis does;
    /// a table is walked downwards by index (cursor `c` > 0 means "positions below `c`
    /// remain").
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Pair<'_>>) {
        match self {
            HashValue::Listpack(_) => (0, self.pairs()),
            HashValue::Table(t) => {
                let mut pos = if cursor == 0 { t.len() } else { (cursor as usize).min(t.len()) };
                let mut out = Vec::with_capacity(count.min(pos));
                let mut visited = 0;
                while pos > 0 && visited < count.max(1) {
                    pos -= 1;
                    visited += 1;
                    let (k, v) = t.get_index(pos).expect("index in range");
                    out.push((&**k, &**v));
                }
                (pos as u64, out)
            }
        }
    }
}

pub enum HashIter<'a> {
    Listpack(ListpackIter<'a>),
    Table(indexmap::map::Iter<'a, SmallBytes, SmallBytes>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(it) => {
                let k = it.next()?;
                let v = it.next()?;
                Some((k, v))
            }
            HashIter::Table(it) => it.next().map(|(k, v)| (&**k, &**v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: EncodingLimits = EncodingLimits::DEFAULT;
    use std::collections::{BTreeMap, HashSet};

    #[test]
    fn listpack_basics() {
        let mut lp = Listpack::new();
        assert_eq!(lp.len(), 0);
        assert_eq!(lp.heap_bytes(), 0);
        lp.push(b"a");
        lp.push(b"");
        let long = vec![b'x'; 300];
        lp.push(&long);
        assert_eq!(lp.len(), 3);
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"", &long[..]]);
        let off = lp.find(b"").unwrap();
        lp.replace_at(off, b"middle");
        assert_eq!(lp.iter().nth(1), Some(&b"middle"[..]));
        let off = lp.find(&long).unwrap();
        lp.replace_at(off, b"z");
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"middle", b"z"]);
        let off = lp.find(b"a").unwrap();
        lp.remove_at(off, 2);
        assert_eq!(lp.iter().collect::<Vec<_>>(), vec![&b"z"[..]]);
        lp.remove_at(lp.first(), 1);
        assert!(lp.is_empty());
        assert_eq!(lp.heap_bytes(), 0);
    }

    #[test]
    fn varints_round_trip() {
        for n in [0usize, 1, 127, 128, 16383, 16384, 1 << 20] {
            let mut lp = Listpack::new();
            lp.push(&vec![7u8; n]);
            lp.push(b"after");
            assert_eq!(lp.iter().next().unwrap().len(), n);
            assert_eq!(lp.iter().nth(1).unwrap(), b"after");
        }
    }

    #[test]
    fn find_with_stride_skips_values() {
        let mut h = HashValue::new();
        h.set(b"a", b"b", &LIM);
        h.set(b"b", b"c", &LIM);
        assert_eq!(h.get(b"b"), Some(&b"c"[..]));
        assert_eq!(h.get(b"c"), None);
        assert!(!h.contains(b"c"));
    }

    #[test]
    fn converts_on_entry_count() {
        let mut h = HashValue::new();
        for i in 0..LIM.hash_max_listpack_entries {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", &LIM));
        }
        assert_eq!(h.encoding_name(), "listpack");
        assert!(!h.set(b"f0", b"w", &LIM));
        assert_eq!(h.encoding_name(), "listpack");
        assert!(h.set(b"one-more", b"v", &LIM));
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), LIM.hash_max_listpack_entries + 1);
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        // Never converts back.
        for i in 0..100 {
            h.remove(format!("f{i}").as_bytes());
        }
        assert_eq!(h.encoding_name(), "hashtable");
    }

    #[test]
    fn limits_are_read_on_each_write() {
        let tight = EncodingLimits { hash_max_listpack_entries: 2, hash_max_listpack_value: 4, ..LIM };
        let mut h = HashValue::new();
        h.set(b"a", b"1234", &tight);
        h.set(b"b", b"1", &tight);
        assert_eq!(h.encoding_name(), "listpack");
        // Overwriting an existing field does not grow the count.
        h.set(b"a", b"1", &tight);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"c", b"1", &tight);
        assert_eq!(h.encoding_name(), "hashtable", "a third pair is past 2 entries");
        // A value past the limit converts even an existing field.
        let mut h = HashValue::new();
        h.set(b"a", b"1", &tight);
        h.set(b"a", b"12345", &tight);
        assert_eq!(h.encoding_name(), "hashtable");
        // Raising the limits later never converts back; lowering them converts a
        // listpack only at its next write, even one that overwrites.
        let mut h = HashValue::new();
        for i in 0..10 {
            h.set(format!("f{i}").as_bytes(), b"v", &LIM);
        }
        assert_eq!(h.encoding_name(), "listpack");
        assert!(h.get(b"f0").is_some());
        assert_eq!(h.encoding_name(), "listpack", "reads convert nothing");
        h.set(b"f0", b"w", &tight);
        assert_eq!(h.encoding_name(), "hashtable", "even an overwrite converts, as hashTypeSet does");
        h.set(b"x", b"1", &LIM);
        assert_eq!(h.encoding_name(), "hashtable");
        // Zero entries: the first pair converts, as in Redis.
        let zero = EncodingLimits { hash_max_listpack_entries: 0, ..LIM };
        let mut h = HashValue::new();
        h.set(b"a", b"b", &zero);
        assert_eq!(h.encoding_name(), "hashtable");
    }

    #[test]
    fn converts_on_value_length() {
        let mut h = HashValue::new();
        h.set(b"f", &[b'x'; 64], &LIM);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f", &[b'x'; 65], &LIM);
        assert_eq!(h.encoding_name(), "hashtable");
        let mut h = HashValue::new();
        h.set(&[b'k'; 65], b"v", &LIM);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.get(&[b'k'; 65]), Some(&b"v"[..]));
    }

    #[test]
    fn equality_ignores_encoding_and_order() {
        let mut a = HashValue::new();
        a.set(b"x", b"1", &LIM);
        a.set(b"y", b"2", &LIM);
        let mut b = HashValue::new();
        b.set(b"y", b"2", &LIM);
        b.set(b"x", b"1", &LIM);
        b.convert_to_table();
        assert_eq!(a, b);
        b.set(b"x", b"3", &LIM);
        assert_ne!(a, b);
    }

    #[test]
    fn table_scan_returns_every_stable_field_despite_churn() {
        let mut h = HashValue::new();
        for i in 0..500 {
            h.set(format!("stay{i}").as_bytes(), b"v", &LIM);
            h.set(format!("go{i}").as_bytes(), b"v", &LIM);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            let (next, items) = h.scan(cursor, 10);
            seen.extend(items.iter().map(|(k, _)| k.to_vec()));
            for j in 0..5 {
                h.remove(format!("go{}", step * 5 + j).as_bytes());
                h.set(format!("new{step}-{j}").as_bytes(), b"v", &LIM);
            }
            step += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(seen.contains(format!("stay{i}").as_bytes()), "missed stay{i}");
        }
    }

    /// Random operations against a `BTreeMap` model, with fields and values drawn so
    /// that hashes cross both conversion thresholds; the observable state is compared
    /// after every step.
    #[test]
    fn property_matches_btreemap_model() {
        let mut rng = XorShift::new(42);
        for round in 0..60 {
            let mut h = HashValue::new();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            // Some rounds use few distinct fields (stay small), some many (convert).
            let fields = [20, 200, 400][round % 3];
            for _ in 0..600 {
                let f = format!("f{}", rng.below(fields)).into_bytes();
                let vlen = if rng.below(50) == 0 { 70 } else { rng.below(12) };
                let v = vec![b'a' + rng.below(26) as u8; vlen];
                match rng.below(10) {
                    0..=5 => assert_eq!(h.set(&f, &v, &LIM), model.insert(f.clone(), v).is_none()),
                    6..=8 => assert_eq!(h.remove(&f), model.remove(&f).is_some()),
                    _ => assert_eq!(h.get(&f), model.get(&f).map(|v| &v[..])),
                }
                assert_eq!(h.len(), model.len());
                let mut got: Vec<(Vec<u8>, Vec<u8>)> = h.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
                got.sort();
                let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(got, want);
                let big = model.len() > LIM.hash_max_listpack_entries
                    || model.iter().any(|(k, v)| k.len() > LIM.hash_max_listpack_value || v.len() > 64);
                if big {
                    assert_eq!(h.encoding_name(), "hashtable");
                }
                for i in 0..h.len() {
                    let (k, v) = h.get_index(i).unwrap();
                    assert_eq!(model.get(k).map(|x| &x[..]), Some(v));
                }
            }
        }
    }

    #[test]
    fn xorshift_spreads() {
        let mut r = XorShift::new(0);
        let mut counts = [0usize; 8];
        for _ in 0..8000 {
            counts[r.below(8)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800 && c < 1200), "{counts:?}");
    }
}
