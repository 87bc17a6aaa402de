//! Generic key commands.

use super::ctx::ExecCtx;
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};

fn del(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let mut n = 0;
    for i in 1..a.len() {
        if c.db().remove(a.get(i), now).is_some() {
            n += 1;
        }
    }
    c.dirty += n;
    c.out.int(n as i64);
    Ok(())
}

fn exists(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let mut n = 0;
    for i in 1..a.len() {
        if c.db().contains(a.get(i), now) {
            n += 1;
        }
    }
    c.out.int(n);
    Ok(())
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "del",
        arity: -2,
        flags: flag::WRITE,
        keys: KeySpec::Range { first: 1, last: -1, step: 1 },
        handler: Handler::Keyed(del),
        group: "generic",
        summary: "Deletes one or more keys.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "exists",
        arity: -2,
        flags: flag::READONLY | flag::FAST,
        keys: KeySpec::Range { first: 1, last: -1, step: 1 },
        handler: Handler::Keyed(exists),
        group: "generic",
        summary: "Determines whether one or more keys exist.",
        since: "1.0.0",
    },
];
