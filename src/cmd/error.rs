//! Client-visible errors, with Redis's exact texts, produced in one place.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum CmdError {
    Syntax,
    NotInteger,
    NotFloat,
    WrongType,
    Overflow,
    NoSuchKey,
    OutOfRange(&'static str),
    InvalidExpire(String),
    /// Any other message, already in Redis's form (including its code prefix).
    Msg(String),
    /// An error already counted in the error stats where it arose: a script's error
    /// raised by `redis.call`, which the command (or the call's checks) counted, as
    /// Redis's `ERR_REPLY_FLAG_NO_STATS_UPDATE`. The reply still fails the command.
    Counted(String),
}

impl CmdError {
    pub fn msg(s: impl Into<String>) -> CmdError {
        CmdError::Msg(s.into())
    }

    pub fn message(&self) -> String {
        match self {
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value".into(),
            CmdError::Overflow => "ERR increment or decrement would overflow".into(),
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::OutOfRange(what) => format!("ERR {what} is out of range"),
            CmdError::InvalidExpire(cmd) => format!("ERR invalid expire time in '{cmd}' command"),
            CmdError::Msg(m) | CmdError::Counted(m) => m.clone(),
        }
    }

    /// Is the reply still to be counted in the error stats (not `Counted`)?
    pub fn uncounted(&self) -> bool {
        !matches!(self, CmdError::Counted(_))
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// `ERR wrong number of arguments for 'x' command`
pub fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// Redis 7's unknown command message: the name and up to the first few arguments,
/// each quoted and truncated like Redis does (128 bytes total budget per arg list).
pub fn unknown_command(args: &super::Args) -> String {
    let name = String::from_utf8_lossy(args.get(0));
    let mut s = format!("ERR unknown command '{}', with args beginning with: ", truncate(&name, 128));
    let mut budget = 128usize;
    for i in 1..args.len() {
        if budget == 0 {
            break;
        }
        let a = String::from_utf8_lossy(args.get(i));
        let a = truncate(&a, budget);
        budget = budget.saturating_sub(a.len());
        s.push_str(&format!("'{a}' "));
    }
    s
}

fn truncate(s: &str, max: usize) -> String {
    let mut out: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    if out.len() > max {
        let mut cut = max;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}
