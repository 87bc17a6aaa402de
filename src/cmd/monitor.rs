//! MONITOR: every command the server runs, one line each, in Redis's format:
//! `+<unix secs>.<micros> [<db> <client addr>] "cmd" "arg" ...`.
//!
//! A monitor may sit on any shard and commands run on every shard, so a line is made
//! where the command is dispatched (the client's own shard) and goes to the local
//! monitors directly and to each other shard that has monitors as a `Msg::Monitor`.
//! The hot path pays one relaxed load of a server-wide counter per command while no
//! monitor is connected (`active`).
//!
//! Lines are fed as Redis 7.0 does: after the command ran (SELECT shows the new db),
//! not for ADMIN commands, the commands of a MULTI at EXEC (then EXEC itself), AUTH
//! and HELLO's passwords as `(redacted)`. Scripts call [`feed`] with source `"lua"`
//! for each `redis.call`. Monitor clients are ordinary clients for the output limits,
//! as in Redis: a monitor that cannot keep up is disconnected by them.

use super::ctx::{ConnCtx, ConnOutcome};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::shard::ShardState;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Is any monitor connected anywhere? One relaxed load: the only cost to commands.
#[inline]
pub fn active(st: &ShardState) -> bool {
    st.shared.monitors_total.load(Ordering::Relaxed) != 0
}

fn monitor(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    let id = c.sess.id;
    // A monitor asking again gets nothing, as in Redis (it is already one).
    if c.st.monitor_clients.contains(&id) {
        return Ok(ConnOutcome::Done);
    }
    c.st.monitor_clients.push(id);
    c.st.shared.monitors[c.st.id].fetch_add(1, Ordering::Relaxed);
    c.st.shared.monitors_total.fetch_add(1, Ordering::Relaxed);
    if let Some(m) = c.st.clients.get_mut(&id) {
        m.monitor = true;
    }
    c.out.ok();
    Ok(ConnOutcome::Done)
}

/// The client stops monitoring (RESET, or it went away).
pub fn client_gone(st: &mut ShardState, id: u64) {
    let Some(i) = st.monitor_clients.iter().position(|&c| c == id) else { return };
    st.monitor_clients.swap_remove(i);
    st.shared.monitors[st.id].fetch_sub(1, Ordering::Relaxed);
    st.shared.monitors_total.fetch_sub(1, Ordering::Relaxed);
    if let Some(m) = st.clients.get_mut(&id) {
        m.monitor = false;
    }
}

/// Feeds a command run by client `client_id` (its address is looked up on this
/// thread, the client's own) to every monitor, unless the command is not shown.
pub fn feed_client(st: &mut ShardState, spec: &CommandSpec, db: u16, client_id: u64, args: &Args) {
    if spec.flags & flag::ADMIN != 0 {
        return;
    }
    let addr = st.clients.get(&client_id).map(|m| m.addr.clone()).unwrap_or_default();
    feed(st, db, &addr, spec.name, args.iter());
}

/// Feeds one command line, from `source` (a client address, or `lua` for a script's
/// `redis.call`), to every monitor of the server. `name` is the command's lower-case
/// name, which decides the redactions; `args` are the command as sent.
pub fn feed<'a>(st: &mut ShardState, db: u16, source: &str, name: &str, args: impl Iterator<Item = &'a [u8]>) {
    let line = if name == "migrate" {
        // Its AUTH password, AUTH2 user and password, as SLOWLOG hides them.
        let all: Vec<&[u8]> = args.collect();
        format_line(st.clock.now_us(), db, source, name, super::cmdtime::redacted(&all).into_iter())
    } else {
        format_line(st.clock.now_us(), db, source, name, args)
    };
    let line = Arc::new(line);
    deliver_local(st, &line);
    for s in (0..st.nshards).filter(|&s| s != st.id) {
        if st.shared.monitors[s].load(Ordering::Relaxed) != 0 {
            st.outbox.push(s, crate::shard::Msg::Monitor(line.clone()));
        }
    }
}

/// Hands a line to this thread's monitors (the connection layer appends it to their
/// output, as it does Pub/Sub messages).
pub fn deliver_local(st: &mut ShardState, line: &[u8]) {
    for &id in &st.monitor_clients {
        st.pubsub.pushes.push((id, line.to_vec()));
    }
}

/// `+1733400000.123456 [0 127.0.0.1:5000] "set" "k" "v"\r\n`.
pub fn format_line<'a>(
    now_us: u64,
    db: u16,
    source: &str,
    name: &str,
    args: impl Iterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut out = format!("+{}.{:06} [{} {}]", now_us / 1_000_000, now_us % 1_000_000, db, source).into_bytes();
    let mut redact_from = usize::MAX;
    let mut hello_auth = None;
    for (i, a) in args.enumerate() {
        if i == 1 && name == "auth" {
            redact_from = 1;
        }
        if name == "hello" && i >= 2 && hello_auth.is_none() && a.eq_ignore_ascii_case(b"auth") {
            hello_auth = Some(i);
        }
        let redacted = i >= redact_from || hello_auth.is_some_and(|h| i == h + 1 || i == h + 2);
        out.push(b' ');
        if redacted {
            out.extend_from_slice(b"\"(redacted)\"");
        } else {
            quote(&mut out, a);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Redis's `sdscatrepr`: a double-quoted string with C escapes and `\xHH` for the
/// other unprintable bytes.
fn quote(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "monitor",
    arity: 1,
    flags: flag::ADMIN | flag::NOSCRIPT | flag::LOADING | flag::STALE,
    keys: KeySpec::None,
    handler: Handler::Conn(monitor),
    group: "server",
    summary: "Listens for all requests received by the server in real-time.",
    since: "1.0.0",
}];

#[cfg(test)]
mod tests {
    use super::format_line;

    fn line(name: &str, args: &[&[u8]]) -> String {
        String::from_utf8(format_line(1_700_000_000_000_042, 3, "127.0.0.1:5000", name, args.iter().copied())).unwrap()
    }

    #[test]
    fn lines_quote_and_redact_as_redis() {
        assert_eq!(
            line("set", &[b"SET", b"q\"x", b"a\nb\x01\\"]),
            "+1700000000.000042 [3 127.0.0.1:5000] \"SET\" \"q\\\"x\" \"a\\nb\\x01\\\\\"\r\n"
        );
        assert_eq!(
            line("auth", &[b"AUTH", b"u", b"p"]),
            "+1700000000.000042 [3 127.0.0.1:5000] \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n"
        );
        assert_eq!(
            line("hello", &[b"HELLO", b"3", b"AUTH", b"u", b"p", b"SETNAME", b"n"]),
            "+1700000000.000042 [3 127.0.0.1:5000] \"HELLO\" \"3\" \"AUTH\" \"(redacted)\" \"(redacted)\" \"SETNAME\" \"n\"\r\n"
        );
    }
}
