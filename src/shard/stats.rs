//! Per-thread counters. Each thread bumps its own without synchronisation; INFO sums
//! them across shards with a fan-out.

use std::sync::atomic::{AtomicU64, Ordering};

/// Error replies sent to the master's link or to the AOF-loading client (INFO
/// `unexpected_error_replies`). Process-wide: the AOF is replayed by shards of a
/// loader of its own (`persist::load`), not the serving ones.
static UNEXPECTED_ERROR_REPLIES: AtomicU64 = AtomicU64::new(0);

/// An error reply to a client that is not a user (Redis's `afterErrorReply` for the
/// master and the AOF client): such errors mean the datasets may now differ, so they
/// are counted and logged as Redis logs them. `from`/`to`: "replica"/"master" or
/// "server"/"AOF-loading-client"; `cmd` the command's name.
pub fn unexpected_error(from: &str, to: &str, msg: &str, cmd: &str) {
    UNEXPECTED_ERROR_REPLIES.fetch_add(1, Ordering::Relaxed);
    let msg = msg.strip_prefix('-').unwrap_or(msg).trim_end();
    let msg = &msg[..msg.floor_char_boundary(4096)];
    // Redis logs the text its reply call got: a shared error object's whole line
    // ("-WRONGTYPE ..."), or for most plain errors the message alone, before "-ERR "
    // was put in front of it ("value is not an integer or out of range").
    let shown = match msg.strip_prefix("ERR ") {
        Some(plain) => plain.to_string(),
        None => format!("-{msg}"),
    };
    crate::util::log::warning(&format!(
        "== CRITICAL == This {from} is sending an error to its {to}: '{shown}' after processing the command '{cmd}'"
    ));
}

pub fn unexpected_error_replies() -> u64 {
    UNEXPECTED_ERROR_REPLIES.load(Ordering::Relaxed)
}

/// CONFIG RESETSTAT.
pub fn reset_unexpected_error_replies() {
    UNEXPECTED_ERROR_REPLIES.store(0, Ordering::Relaxed);
}

#[derive(Clone, Copy, Default, Debug)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

#[derive(Clone, Default, Debug)]
pub struct ShardStats {
    pub total_commands: u64,
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub expired_keys: u64,
    pub evicted_keys: u64,
    /// Clients closed by `maxmemory-clients`.
    pub evicted_clients: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub error_replies: u64,
    /// The last error reply's text (without the `-`), for the log line of an error sent
    /// to the master (`unexpected_error`).
    pub last_error: String,
    /// Error replies by their first word (`ERR`, `WRONGTYPE` ...): INFO errorstats.
    pub error_codes: std::collections::BTreeMap<String, u64>,
    /// Clients closed for `client-query-buffer-limit` / `client-output-buffer-limit`
    /// (Redis 7.2's INFO stats names).
    pub query_limit_disconnections: u64,
    pub output_limit_disconnections: u64,
    /// Indexed like the command table.
    pub commands: Vec<CmdStat>,
    /// A container's subcommands (`config|get`), indexed by their ACL id
    /// (`acl::cmdacl`): Redis 7.0 counts them apart and never under the container.
    pub subcommands: Vec<CmdStat>,
    /// Per-command latency histograms (`latency-tracking`, INFO latencystats).
    pub latency: super::histogram::CommandHistograms,
    /// While set (around a command, when `keymiss` events are wanted), `miss` also
    /// records the key in `missed` for the command layer to publish.
    pub track_misses: bool,
    pub missed: Vec<Vec<u8>>,
}

impl ShardStats {
    /// A read lookup of `key` found nothing (Redis's `lookupKeyRead` miss): counted in
    /// `keyspace_misses` and, when tracked, kept for a `keymiss` keyspace event.
    #[inline]
    pub fn miss(&mut self, key: &[u8]) {
        self.keyspace_misses += 1;
        if self.track_misses {
            self.missed.push(key.to_vec());
        }
    }

    /// An error reply was sent: counted in `error_replies` and under its code, the
    /// message's first word, as Redis's INFO errorstats does (at most 128 codes; later
    /// new ones count only in the total, as there).
    pub fn count_error(&mut self, msg: &str) {
        self.error_replies += 1;
        self.last_error.clear();
        self.last_error.push_str(msg);
        let code = msg.split(' ').next().unwrap_or("");
        if let Some(n) = self.error_codes.get_mut(code) {
            *n += 1;
        } else if self.error_codes.len() < 128 {
            self.error_codes.insert(code.to_string(), 1);
        }
    }

    /// Adds `other` into `self` (INFO's sum over shards).
    pub fn merge(&mut self, other: &ShardStats) {
        self.total_commands += other.total_commands;
        self.total_connections += other.total_connections;
        self.rejected_connections += other.rejected_connections;
        self.expired_keys += other.expired_keys;
        self.evicted_keys += other.evicted_keys;
        self.evicted_clients += other.evicted_clients;
        self.keyspace_hits += other.keyspace_hits;
        self.keyspace_misses += other.keyspace_misses;
        self.net_input_bytes += other.net_input_bytes;
        self.net_output_bytes += other.net_output_bytes;
        self.error_replies += other.error_replies;
        for (code, n) in &other.error_codes {
            *self.error_codes.entry(code.clone()).or_default() += n;
        }
        self.query_limit_disconnections += other.query_limit_disconnections;
        self.output_limit_disconnections += other.output_limit_disconnections;
        self.latency.merge(&other.latency);
        merge_counts(&mut self.commands, &other.commands);
        merge_counts(&mut self.subcommands, &other.subcommands);
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&mut self) {
        let n = self.commands.len();
        *self = ShardStats { commands: vec![CmdStat::default(); n], ..Default::default() };
    }

    /// The counters of a container's subcommand, by its ACL id.
    pub fn subcommand(&mut self, id: u16) -> &mut CmdStat {
        if self.subcommands.len() <= id as usize {
            self.subcommands.resize(id as usize + 1, CmdStat::default());
        }
        &mut self.subcommands[id as usize]
    }
}

fn merge_counts(into: &mut Vec<CmdStat>, from: &[CmdStat]) {
    if into.len() < from.len() {
        into.resize(from.len(), CmdStat::default());
    }
    for (a, b) in into.iter_mut().zip(from) {
        a.calls += b.calls;
        a.usec += b.usec;
        a.rejected_calls += b.rejected_calls;
        a.failed_calls += b.failed_calls;
    }
}
