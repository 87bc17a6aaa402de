//! String commands.

use super::ctx::ExecCtx;
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::storage::Value;

fn get(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    let (db, out, stats) = c.parts();
    match db.get(a.get(1), now) {
        Some(e) => match &e.value {
            Value::Str(s) => {
                out.bulk(s);
                stats.keyspace_hits += 1;
            }
        },
        None => {
            out.null();
            stats.keyspace_misses += 1;
        }
    }
    Ok(())
}

fn set(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    c.db().set(a.get(1), Value::Str(a.get(2).to_vec()), 0);
    c.dirty += 1;
    c.out.ok();
    Ok(())
}

fn mset(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    if a.len() % 2 == 0 {
        return Err(CmdError::msg(super::error::wrong_arity("mset")));
    }
    for i in (1..a.len()).step_by(2) {
        c.db().set(a.get(i), Value::Str(a.get(i + 1).to_vec()), 0);
        c.dirty += 1;
    }
    c.out.ok();
    Ok(())
}

fn mget(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    c.out.array(a.len() - 1);
    for i in 1..a.len() {
        let (db, out, _) = c.parts();
        match db.get(a.get(i), now) {
            Some(e) => match &e.value {
                Value::Str(s) => out.bulk(s),
            },
            None => out.null(),
        }
    }
    Ok(())
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: 2,
        flags: flag::READONLY | flag::FAST,
        keys: KeySpec::Range { first: 1, last: 1, step: 1 },
        handler: Handler::Keyed(get),
        group: "string",
        summary: "Returns the string value of a key.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "set",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM,
        keys: KeySpec::Range { first: 1, last: 1, step: 1 },
        handler: Handler::Keyed(set),
        group: "string",
        summary: "Sets the string value of a key, ignoring its type.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "mset",
        arity: -3,
        flags: flag::WRITE | flag::DENYOOM,
        keys: KeySpec::Range { first: 1, last: -1, step: 2 },
        handler: Handler::Keyed(mset),
        group: "string",
        summary: "Atomically creates or modifies the string values of one or more keys.",
        since: "1.0.1",
    },
    CommandSpec {
        name: "mget",
        arity: -2,
        flags: flag::READONLY | flag::FAST,
        keys: KeySpec::Range { first: 1, last: -1, step: 1 },
        handler: Handler::Keyed(mget),
        group: "string",
        summary: "Atomically returns the string values of one or more keys.",
        since: "1.0.0",
    },
];
