//! Server commands.

use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use std::sync::Arc;

fn dbsize(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    let db = c.sess.db as usize;
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| Box::new(st.dbs[db].len() as i64)),
        lock_whole: false,
        finish: Box::new(|_, results, out| {
            let total: i64 = results.into_iter().map(|(_, r)| *r.downcast::<i64>().expect("i64")).sum();
            out.int(total);
        }),
    }))
}

fn flushall(_c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(|st| {
            let n: usize = st.dbs.iter().map(|d| d.len()).sum();
            for d in &mut st.dbs {
                d.clear();
            }
            st.dirty += n as u64;
            Box::new(())
        }),
        lock_whole: true,
        finish: Box::new(|_, _, out| out.ok()),
    }))
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "dbsize",
        arity: 1,
        flags: flag::READONLY | flag::FAST,
        keys: KeySpec::None,
        handler: Handler::Conn(dbsize),
        group: "server",
        summary: "Returns the number of keys in the database.",
        since: "1.0.0",
    },
    CommandSpec {
        name: "flushall",
        arity: -1,
        flags: flag::WRITE,
        keys: KeySpec::None,
        handler: Handler::Conn(flushall),
        group: "server",
        summary: "Removes all keys from all databases.",
        since: "1.0.0",
    },
];
