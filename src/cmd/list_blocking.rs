//! The blocking list pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH and BLMPOP. When nothing
//! can be popped they set `c.block` instead of replying; `cmd::blocking` parks the
//! request and re-runs it when a write touches one of the keys. The cores are the
//! non-blocking ones of `cmd::list`.

use super::*;

fn wait_on(keys: Vec<Vec<u8>>, deadline_ms: u64, no_wait_reply: NoWaitReply, fallback: Option<OwnedArgs>) -> BlockReq {
    BlockReq { keys, deadline_ms, no_wait_reply, ready_type: "list", fallback, rerun: None }
}

fn bpop(c: &mut ExecCtx, a: &Args, side: Side) -> Result<(), CmdError> {
    let deadline = blocking::deadline(a.get(a.len() - 1), c.now_ms)?;
    let keys = (1..a.len() - 1).map(|i| a.get(i));
    match pop_first_nonempty(c, keys, side, 1)? {
        Some((i, vals)) => {
            c.dirty += 1;
            c.only_changed_key = Some(1 + i);
            reply_key_value(&mut c.out, a.get(1 + i), &vals[0]);
            // Propagated as the non-blocking pop of the key served, as in Redis.
            c.prop.push(&[if side == Side::Left { b"LPOP" } else { b"RPOP" }, a.get(1 + i)]);
        }
        None => {
            let keys = (1..a.len() - 1).map(|i| a.get(i).to_vec()).collect();
            c.block = Some(wait_on(keys, deadline, NoWaitReply::NullArray, None));
        }
    }
    Ok(())
}

pub(super) fn blpop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    bpop(c, a, Side::Left)
}

pub(super) fn brpop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    bpop(c, a, Side::Right)
}

fn side_word(s: Side) -> &'static [u8] {
    match s {
        Side::Left => b"LEFT",
        Side::Right => b"RIGHT",
    }
}

/// BLMOVE and BRPOPLPUSH: `fallback` is their non-blocking twin, run as a cross-shard
/// transaction when the source gets data on another shard than the destination.
fn bmove(
    c: &mut ExecCtx,
    a: &Args,
    from: Side,
    to: Side,
    timeout_arg: usize,
    fallback: OwnedArgs,
) -> Result<(), CmdError> {
    let deadline = blocking::deadline(a.get(timeout_arg), c.now_ms)?;
    match move_for_blocking(c, a.get(1), a.get(2), from, to)? {
        Some(v) => {
            c.dirty += 1;
            c.out.bulk(&v);
            // Propagated as its non-blocking twin, as in Redis.
            c.prop.push_owned(fallback);
        }
        None => c.block = Some(wait_on(vec![a.get(1).to_vec()], deadline, NoWaitReply::NullBulk, Some(fallback))),
    }
    Ok(())
}

pub(super) fn blmove(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let from = Side::parse(a.get(3))?;
    let to = Side::parse(a.get(4))?;
    let fb = blocking::owned(&[b"lmove", a.get(1), a.get(2), side_word(from), side_word(to)]);
    bmove(c, a, from, to, 5, fb)
}

pub(super) fn brpoplpush(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let fb = blocking::owned(&[b"rpoplpush", a.get(1), a.get(2)]);
    bmove(c, a, Side::Right, Side::Left, 3, fb)
}

pub(super) fn blmpop(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    // The timeout is read last, after the rest, as Redis reads it.
    let m = parse_mpop(a, 2)?;
    let deadline = blocking::deadline(a.get(1), c.now_ms)?;
    let keys = m.keys.clone().map(|i| a.get(i));
    match pop_first_nonempty(c, keys, m.side, m.count)? {
        Some((k, vals)) => {
            c.dirty += vals.len() as u64;
            c.only_changed_key = Some(m.keys.start + k);
            reply_key_elements(&mut c.out, a.get(m.keys.start + k), &vals);
            // Propagated as the pop it was, as Redis does (and LMPOP here).
            let n = crate::persist::emit::int(vals.len() as i64);
            let pop: &[u8] = if m.side == Side::Left { b"LPOP" } else { b"RPOP" };
            c.prop.push(&[pop, a.get(m.keys.start + k), &n]);
        }
        None => {
            let keys = m.keys.map(|i| a.get(i).to_vec()).collect();
            c.block = Some(wait_on(keys, deadline, NoWaitReply::NullArray, None));
        }
    }
    Ok(())
}

pub(super) fn blmpop_keys(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    Ok(mpop_key_range(a, 2)?.map(|i| (db, i)).collect())
}
