//! Criterion benchmarks for `storage::hash::HashValue`: the listpack encoding against
//! the hashtable encoding at the sizes where both are possible, so the thresholds can
//! be judged (a listpack's linear scan should stay competitive up to 128 pairs while
//! using a fraction of the memory).
//!
//! Names: `hash/<op>/<encoding>/<fields>`, e.g. `hash/get_hit/listpack/128`.
//! - `get_hit`: `HashValue::get` of a present field (fields visited pseudo-randomly);
//! - `get_miss`: `get` of an absent field (a listpack's worst case: a full scan);
//! - `set_update`: overwrite a present field's value (same length);
//! - `insert_remove`: insert a new field and remove it again (size stays constant);
//! - `iter`: walk every pair (HGETALL).
//!
//! Also prints, once, the heap bytes per hash of each encoding at each size.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shardis::storage::hash::{HashValue, XorShift};

fn build(n: usize, table: bool) -> HashValue {
    let mut h = HashValue::new();
    if table {
        h.convert_to_table();
    }
    for i in 0..n {
        h.set(
            format!("field:{i}").as_bytes(),
            format!("value:{i:06}").as_bytes(),
            &shardis::storage::EncodingLimits::DEFAULT,
        );
    }
    h
}

fn bench(c: &mut Criterion) {
    let sizes = [8usize, 32, 128];
    for &n in &sizes {
        for table in [false, true] {
            let enc = if table { "hashtable" } else { "listpack" };
            let h = build(n, table);
            eprintln!("hash/{enc}/{n}: {} heap bytes", h.heap_bytes());
            let fields: Vec<Vec<u8>> = (0..n).map(|i| format!("field:{i}").into_bytes()).collect();
            let mut rng = XorShift::new(1);
            c.bench_function(&format!("hash/get_hit/{enc}/{n}"), |b| {
                b.iter(|| black_box(h.get(&fields[rng.below(n)])).is_some())
            });
            c.bench_function(&format!("hash/get_miss/{enc}/{n}"), |b| {
                b.iter(|| black_box(h.get(black_box(b"field:absent"))).is_none())
            });
            let mut hm = h.clone();
            c.bench_function(&format!("hash/set_update/{enc}/{n}"), |b| {
                b.iter(|| {
                    hm.set(
                        &fields[rng.below(n)],
                        black_box(b"value:999999"),
                        &shardis::storage::EncodingLimits::DEFAULT,
                    )
                })
            });
            let mut hm = h.clone();
            c.bench_function(&format!("hash/insert_remove/{enc}/{n}"), |b| {
                b.iter(|| {
                    hm.set(b"field:new", b"value:new", &shardis::storage::EncodingLimits::DEFAULT);
                    hm.remove(b"field:new")
                })
            });
            c.bench_function(&format!("hash/iter/{enc}/{n}"), |b| {
                b.iter(|| h.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>())
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
