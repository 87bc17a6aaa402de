//! Sorted set commands: ZADD/ZINCRBY, removal, scores and ranks, the unified ZRANGE with
//! its legacy spellings and ZRANGESTORE, ZREMRANGEBY*, ZPOPMIN/ZPOPMAX/ZMPOP, the set
//! algebra (ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD), ZRANDMEMBER and
//! ZSCAN.
//!
//! Replies, error texts and edge cases follow Redis 7.0's `t_zset.c`: arguments are
//! validated in Redis's order (so the same bad request gets the same error), scores are
//! formatted by `util::num::write_double` (RESP3 doubles, RESP2 bulk strings), and in
//! RESP3 the WITHSCORES forms reply with `[member, score]` pairs. Storage, encodings and
//! conversions live in `storage::zset`; an emptied sorted set is deleted.
//!
//! Multi-key commands declare every key (numkeys forms through `KeySpec::Custom`), so
//! the generic coordinator runs them across shards on gathered copies; the handlers here
//! only ever see one keyspace.
//!
//! The blocking pops (BZPOPMIN, BZPOPMAX, BZMPOP) share their core, [`pop_first`], with
//! ZPOPMIN/ZMPOP; when nothing can be popped they set `ExecCtx::block` and
//! `cmd::blocking` parks the client and re-runs the command when a key is written.
//!
//! Read lookups count `keyspace_hits`/`keyspace_misses` (Redis's `lookupKeyRead`).
//!
//! Files: the pops in `zset_pop.rs`, the set algebra in `zset_setop.rs`, ZRANDMEMBER and
//! ZSCAN in `zset_scan.rs`, the unit tests in `zset_tests.rs`.

use super::blocking;
use super::ctx::ExecCtx;
use super::hash::{call_rng, distinct_indexes, parse_rand_count};
use super::scan_args::{ScanOpts, empty_scan, parse_cursor, parse_scan_opts, scan_match};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::config::notify;
use crate::resp::{Proto, ReplyWriter};
use crate::shard::ShardStats;
use crate::shard::block::{BlockReq, NoWaitReply};
use crate::storage::zset::{AddFlags, AddOutcome, LexRange, ScoreRange, ZSetValue};
use crate::storage::{Db, Value};
use crate::util::num;
use std::cmp::Ordering;

const NAN_ERR: &str = "ERR resulting score is not a number (NaN)";
const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

// ---- Value access -----------------------------------------------------------------------

/// Looks `key` up for reading (counting a hit or miss) and type-checks it.
fn read_zset<'d>(
    db: &'d mut Db,
    stats: &mut ShardStats,
    key: &[u8],
    now: u64,
) -> Result<Option<&'d ZSetValue>, CmdError> {
    match db.get_touch(key, now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            match &e.value {
                Value::ZSet(z) => Ok(Some(z)),
                _ => Err(CmdError::WrongType),
            }
        }
        None => {
            stats.miss(key);
            Ok(None)
        }
    }
}

/// The sorted set at `key` for writing, or None if absent; WRONGTYPE for other types.
fn zset_mut<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d mut ZSetValue>, CmdError> {
    match db.get_mut(key, now) {
        Some(e) => match &mut e.value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
        None => Ok(None),
    }
}

/// Deletes `key` if the sorted set there became empty (Redis keeps no empty aggregates).
/// Returns true if it did.
fn delete_if_empty(db: &mut Db, key: &[u8], now: u64) -> bool {
    if let Some(e) = db.get(key, now)
        && let Value::ZSet(z) = &e.value
        && z.is_empty()
    {
        db.remove(key, now);
        return true;
    }
    false
}

/// A removal's events: `event` if anything went, then `del` if the key went too.
fn notify_removed(c: &mut ExecCtx, key: &[u8], event: &'static str, removed: bool, deleted: bool) {
    if removed {
        c.notify_removed(notify::ZSET, event, key, deleted);
    }
}

/// Stores a computed result at `dst` (replacing any value and TTL) and replies with its
/// size; an empty result deletes `dst` instead and replies 0, as Redis's STORE forms do.
/// `event` is the command's keyspace event (`zunionstore` ...).
fn store_result(c: &mut ExecCtx, dst: &[u8], pairs: Vec<(Vec<u8>, f64)>, event: &'static str) {
    let now = c.now_ms;
    if pairs.is_empty() {
        if c.db().remove(dst, now).is_some() {
            c.notify(notify::GENERIC, "del", dst);
            c.dirty += 1;
        }
        c.out.int(0);
        return;
    }
    // ZRANGESTORE fills its destination one member at a time, in range order, as
    // Redis does; the set operations build theirs whole, then pick the encoding.
    let lim = &c.config.encoding;
    let z = if event == "zrangestore" {
        ZSetValue::filled_in_order(&pairs, lim)
    } else {
        ZSetValue::from_pairs(pairs, lim)
    };
    let n = z.len();
    c.db().set(dst, Value::ZSet(z), 0);
    c.notify(notify::ZSET, event, dst);
    c.dirty += 1;
    c.out.int(n as i64);
}

// ---- Replies ----------------------------------------------------------------------------

/// A list of members, with their scores when asked: RESP2 one flat array, RESP3 an array
/// of `[member, score]` pairs (Redis's zrange result handler).
fn reply_pairs<M: AsRef<[u8]>>(out: &mut ReplyWriter, items: &[(M, f64)], withscores: bool) {
    let resp3 = out.proto == Proto::Resp3;
    out.array(if withscores && !resp3 { items.len() * 2 } else { items.len() });
    for (m, s) in items {
        if withscores && resp3 {
            out.array(2);
        }
        out.bulk(m.as_ref());
        if withscores {
            out.double(*s);
        }
    }
}

/// Parses a score interval with Redis's error.
fn score_range(a: &Args, min: usize, max: usize) -> Result<ScoreRange, CmdError> {
    ScoreRange::parse(a.get(min), a.get(max)).ok_or_else(|| CmdError::msg(NOT_FLOAT_RANGE))
}

/// Parses a lex interval with Redis's error.
fn lex_range<'a>(a: &Args<'a>, min: usize, max: usize) -> Result<LexRange<'a>, CmdError> {
    LexRange::parse(a.get(min), a.get(max)).ok_or_else(|| CmdError::msg(NOT_LEX_RANGE))
}

/// Redis's `getPositiveLongFromObjectOrReply` with its default message, which it also
/// gives for a non-integer.
fn positive(a: &Args, i: usize, msg: &str) -> Result<i64, CmdError> {
    match num::parse_i64(a.get(i)) {
        Some(v) if v >= 0 => Ok(v),
        _ => Err(CmdError::msg(msg)),
    }
}

/// Normalises a rank interval (negative = from the end) as Redis does; None when empty.
fn rank_bounds(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize))
}

// ---- ZADD / ZINCRBY ---------------------------------------------------------------------

/// Redis's `zaddGenericCommand`: options, then every score parsed before anything
/// changes (the command applies fully or not at all), then the elements in order.
fn zadd_generic(c: &mut ExecCtx, a: &Args, incr_cmd: bool) -> Result<(), CmdError> {
    let mut f = AddFlags { incr: incr_cmd, ..AddFlags::default() };
    let mut ch = false;
    let mut idx = 2;
    while idx < a.len() {
        if a.is(idx, "nx") {
            f.nx = true;
        } else if a.is(idx, "xx") {
            f.xx = true;
        } else if a.is(idx, "ch") {
            ch = true;
        } else if a.is(idx, "incr") {
            f.incr = true;
        } else if a.is(idx, "gt") {
            f.gt = true;
        } else if a.is(idx, "lt") {
            f.lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = a.len() - idx;
    if elements % 2 == 1 || elements == 0 {
        return Err(CmdError::Syntax);
    }
    let elements = elements / 2;
    if f.nx && f.xx {
        return Err(CmdError::msg("ERR XX and NX options at the same time are not compatible"));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(CmdError::msg("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if f.incr && elements > 1 {
        return Err(CmdError::msg("ERR INCR option supports a single increment-element pair"));
    }
    let mut scores = Vec::with_capacity(elements);
    for j in 0..elements {
        scores.push(a.f64(idx + j * 2)?);
    }
    let now = c.now_ms;
    let key = a.get(1);
    let exists = zset_mut(c.db(), key, now)?.is_some();
    if !exists && f.xx {
        // Nothing can be added to a missing key under XX.
        if f.incr {
            c.out.null();
        } else {
            c.out.int(0);
        }
        return Ok(());
    }
    let cfg = c.config;
    let lim = &cfg.encoding;
    let db = c.db();
    if !exists {
        // Redis 7.0 decides on the first member alone (`zaddGenericCommand`).
        let first = a.get(idx + 1);
        db.insert_new(key, Value::ZSet(ZSetValue::with_hint(1, first.len(), lim)));
    }
    let z = zset_mut(db, key, now)?.expect("present");
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut nan = false;
    for (j, &score) in scores.iter().enumerate() {
        match z.add(a.get(idx + j * 2 + 1), score, f, lim) {
            Ok(AddOutcome::Added(s)) => {
                added += 1;
                processed += 1;
                last = s;
            }
            Ok(AddOutcome::Updated(s)) => {
                updated += 1;
                processed += 1;
                last = s;
            }
            Ok(AddOutcome::Same(s)) => {
                processed += 1;
                last = s;
            }
            Ok(AddOutcome::Nop) => {}
            Err(_) => {
                nan = true;
                break;
            }
        }
    }
    // A NaN can only come from INCR on an existing member, but never leave an empty
    // set behind whatever happened.
    delete_if_empty(db, key, now);
    if added + updated > 0 {
        c.notify(notify::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    c.dirty += (added + updated) as u64;
    if nan {
        return Err(CmdError::msg(NAN_ERR));
    }
    if f.incr {
        if processed > 0 {
            c.out.double(last);
        } else {
            c.out.null();
        }
    } else {
        c.out.int(if ch { added + updated } else { added });
    }
    Ok(())
}

fn zadd(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zadd_generic(c, a, false)
}

fn zincrby(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zadd_generic(c, a, true)
}

// ---- Removal, cardinality, scores, ranks --------------------------------------------------

fn zrem(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let key = a.get(1);
    let db = c.db();
    let Some(z) = zset_mut(db, key, now)? else {
        c.out.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    for i in 2..a.len() {
        if z.remove(a.get(i)).is_some() {
            deleted += 1;
            if z.is_empty() {
                break;
            }
        }
    }
    let gone = delete_if_empty(db, key, now);
    notify_removed(c, key, "zrem", deleted > 0, gone);
    c.dirty += deleted;
    c.out.int(deleted as i64);
    Ok(())
}

fn zcard(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let n = read_zset(db, stats, a.get(1), now)?.map_or(0, |z| z.len());
    out.int(n as i64);
    Ok(())
}

fn zcount(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let r = score_range(a, 2, 3)?;
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let n = read_zset(db, stats, a.get(1), now)?.map_or(0, |z| z.count_by_score(&r));
    out.int(n as i64);
    Ok(())
}

fn zlexcount(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let r = lex_range(a, 2, 3)?;
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let n = read_zset(db, stats, a.get(1), now)?.map_or(0, |z| z.count_by_lex(&r));
    out.int(n as i64);
    Ok(())
}

fn zscore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    match read_zset(db, stats, a.get(1), now)?.and_then(|z| z.score(a.get(2))) {
        Some(s) => out.double(s),
        None => out.null(),
    }
    Ok(())
}

fn zmscore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let z = read_zset(db, stats, a.get(1), now)?;
    out.array(a.len() - 2);
    for i in 2..a.len() {
        match z.and_then(|z| z.score(a.get(i))) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    }
    Ok(())
}

fn rank_generic(c: &mut ExecCtx, a: &Args, rev: bool) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    match read_zset(db, stats, a.get(1), now)?.and_then(|z| z.rank(a.get(2), rev)) {
        Some((r, _)) => out.int(r as i64),
        None => out.null(),
    }
    Ok(())
}

fn zrank(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    rank_generic(c, a, false)
}

fn zrevrank(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    rank_generic(c, a, true)
}

// ---- ZRANGE and friends -------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// A parsed range request.
enum RangeSpec<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// The entries a range request selects, in reply order.
fn select<'z>(z: &'z ZSetValue, spec: &RangeSpec, rev: bool, offset: i64, limit: i64) -> Vec<(&'z [u8], f64)> {
    // Redis skips `offset` entries one by one, so a negative offset skips everything
    // of a score or lex range. A rank range takes no LIMIT count, and an offset given
    // with `LIMIT off -1` is parsed and ignored, as in Redis.
    let skip = usize::try_from(offset).ok();
    let limit = if limit < 0 { usize::MAX } else { limit as usize };
    match spec {
        RangeSpec::Rank(start, end) => match rank_bounds(*start, *end, z.len()) {
            Some((s, e)) => z.range_by_rank(s, e, rev),
            None => Vec::new(),
        },
        RangeSpec::Score(r) => skip.map(|o| z.range_by_score(r, rev, o, limit)).unwrap_or_default(),
        RangeSpec::Lex(r) => skip.map(|o| z.range_by_lex(r, rev, o, limit)).unwrap_or_default(),
    }
}

/// Redis's `zrangeGenericCommand`: the source key is at `src`, a ZRANGESTORE
/// destination at `dst`; `rtype`/`dir` are fixed by the legacy commands and `Auto` for
/// ZRANGE and ZRANGESTORE, whose options choose them.
fn zrange_generic(
    c: &mut ExecCtx,
    a: &Args,
    src: usize,
    dst: Option<usize>,
    mut rtype: RangeType,
    mut dir: Direction,
) -> Result<(), CmdError> {
    let store = dst.is_some();
    let (mut minidx, mut maxidx) = (src + 1, src + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = src + 3;
    while j < a.len() {
        let left = a.len() - j - 1;
        if !store && a.is(j, "withscores") {
            withscores = true;
        } else if a.is(j, "limit") && left >= 2 {
            offset = a.i64(j + 1)?;
            limit = a.i64(j + 2)?;
            j += 2;
        } else if dir == Direction::Auto && a.is(j, "rev") {
            dir = Direction::Reverse;
        } else if rtype == RangeType::Auto && a.is(j, "bylex") {
            rtype = RangeType::Lex;
        } else if rtype == RangeType::Auto && a.is(j, "byscore") {
            rtype = RangeType::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if dir == Direction::Auto {
        dir = Direction::Forward;
    }
    if rtype == RangeType::Auto {
        rtype = RangeType::Rank;
    }
    // LIMIT given at all (Redis tests `opt_limit != -1`).
    if limit != -1 && rtype == RangeType::Rank {
        return Err(CmdError::msg(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && rtype == RangeType::Lex {
        return Err(CmdError::msg("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    let rev = dir == Direction::Reverse;
    if rev && rtype != RangeType::Rank {
        // Reversed score and lex ranges are written max first.
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let spec = match rtype {
        RangeType::Score => RangeSpec::Score(score_range(a, minidx, maxidx)?),
        RangeType::Lex => RangeSpec::Lex(lex_range(a, minidx, maxidx)?),
        _ => RangeSpec::Rank(a.i64(minidx)?, a.i64(maxidx)?),
    };
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let z = read_zset(db, stats, a.get(src), now)?;
    match dst {
        None => {
            let items = z.map(|z| select(z, &spec, rev, offset, limit)).unwrap_or_default();
            reply_pairs(out, &items, withscores);
        }
        Some(d) => {
            let items: Vec<(Vec<u8>, f64)> = z
                .map(|z| select(z, &spec, rev, offset, limit).into_iter().map(|(m, s)| (m.to_vec(), s)).collect())
                .unwrap_or_default();
            store_result(c, a.get(d), items, "zrangestore");
        }
    }
    Ok(())
}

fn zrange(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zrange_generic(c, a, 1, None, RangeType::Auto, Direction::Auto)
}

fn zrangestore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zrange_generic(c, a, 2, Some(1), RangeType::Auto, Direction::Auto)
}

fn zrevrange(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zrange_generic(c, a, 1, None, RangeType::Rank, Direction::Reverse)
}

fn zrangebyscore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zrange_generic(c, a, 1, None, RangeType::Score, Direction::Forward)
}

fn zrevrangebyscore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zrange_generic(c, a, 1, None, RangeType::Score, Direction::Reverse)
}

fn zrangebylex(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zrange_generic(c, a, 1, None, RangeType::Lex, Direction::Forward)
}

fn zrevrangebylex(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zrange_generic(c, a, 1, None, RangeType::Lex, Direction::Reverse)
}

// ---- ZREMRANGEBY* -------------------------------------------------------------------------

/// Redis's `zremrangeGenericCommand`: parse the range, then look the key up.
fn zremrange_generic(c: &mut ExecCtx, a: &Args, rtype: RangeType) -> Result<(), CmdError> {
    let spec = match rtype {
        RangeType::Score => RangeSpec::Score(score_range(a, 2, 3)?),
        RangeType::Lex => RangeSpec::Lex(lex_range(a, 2, 3)?),
        _ => RangeSpec::Rank(a.i64(2)?, a.i64(3)?),
    };
    let now = c.now_ms;
    let key = a.get(1);
    let db = c.db();
    let Some(z) = zset_mut(db, key, now)? else {
        c.out.int(0);
        return Ok(());
    };
    let removed = match &spec {
        RangeSpec::Rank(s, e) => match rank_bounds(*s, *e, z.len()) {
            Some((s, e)) => z.remove_range_by_rank(s, e),
            None => 0,
        },
        RangeSpec::Score(r) => z.remove_range_by_score(r),
        RangeSpec::Lex(r) => z.remove_range_by_lex(r),
    };
    let gone = delete_if_empty(db, key, now);
    let event = match rtype {
        RangeType::Score => "zremrangebyscore",
        RangeType::Lex => "zremrangebylex",
        _ => "zremrangebyrank",
    };
    notify_removed(c, key, event, removed > 0, gone);
    c.dirty += removed as u64;
    c.out.int(removed as i64);
    Ok(())
}

fn zremrangebyrank(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zremrange_generic(c, a, RangeType::Rank)
}

fn zremrangebyscore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zremrange_generic(c, a, RangeType::Score)
}

fn zremrangebylex(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zremrange_generic(c, a, RangeType::Lex)
}

// ---- Pops and blocking pops (their own file) --------------------------------------------------

#[path = "zset_pop.rs"]
mod pop;
pub use pop::{MPop, PopShape, parse_mpop, pop_first};
use pop::{bzmpop, bzpopmax, bzpopmin, zmpop, zpopmax, zpopmin};

// ---- ZUNION / ZINTER / ZDIFF (their own file) ------------------------------------------------

#[path = "zset_setop.rs"]
mod setop;
use setop::{zdiff, zdiffstore, zinter, zintercard, zinterstore, zunion, zunionstore};

// ---- ZRANDMEMBER / ZSCAN (their own file) -------------------------------------------------------

#[path = "zset_scan.rs"]
mod scan;
use scan::{zrandmember, zscan};

// ---- Key positions ----------------------------------------------------------------------------

/// The input keys of a numkeys form: `numkeys` at `nk_idx`, keys right after. A bad or
/// too large count yields the keys that are there (the handler reports the error).
/// Public for BZMPOP (`nk_idx` 2), whose spec lives with the blocking commands.
pub fn numkeys_keys(a: &Args, db: u16, nk_idx: usize, out: &mut Vec<(u16, usize)>) {
    if nk_idx >= a.len() {
        return;
    }
    let Some(n) = num::parse_i64(a.get(nk_idx)).filter(|&n| n > 0) else { return };
    let avail = a.len() - nk_idx - 1;
    let n = (n as u64).min(avail as u64) as usize;
    out.extend((nk_idx + 1..nk_idx + 1 + n).map(|i| (db, i)));
}

/// ZUNION/ZINTER/ZDIFF/ZINTERCARD/ZMPOP: `cmd numkeys key ...`.
fn keys_numkeys_at_1(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    let mut v = Vec::new();
    numkeys_keys(a, db, 1, &mut v);
    Ok(v)
}

/// BZMPOP: `bzmpop timeout numkeys key ...`.
fn keys_numkeys_at_2(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    let mut v = Vec::new();
    numkeys_keys(a, db, 2, &mut v);
    Ok(v)
}

/// The STORE forms: `cmd destination numkeys key ...`.
fn keys_store(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    let mut v = vec![(db, 1)];
    numkeys_keys(a, db, 2, &mut v);
    Ok(v)
}

// ---- Table ------------------------------------------------------------------------------------

const ONE_KEY: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };
const NUMKEYS: KeySpec = KeySpec::Custom { first: 0, last: 0, step: 0, find: keys_numkeys_at_1 };
const BZMPOP_KEYS: KeySpec = KeySpec::Custom { first: 0, last: 0, step: 0, find: keys_numkeys_at_2 };
const STORE_KEYS: KeySpec = KeySpec::Custom { first: 1, last: 1, step: 1, find: keys_store };

macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $h:ident, $summary:literal, $since:literal) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            handler: Handler::Keyed($h),
            group: "sorted-set",
            summary: $summary,
            since: $since,
        }
    };
}

use flag::{BLOCKING, DENYOOM, FAST, NOSCRIPT, READONLY, WRITE};

pub static COMMANDS: &[CommandSpec] = &[
    spec!(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        zadd,
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        "1.2.0"
    ),
    spec!(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        ONE_KEY,
        zincrby,
        "Increments the score of a member in a sorted set.",
        "1.2.0"
    ),
    spec!(
        "zrem",
        -3,
        WRITE | FAST,
        ONE_KEY,
        zrem,
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        "1.2.0"
    ),
    spec!("zcard", 2, READONLY | FAST, ONE_KEY, zcard, "Returns the number of members in a sorted set.", "1.2.0"),
    spec!(
        "zcount",
        4,
        READONLY | FAST,
        ONE_KEY,
        zcount,
        "Returns the count of members in a sorted set that have scores within a range.",
        "2.0.0"
    ),
    spec!(
        "zlexcount",
        4,
        READONLY | FAST,
        ONE_KEY,
        zlexcount,
        "Returns the number of members in a sorted set within a lexicographical range.",
        "2.8.9"
    ),
    spec!("zscore", 3, READONLY | FAST, ONE_KEY, zscore, "Returns the score of a member in a sorted set.", "1.2.0"),
    spec!(
        "zmscore",
        -3,
        READONLY | FAST,
        ONE_KEY,
        zmscore,
        "Returns the score of one or more members in a sorted set.",
        "6.2.0"
    ),
    spec!(
        "zrank",
        3,
        READONLY | FAST,
        ONE_KEY,
        zrank,
        "Returns the index of a member in a sorted set ordered by ascending scores.",
        "2.0.0"
    ),
    spec!(
        "zrevrank",
        3,
        READONLY | FAST,
        ONE_KEY,
        zrevrank,
        "Returns the index of a member in a sorted set ordered by descending scores.",
        "2.0.0"
    ),
    spec!(
        "zrange",
        -4,
        READONLY,
        ONE_KEY,
        zrange,
        "Returns members in a sorted set within a range of indexes.",
        "1.2.0"
    ),
    spec!(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        KeySpec::Range { first: 1, last: 2, step: 1 },
        zrangestore,
        "Stores a range of members from sorted set in a key.",
        "6.2.0"
    ),
    spec!(
        "zrevrange",
        -4,
        READONLY,
        ONE_KEY,
        zrevrange,
        "Returns members in a sorted set within a range of indexes in reverse order.",
        "1.2.0"
    ),
    spec!(
        "zrangebyscore",
        -4,
        READONLY,
        ONE_KEY,
        zrangebyscore,
        "Returns members in a sorted set within a range of scores.",
        "1.0.5"
    ),
    spec!(
        "zrevrangebyscore",
        -4,
        READONLY,
        ONE_KEY,
        zrevrangebyscore,
        "Returns members in a sorted set within a range of scores in reverse order.",
        "2.2.0"
    ),
    spec!(
        "zrangebylex",
        -4,
        READONLY,
        ONE_KEY,
        zrangebylex,
        "Returns members in a sorted set within a lexicographical range.",
        "2.8.9"
    ),
    spec!(
        "zrevrangebylex",
        -4,
        READONLY,
        ONE_KEY,
        zrevrangebylex,
        "Returns members in a sorted set within a lexicographical range in reverse order.",
        "2.8.9"
    ),
    spec!(
        "zremrangebyrank",
        4,
        WRITE,
        ONE_KEY,
        zremrangebyrank,
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        "2.0.0"
    ),
    spec!(
        "zremrangebyscore",
        4,
        WRITE,
        ONE_KEY,
        zremrangebyscore,
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        "1.2.0"
    ),
    spec!(
        "zremrangebylex",
        4,
        WRITE,
        ONE_KEY,
        zremrangebylex,
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        "2.8.9"
    ),
    spec!(
        "zpopmin",
        -2,
        WRITE | FAST,
        ONE_KEY,
        zpopmin,
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        "5.0.0"
    ),
    spec!(
        "zpopmax",
        -2,
        WRITE | FAST,
        ONE_KEY,
        zpopmax,
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        "5.0.0"
    ),
    spec!(
        "zmpop",
        -4,
        WRITE,
        NUMKEYS,
        zmpop,
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        "7.0.0"
    ),
    spec!(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | FAST | BLOCKING,
        KeySpec::Range { first: 1, last: -2, step: 1 },
        bzpopmin,
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "5.0.0"
    ),
    spec!(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | FAST | BLOCKING,
        KeySpec::Range { first: 1, last: -2, step: 1 },
        bzpopmax,
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "5.0.0"
    ),
    spec!(
        "bzmpop",
        -5,
        WRITE | BLOCKING,
        BZMPOP_KEYS,
        bzmpop,
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "7.0.0"
    ),
    spec!("zunion", -3, READONLY, NUMKEYS, zunion, "Returns the union of multiple sorted sets.", "6.2.0"),
    spec!("zinter", -3, READONLY, NUMKEYS, zinter, "Returns the intersect of multiple sorted sets.", "6.2.0"),
    spec!("zdiff", -3, READONLY, NUMKEYS, zdiff, "Returns the difference between multiple sorted sets.", "6.2.0"),
    spec!(
        "zintercard",
        -3,
        READONLY,
        NUMKEYS,
        zintercard,
        "Returns the number of members of the intersect of multiple sorted sets.",
        "7.0.0"
    ),
    spec!(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        STORE_KEYS,
        zunionstore,
        "Stores the union of multiple sorted sets in a key.",
        "2.0.0"
    ),
    spec!(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        STORE_KEYS,
        zinterstore,
        "Stores the intersect of multiple sorted sets in a key.",
        "2.0.0"
    ),
    spec!(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        STORE_KEYS,
        zdiffstore,
        "Stores the difference of multiple sorted sets in a key.",
        "6.2.0"
    ),
    spec!(
        "zrandmember",
        -2,
        READONLY,
        ONE_KEY,
        zrandmember,
        "Returns one or more random members from a sorted set.",
        "6.2.0"
    ),
    spec!("zscan", -3, READONLY, ONE_KEY, zscan, "Iterates over members and scores of a sorted set.", "2.8.0"),
];

#[cfg(test)]
#[path = "zset_tests.rs"]
mod tests;
