//! SAVE and BGSAVE (see `persist::bgsave` for the mechanism). Replies are Redis 7.0's.

use super::ctx::{ConnCtx, ConnOutcome};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::persist::bgsave;
use crate::persist::snapstate::ChildKind;
use std::sync::atomic::Ordering;

const IN_PROGRESS: &str = "ERR Background save already in progress";

/// SAVE: every shard stops at a cut while the snapshot is written, as Redis blocks.
fn save(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    if c.st.shared.rdb.child_kind() == Some(ChildKind::Rdb) {
        return Err(CmdError::msg(IN_PROGRESS));
    }
    Ok(ConnOutcome::FanOut(bgsave::save_then(|_, ok, out| if ok { out.ok() } else { out.error("ERR") })))
}

/// BGSAVE [SCHEDULE].
fn bgsave(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let schedule = match a.len() {
        1 => false,
        2 if a.is(1, "SCHEDULE") => true,
        _ => return Err(CmdError::Syntax),
    };
    let rdb = &c.st.shared.rdb;
    match rdb.child_kind() {
        Some(ChildKind::Rdb) => Err(CmdError::msg(IN_PROGRESS)),
        Some(_) if schedule => {
            rdb.scheduled.store(true, Ordering::Relaxed);
            c.out.simple("Background saving scheduled");
            Ok(ConnOutcome::Done)
        }
        Some(_) => Err(CmdError::msg(
            "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
        )),
        None if rdb.cutting.swap(true, Ordering::Relaxed) => Err(CmdError::msg(IN_PROGRESS)),
        None => Ok(ConnOutcome::FanOut(bgsave::bgsave_fanout())),
    }
}

/// BGREWRITEAOF (see `persist::rewrite`).
fn bgrewriteaof(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    match crate::persist::rewrite::command(&c.st.shared) {
        Ok(fan) => Ok(ConnOutcome::FanOut(fan)),
        Err((true, e)) => Err(CmdError::msg(e)),
        Err((false, status)) => {
            c.out.simple(status);
            Ok(ConnOutcome::Done)
        }
    }
}

const fn cmd(name: &'static str, arity: i32, f: super::table::ConnFn, summary: &'static str) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: flag::ADMIN | flag::NOSCRIPT | flag::NO_MULTI,
        keys: KeySpec::None,
        handler: Handler::Conn(f),
        group: "server",
        summary,
        since: "1.0.0",
    }
}

pub static COMMANDS: &[CommandSpec] = &[
    cmd("save", 1, save, "Synchronously saves the database(s) to disk."),
    cmd("bgsave", -1, bgsave, "Asynchronously saves the database(s) to disk."),
    cmd("bgrewriteaof", 1, bgrewriteaof, "Asynchronously rewrites the append-only file to disk."),
];
