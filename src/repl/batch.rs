//! The master link's batches under `replica-apply-order strict` (`repl::apply` rule 4).
//!
//! While nothing of the link is owed, a keyed command of the stream whose keys live on
//! one shard opens a batch; the batchable commands after it queue as in MULTI, each
//! with its db and its shard, worked out once here (`batchable`) and carried to where
//! the batch runs. A `SELECT` with a valid db joins an open batch too: it only changes
//! the db the next commands queue with (a Redis master emits SELECT whenever the db of
//! its stream changes, so a stream over two dbs alternates them).
//!
//! How a closed batch runs depends on its shards:
//! - **One shard** (the common case with few keys per pipeline, and any stream whose
//!   keys share a hash tag): it is atomic by itself, as it runs in one message on that
//!   shard. It goes there as one hop (or runs in place on the link's shard) and takes
//!   no locks, provided the shard's lock table is idle when it arrives: then no
//!   transaction holds (or has handed over) one of its keys and no cut's whole-shard
//!   lock waits there. Its commands are logged by `call` one by one, as the shard's
//!   own commands are. The hop counts as a hop of the link until its answer is back
//!   (rule 1: a cut on the link's shard waits for it), and its answer pushes the
//!   batch's reply before it counts down, so the batch's bytes count (rule 3) before
//!   any cut that follows. If the lock table is busy, the hop runs nothing and hands
//!   the commands back; the batch then takes the locked path below, in the global lock
//!   order, as every batch did before.
//! - **Several shards**: one transaction on EXEC's coordinator (`cmd::multi_exec`):
//!   key locks on every shard it touches, each shard's part in one message, released
//!   once every part ran.

use super::apply::{hold, on_hop, on_reply};
use crate::cmd::Args;
use crate::cmd::Session;
use crate::cmd::dispatch::call;
use crate::cmd::order::Lane;
use crate::cmd::table::TABLE;
use crate::resp::Proto;
use crate::shard::msg::{CoordRef, HopResult, KeyEntries, Msg, OwnedArgs};
use crate::shard::state::Coordinator;
use crate::shard::{ReplyTo, ShardState};
use std::sync::{Arc, Mutex};

/// A batch of the stream closes at this many commands (or bytes) even if more
/// batchable ones follow: the locks of a batch hold readers of its keys back.
const BATCH_MAX_COMMANDS: u32 = 1024;
const BATCH_MAX_BYTES: usize = 1 << 20;

/// The "shard" of a SELECT folded into a batch: it runs nowhere.
pub const SELECT: u16 = u16::MAX;

/// A command of a batch: (command, arguments, db), as MULTI queues them.
pub type Queued = (u16, OwnedArgs, u16);

/// May this request of the master link join a batch (rule 4)? A keyed command whose
/// keys all live on one shard, known to the table with a valid arity (so queuing it
/// never fails), or, in an `open` batch, a SELECT of an existing db. Returns the
/// command's index and its shard ([`SELECT`] for a SELECT). Everything else is a
/// barrier between batches.
pub fn batchable(st: &ShardState, sess: &Session, args: &Args, open: bool) -> Option<(u16, u16)> {
    let idx = TABLE.lookup(args.get(0))?;
    let spec = TABLE.get(idx);
    if !spec.arity_ok(args.len()) {
        return None;
    }
    if spec.name == "select" {
        let db = crate::util::num::parse_i64(args.get(1))?;
        return (open && db >= 0 && (db as usize) < st.dbs.len()).then_some((idx, SELECT));
    }
    match crate::cmd::order::target(st, spec, args, sess.db, sess.id) {
        Lane::Shard(s) => Some((idx, s)),
        _ => None,
    }
}

/// Must the open batch of `len` commands and `bytes` bytes close before the next one?
pub fn batch_full(len: u32, bytes: usize) -> bool {
    len >= BATCH_MAX_COMMANDS || bytes >= BATCH_MAX_BYTES
}

/// The open batch's length once the link's next request (`batched`, from
/// [`batchable`]) is in: one more, or 1 if it opens a batch (a keyed command while
/// nothing of the link is `idle`, which then queues as in MULTI, its `db` folded in
/// as it queues), else 0.
pub fn joined(sess: &mut Session, len: u32, batched: Option<(u16, u16)>, idle: bool) -> u32 {
    if len > 0 {
        return len + 1;
    }
    if batched.is_some_and(|(_, shard)| shard != SELECT) && idle && sess.multi.is_none() {
        sess.multi = Some(crate::cmd::multi::MultiQueue { db: sess.db, ..Default::default() });
        return 1;
    }
    0
}

/// Closes the batch: its commands (`owners`: the shard of each, from `batchable`) run
/// as one unit answering `to` (a barrier for the link), and its stream `bytes` count
/// once it finished (rule 3), with the db its SELECTs left.
pub fn run_batch(st: &mut ShardState, sess: &mut Session, to: ReplyTo, bytes: Vec<u8>, owners: Vec<u16>) {
    let q = sess.multi.take().expect("an open batch");
    debug_assert_eq!(q.cmds.len(), owners.len(), "one shard per queued command");
    if sess.db != q.db {
        sess.db = q.db;
        if let Some(m) = st.clients.get_mut(&sess.id) {
            m.db = q.db;
        }
    }
    sess.lane = Lane::Many;
    let mut shards = owners.iter().copied().filter(|&o| o != SELECT);
    let first = shards.next();
    match first {
        Some(s) if shards.all(|o| o == s) => run_on_one_shard(st, s as usize, q.cmds, owners, sess.clone(), to),
        _ => crate::cmd::multi_exec::start_batch(st, q.cmds, owners, sess.clone(), to),
    }
    hold(st, to.slot, to.seq, bytes, q.db);
}

/// A one-shard batch: in place, or one hop to its shard; the locked path if that
/// shard's lock table is busy.
fn run_on_one_shard(
    st: &mut ShardState,
    shard: usize,
    cmds: Vec<Queued>,
    owners: Vec<u16>,
    sess: Session,
    to: ReplyTo,
) {
    let (proto, client) = (sess.proto, sess.id);
    if shard == st.id {
        if !st.locks.is_idle() {
            crate::cmd::multi_exec::start_batch(st, cmds, owners, sess, to);
            return;
        }
        note_ran(st, &cmds, client);
        run_here(st, &cmds, proto, client);
        st.send_reply(to, Vec::new());
        return;
    }
    let notes = crate::cmd::monitor::active(st) || !st.tracking.clients.is_empty();
    let id = st.next_coord_id;
    st.next_coord_id += 1;
    let cell = Mutex::new(Some(cmds));
    let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
        let cmds = cell.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
        if !st.locks.is_idle() {
            return Box::new(Refused(cmds));
        }
        run_here(st, &cmds, proto, client);
        Box::new(Ran(notes.then_some(cmds)))
    });
    // A cut on this shard waits for the hop's answer (rule 1).
    on_hop(st, to);
    st.outbox.push(shard, Msg::Run { coord: CoordRef { shard: st.id as u16, id }, hop });
    st.coords.insert(id, Box::new(OneShardBatch { to, owners, sess: Some(sess) }));
}

/// Runs a one-shard batch's commands on this shard, in order, replies dropped.
fn run_here(st: &mut ShardState, cmds: &[Queued], proto: Proto, client: u64) {
    let mut out = Vec::new();
    for (idx, args, db) in cmds {
        if TABLE.get(*idx).name == "select" {
            continue;
        }
        call(st, *idx, &Args::Owned(args), *db, proto, &mut out, client);
        out.clear();
    }
}

/// MONITOR lines and tracking notes of a batch that ran, in stream order (made on the
/// link's shard, as EXEC's runs make them).
fn note_ran(st: &mut ShardState, cmds: &[Queued], client: u64) {
    let monitor = crate::cmd::monitor::active(st);
    let tracking = !st.tracking.clients.is_empty();
    if !monitor && !tracking {
        return;
    }
    for (idx, args, db) in cmds {
        let spec = TABLE.get(*idx);
        if monitor {
            crate::cmd::monitor::feed_client(st, spec, *db, client, &Args::Owned(args));
        }
        if tracking && spec.name != "select" {
            crate::cmd::tracking::on_command(st, client, spec, &Args::Owned(args), *db, true);
        }
    }
    if tracking {
        crate::cmd::tracking::end_of_command(st, client);
    }
}

/// A one-shard batch's hop ran it (with its commands back if they are to be noted).
struct Ran(Option<Vec<Queued>>);

/// A one-shard batch's hop found its shard's lock table busy and ran nothing.
struct Refused(Vec<Queued>);

/// Waits on the link's shard for a one-shard batch's hop.
struct OneShardBatch {
    to: ReplyTo,
    owners: Vec<u16>,
    sess: Option<Session>,
}

impl Coordinator for OneShardBatch {
    fn on_locked(&mut self, _st: &mut ShardState, _from: u16, _entries: KeyEntries) -> bool {
        debug_assert!(false, "a one-shard batch takes no locks");
        false
    }

    fn on_ran(&mut self, st: &mut ShardState, _from: u16, result: HopResult) -> bool {
        match result.downcast::<Ran>() {
            Ok(ran) => {
                if let Some(cmds) = ran.0 {
                    note_ran(st, &cmds, self.to_client());
                }
                // The reply first: a cut let go by the hop's answer finds it (rule 3).
                st.send_reply(self.to, Vec::new());
            }
            Err(other) => {
                let cmds = other.downcast::<Refused>().expect("a one-shard batch's answer").0;
                let sess = self.sess.take().expect("answered once");
                // Its locks queue before the hop's answer lets a waiting cut go: the
                // cut's whole-shard lock is ahead of them in the global order either way.
                crate::cmd::multi_exec::start_batch(st, cmds, std::mem::take(&mut self.owners), sess, self.to);
            }
        }
        on_reply(st, self.to);
        true
    }
}

impl OneShardBatch {
    fn to_client(&self) -> u64 {
        self.sess.as_ref().map_or(0, |s| s.id)
    }
}
