//! What a handler sees: `ExecCtx` for keyed commands (a shard's databases), `ConnCtx`
//! for connection-level commands (the session and the whole thread), and `Session`,
//! the per-connection state that commands read and change.

use crate::config::Config;
use crate::config::notify;
use crate::resp::{Proto, ReplyWriter};
use crate::shard::{Hop, HopResult, KeyEvent, ShardState, ShardStats};
use crate::storage::Db;

/// Notification classes storage raises on its own (`expired`, `new`) or lookups record
/// (`keymiss`): when one is on, every `notify` call first publishes what is pending, so
/// events keep the order in which things happened.
const PENDING: u32 = notify::NEW | notify::EXPIRED | notify::KEY_MISS;

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply.
    Skipping,
}

/// Per-connection state that commands read and change.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: u64,
    pub db: u16,
    pub proto: Proto,
    pub authenticated: bool,
    pub reply: ReplyMode,
    /// Commands queued since MULTI.
    pub multi: Option<super::multi::MultiQueue>,
    /// Pub/Sub channels and patterns this client is subscribed to.
    pub subs: std::collections::HashSet<Vec<u8>>,
    pub psubs: std::collections::HashSet<Vec<u8>>,
    /// Sharded Pub/Sub channels (SSUBSCRIBE).
    pub ssubs: std::collections::HashSet<Vec<u8>>,
    /// The connection's ACL user (`crate::acl`).
    pub acl: crate::acl::SessionAcl,
    /// Cluster mode: ASKING was sent (good for the next command only), READONLY is on.
    pub asking: bool,
    pub readonly: bool,
    /// Where the commands this connection still owes replies for execute; the next
    /// command waits unless it goes there too (`cmd::order`). The session's owner
    /// resets it to `Idle` once nothing is owed.
    pub lane: super::order::Lane,
}

impl Session {
    pub fn new(id: u64, needs_auth: bool) -> Session {
        Session {
            id,
            db: 0,
            proto: Proto::Resp2,
            authenticated: !needs_auth,
            reply: ReplyMode::On,
            multi: None,
            subs: Default::default(),
            psubs: Default::default(),
            ssubs: Default::default(),
            acl: Default::default(),
            asking: false,
            readonly: false,
            lane: super::order::Lane::Idle,
        }
    }
}

/// Context of a keyed command: the databases of the shard that owns its keys (or the
/// gathered copies, for a cross-shard command), the clock and the reply buffer.
pub struct ExecCtx<'a> {
    /// The shard's own vector (not a slice), so a script can move the databases into
    /// its 'static host for the run and back (`cmd::script`): three words, not a copy.
    pub dbs: &'a mut Vec<Db>,
    pub db: usize,
    pub now_ms: u64,
    pub out: ReplyWriter<'a>,
    pub stats: &'a mut ShardStats,
    /// Number of changes the command made, for save points; > 0 also marks the command
    /// for propagation at the write choke point.
    pub dirty: u64,
    /// The shard's `Arc`, so a script's host can keep it for its run (`cmd::script`).
    pub config: &'a std::sync::Arc<Config>,
    /// Server-wide state, for the few keyed commands that report on the whole
    /// server (MEMORY STATS).
    pub shared: &'a std::sync::Arc<crate::shard::Shared>,
    pub client_id: u64,
    /// Set by a blocking command that found nothing to do: park it instead of replying.
    pub block: Option<crate::shard::block::BlockReq>,
    /// Keyspace events raised so far, published by `dispatch::call_inner` when the
    /// handler returns. None (nothing allocated) until the first event.
    pub notes: Option<Box<Notes>>,
    /// "Propagate as ...": what the AOF (and replicas) get instead of the command's
    /// own arguments, for handlers that made a choice replay cannot repeat.
    pub prop: crate::persist::Prop,
    /// The argument index of a key the command names but left unchanged (SMOVE's
    /// destination that already had the member): WATCH and client tracking skip it,
    /// as Redis signals only the keys a command modified.
    pub unchanged_key: Option<usize>,
    /// The argument index of the one key a command that names several changed (the key
    /// LMPOP, BLPOP, ZMPOP ... popped from): WATCH, client tracking and blocked clients
    /// hear of that one only, as in Redis.
    pub only_changed_key: Option<usize>,
    /// More keys the command names but left unchanged, when there can be several (the
    /// keys DEL and UNLINK did not find): empty, with nothing allocated, for almost
    /// every command.
    pub unchanged_keys: Vec<usize>,
    /// This is a blocked client's command re-run because a key it waits on changed
    /// (XREADGROUP then answers Redis's errors for a vanished stream or group).
    pub rerun: bool,
}

/// The keyspace events of one command, in order.
#[derive(Debug, Default)]
pub struct Notes {
    pub events: Vec<KeyEvent>,
    /// How many of the selected database's lazily expired keys already became
    /// `expired` events here (the rest are published by `account_expired`).
    pub expired_seen: usize,
}

impl<'a> ExecCtx<'a> {
    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.dbs[self.db]
    }

    /// Raises keyspace event `event` of class `class` (a `config::notify` constant:
    /// `notify::STRING`, `notify::GENERIC` ...) for `key` in the selected database.
    /// Call it after the change is made, once per change Redis would report, with
    /// Redis's event name; raise nothing when nothing changed. For example:
    ///
    /// ```ignore
    /// c.notify(notify::STRING, "setbit", key);   // BITFIELD/SETBIT
    /// c.notify(notify::STRING, "pfadd", key);    // PFADD that changed a register
    /// c.notify(notify::GENERIC, "del", key);     // a write that emptied the key
    /// ```
    ///
    /// With notifications off this is one AND and a branch: no allocation, nothing to
    /// pay on the hot path. Events are published to `__keyspace@<db>__:<key>` /
    /// `__keyevent@<db>__:<event>` when the command returns (`dispatch::call_inner`),
    /// on every thread, also when the handler ran on a coordinator's gathered copies.
    /// `new` (a key appeared) and `expired` (a lazy expiry on the way) are raised by
    /// the storage layer and slotted in before the event that follows them.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.config.notify_mask & (class | PENDING) != 0 {
            self.notify_in(self.db, class, event, key);
        }
    }

    /// Redis's "elements removed" events: `event` (class `class`), then `del` when the
    /// removal emptied the collection and so deleted the key. Callers delete the key.
    pub fn notify_removed(&mut self, class: u32, event: &'static str, key: &[u8], deleted: bool) {
        self.notify(class, event, key);
        if deleted {
            self.notify(notify::GENERIC, "del", key);
        }
    }

    /// `notify` for a key in database `db` (MOVE, COPY ... DB).
    #[inline]
    pub fn notify_db(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        if self.config.notify_mask & (class | PENDING) != 0 {
            self.notify_in(db, class, event, key);
        }
    }

    #[cold]
    fn notify_in(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        self.flush_pending(db);
        if self.config.notify_mask & class != 0 {
            self.push_event(db, event, key.to_vec());
        }
    }

    fn push_event(&mut self, db: usize, event: &'static str, key: Vec<u8>) {
        self.notes.get_or_insert_default().events.push(KeyEvent { db: db as u16, event, key });
    }

    /// Everything this command raised, pending storage reports included; called by
    /// `dispatch::call_inner` when notifications are on.
    pub fn take_notes(&mut self) -> Notes {
        for d in 0..self.dbs.len() {
            self.flush_pending(d);
        }
        self.notes.take().map(|n| *n).unwrap_or_default()
    }

    /// Turns what storage reported for database `db` since the last event into events,
    /// in the order Redis raises them: keys that expired on the way (selected database
    /// only; the others are left to `account_expired`), read lookups that missed
    /// (`keymiss`, selected database), then keys that were created.
    pub fn flush_pending(&mut self, db: usize) {
        let mask = self.config.notify_mask;
        let seen = self.notes.as_ref().map_or(0, |n| n.expired_seen);
        if db == self.db && mask & notify::EXPIRED != 0 && self.dbs[db].expired.len() > seen {
            let keys: Vec<Vec<u8>> = self.dbs[db].expired[seen..].iter().map(|k| k.to_vec()).collect();
            for k in keys {
                self.push_event(db, "expired", k);
            }
            let n = self.dbs[db].expired.len();
            self.notes.get_or_insert_default().expired_seen = n;
        }
        if db == self.db && !self.stats.missed.is_empty() {
            for key in std::mem::take(&mut self.stats.missed) {
                self.push_event(db, "keymiss", key);
            }
        }
        if !self.dbs[db].created.is_empty() {
            for k in std::mem::take(&mut self.dbs[db].created) {
                self.push_event(db, "new", k.to_vec());
            }
        }
    }

    /// The selected database and the reply writer at once, so a handler can write a
    /// value it borrows from the database without copying it.
    #[inline]
    pub fn parts(&mut self) -> (&mut Db, &mut ReplyWriter<'a>, &mut ShardStats) {
        (&mut self.dbs[self.db], &mut self.out, &mut *self.stats)
    }
}

/// Combines fan-out results on the coordinating thread into the reply.
pub type Finish = Box<dyn FnOnce(&mut ShardState, Vec<(u16, HopResult)>, &mut ReplyWriter)>;

/// A keyless command that needs every shard: run `hop` on each, then `finish`.
pub struct FanOut {
    pub hop: Hop,
    /// Lock every shard whole first (FLUSHALL, SWAPDB): the command is atomic.
    pub lock_whole: bool,
    pub finish: Finish,
}

/// Combines the one result of a single-shard fan-out into the reply.
pub type FinishOne = Box<dyn FnOnce(&mut ShardState, HopResult, &mut ReplyWriter)>;

impl FanOut {
    /// A fan-out whose work runs on shard `shard` only (SCAN walks one shard per call).
    ///
    /// The other shards are still sent the hop but do nothing in it: a dedicated
    /// "target" field would have to be added to every `FanOut` literal across the
    /// command families, so the targeting lives in the hop instead. `finish` sees only
    /// the target's result.
    pub fn single(shard: usize, hop: Hop, finish: FinishOne) -> FanOut {
        FanOut {
            hop: std::sync::Arc::new(move |st: &mut ShardState| -> HopResult {
                if st.id == shard { hop(st) } else { Box::new(()) }
            }),
            lock_whole: false,
            finish: Box::new(move |st, results, out| {
                let r = results.into_iter().find(|(s, _)| *s as usize == shard).map(|(_, r)| r);
                finish(st, r.expect("the target shard answers"), out)
            }),
        }
    }
}

pub enum ConnOutcome {
    Done,
    /// Close the connection once the reply is sent (QUIT).
    Close,
    FanOut(FanOut),
    /// EXEC: run the queued transaction.
    Exec(Box<super::multi_exec::ExecPlan>),
}

/// Context of a connection-level command.
pub struct ConnCtx<'a> {
    pub sess: &'a mut Session,
    pub st: &'a mut ShardState,
    pub out: ReplyWriter<'a>,
}
