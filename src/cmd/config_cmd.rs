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
    // Redis checks the subcommand's arity (-4) first, then that the rest come in pairs.
    if a.len() < 4 {
        return Err(CmdError::msg(super::error::wrong_arity("config|set")));
    }
    if !a.len().is_multiple_of(2) {
        return Err(CmdError::msg("ERR syntax error"));
    }
    let pairs: Vec<(String, String)> = (2..a.len()).step_by(2).map(|i| (a.str(i), a.str(i + 1))).collect();
    // Protected parameters (`dir`, `dbfilename`: where the server writes files, the
    // classic CONFIG SET attack) change only if `enable-protected-configs` allows this
    // connection, as in Redis 7.0.
    let protected_ok = super::debug::allowed_by(&c.st.config.enable_protected_configs, c);
    for (name, _) in &pairs {
        if !protected_ok && crate::config::params::find(name).is_some_and(|(_, p)| p.is_protected()) {
            return Err(CmdError::msg(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set protected config"
            )));
        }
    }
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
    let moved = {
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
        let changed = cfg.set(&pairs).map_err(CmdError::msg)?;
        let moved = changed.iter().any(|n| n == "port" || n == "bind");
        if moved {
            move_listeners(&shared, &cfg, &changed)?;
        }
        crate::persist::dirlock::hold(new_lock);
        // Process-wide side effects that no thread picks up from its snapshot.
        crate::util::log::set_level(&cfg.loglevel);
        crate::server::panic::set_crash_log(&cfg);
        let now_aof = cfg.appendonly;
        shared.set_config(cfg);
        crate::persist::rewrite::on_config(&shared, was_aof, now_aof);
        moved
    };
    // This thread sees the change from its very next command, not its next loop turn.
    c.st.config = shared.config();
    if moved {
        // Every shard switches to the new listeners in the turn this hop reaches it,
        // before its answer leaves (`server::worker::accept`): once OK is sent, the old
        // addresses refuse connections and the new ones accept them.
        return Ok(ConnOutcome::FanOut(FanOut {
            hop: Arc::new(|_st| Box::new(())),
            lock_whole: false,
            finish: Box::new(|_st, _results, out| out.ok()),
        }));
    }
    c.out.ok();
    Ok(ConnOutcome::Done)
}

/// CONFIG SET port / bind: opens the new listeners for every shard first and hands
/// them over only if all of them opened; otherwise the old ones stay and the reply is
/// Redis's error, after Redis's log lines. Existing connections are not touched.
fn move_listeners(
    shared: &crate::shard::Shared,
    cfg: &crate::config::Config,
    changed: &[String],
) -> Result<(), CmdError> {
    use crate::io::listen;
    use crate::util::log;
    let ours = shared.listen.current();
    // `port 0` picks a free port, as at start-up; a bind change under `port 0` keeps the
    // port the kernel picked then.
    let port_changed = changed.iter().any(|n| n == "port");
    let port = if cfg.port == 0 && !port_changed { ours.port } else { cfg.port };
    let opened = listen::open_tcp(&cfg.bind, port, shared.nshards, cfg.tcp_backlog, Some(&ours));
    // Every address optional and unavailable: refuse rather than stop listening on TCP
    // (start-up refuses the same unless there is a Unix socket).
    let nowhere = |g: &listen::TcpGroup| {
        g.listening.is_empty() && shared.listen.unix.load(std::sync::atomic::Ordering::Acquire) < 0
    };
    let opened = match opened {
        Ok(g) if nowhere(&g) => Err(g.skipped),
        other => other,
    };
    match opened {
        Ok(group) => {
            for e in &group.skipped {
                log::warning(&e.log_line());
            }
            shared.port.store(group.port as u64, std::sync::atomic::Ordering::Relaxed);
            shared.listen.publish(&group, &cfg.bind);
            Ok(())
        }
        Err(errs) => {
            for e in &errs {
                log::warning(&e.log_line());
            }
            let (name, why) = if port_changed {
                ("port", "Unable to listen on this port. Check server logs.")
            } else {
                log::warning("Failed to bind");
                ("bind", "Failed to bind to specified addresses.")
            };
            log::warning(&format!(
                "Failed applying new configuration. Possibly related to new {name} setting. Restoring previous settings."
            ));
            Err(CmdError::msg(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")))
        }
    }
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
            crate::shard::lazyfree::reset_freed_objects();
            crate::shard::stats::reset_unexpected_error_replies();
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

/// Redis's CONFIG HELP, plus which parameters are compatibility-only and which are
/// refused at values shardis cannot honour (CONFIG GET itself returns plain name/value pairs, as in Redis),
/// from the parameter table, names wrapped onto indented lines.
fn help_lines() -> Vec<String> {
    use crate::config::params::{RESTRICTED, compat_only};
    let mut lines: Vec<String> = HELP.iter().map(|l| l.to_string()).collect();
    let mut names = |title: &str, list: Vec<&str>| {
        lines.push(title.to_string());
        if list.is_empty() {
            return;
        }
        let mut line = String::from("   ");
        for name in list {
            if line.len() + 1 + name.len() > 78 {
                lines.push(std::mem::replace(&mut line, String::from("   ")));
            }
            line.push(' ');
            line.push_str(name);
        }
        lines.push(line);
    };
    let compat: Vec<&str> = compat_only().map(|p| p.name).collect();
    names(
        if compat.is_empty() {
            "Compatibility-only parameters: none (every parameter acts or is refused)."
        } else {
            "Compatibility-only parameters (validated as in Redis, no effect on shardis):"
        },
        compat,
    );
    names(
        "Refused unless at the value that needs no missing feature (e.g. daemonize no):",
        RESTRICTED.iter().map(|r| r.name).collect(),
    );
    lines
}

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
        let lines = help_lines();
        help_reply(&mut c.out, "CONFIG", &lines.iter().map(String::as_str).collect::<Vec<_>>());
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
        assert_eq!(h.run(&["config", "set", "hz", "20", "slowlog-max-len", "64"]), Reply::Simple("OK".into()));
        assert_eq!(
            h.run(&["config", "get", "slowlog-max-len", "hz"]),
            Reply::Array(vec![b("slowlog-max-len"), b("64"), b("hz"), b("20")])
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
        // A value that needs a feature shardis lacks is refused, not ignored.
        use crate::config::params::{self, Access, RESTRICTED};
        let refused = RESTRICTED
            .iter()
            .find(|r| r.accepted == ["no"] && params::find(r.name).is_some_and(|(_, p)| p.access == Access::Mutable))
            .expect("a run-time settable restricted parameter");
        assert_eq!(
            h.run(&["config", "set", "hz", "30", refused.name, "yes"]),
            err(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - {}",
                refused.name,
                params::refusal(refused.name, "yes").unwrap()
            ))
        );
        assert_eq!(h.run(&["config", "get", "hz"]), Reply::Array(vec![b("hz"), b("20")]));
        assert_eq!(
            h.run(&["config", "set", "databases", "1"]),
            err("ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config")
        );
        // `dir` and `dbfilename` are protected (`enable-protected-configs no` by default).
        for (name, value) in [("dir", "/tmp"), ("dbfilename", "x.rdb")] {
            assert_eq!(
                h.run(&["config", "set", name, value]),
                err(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set protected config"
                ))
            );
        }
        let cfg = crate::config::Config { enable_protected_configs: "yes".into(), ..Default::default() };
        let mut open = Harness::with_config(cfg);
        assert_eq!(
            open.run(&["config", "set", "dir", "/nonexistent/shardis"]),
            err("ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory")
        );
        assert_eq!(open.run(&["config", "set", "dbfilename", "x.rdb"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["config", "set", "hz"]), err("ERR wrong number of arguments for 'config|set' command"));
        assert_eq!(h.run(&["config", "set", "hz", "1", "x"]), err("ERR syntax error"));
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
        let text: Vec<&str> = v.iter().map(|r| if let Reply::Simple(s) = r { s.as_str() } else { panic!() }).collect();
        let at = text.iter().position(|l| l.starts_with("Compatibility-only parameters")).unwrap();
        // The list follows the parameter table's order (and is left out when empty).
        match crate::config::params::compat_only().next() {
            Some(first) => assert!(text[at + 1].starts_with(&format!("    {}", first.name)), "{text:?}"),
            None => assert!(text[at].contains("none") && !text[at + 1].starts_with("    "), "{text:?}"),
        }
        assert!(text.iter().all(|l| l.len() <= 80), "{text:?}");
        assert!(text.iter().any(|l| l.split(' ').any(|w| w == "daemonize")));
        assert_eq!(text[text.len() - 2], "HELP");
        assert_eq!(h.run(&["config", "frob"]), err("ERR unknown subcommand 'frob'. Try CONFIG HELP."));
    }
}
