//! Criterion benchmarks for the whole request path without sockets: received bytes
//! appended to a connection's read buffer (`Conn::feed`, the copy out of the buffer
//! ring), parsed, dispatched, run and answered into its output buffer
//! (`Conn::process_input`), the output then taken as a send would take it.
//!
//! Each iteration is one receive holding a pipelined batch of 16 requests, as
//! `redis-benchmark -P 16` sends them: GET and SET of one hot key (where nothing but
//! the request path is left to pay, the case `perf/floor.sh` compares against a
//! data-less server), and GET and SET of random keys out of 100k (16-byte keys,
//! 16-byte values). Criterion's time per iteration over 16 is the per-request cost.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shardis::cmd::Session;
use shardis::cmd::harness::Harness;
use shardis::net::Conn;
use shardis::net::conn::{Pause, Stopped};
use shardis::resp::Limits;
use shardis::util::rng::XorShift;

const NKEYS: usize = 100_000;
const PIPELINE: usize = 16;
/// Distinct batches cycled through by the random-key cases.
const NBATCH: usize = 1024;
const VALUE: &[u8] = b"0123456789abcdef";

fn key(i: usize) -> Vec<u8> {
    format!("key:{i:012}").into_bytes()
}

fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `NBATCH` receives of `PIPELINE` requests each, made by `make` from key indexes
/// (`one_key`: always key 0).
fn batches(seed: u64, one_key: bool, make: impl Fn(&mut Vec<u8>, &[u8])) -> Vec<Vec<u8>> {
    let mut rng = XorShift::new(seed);
    let n = if one_key { 1 } else { NBATCH };
    (0..n)
        .map(|_| {
            let mut buf = Vec::new();
            for _ in 0..PIPELINE {
                let i = if one_key { 0 } else { rng.below(NKEYS) };
                make(&mut buf, &key(i));
            }
            buf
        })
        .collect()
}

fn bench_request_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("reqpath");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(50);
    group.throughput(Throughput::Elements(PIPELINE as u64));
    let mut h = Harness::new(1);
    for i in 0..NKEYS {
        assert_eq!(h.run_raw(&[b"set", &key(i), VALUE]), b"+OK\r\n");
    }
    // The worker refreshes the shard clock once per loop turn, not per request.
    h.shards[0].begin_turn();
    let limits = Limits::default();
    let get = |b: &mut Vec<u8>, k: &[u8]| encode(b, &[b"GET", k]);
    let set = |b: &mut Vec<u8>, k: &[u8]| encode(b, &[b"SET", k, VALUE]);
    let cases = [
        ("get_p16_one_key", batches(0x5eed_3001, true, get)),
        ("set_p16_one_key", batches(0x5eed_3002, true, set)),
        ("get_p16_random", batches(0x5eed_3003, false, get)),
        ("set_p16_random", batches(0x5eed_3004, false, set)),
    ];
    for (name, batches) in &cases {
        let mut conn = Conn::new(-1, 0, Session::new(2, false));
        let mut next = 0usize;
        group.bench_function(*name, |b| {
            b.iter(|| {
                let batch = &batches[next % batches.len()];
                next += 1;
                conn.feed(black_box(batch));
                let stopped = conn.process_input(&mut h.shards[0], 0, &limits, Pause::None);
                debug_assert_eq!(stopped, Stopped::Idle);
                // What queue_sends hands to the kernel.
                black_box(conn.out.len());
                conn.out.clear();
            })
        });
        assert!(!conn.pending_input(), "{name}: every request ran");
    }
    group.finish();
}

criterion_group!(benches, bench_request_path);
criterion_main!(benches);
