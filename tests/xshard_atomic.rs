//! Atomicity of split commands that take one round trip (`cmd::coord_split`, "One round
//! trip"): a two-shard MSET's other part releases its locks as it runs, while the
//! coordinator's own part keeps them until that answer arrives. No client may then
//! see one key of an MSET written and, afterwards, another key of it unwritten.

mod common;

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
                        let (first, second) = if (i / WRITERS) % 2 == 0 { (&p[0], &p[1]) } else { (&p[1], &p[0]) };
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
