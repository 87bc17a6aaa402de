//! The replication thread: assembles the one stream, keeps the backlog, serves the
//! replicas. Started by the first PSYNC/SYNC (`start`); until then nothing exists and
//! the shards' hot path pays one relaxed load per turn (`ReplState::feeds_stream`).
//!
//! ## The stream and its offset
//!
//! Shards push segments to `ReplState::feed` (see `feed`); this thread alone drains
//! it, merges with `feed::Assembler`, appends to the `Backlog` and advances
//! `ReplState::offset` (master_repl_offset) by the bytes appended. The offset counts
//! exactly the bytes replicas receive, so Redis replicas' offsets and ours agree.
//!
//! How a replica is attached (PSYNC's answer, a full sync's cut, fork and transfer)
//! is in `sync`; what the thread publishes for INFO, WAIT and `min-replicas-to-write`
//! is in `publish`.
//!
//! ## Sizing
//!
//! A replica's pending bytes (stream written since its position) count against
//! `client-output-buffer-limit replica` (256mb 64mb 60) from the cut on, as in Redis:
//! if writes during a full sync exceed the hard limit (or the soft one for its
//! seconds) before the replica has loaded the RDB, it is dropped and starts over,
//! forever. Size the limits above (write rate x (snapshot time + transfer time + load
//! time)), and `repl-backlog-size` at least (write rate x the longest link outage
//! that should still resync partially).
//!
//! ## Waking the thread
//!
//! Each shard pushes its turn's segments and signals the thread's eventfd if it is
//! parked. Under a steady write load that was a wakeup (and a send per replica) per
//! shard turn, and the wakeups cost more than the sends. So while writes stream in the
//! thread *dozes* instead of parking: it sleeps at most `DOZE_MS` (1 ms), and the
//! shards' ordinary segments do not wake it unless `DOZE_BYTES` (64 KiB) gathered
//! (`Handle::wake_lazy`); what waits on it (WAIT, a cut's mark, a new replica, FAILOVER,
//! CLIENT KILL) still wakes it at once (`Handle::wake`). After a doze that found
//! nothing it parks again. The price is up to 1 ms more replication lag.
//!
//! The offset itself must not lag: a client that saw its write answered and then
//! reads `master_repl_offset` (INFO, ROLE) to wait for its replicas, as Redis's own
//! tests do, must see the write counted. So every reader of the master's offset on a
//! client's behalf goes through `answered_offset`: it queues a mark behind whatever the
//! shards queued (a write's segments are queued before its reply leaves, `feed`), which
//! wakes the thread at once, and takes the stream's offset at the mark. ROLE first
//! queues its shard's open segment, so a write answered earlier in the same pipeline
//! counts; INFO is a fan-out, whose answer comes in a later turn, after the shards
//! queued theirs. WAIT, a cut's position and FAILOVER's barrier already queue a mark or
//! request the same way; PSYNC's answers and GETACK are this thread's own. (Before,
//! with the doze, INFO's offset trailed an answered write by up to 1 ms, and without
//! it still by a wakeup: `tests/repl_stream.rs`.)
//! Replica sockets are read when poll reports input, and all of them every 100 ms.
//!
//! ## I/O
//!
//! Replica sockets are non-blocking; the thread waits in `poll(2)` on them, on an
//! eventfd the shards signal when it is parked, and on its zero-copy ring while sends
//! are in flight. Stream bytes are sent straight from the backlog blocks (no
//! per-replica copy in user space): with io_uring `SEND_ZC` when a replica is due at
//! least a threshold from a full block (the kernel then reads the block itself; the
//! ring holds the block until the notification), with `write(2)` otherwise
//! (`master_replica::Sender`). Replies to WAIT travel as ordinary `Reply` messages to
//! the client's shard, woken with MSG_RING from a small ring of our own.

mod publish;
mod sync;

use super::backlog::Backlog;
use super::feed::Assembler;
use super::master_replica::{Replica, Sender, St, over_output_limit, read_replica, replica_limits, write_replica};
use super::state::Segment;
use crate::io::poll::{self, EventFd, PollFd};
use crate::io::{Op, Ring, Token};
use crate::persist::resp::encode;
use crate::shard::Shared;
use crate::util::log;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const R: Ordering = Ordering::Relaxed;

pub use publish::{NOREPLICAS, Published, ReplicaRow, WaitReq, too_few_replicas, too_few_replicas_for};
use sync::Job;
pub use sync::{CutMark, Sink};

/// What a connection told us with REPLCONF before PSYNC/SYNC.
#[derive(Clone, Debug, Default)]
pub struct Hello {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    pub rdb_only: bool,
    /// PSYNC's (replid, offset); None for SYNC.
    pub psync: Option<(String, i64)>,
    /// The peer's address as the shard saw it.
    pub peer_ip: String,
    pub client_id: u64,
    /// PSYNC/SYNC was sent: the worker hands the connection over once it closes.
    pub handoff: bool,
}

/// The thread's mailbox and wakeup.
pub struct Handle {
    newcomers: Mutex<Vec<(RawFd, Hello)>>,
    efd: EventFd,
    /// `AWAKE`, `PARKED` or `DOZING` (see "Waking the thread" in the module docs).
    parked: AtomicU8,
    /// Stream bytes the shards queued since the thread last drained the feed.
    queued: AtomicU64,
    kill: AtomicU64,
    /// Set by the main thread once every shard thread stopped (`flush_at_exit`):
    /// the thread sends what it still has, then sets `flushed` and ends.
    last_flush: AtomicBool,
    flushed: AtomicBool,
}

const AWAKE: u8 = 0;
/// Asleep until something arrives: any push wakes it.
const PARKED: u8 = 1;
/// Asleep for at most `DOZE_MS` while writes stream in: only urgent pushes, or
/// `DOZE_BYTES` queued, wake it early.
const DOZING: u8 = 2;
/// How long a dozing thread lets the shards' segments gather (the extra lag bound).
const DOZE_MS: i32 = 1;
/// Queued stream bytes that end a doze early (a send per replica is worth it).
const DOZE_BYTES: u64 = 64 << 10;

impl Handle {
    /// Wakes the thread now (a parked or dozing one): something waits for it.
    pub fn wake(&self) {
        if self.parked.load(Ordering::SeqCst) != AWAKE && self.parked.swap(AWAKE, Ordering::SeqCst) != AWAKE {
            self.efd.signal();
        }
    }

    /// A shard queued `bytes` of ordinary stream: wakes a parked thread, and a dozing
    /// one only once enough bytes gathered (its doze ends within `DOZE_MS` anyway).
    pub fn wake_lazy(&self, bytes: u64) {
        let queued = self.queued.fetch_add(bytes, Ordering::Relaxed) + bytes;
        match self.parked.load(Ordering::SeqCst) {
            AWAKE => {}
            DOZING if queued < DOZE_BYTES => {}
            _ => self.wake(),
        }
    }
}

/// Starts the thread if it is not running yet.
pub fn start(shared: &Arc<Shared>) {
    if shared.repl.master.get().is_some() {
        return;
    }
    let Ok(efd) = EventFd::new() else {
        log::warning("Can't start the replication thread: eventfd failed");
        return;
    };
    let h = Handle {
        newcomers: Mutex::new(Vec::new()),
        efd,
        parked: AtomicU8::new(AWAKE),
        queued: AtomicU64::new(0),
        kill: AtomicU64::new(0),
        last_flush: AtomicBool::new(false),
        flushed: AtomicBool::new(false),
    };
    if shared.repl.master.set(h).is_err() {
        return;
    }
    let s = shared.clone();
    if let Err(e) = std::thread::Builder::new().name("repl-master".into()).spawn(move || Master::new(s).run()) {
        log::warning(&format!("Can't start the replication thread: {e}"));
    }
}

/// At exit, once every shard thread stopped: the replication thread takes the stream
/// the shards pushed last and writes what its replicas are due as far as their sockets
/// take it without waiting (Redis's `flushReplicasOutput` before exiting), so writes
/// acknowledged just before a shutdown reach the replicas. Waits at most a second.
pub fn flush_at_exit(shared: &Shared) {
    let Some(h) = shared.repl.master.get() else { return };
    h.last_flush.store(true, Ordering::SeqCst);
    h.wake();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while !h.flushed.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Hands a connection that sent PSYNC/SYNC (its shard no longer touches `fd`) over.
pub fn hand_over(shared: &Arc<Shared>, fd: RawFd, hello: Hello) {
    start(shared);
    match shared.repl.master.get() {
        Some(h) => {
            h.newcomers.lock().unwrap_or_else(|e| e.into_inner()).push((fd, hello));
            h.parked.store(AWAKE, Ordering::SeqCst);
            h.efd.signal();
        }
        None => crate::io::sock::close(fd),
    }
}

/// master_repl_offset counting every write already answered (INFO, ROLE, REPLICAOF):
/// the thread is asked to assemble the stream up to everything queued now, and the
/// offset there is returned (see "Waking the thread"). Blocks the caller for a wakeup
/// of the thread (at most a second; then the offset as it stands). Never call it from
/// the replication thread itself.
pub fn answered_offset(shared: &Shared) -> u64 {
    if shared.repl.master.get().is_some() {
        let mark = Arc::new(CutMark::default());
        shared.repl.push(Segment::Mark(mark.clone()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        if let Some((_, offset)) = mark.wait_position_until(shared, Some(deadline)) {
            return offset;
        }
    }
    shared.repl.offset.load(Ordering::Acquire)
}

/// CLIENT KILL TYPE replica: drops every replica; returns how many there were.
pub fn kill_replicas(shared: &Shared) -> u64 {
    let Some(h) = shared.repl.master.get() else { return 0 };
    let n = shared.repl.pub_info.connected.load(R);
    h.kill.fetch_add(1, R);
    h.parked.store(AWAKE, Ordering::SeqCst);
    h.efd.signal();
    n
}

struct Master {
    shared: Arc<Shared>,
    backlog: Option<Backlog>,
    asm: Assembler,
    replicas: Vec<Replica>,
    jobs: Vec<Job>,
    next_job: u64,
    waits: Vec<WaitReq>,
    scratch: Vec<u8>,
    last_ping_ms: u64,
    last_newline_ms: u64,
    ring: Option<Ring>,
    kills_seen: u64,
    getack_pending: bool,
    /// A diskless sync's cut waits `repl-diskless-sync-delay` for more replicas.
    cut_due_ms: Option<u64>,
    sender: Sender,
    next_key: u64,
    /// Since when no replica is connected (`repl-backlog-ttl`).
    no_replicas_since_ms: Option<u64>,
    /// This round appended shard writes for online replicas: doze, not park.
    streamed: bool,
    last_read_all_ms: u64,
}

pub(super) fn now_ms() -> u64 {
    Shared::now_unix_ms()
}

impl Master {
    fn new(shared: Arc<Shared>) -> Master {
        Master {
            shared,
            backlog: None,
            asm: Assembler::default(),
            replicas: Vec::new(),
            jobs: Vec::new(),
            next_job: 1,
            waits: Vec::new(),
            scratch: Vec::new(),
            last_ping_ms: now_ms(),
            last_newline_ms: 0,
            ring: Ring::new(64).ok(),
            kills_seen: 0,
            getack_pending: false,
            cut_due_ms: None,
            sender: Sender::from_env(),
            next_key: 1,
            no_replicas_since_ms: None,
            streamed: false,
            last_read_all_ms: 0,
        }
    }

    fn handle(&self) -> &Handle {
        self.shared.repl.master.get().expect("started before the thread")
    }

    fn run(mut self) {
        if self.shared.repl.streaming.load(Ordering::SeqCst) {
            self.ensure_backlog(); // restarted from an RDB with a replication position
        }
        loop {
            // The shards' last turns may still push stream: the main thread says when
            // they all stopped (`flush_at_exit`).
            if self.shared.shutdown.load(R) && self.handle().last_flush.load(Ordering::SeqCst) {
                self.drain_feed();
                self.io();
                self.handle().flushed.store(true, Ordering::SeqCst);
                break;
            }
            self.take_newcomers();
            self.drain_feed();
            self.timers();
            self.reap_jobs();
            self.io();
            self.failover();
            self.shutdown_wait();
            self.answer_waits();
            self.trim_and_publish();
            self.sleep();
        }
    }

    fn cfg_u64(&self, name: &str, default: u64) -> u64 {
        let cfg = self.shared.config();
        cfg.compat.get(name).and_then(|v| crate::config::parse::parse_memory(v)).unwrap_or(default)
    }

    /// Creates the backlog at the current offset (Redis: when the first replica
    /// attaches) and makes the shards feed the stream from their next turn.
    fn ensure_backlog(&mut self) {
        if self.backlog.is_some() {
            return;
        }
        let at = self.shared.repl.offset.load(Ordering::Acquire);
        self.backlog = Some(Backlog::new(at));
        self.asm.reselect();
        self.shared.repl.streaming.store(true, Ordering::SeqCst);
        let ids = self.shared.repl.ids();
        log::notice(&format!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            ids.replid, ids.replid2
        ));
    }

    fn wake_shard(&mut self, s: usize) {
        let fd = self.shared.ring_fds[s].load(Ordering::Acquire);
        if let Some(ring) = self.ring.as_mut() {
            ring.msg_ring(fd, Token::new(Op::Wake, 0, 0).encode(), Token::new(Op::WakeSent, 0, 0).encode());
            let _ = ring.submit();
            let mut done = Vec::new();
            ring.reap(&mut done);
        }
    }

    fn drain_feed(&mut self) {
        let mut first = None;
        if self.backlog.is_none() {
            // No replica ever attached: shards feed nothing (they check `streaming`).
            // A replica's forwarded stream is the exception: as in Redis, a replica
            // keeps a backlog from its first sync on, so its offset counts and its own
            // replicas can continue partially later.
            while let Some(seg) = self.shared.repl.feed.pop() {
                let at = self.shared.repl.offset.load(Ordering::Acquire);
                let start = match seg {
                    Segment::Reset { offset, .. } => Some(offset),
                    Segment::Verbatim(_) => Some(at),
                    // A SAVE's position, or a WAIT, that raced with the backlog being
                    // freed (`repl-backlog-ttl`): the stream stands still, so both are
                    // answered from where it stopped.
                    Segment::Mark(ref mark) => {
                        mark.set_position((self.shared.repl.ids().replid, at));
                        None
                    }
                    Segment::Wait(ref w) => {
                        let mut w = WaitReq::new(w.numreplicas, w.deadline_ms, w.to);
                        w.target = at;
                        self.waits.push(w);
                        None
                    }
                    _ => None,
                };
                if let Some(offset) = start {
                    self.backlog = Some(Backlog::new(offset));
                    self.asm.reselect();
                    // Harmless while we are a replica (shards check the role too); once
                    // promoted, our own writes feed the stream our replicas read.
                    self.shared.repl.streaming.store(true, Ordering::SeqCst);
                    self.shared.repl.pub_info.backlog_active.store(true, R);
                    first = Some(seg);
                    break;
                }
            }
            if self.backlog.is_none() {
                return;
            }
        }
        let Some(b) = self.backlog.as_mut() else { return };
        self.shared.repl.master.get().expect("running").queued.store(0, R);
        let mut appended = false;
        while let Some(seg) = first.take().or_else(|| self.shared.repl.feed.pop()) {
            match seg {
                Segment::Mark(mark) => {
                    let replid = self.shared.repl.ids().replid;
                    let offset = b.end();
                    mark.set_position((replid.clone(), offset));
                    if !mark.for_sync {
                        continue;
                    }
                    // The snapshot says the stream is in db 0 (`repl-stream-db`): the
                    // next command selects its db, as Redis resets `slaveseldb`.
                    self.asm.reselect();
                    let id = self.next_job;
                    self.next_job += 1;
                    for r in self.replicas.iter_mut().filter(|r| r.state == St::WaitCut) {
                        r.state = St::WaitBgsave;
                        r.job = id;
                        r.pos = offset;
                        r.ack = offset;
                        if r.psync {
                            r.out.extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
                        }
                    }
                    self.jobs.push(Job::new(id, mark));
                    self.shared.repl.pub_info.cut_wanted.store(false, R);
                }
                Segment::Wait(mut w) => {
                    w.target = b.end();
                    self.waits.push(*w);
                }
                Segment::Reset { replid, offset } => {
                    *b = Backlog::new(offset);
                    self.asm.reselect();
                    // The ids were set when the Reset was queued (the install's finish):
                    // setting them again here would undo a REPLICAOF NO ONE that came
                    // in between (its new replid), and the sub-replica would then
                    // resync partially from a history that is not ours.
                    let _ = replid;
                    self.shared.repl.offset.store(offset, Ordering::Release);
                    for r in &mut self.replicas {
                        r.dead = true;
                    }
                }
                seg => {
                    self.scratch.clear();
                    self.asm.push(seg, &mut self.scratch);
                    b.append(&self.scratch);
                    appended = true;
                }
            }
            self.shared.repl.offset.store(b.end(), Ordering::Release);
        }
        if appended {
            self.shared.repl.offset.store(b.end(), Ordering::Release);
            self.streamed = self.replicas.iter().any(|r| r.state == St::Online);
        }
    }

    /// Appends a command of our own (PING, REPLCONF GETACK) to the stream.
    fn append_own(&mut self, args: &[&[u8]]) {
        // A replica only proxies its master's stream (which carries the master's own
        // PINGs): anything of ours would shift our offset off the master's, as
        // Redis's `replicationFeedSlaves` returns at once on a replica.
        if self.shared.repl.is_replica_fast() {
            return;
        }
        let Some(b) = self.backlog.as_mut() else { return };
        self.scratch.clear();
        encode(&mut self.scratch, args);
        b.append(&self.scratch);
        self.shared.repl.offset.store(b.end(), Ordering::Release);
    }

    fn timers(&mut self) {
        let now = now_ms();
        self.maybe_cut(now);
        let cfg = self.shared.config();
        let get = |n: &str, d: u64| cfg.compat.get(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(d);
        let ping_period = get("repl-ping-replica-period", 10).max(1) * 1000;
        let timeout = get("repl-timeout", 60).max(1) * 1000;
        // No PING during a FAILOVER: it would move the offset the target must reach
        // (Redis skips it while a failover pauses writes).
        if !self.replicas.is_empty() && now >= self.last_ping_ms + ping_period && !self.shared.repl.failover_paused() {
            self.last_ping_ms = now;
            self.append_own(&[b"PING"]);
        }
        if now >= self.last_newline_ms + 1000 {
            self.last_newline_ms = now;
            for r in self.replicas.iter_mut().filter(|r| matches!(r.state, St::WaitCut | St::WaitBgsave)) {
                r.out.push(b'\n');
            }
        }
        self.backlog_ttl(now, get("repl-backlog-ttl", 3600));
        let (hard, soft, soft_secs) = replica_limits(&cfg);
        let end = self.backlog.as_ref().map(|b| b.end()).unwrap_or(0);
        for r in &mut self.replicas {
            if r.dead {
                continue;
            }
            if r.state == St::Online && !r.rdb_only && now.saturating_sub(r.last_ack_ms) > timeout {
                log::warning(&format!("Disconnecting timedout replica (streaming sync): {}", r.name));
                r.dead = true;
                continue;
            }
            if r.state == St::WaitCut {
                continue;
            }
            let pending = end.saturating_sub(r.pos);
            if over_output_limit(pending, (hard, soft, soft_secs), &mut r.soft_since, now) {
                log::warning(&format!(
                    "Client id={} addr={}:{} flags=S name= cmd=psync user=default omem={pending} scheduled to be closed ASAP for overcoming of output buffer limits.",
                    r.id, r.ip, r.port
                ));
                r.dead = true;
            }
        }
    }

    /// `repl-backlog-ttl`: a master without replicas for that many seconds frees its
    /// backlog and, its history being gone, takes a new replid and forgets the old one
    /// (Redis's replicationCron). A replica keeps its backlog (it may be promoted). 0
    /// never frees. The shards stop feeding until a replica attaches again.
    fn backlog_ttl(&mut self, now: u64, ttl_secs: u64) {
        if !self.replicas.is_empty() || self.backlog.is_none() || self.shared.repl.is_replica_fast() {
            self.no_replicas_since_ms = None;
            return;
        }
        let since = *self.no_replicas_since_ms.get_or_insert(now);
        if ttl_secs == 0 || now.saturating_sub(since) <= ttl_secs * 1000 {
            return;
        }
        self.shared.repl.streaming.store(false, Ordering::SeqCst);
        // What the shards fed before they saw `streaming` off still counts.
        self.drain_feed();
        self.backlog = None;
        self.no_replicas_since_ms = None;
        self.shared.repl.reset_ids(super::state::random_replid(), "0".repeat(40), -1);
        let p = &self.shared.repl.pub_info;
        p.backlog_active.store(false, R);
        p.backlog_first_byte.store(0, R);
        p.backlog_histlen.store(0, R);
        log::notice(&format!("Replication backlog freed after {ttl_secs} seconds without connected replicas."));
    }

    fn io(&mut self) {
        let now = now_ms();
        // First, and even without a backlog: completions left unreaped would keep the
        // ring's fd readable and `sleep` from sleeping.
        self.sender.complete(&mut self.replicas);
        let Some(b) = self.backlog.as_ref() else { return };
        let mut acks = false;
        // Sockets are read when poll said so, and all of them now and then (a busy
        // thread may not poll for a while).
        let read_all = now >= self.last_read_all_ms + 100;
        if read_all {
            self.last_read_all_ms = now;
        }
        for r in &mut self.replicas {
            if r.dead {
                continue;
            }
            if (std::mem::take(&mut r.readable) || read_all)
                && let Err(e) = read_replica(r, now, &mut acks)
            {
                if !e.is_empty() {
                    log::warning(&format!("Replica {}: {e}", r.name));
                }
                log::notice(&format!("Connection with replica {} lost.", r.name));
                r.dead = true;
                continue;
            }
            if write_replica(r, b, &mut self.sender).is_err() {
                log::notice(&format!("Connection with replica {} lost.", r.name));
                r.dead = true;
            }
        }
        self.relay_pipes();
        self.replicas.retain(|r| !r.dead);
    }

    /// FAILOVER: has the target caught up? (`repl::failover`.)
    fn failover(&mut self) {
        if !self.shared.repl.failover_paused() || self.shared.repl.is_replica_fast() {
            return;
        }
        let Some(b) = self.backlog.as_ref() else { return };
        let candidates: Vec<super::failover::Candidate> =
            self.replicas.iter().map(|r| (r.ip.as_str(), r.port, r.ack, r.state == St::Online)).collect();
        if super::failover::step(&self.shared, &candidates, b.end(), now_ms()) {
            // Shard 0 starts the link to the target at its next turn.
            self.wake_shard(0);
        }
    }

    /// SHUTDOWN waiting for replicas: have they all caught up? (`repl::shutdown`.)
    fn shutdown_wait(&mut self) {
        if !self.shared.repl.shutdown_paused.load(R) {
            return;
        }
        let now = now_ms();
        let end =
            self.backlog.as_ref().map(|b| b.end()).unwrap_or_else(|| self.shared.repl.offset.load(Ordering::Acquire));
        let views: Vec<super::shutdown::ReplicaView> = self
            .replicas
            .iter()
            .map(|r| super::shutdown::ReplicaView {
                name: &r.name,
                ack: r.ack,
                online: r.state == St::Online,
                last_ack_ms: r.last_ack_ms,
                state: match r.state {
                    St::WaitCut | St::WaitBgsave => "wait_bgsave",
                    St::SendRdb => "send_bulk",
                    St::WaitAck | St::Online => "online",
                },
            })
            .collect();
        match super::shutdown::step(&self.shared, &views, end, now) {
            super::shutdown::Step::Nothing => {}
            super::shutdown::Step::GetAck => self.append_own(&[b"REPLCONF", b"GETACK", b"*"]),
            super::shutdown::Step::Finish => self.wake_shard(0),
        }
    }

    fn sleep(&mut self) {
        // While writes stream in, doze: the shards' next segments gather for a moment
        // and go out in one send per replica (`Handle::wake_lazy`).
        let doze = std::mem::take(&mut self.streamed);
        if self.feed_waiting(doze) {
            return;
        }
        let end = self.backlog.as_ref().map(|b| b.end()).unwrap_or(0);
        let mut fds = Vec::with_capacity(self.replicas.len() + 1);
        fds.push(PollFd::new(self.handle().efd.fd(), poll::IN));
        for r in &self.replicas {
            // A zero-copy send in flight reports through the ring, not POLLOUT.
            let wants_out =
                !r.zc_busy && (r.out_off < r.out.len() || r.rdb.is_some() || (r.state == St::Online && r.pos < end));
            fds.push(PollFd::new(r.sock.as_raw_fd(), if wants_out { poll::IN | poll::OUT } else { poll::IN }));
        }
        if let Some(fd) = self.sender.busy_fd() {
            fds.push(PollFd::new(fd, poll::IN));
        }
        for j in self.jobs.iter().filter(|j| !j.pipe_eof) {
            if let Some(p) = &j.pipe {
                fds.push(PollFd::new(p.as_raw_fd(), poll::IN));
            }
        }
        let h = self.handle();
        h.parked.store(if doze { DOZING } else { PARKED }, Ordering::SeqCst);
        if self.feed_waiting(doze) || !h.newcomers.lock().map(|g| g.is_empty()).unwrap_or(true) {
            h.parked.store(AWAKE, Ordering::SeqCst);
            return;
        }
        let zc = self.replicas.iter().any(|r| r.zc_busy);
        let timeout = if doze {
            DOZE_MS
        } else if self.jobs.is_empty() && self.waits.is_empty() && !zc {
            100
        } else {
            10
        };
        poll::wait(&mut fds, timeout);
        let h = self.handle();
        h.parked.store(AWAKE, Ordering::SeqCst);
        if fds[0].readable() {
            h.efd.drain();
        }
        // Replicas with something to read (ACKs); the rest are not read until they do.
        for (r, fd) in self.replicas.iter_mut().zip(&fds[1..]) {
            r.readable |= fd.readable();
        }
    }

    /// Is there feed to drain before sleeping? Dozing, only once enough gathered.
    fn feed_waiting(&self, doze: bool) -> bool {
        if doze { self.handle().queued.load(R) >= DOZE_BYTES } else { !self.shared.repl.feed.is_empty() }
    }
}
