//! INFO: the server's report about itself, in Redis 7's sections and field names so
//! that monitoring tools and client libraries parse it unchanged.
//!
//! Per-shard facts (command and traffic counters, key counts, changes since the last
//! save, dataset size) are gathered with one fan-out and summed; process-wide facts
//! (uptime, clients, configuration, CPU, RSS) are read on the coordinating thread.
//!
//! The `# Memory` section is rendered by `cmd::memory` from the allocator's figures.
//! Estimates, documented where they are produced: `avg_ttl` is extrapolated from a
//! sample of each database; the `instantaneous_*` rates are
//! measured between successive INFO calls (a window of one to ten seconds), so the
//! first INFO after a quiet period reports 0.
//!
//! `errorstats` counts the error replies sent by the connection layer and the command
//! choke points; errors inside EXEC from connection-level commands count only there.

use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::table::{CommandSpec, Handler, KeySpec, TABLE, flag};
use super::{Args, CmdError};
use crate::shard::{ShardState, ShardStats};
use crate::storage::Db;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// Every section we produce, in Redis's output order.
const ORDER: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// What `INFO` and `INFO default` show.
const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Entries sampled per database for the dataset-size and TTL estimates: INFO must stay
/// cheap on a large keyspace (it blocks the shard while it runs).
const SAMPLE: usize = 16 * 1024;

/// The sections a request asks for, in output order.
fn requested(a: &Args) -> Vec<&'static str> {
    let mut want: Vec<&'static str> = Vec::new();
    if a.len() == 1 {
        want.extend(DEFAULT);
    }
    for i in 1..a.len() {
        let s = a.str(i).to_ascii_lowercase();
        match s.as_str() {
            "default" => want.extend(DEFAULT),
            "all" | "everything" => want.extend(ORDER),
            other => want.extend(ORDER.iter().filter(|n| **n == other)),
        }
    }
    ORDER.iter().copied().filter(|s| want.contains(s)).collect()
}

/// One database's share on one shard.
#[derive(Clone, Copy, Default)]
struct DbFacts {
    keys: u64,
    expires: u64,
    /// Sum and count of the remaining TTLs seen in the sample.
    ttl_sum: u128,
    ttl_n: u64,
}

/// What one shard contributes.
struct ShardFacts {
    stats: ShardStats,
    dbs: Vec<DbFacts>,
    dirty: u64,
    /// Ids of clients blocked on this shard's keys (deduplicated across shards, as a
    /// wait spanning shards has a part on each).
    blocked: Vec<u64>,
    /// Clients held by CLIENT PAUSE here.
    paused: usize,
    pubsub_channels: Vec<Vec<u8>>,
    pubsub_patterns: Vec<Vec<u8>>,
}

/// TTL statistics of one database, extrapolated from the first `SAMPLE` entries.
fn scan_db(db: &Db, now: u64) -> DbFacts {
    let mut f = DbFacts { keys: db.len() as u64, expires: db.volatile_len() as u64, ..Default::default() };
    for (_, _, expire_at) in db.iter_with_expire().take(SAMPLE) {
        if expire_at > now {
            f.ttl_sum += (expire_at - now) as u128;
            f.ttl_n += 1;
        }
    }
    f
}

fn gather(st: &mut ShardState, want_keyspace: bool) -> ShardFacts {
    let now = st.now_ms;
    let mut dbs = Vec::with_capacity(st.dbs.len());
    for db in &st.dbs {
        if want_keyspace && db.volatile_len() > 0 {
            dbs.push(scan_db(db, now));
        } else {
            dbs.push(DbFacts { keys: db.len() as u64, expires: db.volatile_len() as u64, ..Default::default() });
        }
    }
    ShardFacts {
        stats: st.stats.clone(),
        dbs,
        dirty: st.dirty,
        blocked: st.blocked.client_ids(),
        paused: st.paused_clients,
        pubsub_channels: st.pubsub.channels(None),
        pubsub_patterns: st.pubsub.patterns(),
    }
}

/// A counters sample for the instantaneous rates.
#[derive(Clone, Copy)]
struct Sample {
    ms: u64,
    cmds: u64,
    net_in: u64,
    net_out: u64,
}

/// Recent samples per server (keyed by run id, so servers in one test process do not
/// mix).
static SAMPLES: Mutex<Option<HashMap<String, VecDeque<Sample>>>> = Mutex::new(None);

/// Forgets the samples (CONFIG RESETSTAT zeroes the counters they difference).
pub fn reset_rate_samples(run_id: &str) {
    let mut g = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = g.as_mut() {
        m.remove(run_id);
    }
}

/// Records `now` and returns (ops/sec, input KB/s, output KB/s) since the newest
/// sample that is at least a second old (or the oldest, if none is), provided it is
/// at most ten seconds old.
fn rates(run_id: &str, now: Sample) -> (u64, f64, f64) {
    let mut g = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    let q = g.get_or_insert_with(HashMap::new).entry(run_id.to_string()).or_default();
    while q.len() >= 2 && now.ms.saturating_sub(q[1].ms) >= 1000 {
        q.pop_front();
    }
    let base = q.front().copied();
    q.push_back(now);
    // Bound the queue under a tight INFO loop.
    while q.len() > 64 {
        q.remove(1);
    }
    let Some(b) = base else { return (0, 0.0, 0.0) };
    let dt = now.ms.saturating_sub(b.ms);
    if dt == 0 || dt > 10_000 {
        return (0, 0.0, 0.0);
    }
    let secs = dt as f64 / 1000.0;
    let ops = now.cmds.saturating_sub(b.cmds) * 1000 / dt;
    let kin = now.net_in.saturating_sub(b.net_in) as f64 / 1024.0 / secs;
    let kout = now.net_out.saturating_sub(b.net_out) as f64 / 1024.0 / secs;
    (ops, kin, kout)
}

/// Redis's bytesToHuman.
pub fn human_bytes(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else {
        format!("{:.2}P", d / (K * K * K * K * K))
    }
}

/// (user, system, children user, children system) CPU seconds from /proc/self/stat.
/// The kernel reports these in USER_HZ ticks, which the Linux ABI fixes at 100 per
/// second on every architecture we run on (reading sysconf would need `unsafe`).
fn cpu_times() -> (f64, f64, f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return (0.0, 0.0, 0.0, 0.0) };
    // The command name (field 2) may contain spaces; fields resume after its ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return (0.0, 0.0, 0.0, 0.0) };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) is index 11.
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) as f64 / 100.0;
    (tick(11), tick(12), tick(13), tick(14))
}

fn os_name() -> String {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default();
    let mut kind = read("/proc/sys/kernel/ostype");
    if kind.is_empty() {
        kind = "Linux".into();
    }
    format!("{kind} {} {}", read("/proc/sys/kernel/osrelease"), std::env::consts::ARCH)
}

/// Writes `name:value\r\n`.
macro_rules! field {
    ($s:expr, $name:expr, $($arg:tt)*) => {{
        let _ = write!($s, "{}:", $name);
        let _ = write!($s, $($arg)*);
        $s.push_str("\r\n");
    }};
}

/// One `cmdstat_<name>` line of INFO commandstats.
fn command_stat_line(s: &mut String, name: &str, c: &crate::shard::stats::CmdStat) {
    let per = if c.calls == 0 { 0.0 } else { c.usec as f64 / c.calls as f64 };
    field!(
        s,
        format!("cmdstat_{name}"),
        "calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}",
        c.calls,
        c.usec,
        c.rejected_calls,
        c.failed_calls
    );
}

fn render(st: &ShardState, sections: &[&str], facts: Vec<ShardFacts>) -> String {
    let shared = &st.shared;
    let cfg = &st.config;
    let mut stats = ShardStats::default();
    let ndb = st.dbs.len();
    let mut dbs = vec![DbFacts::default(); ndb];
    let mut blocked: std::collections::HashSet<u64> = Default::default();
    let mut paused = 0;
    let mut channels: std::collections::HashSet<&[u8]> = Default::default();
    let mut patterns: std::collections::HashSet<&[u8]> = Default::default();
    for f in &facts {
        stats.merge(&f.stats);
        for (acc, d) in dbs.iter_mut().zip(&f.dbs) {
            acc.keys += d.keys;
            acc.expires += d.expires;
            acc.ttl_sum += d.ttl_sum;
            acc.ttl_n += d.ttl_n;
        }
        blocked.extend(f.blocked.iter().copied());
        paused += f.paused;
        channels.extend(f.pubsub_channels.iter().map(|c| c.as_slice()));
        patterns.extend(f.pubsub_patterns.iter().map(|c| c.as_slice()));
    }
    let rdb = &shared.rdb;
    let dirty = rdb.changes(facts.iter().enumerate().map(|(i, f)| (i, f.dirty)));
    let now_us = st.clock.now_us();
    let now_ms = now_us / 1000;
    let uptime = shared.started.elapsed().as_secs();
    let mut s = String::with_capacity(4096);
    for (i, sec) in sections.iter().enumerate() {
        if i > 0 {
            s.push_str("\r\n");
        }
        match *sec {
            "server" => {
                s.push_str("# Server\r\n");
                field!(s, "redis_version", "{}", super::connection::REDIS_VERSION);
                field!(s, "redis_git_sha1", "00000000");
                field!(s, "redis_git_dirty", "0");
                field!(s, "redis_build_id", "0");
                field!(s, "redis_mode", "standalone");
                field!(s, "os", "{}", os_name());
                field!(s, "arch_bits", "{}", usize::BITS);
                field!(s, "monotonic_clock", "POSIX clock_gettime");
                field!(s, "multiplexing_api", "io_uring");
                field!(s, "atomicvar_api", "c11-builtin");
                field!(s, "gcc_version", "0.0.0");
                field!(s, "process_id", "{}", std::process::id());
                field!(s, "process_supervised", "no");
                field!(s, "run_id", "{}", shared.run_id);
                field!(s, "tcp_port", "{}", shared.port.load(Ordering::Relaxed));
                field!(s, "server_time_usec", "{now_us}");
                field!(s, "uptime_in_seconds", "{uptime}");
                field!(s, "uptime_in_days", "{}", uptime / 86400);
                let clients = shared.connected_clients.load(Ordering::Relaxed);
                field!(s, "hz", "{}", crate::shard::turns::effective_hz(cfg, clients));
                field!(s, "configured_hz", "{}", cfg.hz);
                field!(s, "lru_clock", "{}", (now_ms / 1000) & ((1 << 24) - 1));
                field!(s, "executable", "{}", shared.executable);
                let file = shared
                    .config_file
                    .as_ref()
                    .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()).display().to_string());
                field!(s, "config_file", "{}", file.unwrap_or_default());
                field!(s, "io_threads_active", "0");
                if let Some(ms) = crate::repl::shutdown::remaining_ms(shared) {
                    field!(s, "shutdown_in_milliseconds", "{ms}");
                }
                field!(s, "shardis_version", "{}", env!("CARGO_PKG_VERSION"));
                field!(s, "shards", "{}", st.nshards);
            }
            "clients" => {
                s.push_str("# Clients\r\n");
                field!(s, "connected_clients", "{}", shared.connected_clients.load(Ordering::Relaxed));
                field!(s, "cluster_connections", "0");
                field!(s, "maxclients", "{}", cfg.maxclients);
                field!(s, "client_recent_max_input_buffer", "0");
                field!(s, "client_recent_max_output_buffer", "0");
                field!(s, "blocked_clients", "{}", blocked.len() + paused);
                field!(s, "tracking_clients", "{}", shared.tracking.clients.load(Ordering::Relaxed));
                field!(s, "clients_in_timeout_table", "0");
            }
            "memory" => {
                let keys = dbs.iter().map(|d| d.keys).sum();
                let expires = dbs.iter().map(|d| d.expires).sum();
                super::memory::info_section(&mut s, shared, cfg, keys, expires);
                field!(s, "lazyfree_pending_objects", "{}", crate::shard::lazyfree::pending_objects());
                field!(s, "lazyfreed_objects", "{}", crate::shard::lazyfree::freed_objects());
            }
            "persistence" => {
                s.push_str("# Persistence\r\n");
                field!(s, "loading", "0");
                field!(s, "async_loading", "0");
                field!(s, "current_cow_peak", "0");
                field!(s, "current_cow_size", "0");
                field!(s, "current_cow_size_age", "0");
                field!(s, "current_fork_perc", "0.00");
                field!(s, "current_save_keys_processed", "0");
                field!(s, "current_save_keys_total", "0");
                let r = Ordering::Relaxed;
                let child = rdb.child().as_ref().map(|c| (c.kind, c.started_ms));
                let bg_since = match child {
                    Some((crate::persist::snapstate::ChildKind::Rdb, t)) => Some(t),
                    _ => None,
                };
                let real_ms = crate::shard::Shared::now_unix_ms();
                field!(s, "rdb_changes_since_last_save", "{dirty}");
                field!(s, "rdb_bgsave_in_progress", "{}", u8::from(bg_since.is_some()));
                field!(s, "rdb_last_save_time", "{}", shared.lastsave.load(r));
                field!(s, "rdb_last_bgsave_status", "{}", if rdb.last_bgsave_ok.load(r) { "ok" } else { "err" });
                field!(s, "rdb_last_bgsave_time_sec", "{}", rdb.last_bgsave_secs.load(r));
                let cur = bg_since.map(|t| (real_ms.saturating_sub(t) / 1000) as i64).unwrap_or(-1);
                field!(s, "rdb_current_bgsave_time_sec", "{cur}");
                field!(s, "rdb_saves", "{}", rdb.saves.load(r));
                field!(s, "rdb_last_cow_size", "{}", rdb.last_cow_bytes.load(r));
                field!(s, "rdb_last_load_keys_expired", "{}", rdb.load_expired.load(r));
                field!(s, "rdb_last_load_keys_loaded", "{}", rdb.load_keys.load(r));
                let aof = &shared.aof;
                let sum = |f: fn(&crate::persist::AofInfo) -> u64| aof.iter().map(f).sum::<u64>();
                let r = Ordering::Relaxed;
                let aof_on = aof.iter().any(|a| a.enabled.load(r));
                let aof_err = aof.iter().any(|a| a.write_error.load(r));
                let rw = &shared.aofrw;
                let aof_on = aof_on || rw.waiting.load(r);
                field!(s, "aof_enabled", "{}", u8::from(aof_on));
                let rw_since = match child {
                    Some((crate::persist::snapstate::ChildKind::Aof, t)) => Some(t),
                    _ => None,
                };
                let rw_running = rw_since.is_some() || rw.cutting.load(r);
                field!(s, "aof_rewrite_in_progress", "{}", u8::from(rw_running));
                let scheduled = rw.scheduled.load(r) && !rw_running;
                field!(s, "aof_rewrite_scheduled", "{}", u8::from(scheduled));
                field!(s, "aof_last_rewrite_time_sec", "{}", rw.last_secs.load(r));
                let cur = rw_since.map(|t| (real_ms.saturating_sub(t) / 1000) as i64).unwrap_or(-1);
                field!(s, "aof_current_rewrite_time_sec", "{cur}");
                field!(s, "aof_last_bgrewrite_status", "{}", if rw.last_ok.load(r) { "ok" } else { "err" });
                field!(s, "aof_rewrites", "{}", rw.rewrites.load(r));
                field!(s, "aof_rewrites_consecutive_failures", "{}", rw.failures.load(r));
                field!(s, "aof_last_write_status", "{}", if aof_err { "err" } else { "ok" });
                field!(s, "aof_last_cow_size", "{}", rw.last_cow_bytes.load(r));
                field!(s, "module_fork_in_progress", "0");
                field!(s, "module_fork_last_cow_size", "0");
                if aof_on {
                    field!(s, "aof_current_size", "{}", sum(|a| a.current_size.load(Ordering::Relaxed)));
                    field!(s, "aof_base_size", "{}", sum(|a| a.base_size.load(Ordering::Relaxed)));
                    field!(s, "aof_pending_rewrite", "{}", u8::from(scheduled));
                    field!(s, "aof_buffer_length", "{}", sum(|a| a.buffer_length.load(Ordering::Relaxed)));
                    field!(s, "aof_pending_bio_fsync", "{}", sum(|a| a.pending_fsync.load(Ordering::Relaxed)));
                    field!(s, "aof_delayed_fsync", "{}", sum(|a| a.delayed_fsync.load(Ordering::Relaxed)));
                }
            }
            "stats" => {
                let sample = Sample {
                    ms: now_ms,
                    cmds: stats.total_commands,
                    net_in: stats.net_input_bytes,
                    net_out: stats.net_output_bytes,
                };
                let (ops, kin, kout) = rates(&shared.run_id, sample);
                s.push_str("# Stats\r\n");
                field!(s, "total_connections_received", "{}", stats.total_connections);
                field!(s, "total_commands_processed", "{}", stats.total_commands);
                field!(s, "instantaneous_ops_per_sec", "{ops}");
                field!(s, "total_net_input_bytes", "{}", stats.net_input_bytes);
                field!(s, "total_net_output_bytes", "{}", stats.net_output_bytes);
                field!(s, "total_net_repl_input_bytes", "0");
                field!(s, "total_net_repl_output_bytes", "0");
                field!(s, "instantaneous_input_kbps", "{kin:.2}");
                field!(s, "instantaneous_output_kbps", "{kout:.2}");
                field!(s, "instantaneous_input_repl_kbps", "0.00");
                field!(s, "instantaneous_output_repl_kbps", "0.00");
                field!(s, "rejected_connections", "{}", stats.rejected_connections);
                crate::repl::info::sync_stats(shared, &mut s);
                field!(s, "expired_keys", "{}", stats.expired_keys);
                field!(s, "evicted_keys", "{}", stats.evicted_keys);
                field!(s, "evicted_clients", "{}", stats.evicted_clients);
                field!(s, "keyspace_hits", "{}", stats.keyspace_hits);
                field!(s, "keyspace_misses", "{}", stats.keyspace_misses);
                field!(s, "pubsub_channels", "{}", channels.len());
                field!(s, "pubsub_patterns", "{}", patterns.len());
                field!(s, "pubsubshard_channels", "0");
                field!(s, "latest_fork_usec", "{}", rdb.latest_fork_usec.load(Ordering::Relaxed));
                field!(s, "total_forks", "{}", rdb.total_forks.load(Ordering::Relaxed));
                // Ours: how long the last cut stopped every shard (fork included).
                field!(s, "shardis_latest_cut_usec", "{}", rdb.latest_cut_usec.load(Ordering::Relaxed));
                // Ours: the cross-shard inboxes (`shard::msg`, "The inbox bound"): bytes
                // queued now, the most one shard's inbox held, the bound, and how often
                // a connection stopped parsing because an inbox was full.
                let inboxes = &shared.inboxes;
                field!(s, "shardis_inbox_bytes", "{}", inboxes.iter().map(|i| i.load()).sum::<usize>());
                field!(s, "shardis_inbox_peak_bytes", "{}", inboxes.iter().map(|i| i.peak()).max().unwrap_or(0));
                field!(s, "shardis_inbox_limit_bytes", "{}", crate::shard::msg::INBOX_LIMIT);
                field!(
                    s,
                    "shardis_input_stalls",
                    "{}",
                    inboxes.iter().map(|i| i.stalls.load(Ordering::Relaxed)).sum::<u64>()
                );
                field!(s, "shardis_inbox_batches", "{}", inboxes.iter().map(|i| i.batches()).sum::<u64>());
                field!(
                    s,
                    "shardis_inbox_wakeups",
                    "{}",
                    inboxes.iter().map(|i| i.wakeups.load(Ordering::Relaxed)).sum::<u64>()
                );
                field!(s, "migrate_cached_sockets", "0");
                field!(s, "slave_expires_tracked_keys", "0");
                field!(s, "active_defrag_hits", "0");
                field!(s, "active_defrag_misses", "0");
                field!(s, "active_defrag_key_hits", "0");
                field!(s, "active_defrag_key_misses", "0");
                field!(s, "tracking_total_keys", "{}", shared.tracking.keys.load(Ordering::Relaxed));
                field!(s, "tracking_total_items", "{}", shared.tracking.items.load(Ordering::Relaxed));
                field!(s, "tracking_total_prefixes", "{}", shared.tracking.prefixes());
                field!(s, "unexpected_error_replies", "{}", crate::shard::stats::unexpected_error_replies());
                field!(s, "total_error_replies", "{}", stats.error_replies);
                field!(s, "dump_payload_sanitizations", "0");
                field!(s, "io_threaded_reads_processed", "0");
                field!(s, "io_threaded_writes_processed", "0");
                // Redis 7.2's: clients closed for their query / output buffer limits.
                field!(s, "client_query_buffer_limit_disconnections", "{}", stats.query_limit_disconnections);
                field!(s, "client_output_buffer_limit_disconnections", "{}", stats.output_limit_disconnections);
            }
            "replication" => {
                s.push_str("# Replication\r\n");
                if shared.repl.is_replica() {
                    crate::repl::replica::render_info(shared, cfg, &mut s);
                    crate::repl::info::master_fields(shared, cfg, &mut s);
                } else {
                    crate::repl::info::master_section(shared, cfg, &mut s);
                }
            }
            "cpu" => {
                let (user, sys, cuser, csys) = cpu_times();
                s.push_str("# CPU\r\n");
                field!(s, "used_cpu_sys", "{sys:.6}");
                field!(s, "used_cpu_user", "{user:.6}");
                field!(s, "used_cpu_sys_children", "{csys:.6}");
                field!(s, "used_cpu_user_children", "{cuser:.6}");
            }
            "modules" => s.push_str("# Modules\r\n"),
            "commandstats" => {
                s.push_str("# Commandstats\r\n");
                for (idx, c) in stats.commands.iter().enumerate() {
                    if c.calls == 0 && c.rejected_calls == 0 && c.failed_calls == 0 {
                        continue;
                    }
                    let Some(spec) = TABLE.specs.get(idx) else { continue };
                    command_stat_line(&mut s, spec.name, c);
                }
                // A container's subcommands apart (`cmdstat_config|get`), as Redis 7.0.
                for (id, c) in stats.subcommands.iter().enumerate() {
                    if c.calls != 0 || c.rejected_calls != 0 || c.failed_calls != 0 {
                        command_stat_line(&mut s, crate::acl::cmdacl::get(id as u16).name, c);
                    }
                }
            }
            "errorstats" => {
                s.push_str("# Errorstats\r\n");
                for (code, n) in &stats.error_codes {
                    field!(s, format!("errorstat_{code}"), "count={n}");
                }
            }
            "latencystats" => {
                s.push_str("# Latencystats\r\n");
                super::latency::render_info(&stats.latency, cfg, &mut s);
            }
            "cluster" => {
                s.push_str("# Cluster\r\n");
                field!(s, "cluster_enabled", "{}", shared.cluster.enabled as u8);
            }
            "keyspace" => {
                s.push_str("# Keyspace\r\n");
                for (i, d) in dbs.iter().enumerate() {
                    if d.keys == 0 {
                        continue;
                    }
                    let avg = if d.ttl_n == 0 { 0 } else { (d.ttl_sum / d.ttl_n as u128) as u64 };
                    field!(s, format!("db{i}"), "keys={},expires={},avg_ttl={avg}", d.keys, d.expires);
                }
            }
            _ => unreachable!("section list comes from ORDER"),
        }
    }
    s
}

fn info(_c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let sections = requested(a);
    let want_keyspace = sections.contains(&"keyspace");
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| Box::new(gather(st, want_keyspace))),
        lock_whole: false,
        finish: Box::new(move |st, results, out| {
            let facts: Vec<ShardFacts> =
                results.into_iter().map(|(_, r)| *r.downcast::<ShardFacts>().expect("shard facts")).collect();
            let text = render(st, &sections, facts);
            out.verbatim(b"txt", text.as_bytes());
        }),
    }))
}

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "info",
    arity: -1,
    flags: flag::LOADING | flag::STALE,
    keys: KeySpec::None,
    handler: Handler::Conn(info),
    group: "server",
    summary: "Returns information and statistics about the server.",
    since: "1.0.0",
}];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::harness::{Harness, Reply};

    fn info(h: &mut Harness, args: &[&str]) -> HashMap<String, String> {
        let mut v = vec!["info"];
        v.extend_from_slice(args);
        let Reply::Bulk(b) = h.run(&v) else { panic!("INFO reply is a bulk string") };
        let text = String::from_utf8(b).unwrap();
        let mut m = HashMap::new();
        for line in text.split("\r\n") {
            if let Some(sec) = line.strip_prefix("# ") {
                m.insert(format!("#{}", sec.to_ascii_lowercase()), String::new());
            } else if let Some((k, v)) = line.split_once(':') {
                m.insert(k.to_string(), v.to_string());
            }
        }
        m
    }

    #[test]
    fn sections_and_fields() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["mset", "a", "1", "b", "2", "c", "3"]);
            h.run(&["get", "a"]);
            h.run(&["get", "zz"]);
            let m = info(&mut h, &[]);
            for sec in DEFAULT {
                assert!(m.contains_key(&format!("#{sec}")), "default INFO has {sec}");
            }
            assert!(!m.contains_key("#commandstats"));
            assert_eq!(m["redis_version"], "7.0.15");
            assert_eq!(m["redis_mode"], "standalone");
            assert_eq!(m["role"], "master");
            assert_eq!(m["db0"], "keys=3,expires=0,avg_ttl=0");
            assert_eq!(m["keyspace_hits"], "1");
            assert_eq!(m["keyspace_misses"], "1");
            assert_eq!(m["master_replid"].len(), 40);
            assert_eq!(m["mem_allocator"], "mimalloc");
            assert!(m["used_memory"].parse::<u64>().unwrap() > 0);
            assert!(m["rdb_changes_since_last_save"].parse::<u64>().unwrap() >= 3);
            // The three commands before it: INFO counts itself after it ran, as in Redis.
            assert_eq!(m["total_commands_processed"], "3");
            assert!(m["used_cpu_user"].contains('.'));

            let m = info(&mut h, &["keyspace", "CommandStats"]);
            assert!(m.contains_key("#keyspace") && m.contains_key("#commandstats") && !m.contains_key("#server"));
            let get = &m["cmdstat_get"];
            assert!(get.starts_with("calls=2,usec="), "{get}");
            assert!(get.ends_with(",rejected_calls=0,failed_calls=0"), "{get}");
            let m = info(&mut h, &["everything"]);
            assert!(m.contains_key("#commandstats") && m.contains_key("#cpu"));
            let m = info(&mut h, &["nosuchsection"]);
            assert!(m.is_empty());
        }
    }

    #[test]
    fn keyspace_expires_and_avg_ttl() {
        let mut h = Harness::new(2);
        let now = h.clock.now_ms();
        for (i, s) in h.shards.iter_mut().enumerate() {
            let db = &mut s.dbs[3];
            db.set(format!("k{i}").as_bytes(), crate::storage::Value::Str(b"v".into()), now + 10_000);
            db.set(format!("p{i}").as_bytes(), crate::storage::Value::Str(b"v".into()), 0);
        }
        let m = info(&mut h, &["keyspace"]);
        assert_eq!(m["db3"], "keys=4,expires=2,avg_ttl=10000");
        assert!(!m.contains_key("db0"));
    }

    #[test]
    fn resp3_is_verbatim_and_layout() {
        let mut h = Harness::new(1);
        h.resp3();
        let raw = h.run_raw(&[b"info", b"server", b"clients"]);
        let s = String::from_utf8(raw).unwrap();
        assert!(s.starts_with('='), "{s}");
        assert!(s.contains("txt:# Server\r\nredis_version:7.0.15\r\n"));
        assert!(s.contains("\r\n\r\n# Clients\r\nconnected_clients:"));
    }

    #[test]
    fn human_and_rates() {
        assert_eq!(human_bytes(1000), "1000B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(3 << 20), "3.00M");
        let id = "rate-test";
        let s = |ms, cmds| Sample { ms, cmds, net_in: cmds * 1024, net_out: 0 };
        assert_eq!(rates(id, s(1_000, 0)).0, 0);
        let (ops, kin, _) = rates(id, s(2_000, 500));
        assert_eq!(ops, 500);
        assert!((kin - 500.0).abs() < 1e-9);
        assert_eq!(rates(id, s(60_000, 600)).0, 0, "a stale baseline gives no rate");
        reset_rate_samples(id);
    }
}
