//! No parameter accepted for show: each one that used to be "compatibility only"
//! either changes what the server does, shown here through what a client, the
//! operator or the kernel can see (INFO, the log, files, socket options, the
//! process's exit), side by side with redis-server where the behaviour is Redis's,
//! or is refused at start-up and by CONFIG SET unless at its default
//! (`params::RESTRICTED`). A file of redis-server 7.0.15's own defaults still loads.
//! `active-expire-effort` is shown by the unit test of `shard::turns::Effort`.

use crate::common;

use common::fake_master::{FakeMaster, Misbehave};
use common::repl::{Kind, Node, in_dir, populate, wait_in_sync};
use common::{RealRedis, Resp, Server, temp_dir, wait_until};
use shardis::config::params::{self, RESTRICTED};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

fn get(n: &Node, name: &str) -> String {
    let v: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(&mut n.conn()).unwrap();
    v[1].clone()
}

fn set(n: &Node, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG").arg("SET").arg(name).arg(value).query(&mut n.conn()).unwrap();
}

// ---------------------------------------------------------------------------
// Refused values
// ---------------------------------------------------------------------------

/// The parameters this change restricted (the older ones are in config_refuse).
const NEWLY_RESTRICTED: &[(&str, &str)] = &[
    ("active-defrag-cycle-max", "50"),
    ("active-defrag-cycle-min", "5"),
    ("active-defrag-ignore-bytes", "200mb"),
    ("active-defrag-max-scan-fields", "10"),
    ("active-defrag-threshold-lower", "20"),
    ("active-defrag-threshold-upper", "50"),
    ("activerehashing", "no"),
    ("oom-score-adj-values", "0 100 900"),
    ("syslog-facility", "local3"),
    ("syslog-ident", "shardis"),
    ("no-appendfsync-on-rewrite", "yes"),
    ("io-threads", "4"),
    ("io-threads-do-reads", "yes"),
    ("jemalloc-bg-thread", "no"),
    ("set-proc-title", "no"),
    ("proc-title-template", "{title}"),
    ("crash-memcheck-enabled", "no"),
    ("sanitize-dump-payload", "clients"),
    ("ignore-warnings", "ARM64-COW-BUG"),
    ("cluster-allow-replica-migration", "no"),
    ("cluster-announce-bus-port", "16380"),
    ("cluster-announce-hostname", "db1.example"),
    ("cluster-announce-tls-port", "6390"),
    ("cluster-link-sendbuf-limit", "1mb"),
    ("cluster-migration-barrier", "2"),
    ("cluster-preferred-endpoint-type", "hostname"),
    ("cluster-replica-no-failover", "yes"),
    ("cluster-replica-validity-factor", "0"),
];

fn why(name: &str) -> &'static str {
    RESTRICTED.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("{name} is not restricted")).why
}

#[test]
fn newly_restricted_values_are_refused_at_startup() {
    for (name, value) in NEWLY_RESTRICTED {
        let flag = format!("--{name}");
        let (code, out) = crate::config_refuse::run_to_exit(&[&flag, value]);
        assert_eq!(code, Some(1), "{name} {value}: {out}");
        assert!(out.contains("*** FATAL CONFIG FILE ERROR (shardis) ***"), "{name} {value}: {out}");
        assert!(out.contains(why(name)), "{name} {value}: {out}");
    }
}

#[test]
fn newly_restricted_values_are_refused_by_config_set_and_defaults_accepted() {
    let s = Server::start(1, &[]);
    let mut raw = s.raw();
    for (name, value) in NEWLY_RESTRICTED {
        let (_, p) = params::find(name).unwrap();
        let default = match raw.cmd(&["CONFIG", "GET", name]) {
            Resp::Array(v) => match &v[1] {
                Resp::Bulk(b) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("{other:?}"),
            },
            other => panic!("{name}: {other:?}"),
        };
        let want = if p.is_mutable() {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {}", why(name))
        } else {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config")
        };
        assert_eq!(raw.cmd(&["CONFIG", "SET", name, value]), Resp::err(&want), "{name} {value}");
        if p.is_mutable() {
            assert_eq!(raw.cmd(&["CONFIG", "SET", name, &default]), Resp::simple("OK"), "{name} {default}");
        }
    }
    // The values shardis does honour besides the default.
    assert_eq!(raw.cmd(&["CONFIG", "SET", "sanitize-dump-payload", "yes"]), Resp::simple("OK"));
}

/// A config file holding every value redis-server 7.0.15 reports (`CONFIG GET *`)
/// for the parameters shardis knows loads as it is: the defaults are accepted.
#[test]
fn redis_default_values_load() {
    let dir = temp_dir("redis-defaults");
    let real = RealRedis::start(&dir);
    let all: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("*").query(&mut real.conn()).unwrap();
    drop(real);
    // The launcher's own (port, bind, dir, save) and the files a test run must not
    // touch (a daemon's log and pid file) come from flags.
    const SKIP: &[&str] = &["port", "bind", "dir", "save", "logfile", "pidfile", "unixsocket", "enable-debug-command"];
    let mut text = String::new();
    let mut lines = 0;
    for pair in all.chunks(2) {
        let (name, value) = (&pair[0], &pair[1]);
        if SKIP.contains(&name.as_str()) || params::find(name).is_none() {
            continue;
        }
        let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
        text.push_str(&format!("{name} \"{quoted}\"\n"));
        lines += 1;
    }
    assert!(lines > 150, "{lines} parameters in common with redis-server");
    // CONFIG GET * comes in dict order (seeded per process), so any name may be first.
    for (name, _) in NEWLY_RESTRICTED {
        let prefix = format!("{name} ");
        assert!(text.lines().any(|l| l.starts_with(&prefix)), "{name} missing from redis-server's defaults");
    }
    let conf = dir.join("redis-defaults.conf");
    std::fs::write(&conf, &text).unwrap();
    let s = Server::start_with_config_file(&conf, 1, &[]);
    assert_eq!(s.raw().cmd(&["PING"]), Resp::simple("PONG"));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Replication
// ---------------------------------------------------------------------------

/// TCP_NODELAY on the master's socket to the replica, read by duplicating the fd
/// out of the master process (`pidfd_getfd`; the test started the server, so it may).
/// The replica's socket is found by its peer: the port the replica connected from.
fn master_side_nodelay(master: &Node, replica: &Node) -> bool {
    let link_port = socket_ports(replica.pid())
        .into_iter()
        .find(|&(_, peer, _)| peer == master.port)
        .map(|(local, _, _)| local)
        .expect("the replica's link to its master");
    socket_ports(master.pid())
        .into_iter()
        .find(|&(_, peer, _)| peer == link_port)
        .map(|(_, _, nodelay)| nodelay)
        .expect("the master's socket to the replica")
}

/// (local port, peer port, TCP_NODELAY) of each connected TCP socket of process `pid`.
fn socket_ports(pid: u32) -> Vec<(u16, u16, bool)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain syscall; the returned fd (or -1) is checked before use.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) } as i32;
    assert!(pidfd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    // SAFETY: pidfd is a fresh fd this function owns.
    let _pidfd_guard = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        let is_socket = std::fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:"));
        let Some(target) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if !is_socket {
            continue;
        }
        // SAFETY: plain syscall; a negative result (the fd closed meanwhile) is skipped.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, target, 0) } as i32;
        if fd < 0 {
            continue;
        }
        // SAFETY: fd is a fresh duplicate this function owns.
        let sock = socket2::Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let (Ok(local), Ok(peer)) = (sock.local_addr(), sock.peer_addr()) else { continue };
        let (Some(local), Some(peer)) = (local.as_socket(), peer.as_socket()) else { continue };
        let Ok(nodelay) = sock.tcp_nodelay() else { continue };
        out.push((local.port(), peer.port(), nodelay));
    }
    out
}

/// `repl-disable-tcp-nodelay yes` turns Nagle back on for the replica's socket at
/// SYNC, on shardis as on redis-server; `no` leaves TCP_NODELAY on.
#[test]
fn repl_disable_tcp_nodelay_sets_the_replica_socket() {
    for kind in [Kind::Shardis(2), Kind::Redis] {
        for (disable, nodelay) in [("yes", false), ("no", true)] {
            let master = Node::start(kind, &["--repl-disable-tcp-nodelay", disable]);
            let replica = Node::start_replica_of(Kind::Shardis(1), master.port, &[]);
            wait_in_sync(&master, &replica, LONG);
            assert_eq!(master_side_nodelay(&master, &replica), nodelay, "{kind:?} master, disable {disable}");
        }
    }
}

/// `bind-source-addr`: the replica connects to its master from that address, which
/// the master shows in INFO replication (Redis's `slaveN:ip=`), for a shardis
/// replica as for a redis-server one.
#[test]
fn bind_source_addr_is_where_the_replica_connects_from() {
    for kind in [Kind::Shardis(2), Kind::Redis] {
        let master = Node::start(Kind::Shardis(1), &["--protected-mode", "no"]);
        let replica = Node::start(kind, &["--bind-source-addr", "127.0.0.2"]);
        replica.replicaof(Some(master.port));
        wait_in_sync(&master, &replica, LONG);
        let info = master.info("replication");
        assert!(info.get("slave0").is_some_and(|v| v.starts_with("ip=127.0.0.2,")), "{kind:?}: {info:?}");

        // An address the host does not have: as Redis, the bind is best effort and
        // the link comes up from the usual address.
        let replica = Node::start(kind, &["--bind-source-addr", "192.0.2.1"]);
        replica.replicaof(Some(master.port));
        wait_in_sync(&master, &replica, LONG);
    }
}

/// `replica-ignore-maxmemory yes` (the default): a replica over its maxmemory keeps
/// every key its master sends; `no`: it evicts on its own. Same on redis-server.
#[test]
fn replica_ignore_maxmemory_decides_whether_a_replica_evicts() {
    for kind in [Kind::Shardis(2), Kind::Redis] {
        let master = Node::start(Kind::Shardis(1), &[]);
        let mut c = master.conn();
        let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(20_000).arg("k").arg(200).query(&mut c).unwrap();
        let replica = Node::start_replica_of(kind, master.port, &["--maxmemory-policy", "allkeys-random"]);
        wait_in_sync(&master, &replica, LONG);
        let used = replica.info_u64("memory", "used_memory");
        // Well below what the keys take (20000 x 200 bytes is over 4 MB).
        set(&replica, "maxmemory", &(used - 2_000_000).to_string());
        // A write through the stream runs the replica's eviction check (as a command
        // does): with the default, nothing goes.
        let _: () = redis::cmd("SET").arg("after").arg("1").query(&mut c).unwrap();
        wait_in_sync(&master, &replica, LONG);
        assert_eq!(replica.info_u64("stats", "evicted_keys"), 0, "{kind:?}");
        let keys: u64 = redis::cmd("DBSIZE").query(&mut replica.conn()).unwrap();
        assert_eq!(keys, 20_001, "{kind:?}");

        set(&replica, "replica-ignore-maxmemory", "no");
        let _: () = redis::cmd("SET").arg("after").arg("2").query(&mut c).unwrap();
        assert!(
            wait_until(LONG, || replica.info_u64("stats", "evicted_keys") > 0),
            "{kind:?}: the replica never evicted"
        );
        let keys: u64 = redis::cmd("DBSIZE").query(&mut replica.conn()).unwrap();
        assert!(keys < 20_001, "{kind:?}: {keys}");
    }
}

/// `replica-lazy-flush yes`: the dataset a full sync replaces is freed lazily and
/// counted in INFO memory `lazyfreed_objects` (one per key, as Redis counts an async
/// flush); `no` frees it at once, counted nowhere. Same on redis-server.
#[test]
fn replica_lazy_flush_frees_the_old_dataset_lazily() {
    for kind in [Kind::Shardis(2), Kind::Redis] {
        for lazy in ["yes", "no"] {
            let master = Node::start(Kind::Shardis(1), &[]);
            populate(&master, 10);
            let replica = Node::start(kind, &["--replica-lazy-flush", lazy]);
            populate(&replica, 1000);
            let before = replica.info_u64("memory", "lazyfreed_objects");
            replica.replicaof(Some(master.port));
            wait_in_sync(&master, &replica, LONG);
            let keys: u64 = redis::cmd("DBSIZE").query(&mut replica.conn()).unwrap();
            assert_eq!(keys, 10, "{kind:?} lazy {lazy}: the old keys are gone");
            let freed = || {
                replica.info_u64("memory", "lazyfreed_objects") + replica.info_u64("memory", "lazyfree_pending_objects")
                    - before
            };
            if lazy == "yes" {
                assert!(wait_until(LONG, || freed() == 1000), "{kind:?}: {} lazily freed", freed());
                assert!(wait_until(LONG, || replica.info_u64("memory", "lazyfree_pending_objects") == 0));
            } else {
                assert_eq!(freed(), 0, "{kind:?} lazy no");
            }
        }
    }
}

/// `rdb-del-sync-files yes` with persistence off: the RDB a replica received is
/// deleted once loaded; `no` keeps it as the replica's dump.rdb. Same on redis-server.
#[test]
fn rdb_del_sync_files_removes_the_received_rdb() {
    for kind in [Kind::Shardis(2), Kind::Redis] {
        for del in ["yes", "no"] {
            let master = Node::start(Kind::Shardis(1), &[]);
            populate(&master, 100);
            let replica = Node::start(
                kind,
                &["--save", "", "--appendonly", "no", "--repl-diskless-load", "disabled", "--rdb-del-sync-files", del],
            );
            replica.replicaof(Some(master.port));
            wait_in_sync(&master, &replica, LONG);
            let kept = in_dir(&replica, "dump.rdb").exists();
            if del == "yes" {
                // redis-server unlinks it in the background: wait for it.
                assert!(wait_until(LONG, || !in_dir(&replica, "dump.rdb").exists()), "{kind:?}: dump.rdb kept");
            } else {
                assert!(kept, "{kind:?}: dump.rdb removed with rdb-del-sync-files no");
            }
        }
    }
}

/// `propagation-error-behavior`: a command from the master that fails on a
/// read-only replica is logged and ignored by default; `panic-on-replicas` stops the
/// replica. Same on redis-server.
#[test]
fn propagation_error_behavior_decides_whether_the_replica_stops() {
    for kind in [Kind::Shardis(1), Kind::Redis] {
        let fake = FakeMaster::start(Misbehave::FailingCommand);
        let mut ignore = Node::start(kind, &[]);
        ignore.replicaof(Some(fake.port));
        assert!(
            wait_until(LONG, || ignore.log().iter().any(|l| l.contains("== CRITICAL =="))),
            "{kind:?}: {:?}",
            ignore.log()
        );
        assert!(ignore.is_running(), "{kind:?} stopped under ignore");
        assert_eq!(get(&ignore, "propagation-error-behavior"), "ignore");

        let fake = FakeMaster::start(Misbehave::FailingCommand);
        let mut panics = Node::start(kind, &["--propagation-error-behavior", "panic-on-replicas"]);
        panics.replicaof(Some(fake.port));
        assert!(wait_until(LONG, || !panics.is_running()), "{kind:?} kept running");
        assert!(
            panics.log().iter().any(|l| l.contains("panicked sending an error to its master")),
            "{kind:?}: {:?}",
            panics.log()
        );
    }
}

// ---------------------------------------------------------------------------
// Timers, crashes, files, pools
// ---------------------------------------------------------------------------

/// `dynamic-hz yes`: with more than 200 clients per tick, INFO server `hz` doubles
/// (`configured_hz` stays); `no` keeps it. Same on redis-server.
#[test]
fn dynamic_hz_follows_the_client_count() {
    for kind in [Kind::Shardis(2), Kind::Redis] {
        let n = Node::start(kind, &["--hz", "1"]);
        let hz = || n.info_u64("server", "hz");
        assert!(wait_until(LONG, || hz() == 1), "{kind:?}: {}", hz());
        let clients: Vec<redis::Connection> = (0..250).map(|_| n.conn()).collect();
        assert!(wait_until(LONG, || n.info_u64("clients", "connected_clients") > 250));
        assert!(wait_until(LONG, || hz() == 2), "{kind:?}: hz {}", hz());
        assert_eq!(n.info_u64("server", "configured_hz"), 1);
        set(&n, "dynamic-hz", "no");
        assert!(wait_until(LONG, || hz() == 1), "{kind:?}: hz {}", hz());
        drop(clients);
    }
}

/// `crash-log-enabled no`: a panic's report is the message and the end line, without
/// the stack trace (set at start or by CONFIG SET); the default writes it.
#[test]
fn crash_log_enabled_decides_whether_a_stack_trace_is_written() {
    for (flags, set_to, trace) in
        [(&[][..], None, true), (&["--crash-log-enabled", "no"][..], None, false), (&[][..], Some("no"), false)]
    {
        let mut n = Node::start(Kind::Shardis(1), flags);
        if let Some(v) = set_to {
            set(&n, "crash-log-enabled", v);
        }
        let _ = redis::cmd("DEBUG").arg("PANIC").query::<()>(&mut n.conn());
        assert!(wait_until(LONG, || !n.is_running()), "DEBUG PANIC did not end the server");
        assert!(wait_until(LONG, || n.log().iter().any(|l| l.contains("BUG REPORT END"))), "{flags:?}: {:?}", n.log());
        let log = n.log();
        assert!(log.iter().any(|l| l.contains("BUG REPORT START")), "{flags:?}: {log:?}");
        assert_eq!(log.iter().any(|l| l.contains("STACK TRACE")), trace, "{flags:?} {set_to:?}: {log:?}");
    }
}

/// `rdb-save-incremental-fsync` / `aof-rewrite-incremental-fsync yes`: a snapshot
/// or rewrite base of over 8 MB is synced every 4 MB on the way (logged at verbose
/// level with the count); `no`: only at the end.
#[test]
fn incremental_fsync_syncs_every_4mb() {
    for on in ["yes", "no"] {
        let flags = [
            "--loglevel",
            "verbose",
            "--rdbcompression",
            "no",
            "--rdb-save-incremental-fsync",
            on,
            "--aof-rewrite-incremental-fsync",
            on,
        ];
        let n = Node::start(Kind::Shardis(1), &flags);
        let mut c = n.conn();
        let _: () = redis::cmd("DEBUG").arg("POPULATE").arg(20_000).arg("k").arg(512).query(&mut c).unwrap();
        let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
        set(&n, "appendonly", "yes");
        assert!(wait_until(LONG, || n.info_u64("persistence", "aof_rewrite_in_progress") == 0
            && n.info_u64("persistence", "aof_rewrites") >= 1));
        let synced = |what: &str| {
            n.log().iter().any(|l| l.contains(&format!("{what}: ")) && l.contains("incremental fsyncs while writing"))
        };
        if on == "yes" {
            assert!(wait_until(LONG, || synced("RDB") && synced("AOF rewrite")), "{:?}", n.log());
        } else {
            assert!(!synced("RDB") && !synced("AOF rewrite"), "{:?}", n.log());
        }
    }
}

/// `cluster-allow-pubsubshard-when-down`: in a pool with unassigned slots (down),
/// SPUBLISH is still served by default, as in Redis 7.0, and refused with `no`;
/// reads and writes are refused either way.
#[test]
fn cluster_allow_pubsubshard_when_down_serves_shard_channels() {
    let n = Node::start(Kind::Shardis(1), &["--cluster-enabled", "yes"]);
    let mut c = n.conn();
    let _: () = redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(0).arg(8191).query(&mut c).unwrap();
    // A channel in one of our slots.
    let slot = |name: &str| -> i64 { redis::cmd("CLUSTER").arg("KEYSLOT").arg(name).query(&mut n.conn()).unwrap() };
    let b = (0..).map(|i| format!("ch{i}")).find(|name| slot(name) < 8192).unwrap();
    let b = b.as_str();
    let mut raw = common::raw_to(n.port);
    let down = |r: Resp| matches!(&r, Resp::Error(e) if e.starts_with("CLUSTERDOWN"));
    assert_eq!(raw.cmd(&["SPUBLISH", b, "m"]), Resp::Int(0));
    assert!(down(raw.cmd(&["GET", b])));
    set(&n, "cluster-allow-pubsubshard-when-down", "no");
    assert!(down(raw.cmd(&["SPUBLISH", b, "m"])));
    assert!(down(raw.cmd(&["GET", b])));
}
