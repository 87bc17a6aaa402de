//! What each participant of a cross-shard keyed transaction logs for its part.
//!
//! A shard's log must replay on its own, and the shards' files concatenated into one
//! Redis must rebuild the dataset (see `persist`), so a part holds only commands on
//! the shard's own keys. Where the command's effect has such a form, the part is that
//! small command instead of the keys' full final state:
//! - LMOVE / BLMOVE / RPOPLPUSH / BRPOPLPUSH: `LPOP|RPOP src` on the source's shard,
//!   `LPUSH|RPUSH dst element` on the destination's (the element is the reply);
//! - SMOVE: `SREM src member` and `SADD dst member`;
//! - MSET / MSETNX: one `MSET` of each shard's own pairs; DEL / UNLINK: each shard's
//!   keys that existed;
//! - RENAME / RENAMENX, COPY and the STORE commands (SINTERSTORE, ZUNIONSTORE, PFMERGE,
//!   BITOP ...): the written key must arrive whole on its shard's AOF, so the AOF part
//!   is its final state (and `DEL src` for a rename); but the replication stream, which
//!   replays on one keyspace, gets the command itself, once.
//!
//! Any other write (scripts, LMPOP, GEO ... STORE) falls back to the final state of
//! every key it changed (`coord`'s comparison with copies, taken only while logging).

use super::Args;
use crate::persist::log::ShardLog;
use crate::shard::msg::KeyEntries;
use crate::shard::{OwnedArgs, shard_of};

/// Which of the two streams an item goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    Both,
    Aof,
    Stream,
}

#[derive(Clone, Debug)]
pub enum LogItem {
    /// A command on this shard's keys, run in `db`.
    Cmd { db: u16, args: OwnedArgs, to: To },
    /// The final state of the part's `pos`-th written key (`DEL` + recreate).
    State { pos: usize, to: To },
    /// A command as the whole transaction propagated it on one keyspace (captured by
    /// the coordinator, RESP-encoded), for the replication stream only.
    Captured { db: u16, cmd: Vec<u8> },
}

/// With what the command propagated captured (`stream`, a replica attached), the parts
/// keep only their AOF forms and the first part carries the captured commands to the
/// stream, which then reads as Redis's: one MSETNX, SMOVE or LMOVE, not per-shard
/// halves in a MULTI.
pub fn stream_as_captured(parts: &mut [Vec<LogItem>], order: &[u16], stream: Vec<(u16, Vec<u8>)>) {
    for items in parts.iter_mut() {
        items.retain_mut(|item| match item {
            LogItem::Cmd { to, .. } | LogItem::State { to, .. } => {
                if *to == To::Both {
                    *to = To::Aof;
                }
                *to == To::Aof
            }
            LogItem::Captured { .. } => true,
        });
    }
    let Some(&first) = order.iter().find(|&&s| !parts[s as usize].is_empty()) else { return };
    parts[first as usize].extend(stream.into_iter().map(|(db, cmd)| LogItem::Captured { db, cmd }));
}

/// A key the transaction gathered, as the derivation sees it after the run.
pub struct Touched<'a> {
    pub db: u16,
    pub key: &'a [u8],
    /// The shard owning it, and its position among that shard's writes.
    pub owner: usize,
    pub pos: usize,
    /// It existed when gathered.
    pub was_present: bool,
}

/// The index of the key a STORE-like command writes (the others are only read).
fn stored_key(name: &str) -> Option<usize> {
    match name {
        "sinterstore" | "sunionstore" | "sdiffstore" | "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore"
        | "pfmerge" => Some(1),
        "bitop" | "copy" => Some(2),
        _ => None,
    }
}

/// Does `derive` know a shard-local form of this command?
pub fn derives(name: &str) -> bool {
    stored_key(name).is_some()
        || matches!(
            name,
            "lmove"
                | "blmove"
                | "rpoplpush"
                | "brpoplpush"
                | "smove"
                | "rename"
                | "renamenx"
                | "mset"
                | "msetnx"
                | "del"
                | "unlink"
        )
}

/// The items each shard logs (by shard; empty: the shard has no part) for command
/// `name` that ran with `args` in `db`, answered `reply` and gathered `keys`.
pub fn derive(name: &str, args: &Args, db: u16, reply: &[u8], keys: &[Touched], nshards: usize) -> Vec<Vec<LogItem>> {
    let mut parts: Vec<Vec<LogItem>> = (0..nshards).map(|_| Vec::new()).collect();
    if reply.first() == Some(&b'-') {
        // These commands check everything before they write: an error wrote nothing.
        return parts;
    }
    let cmd = |parts: &mut Vec<Vec<LogItem>>, shard: usize, to: To, a: &[&[u8]]| {
        parts[shard].push(LogItem::Cmd { db, args: OwnedArgs::from_slices(a.iter().copied()), to });
    };
    let owner = |k: &[u8]| shard_of(k, nshards);
    match name {
        "lmove" | "blmove" | "rpoplpush" | "brpoplpush" => {
            let Some(elem) = bulk(reply) else { return parts };
            let (from, to): (&[u8], &[u8]) =
                if matches!(name, "lmove" | "blmove") { (args.get(3), args.get(4)) } else { (b"right", b"left") };
            let pop: &[u8] = if from.eq_ignore_ascii_case(b"left") { b"LPOP" } else { b"RPOP" };
            let push: &[u8] = if to.eq_ignore_ascii_case(b"left") { b"LPUSH" } else { b"RPUSH" };
            let (src, dst) = (args.get(1), args.get(2));
            cmd(&mut parts, owner(src), To::Both, &[pop, src]);
            cmd(&mut parts, owner(dst), To::Both, &[push, dst, elem]);
        }
        "smove" => {
            if reply.starts_with(b":1\r\n") {
                let (src, dst, m) = (args.get(1), args.get(2), args.get(3));
                cmd(&mut parts, owner(src), To::Both, &[b"SREM", src, m]);
                cmd(&mut parts, owner(dst), To::Both, &[b"SADD", dst, m]);
            }
        }
        "mset" | "msetnx" => {
            if name == "msetnx" && !reply.starts_with(b":1\r\n") {
                return parts;
            }
            let mut per: Vec<Vec<&[u8]>> = (0..nshards).map(|_| vec![&b"MSET"[..]]).collect();
            for i in (1..args.len().saturating_sub(1)).step_by(2) {
                per[owner(args.get(i))].extend([args.get(i), args.get(i + 1)]);
            }
            for (s, a) in per.iter().enumerate().filter(|(_, a)| a.len() > 1) {
                cmd(&mut parts, s, To::Both, a);
            }
        }
        "del" | "unlink" => {
            if reply.starts_with(b":0\r\n") {
                return parts;
            }
            let verb: &[u8] = if name == "del" { b"DEL" } else { b"UNLINK" };
            let mut per: Vec<Vec<&[u8]>> = (0..nshards).map(|_| vec![verb]).collect();
            for k in keys.iter().filter(|k| k.was_present) {
                per[k.owner].push(k.key);
            }
            for (s, a) in per.iter().enumerate().filter(|(_, a)| a.len() > 1) {
                cmd(&mut parts, s, To::Both, a);
            }
        }
        "rename" | "renamenx" => {
            if reply.starts_with(b":0\r\n") {
                return parts;
            }
            let (src, dst) = (args.get(1), args.get(2));
            let whole: Vec<&[u8]> = args.iter().collect();
            cmd(&mut parts, owner(src), To::Aof, &[b"DEL", src]);
            cmd(&mut parts, owner(src), To::Stream, &whole);
            if let Some(k) = keys.iter().find(|k| k.key == dst) {
                parts[k.owner].push(LogItem::State { pos: k.pos, to: To::Aof });
            }
        }
        _ => {
            let Some(at) = stored_key(name).filter(|&at| at < args.len()) else { return parts };
            if name == "copy" && reply.starts_with(b":0\r\n") {
                return parts;
            }
            let dst = args.get(at);
            // COPY ... DB n names its destination in another database: the key that is
            // not the source (same name means same shard, never a transaction).
            let Some(k) = keys.iter().find(|k| k.key == dst) else { return parts };
            let whole: Vec<&[u8]> = args.iter().collect();
            parts[k.owner].push(LogItem::State { pos: k.pos, to: To::Aof });
            cmd(&mut parts, k.owner, To::Stream, &whole);
        }
    }
    parts
}

/// Feeds a part's items (inside the part's commit: `ShardLog::commit` stages them).
pub fn emit(log: &mut ShardLog, writes: &KeyEntries, items: &[LogItem]) {
    for item in items {
        let to = match item {
            LogItem::Cmd { to, .. } | LogItem::State { to, .. } => *to,
            LogItem::Captured { .. } => To::Stream,
        };
        log.skip_aof = to == To::Stream;
        log.skip_repl = to == To::Aof;
        match item {
            LogItem::Cmd { db, args, .. } => {
                let a: Vec<&[u8]> = (0..args.len()).map(|i| args.get(i)).collect();
                log.feed(*db, &a);
            }
            LogItem::State { pos, .. } => {
                if let Some((db, key, e)) = writes.get(*pos) {
                    log.with_stream(*db, |b| crate::persist::emit::replace_key(b, key, e.as_ref()));
                }
            }
            LogItem::Captured { db, cmd } => log.with_stream(*db, |b| b.extend_from_slice(cmd)),
        }
    }
    log.skip_aof = false;
    log.skip_repl = false;
}

/// The payload of a RESP bulk-string reply (None for a null or anything else).
fn bulk(reply: &[u8]) -> Option<&[u8]> {
    let rest = reply.strip_prefix(b"$")?;
    let end = rest.iter().position(|&b| b == b'\r')?;
    let n: usize = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    rest.get(end + 2..end + 2 + n)
}

#[cfg(test)]
mod tests {
    use super::bulk;
    use crate::cmd::harness::{Harness, Reply};
    use crate::persist::prop::tests::{self as prop_tests, logged};
    use crate::shard::shard_of;

    #[test]
    fn bulk_reply_payloads() {
        assert_eq!(bulk(b"$3\r\nabc\r\n"), Some(&b"abc"[..]));
        assert_eq!(bulk(b"$0\r\n\r\n"), Some(&b""[..]));
        assert_eq!(bulk(b"$-1\r\n"), None);
        assert_eq!(bulk(b"_\r\n"), None);
        assert_eq!(bulk(b"$5\r\nab"), None);
    }

    /// The commands in a log buffer, as strings.
    fn cmds(b: &[u8]) -> Vec<Vec<String>> {
        prop_tests::cmds(b)
            .into_iter()
            .map(|c| c.into_iter().map(|a| String::from_utf8_lossy(&a).into_owned()).collect())
            .collect()
    }

    /// A key named `prefix` + n that lives on `shard`.
    fn key_on(shard: usize, prefix: &str, n: usize) -> String {
        (0..).map(|i| format!("{prefix}{i}")).find(|k| shard_of(k.as_bytes(), n) == shard).unwrap()
    }

    fn logged_cmds(h: &mut Harness) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        for s in &mut h.shards {
            all.extend(cmds(&s.aof.buf));
            s.aof.buf.clear();
        }
        all.retain(|c| !matches!(c[0].as_str(), "MULTI" | "EXEC" | "ECHO" | "SELECT"));
        all
    }

    /// Cross-shard moves of big values log what moved, not the values: the parts replay
    /// to the same data, and nothing in them grows with the list or set.
    #[test]
    fn cross_shard_moves_log_shard_local_commands() {
        let n = 2;
        let mut h = logged(n);
        let (a, b) = (key_on(0, "a", n), key_on(1, "b", n));
        let (s, t) = (key_on(0, "s", n), key_on(1, "t", n));
        let items: Vec<String> = (0..500).map(|i| format!("e{i}")).collect();
        let mut rpush = vec!["rpush", a.as_str()];
        rpush.extend(items.iter().map(|s| s.as_str()));
        h.run(&rpush);
        let mut sadd = vec!["sadd", s.as_str()];
        sadd.extend(items.iter().map(|s| s.as_str()));
        h.run(&sadd);
        h.run(&["pexpire", &a, "100000000"]);
        logged_cmds(&mut h);

        assert_eq!(h.run(&["lmove", &a, &b, "left", "right"]), Reply::bulk("e0"));
        assert_eq!(h.run(&["rpoplpush", &a, &b]), Reply::bulk("e499"));
        let c = logged_cmds(&mut h);
        // Shard 0's log, then shard 1's.
        assert_eq!(c, [vec!["LPOP", a.as_str()], vec!["RPOP", &a], vec!["RPUSH", &b, "e0"], vec!["LPUSH", &b, "e499"]]);

        assert_eq!(h.run(&["smove", &s, &t, "e7"]), Reply::Int(1));
        assert_eq!(h.run(&["smove", &s, &t, "nope"]), Reply::Int(0));
        assert_eq!(logged_cmds(&mut h), [vec!["SREM", s.as_str(), "e7"], vec!["SADD", &t, "e7"]]);

        // RENAME's AOF part carries the value to its new shard.
        assert_eq!(h.run(&["rename", &s, &b]), Reply::Simple("OK".into()));
        let c = logged_cmds(&mut h);
        assert_eq!(c[0], ["DEL", s.as_str()]);
        assert_eq!(c[1], ["DEL", b.as_str()]);
        assert!(c.len() > 2 && c[2..].iter().all(|c| c[0] == "SADD" && c[1] == b), "{c:?}");
        assert_eq!(h.run(&["sunionstore", &a, &b, &t]), Reply::Int(500));
        assert_eq!(h.run(&["copy", &a, &s]), Reply::Int(1));
        let c = logged_cmds(&mut h);
        assert!(c.iter().all(|c| c[1] == a || c[1] == s), "only the written keys: {c:?}");

        assert_eq!(h.run(&["mset", &a, "x", &b, "y", &s, "z"]), Reply::Simple("OK".into()));
        let c = logged_cmds(&mut h);
        // A split command's parts are the client's command on each shard's keys, as sent.
        assert_eq!(c, [vec!["mset", a.as_str(), "x", &s, "z"], vec!["mset", &b, "y"]]);
        assert_eq!(h.run(&["msetnx", &a, "x", &b, "y"]), Reply::Int(0));
        let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
        assert_eq!(h.run(&["lmove", &t, &a, "left", "left"]), Reply::Error(wrong.into()));
        assert!(logged_cmds(&mut h).is_empty());

        assert_eq!(h.run(&["del", &a, &b, "missing"]), Reply::Int(2));
        assert_eq!(logged_cmds(&mut h), [vec!["del", a.as_str()], vec!["del", &b, "missing"]]);
    }
}
