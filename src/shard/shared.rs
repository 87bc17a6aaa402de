//! State shared by every shard thread: configuration, the inboxes (with the cost they
//! hold, which bounds them: see `msg`) and wakeup flags, the global transaction order,
//! and server-wide counters.
//!
//! Everything here is touched from several threads, so it is atomics, lock-free queues
//! or locks that the hot path never takes (config is read through a per-thread cached
//! snapshot that is refreshed when `config_epoch` moves).

use crate::config::Config;
use crossbeam_queue::SegQueue;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use super::msg::Msg;

pub struct Shared {
    pub nshards: usize,
    config: RwLock<Arc<Config>>,
    /// Bumped on every CONFIG SET so threads know to refresh their snapshot.
    pub config_epoch: AtomicU64,
    /// The config file given on the command line, for CONFIG REWRITE.
    pub config_file: Option<PathBuf>,
    /// One multi-producer queue per shard; each element is one sender's batch. Each
    /// counts the cost it holds, which bounds it (see `msg`, "The inbox bound").
    pub inboxes: Vec<Inbox>,
    /// Set by a shard just before it sleeps in the kernel; a producer that sees it set
    /// clears it and sends a MSG_RING wakeup.
    pub parked: Vec<AtomicBool>,
    /// Each shard's ring fd, the MSG_RING target.
    pub ring_fds: Vec<AtomicI32>,
    /// Held while queueing one transaction's lock requests on all its shards, so every
    /// shard sees lock requests in the same order. The value is the last tx id issued.
    pub tx_order: Mutex<u64>,
    pub connected_clients: AtomicUsize,
    /// MONITOR clients per shard, and in all (`cmd::monitor`).
    pub monitors: Vec<AtomicUsize>,
    pub monitors_total: AtomicUsize,
    /// LATENCY events recorded off the shards' loops (`fork`, `aof-rename`).
    pub latency_events: super::slowlog::SharedLatency,
    pub next_client_id: AtomicU64,
    pub started: Instant,
    pub started_unix_ms: u64,
    pub run_id: String,
    /// Set by SHUTDOWN or a signal; every loop exits at its next turn.
    pub shutdown: AtomicBool,
    /// Unix seconds of the last successful save (LASTSAVE).
    pub lastsave: AtomicU64,
    /// CLIENT PAUSE: unix ms until which clients are paused, and whether only writes are.
    pub pause_until_ms: AtomicU64,
    pub pause_writes_only: AtomicBool,
    /// The port actually bound (differs from config when it says 0).
    pub port: AtomicU64,
    /// The listening sockets, handed to the shard threads (`io::listen`).
    pub listen: crate::io::listen::Handoff,
    pub executable: String,
    /// Per shard: AOF numbers for INFO.
    pub aof: Vec<crate::persist::AofInfo>,
    /// RDB snapshots: the child, save statistics, per-shard change counters.
    pub rdb: crate::persist::snapstate::SnapState,
    /// AOF rewrite status (BGREWRITEAOF).
    pub aofrw: crate::persist::rewrite::RewriteState,
    /// Whether the AOF is healthy (a failed write or fsync stops writes: MISCONF).
    pub aof_health: crate::persist::AofHealth,
    /// Client-side caching: BCAST prefixes and INFO counters (`shard::tracking`).
    pub tracking: super::tracking::SharedTracking,
    /// Per shard: what start-up loaded for it, taken by its thread.
    pub aof_boot: Mutex<Vec<Option<crate::persist::load::Boot>>>,
    /// Replication: role, ids, the stream's offset and feed (`repl::state`).
    pub repl: crate::repl::ReplState,
    /// Memory figures for INFO, MEMORY and eviction (`shard::evict`).
    pub mem: super::evict::MemShared,
    /// The replica side: link state, applied offset, hand-offs (`repl::replica`).
    pub replica: crate::repl::replica::ReplicaShared,
    /// ACL users and the ACL LOG (`acl`).
    pub acl: crate::acl::AclShared,
    /// Cluster mode (`cluster`): off unless `cluster-enabled yes`, set up at start.
    pub cluster: crate::cluster::Cluster,
    /// Scripting: the script cache, function libraries, busy/kill flags (`script`).
    pub script: Arc<crate::script::ScriptShared>,
    /// Subscriptions counted over every thread, for a script's PUBLISH (`shard::pubsub`).
    pub pubsub_census: Arc<super::pubsub::Census>,
}

impl Shared {
    pub fn new(config: Config, config_file: Option<PathBuf>) -> Shared {
        let nshards = config.shards.max(1);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let acl = crate::acl::AclShared::default();
        acl.apply_config(None, &config);
        Shared {
            nshards,
            config: RwLock::new(Arc::new(config)),
            config_epoch: AtomicU64::new(0),
            config_file,
            inboxes: (0..nshards).map(|_| Inbox::default()).collect(),
            parked: (0..nshards).map(|_| AtomicBool::new(false)).collect(),
            ring_fds: (0..nshards).map(|_| AtomicI32::new(-1)).collect(),
            tx_order: Mutex::new(0),
            connected_clients: AtomicUsize::new(0),
            monitors: (0..nshards).map(|_| AtomicUsize::new(0)).collect(),
            monitors_total: AtomicUsize::new(0),
            latency_events: Default::default(),
            next_client_id: AtomicU64::new(1),
            started: Instant::now(),
            started_unix_ms: now_ms,
            run_id: make_run_id(now_ms),
            shutdown: AtomicBool::new(false),
            lastsave: AtomicU64::new(now_ms / 1000),
            pause_until_ms: AtomicU64::new(0),
            pause_writes_only: AtomicBool::new(false),
            port: AtomicU64::new(0),
            listen: crate::io::listen::Handoff::new(nshards),
            executable: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            aof: (0..nshards).map(|_| Default::default()).collect(),
            aof_health: Default::default(),
            tracking: Default::default(),
            aof_boot: Mutex::new(Vec::new()),
            rdb: crate::persist::snapstate::SnapState::new(nshards),
            aofrw: Default::default(),
            repl: crate::repl::ReplState::new(crate::repl::state::random_replid()),
            mem: super::evict::MemShared::new(nshards),
            replica: Default::default(),
            acl,
            cluster: crate::cluster::Cluster::disabled(),
            script: Arc::new(crate::script::ScriptShared::new()),
            pubsub_census: Default::default(),
        }
    }

    /// The current configuration snapshot.
    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the configuration (CONFIG SET) and tells every thread.
    pub fn set_config(&self, cfg: Config) {
        self.acl.apply_config(Some(&self.config()), &cfg);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(cfg);
        self.config_epoch.fetch_add(1, Ordering::Release);
    }

    /// Pushes one batch to `dest`'s inbox. Returns true if `dest` was asleep and must be
    /// woken (the caller queues a MSG_RING). The SeqCst pair (push, then load `parked`;
    /// versus store `parked`, then check the inbox) guarantees that either we see it
    /// parked or it sees our batch.
    pub fn deliver(&self, dest: usize, batch: Vec<Msg>) -> bool {
        self.inboxes[dest].push(batch);
        // Only a parked shard is woken: one awake (busy) sees the batch at its next
        // turn's drain, so its flag is false and nothing is sent.
        let wake = self.parked[dest].load(Ordering::SeqCst) && self.parked[dest].swap(false, Ordering::SeqCst);
        if wake {
            self.inboxes[dest].wakeups.fetch_add(1, Ordering::Relaxed);
        }
        wake
    }

    /// Wakes shard `s` from a thread that has no ring of its own (a replica's link
    /// thread, a slot migration's helper): one small ring per such thread, created on
    /// first use, sends the MSG_RING.
    pub fn wake_from_helper_thread(&self, s: usize) {
        thread_local! {
            static RING: std::cell::RefCell<Option<crate::io::Ring>> = const { std::cell::RefCell::new(None) };
        }
        RING.with(|r| {
            let mut r = r.borrow_mut();
            if r.is_none() {
                *r = crate::io::Ring::new(4).ok();
            }
            if let Some(ring) = r.as_mut() {
                let fd = self.ring_fds[s].load(Ordering::Acquire);
                let wake = crate::io::Token::new(crate::io::Op::Wake, 0, 0).encode();
                ring.msg_ring(fd, wake, crate::io::Token::new(crate::io::Op::WakeSent, 0, 0).encode());
                let _ = ring.submit();
                let mut done = Vec::new();
                ring.reap(&mut done);
            }
        });
    }

    pub fn now_unix_ms() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

/// One shard's inbox: batches from the other threads (and from itself), with the cost
/// they hold (`Msg::cost`). Senders read `queued` to stop parsing client input while
/// it is over `msg::INBOX_LIMIT`; the owner drains it whole every turn.
#[derive(Default)]
pub struct Inbox {
    queue: SegQueue<(usize, usize, Vec<Msg>)>,
    /// Cost of the batches in `queue`.
    queued: AtomicUsize,
    /// Lock requests (`Msg::Lock`, `Msg::LockRun`) in `queue`. Pushed only under
    /// `Shared::tx_order`, so the owner, holding it, knows whether a request ordered
    /// before its own waits here (`cmd::coord_split::take_own`).
    locks: AtomicUsize,
    /// Cost of requests the owner took from the queue but had to defer (keys locked
    /// by a transaction): still memory that senders' requests hold here.
    deferred: AtomicUsize,
    /// The highest `queued` seen, for INFO (`shardis_inbox_peak_bytes`).
    peak: AtomicUsize,
    /// How many times a connection stopped parsing because some inbox was full,
    /// counted on the sending thread's own inbox (INFO `shardis_input_stalls`).
    pub stalls: AtomicU64,
    /// Batches the owner took, and wake-ups senders sent it because it was parked
    /// (INFO `shardis_inbox_batches`, `shardis_inbox_wakeups`): per request, what a
    /// hop costs in queue operations and wake-ups (`docs/scaling.md`).
    batches: AtomicU64,
    pub wakeups: AtomicU64,
}

impl Inbox {
    pub fn push(&self, batch: Vec<Msg>) {
        let mut cost = 0;
        let mut locks = 0;
        for m in &batch {
            cost += m.cost();
            locks += m.is_lock_request() as usize;
        }
        if locks > 0 {
            self.locks.fetch_add(locks, Ordering::AcqRel);
        }
        self.queue.push((cost, locks, batch));
        let now = self.queued.fetch_add(cost, Ordering::AcqRel) + cost;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Takes the oldest batch; its cost leaves the count at once (the owner handles it
    /// within this turn).
    pub fn pop(&self) -> Option<Vec<Msg>> {
        let (cost, locks, batch) = self.queue.pop()?;
        self.queued.fetch_sub(cost, Ordering::AcqRel);
        // Only the owner pops: a plain read and write, no locked instruction.
        self.batches.store(self.batches.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        if locks > 0 {
            self.locks.fetch_sub(locks, Ordering::AcqRel);
        }
        Some(batch)
    }

    /// Lock requests pushed here and not yet taken by the owner.
    pub fn locks_waiting(&self) -> usize {
        self.locks.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The cost senders must count against the bound: queued plus deferred.
    pub fn load(&self) -> usize {
        self.queued.load(Ordering::Acquire) + self.deferred.load(Ordering::Relaxed)
    }

    /// The owner's deferred requests now cost this much.
    pub fn set_deferred(&self, cost: usize) {
        self.deferred.store(cost, Ordering::Relaxed);
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
}

/// A 40 hex digit run id, as Redis reports in INFO server. Not cryptographic: it only
/// has to differ between runs.
fn make_run_id(now_ms: u64) -> String {
    let mut x = now_ms ^ ((std::process::id() as u64) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    let mut s = String::with_capacity(40);
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(char::from_digit((x & 15) as u32, 16).expect("digit < 16"));
    }
    s
}
