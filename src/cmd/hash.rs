//! Hash commands: HSET/HGET and friends, the HINCRBY pair, HRANDFIELD and HSCAN.
//!
//! Replies, error texts and edge cases follow Redis 7.0's `t_hash.c`. Storage is
//! `storage::hash::HashValue` (listpack or hashtable, converted by the storage layer as
//! Redis's `hashTypeSet` does). An emptied hash is deleted, as Redis never keeps empty
//! aggregates.
//!
//! Read commands count `keyspace_hits`/`keyspace_misses` as Redis's `lookupKeyRead`
//! does; write commands look keys up without counting. Everything is validated before
//! the first change, so an error never leaves a half-applied command or an empty hash.
//!
//! Also home to the pieces the set family shares: the per-call random generator and
//! the RANDFIELD/RANDMEMBER count parsing (the SCAN family's arguments are in
//! `scan_args`).

use super::ctx::ExecCtx;
use super::scan_args::{ScanOpts, empty_scan, parse_cursor, parse_scan_opts, scan_match};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::config::notify;
use crate::resp::Proto;
use crate::shard::ShardStats;
use crate::storage::hash::{HashValue, XorShift};
use crate::storage::{Db, Value};
use crate::util::longdouble::{self, LdAddError, LdText};
use crate::util::num;
use std::cell::Cell;

// ---- Shared with the set family -----------------------------------------------------------

thread_local! {
    /// Calls made on this shard thread, mixed into each call's seed so that two random
    /// commands in the same millisecond do not draw the same picks.
    static RNG_CALLS: Cell<u64> = const { Cell::new(0) };
}

/// A generator for one command call, seeded from the shard clock and a per-thread call
/// counter (handlers must not read the system clock or keep global state).
pub(super) fn call_rng(now_ms: u64) -> XorShift {
    let n = RNG_CALLS.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n
    });
    XorShift::new(now_ms ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// A RANDFIELD/RANDMEMBER count (`getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`).
pub(super) fn parse_rand_count(a: &Args, i: usize) -> Result<i64, CmdError> {
    let l = a.i64(i)?;
    if l == i64::MIN {
        return Err(CmdError::msg(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(l)
}

/// `count` distinct positions below `size` (count < size), in random order: a partial
/// Fisher-Yates shuffle when most positions are wanted, rejection sampling otherwise
/// (the split Redis makes with `*_SUB_STRATEGY_MUL`).
pub(super) fn distinct_indexes(rng: &mut XorShift, size: usize, count: usize) -> Vec<usize> {
    if count * 3 > size {
        let mut all: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = i + rng.below(size - i);
            all.swap(i, j);
        }
        all.truncate(count);
        all
    } else {
        let mut seen = std::collections::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let i = rng.below(size);
            if seen.insert(i) {
                out.push(i);
            }
        }
        out
    }
}

// ---- Value access -------------------------------------------------------------------------

/// Looks `key` up for reading (counting a hit or miss) and type-checks it.
fn read_hash<'d>(
    db: &'d mut Db,
    stats: &mut ShardStats,
    key: &[u8],
    now: u64,
) -> Result<Option<&'d HashValue>, CmdError> {
    match db.get_touch(key, now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            match &e.value {
                Value::Hash(h) => Ok(Some(h)),
                _ => Err(CmdError::WrongType),
            }
        }
        None => {
            stats.miss(key);
            Ok(None)
        }
    }
}

/// Type-checks `key` for writing: Ok(true) if it holds a hash, Ok(false) if absent.
fn check_write(db: &mut Db, key: &[u8], now: u64) -> Result<bool, CmdError> {
    match db.get(key, now) {
        Some(e) if matches!(e.value, Value::Hash(_)) => Ok(true),
        Some(_) => Err(CmdError::WrongType),
        None => Ok(false),
    }
}

/// The hash at `key` for writing, created empty if absent (callers add to it at once).
fn hash_mut_or_create<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<&'d mut HashValue, CmdError> {
    let entry = if check_write(db, key, now)? {
        db.get_mut(key, now).expect("checked present")
    } else {
        db.insert_new(key, Value::Hash(HashValue::new()))
    };
    match &mut entry.value {
        Value::Hash(h) => Ok(h),
        _ => unreachable!("type checked above"),
    }
}

/// The existing hash at `key` for writing, or None.
fn hash_mut<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d mut HashValue>, CmdError> {
    if !check_write(db, key, now)? {
        return Ok(None);
    }
    match &mut db.get_mut(key, now).expect("checked present").value {
        Value::Hash(h) => Ok(Some(h)),
        _ => unreachable!("type checked above"),
    }
}

// ---- Commands -----------------------------------------------------------------------------

/// HSET key field value [field value ...] and HMSET (which replies OK).
fn hset_generic(c: &mut ExecCtx, a: &Args, name: &str) -> Result<(), CmdError> {
    if a.len() % 2 == 1 {
        return Err(CmdError::msg(super::error::wrong_arity(name)));
    }
    let now = c.now_ms;
    let cfg = c.config;
    let h = hash_mut_or_create(c.db(), a.get(1), now)?;
    let mut created = 0;
    for i in (2..a.len()).step_by(2) {
        created += h.set(a.get(i), a.get(i + 1), &cfg.encoding) as i64;
    }
    if name == "hset" {
        c.out.int(created);
    } else {
        c.out.ok();
    }
    c.notify(notify::HASH, "hset", a.get(1));
    c.dirty += ((a.len() - 2) / 2) as u64;
    Ok(())
}

fn hset(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    hset_generic(c, a, "hset")
}

fn hmset(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    hset_generic(c, a, "hmset")
}

fn hsetnx(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let cfg = c.config;
    let h = hash_mut_or_create(c.db(), a.get(1), now)?;
    if h.contains(a.get(2)) {
        c.out.int(0);
    } else {
        h.set(a.get(2), a.get(3), &cfg.encoding);
        c.out.int(1);
        c.notify(notify::HASH, "hset", a.get(1));
        c.dirty += 1;
    }
    Ok(())
}

fn hget(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    match read_hash(db, stats, a.get(1), now)?.and_then(|h| h.get(a.get(2))) {
        Some(v) => out.bulk(v),
        None => out.null(),
    }
    Ok(())
}

fn hmget(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let h = read_hash(db, stats, a.get(1), now)?;
    out.array(a.len() - 2);
    for i in 2..a.len() {
        match h.and_then(|h| h.get(a.get(i))) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    Ok(())
}

fn hdel(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let key = a.get(1);
    let db = c.db();
    let mut deleted = 0;
    let mut emptied = false;
    if let Some(h) = hash_mut(db, key, now)? {
        for i in 2..a.len() {
            if h.remove(a.get(i)) {
                deleted += 1;
                if h.is_empty() {
                    emptied = true;
                    break;
                }
            }
        }
    }
    if emptied {
        db.remove(key, now);
    }
    if deleted > 0 {
        c.notify_removed(notify::HASH, "hdel", key, emptied);
    }
    c.out.int(deleted);
    c.dirty += deleted as u64;
    Ok(())
}

fn hlen(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let n = read_hash(db, stats, a.get(1), now)?.map_or(0, |h| h.len());
    out.int(n as i64);
    Ok(())
}

fn hstrlen(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let n = read_hash(db, stats, a.get(1), now)?.and_then(|h| h.get(a.get(2))).map_or(0, |v| v.len());
    out.int(n as i64);
    Ok(())
}

fn hexists(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let found = read_hash(db, stats, a.get(1), now)?.is_some_and(|h| h.contains(a.get(2)));
    out.int(found as i64);
    Ok(())
}

/// What HKEYS/HVALS/HGETALL send.
#[derive(Clone, Copy, PartialEq)]
enum GetAll {
    Keys,
    Vals,
    Both,
}

fn getall_generic(c: &mut ExecCtx, a: &Args, what: GetAll) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let h = read_hash(db, stats, a.get(1), now)?;
    let n = h.map_or(0, |h| h.len());
    if what == GetAll::Both {
        out.map(n);
    } else {
        out.array(n);
    }
    if let Some(h) = h {
        for (k, v) in h.iter() {
            if what != GetAll::Vals {
                out.bulk(k);
            }
            if what != GetAll::Keys {
                out.bulk(v);
            }
        }
    }
    Ok(())
}

fn hkeys(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    getall_generic(c, a, GetAll::Keys)
}

fn hvals(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    getall_generic(c, a, GetAll::Vals)
}

fn hgetall(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    getall_generic(c, a, GetAll::Both)
}

fn hincrby(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let incr = a.i64(3)?;
    let now = c.now_ms;
    let (key, field) = (a.get(1), a.get(2));
    let cfg = c.config;
    let db = c.db();
    let old = match hash_mut(db, key, now)?.and_then(|h| h.get(field)) {
        Some(v) => num::parse_i64(v).ok_or_else(|| CmdError::msg("ERR hash value is not an integer"))?,
        None => 0,
    };
    let new = old.checked_add(incr).ok_or(CmdError::Overflow)?;
    let mut text = Vec::with_capacity(20);
    num::write_i64(&mut text, new);
    hash_mut_or_create(db, key, now)?.set(field, &text, &cfg.encoding);
    c.out.int(new);
    c.notify(notify::HASH, "hincrby", key);
    c.dirty += 1;
    Ok(())
}

fn hincrbyfloat(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    // Redis's order: the increment, the key's type, the field's value; the sum is
    // Redis's `long double` one (`util::longdouble`).
    match longdouble::check(a.get(3)) {
        LdText::NotAFloat => return Err(CmdError::NotFloat),
        LdText::Infinite => return Err(CmdError::msg("ERR value is NaN or Infinity")),
        LdText::Finite => {}
    }
    let now = c.now_ms;
    let (key, field) = (a.get(1), a.get(2));
    let cfg = c.config;
    let db = c.db();
    let mut text = Vec::with_capacity(24);
    let old = hash_mut(db, key, now)?.and_then(|h| h.get(field));
    longdouble::add(old.unwrap_or(b"0"), a.get(3), &mut text).map_err(|e| match e {
        LdAddError::BadFirst => CmdError::msg("ERR hash value is not a float"),
        LdAddError::BadSecond => CmdError::NotFloat,
        LdAddError::NotFinite => CmdError::msg("ERR increment would produce NaN or Infinity"),
    })?;
    hash_mut_or_create(db, key, now)?.set(field, &text, &cfg.encoding);
    c.out.bulk(&text);
    c.notify(notify::HASH, "hincrbyfloat", key);
    c.dirty += 1;
    Ok(())
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let mut rng = call_rng(now);
    if a.len() == 2 {
        let (db, out, stats) = c.parts();
        match read_hash(db, stats, a.get(1), now)? {
            Some(h) => {
                let (k, _) = h.get_index(rng.below(h.len())).expect("non-empty hash");
                out.bulk(k);
            }
            None => out.null(),
        }
        return Ok(());
    }
    let l = parse_rand_count(a, 2)?;
    let withvalues = match a.len() {
        3 => false,
        4 if a.is(3, "withvalues") => {
            // Twice the count must still fit a long (the RESP2 reply length).
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return Err(CmdError::msg("ERR value is out of range"));
            }
            true
        }
        _ => return Err(CmdError::Syntax),
    };
    let (db, out, stats) = c.parts();
    let Some(h) = read_hash(db, stats, a.get(1), now)? else {
        out.array(0);
        return Ok(());
    };
    let resp3 = out.proto == Proto::Resp3;
    let count = l.unsigned_abs() as usize;
    let size = h.len();
    // RESP2 flattens pairs; RESP3 nests each pair in a two-element array.
    let header = |out: &mut crate::resp::ReplyWriter, n: usize| {
        out.array(if withvalues && !resp3 { n * 2 } else { n });
    };
    let emit = |out: &mut crate::resp::ReplyWriter, (k, v): (&[u8], &[u8])| {
        if withvalues && resp3 {
            out.array(2);
        }
        out.bulk(k);
        if withvalues {
            out.bulk(v);
        }
    };
    // A listpack has no random access of its own: index a snapshot of its pairs.
    let small = matches!(h, HashValue::Listpack(_)).then(|| h.pairs());
    let at = |i: usize| match &small {
        Some(p) => p[i],
        None => h.get_index(i).expect("index in range"),
    };
    if count == 0 {
        out.array(0);
    } else if l < 0 || count == 1 {
        // Repeats allowed: `count` independent picks.
        header(out, count);
        for _ in 0..count {
            emit(out, at(rng.below(size)));
        }
    } else if count >= size {
        header(out, size);
        for p in h.iter() {
            emit(out, p);
        }
    } else {
        header(out, count);
        for i in distinct_indexes(&mut rng, size, count) {
            emit(out, at(i));
        }
    }
    Ok(())
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let cursor = parse_cursor(a.get(2))?;
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(h) = read_hash(db, stats, a.get(1), now)? else {
        empty_scan(out);
        return Ok(());
    };
    let ScanOpts { count, pattern, .. } = parse_scan_opts(a, 3, false)?;
    let (next, items) = h.scan(cursor, count);
    let kept: Vec<(&[u8], &[u8])> = items.into_iter().filter(|(k, _)| scan_match(pattern, k)).collect();
    out.array(2);
    let mut cur = Vec::with_capacity(20);
    num::write_u64(&mut cur, next);
    out.bulk(&cur);
    out.array(kept.len() * 2);
    for (k, v) in kept {
        out.bulk(k);
        out.bulk(v);
    }
    Ok(())
}

// ---- Table ---------------------------------------------------------------------------------

const ONE_KEY: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "hset",
        arity: -4,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hset),
        group: "hash",
        summary: "Creates or modifies the value of a field in a hash.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hsetnx",
        arity: 4,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hsetnx),
        group: "hash",
        summary: "Sets the value of a field in a hash only when the field doesn't exist.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hget",
        arity: 3,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hget),
        group: "hash",
        summary: "Returns the value of a field in a hash.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hmset",
        arity: -4,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hmset),
        group: "hash",
        summary: "Sets the values of multiple fields.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hmget",
        arity: -3,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hmget),
        group: "hash",
        summary: "Returns the values of all fields in a hash.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hdel",
        arity: -3,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hdel),
        group: "hash",
        summary: "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hexists",
        arity: 3,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hexists),
        group: "hash",
        summary: "Determines whether a field exists in a hash.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hlen",
        arity: 2,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hlen),
        group: "hash",
        summary: "Returns the number of fields in a hash.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hstrlen",
        arity: 3,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hstrlen),
        group: "hash",
        summary: "Returns the length of the value of a field.",
        since: "3.2.0",
    },
    CommandSpec {
        name: "hkeys",
        arity: 2,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(hkeys),
        group: "hash",
        summary: "Returns all fields in a hash.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hvals",
        arity: 2,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(hvals),
        group: "hash",
        summary: "Returns all values in a hash.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hgetall",
        arity: 2,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(hgetall),
        group: "hash",
        summary: "Returns all fields and values in a hash.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hincrby",
        arity: 4,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hincrby),
        group: "hash",
        summary: "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
        since: "2.0.0",
    },
    CommandSpec {
        name: "hincrbyfloat",
        arity: 4,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(hincrbyfloat),
        group: "hash",
        summary: "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
        since: "2.6.0",
    },
    CommandSpec {
        name: "hrandfield",
        arity: -2,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(hrandfield),
        group: "hash",
        summary: "Returns one or more random fields from a hash.",
        since: "6.2.0",
    },
    CommandSpec {
        name: "hscan",
        arity: -3,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(hscan),
        group: "hash",
        summary: "Iterates over fields and values of a hash.",
        since: "2.8.0",
    },
];

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;
