//! CLIENT subcommands.

use super::CmdError;
use super::ctx::{ConnCtx, ConnOutcome};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::Args;

/// Client names may not contain spaces, newlines or other special characters.
pub fn validate_name(n: &[u8]) -> Result<(), CmdError> {
    if n.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::msg("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    Ok(())
}

fn client(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.is(1, "ID") {
        c.out.int(c.sess.id as i64);
    } else {
        return Err(CmdError::msg(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            a.str(1)
        )));
    }
    Ok(ConnOutcome::Done)
}

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "client",
    arity: -2,
    flags: flag::STALE | flag::LOADING,
    keys: KeySpec::None,
    handler: Handler::Conn(client),
    group: "connection",
    summary: "A container for client connection commands.",
    since: "2.4.0",
}];
