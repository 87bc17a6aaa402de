//! `ShardState`: everything one thread owns besides its sockets.

use super::dbwatch::TickParams;
use super::lock::LockTable;
use super::msg::{ExecReq, HopResult, KeyEntries, Msg, Outbox, ReplyTo};
use super::shared::Shared;
use super::stats::ShardStats;
use crate::config::{Config, notify};
use crate::resp::Proto;
use crate::storage::Db;
use crate::util::clock::Clock;
use crate::util::stopwatch::Stopwatch;

/// One WATCH of a client: (owner shard, db, key, version seen).
pub type ClientWatch = (u16, u16, Vec<u8>, u64);
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
    /// The operation finished: drop it, or keep its allocation for the next one
    /// (`cmd::coord_split` keeps its split commands').
    fn retire(self: Box<Self>, _st: &mut ShardState) {}
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
    /// CLIENT KILL asked for this connection to be closed.
    pub kill: bool,
    /// It sent QUIT: gone for whatever writes to it from now on (a REDIRECT target
    /// counts as broken), as Redis frees such a client before its `+OK` arrives,
    /// while shardis keeps the connection until the send and the receive are done.
    pub quitting: bool,
    /// Unparsed input bytes, and the read buffer's free space.
    pub qbuf: usize,
    pub qbuf_free: usize,
    /// Argument bytes of a command still running (waiting on another shard, blocked).
    pub argv_mem: usize,
    /// Output bytes not yet taken by the kernel (ready, in flight, held for the AOF,
    /// pipelined replies waiting their turn): what `client-output-buffer-limit`
    /// counts. `obl` is the part in the ready buffer, `oll` the number of other chunks.
    pub omem: usize,
    pub obl: usize,
    pub oll: usize,
    /// Everything this connection holds in memory (buffers at their capacity, pending
    /// replies, its own structures): CLIENT LIST `tot-mem`, and what
    /// `maxmemory-clients` weighs.
    pub tot_mem: usize,
    /// Pub/Sub channels and patterns subscribed to.
    pub sub: usize,
    pub psub: usize,
    /// Sharded channels (SSUBSCRIBE).
    pub ssub: usize,
    /// Waiting in a blocking command (flag `b`).
    pub blocked: bool,
    pub multi: i32,
    pub no_evict: bool,
    /// Connected through the Unix socket (CLIENT LIST flag `U`).
    pub unix: bool,
    /// A replica's link (flag `S`, class `replica`) / the link to our master (flag
    /// `M`, class `master`): set by the replication code, read by CLIENT LIST/KILL and
    /// the output limits.
    pub replica: bool,
    pub master: bool,
    /// In MONITOR mode (flag `O`).
    pub monitor: bool,
    /// The ACL user the connection authenticated as; None: `default`.
    pub user: Option<std::sync::Arc<str>>,
    /// CLIENT LIST `rbs`/`rbp`: Redis's reply buffer sizing replayed on the output
    /// this connection queued (`cmd::client_replybuf`).
    pub reply_buf: crate::cmd::client_replybuf::ReplyBufferGauge,
}

/// A keyspace event on its way to Pub/Sub (see `publish_events`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub db: u16,
    pub event: &'static str,
    pub key: Vec<u8>,
}

/// A finished reply for one of this thread's connections: built for it, or a constant
/// (a split MSET's `+OK`), which the connection copies into its output without an
/// allocation on either side.
pub type LocalReply = std::borrow::Cow<'static, [u8]>;

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
    /// While a connection runs a pipelined batch (`net::conn`): the clock reading that
    /// ended the last command, which starts the next one, so a command costs one
    /// reading rather than two. None outside a batch (each command reads its own).
    pub cmd_stamp: Option<Stopwatch>,
    /// A batch is running: `record` leaves its end reading in `cmd_stamp`.
    pub cmd_chain: bool,
    /// Unparsed input of the connection whose batch is running, as the batch began:
    /// Redis's query buffer during that batch, CLIENT INFO's `qbuf` (`cmd::client`).
    pub input_batch_len: usize,
    /// The client whose input is being run, and when its connection last received
    /// (`net::Conn::last_interaction_ms`), which its `ClientMeta` gets only after the
    /// batch: see `last_interaction_ms`.
    pub input_client: (u64, u64),
    /// Commands of the running batch timed together since `cmd_stamp` (`cmd::cmdtime`).
    pub cmd_group: crate::cmd::cmdtime::CmdGroup,
    pub stats: ShardStats,
    /// Writes since the last save, for save points and INFO persistence.
    pub dirty: u64,
    pub locks: LockTable,
    /// Keyed commands waiting for a lock release, in arrival order.
    pub deferred: VecDeque<ExecReq>,
    /// `deferred`'s cost was last published non-zero (`publish_deferred_cost`).
    deferred_cost_published: bool,
    pub outbox: Outbox,
    /// Shards whose inbox we filled while they slept: the loop sends them a MSG_RING.
    pub wakes: Vec<u16>,
    /// Finished replies for this thread's own connections (from other shards, from
    /// deferred commands, from coordinators), drained by the connection layer.
    pub local_replies: Vec<(ReplyTo, LocalReply)>,
    /// Packed replies from other shards for this thread's connections (`hopbatch`),
    /// spliced into their output by the connection layer, which then recycles them.
    pub hop_replies: Vec<super::hopbatch::Packed>,
    /// Where a hopped request's reply is written before it is packed for home.
    pub hop_out: Vec<u8>,
    pub coords: HashMap<u64, Box<dyn Coordinator>, super::lock::Mix>,
    pub next_coord_id: u64,
    /// Split commands (`cmd::coord_split`) coordinated here and not yet answered, per
    /// client: its keyless commands wait for them.
    pub split_inflight: HashMap<u64, u32, super::lock::Mix>,
    /// Split commands whose part on this shard has not reached the lock table yet, per
    /// client: its keyed commands here are deferred meanwhile.
    pub split_self: HashMap<u64, u32, super::lock::Mix>,
    /// A split command's part is running: its coordinator already checked that writes
    /// are accepted (MISCONF), and a part refused here alone would leave the command
    /// half applied (`cmd::coord_split::run_part`).
    pub split_part_admitted: bool,
    /// The outbox holds split lock requests: deliver it under `Shared::tx_order`.
    pub locks_queued: bool,
    /// A split command's part runs that another part counts in the stats.
    pub uncounted: bool,
    /// Split parts' reusable reply buffer and pending early releases (`cmd::coord_split`).
    pub split_local: crate::cmd::coord_split::SplitLocal,
    /// Keyed by client id; foldhash, not SipHash: a receive looks its client up (ids
    /// are the server's own counter, nothing a client chooses).
    pub clients: HashMap<u64, ClientMeta, foldhash::fast::RandomState>,
    /// Client ids that CLIENT KILL marked on this thread.
    pub kill_list: Vec<u64>,
    /// DEBUG SET-ACTIVE-EXPIRE.
    pub active_expire: bool,
    /// DEBUG REPLYBUFFER: how CLIENT LIST's reply buffer sizes evolve.
    pub reply_buffer_policy: crate::cmd::client_replybuf::ReplyBufferPolicy,
    /// SLOWLOG entries and LATENCY samples recorded on this thread.
    pub monitor: super::slowlog::Monitor,
    /// This thread's MONITOR clients (`cmd::monitor`).
    pub monitor_clients: Vec<u64>,
    /// Clients blocked on this shard's keys.
    pub blocked: super::block::BlockTable,
    /// Client-side caching: this thread's tracking clients and its keys' readers.
    pub tracking: super::tracking::Tracking,
    /// Set while serving blocked clients, so a pop that writes does not recurse.
    pub serving_blocked: bool,
    /// A blocked client's command is being re-run (`ExecCtx::rerun`).
    pub rerunning_waiter: bool,
    /// The last keyed command's `ExecCtx::only_changed_key`: a cross-shard transaction
    /// reads it after its scratch run to send the other keys home unsignalled.
    pub last_only_changed: Option<usize>,
    /// During a cross-shard transaction's scratch run: the (db, key)s the command
    /// expired on its way. They are counted and published here; their owners delete
    /// them and log the DEL (`Msg::ExpireHeld`), where their WATCH and tracking live.
    pub scratch_expired: Option<Vec<(u16, Vec<u8>)>>,
    /// The shard of the client whose hopped request runs now (`NO_SHARD` otherwise):
    /// a SLOWLOG entry for it is filed there, where its address and name are known.
    pub running_for: u16,
    /// Connections whose next command CLIENT PAUSE holds (the worker's list): INFO
    /// counts them in `blocked_clients`, as Redis counts its postponed clients.
    pub paused_clients: usize,
    /// Pub/Sub subscriptions of this thread's clients and messages waiting for them.
    pub pubsub: super::pubsub::PubSub,
    /// Versions of WATCHed keys owned by this shard.
    pub watch: super::watch::WatchTable,
    /// WATCHes of this thread's clients: client id -> (owner shard, db, key, version).
    pub client_watches: HashMap<u64, Vec<ClientWatch>>,
    /// Clients of this thread whose EXEC failed its WATCH check after queuing a SELECT:
    /// the db they had before EXEC, which their connection takes back before its next
    /// command (EXEC moves the connection to the queued SELECT's db when it starts).
    pub exec_db_undo: HashMap<u64, u16>,
    /// This shard's append-only log (inactive unless `appendonly`).
    /// REPLCONF options of this thread's connections (by client id) until PSYNC/SYNC
    /// hands the connection to the replication thread (`repl::master`).
    pub replconf: HashMap<u64, crate::repl::master::Hello>,
    /// `min-replicas-to-write` (0 when `min-replicas-max-lag` is 0), cached with the config.
    pub min_replicas: u64,
    pub aof: crate::persist::log::ShardLog,
    /// Result messages (replies, hop results, gathered keys) produced while the log
    /// had bytes not yet cleared to leave: each waits for its log offset.
    pub held_out: VecDeque<(u64, u16, Msg)>,
    /// `maxmemory` eviction on this shard (`shard::evict`).
    pub evict: super::evict::EvictState,
    /// Loop turn durations (`DEBUG TURNS`) and the pacing of active expiry (`turns`).
    pub turns: super::turns::TurnStats,
    pub expiry: super::turns::ExpiryPacer,
    /// The timer rate now (`turns::effective_hz`), set by each cron tick.
    pub hz: u32,
    /// Which databases the turn's clock tick and active expiry visit (`dbwatch`).
    pub db_watch: super::dbwatch::DbWatch,
    /// A replica's full sync being loaded into this shard, beside the served dataset
    /// (`repl::load`).
    pub repl_load: Option<crate::repl::load::Building>,
    /// Applying a replica's master link: batches, the cut fence (`repl::apply`).
    pub link: crate::repl::apply::LinkShard,
}

/// `ShardState::running_for` when no other shard's request runs.
pub const NO_SHARD: u16 = u16::MAX;

impl ShardState {
    pub fn new(id: usize, shared: Arc<Shared>, clock: Clock) -> ShardState {
        let min_replicas = min_replicas_of(&shared.config());
        let config = shared.config();
        let nshards = shared.nshards;
        let census = shared.pubsub_census.clone();
        let now_ms = clock.now_ms();
        let evict = super::evict::EvictState::new(&config);
        let mut expiry = super::turns::ExpiryPacer::default();
        expiry.effort = super::turns::Effort::of(&config);
        let hz = super::turns::effective_hz(&config, 0);
        ShardState {
            id,
            nshards,
            config_epoch: shared.config_epoch.load(Ordering::Acquire),
            dbs: (0..config.databases).map(|_| Db::new()).collect(),
            active_expire: config.active_expire_enabled,
            reply_buffer_policy: Default::default(),
            config,
            shared,
            clock,
            now_ms,
            cmd_stamp: None,
            cmd_group: Default::default(),
            cmd_chain: false,
            input_batch_len: 0,
            input_client: (0, 0),
            stats: ShardStats::default(),
            dirty: 0,
            locks: LockTable::default(),
            deferred: VecDeque::new(),
            deferred_cost_published: false,
            outbox: Outbox::new(id, nshards),
            wakes: Vec::new(),
            local_replies: Vec::new(),
            hop_replies: Vec::new(),
            hop_out: Vec::new(),
            coords: HashMap::default(),
            next_coord_id: 1,
            split_inflight: HashMap::default(),
            split_self: HashMap::default(),
            split_part_admitted: false,
            locks_queued: false,
            uncounted: false,
            split_local: Default::default(),
            clients: HashMap::default(),
            kill_list: Vec::new(),
            watch: Default::default(),
            pubsub: super::pubsub::PubSub::with_census(census),
            blocked: Default::default(),
            tracking: Default::default(),
            monitor: Default::default(),
            monitor_clients: Vec::new(),
            serving_blocked: false,
            rerunning_waiter: false,
            last_only_changed: None,
            scratch_expired: None,
            running_for: NO_SHARD,
            paused_clients: 0,
            client_watches: HashMap::new(),
            exec_db_undo: HashMap::new(),
            aof: {
                let mut log = crate::persist::log::ShardLog::default();
                log.repl.shard = id as u16;
                log
            },
            held_out: VecDeque::new(),
            evict,
            replconf: HashMap::new(),
            min_replicas,
            turns: Default::default(),
            expiry,
            hz,
            db_watch: Default::default(),
            repl_load: None,
            link: Default::default(),
        }
    }

    /// When client `m` last received or was sent to: its metadata's time, or for the
    /// client whose input is running, its connection's (the receive that brought the
    /// request is copied into the metadata after the batch, `net::Conn::sync_meta`).
    pub fn last_interaction_ms(&self, m: &ClientMeta) -> u64 {
        let (id, at) = self.input_client;
        if m.id == id { m.last_interaction_ms.max(at) } else { m.last_interaction_ms }
    }

    /// Start of a loop turn: refresh the cached time and, if needed, the config.
    pub fn begin_turn(&mut self) {
        self.turns.begin();
        self.now_ms = self.clock.now_ms();
        crate::storage::db::set_expiry_paused(self.clients_paused());
        let epoch = self.shared.config_epoch.load(Ordering::Acquire);
        if epoch != self.config_epoch {
            self.config_epoch = epoch;
            self.config = self.shared.config();
            self.evict.refresh(&self.config);
            self.expiry.effort = super::turns::Effort::of(&self.config);
            self.min_replicas = min_replicas_of(&self.config);
        }
        let s = &self.evict.settings;
        let params = TickParams {
            now_secs: self.now_ms / 1000,
            lfu: s.policy.is_lfu(),
            log_factor: s.lfu_log_factor,
            decay_time: s.lfu_decay_time,
            // With the latency monitor on, expired values come back to the shard,
            // which times freeing them (LATENCY `expire-del`, `account_expired_reported`).
            lazy_expire: self.config.lazyfree_lazy_expire || self.config.latency_monitor_threshold > 0,
        };
        // The clocks move once a second: the other turns leave the databases alone.
        if self.db_watch.tick_due(&self.dbs, params) {
            for d in self.dbs.iter_mut() {
                d.access.tick(self.now_ms, params.lfu, params.log_factor, params.decay_time);
                d.lazy_expire = params.lazy_expire;
            }
        }
    }

    /// Whether clients are paused now (CLIENT PAUSE WRITE or ALL until its end, a
    /// FAILOVER or a SHUTDOWN holding writes). Redis keeps the dataset still then:
    /// no active or lazy expiry, no eviction (`storage::db::expiry_paused`).
    pub fn clients_paused(&self) -> bool {
        let until = self.shared.pause_until_ms.load(Ordering::Acquire);
        (until != 0 && self.now_ms < until) || self.shared.repl.writes_held()
    }

    /// Sends a reply to a connection, wherever it lives (to another shard packed with
    /// the turn's other replies for it, `hopbatch`, unless it is big).
    pub fn send_reply(&mut self, to: ReplyTo, bytes: impl Into<LocalReply>) {
        let bytes = bytes.into();
        if to.shard as usize == self.id {
            self.local_replies.push((to, bytes));
        } else if !self.outbox.push_reply(to, &bytes) {
            self.outbox.push(to.shard as usize, super::Msg::Reply { to, bytes: bytes.into_owned() });
        }
    }

    /// Like `send_reply` for a reply built in a reused buffer: a small one is copied
    /// out (the buffer stays), a big one moves.
    pub fn send_reply_from(&mut self, to: ReplyTo, out: &mut Vec<u8>) {
        if to.shard as usize == self.id || !self.outbox.push_reply(to, out) {
            self.send_reply(to, std::mem::take(out));
        }
    }

    /// Moves keys deleted by lazy or active expiry into the stats and publishes their
    /// `expired` keyspace events. This is the hook where their DEL propagation to the
    /// AOF and replicas belongs.
    #[inline]
    pub fn account_expired(&mut self) {
        // The flag first: it spares the pass over every database after each command.
        if crate::storage::db::expired_recorded() && self.dbs.iter().any(|d| !d.expired.is_empty()) {
            self.account_expired_reported(0, 0);
        }
    }

    /// Like `account_expired`, where a command already published `expired` events for
    /// the first `reported` expired keys of database `db` (in order among its own
    /// events, see `ExecCtx::notify`).
    pub fn account_expired_reported(&mut self, db: usize, reported: usize) {
        self.account_expired_parts(db, reported, true, self.scratch_expired.is_none());
    }

    /// A cross-shard command's coordinator expired `keys` of this shard (counted and
    /// published there, `scratch_expired`): delete them here, log their DELs, and
    /// signal their WATCHes and trackers.
    pub fn expire_held(&mut self, keys: Vec<(u16, Vec<u8>)>) {
        for (db, key) in keys {
            self.dbs[db as usize].expire_now(&key);
        }
        self.account_expired_parts(0, 0, false, true);
    }

    /// `global`: count `expired_keys` and publish `expired` events (server-wide, so
    /// wherever the command ran); `local`: WATCH, tracking and the DEL in the AOF and
    /// the stream (the key's owner's).
    fn account_expired_parts(&mut self, db: usize, reported: usize, global: bool, local: bool) {
        // Every list is emptied below; a key recorded meanwhile sets the flag again.
        crate::storage::db::clear_expired_recorded();
        if !local && let Some(held) = self.scratch_expired.as_mut() {
            for (i, d) in self.dbs.iter().enumerate() {
                held.extend(d.expired.iter().map(|k| (i as u16, k.to_vec())));
            }
        }
        // Expired keys invalidate client-side caches too, as Redis's deletions do.
        if local && crate::cmd::tracking::writes_matter(self) {
            let keys: Vec<Vec<u8>> = self.dbs.iter().flat_map(|d| d.expired.iter().map(|k| k.to_vec())).collect();
            crate::cmd::tracking::invalidate(self, keys.iter().map(|k| k.as_slice()), 0);
        }
        let publish = self.config.notify_mask & notify::EXPIRED != 0;
        let lazy = self.config.lazyfree_lazy_expire;
        let timed = self.config.latency_monitor_threshold > 0;
        let mut slowest_del = std::time::Duration::ZERO;
        let mut events = Vec::new();
        for (i, d) in self.dbs.iter_mut().enumerate() {
            if d.expired.is_empty() {
                continue;
            }
            if local && !self.watch.is_empty() {
                for k in &d.expired {
                    self.watch.touch_expired(i as u16, k);
                }
            }
            if global {
                self.stats.expired_keys += d.expired.len() as u64;
            }
            if local && self.aof.active() {
                for k in &d.expired {
                    self.aof.feed(i as u16, &[&b"DEL"[..], k]);
                }
            }
            if global && publish {
                let skip = if i == db { reported.min(d.expired.len()) } else { 0 };
                for k in &d.expired[skip..] {
                    events.push(KeyEvent { db: i as u16, event: "expired", key: k.to_vec() });
                }
            }
            d.expired.clear();
            for v in d.expired_values.drain(..) {
                if timed {
                    let t = std::time::Instant::now();
                    super::lazyfree::free_value(v, lazy);
                    slowest_del = slowest_del.max(t.elapsed());
                } else {
                    super::lazyfree::free_value(v, lazy);
                }
            }
        }
        if !slowest_del.is_zero() {
            crate::cmd::latency::add_sample_if_needed(self, "expire-del", slowest_del.as_millis() as u64);
        }
        if !events.is_empty() {
            self.publish_events(&events);
        }
    }

    /// Publishes keyspace events on `__keyspace@<db>__:<key>` and/or
    /// `__keyevent@<db>__:<event>` (as `K`/`E` ask) to subscribers on every thread:
    /// this thread's at once, the others' through their inboxes. Callers have already
    /// checked each event's class.
    pub fn publish_events(&mut self, events: &[KeyEvent]) {
        let flags = self.config.notify_flags;
        let mut msgs: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(events.len() * 2);
        for e in events {
            if flags & notify::KEYSPACE != 0 {
                let mut ch = format!("__keyspace@{}__:", e.db).into_bytes();
                ch.extend_from_slice(&e.key);
                msgs.push((ch, e.event.as_bytes().to_vec()));
            }
            if flags & notify::KEYEVENT != 0 {
                let ch = format!("__keyevent@{}__:{}", e.db, e.event).into_bytes();
                msgs.push((ch, e.key.clone()));
            }
        }
        if msgs.is_empty() {
            return;
        }
        for (ch, m) in &msgs {
            self.publish_local(ch, m);
        }
        if self.nshards > 1 {
            let msgs = Arc::new(msgs);
            for s in (0..self.nshards).filter(|&s| s != self.id) {
                self.outbox.push(s, super::Msg::Publish(msgs.clone()));
            }
        }
    }

    /// Delivers a message to this thread's subscribers of `channel` (direct or by
    /// pattern), each in its own protocol. Returns how many received it.
    pub fn publish_local(&mut self, channel: &[u8], message: &[u8]) -> usize {
        let clients = &self.clients;
        self.pubsub.publish(channel, message, |id| {
            if clients.get(&id).is_some_and(|m| m.resp == 3) { Proto::Resp3 } else { Proto::Resp2 }
        })
    }

    /// Delivers an SPUBLISH to this thread's shard channel subscribers.
    pub fn spublish_local(&mut self, channel: &[u8], message: &[u8]) -> usize {
        let clients = &self.clients;
        self.pubsub.spublish(channel, message, |id| {
            if clients.get(&id).is_some_and(|m| m.resp == 3) { Proto::Resp3 } else { Proto::Resp2 }
        })
    }

    /// One active-expiry cycle over every database, within `budget`; the deleted keys
    /// are accounted (and notified as `expired`) like lazily expired ones.
    pub fn active_expire_cycle(&mut self, now_ms: u64, budget: std::time::Duration) {
        let start = std::time::Instant::now();
        for db in self.dbs.iter_mut() {
            if db.volatile_len() > 0 {
                db.active_expire(now_ms, 20, || start.elapsed() < budget);
            }
        }
        self.account_expired();
    }

    /// Pushes every pending outbox batch to its destination (one batch per destination
    /// per turn) and notes which destinations need a wakeup.
    pub fn flush_outbox(&mut self) {
        self.release_held();
        let shared = self.shared.clone();
        // Messages to ourselves are handled here, without a trip through our own inbox
        // (and a loop turn), when that keeps every order (`cmd::coord_split::take_own`);
        // handling them may queue more, so a few rounds.
        for round in 0..4 {
            // Split lock requests reach all their shards in one critical section, so
            // every shard sees them in one global order (`cmd::coord_split`).
            let order = std::mem::take(&mut self.locks_queued)
                .then(|| shared.tx_order.lock().unwrap_or_else(|e| e.into_inner()));
            let own = crate::cmd::coord_split::take_own(self, order.is_some(), round < 3);
            while let Some(dest) = self.outbox.dirty.pop() {
                let batch = self.outbox.take(dest as usize);
                self.deliver(dest as usize, batch);
            }
            drop(order);
            match own {
                Some(own) => crate::cmd::coord_split::run_own(self, own),
                None => break,
            }
        }
    }

    /// Re-reads every shard's inbox load. Returns whether this thread may parse client
    /// input (no inbox over the bound; see `msg`, "The inbox bound"). Only parsing
    /// waits on it: everything else a turn does goes on regardless.
    pub fn refresh_inbox_gate(&mut self) -> bool {
        let shared = &self.shared;
        self.outbox.refresh(|d| shared.inboxes[d].load());
        !self.outbox.full()
    }

    /// Tells senders what the requests deferred here (behind a transaction's locks)
    /// cost, so they count against this shard's inbox bound.
    pub fn publish_deferred_cost(&mut self) {
        if self.deferred.is_empty() && !self.deferred_cost_published {
            return;
        }
        let cost: usize = self.deferred.iter().map(|r| 64 + r.args.data.len() + 4 * r.args.ends.len()).sum();
        self.shared.inboxes[self.id].set_deferred(cost);
        self.deferred_cost_published = cost > 0;
    }

    /// Delivers a batch to `dest`, except the result messages that must wait for this
    /// shard's log (see `persist`): those are held in order until it catches up.
    ///
    /// While the log is failing (MISCONF) nothing new is held: the messages behind the
    /// stuck bytes stay held, but later ones (reads, fan-out results such as INFO) go
    /// out, as replies on this shard's own connections do (`ShardLog::must_hold`).
    pub fn deliver(&mut self, dest: usize, mut batch: Vec<Msg>) {
        if self.aof.must_hold() || (!self.held_out.is_empty() && self.aof.error.is_none()) {
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

    /// `min-replicas-to-write` as of now: the cached value, or the new config's when a
    /// CONFIG SET changed it since this turn began (a command right after the CONFIG
    /// SET's reply may run in the same turn).
    pub fn min_replicas_now(&self) -> u64 {
        if self.shared.config_epoch.load(Ordering::Acquire) == self.config_epoch {
            self.min_replicas
        } else {
            min_replicas_of(&self.shared.config())
        }
    }

    pub fn now_secs(&self) -> u32 {
        (self.now_ms / 1000) as u32
    }
}

/// `min-replicas-to-write`, or 0 when `min-replicas-max-lag` is 0 (Redis checks neither then).
pub fn min_replicas_of(cfg: &Config) -> u64 {
    let num = |n: &str| cfg.compat_value(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    if num("min-replicas-max-lag") > 0 { num("min-replicas-to-write") } else { 0 }
}
