//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and BITFIELD_RO.
//!
//! Bitmaps are plain strings (`Value::Str`), as in Redis: bit 0 is the most significant
//! bit of byte 0, GET returns the raw bytes, and every string command works on them.
//! Replies, error texts, the order in which errors are detected and the dirty counts
//! follow Redis 7.0 (`bitops.c`); where Redis has a quirk (BITCOUNT of a missing key
//! ignoring bad arguments, a BITFIELD that only fails still creating its key) it is
//! kept, because clients and replicas observe it.
//!
//! Hit/miss accounting: GETBIT, BITCOUNT, BITPOS, BITOP's sources and a read-only
//! BITFIELD look keys up for reading; SETBIT and writing BITFIELDs do not.

use super::ctx::ExecCtx;
use super::string::{as_raw_str_mut, as_str};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::config::notify;
use crate::shard::ShardStats;
use crate::storage::{Db, StrBuf, Value};
use crate::util::num;

// ---- Shared helpers ---------------------------------------------------------------------

const BIT_OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";

/// Redis's `getBitOffsetFromArgument`: a bit offset, optionally in the `#N` form
/// (BITFIELD only: `N` fields of `bits` bits). Offsets whose byte would reach
/// proto-max-bulk-len are refused, so no command can build a larger string.
fn bit_offset(arg: &[u8], hash_bits: Option<u32>, max_bulk: u64) -> Result<u64, CmdError> {
    let err = || CmdError::msg(BIT_OFFSET_ERR);
    let (digits, scale) = match hash_bits {
        Some(bits) if arg.len() > 1 && arg[0] == b'#' => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    // Redis multiplies without an overflow check; a wrapped product is negative or
    // huge and so rejected below, which wrapping_mul reproduces.
    let off = num::parse_i64(digits).ok_or_else(err)?.wrapping_mul(scale);
    if off < 0 || (off as u64 >> 3) >= max_bulk {
        return Err(err());
    }
    Ok(off as u64)
}

/// A read lookup of a string key: counts a hit or miss, and type-checks.
fn read_str<'d>(db: &'d mut Db, stats: &mut ShardStats, key: &[u8], now: u64) -> Result<Option<&'d [u8]>, CmdError> {
    match db.get(key, now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            Ok(Some(as_str(&e.value)?))
        }
        None => {
            stats.keyspace_misses += 1;
            Ok(None)
        }
    }
}

/// Redis's `lookupStringForBitCommand`: the string at `key`, created or zero-padded so
/// that bit `max_bit` exists. The flag tells whether the key was created or grown
/// (which makes the command a change even when no bit flips).
fn string_for_bits<'d>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
    max_bit: u64,
) -> Result<(&'d mut Vec<u8>, bool), CmdError> {
    let need = (max_bit >> 3) as usize + 1;
    if db.get(key, now).is_none() {
        let e = db.insert_new(key, Value::Str(vec![0; need].into()));
        return Ok((as_raw_str_mut(&mut e.value)?, true));
    }
    let e = db.get_mut(key, now).expect("the key is live: just looked up");
    let s = as_raw_str_mut(&mut e.value)?;
    let grown = s.len() < need;
    if grown {
        s.resize(need, 0);
    }
    Ok((s, grown))
}

#[inline]
fn bit_at(s: &[u8], i: u64) -> bool {
    s.get((i >> 3) as usize).is_some_and(|b| b & (0x80 >> (i & 7)) != 0)
}

// ---- SETBIT / GETBIT --------------------------------------------------------------------

fn setbit(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let bit_err = || CmdError::msg("ERR bit is not an integer or out of range");
    let off = bit_offset(a.get(2), None, c.config.proto_max_bulk_len)?;
    let on = num::parse_i64(a.get(3)).ok_or_else(bit_err)?;
    if on & !1 != 0 {
        return Err(bit_err());
    }
    let now = c.now_ms;
    let (s, created_or_grown) = string_for_bits(c.db(), a.get(1), now, off)?;
    let (byte, mask) = ((off >> 3) as usize, 0x80u8 >> (off & 7));
    let old = s[byte] & mask != 0;
    if on == 1 {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
    // Redis 7.0 counts a change only when the string was created, grew, or the bit
    // actually flipped.
    if created_or_grown || old != (on == 1) {
        c.dirty += 1;
        c.notify(notify::STRING, "setbit", a.get(1));
    }
    c.out.int(old as i64);
    Ok(())
}

fn getbit(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let off = bit_offset(a.get(2), None, c.config.proto_max_bulk_len)?;
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let v = read_str(db, stats, a.get(1), now)?.is_some_and(|s| bit_at(s, off));
    out.int(v as i64);
    Ok(())
}

// ---- BITCOUNT / BITPOS ------------------------------------------------------------------

/// The BYTE|BIT unit argument at `i`, if present: true for BIT.
fn unit_is_bit(a: &Args, i: usize) -> Result<bool, CmdError> {
    if i >= a.len() {
        Ok(false)
    } else if a.is(i, "bit") {
        Ok(true)
    } else if a.is(i, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Normalises a start/end pair over `total` units with Redis's index rules: negative
/// indexes count from the end and clamp at 0, `end` clamps to the last unit. Returns
/// None for an empty range.
fn clamp_range(mut start: i64, mut end: i64, total: i64) -> Option<(u64, u64)> {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    (start <= end).then_some((start as u64, end as u64))
}

/// Number of set bits in bits `from..=to` of `s` (both within the string).
fn popcount_bits(s: &[u8], from: u64, to: u64) -> u64 {
    let (fb, lb) = ((from >> 3) as usize, (to >> 3) as usize);
    let whole: u64 = s[fb..=lb].iter().map(|b| b.count_ones() as u64).sum();
    // Take back the bits of the edge bytes that lie outside the range.
    let head = s[fb] & !(0xffu8 >> (from & 7));
    let tail = s[lb] & (0x7fu8 >> (to & 7));
    whole - head.count_ones() as u64 - tail.count_ones() as u64
}

fn bitcount(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    // As in Redis 7.0, the key is looked up before the arguments are parsed: a missing
    // key answers 0 whatever follows.
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(s) = read_str(db, stats, a.get(1), now)? else {
        out.int(0);
        return Ok(());
    };
    let len = s.len() as i64;
    let n = match a.len() {
        2 => s.iter().map(|b| b.count_ones() as u64).sum(),
        4 | 5 => {
            let (start, end) = (a.i64(2)?, a.i64(3)?);
            if start < 0 && end < 0 && start > end {
                out.int(0);
                return Ok(());
            }
            let bits = unit_is_bit(a, 4)?;
            let total = if bits { len << 3 } else { len };
            match clamp_range(start, end, total) {
                None => 0,
                Some((f, t)) if bits => popcount_bits(s, f, t),
                Some((f, t)) => popcount_bits(s, f << 3, (t << 3) | 7),
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    out.int(n as i64);
    Ok(())
}

/// The first bit equal to `bit` in bits `from..=to` of `s` (both within the string).
fn find_bit(s: &[u8], bit: bool, from: u64, to: u64) -> Option<u64> {
    let mut i = from;
    while i <= to && i & 7 != 0 {
        if bit_at(s, i) == bit {
            return Some(i);
        }
        i += 1;
    }
    // Whole bytes: skip the ones that hold no candidate.
    let whole_end = (to + 1) >> 3;
    if i <= to && (i >> 3) < whole_end {
        let skip = if bit { 0u8 } else { 0xff };
        let bytes = &s[(i >> 3) as usize..whole_end as usize];
        match bytes.iter().position(|&b| b != skip) {
            Some(p) => {
                let b = if bit { bytes[p] } else { !bytes[p] };
                return Some(i + ((p as u64) << 3) + b.leading_zeros() as u64);
            }
            None => i = whole_end << 3,
        }
    }
    (i..=to).find(|&j| bit_at(s, j) == bit)
}

fn bitpos(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let bit = a.i64(2)?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::msg("ERR The bit argument must be 1 or 0."));
    }
    let bit = bit == 1;
    // A missing key is an endless run of zeros.
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(s) = read_str(db, stats, a.get(1), now)? else {
        out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let len = s.len() as i64;
    let (range, end_given) = match a.len() {
        3 => (clamp_range(0, len - 1, len).map(|(f, t)| (f << 3, (t << 3) | 7)), false),
        4..=6 => {
            let start = a.i64(3)?;
            let bits = unit_is_bit(a, 5)?;
            let end = if a.len() >= 5 { Some(a.i64(4)?) } else { None };
            let total = if bits { len << 3 } else { len };
            let r = clamp_range(start, end.unwrap_or(total - 1), total);
            (if bits { r } else { r.map(|(f, t)| (f << 3, (t << 3) | 7)) }, end.is_some())
        }
        _ => return Err(CmdError::Syntax),
    };
    let Some((from, to)) = range else {
        // An empty range holds neither a 0 nor a 1.
        out.int(-1);
        return Ok(());
    };
    let pos = match find_bit(s, bit, from, to) {
        Some(p) => p as i64,
        // Looking for a 0 without an explicit end: the string is taken as padded with
        // zeros on the right, so the answer is the first bit past it.
        None if !bit && !end_given => to as i64 + 1,
        None => -1,
    };
    out.int(pos);
    Ok(())
}

// ---- BITOP ------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let op = if a.is(1, "and") {
        BitOp::And
    } else if a.is(1, "or") {
        BitOp::Or
    } else if a.is(1, "xor") {
        BitOp::Xor
    } else if a.is(1, "not") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    if op == BitOp::Not && a.len() != 4 {
        return Err(CmdError::msg("ERR BITOP NOT must be called with a single source key."));
    }
    // Look every source up for reading (expiring, counting, type-checking) first; the
    // values are then borrowed without copying.
    let now = c.now_ms;
    let mut maxlen = 0;
    for i in 3..a.len() {
        let (db, _, stats) = c.parts();
        maxlen = maxlen.max(read_str(db, stats, a.get(i), now)?.map_or(0, <[u8]>::len));
    }
    let dst = a.get(2);
    let db = &mut c.dbs[c.db];
    if maxlen == 0 {
        // Every source is empty or missing: the destination is deleted.
        if db.remove(dst, now).is_some() {
            c.dirty += 1;
            c.notify(notify::GENERIC, "del", dst);
        }
        c.out.int(0);
        return Ok(());
    }
    let src = |i: usize| -> &[u8] {
        match db.peek(a.get(i)).map(|e| &e.value) {
            Some(Value::Str(s)) => s,
            _ => &[],
        }
    };
    // Missing bytes of shorter sources read as zeros.
    let mut res = vec![0u8; maxlen];
    let first = src(3);
    res[..first.len()].copy_from_slice(first);
    if op == BitOp::Not {
        res.iter_mut().for_each(|b| *b = !*b);
    }
    for i in 4..a.len() {
        let s = src(i);
        match op {
            BitOp::And => {
                res[s.len()..].fill(0);
                res.iter_mut().zip(s).for_each(|(r, b)| *r &= b);
            }
            BitOp::Or => res.iter_mut().zip(s).for_each(|(r, b)| *r |= b),
            BitOp::Xor => res.iter_mut().zip(s).for_each(|(r, b)| *r ^= b),
            BitOp::Not => unreachable!("NOT has one source"),
        }
    }
    // Like SET, the result replaces the destination and drops its TTL.
    db.set(dst, Value::Str(StrBuf::raw(res)), 0);
    c.dirty += 1;
    c.notify(notify::STRING, "set", dst);
    c.out.int(maxlen as i64);
    Ok(())
}

// ---- BITFIELD -----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum FieldOp {
    Get,
    Set,
    Incrby,
}

#[derive(Clone, Copy, Debug)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// Redis's `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63` (lower case only).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let err = || {
        CmdError::msg(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let bits = num::parse_i64(&arg[1..]).ok_or_else(err)?;
    if bits < 1 || bits > if signed { 64 } else { 63 } {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

/// Parses every subcommand first, as Redis does: nothing runs if any is malformed.
fn parse_fields(a: &Args, max_bulk: u64) -> Result<Vec<Field>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < a.len() {
        let rem = a.len() - j - 1;
        let op = if a.is(j, "get") && rem >= 2 {
            FieldOp::Get
        } else if a.is(j, "set") && rem >= 3 {
            FieldOp::Set
        } else if a.is(j, "incrby") && rem >= 3 {
            FieldOp::Incrby
        } else if a.is(j, "overflow") && rem >= 1 {
            overflow = if a.is(j + 1, "wrap") {
                Overflow::Wrap
            } else if a.is(j + 1, "sat") {
                Overflow::Sat
            } else if a.is(j + 1, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::msg("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = field_type(a.get(j + 1))?;
        let offset = bit_offset(a.get(j + 2), Some(bits), max_bulk)?;
        let value = if op == FieldOp::Get { 0 } else { a.i64(j + 3)? };
        ops.push(Field { op, signed, bits, offset, value, overflow });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(ops)
}

/// The `bits`-bit unsigned field at bit `offset`, most significant bit first; bits
/// past the end of the string read as zero.
fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0, |v, j| (v << 1) | bit_at(s, offset + j) as u64)
}

/// The field read as two's complement.
fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(s, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 { (v | (u64::MAX << bits)) as i64 } else { v as i64 }
}

/// Writes the low `bits` bits of `v` at bit `offset` (the string is long enough).
fn set_field(s: &mut [u8], offset: u64, bits: u32, v: u64) {
    for j in 0..bits as u64 {
        let on = (v >> (bits as u64 - 1 - j)) & 1 != 0;
        let i = offset + j;
        let (byte, mask) = ((i >> 3) as usize, 0x80u8 >> (i & 7));
        if on {
            s[byte] |= mask;
        } else {
            s[byte] &= !mask;
        }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves the range of
/// a `bits`-bit unsigned field, and the value to store instead under WRAP or SAT.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < minincr {
        Some(if ow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`, for a `bits`-bit two's complement field.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    // These may wrap; they are only used once `value` is known to be in range, where
    // they do not (the same reasoning as Redis's).
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits == 64 {
            c as i64
        } else if c & (1 << (bits - 1)) != 0 {
            (c | (u64::MAX << bits)) as i64
        } else {
            (c & !(u64::MAX << bits)) as i64
        }
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        None
    }
}

/// Runs one SET or INCRBY on `s`. Returns the reply (None for an overflow under FAIL,
/// which writes nothing) and whether the stored field changed.
fn write_field(s: &mut [u8], f: &Field) -> (Option<i64>, bool) {
    let (reply, old, new) = if f.signed {
        let old = get_signed(s, f.offset, f.bits);
        let (of, new) = match f.op {
            FieldOp::Incrby => {
                let of = signed_overflow(old, f.value, f.bits, f.overflow);
                (of.is_some(), of.unwrap_or(old.wrapping_add(f.value)))
            }
            _ => {
                let of = signed_overflow(f.value, 0, f.bits, f.overflow);
                (of.is_some(), of.unwrap_or(f.value))
            }
        };
        if of && f.overflow == Overflow::Fail {
            return (None, false);
        }
        let reply = if f.op == FieldOp::Incrby { new } else { old };
        (reply, old as u64, new as u64)
    } else {
        let old = get_unsigned(s, f.offset, f.bits);
        let (of, new) = match f.op {
            FieldOp::Incrby => {
                let of = unsigned_overflow(old, f.value, f.bits, f.overflow);
                (of.is_some(), of.unwrap_or(old.wrapping_add(f.value as u64)))
            }
            _ => {
                let of = unsigned_overflow(f.value as u64, 0, f.bits, f.overflow);
                (of.is_some(), of.unwrap_or(f.value as u64))
            }
        };
        if of && f.overflow == Overflow::Fail {
            return (None, false);
        }
        let reply = if f.op == FieldOp::Incrby { new } else { old };
        (reply as i64, old, new)
    };
    set_field(s, f.offset, f.bits, new);
    (Some(reply), old != new)
}

fn bitfield_generic(c: &mut ExecCtx, a: &Args, ro_command: bool) -> Result<(), CmdError> {
    let ops = parse_fields(a, c.config.proto_max_bulk_len)?;
    let key = a.get(1);
    let writes = ops.iter().any(|f| f.op != FieldOp::Get);
    if !writes {
        let now = c.now_ms;
        let (db, out, stats) = c.parts();
        let s = read_str(db, stats, key, now)?.unwrap_or(&[]);
        out.array(ops.len());
        for f in &ops {
            out.int(if f.signed { get_signed(s, f.offset, f.bits) } else { get_unsigned(s, f.offset, f.bits) as i64 });
        }
        return Ok(());
    }
    if ro_command {
        return Err(CmdError::msg("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let max_bit = ops.iter().filter(|f| f.op != FieldOp::Get).map(|f| f.offset + f.bits as u64 - 1).max().unwrap_or(0);
    let now = c.now_ms;
    let (s, created_or_grown) = string_for_bits(&mut c.dbs[c.db], key, now, max_bit)?;
    c.out.array(ops.len());
    let mut changes = 0;
    for f in &ops {
        if f.op == FieldOp::Get {
            let v = if f.signed { get_signed(s, f.offset, f.bits) } else { get_unsigned(s, f.offset, f.bits) as i64 };
            c.out.int(v);
            continue;
        }
        let (reply, changed) = write_field(s, f);
        match reply {
            Some(v) => {
                c.out.int(v);
                // Redis 7.0 counts a SET/INCRBY that wrote when it changed the field or
                // the string was created or grown; a FAIL overflow never counts.
                if changed || created_or_grown {
                    changes += 1;
                }
            }
            None => c.out.null(),
        }
    }
    c.dirty += changes;
    if changes > 0 {
        c.notify(notify::STRING, "setbit", a.get(1));
    }
    Ok(())
}

fn bitfield(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    bitfield_generic(c, a, false)
}

fn bitfield_ro(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    bitfield_generic(c, a, true)
}

// ---- Table ------------------------------------------------------------------------------

const ONE_KEY: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "setbit",
        arity: 4,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ONE_KEY,
        handler: Handler::Keyed(setbit),
        group: "bitmap",
        summary: "Sets or clears the bit at offset in the string value stored at key",
        since: "2.2.0",
    },
    CommandSpec {
        name: "getbit",
        arity: 3,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(getbit),
        group: "bitmap",
        summary: "Returns the bit value at offset in the string value stored at key",
        since: "2.2.0",
    },
    CommandSpec {
        name: "bitcount",
        arity: -2,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(bitcount),
        group: "bitmap",
        summary: "Count set bits in a string",
        since: "2.6.0",
    },
    CommandSpec {
        name: "bitpos",
        arity: -3,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(bitpos),
        group: "bitmap",
        summary: "Find first bit set or clear in a string",
        since: "2.8.7",
    },
    CommandSpec {
        name: "bitop",
        arity: -4,
        flags: flag::WRITE | flag::DENYOOM,
        // Destination and sources: keys on several shards run as one transaction.
        keys: KeySpec::Range { first: 2, last: -1, step: 1 },
        handler: Handler::Keyed(bitop),
        group: "bitmap",
        summary: "Perform bitwise operations between strings",
        since: "2.6.0",
    },
    CommandSpec {
        name: "bitfield",
        arity: -2,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ONE_KEY,
        handler: Handler::Keyed(bitfield),
        group: "bitmap",
        summary: "Perform arbitrary bitfield integer operations on strings",
        since: "3.2.0",
    },
    CommandSpec {
        name: "bitfield_ro",
        arity: -2,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(bitfield_ro),
        group: "bitmap",
        summary: "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        since: "6.0.0",
    },
];

#[cfg(test)]
#[path = "bitmap_tests.rs"]
mod tests;
