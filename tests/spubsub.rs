//! Sharded Pub/Sub: confirmations and errors compared with a real redis-server in
//! RESP2 and RESP3, and SPUBLISH reaching subscribers connected to every shard.

use crate::common;

use common::compare::{Pair, real_redis};
use common::{Resp, SHARD_COUNTS, Server, wait_until};
use std::time::Duration;

#[test]
fn confirmations_and_introspection_match_redis() {
    let real = real_redis("spubsub");
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        for proto in [2u8, 3] {
            let mut p = Pair::new(&s, &real, proto);
            p.same(&["ssubscribe", "a", "b"]);
            p.same(&["subscribe", "c"]);
            p.same(&["ssubscribe", "a"]);
            if proto == 2 {
                p.same(&["get", "x"]);
            }
            let mut q = Pair::new(&s, &real, proto);
            p.same(&["ping"]);
            q.same_unordered(&["pubsub", "shardchannels"]);
            q.same_unordered(&["pubsub", "shardchannels", "a*"]);
            q.same(&["pubsub", "shardnumsub", "a", "b", "c"]);
            q.same(&["pubsub", "shardnumsub"]);
            q.same(&["pubsub", "shardchannels", "x", "y"]);
            q.same(&["pubsub", "help"]);
            q.same(&["publish", "a", "not-to-shard-subscribers"]);
            q.same(&["spublish", "a", "hello"]);
            // The delivery on the subscriber.
            assert_eq!(p.ours.read(), p.theirs.read());
            p.same(&["sunsubscribe", "a"]);
            p.same(&["sunsubscribe"]);
            p.same(&["unsubscribe"]);
            p.same(&["sunsubscribe"]);
            p.same(&["ping"]);
            q.same(&["pubsub", "shardnumsub", "a", "b"]);
        }
    }
}

#[test]
fn spublish_reaches_subscribers_on_every_shard() {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        // Enough connections that, with 4 shards, several threads own subscribers.
        let mut subs: Vec<common::Raw> = (0..8).map(|_| s.raw()).collect();
        for (i, c) in subs.iter_mut().enumerate() {
            if i % 2 == 1 {
                assert!(matches!(c.cmd(&["hello", "3"]), Resp::Map(_)));
            }
            let r = c.cmd(&["ssubscribe", "orders", &format!("own{i}")]);
            assert!(matches!(r, Resp::Array(_) | Resp::Push(_)), "{r:?}");
            let r = c.read();
            assert!(matches!(r, Resp::Array(_) | Resp::Push(_)), "{r:?}");
        }
        let mut publ = s.raw();
        assert!(wait_until(Duration::from_secs(10), || {
            publ.cmd(&["pubsub", "shardnumsub", "orders"]) == Resp::Array(vec![Resp::bulk("orders"), Resp::Int(8)])
        }));
        assert_eq!(publ.cmd(&["spublish", "orders", "42"]), Resp::Int(8));
        assert_eq!(publ.cmd(&["spublish", "own3", "x"]), Resp::Int(1));
        for (i, c) in subs.iter_mut().enumerate() {
            let msg = vec![Resp::bulk("smessage"), Resp::bulk("orders"), Resp::bulk("42")];
            let want = if i % 2 == 1 { Resp::Push(msg) } else { Resp::Array(msg) };
            assert_eq!(c.read(), want);
        }
        let own = vec![Resp::bulk("smessage"), Resp::bulk("own3"), Resp::bulk("x")];
        assert_eq!(subs[3].read(), Resp::Push(own));
        // A closed subscriber is forgotten everywhere.
        drop(subs.pop());
        assert!(wait_until(Duration::from_secs(10), || publ.cmd(&["spublish", "orders", "y"]) == Resp::Int(7)));
    }
}
