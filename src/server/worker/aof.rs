//! The worker's side of the append-only log: one write per turn through the ring,
//! fsync completions, and releasing the output that waited for them (see `persist`).

use super::Worker;
use crate::io::{Op, Token};
use crate::persist::log::Op as LogOp;
use std::sync::atomic::Ordering;

/// `Token::slot` values of persistence completions.
const WRITE: u32 = 1;
const SYNC: u32 = 2;
/// O_DIRECT preallocation: the fallocate of a chunk, and the padding written over it.
const FALLOCATE: u32 = 3;
const ZEROED: u32 = 4;

impl Worker {
    /// Takes this shard's loaded keys and log file from start-up.
    pub(super) fn aof_boot(&mut self) {
        let boot = {
            let mut boots = self.st.shared.aof_boot.lock().unwrap_or_else(|e| e.into_inner());
            boots.get_mut(self.st.id).and_then(|b| b.take())
        };
        let Some(boot) = boot else { return };
        for (db, key, e) in boot.entries {
            if let Some(d) = self.st.dbs.get_mut(db as usize) {
                // Built on the main thread: a copy puts the value in this thread's
                // memory (its NUMA node); the original goes back to the main thread's heap.
                let value = if boot.rehome { e.value.clone() } else { e.value };
                d.set(&key, value, e.expire_at);
            }
        }
        let log = &mut self.st.aof;
        log.on = true;
        log.policy = self.st.config.appendfsync;
        self.st.shared.aof[self.st.id].base_size.store(boot.base_size, Ordering::Relaxed);
        log.switch_file(boot.file);
        log.last_sync_ms = self.st.now_ms;
        self.st.shared.aof[self.st.id]
            .publish(&mut self.st.aof, self.st.shared.aofrw.installed.load(Ordering::Relaxed));
    }

    /// End of turn: hand the log's new bytes (and any sync the policy wants) to the
    /// ring, ahead of the turn's sends. The replies and result messages that wait for
    /// them leave once the completion is reaped (the sync's under `always`, the write's
    /// otherwise); if result messages are waiting, submit now so that comes sooner.
    pub(super) fn aof_turn(&mut self) {
        if !self.st.aof.on {
            return;
        }
        if !self.st.config.appendonly {
            self.st.aof.stopping = true;
        }
        let policy = self.st.config.appendfsync;
        if policy != self.st.aof.policy {
            // `cleared()` means another offset now (and may move back): the next
            // release must look at every waiter, not skip an unchanged number.
            self.aof_cleared = u64::MAX;
            self.st.aof.policy = policy;
        }
        self.st.aof.set_direct(self.st.config.aof_direct());
        let now = self.st.clock.now_ms();
        let mut wrote = false;
        while let Some(op) = self.st.aof.next_op(now) {
            let log = &mut self.st.aof;
            let sync_ud = Token::new(Op::Persist, SYNC, 0).encode();
            match op {
                LogOp::Write { linked } => {
                    let ud = Token::new(Op::Persist, WRITE, 0).encode();
                    let (fd, from, off) = (log.fd, log.inflight_done, log.file_len);
                    match log.direct.as_mut() {
                        // One write, durable on completion when `linked`.
                        Some(d) => d.write(&mut self.ring, fd, off, log.inflight.bytes(), ud, linked),
                        None => log.inflight.write(&mut self.ring, fd, from, off, ud, linked.then_some(sync_ud)),
                    }
                    wrote = true;
                }
                LogOp::Sync => self.ring.fdatasync(log.fd, sync_ud),
            }
        }
        let log = &mut self.st.aof;
        if log.rotate.is_empty()
            && !log.stopping
            && log.error.is_none()
            && let Some(d) = log.direct.as_mut()
        {
            let falloc = Token::new(Op::Persist, FALLOCATE, 0).encode();
            let zeroed = Token::new(Op::Persist, ZEROED, 0).encode();
            d.maybe_prealloc(&mut self.ring, log.fd, log.file_len, falloc, zeroed);
        }
        if wrote && !self.st.outbox.dirty.is_empty() {
            let _ = self.ring.submit();
        }
        if self.st.aof.stopping {
            self.aof_stop();
        }
        // A policy change or a switch of I/O mode (which syncs) can clear output
        // without any completion to come.
        self.aof_release();
        self.st.shared.aof[self.st.id]
            .publish(&mut self.st.aof, self.st.shared.aofrw.installed.load(Ordering::Relaxed));
    }

    /// Group commit under buffered `always`: bytes that waited for the previous sync
    /// are written (and synced) at the start of the turn that reaped it, before the
    /// turn's input is processed, so the next fdatasync (slow: a worker thread and a
    /// journal commit) runs while that input is being served instead of after. One
    /// more `io_uring_enter` per sync. Not for the O_DIRECT log: its RWF_DSYNC write
    /// is quick, and starting it early only made batches smaller (perf/RESULTS.md).
    pub(super) fn aof_kick(&mut self) {
        let log = &self.st.aof;
        if !log.on
            || log.policy != crate::config::Fsync::Always
            || log.direct.is_some()
            || log.buf.is_empty()
            || !log.idle()
        {
            return;
        }
        self.aof_turn();
        let _ = self.ring.submit();
    }

    /// `appendonly no`: once what was logged is on disk (or the log is failing),
    /// sync and close the file and stop.
    fn aof_stop(&mut self) {
        let log = &mut self.st.aof;
        let drained = log.idle() && log.buf.is_empty() && log.inflight.bytes().is_empty() && log.rotate.is_empty();
        if !drained && log.error.is_none() {
            return;
        }
        if log.inflight.is_busy() || log.sync_inflight.is_some() {
            return; // the ring still uses the fd
        }
        log.finish_file();
        if log.error.is_none() && !crate::io::file::fdatasync_blocking(log.fd) {
            // Writes acknowledged under this file may not be on disk: the same rule as
            // a failed fsync in service (see `log::fsync_failed`).
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
            crate::persist::log::fsync_failed(log.policy, errno);
        }
        crate::io::file::close(log.fd);
        log.direct = None;
        let was = log.error.is_some();
        log.on = false;
        log.stopping = false;
        log.fd = -1;
        log.error = None;
        log.buf.clear();
        log.inflight.get_mut().clear();
        // Whatever waited for the log may leave now.
        (log.pushed, log.written, log.synced) = (log.appended, log.appended, log.appended);
        self.st.shared.aof_health.update(was, None);
        self.aof_release();
        crate::util::log::notice("Background append only file stopped on this shard");
    }

    /// A persistence completion.
    pub(super) fn on_persist(&mut self, tok: Token, res: i32) {
        let now = self.st.clock.now_ms();
        let was = self.st.aof.error.is_some();
        match tok.slot {
            WRITE => {
                let log = &self.st.aof;
                let took = now.saturating_sub(log.write_started_ms);
                // Redis's classes: a write while an everysec fsync is pending, while a
                // child is saving, or alone; an O_DIRECT write under `always` carries
                // its own sync (RWF_DSYNC), so it is also the `always` fsync.
                let pending_fsync = log.policy == crate::config::Fsync::Everysec && log.sync_inflight.is_some();
                let dsync = log.write_linked;
                self.st.aof.on_write(res, now);
                crate::cmd::latency::aof_write_sample(&mut self.st, took, pending_fsync, dsync);
            }
            SYNC => {
                let took = now.saturating_sub(self.st.aof.sync_started_ms);
                let always = self.st.aof.policy == crate::config::Fsync::Always;
                self.st.aof.on_sync(res, now);
                if always {
                    crate::cmd::latency::add_sample_if_needed(&mut self.st, "aof-fsync-always", took);
                }
            }
            FALLOCATE => self.st.aof.direct.iter_mut().for_each(|d| d.on_fallocate(res)),
            ZEROED => {
                let fd = self.st.aof.fd;
                self.st.aof.direct.iter_mut().for_each(|d| d.on_zeroed(fd, res))
            }
            _ => {}
        }
        self.st.shared.aof_health.update(was, self.st.aof.error.as_ref());
    }

    /// After completions: output whose log offset is now cleared may leave.
    pub(super) fn aof_release(&mut self) {
        let cleared = self.st.aof.cleared();
        if cleared == self.aof_cleared {
            return;
        }
        self.aof_cleared = cleared;
        for slot in std::mem::take(&mut self.aof_waiting) {
            let Some(c) = self.conns.get_mut(slot as usize).and_then(|c| c.as_mut()) else { continue };
            c.aof_waiting = false;
            if !c.held.is_empty() && !c.queued_for_send {
                c.queued_for_send = true;
                self.send_queue.push(slot);
            }
        }
        self.st.release_held();
    }

    /// Shutdown: wait for the ring's log operations, then write and sync what is left.
    pub(super) fn aof_shutdown(&mut self) {
        if !self.st.aof.on {
            return;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            self.aof_turn();
            if self.st.aof.idle() && self.st.aof.buf.is_empty() && self.st.aof.inflight.bytes().is_empty() {
                break;
            }
            if std::time::Instant::now() > deadline || self.st.aof.error.is_some() {
                break;
            }
            let _ = self.ring.submit_and_wait(Some(std::time::Duration::from_millis(10)));
            let mut cqes = Vec::new();
            self.ring.reap(&mut cqes);
            for (ud, res, _) in cqes {
                if let Some(t) = Token::decode(ud).filter(|t| t.op == Op::Persist) {
                    self.on_persist(t, res);
                }
            }
        }
        let fd = self.st.aof.fd;
        if fd >= 0 && self.st.aof.idle() {
            self.st.aof.finish_file();
            if !crate::io::file::fdatasync_blocking(fd) {
                // Shutting down anyway: say so loudly (Redis's words) and make the exit
                // status non-zero (`aof_health`), so a supervisor knows the last writes
                // may not have reached the disk.
                let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
                crate::util::log::warning(&format!(
                    "Fail to fsync the AOF file: {}.",
                    crate::persist::log::strerror(errno)
                ));
                self.st.shared.aof_health.shutdown_sync_failed.store(true, Ordering::Relaxed);
            }
        }
        self.st.shared.aof[self.st.id].enabled.store(false, Ordering::Relaxed);
    }
}
