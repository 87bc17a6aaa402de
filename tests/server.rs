//! Integration tests for the server-level commands against the real binary: INFO,
//! CONFIG, CLIENT, COMMAND, DEBUG, FLUSHDB/SWAPDB and SHUTDOWN, with one and with
//! several shards (connections then land on different shard threads).

use crate::common;

use common::{Resp, SHARD_COUNTS, Server, temp_dir, wait_until};
use std::collections::HashMap;
use std::time::Duration;

fn text(r: Resp) -> String {
    match r {
        Resp::Bulk(b) => String::from_utf8(b).expect("utf8"),
        Resp::Verbatim(_, b) => String::from_utf8(b).expect("utf8"),
        other => panic!("expected a bulk or verbatim string, got {other:?}"),
    }
}

/// INFO text as `field -> value`, with `#section` keys for the headers.
fn parse_info(s: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for line in s.split("\r\n") {
        if let Some(sec) = line.strip_prefix("# ") {
            m.insert(format!("#{}", sec.to_ascii_lowercase()), String::new());
        } else if let Some((k, v)) = line.split_once(':') {
            m.insert(k.to_string(), v.to_string());
        } else {
            assert!(line.is_empty(), "unexpected INFO line {line:?}");
        }
    }
    m
}

fn ok() -> Resp {
    Resp::simple("OK")
}

#[test]
fn info_sections_and_fields() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut c = s.conn();
        redis::cmd("MSET").arg("a").arg(1).arg("b").arg(2).arg("c").arg(3).query::<()>(&mut c).unwrap();
        redis::cmd("GET").arg("a").query::<String>(&mut c).unwrap();
        let info: String = redis::cmd("INFO").query(&mut c).unwrap();
        assert!(info.starts_with("# Server\r\nredis_version:7.0.15\r\n"), "{info}");
        let m = parse_info(&info);
        for sec in ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "keyspace"] {
            assert!(m.contains_key(&format!("#{sec}")), "INFO lacks section {sec}");
        }
        assert_eq!(m["tcp_port"], s.port.to_string());
        assert_eq!(m["process_id"], s.pid().to_string());
        assert_eq!(m["redis_mode"], "standalone");
        assert_eq!(m["role"], "master");
        assert_eq!(m["db0"], "keys=3,expires=0,avg_ttl=0");
        assert!(m["connected_clients"].parse::<u64>().unwrap() >= 1);
        assert!(m["total_connections_received"].parse::<u64>().unwrap() >= 1);
        assert!(m["total_commands_processed"].parse::<u64>().unwrap() >= 2);
        assert!(m["total_net_input_bytes"].parse::<u64>().unwrap() > 0);
        assert!(m["used_memory"].parse::<u64>().unwrap() > 0);
        assert!(m["used_memory_rss"].parse::<u64>().unwrap() > 0);
        assert_eq!(m["keyspace_hits"], "1");
        assert!(m["uptime_in_seconds"].parse::<u64>().is_ok());
        assert_eq!(m["master_replid"].len(), 40);
        assert!(m["used_cpu_user"].parse::<f64>().is_ok());

        let only: String = redis::cmd("INFO").arg("keyspace").arg("commandstats").query(&mut c).unwrap();
        let m = parse_info(&only);
        assert!(!m.contains_key("#server"));
        assert!(m["cmdstat_mset"].starts_with("calls=1,usec="), "{only}");
        assert!(m["cmdstat_info"].starts_with("calls="), "{only}");

        // RESP3 clients get a verbatim string.
        let mut raw = s.raw();
        assert!(matches!(raw.cmd(&["HELLO", "3"]), Resp::Map(_)));
        match raw.cmd(&["INFO", "server"]) {
            Resp::Verbatim(fmt, body) => {
                assert_eq!(fmt, "txt");
                assert!(body.starts_with(b"# Server\r\n"));
            }
            other => panic!("expected verbatim, got {other:?}"),
        }
    }
}

#[test]
fn config_get_all_then_set_each_to_itself() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        let Resp::Array(flat) = raw.cmd(&["CONFIG", "GET", "*"]) else { panic!("CONFIG GET * is an array") };
        assert!(flat.len() > 100 && flat.len() % 2 == 0, "{} items", flat.len());
        let mut mutable = 0;
        for pair in flat.chunks(2) {
            let (name, value) = (text(pair[0].clone()), text(pair[1].clone()));
            match raw.cmd(&["CONFIG", "SET", &name, &value]) {
                Resp::Simple(o) if o == "OK" => mutable += 1,
                Resp::Error(e) if e.ends_with("can't set immutable config") => {}
                // `dir`, `dbfilename` under `enable-protected-configs no` (Redis 7.0).
                Resp::Error(e) if e.ends_with("can't set protected config") => {
                    assert!(name == "dir" || name == "dbfilename", "{name} is protected")
                }
                other => panic!("CONFIG SET {name} {value:?}: {other:?}"),
            }
            // Setting a value to itself changes nothing.
            let Resp::Array(again) = raw.cmd(&["CONFIG", "GET", &name]) else { panic!() };
            assert_eq!(again.get(1).cloned().map(text), Some(value), "{name}");
        }
        assert!(mutable > 50, "only {mutable} mutable parameters");
    }
}

#[test]
fn config_set_is_all_or_nothing() {
    let s = Server::start(2, &[]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["CONFIG", "SET", "hz", "33", "maxmemory-policy", "allkeys-lru"]), ok());
    let r = raw.cmd(&["CONFIG", "SET", "hz", "44", "maxmemory", "lots"]);
    assert_eq!(
        r,
        Resp::err("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value")
    );
    assert_eq!(raw.cmd(&["CONFIG", "GET", "hz"]), Resp::Array(vec![Resp::bulk("hz"), Resp::bulk("33")]));
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "nosuch", "1"]),
        Resp::err("ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'")
    );
    // INFO reflects the change from every shard's snapshot.
    let m = parse_info(&text(raw.cmd(&["INFO", "server", "memory"])));
    assert_eq!(m["hz"], "33");
    assert_eq!(m["maxmemory_policy"], "allkeys-lru");
    assert_eq!(raw.cmd(&["CONFIG", "REWRITE"]), Resp::err("ERR The server is running without a config file"));
}

#[test]
fn config_rewrite_updates_the_file() {
    let dir = temp_dir("conf");
    let conf = dir.join("shardis.conf");
    std::fs::write(&conf, "# my settings\nhz 15\nslowlog-max-len 10\n").unwrap();
    let s = Server::start_with_config_file(&conf, 2, &[]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["CONFIG", "GET", "hz"]), Resp::Array(vec![Resp::bulk("hz"), Resp::bulk("15")]));
    assert_eq!(raw.cmd(&["CONFIG", "SET", "hz", "25", "slowlog-max-len", "128"]), ok());
    assert_eq!(raw.cmd(&["CONFIG", "REWRITE"]), ok());
    let after = std::fs::read_to_string(&conf).unwrap();
    assert!(after.contains("# my settings"), "{after}");
    assert!(after.lines().any(|l| l == "hz 25"), "{after}");
    assert!(!after.lines().any(|l| l == "hz 15"), "{after}");
    let m = parse_info(&text(raw.cmd(&["INFO", "server"])));
    assert_eq!(m["config_file"], std::fs::canonicalize(&conf).unwrap().display().to_string());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

fn client_id(raw: &mut common::Raw) -> i64 {
    match raw.cmd(&["CLIENT", "ID"]) {
        Resp::Int(i) => i,
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_setname_list_kill_across_connections() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut conns: Vec<common::Raw> = (0..6).map(|_| s.raw()).collect();
        let mut ids = Vec::new();
        for (i, c) in conns.iter_mut().enumerate() {
            assert_eq!(c.cmd(&["CLIENT", "SETNAME", &format!("conn-{i}")]), ok());
            assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Resp::bulk(&format!("conn-{i}")));
            ids.push(client_id(c));
        }
        let list = text(conns[0].cmd(&["CLIENT", "LIST"]));
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.len(), 6, "{list}");
        for (i, id) in ids.iter().enumerate() {
            let line = lines.iter().find(|l| l.starts_with(&format!("id={id} "))).expect("listed");
            assert!(line.contains(&format!(" name=conn-{i} ")), "{line}");
            assert!(
                line.contains(" laddr=127.0.0.1:") && line.contains(" db=0 ") && line.contains(" resp=2"),
                "{line}"
            );
        }
        let own = lines.iter().find(|l| l.starts_with(&format!("id={} ", ids[0]))).unwrap();
        assert!(own.contains(" cmd=client|list "), "{own}");
        let some = text(conns[0].cmd(&["CLIENT", "LIST", "ID", &ids[2].to_string(), &ids[4].to_string()]));
        assert_eq!(some.lines().count(), 2);

        // New form by id: the victim's connection is closed.
        assert_eq!(conns[0].cmd(&["CLIENT", "KILL", "ID", &ids[1].to_string()]), Resp::Int(1));
        conns[1].r.expect_closed();
        // Old form by address, taken from the victim's own CLIENT INFO.
        let info = text(conns[2].cmd(&["CLIENT", "INFO"]));
        let addr = info.split(' ').find_map(|f| f.strip_prefix("addr=")).unwrap().to_string();
        assert_eq!(conns[0].cmd(&["CLIENT", "KILL", &addr]), ok());
        conns[2].r.expect_closed();
        assert_eq!(conns[0].cmd(&["CLIENT", "KILL", &addr]), Resp::err("ERR No such client"));
        // SKIPME (default yes) protects the caller from a filter that matches everyone.
        assert_eq!(conns[0].cmd(&["CLIENT", "KILL", "TYPE", "normal"]), Resp::Int(3));
        for c in &mut conns[3..] {
            c.r.expect_closed();
        }
        assert_eq!(conns[0].cmd(&["PING"]), Resp::simple("PONG"));
        let mut c0 = conns.swap_remove(0);
        assert!(wait_until(Duration::from_secs(10), || text(c0.cmd(&["CLIENT", "LIST"])).lines().count() == 1));
    }
}

#[test]
fn client_reply_off_skip_on() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        let mut pipe = Vec::new();
        for cmd in [
            &["CLIENT", "REPLY", "OFF"][..],
            &["SET", "k1", "v1"],
            &["GET", "k1"],
            &["CLIENT", "REPLY", "ON"],
            &["GET", "k1"],
            &["CLIENT", "REPLY", "SKIP"],
            &["GET", "k1"],
            &["PING"],
        ] {
            common::encode_cmd_into(&mut pipe, cmd);
        }
        raw.send(&pipe);
        assert_eq!(raw.read(), ok(), "CLIENT REPLY ON is answered");
        assert_eq!(raw.read(), Resp::bulk("v1"));
        assert_eq!(raw.read(), Resp::simple("PONG"), "the GET after SKIP is not answered");
    }
}

#[test]
fn client_pause_write_holds_writes_until_unpause() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut admin = s.raw();
        let mut others: Vec<common::Raw> = (0..4).map(|_| s.raw()).collect();
        assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), ok());
        for (i, c) in others.iter_mut().enumerate() {
            // Reads go through during a WRITE pause.
            assert_eq!(c.cmd(&["GET", "x"]), Resp::NilBulk);
            c.send(&common::encode_cmd(&["SET", &format!("k{i}"), "v"]));
        }
        assert_eq!(admin.cmd(&["DBSIZE"]), Resp::Int(0), "writes are held");
        assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
        for c in &mut others {
            assert_eq!(c.read(), ok());
        }
        assert_eq!(admin.cmd(&["DBSIZE"]), Resp::Int(4));
    }
}

/// A write held by a pause after its big argument was read into its own buffer
/// (`net::conn`'s `adopt_big_arg`) left nothing of itself in the read buffer: it must
/// still run at UNPAUSE, alone or with a small request pipelined behind it. (It did
/// not: the connection waited for input it had already parsed. The same wait held a
/// pipelined big SET behind a hop to another shard, `cmd::order`.)
#[test]
fn a_held_write_with_a_big_argument_runs_after_unpause() {
    const BIG: usize = 5 << 20;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut admin = s.raw();
        assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), ok());
        let value = vec![b'v'; BIG];
        let mut alone = s.raw();
        alone.send(&common::encode_cmd(&[&b"SET"[..], b"big1", &value]));
        let mut followed = s.raw();
        let mut req = common::encode_cmd(&[&b"SET"[..], b"big2", &value]);
        common::encode_cmd_into(&mut req, &["SET", "after", "1"]);
        followed.send(&req);
        // Both requests are parsed and held: CLIENT LIST counts their arguments.
        let held = || {
            let Resp::Bulk(list) = s.raw().cmd(&["CLIENT", "LIST"]) else { return false };
            let list = String::from_utf8_lossy(&list).into_owned();
            list.lines()
                .filter(|l| {
                    l.split(' ')
                        .find_map(|f| f.strip_prefix("argv-mem="))
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|n| n >= BIG)
                })
                .count()
                == 2
        };
        assert!(common::wait_until(Duration::from_secs(20), held), "both big writes are held ({shards} shards)");
        assert_eq!(admin.cmd(&["DBSIZE"]), Resp::Int(0), "writes are held");
        assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
        assert_eq!(alone.read(), ok(), "the lone big SET ran ({shards} shards)");
        assert_eq!(followed.read(), ok(), "the big SET ran ({shards} shards)");
        assert_eq!(followed.read(), ok(), "the SET behind it ran ({shards} shards)");
        assert_eq!(admin.cmd(&["STRLEN", "big1"]), Resp::Int(BIG as i64));
        assert_eq!(admin.cmd(&["STRLEN", "big2"]), Resp::Int(BIG as i64));
        assert_eq!(admin.cmd(&["GET", "after"]), Resp::bulk("1"));
    }
}

#[test]
fn command_count_info_docs_getkeys() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut c = s.conn();
        let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
        let all: Vec<redis::Value> = redis::cmd("COMMAND").query(&mut c).unwrap();
        assert_eq!(count as usize, all.len());
        // COMMAND LIST names subcommands too (`config|get`), as Redis 7.0 does.
        let names: Vec<String> = redis::cmd("COMMAND").arg("LIST").query(&mut c).unwrap();
        assert_eq!(names.iter().filter(|n| !n.contains('|')).count(), all.len());
        assert!(names.iter().any(|n| n == "config|get"), "subcommands listed");
        for n in ["get", "set", "info", "config", "client", "command", "debug", "flushdb", "swapdb", "shutdown"] {
            assert!(names.iter().any(|x| x == n), "{n} listed");
        }
        let mut raw = s.raw();
        let Resp::Array(v) = raw.cmd(&["COMMAND", "INFO", "get"]) else { panic!() };
        let Resp::Array(get) = &v[0] else { panic!("{v:?}") };
        assert_eq!(get.len(), 10);
        assert_eq!(get[0], Resp::bulk("get"));
        assert_eq!(get[1], Resp::Int(2));
        assert!(matches!(&get[2], Resp::Array(f) if f.contains(&Resp::simple("readonly"))));
        assert_eq!(&get[3..6], &[Resp::Int(1), Resp::Int(1), Resp::Int(1)]);
        assert!(
            matches!(&get[6], Resp::Array(f) if f.contains(&Resp::simple("@read")) && f.contains(&Resp::simple("@string")))
        );
        assert_eq!(
            raw.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
            Resp::Array(vec![Resp::bulk("a"), Resp::bulk("b")])
        );
        let Resp::Array(docs) = raw.cmd(&["COMMAND", "DOCS", "set"]) else { panic!() };
        assert_eq!(docs[0], Resp::bulk("set"));
        assert_eq!(raw.cmd(&["COMMAND", "FOO"]), Resp::err("ERR unknown subcommand 'FOO'. Try COMMAND HELP."));
    }
}

fn digest(raw: &mut common::Raw) -> String {
    match raw.cmd(&["DEBUG", "DIGEST"]) {
        Resp::Simple(d) => d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn debug_digest_tracks_the_dataset() {
    let mut digests = Vec::new();
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        assert_eq!(digest(&mut raw), "0".repeat(40));
        for i in 0..50 {
            assert_eq!(raw.cmd(&["SET", &format!("key:{i}"), &format!("value-{i}")]), ok());
        }
        assert_eq!(raw.cmd(&["SELECT", "3"]), ok());
        assert_eq!(raw.cmd(&["SET", "other", "db"]), ok());
        let d = digest(&mut raw);
        assert_eq!(digest(&mut raw), d, "stable without writes");
        assert_eq!(raw.cmd(&["SET", "other", "changed"]), ok());
        let d2 = digest(&mut raw);
        assert_ne!(d, d2);
        assert_eq!(raw.cmd(&["SET", "other", "db"]), ok());
        assert_eq!(digest(&mut raw), d);
        match raw.cmd(&["DEBUG", "OBJECT", "other"]) {
            Resp::Simple(l) => assert!(l.starts_with("Value at:") && l.contains(" encoding:embstr "), "{l}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(raw.cmd(&["DEBUG", "OBJECT", "nope"]), Resp::err("ERR no such key"));
        digests.push(d);
    }
    assert_eq!(digests[0], digests[1], "the same dataset digests the same whatever the shard count");
}

#[test]
fn flushdb_and_swapdb() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        for i in 0..20 {
            raw.cmd(&["SET", &format!("k{i}"), "v"]);
        }
        assert_eq!(raw.cmd(&["SWAPDB", "0", "5"]), ok());
        assert_eq!(raw.cmd(&["DBSIZE"]), Resp::Int(0));
        assert_eq!(raw.cmd(&["SELECT", "5"]), ok());
        assert_eq!(raw.cmd(&["DBSIZE"]), Resp::Int(20));
        assert_eq!(raw.cmd(&["GET", "k7"]), Resp::bulk("v"));
        // Another connection with db 0 selected sees the swap too.
        let mut other = s.raw();
        assert_eq!(other.cmd(&["DBSIZE"]), Resp::Int(0));
        assert_eq!(raw.cmd(&["FLUSHDB"]), ok());
        assert_eq!(raw.cmd(&["DBSIZE"]), Resp::Int(0));
        assert_eq!(other.cmd(&["SET", "a", "1"]), ok());
        assert_eq!(raw.cmd(&["FLUSHALL", "SYNC"]), ok());
        assert_eq!(other.cmd(&["DBSIZE"]), Resp::Int(0));
        assert_eq!(raw.cmd(&["SWAPDB", "0", "99"]), Resp::err("ERR DB index is out of range"));
        let Resp::Array(t) = raw.cmd(&["TIME"]) else { panic!() };
        assert_eq!(t.len(), 2);
        assert!(matches!(raw.cmd(&["LASTSAVE"]), Resp::Int(n) if n > 0));
    }
}

#[test]
fn shutdown_exits_cleanly() {
    for shards in SHARD_COUNTS {
        let mut s = Server::start(shards, &[]);
        let mut raw = s.raw();
        let _idle = s.raw();
        assert_eq!(raw.cmd(&["SHUTDOWN", "ABORT"]), Resp::err("ERR No shutdown in progress."));
        raw.send(&common::encode_cmd(&["SHUTDOWN", "NOSAVE"]));
        raw.r.expect_closed();
        let status = s.wait_exit(Duration::from_secs(20)).expect("server exits after SHUTDOWN");
        assert!(status.success(), "exit status {status:?}");
    }
}
