//! Criterion benchmarks for `storage::Db`, the keyspace every keyed command goes
//! through: GET and SET, hit and miss, on small (1k keys, cache-resident) and large
//! (1M keys, mostly DRAM-resident) keyspaces, with 16-byte keys and 16- or 512-byte
//! values.
//!
//! Names: `db/<op>/<key size>/<value size>/<key count>`, e.g. `db/get_hit/16b/16b/1M`.
//! - `get_hit`, `get_miss`: `Db::get` of a present / absent key.
//! - `set_hit`: `Db::set` overwriting a present key, including building the new value
//!   and dropping the old one (what SET does).
//! - `set_miss`: `Db::set` of a new key. To keep the keyspace at its size, each
//!   iteration also removes another key (`Db::remove`), so this is insert + delete.
//!
//! Keys are visited in a pseudo-random order from a seeded xorshift so runs are
//! repeatable and the large keyspace does not get an unrealistically warm cache.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shardis::storage::{Db, Value};
use shardis::util::rng::XorShift;

/// Any fixed time: no entry here has a TTL, so it only has to be consistent.
const NOW_MS: u64 = 1_700_000_000_000;
const KEY_LEN: usize = 16;

/// The `i`th key with prefix `p` (4 bytes) and `i` in 12 zero-padded decimal digits,
/// exactly `KEY_LEN` bytes.
fn key(p: &[u8; 4], mut i: usize) -> [u8; KEY_LEN] {
    let mut k = [b'0'; KEY_LEN];
    k[..4].copy_from_slice(p);
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (i % 10) as u8;
        i /= 10;
    }
    k
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// `nkeys` present keys holding `value` and as many absent ones.
struct Keyspace {
    present: Vec<[u8; KEY_LEN]>,
    /// Absent keys share the present keys' shape but not their prefix.
    absent: Vec<[u8; KEY_LEN]>,
    db: Db,
}

impl Keyspace {
    fn new(nkeys: usize, value: &[u8]) -> Keyspace {
        let present: Vec<[u8; KEY_LEN]> = (0..nkeys).map(|i| key(b"key:", i)).collect();
        let absent: Vec<[u8; KEY_LEN]> = (0..nkeys).map(|i| key(b"new:", i)).collect();
        let mut db = Db::new();
        for k in &present {
            db.set(k, Value::Str(value.to_vec().into()), 0);
        }
        Keyspace { present, absent, db }
    }
}

fn bench_db(c: &mut Criterion) {
    let mut group = c.benchmark_group("db");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    group.sample_size(50);

    for nkeys in [1_000usize, 1_000_000] {
        for vlen in [16usize, 512] {
            let value = vec![b'v'; vlen];
            // Built by the first routine that runs (criterion runs one only if its name
            // passes the filter), so a test-mode run of one 1k benchmark does not build
            // the 1M keyspaces; the four routines below share it as before.
            let mut keyspace: Option<Keyspace> = None;
            let suffix = format!("{KEY_LEN}b/{vlen}b/{}", label(nkeys));

            // Criterion calls each routine once per sample, so state that must carry over
            // (the RNG, the key rotation below) lives outside the closures.
            let mut rng = XorShift::new(0x5eed_0001 ^ nkeys as u64 ^ ((vlen as u64) << 32));
            group.bench_function(format!("get_hit/{suffix}"), |b| {
                let Keyspace { present, db, .. } = keyspace.get_or_insert_with(|| Keyspace::new(nkeys, &value));
                b.iter(|| {
                    let k = &present[rng.below(nkeys)];
                    let e = db.get(black_box(k), NOW_MS).expect("present");
                    match &e.value {
                        Value::Str(s) => black_box(s.len()),
                        _ => unreachable!("only strings are stored here"),
                    };
                })
            });

            group.bench_function(format!("get_miss/{suffix}"), |b| {
                let Keyspace { absent, db, .. } = keyspace.get_or_insert_with(|| Keyspace::new(nkeys, &value));
                b.iter(|| {
                    let k = &absent[rng.below(nkeys)];
                    black_box(db.get(black_box(k), NOW_MS).is_none());
                })
            });

            group.bench_function(format!("set_hit/{suffix}"), |b| {
                let Keyspace { present, db, .. } = keyspace.get_or_insert_with(|| Keyspace::new(nkeys, &value));
                b.iter(|| {
                    let k = &present[rng.below(nkeys)];
                    let old = db.set(black_box(k), Value::Str(black_box(&value[..]).into()), 0);
                    black_box(old.is_some());
                })
            });

            // Keys move between `present` and `absent`: iteration j inserts one key of
            // one set and removes the matching key of the other, so the keyspace stays
            // at `nkeys` live keys; after `nkeys` iterations the sets trade places.
            // Every key is made beforehand so the timed loop only touches the keyspace.
            let mut j = 0usize;
            group.bench_function(format!("set_miss/{suffix}"), |b| {
                let Keyspace { present, absent, db } = keyspace.get_or_insert_with(|| Keyspace::new(nkeys, &value));
                b.iter(|| {
                    let (from, to) =
                        if (j / nkeys).is_multiple_of(2) { (&*present, &*absent) } else { (&*absent, &*present) };
                    let i = j % nkeys;
                    let prev = db.set(black_box(&to[i]), Value::Str(black_box(&value[..]).into()), 0);
                    debug_assert!(prev.is_none());
                    let gone = db.remove(&from[i], NOW_MS);
                    debug_assert!(gone.is_some());
                    black_box(gone.is_some());
                    j += 1;
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_db);
criterion_main!(benches);
