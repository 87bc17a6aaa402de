//! XREAD and XREADGROUP, blocking included.
//!
//! A read that finds nothing and has BLOCK sets `ExecCtx::block` and is parked by the
//! blocking machinery (`cmd::blocking`, `shard::block`) on its keys, on every shard
//! that owns one. When a write touches one, the command is re-run on that stream
//! alone, as Redis 7.0 answers a woken read with the stream that woke it (even when a
//! transaction fed its other streams too): XREAD with its `$` IDs replaced by the IDs
//! they stood for when it blocked (and Redis's default COUNT of 1000 for blocked
//! reads), carried in `BlockReq::rerun`. A re-run of XREADGROUP
//! (`ExecCtx::rerun`) whose stream or group went away answers Redis's errors for a
//! blocked client.
//!
//! Propagation, as redis-server 7.0 writes it: each entry XREADGROUP `>` delivers is
//! an `XCLAIM key group consumer 0 id TIME t RETRYCOUNT 1 FORCE JUSTID LASTID last`,
//! and a NOACK read that moved the group is `XGROUP SETID key group last ENTRIESREAD
//! n`. History reads and consumer creation propagate nothing.

use super::CmdError;
use super::args::Args;
use super::ctx::ExecCtx;
use super::stream::{stream_in, strict_id, write_entries, write_entry, write_id};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use crate::config::notify;
use crate::shard::OwnedArgs;
use crate::shard::block::{BlockReq, NoWaitReply};
use crate::storage::Value;
use crate::storage::stream::StreamId;

/// COUNT of a blocked read that gave none (Redis's XREAD_BLOCKED_DEFAULT_COUNT).
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// Parsed XREAD/XREADGROUP options.
struct ReadArgs {
    /// 0 = no limit.
    count: usize,
    count_given: bool,
    /// Absolute deadline (0 = forever) when BLOCK was given.
    block: Option<u64>,
    streams_arg: usize,
    nstreams: usize,
    group: Option<(usize, usize)>,
    noack: bool,
}

fn parse(c: &ExecCtx, a: &Args, xreadgroup: bool) -> Result<ReadArgs, CmdError> {
    let mut r =
        ReadArgs { count: 0, count_given: false, block: None, streams_arg: 0, nstreams: 0, group: None, noack: false };
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - i - 1;
        if a.is(i, "block") && more > 0 {
            if super::script::called_from_script() {
                // Redis 7.0 refuses BLOCK in a script outright (no non-blocking read).
                return Err(CmdError::msg(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(a.get(0))
                )));
            }
            i += 1;
            let ms = crate::util::num::parse_i64(a.get(i))
                .ok_or_else(|| CmdError::msg("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::msg("ERR timeout is negative"));
            }
            if ms > 0 && ms as u64 > i64::MAX as u64 - c.now_ms {
                return Err(CmdError::msg("ERR timeout is out of range"));
            }
            r.block = Some(if ms == 0 { 0 } else { c.now_ms + ms as u64 });
        } else if a.is(i, "count") && more > 0 {
            i += 1;
            let v = a.i64(i)?;
            r.count = v.max(0) as usize;
            r.count_given = true;
        } else if a.is(i, "streams") && more > 0 {
            r.streams_arg = i + 1;
            let n = a.len() - r.streams_arg;
            if !n.is_multiple_of(2) {
                // Redis 7.0 says XREAD and '$' for XREADGROUP too (7.2 names each).
                return Err(CmdError::msg(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            r.nstreams = n / 2;
            break;
        } else if a.is(i, "group") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::msg(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((i + 1, i + 2));
            i += 2;
        } else if a.is(i, "noack") {
            if !xreadgroup {
                return Err(CmdError::msg(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if r.streams_arg == 0 {
        return Err(CmdError::Syntax);
    }
    if xreadgroup && r.group.is_none() {
        return Err(CmdError::msg("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

fn xread(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    read_generic(c, a, false)
}

fn xreadgroup(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    read_generic(c, a, true)
}

fn read_generic(c: &mut ExecCtx, a: &Args, xreadgroup: bool) -> Result<(), CmdError> {
    let r = parse(c, a, xreadgroup)?;
    let now = c.now_ms;
    let group_name = r.group.map(|(g, _)| a.get(g));
    let consumer_name = r.group.map(|(_, cn)| a.get(cn));
    // Resolve every key's starting ID (and check types and groups) first, as Redis.
    let mut ids: Vec<StreamId> = Vec::with_capacity(r.nstreams);
    for k in 0..r.nstreams {
        let key = a.get(r.streams_arg + k);
        let id_arg = a.get(r.streams_arg + r.nstreams + k);
        let db = &mut c.dbs[c.db];
        let s = match stream_in(db, key, now) {
            Ok(s) => s,
            Err(_) if c.rerun && xreadgroup => {
                return Err(CmdError::msg("UNBLOCKED the stream key no longer exists"));
            }
            Err(e) => return Err(e),
        };
        if let Some(g) = group_name {
            match &s {
                None if c.rerun => return Err(CmdError::msg("UNBLOCKED the stream key no longer exists")),
                Some(s) if !s.groups.contains_key(g) && c.rerun => {
                    return Err(CmdError::msg(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    ));
                }
                Some(s) if s.groups.contains_key(g) => {}
                _ => {
                    return Err(CmdError::Msg(format!(
                        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                        String::from_utf8_lossy(key),
                        String::from_utf8_lossy(g)
                    )));
                }
            }
        }
        if id_arg == b"$" {
            if xreadgroup {
                return Err(CmdError::msg(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                ));
            }
            ids.push(s.map_or(StreamId::ZERO, |s| s.last_id));
        } else if id_arg == b">" {
            if !xreadgroup {
                return Err(CmdError::msg(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            ids.push(StreamId::MAX);
        } else {
            ids.push(strict_id(id_arg)?);
        }
    }

    let count = if c.rerun && r.count == 0 { BLOCKED_DEFAULT_COUNT } else { r.count };
    // Which streams can be served now, and from where (Redis's serve_synchronously).
    // Redis decides stream by stream as it serves, so a key named twice with `>` sees
    // the group where the first read left it: `group_after` tracks that.
    let mut served: Vec<(usize, StreamId, bool)> = Vec::new();
    let mut group_after: Vec<(&[u8], StreamId)> = Vec::new();
    for (k, gt) in ids.iter().enumerate() {
        let key = a.get(r.streams_arg + k);
        let Some(s) = stream_in(&mut c.dbs[c.db], key, now)? else { continue };
        let last_valid = s.last_live_id();
        if let Some(g) = group_name {
            let group = &s.groups[g];
            let last = group_after.iter().rev().find(|(name, _)| *name == key).map_or(group.last_id, |&(_, id)| id);
            if *gt != StreamId::MAX {
                served.push((k, *gt, true));
            } else if last_valid.is_some_and(|m| m > last) {
                served.push((k, last, false));
                let start = last.incr().unwrap_or(StreamId::MAX);
                let delivered = s.range(start, StreamId::MAX, (count > 0).then_some(count));
                group_after.push((key, delivered.last().map_or(last, |e| e.id)));
            }
        } else if last_valid.is_some_and(|m| m > *gt) {
            served.push((k, *gt, false));
        }
    }

    // The consumer is created (and seen) in the groups of the streams served now
    // only, as Redis 7.0 does: a read that finds nothing new, or blocks, creates none.
    if let (Some(g), Some(cn)) = (group_name, consumer_name) {
        for &(k, _, _) in &served {
            let key = a.get(r.streams_arg + k);
            let s = stream_in(&mut c.dbs[c.db], key, now)?.expect("checked");
            let group = s.groups.get_mut(g).expect("checked");
            let (consumer, created) = group.consumer(cn, now);
            consumer.seen_time = now;
            if created {
                c.notify(notify::STREAM, "xgroup-createconsumer", key);
                c.dirty += 1;
                c.prop.suppress();
            }
        }
    }

    if served.is_empty() {
        if let Some(deadline) = r.block {
            c.block = Some(block_req(a, &r, &ids, deadline, xreadgroup));
            return Ok(());
        }
        c.out.null_array();
        return Ok(());
    }

    let resp3 = c.out.proto == crate::resp::Proto::Resp3;
    if resp3 {
        c.out.map(served.len());
    } else {
        c.out.array(served.len());
    }
    for (k, gt, history) in served {
        let key = a.get(r.streams_arg + k);
        if !resp3 {
            c.out.array(2);
        }
        c.out.bulk(key);
        let start = gt.incr().unwrap_or(StreamId::MAX);
        match (group_name, consumer_name) {
            (Some(g), Some(cn)) if history => serve_history(c, key, g, cn, start, count)?,
            (Some(g), Some(cn)) => serve_group(c, key, g, cn, start, count, r.noack)?,
            _ => {
                let (db, out, _) = c.parts();
                let s = stream_in(db, key, now)?.expect("served");
                let entries = s.range(start, StreamId::MAX, (count > 0).then_some(count));
                write_entries(out, &entries);
            }
        }
    }
    Ok(())
}

/// XREADGROUP `>`: new entries from `start`, delivered to `consumer`.
fn serve_group(
    c: &mut ExecCtx,
    key: &[u8],
    g: &[u8],
    cn: &[u8],
    start: StreamId,
    count: usize,
    noack: bool,
) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, _) = c.parts();
    let s = stream_in(db, key, now)?.expect("served");
    let entries = s.range(start, StreamId::MAX, (count > 0).then_some(count));
    write_entries(out, &entries);
    let ids: Vec<StreamId> = entries.iter().map(|e| e.id).collect();
    let meta = s.meta();
    let group = s.groups.get_mut(g).expect("checked");
    let mut props: Vec<OwnedArgs> = Vec::new();
    let mut moved = false;
    for id in &ids {
        if *id > group.last_id {
            group.advance(&meta, *id);
            moved = true;
        }
        if !noack {
            group.deliver(*id, cn, now);
            let (idb, t, last) = (id.to_bytes(), now.to_string(), group.last_id.to_bytes());
            props.push(OwnedArgs::from_slices(
                [
                    &b"XCLAIM"[..],
                    key,
                    g,
                    cn,
                    b"0",
                    &idb,
                    b"TIME",
                    t.as_bytes(),
                    b"RETRYCOUNT",
                    b"1",
                    b"FORCE",
                    b"JUSTID",
                    b"LASTID",
                    &last,
                ]
                .into_iter(),
            ));
        }
    }
    if noack && moved {
        let last = group.last_id.to_bytes();
        let read = group.entries_read.map(|v| v as i64).unwrap_or(-1).to_string();
        props.push(OwnedArgs::from_slices(
            [&b"XGROUP"[..], b"SETID", key, g, &last, b"ENTRIESREAD", read.as_bytes()].into_iter(),
        ));
    }
    if !ids.is_empty() {
        c.dirty += 1;
    }
    for p in props {
        c.prop.push_owned(p);
    }
    if c.dirty > 0 {
        c.prop.suppress();
    }
    Ok(())
}

/// XREADGROUP with an ID: the consumer's own pending entries from `start`; each one
/// still in the stream counts as delivered again, one deleted since shows as
/// `[id, nil]`.
fn serve_history(
    c: &mut ExecCtx,
    key: &[u8],
    g: &[u8],
    cn: &[u8],
    start: StreamId,
    count: usize,
) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, _) = c.parts();
    let s = stream_in(db, key, now)?.expect("served");
    let pel: Vec<StreamId> = {
        let group = &s.groups[g];
        let consumer = &group.consumers[cn];
        let it = consumer.pel.range(start..);
        if count > 0 { it.take(count).copied().collect() } else { it.copied().collect() }
    };
    out.array(pel.len());
    let mut redelivered = Vec::new();
    for id in &pel {
        match s.get(*id) {
            Some(e) => {
                write_entry(out, &e);
                redelivered.push(*id);
            }
            None => {
                out.array(2);
                write_id(out, *id);
                out.null_array();
            }
        }
    }
    let group = s.groups.get_mut(g).expect("checked");
    for id in redelivered {
        if let Some(p) = group.pel.get_mut(&id) {
            p.delivery_time = now;
            p.delivery_count += 1;
        }
    }
    Ok(())
}

/// The wait of a read that found nothing: its stream keys, and the arguments to
/// re-run with (`$` resolved; a COUNT, Redis's default for blocked reads).
fn block_req(a: &Args, r: &ReadArgs, ids: &[StreamId], deadline: u64, xreadgroup: bool) -> BlockReq {
    let keys: Vec<Vec<u8>> = (0..r.nstreams).map(|k| a.get(r.streams_arg + k).to_vec()).collect();
    let mut rerun: Vec<Vec<u8>> = a.iter().take(r.streams_arg).map(|x| x.to_vec()).collect();
    if !r.count_given {
        rerun.insert(1, b"COUNT".to_vec());
        rerun.insert(2, BLOCKED_DEFAULT_COUNT.to_string().into_bytes());
    }
    rerun.extend(keys.iter().cloned());
    for (k, id) in ids.iter().enumerate() {
        let arg = a.get(r.streams_arg + r.nstreams + k);
        rerun.push(if xreadgroup || arg != b"$" { arg.to_vec() } else { id.to_bytes() });
    }
    let rerun = OwnedArgs::from_slices(rerun.iter().map(|v| v.as_slice()));
    BlockReq {
        keys,
        deadline_ms: deadline,
        no_wait_reply: NoWaitReply::NullArray,
        ready_type: if xreadgroup { "stream-group" } else { "stream" },
        fallback: Some(rerun.clone()),
        rerun: Some(rerun),
    }
}

/// Can a parked XREAD/XREADGROUP (its re-run arguments `args`) proceed now that
/// `key` holds `v`? XREAD: an entry past its ID. XREADGROUP: an entry past the
/// group's last ID, or the stream or group gone (its re-run answers the error).
pub fn ready_for(args: &OwnedArgs, key: &[u8], v: Option<&Value>, group: bool) -> bool {
    let a = Args::Owned(args);
    let Ok(keys) = find_keys(&a, 0) else { return true };
    let Some(k) = keys.iter().position(|&(_, i)| a.get(i) == key) else { return true };
    let id_arg = a.get(keys[k].1 + keys.len());
    let s = match v {
        Some(Value::Stream(s)) => s,
        _ => return group,
    };
    let last = s.last_live_id();
    if group {
        let Some(gpos) = (1..a.len()).find(|&i| a.is(i, "group")) else { return true };
        return match s.groups.get(a.get(gpos + 1)) {
            None => true,
            Some(g) => last.is_some_and(|l| l > g.last_id),
        };
    }
    let Some(last) = last else { return false };
    StreamId::parse(id_arg, 0).is_none_or(|id| last > id)
}

/// A parked XREAD/XREADGROUP's re-run arguments narrowed to the one stream `key`
/// whose write woke it. Redis 7.0 answers a woken stream read with that stream only,
/// even when a transaction or script also fed its other streams before it was served.
/// None when `key` is not one of its streams.
pub fn narrowed_to(args: &OwnedArgs, key: &[u8]) -> Option<OwnedArgs> {
    let a = Args::Owned(args);
    let keys = find_keys(&a, 0).ok()?;
    let k = keys.iter().position(|&(_, i)| a.get(i) == key)?;
    let first_key = keys[0].1;
    let id = a.get(keys[k].1 + keys.len());
    Some(OwnedArgs::from_slices(a.iter().take(first_key).chain([key, id])))
}

/// Keys of XREAD/XREADGROUP: the first half of the arguments after STREAMS (Redis's
/// `xreadGetKeys`); none when the request is malformed (the handler reports it).
fn find_keys(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    let mut i = 1;
    let mut streams = None;
    while i < a.len() {
        if a.is(i, "block") || a.is(i, "count") {
            i += 2;
        } else if a.is(i, "group") {
            i += 3;
        } else if a.is(i, "noack") {
            i += 1;
        } else if a.is(i, "streams") {
            streams = Some(i);
            break;
        } else {
            break;
        }
    }
    let Some(pos) = streams else { return Ok(Vec::new()) };
    let n = a.len() - pos - 1;
    if n == 0 || !n.is_multiple_of(2) {
        return Ok(Vec::new());
    }
    Ok((pos + 1..pos + 1 + n / 2).map(|i| (db, i)).collect())
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "xread",
        arity: -4,
        flags: flag::READONLY | flag::BLOCKING,
        keys: KeySpec::Custom { first: 0, last: 0, step: 0, find: find_keys },
        handler: Handler::Keyed(xread),
        group: "stream",
        summary: "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xreadgroup",
        arity: -7,
        flags: flag::WRITE | flag::BLOCKING,
        keys: KeySpec::Custom { first: 0, last: 0, step: 0, find: find_keys },
        handler: Handler::Keyed(xreadgroup),
        group: "stream",
        summary: "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.",
        since: "5.0.0",
    },
];
