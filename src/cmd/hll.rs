//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST.
//!
//! A HyperLogLog is a `Value::Str` in Redis's own representation (see
//! `storage::hll`), so GET, DUMP and the persistence encoders see exactly the bytes
//! Redis would hold. Replies, errors and dirty counts follow Redis 7.0
//! (`hyperloglog.c`):
//! - a string that is not a HyperLogLog: `WRONGTYPE Key is not a valid HyperLogLog
//!   string value.`; a HyperLogLog whose sparse body is malformed: `INVALIDOBJ
//!   Corrupted HLL object detected`;
//! - PFADD counts one change per register raised (plus one for creating the key);
//! - PFCOUNT of one key refreshes the cached cardinality stored in the value when it
//!   is stale, which is a change (one), though the command is flagged read-only;
//!   PFCOUNT of several keys is the count of their union and changes nothing;
//! - PFMERGE counts one change.
//!
//! PFCOUNT and PFMERGE name all their keys, so keys on several shards run as one
//! cross-shard transaction like any other multi-key command.

use super::ctx::{ConnCtx, ConnOutcome, ExecCtx};
use super::string::{as_raw_str_mut, as_str};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::config::notify;
use crate::storage::{Value, hll};

fn not_hll() -> CmdError {
    CmdError::msg("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

fn corrupt(_: hll::Corrupt) -> CmdError {
    CmdError::msg("INVALIDOBJ Corrupted HLL object detected")
}

/// The HyperLogLog bytes of a value: WRONGTYPE for other types and for strings
/// without a valid header.
fn as_hll(v: &Value) -> Result<&[u8], CmdError> {
    let s = as_str(v)?;
    if hll::is_hll(s) { Ok(s) } else { Err(not_hll()) }
}

/// For writing: the value becomes `raw`, as Redis's HyperLogLogs are.
fn as_hll_mut(v: &mut Value) -> Result<&mut Vec<u8>, CmdError> {
    as_hll(v)?;
    as_raw_str_mut(v)
}

/// Merges the registers of every existing key among `keys` into `max`, looking each
/// up for reading. Returns whether any of them is dense.
fn merge_keys(c: &mut ExecCtx, a: &Args, keys: std::ops::Range<usize>, max: &mut [u8]) -> Result<bool, CmdError> {
    let now = c.now_ms;
    let (db, _, stats) = c.parts();
    let mut any_dense = false;
    for i in keys {
        let Some(e) = db.get(a.get(i), now) else {
            // A missing key is an empty HyperLogLog.
            stats.keyspace_misses += 1;
            continue;
        };
        stats.keyspace_hits += 1;
        let s = as_hll(&e.value)?;
        any_dense |= hll::is_dense(s);
        hll::merge_into(max, s).map_err(corrupt)?;
    }
    Ok(any_dense)
}

fn pfadd(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let sparse_max = c.config.hll_sparse_max_bytes;
    let key = a.get(1);
    let db = &mut c.dbs[c.db];
    let mut updated = 0u64;
    if db.get(key, now).is_none() {
        db.insert_new(key, Value::Str(hll::new_sparse().into()));
        updated += 1;
    }
    let e = db.get_mut(key, now).expect("the key is live: just looked up or created");
    let s = as_hll_mut(&mut e.value)?;
    for i in 2..a.len() {
        // On a corrupt value Redis replies at once, leaving the registers already
        // raised and counting no change.
        if hll::add(s, a.get(i), sparse_max).map_err(corrupt)? {
            updated += 1;
        }
    }
    if updated > 0 {
        hll::invalidate_cache(s);
        c.dirty += updated;
        c.notify(notify::STRING, "pfadd", a.get(1));
    }
    c.out.int((updated > 0) as i64);
    Ok(())
}

fn pfcount(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    if a.len() > 2 {
        let mut max = vec![0u8; hll::REGISTERS];
        merge_keys(c, a, 1..a.len(), &mut max)?;
        c.out.int(hll::count_registers(&max) as i64);
        return Ok(());
    }
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(e) = db.get_mut(a.get(1), now) else {
        stats.keyspace_misses += 1;
        out.int(0);
        return Ok(());
    };
    stats.keyspace_hits += 1;
    let s = as_hll_mut(&mut e.value)?;
    let (n, refreshed) = match hll::cached_count(s) {
        Some(n) => (n, false),
        None => {
            let n = hll::count(s).map_err(corrupt)?;
            hll::set_cached_count(s, n);
            (n, true)
        }
    };
    out.int(n as i64);
    // The cache is part of the value: refreshing it is a change to propagate.
    if refreshed {
        c.dirty += 1;
    }
    Ok(())
}

fn pfmerge(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    // The destination is a source too.
    let mut max = vec![0u8; hll::REGISTERS];
    let use_dense = merge_keys(c, a, 1..a.len(), &mut max)?;
    let now = c.now_ms;
    let sparse_max = c.config.hll_sparse_max_bytes;
    let dst = a.get(1);
    let db = &mut c.dbs[c.db];
    if db.get(dst, now).is_none() {
        db.insert_new(dst, Value::Str(hll::new_sparse().into()));
    }
    let e = db.get_mut(dst, now).expect("the key is live: just looked up or created");
    let s = as_hll_mut(&mut e.value)?;
    // A dense input makes the result dense at once, rather than growing a sparse value
    // register by register until it converts.
    if use_dense {
        hll::to_dense(s).map_err(corrupt)?;
    }
    // Register by register, in order, as Redis does: the sparse bytes depend on it.
    for (i, &m) in max.iter().enumerate() {
        if m != 0 {
            // The destination was validated while merging: this cannot fail.
            let _ = hll::set_register(s, i, m, sparse_max);
        }
    }
    hll::invalidate_cache(s);
    c.dirty += 1;
    c.notify(notify::STRING, "pfadd", dst);
    c.out.ok();
    Ok(())
}

fn pfdebug(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let db = &mut c.dbs[c.db];
    let Some(e) = db.get_mut(a.get(2), now) else {
        return Err(CmdError::msg("ERR The specified key does not exist"));
    };
    let s = as_hll_mut(&mut e.value)?;
    if a.is(1, "getreg") {
        let converted = hll::to_dense(s).map_err(corrupt)?;
        let regs = hll::registers(s).map_err(corrupt)?;
        c.out.array(regs.len());
        for r in regs {
            c.out.int(r as i64);
        }
        // Converting changes the value; Redis propagates it.
        c.dirty += converted as u64;
    } else if a.is(1, "decode") {
        if hll::is_dense(s) {
            return Err(CmdError::msg("ERR HLL encoding is not sparse"));
        }
        let text: Vec<String> = hll::sparse_ops(s)
            .into_iter()
            .map(|op| match op {
                hll::Op::Zero(n) => format!("z:{n}"),
                hll::Op::XZero(n) => format!("Z:{n}"),
                hll::Op::Val(v, n) => format!("v:{v},{n}"),
            })
            .collect();
        c.out.bulk(text.join(" ").as_bytes());
    } else if a.is(1, "encoding") {
        c.out.simple(if hll::is_dense(s) { "dense" } else { "sparse" });
    } else if a.is(1, "todense") {
        let converted = hll::to_dense(s).map_err(corrupt)?;
        c.dirty += converted as u64;
        c.out.int(converted as i64);
    } else {
        return Err(CmdError::msg(format!("ERR Unknown PFDEBUG subcommand '{}'", a.str(1))));
    }
    Ok(())
}

/// A self-check of the HyperLogLog code: the dense register packing, sparse/dense
/// agreement and the estimate's error on growing sets. Much shorter than Redis's
/// (which counts to ten million); the thorough versions are the unit tests.
fn pfselftest(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    let fail = |what: String| CmdError::msg(format!("ERR TESTFAILED {what}"));
    let mut dense = hll::new_sparse();
    hll::to_dense(&mut dense).map_err(|_| fail("conversion".into()))?;
    let mut want = vec![0u8; hll::REGISTERS];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..hll::REGISTERS * 4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (i, v) = ((x % hll::REGISTERS as u64) as usize, ((x >> 32) % 64) as u8);
        let _ = hll::set_register(&mut dense, i, v, 0);
        want[i] = want[i].max(v);
    }
    if hll::registers(&dense).ok().as_deref() != Some(&want[..]) {
        return Err(fail("Register error".into()));
    }
    let mut sparse = hll::new_sparse();
    let mut dense = hll::new_sparse();
    let _ = hll::to_dense(&mut dense);
    let mut checkpoint = 10u64;
    for n in 1..=100_000u64 {
        let ele = n.to_le_bytes();
        let _ = hll::add(&mut sparse, &ele, 3000);
        let _ = hll::add(&mut dense, &ele, 3000);
        if n == checkpoint {
            checkpoint *= 10;
            let (a, b) = (hll::count(&sparse), hll::count(&dense));
            let Ok(est) = a else { return Err(fail(format!("Corrupted HLL at {n}"))) };
            if a != b {
                return Err(fail(format!("Sparse and dense estimates differ at {n}")));
            }
            // Six standard errors (1.04/sqrt(16384) each), plus slack for tiny sets.
            let max_err = (n as f64 * 6.0 * 1.04 / 128.0).max(2.0);
            if (est as f64 - n as f64).abs() > max_err {
                return Err(fail(format!("Too big error. card:{n} abserr:{}", (est as f64 - n as f64).abs())));
            }
        }
    }
    c.out.ok();
    Ok(ConnOutcome::Done)
}

// ---- Table ------------------------------------------------------------------------------

const ALL_KEYS: KeySpec = KeySpec::Range { first: 1, last: -1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "pfadd",
        arity: -2,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: KeySpec::Range { first: 1, last: 1, step: 1 },
        handler: Handler::Keyed(pfadd),
        group: "hyperloglog",
        summary: "Adds the specified elements to the specified HyperLogLog.",
        since: "2.8.9",
    },
    CommandSpec {
        name: "pfcount",
        arity: -2,
        // Read-only as in Redis, although one key's cached cardinality may be
        // refreshed (and that change propagated): may-replicate, so a WRITE pause
        // holds it, as Redis's does.
        flags: flag::READONLY | flag::MAY_REPLICATE,
        keys: ALL_KEYS,
        handler: Handler::Keyed(pfcount),
        group: "hyperloglog",
        summary: "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        since: "2.8.9",
    },
    CommandSpec {
        name: "pfmerge",
        arity: -2,
        flags: flag::WRITE | flag::DENYOOM,
        keys: ALL_KEYS,
        handler: Handler::Keyed(pfmerge),
        group: "hyperloglog",
        summary: "Merge N different HyperLogLogs into a single one.",
        since: "2.8.9",
    },
    CommandSpec {
        name: "pfdebug",
        arity: 3,
        flags: flag::WRITE | flag::DENYOOM | flag::ADMIN,
        keys: KeySpec::Range { first: 2, last: 2, step: 1 },
        handler: Handler::Keyed(pfdebug),
        group: "hyperloglog",
        summary: "Internal commands for debugging HyperLogLog values",
        since: "2.8.9",
    },
    CommandSpec {
        name: "pfselftest",
        arity: 1,
        flags: flag::ADMIN,
        keys: KeySpec::None,
        handler: Handler::Conn(pfselftest),
        group: "hyperloglog",
        summary: "An internal command for testing HyperLogLog values",
        since: "2.8.9",
    },
];

#[cfg(test)]
#[path = "hll_tests.rs"]
mod tests;
