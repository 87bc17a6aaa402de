//! A script past `busy-reply-threshold`: other clients get `-BUSY` (QUIT is answered),
//! SCRIPT KILL and FUNCTION KILL stop it (`-UNKILLABLE` once it wrote), SHUTDOWN NOSAVE ends the
//! server. Texts compared with redis-server; on 1 shard (the busy thread answers new
//! connections itself) and 3.

use crate::common;

use common::{RealRedis, Resp, Server, temp_dir, wait_until};
use std::time::Duration;

use common::raw_to as connect;

fn err_text(r: &Resp) -> String {
    match r {
        Resp::Error(e) => e.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A new connection's PING once the server says BUSY. Before the script passed the
/// threshold, PING says PONG (it ran first) or waits (its shard runs the script and
/// took the connection in before: such connections wait for the script, see
/// `server::busy_door`), so each try is a new connection with a short timeout.
fn wait_busy(port: u16) -> (common::Raw, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut c = connect(port);
        c.w.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        c.send(&common::encode_cmd(&["ping"]));
        if let Ok(Resp::Error(e)) = c.r.read() {
            c.w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            return (c, e);
        }
        assert!(std::time::Instant::now() < deadline, "the server never said BUSY");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// As [`wait_busy`] with a password required: a new connection's AUTH (`auth`'s
/// arguments) then PING, until the PING is refused BUSY (AUTH is allowed while busy).
fn wait_busy_authenticated(port: u16, auth: &[&str]) -> common::Raw {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let cmd: Vec<&str> = std::iter::once("auth").chain(auth.iter().copied()).collect();
    loop {
        let mut c = connect(port);
        c.w.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        c.send(&[common::encode_cmd(&cmd), common::encode_cmd(&["ping"])].concat());
        if let (Ok(Resp::Simple(ok)), Ok(Resp::Error(e))) = (c.r.read(), c.r.read())
            && ok == "OK"
            && e.starts_with("BUSY ")
        {
            c.w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            return c;
        }
        assert!(std::time::Instant::now() < deadline, "the server never said BUSY after AUTH");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const LOOP_LIB: &str = "#!lua name=loops\nredis.register_function('spin', function() while true do end end)";

/// The texts of one scenario: (BUSY to PING, SCRIPT KILL's, the killed script's
/// error, PING after, FUNCTION variant: BUSY, SCRIPT KILL, FUNCTION KILL, UNKILLABLE).
fn scenario(port: u16) -> Vec<String> {
    let mut setup = connect(port);
    assert_eq!(setup.cmd(&["config", "set", "busy-reply-threshold", "100"]), Resp::simple("OK"));
    assert_eq!(
        setup.cmd(&["config", "get", "lua-time-limit"]),
        Resp::Array(vec![Resp::bulk("lua-time-limit"), Resp::bulk("100")])
    );
    setup.cmd(&["function", "load", "replace", LOOP_LIB]);
    let mut texts = Vec::new();
    // An EVAL script.
    let mut a = connect(port);
    a.send(&common::encode_cmd(&["eval", "while true do end", "0"]));
    let (mut b, busy) = wait_busy(port);
    texts.push(busy);
    // QUIT is allowed while busy: `+OK`, then the connection closes.
    let mut q = connect(port);
    texts.push(format!("{:?}", q.cmd(&["quit"])));
    q.r.expect_closed();
    let mut k = connect(port);
    texts.push(format!("{:?}", k.cmd(&["script", "kill"])));
    let killed = err_text(&a.read());
    texts.push(killed.split(" script:").next().unwrap().to_string());
    // The connection that got BUSY is served normally afterwards.
    texts.push(format!("{:?}", b.cmd(&["ping"])));
    texts.push(format!("{:?}", a.cmd(&["ping"])));
    // A script that catches the kill with pcall is stopped all the same.
    a.send(&common::encode_cmd(&["eval", "while true do pcall(function() while true do end end) end", "0"]));
    let (_, busy) = wait_busy(port);
    texts.push(busy);
    texts.push(format!("{:?}", connect(port).cmd(&["script", "kill"])));
    texts.push(err_text(&a.read()).split(" script:").next().unwrap().to_string());
    // A function.
    a.send(&common::encode_cmd(&["fcall", "spin", "0"]));
    let (_, busy) = wait_busy(port);
    texts.push(busy);
    let mut k = connect(port);
    texts.push(format!("{:?}", k.cmd(&["script", "kill"])));
    texts.push(format!("{:?}", k.cmd(&["function", "kill"])));
    texts.push(err_text(&a.read()).split(" script:").next().unwrap().to_string());
    // A script that wrote cannot be killed.
    a.send(&common::encode_cmd(&["eval", "redis.call('set', KEYS[1], '1') while true do end", "1", "w"]));
    let (_, busy) = wait_busy(port);
    texts.push(busy);
    texts.push(format!("{:?}", connect(port).cmd(&["script", "kill"])));
    texts
}

fn shutdown_nosave_ends(port: u16) -> bool {
    let mut k = connect(port);
    k.send(&common::encode_cmd(&["shutdown", "nosave"]));
    // No reply: the connection closes as the server goes down.
    k.r.get_mut().set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    k.r.read().is_err()
}

#[test]
fn busy_script_kill_and_shutdown_match_redis() {
    let rdir = temp_dir("busy-real");
    let real = RealRedis::start(&rdir);
    let want = scenario(real.port);
    assert!(shutdown_nosave_ends(real.port));
    for shards in [1, 3] {
        let mut s = Server::start(shards, &[]);
        let got = scenario(s.port);
        assert_eq!(got, want, "{shards} shards");
        assert!(shutdown_nosave_ends(s.port));
        assert!(s.wait_exit(Duration::from_secs(20)).is_some(), "{shards} shards: SHUTDOWN NOSAVE ended the server");
    }
}

#[test]
fn threshold_is_a_setting_under_both_names() {
    let s = Server::start(2, &["--busy-reply-threshold", "50"]);
    let mut a = s.raw();
    a.cmd(&["set", "k", "0"]);
    a.send(&common::encode_cmd(&[
        "eval",
        "for i = 1, 3000000 do end redis.call('incr', KEYS[1]) return 'done'",
        "1",
        "k",
    ]));
    assert_eq!(a.read(), Resp::bulk("done"));
    let mut c = s.raw();
    assert_eq!(c.cmd(&["get", "k"]), Resp::bulk("1"));
    // The threshold is settable at run time and read back under both names.
    assert_eq!(c.cmd(&["config", "set", "lua-time-limit", "7000"]), Resp::simple("OK"));
    assert_eq!(
        c.cmd(&["config", "get", "busy-reply-threshold"]),
        Resp::Array(vec![Resp::bulk("busy-reply-threshold"), Resp::bulk("7000")])
    );
    assert!(wait_until(Duration::from_secs(5), || c.cmd(&["ping"]) == Resp::simple("PONG")));
}

/// A Unix-socket client, on one shard, during a busy script: it gets `-BUSY` (Redis
/// answers every client while busy) and can SCRIPT KILL; afterwards it is served.
#[test]
fn unix_socket_clients_get_busy_and_can_kill() {
    use std::io::Write;
    let dir = temp_dir("busy-unix");
    let path = dir.join("s.sock");
    let s = Server::start(1, &["--unixsocket", path.to_str().unwrap(), "--busy-reply-threshold", "50"]);
    let unix = || {
        let u = std::os::unix::net::UnixStream::connect(&path).expect("connect unix");
        u.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        u
    };
    let mut a = s.raw();
    a.send(&common::encode_cmd(&["eval", "while true do end", "0"]));
    // Each try is a new connection: one accepted before the threshold waits.
    let mut got = None;
    assert!(wait_until(Duration::from_secs(20), || {
        let mut u = unix();
        u.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        u.write_all(&common::encode_cmd(&["ping"])).unwrap();
        let mut r = common::RespReader::new(u.try_clone().unwrap());
        match r.read() {
            Ok(Resp::Error(e)) => {
                got = Some((u, r, e));
                true
            }
            _ => false,
        }
    }));
    let (mut u, mut r, e) = got.unwrap();
    assert_eq!(e, "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.");
    u.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    u.write_all(&common::encode_cmd(&["script", "kill"])).unwrap();
    assert_eq!(r.read().unwrap(), Resp::simple("OK"));
    assert!(err_text(&a.read()).starts_with("ERR Script killed by user with SCRIPT KILL..."));
    // The Unix client is adopted by its shard once the script is over.
    u.write_all(&common::encode_cmd(&["ping"])).unwrap();
    assert_eq!(r.read().unwrap(), Resp::simple("PONG"));
    u.write_all(&common::encode_cmd(&["client", "list"])).unwrap();
    let Resp::Bulk(list) = r.read().unwrap() else { panic!("CLIENT LIST is a bulk string") };
    assert!(String::from_utf8_lossy(&list).contains("addr=/"), "the Unix client shows its socket path");
}

/// Clients the busy shard had already served get `-BUSY` too when they were idle (as
/// every client does in Redis), can SCRIPT KILL, and are served normally afterwards;
/// so does a client that was in the middle of sending a command once the rest arrives.
/// One shard: every connection is the busy thread's.
#[test]
fn idle_clients_of_the_busy_shard_get_busy_and_can_kill() {
    let s = Server::start(1, &["--busy-reply-threshold", "100", "--requirepass", "pw"]);
    // Connected and served before the script: idle ones, an unauthenticated one, and
    // one with half a command sent.
    let mut idle = connect(s.port);
    assert_eq!(idle.cmd(&["auth", "pw"]), Resp::simple("OK"));
    assert_eq!(idle.cmd(&["set", "k", "v"]), Resp::simple("OK"));
    let mut fresh = connect(s.port);
    let mut partial = connect(s.port);
    assert_eq!(partial.cmd(&["auth", "pw"]), Resp::simple("OK"));
    let get = common::encode_cmd(&["get", "k"]);
    partial.send(&get[..7]);
    let mut a = connect(s.port);
    assert_eq!(a.cmd(&["auth", "pw"]), Resp::simple("OK"));
    a.send(&common::encode_cmd(&["eval", "while true do end", "0"]));
    // Past the threshold (seen by new connections; a command of `idle` received in
    // the turn the script started in would wait for it, rightly), the idle client
    // gets BUSY.
    wait_busy_authenticated(s.port, &["pw"]);
    assert_eq!(
        err_text(&idle.cmd(&["ping"])),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    // Pipelined commands each get their answer.
    idle.send(&[common::encode_cmd(&["get", "k"]), common::encode_cmd(&["incr", "n"])].concat());
    assert!(err_text(&idle.read()).starts_with("BUSY "));
    assert!(err_text(&idle.read()).starts_with("BUSY "));
    assert_eq!(err_text(&fresh.cmd(&["ping"])), "NOAUTH Authentication required.");
    // The rest of the half-sent command: answered BUSY, as Redis does.
    partial.send(&get[7..]);
    assert!(err_text(&partial.read()).starts_with("BUSY "));
    assert_eq!(idle.cmd(&["script", "kill"]), Resp::simple("OK"));
    assert!(err_text(&a.read()).starts_with("ERR Script killed by user with SCRIPT KILL..."));
    assert_eq!(partial.cmd(&["get", "k"]), Resp::bulk("v"));
    assert_eq!(idle.cmd(&["get", "k"]), Resp::bulk("v"));
    assert_eq!(idle.cmd(&["get", "n"]), Resp::NilBulk);
    assert_eq!(a.cmd(&["ping"]), Resp::simple("PONG"));
    assert_eq!(fresh.cmd(&["auth", "pw"]), Resp::simple("OK"));
    assert_eq!(fresh.cmd(&["ping"]), Resp::simple("PONG"));
}

/// AUTH is allowed while a script is busy (`allow-busy` in Redis 7.0): with a password
/// required, a client that connects (or was connected, unauthenticated) during the
/// script can still log in and SCRIPT KILL it, and stays logged in as that user after
/// the script. AUTH's errors (wrong password, arity, syntax) are Redis's. On 1 shard
/// (the busy thread's door answers) and 3.
fn auth_while_busy(port: u16) -> Vec<String> {
    let mut texts = Vec::new();
    let mut setup = connect(port);
    assert_eq!(setup.cmd(&["config", "set", "requirepass", "pw"]), Resp::simple("OK"));
    assert_eq!(setup.cmd(&["auth", "pw"]), Resp::simple("OK"));
    assert_eq!(setup.cmd(&["config", "set", "busy-reply-threshold", "100"]), Resp::simple("OK"));
    assert_eq!(setup.cmd(&["acl", "setuser", "killer", "on", ">kp", "+@all", "~*"]), Resp::simple("OK"));
    let mut seated = connect(port);
    texts.push(format!("{:?}", seated.cmd(&["ping"])));
    let mut a = connect(port);
    assert_eq!(a.cmd(&["auth", "pw"]), Resp::simple("OK"));
    a.send(&common::encode_cmd(&["eval", "while true do end", "0"]));
    let mut b = wait_busy_authenticated(port, &["pw"]);
    let mut n = connect(port);
    for args in [
        &["auth", "nope"][..],
        &["auth"],
        &["auth", "a", "b", "c"],
        &["auth", "killer", "nope"],
        &["ping"],
        &["auth", "killer", "kp"],
        &["ping"],
    ] {
        texts.push(format!("{args:?} {:?}", n.cmd(args)));
    }
    texts.push(format!("seated {:?}", seated.cmd(&["auth", "pw"])));
    texts.push(format!("seated {:?}", seated.cmd(&["ping"])));
    texts.push(format!("{:?}", n.cmd(&["script", "kill"])));
    texts.push(err_text(&a.read()).split(" script:").next().unwrap().to_string());
    for c in [&mut n, &mut seated, &mut b] {
        texts.push(format!("{:?}", c.cmd(&["acl", "whoami"])));
        texts.push(format!("{:?}", c.cmd(&["ping"])));
    }
    assert_eq!(setup.cmd(&["acl", "deluser", "killer"]), Resp::Int(1));
    texts
}

#[test]
fn auth_while_busy_logs_in_as_redis() {
    let rdir = temp_dir("busy-auth-real");
    let real = RealRedis::start(&rdir);
    let want = auth_while_busy(real.port);
    for shards in [1, 3] {
        let s = Server::start(shards, &[]);
        assert_eq!(auth_while_busy(s.port), want, "{shards} shards");
    }
}
