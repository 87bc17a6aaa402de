//! MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP, and INFO's
//! `# Memory` section.
//!
//! Every figure comes from the allocator (`io::alloc`: exact bytes held, mimalloc's
//! committed and resident sizes) and from counts the shards publish
//! (`shard::evict::MemShared`: keys, client memory, peak and start-up figures), with
//! Redis's field names and meanings:
//! - `used_memory`: bytes the process holds through the allocator;
//! - overhead: the start-up figure, client memory, AOF buffers and the key table's
//!   bookkeeping (access times, index, TTL side map; estimated from the key
//!   counts); `used_memory_dataset` is the rest, keys and values included;
//! - `allocator_allocated`/`active`/`resident`: our count, mimalloc's committed bytes,
//!   the resident size mimalloc reports; `mem_fragmentation_ratio`: RSS / used.
//!
//! MEMORY is a keyed command (USAGE names a key), so the other subcommands run on the
//! connection's own shard; they read only server-wide figures, except the per-db
//! `db.N` entries of MEMORY STATS, shown only with one shard (another shard's tables
//! are not readable from here).

use super::ctx::ExecCtx;
use super::introspect::{help_reply, sub_arity, unknown_subcommand};
use super::table::flag::READONLY;
use super::table::{CommandSpec, Handler, KeySpec};
use super::{Args, CmdError};
use crate::io::alloc;
use crate::shard::Shared;
use crate::storage::Db;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

const MEMORY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

/// Under this much, MEMORY DOCTOR has nothing meaningful to say (Redis uses 5 MB).
const DOCTOR_MIN_BYTES: u64 = 5 << 20;

/// Key-table overhead per key and per key with a TTL, in Redis's sense (its dict
/// entries and bucket arrays; keys and values are dataset): a slot's access time
/// plus its share of the index (5 bytes per bucket at a 7/8 load), and the side
/// map's entry of a key with a TTL, as `Db::memory_usage` counts it. The keys and
/// the values held inside slots are dataset, as Redis's key strings and objects are.
fn slot_bytes() -> (u64, u64) {
    use std::mem::size_of;
    let main = size_of::<u32>() + (5 * 8usize).div_ceil(7);
    let volatile = 24 + size_of::<usize>() + 1;
    (main as u64, volatile as u64)
}

/// The server-wide figures INFO memory and MEMORY STATS share.
pub struct Figures {
    pub used: u64,
    pub peak: u64,
    pub startup: u64,
    pub clients_normal: u64,
    pub aof_buffer: u64,
    /// Key-table overhead of every database.
    pub tables: u64,
    pub keys: u64,
    pub rss: u64,
    pub committed: u64,
    pub resident: u64,
}

impl Figures {
    /// `keys` and `expires`: totals over every shard and database.
    pub fn gather(shared: &Shared, keys: u64, expires: u64) -> Figures {
        let used = shared.mem.used();
        let info = alloc::process_info();
        let (main, vol) = slot_bytes();
        Figures {
            used,
            peak: shared.mem.peak.load(Ordering::Relaxed).max(used),
            startup: shared.mem.startup.load(Ordering::Relaxed),
            clients_normal: shared.mem.clients_total(),
            aof_buffer: shared.aof.iter().map(|a| a.buffer_length.load(Ordering::Relaxed)).sum(),
            tables: keys * main + expires * vol,
            keys,
            rss: rss_bytes(),
            committed: info.committed,
            resident: info.rss,
        }
    }

    pub fn overhead(&self) -> u64 {
        self.startup + self.clients_normal + self.aof_buffer + self.tables
    }

    pub fn dataset(&self) -> u64 {
        self.used.saturating_sub(self.overhead())
    }

    fn startup_net(&self) -> u64 {
        self.startup.min(self.used)
    }
}

/// The process's resident set size, in bytes.
pub fn rss_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else { return 0 };
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// INFO's `# Memory` section. `keys`/`expires` are the server-wide totals; `total`
/// the machine's memory.
pub fn info_section(s: &mut String, shared: &Shared, cfg: &crate::config::Config, keys: u64, expires: u64) {
    use super::info::human_bytes as h;
    let f = Figures::gather(shared, keys, expires);
    let total = system_memory();
    let dataset = f.dataset();
    let net_of_startup = f.used.saturating_sub(f.startup_net()).max(1);
    s.push_str("# Memory\r\n");
    let mut field = |k: &str, v: String| {
        let _ = write!(s, "{k}:{v}\r\n");
    };
    field("used_memory", f.used.to_string());
    field("used_memory_human", h(f.used));
    field("used_memory_rss", f.rss.to_string());
    field("used_memory_rss_human", h(f.rss));
    field("used_memory_peak", f.peak.to_string());
    field("used_memory_peak_human", h(f.peak));
    field("used_memory_peak_perc", format!("{:.2}%", ratio(f.used * 100, f.peak)));
    field("used_memory_overhead", f.overhead().to_string());
    field("used_memory_startup", f.startup.to_string());
    field("used_memory_dataset", dataset.to_string());
    field("used_memory_dataset_perc", format!("{:.2}%", ratio(dataset * 100, net_of_startup)));
    field("allocator_allocated", f.used.to_string());
    field("allocator_active", f.committed.to_string());
    field("allocator_resident", f.resident.to_string());
    field("total_system_memory", total.to_string());
    field("total_system_memory_human", h(total));
    // Scripting: the Lua VM of this thread (each shard has its own), the script cache
    // and the function libraries, which are server-wide.
    let sc = shared.script.info();
    let vm = crate::script::thread_used_memory() as u64;
    field("used_memory_lua", vm.to_string());
    field("used_memory_vm_eval", vm.to_string());
    field("used_memory_lua_human", h(vm));
    field("used_memory_scripts_eval", sc.scripts_bytes.to_string());
    field("number_of_cached_scripts", sc.scripts.to_string());
    field("number_of_functions", sc.functions.to_string());
    field("number_of_libraries", sc.libraries.to_string());
    // Functions run in a Lua state of their own, as in Redis 7.0.
    let vm_functions = crate::script::thread_functions_memory() as u64;
    field("used_memory_vm_functions", vm_functions.to_string());
    field("used_memory_vm_total", (vm + vm_functions).to_string());
    field("used_memory_vm_total_human", h(vm + vm_functions));
    field("used_memory_functions", sc.library_bytes.to_string());
    field("used_memory_scripts", (sc.scripts_bytes + sc.library_bytes).to_string());
    field("used_memory_scripts_human", h(sc.scripts_bytes + sc.library_bytes));
    field("maxmemory", cfg.maxmemory.to_string());
    field("maxmemory_human", h(cfg.maxmemory));
    field("maxmemory_policy", cfg.maxmemory_policy.clone());
    field("allocator_frag_ratio", format!("{:.2}", ratio(f.committed, f.used)));
    field("allocator_frag_bytes", (f.committed as i64 - f.used as i64).to_string());
    field("allocator_rss_ratio", format!("{:.2}", ratio(f.resident, f.committed)));
    field("allocator_rss_bytes", (f.resident as i64 - f.committed as i64).to_string());
    field("rss_overhead_ratio", format!("{:.2}", ratio(f.rss, f.resident)));
    field("rss_overhead_bytes", (f.rss as i64 - f.resident as i64).to_string());
    field("mem_fragmentation_ratio", format!("{:.2}", ratio(f.rss, f.used)));
    field("mem_fragmentation_bytes", (f.rss as i64 - f.used as i64).to_string());
    field("mem_not_counted_for_evict", f.aof_buffer.to_string());
    field("mem_replication_backlog", "0".into());
    field("mem_total_replication_buffers", "0".into());
    field("mem_clients_slaves", "0".into());
    field("mem_clients_normal", f.clients_normal.to_string());
    field("mem_cluster_links", "0".into());
    field("mem_aof_buffer", f.aof_buffer.to_string());
    field("mem_allocator", "mimalloc".into());
    field("active_defrag_running", "0".into());
}

/// MemTotal, in bytes.
fn system_memory() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else { return 0 };
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn memory(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    match sub.as_str() {
        "help" => {
            sub_arity(a, "memory|help", 2)?;
            help_reply(&mut c.out, &a.str(0).to_ascii_uppercase(), MEMORY_HELP);
        }
        "usage" => usage(c, a)?,
        "stats" => {
            sub_arity(a, "memory|stats", 2)?;
            stats(c);
        }
        "doctor" => {
            sub_arity(a, "memory|doctor", 2)?;
            let text = doctor(c);
            c.out.verbatim(b"txt", text.as_bytes());
        }
        "malloc-stats" => {
            sub_arity(a, "memory|malloc-stats", 2)?;
            c.out.verbatim(b"txt", alloc::stats_text().as_bytes());
        }
        "purge" => {
            sub_arity(a, "memory|purge", 2)?;
            alloc::purge();
            c.out.ok();
        }
        _ => return Err(unknown_subcommand(a)),
    }
    Ok(())
}

fn usage(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    sub_arity(a, "memory|usage", -3)?;
    let mut j = 3;
    while j < a.len() {
        if a.is(j, "samples") && j + 1 < a.len() {
            // Strings have no nested values to sample; the count is only validated.
            if a.i64(j + 1)? < 0 {
                return Err(CmdError::Syntax);
            }
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    match c.db().memory_usage(a.get(2)) {
        Some(n) => c.out.int(n as i64),
        None => c.out.null(),
    }
    Ok(())
}

/// Server-wide key and TTL counts: published per shard (refreshed every cron), this
/// shard's own counted now.
fn key_counts(c: &ExecCtx) -> (u64, u64) {
    let own: u64 = c.dbs.iter().map(|d| d.len() as u64).sum();
    let expires: u64 = c.dbs.iter().map(|d| d.volatile_len() as u64).sum();
    if c.shared.nshards == 1 {
        return (own, expires);
    }
    let published = &c.shared.mem.keys;
    let others: u64 = published.iter().map(|k| k.load(Ordering::Relaxed)).sum::<u64>();
    let total = others.max(own);
    // Other shards' TTL counts are not published: scale ours by the key share.
    let scaled = (expires * total).checked_div(own).unwrap_or(0);
    (total, scaled)
}

fn stats(c: &mut ExecCtx) {
    let (keys, expires) = key_counts(c);
    let f = Figures::gather(c.shared, keys, expires);
    let (main, vol) = slot_bytes();
    let single = c.shared.nshards == 1;
    let dbs: Vec<(usize, &Db)> =
        if single { c.dbs.iter().enumerate().filter(|(_, d)| !d.is_empty()).collect() } else { Vec::new() };
    let db_entries: Vec<(usize, u64, u64)> =
        dbs.iter().map(|(i, d)| (*i, d.len() as u64 * main, d.volatile_len() as u64 * vol)).collect();
    let dataset = f.dataset();
    let net = f.used.saturating_sub(f.startup_net()).max(1);
    let out = &mut c.out;
    out.map(27 + db_entries.len());
    let int = |out: &mut crate::resp::ReplyWriter, k: &str, v: i64| {
        out.bulk(k.as_bytes());
        out.int(v);
    };
    let dbl = |out: &mut crate::resp::ReplyWriter, k: &str, v: f64| {
        out.bulk(k.as_bytes());
        out.double(v);
    };
    int(out, "peak.allocated", f.peak as i64);
    int(out, "total.allocated", f.used as i64);
    int(out, "startup.allocated", f.startup as i64);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", f.clients_normal as i64);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", f.aof_buffer as i64);
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for (i, m, e) in &db_entries {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", *m as i64);
        int(out, "overhead.hashtable.expires", *e as i64);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", f.overhead() as i64);
    int(out, "keys.count", f.keys as i64);
    let per_key = net.checked_div(f.keys).unwrap_or(0);
    int(out, "keys.bytes-per-key", per_key as i64);
    int(out, "dataset.bytes", dataset as i64);
    dbl(out, "dataset.percentage", ratio(dataset * 100, net));
    dbl(out, "peak.percentage", ratio(f.used * 100, f.peak));
    int(out, "allocator.allocated", f.used as i64);
    int(out, "allocator.active", f.committed as i64);
    int(out, "allocator.resident", f.resident as i64);
    dbl(out, "allocator-fragmentation.ratio", ratio(f.committed, f.used));
    int(out, "allocator-fragmentation.bytes", f.committed as i64 - f.used as i64);
    dbl(out, "allocator-rss.ratio", ratio(f.resident, f.committed));
    int(out, "allocator-rss.bytes", f.resident as i64 - f.committed as i64);
    dbl(out, "rss-overhead.ratio", ratio(f.rss, f.resident));
    int(out, "rss-overhead.bytes", f.rss as i64 - f.resident as i64);
    dbl(out, "fragmentation", ratio(f.rss, f.used));
    int(out, "fragmentation.bytes", f.rss as i64 - f.used as i64);
}

/// MEMORY DOCTOR: the few conditions worth an operator's attention, in plain words.
fn doctor(c: &ExecCtx) -> String {
    let (keys, expires) = key_counts(c);
    let f = Figures::gather(c.shared, keys, expires);
    if f.used < DOCTOR_MIN_BYTES {
        return "Hi Sam, this instance is empty or is using very little memory, so there is nothing to \
                diagnose yet. Come back once it holds some data.\n"
            .to_string();
    }
    let mut issues = Vec::new();
    if f.peak > f.used / 2 * 3 {
        issues.push(format!(
            " * Peak memory: the peak ({}) is more than 150% of what is used now ({}). The allocator keeps \
             some of the freed memory for reuse; MEMORY PURGE returns what it can to the system.",
            super::info::human_bytes(f.peak),
            super::info::human_bytes(f.used)
        ));
    }
    if ratio(f.rss, f.used) > 1.4 {
        issues.push(format!(
            " * High total RSS: the resident size is {:.2} times the memory in use, usually after a \
             peak or a workload that fragments memory; MEMORY PURGE may help.",
            ratio(f.rss, f.used)
        ));
    }
    let clients = c.shared.mem.client_bytes.len().max(1) as u64;
    if f.clients_normal / clients > 200 * 1024 {
        issues.push(
            " * Big client buffers: clients hold large query or output buffers; check CLIENT LIST and \
             consider client-output-buffer-limit or maxmemory-clients."
                .to_string(),
        );
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what \
                occurs on this base.\n"
            .to_string();
    }
    format!("Sam, I found a few memory issues in this instance:\n\n{}\n", issues.join("\n\n"))
}

const SUB: KeySpec = KeySpec::Range { first: 2, last: 2, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "memory",
    arity: -2,
    flags: READONLY,
    keys: SUB,
    handler: Handler::Keyed(memory),
    group: "generic",
    summary: "A container for memory diagnostics commands.",
    since: "4.0.0",
}];

#[cfg(test)]
mod tests {
    use crate::cmd::harness::{Harness, Reply};

    #[test]
    fn stats_doctor_purge_malloc_stats() {
        for n in [1, 2] {
            let mut h = Harness::new(n);
            h.run(&["set", "a", "1"]);
            let Reply::Array(stats) = h.run(&["memory", "stats"]) else { panic!("MEMORY STATS is a map") };
            let names: Vec<String> = stats
                .iter()
                .step_by(2)
                .map(|r| match r {
                    Reply::Bulk(b) => String::from_utf8(b.clone()).unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect();
            for want in ["peak.allocated", "total.allocated", "keys.count", "dataset.bytes", "fragmentation"] {
                assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
            }
            assert_eq!(h.run(&["memory", "purge"]), Reply::Simple("OK".into()));
            let Reply::Bulk(doc) = h.run(&["memory", "doctor"]) else { panic!() };
            assert!(doc.starts_with(b"Hi Sam") || doc.starts_with(b"Sam"));
            let Reply::Bulk(m) = h.run(&["memory", "malloc-stats"]) else { panic!() };
            assert!(!m.is_empty());
            assert_eq!(
                h.run(&["memory", "stats", "x"]),
                Reply::Error("ERR wrong number of arguments for 'memory|stats' command".into())
            );
        }
    }
}
