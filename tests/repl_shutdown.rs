//! SHUTDOWN (and SIGTERM/SIGINT) on a master with a lagging replica waits for it, as
//! Redis 7.0 does under `shutdown-timeout`: writes pause, the master logs the wait,
//! exits once the replica has acknowledged everything (or when the timeout passes,
//! naming the lagging replica), SHUTDOWN ABORT cancels, NOW skips the wait, and a
//! second SIGINT exits at once. Each scenario runs with a redis-server master too, so
//! both show the same; replicas are redis-server and shardis. A replica lags because
//! it is stopped (SIGSTOP) until the test lets it go on (SIGCONT): no timing.

use crate::common;

use common::repl::{Kind, Node, populate, wait_in_sync};
use common::wait_until;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// A master with `extra` config and a replica of `replica` kind, in sync, holding
/// some keys; then the replica is stopped and the master takes one more write.
fn lagging_pair(master: Kind, replica: Kind, extra: &[&str]) -> (Node, Node) {
    let mut args = vec!["--save", "", "--repl-diskless-sync-delay", "0"];
    args.extend_from_slice(extra);
    let m = Node::start(master, &args);
    // Before the replica: Redis does not propagate DEBUG POPULATE.
    populate(&m, 200);
    let r = Node::start_replica_of(replica, m.port, &["--save", ""]);
    wait_in_sync(&m, &r, LONG);
    r.signal("STOP");
    let _: () = redis::cmd("SET").arg("after-stop").arg("1").query(&mut m.conn()).unwrap();
    (m, r)
}

/// Sends `args` on a connection of its own, in a thread: the reply (or the error the
/// closed connection gives) comes back through the handle.
fn send(n: &Node, args: &[&str]) -> std::thread::JoinHandle<redis::RedisResult<redis::Value>> {
    let mut c = n.conn();
    c.set_read_timeout(Some(LONG)).unwrap();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    std::thread::spawn(move || cmd.query::<redis::Value>(&mut c))
}

fn wait_logged(n: &Node, needle: &str) {
    assert!(wait_until(LONG, || n.logged(needle)), "{:?} never logged {needle:?}:\n{}", n.kind, n.log().join("\n"));
}

fn kinds() -> [(Kind, Kind); 3] {
    [(Kind::Redis, Kind::Redis), (Kind::Shardis(2), Kind::Redis), (Kind::Shardis(3), Kind::Shardis(2))]
}

fn run_lagging_then_catch_up(master: Kind, replica: Kind, by_signal: bool) {
    let (mut m, r) = lagging_pair(master, replica, &["--shutdown-timeout", "300"]);
    let digest = m.digest();
    let shutdown = (!by_signal).then(|| send(&m, &["SHUTDOWN"]));
    if by_signal {
        m.signal("TERM");
    }
    wait_logged(&m, "Waiting for replicas before shutting down.");
    // The wait shows in INFO, reads are served, writes are paused.
    let info = m.info("server");
    let left: u64 = info.get("shutdown_in_milliseconds").expect("shutdown_in_milliseconds").parse().unwrap();
    assert!(left > 0 && left <= 300_000, "{master:?}: shutdown_in_milliseconds:{left}");
    assert_eq!(redis::cmd("GET").arg("after-stop").query::<String>(&mut m.conn()).unwrap(), "1");
    let paused = send(&m, &["SET", "paused", "1"]);
    assert!(m.is_running(), "{master:?} exited while its replica was stopped");
    r.signal("CONT");
    let st = m.wait_exit(LONG);
    assert!(st.is_some_and(|s| s.success()), "{master:?} -> {replica:?}: exit {st:?}\n{}", m.log().join("\n"));
    assert!(m.logged("1 of 1 replicas are in sync when shutting down."), "{}", m.log().join("\n"));
    if by_signal {
        assert!(m.logged("Received SIGTERM scheduling shutdown..."));
    } else {
        assert!(shutdown.unwrap().join().unwrap().is_err(), "SHUTDOWN got a reply");
    }
    assert!(paused.join().unwrap().is_err(), "{master:?}: the paused SET was answered");
    // The replica holds exactly what the master held: the write made while it was
    // stopped, not the paused one.
    assert_eq!(r.digest(), digest, "{master:?} -> {replica:?}");
    assert_eq!(redis::cmd("EXISTS").arg("paused").query::<i64>(&mut r.conn()).unwrap(), 0);
}

#[test]
fn shutdown_waits_for_a_lagging_replica() {
    for (m, r) in kinds() {
        run_lagging_then_catch_up(m, r, false);
    }
}

#[test]
fn sigterm_waits_for_a_lagging_replica() {
    for (m, r) in kinds() {
        run_lagging_then_catch_up(m, r, true);
    }
}

#[test]
fn timeout_exits_and_names_the_lagging_replica() {
    for (master, replica) in kinds() {
        let (mut m, r) = lagging_pair(master, replica, &["--shutdown-timeout", "1"]);
        let shutdown = send(&m, &["SHUTDOWN"]);
        let st = m.wait_exit(LONG);
        assert!(st.is_some_and(|s| s.success()), "{master:?}: exit {st:?}");
        assert!(shutdown.join().unwrap().is_err());
        let log = m.log();
        let line = log.iter().find(|l| l.contains("Lagging replica")).unwrap_or_else(|| panic!("{}", log.join("\n")));
        let text = &line[line.find("Lagging replica").unwrap()..];
        let want = format!("Lagging replica 127.0.0.1:{} reported offset ", r.port);
        assert!(text.starts_with(&want), "{master:?}: {text}");
        assert!(text.contains(" behind master, lag=") && text.ends_with(", state=online."), "{master:?}: {text}");
        let behind: u64 = text[want.len()..].split(' ').next().unwrap().parse().unwrap();
        assert!(behind > 0, "{text}");
        assert!(m.logged("0 of 1 replicas are in sync when shutting down."));
        r.signal("CONT");
    }
}

#[test]
fn abort_cancels_the_wait_and_now_skips_it() {
    for (master, replica) in kinds() {
        let (mut m, r) = lagging_pair(master, replica, &["--shutdown-timeout", "300"]);
        let first = send(&m, &["SHUTDOWN"]);
        wait_logged(&m, "Waiting for replicas before shutting down.");
        let paused = send(&m, &["SET", "paused", "1"]);
        // A second SHUTDOWN joins the wait, NOW or not.
        let second = send(&m, &["SHUTDOWN", "NOW"]);
        let mut c = m.conn();
        let waiting = || {
            let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut m.conn()).unwrap();
            list.lines().filter(|l| l.contains("cmd=shutdown")).count()
        };
        assert!(wait_until(LONG, || waiting() == 2), "{master:?}: {} SHUTDOWNs waiting", waiting());
        let ok: String = redis::cmd("SHUTDOWN").arg("ABORT").query(&mut c).unwrap();
        assert_eq!(ok, "OK");
        for h in [first, second] {
            let e = h.join().unwrap().unwrap_err();
            assert!(e.to_string().contains("Errors trying to SHUTDOWN. Check logs."), "{master:?}: {e}");
        }
        assert_eq!(paused.join().unwrap().unwrap(), redis::Value::Okay, "{master:?}: the paused SET after ABORT");
        wait_logged(&m, "Shutdown manually aborted.");
        let e = redis::cmd("SHUTDOWN").arg("ABORT").query::<String>(&mut c).unwrap_err();
        assert!(e.to_string().contains("No shutdown in progress."), "{master:?}: {e}");
        assert!(!m.info("server").contains_key("shutdown_in_milliseconds"));
        // Writes flow again; NOW does not wait for the replica, still stopped.
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
        let _ = redis::cmd("SHUTDOWN").arg("NOW").query::<redis::Value>(&mut c);
        let st = m.wait_exit(LONG);
        assert!(st.is_some_and(|s| s.success()), "{master:?}: exit {st:?}");
        r.signal("CONT");
    }
}

#[test]
fn a_second_sigint_exits_at_once() {
    for (master, replica) in kinds() {
        let (mut m, r) = lagging_pair(master, replica, &["--shutdown-timeout", "300"]);
        m.signal("INT");
        wait_logged(&m, "Waiting for replicas before shutting down.");
        m.signal("INT");
        let st = m.wait_exit(LONG);
        assert_eq!(st.and_then(|s| s.code()), Some(1), "{master:?}");
        assert!(wait_until(LONG, || m.logged("You insist... exiting now.")), "{master:?}");
        r.signal("CONT");
    }
}

#[test]
fn shutdown_timeout_takes_any_value() {
    for kind in [Kind::Redis, Kind::Shardis(1)] {
        let n = Node::start(kind, &["--shutdown-timeout", "3"]);
        let mut c = n.conn();
        let _: () = redis::cmd("CONFIG").arg("SET").arg("shutdown-timeout").arg("45").query(&mut c).unwrap();
        let v: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("shutdown-timeout").query(&mut c).unwrap();
        assert_eq!(v, ["shutdown-timeout", "45"]);
        let e = redis::cmd("CONFIG").arg("SET").arg("shutdown-timeout").arg("-1").query::<()>(&mut c).unwrap_err();
        assert!(e.to_string().contains("argument must be between 0 and 2147483647 inclusive"), "{kind:?}: {e}");
    }
}
