//! Criterion benchmarks for the RESP hot paths: parsing pipelined requests
//! (stateless `parse_request` and the connection's resumable `RequestParser`),
//! parsing one big request that arrives in 16 KiB reads (its time per MiB must
//! stay flat from 1 MiB to 256 MiB; `rpush_conn_reads` also copies each read into
//! a read buffer and moves the parsed arguments out to an `ArgStore` as
//! `net::conn` does), and encoding bulk replies. Uses only the
//! public `shardis::resp` and `shardis::util` APIs so it measures what the
//! server actually calls.

use std::cell::LazyCell;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shardis::resp::{ArgStore, Limits, Parsed, Proto, ReplyWriter, RequestParser, parse_request};

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

/// The same, through the resumable parser a connection uses.
fn parse_all_resumable(buf: &[u8], parser: &mut RequestParser, scratch: &mut Vec<u8>, limits: &Limits) -> usize {
    let mut off = 0;
    let mut count = 0;
    while off < buf.len() {
        match parser.parse(&buf[off..], scratch, limits) {
            Ok(Parsed::Command { consumed }) => {
                black_box(parser.args());
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
            // Built on first use: a test-mode run of one benchmark builds only its input.
            let buf = LazyCell::new(|| pipeline(n, set));
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(name, n), &buf, |b, buf| {
                let buf: &Vec<u8> = buf;
                let mut args = Vec::with_capacity(8);
                let mut scratch = Vec::new();
                b.iter(|| {
                    let got = parse_all(black_box(buf), &mut args, &mut scratch, &limits);
                    assert_eq!(got, n);
                })
            });
            group.bench_with_input(BenchmarkId::new(format!("{name}_resumable"), n), &buf, |b, buf| {
                let buf: &Vec<u8> = buf;
                let mut parser = RequestParser::new();
                let mut scratch = Vec::new();
                b.iter(|| {
                    let got = parse_all_resumable(black_box(buf), &mut parser, &mut scratch, &limits);
                    assert_eq!(got, n);
                })
            });
        }
    }
    group.finish();
}

/// One `RPUSH key e1 e2 ...` of `mib` MiB, 5-byte elements (11 bytes each on
/// the wire), as perf/bigreq.sh sends it.
fn big_rpush(mib: usize) -> (Vec<u8>, usize) {
    let n = (mib << 20) / 11;
    let mut buf = format!("*{}\r\n$5\r\nRPUSH\r\n$3\r\nbig\r\n", n + 2).into_bytes();
    buf.reserve(n * 11);
    for i in 0..n {
        buf.extend_from_slice(format!("${}\r\n{:05}\r\n", 5, i % 100_000).as_bytes());
    }
    assert_eq!(buf.len(), big_rpush_len(mib), "the throughput criterion reports");
    (buf, n + 2)
}

/// The length in bytes of `big_rpush(mib)`'s request, without building it (the
/// throughput criterion reports).
fn big_rpush_len(mib: usize) -> usize {
    let n = (mib << 20) / 11;
    format!("*{}\r\n$5\r\nRPUSH\r\n$3\r\nbig\r\n", n + 2).len() + n * 11
}

/// The read size the big-request bench feeds the parser with.
const READ: usize = 16 << 10;

fn bench_big_request(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("big_request_16k_reads");
    group.sample_size(10);
    for mib in [1usize, 4, 16, 64, 256] {
        // Built on first use (criterion runs a routine only if its name passes the
        // filter), so a test-mode run of one benchmark builds only its own request
        // instead of all 341 MiB of them.
        let built = LazyCell::new(|| big_rpush(mib));
        group.throughput(Throughput::Bytes(big_rpush_len(mib) as u64));
        group.bench_with_input(BenchmarkId::new("rpush_resumable", format!("{mib}MiB")), &built, |b, built| {
            let (req, argc) = (&built.0, built.1);
            let mut parser = RequestParser::new();
            let mut scratch = Vec::new();
            b.iter(|| {
                let mut end = 0;
                loop {
                    end = (end + READ).min(req.len());
                    match parser.parse(black_box(&req[..end]), &mut scratch, &limits) {
                        Ok(Parsed::Command { consumed }) => {
                            assert_eq!((consumed, parser.args().len()), (req.len(), argc));
                            break;
                        }
                        Ok(Parsed::Incomplete { .. }) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        });
        // The connection's whole read side: each read copied into a read buffer, the
        // complete arguments moved out past 64 KiB (`Conn::detach_parsed`), the
        // buffer compacted; the arguments read back once, as a command would.
        group.bench_with_input(BenchmarkId::new("rpush_conn_reads", format!("{mib}MiB")), &built, |b, built| {
            let (req, argc) = (&built.0, built.1);
            let mut parser = RequestParser::new();
            let mut scratch = Vec::new();
            b.iter(|| {
                let mut rbuf: Vec<u8> = Vec::new();
                let mut moved = ArgStore::new();
                for read in req.chunks(READ) {
                    rbuf.extend_from_slice(black_box(read));
                    match parser.parse(&rbuf, &mut scratch, &limits) {
                        Ok(Parsed::Command { consumed }) => {
                            assert_eq!((consumed, moved.len() + parser.args().len()), (rbuf.len(), argc));
                            let head: usize = (0..moved.len()).map(|i| moved.get(i).len()).sum();
                            let tail: usize = parser.args().iter().map(|r| (r.1 - r.0) as usize).sum();
                            black_box(head + tail);
                        }
                        Ok(Parsed::Incomplete { .. }) if parser.parsed_len() >= 64 << 10 => {
                            let n = parser.detach_into(&rbuf, &mut moved);
                            rbuf.drain(..n);
                        }
                        Ok(Parsed::Incomplete { .. }) => {}
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        });
        // What a parser without state across reads pays: the whole partial request
        // again on every read, quadratic in the size (only the smallest size).
        if mib == 1 {
            group.bench_with_input(
                BenchmarkId::new("rpush_reparse_each_read", format!("{mib}MiB")),
                &built,
                |b, built| {
                    let req = &built.0;
                    let mut args = Vec::new();
                    let mut scratch = Vec::new();
                    b.iter(|| {
                        let mut end = 0;
                        loop {
                            end = (end + READ).min(req.len());
                            args.clear();
                            match parse_request(black_box(&req[..end]), &mut args, &mut scratch, &limits) {
                                Ok(Parsed::Command { .. }) => break,
                                Ok(Parsed::Incomplete { .. }) => {}
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    })
                },
            );
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

criterion_group!(benches, bench_parse, bench_big_request, bench_write);
criterion_main!(benches);
