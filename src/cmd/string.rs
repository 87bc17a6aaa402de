//! String commands: GET/SET and their variants, the INCR family, ranges, APPEND and LCS.
//!
//! Every reply, error text and edge case follows Redis 7.0 (`t_string.c`). Values are
//! `Value::Str(StrBuf)` (inline up to 38 bytes); integers stay as decimal text (see `storage::value`), so INCR
//! parses and rewrites at most 20 bytes in place and keeps the key's TTL, as Redis's
//! `dbOverwrite` does.
//!
//! GET and SET are the benchmarked commands: GET writes the value straight from the
//! database into the reply, and a plain `SET k v` skips option parsing entirely and
//! allocates nothing but the stored value (plus the key, when new).
//!
//! Hit/miss accounting mirrors Redis: commands that look keys up "for reading"
//! (`lookupKeyRead`: GET, MGET, STRLEN, GETRANGE, GETSET, GETDEL, GETEX, SET ... GET, LCS)
//! count `keyspace_hits`/`keyspace_misses`; write lookups (INCR, APPEND ...) do not.

use super::ctx::ExecCtx;
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::config::notify;
use crate::storage::{StrBuf, Value};
use crate::util::num;

// ---- Value access ---------------------------------------------------------------------

/// The bytes of a string value, or WRONGTYPE for any other type.
// The wildcard arm is unreachable while strings are the only type; it is what makes
// every command here answer WRONGTYPE once the other types join `Value`.
#[allow(unreachable_patterns)]
#[inline]
pub(super) fn as_str(v: &Value) -> Result<&[u8], CmdError> {
    match v {
        Value::Str(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// Mutable access to a string value for an in-place edit (APPEND, SETRANGE, SETBIT,
/// PFADD), which makes it `raw` for OBJECT ENCODING, or WRONGTYPE.
#[allow(unreachable_patterns)]
#[inline]
pub(super) fn as_raw_str_mut(v: &mut Value) -> Result<&mut Vec<u8>, CmdError> {
    match v {
        Value::Str(s) => Ok(s.raw_mut()),
        _ => Err(CmdError::WrongType),
    }
}

/// Redis's `checkStringLength`: a string may not grow past proto-max-bulk-len.
fn check_string_length(max: u64, size: u64, append: u64) -> Result<(), CmdError> {
    match size.checked_add(append) {
        Some(total) if total <= max => Ok(()),
        _ => Err(CmdError::msg("ERR string exceeds maximum allowed size (proto-max-bulk-len)")),
    }
}

// ---- SET / GETEX option parsing ---------------------------------------------------------

/// Option flags of SET and GETEX, named after Redis's `OBJ_*` flags so that the
/// conflict rules below read like `parseExtendedStringArgumentsOrReply`.
mod opt {
    pub const NX: u16 = 1 << 0;
    pub const XX: u16 = 1 << 1;
    pub const GET: u16 = 1 << 2;
    pub const KEEPTTL: u16 = 1 << 3;
    pub const PERSIST: u16 = 1 << 4;
    pub const EX: u16 = 1 << 5;
    pub const PX: u16 = 1 << 6;
    pub const EXAT: u16 = 1 << 7;
    pub const PXAT: u16 = 1 << 8;
    /// Any expire option.
    pub const ANY_EXPIRE: u16 = EX | PX | EXAT | PXAT;
}

/// Parsed SET/GETEX options: flags and the index of the expire argument, if any.
struct ExtOpts {
    flags: u16,
    expire: Option<usize>,
}

/// Parses SET (`is_set`) or GETEX options from argument `from` on, with Redis's rules:
/// NX/XX exclude each other, KEEPTTL/PERSIST exclude every expire option, the expire
/// options exclude each other (but the same one may repeat, the last one winning), and
/// an expire option needs a following argument. Anything else is a syntax error. The
/// expire value itself is checked later, as Redis does, so a syntax error anywhere wins
/// over a bad number.
fn parse_ext(a: &Args, from: usize, is_set: bool) -> Result<ExtOpts, CmdError> {
    use opt::*;
    let mut flags = 0u16;
    let mut expire = None;
    let mut j = from;
    while j < a.len() {
        let o = a.get(j);
        let has_next = j + 1 < a.len();
        // The expire option this argument names, with the options it may not meet.
        let exp = if o.eq_ignore_ascii_case(b"EX") {
            Some(EX)
        } else if o.eq_ignore_ascii_case(b"PX") {
            Some(PX)
        } else if o.eq_ignore_ascii_case(b"EXAT") {
            Some(EXAT)
        } else if o.eq_ignore_ascii_case(b"PXAT") {
            Some(PXAT)
        } else {
            None
        };
        if let Some(e) = exp {
            let conflicts = KEEPTTL | PERSIST | (ANY_EXPIRE & !e);
            if flags & conflicts != 0 || !has_next {
                return Err(CmdError::Syntax);
            }
            flags |= e;
            expire = Some(j + 1);
            j += 2;
            continue;
        }
        let ok = if o.eq_ignore_ascii_case(b"NX") {
            is_set && flags & XX == 0 && {
                flags |= NX;
                true
            }
        } else if o.eq_ignore_ascii_case(b"XX") {
            is_set && flags & NX == 0 && {
                flags |= XX;
                true
            }
        } else if o.eq_ignore_ascii_case(b"GET") {
            is_set && {
                flags |= GET;
                true
            }
        } else if o.eq_ignore_ascii_case(b"KEEPTTL") {
            is_set && flags & (PERSIST | ANY_EXPIRE) == 0 && {
                flags |= KEEPTTL;
                true
            }
        } else if o.eq_ignore_ascii_case(b"PERSIST") {
            !is_set && flags & (KEEPTTL | ANY_EXPIRE) == 0 && {
                flags |= PERSIST;
                true
            }
        } else {
            false
        };
        if !ok {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(ExtOpts { flags, expire })
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute expiry (unix ms) that expire
/// argument `i` asks for. Non-positive values, seconds that overflow when scaled and
/// relative times that overflow when added to now are all "invalid expire time".
fn expire_at_ms(a: &Args, i: usize, flags: u16, now_ms: u64, cmd: &str) -> Result<u64, CmdError> {
    let v = a.i64(i)?;
    let seconds = flags & (opt::EX | opt::EXAT) != 0;
    let invalid = || CmdError::InvalidExpire(cmd.to_string());
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(invalid());
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if flags & (opt::EX | opt::PX) != 0 {
        ms = ms.checked_add(now_ms as i64).ok_or_else(invalid)?;
    }
    Ok(ms as u64)
}

// ---- GET / SET family -------------------------------------------------------------------

fn get(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    match db.get(a.get(1), now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            out.bulk(as_str(&e.value)?);
        }
        None => {
            stats.miss(a.get(1));
            out.null();
        }
    }
    Ok(())
}

/// What SET-like commands reply when they set (`ok`) or decline to (`abort`), as the
/// `ok_reply`/`abort_reply` arguments of Redis's `setGenericCommand`.
#[derive(Clone, Copy)]
enum SetReplies {
    /// SET, SETEX, PSETEX: +OK, or a null when NX/XX declines.
    OkNull,
    /// SETNX: 1 or 0.
    OneZero,
}

/// Redis's `setGenericCommand`: validates the expiry, answers the GET option, applies
/// NX/XX, then stores the value with the requested TTL (KEEPTTL keeps the old one).
fn set_generic(
    c: &mut ExecCtx,
    a: &Args,
    vi: usize,
    o: &ExtOpts,
    cmd: &str,
    replies: SetReplies,
) -> Result<(), CmdError> {
    use opt::*;
    let now = c.now_ms;
    let expire_at = match o.expire {
        Some(i) => expire_at_ms(a, i, o.flags, now, cmd)?,
        None => 0,
    };
    let key = a.get(1);
    let (db, out, stats) = c.parts();
    if o.flags & GET != 0 {
        // Nothing can fail after this reply: the type check comes first.
        match db.get(key, now) {
            Some(e) => {
                stats.keyspace_hits += 1;
                out.bulk(as_str(&e.value)?);
            }
            None => {
                stats.miss(key);
                out.null();
            }
        }
    }
    let old_ttl =
        if o.flags & (NX | XX | KEEPTTL) != 0 { db.get_with_expire(key, now).map(|(_, at)| at) } else { None };
    let found = old_ttl.is_some();
    if (o.flags & NX != 0 && found) || (o.flags & XX != 0 && !found) {
        if o.flags & GET == 0 {
            match replies {
                SetReplies::OkNull => out.null(),
                SetReplies::OneZero => out.int(0),
            }
        }
        return Ok(());
    }
    let ttl = if o.expire.is_some() {
        expire_at
    } else if o.flags & KEEPTTL != 0 {
        old_ttl.unwrap_or(0)
    } else {
        0
    };
    if let Some(old) = db.set_str(key, a.get(vi), ttl) {
        crate::shard::lazyfree::free_value(old, c.config.lazyfree_lazy_server_del);
    }
    c.notify(notify::STRING, "set", key);
    if o.expire.is_some() {
        c.notify(notify::GENERIC, "expire", key);
    }
    if ttl != 0 && ttl <= now {
        // An EXAT/PXAT in the past: Redis 7.0 sets the key with that TTL, so it is gone
        // at the next access. Expire it now (counted, propagated and notified as an
        // expiry, after the set).
        c.db().remove(key, now);
    }
    c.dirty += 1;
    if o.flags & GET == 0 {
        match replies {
            SetReplies::OkNull => c.out.ok(),
            SetReplies::OneZero => c.out.int(1),
        }
    }
    Ok(())
}

fn set(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    if a.len() == 3 {
        // The hot path: no options, nothing to look up first.
        // A big value that came in its own read buffer is moved in, not copied (the
        // placeholder is replaced right after the command: `fill_lent_value`).
        let value: &[u8] = if a.lend(2, 1, c.db) { b"" } else { a.get(2) };
        if let Some(old) = c.db().set_str(a.get(1), value, 0) {
            crate::shard::lazyfree::free_value(old, c.config.lazyfree_lazy_server_del);
        }
        c.notify(notify::STRING, "set", a.get(1));
        c.dirty += 1;
        c.out.ok();
        return Ok(());
    }
    let o = parse_ext(a, 3, true)?;
    set_generic(c, a, 2, &o, "set", SetReplies::OkNull)
}

/// Puts a big SET value that the command lent (`Args::lend`) in place of its empty
/// placeholder. Nothing ran in between that could replace it, but a key that is gone
/// or holds something else now keeps what it holds.
pub fn fill_lent_value(dbs: &mut [crate::storage::Db], db: usize, key: &[u8], value: Vec<u8>, now_ms: u64) {
    let d = &mut dbs[db];
    let expire_at = match d.get_notouch_with_expire(key, now_ms) {
        Some((e, at)) if matches!(&e.value, Value::Str(s) if s.is_empty()) => at,
        _ => return,
    };
    d.set(key, Value::Str(StrBuf::from(value)), expire_at);
}

fn setnx(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let o = ExtOpts { flags: opt::NX, expire: None };
    set_generic(c, a, 2, &o, "setnx", SetReplies::OneZero)
}

fn setex(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let o = ExtOpts { flags: opt::EX, expire: Some(2) };
    set_generic(c, a, 3, &o, "setex", SetReplies::OkNull)
}

fn psetex(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let o = ExtOpts { flags: opt::PX, expire: Some(2) };
    set_generic(c, a, 3, &o, "psetex", SetReplies::OkNull)
}

fn getset(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let key = a.get(1);
    let (db, out, stats) = c.parts();
    match db.get(key, now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            out.bulk(as_str(&e.value)?);
        }
        None => {
            stats.miss(key);
            out.null();
        }
    }
    // Like SET, GETSET discards any TTL.
    db.set(key, Value::Str(a.get(2).into()), 0);
    c.notify(notify::STRING, "set", key);
    c.dirty += 1;
    Ok(())
}

fn getdel(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let key = a.get(1);
    let (db, out, stats) = c.parts();
    match db.get(key, now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            out.bulk(as_str(&e.value)?);
        }
        None => {
            stats.miss(key);
            out.null();
            return Ok(());
        }
    }
    db.remove(key, now);
    c.notify(notify::GENERIC, "del", key);
    c.dirty += 1;
    Ok(())
}

fn getex(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    use opt::*;
    let o = parse_ext(a, 2, false)?;
    let now = c.now_ms;
    let key = a.get(1);
    let (db, out, stats) = c.parts();
    let Some(e) = db.get(key, now) else {
        stats.miss(key);
        out.null();
        return Ok(());
    };
    stats.keyspace_hits += 1;
    let had_ttl = e.has_ttl();
    let s = as_str(&e.value)?;
    // As in Redis, a missing key or a wrong type is reported before a bad expire value.
    let when = match o.expire {
        Some(i) => Some(expire_at_ms(a, i, o.flags, now, "getex")?),
        None => None,
    };
    out.bulk(s);
    match when {
        Some(t) if o.flags & (EXAT | PXAT) != 0 && t <= now => {
            // An absolute time already past deletes the key (Redis propagates DEL).
            db.remove(key, now);
            c.notify(notify::GENERIC, "del", key);
            c.dirty += 1;
        }
        Some(t) => {
            db.set_expire(key, t, now);
            c.notify(notify::GENERIC, "expire", key);
            c.dirty += 1;
        }
        None if o.flags & PERSIST != 0 && had_ttl => {
            db.set_expire(key, 0, now);
            c.notify(notify::GENERIC, "persist", key);
            c.dirty += 1;
        }
        None => {}
    }
    Ok(())
}

// ---- Multi-key ----------------------------------------------------------------------------

fn mget(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    out.array(a.len() - 1);
    for i in 1..a.len() {
        match db.get(a.get(i), now) {
            Some(e) => {
                stats.keyspace_hits += 1;
                // MGET never fails: a value of another type reads as nil.
                match as_str(&e.value) {
                    Ok(s) => out.bulk(s),
                    Err(_) => out.null(),
                }
            }
            None => {
                stats.miss(a.get(i));
                out.null();
            }
        }
    }
    Ok(())
}

/// MSET and MSETNX (`nx`): pairs must be complete; MSETNX sets nothing if any key exists.
fn mset_generic(c: &mut ExecCtx, a: &Args, nx: bool) -> Result<(), CmdError> {
    if a.len().is_multiple_of(2) {
        return Err(CmdError::msg(super::error::wrong_arity(if nx { "msetnx" } else { "mset" })));
    }
    let now = c.now_ms;
    let db = c.db();
    if nx && (1..a.len()).step_by(2).any(|i| db.contains(a.get(i), now)) {
        c.out.int(0);
        return Ok(());
    }
    for i in (1..a.len()).step_by(2) {
        c.db().set(a.get(i), Value::Str(a.get(i + 1).into()), 0);
        c.notify(notify::STRING, "set", a.get(i));
    }
    c.dirty += (a.len() as u64 - 1) / 2;
    if nx {
        c.out.int(1)
    } else {
        c.out.ok()
    }
    Ok(())
}

fn mset(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    mset_generic(c, a, false)
}

fn msetnx(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    mset_generic(c, a, true)
}

// ---- In-place edits ---------------------------------------------------------------------

fn append(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let max = c.config.proto_max_bulk_len;
    let (key, val) = (a.get(1), a.get(2));
    let db = &mut c.dbs[c.db];
    let total = match db.get_mut(key, now) {
        Some(e) => {
            check_string_length(max, as_str(&e.value)?.len() as u64, val.len() as u64)?;
            let s = as_raw_str_mut(&mut e.value)?;
            s.extend_from_slice(val);
            s.len()
        }
        None => {
            // A new key needs no length check: the argument already fit in a request.
            db.set(key, Value::Str(val.into()), 0);
            val.len()
        }
    };
    c.notify(notify::STRING, "append", key);
    c.dirty += 1;
    c.out.int(total as i64);
    Ok(())
}

fn strlen(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    match db.get(a.get(1), now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            out.int(as_str(&e.value)?.len() as i64);
        }
        None => {
            stats.miss(a.get(1));
            out.int(0);
        }
    }
    Ok(())
}

/// GETRANGE and SUBSTR, with Redis 7.0's index rules: negative indexes count from the
/// end and clamp to 0, `end` clamps to the last byte, and both negative with
/// start > end gives an empty string.
fn getrange(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let mut start = a.i64(2)?;
    let mut end = a.i64(3)?;
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(e) = db.get(a.get(1), now) else {
        stats.miss(a.get(1));
        out.bulk(b"");
        return Ok(());
    };
    stats.keyspace_hits += 1;
    let s = as_str(&e.value)?;
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        out.bulk(b"");
    } else {
        out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let offset = a.i64(2)?;
    if offset < 0 {
        return Err(CmdError::OutOfRange("offset"));
    }
    let (key, val) = (a.get(1), a.get(3));
    let now = c.now_ms;
    let max = c.config.proto_max_bulk_len;
    let db = &mut c.dbs[c.db];
    // Redis's order: the type, then "nothing to write" (which creates no key), then
    // the size limit.
    let len = match db.get_mut(key, now) {
        Some(e) => {
            let len = as_str(&e.value)?.len();
            if val.is_empty() {
                c.out.int(len as i64);
                return Ok(());
            }
            check_string_length(max, offset as u64, val.len() as u64)?;
            // Only a write makes the string `raw`.
            let s = as_raw_str_mut(&mut e.value)?;
            let (off, end) = (offset as usize, offset as usize + val.len());
            if s.len() < end {
                s.resize(end, 0);
            }
            s[off..end].copy_from_slice(val);
            s.len()
        }
        None => {
            if val.is_empty() {
                c.out.int(0);
                return Ok(());
            }
            check_string_length(max, offset as u64, val.len() as u64)?;
            let (off, end) = (offset as usize, offset as usize + val.len());
            let mut s = vec![0u8; end];
            s[off..].copy_from_slice(val);
            db.set(key, Value::Str(StrBuf::raw(s)), 0);
            end
        }
    };
    c.notify(notify::STRING, "setrange", key);
    c.dirty += 1;
    c.out.int(len as i64);
    Ok(())
}

// ---- Counters -----------------------------------------------------------------------------

/// Redis's `incrDecrCommand`: adds `incr` to the integer at the key (0 if missing),
/// replacing the text in place so the TTL stays. A result always fits inline in the
/// value (20 bytes at most), so the counter never gets a heap block of its own: no
/// allocation per new key and no second cache miss per INCR of an existing one.
fn incr_by(c: &mut ExecCtx, key: &[u8], incr: i64) -> Result<(), CmdError> {
    let now = c.now_ms;
    let mut text = [0u8; 20];
    let v = match c.db().get_mut(key, now) {
        Some(e) => {
            let old = num::parse_i64(as_str(&e.value)?).ok_or(CmdError::NotInteger)?;
            let v = old.checked_add(incr).ok_or(CmdError::Overflow)?;
            // Rewritten whole only once it succeeds: a refused INCR keeps a `raw` string.
            e.value = Value::Str(StrBuf::new(num::i64_text(v, &mut text)));
            v
        }
        None => {
            c.db().set(key, Value::Str(StrBuf::new(num::i64_text(incr, &mut text))), 0);
            incr
        }
    };
    c.notify(notify::STRING, "incrby", key);
    c.dirty += 1;
    c.out.int(v);
    Ok(())
}

fn incr(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    incr_by(c, a.get(1), 1)
}

fn decr(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    incr_by(c, a.get(1), -1)
}

fn incrby(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let n = a.i64(2)?;
    incr_by(c, a.get(1), n)
}

fn decrby(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let n = a.i64(2)?;
    // Negating i64::MIN would overflow; Redis 7.0 rejects it with its own message.
    if n == i64::MIN {
        return Err(CmdError::msg("ERR decrement would overflow"));
    }
    incr_by(c, a.get(1), -n)
}

fn incrbyfloat(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let key = a.get(1);
    // Order as in Redis: the type, then the stored value, then the increment.
    let (db, out, _) = c.parts();
    match db.get_mut(key, now) {
        Some(e) => {
            let old = num::parse_f64(as_str(&e.value)?).ok_or(CmdError::NotFloat)?;
            let v = old + a.f64(2)?;
            if !v.is_finite() {
                return Err(CmdError::msg("ERR increment would produce NaN or Infinity"));
            }
            // Only now is the value rewritten (and named as a float's text).
            let Value::Str(s) = &mut e.value else { unreachable!("checked above") };
            let s = s.float_mut();
            s.clear();
            num::write_long_double_incr(s, v);
            out.bulk(s);
        }
        None => {
            let v = a.f64(2)?;
            if !v.is_finite() {
                return Err(CmdError::msg("ERR increment would produce NaN or Infinity"));
            }
            let mut s = Vec::with_capacity(24);
            num::write_long_double_incr(&mut s, v);
            out.bulk(&s);
            db.set(key, Value::Str(StrBuf::float(s)), 0);
        }
    }
    c.notify(notify::STRING, "incrbyfloat", key);
    c.dirty += 1;
    Ok(())
}

// ---- LCS ------------------------------------------------------------------------------------

/// One matching range of LCS IDX: (start, end) in each string, inclusive.
struct LcsRange {
    a: (u32, u32),
    b: (u32, u32),
}

fn lcs(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let not_strings = || CmdError::msg("ERR The specified keys must contain string values");
    let (k1, k2) = (a.get(1), a.get(2));
    // Look both keys up as reads (expiring, counting, type-checking); the values are
    // then borrowed without copying.
    let mut strings = true;
    for k in [k1, k2] {
        let (db, _, stats) = c.parts();
        match db.get(k, now) {
            Some(e) => {
                stats.keyspace_hits += 1;
                strings &= as_str(&e.value).is_ok();
            }
            None => stats.miss(k),
        }
    }
    if !strings {
        return Err(not_strings());
    }
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: u64 = 0;
    let mut j = 3;
    while j < a.len() {
        if a.is(j, "IDX") {
            getidx = true;
        } else if a.is(j, "LEN") {
            getlen = true;
        } else if a.is(j, "WITHMATCHLEN") {
            withmatchlen = true;
        } else if a.is(j, "MINMATCHLEN") && j + 1 < a.len() {
            minmatchlen = a.i64(j + 1)?.max(0) as u64;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if getidx && getlen {
        return Err(CmdError::msg("ERR If you want both the length and indexes, please just use IDX."));
    }
    let db = &c.dbs[c.db];
    let value = |k: &[u8]| db.peek(k).map_or(Ok(&[][..]), |e| as_str(&e.value));
    let (sa, sb) = (value(k1)?, value(k2)?);
    if sa.len() >= u32::MAX as usize - 1 || sb.len() >= u32::MAX as usize - 1 {
        return Err(CmdError::msg("ERR String too long for LCS"));
    }
    let (alen, blen) = (sa.len(), sb.len());
    // The dynamic-programming table: lcs[i*(blen+1)+j] = LCS length of a[..i], b[..j].
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > c.config.proto_max_bulk_len {
        return Err(CmdError::msg("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(CmdError::msg("ERR Insufficient memory, failed allocating transient memory for LCS"));
    }
    table.resize(cells as usize, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for k in 1..=blen {
            table[i * w + k] = if sa[i - 1] == sb[k - 1] {
                table[(i - 1) * w + k - 1] + 1
            } else {
                table[(i - 1) * w + k].max(table[i * w + k - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    if getlen {
        c.out.int(total as i64);
        return Ok(());
    }
    // Walk back from the end, collecting the LCS bytes and (for IDX) the ranges in
    // the order Redis emits them: from the end of the strings towards the start.
    let mut result = vec![0u8; total as usize];
    let mut ranges: Vec<LcsRange> = Vec::new();
    let unset = alen as u32;
    let (mut ast, mut aend, mut bst, mut bend) = (unset, 0u32, 0u32, 0u32);
    let (mut i, mut k, mut idx) = (alen, blen, total as usize);
    while i > 0 && k > 0 {
        let mut emit = false;
        if sa[i - 1] == sb[k - 1] {
            result[idx - 1] = sa[i - 1];
            if ast == unset {
                ast = (i - 1) as u32;
                aend = ast;
                bst = (k - 1) as u32;
                bend = bst;
            } else if ast == i as u32 && bst == k as u32 {
                // Contiguous with the current range: extend it backwards.
                ast -= 1;
                bst -= 1;
            } else {
                emit = true;
            }
            // A range touching the start of either string is complete.
            if ast == 0 || bst == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            k -= 1;
        } else {
            if table[(i - 1) * w + k] > table[i * w + k - 1] {
                i -= 1;
            } else {
                k -= 1;
            }
            if ast != unset {
                emit = true;
            }
        }
        if emit {
            let match_len = aend - ast + 1;
            if getidx && (minmatchlen == 0 || match_len as u64 >= minmatchlen) {
                ranges.push(LcsRange { a: (ast, aend), b: (bst, bend) });
            }
            ast = unset;
        }
    }
    if !getidx {
        c.out.bulk(&result);
        return Ok(());
    }
    let out = &mut c.out;
    out.map(2);
    out.bulk(b"matches");
    out.array(ranges.len());
    for r in &ranges {
        out.array(2 + withmatchlen as usize);
        out.array(2);
        out.int(r.a.0 as i64);
        out.int(r.a.1 as i64);
        out.array(2);
        out.int(r.b.0 as i64);
        out.int(r.b.1 as i64);
        if withmatchlen {
            out.int((r.a.1 - r.a.0 + 1) as i64);
        }
    }
    out.bulk(b"len");
    out.int(total as i64);
    Ok(())
}

// ---- Table ----------------------------------------------------------------------------------

const ONE_KEY: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: 2,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(get),
        group: "string",
        summary: "Returns the string value of a key.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "set",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ONE_KEY,
        handler: Handler::Keyed(set),
        group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "setnx",
        arity: 3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(setnx),
        group: "string",
        summary: "Set the string value of a key only when the key doesn't exist.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "setex",
        arity: 4,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ONE_KEY,
        handler: Handler::Keyed(setex),
        group: "string",
        summary: "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "psetex",
        arity: 4,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ONE_KEY,
        handler: Handler::Keyed(psetex),
        group: "string",
        summary: "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        since: "2.6.0",
    },
    CommandSpec {
        name: "getset",
        arity: 3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(getset),
        group: "string",
        summary: "Returns the previous string value of a key after setting it to a new value.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "getdel",
        arity: 2,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(getdel),
        group: "string",
        summary: "Returns the string value of a key after deleting the key.",
        since: "6.2.0",
    },
    CommandSpec {
        name: "getex",
        arity: -2,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(getex),
        group: "string",
        summary: "Returns the string value of a key after setting its expiration time.",
        since: "6.2.0",
    },
    CommandSpec {
        name: "mget",
        arity: -2,
        flags: flag::READONLY | flag::FAST,
        keys: KeySpec::Range { first: 1, last: -1, step: 1 },
        handler: Handler::Keyed(mget),
        group: "string",
        summary: "Atomically returns the string values of one or more keys.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "mset",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM,
        keys: KeySpec::Range { first: 1, last: -1, step: 2 },
        handler: Handler::Keyed(mset),
        group: "string",
        summary: "Atomically creates or modifies the string values of one or more keys.",
        since: "1.0.1",
    },
    CommandSpec {
        name: "msetnx",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM,
        keys: KeySpec::Range { first: 1, last: -1, step: 2 },
        handler: Handler::Keyed(msetnx),
        group: "string",
        summary: "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        since: "1.0.1",
    },
    CommandSpec {
        name: "append",
        arity: 3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(append),
        group: "string",
        summary: "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "strlen",
        arity: 2,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(strlen),
        group: "string",
        summary: "Returns the length of a string value.",
        since: "2.2.0",
    },
    CommandSpec {
        name: "getrange",
        arity: 4,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(getrange),
        group: "string",
        summary: "Returns a substring of the string stored at a key.",
        since: "2.4.0",
    },
    CommandSpec {
        name: "substr",
        arity: 4,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(getrange),
        group: "string",
        summary: "Returns a substring from a string value.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "setrange",
        arity: 4,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ONE_KEY,
        handler: Handler::Keyed(setrange),
        group: "string",
        summary: "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        since: "2.2.0",
    },
    CommandSpec {
        name: "incr",
        arity: 2,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(incr),
        group: "string",
        summary: "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "decr",
        arity: 2,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(decr),
        group: "string",
        summary: "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "incrby",
        arity: 3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(incrby),
        group: "string",
        summary: "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "decrby",
        arity: 3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(decrby),
        group: "string",
        summary: "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "incrbyfloat",
        arity: 3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(incrbyfloat),
        group: "string",
        summary: "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        since: "2.6.0",
    },
    CommandSpec {
        name: "lcs",
        arity: -3,
        flags: flag::READONLY,
        keys: KeySpec::Range { first: 1, last: 2, step: 1 },
        handler: Handler::Keyed(lcs),
        group: "string",
        summary: "Finds the longest common substring.",
        since: "7.0.0",
    },
];

#[cfg(test)]
mod tests {
    use super::super::harness::{Harness, Reply};
    use crate::shard::shard_of;

    const NOT_INT: &str = "ERR value is not an integer or out of range";
    const SYNTAX: &str = "ERR syntax error";

    fn ok() -> Reply {
        Reply::Simple("OK".into())
    }
    fn b(s: &str) -> Reply {
        Reply::bulk(s)
    }
    fn int(n: i64) -> Reply {
        Reply::Int(n)
    }
    fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }
    fn arr(v: Vec<Reply>) -> Reply {
        Reply::Array(v)
    }

    use super::super::harness::each;

    /// The stored absolute expiry of `key` in db 0 (None if absent, 0 if no TTL).
    fn expire_of(h: &Harness, key: &str) -> Option<u64> {
        let s = shard_of(key.as_bytes(), h.shards.len());
        h.shards[s].dbs[0].peek_with_expire(key.as_bytes()).map(|(_, at)| at)
    }

    fn now(h: &Harness) -> u64 {
        h.clock.now_ms()
    }

    fn hits_misses(h: &Harness) -> (u64, u64) {
        h.shards.iter().fold((0, 0), |(a, b), s| (a + s.stats.keyspace_hits, b + s.stats.keyspace_misses))
    }

    fn dirty(h: &Harness) -> u64 {
        h.shards.iter().map(|s| s.dirty).sum()
    }

    /// Two keys that live on different shards when there are several.
    fn split_keys(h: &Harness) -> (String, String) {
        let n = h.shards.len();
        let first = "k0".to_string();
        let other = (1..1000)
            .map(|i| format!("k{i}"))
            .find(|k| n == 1 || shard_of(k.as_bytes(), n) != shard_of(first.as_bytes(), n))
            .expect("some key on another shard");
        (first, other)
    }

    #[test]
    fn get_and_plain_set() {
        each(|h| {
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);
            assert_eq!(h.run(&["set", "k", "v"]), ok());
            assert_eq!(h.run(&["get", "k"]), b("v"));
            assert_eq!(h.run(&["set", "k", ""]), ok());
            assert_eq!(h.run(&["get", "k"]), b(""));
            assert_eq!(h.run(&["set", "k"]), err("ERR wrong number of arguments for 'set' command"));
            assert_eq!(h.run(&["get", "k", "x"]), err("ERR wrong number of arguments for 'get' command"));
            h.resp3();
            assert_eq!(h.run(&["get", "missing"]), Reply::Nil);
        });
    }

    #[test]
    fn binary_safe_values() {
        let mut h = Harness::new(1);
        let v: &[u8] = b"a\r\n\0b";
        let raw = h.run_raw(&[b"set", b"bin", v]);
        assert_eq!(raw, b"+OK\r\n");
        assert_eq!(h.run_raw(&[b"get", b"bin"]), b"$5\r\na\r\n\0b\r\n");
    }

    #[test]
    fn hits_misses_and_dirty() {
        each(|h| {
            h.run(&["set", "a", "1"]);
            let d0 = dirty(h);
            assert!(d0 >= 1);
            let (h0, m0) = hits_misses(h);
            h.run(&["get", "a"]);
            h.run(&["get", "nope"]);
            h.run(&["strlen", "a"]);
            h.run(&["getrange", "nope", "0", "1"]);
            assert_eq!(hits_misses(h), (h0 + 2, m0 + 2));
            h.run(&["mget", "a", "nope", "a"]);
            assert_eq!(hits_misses(h), (h0 + 4, m0 + 3));
            // Write lookups are not reads.
            h.run(&["incr", "a"]);
            h.run(&["append", "a", "x"]);
            assert_eq!(hits_misses(h), (h0 + 4, m0 + 3));
            // Reads do not dirty; a declined SET NX does not either.
            h.run(&["set", "a", "1", "nx"]);
            assert_eq!(dirty(h), d0 + 2);
        });
    }

    #[test]
    fn set_nx_xx() {
        each(|h| {
            assert_eq!(h.run(&["set", "k", "1", "xx"]), Reply::Nil);
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);
            assert_eq!(h.run(&["set", "k", "1", "NX"]), ok());
            assert_eq!(h.run(&["set", "k", "2", "nx"]), Reply::Nil);
            assert_eq!(h.run(&["get", "k"]), b("1"));
            assert_eq!(h.run(&["set", "k", "3", "Xx"]), ok());
            assert_eq!(h.run(&["get", "k"]), b("3"));
            assert_eq!(h.run(&["set", "k", "4", "nx", "xx"]), err(SYNTAX));
            assert_eq!(h.run(&["set", "k", "4", "xx", "nx"]), err(SYNTAX));
            // The same option twice is accepted, as in Redis.
            assert_eq!(h.run(&["set", "k", "4", "xx", "xx"]), ok());
            assert_eq!(h.run(&["set", "k", "4", "bogus"]), err(SYNTAX));
            assert_eq!(h.run(&["set", "k", "4", "persist"]), err(SYNTAX));
        });
    }

    #[test]
    fn set_expire_options() {
        each(|h| {
            let t = now(h);
            assert_eq!(h.run(&["set", "k", "v", "ex", "10"]), ok());
            assert_eq!(expire_of(h, "k"), Some(t + 10_000));
            assert_eq!(h.run(&["set", "k", "v", "PX", "1500"]), ok());
            assert_eq!(expire_of(h, "k"), Some(t + 1500));
            let at = (t / 1000 + 100).to_string();
            assert_eq!(h.run(&["set", "k", "v", "exat", &at]), ok());
            assert_eq!(expire_of(h, "k"), Some((t / 1000 + 100) * 1000));
            let pat = (t + 12345).to_string();
            assert_eq!(h.run(&["set", "k", "v", "pxat", &pat]), ok());
            assert_eq!(expire_of(h, "k"), Some(t + 12345));
            // The same expire option twice: the last one wins.
            assert_eq!(h.run(&["set", "k", "v", "ex", "10", "ex", "20"]), ok());
            assert_eq!(expire_of(h, "k"), Some(t + 20_000));
            // Plain SET drops the TTL; KEEPTTL keeps it.
            assert_eq!(h.run(&["set", "k", "v", "keepttl"]), ok());
            assert_eq!(expire_of(h, "k"), Some(t + 20_000));
            assert_eq!(h.run(&["set", "k", "w"]), ok());
            assert_eq!(expire_of(h, "k"), Some(0));
            assert_eq!(h.run(&["set", "new", "v", "keepttl"]), ok());
            assert_eq!(expire_of(h, "new"), Some(0));
            // Expire options with NX/XX/GET in any order.
            assert_eq!(h.run(&["set", "k", "v2", "px", "100", "xx", "get"]), b("w"));
            assert_eq!(expire_of(h, "k"), Some(t + 100));
        });
    }

    #[test]
    fn set_option_conflicts_and_bad_expires() {
        each(|h| {
            for opts in [
                &["ex", "1", "px", "1"][..],
                &["px", "1", "exat", "1"],
                &["exat", "1", "pxat", "1"],
                &["ex", "1", "keepttl"],
                &["keepttl", "px", "1"],
                &["ex"],
                &["nx", "ex"],
                // A syntax error wins over a bad number earlier on the line.
                &["ex", "abc", "foo"],
            ] {
                let mut args = vec!["set", "k", "v"];
                args.extend_from_slice(opts);
                assert_eq!(h.run(&args), err(SYNTAX), "{opts:?}");
            }
            let invalid = err("ERR invalid expire time in 'set' command");
            assert_eq!(h.run(&["set", "k", "v", "ex", "0"]), invalid);
            assert_eq!(h.run(&["set", "k", "v", "px", "-5"]), invalid);
            assert_eq!(h.run(&["set", "k", "v", "exat", "0"]), invalid);
            assert_eq!(h.run(&["set", "k", "v", "ex", "9223372036854775807"]), invalid);
            assert_eq!(h.run(&["set", "k", "v", "px", "9223372036854775807"]), invalid);
            assert_eq!(h.run(&["set", "k", "v", "ex", "1.5"]), err(NOT_INT));
            assert_eq!(h.run(&["set", "k", "v", "ex", " 1"]), err(NOT_INT));
            // None of those stored anything.
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);
            // Large absolute times are fine.
            assert_eq!(h.run(&["set", "k", "v", "exat", "9223372036854775"]), ok());
            assert_eq!(expire_of(h, "k"), Some(9_223_372_036_854_775_000));
        });
    }

    #[test]
    fn set_in_the_past_deletes() {
        each(|h| {
            h.run(&["set", "k", "old"]);
            let past = (now(h) - 1).to_string();
            assert_eq!(h.run(&["set", "k", "v", "pxat", &past]), ok());
            assert_eq!(expire_of(h, "k"), None);
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);
            let expired: u64 = h.shards.iter().map(|s| s.stats.expired_keys).sum();
            assert_eq!(expired, 1);
            assert_eq!(h.run(&["set", "k", "v", "exat", "1"]), ok());
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);
        });
    }

    #[test]
    fn set_px_expires_with_the_clock() {
        each(|h| {
            assert_eq!(h.run(&["set", "k", "v", "px", "100"]), ok());
            h.advance_ms(99);
            assert_eq!(h.run(&["get", "k"]), b("v"));
            h.advance_ms(2);
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);
            // An expired key counts as missing for NX.
            assert_eq!(h.run(&["set", "j", "v", "px", "10"]), ok());
            h.advance_ms(11);
            assert_eq!(h.run(&["set", "j", "w", "nx"]), ok());
        });
    }

    #[test]
    fn set_get_option() {
        each(|h| {
            assert_eq!(h.run(&["set", "k", "1", "get"]), Reply::Nil);
            assert_eq!(h.run(&["get", "k"]), b("1"));
            assert_eq!(h.run(&["set", "k", "2", "GET"]), b("1"));
            assert_eq!(h.run(&["get", "k"]), b("2"));
            // NX + GET (allowed since 7.0): returns the old value, sets nothing.
            assert_eq!(h.run(&["set", "k", "3", "nx", "get"]), b("2"));
            assert_eq!(h.run(&["get", "k"]), b("2"));
            assert_eq!(h.run(&["set", "n", "3", "nx", "get"]), Reply::Nil);
            assert_eq!(h.run(&["get", "n"]), b("3"));
            // XX + GET on a missing key: nil, nothing set.
            assert_eq!(h.run(&["set", "m", "3", "xx", "get"]), Reply::Nil);
            assert_eq!(h.run(&["get", "m"]), Reply::Nil);
            // Expire errors come before the GET reply.
            assert_eq!(h.run(&["set", "k", "9", "get", "ex", "0"]), err("ERR invalid expire time in 'set' command"));
            assert_eq!(h.run(&["get", "k"]), b("2"));
        });
    }

    #[test]
    fn setnx_setex_psetex() {
        each(|h| {
            assert_eq!(h.run(&["setnx", "k", "1"]), int(1));
            assert_eq!(h.run(&["setnx", "k", "2"]), int(0));
            assert_eq!(h.run(&["get", "k"]), b("1"));
            let t = now(h);
            assert_eq!(h.run(&["setex", "k", "10", "v"]), ok());
            assert_eq!(expire_of(h, "k"), Some(t + 10_000));
            assert_eq!(h.run(&["get", "k"]), b("v"));
            assert_eq!(h.run(&["psetex", "k", "250", "w"]), ok());
            assert_eq!(expire_of(h, "k"), Some(t + 250));
            assert_eq!(h.run(&["setex", "k", "0", "v"]), err("ERR invalid expire time in 'setex' command"));
            assert_eq!(h.run(&["psetex", "k", "-1", "v"]), err("ERR invalid expire time in 'psetex' command"));
            assert_eq!(h.run(&["setex", "k", "x", "v"]), err(NOT_INT));
            assert_eq!(h.run(&["setex", "k", "10"]), err("ERR wrong number of arguments for 'setex' command"));
            h.advance_ms(251);
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);
            assert_eq!(h.run(&["setnx", "k", "again"]), int(1));
        });
    }

    #[test]
    fn getset_getdel() {
        each(|h| {
            assert_eq!(h.run(&["getset", "k", "1"]), Reply::Nil);
            assert_eq!(h.run(&["getset", "k", "2"]), b("1"));
            assert_eq!(h.run(&["get", "k"]), b("2"));
            h.run(&["set", "k", "3", "ex", "100"]);
            assert_eq!(h.run(&["getset", "k", "4"]), b("3"));
            assert_eq!(expire_of(h, "k"), Some(0), "GETSET clears the TTL");
            assert_eq!(h.run(&["getdel", "k"]), b("4"));
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);
            assert_eq!(h.run(&["getdel", "k"]), Reply::Nil);
        });
    }

    #[test]
    fn getex_options() {
        each(|h| {
            let t = now(h);
            assert_eq!(h.run(&["getex", "k"]), Reply::Nil);
            assert_eq!(h.run(&["getex", "k", "ex", "0"]), Reply::Nil, "missing key wins over a bad expire");
            h.run(&["set", "k", "v", "ex", "100"]);
            assert_eq!(h.run(&["getex", "k"]), b("v"));
            assert_eq!(expire_of(h, "k"), Some(t + 100_000));
            assert_eq!(h.run(&["getex", "k", "px", "500"]), b("v"));
            assert_eq!(expire_of(h, "k"), Some(t + 500));
            assert_eq!(h.run(&["getex", "k", "EX", "7"]), b("v"));
            assert_eq!(expire_of(h, "k"), Some(t + 7000));
            let pat = (t + 999).to_string();
            assert_eq!(h.run(&["getex", "k", "pxat", &pat]), b("v"));
            assert_eq!(expire_of(h, "k"), Some(t + 999));
            let at = (t / 1000 + 50).to_string();
            assert_eq!(h.run(&["getex", "k", "exat", &at]), b("v"));
            assert_eq!(expire_of(h, "k"), Some((t / 1000 + 50) * 1000));
            assert_eq!(h.run(&["getex", "k", "persist"]), b("v"));
            assert_eq!(expire_of(h, "k"), Some(0));
            let d = dirty(h);
            assert_eq!(h.run(&["getex", "k", "persist"]), b("v"));
            assert_eq!(dirty(h), d, "PERSIST without a TTL changes nothing");
            for bad in [
                &["nx"][..],
                &["keepttl"],
                &["get"],
                &["ex", "1", "persist"],
                &["persist", "ex", "1"],
                &["ex", "1", "px", "1"],
                &["px"],
            ] {
                let mut args = vec!["getex", "k"];
                args.extend_from_slice(bad);
                assert_eq!(h.run(&args), err(SYNTAX), "{bad:?}");
            }
            assert_eq!(h.run(&["getex", "k", "ex", "0"]), err("ERR invalid expire time in 'getex' command"));
            assert_eq!(h.run(&["getex", "k", "ex", "x"]), err(NOT_INT));
            // An absolute time in the past deletes the key after replying.
            assert_eq!(h.run(&["getex", "k", "pxat", "1"]), b("v"));
            assert_eq!(expire_of(h, "k"), None);
        });
    }

    #[test]
    fn mset_mget_across_shards() {
        each(|h| {
            let mut args = vec!["mset".to_string()];
            for i in 0..50 {
                args.push(format!("key{i}"));
                args.push(format!("val{i}"));
            }
            let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            assert_eq!(h.run(&a), ok());
            let mut get = vec!["mget".to_string()];
            get.extend((0..52).map(|i| format!("key{i}")));
            let g: Vec<&str> = get.iter().map(|s| s.as_str()).collect();
            let mut want: Vec<Reply> = (0..50).map(|i| b(&format!("val{i}"))).collect();
            want.extend([Reply::Nil, Reply::Nil]);
            assert_eq!(h.run(&g), arr(want));
            assert_eq!(h.run(&["mset", "a", "1", "b"]), err("ERR wrong number of arguments for 'mset' command"));
            assert_eq!(h.run(&["get", "a"]), Reply::Nil);
            // MSET clears TTLs, like SET.
            h.run(&["set", "t", "v", "ex", "10"]);
            assert_eq!(h.run(&["mset", "t", "w", "key0", "z"]), ok());
            assert_eq!(expire_of(h, "t"), Some(0));
            // Repeated keys: the last value wins.
            assert_eq!(h.run(&["mset", "r", "1", "r", "2"]), ok());
            assert_eq!(h.run(&["get", "r"]), b("2"));
        });
    }

    #[test]
    fn msetnx_all_or_nothing() {
        each(|h| {
            let (k1, k2) = split_keys(h);
            assert_eq!(h.run(&["msetnx", &k1, "1", &k2, "2"]), int(1));
            assert_eq!(h.run(&["mget", &k1, &k2]), arr(vec![b("1"), b("2")]));
            assert_eq!(h.run(&["msetnx", "fresh", "x", &k2, "3"]), int(0));
            assert_eq!(h.run(&["get", "fresh"]), Reply::Nil);
            assert_eq!(h.run(&["get", &k2]), b("2"));
            assert_eq!(h.run(&["msetnx", "x", "1", "y"]), err("ERR wrong number of arguments for 'msetnx' command"));
            // A key whose TTL has passed does not count as existing.
            h.run(&["set", "gone", "v", "px", "5"]);
            h.advance_ms(6);
            assert_eq!(h.run(&["msetnx", "gone", "new", &k1, "x"]), int(0));
            assert_eq!(h.run(&["msetnx", "gone", "new", "other", "x"]), int(1));
            assert_eq!(h.run(&["get", "gone"]), b("new"));
        });
    }

    #[test]
    fn append_and_strlen() {
        each(|h| {
            assert_eq!(h.run(&["strlen", "k"]), int(0));
            assert_eq!(h.run(&["append", "k", "Hello"]), int(5));
            assert_eq!(h.run(&["append", "k", " World"]), int(11));
            assert_eq!(h.run(&["get", "k"]), b("Hello World"));
            assert_eq!(h.run(&["strlen", "k"]), int(11));
            assert_eq!(h.run(&["append", "k", ""]), int(11));
            h.run(&["set", "t", "a", "ex", "100"]);
            let e = expire_of(h, "t");
            assert_eq!(h.run(&["append", "t", "b"]), int(2));
            assert_eq!(expire_of(h, "t"), e, "APPEND keeps the TTL");
            h.run(&["set", "n", "12"]);
            assert_eq!(h.run(&["append", "n", "3"]), int(3));
            assert_eq!(h.run(&["incr", "n"]), int(124));
        });
    }

    #[test]
    fn getrange_like_redis_7_0() {
        each(|h| {
            h.run(&["set", "k", "Hello World"]);
            for (s, e, want) in [
                ("0", "3", "Hell"),
                ("0", "-1", "Hello World"),
                ("-4", "-1", "orld"),
                ("5", "3", ""),
                ("5", "5000", " World"),
                ("-5000", "10000", "Hello World"),
                ("0", "-100", "H"),
                ("-1", "-5", ""),
                ("10", "10", "d"),
                ("11", "20", ""),
                ("-9223372036854775808", "9223372036854775807", "Hello World"),
            ] {
                assert_eq!(h.run(&["getrange", "k", s, e]), b(want), "getrange {s} {e}");
                assert_eq!(h.run(&["substr", "k", s, e]), b(want), "substr {s} {e}");
            }
            assert_eq!(h.run(&["getrange", "missing", "0", "-1"]), b(""));
            h.run(&["set", "empty", ""]);
            assert_eq!(h.run(&["getrange", "empty", "0", "-1"]), b(""));
            assert_eq!(h.run(&["getrange", "k", "a", "1"]), err(NOT_INT));
            assert_eq!(h.run(&["getrange", "k", "0", "1.0"]), err(NOT_INT));
            assert_eq!(h.run(&["getrange", "k", "0"]), err("ERR wrong number of arguments for 'getrange' command"));
        });
    }

    #[test]
    fn setrange_cases() {
        each(|h| {
            assert_eq!(h.run(&["setrange", "k", "5", "foo"]), int(8));
            assert_eq!(h.run(&["get", "k"]), Reply::Bulk(b"\0\0\0\0\0foo".to_vec()));
            assert_eq!(h.run(&["setrange", "m", "3", ""]), int(0));
            assert_eq!(h.run(&["get", "m"]), Reply::Nil, "an empty SETRANGE creates nothing");
            h.run(&["set", "s", "Hello World", "ex", "100"]);
            let e = expire_of(h, "s");
            assert_eq!(h.run(&["setrange", "s", "6", "Redis"]), int(11));
            assert_eq!(h.run(&["get", "s"]), b("Hello Redis"));
            assert_eq!(expire_of(h, "s"), e, "SETRANGE keeps the TTL");
            assert_eq!(h.run(&["setrange", "s", "0", ""]), int(11));
            assert_eq!(h.run(&["setrange", "s", "9", "xyz"]), int(12));
            assert_eq!(h.run(&["get", "s"]), b("Hello Redxyz"));
            assert_eq!(h.run(&["setrange", "s", "14", "!"]), int(15));
            assert_eq!(h.run(&["get", "s"]), Reply::Bulk(b"Hello Redxyz\0\0!".to_vec()));
            assert_eq!(h.run(&["setrange", "s", "-1", "x"]), err("ERR offset is out of range"));
            assert_eq!(h.run(&["setrange", "s", "x", "x"]), err(NOT_INT));
            let too_big = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            assert_eq!(h.run(&["setrange", "s", "536870912", "x"]), too_big);
            assert_eq!(h.run(&["setrange", "new", "536870912", "x"]), too_big);
            assert_eq!(h.run(&["setrange", "new", "536870912", ""]), int(0));
            assert_eq!(h.run(&["setrange", "new", "9223372036854775807", "x"]), too_big);
        });
    }

    #[test]
    fn incr_family() {
        each(|h| {
            assert_eq!(h.run(&["incr", "n"]), int(1));
            assert_eq!(h.run(&["incrby", "n", "10"]), int(11));
            assert_eq!(h.run(&["decr", "n"]), int(10));
            assert_eq!(h.run(&["decrby", "n", "20"]), int(-10));
            assert_eq!(h.run(&["incrby", "n", "-5"]), int(-15));
            assert_eq!(h.run(&["get", "n"]), b("-15"));
            assert_eq!(h.run(&["decr", "fresh"]), int(-1));
            assert_eq!(h.run(&["decrby", "fresh2", "5"]), int(-5));
            assert_eq!(h.run(&["incrby", "fresh3", "-7"]), int(-7));
            for bad in [" 1", "1 ", "01", "+1", "-0", "abc", "", "1.0", "123456789012345678901", "9223372036854775808"]
            {
                h.run(&["set", "b", bad]);
                assert_eq!(h.run(&["incr", "b"]), err(NOT_INT), "{bad:?}");
                assert_eq!(h.run(&["get", "b"]), b(bad), "unchanged after the error");
            }
            h.run(&["set", "max", "9223372036854775807"]);
            assert_eq!(h.run(&["incr", "max"]), err("ERR increment or decrement would overflow"));
            assert_eq!(h.run(&["incrby", "max", "-1"]), int(9223372036854775806));
            h.run(&["set", "min", "-9223372036854775808"]);
            assert_eq!(h.run(&["decr", "min"]), err("ERR increment or decrement would overflow"));
            assert_eq!(h.run(&["decrby", "min", "1"]), err("ERR increment or decrement would overflow"));
            assert_eq!(h.run(&["incrby", "min", "9223372036854775807"]), int(-1));
            assert_eq!(h.run(&["incrby", "n", "x"]), err(NOT_INT));
            assert_eq!(h.run(&["incrby", "n", "9223372036854775808"]), err(NOT_INT));
            assert_eq!(h.run(&["decrby", "n", "-9223372036854775808"]), err("ERR decrement would overflow"));
            assert_eq!(h.run(&["decrby", "n", "-9223372036854775807"]), int(9223372036854775792));
            h.run(&["set", "t", "5", "ex", "100"]);
            let e = expire_of(h, "t");
            assert_eq!(h.run(&["incr", "t"]), int(6));
            assert_eq!(expire_of(h, "t"), e, "INCR keeps the TTL");
            assert_eq!(h.run(&["incr", "n", "x"]), err("ERR wrong number of arguments for 'incr' command"));
        });
    }

    /// A counter lives inside its key's slot: no heap block, whether the key was new,
    /// held an inline number, or held a heap string (an APPEND made it `raw`).
    #[test]
    fn incr_keeps_counters_inline() {
        fn inline(h: &Harness, key: &str) -> bool {
            let s = shard_of(key.as_bytes(), h.shards.len());
            match h.shards[s].dbs[0].peek(key.as_bytes()).map(|e| &e.value) {
                Some(super::Value::Str(v)) => v.is_inline(),
                _ => panic!("{key} holds no string"),
            }
        }
        each(|h| {
            h.run(&["incr", "c"]);
            assert!(inline(h, "c"), "new key");
            assert_eq!(h.run(&["incrby", "c", "-9223372036854775807"]), int(-9223372036854775806));
            assert_eq!(h.run(&["decrby", "c", "2"]), int(i64::MIN));
            assert!(inline(h, "c"), "the longest number, 20 bytes");
            assert_eq!(h.run(&["get", "c"]), b("-9223372036854775808"));
            h.run(&["set", "r", "1"]);
            h.run(&["append", "r", "2"]);
            assert!(!inline(h, "r"), "APPEND moves the string to the heap");
            assert_eq!(h.run(&["incr", "r"]), int(13));
            assert!(inline(h, "r"), "and INCR brings it back");
            assert_eq!(h.run(&["object", "encoding", "r"]), b("int"));
        });
    }

    #[test]
    fn incrbyfloat_cases() {
        each(|h| {
            assert_eq!(h.run(&["incrbyfloat", "f", "10.5"]), b("10.5"));
            assert_eq!(h.run(&["incrbyfloat", "f", "0.1"]), b("10.6"));
            assert_eq!(h.run(&["get", "f"]), b("10.6"));
            h.run(&["set", "e", "5.0e3"]);
            assert_eq!(h.run(&["incrbyfloat", "e", "2.0e2"]), b("5200"));
            h.run(&["set", "i", "1"]);
            assert_eq!(h.run(&["incrbyfloat", "i", "-1"]), b("0"));
            assert_eq!(h.run(&["incr", "i"]), int(1), "an integral result stays an integer");
            assert_eq!(h.run(&["incrbyfloat", "new", "-3"]), b("-3"));
            let bad = err("ERR value is not a valid float");
            assert_eq!(h.run(&["incrbyfloat", "f", "abc"]), bad);
            assert_eq!(h.run(&["incrbyfloat", "f", " 1"]), bad);
            assert_eq!(h.run(&["incrbyfloat", "f", "nan"]), bad);
            h.run(&["set", "s", "abc"]);
            assert_eq!(h.run(&["incrbyfloat", "s", "1"]), bad);
            let naninf = err("ERR increment would produce NaN or Infinity");
            assert_eq!(h.run(&["incrbyfloat", "f", "+inf"]), naninf);
            assert_eq!(h.run(&["incrbyfloat", "missing", "inf"]), naninf);
            assert_eq!(h.run(&["get", "missing"]), Reply::Nil);
            h.run(&["set", "big", "1.5e308"]);
            assert_eq!(h.run(&["incrbyfloat", "big", "1.5e308"]), naninf);
            assert_eq!(h.run(&["get", "big"]), b("1.5e308"), "unchanged after the error");
            assert_eq!(h.run(&["get", "f"]), b("10.6"));
            h.run(&["set", "t", "1", "ex", "100"]);
            let e = expire_of(h, "t");
            assert_eq!(h.run(&["incrbyfloat", "t", "0.5"]), b("1.5"));
            assert_eq!(expire_of(h, "t"), e, "INCRBYFLOAT keeps the TTL");
        });
    }

    #[test]
    fn lcs_plain_len_and_idx() {
        each(|h| {
            let (k1, k2) = split_keys(h);
            h.run(&["mset", &k1, "ohmytext", &k2, "mynewtext"]);
            assert_eq!(h.run(&["lcs", &k1, &k2]), b("mytext"));
            assert_eq!(h.run(&["lcs", &k1, &k2, "len"]), int(6));
            let range = |a0, a1, b0, b1| arr(vec![arr(vec![int(a0), int(a1)]), arr(vec![int(b0), int(b1)])]);
            assert_eq!(
                h.run(&["lcs", &k1, &k2, "IDX"]),
                arr(vec![b("matches"), arr(vec![range(4, 7, 5, 8), range(2, 3, 0, 1)]), b("len"), int(6),])
            );
            let with_len =
                |a0, a1, b0, b1, n| arr(vec![arr(vec![int(a0), int(a1)]), arr(vec![int(b0), int(b1)]), int(n)]);
            assert_eq!(
                h.run(&["lcs", &k1, &k2, "idx", "minmatchlen", "4", "withmatchlen"]),
                arr(vec![b("matches"), arr(vec![with_len(4, 7, 5, 8, 4)]), b("len"), int(6)])
            );
            assert_eq!(
                h.run(&["lcs", &k1, &k2, "idx", "withmatchlen", "minmatchlen", "-3"]),
                arr(vec![b("matches"), arr(vec![with_len(4, 7, 5, 8, 4), with_len(2, 3, 0, 1, 2)]), b("len"), int(6)])
            );
            h.resp3();
            assert_eq!(
                h.run(&["lcs", &k1, &k2, "idx", "minmatchlen", "3"]),
                Reply::Map(vec![(b("matches"), arr(vec![range(4, 7, 5, 8)])), (b("len"), int(6))])
            );
        });
    }

    #[test]
    fn lcs_edges_and_errors() {
        each(|h| {
            let (k1, k2) = split_keys(h);
            assert_eq!(h.run(&["lcs", &k1, &k2]), b(""));
            assert_eq!(h.run(&["lcs", &k1, &k2, "len"]), int(0));
            assert_eq!(h.run(&["lcs", &k1, &k2, "idx"]), arr(vec![b("matches"), arr(vec![]), b("len"), int(0)]));
            h.run(&["set", &k1, "abcdef"]);
            assert_eq!(h.run(&["lcs", &k1, &k1]), b("abcdef"));
            assert_eq!(h.run(&["lcs", &k1, &k2]), b(""));
            h.run(&["set", &k2, "xbxdxf"]);
            assert_eq!(h.run(&["lcs", &k1, &k2]), b("bdf"));
            assert_eq!(
                h.run(&["lcs", &k1, &k2, "len", "idx"]),
                err("ERR If you want both the length and indexes, please just use IDX.")
            );
            assert_eq!(h.run(&["lcs", &k1, &k2, "foo"]), err(SYNTAX));
            assert_eq!(h.run(&["lcs", &k1, &k2, "minmatchlen"]), err(SYNTAX));
            assert_eq!(h.run(&["lcs", &k1, &k2, "minmatchlen", "x"]), err(NOT_INT));
            assert_eq!(h.run(&["lcs", &k1]), err("ERR wrong number of arguments for 'lcs' command"));
            // The DP table for two 16 KiB strings needs ~1 GiB: over proto-max-bulk-len.
            let big = "a".repeat(16 * 1024);
            h.run(&["mset", &k1, &big, &k2, &big]);
            assert_eq!(
                h.run(&["lcs", &k1, &k2, "len"]),
                err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
            );
        });
    }

    #[test]
    fn command_flags_match_redis() {
        use super::super::table::flag;
        let f = |name: &str| super::COMMANDS.iter().find(|c| c.name == name).expect(name).flags;
        for n in ["get", "mget", "strlen"] {
            assert_eq!(f(n), flag::READONLY | flag::FAST, "{n}");
        }
        for n in ["getrange", "substr", "lcs"] {
            assert_eq!(f(n), flag::READONLY, "{n}");
        }
        for n in ["set", "setex", "psetex", "mset", "msetnx", "setrange"] {
            assert_eq!(f(n), flag::WRITE | flag::DENYOOM, "{n}");
        }
        for n in ["setnx", "getset", "append", "incr", "decr", "incrby", "decrby", "incrbyfloat"] {
            assert_eq!(f(n), flag::WRITE | flag::DENYOOM | flag::FAST, "{n}");
        }
        for n in ["getdel", "getex"] {
            assert_eq!(f(n), flag::WRITE | flag::FAST, "{n}");
        }
    }

    #[test]
    fn keyspace_events() {
        for n in [1, 4] {
            let mut h = Harness::with_events(n, "KEA");
            h.run(&["set", "k", "v"]);
            h.run(&["set", "k", "w", "ex", "100"]);
            h.run(&["set", "k", "x", "nx"]);
            assert_eq!(h.events(), ["set k", "set k", "expire k"], "{n} shards");
            h.run(&["setnx", "k", "x"]);
            h.run(&["setnx", "k2", "x"]);
            h.run(&["setex", "k3", "10", "x"]);
            h.run(&["psetex", "k3", "10", "x"]);
            h.run(&["getset", "k3", "y"]);
            assert_eq!(h.events(), ["set k2", "set k3", "expire k3", "set k3", "expire k3", "set k3"]);
            h.run(&["mset", "a", "1", "b", "2", "c", "3"]);
            assert_eq!(h.events(), ["set a", "set b", "set c"]);
            h.run(&["msetnx", "a", "1", "z", "2"]);
            h.run(&["msetnx", "y", "1", "z", "2"]);
            assert_eq!(h.events(), ["set y", "set z"]);
            h.run(&["incr", "n"]);
            h.run(&["decrby", "n", "5"]);
            h.run(&["incrbyfloat", "n", "1.5"]);
            h.run(&["incr", "k"]);
            assert_eq!(h.events(), ["incrby n", "incrby n", "incrbyfloat n"], "no event on error");
            h.run(&["append", "s", "ab"]);
            h.run(&["setrange", "s", "1", "xy"]);
            h.run(&["setrange", "s", "1", ""]);
            h.run(&["setrange", "nosuch", "1", ""]);
            assert_eq!(h.events(), ["append s", "setrange s"]);
            h.run(&["getex", "s"]);
            h.run(&["getex", "s", "ex", "100"]);
            h.run(&["getex", "s", "persist"]);
            h.run(&["getex", "s", "persist"]);
            h.run(&["getdel", "s"]);
            h.run(&["getdel", "s"]);
            h.run(&["get", "a"]);
            h.run(&["mget", "a", "b"]);
            assert_eq!(h.events(), ["expire s", "persist s", "del s"]);
            let past = (h.clock.now_ms() / 1000 - 10).to_string();
            h.run(&["set", "p", "v", "exat", &past]);
            assert_eq!(h.events(), ["set p", "expire p", "expired p"]);
            h.run(&["getex", "a", "pxat", "1"]);
            assert_eq!(h.events(), ["del a"]);
        }
    }

    #[test]
    fn new_events_come_first_and_only_with_n() {
        for n in [1, 4] {
            let mut h = Harness::with_events(n, "KEA");
            h.run(&["set", "k", "v"]);
            assert_eq!(h.events(), ["set k"], "A does not include n");
            let mut h = Harness::with_events(n, "KE$n");
            h.run(&["set", "k", "v"]);
            h.run(&["set", "k", "w"]);
            h.run(&["mset", "a", "1", "k", "2", "b", "3"]);
            h.run(&["incr", "c"]);
            assert_eq!(
                h.events(),
                ["new k", "set k", "set k", "new a", "set a", "set k", "new b", "set b", "new c", "incrby c"]
            );
            let mut h = Harness::with_events(n, "En");
            h.run(&["set", "k", "v"]);
            h.run(&["append", "k", "v"]);
            assert_eq!(h.events(), ["new k"]);
        }
    }
}
