//! MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
//! [AUTH2 username password] [KEYS key ...].
//!
//! Redis runs MIGRATE inside its one event loop and blocks everything for the network
//! round trip. Here the round trip runs on a helper thread so the shard's io_uring loop
//! keeps serving its other keys:
//!
//! 1. On the keys' shard: each existing key is serialized (the DUMP payload and its
//!    TTL) and **locked** with the intent locks cross-shard transactions use, so any
//!    command on those keys waits (is deferred) until the move is over: nobody can
//!    write a key whose copy is already on its way, so nothing is lost.
//! 2. A helper thread connects (within `timeout`), sends AUTH, SELECT and one
//!    `RESTORE-ASKING` (cluster mode) or `RESTORE` per key, pipelined, and reads the
//!    replies.
//! 3. Back on the shard (an inbox message, waking the shard): the keys the target
//!    accepted are deleted through the ordinary DEL (so the AOF and replicas see it),
//!    unless COPY; the locks go, deferred commands run again (and, in cluster mode,
//!    now get `-ASK`), and the client gets its reply.
//!
//! A thread per MIGRATE (rather than one long-lived helper) keeps a slow target from
//! delaying another MIGRATE; threads cost microseconds next to a network round trip,
//! and moves are rare. All keys must live on one shard (always true in cluster mode,
//! where they share a slot; otherwise use a `{hash tag}`).

use super::client::{Client, Reply};
use crate::cmd::dispatch::Outcome;
use crate::cmd::{Args, CmdError};
use crate::resp::{Proto, ReplyWriter};
use crate::shard::lock::{LockPlan, Waiting};
use crate::shard::msg::{CoordRef, Hop, Msg, OwnedArgs, ReplyTo};
use crate::shard::{ShardState, shard_of};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lock ids for MIGRATE, far above any transaction id the coordinators issue.
static NEXT_LOCK: AtomicU64 = AtomicU64::new(1 << 62);
/// A coordinator id nobody has: the `Ran` answers of our hops are dropped.
const NO_COORD: u64 = u64::MAX;

struct Job {
    host: String,
    port: u16,
    dest_db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    auth: Option<(Option<Vec<u8>>, Vec<u8>)>,
    keys: Vec<Vec<u8>>,
    db: u16,
    to: ReplyTo,
    proto: Proto,
    client_id: u64,
    cluster: bool,
    /// `bind-source-addr` when the command ran.
    source: String,
    acct: Acct,
}

/// What counting the call needs wherever it ends (its keys' shard may not be its
/// client's): when it started, the command as sent, and who sent it.
#[derive(Clone, Default)]
struct Acct {
    started: Option<Instant>,
    args: Vec<Vec<u8>>,
    addr: String,
    name: String,
}

impl Acct {
    /// Counts the call once it answered (INFO commandstats, slowlog), as Redis's
    /// `call` does for its MIGRATE.
    fn done(&self, st: &mut ShardState, failed: bool) {
        let Some(started) = self.started else { return };
        let Some(idx) = crate::cmd::table::TABLE.lookup(b"migrate") else { return };
        let us = started.elapsed().as_micros() as u64;
        crate::cmd::cmdtime::account_detached(st, idx, failed, us, &self.args, (&self.addr, &self.name));
    }
}

/// The key positions (for COMMAND GETKEYS and the cluster check).
pub fn key_positions(a: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    if a.len() > 3 && a.get(3).is_empty() {
        if let Some(k) = (6..a.len()).find(|&j| a.is(j, "keys")) {
            return Ok((k + 1..a.len()).map(|i| (db, i)).collect());
        }
        return Ok(Vec::new());
    }
    Ok(if a.len() > 3 { vec![(db, 3)] } else { Vec::new() })
}

/// MIGRATE queued in MULTI reaches this handler at EXEC: it cannot wait there.
pub fn inside_transaction(
    _c: &mut crate::cmd::ctx::ConnCtx,
    _a: &Args,
) -> Result<crate::cmd::ctx::ConnOutcome, CmdError> {
    Err(CmdError::msg("ERR MIGRATE is not supported inside MULTI/EXEC"))
}

fn parse(a: &Args) -> Result<(Job, usize), CmdError> {
    let mut job = Job {
        host: a.str(1),
        port: 0,
        dest_db: 0,
        timeout: Duration::from_millis(1000),
        copy: false,
        replace: false,
        auth: None,
        keys: Vec::new(),
        db: 0,
        to: ReplyTo { shard: 0, slot: 0, generation: 0, seq: 0 },
        proto: Proto::Resp2,
        client_id: 0,
        cluster: false,
        source: String::new(),
        acct: Acct::default(),
    };
    let mut first_key = 3;
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if a.is(j, "copy") {
            job.copy = true;
        } else if a.is(j, "replace") {
            job.replace = true;
        } else if a.is(j, "auth") {
            if more < 1 {
                return Err(CmdError::Syntax);
            }
            job.auth = Some((None, a.get(j + 1).to_vec()));
            j += 1;
        } else if a.is(j, "auth2") {
            if more < 2 {
                return Err(CmdError::Syntax);
            }
            job.auth = Some((Some(a.get(j + 1).to_vec()), a.get(j + 2).to_vec()));
            j += 2;
        } else if a.is(j, "keys") {
            if !a.get(3).is_empty() {
                return Err(CmdError::msg(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            first_key = j + 1;
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let timeout = a.i64(5)?;
    job.dest_db = a.i64(4)?;
    job.timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    job.port = a.str(2).parse().map_err(|_| CmdError::NotInteger)?;
    let last = if first_key == 3 { 4 } else { a.len() };
    job.keys = (first_key..last).map(|i| a.get(i).to_vec()).collect();
    Ok((job, first_key))
}

/// Dispatch's entry: parse, then hand the work to the keys' shard. The connection
/// waits (a barrier) for the reply, which arrives from the shard.
pub fn start(
    st: &mut ShardState,
    sess: &crate::cmd::ctx::Session,
    a: &Args,
    w: &mut ReplyWriter,
    to: ReplyTo,
) -> Outcome {
    let (addr, name) = st.clients.get(&sess.id).map(|m| (m.addr.clone(), m.name.clone())).unwrap_or_default();
    let acct = Acct { started: Some(Instant::now()), args: a.iter().map(|x| x.to_vec()).collect(), addr, name };
    let mut job = match parse(a) {
        Ok((j, _)) => j,
        Err(e) => {
            st.stats.error_replies += 1;
            w.error(&e.message());
            acct.done(st, true);
            return Outcome::Done;
        }
    };
    job.acct = acct;
    job.db = sess.db;
    job.to = to;
    job.proto = sess.proto;
    job.client_id = sess.id;
    job.cluster = st.shared.cluster.enabled;
    job.source = st.config.compat_value("bind-source-addr").unwrap_or("").to_string();
    let Some(first) = job.keys.first() else {
        w.simple("NOKEY");
        job.acct.done(st, false);
        return Outcome::Done;
    };
    let shard = shard_of(first, st.nshards);
    if job.keys.iter().any(|k| shard_of(k, st.nshards) != shard) {
        st.stats.error_replies += 1;
        w.error("ERR MIGRATE keys must all live on one shard: give them a common {hash tag}");
        job.acct.done(st, true);
        return Outcome::Done;
    }
    if shard == st.id {
        begin(st, job);
    } else {
        let hop = once_hop(move |st| begin(st, job));
        st.outbox.push(shard, Msg::Run { coord: CoordRef { shard: shard as u16, id: NO_COORD }, hop });
    }
    Outcome::Barrier
}

/// Wraps a one-shot closure as a fan-out hop (hops are `Fn`).
fn once_hop(f: impl FnOnce(&mut ShardState) + Send + 'static) -> Hop {
    let cell = Mutex::new(Some(f));
    Arc::new(move |st: &mut ShardState| -> crate::shard::msg::HopResult {
        if let Some(f) = cell.lock().unwrap_or_else(|e| e.into_inner()).take() {
            f(st);
        }
        Box::new(())
    })
}

fn reply(st: &mut ShardState, acct: &Acct, to: ReplyTo, proto: Proto, r: Result<&str, &str>) {
    acct.done(st, r.is_err());
    let mut out = Vec::new();
    let mut w = ReplyWriter::new(&mut out, proto);
    match r {
        Ok(s) => w.simple(s),
        Err(e) => {
            st.stats.error_replies += 1;
            w.error(e)
        }
    }
    st.send_reply(to, out);
}

/// Step 1, on the keys' shard: serialize and lock the keys, start the transfer.
fn begin(st: &mut ShardState, mut job: Job) {
    let now = st.now_ms;
    let db = job.db as usize;
    if db >= st.dbs.len() {
        return reply(st, &job.acct, job.to, job.proto, Err("ERR DB index is out of range"));
    }
    if job.keys.iter().any(|k| st.locks.blocks(job.db, k)) {
        return reply(
            st,
            &job.acct,
            job.to,
            job.proto,
            Err("TRYAGAIN MIGRATE keys are held by a transaction; try again"),
        );
    }
    let mut payloads = Vec::new();
    let mut present = Vec::new();
    for k in job.keys.drain(..) {
        if let Some((e, expire_at)) = st.dbs[db].get_with_expire(&k, now) {
            let ttl = if expire_at == 0 { 0 } else { expire_at.saturating_sub(now).max(1) };
            payloads.push((ttl, crate::rdb::dump_payload(&e.value)));
            present.push(k);
        }
    }
    st.account_expired();
    if present.is_empty() {
        return reply(st, &job.acct, job.to, job.proto, Ok("NOKEY"));
    }
    job.keys = present;
    let tx = NEXT_LOCK.fetch_add(1, Ordering::Relaxed);
    let plan = LockPlan::Keys(job.keys.iter().map(|k| (job.db, k.clone())).collect());
    let granted = st.locks.request(Waiting {
        tx,
        coord: CoordRef { shard: st.id as u16, id: NO_COORD },
        plan,
        gather: false,
        run: None,
    });
    debug_assert!(granted.is_some(), "unblocked keys are granted at once");
    let shared = st.shared.clone();
    let me = st.id;
    let (to, proto, acct) = (job.to, job.proto, job.acct.clone());
    let spawned = std::thread::Builder::new().name("migrate".into()).spawn(move || {
        let outcome = transfer(&job, &payloads);
        let hop = once_hop(move |st| finish(st, job, tx, outcome));
        if shared.deliver(me, vec![Msg::Run { coord: CoordRef { shard: me as u16, id: NO_COORD }, hop }]) {
            shared.wake_from_helper_thread(me);
        }
    });
    if let Err(e) = spawned {
        crate::cmd::coord::release_locks(st, tx);
        crate::cmd::dispatch::retry_deferred(st);
        crate::util::log::warning(&format!("MIGRATE: can't start a thread: {e}"));
        reply(st, &acct, to, proto, Err("ERR MIGRATE could not start its transfer thread"));
    }
}

/// What the target accepted: how many keys (a prefix, as sent), and the error if any.
struct Outcome2 {
    accepted: Vec<bool>,
    error: Option<String>,
}

/// Step 2, on the helper thread: the network round trip.
fn transfer(job: &Job, payloads: &[(u64, Vec<u8>)]) -> Outcome2 {
    let none = |e: String| Outcome2 { accepted: vec![false; payloads.len()], error: Some(e) };
    let mut cl = match Client::connect_from(&job.host, job.port, job.timeout, &job.source) {
        Ok(c) => c,
        Err(_) => return none("IOERR error or timeout connecting to the client".into()),
    };
    let restore: &[u8] = if job.cluster { b"RESTORE-ASKING" } else { b"RESTORE" };
    let mut batch: Vec<Vec<Vec<u8>>> = Vec::new();
    match &job.auth {
        Some((Some(user), pw)) => batch.push(vec![b"AUTH".to_vec(), user.clone(), pw.clone()]),
        Some((None, pw)) => batch.push(vec![b"AUTH".to_vec(), pw.clone()]),
        None => {}
    }
    batch.push(vec![b"SELECT".to_vec(), job.dest_db.to_string().into_bytes()]);
    for (k, (ttl, p)) in job.keys.iter().zip(payloads) {
        let mut cmd = vec![restore.to_vec(), k.clone(), ttl.to_string().into_bytes(), p.clone()];
        if job.replace {
            cmd.push(b"REPLACE".to_vec());
        }
        batch.push(cmd);
    }
    let send = batch.iter().try_for_each(|c| cl.send(c));
    if send.is_err() {
        return none("IOERR error or timeout writing to target instance".into());
    }
    let target_err = |e: &str| format!("ERR Target instance replied with error: {e}");
    for _ in 0..(job.auth.is_some() as usize + 1) {
        match cl.read() {
            Ok(Reply::Error(e)) => return none(target_err(&e)),
            Ok(_) => {}
            Err(_) => return none("IOERR error or timeout reading to target instance".into()),
        }
    }
    let mut out = Outcome2 { accepted: Vec::with_capacity(payloads.len()), error: None };
    for _ in payloads {
        match cl.read() {
            Ok(Reply::Error(e)) => {
                out.accepted.push(false);
                out.error.get_or_insert_with(|| target_err(&e));
            }
            Ok(_) => out.accepted.push(true),
            Err(_) => {
                out.error.get_or_insert_with(|| "IOERR error or timeout reading to target instance".into());
                out.accepted.resize(payloads.len(), false);
                break;
            }
        }
    }
    out
}

/// Step 3, back on the keys' shard: delete what moved, unlock, reply.
fn finish(st: &mut ShardState, job: Job, tx: u64, outcome: Outcome2) {
    let moved: Vec<&Vec<u8>> = job.keys.iter().zip(&outcome.accepted).filter(|(_, ok)| **ok).map(|(k, _)| k).collect();
    if !job.copy && !moved.is_empty() {
        let args = OwnedArgs::from_slices(std::iter::once(&b"DEL"[..]).chain(moved.iter().map(|k| k.as_slice())));
        let del = crate::cmd::table::TABLE.lookup(b"del").expect("DEL exists");
        let mut scratch = Vec::new();
        crate::cmd::dispatch::call(st, del, &Args::Owned(&args), job.db, job.proto, &mut scratch, job.client_id);
    }
    crate::cmd::coord::release_locks(st, tx);
    crate::cmd::dispatch::retry_deferred(st);
    match &outcome.error {
        None => reply(st, &job.acct, job.to, job.proto, Ok("OK")),
        Some(e) => reply(st, &job.acct, job.to, job.proto, Err(e)),
    }
}
