//! Stream commands: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID, and the pieces
//! the other stream files share (ID arguments, entry replies, lookups). Reads live in
//! `stream_read` (XREAD, XREADGROUP, blocking), consumer groups in `stream_group`.
//!
//! Replies and error texts follow redis-server 7.0's `t_stream.c`. What the AOF and
//! replicas get is deterministic: XADD propagates the ID it generated and, after an
//! approximate (`~`) trim, the exact `=` trim it did (Redis rewrites the same way).

use super::CmdError;
use super::args::Args;
use super::ctx::ExecCtx;
use super::error::wrong_arity;
use super::table::{CommandSpec, Handler, KeySpec, flag};
use crate::config::notify;
use crate::resp::ReplyWriter;
use crate::storage::Value;
use crate::storage::stream::{EntryRef, NodeLimits, StreamId, StreamValue, Trim};
use crate::util::num;

pub const ERR_INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// Redis's `streamParseStrictIDOrReply` (no `-`/`+`), with a missing sequence of 0.
pub fn strict_id(b: &[u8]) -> Result<StreamId, CmdError> {
    StreamId::parse(b, 0).ok_or_else(|| CmdError::msg(ERR_INVALID_ID))
}

/// Redis's `streamParseIDOrReply`: `-` and `+` allowed; a missing sequence is
/// `missing_seq` (0 for a start, MAX for an end).
pub fn range_id(b: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    match b {
        b"-" => Ok(StreamId::ZERO),
        b"+" => Ok(StreamId::MAX),
        _ => StreamId::parse(b, missing_seq).ok_or_else(|| CmdError::msg(ERR_INVALID_ID)),
    }
}

/// An interval bound: `(id` is exclusive (strict ID after the paren).
fn interval_id(b: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if b.len() > 1 && b[0] == b'(' {
        return Ok((strict_id_seq(&b[1..], missing_seq)?, true));
    }
    Ok((range_id(b, missing_seq)?, false))
}

fn strict_id_seq(b: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    StreamId::parse(b, missing_seq).ok_or_else(|| CmdError::msg(ERR_INVALID_ID))
}

pub fn write_id(out: &mut ReplyWriter, id: StreamId) {
    out.bulk(id.to_string().as_bytes());
}

/// One entry: `[id, [f1, v1, ...]]`.
pub fn write_entry(out: &mut ReplyWriter, e: &EntryRef) {
    out.array(2);
    write_id(out, e.id);
    out.array(e.fields.len() * 2);
    for (f, v) in &e.fields {
        out.bulk(f);
        out.bulk(v);
    }
}

pub fn write_entries(out: &mut ReplyWriter, entries: &[EntryRef]) {
    out.array(entries.len());
    for e in entries {
        write_entry(out, e);
    }
}

/// The stream at `key` in `db`: None if missing, WRONGTYPE if another type.
pub fn stream_in<'a>(
    db: &'a mut crate::storage::Db,
    key: &[u8],
    now: u64,
) -> Result<Option<&'a mut StreamValue>, CmdError> {
    match db.get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The stream at `key` for reading: None if missing, WRONGTYPE if another type.
pub fn read_stream<'a>(c: &'a mut ExecCtx, key: &[u8]) -> Result<Option<&'a StreamValue>, CmdError> {
    let now = c.now_ms;
    match c.dbs[c.db].get(key, now) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The stream at `key` for writing: None if missing, WRONGTYPE if another type.
pub fn write_stream<'a>(c: &'a mut ExecCtx, key: &[u8]) -> Result<Option<&'a mut StreamValue>, CmdError> {
    let now = c.now_ms;
    match c.dbs[c.db].get_mut(key, now) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// `stream-node-max-entries` and `stream-node-max-bytes` as they are set now.
fn node_limits(cfg: &crate::config::Config) -> NodeLimits {
    NodeLimits::new(cfg.stream_node_max_entries, cfg.stream_node_max_bytes)
}

/// Does this command come from the AOF or the master? Redis obeys such a client's
/// trims without the LIMIT checks (it propagated an exact trim).
pub fn must_obey(c: &ExecCtx) -> bool {
    c.client_id == 0 || c.shared.replica.is_master_client(c.client_id)
}

// ---- XADD / XTRIM arguments -------------------------------------------------------------

/// Parsed XADD/XTRIM options (Redis's `streamAddTrimArgs`).
#[derive(Default)]
struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    /// 0 = no limit.
    limit: u64,
    /// Index of the trim argument (MAXLEN count / MINID id), for the rewrite.
    trim_arg: usize,
    no_mkstream: bool,
    /// XADD's ID: None for `*`; `(id, seq_given)`.
    id: Option<(StreamId, bool)>,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`. Returns the options and, for XADD, the
/// index of the ID argument.
fn parse_add_or_trim(c: &ExecCtx, a: &Args, xadd: bool) -> Result<(TrimArgs, usize), CmdError> {
    let mut t = TrimArgs::default();
    let mut limit_given = false;
    let mut i = 2;
    let n = a.len();
    while i < n {
        let more = n - 1 - i;
        let opt = a.get(i);
        if xadd && opt == b"*" {
            break;
        } else if (opt.eq_ignore_ascii_case(b"maxlen") || opt.eq_ignore_ascii_case(b"minid")) && more > 0 {
            if t.trim.is_some() {
                return Err(CmdError::msg(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            let maxlen = opt.eq_ignore_ascii_case(b"maxlen");
            t.approx = false;
            let next = a.get(i + 1);
            if more >= 2 && next == b"~" {
                t.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if maxlen {
                let v = a.i64(i + 1)?;
                if v < 0 {
                    return Err(CmdError::msg("ERR The MAXLEN argument must be >= 0."));
                }
                t.trim = Some(Trim::MaxLen(v as u64));
            } else {
                t.trim = Some(Trim::MinId(strict_id(a.get(i + 1))?));
            }
            i += 1;
            t.trim_arg = i;
        } else if opt.eq_ignore_ascii_case(b"limit") && more > 0 {
            let v = a.i64(i + 1)?;
            if v < 0 {
                return Err(CmdError::msg("ERR The LIMIT argument must be >= 0."));
            }
            t.limit = v as u64;
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"nomkstream") {
            t.no_mkstream = true;
        } else if xadd {
            t.id = Some(parse_add_id(opt)?);
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if t.limit != 0 && t.trim.is_none() {
        return Err(CmdError::msg("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && t.trim.is_none() {
        return Err(CmdError::msg("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if must_obey(c) {
        t.limit = 0;
    } else if limit_given {
        if !t.approx {
            return Err(CmdError::msg("ERR syntax error, LIMIT cannot be used without the special ~ option"));
        }
    } else if t.approx {
        t.limit = node_limits(c.config).approx_trim_limit();
    } else {
        t.limit = 0;
    }
    Ok((t, i))
}

/// XADD's explicit ID: `ms-seq`, `ms` (sequence auto) or `ms-*`.
fn parse_add_id(b: &[u8]) -> Result<(StreamId, bool), CmdError> {
    if let Some(ms) = b.strip_suffix(b"-*") {
        let id = StreamId::parse(ms, 0).filter(|_| !ms.contains(&b'-')).ok_or_else(|| CmdError::msg(ERR_INVALID_ID))?;
        return Ok((id, false));
    }
    Ok((strict_id(b)?, true))
}

/// The ID XADD gives the new entry (Redis's `streamAppendItem` choice), or the error.
fn next_id(s: &StreamValue, given: Option<(StreamId, bool)>, now_ms: u64) -> Result<StreamId, CmdError> {
    let smaller = || CmdError::msg("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    let id = match given {
        None => {
            if s.last_id.ms >= now_ms {
                s.last_id.incr().ok_or_else(smaller)?
            } else {
                StreamId::new(now_ms, 0)
            }
        }
        Some((id, true)) => id,
        Some((id, false)) => {
            if s.last_id.ms == id.ms {
                if s.last_id.seq == u64::MAX {
                    return Err(smaller());
                }
                StreamId::new(id.ms, s.last_id.seq + 1)
            } else {
                id
            }
        }
    };
    if id <= s.last_id {
        return Err(smaller());
    }
    Ok(id)
}

/// Applies a trim and, after an approximate one, records the exact `=` form it
/// amounted to in `prop_args` (Redis's `streamRewriteApproxSpecifier` and
/// `streamRewriteTrimArgument`): MAXLEN the length left, MINID the first ID left.
fn trim_and_rewrite(s: &mut StreamValue, t: &TrimArgs, prop_args: &mut [Vec<u8>]) -> u64 {
    let Some(how) = t.trim else { return 0 };
    let removed = s.trim(how, t.approx, t.limit);
    if t.approx {
        prop_args[t.trim_arg - 1] = b"=".to_vec();
        prop_args[t.trim_arg] = match how {
            Trim::MaxLen(_) => s.len().to_string().into_bytes(),
            // An emptied stream has no first ID: Redis propagates the largest one
            // (`streamGetEdgeID`), which trims everything on replay; 0-0 would trim
            // nothing.
            Trim::MinId(_) => s.first_entry().map_or(StreamId::MAX, |e| e.id).to_bytes(),
        };
    }
    removed
}

fn xadd(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let (t, idpos) = parse_add_or_trim(c, a, true)?;
    let field_pos = idpos + 1;
    if a.len() < field_pos + 2 || (a.len() - field_pos) % 2 == 1 {
        return Err(CmdError::Msg(wrong_arity("xadd")));
    }
    if let Some((id, true)) = t.id
        && id.is_zero()
    {
        return Err(CmdError::msg("ERR The ID specified in XADD must be greater than 0-0"));
    }
    let key = a.get(1);
    let now = c.now_ms;
    let exists = write_stream(c, key)?.is_some();
    if !exists && t.no_mkstream {
        c.out.null();
        return Ok(());
    }
    let limits = node_limits(c.config);
    let mut fresh = StreamValue::new();
    let s: &mut StreamValue = match write_stream(c, key)? {
        Some(s) => s,
        None => &mut fresh,
    };
    if s.last_id == StreamId::MAX {
        return Err(CmdError::msg("ERR The stream has exhausted the last possible ID, unable to add more items"));
    }
    let id = next_id(s, t.id, now)?;
    let fields: Vec<(&[u8], &[u8])> = (field_pos..a.len()).step_by(2).map(|i| (a.get(i), a.get(i + 1))).collect();
    s.append_limited(id, &fields, limits);
    // What replay needs differs from the request only for a generated ID or an
    // approximate trim; otherwise the command propagates verbatim.
    let rewrite = t.approx || t.id.is_none_or(|(_, seq_given)| !seq_given);
    let mut prop: Vec<Vec<u8>> = if rewrite { a.iter().map(|x| x.to_vec()).collect() } else { Vec::new() };
    let trimmed =
        if rewrite { trim_and_rewrite(s, &t, &mut prop) } else { t.trim.map_or(0, |how| s.trim(how, false, t.limit)) };
    if !exists {
        c.dbs[c.db].set(key, Value::Stream(Box::new(fresh)), 0);
    }
    let idb = id.to_bytes();
    c.out.bulk(&idb);
    c.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        c.notify(notify::STREAM, "xtrim", key);
    }
    c.dirty += 1;
    if rewrite {
        if t.id.is_none_or(|(_, seq_given)| !seq_given) {
            prop[idpos] = idb;
        }
        c.prop.push_owned(crate::shard::OwnedArgs::from_slices(prop.iter().map(|v| v.as_slice())));
    }
    Ok(())
}

fn xtrim(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let key = a.get(1);
    // Redis parses the options before looking the key up: a bad option is an error
    // even on a missing key.
    let (t, _) = parse_add_or_trim(c, a, false)?;
    if write_stream(c, key)?.is_none() {
        c.out.int(0);
        return Ok(());
    }
    let mut prop: Vec<Vec<u8>> = a.iter().map(|x| x.to_vec()).collect();
    let s = write_stream(c, key)?.expect("checked above");
    let removed = trim_and_rewrite(s, &t, &mut prop);
    if removed > 0 {
        c.notify(notify::STREAM, "xtrim", key);
        c.dirty += removed;
        let prop: Vec<&[u8]> = prop.iter().map(|v| v.as_slice()).collect();
        c.prop.push(&prop);
    }
    c.out.int(removed as i64);
    Ok(())
}

// ---- XRANGE / XREVRANGE / XLEN / XDEL / XSETID -------------------------------------------

fn range_generic(c: &mut ExecCtx, a: &Args, rev: bool) -> Result<(), CmdError> {
    let (start_arg, end_arg) = if rev { (a.get(3), a.get(2)) } else { (a.get(2), a.get(3)) };
    let (mut start, start_ex) = interval_id(start_arg, 0)?;
    if start_ex {
        start = start.incr().ok_or_else(|| CmdError::msg("ERR invalid start ID for the interval"))?;
    }
    let (mut end, end_ex) = interval_id(end_arg, u64::MAX)?;
    if end_ex {
        end = end.decr().ok_or_else(|| CmdError::msg("ERR invalid end ID for the interval"))?;
    }
    let mut count: i64 = -1;
    let mut j = 4;
    while j < a.len() {
        if a.is(j, "count") && j + 1 < a.len() {
            count = a.i64(j + 1)?.max(0);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = c.now_ms;
    let (db, out, _) = c.parts();
    let Some(s) = stream_in(db, a.get(1), now)? else {
        out.array(0);
        return Ok(());
    };
    if count == 0 {
        out.null_array();
        return Ok(());
    }
    let limit = (count > 0).then_some(count as usize);
    let entries = if rev { s.rev_range(start, end, limit) } else { s.range(start, end, limit) };
    write_entries(out, &entries);
    Ok(())
}

fn xrange(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    range_generic(c, a, false)
}

fn xrevrange(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    range_generic(c, a, true)
}

fn xlen(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let n = read_stream(c, a.get(1))?.map_or(0, |s| s.len());
    c.out.int(n as i64);
    Ok(())
}

fn xdel(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let key = a.get(1);
    if write_stream(c, key)?.is_none() {
        c.out.int(0);
        return Ok(());
    }
    let ids = (2..a.len()).map(|i| strict_id(a.get(i))).collect::<Result<Vec<_>, _>>()?;
    let s = write_stream(c, key)?.expect("checked above");
    let deleted = ids.into_iter().filter(|id| s.delete(*id)).count();
    if deleted > 0 {
        c.notify(notify::STREAM, "xdel", key);
        c.dirty += deleted as u64;
    }
    c.out.int(deleted as i64);
    Ok(())
}

fn xsetid(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let id = strict_id(a.get(2))?;
    let mut entries_added: Option<u64> = None;
    let mut max_xdel = StreamId::ZERO;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if a.is(i, "entriesadded") && more > 0 {
            let v = a.i64(i + 1)?;
            if v < 0 {
                return Err(CmdError::msg("ERR entries_added must be positive"));
            }
            entries_added = Some(v as u64);
            i += 2;
        } else if a.is(i, "maxdeletedid") && more > 0 {
            max_xdel = strict_id(a.get(i + 1))?;
            if id < max_xdel {
                return Err(CmdError::msg(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = a.get(1);
    let s = write_stream(c, key)?.ok_or(CmdError::NoSuchKey)?;
    if !s.is_empty() {
        let top = s.last_live_id().unwrap_or(StreamId::ZERO);
        if id < top {
            return Err(CmdError::msg("ERR The ID specified in XSETID is smaller than the target stream top item"));
        }
        if entries_added.is_some_and(|n| s.len() > n) {
            return Err(CmdError::msg(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
        // Redis 7.0 does not check the ID against the current max-deleted-entry-id
        // (`XSETID s 4-3` after deleting 5-3 is accepted, the tombstone kept).
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    c.notify(notify::STREAM, "xsetid", key);
    c.dirty += 1;
    c.out.ok();
    Ok(())
}

/// A non-negative COUNT-like integer, as Redis parses it for these commands.
pub fn count_arg(a: &Args, i: usize) -> Result<i64, CmdError> {
    num::parse_i64(a.get(i)).ok_or(CmdError::NotInteger)
}

// ---- Table --------------------------------------------------------------------------------

const ONE_KEY: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "xadd",
        arity: -5,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(xadd),
        group: "stream",
        summary: "Appends a new message to a stream. Creates the key if it doesn't exist.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xtrim",
        arity: -4,
        flags: flag::WRITE,
        keys: ONE_KEY,
        handler: Handler::Keyed(xtrim),
        group: "stream",
        summary: "Deletes messages from the beginning of a stream.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xrange",
        arity: -4,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(xrange),
        group: "stream",
        summary: "Returns the messages from a stream within a range of IDs.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xrevrange",
        arity: -4,
        flags: flag::READONLY,
        keys: ONE_KEY,
        handler: Handler::Keyed(xrevrange),
        group: "stream",
        summary: "Returns the messages from a stream within a range of IDs in reverse order.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xlen",
        arity: 2,
        flags: flag::READONLY | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(xlen),
        group: "stream",
        summary: "Return the number of messages in a stream.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xdel",
        arity: -3,
        flags: flag::WRITE | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(xdel),
        group: "stream",
        summary: "Returns the number of messages after removing them from a stream.",
        since: "5.0.0",
    },
    CommandSpec {
        name: "xsetid",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM | flag::FAST,
        keys: ONE_KEY,
        handler: Handler::Keyed(xsetid),
        group: "stream",
        summary: "An internal command for replicating stream values.",
        since: "5.0.0",
    },
];
