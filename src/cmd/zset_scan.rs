//! ZRANDMEMBER and ZSCAN: a sorted set's members read without a range or rank.

use super::*;

/// Redis's `zrandmemberCommand`: without a count one random member (or null); with a
/// positive count distinct members, with a negative one `-count` independent picks.
pub(super) fn zrandmember(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let mut count = None;
    let mut withscores = false;
    if a.len() >= 3 {
        let l = parse_rand_count(a, 2)?;
        if a.len() > 4 || (a.len() == 4 && !a.is(3, "withscores")) {
            return Err(CmdError::Syntax);
        }
        if a.len() == 4 {
            withscores = true;
            if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
                return Err(CmdError::msg("ERR value is out of range"));
            }
        }
        count = Some(l);
    }
    let mut rng = call_rng(now);
    let (db, out, stats) = c.parts();
    let z = read_zset(db, stats, a.get(1), now)?;
    let Some(l) = count else {
        match z {
            Some(z) => out.bulk(z.pick(rng.below(z.len())).expect("index in range").0),
            None => out.null(),
        }
        return Ok(());
    };
    let Some(z) = z else {
        out.array(0);
        return Ok(());
    };
    let size = z.len();
    if l == 0 {
        out.array(0);
        return Ok(());
    }
    let resp3 = out.proto == Proto::Resp3;
    fn write_one(out: &mut ReplyWriter, (m, s): (&[u8], f64), withscores: bool) {
        if withscores && out.proto == Proto::Resp3 {
            out.array(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    }
    let uniq = l > 0;
    let count = l.unsigned_abs() as usize;
    if !uniq || count == 1 {
        // Independent picks: repeats allowed, any order.
        out.array(if withscores && !resp3 { count * 2 } else { count });
        for _ in 0..count {
            write_one(out, z.pick(rng.below(size)).expect("index in range"), withscores);
        }
        return Ok(());
    }
    if count >= size {
        // The whole set, in order.
        let items = z.range_by_rank(0, size - 1, false);
        reply_pairs(out, &items, withscores);
        return Ok(());
    }
    let idx = distinct_indexes(&mut rng, size, count);
    out.array(if withscores && !resp3 { count * 2 } else { count });
    for i in idx {
        write_one(out, z.pick(i).expect("index in range"), withscores);
    }
    Ok(())
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: Redis parses the cursor, then looks
/// the key up, then reads the options.
pub(super) fn zscan(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let cursor = parse_cursor(a.get(2))?;
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    let Some(z) = read_zset(db, stats, a.get(1), now)? else {
        empty_scan(out);
        return Ok(());
    };
    let ScanOpts { count, pattern, .. } = parse_scan_opts(a, 3, false)?;
    let (next, items) = z.scan(cursor, count);
    let items: Vec<(&[u8], f64)> = items.into_iter().filter(|(m, _)| scan_match(pattern, m)).collect();
    out.array(2);
    let mut cur = Vec::new();
    num::write_u64(&mut cur, next);
    out.bulk(&cur);
    out.array(items.len() * 2);
    let mut buf = Vec::new();
    for (m, s) in items {
        out.bulk(m);
        // Scores travel as strings in both protocols, as Redis's scan does.
        buf.clear();
        num::write_double(&mut buf, s);
        out.bulk(&buf);
    }
    Ok(())
}
