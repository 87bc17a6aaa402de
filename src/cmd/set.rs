//! Set commands: membership, random picks, SMOVE, set algebra (with and without STORE,
//! and SINTERCARD) and SSCAN.
//!
//! Replies, error texts and edge cases follow Redis 7.0's `t_set.c`; the encodings
//! (intset, listpack, hashtable) and their conversions live in `storage::set`. In RESP3,
//! SMEMBERS, SINTER, SUNION, SDIFF and SPOP with a count reply with sets, SRANDMEMBER
//! with a count with an array (it may repeat members), as Redis 7 does.
//!
//! Multi-key commands (SMOVE, SINTER*, SUNION*, SDIFF*) declare every key, so when the
//! keys live on different shards the generic coordinator gathers them and runs the same
//! handler on a scratch keyspace: the handlers here only ever see one keyspace.
//!
//! Read lookups count `keyspace_hits`/`keyspace_misses` (Redis's `lookupKeyRead`); an
//! emptied set is deleted.

use super::ctx::ExecCtx;
use super::hash::{call_rng, distinct_indexes, parse_rand_count};
use super::scan_args::{ScanOpts, empty_scan, parse_cursor, parse_scan_opts, scan_match};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::config::notify;
use crate::resp::ReplyWriter;
use crate::shard::ShardStats;
use crate::storage::set::{Member, SetValue};
use crate::storage::{Db, EncodingLimits, Value};
use crate::util::num;

// ---- Value access -------------------------------------------------------------------------

/// Looks `key` up for reading (counting a hit or miss) and type-checks it.
fn read_set<'d>(
    db: &'d mut Db,
    stats: &mut ShardStats,
    key: &[u8],
    now: u64,
) -> Result<Option<&'d SetValue>, CmdError> {
    match db.get_touch(key, now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            match &e.value {
                Value::Set(s) => Ok(Some(s)),
                _ => Err(CmdError::WrongType),
            }
        }
        None => {
            stats.miss(key);
            Ok(None)
        }
    }
}

/// Type-checks `key` for writing: Ok(true) if it holds a set, Ok(false) if absent.
fn check_write(db: &mut Db, key: &[u8], now: u64) -> Result<bool, CmdError> {
    match db.get(key, now) {
        Some(e) if matches!(e.value, Value::Set(_)) => Ok(true),
        Some(_) => Err(CmdError::WrongType),
        None => Ok(false),
    }
}

/// The existing set at `key` for writing, or None.
fn set_mut<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d mut SetValue>, CmdError> {
    if !check_write(db, key, now)? {
        return Ok(None);
    }
    match &mut db.get_mut(key, now).expect("checked present").value {
        Value::Set(s) => Ok(Some(s)),
        _ => unreachable!("type checked above"),
    }
}

/// The set at `key` for writing; if absent, a new one made by `make` (callers add to
/// it at once).
fn set_mut_or_create<'d>(
    db: &'d mut Db,
    key: &[u8],
    now: u64,
    make: impl FnOnce() -> SetValue,
) -> Result<&'d mut SetValue, CmdError> {
    let entry = if check_write(db, key, now)? {
        db.get_mut(key, now).expect("checked present")
    } else {
        db.insert_new(key, Value::Set(make()))
    };
    match &mut entry.value {
        Value::Set(s) => Ok(s),
        _ => unreachable!("type checked above"),
    }
}

#[inline]
fn reply_member(out: &mut ReplyWriter, m: Member) {
    match m {
        Member::Int(v) => out.bulk_i64(v),
        Member::Bytes(b) => out.bulk(b),
    }
}

// ---- Single-set commands ------------------------------------------------------------------

fn sadd(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let lim = &c.config.encoding;
    // Sized for all the members given, as Redis 7.2's SADD asks `setTypeCreate`.
    let s = set_mut_or_create(c.db(), a.get(1), now, || SetValue::with_hint(a.get(2), a.len() - 2))?;
    let mut added = 0;
    for i in 2..a.len() {
        added += s.insert(a.get(i), lim) as i64;
    }
    c.out.int(added);
    if added > 0 {
        c.notify(notify::SET, "sadd", a.get(1));
    }
    c.dirty += added as u64;
    Ok(())
}

fn srem(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let key = a.get(1);
    let db = c.db();
    let mut deleted = 0;
    let mut emptied = false;
    if let Some(s) = set_mut(db, key, now)? {
        for i in 2..a.len() {
            if s.remove(a.get(i)) {
                deleted += 1;
                if s.is_empty() {
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
        c.notify_removed(notify::SET, "srem", key, emptied);
    }
    c.out.int(deleted);
    c.dirty += deleted as u64;
    Ok(())
}

fn scard(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let n = read_set(db, stats, a.get(1), now)?.map_or(0, |s| s.len());
    out.int(n as i64);
    Ok(())
}

fn sismember(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let found = read_set(db, stats, a.get(1), now)?.is_some_and(|s| s.contains(a.get(2)));
    out.int(found as i64);
    Ok(())
}

fn smismember(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let s = read_set(db, stats, a.get(1), now)?;
    out.array(a.len() - 2);
    for i in 2..a.len() {
        out.int(s.is_some_and(|s| s.contains(a.get(i))) as i64);
    }
    Ok(())
}

/// SMOVE source destination member
fn smove(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (src, dst, m) = (a.get(1), a.get(2), a.get(3));
    let db = c.db();
    // Both keys are looked up (and so expired) first, as Redis does; then a missing
    // source answers 0 before the types are checked.
    let src_type = db.get(src, now).map(|e| matches!(e.value, Value::Set(_)));
    let dst_type = db.get(dst, now).map(|e| matches!(e.value, Value::Set(_)));
    match src_type {
        None => {
            c.out.int(0);
            return Ok(());
        }
        Some(false) => return Err(CmdError::WrongType),
        Some(true) => {}
    }
    if dst_type == Some(false) {
        return Err(CmdError::WrongType);
    }
    if src == dst {
        let found = set_mut(db, src, now)?.is_some_and(|s| s.contains(m));
        c.out.int(found as i64);
        return Ok(());
    }
    let s = set_mut(db, src, now)?.expect("checked present");
    if !s.remove(m) {
        c.out.int(0);
        return Ok(());
    }
    let emptied = s.is_empty();
    if emptied {
        db.remove(src, now);
    }
    c.notify_removed(notify::SET, "srem", src, emptied);
    let lim = &c.config.encoding;
    let added = set_mut_or_create(c.db(), dst, now, || SetValue::with_hint(m, 1))?.insert(m, lim);
    if added {
        c.notify(notify::SET, "sadd", dst);
    } else {
        c.unchanged_key = Some(2);
    }
    c.dirty += 1 + added as u64;
    c.out.int(1);
    Ok(())
}

/// SPOP key [count]
fn spop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let now = c.now_ms;
    let key = a.get(1);
    if a.len() == 2 {
        let db = c.db();
        let Some(s) = set_mut(db, key, now)? else {
            c.out.null();
            return Ok(());
        };
        // Seeded only once there is a set to pop from: the missing-key reply stays
        // a lookup and a null.
        let mut rng = call_rng(now);
        let m = s.pop_random(&mut rng).expect("stored sets are never empty");
        let emptied = s.is_empty();
        if emptied {
            db.remove(key, now);
        }
        c.notify_removed(notify::SET, "spop", key, emptied);
        c.out.bulk(&m);
        c.dirty += 1;
        // The member was random: replay removes that very member.
        c.prop.push(&[b"SREM", key, &m]);
        return Ok(());
    }
    // Redis's `getPositiveLongFromObjectOrReply`: one message for "not a number" and
    // "negative" alike.
    let l = num::parse_i64(a.get(2))
        .filter(|&l| l >= 0)
        .ok_or_else(|| CmdError::msg("ERR value is out of range, must be positive"))?;
    let cfg = c.config;
    let db = c.db();
    let Some(s) = set_mut(db, key, now)? else {
        c.out.set(0);
        return Ok(());
    };
    let count = usize::try_from(l).unwrap_or(usize::MAX);
    if count == 0 {
        c.out.set(0);
        return Ok(());
    }
    let mut rng = call_rng(now);
    let popped = s.pop_many(count, &mut rng, &cfg.encoding);
    let emptied = s.is_empty();
    if emptied {
        db.remove(key, now);
    }
    c.notify_removed(notify::SET, "spop", key, emptied);
    c.out.set(popped.len());
    for m in &popped {
        c.out.bulk(m);
    }
    for chunk in popped.chunks(crate::persist::emit::ITEMS_PER_CMD) {
        let mut srem: Vec<&[u8]> = vec![b"SREM", key];
        srem.extend(chunk.iter().map(|m| m.as_slice()));
        c.prop.push(&srem);
    }
    c.dirty += popped.len() as u64;
    Ok(())
}

/// SRANDMEMBER key [count]
fn srandmember(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let now = c.now_ms;
    let mut rng = call_rng(now);
    if a.len() == 2 {
        let (db, out, stats) = c.parts();
        match read_set(db, stats, a.get(1), now)? {
            Some(s) => reply_member(out, s.random(&mut rng).expect("stored sets are never empty")),
            None => out.null(),
        }
        return Ok(());
    }
    let l = parse_rand_count(a, 2)?;
    let (db, out, stats) = c.parts();
    let Some(s) = read_set(db, stats, a.get(1), now)? else {
        out.array(0);
        return Ok(());
    };
    let count = l.unsigned_abs() as usize;
    let size = s.len();
    // A listpack has no random access of its own: index a snapshot of its members.
    let small = matches!(s, SetValue::Listpack(_)).then(|| s.members());
    let at = |i: usize| match &small {
        Some(v) => v[i],
        None => s.get_index(i).expect("index in range"),
    };
    if count == 0 {
        out.array(0);
    } else if l < 0 || count == 1 {
        out.array(count);
        for _ in 0..count {
            reply_member(out, at(rng.below(size)));
        }
    } else if count >= size {
        out.array(size);
        for m in s.iter() {
            reply_member(out, m);
        }
    } else {
        out.array(count);
        for i in distinct_indexes(&mut rng, size, count) {
            reply_member(out, at(i));
        }
    }
    Ok(())
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let cursor = parse_cursor(a.get(2))?;
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(s) = read_set(db, stats, a.get(1), now)? else {
        empty_scan(out);
        return Ok(());
    };
    let ScanOpts { count, pattern, .. } = parse_scan_opts(a, 3, false)?;
    let (next, items) = s.scan(cursor, count);
    let kept: Vec<Member> = items.into_iter().filter(|m| m.with_bytes(|b| scan_match(pattern, b))).collect();
    out.array(2);
    let mut cur = Vec::with_capacity(20);
    num::write_u64(&mut cur, next);
    out.bulk(&cur);
    out.array(kept.len());
    for m in kept {
        reply_member(out, m);
    }
    Ok(())
}

// ---- Set algebra ----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Looks up every key of an algebra command for reading, as Redis's loop does: hits
/// and misses counted, expired keys dropped, the first wrong type an error.
fn check_sets(c: &mut ExecCtx, a: &Args, keys: std::ops::Range<usize>) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, _, stats) = c.parts();
    for i in keys {
        read_set(db, stats, a.get(i), now)?;
    }
    Ok(())
}

/// The sets named by `keys` (None for a missing key), borrowed together. Call after
/// `check_sets`, which has expired and type-checked them all, so a plain peek is exact.
fn peek_sets<'d>(db: &'d Db, a: &Args, keys: std::ops::Range<usize>) -> Vec<Option<&'d SetValue>> {
    keys.map(|i| match db.peek(a.get(i)).map(|e| &e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    })
    .collect()
}

/// Members of the intersection of `sets`, at most `limit` of them (0: no limit).
/// The smallest set is walked and each member tested against the others.
fn inter_members<'s>(sets: &[Option<&'s SetValue>], limit: usize) -> Vec<Member<'s>> {
    let mut present: Vec<&SetValue> = Vec::with_capacity(sets.len());
    for s in sets {
        match s {
            Some(s) => present.push(s),
            // An empty set empties the intersection.
            None => return Vec::new(),
        }
    }
    present.sort_by_key(|s| s.len());
    let Some((first, rest)) = present.split_first() else { return Vec::new() };
    let mut out = Vec::new();
    for m in first.iter() {
        if m.with_bytes(|b| rest.iter().all(|s| std::ptr::eq(*s, *first) || s.contains(b))) {
            out.push(m);
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// Members of the first set found in none of the others.
fn diff_members<'s>(sets: &[Option<&'s SetValue>]) -> Vec<Member<'s>> {
    let Some(Some(first)) = sets.first() else { return Vec::new() };
    let rest: Vec<&SetValue> = sets[1..].iter().flatten().copied().collect();
    first.iter().filter(|m| m.with_bytes(|b| !rest.iter().any(|s| s.contains(b)))).collect()
}

/// The combination of `sets` under `op` as a new value, built from an empty intset by
/// insertion (as Redis builds its `dstset`), so it takes the encoding its members call
/// for.
fn combine(sets: &[Option<&SetValue>], op: Op, lim: &EncodingLimits) -> SetValue {
    let mut out = SetValue::new_intset();
    let mut add = |m: Member| {
        m.with_bytes(|b| out.insert(b, lim));
    };
    match op {
        Op::Inter => inter_members(sets, 0).into_iter().for_each(&mut add),
        Op::Diff => diff_members(sets).into_iter().for_each(&mut add),
        Op::Union => sets.iter().flatten().for_each(|s| s.iter().for_each(&mut add)),
    }
    out
}

fn reply_members(out: &mut ReplyWriter, ms: &[Member]) {
    out.set(ms.len());
    for &m in ms {
        reply_member(out, m);
    }
}

/// SINTER/SUNION/SDIFF (and SMEMBERS, which is SINTER of one key).
fn algebra(c: &mut ExecCtx, a: &Args, op: Op) -> Result<(), CmdError> {
    check_sets(c, a, 1..a.len())?;
    let cfg = c.config;
    let (db, out, _) = c.parts();
    let sets = peek_sets(db, a, 1..a.len());
    match op {
        // Intersections and differences have no duplicates: reply straight from the
        // sources. SMEMBERS is the one-key intersection.
        Op::Inter => reply_members(out, &inter_members(&sets, 0)),
        Op::Diff => reply_members(out, &diff_members(&sets)),
        Op::Union => {
            let u = combine(&sets, op, &cfg.encoding);
            reply_members(out, &u.members());
        }
    }
    Ok(())
}

/// The STORE forms: the result replaces `destination` (TTL dropped), or deletes it
/// when empty.
fn algebra_store(c: &mut ExecCtx, a: &Args, op: Op) -> Result<(), CmdError> {
    check_sets(c, a, 2..a.len())?;
    let cfg = c.config;
    let result = combine(&peek_sets(c.db(), a, 2..a.len()), op, &cfg.encoding);
    let now = c.now_ms;
    let dst = a.get(1);
    let n = result.len();
    let db = c.db();
    if n > 0 {
        let old = db.set(dst, Value::Set(result), 0);
        crate::shard::lazyfree::server_del(old, c.config);
        let event = match op {
            Op::Inter => "sinterstore",
            Op::Union => "sunionstore",
            Op::Diff => "sdiffstore",
        };
        c.notify(notify::SET, event, dst);
        c.dirty += 1;
    } else if let Some(old) = db.remove(dst, now) {
        crate::shard::lazyfree::server_del(Some(old), c.config);
        c.notify(notify::GENERIC, "del", dst);
        c.dirty += 1;
    }
    c.out.int(n as i64);
    Ok(())
}

fn smembers(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    algebra(c, a, Op::Inter)
}

fn sinter(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    algebra(c, a, Op::Inter)
}

fn sunion(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    algebra(c, a, Op::Union)
}

fn sdiff(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    algebra(c, a, Op::Diff)
}

fn sinterstore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    algebra_store(c, a, Op::Inter)
}

fn sunionstore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    algebra_store(c, a, Op::Union)
}

fn sdiffstore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    algebra_store(c, a, Op::Diff)
}

/// SINTERCARD's numkeys, with Redis's errors.
fn sintercard_numkeys(a: &Args) -> Result<usize, CmdError> {
    let n = num::parse_i64(a.get(1))
        .filter(|&n| n >= 1)
        .ok_or_else(|| CmdError::msg("ERR numkeys should be greater than 0"))?;
    if n > (a.len() - 2) as i64 {
        return Err(CmdError::msg("ERR Number of keys can't be greater than number of args"));
    }
    Ok(n as usize)
}

fn sintercard_keys(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    let n = sintercard_numkeys(a)?;
    Ok((2..2 + n).map(|i| (db, i)).collect())
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let n = sintercard_numkeys(a)?;
    let mut limit = 0usize;
    let mut j = 2 + n;
    while j < a.len() {
        if a.is(j, "limit") && j + 1 < a.len() {
            let l = num::parse_i64(a.get(j + 1))
                .filter(|&l| l >= 0)
                .ok_or_else(|| CmdError::msg("ERR LIMIT can't be negative"))?;
            limit = usize::try_from(l).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    check_sets(c, a, 2..2 + n)?;
    let n = inter_members(&peek_sets(c.db(), a, 2..2 + n), limit).len();
    c.out.int(n as i64);
    Ok(())
}

// ---- Table ---------------------------------------------------------------------------------

const ONE_KEY: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };
const ALL_KEYS: KeySpec = KeySpec::Range { first: 1, last: -1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "sadd",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(sadd),
        group: "set",
        summary: "Adds one or more members to a set. Creates the key if it doesn't exist.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "srem",
        arity: -3,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(srem),
        group: "set",
        summary: "Removes one or more members from a set. Deletes the set if the last member was removed.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "scard",
        arity: 2,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(scard),
        group: "set",
        summary: "Returns the number of members in a set.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "sismember",
        arity: 3,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(sismember),
        group: "set",
        summary: "Determines whether a member belongs to a set.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "smismember",
        arity: -3,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(smismember),
        group: "set",
        summary: "Determines whether multiple members belong to a set.",
        since: "6.2.0",
    },
    CommandSpec {
        name: "smembers",
        arity: 2,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(smembers),
        group: "set",
        summary: "Returns all members of a set.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "smove",
        arity: 4,
        flags: flag::WRITE | flag::FAST,
        keys: KeySpec::Range { first: 1, last: 2, step: 1 },
        handler: Handler::Keyed(smove),
        group: "set",
        summary: "Moves a member from one set to another.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "spop",
        arity: -2,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(spop),
        group: "set",
        summary: "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "srandmember",
        arity: -2,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(srandmember),
        group: "set",
        summary: "Get one or multiple random members from a set",
        since: "1.0.0",
    },
    CommandSpec {
        name: "sinter",
        arity: -2,
        flags: flag::READONLY,
        keys: ALL_KEYS,
        handler: Handler::Keyed(sinter),
        group: "set",
        summary: "Returns the intersect of multiple sets.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "sintercard",
        arity: -3,
        flags: flag::READONLY,
        keys: KeySpec::Custom { first: 0, last: 0, step: 0, find: sintercard_keys },
        handler: Handler::Keyed(sintercard),
        group: "set",
        summary: "Returns the number of members of the intersect of multiple sets.",
        since: "7.0.0",
    },
    CommandSpec {
        name: "sinterstore",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ALL_KEYS,
        handler: Handler::Keyed(sinterstore),
        group: "set",
        summary: "Stores the intersect of multiple sets in a key.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "sunion",
        arity: -2,
        flags: flag::READONLY,
        keys: ALL_KEYS,
        handler: Handler::Keyed(sunion),
        group: "set",
        summary: "Returns the union of multiple sets.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "sunionstore",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ALL_KEYS,
        handler: Handler::Keyed(sunionstore),
        group: "set",
        summary: "Stores the union of multiple sets in a key.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "sdiff",
        arity: -2,
        flags: flag::READONLY,
        keys: ALL_KEYS,
        handler: Handler::Keyed(sdiff),
        group: "set",
        summary: "Returns the difference of multiple sets.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "sdiffstore",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ALL_KEYS,
        handler: Handler::Keyed(sdiffstore),
        group: "set",
        summary: "Stores the difference of multiple sets in a key.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "sscan",
        arity: -3,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(sscan),
        group: "set",
        summary: "Iterates over members of a set.",
        since: "2.8.0",
    },
];

#[cfg(test)]
#[path = "set_tests.rs"]
mod tests;
