//! The replica side's shared state (`Shared::replica`): which master we follow, how
//! the link to it is doing, how far its stream has been applied, and the hand-offs
//! from the link thread (`repl::link`) to shard 0 (`server::worker::replica`).
//!
//! ## How a replica works
//!
//! ```text
//!  REPLICAOF / replicaof directive            link thread (one per REPLICAOF)
//!  sets `target`, bumps `epoch`  ------->  connect, PING, AUTH, REPLCONF, PSYNC
//!                                          +FULLRESYNC: receive the RDB (temp file,
//!  shard 0 sees the new epoch,             or from the socket), decode it here; each
//!  spawns the link thread                  shard inserts its own keys into new
//!                                          databases between its other work
//!                                          (`repl::load`)
//!                                                  |
//!                                          Task::Install / Task::Adopt
//!                                                  v
//!  shard 0: a consistent cut (`persist::cut`) swaps every shard's databases at
//!  once (the old ones are dropped on a helper thread), then the master's socket
//!  becomes a connection of shard 0 whose requests go through `cmd::dispatch` like a
//!  client's (SELECT, MULTI/EXEC, cross-shard commands all work), replies discarded.
//! ```
//!
//! While the link thread syncs, shards keep serving the old dataset
//! (`replica-serve-stale-data yes`; with `no`, commands without the STALE flag get
//! `-MASTERDOWN`). Shards never wait on the network or the disk for replication.
//!
//! The master connection is special in three ways (`net::conn` calls `applied` and
//! `forward`): the bytes of each request it ran advance `processed`
//! (slave_repl_offset), and those of each batch it ran are pushed as one
//! `Segment::Verbatim` into `Shared::repl.feed` for our own replicas; `REPLCONF
//! GETACK` is answered with `REPLCONF ACK <offset>` (the offset before the GETACK, as
//! Redis does); and its commands see no expiry (`now_ms` is 0 for them in
//! `cmd::dispatch::call`): a replica never expires keys itself, it waits for the
//! master's DEL, and a command of the master on a key that is logically expired here
//! acts on the key as it did on the master. Active expiry is off on a replica.
//!
//! A client's read of a logically expired key answers "absent" and leaves the key in
//! place (`storage::db::KEEP_EXPIRED`) until the master's DEL, as in Redis.

use crossbeam_queue::SegQueue;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, AtomicU64, Ordering};

/// The link's state, as ROLE and INFO name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Not connected (waiting to retry).
    Connect = 0,
    /// Connecting and handshaking.
    Connecting = 1,
    /// Receiving or loading the master's RDB.
    Sync = 2,
    /// Streaming: the master connection lives on shard 0.
    Connected = 3,
}

impl LinkState {
    fn from_u8(v: u8) -> LinkState {
        match v {
            1 => LinkState::Connecting,
            2 => LinkState::Sync,
            3 => LinkState::Connected,
            _ => LinkState::Connect,
        }
    }

    /// ROLE's name for it.
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// The master's socket on its way to shard 0, with the bytes the link thread read
/// past the RDB (the start of the stream).
pub struct Handoff {
    pub fd: i32,
    pub leftover: Vec<u8>,
    /// The `epoch` this link belongs to: a stale hand-off is closed, not adopted.
    pub epoch: u64,
    /// "host:port", for the connection's address.
    pub addr: String,
    /// Full sync (log "Finished with success") or partial ("Successful partial...").
    pub full: bool,
}

/// Work for shard 0, from the link thread.
pub enum Task {
    /// A full sync is loaded: switch every shard to these databases at a cut, then
    /// adopt the connection. `replid`/`offset` start the new history, whose stream
    /// goes on in `stream_db` (the RDB's `repl-stream-db`). `swapdb`: loaded under
    /// `repl-diskless-load swapdb` (logged as Redis logs its swap).
    Install {
        dbs: Vec<crate::persist::dbview::Loaded>,
        handoff: Handoff,
        replid: String,
        offset: u64,
        stream_db: u16,
        swapdb: bool,
    },
    /// A partial resync: adopt the connection, keep the data.
    Adopt(Handoff),
}

pub struct ReplicaShared {
    /// Bumped by every REPLICAOF (and the directive at start-up): a link thread exits
    /// when the epoch it was started for is gone; shard 0 starts the next one.
    pub epoch: AtomicU64,
    /// Mirror of `Shared::repl.role` for per-command checks (no mutex on that path).
    pub is_replica: AtomicBool,
    /// Mirrors of `replica-read-only` and `replica-serve-stale-data`, refreshed by
    /// shard 0 when the config changes.
    pub read_only: AtomicBool,
    pub serve_stale: AtomicBool,
    state: AtomicU8,
    /// The master connection's client id (0 when there is none).
    pub master_client_id: AtomicU64,
    /// slave_repl_offset: the master's stream applied up to here.
    pub processed: AtomicU64,
    /// The database the master's stream last selected: a partial resync continues
    /// in it (the master does not send SELECT again).
    pub master_db: AtomicU16,
    /// Full sync progress, for INFO (`master_sync_*`).
    pub sync_total: AtomicU64,
    pub sync_read: AtomicU64,
    /// Unix ms of the last byte from the master (or of the sync's start).
    pub last_io_ms: AtomicU64,
    /// Unix ms when the link went down (0 = never up since REPLICAOF).
    pub down_since_ms: AtomicU64,
    /// Set by shard 0 when the master connection closed: the link thread retries.
    pub link_lost: AtomicBool,
    /// The master's replid as its last +FULLRESYNC / +CONTINUE named it, for PSYNC.
    pub master_replid: Mutex<String>,
    /// Has the cached master (`master_replid`, `processed`) a usable history?
    pub has_history: AtomicBool,
    pub tasks: SegQueue<Task>,
}

impl Default for ReplicaShared {
    fn default() -> Self {
        ReplicaShared {
            epoch: AtomicU64::new(0),
            is_replica: AtomicBool::new(false),
            read_only: AtomicBool::new(true),
            serve_stale: AtomicBool::new(true),
            state: AtomicU8::new(0),
            master_client_id: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            master_db: AtomicU16::new(0),
            sync_total: AtomicU64::new(0),
            sync_read: AtomicU64::new(0),
            last_io_ms: AtomicU64::new(0),
            down_since_ms: AtomicU64::new(0),
            link_lost: AtomicBool::new(false),
            master_replid: Mutex::new(String::new()),
            has_history: AtomicBool::new(false),
            tasks: SegQueue::new(),
        }
    }
}

impl ReplicaShared {
    pub fn state(&self) -> LinkState {
        LinkState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn set_state(&self, s: LinkState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// Is `client_id` the master's connection? Its writes pass READONLY, and its
    /// commands see no expiry.
    #[inline]
    pub fn is_master_client(&self, client_id: u64) -> bool {
        client_id != 0 && self.master_client_id.load(Ordering::Relaxed) == client_id
    }

    pub fn master_replid(&self) -> String {
        self.master_replid.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_master_replid(&self, id: &str) {
        *self.master_replid.lock().unwrap_or_else(|e| e.into_inner()) = id.to_string();
    }
}

/// Why a command from a normal client is refused on a replica, if it is: READONLY
/// for writes under `replica-read-only yes`, MASTERDOWN for commands without the
/// STALE flag while the link is down under `replica-serve-stale-data no`.
#[cold]
pub fn refusal(r: &ReplicaShared, is_write: bool, stale_ok: bool) -> Option<&'static str> {
    if !stale_ok && !r.serve_stale.load(Ordering::Relaxed) && r.state() != LinkState::Connected {
        return Some("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
    }
    if is_write && r.read_only.load(Ordering::Relaxed) {
        return Some("READONLY You can't write against a read only replica.");
    }
    None
}

/// Is a request with these first two arguments `REPLCONF GETACK ...`?
pub fn is_getack(arg0: &[u8], arg1: &[u8]) -> bool {
    arg0.eq_ignore_ascii_case(b"replconf") && arg1.eq_ignore_ascii_case(b"getack")
}

/// `REPLCONF ACK <offset>` as a request.
pub fn ack_request(offset: u64) -> Vec<u8> {
    let off = offset.to_string();
    format!("*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n${}\r\n{off}\r\n", off.len()).into_bytes()
}

/// The master connection ran (or skipped) `len` bytes of requests: advance the offset.
pub fn applied(shared: &crate::shard::Shared, len: usize) {
    shared.replica.processed.fetch_add(len as u64, Ordering::AcqRel);
}

/// Forwards what the master connection applied in one `process_input` (one piece per
/// batch rather than per command: one queue push, one allocation and one clock
/// reading for up to a turn's worth of commands) to our own replicas, verbatim.
/// Wakes the replication thread as a master's shards do (`repl::feed`): else a parked
/// one sent it to our replicas only at its next timeout, up to 100 ms later.
pub fn forward(shared: &crate::shard::Shared, bytes: Vec<u8>) {
    shared.replica.last_io_ms.store(crate::shard::Shared::now_unix_ms(), Ordering::Relaxed);
    let len = bytes.len() as u64;
    shared.repl.feed.push(crate::repl::state::Segment::Verbatim(bytes));
    shared.repl.wake_lazy(len);
}

/// INFO `# Replication`'s replica fields, from `role:slave` to `replica_announced`
/// (the ids and backlog fields follow, rendered by the master side).
pub fn render_info(shared: &crate::shard::Shared, cfg: &crate::config::Config, s: &mut String) {
    use std::fmt::Write;
    let r = &shared.replica;
    let crate::repl::Role::Replica { host, port } = shared.repl.role() else { return };
    let now = crate::shard::Shared::now_unix_ms();
    let state = r.state();
    let up = state == LinkState::Connected;
    let sync = state == LinkState::Sync;
    let _ = write!(s, "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\n");
    let _ = write!(s, "master_link_status:{}\r\n", if up { "up" } else { "down" });
    let last_io = r.last_io_ms.load(Ordering::Relaxed);
    let io_ago = if last_io == 0 { -1 } else { (now.saturating_sub(last_io) / 1000) as i64 };
    let _ = write!(s, "master_last_io_seconds_ago:{io_ago}\r\n");
    let _ = write!(s, "master_sync_in_progress:{}\r\n", sync as u8);
    let processed = r.processed.load(Ordering::Acquire);
    let _ = write!(s, "slave_read_repl_offset:{processed}\r\nslave_repl_offset:{processed}\r\n");
    if sync {
        let total = r.sync_total.load(Ordering::Relaxed) as i64;
        let read = r.sync_read.load(Ordering::Relaxed) as i64;
        let left = if total > 0 { total - read } else { -1 };
        let _ = write!(
            s,
            "master_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{read}\r\nmaster_sync_left_bytes:{left}\r\n",
            if total > 0 { total } else { -1 }
        );
        let _ =
            write!(s, "master_sync_perc:{:.2}\r\n", if total > 0 { read as f64 * 100.0 / total as f64 } else { 0.0 });
        let _ = write!(s, "master_sync_last_io_seconds_ago:{io_ago}\r\n");
    }
    if !up {
        let since = r.down_since_ms.load(Ordering::Relaxed);
        let secs = if since == 0 { -1 } else { (now.saturating_sub(since) / 1000) as i64 };
        let _ = write!(s, "master_link_down_since_seconds:{secs}\r\n");
    }
    let compat = |n: &str, d: &'static str| cfg.compat_value(n).map(str::to_string).unwrap_or(d.to_string());
    let _ = write!(s, "slave_priority:{}\r\n", compat("replica-priority", "100"));
    let _ = write!(s, "slave_read_only:{}\r\n", r.read_only.load(Ordering::Relaxed) as u8);
    let _ = write!(s, "replica_announced:{}\r\n", (compat("replica-announced", "yes") == "yes") as u8);
}

/// The configured booleans, mirrored for the per-command checks.
pub fn refresh_mirrors(r: &ReplicaShared, cfg: &crate::config::Config) {
    r.read_only.store(cfg.compat_value("replica-read-only") != Some("no"), Ordering::Relaxed);
    r.serve_stale.store(cfg.compat_value("replica-serve-stale-data") != Some("no"), Ordering::Relaxed);
}

/// REPLICAOF host port (and the `replicaof` directive): follow a new master. The
/// link thread for it is started by shard 0 when it sees the new epoch. A master
/// becoming a replica offers its own history for a partial resync (Redis's
/// `replicationCacheMasterUsingMyself`); a replica changing masters keeps its cached
/// one. At start-up (`at_boot`, the directive) there is no own history to offer: only
/// what the RDB file restored (`persist::startload` caches it), else PSYNC asks `? -1`, so the
/// master does not count a failed partial resync (as a Redis replica started with
/// `replicaof` in its config).
pub fn follow(shared: &crate::shard::Shared, host: &str, port: u16, at_boot: bool) {
    let r = &shared.replica;
    if !at_boot && !shared.repl.is_replica() {
        r.set_master_replid(&shared.repl.ids().replid);
        r.processed.store(shared.repl.offset.load(Ordering::Acquire), Ordering::Release);
        r.has_history.store(true, Ordering::Release);
    }
    shared.repl.set_role(crate::repl::Role::Replica { host: host.to_string(), port });
    crate::util::log::set_role_replica(true);
    r.set_state(LinkState::Connect);
    r.down_since_ms.store(crate::shard::Shared::now_unix_ms(), Ordering::Relaxed);
    r.last_io_ms.store(0, Ordering::Relaxed);
    refresh_mirrors(r, &shared.config());
    r.is_replica.store(true, Ordering::Release);
    crate::storage::db::KEEP_EXPIRED.store(true, Ordering::Relaxed);
    set_directive(shared, &format!("{host} {port}"));
    r.epoch.fetch_add(1, Ordering::AcqRel);
    // The old master's link applies nothing more (`net::conn` checks this per
    // request); shard 0 closes it at its next turn.
    r.master_client_id.store(0, Ordering::Release);
}

/// REPLICAOF NO ONE: keep the dataset, start a new history remembering the old one
/// (`replid2`) so our own replicas can continue partially.
pub fn promote(shared: &crate::shard::Shared) {
    let r = &shared.replica;
    r.epoch.fetch_add(1, Ordering::AcqRel);
    r.master_client_id.store(0, Ordering::Release);
    r.is_replica.store(false, Ordering::Release);
    crate::storage::db::KEEP_EXPIRED.store(false, Ordering::Relaxed);
    shared.repl.set_role(crate::repl::Role::Master);
    crate::util::log::set_role_replica(false);
    // The old history is valid up to what we applied of it, even where the
    // replication thread has not appended it to our backlog yet (it will).
    let mut upto = shared.repl.offset.load(Ordering::Acquire);
    if r.has_history.load(Ordering::Acquire) {
        upto = upto.max(r.processed.load(Ordering::Acquire));
    }
    shared.repl.shift_ids_at(crate::repl::state::random_replid(), upto);
    r.set_state(LinkState::Connect);
    set_directive(shared, "");
    // Our replicas must learn the new replid: they reconnect and continue partially
    // (Redis's replicationUnsetMaster disconnects them too).
    crate::repl::master::kill_replicas(shared);
}

/// Keeps the `replicaof` parameter in step, so CONFIG REWRITE writes the line.
fn set_directive(shared: &crate::shard::Shared, value: &str) {
    let mut cfg = (*shared.config()).clone();
    if let Some((_, p)) = crate::config::params::find("replicaof") {
        cfg.compat.insert(p.name.to_string(), value.to_string());
        shared.set_config(cfg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_is_a_resp_request() {
        assert_eq!(ack_request(1234), b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$4\r\n1234\r\n".to_vec());
    }

    #[test]
    fn refusals_follow_the_settings() {
        let r = ReplicaShared::default();
        assert_eq!(refusal(&r, true, false).map(|e| &e[..8]), Some("READONLY"));
        assert_eq!(refusal(&r, false, false), None);
        r.serve_stale.store(false, Ordering::Relaxed);
        assert_eq!(refusal(&r, false, false).map(|e| &e[..10]), Some("MASTERDOWN"));
        assert_eq!(refusal(&r, false, true), None);
        r.set_state(LinkState::Connected);
        assert_eq!(refusal(&r, false, false), None);
        r.read_only.store(false, Ordering::Relaxed);
        assert_eq!(refusal(&r, true, false), None);
    }
}
