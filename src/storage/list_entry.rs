//! A list's entry encoding (see `storage::list`): `[header varint][payload][backlen]`,
//! with compact integers, and the element and needle types the list hands out.
//!
//! Depends on: std, `util::num`.

use crate::util::num;
use std::fmt;

/// One element as stored: its bytes, or the integer its canonical text encodes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

/// Integers stored in their compact form: the zigzag value plus the tag bit must fit in
/// a u64 header, so |v| < 2^62. Larger ones are kept as text.
#[inline]
pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub(super) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

impl<'a> Elem<'a> {
    /// How `b` is stored: as an integer when it is the canonical decimal form of one
    /// small enough for the compact encoding (so it reads back byte-identical).
    #[inline]
    pub fn classify(b: &'a [u8]) -> Elem<'a> {
        if !b.is_empty()
            && b.len() <= 20
            && let Some(v) = num::parse_i64(b)
            && zigzag(v) >> 63 == 0
        {
            Elem::Int(v)
        } else {
            Elem::Bytes(b)
        }
    }

    /// The element's bytes as an owned vector.
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Bytes(b) => b.to_vec(),
            Elem::Int(v) => {
                let mut out = Vec::with_capacity(20);
                num::write_i64(&mut out, v);
                out
            }
        }
    }

    /// Whether this element equals the needle's bytes.
    #[inline]
    pub fn matches(self, n: &Needle) -> bool {
        match self {
            Elem::Bytes(b) => b == n.bytes,
            Elem::Int(v) => n.int == Some(v),
        }
    }

    fn header(self) -> u64 {
        match self {
            Elem::Bytes(b) => (b.len() as u64) << 1,
            Elem::Int(v) => (zigzag(v) << 1) | 1,
        }
    }

    fn payload(self) -> &'a [u8] {
        match self {
            Elem::Bytes(b) => b,
            Elem::Int(_) => &[],
        }
    }
}

impl fmt::Debug for Elem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Elem::Bytes(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Elem::Int(v) => write!(f, "{v}"),
        }
    }
}

/// A value searched for (LREM, LPOS, LINSERT's pivot), classified once so comparing
/// against compact integer entries needs no formatting.
pub struct Needle<'a> {
    bytes: &'a [u8],
    int: Option<i64>,
}

impl<'a> Needle<'a> {
    pub fn new(bytes: &'a [u8]) -> Needle<'a> {
        let int = match Elem::classify(bytes) {
            Elem::Int(v) => Some(v),
            Elem::Bytes(_) => None,
        };
        Needle { bytes, int }
    }
}

// ---- Entry encoding ---------------------------------------------------------------------

#[inline]
pub(super) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
pub(super) fn put_varint(dst: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            dst[i] = b;
            return i + 1;
        }
        dst[i] = b | 0x80;
        i += 1;
    }
}

#[inline]
pub(super) fn get_varint(src: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let b = src[i];
        v |= u64::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (v, i);
        }
        shift += 7;
    }
}

/// Reads the backlen that ends at `end`: the size of the entry's header + payload.
#[inline]
pub(super) fn get_backlen(src: &[u8], end: usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    let mut p = end;
    loop {
        p -= 1;
        let b = src[p];
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// Bytes an entry for `e` takes.
#[inline]
pub(super) fn encoded_len(e: Elem) -> usize {
    let body = varint_len(e.header()) + e.payload().len();
    body + varint_len(body as u64)
}

/// Writes the entry for `e` into `dst`, which is exactly `encoded_len(e)` long.
pub(super) fn write_entry(dst: &mut [u8], e: Elem) {
    let h = put_varint(dst, e.header());
    let p = e.payload();
    dst[h..h + p.len()].copy_from_slice(p);
    let body = h + p.len();
    let mut tmp = [0u8; 10];
    let n = put_varint(&mut tmp, body as u64);
    for (j, b) in tmp[..n].iter().rev().enumerate() {
        dst[body + j] = *b;
    }
}

/// The element at byte `pos` of `data` and the size of its entry.
#[inline]
pub(super) fn decode(data: &[u8], pos: usize) -> (Elem<'_>, usize) {
    let b0 = data[pos];
    if b0 < 0x80 {
        // One-byte header, the common case: an integer in -32..32 or a string shorter
        // than 64 bytes, whose backlen is then one byte too.
        if b0 & 1 == 1 {
            return (Elem::Int(unzigzag(u64::from(b0 >> 1))), 2);
        }
        let n = usize::from(b0 >> 1);
        return (Elem::Bytes(&data[pos + 1..pos + 1 + n]), n + 2);
    }
    let (h, hl) = get_varint(&data[pos..]);
    if h & 1 == 1 {
        (Elem::Int(unzigzag(h >> 1)), hl + varint_len(hl as u64))
    } else {
        let n = (h >> 1) as usize;
        let start = pos + hl;
        let body = hl + n;
        (Elem::Bytes(&data[start..start + n]), body + varint_len(body as u64))
    }
}

/// Start of the entry that ends at `end`.
#[inline]
pub(super) fn prev_start(data: &[u8], end: usize) -> usize {
    let body = get_backlen(data, end) as usize;
    end - varint_len(body as u64) - body
}
