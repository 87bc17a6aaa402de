//! LCS: the longest common subsequence of two string keys (plain, LEN, IDX with
//! MINMATCHLEN and WITHMATCHLEN), with Redis 7.0's replies and errors (`t_string.c`).

use super::as_str;
use crate::cmd::ctx::ExecCtx;
use crate::cmd::{Args, CmdError};

/// One matching range of LCS IDX: (start, end) in each string, inclusive.
struct LcsRange {
    a: (u32, u32),
    b: (u32, u32),
}

pub(super) fn lcs(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let not_strings = || CmdError::msg("ERR The specified keys must contain string values");
    let (k1, k2) = (a.get(1), a.get(2));
    // Look both keys up as reads (expiring, counting, type-checking); the values are
    // then borrowed without copying.
    let mut strings = true;
    for k in [k1, k2] {
        let (db, _, stats) = c.parts();
        match db.get(k, now) {
            Some(e) => {
                stats.keyspace_hits += 1;
                strings &= as_str(&e.value).is_ok();
            }
            None => stats.miss(k),
        }
    }
    if !strings {
        return Err(not_strings());
    }
    let (mut getlen, mut getidx, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: u64 = 0;
    let mut j = 3;
    while j < a.len() {
        if a.is(j, "IDX") {
            getidx = true;
        } else if a.is(j, "LEN") {
            getlen = true;
        } else if a.is(j, "WITHMATCHLEN") {
            withmatchlen = true;
        } else if a.is(j, "MINMATCHLEN") && j + 1 < a.len() {
            minmatchlen = a.i64(j + 1)?.max(0) as u64;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if getidx && getlen {
        return Err(CmdError::msg("ERR If you want both the length and indexes, please just use IDX."));
    }
    let db = &c.dbs[c.db];
    let value = |k: &[u8]| db.peek(k).map_or(Ok(&[][..]), |e| as_str(&e.value));
    let (sa, sb) = (value(k1)?, value(k2)?);
    if sa.len() >= u32::MAX as usize - 1 || sb.len() >= u32::MAX as usize - 1 {
        return Err(CmdError::msg("ERR String too long for LCS"));
    }
    let (alen, blen) = (sa.len(), sb.len());
    // The dynamic-programming table: lcs[i*(blen+1)+j] = LCS length of a[..i], b[..j].
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells.saturating_mul(4) > c.config.proto_max_bulk_len {
        return Err(CmdError::msg("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(CmdError::msg("ERR Insufficient memory, failed allocating transient memory for LCS"));
    }
    table.resize(cells as usize, 0);
    let w = blen + 1;
    for i in 1..=alen {
        for k in 1..=blen {
            table[i * w + k] = if sa[i - 1] == sb[k - 1] {
                table[(i - 1) * w + k - 1] + 1
            } else {
                table[(i - 1) * w + k].max(table[i * w + k - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    if getlen {
        c.out.int(total as i64);
        return Ok(());
    }
    // Walk back from the end, collecting the LCS bytes and (for IDX) the ranges in
    // the order Redis emits them: from the end of the strings towards the start.
    let mut result = vec![0u8; total as usize];
    let mut ranges: Vec<LcsRange> = Vec::new();
    let unset = alen as u32;
    let (mut ast, mut aend, mut bst, mut bend) = (unset, 0u32, 0u32, 0u32);
    let (mut i, mut k, mut idx) = (alen, blen, total as usize);
    while i > 0 && k > 0 {
        let mut emit = false;
        if sa[i - 1] == sb[k - 1] {
            result[idx - 1] = sa[i - 1];
            if ast == unset {
                ast = (i - 1) as u32;
                aend = ast;
                bst = (k - 1) as u32;
                bend = bst;
            } else if ast == i as u32 && bst == k as u32 {
                // Contiguous with the current range: extend it backwards.
                ast -= 1;
                bst -= 1;
            } else {
                emit = true;
            }
            // A range touching the start of either string is complete.
            if ast == 0 || bst == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            k -= 1;
        } else {
            if table[(i - 1) * w + k] > table[i * w + k - 1] {
                i -= 1;
            } else {
                k -= 1;
            }
            if ast != unset {
                emit = true;
            }
        }
        if emit {
            let match_len = aend - ast + 1;
            if getidx && (minmatchlen == 0 || match_len as u64 >= minmatchlen) {
                ranges.push(LcsRange { a: (ast, aend), b: (bst, bend) });
            }
            ast = unset;
        }
    }
    if !getidx {
        c.out.bulk(&result);
        return Ok(());
    }
    let out = &mut c.out;
    out.map(2);
    out.bulk(b"matches");
    out.array(ranges.len());
    for r in &ranges {
        out.array(2 + withmatchlen as usize);
        out.array(2);
        out.int(r.a.0 as i64);
        out.int(r.a.1 as i64);
        out.array(2);
        out.int(r.b.0 as i64);
        out.int(r.b.1 as i64);
        if withmatchlen {
            out.int((r.a.1 - r.a.0 + 1) as i64);
        }
    }
    out.bulk(b"len");
    out.int(total as i64);
    Ok(())
}
