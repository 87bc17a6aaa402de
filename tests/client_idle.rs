//! CLIENT LIST's `idle`, with the time of a connection's last receive or send kept
//! on the connection and copied into its metadata after each batch and each send
//! (`net::Conn::last_interaction_ms`): the caller's own line, other clients' view of
//! it and ACL LOG's `client-info` all count from the latest receive, and a reply sent
//! after a long blocking wait counts as interaction, as in Redis.

use crate::common;

use common::{Raw, Resp, SHARD_COUNTS, Server, wait_until};
use std::time::Duration;

fn text(r: Resp) -> String {
    match r {
        Resp::Bulk(b) | Resp::Verbatim(_, b) => String::from_utf8(b).expect("utf8"),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

fn field(line: &str, name: &str) -> u64 {
    line.split(' ')
        .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        .parse()
        .expect("number")
}

fn client_id(c: &mut Raw) -> String {
    match c.cmd(&["CLIENT", "ID"]) {
        Resp::Int(i) => i.to_string(),
        other => panic!("{other:?}"),
    }
}

/// `id`'s CLIENT LIST line as `watcher` sees it.
fn line_of(watcher: &mut Raw, id: &str) -> String {
    text(watcher.cmd(&["CLIENT", "LIST", "ID", id])).trim_end().to_string()
}

/// Waits until `watcher` sees client `id` idle for a second or more.
fn wait_idle(watcher: &mut Raw, id: &str) {
    assert!(
        wait_until(Duration::from_secs(20), || field(&line_of(watcher, id), "idle") >= 1),
        "{}",
        line_of(watcher, id)
    );
}

#[test]
fn idle_counts_from_the_latest_receive() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let (mut a, mut watcher) = (s.raw(), s.raw());
        let id = client_id(&mut a);
        wait_idle(&mut watcher, &id);
        // Its own line, drawn while the request that ended the silence runs.
        let own = text(a.cmd(&["CLIENT", "INFO"]));
        assert_eq!(field(&own, "idle"), 0, "{own}");
        // Another client's view once that request ran.
        wait_idle(&mut watcher, &id);
        assert_eq!(a.cmd(&["PING"]), Resp::simple("PONG"));
        let seen = line_of(&mut watcher, &id);
        assert_eq!(field(&seen, "idle"), 0, "{seen}");
    }
}

#[test]
fn acl_log_client_info_counts_from_the_denied_request() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let (mut a, mut watcher) = (s.raw(), s.raw());
        assert_eq!(watcher.cmd(&["ACL", "SETUSER", "pinger", "on", "nopass", "+ping"]), Resp::simple("OK"));
        assert_eq!(a.cmd(&["AUTH", "pinger", "any"]), Resp::simple("OK"));
        let id = client_id(&mut watcher);
        let a_id = {
            let list = text(watcher.cmd(&["CLIENT", "LIST"]));
            let line = list.lines().find(|l| l.contains(" user=pinger ")).expect("a listed").to_string();
            field(&line, "id").to_string()
        };
        assert_ne!(a_id, id);
        wait_idle(&mut watcher, &a_id);
        assert!(matches!(a.cmd(&["GET", "k"]), Resp::Error(e) if e.starts_with("NOPERM")));
        let info = match watcher.cmd(&["ACL", "LOG", "1"]) {
            Resp::Array(entries) => match &entries[..] {
                [Resp::Array(fields)] => {
                    let at = fields.iter().position(|f| *f == Resp::bulk("client-info")).expect("client-info");
                    text(fields[at + 1].clone())
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert!(info.starts_with(&format!("id={a_id} ")), "{info}");
        assert_eq!(field(&info, "idle"), 0, "{info}");
    }
}

#[test]
fn a_reply_after_a_long_block_counts_as_interaction() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let (mut a, mut watcher) = (s.raw(), s.raw());
        let id = client_id(&mut a);
        // Received at the start, answered 1.5 s later: idle counts from the answer.
        assert_eq!(a.cmd(&["BLPOP", "nothing", "1.5"]), Resp::NilArray);
        let seen = line_of(&mut watcher, &id);
        assert_eq!(field(&seen, "idle"), 0, "{seen}");
    }
}
