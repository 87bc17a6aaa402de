//! One replica as the replication thread (`master`) sees it: its connection and sync
//! state, reading what it sends (REPLCONF ACK), sending it what it is due (replies,
//! the RDB, then the stream from the backlog), and Redis's output buffer limit rule.
//! The thread's main loop (assembly, cuts, WAIT, timers) stays in `master`.

use super::backlog::Backlog;
use crate::persist::resp::{Decoded, decode};
use crate::util::log;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
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
pub(super) fn write_replica(r: &mut Replica, b: &Backlog) -> std::io::Result<()> {
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
        match r.sock.write(chunk) {
            Ok(n) => r.pos += n as u64,
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
