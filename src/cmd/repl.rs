//! Replication commands of the master side: REPLCONF, PSYNC, SYNC, WAIT. (The replica
//! side's REPLICAOF / SLAVEOF / ROLE live beside them, in their own functions.)
//!
//! PSYNC and SYNC end the connection's life on its shard: the handler records the
//! handshake (`ShardState::replconf`) and closes the connection without shutting the
//! socket down; once no operation of the shard's refers to it, the worker hands the
//! fd to the replication thread (`repl::master::hand_over`), which answers
//! `+FULLRESYNC` / `+CONTINUE` and streams from there.

use super::ctx::{ConnCtx, ConnOutcome};
use super::table::{CommandSpec, flag};
use super::{Args, CmdError};
use crate::repl::master::{Hello, WaitReq};
use crate::repl::state::Segment;
use crate::resp::ReplyWriter;
use crate::shard::{ReplyTo, ShardState};
use crate::util::log;

fn hello<'a>(c: &'a mut ConnCtx) -> &'a mut Hello {
    let id = c.sess.id;
    c.st.replconf.entry(id).or_insert_with(|| Hello { client_id: id, ..Default::default() })
}

fn replconf(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut i = 1;
    while i < a.len() {
        if a.is(i, "listening-port") {
            let port = a.i64(i + 1).ok().filter(|p| (0..=65535).contains(p)).ok_or(CmdError::NotInteger)?;
            hello(c).listening_port = port as u16;
        } else if a.is(i, "ip-address") {
            let ip = a.str(i + 1);
            hello(c).ip_address = Some(ip);
        } else if a.is(i, "capa") {
            if a.is(i + 1, "eof") {
                hello(c).capa_eof = true;
            } else if a.is(i + 1, "psync2") {
                hello(c).capa_psync2 = true;
            }
        } else if a.is(i, "rdb-only") {
            let v = a.i64(i + 1).ok().filter(|v| *v == 0 || *v == 1).ok_or(CmdError::NotInteger)?;
            hello(c).rdb_only = v == 1;
        } else if a.is(i, "ack") || a.is(i, "getack") {
            // ACKs reach the replication thread once the link is handed over; a
            // client that is not a replica gets no reply, as in Redis.
            return Ok(ConnOutcome::Done);
        } else {
            return Err(CmdError::msg(format!("ERR Unrecognized REPLCONF option: {}", a.str(i))));
        }
        i += 2;
    }
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn psync(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let offset = a.i64(2).map_err(|_| CmdError::NotInteger)?;
    let replid = a.str(1);
    if c.sess.multi.is_some() {
        return Err(CmdError::msg("ERR Replica can't interact with the keyspace"));
    }
    if a.len() > 3 && a.is(3, "failover") {
        promote_for_failover(c, &replid)?;
    }
    handoff(c, Some((replid, offset)))
}

/// `PSYNC <replid> <offset> FAILOVER` from our master, handing over to us (its
/// FAILOVER): promote ourselves when the replid is the one we follow, then the PSYNC
/// goes on as any (and continues partially with our replid2).
fn promote_for_failover(c: &mut ConnCtx, replid: &str) -> Result<(), CmdError> {
    let shared = c.st.shared.clone();
    log::warning(&format!("Failover request received for replid {replid}."));
    if !shared.repl.is_replica() {
        return Err(CmdError::msg("ERR PSYNC FAILOVER can't be sent to a master."));
    }
    if !replid.eq_ignore_ascii_case(&shared.repl.ids().replid) {
        return Err(CmdError::msg("ERR PSYNC FAILOVER replid must match my replid."));
    }
    crate::repl::replica::promote(&shared);
    let who = super::replicaof::client_desc(c, "psync");
    log::notice(&format!("MASTER MODE enabled (failover request from '{who}')"));
    Ok(())
}

fn sync(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    handoff(c, None)
}

fn handoff(c: &mut ConnCtx, psync: Option<(String, i64)>) -> Result<ConnOutcome, CmdError> {
    if c.sess.multi.is_some() {
        return Err(CmdError::msg("ERR Replica can't interact with the keyspace"));
    }
    if crate::repl::failover::phase(&c.st.shared) != crate::repl::failover::Phase::None {
        return Err(CmdError::msg("NOMASTERLINK Can't SYNC while failing over"));
    }
    // A replica serves its own replicas only once its link is up (Redis's rule): a
    // snapshot of the dataset it is replacing would go out under a history it is about
    // to drop, only for its next full sync to replace it again.
    let shared = &c.st.shared;
    if shared.repl.is_replica() && shared.replica.state() != crate::repl::replica::LinkState::Connected {
        return Err(CmdError::msg("NOMASTERLINK Can't SYNC while not connected with my master"));
    }
    let peer_ip =
        c.st.clients
            .get(&c.sess.id)
            .map(|m| m.addr.rsplit_once(':').map(|(ip, _)| ip.to_string()).unwrap_or_default())
            .unwrap_or_default();
    let h = hello(c);
    h.psync = psync;
    h.peer_ip = peer_ip;
    h.handoff = true;
    Ok(ConnOutcome::Close)
}

/// WAIT numreplicas timeout, called by dispatch with the request's reply address: the
/// request waits in the replication thread behind every write fed before it.
/// Returns false when it answered at once into `w`.
pub fn wait(st: &mut ShardState, a: &Args, w: &mut ReplyWriter, to: ReplyTo) -> bool {
    let (Ok(n), Ok(timeout)) = (a.i64(1), a.i64(2)) else {
        w.error("ERR value is not an integer or out of range");
        return false;
    };
    if timeout < 0 {
        w.error("ERR timeout is negative");
        return false;
    }
    if st.shared.repl.is_replica() {
        w.error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
        return false;
    }
    if st.shared.repl.master.get().is_none() {
        w.int(0);
        return false;
    }
    let deadline = if timeout == 0 { 0 } else { crate::shard::Shared::now_unix_ms() + timeout as u64 };
    // Queued behind this shard's writes of this turn; writes elsewhere that the client
    // saw acknowledged were pushed before their replies left.
    st.aof.repl.flush(&st.shared.repl);
    st.shared.repl.push(Segment::Wait(Box::new(WaitReq::new(n as u64, deadline, to))));
    true
}

/// WAIT inside MULTI (or without a reply address): the number of replicas now.
fn wait_now(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    a.i64(1).map_err(|_| CmdError::NotInteger)?;
    a.i64(2).map_err(|_| CmdError::NotInteger)?;
    c.out.int(0);
    Ok(ConnOutcome::Done)
}

use super::server::server as conn;

pub static COMMANDS: &[CommandSpec] = &[
    conn(
        "replconf",
        -1,
        flag::ADMIN | flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::ALLOW_BUSY,
        replconf,
        "An internal command for configuring the replication stream.",
        "3.0.0",
    ),
    conn(
        "psync",
        -3,
        flag::ADMIN | flag::NOSCRIPT | flag::NO_MULTI,
        psync,
        "An internal command used in replication.",
        "2.8.0",
    ),
    conn(
        "sync",
        1,
        flag::ADMIN | flag::NOSCRIPT | flag::NO_MULTI,
        sync,
        "An internal command used in replication.",
        "1.0.0",
    ),
    conn(
        "wait",
        3,
        flag::NOSCRIPT,
        wait_now,
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        "3.0.0",
    ),
];
