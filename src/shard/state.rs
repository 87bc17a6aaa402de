//! `ShardState`: everything one thread owns besides its sockets.

use super::lock::LockTable;
use super::msg::{ExecReq, HopResult, KeyEntries, Msg, Outbox, ReplyTo};
use super::shared::Shared;
use super::stats::ShardStats;
use crate::config::Config;
use crate::storage::Db;
use crate::util::clock::Clock;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A cross-shard operation this thread is driving (see `cmd::coord`). It lives on the
/// coordinating thread only, so it need not be `Send`.
pub trait Coordinator {
    /// Shard `from` granted our locks and sent copies of the gathered entries.
    /// Returns true when the operation finished.
    fn on_locked(&mut self, st: &mut ShardState, from: u16, entries: KeyEntries) -> bool;
    /// Shard `from` ran our hop. Returns true when the operation finished.
    fn on_ran(&mut self, st: &mut ShardState, from: u16, result: HopResult) -> bool;
}

/// What CLIENT LIST/INFO/KILL need to know about a connection, kept by the thread that
/// owns the connection so that a fan-out can read it.
#[derive(Clone, Debug, Default)]
pub struct ClientMeta {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub name: String,
    pub db: u16,
    pub resp: u8,
    pub created_ms: u64,
    pub last_interaction_ms: u64,
    pub last_cmd: String,
    pub lib_name: String,
    pub lib_ver: String,
    /// CLIENT KILL asked for this connection to be closed.
    pub kill: bool,
    pub qbuf: usize,
    pub omem: usize,
    pub multi: i32,
    pub no_evict: bool,
}

pub struct ShardState {
    pub id: usize,
    pub nshards: usize,
    pub shared: Arc<Shared>,
    /// This thread's snapshot of the config, refreshed when the epoch moves.
    pub config: Arc<Config>,
    config_epoch: u64,
    pub dbs: Vec<Db>,
    pub clock: Clock,
    /// The time as of the start of this loop turn: commands in one batch see one
    /// clock, like Redis's cached `mstime` per command call.
    pub now_ms: u64,
    pub stats: ShardStats,
    /// Writes since the last save, for save points and INFO persistence.
    pub dirty: u64,
    pub locks: LockTable,
    /// Keyed commands waiting for a lock release, in arrival order.
    pub deferred: VecDeque<ExecReq>,
    pub outbox: Outbox,
    /// Shards whose inbox we filled while they slept: the loop sends them a MSG_RING.
    pub wakes: Vec<u16>,
    /// Finished replies for this thread's own connections (from other shards, from
    /// deferred commands, from coordinators), drained by the connection layer.
    pub local_replies: Vec<(ReplyTo, Vec<u8>)>,
    pub coords: HashMap<u64, Box<dyn Coordinator>>,
    pub next_coord_id: u64,
    pub clients: HashMap<u64, ClientMeta>,
    /// Client ids that CLIENT KILL marked on this thread.
    pub kill_list: Vec<u64>,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire: bool,
    /// SLOWLOG entries and LATENCY samples recorded on this thread.
    pub monitor: super::slowlog::Monitor,
    /// Clients blocked on this shard's keys.
    pub blocked: super::block::BlockTable,
    /// Set while serving blocked clients, so a pop that writes does not recurse.
    pub serving_blocked: bool,
    /// Pub/Sub subscriptions of this thread's clients and messages waiting for them.
    pub pubsub: super::pubsub::PubSub,
    /// Versions of WATCHed keys owned by this shard.
    pub watch: super::watch::WatchTable,
    /// WATCHes of this thread's clients: client id -> (owner shard, db, key, version).
    pub client_watches: HashMap<u64, Vec<(u16, u16, Vec<u8>, u64)>>,
    /// This shard's append-only log (inactive unless `appendonly`).
    pub aof: crate::persist::log::ShardLog,
    /// Result messages (replies, hop results, gathered keys) produced while the log
    /// had bytes not yet cleared to leave: each waits for its log offset.
    pub held_out: VecDeque<(u64, u16, Msg)>,
}

impl ShardState {
    pub fn new(id: usize, shared: Arc<Shared>, clock: Clock) -> ShardState {
        let config = shared.config();
        let nshards = shared.nshards;
        let now_ms = clock.now_ms();
        ShardState {
            id,
            nshards,
            config_epoch: shared.config_epoch.load(Ordering::Acquire),
            dbs: (0..config.databases).map(|_| Db::new()).collect(),
            active_expire: config.active_expire_enabled,
            config,
            shared,
            clock,
            now_ms,
            stats: ShardStats::default(),
            dirty: 0,
            locks: LockTable::default(),
            deferred: VecDeque::new(),
            outbox: Outbox::new(nshards),
            wakes: Vec::new(),
            local_replies: Vec::new(),
            coords: HashMap::new(),
            next_coord_id: 1,
            clients: HashMap::new(),
            kill_list: Vec::new(),
            watch: Default::default(),
            pubsub: Default::default(),
            blocked: Default::default(),
            monitor: Default::default(),
            serving_blocked: false,
            client_watches: HashMap::new(),
            aof: Default::default(),
            held_out: VecDeque::new(),
        }
    }

    /// Start of a loop turn: refresh the cached time and, if needed, the config.
    pub fn begin_turn(&mut self) {
        self.now_ms = self.clock.now_ms();
        let epoch = self.shared.config_epoch.load(Ordering::Acquire);
        if epoch != self.config_epoch {
            self.config_epoch = epoch;
            self.config = self.shared.config();
        }
    }

    /// Sends a reply to a connection, wherever it lives.
    pub fn send_reply(&mut self, to: ReplyTo, bytes: Vec<u8>) {
        if to.shard as usize == self.id {
            self.local_replies.push((to, bytes));
        } else {
            self.outbox.push(to.shard as usize, super::Msg::Reply { to, bytes });
        }
    }

    /// Moves keys deleted by lazy or active expiry into the stats. This is the hook
    /// where their DEL propagation to the AOF and replicas belongs.
    pub fn account_expired(&mut self) {
        for (i, db) in self.dbs.iter_mut().enumerate() {
            if !db.expired.is_empty() {
                if !self.watch.is_empty() {
                    for k in &db.expired {
                        self.watch.touch(i as u16, k);
                    }
                }
                self.stats.expired_keys += db.expired.len() as u64;
                if self.aof.active() {
                    for k in &db.expired {
                        self.aof.feed(i as u16, &[&b"DEL"[..], k]);
                    }
                }
                db.expired.clear();
            }
        }
    }

    /// Pushes every pending outbox batch to its destination (one batch per destination
    /// per turn) and notes which destinations need a wakeup.
    pub fn flush_outbox(&mut self) {
        self.release_held();
        while let Some(dest) = self.outbox.dirty.pop() {
            let batch = std::mem::take(&mut self.outbox.per_dest[dest as usize]);
            self.deliver(dest as usize, batch);
        }
    }

    /// Delivers a batch to `dest`, except the result messages that must wait for this
    /// shard's log (see `persist`): those are held in order until it catches up.
    pub fn deliver(&mut self, dest: usize, mut batch: Vec<Msg>) {
        if self.aof.must_hold() || !self.held_out.is_empty() {
            let need = self.aof.appended;
            let mut rest = Vec::with_capacity(batch.len());
            for m in batch {
                if m.reveals_state() {
                    self.held_out.push_back((need, dest as u16, m));
                } else {
                    rest.push(m);
                }
            }
            batch = rest;
        }
        if !batch.is_empty() && self.shared.deliver(dest, batch) && dest != self.id {
            self.wakes.push(dest as u16);
        }
    }

    /// Delivers held result messages whose log offset is now cleared.
    pub fn release_held(&mut self) {
        let cleared = self.aof.cleared();
        let mut per: Vec<(u16, Vec<Msg>)> = Vec::new();
        while self.held_out.front().is_some_and(|(need, _, _)| *need <= cleared) {
            let (_, dest, m) = self.held_out.pop_front().expect("checked");
            match per.iter_mut().find(|(d, _)| *d == dest) {
                Some((_, v)) => v.push(m),
                None => per.push((dest, vec![m])),
            }
        }
        for (dest, batch) in per {
            if self.shared.deliver(dest as usize, batch) && dest as usize != self.id {
                self.wakes.push(dest);
            }
        }
    }

    pub fn now_secs(&self) -> u32 {
        (self.now_ms / 1000) as u32
    }
}
