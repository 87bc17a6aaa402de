//! How the replication thread attaches a replica: PSYNC's answer (`+CONTINUE` from the
//! backlog or a full sync), and a full sync's cut, snapshot child and transfer.
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

use super::{Hello, Master, now_ms};
use crate::io::poll;
use crate::repl::master_replica::{Replica, St, write_replica};
use crate::shard::Shared;
use crate::util::log;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

const R: Ordering = Ordering::Relaxed;

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
        self.wait_position_until(shared, None)
    }

    /// `wait_position`, giving up (None) at `deadline`.
    pub fn wait_position_until(&self, shared: &Shared, deadline: Option<std::time::Instant>) -> Option<(String, u64)> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(at) = g.at.clone() {
                return Some(at);
            }
            if shared.shutdown.load(R) || deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return None;
            }
            g = self.cv.wait_timeout(g, std::time::Duration::from_millis(50)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    pub(super) fn set_position(&self, at: (String, u64)) {
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

pub(super) struct Job {
    id: u64,
    mark: Arc<CutMark>,
    pid: Option<i32>,
    /// Diskless: the child's pipe, until its end.
    pub(super) pipe: Option<Arc<File>>,
    pub(super) pipe_eof: bool,
    /// The child exited: Some(success).
    exited: Option<bool>,
}

impl Job {
    /// The snapshot job of the cut `mark`, once the stream reached it.
    pub(super) fn new(id: u64, mark: Arc<CutMark>) -> Job {
        Job { id, mark, pid: None, pipe: None, pipe_eof: false, exited: None }
    }
}

impl Master {
    pub(super) fn take_newcomers(&mut self) {
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
        // As Redis's SYNC: `repl-disable-tcp-nodelay yes` trades latency for fewer,
        // bigger packets on this replica's link (read when it syncs).
        let nagle = self.shared.config().compat_value("repl-disable-tcp-nodelay") == Some("yes");
        let _ = sock.set_nodelay(!nagle);
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
            readable: true,
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
        } else {
            // Redis's words for a diskless sync that waits for more replicas.
            log::notice("Delay next BGSAVE for diskless SYNC");
            if self.cut_due_ms.is_none() {
                self.cut_due_ms = Some(now + delay * 1000);
            }
        }
        self.maybe_cut(now);
    }

    pub(super) fn maybe_cut(&mut self, now: u64) {
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

    pub(super) fn reap_jobs(&mut self) {
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
    pub(super) fn relay_pipes(&mut self) {
        let Some(b) = self.backlog.as_ref() else { return };
        if self.jobs.iter().all(|j| j.pipe.is_none() || j.pipe_eof) {
            return;
        }
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
                                "Streamed RDB transfer with replica {} succeeded (socket). Waiting for REPLCONF ACK from slave to enable streaming",
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
}
