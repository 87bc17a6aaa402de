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
//! Depends on: std only; no other crate modules.

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
    /// `replica-apply-order` (shardis's own): `strict` (true) applies the master's
    /// stream on a multi-shard replica in stream order across shards (`cmd::order`, as
    /// `pipeline-order strict` does for clients); `per-shard` (the default) keeps only
    /// each shard's order, and keeps up with a faster master (`perf/RESULTS.md`).
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
            replica_apply_order_strict: false,
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
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    fn get1(cfg: &Config, name: &str) -> String {
        cfg.value(name).unwrap()
    }

    /// A unique scratch directory under the system temp dir.
    fn scratch_dir(tag: &str) -> std::path::PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "shardis-config-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn defaults_match_table() {
        let def = Config::default();
        for p in PARAMS {
            let mut c = Config::default();
            c.apply_directive(p.name, &[p.default.to_string()]).unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert_eq!(c.value_of(p), def.value_of(p), "default of {}", p.name);
            // Field parameters and compat parameters are kept apart.
            assert_eq!(def.field_value(p.name).is_some(), p.store == Store::Field, "{}", p.name);
            assert_eq!(def.compat.contains_key(p.name), p.store == Store::Compat, "{}", p.name);
        }
        assert_eq!(get1(&def, "save"), "3600 1 300 100 60 10000");
        assert_eq!(get1(&def, "proto-max-bulk-len"), "536870912");
        assert_eq!(get1(&def, "bind"), "127.0.0.1");
        assert_eq!(def.shards, params::online_cpus());
        assert!(def.active_expire_enabled);
    }

    #[test]
    fn every_parameter_round_trips_through_get_and_set() {
        let mut cfg = Config::default();
        let all = cfg.get(&["*"]);
        // Aliases are listed too, hidden parameters are not.
        let want: usize =
            PARAMS.iter().filter(|p| !params::HIDDEN.contains(&p.name)).map(|p| 1 + p.aliases.len()).sum();
        assert_eq!(all.len(), want, "CONFIG GET * lists every name once");
        for p in PARAMS {
            let got = cfg.get(&[p.name]);
            assert_eq!(got.len(), 1, "{}", p.name);
            assert_eq!(got[0].0, p.name);
            if p.is_mutable() {
                let before = cfg.value_of(p);
                let changed = cfg
                    .set(&pairs(&[(p.name, &got[0].1)]))
                    .unwrap_or_else(|e| panic!("CONFIG SET {} {:?}: {e}", p.name, got[0].1));
                assert!(changed.is_empty(), "{} changed on round trip", p.name);
                assert_eq!(cfg.value_of(p), before);
            } else {
                assert!(cfg.set(&pairs(&[(p.name, &got[0].1)])).is_err(), "{} is immutable", p.name);
            }
        }
        // No internal field name leaks out (Redis's own names with '_', such as
        // `bgsave_cpulist`, are parameters).
        assert!(
            all.iter().all(|(n, _)| n != "active-expire-enabled" && (!n.contains('_') || params::find(n).is_some()))
        );
    }

    #[test]
    fn get_patterns_and_aliases() {
        let cfg = Config::default();
        let names = |pats: &[&str]| -> Vec<String> { cfg.get(pats).into_iter().map(|(n, _)| n).collect() };
        assert_eq!(cfg.get(&["PORT"]), vec![("port".to_string(), "6379".to_string())]);
        assert_eq!(names(&["lazyfree-*"]).len(), 5);
        assert_eq!(
            names(&["maxmemory*"]),
            vec![
                "maxmemory",
                "maxmemory-policy",
                "maxmemory-samples",
                "maxmemory-clients",
                "maxmemory-eviction-tenacity"
            ]
        );
        assert_eq!(names(&["h?"]), vec!["hz"]);
        assert_eq!(names(&["[pd]ort"]), vec!["port"]);
        assert_eq!(names(&["[^p]ort"]), Vec::<String>::new());
        assert_eq!(names(&["port", "port", "p*rt"]), vec!["port"]);
        assert!(names(&["nonexistent"]).is_empty());
        // An exact alias is answered under the alias; `*` lists aliases too, as Redis 7.0 does.
        assert_eq!(
            cfg.get(&["hash-max-ziplist-entries"]),
            vec![("hash-max-ziplist-entries".to_string(), "512".to_string())]
        );
        assert_eq!(names(&["slaveof"]), vec!["slaveof"]);
        let all = names(&["*"]);
        assert!(all.contains(&"hash-max-listpack-entries".to_string()));
        assert!(all.contains(&"hash-max-ziplist-entries".to_string()));
        assert!(!all.contains(&"key-load-delay".to_string()), "hidden");
        assert_eq!(names(&["key-load-delay"]), vec!["key-load-delay"]);
        // A pattern that matches only an alias reports the alias.
        assert_eq!(names(&["*ziplist-entries"]), vec!["hash-max-ziplist-entries", "zset-max-ziplist-entries"]);
        assert_eq!(names(&["*max-*-entries"]).len(), 5, "aliases are listed beside their parameter");
        assert_eq!(
            get1(&cfg, "client-output-buffer-limit"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
    }

    #[test]
    fn glob_matcher() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes());
        assert!(m("*", ""));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(m("[a-c]x", "bx"));
        assert!(m("[c-a]x", "bx"));
        assert!(m("[\\]]", "]"));
        assert!(!m("?", ""));
        assert!(m("[abc", "a"));
    }

    #[test]
    fn set_is_all_or_nothing() {
        let mut cfg = Config::default();
        let err =
            cfg.set(&pairs(&[("proto-max-bulk-len", "100mb"), ("hz", "abc"), ("appendonly", "yes")])).unwrap_err();
        assert_eq!(
            err,
            "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
        );
        assert_eq!(cfg.proto_max_bulk_len, 512 << 20);
        assert!(!cfg.appendonly);

        let err = cfg.set(&pairs(&[("appendonly", "maybe")])).unwrap_err();
        assert_eq!(
            err,
            "ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'yes' or 'no'"
        );
        let err = cfg.set(&pairs(&[("proto-max-bulk-len", "1mb"), ("nosuch", "1")])).unwrap_err();
        assert_eq!(err, "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'");
        assert_eq!(cfg.proto_max_bulk_len, 512 << 20);
        let err = cfg.set(&pairs(&[("hz", "20"), ("HZ", "30")])).unwrap_err();
        assert_eq!(err, "ERR CONFIG SET failed (possibly related to argument 'HZ') - duplicate parameter");
        let err =
            cfg.set(&pairs(&[("hash-max-listpack-entries", "1"), ("hash-max-ziplist-entries", "2")])).unwrap_err();
        assert!(err.ends_with("duplicate parameter"), "{err}");
        assert_eq!(cfg.hz, 10);

        let changed = cfg
            .set(&pairs(&[("proto-max-bulk-len", "100mb"), ("hz", "10"), ("save", "900 1"), ("SLAVE-read-only", "no")]))
            .unwrap();
        assert_eq!(changed, vec!["proto-max-bulk-len", "save", "replica-read-only"]);
        assert_eq!(cfg.proto_max_bulk_len, 100 << 20);
        assert_eq!(cfg.save, vec![(900, 1)]);
        assert_eq!(get1(&cfg, "replica-read-only"), "no");
        cfg.set(&pairs(&[("save", "")])).unwrap();
        assert!(cfg.save.is_empty());
        cfg.set(&pairs(&[("requirepass", "s3cret pass")])).unwrap();
        assert_eq!(cfg.requirepass.as_deref(), Some("s3cret pass"));
        cfg.set(&pairs(&[("requirepass", "")])).unwrap();
        assert_eq!(cfg.requirepass, None);
        assert_eq!(cfg.output_buffer_limit("pubsub"), Some((32 << 20, 8 << 20, 60)));
        assert_eq!(cfg.output_buffer_limit("replica"), Some((256 << 20, 64 << 20, 60)));
    }

    #[test]
    fn set_refuses_values_needing_missing_features() {
        let mut cfg = Config::default();
        let refused = |cfg: &mut Config, name: &str, value: &str| {
            let err = cfg.set(&pairs(&[("hz", "20"), (name, value)])).unwrap_err();
            let why = params::refusal(params::find(name).unwrap().1.name, &{
                let mut c = cfg.clone();
                c.apply_directive(name, &args(&[value])).unwrap();
                c.value(name).unwrap()
            })
            .unwrap();
            assert_eq!(err, format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"));
        };
        refused(&mut cfg, "activedefrag", "yes");
        assert_eq!(cfg.hz, 10, "all or nothing");
        // The values with no effect are accepted.
        for (name, value) in [
            ("maxmemory", "0"),
            ("lazyfree-lazy-eviction", "yes"),
            ("lazyfree-lazy-user-flush", "yes"),
            ("client-output-buffer-limit", "pubsub 1mb 0 0"),
            ("client-output-buffer-limit", "normal 0 0 0"),
            ("client-output-buffer-limit", "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60"),
            ("maxmemory-clients", "0%"),
            ("maxmemory-policy", "allkeys-lru"),
            ("replica-lazy-flush", "yes"),
            ("masterauth", "secret"),
            ("hash-max-listpack-entries", "7"),
        ] {
            cfg.set(&pairs(&[(name, value)])).unwrap_or_else(|e| panic!("{name} {value}: {e}"));
        }
    }

    #[test]
    fn startup_refuses_final_values_needing_missing_features() {
        let dir = scratch_dir("restricted");
        let path = dir.join("redis.conf");
        // A stock redis.conf's lines: daemonize yes (overridden by a flag below) and
        // the output buffer limits one class per line.
        std::fs::write(
            &path,
            "daemonize yes\nclient-output-buffer-limit normal 0 0 0\n\
             client-output-buffer-limit replica 256mb 64mb 60\nclient-output-buffer-limit pubsub 32mb 8mb 60\n\
             lazyfree-lazy-user-del no\nreplicaof no one\n",
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let cfg = Config::from_args(&args(&[file, "--daemonize", "no"])).unwrap();
        assert_eq!(cfg.client_output_buffer_limit, params::COB_DEFAULT);

        let e = Config::from_args(&args(&[file])).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "*** FATAL CONFIG FILE ERROR (shardis) ***\nReading the configuration file {file}, at line 1\n\
                 >>> 'daemonize yes'\ndaemonize yes is not supported; run shardis under a service manager \
                 (see deploy/shardis.service)"
            )
        );
        let cfg = Config::from_args(&args(&[file, "--daemonize", "no", "--slaveof", "10.0.0.1", "6379"])).unwrap();
        assert_eq!(cfg.compat_value("replicaof"), Some("10.0.0.1 6379"));
        // A later line setting the accepted value wins over an earlier refused one.
        std::fs::write(&path, "maxmemory 1gb\nhz 20\nmaxmemory 0\n").unwrap();
        assert_eq!(Config::from_args(&args(&[file])).unwrap().hz, 20);
        std::fs::write(&path, "hz 20\nactivedefrag yes\n").unwrap();
        let e = Config::from_args(&args(&[file])).unwrap_err();
        assert!(e.message.contains("at line 2\n>>> 'activedefrag yes'"), "{e}");
        std::fs::write(&path, "client-output-buffer-limit pubsub 64mb 16mb 90\n").unwrap();
        let cfg = Config::from_args(&args(&[file])).unwrap();
        assert_eq!(cfg.output_buffer_limit("pubsub"), Some((64 << 20, 16 << 20, 90)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn immutable_parameters() {
        let mut cfg = Config::default();
        for name in [
            "databases",
            "daemonize",
            "shards",
            "cpus",
            "unixsocket",
            "appenddirname",
            "appendfilename",
            "io-threads",
            "cluster-enabled",
        ] {
            let err = cfg.set(&pairs(&[(name, "1")])).unwrap_err();
            assert_eq!(
                err,
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config")
            );
        }
        // Immutable ones are still settable from files and flags.
        cfg.apply_directive("databases", &args(&["7"])).unwrap();
        assert_eq!(cfg.databases, 7);
        // port and bind move the listeners at run time, as in Redis 7.0.
        assert_eq!(cfg.set(&pairs(&[("port", "7001"), ("bind", "127.0.0.1 ::1")])).unwrap(), vec!["port", "bind"]);
        assert_eq!((cfg.port, cfg.bind.len()), (7001, 2));
        cfg.apply_directive("unixsocketperm", &args(&["0770"])).unwrap();
        assert_eq!((cfg.unixsocketperm, cfg.value("unixsocketperm").unwrap()), (0o770, "770".to_string()));
    }

    #[test]
    fn text_parsing_quoting_units_and_aliases() {
        let mut cfg = Config::default();
        let text = "# comment\n\n  PORT 7001  \r\nrequirepass \"pa ss\\\"word\"\nbind 127.0.0.1 ::1\n\
                    dir '/var/lib/shardis'\nproto-max-bulk-len 1GB\nmaxmemory 100k\n\
                    save 900 1\nsave 300 10\nslaveof 10.0.0.1 6380\nhash-max-ziplist-entries 256\n\
                    appendfsync always\ncpus 0-1,4\nlist-max-ziplist-entries 5\n";
        cfg.apply_text(text, "test.conf").unwrap();
        assert_eq!(cfg.port, 7001);
        assert_eq!(cfg.requirepass.as_deref(), Some("pa ss\"word"));
        assert_eq!(cfg.bind, args(&["127.0.0.1", "::1"]));
        assert_eq!(cfg.dir, "/var/lib/shardis");
        assert_eq!(cfg.proto_max_bulk_len, 1 << 30);
        assert_eq!(cfg.maxmemory, 100_000);
        assert_eq!(cfg.save, vec![(900, 1), (300, 10)]);
        assert_eq!(get1(&cfg, "replicaof"), "10.0.0.1 6380");
        assert_eq!(cfg.compat_value("hash-max-listpack-entries"), Some("256"));
        assert_eq!(cfg.appendfsync, Fsync::Always);
        assert_eq!(cfg.cpus, vec![0, 1, 4]);

        let mut cfg = Config::default();
        cfg.apply_text("save \"\"\n", "").unwrap();
        assert!(cfg.save.is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let mut cfg = Config::default();
        let e = cfg.apply_text("port 7000\n\nport \"abc\"\n", "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "*** FATAL CONFIG FILE ERROR (shardis) ***\nReading the configuration file, at line 3\n>>> 'port \"abc\"'\nargument couldn't be parsed into an integer"
        );
        let e = cfg.apply_text("# x\nfrobnicate 1\n", "my.conf").unwrap_err();
        assert!(e.message.contains("Reading the configuration file my.conf, at line 2"), "{e}");
        assert!(e.message.contains(">>> 'frobnicate 1'"), "{e}");
        assert!(e.message.ends_with("Bad directive or wrong number of arguments"), "{e}");
        let e = cfg.apply_text("port 1 2\n", "").unwrap_err();
        assert!(e.message.ends_with("wrong number of arguments"), "{e}");
        let e = cfg.apply_text("requirepass \"open\n", "").unwrap_err();
        assert!(e.message.ends_with("Unbalanced quotes in configuration line"), "{e}");
        let e = Config::from_args(&args(&["--daemonize", "yes"])).unwrap_err();
        assert!(
            e.message.ends_with(
                "daemonize yes is not supported; run shardis under a service manager (see deploy/shardis.service)"
            ),
            "{e}"
        );
        let e = cfg.apply_text("tls-port 6380\n", "").unwrap_err();
        assert!(e.message.ends_with("TLS is not supported by shardis; put a TLS-terminating proxy in front"), "{e}");
        let e = cfg.apply_text("rename-command FLUSHALL \"\"\n", "").unwrap_err();
        assert!(e.message.contains("not supported"), "{e}");
        let e = Config::from_args(&args(&["--maxmemory", "lots"])).unwrap_err();
        assert_eq!(
            e.message,
            "*** FATAL CONFIG FILE ERROR (shardis) ***\nReading the command line flags\n>>> '--maxmemory lots'\nargument must be a memory value"
        );
        let e = Config::from_args(&args(&["/nonexistent/shardis.conf"])).unwrap_err();
        assert!(e.message.starts_with("Fatal error, can't open config file '/nonexistent/shardis.conf'"), "{e}");
    }

    #[test]
    fn file_then_flags_flags_win() {
        let dir = scratch_dir("precedence");
        let path = dir.join("shardis.conf");
        std::fs::write(&path, "port 7000\nslowlog-max-len 7\nsave 900 1\nsave 300 10\nappendonly yes\n").unwrap();
        let cfg =
            Config::from_args(&args(&[path.to_str().unwrap(), "--port", "7001", "--save", "60", "5", "--hz", "20"]))
                .unwrap();
        assert_eq!(cfg.port, 7001, "flag beats file");
        assert_eq!(cfg.slowlog_max_len, 7, "file value kept");
        assert!(cfg.appendonly);
        assert_eq!(cfg.save, vec![(60, 5)], "flags replace the file's save points");
        assert_eq!(cfg.hz, 20);

        let cfg = Config::from_args(&args(&[path.to_str().unwrap(), "--save", "--appendonly", "no"])).unwrap();
        assert!(cfg.save.is_empty());
        assert!(!cfg.appendonly);

        let cfg = Config::from_args(&args(&["--save", "900 1 300 10", "--bind", "0.0.0.0", "::"])).unwrap();
        assert_eq!(cfg.save, vec![(900, 1), (300, 10)]);
        assert_eq!(cfg.bind, args(&["0.0.0.0", "::"]));
        assert_eq!(cfg.port, 6379);
        // As in Redis, several arguments are taken one token each.
        assert!(Config::from_args(&args(&["--save", "900 1", "300 10"])).is_err());

        let cfg = Config::from_args(&[]).unwrap();
        assert_eq!(get1(&cfg, "save"), "3600 1 300 100 60 10000");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cpus_imply_shards_unless_given() {
        let cfg = Config::from_args(&args(&["--cpus", "0-3,8"])).unwrap();
        assert_eq!(cfg.cpus, vec![0, 1, 2, 3, 8]);
        assert_eq!(cfg.shards, 5);
        assert_eq!(cfg.shard_cpus(), vec![0, 1, 2, 3, 8]);
        let cfg = Config::from_args(&args(&["--cpus", "2,3", "--shards", "4"])).unwrap();
        assert_eq!(cfg.shards, 4);
        assert_eq!(cfg.shard_cpus(), vec![2, 3, 2, 3]);
        let cfg = Config::from_args(&args(&["--shards", "3"])).unwrap();
        assert_eq!(cfg.shard_cpus(), vec![0, 1, 2]);
        assert!(Config::from_args(&args(&["--cpus", "1-x"])).is_err());
    }

    #[test]
    fn include_directive() {
        let dir = scratch_dir("include");
        let inner = dir.join("inner.conf");
        let outer = dir.join("outer.conf");
        std::fs::write(&inner, "slowlog-max-len 2\nport 7100\n").unwrap();
        std::fs::write(&outer, format!("port 7000\ninclude {}\nhz 50\n", parse::quote_arg(inner.to_str().unwrap())))
            .unwrap();
        let cfg = Config::from_args(&args(&[outer.to_str().unwrap()])).unwrap();
        assert_eq!(cfg.slowlog_max_len, 2);
        assert_eq!(cfg.port, 7100, "later lines win, included ones included");
        assert_eq!(cfg.hz, 50);

        // Errors inside an included file name that file.
        std::fs::write(&inner, "\nhz -1\n").unwrap();
        let e = Config::from_args(&args(&[outer.to_str().unwrap()])).unwrap_err();
        assert!(e.message.contains(&format!("{}, at line 2", inner.display())), "{e}");

        // An include loop is reported, not followed forever.
        std::fs::write(&inner, format!("include {}\n", outer.display())).unwrap();
        let e = Config::from_args(&args(&[outer.to_str().unwrap()])).unwrap_err();
        assert!(e.message.contains("include"), "{e}");

        let e = Config::from_args(&args(&["--include", dir.join("missing.conf").to_str().unwrap()])).unwrap_err();
        assert!(e.message.contains("can't open config file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
