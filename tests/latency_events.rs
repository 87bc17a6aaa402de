//! LATENCY events of the append-only file, checked against redis-server 7.0.15: the
//! same write produces the same event names.
//!
//! Only writes are tested here: a 32 MiB AOF write (and its fsync under `always`)
//! takes well over the 1 ms threshold on any machine. `fork`, `aof-rename`,
//! `aof-fstat` and `expire-del` are recorded too, but how long they take depends on
//! the machine (a fork of a small process, a delete of a compact value can take
//! under 1 ms), so a test of them could not be relied on.

use crate::common;

use common::*;
use std::time::Duration;

fn raw_at(port: u16) -> Raw {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let r = s.try_clone().expect("clone socket");
    Raw { w: s, r: RespReader::new(r) }
}

/// The names of the events LATENCY LATEST reports that start with `prefix`, sorted.
fn latest(c: &mut Raw, prefix: &str) -> Vec<String> {
    let Resp::Array(events) = c.cmd(&["latency", "latest"]) else { panic!("LATENCY LATEST") };
    let mut names: Vec<String> = events
        .into_iter()
        .filter_map(|e| match e {
            Resp::Array(mut fields) if !fields.is_empty() => match fields.swap_remove(0) {
                Resp::Bulk(b) => Some(String::from_utf8(b).unwrap()),
                _ => None,
            },
            _ => None,
        })
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Writes a 32 MiB value and returns the `aof-` events it left, once `aof-write` is
/// there (ours arrive when the ring's write completes).
fn big_write_events(port: u16) -> Vec<String> {
    let mut c = raw_at(port);
    let value = "x".repeat(32 << 20);
    assert_eq!(c.cmd(&["set", "big", &value]), Resp::simple("OK"));
    assert!(
        wait_until(Duration::from_secs(20), || latest(&mut c, "aof-").contains(&"aof-write".to_string())),
        "no aof-write event"
    );
    // `aof-fstat` times a stat call, which can pass 1 ms on a loaded machine on either
    // server, so it is left out of the comparison (see the module's comment).
    let names: Vec<String> = latest(&mut c, "aof-").into_iter().filter(|n| n != "aof-fstat").collect();
    // RESET forgets them, and counts each name once however many shards saw it.
    let Resp::Int(n) = c.cmd(&["latency", "reset"]) else { panic!("LATENCY RESET") };
    assert!(n >= names.len() as i64, "LATENCY RESET counted {n} events, LATEST showed {names:?}");
    assert_eq!(c.cmd(&["latency", "history", "aof-write"]), Resp::Array(vec![]));
    names
}

#[test]
fn aof_write_events_match_redis() {
    for fsync in ["always", "everysec"] {
        let args = ["--appendonly", "yes", "--appendfsync", fsync, "--latency-monitor-threshold", "1"];
        let dir = temp_dir("latency-redis");
        let dir_arg = ["--dir", dir.to_str().unwrap()];
        let ready = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        let (mut child, port) =
            spawn_redis_server(&[&args[..], &dir_arg[..]].concat(), ready).expect("redis-server starts");
        let want = big_write_events(port);
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(want.contains(&"aof-write-alone".to_string()), "redis-server: {want:?}");
        for n in SHARD_COUNTS {
            let srv = Server::start(n, &args);
            assert_eq!(big_write_events(srv.port), want, "appendfsync {fsync}, {n} shards");
        }
    }
}
