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
//! ## A full sync and its offset
//!
//! A replica that cannot continue waits (`WaitCut`) while this thread asks shard 0 for
//! a cut (`Published::cut_wanted`; shard 0's turn starts it, `fullsync`). At the cut
//! every shard first pushes what it fed before it, then the leader pushes a
//! `Segment::Mark` and waits for this thread to reach it: the stream's offset there is
//! the snapshot's offset (nothing fed after the cut can be before the mark, nothing
//! before it after). The leader forks; the child writes the RDB (with the aux fields
//! `repl-id` / `repl-offset`) to a temp file and exits. Meanwhile the replicas of
//! that cut get `+FULLRESYNC <replid> <offset>` and newlines as keepalives; their
//! send position is the mark's offset, so the backlog keeps every write made during
//! the sync for them. When the child is reaped the file goes out as `$<len>` + bytes
//! (replicas arriving together share it), then the stream from the mark on.
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

use super::backlog::Backlog;
use super::feed::Assembler;
use super::master_replica::{Replica, Sender, St, over_output_limit, read_replica, replica_limits, write_replica};
use super::state::Segment;
use crate::io::poll::{self, EventFd, PollFd};
use crate::io::{Op, Ring, Token};
use crate::persist::resp::encode;
use crate::shard::{Msg, ReplyTo, Shared};
use crate::util::log;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

const R: Ordering = Ordering::Relaxed;

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
    parked: AtomicBool,
    kill: AtomicU64,
}

impl Handle {
    pub fn wake(&self) {
        if self.parked.load(Ordering::SeqCst) && self.parked.swap(false, Ordering::SeqCst) {
            self.efd.signal();
        }
    }
}

/// A cut's mark: the leader waits for the stream position this thread gives it.
#[derive(Default)]
pub struct CutMark {
    state: Mutex<MarkState>,
    cv: Condvar,
    /// A full sync's cut (its waiting replicas get this snapshot); otherwise only the
    /// position is wanted (a SAVE/BGSAVE writing the repl aux fields).
    pub for_sync: bool,
}

#[derive(Default)]
struct MarkState {
    at: Option<(String, u64)>,
    /// The snapshot child and where it writes, or why there is none.
    child: Option<Result<(i32, Sink), String>>,
}

/// Where a full sync's snapshot child writes.
#[derive(Clone)]
pub enum Sink {
    /// Disk-backed: the RDB file, sent as `$<len>` + bytes once the child is done.
    File(PathBuf),
    /// Diskless: the read end of the pipe the child writes `$EOF:<mark>` + RDB + mark to.
    Pipe(Arc<File>),
}

impl CutMark {
    /// The mark of a full sync's cut.
    pub fn for_sync() -> CutMark {
        CutMark { for_sync: true, ..Default::default() }
    }

    /// The leader: the (replid, offset) of the stream at the cut.
    pub fn wait_position(&self, shared: &Shared) -> Option<(String, u64)> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(at) = g.at.clone() {
                return Some(at);
            }
            if shared.shutdown.load(R) {
                return None;
            }
            g = self.cv.wait_timeout(g, std::time::Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    fn set_position(&self, at: (String, u64)) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).at = Some(at);
        self.cv.notify_all();
    }

    pub fn set_child(&self, child: Result<(i32, Sink), String>) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).child = Some(child);
    }

    fn child(&self) -> Option<Result<(i32, Sink), String>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).child.clone()
    }
}

/// WAIT numreplicas timeout, from a client on some shard.
pub struct WaitReq {
    pub numreplicas: u64,
    /// Unix ms; 0 waits forever.
    pub deadline_ms: u64,
    pub to: ReplyTo,
    target: u64,
}

impl WaitReq {
    pub fn new(numreplicas: u64, deadline_ms: u64, to: ReplyTo) -> WaitReq {
        WaitReq { numreplicas, deadline_ms, to, target: 0 }
    }
}

/// One replica's INFO line fields.
#[derive(Clone, Debug)]
pub struct ReplicaRow {
    pub ip: String,
    pub port: u16,
    pub state: &'static str,
    pub offset: u64,
    pub lag: u64,
}

/// What the thread publishes for INFO, WAIT and min-replicas-to-write.
#[derive(Default)]
pub struct Published {
    pub rows: Mutex<Vec<ReplicaRow>>,
    pub connected: AtomicU64,
    /// Online replicas whose last ACK is within `min-replicas-max-lag`.
    pub good: AtomicU64,
    pub backlog_active: AtomicBool,
    pub backlog_first_byte: AtomicU64,
    pub backlog_histlen: AtomicU64,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// Stream sends made with SEND_ZC, those the kernel copied anyway (loopback), and
    /// plain (copied) sends: INFO stats `repl_zc_sends`, `repl_zc_sends_kernel_copied`,
    /// `repl_copied_sends`.
    pub zc_sends: AtomicU64,
    pub zc_kernel_copied: AtomicU64,
    pub copied_sends: AtomicU64,
    /// Set by the thread, taken by shard 0's turn: take a cut for a full sync.
    pub cut_wanted: AtomicBool,
    /// That cut's snapshot streams through a pipe (diskless) rather than a file.
    pub cut_diskless: AtomicBool,
    /// Shard 0 started that cut (cleared when it ends).
    pub cut_started: AtomicBool,
}

/// `min-replicas-to-write`: must a write be refused with NOREPLICAS now?
#[inline]
pub fn too_few_replicas(st: &crate::shard::ShardState) -> bool {
    st.min_replicas > 0 && st.shared.repl.pub_info.good.load(R) < st.min_replicas && !st.shared.repl.is_replica_fast()
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
    let h = Handle { newcomers: Mutex::new(Vec::new()), efd, parked: AtomicBool::new(false), kill: AtomicU64::new(0) };
    if shared.repl.master.set(h).is_err() {
        return;
    }
    let s = shared.clone();
    if let Err(e) = std::thread::Builder::new().name("repl-master".into()).spawn(move || Master::new(s).run()) {
        log::warning(&format!("Can't start the replication thread: {e}"));
    }
}

/// Hands a connection that sent PSYNC/SYNC (its shard no longer touches `fd`) over.
pub fn hand_over(shared: &Arc<Shared>, fd: RawFd, hello: Hello) {
    start(shared);
    match shared.repl.master.get() {
        Some(h) => {
            h.newcomers.lock().unwrap_or_else(|e| e.into_inner()).push((fd, hello));
            h.parked.store(false, Ordering::SeqCst);
            h.efd.signal();
        }
        None => crate::io::sock::close(fd),
    }
}

/// CLIENT KILL TYPE replica: drops every replica; returns how many there were.
pub fn kill_replicas(shared: &Shared) -> u64 {
    let Some(h) = shared.repl.master.get() else { return 0 };
    let n = shared.repl.pub_info.connected.load(R);
    h.kill.fetch_add(1, R);
    h.parked.store(false, Ordering::SeqCst);
    h.efd.signal();
    n
}

struct Job {
    id: u64,
    mark: Arc<CutMark>,
    pid: Option<i32>,
    /// Diskless: the child's pipe, until its end.
    pipe: Option<Arc<File>>,
    pipe_eof: bool,
    /// The child exited: Some(success).
    exited: Option<bool>,
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
            if self.shared.shutdown.load(R) {
                break;
            }
            self.take_newcomers();
            self.drain_feed();
            self.timers();
            self.reap_jobs();
            self.io();
            self.failover();
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

    fn take_newcomers(&mut self) {
        let h = self.handle();
        // Newcomers first: a kill requested before one arrived (a promotion before the
        // PSYNC that follows it) must not drop it.
        let list = std::mem::take(&mut *h.newcomers.lock().unwrap_or_else(|e| e.into_inner()));
        let kills = h.kill.load(R);
        if kills != self.kills_seen {
            self.kills_seen = kills;
            for r in &mut self.replicas {
                log::notice(&format!("Connection with replica {} lost.", r.name));
                r.dead = true;
            }
        }
        if !list.is_empty() {
            // A promoted replica's history includes what it forwarded just before: the
            // backlog must hold it before a PSYNC is judged against it.
            self.drain_feed();
        }
        for (fd, hello) in list {
            self.attach(fd, hello);
        }
    }

    fn attach(&mut self, fd: RawFd, hello: Hello) {
        let sock = poll::adopt(fd);
        let _ = sock.set_nonblocking(true);
        let _ = sock.set_nodelay(true);
        let ip = hello.ip_address.clone().unwrap_or_else(|| hello.peer_ip.clone());
        let name = format!("{ip}:{}", hello.listening_port);
        log::notice(&format!("Replica {name} asks for synchronization"));
        self.ensure_backlog();
        let now = now_ms();
        let mut r = Replica {
            sock,
            name,
            ip,
            port: hello.listening_port,
            id: hello.client_id,
            state: St::WaitCut,
            job: 0,
            pos: 0,
            ack: 0,
            last_ack_ms: now,
            out: Vec::new(),
            out_off: 0,
            rdb: None,
            rbuf: Vec::new(),
            rdb_only: hello.rdb_only,
            psync: hello.psync.is_some(),
            capa_eof: hello.capa_eof,
            close_when_sent: false,
            soft_since: None,
            dead: false,
            key: self.next_key,
            zc_busy: false,
        };
        self.next_key += 1;
        let shared = self.shared.clone();
        let p = &shared.repl.pub_info;
        if let Some((replid, offset)) = &hello.psync {
            if self.try_partial(&mut r, replid, *offset, hello.capa_psync2) {
                p.sync_partial_ok.fetch_add(1, R);
                self.replicas.push(r);
                return;
            }
            if replid != "?" {
                p.sync_partial_err.fetch_add(1, R);
            } else {
                log::notice(&format!("Full resync requested by replica {}", r.name));
            }
        }
        p.sync_full.fetch_add(1, R);
        self.replicas.push(r);
        self.schedule_cut();
    }

    /// PSYNC replid offset: `+CONTINUE` if our history has the offset.
    fn try_partial(&mut self, r: &mut Replica, replid: &str, offset: i64, psync2: bool) -> bool {
        let ids = self.shared.repl.ids();
        let b = self.backlog.as_ref().expect("created on attach");
        if replid == "?" {
            return false;
        }
        if replid != ids.replid && (replid != ids.replid2 || offset > ids.second_offset) {
            if replid != ids.replid2 {
                log::notice(&format!(
                    "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{replid}', my replication IDs are '{}' and '{}')",
                    ids.replid, ids.replid2
                ));
            } else {
                log::notice(&format!(
                    "Partial resynchronization not accepted: Requested offset for second ID was {offset}, but I can reply up to {}",
                    ids.second_offset
                ));
            }
            return false;
        }
        // Redis's offsets count from 1: offset o is our 0-based position o - 1.
        let pos = offset - 1;
        if pos < 0 || !b.has(pos as u64) || b.histlen() == 0 && pos as u64 != b.end() {
            log::notice(&format!(
                "Unable to partial resync with replica {} for lack of backlog (Replica request was: {offset}).",
                r.name
            ));
            return false;
        }
        let pos = pos as u64;
        r.out.extend_from_slice(
            if psync2 { format!("+CONTINUE {}\r\n", ids.replid) } else { "+CONTINUE\r\n".into() }.as_bytes(),
        );
        r.pos = pos;
        r.ack = pos;
        r.state = St::Online;
        log::notice(&format!(
            "Partial resynchronization request from {} accepted. Sending {} bytes of backlog starting from offset {offset}.",
            r.name,
            b.end() - pos
        ));
        true
    }

    /// Will the next cut's snapshot stream diskless? When configured and every
    /// waiting replica understands `$EOF:` (capa eof).
    fn diskless(&self) -> bool {
        let cfg = self.shared.config();
        cfg.compat_value("repl-diskless-sync") != Some("no")
            && self.replicas.iter().filter(|r| r.state == St::WaitCut).all(|r| r.capa_eof)
    }

    /// A replica needs a full sync: a disk-backed one starts now, a diskless one after
    /// `repl-diskless-sync-delay` (or once `repl-diskless-sync-max-replicas` wait), so
    /// replicas arriving together share the snapshot.
    fn schedule_cut(&mut self) {
        let now = now_ms();
        let cfg = self.shared.config();
        let get = |n: &str| cfg.compat_value(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let (delay, max) = (get("repl-diskless-sync-delay"), get("repl-diskless-sync-max-replicas"));
        let waiting = self.replicas.iter().filter(|r| r.state == St::WaitCut).count() as u64;
        if !self.diskless() || delay == 0 || (max > 0 && waiting >= max) {
            self.cut_due_ms = Some(now);
        } else if self.cut_due_ms.is_none() {
            self.cut_due_ms = Some(now + delay * 1000);
        }
        self.maybe_cut(now);
    }

    fn maybe_cut(&mut self, now: u64) {
        let Some(due) = self.cut_due_ms else { return };
        if now < due {
            return;
        }
        let p = &self.shared.repl.pub_info;
        // One cut at a time: a replica arriving meanwhile waits for the next one.
        if p.cut_wanted.load(R) || self.jobs.iter().any(|j| j.pid.is_none()) {
            return;
        }
        if !self.replicas.iter().any(|r| r.state == St::WaitCut) {
            self.cut_due_ms = None;
            return;
        }
        self.cut_due_ms = None;
        let diskless = self.diskless();
        log::notice(&format!(
            "Starting BGSAVE for SYNC with target: {}",
            if diskless { "replicas sockets" } else { "disk" }
        ));
        p.cut_diskless.store(diskless, Ordering::SeqCst);
        p.cut_wanted.store(true, Ordering::SeqCst);
        self.wake_shard(0);
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
                    self.jobs.push(Job { id, mark, pid: None, pipe: None, pipe_eof: false, exited: None });
                    self.shared.repl.pub_info.cut_wanted.store(false, R);
                }
                Segment::Wait(mut w) => {
                    w.target = b.end();
                    self.waits.push(*w);
                }
                Segment::Reset { replid, offset } => {
                    *b = Backlog::new(offset);
                    self.asm.reselect();
                    let ids = self.shared.repl.ids();
                    self.shared.repl.reset_ids(replid, ids.replid2, ids.second_offset);
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

    fn reap_jobs(&mut self) {
        let mut finished: Vec<(u64, Result<Option<File>, String>)> = Vec::new();
        for j in &mut self.jobs {
            if j.pid.is_none() {
                match j.mark.child() {
                    None => continue,
                    Some(Ok((pid, sink))) => {
                        j.pid = Some(pid);
                        if let Sink::Pipe(f) = sink {
                            j.pipe = Some(f);
                            for r in self.replicas.iter_mut().filter(|r| r.state == St::WaitBgsave && r.job == j.id) {
                                r.state = St::SendRdb;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        finished.push((j.id, Err(e)));
                        continue;
                    }
                }
            }
            let Some(pid) = j.pid else { continue };
            if j.exited.is_none() {
                match crate::io::proc::reap(pid) {
                    Ok(None) => continue,
                    Ok(Some(crate::io::proc::Exit::Code(0))) => j.exited = Some(true),
                    Ok(Some(_)) | Err(_) => j.exited = Some(false),
                }
            }
            let ok = j.exited == Some(true);
            if j.pipe.is_some() {
                if !ok {
                    finished.push((j.id, Err("the snapshot child failed".into())));
                } else if j.pipe_eof {
                    finished.push((j.id, Ok(None)));
                }
                continue;
            }
            let path = match j.mark.child() {
                Some(Ok((_, Sink::File(p)))) => p,
                _ => continue,
            };
            let r = if ok {
                File::open(&path).map(Some).map_err(|e| format!("{e}"))
            } else {
                Err("the snapshot child failed".into())
            };
            let _ = std::fs::remove_file(&path);
            finished.push((j.id, r));
        }
        for (id, r) in finished {
            self.jobs.retain(|j| j.id != id);
            match r {
                Ok(None) => log::notice("Background RDB transfer terminated with success"),
                Ok(Some(f)) => {
                    log::notice("Background saving terminated with success");
                    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                    let f = Arc::new(f);
                    for r in self.replicas.iter_mut().filter(|r| r.state == St::WaitBgsave && r.job == id) {
                        r.out.extend_from_slice(format!("${len}\r\n").as_bytes());
                        r.rdb = Some((f.clone(), 0, len));
                        r.state = St::SendRdb;
                    }
                }
                Err(e) => {
                    log::warning(&format!("Background saving error: {e}"));
                    for r in self
                        .replicas
                        .iter_mut()
                        .filter(|r| matches!(r.state, St::WaitBgsave | St::SendRdb) && r.job == id && r.rdb.is_none())
                    {
                        log::warning(&format!(
                            "SYNC failed. BGSAVE child returned an error; dropping replica {}",
                            r.name
                        ));
                        r.dead = true;
                    }
                }
            }
        }
    }

    /// Diskless: moves the child's bytes from its pipe to the job's replicas, as fast
    /// as the slowest of them takes them (nothing more is read while one still has
    /// bytes pending).
    fn relay_pipes(&mut self) {
        let Some(b) = self.backlog.as_ref() else { return };
        let mut chunk = vec![0u8; 64 << 10];
        for j in &mut self.jobs {
            let Some(pipe) = j.pipe.clone() else { continue };
            if j.pipe_eof {
                continue;
            }
            loop {
                let mine = |r: &Replica| r.job == j.id && r.state == St::SendRdb && !r.dead;
                if self.replicas.iter().any(|r| mine(r) && r.out_off < r.out.len()) {
                    break;
                }
                match (&*pipe).read(&mut chunk) {
                    Ok(0) => {
                        j.pipe_eof = true;
                        for r in self.replicas.iter_mut().filter(|r| mine(r)) {
                            r.state = St::WaitAck;
                            log::notice(&format!(
                                "Streamed RDB transfer with replica {} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming",
                                r.name
                            ));
                            if r.rdb_only {
                                r.close_when_sent = true;
                            }
                        }
                        break;
                    }
                    Ok(n) => {
                        for r in self.replicas.iter_mut().filter(|r| mine(r)) {
                            r.out.extend_from_slice(&chunk[..n]);
                            if write_replica(r, b, &mut self.sender).is_err() {
                                log::notice(&format!("Connection with replica {} lost.", r.name));
                                r.dead = true;
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
    }

    fn io(&mut self) {
        let now = now_ms();
        // First, and even without a backlog: completions left unreaped would keep the
        // ring's fd readable and `sleep` from sleeping.
        self.sender.complete(&mut self.replicas);
        let Some(b) = self.backlog.as_ref() else { return };
        let mut acks = false;
        for r in &mut self.replicas {
            if r.dead {
                continue;
            }
            if let Err(e) = read_replica(r, now, &mut acks) {
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

    fn answer_waits(&mut self) {
        if self.waits.is_empty() {
            return;
        }
        let now = now_ms();
        let online: Vec<u64> = self.replicas.iter().filter(|r| r.state == St::Online).map(|r| r.ack).collect();
        let mut replies: Vec<(ReplyTo, u64)> = Vec::new();
        let mut need_ack = false;
        self.waits.retain(|w| {
            let n = online.iter().filter(|&&a| a >= w.target).count() as u64;
            if n >= w.numreplicas || (w.deadline_ms != 0 && now >= w.deadline_ms) {
                replies.push((w.to, n));
                false
            } else {
                need_ack = true;
                true
            }
        });
        // Not during a FAILOVER's pause (it would move the offset the target must
        // reach): replicas acknowledge every second anyway.
        if need_ack && !self.getack_pending && !self.shared.repl.failover_paused() {
            self.getack_pending = true;
            self.append_own(&[b"REPLCONF", b"GETACK", b"*"]);
        }
        if !need_ack {
            self.getack_pending = false;
        }
        for (to, n) in replies {
            let bytes = format!(":{n}\r\n").into_bytes();
            if self.shared.deliver(to.shard as usize, vec![Msg::Reply { to, bytes }]) {
                self.wake_shard(to.shard as usize);
            }
        }
    }

    fn trim_and_publish(&mut self) {
        let Some(b) = self.backlog.as_mut() else { return };
        let size = {
            let cfg = self.shared.config();
            cfg.compat.get("repl-backlog-size").and_then(|v| crate::config::parse::parse_memory(v)).unwrap_or(1 << 20)
        };
        let needed = self.replicas.iter().filter(|r| r.state != St::WaitCut).map(|r| r.pos).min().unwrap_or(u64::MAX);
        // A cut not yet reached keeps everything from now on for its replicas.
        let needed = if self.replicas.iter().any(|r| r.state == St::WaitCut) { needed.min(b.end()) } else { needed };
        b.trim(size, needed);
        let p = &self.shared.repl.pub_info;
        p.backlog_active.store(true, R);
        p.backlog_first_byte.store(b.start() + 1, R);
        p.backlog_histlen.store(b.histlen(), R);
        let now = now_ms();
        let max_lag = self.cfg_u64("min-replicas-max-lag", 10);
        let rows: Vec<ReplicaRow> = self
            .replicas
            .iter()
            .map(|r| ReplicaRow {
                ip: r.ip.clone(),
                port: r.port,
                state: match r.state {
                    St::WaitCut | St::WaitBgsave => "wait_bgsave",
                    St::SendRdb | St::WaitAck => "send_bulk",
                    St::Online => "online",
                },
                offset: r.ack,
                lag: now.saturating_sub(r.last_ack_ms) / 1000,
            })
            .collect();
        let good = rows.iter().filter(|r| r.state == "online" && r.lag <= max_lag).count() as u64;
        p.good.store(good, R);
        p.zc_sends.store(self.sender.zc_sends, R);
        p.zc_kernel_copied.store(self.sender.ring.as_ref().map(|r| r.kernel_copied).unwrap_or(0), R);
        p.copied_sends.store(self.sender.copied_sends, R);
        p.connected.store(rows.len() as u64, R);
        *p.rows.lock().unwrap_or_else(|e| e.into_inner()) = rows;
    }

    fn sleep(&mut self) {
        if !self.shared.repl.feed.is_empty() {
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
        h.parked.store(true, Ordering::SeqCst);
        if !self.shared.repl.feed.is_empty() || !h.newcomers.lock().map(|g| g.is_empty()).unwrap_or(true) {
            h.parked.store(false, Ordering::SeqCst);
            return;
        }
        let zc = self.replicas.iter().any(|r| r.zc_busy);
        let timeout = if self.jobs.is_empty() && self.waits.is_empty() && !zc { 100 } else { 10 };
        poll::wait(&mut fds, timeout);
        h.parked.store(false, Ordering::SeqCst);
        if fds[0].readable() {
            h.efd.drain();
        }
    }
}
