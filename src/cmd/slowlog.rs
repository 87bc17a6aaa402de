//! SLOWLOG and LATENCY: read and reset the per-thread records of slow commands.

use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::shard::slowlog::{LatencyEvent, SlowEntry};
use crate::shard::{HopResult, ShardState};
use std::collections::HashMap;
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
                Box::new(move |_, results, out| {
                    let mut all: Vec<SlowEntry> = results
                        .into_iter()
                        .flat_map(|(_, r)| *r.downcast::<Vec<SlowEntry>>().expect("entries"))
                        .collect();
                    all.sort_by(|x, y| y.id.cmp(&x.id));
                    all.truncate(count);
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
fn merge(results: Vec<(u16, HopResult)>) -> Vec<(&'static str, LatencyEvent)> {
    let mut all: HashMap<&'static str, LatencyEvent> = HashMap::new();
    for (_, r) in results {
        for (name, ev) in *r.downcast::<Vec<(&'static str, LatencyEvent)>>().expect("events") {
            let e = all.entry(name).or_default();
            e.max_ms = e.max_ms.max(ev.max_ms);
            let mut merged: Vec<(u64, u64)> = e.samples.iter().copied().chain(ev.samples).collect();
            merged.sort();
            merged.dedup_by(|b, a| {
                if a.0 == b.0 {
                    a.1 = a.1.max(b.1);
                    true
                } else {
                    false
                }
            });
            e.samples = merged.into_iter().collect();
        }
    }
    let mut v: Vec<_> = all.into_iter().collect();
    v.sort_by_key(|(n, _)| *n);
    v
}

fn latency(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    let events = |st: &mut ShardState| -> HopResult {
        Box::new(st.monitor.latency.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>())
    };
    match (sub.as_str(), a.len()) {
        ("latest", 2) => Ok(fan(
            events,
            Box::new(|_, results, out| {
                let evs = merge(results);
                out.array(evs.len());
                for (name, e) in evs {
                    let (t, ms) = e.samples.back().copied().unwrap_or((0, 0));
                    out.array(4);
                    out.bulk(name.as_bytes());
                    out.int(t as i64);
                    out.int(ms as i64);
                    out.int(e.max_ms as i64);
                }
            }),
        )),
        ("history", 3) => {
            let want = a.get(2).to_vec();
            Ok(fan(
                events,
                Box::new(move |_, results, out| {
                    let evs = merge(results);
                    match evs.into_iter().find(|(n, _)| n.as_bytes() == want.as_slice()) {
                        Some((_, e)) => {
                            out.array(e.samples.len());
                            for (t, ms) in e.samples {
                                out.array(2);
                                out.int(t as i64);
                                out.int(ms as i64);
                            }
                        }
                        None => out.array(0),
                    }
                }),
            ))
        }
        ("reset", _) => {
            let names: Arc<Vec<Vec<u8>>> = Arc::new(a.iter().skip(2).map(|x| x.to_vec()).collect());
            Ok(fan(
                move |st| {
                    let before = st.monitor.latency.len();
                    if names.is_empty() {
                        st.monitor.latency.clear();
                    } else {
                        st.monitor.latency.retain(|k, _| !names.iter().any(|n| n.as_slice() == k.as_bytes()));
                    }
                    Box::new((before - st.monitor.latency.len()) as i64)
                },
                Box::new(|_, results, out| {
                    out.int(results.into_iter().map(|(_, r)| *r.downcast::<i64>().expect("n")).max().unwrap_or(0))
                }),
            ))
        }
        ("help", 2) => help(
            c,
            &[
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HELP",
                "    Prints this help.",
            ],
        ),
        ("latest" | "history" | "help", _) => {
            Err(CmdError::msg(format!("ERR wrong number of arguments for 'latency|{sub}' command")))
        }
        _ => Err(CmdError::msg(format!("ERR unknown subcommand '{}'. Try LATENCY HELP.", a.str(1)))),
    }
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "slowlog",
        arity: -2,
        flags: flag::ADMIN | flag::LOADING | flag::STALE,
        keys: KeySpec::None,
        handler: Handler::Conn(slowlog),
        group: "server",
        summary: "A container for slow log commands.",
        since: "2.2.12",
    },
    CommandSpec {
        name: "latency",
        arity: -2,
        flags: flag::ADMIN | flag::LOADING | flag::STALE,
        keys: KeySpec::None,
        handler: Handler::Conn(latency),
        group: "server",
        summary: "A container for latency diagnostics commands.",
        since: "2.8.13",
    },
];

#[cfg(test)]
mod tests {
    use super::super::harness::{Harness, Reply};

    #[test]
    fn slowlog_records_commands_over_the_threshold_on_every_shard() {
        let mut cfg = crate::config::Config::default();
        cfg.shards = 4;
        cfg.slowlog_log_slower_than = 0;
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

    #[test]
    fn latency_commands_answer_empty_when_nothing_was_slow() {
        let mut h = Harness::new(2);
        assert_eq!(h.run(&["latency", "latest"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["latency", "history", "command"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["latency", "reset"]), Reply::Int(0));
    }
}
