//! A busy script and the ways a server stops or reports it, compared with
//! redis-server 7.0: a client that had sent half a command before the script gets
//! `-BUSY` once the rest arrives, FUNCTION STATS names the busy function (and refuses
//! while an EVAL script is busy), SIGTERM waits for the script as Redis's cron does (SHUTDOWN
//! ABORT forgets it, SCRIPT KILL lets it proceed), on 1 shard (the busy thread's door
//! answers) and 3 (the script on a shard other than shard 0, which handles signals).

use crate::common;

use common::repl::{Kind, Node};
use common::{Resp, raw_to, wait_until};
use std::time::Duration;

const LOOP_LIB: &str = "#!lua name=loops\nredis.register_function('spin', function() while true do end end)";

/// A new connection's PING once the server says BUSY (each try a new connection: one
/// the busy shard took in before the threshold waits for the script).
fn wait_busy(port: u16) -> String {
    let mut last = None;
    let busy = wait_until(Duration::from_secs(20), || {
        let mut c = raw_to(port);
        c.w.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        c.send(&common::encode_cmd(&["ping"]));
        match c.r.read() {
            Ok(Resp::Error(e)) => {
                last = Some(e);
                true
            }
            _ => false,
        }
    });
    assert!(busy, "the server never said BUSY");
    last.unwrap()
}

/// The key every script is routed by, the same for every server (replies name it): on
/// shard 1 of 3, so with 3 shards the busy thread is not shard 0 (with one shard, shard
/// 0 is the only one).
fn key_off_shard_zero() -> String {
    (0..100).map(|i| format!("k{i}")).find(|k| shardis::util::hash::shard_of(k.as_bytes(), 3) == 1).unwrap()
}

fn kinds() -> Vec<Kind> {
    vec![Kind::Redis, Kind::Shardis(1), Kind::Shardis(3)]
}

/// FUNCTION STATS with the duration blanked (it is a time).
fn stats_shape(r: Resp) -> Resp {
    let Resp::Array(mut top) = r else { return r };
    if let Some(Resp::Array(running)) = top.get_mut(1)
        && let Some(d) = running.iter().position(|e| *e == Resp::bulk("duration_ms"))
    {
        assert!(matches!(running[d + 1], Resp::Int(n) if n >= 0), "duration_ms: {:?}", running[d + 1]);
        running[d + 1] = Resp::Int(0);
    }
    Resp::Array(top)
}

fn function_stats_scenario(kind: Kind) -> Vec<Resp> {
    let node = Node::start(kind, &["--busy-reply-threshold", "50"]);
    let key = key_off_shard_zero();
    let mut setup = raw_to(node.port);
    setup.cmd(&["function", "load", LOOP_LIB]);
    // Connected and served before the script: answered while idle (the busy door).
    let mut idle = raw_to(node.port);
    assert_eq!(idle.cmd(&["ping"]), Resp::simple("PONG"));
    let mut got = vec![stats_shape(setup.cmd(&["function", "stats"]))];
    let mut a = raw_to(node.port);
    a.send(&common::encode_cmd(&["fcall", "spin", "1", &key]));
    wait_busy(node.port);
    for _ in 0..3 {
        got.push(stats_shape(raw_to(node.port).cmd(&["function", "stats"])));
    }
    got.push(stats_shape(idle.cmd(&["function", "stats"])));
    got.push(raw_to(node.port).cmd(&["function", "kill"]));
    got.push(a.read());
    // An EVAL script: FUNCTION STATS is refused, as in Redis.
    a.send(&common::encode_cmd(&["eval", "while true do end", "1", &key]));
    wait_busy(node.port);
    got.push(raw_to(node.port).cmd(&["function", "stats"]));
    got.push(idle.cmd(&["function", "stats"]));
    got.push(raw_to(node.port).cmd(&["script", "kill"]));
    let killed = a.read();
    assert!(matches!(&killed, Resp::Error(e) if e.starts_with("ERR Script killed by user")), "{killed:?}");
    got.push(stats_shape(idle.cmd(&["function", "stats"])));
    got
}

#[test]
fn function_stats_while_busy_as_redis() {
    let mut all = kinds().into_iter().map(|k| (k, function_stats_scenario(k)));
    let (_, want) = all.next().unwrap();
    // Redis's own answer names the busy function (`running_script`'s `name`).
    let running = match &want[1] {
        Resp::Array(top) if top.first() == Some(&Resp::bulk("running_script")) => top.get(1),
        _ => None,
    };
    let named = |w: &[Resp]| w[0] == Resp::bulk("name") && w[1] == Resp::bulk("spin");
    assert!(matches!(running, Some(Resp::Array(r)) if r.windows(2).any(named)), "{:?}", want[1]);
    for (kind, got) in all {
        assert_eq!(got, want, "{kind:?}");
    }
}

/// SIGTERM while a script is busy: the server waits for it (Redis runs the shutdown in
/// its cron, which a script holds off), SHUTDOWN ABORT forgets the signal, and after
/// a second SIGTERM, SCRIPT KILL ends the script and the server exits cleanly.
fn sigterm_scenario(kind: Kind) -> Vec<String> {
    let mut node = Node::start(kind, &["--busy-reply-threshold", "50"]);
    let key = key_off_shard_zero();
    let mut a = raw_to(node.port);
    a.send(&common::encode_cmd(&["eval", "while true do end", "1", &key]));
    let mut got = vec![wait_busy(node.port)];
    node.signal("TERM");
    assert!(wait_until(Duration::from_secs(10), || node.logged("Received SIGTERM scheduling shutdown")));
    // Still up and busy: the shutdown waits for the script.
    got.push(wait_busy(node.port));
    let mut k = raw_to(node.port);
    got.push(format!("{:?}", k.cmd(&["shutdown", "abort"])));
    got.push(format!("{:?}", k.cmd(&["shutdown", "abort"])));
    got.push(format!("{:?}", k.cmd(&["shutdown"])));
    assert!(wait_until(Duration::from_secs(10), || node.logged("Shutdown manually aborted.")));
    // The aborted signal is forgotten: once the script is killed, the server stays.
    got.push(format!("{:?}", k.cmd(&["script", "kill"])));
    let killed = a.read();
    assert!(matches!(&killed, Resp::Error(e) if e.starts_with("ERR Script killed by user")), "{killed:?}");
    got.push(format!("{:?}", raw_to(node.port).cmd(&["ping"])));
    assert!(node.is_running(), "{kind:?}: an aborted SIGTERM ended the server");
    // Again, without the abort: SCRIPT KILL ends the script, then the server exits.
    a.send(&common::encode_cmd(&["eval", "while true do end", "1", &key]));
    got.push(wait_busy(node.port));
    node.signal("TERM");
    assert!(wait_until(Duration::from_secs(10), || {
        node.log().iter().filter(|l| l.contains("Received SIGTERM scheduling shutdown")).count() == 2
    }));
    got.push(wait_busy(node.port));
    // Redis exits once the script ends, without sending this +OK (nor the script's
    // error): its replies wait for an event loop turn that never comes. shardis sends
    // both first. Either is a server that did what was asked, so the reply is not
    // compared.
    let mut k = raw_to(node.port);
    k.send(&common::encode_cmd(&["script", "kill"]));
    match k.r.read() {
        Ok(r) => assert_eq!(r, Resp::simple("OK"), "{kind:?}"),
        Err(e) => {
            use std::io::ErrorKind::{ConnectionReset, UnexpectedEof};
            assert!(matches!(e.kind(), UnexpectedEof | ConnectionReset), "{kind:?}: {e}");
        }
    }
    let status = node.wait_exit(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{kind:?}: exit {status:?}");
    got
}

#[test]
fn sigterm_waits_for_a_busy_script_as_redis() {
    let mut all = kinds().into_iter().map(|k| (k, sigterm_scenario(k)));
    let (_, want) = all.next().unwrap();
    for (kind, got) in all {
        assert_eq!(got, want, "{kind:?}");
    }
}

/// A client sent the start of a command (and a whole PING before it, so the server has
/// read those bytes) before the script; the rest arrives while it is busy, then a
/// MULTI and a command split in two sends: each answered as Redis answers it.
fn partial_scenario(kind: Kind) -> Vec<Resp> {
    let node = Node::start(kind, &["--busy-reply-threshold", "50"]);
    let key = key_off_shard_zero();
    let mut got = vec![raw_to(node.port).cmd(&["set", "k", "v"])];
    let mut part = raw_to(node.port);
    let get = common::encode_cmd(&["get", "k"]);
    part.send(&[common::encode_cmd(&["ping"]), get[..7].to_vec()].concat());
    got.push(part.read());
    let mut a = raw_to(node.port);
    a.send(&common::encode_cmd(&["eval", "while true do end", "1", &key]));
    wait_busy(node.port);
    part.send(&[get[7..].to_vec(), common::encode_cmd(&["multi"])].concat());
    got.push(part.read());
    got.push(part.read());
    let incr = common::encode_cmd(&["incr", "n"]);
    part.send(&incr[..5]);
    // Not answered before the rest: the next reply is the whole command's.
    part.send(&incr[5..]);
    got.push(part.read());
    got.push(raw_to(node.port).cmd(&["script", "kill"]));
    let killed = a.read();
    assert!(matches!(&killed, Resp::Error(e) if e.starts_with("ERR Script killed by user")), "{killed:?}");
    got.push(part.cmd(&["exec"]));
    got.push(part.cmd(&["get", "k"]));
    got.push(part.cmd(&["get", "n"]));
    got.push(a.cmd(&["ping"]));
    got
}

#[test]
fn a_half_sent_command_gets_busy_as_redis() {
    let mut all = [Kind::Redis, Kind::Shardis(1)].into_iter().map(|k| (k, partial_scenario(k)));
    let (_, want) = all.next().unwrap();
    for (kind, got) in all {
        assert_eq!(got, want, "{kind:?}");
    }
}
