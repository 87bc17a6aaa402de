//! Criterion benchmarks for the RDB codec: snapshot encode and decode throughput on a
//! mixed dataset (bytes per second of RDB), plus the building blocks that dominate
//! them: CRC-64 and LZF.
//!
//! Names: `rdb/<op>/<dataset>`:
//! - `rdb/encode/mixed`, `rdb/decode/mixed`: 20k keys over every type (small strings,
//!   compressible long strings, listpack and large lists, intsets, hashes, zsets);
//! - `rdb/encode/plain`: the same without compression or compact encodings;
//! - `rdb/crc64/1MiB`, `rdb/lzf_compress/64KiB`, `rdb/lzf_decompress/64KiB`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shardis::rdb::{self, LoadOptions, LoadedKey, WriteOptions, crc64};
use shardis::storage::hash::HashValue;
use shardis::storage::list::ListValue;
use shardis::storage::set::SetValue;
use shardis::storage::zset::ZSetValue;
use shardis::storage::{Db, Value};
use shardis::util::lzf;

fn dataset() -> Vec<Db> {
    let mut db = Db::new();
    for i in 0..20_000u64 {
        let key = format!("key:{i:08}");
        let v = match i % 8 {
            0 | 1 => Value::Str(format!("value-{i}").into_bytes().into()),
            2 => Value::Str(format!("{i}").repeat(20).into_bytes().into()),
            3 => Value::List(
                ListValue::from_items(
                    (0..(if i % 80 == 3 { 2000 } else { 10 })).map(|j| format!("e{j}")),
                    shardis::storage::ListFill::default(),
                )
                .into(),
            ),
            4 => {
                let mut s = SetValue::with_hint(b"1", 20);
                for j in 0..20 {
                    s.insert((j * i).to_string().as_bytes(), &shardis::storage::EncodingLimits::DEFAULT);
                }
                Value::Set(s)
            }
            5 => {
                let mut h = HashValue::new();
                for j in 0..(if i % 80 == 5 { 500 } else { 8 }) {
                    h.set(
                        format!("field{j}").as_bytes(),
                        format!("v{}", j * i).as_bytes(),
                        &shardis::storage::EncodingLimits::DEFAULT,
                    );
                }
                Value::Hash(h)
            }
            6 => {
                let mut z = ZSetValue::new();
                for j in 0..(if i % 80 == 6 { 500 } else { 8 }) {
                    z.insert(format!("m{j}").as_bytes(), j as f64 * 1.5, &shardis::storage::EncodingLimits::DEFAULT);
                }
                Value::ZSet(z)
            }
            _ => Value::Str(vec![b'x'; 200].into()),
        };
        db.set(key.as_bytes(), v, if i % 5 == 0 { 4_000_000_000_000 } else { 0 });
    }
    vec![db]
}

fn bench(c: &mut Criterion) {
    let dbs = dataset();
    let views: Vec<&[Db]> = vec![&dbs[..]];
    let mut file = Vec::new();
    rdb::write_snapshot(&views, &mut file, &WriteOptions::default()).unwrap();
    eprintln!("rdb/mixed: {} keys, {} bytes", dbs[0].len(), file.len());

    let mut g = c.benchmark_group("rdb");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function("encode/mixed", |b| {
        let mut out = Vec::with_capacity(file.len());
        b.iter(|| {
            out.clear();
            rdb::write_snapshot(black_box(&views), &mut out, &WriteOptions::default()).unwrap();
        })
    });
    let plain = WriteOptions { compress: false, compact: false, ..Default::default() };
    g.bench_function("encode/plain", |b| {
        let mut out = Vec::with_capacity(file.len() * 2);
        b.iter(|| {
            out.clear();
            rdb::write_snapshot(black_box(&views), &mut out, &plain).unwrap();
        })
    });
    g.bench_function("decode/mixed", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut sink = |_k: LoadedKey| n += 1;
            rdb::load(black_box(&file[..]), &mut sink, &LoadOptions::default()).unwrap();
            n
        })
    });

    let mb: Vec<u8> = (0..1u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    g.throughput(Throughput::Bytes(mb.len() as u64));
    g.bench_function("crc64/1MiB", |b| b.iter(|| crc64::crc64(black_box(&mb))));

    let text: Vec<u8> = (0..65536u32).map(|i| b"the quick brown fox "[(i as usize * 7 / 3) % 20]).collect();
    let packed = lzf::compress(&text, text.len()).unwrap();
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("lzf_compress/64KiB", |b| b.iter(|| lzf::compress(black_box(&text), text.len())));
    g.bench_function("lzf_decompress/64KiB", |b| b.iter(|| lzf::decompress(black_box(&packed), text.len()).unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
