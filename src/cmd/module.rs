//! MODULE and LOLWUT.
//!
//! shardis loads no Redis modules: `MODULE LIST` answers an empty list, `MODULE HELP`
//! Redis's help, and `MODULE LOAD|LOADEX|UNLOAD` are refused. Under the default
//! `enable-module-command no` (or `local` from a remote peer) the refusal is Redis's
//! own "not allowed" error; when the setting allows the command, LOAD/LOADEX fail as a
//! load that did not work does in Redis, with the reason in the server log, and UNLOAD
//! finds no such module.
//!
//! LOLWUT answers as Redis 7.0: `VERSION 5` draws version 5's squares, `VERSION 6`
//! version 6's skyline (`cmd::lolwut`), anything else only `Redis ver. <version>` and
//! a newline; verbatim text in RESP3.

use super::ctx::{ConnCtx, ConnOutcome};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};

const HELP: &[&str] = &[
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and optional arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
];

fn module(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    let n = a.len();
    match sub.as_str() {
        "help" if n == 2 => {
            super::introspect::help_reply(&mut c.out, "MODULE", HELP);
            Ok(ConnOutcome::Done)
        }
        "list" if n == 2 => {
            c.out.array(0);
            Ok(ConnOutcome::Done)
        }
        "load" | "loadex" | "unload" if n >= 3 && (sub != "unload" || n == 3) => {
            let setting = c.st.config.compat.get("enable-module-command").cloned().unwrap_or_default();
            if !super::debug::allowed_by(&setting, c) {
                return Err(CmdError::msg(
                    "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
                ));
            }
            if sub == "unload" {
                return Err(CmdError::msg("ERR Error unloading module: no such module with that name"));
            }
            crate::util::log::warning(&format!(
                "Module {} failed to load: shardis does not support Redis modules",
                a.str(2)
            ));
            Err(CmdError::msg("ERR Error loading the extension. Please check the server logs."))
        }
        "help" | "list" | "load" | "loadex" | "unload" => {
            Err(CmdError::msg(format!("ERR wrong number of arguments for 'module|{sub}' command")))
        }
        _ => Err(CmdError::msg(format!("ERR unknown subcommand '{}'. Try MODULE HELP.", a.str(1)))),
    }
}

fn lolwut(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let version = super::connection::REDIS_VERSION;
    // Redis reads the number as a C long, prints it as an unsigned int and matches
    // the start of "<n>.0.0" (so 4294967301 draws version 5 there too).
    let (asked, first_arg) = if a.len() >= 3 && a.is(1, "version") {
        (format!("{}.0.0", a.i64(2)? as u32), 3)
    } else {
        (version.to_string(), 1)
    };
    let number = |i: usize, default: i64, max: i64| -> Result<i64, CmdError> {
        Ok(if a.len() > first_arg + i { a.i64(first_arg + i)?.clamp(1, max) } else { default })
    };
    let text = if asked.starts_with("5.") {
        super::lolwut::schotter(number(0, 66, 1000)?, number(1, 8, 200)?, number(2, 12, 200)?, version)
    } else if asked.starts_with("6.") {
        super::lolwut::skyline(number(0, 80, 1000)?, number(1, 20, 1000)?, version)
    } else {
        format!("Redis ver. {version}\n")
    };
    c.out.verbatim(b"txt", text.as_bytes());
    Ok(ConnOutcome::Done)
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "module",
        arity: -2,
        flags: 0,
        keys: KeySpec::None,
        handler: Handler::Conn(module),
        group: "server",
        summary: "A container for module commands.",
        since: "4.0.0",
    },
    CommandSpec {
        name: "lolwut",
        arity: -1,
        flags: flag::READONLY | flag::FAST,
        keys: KeySpec::None,
        handler: Handler::Conn(lolwut),
        group: "server",
        summary: "Displays computer art and the Redis version",
        since: "5.0.0",
    },
];

#[cfg(test)]
mod tests {
    use crate::cmd::harness::{Harness, Reply};

    #[test]
    fn module_list_is_empty_and_load_is_refused() {
        let mut h = Harness::new(1);
        assert_eq!(h.run(&["module", "list"]), Reply::Array(vec![]));
        assert!(matches!(h.run(&["module", "load", "/x.so"]), Reply::Error(e) if e.contains("not allowed")));
        assert!(
            matches!(h.run(&["module", "frob"]), Reply::Error(e) if e == "ERR unknown subcommand 'frob'. Try MODULE HELP.")
        );
        assert!(matches!(h.run(&["lolwut", "version", "x"]), Reply::Error(e) if e.contains("not an integer")));
        assert_eq!(h.run(&["lolwut"]), Reply::bulk("Redis ver. 7.0.15\n"));
    }
}
