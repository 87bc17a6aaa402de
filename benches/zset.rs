//! Criterion benchmarks for `storage::zset::ZSetValue`: the compact listpack encoding
//! against the skiplist (+ dictionary) encoding at the sizes where Redis switches
//! between them, and the skiplist alone at sizes only it serves.
//!
//! Names: `zset/<op>/<encoding>/<members>`, e.g. `zset/score/listpack/128`.
//! - `build`: insert every member into an empty set (ZADD of new members);
//! - `score`: ZSCORE of a random present member;
//! - `rank`: ZRANK of a random present member;
//! - `range10`: ZRANGE of 10 entries from a random rank, bytes copied out as a reply
//!   would;
//! - `incr`: ZINCRBY of a random member by a small step (moves it in the order);
//! - `count`: ZCOUNT of a score interval covering about a tenth of the set.
//!
//! Members are 12-byte strings with integer scores (what leaderboards store), which the
//! listpack encodes in two or three bytes. Also prints the heap bytes per member of each
//! encoding, the memory side of the comparison.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shardis::storage::zset::{AddFlags, ScoreRange, ZSetValue};
use shardis::util::rng::XorShift;

fn member(i: usize) -> Vec<u8> {
    format!("player:{i:05}").into_bytes()
}

fn build(skiplist: bool, members: &[Vec<u8>]) -> ZSetValue {
    let mut z = if skiplist { ZSetValue::new_skiplist() } else { ZSetValue::new() };
    for (i, m) in members.iter().enumerate() {
        z.insert(m, ((i * 7919) % 1000) as f64, &shardis::storage::EncodingLimits::DEFAULT);
    }
    z
}

fn bench(c: &mut Criterion) {
    for n in [16usize, 128, 100_000] {
        let members: Vec<Vec<u8>> = (0..n).map(member).collect();
        let encodings: &[(&str, bool)] =
            if n <= 128 { &[("listpack", false), ("skiplist", true)] } else { &[("skiplist", true)] };
        for &(name, skiplist) in encodings {
            let z = build(skiplist, &members);
            assert_eq!(z.encoding_name(), name);
            eprintln!("zset {name} {n} members: {:.1} heap bytes/member", z.heap_bytes() as f64 / n as f64);
            if n <= 128 {
                c.bench_function(&format!("zset/build/{name}/{n}"), |b| {
                    b.iter(|| black_box(build(skiplist, &members)))
                });
            }
            let mut rng = XorShift::new(0x9e37_79b9_7f4a_7c15);
            c.bench_function(&format!("zset/score/{name}/{n}"), |b| {
                b.iter(|| black_box(z.score(&members[rng.below(n)])))
            });
            c.bench_function(&format!("zset/rank/{name}/{n}"), |b| {
                b.iter(|| black_box(z.rank(&members[rng.below(n)], false)))
            });
            let mut out = Vec::with_capacity(1024);
            c.bench_function(&format!("zset/range10/{name}/{n}"), |b| {
                b.iter(|| {
                    out.clear();
                    let start = rng.below(n);
                    for (m, s) in z.range_by_rank(start, start + 9, false) {
                        out.extend_from_slice(m);
                        out.extend_from_slice(&s.to_le_bytes());
                    }
                    black_box(out.len())
                })
            });
            let range = ScoreRange { min: 100.0, max: 199.0, minex: false, maxex: false };
            c.bench_function(&format!("zset/count/{name}/{n}"), |b| b.iter(|| black_box(z.count_by_score(&range))));
            let mut zm = z.clone();
            let incr = AddFlags { incr: true, ..AddFlags::default() };
            c.bench_function(&format!("zset/incr/{name}/{n}"), |b| {
                b.iter(|| {
                    black_box(zm.add(&members[rng.below(n)], 1.0, incr, &shardis::storage::EncodingLimits::DEFAULT))
                })
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
