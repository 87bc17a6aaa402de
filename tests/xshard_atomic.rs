//! Atomicity of split commands that take one round trip (`cmd::coord_split`, "One round
//! trip"): a two-shard MSET's other part releases its locks as it runs, while the
//! coordinator's own part keeps them until that answer arrives. No client may then
//! see one key of an MSET written and, afterwards, another key of it unwritten.

use crate::common;

use common::{Resp, Server, encode_cmd_into, keys_on_distinct_shards};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const WRITERS: usize = 4;
const READERS: usize = 6;
const ROUNDS: usize = 60;
const BATCH: usize = 50;

fn value(r: Resp) -> i64 {
    match r {
        Resp::Bulk(b) => String::from_utf8(b).unwrap().parse().unwrap(),
        other => panic!("GET: {other:?}"),
    }
}

/// Writers pipeline MSETs of one rising counter to a pair of keys on two shards (their
/// connections land on either shard, so either key's shard coordinates). Readers GET
/// one key of a pair, then, after its reply, the other: the second must never be
/// older than the first. Connections land on shards at random, so readers of each key
/// run both on its own shard (no hop) and from the other one.
#[test]
fn a_key_seen_written_means_the_whole_mset_is_seen() {
    for shards in [2, 3] {
        let srv = Server::start(shards, &[]);
        let pairs: Vec<Vec<String>> =
            (0..WRITERS).map(|w| keys_on_distinct_shards(&format!("pair{w}:"), 2, shards)).collect();
        let mut c = srv.raw();
        for p in &pairs {
            assert_eq!(c.cmd(&["MSET", &p[0], "0", &p[1], "0"]), Resp::simple("OK"));
        }
        let done = Arc::new(AtomicBool::new(false));
        // Long pipelines on every shard make long loop turns: a part's message then
        // more often arrives between a shard's inbox drain and its next reading of the
        // sockets, the moment a reader could overtake it.
        let noise: Vec<_> = keys_on_distinct_shards("noise", shards, shards)
            .into_iter()
            .map(|k| {
                let (mut c, done) = (srv.raw(), done.clone());
                std::thread::spawn(move || {
                    let mut batch = Vec::new();
                    for _ in 0..400 {
                        encode_cmd_into(&mut batch, &["INCR", &k]);
                    }
                    while !done.load(Ordering::Acquire) {
                        c.send(&batch);
                        for _ in 0..400 {
                            assert!(matches!(c.read(), Resp::Int(_)));
                        }
                    }
                })
            })
            .collect();
        let writers: Vec<_> = pairs
            .iter()
            .cloned()
            .map(|p| {
                let mut c = srv.raw();
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    for _ in 0..ROUNDS {
                        let mut batch = Vec::new();
                        for _ in 0..BATCH {
                            n += 1;
                            let v = n.to_string();
                            encode_cmd_into(&mut batch, &["MSET", &p[0], &v, &p[1], &v]);
                        }
                        c.send(&batch);
                        for _ in 0..BATCH {
                            assert_eq!(c.read(), Resp::simple("OK"));
                        }
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let mut c = srv.raw();
                let (pairs, done) = (pairs.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut checks = 0u64;
                    let mut i = r;
                    while !done.load(Ordering::Acquire) || checks < 100 {
                        let p = &pairs[i % WRITERS];
                        let (first, second) =
                            if (i / WRITERS).is_multiple_of(2) { (&p[0], &p[1]) } else { (&p[1], &p[0]) };
                        let a = value(c.cmd(&["GET", first]));
                        let b = value(c.cmd(&["GET", second]));
                        assert!(b >= a, "{shards} shards: {first} = {a} was read before {second} = {b}: half an MSET");
                        checks += 1;
                        i += 1;
                    }
                    checks
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        done.store(true, Ordering::Release);
        for r in readers {
            assert!(r.join().expect("reader") >= 100);
        }
        for n in noise {
            n.join().expect("noise");
        }
        let last = (ROUNDS * BATCH).to_string();
        for p in &pairs {
            assert_eq!(c.cmd(&["MGET", &p[0], &p[1]]), Resp::Array(vec![Resp::bulk(&last), Resp::bulk(&last)]));
        }
    }
}

/// Split parts are recycled: an MSET part's `+OK` brings the part back to its
/// coordinator, which fills it with the next split command's part (`coord_split`,
/// `SplitLocal::spare`). A long pipeline of split commands of every shape (MSET of 2 to
/// 9 keys, values up to past the kept size, MGET, DEL, EXISTS, in two databases and
/// both protocols) must each run on exactly its own keys, arguments and database,
/// reply in its protocol, and count once in the command stats.
#[test]
fn recycled_split_parts_carry_only_their_own_command() {
    use std::collections::HashMap;
    for shards in [2, 3] {
        let srv = Server::start(shards, &[]);
        let mut c = srv.raw();
        let mut model: [HashMap<String, String>; 2] = [HashMap::new(), HashMap::new()];
        let (mut batch, mut expect) = (Vec::new(), Vec::new());
        let mut calls: HashMap<&str, usize> = HashMap::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let (mut db, mut resp3) = (0usize, false);
        for i in 0..600 {
            let keys: Vec<String> = (0..2 + next(8)).map(|_| format!("k{}", next(40))).collect();
            match i % 7 {
                0 => {
                    db = 1 - db;
                    encode_cmd_into(&mut batch, &["SELECT", &db.to_string()]);
                    expect.push(Resp::simple("OK"));
                }
                1 => {
                    resp3 = !resp3;
                    encode_cmd_into(&mut batch, &["HELLO", if resp3 { "3" } else { "2" }]);
                    expect.push(Resp::NilBulk); // not compared: HELLO's map
                }
                2 | 3 => {
                    let mut args = vec!["MSET".to_string()];
                    for k in &keys {
                        let len = if next(10) == 0 { 5000 } else { next(20) as usize };
                        let v = format!("{i}:{k}:{}", "x".repeat(len));
                        args.push(k.clone());
                        args.push(v.clone());
                        model[db].insert(k.clone(), v);
                    }
                    encode_cmd_into(&mut batch, &args);
                    expect.push(Resp::simple("OK"));
                    *calls.entry("mset").or_default() += 1;
                }
                4 => {
                    let mut args = vec!["MGET"];
                    args.extend(keys.iter().map(|k| k.as_str()));
                    encode_cmd_into(&mut batch, &args);
                    let nil = if resp3 { Resp::Null } else { Resp::NilBulk };
                    expect.push(Resp::Array(
                        keys.iter().map(|k| model[db].get(k).map_or(nil.clone(), |v| Resp::bulk(v))).collect(),
                    ));
                    *calls.entry("mget").or_default() += 1;
                }
                5 => {
                    let mut args = vec!["EXISTS"];
                    args.extend(keys.iter().map(|k| k.as_str()));
                    encode_cmd_into(&mut batch, &args);
                    expect.push(Resp::Int(keys.iter().filter(|k| model[db].contains_key(*k)).count() as i64));
                    *calls.entry("exists").or_default() += 1;
                }
                _ => {
                    let mut args = vec!["DEL"];
                    args.extend(keys.iter().take(2).map(|k| k.as_str()));
                    encode_cmd_into(&mut batch, &args);
                    let mut unique: Vec<&String> = keys.iter().take(2).collect();
                    unique.dedup();
                    expect.push(Resp::Int(unique.iter().filter(|k| model[db].remove(**k).is_some()).count() as i64));
                    *calls.entry("del").or_default() += 1;
                }
            }
        }
        c.send(&batch);
        for (i, want) in expect.into_iter().enumerate() {
            let got = c.read();
            if i % 7 != 1 {
                assert_eq!(got, want, "{shards} shards: reply {i}");
            }
        }
        c.cmd(&["HELLO", "2"]);
        let Resp::Bulk(info) = c.cmd(&["INFO", "commandstats"]) else { panic!("INFO") };
        let info = String::from_utf8(info).unwrap();
        for (name, n) in calls {
            let line = format!("cmdstat_{name}:calls={n},");
            assert!(info.contains(&line), "{shards} shards: want {line} in {info}");
        }
    }
}

/// Requests hopped to a shard with a big database are warmed in windows before they
/// run (`dispatch::warm_hops`: every key of MSET and MGET, the first argument of
/// others, any command, any database). A hint only: every reply must be as without it.
#[test]
fn hopped_requests_over_a_big_database_answer_as_before() {
    let srv = Server::start(2, &[]);
    let mut c = srv.raw();
    let mut batch = Vec::new();
    for i in 0..40_000 {
        encode_cmd_into(&mut batch, &["SET", &format!("key:{i}"), &format!("v{i}")]);
    }
    c.send(&batch);
    for _ in 0..40_000 {
        assert_eq!(c.read(), Resp::simple("OK"));
    }
    // Connections land on either shard: with four, requests hop both ways.
    for conn in 0..4 {
        let mut c = srv.raw();
        let (mut batch, mut expect) = (Vec::new(), Vec::new());
        for i in 0..300usize {
            let k = |j: usize| format!("key:{}", (i * 7919 + j * 104_729 + conn) % 20_000);
            match i % 5 {
                0 => {
                    encode_cmd_into(&mut batch, &["MSET", &k(1), &format!("m{conn}"), &k(2), &format!("m{conn}")]);
                    expect.push(Resp::simple("OK"));
                    encode_cmd_into(&mut batch, &["MGET", &k(1), &k(2), "nosuchkey"]);
                    let m = Resp::bulk(&format!("m{conn}"));
                    expect.push(Resp::Array(vec![m.clone(), m, Resp::NilBulk]));
                }
                1 => {
                    encode_cmd_into(&mut batch, &["INCR", &format!("counter:{conn}:{i}")]);
                    expect.push(Resp::Int(1));
                }
                2 => {
                    encode_cmd_into(&mut batch, &["SELECT", "3"]);
                    expect.push(Resp::simple("OK"));
                    encode_cmd_into(&mut batch, &["GET", &k(0)]);
                    expect.push(Resp::NilBulk);
                    encode_cmd_into(&mut batch, &["SELECT", "0"]);
                    expect.push(Resp::simple("OK"));
                }
                _ => {
                    // Keys 20000 and up are never overwritten.
                    encode_cmd_into(&mut batch, &["STRLEN", &format!("key:{}", 39_999 - i)]);
                    expect.push(Resp::Int(format!("v{}", 39_999 - i).len() as i64));
                }
            }
        }
        c.send(&batch);
        for (i, want) in expect.into_iter().enumerate() {
            assert_eq!(c.read(), want, "connection {conn}, reply {i}");
        }
    }
}

/// A split MSET naming a key twice: that key's shard holds its lock twice (the lock
/// table counts holders; a part's own duplicate is no conflict) and the last value
/// wins, as in Redis. Several connections, so each key's shard coordinates some of them
/// (its own part then enters its lock table directly) and runs the others' parts.
#[test]
fn a_split_mset_naming_a_key_twice_sets_the_last_value() {
    for shards in [2, 3] {
        let srv = Server::start(shards, &[]);
        let k = keys_on_distinct_shards("dup:", 2, shards);
        for conn in 0..6 {
            let mut c = srv.raw();
            for i in 0..20 {
                let (a, b) = (format!("{conn}:{i}:a"), format!("{conn}:{i}:b"));
                assert_eq!(c.cmd(&["MSET", &k[0], &a, &k[1], &b, &k[0], &b, &k[1], &a]), Resp::simple("OK"));
                let both = c.cmd(&["MGET", &k[0], &k[1]]);
                assert_eq!(both, Resp::Array(vec![Resp::Bulk(b.into_bytes()), Resp::Bulk(a.into_bytes())]));
            }
        }
    }
}

/// Pipelined split MSETs over one set of many keys, from several connections, each
/// naming the keys in its own order, while pipelined split MGETs read them all: every
/// MGET sees one MSET's values whole, and the end state is one writer's. Dozens of
/// MSETs of ~24 keys per shard in flight make each shard's lock table hold hundreds of
/// keys (its set grows and shrinks, entries sharing places), the coordinator's own
/// parts come in batches (`take_own`, their answers handled in `run_own`), and the
/// other parts release as they run.
#[test]
fn pipelined_overlapping_msets_are_seen_whole_by_pipelined_mgets() {
    const WRITERS: usize = 4;
    const READERS: usize = 3;
    const ROUNDS: usize = 40;
    const BATCH: usize = 16;
    for shards in [2, 3] {
        let srv = Server::start(shards, &[]);
        let keys: Vec<String> = (0..48).map(|i| format!("wide:{i}")).collect();
        let mut c = srv.raw();
        let mut init = vec!["MSET".to_string()];
        for k in &keys {
            init.push(k.clone());
            init.push("init".into());
        }
        let init: Vec<&str> = init.iter().map(|s| s.as_str()).collect();
        assert_eq!(c.cmd(&init), Resp::simple("OK"));
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let mut c = srv.raw();
                let (keys, done) = (keys.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut mget = vec!["MGET"];
                    mget.extend(keys.iter().map(|k| k.as_str()));
                    let mut batch = Vec::new();
                    for _ in 0..8 {
                        encode_cmd_into(&mut batch, &mget);
                    }
                    let mut seen = 0u64;
                    while !done.load(Ordering::Acquire) || seen < 80 {
                        c.send(&batch);
                        for _ in 0..8 {
                            let Resp::Array(vals) = c.read() else { panic!("MGET reply") };
                            assert!(
                                vals.iter().all(|v| *v == vals[0]),
                                "{shards} shards, reader {r}: half an MSET seen: {vals:?}"
                            );
                            seen += 1;
                        }
                    }
                })
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let mut c = srv.raw();
                let mut order = keys.clone();
                order.rotate_left(w * 11);
                if w % 2 == 1 {
                    order.reverse();
                }
                std::thread::spawn(move || {
                    for round in 0..ROUNDS {
                        let mut batch = Vec::new();
                        for i in 0..BATCH {
                            let v = format!("w{w}:{round}:{i}");
                            let mut mset = vec!["MSET"];
                            for k in &order {
                                mset.push(k.as_str());
                                mset.push(v.as_str());
                            }
                            encode_cmd_into(&mut batch, &mset);
                        }
                        c.send(&batch);
                        for _ in 0..BATCH {
                            assert_eq!(c.read(), Resp::simple("OK"));
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        done.store(true, Ordering::Release);
        for r in readers {
            r.join().expect("reader");
        }
        let mut mget = vec!["MGET"];
        mget.extend(keys.iter().map(|k| k.as_str()));
        let Resp::Array(vals) = c.cmd(&mget) else { panic!("MGET reply") };
        assert!(vals.iter().all(|v| *v == vals[0]), "{shards} shards: final state torn: {vals:?}");
        let Resp::Bulk(last) = &vals[0] else { panic!("a value") };
        let last = String::from_utf8_lossy(last);
        assert!(last.ends_with(&format!(":{}:{}", ROUNDS - 1, BATCH - 1)), "the last MSET of some writer: {last}");
    }
}
