//! Sorted sets: unique binary-safe members, each with an IEEE double score, ordered by
//! (score, member) where equal scores fall back to byte-wise member order (`memcmp`).
//!
//! Job: hold one sorted set and answer everything ZADD, ZRANGE, ZRANK, ZCOUNT, ZREM*,
//! ZPOP*, ZRANDMEMBER and ZSCAN ask of it, in two encodings that Redis users know from
//! `OBJECT ENCODING`:
//! - **listpack** (small sets, at most [`MAX_LISTPACK_ENTRIES`] members of at most
//!   [`MAX_LISTPACK_VALUE`] bytes): one contiguous `Vec<u8>`, a 2-byte entry count then
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
//! Non-goals: RESP, argument syntax, keyspace and TTLs (the `cmd::zset` family), the
//! `OBJECT`/`CONFIG` thresholds being tunable (they are Redis 7.0's defaults, fixed).
//!
//! Depends on: std, `indexmap`, `foldhash`.

use indexmap::IndexMap;
use std::cmp::Ordering;
use std::sync::Arc;

/// Redis 7.0's `zset-max-listpack-entries` default.
pub const MAX_LISTPACK_ENTRIES: usize = 128;
/// Redis 7.0's `zset-max-listpack-value` default (bytes of one member).
pub const MAX_LISTPACK_VALUE: usize = 64;

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

// ---- Listpack ---------------------------------------------------------------------------

/// The compact encoding (see the module doc for the byte layout).
#[derive(Clone, Debug, Default)]
pub struct Listpack {
    /// Empty, or a 2-byte little-endian entry count followed by the entries.
    buf: Vec<u8>,
}

/// One decoded listpack entry and where its bytes are.
#[derive(Clone, Copy, Debug)]
struct LpEntry<'a> {
    start: usize,
    end: usize,
    member: &'a [u8],
    score: f64,
}

const LP_HEADER: usize = 2;
/// Integers up to 2^53 are exact in an `f64`; beyond that the varint form could round.
const LP_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

fn write_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn read_varint(buf: &[u8], mut pos: usize) -> (u64, usize) {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[pos];
        pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return (v, pos);
        }
        shift += 7;
    }
}

/// The integer form of `score` if the compact varint can hold it exactly.
#[inline]
fn score_as_int(score: f64) -> Option<i64> {
    let exact = score.fract() == 0.0 && score.abs() <= LP_INT_LIMIT && !(score == 0.0 && score.is_sign_negative());
    exact.then_some(score as i64)
}

fn encode_entry(out: &mut Vec<u8>, member: &[u8], score: f64) {
    match score_as_int(score) {
        Some(i) => {
            write_varint(out, (member.len() as u64) << 1 | 1);
            out.extend_from_slice(member);
            write_varint(out, ((i << 1) ^ (i >> 63)) as u64);
        }
        None => {
            write_varint(out, (member.len() as u64) << 1);
            out.extend_from_slice(member);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }
}

#[inline]
fn decode_entry(buf: &[u8], start: usize) -> LpEntry<'_> {
    let (h, pos) = read_varint(buf, start);
    let mlen = (h >> 1) as usize;
    let member = &buf[pos..pos + mlen];
    let pos = pos + mlen;
    let (score, end) = if h & 1 == 1 {
        let (z, end) = read_varint(buf, pos);
        let i = ((z >> 1) as i64) ^ -((z & 1) as i64);
        (i as f64, end)
    } else {
        let bytes: [u8; 8] = buf[pos..pos + 8].try_into().expect("8 score bytes");
        (f64::from_le_bytes(bytes), pos + 8)
    };
    LpEntry { start, end, member, score }
}

/// The end of a score that starts at `pos`.
#[inline]
fn skip_score(buf: &[u8], pos: usize, is_int: bool) -> usize {
    if is_int {
        let mut p = pos;
        while buf[p] >= 0x80 {
            p += 1;
        }
        p + 1
    } else {
        pos + 8
    }
}

/// Walks a listpack's entries in order.
#[derive(Clone)]
struct LpIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for LpIter<'a> {
    type Item = LpEntry<'a>;

    #[inline]
    fn next(&mut self) -> Option<LpEntry<'a>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let e = decode_entry(self.buf, self.pos);
        self.pos = e.end;
        Some(e)
    }
}

impl Listpack {
    fn len(&self) -> usize {
        if self.buf.is_empty() { 0 } else { u16::from_le_bytes([self.buf[0], self.buf[1]]) as usize }
    }

    fn set_len(&mut self, n: usize) {
        if n == 0 {
            // An empty set owns no memory, like a fresh one.
            self.buf = Vec::new();
            return;
        }
        if self.buf.is_empty() {
            self.buf.extend_from_slice(&[0, 0]);
        }
        self.buf[..LP_HEADER].copy_from_slice(&(n as u16).to_le_bytes());
    }

    fn iter(&self) -> LpIter<'_> {
        LpIter { buf: &self.buf, pos: LP_HEADER.min(self.buf.len()) }
    }

    fn entries(&self) -> Vec<LpEntry<'_>> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.iter());
        v
    }

    /// The entry holding `member` and its position. Entries that cannot match are
    /// skipped without decoding their scores.
    fn find(&self, member: &[u8]) -> Option<(usize, LpEntry<'_>)> {
        let buf = &self.buf[..];
        let mut pos = LP_HEADER;
        let mut i = 0;
        while pos < buf.len() {
            let (h, p) = read_varint(buf, pos);
            let mlen = (h >> 1) as usize;
            if mlen == member.len() && &buf[p..p + mlen] == member {
                return Some((i, decode_entry(buf, pos)));
            }
            pos = skip_score(buf, p + mlen, h & 1 == 1);
            i += 1;
        }
        None
    }

    /// Inserts a member known to be absent at its place in the order.
    fn insert(&mut self, member: &[u8], score: f64) {
        let at = self
            .iter()
            .find(|e| cmp_entry(e.score, e.member, score, member) == Ordering::Greater)
            .map(|e| e.start)
            .unwrap_or(self.buf.len().max(LP_HEADER));
        let n = self.len();
        self.set_len(n + 1);
        let mut enc = Vec::with_capacity(member.len() + 10);
        encode_entry(&mut enc, member, score);
        self.buf.splice(at..at, enc);
    }

    /// Removes the bytes `start..end` holding `count` entries.
    fn remove_bytes(&mut self, start: usize, end: usize, count: usize) {
        if count == 0 {
            return;
        }
        let n = self.len() - count;
        self.buf.drain(start..end);
        self.set_len(n);
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, e) = self.find(member)?;
        let (start, end, score) = (e.start, e.end, e.score);
        self.remove_bytes(start, end, 1);
        Some(score)
    }

    /// Removes the entries with (0-based) ranks `start..=end`.
    fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let mut first = None;
        let mut last = 0;
        for (i, e) in self.iter().enumerate().skip(start).take(end + 1 - start) {
            if i == start {
                first = Some(e.start);
            }
            last = e.end;
        }
        match first {
            Some(f) => {
                let n = end + 1 - start;
                self.remove_bytes(f, last, n);
                n
            }
            None => 0,
        }
    }

    /// Removes the run of entries inside `range`. Like Redis's `zzlDeleteRangeBy*`, the
    /// run starts at the first entry at or above the minimum and stops at the first
    /// entry past the maximum.
    fn remove_interval(&mut self, range: &impl Interval) -> usize {
        let mut first = None;
        let mut last = 0;
        let mut n = 0;
        for e in self.iter() {
            if first.is_none() {
                if !range.gte_min(e.score, e.member) {
                    continue;
                }
                first = Some(e.start);
            }
            if !range.lte_max(e.score, e.member) {
                break;
            }
            last = e.end;
            n += 1;
        }
        if let Some(f) = first
            && n > 0
        {
            self.remove_bytes(f, last, n);
        }
        n
    }
}

// ---- Skiplist ---------------------------------------------------------------------------

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
const MAX_LEVEL: usize = 32;

#[derive(Clone, Copy, Debug)]
struct Level {
    next: u32,
    /// Number of level-0 steps this link covers (Redis's `span`); rank arithmetic.
    span: u32,
    /// The score of `next` (meaningless when `next` is NIL). A search compares against
    /// this copy, so a step that stops at this link (the next node's score is higher)
    /// costs no access to the next node: on a large set that is a cache miss saved on
    /// every level of every search. Kept in sync wherever `next` or a score changes.
    score: f64,
}

const BLANK: Level = Level { next: NIL, span: 0, score: 0.0 };

/// Longest member stored inline (24 bytes in all, like `SmallBytes`).
const INLINE_MEMBER: usize = 22;

/// A skiplist member. Short ones (most real members: ids, `user:1234`, ...) live inline
/// in the node and again in the dictionary entry: no allocation per insert, and a
/// member comparison reads bytes already loaded with the node or entry instead of
/// following a pointer. Long ones are one `Arc` allocation shared by node and dictionary.
#[derive(Clone)]
enum Member {
    Inline { len: u8, buf: [u8; INLINE_MEMBER] },
    Shared(Arc<[u8]>),
}

impl Member {
    #[inline]
    fn new(b: &[u8]) -> Member {
        if b.len() <= INLINE_MEMBER {
            let mut buf = [0u8; INLINE_MEMBER];
            buf[..b.len()].copy_from_slice(b);
            Member::Inline { len: b.len() as u8, buf }
        } else {
            Member::Shared(Arc::from(b))
        }
    }

    const EMPTY: Member = Member::Inline { len: 0, buf: [0; INLINE_MEMBER] };

    /// Bytes allocated outside the node or entry: the shared bytes and their counters.
    fn heap_bytes(&self) -> usize {
        match self {
            Member::Inline { .. } => 0,
            Member::Shared(a) => a.len() + 2 * std::mem::size_of::<usize>(),
        }
    }
}

impl std::ops::Deref for Member {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Member::Inline { len, buf } => &buf[..*len as usize],
            Member::Shared(a) => a,
        }
    }
}

impl std::borrow::Borrow<[u8]> for Member {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Member {
    #[inline]
    fn eq(&self, other: &Member) -> bool {
        **self == **other
    }
}

impl Eq for Member {}

impl std::hash::Hash for Member {
    /// Hashes exactly as `[u8]` does: the dictionary is queried with `&[u8]`.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// Levels kept inside the node itself. With Redis's p = 1/4, 94% of nodes have at most
/// two levels, so a search step (read the next node's score, then its link on the same
/// level) stays within one node: one cache miss per step on a large set instead of two
/// (node, then a separately allocated level array).
const LOW_LEVELS: usize = 2;

#[derive(Clone, Debug)]
struct Node {
    member: Member,
    score: f64,
    prev: u32,
    /// Levels 0 and 1 (level 1 unused by one-level nodes).
    low: [Level; LOW_LEVELS],
    /// Levels 2 and up; empty (no allocation) for most nodes.
    upper: Box<[Level]>,
}

impl Node {
    fn new(member: Member, score: f64, lvl: usize) -> Node {
        let mut n = Node { member, score, prev: NIL, low: [BLANK; LOW_LEVELS], upper: Box::default() };
        n.set_levels(lvl);
        n
    }

    /// Resets the node to `lvl` blank levels.
    fn set_levels(&mut self, lvl: usize) {
        self.low = [BLANK; LOW_LEVELS];
        let up = lvl.saturating_sub(LOW_LEVELS);
        if self.upper.len() != up {
            self.upper = vec![BLANK; up].into_boxed_slice();
        } else {
            self.upper.fill(BLANK);
        }
    }

    #[inline]
    fn lv(&self, i: usize) -> &Level {
        if i < LOW_LEVELS { &self.low[i] } else { &self.upper[i - LOW_LEVELS] }
    }

    #[inline]
    fn lv_mut(&mut self, i: usize) -> &mut Level {
        if i < LOW_LEVELS { &mut self.low[i] } else { &mut self.upper[i - LOW_LEVELS] }
    }
}

/// The large encoding: skiplist with spans in an arena, plus the member dictionary.
#[derive(Clone, Debug)]
pub struct SkipList {
    /// Node 0 is the header (no member, `MAX_LEVEL` levels).
    nodes: Vec<Node>,
    /// Released arena slots, reused before the arena grows.
    free: Vec<u32>,
    tail: u32,
    /// Levels in use (at least 1).
    level: usize,
    rng: u64,
    dict: IndexMap<Member, f64, Hasher>,
}

/// The per-level predecessors of a position, as Redis's `update[]`.
type Path = [u32; MAX_LEVEL];

impl SkipList {
    fn new() -> SkipList {
        let head = Node::new(Member::EMPTY, 0.0, MAX_LEVEL);
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            tail: NIL,
            level: 1,
            rng: 0x2545_f491_4f6c_dd1d,
            dict: IndexMap::with_hasher(Hasher::default()),
        }
    }

    fn len(&self) -> usize {
        self.dict.len()
    }

    #[inline]
    fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    #[inline]
    fn next(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].lv(i).next
    }

    #[inline]
    fn span(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].lv(i).span
    }

    #[inline]
    fn level_mut(&mut self, x: u32, i: usize) -> &mut Level {
        self.nodes[x as usize].lv_mut(i)
    }

    /// Redis's `zslRandomLevel`: each extra level with probability 1/4.
    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            let mut x = self.rng;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.rng = x;
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 48;
            if r & 0xffff < 0xffff / 4 && level < MAX_LEVEL {
                level += 1;
            } else {
                return level;
            }
        }
    }

    fn alloc(&mut self, member: Member, score: f64, lvl: usize) -> u32 {
        match self.free.pop() {
            Some(x) => {
                let n = &mut self.nodes[x as usize];
                n.member = member;
                n.score = score;
                n.prev = NIL;
                n.set_levels(lvl);
                x
            }
            None => {
                let x = self.nodes.len() as u32;
                assert!(x != NIL, "sorted set arena full");
                self.nodes.push(Node::new(member, score, lvl));
                x
            }
        }
    }

    fn release(&mut self, x: u32) {
        let n = &mut self.nodes[x as usize];
        n.member = Member::EMPTY;
        n.upper = Box::default();
        self.free.push(x);
    }

    /// Predecessors of (score, member) on every level, with their ranks.
    fn path(&self, score: f64, member: &[u8]) -> (Path, [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let l = *self.nodes[x as usize].lv(i);
                // The link's copy of the next score decides most steps; only a tie
                // reads the next node (for its member).
                if l.next == NIL || l.score > score || (l.score >= score && *self.node(l.next).member >= *member) {
                    break;
                }
                rank[i] = rank[i].wrapping_add(l.span);
                x = l.next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Redis's `zslInsert`: links a new node for a member not in the list.
    fn insert_node(&mut self, member: Member, score: f64) -> u32 {
        let (mut update, mut rank) = self.path(score, &member);
        let lvl = self.random_level();
        if lvl > self.level {
            let len = self.len() as u32;
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.level_mut(HEAD, i).span = len;
            }
            self.level = lvl;
        }
        let x = self.alloc(member, score, lvl);
        for i in 0..lvl {
            let u = update[i];
            let ul = *self.nodes[u as usize].lv(i);
            let xl = self.level_mut(x, i);
            xl.next = ul.next;
            xl.score = ul.score;
            xl.span = ul.span.wrapping_sub(rank[0].wrapping_sub(rank[i]));
            let ulm = self.level_mut(u, i);
            ulm.next = x;
            ulm.score = score;
            ulm.span = rank[0].wrapping_sub(rank[i]).wrapping_add(1);
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            let l = self.level_mut(u, i);
            l.span = l.span.wrapping_add(1);
        }
        let prev = if update[0] == HEAD { NIL } else { update[0] };
        self.nodes[x as usize].prev = prev;
        let n0 = self.next(x, 0);
        if n0 != NIL {
            self.nodes[n0 as usize].prev = x;
        } else {
            self.tail = x;
        }
        x
    }

    /// Redis's `zslDeleteNode`: unlinks `x` given its predecessors (it is not released).
    fn unlink(&mut self, x: u32, update: &Path) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if self.next(u, i) == x {
                let xl = *self.nodes[x as usize].lv(i);
                let l = self.level_mut(u, i);
                l.span = l.span.wrapping_add(xl.span).wrapping_sub(1);
                l.next = xl.next;
                l.score = xl.score;
            } else {
                let l = self.level_mut(u, i);
                l.span = l.span.wrapping_sub(1);
            }
        }
        let n0 = self.next(x, 0);
        let p = self.node(x).prev;
        if n0 != NIL {
            self.nodes[n0 as usize].prev = p;
        } else {
            self.tail = p;
        }
        while self.level > 1 && self.next(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
    }

    /// Unlinks and releases `x`, and drops it from the dictionary.
    fn delete_node(&mut self, x: u32, update: &Path) {
        self.unlink(x, update);
        let member = std::mem::replace(&mut self.nodes[x as usize].member, Member::EMPTY);
        self.dict.swap_remove(&*member);
        self.release(x);
    }

    fn insert(&mut self, member: &[u8], score: f64) {
        let m = Member::new(member);
        self.insert_node(m.clone(), score);
        self.dict.insert(m, score);
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = *self.dict.get(member)?;
        let (update, _) = self.path(score, member);
        let x = self.next(update[0], 0);
        debug_assert!(x != NIL && &*self.node(x).member == member, "dictionary and skiplist agree");
        self.delete_node(x, &update);
        Some(score)
    }

    /// Redis's `zslUpdateScore`: moves a member to a new score, in place when its
    /// neighbours allow it.
    fn update_score(&mut self, member: &[u8], old: f64, new: f64) {
        let (update, _) = self.path(old, member);
        let x = self.next(update[0], 0);
        debug_assert!(x != NIL && &*self.node(x).member == member);
        let p = self.node(x).prev;
        let n = self.next(x, 0);
        let prev_ok = p == NIL || cmp_entry(self.node(p).score, &self.node(p).member, new, member) == Ordering::Less;
        let next_ok = n == NIL || cmp_entry(self.node(n).score, &self.node(n).member, new, member) == Ordering::Greater;
        if prev_ok && next_ok {
            self.nodes[x as usize].score = new;
            // The links into x carry its score too.
            for (i, &u) in update.iter().enumerate().take(self.level) {
                let l = self.level_mut(u, i);
                if l.next == x {
                    l.score = new;
                }
            }
        } else {
            self.unlink(x, &update);
            let m = std::mem::replace(&mut self.nodes[x as usize].member, Member::EMPTY);
            self.release(x);
            self.insert_node(m, new);
        }
        *self.dict.get_mut(member).expect("member present") = new;
    }

    /// 1-based rank of (score, member), 0 if absent (Redis's `zslGetRank`).
    fn rank(&self, score: f64, member: &[u8]) -> usize {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = *self.nodes[x as usize].lv(i);
                if l.next == NIL || l.score > score || (l.score >= score && *self.node(l.next).member > *member) {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
            if x != HEAD && &*self.node(x).member == member {
                return rank;
            }
        }
        0
    }

    /// The node at 1-based `rank`, or NIL.
    fn by_rank(&self, rank: usize) -> u32 {
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL || traversed + self.span(x, i) as usize > rank {
                    break;
                }
                traversed += self.span(x, i) as usize;
                x = n;
            }
            if traversed == rank {
                return if x == HEAD { NIL } else { x };
            }
        }
        NIL
    }

    /// First node inside `range` and its 1-based rank (Redis's `zslFirstIn*Range`).
    fn first_in(&self, range: &impl Interval) -> Option<(u32, usize)> {
        if range.empty() || self.tail == NIL {
            return None;
        }
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL {
                    break;
                }
                let nn = self.node(n);
                if range.gte_min(nn.score, &nn.member) {
                    break;
                }
                rank += self.span(x, i) as usize;
                x = n;
            }
        }
        let x = self.next(x, 0);
        if x == NIL {
            return None;
        }
        let n = self.node(x);
        range.lte_max(n.score, &n.member).then_some((x, rank + 1))
    }

    /// Last node inside `range` and its 1-based rank (Redis's `zslLastIn*Range`).
    fn last_in(&self, range: &impl Interval) -> Option<(u32, usize)> {
        if range.empty() || self.tail == NIL {
            return None;
        }
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL {
                    break;
                }
                let nn = self.node(n);
                if !range.lte_max(nn.score, &nn.member) {
                    break;
                }
                rank += self.span(x, i) as usize;
                x = n;
            }
        }
        if x == HEAD {
            return None;
        }
        let n = self.node(x);
        range.gte_min(n.score, &n.member).then_some((x, rank))
    }

    /// Deletes the run inside `range` (Redis's `zslDeleteRangeBy{Score,Lex}`).
    fn remove_interval(&mut self, range: &impl Interval) -> usize {
        if range.empty() {
            return 0;
        }
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL {
                    break;
                }
                let nn = self.node(n);
                if range.gte_min(nn.score, &nn.member) {
                    break;
                }
                x = n;
            }
            update[i] = x;
        }
        let mut x = self.next(x, 0);
        let mut removed = 0;
        while x != NIL {
            let n = self.node(x);
            if !range.lte_max(n.score, &n.member) {
                break;
            }
            let next = self.next(x, 0);
            self.delete_node(x, &update);
            removed += 1;
            x = next;
        }
        removed
    }

    /// Deletes 1-based ranks `start..=end` (Redis's `zslDeleteRangeByRank`).
    fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let n = self.next(x, i);
                if n == NIL || traversed + self.span(x, i) as usize >= start {
                    break;
                }
                traversed += self.span(x, i) as usize;
                x = n;
            }
            update[i] = x;
        }
        traversed += 1;
        let mut x = self.next(x, 0);
        let mut removed = 0;
        while x != NIL && traversed <= end {
            let next = self.next(x, 0);
            self.delete_node(x, &update);
            removed += 1;
            traversed += 1;
            x = next;
        }
        removed
    }

    /// Walks `count` level-0 steps from `x` forward (or backward), collecting entries
    /// for which `keep` holds, stopping at the first that fails.
    fn walk(&self, mut x: u32, rev: bool, limit: usize, keep: impl Fn(&Node) -> bool) -> Vec<(&[u8], f64)> {
        let mut out = Vec::new();
        while x != NIL && x != HEAD && out.len() < limit {
            let n = self.node(x);
            if !keep(n) {
                break;
            }
            out.push((&n.member[..], n.score));
            x = if rev { n.prev } else { n.low[0].next };
        }
        out
    }

    /// Checks every structural invariant (spans, back links, order, dictionary).
    #[cfg(test)]
    fn check(&self) {
        let mut x = self.next(HEAD, 0);
        let mut prev = NIL;
        let mut count = 0;
        let mut pos = vec![0usize; self.nodes.len()];
        while x != NIL {
            count += 1;
            pos[x as usize] = count;
            let n = self.node(x);
            assert_eq!(n.prev, prev, "back link");
            if prev != NIL {
                let p = self.node(prev);
                assert_eq!(cmp_entry(p.score, &p.member, n.score, &n.member), Ordering::Less, "order");
            }
            assert_eq!(self.dict.get(&*n.member).copied().map(f64::to_bits), Some(n.score.to_bits()), "dict");
            prev = x;
            x = n.low[0].next;
        }
        assert_eq!(self.tail, prev, "tail");
        assert_eq!(count, self.dict.len(), "length");
        for i in 0..self.level {
            let mut x = HEAD;
            let mut r = 0usize;
            while self.next(x, i) != NIL {
                let n = self.next(x, i);
                let cached = self.node(x).lv(i).score;
                assert_eq!(cached.to_bits(), self.node(n).score.to_bits(), "link score at level {i}");
                r += self.span(x, i) as usize;
                assert_eq!(pos[n as usize], r, "span at level {i}");
                x = n;
            }
        }
        for i in self.level..MAX_LEVEL {
            assert_eq!(self.next(HEAD, i), NIL, "unused header level {i}");
        }
    }
}

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
    pub fn from_pairs<M: AsRef<[u8]>>(pairs: impl IntoIterator<Item = (M, f64)>) -> ZSetValue {
        let pairs: Vec<(M, f64)> = pairs.into_iter().collect();
        let small =
            pairs.len() <= MAX_LISTPACK_ENTRIES && pairs.iter().all(|(m, _)| m.as_ref().len() <= MAX_LISTPACK_VALUE);
        let mut z = if small { ZSetValue::new() } else { ZSetValue::new_skiplist() };
        for (m, s) in &pairs {
            z.insert(m.as_ref(), *s);
        }
        z
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

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetValue::Listpack(lp) => lp.find(member).map(|(_, e)| e.score),
            ZSetValue::Skiplist(sl) => sl.dict.get(member).copied(),
        }
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
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let old = self.score(member);
        match old {
            Some(o) => {
                if o != score || o.to_bits() != score.to_bits() {
                    self.set_existing(member, o, score);
                }
            }
            None => self.insert_new(member, score),
        }
        old
    }

    /// Adds an absent member, converting to the skiplist first when it would cross a
    /// threshold (as Redis's `zsetAdd` does).
    fn insert_new(&mut self, member: &[u8], score: f64) {
        if let ZSetValue::Listpack(lp) = self
            && (lp.len() + 1 > MAX_LISTPACK_ENTRIES || member.len() > MAX_LISTPACK_VALUE)
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
    pub fn add(&mut self, member: &[u8], score: f64, f: AddFlags) -> Result<AddOutcome, ScoreIsNan> {
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
                self.insert_new(member, score);
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
                assert!(es.len() <= MAX_LISTPACK_ENTRIES);
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
