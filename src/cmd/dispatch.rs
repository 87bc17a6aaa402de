//! Dispatch: from a parsed request to an executed command, and from an inbox message to
//! its effect.
//!
//! `dispatch` is called by the connection layer for each request. It looks the command
//! up, checks arity and auth, and routes it:
//! - connection commands run right here;
//! - keyed commands whose keys all live on this shard run right here, unless an intent
//!   lock is in the way (then they are deferred);
//! - keyed commands whose keys all live on one other shard travel there as `Exec`;
//! - keyed commands spanning shards become a cross-shard transaction (`coord`).
//!
//! `call` is the one choke point every keyed command goes through, whichever thread or
//! path it took: stats, dirty counting, keyspace notifications and (later) AOF and
//! replication feed from it. The one bypass is `cmd::fastrun` (runs of one plain
//! command in a pipeline), which the connection takes only while `dispatch` and `call`
//! would have nothing to do per request but count and time it.

use super::coord;
use super::ctx::{ConnCtx, ConnOutcome, ExecCtx, Session};
use super::error::{unknown_command, wrong_arity};
use super::order::{self, Lane};
use super::table::{Handler, KeySpec, TABLE, flag};
use super::{Args, CmdError};
use crate::config::notify;
use crate::resp::{Proto, ReplyWriter};
use crate::shard::hopbatch::{ExecHead, Packed};
use crate::shard::lock::Waiting;
use crate::shard::msg::{ExecReq, Msg};
use crate::shard::state::NO_SHARD;
use crate::shard::{ReplyTo, ShardState, shard_of};
use crate::storage::Warm;

/// What happened to a request, as far as its connection is concerned.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The reply is in the buffer given to `dispatch`.
    Done,
    /// The reply will arrive later through `local_replies` with this request's seq.
    Pending,
    /// Like Pending, and the connection must not dispatch anything else until the
    /// reply arrives (a cross-shard transaction in flight: later commands must see it).
    Barrier,
    /// Close the connection after this reply.
    Close,
    /// Not run: hold this request until the connection's owed replies are in (a
    /// keyless command behind split commands in flight, `coord_split`).
    Wait,
}

/// Runs or routes one request. `out` receives the reply when the outcome is `Done`.
pub fn dispatch(st: &mut ShardState, sess: &mut Session, args: &Args, out: &mut Vec<u8>, to: ReplyTo) -> Outcome {
    let Some(idx) = TABLE.lookup(args.get(0)) else {
        flag_multi(sess);
        fail(&mut st.stats, &mut ReplyWriter::new(out, sess.proto), &unknown_command(args));
        return Outcome::Done;
    };
    dispatch_known(st, sess, idx, args, out, to)
}

/// `dispatch` for a request whose command the caller looked up already (`idx`, from
/// `TABLE.lookup` of its first argument): a replica's master link, which looked it up
/// to see whether it joins a batch (`repl::batch`).
#[inline]
pub fn dispatch_known(
    st: &mut ShardState,
    sess: &mut Session,
    idx: u16,
    args: &Args,
    out: &mut Vec<u8>,
    to: ReplyTo,
) -> Outcome {
    let mut w = ReplyWriter::new(out, sess.proto);
    let spec = TABLE.get(idx);
    if !spec.arity_ok(args.len()) {
        bump_rejected(st, idx, args);
        reject(st, sess, spec, &mut w, &wrong_arity(spec.name));
        return Outcome::Done;
    }
    // A container's subcommand is looked up and its arity checked here, as Redis does
    // before anything else: an unknown one is no command (counted nowhere), a wrong
    // arity is a rejected call of the subcommand, and either aborts a transaction.
    if args.len() > 1
        && super::cmdtime::is_container(idx)
        && let Some(e) = super::introspect::subcommand_refusal(spec.name, args)
    {
        bump_rejected(st, idx, args);
        flag_multi(sess);
        fail(&mut st.stats, &mut w, &e);
        return Outcome::Done;
    }
    if !sess.authenticated && spec.flags & flag::NO_AUTH == 0 && super::acl::auth_required(st, sess) {
        bump_rejected(st, idx, args);
        reject(st, sess, spec, &mut w, "NOAUTH Authentication required.");
        return Outcome::Done;
    }
    if let Some(e) = super::multi::refused_while_queuing(sess, spec) {
        bump_rejected(st, idx, args);
        flag_multi(sess);
        fail(&mut st.stats, &mut w, e);
        return Outcome::Done;
    }
    if let Err(refusal) = super::acl::permit(st, sess, idx, args) {
        // None: the connection's user was deleted; close it as Redis does.
        let Some(msg) = refusal else { return Outcome::Close };
        bump_rejected(st, idx, args);
        reject(st, sess, spec, &mut w, &msg);
        return Outcome::Done;
    }
    // Cluster mode: MOVED / ASK / CROSSSLOT / TRYAGAIN / CLUSTERDOWN (`cluster::redirect`).
    if st.shared.cluster.enabled
        && let Some(e) = crate::cluster::redirect::check(st, sess, spec, args)
    {
        bump_rejected(st, idx, args);
        flag_multi(sess);
        fail(&mut st.stats, &mut w, &e);
        return Outcome::Done;
    }
    if sess.proto == Proto::Resp2
        && super::pubsub::subscribed(sess)
        && !super::pubsub::allowed_while_subscribed(spec.name)
    {
        fail(
            &mut st.stats,
            &mut w,
            &format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                super::introspect::full_name(spec.name, args)
            ),
        );
        return Outcome::Done;
    }
    if st.evict.settings.maxmemory > 0 && refuse_for_oom(st, sess, spec, args) {
        bump_rejected(st, idx, args);
        if spec.name == "exec" {
            // Redis discards the transaction with the reason.
            super::multi::abort_exec(st, sess);
            fail(
                &mut st.stats,
                &mut w,
                &format!("EXECABORT Transaction discarded because of: {}", crate::shard::evict::OOM),
            );
        } else {
            flag_multi(sess);
            fail(&mut st.stats, &mut w, crate::shard::evict::OOM);
        }
        return Outcome::Done;
    }
    // After a failed BGSAVE, writes (and PING, as in Redis) are refused until a save
    // succeeds (`stop-writes-on-bgsave-error`).
    if (spec.is_write() || spec.name == "ping") && crate::persist::bgsave::writes_refused(st) {
        bump_rejected(st, idx, args);
        flag_multi(sess);
        fail(&mut st.stats, &mut w, crate::persist::bgsave::MISCONF);
        return Outcome::Done;
    }
    // On a replica: READONLY for client writes, MASTERDOWN while the link is down
    // (`repl::replica`); the master's own connection passes.
    if st.shared.replica.is_replica.load(std::sync::atomic::Ordering::Relaxed)
        && !st.shared.replica.is_master_client(sess.id)
        && let (is_write, stale_ok) = super::multi::write_and_stale_flags(sess, spec)
        && let Some(e) = crate::repl::replica::refusal(&st.shared.replica, is_write, stale_ok)
    {
        bump_rejected(st, idx, args);
        reject(st, sess, spec, &mut w, e);
        return Outcome::Done;
    }
    // A script by its declared flags (a `#!` line, a function's): one that may write is
    // refused before it runs, as Redis's `evalGetCommandFlags` makes it a write.
    if crate::repl::master::too_few_replicas(st)
        && (spec.is_write()
            || (super::script::is_script(idx)
                && super::script::declared_writes(&st.shared.script, spec.name, args) == Some(true)))
    {
        bump_rejected(st, idx, args);
        flag_multi(sess);
        fail(&mut st.stats, &mut w, crate::repl::master::NOREPLICAS);
        return Outcome::Done;
    }
    if let Some(e) = super::script::busy_refusal(st, spec, args) {
        // EXEC refused while busy discards the transaction (`EXECABORT ... BUSY`).
        bump_rejected(st, idx, args);
        reject(st, sess, spec, &mut w, e);
        return Outcome::Done;
    }
    super::script::note_caller(st, sess, spec);
    if sess.multi.is_some() && !super::multi::runs_inside_multi(spec.name) {
        super::multi::enqueue(sess, idx, args, st.dbs.len(), &mut w);
        return Outcome::Done;
    }
    // The connection's earlier commands still executing elsewhere go first (`order`).
    if sess.lane != Lane::Idle
        && order::strict(st, sess.id)
        && !order::connection_only(spec, args)
        && !order::may_run(sess.lane, order::target(st, spec, args, sess.db, sess.id))
    {
        return Outcome::Wait;
    }
    if !st.tracking.clients.is_empty() {
        super::tracking::on_command(st, sess.id, spec, args, sess.db, false);
    }
    if !st.split_inflight.is_empty()
        && (!matches!(spec.handler, Handler::Keyed(_)) || spec.name == "migrate")
        && st.split_inflight.contains_key(&sess.id)
    {
        // A keyless command must see the client's split commands done (`coord_split`).
        return Outcome::Wait;
    }
    if spec.name == "migrate" {
        // The network round trip runs on a helper thread (`cluster::migrate`), which
        // also counts it (commandstats, slowlog) when it answers.
        if super::monitor::active(st) {
            super::monitor::feed_client(st, spec, sess.db, sess.id, args);
        }
        sess.lane = Lane::Many;
        return crate::cluster::migrate::start(st, sess, args, &mut w, to);
    }
    if spec.name == "wait" {
        // WAIT needs its reply address: it waits in the replication thread.
        sess.lane = Lane::Many;
        return if super::repl::wait(st, args, &mut w, to) { Outcome::Pending } else { Outcome::Done };
    }
    if spec.name == "shutdown" && super::server::shutdown_waits(st, args, to) {
        // Blocked until the server exits or the wait for replicas is cancelled.
        sess.lane = Lane::Many;
        return Outcome::Pending;
    }
    match spec.handler {
        Handler::Conn(f) => {
            let start = super::cmdtime::begin_own(st);
            let res = {
                let mut ctx = ConnCtx { sess: &mut *sess, st: &mut *st, out: w };
                f(&mut ctx, args)
            };
            // MONITOR sees the command after it ran (SELECT shows the new db); EXEC
            // after the commands it runs (`multi`).
            if super::monitor::active(st) && !matches!(res, Ok(ConnOutcome::Exec(_))) {
                super::monitor::feed_client(st, spec, sess.db, sess.id, args);
            }
            if spec.flags & flag::MAY_REPLICATE != 0 && res.is_ok() {
                replicate_keyless(st, args, sess.db);
            }
            if matches!(res, Ok(ConnOutcome::FanOut(_))) {
                super::cmdtime::end_unfinished(st);
            } else {
                let timing = super::cmdtime::Timing::Own(start);
                super::cmdtime::end(st, idx, timing, res.is_err(), args, sess.id, true, 0);
            }
            match res {
                Ok(ConnOutcome::Done) => Outcome::Done,
                Ok(ConnOutcome::Close) => Outcome::Close,
                Ok(ConnOutcome::FanOut(mut f)) => {
                    f.finish = timed_finish(st, idx, args, start, sess.id, f.finish);
                    coord::start_fanout(st, f, to, sess.proto);
                    sess.lane = Lane::Many;
                    Outcome::Barrier
                }
                Ok(ConnOutcome::Exec(plan)) => {
                    super::multi_exec::start_exec(st, plan, to, sess.proto);
                    sess.lane = Lane::Many;
                    Outcome::Barrier
                }
                Err(e) => {
                    fail(&mut st.stats, &mut ReplyWriter::new(out, sess.proto), &e.message());
                    Outcome::Done
                }
            }
        }
        Handler::Keyed(_) => {
            if super::monitor::active(st) {
                super::monitor::feed_client(st, spec, sess.db, sess.id, args);
            }
            route_keyed(st, sess, idx, args, w, to)
        }
    }
}

/// A fan-out's `finish`, wrapped to count the command once its reply is written
/// (INFO does not count itself) and to put it in the slowlog after it ran (SLOWLOG
/// RESET logs itself into the fresh log; SLOWLOG GET does not see itself).
pub(super) fn timed_finish(
    st: &ShardState,
    idx: u16,
    args: &Args,
    start: crate::util::stopwatch::Stopwatch,
    client_id: u64,
    inner: super::ctx::Finish,
) -> super::ctx::Finish {
    let threshold = st.config.slowlog_log_slower_than;
    let logged: Option<Vec<Vec<u8>>> = (threshold >= 0 && TABLE.get(idx).flags & flag::SKIP_SLOWLOG == 0)
        .then(|| args.iter().map(|a| a.to_vec()).collect());
    let slot = super::cmdtime::stat_slot(idx, args);
    Box::new(move |st, results, out| {
        let errors_before = st.stats.error_replies;
        inner(st, results, out);
        let us = start.elapsed().as_micros() as u64;
        super::cmdtime::finished(st, slot, st.stats.error_replies > errors_before, us);
        if let Some(logged) = logged
            && us >= st.config.slowlog_log_slower_than.max(0) as u64
        {
            super::cmdtime::slowlog_add(st, us, logged.iter().map(|a| a.as_slice()), client_id);
        }
    })
}

/// A keyless command that replicates without writing (`may_replicate`: PUBLISH and
/// SPUBLISH) goes to the replication stream as sent, never to the AOF, in the client's
/// db and in the shard's order with the writes around it, as Redis forces it there
/// (`PROPAGATE_REPL`). Not in cluster mode: Redis Cluster carries it over the bus
/// instead, which a pool does not have (README, Not supported yet).
pub(super) fn replicate_keyless(st: &mut ShardState, args: &Args, db: u16) {
    // No replica, no work: PUBLISH's path collects nothing then.
    if !st.shared.cluster.enabled && st.aof.repl_active() {
        let a: Vec<&[u8]> = args.iter().collect();
        st.aof.feed_stream_only(db, &a);
    }
}

/// Redis's `maxmemory` rule in `processCommand`: evict first (`shard::evict`), then,
/// if nothing could be freed, refuse `denyoom` commands, an EXEC that queued one, and
/// anything but EXEC/DISCARD/QUIT/RESET inside a MULTI (queueing takes memory too).
#[cold]
fn refuse_for_oom(st: &mut ShardState, sess: &Session, spec: &super::CommandSpec, args: &Args) -> bool {
    let exec = spec.name == "exec";
    let script = &st.shared.script;
    let denyoom = denies_oom(script, spec, args)
        || (exec
            && sess
                .multi
                .as_ref()
                .is_some_and(|q| q.cmds.iter().any(|c| denies_oom(script, TABLE.get(c.0), &Args::Owned(&c.1)))));
    let queuing = sess.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "quit" | "reset");
    crate::shard::evict::oom_refusal(st, denyoom, queuing)
}

/// Redis's `denyoom` flag, also where only some subcommands have it (FUNCTION LOAD and
/// FUNCTION RESTORE, as Redis 7.0's subcommand table marks them) and for scripts, by
/// their flags (`script::denies_oom`).
fn denies_oom(script: &crate::script::ScriptShared, spec: &super::CommandSpec, args: &Args) -> bool {
    spec.flags & flag::DENYOOM != 0
        || (spec.name == "function" && args.len() > 1 && (args.is(1, "load") || args.is(1, "restore")))
        || (super::script::is_script_spec(spec) && super::script::denies_oom(script, spec.name, args))
}

/// Answers a command refused before it runs (Redis's `rejectCommand`): the refusal
/// flags an open transaction, and a refused EXEC itself discards the transaction
/// (inside MULTI or not) with `EXECABORT Transaction discarded because of: <why>`.
fn reject(st: &mut ShardState, sess: &mut Session, spec: &super::CommandSpec, w: &mut ReplyWriter, msg: &str) {
    if spec.name == "exec" {
        super::multi::abort_exec(st, sess);
        let why = msg.strip_prefix("ERR ").unwrap_or(msg);
        fail(&mut st.stats, w, &format!("EXECABORT Transaction discarded because of: {why}"));
    } else {
        flag_multi(sess);
        fail(&mut st.stats, w, msg);
    }
}

/// A command rejected during MULTI makes EXEC abort.
fn flag_multi(sess: &mut Session) {
    if let Some(q) = sess.multi.as_mut() {
        q.aborted = true;
    }
}

fn route_keyed(
    st: &mut ShardState,
    sess: &mut Session,
    idx: u16,
    args: &Args,
    mut w: ReplyWriter,
    to: ReplyTo,
) -> Outcome {
    let spec = TABLE.get(idx);
    let db = sess.db;
    // Fast path: one shard owns everything.
    let owner = if st.nshards == 1 {
        Some(0)
    } else if let KeySpec::Range { first, last, .. } = spec.keys
        && first == last
        && (first as usize) < args.len()
    {
        // Single-key commands (GET, SET, INCR ...): no key list to build.
        Some(shard_of(args.get(first as usize), st.nshards))
    } else {
        if super::script_all::needs_lock_all(st, spec, args) {
            // A script that may touch any key: lock and stop every shard (`script_all`).
            super::script_all::start(st, exec_req(sess, idx, args, to));
            sess.lane = Lane::Many;
            return Outcome::Barrier;
        }
        if super::sort::needs_pattern_tx(st, spec, args) {
            // SORT BY/GET patterns may name keys on any shard (`cmd::sort`).
            super::sort::start_pattern_tx(st, exec_req(sess, idx, args, to));
            sess.lane = Lane::Many;
            return Outcome::Barrier;
        }
        match owner_of_keys(spec, args, db, st.nshards, st.id) {
            Ok(owner) => owner,
            Err(e) => {
                fail(&mut st.stats, &mut w, &e.message());
                return Outcome::Done;
            }
        }
    };
    match owner {
        Some(s) if s == st.id => {
            if !st.locks.is_idle() || !st.deferred.is_empty() || !st.split_self.is_empty() {
                let req = exec_req(sess, idx, args, to);
                if must_defer(st, &req) {
                    st.deferred.push_back(req);
                    sess.lane = Lane::Shard(s as u16);
                    return Outcome::Pending;
                }
            }
            match call_blocking(st, idx, args, db, sess.proto, w.buf, sess.id) {
                None => Outcome::Done,
                Some(req) => {
                    let p = super::blocking::ParkReq { to, client_id: sess.id, db, proto: sess.proto, cmd: idx, args };
                    super::blocking::park(st, p, req);
                    sess.lane = Lane::Shard(s as u16);
                    Outcome::Barrier
                }
            }
        }
        Some(s) => {
            // A cut on this replica waits for the master link's hops (`repl::apply`).
            crate::repl::apply::on_hop(st, to);
            // Packed with the turn's other requests for that shard (`hopbatch`).
            let head = ExecHead {
                seq: to.seq,
                client_id: sess.id,
                slot: to.slot,
                generation: to.generation,
                db,
                cmd: idx,
                proto: sess.proto,
            };
            if !st.outbox.push_exec(s, &head, (0..args.len()).map(|i| args.get(i))) {
                st.outbox.push(s, Msg::Exec(Box::new(exec_req(sess, idx, args, to))));
            }
            sess.lane = Lane::Shard(s as u16);
            // A blocking command holds the client's later commands, as in Redis.
            if spec.flags & flag::BLOCKING != 0 { Outcome::Barrier } else { Outcome::Pending }
        }
        None => {
            if super::coord_split::start(st, idx, args, db, sess.proto, sess.id, to) {
                sess.lane = Lane::Split;
                return Outcome::Pending;
            }
            coord::start_keyed_tx(st, exec_req(sess, idx, args, to));
            sess.lane = Lane::Many;
            Outcome::Barrier
        }
    }
}

/// The one shard owning every key of a multi-key command (`here` when it names none),
/// or None when they live on several. Routing asks this for every multi-key command,
/// and `cmd::order::target` too while the connection owes replies: a range of keys
/// (MSET, MGET, DEL ...) is walked in place, not listed (a list was an allocation and a
/// free each time).
pub fn owner_of_keys(
    spec: &super::CommandSpec,
    args: &Args,
    db: u16,
    nshards: usize,
    here: usize,
) -> Result<Option<usize>, CmdError> {
    let owner = |i: usize| shard_of(args.get(i), nshards);
    if let Some(mut positions) = spec.range_key_positions(args.len()) {
        let Some(first) = positions.next().map(owner) else { return Ok(Some(here)) };
        return Ok(positions.all(|i| owner(i) == first).then_some(first));
    }
    let keys = spec.key_positions(args, db)?;
    let first = keys.first().map(|&(_, i)| owner(i)).unwrap_or(here);
    Ok(keys.iter().all(|&(_, i)| owner(i) == first).then_some(first))
}

fn exec_req(sess: &Session, idx: u16, args: &Args, to: ReplyTo) -> ExecReq {
    ExecReq { to, client_id: sess.id, db: sess.db, proto: sess.proto, cmd: idx, args: args.to_owned() }
}

/// Must this request wait for a lock release? Yes if any of its keys is locked, or if
/// an earlier request of the same client is already waiting (order per client holds).
fn must_defer(st: &ShardState, req: &ExecReq) -> bool {
    must_defer_args(st, req.client_id, req.cmd, &Args::Owned(&req.args), req.db)
}

fn must_defer_args(st: &ShardState, client_id: u64, cmd: u16, args: &Args, db: u16) -> bool {
    if st.shared.replica.is_master_client(client_id) {
        // Never behind a whole-shard lock: a cut may be waiting for it (`repl::apply`).
        return crate::repl::apply::must_wait(st, client_id, cmd, args, db);
    }
    if st.deferred.iter().any(|d| d.client_id == client_id) || st.split_self.contains_key(&client_id) {
        return true;
    }
    if st.locks.is_idle() {
        return false;
    }
    let spec = TABLE.get(cmd);
    if let Some(mut positions) = spec.range_key_positions(args.len()) {
        return positions.any(|i| st.locks.blocks(db, args.get(i)));
    }
    match spec.key_positions(args, db) {
        Ok(keys) => keys.iter().any(|&(db, i)| st.locks.blocks(db, args.get(i))),
        Err(_) => false,
    }
}

/// The choke point: runs a keyed command against this shard's databases and accounts
/// for it. Every keyed command passes here exactly once, wherever it came from. A
/// blocking command that would wait answers its no-wait reply at once (the MULTI/EXEC
/// rule); use `call_blocking` where waiting is possible.
pub fn call(st: &mut ShardState, idx: u16, args: &Args, db: u16, proto: Proto, out: &mut Vec<u8>, client_id: u64) {
    if let Some(req) = call_inner(st, idx, args, db, proto, out, client_id) {
        super::blocking::no_wait_reply(out, proto, req.no_wait_reply);
    }
}

/// Like `call`, but a blocking command with nothing to do returns its wait request
/// (and writes nothing): the caller parks it.
pub fn call_blocking(
    st: &mut ShardState,
    idx: u16,
    args: &Args,
    db: u16,
    proto: Proto,
    out: &mut Vec<u8>,
    client_id: u64,
) -> Option<crate::shard::block::BlockReq> {
    call_inner(st, idx, args, db, proto, out, client_id)
}

fn call_inner(
    st: &mut ShardState,
    idx: u16,
    args: &Args,
    db: u16,
    proto: Proto,
    out: &mut Vec<u8>,
    client_id: u64,
) -> Option<crate::shard::block::BlockReq> {
    let spec = TABLE.get(idx);
    let Handler::Keyed(f) = spec.handler else { unreachable!("call() is for keyed commands") };
    // In a pipelined batch the previous command's end reading starts this one (so its
    // time includes parsing its request: tens of nanoseconds), or none (`cmdtime`).
    let timing = super::cmdtime::begin(st, idx, args);
    let reply_start = out.len();
    let notify_mask = st.config.notify_mask;
    if notify_mask != 0 {
        track_pending(st, notify_mask, true);
    }
    // The master's commands see no expiry on a replica (`repl::replica`): a clock at 0.
    let now_ms = if st.shared.replica.is_master_client(client_id) { 0 } else { st.now_ms };
    if spec.flags & flag::MAY_REPLICATE != 0 {
        super::script::before_run(st);
    }
    let mut ctx = ExecCtx {
        dbs: &mut st.dbs,
        db: db as usize,
        now_ms,
        out: ReplyWriter::new(out, proto),
        stats: &mut st.stats,
        dirty: 0,
        config: &st.config,
        shared: &st.shared,
        client_id,
        block: None,
        notes: None,
        prop: Default::default(),
        unchanged_key: None,
        only_changed_key: None,
        unchanged_keys: Vec::new(),
        rerun: st.rerunning_waiter,
    };
    if spec.flags & flag::WRITE != 0
        && st.aof.on
        && !st.split_part_admitted
        && let Some(e) = st.shared.aof_health.refusal()
    {
        // MISCONF: never run a write that could not be logged.
        fail(ctx.stats, &mut ctx.out, &e);
        return None;
    }
    let res = f(&mut ctx, args);
    let dirty = ctx.dirty;
    let block = ctx.block.take();
    let prop = std::mem::take(&mut ctx.prop);
    let changed = KeysChanged {
        unchanged: ctx.unchanged_key,
        only: ctx.only_changed_key,
        unchanged_more: std::mem::take(&mut ctx.unchanged_keys),
    };
    if let Err(e) = &res {
        if e.uncounted() {
            fail(ctx.stats, &mut ctx.out, &e.message());
        } else {
            ctx.out.error(&e.message());
        }
    }
    let notes = if notify_mask != 0 { Some(ctx.take_notes()) } else { None };
    st.dirty += dirty;
    if dirty > 0
        && (!st.watch.is_empty() || !st.blocked.is_empty() || super::tracking::writes_matter(st))
        && !super::script::is_script_spec(spec)
    {
        // A script's keys are signalled by what its commands changed (`script::settle`).
        touch_keys(st, spec, args, db, &changed, client_id);
    }
    // After the command's own signals: a script's reads are remembered past its writes.
    super::script::settle(st, client_id);
    match notes {
        None => st.account_expired(),
        Some(notes) => publish_notes(st, notify_mask, db, notes),
    }
    if (dirty > 0 || prop.has_stream_only()) && st.aof.active() {
        crate::persist::propagate(&mut st.aof, &st.dbs, spec.name, args, db, prop);
    }
    let reply_bytes = out.len().saturating_sub(reply_start);
    super::cmdtime::end(st, idx, timing, res.is_err(), args, client_id, true, reply_bytes);
    if !st.blocked.ready.is_empty() {
        super::blocking::serve_blocked(st);
    }
    // After the blocked clients this may have served, whose commands set it too.
    st.last_only_changed = changed.only;
    block
}

/// Publishes a command's keyspace events, then `expired` for keys that expired on its
/// way and are not among them, and stops recording.
#[cold]
fn publish_notes(st: &mut ShardState, mask: u32, db: u16, notes: super::ctx::Notes) {
    track_pending(st, mask, false);
    if !notes.events.is_empty() {
        st.publish_events(&notes.events);
    }
    st.account_expired_reported(db as usize, notes.expired_seen);
}

/// Switches the recording of what becomes `new` and `keymiss` events on (around a
/// command, for the classes in `mask`) or off.
#[cold]
fn track_pending(st: &mut ShardState, mask: u32, on: bool) {
    if mask & notify::NEW != 0 {
        for d in st.dbs.iter_mut() {
            d.track_created = on;
            d.created.clear();
        }
    }
    st.stats.track_misses = on && mask & notify::KEY_MISS != 0;
    st.stats.missed.clear();
}

/// What a handler said about the keys it names (`ExecCtx::unchanged_key`,
/// `ExecCtx::only_changed_key`, `ExecCtx::unchanged_keys`).
pub(super) struct KeysChanged {
    pub unchanged: Option<usize>,
    pub only: Option<usize>,
    pub unchanged_more: Vec<usize>,
}

impl KeysChanged {
    /// Did the command change its key at argument `i`, as far as it said?
    pub fn may_have_changed(&self, i: usize) -> bool {
        self.unchanged != Some(i) && self.only.is_none_or(|o| o == i) && !self.unchanged_more.contains(&i)
    }
}

/// A write changed keys: bump the versions of those that are WATCHed and wake clients
/// blocked on them. Every key the command names but the ones it only reads (COPY's and
/// the STORE commands' sources, `CommandSpec::only_reads_key`) and the ones it says it
/// left unchanged (SMOVE's destination that had the member; the keys a multi-key pop
/// did not pop from).
fn touch_keys(
    st: &mut ShardState,
    spec: &super::CommandSpec,
    args: &Args,
    db: u16,
    changed: &KeysChanged,
    client_id: u64,
) {
    if let Ok(mut keys) = spec.key_positions(args, db) {
        keys.retain(|&(_, i)| changed.may_have_changed(i) && !spec.only_reads_key(i));
        if super::tracking::writes_matter(st) {
            super::tracking::invalidate(st, keys.iter().map(|&(_, i)| args.get(i)), client_id);
        }
        for (d, i) in keys {
            st.watch.touch(d, args.get(i));
            st.blocked.touched(d, args.get(i));
        }
    }
}

/// Writes an error reply and counts it (INFO `total_error_replies` and errorstats).
fn fail(stats: &mut crate::shard::stats::ShardStats, w: &mut ReplyWriter, msg: &str) {
    stats.count_error(msg);
    w.error(msg);
}

fn bump_rejected(st: &mut ShardState, idx: u16, args: &Args) {
    if let Some(c) = super::cmdtime::stat_of(&mut st.stats, super::cmdtime::stat_slot(idx, args)) {
        c.rejected_calls += 1;
    }
}

/// Runs a keyed request that arrived from another thread (or left the deferral queue)
/// and sends its reply home.
fn run_exec(st: &mut ShardState, req: ExecReq) {
    if st.shared.cluster.enabled
        && let Some(e) = crate::cluster::redirect::recheck(st, &req)
    {
        let mut out = Vec::new();
        st.stats.count_error(&e);
        ReplyWriter::new(&mut out, req.proto).error(&e);
        st.send_reply(req.to, out);
        return;
    }
    // Most replies are small: one allocation instead of growing from empty.
    let mut out = Vec::with_capacity(64);
    let head = (req.to, req.client_id, req.db, req.proto, req.cmd);
    call_and_answer(st, head, &Args::Owned(&req.args), &mut out);
}

/// Runs a request another shard sent and answers it (or parks it, for a blocking
/// command that must wait): `run_exec` and `run_hops` alike.
fn call_and_answer(st: &mut ShardState, head: (ReplyTo, u64, u16, Proto, u16), args: &Args, out: &mut Vec<u8>) {
    let (to, client_id, db, proto, cmd) = head;
    st.running_for = to.shard;
    let block = call_blocking(st, cmd, args, db, proto, out, client_id);
    st.running_for = NO_SHARD;
    match block {
        None => st.send_reply_from(to, out),
        Some(block) => {
            let p = super::blocking::ParkReq { to, client_id, db, proto, cmd, args };
            super::blocking::park(st, p, block);
        }
    }
}

/// Runs a packed buffer of requests from another shard in order (`shard::hopbatch`),
/// each as `run_exec` would; small replies go into the packed buffer going home
/// without a buffer of their own. The emptied buffer is kept to carry records back.
fn run_hops(st: &mut ShardState, hops: Packed) {
    let mut ranges = Vec::with_capacity(4);
    let mut out = std::mem::take(&mut st.hop_out);
    let (mut pos, mut warmed_to) = (0, 0);
    loop {
        if pos >= warmed_to {
            warmed_to = warm_hops(st, &hops, pos, &mut ranges);
        }
        let Some(h) = hops.next_exec(&mut pos, &mut ranges) else { break };
        let to = h.reply_to(hops.from);
        let args = Args::Ranges { buf: &hops.buf, scratch: &[], ranges: &ranges };
        let defer =
            (!st.locks.is_idle() || !st.deferred.is_empty()) && must_defer_args(st, h.client_id, h.cmd, &args, h.db);
        if defer || st.shared.cluster.enabled {
            let req =
                ExecReq { to, client_id: h.client_id, db: h.db, proto: h.proto, cmd: h.cmd, args: args.to_owned() };
            if defer {
                st.deferred.push_back(req);
            } else {
                run_exec(st, req);
            }
            continue;
        }
        out.clear();
        call_and_answer(st, (to, h.client_id, h.db, h.proto, h.cmd), &args, &mut out);
    }
    st.hop_out = out;
    st.outbox.recycle(hops.from, hops.buf);
}

/// Keys warmed together before the hopped requests holding them run (as
/// `net::lookahead` does for a connection's pipeline).
const HOP_WARM_KEYS: usize = 16;

/// Warms the keys of the packed requests from `pos` on, up to `HOP_WARM_KEYS` of them
/// (key = the first argument; every key of MSET, MGET), one lookup stage for all before
/// the next, so their cache misses overlap: the sender's read-ahead warmed only its own
/// shard's keys, and a request run cold here waits for its misses one after another.
/// Returns where the warmed requests end.
fn warm_hops(st: &ShardState, hops: &Packed, mut pos: usize, ranges: &mut Vec<(u32, u32)>) -> usize {
    let mut keys = [(0u16, 0u64); HOP_WARM_KEYS];
    let mut n = 0;
    let mut end = pos;
    while n < HOP_WARM_KEYS {
        let Some(h) = hops.next_exec(&mut pos, ranges) else { break };
        end = pos;
        let Some(d) = st.dbs.get(h.db as usize) else { continue };
        if d.len() < crate::storage::db::WARM_MIN_KEYS || ranges.len() < 2 {
            continue;
        }
        let stride = TABLE.key_stride(h.cmd).unwrap_or(ranges.len());
        for &(a, b) in ranges[1..].iter().step_by(stride).take(HOP_WARM_KEYS - n) {
            keys[n] = (h.db, d.key_hash(&hops.buf[a as usize..b as usize]));
            n += 1;
        }
    }
    if n > 1 {
        for stage in [Warm::Bucket, Warm::Slot, Warm::Key] {
            for &(db, h) in &keys[..n] {
                st.dbs[db as usize].warm(h, stage);
            }
        }
    }
    end
}

/// Applies one batch from the inbox. Requests other shards sent in a row are timed
/// as a pipelined batch is (`cmdtime`: one clock reading per command, or per group of
/// fast ones) instead of two readings each; anything else in between closes the run,
/// so its work is never counted as a command's. Packed replies wait for the
/// connection layer (`ShardState::hop_replies`), which splices them without copies.
pub fn handle_batch(st: &mut ShardState, batch: Vec<Msg>) {
    // Taken from the front (never pushed to, so the rest stays one slice), and the
    // emptied vector goes to the outbox for the next batch back (`recycle_batch`).
    let mut msgs = std::collections::VecDeque::from(batch);
    let mut fetched = false;
    let mut fetched_returned = false;
    while let Some(mut msg) = msgs.pop_front() {
        // Our parts coming back from the peer (`coord_split::fetch_returned`).
        if !fetched_returned
            && let Msg::Ran { result, .. } = &msg
            && let Some(part) = result.downcast_ref::<crate::shard::lock::SplitPart>()
        {
            fetched_returned = true;
            super::coord_split::fetch_returned(part, msgs.as_slices().0);
        }
        // A run of split parts (a peer's turn of MSETs ...): their keys are warmed a
        // few parts at a time, so the misses overlap (`coord_split::warm_parts`), after
        // the parts themselves are asked for, all at once (`coord_split::fetch_parts`).
        if let Msg::LockRun { part, .. } = &mut msg
            && !part.warmed
        {
            if !fetched {
                fetched = true;
                super::coord_split::fetch_parts(part, msgs.as_slices().0);
            }
            let next = super::coord_split::parts_of(msgs.as_mut_slices().0);
            super::coord_split::warm_parts(st, std::iter::once(&mut **part).chain(next));
        }
        let exec = matches!(msg, Msg::Exec(_) | Msg::Hops(_));
        if exec != st.cmd_chain {
            if st.cmd_chain {
                super::cmdtime::end_batch(st);
            }
            st.cmd_chain = exec;
        }
        match msg {
            Msg::Replies(p) => {
                note_link_replies(st, &p);
                st.hop_replies.push(p)
            }
            msg => handle_msg(st, msg),
        }
    }
    if st.cmd_chain {
        st.cmd_chain = false;
        super::cmdtime::end_batch(st);
    }
    st.outbox.recycle_batch(Vec::from(msgs));
}

/// Applies one inbox message.
pub fn handle_msg(st: &mut ShardState, msg: Msg) {
    match msg {
        Msg::Exec(req) => {
            if (!st.locks.is_idle() || !st.deferred.is_empty()) && must_defer(st, &req) {
                st.deferred.push_back(*req);
            } else {
                run_exec(st, *req);
            }
        }
        Msg::Reply { to, bytes } => {
            if st.link.hops > 0 {
                crate::repl::apply::on_reply(st, to);
            }
            st.local_replies.push((to, bytes.into()))
        }
        Msg::Hops(p) => run_hops(st, p),
        Msg::Replies(p) => {
            note_link_replies(st, &p);
            // Outside the loop (tests, start-up loading): one buffer per reply.
            let mut pos = 0;
            while let Some((to, bytes)) = p.next_reply(&mut pos) {
                st.local_replies.push((to, bytes.to_vec().into()));
            }
            st.outbox.recycle(p.from, p.buf);
        }
        Msg::Lock { tx, coord, plan, gather } => {
            if let Some(w) = st.locks.request(Waiting { tx, coord, plan, gather, run: None }) {
                coord::answer_granted(st, w);
            }
        }
        Msg::LockRun { tx, coord, part } => super::coord_split::on_lock_run(st, tx, coord, part),
        Msg::Locked { coord, shard, entries } => coord::on_locked(st, coord, shard, entries),
        Msg::Run { coord, hop } => {
            let result = hop(st);
            let me = st.id as u16;
            st.outbox.push(coord.shard as usize, Msg::Ran { coord: coord.id, shard: me, result });
        }
        Msg::Ran { coord, shard, result } => coord::on_ran(st, coord, shard, result),
        Msg::Park(w) => super::blocking::park_part(st, *w),
        Msg::Monitor(line) => super::monitor::deliver_local(st, &line),
        Msg::Publish(msgs) => {
            for (ch, m) in msgs.iter() {
                st.publish_local(ch, m);
            }
        }
        Msg::SPublish(msgs) => {
            for (ch, m) in msgs.iter() {
                st.spublish_local(ch, m);
            }
        }
        Msg::Release { tx, writes, kept, writer } => {
            coord::put_back(st, kept);
            coord::apply_writes(st, writes, writer);
            coord::release_locks(st, tx);
            // Keys the transaction held wake their blocked clients now (`blocking`).
            if !st.blocked.ready.is_empty() {
                super::blocking::serve_blocked(st);
            }
            retry_deferred(st);
        }
        Msg::ExpireHeld(keys) => st.expire_held(keys),
        Msg::SlowEntry(b) => {
            let (mut entry, client_id) = *b;
            if let Some(m) = st.clients.get(&client_id) {
                entry.addr = m.addr.clone();
                entry.name = m.name.clone();
            }
            st.monitor.file_slow(entry, st.config.slowlog_max_len as usize);
        }
        Msg::Return { tx, entries } => {
            coord::put_back(st, entries);
            handle_msg(st, Msg::Release { tx, writes: Vec::new(), kept: Vec::new(), writer: 0 });
        }
    }
}

/// Replays deferred requests whose locks are gone, in order, keeping per-client order.
pub(crate) fn retry_deferred(st: &mut ShardState) {
    if st.deferred.is_empty() {
        return;
    }
    let pending = std::mem::take(&mut st.deferred);
    for req in pending {
        if must_defer(st, &req) {
            st.deferred.push_back(req);
        } else {
            run_exec(st, req);
        }
    }
}

/// Error reply helper for handlers that build replies in a Vec.
pub fn error_reply(out: &mut Vec<u8>, proto: Proto, e: &CmdError) {
    ReplyWriter::new(out, proto).error(&e.message());
}

/// A replica's master link counts its hops until their replies arrive (`repl::apply`):
/// replies come back packed, so each record for the link is counted here.
fn note_link_replies(st: &mut ShardState, p: &crate::shard::hopbatch::Packed) {
    if st.link.hops == 0 {
        return;
    }
    let mut pos = 0;
    while let Some((to, _)) = p.next_reply(&mut pos) {
        crate::repl::apply::on_reply(st, to);
    }
}
