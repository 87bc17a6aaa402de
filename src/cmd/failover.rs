//! FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: checks and replies exactly as
//! Redis 7.0's `failoverCommand`; the coordination itself (pausing writes, waiting for
//! the target, handing over) is `repl::failover`.

use super::table::{CommandSpec, flag};
use super::{Args, CmdError, ConnCtx, ConnOutcome};
use crate::repl::failover::{self, Phase};
use crate::util::log;

fn failover_cmd(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let shared = c.st.shared.clone();
    if shared.cluster.enabled {
        return Err(CmdError::msg("ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead."));
    }
    if a.len() == 2 && a.is(1, "abort") {
        if failover::phase(&shared) == Phase::None {
            return Err(CmdError::msg("ERR No failover in progress."));
        }
        failover::abort(&shared, "Failover manually aborted");
        c.out.ok();
        return Ok(ConnOutcome::Done);
    }
    let (mut timeout_ms, mut force, mut target) = (0i64, false, None::<(String, i64)>);
    let mut i = 1;
    while i < a.len() {
        if a.is(i, "timeout") && i + 1 < a.len() && timeout_ms == 0 {
            timeout_ms = a.i64(i + 1)?;
            if timeout_ms <= 0 {
                return Err(CmdError::msg("ERR FAILOVER timeout must be greater than 0"));
            }
            i += 2;
        } else if a.is(i, "to") && i + 2 < a.len() && target.is_none() {
            let port = a.i64(i + 2)?;
            target = Some((a.str(i + 1), port));
            i += 3;
        } else if a.is(i, "force") && !force {
            force = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if failover::phase(&shared) != Phase::None {
        return Err(CmdError::msg("ERR FAILOVER already in progress."));
    }
    if shared.repl.is_replica() {
        return Err(CmdError::msg("ERR FAILOVER is not valid when server is a replica."));
    }
    let rows = shared.repl.pub_info.rows.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if rows.is_empty() {
        return Err(CmdError::msg("ERR FAILOVER requires connected replicas."));
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return Err(CmdError::msg("ERR FAILOVER with force option requires both a timeout and target HOST and IP."));
    }
    let target = match target {
        Some((host, port)) => {
            let Some(row) = rows.iter().find(|r| r.ip.eq_ignore_ascii_case(&host) && r.port as i64 == port) else {
                return Err(CmdError::msg("ERR FAILOVER target HOST and PORT is not a replica."));
            };
            if row.state != "online" {
                return Err(CmdError::msg("ERR FAILOVER target replica is not online."));
            }
            log::notice(&format!("FAILOVER requested to {host}:{port}."));
            Some((host, row.port))
        }
        None => {
            log::notice("FAILOVER requested to any replica.");
            None
        }
    };
    failover::begin(c.st, target, timeout_ms as u64, force);
    c.out.ok();
    Ok(ConnOutcome::Done)
}

use super::server::server as cmd;

pub static COMMANDS: &[CommandSpec] = &[cmd(
    "failover",
    -1,
    flag::ADMIN | flag::NOSCRIPT | flag::STALE,
    failover_cmd,
    "Starts a coordinated failover from a server to one of its replicas.",
    "6.2.0",
)];
