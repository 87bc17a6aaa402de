//! Redis's compact in-memory encodings, as they appear (as opaque strings) inside RDB
//! values: listpack, ziplist, intset and zipmap. Reading validates every byte a
//! decoder relies on (headers, lengths, back-lengths, terminators), because these
//! blobs come from files and the network; writing produces listpacks and intsets
//! exactly as Redis 7.0 lays them out, so that `redis-server` accepts them.
//!
//! Layouts (all multi-byte integers little endian unless noted):
//! - listpack: `total_bytes:u32 count:u16 entries... 0xFF`. An entry is an encoding
//!   byte (plus payload) followed by its "back-length", the entry's size written in
//!   7-bit groups so it can be read backwards. Count 65535 means "count it".
//! - ziplist: `zlbytes:u32 zltail:u32 zllen:u16 entries... 0xFF`; an entry is
//!   `prevlen` (1 byte, or 0xFE + u32), an encoding, then the payload.
//! - intset: `encoding:u32 (2, 4 or 8) length:u32` then sorted unique integers.
//! - zipmap (hashes before Redis 2.6): `zmlen:u8` then `len key len free value`
//!   pairs, lengths as one byte or 0xFE + u32, ending in 0xFF.

use crate::util::num::parse_i64;

/// One element of a compact encoding: bytes, or an integer stored as such.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Item<'_> {
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Item::Str(b) => b.to_vec(),
            Item::Int(v) => {
                let mut out = Vec::with_capacity(20);
                crate::util::num::write_i64(&mut out, v);
                out
            }
        }
    }
}

/// A malformed blob: what is wrong and where, as an offset inside the blob.
#[derive(Debug, PartialEq, Eq)]
pub struct BlobError {
    pub offset: usize,
    pub msg: String,
}

fn err<T>(offset: usize, msg: impl Into<String>) -> Result<T, BlobError> {
    Err(BlobError { offset, msg: msg.into() })
}

fn slice<'a>(b: &'a [u8], at: usize, n: usize, what: &str) -> Result<&'a [u8], BlobError> {
    match at.checked_add(n) {
        Some(end) if end <= b.len() => Ok(&b[at..end]),
        _ => err(at, format!("{what} runs past the end of the blob")),
    }
}

fn le_int(b: &[u8]) -> i64 {
    // Sign-extend a little-endian two's complement integer of 1..=8 bytes.
    let mut buf = [0u8; 8];
    buf[..b.len()].copy_from_slice(b);
    let v = u64::from_le_bytes(buf);
    let shift = 64 - 8 * b.len() as u32;
    ((v << shift) as i64) >> shift
}

// ---- listpack ------------------------------------------------------------------------

const LP_HDR: usize = 6;
const LP_EOF: u8 = 0xFF;

/// Size of the back-length that records an entry of `l` bytes.
fn lp_backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

fn lp_write_backlen(out: &mut Vec<u8>, l: usize) {
    // Most significant group first; every byte but the first carries the 0x80 flag,
    // so a reader walking backwards knows when to stop.
    let n = lp_backlen_size(l);
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Reads every entry of a listpack, checking its structure.
pub fn listpack_items(b: &[u8]) -> Result<Vec<Item<'_>>, BlobError> {
    if b.len() < LP_HDR + 1 {
        return err(0, "listpack shorter than its header");
    }
    let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if total != b.len() {
        return err(0, format!("listpack header says {total} bytes, blob has {}", b.len()));
    }
    let count = u16::from_le_bytes([b[4], b[5]]) as usize;
    let mut items = Vec::with_capacity(count.min(b.len()));
    let mut p = LP_HDR;
    loop {
        let Some(&enc) = b.get(p) else { return err(p, "listpack has no terminator") };
        if enc == LP_EOF {
            if p + 1 != b.len() {
                return err(p, "listpack terminator before the end of the blob");
            }
            break;
        }
        let start = p;
        let (item, size) = match enc {
            0x00..=0x7F => (Item::Int(enc as i64), 1),
            0x80..=0xBF => {
                let n = (enc & 0x3F) as usize;
                (Item::Str(slice(b, p + 1, n, "listpack string")?), 1 + n)
            }
            0xC0..=0xDF => {
                let x = slice(b, p, 2, "listpack int")?;
                let u = ((x[0] as i64 & 0x1F) << 8) | x[1] as i64;
                (Item::Int(if u >= 1 << 12 { u - (1 << 13) } else { u }), 2)
            }
            0xE0..=0xEF => {
                let x = slice(b, p, 2, "listpack string length")?;
                let n = ((x[0] as usize & 0x0F) << 8) | x[1] as usize;
                (Item::Str(slice(b, p + 2, n, "listpack string")?), 2 + n)
            }
            0xF0 => {
                let x = slice(b, p + 1, 4, "listpack string length")?;
                let n = u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize;
                (Item::Str(slice(b, p + 5, n, "listpack string")?), 5 + n)
            }
            0xF1..=0xF4 => {
                let w = [2, 3, 4, 8][(enc - 0xF1) as usize];
                (Item::Int(le_int(slice(b, p + 1, w, "listpack int")?)), 1 + w)
            }
            _ => return err(p, format!("invalid listpack encoding byte 0x{enc:02x}")),
        };
        p += size;
        let bl = lp_backlen_size(size);
        let back = slice(b, p, bl, "listpack back-length")?;
        let mut expect = Vec::with_capacity(5);
        lp_write_backlen(&mut expect, size);
        if back != expect.as_slice() {
            return err(p, format!("listpack back-length does not match the entry at {start}"));
        }
        p += bl;
        items.push(item);
    }
    if count != 65535 && count != items.len() {
        return err(4, format!("listpack header counts {count} entries, found {}", items.len()));
    }
    Ok(items)
}

/// Builds a listpack the way Redis's `lpAppend` does: strings that are canonical
/// integers are stored as integers.
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter::new()
    }
}

impl ListpackWriter {
    pub fn new() -> ListpackWriter {
        ListpackWriter { buf: vec![0; LP_HDR], count: 0 }
    }

    /// Bytes the listpack would take if finished now.
    pub fn len(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn push(&mut self, s: &[u8]) {
        match parse_i64(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    pub fn push_str(&mut self, s: &[u8]) {
        let n = s.len();
        let start = self.buf.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf.push(0xE0 | (n >> 8) as u8);
            self.buf.push(n as u8);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.end_entry(start);
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1FFF;
            self.buf.push(0xC0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if i16::try_from(v).is_ok() {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if i32::try_from(v).is_ok() {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.end_entry(start);
    }

    fn end_entry(&mut self, start: usize) {
        let size = self.buf.len() - start;
        lp_write_backlen(&mut self.buf, size);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        // Counts past 65534 are stored as "unknown", as Redis does.
        let count = if self.count < 65535 { self.count as u16 } else { 65535 };
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

// ---- ziplist -------------------------------------------------------------------------

const ZL_HDR: usize = 10;

/// Reads every entry of a ziplist, checking its structure.
pub fn ziplist_items(b: &[u8]) -> Result<Vec<Item<'_>>, BlobError> {
    if b.len() < ZL_HDR + 1 {
        return err(0, "ziplist shorter than its header");
    }
    let total = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if total != b.len() {
        return err(0, format!("ziplist header says {total} bytes, blob has {}", b.len()));
    }
    let tail = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    let count = u16::from_le_bytes([b[8], b[9]]) as usize;
    let mut items = Vec::with_capacity(count.min(b.len()));
    let mut p = ZL_HDR;
    let mut prev_size = 0;
    let mut last_start = ZL_HDR;
    loop {
        let Some(&first) = b.get(p) else { return err(p, "ziplist has no terminator") };
        if first == 0xFF {
            if p + 1 != b.len() {
                return err(p, "ziplist terminator before the end of the blob");
            }
            break;
        }
        let start = p;
        let prevlen = if first < 0xFE {
            p += 1;
            first as usize
        } else if first == 0xFE {
            let x = slice(b, p + 1, 4, "ziplist prevlen")?;
            p += 5;
            u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize
        } else {
            unreachable!("0xFF handled above")
        };
        if prevlen != prev_size {
            return err(start, format!("ziplist prevlen {prevlen} does not match the previous entry ({prev_size})"));
        }
        let enc = *b.get(p).ok_or(BlobError { offset: p, msg: "ziplist entry truncated".into() })?;
        let item = match enc >> 6 {
            0 => {
                let n = (enc & 0x3F) as usize;
                p += 1 + n;
                Item::Str(slice(b, p - n, n, "ziplist string")?)
            }
            1 => {
                let x = slice(b, p, 2, "ziplist string length")?;
                // The 14-bit length is big endian.
                let n = ((x[0] as usize & 0x3F) << 8) | x[1] as usize;
                p += 2 + n;
                Item::Str(slice(b, p - n, n, "ziplist string")?)
            }
            2 => {
                if enc != 0x80 {
                    return err(p, format!("invalid ziplist encoding byte 0x{enc:02x}"));
                }
                let x = slice(b, p + 1, 4, "ziplist string length")?;
                let n = u32::from_be_bytes([x[0], x[1], x[2], x[3]]) as usize;
                let s = slice(b, p + 5, n, "ziplist string")?;
                p += 5 + n;
                Item::Str(s)
            }
            _ => {
                let width = match enc {
                    0xC0 => 2,
                    0xD0 => 4,
                    0xE0 => 8,
                    0xF0 => 3,
                    0xFE => 1,
                    0xF1..=0xFD => 0,
                    _ => return err(p, format!("invalid ziplist encoding byte 0x{enc:02x}")),
                };
                let v =
                    if width == 0 { (enc & 0x0F) as i64 - 1 } else { le_int(slice(b, p + 1, width, "ziplist int")?) };
                p += 1 + width;
                Item::Int(v)
            }
        };
        prev_size = p - start;
        last_start = start;
        items.push(item);
    }
    if tail != last_start {
        return err(4, format!("ziplist tail offset {tail} does not point at the last entry ({last_start})"));
    }
    if count != 65535 && count != items.len() {
        return err(8, format!("ziplist header counts {count} entries, found {}", items.len()));
    }
    Ok(items)
}

// ---- intset --------------------------------------------------------------------------

/// Reads an intset, checking that it is sorted and free of duplicates.
pub fn intset_items(b: &[u8]) -> Result<Vec<i64>, BlobError> {
    if b.len() < 8 {
        return err(0, "intset shorter than its header");
    }
    let width = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return err(0, format!("invalid intset encoding {width}"));
    }
    let count = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if count.checked_mul(width).and_then(|n| n.checked_add(8)) != Some(b.len()) {
        return err(4, format!("intset of {count} {width}-byte integers does not fill {} bytes", b.len()));
    }
    let mut out = Vec::with_capacity(count);
    for (i, c) in b[8..].chunks_exact(width).enumerate() {
        let v = le_int(c);
        if out.last().is_some_and(|&last| last >= v) {
            return err(8 + i * width, "intset is not sorted or has duplicates");
        }
        out.push(v);
    }
    Ok(out)
}

/// An intset of `sorted` (ascending, unique), in the narrowest width that holds them.
pub fn intset_encode(sorted: &[i64]) -> Vec<u8> {
    let width: usize = if sorted.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if sorted.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + sorted.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

// ---- zipmap --------------------------------------------------------------------------

/// A key and its value.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Reads a zipmap's key/value pairs.
pub fn zipmap_pairs(b: &[u8]) -> Result<Vec<Pair<'_>>, BlobError> {
    fn len_at(b: &[u8], p: &mut usize) -> Result<Option<usize>, BlobError> {
        let Some(&first) = b.get(*p) else { return err(*p, "zipmap has no terminator") };
        match first {
            0xFF => Ok(None),
            0xFE => {
                let x = slice(b, *p + 1, 4, "zipmap length")?;
                *p += 5;
                Ok(Some(u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize))
            }
            n => {
                *p += 1;
                Ok(Some(n as usize))
            }
        }
    }
    if b.is_empty() {
        return err(0, "empty zipmap");
    }
    let mut p = 1;
    let mut pairs = Vec::new();
    while let Some(klen) = len_at(b, &mut p)? {
        let key = slice(b, p, klen, "zipmap key")?;
        p += klen;
        let Some(vlen) = len_at(b, &mut p)? else { return err(p, "zipmap key without a value") };
        let free = *b.get(p).ok_or(BlobError { offset: p, msg: "zipmap truncated".into() })? as usize;
        p += 1;
        let value = slice(b, p, vlen, "zipmap value")?;
        p += vlen + free;
        pairs.push((key, value));
    }
    if p + 1 != b.len() {
        return err(p, "zipmap terminator before the end of the blob");
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trip_every_encoding() {
        let ints = [0, 127, 128, -1, 4095, -4096, 4096, -4097, 32767, -32768, 32768, 1 << 23, -(1 << 23) - 1];
        let ints2 = [i32::MAX as i64, i32::MIN as i64, i32::MAX as i64 + 1, i64::MAX, i64::MIN];
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 200];
        let mut w = ListpackWriter::new();
        for v in ints.iter().chain(&ints2) {
            w.push_int(*v);
        }
        w.push(b"hello");
        w.push(b"");
        w.push(&mid);
        w.push(&long);
        w.push(b"007");
        w.push(b"-42");
        let lp = w.finish();
        let items = listpack_items(&lp).unwrap();
        let mut expect: Vec<Item> = ints.iter().chain(&ints2).map(|&v| Item::Int(v)).collect();
        expect.extend([Item::Str(b"hello"), Item::Str(b""), Item::Str(&mid), Item::Str(&long)]);
        expect.extend([Item::Str(b"007"), Item::Int(-42)]);
        assert_eq!(items, expect);
    }

    #[test]
    fn listpack_known_bytes() {
        // What Redis 7.0 stores for RPUSH l a 1: header, "a" (0x81 'a' backlen 2),
        // 1 (0x01 backlen 1), 0xFF.
        let mut w = ListpackWriter::new();
        w.push(b"a");
        w.push(b"1");
        assert_eq!(w.finish(), [12, 0, 0, 0, 2, 0, 0x81, b'a', 2, 0x01, 1, 0xFF]);
    }

    #[test]
    fn listpack_corruption_is_detected() {
        let mut w = ListpackWriter::new();
        w.push(b"abc");
        w.push(b"12345");
        let lp = w.finish();
        for cut in 0..lp.len() {
            assert!(listpack_items(&lp[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = lp.clone();
        bad[4] = 3;
        assert!(listpack_items(&bad).is_err());
        let mut bad = lp.clone();
        bad[10] ^= 1; // back-length of "abc"
        assert!(listpack_items(&bad).is_err());
    }

    /// Builds a ziplist by hand from raw entries (prevlen computed).
    fn ziplist(entries: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = ZL_HDR;
        for e in entries {
            tail = ZL_HDR + body.len();
            let start = body.len();
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(0xFE);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            body.extend_from_slice(e);
            prev = body.len() - start;
        }
        let mut out = Vec::new();
        out.extend_from_slice(&((ZL_HDR + body.len() + 1) as u32).to_le_bytes());
        out.extend_from_slice(&(tail as u32).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xFF);
        out
    }

    #[test]
    fn ziplist_every_encoding() {
        let long = vec![b'z'; 300];
        let mut e14 = vec![0x40 | (300u16 >> 8) as u8, (300u16 & 0xFF) as u8];
        e14.extend_from_slice(&long);
        let mut e32 = vec![0x80, 0, 0, 0, 3];
        e32.extend_from_slice(b"abc");
        let zl = ziplist(&[
            b"\x02hi",
            &e14,
            &e32,
            &[0xC0, 0x34, 0x12],
            &[0xD0, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0xE0, 1, 0, 0, 0, 0, 0, 0, 0x80],
            &[0xF0, 0xFF, 0xFF, 0x7F],
            &[0xFE, 0x80],
            &[0xF1],
            &[0xFD],
        ]);
        let items = ziplist_items(&zl).unwrap();
        assert_eq!(
            items,
            [
                Item::Str(b"hi"),
                Item::Str(&long),
                Item::Str(b"abc"),
                Item::Int(0x1234),
                Item::Int(-1),
                Item::Int(i64::MIN + 1),
                Item::Int(0x7FFFFF),
                Item::Int(-128),
                Item::Int(0),
                Item::Int(12),
            ]
        );
        for cut in 0..zl.len() {
            assert!(ziplist_items(&zl[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = zl.clone();
        bad[4] += 1;
        assert!(ziplist_items(&bad).is_err());
    }

    #[test]
    fn intset_round_trip_and_checks() {
        for set in [vec![], vec![1, 2, 3], vec![-40000, 5, 70000], vec![i64::MIN, 0, i64::MAX]] {
            assert_eq!(intset_items(&intset_encode(&set)).unwrap(), set);
        }
        assert_eq!(intset_encode(&[1, 2])[0], 2);
        assert_eq!(intset_encode(&[1, 40000])[0], 4);
        let mut unsorted = intset_encode(&[1, 2]);
        unsorted.swap(8, 10);
        assert!(intset_items(&unsorted).is_err());
        assert!(intset_items(&intset_encode(&[1, 2])[..11]).is_err());
        assert!(intset_items(&[3, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn zipmap_pairs_read() {
        // zmlen 2; "a" -> "1" (free 0); "bb" -> "22" with 1 free byte; end.
        let zm = [2, 1, b'a', 1, 0, b'1', 2, b'b', b'b', 2, 1, b'2', b'2', 0, 0xFF];
        assert_eq!(zipmap_pairs(&zm).unwrap(), vec![(&b"a"[..], &b"1"[..]), (&b"bb"[..], &b"22"[..])]);
        for cut in 0..zm.len() {
            assert!(zipmap_pairs(&zm[..cut]).is_err(), "cut {cut}");
        }
    }
}
