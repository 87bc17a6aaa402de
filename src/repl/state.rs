//! Process-wide replication state (`Shared::repl`): the role, the replication ids, the
//! offset of the replication stream, and the queue through which segments reach the
//! stream's single assembler.
//!
//! Writers of each field:
//! - `role`: REPLICAOF / SLAVEOF, the `replicaof` directive, promotion.
//! - `ids`: start-up (fresh or from the RDB aux fields), a replica's full sync
//!   (`reset_ids`), promotion (`shift_ids`).
//! - `offset`: only the stream's assembler, as it appends bytes to the backlog.
//!
//! Everything here is read from several threads, so it is atomics and a mutex that no
//! per-command path takes.

use crossbeam_queue::SegQueue;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What this server is.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    Master,
    /// Following `host:port` (connected or not).
    Replica { host: String, port: u16 },
}

/// The replication ids (Redis's `replid`, `replid2`, `second_replid_offset`).
#[derive(Clone, Debug)]
pub struct Ids {
    /// The history this server's stream belongs to (40 hex chars).
    pub replid: String,
    /// The previous history, still accepted for a partial resync up to `second_offset`.
    pub replid2: String,
    /// Offset up to which `replid2` is valid; -1 when there is none.
    pub second_offset: i64,
}

/// A segment on its way into the replication stream.
pub enum Segment {
    /// A shard's plain commands: starts in `db` (no SELECT for it), ends in `end_db`.
    Stream { db: u16, end_db: u16, bytes: Vec<u8> },
    /// One shard's part of cross-shard transaction `tx` (of `parts` parts): `cmds`
    /// commands, untagged, starting in `db`; `pieces` places each command in `bytes`
    /// and in the transaction's order (`repl::feed::Piece`).
    TxPart {
        tx: u64,
        parts: u32,
        db: u16,
        end_db: u16,
        cmds: u32,
        bytes: Vec<u8>,
        pieces: Vec<crate::repl::feed::Piece>,
    },
    /// A cut's position in the stream, pushed by the cut's leader once every shard has
    /// pushed what it fed before the cut: the snapshot's offset is the stream's offset
    /// when the assembler reaches it.
    Mark(std::sync::Arc<crate::repl::master::CutMark>),
    /// WAIT: queued behind every write its client saw acknowledged.
    Wait(Box<crate::repl::master::WaitReq>),
    /// On a replica: bytes of the master's stream, already applied here, forwarded
    /// verbatim (chained replicas see the top master's stream, ids and offsets).
    Verbatim(Vec<u8>),
    /// On a replica after a full sync: the stream restarts at `offset` of `replid`
    /// (backlog emptied; sub-replicas must resync).
    Reset { replid: String, offset: u64 },
}

impl Segment {
    /// Stream bytes it carries (0 for the markers).
    pub fn stream_bytes(&self) -> usize {
        match self {
            Segment::Stream { bytes, .. } | Segment::TxPart { bytes, .. } | Segment::Verbatim(bytes) => bytes.len(),
            Segment::Mark(_) | Segment::Wait(_) | Segment::Reset { .. } => 0,
        }
    }
}

pub struct ReplState {
    role: Mutex<Role>,
    ids: Mutex<Ids>,
    /// master_repl_offset: bytes of the stream so far (the backlog's end).
    pub offset: AtomicU64,
    /// Segments waiting for the stream's assembler.
    pub feed: SegQueue<Segment>,
    /// Mirror of "role is Replica" for the shards' per-turn check.
    replica_flag: std::sync::atomic::AtomicBool,
    /// A backlog exists (a replica attached once): shards feed the stream.
    pub streaming: std::sync::atomic::AtomicBool,
    /// The replication thread, once started (`repl::master`).
    pub master: std::sync::OnceLock<crate::repl::master::Handle>,
    /// Published by the replication thread for INFO and the write path.
    pub pub_info: crate::repl::master::Published,
    /// FAILOVER's state (`repl::failover`).
    pub failover: Mutex<crate::repl::failover::Failover>,
    /// FAILOVER holds client writes (and active expiry) while set.
    pub failover_paused: std::sync::atomic::AtomicBool,
    /// SHUTDOWN's wait for lagging replicas (`repl::shutdown`).
    pub shutdown: Mutex<crate::repl::shutdown::Wait>,
    /// That wait holds client writes (and active expiry) while set.
    pub shutdown_paused: std::sync::atomic::AtomicBool,
}

impl ReplState {
    pub fn new(replid: String) -> ReplState {
        ReplState {
            role: Mutex::new(Role::Master),
            ids: Mutex::new(Ids { replid, replid2: "0".repeat(40), second_offset: -1 }),
            offset: AtomicU64::new(0),
            feed: SegQueue::new(),
            streaming: Default::default(),
            replica_flag: Default::default(),
            master: Default::default(),
            pub_info: Default::default(),
            failover: Default::default(),
            failover_paused: Default::default(),
            shutdown: Default::default(),
            shutdown_paused: Default::default(),
        }
    }

    /// Wakes the replication thread after pushing to `feed` (if it runs).
    pub fn wake(&self) {
        if let Some(m) = self.master.get() {
            m.wake();
        }
    }

    /// After pushing `bytes` of ordinary stream: wakes the replication thread unless
    /// it is dozing and not much gathered yet (`master::Handle::wake_lazy`).
    pub fn wake_lazy(&self, bytes: u64) {
        if let Some(m) = self.master.get() {
            m.wake_lazy(bytes);
        }
    }

    /// Pushes a segment and wakes the replication thread.
    pub fn push(&self, seg: Segment) {
        self.feed.push(seg);
        self.wake();
    }

    /// Does a FAILOVER hold writes now? (One relaxed load: shards ask every turn.)
    #[inline]
    pub fn failover_paused(&self) -> bool {
        self.failover_paused.load(Ordering::Relaxed)
    }

    /// Does a FAILOVER or a SHUTDOWN waiting for replicas hold client writes now?
    /// (Two relaxed loads: shards ask every turn.)
    #[inline]
    pub fn writes_held(&self) -> bool {
        self.failover_paused() || self.shutdown_paused.load(Ordering::Relaxed)
    }

    pub fn role(&self) -> Role {
        self.role.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_role(&self, role: Role) {
        let mut g = self.role.lock().unwrap_or_else(|e| e.into_inner());
        self.replica_flag.store(matches!(role, Role::Replica { .. }), Ordering::Release);
        *g = role;
    }

    pub fn is_replica(&self) -> bool {
        matches!(*self.role.lock().unwrap_or_else(|e| e.into_inner()), Role::Replica { .. })
    }

    /// `is_replica` without the lock (hot paths).
    #[inline]
    pub fn is_replica_fast(&self) -> bool {
        self.replica_flag.load(Ordering::Relaxed)
    }

    /// Do shards' own writes enter the stream now? While a backlog exists, and never on
    /// a replica (its stream is the master's, forwarded verbatim). One relaxed read
    /// each, once per shard turn.
    #[inline]
    pub fn feeds_stream(&self) -> bool {
        self.streaming.load(Ordering::Relaxed) && !self.replica_flag.load(Ordering::Relaxed)
    }

    pub fn ids(&self) -> Ids {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the ids wholesale (start-up from an RDB's aux fields, a replica's full sync).
    pub fn reset_ids(&self, replid: String, replid2: String, second_offset: i64) {
        *self.ids.lock().unwrap_or_else(|e| e.into_inner()) = Ids { replid, replid2, second_offset };
    }

    /// Promotion (REPLICAOF NO ONE) or a new history: the current id becomes `replid2`,
    /// valid up to the current offset, and `new_replid` starts. Replicas of the old
    /// history can still continue partially (Redis's `shiftReplicationId`).
    pub fn shift_ids(&self, new_replid: String) {
        self.shift_ids_at(new_replid, self.offset.load(Ordering::Acquire));
    }

    /// `shift_ids` with the old history valid up to `off` (a promoted replica: the
    /// master's stream it applied, which the replication thread may not have
    /// appended to its backlog yet).
    pub fn shift_ids_at(&self, new_replid: String, off: u64) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.replid2 = std::mem::replace(&mut ids.replid, new_replid);
        // Redis stores offset+1: the first byte the new history does not share.
        ids.second_offset = off as i64 + 1;
    }
}

/// A master restarting from an RDB that holds `repl-id` / `repl-offset` (Redis 7's
/// master restart): its stream continues at that offset under a new id, and the saved
/// id stays valid up to there, so replicas of the old run resync partially.
pub fn restore_from_rdb(st: &ReplState, replid: String, offset: u64) {
    st.offset.store(offset, Ordering::Release);
    st.reset_ids(random_replid(), replid, offset as i64 + 1);
    // As Redis creates the backlog at such a start: writes from now on are kept for
    // the replicas coming back (the caller starts the replication thread).
    st.streaming.store(true, Ordering::SeqCst);
}

/// A fresh 40-hex-character replication id from the kernel's randomness.
pub fn random_replid() -> String {
    let mut bytes = [0u8; 20];
    let mut got = 0;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        got = f.read(&mut bytes).unwrap_or(0);
    }
    if got < bytes.len() {
        // No /dev/urandom: mix the clock and pid, still unique enough per process.
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ ((std::process::id() as u64) << 32);
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replid_is_40_hex() {
        let id = random_replid();
        assert_eq!(id.len(), 40);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(id, random_replid());
    }

    #[test]
    fn shift_keeps_old_history_up_to_offset_plus_one() {
        let st = ReplState::new("a".repeat(40));
        st.offset.store(100, Ordering::Release);
        st.shift_ids("b".repeat(40));
        let ids = st.ids();
        assert_eq!(ids.replid, "b".repeat(40));
        assert_eq!(ids.replid2, "a".repeat(40));
        assert_eq!(ids.second_offset, 101);
    }
}
