//! Criterion benchmarks for the RESP hot paths: parsing pipelined requests
//! and encoding bulk replies. Uses only the public `shardis::resp` and
//! `shardis::util` APIs so it measures what the server actually calls.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shardis::resp::{Limits, Parsed, Proto, ReplyWriter, parse_request};

/// `n` pipelined multibulk requests, `GET key:NNN` or `SET key:NNN value`.
fn pipeline(n: usize, set: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..n {
        let key = format!("key:{i:03}");
        if set {
            buf.extend_from_slice(
                format!("*3\r\n$3\r\nSET\r\n${}\r\n{}\r\n$5\r\nvalue\r\n", key.len(), key).as_bytes(),
            );
        } else {
            buf.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n${}\r\n{}\r\n", key.len(), key).as_bytes());
        }
    }
    buf
}

/// Parse every request in `buf` the way a connection loop would.
fn parse_all(buf: &[u8], args: &mut Vec<(u32, u32)>, scratch: &mut Vec<u8>, limits: &Limits) -> usize {
    let mut off = 0;
    let mut count = 0;
    while off < buf.len() {
        args.clear();
        match parse_request(&buf[off..], args, scratch, limits) {
            Ok(Parsed::Command { consumed }) => {
                black_box(&args[..]);
                off += consumed;
                count += 1;
            }
            Ok(Parsed::Empty { consumed }) => off += consumed,
            other => panic!("unexpected {other:?}"),
        }
    }
    count
}

fn bench_parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse");
    for (name, set) in [("pipeline_get", false), ("pipeline_set", true)] {
        for n in [16usize, 1000] {
            let buf = pipeline(n, set);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(name, n), &buf, |b, buf| {
                let mut args = Vec::with_capacity(8);
                let mut scratch = Vec::new();
                b.iter(|| {
                    let got = parse_all(black_box(buf), &mut args, &mut scratch, &limits);
                    assert_eq!(got, n);
                })
            });
        }
    }
    group.finish();
}

fn bench_write(c: &mut Criterion) {
    let mut group = c.benchmark_group("write");
    for size in [3usize, 100] {
        let payload = vec![b'x'; size];
        group.throughput(Throughput::Elements(1000));
        group.bench_with_input(BenchmarkId::new("bulk_1000", size), &payload, |b, payload| {
            let mut out = Vec::with_capacity(1000 * (size + 16));
            b.iter(|| {
                out.clear();
                let mut w = ReplyWriter::new(&mut out, Proto::Resp2);
                for _ in 0..1000 {
                    w.bulk(black_box(payload));
                }
                black_box(out.len());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_parse, bench_write);
criterion_main!(benches);
