//! Pub/Sub subscriptions of one thread's connections.
//!
//! Each thread knows only its own subscribers; PUBLISH fans out to every thread, which
//! encodes the message for each local subscriber (RESP2 array or RESP3 push) and
//! queues it in `pushes` for the connection layer to append to that client's output.
//!
//! Every thread also keeps the server-wide `Census` of subscriptions up to date: a
//! script's PUBLISH holds its thread and cannot ask the others, so it counts its
//! receivers there (`cmd::script_publish`).

use crate::resp::{Proto, ReplyWriter};
use crate::util::glob::glob_match;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Which kind of subscription a census entry counts.
#[derive(Clone, Copy)]
enum Kind {
    Channel,
    Pattern,
    ShardChannel,
}

/// How many clients, over every thread, are subscribed to each channel, pattern and
/// shard channel. Changed only when a subscription comes or goes (one uncontended
/// lock then); read by a script's PUBLISH, whose reply is the receiver count.
#[derive(Default)]
pub struct Census {
    counts: Mutex<[HashMap<Vec<u8>, usize>; 3]>,
}

impl Census {
    fn change(&self, kind: Kind, name: &[u8], added: bool) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let map = &mut counts[kind as usize];
        if added {
            *map.entry(name.to_vec()).or_default() += 1;
        } else if let Some(n) = map.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                map.remove(name);
            }
        }
    }

    /// PUBLISH's receiver count on every thread: the channel's subscribers plus one per
    /// subscriber of each matching pattern.
    pub fn receivers(&self, channel: &[u8]) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let direct = counts[Kind::Channel as usize].get(channel).copied().unwrap_or(0);
        let by_pattern: usize =
            counts[Kind::Pattern as usize].iter().filter(|(p, _)| glob_match(p, channel, false)).map(|(_, n)| n).sum();
        direct + by_pattern
    }

    /// SPUBLISH's receiver count on every thread.
    pub fn shard_receivers(&self, channel: &[u8]) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts[Kind::ShardChannel as usize].get(channel).copied().unwrap_or(0)
    }
}

#[derive(Default)]
pub struct PubSub {
    /// channel -> subscribed client ids
    channels: HashMap<Vec<u8>, HashSet<u64>>,
    /// pattern -> subscribed client ids
    patterns: HashMap<Vec<u8>, HashSet<u64>>,
    /// shard channel -> subscribed client ids (SSUBSCRIBE; no patterns there)
    shard_channels: HashMap<Vec<u8>, HashSet<u64>>,
    /// Messages ready for clients of this thread: (client id, encoded bytes).
    pub pushes: Vec<(u64, Vec<u8>)>,
    /// The server-wide counts this thread's subscriptions are part of (None in unit
    /// tests of this thread alone).
    census: Option<Arc<Census>>,
}

impl PubSub {
    pub fn with_census(census: Arc<Census>) -> PubSub {
        PubSub { census: Some(census), ..Default::default() }
    }

    fn counted(&self, kind: Kind, name: &[u8], added: bool) {
        if let Some(c) = &self.census {
            c.change(kind, name, added);
        }
    }

    /// Returns true if the client was not yet subscribed to `ch`.
    pub fn subscribe(&mut self, client: u64, ch: &[u8]) -> bool {
        let added = self.channels.entry(ch.to_vec()).or_default().insert(client);
        if added {
            self.counted(Kind::Channel, ch, true);
        }
        added
    }

    pub fn unsubscribe(&mut self, client: u64, ch: &[u8]) -> bool {
        let removed = remove_from(&mut self.channels, client, ch);
        if removed {
            self.counted(Kind::Channel, ch, false);
        }
        removed
    }

    pub fn psubscribe(&mut self, client: u64, pat: &[u8]) -> bool {
        let added = self.patterns.entry(pat.to_vec()).or_default().insert(client);
        if added {
            self.counted(Kind::Pattern, pat, true);
        }
        added
    }

    pub fn punsubscribe(&mut self, client: u64, pat: &[u8]) -> bool {
        let removed = remove_from(&mut self.patterns, client, pat);
        if removed {
            self.counted(Kind::Pattern, pat, false);
        }
        removed
    }

    /// Queues `message` for every local subscriber of `channel` (direct and by
    /// pattern). `proto_of` gives each client's protocol. Returns the receiver count.
    pub fn publish(&mut self, channel: &[u8], message: &[u8], proto_of: impl Fn(u64) -> Proto) -> usize {
        let mut n = 0;
        if let Some(subs) = self.channels.get(channel) {
            for &c in subs {
                let mut buf = Vec::with_capacity(32 + channel.len() + message.len());
                let mut w = ReplyWriter::new(&mut buf, proto_of(c));
                w.push(3);
                w.bulk(b"message");
                w.bulk(channel);
                w.bulk(message);
                self.pushes.push((c, buf));
                n += 1;
            }
        }
        for (pat, subs) in &self.patterns {
            if !glob_match(pat, channel, false) {
                continue;
            }
            for &c in subs {
                let mut buf = Vec::with_capacity(48 + pat.len() + channel.len() + message.len());
                let mut w = ReplyWriter::new(&mut buf, proto_of(c));
                w.push(4);
                w.bulk(b"pmessage");
                w.bulk(pat);
                w.bulk(channel);
                w.bulk(message);
                self.pushes.push((c, buf));
                n += 1;
            }
        }
        n
    }

    pub fn ssubscribe(&mut self, client: u64, ch: &[u8]) -> bool {
        let added = self.shard_channels.entry(ch.to_vec()).or_default().insert(client);
        if added {
            self.counted(Kind::ShardChannel, ch, true);
        }
        added
    }

    pub fn sunsubscribe(&mut self, client: u64, ch: &[u8]) -> bool {
        let removed = remove_from(&mut self.shard_channels, client, ch);
        if removed {
            self.counted(Kind::ShardChannel, ch, false);
        }
        removed
    }

    /// Queues an SPUBLISH message (`smessage`) for the local subscribers of the shard
    /// channel. Returns the receiver count.
    pub fn spublish(&mut self, channel: &[u8], message: &[u8], proto_of: impl Fn(u64) -> Proto) -> usize {
        let Some(subs) = self.shard_channels.get(channel) else { return 0 };
        for &c in subs {
            let mut buf = Vec::with_capacity(32 + channel.len() + message.len());
            let mut w = ReplyWriter::new(&mut buf, proto_of(c));
            w.push(3);
            w.bulk(b"smessage");
            w.bulk(channel);
            w.bulk(message);
            self.pushes.push((c, buf));
        }
        subs.len()
    }

    /// Active shard channels matching `pattern` (all when None).
    pub fn shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.shard_channels.keys().filter(|c| pattern.is_none_or(|p| glob_match(p, c, false))).cloned().collect()
    }

    pub fn shard_numsub(&self, channel: &[u8]) -> usize {
        self.shard_channels.get(channel).map_or(0, |s| s.len())
    }

    /// A client went away (or RESET): drop its shard channel subscriptions.
    pub fn remove_shard_client(&mut self, client: u64, channels: &HashSet<Vec<u8>>) {
        for ch in channels {
            self.sunsubscribe(client, ch);
        }
    }

    /// Active channels matching `pattern` (all when None), for PUBSUB CHANNELS.
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.channels.keys().filter(|c| pattern.is_none_or(|p| glob_match(p, c, false))).cloned().collect()
    }

    /// Is `client` subscribed to `channel` (by name, not pattern)?
    pub fn is_subscribed(&self, client: u64, channel: &[u8]) -> bool {
        self.channels.get(channel).is_some_and(|s| s.contains(&client))
    }

    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.get(channel).map_or(0, |s| s.len())
    }

    /// Distinct patterns with subscribers on this thread, for PUBSUB NUMPAT.
    pub fn patterns(&self) -> Vec<Vec<u8>> {
        self.patterns.keys().cloned().collect()
    }

    /// Everything `client` is subscribed to on this thread, as (name, is a pattern):
    /// channels, patterns and shard channels. ACL SETUSER checks them when it narrows
    /// the client's user's channels (`cmd::acl`); rare, so a scan is fine.
    pub fn subscriptions_of(&self, client: u64) -> Vec<(&[u8], bool)> {
        let named = self.channels.iter().chain(&self.shard_channels).map(|(c, ids)| (c, ids, false));
        let patterns = self.patterns.iter().map(|(p, ids)| (p, ids, true));
        named.chain(patterns).filter(|(_, ids, _)| ids.contains(&client)).map(|(n, _, p)| (n.as_slice(), p)).collect()
    }

    /// A client went away: drop all its subscriptions.
    pub fn remove_client(&mut self, client: u64, channels: &HashSet<Vec<u8>>, patterns: &HashSet<Vec<u8>>) {
        for ch in channels {
            self.unsubscribe(client, ch);
        }
        for p in patterns {
            self.punsubscribe(client, p);
        }
    }
}

/// Removes `client` from `name`'s subscribers (and the name once nobody is left).
fn remove_from(map: &mut HashMap<Vec<u8>, HashSet<u64>>, client: u64, name: &[u8]) -> bool {
    let Some(set) = map.get_mut(name) else { return false };
    let removed = set.remove(&client);
    if set.is_empty() {
        map.remove(name);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_reaches_channel_and_pattern_subscribers() {
        let mut ps = PubSub::default();
        assert!(ps.subscribe(1, b"news"));
        assert!(!ps.subscribe(1, b"news"));
        assert!(ps.psubscribe(2, b"n*"));
        assert_eq!(ps.publish(b"news", b"hi", |_| Proto::Resp2), 2);
        assert_eq!(ps.pushes.len(), 2);
        assert_eq!(ps.pushes[0].1, b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n".to_vec());
        assert_eq!(ps.publish(b"other", b"x", |_| Proto::Resp3), 0);
        assert!(ps.unsubscribe(1, b"news"));
        assert!(ps.channels(None).is_empty());
        assert_eq!(ps.numsub(b"news"), 0);
    }
}
