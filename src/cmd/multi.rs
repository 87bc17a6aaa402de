//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queued commands are checked (name, arity, auth) as they arrive and answered
//! `+QUEUED`; a bad one flags the transaction so EXEC answers EXECABORT.
//!
//! EXEC runs on the same intent locks as every cross-shard command (`cmd::coord`):
//! the coordinator queues, in global transaction order, locks on every key the queued
//! commands name plus the WATCHed keys (or whole shards, when a queued command reads
//! or changes a whole shard, like DBSIZE or FLUSHALL). With everything locked it first
//! compares the WATCHed keys' versions, then runs the queued commands one after the
//! other, each on the shard that owns its keys (a hop), and finally releases the locks.
//! No other client can touch those keys in between, so nobody sees a partial
//! transaction, and a runtime error in one command does not stop the others.

use super::coord::{apply_writes, queue_locks};
use super::ctx::{ConnCtx, ConnOutcome, Finish, Session};
use super::dispatch::call;
use super::table::{CommandSpec, Handler, KeySpec, TABLE, flag};
use super::{Args, CmdError};
use crate::resp::{Proto, ReplyWriter};
use crate::shard::lock::LockPlan;
use crate::shard::msg::{CoordRef, HopResult, KeyEntries, Msg, OwnedArgs};
use crate::shard::state::Coordinator;
use crate::shard::{ReplyTo, ShardState, shard_of};
use crate::storage::Db;
use std::sync::{Arc, Mutex};

/// A transaction being queued on a connection.
#[derive(Clone, Debug, Default)]
pub struct MultiQueue {
    pub cmds: Vec<(u16, OwnedArgs, u16)>,
    /// A queued command was rejected: EXEC must abort.
    pub aborted: bool,
    /// The db selected as of the last queued command (SELECT inside MULTI).
    pub db: u16,
}

/// Commands that act on the transaction itself and so are never queued.
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "unwatch" | "quit" | "reset")
}

/// Redis's `no-multi` rule, checked after authentication and before the ACL as in
/// `processCommand`: SAVE, SHUTDOWN, SYNC and PSYNC are refused while queuing, and
/// the refusal aborts the transaction. (WATCH and MULTI answer errors of their own.)
pub fn refused_while_queuing(sess: &Session, spec: &CommandSpec) -> Option<&'static str> {
    (sess.multi.is_some() && spec.flags & flag::NO_MULTI != 0 && !runs_inside_multi(spec.name))
        .then_some("ERR Command not allowed inside a transaction")
}

/// Commands Redis queues but refuses when EXEC runs them: MONITOR cannot switch a
/// client into streaming mode halfway through EXEC's reply (Redis marks a client in
/// EXEC "deny blocking", and MONITOR refuses such clients).
fn refused_at_exec(spec: &CommandSpec) -> Option<&'static str> {
    (spec.name == "monitor").then_some("ERR MONITOR isn't allowed for DENY BLOCKING client")
}

/// Queues a command during MULTI. Called by dispatch after lookup, arity and auth.
pub fn enqueue(sess: &mut Session, idx: u16, args: &Args, out: &mut ReplyWriter) {
    let spec = TABLE.get(idx);
    let q = sess.multi.as_mut().expect("in MULTI");
    if spec.name == "select"
        && let Some(n) = crate::util::num::parse_i64(args.get(1)).filter(|n| *n >= 0 && *n < u16::MAX as i64)
    {
        q.db = n as u16;
    }
    q.cmds.push((idx, args.to_owned(), q.db));
    out.simple("QUEUED");
}

fn multi(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    if c.sess.multi.is_some() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    c.sess.multi = Some(MultiQueue { db: c.sess.db, ..Default::default() });
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.multi = 0;
    }
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn discard(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    let Some(q) = c.sess.multi.take() else {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    };
    super::script::discard_queued(c.st, c.sess.id, &q.cmds);
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.multi = -1;
    }
    drop_watches(c.st, c.sess.id);
    c.out.ok();
    Ok(ConnOutcome::Done)
}

/// Ends a transaction without running it (EXEC refused for OOM): as DISCARD.
pub fn abort_exec(st: &mut ShardState, sess: &mut Session) {
    if let Some(q) = sess.multi.take() {
        super::script::discard_queued(st, sess.id, &q.cmds);
    }
    if let Some(m) = st.clients.get_mut(&sess.id) {
        m.multi = -1;
    }
    drop_watches(st, sess.id);
}

/// Forgets a client's WATCHes, telling the owning shards (fire and forget: the hop's
/// answer goes to a coordinator id that does not exist and is dropped).
pub fn drop_watches(st: &mut ShardState, client: u64) {
    let Some(ws) = st.client_watches.remove(&client) else { return };
    let mut per_shard: Vec<Vec<(u16, Vec<u8>)>> = vec![Vec::new(); st.nshards];
    for (shard, db, key, _) in ws {
        per_shard[shard as usize].push((db, key));
    }
    let me = CoordRef { shard: st.id as u16, id: 0 };
    for (s, keys) in per_shard.into_iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
            for (db, k) in &keys {
                st.watch.unwatch(*db, k);
            }
            Box::new(())
        });
        st.outbox.push(s, Msg::Run { coord: me, hop });
    }
}

fn unwatch(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    drop_watches(c.st, c.sess.id);
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn watch(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if c.sess.multi.is_some() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    let db = c.sess.db;
    let keys: Arc<Vec<Vec<u8>>> = Arc::new(a.iter().skip(1).map(|k| k.to_vec()).collect());
    let client = c.sess.id;
    let hop_keys = keys.clone();
    Ok(ConnOutcome::FanOut(super::ctx::FanOut {
        // Each shard registers the keys it owns and returns their versions.
        hop: Arc::new(move |st: &mut ShardState| -> HopResult {
            let mut got = Vec::new();
            for k in hop_keys.iter() {
                if shard_of(k, st.nshards) == st.id {
                    got.push((db, k.clone(), st.watch.watch(db, k)));
                }
            }
            Box::new(got)
        }),
        lock_whole: false,
        finish: Box::new(move |st, results, out| {
            let list = st.client_watches.entry(client).or_default();
            for (shard, r) in results {
                let got = r.downcast::<Vec<(u16, Vec<u8>, u64)>>().expect("watch hop result");
                list.extend(got.into_iter().map(|(d, k, v)| (shard, d, k, v)));
            }
            out.ok();
        }),
    }))
}

fn exec(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let Some(q) = c.sess.multi.take() else {
        return Err(CmdError::msg("ERR EXEC without MULTI"));
    };
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.multi = -1;
    }
    let watches = c.st.client_watches.remove(&c.sess.id).unwrap_or_default();
    if q.aborted {
        super::script::discard_queued(c.st, c.sess.id, &q.cmds);
        c.st.client_watches.insert(c.sess.id, watches);
        drop_watches(c.st, c.sess.id);
        return Err(CmdError::msg("EXECABORT Transaction discarded because of previous errors."));
    }
    // SELECT inside the transaction leaves the connection on the last db it chose.
    let session = c.sess.clone();
    c.sess.db = q.db;
    let word = a.get(0).to_vec();
    // Redis 7.0 checks every queued command's permissions again at EXEC: ACL rules
    // may have changed since it was queued. A refused command answers its NOPERM error
    // in its slot (and is logged), the others run.
    let refused = q
        .cmds
        .iter()
        .map(|(idx, args, _)| {
            super::acl::recheck_queued(c.st, c.sess, *idx, &Args::Owned(args))
                .or_else(|| refused_at_exec(TABLE.get(*idx)).map(str::to_owned))
        })
        .collect();
    Ok(ConnOutcome::Exec(Box::new(ExecPlan { cmds: q.cmds, watches, session, word, refused })))
}

/// What EXEC hands to the dispatcher to start the transaction.
pub struct ExecPlan {
    cmds: Vec<(u16, OwnedArgs, u16)>,
    watches: Vec<(u16, u16, Vec<u8>, u64)>,
    session: Session,
    /// EXEC as the client spelled it, for MONITOR.
    word: Vec<u8>,
    /// Per queued command: the NOPERM error it answers instead of running.
    refused: Vec<Option<String>>,
}

/// Does this queued command need every shard locked whole (it reads or writes a
/// whole shard rather than named keys)?
fn needs_whole_lock(spec: &CommandSpec) -> bool {
    matches!(spec.handler, Handler::Conn(_)) && spec.group != "connection" && spec.group != "transactions"
}

/// Starts EXEC's coordinator.
pub fn start_exec(st: &mut ShardState, plan: Box<ExecPlan>, to: ReplyTo, proto: Proto) {
    let ExecPlan { cmds, watches, session, word, refused } = *plan;
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
    /// Waiting for the hop(s) of queued command `next`.
    Single,
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
                    // A watched key that expired (even if not yet deleted) also
                    // counts as changed, as in Redis 7.
                    let expired = st.dbs[*db as usize]
                        .peek_with_expire(k)
                        .is_some_and(|(_, at)| crate::storage::has_expired(at, now));
                    ok &= !expired && st.watch.version(*db, k) == Some(*v);
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
            // The queued commands never run: their scripts' noted callers go.
            super::script::discard_queued(st, self.client_id, &self.cmds);
            return self.finish_tx(st, true);
        }
        while self.next < self.cmds.len() {
            if let Some(msg) = self.refused[self.next].take() {
                let mut out = Vec::new();
                ReplyWriter::new(&mut out, self.proto).error(&msg);
                self.push_reply(out);
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
                    let mut out = Vec::new();
                    self.session.db = db;
                    let res = {
                        let mut ctx = ConnCtx {
                            sess: &mut self.session,
                            st: &mut *st,
                            out: ReplyWriter::new(&mut out, self.proto),
                        };
                        f(&mut ctx, &Args::Owned(args))
                    };
                    match res {
                        Ok(ConnOutcome::FanOut(fo)) => {
                            self.phase = Phase::FanOut;
                            self.finish = Some(fo.finish);
                            self.results.clear();
                            self.waiting = st.nshards;
                            let me = self.me(st);
                            let hop = if spec.is_write() {
                                (0..st.nshards).for_each(|s| self.wrote_on(s));
                                staged(self.tx, fo.hop)
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
                    let keys = spec.key_positions(&a, db).unwrap_or_default();
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
                    let proto = self.proto;
                    let client = self.client_id;
                    let tx = self.tx;
                    if shards.len() <= 1 {
                        let owner = shards.first().copied().unwrap_or(st.id);
                        if spec.is_write() && !self.writers.contains(&(owner as u16)) {
                            self.writers.push(owner as u16);
                        }
                        if owner == st.id {
                            let mut out = Vec::new();
                            st.aof.stage = Some(tx);
                            call(st, idx, &a, db, proto, &mut out, client);
                            st.aof.stage = None;
                            self.push_reply(out);
                            continue;
                        }
                        let args = args.clone();
                        let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
                            let mut out = Vec::new();
                            st.aof.stage = Some(tx);
                            call(st, idx, &Args::Owned(&args), db, proto, &mut out, client);
                            st.aof.stage = None;
                            Box::new(out)
                        });
                        self.phase = Phase::Single;
                        self.waiting = 1;
                        let me = self.me(st);
                        st.outbox.push(owner, Msg::Run { coord: me, hop });
                        return false;
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
        st.aof.suppress += 1;
        call(st, idx, &Args::Owned(args), db, self.proto, &mut out, self.client_id);
        st.aof.suppress -= 1;
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
            let tx = self.tx;
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
                if s == st.id {
                    // Here, at once: the transaction's next command may run inline on
                    // this shard and must see these keys (a hop to ourselves would be
                    // handled after it).
                    write_back_gathered(st, tx, w);
                    continue;
                }
                let cell = Mutex::new(Some(w));
                let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
                    if let Some(w) = cell.lock().unwrap_or_else(|e| e.into_inner()).take() {
                        write_back_gathered(st, tx, w);
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
        if super::monitor::active(st) {
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
                let hop = super::coord::commit_hop(self.tx, marker.clone(), Vec::new(), Vec::new());
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
            st.outbox.push(s as usize, Msg::Release { tx: self.tx, writes: Vec::new() });
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
            Phase::Single => {
                let out = *result.downcast::<Vec<u8>>().expect("reply bytes");
                self.push_reply(out);
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

/// Runs a fan-out hop with this shard's log staging for transaction `tx`.
fn staged(tx: u64, hop: crate::shard::Hop) -> crate::shard::Hop {
    Arc::new(move |st: &mut ShardState| -> HopResult {
        st.aof.stage = Some(tx);
        let r = hop(st);
        st.aof.stage = None;
        r
    })
}

const fn tx_cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    f: super::table::ConnFn,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys: KeySpec::None,
        handler: Handler::Conn(f),
        group: "transactions",
        summary,
        since,
    }
}

pub static COMMANDS: &[CommandSpec] = &[
    tx_cmd(
        "multi",
        1,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY,
        multi,
        "Starts a transaction.",
        "1.2.0",
    ),
    tx_cmd(
        "exec",
        1,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::SKIP_SLOWLOG,
        exec,
        "Executes all commands in a transaction.",
        "1.2.0",
    ),
    tx_cmd(
        "discard",
        1,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY,
        discard,
        "Discards a transaction.",
        "2.0.0",
    ),
    tx_cmd(
        "watch",
        -2,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY | flag::NO_MULTI,
        watch,
        "Monitors changes to keys to determine the execution of a transaction.",
        "2.2.0",
    ),
    tx_cmd(
        "unwatch",
        1,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY,
        unwatch,
        "Forgets about watched keys of a transaction.",
        "2.2.0",
    ),
];

/// Applies a gathered command's final key states on their shard, staged with the rest
/// of transaction `tx`'s part there.
fn write_back_gathered(st: &mut ShardState, tx: u64, w: KeyEntries) {
    st.aof.stage = Some(tx);
    for (db, key, e) in &w {
        st.aof.with_stream(*db, |b| crate::persist::emit::replace_key(b, key, e.as_ref()));
    }
    st.aof.stage = None;
    apply_writes(st, w);
}

#[cfg(test)]
mod tests {
    use super::super::ctx::Session;
    use super::super::harness::{Harness, Reply};

    fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    fn queued() -> Reply {
        Reply::Simple("QUEUED".into())
    }

    /// Runs `args` as a second client (its own session), then switches back.
    fn as_other(h: &mut Harness, other: &mut Session, args: &[&str]) -> Reply {
        std::mem::swap(&mut h.sess, other);
        let r = h.run(args);
        std::mem::swap(&mut h.sess, other);
        r
    }

    #[test]
    fn exec_runs_queued_commands_across_shards() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            assert_eq!(h.run(&["multi"]), ok());
            assert_eq!(h.run(&["set", "a", "1"]), queued());
            assert_eq!(h.run(&["incr", "a"]), queued());
            assert_eq!(h.run(&["mset", "b", "x", "c", "y", "d", "z"]), queued());
            assert_eq!(h.run(&["mget", "a", "b", "c", "d"]), queued());
            assert_eq!(h.run(&["dbsize"]), queued());
            assert_eq!(h.run(&["ping"]), queued());
            assert_eq!(
                h.run(&["exec"]),
                Reply::Array(vec![
                    ok(),
                    Reply::Int(2),
                    ok(),
                    Reply::Array(vec![Reply::bulk("2"), Reply::bulk("x"), Reply::bulk("y"), Reply::bulk("z")]),
                    Reply::Int(4),
                    Reply::Simple("PONG".into()),
                ]),
                "{n} shards"
            );
            for s in &h.shards {
                assert!(s.locks.is_idle());
            }
            assert_eq!(h.run(&["get", "c"]), Reply::bulk("y"));
        }
    }

    #[test]
    fn queue_errors_abort_and_runtime_errors_do_not() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["multi"]);
            assert!(matches!(h.run(&["nosuchcmd"]), Reply::Error(_)));
            h.run(&["set", "k", "v"]);
            assert_eq!(
                h.run(&["exec"]),
                Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
            );
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);

            h.run(&["multi"]);
            assert!(matches!(h.run(&["get"]), Reply::Error(_)));
            assert!(matches!(h.run(&["exec"]), Reply::Error(e) if e.starts_with("EXECABORT")));

            h.run(&["multi"]);
            h.run(&["set", "s", "notanumber"]);
            h.run(&["incr", "s"]);
            h.run(&["set", "t", "1"]);
            let r = h.run(&["exec"]);
            let Reply::Array(items) = r else { panic!("array") };
            assert_eq!(items[0], ok());
            assert!(matches!(&items[1], Reply::Error(e) if e.contains("not an integer")));
            assert_eq!(items[2], ok());
        }
    }

    #[test]
    fn nesting_and_stray_exec_discard() {
        let mut h = Harness::new(2);
        assert_eq!(h.run(&["exec"]), Reply::Error("ERR EXEC without MULTI".into()));
        assert_eq!(h.run(&["discard"]), Reply::Error("ERR DISCARD without MULTI".into()));
        h.run(&["multi"]);
        assert_eq!(h.run(&["multi"]), Reply::Error("ERR MULTI calls can not be nested".into()));
        assert_eq!(h.run(&["watch", "x"]), Reply::Error("ERR WATCH inside MULTI is not allowed".into()));
        h.run(&["set", "x", "1"]);
        assert_eq!(h.run(&["discard"]), ok());
        assert_eq!(h.run(&["get", "x"]), Reply::Nil);
    }

    #[test]
    fn watch_aborts_when_another_client_writes() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            let mut other = Session::new(2, false);
            h.run(&["set", "w", "0"]);
            assert_eq!(h.run(&["watch", "w", "unrelated"]), ok());
            assert_eq!(as_other(&mut h, &mut other, &["set", "w", "1"]), ok());
            h.run(&["multi"]);
            h.run(&["set", "w", "2"]);
            assert_eq!(h.run(&["exec"]), Reply::Nil, "{n} shards");
            assert_eq!(h.run(&["get", "w"]), Reply::bulk("1"));
            // Watches are gone after EXEC: the next transaction runs.
            h.run(&["multi"]);
            h.run(&["set", "w", "3"]);
            assert_eq!(h.run(&["exec"]), Reply::Array(vec![ok()]));
            for s in &h.shards {
                assert!(s.watch.is_empty(), "watch table cleaned on shard {}", s.id);
            }
        }
    }

    #[test]
    fn watch_untouched_key_lets_exec_run_and_flush_or_expiry_abort() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["set", "a", "1"]);
            h.run(&["watch", "a"]);
            h.run(&["multi"]);
            h.run(&["incr", "a"]);
            assert_eq!(h.run(&["exec"]), Reply::Array(vec![Reply::Int(2)]));

            h.run(&["watch", "a"]);
            h.run(&["flushdb"]);
            h.run(&["multi"]);
            h.run(&["set", "a", "9"]);
            assert_eq!(h.run(&["exec"]), Reply::Nil);

            h.run(&["set", "e", "v", "px", "100"]);
            h.run(&["watch", "e"]);
            h.advance_ms(200);
            h.run(&["multi"]);
            h.run(&["set", "e", "again"]);
            assert_eq!(h.run(&["exec"]), Reply::Nil, "expired watched key aborts ({n} shards)");
        }
    }

    #[test]
    fn select_inside_multi_applies_to_later_commands() {
        let mut h = Harness::new(3);
        h.run(&["multi"]);
        h.run(&["select", "2"]);
        h.run(&["set", "k", "in2"]);
        assert_eq!(h.run(&["exec"]), Reply::Array(vec![ok(), ok()]));
        assert_eq!(h.run(&["get", "k"]), Reply::bulk("in2"));
        h.run(&["select", "0"]);
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
    }
}
