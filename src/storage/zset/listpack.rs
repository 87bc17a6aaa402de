//! The compact encoding of a small sorted set (see `storage::zset`'s doc for the byte
//! layout): one buffer, entries in order, every operation a linear walk.

use super::*;

/// The compact encoding (see the module doc for the byte layout).
#[derive(Clone, Debug, Default)]
pub struct Listpack {
    /// Empty, or a 2-byte little-endian entry count followed by the entries.
    pub(super) buf: Vec<u8>,
}

/// One decoded listpack entry and where its bytes are.
#[derive(Clone, Copy, Debug)]
pub(super) struct LpEntry<'a> {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) member: &'a [u8],
    pub(super) score: f64,
}

pub(super) const LP_HEADER: usize = 2;
/// Integers up to 2^53 are exact in an `f64`; beyond that the varint form could round.
pub(super) const LP_INT_LIMIT: f64 = 9_007_199_254_740_992.0;

pub(super) fn write_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
pub(super) fn read_varint(buf: &[u8], mut pos: usize) -> (u64, usize) {
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

/// The integer form of `score` if the compact varint can hold it exactly. -0 is
/// stored as the integer 0, so it reads back as 0: Redis's listpack does the same
/// (`double2ll`), so a small sorted set loses a score's negative zero (`ZADD z -0 m`
/// then `ZSCORE z m` is "0") while the skiplist encoding keeps it.
#[inline]
pub(super) fn score_as_int(score: f64) -> Option<i64> {
    let exact = score.fract() == 0.0 && score.abs() <= LP_INT_LIMIT;
    exact.then_some(score as i64)
}

pub(super) fn encode_entry(out: &mut Vec<u8>, member: &[u8], score: f64) {
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
pub(super) fn decode_entry(buf: &[u8], start: usize) -> LpEntry<'_> {
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
pub(super) fn skip_score(buf: &[u8], pos: usize, is_int: bool) -> usize {
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
pub(super) struct LpIter<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
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
    pub(super) fn len(&self) -> usize {
        if self.buf.is_empty() { 0 } else { u16::from_le_bytes([self.buf[0], self.buf[1]]) as usize }
    }

    pub(super) fn set_len(&mut self, n: usize) {
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

    pub(super) fn iter(&self) -> LpIter<'_> {
        LpIter { buf: &self.buf, pos: LP_HEADER.min(self.buf.len()) }
    }

    pub(super) fn entries(&self) -> Vec<LpEntry<'_>> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.iter());
        v
    }

    /// The entry holding `member` and its position. Entries that cannot match are
    /// skipped without decoding their scores.
    pub(super) fn find(&self, member: &[u8]) -> Option<(usize, LpEntry<'_>)> {
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
    pub(super) fn insert(&mut self, member: &[u8], score: f64) {
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
    pub(super) fn remove_bytes(&mut self, start: usize, end: usize, count: usize) {
        if count == 0 {
            return;
        }
        let n = self.len() - count;
        self.buf.drain(start..end);
        self.set_len(n);
    }

    pub(super) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, e) = self.find(member)?;
        let (start, end, score) = (e.start, e.end, e.score);
        self.remove_bytes(start, end, 1);
        Some(score)
    }

    /// Removes the entries with (0-based) ranks `start..=end`.
    pub(super) fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
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
    pub(super) fn remove_interval(&mut self, range: &impl Interval) -> usize {
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
