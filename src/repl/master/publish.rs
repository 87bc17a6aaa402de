//! What the replication thread publishes for INFO, WAIT and `min-replicas-to-write`,
//! and how it answers WAIT.

use super::{Master, now_ms};
use crate::repl::master_replica::St;
use crate::shard::{Msg, ReplyTo};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const R: Ordering = Ordering::Relaxed;

/// WAIT numreplicas timeout, from a client on some shard.
pub struct WaitReq {
    pub numreplicas: u64,
    /// Unix ms; 0 waits forever.
    pub deadline_ms: u64,
    pub to: ReplyTo,
    pub(super) target: u64,
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
    too_few_replicas_for(&st.shared, st.min_replicas_now())
}

/// As `too_few_replicas`, for `min` good replicas wanted (`shard::min_replicas_of`).
#[inline]
pub fn too_few_replicas_for(shared: &crate::shard::Shared, min: u64) -> bool {
    min > 0 && shared.repl.pub_info.good.load(R) < min && !shared.repl.is_replica_fast()
}

/// The refusal of a write for too few good replicas.
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

impl Master {
    pub(super) fn answer_waits(&mut self) {
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

    pub(super) fn trim_and_publish(&mut self) {
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
}
