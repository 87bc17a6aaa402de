//! HyperLogLog in Redis's exact byte representation, so that values written here read
//! back in Redis (and DUMP payloads or RDB files carry them unchanged) and vice versa.
//!
//! A HyperLogLog is a plain string:
//!
//! ```text
//! +------+---+-----+----------+--------------------------------------+
//! | HYLL | E | N/U | Cardin.  | registers (dense) or opcodes (sparse) |
//! +------+---+-----+----------+--------------------------------------+
//!  4 bytes 1   3     8 bytes LE
//! ```
//!
//! `E` is the encoding (0 dense, 1 sparse). The cardinality is a cache of the last
//! estimate, little endian; the top bit of its last byte set means "stale". Registers
//! number 2^14; an element's 64-bit MurmurHash64A (seed 0xadc83b19) picks its
//! register with the low 14 bits, and the register keeps the longest run seen of
//! "zeros then a one" in the remaining 50 bits (counting the one, so 1..=51).
//!
//! - **Dense**: 16384 registers of 6 bits, packed little-endian-first (register 0 in
//!   the low bits of byte 0), 12288 bytes.
//! - **Sparse**: run-length opcodes, for HLLs with few non-zero registers:
//!   `00xxxxxx` ZERO (1..=64 zero registers), `01xxxxxx yyyyyyyy` XZERO (1..=16384
//!   zero registers), `1vvvvvxx` VAL (1..=4 registers holding 1..=32). A new HLL is a
//!   single XZERO. A register above 32, or growth past `hll-sparse-max-bytes`, turns
//!   the value dense for good.
//!
//! The estimate is Ertl's improved estimator over the register histogram (what Redis
//! 7 uses). The edits of the sparse form follow Redis's in-place algorithm step by
//! step (split the covering opcode, then merge equal neighbouring VALs within a small
//! window), because the result must be byte-identical to Redis's for the same adds.
//!
//! Nothing here knows about commands or replies: functions take and return bytes,
//! and report a malformed value as [`Corrupt`].

/// log2 of the number of registers.
pub const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Hash bits left after the register index: the run is at most `Q + 1` long.
const Q: usize = 64 - P as usize;
/// Bits per dense register.
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Header bytes: magic, encoding, 3 unused, 8 of cached cardinality.
pub const HDR_SIZE: usize = 16;
/// Total length of a dense HyperLogLog.
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);
/// Encoding byte values.
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const ENCODING_AT: usize = 4;
const CARD_AT: usize = 8;
const SEED: u64 = 0xadc8_3b19;

const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;

/// A value with the HLL header whose body is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Corrupt;

// ---- Hashing ------------------------------------------------------------------------------

/// MurmurHash64A by Austin Appleby, reading words little endian (as Redis does on
/// the little-endian machines it runs on).
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element updates and the value it offers (1..=51).
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // A guard bit at position Q bounds the run, as in Redis.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---- Header -------------------------------------------------------------------------------

/// A fresh, empty HyperLogLog: sparse, one XZERO covering every register, and a valid
/// cached cardinality of 0.
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HDR_SIZE + 2);
    s.extend_from_slice(b"HYLL");
    s.push(SPARSE);
    s.extend_from_slice(&[0; 11]);
    push_xzero(&mut s, REGISTERS);
    s
}

/// Whether a string is a HyperLogLog as far as the header tells (Redis's
/// `isHLLObjectOrReply`): magic, a known encoding and, when dense, the exact length.
/// A sparse body is checked only when it is walked.
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HDR_SIZE
        && &s[..4] == b"HYLL"
        && s[ENCODING_AT] <= SPARSE
        && (s[ENCODING_AT] != DENSE || s.len() == DENSE_SIZE)
}

pub fn is_dense(s: &[u8]) -> bool {
    s[ENCODING_AT] == DENSE
}

/// The cached cardinality, if it is valid.
pub fn cached_count(s: &[u8]) -> Option<u64> {
    let card = &s[CARD_AT..CARD_AT + 8];
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card.try_into().expect("8 bytes")))
}

pub fn set_cached_count(s: &mut [u8], n: u64) {
    s[CARD_AT..CARD_AT + 8].copy_from_slice(&n.to_le_bytes());
}

/// Marks the cached cardinality stale. Only the flag bit changes: the stale bytes stay,
/// as in Redis, which keeps values byte-identical.
pub fn invalidate_cache(s: &mut [u8]) {
    s[CARD_AT + 7] |= 0x80;
}

// ---- Dense registers --------------------------------------------------------------------

/// Register `i` of a dense register area.
#[inline]
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = regs[byte] as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u16) as u8
}

#[inline]
fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = v as u16;
    let mask = REGISTER_MAX as u16;
    regs[byte] = (regs[byte] & !((mask << fb) as u8)) | (v << fb) as u8;
    if let Some(b1) = regs.get_mut(byte + 1) {
        *b1 = (*b1 & !((mask >> (8 - fb)) as u8)) | (v >> (8 - fb)) as u8;
    }
}

/// Raises register `i` to `count` if that is larger. Returns whether it changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

// ---- Sparse opcodes ---------------------------------------------------------------------

/// One sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A run of zero registers, in the one-byte form.
    Zero(usize),
    /// A run of zero registers, in the two-byte form.
    XZero(usize),
    /// A run of registers holding one value: (value, run length).
    Val(u8, usize),
}

impl Op {
    fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    fn size(self) -> usize {
        if matches!(self, Op::XZero(_)) { 2 } else { 1 }
    }
}

/// Decodes the opcode at `p`. The second byte of an XZERO past the end reads as 0,
/// like the terminating zero Redis's strings carry.
#[inline]
fn op_at(s: &[u8], p: usize) -> Op {
    let b = s[p];
    if b & 0x80 != 0 {
        Op::Val(((b >> 2) & 0x1f) + 1, (b & 0x3) as usize + 1)
    } else if b & 0x40 == 0 {
        Op::Zero((b & 0x3f) as usize + 1)
    } else {
        let lo = s.get(p + 1).copied().unwrap_or(0) as usize;
        Op::XZero((((b & 0x3f) as usize) << 8 | lo) + 1)
    }
}

fn val_byte(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

fn push_xzero(out: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    out.push(0x40 | (l >> 8) as u8);
    out.push((l & 0xff) as u8);
}

/// A zero run of `len` registers, in the short form when it fits.
fn push_zeros(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        push_xzero(out, len);
    } else {
        out.push(len as u8 - 1);
    }
}

/// The opcodes of a sparse value, for PFDEBUG DECODE.
pub fn sparse_ops(s: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = op_at(s, p);
        ops.push(op);
        p += op.size();
    }
    ops
}

/// Calls `f(first register, op)` for each opcode of a sparse body, and returns the
/// number of registers covered. Stops before a VAL that would run past the last
/// register (Redis's overflow check when expanding).
fn walk_sparse(s: &[u8], mut f: impl FnMut(usize, Op)) -> usize {
    let mut idx = 0;
    let mut p = HDR_SIZE;
    while p < s.len() {
        let op = op_at(s, p);
        if let Op::Val(_, n) = op
            && idx + n > REGISTERS
        {
            break;
        }
        f(idx, op);
        idx += op.span();
        p += op.size();
    }
    idx
}

// ---- Updates ------------------------------------------------------------------------------

/// Converts a sparse HyperLogLog to dense in place (the header, cached cardinality
/// included, is kept). Returns whether it converted.
pub fn to_dense(s: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if is_dense(s) {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR_SIZE].copy_from_slice(&s[..HDR_SIZE]);
    dense[ENCODING_AT] = DENSE;
    let regs = &mut dense[HDR_SIZE..];
    let covered = walk_sparse(s, |first, op| {
        if let Op::Val(v, n) = op {
            for i in first..first + n {
                dense_put(regs, i, v);
            }
        }
    });
    if covered != REGISTERS {
        return Err(Corrupt);
    }
    *s = dense;
    Ok(true)
}

/// Raises register `index` to `count` if that is larger, in whichever encoding the
/// value has; a sparse value that cannot hold the result (a count above 32, or a size
/// past `sparse_max` bytes) becomes dense. Returns whether a register changed.
pub fn set_register(s: &mut Vec<u8>, index: usize, count: u8, sparse_max: u64) -> Result<bool, Corrupt> {
    if is_dense(s) {
        return Ok(dense_set(&mut s[HDR_SIZE..], index, count));
    }
    sparse_set(s, index, count, sparse_max)
}

/// Adds an element. Returns whether a register changed (so the estimate may have).
pub fn add(s: &mut Vec<u8>, ele: &[u8], sparse_max: u64) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    set_register(s, index, count, sparse_max)
}

fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    // The register needed raising in the sparse form, so it does in the dense one.
    Ok(dense_set(&mut s[HDR_SIZE..], index, count))
}

/// Redis's `hllSparseSet`, step for step.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, sparse_max: u64) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`, and the one before it.
    let mut p = HDR_SIZE;
    let mut first = 0;
    let mut prev = None;
    let mut found = None;
    while p < s.len() {
        let op = op_at(s, p);
        if index < first + op.span() {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += op.size();
        first += op.span();
    }
    let op = match found {
        // An XZERO cut short by the end of the string is as malformed as no opcode.
        Some(op) if p + op.size() <= s.len() => op,
        _ => return Err(Corrupt),
    };
    // Step 2: the cheap cases update one byte in place.
    let mut in_place = false;
    if let Op::Val(old, len) = op {
        if old >= count {
            return Ok(false);
        }
        if len == 1 {
            in_place = true;
        }
    }
    if op == Op::Zero(1) {
        in_place = true;
    }
    if in_place {
        s[p] = val_byte(count, 1);
    } else {
        // Step 3: split the opcode into (up to) three: the registers before ours, ours,
        // and the ones after.
        let last = first + op.span() - 1;
        let mut seq = Vec::with_capacity(5);
        match op {
            Op::Zero(_) | Op::XZero(_) => {
                if index != first {
                    push_zeros(&mut seq, index - first);
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    push_zeros(&mut seq, last - index);
                }
            }
            Op::Val(v, _) => {
                if index != first {
                    seq.push(val_byte(v, index - first));
                }
                seq.push(val_byte(count, 1));
                if index != last {
                    seq.push(val_byte(v, last - index));
                }
            }
        }
        let old_len = op.size();
        if seq.len() > old_len && (s.len() + seq.len() - old_len) as u64 > sparse_max {
            return promote(s, index, count);
        }
        s.splice(p..p + old_len, seq);
    }
    // Step 4: merge equal adjacent VALs, scanning at most five opcodes from the one
    // before the change. Redis's window, not a full pass: the bytes must match.
    let mut p = prev.unwrap_or(HDR_SIZE);
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let op = op_at(s, p);
        let Op::Val(v1, l1) = op else {
            p += op.size();
            continue;
        };
        if p + 1 < s.len()
            && let Op::Val(v2, l2) = op_at(s, p + 1)
            && v1 == v2
            && l1 + l2 <= VAL_MAX_LEN
        {
            s[p + 1] = val_byte(v1, l1 + l2);
            s.remove(p);
            // Stay here: the merged run may merge with the next one too.
            continue;
        }
        p += 1;
    }
    invalidate_cache(s);
    Ok(true)
}

// ---- Reading ------------------------------------------------------------------------------

/// Raises each `max[i]` to register `i` of `s` (PFCOUNT of several keys, PFMERGE).
pub fn merge_into(max: &mut [u8], s: &[u8]) -> Result<(), Corrupt> {
    if is_dense(s) {
        let regs = &s[HDR_SIZE..];
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let covered = walk_sparse(s, |first, op| {
        if let Op::Val(v, n) = op {
            for m in &mut max[first..first + n] {
                *m = (*m).max(v);
            }
        }
    });
    if covered == REGISTERS { Ok(()) } else { Err(Corrupt) }
}

/// Every register of a HyperLogLog, for PFDEBUG GETREG and tests.
pub fn registers(s: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut regs = vec![0u8; REGISTERS];
    merge_into(&mut regs, s)?;
    Ok(regs)
}

/// The cardinality estimate of a HyperLogLog (ignoring the cache).
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; 64];
    if is_dense(s) {
        let regs = &s[HDR_SIZE..];
        for i in 0..REGISTERS {
            histo[dense_get(regs, i) as usize] += 1;
        }
    } else {
        // Unlike expanding, the histogram counts every opcode and only then checks the
        // total, as Redis's does.
        let mut idx = 0;
        let mut p = HDR_SIZE;
        while p < s.len() {
            let op = op_at(s, p);
            let (v, n) = match op {
                Op::Zero(n) | Op::XZero(n) => (0, n),
                Op::Val(v, n) => (v as usize, n),
            };
            histo[v] += n as u32;
            idx += n;
            p += op.size();
        }
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// The estimate for plain registers, one byte each (the union in PFCOUNT).
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[(r & 63) as usize] += 1;
    }
    estimate(&histo)
}

/// Ertl's improved raw estimator ("New cardinality estimation algorithms for
/// HyperLogLog sketches", 2017) over the register-value histogram, with the exact
/// operation order of Redis's `hllCount` so results agree to the last unit.
fn estimate(histo: &[u32; 64]) -> u64 {
    // 1 / (2 ln 2), Redis's 0.721347520444481703680 rounded to the same double.
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
#[path = "hll_tests.rs"]
mod tests;
