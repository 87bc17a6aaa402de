//! Criterion benchmarks for `storage::set::SetValue`: intset and listpack against the
//! hashtable encoding at the sizes where the compact ones are used.
//!
//! Names: `set/<op>/<encoding>/<members>`, e.g. `set/contains_hit/intset/512`.
//! - `contains_hit` / `contains_miss`: SISMEMBER of a present / absent member;
//! - `insert_remove`: add a new member and remove it again (size stays constant);
//! - `iter`: walk every member (SMEMBERS), integers formatted as a reply would.
//!
//! Integer members for intset vs hashtable, `member:<i>` strings for listpack vs
//! hashtable. Also prints the heap bytes per set of each encoding at each size.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shardis::storage::hash::XorShift;
use shardis::storage::set::SetValue;

fn build(members: &[Vec<u8>], table: bool) -> SetValue {
    let first = &members[0];
    let mut s = if table { SetValue::with_hint(b"not-an-int", 100_000) } else { SetValue::with_hint(first, 1) };
    for m in members {
        s.insert(m, &shardis::storage::EncodingLimits::DEFAULT);
    }
    s
}

fn bench(c: &mut Criterion) {
    let cases: [(&str, usize); 5] =
        [("intset", 16), ("intset", 128), ("intset", 512), ("listpack", 16), ("listpack", 128)];
    for (compact, n) in cases {
        let members: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                if compact == "intset" {
                    (i * 7919).to_string().into_bytes()
                } else {
                    format!("member:{i}").into_bytes()
                }
            })
            .collect();
        let absent: &[u8] = if compact == "intset" { b"-5" } else { b"member:absent" };
        let new: &[u8] = if compact == "intset" { b"-6" } else { b"member:new" };
        for table in [false, true] {
            let s = build(&members, table);
            let enc = s.encoding_name();
            assert_eq!(enc, if table { "hashtable" } else { compact });
            eprintln!("set/{enc}/{n}: {} heap bytes", s.heap_bytes());
            let mut rng = XorShift::new(3);
            c.bench_function(&format!("set/contains_hit/{enc}/{n}"), |b| {
                b.iter(|| black_box(s.contains(&members[rng.below(n)])))
            });
            c.bench_function(&format!("set/contains_miss/{enc}/{n}"), |b| {
                b.iter(|| black_box(s.contains(black_box(absent))))
            });
            let mut sm = s.clone();
            c.bench_function(&format!("set/insert_remove/{enc}/{n}"), |b| {
                b.iter(|| {
                    sm.insert(new, &shardis::storage::EncodingLimits::DEFAULT);
                    sm.remove(new)
                })
            });
            c.bench_function(&format!("set/iter/{enc}/{n}"), |b| {
                b.iter(|| s.iter().map(|m| m.with_bytes(|b| b.len())).sum::<usize>())
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
