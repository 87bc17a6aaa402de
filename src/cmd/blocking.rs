//! Blocking commands: parking, serving and timing out waiters (see `shard::block`).
//!
//! A blocking handler (BLPOP ...) that finds nothing sets `ExecCtx::block` instead of
//! replying. `dispatch::call` then either parks the request here or, where blocking is
//! not allowed (inside MULTI/EXEC), answers the timeout reply at once, as Redis does.

use super::Args;
use super::dispatch::call_blocking;
use super::table::TABLE;
use crate::resp::{Proto, ReplyWriter};
use crate::shard::block::{BlockReq, Claim, NoWaitReply, Waiter};
use crate::shard::msg::{ExecReq, Msg, OwnedArgs};
use crate::shard::{ReplyTo, ShardState, shard_of};

/// Writes the reply a blocked command gives when its timeout passes (or CLIENT UNBLOCK
/// TIMEOUT ends its wait): a null array for every kind of wait, as Redis answers a
/// timed-out list, sorted-set or stream wait, BLMOVE's too.
pub fn timeout_reply(out: &mut Vec<u8>, proto: Proto) {
    ReplyWriter::new(out, proto).null_array();
}

/// Writes the reply a blocking command with nothing to do gives where it cannot wait
/// (inside MULTI/EXEC or a script).
pub fn no_wait_reply(out: &mut Vec<u8>, proto: Proto, kind: NoWaitReply) {
    let mut w = ReplyWriter::new(out, proto);
    match kind {
        NoWaitReply::NullArray => w.null_array(),
        NoWaitReply::NullBulk => w.null(),
    }
}

/// Everything needed to park a request.
pub struct ParkReq<'a> {
    pub to: ReplyTo,
    pub client_id: u64,
    pub db: u16,
    pub proto: Proto,
    pub cmd: u16,
    pub args: &'a Args<'a>,
}

/// Parks a request whose keys all live on this shard.
pub fn park(st: &mut ShardState, p: ParkReq, req: BlockReq) {
    let w = Waiter {
        id: 0,
        to: p.to,
        client_id: p.client_id,
        db: p.db,
        proto: p.proto,
        cmd: p.cmd,
        args: req.rerun.clone().unwrap_or_else(|| p.args.to_owned()),
        req,
        claim: Claim::default(),
        split: false,
    };
    st.blocked.add(w);
}

/// Parks one part of a wait whose keys span shards: `req.keys` is already filtered to
/// this shard. Data may have arrived while the part travelled, so look at once.
pub fn park_part(st: &mut ShardState, w: Waiter) {
    let (db, keys) = (w.db, w.req.keys.clone());
    st.blocked.add(w);
    for k in keys {
        st.blocked.ready.push((db, k));
    }
    serve_blocked(st);
}

/// Sends each shard involved its part of a cross-shard wait.
pub fn park_split(st: &mut ShardState, req_: &ExecReq, req: BlockReq) {
    let claim = Claim::default();
    let mut per: Vec<Vec<Vec<u8>>> = vec![Vec::new(); st.nshards];
    for k in &req.keys {
        per[shard_of(k, st.nshards)].push(k.clone());
    }
    for (s, keys) in per.into_iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        let w = Waiter {
            id: 0,
            to: req_.to,
            client_id: req_.client_id,
            db: req_.db,
            proto: req_.proto,
            cmd: req_.cmd,
            args: req.rerun.clone().unwrap_or_else(|| req_.args.clone()),
            req: BlockReq { keys, ..req.clone() },
            claim: claim.clone(),
            split: true,
        };
        st.outbox.push(s, Msg::Park(Box::new(w)));
    }
}

fn key_ready(st: &mut ShardState, db: u16, key: &[u8], want: &str, args: Option<&OwnedArgs>) -> bool {
    let now = st.now_ms;
    // A stream read proceeds once there is an entry past the one it waits after (or,
    // for XREADGROUP, once its stream or group went away, to answer Redis's error).
    if let Some(args) = args {
        let v = st.dbs[db as usize].get(key, now).map(|e| &e.value);
        return super::stream_read::ready_for(args, key, v, want == "stream-group");
    }
    st.dbs[db as usize].get(key, now).is_some_and(|e| e.value.type_name() == want)
}

/// Serves waiters on keys that writes made ready, oldest first, until no ready key
/// has a waiter that can proceed.
pub fn serve_blocked(st: &mut ShardState) {
    if st.serving_blocked {
        return;
    }
    st.serving_blocked = true;
    // A key a transaction holds (MULTI/EXEC, a cross-shard command) is served only
    // once its lock goes, from the transaction's final state, as Redis serves blocked
    // clients after EXEC: a key pushed and deleted inside one wakes nobody.
    // Keys are served in the order writes made them ready, as Redis does (a woken
    // stream read answers with the first of its streams written); keys readied while
    // serving (BLMOVE's push) come in a next round.
    let mut held = Vec::new();
    loop {
        let round = std::mem::take(&mut st.blocked.ready);
        if round.is_empty() {
            break;
        }
        for (db, key) in round {
            serve_key(st, db, key, &mut held);
        }
    }
    held.dedup();
    st.blocked.ready.append(&mut held);
    st.serving_blocked = false;
    // A ready key found expired was deleted by the look (`key_ready`): its DEL goes
    // out now, as Redis's lazy expiry propagates it, not with some later command.
    st.account_expired();
}

/// Serves the waiters on one ready key, oldest first, while they can proceed; a key
/// a transaction holds goes to `held`.
fn serve_key(st: &mut ShardState, db: u16, key: Vec<u8>, held: &mut Vec<(u16, Vec<u8>)>) {
    if st.locks.blocks(db, &key) {
        held.push((db, key));
        return;
    }
    for id in st.blocked.waiting_on(db, &key) {
        let Some(w) = st.blocked.get(id) else { continue };
        if w.claim.is_claimed() {
            st.blocked.remove(id);
            continue;
        }
        let want = w.req.ready_type;
        let stream_args = want.starts_with("stream").then(|| w.args.clone());
        if !key_ready(st, db, &key, want, stream_args.as_ref()) {
            break;
        }
        let w = st.blocked.remove(id).expect("present");
        if !w.claim.try_claim() {
            continue;
        }
        serve(st, w, &key);
    }
}

/// Runs a claimed waiter's command now that data is there (`key` made it ready).
fn serve(st: &mut ShardState, w: Waiter, key: &[u8]) {
    // A stream read answers with the woken stream only (Redis 7.0), which lives here:
    // even a wait split across shards runs on this shard alone.
    if w.req.ready_type.starts_with("stream")
        && let Some(args) = super::stream_read::narrowed_to(&w.args, key)
    {
        return serve_stream_read(st, w, args);
    }
    if w.split
        && let Some(fb) = &w.req.fallback
    {
        // The source is here but the destination may be elsewhere: run the
        // non-blocking form as a cross-shard transaction answering the client.
        if let Some(idx) = TABLE.lookup(fb.get(0)) {
            let req =
                ExecReq { to: w.to, client_id: w.client_id, db: w.db, proto: w.proto, cmd: idx, args: fb.clone() };
            super::coord::start_keyed_tx(st, req);
            return;
        }
    }
    let mut out = Vec::new();
    let args = w.args.clone();
    st.rerunning_waiter = true;
    let res = call_blocking(st, w.cmd, &Args::Owned(&args), w.db, w.proto, &mut out, w.client_id);
    st.rerunning_waiter = false;
    match res {
        None => st.send_reply(w.to, out),
        Some(req) => {
            // Raced with nothing to pop after all: wait again (a fresh claim; a split
            // wait's other parts saw the old one taken and have dropped out).
            let mut w = w;
            // The deadline stays the one it first blocked with.
            let deadline_ms = w.req.deadline_ms;
            w.req = BlockReq { keys: if w.split { w.req.keys.clone() } else { req.keys }, deadline_ms, ..req };
            if let Some(rerun) = &w.req.rerun {
                w.args = rerun.clone();
            }
            w.claim = Claim::default();
            w.split = false;
            st.blocked.add(w);
        }
    }
}

/// Runs a woken XREAD/XREADGROUP narrowed to its ready stream. Should the stream
/// have nothing after all, the waiter parks again here with its full arguments.
fn serve_stream_read(st: &mut ShardState, mut w: Waiter, narrowed: OwnedArgs) {
    let mut out = Vec::new();
    st.rerunning_waiter = true;
    let res = call_blocking(st, w.cmd, &Args::Owned(&narrowed), w.db, w.proto, &mut out, w.client_id);
    st.rerunning_waiter = false;
    match res {
        None => st.send_reply(w.to, out),
        Some(_) => {
            w.claim = Claim::default();
            w.split = false;
            st.blocked.add(w);
        }
    }
}

/// Answers waiters whose deadline passed and drops parts another shard answered.
pub fn expire_blocked(st: &mut ShardState) {
    if st.blocked.is_empty() {
        return;
    }
    let now = st.now_ms;
    for id in st.blocked.expired(now) {
        let Some(w) = st.blocked.remove(id) else { continue };
        if w.claim.try_claim() {
            let mut out = Vec::new();
            timeout_reply(&mut out, w.proto);
            st.send_reply(w.to, out);
        }
    }
}

/// CLIENT UNBLOCK / disconnect: removes the client's waiters here. With `reply`, the
/// client is answered (timeout reply, or the UNBLOCKED error). Returns how many.
pub fn unblock_client(st: &mut ShardState, client_id: u64, reply: Option<bool>) -> usize {
    let mut n = 0;
    for id in st.blocked.of_client(client_id) {
        let Some(w) = st.blocked.remove(id) else { continue };
        if !w.claim.try_claim() {
            continue;
        }
        n += 1;
        if let Some(as_error) = reply {
            let mut out = Vec::new();
            if as_error {
                ReplyWriter::new(&mut out, w.proto).error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            } else {
                timeout_reply(&mut out, w.proto);
            }
            st.send_reply(w.to, out);
        }
    }
    n
}

/// Parses a blocking command's timeout argument (seconds, fractional allowed) into an
/// absolute deadline (0 = forever), with Redis's errors.
pub fn deadline(arg: &[u8], now_ms: u64) -> Result<u64, super::CmdError> {
    let secs = crate::util::num::parse_f64(arg)
        .filter(|v| v.is_finite())
        .ok_or_else(|| super::CmdError::msg("ERR timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(super::CmdError::msg("ERR timeout is negative"));
    }
    let ms = (secs * 1000.0).ceil();
    if ms >= (i64::MAX / 2) as f64 {
        return Err(super::CmdError::msg("ERR timeout is out of range"));
    }
    Ok(if ms == 0.0 { 0 } else { now_ms + ms as u64 })
}

/// Builds owned arguments from string pieces (for fallbacks like LMOVE).
pub fn owned(parts: &[&[u8]]) -> OwnedArgs {
    OwnedArgs::from_slices(parts.iter().copied())
}
