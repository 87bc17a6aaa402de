//! The replica's commands: REPLICAOF / SLAVEOF and ROLE. The link itself lives in
//! `repl::link` (a thread) and `server::worker::replica` (shard 0); these only change
//! the shared state (`repl::replica`) and read it.

use super::table::{CommandSpec, flag};
use super::{Args, CmdError, ConnCtx, ConnOutcome};
use crate::repl::Role;
use crate::repl::replica::{self, LinkState};
use crate::util::log;
use std::sync::atomic::Ordering;

/// REPLICAOF host port | NO ONE (SLAVEOF is the same command).
fn replicaof(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let shared = c.st.shared.clone();
    if crate::repl::failover::phase(&shared) != crate::repl::failover::Phase::None {
        return Err(CmdError::msg("ERR REPLICAOF not allowed while failing over."));
    }
    let (host, port) = (a.get(1), a.get(2));
    if host.eq_ignore_ascii_case(b"no") && port.eq_ignore_ascii_case(b"one") {
        if shared.repl.is_replica() {
            replica::promote(&shared);
            log::notice(&format!("MASTER MODE enabled (user request from '{}')", client_desc(c, "replicaof")));
        }
        c.out.ok();
        return Ok(ConnOutcome::Done);
    }
    let port = std::str::from_utf8(port)
        .ok()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (0..=65535).contains(p))
        .ok_or_else(|| CmdError::Msg("ERR Invalid master port".into()))? as u16;
    let host = String::from_utf8_lossy(host).into_owned();
    if shared.repl.role() == (Role::Replica { host: host.clone(), port }) {
        log::notice(
            "REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.",
        );
        c.out.simple("OK Already connected to specified master");
        return Ok(ConnOutcome::Done);
    }
    // The history we offer the new master for a partial resync ends after every
    // write already answered (`follow` reads the offset).
    c.st.aof.repl.flush(&shared.repl);
    crate::repl::master::answered_offset(&shared);
    if !shared.repl.is_replica() {
        // Redis's words for offering our own history to the new master (its
        // `replicationCacheMasterUsingMyself`); the link's PSYNC asks for it.
        log::notice(
            "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.",
        );
    }
    replica::follow(&shared, &host, port, false);
    // The replication thread keeps the replica's backlog and offset (the master's
    // stream, forwarded verbatim) even with no replica of its own.
    crate::repl::master::start(&shared);
    log::notice(&format!("REPLICAOF {host}:{port} enabled (user request from '{}')", client_desc(c, "replicaof")));
    c.out.ok();
    Ok(ConnOutcome::Done)
}

/// The requesting client running `cmd`, as Redis names it in its log lines.
pub(crate) fn client_desc(c: &ConnCtx, cmd: &str) -> String {
    match c.st.clients.get(&c.sess.id) {
        Some(m) => format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle=0 flags=N db={} cmd={cmd} user=default",
            m.id,
            m.addr,
            m.laddr,
            m.fd,
            m.name,
            c.st.now_ms.saturating_sub(m.created_ms) / 1000,
            c.sess.db
        ),
        None => format!("id={}", c.sess.id),
    }
}

/// ROLE: `master offset [replicas]` or `slave host port state offset`.
fn role(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    let shared = c.st.shared.clone();
    match shared.repl.role() {
        Role::Master => {
            c.out.array(3);
            c.out.bulk(b"master");
            // Writes this connection saw answered earlier in its pipeline count too.
            // Writes this connection saw answered earlier in its pipeline count too.
            c.st.aof.repl.flush(&shared.repl);
            c.out.int(crate::repl::master::answered_offset(&shared) as i64);
            // Connected replicas are listed by the master side once it tracks them.
            c.out.array(0);
        }
        Role::Replica { host, port } => {
            let r = &shared.replica;
            let state = r.state();
            c.out.array(5);
            c.out.bulk(b"slave");
            c.out.bulk(host.as_bytes());
            c.out.int(port as i64);
            c.out.bulk(state.name().as_bytes());
            let off = if state == LinkState::Connected { r.processed.load(Ordering::Acquire) as i64 } else { -1 };
            c.out.int(off);
        }
    }
    Ok(ConnOutcome::Done)
}

use super::server::server as cmd;

pub static COMMANDS: &[CommandSpec] = &[
    cmd(
        "replicaof",
        3,
        flag::ADMIN | flag::NOSCRIPT | flag::STALE,
        replicaof,
        "Configures a server as replica of another, or promotes it to a master.",
        "5.0.0",
    ),
    cmd(
        "slaveof",
        3,
        flag::ADMIN | flag::NOSCRIPT | flag::STALE,
        replicaof,
        "Sets a Redis server as a replica of another, or promotes it to being a master.",
        "1.0.0",
    ),
    cmd(
        "role",
        1,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST,
        role,
        "Returns the replication role.",
        "2.8.12",
    ),
];
