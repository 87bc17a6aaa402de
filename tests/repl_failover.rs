//! FAILOVER, against redis-server 7.0 as the reference:
//! - every reply and error of the command, text for text, through a sequence run on a
//!   redis-server master and on a shardis master (each with a replica), including a
//!   failover that waits for a stopped replica, holds writes and times out;
//! - a coordinated failover that succeeds, for shardis → shardis, shardis → redis and
//!   redis → shardis (the shardis replica promoted by the PSYNC FAILOVER handshake):
//!   roles swap, the old master continues partially (no full sync), data converges
//!   (db 3 included), and a write held by the pause answers -READONLY afterwards.

use crate::common;

use common::repl::{Kind, Node, wait_in_sync};
use common::wait_until;
use std::time::Duration;

const SYNC: Duration = Duration::from_secs(60);
/// Masters start their diskless full sync at once.
const NO_DELAY: &[&str] = &["--repl-diskless-sync-delay", "0"];

/// A reply as text: `OK`, `ERR ...`, or a debug form of anything else.
fn run(node: &Node, args: &[&str]) -> String {
    let mut c = node.conn();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(&mut c) {
        Ok(redis::Value::Okay) => "OK".into(),
        Ok(redis::Value::SimpleString(s)) => s,
        Ok(v) => format!("{v:?}"),
        Err(e) => match (e.code(), e.detail()) {
            (Some(code), Some(detail)) => format!("{code} {detail}"),
            (Some(code), None) => code.to_string(),
            _ => format!("{e}"),
        },
    }
}

fn failover_state(n: &Node) -> String {
    n.info("replication").get("master_failover_state").cloned().unwrap_or_default()
}

fn role(n: &Node) -> String {
    n.info("replication").get("role").cloned().unwrap_or_default()
}

fn signal(n: &Node, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &n.pid().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} {}", n.pid());
}

/// The reply sequence of FAILOVER's checks and of a failover that times out, on a
/// `master` of `kind` with one shardis replica. Ports differ between runs, so replies
/// that name them are not compared verbatim (none does).
fn reply_sequence(kind: Kind) -> Vec<String> {
    let m = Node::start(kind, NO_DELAY);
    let mut out = Vec::new();
    let mut say = |what: &str, r: String| out.push(format!("{what}: {r}"));
    for args in [
        &["FAILOVER"][..],
        &["FAILOVER", "ABORT"],
        &["FAILOVER", "TO", "127.0.0.1"],
        &["FAILOVER", "TIMEOUT", "0"],
        &["FAILOVER", "TIMEOUT", "-5"],
        &["FAILOVER", "TIMEOUT", "soon"],
        &["FAILOVER", "TO", "127.0.0.1", "port"],
        &["FAILOVER", "FORCE", "FORCE"],
        &["FAILOVER", "BOGUS"],
        &["FAILOVER", "ABORT", "TIMEOUT", "10"],
        &["FAILOVER", "FORCE"],
    ] {
        say(&args.join(" "), run(&m, args));
    }
    let r = Node::start(Kind::shardis(2), &[]);
    r.replicaof(Some(m.port));
    wait_in_sync(&m, &r, SYNC);
    let rport = r.port.to_string();
    for args in [
        &["FAILOVER", "TO", "127.0.0.1", "1"][..],
        &["FAILOVER", "TO", "10.1.2.3", &rport],
        &["FAILOVER", "FORCE", "TIMEOUT", "100"],
        &["FAILOVER", "TO", "127.0.0.1", &rport, "FORCE"],
    ] {
        say(&args.join(" ").replace(&rport, "<replica>"), run(&m, args));
    }
    say("state", failover_state(&m));

    // A replica that stops acknowledging: the failover waits, holds writes, times out.
    signal(&r, "-STOP");
    say("SET before", run(&m, &["SET", "k", "before"]));
    say("FAILOVER TO <replica> TIMEOUT", run(&m, &["FAILOVER", "TO", "127.0.0.1", &rport, "TIMEOUT", "1500"]));
    say("state", failover_state(&m));
    say("FAILOVER again", run(&m, &["FAILOVER"]));
    say("REPLICAOF", run(&m, &["REPLICAOF", "127.0.0.1", &rport]));
    say("GET while paused", run(&m, &["GET", "k"]));
    // A write is held until the failover ends, then runs (on a master again).
    let port = m.port;
    let held = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        let r: redis::RedisResult<String> = redis::cmd("SET").arg("k").arg("held").query(&mut c);
        (r.map_err(|e| e.to_string()), t.elapsed())
    });
    let (reply, waited) = held.join().unwrap();
    say("held SET", format!("{reply:?}"));
    assert!(waited >= Duration::from_millis(300), "{kind:?}: the SET was not held by the failover ({waited:?})");
    assert!(wait_until(SYNC, || failover_state(&m) == "no-failover"), "{kind:?}: the failover did not time out");
    say("state after timeout", failover_state(&m));
    say("role", role(&m));
    say("GET after", run(&m, &["GET", "k"]));
    assert!(
        m.logged("aborted: Replica never caught up before timeout"),
        "{kind:?}: no abort line in the log: {:?}",
        m.log().iter().filter(|l| l.contains("FAILOVER")).collect::<Vec<_>>()
    );
    signal(&r, "-CONT");

    // Aborting a failover that waits for its target.
    wait_in_sync(&m, &r, SYNC);
    signal(&r, "-STOP");
    say("SET again", run(&m, &["SET", "k", "again"]));
    say("FAILOVER any", run(&m, &["FAILOVER"]));
    say("state", failover_state(&m));
    say("FAILOVER ABORT", run(&m, &["FAILOVER", "ABORT"]));
    say("state after abort", failover_state(&m));
    say("SET after abort", run(&m, &["SET", "k", "after"]));
    say("FAILOVER ABORT again", run(&m, &["FAILOVER", "ABORT"]));
    signal(&r, "-CONT");
    assert!(
        wait_until(SYNC, || m.logged("FAILOVER to any replica aborted: Failover manually aborted")),
        "{kind:?}: no manual abort line"
    );
    out
}

#[test]
fn failover_replies_match_redis() {
    let want = reply_sequence(Kind::Redis);
    for shards in [1, 4] {
        let got = reply_sequence(Kind::Shardis(shards));
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(g, w, "shardis ({shards} shards) differs from redis-server");
        }
        assert_eq!(got.len(), want.len());
    }
}

/// `master` hands over to its replica with FAILOVER (TO it, or to any replica).
fn coordinated(master: Kind, replica: Kind, to_target: bool) {
    let m = Node::start(master, NO_DELAY);
    let mut c = m.conn();
    for i in 0..200 {
        redis::cmd("SET").arg(format!("k{i}")).arg(i).query::<()>(&mut c).unwrap();
    }
    let r = Node::start(replica, NO_DELAY);
    r.replicaof(Some(m.port));
    wait_in_sync(&m, &r, SYNC);
    // The stream ends in db 3: the handover continues there.
    redis::cmd("SELECT").arg(3).query::<()>(&mut c).unwrap();
    for i in 0..50 {
        redis::cmd("HSET").arg(format!("h{i}")).arg("f").arg(i).query::<()>(&mut c).unwrap();
    }
    let (m_before, r_before) = (m.sync_counts(), r.sync_counts());
    let reply = if to_target {
        run(&m, &["FAILOVER", "TO", "127.0.0.1", &r.port.to_string(), "TIMEOUT", "30000"])
    } else {
        run(&m, &["FAILOVER"])
    };
    assert_eq!(reply, "OK", "{master:?} -> {replica:?}");
    // A write sent during the pause waits, then meets a replica.
    let port = m.port;
    let held = std::thread::spawn(move || {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
        redis::cmd("SET").arg("during").arg("x").query::<String>(&mut c).map_err(|e| e.to_string())
    });
    let swapped =
        wait_until(SYNC, || role(&m) == "slave" && role(&r) == "master" && failover_state(&m) == "no-failover");
    assert!(
        swapped,
        "{master:?} -> {replica:?}: roles did not swap\nmaster: {:?}\nreplica: {:?}\nmaster log: {:?}",
        m.info("replication"),
        r.info("replication"),
        m.log().iter().rev().take(20).collect::<Vec<_>>()
    );
    let held = held.join().unwrap();
    assert!(
        held.as_ref().is_err_and(
            |e| e.contains("READONLY") || e.contains("ReadOnly: You can't write against a read only replica")
        ),
        "{master:?} -> {replica:?}: the held write answered {held:?}"
    );
    // The old master follows the new one from where it was: a partial resync.
    wait_in_sync(&r, &m, SYNC);
    let (m_after, r_after) = (m.sync_counts(), r.sync_counts());
    assert_eq!(r_after.0, r_before.0, "{master:?} -> {replica:?}: the new master served a full sync");
    assert!(r_after.1 > r_before.1, "{master:?} -> {replica:?}: no partial resync on the new master");
    assert_eq!(m_after.0, m_before.0);
    // Writes flow the other way now, in db 3 too.
    let mut nc = r.conn();
    redis::cmd("SELECT").arg(3).query::<()>(&mut nc).unwrap();
    redis::cmd("SET").arg("after").arg("failover").query::<()>(&mut nc).unwrap();
    wait_in_sync(&r, &m, SYNC);
    assert_eq!(r.digest(), m.digest(), "{master:?} -> {replica:?}: datasets differ");
    assert_eq!(r.logical_dump(), m.logical_dump());
    let mut oc = m.conn();
    redis::cmd("SELECT").arg(3).query::<()>(&mut oc).unwrap();
    let got: Option<String> = redis::cmd("GET").arg("after").query(&mut oc).unwrap();
    assert_eq!(got.as_deref(), Some("failover"));
    assert!(m.logged("is synced, failing over."), "{master:?}: no handover line");
    assert!(r.logged("MASTER MODE enabled (failover request from"), "{replica:?}: no promotion line");
}

#[test]
fn failover_shardis_to_shardis() {
    for shards in [1, 4] {
        coordinated(Kind::Shardis(shards), Kind::Shardis(shards), true);
    }
    coordinated(Kind::Shardis(2), Kind::Shardis(2), false);
}

#[test]
fn failover_shardis_to_redis() {
    coordinated(Kind::Shardis(2), Kind::Redis, true);
}

#[test]
fn failover_redis_to_shardis() {
    coordinated(Kind::Redis, Kind::Shardis(2), true);
    coordinated(Kind::Redis, Kind::Shardis(1), false);
}
