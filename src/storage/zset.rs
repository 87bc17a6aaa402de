//! Sorted sets: unique binary-safe members, each with an IEEE double score, ordered by
//! (score, member) where equal scores fall back to byte-wise member order (`memcmp`).
//!
//! Job: hold one sorted set and answer everything ZADD, ZRANGE, ZRANK, ZCOUNT, ZREM*,
//! ZPOP*, ZRANDMEMBER and ZSCAN ask of it, in two encodings that Redis users know from
//! `OBJECT ENCODING`:
//! - **listpack** (small sets, at most `zset-max-listpack-entries` members of at most
//!   `zset-max-listpack-value` bytes, the caller's [`EncodingLimits`], and never more
//!   than [`LISTPACK_CAP`] members): one contiguous `Vec<u8>`, a 2-byte entry count then
//!   the entries in order. An entry is a varint header `member_len << 1 | int_flag`, the
//!   member bytes, then the score: a zigzag varint when it is an integer that an `f64`
//!   holds exactly (most scores in practice: two or three bytes instead of eight), else
//!   the 8 little-endian bytes of the `f64`. Every operation is a linear walk, which at
//!   this size beats pointer chasing and costs a fraction of the memory.
//! - **skiplist** (past either threshold): Redis's skiplist with spans, so rank queries
//!   (ZRANK, ZRANGE by index, ZCOUNT) take O(log n), plus a member -> score dictionary
//!   for O(1) ZSCORE. Nodes live in an arena (`Vec<Node>` indexed by `u32`, freed slots
//!   reused) instead of behind raw pointers, so there is no `unsafe`. Members are
//!   [`Member`]s: up to 22 bytes inline in the node and in the dictionary entry (no
//!   allocation, and comparisons read bytes already loaded with the node), longer ones
//!   an `Arc<[u8]>` shared by the node and the dictionary key. Each level link also
//!   holds the score of the node it points to, so a search step whose comparison fails
//!   on the score does not touch the next node at all.
//!
//! The dictionary is an `IndexMap`: its dense entry vector gives O(1) random members
//! (ZRANDMEMBER) and a ZSCAN cursor with Redis's guarantee, exactly as `storage::Db`
//! uses it for SCAN (removal moves the last entry down into the hole, so walking the
//! indexes from the top down visits every member present for the whole iteration).
//!
//! Like Redis, a set converts from listpack to skiplist as it grows and never back on
//! its own; results built in one go (the STORE forms) pick the encoding that fits
//! ([`ZSetValue::from_pairs`]), like Redis's `zsetConvertToListpackIfNeeded`.
//!
//! The thresholds are checked against the limits passed to each growing write, so
//! lowering them converts a listpack on its next insert, as in Redis.
//!
//! Non-goals: RESP, argument syntax, keyspace and TTLs (the `cmd::zset` family),
//! knowing where the limits come from (`storage::limits`).
//!
//! Depends on: std, `indexmap`, `foldhash`, `storage::limits`.

use super::limits::EncodingLimits;
use indexmap::IndexMap;
use std::cmp::Ordering;
use std::sync::Arc;

/// Most members the compact encoding can count (its count is two bytes): a set grows
/// into a skiplist past this even if `zset-max-listpack-entries` is set higher (Redis
/// has no such cap, but a listpack that large is already far slower than a skiplist).
pub const LISTPACK_CAP: usize = u16::MAX as usize;

type Hasher = foldhash::fast::RandomState;

/// The set order: score first, then member bytes. Scores compare with `<` as Redis's do,
/// so `-0` and `0` tie and the member decides.
#[inline]
fn cmp_entry(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    if s1 < s2 {
        Ordering::Less
    } else if s1 > s2 {
        Ordering::Greater
    } else {
        m1.cmp(m2)
    }
}

// ---- Ranges -----------------------------------------------------------------------------

/// A score interval as ZRANGEBYSCORE takes it: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

/// Redis reads range bounds with plain `strtod` (leading blanks allowed, overflow to
/// infinity, an empty string is 0) and only rejects trailing garbage and NaN.
fn parse_bound_f64(b: &[u8]) -> Option<f64> {
    let start = b.iter().position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')).unwrap_or(b.len());
    if b.is_empty() {
        return Some(0.0);
    }
    let b = &b[start..];
    if let Some(v) = crate::util::num::parse_f64(b) {
        return Some(v);
    }
    // Literals that overflow or underflow: strtod saturates where parse_f64 refuses.
    let s = std::str::from_utf8(b).ok()?;
    if s.bytes().any(|c| c.is_ascii_alphabetic() && !matches!(c, b'e' | b'E')) {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| !v.is_nan())
}

impl ScoreRange {
    /// Parses `min` and `max` as Redis's `zslParseRange`; None is Redis's
    /// "min or max is not a float".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let item = |b: &[u8]| -> Option<(f64, bool)> {
            match b.first() {
                Some(b'(') => Some((parse_bound_f64(&b[1..])?, true)),
                _ => Some((parse_bound_f64(b)?, false)),
            }
        };
        let (min, minex) = item(min)?;
        let (max, maxex) = item(max)?;
        Some(ScoreRange { min, max, minex, maxex })
    }

    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex { v > self.min } else { v >= self.min }
    }

    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex { v < self.max } else { v <= self.max }
    }

    #[inline]
    pub fn contains(&self, v: f64) -> bool {
        self.gte_min(v) && self.lte_max(v)
    }

    /// Ranges that can never match anything.
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lex interval. The derived order is the one Redis's `sdscmplex` gives:
/// `-` below every string, `+` above every string, strings by bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LexKey<'a> {
    NegInf,
    Str(&'a [u8]),
    PosInf,
}

/// A lex interval as ZRANGEBYLEX takes it: `[a` (inclusive), `(a` (exclusive), `-`, `+`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LexRange<'a> {
    pub min: LexKey<'a>,
    pub max: LexKey<'a>,
    pub minex: bool,
    pub maxex: bool,
}

impl<'a> LexRange<'a> {
    /// Parses `min` and `max` as Redis's `zslParseLexRange`; None is Redis's
    /// "min or max not valid string range item".
    pub fn parse(min: &'a [u8], max: &'a [u8]) -> Option<LexRange<'a>> {
        fn item(b: &[u8]) -> Option<(LexKey<'_>, bool)> {
            match b.first()? {
                // `-` and `+` count as exclusive, as in Redis, so `- -` is empty.
                b'+' if b.len() == 1 => Some((LexKey::PosInf, true)),
                b'-' if b.len() == 1 => Some((LexKey::NegInf, true)),
                b'(' => Some((LexKey::Str(&b[1..]), true)),
                b'[' => Some((LexKey::Str(&b[1..]), false)),
                _ => None,
            }
        }
        let (min, minex) = item(min)?;
        let (max, maxex) = item(max)?;
        Some(LexRange { min, max, minex, maxex })
    }

    #[inline]
    pub fn gte_min(&self, v: &[u8]) -> bool {
        let c = LexKey::Str(v).cmp(&self.min);
        if self.minex { c == Ordering::Greater } else { c != Ordering::Less }
    }

    #[inline]
    pub fn lte_max(&self, v: &[u8]) -> bool {
        let c = LexKey::Str(v).cmp(&self.max);
        if self.maxex { c == Ordering::Less } else { c != Ordering::Greater }
    }

    #[inline]
    pub fn contains(&self, v: &[u8]) -> bool {
        self.gte_min(v) && self.lte_max(v)
    }

    pub fn is_empty(&self) -> bool {
        let c = self.min.cmp(&self.max);
        c == Ordering::Greater || (c == Ordering::Equal && (self.minex || self.maxex))
    }
}

/// Either kind of interval, so the range walks are written once.
/// Redis's `zzlIsInRange`/`zzlIsInLexRange`, which its listpack range walks check
/// first: the last entry must reach the minimum and the first must not pass the
/// maximum. Implied for score ranges; for a lex range over members whose scores
/// differ (so not in lex order) it decides: `ZADD z 0 2 -1 m` then `ZRANGE z (2 +
/// BYLEX` is empty in Redis (the last entry, "2", is not past "(2"), though "m" is.
fn ends_admit(lp: &Listpack, range: &impl Interval) -> bool {
    let (Some(first), Some(last)) = (lp.iter().next(), lp.iter().last()) else { return false };
    range.gte_min(last.score, last.member) && range.lte_max(first.score, first.member)
}

trait Interval {
    fn gte_min(&self, score: f64, member: &[u8]) -> bool;
    fn lte_max(&self, score: f64, member: &[u8]) -> bool;
    fn empty(&self) -> bool;
}

impl Interval for ScoreRange {
    #[inline]
    fn gte_min(&self, score: f64, _: &[u8]) -> bool {
        ScoreRange::gte_min(self, score)
    }
    #[inline]
    fn lte_max(&self, score: f64, _: &[u8]) -> bool {
        ScoreRange::lte_max(self, score)
    }
    fn empty(&self) -> bool {
        self.is_empty()
    }
}

impl Interval for LexRange<'_> {
    #[inline]
    fn gte_min(&self, _: f64, member: &[u8]) -> bool {
        LexRange::gte_min(self, member)
    }
    #[inline]
    fn lte_max(&self, _: f64, member: &[u8]) -> bool {
        LexRange::lte_max(self, member)
    }
    fn empty(&self) -> bool {
        self.is_empty()
    }
}

// ---- ZADD semantics ---------------------------------------------------------------------

/// ZADD's input flags (ZINCRBY is `incr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What one ZADD element did, as Redis's `zsetAdd` out flags.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddOutcome {
    /// New member with this score.
    Added(f64),
    /// Existing member, score changed to this.
    Updated(f64),
    /// Existing member, and the new score equals the old one: processed, not changed.
    Same(f64),
    /// Not applied because of NX, XX, GT or LT.
    Nop,
}

/// The score (given, or the result of an increment) is NaN: Redis's
/// "resulting score is not a number (NaN)".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScoreIsNan;

mod listpack;
mod skiplist;

pub use listpack::Listpack;
use listpack::LpIter;
pub use skiplist::SkipList;
use skiplist::{HEAD, Level, Member, NIL, Node};

// ---- The value --------------------------------------------------------------------------

/// A sorted set value (`Value::ZSet`).
#[derive(Clone, Debug)]
pub enum ZSetValue {
    Listpack(Listpack),
    Skiplist(Box<SkipList>),
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue::new()
    }
}

/// Two sorted sets are equal when they hold the same members with the same scores,
/// whatever their encodings (the skiplist's node layout is not observable).
impl PartialEq for ZSetValue {
    fn eq(&self, other: &ZSetValue) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
    }
}

/// Ordered iteration over either encoding: `(member, score)` pairs.
pub struct Iter<'a>(IterInner<'a>);

enum IterInner<'a> {
    Listpack(LpIter<'a>),
    Skiplist(&'a SkipList, u32),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    #[inline]
    fn next(&mut self) -> Option<(&'a [u8], f64)> {
        match &mut self.0 {
            IterInner::Listpack(it) => it.next().map(|e| (e.member, e.score)),
            IterInner::Skiplist(sl, x) => {
                if *x == NIL {
                    return None;
                }
                let n = sl.node(*x);
                *x = n.low[0].next;
                Some((&n.member[..], n.score))
            }
        }
    }
}

impl ZSetValue {
    /// An empty set in the compact encoding.
    pub fn new() -> ZSetValue {
        ZSetValue::Listpack(Listpack::default())
    }

    /// An empty set in the skiplist encoding whatever its size (benchmarks, and sets
    /// known to be large up front).
    pub fn new_skiplist() -> ZSetValue {
        ZSetValue::Skiplist(Box::new(SkipList::new()))
    }

    /// A set holding `pairs` (a later duplicate member overrides an earlier one), in the
    /// encoding its size and longest member call for, as Redis's
    /// `zsetConvertToListpackIfNeeded` decides for computed results.
    pub fn from_pairs<M: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (M, f64)>, lim: &EncodingLimits) -> ZSetValue {
        let pairs: Vec<(M, f64)> = pairs.into_iter().collect();
        let longest = pairs.iter().map(|(m, _)| m.as_ref().len()).max().unwrap_or(0);
        let mut z = ZSetValue::with_hint(pairs.len(), longest, lim);
        for (m, s) in &pairs {
            z.insert(m.as_ref(), *s, lim);
        }
        z
    }

    /// A set filled with `pairs` as Redis's ZRANGESTORE fills its destination: a
    /// skiplist from the start past the entry limit, else a listpack that converts when
    /// a long member comes, so the scores added before that went through the listpack
    /// (which keeps `-0` as `0`) and the later ones keep their sign.
    pub fn filled_in_order<M: AsRef<[u8]>>(pairs: &[(M, f64)], lim: &EncodingLimits) -> ZSetValue {
        let mut z = ZSetValue::with_hint(pairs.len(), 0, lim);
        for (m, s) in pairs {
            z.insert(m.as_ref(), *s, lim);
        }
        z
    }

    /// An empty set for about `len` members whose longest is `longest` bytes: a
    /// listpack if that fits `lim`, else a skiplist (Redis's `zsetTypeCreate`).
    pub fn with_hint(len: usize, longest: usize, lim: &EncodingLimits) -> ZSetValue {
        if lim.zset_fits(len, longest) && len <= LISTPACK_CAP { ZSetValue::new() } else { ZSetValue::new_skiplist() }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSetValue::Listpack(lp) => lp.len(),
            ZSetValue::Skiplist(sl) => sl.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            ZSetValue::Listpack(_) => "listpack",
            ZSetValue::Skiplist(_) => "skiplist",
        }
    }

    /// Approximate heap bytes, for MEMORY USAGE and INFO.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        match self {
            ZSetValue::Listpack(lp) => lp.buf.capacity(),
            ZSetValue::Skiplist(sl) => {
                let nodes = sl.nodes.capacity() * size_of::<Node>()
                    + sl.nodes.iter().map(|n| n.upper.len() * size_of::<Level>()).sum::<usize>();
                // Long members: their shared bytes (short ones are inline).
                let members = sl.dict.keys().map(Member::heap_bytes).sum::<usize>();
                // Index map: entry (hash, key, value) plus its slot in the hash table.
                let dict = sl.dict.capacity()
                    * (size_of::<u64>() + size_of::<Member>() + size_of::<f64>() + size_of::<usize>());
                size_of::<SkipList>() + nodes + members + dict + sl.free.capacity() * size_of::<u32>()
            }
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        match self {
            ZSetValue::Listpack(lp) => Iter(IterInner::Listpack(lp.iter())),
            ZSetValue::Skiplist(sl) => Iter(IterInner::Skiplist(sl, sl.next(HEAD, 0))),
        }
    }

    /// A skiplist-encoded set's entries from the highest score down (None for the
    /// listpack encoding): the order Redis's RDB writer gives a skiplist's elements
    /// (`RDB_TYPE_ZSET_2`), so that DUMP payloads and RDB files match byte for byte.
    pub fn skiplist_desc(&self) -> Option<impl Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSetValue::Listpack(_) => None,
            ZSetValue::Skiplist(sl) => {
                let mut x = sl.tail;
                Some(std::iter::from_fn(move || {
                    if x == NIL || x == HEAD {
                        return None;
                    }
                    let n = sl.node(x);
                    x = n.prev;
                    Some((&n.member[..], n.score))
                }))
            }
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(lp) => lp.find(member).map(|(_, e)| e.score),
            ZSetValue::Skiplist(sl) => sl.dict.get(member).copied(),
        }
    }

    /// Switches to the skiplist encoding for good, as Redis's SORT does to every sorted
    /// set it reads (`zsetConvert` before sorting): OBJECT ENCODING, MEMORY USAGE and
    /// the RDB/DUMP encoding then match redis-server's after a SORT.
    pub fn use_skiplist(&mut self) {
        self.convert_to_skiplist();
    }

    /// Switches to the skiplist encoding (growth past a threshold).
    fn convert_to_skiplist(&mut self) {
        if let ZSetValue::Listpack(lp) = self {
            let mut sl = SkipList::new();
            for e in lp.iter() {
                sl.insert(e.member, e.score);
            }
            *self = ZSetValue::Skiplist(Box::new(sl));
        }
    }

    /// Sets `member`'s score, adding it if absent. Returns the old score.
    pub fn insert(&mut self, member: &[u8], score: f64, lim: &EncodingLimits) -> Option<f64> {
        let old = self.score(member);
        match old {
            Some(o) => {
                if o != score || o.to_bits() != score.to_bits() {
                    self.set_existing(member, o, score);
                }
            }
            None => self.insert_new(member, score, lim),
        }
        old
    }

    /// Adds an absent member, converting to the skiplist first when it would cross a
    /// threshold (as Redis's `zsetAdd` does).
    fn insert_new(&mut self, member: &[u8], score: f64, lim: &EncodingLimits) {
        if let ZSetValue::Listpack(lp) = self
            && (lp.len() + 1 > lim.zset_max_listpack_entries.min(LISTPACK_CAP)
                || member.len() > lim.zset_max_listpack_value)
        {
            self.convert_to_skiplist();
        }
        match self {
            ZSetValue::Listpack(lp) => lp.insert(member, score),
            ZSetValue::Skiplist(sl) => sl.insert(member, score),
        }
    }

    fn set_existing(&mut self, member: &[u8], old: f64, new: f64) {
        match self {
            ZSetValue::Listpack(lp) => {
                lp.remove(member);
                lp.insert(member, new);
            }
            ZSetValue::Skiplist(sl) => sl.update_score(member, old, new),
        }
    }

    /// One ZADD element with Redis's `zsetAdd` rules: NX skips existing members, XX
    /// skips new ones, INCR adds to the current score, GT/LT only move the score up/down.
    pub fn add(
        &mut self,
        member: &[u8],
        score: f64,
        f: AddFlags,
        lim: &EncodingLimits,
    ) -> Result<AddOutcome, ScoreIsNan> {
        if score.is_nan() {
            return Err(ScoreIsNan);
        }
        match self.score(member) {
            Some(cur) => {
                if f.nx {
                    return Ok(AddOutcome::Nop);
                }
                let new = if f.incr { score + cur } else { score };
                if new.is_nan() {
                    return Err(ScoreIsNan);
                }
                if (f.lt && new >= cur) || (f.gt && new <= cur) {
                    return Ok(AddOutcome::Nop);
                }
                if new != cur {
                    self.set_existing(member, cur, new);
                    Ok(AddOutcome::Updated(new))
                } else {
                    Ok(AddOutcome::Same(new))
                }
            }
            None if !f.xx => {
                self.insert_new(member, score, lim);
                Ok(AddOutcome::Added(score))
            }
            None => Ok(AddOutcome::Nop),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(lp) => lp.remove(member),
            ZSetValue::Skiplist(sl) => sl.remove(member),
        }
    }

    /// 0-based rank of `member` (from the highest score when `rev`) and its score.
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<(usize, f64)> {
        let (r, s) = match self {
            ZSetValue::Listpack(lp) => lp.find(member).map(|(i, e)| (i, e.score))?,
            ZSetValue::Skiplist(sl) => {
                let s = *sl.dict.get(member)?;
                let r = sl.rank(s, member);
                debug_assert!(r > 0);
                (r - 1, s)
            }
        };
        Some((if rev { self.len() - 1 - r } else { r }, s))
    }

    /// The entry at 0-based rank `r` (ascending).
    pub fn get_by_rank(&self, r: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSetValue::Listpack(lp) => lp.iter().nth(r).map(|e| (e.member, e.score)),
            ZSetValue::Skiplist(sl) => {
                let x = sl.by_rank(r + 1);
                (x != NIL).then(|| (&sl.node(x).member[..], sl.node(x).score))
            }
        }
    }

    /// Entries with 0-based ranks `start..=end`, counted from the highest score when
    /// `rev` (ranks past the end are ignored).
    pub fn range_by_rank(&self, start: usize, end: usize, rev: bool) -> Vec<(&[u8], f64)> {
        let len = self.len();
        if start >= len || start > end {
            return Vec::new();
        }
        let end = end.min(len - 1);
        let n = end - start + 1;
        match self {
            ZSetValue::Listpack(lp) => {
                if rev {
                    let all = lp.entries();
                    all[len - 1 - end..=len - 1 - start].iter().rev().map(|e| (e.member, e.score)).collect()
                } else {
                    lp.iter().skip(start).take(n).map(|e| (e.member, e.score)).collect()
                }
            }
            ZSetValue::Skiplist(sl) => {
                let first = if rev { sl.by_rank(len - start) } else { sl.by_rank(start + 1) };
                sl.walk(first, rev, n, |_| true)
            }
        }
    }

    /// Entries inside `range` in order (descending when `rev`), skipping `offset` of
    /// them and returning at most `limit`.
    pub fn range_by_score(&self, range: &ScoreRange, rev: bool, offset: usize, limit: usize) -> Vec<(&[u8], f64)> {
        self.range_interval(range, rev, offset, limit)
    }

    /// Entries inside the lex `range` (meaningful when all scores are equal), as
    /// [`range_by_score`](Self::range_by_score).
    pub fn range_by_lex(&self, range: &LexRange, rev: bool, offset: usize, limit: usize) -> Vec<(&[u8], f64)> {
        self.range_interval(range, rev, offset, limit)
    }

    fn range_interval(&self, range: &impl Interval, rev: bool, offset: usize, limit: usize) -> Vec<(&[u8], f64)> {
        if limit == 0 || range.empty() {
            return Vec::new();
        }
        match self {
            ZSetValue::Listpack(lp) => {
                // Same walk as Redis's zzlFirstIn*/zzlLastIn*: find the first entry past
                // the near bound, then take entries while the far bound holds.
                if !ends_admit(lp, range) {
                    return Vec::new();
                }
                if rev {
                    let mut all = lp.entries();
                    all.reverse();
                    let Some(p) = all.iter().position(|e| range.lte_max(e.score, e.member)) else {
                        return Vec::new();
                    };
                    all[p..]
                        .iter()
                        .take_while(|e| range.gte_min(e.score, e.member))
                        .skip(offset)
                        .take(limit)
                        .map(|e| (e.member, e.score))
                        .collect()
                } else {
                    lp.iter()
                        .skip_while(|e| !range.gte_min(e.score, e.member))
                        .take_while(|e| range.lte_max(e.score, e.member))
                        .skip(offset)
                        .take(limit)
                        .map(|e| (e.member, e.score))
                        .collect()
                }
            }
            ZSetValue::Skiplist(sl) => {
                let len = sl.len();
                if rev {
                    let Some((_, rank)) = sl.last_in(range) else { return Vec::new() };
                    // Jump over the offset by rank instead of walking it.
                    if offset >= rank {
                        return Vec::new();
                    }
                    let x = sl.by_rank(rank - offset);
                    sl.walk(x, true, limit, |n| range.gte_min(n.score, &n.member))
                } else {
                    let Some((_, rank)) = sl.first_in(range) else { return Vec::new() };
                    if rank + offset > len {
                        return Vec::new();
                    }
                    let x = sl.by_rank(rank + offset);
                    sl.walk(x, false, limit, |n| range.lte_max(n.score, &n.member))
                }
            }
        }
    }

    /// Number of entries inside `range` (ZCOUNT).
    pub fn count_by_score(&self, range: &ScoreRange) -> usize {
        self.count_interval(range)
    }

    /// Number of entries inside the lex `range` (ZLEXCOUNT).
    pub fn count_by_lex(&self, range: &LexRange) -> usize {
        self.count_interval(range)
    }

    fn count_interval(&self, range: &impl Interval) -> usize {
        match self {
            ZSetValue::Listpack(lp) if !ends_admit(lp, range) => 0,
            ZSetValue::Listpack(lp) => lp
                .iter()
                .skip_while(|e| !range.gte_min(e.score, e.member))
                .take_while(|e| range.lte_max(e.score, e.member))
                .count(),
            ZSetValue::Skiplist(sl) => match (sl.first_in(range), sl.last_in(range)) {
                (Some((_, a)), Some((_, b))) if b >= a => b - a + 1,
                _ => 0,
            },
        }
    }

    /// Removes 0-based ranks `start..=end` (clamped to the set). Returns how many.
    pub fn remove_range_by_rank(&mut self, start: usize, end: usize) -> usize {
        let len = self.len();
        if start >= len || start > end {
            return 0;
        }
        let end = end.min(len - 1);
        match self {
            ZSetValue::Listpack(lp) => lp.remove_ranks(start, end),
            ZSetValue::Skiplist(sl) => sl.remove_ranks(start + 1, end + 1),
        }
    }

    pub fn remove_range_by_score(&mut self, range: &ScoreRange) -> usize {
        self.remove_interval(range)
    }

    pub fn remove_range_by_lex(&mut self, range: &LexRange) -> usize {
        self.remove_interval(range)
    }

    fn remove_interval(&mut self, range: &impl Interval) -> usize {
        if range.empty() {
            return 0;
        }
        match self {
            ZSetValue::Listpack(lp) if !ends_admit(lp, range) => 0,
            ZSetValue::Listpack(lp) => lp.remove_interval(range),
            ZSetValue::Skiplist(sl) => sl.remove_interval(range),
        }
    }

    /// Removes and returns up to `count` entries from the low end (or the high end when
    /// `max`), in pop order (ZPOPMIN/ZPOPMAX).
    pub fn pop(&mut self, count: usize, max: bool) -> Vec<(Vec<u8>, f64)> {
        let len = self.len();
        let n = count.min(len);
        if n == 0 {
            return Vec::new();
        }
        let (start, end) = if max { (len - n, len - 1) } else { (0, n - 1) };
        // The first n in pop order are ranks 0..n counted from the popped end.
        let popped: Vec<(Vec<u8>, f64)> =
            self.range_by_rank(0, n - 1, max).into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
        self.remove_range_by_rank(start, end);
        popped
    }

    /// The entry at position `i < len` of a fixed (not score) order that is O(1) to
    /// index in the large encoding: for uniform random picks (ZRANDMEMBER).
    pub fn pick(&self, i: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSetValue::Listpack(lp) => lp.iter().nth(i).map(|e| (e.member, e.score)),
            ZSetValue::Skiplist(sl) => sl.dict.get_index(i).map(|(k, v)| (&k[..], *v)),
        }
    }

    /// One ZSCAN step from `cursor` visiting about `count` entries; returns the next
    /// cursor (0 when done). The compact encoding answers everything at once, as Redis
    /// does for listpacks; the large one walks dictionary slots from the top down, with
    /// `Db::scan`'s cursor meaning (`c > 0`: slots `c-1` and below remain).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], f64)>) {
        match self {
            ZSetValue::Listpack(lp) => (0, lp.iter().map(|e| (e.member, e.score)).collect()),
            ZSetValue::Skiplist(sl) => {
                let mut pos = if cursor == 0 { sl.dict.len() } else { (cursor as usize).min(sl.dict.len()) };
                let mut out = Vec::with_capacity(count.min(pos));
                let mut visited = 0;
                while pos > 0 && visited < count.max(1) {
                    pos -= 1;
                    visited += 1;
                    let (k, v) = sl.dict.get_index(pos).expect("index in range");
                    out.push((&k[..], *v));
                }
                (pos as u64, out)
            }
        }
    }

    /// Verifies the encoding's invariants (tests only).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        match self {
            ZSetValue::Listpack(lp) => {
                let es = lp.entries();
                assert_eq!(es.len(), lp.len());
                assert!(es.len() <= LISTPACK_CAP);
                for w in es.windows(2) {
                    assert_eq!(cmp_entry(w[0].score, w[0].member, w[1].score, w[1].member), Ordering::Less);
                }
                if let Some(last) = es.last() {
                    assert_eq!(last.end, lp.buf.len());
                } else {
                    assert!(lp.buf.is_empty());
                }
            }
            ZSetValue::Skiplist(sl) => sl.check(),
        }
    }
}

#[cfg(test)]
#[path = "zset_tests.rs"]
mod tests;
