//! No silently ignored settings: a value that would switch on something shardis does
//! not implement (`params::RESTRICTED`) is refused at start-up (fatal config error,
//! exit code 1) and by CONFIG SET (Redis's `ERR CONFIG SET failed` wording), while the
//! defaults, and a stock Debian `/etc/redis/redis.conf` with the usual overrides, are
//! accepted.

use crate::common;

use common::{Resp, Server, temp_dir};
use shardis::config::params::{self, Kind, RESTRICTED};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `shardis-server args...` (with a free port and a scratch dir) and returns its
/// exit code and everything it printed, waiting with a deadline.
pub(crate) fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let dir = temp_dir("refuse");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardis-server"))
        .args(args)
        .args(["--port", "0", "--bind", "127.0.0.1", "--shards", "1", "--save", ""])
        .args(["--dir", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{args:?} did not exit: {}", String::from_utf8_lossy(&out.stdout));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn text(r: &Resp) -> String {
    match r {
        Resp::Bulk(b) => String::from_utf8(b.clone()).expect("utf8"),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

fn why(name: &str) -> &'static str {
    RESTRICTED.iter().find(|r| r.name == name).unwrap().why
}

#[test]
fn startup_refuses_with_exit_1_and_names_the_directive() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--daemonize", "yes"], "--daemonize yes", why("daemonize")),
        (&["--activedefrag", "yes"], "--activedefrag yes", why("activedefrag")),
        (&["--tls-port", "6380"], "--tls-port 6380", "TLS is not supported by shardis"),
    ];
    for (flags, line, reason) in cases {
        let (code, out) = run_to_exit(flags);
        assert_eq!(code, Some(1), "{flags:?}: {out}");
        assert!(out.contains("*** FATAL CONFIG FILE ERROR (shardis) ***"), "{flags:?}: {out}");
        assert!(out.contains(&format!(">>> '{line}'")), "{flags:?} should be named: {out}");
        assert!(out.contains(reason), "{flags:?}: {out}");
        assert!(!out.contains("Ready to accept connections"), "{flags:?}: {out}");
    }

    // From a file, the line at fault is named; a later line or flag can override it.
    let dir = temp_dir("refuse-conf");
    let conf = dir.join("shardis.conf");
    std::fs::write(&conf, "hz 20\nactivedefrag yes\n").unwrap();
    let (code, out) = run_to_exit(&[conf.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("Reading the configuration file {}, at line 2", conf.display())), "{out}");
    assert!(out.contains(">>> 'activedefrag yes'") && out.contains(why("activedefrag")), "{out}");
    let s = Server::start_with_config_file(&conf, 1, &["--activedefrag", "no"]);
    assert_eq!(
        s.raw().cmd(&["CONFIG", "GET", "activedefrag"]),
        Resp::Array(vec![Resp::bulk("activedefrag"), Resp::bulk("no")])
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A value each restricted parameter refuses: valid for its kind, not accepted.
fn refused_value(r: &params::Restricted) -> String {
    let (_, p) = params::find(r.name).unwrap();
    let candidates: Vec<String> = match (r.name, p.kind) {
        ("replicaof", _) => vec!["127.0.0.1 6379".into()],
        ("aclfile", _) => vec!["/etc/redis/users.acl".into()],
        ("oom-score-adj-values", _) => vec!["0 100 900".into()],
        (_, Kind::Bool) => vec!["yes".into(), "no".into()],
        (_, Kind::Enum(options)) => options.iter().map(|o| o.to_string()).collect(),
        (_, Kind::Int { min, .. }) => vec![min.to_string(), (min + 1).to_string(), (min + 2).to_string()],
        _ => vec!["1".into(), "2".into()],
    };
    candidates
        .into_iter()
        .find(|v| {
            params::canonicalize(p, std::slice::from_ref(v), params::COB_DEFAULT)
                .is_ok_and(|c| !r.accepted.contains(&c.as_str()))
        })
        .unwrap_or_else(|| panic!("no value {} refuses", r.name))
}

#[test]
fn config_set_refuses_values_and_accepts_the_defaults() {
    let s = Server::start(2, &[]);
    let mut raw = s.raw();
    let ok = Resp::simple("OK");
    let mut checked = 0;
    for r in RESTRICTED {
        let (_, p) = params::find(r.name).unwrap();
        let bad = refused_value(r);
        let bad = bad.as_str();
        let want_err = if p.is_mutable() {
            format!("ERR CONFIG SET failed (possibly related to argument '{}') - {}", r.name, r.why)
        } else {
            format!("ERR CONFIG SET failed (possibly related to argument '{}') - can't set immutable config", r.name)
        };
        // All or nothing: hz is not changed either.
        assert_eq!(raw.cmd(&["CONFIG", "SET", "hz", "20", r.name, bad]), Resp::err(&want_err), "{}", r.name);
        assert_eq!(raw.cmd(&["CONFIG", "GET", "hz"]), Resp::Array(vec![Resp::bulk("hz"), Resp::bulk("10")]));
        let Resp::Array(got) = raw.cmd(&["CONFIG", "GET", r.name]) else { panic!() };
        assert!(r.accepted.contains(&text(&got[1]).as_str()), "{}: {got:?}", r.name);
        if p.is_mutable() {
            for v in r.accepted {
                assert_eq!(raw.cmd(&["CONFIG", "SET", r.name, v]), ok, "{} {v:?}", r.name);
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "{checked}");
    // Partial updates that leave the default in place, and values that change nothing
    // while the feature they tune is off.
    for (name, value) in [
        ("client-output-buffer-limit", "normal 0 0 0"),
        ("client-output-buffer-limit", "replica 256mb 64mb 60"),
        ("maxmemory-clients", "0%"),
        ("maxmemory-policy", "allkeys-lru"),
        ("replica-lazy-flush", "yes"),
        ("masterauth", "secret"),
        ("hash-max-listpack-entries", "7"),
    ] {
        assert_eq!(raw.cmd(&["CONFIG", "SET", name, value]), ok, "{name} {value}");
    }
    assert_eq!(raw.cmd(&["PING"]), Resp::simple("PONG"));
}

/// Debian's stock config, as a user would try it: it starts with the directives a
/// non-root test run cannot or should not honour overridden (daemonize, logfile,
/// pidfile; the launcher overrides port, bind and dir), and nothing else is refused.
#[test]
fn debian_redis_conf_starts_with_overrides() {
    let conf = std::path::Path::new("/etc/redis/redis.conf");
    assert!(conf.exists(), "/etc/redis/redis.conf missing: install Debian's redis-server package (tests need it)");
    // As is, only daemonize yes is refused.
    let (code, out) = run_to_exit(&[conf.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(">>> 'daemonize yes'") && out.contains(why("daemonize")), "{out}");

    let s = Server::start_with_config_file(conf, 1, &["--daemonize", "no", "--logfile", "", "--pidfile", ""]);
    let mut raw = s.raw();
    let get = |raw: &mut common::Raw, name: &str| match raw.cmd(&["CONFIG", "GET", name]) {
        Resp::Array(v) if v.len() == 2 => text(&v[1]),
        other => panic!("CONFIG GET {name}: {other:?}"),
    };
    assert_eq!(get(&mut raw, "client-output-buffer-limit"), params::COB_DEFAULT);
    // Debian's file sets disable-thp yes; shardis's default is no.
    assert_eq!(get(&mut raw, "disable-thp"), "yes", "the file was read");
    assert_eq!(get(&mut raw, "lazyfree-lazy-user-flush"), "no");
    assert_eq!(raw.cmd(&["SET", "k", "v"]), Resp::simple("OK"));
    assert_eq!(raw.cmd(&["GET", "k"]), Resp::bulk("v"));
}
