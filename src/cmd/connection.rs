//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT.

use super::ctx::{ConnCtx, ConnOutcome, ReplyMode};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::resp::Proto;

/// The Redis version we report: clients switch features on it (HELLO, INFO).
pub const REDIS_VERSION: &str = "7.0.15";

fn ping(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.len() > 2 {
        return Err(CmdError::msg(super::error::wrong_arity("ping")));
    }
    // A subscribed RESP2 client gets PING's answer in the push shape, as in Redis.
    if c.sess.proto == Proto::Resp2 && super::pubsub::subscribed(c.sess) {
        c.out.array(2);
        c.out.bulk(b"pong");
        c.out.bulk(if a.len() == 2 { a.get(1) } else { b"" });
        return Ok(ConnOutcome::Done);
    }
    match a.len() {
        1 => c.out.simple("PONG"),
        2 => c.out.bulk(a.get(1)),
        _ => return Err(CmdError::msg(super::error::wrong_arity("ping"))),
    }
    Ok(ConnOutcome::Done)
}

fn echo(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    c.out.bulk(a.get(1));
    Ok(ConnOutcome::Done)
}

fn quit(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.quitting = true;
    }
    c.out.ok();
    Ok(ConnOutcome::Close)
}

fn reset(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    c.sess.db = 0;
    c.sess.proto = Proto::Resp2;
    c.sess.reply = ReplyMode::On;
    super::acl::reset_user(c);
    c.sess.multi = None;
    let (subs, psubs) = (std::mem::take(&mut c.sess.subs), std::mem::take(&mut c.sess.psubs));
    c.st.pubsub.remove_client(c.sess.id, &subs, &psubs);
    let ssubs = std::mem::take(&mut c.sess.ssubs);
    c.st.pubsub.remove_shard_client(c.sess.id, &ssubs);
    super::multi::drop_watches(c.st, c.sess.id);
    super::monitor::client_gone(c.st, c.sess.id);
    super::tracking::stop(c.st, c.sess.id);
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.name.clear();
        m.db = 0;
        m.resp = 2;
    }
    c.out.proto = Proto::Resp2;
    c.out.simple("RESET");
    Ok(ConnOutcome::Done)
}

/// Checks a password with Redis's errors and logs in (`cmd::acl::authenticate`).
fn check_password(c: &mut ConnCtx, user: Option<&[u8]>, pass: &[u8]) -> Result<(), CmdError> {
    if user.is_none() && !c.st.shared.acl.default_has_password() {
        return Err(CmdError::msg(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    super::acl::authenticate(c, user, pass)
}

fn auth(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    match a.len() {
        2 => check_password(c, None, a.get(1))?,
        3 => check_password(c, Some(a.get(1)), a.get(2))?,
        _ => return Err(CmdError::Syntax),
    }
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn hello(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let mut proto = c.sess.proto;
    let mut i = 1;
    if a.len() > 1 {
        let v = a.i64(1).map_err(|_| CmdError::msg("ERR Protocol version is not an integer or out of range"))?;
        proto = match v {
            2 => Proto::Resp2,
            3 => Proto::Resp3,
            _ => return Err(CmdError::msg("NOPROTO unsupported protocol version")),
        };
        i = 2;
    }
    let mut name = None;
    while i < a.len() {
        if a.is(i, "AUTH") && i + 2 < a.len() {
            check_password(c, Some(a.get(i + 1)), a.get(i + 2))?;
            i += 3;
        } else if a.is(i, "SETNAME") && i + 1 < a.len() {
            let n = a.get(i + 1);
            super::client::validate_name(n)?;
            name = Some(String::from_utf8_lossy(n).into_owned());
            i += 2;
        } else {
            return Err(CmdError::msg(format!("ERR Syntax error in HELLO option '{}'", a.str(i))));
        }
    }
    if !c.sess.authenticated {
        return Err(CmdError::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    c.sess.proto = proto;
    c.out.proto = proto;
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.resp = if proto == Proto::Resp3 { 3 } else { 2 };
        if let Some(n) = name {
            m.name = n;
        }
    }
    c.out.map(7);
    c.out.bulk(b"server");
    c.out.bulk(b"redis");
    c.out.bulk(b"version");
    c.out.bulk(REDIS_VERSION.as_bytes());
    c.out.bulk(b"proto");
    c.out.int(if proto == Proto::Resp3 { 3 } else { 2 });
    c.out.bulk(b"id");
    c.out.int(c.sess.id as i64);
    c.out.bulk(b"mode");
    c.out.bulk(b"standalone");
    c.out.bulk(b"role");
    c.out.bulk(b"master");
    c.out.bulk(b"modules");
    c.out.array(0);
    Ok(ConnOutcome::Done)
}

fn select(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let n = a.i64(1)?;
    if n < 0 || n as usize >= c.st.dbs.len() {
        return Err(CmdError::msg("ERR DB index is out of range"));
    }
    c.sess.db = n as u16;
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.db = n as u16;
    }
    c.out.ok();
    Ok(ConnOutcome::Done)
}

const fn conn(
    name: &'static str,
    arity: i32,
    flags: u32,
    f: super::table::ConnFn,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys: KeySpec::None,
        handler: Handler::Conn(f),
        group: "connection",
        summary,
        since: "1.0.0",
    }
}

pub static COMMANDS: &[CommandSpec] = &[
    conn("ping", -1, flag::FAST, ping, "Returns the server's liveliness response."),
    conn("echo", 2, flag::FAST | flag::STALE, echo, "Returns the given string."),
    conn("quit", -1, flag::NO_AUTH | flag::FAST | flag::STALE | flag::ALLOW_BUSY, quit, "Closes the connection."),
    conn("reset", 1, flag::NO_AUTH | flag::FAST | flag::STALE | flag::ALLOW_BUSY, reset, "Resets the connection."),
    conn(
        "hello",
        -1,
        flag::NO_AUTH | flag::FAST | flag::STALE | flag::ALLOW_BUSY,
        hello,
        "Handshakes with the server.",
    ),
    conn(
        "auth",
        -2,
        flag::NO_AUTH | flag::FAST | flag::STALE | flag::ALLOW_BUSY,
        auth,
        "Authenticates the connection.",
    ),
    conn("select", 2, flag::FAST | flag::LOADING | flag::STALE, select, "Changes the selected database."),
];
