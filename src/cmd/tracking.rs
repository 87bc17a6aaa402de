//! Client-side caching: CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO, and the
//! flow of invalidations across shards (the state is in `shard::tracking`).
//!
//! - **Reads.** When a tracking client runs a read-only keyed command, its home shard
//!   decides at dispatch whether the read is tracked (mode, OPTIN/OPTOUT and the
//!   CLIENT CACHING flag) and records (client, home) for each key on the key's owner
//!   shard: directly when that is home, else as a hop queued ahead of the command in
//!   the same batch, so the key is remembered before the read runs. A script reads
//!   when it runs a read-only command, and then, as in Redis 7.0, its declared keys
//!   count as read: its home notes the client as a reader
//!   (`ScriptShared::note_reader`), and wherever the script runs, its declared keys
//!   are remembered on their owners once it returns.
//! - **Writes.** Every path that changes keys (`dispatch::call`'s choke point, the
//!   write-back of cross-shard transactions, flushes) calls [`invalidate`] on the
//!   owner shard: it takes the key's clients out of the table, adds the BCAST clients
//!   whose prefix matches, and sends each home shard its (client, key) pairs.
//! - **Delivery.** The home shard drops clients that no longer track, applies NOLOOP,
//!   and writes `invalidate` for the client itself (RESP3 push) or its REDIRECT target
//!   (a RESP3 push, or a RESP2 `message` on `__redis__:invalidate` if it subscribed),
//!   on whichever shard the target lives.
//!
//! `tracking-table-max-keys` bounds the table (keys past it are invalidated at the
//! next read that adds one). Keys that expire are invalidated like written ones
//! (`ShardState::account_expired`); a RESP3 client whose REDIRECT target went away
//! gets `tracking-redir-broken` instead of each invalidation.

use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::table::{CommandSpec, flag};
use super::{Args, CmdError};
use crate::resp::{Proto, ReplyWriter};
use crate::shard::msg::CoordRef;
use crate::shard::tracking::ClientTracking;
use crate::shard::{Msg, ShardState, shard_of};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A client as (id, the shard its connection lives on).
type ClientAt = (u64, u16);

/// The Pub/Sub channel of RESP2 redirected invalidations.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// Is anything to invalidate on writes at this shard (keys in its table, or BCAST
/// clients anywhere)?
#[inline]
pub fn writes_matter(st: &ShardState) -> bool {
    !st.tracking.table.is_empty() || st.shared.tracking.bcast_len.load(Ordering::Relaxed) != 0
}

/// Queues `hop` on shard `s` (or runs it here), for work whose answer nobody waits for.
fn run_on(st: &mut ShardState, s: usize, hop: impl Fn(&mut ShardState) + Send + Sync + 'static) {
    if s == st.id {
        hop(st);
        return;
    }
    let me = CoordRef { shard: st.id as u16, id: 0 };
    let hop: crate::shard::Hop = Arc::new(move |st: &mut ShardState| {
        hop(st);
        Box::new(())
    });
    st.outbox.push(s, Msg::Run { coord: me, hop });
}

// ---- CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO ----------------------------

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn tracking_cmd(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let on = if a.is(2, "on") {
        true
    } else if a.is(2, "off") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let mut t = ClientTracking::default();
    let mut redirect: Option<u64> = None;
    let mut i = 3;
    while i < a.len() {
        if a.is(i, "redirect") && i + 1 < a.len() {
            let id = a.i64(i + 1)?;
            redirect = Some(id.max(0) as u64);
            i += 1;
        } else if a.is(i, "prefix") && i + 1 < a.len() {
            t.prefixes.push(a.get(i + 1).to_vec());
            i += 1;
        } else if a.is(i, "bcast") {
            t.bcast = true;
        } else if a.is(i, "optin") {
            t.optin = true;
        } else if a.is(i, "optout") {
            t.optout = true;
        } else if a.is(i, "noloop") {
            t.noloop = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let id = c.sess.id;
    if !on {
        stop(c.st, id);
        c.out.ok();
        return Ok(ConnOutcome::Done);
    }
    if !t.bcast && !t.prefixes.is_empty() {
        return Err(CmdError::msg("ERR PREFIX option requires BCAST mode to be enabled"));
    }
    if let Some(old) = c.st.tracking.clients.get(&id)
        && old.bcast != t.bcast
    {
        return Err(CmdError::msg(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if t.optin && t.optout {
        return Err(CmdError::msg("ERR You can't specify both OPTIN mode and OPTOUT mode"));
    }
    // Only OPTIN straight to OPTOUT or back is refused: from or to the plain mode
    // is a switch Redis makes (its flags are reset, then set again).
    if let Some(old) = c.st.tracking.clients.get(&id)
        && ((t.optin && old.optout) || (t.optout && old.optin))
    {
        return Err(CmdError::msg(
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if t.bcast && (t.optin || t.optout) {
        return Err(CmdError::msg("ERR OPTIN and OPTOUT are not compatible with BCAST"));
    }
    check_prefixes(c.st.tracking.clients.get(&id).map(|o| &o.prefixes[..]).unwrap_or(&[]), &t.prefixes)?;
    match redirect {
        None => {
            start(c.st, id, t);
            c.out.ok();
            Ok(ConnOutcome::Done)
        }
        Some(r) if r == id || c.st.clients.contains_key(&r) => {
            t.redirect = Some((r, c.st.id as u16));
            start(c.st, id, t);
            c.out.ok();
            Ok(ConnOutcome::Done)
        }
        // The target lives on another thread, if anywhere: find it first.
        Some(r) => Ok(ConnOutcome::FanOut(FanOut {
            hop: Arc::new(move |st: &mut ShardState| Box::new(st.clients.contains_key(&r))),
            lock_whole: false,
            finish: Box::new(move |st, results, out| {
                match results.into_iter().find(|(_, found)| found.downcast_ref::<bool>() == Some(&true)) {
                    Some((shard, _)) => {
                        t.redirect = Some((r, shard));
                        start(st, id, t);
                        out.ok();
                    }
                    None => out.error("ERR The client ID you want redirect to does not exist"),
                }
            }),
        })),
    }
}

/// Redis refuses prefixes of one client where one starts with another.
fn check_prefixes(old: &[Vec<u8>], new: &[Vec<u8>]) -> Result<(), CmdError> {
    for (i, p) in new.iter().enumerate() {
        for (j, q) in new.iter().enumerate() {
            if i != j && (p.starts_with(q) || q.starts_with(p)) {
                return Err(CmdError::msg(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                )));
            }
        }
        for q in old {
            if p != q && (p.starts_with(q) || q.starts_with(p)) {
                return Err(CmdError::msg(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                )));
            }
        }
    }
    Ok(())
}

/// Turns tracking on (or updates it: Redis adds the new prefixes to the old ones).
fn start(st: &mut ShardState, id: u64, mut t: ClientTracking) {
    let home = st.id as u16;
    let shared = st.shared.clone();
    match st.tracking.clients.get_mut(&id) {
        Some(old) => {
            let fresh: Vec<Vec<u8>> = t.prefixes.iter().filter(|p| !old.prefixes.contains(p)).cloned().collect();
            if old.bcast && !fresh.is_empty() {
                // The empty prefix of a BCAST without PREFIX covers everything already.
                if !old.prefixes.is_empty() {
                    shared.tracking.add_bcast(id, home, &fresh);
                }
                old.prefixes.extend(fresh);
            }
            old.noloop = t.noloop;
            old.redirect = t.redirect;
            // Redis resets the mode flags and sets the new ones.
            old.optin = t.optin;
            old.optout = t.optout;
        }
        None => {
            if t.bcast {
                shared.tracking.add_bcast(id, home, &t.prefixes);
            }
            t.caching = None;
            st.tracking.clients.insert(id, t);
            shared.tracking.clients.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Tracking off for `id` (CLIENT TRACKING OFF, RESET, the client went away). The keys
/// it read stay in the owners' tables until written; its home skips it then.
pub fn stop(st: &mut ShardState, id: u64) {
    if let Some(t) = st.tracking.clients.remove(&id) {
        if t.bcast {
            st.shared.tracking.remove_bcast(id);
        }
        st.shared.tracking.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// CLIENT CACHING YES|NO
pub fn caching(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let yes = if a.is(2, "yes") {
        true
    } else if a.is(2, "no") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let Some(t) = c.st.tracking.clients.get_mut(&c.sess.id).filter(|t| t.optin || t.optout) else {
        return Err(CmdError::msg(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if yes && !t.optin {
        return Err(CmdError::msg("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."));
    }
    if !yes && !t.optout {
        return Err(CmdError::msg("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."));
    }
    t.caching = Some(yes);
    c.out.ok();
    Ok(ConnOutcome::Done)
}

/// CLIENT GETREDIR: -1 when not tracking, 0 when tracking without a redirect.
pub fn getredir(c: &mut ConnCtx) {
    let r = match c.st.tracking.clients.get(&c.sess.id) {
        None => -1,
        Some(t) => t.redirect.map_or(0, |(id, _)| id as i64),
    };
    c.out.int(r);
}

/// CLIENT TRACKINGINFO
pub fn trackinginfo(c: &mut ConnCtx) {
    let t = c.st.tracking.clients.get(&c.sess.id);
    let mut flags: Vec<&str> = Vec::new();
    match t {
        None => flags.push("off"),
        Some(t) => {
            flags.push("on");
            for (set, name) in [(t.bcast, "bcast"), (t.optin, "optin"), (t.optout, "optout")] {
                if set {
                    flags.push(name);
                }
            }
            match t.caching {
                Some(true) => flags.push("caching-yes"),
                Some(false) => flags.push("caching-no"),
                None => {}
            }
            if t.noloop {
                flags.push("noloop");
            }
        }
    }
    c.out.map(3);
    c.out.bulk(b"flags");
    c.out.set(flags.len());
    for f in flags {
        c.out.bulk(f.as_bytes());
    }
    c.out.bulk(b"redirect");
    c.out.int(match t {
        None => -1,
        Some(t) => t.redirect.map_or(0, |(id, _)| id as i64),
    });
    c.out.bulk(b"prefixes");
    // Redis lists them from its radix tree: sorted.
    let mut prefixes = t.map(|t| t.prefixes.clone()).unwrap_or_default();
    prefixes.sort();
    c.out.array(prefixes.len());
    for p in prefixes {
        c.out.bulk(&p);
    }
}

// ---- reads --------------------------------------------------------------------------

/// Called at dispatch for every command of a client on a thread with tracking
/// clients: consumes the CLIENT CACHING flag and, for a tracked read, records the
/// command's keys with their owners.
///
/// As in Redis, CLIENT commands, MULTI and the commands of a transaction keep the
/// flag (`in_tx`); EXEC's end clears it ([`end_of_command`]).
pub fn on_command(st: &mut ShardState, client: u64, spec: &CommandSpec, args: &Args, db: u16, in_tx: bool) {
    let Some(t) = st.tracking.clients.get_mut(&client) else { return };
    if matches!(spec.name, "client" | "multi" | "exec") {
        return;
    }
    let caching = if in_tx { t.caching } else { t.caching.take() };
    // A script's keys are read when it runs a read-only command (`remember_reads`),
    // not at dispatch, even for EVAL_RO and the like (Redis skips those too).
    let script = super::script::is_script_spec(spec);
    if (spec.flags & flag::READONLY == 0 && !script) || t.bcast {
        return;
    }
    let tracked = if t.optin {
        caching == Some(true)
    } else if t.optout {
        caching != Some(false)
    } else {
        true
    };
    if !tracked {
        return;
    }
    if script {
        st.shared.script.note_reader(client, st.id as u16);
        return;
    }
    let Ok(keys) = spec.key_positions(args, db) else { return };
    let home = st.id as u16;
    let mut per: Vec<Vec<Vec<u8>>> = vec![Vec::new(); st.nshards];
    for (_, i) in keys {
        let k = args.get(i);
        per[shard_of(k, st.nshards)].push(k.to_vec());
    }
    for (s, keys) in per.into_iter().enumerate() {
        if !keys.is_empty() {
            run_on(st, s, move |st| remember(st, &keys, client, home));
        }
    }
}

/// A command that kept the CLIENT CACHING flag is over (EXEC).
pub fn end_of_command(st: &mut ShardState, client: u64) {
    if let Some(t) = st.tracking.clients.get_mut(&client) {
        t.caching = None;
    }
}

/// A script of `client` (home shard `home`) ran a read-only command: remember its
/// declared `keys`, each on its owner shard. Redis 7.0 remembers the caller's keys
/// (`trackingRememberKeys(caller)` reads the caller's arguments), not the keys of the
/// command the script ran: the same here.
pub fn remember_reads(st: &mut ShardState, keys: Vec<Vec<u8>>, client: u64, home: u16) {
    let mut per: Vec<Vec<Vec<u8>>> = vec![Vec::new(); st.nshards];
    for k in keys {
        per[shard_of(&k, st.nshards)].push(k);
    }
    for (s, keys) in per.into_iter().enumerate() {
        if !keys.is_empty() {
            run_on(st, s, move |st| remember(st, &keys, client, home));
        }
    }
}

fn remember(st: &mut ShardState, keys: &[Vec<u8>], client: u64, home: u16) {
    let mut added = false;
    for k in keys {
        let (new_key, new_item) = st.tracking.remember(k, client, home);
        if new_key {
            st.shared.tracking.keys.fetch_add(1, Ordering::Relaxed);
            added = true;
        }
        if new_item {
            st.shared.tracking.items.fetch_add(1, Ordering::Relaxed);
        }
    }
    if added {
        limit_table(st);
    }
}

/// `tracking-table-max-keys` (0: no limit): past it, keys leave this shard's table,
/// invalidated for their readers as Redis's `trackingLimitUsedSlots` does. The limit
/// is server-wide; a shard evicts only its own keys, so with every key of the table
/// elsewhere it waits for those shards' next reads.
fn limit_table(st: &mut ShardState) {
    let max =
        st.config.compat_value("tracking-table-max-keys").and_then(|v| v.parse::<usize>().ok()).unwrap_or(1_000_000);
    if max == 0 {
        return;
    }
    while st.shared.tracking.keys.load(Ordering::Relaxed) > max {
        let Some(key) = st.tracking.table.keys().next().cloned() else { return };
        invalidate(st, std::iter::once(&key[..]), 0);
    }
}

// ---- writes -------------------------------------------------------------------------

/// Keys of this shard changed (by client `modifier`, 0 when unknown): invalidate them
/// for every client that may cache them.
pub fn invalidate<'a>(st: &mut ShardState, keys: impl Iterator<Item = &'a [u8]>, modifier: u64) {
    let mut per: Vec<Vec<(u64, Vec<u8>)>> = vec![Vec::new(); st.nshards];
    for k in keys {
        if let Some(clients) = st.tracking.take(k) {
            st.shared.tracking.keys.fetch_sub(1, Ordering::Relaxed);
            st.shared.tracking.items.fetch_sub(clients.len(), Ordering::Relaxed);
            for (c, home) in clients {
                per[home as usize].push((c, k.to_vec()));
            }
        }
        for b in st.shared.tracking.bcast_prefix_matches(k) {
            let keys = st.tracking.bcast_pending.entry((b.client, b.home, b.prefix)).or_default();
            if !keys.iter().any(|(pk, _)| pk == k) {
                keys.push((k.to_vec(), modifier));
            }
        }
    }
    for (s, items) in per.into_iter().enumerate() {
        if !items.is_empty() {
            run_on(st, s, move |st| deliver_home(st, &items, modifier));
        }
    }
}

/// End of this thread's turn: the BCAST invalidations it collected go to their
/// clients, one message per client and prefix holding every key of the turn that
/// starts with it, as Redis batches them per event-loop iteration (a MULTI or MSET of
/// three keys is one message, not three).
pub fn flush_bcast(st: &mut ShardState) {
    if st.tracking.bcast_pending.is_empty() {
        return;
    }
    for ((client, home, _), keys) in std::mem::take(&mut st.tracking.bcast_pending) {
        run_on(st, home as usize, move |st| deliver_bcast(st, client, &keys));
    }
}

/// On a BCAST client's home shard: one message with `keys` (each with the client that
/// changed it), leaving out its own changes under NOLOOP.
fn deliver_bcast(st: &mut ShardState, client: u64, keys: &[(Vec<u8>, u64)]) {
    let Some(t) = st.tracking.clients.get(&client) else { return };
    if !t.bcast {
        return;
    }
    let mut keys: Vec<Vec<u8>> =
        keys.iter().filter(|(_, modifier)| !(t.noloop && *modifier == client)).map(|(k, _)| k.clone()).collect();
    // In Redis's order (its radix tree's: sorted).
    keys.sort_unstable();
    if keys.is_empty() {
        return;
    }
    let (target, shard) = t.redirect.unwrap_or((client, st.id as u16));
    let origin = t.redirect.map(|_| (client, st.id as u16));
    run_on(st, shard as usize, move |st| write_invalidation(st, target, Some(&keys), origin));
}

/// On a client's home shard: sends each tracking client its invalidated keys, one
/// message per key as Redis does, honouring NOLOOP and REDIRECT.
fn deliver_home(st: &mut ShardState, items: &[(u64, Vec<u8>)], modifier: u64) {
    for (c, key) in items {
        let Some(t) = st.tracking.clients.get(c) else { continue };
        // A client that read the key before it switched to BCAST is left in the table
        // (dropped lazily): BCAST hears of keys by prefix only, as in Redis.
        if t.bcast || (t.noloop && *c == modifier) {
            continue;
        }
        let (target, shard) = t.redirect.unwrap_or((*c, st.id as u16));
        let origin = t.redirect.map(|_| (*c, st.id as u16));
        let keys = [key.clone()];
        run_on(st, shard as usize, move |st| write_invalidation(st, target, Some(&keys), origin));
    }
}

/// FLUSHALL/FLUSHDB ran on this shard: every tracking client living here gets a null
/// invalidation (flush everything), and FLUSHALL empties this shard's table.
pub fn on_flush(st: &mut ShardState, all: bool) {
    if all && !st.tracking.table.is_empty() {
        let items: usize = st.tracking.table.values().map(|v| v.len()).sum();
        st.shared.tracking.keys.fetch_sub(st.tracking.table.len(), Ordering::Relaxed);
        st.shared.tracking.items.fetch_sub(items, Ordering::Relaxed);
        st.tracking.table.clear();
    }
    let home = st.id as u16;
    let targets: Vec<(ClientAt, Option<ClientAt>)> = st
        .tracking
        .clients
        .iter()
        .map(|(&c, t)| (t.redirect.unwrap_or((c, home)), t.redirect.map(|_| (c, home))))
        .collect();
    for ((target, shard), origin) in targets {
        run_on(st, shard as usize, move |st| write_invalidation(st, target, None, origin));
    }
}

/// On a tracking client's shard: its REDIRECT target `gone` no longer exists. A RESP3
/// client gets `tracking-redir-broken` with the id; a RESP2 one nothing (Redis has no
/// way to tell it either).
fn redir_broken(st: &mut ShardState, client: u64, gone: u64) {
    let Some(meta) = st.clients.get(&client) else { return };
    if meta.resp != 3 {
        return;
    }
    let mut buf = Vec::new();
    let mut w = ReplyWriter::new(&mut buf, Proto::Resp3);
    w.push(2);
    w.bulk(b"tracking-redir-broken");
    w.int(gone as i64);
    st.pubsub.pushes.push((client, buf));
}

/// On the target's shard: `invalidate` with `keys` (None: a flush) for client
/// `target`: a RESP3 push, or for a RESP2 client subscribed to the invalidation
/// channel, a Pub/Sub message on it. Others get nothing, as in Redis. When `target`
/// is a REDIRECT that has gone away, the tracking client (`origin`: id and shard) is
/// told instead, each time, as Redis does.
fn write_invalidation(st: &mut ShardState, target: u64, keys: Option<&[Vec<u8>]>, origin: Option<(u64, u16)>) {
    let Some(meta) = st.clients.get(&target).filter(|m| !m.quitting) else {
        if let Some((client, home)) = origin {
            run_on(st, home as usize, move |st| redir_broken(st, client, target));
        }
        return;
    };
    let proto = if meta.resp == 3 { Proto::Resp3 } else { Proto::Resp2 };
    let mut buf = Vec::new();
    let mut w = ReplyWriter::new(&mut buf, proto);
    if proto == Proto::Resp3 {
        w.push(2);
        w.bulk(b"invalidate");
    } else {
        if !st.pubsub.is_subscribed(target, CHANNEL) {
            return;
        }
        w.push(3);
        w.bulk(b"message");
        w.bulk(CHANNEL);
    }
    match keys {
        Some(keys) => {
            w.array(keys.len());
            for k in keys {
                w.bulk(k);
            }
        }
        // Redis sends its plain null: `_`, or `$-1` in RESP2.
        None => w.null(),
    }
    st.pubsub.pushes.push((target, buf));
}
