//! Criterion benchmarks for the command path without sockets: table lookup, arity and
//! auth checks, routing, the handler, stats and reply encoding, on one shard.
//!
//! Two flavours, both on a `cmd::harness::Harness` with one shard holding 100k keys
//! (16-byte keys, 16-byte values):
//! - `dispatch/harness/*`: `Harness::run_raw`, the socketless API tests use. It copies
//!   the arguments and allocates the reply per call, so it is an upper bound.
//! - `dispatch/direct/*`: `cmd::dispatch` on pre-parsed requests (`Args::Ranges`, as a
//!   connection hands them over) into a reused output buffer: what the server's
//!   per-request CPU is, minus the network and parsing.
//!
//! Keys are picked by a seeded xorshift so runs are repeatable.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shardis::cmd::harness::Harness;
use shardis::cmd::{Args, Outcome, dispatch};
use shardis::resp::{Limits, Parsed, parse_request};
use shardis::shard::ReplyTo;
use shardis::util::rng::XorShift;

const NKEYS: usize = 100_000;
const KEY_LEN: usize = 16;
const VALUE: &[u8] = b"0123456789abcdef";
/// Distinct pre-parsed requests cycled through by the direct benches.
const NREQ: usize = 4096;

/// `p` (4 bytes) then `i` as 12 zero-padded digits: exactly `KEY_LEN` bytes.
fn key(p: &[u8; 4], mut i: usize) -> [u8; KEY_LEN] {
    let mut k = [b'0'; KEY_LEN];
    k[..4].copy_from_slice(p);
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (i % 10) as u8;
        i /= 10;
    }
    k
}

fn loaded_harness() -> Harness {
    let mut h = Harness::new(1);
    for i in 0..NKEYS {
        let k = key(b"key:", i);
        let r = h.run_raw(&[b"set", &k, VALUE]);
        assert_eq!(r, b"+OK\r\n");
    }
    h
}

/// One request in wire form with its parsed argument ranges.
struct Request {
    buf: Vec<u8>,
    ranges: Vec<(u32, u32)>,
}

fn encode(args: &[&[u8]]) -> Request {
    let mut buf = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
    let mut ranges = Vec::new();
    let mut scratch = Vec::new();
    match parse_request(&buf, &mut ranges, &mut scratch, &Limits::default()) {
        Ok(Parsed::Command { consumed }) => assert_eq!(consumed, buf.len()),
        other => panic!("request did not parse: {other:?}"),
    }
    assert!(scratch.is_empty(), "multibulk arguments never need the scratch buffer");
    Request { buf, ranges }
}

/// `NREQ` requests made by `make` from random key indexes.
fn requests(seed: u64, make: impl Fn(usize) -> Request) -> Vec<Request> {
    let mut rng = XorShift::new(seed);
    (0..NREQ).map(|_| make(rng.below(NKEYS))).collect()
}

fn bench_harness(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch/harness");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(50);
    let mut h = loaded_harness();
    let mut rng = XorShift::new(0x5eed_1001);

    group.bench_function("get_hit", |b| {
        b.iter(|| {
            let k = key(b"key:", rng.below(NKEYS));
            black_box(h.run_raw(&[b"get", black_box(&k)]));
        })
    });
    group.bench_function("get_miss", |b| {
        b.iter(|| {
            let k = key(b"nok:", rng.below(NKEYS));
            black_box(h.run_raw(&[b"get", black_box(&k)]));
        })
    });
    group.bench_function("set", |b| {
        b.iter(|| {
            let k = key(b"key:", rng.below(NKEYS));
            black_box(h.run_raw(&[b"set", black_box(&k), VALUE]));
        })
    });
    group.finish();
}

fn bench_direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch/direct");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(50);
    let mut h = loaded_harness();
    // The worker refreshes the shard clock once per loop turn, not per request.
    h.shards[0].begin_turn();
    let to = ReplyTo { shard: 0, slot: 0, generation: 0, seq: 0 };

    let cases = [
        ("get_hit", requests(0x5eed_2001, |i| encode(&[b"GET", &key(b"key:", i)]))),
        ("get_miss", requests(0x5eed_2002, |i| encode(&[b"GET", &key(b"nok:", i)]))),
        ("set", requests(0x5eed_2003, |i| encode(&[b"SET", &key(b"key:", i), VALUE]))),
        ("incr", requests(0x5eed_2004, |i| encode(&[b"INCR", &key(b"ctr:", i)]))),
    ];
    for (name, reqs) in &cases {
        let mut out = Vec::with_capacity(1 << 16);
        let mut next = 0usize;
        group.bench_function(*name, |b| {
            b.iter(|| {
                let r = &reqs[next % NREQ];
                next += 1;
                // Like a connection's output buffer: flushed now and then, not per reply.
                if out.len() > (1 << 15) {
                    out.clear();
                }
                let args = Args::Ranges { buf: &r.buf, scratch: &[], ranges: &r.ranges };
                let outcome = dispatch(&mut h.shards[0], &mut h.sess, &args, &mut out, to);
                assert!(matches!(outcome, Outcome::Done));
            })
        });
    }
    group.finish();
}

/// The command-name lookup alone: `cmd::name_index` (what `Table::lookup` uses) against
/// the general map it replaced (a lower-cased copy, foldhash, `memcmp`), on the names a
/// pipeline repeats.
fn bench_lookup(c: &mut Criterion) {
    use shardis::cmd::name_index::NameIndex;
    use shardis::cmd::table::TABLE;
    let mut group = c.benchmark_group("dispatch/lookup");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    let names: Vec<&str> = (0..TABLE.len()).map(|i| TABLE.get(i as u16).name).collect();
    let index = NameIndex::new(names.iter().copied());
    let map: foldhash::HashMap<&[u8], u16> = names.iter().enumerate().map(|(i, n)| (n.as_bytes(), i as u16)).collect();
    let queries: [&[u8]; 8] = [b"GET", b"SET", b"incr", b"LPUSH", b"hset", b"MSET", b"ZRANGEBYSCORE", b"nosuch"];
    group.bench_function("name_index", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(index.get(black_box(q)));
            }
        })
    });
    group.bench_function("foldhash_map", |b| {
        b.iter(|| {
            for q in &queries {
                let q = black_box(q);
                let mut lower = [0u8; 32];
                for (d, s) in lower.iter_mut().zip(q.iter()) {
                    *d = s.to_ascii_lowercase();
                }
                black_box(map.get(&lower[..q.len()]).copied());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_harness, bench_direct, bench_lookup);
criterion_main!(benches);
