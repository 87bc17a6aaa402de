//! LATENCY (DOCTOR, GRAPH, HISTOGRAM, HISTORY, LATEST, RESET, HELP) and INFO
//! latencystats.
//!
//! Two records feed it, both per shard and merged when asked:
//! - latency *events* (`shard::slowlog::Monitor::latency`): with
//!   `latency-monitor-threshold` > 0, a command (`command`, or `fast-command` for a
//!   command flagged fast) or a server activity (`expire-cycle`, ...) that took at
//!   least that many milliseconds leaves a sample, one per second per event, 160 kept;
//! - per-command latency *histograms* (`shard::histogram`), recorded after every call
//!   while `latency-tracking` is on, subcommands apart (`config|get`), as Redis does.
//!
//! The texts (DOCTOR's report, GRAPH's sparkline) follow Redis 7.0's, since tools and
//! people read them.

use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::introspect::{help_reply, sub_arity, unknown_subcommand};
use super::table::{CommandSpec, Handler, KeySpec, TABLE, flag};
use super::{Args, CmdError};
use crate::shard::histogram::CommandHistograms;
use crate::shard::slowlog::LatencyEvent;
use crate::shard::{HopResult, ShardState};
use std::collections::HashMap;
use std::sync::Arc;

/// Records a latency event sample of `ms` milliseconds if monitoring is on and the
/// sample reaches the threshold (Redis's latencyAddSampleIfNeeded).
pub fn add_sample_if_needed(st: &mut ShardState, event: &'static str, ms: u64) {
    let threshold = st.config.latency_monitor_threshold;
    if threshold > 0 && ms >= threshold {
        let secs = st.now_ms / 1000;
        st.monitor.add_latency(event, secs, ms);
    }
}

/// An AOF write that took `ms` from its submission to its completion (replies wait
/// for it, as Redis's wait for its write(2)), under Redis's event names: `aof-write`
/// and one of `aof-write-pending-fsync`, `aof-write-active-child`, `aof-write-alone`;
/// `dsync`: the write carried the `always` fsync (O_DIRECT), so `aof-fsync-always` too.
pub fn aof_write_sample(st: &mut ShardState, ms: u64, pending_fsync: bool, dsync: bool) {
    let threshold = st.config.latency_monitor_threshold;
    if threshold == 0 || ms < threshold {
        return;
    }
    let class = if pending_fsync {
        "aof-write-pending-fsync"
    } else if st.shared.rdb.child_kind().is_some() {
        "aof-write-active-child"
    } else {
        "aof-write-alone"
    };
    add_sample_if_needed(st, class, ms);
    add_sample_if_needed(st, "aof-write", ms);
    if dsync {
        add_sample_if_needed(st, "aof-fsync-always", ms);
    }
}

/// As `add_sample_if_needed`, for work done off a shard's loop (a fork, the AOF
/// rewrite's install): kept in `Shared` and merged into every LATENCY reply.
pub fn add_shared_sample_if_needed(shared: &crate::shard::Shared, event: &'static str, ms: u64) {
    let threshold = shared.config().latency_monitor_threshold;
    if threshold > 0 && ms >= threshold {
        shared.latency_events.add(event, unix_now(), ms);
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn fan(hop: impl Fn(&mut ShardState) -> HopResult + Send + Sync + 'static, finish: super::ctx::Finish) -> ConnOutcome {
    ConnOutcome::FanOut(FanOut { hop: Arc::new(hop), lock_whole: false, finish })
}

fn events_hop(st: &mut ShardState) -> HopResult {
    let mut events: Vec<_> = st.monitor.latency.iter().map(|(k, v)| (*k, v.clone())).collect();
    if st.id == 0 {
        events.extend(st.shared.latency_events.snapshot());
    }
    Box::new(events)
}

/// Every shard's events merged: per second, the largest sample; sorted by name.
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
            let skip = merged.len().saturating_sub(160);
            e.samples = merged.into_iter().skip(skip).collect();
        }
    }
    let mut v: Vec<_> = all.into_iter().collect();
    v.sort_by_key(|(n, _)| *n);
    v
}

/// The label GRAPH puts under a sample: how long ago it was.
fn age_label(elapsed: u64) -> String {
    match elapsed {
        0..60 => format!("{elapsed}s"),
        60..3600 => format!("{}m", elapsed / 60),
        3600..86400 => format!("{}h", elapsed / 3600),
        _ => format!("{}d", elapsed / 86400),
    }
}

/// Redis's sparkline (4 rows, filled, labels underneath), 80 samples per block.
fn sparkline(out: &mut String, samples: &[(u64, String)], min: u64, max: u64) {
    const ROWS: i64 = 4;
    const FILL: &[u8] = b"_o#";
    let steps = FILL.len() as i64 * ROWS;
    let relmax = if max == min { 1.0 } else { (max - min) as f64 };
    for block in samples.chunks(80) {
        let mut row = 0i64;
        loop {
            let mut line = vec![b' '; block.len()];
            let mut more = false;
            for (j, (v, label)) in block.iter().enumerate() {
                let relval = (*v - min) as f64;
                let step = (((relval * steps as f64) as i64) as f64 / relmax) as i64;
                let step = step.clamp(0, steps - 1);
                if row < ROWS {
                    let charidx = step - (ROWS - row - 1) * FILL.len() as i64;
                    more = true;
                    if (0..FILL.len() as i64).contains(&charidx) {
                        line[j] = FILL[charidx as usize];
                    } else if charidx >= FILL.len() as i64 {
                        line[j] = b'|';
                    }
                } else if row - ROWS < 1 {
                    // One blank line between the graph and its labels.
                    more = true;
                    break;
                } else {
                    let at = (row - ROWS - 1) as usize;
                    if let Some(&c) = label.as_bytes().get(at) {
                        more = true;
                        line[j] = c;
                    }
                }
            }
            if !more {
                break;
            }
            row += 1;
            out.push_str(&String::from_utf8_lossy(&line));
            out.push('\n');
        }
    }
}

fn graph(name: &str, e: &LatencyEvent) -> String {
    let now = unix_now();
    let samples: Vec<(u64, String)> = e.samples.iter().map(|&(t, ms)| (ms, age_label(now.saturating_sub(t)))).collect();
    let min = samples.iter().map(|s| s.0).min().unwrap_or(0);
    let max = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let mut s = format!("{name} - high {max} ms, low {min} ms (all time high {} ms)\n", e.max_ms);
    s.push_str(&"-".repeat(80));
    s.push('\n');
    sparkline(&mut s, &samples, min, max);
    s
}

/// Whether this process has anonymous huge pages (DOCTOR advises disabling THP).
fn anon_huge_pages() -> bool {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("AnonHugePages:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()))
        })
        .is_some_and(|kb| kb > 0)
}

/// LATENCY DOCTOR's report (Redis's createLatencyReport).
fn doctor(events: &[(&'static str, LatencyEvent)], cfg: &crate::config::Config) -> String {
    let threshold = cfg.latency_monitor_threshold;
    if events.is_empty() && threshold == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    #[derive(Default)]
    struct Advice {
        slowlog_enabled: bool,
        slowlog_tuning: bool,
        slowlog_inspect: bool,
        scheduler: bool,
        local_disk: bool,
        ssd: bool,
        data_writeback: bool,
        disk_contention: bool,
        no_appendfsync: bool,
        relax_fsync: bool,
        write_load_info: bool,
        hz: bool,
        large_objects: bool,
        mass_eviction: bool,
        disable_thp: bool,
    }
    let mut a = Advice::default();
    let mut count = 0;
    let mut s = String::new();
    let now = unix_now();
    for (i, (name, e)) in events.iter().enumerate() {
        if i == 0 {
            s.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let n = e.samples.len() as u64;
        let sum: u64 = e.samples.iter().map(|s| s.1).sum();
        let avg = sum.checked_div(n).unwrap_or(0);
        let mad =
            e.samples.iter().map(|s| (avg as i64 - s.1 as i64).unsigned_abs()).sum::<u64>().checked_div(n).unwrap_or(0);
        let oldest = e.samples.iter().map(|s| s.0).min().unwrap_or(now);
        let period = now.saturating_sub(oldest).max(1);
        s.push_str(&format!(
            "{}. {name}: {n} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.",
            i + 1,
            period as f64 / n.max(1) as f64,
            e.max_ms
        ));
        match *name {
            "command" => {
                if cfg.slowlog_log_slower_than < 0 {
                    a.slowlog_enabled = true;
                    count += 1;
                } else if (cfg.slowlog_log_slower_than / 1000) as u64 > threshold {
                    a.slowlog_tuning = true;
                    count += 1;
                }
                a.slowlog_inspect = true;
                a.large_objects = true;
                count += 2;
            }
            "fast-command" => {
                a.scheduler = true;
                count += 1;
            }
            "aof-write-pending-fsync" => {
                (a.local_disk, a.disk_contention, a.ssd, a.data_writeback) = (true, true, true, true);
                count += 4;
            }
            "aof-write-active-child" => {
                (a.no_appendfsync, a.data_writeback, a.ssd) = (true, true, true);
                count += 3;
            }
            "aof-write-alone" => {
                (a.local_disk, a.data_writeback, a.ssd) = (true, true, true);
                count += 3;
            }
            "aof-fsync-always" => {
                a.relax_fsync = true;
                count += 1;
            }
            "aof-fstat" | "rdb-unlink-temp-file" => {
                (a.disk_contention, a.local_disk) = (true, true);
                count += 2;
            }
            "aof-rewrite-diff-write" | "aof-rename" => {
                (a.write_load_info, a.data_writeback, a.ssd, a.local_disk) = (true, true, true, true);
                count += 4;
            }
            "expire-cycle" => {
                (a.hz, a.large_objects) = (true, true);
                count += 2;
            }
            "eviction-del" => {
                a.large_objects = true;
                count += 1;
            }
            "eviction-cycle" => {
                a.mass_eviction = true;
                count += 1;
            }
            _ => {}
        }
        s.push('\n');
    }
    if anon_huge_pages() {
        a.disable_thp = true;
        count += 1;
    }
    if events.is_empty() && count == 0 {
        s.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return s;
    }
    if count == 0 {
        s.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your message.\n");
        return s;
    }
    s.push_str("\nI have a few advices for you:\n\n");
    let slow = threshold * 1000;
    if a.slowlog_enabled {
        s.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {slow}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"));
    }
    if a.slowlog_tuning {
        s.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {slow}'.\n"));
    }
    if a.slowlog_inspect {
        s.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    }
    if a.scheduler {
        s.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
    }
    if a.local_disk {
        s.push_str("- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n");
    }
    if a.ssd {
        s.push_str("- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n");
    }
    if a.data_writeback {
        s.push_str("- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n");
    }
    if a.disk_contention {
        s.push_str("- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
    }
    if a.no_appendfsync {
        s.push_str("- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n");
    }
    if a.relax_fsync && cfg.appendfsync == crate::config::Fsync::Always {
        s.push_str("- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n");
    }
    if a.write_load_info {
        s.push_str("- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n");
    }
    if a.hz && cfg.hz < 100 {
        s.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
    }
    if a.large_objects {
        s.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    if a.mass_eviction {
        s.push_str("- Sorry, Dave, your memory usage is pretty high. Remove some keys or lower the maxmemory-policy setting so that fewer keys are evicted, only the objects needed to remain in memory.\n");
    }
    if a.disable_thp {
        s.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
    }
    s
}

fn histograms_hop(st: &mut ShardState) -> HopResult {
    Box::new(st.stats.latency.clone())
}

fn merged_histograms(results: Vec<(u16, HopResult)>) -> CommandHistograms {
    let mut all = CommandHistograms::default();
    for (_, r) in results {
        all.merge(&r.downcast::<CommandHistograms>().expect("histograms"));
    }
    all
}

/// (full name, histogram) of every tracked command, commands before subcommands.
fn named(all: &CommandHistograms) -> Vec<(&'static str, &crate::shard::histogram::Histogram)> {
    let mut v: Vec<_> = all
        .by_command
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.as_deref().filter(|h| h.total > 0).map(|h| (TABLE.get(i as u16).name, h)))
        .collect();
    v.extend(all.by_subcommand.iter().filter(|(_, h)| h.total > 0).map(|(n, h)| (*n, h)));
    v
}

/// INFO latencystats: `latency_percentiles_usec_<cmd>:p50=…,p99=…,p99.9=…`.
pub fn render_info(all: &CommandHistograms, cfg: &crate::config::Config, s: &mut String) {
    let pcts: Vec<f64> = cfg
        .compat_value("latency-tracking-info-percentiles")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    for (name, h) in named(all) {
        s.push_str("latency_percentiles_usec_");
        s.push_str(name);
        s.push(':');
        for (i, p) in pcts.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("p{}={:.3}", p, h.value_at_percentile(*p) as f64 / 1000.0));
        }
        s.push_str("\r\n");
    }
}

const HELP: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
];

fn latency(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    match sub.as_str() {
        "latest" => {
            sub_arity(a, "latency|latest", 2)?;
            Ok(fan(
                events_hop,
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
            ))
        }
        "history" | "graph" => {
            sub_arity(a, &format!("latency|{sub}"), 3)?;
            let want = a.get(2).to_vec();
            let is_graph = sub == "graph";
            Ok(fan(
                events_hop,
                Box::new(move |_, results, out| {
                    let found = merge(results).into_iter().find(|(n, _)| n.as_bytes() == want.as_slice());
                    match (found, is_graph) {
                        (Some((_, e)), false) => {
                            out.array(e.samples.len());
                            for (t, ms) in e.samples {
                                out.array(2);
                                out.int(t as i64);
                                out.int(ms as i64);
                            }
                        }
                        (None, false) => out.array(0),
                        (Some((name, e)), true) => out.verbatim(b"txt", graph(name, &e).as_bytes()),
                        (None, true) => out
                            .error(&format!("ERR No samples available for event '{}'", String::from_utf8_lossy(&want))),
                    }
                }),
            ))
        }
        "doctor" => {
            sub_arity(a, "latency|doctor", 2)?;
            Ok(fan(
                events_hop,
                Box::new(|st, results, out| {
                    let report = doctor(&merge(results), &st.config);
                    out.verbatim(b"txt", report.as_bytes());
                }),
            ))
        }
        "histogram" => {
            let names: Vec<Vec<u8>> = a.iter().skip(2).map(|x| x.to_ascii_lowercase()).collect();
            Ok(fan(
                histograms_hop,
                Box::new(move |_, results, out| {
                    let all = merged_histograms(results);
                    let mut chosen = named(&all);
                    if !names.is_empty() {
                        // A container's name brings its subcommands, as in Redis; each
                        // command once, whatever the arguments repeat.
                        chosen.retain(|(n, _)| {
                            let parent = n.split('|').next().unwrap_or(n);
                            names.iter().any(|w| w.as_slice() == n.as_bytes() || w.as_slice() == parent.as_bytes())
                        });
                    }
                    out.map(chosen.len());
                    for (name, h) in chosen {
                        out.bulk(name.as_bytes());
                        out.map(2);
                        out.bulk(b"calls");
                        out.int(h.total as i64);
                        out.bulk(b"histogram_usec");
                        let buckets = h.cumulative_usec();
                        out.map(buckets.len());
                        for (us, n) in buckets {
                            out.int(us as i64);
                            out.int(n as i64);
                        }
                    }
                }),
            ))
        }
        "reset" => {
            let names: Arc<Vec<Vec<u8>>> = Arc::new(a.iter().skip(2).map(|x| x.to_vec()).collect());
            Ok(fan(
                move |st| {
                    // Each shard names the events it forgot: the reply counts distinct
                    // event names, as a single Redis would.
                    let picked = |k: &str| names.is_empty() || names.iter().any(|n| n.as_slice() == k.as_bytes());
                    let mut gone: Vec<&'static str> =
                        st.monitor.latency.keys().copied().filter(|k| picked(k)).collect();
                    st.monitor.latency.retain(|k, _| !picked(k));
                    if st.id == 0 {
                        gone.extend(st.shared.latency_events.reset(picked));
                    }
                    Box::new(gone)
                },
                Box::new(|_, results, out| {
                    let mut all: Vec<&'static str> = results
                        .into_iter()
                        .flat_map(|(_, r)| *r.downcast::<Vec<&'static str>>().expect("event names"))
                        .collect();
                    all.sort_unstable();
                    all.dedup();
                    out.int(all.len() as i64)
                }),
            ))
        }
        "help" => {
            sub_arity(a, "latency|help", 2)?;
            help_reply(&mut c.out, "LATENCY", HELP);
            Ok(ConnOutcome::Done)
        }
        _ => Err(unknown_subcommand(a)),
    }
}

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "latency",
    arity: -2,
    flags: flag::ADMIN | flag::LOADING | flag::STALE,
    keys: KeySpec::None,
    handler: Handler::Conn(latency),
    group: "server",
    summary: "A container for latency diagnostics commands.",
    since: "2.8.13",
}];

#[cfg(test)]
mod tests {
    use super::super::harness::{Harness, Reply};
    use crate::shard::slowlog::LatencyEvent;

    #[test]
    fn latency_commands_answer_empty_when_nothing_was_slow() {
        let mut h = Harness::new(2);
        assert_eq!(h.run(&["latency", "latest"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["latency", "history", "command"]), Reply::Array(vec![]));
        assert_eq!(h.run(&["latency", "reset"]), Reply::Int(0));
        assert_eq!(
            h.run(&["latency", "graph", "command"]),
            Reply::Error("ERR No samples available for event 'command'".into())
        );
    }

    #[test]
    fn sparkline_matches_redis() {
        let now = super::unix_now();
        let e = LatencyEvent { samples: [(now - 1, 23), (now, 50)].into_iter().collect(), max_ms: 50 };
        let g = super::graph("command", &e);
        let want = format!(
            "command - high 50 ms, low 23 ms (all time high 50 ms)\n{}\n #\n |\n |\n_|\n  \n10\nss\n",
            "-".repeat(80)
        );
        assert_eq!(g, want);
    }

    #[test]
    fn doctor_reports_each_event() {
        let cfg = crate::config::Config { latency_monitor_threshold: 1, ..Default::default() };
        let now = super::unix_now();
        let e = LatencyEvent { samples: [(now - 1, 23), (now, 50)].into_iter().collect(), max_ms: 50 };
        let r = super::doctor(&[("command", e)], &cfg);
        assert!(r.contains("1. command: 2 latency spikes (average 36ms, mean deviation 13ms, period 0.50 sec). Worst all time event 50ms."), "{r}");
        assert!(r.contains("Please use 'CONFIG SET slowlog-log-slower-than 1000'"), "{r}");
        let off = super::doctor(&[], &crate::config::Config::default());
        assert!(off.starts_with("I'm sorry, Dave"));
    }
}
