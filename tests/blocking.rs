//! Blocking pops against the real server: woken by a push from another connection
//! (and so usually another shard thread), timeouts, and a client that disconnects
//! while blocked losing nothing.

use crate::common;

use common::{SHARD_COUNTS, Server, wait_until};
use std::time::{Duration, Instant};

fn blocked_clients(c: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("blocked_clients field")
}

#[test]
fn blpop_is_woken_by_a_push_from_another_client() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let url = s.url();
        let waiter = std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            redis::cmd("BLPOP").arg("jobs").arg("other").arg(30).query::<(String, String)>(&mut c).unwrap()
        });
        let mut c = s.conn();
        assert!(wait_until(Duration::from_secs(20), || blocked_clients(&mut c) == 1), "client never blocked");
        let _: i64 = redis::cmd("RPUSH").arg("jobs").arg("job-1").query(&mut c).unwrap();
        assert_eq!(waiter.join().unwrap(), ("jobs".to_string(), "job-1".to_string()), "{shards} shards");
        let len: i64 = redis::cmd("LLEN").arg("jobs").query(&mut c).unwrap();
        assert_eq!(len, 0);
    }
}

#[test]
fn timeout_returns_nil_after_roughly_the_timeout() {
    let s = Server::start(2, &[]);
    let mut c = s.conn();
    let t = Instant::now();
    let r: Option<(String, String)> = redis::cmd("BRPOP").arg("nothing").arg(0.2).query(&mut c).unwrap();
    assert_eq!(r, None);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(190), "returned early: {took:?}");
    assert!(took < Duration::from_secs(10), "took too long: {took:?}");
}

#[test]
fn a_client_that_disconnects_while_blocked_takes_nothing() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut c = s.conn();
        {
            use std::io::Write;
            let mut raw = s.tcp();
            raw.write_all(b"BLPOP gone 0\r\n").unwrap();
            assert!(wait_until(Duration::from_secs(20), || blocked_clients(&mut c) == 1));
        }
        assert!(wait_until(Duration::from_secs(20), || blocked_clients(&mut c) == 0), "waiter not withdrawn");
        let _: i64 = redis::cmd("RPUSH").arg("gone").arg("kept").query(&mut c).unwrap();
        let v: Vec<String> = redis::cmd("LRANGE").arg("gone").arg(0).arg(-1).query(&mut c).unwrap();
        assert_eq!(v, vec!["kept".to_string()]);
    }
}

#[test]
fn bzpopmin_is_woken_by_zadd_on_another_shard() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let url = s.url();
        // Two keys that usually hash to different shards: the waiter watches both.
        let waiter = std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            redis::cmd("BZPOPMIN").arg("zq-a").arg("zq-b").arg(30).query::<(String, String, f64)>(&mut c).unwrap()
        });
        let mut c = s.conn();
        assert!(wait_until(Duration::from_secs(20), || blocked_clients(&mut c) == 1), "client never blocked");
        let _: i64 = redis::cmd("ZADD").arg("zq-b").arg(2).arg("two").arg(1.5).arg("one").query(&mut c).unwrap();
        assert_eq!(waiter.join().unwrap(), ("zq-b".to_string(), "one".to_string(), 1.5), "{shards} shards");
        let left: Vec<String> = redis::cmd("ZRANGE").arg("zq-b").arg(0).arg(-1).query(&mut c).unwrap();
        assert_eq!(left, vec!["two".to_string()]);
    }
}
