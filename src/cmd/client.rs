//! CLIENT subcommands: ID, SETNAME, GETNAME, INFO, LIST, KILL, REPLY, NO-EVICT, PAUSE,
//! UNPAUSE, SETINFO, GETREDIR, TRACKINGINFO, HELP.
//!
//! What CLIENT LIST/KILL know about a connection lives in `ClientMeta`, kept by the
//! thread that owns the connection; so LIST and KILL are fan-outs that read (or mark)
//! the metadata on every shard. The connection's own entry is on this thread.

use super::Args;
use super::CmdError;
use super::client_replybuf::ReplyBufferPolicy;
use super::ctx::{ConnCtx, ConnOutcome, FanOut, ReplyMode};
use super::introspect::{help_reply, sub_arity, unknown_subcommand};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use crate::resp::Proto;
use crate::shard::state::ClientMeta;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Client names may not contain spaces, newlines or other special characters.
pub fn validate_name(n: &[u8]) -> Result<(), CmdError> {
    if n.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::msg("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    Ok(())
}

/// This connection's metadata. The connection layer registers every connection at
/// accept time; the entry is created here only for sessions that have no socket (the
/// test harness).
fn meta_mut<'a>(c: &'a mut ConnCtx) -> &'a mut ClientMeta {
    let (id, db, proto, now) = (c.sess.id, c.sess.db, c.sess.proto, c.st.now_ms);
    let input = c.st.input_client;
    let m = c.st.clients.entry(id).or_insert_with(|| ClientMeta {
        id,
        db,
        resp: if proto == Proto::Resp3 { 3 } else { 2 },
        created_ms: now,
        last_interaction_ms: now,
        multi: -1,
        ..Default::default()
    });
    // The receive that brought this request, not yet copied in (`ShardState::input_client`).
    if input.0 == id {
        m.last_interaction_ms = m.last_interaction_ms.max(input.1);
    }
    m
}

/// Client `id`'s CLIENT LIST line (empty if it has none here), with its `idle` as of
/// its latest receive (`ShardState::last_interaction_ms`): ACL LOG's `client-info`.
pub fn line_of(st: &crate::shard::ShardState, id: u64) -> String {
    let Some(m) = st.clients.get(&id) else { return String::new() };
    let seen = st.last_interaction_ms(m);
    if seen == m.last_interaction_ms {
        return info_line(m, st.now_ms);
    }
    info_line(&ClientMeta { last_interaction_ms: seen, ..m.clone() }, st.now_ms)
}

/// The client types of CLIENT LIST TYPE / CLIENT KILL TYPE.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

fn client_type(name: &[u8]) -> Result<ClientType, CmdError> {
    let t = match name.to_ascii_lowercase().as_slice() {
        b"normal" => ClientType::Normal,
        b"slave" | b"replica" => ClientType::Replica,
        b"master" => ClientType::Master,
        b"pubsub" => ClientType::PubSub,
        _ => {
            return Err(CmdError::msg(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(name))));
        }
    };
    Ok(t)
}

/// The caller's own line shows the command running now, as Redis's does: its name,
/// its arguments (`argv-mem`), and the query buffer still holding it (`qbuf`, with
/// the free space left of the buffer's size as last seen). The connection's next
/// `sync_meta` puts back the figures between commands.
fn note_running<'a>(c: &'a mut ConnCtx, a: &Args, name: &str) -> &'a mut ClientMeta {
    let batch = c.st.input_batch_len;
    let m = meta_mut(c);
    m.last_cmd = name.into();
    m.argv_mem = a.iter().map(|x| x.len()).sum();
    if let Some(rest) = a.input_len() {
        // Redis empties its query buffer only after the whole read was run: the
        // requests before this one in the same read still count.
        let qbuf = if matches!(a, Args::Ranges { .. }) { rest.max(batch) } else { rest };
        m.qbuf = qbuf;
        m.qbuf_free = query_buffer_free(qbuf, None);
    }
    m
}

/// Free space Redis 7.0's query buffer would show (`qbuf-free`) holding `qbuf` bytes,
/// while an argument of `pending_bulk` bytes is being received. Redis reads into a
/// 16 KiB buffer (its allocation is a 20 KiB size class: 20474 bytes usable), grows it
/// by doubling for a longer request, and sizes it exactly for a big argument (32 KiB
/// or more), read straight into it. Its cron gives the free space back once the
/// client is idle for 2 s (`shown_query_buffer_free`). Our buffers are different (a
/// shared receive ring), so this is Redis's figure for the same input, which is what
/// monitoring tools compare.
pub fn query_buffer_free(qbuf: usize, pending_bulk: Option<usize>) -> usize {
    const READ_BUFFER_FREE: usize = 20474;
    const BIG_ARG: usize = 32 * 1024;
    match pending_bulk {
        Some(len) if len >= BIG_ARG => len.saturating_sub(qbuf),
        _ if qbuf <= READ_BUFFER_FREE => READ_BUFFER_FREE - qbuf,
        _ => qbuf,
    }
}

/// `qbuf-free` as shown: Redis's client cron trims a query buffer wasting more than
/// 4 KiB once its client has been idle for more than 2 s.
fn shown_query_buffer_free(m: &ClientMeta, now_ms: u64) -> usize {
    let idle_secs = now_ms.saturating_sub(m.last_interaction_ms) / 1000;
    if idle_secs > 2 && m.qbuf_free > 4096 { 0 } else { m.qbuf_free }
}

/// The type of a connection, as Redis's `getClientType` decides it.
fn type_of(m: &ClientMeta) -> ClientType {
    if m.master {
        ClientType::Master
    } else if m.replica {
        ClientType::Replica
    } else if m.sub + m.psub + m.ssub > 0 {
        ClientType::PubSub
    } else {
        ClientType::Normal
    }
}

/// One CLIENT LIST / CLIENT INFO line, Redis 7.0's fields in its order (7.2's
/// lib-name/lib-ver, like its CLIENT SETINFO, are not 7.0's), without the trailing
/// newline. The sizes are as of the connection's last activity
/// (`net::Conn::sync_meta`); `multi-mem`, which shardis does not count, reads 0.
/// `rbs`/`rbp` follow the default reply buffer policy (CLIENT LIST and CLIENT INFO
/// use the shard's, which DEBUG REPLYBUFFER changes).
pub fn info_line(m: &ClientMeta, now_ms: u64) -> String {
    render_line(m, now_ms, (m.qbuf, shown_query_buffer_free(m, now_ms)), ReplyBufferPolicy::default())
}

/// `info_line` with the query buffer's (`qbuf`, `qbuf-free`) and the reply buffer
/// policy given.
fn render_line(m: &ClientMeta, now_ms: u64, (qbuf, qbuf_free): (usize, usize), policy: ReplyBufferPolicy) -> String {
    let mut flags = String::new();
    if m.replica {
        flags.push('S');
    }
    if m.master {
        flags.push('M');
    }
    if m.monitor {
        flags.push('O');
    }
    if m.sub + m.psub + m.ssub > 0 {
        flags.push('P');
    }
    if m.multi >= 0 {
        flags.push('x');
    }
    if m.blocked {
        flags.push('b');
    }
    if m.unix {
        flags.push('U');
    }
    if m.no_evict {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let cmd = if m.last_cmd.is_empty() { "NULL" } else { m.last_cmd.as_str() };
    let (rbs, rbp) = m.reply_buf.shown(now_ms, policy);
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
         qbuf={} qbuf-free={} argv-mem={} multi-mem=0 rbs={} rbp={} obl={} oll={} omem={} tot-mem={} events={} \
         cmd={} user={} redir=-1 resp={}",
        m.id,
        m.addr,
        m.laddr,
        m.fd,
        m.name,
        now_ms.saturating_sub(m.created_ms) / 1000,
        now_ms.saturating_sub(m.last_interaction_ms) / 1000,
        flags,
        m.db,
        m.sub,
        m.psub,
        m.ssub,
        m.multi,
        qbuf,
        qbuf_free,
        m.argv_mem,
        rbs,
        rbp,
        m.obl,
        m.oll,
        m.omem,
        m.tot_mem.max(m.qbuf + m.omem),
        if m.omem > 0 { "rw" } else { "r" },
        cmd,
        m.user.as_deref().unwrap_or("default"),
        m.resp,
    )
}

fn list(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let mut ty = None;
    let mut ids: Option<Vec<u64>> = None;
    if a.len() == 4 && a.is(2, "TYPE") {
        ty = Some(client_type(a.get(3))?);
    } else if a.len() > 3 && a.is(2, "ID") {
        let mut v = Vec::new();
        for i in 3..a.len() {
            // Any integer is accepted; ids that match no client just select nothing.
            let id = a.i64(i).map_err(|_| CmdError::msg("ERR Invalid client ID"))?;
            if id > 0 {
                v.push(id as u64);
            }
        }
        ids = Some(v);
    } else if a.len() != 2 {
        return Err(CmdError::Syntax);
    }
    // The caller's line is drawn on its shard after the request left the read
    // buffer: it shows the query buffer as it was while the request ran.
    let me = note_running(c, a, "client|list");
    let (me, my_qbuf) = (me.id, (me.qbuf, me.qbuf_free));
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| {
            let (now, policy) = (st.now_ms, st.reply_buffer_policy);
            let lines: Vec<(u64, String)> = st
                .clients
                .values()
                .filter(|m| ty.is_none_or(|t| type_of(m) == t))
                .filter(|m| ids.as_ref().is_none_or(|v| v.contains(&m.id)))
                .map(|m| {
                    let qbuf = if m.id == me { my_qbuf } else { (m.qbuf, shown_query_buffer_free(m, now)) };
                    (m.id, render_line(m, now, qbuf, policy))
                })
                .collect();
            Box::new(lines)
        }),
        lock_whole: false,
        finish: Box::new(|_, results, out| {
            let mut all: Vec<(u64, String)> =
                results.into_iter().flat_map(|(_, r)| *r.downcast::<Vec<(u64, String)>>().expect("lines")).collect();
            all.sort_by_key(|(id, _)| *id);
            let mut text = String::new();
            for (_, l) in all {
                text.push_str(&l);
                text.push('\n');
            }
            out.verbatim(b"txt", text.as_bytes());
        }),
    }))
}

/// CLIENT KILL's filters; every given one must match.
#[derive(Clone, Default)]
struct KillFilter {
    id: Option<u64>,
    ty: Option<ClientType>,
    addr: Option<String>,
    laddr: Option<String>,
    skip: Option<u64>,
    user: Option<String>,
}

impl KillFilter {
    fn matches(&self, m: &ClientMeta) -> bool {
        self.id.is_none_or(|id| m.id == id)
            && self.ty.is_none_or(|t| type_of(m) == t)
            && self.addr.as_ref().is_none_or(|a| *a == m.addr)
            && self.laddr.as_ref().is_none_or(|a| *a == m.laddr)
            && self.skip != Some(m.id)
            && self.user.as_ref().is_none_or(|u| u == m.user.as_deref().unwrap_or("default"))
    }
}

fn kill(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    sub_arity(a, "client|kill", -3)?;
    let old_form = a.len() == 3;
    let mut f = KillFilter::default();
    if old_form {
        f.addr = Some(a.str(2));
    } else {
        let mut skipme = true;
        let mut i = 2;
        while i < a.len() {
            if i + 1 >= a.len() {
                return Err(CmdError::Syntax);
            }
            if a.is(i, "ID") {
                match a.i64(i + 1) {
                    Ok(id) if id >= 1 => f.id = Some(id as u64),
                    _ => return Err(CmdError::msg("ERR client-id should be greater than 0")),
                }
            } else if a.is(i, "TYPE") {
                f.ty = Some(client_type(a.get(i + 1))?);
            } else if a.is(i, "ADDR") {
                f.addr = Some(a.str(i + 1));
            } else if a.is(i, "LADDR") {
                f.laddr = Some(a.str(i + 1));
            } else if a.is(i, "USER") {
                if c.st.shared.acl.user(&a.str(i + 1)).is_none() {
                    return Err(CmdError::msg(format!("ERR No such user '{}'", a.str(i + 1))));
                }
                f.user = Some(a.str(i + 1));
            } else if a.is(i, "SKIPME") {
                if a.is(i + 1, "YES") {
                    skipme = true;
                } else if a.is(i + 1, "NO") {
                    skipme = false;
                } else {
                    return Err(CmdError::Syntax);
                }
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
        if skipme {
            f.skip = Some(c.sess.id);
        }
    }
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| {
            let hit: Vec<u64> = st.clients.values().filter(|m| f.matches(m)).map(|m| m.id).collect();
            for id in &hit {
                if let Some(m) = st.clients.get_mut(id) {
                    m.kill = true;
                }
            }
            let mut n = hit.len() as i64;
            // Replicas live in the replication thread, not in any shard's clients.
            if st.id == 0 && f.ty == Some(ClientType::Replica) && f.id.is_none() && f.addr.is_none() {
                n += crate::repl::master::kill_replicas(&st.shared) as i64;
            }
            // The connection layer closes these at the end of this loop turn.
            st.kill_list.extend(hit);
            Box::new(n)
        }),
        lock_whole: false,
        finish: Box::new(move |_, results, out| {
            let n: i64 = results.into_iter().map(|(_, r)| *r.downcast::<i64>().expect("count")).sum();
            if !old_form {
                out.int(n);
            } else if n == 0 {
                out.error("ERR No such client");
            } else {
                out.ok();
            }
        }),
    }))
}

/// CLIENT PAUSE timeout [WRITE|ALL]: Redis keeps the later end time and the stronger
/// mode of overlapping pauses.
/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: wakes a client blocked on any shard.
fn unblock(_c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.len() != 3 && a.len() != 4 {
        return Err(CmdError::msg(super::error::wrong_arity("client|unblock")));
    }
    let id = a.i64(2).map_err(|_| CmdError::NotInteger)?;
    let as_error = if a.len() == 4 {
        if a.is(3, "ERROR") {
            true
        } else if a.is(3, "TIMEOUT") {
            false
        } else {
            return Err(CmdError::msg("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
        }
    } else {
        false
    };
    let client = id as u64;
    Ok(ConnOutcome::FanOut(super::ctx::FanOut {
        hop: std::sync::Arc::new(move |st: &mut crate::shard::ShardState| -> crate::shard::HopResult {
            Box::new(super::blocking::unblock_client(st, client, Some(as_error)) as i64)
        }),
        lock_whole: false,
        finish: Box::new(|_, results, out| {
            let n: i64 = results.into_iter().map(|(_, r)| *r.downcast::<i64>().expect("count")).sum();
            out.int(n.min(1));
        }),
    }))
}

fn pause(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    sub_arity(a, "client|pause", -3)?;
    if a.len() > 4 {
        return Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            a.str(1)
        )));
    }
    let mut writes_only = false;
    if a.len() == 4 {
        if a.is(3, "WRITE") {
            writes_only = true;
        } else if !a.is(3, "ALL") {
            return Err(CmdError::msg("ERR CLIENT PAUSE mode must be WRITE or ALL"));
        }
    }
    let ms = a.i64(2).map_err(|_| CmdError::msg("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::msg("ERR timeout is negative"));
    }
    let shared = c.st.shared.clone();
    let now = c.st.clock.now_ms();
    let end = now.saturating_add(ms as u64);
    let cur = shared.pause_until_ms.load(Ordering::Acquire);
    let active = cur > now;
    let all = !writes_only || (active && !shared.pause_writes_only.load(Ordering::Acquire));
    shared.pause_writes_only.store(!all, Ordering::Release);
    shared.pause_until_ms.store(if active { cur.max(end) } else { end }, Ordering::Release);
    // This thread's later commands of the turn keep expired keys already; the other
    // shards see the pause at their next turn, before anything this one sends them.
    crate::storage::db::set_expiry_paused(c.st.clients_paused());
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn unpause(c: &mut ConnCtx) {
    let shared = c.st.shared.clone();
    shared.pause_until_ms.store(0, Ordering::Release);
    shared.pause_writes_only.store(false, Ordering::Release);
    crate::storage::db::set_expiry_paused(c.st.clients_paused());
    // Paused connections on parked shards resume now rather than at their next timer.
    let me = c.st.id;
    for s in 0..c.st.nshards {
        if s != me {
            c.st.wakes.push(s as u16);
        }
    }
}

const HELP: &[&str] = &[
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]",
    "      Return clients with the given IDs.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

fn client(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.is(1, "ID") {
        sub_arity(a, "client|id", 2)?;
        c.out.int(c.sess.id as i64);
    } else if a.is(1, "SETNAME") {
        sub_arity(a, "client|setname", 3)?;
        validate_name(a.get(2))?;
        meta_mut(c).name = a.str(2);
        c.out.ok();
    } else if a.is(1, "GETNAME") {
        sub_arity(a, "client|getname", 2)?;
        let name = c.st.clients.get(&c.sess.id).map(|m| m.name.clone()).unwrap_or_default();
        if name.is_empty() {
            c.out.null();
        } else {
            c.out.bulk(name.as_bytes());
        }
    } else if a.is(1, "INFO") {
        sub_arity(a, "client|info", 2)?;
        let (now, policy) = (c.st.now_ms, c.st.reply_buffer_policy);
        let m = note_running(c, a, "client|info");
        let line = render_line(m, now, (m.qbuf, shown_query_buffer_free(m, now)), policy) + "\n";
        c.out.verbatim(b"txt", line.as_bytes());
    } else if a.is(1, "LIST") {
        sub_arity(a, "client|list", -2)?;
        return list(c, a);
    } else if a.is(1, "UNBLOCK") {
        return unblock(c, a);
    } else if a.is(1, "KILL") {
        return kill(c, a);
    } else if a.is(1, "REPLY") {
        sub_arity(a, "client|reply", 3)?;
        // OFF and SKIP reply nothing: the connection layer drops replies by mode.
        if a.is(2, "ON") {
            c.sess.reply = ReplyMode::On;
            c.out.ok();
        } else if a.is(2, "OFF") {
            c.sess.reply = ReplyMode::Off;
        } else if a.is(2, "SKIP") {
            // Under OFF, SKIP changes nothing (as in Redis, OFF wins).
            if c.sess.reply != ReplyMode::Off {
                c.sess.reply = ReplyMode::SkipNext;
            }
        } else {
            return Err(CmdError::Syntax);
        }
    } else if a.is(1, "NO-EVICT") {
        sub_arity(a, "client|no-evict", 3)?;
        let on = if a.is(2, "ON") {
            true
        } else if a.is(2, "OFF") {
            false
        } else {
            return Err(CmdError::Syntax);
        };
        meta_mut(c).no_evict = on;
        c.out.ok();
    } else if a.is(1, "PAUSE") {
        return pause(c, a);
    } else if a.is(1, "UNPAUSE") {
        sub_arity(a, "client|unpause", 2)?;
        unpause(c);
        c.out.ok();
    } else if a.is(1, "GETREDIR") {
        sub_arity(a, "client|getredir", 2)?;
        super::tracking::getredir(c);
    } else if a.is(1, "TRACKINGINFO") {
        sub_arity(a, "client|trackinginfo", 2)?;
        super::tracking::trackinginfo(c);
    } else if a.is(1, "TRACKING") {
        sub_arity(a, "client|tracking", -3)?;
        return super::tracking::tracking_cmd(c, a);
    } else if a.is(1, "CACHING") {
        sub_arity(a, "client|caching", 3)?;
        return super::tracking::caching(c, a);
    } else if a.is(1, "HELP") {
        sub_arity(a, "client|help", 2)?;
        help_reply(&mut c.out, "CLIENT", HELP);
    } else {
        return Err(unknown_subcommand(a));
    }
    Ok(ConnOutcome::Done)
}

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "client",
    arity: -2,
    flags: flag::STALE | flag::LOADING,
    keys: KeySpec::None,
    handler: Handler::Conn(client),
    group: "connection",
    summary: "A container for client connection commands.",
    since: "2.4.0",
}];

#[cfg(test)]
mod tests {
    use super::ReplyMode;
    use crate::cmd::harness::{Harness, Reply};
    use crate::shard::state::ClientMeta;

    fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }

    fn text(r: Reply) -> String {
        match r {
            Reply::Bulk(b) => String::from_utf8(b).unwrap(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// Registers a fake connection on shard `s`, as the connection layer would.
    fn add_client(h: &mut Harness, s: usize, id: u64, addr: &str) {
        let now = h.clock.now_ms();
        h.shards[s].clients.insert(
            id,
            ClientMeta {
                id,
                addr: addr.into(),
                laddr: "127.0.0.1:6379".into(),
                resp: 2,
                multi: -1,
                created_ms: now,
                last_interaction_ms: now,
                ..Default::default()
            },
        );
    }

    #[test]
    fn names() {
        let mut h = Harness::new(1);
        assert_eq!(h.run(&["client", "getname"]), Reply::Nil);
        assert_eq!(h.run(&["client", "setname", "worker-1"]), ok());
        assert_eq!(h.run(&["client", "getname"]), Reply::bulk("worker-1"));
        assert_eq!(
            h.run(&["client", "setname", "a b"]),
            err("ERR Client names cannot contain spaces, newlines or special characters.")
        );
        assert_eq!(h.run(&["client", "setname", ""]), ok());
        assert_eq!(h.run(&["client", "getname"]), Reply::Nil);
        assert_eq!(h.run(&["client", "setname"]), err("ERR wrong number of arguments for 'client|setname' command"));
        assert_eq!(h.run(&["client", "id"]), Reply::Int(1));
        assert_eq!(h.run(&["client", "nope"]), err("ERR unknown subcommand 'nope'. Try CLIENT HELP."));
    }

    #[test]
    fn list_and_info_across_shards() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["client", "setname", "me"]);
            add_client(&mut h, n - 1, 7, "127.0.0.1:5000");
            add_client(&mut h, 0, 9, "127.0.0.1:5001");
            h.advance_ms(3000);
            let all = text(h.run(&["client", "list"]));
            let lines: Vec<&str> = all.lines().collect();
            assert_eq!(lines.len(), 3, "{all}");
            assert!(lines[0].starts_with("id=1 addr= laddr= fd=0 name=me age=3 idle=3 flags=N db=0 "), "{}", lines[0]);
            assert!(lines[0].contains(" cmd=client|list user=default redir=-1 resp=2"), "{}", lines[0]);
            assert!(lines[1].starts_with("id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 "));
            assert!(lines[2].starts_with("id=9 "));
            let some = text(h.run(&["client", "list", "id", "9", "7"]));
            assert_eq!(some.lines().count(), 2);
            assert_eq!(text(h.run(&["client", "list", "type", "pubsub"])), "");
            assert_eq!(text(h.run(&["client", "list", "type", "normal"])).lines().count(), 3);
            assert_eq!(h.run(&["client", "list", "type", "x"]), err("ERR Unknown client type 'x'"));
            assert_eq!(h.run(&["client", "list", "id", "x"]), err("ERR Invalid client ID"));
            assert_eq!(text(h.run(&["client", "list", "id", "0"])), "");
            assert_eq!(h.run(&["client", "list", "bogus"]), err("ERR syntax error"));
            let info = text(h.run(&["client", "info"]));
            assert!(info.starts_with("id=1 ") && info.ends_with("\n") && info.contains(" cmd=client|info "));
        }
    }

    #[test]
    fn kill_filters() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["client", "id"]);
            add_client(&mut h, n - 1, 7, "127.0.0.1:5000");
            add_client(&mut h, 0, 9, "127.0.0.1:5001");
            assert_eq!(h.run(&["client", "kill", "127.0.0.1:6000"]), err("ERR No such client"));
            assert_eq!(h.run(&["client", "kill", "127.0.0.1:5000"]), ok());
            assert!(h.shards[n - 1].kill_list.contains(&7));
            assert_eq!(h.run(&["client", "kill", "id", "9", "type", "normal"]), Reply::Int(1));
            assert!(h.shards[0].kill_list.contains(&9));
            // SKIPME defaults to yes: our own connection survives.
            h.run(&["client", "setname", "me"]);
            assert_eq!(h.run(&["client", "kill", "id", "1"]), Reply::Int(0));
            assert_eq!(h.run(&["client", "kill", "id", "1", "skipme", "no"]), Reply::Int(1));
            assert_eq!(h.run(&["client", "kill", "id", "0"]), err("ERR client-id should be greater than 0"));
            assert_eq!(h.run(&["client", "kill", "user", "bob"]), err("ERR No such user 'bob'"));
            // Three arguments is the old form: "id" is taken as an address.
            assert_eq!(h.run(&["client", "kill", "id"]), err("ERR No such client"));
            assert_eq!(h.run(&["client", "kill", "id", "1", "type"]), err("ERR syntax error"));
            assert_eq!(h.run(&["client", "kill", "skipme", "maybe"]), err("ERR syntax error"));
            assert_eq!(h.run(&["client", "kill", "type", "x"]), err("ERR Unknown client type 'x'"));
        }
    }

    #[test]
    fn reply_modes_and_misc() {
        let mut h = Harness::new(1);
        assert!(h.run_raw(&[b"client", b"reply", b"off"]).is_empty());
        assert_eq!(h.sess.reply, ReplyMode::Off);
        assert_eq!(h.run(&["client", "reply", "on"]), ok());
        assert!(h.run_raw(&[b"client", b"reply", b"skip"]).is_empty());
        assert_eq!(h.sess.reply, ReplyMode::SkipNext);
        h.sess.reply = ReplyMode::On;
        assert_eq!(h.run(&["client", "reply", "maybe"]), err("ERR syntax error"));
        assert_eq!(h.run(&["client", "no-evict", "on"]), ok());
        assert!(h.shards[0].clients[&1].no_evict);
        assert_eq!(h.run(&["client", "no-evict", "x"]), err("ERR syntax error"));
        // CLIENT SETINFO is Redis 7.2's.
        assert_eq!(
            h.run(&["client", "setinfo", "lib-name", "redis-py"]),
            err("ERR unknown subcommand 'setinfo'. Try CLIENT HELP.")
        );
        let info = text(h.run(&["client", "info"]));
        assert!(info.contains("flags=e ") && info.ends_with(" resp=2\n"), "{info}");
        assert_eq!(h.run(&["client", "getredir"]), Reply::Int(-1));
        let Reply::Array(help) = h.run(&["client", "help"]) else { panic!() };
        assert!(help.len() > 10);
    }

    #[test]
    fn pause_and_unpause() {
        let mut h = Harness::new(2);
        let shared = h.shards[0].shared.clone();
        use std::sync::atomic::Ordering::SeqCst;
        assert_eq!(h.run(&["client", "pause", "100", "write"]), ok());
        let now = h.clock.now_ms();
        assert_eq!(shared.pause_until_ms.load(SeqCst), now + 100);
        assert!(shared.pause_writes_only.load(SeqCst));
        // A shorter ALL pause keeps the later end and makes the pause total.
        assert_eq!(h.run(&["client", "pause", "50"]), ok());
        assert_eq!(shared.pause_until_ms.load(SeqCst), now + 100);
        assert!(!shared.pause_writes_only.load(SeqCst));
        assert_eq!(h.run(&["client", "unpause"]), ok());
        assert_eq!(shared.pause_until_ms.load(SeqCst), 0);
        assert_eq!(h.run(&["client", "pause", "-1"]), err("ERR timeout is negative"));
        assert_eq!(h.run(&["client", "pause", "x"]), err("ERR timeout is not an integer or out of range"));
        assert_eq!(h.run(&["client", "pause", "10", "some"]), err("ERR CLIENT PAUSE mode must be WRITE or ALL"));
        assert_eq!(h.run(&["client", "pause"]), err("ERR wrong number of arguments for 'client|pause' command"));
    }
}
