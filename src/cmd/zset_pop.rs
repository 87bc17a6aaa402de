//! The sorted-set pops: ZPOPMIN, ZPOPMAX and ZMPOP, and their blocking forms BZPOPMIN,
//! BZPOPMAX and BZMPOP (which park the client when no key holds a member). Each signals
//! only the key it popped from (`ExecCtx::only_changed_key`).

use super::*;

// ---- Pops -----------------------------------------------------------------------------------

/// How a pop reply is laid out (Redis's `emitkey` / `use_nested_array` pair in
/// `genericZpopCommand`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PopShape {
    /// `[member, score, member, score ...]`: ZPOPMIN/ZPOPMAX in RESP2, and without a
    /// count in RESP3.
    Flat,
    /// `[[member, score] ...]`: ZPOPMIN/ZPOPMAX with a count in RESP3.
    Nested,
    /// `[key, member, score]`: BZPOPMIN/BZPOPMAX.
    KeyFlat,
    /// `[key, [[member, score] ...]]`: ZMPOP/BZMPOP.
    KeyNested,
}

/// Pops up to `count` entries from the lowest (or, with `max`, highest) scores of the
/// first of `keys` that exists, writes the reply in `shape`, deletes the key if it
/// became empty, counts `dirty`, and returns the position in `keys` of the key it
/// popped from (the one key it changed).
///
/// Returns `Ok(None)` without writing anything when none of `keys` exists: the caller
/// replies with its own empty answer (ZPOPMIN an empty array, ZMPOP a null array) or,
/// for the blocking forms, parks the client. A key of another type met before any
/// sorted set is WRONGTYPE, as in Redis (which also walks the keys in order). A `count`
/// of 0 on an existing key replies an empty array.
///
/// The blocking layer calls it from a keyed handler running on the shard (or scratch
/// keyspace) that owns the keys: BZPOPMIN/BZPOPMAX with `count` 1 and
/// [`PopShape::KeyFlat`]; BZMPOP with the count from [`parse_mpop`] (`numkeys_idx` 2)
/// and [`PopShape::KeyNested`].
pub fn pop_first(
    c: &mut ExecCtx,
    keys: &[&[u8]],
    max: bool,
    count: usize,
    shape: PopShape,
) -> Result<Option<usize>, CmdError> {
    let now = c.now_ms;
    let mut found = None;
    for (i, k) in keys.iter().enumerate() {
        if zset_mut(c.db(), k, now)?.is_some() {
            found = Some(i);
            break;
        }
    }
    let Some(at) = found else { return Ok(None) };
    let key = keys[at];
    if count == 0 {
        c.out.array(0);
        return Ok(Some(at));
    }
    let (db, out, _) = c.parts();
    let z = zset_mut(db, key, now)?.expect("found above");
    let popped = z.pop(count, max);
    let gone = delete_if_empty(db, key, now);
    let n = popped.len();
    match shape {
        PopShape::Flat => out.array(n * 2),
        PopShape::Nested => out.array(n),
        PopShape::KeyFlat => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        PopShape::KeyNested => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    // Whichever form popped (blocking or not, which key of many), replay pops the
    // same key the same number of times, as Redis 7 propagates.
    let count = crate::persist::emit::int(n as i64);
    c.prop.push(&[if max { b"ZPOPMAX" } else { b"ZPOPMIN" }, key, &count]);
    let out = &mut c.out;
    let nested = matches!(shape, PopShape::Nested | PopShape::KeyNested);
    for (m, s) in &popped {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        out.double(*s);
    }
    notify_removed(c, key, if max { "zpopmax" } else { "zpopmin" }, n > 0, gone);
    c.dirty += n as u64;
    Ok(Some(at))
}

pub(super) fn zpop_generic(c: &mut ExecCtx, a: &Args, max: bool) -> Result<(), CmdError> {
    if a.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = if a.len() == 3 { Some(positive(a, 2, "ERR value is out of range, must be positive")?) } else { None };
    let shape = if c.out.proto == Proto::Resp3 && count.is_some() { PopShape::Nested } else { PopShape::Flat };
    if pop_first(c, &[a.get(1)], max, count.unwrap_or(1) as usize, shape)?.is_none() {
        c.out.array(0);
    }
    Ok(())
}

pub(super) fn zpopmin(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zpop_generic(c, a, false)
}

pub(super) fn zpopmax(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    zpop_generic(c, a, true)
}

/// Parsed `numkeys key [key ...] MIN|MAX [COUNT count]` of ZMPOP and BZMPOP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MPop {
    /// Argument index of the first key.
    pub first_key: usize,
    pub numkeys: usize,
    pub max: bool,
    pub count: usize,
}

/// Parses ZMPOP's arguments from `numkeys_idx` on (1 for ZMPOP, 2 for BZMPOP, after its
/// timeout) with Redis's `zmpopGenericCommand` errors.
pub fn parse_mpop(a: &Args, numkeys_idx: usize) -> Result<MPop, CmdError> {
    let numkeys = match num::parse_i64(a.get(numkeys_idx)) {
        Some(n) if n >= 1 => n as usize,
        _ => return Err(CmdError::msg("ERR numkeys should be greater than 0")),
    };
    let where_idx = numkeys_idx.checked_add(numkeys).and_then(|i| i.checked_add(1)).filter(|&i| i < a.len());
    let Some(where_idx) = where_idx else { return Err(CmdError::Syntax) };
    let max = if a.is(where_idx, "min") {
        false
    } else if a.is(where_idx, "max") {
        true
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < a.len() {
        if count.is_none() && a.is(j, "count") && j + 1 < a.len() {
            j += 1;
            match num::parse_i64(a.get(j)) {
                Some(n) if n >= 1 => count = Some(n as usize),
                _ => return Err(CmdError::msg("ERR count should be greater than 0")),
            }
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(MPop { first_key: numkeys_idx + 1, numkeys, max, count: count.unwrap_or(1) })
}

pub(super) fn zmpop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let p = parse_mpop(a, 1)?;
    let keys: Vec<&[u8]> = (p.first_key..p.first_key + p.numkeys).map(|i| a.get(i)).collect();
    match pop_first(c, &keys, p.max, p.count, PopShape::KeyNested)? {
        Some(at) => c.only_changed_key = Some(p.first_key + at),
        None => c.out.null_array(),
    }
    Ok(())
}

// ---- Blocking pops ---------------------------------------------------------------------------
// When nothing can be popped these set `c.block` instead of replying; `cmd::blocking`
// parks the request and re-runs it when a write touches one of the keys (a timeout
// answers a null array, as Redis does for BLOCKED_ZSET).

pub(super) fn wait_on(keys: Vec<Vec<u8>>, deadline_ms: u64) -> BlockReq {
    BlockReq {
        keys,
        deadline_ms,
        no_wait_reply: NoWaitReply::NullArray,
        ready_type: "zset",
        fallback: None,
        rerun: None,
    }
}

/// Redis's `blockingGenericZpopCommand` for BZPOPMIN/BZPOPMAX: the timeout is checked
/// first, then the keys in order like ZPOPMIN on the first that exists.
pub(super) fn bzpop(c: &mut ExecCtx, a: &Args, max: bool) -> Result<(), CmdError> {
    let deadline = blocking::deadline(a.get(a.len() - 1), c.now_ms)?;
    let keys: Vec<&[u8]> = (1..a.len() - 1).map(|i| a.get(i)).collect();
    match pop_first(c, &keys, max, 1, PopShape::KeyFlat)? {
        Some(at) => c.only_changed_key = Some(1 + at),
        None => c.block = Some(wait_on(keys.iter().map(|k| k.to_vec()).collect(), deadline)),
    }
    Ok(())
}

pub(super) fn bzpopmin(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    bzpop(c, a, false)
}

pub(super) fn bzpopmax(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    bzpop(c, a, true)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
pub(super) fn bzmpop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    // The timeout is read last, after the rest, as Redis reads it.
    let p = parse_mpop(a, 2)?;
    let deadline = blocking::deadline(a.get(1), c.now_ms)?;
    let keys: Vec<&[u8]> = (p.first_key..p.first_key + p.numkeys).map(|i| a.get(i)).collect();
    match pop_first(c, &keys, p.max, p.count, PopShape::KeyNested)? {
        Some(at) => c.only_changed_key = Some(p.first_key + at),
        None => c.block = Some(wait_on(keys.iter().map(|k| k.to_vec()).collect(), deadline)),
    }
    Ok(())
}
