//! One replica as the replication thread (`master`) sees it: its connection and sync
//! state, reading what it sends (REPLCONF ACK), sending it what it is due (replies,
//! the RDB, then the stream from the backlog), and Redis's output buffer limit rule.
//! The thread's main loop (assembly, cuts, WAIT, timers) stays in `master`.

use super::backlog::Backlog;
use crate::io::zc::{Done, ZcRing};
use crate::persist::resp::{Decoded, decode};
use crate::util::log;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum St {
    WaitCut,
    WaitBgsave,
    SendRdb,
    /// Diskless transfer done: online at the replica's first ACK (as Redis does).
    WaitAck,
    Online,
}

pub(super) struct Replica {
    pub(super) sock: TcpStream,
    pub(super) name: String,
    pub(super) ip: String,
    pub(super) port: u16,
    pub(super) id: u64,
    pub(super) state: St,
    pub(super) job: u64,
    /// Next stream offset to send.
    pub(super) pos: u64,
    pub(super) ack: u64,
    pub(super) last_ack_ms: u64,
    /// Bytes to send before anything else (replies, RDB header and chunks).
    pub(super) out: Vec<u8>,
    pub(super) out_off: usize,
    pub(super) rdb: Option<(Arc<File>, u64, u64)>,
    pub(super) rbuf: Vec<u8>,
    pub(super) rdb_only: bool,
    /// Came with PSYNC (gets `+FULLRESYNC`), not the old SYNC (gets the payload only).
    pub(super) psync: bool,
    pub(super) capa_eof: bool,
    /// rdb-only (redis-cli --rdb) after a diskless transfer: close once sent.
    pub(super) close_when_sent: bool,
    pub(super) soft_since: Option<u64>,
    pub(super) dead: bool,
    /// This thread's own tag for it (zero-copy completions name their replica by it).
    pub(super) key: u64,
    /// A zero-copy send is in flight: nothing else may be written until it completes.
    pub(super) zc_busy: bool,
    /// Poll saw input (or a hang-up) since it was last read.
    pub(super) readable: bool,
}

/// How stream bytes leave for the replicas: `IORING_OP_SEND_ZC` straight from a full
/// (sealed) backlog block when at least `zc_min` bytes are due, a plain `write(2)`
/// (the kernel copies into the socket buffer) otherwise, or always once the kernel
/// refused zero-copy.
///
/// Environment switches, read when the thread starts:
/// - `SHARDIS_REPL_ZC=off` (or `0`): plain sends only (for measurements).
/// - `SHARDIS_REPL_ZC_MIN=<bytes>`: the threshold, 16384 by default. SEND_ZC costs
///   page pinning and a second (notification) completion; the kernel's docs put the
///   break-even around 10 KiB, and with 64 KiB backlog blocks a replica that is behind
///   sends whole blocks anyway (see perf/RESULTS.md for what loopback can and cannot
///   show).
pub(super) struct Sender {
    pub(super) ring: Option<ZcRing>,
    pub(super) zc_min: usize,
    pub(super) zc_sends: u64,
    pub(super) copied_sends: u64,
}

impl Sender {
    pub(super) fn from_env() -> Sender {
        let off = std::env::var("SHARDIS_REPL_ZC").is_ok_and(|v| v == "off" || v == "0" || v == "no");
        let zc_min = std::env::var("SHARDIS_REPL_ZC_MIN").ok().and_then(|v| v.parse().ok()).unwrap_or(16 << 10);
        let ring = if off {
            None
        } else {
            match ZcRing::new(64) {
                Ok(r) => Some(r),
                Err(e) => {
                    log::warning(&format!("Zero-copy replication sends unavailable ({e}): using plain sends"));
                    None
                }
            }
        };
        Sender { ring, zc_min, zc_sends: 0, copied_sends: 0 }
    }

    /// The zero-copy ring's fd while it has work outstanding (poll it for completions).
    pub(super) fn busy_fd(&self) -> Option<std::os::fd::RawFd> {
        self.ring.as_ref().filter(|r| r.held() > 0).map(|r| r.fd())
    }

    /// Applies finished zero-copy sends to their replicas.
    pub(super) fn complete(&mut self, replicas: &mut [Replica]) {
        let Some(ring) = self.ring.as_mut() else { return };
        let mut done = Vec::new();
        ring.reap(&mut done);
        for d in done {
            let (Done::Sent { owner, .. } | Done::Failed { owner, .. } | Done::Refused { owner }) = d;
            let Some(r) = replicas.iter_mut().find(|r| r.key == owner) else { continue };
            r.zc_busy = false;
            match d {
                Done::Sent { bytes, .. } => r.pos += bytes as u64,
                Done::Refused { .. } => {
                    log::notice("The kernel refused zero-copy sends (SEND_ZC): replicas get plain sends")
                }
                Done::Failed { errno, .. } => {
                    if !r.dead {
                        log::notice(&format!(
                            "Connection with replica {} lost ({}).",
                            r.name,
                            std::io::Error::from_raw_os_error(errno)
                        ));
                    }
                    r.dead = true;
                }
            }
        }
    }
}

/// Reads what the replica sent (REPLCONF ACK). Err: the link is gone (message if any).
pub(super) fn read_replica(r: &mut Replica, now: u64, acks: &mut bool) -> Result<(), String> {
    let mut buf = [0u8; 4096];
    loop {
        match r.sock.read(&mut buf) {
            Ok(0) => return Err(String::new()),
            Ok(n) => r.rbuf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Err(String::new()),
        }
        if r.rbuf.len() > 1 << 20 {
            return Err("too much input from replica".into());
        }
    }
    let mut pos = 0;
    loop {
        let rest = &r.rbuf[pos..];
        // Newlines are keepalives some replicas send.
        if rest.first().is_some_and(|&c| c == b'\n' || c == b'\r') {
            pos += 1;
            continue;
        }
        match decode(rest) {
            Decoded::Cmd { args, len } => {
                let a: Vec<&[u8]> = args.iter().map(|&(s, e)| &rest[s..e]).collect();
                if a.len() >= 3
                    && a[0].eq_ignore_ascii_case(b"replconf")
                    && a[1].eq_ignore_ascii_case(b"ack")
                    && let Some(off) = crate::util::num::parse_u64(a[2])
                {
                    {
                        r.ack = r.ack.max(off);
                        r.last_ack_ms = now;
                        *acks = true;
                        if r.state == St::WaitAck {
                            r.state = St::Online;
                            log::notice(&format!("Synchronization with replica {} succeeded", r.name));
                        }
                    }
                }
                pos += len;
            }
            Decoded::Incomplete => break,
            _ => return Err("protocol error from replica".into()),
        }
    }
    r.rbuf.drain(..pos);
    Ok(())
}

/// Sends what the replica is due. Err: the link is gone.
pub(super) fn write_replica(r: &mut Replica, b: &Backlog, s: &mut Sender) -> std::io::Result<()> {
    if r.zc_busy {
        return Ok(());
    }
    loop {
        if r.out_off < r.out.len() {
            match r.sock.write(&r.out[r.out_off..]) {
                Ok(n) => r.out_off += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            continue;
        }
        r.out.clear();
        r.out_off = 0;
        if r.close_when_sent {
            r.dead = true;
            return Ok(());
        }
        if let Some((f, sent, total)) = r.rdb.as_mut() {
            if *sent < *total {
                let n = ((*total - *sent) as usize).min(256 << 10);
                r.out.resize(n, 0);
                f.read_exact_at(&mut r.out, *sent)?;
                *sent += n as u64;
                continue;
            }
            r.rdb = None;
            r.state = St::Online;
            r.last_ack_ms = super::master::now_ms();
            log::notice(&format!("Synchronization with replica {} succeeded", r.name));
            if r.rdb_only {
                r.dead = true;
                return Ok(());
            }
        }
        if r.state != St::Online {
            return Ok(());
        }
        let chunk = b.chunk_at(r.pos);
        if chunk.is_empty() {
            return Ok(());
        }
        if chunk.len() >= s.zc_min
            && let Some(ring) = s.ring.as_mut().filter(|ring| !ring.refused())
            && let Some((block, off)) = b.sealed_block_at(r.pos)
        {
            ring.send_zc(r.sock.as_raw_fd(), block.clone(), off, chunk.len(), r.key)?;
            r.zc_busy = true;
            s.zc_sends += 1;
            return Ok(());
        }
        match r.sock.write(chunk) {
            Ok(n) => {
                r.pos += n as u64;
                s.copied_sends += 1;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Redis's output buffer rule for a replica `pending` bytes behind: over the hard
/// limit, or over the soft one continuously for its seconds (`soft_since` remembers
/// since when). A limit of 0 is no limit.
pub(super) fn over_output_limit(
    pending: u64,
    (hard, soft, secs): (u64, u64, u64),
    soft_since: &mut Option<u64>,
    now: u64,
) -> bool {
    if hard > 0 && pending > hard {
        return true;
    }
    if soft == 0 || pending <= soft {
        *soft_since = None;
        return false;
    }
    let since = *soft_since.get_or_insert(now);
    now.saturating_sub(since) >= secs * 1000
}

/// `client-output-buffer-limit`'s replica class: (hard, soft, soft seconds).
pub(super) fn replica_limits(cfg: &crate::config::Config) -> (u64, u64, u64) {
    cfg.output_buffer_limit("replica").unwrap_or((256 << 20, 64 << 20, 60))
}

#[cfg(test)]
mod tests {
    use super::over_output_limit;

    #[test]
    fn output_limits_follow_redis_hard_and_soft_rules() {
        let lim = (256 << 20, 64 << 20, 60);
        let mut since = None;
        assert!(!over_output_limit(1 << 20, lim, &mut since, 0));
        assert!(over_output_limit((256 << 20) + 1, lim, &mut since, 0), "hard: at once");
        assert!(!over_output_limit(100 << 20, lim, &mut since, 1_000), "soft: not yet");
        assert_eq!(since, Some(1_000));
        assert!(!over_output_limit(100 << 20, lim, &mut since, 60_999));
        assert!(over_output_limit(100 << 20, lim, &mut since, 61_000), "soft for 60 s");
        // Dropping under the soft limit resets the clock.
        assert!(!over_output_limit(1, lim, &mut since, 61_001));
        assert_eq!(since, None);
        assert!(!over_output_limit(100 << 20, lim, &mut since, 70_000));
        // 0 disables a limit.
        assert!(!over_output_limit(u64::MAX / 2, (0, 0, 0), &mut None, 0));
    }
}
