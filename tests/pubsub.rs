//! Pub/Sub against the real server: delivery across shard threads, patterns, RESP3
//! pushes and the subscribed-mode command restriction.

use crate::common;

use common::{Resp, SHARD_COUNTS, Server};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Reads one RESP value as raw text lines (enough for these flat replies).
fn read_reply(r: &mut BufReader<TcpStream>) -> Vec<String> {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end().to_string();
    match line.as_bytes()[0] {
        b'*' | b'>' => {
            let n: usize = line[1..].parse().unwrap();
            let mut items = vec![line.clone()];
            for _ in 0..n {
                items.extend(read_reply(r));
            }
            items
        }
        b'$' => {
            let n: i64 = line[1..].parse().unwrap();
            if n < 0 {
                return vec!["(nil)".into()];
            }
            let mut buf = vec![0u8; n as usize + 2];
            r.read_exact(&mut buf).unwrap();
            vec![String::from_utf8_lossy(&buf[..n as usize]).into_owned()]
        }
        _ => vec![line],
    }
}

#[test]
fn messages_reach_subscribers_on_every_shard() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        // Several subscribers so that, with SO_REUSEPORT, they land on different threads.
        let mut subs = Vec::new();
        for i in 0..6 {
            let mut t = s.tcp();
            if i % 2 == 0 {
                t.write_all(b"SUBSCRIBE chan other\r\n").unwrap();
            } else {
                t.write_all(b"PSUBSCRIBE ch*\r\n").unwrap();
            }
            let mut r = BufReader::new(t);
            let first = read_reply(&mut r);
            assert!(first[1] == "subscribe" || first[1] == "psubscribe", "{first:?}");
            if i % 2 == 0 {
                read_reply(&mut r);
            }
            subs.push((i, r));
        }
        let mut c = s.conn();
        let n: i64 = redis::cmd("PUBLISH").arg("chan").arg("hello").query(&mut c).unwrap();
        assert_eq!(n, 6, "{shards} shards");
        for (i, r) in subs.iter_mut() {
            let m = read_reply(r);
            if *i % 2 == 0 {
                assert_eq!(&m[1..], ["message", "chan", "hello"]);
            } else {
                assert_eq!(&m[1..], ["pmessage", "ch*", "chan", "hello"]);
            }
        }
        let numsub: Vec<redis::Value> = redis::cmd("PUBSUB").arg("NUMSUB").arg("chan").query(&mut c).unwrap();
        assert_eq!(numsub.len(), 2);
        let numpat: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut c).unwrap();
        assert_eq!(numpat, 1);
        // Subscribed RESP2 clients may only use pub/sub commands (and PING).
        let (_, r) = &mut subs[0];
        r.get_mut().write_all(b"GET x\r\nPING\r\n").unwrap();
        let e = read_reply(r);
        assert!(e[0].starts_with("-ERR Can't execute 'get'"), "{e:?}");
        assert_eq!(read_reply(r)[1..], ["pong", ""]);
        r.get_mut().write_all(b"UNSUBSCRIBE\r\n").unwrap();
        let u1 = read_reply(r);
        let u2 = read_reply(r);
        assert_eq!(u1[1], "unsubscribe");
        assert_eq!(u2.last().unwrap(), ":0");
        drop(subs);
        // Closed subscribers are forgotten.
        assert!(common::wait_until(std::time::Duration::from_secs(10), || {
            redis::cmd("PUBLISH").arg("chan").arg("x").query::<i64>(&mut c).unwrap() == 0
        }));
    }
}

#[test]
fn resp3_subscriber_gets_push_frames_and_can_run_commands() {
    let s = Server::start(2, &[]);
    let mut t = s.tcp();
    t.write_all(b"HELLO 3\r\n").unwrap();
    let mut r = BufReader::new(t);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with('%'), "{line}");
    for _ in 0..14 {
        let v = read_reply(&mut r);
        let _ = v;
    }
    r.get_mut().write_all(b"SUBSCRIBE n\r\n").unwrap();
    let conf = read_reply(&mut r);
    assert_eq!(conf[0], ">3");
    r.get_mut().write_all(b"SET k v\r\n").unwrap();
    assert_eq!(read_reply(&mut r), ["+OK"]);
    let mut c = s.conn();
    let _: i64 = redis::cmd("PUBLISH").arg("n").arg("m").query(&mut c).unwrap();
    assert_eq!(read_reply(&mut r), [">3", "message", "n", "m"]);
}

/// Redis 7.0 writes the message a RESP3 subscriber publishes to itself as it delivers
/// it: the push comes before PUBLISH's (and SPUBLISH's) integer, and inside EXEC's
/// array just before the command's own reply.
#[test]
fn resp3_self_publish_orders_push_and_reply_as_redis() {
    let real = common::compare::real_redis("selfpub");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut p = common::compare::Pair::new(&s, &real, 3);
        let next_frames_match = |p: &mut common::compare::Pair, n: usize| {
            for _ in 0..n {
                let (ours, theirs) = (p.ours.read(), p.theirs.read());
                assert_eq!(ours, theirs, "{shards} shard(s)");
            }
        };
        p.same(&["subscribe", "ch", "other"]);
        next_frames_match(&mut p, 1);
        p.same(&["ssubscribe", "sch"]);
        for (cmd, chan) in [("publish", "ch"), ("spublish", "sch"), ("publish", "other"), ("publish", "nobody")] {
            if chan == "nobody" {
                p.same(&[cmd, chan, "m"]);
                continue;
            }
            assert!(matches!(p.same(&[cmd, chan, "m"]), common::Resp::Push(_)), "{cmd}: the push first");
            next_frames_match(&mut p, 1);
        }
        p.same(&["multi"]);
        p.same(&["publish", "ch", "a"]);
        p.same(&["spublish", "sch", "b"]);
        p.same(&["publish", "nobody", "c"]);
        // EXEC's array header (3), then push, reply, push, reply, reply on the wire:
        // the parsed array holds the first push, its reply and the second push; two
        // frames follow.
        p.same(&["exec"]);
        next_frames_match(&mut p, 2);
        // Under CLIENT REPLY OFF the reply is dropped, the message still arrives.
        for c in [&mut p.ours, &mut p.theirs] {
            c.send(&common::encode_cmd(&["client", "reply", "off"]));
            c.send(&common::encode_cmd(&["publish", "ch", "quiet"]));
        }
        assert!(matches!(p.same(&["client", "reply", "on"]), common::Resp::Push(_)));
        next_frames_match(&mut p, 1);
        p.same(&["ping", "done"]);
    }
}

/// A replica's subscribers get what is published on its master (PUBLISH and SPUBLISH
/// travel down the replication stream in Redis 7.0), with a shardis master and a
/// redis-server one, and so do those of a replica of that replica (the stream is
/// forwarded as it came). shardis never sent them, so they got nothing.
#[test]
fn a_replicas_subscribers_get_the_masters_messages() {
    use common::repl::{Kind, Node, wait_in_sync};
    use std::time::Duration;
    for (master_kind, shards) in [(Kind::Redis, 1), (Kind::Shardis(1), 1), (Kind::Shardis(4), 4)] {
        let master = Node::start(master_kind, &[]);
        let replica = Node::start_replica_of(Kind::Shardis(shards), master.port, &[]);
        let chained = Node::start_replica_of(Kind::Shardis(shards), replica.port, &[]);
        wait_in_sync(&master, &replica, Duration::from_secs(20));
        wait_in_sync(&replica, &chained, Duration::from_secs(20));
        let mut subs: Vec<common::Raw> = [&replica, &chained]
            .iter()
            .map(|n| {
                let mut c = common::raw_to(n.port);
                c.cmd(&["subscribe", "news"]);
                c.cmd(&["ssubscribe", "shard-news"]);
                c
            })
            .collect();
        let mut m = common::raw_to(master.port);
        m.cmd(&["select", "3"]);
        m.cmd(&["publish", "news", "hello"]);
        m.cmd(&["set", "k", "v"]);
        m.cmd(&["spublish", "shard-news", "hi"]);
        m.cmd(&["multi"]);
        m.cmd(&["publish", "news", "in-multi"]);
        m.cmd(&["exec"]);
        for (i, c) in subs.iter_mut().enumerate() {
            let what = format!("{master_kind:?} master, {shards} shard(s), subscriber of replica {i}");
            let got: Vec<Resp> = (0..3).map(|_| c.read()).collect();
            let msg =
                |kind: &str, ch: &str, m: &str| Resp::Array(vec![Resp::bulk(kind), Resp::bulk(ch), Resp::bulk(m)]);
            assert_eq!(
                got,
                vec![
                    msg("message", "news", "hello"),
                    msg("smessage", "shard-news", "hi"),
                    msg("message", "news", "in-multi")
                ],
                "{what}"
            );
        }
    }
}

/// PUBLISH and SPUBLISH called by a script (EVAL and FCALL) reach every subscriber, on
/// any shard, and the script gets the receiver count, as with redis-server; shardis
/// refused them inside scripts. A replica's subscribers get the script's messages too
/// (they travel down the replication stream with the script's effects).
#[test]
fn a_scripts_publish_reaches_subscribers_as_in_redis() {
    use common::repl::{Kind, Node, wait_in_sync};
    use std::time::Duration;
    let lib = "#!lua name=publib\nredis.register_function('pub', function(keys, args) \
               return redis.call('publish', args[1], args[2]) end)";
    let run = |port: u16| -> Vec<Resp> {
        // Enough subscribers that, with several shards, they sit on several threads.
        let mut subs: Vec<common::Raw> = (0..6)
            .map(|i| {
                let mut c = common::raw_to(port);
                if i == 5 {
                    c.cmd(&["psubscribe", "n*"]);
                } else {
                    c.cmd(&["subscribe", "news"]);
                    c.cmd(&["ssubscribe", "snews"]);
                }
                c
            })
            .collect();
        let mut c = common::raw_to(port);
        let mut got = vec![
            c.cmd(&["eval", "return redis.call('publish', 'news', ARGV[1])", "0", "one"]),
            c.cmd(&[
                "eval",
                "redis.call('set', KEYS[1], 'v'); return redis.call('spublish', 'snews', 'two')",
                "1",
                "k",
            ]),
            c.cmd(&["function", "load", "replace", lib]),
            c.cmd(&["fcall", "pub", "0", "news", "three"]),
            c.cmd(&["eval", "return redis.call('publish', 'nobody', 'x')", "0"]),
        ];
        // Three messages each: the pattern's subscriber gets "nobody" and no smessage.
        for s in subs.iter_mut() {
            got.extend((0..3).map(|_| s.read()));
        }
        got
    };
    let real = Node::start(Kind::Redis, &[]);
    let want = run(real.port);
    assert_eq!(want[0], Resp::Int(6), "{want:?}");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        assert_eq!(run(s.port), want, "{shards} shard(s)");
    }
    // Through a replica, with several shards on both sides.
    let master = Node::start(Kind::Shardis(4), &[]);
    let replica = Node::start_replica_of(Kind::Shardis(4), master.port, &[]);
    wait_in_sync(&master, &replica, Duration::from_secs(20));
    let mut sub = common::raw_to(replica.port);
    sub.cmd(&["subscribe", "news"]);
    let mut m = common::raw_to(master.port);
    m.cmd(&["eval", "redis.call('set', KEYS[1], 'v'); return redis.call('publish', 'news', 'via-replica')", "1", "k"]);
    assert_eq!(sub.read(), Resp::Array(vec![Resp::bulk("message"), Resp::bulk("news"), Resp::bulk("via-replica")]));
}
