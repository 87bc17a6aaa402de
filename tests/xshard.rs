//! Cross-shard commands whose values move between shards by ownership, and whose
//! shards log shard-local commands (`cmd::coord`, `cmd::coord_log`): a shardis replica
//! and a redis-server replica converge on the master's `DEBUG DIGEST`, the master's
//! AOF replays to the same data after a SIGKILL, and its files concatenated shard after
//! shard rebuild it in a real Redis.

use crate::common;

use common::repl::{Kind, Node, assert_converged};
use common::{
    RealRedis, Resp, Server, concatenated_aof, encode_cmd_into, keys_on_distinct_shards, slowlogged_first_args,
    temp_dir, wait_until,
};
use redis::Commands;
use std::time::Duration;

const SYNC: Duration = Duration::from_secs(60);

fn q(c: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Cross-shard moves of big values, stores, renames, multi-key writes, a script and
/// failed commands, plus a BLMOVE that blocks and is served by a later push.
fn workload(port: u16, shards: usize) {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap().get_connection().unwrap();
    let l = keys_on_distinct_shards("list", 2, shards);
    let s = keys_on_distinct_shards("set", 2, shards);
    let z = keys_on_distinct_shards("zset", 2, shards);
    let big: Vec<String> = (0..3000).map(|i| format!("element-{i}")).collect();
    let _: () = c.rpush(&l[0], &big).unwrap();
    let _: () = c.sadd(&s[0], &big).unwrap();
    let _: () = c.pexpire(&l[0], 100_000_000).unwrap();
    for i in 0..50 {
        q(&mut c, &["LMOVE", &l[0], &l[1], if i % 2 == 0 { "LEFT" } else { "RIGHT" }, "LEFT"]);
        q(&mut c, &["SMOVE", &s[0], &s[1], &big[i * 7]]);
    }
    q(&mut c, &["RPOPLPUSH", &l[1], &l[0]]);
    q(&mut c, &["BLMOVE", &l[0], &l[1], "RIGHT", "RIGHT", "1"]);
    q(&mut c, &["SMOVE", &s[0], &s[1], "absent"]);
    for (a, b) in [(&l[0], &l[1]), (&l[1], &l[0])] {
        q(&mut c, &["RENAME", a, "parked"]);
        q(&mut c, &["RENAME", "parked", b]);
    }
    q(&mut c, &["RENAMENX", &s[0], &l[0]]);
    q(&mut c, &["RENAMENX", &s[0], "fresh"]);
    q(&mut c, &["ZADD", &z[0], "1", "a", "2.5", "b", "3", "c"]);
    q(&mut c, &["ZUNIONSTORE", &z[1], "2", &z[0], &s[1], "WEIGHTS", "2", "1"]);
    q(&mut c, &["SUNIONSTORE", "union", "fresh", &s[1]]);
    q(&mut c, &["SINTERSTORE", "inter", "fresh", &s[1]]);
    q(&mut c, &["COPY", &z[1], "copied"]);
    q(&mut c, &["COPY", &l[0], "copied", "DB", "2", "REPLACE"]);
    q(&mut c, &["PFADD", "hll", "a", "b"]);
    q(&mut c, &["PFMERGE", "hll2", "hll", "hll3"]);
    q(&mut c, &["SETBIT", "bits", "7", "1"]);
    q(&mut c, &["BITOP", "OR", "bits2", "bits", "bits3"]);
    let pairs: Vec<String> = (0..20).flat_map(|i| [format!("m{i}"), format!("v{i}")]).collect();
    let mut mset = vec!["MSET"];
    mset.extend(pairs.iter().map(String::as_str));
    q(&mut c, &mset);
    q(&mut c, &["MSETNX", "m1", "x", "n1", "y"]);
    q(&mut c, &["MSETNX", "n2", "x", "n3", "y"]);
    q(&mut c, &["DEL", "m1", "m2", "m3", "nothing"]);
    q(&mut c, &["UNLINK", "m4", "m5", "m6"]);
    q(&mut c, &["EVAL", "redis.call('set', KEYS[1], 'a') return redis.call('rpush', KEYS[2], 'b')", "2", "ev1", "ev2"]);
    // Failed checks write nothing.
    assert!(redis::cmd("LMOVE").arg(&s[1]).arg(&l[0]).arg("LEFT").arg("LEFT").query::<redis::Value>(&mut c).is_err());
    assert!(redis::cmd("RENAME").arg("missing").arg(&l[0]).query::<redis::Value>(&mut c).is_err());
    // A blocked BLMOVE served across shards by a later push.
    let b = keys_on_distinct_shards("blk", 2, shards);
    let (b0, b1) = (b[0].clone(), b[1].clone());
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let waiter = std::thread::spawn(move || {
        let mut w = client.get_connection().unwrap();
        redis::cmd("BLMOVE").arg(&b0).arg(&b1).arg("LEFT").arg("RIGHT").arg("30").query::<Option<String>>(&mut w)
    });
    let blocked = wait_until(SYNC, || {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
        info.contains("blocked_clients:1")
    });
    assert!(blocked, "BLMOVE did not block");
    q(&mut c, &["RPUSH", &b[0], "woken"]);
    assert_eq!(waiter.join().unwrap().unwrap().as_deref(), Some("woken"));
}

#[test]
fn cross_shard_writes_converge_on_replicas_and_replay_from_the_aof() {
    for shards in [2, 4] {
        let mut m = Node::start(Kind::Shardis(shards), &["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]);
        let r1 = Node::start(Kind::shardis(shards), &[]);
        let r2 = Node::start(Kind::Redis, &[]);
        r1.replicaof(Some(m.port));
        r2.replicaof(Some(m.port));
        assert_converged(&[&m, &r1], SYNC);
        assert_converged(&[&m, &r2], SYNC);
        workload(m.port, shards);
        assert_converged(&[&m, &r1], SYNC);
        assert_converged(&[&m, &r2], SYNC);
        let want = m.digest();
        assert!(m.logical_dump().len() > 20, "the workload left data to compare");

        // The files, shard after shard, into a real Redis.
        let aofdir = m.dir.join("appendonlydir");
        let pipe_dir = temp_dir("xshard-pipe");
        let real = RealRedis::start(&pipe_dir);
        real.pipe(&concatenated_aof(&aofdir, shards));
        let got: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut real.conn()).unwrap();
        assert_eq!(got, want, "{shards} shards: the concatenated AOF in redis-server");
        drop(real);
        let _ = std::fs::remove_dir_all(&pipe_dir);

        // And the server itself, from its AOF, after a SIGKILL.
        m.kill9();
        m.restart(&["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]);
        assert_eq!(m.digest(), want, "{shards} shards: replayed from the AOF");
    }
}

/// Split commands (`cmd::coord_split`): two clients pipelining MSETs over the same two
/// shards, in opposite key orders, while a third reads both keys with MGET. Every MGET
/// sees both keys from one MSET (atomicity), and when the writers stop both keys hold
/// the same MSET's value: the two shards applied the MSETs in the same order.
#[test]
fn concurrent_cross_shard_msets_apply_in_one_order_on_every_shard() {
    let srv = Server::start(2, &[]);
    let k = keys_on_distinct_shards("pair", 2, 2);
    let (a, b) = (k[0].clone(), k[1].clone());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = |id: usize, a: String, b: String| {
        let mut c = srv.raw();
        std::thread::spawn(move || {
            for round in 0..40 {
                let mut batch = Vec::new();
                for j in 0..100 {
                    let v = format!("w{id}:{round}:{j}");
                    let (x, y) = if id == 0 { (&a, &b) } else { (&b, &a) };
                    encode_cmd_into(&mut batch, &["MSET", x.as_str(), v.as_str(), y.as_str(), v.as_str()]);
                }
                c.send(&batch);
                for _ in 0..100 {
                    assert_eq!(c.read(), Resp::simple("OK"));
                }
            }
        })
    };
    let writers = [writer(0, a.clone(), b.clone()), writer(1, a.clone(), b.clone())];
    let reader = {
        let mut c = srv.raw();
        let (a, b, done) = (a.clone(), b.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) || seen == 0 {
                match c.cmd(&["MGET", a.as_str(), b.as_str()]) {
                    Resp::Array(v) => {
                        assert_eq!(v.len(), 2);
                        assert_eq!(v[0], v[1], "MGET saw half of an MSET");
                        seen += 1;
                    }
                    other => panic!("MGET: {other:?}"),
                }
            }
            seen
        })
    };
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    assert!(reader.join().expect("reader") > 0);
    let mut c = srv.raw();
    let (va, vb) = (c.cmd(&["GET", a.as_str()]), c.cmd(&["GET", b.as_str()]));
    assert!(matches!(va, Resp::Bulk(_)));
    assert_eq!(va, vb, "the shards applied the two clients' MSETs in different orders");
}

/// A pipeline's later commands see its split commands, whatever shard they run on,
/// without waiting for the replies: keyed reads on either shard, a keyless DBSIZE
/// (which waits for the owed replies), and split reads after split writes.
#[test]
fn pipelined_commands_see_the_split_commands_before_them() {
    for shards in [2, 3] {
        let srv = Server::start(shards, &[]);
        let k = keys_on_distinct_shards("ord", shards, shards);
        let mut c = srv.raw();
        let mut batch = Vec::new();
        let mut want = Vec::new();
        for round in 0..50 {
            let v = format!("v{round}");
            let mut mset = vec!["MSET".to_string()];
            for key in &k {
                mset.extend([key.clone(), v.clone()]);
            }
            encode_cmd_into(&mut batch, &mset);
            want.push(Resp::simple("OK"));
            for key in k.iter().rev() {
                encode_cmd_into(&mut batch, &["GET", key.as_str()]);
                want.push(Resp::bulk(&v));
            }
            encode_cmd_into(&mut batch, &["DBSIZE"]);
            want.push(Resp::Int(shards as i64));
            let mut exists = vec!["EXISTS".to_string()];
            exists.extend(k.iter().cloned());
            exists.push(k[0].clone());
            encode_cmd_into(&mut batch, &exists);
            want.push(Resp::Int(shards as i64 + 1));
            let mut mget = vec!["MGET".to_string(), "missing".to_string()];
            mget.extend(k.iter().cloned());
            encode_cmd_into(&mut batch, &mget);
            let mut vals = vec![Resp::NilBulk];
            vals.extend(k.iter().map(|_| Resp::bulk(&v)));
            want.push(Resp::Array(vals));
            if round % 2 == 1 {
                let mut del = vec!["DEL".to_string()];
                del.extend(k.iter().cloned());
                del.push("missing".to_string());
                encode_cmd_into(&mut batch, &del);
                want.push(Resp::Int(shards as i64));
                encode_cmd_into(&mut batch, &["DBSIZE"]);
                want.push(Resp::Int(0));
            }
        }
        c.send(&batch);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(&c.read(), w, "{shards} shards, reply {i}");
        }
        // A split command counts once in the command stats.
        let Resp::Bulk(info) = c.cmd(&["INFO", "commandstats"]) else { panic!("INFO") };
        let info = String::from_utf8(info).unwrap();
        assert!(info.contains("cmdstat_mset:calls=50,"), "{info}");
        assert!(info.contains("cmdstat_mget:calls=50,"), "{info}");
    }
}

/// While a value is on loan to a cross-shard command (`coord`: LMOVE hands the list
/// to the coordinator), another connection's SCAN TYPE still sees the key with its
/// type, and DEBUG DIGEST-VALUE and DEBUG OBJECT wait for the value to come back.
#[test]
fn values_on_loan_keep_their_type_and_debug_waits_for_them() {
    let srv = Server::start(2, &[]);
    let k = keys_on_distinct_shards("loan", 2, 2);
    let (a, b) = (k[0].clone(), k[1].clone());
    let mut c = srv.raw();
    let elems: Vec<String> = (0..2000).map(|i| format!("e{i}")).collect();
    for key in [&a, &b] {
        let mut push = vec!["RPUSH".to_string(), key.clone()];
        push.extend(elems.iter().cloned());
        assert_eq!(c.cmd(&push), Resp::Int(2000));
    }
    assert_eq!(c.cmd(&["SET", "empty", ""]), Resp::simple("OK"));
    let Resp::Array(d) = c.cmd(&["DEBUG", "DIGEST-VALUE", "empty"]) else { panic!("DIGEST-VALUE") };
    let Resp::Simple(empty_string) = d[0].clone() else { panic!("DIGEST-VALUE: {d:?}") };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mover = {
        let mut m = srv.raw();
        let (a, b, done) = (a.clone(), b.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) || rounds < 20 {
                let mut batch = Vec::new();
                for _ in 0..50 {
                    encode_cmd_into(&mut batch, &["LMOVE", a.as_str(), b.as_str(), "LEFT", "RIGHT"]);
                    encode_cmd_into(&mut batch, &["LMOVE", b.as_str(), a.as_str(), "LEFT", "RIGHT"]);
                }
                m.send(&batch);
                for _ in 0..100 {
                    assert!(matches!(m.read(), Resp::Bulk(_)));
                }
                rounds += 1;
            }
        })
    };
    for _ in 0..300 {
        let Resp::Array(reply) = c.cmd(&["SCAN", "0", "TYPE", "list", "COUNT", "100"]) else { panic!("SCAN") };
        let Resp::Array(keys) = &reply[1] else { panic!("SCAN keys") };
        assert_eq!(keys.len(), 2, "a list on loan lost its type in SCAN: {keys:?}");
        let Resp::Array(strings) = c.cmd(&["SCAN", "0", "TYPE", "string", "COUNT", "100"]) else { panic!("SCAN") };
        assert_eq!(strings[1], Resp::Array(vec![Resp::bulk("empty")]));
        let Resp::Array(d) = c.cmd(&["DEBUG", "DIGEST-VALUE", a.as_str(), b.as_str()]) else { panic!("DIGEST-VALUE") };
        for v in &d {
            let Resp::Simple(v) = v else { panic!("{v:?}") };
            assert!(v != &empty_string && v != &"0".repeat(40), "DIGEST-VALUE saw a placeholder");
        }
        let Resp::Simple(line) = c.cmd(&["DEBUG", "OBJECT", a.as_str()]) else { panic!("DEBUG OBJECT") };
        assert!(line.contains("encoding:quicklist") || line.contains("encoding:listpack"), "{line}");
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    mover.join().expect("mover");
    assert_eq!(c.cmd(&["LLEN", a.as_str()]), Resp::Int(2000));
}

/// `calls=N` of one `cmdstat_<name>` line, 0 when absent.
fn calls(c: &mut common::Raw, name: &str) -> u64 {
    let Resp::Bulk(text) = c.cmd(&["INFO", "commandstats"]) else { panic!("INFO commandstats") };
    let text = String::from_utf8(text).expect("utf8");
    let Some(line) = text.lines().find(|l| l.starts_with(&format!("cmdstat_{name}:"))) else { return 0 };
    line.split([':', ',']).find_map(|f| f.strip_prefix("calls=")).expect("calls=").parse().expect("number")
}

/// Requests run for another shard are timed as a batch (`dispatch::handle_batch`): they
/// still count exactly in commandstats and the latency histograms, and SLOWLOG at 0
/// still logs each of them with its arguments, on whichever shard they ran.
#[test]
fn requests_run_for_another_shard_count_exactly_and_reach_the_slowlog() {
    let s = Server::start(2, &[]);
    let mut c = s.raw();
    let k = keys_on_distinct_shards("hop", 2, 2);
    let mut bytes = Vec::new();
    for i in 0..1000 {
        encode_cmd_into(&mut bytes, &["SET", &k[i % 2], "v"]);
        encode_cmd_into(&mut bytes, &["GET", &k[(i + 1) % 2]]);
        encode_cmd_into(&mut bytes, &["INCR", &format!("{{{}}}:n", k[i % 2])]);
    }
    c.send(&bytes);
    for _ in 0..3000 {
        let r = c.read();
        assert!(!matches!(r, Resp::Error(_)), "{r:?}");
    }
    for name in ["set", "get", "incr"] {
        assert_eq!(calls(&mut c, name), 1000, "{name}");
    }
    let Resp::Array(top) = c.cmd(&["LATENCY", "HISTOGRAM", "get"]) else { panic!("LATENCY HISTOGRAM") };
    let Resp::Array(fields) = &top[1] else { panic!("{top:?}") };
    assert_eq!(fields[..2], [Resp::bulk("calls"), Resp::Int(1000)]);

    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-max-len", "1000"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Resp::simple("OK"));
    let mut bytes = Vec::new();
    let keys: Vec<String> = (0..50).map(|i| format!("{{{}}}:{i}", k[i % 2])).collect();
    for key in &keys {
        encode_cmd_into(&mut bytes, &["GET", key]);
    }
    c.send(&bytes);
    for _ in &keys {
        c.read();
    }
    let Resp::Array(entries) = c.cmd(&["SLOWLOG", "GET", "1000"]) else { panic!("SLOWLOG GET") };
    let mut logged: Vec<String> = slowlogged_first_args(&entries, "GET");
    logged.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(logged, expected);
}

/// What one connection of `pipelined_hops_from_many_connections_answer_every_request_in_order`
/// sends in round `r`, with the replies it must get, computed from its own model of
/// its keys (no other connection touches them).
fn hop_round(
    n: usize,
    r: usize,
    keys: &[String],
    pair: &[String],
    big: &str,
    model: &mut std::collections::HashMap<String, String>,
    resp3: bool,
) -> (Vec<u8>, Vec<Resp>) {
    let nil = if resp3 { Resp::Null } else { Resp::NilBulk };
    let get = |model: &std::collections::HashMap<String, String>, k: &str| match model.get(k) {
        Some(v) => Resp::bulk(v),
        None => nil.clone(),
    };
    let (mut bytes, mut want) = (Vec::new(), Vec::new());
    for j in 0..8 {
        let k = &keys[(r * 7 + j * 3) % keys.len()];
        let v = format!("v{n}:{r}:{j}");
        encode_cmd_into(&mut bytes, &["GET", k]);
        want.push(get(model, k));
        encode_cmd_into(&mut bytes, &["SET", k, &v]);
        want.push(Resp::simple("OK"));
        model.insert(k.clone(), v.clone());
        encode_cmd_into(&mut bytes, &["GET", k]);
        want.push(Resp::bulk(&v));
        let counter = format!("c{n}:count{}", j % 3);
        let next = model.get(&counter).map_or(0, |c| c.parse::<i64>().unwrap()) + 1;
        encode_cmd_into(&mut bytes, &["INCR", &counter]);
        want.push(Resp::Int(next));
        model.insert(counter, next.to_string());
        encode_cmd_into(&mut bytes, &["INCR", k]);
        want.push(Resp::err("ERR value is not an integer or out of range"));
        encode_cmd_into(&mut bytes, &["GET", &format!("c{n}:absent{j}")]);
        want.push(nil.clone());
    }
    // A cross-shard MSET between reads of one of its keys: the hop queued before its
    // lock request must run before it, the one after it after.
    let v = format!("m{n}:{r}");
    encode_cmd_into(&mut bytes, &["GET", &pair[1]]);
    want.push(get(model, &pair[1]));
    encode_cmd_into(&mut bytes, &["MSET", &pair[0], &v, &pair[1], &v]);
    want.push(Resp::simple("OK"));
    model.insert(pair[0].clone(), v.clone());
    model.insert(pair[1].clone(), v.clone());
    encode_cmd_into(&mut bytes, &["GET", &pair[1]]);
    want.push(Resp::bulk(&v));
    if r % 10 == 3 {
        // Past a packed record's size: request and reply travel on their own, between
        // packed ones, and still in order.
        let k = &keys[r % keys.len()];
        let v = format!("{big}{n}:{r}");
        encode_cmd_into(&mut bytes, &["SET", k, &v]);
        want.push(Resp::simple("OK"));
        encode_cmd_into(&mut bytes, &["GET", k]);
        want.push(Resp::bulk(&v));
        encode_cmd_into(&mut bytes, &["STRLEN", k]);
        want.push(Resp::Int(v.len() as i64));
        model.insert(k.clone(), v);
    }
    (bytes, want)
}

/// Many connections pipeline requests to keys of both shards at once, in both
/// protocols and two databases, with small replies (packed with the turn's other
/// replies for the connection's shard, `shard::hopbatch`), big ones (travelling on
/// their own), errors, nils, and cross-shard MSETs in between: every reply comes back
/// in order with the value the connection's own model predicts. A client that leaves
/// with replies in flight disturbs no one.
#[test]
fn pipelined_hops_from_many_connections_answer_every_request_in_order() {
    let s = Server::start(2, &[]);
    let port = s.port;
    let leaver = std::thread::spawn(move || {
        let mut c = common::raw_to(port);
        let mut bytes = Vec::new();
        for i in 0..3000 {
            encode_cmd_into(&mut bytes, &["SET", &format!("gone:{}", i % 97), &"x".repeat(i % 50)]);
            encode_cmd_into(&mut bytes, &["GET", &format!("gone:{}", (i * 7) % 97)]);
        }
        c.send(&bytes);
        // Gone before its replies are: the shards' replies find its slot closed.
        let _ = c.w.shutdown(std::net::Shutdown::Both);
    });
    let big = "b".repeat(70 << 10);
    let workers: Vec<_> = (0..12)
        .map(|n| {
            let big = big.clone();
            std::thread::spawn(move || {
                let mut c = common::raw_to(port);
                let resp3 = n % 3 == 0;
                if resp3 {
                    assert!(matches!(c.cmd(&["HELLO", "3"]), Resp::Map(_)));
                }
                assert_eq!(c.cmd(&["SELECT", &(n % 2).to_string()]), Resp::simple("OK"));
                let keys: Vec<String> = (0..24).map(|i| format!("c{n}:k{i}")).collect();
                let pair = keys_on_distinct_shards(&format!("c{n}:pair"), 2, 2);
                let mut model = std::collections::HashMap::new();
                for r in 0..40 {
                    let (bytes, want) = hop_round(n, r, &keys, &pair, &big, &mut model, resp3);
                    c.send(&bytes);
                    for (i, w) in want.iter().enumerate() {
                        let got = c.read();
                        assert_eq!(&got, w, "connection {n}, round {r}, reply {i}");
                    }
                }
                model
            })
        })
        .collect();
    let models: Vec<_> = workers.into_iter().map(|w| w.join().expect("worker")).collect();
    leaver.join().expect("leaver");
    // Both shards served every connection: its keys sit on both, in its own db.
    let mut c = s.raw();
    assert_eq!(c.cmd(&["PING"]), Resp::simple("PONG"));
    for (n, model) in models.iter().enumerate() {
        assert_eq!(c.cmd(&["SELECT", &(n % 2).to_string()]), Resp::simple("OK"));
        for (k, v) in model {
            assert_eq!(c.cmd(&["GET", k]), Resp::bulk(v), "connection {n}'s {k}");
        }
    }
}
