//! SLOWLOG: read and reset the per-thread records of slow commands (LATENCY is in
//! `latency`).

use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::shard::slowlog::SlowEntry;
use crate::shard::{HopResult, ShardState};
use std::sync::Arc;

fn help(c: &mut ConnCtx, lines: &[&str]) -> Result<ConnOutcome, CmdError> {
    c.out.array(lines.len());
    for l in lines {
        c.out.simple(l);
    }
    Ok(ConnOutcome::Done)
}

fn fan(hop: impl Fn(&mut ShardState) -> HopResult + Send + Sync + 'static, finish: super::ctx::Finish) -> ConnOutcome {
    ConnOutcome::FanOut(FanOut { hop: Arc::new(hop), lock_whole: false, finish })
}

fn slowlog(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    match (sub.as_str(), a.len()) {
        ("get", 2 | 3) => {
            let count = if a.len() == 3 {
                let n = a.i64(2)?;
                if n < -1 {
                    return Err(CmdError::msg("ERR count should be greater than or equal to -1"));
                }
                if n == -1 { usize::MAX } else { n as usize }
            } else {
                10
            };
            Ok(fan(
                |st| Box::new(st.monitor.slowlog.iter().cloned().collect::<Vec<SlowEntry>>()),
                Box::new(move |st, results, out| {
                    let mut all: Vec<SlowEntry> = results
                        .into_iter()
                        .flat_map(|(_, r)| *r.downcast::<Vec<SlowEntry>>().expect("entries"))
                        .collect();
                    all.sort_by_key(|e| std::cmp::Reverse(e.id));
                    // Each shard keeps up to slowlog-max-len entries; the server's log
                    // is the newest that many of them all, as LEN counts it.
                    all.truncate(count.min(st.config.slowlog_max_len as usize));
                    out.array(all.len());
                    for e in all {
                        out.array(6);
                        out.int(e.id as i64);
                        out.int(e.unix_secs as i64);
                        out.int(e.micros as i64);
                        out.array(e.args.len());
                        for arg in &e.args {
                            out.bulk(arg);
                        }
                        out.bulk(e.addr.as_bytes());
                        out.bulk(e.name.as_bytes());
                    }
                }),
            ))
        }
        ("len", 2) => Ok(fan(
            |st| Box::new(st.monitor.slowlog.len() as i64),
            Box::new(|st, results, out| {
                let n: i64 = results.into_iter().map(|(_, r)| *r.downcast::<i64>().expect("len")).sum();
                out.int(n.min(st.config.slowlog_max_len as i64));
            }),
        )),
        ("reset", 2) => Ok(fan(
            |st| {
                st.monitor.slowlog.clear();
                Box::new(())
            },
            Box::new(|_, _, out| out.ok()),
        )),
        ("help", 2) => help(
            c,
            &[
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Prints this help.",
            ],
        ),
        ("get" | "len" | "reset" | "help", _) => {
            Err(CmdError::msg(format!("ERR wrong number of arguments for 'slowlog|{sub}' command")))
        }
        _ => Err(CmdError::msg(format!("ERR unknown subcommand '{}'. Try SLOWLOG HELP.", a.str(1)))),
    }
}

/// Latency events of every shard merged by name: samples combined per second (max).
pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "slowlog",
    arity: -2,
    flags: flag::ADMIN | flag::LOADING | flag::STALE,
    keys: KeySpec::None,
    handler: Handler::Conn(slowlog),
    group: "server",
    summary: "A container for slow log commands.",
    since: "2.2.12",
}];

#[cfg(test)]
mod tests {
    use super::super::harness::{Harness, Reply};

    #[test]
    fn slowlog_records_commands_over_the_threshold_on_every_shard() {
        let cfg = crate::config::Config { shards: 4, slowlog_log_slower_than: 0, ..Default::default() };
        let mut h = Harness::with_config(cfg);
        h.run(&["slowlog", "reset"]);
        for k in ["a", "b", "c", "d", "e"] {
            h.run(&["set", k, "v"]);
        }
        let Reply::Int(n) = h.run(&["slowlog", "len"]) else { panic!() };
        assert!(n >= 5, "{n}");
        let Reply::Array(entries) = h.run(&["slowlog", "get", "2"]) else { panic!() };
        assert_eq!(entries.len(), 2);
        let Reply::Array(e) = &entries[0] else { panic!() };
        assert_eq!(e.len(), 6);
        assert_eq!(h.run(&["slowlog", "reset"]), Reply::Simple("OK".into()));
        let Reply::Int(n) = h.run(&["slowlog", "len"]) else { panic!() };
        assert!(n <= 1, "only the LEN call itself may remain: {n}");
        assert!(matches!(h.run(&["slowlog", "nope"]), Reply::Error(e) if e.contains("Try SLOWLOG HELP")));
    }
}
