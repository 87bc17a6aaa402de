//! Consumer-group commands: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, and XINFO.
//!
//! Replies, error texts and propagation follow redis-server 7.0: XCLAIM and XAUTOCLAIM
//! propagate one idempotent `XCLAIM ... FORCE JUSTID LASTID` per entry they claimed (or
//! dropped from the PEL because the entry is gone), and XCLAIM with only a LASTID that
//! moved the group propagates `XGROUP SETID`.

use super::CmdError;
use super::args::Args;
use super::ctx::ExecCtx;
use super::introspect::{help_reply, sub_arity, unknown_subcommand};
use super::stream::{ERR_INVALID_ID, stream_in, strict_id, write_entry, write_id};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use crate::config::notify;
use crate::resp::ReplyWriter;
use crate::shard::OwnedArgs;
use crate::storage::stream::{StreamId, StreamValue};
use crate::storage::stream_group::{Group, Pending};
use crate::util::num;

fn nogroup_key(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn nogroup_for_key(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// Redis's addReplySubcommandSyntaxError.
fn sub_syntax(a: &Args) -> CmdError {
    let sub: String = a.str(1).chars().take(128).collect();
    CmdError::Msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {} HELP.",
        a.str(0).to_ascii_uppercase()
    ))
}

/// An interval bound for XPENDING/XAUTOCLAIM (`(id` exclusive).
fn interval(b: &[u8], missing_seq: u64, is_start: bool) -> Result<StreamId, CmdError> {
    if b.len() > 1 && b[0] == b'(' {
        let id = StreamId::parse(&b[1..], missing_seq).ok_or_else(|| CmdError::msg(ERR_INVALID_ID))?;
        return if is_start {
            id.incr().ok_or_else(|| CmdError::msg("ERR invalid start ID for the interval"))
        } else {
            id.decr().ok_or_else(|| CmdError::msg("ERR invalid end ID for the interval"))
        };
    }
    super::stream::range_id(b, missing_seq)
}

/// The `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last`
/// Redis propagates for a claimed (or dropped) pending entry.
pub fn xclaim_prop(key: &[u8], group: &[u8], g: &Group, consumer: &[u8], id: StreamId, p: &Pending) -> OwnedArgs {
    let (idb, t, n, last) =
        (id.to_bytes(), p.delivery_time.to_string(), p.delivery_count.to_string(), g.last_id.to_bytes());
    OwnedArgs::from_slices(
        [
            &b"XCLAIM"[..],
            key,
            group,
            consumer,
            b"0",
            &idb,
            b"TIME",
            t.as_bytes(),
            b"RETRYCOUNT",
            n.as_bytes(),
            b"FORCE",
            b"JUSTID",
            b"LASTID",
            &last,
        ]
        .into_iter(),
    )
}

// ---- XGROUP ---------------------------------------------------------------------------------

const XGROUP_HELP: &[&str] = &[
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
];

fn xgroup(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    let arity = match sub.as_str() {
        "help" => 2,
        "create" | "setid" => -5,
        "destroy" => 4,
        "createconsumer" | "delconsumer" => 5,
        _ => return Err(unknown_subcommand(a)),
    };
    sub_arity(a, &format!("xgroup|{sub}"), arity)?;
    if sub == "help" {
        help_reply(&mut c.out, "XGROUP", XGROUP_HELP);
        return Ok(());
    }
    let mut mkstream = false;
    let mut entries_read: i64 = -1;
    if sub == "create" || sub == "setid" {
        let mut j = 5;
        while j < a.len() {
            if sub == "create" && a.is(j, "mkstream") {
                mkstream = true;
            } else if a.is(j, "entriesread") && j + 1 < a.len() {
                entries_read = a.i64(j + 1)?;
                if entries_read < 0 && entries_read != -1 {
                    return Err(CmdError::msg("ERR value for ENTRIESREAD must be positive or -1"));
                }
                j += 1;
            } else {
                return Err(sub_syntax(a));
            }
            j += 1;
        }
    }
    let key = a.get(2);
    let gname = a.get(3);
    let now = c.now_ms;
    let exists = stream_in(&mut c.dbs[c.db], key, now)?.is_some();
    if !mkstream {
        if !exists {
            return Err(CmdError::msg(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            ));
        }
        let has_group = stream_in(&mut c.dbs[c.db], key, now)?.is_some_and(|s| s.groups.contains_key(gname));
        if !has_group && matches!(sub.as_str(), "setid" | "createconsumer" | "delconsumer") {
            return Err(nogroup_for_key(key, gname));
        }
    }
    let read = (entries_read >= 0).then_some(entries_read as u64);
    match sub.as_str() {
        "create" => {
            if a.len() > 8 {
                return Err(sub_syntax(a));
            }
            let id = if a.get(4) == b"$" {
                stream_in(&mut c.dbs[c.db], key, now)?.map_or(StreamId::ZERO, |s| s.last_id)
            } else {
                strict_id(a.get(4))?
            };
            if !exists {
                c.dbs[c.db].set(key, crate::storage::Value::Stream(Box::default()), 0);
            }
            let s = stream_in(&mut c.dbs[c.db], key, now)?.expect("exists");
            if s.groups.contains_key(gname) {
                return Err(CmdError::msg("BUSYGROUP Consumer Group name already exists"));
            }
            s.groups.insert(gname.to_vec(), Group::new(id, read));
            c.out.ok();
            c.dirty += 1;
            c.notify(notify::STREAM, "xgroup-create", key);
        }
        "setid" => {
            if a.len() != 5 && a.len() != 7 {
                return Err(sub_syntax(a));
            }
            let s = stream_in(&mut c.dbs[c.db], key, now)?.expect("exists");
            let id = if a.get(4) == b"$" { s.last_id } else { super::stream::range_id(a.get(4), 0)? };
            let g = s.groups.get_mut(gname).expect("checked");
            g.last_id = id;
            g.entries_read = read;
            c.out.ok();
            c.dirty += 1;
            c.notify(notify::STREAM, "xgroup-setid", key);
        }
        "destroy" => {
            let removed = match stream_in(&mut c.dbs[c.db], key, now)? {
                Some(s) => s.groups.remove(gname).is_some(),
                None => false,
            };
            c.out.int(removed as i64);
            if removed {
                c.dirty += 1;
                c.notify(notify::STREAM, "xgroup-destroy", key);
            }
        }
        "createconsumer" => {
            let s = stream_in(&mut c.dbs[c.db], key, now)?.expect("exists");
            let (_, created) = s.groups.get_mut(gname).expect("checked").consumer(a.get(4), now);
            c.out.int(created as i64);
            if created {
                c.dirty += 1;
                c.notify(notify::STREAM, "xgroup-createconsumer", key);
            }
        }
        "delconsumer" => {
            let s = stream_in(&mut c.dbs[c.db], key, now)?.expect("exists");
            match s.groups.get_mut(gname).expect("checked").delete_consumer(a.get(4)) {
                Some(pending) => {
                    c.out.int(pending as i64);
                    c.dirty += 1;
                    c.notify(notify::STREAM, "xgroup-delconsumer", key);
                }
                None => c.out.int(0),
            }
        }
        _ => unreachable!("checked above"),
    }
    Ok(())
}

// ---- XACK -----------------------------------------------------------------------------------

fn xack(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (key, gname) = (a.get(1), a.get(2));
    let has = stream_in(&mut c.dbs[c.db], key, now)?.is_some_and(|s| s.groups.contains_key(gname));
    if !has {
        c.out.int(0);
        return Ok(());
    }
    let ids = (3..a.len()).map(|i| strict_id(a.get(i))).collect::<Result<Vec<_>, _>>()?;
    let s = stream_in(&mut c.dbs[c.db], key, now)?.expect("checked");
    let g = s.groups.get_mut(gname).expect("checked");
    let acked = ids.into_iter().filter(|id| g.ack(*id)).count();
    c.dirty += acked as u64;
    c.out.int(acked as i64);
    Ok(())
}

// ---- XPENDING -------------------------------------------------------------------------------

fn xpending(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let n = a.len();
    if n != 3 && !(6..=9).contains(&n) {
        return Err(CmdError::Syntax);
    }
    let (key, gname) = (a.get(1), a.get(2));
    let mut range = None;
    let mut consumer_arg = None;
    let mut min_idle: i64 = 0;
    if n >= 6 {
        let mut start_idx = 3;
        if a.is(3, "idle") {
            min_idle = a.i64(4)?;
            if n < 8 {
                return Err(CmdError::Syntax);
            }
            start_idx += 2;
        }
        let count = a.i64(start_idx + 2)?.max(0) as usize;
        let start = interval(a.get(start_idx), 0, true)?;
        let end = interval(a.get(start_idx + 1), u64::MAX, false)?;
        if start_idx + 3 < n {
            consumer_arg = Some(a.get(start_idx + 3));
        }
        range = Some((start, end, count));
    }
    let now = c.now_ms;
    let (db, out, _) = c.parts();
    let s = stream_in(db, key, now)?;
    let Some(g) = s.and_then(|s| s.groups.get(gname)) else { return Err(nogroup_key(key, gname)) };
    let Some((start, end, count)) = range else {
        out.array(4);
        out.int(g.pel.len() as i64);
        if g.pel.is_empty() {
            out.null();
            out.null();
            out.null_array();
            return Ok(());
        }
        write_id(out, *g.pel.keys().next().expect("non-empty"));
        write_id(out, *g.pel.keys().next_back().expect("non-empty"));
        let with: Vec<_> = g.consumers.iter().filter(|(_, c)| !c.pel.is_empty()).collect();
        out.array(with.len());
        for (name, cons) in with {
            out.array(2);
            out.bulk(name);
            out.bulk(cons.pel.len().to_string().as_bytes());
        }
        return Ok(());
    };
    let ids: Vec<StreamId> = match consumer_arg {
        Some(cn) => match g.consumers.get(cn) {
            None => {
                out.array(0);
                return Ok(());
            }
            Some(cons) => {
                if start > end {
                    Vec::new()
                } else {
                    cons.pel.range(start..=end).copied().collect()
                }
            }
        },
        None => {
            if start > end {
                Vec::new()
            } else {
                g.pel.range(start..=end).map(|(id, _)| *id).collect()
            }
        }
    };
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() >= count {
            break;
        }
        let p = &g.pel[&id];
        let idle = now as i64 - p.delivery_time as i64;
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        rows.push((id, p, idle.max(0)));
    }
    out.array(rows.len());
    for (id, p, idle) in rows {
        out.array(4);
        write_id(out, id);
        out.bulk(&p.consumer);
        out.int(idle);
        out.int(p.delivery_count as i64);
    }
    Ok(())
}

// ---- XCLAIM / XAUTOCLAIM --------------------------------------------------------------------

fn int_or(a: &Args, i: usize, msg: &str) -> Result<i64, CmdError> {
    num::parse_i64(a.get(i)).ok_or_else(|| CmdError::msg(format!("ERR {msg}")))
}

fn lookup_group<'a>(c: &'a mut ExecCtx, key: &[u8], gname: &[u8]) -> Result<&'a mut StreamValue, CmdError> {
    let now = c.now_ms;
    match stream_in(&mut c.dbs[c.db], key, now)? {
        Some(s) if s.groups.contains_key(gname) => Ok(s),
        _ => Err(nogroup_key(key, gname)),
    }
}

fn xclaim(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let (key, gname, cname) = (a.get(1), a.get(2), a.get(3));
    lookup_group(c, key, gname)?;
    let min_idle = int_or(a, 4, "Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match StreamId::parse(a.get(j), 0) {
            Some(id) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = c.now_ms as i64;
    let (mut force, mut justid) = (false, false);
    let mut retrycount: i64 = -1;
    let mut delivery: i64 = -1;
    let mut last_id = StreamId::ZERO;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if a.is(j, "force") {
            force = true;
        } else if a.is(j, "justid") {
            justid = true;
        } else if a.is(j, "idle") && more > 0 {
            j += 1;
            delivery = now - int_or(a, j, "Invalid IDLE option argument for XCLAIM")?;
        } else if a.is(j, "time") && more > 0 {
            j += 1;
            delivery = int_or(a, j, "Invalid TIME option argument for XCLAIM")?;
        } else if a.is(j, "retrycount") && more > 0 {
            j += 1;
            retrycount = int_or(a, j, "Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if a.is(j, "lastid") && more > 0 {
            j += 1;
            last_id = strict_id(a.get(j))?;
        } else {
            return Err(CmdError::Msg(format!("ERR Unrecognized XCLAIM option '{}'", a.str(j))));
        }
        j += 1;
    }
    if delivery < 0 || delivery > now {
        delivery = now;
    }
    let now_u = now as u64;
    let (db, out, _) = c.parts();
    let s = stream_in(db, key, now_u)?.expect("checked");
    let mut props: Vec<OwnedArgs> = Vec::new();
    let mut propagate_last_id = false;
    {
        let g = s.groups.get_mut(gname).expect("checked");
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last_id = true;
        }
    }
    let mut reply: Vec<StreamId> = Vec::new();
    let mut dirty = 0u64;
    let mut created_consumer = false;
    for id in ids {
        let exists = s.get(id).is_some();
        let g = s.groups.get_mut(gname).expect("checked");
        if !exists {
            if let Some(p) = g.pel.get(&id).cloned() {
                props.push(xclaim_prop(key, gname, g, &p.consumer, id, &p));
                propagate_last_id = false;
                dirty += 1;
                g.ack(id);
            }
            continue;
        }
        let existing = g.pel.get(&id).cloned();
        if existing.is_none() && !force {
            continue;
        }
        if let Some(p) = &existing
            && min_idle != 0
            && (now - p.delivery_time as i64) < min_idle
        {
            continue;
        }
        // An entry FORCE adds to the PEL starts as delivered once (Redis's
        // streamCreateNACK), so JUSTID leaves it at 1 and a plain claim makes it 2.
        let old_count = existing.as_ref().map_or(1, |p| p.delivery_count);
        let count = if retrycount >= 0 {
            retrycount as u64
        } else if !justid {
            old_count + 1
        } else {
            old_count
        };
        created_consumer |= !g.consumers.contains_key(cname);
        g.claim(id, cname, delivery as u64, count, now_u);
        g.consumers.get_mut(cname).expect("claimed").seen_time = now_u;
        let p = g.pel[&id].clone();
        props.push(xclaim_prop(key, gname, g, cname, id, &p));
        propagate_last_id = false;
        dirty += 1;
        reply.push(id);
    }
    out.array(reply.len());
    for id in &reply {
        if justid {
            write_id(out, *id);
        } else {
            write_entry(out, &s.get(*id).expect("exists"));
        }
    }
    if propagate_last_id {
        let g = &s.groups[gname];
        let (last, read) = (g.last_id.to_bytes(), g.entries_read.map(|v| v as i64).unwrap_or(-1).to_string());
        props.push(OwnedArgs::from_slices(
            [&b"XGROUP"[..], b"SETID", key, gname, &last, b"ENTRIESREAD", read.as_bytes()].into_iter(),
        ));
        dirty += 1;
    }
    c.dirty += dirty;
    if created_consumer {
        // The consumer a first claim created, as Redis's XCLAIM announces it.
        c.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    for p in props {
        c.prop.push_owned(p);
    }
    c.prop.suppress();
    Ok(())
}

fn xautoclaim(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let (key, gname, cname) = (a.get(1), a.get(2), a.get(3));
    let min_idle = int_or(a, 4, "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = interval(a.get(5), 0, true)?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if a.is(j, "count") && more > 0 {
            let max = i64::MAX / 16;
            count = num::parse_i64(a.get(j + 1))
                .filter(|v| (1..=max).contains(v))
                .ok_or_else(|| CmdError::msg("ERR COUNT must be > 0"))?;
            j += 1;
        } else if a.is(j, "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    lookup_group(c, key, gname)?;
    let now = c.now_ms;
    let (db, out, _) = c.parts();
    let s = stream_in(db, key, now)?.expect("checked");
    let mut attempts = count.saturating_mul(10);
    let candidates: Vec<StreamId> =
        s.groups[gname].pel.range(start..).map(|(id, _)| *id).take((attempts as usize).saturating_add(1)).collect();
    let mut idx = 0;
    let mut created_consumer = false;
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut props = Vec::new();
    while attempts != 0 && count != 0 && idx < candidates.len() {
        attempts -= 1;
        let id = candidates[idx];
        idx += 1;
        let exists = s.get(id).is_some();
        let g = s.groups.get_mut(gname).expect("checked");
        let p = g.pel[&id].clone();
        if !exists {
            props.push(xclaim_prop(key, gname, g, &p.consumer, id, &p));
            g.ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        if min_idle != 0 && (now as i64 - p.delivery_time as i64) < min_idle {
            continue;
        }
        let n = if justid { p.delivery_count } else { p.delivery_count + 1 };
        created_consumer |= !g.consumers.contains_key(cname);
        g.claim(id, cname, now, n, now);
        let np = g.pel[&id].clone();
        props.push(xclaim_prop(key, gname, g, cname, id, &np));
        claimed.push(id);
        count -= 1;
    }
    if !claimed.is_empty() {
        // Only a consumer that claimed something is created (and seen), as in Redis.
        let g = s.groups.get_mut(gname).expect("checked");
        if let Some(cons) = g.consumers.get_mut(cname) {
            cons.seen_time = now;
        }
    }
    let cursor = candidates.get(idx).copied().unwrap_or(StreamId::ZERO);
    out.array(3);
    write_id(out, cursor);
    out.array(claimed.len());
    for id in &claimed {
        if justid {
            write_id(out, *id);
        } else {
            write_entry(out, &s.get(*id).expect("exists"));
        }
    }
    out.array(deleted.len());
    for id in &deleted {
        write_id(out, *id);
    }
    c.dirty += props.len() as u64;
    if created_consumer {
        c.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    for p in props {
        c.prop.push_owned(p);
    }
    c.prop.suppress();
    Ok(())
}

// ---- XINFO ----------------------------------------------------------------------------------

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

fn xinfo(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    let arity = match sub.as_str() {
        "help" => 2,
        "stream" => -3,
        "groups" => 3,
        "consumers" => 4,
        _ => return Err(unknown_subcommand(a)),
    };
    sub_arity(a, &format!("xinfo|{sub}"), arity)?;
    if sub == "help" {
        help_reply(&mut c.out, "XINFO", XINFO_HELP);
        return Ok(());
    }
    let key = a.get(2);
    let now = c.now_ms;
    let (db, out, _) = c.parts();
    let s = stream_in(db, key, now)?.ok_or(CmdError::NoSuchKey)?;
    match sub.as_str() {
        "consumers" => {
            let gname = a.get(3);
            let g = s.groups.get(gname).ok_or_else(|| nogroup_for_key(key, gname))?;
            out.array(g.consumers.len());
            for (name, cons) in &g.consumers {
                out.map(3);
                out.bulk(b"name");
                out.bulk(name);
                out.bulk(b"pending");
                out.int(cons.pel.len() as i64);
                out.bulk(b"idle");
                out.int((now as i64 - cons.seen_time as i64).max(0));
            }
        }
        "groups" => {
            let meta = s.meta();
            out.array(s.groups.len());
            for (name, g) in &s.groups {
                out.map(6);
                out.bulk(b"name");
                out.bulk(name);
                out.bulk(b"consumers");
                out.int(g.consumers.len() as i64);
                out.bulk(b"pending");
                out.int(g.pel.len() as i64);
                out.bulk(b"last-delivered-id");
                write_id(out, g.last_id);
                write_read_and_lag(out, &meta, g);
            }
        }
        _ => xinfo_stream(out, s, a)?,
    }
    Ok(())
}

fn write_read_and_lag(out: &mut ReplyWriter, meta: &crate::storage::stream::Meta, g: &Group) {
    out.bulk(b"entries-read");
    match g.entries_read {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
    out.bulk(b"lag");
    match meta.group_lag(g) {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

fn xinfo_stream(out: &mut ReplyWriter, s: &StreamValue, a: &Args) -> Result<(), CmdError> {
    let extra = a.len() - 3;
    let mut count: i64 = 10;
    let full = match extra {
        0 => false,
        1 | 3 => {
            if !a.is(3, "full") {
                return Err(sub_syntax(a));
            }
            if extra == 3 {
                if !a.is(4, "count") {
                    return Err(sub_syntax(a));
                }
                count = a.i64(5)?;
                if count < 0 {
                    count = 10;
                }
            }
            true
        }
        _ => return Err(sub_syntax(a)),
    };
    let count = count as usize;
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    // Redis counts the radix tree's inner nodes too; the B-tree has no such thing, so
    // this reports the smallest tree that holds the keys (one root plus the keys).
    out.bulk(b"radix-tree-nodes");
    out.int(s.node_count() as i64 + 1);
    out.bulk(b"last-generated-id");
    write_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    write_id(out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    write_id(out, s.first_id());
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        out.bulk(b"first-entry");
        match s.first_entry() {
            Some(e) => write_entry(out, &e),
            None => out.null(),
        }
        out.bulk(b"last-entry");
        match s.last_entry() {
            Some(e) => write_entry(out, &e),
            None => out.null(),
        }
        return Ok(());
    }
    let limit = (count > 0).then_some(count);
    out.bulk(b"entries");
    super::stream::write_entries(out, &s.range(StreamId::ZERO, StreamId::MAX, limit));
    out.bulk(b"groups");
    let meta = s.meta();
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        write_id(out, g.last_id);
        write_read_and_lag(out, &meta, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(limit.unwrap_or(usize::MAX)).collect();
        out.array(pel.len());
        for (id, p) in pel {
            out.array(4);
            write_id(out, *id);
            out.bulk(&p.consumer);
            out.int(p.delivery_time as i64);
            out.int(p.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, cons) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(cons.seen_time as i64);
            out.bulk(b"pel-count");
            out.int(cons.pel.len() as i64);
            out.bulk(b"pending");
            let pel: Vec<_> = cons.pel.iter().take(limit.unwrap_or(usize::MAX)).collect();
            out.array(pel.len());
            for id in pel {
                let p = &g.pel[id];
                out.array(3);
                write_id(out, *id);
                out.int(p.delivery_time as i64);
                out.int(p.delivery_count as i64);
            }
        }
    }
    Ok(())
}

const KEY_AT_2: KeySpec = KeySpec::Range { first: 2, last: 2, step: 1 };
const ONE_KEY: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "xgroup",
        arity: -2,
        flags: flag::WRITE,
        keys: KEY_AT_2,
        handler: Handler::Keyed(xgroup),
        group: "stream",
        summary: "A container for consumer groups commands.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xack",
        arity: -4,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(xack),
        group: "stream",
        summary: "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xpending",
        arity: -3,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(xpending),
        group: "stream",
        summary: "Returns the information and entries from a stream consumer group's pending entries list.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xclaim",
        arity: -6,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(xclaim),
        group: "stream",
        summary: "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xautoclaim",
        arity: -6,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(xautoclaim),
        group: "stream",
        summary: "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
        since: "6.2.0",
    },
    CommandSpec {
        name: "xinfo",
        arity: -2,
        flags: flag::READONLY,
        keys: KEY_AT_2,
        handler: Handler::Keyed(xinfo),
        group: "stream",
        summary: "A container for stream introspection commands.",
        since: "5.0.0",
    },
];
