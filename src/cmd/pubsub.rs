//! Pub/Sub: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, PUBSUB, and
//! sharded Pub/Sub: SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB SHARDCHANNELS and
//! SHARDNUMSUB.
//!
//! Sharded channels are a namespace of their own (PUBLISH never reaches them, no
//! patterns), counted apart in confirmations, with `smessage` deliveries, as in Redis
//! 7.0. Without cluster mode every shard channel lives on the whole server, so
//! SPUBLISH fans out to every thread like PUBLISH.
//!
//! Subscriptions live on the thread that owns the connection (`shard::pubsub`);
//! PUBLISH fans out to every thread, each delivering to its own subscribers. Keyspace
//! notifications take a lighter road to the same subscribers: the thread that ran the
//! write delivers locally and sends every other thread a one-way `Msg::Publish`
//! (`ShardState::publish_events`).

use super::ctx::{ConnCtx, ConnOutcome, FanOut, Session};
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::shard::{HopResult, ShardState};
use std::sync::Arc;

/// Commands a RESP2 client may send while subscribed.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// (P)SUBSCRIBE and (P)UNSUBSCRIBE: their replies are confirmations that reach the
/// client whatever CLIENT REPLY says, as in Redis.
pub fn is_subscription_command(name: &[u8]) -> bool {
    [&b"subscribe"[..], b"unsubscribe", b"psubscribe", b"punsubscribe"].iter().any(|n| name.eq_ignore_ascii_case(n))
}

pub fn subscribed(sess: &Session) -> bool {
    !sess.subs.is_empty() || !sess.psubs.is_empty() || !sess.ssubs.is_empty()
}

fn count(sess: &Session) -> i64 {
    (sess.subs.len() + sess.psubs.len()) as i64
}

fn confirm(c: &mut ConnCtx, kind: &[u8], name: Option<&[u8]>) {
    // Shard channel confirmations count shard channels only, the others the rest.
    let n = if kind.starts_with(b"ss") || kind.starts_with(b"sun") { c.sess.ssubs.len() as i64 } else { count(c.sess) };
    c.out.push(3);
    c.out.bulk(kind);
    match name {
        Some(x) => c.out.bulk(x),
        None => c.out.null(),
    }
    c.out.int(n);
}

fn subscribe(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    for ch in a.iter().skip(1) {
        if c.sess.subs.insert(ch.to_vec()) {
            c.st.pubsub.subscribe(c.sess.id, ch);
        }
        confirm(c, b"subscribe", Some(ch));
    }
    Ok(ConnOutcome::Done)
}

fn psubscribe(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    for p in a.iter().skip(1) {
        if c.sess.psubs.insert(p.to_vec()) {
            c.st.pubsub.psubscribe(c.sess.id, p);
        }
        confirm(c, b"psubscribe", Some(p));
    }
    Ok(ConnOutcome::Done)
}

fn unsubscribe(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.iter().skip(1).map(|x| x.to_vec()).collect()
    } else {
        c.sess.subs.iter().cloned().collect()
    };
    if names.is_empty() {
        confirm(c, b"unsubscribe", None);
    }
    for ch in names {
        if c.sess.subs.remove(&ch) {
            c.st.pubsub.unsubscribe(c.sess.id, &ch);
        }
        confirm(c, b"unsubscribe", Some(&ch));
    }
    Ok(ConnOutcome::Done)
}

fn punsubscribe(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.iter().skip(1).map(|x| x.to_vec()).collect()
    } else {
        c.sess.psubs.iter().cloned().collect()
    };
    if names.is_empty() {
        confirm(c, b"punsubscribe", None);
    }
    for p in names {
        if c.sess.psubs.remove(&p) {
            c.st.pubsub.punsubscribe(c.sess.id, &p);
        }
        confirm(c, b"punsubscribe", Some(&p));
    }
    Ok(ConnOutcome::Done)
}

fn ssubscribe(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    for ch in a.iter().skip(1) {
        if c.sess.ssubs.insert(ch.to_vec()) {
            c.st.pubsub.ssubscribe(c.sess.id, ch);
        }
        confirm(c, b"ssubscribe", Some(ch));
    }
    Ok(ConnOutcome::Done)
}

fn sunsubscribe(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.iter().skip(1).map(|x| x.to_vec()).collect()
    } else {
        c.sess.ssubs.iter().cloned().collect()
    };
    if names.is_empty() {
        confirm(c, b"sunsubscribe", None);
    }
    for ch in names {
        if c.sess.ssubs.remove(&ch) {
            c.st.pubsub.sunsubscribe(c.sess.id, &ch);
        }
        confirm(c, b"sunsubscribe", Some(&ch));
    }
    Ok(ConnOutcome::Done)
}

fn spublish(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let channel = a.get(1).to_vec();
    let message = a.get(2).to_vec();
    Ok(publish_fanout(own_messages_for(c), move |st| st.spublish_local(&channel, &message)))
}

fn publish(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let channel = a.get(1).to_vec();
    let message = a.get(2).to_vec();
    Ok(publish_fanout(own_messages_for(c), move |st| st.publish_local(&channel, &message)))
}

/// The publisher whose own messages go before its reply: none under CLIENT REPLY
/// OFF/SKIP, where the reply is dropped but the messages are still delivered (as
/// pushes after it, like any other).
fn own_messages_for(c: &ConnCtx) -> Option<u64> {
    (c.sess.reply == super::ctx::ReplyMode::On).then_some(c.sess.id)
}

/// What one thread's PUBLISH hop gives back: its receiver count, and the messages it
/// queued for the publisher itself (a RESP3 client subscribed to its own channel).
struct Published {
    receivers: i64,
    own_messages: Vec<Vec<u8>>,
}

/// PUBLISH / SPUBLISH on every thread. Redis writes a message for a subscribed
/// publisher into its output as it delivers, so the message comes before PUBLISH's
/// integer reply (and, inside MULTI, inside EXEC's array just before it). The hop
/// therefore takes the publisher's own messages out of the delivery queue and the
/// reply writes them first.
fn publish_fanout(
    publisher: Option<u64>,
    deliver: impl Fn(&mut ShardState) -> usize + Send + Sync + 'static,
) -> ConnOutcome {
    ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st: &mut ShardState| -> HopResult {
            let queued_before = st.pubsub.pushes.len();
            let receivers = deliver(st) as i64;
            let mut own_messages = Vec::new();
            if let Some(publisher) = publisher.filter(|id| st.clients.contains_key(id)) {
                let mut i = queued_before;
                while i < st.pubsub.pushes.len() {
                    if st.pubsub.pushes[i].0 == publisher {
                        own_messages.push(st.pubsub.pushes.remove(i).1);
                    } else {
                        i += 1;
                    }
                }
            }
            Box::new(Published { receivers, own_messages })
        }),
        lock_whole: false,
        finish: Box::new(|_, results, out| {
            let mut receivers = 0;
            for (_, r) in results {
                let published = r.downcast::<Published>().expect("publish result");
                receivers += published.receivers;
                for message in &published.own_messages {
                    out.raw(message);
                }
            }
            out.int(receivers);
        }),
    })
}

/// A shard's channel names matching an optional pattern.
type ListChannels = fn(&ShardState, Option<&[u8]>) -> Vec<Vec<u8>>;

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern]: every shard's matching names, merged,
/// sorted and without duplicates.
fn channels_fanout(a: &Args, list: ListChannels) -> ConnOutcome {
    let pat = if a.len() == 3 { Some(a.get(2).to_vec()) } else { None };
    ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st: &mut ShardState| -> HopResult { Box::new(list(st, pat.as_deref())) }),
        lock_whole: false,
        finish: Box::new(|_, results, out| {
            let mut all: Vec<Vec<u8>> =
                results.into_iter().flat_map(|(_, r)| *r.downcast::<Vec<Vec<u8>>>().expect("list")).collect();
            all.sort();
            all.dedup();
            out.array(all.len());
            for ch in all {
                out.bulk(&ch);
            }
        }),
    })
}

/// PUBSUB NUMSUB / SHARDNUMSUB channel...: the shards' counts summed per name, as a
/// flat name, count, ... array in both protocols.
fn numsub_fanout(a: &Args, count: fn(&ShardState, &[u8]) -> usize) -> ConnOutcome {
    let names: Arc<Vec<Vec<u8>>> = Arc::new(a.iter().skip(2).map(|x| x.to_vec()).collect());
    let hop_names = names.clone();
    ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st: &mut ShardState| -> HopResult {
            Box::new(hop_names.iter().map(|n| count(st, n) as i64).collect::<Vec<i64>>())
        }),
        lock_whole: false,
        finish: Box::new(move |_, results, out| {
            let mut sums = vec![0i64; names.len()];
            for (_, r) in results {
                for (s, v) in sums.iter_mut().zip(*r.downcast::<Vec<i64>>().expect("counts")) {
                    *s += v;
                }
            }
            out.array(names.len() * 2);
            for (n, s) in names.iter().zip(sums) {
                out.bulk(n);
                out.int(s);
            }
        }),
    })
}

fn pubsub(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    match sub.as_str() {
        "channels" if a.len() <= 3 => Ok(channels_fanout(a, |st, pat| st.pubsub.channels(pat))),
        // Redis 7.0 answers a flat array in RESP3 too, not a map.
        "numsub" => Ok(numsub_fanout(a, |st, n| st.pubsub.numsub(n))),
        "shardchannels" if a.len() <= 3 => Ok(channels_fanout(a, |st, pat| st.pubsub.shard_channels(pat))),
        "shardnumsub" => Ok(numsub_fanout(a, |st, n| st.pubsub.shard_numsub(n))),
        "shardchannels" => Err(CmdError::msg(
            "ERR unknown subcommand or wrong number of arguments for 'shardchannels'. Try PUBSUB HELP.",
        )),
        "numpat" if a.len() == 2 => Ok(ConnOutcome::FanOut(FanOut {
            hop: Arc::new(|st: &mut ShardState| -> HopResult { Box::new(st.pubsub.patterns()) }),
            lock_whole: false,
            finish: Box::new(|_, results, out| {
                let mut all: Vec<Vec<u8>> =
                    results.into_iter().flat_map(|(_, r)| *r.downcast::<Vec<Vec<u8>>>().expect("list")).collect();
                all.sort();
                all.dedup();
                out.int(all.len() as i64);
            }),
        })),
        "help" if a.len() == 2 => {
            let lines = [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ];
            c.out.array(lines.len());
            for l in lines {
                c.out.simple(l);
            }
            Ok(ConnOutcome::Done)
        }
        "channels" | "numpat" | "help" => {
            Err(CmdError::msg(format!("ERR wrong number of arguments for 'pubsub|{sub}' command")))
        }
        _ => Err(CmdError::msg(format!("ERR unknown subcommand '{}'. Try PUBSUB HELP.", a.str(1)))),
    }
}

const fn ps(
    name: &'static str,
    arity: i32,
    flags: u32,
    f: super::table::ConnFn,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys: KeySpec::None, handler: Handler::Conn(f), group: "pubsub", summary, since }
}

const PS: u32 = flag::PUBSUB | flag::NOSCRIPT | flag::LOADING | flag::STALE;

pub static COMMANDS: &[CommandSpec] = &[
    ps("subscribe", -2, PS, subscribe, "Listens for messages published to channels.", "2.0.0"),
    ps("unsubscribe", -1, PS, unsubscribe, "Stops listening to messages posted to channels.", "2.0.0"),
    ps(
        "psubscribe",
        -2,
        PS,
        psubscribe,
        "Listens for messages published to channels that match one or more patterns.",
        "2.0.0",
    ),
    ps(
        "punsubscribe",
        -1,
        PS,
        punsubscribe,
        "Stops listening to messages published to channels that match one or more patterns.",
        "2.0.0",
    ),
    ps(
        "publish",
        3,
        flag::PUBSUB | flag::LOADING | flag::STALE | flag::FAST | flag::MAY_REPLICATE,
        publish,
        "Posts a message to a channel.",
        "2.0.0",
    ),
    ps("ssubscribe", -2, PS, ssubscribe, "Listens for messages published to shard channels.", "7.0.0"),
    ps("sunsubscribe", -1, PS, sunsubscribe, "Stops listening to messages posted to shard channels.", "7.0.0"),
    ps(
        "spublish",
        3,
        flag::PUBSUB | flag::LOADING | flag::STALE | flag::FAST | flag::MAY_REPLICATE,
        spublish,
        "Post a message to a shard channel",
        "7.0.0",
    ),
    ps("pubsub", -2, flag::PUBSUB | flag::LOADING | flag::STALE, pubsub, "A container for Pub/Sub commands.", "2.8.0"),
];

#[cfg(test)]
mod tests {
    use super::super::harness::{Harness, Reply};

    #[test]
    fn subscribe_publish_and_introspect_across_shards() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            let r = h.run(&["subscribe", "news"]);
            assert_eq!(r, Reply::Array(vec![Reply::bulk("subscribe"), Reply::bulk("news"), Reply::Int(1)]));
            assert!(matches!(h.run(&["get", "x"]), Reply::Error(e) if e.contains("only (P|S)SUBSCRIBE")));
            h.sess.subs.clear();
            assert_eq!(h.run(&["publish", "news", "hello"]), Reply::Int(1));
            let pushes: Vec<_> = h.shards.iter_mut().flat_map(|s| s.pubsub.pushes.drain(..)).collect();
            assert_eq!(pushes.len(), 1);
            assert_eq!(
                h.run(&["pubsub", "numsub", "news", "none"]),
                Reply::Array(vec![Reply::bulk("news"), Reply::Int(1), Reply::bulk("none"), Reply::Int(0)])
            );
            assert_eq!(h.run(&["pubsub", "channels"]), Reply::Array(vec![Reply::bulk("news")]));
            assert_eq!(h.run(&["pubsub", "numpat"]), Reply::Int(0));
        }
    }
}
