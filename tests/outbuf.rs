//! Client output limits and client memory: `client-output-buffer-limit` for Pub/Sub
//! subscribers and normal clients that never read (hard and soft limits), bounded
//! reading of a client that pipelines without reading, and CLIENT LIST's fields
//! compared with what redis-server 7.0 reports for the same client states.

use crate::common;
use common::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn info(s: &Server, section: &str) -> HashMap<String, String> {
    let Resp::Bulk(b) = s.raw().cmd(&["INFO", section]) else { panic!("INFO") };
    String::from_utf8(b)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.to_string(), v.trim().to_string())))
        .collect()
}

fn disconnections(s: &Server) -> u64 {
    info(s, "stats")["client_output_buffer_limit_disconnections"].parse().unwrap()
}

/// VmRSS of `pid` in bytes.
fn rss(pid: u32) -> u64 {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = st
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// A connection that subscribes to `channel` under `name` and then never reads again.
fn silent_subscriber(s: &Server, name: &str, channel: &str) -> Raw {
    let mut sub = s.raw();
    assert_eq!(sub.cmd(&["CLIENT", "SETNAME", name]), Resp::simple("OK"));
    sub.send(&encode_cmd(&["SUBSCRIBE", channel]));
    assert_eq!(sub.read(), Resp::Array(vec![Resp::bulk("subscribe"), Resp::bulk(channel), Resp::Int(1)]));
    sub
}

/// Reads until the server closes `sub` (it may first deliver what the kernel buffered).
fn wait_closed(sub: &mut Raw) {
    sub.w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match sub.w.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the server never closed the client: {e}"),
        }
    }
}

/// A subscriber that never reads is closed at the pubsub hard limit, with Redis's log
/// line and the INFO counter; publishers keep being served throughout, and the
/// server's memory does not follow the published volume.
#[test]
fn silent_subscriber_is_closed_at_the_pubsub_hard_limit() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &["--client-output-buffer-limit", "pubsub 2mb 0 0"]);
        let pid = s.pid();
        let mut sub = silent_subscriber(&s, "silent", "news");
        let rss_before = rss(pid);
        let mut publisher = s.raw();
        let msg = vec![b'm'; 16 << 10];
        let mut batch = Vec::new();
        for _ in 0..64 {
            encode_cmd_into(&mut batch, &[&b"PUBLISH"[..], b"news", &msg]);
        }
        // 128 MB in all, 64 times the limit.
        let mut receivers = Vec::new();
        let mut peak = rss_before;
        for _ in 0..128 {
            publisher.send(&batch);
            for _ in 0..64 {
                match publisher.read() {
                    Resp::Int(n) => receivers.push(n),
                    other => panic!("PUBLISH: {other:?}"),
                }
            }
            peak = peak.max(rss(pid));
        }
        assert_eq!(receivers[0], 1, "the subscriber got the first message");
        assert_eq!(*receivers.last().unwrap(), 0, "the subscriber was closed: {:?}", &receivers[receivers.len() - 5..]);
        assert_eq!(disconnections(&s), 1);
        assert!(
            wait_until(Duration::from_secs(10), || s
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("scheduled to be closed ASAP for overcoming of output buffer limits.")
                    && l.contains(" name=silent ")
                    && l.contains(" flags=P "))),
            "no log line: {:?}",
            s.log.lock().unwrap()
        );
        wait_closed(&mut sub);
        // Each shard thread's allocator keeps some of what the traffic used (about
        // 16 MB with 4 shards and no subscriber at all), but nothing like the volume.
        assert!(
            peak < rss_before + (48 << 20),
            "{shards} shards: RSS grew from {rss_before} to {peak} while publishing 128 MB"
        );
        assert_eq!(publisher.cmd(&["PING"]), Resp::simple("PONG"));
    }
}

/// A normal client pipelining large replies without reading is closed at the normal
/// hard limit set at run time; other clients keep being served and memory stays flat.
#[test]
fn normal_client_not_reading_large_replies_is_closed_at_the_hard_limit() {
    for shards in SHARD_COUNTS {
        normal_client_hard_limit(shards);
    }
}

fn normal_client_hard_limit(shards: usize) {
    let s = Server::start(shards, &[]);
    let pid = s.pid();
    let mut admin = s.raw();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "normal 4mb 0 0"]), Resp::simple("OK"));
    let Resp::Array(got) = admin.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]) else { panic!() };
    assert_eq!(got[1], Resp::bulk("normal 4194304 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"));
    let big = vec![b'v'; 256 << 10];
    assert_eq!(admin.cmd(&[&b"SET"[..], b"big", &big]), Resp::simple("OK"));
    let rss_before = rss(pid);

    let mut hog = s.raw();
    assert_eq!(hog.cmd(&["CLIENT", "SETNAME", "hog"]), Resp::simple("OK"));
    let mut pipeline = Vec::new();
    for _ in 0..400 {
        encode_cmd_into(&mut pipeline, &["GET", "big"]);
    }
    // 100 MB of replies asked for; the requests themselves are small.
    hog.send(&pipeline);
    assert!(wait_until(Duration::from_secs(20), || disconnections(&s) == 1), "the hog was never closed");
    assert!(client_fields(&mut admin, "hog").is_none());
    assert_eq!(admin.cmd(&["GET", "big"]), Resp::Bulk(big));
    wait_closed(&mut hog);
    let after = rss(pid);
    assert!(after < rss_before + (32 << 20), "{shards} shards: RSS {rss_before} -> {after}");
    // The log reaches us through a pipe read by another thread: wait for the line.
    assert!(
        wait_until(Duration::from_secs(10), || s
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("for overcoming of output buffer limits.") && l.contains(" name=hog "))),
        "no log line: {:?}",
        s.log.lock().unwrap().clone()
    );
}

/// Over the soft limit, a client is closed only once it has stayed there for the soft
/// seconds, and then even if no more output comes (the cron checks it).
#[test]
fn soft_limit_closes_after_its_seconds() {
    let s = Server::start(1, &["--client-output-buffer-limit", "pubsub 0 512kb 1"]);
    let mut sub = silent_subscriber(&s, "slow", "feed");
    let mut publisher = s.raw();
    let msg = vec![b'x'; 64 << 10];
    let started = Instant::now();
    // 8 MB: well past the soft limit and any kernel buffering, then silence.
    for _ in 0..128 {
        assert!(matches!(publisher.cmd(&[&b"PUBLISH"[..], b"feed", &msg]), Resp::Int(_)));
    }
    assert!(wait_until(Duration::from_secs(15), || disconnections(&s) == 1), "never closed by the soft limit");
    let closed_after = started.elapsed();
    assert!(closed_after >= Duration::from_secs(1), "closed after {closed_after:?}, before the soft seconds");
    wait_closed(&mut sub);
}

/// A client that pipelines requests without reading their replies stops being read
/// once its output is backlogged: its writes block (TCP pushes back) instead of the
/// server buffering its requests, with no output limit configured at all.
#[test]
fn pipelining_without_reading_is_bounded_by_tcp() {
    let s = Server::start(1, &[]);
    let pid = s.pid();
    let mut admin = s.raw();
    let val = vec![b'v'; 64 << 10];
    assert_eq!(admin.cmd(&[&b"SET"[..], b"v", &val]), Resp::simple("OK"));
    let rss_before = rss(pid);
    let stream = s.tcp();
    stream.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut req = Vec::new();
    for _ in 0..2_000_000 {
        encode_cmd_into(&mut req, &["GET", "v"]);
    }
    // 44 MB of requests for 128 GB of replies: the writer must get stuck.
    let mut w = stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut sent = 0;
        for chunk in req.chunks(1 << 16) {
            match w.write_all(chunk) {
                Ok(()) => sent += chunk.len(),
                Err(_) => return (sent, true),
            }
        }
        (sent, false)
    });
    let (sent, blocked) = writer.join().unwrap();
    assert!(blocked, "all {sent} bytes of requests were taken");
    let after = rss(pid);
    assert!(after < rss_before + (40 << 20), "RSS {rss_before} -> {after} after {sent} bytes of requests");
    assert_eq!(admin.cmd(&["PING"]), Resp::simple("PONG"));
    drop(stream);
}

/// CLIENT LIST shows the same sub, psub, multi, flags, cmd and output fields as
/// redis-server 7.0 for a subscriber, a client inside MULTI and a blocked client.
#[test]
fn client_list_fields_match_redis() {
    let dir = temp_dir("clientlist");
    let redis = RealRedis::start(&dir);
    let s = Server::start(2, &[]);
    let (ours, _keep) = states(|| s.raw());
    let (theirs, _keep_theirs) = states(|| {
        let st = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
        st.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Raw { w: st.try_clone().unwrap(), r: RespReader::new(st) }
    });
    for (name, fields) in &theirs {
        for key in ["flags", "sub", "psub", "multi", "cmd", "db", "obl", "oll", "omem", "qbuf"] {
            assert_eq!(ours[name].get(key), fields.get(key), "{name}: {key} (ours {:?})", ours[name]);
        }
    }
    // CLIENT KILL TYPE pubsub closes the subscriber only.
    let mut admin = s.raw();
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]), Resp::Int(1));
    assert!(wait_until(Duration::from_secs(10), || client_fields(&mut admin, "sub").is_none()));
    assert!(client_fields(&mut admin, "tx").is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Puts clients in known states on a server, and returns their CLIENT LIST fields.
/// The connections are returned too, to stay open while the caller looks.
fn states(connect: impl Fn() -> Raw) -> (HashMap<String, HashMap<String, String>>, Vec<Raw>) {
    let mut sub = connect();
    assert_eq!(sub.cmd(&["CLIENT", "SETNAME", "sub"]), Resp::simple("OK"));
    sub.send(&encode_cmd(&["SUBSCRIBE", "a", "b"]));
    sub.read();
    sub.read();
    assert!(matches!(sub.cmd(&["PSUBSCRIBE", "p*"]), Resp::Array(_)));
    let mut tx = connect();
    assert_eq!(tx.cmd(&["CLIENT", "SETNAME", "tx"]), Resp::simple("OK"));
    assert_eq!(tx.cmd(&["SELECT", "3"]), Resp::simple("OK"));
    assert_eq!(tx.cmd(&["MULTI"]), Resp::simple("OK"));
    assert_eq!(tx.cmd(&["SET", "x", "1"]), Resp::simple("QUEUED"));
    assert_eq!(tx.cmd(&["GET", "x"]), Resp::simple("QUEUED"));
    let mut blocked = connect();
    assert_eq!(blocked.cmd(&["CLIENT", "SETNAME", "blocked"]), Resp::simple("OK"));
    blocked.send(&encode_cmd(&["BLPOP", "nothing", "0"]));
    let mut plain = connect();
    assert_eq!(plain.cmd(&["CLIENT", "SETNAME", "plain"]), Resp::simple("OK"));
    assert_eq!(plain.cmd(&["GET", "y"]), Resp::NilBulk);
    let mut admin = connect();
    let mut out = HashMap::new();
    assert!(wait_until(Duration::from_secs(10), || {
        client_fields(&mut admin, "blocked").is_some_and(|f| f["flags"].contains('b'))
    }));
    for name in ["sub", "tx", "blocked", "plain"] {
        out.insert(name.to_string(), client_fields(&mut admin, name).unwrap());
    }
    (out, vec![sub, tx, blocked, plain, admin])
}
