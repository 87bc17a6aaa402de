//! The idle `timeout`: a silent client is closed, but Pub/Sub subscribers (RESP2 and
//! RESP3) and blocked clients are not, as in Redis 7.0's `clientsCronHandleTimeout`.
//! The exempt clients go idle *before* the normal ones, so by the time the last normal
//! client is closed, they have been idle longer and were examined by the same cron.

use crate::common;
use common::*;
use std::time::Duration;

/// Waits (up to `deadline`) until the server closes `c`'s socket.
fn wait_closed(c: &mut Raw, deadline: Duration) {
    c.r.get_mut().set_read_timeout(Some(deadline)).unwrap();
    c.r.expect_closed();
}

fn timeout_spares_subscribers_and_blocked_clients(shards: usize) {
    let s = Server::start(shards, &["--timeout", "1", "--hz", "50"]);

    let mut sub2 = s.raw();
    assert_eq!(
        sub2.cmd(&["SUBSCRIBE", "news"]),
        Resp::Array(vec![Resp::bulk("subscribe"), Resp::bulk("news"), Resp::Int(1)])
    );
    let mut psub2 = s.raw();
    assert_eq!(
        psub2.cmd(&["PSUBSCRIBE", "n*"]),
        Resp::Array(vec![Resp::bulk("psubscribe"), Resp::bulk("n*"), Resp::Int(1)])
    );
    let mut sub3 = s.raw();
    assert!(matches!(sub3.cmd(&["HELLO", "3"]), Resp::Map(_)));
    assert_eq!(
        sub3.cmd(&["SUBSCRIBE", "news"]),
        Resp::Push(vec![Resp::bulk("subscribe"), Resp::bulk("news"), Resp::Int(1)])
    );
    // Blocked forever, and blocked with a timeout longer than the idle timeout.
    let mut blocked = s.raw();
    blocked.send(&encode_cmd(&["BLPOP", "{q}forever", "0"]));
    let mut blocked_long = s.raw();
    blocked_long.send(&encode_cmd(&["BLPOP", "{q}long", "60"]));
    assert!(wait_until(Duration::from_secs(10), || {
        // A fresh connection each time: a polling one must not be the idle one.
        match s.raw().cmd(&["INFO", "clients"]) {
            Resp::Bulk(b) => String::from_utf8_lossy(&b).contains("blocked_clients:2"),
            _ => false,
        }
    }));

    // Normal idle clients, opened after the exempt ones went quiet (several, so that
    // with several shards most threads have one).
    let mut normal: Vec<Raw> = (0..8).map(|_| s.raw()).collect();
    for c in &mut normal {
        assert_eq!(c.cmd(&["PING"]), Resp::simple("PONG"));
    }
    for c in &mut normal {
        wait_closed(c, Duration::from_secs(20));
    }

    let mut admin = s.raw();
    assert_eq!(admin.cmd(&["PUBLISH", "news", "hello"]), Resp::Int(3));
    let msg = |kind: &str| vec![Resp::bulk(kind), Resp::bulk("news"), Resp::bulk("hello")];
    assert_eq!(sub2.read(), Resp::Array(msg("message")));
    assert_eq!(
        psub2.read(),
        Resp::Array(vec![Resp::bulk("pmessage"), Resp::bulk("n*"), Resp::bulk("news"), Resp::bulk("hello")])
    );
    assert_eq!(sub3.read(), Resp::Push(msg("message")));

    assert_eq!(admin.cmd(&["RPUSH", "{q}forever", "a"]), Resp::Int(1));
    assert_eq!(blocked.read(), Resp::Array(vec![Resp::bulk("{q}forever"), Resp::bulk("a")]));
    assert_eq!(admin.cmd(&["RPUSH", "{q}long", "b"]), Resp::Int(1));
    assert_eq!(blocked_long.read(), Resp::Array(vec![Resp::bulk("{q}long"), Resp::bulk("b")]));

    // Once unsubscribed, a client is an ordinary one again and times out.
    assert_eq!(
        sub2.cmd(&["UNSUBSCRIBE"]),
        Resp::Array(vec![Resp::bulk("unsubscribe"), Resp::bulk("news"), Resp::Int(0)])
    );
    wait_closed(&mut sub2, Duration::from_secs(20));
    // So does a blocked client once served.
    wait_closed(&mut blocked, Duration::from_secs(20));
}

#[test]
fn timeout_spares_subscribers_and_blocked_clients_one_shard() {
    timeout_spares_subscribers_and_blocked_clients(1);
}

#[test]
fn timeout_spares_subscribers_and_blocked_clients_four_shards() {
    timeout_spares_subscribers_and_blocked_clients(4);
}
