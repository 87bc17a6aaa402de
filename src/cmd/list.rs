//! List commands: pushes and pops at both ends, LMOVE/RPOPLPUSH/LMPOP, indexing,
//! ranges, LINSERT/LSET/LREM/LTRIM and LPOS.
//!
//! Replies, error texts and the order in which arguments and keys are checked follow
//! Redis 7.0's `t_list.c` (e.g. LINDEX looks the key up before parsing the index, LRANGE
//! parses before looking up), so the same bad request gets the same error. Storage is
//! `storage::list::ListValue`; an emptied list is deleted, as Redis never keeps empty
//! aggregates.
//!
//! Read commands (LLEN, LINDEX, LRANGE, LPOS) count `keyspace_hits`/`keyspace_misses` as
//! Redis's `lookupKeyRead` does; write commands look keys up without counting.
//!
//! The blocking variants (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, in `list_blocking.rs`)
//! reuse the non-blocking cores exported here:
//! [`pop_for_blocking`], [`pop_first_nonempty`], [`move_for_blocking`], the argument
//! parsers [`Side::parse`] and [`parse_mpop`], and the reply shapes [`reply_key_value`]
//! and [`reply_key_elements`].

use super::blocking;
use super::ctx::ExecCtx;
use super::error::wrong_arity;
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::config::notify;
use crate::resp::ReplyWriter;
use crate::shard::block::{BlockReq, NoWaitReply};
use crate::shard::msg::OwnedArgs;
use crate::storage::Value;
use crate::storage::list::{Elem, ListValue, Needle};
use crate::util::num;
use std::ops::Range;

// ---- Shared pieces (also used by the blocking variants) -----------------------------------

/// An end of a list: LEFT is the head, RIGHT the tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

impl Side {
    /// A LEFT/RIGHT argument, case-insensitive; anything else is a syntax error, as in
    /// Redis's `getListPositionFromObjectOrReply`.
    pub fn parse(b: &[u8]) -> Result<Side, CmdError> {
        if b.eq_ignore_ascii_case(b"left") {
            Ok(Side::Left)
        } else if b.eq_ignore_ascii_case(b"right") {
            Ok(Side::Right)
        } else {
            Err(CmdError::Syntax)
        }
    }
}

// The wildcard arms make every list command answer WRONGTYPE for other types.
#[inline]
fn as_list(v: &Value) -> Result<&ListValue, CmdError> {
    match v {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

#[inline]
fn as_list_mut(v: &mut Value) -> Result<&mut ListValue, CmdError> {
    match v {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

/// Writes one element as a bulk string (compact integers are formatted on the way).
#[inline]
fn write_elem(out: &mut ReplyWriter, e: Elem) {
    match e {
        Elem::Bytes(b) => out.bulk(b),
        Elem::Int(v) => out.bulk_i64(v),
    }
}

#[inline]
fn push(l: &mut ListValue, side: Side, v: &[u8]) {
    match side {
        Side::Left => l.push_front(v),
        Side::Right => l.push_back(v),
    }
}

#[inline]
fn pop(l: &mut ListValue, side: Side) -> Option<Vec<u8>> {
    match side {
        Side::Left => l.pop_front(),
        Side::Right => l.pop_back(),
    }
}

/// Redis's `getPositiveLongFromObjectOrReply` without a custom message: a bad number and
/// a negative one get the same error.
fn non_negative(a: &Args, i: usize) -> Result<usize, CmdError> {
    num::parse_i64(a.get(i))
        .filter(|&v| v >= 0)
        .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
        .ok_or_else(|| CmdError::msg("ERR value is out of range, must be positive"))
}

/// Redis's `getPositiveLongFromObjectOrReply` with a custom message (LPOS options).
fn non_negative_or(a: &Args, i: usize, msg: &str) -> Result<usize, CmdError> {
    num::parse_i64(a.get(i))
        .filter(|&v| v >= 0)
        .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
        .ok_or_else(|| CmdError::msg(msg))
}

/// Redis's `getRangeLongFromObjectOrReply(.., 1, LONG_MAX, msg)`: at least one, with
/// `msg` for both a bad number and one below 1.
fn at_least_one(b: &[u8], msg: &str) -> Result<usize, CmdError> {
    num::parse_i64(b)
        .filter(|&v| v >= 1)
        .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
        .ok_or_else(|| CmdError::msg(msg))
}

/// The keyspace event of a pop from `side`.
fn pop_event(side: Side) -> &'static str {
    match side {
        Side::Left => "lpop",
        Side::Right => "rpop",
    }
}

/// The keyspace event of a push onto `side`.
fn push_event(side: Side) -> &'static str {
    match side {
        Side::Left => "lpush",
        Side::Right => "rpush",
    }
}

/// Redis's `listElementsRemoved`: the pop event, then `del` if the list went away.
fn notify_popped(c: &mut ExecCtx, key: &[u8], side: Side, deleted: bool) {
    c.notify_removed(notify::LIST, pop_event(side), key, deleted);
}

/// Pops up to `count` (>= 1) elements from the `side` end of the list at `key` in the
/// selected database.
///
/// `Ok(None)`: no such key (a blocking caller waits on it). `Err(WrongType)`: the key
/// holds another type. An emptied list is deleted. The caller adds the number of
/// elements popped to `ExecCtx::dirty`. Lists are never stored empty, so `Some` always
/// holds at least one element.
pub fn pop_for_blocking(
    c: &mut ExecCtx,
    key: &[u8],
    side: Side,
    count: usize,
) -> Result<Option<Vec<Vec<u8>>>, CmdError> {
    let now_ms = c.now_ms;
    let db = c.db();
    let Some(e) = db.get_touch(key, now_ms) else { return Ok(None) };
    let l = as_list_mut(&mut e.value)?;
    let n = count.max(1).min(l.len());
    let mut popped = Vec::with_capacity(n);
    for _ in 0..n {
        popped.extend(pop(l, side));
    }
    let deleted = l.is_empty();
    if deleted {
        db.remove(key, now_ms);
    }
    notify_popped(c, key, side, deleted);
    Ok(Some(popped))
}

/// What a multi-key pop took: the position of the key in the list of keys given, and
/// the elements popped from it.
pub type KeyPopped = (usize, Vec<Vec<u8>>);

/// BLPOP/BRPOP/LMPOP/BLMPOP's scan: the first of `keys` holding a list is popped (up to
/// `count` elements) and its position in `keys` returned. Keys that do not exist are
/// skipped; a key of another type met before a list is WRONGTYPE, as Redis checks each
/// key in order. `Ok(None)` when no key holds a list.
pub fn pop_first_nonempty<'k>(
    c: &mut ExecCtx,
    keys: impl IntoIterator<Item = &'k [u8]>,
    side: Side,
    count: usize,
) -> Result<Option<KeyPopped>, CmdError> {
    for (i, key) in keys.into_iter().enumerate() {
        if let Some(v) = pop_for_blocking(c, key, side, count)? {
            return Ok(Some((i, v)));
        }
    }
    Ok(None)
}

/// LMOVE's core (also BLMOVE, BRPOPLPUSH): pops from the `from` end of `src` and pushes
/// onto the `to` end of `dst` (created if missing; `src == dst` rotates the list), in
/// the selected database.
///
/// `Ok(None)`: `src` does not exist. WRONGTYPE if `src`, or then `dst`, holds another
/// type; nothing changes in that case. Returns the moved element; the caller adds 1 to
/// `ExecCtx::dirty`.
pub fn move_for_blocking(
    c: &mut ExecCtx,
    src: &[u8],
    dst: &[u8],
    from: Side,
    to: Side,
) -> Result<Option<Vec<u8>>, CmdError> {
    let now = c.now_ms;
    let fill = c.config.encoding.list_fill();
    let v = move_elem(c.db(), src, dst, now, from, to, fill)?;
    if v.is_some() {
        // Redis reports the push first, then the pop and the source's deletion.
        c.notify(notify::LIST, push_event(to), dst);
        let deleted = src != dst && !c.db().contains(src, now);
        notify_popped(c, src, from, deleted);
    }
    Ok(v)
}

fn move_elem(
    db: &mut crate::storage::Db,
    src: &[u8],
    dst: &[u8],
    now_ms: u64,
    from: Side,
    to: Side,
    fill: crate::storage::ListFill,
) -> Result<Option<Vec<u8>>, CmdError> {
    match db.get_touch(src, now_ms) {
        None => return Ok(None),
        Some(e) => {
            as_list(&e.value)?;
        }
    }
    if src != dst
        && let Some(e) = db.get_touch(dst, now_ms)
    {
        as_list(&e.value)?;
    }
    let e = db.get_mut(src, now_ms).expect("source checked above");
    let l = as_list_mut(&mut e.value)?;
    let v = pop(l, from).expect("stored lists are never empty");
    if src == dst {
        push(l, to, &v);
        return Ok(Some(v));
    }
    if l.is_empty() {
        db.remove(src, now_ms);
    }
    match db.get_mut(dst, now_ms) {
        Some(e) => push(as_list_mut(&mut e.value)?, to, &v),
        None => {
            let mut l = ListValue::new(fill);
            push(&mut l, to, &v);
            db.set(dst, Value::List(l.into()), 0);
        }
    }
    Ok(Some(v))
}

/// BLPOP/BRPOP's reply: `[key, element]`.
pub fn reply_key_value(out: &mut ReplyWriter, key: &[u8], v: &[u8]) {
    out.array(2);
    out.bulk(key);
    out.bulk(v);
}

/// LMPOP/BLMPOP's reply: `[key, [element ...]]`.
pub fn reply_key_elements(out: &mut ReplyWriter, key: &[u8], vals: &[Vec<u8>]) {
    out.array(2);
    out.bulk(key);
    out.array(vals.len());
    for v in vals {
        out.bulk(v);
    }
}

/// Parsed `numkeys key [key ...] LEFT|RIGHT [COUNT count]` (LMPOP, BLMPOP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpopArgs {
    /// Argument indexes of the keys.
    pub keys: Range<usize>,
    pub side: Side,
    pub count: usize,
}

/// The key range of an [L|BL]MPOP request whose numkeys is argument `numkeys_idx`
/// (1 for LMPOP, 2 for BLMPOP), with Redis's errors for a bad numkeys or a key list
/// running past the arguments. Shared by the handler and the key finder so routing and
/// execution agree.
pub fn mpop_key_range(a: &Args, numkeys_idx: usize) -> Result<Range<usize>, CmdError> {
    let n = at_least_one(a.get(numkeys_idx), "ERR numkeys should be greater than 0")?;
    let first = numkeys_idx + 1;
    // The LEFT|RIGHT argument must follow the keys.
    if n >= a.len().saturating_sub(first) {
        return Err(CmdError::Syntax);
    }
    Ok(first..first + n)
}

/// Parses an [L|BL]MPOP request as Redis's `lmpopGenericCommand` does: numkeys, then
/// the side, then an optional single COUNT.
pub fn parse_mpop(a: &Args, numkeys_idx: usize) -> Result<MpopArgs, CmdError> {
    let keys = mpop_key_range(a, numkeys_idx)?;
    let side = Side::parse(a.get(keys.end))?;
    let mut count = None;
    let mut j = keys.end + 1;
    while j < a.len() {
        if count.is_none() && a.is(j, "count") && j + 1 < a.len() {
            count = Some(at_least_one(a.get(j + 1), "ERR count should be greater than 0")?);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MpopArgs { keys, side, count: count.unwrap_or(1) })
}

// ---- Push / pop ---------------------------------------------------------------------------

/// LPUSH/RPUSH (and the X forms, which only push onto an existing list).
fn push_generic(c: &mut ExecCtx, a: &Args, side: Side, existing_only: bool) -> Result<(), CmdError> {
    let now = c.now_ms;
    let key = a.get(1);
    let fill = c.config.encoding.list_fill();
    let db = &mut c.dbs[c.db];
    let len = match db.get_touch(key, now) {
        Some(e) => {
            let l = as_list_mut(&mut e.value)?;
            for i in 2..a.len() {
                push(l, side, a.get(i));
            }
            l.len()
        }
        None if existing_only => {
            c.out.int(0);
            return Ok(());
        }
        None => {
            let mut l = ListValue::new(fill);
            for i in 2..a.len() {
                push(&mut l, side, a.get(i));
            }
            let n = l.len();
            db.set(key, Value::List(l.into()), 0);
            n
        }
    };
    c.notify(notify::LIST, push_event(side), key);
    c.dirty += (a.len() - 2) as u64;
    c.out.int(len as i64);
    Ok(())
}

fn lpush(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    push_generic(c, a, Side::Left, false)
}

fn rpush(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    push_generic(c, a, Side::Right, false)
}

fn lpushx(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    push_generic(c, a, Side::Left, true)
}

fn rpushx(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    push_generic(c, a, Side::Right, true)
}

/// LPOP/RPOP key [count]. Without a count: one bulk (null if missing). With a count: an
/// array (null array if missing, empty for count 0), RPOP's from the tail inwards. The
/// reply is written straight from the list before the elements are dropped, so a pop
/// copies each element once.
fn pop_generic(c: &mut ExecCtx, a: &Args, side: Side) -> Result<(), CmdError> {
    if a.len() > 3 {
        let name = if side == Side::Left { "lpop" } else { "rpop" };
        return Err(CmdError::Msg(wrong_arity(name)));
    }
    let count = if a.len() == 3 { Some(non_negative(a, 2)?) } else { None };
    let now = c.now_ms;
    let key = a.get(1);
    let (db, out, _) = c.parts();
    let Some(e) = db.get_touch(key, now) else {
        if count.is_some() {
            out.null_array();
        } else {
            out.null();
        }
        return Ok(());
    };
    let l = as_list_mut(&mut e.value)?;
    let n = match count {
        None => {
            let first = match side {
                Side::Left => l.first(),
                Side::Right => l.last(),
            };
            write_elem(out, first.expect("stored lists are never empty"));
            1
        }
        Some(0) => {
            out.array(0);
            return Ok(());
        }
        Some(k) => {
            let n = k.min(l.len());
            out.array(n);
            match side {
                Side::Left => l.iter().take(n).for_each(|e| write_elem(out, e)),
                Side::Right => l.iter().rev().take(n).for_each(|e| write_elem(out, e)),
            }
            n
        }
    };
    match side {
        Side::Left => l.drop_front(n),
        Side::Right => l.drop_back(n),
    }
    let deleted = l.is_empty();
    if deleted {
        db.remove(key, now);
    }
    notify_popped(c, key, side, deleted);
    c.dirty += n as u64;
    Ok(())
}

fn lpop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    pop_generic(c, a, Side::Left)
}

fn rpop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    pop_generic(c, a, Side::Right)
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let from = Side::parse(a.get(3))?;
    let to = Side::parse(a.get(4))?;
    move_generic(c, a, from, to)
}

/// RPOPLPUSH source destination: LMOVE source destination RIGHT LEFT.
fn rpoplpush(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    move_generic(c, a, Side::Right, Side::Left)
}

fn move_generic(c: &mut ExecCtx, a: &Args, from: Side, to: Side) -> Result<(), CmdError> {
    match move_for_blocking(c, a.get(1), a.get(2), from, to)? {
        Some(v) => {
            c.dirty += 1;
            c.out.bulk(&v);
        }
        None => c.out.null(),
    }
    Ok(())
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let m = parse_mpop(a, 1)?;
    let keys = m.keys.clone().map(|i| a.get(i));
    match pop_first_nonempty(c, keys, m.side, m.count)? {
        Some((k, vals)) => {
            c.dirty += vals.len() as u64;
            c.only_changed_key = Some(m.keys.start + k);
            reply_key_elements(&mut c.out, a.get(m.keys.start + k), &vals);
            let n = crate::persist::emit::int(vals.len() as i64);
            let pop: &[u8] = if m.side == Side::Left { b"LPOP" } else { b"RPOP" };
            c.prop.push(&[pop, a.get(m.keys.start + k), &n]);
        }
        None => c.out.null_array(),
    }
    Ok(())
}

fn lmpop_keys(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    Ok(mpop_key_range(a, 1)?.map(|i| (db, i)).collect())
}

// ---- Blocking pops (their own file) ---------------------------------------------------------

#[path = "list_blocking.rs"]
mod blocking_pops;
use blocking_pops::{blmove, blmpop, blmpop_keys, blpop, brpop, brpoplpush};

// ---- Reads --------------------------------------------------------------------------------

fn llen(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    match db.get_touch(a.get(1), now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            out.int(as_list(&e.value)?.len() as i64);
        }
        None => {
            stats.miss(a.get(1));
            out.int(0);
        }
    }
    Ok(())
}

/// A possibly negative index into a list of `len`, if it lands inside.
fn resolve_index(idx: i64, len: usize) -> Option<usize> {
    let i = if idx < 0 { idx + len as i64 } else { idx };
    if i < 0 || i >= len as i64 { None } else { Some(i as usize) }
}

/// LINDEX key index: the key is looked up before the index is parsed, as in Redis.
fn lindex(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(e) = db.get_touch(a.get(1), now) else {
        stats.miss(a.get(1));
        out.null();
        return Ok(());
    };
    stats.keyspace_hits += 1;
    let l = as_list_mut(&mut e.value)?;
    let idx = a.i64(2)?;
    match resolve_index(idx, l.len()).and_then(|i| l.get(i)) {
        Some(el) => write_elem(out, el),
        None => out.null(),
    }
    // A compressed node decompressed for the read is dropped again, as Redis
    // recompresses it.
    l.end_read();
    Ok(())
}

/// Redis's range clamping (LRANGE, LTRIM): the inclusive `[start, end]` of a list of
/// `len`, or None when empty.
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 { start + len } else { start };
    let mut end = if end < 0 { end + len } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        return None;
    }
    if end >= len {
        end = len - 1;
    }
    Some((start as usize, end as usize))
}

/// LRANGE key start stop: indexes are parsed before the key is looked up.
fn lrange(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let start = a.i64(2)?;
    let end = a.i64(3)?;
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(e) = db.get_touch(a.get(1), now) else {
        stats.miss(a.get(1));
        out.array(0);
        return Ok(());
    };
    stats.keyspace_hits += 1;
    let l = as_list_mut(&mut e.value)?;
    match clamp_range(start, end, l.len()) {
        Some((s, e)) => {
            let n = e - s + 1;
            out.array(n);
            for el in l.iter_from(s).take(n) {
                write_elem(out, el);
            }
        }
        None => out.array(0),
    }
    l.end_read();
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let mut rank: i64 = 1;
    let mut count: Option<usize> = None;
    let mut maxlen = 0usize;
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        if a.is(j, "rank") && more {
            rank = a.i64(j + 1)?;
            if rank == 0 {
                return Err(CmdError::msg(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if a.is(j, "count") && more {
            count = Some(non_negative_or(a, j + 1, "ERR COUNT can't be negative")?);
        } else if a.is(j, "maxlen") && more {
            maxlen = non_negative_or(a, j + 1, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(e) = db.get_touch(a.get(1), now) else {
        stats.miss(a.get(1));
        if count.is_some() {
            out.array(0);
        } else {
            out.null();
        }
        return Ok(());
    };
    stats.keyspace_hits += 1;
    let l = as_list_mut(&mut e.value)?;
    let needle = Needle::new(a.get(2));
    // MAXLEN 0 means the whole list.
    let scan = if maxlen == 0 { usize::MAX } else { maxlen };
    let len = l.len();
    // Redis 7.0 accepts a RANK of LONG_MIN: its negation wraps and stays negative,
    // so it reads as the first match from the tail, and the COUNT check (which
    // subtracts the rank) wraps too, so every match is returned.
    let skip = if rank == i64::MIN { 0 } else { rank.unsigned_abs() - 1 };
    // Without COUNT only the rank-th match is wanted; COUNT 0 means every match.
    let want = match count {
        None => 1,
        Some(_) if rank == i64::MIN => usize::MAX,
        Some(0) => usize::MAX,
        Some(n) => n,
    };
    let found: Vec<usize> = if rank > 0 {
        matches(l.iter().take(scan).enumerate(), &needle, skip, want).collect()
    } else {
        matches(l.iter().rev().take(scan).enumerate(), &needle, skip, want).map(|i| len - 1 - i).collect()
    };
    l.end_read();
    match count {
        Some(_) => {
            out.array(found.len());
            for i in found {
                out.int(i as i64);
            }
        }
        None => match found.first() {
            Some(&i) => out.int(i as i64),
            None => out.null(),
        },
    }
    Ok(())
}

/// Positions (in iteration order) of the matches of `needle`, skipping the first `skip`
/// and yielding at most `want`.
fn matches<'a>(
    it: impl Iterator<Item = (usize, Elem<'a>)>,
    needle: &Needle,
    skip: u64,
    want: usize,
) -> impl Iterator<Item = usize> {
    it.filter(move |(_, e)| e.matches(needle))
        .map(|(i, _)| i)
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(want)
}

// ---- Changes in the middle ----------------------------------------------------------------

/// LINSERT key BEFORE|AFTER pivot element: the list length, -1 if the pivot is not
/// found, 0 if the key does not exist.
fn linsert(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let after = if a.is(2, "after") {
        true
    } else if a.is(2, "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let now = c.now_ms;
    let Some(e) = c.dbs[c.db].get_touch(a.get(1), now) else {
        c.out.int(0);
        return Ok(());
    };
    let l = as_list_mut(&mut e.value)?;
    if l.insert_at_pivot(&Needle::new(a.get(3)), after, a.get(4)) {
        let n = l.len();
        c.notify(notify::LIST, "linsert", a.get(1));
        c.dirty += 1;
        c.out.int(n as i64);
    } else {
        c.out.int(-1);
    }
    Ok(())
}

/// LSET key index element: the key is looked up before the index is parsed.
fn lset(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let Some(e) = c.dbs[c.db].get_touch(a.get(1), now) else { return Err(CmdError::NoSuchKey) };
    let l = as_list_mut(&mut e.value)?;
    let idx = a.i64(2)?;
    let Some(i) = resolve_index(idx, l.len()) else { return Err(CmdError::msg("ERR index out of range")) };
    l.set(i, a.get(3));
    c.notify(notify::LIST, "lset", a.get(1));
    c.dirty += 1;
    c.out.ok();
    Ok(())
}

/// LREM key count element
fn lrem(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let count = a.i64(2)?;
    let now = c.now_ms;
    let key = a.get(1);
    let db = &mut c.dbs[c.db];
    let Some(e) = db.get_touch(key, now) else {
        c.out.int(0);
        return Ok(());
    };
    let l = as_list_mut(&mut e.value)?;
    let removed = l.remove_matching(&Needle::new(a.get(3)), count);
    let deleted = l.is_empty();
    if deleted {
        db.remove(key, now);
    }
    if removed > 0 {
        c.notify_removed(notify::LIST, "lrem", key, deleted);
    }
    c.dirty += removed as u64;
    c.out.int(removed as i64);
    Ok(())
}

/// LTRIM key start stop: keeps the range (deleting the key if it is empty).
fn ltrim(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let start = a.i64(2)?;
    let end = a.i64(3)?;
    let now = c.now_ms;
    let key = a.get(1);
    let db = &mut c.dbs[c.db];
    if let Some(e) = db.get_touch(key, now) {
        let l = as_list_mut(&mut e.value)?;
        let len = l.len();
        let (left, right) = match clamp_range(start, end, len) {
            Some((s, e)) => (s, len - 1 - e),
            None => (len, 0),
        };
        l.drop_front(left);
        l.drop_back(right);
        let deleted = l.is_empty();
        if deleted {
            db.remove(key, now);
        }
        // Redis reports a trim even when it removed nothing.
        c.notify_removed(notify::LIST, "ltrim", key, deleted);
        c.dirty += (left + right) as u64;
    }
    c.out.ok();
    Ok(())
}

// ---- Table --------------------------------------------------------------------------------

const ONE_KEY: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };
const TWO_KEYS: KeySpec = KeySpec::Range { first: 1, last: 2, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "blpop",
        arity: -3,
        flags: flag::WRITE | flag::NOSCRIPT | flag::BLOCKING,
        keys: KeySpec::Range { first: 1, last: -2, step: 1 },
        handler: Handler::Keyed(blpop),
        group: "list",
        summary: "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "brpop",
        arity: -3,
        flags: flag::WRITE | flag::NOSCRIPT | flag::BLOCKING,
        keys: KeySpec::Range { first: 1, last: -2, step: 1 },
        handler: Handler::Keyed(brpop),
        group: "list",
        summary: "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "blmove",
        arity: 6,
        flags: flag::WRITE | flag::DENYOOM | flag::NOSCRIPT | flag::BLOCKING,
        keys: KeySpec::Range { first: 1, last: 2, step: 1 },
        handler: Handler::Keyed(blmove),
        group: "list",
        summary: "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
        since: "6.2.0",
    },
    CommandSpec {
        name: "brpoplpush",
        arity: 4,
        flags: flag::WRITE | flag::DENYOOM | flag::NOSCRIPT | flag::BLOCKING,
        keys: KeySpec::Range { first: 1, last: 2, step: 1 },
        handler: Handler::Keyed(brpoplpush),
        group: "list",
        summary: "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "2.2.0",
    },
    CommandSpec {
        name: "blmpop",
        arity: -5,
        flags: flag::WRITE | flag::BLOCKING,
        keys: KeySpec::Custom { first: 3, last: 3, step: 1, find: blmpop_keys },
        handler: Handler::Keyed(blmpop),
        group: "list",
        summary: "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
        since: "7.0.0",
    },
    CommandSpec {
        name: "lpush",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(lpush),
        group: "list",
        summary: "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "rpush",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(rpush),
        group: "list",
        summary: "Appends one or more elements to a list. Creates the key if it doesn't exist.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "lpushx",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(lpushx),
        group: "list",
        summary: "Prepends one or more elements to a list only when the list exists.",
        since: "2.2.0",
    },
    CommandSpec {
        name: "rpushx",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(rpushx),
        group: "list",
        summary: "Appends an element to a list only when the list exists.",
        since: "2.2.0",
    },
    CommandSpec {
        name: "lpop",
        arity: -2,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(lpop),
        group: "list",
        summary: "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "rpop",
        arity: -2,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(rpop),
        group: "list",
        summary: "Returns and removes the last elements of the list. Deletes the list if the last element was popped.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "llen",
        arity: 2,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(llen),
        group: "list",
        summary: "Returns the length of a list.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "lindex",
        arity: 3,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(lindex),
        group: "list",
        summary: "Returns an element from a list by its index.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "linsert",
        arity: 5,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ONE_KEY,
        handler: Handler::Keyed(linsert),
        group: "list",
        summary: "Inserts an element before or after another element in a list.",
        since: "2.2.0",
    },
    CommandSpec {
        name: "lset",
        arity: 4,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ONE_KEY,
        handler: Handler::Keyed(lset),
        group: "list",
        summary: "Sets the value of an element in a list by its index.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "lrange",
        arity: 4,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(lrange),
        group: "list",
        summary: "Returns a range of elements from a list.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "lrem",
        arity: 4,
        flags: flag::WRITE,
        keys: ONE_KEY,
        handler: Handler::Keyed(lrem),
        group: "list",
        summary: "Removes elements from a list. Deletes the list if the last element was removed.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "ltrim",
        arity: 4,
        flags: flag::WRITE,
        keys: ONE_KEY,
        handler: Handler::Keyed(ltrim),
        group: "list",
        summary: "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "lpos",
        arity: -3,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(lpos),
        group: "list",
        summary: "Returns the index of matching elements in a list.",
        since: "6.0.6",
    },
    CommandSpec {
        name: "lmove",
        arity: 5,
        flags: flag::WRITE | flag::DENYOOM,
        keys: TWO_KEYS,
        handler: Handler::Keyed(lmove),
        group: "list",
        summary: "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
        since: "6.2.0",
    },
    CommandSpec {
        name: "rpoplpush",
        arity: 3,
        flags: flag::WRITE | flag::DENYOOM,
        keys: TWO_KEYS,
        handler: Handler::Keyed(rpoplpush),
        group: "list",
        summary: "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
        since: "1.2.0",
    },
    CommandSpec {
        name: "lmpop",
        arity: -4,
        flags: flag::WRITE,
        keys: KeySpec::Custom { first: 0, last: 0, step: 0, find: lmpop_keys },
        handler: Handler::Keyed(lmpop),
        group: "list",
        summary: "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
        since: "7.0.0",
    },
];

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
