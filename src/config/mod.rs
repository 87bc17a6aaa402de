//! Server configuration, redis-server style: `shardis-server [shardis.conf]
//! [--<directive> <value...> ...]` with redis.conf directive names, file first and
//! flags after (flags win), plus the registry behind CONFIG GET / SET / REWRITE.
//!
//! Job: own the [`Config`] value the rest of the server reads, and every rule about
//! turning text into it and back: the table of known parameters (`params`), file and
//! argv parsing (`parse`), CONFIG REWRITE (`rewrite`), and here the typed fields, CONFIG
//! GET pattern matching and all-or-nothing CONFIG SET.
//!
//! Non-goals: acting on a change (the caller applies the names returned by
//! [`Config::set`]), deciding who may run CONFIG (ACL, protected configs), handling
//! `--help`/`--version` (main does), replication or cluster semantics of the
//! compatibility-only parameters (see `params`).
//!
//! Depends on: std, and `storage::limits` for the plain `EncodingLimits` value it keeps.

#![forbid(unsafe_code)]

pub mod notify;
pub mod params;
pub mod parse;
pub mod rewrite;

use std::collections::BTreeMap;

use params::{PARAMS, Param, Store};

/// Whether the AOF's files are written with O_DIRECT (`appendonly-direct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectIo {
    Yes,
    No,
    /// O_DIRECT under `appendfsync always`, buffered otherwise (why: the reading of
    /// the O_DIRECT AOF run in perf/RESULTS.md).
    Auto,
}

impl DirectIo {
    pub fn as_str(self) -> &'static str {
        match self {
            DirectIo::Yes => "yes",
            DirectIo::No => "no",
            DirectIo::Auto => "auto",
        }
    }
}

/// When the AOF is fsynced (`appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always,
    Everysec,
    No,
}

impl Fsync {
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// The server configuration. Field comments give the directive and default; the full
/// list of accepted directives is [`params::PARAMS`].
#[derive(Clone, Debug)]
pub struct Config {
    /// `bind`: addresses to listen on. Default `127.0.0.1` (Redis listens on all
    /// interfaces; we default to loopback so a fresh server is not exposed).
    pub bind: Vec<String>,
    /// `port`, 6379; 0 picks a free port (INFO's `tcp_port` shows which). CONFIG SET
    /// moves the listeners (`cmd::config_cmd`).
    pub port: u16,
    /// `protected-mode`, yes.
    pub protected_mode: bool,
    /// `requirepass`; `None` when empty.
    pub requirepass: Option<String>,
    /// `dir`, `./data`: where dumps and the AOF directory live.
    pub dir: String,
    /// `dbfilename`, `dump.rdb`.
    pub dbfilename: String,
    /// `databases`, 16.
    pub databases: usize,
    /// `maxclients`, 10000.
    pub maxclients: usize,
    /// `timeout`: idle client timeout in seconds, 0 = never.
    pub timeout: u64,
    /// `tcp-keepalive`, 300 seconds.
    pub tcp_keepalive: u64,
    /// `tcp-backlog`, 511.
    pub tcp_backlog: u32,
    /// `unixsocket`, "" = none: a Unix socket path clients may also connect to.
    pub unixsocket: String,
    /// `unixsocketperm`, 0 = leave the mode the umask gave: the socket file's mode.
    pub unixsocketperm: u32,
    /// `proto-max-bulk-len`, 512mb.
    pub proto_max_bulk_len: u64,
    /// `client-query-buffer-limit`, 1gb.
    pub client_query_buffer_limit: u64,
    /// `save`: (seconds, changes) points; default 3600 1, 300 100, 60 10000.
    pub save: Vec<(u64, u64)>,
    /// `appendonly`, no.
    pub appendonly: bool,
    /// `appendfilename`, `appendonly.aof`.
    pub appendfilename: String,
    /// `appenddirname`, `appendonlydir`.
    pub appenddirname: String,
    /// `appendfsync`, everysec.
    pub appendfsync: Fsync,
    /// `appendonly-direct` (shardis's own), auto.
    pub appendonly_direct: DirectIo,
    /// `pipeline-order` (shardis's own): `strict` (true, the default) runs a
    /// connection's commands in the order sent across shards (`cmd::order`);
    /// `per-shard` keeps only each shard's order (replies stay in order).
    pub pipeline_order_strict: bool,
    /// `replica-apply-order` (shardis's own): `strict` (true, the default) applies the
    /// master's stream on a multi-shard replica in stream order across shards, in
    /// batches visible at once (`repl::apply` rule 4); `per-shard` keeps only each
    /// shard's order, at ~2/3 of strict's CPU per command (`perf/RESULTS.md`).
    pub replica_apply_order_strict: bool,
    /// `maxmemory`, 0 = unlimited.
    pub maxmemory: u64,
    /// `maxmemory-policy`, noeviction; one of Redis's eight policies.
    pub maxmemory_policy: String,
    /// `maxmemory-samples`, 5.
    pub maxmemory_samples: u32,
    /// `hz`, 10 (1..=500).
    pub hz: u32,
    /// `loglevel`, notice.
    pub loglevel: String,
    /// `logfile`, "" = stdout.
    pub logfile: String,
    /// `daemonize`: always false; `daemonize yes` is rejected.
    pub daemonize: bool,
    /// `pidfile`, "" = none.
    pub pidfile: String,
    /// `shards` (shardis's own): shard threads; default one per online CPU.
    pub shards: usize,
    /// `cpus` (shardis's own), e.g. `0-3,8`; empty = CPUs 0..shards. See
    /// [`Config::shard_cpus`].
    pub cpus: Vec<usize>,
    /// `slowlog-log-slower-than`, 10000 µs; -1 disables, 0 logs everything.
    pub slowlog_log_slower_than: i64,
    /// `slowlog-max-len`, 128.
    pub slowlog_max_len: u64,
    /// ACLs (`crate::acl`): the ACL file, the ACL LOG's length, and whether new users
    /// start with `allchannels` (`acl-pubsub-default`).
    pub aclfile: String,
    pub acllog_max_len: u64,
    pub acl_pubsub_default: String,
    /// `user` directives of the config file, each as its arguments.
    pub acl_users: Vec<Vec<String>>,
    /// `latency-monitor-threshold`, 0 ms = off.
    pub latency_monitor_threshold: u64,
    /// `latency-tracking`: per-command latency histograms (INFO latencystats).
    pub latency_tracking: bool,
    /// `notify-keyspace-events`, "" — normalised as Redis shows it (`KEA` -> `AKE`).
    pub notify_keyspace_events: String,
    /// Not a directive: `notify_keyspace_events` parsed, the classes that publish (0
    /// unless K or E is set). `ExecCtx::notify` tests a class against it with one AND.
    pub notify_mask: u32,
    /// Not a directive: the parsed flags including K and E (where to publish).
    pub notify_flags: u32,
    /// `lazyfree-lazy-eviction`, no.
    pub lazyfree_lazy_eviction: bool,
    /// `lazyfree-lazy-expire`, no.
    pub lazyfree_lazy_expire: bool,
    /// `lazyfree-lazy-server-del`, no.
    pub lazyfree_lazy_server_del: bool,
    /// `lazyfree-lazy-user-del`, no.
    pub lazyfree_lazy_user_del: bool,
    /// `lazyfree-lazy-user-flush`, no.
    pub lazyfree_lazy_user_flush: bool,
    /// `client-output-buffer-limit` in CONFIG GET form, sizes in bytes:
    /// `normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60`.
    /// [`Config::output_buffer_limit`] gives it parsed.
    pub client_output_buffer_limit: String,
    /// `enable-debug-command`: `no` (the default, as in Redis 7.0), `yes`, or `local`
    /// (loopback and Unix-socket connections only).
    pub enable_debug_command: String,
    /// `enable-protected-configs`: whether CONFIG SET may change `dir` and
    /// `dbfilename`: `no` (the default, as in Redis 7.0), `yes`, or `local`.
    pub enable_protected_configs: String,
    /// `hll-sparse-max-bytes`, 3000: a sparse HyperLogLog that would grow past this
    /// many bytes (header included) is converted to the dense encoding.
    pub hll_sparse_max_bytes: u64,
    /// `stream-node-max-entries` (100) and `stream-node-max-bytes` (4096): where a
    /// stream's nodes split (0: no limit). Typed fields, since every XADD reads them.
    pub stream_node_max_entries: u64,
    pub stream_node_max_bytes: u64,
    /// The encoding tunables (`hash-max-listpack-*`, `zset-max-listpack-*`,
    /// `set-max-intset-entries`, `list-max-listpack-size`, `list-compress-depth`) in the plain form storage
    /// takes: handlers pass `&config.encoding` to the values they create or grow.
    pub encoding: crate::storage::EncodingLimits,
    /// Not a directive: DEBUG SET-ACTIVE-EXPIRE's switch. Never shown by CONFIG GET.
    pub active_expire_enabled: bool,
    /// Every compatibility-only parameter (see `params`): canonical name -> canonical
    /// value. Validated, reported by CONFIG GET, no effect on the server.
    pub compat: BTreeMap<String, String>,
}

/// The compatibility-only parameters at their defaults, canonicalized once: building
/// the map is most of the cost of a `Config::default()`.
static COMPAT_DEFAULTS: std::sync::LazyLock<BTreeMap<String, String>> = std::sync::LazyLock::new(|| {
    let mut compat = BTreeMap::new();
    for p in PARAMS.iter().filter(|p| p.store == Store::Compat) {
        // The table's own test guarantees defaults are valid; fall back to the
        // raw text rather than panic if one ever is not.
        let v = params::canonicalize(p, &[p.default.to_string()], "").unwrap_or_else(|_| p.default.to_string());
        compat.insert(p.name.to_string(), v);
    }
    compat
});

impl Default for Config {
    fn default() -> Self {
        let compat = COMPAT_DEFAULTS.clone();
        Config {
            bind: vec!["127.0.0.1".to_string()],
            port: 6379,
            protected_mode: true,
            requirepass: None,
            dir: "./data".to_string(),
            dbfilename: "dump.rdb".to_string(),
            databases: 16,
            maxclients: 10000,
            timeout: 0,
            tcp_keepalive: 300,
            tcp_backlog: 511,
            unixsocket: String::new(),
            unixsocketperm: 0,
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            appendonly: false,
            appendfilename: "appendonly.aof".to_string(),
            appenddirname: "appendonlydir".to_string(),
            appendfsync: Fsync::Everysec,
            appendonly_direct: DirectIo::Auto,
            pipeline_order_strict: true,
            replica_apply_order_strict: true,
            maxmemory: 0,
            maxmemory_policy: "noeviction".to_string(),
            maxmemory_samples: 5,
            hz: 10,
            loglevel: "notice".to_string(),
            logfile: String::new(),
            daemonize: false,
            pidfile: String::new(),
            shards: params::online_cpus(),
            cpus: Vec::new(),
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            aclfile: String::new(),
            acllog_max_len: 128,
            acl_pubsub_default: "resetchannels".to_string(),
            acl_users: Vec::new(),
            latency_monitor_threshold: 0,
            latency_tracking: true,
            notify_keyspace_events: String::new(),
            notify_mask: 0,
            notify_flags: 0,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_user_flush: false,
            client_output_buffer_limit: params::COB_DEFAULT.to_string(),
            enable_debug_command: "no".to_string(),
            enable_protected_configs: "no".to_string(),
            hll_sparse_max_bytes: 3000,
            stream_node_max_entries: 100,
            stream_node_max_bytes: 4096,
            encoding: crate::storage::EncodingLimits::DEFAULT,
            active_expire_enabled: true,
            compat,
        }
    }
}

/// A configuration error at startup, worded like Redis's fatal config error.
#[derive(Debug)]
pub struct ConfigError {
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

fn set_error(name: &str, why: &str) -> String {
    format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
}

impl Config {
    /// Parse argv (without the program name) like redis-server: an optional first
    /// argument not starting with `--` is a config file, then `--name value...` groups
    /// (see [`parse::split_argv`]). The file is processed first, then the flags, so
    /// flags win; a `save` flag replaces the file's save points rather than adding to
    /// them. If `cpus` is given but `shards` is not, `shards` becomes the CPU count.
    /// Last, final values that need a feature shardis lacks are refused
    /// (`params::RESTRICTED`), naming the line or flag that set them.
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        let (file, flags) = parse::split_argv(args)?;
        let mut cfg = Config::default();
        let mut loader = parse::Loader::new();
        if let Some(path) = file {
            let text = parse::read_config_file(&path).map_err(|message| ConfigError { message })?;
            loader.load_text(&mut cfg, &text, &path, 0)?;
        }
        loader.begin_source();
        loader.load_flags(&mut cfg, &flags)?;
        // "cpus 0-3" alone should mean four shards, not one per online CPU with the
        // extra shards wrapping onto the listed cores.
        if !cfg.cpus.is_empty() && !loader.explicit.contains(&"shards") {
            cfg.shards = cfg.cpus.len();
        }
        loader.check_restricted(&cfg)?;
        Ok(cfg)
    }

    /// Apply redis.conf text: one directive per line, `#` comment lines, blank lines,
    /// arguments split with Redis's quoting rules, case-insensitive directive names,
    /// `include path` (relative to the working directory, as in Redis). `origin` names
    /// the source in error messages ("" for none). Stops at the first bad line; lines
    /// before it stay applied. Values shardis cannot honour (`params::RESTRICTED`) are
    /// not refused here, only by [`Config::from_args`] and [`Config::set`], which judge
    /// the final value.
    pub fn apply_text(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        parse::Loader::new().load_text(self, text, origin, 0)
    }

    /// Set one directive (by name or alias, any case) from its argument list, as in a
    /// config file line. Immutability is not checked here: files and flags may set
    /// everything; [`Config::set`] adds the CONFIG SET rules. On error nothing changes
    /// and the message is Redis's wording (e.g. "argument must be 'yes' or 'no'").
    pub fn apply_directive(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        let Some((_, p)) = params::find(name) else {
            return Err(parse::BAD_DIRECTIVE.into());
        };
        let current = self.value_of(p);
        let value = params::canonicalize(p, args, &current)?;
        self.store(p, &value)?;
        if p.name == "notify-keyspace-events" {
            // The flags come from what was asked, not from the canonical text: `AKEn`
            // reads back as `AKE` (as in Redis) yet still publishes `new` events.
            self.notify_flags = args.first().and_then(|a| notify::parse(a)).unwrap_or(0);
            self.notify_mask = notify::active_mask(self.notify_flags);
        }
        Ok(())
    }

    /// CONFIG GET: every (name, value) whose name matches one of the glob patterns
    /// (case-insensitive; `*`, `?`, `[...]`, `\`). Values are Redis's CONFIG GET text.
    /// Each parameter appears once, in table order per pattern. Patterns match
    /// canonical names, falling back to aliases (reported under the alias); an exact
    /// alias such as `hash-max-ziplist-entries` is answered under that name.
    pub fn get(&self, patterns: &[&str]) -> Vec<(String, String)> {
        let mut seen = vec![false; PARAMS.len()];
        let mut out = Vec::new();
        for pattern in patterns {
            let pattern = pattern.to_ascii_lowercase();
            if !pattern.contains(['*', '?', '[']) {
                if let Some((i, p)) = params::find(&pattern)
                    && !seen[i]
                {
                    seen[i] = true;
                    out.push((pattern.clone(), self.value_of(p)));
                }
                continue;
            }
            // Redis 7.0 matches the pattern against every name, aliases included, and
            // answers each match under the name it matched; hidden parameters only by
            // their exact name.
            for (i, p) in PARAMS.iter().enumerate() {
                if seen[i] || params::HIDDEN.contains(&p.name) {
                    continue;
                }
                let mut matched = false;
                for name in std::iter::once(p.name).chain(p.aliases.iter().copied()) {
                    if glob_match(pattern.as_bytes(), name.as_bytes()) {
                        matched = true;
                        out.push((name.to_string(), self.value_of(p)));
                    }
                }
                seen[i] = matched;
            }
        }
        out
    }

    /// CONFIG SET name value [name value ...], all or nothing: names are checked first
    /// (unknown, immutable, duplicate — aliases count as the same parameter), then every
    /// value is applied to a copy, and only if all succeed, and no resulting value needs
    /// a feature shardis lacks (`params::RESTRICTED`), does the copy replace `self`.
    /// Returns the canonical names of the parameters whose value actually changed, in
    /// argument order. Errors are complete Redis error replies (starting with `ERR`).
    pub fn set(&mut self, pairs: &[(String, String)]) -> Result<Vec<String>, String> {
        let mut resolved: Vec<usize> = Vec::with_capacity(pairs.len());
        for (name, _) in pairs {
            let Some((i, p)) = params::find(name) else {
                return Err(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'"));
            };
            if !p.is_mutable() {
                return Err(set_error(name, "can't set immutable config"));
            }
            if resolved.contains(&i) {
                return Err(set_error(name, "duplicate parameter"));
            }
            resolved.push(i);
        }
        let mut next = self.clone();
        for (name, value) in pairs {
            next.apply_directive(name, std::slice::from_ref(value)).map_err(|why| set_error(name, &why))?;
        }
        // Refused on the resulting value, not the argument: `client-output-buffer-limit
        // normal 0 0 0` updates one class and leaves the default in place.
        for ((name, _), &i) in pairs.iter().zip(&resolved) {
            if let Some(why) = params::refusal(PARAMS[i].name, &next.value_of(&PARAMS[i])) {
                return Err(set_error(name, why));
            }
        }
        let changed = resolved
            .iter()
            .map(|&i| &PARAMS[i])
            .filter(|p| self.value_of(p) != next.value_of(p))
            .map(|p| p.name.to_string())
            .collect();
        *self = next;
        Ok(changed)
    }

    /// The CONFIG GET text of one parameter, by name or alias.
    pub fn value(&self, name: &str) -> Option<String> {
        params::find(name).map(|(_, p)| self.value_of(p))
    }

    /// A compatibility-only parameter's canonical value (e.g. `hash-max-listpack-entries`).
    /// Should the AOF's files be O_DIRECT now (`appendonly-direct`, with `auto`
    /// following `appendfsync`)?
    pub fn aof_direct(&self) -> bool {
        match self.appendonly_direct {
            DirectIo::Yes => true,
            DirectIo::No => false,
            DirectIo::Auto => self.appendfsync == Fsync::Always,
        }
    }

    pub fn compat_value(&self, name: &str) -> Option<&str> {
        let (_, p) = params::find(name)?;
        self.compat.get(p.name).map(String::as_str)
    }

    /// File descriptors the server keeps for itself beside its clients' (Redis's
    /// CONFIG_MIN_RESERVED_FDS, 32, plus a ring, listeners and AOF files per shard):
    /// `maxclients` is sized against the open-files limit minus these
    /// (`server::rlimit`, CONFIG SET maxclients).
    pub fn reserved_fds(&self) -> u64 {
        32 + 4 * self.shards.max(1) as u64
    }

    /// The CPU each shard should be pinned to, indexed by shard: `cpus` if given
    /// (wrapping if there are more shards than CPUs), else 0..shards.
    pub fn shard_cpus(&self) -> Vec<usize> {
        if self.cpus.is_empty() {
            (0..self.shards).collect()
        } else {
            (0..self.shards).map(|i| self.cpus[i % self.cpus.len()]).collect()
        }
    }

    /// `client-output-buffer-limit` for a class (`normal`, `slave`/`replica`,
    /// `pubsub`): (hard bytes, soft bytes, soft seconds); 0 means no limit.
    pub fn output_buffer_limit(&self, class: &str) -> Option<(u64, u64, u64)> {
        let class = if class.eq_ignore_ascii_case("replica") { "slave" } else { class };
        let i = params::CLIENT_CLASSES.iter().position(|c| c.eq_ignore_ascii_case(class))?;
        let [h, s, t] = params::parse_buffer_limits(&self.client_output_buffer_limit)[i];
        Some((h, s, t))
    }

    /// Canonical value of a table parameter.
    pub(crate) fn value_of(&self, p: &Param) -> String {
        match p.store {
            Store::Field => self.field_value(p.name).unwrap_or_default(),
            Store::Compat => self.compat.get(p.name).cloned().unwrap_or_default(),
        }
    }

    fn store(&mut self, p: &Param, value: &str) -> Result<(), String> {
        match p.store {
            Store::Field => {
                if !self.store_field(p.name, value)? {
                    return Err(format!("internal error: no field for '{}'", p.name));
                }
            }
            Store::Compat => {
                self.compat.insert(p.name.to_string(), value.to_string());
            }
        }
        Ok(())
    }

    /// CONFIG GET text of a typed field; `None` for names that are not fields.
    fn field_value(&self, name: &str) -> Option<String> {
        let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
        Some(match name {
            "bind" => self.bind.join(" "),
            "port" => self.port.to_string(),
            "protected-mode" => yn(self.protected_mode),
            "requirepass" => self.requirepass.clone().unwrap_or_default(),
            "dir" => self.dir.clone(),
            "dbfilename" => self.dbfilename.clone(),
            "databases" => self.databases.to_string(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout.to_string(),
            "tcp-keepalive" => self.tcp_keepalive.to_string(),
            "tcp-backlog" => self.tcp_backlog.to_string(),
            "unixsocket" => self.unixsocket.clone(),
            "unixsocketperm" => format!("{:o}", self.unixsocketperm),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "save" => {
                let parts: Vec<String> = self.save.iter().map(|(s, c)| format!("{s} {c}")).collect();
                parts.join(" ")
            }
            "appendonly" => yn(self.appendonly),
            "appendfilename" => self.appendfilename.clone(),
            "appenddirname" => self.appenddirname.clone(),
            "appendfsync" => self.appendfsync.as_str().to_string(),
            "appendonly-direct" => self.appendonly_direct.as_str().to_string(),
            "pipeline-order" => (if self.pipeline_order_strict { "strict" } else { "per-shard" }).to_string(),
            "replica-apply-order" => (if self.replica_apply_order_strict { "strict" } else { "per-shard" }).to_string(),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-policy" => self.maxmemory_policy.clone(),
            "maxmemory-samples" => self.maxmemory_samples.to_string(),
            "hz" => self.hz.to_string(),
            "loglevel" => self.loglevel.clone(),
            "logfile" => self.logfile.clone(),
            "daemonize" => yn(self.daemonize),
            "pidfile" => self.pidfile.clone(),
            "shards" => self.shards.to_string(),
            "cpus" => parse::format_cpus(&self.cpus),
            "slowlog-log-slower-than" => self.slowlog_log_slower_than.to_string(),
            "slowlog-max-len" => self.slowlog_max_len.to_string(),
            "aclfile" => self.aclfile.clone(),
            "acllog-max-len" => self.acllog_max_len.to_string(),
            "acl-pubsub-default" => self.acl_pubsub_default.clone(),
            "latency-monitor-threshold" => self.latency_monitor_threshold.to_string(),
            "latency-tracking" => yn(self.latency_tracking),
            "notify-keyspace-events" => self.notify_keyspace_events.clone(),
            "lazyfree-lazy-eviction" => yn(self.lazyfree_lazy_eviction),
            "lazyfree-lazy-expire" => yn(self.lazyfree_lazy_expire),
            "lazyfree-lazy-server-del" => yn(self.lazyfree_lazy_server_del),
            "lazyfree-lazy-user-del" => yn(self.lazyfree_lazy_user_del),
            "lazyfree-lazy-user-flush" => yn(self.lazyfree_lazy_user_flush),
            "client-output-buffer-limit" => self.client_output_buffer_limit.clone(),
            "enable-debug-command" => self.enable_debug_command.clone(),
            "enable-protected-configs" => self.enable_protected_configs.clone(),
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes.to_string(),
            "stream-node-max-entries" => self.stream_node_max_entries.to_string(),
            "stream-node-max-bytes" => self.stream_node_max_bytes.to_string(),
            "hash-max-listpack-entries" => self.encoding.hash_max_listpack_entries.to_string(),
            "hash-max-listpack-value" => self.encoding.hash_max_listpack_value.to_string(),
            "zset-max-listpack-entries" => self.encoding.zset_max_listpack_entries.to_string(),
            "zset-max-listpack-value" => self.encoding.zset_max_listpack_value.to_string(),
            "set-max-intset-entries" => self.encoding.set_max_intset_entries.to_string(),
            "list-max-listpack-size" => self.encoding.list_max_listpack_size.to_string(),
            "list-compress-depth" => self.encoding.list_compress_depth.to_string(),
            _ => return None,
        })
    }

    /// Store a canonical value (already validated by `params::canonicalize`) into its
    /// typed field. Returns false for names that are not fields.
    fn store_field(&mut self, name: &str, v: &str) -> Result<bool, String> {
        fn num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
            // Only reachable if a table range does not fit the field's type.
            v.parse().map_err(|_| format!("argument '{v}' is out of range"))
        }
        let yes = v == "yes";
        match name {
            "bind" => self.bind = v.split(' ').map(str::to_string).collect(),
            "port" => self.port = num(v)?,
            "protected-mode" => self.protected_mode = yes,
            "requirepass" => self.requirepass = (!v.is_empty()).then(|| v.to_string()),
            "dir" => self.dir = v.to_string(),
            "dbfilename" => self.dbfilename = v.to_string(),
            "databases" => self.databases = num(v)?,
            "maxclients" => self.maxclients = num(v)?,
            "timeout" => self.timeout = num(v)?,
            "tcp-keepalive" => self.tcp_keepalive = num(v)?,
            "tcp-backlog" => self.tcp_backlog = num(v)?,
            "unixsocket" => self.unixsocket = v.to_string(),
            "unixsocketperm" => {
                self.unixsocketperm = u32::from_str_radix(v, 8).map_err(|_| format!("argument '{v}' is not octal"))?
            }
            "proto-max-bulk-len" => self.proto_max_bulk_len = num(v)?,
            "client-query-buffer-limit" => self.client_query_buffer_limit = num(v)?,
            "save" => {
                let nums: Vec<u64> = v.split_whitespace().map(num).collect::<Result<_, _>>()?;
                self.save = nums.chunks_exact(2).map(|c| (c[0], c[1])).collect();
            }
            "appendonly" => self.appendonly = yes,
            "appendfilename" => self.appendfilename = v.to_string(),
            "appenddirname" => self.appenddirname = v.to_string(),
            "appendfsync" => {
                self.appendfsync = match v {
                    "always" => Fsync::Always,
                    "no" => Fsync::No,
                    _ => Fsync::Everysec,
                }
            }
            "pipeline-order" => self.pipeline_order_strict = v == "strict",
            "replica-apply-order" => self.replica_apply_order_strict = v == "strict",
            "appendonly-direct" => {
                self.appendonly_direct = match v {
                    "yes" => DirectIo::Yes,
                    "no" => DirectIo::No,
                    _ => DirectIo::Auto,
                }
            }
            "maxmemory" => self.maxmemory = num(v)?,
            "maxmemory-policy" => self.maxmemory_policy = v.to_string(),
            "maxmemory-samples" => self.maxmemory_samples = num(v)?,
            // Redis's updateHZ clamps rather than refuses: `hz 1000` reads back as 500.
            "hz" => self.hz = num::<u32>(v)?.clamp(1, 500),
            "loglevel" => self.loglevel = v.to_string(),
            "logfile" => self.logfile = v.to_string(),
            "daemonize" => self.daemonize = yes,
            "pidfile" => self.pidfile = v.to_string(),
            "shards" => self.shards = num(v)?,
            "cpus" => self.cpus = parse::parse_cpus(v)?,
            "slowlog-log-slower-than" => self.slowlog_log_slower_than = num(v)?,
            "slowlog-max-len" => self.slowlog_max_len = num(v)?,
            "aclfile" => self.aclfile = v.to_string(),
            "acllog-max-len" => self.acllog_max_len = num(v)?,
            "acl-pubsub-default" => self.acl_pubsub_default = v.to_string(),
            "latency-monitor-threshold" => self.latency_monitor_threshold = num(v)?,
            "latency-tracking" => self.latency_tracking = yes,
            "notify-keyspace-events" => {
                // `apply_directive` re-parses the raw text afterwards: the canonical
                // text drops an `n` that `A` hides.
                self.notify_flags = notify::parse(v).unwrap_or(0);
                self.notify_mask = notify::active_mask(self.notify_flags);
                self.notify_keyspace_events = v.to_string();
            }
            "lazyfree-lazy-eviction" => self.lazyfree_lazy_eviction = yes,
            "lazyfree-lazy-expire" => self.lazyfree_lazy_expire = yes,
            "lazyfree-lazy-server-del" => self.lazyfree_lazy_server_del = yes,
            "lazyfree-lazy-user-del" => self.lazyfree_lazy_user_del = yes,
            "lazyfree-lazy-user-flush" => self.lazyfree_lazy_user_flush = yes,
            "client-output-buffer-limit" => self.client_output_buffer_limit = v.to_string(),
            "enable-debug-command" => self.enable_debug_command = v.to_string(),
            "enable-protected-configs" => self.enable_protected_configs = v.to_string(),
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes = num(v)?,
            "stream-node-max-entries" => self.stream_node_max_entries = num(v)?,
            "stream-node-max-bytes" => self.stream_node_max_bytes = num(v)?,
            "hash-max-listpack-entries" => self.encoding.hash_max_listpack_entries = num(v)?,
            "hash-max-listpack-value" => self.encoding.hash_max_listpack_value = num(v)?,
            "zset-max-listpack-entries" => self.encoding.zset_max_listpack_entries = num(v)?,
            "zset-max-listpack-value" => self.encoding.zset_max_listpack_value = num(v)?,
            "set-max-intset-entries" => self.encoding.set_max_intset_entries = num(v)?,
            "list-max-listpack-size" => self.encoding.list_max_listpack_size = num(v)?,
            "list-compress-depth" => self.encoding.list_compress_depth = num(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Redis's `stringmatchlen` glob (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), on bytes. Callers
/// lowercase both sides for case-insensitive matching. Parameter names are short, so
/// the backtracking on `*` costs nothing.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    while pi < p.len() {
        match p[pi] {
            b'*' => {
                while pi + 1 < p.len() && p[pi + 1] == b'*' {
                    pi += 1;
                }
                if pi + 1 == p.len() {
                    return true;
                }
                return (si..=s.len()).any(|k| glob_match(&p[pi + 1..], &s[k..]));
            }
            b'?' => {
                if si >= s.len() {
                    return false;
                }
                si += 1;
            }
            b'[' => {
                let Some(&c) = s.get(si) else { return false };
                pi += 1;
                let negate = p.get(pi) == Some(&b'^');
                if negate {
                    pi += 1;
                }
                let mut matched = false;
                loop {
                    match p.get(pi) {
                        // Unterminated class: Redis treats the end of the pattern as
                        // the end of the class.
                        None => {
                            pi -= 1;
                            break;
                        }
                        Some(b']') => break,
                        Some(b'\\') if pi + 1 < p.len() => {
                            pi += 1;
                            matched |= p[pi] == c;
                        }
                        Some(&lo) if p.get(pi + 1) == Some(&b'-') && pi + 2 < p.len() => {
                            let hi = p[pi + 2];
                            let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                            matched |= (a..=b).contains(&c);
                            pi += 2;
                        }
                        Some(&x) => matched |= x == c,
                    }
                    pi += 1;
                }
                if matched == negate {
                    return false;
                }
                si += 1;
            }
            b'\\' if pi + 1 < p.len() => {
                pi += 1;
                if s.get(si) != Some(&p[pi]) {
                    return false;
                }
                si += 1;
            }
            c => {
                if s.get(si) != Some(&c) {
                    return false;
                }
                si += 1;
            }
        }
        pi += 1;
    }
    si == s.len()
}

#[cfg(test)]
mod tests;
