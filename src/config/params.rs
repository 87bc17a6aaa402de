//! The parameter table: every configuration directive shardis knows, with its aliases,
//! value kind, mutability at run time, default and where its value lives. Also the
//! validation that turns a directive's arguments into its canonical value string (the
//! exact text CONFIG GET returns).
//!
//! Job: be the single list that config files, flags, CONFIG GET/SET and CONFIG REWRITE
//! all consult, so a parameter added here works everywhere at once.
//!
//! Storage: `Store::Field` parameters live in typed fields of [`Config`] that the
//! server reads. `Store::Compat` parameters keep their canonical string in
//! `Config::compat`, validated exactly like Redis validates them (type, range, enum
//! values); the code that acts on one reads it there (`COMPAT_STORED_BUT_USED`).
//! A parameter whose feature shardis lacks accepts only the value that needs it not
//! (its default) and refuses the rest: see [`RESTRICTED`]. The encoding tunables
//! (`hash-max-listpack-*`, `zset-max-listpack-*`, `set-max-intset-entries`,
//! `list-max-listpack-size`) are typed fields: `Config::encoding`. What is left, neither read
//! nor restricted, is "compatibility only" ([`compat_only`]): no silently ignored
//! setting should be there for long.
//!
//! Non-goals: tokenizing lines (`parse`), deciding which parameters a CONFIG SET may
//! touch beyond the `access` flag (`mod.rs`), formatting file lines (`rewrite`).
//!
//! Depends on: std and the sibling module `parse` (value parsers).
//!
//! [`Config`]: super::Config

use super::parse::{self, format_cpus, parse_bool, parse_cpus, parse_int, parse_memory};

/// How a parameter's value is parsed and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `yes`/`no`.
    Bool,
    /// A plain integer within the inclusive range.
    Int { min: i64, max: i64 },
    /// A byte count with optional unit (`64mb`); CONFIG GET shows plain bytes.
    Memory { min: u64, max: u64 },
    /// Exactly one of the listed words (case-insensitive on input).
    Enum(&'static [&'static str]),
    /// One or more of the listed words (Redis's multi-flag enums, e.g.
    /// `shutdown-on-sigterm nosave now`). The first word is the "empty" value.
    Flags(&'static [&'static str]),
    /// Any text, stored as given.
    String,
    /// A value with its own syntax, parsed by [`special`]. `multi` parameters take
    /// several arguments (`save 900 1 300 10`) and split a single argument on blanks.
    Special { multi: bool },
}

/// Whether CONFIG SET may change the parameter while the server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Mutable,
    Immutable,
    /// Settable at run time only where `enable-protected-configs` allows the client
    /// (Redis 7.0's PROTECTED_CONFIG: `dir`, `dbfilename`).
    Protected,
}

/// Where the value is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// A typed field of `Config` (see `Config::field_value`/`store_field` in mod.rs).
    Field,
    /// `Config::compat`, as the canonical string: accepted for compatibility only.
    Compat,
}

/// One configuration parameter.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// Canonical (Redis 7) name, lowercase.
    pub name: &'static str,
    /// Older names that mean the same parameter (`slaveof`, `hash-max-ziplist-entries`).
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    pub access: Access,
    /// Default in config-file syntax (e.g. `512mb`); CONFIG GET shows its canonical
    /// form. `shards` uses `0`, meaning "one per online CPU".
    pub default: &'static str,
    pub store: Store,
}

impl Param {
    pub fn is_mutable(&self) -> bool {
        matches!(self.access, Access::Mutable | Access::Protected)
    }

    pub fn is_protected(&self) -> bool {
        self.access == Access::Protected
    }

    /// Whether the directive takes a list of arguments (and so splits a single
    /// argument on blanks, as Redis does for `CONFIG SET save "900 1"`).
    pub fn is_multi_arg(&self) -> bool {
        matches!(self.kind, Kind::Special { multi: true } | Kind::Flags(_))
    }
}

use Access::{Immutable, Mutable, Protected};
use Kind::{Bool, Enum, Flags, Int, Memory, Special};

const fn field(name: &'static str, kind: Kind, access: Access, default: &'static str) -> Param {
    Param { name, aliases: &[], kind, access, default, store: Store::Field }
}

const fn compat(name: &'static str, kind: Kind, access: Access, default: &'static str) -> Param {
    Param { name, aliases: &[], kind, access, default, store: Store::Compat }
}

/// `field` with aliases.
const fn field_a(
    name: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    access: Access,
    default: &'static str,
) -> Param {
    Param { name, aliases, kind, access, default, store: Store::Field }
}

/// `compat` with aliases.
const fn compat_a(
    name: &'static str,
    aliases: &'static [&'static str],
    kind: Kind,
    access: Access,
    default: &'static str,
) -> Param {
    Param { name, aliases, kind, access, default, store: Store::Compat }
}

const STR: Kind = Kind::String;
const SPECIAL: Kind = Special { multi: false };
const SPECIAL_MULTI: Kind = Special { multi: true };
const INT_MAX: i64 = i32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
const NON_NEG: Kind = Int { min: 0, max: INT_MAX };
const NON_NEG_LONG: Kind = Int { min: 0, max: LONG_MAX };
const PORT: Kind = Int { min: 0, max: 65535 };
const MEM: Kind = Memory { min: 0, max: LONG_MAX as u64 };

const YES_NO_LOCAL: &[&str] = &["no", "yes", "local"];
const EVICTION_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const SHUTDOWN_FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];

/// Every known parameter, alphabetical within each group. CONFIG GET lists them in
/// this order.
#[rustfmt::skip]
pub const PARAMS: &[Param] = &[
    // ---- Read by shardis (typed fields of Config) ---------------------------------
    field("bind",                      SPECIAL_MULTI,                  Mutable,   "127.0.0.1"),
    field("port",                      PORT,                           Mutable,   "6379"),
    field("protected-mode",            Bool,                           Mutable,   "yes"),
    field("requirepass",               STR,                            Mutable,   ""),
    field("dir",                       STR,                            Protected, "./data"),
    field("dbfilename",                STR,                            Protected, "dump.rdb"),
    field("databases",                 Int { min: 1, max: INT_MAX },   Immutable, "16"),
    field("maxclients",                Int { min: 1, max: u32::MAX as i64 }, Mutable, "10000"),
    field("timeout",                   NON_NEG,                        Mutable,   "0"),
    field("tcp-keepalive",             NON_NEG,                        Mutable,   "300"),
    field("tcp-backlog",               NON_NEG,                        Immutable, "511"),
    field("unixsocket",                STR,                            Immutable, ""),
    field("unixsocketperm",            SPECIAL,                        Immutable, "0"),
    field("proto-max-bulk-len",        Memory { min: 1 << 20, max: LONG_MAX as u64 }, Mutable, "512mb"),
    field("client-query-buffer-limit", Memory { min: 1 << 20, max: LONG_MAX as u64 }, Mutable, "1gb"),
    field("save",                      SPECIAL_MULTI,                  Mutable,   "3600 1 300 100 60 10000"),
    field("appendonly",                Bool,                           Mutable,   "no"),
    field("appendfilename",            STR,                            Immutable, "appendonly.aof"),
    field("appenddirname",             STR,                            Immutable, "appendonlydir"),
    field("appendfsync",               Enum(&["always", "everysec", "no"]), Mutable, "everysec"),
    // Our own: write the AOF with direct I/O. Immutable because switching it would
    // mean reopening the AOF under a running writer.
    field("appendonly-direct",         Enum(&["yes", "no", "auto"]),   Mutable,   "auto"),
    field("pipeline-order",            Enum(&["strict", "per-shard"]), Mutable,   "strict"),
    field("replica-apply-order",       Enum(&["strict", "per-shard"]), Mutable,   "strict"),
    field("maxmemory",                 Memory { min: 0, max: u64::MAX }, Mutable, "0"),
    field("maxmemory-policy",          Enum(EVICTION_POLICIES),        Mutable,   "noeviction"),
    field("maxmemory-samples",         Int { min: 1, max: 64 },        Mutable,   "5"),
    // Redis accepts any hz and clamps it to 1..500; we reject out-of-range values.
    // Any non-negative int is accepted and then clamped to 1..=500, as Redis's updateHZ does.
    field("hz",                        NON_NEG,                        Mutable,   "10"),
    field("loglevel",                  Enum(&["debug", "verbose", "notice", "warning", "nothing"]), Mutable, "notice"),
    field("logfile",                   STR,                            Immutable, ""),
    // Only "no" is accepted: see `RESTRICTED`.
    field("daemonize",                 Bool,                           Immutable, "no"),
    field("pidfile",                   STR,                            Immutable, ""),
    // Our own: number of shard threads; 0 means one per online CPU.
    field("shards",                    SPECIAL,                        Immutable, "0"),
    // Our own: CPUs to pin shards to, e.g. "0-3,8"; empty means CPUs 0..shards.
    field("cpus",                      SPECIAL,                        Immutable, ""),
    // Our own: bind the process's memory to these NUMA nodes ("0" or "0,1"; empty: no
    // policy) with `numa-policy` (bind or preferred), applied at start (`io::numa`).
    compat("numa-node",                STR,                            Immutable, ""),
    compat("numa-policy",              Enum(&["bind", "preferred"]),   Immutable, "bind"),
    // CPUs of the snapshot and AOF-rewrite children (empty: every CPU the process may
    // use, not the shard's); the other two of Redis's lists are refused (`RESTRICTED`).
    compat("bgsave_cpulist",           SPECIAL,                        Immutable, ""),
    compat("aof_rewrite_cpulist",      SPECIAL,                        Immutable, ""),
    compat("server_cpulist",           STR,                            Immutable, ""),
    compat("bio_cpulist",              STR,                            Immutable, ""),
    field("slowlog-log-slower-than",   Int { min: -1, max: LONG_MAX }, Mutable,   "10000"),
    field("acl-pubsub-default",        Enum(&["allchannels", "resetchannels"]), Mutable, "resetchannels"),
    field("aclfile",                   STR,                            Immutable, ""),
    field("acllog-max-len",            NON_NEG_LONG,                   Mutable,   "128"),
    field("slowlog-max-len",           NON_NEG_LONG,                   Mutable,   "128"),
    field("latency-monitor-threshold", NON_NEG_LONG,                   Mutable,   "0"),
    field("latency-tracking",          Bool,                           Mutable,   "yes"),
    field("notify-keyspace-events",    SPECIAL,                        Mutable,   ""),
    field("lazyfree-lazy-eviction",    Bool,                           Mutable,   "no"),
    field("lazyfree-lazy-expire",      Bool,                           Mutable,   "no"),
    field("lazyfree-lazy-server-del",  Bool,                           Mutable,   "no"),
    field("lazyfree-lazy-user-del",    Bool,                           Mutable,   "no"),
    field("lazyfree-lazy-user-flush",  Bool,                           Mutable,   "no"),
    field("client-output-buffer-limit", SPECIAL_MULTI,                 Mutable,   "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60"),
    // "no" as in Redis 7.0: DEBUG can stall or reload the whole server. Tests turn it on.
    field("enable-debug-command",      Enum(YES_NO_LOCAL),             Immutable, "no"),
    field("hll-sparse-max-bytes",      MEM,                            Mutable,   "3000"),

    // ---- Stored in Config::compat: read where they act (COMPAT_STORED_BUT_USED), ----
    // ---- accepted only at their default (RESTRICTED), or compatibility only     ----
    compat("active-defrag-cycle-max",       Int { min: 1, max: 99 },    Mutable,   "25"),
    compat("active-defrag-cycle-min",       Int { min: 1, max: 99 },    Mutable,   "1"),
    compat("active-defrag-ignore-bytes",    Memory { min: 1, max: LONG_MAX as u64 }, Mutable, "100mb"),
    compat("active-defrag-max-scan-fields", Int { min: 1, max: LONG_MAX }, Mutable, "1000"),
    compat("active-defrag-threshold-lower", Int { min: 0, max: 1000 },  Mutable,   "10"),
    compat("active-defrag-threshold-upper", Int { min: 0, max: 1000 },  Mutable,   "100"),
    compat("active-expire-effort",          Int { min: 1, max: 10 },    Mutable,   "1"),
    compat("activedefrag",                  Bool,                       Mutable,   "no"),
    compat("activerehashing",               Bool,                       Mutable,   "yes"),
    // Effective, read where it acts: server::startup (the banner).
    compat("always-show-logo",              Bool,                       Immutable, "no"),
    compat("aof-load-truncated",            Bool,                       Mutable,   "yes"),
    // 7.0.15 additions; only their defaults are accepted (`RESTRICTED`).
    compat("aof-disable-auto-gc",           Bool,                       Mutable,   "no"),
    compat("aof-rewrite-incremental-fsync", Bool,                       Mutable,   "yes"),
    compat("aof-timestamp-enabled",         Bool,                       Mutable,   "no"),
    compat("aof-use-rdb-preamble",          Bool,                       Mutable,   "yes"),
    compat("auto-aof-rewrite-min-size",     MEM,                        Mutable,   "64mb"),
    compat("auto-aof-rewrite-percentage",   NON_NEG,                    Mutable,   "100"),
    compat("bind-source-addr",              STR,                        Mutable,   ""),
    compat_a("busy-reply-threshold", &["lua-time-limit"], NON_NEG_LONG, Mutable,   "5000"),
    compat("cluster-allow-pubsubshard-when-down", Bool,                 Mutable,   "yes"),
    compat("cluster-allow-reads-when-down", Bool,                       Mutable,   "no"),
    compat("cluster-allow-replica-migration", Bool,                     Mutable,   "yes"),
    compat("cluster-announce-bus-port",     PORT,                       Mutable,   "0"),
    compat("cluster-announce-hostname",     STR,                        Mutable,   ""),
    compat("cluster-announce-ip",           STR,                        Mutable,   ""),
    compat("cluster-announce-port",         PORT,                       Mutable,   "0"),
    compat("cluster-announce-tls-port",     PORT,                       Mutable,   "0"),
    compat("cluster-config-file",           STR,                        Immutable, "nodes.conf"),
    // Only "no" is accepted: see `RESTRICTED`.
    compat("cluster-enabled",               Bool,                       Immutable, "no"),
    compat("cluster-link-sendbuf-limit",    MEM,                        Mutable,   "0"),
    compat("cluster-migration-barrier",     NON_NEG,                    Mutable,   "1"),
    compat("cluster-node-timeout",          NON_NEG_LONG,               Mutable,   "15000"),
    compat("cluster-port",                  PORT,                       Immutable, "0"),
    compat("cluster-preferred-endpoint-type", Enum(&["ip", "hostname", "unknown-endpoint"]), Mutable, "ip"),
    compat_a("cluster-replica-no-failover", &["cluster-slave-no-failover"], Bool, Mutable, "no"),
    compat_a("cluster-replica-validity-factor", &["cluster-slave-validity-factor"], NON_NEG, Mutable, "10"),
    compat("cluster-require-full-coverage", Bool,                       Mutable,   "yes"),
    compat("crash-log-enabled",             Bool,                       Mutable,   "yes"),
    compat("crash-memcheck-enabled",        Bool,                       Mutable,   "yes"),
    // Default "no", unlike Redis: measured here (perf/RESULTS.md, RDB), THP off made
    // the BGSAVE fork ~10x slower and saved no copy-on-write memory on this kernel.
    compat("disable-thp",                   Bool,                       Immutable, "no"),
    compat("dynamic-hz",                    Bool,                       Mutable,   "yes"),
    compat("enable-module-command",         Enum(YES_NO_LOCAL),         Immutable, "no"),
    field("enable-protected-configs",  Enum(YES_NO_LOCAL),             Immutable, "no"),
    field_a("hash-max-listpack-entries", &["hash-max-ziplist-entries"], NON_NEG_LONG, Mutable, "512"),
    field_a("hash-max-listpack-value", &["hash-max-ziplist-value"], MEM,   Mutable,   "64"),
    compat("ignore-warnings",               STR,                        Mutable,   ""),
    compat("io-threads",                    Int { min: 1, max: 128 },   Immutable, "1"),
    compat("io-threads-do-reads",           Bool,                       Immutable, "no"),
    compat("jemalloc-bg-thread",            Bool,                       Mutable,   "yes"),

    compat("latency-tracking-info-percentiles", SPECIAL_MULTI,          Mutable,   "50 99 99.9"),
    compat("lfu-decay-time",                NON_NEG,                    Mutable,   "1"),
    compat("lfu-log-factor",                NON_NEG,                    Mutable,   "10"),
    field("list-compress-depth",            NON_NEG,                    Mutable,   "0"),
    field_a("list-max-listpack-size", &["list-max-ziplist-size"], Int { min: i32::MIN as i64, max: INT_MAX }, Mutable, "-2"),
    // Our own, effective (`cmd::script_all`): with several shards, may a script touch
    // keys it did not declare (by locking every shard), or do they get Redis's error?
    compat("lua-undeclared-keys",           Enum(&["error", "lock-all"]), Mutable, "error"),
    compat("masterauth",                    STR,                        Mutable,   ""),
    compat("masteruser",                    STR,                        Mutable,   ""),
    compat("maxmemory-clients",             SPECIAL,                    Mutable,   "0"),
    compat("maxmemory-eviction-tenacity",   Int { min: 0, max: 100 },   Mutable,   "10"),
    compat_a("min-replicas-max-lag", &["min-slaves-max-lag"], NON_NEG,  Mutable,   "10"),
    compat_a("min-replicas-to-write", &["min-slaves-to-write"], NON_NEG, Mutable,  "0"),
    compat("no-appendfsync-on-rewrite",     Bool,                       Mutable,   "no"),
    compat("oom-score-adj",                 Enum(&["no", "yes", "relative", "absolute"]), Mutable, "no"),
    compat("oom-score-adj-values",          SPECIAL_MULTI,              Mutable,   "0 200 800"),
    compat("proc-title-template",           STR,                        Mutable,   "{title} {listen-addr} {server-mode}"),
    compat("propagation-error-behavior",    Enum(&["ignore", "panic", "panic-on-replicas"]), Mutable, "ignore"),
    // Redis's testing knob: the snapshot/rewrite child sleeps this many microseconds per
    // key, so tests can hold a child busy deterministically instead of writing lots of data.
    compat("rdb-key-save-delay",            Int { min: i32::MIN as i64, max: INT_MAX }, Mutable, "0"),
    // Redis 7.0's other hidden testing and debugging knobs (see `HIDDEN`).
    compat("key-load-delay",                Int { min: i32::MIN as i64, max: INT_MAX }, Mutable, "0"),
    compat("loading-process-events-interval-bytes", Int { min: 1024, max: INT_MAX }, Mutable, "2097152"),
    compat("lua-enable-deprecated-api",     Bool,                       Immutable, "no"),
    compat("use-exit-on-panic",             Bool,                       Mutable,   "no"),
    compat("watchdog-period",               NON_NEG,                    Mutable,   "0"),
    compat("rdb-del-sync-files",            Bool,                       Mutable,   "no"),
    compat("rdb-save-incremental-fsync",    Bool,                       Mutable,   "yes"),
    compat("rdbchecksum",                   Bool,                       Immutable, "yes"),
    compat("rdbcompression",                Bool,                       Mutable,   "yes"),
    compat("repl-backlog-size",             Memory { min: 1, max: LONG_MAX as u64 }, Mutable, "1mb"),
    compat("repl-backlog-ttl",              NON_NEG_LONG,               Mutable,   "3600"),
    compat("repl-disable-tcp-nodelay",      Bool,                       Mutable,   "no"),
    compat("repl-diskless-load",            Enum(&["disabled", "on-empty-db", "swapdb"]), Mutable, "disabled"),
    compat("repl-diskless-sync",            Bool,                       Mutable,   "yes"),
    compat("repl-diskless-sync-delay",      NON_NEG,                    Mutable,   "5"),
    compat("repl-diskless-sync-max-replicas", NON_NEG,                  Mutable,   "0"),
    compat_a("repl-ping-replica-period", &["repl-ping-slave-period"], Int { min: 1, max: INT_MAX }, Mutable, "10"),
    compat("repl-timeout",                  Int { min: 1, max: INT_MAX }, Mutable, "60"),
    compat_a("replica-announce-ip", &["slave-announce-ip"], STR,        Mutable,   ""),
    compat_a("replica-announce-port", &["slave-announce-port"], PORT,   Mutable,   "0"),
    compat("replica-announced",             Bool,                       Mutable,   "yes"),
    compat("replica-ignore-disk-write-errors", Bool,                    Mutable,   "no"),
    compat_a("replica-ignore-maxmemory", &["slave-ignore-maxmemory"], Bool, Mutable, "yes"),
    compat_a("replica-lazy-flush", &["slave-lazy-flush"], Bool,         Mutable,   "no"),
    compat_a("replica-priority", &["slave-priority"], NON_NEG,          Mutable,   "100"),
    compat_a("replica-read-only", &["slave-read-only"], Bool,           Mutable,   "yes"),
    compat_a("replica-serve-stale-data", &["slave-serve-stale-data"], Bool, Mutable, "yes"),
    // Immutable as in Redis 7 (REPLICAOF is the run-time interface).
    compat_a("replicaof", &["slaveof"], SPECIAL_MULTI,                  Immutable, ""),
    compat("sanitize-dump-payload",         Enum(&["no", "yes", "clients"]), Mutable, "no"),
    field("set-max-intset-entries",         NON_NEG_LONG,               Mutable,   "512"),
    compat("set-proc-title",                Bool,                       Immutable, "yes"),
    // Effective, read where they act: persist::bgsave::on_terminate.
    compat("shutdown-on-sigint",            Flags(SHUTDOWN_FLAGS),      Mutable,   "default"),
    compat("shutdown-on-sigterm",           Flags(SHUTDOWN_FLAGS),      Mutable,   "default"),
    compat("shutdown-timeout",              NON_NEG,                    Mutable,   "10"),
    compat("socket-mark-id",                Int { min: 0, max: u32::MAX as i64 }, Immutable, "0"),
    compat("stop-writes-on-bgsave-error",   Bool,                       Mutable,   "yes"),
    field("stream-node-max-bytes",          MEM,                        Mutable,   "4096"),
    field("stream-node-max-entries",        NON_NEG_LONG,               Mutable,   "100"),
    // Effective, read where it acts: server::supervise.
    compat("supervised",                    Enum(&["upstart", "systemd", "auto", "no"]), Immutable, "no"),
    compat("syslog-enabled",                Bool,                       Immutable, "no"),
    compat("syslog-facility",               Enum(&["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]), Immutable, "local0"),
    compat("syslog-ident",                  STR,                        Immutable, "redis"),
    compat("tracking-table-max-keys",       NON_NEG_LONG,               Mutable,   "1000000"),
    field_a("zset-max-listpack-entries", &["zset-max-ziplist-entries"], NON_NEG_LONG, Mutable, "128"),
    field_a("zset-max-listpack-value", &["zset-max-ziplist-value"], MEM,   Mutable,   "64"),
];

/// Redis 7.0's HIDDEN_CONFIG parameters: CONFIG GET answers them only when asked by
/// their exact name, never through a pattern (so `CONFIG GET *` leaves them out), and
/// CONFIG REWRITE does not write them unless set.
pub const HIDDEN: &[&str] = &[
    "key-load-delay",
    "loading-process-events-interval-bytes",
    "lua-enable-deprecated-api",
    "rdb-key-save-delay",
    "use-exit-on-panic",
    "watchdog-period",
];

/// `Store::Compat` parameters that shardis does read (through `Config::compat_value`
/// or `compat.get`), so they act and are not compatibility-only. Keeping them in the
/// compat map spares a typed field for a value read in one place. `supervised`,
/// `shutdown-on-sigint`, `unixsocket`, `unixsocketperm` and `always-show-logo` are
/// listed because they are being implemented; tests/readme.rs checks that every
/// compat parameter the code reads is here.
pub const COMPAT_STORED_BUT_USED: &[&str] = &[
    "tracking-table-max-keys",
    "latency-tracking-info-percentiles",
    "min-replicas-max-lag",
    "min-replicas-to-write",
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "repl-ping-replica-period",
    "repl-timeout",
    "aof-load-truncated",
    "aof-use-rdb-preamble",
    "bgsave_cpulist",
    "aof_rewrite_cpulist",
    "always-show-logo",
    "auto-aof-rewrite-min-size",
    "auto-aof-rewrite-percentage",
    "disable-thp",
    "lfu-decay-time",
    "lfu-log-factor",
    "maxmemory-clients",
    "maxmemory-eviction-tenacity",
    "rdb-key-save-delay",
    // Scripts (`cmd::script`, `cmd::script_all`, `server::busy_door`).
    "busy-reply-threshold",
    "lua-undeclared-keys",
    "enable-module-command",
    "rdbchecksum",
    "rdbcompression",
    "shutdown-on-sigint",
    "shutdown-on-sigterm",
    // SHUTDOWN's wait for lagging replicas (`repl::shutdown`).
    "shutdown-timeout",
    "stop-writes-on-bgsave-error",
    "supervised",
    "unixsocket",
    "unixsocketperm",
    // The replica side (`repl::replica`, `repl::link`).
    "masterauth",
    "masteruser",
    "repl-diskless-load",
    "repl-timeout",
    "replica-announce-ip",
    "replica-announce-port",
    "replica-announced",
    "replica-priority",
    "replica-read-only",
    "replica-serve-stale-data",
    "replicaof",
    // Cluster mode (`cluster`) and NUMA placement (`io::numa`).
    "cluster-enabled",
    "cluster-config-file",
    "cluster-node-timeout",
    "cluster-announce-ip",
    "cluster-announce-port",
    "cluster-port",
    "cluster-require-full-coverage",
    "cluster-allow-reads-when-down",
    "numa-node",
    "numa-policy",
    // Outgoing connections (`io::sock::connect_from`), the replication sockets
    // (`repl::master::sync`), a replica's memory budget (`shard::evict`), its old
    // dataset at a full sync and the file it came in (`server::worker::replica`,
    // `repl::link`), active expiry's effort (`shard::turns`), the panic report
    // (`server::panic`), shard channels in a down pool (`cluster::redirect`), the
    // timer rate (`shard::turns::effective_hz`), syncs while a snapshot or rewrite
    // is written (`persist::rdbfile::IncrementalSync`), a failing command from the
    // master or the AOF (`net::conn::dispatch`, `persist::load`).
    "bind-source-addr",
    "repl-disable-tcp-nodelay",
    "replica-ignore-maxmemory",
    "replica-lazy-flush",
    "rdb-del-sync-files",
    "active-expire-effort",
    "crash-log-enabled",
    "cluster-allow-pubsubshard-when-down",
    "dynamic-hz",
    "rdb-save-incremental-fsync",
    "aof-rewrite-incremental-fsync",
    "propagation-error-behavior",
];

/// A parameter accepted only at values that need no feature shardis lacks. Any other
/// value is refused with `why`: at start-up (a fatal config error naming the file line
/// or flag that set it, checked on the final value so a later flag can override a file
/// line) and by CONFIG SET. The rule: shardis either acts on a setting or refuses it;
/// the default stays accepted so that a stock redis.conf (and a file listing Redis
/// 7.0.15's defaults) still loads, and where the default itself asks for something
/// shardis does not do, README's "Not supported yet" says so.
#[derive(Clone, Copy, Debug)]
pub struct Restricted {
    pub name: &'static str,
    /// The accepted values, canonical (CONFIG GET) form; the default is always one.
    pub accepted: &'static [&'static str],
    pub why: &'static str,
}

/// `client-output-buffer-limit`'s default in canonical form (Redis's defaults).
pub const COB_DEFAULT: &str = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

/// Why each parameter is restricted:
///
/// | parameter | accepted | reason to refuse the rest |
/// |---|---|---|
/// | `daemonize` | `no` | shardis does not fork into the background; use a service manager |
/// | `activedefrag`, `active-defrag-*` | defaults | no defragmentation (Redis itself refuses `yes` without its jemalloc) |
/// | `activerehashing` | `yes` | tables grow in one step, never incrementally: nothing to rehash in the background |
/// | `oom-score-adj`, `oom-score-adj-values` | `no`, `0 200 800` | shardis does not write `oom_score_adj`; systemd's `OOMScoreAdjust=` does |
/// | `syslog-enabled`, `syslog-facility`, `syslog-ident` | `no`, `local0`, `redis` | no syslog output; stdout (journald) or `logfile` |
/// | `aof-timestamp-enabled` | `no` | no `#TS:` annotations in the AOF (point-in-time recovery tools rely on them) |
/// | `aof-disable-auto-gc` | `no` | a rewrite always deletes the files it replaced (no history kept for tools) |
/// | `no-appendfsync-on-rewrite` | `no` | the AOF keeps its fsync policy during a rewrite (never less durable) |
/// | `replica-ignore-disk-write-errors` | `no` | a replica's failed disk writes are handled as a master's, never ignored |
/// | `socket-mark-id` | `0` | sockets are not marked (SO_MARK) for routing or filtering |
/// | `server_cpulist`, `bio_cpulist` | empty | shard threads are pinned with `cpus`; helpers run anywhere |
/// | `io-threads`, `io-threads-do-reads` | `1`, `no` | no I/O threads: each shard thread does its own sockets' I/O |
/// | `jemalloc-bg-thread` | `yes` | the allocator is mimalloc, which has no background purge thread to switch |
/// | `set-proc-title`, `proc-title-template` | defaults | the process title stays the command line |
/// | `crash-memcheck-enabled` | `yes` | no memory test runs after a crash (a panic is always reported) |
/// | `sanitize-dump-payload` | `no`, `yes` | every payload is checked completely, as `yes` asks; `clients` cannot exempt the master's |
/// | `ignore-warnings` | empty | shardis has no start-up warnings to silence |
/// | `cluster-*` of the gossip bus, announcements and failover | defaults | a pool has no bus, no replicas in the cluster and no failover (`cluster` module docs) |
///
/// `tls-*` are not parameters at all (see `parse`).
#[rustfmt::skip]
pub const RESTRICTED: &[Restricted] = &[
    Restricted { name: "daemonize", accepted: &["no"], why: "daemonize yes is not supported; run shardis under a service manager (see deploy/shardis.service)" },
    Restricted { name: "activedefrag", accepted: &["no"], why: "Active defragmentation cannot be enabled: shardis does not defragment memory" },
    Restricted { name: "oom-score-adj", accepted: &["no"], why: "shardis does not set its OOM score; use the service manager (systemd OOMScoreAdjust=); only 'no' is accepted" },
    Restricted { name: "syslog-enabled", accepted: &["no"], why: "logging to syslog is not supported; log to stdout (journald) or a logfile" },
    Restricted { name: "aof-timestamp-enabled", accepted: &["no"], why: "AOF timestamp annotations are not written yet; only 'no' is accepted" },
    Restricted { name: "aof-disable-auto-gc", accepted: &["no"], why: "shardis always deletes the AOF files a rewrite replaced; only 'no' is accepted" },
    Restricted { name: "replica-ignore-disk-write-errors", accepted: &["no"], why: "ignoring a replica's disk write errors is not supported; only 'no' is accepted" },
    Restricted { name: "socket-mark-id", accepted: &["0"], why: "shardis does not mark its sockets (SO_MARK); only 0 is accepted" },
    Restricted { name: "server_cpulist", accepted: &[""], why: "server_cpulist is not supported: shard threads are pinned with the 'cpus' directive" },
    Restricted { name: "bio_cpulist", accepted: &[""], why: "bio_cpulist is not supported: helper threads run on the CPUs the process may use (see 'cpus')" },
    Restricted { name: "active-defrag-cycle-max", accepted: &["25"], why: "shardis does not defragment memory; active-defrag-cycle-max keeps its default" },
    Restricted { name: "active-defrag-cycle-min", accepted: &["1"], why: "shardis does not defragment memory; active-defrag-cycle-min keeps its default" },
    Restricted { name: "active-defrag-ignore-bytes", accepted: &["104857600"], why: "shardis does not defragment memory; active-defrag-ignore-bytes keeps its default" },
    Restricted { name: "active-defrag-max-scan-fields", accepted: &["1000"], why: "shardis does not defragment memory; active-defrag-max-scan-fields keeps its default" },
    Restricted { name: "active-defrag-threshold-lower", accepted: &["10"], why: "shardis does not defragment memory; active-defrag-threshold-lower keeps its default" },
    Restricted { name: "active-defrag-threshold-upper", accepted: &["100"], why: "shardis does not defragment memory; active-defrag-threshold-upper keeps its default" },
    Restricted { name: "activerehashing", accepted: &["yes"], why: "shardis's hash tables grow in one step, never incrementally: there is no background rehashing to turn off; only 'yes' is accepted" },
    Restricted { name: "oom-score-adj-values", accepted: &["0 200 800"], why: "shardis does not set its OOM score (see oom-score-adj); oom-score-adj-values keeps its default" },
    Restricted { name: "syslog-facility", accepted: &["local0"], why: "logging to syslog is not supported; syslog-facility keeps its default" },
    Restricted { name: "syslog-ident", accepted: &["redis"], why: "logging to syslog is not supported; syslog-ident keeps its default" },
    Restricted { name: "no-appendfsync-on-rewrite", accepted: &["no"], why: "shardis keeps the AOF's fsync policy during a rewrite; only 'no' is accepted" },
    Restricted { name: "io-threads", accepted: &["1"], why: "shardis has no I/O threads: each shard thread does its own sockets' I/O (see 'shards'); only 1 is accepted" },
    Restricted { name: "io-threads-do-reads", accepted: &["no"], why: "shardis has no I/O threads (see 'shards'); only 'no' is accepted" },
    Restricted { name: "jemalloc-bg-thread", accepted: &["yes"], why: "shardis uses mimalloc, which has no background purge thread to switch; only 'yes' is accepted" },
    Restricted { name: "set-proc-title", accepted: &["yes"], why: "shardis does not change its process title; set-proc-title keeps its default" },
    Restricted { name: "proc-title-template", accepted: &["{title} {listen-addr} {server-mode}"], why: "shardis does not change its process title; proc-title-template keeps its default" },
    Restricted { name: "crash-memcheck-enabled", accepted: &["yes"], why: "shardis runs no memory test after a crash; crash-memcheck-enabled keeps its default" },
    Restricted { name: "sanitize-dump-payload", accepted: &["no", "yes"], why: "shardis checks every RDB payload completely (as 'yes'), the master's too; 'clients' is not supported" },
    Restricted { name: "ignore-warnings", accepted: &[""], why: "shardis has no start-up warnings to silence; only an empty ignore-warnings is accepted" },
    Restricted { name: "cluster-allow-replica-migration", accepted: &["yes"], why: "shardis pools have no replicas in the cluster and no failover; cluster-allow-replica-migration keeps its default" },
    Restricted { name: "cluster-announce-bus-port", accepted: &["0"], why: "shardis pools have no cluster bus; cluster-announce-bus-port keeps its default" },
    Restricted { name: "cluster-announce-hostname", accepted: &[""], why: "shardis pools announce IP addresses only; cluster-announce-hostname keeps its default" },
    Restricted { name: "cluster-announce-tls-port", accepted: &["0"], why: "TLS is not supported by shardis; cluster-announce-tls-port keeps its default" },
    Restricted { name: "cluster-link-sendbuf-limit", accepted: &["0"], why: "shardis pools have no cluster bus links; cluster-link-sendbuf-limit keeps its default" },
    Restricted { name: "cluster-migration-barrier", accepted: &["1"], why: "shardis pools have no replicas in the cluster; cluster-migration-barrier keeps its default" },
    Restricted { name: "cluster-preferred-endpoint-type", accepted: &["ip"], why: "shardis pools announce IP addresses only; cluster-preferred-endpoint-type keeps its default" },
    Restricted { name: "cluster-replica-no-failover", accepted: &["no"], why: "shardis pools have no replicas in the cluster and no failover; cluster-replica-no-failover keeps its default" },
    Restricted { name: "cluster-replica-validity-factor", accepted: &["10"], why: "shardis pools have no replicas in the cluster and no failover; cluster-replica-validity-factor keeps its default" },
];

/// Why `value` (canonical) is refused for the parameter named `name` (canonical
/// name), if it is: see [`RESTRICTED`].
pub fn refusal(name: &str, value: &str) -> Option<&'static str> {
    RESTRICTED.iter().find(|r| r.name == name).filter(|r| !r.accepted.contains(&value)).map(|r| r.why)
}

/// Whether `p` is accepted for compatibility only: validated like Redis validates it
/// and shown by CONFIG GET, but with no effect on shardis. A restricted parameter is
/// not: it accepts only values that need nothing shardis lacks.
pub fn is_compat_only(p: &Param) -> bool {
    p.store == Store::Compat
        && !COMPAT_STORED_BUT_USED.contains(&p.name)
        && !HIDDEN.contains(&p.name)
        && !RESTRICTED.iter().any(|r| r.name == p.name)
}

/// The compatibility-only parameters, in [`PARAMS`] order.
pub fn compat_only() -> impl Iterator<Item = &'static Param> {
    PARAMS.iter().filter(|p| is_compat_only(p))
}

/// Find a parameter by canonical name or alias, case-insensitively. Returns its index
/// in [`PARAMS`] too, so callers can track parameters without comparing names.
pub fn find(name: &str) -> Option<(usize, &'static Param)> {
    PARAMS
        .iter()
        .enumerate()
        .find(|(_, p)| p.name.eq_ignore_ascii_case(name) || p.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
}

/// Number of online CPUs: the default shard count. Asked once per process: finding it
/// out reads cgroup files, and every `Config::default()` wants it.
pub fn online_cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Check the argument count and, for list-valued parameters given a single argument,
/// split it on blanks with the config-file rules (`CONFIG SET save "900 1 300 10"`,
/// `--save "900 1"`). `save ""` thus becomes the empty list.
pub fn normalize_args(p: &Param, args: &[String]) -> Result<Vec<String>, String> {
    if p.is_multi_arg() {
        if let [one] = args {
            return parse::split_args(one);
        }
        Ok(args.to_vec())
    } else if args.len() != 1 {
        Err("wrong number of arguments".into())
    } else {
        Ok(args.to_vec())
    }
}

/// Validate a directive's arguments and return the parameter's new canonical value
/// (the CONFIG GET text). `current` is the present canonical value, needed by
/// parameters that update only part of their value (`client-output-buffer-limit`).
/// Errors are Redis's wording without the "CONFIG SET failed" prefix.
pub fn canonicalize(p: &Param, args: &[String], current: &str) -> Result<String, String> {
    let args = normalize_args(p, args)?;
    let value = match p.kind {
        Bool => yes_no(parse_bool(&args[0]).ok_or("argument must be 'yes' or 'no'")?).to_string(),
        Int { min, max } => {
            let n = parse_int(&args[0]).ok_or("argument couldn't be parsed into an integer")?;
            if n < min || n > max {
                return Err(format!("argument must be between {min} and {max} inclusive"));
            }
            n.to_string()
        }
        Memory { min, max } => {
            let n = parse_memory(&args[0]).ok_or("argument must be a memory value")?;
            if n < min || n > max {
                return Err(format!("argument must be between {min} and {max} inclusive"));
            }
            n.to_string()
        }
        Enum(options) => {
            options.iter().find(|o| o.eq_ignore_ascii_case(&args[0])).ok_or_else(|| one_of(options))?.to_string()
        }
        Flags(options) => flags_value(options, &args)?,
        Kind::String => args[0].clone(),
        Special { .. } => special(p.name, &args, current)?,
    };
    policy_check(p.name, &value)?;
    Ok(value)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn one_of(options: &[&str]) -> String {
    format!("argument(s) must be one of the following: {}", options.join(", "))
}

/// Multi-flag enum: the first option (`default`) stands for "none of the others".
fn flags_value(options: &[&str], args: &[String]) -> Result<String, String> {
    if args.is_empty() {
        return Err(one_of(options));
    }
    let mut chosen = vec![false; options.len()];
    for a in args {
        let i = options.iter().position(|o| o.eq_ignore_ascii_case(a)).ok_or_else(|| one_of(options))?;
        chosen[i] = true;
    }
    let picked: Vec<&str> = options.iter().zip(&chosen).skip(1).filter(|(_, c)| **c).map(|(o, _)| *o).collect();
    Ok(if picked.is_empty() { options[0].to_string() } else { picked.join(" ") })
}

/// Rules that go beyond a value's type. Values refused because shardis lacks the
/// feature are not checked here but on the final value ([`refusal`]), so that a flag
/// can override a file line (`--daemonize no` after a stock redis.conf).
fn policy_check(name: &str, value: &str) -> Result<(), String> {
    match (name, value) {
        ("dbfilename" | "appendfilename", "") => Err(format!("{name} can't be empty")),
        ("appenddirname", "") => Err("appenddirname can't be empty".into()),
        ("dbfilename" | "appendfilename", v) if !is_base_name(v) => {
            Err(format!("{name} can't be a path, just a filename"))
        }
        ("appenddirname", v) if !is_base_name(v) => Err("appenddirname can't be a path, just a dirname".into()),
        ("shutdown-on-sigint" | "shutdown-on-sigterm", v)
            if v.split(' ').any(|w| w == "save") && v.split(' ').any(|w| w == "nosave") =>
        {
            Err("'save' and 'nosave' can't be used together".into())
        }
        _ => Ok(()),
    }
}

fn is_base_name(v: &str) -> bool {
    !v.contains('/') && !v.contains('\\') && v != "." && v != ".."
}

/// Parsers for `Kind::Special` parameters, each producing the CONFIG GET text.
fn special(name: &str, args: &[String], current: &str) -> Result<String, String> {
    match name {
        "bind" => {
            // Redis allows at most 16 listening addresses (CONFIG_BINDADDR_MAX).
            if args.is_empty() || args.iter().any(String::is_empty) {
                return Err("bind needs at least one address".into());
            }
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            // The value is stored space-separated, so an address that itself holds a
            // blank (`bind "a b" c`, which Redis would try to bind literally and fail
            // on) would silently become two addresses: refuse it instead.
            if args.len() > 1 && args.iter().any(|a| a.contains(|c: char| c.is_ascii_whitespace())) {
                return Err("Invalid bind address: addresses cannot contain blanks".into());
            }
            Ok(args.join(" "))
        }
        "save" => {
            let bad = || "Invalid save parameters".to_string();
            if !args.len().is_multiple_of(2) {
                return Err(bad());
            }
            let mut out = Vec::with_capacity(args.len());
            for (i, a) in args.iter().enumerate() {
                let n: u64 = a.parse().map_err(|_| bad())?;
                // Seconds must be at least 1 (a 0-second point would save constantly).
                if i % 2 == 0 && n == 0 {
                    return Err(bad());
                }
                out.push(n.to_string());
            }
            Ok(out.join(" "))
        }
        "client-output-buffer-limit" => client_output_buffer_limit(args, current),
        "oom-score-adj-values" => {
            if args.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let vals: Option<Vec<i64>> =
                args.iter().map(|a| parse_int(a).filter(|v| (-2000..=2000).contains(v))).collect();
            let vals = vals.ok_or("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")?;
            Ok(vals.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
        }
        "latency-tracking-info-percentiles" => {
            let mut out = Vec::with_capacity(args.len());
            for a in args {
                match a.parse::<f64>() {
                    Ok(v) if (0.0..=100.0).contains(&v) => out.push(v.to_string()),
                    _ => {
                        return Err("latency-tracking-info-percentiles should be in range [0..100]".into());
                    }
                }
            }
            Ok(out.join(" "))
        }
        "notify-keyspace-events" => keyspace_events(args.first().map_or("", String::as_str)),
        "replicaof" => match args {
            // No arguments only arises from the empty default; treat it as "no one".
            [] => Ok(String::new()),
            [no, one] if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") => Ok(String::new()),
            [host, port] => match parse_int(port) {
                Some(p) if (0..=65535).contains(&p) && !host.is_empty() => Ok(format!("{host} {p}")),
                _ => Err("Invalid master port".into()),
            },
            _ => Err("wrong number of arguments".into()),
        },
        "shards" => match parse_int(&args[0]) {
            Some(0) => Ok(online_cpus().to_string()),
            Some(n) if (1..=1024).contains(&n) => Ok(n.to_string()),
            Some(_) => Err("argument must be between 0 and 1024 inclusive (0 = one per online CPU)".into()),
            None => Err("argument couldn't be parsed into an integer".into()),
        },
        "cpus" => Ok(format_cpus(&parse_cpus(&args[0])?)),
        // Shown as given, as Redis does; checked here, where Redis would ignore a bad list.
        "bgsave_cpulist" | "aof_rewrite_cpulist" => parse_cpus(&args[0]).map(|_| args[0].trim().to_string()),
        "unixsocketperm" => {
            let s = &args[0];
            match u32::from_str_radix(s, 8) {
                Ok(v) if v <= 0o777 && !s.starts_with('+') => Ok(format!("{v:o}")),
                _ => Err("argument must be an octal permission mask between 0 and 777".into()),
            }
        }
        "maxmemory-clients" => {
            let s = &args[0];
            if let Some(pct) = s.strip_suffix('%') {
                match parse_int(pct) {
                    Some(p) if (0..=100).contains(&p) => Ok(format!("{p}%")),
                    Some(p) if p > 100 => Err("percentage argument must be less or equal to 100".into()),
                    _ => Err("argument must be a memory or percent value".into()),
                }
            } else {
                parse_memory(s)
                    .filter(|&n| n <= LONG_MAX as u64)
                    .map(|n| n.to_string())
                    .ok_or_else(|| "argument must be a memory or percent value".into())
            }
        }
        _ => Err(format!("internal error: no parser for special parameter '{name}'")),
    }
}

/// The client classes of `client-output-buffer-limit`, in CONFIG GET order.
pub const CLIENT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// `client-output-buffer-limit <class> <hard> <soft> <soft-seconds> [...]`: updates only
/// the classes given, leaving the others as they are in `current` (Redis semantics).
/// Canonical form: all three classes, sizes in bytes.
fn client_output_buffer_limit(args: &[String], current: &str) -> Result<String, String> {
    if !args.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits = parse_buffer_limits(current);
    let mut updates = Vec::new();
    for group in args.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into());
            }
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_string();
        let hard = parse_memory(&group[1]).ok_or_else(bad)?;
        let soft = parse_memory(&group[2]).ok_or_else(bad)?;
        let secs = parse_int(&group[3]).filter(|s| *s >= 0).ok_or_else(bad)? as u64;
        // Validate every group before touching anything: all or nothing.
        updates.push((class, [hard, soft, secs]));
    }
    for (class, l) in updates {
        limits[class] = l;
    }
    Ok(CLIENT_CLASSES.iter().zip(limits).map(|(c, [h, s, t])| format!("{c} {h} {s} {t}")).collect::<Vec<_>>().join(" "))
}

/// Parse the canonical `client-output-buffer-limit` text into `[hard, soft, seconds]`
/// per class (index as [`CLIENT_CLASSES`]); missing or malformed classes read as 0.
pub fn parse_buffer_limits(canonical: &str) -> [[u64; 3]; 3] {
    let mut limits = [[0u64; 3]; 3];
    let toks: Vec<&str> = canonical.split_whitespace().collect();
    for group in toks.chunks(4) {
        if let [class, h, s, t] = group
            && let Some(i) = CLIENT_CLASSES.iter().position(|c| c == class)
        {
            limits[i] = [parse_memory(h).unwrap_or(0), parse_memory(s).unwrap_or(0), t.parse().unwrap_or(0)];
        }
    }
    limits
}

/// Normalise `notify-keyspace-events` the way Redis's keyspaceEventsFlagsToString does,
/// so `KEA` reads back as `AKE` (see `config::notify`).
fn keyspace_events(s: &str) -> Result<String, String> {
    super::notify::parse(s)
        .map(super::notify::to_text)
        .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(name: &str, args: &[&str]) -> Result<String, String> {
        let (_, p) = find(name).unwrap();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        canonicalize(p, &args, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
    }

    #[test]
    fn table_is_well_formed() {
        assert!(PARAMS.len() >= 80, "only {} parameters", PARAMS.len());
        let mut names: Vec<&str> =
            PARAMS.iter().flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied())).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a name or alias appears twice");
        for p in PARAMS {
            assert_eq!(p.name, p.name.to_ascii_lowercase());
            // Every default must be valid input for its own parameter.
            let cur = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
            canonicalize(p, &[p.default.to_string()], cur).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
    }

    #[test]
    fn compat_only_lists_name_real_parameters() {
        for name in COMPAT_STORED_BUT_USED.iter() {
            assert!(find(name).is_some_and(|(_, p)| p.name == *name), "{name} is not a parameter's canonical name");
        }
        // The encoding tunables act (`Config::encoding`).
        assert!(!compat_only().any(|p| p.name == "hash-max-listpack-entries"));
        assert!(!compat_only().any(|p| p.name == "rdbcompression" || p.name == "maxmemory"));
    }

    #[test]
    fn restricted_parameters_accept_their_defaults() {
        for r in RESTRICTED {
            let (_, p) = find(r.name).unwrap_or_else(|| panic!("{} is not a parameter", r.name));
            assert_eq!(p.name, r.name, "use the canonical name");
            for v in r.accepted {
                assert_eq!(canon(r.name, &[v]).as_deref(), Ok(*v), "{}: accepted values are canonical", r.name);
            }
            let default = canon(r.name, &[p.default]).unwrap();
            assert_eq!(refusal(r.name, &default), None, "{} refuses its default", r.name);
        }
        assert_eq!(refusal("maxmemory", "1"), None);
        assert_eq!(refusal("lazyfree-lazy-expire", "yes"), None);
        assert!(refusal("activedefrag", "yes").is_some());
        assert_eq!(refusal("replicaof", "10.0.0.1 6379"), None);
        assert_eq!(refusal("hz", "500"), None);
    }

    #[test]
    fn kinds_validate_like_redis() {
        assert_eq!(canon("appendonly", &["YES"]).unwrap(), "yes");
        assert_eq!(canon("appendonly", &["1"]).unwrap_err(), "argument must be 'yes' or 'no'");
        assert_eq!(canon("hz", &["abc"]).unwrap_err(), "argument couldn't be parsed into an integer");
        assert_eq!(canon("hz", &["-1"]).unwrap_err(), "argument must be between 0 and 2147483647 inclusive");
        assert_eq!(canon("maxmemory", &["1gb"]).unwrap(), "1073741824");
        assert_eq!(canon("maxmemory", &["lots"]).unwrap_err(), "argument must be a memory value");
        assert_eq!(canon("maxmemory-policy", &["ALLKEYS-LRU"]).unwrap(), "allkeys-lru");
        assert!(
            canon("maxmemory-policy", &["lru"])
                .unwrap_err()
                .starts_with("argument(s) must be one of the following: volatile-lru,")
        );
        assert_eq!(canon("port", &["1", "2"]).unwrap_err(), "wrong number of arguments");
        assert_eq!(canon("list-max-ziplist-size", &["-5"]).unwrap(), "-5");
    }

    #[test]
    fn special_values() {
        assert_eq!(canon("save", &["900 1 300 10"]).unwrap(), "900 1 300 10");
        assert_eq!(canon("save", &[""]).unwrap(), "");
        assert!(canon("save", &["0", "1"]).is_err());
        assert!(canon("save", &["900"]).is_err());
        assert_eq!(canon("bind", &["127.0.0.1", "::1"]).unwrap(), "127.0.0.1 ::1");
        assert!(canon("bind", &[""]).is_err());
        // One argument is a list (CONFIG SET bind "a b", `bind "a b"` in a file, as
        // Redis splits them); among several, an address with a blank is refused.
        assert_eq!(canon("bind", &["127.0.0.1 ::1"]).unwrap(), "127.0.0.1 ::1");
        assert!(canon("bind", &["127.0.0.1 ::1", "10.0.0.1"]).is_err());
        assert_eq!(
            canon("client-output-buffer-limit", &["pubsub 64mb 16mb 90"]).unwrap(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 90"
        );
        assert_eq!(
            canon("client-output-buffer-limit", &["replica", "1mb", "0", "0"]).unwrap(),
            "normal 0 0 0 slave 1048576 0 0 pubsub 33554432 8388608 60"
        );
        assert!(canon("client-output-buffer-limit", &["master 0 0 0"]).is_err());
        assert!(canon("client-output-buffer-limit", &["normal 0 0"]).is_err());
        assert_eq!(canon("notify-keyspace-events", &["KEA"]).unwrap(), "AKE");
        assert_eq!(canon("notify-keyspace-events", &["Ex"]).unwrap(), "xE");
        assert!(canon("notify-keyspace-events", &["Q"]).is_err());
        assert_eq!(canon("cpus", &["0-3,8"]).unwrap(), "0-3,8");
        assert!(canon("cpus", &["zero"]).is_err());
        assert_eq!(canon("shards", &["4"]).unwrap(), "4");
        assert_eq!(canon("shards", &["0"]).unwrap(), online_cpus().to_string());
        assert_eq!(canon("unixsocketperm", &["0700"]).unwrap(), "700");
        assert!(canon("unixsocketperm", &["800"]).is_err());
        assert_eq!(canon("maxmemory-clients", &["10%"]).unwrap(), "10%");
        assert_eq!(canon("maxmemory-clients", &["1mb"]).unwrap(), "1048576");
        assert_eq!(canon("replicaof", &["no", "one"]).unwrap(), "");
        assert_eq!(canon("slaveof", &["10.0.0.1 6380"]).unwrap(), "10.0.0.1 6380");
        assert_eq!(canon("shutdown-on-sigterm", &["NOW nosave"]).unwrap(), "nosave now");
        assert!(canon("shutdown-on-sigterm", &["save nosave"]).is_err());
        assert_eq!(canon("latency-tracking-info-percentiles", &["50 99.99"]).unwrap(), "50 99.99");
        // Refused later, on the final value (`refusal`), so a flag can override it.
        assert_eq!(canon("daemonize", &["yes"]).unwrap(), "yes");
        assert_eq!(canon("dbfilename", &["a/b.rdb"]).unwrap_err(), "dbfilename can't be a path, just a filename");
    }
}
