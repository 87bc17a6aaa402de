//! Start-up log lines in redis-server's order, format and (where tools read them)
//! wording, and the system checks Redis warns about.
//!
//! Order, as redis-server 7.0 logs it: the `oO0OoO0OoO0Oo ... is starting` line, the
//! `version=..., pid=..., just started` line, `Configuration loaded` (or the
//! no-config-file warning); the open-files adjustments (`server::rlimit`); the ASCII
//! banner with `Port:` and `PID:` when `always-show-logo yes` (or stdout is a
//! terminal), else `Running mode=standalone, port=N.`; the `somaxconn` warning;
//! `Server initialized`; the overcommit and THP warnings; then shardis's own lines
//! (shards and their CPUs, persistence mode, config file) before loading, and
//! `Ready to accept connections tcp` once every shard runs (`server::run`).
//!
//! Where Redis says "Redis" for itself we say "shardis"; the parts tools grep
//! (`just started`, ` PID: `, `Ready to accept connections`, `Port: `) are kept.
//!
//! Also here: the explanation logged when io_uring cannot be set up.
//!
//! Depends on: `config`, `util::log`.

use crate::config::Config;
use crate::util::log;
use std::path::Path;

/// Redis's `commit=` field: the git commit shardis was built from, if the build
/// recorded one, else Redis's placeholder.
const COMMIT: &str = match option_env!("SHARDIS_GIT_SHA1") {
    Some(c) => c,
    None => "00000000",
};

/// The first lines, once the configuration (and so `logfile`) is known.
/// `bare_command_line`: started with no arguments at all (Redis's "no config file
/// specified" case).
pub fn starting(config_file: Option<&Path>, bare_command_line: bool) {
    log::warning("oO0OoO0OoO0Oo shardis is starting oO0OoO0OoO0Oo");
    log::warning(&format!(
        "shardis version={}, bits={}, commit={COMMIT}, modified=0, pid={}, just started",
        env!("CARGO_PKG_VERSION"),
        usize::BITS,
        std::process::id()
    ));
    if bare_command_line {
        log::warning(
            "Warning: no config file specified, using the default config. In order to specify a config file use shardis-server /path/to/shardis.conf",
        );
    } else {
        log::warning("Configuration loaded");
    }
    if let Some(f) = config_file {
        let shown = std::fs::canonicalize(f).unwrap_or_else(|_| f.to_path_buf());
        log::notice(&format!("Configuration file: {}", shown.display()));
    }
}

/// The banner (with `always-show-logo yes`, or when stdout is a terminal and there is
/// no log file, as Redis decides), else the one-line `Running mode`.
pub fn banner_or_mode(config: &Config, port: u16, shards: usize) {
    let always = config.compat_value("always-show-logo") == Some("yes");
    let tty = config.logfile.is_empty() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    if !(always || tty) {
        log::notice(&format!("Running mode=standalone, port={port}."));
        return;
    }
    log::raw(log::Level::Notice, &banner(port, shards, std::process::id()));
}

/// The ASCII art: stacked shards of one keyspace, with Redis's info column.
fn banner(port: u16, shards: usize, pid: u32) -> String {
    let info = [
        String::new(),
        format!("shardis {} ({COMMIT}/0) {} bit", env!("CARGO_PKG_VERSION"), usize::BITS),
        String::new(),
        "Running in standalone mode".to_string(),
        format!("Port: {port}"),
        format!("PID: {pid}"),
        format!("Shards: {shards}"),
        String::new(),
        "Redis protocol, one keyspace shard per core".to_string(),
        String::new(),
    ];
    let art = [
        r"          __________________          ",
        r"         /_______________  /|         ",
        r"        /_______________/ / |         ",
        r"       |  shard 0     | | / |         ",
        r"       |______________|/ /  |         ",
        r"       |  shard 1     | |   /         ",
        r"       |______________|/   /          ",
        r"       |  shard ...   |   /           ",
        r"       |______________|  /            ",
        r"       |______________|_/             ",
    ];
    let mut out = String::new();
    for (a, i) in art.iter().zip(info.iter()) {
        out.push_str(a);
        out.push_str("   ");
        out.push_str(i);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// Redis's check of `tcp-backlog` against the kernel's cap.
pub fn check_tcp_backlog(backlog: u32) {
    let path = "/proc/sys/net/core/somaxconn";
    if let Some(somaxconn) = read_number(path)
        && somaxconn < u64::from(backlog)
    {
        log::warning(&format!(
            "WARNING: The TCP backlog setting of {backlog} cannot be enforced because {path} is set to the lower value of {somaxconn}."
        ));
    }
}

/// Redis's memory warnings: overcommit off (a fork for BGSAVE or an AOF rewrite may
/// fail), THP always on without `disable-thp yes` (latency and memory after a fork).
pub fn memory_warnings(thp_disabled_here: bool) {
    if read_number("/proc/sys/vm/overcommit_memory") == Some(0) {
        log::warning(
            "WARNING Memory overcommit must be enabled! Without it, a background save or AOF rewrite may fail under low memory condition. To fix this issue add 'vm.overcommit_memory = 1' to /etc/sysctl.conf and then reboot or run the command 'sysctl vm.overcommit_memory=1' for this to take effect.",
        );
    }
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if thp_always(&thp) && !thp_disabled_here {
        log::warning(
            "WARNING you have Transparent Huge Pages (THP) support enabled in your kernel. After a fork (BGSAVE, AOF rewrite) a write copies a whole 2 MB page, which adds latency and memory. shardis keeps THP by default because forks are much faster with it (see the README); to turn it off for this process set 'disable-thp yes', or system-wide run 'echo madvise > /sys/kernel/mm/transparent_hugepage/enabled' as root.",
        );
    }
}

/// Whether the THP `enabled` file selects `[always]`.
fn thp_always(text: &str) -> bool {
    text.contains("[always]")
}

/// shardis's own start-up facts: the shards and the CPU each is pinned to, and what
/// persists the data.
pub fn describe(config: &Config, cpus: &[Option<usize>]) {
    let pins: Vec<String> = cpus
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Some(c) => format!("shard {i} on CPU {c}"),
            None => format!("shard {i} unpinned"),
        })
        .collect();
    log::notice(&format!("{} shard(s): {}", cpus.len(), pins.join(", ")));
    log::notice(&format!("Persistence: {}", persistence_mode(config)));
}

/// RDB only / AOF only / both / none, with the settings that define each.
pub fn persistence_mode(config: &Config) -> String {
    let rdb = !config.save.is_empty();
    let aof = config.appendonly;
    let save = config.value("save").unwrap_or_default();
    let fsync = config.appendfsync.as_str();
    match (rdb, aof) {
        (true, true) => format!("RDB and AOF (save {save}; appendfsync {fsync}); the AOF is loaded at start-up"),
        (true, false) => format!("RDB only (save {save})"),
        (false, true) => format!("AOF only (appendfsync {fsync})"),
        (false, false) => "none (no save points, appendonly no): data lives in memory only".to_string(),
    }
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Explains why io_uring could not be set up, with the likely cause and its fix.
pub fn explain_uring_error(e: &std::io::Error) -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let kernel = kernel.trim();
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok();
    let head = format!("Can't set up io_uring ({e}); shardis needs it for all its I/O. Kernel {kernel}.");
    let cause = match e.raw_os_error() {
        Some(libc::EPERM) => {
            let sysctl = match disabled.as_deref().map(str::trim) {
                Some("0") | None => "kernel.io_uring_disabled is 0 here, so".to_string(),
                Some(v) => format!(
                    "kernel.io_uring_disabled is {v} (1: only members of kernel.io_uring_group may use it; 2: nobody may): run 'sysctl kernel.io_uring_disabled=0' as root, or add this user to the group. Otherwise"
                ),
            };
            format!(
                "The kernel refused it (EPERM). {sysctl} the likely cause is a seccomp profile: container runtimes' default profiles (Docker, containerd, Podman) block io_uring_setup. Run the container with a profile that allows io_uring_setup, io_uring_enter and io_uring_register (e.g. --security-opt seccomp=<profile.json>; see the README's container notes)."
            )
        }
        Some(libc::ENOSYS) => "The kernel has no io_uring (ENOSYS): it is older than 5.1 or built without CONFIG_IO_URING, or a seccomp filter reports the call as missing. shardis needs Linux 6.0 or newer (multishot receive, buffer rings, MSG_RING).".to_string(),
        Some(libc::ENOMEM) => "The kernel could not allocate the ring (ENOMEM). On kernels before 5.12 io_uring memory counts against the locked-memory limit: raise it ('ulimit -l', or LimitMEMLOCK= in the systemd unit). Otherwise the system is out of memory.".to_string(),
        Some(libc::EMFILE) | Some(libc::ENFILE) => "No file descriptor was left for the ring: raise the open-files limit ('ulimit -n').".to_string(),
        _ => "shardis needs Linux 6.0 or newer with io_uring enabled.".to_string(),
    };
    format!("{head} {cause} Exiting.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thp_modes() {
        assert!(thp_always("[always] madvise never\n"));
        assert!(!thp_always("always [madvise] never\n"));
        assert!(!thp_always("always madvise [never]\n"));
    }

    #[test]
    fn persistence_modes() {
        let mut c = Config::default();
        assert!(persistence_mode(&c).starts_with("RDB only (save 3600 1 300 100 60 10000)"));
        c.appendonly = true;
        assert!(persistence_mode(&c).starts_with("RDB and AOF"));
        c.save.clear();
        assert!(persistence_mode(&c).starts_with("AOF only (appendfsync everysec)"));
        c.appendonly = false;
        assert!(persistence_mode(&c).starts_with("none"));
    }

    #[test]
    fn banner_has_port_and_pid() {
        let b = banner(6380, 2, 4242);
        assert!(b.contains(" Port: 6380\n"));
        assert!(b.contains(" PID: 4242\n"));
    }

    #[test]
    fn uring_errors_name_cause_and_fix() {
        let eperm = explain_uring_error(&std::io::Error::from_raw_os_error(libc::EPERM));
        assert!(eperm.contains("seccomp") && eperm.contains("io_uring_disabled"), "{eperm}");
        let enosys = explain_uring_error(&std::io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(enosys.contains("Linux 6.0"), "{enosys}");
        let enomem = explain_uring_error(&std::io::Error::from_raw_os_error(libc::ENOMEM));
        assert!(enomem.contains("ulimit -l"), "{enomem}");
    }
}
