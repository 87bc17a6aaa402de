//! The sorted-set algebra: ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD
//! (Redis 7.0's `zunionInterDiffGenericCommand`: WEIGHTS, AGGREGATE, WITHSCORES, LIMIT,
//! the same argument checks in the same order). Sets are read as sorted sets or plain
//! sets (score 1), as in Redis.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// Redis's `zunionInterAggregate`: a sum of +inf and -inf is 0, not NaN.
#[inline]
fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// One input of the set algebra. Plain sets count as sorted sets whose scores are all 1.
#[derive(Clone, Copy)]
enum Source<'d> {
    Missing,
    Z(&'d ZSetValue),
    S(&'d crate::storage::set::SetValue),
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::Missing => 0,
            Source::Z(z) => z.len(),
            Source::S(s) => s.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Source::Missing => None,
            Source::Z(z) => z.score(m),
            Source::S(s) => s.contains(m).then_some(1.0),
        }
    }

    /// Every (member, score), in the source's own order.
    fn for_each(&self, mut f: impl FnMut(&[u8], f64) -> bool) {
        match self {
            Source::Missing => {}
            Source::Z(z) => {
                for (m, s) in z.iter() {
                    if !f(m, s) {
                        return;
                    }
                }
            }
            Source::S(s) => {
                for m in s.iter() {
                    if !m.with_bytes(|b| f(b, 1.0)) {
                        return;
                    }
                }
            }
        }
    }
}

/// The (score, member) order of a computed result.
fn by_score_then_member(a: &(Vec<u8>, f64), b: &(Vec<u8>, f64)) -> Ordering {
    a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal).then_with(|| a.0.cmp(&b.0))
}

/// Redis's `zunionInterDiffGenericCommand`. `dst` is the STORE destination's index,
/// `card_only` is ZINTERCARD.
fn setop_generic(
    c: &mut ExecCtx,
    a: &Args,
    dst: Option<usize>,
    nk_idx: usize,
    op: SetOp,
    card_only: bool,
) -> Result<(), CmdError> {
    let name = a.str(0).to_ascii_lowercase();
    let setnum = a.i64(nk_idx)?;
    if setnum < 1 {
        return Err(CmdError::msg(format!("ERR at least 1 input key is needed for '{name}' command")));
    }
    if setnum as u64 > (a.len() - nk_idx - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    let setnum = setnum as usize;
    let first = nk_idx + 1;
    let now = c.now_ms;
    // Pass 1: expire and type-check every input (Redis does this before reading the
    // options); reads without a destination count hits and misses.
    {
        let (db, _, stats) = c.parts();
        for i in first..first + setnum {
            let e = if dst.is_some() { db.get(a.get(i), now) } else { db.get_touch(a.get(i), now).map(|e| &*e) };
            match e {
                // Plain sets are valid inputs with every score 1.
                Some(e) if matches!(e.value, Value::ZSet(_) | Value::Set(_)) => {
                    if dst.is_none() {
                        stats.keyspace_hits += 1;
                    }
                }
                Some(_) => return Err(CmdError::WrongType),
                None => {
                    if dst.is_none() {
                        stats.miss(a.get(i));
                    }
                }
            }
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut agg = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = first + setnum;
    while j < a.len() {
        let remaining = a.len() - j;
        if op != SetOp::Diff && !card_only && remaining > setnum && a.is(j, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                *w = num::parse_f64(a.get(j)).ok_or_else(|| CmdError::msg("ERR weight value is not a float"))?;
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && a.is(j, "aggregate") {
            agg = if a.is(j + 1, "sum") {
                Aggregate::Sum
            } else if a.is(j + 1, "min") {
                Aggregate::Min
            } else if a.is(j + 1, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if dst.is_none() && !card_only && a.is(j, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && a.is(j, "limit") {
            limit = positive(a, j + 1, "ERR LIMIT can't be negative")? as usize;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    // Pass 2: read. Everything below only borrows the keyspace.
    let db: &Db = c.db();
    let mut srcs: Vec<(Source, f64)> = (0..setnum)
        .map(|i| {
            let src = match db.peek(a.get(first + i)).map(|e| &e.value) {
                Some(Value::ZSet(z)) => Source::Z(z),
                Some(Value::Set(s)) => Source::S(s),
                _ => Source::Missing,
            };
            (src, weights[i])
        })
        .collect();
    if op != SetOp::Diff {
        // Smallest first, as Redis orders them: the intersection walks the smallest.
        srcs.sort_by_key(|(s, _)| s.len());
    }
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut card = 0usize;
    match op {
        SetOp::Inter => {
            if srcs[0].0.len() > 0 {
                let (first_src, w0) = srcs[0];
                first_src.for_each(|m, s| {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for (src, w) in &srcs[1..] {
                        match src.score(m) {
                            Some(v) => aggregate(&mut score, v * w, agg),
                            None => return true,
                        }
                    }
                    if card_only {
                        card += 1;
                        return limit == 0 || card < limit;
                    }
                    result.push((m.to_vec(), score));
                    true
                });
            }
        }
        SetOp::Union => {
            let mut acc: indexmap::IndexMap<Vec<u8>, f64, foldhash::fast::RandomState> = indexmap::IndexMap::default();
            for (src, w) in &srcs {
                src.for_each(|m, s| {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(m.to_vec(), score);
                        }
                    }
                    true
                });
            }
            result = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let (base, _) = srcs[0];
            base.for_each(|m, s| {
                if srcs[1..].iter().all(|(o, _)| o.score(m).is_none()) {
                    result.push((m.to_vec(), s));
                }
                true
            });
        }
    }
    if card_only {
        c.out.int(card as i64);
        return Ok(());
    }
    match dst {
        Some(d) => {
            let event = match op {
                SetOp::Union => "zunionstore",
                SetOp::Inter => "zinterstore",
                SetOp::Diff => "zdiffstore",
            };
            store_result(c, a.get(d), result, event)
        }
        None => {
            result.sort_by(by_score_then_member);
            reply_pairs(&mut c.out, &result, withscores);
        }
    }
    Ok(())
}

pub(super) fn zunion(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    setop_generic(c, a, None, 1, SetOp::Union, false)
}

pub(super) fn zinter(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    setop_generic(c, a, None, 1, SetOp::Inter, false)
}

pub(super) fn zdiff(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    setop_generic(c, a, None, 1, SetOp::Diff, false)
}

pub(super) fn zunionstore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    setop_generic(c, a, Some(1), 2, SetOp::Union, false)
}

pub(super) fn zinterstore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    setop_generic(c, a, Some(1), 2, SetOp::Inter, false)
}

pub(super) fn zdiffstore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    setop_generic(c, a, Some(1), 2, SetOp::Diff, false)
}

pub(super) fn zintercard(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    setop_generic(c, a, None, 1, SetOp::Inter, true)
}
