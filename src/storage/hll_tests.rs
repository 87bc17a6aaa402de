//! Tests of the HyperLogLog representation: known Redis bytes, the estimate's error
//! bounds over many random sets, and sparse/dense equivalence under random inserts.

use super::*;

const DEFAULT_SPARSE_MAX: u64 = 3000;

use crate::util::rng::XorShift as Rng;

fn build(elements: impl IntoIterator<Item = Vec<u8>>, sparse_max: u64) -> Vec<u8> {
    let mut h = new_sparse();
    for e in elements {
        add(&mut h, &e, sparse_max).expect("well formed");
    }
    h
}

#[test]
fn murmur_matches_reference_values() {
    // MurmurHash64A's defining properties: the empty input hashes to a function of
    // the seed alone, and every tail length takes its own path.
    assert_eq!(murmur64a(b"", 0), 0);
    let hashes: std::collections::HashSet<u64> = (0..=17).map(|n| murmur64a(&vec![b'x'; n], SEED)).collect();
    assert_eq!(hashes.len(), 18);
    // Elements a, b and c land where Redis puts them (see the bytes below).
    let mut got = vec![pattern(b"a"), pattern(b"b"), pattern(b"c")];
    got.sort();
    assert_eq!(got, [(8436, 1), (12711, 2), (15780, 1)]);
}

#[test]
fn empty_and_small_values_are_redis_bytes() {
    let h = new_sparse();
    assert_eq!(h, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff");
    assert!(is_hll(&h));
    assert_eq!(cached_count(&h), Some(0));
    assert_eq!(count(&h), Ok(0));
    // PFADD h a b c on Redis 7.0 leaves exactly these bytes (cache flagged stale).
    let mut h = build([b"a".to_vec(), b"b".to_vec(), b"c".to_vec()], DEFAULT_SPARSE_MAX);
    invalidate_cache(&mut h);
    assert_eq!(h, b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a");
    assert_eq!(cached_count(&h), None);
    assert_eq!(count(&h), Ok(3));
    set_cached_count(&mut h, 3);
    assert_eq!(&h[8..16], &[3, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        sparse_ops(&h),
        vec![
            Op::XZero(8436),
            Op::Val(1, 1),
            Op::XZero(4274),
            Op::Val(2, 1),
            Op::XZero(3068),
            Op::Val(1, 1),
            Op::XZero(603)
        ]
    );
}

#[test]
fn header_checks() {
    let mut h = new_sparse();
    to_dense(&mut h).unwrap();
    assert_eq!(h.len(), DENSE_SIZE);
    assert!(is_hll(&h));
    assert!(!is_hll(&h[..DENSE_SIZE - 1]), "a dense value must have the exact length");
    assert!(!is_hll(b"HYLL"));
    assert!(!is_hll(b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"));
    assert!(!is_hll(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"), "unknown encoding");
    assert!(is_hll(b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0"), "a sparse body is only checked when walked");
}

#[test]
fn corrupt_sparse_bodies_are_detected() {
    let short = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xfe".to_vec(); // 16383 registers
    let long = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff\x00".to_vec(); // 16385
    let cut = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f".to_vec(); // XZERO missing a byte
    for bad in [&short, &long, &cut] {
        assert_eq!(count(bad), Err(Corrupt));
        assert_eq!(registers(bad), Err(Corrupt));
        assert_eq!(to_dense(&mut bad.clone()), Err(Corrupt));
    }
    // Redis only notices a bad total where it walks: an add inside the covered range of
    // the too-long value works, one past the short one fails.
    assert_eq!(set_register(&mut long.clone(), 5, 3, DEFAULT_SPARSE_MAX), Ok(true));
    assert_eq!(set_register(&mut short.clone(), 16383, 3, DEFAULT_SPARSE_MAX), Err(Corrupt));
    assert_eq!(set_register(&mut cut.clone(), 0, 3, DEFAULT_SPARSE_MAX), Err(Corrupt));
    // A VAL running past the last register.
    let mut over = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xfd".to_vec(); // 16382 zeros
    over.push(val_byte(3, 4));
    assert_eq!(count(&over), Err(Corrupt));
    assert_eq!(registers(&over), Err(Corrupt));
}

#[test]
fn sparse_promotes_on_large_values_and_size() {
    let mut h = new_sparse();
    assert_eq!(set_register(&mut h, 100, 32, DEFAULT_SPARSE_MAX), Ok(true));
    assert!(!is_dense(&h));
    assert_eq!(set_register(&mut h, 100, 32, DEFAULT_SPARSE_MAX), Ok(false));
    assert_eq!(set_register(&mut h, 200, 33, DEFAULT_SPARSE_MAX), Ok(true));
    assert!(is_dense(&h), "33 does not fit a VAL opcode");
    let regs = registers(&h).unwrap();
    assert_eq!((regs[100], regs[200], regs.iter().filter(|&&r| r != 0).count()), (32, 33, 2));
    // Growth past the limit promotes, and the dense value keeps every register.
    let mut h = new_sparse();
    let mut rng = Rng::new(7);
    let mut want = vec![0u8; REGISTERS];
    while !is_dense(&h) {
        let (i, v) = ((rng.next_u64() % REGISTERS as u64) as usize, (rng.next_u64() % 5 + 1) as u8);
        set_register(&mut h, i, v, 100).unwrap();
        want[i] = want[i].max(v);
        assert!(is_dense(&h) || h.len() <= 100);
    }
    assert_eq!(registers(&h).unwrap(), want);
}

#[test]
fn sparse_merges_neighbouring_runs() {
    let mut h = new_sparse();
    for i in 10..14 {
        set_register(&mut h, i, 3, DEFAULT_SPARSE_MAX).unwrap();
    }
    assert_eq!(sparse_ops(&h), vec![Op::Zero(10), Op::Val(3, 4), Op::XZero(REGISTERS - 14)]);
    set_register(&mut h, 14, 3, DEFAULT_SPARSE_MAX).unwrap();
    assert_eq!(sparse_ops(&h)[1..3], [Op::Val(3, 4), Op::Val(3, 1)], "a VAL holds at most 4 registers");
    // Raising a register inside a run splits it into three.
    set_register(&mut h, 12, 5, DEFAULT_SPARSE_MAX).unwrap();
    // ...and the merge window then joins the two equal runs on its right.
    assert_eq!(sparse_ops(&h)[1..], [Op::Val(3, 2), Op::Val(5, 1), Op::Val(3, 2), Op::XZero(REGISTERS - 15)]);
}

#[test]
fn property_sparse_and_dense_agree() {
    // Random element sets of many sizes, added to a value that starts sparse (and may
    // be promoted along the way) and to one that starts dense: the registers and the
    // estimate must be the same, whatever the sparse limit.
    for seed in 1..=40u64 {
        let mut rng = Rng::new(seed * 0x9e37_79b9);
        let n = (rng.next_u64() % 3000) as usize;
        let sparse_max = [DEFAULT_SPARSE_MAX, 200, 20_000][(seed % 3) as usize];
        let elements: Vec<Vec<u8>> =
            (0..n).map(|_| rng.next_u64().to_le_bytes()[..(rng.next_u64() % 8 + 1) as usize].to_vec()).collect();
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        for e in &elements {
            let a = add(&mut sparse, e, sparse_max).unwrap();
            let b = add(&mut dense, e, sparse_max).unwrap();
            assert_eq!(a, b, "both change a register or neither (seed {seed})");
            if !is_dense(&sparse) {
                assert!(sparse.len() as u64 <= sparse_max.max(18), "seed {seed}");
            }
        }
        assert_eq!(registers(&sparse).unwrap(), registers(&dense).unwrap(), "seed {seed}");
        assert_eq!(count(&sparse).unwrap(), count(&dense).unwrap(), "seed {seed}");
        let mut converted = sparse.clone();
        to_dense(&mut converted).unwrap();
        assert_eq!(converted[HDR_SIZE..], dense[HDR_SIZE..], "seed {seed}");
        let mut union = vec![0u8; REGISTERS];
        merge_into(&mut union, &sparse).unwrap();
        assert_eq!(count_registers(&union), count(&dense).unwrap(), "seed {seed}");
    }
}

#[test]
fn property_estimate_error_is_bounded() {
    // The standard error with 2^14 registers is 1.04/sqrt(16384) = 0.81%; allow five
    // of them (4%), plus an absolute slack for tiny sets.
    let mut rng = Rng::new(0x5eed);
    for &n in &[0usize, 1, 2, 10, 100, 500, 1000, 5000, 20_000, 100_000, 250_000] {
        let salt = rng.next_u64();
        let mut h = new_sparse();
        for i in 0..n as u64 {
            add(&mut h, &(i ^ salt).to_le_bytes(), DEFAULT_SPARSE_MAX).unwrap();
        }
        let est = count(&h).unwrap() as f64;
        let err = (est - n as f64).abs();
        assert!(err <= 0.04 * n as f64 + 2.0, "n={n}: estimate {est}");
        // Adding the same elements again changes nothing.
        for i in 0..(n as u64).min(1000) {
            assert_eq!(add(&mut h, &(i ^ salt).to_le_bytes(), DEFAULT_SPARSE_MAX), Ok(false));
        }
    }
}

#[test]
fn merging_is_a_union() {
    let a = build((0..3000u32).map(|i| i.to_be_bytes().to_vec()), DEFAULT_SPARSE_MAX);
    let b = build((2000..6000u32).map(|i| i.to_be_bytes().to_vec()), DEFAULT_SPARSE_MAX);
    let all = build((0..6000u32).map(|i| i.to_be_bytes().to_vec()), DEFAULT_SPARSE_MAX);
    let mut max = vec![0u8; REGISTERS];
    merge_into(&mut max, &a).unwrap();
    merge_into(&mut max, &b).unwrap();
    assert_eq!(max, registers(&all).unwrap());
    assert_eq!(count_registers(&max), count(&all).unwrap());
}

#[test]
fn dense_register_packing() {
    let mut regs = vec![0u8; DENSE_SIZE - HDR_SIZE];
    for i in 0..REGISTERS {
        dense_put(&mut regs, i, (i % 64) as u8);
    }
    for i in 0..REGISTERS {
        assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
    }
    // Register 0 sits in the low bits of byte 0, register 1 starts at bit 6.
    let mut regs = vec![0u8; 3];
    dense_put(&mut regs, 0, 0x3f);
    assert_eq!(regs, [0x3f, 0, 0]);
    dense_put(&mut regs, 1, 0x3f);
    assert_eq!(regs, [0xff, 0x0f, 0]);
}
