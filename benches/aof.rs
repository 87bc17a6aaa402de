//! Criterion benchmarks for the AOF's CPU side: what the write choke point pays per
//! command to append to a shard's log, what a base file costs to build, and how fast
//! the loader's parser walks a file. (The I/O itself is measured end to end by
//! `perf/aof.sh`.)
//!
//! Names: `aof/<op>/<what>`:
//! - `aof/feed/set`, `aof/feed/mset10`, `aof/feed/hset5`: `ShardLog::feed` of 1000
//!   commands into an active log (the buffer is cleared between iterations, as a
//!   completed write does), with a db switch every 100 commands (the SELECT path);
//! - `aof/feed/tx_part`: a cross-shard transaction's part: staged commands, then
//!   `ShardLog::commit` as one tagged MULTI/EXEC block;
//! - `aof/base/mixed`: `load::base_bytes` over 10k keys of every type (the rewrite's
//!   and a reshard's base file);
//! - `aof/scan/mixed`, `aof/decode/mixed`: `load::scan` (start-up check, torn-tail
//!   detection) and a plain `resp::decode` walk over that base file plus a SET log.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shardis::config::Fsync;
use shardis::persist::load::{Tail, base_bytes, scan};
use shardis::persist::log::ShardLog;
use shardis::persist::resp::{Decoded, decode};
use shardis::storage::hash::HashValue;
use shardis::storage::list::ListValue;
use shardis::storage::set::SetValue;
use shardis::storage::zset::ZSetValue;
use shardis::storage::{Entry, Value};

const CMDS: u64 = 1000;

fn active_log() -> ShardLog {
    // Not `..Default::default()`: some fields are private to the crate.
    let mut l = ShardLog::default();
    l.on = true;
    l.policy = Fsync::Everysec;
    l
}

/// Keys and values shaped like redis-benchmark's (`key:000000012345`, 3-byte values).
fn keys(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("key:{:012}", i * 7919 % 100_000).into_bytes()).collect()
}

fn dataset() -> Vec<(u16, Vec<u8>, Entry)> {
    (0..10_000u64)
        .map(|i| {
            let value = match i % 6 {
                0 | 1 => Value::Str(format!("value-{i}").into_bytes().into()),
                2 => Value::List(
                    ListValue::from_items(
                        (0..(if i % 60 == 2 { 500 } else { 8 })).map(|j| format!("e{j}")),
                        shardis::storage::ListFill::default(),
                    )
                    .into(),
                ),
                3 => {
                    let mut s = SetValue::with_hint(b"1", 16);
                    for j in 0..16 {
                        s.insert((j * i).to_string().as_bytes(), &shardis::storage::EncodingLimits::DEFAULT);
                    }
                    Value::Set(s)
                }
                4 => {
                    let mut h = HashValue::new();
                    for j in 0..(if i % 60 == 4 { 300 } else { 8 }) {
                        h.set(
                            format!("field{j}").as_bytes(),
                            format!("v{}", j * i).as_bytes(),
                            &shardis::storage::EncodingLimits::DEFAULT,
                        );
                    }
                    Value::Hash(h)
                }
                _ => {
                    let mut z = ZSetValue::new();
                    for j in 0..8 {
                        z.insert(
                            format!("m{j}").as_bytes(),
                            j as f64 * 1.25,
                            &shardis::storage::EncodingLimits::DEFAULT,
                        );
                    }
                    Value::ZSet(z)
                }
            };
            let expire_at = if i % 4 == 0 { 4_000_000_000_000 } else { 0 };
            ((i % 3) as u16, format!("key:{i:08}").into_bytes(), Entry::with_meta(value, expire_at, 0))
        })
        .collect()
}

fn feed(c: &mut Criterion) {
    let ks = keys(CMDS as usize);
    let mut g = c.benchmark_group("aof/feed");
    g.throughput(Throughput::Elements(CMDS));

    g.bench_function("set", |b| {
        let mut l = active_log();
        b.iter(|| {
            l.buf.clear();
            for (i, k) in ks.iter().enumerate() {
                l.feed((i / 100 % 2) as u16, &[&b"SET"[..], k, b"xxx"]);
            }
            black_box(l.buf.len())
        })
    });

    g.bench_function("mset10", |b| {
        let mut l = active_log();
        let args: Vec<Vec<&[u8]>> = (0..CMDS as usize)
            .map(|i| {
                let mut a: Vec<&[u8]> = vec![b"MSET"];
                for j in 0..10 {
                    a.push(&ks[(i + j) % ks.len()]);
                    a.push(b"xxx");
                }
                a
            })
            .collect();
        b.iter(|| {
            l.buf.clear();
            for (i, a) in args.iter().enumerate() {
                l.feed((i / 100 % 2) as u16, a);
            }
            black_box(l.buf.len())
        })
    });

    g.bench_function("hset5", |b| {
        let mut l = active_log();
        b.iter(|| {
            l.buf.clear();
            for (i, k) in ks.iter().enumerate() {
                l.feed(
                    (i / 100 % 2) as u16,
                    &[&b"HSET"[..], k, b"f1", b"v1", b"f2", b"v2", b"f3", b"v3", b"f4", b"v4", b"f5", b"v5"],
                );
            }
            black_box(l.buf.len())
        })
    });

    // One transaction part per 4 commands: 250 parts of 4 SETs each.
    g.bench_function("tx_part", |b| {
        let mut l = active_log();
        let mut tx = 0u64;
        b.iter(|| {
            l.buf.clear();
            for chunk in ks.chunks(4) {
                tx += 1;
                l.stage = Some(tx);
                for k in chunk {
                    l.feed(0, &[&b"SET"[..], k, b"xxx"]);
                }
                l.stage = None;
                let marker = format!("shardis-tx:0123456789abcdef:{tx}:2");
                l.commit(tx, marker.as_bytes(), |_| {});
            }
            black_box(l.buf.len())
        })
    });
    g.finish();
}

fn files(c: &mut Criterion) {
    let data = dataset();
    let base = base_bytes(data.iter().map(|(d, k, e)| (*d, k.as_slice(), e)));
    // A base file followed by an incremental log of SETs: what start-up reads.
    let mut file = base.clone();
    let mut l = active_log();
    for k in keys(100_000) {
        l.feed(0, &[&b"SET"[..], &k, b"xxx"]);
    }
    file.extend_from_slice(&l.buf);
    assert_eq!(scan(&file), Tail::Clean);

    let mut g = c.benchmark_group("aof");
    g.throughput(Throughput::Bytes(base.len() as u64));
    g.bench_function("base/mixed", |b| {
        b.iter(|| black_box(base_bytes(data.iter().map(|(d, k, e)| (*d, k.as_slice(), e))).len()))
    });
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function("scan/mixed", |b| b.iter(|| black_box(scan(black_box(&file)))));
    g.bench_function("decode/mixed", |b| {
        b.iter(|| {
            let (mut pos, mut n) = (0, 0usize);
            while let Decoded::Cmd { len, .. } = decode(&file[pos..]) {
                pos += len;
                n += 1;
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, feed, files);
criterion_main!(benches);
