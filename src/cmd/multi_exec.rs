//! EXEC's coordinator (`TxExec`): locks, the WATCH check, then the queued commands.
//!
//! The queued commands run in queued order. A *run* of consecutive commands whose keys
//! each live on one shard (most of a typical transaction) goes out at once: the
//! coordinator runs its own shard's commands of the run in place and sends every other
//! shard one `Msg::Run` carrying that shard's commands in order, then waits for all of
//! them and puts the replies back in queued order. The locks are held already, and
//! commands on different shards touch disjoint keys, so no client can tell in which
//! order the shards ran their parts. Anything else (a command over several shards, a
//! fan-out such as DBSIZE or FLUSHALL, SORT with patterns) runs alone, as a barrier
//! between runs. Everything per command stays as it was: the MONITOR line and the
//! tracking note (made in queued order, before the run goes out), the log staging under
//! the transaction's id (`st.aof.stage`), the set of shards that wrote, errors in their
//! own slots.

use super::Args;
use super::coord::{apply_writes, queue_locks};
use super::ctx::{ConnCtx, ConnOutcome, Finish, Session};
use super::dispatch::call;
use super::table::{CommandSpec, Handler, TABLE, flag};
use crate::resp::{Proto, ReplyWriter};
use crate::shard::lock::LockPlan;
use crate::shard::msg::{CoordRef, HopResult, KeyEntries, Msg, OwnedArgs};
use crate::shard::state::Coordinator;
use crate::shard::{ReplyTo, ShardState, shard_of};
use crate::storage::Db;
use std::sync::{Arc, Mutex};
/// A run's part on another shard: its replies, and whether it staged propagation
/// (then that shard commits a part at the end, written or not by flag).
struct RunOut {
    outs: Vec<Vec<u8>>,
    staged: bool,
}

/// What EXEC hands to the dispatcher to start the transaction.
pub struct ExecPlan {
    pub(super) cmds: Vec<(u16, OwnedArgs, u16)>,
    pub(super) watches: Vec<(u16, u16, Vec<u8>, u64)>,
    pub(super) session: Session,
    /// EXEC as the client spelled it, for MONITOR.
    pub(super) word: Vec<u8>,
    /// Per queued command: the NOPERM error it answers instead of running.
    pub(super) refused: Vec<Option<String>>,
    /// A replica's batch only: per queued command, its shard, worked out as it was
    /// queued (`repl::batch::batchable`; `repl::batch::SELECT` for a SELECT).
    pub(super) owners: Vec<u16>,
}

/// Does this queued command need every shard locked whole (it reads or writes a
/// whole shard rather than named keys)?
fn needs_whole_lock(spec: &CommandSpec) -> bool {
    matches!(spec.handler, Handler::Conn(_)) && spec.group != "connection" && spec.group != "transactions"
}

/// Runs a batch of a replica's master link (`repl::batch`) as a transaction: as EXEC,
/// without WATCH, ACL checks or a MONITOR line of its own. `owners` holds each
/// command's shard (its SELECTs answer in place, within a run).
pub fn start_batch(
    st: &mut ShardState,
    cmds: Vec<(u16, OwnedArgs, u16)>,
    owners: Vec<u16>,
    session: Session,
    to: ReplyTo,
) {
    let refused = vec![None; cmds.len()];
    let proto = session.proto;
    let plan = ExecPlan { cmds, watches: Vec::new(), session, word: Vec::new(), refused, owners };
    start_exec(st, Box::new(plan), to, proto);
}

/// Starts EXEC's coordinator.
pub fn start_exec(st: &mut ShardState, plan: Box<ExecPlan>, to: ReplyTo, proto: Proto) {
    let ExecPlan { cmds, watches, session, word, refused, owners } = *plan;
    let n = st.nshards;
    let whole = cmds.iter().zip(&refused).any(|((idx, args, _), no)| {
        no.is_none()
            && (needs_whole_lock(TABLE.get(*idx))
                || super::sort::needs_pattern_gather(n, TABLE.get(*idx), &Args::Owned(args)))
    });
    let mut per_shard: Vec<Vec<(u16, Vec<u8>)>> = vec![Vec::new(); n];
    for ((idx, args, db), no) in cmds.iter().zip(&refused) {
        if no.is_some() {
            continue;
        }
        let a = Args::Owned(args);
        if let Ok(keys) = TABLE.get(*idx).key_positions(&a, *db) {
            for (d, i) in keys {
                per_shard[shard_of(a.get(i), n)].push((d, a.get(i).to_vec()));
            }
        }
    }
    for (shard, db, key, _) in &watches {
        per_shard[*shard as usize].push((*db, key.clone()));
    }
    let plans: Vec<(usize, LockPlan)> = if whole {
        (0..n).map(|s| (s, LockPlan::Whole)).collect()
    } else {
        per_shard.into_iter().enumerate().filter(|(_, k)| !k.is_empty()).map(|(s, k)| (s, LockPlan::Keys(k))).collect()
    };
    let id = st.next_coord_id;
    st.next_coord_id += 1;
    let locked: Vec<u16> = plans.iter().map(|(s, _)| *s as u16).collect();
    let client_id = session.id;
    let mut tx = TxExec {
        id,
        tx: 0,
        to,
        proto,
        client_id,
        session,
        cmds,
        watches,
        waiting: locked.len(),
        locked,
        phase: Phase::Locking,
        next: 0,
        replies: Vec::new(),
        done: 0,
        gathered: Vec::new(),
        moved: false,
        finish: None,
        results: Vec::new(),
        watch_ok: true,
        writers: Vec::new(),
        committing: None,
        word,
        refused,
        run_replies: Vec::new(),
        run_slots: Vec::new(),
        owners,
    };
    if tx.locked.is_empty() {
        // Nothing to lock (only PING/ECHO-like commands): run straight away.
        if !tx.run(st) {
            st.coords.insert(id, Box::new(tx));
        }
        return;
    }
    tx.tx = queue_locks(st, id, plans, false);
    st.coords.insert(id, Box::new(tx));
}

enum Phase {
    Locking,
    CheckingWatches,
    /// Waiting for the other shards' parts of the run that starts at `next`.
    Run,
    Gather,
    /// Waiting for a SORT's source (and destination), to find its pattern keys.
    SortSource,
    FanOut,
}

struct TxExec {
    id: u64,
    tx: u64,
    to: ReplyTo,
    proto: Proto,
    client_id: u64,
    session: Session,
    cmds: Vec<(u16, OwnedArgs, u16)>,
    watches: Vec<(u16, u16, Vec<u8>, u64)>,
    locked: Vec<u16>,
    waiting: usize,
    phase: Phase,
    next: usize,
    replies: Vec<u8>,
    done: usize,
    gathered: KeyEntries,
    /// `gathered` holds values moved out of their shards (a keyed command's, handed
    /// over as `coord` does), not copies (SORT's pattern keys): each goes back.
    moved: bool,
    finish: Option<Finish>,
    results: Vec<(u16, HopResult)>,
    watch_ok: bool,
    /// Shards where a write of this transaction ran: each logs its part as one block
    /// at commit (see `persist`).
    writers: Vec<u16>,
    /// The EXEC reply, held while the writers commit their parts.
    committing: Option<Vec<u8>>,
    /// EXEC as the client spelled it, for MONITOR.
    word: Vec<u8>,
    refused: Vec<Option<String>>,
    /// The current run's replies, by position in the run, as they arrive.
    run_replies: Vec<Option<Vec<u8>>>,
    /// Per shard: the positions in the run of the commands sent to it, in order.
    run_slots: Vec<Vec<usize>>,
    /// A replica's batch: each command's shard (`ExecPlan::owners`); else empty.
    owners: Vec<u16>,
}

/// Where a command of a run goes.
#[derive(Clone, Copy)]
enum RunPart {
    /// Answers its NOPERM error in its slot.
    Refused,
    /// A SELECT of a replica's batch: answered here (each command carries its db).
    Select,
    /// Runs on this shard.
    On(usize),
}

/// Marks a hop answer that needs no waiting (write-backs of a cross-shard command).
struct Ack;

impl TxExec {
    fn me(&self, st: &ShardState) -> CoordRef {
        CoordRef { shard: st.id as u16, id: self.id }
    }

    fn wrote_on(&mut self, shard: usize) {
        if !self.writers.contains(&(shard as u16)) {
            self.writers.push(shard as u16);
        }
    }

    /// Starts the watch check, or the commands if nothing is watched.
    fn after_locks(&mut self, st: &mut ShardState) -> bool {
        if self.watches.is_empty() {
            return self.run(st);
        }
        let mut per_shard: Vec<Vec<(u16, Vec<u8>, u64)>> = vec![Vec::new(); st.nshards];
        for (s, db, k, v) in &self.watches {
            per_shard[*s as usize].push((*db, k.clone(), *v));
        }
        self.phase = Phase::CheckingWatches;
        self.waiting = 0;
        let me = self.me(st);
        for (s, list) in per_shard.into_iter().enumerate() {
            if list.is_empty() {
                continue;
            }
            self.waiting += 1;
            let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
                let now = st.now_ms;
                let mut ok = true;
                for (db, k, v) in &list {
                    // A watched key that expired since (even if not yet deleted)
                    // also counts as changed, as in Redis 7; one already expired at
                    // WATCH does not, nor does its removal (`WatchTable::unchanged`).
                    let expired = st.dbs[*db as usize]
                        .peek_with_expire(k)
                        .is_some_and(|(_, at)| crate::storage::has_expired(at, now));
                    ok &= st.watch.unchanged(*db, k, *v, expired);
                    st.watch.unwatch(*db, k);
                }
                Box::new(ok)
            });
            st.outbox.push(s, Msg::Run { coord: me, hop });
        }
        false
    }

    /// Runs queued commands until one must wait for another shard. Returns true when
    /// the transaction is finished.
    fn run(&mut self, st: &mut ShardState) -> bool {
        if !self.watch_ok {
            // The queued commands never run: their scripts' noted callers go, and a
            // queued SELECT did not happen (the connection's db goes back).
            super::script::discard_queued(st, self.client_id, &self.cmds);
            if let Some(&(_, _, last_db)) = self.cmds.last()
                && last_db != self.session.db
                && st.clients.contains_key(&self.client_id)
            {
                st.exec_db_undo.insert(self.client_id, self.session.db);
            }
            return self.finish_tx(st, true);
        }
        while self.next < self.cmds.len() {
            let owners = self.run_owners(st);
            if !owners.is_empty() {
                if self.start_run(st, owners) {
                    return false;
                }
                continue;
            }
            let (idx, args, db) = &self.cmds[self.next];
            let (idx, db) = (*idx, *db);
            let spec = TABLE.get(idx);
            if super::monitor::active(st) {
                super::monitor::feed_client(st, spec, db, self.client_id, &Args::Owned(args));
            }
            if !st.tracking.clients.is_empty() {
                super::tracking::on_command(st, self.client_id, spec, &Args::Owned(args), db, true);
            }
            match spec.handler {
                Handler::Conn(f) => {
                    // A copy: the transaction's state changes while the command is
                    // still accounted (queued keyless commands are few and small).
                    let args = &args.clone();
                    let mut out = Vec::new();
                    self.session.db = db;
                    // Counted and slow-logged as a command of its own, as Redis's
                    // EXEC calls each queued one (EXEC itself is `skip_slowlog`).
                    let start = crate::util::stopwatch::Stopwatch::now();
                    let res = {
                        let mut ctx = ConnCtx {
                            sess: &mut self.session,
                            st: &mut *st,
                            out: ReplyWriter::new(&mut out, self.proto),
                        };
                        f(&mut ctx, &Args::Owned(args))
                    };
                    if spec.flags & flag::MAY_REPLICATE != 0 && res.is_ok() {
                        // PUBLISH: in the transaction's part here, in queued order.
                        stage_at(st, self.tx, self.next);
                        super::dispatch::replicate_keyless(st, &Args::Owned(args), db);
                        unstage(st);
                        if st.aof.staged_anything(self.tx) {
                            self.wrote_on(st.id);
                        }
                    }
                    if !matches!(res, Ok(ConnOutcome::FanOut(_))) {
                        let timing = super::cmdtime::Timing::Own(start);
                        super::cmdtime::end(st, idx, timing, res.is_err(), &Args::Owned(args), self.client_id, true, 0);
                    }
                    match res {
                        Ok(ConnOutcome::FanOut(fo)) => {
                            self.phase = Phase::FanOut;
                            let finish = super::dispatch::timed_finish(
                                st,
                                idx,
                                &Args::Owned(args),
                                start,
                                self.client_id,
                                fo.finish,
                            );
                            self.finish = Some(finish);
                            self.results.clear();
                            self.waiting = st.nshards;
                            let me = self.me(st);
                            let hop = if spec.is_write() {
                                (0..st.nshards).for_each(|s| self.wrote_on(s));
                                staged(self.tx, self.next, fo.hop)
                            } else {
                                fo.hop
                            };
                            for s in 0..st.nshards {
                                st.outbox.push(s, Msg::Run { coord: me, hop: hop.clone() });
                            }
                            return false;
                        }
                        Ok(_) => self.push_reply(out),
                        Err(e) => {
                            ReplyWriter::new(&mut out, self.proto).error(&e.message());
                            self.push_reply(out)
                        }
                    }
                }
                Handler::Keyed(_) => {
                    let a = Args::Owned(args);
                    // A key named in a database that does not exist (COPY ... DB 99)
                    // cannot be gathered; the handler answers "DB index is out of range".
                    let mut keys = spec.key_positions(&a, db).unwrap_or_default();
                    keys.retain(|&(d, _)| (d as usize) < st.dbs.len());
                    if super::sort::needs_pattern_gather(st.nshards, spec, &a) {
                        // SORT's pattern keys: the source first, then what it names.
                        self.phase = Phase::SortSource;
                        self.gathered.clear();
                        self.moved = false;
                        self.waiting = 0;
                        let named = keys.iter().map(|&(d, i)| (d, a.get(i).to_vec())).collect();
                        self.fetch_all(st, named);
                        return false;
                    }
                    let mut shards: Vec<usize> = keys.iter().map(|&(_, i)| shard_of(a.get(i), st.nshards)).collect();
                    shards.sort_unstable();
                    shards.dedup();
                    if shards.is_empty() {
                        // No keys (or none it could name): it runs here, alone. A command
                        // with keys on one shard went out with its run (`run_owners`).
                        if spec.is_write() && !self.writers.contains(&(st.id as u16)) {
                            self.writers.push(st.id as u16);
                        }
                        let mut out = Vec::new();
                        stage_at(st, self.tx, self.next);
                        call(st, idx, &a, db, self.proto, &mut out, self.client_id);
                        unstage(st);
                        if st.aof.staged_anything(self.tx) {
                            self.wrote_on(st.id);
                        }
                        self.push_reply(out);
                        continue;
                    }
                    // Keys on several shards: their values are handed over, not copied
                    // (we hold the locks already), and go back after the run.
                    let mut per: Vec<Vec<(u16, Vec<u8>)>> = vec![Vec::new(); st.nshards];
                    for (d, i) in keys {
                        per[shard_of(a.get(i), st.nshards)].push((d, a.get(i).to_vec()));
                    }
                    self.phase = Phase::Gather;
                    self.gathered.clear();
                    self.moved = true;
                    self.waiting = shards.len();
                    let me = self.me(st);
                    for (s, mut list) in per.into_iter().enumerate() {
                        if list.is_empty() {
                            continue;
                        }
                        // Each key once: its value is handed over, so a second take
                        // would find only the placeholder.
                        list.sort_unstable();
                        list.dedup();
                        let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
                            let now = super::coord::gather_clock(st);
                            let got: KeyEntries = list
                                .iter()
                                .map(|(d, k)| {
                                    (*d, k.clone(), super::coord::take_value(&mut st.dbs[*d as usize], k, now))
                                })
                                .collect();
                            st.account_expired();
                            Box::new(got)
                        });
                        st.outbox.push(s, Msg::Run { coord: me, hop });
                    }
                    return false;
                }
            }
        }
        self.finish_tx(st, false)
    }

    /// Asks each shard for copies of the `keys` it owns (the locks are held);
    /// `waiting` counts the answers due.
    fn fetch_all(&mut self, st: &mut ShardState, keys: Vec<(u16, Vec<u8>)>) {
        let mut per: Vec<Vec<(u16, Vec<u8>)>> = vec![Vec::new(); st.nshards];
        for (d, k) in keys {
            let s = shard_of(&k, st.nshards);
            if !per[s].contains(&(d, k.clone())) && !self.gathered.iter().any(|(gd, gk, _)| *gd == d && *gk == k) {
                per[s].push((d, k));
            }
        }
        let me = self.me(st);
        for (s, list) in per.into_iter().enumerate() {
            if !list.is_empty() {
                self.waiting += 1;
                st.outbox.push(s, Msg::Run { coord: me, hop: super::sort::fetch(list) });
            }
        }
    }

    /// The shard of queued command `i` if it may go out in a run: a keyed command
    /// whose keys all live on that one shard (SORT with patterns gathers instead).
    fn single_owner(&self, st: &ShardState, i: usize) -> Option<usize> {
        if let Some(&owner) = self.owners.get(i) {
            return (owner != crate::repl::batch::SELECT).then_some(owner as usize);
        }
        let (idx, args, db) = &self.cmds[i];
        let spec = TABLE.get(*idx);
        if !matches!(spec.handler, Handler::Keyed(_)) {
            return None;
        }
        let a = Args::Owned(args);
        if super::sort::needs_pattern_gather(st.nshards, spec, &a) {
            return None;
        }
        let keys = spec.key_positions(&a, *db).ok()?;
        let owner = shard_of(a.get(keys.first()?.1), st.nshards);
        keys.iter().all(|&(_, k)| shard_of(a.get(k), st.nshards) == owner).then_some(owner)
    }

    /// The run that starts at `next`: per command, its shard, or None for a refused
    /// command (answered in its slot). Empty when `next` must run alone.
    ///
    /// While keyspace events are published, a run keeps to one shard: the parts of a
    /// run over several shards publish at the same time, so a subscriber could get a
    /// later command's event first, where Redis publishes in the transaction's order.
    /// A run on one shard publishes in order, and its events reach us before its reply.
    fn run_owners(&self, st: &ShardState) -> Vec<RunPart> {
        let one_shard = st.config.notify_flags != 0;
        let mut first = None;
        let mut owners = Vec::new();
        for i in self.next..self.cmds.len() {
            if self.refused[i].is_some() {
                owners.push(RunPart::Refused);
            } else if self.owners.get(i) == Some(&crate::repl::batch::SELECT) {
                owners.push(RunPart::Select);
            } else if let Some(owner) = self.single_owner(st, i) {
                if one_shard && *first.get_or_insert(owner) != owner {
                    break;
                }
                owners.push(RunPart::On(owner));
            } else {
                break;
            }
        }
        owners
    }

    /// Starts the run of `owners.len()` commands at `next`: this shard's commands run
    /// here now, every other shard gets one message with its commands in queued order.
    /// Returns true when it waits for other shards (`Phase::Run`); else the run's
    /// replies are already pushed.
    fn start_run(&mut self, st: &mut ShardState, owners: Vec<RunPart>) -> bool {
        let start = self.next;
        let (proto, client, tx) = (self.proto, self.client_id, self.tx);
        self.run_replies = vec![None; owners.len()];
        self.run_slots = vec![Vec::new(); st.nshards];
        // Each command with its position in the transaction (`stage_at`).
        let mut parts: Vec<Vec<(u16, OwnedArgs, u16, usize)>> = vec![Vec::new(); st.nshards];
        for (k, owner) in owners.into_iter().enumerate() {
            let i = start + k;
            let owner = match owner {
                RunPart::On(owner) => owner,
                RunPart::Refused => {
                    let msg = self.refused[i].take().expect("a refused command");
                    let mut out = Vec::new();
                    ReplyWriter::new(&mut out, proto).error(&msg);
                    self.run_replies[k] = Some(out);
                    continue;
                }
                RunPart::Select => {
                    // Checked as it was queued (an existing db); the commands after it
                    // carry that db already.
                    let (idx, args, db) = &self.cmds[i];
                    if super::monitor::active(st) {
                        super::monitor::feed_client(st, TABLE.get(*idx), *db, client, &Args::Owned(args));
                    }
                    self.session.db = *db;
                    let mut out = Vec::new();
                    ReplyWriter::new(&mut out, proto).ok();
                    self.run_replies[k] = Some(out);
                    continue;
                }
            };
            if TABLE.get(self.cmds[i].0).is_write() {
                self.wrote_on(owner);
            }
            let (idx, args, db) = &self.cmds[i];
            let (idx, db) = (*idx, *db);
            let spec = TABLE.get(idx);
            if super::monitor::active(st) {
                super::monitor::feed_client(st, spec, db, client, &Args::Owned(args));
            }
            if !st.tracking.clients.is_empty() {
                super::tracking::on_command(st, client, spec, &Args::Owned(args), db, true);
            }
            if owner == st.id {
                let mut out = Vec::new();
                stage_at(st, tx, i);
                call(st, idx, &Args::Owned(&self.cmds[i].1), db, proto, &mut out, client);
                unstage(st);
                // A command without the write flag may still propagate (a script's
                // writes, PUBLISH, a lazy-expiry DEL): its part must be committed.
                if st.aof.staged_anything(tx) {
                    self.wrote_on(st.id);
                }
                self.run_replies[k] = Some(out);
            } else {
                // Moved, not copied: nothing reads a command of a run after it ran.
                parts[owner].push((idx, std::mem::take(&mut self.cmds[i].1), db, i));
                self.run_slots[owner].push(k);
            }
        }
        self.waiting = 0;
        let me = self.me(st);
        for (s, part) in parts.into_iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            self.waiting += 1;
            let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
                let outs: Vec<Vec<u8>> = part
                    .iter()
                    .map(|(idx, args, db, seq)| {
                        let mut out = Vec::new();
                        stage_at(st, tx, *seq);
                        call(st, *idx, &Args::Owned(args), *db, proto, &mut out, client);
                        out
                    })
                    .collect();
                unstage(st);
                Box::new(RunOut { staged: st.aof.staged_anything(tx), outs })
            });
            st.outbox.push(s, Msg::Run { coord: me, hop });
        }
        if self.waiting > 0 {
            self.phase = Phase::Run;
            return true;
        }
        self.finish_run();
        false
    }

    /// Every part of the run answered: its replies go in, in queued order.
    fn finish_run(&mut self) {
        for out in std::mem::take(&mut self.run_replies) {
            self.push_reply(out.expect("every command of the run answered"));
        }
    }

    fn push_reply(&mut self, out: Vec<u8>) {
        self.replies.extend_from_slice(&out);
        self.done += 1;
        self.next += 1;
    }

    /// Runs the gathered cross-shard command on a scratch keyspace and sends the
    /// final state of its keys back to their shards.
    fn run_gathered(&mut self, st: &mut ShardState) {
        let (idx, args, db) = &self.cmds[self.next];
        let (idx, db) = (*idx, *db);
        let moved = self.moved;
        let mut scratch: Vec<Db> = (0..st.dbs.len()).map(|_| Db::new()).collect();
        for (d, key, entry) in &mut self.gathered {
            if moved {
                if let Some(e) = entry.take() {
                    scratch[*d as usize].set_entry(key, e);
                }
            } else if let Some(e) = entry {
                scratch[*d as usize].set(key, e.value.clone(), e.expire_at);
            }
        }
        let mut real = std::mem::replace(&mut st.dbs, scratch);
        let mut out = Vec::new();
        // The scratch run is not this shard's history: the owners log the keys' final
        // states. With a replica attached, what the command propagates (as it would on
        // one keyspace: MSET itself, SET ... PXAT for SET EX) is kept for the stream,
        // which replays on one keyspace and should read as Redis's.
        let capture = st.aof.repl.on;
        if capture {
            st.aof.capture = Some(Vec::new());
        } else {
            st.aof.suppress += 1;
        }
        call(st, idx, &Args::Owned(args), db, self.proto, &mut out, self.client_id);
        let mut stream = if capture {
            st.aof.capture.take()
        } else {
            st.aof.suppress -= 1;
            None
        };
        std::mem::swap(&mut st.dbs, &mut real);
        let write = TABLE.get(idx).is_write();
        if write || moved {
            let mut writes: Vec<KeyEntries> = vec![Vec::new(); st.nshards];
            // Values moved here and not written go home unchanged.
            let mut back: Vec<KeyEntries> = vec![Vec::new(); st.nshards];
            // Only the keys the command names come back: keys that SORT's patterns
            // read were gathered but not changed.
            let a = Args::Owned(args);
            let named: Vec<&[u8]> =
                TABLE.get(idx).key_positions(&a, db).unwrap_or_default().iter().map(|&(_, i)| a.get(i)).collect();
            for (d, key, _) in std::mem::take(&mut self.gathered) {
                let owner = shard_of(&key, st.nshards);
                if write && named.contains(&key.as_slice()) {
                    let fin = if moved { real[d as usize].remove(&key, 0) } else { real[d as usize].peek_entry(&key) };
                    writes[owner].push((d, key, fin));
                } else if moved {
                    let e = real[d as usize].remove(&key, 0);
                    back[owner].push((d, key, e));
                }
            }
            let me = self.me(st);
            let (tx, seq, writer) = (self.tx, self.next, self.client_id);
            for (s, b) in back.into_iter().enumerate() {
                if b.is_empty() {
                    continue;
                }
                if s == st.id {
                    super::coord::put_back(st, b);
                    continue;
                }
                let cell = Mutex::new(Some(b));
                let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
                    if let Some(b) = cell.lock().unwrap_or_else(|e| e.into_inner()).take() {
                        super::coord::put_back(st, b);
                    }
                    Box::new(Ack)
                });
                st.outbox.push(s, Msg::Run { coord: me, hop });
            }
            for (s, w) in writes.into_iter().enumerate() {
                if w.is_empty() {
                    continue;
                }
                self.wrote_on(s);
                // The first writer carries the captured commands; the others log their
                // states to the AOF only too (`Some` of nothing).
                let part_stream = stream.as_mut().map(std::mem::take);
                if s == st.id {
                    // Here, at once: the transaction's next command may run inline on
                    // this shard and must see these keys (a hop to ourselves would be
                    // handled after it).
                    write_back_gathered(st, tx, seq, w, part_stream, writer);
                    continue;
                }
                let cell = Mutex::new(Some((w, part_stream)));
                let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
                    if let Some((w, part_stream)) = cell.lock().unwrap_or_else(|e| e.into_inner()).take() {
                        write_back_gathered(st, tx, seq, w, part_stream, writer);
                    }
                    Box::new(Ack)
                });
                st.outbox.push(s, Msg::Run { coord: me, hop });
            }
        }
        self.push_reply(out);
    }

    fn finish_tx(&mut self, st: &mut ShardState, aborted: bool) -> bool {
        if !st.tracking.clients.is_empty() {
            super::tracking::end_of_command(st, self.client_id);
        }
        if super::monitor::active(st) && !self.word.is_empty() {
            let addr = st.clients.get(&self.client_id).map(|m| m.addr.clone()).unwrap_or_default();
            super::monitor::feed(st, self.session.db, &addr, "exec", [&self.word[..]].into_iter());
        }
        let mut out = Vec::new();
        let mut w = ReplyWriter::new(&mut out, self.proto);
        if aborted {
            w.null_array();
        } else {
            w.array(self.done);
            out.extend_from_slice(&self.replies);
        }
        if st.aof.wants_parts() && !aborted && !self.writers.is_empty() {
            // Every shard that ran a write logs its part as one tagged block; the locks
            // stay and the reply waits until all of them acknowledge.
            let marker = super::coord::tx_marker(st, self.tx, self.writers.len());
            let me = self.me(st);
            for &s in &self.writers {
                let hop = super::coord::commit_hop(self.tx, 0, marker.clone(), Vec::new(), Vec::new());
                st.outbox.push(s as usize, Msg::Run { coord: me, hop });
            }
            self.waiting = self.writers.len();
            self.committing = Some(out);
            return false;
        }
        self.release_and_reply(st, out)
    }

    fn release_and_reply(&mut self, st: &mut ShardState, out: Vec<u8>) -> bool {
        for &s in &self.locked {
            st.outbox.push(s as usize, Msg::Release { tx: self.tx, writes: Vec::new(), kept: Vec::new(), writer: 0 });
        }
        st.send_reply(self.to, out);
        true
    }
}

impl Coordinator for TxExec {
    fn on_locked(&mut self, st: &mut ShardState, _from: u16, _entries: KeyEntries) -> bool {
        self.waiting -= 1;
        if self.waiting > 0 {
            return false;
        }
        self.after_locks(st)
    }

    fn on_ran(&mut self, st: &mut ShardState, from: u16, result: HopResult) -> bool {
        if result.is::<Ack>() {
            return false;
        }
        if result.is::<super::coord::Committed>() {
            self.waiting -= 1;
            if self.waiting > 0 {
                return false;
            }
            let out = self.committing.take().expect("committing");
            return self.release_and_reply(st, out);
        }
        self.waiting -= 1;
        match self.phase {
            Phase::Locking => false,
            Phase::CheckingWatches => {
                self.watch_ok &= *result.downcast::<bool>().expect("watch check result");
                if self.waiting > 0 { false } else { self.run(st) }
            }
            Phase::Run => {
                let RunOut { outs, staged } = *result.downcast::<RunOut>().expect("a run's replies");
                if staged {
                    self.wrote_on(from as usize);
                }
                let slots = std::mem::take(&mut self.run_slots[from as usize]);
                debug_assert_eq!(slots.len(), outs.len(), "one reply per command sent");
                for (k, out) in slots.into_iter().zip(outs) {
                    self.run_replies[k] = Some(out);
                }
                if self.waiting > 0 {
                    return false;
                }
                self.finish_run();
                self.run(st)
            }
            Phase::Gather => {
                let got = *result.downcast::<KeyEntries>().expect("gathered entries");
                self.gathered.extend(got);
                if self.waiting > 0 {
                    return false;
                }
                self.run_gathered(st);
                self.run(st)
            }
            Phase::SortSource => {
                let got = *result.downcast::<KeyEntries>().expect("gathered entries");
                self.gathered.extend(got);
                if self.waiting > 0 {
                    return false;
                }
                let (_, args, db) = &self.cmds[self.next];
                let a = Args::Owned(args);
                let src = a.get(1);
                let source = self.gathered.iter().find(|(d, k, _)| d == db && k == src).and_then(|(_, _, e)| e.clone());
                let db = *db;
                let keys = super::sort::pattern_keys(&a, source.as_ref()).into_iter().map(|k| (db, k)).collect();
                self.phase = Phase::Gather;
                self.fetch_all(st, keys);
                if self.waiting > 0 {
                    return false;
                }
                self.run_gathered(st);
                self.run(st)
            }
            Phase::FanOut => {
                self.results.push((from, result));
                if self.waiting > 0 {
                    return false;
                }
                let mut results = std::mem::take(&mut self.results);
                results.sort_by_key(|(s, _)| *s);
                let mut out = Vec::new();
                let finish = self.finish.take().expect("fan-out finish");
                finish(st, results, &mut ReplyWriter::new(&mut out, self.proto));
                self.push_reply(out);
                self.run(st)
            }
        }
    }
}

/// Runs a fan-out hop (the transaction's `seq`-th command) with this shard's log
/// staging for transaction `tx`.
pub(super) fn staged(tx: u64, seq: usize, hop: crate::shard::Hop) -> crate::shard::Hop {
    Arc::new(move |st: &mut ShardState| -> HopResult {
        stage_at(st, tx, seq);
        let r = hop(st);
        unstage(st);
        r
    })
}

/// Stages this shard's log for transaction `tx`, for its `seq`-th queued command: the
/// replication stream sends the parts' commands in that order (`repl::feed`).
fn stage_at(st: &mut ShardState, tx: u64, seq: usize) {
    st.aof.stage = Some(tx);
    st.aof.repl.seq = seq as u32;
}

fn unstage(st: &mut ShardState) {
    st.aof.stage = None;
    st.aof.repl.seq = 0;
}

/// Applies a gathered command's (the transaction's `seq`-th) final key states on their
/// shard, staged with the rest of transaction `tx`'s part there. With `stream` (what
/// the command propagated, captured by the coordinator), the states go to the AOF only
/// and the replication stream gets those commands instead.
fn write_back_gathered(
    st: &mut ShardState,
    tx: u64,
    seq: usize,
    w: KeyEntries,
    stream: Option<Vec<(u16, Vec<u8>)>>,
    writer: u64,
) {
    stage_at(st, tx, seq);
    if let Some(cmds) = &stream {
        st.aof.skip_aof = true;
        for (db, cmd) in cmds {
            st.aof.with_stream(*db, |b| b.extend_from_slice(cmd));
        }
        st.aof.skip_aof = false;
        st.aof.skip_repl = true;
    }
    for (db, key, e) in &w {
        st.aof.with_stream(*db, |b| crate::persist::emit::replace_key(b, key, e.as_ref()));
    }
    st.aof.skip_repl = false;
    unstage(st);
    apply_writes(st, w, writer);
}

#[cfg(test)]
mod tests {
    use super::super::harness::shorthand::ok;
    use super::super::harness::{Harness, Reply};
    use crate::shard::shard_of;

    /// A key named `{prefix}{i}` that lives on `shard` of `n`.
    fn key_on(prefix: &str, shard: usize, n: usize) -> String {
        (0..).map(|i| format!("{prefix}{i}")).find(|k| shard_of(k.as_bytes(), n) == shard).expect("a key")
    }

    fn exec(h: &mut Harness, cmds: &[Vec<&str>]) -> Reply {
        assert_eq!(h.run(&["multi"]), ok());
        for c in cmds {
            assert_eq!(h.run(c), Reply::Simple("QUEUED".into()), "{c:?}");
        }
        h.run(&["exec"])
    }

    /// Runs of single-shard commands go out one message per shard and come back in
    /// queued order, with runtime errors in their own slots; commands over several
    /// shards and fan-outs run between the runs and see everything before them.
    #[test]
    fn a_long_mixed_transaction_over_three_shards_answers_in_queued_order() {
        let mut h = Harness::new(3);
        let [a, b, c] = [0, 1, 2].map(|s| key_on("k", s, 3));
        let l = key_on("list", 1, 3);
        h.run(&["set", &c, "5"]);
        let wrongtype = |r: &Reply| matches!(r, Reply::Error(e) if e.starts_with("WRONGTYPE"));
        let not_int = |r: &Reply| matches!(r, Reply::Error(e) if e.contains("not an integer"));
        let cmds: Vec<Vec<&str>> = vec![
            vec!["set", &a, "1"],
            vec!["set", &b, "x"],
            vec!["incr", &c],
            vec!["incr", &b],
            vec!["rpush", &l, "p", "q"],
            vec!["get", &a],
            vec!["append", &b, "y"],
            vec!["lpush", &c, "z"],
            vec!["mset", &a, "10", &b, "11", &c, "12"],
            vec!["incr", &a],
            vec!["get", &b],
            vec!["lpop", &l],
            vec!["incrby", &c, "3"],
            vec!["dbsize"],
            vec!["get", &c],
            vec!["del", &a, &b],
            vec!["exists", &a],
            vec!["llen", &l],
        ];
        let Reply::Array(r) = exec(&mut h, &cmds) else { panic!("EXEC answers an array") };
        assert_eq!(r.len(), cmds.len());
        assert_eq!(r[0], ok());
        assert_eq!(r[1], ok());
        assert_eq!(r[2], Reply::Int(6));
        assert!(not_int(&r[3]), "{:?}", r[3]);
        assert_eq!(r[4], Reply::Int(2));
        assert_eq!(r[5], Reply::bulk("1"));
        assert_eq!(r[6], Reply::Int(2));
        assert!(wrongtype(&r[7]), "{:?}", r[7]);
        assert_eq!(r[8], ok());
        assert_eq!(r[9], Reply::Int(11));
        assert_eq!(r[10], Reply::bulk("11"));
        assert_eq!(r[11], Reply::bulk("p"));
        assert_eq!(r[12], Reply::Int(15));
        assert_eq!(r[13], Reply::Int(4));
        assert_eq!(r[14], Reply::bulk("15"));
        assert_eq!(r[15], Reply::Int(2));
        assert_eq!(r[16], Reply::Int(0));
        assert_eq!(r[17], Reply::Int(1));
        for s in &h.shards {
            assert!(s.locks.is_idle(), "locks released on shard {}", s.id);
        }
        assert_eq!(h.run(&["get", &c]), Reply::bulk("15"));
        assert_eq!(h.run(&["lrange", &l, "0", "-1"]), Reply::Array(vec![Reply::bulk("q")]));
    }

    /// A run costs one round trip to each shard it touches, not one per command: a
    /// transaction of 24 single-shard commands over 3 shards takes as many rounds of
    /// delivery as one of 3.
    #[test]
    fn a_run_of_single_shard_commands_costs_one_round_trip_per_shard() {
        let mut h = Harness::new(3);
        let keys: Vec<String> = (0..24).map(|i| key_on(&format!("r{i}_"), i % 3, 3)).collect();
        let rounds = |h: &mut Harness, n: usize| {
            let cmds: Vec<Vec<&str>> = keys[..n].iter().map(|k| vec!["incr", k.as_str()]).collect();
            let before = h.pump_rounds;
            let Reply::Array(r) = exec(h, &cmds) else { panic!("EXEC answers an array") };
            assert_eq!(r.len(), n);
            h.pump_rounds - before
        };
        let short = rounds(&mut h, 3);
        let long = rounds(&mut h, 24);
        assert_eq!(long, short, "24 commands take as many round trips as 3");
        assert_eq!(h.run(&["get", &keys[0]]), Reply::bulk("2"));
        assert_eq!(h.run(&["get", &keys[23]]), Reply::bulk("1"));
    }
}
