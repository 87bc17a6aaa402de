//! Criterion benchmarks for `storage::list::ListValue` (quicklist-like: 8 KB nodes of
//! packed entries) against the plain alternative, `VecDeque<Box<[u8]>>` (one heap
//! allocation per element).
//!
//! Names: `list/<op>/<structure>/<elements>`, e.g. `list/push_pop/quicklist/100000`.
//! - `push_pop_tail`: RPUSH one element then RPOP it (size stays constant);
//! - `queue`: RPUSH one element and LPOP one (a FIFO queue sliding through the list);
//! - `push_pop_head`: LPUSH then LPOP;
//! - `index_mid`: LINDEX of the middle element;
//! - `range100`: LRANGE of 100 elements starting at a random index, bytes copied out as
//!   a reply would;
//! - `iter`: walk every element.
//!
//! Elements are 16-byte strings (`elem:<11 digits>`), one in four a small integer, which
//! the quicklist stores in two bytes. Also prints heap bytes per element of each
//! structure at each size, the memory side of the comparison.

use std::collections::VecDeque;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shardis::storage::list::{Elem, ListValue};
use shardis::util::rng::XorShift;

fn element(i: usize) -> Vec<u8> {
    if i.is_multiple_of(4) { (i % 1000).to_string().into_bytes() } else { format!("elem:{i:011}").into_bytes() }
}

fn elem_len(e: Elem) -> usize {
    match e {
        Elem::Bytes(b) => b.len(),
        Elem::Int(v) => v as usize,
    }
}

/// Heap bytes of the plain structure: slots plus one allocation per element (with a
/// typical 16-byte allocator size class rounding).
fn deque_heap(d: &VecDeque<Box<[u8]>>) -> usize {
    d.capacity() * std::mem::size_of::<Box<[u8]>>() + d.iter().map(|b| b.len().div_ceil(16) * 16).sum::<usize>()
}

fn bench(c: &mut Criterion) {
    for n in [100usize, 10_000, 100_000] {
        let items: Vec<Vec<u8>> = (0..n).map(element).collect();
        let ql = ListValue::from_items(&items, shardis::storage::ListFill::default());
        let dq: VecDeque<Box<[u8]>> = items.iter().map(|v| v.clone().into_boxed_slice()).collect();
        eprintln!(
            "list/{n}: quicklist {:.1} heap bytes/element ({} nodes), vecdeque {:.1}",
            ql.heap_bytes() as f64 / n as f64,
            ql.node_count(),
            deque_heap(&dq) as f64 / n as f64
        );
        let new: &[u8] = b"elem:new-element";

        let mut l = ql.clone();
        c.bench_function(&format!("list/push_pop_tail/quicklist/{n}"), |b| {
            b.iter(|| {
                l.push_back(black_box(new));
                l.pop_back()
            })
        });
        let mut d = dq.clone();
        c.bench_function(&format!("list/push_pop_tail/vecdeque/{n}"), |b| {
            b.iter(|| {
                d.push_back(black_box(new).into());
                d.pop_back()
            })
        });

        let mut l = ql.clone();
        c.bench_function(&format!("list/push_pop_head/quicklist/{n}"), |b| {
            b.iter(|| {
                l.push_front(black_box(new));
                l.pop_front()
            })
        });
        let mut d = dq.clone();
        c.bench_function(&format!("list/push_pop_head/vecdeque/{n}"), |b| {
            b.iter(|| {
                d.push_front(black_box(new).into());
                d.pop_front()
            })
        });

        let mut l = ql.clone();
        c.bench_function(&format!("list/queue/quicklist/{n}"), |b| {
            b.iter(|| {
                l.push_back(black_box(new));
                l.pop_front()
            })
        });
        let mut d = dq.clone();
        c.bench_function(&format!("list/queue/vecdeque/{n}"), |b| {
            b.iter(|| {
                d.push_back(black_box(new).into());
                d.pop_front()
            })
        });

        c.bench_function(&format!("list/index_mid/quicklist/{n}"), |b| {
            b.iter(|| black_box(ql.get(black_box(n / 2)).map(elem_len)))
        });
        c.bench_function(&format!("list/index_mid/vecdeque/{n}"), |b| {
            b.iter(|| black_box(dq.get(black_box(n / 2)).map(|v| v.len())))
        });

        let mut rng = XorShift::new(7);
        c.bench_function(&format!("list/range100/quicklist/{n}"), |b| {
            let mut out = Vec::with_capacity(4096);
            b.iter(|| {
                out.clear();
                for e in ql.iter_from(rng.below(n)).take(100) {
                    match e {
                        Elem::Bytes(b) => out.extend_from_slice(b),
                        Elem::Int(v) => out.extend_from_slice(&v.to_le_bytes()),
                    }
                }
                out.len()
            })
        });
        let mut rng = XorShift::new(7);
        c.bench_function(&format!("list/range100/vecdeque/{n}"), |b| {
            let mut out = Vec::with_capacity(4096);
            b.iter(|| {
                out.clear();
                for v in dq.range(rng.below(n)..).take(100) {
                    out.extend_from_slice(v);
                }
                out.len()
            })
        });

        if n <= 10_000 {
            c.bench_function(&format!("list/iter/quicklist/{n}"), |b| {
                b.iter(|| ql.iter().map(elem_len).sum::<usize>())
            });
            c.bench_function(&format!("list/iter/vecdeque/{n}"), |b| {
                b.iter(|| dq.iter().map(|v| v.len()).sum::<usize>())
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
