//! One shard's append-only log: the buffer the write choke point appends to, the
//! in-flight io_uring write, and the offsets that decide when a reply may leave.
//!
//! Offsets count bytes of this shard's log stream since start-up (`appended` >=
//! `pushed` >= `written` >= `synced`). They are stream offsets, not file offsets, so a
//! replication backlog can be cut from the same stream later; the file position is
//! `file_len`.
//!
//! A reply produced while `appended > cleared()` waits until `cleared()` catches up:
//! under `always` that is the fdatasync completion, otherwise the write's completion
//! (the bytes are in the kernel, as with Redis's write(2) before it replies: a process
//! crash loses no acknowledged write).
//!
//! A failed fdatasync ends the process (`fsync_failed`): Linux may already have marked
//! the pages that failed to reach the disk clean (or dropped them), so a later
//! successful fsync would prove nothing about them. A failed *write* is retried: our
//! buffer still holds the bytes (the page cache was never trusted with them), their
//! replies stay held, and new writes get MISCONF until a retry succeeds. That includes
//! an O_DIRECT RWF_DSYNC write: it is re-sent from our buffer, so its success is a real
//! proof.

use super::files::LogFile;
use super::resp::encode;
use crate::config::Fsync;
use crate::io::direct::{self, DirectFile};
use crate::io::file::PinnedBuf;
use std::collections::HashMap;
use std::os::fd::RawFd;

/// A transaction's part staged on this shard until its coordinator commits it.
#[derive(Default)]
struct Staged {
    buf: Vec<u8>,
    db: Option<u16>,
}

pub struct ShardLog {
    pub on: bool,
    pub policy: Fsync,
    /// The open incremental file, or -1.
    pub fd: RawFd,
    /// Bytes of the incremental file on disk (completed writes).
    pub file_len: u64,
    /// When written with O_DIRECT: the O_DIRECT write state of `fd` (the bytes in
    /// flight are then its aligned copy of `inflight`, and `inflight` is never busy).
    pub direct: Option<DirectFile>,
    /// The write in flight is a direct one with RWF_DSYNC: its completion is a sync too.
    pub write_linked: bool,
    /// The filesystem refused O_DIRECT for this file: don't ask again until the next.
    direct_refused: bool,
    /// Rewrite cuts moved the log to new incremental files: (the file, the stream
    /// offset where it starts, seq), oldest first. Bytes before the first offset still go to
    /// the current file; once they are written it is synced, closed and replaced
    /// (`rotate_now`). Usually one entry, gone within a turn; a second cut while the
    /// first switch still waits (a stalled disk) queues behind it.
    pub rotate: std::collections::VecDeque<(LogFile, u64, u64)>,
    /// (seq, bytes) of earlier incremental files, until a rewrite that drops them is
    /// installed (INFO aof_current_size, auto rewrite).
    pub older: Vec<(u64, u64)>,
    /// The seq of the rewrite whose incremental file this is (0: from start-up).
    pub seq: u64,
    /// `appendonly no` at runtime: nothing more is fed; once drained the file closes.
    pub stopping: bool,
    /// Appended and not yet handed to the ring.
    pub buf: Vec<u8>,
    /// The bytes of the write in flight (or to retry); frozen while the kernel reads
    /// them. `inflight_done` of them are on disk already (short writes).
    pub inflight: PinnedBuf,
    pub inflight_done: usize,
    /// Target offset of the fdatasync in flight.
    pub sync_inflight: Option<u64>,
    pub sync_started_ms: u64,
    /// When the write in flight was handed to the ring (LATENCY `aof-write`).
    pub write_started_ms: u64,
    pub last_sync_ms: u64,
    pub appended: u64,
    pub pushed: u64,
    pub written: u64,
    pub synced: u64,
    /// The db the main stream last SELECTed (None: the next command re-selects).
    cur_db: Option<u16>,
    /// Transaction parts being staged: while `stage` is set, propagation goes there.
    pub stage: Option<u64>,
    staged: HashMap<u64, Staged>,
    /// Above 0 while a handler runs on gathered copies (a coordinator's scratch
    /// keyspace): nothing it does belongs to this shard's log.
    pub suppress: u32,
    /// Set while a transaction's coordinator runs a queued command on gathered copies
    /// with a replica attached (`cmd::multi_exec`): what the command propagates (as on
    /// one keyspace, rewrites included) is kept here, by db, for the replication stream,
    /// instead of going to this shard's log (the owners log the keys' final states).
    pub capture: Option<Vec<(u16, Vec<u8>)>>,
    /// Set by a failed write or fsync, cleared by the next success. Writes are refused
    /// (MISCONF) while it is set.
    pub error: Option<String>,
    pub retry_at_ms: u64,
    /// Times a write had to wait for a slow everysec fsync (INFO aof_delayed_fsync).
    pub delayed_fsync: u64,
    delaying: bool,
    /// The replication stream's side of this shard's propagation (`repl::feed`).
    pub repl: crate::repl::feed::ShardFeed,
    /// Set around what must reach only one of the two streams (a fan-out's flush or
    /// swap part: per-key commands for the AOF, the command itself for the stream).
    pub skip_aof: bool,
    pub skip_repl: bool,
    /// Set while a whole-keyspace fan-out's part runs outside EXEC (`coord::atomic_part`).
    pub whole_part: bool,
}

impl Default for ShardLog {
    fn default() -> Self {
        ShardLog {
            on: false,
            policy: Fsync::Everysec,
            fd: -1,
            file_len: 0,
            direct: None,
            write_linked: false,
            direct_refused: false,
            rotate: Default::default(),
            older: Vec::new(),
            seq: 0,
            stopping: false,
            buf: Vec::new(),
            inflight: PinnedBuf::default(),
            inflight_done: 0,
            sync_inflight: None,
            sync_started_ms: 0,
            write_started_ms: 0,
            last_sync_ms: 0,
            appended: 0,
            pushed: 0,
            written: 0,
            synced: 0,
            cur_db: None,
            stage: None,
            staged: HashMap::new(),
            suppress: 0,
            capture: None,
            error: None,
            retry_at_ms: 0,
            delayed_fsync: 0,
            delaying: false,
            repl: Default::default(),
            skip_aof: false,
            skip_repl: false,
            whole_part: false,
        }
    }
}

impl ShardLog {
    /// Is propagation wanted right now (into the AOF, the replication stream or both)?
    #[inline]
    pub fn active(&self) -> bool {
        self.suppress == 0 && ((self.on && !self.stopping) || self.repl.on || self.capture.is_some())
    }

    #[inline]
    fn aof_active(&self) -> bool {
        self.on && self.suppress == 0 && !self.stopping && !self.skip_aof
    }

    /// Does a command now go to the replication stream (a replica attached, not a
    /// suppressed or skipped run)?
    #[inline]
    pub fn repl_active(&self) -> bool {
        self.repl.on && self.suppress == 0 && !self.skip_repl
    }

    /// Do cross-shard writes need commit hops (tagged parts) here? With the AOF on, or
    /// while a replication backlog exists.
    #[inline]
    pub fn wants_parts(&self) -> bool {
        self.on || self.repl.on
    }

    /// Appends one command executed against `db`.
    pub fn feed<A: AsRef<[u8]>>(&mut self, db: u16, args: &[A]) {
        if !self.active() {
            return;
        }
        self.with_stream(db, |buf| encode(buf, args));
    }

    /// Appends one command to the replication stream only, never the AOF (PUBLISH, as
    /// Redis's `PROPAGATE_REPL`): replicas deliver it to their subscribers, while a
    /// restart has no one to deliver it to.
    pub fn feed_stream_only<A: AsRef<[u8]>>(&mut self, db: u16, args: &[A]) {
        if self.suppress == 0
            && let Some(c) = self.capture.as_mut()
        {
            let mut b = Vec::new();
            encode(&mut b, args);
            c.push((db, b));
        } else if self.repl_active() {
            encode(self.repl.target(db, self.stage), args);
        }
    }

    /// Runs `f` on the buffer commands for `db` go to (after a SELECT if needed), and
    /// copies what it appended into the replication stream when that is on.
    pub fn with_stream(&mut self, db: u16, f: impl FnOnce(&mut Vec<u8>)) {
        if self.suppress == 0
            && let Some(c) = self.capture.as_mut()
        {
            let mut b = Vec::new();
            f(&mut b);
            c.push((db, b));
            return;
        }
        let (aof, repl) = (self.aof_active(), self.repl_active());
        if !aof {
            if repl {
                f(self.repl.target(db, self.stage));
            }
            return;
        }
        let (buf, cur) = match self.stage {
            Some(tx) => {
                let s = self.staged.entry(tx).or_default();
                (&mut s.buf, &mut s.db)
            }
            None => (&mut self.buf, &mut self.cur_db),
        };
        let before = buf.len();
        if *cur != Some(db) {
            encode(buf, &[&b"SELECT"[..], db.to_string().as_bytes()]);
            *cur = Some(db);
        }
        let cmd_at = buf.len();
        f(buf);
        if repl {
            self.repl.append(db, self.stage, &buf[cmd_at..]);
        }
        if self.stage.is_none() {
            self.appended += (self.buf.len() - before) as u64;
        }
    }

    /// Drops transaction `tx`'s staged part unlogged: it wrote nothing on this shard
    /// (a split DEL's part that found no key, `cmd::coord_split`).
    pub fn discard(&mut self, tx: u64) {
        self.staged.remove(&tx);
        self.repl.discard(tx);
    }

    /// Emits transaction `tx`'s staged part (plus whatever `more` appends, in the
    /// part's own SELECT context) as one MULTI/EXEC block tagged with its marker, and
    /// hands the stream's copy of the part to the replication feed (untagged; the
    /// assembler joins the parts, see `repl::feed`).
    pub fn commit(&mut self, tx: u64, marker: &[u8], more: impl FnOnce(&mut ShardLog)) {
        if !self.active() {
            self.staged.remove(&tx);
            self.repl.discard(tx);
            return;
        }
        self.stage = Some(tx);
        more(self);
        self.stage = None;
        if self.repl_active() {
            let parts = marker.rsplit(|&b| b == b':').next().and_then(crate::util::num::parse_u64).unwrap_or(1);
            self.repl.commit(tx, parts as u32);
        } else {
            self.repl.discard(tx);
        }
        let part = self.staged.remove(&tx).unwrap_or_default();
        if !self.aof_active() {
            return;
        }
        let before = self.buf.len();
        encode(&mut self.buf, &[&b"MULTI"[..]]);
        encode(&mut self.buf, &[&b"ECHO"[..], marker]);
        self.buf.extend_from_slice(&part.buf);
        encode(&mut self.buf, &[&b"EXEC"[..]]);
        if part.db.is_some() {
            self.cur_db = part.db;
        }
        self.appended += (self.buf.len() - before) as u64;
    }

    /// Drops a staged part (the transaction wrote nothing here after all).
    pub fn has_staged(&self, tx: u64) -> bool {
        self.staged.get(&tx).is_some_and(|s| !s.buf.is_empty())
    }

    /// Has transaction `tx` staged anything here, for the AOF or the replication
    /// stream? A command without the write flag may propagate too: a script's writes,
    /// PUBLISH (stream only), a read's lazy-expiry DEL.
    pub fn staged_anything(&self, tx: u64) -> bool {
        self.has_staged(tx) || self.repl.has_staged(tx)
    }

    /// The offset up to which replies may leave: synced under `always`, written (in
    /// the kernel) otherwise.
    #[inline]
    pub fn cleared(&self) -> u64 {
        match self.policy {
            Fsync::Always => self.synced,
            _ => self.written,
        }
    }

    /// Must output produced now wait for the log? Not while the log is failing: the
    /// writes whose bytes are stuck keep their replies held (and so does everything
    /// behind them on their connections), but new writes are refused with MISCONF and
    /// other clients' reads go on being served, as in Redis.
    #[inline]
    pub fn must_hold(&self) -> bool {
        self.on && self.error.is_none() && self.appended > self.cleared()
    }

    /// Starts a new incremental file (rewrite, start-up): the next command re-selects.
    pub fn switch_file(&mut self, f: LogFile) {
        self.fd = f.fd;
        self.file_len = f.len;
        self.direct = f.direct;
        self.direct_refused = false;
        self.cur_db = None;
    }

    /// Switches the open file between O_DIRECT and buffered I/O (`appendonly-direct`
    /// or, under `auto`, `appendfsync` changed at runtime). Only while nothing of the
    /// log is in flight; until then the file keeps its mode.
    pub fn set_direct(&mut self, on: bool) {
        if self.direct.is_some() == on || self.fd < 0 || !self.idle() || !self.rotate.is_empty() {
            return;
        }
        if !on {
            self.finish_file();
            direct::set_o_direct(self.fd, false);
            self.direct = None;
            return;
        }
        if self.direct_refused {
            return;
        }
        // A RWF_DSYNC write syncs its own range only: bytes still dirty in the page
        // cache from before the switch must be on disk before any sync is trusted.
        if self.written > self.synced {
            self.sync_blocking();
        }
        let opened =
            direct::set_o_direct(self.fd, true).then(|| DirectFile::open(self.fd, self.file_len, super::resp::PADDING));
        match opened {
            Some(Ok(d)) => self.direct = Some(d),
            _ => {
                direct::set_o_direct(self.fd, false);
                self.direct_refused = true;
                crate::util::log::warning("The AOF file refuses O_DIRECT: it stays on buffered I/O");
            }
        }
    }

    /// From the current stream offset on, bytes go to `fd` (a rewrite's cut). A log
    /// that was off starts here.
    pub fn rotate_to(&mut self, f: LogFile, seq: u64) {
        if !self.on || self.fd < 0 {
            self.on = true;
            self.stopping = false;
            self.older.clear();
            self.seq = seq;
            self.switch_file(f);
            return;
        }
        self.stopping = false;
        self.rotate.push_back((f, self.appended, seq));
        // The first command after the cut starts the new file: it must re-select.
        self.cur_db = None;
        self.rotate_now();
    }

    /// Switches files if every byte meant for the old one is written: the old file is
    /// synced (blocking, once per rewrite) so the files never have a gap, then closed.
    fn rotate_now(&mut self) {
        while let Some(&(_, at, _)) = self.rotate.front() {
            if self.written < at || !self.idle() {
                return;
            }
            self.finish_file();
            if self.written > self.synced {
                self.sync_blocking();
            }
            crate::io::file::close(self.fd);
            self.older.push((self.seq, self.file_len));
            let Some((f, _, seq)) = self.rotate.pop_front() else { return };
            self.seq = seq;
            // Not `switch_file`: the stream re-selected at the cut already.
            (self.fd, self.file_len, self.direct) = (f.fd, f.len, f.direct);
        }
    }

    /// The log is done with its file: an O_DIRECT file loses its padding and
    /// preallocated blocks, so it holds exactly its commands.
    pub fn finish_file(&mut self) {
        if self.direct.is_some() && self.fd >= 0 {
            direct::truncate(self.fd, self.file_len);
        }
    }

    /// Is a write of ours in flight (the kernel reading its buffer)?
    fn writing(&self) -> bool {
        self.inflight.is_busy() || self.direct.as_ref().is_some_and(|d| d.writing())
    }

    /// Is there work for the ring: bytes to write, or a sync the policy wants?
    pub fn next_op(&mut self, now_ms: u64) -> Option<Op> {
        if !self.on || self.fd < 0 || self.writing() {
            return None;
        }
        self.rotate_now();
        if self.error.is_some() && now_ms < self.retry_at_ms {
            return None;
        }
        let pending_sync = self.sync_inflight.is_some();
        let unsynced = self.written > self.synced;
        match self.policy {
            Fsync::Everysec if !pending_sync && unsynced && now_ms >= self.last_sync_ms + 1000 => {
                self.sync_inflight = Some(self.written);
                self.sync_started_ms = now_ms;
                return Some(Op::Sync);
            }
            Fsync::Always if !pending_sync && unsynced && self.inflight.bytes().is_empty() && self.buf.is_empty() => {
                // Written bytes not yet synced, nothing more to write (a policy change
                // to `always`, a write retried after its linked sync was cancelled).
                self.sync_inflight = Some(self.written);
                self.sync_started_ms = now_ms;
                return Some(Op::Sync);
            }
            _ => {}
        }
        if self.inflight.bytes().is_empty() {
            if self.buf.is_empty() {
                return None;
            }
            if self.policy == Fsync::Everysec && pending_sync && now_ms >= self.sync_started_ms + 2000 {
                // Redis's rule: an fsync pending for 2 s holds writes back.
                if !self.delaying {
                    self.delaying = true;
                    self.delayed_fsync += 1;
                }
                return None;
            }
            self.delaying = false;
            match self.rotate.front() {
                // Only the bytes from before the cut go to the old file.
                Some(&(_, at, _)) => {
                    let start = self.appended - self.buf.len() as u64;
                    let old = (at.saturating_sub(start) as usize).min(self.buf.len());
                    if old == 0 {
                        return None;
                    }
                    let rest = self.buf.split_off(old);
                    std::mem::swap(&mut self.buf, self.inflight.get_mut());
                    self.buf = rest;
                }
                None => std::mem::swap(&mut self.buf, self.inflight.get_mut()),
            }
            self.inflight_done = 0;
        } else if pending_sync {
            // Retrying a write whose linked sync has not come back yet.
            return None;
        }
        if self.direct.as_ref().is_some_and(|d| !d.can_write(self.file_len, self.inflight.bytes().len())) {
            return None; // the chunk it reaches into is being zeroed; next turn
        }
        self.pushed = self.appended - self.buf.len() as u64;
        let linked = self.policy == Fsync::Always && !pending_sync;
        self.write_linked = linked && self.direct.is_some();
        if linked {
            self.sync_inflight = Some(self.pushed);
            self.sync_started_ms = now_ms;
        }
        self.write_started_ms = now_ms;
        Some(Op::Write { linked })
    }

    /// A write completed with `res` (bytes or -errno).
    pub fn on_write(&mut self, res: i32, now_ms: u64) {
        if let Some(d) = self.direct.as_mut() {
            let dsync = std::mem::take(&mut self.write_linked);
            match d.on_write(res) {
                Ok(n) => {
                    self.written += n as u64;
                    self.file_len += n as u64;
                    self.inflight.get_mut().clear();
                    self.clear_error("Errors writing");
                    if dsync {
                        self.on_sync(0, now_ms);
                    }
                }
                Err(e) => {
                    if dsync {
                        self.sync_inflight = None;
                    }
                    let why = if e == 0 { "short write".to_string() } else { strerror(-e) };
                    self.fail(format!("Errors writing to the AOF file: {why}"), now_ms);
                }
            }
            return;
        }
        self.inflight.done();
        if res < 0 {
            self.fail(format!("Errors writing to the AOF file: {}", strerror(-res)), now_ms);
            return;
        }
        let n = res as usize;
        self.inflight_done += n;
        self.written += n as u64;
        self.file_len += n as u64;
        if self.inflight_done >= self.inflight.bytes().len() {
            self.inflight.get_mut().clear();
            self.inflight_done = 0;
            self.clear_error("Errors writing");
        } else if n == 0 {
            self.fail("Errors writing to the AOF file: short write".into(), now_ms);
        }
    }

    /// An fdatasync completed with `res`.
    pub fn on_sync(&mut self, res: i32, now_ms: u64) {
        let target = self.sync_inflight.take().unwrap_or(0);
        if res == -libc::ECANCELED {
            return; // its linked write failed or was short; the retry syncs again
        }
        if res < 0 {
            fsync_failed(self.policy, -res);
        }
        self.synced = self.synced.max(target.min(self.written));
        self.last_sync_ms = now_ms;
    }

    /// A blocking fdatasync outside the ring (a file switch): all that was written is
    /// then durable, or the process ends.
    fn sync_blocking(&mut self) {
        if !crate::io::file::fdatasync_blocking(self.fd) {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
            fsync_failed(self.policy, errno);
        }
        self.synced = self.written;
    }

    /// A write (or sync) succeeded: an error left by a failed one of that kind is over.
    fn clear_error(&mut self, kind: &str) {
        if self.error.as_deref().is_some_and(|e| e.starts_with(kind)) {
            self.error = None;
        }
    }

    fn fail(&mut self, msg: String, now_ms: u64) {
        if self.error.is_none() {
            crate::util::log::warning(&msg);
        }
        self.error = Some(msg);
        self.retry_at_ms = now_ms + 100;
    }

    pub fn idle(&self) -> bool {
        !self.inflight.is_busy() && self.sync_inflight.is_none() && !self.direct.as_ref().is_some_and(|d| d.busy())
    }
}

/// What `next_op` wants submitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    Write { linked: bool },
    Sync,
}

/// An fdatasync of the log failed: log Redis's line for the policy and exit 1.
///
/// Redis 7.0 exits under `always` and, under `everysec`, refuses writes until a later
/// fsync succeeds. We exit under every policy: after a failed writeback Linux marks the
/// failed pages clean (or drops them), so the next fsync can succeed without them ever
/// reaching the disk, and writes already acknowledged would be lost silently. Exiting
/// leaves the files as they are; the next start loads what is really on disk.
pub fn fsync_failed(policy: Fsync, errno: i32) -> ! {
    let why = strerror(errno);
    let msg = match policy {
        Fsync::Always => {
            format!("Can't persist AOF for fsync error when the AOF fsync policy is 'always': {why}. Exiting...")
        }
        _ => format!(
            "Fail to fsync the AOF file: {why}. Exiting: the kernel may have dropped the pages that failed to \
             reach the disk, so no later fsync could prove that acknowledged writes are durable"
        ),
    };
    crate::util::log::warning(&msg);
    std::process::exit(1)
}

pub fn strerror(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string().split(" (os error").next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(policy: Fsync) -> ShardLog {
        ShardLog { on: true, policy, fd: 99, ..Default::default() }
    }

    /// Under `always`, output stays held through the write and until the linked sync
    /// completes; a failed write keeps it held and sets the MISCONF error.
    #[test]
    fn always_holds_until_synced() {
        let mut l = log(Fsync::Always);
        l.feed(0, &[&b"SET"[..], b"k", b"v"]);
        assert!(l.must_hold());
        assert_eq!(l.next_op(0), Some(Op::Write { linked: true }));
        assert_eq!(l.next_op(0), None, "one write in flight");
        l.feed(0, &[&b"SET"[..], b"k2", b"v"]);
        l.inflight.done();
        l.on_write(-libc::ENOSPC, 0);
        l.on_sync(-libc::ECANCELED, 0);
        assert!(l.error.as_deref().unwrap().contains("No space left"));
        // The stuck bytes stay uncleared (their replies stay held); new output is not
        // held behind a failing log (writes get MISCONF, reads are served).
        assert!(l.appended > l.cleared() && !l.must_hold());
        assert_eq!(l.next_op(50), None, "retry waits");
        assert_eq!(l.next_op(200), Some(Op::Write { linked: true }), "retry of the failed bytes");
        let n = l.inflight.bytes().len() as i32;
        l.on_write(n, 200);
        assert!(l.error.is_none());
        assert!(l.must_hold(), "written, not synced");
        l.on_sync(0, 200);
        assert!(l.synced < l.appended, "the second command is still only buffered");
        assert_eq!(l.next_op(200), Some(Op::Write { linked: true }));
        let n = l.inflight.bytes().len() as i32;
        l.on_write(n, 200);
        l.on_sync(0, 200);
        assert!(!l.must_hold());
        assert_eq!(l.file_len, l.appended);
    }

    /// Under `everysec` (and `no`) output waits for the write's completion, not its
    /// submission: a write punted to an io-wq worker may still be queued when the
    /// process dies.
    #[test]
    fn everysec_clears_on_completion_and_syncs_once_a_second() {
        let mut l = log(Fsync::Everysec);
        l.feed(3, &[&b"INCR"[..], b"n"]);
        assert!(l.buf.starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"));
        assert_eq!(l.next_op(0), Some(Op::Write { linked: false }));
        assert!(l.must_hold(), "submitted is not enough");
        let n = l.inflight.bytes().len() as i32;
        l.inflight.done();
        l.on_write(n - 2, 0);
        assert!(l.must_hold(), "a short write clears only its bytes");
        assert_eq!(l.cleared(), l.appended - 2);
        assert_eq!(l.next_op(0), Some(Op::Write { linked: false }));
        l.inflight.done();
        l.on_write(2, 0);
        assert!(!l.must_hold(), "written is enough");
        assert_eq!(l.next_op(500), None);
        assert_eq!(l.next_op(1000), Some(Op::Sync));
        l.on_sync(0, 1000);
        assert_eq!(l.synced, l.appended);
    }

    #[test]
    fn staged_parts_commit_as_one_tagged_block() {
        let mut l = log(Fsync::No);
        l.stage = Some(7);
        l.feed(1, &[&b"SET"[..], b"a", b"1"]);
        l.stage = None;
        l.feed(0, &[&b"SET"[..], b"other", b"1"]);
        assert!(l.has_staged(7));
        l.commit(7, b"shardis-tx:r:7:2", |_| {});
        let text = String::from_utf8(l.buf.clone()).unwrap();
        let multi = text.find("MULTI").unwrap();
        assert!(text[..multi].contains("other"), "the block goes after what was logged before");
        assert!(text[multi..].contains("shardis-tx:r:7:2") && text[multi..].contains("SELECT\r\n$1\r\n1"));
        assert_eq!(l.appended, l.buf.len() as u64);
    }

    /// After a rewrite's cut, what was logged before it finishes in the old file and
    /// everything after starts the new one, re-selecting its db.
    #[test]
    fn rotation_splits_at_the_cut() {
        let dir = std::env::temp_dir().join(format!("shardis-rotate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = crate::persist::files::open_log(&dir.join("old"), false).unwrap().fd;
        let newf = crate::persist::files::open_log(&dir.join("new"), false).unwrap();
        let new = newf.fd;
        let mut l = ShardLog { on: true, policy: Fsync::Everysec, fd: old, ..Default::default() };
        l.feed(2, &[&b"SET"[..], b"a", b"1"]);
        assert_eq!(l.next_op(0), Some(Op::Write { linked: false }));
        l.feed(2, &[&b"SET"[..], b"b", b"2"]);
        let cut = l.appended;
        l.rotate_to(newf, 7);
        l.feed(2, &[&b"SET"[..], b"c", b"3"]);
        // (no ring here: the first write completes now)
        let n = l.inflight.bytes().len() as i32;
        l.on_write(n, 0);
        assert_eq!(l.next_op(0), Some(Op::Write { linked: false }));
        assert_eq!(l.fd, old, "the pre-cut bytes go to the old file");
        assert_eq!(l.pushed, cut, "only them");
        let n = l.inflight.bytes().len() as i32;
        l.on_write(n, 0);
        assert_eq!(l.next_op(0), Some(Op::Write { linked: false }));
        assert_eq!((l.fd, l.older.as_slice(), l.file_len, l.seq), (new, &[(0, cut)][..], 0, 7));
        assert_eq!(l.synced, cut, "the old file was synced before the switch");
        assert!(l.inflight.bytes().starts_with(b"*2\r\n$6\r\nSELECT"), "the new file re-selects");
        let n = l.inflight.bytes().len() as i32;
        l.on_write(n, 0);
        assert_eq!(l.written, l.appended);
        crate::io::file::close(new);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A second cut while the first switch still waits: each file gets its own bytes.
    #[test]
    fn queued_rotations_keep_each_file_its_bytes() {
        let dir = std::env::temp_dir().join(format!("shardis-rotate2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let open = |n: &str| crate::persist::files::open_log(&dir.join(n), false).unwrap();
        let (f0, f1, f2) = (open("0"), open("1"), open("2"));
        let fds = [f0.fd, f1.fd, f2.fd];
        let mut l = ShardLog { on: true, policy: Fsync::No, fd: f0.fd, ..Default::default() };
        l.feed(0, &[&b"SET"[..], b"a", b"1"]);
        assert_eq!(l.next_op(0), Some(Op::Write { linked: false }));
        l.rotate_to(f1, 1);
        l.feed(0, &[&b"SET"[..], b"b", b"2"]);
        let at2 = l.appended;
        l.rotate_to(f2, 2);
        l.feed(0, &[&b"SET"[..], b"c", b"3"]);
        let mut seen = Vec::new();
        while let Some(op) = l.next_op(0) {
            assert_eq!(op, Op::Write { linked: false });
            seen.push((l.fd, String::from_utf8_lossy(l.inflight.bytes()).contains("$1\r\nb")));
            let n = l.inflight.bytes().len() as i32;
            l.on_write(n, 0);
        }
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), fds);
        assert!(seen[1].1 && !seen[2].1, "b, and only b, in the middle file");
        assert_eq!((l.seq, l.older.len(), l.written - at2), (2, 2, l.file_len));
        crate::io::file::close(fds[2]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
