//! Pub/Sub subscriptions of one thread's connections.
//!
//! Each thread knows only its own subscribers; PUBLISH fans out to every thread, which
//! encodes the message for each local subscriber (RESP2 array or RESP3 push) and
//! queues it in `pushes` for the connection layer to append to that client's output.

use crate::resp::{Proto, ReplyWriter};
use crate::util::glob::glob_match;
use std::collections::{HashMap, HashSet};

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
}

impl PubSub {
    /// Returns true if the client was not yet subscribed to `ch`.
    pub fn subscribe(&mut self, client: u64, ch: &[u8]) -> bool {
        self.channels.entry(ch.to_vec()).or_default().insert(client)
    }

    pub fn unsubscribe(&mut self, client: u64, ch: &[u8]) -> bool {
        let Some(set) = self.channels.get_mut(ch) else { return false };
        let removed = set.remove(&client);
        if set.is_empty() {
            self.channels.remove(ch);
        }
        removed
    }

    pub fn psubscribe(&mut self, client: u64, pat: &[u8]) -> bool {
        self.patterns.entry(pat.to_vec()).or_default().insert(client)
    }

    pub fn punsubscribe(&mut self, client: u64, pat: &[u8]) -> bool {
        let Some(set) = self.patterns.get_mut(pat) else { return false };
        let removed = set.remove(&client);
        if set.is_empty() {
            self.patterns.remove(pat);
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
        self.shard_channels.entry(ch.to_vec()).or_default().insert(client)
    }

    pub fn sunsubscribe(&mut self, client: u64, ch: &[u8]) -> bool {
        let Some(set) = self.shard_channels.get_mut(ch) else { return false };
        let removed = set.remove(&client);
        if set.is_empty() {
            self.shard_channels.remove(ch);
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
