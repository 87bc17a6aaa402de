//! Set values (`SADD` and friends) in Redis's three encodings.
//!
//! Job: store a set of byte strings as compactly as Redis does, with its conversion
//! rules, so OBJECT ENCODING and memory use look familiar:
//! - *intset*: every member is an integer in canonical decimal form. A sorted array of
//!   2-, 4- or 8-byte little-endian integers in one buffer, upgraded to a wider width
//!   when a member needs it (never narrowed), found by binary search. Becomes a
//!   hashtable past `set-max-intset-entries` members (the caller's
//!   [`EncodingLimits`], checked on each insert); becomes a listpack when a
//!   non-integer arrives while it is still small (`SET_MAX_LISTPACK_ENTRIES`, fixed: a
//!   Redis 7.2 parameter), else a hashtable.
//! - *listpack*: small sets of short strings, a `hash::Listpack` of members. Becomes a
//!   hashtable past `SET_MAX_LISTPACK_ENTRIES` members or when a member longer than
//!   `SET_MAX_LISTPACK_VALUE` bytes arrives.
//! - *hashtable*: an `IndexSet`, for O(1) membership, O(1) uniform random members
//!   (SPOP, SRANDMEMBER) and a downward index cursor for SSCAN that never misses a
//!   member present throughout (removal is `swap_remove`, see `storage::db`).
//!
//! A set never goes back to a smaller encoding, except that SPOP of most of a large
//! set rebuilds it from the remaining members, as Redis's SPOP "case 3" does.
//!
//! The listpack encoding and its thresholds are Redis 7.2's (7.0 had only intset and
//! hashtable); this project's spec asks for all three.
//!
//! Non-goals: RESP, command syntax and errors (`cmd::set`), set algebra (the commands
//! combine sets with `contains`/`insert`, as Redis's t_set.c does).
//!
//! Depends on: std, `indexmap`, `foldhash`, `storage::hash` (Listpack, XorShift),
//! `util::num` (strict integer parsing).

use super::hash::{Listpack, XorShift};
use super::limits::EncodingLimits;
use super::small::{INLINE as SMALL_INLINE, SmallBytes};
use crate::util::num::parse_i64;
use indexmap::IndexSet;
use std::fmt;

/// Redis caps `set-max-intset-entries` at 2^30 members (intset internals).
const INTSET_CAP: usize = 1 << 30;

/// Redis 7.2's `set-max-listpack-entries` default. Fixed: 7.0 has no such parameter
/// (and OBJECT ENCODING reports these sets as 7.0's `hashtable`, see `cmd::keys`).
pub const SET_MAX_LISTPACK_ENTRIES: usize = 128;
/// Redis 7.2's `set-max-listpack-value` default (bytes per member), fixed likewise.
pub const SET_MAX_LISTPACK_VALUE: usize = 64;

type Hasher = foldhash::fast::RandomState;

/// The large encoding of a set.
pub type SetTable = IndexSet<SmallBytes, Hasher>;

// ---- Intset --------------------------------------------------------------------------------

/// A sorted array of distinct integers in one buffer: a width byte (2, 4 or 8), then
/// the members little-endian at that width. An empty intset owns no allocation, and
/// neither does a small one: up to 22 bytes (10 16-bit or 5 32-bit members) live
/// inline in the value, which saves an allocation (16 B and a cache miss) per key for
/// the many tiny sets real data has. Larger buffers are an exact-size `Box<[u8]>`
/// reallocated on every insert, as Redis's intset is.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Intset {
    buf: SmallBytes,
}

/// The concatenation of `parts` as a `SmallBytes`, built on the stack when it fits
/// inline (no temporary allocation).
fn concat(parts: &[&[u8]]) -> SmallBytes {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len <= SMALL_INLINE {
        let mut tmp = [0u8; SMALL_INLINE];
        let mut at = 0;
        for p in parts {
            tmp[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        SmallBytes::new(&tmp[..len])
    } else {
        let mut v = Vec::with_capacity(len);
        for p in parts {
            v.extend_from_slice(p);
        }
        SmallBytes::from(v)
    }
}

/// The narrowest width that holds `v`.
fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

impl Intset {
    pub fn new() -> Intset {
        Intset { buf: SmallBytes::default() }
    }

    /// Bytes per member.
    #[inline]
    pub fn width(&self) -> usize {
        self.buf.first().map_or(2, |&w| w as usize)
    }

    #[inline]
    pub fn len(&self) -> usize {
        if self.buf.is_empty() { 0 } else { (self.buf.len() - 1) / self.width() }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The member at position `i` (ascending order).
    #[inline]
    pub fn get(&self, i: usize) -> i64 {
        let w = self.width();
        let s = &self.buf[1 + i * w..1 + (i + 1) * w];
        match w {
            2 => i16::from_le_bytes([s[0], s[1]]) as i64,
            4 => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as i64,
            _ => i64::from_le_bytes(s.try_into().expect("8-byte member")),
        }
    }

    /// Binary search: Ok(position) if present, Err(insertion point) if not.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let m = self.get(mid);
            if m == v {
                return Ok(mid);
            }
            if m < v {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    fn encode(v: i64, w: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&v.to_le_bytes()[..w]);
    }

    /// Adds `v`; false if it was already there.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_for(v);
        if self.buf.is_empty() {
            self.buf = concat(&[&[need as u8], &v.to_le_bytes()[..need]]);
            return true;
        }
        let w = self.width();
        if need > w {
            // Upgrade: a member wider than all others is the new minimum or maximum.
            let n = self.len();
            let mut nb = Vec::with_capacity(1 + (n + 1) * need);
            nb.push(need as u8);
            if v < 0 {
                Self::encode(v, need, &mut nb);
            }
            for i in 0..n {
                Self::encode(self.get(i), need, &mut nb);
            }
            if v >= 0 {
                Self::encode(v, need, &mut nb);
            }
            self.buf = nb.into();
            return true;
        }
        match self.search(v) {
            Ok(_) => false,
            Err(pos) => {
                let at = 1 + pos * w;
                self.buf = concat(&[&self.buf[..at], &v.to_le_bytes()[..w], &self.buf[at..]]);
                true
            }
        }
    }

    /// Removes `v`; false if it was not there.
    pub fn remove(&mut self, v: i64) -> bool {
        match self.search(v) {
            Ok(pos) => {
                self.remove_at(pos);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes the member at position `i` and returns it.
    pub fn remove_at(&mut self, i: usize) -> i64 {
        let v = self.get(i);
        let w = self.width();
        if self.len() == 1 {
            self.buf = SmallBytes::default();
        } else {
            self.buf = concat(&[&self.buf[..1 + i * w], &self.buf[1 + (i + 1) * w..]]);
        }
        v
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    pub fn heap_bytes(&self) -> usize {
        self.buf.heap_bytes()
    }
}

impl fmt::Debug for Intset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

// ---- Members ---------------------------------------------------------------------------------

/// A member as an encoding holds it: an intset hands out integers, which callers format
/// (replies use `bulk_i64`) instead of allocating a string per member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// Formats `v` into `buf` and returns the digits.
fn fmt_i64(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut pos = buf.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        pos -= 1;
        buf[pos] = b'-';
    }
    &buf[pos..]
}

impl Member<'_> {
    /// Runs `f` on the member's bytes (an integer is formatted on the stack).
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            Member::Bytes(b) => f(b),
            Member::Int(v) => {
                // 20 bytes hold i64::MIN's 19 digits and sign.
                let mut buf = [0u8; 20];
                f(fmt_i64(v, &mut buf))
            }
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }
}

// ---- Set -------------------------------------------------------------------------------------

/// A set value in one of its three encodings.
#[derive(Clone)]
pub enum SetValue {
    Intset(Intset),
    Listpack(Listpack),
    /// Boxed so the compact encodings keep `Value` small.
    Table(Box<SetTable>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::new_intset()
    }
}

impl fmt::Debug for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_set();
        for m in self.iter() {
            s.entry(&String::from_utf8_lossy(&m.to_vec()));
        }
        s.finish()
    }
}

/// Equality is by content, whatever the encodings.
impl PartialEq for SetValue {
    fn eq(&self, other: &SetValue) -> bool {
        self.len() == other.len() && self.iter().all(|m| m.with_bytes(|b| other.contains(b)))
    }
}

impl SetValue {
    /// An empty intset (Redis's `createIntsetObject`): what set algebra results start as.
    pub fn new_intset() -> SetValue {
        SetValue::Intset(Intset::new())
    }

    /// An empty set for up to `size_hint` members whose first is `first` (Redis 7.0's
    /// `setTypeCreate`): an intset if `first` is an integer, whatever the hint, since
    /// the hint counts duplicates and 7.0 converts only when the distinct members pass
    /// `set-max-intset-entries`; else a listpack if the hint fits one, else a hashtable
    /// presized for the hint.
    pub fn with_hint(first: &[u8], size_hint: usize) -> SetValue {
        if parse_i64(first).is_some() {
            SetValue::Intset(Intset::new())
        } else if size_hint <= SET_MAX_LISTPACK_ENTRIES {
            SetValue::Listpack(Listpack::new())
        } else {
            SetValue::Table(Box::new(SetTable::with_capacity_and_hasher(size_hint, Hasher::default())))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(is) => is.len(),
            SetValue::Listpack(lp) => lp.len(),
            SetValue::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Listpack(_) => "listpack",
            SetValue::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes.
    pub fn heap_bytes(&self) -> usize {
        match self {
            SetValue::Intset(is) => is.heap_bytes(),
            SetValue::Listpack(lp) => lp.heap_bytes(),
            SetValue::Table(t) => {
                use std::mem::size_of;
                let slot = size_of::<u64>() + size_of::<SmallBytes>();
                let index = t.capacity() * size_of::<usize>() * 8 / 7;
                let data: usize = t.iter().map(|m| m.heap_bytes()).sum();
                size_of::<SetTable>() + t.capacity() * slot + index + data
            }
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            // A member that is not a canonical integer cannot be in an intset.
            SetValue::Intset(is) => parse_i64(m).is_some_and(|v| is.contains(v)),
            SetValue::Listpack(lp) => lp.find(m).is_some(),
            SetValue::Table(t) => t.contains(m),
        }
    }

    /// Converts to a hashtable presized for `hint` members.
    fn convert_to_table(&mut self, hint: usize) {
        let mut t = SetTable::with_capacity_and_hasher(hint.max(self.len()), Hasher::default());
        match self {
            SetValue::Table(_) => return,
            SetValue::Intset(is) => {
                for v in is.iter() {
                    Member::Int(v).with_bytes(|b| t.insert(b.into()));
                }
            }
            SetValue::Listpack(lp) => {
                for m in lp.iter() {
                    t.insert(m.into());
                }
            }
        }
        *self = SetValue::Table(Box::new(t));
    }

    /// Adds `m`; false if already a member. Applies Redis's conversion rules (see the
    /// module doc).
    pub fn insert(&mut self, m: &[u8], lim: &EncodingLimits) -> bool {
        match self {
            SetValue::Table(t) => t.insert(m.into()),
            SetValue::Listpack(lp) => {
                if lp.find(m).is_some() {
                    return false;
                }
                if lp.len() < SET_MAX_LISTPACK_ENTRIES && m.len() <= SET_MAX_LISTPACK_VALUE {
                    lp.push(m);
                } else {
                    let n = lp.len();
                    self.convert_to_table(n + 1);
                    self.insert(m, lim);
                }
                true
            }
            SetValue::Intset(is) => {
                if let Some(v) = parse_i64(m) {
                    if !is.insert(v) {
                        return false;
                    }
                    if is.len() > lim.set_max_intset_entries.min(INTSET_CAP) {
                        let n = is.len();
                        self.convert_to_table(n);
                    }
                    return true;
                }
                // A string joins: to a listpack if everything will fit one (integers
                // are at most 20 bytes, always under the value limit), else a table.
                let n = is.len();
                if n < SET_MAX_LISTPACK_ENTRIES && m.len() <= SET_MAX_LISTPACK_VALUE {
                    let mut lp = Listpack::new();
                    let mut bufs: Vec<Vec<u8>> = is.iter().map(|v| Member::Int(v).to_vec()).collect();
                    bufs.push(m.to_vec());
                    let refs: Vec<&[u8]> = bufs.iter().map(|b| &b[..]).collect();
                    lp.push_many(&refs);
                    *self = SetValue::Listpack(lp);
                } else {
                    self.convert_to_table(n + 1);
                    self.insert(m, lim);
                }
                true
            }
        }
    }

    /// Removes `m`; false if it was not a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            SetValue::Intset(is) => parse_i64(m).is_some_and(|v| is.remove(v)),
            SetValue::Listpack(lp) => match lp.find(m) {
                Some(off) => {
                    lp.remove_at(off, 1);
                    true
                }
                None => false,
            },
            SetValue::Table(t) => t.swap_remove(m),
        }
    }

    /// Iterates the members in the encoding's order (ascending for an intset).
    pub fn iter(&self) -> SetIter<'_> {
        match self {
            SetValue::Intset(is) => SetIter::Intset(is, 0),
            SetValue::Listpack(lp) => SetIter::Listpack(lp.iter()),
            SetValue::Table(t) => SetIter::Table(t.iter()),
        }
    }

    /// The member at position `i`: O(1) for an intset or table, a scan for a listpack.
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match self {
            SetValue::Intset(is) => (i < is.len()).then(|| Member::Int(is.get(i))),
            SetValue::Listpack(lp) => lp.iter().nth(i).map(Member::Bytes),
            SetValue::Table(t) => t.get_index(i).map(|m| Member::Bytes(m)),
        }
    }

    /// All members, for random access into a small set (use `get_index` on large ones).
    pub fn members(&self) -> Vec<Member<'_>> {
        self.iter().collect()
    }

    /// A uniformly random member of a non-empty set.
    pub fn random(&self, rng: &mut XorShift) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        self.get_index(rng.below(self.len()))
    }

    /// Removes and returns a uniformly random member.
    pub fn pop_random(&mut self, rng: &mut XorShift) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let i = rng.below(self.len());
        Some(match self {
            SetValue::Intset(is) => Member::Int(is.remove_at(i)).to_vec(),
            SetValue::Listpack(lp) => {
                let mut off = lp.first();
                for _ in 0..i {
                    off = lp.entry_at(off).expect("index in range").1;
                }
                let m = lp.entry_at(off).expect("index in range").0.to_vec();
                lp.remove_at(off, 1);
                m
            }
            SetValue::Table(t) => t.swap_remove_index(i).expect("index in range").into_vec(),
        })
    }

    /// Removes `count` random members (fewer than the set holds) and returns them.
    ///
    /// When most of the set goes, the members that *stay* are picked instead and the
    /// set is rebuilt from them, as Redis's SPOP "case 3"; a hashtable then shrinks to
    /// whatever encoding the survivors fit (intset, listpack).
    pub fn pop_many(&mut self, count: usize, rng: &mut XorShift, lim: &EncodingLimits) -> Vec<Vec<u8>> {
        let size = self.len();
        if count >= size {
            let all = self.iter().map(|m| m.to_vec()).collect();
            *self = SetValue::new_intset();
            return all;
        }
        let remaining = size - count;
        // Redis's SPOP_MOVE_STRATEGY_MUL: pop directly while few are asked for.
        if remaining * 5 > count {
            return (0..count).map(|_| self.pop_random(rng).expect("count < size")).collect();
        }
        let mut kept: Option<SetValue> = None;
        for _ in 0..remaining {
            let m = self.pop_random(rng).expect("remaining < size");
            kept.get_or_insert_with(|| SetValue::with_hint(&m, remaining)).insert(&m, lim);
        }
        let popped = self.iter().map(|m| m.to_vec()).collect();
        *self = kept.expect("remaining > 0");
        popped
    }

    /// One SSCAN step: a compact set is returned whole with cursor 0 (as Redis does for
    /// intsets and listpacks); a table is walked downwards by index, at most `count`
    /// slots per step (cursor `c` > 0 means "positions below `c` remain").
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<Member<'_>>) {
        match self {
            SetValue::Table(t) => {
                let mut pos = if cursor == 0 { t.len() } else { (cursor as usize).min(t.len()) };
                let mut out = Vec::with_capacity(count.min(pos));
                let mut visited = 0;
                while pos > 0 && visited < count.max(1) {
                    pos -= 1;
                    visited += 1;
                    out.push(Member::Bytes(t.get_index(pos).expect("index in range")));
                }
                (pos as u64, out)
            }
            _ => (0, self.members()),
        }
    }
}

pub enum SetIter<'a> {
    Intset(&'a Intset, usize),
    Listpack(super::hash::ListpackIter<'a>),
    Table(indexmap::set::Iter<'a, SmallBytes>),
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            SetIter::Intset(is, i) => {
                if *i >= is.len() {
                    return None;
                }
                let v = is.get(*i);
                *i += 1;
                Some(Member::Int(v))
            }
            SetIter::Listpack(it) => it.next().map(Member::Bytes),
            SetIter::Table(it) => it.next().map(|m| Member::Bytes(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: EncodingLimits = EncodingLimits::DEFAULT;
    use std::collections::{BTreeSet, HashSet};

    fn members(s: &SetValue) -> BTreeSet<Vec<u8>> {
        s.iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn intset_widths_and_order() {
        let mut is = Intset::new();
        assert!(is.insert(5));
        assert!(is.insert(-3));
        assert!(!is.insert(5));
        assert_eq!(is.width(), 2);
        assert!(is.insert(100_000));
        assert_eq!(is.width(), 4);
        assert!(is.insert(i64::MIN));
        assert_eq!(is.width(), 8);
        assert!(is.insert(i64::MAX));
        assert_eq!(is.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 100_000, i64::MAX]);
        assert!(is.contains(100_000));
        assert!(!is.contains(4));
        assert!(is.remove(-3));
        assert!(!is.remove(-3));
        assert_eq!(is.len(), 4);
        for v in [i64::MIN, 5, 100_000, i64::MAX] {
            assert!(is.remove(v));
        }
        assert!(is.is_empty());
        assert_eq!(is.heap_bytes(), 0);
    }

    #[test]
    fn member_formatting() {
        for v in [0, 7, -7, 1234567890, i64::MIN, i64::MAX] {
            assert_eq!(Member::Int(v).to_vec(), v.to_string().into_bytes());
        }
    }

    #[test]
    fn encodings_follow_redis_rules() {
        let mut s = SetValue::with_hint(b"1", 1);
        assert_eq!(s.encoding_name(), "intset");
        for i in 0..LIM.set_max_intset_entries {
            s.insert(i.to_string().as_bytes(), &LIM);
        }
        assert_eq!(s.encoding_name(), "intset");
        s.insert(b"100000", &LIM);
        assert_eq!(s.encoding_name(), "hashtable");

        // Non-canonical integers are strings.
        let mut s = SetValue::with_hint(b"1", 1);
        s.insert(b"1", &LIM);
        s.insert(b"01", &LIM);
        assert_eq!(s.encoding_name(), "listpack");
        assert!(s.contains(b"1") && s.contains(b"01") && !s.contains(b"001"));

        // A string joining a small intset makes a listpack; a large one, a table.
        let mut s = SetValue::new_intset();
        for i in 0..10 {
            s.insert(i.to_string().as_bytes(), &LIM);
        }
        s.insert(b"a", &LIM);
        assert_eq!(s.encoding_name(), "listpack");
        assert_eq!(s.len(), 11);
        let mut s = SetValue::new_intset();
        for i in 0..SET_MAX_LISTPACK_ENTRIES {
            s.insert(i.to_string().as_bytes(), &LIM);
        }
        s.insert(b"a", &LIM);
        assert_eq!(s.encoding_name(), "hashtable");

        // Listpack limits.
        let mut s = SetValue::with_hint(b"a", 1);
        assert_eq!(s.encoding_name(), "listpack");
        for i in 0..SET_MAX_LISTPACK_ENTRIES {
            s.insert(format!("m{i}").as_bytes(), &LIM);
        }
        assert_eq!(s.encoding_name(), "listpack");
        s.insert(b"one-more", &LIM);
        assert_eq!(s.encoding_name(), "hashtable");
        let mut s = SetValue::with_hint(b"a", 1);
        s.insert(&[b'x'; 65], &LIM);
        assert_eq!(s.encoding_name(), "hashtable");

        // Size hints: an integer starts an intset whatever the hint (duplicates may
        // keep it within the limit); the inserts convert it.
        assert_eq!(SetValue::with_hint(b"1", 513).encoding_name(), "intset");
        assert_eq!(SetValue::with_hint(b"1", 200).encoding_name(), "intset");
        assert_eq!(SetValue::with_hint(b"a", 129).encoding_name(), "hashtable");
    }

    #[test]
    fn intset_limit_is_read_on_each_insert() {
        let two = EncodingLimits { set_max_intset_entries: 2, ..LIM };
        let mut s = SetValue::with_hint(b"1", 1);
        s.insert(b"1", &two);
        s.insert(b"2", &two);
        assert_eq!(s.encoding_name(), "intset");
        s.insert(b"3", &two);
        assert_ne!(s.encoding_name(), "intset");
        // A set made under a larger limit converts at its next insert.
        let mut s = SetValue::with_hint(b"1", 1);
        for i in 0..5 {
            s.insert(i.to_string().as_bytes(), &LIM);
        }
        assert_eq!(s.encoding_name(), "intset");
        assert!(!s.insert(b"1", &two), "a member already there adds nothing");
        assert_eq!(s.encoding_name(), "intset");
        s.insert(b"9", &two);
        assert_ne!(s.encoding_name(), "intset");
        // Zero: no intset at all.
        let zero = EncodingLimits { set_max_intset_entries: 0, ..LIM };
        let mut s = SetValue::with_hint(b"1", 1);
        s.insert(b"1", &zero);
        assert_ne!(s.encoding_name(), "intset");
    }

    #[test]
    fn pop_many_rebuilds_survivors() {
        let mut rng = XorShift::new(7);
        let mut s = SetValue::new_intset();
        for i in 0..1000 {
            s.insert(i.to_string().as_bytes(), &LIM);
        }
        assert_eq!(s.encoding_name(), "hashtable");
        let popped = s.pop_many(990, &mut rng, &LIM);
        assert_eq!(popped.len(), 990);
        assert_eq!(s.len(), 10);
        assert_eq!(s.encoding_name(), "intset");
        let mut all: HashSet<Vec<u8>> = popped.into_iter().collect();
        all.extend(members(&s));
        assert_eq!(all.len(), 1000);
    }

    #[test]
    fn table_scan_returns_every_stable_member_despite_churn() {
        let mut s = SetValue::with_hint(b"x", 1000);
        for i in 0..500 {
            s.insert(format!("stay{i}").as_bytes(), &LIM);
            s.insert(format!("go{i}").as_bytes(), &LIM);
        }
        let mut seen = HashSet::new();
        let (mut cursor, mut step) = (0, 0);
        loop {
            let (next, items) = s.scan(cursor, 10);
            seen.extend(items.iter().map(|m| m.to_vec()));
            for j in 0..5 {
                s.remove(format!("go{}", step * 5 + j).as_bytes());
                s.insert(format!("new{step}-{j}").as_bytes(), &LIM);
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

    /// Random operations against a `BTreeSet` model. Members mix canonical integers,
    /// non-canonical ones, short and long strings, so sets move through intset,
    /// listpack and hashtable; observable state is compared after every step.
    #[test]
    fn property_matches_btreeset_model() {
        let mut rng = XorShift::new(1234);
        for round in 0..60 {
            let universe = [30, 200, 700][round % 3];
            let int_only = round % 2 == 0;
            let mut s = SetValue::new_intset();
            let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
            for _ in 0..800 {
                let n = rng.below(universe) as i64 - (universe as i64 / 3);
                let m: Vec<u8> = match (int_only, rng.below(20)) {
                    (true, _) | (false, 0..=11) => n.to_string().into_bytes(),
                    (false, 12) => format!("0{n}").into_bytes(),
                    (false, 13) => vec![b'L'; 65 + rng.below(3)],
                    _ => format!("s{n}").into_bytes(),
                };
                match rng.below(12) {
                    0..=6 => assert_eq!(s.insert(&m, &LIM), model.insert(m.clone())),
                    7..=9 => assert_eq!(s.remove(&m), model.remove(&m)),
                    10 => assert_eq!(s.contains(&m), model.contains(&m)),
                    _ => {
                        if let Some(p) = s.pop_random(&mut rng) {
                            assert!(model.remove(&p), "popped a non-member");
                        } else {
                            assert!(model.is_empty());
                        }
                    }
                }
                assert_eq!(s.len(), model.len());
                assert_eq!(members(&s), model);
                let ints = model.iter().all(|m| parse_i64(m).is_some());
                if ints && model.len() > LIM.set_max_intset_entries {
                    assert_eq!(s.encoding_name(), "hashtable");
                }
                if model.len() > SET_MAX_LISTPACK_ENTRIES && !ints {
                    assert_eq!(s.encoding_name(), "hashtable");
                }
                if s.encoding_name() == "intset" {
                    assert!(ints);
                }
            }
            // Draining with pop_many empties it, whatever the encoding.
            let n = s.len();
            let got = s.pop_many(n, &mut rng, &LIM);
            assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), model);
            assert!(s.is_empty());
        }
    }
}
