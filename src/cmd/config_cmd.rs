//! CONFIG GET, SET, RESETSTAT, REWRITE and HELP.
//!
//! The parameters themselves (names, validation, canonical values, the file format)
//! belong to `crate::config`; this file is the command surface. CONFIG SET validates
//! every pair on a copy of the current config and publishes the copy only if all of
//! them were accepted, so a failed SET changes nothing (Redis's all-or-nothing rule).

use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::introspect::{help_reply, sub_arity, unknown_subcommand};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use std::sync::{Arc, Mutex};

/// Serialises CONFIG SET's read-copy-publish across threads: without it two
/// concurrent SETs on different shards could each publish a copy lacking the other's
/// change.
static SET_LOCK: Mutex<()> = Mutex::new(());

fn get(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    sub_arity(a, "config|get", -3)?;
    let patterns: Vec<String> = (2..a.len()).map(|i| a.str(i)).collect();
    let pats: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let pairs = c.st.config.get(&pats);
    c.out.map(pairs.len());
    for (k, v) in pairs {
        c.out.bulk(k.as_bytes());
        c.out.bulk(v.as_bytes());
    }
    Ok(ConnOutcome::Done)
}

fn set(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.len() < 4 || !a.len().is_multiple_of(2) {
        return Err(CmdError::msg(super::error::wrong_arity("config|set")));
    }
    let pairs: Vec<(String, String)> = (2..a.len()).step_by(2).map(|i| (a.str(i), a.str(i + 1))).collect();
    // Redis changes directory on `CONFIG SET dir` and fails if it cannot. shardis keeps
    // its working directory (relative paths stay stable) but refuses the same values.
    for (name, value) in &pairs {
        if name.eq_ignore_ascii_case("dir") && !std::path::Path::new(value).is_dir() {
            return Err(CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - No such file or directory"
            )));
        }
    }
    let shared = c.st.shared.clone();
    {
        let _guard = SET_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // A new `dir` must be ours alone, as at start-up (`persist::dirlock`): lock it
        // first, and let go of the old one only once the whole SET succeeded.
        // More clients than the open-files limit allows: raise it, or refuse as
        // Redis does (never accept a maxclients the server cannot honour).
        let current = shared.config();
        if let Some((name, v)) = pairs.iter().find(|(n, _)| n.eq_ignore_ascii_case("maxclients"))
            && let Ok(n) = v.parse::<u64>()
            && n > current.maxclients as u64
        {
            let reserved = current.reserved_fds();
            let now = crate::io::proc::raise_nofile(n + reserved).map(|(now, _)| now).unwrap_or(0);
            if now < n + reserved {
                return Err(CmdError::msg(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - The operating system is not able to handle the specified number of clients, try with {}",
                    now.saturating_sub(reserved)
                )));
            }
        }
        let mut new_lock = None;
        for (name, value) in &pairs {
            if name.eq_ignore_ascii_case("dir") {
                new_lock = crate::persist::dirlock::acquire(value).map_err(|e| {
                    CmdError::msg(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"))
                })?;
            }
        }
        let mut cfg = (*shared.config()).clone();
        let was_aof = cfg.appendonly;
        cfg.set(&pairs).map_err(CmdError::msg)?;
        crate::persist::dirlock::hold(new_lock);
        // Process-wide side effects that no thread picks up from its snapshot.
        crate::util::log::set_level(&cfg.loglevel);
        let now_aof = cfg.appendonly;
        shared.set_config(cfg);
        crate::persist::rewrite::on_config(&shared, was_aof, now_aof);
    }
    // This thread sees the change from its very next command, not its next loop turn.
    c.st.config = shared.config();
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn resetstat(_c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    sub_arity(a, "config|resetstat", 2)?;
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(|st| {
            st.stats.reset();
            Box::new(())
        }),
        lock_whole: false,
        finish: Box::new(|st, _, out| {
            super::info::reset_rate_samples(&st.shared.run_id);
            out.ok();
        }),
    }))
}

fn rewrite(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    sub_arity(a, "config|rewrite", 2)?;
    let Some(path) = c.st.shared.config_file.clone() else {
        return Err(CmdError::msg("ERR The server is running without a config file"));
    };
    let cfg = c.st.shared.config();
    crate::config::rewrite::rewrite_file(&path, &cfg).map_err(|e| {
        crate::util::log::warning(&format!("CONFIG REWRITE failed: {e}"));
        CmdError::msg(format!("ERR Rewriting config file: {e}"))
    })?;
    crate::util::log::notice("CONFIG REWRITE executed with success.");
    c.out.ok();
    Ok(ConnOutcome::Done)
}

const HELP: &[&str] = &[
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
];

fn config(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.is(1, "GET") {
        get(c, a)
    } else if a.is(1, "SET") {
        set(c, a)
    } else if a.is(1, "RESETSTAT") {
        resetstat(c, a)
    } else if a.is(1, "REWRITE") {
        rewrite(c, a)
    } else if a.is(1, "HELP") {
        sub_arity(a, "config|help", 2)?;
        help_reply(&mut c.out, "CONFIG", HELP);
        Ok(ConnOutcome::Done)
    } else {
        Err(unknown_subcommand(a))
    }
}

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "config",
    arity: -2,
    flags: flag::ADMIN | flag::NOSCRIPT | flag::LOADING | flag::STALE,
    keys: KeySpec::None,
    handler: Handler::Conn(config),
    group: "server",
    summary: "A container for server configuration commands.",
    since: "2.0.0",
}];

#[cfg(test)]
mod tests {
    use crate::cmd::harness::{Harness, Reply};

    fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }

    fn b(s: &str) -> Reply {
        Reply::bulk(s)
    }

    #[test]
    fn get_and_set() {
        let mut h = Harness::new(2);
        assert_eq!(h.run(&["config", "get", "hz"]), Reply::Array(vec![b("hz"), b("10")]));
        assert_eq!(h.run(&["config", "set", "hz", "20", "maxmemory", "1mb"]), Reply::Simple("OK".into()));
        assert_eq!(
            h.run(&["config", "get", "maxmemory", "hz"]),
            Reply::Array(vec![b("maxmemory"), b("1048576"), b("hz"), b("20")])
        );
        // Every shard sees the new snapshot on its next turn.
        h.run(&["ping"]);
        assert!(h.shards.iter().all(|s| s.config.hz == 20));
        // All or nothing: the bad second pair leaves hz alone.
        assert_eq!(
            h.run(&["config", "set", "hz", "30", "maxmemory", "lots"]),
            err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value")
        );
        assert_eq!(h.run(&["config", "get", "hz"]), Reply::Array(vec![b("hz"), b("20")]));
        assert_eq!(
            h.run(&["config", "set", "port", "1"]),
            err("ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")
        );
        assert_eq!(
            h.run(&["config", "set", "dir", "/nonexistent/shardis"]),
            err("ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory")
        );
        assert_eq!(h.run(&["config", "set", "hz"]), err("ERR wrong number of arguments for 'config|set' command"));
        assert_eq!(
            h.run(&["config", "set", "hz", "1", "x"]),
            err("ERR wrong number of arguments for 'config|set' command")
        );
        assert_eq!(h.run(&["config", "get"]), err("ERR wrong number of arguments for 'config|get' command"));
        h.resp3();
        assert_eq!(h.run(&["config", "get", "hz"]), Reply::Map(vec![(b("hz"), b("20"))]));
    }

    #[test]
    fn resetstat_rewrite_help() {
        let mut h = Harness::new(3);
        h.run(&["set", "a", "1"]);
        h.run(&["get", "a"]);
        assert!(h.shards.iter().map(|s| s.stats.total_commands).sum::<u64>() > 0);
        assert_eq!(h.run(&["config", "resetstat"]), Reply::Simple("OK".into()));
        assert!(h.shards.iter().all(|s| s.stats.keyspace_hits == 0 && s.stats.commands.iter().all(|c| c.calls == 0)));
        assert_eq!(h.run(&["config", "rewrite"]), err("ERR The server is running without a config file"));
        let Reply::Array(v) = h.run(&["config", "help"]) else { panic!() };
        assert!(matches!(&v[0], Reply::Simple(s) if s.starts_with("CONFIG <subcommand>")));
        assert_eq!(h.run(&["config", "frob"]), err("ERR unknown subcommand 'frob'. Try CONFIG HELP."));
    }
}
