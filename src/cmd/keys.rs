//! Generic key commands (Redis's "generic" group): DEL, UNLINK, EXISTS, TYPE, TOUCH, the
//! EXPIRE/TTL family, PERSIST, RENAME(NX), COPY, MOVE, OBJECT, MEMORY USAGE, and the
//! keyspace walks KEYS, SCAN and RANDOMKEY.
//!
//! Replies, error texts and edge cases follow Redis 7.0 (`db.c`, `expire.c`,
//! `object.c`). Keyed commands are written against one keyspace; when their keys live
//! on several shards, `coord` runs the same handler on gathered copies.
//!
//! Lookups follow Redis's flags: reads that Redis does with `lookupKeyRead*` count
//! `keyspace_hits`/`keyspace_misses` (EXISTS, TYPE, TTL, TOUCH, OBJECT, COPY's source);
//! lookups without `LOOKUP_NOTOUCH` (TOUCH, EXPIRE, PERSIST, RENAME, COPY, MOVE) record
//! the access time that OBJECT IDLETIME reports.
//!
//! SCAN's cursor names a shard and a position inside it: `cursor = inner * nshards +
//! shard`, where `inner` is that shard's `Db::scan` cursor (0 = the shard's start).
//! Each call walks one shard; when a shard is done the cursor moves to the next shard's
//! start, and after the last shard it is 0. Since `Db::scan` visits every key that
//! stays present for its whole walk, so does a full SCAN.

use super::ctx::{ConnCtx, ConnOutcome, ExecCtx, FanOut};
use super::error::wrong_arity;
use super::scan_args::ScanArgs;
use super::table::flag::{DENYOOM, FAST, READONLY, WRITE};
use super::table::{CommandSpec, Handler, KeySpec};
use super::{Args, CmdError};
use crate::config::notify;
use crate::resp::ReplyWriter;
use crate::storage::{Entry, Slot, Value};
use crate::util::glob::glob_match;
use crate::util::num;
use std::sync::Arc;

/// One shard's SCAN step: its next cursor and the keys it found.
type ScanStep = (u64, Vec<Vec<u8>>);

// ---- Helpers ----------------------------------------------------------------------------

/// A read lookup that counts toward keyspace hits/misses but does not record an access
/// (Redis's `lookupKeyReadWithFlags(..., LOOKUP_NOTOUCH)`).
fn read_notouch<'d>(c: &'d mut ExecCtx, key: &[u8]) -> Option<&'d Slot> {
    read_notouch_with_expire(c, key).map(|(e, _)| e)
}

/// As `read_notouch`, with the key's deadline (0 = none).
fn read_notouch_with_expire<'d>(c: &'d mut ExecCtx, key: &[u8]) -> Option<(&'d Slot, u64)> {
    let now = c.now_ms;
    let (db, _, stats) = c.parts();
    let e = db.get_notouch_with_expire(key, now);
    if e.is_some() {
        stats.keyspace_hits += 1;
    } else {
        stats.miss(key);
    }
    e
}

/// `ERR wrong number of arguments for 'container|sub' command` unless the arity fits.
fn sub_arity(a: &Args, fullname: &str, arity: i32) -> Result<(), CmdError> {
    let n = a.len() as i32;
    let ok = if arity >= 0 { n == arity } else { n >= -arity };
    if ok { Ok(()) } else { Err(CmdError::msg(wrong_arity(fullname))) }
}

/// `ERR unknown subcommand 'x'. Try CONTAINER HELP.`
fn unknown_subcommand(a: &Args) -> CmdError {
    let sub: String = a.str(1).chars().take(128).collect();
    CmdError::msg(format!("ERR unknown subcommand '{sub}'. Try {} HELP.", a.str(0).to_ascii_uppercase()))
}

/// Redis's addReplyHelp: header, the lines, then HELP's own entry, as status replies.
fn help_reply(out: &mut ReplyWriter, container: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

/// A database index argument as Redis reads it (`getIntFromObjectOrReply`, then the
/// range check of `selectDb`).
fn db_index(a: &Args, i: usize, ndbs: usize) -> Result<usize, CmdError> {
    let n = a.i64(i)?;
    if n < i32::MIN as i64 || n > i32::MAX as i64 {
        return Err(CmdError::NotInteger);
    }
    if n < 0 || n as usize >= ndbs {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    Ok(n as usize)
}

/// A database index as a key-position function sees it: only a well-formed index can
/// name where a key lives; anything else is left for the handler to reject.
fn db_arg(a: &Args, i: usize) -> Option<u16> {
    num::parse_i64(a.get(i)).and_then(|n| u16::try_from(n).ok())
}

// ---- DEL, UNLINK, EXISTS, TYPE, TOUCH -----------------------------------------------------

fn del(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let lazy = c.config.lazyfree_lazy_user_del;
    remove_keys(c, a, lazy)
}

/// UNLINK: DEL that frees big values on the lazy-free thread (`shard::lazyfree`).
fn unlink(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    remove_keys(c, a, true)
}

fn remove_keys(c: &mut ExecCtx, a: &Args, lazy: bool) -> Result<(), CmdError> {
    let now = c.now_ms;
    let mut n = 0;
    for i in 1..a.len() {
        if let Some(e) = c.db().remove(a.get(i), now) {
            crate::shard::lazyfree::free_value(e.value, lazy);
            c.notify(notify::GENERIC, "del", a.get(i));
            n += 1;
        } else {
            // Not there: no WATCH, tracking or blocked client hears of it (Redis
            // signals the keys it deleted).
            c.unchanged_keys.push(i);
        }
    }
    c.dirty += n;
    c.out.int(n as i64);
    Ok(())
}

fn exists(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    // Every argument counts, duplicates included.
    let mut n = 0;
    for i in 1..a.len() {
        if read_notouch(c, a.get(i)).is_some() {
            n += 1;
        }
    }
    c.out.int(n);
    Ok(())
}

fn type_cmd(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let name = read_notouch(c, a.get(1)).map_or("none", |e| e.value.type_name());
    c.out.simple(name);
    Ok(())
}

fn touch(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let mut n = 0;
    for i in 1..a.len() {
        if db.get_touch(a.get(i), now).is_some() {
            stats.keyspace_hits += 1;
            n += 1;
        } else {
            stats.miss(a.get(i));
        }
    }
    out.int(n);
    Ok(())
}

// ---- EXPIRE family, TTL family, PERSIST ----------------------------------------------------

mod xopt {
    pub const NX: u8 = 1;
    pub const XX: u8 = 2;
    pub const GT: u8 = 4;
    pub const LT: u8 = 8;
}

/// The NX/XX/GT/LT options after the time (Redis's parseExtendedExpireArgumentsOrReply).
fn expire_flags(a: &Args) -> Result<u8, CmdError> {
    use xopt::*;
    let mut f = 0;
    for i in 3..a.len() {
        f |= match a.get(i) {
            o if o.eq_ignore_ascii_case(b"nx") => NX,
            o if o.eq_ignore_ascii_case(b"xx") => XX,
            o if o.eq_ignore_ascii_case(b"gt") => GT,
            o if o.eq_ignore_ascii_case(b"lt") => LT,
            _ => return Err(CmdError::msg(format!("ERR Unsupported option {}", a.str(i)))),
        };
    }
    if f & NX != 0 && f & (XX | GT | LT) != 0 {
        return Err(CmdError::msg("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if f & GT != 0 && f & LT != 0 {
        return Err(CmdError::msg("ERR GT and LT options at the same time are not compatible"));
    }
    Ok(f)
}

/// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT (Redis's expireGenericCommand). `relative`
/// adds the current time; `secs` multiplies by 1000 first.
fn expire_generic(c: &mut ExecCtx, a: &Args, relative: bool, secs: bool, cmd: &str) -> Result<(), CmdError> {
    use xopt::*;
    let flags = expire_flags(a)?;
    let invalid = || CmdError::InvalidExpire(cmd.to_string());
    let mut when = a.i64(2)?;
    if secs {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let now = c.now_ms;
    if relative {
        when = when.checked_add(now as i64).ok_or_else(invalid)?;
    }
    let key = a.get(1);
    let Some((_, expire_at)) = c.db().get_with_expire(key, now) else {
        c.out.int(0);
        return Ok(());
    };
    // Redis's "no TTL" is -1, which is below any new time: GT never passes against it
    // and LT always does.
    let current = if expire_at == 0 { None } else { Some(expire_at as i64) };
    let refused = (flags & NX != 0 && current.is_some())
        || (flags & XX != 0 && current.is_none())
        || (flags & GT != 0 && current.is_none_or(|cur| when <= cur))
        || (flags & LT != 0 && current.is_some_and(|cur| when >= cur));
    if refused {
        c.out.int(0);
        return Ok(());
    }
    if when <= now as i64 {
        // A time already past deletes the key (a DEL, not an expiry).
        c.db().remove(key, now);
        c.notify(notify::GENERIC, "del", key);
    } else {
        c.db().set_expire(key, when as u64, now);
        c.notify(notify::GENERIC, "expire", key);
    }
    c.dirty += 1;
    c.out.int(1);
    Ok(())
}

fn expire(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    expire_generic(c, a, true, true, "expire")
}

fn pexpire(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    expire_generic(c, a, true, false, "pexpire")
}

fn expireat(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    expire_generic(c, a, false, true, "expireat")
}

fn pexpireat(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    expire_generic(c, a, false, false, "pexpireat")
}

/// TTL, PTTL, EXPIRETIME and PEXPIRETIME (Redis's ttlGenericCommand): -2 for a missing
/// key, -1 without a TTL; seconds are rounded to the nearest.
fn ttl_generic(c: &mut ExecCtx, a: &Args, ms: bool, absolute: bool) -> Result<(), CmdError> {
    let now = c.now_ms as i64;
    let Some(expire_at) = read_notouch_with_expire(c, a.get(1)).map(|(_, at)| at as i64) else {
        c.out.int(-2);
        return Ok(());
    };
    if expire_at == 0 {
        c.out.int(-1);
        return Ok(());
    }
    let t = if absolute { expire_at } else { (expire_at - now).max(0) };
    // Widened: a PXAT near i64::MAX must round up to 9223372036854776 as in Redis,
    // not wrap to a negative number.
    c.out.int(if ms { t } else { ((t as i128 + 500) / 1000) as i64 });
    Ok(())
}

fn ttl(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    ttl_generic(c, a, false, false)
}

fn pttl(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    ttl_generic(c, a, true, false)
}

fn expiretime(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    ttl_generic(c, a, false, true)
}

fn pexpiretime(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    ttl_generic(c, a, true, true)
}

fn persist(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let key = a.get(1);
    let had_ttl = c.db().get_touch(key, now).is_some_and(|e| e.has_ttl());
    if had_ttl {
        c.db().set_expire(key, 0, now);
        c.notify(notify::GENERIC, "persist", key);
        c.dirty += 1;
    }
    c.out.int(i64::from(had_ttl));
    Ok(())
}

// ---- RENAME, RENAMENX, COPY, MOVE ----------------------------------------------------------

/// RENAME and RENAMENX (Redis's renameGenericCommand). The value moves with its TTL.
fn rename_generic(c: &mut ExecCtx, a: &Args, nx: bool) -> Result<(), CmdError> {
    let now = c.now_ms;
    let lazy = c.config.lazyfree_lazy_server_del;
    let (src, dst) = (a.get(1), a.get(2));
    let (db, out, _) = c.parts();
    if db.get_touch(src, now).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        if nx {
            out.int(0)
        } else {
            out.ok()
        }
        return Ok(());
    }
    if nx && db.contains(dst, now) {
        out.int(0);
        return Ok(());
    }
    let entry = db.remove(src, now).expect("looked up above");
    if let Some(old) = db.remove(dst, now) {
        crate::shard::lazyfree::free_value(old.value, lazy);
    }
    // As in Redis, the destination is deleted and then added, so it is `new` even
    // when it existed.
    db.set_entry(dst, entry);
    if nx {
        out.int(1)
    } else {
        out.ok()
    }
    c.notify(notify::GENERIC, "rename_from", src);
    c.notify(notify::GENERIC, "rename_to", dst);
    c.dirty += 1;
    Ok(())
}

fn rename(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    rename_generic(c, a, false)
}

fn renamenx(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    rename_generic(c, a, true)
}

/// COPY source destination [DB destination-db] [REPLACE].
fn copy(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let ndbs = c.dbs.len();
    let src_db = c.db;
    let mut dst_db = c.db;
    let mut replace = false;
    let mut j = 3;
    while j < a.len() {
        if a.is(j, "replace") {
            replace = true;
        } else if a.is(j, "db") && j + 1 < a.len() {
            dst_db = db_index(a, j + 1, ndbs)?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let (src, dst) = (a.get(1), a.get(2));
    if src_db == dst_db && src == dst {
        return Err(CmdError::msg("ERR source and destination objects are the same"));
    }
    let now = c.now_ms;
    let (value, expire_at) = {
        // lookupKeyRead: counts as a hit or miss and as an access.
        let (db, _, stats) = c.parts();
        match db.get_with_expire(src, now) {
            Some((e, expire_at)) => {
                stats.keyspace_hits += 1;
                let value = match &e.value {
                    // Redis's copy of a shared integer is an object of its own.
                    v @ Value::Str(s) if is_shared_integer(v, true) => Value::Str(s.unshared()),
                    v => v.clone(),
                };
                (value, expire_at)
            }
            None => {
                stats.miss(src);
                c.out.int(0);
                return Ok(());
            }
        }
    };
    let target = &mut c.dbs[dst_db];
    if target.contains(dst, now) {
        if !replace {
            c.out.int(0);
            return Ok(());
        }
        let old = target.remove(dst, now);
        crate::shard::lazyfree::server_del(old, c.config);
    }
    // The copy is a new object: its access time starts now.
    target.set_entry(dst, Entry::with_meta(value, expire_at, (now / 1000) as u32));
    c.notify_db(dst_db, notify::GENERIC, "copy_to", dst);
    c.dirty += 1;
    c.out.int(1);
    Ok(())
}

/// COPY's keys: the source in the current database and the destination in the one
/// named by the last `DB n` option.
fn copy_keys(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    let mut dst = db;
    let mut j = 3;
    while j < a.len() {
        if a.is(j, "db") && j + 1 < a.len() {
            if let Some(n) = db_arg(a, j + 1) {
                dst = n;
            }
            j += 1;
        }
        j += 1;
    }
    Ok(vec![(db, 1), (dst, 2)])
}

/// MOVE key db: the key leaves the current database for `db` on the same shard (the key
/// name decides the shard, so both databases are at hand).
fn move_cmd(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let dst_db = db_index(a, 2, c.dbs.len())?;
    if dst_db == c.db {
        return Err(CmdError::msg("ERR source and destination objects are the same"));
    }
    let now = c.now_ms;
    let key = a.get(1);
    if c.db().get_touch(key, now).is_none() || c.dbs[dst_db].contains(key, now) {
        c.out.int(0);
        return Ok(());
    }
    let entry = c.db().remove(key, now).expect("looked up above");
    c.dbs[dst_db].set_entry(key, entry);
    // Redis adds the key to the target before it reports anything: `new` goes first.
    c.flush_pending(dst_db);
    c.notify(notify::GENERIC, "move_from", key);
    c.notify_db(dst_db, notify::GENERIC, "move_to", key);
    c.dirty += 1;
    c.out.int(1);
    Ok(())
}

/// MOVE's keys: the key in the current database and, for locking, in the target one.
fn move_keys(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    let mut keys = vec![(db, 1)];
    if let Some(dst) = db_arg(a, 2).filter(|&d| d != db) {
        keys.push((dst, 1));
    }
    Ok(keys)
}

// ---- OBJECT, MEMORY -----------------------------------------------------------------------

const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// Redis shares the objects of the integers 0..9999 (refcount INT_MAX) unless an LRU or
/// LFU policy with a memory limit needs per-object access data; not a string edited in
/// place (`raw`), a float's text or COPY's copy, each an object of its own.
fn is_shared_integer(v: &Value, sharing: bool) -> bool {
    let Value::Str(s) = v else { return false };
    sharing
        && s.origin() == crate::storage::Origin::Whole
        && s.len() <= 20
        && num::parse_i64(s).is_some_and(|n| (0..10_000).contains(&n))
}

/// The encoding OBJECT ENCODING and DEBUG OBJECT report: Redis 7.0's name for the
/// same value. Small sets of strings are listpacks here (as in Redis 7.2), but 7.0
/// keeps them in a hashtable, and tools compare with 7.0. A string built in place
/// (APPEND, SETRANGE, SETBIT, PFADD, BITOP) is `raw` whatever its length, and
/// INCRBYFLOAT's result is never `int`, as in Redis.
pub fn reported_encoding(v: &Value) -> &'static str {
    use crate::storage::Origin;
    match v {
        Value::Set(s) if s.encoding_name() == "listpack" => "hashtable",
        Value::Str(s) => match s.origin() {
            Origin::InPlace => "raw",
            Origin::Float if s.len() <= 44 => "embstr",
            Origin::Float => "raw",
            Origin::Whole | Origin::Unshared => v.encoding_name(),
        },
        _ => v.encoding_name(),
    }
}

fn object(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    match sub.as_str() {
        "help" => {
            sub_arity(a, "object|help", 2)?;
            help_reply(&mut c.out, &a.str(0).to_ascii_uppercase(), OBJECT_HELP);
            return Ok(());
        }
        "encoding" | "refcount" | "idletime" | "freq" => sub_arity(a, &format!("object|{sub}"), 3)?,
        _ => return Err(unknown_subcommand(a)),
    }
    let policy = &c.config.maxmemory_policy;
    let lfu = policy.ends_with("-lfu");
    let sharing = c.config.maxmemory == 0 || !(policy.contains("lru") || policy.contains("lfu"));
    let now_secs = (c.now_ms / 1000) as u32;
    let Some((encoding, shared, access)) = read_notouch(c, a.get(2))
        .map(|e| (reported_encoding(&e.value), is_shared_integer(&e.value, sharing), e.access_secs))
    else {
        c.out.null();
        return Ok(());
    };
    match sub.as_str() {
        "encoding" => c.out.bulk(encoding.as_bytes()),
        "refcount" => c.out.int(if shared { i32::MAX as i64 } else { 1 }),
        "idletime" => {
            if lfu {
                return Err(CmdError::msg(
                    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when \
                     switching between policies at runtime LRU and LFU data will take some time to adjust.",
                ));
            }
            // 0 means no access was recorded since the value was stored.
            let access = if access == 0 { now_secs } else { access };
            c.out.int(now_secs.saturating_sub(access) as i64);
        }
        _ => {
            if !lfu {
                return Err(CmdError::msg(
                    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note \
                     that when switching between policies at runtime LRU and LFU data will take some time to \
                     adjust.",
                ));
            }
            let clock = c.dbs[c.db].access;
            c.out.int(clock.decayed(access) as i64);
        }
    }
    Ok(())
}

// ---- KEYS, SCAN, RANDOMKEY (fan-outs) -------------------------------------------------------

fn keys(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let db = c.sess.db as usize;
    let pattern = a.get(1).to_vec();
    let all = pattern == b"*";
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| {
            let now = st.now_ms;
            let found: Vec<Vec<u8>> = st.dbs[db]
                .live_keys(now)
                .filter(|k| all || glob_match(&pattern, k, false))
                .map(|k| k.to_vec())
                .collect();
            Box::new(found)
        }),
        lock_whole: false,
        finish: Box::new(|_, results, out| {
            let lists: Vec<Vec<Vec<u8>>> =
                results.into_iter().map(|(_, r)| *r.downcast::<Vec<Vec<u8>>>().expect("key list")).collect();
            out.array(lists.iter().map(Vec::len).sum());
            for k in lists.iter().flatten() {
                out.bulk(k);
            }
        }),
    }))
}

fn scan(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let filter = ScanArgs::parse(a)?;
    let (cursor, count) = (filter.cursor, filter.count);
    let n = c.st.nshards as u64;
    let shard = (cursor % n) as usize;
    let inner = cursor / n;
    let db = c.sess.db as usize;
    // Every shard from the cursor's on takes a step (the cursor's own from where it
    // stopped, the later ones from their start), so that a call can go on into the next
    // shards while it has returned fewer than COUNT keys: a small keyspace comes back
    // whole with cursor 0, as from Redis. COUNT stays a hint, as there.
    let hop = Arc::new(move |st: &mut crate::shard::ShardState| -> crate::shard::HopResult {
        if st.id < shard {
            return Box::new(None::<(u64, Vec<Vec<u8>>)>);
        }
        let now = st.now_ms;
        // The expired keys met that pass MATCH are deleted (Redis 7.0's SCAN expires
        // what its pattern lets through), their DEL and `expired` event going out
        // through `account_expired` below; a key a cross-shard transaction holds stays
        // until it is released.
        let locks = &st.locks;
        let held = locks.whole_holder().is_some();
        let d = &mut st.dbs[db];
        let step = d.scan_expiring(if st.id == shard { inner } else { 0 }, count, now, |k| {
            !held && !locks.key_held(db as u16, k) && filter.matches(k)
        });
        let keys: Vec<Vec<u8>> = step.keys.iter().filter(|k| filter.keeps(d, k)).map(|k| k.to_vec()).collect();
        st.account_expired();
        Box::new(Some((step.next, keys)))
    });
    Ok(ConnOutcome::FanOut(FanOut {
        hop,
        lock_whole: false,
        finish: Box::new(move |_, results, out| {
            let mut steps: Vec<(u16, ScanStep)> = results
                .into_iter()
                .filter_map(|(s, r)| r.downcast::<Option<ScanStep>>().expect("scan step").map(|x| (s, x)))
                .collect();
            steps.sort_by_key(|(s, _)| *s);
            let mut keys: Vec<Vec<u8>> = Vec::new();
            let mut next = 0;
            for (s, (next_inner, mut got)) in steps {
                keys.append(&mut got);
                if next_inner != 0 {
                    next = next_inner * n + s as u64;
                    break;
                }
                // This shard is done: go on into the next one, or let the next call.
                next = if (s as u64) + 1 < n { s as u64 + 1 } else { 0 };
                if keys.len() >= count {
                    break;
                }
            }
            out.array(2);
            out.bulk(next.to_string().as_bytes());
            out.array(keys.len());
            for k in &keys {
                out.bulk(k);
            }
        }),
    }))
}

/// A random number for the coordinator's pick among shards; std's `RandomState` is
/// seeded randomly per thread and differs per instance.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

fn randomkey(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    let db = c.sess.db as usize;
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| {
            let now = st.now_ms;
            let key = st.dbs[db].random_key(now).map(|k| k.to_vec());
            let len = st.dbs[db].len() as u64;
            st.account_expired();
            Box::new((len, key))
        }),
        lock_whole: false,
        finish: Box::new(|_, results, out| {
            // Each shard proposed one key; pick a shard with probability proportional to
            // its size, so every key is about equally likely.
            let picks: Vec<(u64, Vec<u8>)> = results
                .into_iter()
                .filter_map(|(_, r)| {
                    let (len, key) = *r.downcast::<(u64, Option<Vec<u8>>)>().expect("random key");
                    key.map(|k| (len.max(1), k))
                })
                .collect();
            let total: u64 = picks.iter().map(|(len, _)| len).sum();
            if total == 0 {
                out.null();
                return;
            }
            let mut r = random_u64() % total;
            for (len, key) in &picks {
                if r < *len {
                    out.bulk(key);
                    return;
                }
                r -= len;
            }
        }),
    }))
}

// ---- Table ---------------------------------------------------------------------------------

const fn keyed(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: KeySpec,
    f: super::table::KeyedFn,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys, handler: Handler::Keyed(f), group: "generic", summary, since }
}

const fn keyless(
    name: &'static str,
    arity: i32,
    flags: u32,
    f: super::table::ConnFn,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys: KeySpec::None, handler: Handler::Conn(f), group: "generic", summary, since }
}

const ONE: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };
const ALL: KeySpec = KeySpec::Range { first: 1, last: -1, step: 1 };
const TWO: KeySpec = KeySpec::Range { first: 1, last: 2, step: 1 };
/// OBJECT and MEMORY: the key follows the subcommand.
const SUB: KeySpec = KeySpec::Range { first: 2, last: 2, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    keyed("del", -2, WRITE, ALL, del, "Deletes one or more keys.", "1.0.0"),
    keyed("unlink", -2, WRITE | FAST, ALL, unlink, "Asynchronously deletes one or more keys.", "4.0.0"),
    keyed("exists", -2, READONLY | FAST, ALL, exists, "Determines whether one or more keys exist.", "1.0.0"),
    keyed("type", 2, READONLY | FAST, ONE, type_cmd, "Determines the type of value stored at a key.", "1.0.0"),
    keyed(
        "touch",
        -2,
        READONLY | FAST,
        ALL,
        touch,
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        "3.2.1",
    ),
    keyed("expire", -3, WRITE | FAST, ONE, expire, "Sets the expiration time of a key in seconds.", "1.0.0"),
    keyed("pexpire", -3, WRITE | FAST, ONE, pexpire, "Sets the expiration time of a key in milliseconds.", "2.6.0"),
    keyed(
        "expireat",
        -3,
        WRITE | FAST,
        ONE,
        expireat,
        "Sets the expiration time of a key to a Unix timestamp.",
        "1.2.0",
    ),
    keyed(
        "pexpireat",
        -3,
        WRITE | FAST,
        ONE,
        pexpireat,
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        "2.6.0",
    ),
    keyed("ttl", 2, READONLY | FAST, ONE, ttl, "Returns the expiration time in seconds of a key.", "1.0.0"),
    keyed("pttl", 2, READONLY | FAST, ONE, pttl, "Returns the expiration time in milliseconds of a key.", "2.6.0"),
    keyed(
        "expiretime",
        2,
        READONLY | FAST,
        ONE,
        expiretime,
        "Returns the expiration time of a key as a Unix timestamp.",
        "7.0.0",
    ),
    keyed(
        "pexpiretime",
        2,
        READONLY | FAST,
        ONE,
        pexpiretime,
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        "7.0.0",
    ),
    keyed("persist", 2, WRITE | FAST, ONE, persist, "Removes the expiration time of a key.", "2.2.0"),
    keyed("rename", 3, WRITE, TWO, rename, "Renames a key and overwrites the destination.", "1.0.0"),
    keyed(
        "renamenx",
        3,
        WRITE | FAST,
        TWO,
        renamenx,
        "Renames a key only when the target key name doesn't exist.",
        "1.0.0",
    ),
    keyed(
        "copy",
        -3,
        WRITE | DENYOOM,
        KeySpec::Custom { first: 1, last: 2, step: 1, find: copy_keys },
        copy,
        "Copies the value of a key to a new key.",
        "6.2.0",
    ),
    keyed(
        "move",
        3,
        WRITE | FAST,
        KeySpec::Custom { first: 1, last: 1, step: 1, find: move_keys },
        move_cmd,
        "Moves a key to another database.",
        "1.0.0",
    ),
    keyed("object", -2, READONLY, SUB, object, "A container for object introspection commands.", "2.2.3"),
    keyless("keys", 2, READONLY, keys, "Returns all key names that match a pattern.", "1.0.0"),
    keyless("scan", -2, READONLY, scan, "Iterates over the key names in the database.", "2.8.0"),
    keyless("randomkey", 1, READONLY, randomkey, "Returns a random key name from the database.", "1.0.0"),
];

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
