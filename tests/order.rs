//! A connection's pipelined commands execute in the order it sent them, also when
//! they run on different shards (`cmd::order`), as one Redis runs them: another client
//! never sees a later command's effect before an earlier one's.
//!
//! Each test runs with 2 and 4 shards, over RESP2 and RESP3. The first fails at once
//! on a build that runs a local command while the connection's earlier hop to another
//! shard has not run yet (checked with `SHARDIS_TEST_SERVER=/tmp/shardis-main-s9`: its
//! pipelined reader reads `first` before `second`). The job queue guards the pattern;
//! on such a build it fails only when a shard thread stalls between the writer's turn
//! and the worker's read (the hop and the worker's request travel different paths to
//! the job's shard, and the hop usually wins), so it passed there in 3 runs.

use crate::common;

use common::{Raw, Resp, Rng, Server, encode_cmd_into, keys_on_distinct_shards};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the writers write: long enough that an out-of-order run shows up many
/// times over on a build without the ordering, short enough for CI.
const WRITE_FOR: Duration = Duration::from_millis(1200);
/// Pipelines of 64 jobs each writer sends at most.
const JOB_BATCHES: usize = 40;

fn hello(c: &mut Raw, proto: u8) {
    if proto == 3 {
        match c.cmd(&["HELLO", "3"]) {
            Resp::Map(_) => {}
            other => panic!("HELLO 3: {other:?}"),
        }
    }
}

fn int_of(r: &Resp) -> i64 {
    match r {
        Resp::NilBulk | Resp::Null => -1,
        Resp::Bulk(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
        other => panic!("not a number: {other:?}"),
    }
}

/// Connections spread over the shards (wherever they land): a reader reads through a
/// random one each time, as a client with a connection pool does, so it often reads
/// straight from the key's own shard, with no queue between it and the writer's hop.
fn pool(server: &Server, proto: u8) -> Vec<Raw> {
    (0..3 * server.shards)
        .map(|_| {
            let mut c = server.raw();
            hello(&mut c, proto);
            c
        })
        .collect()
}

fn pick<'a>(pool: &'a mut [Raw], rng: &mut Rng) -> &'a mut Raw {
    let i = rng.below(pool.len() as u64) as usize;
    &mut pool[i]
}

/// A key named `prefix…` that lives on `shard`.
fn key_on(prefix: &str, shard: usize, shards: usize) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| shardis::util::hash::shard_of(k.as_bytes(), shards) == shard)
        .unwrap()
}

/// Pairs of keys (first, second) on distinct shards, in both directions between every
/// two neighbouring shards, so whichever shard a writer's connection lands on, some
/// pair has its first key on another shard and its second on the writer's own.
fn key_pairs(shards: usize, tag: &str) -> Vec<(String, String)> {
    (0..shards)
        .flat_map(|x| {
            let y = (x + 1) % shards;
            [(x, y), (y, x)].map(|(a, b)| {
                (key_on(&format!("{tag}first{a}{b}-"), a, shards), key_on(&format!("{tag}second{a}{b}-"), b, shards))
            })
        })
        .collect()
}

/// One client pipelines `SET first i` then `SET second i` for every pair and rising
/// i; readers read `second` and then `first` (through any of their connections) and
/// must never find `first` behind `second`.
fn writes_are_seen_in_order(shards: usize, proto: u8) {
    let server = Server::start(shards, &[]);
    // Two writers, each on some shard, each with its own keys and counter.
    let pairs: Vec<Vec<(String, String)>> = ["w0-", "w1-"].map(|w| key_pairs(shards, w)).into();
    let shard = |k: &str| shardis::util::hash::shard_of(k.as_bytes(), shards);
    assert!(pairs.iter().flatten().all(|(a, b)| shard(a) != shard(b)));
    let all = Arc::new(pairs.concat());
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicU64::new(0));
    // One reader waits for each reply; the other pipelines its two reads, which
    // must run in order too (read/read).
    let readers: Vec<_> = [false, true]
        .into_iter()
        .map(|pipelined| {
            let (pairs, stop, checks) = (all.clone(), stop.clone(), checks.clone());
            let mut pool = pool(&server, proto);
            std::thread::spawn(move || {
                let mut rng = Rng::new(7);
                let mut both = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    for (first, second) in pairs.iter() {
                        let (s, f) = if pipelined {
                            both.clear();
                            encode_cmd_into(&mut both, &["GET", second]);
                            encode_cmd_into(&mut both, &["GET", first]);
                            let c = pick(&mut pool, &mut rng);
                            c.send(&both);
                            (int_of(&c.read()), int_of(&c.read()))
                        } else {
                            let s = int_of(&pick(&mut pool, &mut rng).cmd(&["GET", second]));
                            (s, int_of(&pick(&mut pool, &mut rng).cmd(&["GET", first])))
                        };
                        assert!(f >= s, "{second} = {s} was written after {first}, which reads {f}");
                        checks.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let writers: Vec<_> = pairs
        .into_iter()
        .map(|pairs| {
            let mut c = server.raw();
            hello(&mut c, proto);
            std::thread::spawn(move || {
                let start = Instant::now();
                let (mut batch, mut i) = (Vec::new(), 0u64);
                while start.elapsed() < WRITE_FOR {
                    batch.clear();
                    let mut n = 0;
                    for _ in 0..32 {
                        i += 1;
                        let v = i.to_string();
                        for (first, second) in pairs.iter() {
                            encode_cmd_into(&mut batch, &["SET", first.as_str(), &v]);
                            encode_cmd_into(&mut batch, &["SET", second.as_str(), &v]);
                            n += 2;
                        }
                    }
                    c.send(&batch);
                    for _ in 0..n {
                        assert_eq!(c.read(), Resp::simple("OK"));
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader saw a later write before an earlier one");
    }
    assert!(checks.load(Ordering::Relaxed) > 0, "the readers ran");
}

#[test]
fn pipelined_writes_on_different_shards_are_seen_in_the_order_sent() {
    for shards in [2, 4] {
        for proto in [2, 3] {
            writes_are_seen_in_order(shards, proto);
        }
    }
}

/// The job-queue pattern without MULTI: writers pipeline `SET job:i …` then
/// `LPUSH queue:q i` (a queue on every shard); a worker per queue pops ids with BRPOP
/// and must always find the job.
fn job_queue(shards: usize, proto: u8) {
    let server = Server::start(shards, &[]);
    let queues = Arc::new(keys_on_distinct_shards("queue:", shards, shards));
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = queues
        .iter()
        .map(|q| {
            let (q, done) = (q.clone(), done.clone());
            let mut c = server.raw();
            hello(&mut c, proto);
            let mut pool = pool(&server, proto);
            std::thread::spawn(move || {
                let mut rng = Rng::new(11);
                let mut popped = 0u64;
                loop {
                    let id = match c.cmd(&["BRPOP", &q, "0.2"]) {
                        Resp::Array(kv) => kv[1].clone(),
                        Resp::Map(kv) => kv[0].1.clone(),
                        Resp::NilArray | Resp::Null if done.load(Ordering::Relaxed) => return popped,
                        Resp::NilArray | Resp::Null => continue,
                        other => panic!("BRPOP: {other:?}"),
                    };
                    let Resp::Bulk(id) = id else { panic!("id {id:?}") };
                    let id = String::from_utf8(id).unwrap();
                    let job = pick(&mut pool, &mut rng).cmd(&["GET", &format!("job:{id}")]);
                    assert_eq!(job, Resp::Bulk(format!("payload-{id}").into_bytes()), "job {id} popped from {q}");
                    popped += 1;
                }
            })
        })
        .collect();
    let next = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let (queues, next) = (queues.clone(), next.clone());
            let mut c = server.raw();
            hello(&mut c, proto);
            std::thread::spawn(move || {
                let start = Instant::now();
                let mut batch = Vec::new();
                // Bounded: the workers pop one job per two round trips.
                for _ in 0..JOB_BATCHES {
                    if start.elapsed() > WRITE_FOR {
                        break;
                    }
                    batch.clear();
                    for _ in 0..64 {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let q = &queues[i as usize % queues.len()];
                        encode_cmd_into(&mut batch, &["SET", &format!("job:{i}"), &format!("payload-{i}")]);
                        encode_cmd_into(&mut batch, &["LPUSH", q, &i.to_string()]);
                    }
                    c.send(&batch);
                    for _ in 0..64 {
                        assert_eq!(c.read(), Resp::simple("OK"));
                        assert!(matches!(c.read(), Resp::Int(n) if n > 0));
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    let popped: u64 = workers.into_iter().map(|w| w.join().expect("a worker popped a job that was not there")).sum();
    assert_eq!(popped, next.load(Ordering::Relaxed), "every job popped once");
}

#[test]
fn a_pipelined_job_and_its_queue_entry_are_seen_in_the_order_sent() {
    for shards in [2, 4] {
        for proto in [2, 3] {
            job_queue(shards, proto);
        }
    }
}

/// `pipeline-order per-shard` (shardis's own setting) drops the ordering across shards
/// and keeps each shard's: the setting reads back, is refused with Redis's enum error
/// for other values, can be changed at run time, and pipelines over both shards still
/// get every reply, right, in request order.
#[test]
fn per_shard_pipeline_order_is_a_setting_and_keeps_replies_in_order() {
    let server = Server::start(2, &["--pipeline-order", "per-shard"]);
    let mut admin = server.raw();
    let get = |c: &mut Raw| c.cmd(&["CONFIG", "GET", "pipeline-order"]);
    assert_eq!(get(&mut admin), Resp::Array(vec![Resp::bulk("pipeline-order"), Resp::bulk("per-shard")]));
    let Resp::Error(e) = admin.cmd(&["CONFIG", "SET", "pipeline-order", "loose"]) else { panic!("bad value accepted") };
    assert!(e.contains("argument(s) must be one of the following"), "{e}");
    let keys = [key_on("ps-a", 0, 2), key_on("ps-b", 1, 2)];
    for (round, mode) in ["per-shard", "strict", "per-shard"].iter().enumerate() {
        assert_eq!(admin.cmd(&["CONFIG", "SET", "pipeline-order", mode]), Resp::simple("OK"));
        assert_eq!(get(&mut admin), Resp::Array(vec![Resp::bulk("pipeline-order"), Resp::bulk(mode)]));
        let mut c = server.raw();
        let mut buf = Vec::new();
        for i in 0..2000 {
            let k = &keys[i % 2];
            let v = format!("{round}-{i}");
            encode_cmd_into(&mut buf, &["SET", k.as_str(), v.as_str()]);
            encode_cmd_into(&mut buf, &["GET", k.as_str()]);
        }
        c.send(&buf);
        for i in 0..2000 {
            assert_eq!(c.read(), Resp::simple("OK"), "{mode}: SET {i}");
            assert_eq!(c.read(), Resp::bulk(&format!("{round}-{i}")), "{mode}: GET {i}");
        }
    }
}

/// A pipeline that changes shard at every command leaves in one piece: while a request
/// waits for the replies its connection owes from another shard, the replies ready
/// before it are kept back (`Conn::holds_output`) rather than sent at every change of
/// shard (a send and a client wake-up each). The pipeline ends with TIME, which waits
/// for every owed reply and runs on the connection's own shard, so its reply is the
/// last one made: the first read must hold every reply. On a build that sends at every
/// change of shard (`SHARDIS_TEST_SERVER=/tmp/shardis-main-s10`) the first read holds
/// only the replies made before the first round trip between the shard threads.
#[test]
fn a_pipeline_over_shards_is_answered_in_one_piece() {
    use std::io::Read;
    for shards in [2, 4] {
        let server = Server::start(shards, &[]);
        let keys = keys_on_distinct_shards("piece:", shards, shards);
        let commands = 4 * shards;
        for round in 0..20 {
            // A new connection each round: it lands on any shard.
            let mut c = server.raw();
            let mut buf = Vec::new();
            for i in 0..commands {
                encode_cmd_into(&mut buf, &["INCR", keys[i % shards].as_str()]);
            }
            encode_cmd_into(&mut buf, &["TIME"]);
            c.send(&buf);
            let mut first = vec![0u8; 64 << 10];
            let n = c.w.read(&mut first).expect("read");
            let mut r = common::RespReader::new(std::io::Cursor::new(first[..n].to_vec()));
            for i in 0..commands {
                let want = (round * 4 + i / shards + 1) as i64;
                match r.read() {
                    Ok(v) => assert_eq!(v, Resp::Int(want), "{shards} shards, round {round}: INCR {i}"),
                    Err(e) => {
                        panic!("{shards} shards, round {round}: the first read ({n} bytes) ends before reply {i}: {e}")
                    }
                }
            }
            assert!(matches!(r.read(), Ok(Resp::Array(a)) if a.len() == 2), "{shards} shards, round {round}: TIME");
        }
    }
}
