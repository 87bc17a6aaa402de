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
use crate::util::longdouble::{self, LdAddError};
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
    // An EXAT/PXAT in the past: as Redis 7.0, the key is set with that TTL and stays
    // (DBSIZE counts it) until an access or active expiry finds it expired, which
    // then counts, propagates and notifies the expiry.
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
    // Order as in Redis: the type, then the stored value, then the increment. The sum
    // is Redis's `long double` one (`util::longdouble`).
    let (db, out, _) = c.parts();
    let sum_error = |e: LdAddError| match e {
        LdAddError::BadFirst | LdAddError::BadSecond => CmdError::NotFloat,
        LdAddError::NotFinite => CmdError::msg("ERR increment would produce NaN or Infinity"),
    };
    match db.get_mut(key, now) {
        Some(e) => {
            let mut sum = Vec::with_capacity(24);
            longdouble::add(as_str(&e.value)?, a.get(2), &mut sum).map_err(sum_error)?;
            // Only now is the value rewritten (and named as a float's text).
            let Value::Str(s) = &mut e.value else { unreachable!("checked above") };
            let s = s.float_mut();
            s.clear();
            s.extend_from_slice(&sum);
            out.bulk(s);
        }
        None => {
            let mut sum = Vec::with_capacity(24);
            longdouble::add(b"0", a.get(2), &mut sum).map_err(sum_error)?;
            out.bulk(&sum);
            db.set(key, Value::Str(StrBuf::float(sum)), 0);
        }
    }
    c.notify(notify::STRING, "incrbyfloat", key);
    c.dirty += 1;
    Ok(())
}

// ---- LCS (its own file) ---------------------------------------------------------------

#[path = "string_lcs.rs"]
mod lcs;
use lcs::lcs;

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
#[path = "string_tests.rs"]
mod tests;
