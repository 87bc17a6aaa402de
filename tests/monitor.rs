//! MONITOR: Redis's line format, commands inside MULTI/EXEC, redactions, admin
//! commands hidden, commands run on other shards, RESET ending it. The lines of the
//! same exchange on redis-server and shardis (1 and 4 shards) must match once the
//! timestamps and client ports are blanked.

use crate::common;

use common::*;
use std::time::Duration;

fn raw_at(port: u16) -> Raw {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = s.try_clone().expect("clone socket");
    Raw { w: s, r: RespReader::new(r) }
}

/// `+1733400000.123456 [0 127.0.0.1:5000] "get" "k"` -> `[0 client] "get" "k"`, after
/// checking the timestamp's shape.
fn blank(line: &str) -> String {
    let (ts, rest) = line.split_once(' ').expect("timestamp");
    let (secs, micros) = ts.split_once('.').expect("secs.micros");
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6 && micros.parse::<u32>().is_ok(), "{line}");
    let (src, args) = rest.split_once("] ").expect("source");
    let db = src.trim_start_matches('[').split(' ').next().unwrap();
    format!("[{db} client] {args}")
}

/// Reads monitor lines until `last` (blanked) arrives.
fn lines_until(m: &mut Raw, last: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let Resp::Simple(line) = m.read() else { panic!("monitor lines are status replies") };
        let b = blank(&line);
        got.push(b.clone());
        if b == last {
            return got;
        }
    }
}

fn transcript(port: u16) -> Vec<String> {
    let mut m = raw_at(port);
    assert_eq!(m.cmd(&["monitor"]), Resp::simple("OK"));
    let mut c = raw_at(port);
    let mut out = Vec::new();
    c.cmd(&["set", "k1", "v"]);
    c.cmd(&["mget", "k1", "k2", "k3"]);
    c.cmd(&["multi"]);
    c.cmd(&["set", "k2", "a\"b\n\x01"]);
    c.cmd(&["incr", "k3"]);
    c.cmd(&["exec"]);
    c.cmd(&["config", "get", "port"]);
    c.cmd(&["auth", "secret"]);
    c.cmd(&["select", "2"]);
    c.cmd(&["nosuchcommand"]);
    c.cmd(&["get"]);
    c.cmd(&["echo", "end"]);
    out.extend(lines_until(&mut m, "[2 client] \"echo\" \"end\""));
    // A second client's commands on every shard reach the same monitor.
    let mut d = raw_at(port);
    for k in ["a", "b", "c", "d", "e"] {
        d.cmd(&["del", k]);
    }
    d.cmd(&["echo", "end2"]);
    out.extend(lines_until(&mut m, "[0 client] \"echo\" \"end2\""));
    // RESET ends monitoring: the monitor's own PING gets its reply, not a line.
    assert_eq!(m.cmd(&["reset"]), Resp::simple("RESET"));
    c.cmd(&["echo", "unseen"]);
    assert_eq!(m.cmd(&["ping"]), Resp::simple("PONG"));
    out
}

#[test]
fn monitor_lines_match_redis() {
    let real = RealRedis::start(&temp_dir("redis"));
    let want = transcript(real.port);
    assert!(want.contains(&"[0 client] \"exec\"".to_string()), "{want:?}");
    for n in SHARD_COUNTS {
        let srv = Server::start(n, &[]);
        assert_eq!(transcript(srv.port), want, "shardis with {n} shards differs from redis-server");
    }
}

#[test]
fn monitor_on_each_shard_sees_commands_of_all_shards_and_is_flagged() {
    let srv = Server::start(4, &[]);
    // Connections land on shards by the kernel's choice: several monitors make it
    // likely that they sit on different shards, and each must see every command.
    let mut monitors: Vec<Raw> = (0..6).map(|_| raw_at(srv.port)).collect();
    for m in &mut monitors {
        assert_eq!(m.cmd(&["monitor"]), Resp::simple("OK"));
    }
    let mut c = raw_at(srv.port);
    let Resp::Bulk(list) = c.cmd(&["client", "list"]) else { panic!("CLIENT LIST") };
    let list = String::from_utf8(list).unwrap();
    assert_eq!(list.lines().filter(|l| l.contains(" flags=O ")).count(), 6, "{list}");
    for i in 0..20 {
        c.cmd(&["set", &format!("key{i}"), "v"]);
    }
    for m in &mut monitors {
        let lines = lines_until(m, "[0 client] \"set\" \"key19\" \"v\"");
        assert_eq!(lines.len(), 21, "the CLIENT LIST and all 20 SETs: {lines:?}");
    }
}
