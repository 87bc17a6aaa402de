//! Wire-protocol behaviour seen through a real socket: pipelining (including
//! pipelines whose keys alternate between shards, where replies come back from other
//! threads and must still leave in request order), inline commands, RESP3, protocol
//! errors (reply, close, and no harm to other clients), and error texts.
//!
//! Every test runs with 1 and 4 shards: with one shard everything is local, with four
//! most keys are remote, which exercises the reply-slot ordering path.

use crate::common;

use common::{Resp, SHARD_COUNTS, Server, encode_cmd, encode_cmd_into};
use std::collections::HashMap;
use std::io::Write;

/// Keys spread over every shard: the test asserts the spread so a routing change can't
/// silently turn a cross-shard test into a local one.
fn spread_keys(prefix: &str, n: usize, shards: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    if shards > 1 {
        let mut seen = vec![false; shards];
        for k in &keys {
            seen[shardis::util::hash::shard_of(k.as_bytes(), shards)] = true;
        }
        assert!(seen.iter().all(|&s| s), "keys {prefix}* do not cover all {shards} shards");
    }
    keys
}

#[test]
fn pipeline_of_10000_mixed_commands_in_one_write() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        let keys = spread_keys("pk", 200, shards);
        let counters = spread_keys("pc", 40, shards);
        // A model of the keyspace gives the expected reply of every request.
        let mut model: HashMap<String, Vec<u8>> = HashMap::new();
        let mut req = Vec::new();
        let mut expected = Vec::new();
        for i in 0..10_000usize {
            match i % 3 {
                0 => {
                    let k = &keys[(i * 7) % keys.len()];
                    let v = format!("v{i}");
                    encode_cmd_into(&mut req, &["SET", k, &v]);
                    model.insert(k.clone(), v.into_bytes());
                    expected.push(Resp::simple("OK"));
                }
                1 => {
                    let k = &keys[(i * 13) % keys.len()];
                    encode_cmd_into(&mut req, &["GET", k]);
                    expected.push(model.get(k).map(|v| Resp::Bulk(v.clone())).unwrap_or(Resp::NilBulk));
                }
                _ => {
                    let k = &counters[i % counters.len()];
                    encode_cmd_into(&mut req, &["INCR", k]);
                    let n = model.get(k).map(|v| String::from_utf8_lossy(v).parse::<i64>().unwrap()).unwrap_or(0) + 1;
                    model.insert(k.clone(), n.to_string().into_bytes());
                    expected.push(Resp::Int(n));
                }
            }
        }
        // Write from another thread so a full socket buffer on our side can never
        // deadlock against the server's output.
        let mut w = raw.w.try_clone().unwrap();
        let writer = std::thread::spawn(move || w.write_all(&req).expect("write pipeline"));
        for (i, want) in expected.iter().enumerate() {
            let got = raw.read();
            assert_eq!(&got, want, "reply {i} of the pipeline ({shards} shards)");
        }
        writer.join().unwrap();
        // Nothing extra follows, and the connection is still usable.
        assert_eq!(raw.cmd(&["PING"]), Resp::simple("PONG"));
        let mut c = s.conn();
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(dbsize as usize, model.len(), "{shards} shards");
    }
}

#[test]
fn pipelined_replies_stay_in_order_when_keys_alternate_between_shards() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let keys = spread_keys("alt", 64, shards);
        let mut c = s.conn();
        for (i, k) in keys.iter().enumerate() {
            let _: () = redis::cmd("SET").arg(k).arg(format!("value-of-{i}")).query(&mut c).unwrap();
        }
        let mut raw = s.raw();
        // Order keys so consecutive requests go to different shards where possible,
        // and interleave keyless commands (answered locally, at once) and misses.
        let mut req = Vec::new();
        let mut expected = Vec::new();
        for round in 0..20 {
            for (i, k) in keys.iter().enumerate() {
                encode_cmd_into(&mut req, &["GET", k]);
                expected.push(Resp::bulk(&format!("value-of-{i}")));
                if i % 5 == round % 5 {
                    encode_cmd_into(&mut req, &["ECHO", &format!("e{round}-{i}")]);
                    expected.push(Resp::bulk(&format!("e{round}-{i}")));
                }
                if i % 7 == 0 {
                    encode_cmd_into(&mut req, &["GET", &format!("missing{i}")]);
                    expected.push(Resp::NilBulk);
                }
                if i % 11 == 0 {
                    // A multi-key read spanning shards in the middle of the pipeline.
                    let a = &keys[i];
                    let b = &keys[(i + 1) % keys.len()];
                    encode_cmd_into(&mut req, &["MGET", a, b]);
                    expected.push(Resp::Array(vec![
                        Resp::bulk(&format!("value-of-{i}")),
                        Resp::bulk(&format!("value-of-{}", (i + 1) % keys.len())),
                    ]));
                }
            }
        }
        raw.send(&req);
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(&raw.read(), want, "reply {i} ({shards} shards)");
        }
    }
}

#[test]
fn inline_commands() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        raw.send(b"PING\r\n");
        assert_eq!(raw.read(), Resp::simple("PONG"));
        raw.send(b"SET a \"hello world\"\r\n");
        assert_eq!(raw.read(), Resp::simple("OK"));
        raw.send(b"GET a\r\n");
        assert_eq!(raw.read(), Resp::bulk("hello world"));
        // Bare LF terminators, blank lines, and several inline commands in one write.
        raw.send(b"\r\n\nECHO 'single quoted'\nset b \"tab\\there\"\r\nget b\r\n");
        assert_eq!(raw.read(), Resp::bulk("single quoted"));
        assert_eq!(raw.read(), Resp::simple("OK"));
        assert_eq!(raw.read(), Resp::bulk("tab\there"));
        // Inline and multibulk requests mix freely.
        let mut mixed = b"ping inline\r\n".to_vec();
        mixed.extend_from_slice(&encode_cmd(&["GET", "a"]));
        mixed.extend_from_slice(b"EXISTS a b nope\r\n");
        raw.send(&mixed);
        assert_eq!(raw.read(), Resp::bulk("inline"));
        assert_eq!(raw.read(), Resp::bulk("hello world"));
        assert_eq!(raw.read(), Resp::Int(2));
        // An inline request split across writes is assembled.
        raw.send(b"EC");
        raw.w.flush().unwrap();
        raw.send(b"HO split\r\n");
        assert_eq!(raw.read(), Resp::bulk("split"));
        // Unbalanced quotes are a protocol error that closes the connection.
        raw.send(b"SET x \"oops\r\n");
        assert_eq!(raw.read(), Resp::err("ERR Protocol error: unbalanced quotes in request"));
        raw.r.expect_closed();
    }
}

#[test]
fn resp3_via_hello() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        // RESP2 HELLO: a flat array of 14 elements.
        match raw.cmd(&["HELLO", "2"]) {
            Resp::Array(v) => {
                assert_eq!(v.len(), 14);
                assert_eq!(v[0], Resp::bulk("server"));
                assert_eq!(v[5], Resp::Int(2));
            }
            other => panic!("HELLO 2 gave {other:?}"),
        }
        assert_eq!(raw.cmd(&["GET", "nokey"]), Resp::NilBulk);
        match raw.cmd(&["HELLO", "3"]) {
            Resp::Map(m) => {
                let get = |name: &str| m.iter().find(|(k, _)| *k == Resp::bulk(name)).map(|(_, v)| v.clone());
                assert_eq!(get("server"), Some(Resp::bulk("redis")));
                assert_eq!(get("proto"), Some(Resp::Int(3)));
                assert_eq!(get("mode"), Some(Resp::bulk("standalone")));
                assert_eq!(get("role"), Some(Resp::bulk("master")));
                assert!(matches!(get("version"), Some(Resp::Bulk(_))));
                assert!(matches!(get("id"), Some(Resp::Int(_))));
                assert_eq!(get("modules"), Some(Resp::Array(vec![])));
            }
            other => panic!("HELLO 3 gave {other:?}"),
        }
        // Nulls are `_` in RESP3, for single keys and inside arrays; that holds for
        // replies produced on other shards too.
        for k in ["nokey", "other", "a", "b", "c", "d"] {
            assert_eq!(raw.cmd(&["GET", k]), Resp::Null, "GET {k}");
        }
        assert_eq!(raw.cmd(&["SET", "present", "1"]), Resp::simple("OK"));
        assert_eq!(
            raw.cmd(&["MGET", "present", "nokey", "a", "b"]),
            Resp::Array(vec![Resp::bulk("1"), Resp::Null, Resp::Null, Resp::Null])
        );
        // Errors are the same in both protocols; HELLO with a bad version is refused.
        assert_eq!(raw.cmd(&["HELLO", "4"]), Resp::err("NOPROTO unsupported protocol version"));
        assert_eq!(raw.cmd(&["HELLO", "x"]), Resp::err("ERR Protocol version is not an integer or out of range"));
        // Back to RESP2.
        assert!(matches!(raw.cmd(&["HELLO", "2"]), Resp::Array(_)));
        assert_eq!(raw.cmd(&["GET", "nokey"]), Resp::NilBulk);
    }
}

/// Malformed requests: each gets Redis's protocol error, then the connection is
/// closed. Requests before it in the same write are answered first; other clients
/// and the data are unaffected.
#[test]
fn malformed_resp_closes_only_the_offender() {
    let cases: &[(&[u8], &str)] = &[
        (b"*abc\r\n", "ERR Protocol error: invalid multibulk length"),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n+x\r\n", "ERR Protocol error: expected '$', got '+'"),
        (b"*2\r\n$3\r\nGET\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'"),
        (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*3000000000\r\n", "ERR Protocol error: invalid multibulk length"),
    ];
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut good = s.conn();
        let keys = spread_keys("intact", 16, shards);
        for k in &keys {
            let _: () = redis::cmd("SET").arg(k).arg(format!("{k}-value")).query(&mut good).unwrap();
        }
        for (bytes, msg) in cases {
            let mut bad = s.raw();
            let mut req = encode_cmd(&["SET", "before", "1"]);
            req.extend_from_slice(b"PING\r\n");
            req.extend_from_slice(bytes);
            // Anything after the bad request must be ignored.
            req.extend_from_slice(&encode_cmd(&["SET", "after", "1"]));
            bad.send(&req);
            assert_eq!(bad.read(), Resp::simple("OK"));
            assert_eq!(bad.read(), Resp::simple("PONG"));
            assert_eq!(bad.read(), Resp::err(msg), "reply to {:?}", String::from_utf8_lossy(bytes));
            bad.r.expect_closed();
            // The other client keeps working and sees intact data.
            let pong: String = redis::cmd("PING").query(&mut good).unwrap();
            assert_eq!(pong, "PONG");
            let vals: Vec<String> = redis::cmd("MGET").arg(&keys).query(&mut good).unwrap();
            let want: Vec<String> = keys.iter().map(|k| format!("{k}-value")).collect();
            assert_eq!(vals, want);
            let after: Option<String> = redis::cmd("GET").arg("after").query(&mut good).unwrap();
            assert_eq!(after, None, "request after a protocol error must not run");
        }
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut good).unwrap();
        assert_eq!(dbsize as usize, keys.len() + 1);
    }
}

#[test]
fn unknown_command_and_wrong_arity_texts() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        assert_eq!(
            raw.cmd(&["FOOBAR", "a", "b c"]),
            Resp::err("ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b c' ")
        );
        assert_eq!(raw.cmd(&["nosuch"]), Resp::err("ERR unknown command 'nosuch', with args beginning with: "));
        raw.send(b"BOGUS x\r\n");
        assert_eq!(raw.read(), Resp::err("ERR unknown command 'BOGUS', with args beginning with: 'x' "));
        assert_eq!(raw.cmd(&["GET"]), Resp::err("ERR wrong number of arguments for 'get' command"));
        assert_eq!(raw.cmd(&["get", "a", "b"]), Resp::err("ERR wrong number of arguments for 'get' command"));
        assert_eq!(raw.cmd(&["SET", "k"]), Resp::err("ERR wrong number of arguments for 'set' command"));
        assert_eq!(raw.cmd(&["MSET", "a", "1", "b"]), Resp::err("ERR wrong number of arguments for 'mset' command"));
        assert_eq!(raw.cmd(&["MGET"]), Resp::err("ERR wrong number of arguments for 'mget' command"));
        assert_eq!(raw.cmd(&["Echo"]), Resp::err("ERR wrong number of arguments for 'echo' command"));
        assert_eq!(raw.cmd(&["DEL"]), Resp::err("ERR wrong number of arguments for 'del' command"));
        // Errors don't close the connection.
        assert_eq!(raw.cmd(&["PING"]), Resp::simple("PONG"));
    }
}

#[test]
fn quit_replies_ok_then_closes_and_ignores_the_rest() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        assert_eq!(raw.cmd(&["PING"]), Resp::simple("PONG"));
        let mut req = encode_cmd(&["SET", "q", "1"]);
        req.extend_from_slice(&encode_cmd(&["QUIT"]));
        req.extend_from_slice(&encode_cmd(&["SET", "q", "2"]));
        raw.send(&req);
        assert_eq!(raw.read(), Resp::simple("OK"));
        assert_eq!(raw.read(), Resp::simple("OK"));
        raw.r.expect_closed();
        let mut c = s.conn();
        let v: String = redis::cmd("GET").arg("q").query(&mut c).unwrap();
        assert_eq!(v, "1");
        // Inline QUIT.
        let mut raw = s.raw();
        raw.send(b"QUIT\r\n");
        assert_eq!(raw.read(), Resp::simple("OK"));
        raw.r.expect_closed();
    }
}

/// Session state and keyless commands interleaved with remote keyed commands in one
/// pipeline: SELECT applies to the requests after it (even those run on other shards),
/// FLUSHALL and DBSIZE see every earlier write of the pipeline, and errors keep their
/// place in the reply order.
#[test]
fn pipelines_with_select_flushall_and_errors_keep_order() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        let keys = spread_keys("sel", 24, shards);
        let mut req = Vec::new();
        let mut want = Vec::new();
        let mut push = |args: &[&str], reply: Resp| {
            encode_cmd_into(&mut req, args);
            want.push(reply);
        };
        for k in &keys {
            push(&["SET", k, "db0"], Resp::simple("OK"));
        }
        push(&["SELECT", "1"], Resp::simple("OK"));
        for k in &keys {
            push(&["GET", k], Resp::NilBulk);
            push(&["SET", k, "db1"], Resp::simple("OK"));
            push(
                &["NOSUCHCMD", k],
                Resp::err(&format!("ERR unknown command 'NOSUCHCMD', with args beginning with: '{k}' ")),
            );
        }
        push(&["DBSIZE"], Resp::Int(keys.len() as i64));
        push(&["SELECT", "0"], Resp::simple("OK"));
        for k in &keys {
            push(&["GET", k], Resp::bulk("db0"));
            push(&["GET"], Resp::err("ERR wrong number of arguments for 'get' command"));
        }
        push(&["MGET", &keys[0], &keys[1], &keys[2]], Resp::Array(vec![Resp::bulk("db0"); 3]));
        push(&["FLUSHALL"], Resp::simple("OK"));
        push(&["DBSIZE"], Resp::Int(0));
        push(&["SELECT", "1"], Resp::simple("OK"));
        push(&["DBSIZE"], Resp::Int(0));
        push(&["GET", &keys[3]], Resp::NilBulk);
        for k in &keys {
            push(&["SET", k, "again"], Resp::simple("OK"));
        }
        push(&["DBSIZE"], Resp::Int(keys.len() as i64));
        push(&["EXISTS", &keys[0], &keys[5], &keys[9], "nope"], Resp::Int(3));
        raw.send(&req);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(&raw.read(), w, "reply {i} ({shards} shards)");
        }
    }
}

/// Deterministic bytes that make misplaced or truncated data visible.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
}

/// Values of several MB (arriving in many reads), binary keys and values with CR, LF
/// and NUL bytes, on local and remote shards.
#[test]
fn large_and_binary_values_roundtrip() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        let sizes = [0usize, 1, 2, 15, 16 << 10, (16 << 10) + 1, 1 << 20, 5 << 20];
        let keys = spread_keys("big", sizes.len(), shards);
        let mut req = Vec::new();
        for (i, (k, &n)) in keys.iter().zip(&sizes).enumerate() {
            encode_cmd_into(&mut req, &[&b"SET"[..], k.as_bytes(), &pattern(n, i as u8)]);
        }
        let bin_key = b"bin\r\n\0key\xff".to_vec();
        let bin_val = b"\r\n\0\r\n$3\r\n*1\r\n".to_vec();
        encode_cmd_into(&mut req, &[&b"SET"[..], &bin_key, &bin_val]);
        let mut w = raw.w.try_clone().unwrap();
        let writer = std::thread::spawn(move || w.write_all(&req).unwrap());
        for _ in 0..=sizes.len() {
            assert_eq!(raw.read(), Resp::simple("OK"));
        }
        writer.join().unwrap();
        for (i, (k, &n)) in keys.iter().zip(&sizes).enumerate() {
            match raw.cmd(&["GET", k]) {
                Resp::Bulk(v) => assert!(v == pattern(n, i as u8), "value of {k} ({n} bytes) differs"),
                other => panic!("GET {k}: {other:?}"),
            }
        }
        assert_eq!(raw.cmd(&[&b"GET"[..], &bin_key]), Resp::Bulk(bin_val.clone()));
        // The same through MGET, which gathers from every shard.
        let mut args: Vec<Vec<u8>> = vec![b"MGET".to_vec()];
        args.extend(keys.iter().map(|k| k.as_bytes().to_vec()));
        args.push(bin_key.clone());
        match raw.cmd(&args) {
            Resp::Array(v) => {
                assert_eq!(v.len(), sizes.len() + 1);
                for (i, &n) in sizes.iter().enumerate() {
                    assert!(v[i] == Resp::Bulk(pattern(n, i as u8)), "MGET element {i} ({n} bytes) differs");
                }
                assert_eq!(v[sizes.len()], Resp::Bulk(bin_val));
            }
            other => panic!("MGET gave {other:?}"),
        }
    }
}

/// A pipeline whose replies (about 100 MB) far exceed the socket buffers and the
/// server's output high-water mark: the server must apply backpressure (stop parsing
/// while output waits) and still deliver every reply, in order, with remote replies
/// in their places.
#[test]
fn huge_replies_under_backpressure_keep_order() {
    const VALUE: usize = 64 << 10;
    const GETS: usize = 1600;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let keys = spread_keys("bp", 8, shards);
        let mut raw = s.raw();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(raw.cmd(&[&b"SET"[..], k.as_bytes(), &pattern(VALUE, i as u8)]), Resp::simple("OK"));
        }
        let mut req = Vec::new();
        for j in 0..GETS {
            encode_cmd_into(&mut req, &["GET", &keys[(j * 5) % keys.len()]]);
            if j % 100 == 0 {
                encode_cmd_into(&mut req, &["ECHO", &format!("mark{j}")]);
            }
        }
        let mut w = raw.w.try_clone().unwrap();
        let writer = std::thread::spawn(move || w.write_all(&req).unwrap());
        for j in 0..GETS {
            let i = (j * 5) % keys.len();
            match raw.read() {
                Resp::Bulk(v) => assert!(v.len() == VALUE && v == pattern(VALUE, i as u8), "GET {j} got wrong value"),
                other => panic!("GET {j}: {other:?}"),
            }
            if j % 100 == 0 {
                assert_eq!(raw.read(), Resp::bulk(&format!("mark{j}")));
            }
        }
        writer.join().unwrap();
        assert_eq!(raw.cmd(&["PING"]), Resp::simple("PONG"));
    }
}

/// A raw connection to any port (shardis or a real redis-server).
fn raw_to(port: u16) -> common::Raw {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let r = s.try_clone().unwrap();
    common::Raw { w: s, r: common::RespReader::new(r) }
}

/// A real redis-server with extra arguments, on a free port; killed on drop.
struct PeerRedis {
    child: std::process::Child,
    port: u16,
}

impl PeerRedis {
    fn start(extra: &[&str]) -> PeerRedis {
        let ready = |port: u16| {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                return false;
            }
            let mut r = raw_to(port);
            r.send(b"PING\r\n");
            // PONG, or NOAUTH under requirepass: either way it is serving.
            r.r.read().is_ok()
        };
        match common::spawn_redis_server(extra, ready) {
            Some((child, port)) => PeerRedis { child, port },
            None => panic!("redis-server {extra:?} did not start"),
        }
    }
}

impl Drop for PeerRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Redis's limits for clients that have not authenticated while `requirepass` is
/// set: more than 10 arguments or a bulk longer than 16384 bytes gets its protocol
/// error and the connection is closed; at the limits, the command gets NOAUTH and
/// the connection stays. Inline requests are not limited. After AUTH (even earlier
/// in the same write) the limits are gone. The same script runs against the real
/// redis-server, so the texts are Redis's.
#[test]
fn unauthenticated_clients_get_redis_protocol_limits() {
    let noauth = Resp::err("NOAUTH Authentication required.");
    let check = |port: u16, who: &str| {
        let too_many = (b"*11\r\n".to_vec(), "ERR Protocol error: unauthenticated multibulk length");
        let too_long = (b"*2\r\n$4\r\nECHO\r\n$16385\r\n".to_vec(), "ERR Protocol error: unauthenticated bulk length");
        for (bytes, msg) in [too_many, too_long] {
            let mut c = raw_to(port);
            c.send(&bytes);
            assert_eq!(c.read(), Resp::err(msg), "{who}");
            c.r.expect_closed();
        }
        let mut c = raw_to(port);
        // At the limits: 10 arguments, a 16384-byte bulk.
        let ten: Vec<String> = std::iter::once("RPUSH".to_string()).chain((0..9).map(|i| i.to_string())).collect();
        assert_eq!(c.cmd(&ten), noauth, "{who}");
        let big = vec![b'x'; 16384];
        assert_eq!(c.cmd(&[&b"ECHO"[..], &big]), noauth, "{who}");
        // Inline requests have no such limits.
        c.send(b"RPUSH l 1 2 3 4 5 6 7 8 9 10 11 12\r\n");
        assert_eq!(c.read(), noauth, "{who}");
        // AUTH lifts them for the rest of the same write.
        let mut req = encode_cmd(&["AUTH", "s3cret"]);
        let many: Vec<String> =
            ["RPUSH", "l"].iter().map(|s| s.to_string()).chain((0..20).map(|i| i.to_string())).collect();
        encode_cmd_into(&mut req, &many);
        let longer = vec![b'y'; 100_000];
        encode_cmd_into(&mut req, &[&b"ECHO"[..], &longer]);
        c.send(&req);
        assert_eq!(c.read(), Resp::simple("OK"), "{who}");
        assert_eq!(c.read(), Resp::Int(20), "{who}");
        assert_eq!(c.read(), Resp::Bulk(longer.clone()), "{who}");
    };
    let real = PeerRedis::start(&["--requirepass", "s3cret"]);
    check(real.port, "redis-server");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &["--requirepass", "s3cret"]);
        check(s.port, &format!("shardis, {shards} shards"));
    }
    // Without requirepass there are no such limits.
    let s = Server::start(1, &[]);
    let mut c = s.raw();
    let many: Vec<String> =
        ["RPUSH", "l"].iter().map(|s| s.to_string()).chain((0..20).map(|i| i.to_string())).collect();
    assert_eq!(c.cmd(&many), Resp::Int(20));
}

/// One request sent as many small writes with pauses, so the server sees it over
/// many reads: a 150k-argument RPUSH (whose argument headers straddle read
/// boundaries) and a 4 MiB value, followed in the same stream by a pipelined GET.
/// The parser resumes where each read stopped; the result is the same as one write.
#[test]
fn requests_arriving_over_many_reads() {
    let n = 150_000usize;
    let mut rpush: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"big".to_vec()];
    rpush.extend((0..n).map(|i| format!("{}", i * 7 % 100_003).into_bytes()));
    let value = pattern(4 << 20, 7);
    let mut stream = encode_cmd(&rpush);
    encode_cmd_into(&mut stream, &[&b"SET"[..], b"bigval", &value]);
    encode_cmd_into(&mut stream, &["GET", "bigval"]);
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        let mut w = raw.w.try_clone().unwrap();
        let stream = stream.clone();
        let writer = std::thread::spawn(move || {
            // Odd-sized chunks so headers and CRLFs get split, with a pause now and
            // then so the server's reads end at chunk boundaries.
            for (i, chunk) in stream.chunks(16_381).enumerate() {
                w.write_all(chunk).expect("write");
                if i % 8 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(500));
                }
            }
        });
        assert_eq!(raw.read(), Resp::Int(n as i64), "{shards} shards");
        assert_eq!(raw.read(), Resp::simple("OK"));
        assert_eq!(raw.read(), Resp::Bulk(value.clone()));
        writer.join().unwrap();
        let mut c = s.conn();
        let got: Vec<Vec<u8>> = redis::cmd("LRANGE").arg("big").arg(0).arg(-1).query(&mut c).unwrap();
        assert_eq!(got, rpush[2..], "{shards} shards");
    }
}

/// The query buffer limit counts unparsed input, as Redis's does (its query buffer
/// keeps only the unparsed tail): a 2.6 MB request of small arguments passes a 1 MB
/// limit (checked on redis-server too), while 2 MB of a single unfinished argument
/// closes the connection (tests/limits.rs).
#[test]
fn query_buffer_limit_counts_unparsed_input_only() {
    let n = 300_000usize;
    let mut args: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"l".to_vec()];
    args.extend((0..n).map(|i| format!("{}", i % 1000).into_bytes()));
    let req = encode_cmd(&args);
    assert!(req.len() > 2 << 20);
    let run = |port: u16, who: &str| {
        let mut raw = raw_to(port);
        let mut w = raw.w.try_clone().unwrap();
        let req = req.clone();
        let writer = std::thread::spawn(move || w.write_all(&req).expect("write"));
        assert_eq!(raw.read(), Resp::Int(n as i64), "{who}");
        writer.join().unwrap();
    };
    let real = PeerRedis::start(&["--client-query-buffer-limit", "1mb"]);
    run(real.port, "redis-server");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &["--client-query-buffer-limit", "1mb"]);
        run(s.port, &format!("shardis, {shards} shards"));
    }
}

/// The virtual size of a process, from /proc (counts reserved, untouched memory).
fn vm_size_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Announced lengths allocate nothing up front: clients that announce 2^31-1
/// arguments or a 512 MB argument and then send only a few bytes leave the server's
/// memory (even its reserved address space) nearly unchanged.
#[test]
fn huge_announced_lengths_reserve_no_memory() {
    let s = Server::start(1, &[]);
    let mut probe = s.raw();
    assert_eq!(probe.cmd(&["PING"]), Resp::simple("PONG"));
    let input_bytes = |probe: &mut common::Raw| -> u64 {
        let Resp::Bulk(info) = probe.cmd(&["INFO", "stats"]) else { panic!("INFO") };
        let info = String::from_utf8(info).unwrap();
        let line = info.lines().find(|l| l.starts_with("total_net_input_bytes:")).unwrap();
        line.split(':').nth(1).unwrap().trim().parse().unwrap()
    };
    let before = vm_size_kb(s.pid());
    let start = input_bytes(&mut probe);
    let mut hostile = Vec::new();
    let mut sent = 0;
    for i in 0..8 {
        let mut c = s.raw();
        let bytes: &[u8] = if i % 2 == 0 {
            b"*2147483647\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n"
        } else {
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\nabcdef"
        };
        c.send(bytes);
        sent += bytes.len() as u64;
        hostile.push(c);
    }
    // The worker parses everything it received in a turn before it sends replies, so
    // once INFO's reply counts the hostile bytes, they have been parsed.
    let mut seen = 0;
    let received = common::wait_until(std::time::Duration::from_secs(10), || {
        seen = input_bytes(&mut probe) - start;
        seen >= sent
    });
    assert!(received, "server read {seen} of {sent} hostile bytes");
    let after = vm_size_kb(s.pid());
    assert!(after < before + (256 << 10), "VmSize grew from {before} kB to {after} kB");
    assert_eq!(probe.cmd(&["DBSIZE"]), Resp::Int(0));
    drop(hostile);
}

/// Malformed and oversized requests get byte-for-byte the reply redis-server gives,
/// and the connection is closed as Redis closes it; each is sent both in one write
/// and split into small writes (the parser resumes across reads).
#[test]
fn protocol_errors_match_redis_server() {
    let long = |prefix: &[u8], fill: u8| {
        let mut v = prefix.to_vec();
        v.resize(prefix.len() + 70_000, fill);
        v
    };
    let cases: Vec<Vec<u8>> = vec![
        long(b"GET ", b'a'),
        long(b"*", b'1'),
        long(b"*1\r\n$", b'1'),
        b"*1\r\n$536870913\r\n".to_vec(),
        b"*-5\r\n*1\r\n$4\r\nPING\r\n".to_vec(),
        b"*2147483648\r\n".to_vec(),
        b"*01\r\n".to_vec(),
        b"*1\r\n$01\r\n".to_vec(),
        b"*1\r\n$ 1\r\nx\r\n".to_vec(),
        b"*2\r\n$4\r\nECHO\r\n$1\r\nab\r\n".to_vec(),
        b"*1\r\n\r\n".to_vec(),
        b"ECHO \"unterminated\r\n".to_vec(),
        b"ECHO 'a'b\r\n".to_vec(),
        b"\r\n\n   \r\n*0\r\nPING\r\n".to_vec(),
        b"*3\r\n$4\r\nECHO\r\n$1\r\nx\r\n?1\r\n".to_vec(),
    ];
    // Every reply the connection gets until it is closed, or until the reply to a
    // sentinel ECHO sent after the case (the connection survived).
    let sentinel = Resp::Bulk(b"sentinel-7f3a".to_vec());
    let replies = |port: u16, bytes: &[u8], split: bool| -> (Vec<Resp>, bool) {
        let mut c = raw_to(port);
        if split {
            for chunk in bytes.chunks(3) {
                c.send(chunk);
                c.w.flush().unwrap();
            }
        } else {
            c.send(bytes);
        }
        // The server may have closed already; then this write may fail. The long
        // cases are unterminated lines: a sentinel would end them, so they go without
        // (they must close the connection).
        if bytes.len() <= 1000 {
            let _ = c.w.write_all(&encode_cmd(&["ECHO", "sentinel-7f3a"]));
        }
        let mut got = Vec::new();
        loop {
            match c.r.read() {
                Ok(r) if r == sentinel => return (got, false),
                Ok(r) => got.push(r),
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset) =>
                {
                    return (got, true);
                }
                Err(e) => {
                    panic!("reading replies to {:?}: {e}", String::from_utf8_lossy(&bytes[..bytes.len().min(40)]))
                }
            }
        }
    };
    let real = PeerRedis::start(&[]);
    let want: Vec<(Vec<Resp>, bool)> = cases.iter().map(|c| replies(real.port, c, false)).collect();
    // The cases exercise errors: most of them close the connection.
    assert!(want.iter().filter(|(_, closed)| *closed).count() >= 10);
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        for (case, want) in cases.iter().zip(&want) {
            for split in [false, true] {
                if split && case.len() > 1000 {
                    continue; // thousands of 3-byte writes: slow, and covered by unit tests
                }
                let got = replies(s.port, case, split);
                assert_eq!(
                    &got,
                    want,
                    "{:?} (split {split}, {shards} shards)",
                    String::from_utf8_lossy(&case[..case.len().min(40)])
                );
            }
        }
    }
}

/// A big request's complete arguments leave the read buffer as they are parsed, as
/// Redis moves them to `argv`: with 3.3 MB of a 300k-argument RPUSH received, CLIENT
/// LIST shows them in `argv-mem` and a small `qbuf`. Completed while CLIENT PAUSE
/// WRITE holds it, the request then runs intact; a big MSET spanning the shards too.
#[test]
fn big_request_arguments_leave_the_read_buffer() {
    let n = 300_000usize;
    let mut rpush: Vec<Vec<u8>> = vec![b"RPUSH".to_vec(), b"big".to_vec()];
    rpush.extend((0..n).map(|i| format!("{:06}", i * 13 % 1_000_003).into_bytes()));
    let req = encode_cmd(&rpush);
    let (head, tail) = req.split_at(req.len() - 100_000);
    let field = |line: &str, name: &str| -> u64 {
        let f = line.split(' ').find_map(|f| f.strip_prefix(name)?.strip_prefix('=')).expect(name);
        f.parse().unwrap()
    };
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut raw = s.raw();
        let Resp::Int(id) = raw.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
        raw.send(head);
        let mut ctl = s.raw();
        let mut line = String::new();
        let moved = common::wait_until(std::time::Duration::from_secs(20), || {
            let Resp::Bulk(list) = ctl.cmd(&["CLIENT", "LIST", "ID", &id.to_string()]) else { panic!("CLIENT LIST") };
            line = String::from_utf8(list).unwrap();
            // 300k arguments of 6 bytes: at least 1.7 MB once nearly all are in.
            field(&line, "argv-mem") > 1_700_000
        });
        assert!(moved, "{shards} shards: arguments never left the read buffer: {line}");
        assert!(field(&line, "qbuf") < 256 << 10, "{shards} shards: {line}");

        assert_eq!(ctl.cmd(&["CLIENT", "PAUSE", "20000", "WRITE"]), Resp::simple("OK"));
        let mut probe = s.conn();
        let mut input_bytes = || -> u64 {
            let info: String = redis::cmd("INFO").arg("stats").query(&mut probe).unwrap();
            let line = info.lines().find(|l| l.starts_with("total_net_input_bytes:")).unwrap();
            line.split(':').nth(1).unwrap().trim().parse().unwrap()
        };
        // Once the server counted the tail's bytes it parsed them in the same turn
        // (the probes' own few bytes cannot add up to the tail's 100 kB).
        let before = input_bytes();
        raw.send(tail);
        let received =
            common::wait_until(std::time::Duration::from_secs(10), || input_bytes() >= before + tail.len() as u64);
        assert!(received, "{shards} shards: the request's end never arrived");
        assert_eq!(ctl.cmd(&["CLIENT", "UNPAUSE"]), Resp::simple("OK"));
        assert_eq!(raw.read(), Resp::Int(n as i64), "{shards} shards");
        let got: Vec<Vec<u8>> = redis::cmd("LRANGE").arg("big").arg(0).arg(-1).query(&mut probe).unwrap();
        assert!(got == rpush[2..], "{shards} shards: the list differs");

        // An MSET of 20k keys (on every shard), sent in small writes.
        let mut mset: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in 0..20_000 {
            mset.push(format!("k:{i}").into_bytes());
            mset.push(format!("value-{i}-{}", "x".repeat(i % 40)).into_bytes());
        }
        for chunk in encode_cmd(&mset).chunks(7_001) {
            raw.send(chunk);
        }
        assert_eq!(raw.read(), Resp::simple("OK"));
        assert_eq!(raw.cmd(&["DBSIZE"]), Resp::Int(20_001));
        for i in [0usize, 7, 19_999] {
            assert_eq!(raw.cmd(&["GET", &format!("k:{i}")]), Resp::Bulk(mset[2 + 2 * i].clone()));
        }
    }
}
