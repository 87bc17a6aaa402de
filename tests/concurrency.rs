//! Atomicity and exactness under concurrent clients: multi-key commands whose keys
//! live on different shards must be all-or-nothing for every observer, and concurrent
//! increments must not lose updates. Iteration counts are bounded so the tests stop
//! by themselves; failures are reported with the offending reply.

use crate::common;

use common::{Resp, SHARD_COUNTS, Server, encode_cmd_into};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// `n` keys named `{prefix}{i}`, asserting (with several shards) that they span at
/// least `min(n, shards)` shards, so the multi-key paths really cross shards.
fn keys_across_shards(prefix: &str, n: usize, shards: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let mut seen = vec![false; shards];
    for k in &keys {
        seen[shardis::util::hash::shard_of(k.as_bytes(), shards)] = true;
    }
    let covered = seen.iter().filter(|&&s| s).count();
    assert_eq!(covered, n.min(shards), "keys {prefix}* cover only {covered} of {shards} shards");
    keys
}

/// A writer MSETs k1..k8 to the same increasing value; readers MGET them and must see
/// all eight equal in every reply, never going backwards.
#[test]
fn mset_mget_are_atomic_across_shards() {
    const ITERS: usize = 3000;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let keys = keys_across_shards("atom", 8, shards);
        let mut c = s.conn();
        let mut init = redis::cmd("MSET");
        for k in &keys {
            init.arg(k).arg(0);
        }
        let _: () = init.query(&mut c).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let mut c = s.conn();
                let keys = keys.clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    let mut last = 0u64;
                    let mut n = 0;
                    // Bounded: ITERS replies, plus however many until the writer ends.
                    while n < ITERS || !done.load(Ordering::Acquire) {
                        let vals: Vec<u64> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
                        assert!(vals.iter().all(|&v| v == vals[0]), "reader {r}: torn MGET {vals:?} ({shards} shards)");
                        assert!(vals[0] >= last, "reader {r}: went back from {last} to {} ({shards} shards)", vals[0]);
                        last = vals[0];
                        n += 1;
                        if n > 20 * ITERS {
                            break;
                        }
                    }
                    last
                })
            })
            .collect();
        for v in 1..=ITERS as u64 {
            let mut cmd = redis::cmd("MSET");
            for k in &keys {
                cmd.arg(k).arg(v);
            }
            let _: () = cmd.query(&mut c).unwrap();
        }
        done.store(true, Ordering::Release);
        for r in readers {
            let last = r.join().unwrap();
            assert!(last <= ITERS as u64);
        }
        let vals: Vec<u64> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
        assert_eq!(vals, vec![ITERS as u64; keys.len()]);
    }
}

/// DEL of many keys (on every shard) is atomic with respect to EXISTS: a reader sees
/// either all of them or none.
#[test]
fn del_of_many_keys_is_atomic_wrt_exists() {
    const ITERS: usize = 1500;
    const N: usize = 16;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let keys = keys_across_shards("dk", N, shards);
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let mut c = s.conn();
            let keys = keys.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let (mut all, mut none) = (0usize, 0usize);
                let mut n = 0;
                while !done.load(Ordering::Acquire) && n < 40 * ITERS {
                    let e: i64 = redis::cmd("EXISTS").arg(&keys).query(&mut c).unwrap();
                    match e as usize {
                        N => all += 1,
                        0 => none += 1,
                        other => panic!("EXISTS saw {other} of {N} keys: a torn MSET or DEL ({shards} shards)"),
                    }
                    n += 1;
                }
                (all, none)
            })
        };
        let mut c = s.conn();
        for i in 0..ITERS {
            let mut m = redis::cmd("MSET");
            for k in &keys {
                m.arg(k).arg(i);
            }
            let _: () = m.query(&mut c).unwrap();
            let deleted: i64 = redis::cmd("DEL").arg(&keys).query(&mut c).unwrap();
            assert_eq!(deleted as usize, N, "iteration {i}");
        }
        done.store(true, Ordering::Release);
        let (all, none) = reader.join().unwrap();
        assert!(all + none > 0);
        let e: i64 = redis::cmd("EXISTS").arg(&keys).query(&mut c).unwrap();
        assert_eq!(e, 0);
    }
}

/// Eight clients INCR one shared key and their own keys (spread over shards), some
/// one at a time and some pipelined: every increment counts exactly once.
#[test]
fn concurrent_incr_sums_exactly() {
    const CLIENTS: usize = 8;
    const PER: usize = 1000;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let own = keys_across_shards("own", CLIENTS, shards);
        let handles: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let mut c = s.conn();
                let mine = own[i].clone();
                std::thread::spawn(move || {
                    let mut last_shared = 0;
                    for j in 0..PER {
                        if j % 2 == 0 {
                            let v: i64 = redis::cmd("INCR").arg("shared").query(&mut c).unwrap();
                            assert!(v > last_shared, "INCR shared went from {last_shared} to {v}");
                            last_shared = v;
                            let m: i64 = redis::cmd("INCR").arg(&mine).query(&mut c).unwrap();
                            assert_eq!(m as usize, j + 1);
                        } else {
                            let (v, m): (i64, i64) =
                                redis::pipe().cmd("INCR").arg("shared").cmd("INCR").arg(&mine).query(&mut c).unwrap();
                            assert!(v > last_shared);
                            last_shared = v;
                            assert_eq!(m as usize, j + 1);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut c = s.conn();
        let shared: i64 = redis::cmd("GET").arg("shared").query(&mut c).unwrap();
        assert_eq!(shared as usize, CLIENTS * PER, "{shards} shards");
        let vals: Vec<i64> = redis::cmd("MGET").arg(&own).query(&mut c).unwrap();
        assert_eq!(vals, vec![PER as i64; CLIENTS]);
    }
}

/// Sixteen clients each write one large pipeline at the same moment, mixing local,
/// remote and cross-shard commands; every client gets all its replies, in order.
#[test]
fn many_clients_pipelining_simultaneously() {
    const CLIENTS: usize = 16;
    const CMDS: usize = 2000;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let barrier = Arc::new(std::sync::Barrier::new(CLIENTS));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|ci| {
                let mut raw = s.raw();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut req = Vec::new();
                    let mut want = Vec::new();
                    for j in 0..CMDS {
                        let k = format!("c{ci}:k{}", j % 97);
                        let k2 = format!("c{ci}:k{}", (j + 31) % 97);
                        match j % 5 {
                            0 | 1 => {
                                encode_cmd_into(&mut req, &["SET", &k, &format!("{ci}-{j}")]);
                                want.push(Resp::simple("OK"));
                            }
                            2 => {
                                encode_cmd_into(&mut req, &["ECHO", &format!("{ci}/{j}")]);
                                want.push(Resp::bulk(&format!("{ci}/{j}")));
                            }
                            3 => {
                                // Cross-shard MSET in the middle of a pipeline.
                                encode_cmd_into(&mut req, &["MSET", &k, &format!("m{j}"), &k2, &format!("n{j}")]);
                                want.push(Resp::simple("OK"));
                            }
                            _ => {
                                let (p, p2) = (format!("c{ci}:k{}", (j - 1) % 97), format!("c{ci}:k{}", (j + 30) % 97));
                                encode_cmd_into(&mut req, &["MGET", &p, &p2]);
                                // The MSET just before this set both keys.
                                want.push(Resp::Array(vec![
                                    Resp::bulk(&format!("m{}", j - 1)),
                                    Resp::bulk(&format!("n{}", j - 1)),
                                ]));
                            }
                        }
                    }
                    let mut w = raw.w.try_clone().unwrap();
                    barrier.wait();
                    let writer = std::thread::spawn(move || w.write_all(&req).expect("write"));
                    for (j, want) in want.iter().enumerate() {
                        assert_eq!(&raw.read(), want, "client {ci}, reply {j}");
                    }
                    writer.join().unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut c = s.conn();
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(dbsize as usize, CLIENTS * 97, "{shards} shards");
    }
}

/// Several writers MSET (and DEL) overlapping key sets, each listing the keys in a
/// different order, while readers MGET: no reply is ever torn, nothing deadlocks
/// (every writer finishes its bounded loop), and the final state is one writer's.
#[test]
fn concurrent_writers_on_overlapping_keys_never_tear() {
    const WRITERS: usize = 3;
    const ITERS: usize = 800;
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let keys = keys_across_shards("ov", 6, shards);
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let mut c = s.conn();
                let keys = keys.clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !done.load(Ordering::Acquire) && n < 50 * ITERS {
                        let vals: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
                        assert!(vals.iter().all(|v| *v == vals[0]), "reader {r}: torn MGET {vals:?}");
                        n += 1;
                    }
                })
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let mut c = s.conn();
                let mut order = keys.clone();
                order.rotate_left(w * 2);
                if w % 2 == 1 {
                    order.reverse();
                }
                std::thread::spawn(move || {
                    for i in 0..ITERS {
                        if i % 10 == 9 {
                            let _: i64 = redis::cmd("DEL").arg(&order).query(&mut c).unwrap();
                            continue;
                        }
                        let mut m = redis::cmd("MSET");
                        for k in &order {
                            m.arg(k).arg(format!("w{w}:{i}"));
                        }
                        let _: () = m.query(&mut c).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
        for r in readers {
            r.join().unwrap();
        }
        let mut c = s.conn();
        let vals: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(&mut c).unwrap();
        assert!(vals.iter().all(|v| *v == vals[0]), "final state torn: {vals:?}");
    }
}
