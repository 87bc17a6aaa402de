//! Cross-shard operations, driven from the thread of the connection that asked.
//!
//! **Keyed transactions** (MSET, MGET, DEL, RENAME ... with keys on several shards) use
//! gather-execute-scatter, so every multi-key command reuses its single-shard handler:
//! 1. Take a global tx id and, under the global order mutex, queue `Lock{gather}` on
//!    every shard involved (after flushing what this thread already queued for them, so
//!    the client's earlier commands stay ahead).
//! 2. Each shard grants the locks in global order and answers by handing over the
//!    locked keys' values: moved out of its table (the key stays, locked, holding an
//!    empty placeholder), not copied. While locked, those keys cannot be touched by
//!    anyone else.
//! 3. With all values here, run the ordinary handler against a scratch keyspace
//!    holding just those keys (moved in, and moved out again after the run).
//! 4. Send each shard `Release` with its keys' final state (write commands), or
//!    `Return` with the values unchanged (reads, failed or blocked commands), which
//!    puts them back and drops the locks in one step. Reply to the client.
//!
//! That is one round trip plus one one-way message per shard, and no client can see a
//! half-applied command: the keys are locked from before the read to after the write.
//! A 500k-element list crosses shards in O(1): its ownership moves through the queues.
//!
//! With the AOF on or a replica attached, each shard whose keys changed logs its part
//! first (a commit hop; see `persist`). The part is a shard-local form of the command
//! where one exists (`coord_log`: LPOP + RPUSH for LMOVE, SREM + SADD for SMOVE, MSET
//! of each shard's pairs ...), else the changed keys' final states, found by comparing
//! with copies taken before the run, only while logging.
//!
//! **Fan-outs** (DBSIZE, KEYS, FLUSHALL, INFO ...) run a closure on every shard and
//! combine the results; with `lock_whole` they first lock every shard whole.

use super::Args;
use super::coord_log::{self, LogItem, To};
use super::ctx::{FanOut, Finish};
use super::dispatch::call_blocking;
use super::table::TABLE;
use crate::resp::{Proto, ReplyWriter};
use crate::shard::lock::{LockPlan, Waiting};
use crate::shard::msg::{CoordRef, ExecReq, Hop, HopResult, KeyEntries, Msg};
use crate::shard::state::Coordinator;
use crate::shard::{ReplyTo, ShardState, shard_of};
use crate::storage::{Db, Entry, Value};

/// Pushes, under the global order mutex, one lock request per shard in `plans`.
pub fn queue_locks(st: &mut ShardState, coord: u64, plans: Vec<(usize, LockPlan)>, gather: bool) -> u64 {
    let shared = st.shared.clone();
    let mut order = shared.tx_order.lock().unwrap_or_else(|e| e.into_inner());
    *order += 1;
    let tx = *order;
    let me = CoordRef { shard: st.id as u16, id: coord };
    if std::mem::take(&mut st.locks_queued) {
        // Split lock requests wait in the outbox: they go now, all in this critical
        // section, ahead of ours (`coord_split`).
        while let Some(dest) = st.outbox.dirty.pop() {
            let batch = std::mem::take(&mut st.outbox.per_dest[dest as usize]);
            st.outbox.flushed(dest as usize);
            st.deliver(dest as usize, batch);
        }
    }
    for (dest, plan) in plans {
        // Whatever this thread already queued for `dest` must arrive first.
        let mut batch = std::mem::take(&mut st.outbox.per_dest[dest]);
        batch.push(Msg::Lock { tx, coord: me, plan, gather });
        st.deliver(dest, batch);
    }
    tx
}

/// Starts a keyed transaction for a request whose keys span shards.
pub fn start_keyed_tx(st: &mut ShardState, req: ExecReq) {
    let spec = TABLE.get(req.cmd);
    let args = Args::Owned(&req.args);
    let keys = spec.key_positions(&args, req.db).unwrap_or_default();
    let mut per_shard: Vec<Vec<(u16, Vec<u8>)>> = vec![Vec::new(); st.nshards];
    for (db, i) in keys {
        // A key named in a database that does not exist (COPY ... DB 99) cannot be
        // locked or gathered; the handler itself answers "DB index is out of range".
        if db as usize >= st.dbs.len() {
            continue;
        }
        let k = args.get(i);
        per_shard[shard_of(k, st.nshards)].push((db, k.to_vec()));
    }
    for keys in &mut per_shard {
        // Each key once: its value is handed over, so a second take would find it gone.
        keys.sort_unstable();
        keys.dedup();
    }
    let plans: Vec<(usize, LockPlan)> =
        per_shard.into_iter().enumerate().filter(|(_, k)| !k.is_empty()).map(|(s, k)| (s, LockPlan::Keys(k))).collect();
    let shards: Vec<u16> = plans.iter().map(|(s, _)| *s as u16).collect();
    let id = st.next_coord_id;
    st.next_coord_id += 1;
    let tx = queue_locks(st, id, plans, true);
    let waiting = shards.len();
    st.coords.insert(
        id,
        Box::new(KeyedTx { id, tx, req, shards, waiting, gathered: Vec::new(), committing: None, kept: Vec::new() }),
    );
}

struct KeyedTx {
    id: u64,
    tx: u64,
    req: ExecReq,
    shards: Vec<u16>,
    waiting: usize,
    /// The locked keys' values, handed over by their shards; each goes back with the
    /// release (final or unchanged).
    gathered: KeyEntries,
    /// The reply, held while participants commit their logged parts.
    committing: Option<Vec<u8>>,
    /// Per shard, the gathered keys the command only read, held until the final
    /// `Release` while participants commit.
    kept: Vec<KeyEntries>,
}

impl KeyedTx {
    /// Sends every gathered value home unchanged and releases the locks.
    fn give_back(&mut self, st: &mut ShardState) {
        let mut back: Vec<KeyEntries> = vec![Vec::new(); st.nshards];
        for (db, key, e) in std::mem::take(&mut self.gathered) {
            back[shard_of(&key, st.nshards)].push((db, key, e));
        }
        for &s in &self.shards {
            let entries = std::mem::take(&mut back[s as usize]);
            st.outbox.push(s as usize, Msg::Return { tx: self.tx, entries });
        }
    }
}

impl Coordinator for KeyedTx {
    fn on_locked(&mut self, st: &mut ShardState, _from: u16, entries: KeyEntries) -> bool {
        self.gathered.extend(entries);
        self.waiting -= 1;
        if self.waiting > 0 {
            return false;
        }
        let spec = TABLE.get(self.req.cmd);
        let script = super::script::is_script(self.req.cmd);
        let write = spec.is_write() || script;
        let logging = write && st.aof.wants_parts();
        let derived = logging && !script && coord_log::derives(spec.name);
        // Without a shard-local form of the command, the parts are the final states of
        // the keys it changed, found by comparing with copies: taken only then.
        // A key handed over expired counts as absent before the run, as the run sees it
        // (gathered on a replica, nothing has expired: its master's DEL decides).
        let now = gather_clock(st);
        let live = |e: &Option<Entry>| e.as_ref().is_some_and(|e| !crate::storage::db::has_expired(e.expire_at, now));
        let before: Option<Vec<Option<Entry>>> = (logging && !derived)
            .then(|| self.gathered.iter().map(|(_, _, e)| if live(e) { e.clone() } else { None }).collect());
        let present: Vec<bool> = self.gathered.iter().map(|(_, _, e)| live(e)).collect();
        // Every lock is held: run the command on a scratch keyspace holding the values.
        let mut scratch: Vec<Db> = (0..st.dbs.len()).map(|_| Db::new()).collect();
        for (db, key, entry) in &mut self.gathered {
            if let Some(e) = entry.take() {
                scratch[*db as usize].set_entry(key, e);
            }
        }
        let mut real = std::mem::replace(&mut st.dbs, scratch);
        let mut out = Vec::new();
        let args = Args::Owned(&self.req.args);
        // The scratch run is not this shard's history: the owners log the outcome. With
        // a replica attached, what the command propagates (as on one keyspace) is kept
        // for the stream (`coord_log::stream_as_captured`).
        let capture = logging && st.aof.repl.on;
        if capture {
            st.aof.capture = Some(Vec::new());
        } else {
            st.aof.suppress += 1;
        }
        st.scratch_expired = Some(Vec::new());
        let dirty_before = st.dirty;
        let block = call_blocking(st, self.req.cmd, &args, self.req.db, self.req.proto, &mut out, self.req.client_id);
        let changed = st.dirty != dirty_before;
        let only_changed = st.last_only_changed.take();
        st.account_expired();
        let stream = if capture {
            st.aof.capture.take()
        } else {
            st.aof.suppress -= 1;
            None
        };
        // The keys it expired on its way go first at their owners: deleted there, their
        // DELs logged ahead of the command's part (`Msg::ExpireHeld`).
        let expired = st.scratch_expired.take().unwrap_or_default();
        if !expired.is_empty() {
            let mut per_owner: Vec<Vec<(u16, Vec<u8>)>> = vec![Vec::new(); st.nshards];
            for (db, key) in expired {
                per_owner[shard_of(&key, st.nshards)].push((db, key));
            }
            for (s, keys) in per_owner.into_iter().enumerate() {
                if !keys.is_empty() {
                    st.outbox.push(s, Msg::ExpireHeld(keys));
                }
            }
        }
        std::mem::swap(&mut st.dbs, &mut real);
        let mut scratch = real;
        // Take the values back out (as they are: expiry is their owner's business).
        for (db, key, entry) in &mut self.gathered {
            *entry = scratch[*db as usize].remove(key, 0);
        }
        if let Some(block) = block {
            // Nothing to pop on any shard: release the locks and park a part of the
            // wait on every shard holding a source key.
            self.give_back(st);
            super::blocking::park_split(st, &self.req, block);
            return true;
        }
        if !write || (!script && (out.first() == Some(&b'-') || !changed)) {
            // Nothing was written (a read, a command that failed its checks or found
            // nothing to do, as SMOVE of a missing member): no key hears of it.
            self.give_back(st);
            st.send_reply(self.req.to, out);
            return true;
        }
        let n = st.nshards;
        // The keys it only read go at the end of their shard's list, to be split off
        // and sent home unsignalled once the parts are derived (the written keys'
        // positions, which the parts name, hold after the split).
        let only_read = read_only_keys(spec, &args, self.req.db, only_changed);
        let is_read_only = |db: u16, key: &[u8]| only_read.iter().any(|(d, k)| *d == db && k == key);
        let mut order: Vec<usize> = (0..self.gathered.len()).collect();
        if !only_read.is_empty() {
            order.sort_by_key(|&i| is_read_only(self.gathered[i].0, &self.gathered[i].1));
        }
        let mut slots: Vec<Option<_>> = std::mem::take(&mut self.gathered).into_iter().map(Some).collect();
        let mut writes: Vec<KeyEntries> = vec![Vec::new(); n];
        let mut kept_from: Vec<usize> = vec![usize::MAX; n];
        let mut at = vec![(0, 0); slots.len()];
        for i in order {
            let (db, key, fin) = slots[i].take().expect("each gathered key once");
            let owner = shard_of(&key, n);
            if kept_from[owner] == usize::MAX && is_read_only(db, &key) {
                kept_from[owner] = writes[owner].len();
            }
            at[i] = (owner, writes[owner].len());
            writes[owner].push((db, key, fin));
        }
        let mut items: Vec<Vec<LogItem>> = (0..n).map(|_| Vec::new()).collect();
        if derived {
            let touched: Vec<coord_log::Touched> = at
                .iter()
                .zip(&present)
                .map(|(&(owner, pos), &was_present)| {
                    let (db, key, _) = &writes[owner][pos];
                    coord_log::Touched { db: *db, key, owner, pos, was_present }
                })
                .collect();
            items = coord_log::derive(spec.name, &args, self.req.db, &out, &touched, n);
        } else if let Some(before) = before {
            for (b, &(owner, pos)) in before.iter().zip(&at) {
                if !same_entry(b.as_ref(), writes[owner][pos].2.as_ref()) {
                    items[owner].push(LogItem::State { pos, to: To::Both });
                }
            }
        }
        if let Some(stream) = stream {
            coord_log::stream_as_captured(&mut items, &self.shards, stream);
        }
        let mut kept: Vec<KeyEntries> = writes
            .iter_mut()
            .zip(&kept_from)
            .map(|(w, &from)| if from == usize::MAX { Vec::new() } else { w.split_off(from) })
            .collect();
        if logging && items.iter().any(|i| !i.is_empty()) {
            // Log first: each shard with changed keys commits its part, and only when
            // every part is acknowledged (logged) do the locks go and the reply leave.
            let parts: Vec<u16> = self.shards.iter().copied().filter(|&s| !items[s as usize].is_empty()).collect();
            let marker = tx_marker(st, self.tx, parts.len());
            let me = CoordRef { shard: st.id as u16, id: self.id };
            for &s in &self.shards {
                let w = std::mem::take(&mut writes[s as usize]);
                if parts.contains(&s) {
                    let hop = commit_part_hop(
                        self.tx,
                        self.req.client_id,
                        marker.clone(),
                        w,
                        std::mem::take(&mut items[s as usize]),
                    );
                    st.outbox.push(s as usize, Msg::Run { coord: me, hop });
                } else {
                    let k = std::mem::take(&mut kept[s as usize]);
                    st.outbox
                        .push(s as usize, Msg::Release { tx: self.tx, writes: w, kept: k, writer: self.req.client_id });
                }
            }
            self.kept = kept;
            self.waiting = parts.len();
            self.committing = Some(out);
            return false;
        }
        for &s in &self.shards {
            let w = std::mem::take(&mut writes[s as usize]);
            let k = std::mem::take(&mut kept[s as usize]);
            st.outbox.push(s as usize, Msg::Release { tx: self.tx, writes: w, kept: k, writer: self.req.client_id });
        }
        st.send_reply(self.req.to, out);
        true
    }

    fn on_ran(&mut self, st: &mut ShardState, _from: u16, _result: HopResult) -> bool {
        // A participant's part is logged.
        self.waiting -= 1;
        if self.waiting > 0 {
            return false;
        }
        for &s in &self.shards {
            let kept = self.kept.get_mut(s as usize).map(std::mem::take).unwrap_or_default();
            st.outbox.push(s as usize, Msg::Release { tx: self.tx, writes: Vec::new(), kept, writer: 0 });
        }
        let out = self.committing.take().expect("committing");
        st.send_reply(self.req.to, out);
        true
    }
}

/// The (db, key) pairs a write command names but only reads
/// (`CommandSpec::only_reads_key`; with `only_changed`, every key but that one, as a
/// multi-key pop leaves the keys it did not pop from), unless it also names them where
/// it writes.
fn read_only_keys(spec: &super::CommandSpec, args: &Args, db: u16, only_changed: Option<usize>) -> Vec<(u16, Vec<u8>)> {
    let Ok(positions) = spec.key_positions(args, db) else { return Vec::new() };
    let reads = |i: usize| spec.only_reads_key(i) || only_changed.is_some_and(|o| o != i);
    if !positions.iter().any(|&(_, i)| reads(i)) {
        return Vec::new();
    }
    let (read, written): (Vec<_>, Vec<_>) = positions.into_iter().partition(|&(_, i)| reads(i));
    let mut out: Vec<(u16, Vec<u8>)> = Vec::new();
    for (d, i) in read {
        let key = args.get(i);
        let also_written = written.iter().any(|&(wd, wi)| wd == d && args.get(wi) == key);
        if !also_written && !out.iter().any(|(od, ok)| *od == d && ok == key) {
            out.push((d, key.to_vec()));
        }
    }
    out
}

/// Did a gathered key come back unchanged (then its owner need not log it)?
fn same_entry(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.expire_at == b.expire_at && a.value == b.value,
        _ => false,
    }
}

/// The tag of a cross-shard transaction's parts in the logs (see `persist`).
pub fn tx_marker(st: &ShardState, tx: u64, parts: usize) -> Vec<u8> {
    format!("shardis-tx:{}:{tx}:{parts}", st.shared.run_id).into_bytes()
}

/// A participant's commit of transaction `tx`: log the part staged here plus the final
/// state of the `changed` keys among `writes` as one tagged block, then apply the
/// writes. The locks stay until the coordinator's Release. Its `Ran` answer is a
/// result message, so it leaves only once the block is logged.
pub fn commit_hop(tx: u64, writer: u64, marker: Vec<u8>, writes: KeyEntries, changed: Vec<bool>) -> Hop {
    let items = (0..writes.len())
        .filter(|&i| changed.get(i).copied().unwrap_or(true))
        .map(|pos| LogItem::State { pos, to: To::Both })
        .collect();
    commit_part_hop(tx, writer, marker, writes, items)
}

/// Like `commit_hop`, with `items` (see `coord_log`) as the logged part.
pub fn commit_part_hop(tx: u64, writer: u64, marker: Vec<u8>, writes: KeyEntries, items: Vec<LogItem>) -> Hop {
    let cell = std::sync::Mutex::new(Some((writes, items)));
    std::sync::Arc::new(move |st: &mut ShardState| -> HopResult {
        let (writes, items) = cell.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
        st.aof.commit(tx, &marker, |log| coord_log::emit(log, &writes, &items));
        apply_writes(st, writes, writer);
        Box::new(Committed)
    })
}

/// Wraps the hop of a whole-keyspace write (FLUSHALL, FLUSHDB, SWAPDB) so that what it
/// logs on each shard is that shard's part of one tagged block, like a cross-shard
/// transaction's: the command then replays on every shard or on none.
///
/// Outside MULTI the fan-out holds every shard whole under one transaction id, which
/// names the block; every shard logs a part (possibly empty), so the part count is the
/// shard count. The hop's answer is a result message, so the coordinator sees it only
/// once the shard's part is logged (fsynced under `always`), and replies and releases
/// the locks only after every part: no acknowledged command can depend on a flush that
/// a crash then drops. Inside EXEC the log is already staging for the transaction
/// (`multi_exec::staged`), whose commit makes the block: the hop just runs. So it does on
/// a server with one shard, whose one logged command is atomic by itself.
pub fn atomic_part(hop: Hop) -> Hop {
    std::sync::Arc::new(move |st: &mut ShardState| -> HopResult {
        if st.aof.stage.is_some() || !st.aof.active() || st.nshards == 1 {
            return hop(st);
        }
        let Some(tx) = st.locks.whole_holder() else {
            // Not reachable (the fan-out locks whole); logging untagged beats losing it.
            return hop(st);
        };
        st.aof.stage = Some(tx);
        st.aof.whole_part = true;
        let r = hop(st);
        st.aof.whole_part = false;
        st.aof.stage = None;
        let marker = tx_marker(st, tx, st.nshards);
        st.aof.commit(tx, &marker, |_| {});
        r
    })
}

/// A participant's acknowledgement of `commit_hop`.
pub struct Committed;

/// Releases `tx`'s locks on this shard and answers the requests that grants, in
/// order; the granted list's vector goes back to the lock table for the next release.
pub fn release_locks(st: &mut ShardState, tx: u64) {
    let mut granted = st.locks.release(tx);
    for w in granted.drain(..) {
        answer_granted(st, w);
    }
    st.locks.recycle_granted(granted);
}

/// Answers a granted lock request, handing over the locked keys' values if asked.
///
/// A value leaves by ownership, not as a copy: its key keeps its place in the table
/// (with its TTL, for SCAN and active expiry) holding an empty placeholder, which
/// nobody reads while the key is locked; `Release` or `Return` puts the value back.
pub fn answer_granted(st: &mut ShardState, w: Waiting) {
    // A replica's cut waits for its master link's batches (`repl::apply`).
    let Some(w) = crate::repl::apply::fence_grant(st, w) else { return };
    if let Some(part) = w.run {
        super::coord_split::run_part(st, w.tx, w.coord, part, true);
        return;
    }
    let mut entries = Vec::new();
    if w.gather
        && let LockPlan::Keys(keys) = &w.plan
    {
        // Expired keys go over as they are: the command expires only what it reads
        // (`KeyedTx::on_locked`), as Redis's lookups do.
        for (db, k) in keys {
            let e = take_value_as_is(&mut st.dbs[*db as usize], k);
            entries.push((*db, k.clone(), e));
        }
    }
    let me = st.id as u16;
    st.outbox.push(w.coord.shard as usize, Msg::Locked { coord: w.coord.id, shard: me, entries });
}

/// The clock a gather judges expiry by: on a replica none (0), so an entry the
/// master still has alive but our clock says expired is handed over with its TTL and
/// the handler decides with its own clock (0 for the master's commands, ours for a
/// client's read). Taking it as absent made a replica's RENAME/SMOVE/... of the
/// master's stream find nothing (`tests/repl_expiry_order.rs`).
pub(crate) fn gather_clock(st: &ShardState) -> u64 {
    if st.shared.replica.is_replica.load(std::sync::atomic::Ordering::Relaxed) { 0 } else { st.now_ms }
}

/// Moves a live key's value out, leaving the key with an empty placeholder of the
/// same type: keyed commands wait for the lock, and what reads keys without locking
/// (SCAN's TYPE filter, KEYS, DBSIZE) sees the key as it is.
pub(crate) fn take_value(d: &mut Db, key: &[u8], now_ms: u64) -> Option<Entry> {
    let (e, expire_at) = d.get_with_expire(key, now_ms)?;
    let placeholder = empty_like(&e.value);
    let value = std::mem::replace(&mut e.value, placeholder);
    Some(Entry::with_meta(value, expire_at, e.access_secs))
}

/// As `take_value`, whether or not the key has expired (its deadline goes with it).
fn take_value_as_is(d: &mut Db, key: &[u8]) -> Option<Entry> {
    let (e, expire_at) = d.get_as_is(key)?;
    let placeholder = empty_like(&e.value);
    let value = std::mem::replace(&mut e.value, placeholder);
    Some(Entry::with_meta(value, expire_at, e.access_secs))
}

/// An empty value of `v`'s type (at most a small box: lists and streams are boxed).
fn empty_like(v: &Value) -> Value {
    match v {
        Value::Str(_) => Value::Str(Default::default()),
        Value::Hash(_) => Value::Hash(Default::default()),
        Value::List(l) => Value::List(Box::new(crate::storage::list::ListValue::new(l.fill()))),
        Value::Set(_) => Value::Set(Default::default()),
        Value::ZSet(_) => Value::ZSet(Default::default()),
        Value::Stream(_) => Value::Stream(Default::default()),
    }
}

/// Puts values a transaction only read back where they were, as they were: nothing
/// was written, so no WATCH, tracking or blocked client hears of it. A key deleted
/// meanwhile stays deleted (expiry and eviction now leave held keys alone: a guard).
pub fn put_back(st: &mut ShardState, entries: KeyEntries) {
    for (db, key, entry) in entries {
        let Some(e) = entry else { continue };
        let d = &mut st.dbs[db as usize];
        if d.peek(&key).is_some() {
            d.set_entry(&key, e);
        } else {
            crate::shard::lazyfree::free_value(e.value, true);
        }
    }
}

/// Applies the final state of keys a transaction changed.
pub fn apply_writes(st: &mut ShardState, mut writes: KeyEntries, writer: u64) {
    // On a replica a key the transaction deleted goes even if our clock says it
    // expired (kept for the master's DEL, which will not come now).
    let now = gather_clock(st);
    // A key missing before and after (DEL of a missing key next to a present one) did
    // not change: Redis signals only the keys a command modified.
    writes.retain(|(db, key, entry)| entry.is_some() || st.dbs[*db as usize].peek(key).is_some());
    if super::tracking::writes_matter(st) {
        super::tracking::invalidate(st, writes.iter().map(|(_, k, _)| k.as_slice()), writer);
    }
    for (db, key, entry) in writes {
        st.watch.touch(db, &key);
        st.blocked.touched(db, &key);
        let d = &mut st.dbs[db as usize];
        match entry {
            Some(e) => {
                let access = e.access_secs;
                let old = d.set(&key, e.value, e.expire_at);
                d.touch(&key, access);
                // The transaction already did the command's work; what it replaced or
                // deleted is freed off this shard's loop when it is big.
                if let Some(old) = old {
                    crate::shard::lazyfree::free_value(old.value, true);
                }
            }
            None => {
                if let Some(old) = d.remove(&key, now) {
                    crate::shard::lazyfree::free_value(old.value, true);
                }
            }
        }
    }
    st.account_expired();
    if !st.blocked.ready.is_empty() {
        super::blocking::serve_blocked(st);
    }
}

pub fn on_locked(st: &mut ShardState, id: u64, from: u16, entries: KeyEntries) {
    if let Some(mut c) = st.coords.remove(&id) {
        if c.on_locked(st, from, entries) {
            c.retire(st);
        } else {
            st.coords.insert(id, c);
        }
    }
}

pub fn on_ran(st: &mut ShardState, id: u64, from: u16, result: HopResult) {
    if let Some(mut c) = st.coords.remove(&id) {
        if c.on_ran(st, from, result) {
            c.retire(st);
        } else {
            st.coords.insert(id, c);
        }
    }
}

/// Starts a fan-out over every shard.
pub fn start_fanout(st: &mut ShardState, f: FanOut, to: ReplyTo, proto: Proto) {
    start_fanout_to(st, f, Some(to), proto)
}

/// Starts a fan-out nobody waits for (a cron's BGSAVE, a signal's shutdown save): the
/// finish runs as usual and its reply is dropped.
pub fn start_fanout_detached(st: &mut ShardState, f: FanOut) {
    start_fanout_to(st, f, None, Proto::Resp2)
}

fn start_fanout_to(st: &mut ShardState, f: FanOut, to: Option<ReplyTo>, proto: Proto) {
    let id = st.next_coord_id;
    st.next_coord_id += 1;
    let me = CoordRef { shard: st.id as u16, id };
    let n = st.nshards;
    let tx = if f.lock_whole {
        Some(queue_locks(st, id, (0..n).map(|s| (s, LockPlan::Whole)).collect(), false))
    } else {
        for s in 0..n {
            st.outbox.push(s, Msg::Run { coord: me, hop: f.hop.clone() });
        }
        None
    };
    let c = FanOutCoord { id, tx, to, proto, hop: f.hop, finish: Some(f.finish), waiting: n, results: Vec::new() };
    st.coords.insert(id, Box::new(c));
}

struct FanOutCoord {
    id: u64,
    tx: Option<u64>,
    to: Option<ReplyTo>,
    proto: Proto,
    hop: Hop,
    finish: Option<Finish>,
    waiting: usize,
    results: Vec<(u16, HopResult)>,
}

impl Coordinator for FanOutCoord {
    fn on_locked(&mut self, st: &mut ShardState, _from: u16, _entries: KeyEntries) -> bool {
        self.waiting -= 1;
        if self.waiting == 0 {
            // Every shard is locked whole: now run the hop everywhere.
            self.waiting = st.nshards;
            let me = CoordRef { shard: st.id as u16, id: self.id };
            for s in 0..st.nshards {
                st.outbox.push(s, Msg::Run { coord: me, hop: self.hop.clone() });
            }
        }
        false
    }

    fn on_ran(&mut self, st: &mut ShardState, from: u16, result: HopResult) -> bool {
        self.results.push((from, result));
        self.waiting -= 1;
        if self.waiting > 0 {
            return false;
        }
        let mut results = std::mem::take(&mut self.results);
        results.sort_by_key(|(s, _)| *s);
        let mut out = Vec::new();
        let finish = self.finish.take().expect("finish runs once");
        finish(st, results, &mut ReplyWriter::new(&mut out, self.proto));
        if let Some(tx) = self.tx {
            for s in 0..st.nshards {
                st.outbox.push(s, Msg::Release { tx, writes: Vec::new(), kept: Vec::new(), writer: 0 });
            }
        }
        if let Some(to) = self.to {
            st.send_reply(to, out);
        }
        true
    }
}
