//! A socketless harness: N shards in one thread, messages delivered synchronously.
//!
//! `Harness::run(&["set", "k", "v"])` dispatches like a connection would, pumps every
//! inbox until nothing moves, and returns the decoded reply. Command semantics,
//! cross-shard transactions and fan-outs are testable without sockets or threads.

use super::Args;
use super::ctx::Session;
use super::dispatch::{Outcome, dispatch, handle_msg};
use crate::config::Config;
use crate::resp::Proto;
use crate::shard::{ReplyTo, ShardState, Shared};
use crate::util::clock::Clock;
use std::sync::Arc;

/// A decoded reply, for assertions.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
    Double(String),
    Bool(bool),
    Map(Vec<(Reply, Reply)>),
}

impl Reply {
    pub fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }
}

/// Shorthands for expected replies in the command families' tests.
pub mod shorthand {
    use super::Reply;

    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }
    pub fn b(s: &str) -> Reply {
        Reply::bulk(s)
    }
    pub fn int(n: i64) -> Reply {
        Reply::Int(n)
    }
    pub fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }
    pub fn arr(v: Vec<Reply>) -> Reply {
        Reply::Array(v)
    }
}

pub struct Harness {
    pub shards: Vec<ShardState>,
    pub sess: Session,
    pub clock: Clock,
    pub home: usize,
    seq: u64,
    /// Rounds of delivery `pump` has made so far: each is one hop between shards,
    /// so a test can count the round trips a command needs.
    pub pump_rounds: usize,
}

/// Runs `f` against a fresh 1-shard and a fresh 4-shard harness (the single-shard and
/// the cross-shard paths), then checks that every intent lock was released.
pub fn each(f: impl Fn(&mut Harness)) {
    for n in [1, 4] {
        let mut h = Harness::new(n);
        f(&mut h);
        for s in &h.shards {
            assert!(s.locks.is_idle(), "locks released on shard {}", s.id);
        }
    }
}

impl Harness {
    pub fn new(nshards: usize) -> Harness {
        // Unit tests digest and inspect freely; the server itself defaults to "no".
        let cfg = Config { shards: nshards, enable_debug_command: "yes".to_string(), ..Default::default() };
        Harness::with_config(cfg)
    }

    pub fn with_config(cfg: Config) -> Harness {
        let clock = Clock::manual(1_700_000_000_000);
        let needs_auth = cfg.requirepass.is_some();
        let shared = Arc::new(Shared::new(cfg, None));
        let shards = (0..shared.nshards).map(|i| ShardState::new(i, shared.clone(), clock.clone())).collect();
        Harness { shards, sess: Session::new(1, needs_auth), clock, home: 0, seq: 0, pump_rounds: 0 }
    }

    /// Runs one command from the home shard and returns its raw RESP reply.
    pub fn run_raw(&mut self, args: &[&[u8]]) -> Vec<u8> {
        for s in &mut self.shards {
            s.begin_turn();
        }
        let owned = crate::shard::OwnedArgs::from_slices(args.iter().copied());
        self.seq += 1;
        let to = ReplyTo { shard: self.home as u16, slot: 0, generation: 0, seq: self.seq };
        let mut out = Vec::new();
        // Each command finishes before the next: nothing is owed (`cmd::order`).
        self.sess.lane = crate::cmd::order::Lane::Idle;
        let outcome = dispatch(&mut self.shards[self.home], &mut self.sess, &Args::Owned(&owned), &mut out, to);
        if matches!(outcome, Outcome::Done | Outcome::Close) {
            self.pump();
            return out;
        }
        self.pump();
        let replies = &mut self.shards[self.home].local_replies;
        let pos = replies.iter().position(|(t, _)| t.seq == self.seq).expect("reply arrived");
        replies.remove(pos).1.into_owned()
    }

    /// Delivers messages between shards until every inbox is empty.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            for s in &mut self.shards {
                crate::cmd::tracking::flush_bcast(s);
                s.flush_outbox();
                s.wakes.clear();
            }
            for i in 0..self.shards.len() {
                let shared = self.shards[i].shared.clone();
                while let Some(batch) = shared.inboxes[i].pop() {
                    moved = true;
                    for m in batch {
                        handle_msg(&mut self.shards[i], m);
                    }
                }
            }
            if !moved {
                return;
            }
            self.pump_rounds += 1;
        }
    }

    /// Dispatches a command that may not answer at once (a blocking pop) and returns
    /// its sequence number; `reply_for` collects the answer once it exists.
    pub fn start(&mut self, args: &[&str]) -> u64 {
        for s in &mut self.shards {
            s.begin_turn();
        }
        let owned = crate::shard::OwnedArgs::from_slices(args.iter().map(|a| a.as_bytes()));
        self.seq += 1;
        let to = ReplyTo { shard: self.home as u16, slot: self.sess.id as u32, generation: 0, seq: self.seq };
        let mut out = Vec::new();
        // The harness plays independent clients: nothing is owed (`cmd::order`).
        self.sess.lane = crate::cmd::order::Lane::Idle;
        let outcome = dispatch(&mut self.shards[self.home], &mut self.sess, &Args::Owned(&owned), &mut out, to);
        if matches!(outcome, Outcome::Done | Outcome::Close) {
            self.shards[self.home].local_replies.push((to, out.into()));
        }
        self.pump();
        self.seq
    }

    /// The reply to request `seq` (from `start`), if it has arrived.
    pub fn reply_for(&mut self, seq: u64) -> Option<Reply> {
        self.pump();
        let replies = &mut self.shards[self.home].local_replies;
        let pos = replies.iter().position(|(t, _)| t.seq == seq)?;
        let raw = replies.remove(pos).1;
        Some(decode(&raw).expect("well-formed reply").0)
    }

    /// One timer tick on every shard: blocked-client deadlines.
    pub fn tick(&mut self) {
        for s in &mut self.shards {
            s.begin_turn();
            super::blocking::expire_blocked(s);
        }
        self.pump();
    }

    pub fn run(&mut self, args: &[&str]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let raw = self.run_raw(&a);
        let (r, used) = decode(&raw).expect("well-formed reply");
        assert_eq!(used, raw.len(), "exactly one reply");
        r
    }

    pub fn resp3(&mut self) {
        self.sess.proto = Proto::Resp3;
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.clock.advance_ms(ms);
    }

    /// A harness with `notify-keyspace-events` set to `flags` (through CONFIG SET) and
    /// a listener subscribed to every keyspace and keyevent channel.
    pub fn with_events(nshards: usize, flags: &str) -> Harness {
        let mut h = Harness::new(nshards);
        assert_eq!(h.run(&["config", "set", "notify-keyspace-events", flags]), Reply::Simple("OK".into()));
        h.listen_events();
        h
    }

    /// Subscribes a listener (client `LISTENER`, on the home shard, no connection) to
    /// every keyspace and keyevent channel. `events` reads what it received.
    pub fn listen_events(&mut self) {
        let ps = &mut self.shards[self.home].pubsub;
        ps.psubscribe(LISTENER, b"__keyspace@*");
        ps.psubscribe(LISTENER, b"__keyevent@*");
    }

    /// Raw (channel, message) pairs the listener received since the last call.
    pub fn raw_events(&mut self) -> Vec<(String, String)> {
        self.pump();
        let mut got = Vec::new();
        for s in &mut self.shards {
            let mine: Vec<_> = s.pubsub.pushes.iter().filter(|(c, _)| *c == LISTENER).cloned().collect();
            s.pubsub.pushes.retain(|(c, _)| *c != LISTENER);
            for (_, bytes) in mine {
                let Some((Reply::Array(items), _)) = decode(&bytes) else { panic!("a push") };
                let text = |r: &Reply| match r {
                    Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("bulk expected, got {other:?}"),
                };
                got.push((text(&items[2]), text(&items[3])));
            }
        }
        got
    }

    /// The keyspace events the listener received since the last call, as
    /// `"event key"` (`"event key @db"` outside db 0), from the keyevent channels.
    /// When both kinds are published, checks that each keyevent message is paired
    /// with the same event on the key's keyspace channel.
    pub fn events(&mut self) -> Vec<String> {
        let raw = self.raw_events();
        let space: Vec<(String, String)> = raw
            .iter()
            .filter_map(|(c, m)| {
                let rest = c.strip_prefix("__keyspace@")?;
                let (db, key) = rest.split_once("__:")?;
                Some((db.to_string(), format!("{m} {key}")))
            })
            .collect();
        let event: Vec<(String, String)> = raw
            .iter()
            .filter_map(|(c, m)| {
                let rest = c.strip_prefix("__keyevent@")?;
                let (db, ev) = rest.split_once("__:")?;
                Some((db.to_string(), format!("{ev} {m}")))
            })
            .collect();
        if !space.is_empty() && !event.is_empty() {
            assert_eq!(space, event, "keyspace and keyevent channels disagree");
        }
        let list = if event.is_empty() { space } else { event };
        list.into_iter().map(|(db, e)| if db == "0" { e } else { format!("{e} @{db}") }).collect()
    }
}

/// The client id `Harness::listen_events` subscribes.
pub const LISTENER: u64 = 9_999;

fn line(b: &[u8]) -> Option<(&str, usize)> {
    let end = b.windows(2).position(|w| w == b"\r\n")?;
    Some((std::str::from_utf8(&b[1..end]).ok()?, end + 2))
}

/// Decodes one RESP2/RESP3 reply; returns it and the bytes used.
pub fn decode(b: &[u8]) -> Option<(Reply, usize)> {
    let (l, n) = line(b)?;
    Some(match b[0] {
        b'+' => (Reply::Simple(l.into()), n),
        b'-' => (Reply::Error(l.into()), n),
        b':' => (Reply::Int(l.parse().ok()?), n),
        b',' => (Reply::Double(l.into()), n),
        b'#' => (Reply::Bool(l == "t"), n),
        b'_' => (Reply::Nil, n),
        b'$' | b'=' => {
            let len: i64 = l.parse().ok()?;
            if len < 0 {
                return Some((Reply::Nil, n));
            }
            let len = len as usize;
            (Reply::Bulk(b.get(n..n + len)?.to_vec()), n + len + 2)
        }
        b'*' | b'~' | b'>' => {
            let len: i64 = l.parse().ok()?;
            if len < 0 {
                return Some((Reply::Nil, n));
            }
            let mut used = n;
            let mut items = Vec::new();
            for _ in 0..len {
                let (r, u) = decode(&b[used..])?;
                items.push(r);
                used += u;
            }
            (Reply::Array(items), used)
        }
        b'%' => {
            let len: usize = l.parse().ok()?;
            let mut used = n;
            let mut items = Vec::new();
            for _ in 0..len {
                let (k, u) = decode(&b[used..])?;
                used += u;
                let (v, u) = decode(&b[used..])?;
                used += u;
                items.push((k, v));
            }
            (Reply::Map(items), used)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_shard_mset_mget_and_del() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            assert_eq!(h.run(&["mset", "a", "1", "b", "2", "c", "3", "d", "4"]), Reply::Simple("OK".into()));
            assert_eq!(
                h.run(&["mget", "a", "b", "x", "d"]),
                Reply::Array(vec![Reply::bulk("1"), Reply::bulk("2"), Reply::Nil, Reply::bulk("4")])
            );
            assert_eq!(h.run(&["dbsize"]), Reply::Int(4));
            assert_eq!(h.run(&["del", "a", "b", "x"]), Reply::Int(2));
            assert_eq!(h.run(&["exists", "a", "c", "d", "d"]), Reply::Int(3));
            for s in &h.shards {
                assert!(s.locks.is_idle(), "locks released on shard {}", s.id);
            }
        }
    }

    #[test]
    fn unknown_and_arity_errors() {
        let mut h = Harness::new(1);
        assert_eq!(
            h.run(&["nosuch", "a", "b"]),
            Reply::Error("ERR unknown command 'nosuch', with args beginning with: 'a' 'b' ".into())
        );
        assert_eq!(h.run(&["get"]), Reply::Error("ERR wrong number of arguments for 'get' command".into()));
    }
}
