use super::entry::*;
use super::*;

/// Seeded, so a failing sequence can be replayed; `below` in u64 for the model's
/// arithmetic, and 0 for an empty range.
struct Rng(crate::util::rng::XorShift);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

fn value(r: &mut Rng) -> Vec<u8> {
    match r.below(10) {
        0 => Vec::new(),
        1 => r.below(100).to_string().into_bytes(),
        2 => (r.next() as i64).to_string().into_bytes(),
        3 => [
            "-0",
            "007",
            "+1",
            "9223372036854775807",
            "-9223372036854775808",
            "4611686018427387904",
            "-4611686018427387904",
            "4611686018427387903",
            " 1",
        ][r.below(9) as usize]
            .as_bytes()
            .to_vec(),
        4 => vec![b'x'; 200 + r.below(3000) as usize],
        5 if r.below(20) == 0 => vec![b'B'; 8192 + r.below(5000) as usize],
        _ => format!("v{}", r.below(30)).into_bytes(),
    }
}

fn assert_same(l: &ListValue, m: &VecDeque<Vec<u8>>, ctx: &str) {
    l.check_invariants().unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert_eq!(l.len(), m.len(), "{ctx}: len");
    let fw: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
    assert!(fw.iter().eq(m.iter()), "{ctx}: forward contents");
    let bw: Vec<Vec<u8>> = l.iter().rev().map(|e| e.to_vec()).collect();
    assert!(bw.iter().eq(m.iter().rev()), "{ctx}: backward contents");
    let mut visited = Vec::new();
    l.visit(|e| visited.push(e.to_vec()));
    assert!(visited.iter().eq(m.iter()), "{ctx}: visit");
}

#[test]
fn varints_round_trip() {
    for v in [0u64, 1, 127, 128, 300, 16383, 16384, u32::MAX as u64, u64::MAX >> 1, u64::MAX] {
        let mut b = [0u8; 10];
        let n = put_varint(&mut b, v);
        assert_eq!(n, varint_len(v));
        assert_eq!(get_varint(&b), (v, n));
    }
    for v in [i64::MIN / 4 + 1, -1, 0, 1, (1 << 62) - 1, -(1 << 62)] {
        assert_eq!(unzigzag(zigzag(v)), v);
    }
}

#[test]
fn integers_stored_compactly_and_read_back_identically() {
    let vals = [
        "0",
        "-1",
        "12345",
        "4611686018427387903",
        "-4611686018427387904",
        "4611686018427387904",
        "-0",
        "01",
        "+5",
        "9223372036854775807",
        "",
    ];
    let l = ListValue::from_items(vals, ListFill::default());
    assert!(matches!(l.get(0), Some(Elem::Int(0))));
    assert!(matches!(l.get(5), Some(Elem::Bytes(_))), "2^62 does not fit the compact form");
    assert!(matches!(l.get(6), Some(Elem::Bytes(b"-0"))));
    let back: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
    assert_eq!(back, vals.iter().map(|v| v.as_bytes().to_vec()).collect::<Vec<_>>());
    // A small integer entry is two bytes, as in a listpack.
    assert_eq!(encoded_len(Elem::classify(b"7")), 2);
    assert!(Elem::classify(b"12").matches(&Needle::new(b"12")));
    assert!(!Elem::classify(b"12").matches(&Needle::new(b"012")));
}

#[test]
fn ends_and_nodes() {
    let mut l = ListValue::new(ListFill::default());
    for i in 0..10_000 {
        l.push_back(format!("element-{i}").as_bytes());
    }
    assert!(l.node_count() > 10, "small elements are packed into several 8 KB nodes");
    assert!(l.node_count() < 40);
    l.check_invariants().unwrap();
    assert_eq!(l.get(5000).unwrap().to_vec(), b"element-5000");
    assert_eq!(l.pop_front().unwrap(), b"element-0");
    assert_eq!(l.pop_back().unwrap(), b"element-9999");
    for i in 0..1000 {
        l.push_front(format!("f{i}").as_bytes());
    }
    l.check_invariants().unwrap();
    assert_eq!(l.get(0).unwrap().to_vec(), b"f999");
    assert_eq!(l.len(), 10_998);
    // Memory per small element stays close to the entry size (~12 bytes here).
    assert!(l.heap_bytes() < l.len() * 20, "heap {} for {} elements", l.heap_bytes(), l.len());
}

#[test]
fn model_property_test() {
    // The default fill, byte fills either side and count fills (whose invariant, at
    // most N entries per node, `check_invariants` checks too).
    // Each fill also with compression depths 0..=3 (`check_invariants` checks which
    // nodes are compressed).
    let fills = [-2, -1, -5, 1, 3, 128];
    for seed in 1..=48u64 {
        let depth = (seed / fills.len() as u64) % 4;
        let fill = ListFill::new(fills[seed as usize % fills.len()]).with_depth(depth);
        let mut r = Rng(crate::util::rng::XorShift::new(seed));
        let mut l = ListValue::new(fill);
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        // Phases grow the list well past one node, then shrink it back to nothing.
        for step in 0..3000 {
            let grow = (step / 500) % 2 == 0;
            let op = r.below(16);
            let ctx = format!("seed {seed} step {step} op {op}");
            match op {
                0..=2 if grow || r.below(3) == 0 => {
                    let v = value(&mut r);
                    l.push_back(&v);
                    m.push_back(v);
                }
                3..=4 if grow || r.below(3) == 0 => {
                    let v = value(&mut r);
                    l.push_front(&v);
                    m.push_front(v);
                }
                5 => assert_eq!(l.pop_front(), m.pop_front(), "{ctx}"),
                6 => assert_eq!(l.pop_back(), m.pop_back(), "{ctx}"),
                7 => {
                    let i = r.below(m.len() as u64 + 2) as usize;
                    let v = value(&mut r);
                    let ok = l.set(i, &v);
                    assert_eq!(ok, i < m.len(), "{ctx}");
                    if ok {
                        m[i] = v;
                    }
                }
                8 if grow => {
                    let i = r.below(m.len() as u64 + 1) as usize;
                    let v = value(&mut r);
                    l.insert(i, &v);
                    m.insert(i, v);
                }
                9 => {
                    let pivot = value(&mut r);
                    let after = r.below(2) == 0;
                    let v = value(&mut r);
                    let pos = m.iter().position(|x| *x == pivot);
                    assert_eq!(l.insert_at_pivot(&Needle::new(&pivot), after, &v), pos.is_some(), "{ctx}");
                    if let Some(p) = pos {
                        m.insert(if after { p + 1 } else { p }, v);
                    }
                }
                10 => {
                    let target = if !m.is_empty() && r.below(2) == 0 {
                        m[r.below(m.len() as u64) as usize].clone()
                    } else {
                        value(&mut r)
                    };
                    let count = r.below(7) as i64 - 3;
                    let removed = l.remove_matching(&Needle::new(&target), count);
                    let mut want = 0;
                    let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
                    if count >= 0 {
                        let mut i = 0;
                        while i < m.len() && want < limit {
                            if m[i] == target {
                                m.remove(i);
                                want += 1;
                            } else {
                                i += 1;
                            }
                        }
                    } else {
                        let mut i = m.len();
                        while i > 0 && want < limit {
                            i -= 1;
                            if m[i] == target {
                                m.remove(i);
                                want += 1;
                            }
                        }
                    }
                    assert_eq!(removed, want, "{ctx}");
                }
                11 if !grow => {
                    let n = r.below(m.len() as u64 / 4 + 2) as usize;
                    l.drop_front(n);
                    m.drain(..n.min(m.len()));
                }
                12 if !grow => {
                    let n = r.below(m.len() as u64 / 4 + 2) as usize;
                    l.drop_back(n);
                    let keep = m.len().saturating_sub(n);
                    m.truncate(keep);
                }
                13 => {
                    let i = r.below(m.len() as u64 + 2) as usize;
                    assert_eq!(l.get(i).map(|e| e.to_vec()).as_ref(), m.get(i), "{ctx}");
                    let from: Vec<Vec<u8>> = l.iter_from(i).map(|e| e.to_vec()).collect();
                    assert!(from.iter().eq(m.iter().skip(i)), "{ctx}: iter_from");
                    let mut it = l.iter_from(i);
                    let back = it.next_back().map(|e| e.to_vec());
                    assert_eq!(back.as_ref(), if i < m.len() { m.back() } else { None }, "{ctx}");
                    // Reads leave decompressed copies until `end_read` or the next write.
                    if r.below(2) == 0 {
                        l.end_read();
                    }
                }
                _ => {}
            }
            if step % 25 == 0 || op == 10 || op == 9 {
                assert_same(&l, &m, &ctx);
            }
        }
        assert_same(&l, &m, &format!("seed {seed} end"));
        let mut c = l.clone();
        assert_eq!(c, l);
        c.push_back(b"extra");
        assert_ne!(c, l);
    }
}

#[test]
fn equality_ignores_node_layout() {
    let mut a = ListValue::new(ListFill::default());
    let mut b = ListValue::new(ListFill::default());
    for i in 0..3000 {
        a.push_back(format!("e{i}").as_bytes());
        b.push_front(format!("e{}", 2999 - i).as_bytes());
    }
    assert_eq!(a, b);
}

#[test]
fn middle_inserts_split_and_deletes_merge() {
    let mut l = ListValue::new(ListFill::default());
    for i in 0..2000 {
        l.push_back(format!("{i:08}x").as_bytes());
    }
    for i in 0..2000 {
        l.insert(1000, format!("mid{i}").as_bytes());
    }
    l.check_invariants().unwrap();
    let nodes = l.node_count();
    let removed = l.remove_matching(&Needle::new(b"nope"), 0);
    assert_eq!(removed, 0);
    for i in 0..2000 {
        assert_eq!(l.remove_matching(&Needle::new(format!("mid{i}").as_bytes()), 1), 1);
    }
    l.check_invariants().unwrap();
    assert!(l.node_count() <= nodes);
    assert_eq!(l.len(), 2000);
    assert_eq!(l.get(1999).unwrap().to_vec(), b"00001999x");
}

#[test]
fn fill_sets_node_sizes() {
    // A count fill: exactly N entries per node when pushed at one end.
    let mut l = ListValue::new(ListFill::new(3));
    for i in 0..10 {
        l.push_back(format!("{i}").as_bytes());
    }
    assert_eq!(l.node_count(), 4);
    // ... from both ends, and 0 acts as 1.
    let mut l = ListValue::new(ListFill::new(0));
    for i in 0..5 {
        l.push_front(format!("{i}").as_bytes());
    }
    assert_eq!(l.node_count(), 5);
    // The 8 KB safety limit still applies to a count fill.
    let mut l = ListValue::new(ListFill::new(1000));
    for _ in 0..10 {
        l.push_back(&[b'x'; 2000]);
    }
    assert_eq!(l.node_count(), 3, "four 2 KB entries do not fit 8 KB with their headers");
    l.check_invariants().unwrap();
    // Byte fills: -1 (4 KB) needs about twice the nodes -2 (8 KB) does, -5 (64 KB) few.
    let count = |fill: i64| {
        let mut l = ListValue::new(ListFill::new(fill));
        for i in 0..20_000 {
            l.push_back(format!("element-{i}").as_bytes());
        }
        l.check_invariants().unwrap();
        l.node_count()
    };
    let (n1, n2, n5) = (count(-1), count(-2), count(-5));
    assert!(n1 >= 2 * n2 - 1 && n1 <= 2 * n2 + 1, "{n1} vs {n2}");
    assert!(n5 * 8 <= n2 + 8, "{n5} vs {n2}");
    // A middle insert splits a full count node; the list keeps its fill.
    let mut l = ListValue::new(ListFill::new(2));
    for i in 0..4 {
        l.push_back(format!("{i}").as_bytes());
    }
    l.insert(1, b"mid");
    l.check_invariants().unwrap();
    assert_eq!(l.node_count(), 3);
    assert_eq!(l.fill(), ListFill::new(2));
}

/// A long list of compressible elements at depth 1..3: only the `depth` nodes at each
/// end stay raw, the list takes less memory than at depth 0, and reads, writes in the
/// middle and pops keep the contents and the compression as Redis's rules say.
#[test]
fn compression_depth_keeps_ends_raw_and_saves_memory() {
    let items: Vec<Vec<u8>> =
        (0..5000).map(|i| format!("element-{:06}-{}", i, "abc".repeat(10)).into_bytes()).collect();
    let plain = ListValue::from_items(&items, ListFill::new(-2));
    assert_eq!(plain.compressed_nodes(), 0);
    for depth in 1..=3u64 {
        let mut l = ListValue::from_items(&items, ListFill::new(-2).with_depth(depth));
        l.check_invariants().unwrap();
        let nodes = l.node_count();
        assert!(nodes > 2 * depth as usize + 2, "{nodes} nodes");
        assert_eq!(l.compressed_nodes(), nodes - 2 * depth as usize, "depth {depth}");
        assert!(l.heap_bytes() * 2 < plain.heap_bytes(), "{} vs {}", l.heap_bytes(), plain.heap_bytes());
        assert_eq!(l.uncompressed_bytes(), plain.uncompressed_bytes());
        assert_eq!(l, plain);
        l.end_read();
        // A read in the middle leaves a copy until `end_read`, and counts it meanwhile.
        let before = l.heap_bytes();
        assert_eq!(l.get(2500).unwrap().to_vec(), items[2500]);
        assert!(l.heap_bytes() > before);
        l.end_read();
        assert_eq!(l.heap_bytes(), before);
        // A write in the middle: its node is compressed again afterwards.
        assert!(l.set(2500, b"changed"));
        l.insert(1000, b"inserted");
        l.check_invariants().unwrap();
        assert_eq!(l.compressed_nodes(), l.node_count() - 2 * depth as usize);
        // Pops at the ends only move the boundary.
        for _ in 0..3000 {
            l.pop_front();
            l.check_invariants().unwrap();
        }
        let mut l2 = l.clone();
        l2.drop_back(1500);
        l2.check_invariants().unwrap();
        assert_eq!(l2.len(), l.len() - 1500);
    }
}

/// Redis's thresholds: a node under 48 bytes, or one that LZF cannot shrink by more
/// than 8 bytes, stays raw in the middle of a compressed list.
#[test]
fn small_or_incompressible_nodes_stay_raw() {
    // Fill 1: one element per node. Short elements: every node under 48 bytes.
    let short: Vec<Vec<u8>> = (0..20).map(|i| format!("{i:02}-aaaaaaaaaaaaaaaaaaaa").into_bytes()).collect();
    let l = ListValue::from_items(&short, ListFill::new(1).with_depth(1));
    l.check_invariants().unwrap();
    assert_eq!(l.compressed_nodes(), 0);
    // Random bytes do not compress.
    let mut rng = crate::util::rng::XorShift::new(9);
    let random: Vec<Vec<u8>> = (0..20).map(|_| (0..200).map(|_| rng.next_u64() as u8).collect()).collect();
    let mut l = ListValue::from_items(&random, ListFill::new(1).with_depth(1));
    l.check_invariants().unwrap();
    assert_eq!(l.compressed_nodes(), 0);
    // Compressible 200-byte elements do.
    let long: Vec<Vec<u8>> = (0..20).map(|i| format!("{i:03}").repeat(67).into_bytes()).collect();
    let c = ListValue::from_items(&long, ListFill::new(1).with_depth(1));
    assert_eq!(c.compressed_nodes(), 18);
    // An incompressible node is not compressed again on each push (its failed size is
    // remembered) and the list stays correct.
    for v in &random {
        l.push_front(v);
    }
    l.check_invariants().unwrap();
    assert_eq!(l.len(), 40);
}
