use super::listpack::{decode_entry, encode_entry};
use super::*;
use crate::storage::limits::EncodingLimits;
use std::collections::BTreeMap;

use crate::util::rng::XorShift as Rng;

const LIM: EncodingLimits = EncodingLimits::DEFAULT;

/// The reference: member -> score, and the sorted view derived from it.
#[derive(Default)]
struct Model {
    m: BTreeMap<Vec<u8>, f64>,
}

impl Model {
    fn sorted(&self) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = self.m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
        v
    }
}

fn owned(v: Vec<(&[u8], f64)>) -> Vec<(Vec<u8>, f64)> {
    v.into_iter().map(|(m, s)| (m.to_vec(), s)).collect()
}

fn member(rng: &mut Rng, universe: usize) -> Vec<u8> {
    let i = rng.below(universe);
    if i % 50 == 7 {
        // Now and then a member too long for the compact encoding.
        format!("long-{i}-{}", "x".repeat(70)).into_bytes()
    } else {
        format!("m{i}").into_bytes()
    }
}

fn score(rng: &mut Rng) -> f64 {
    match rng.below(10) {
        0 => 1.5,
        1 => -(rng.below(5) as f64) - 0.25,
        2 => f64::INFINITY,
        3 => f64::NEG_INFINITY,
        4 => (rng.below(1000) as f64) * 1e-3,
        5 => 1e300,
        _ => rng.below(20) as f64,
    }
}

fn rand_score_range(rng: &mut Rng) -> ScoreRange {
    ScoreRange { min: score(rng), max: score(rng), minex: rng.below(2) == 0, maxex: rng.below(2) == 0 }
}

#[test]
fn varints_and_entries_round_trip() {
    // -0 is stored as the integer 0, as Redis's listpack stores it.
    let mut buf = vec![0, 0];
    encode_entry(&mut buf, b"abc", -0.0);
    assert_eq!(decode_entry(&buf, 2).score.to_bits(), 0.0f64.to_bits());
    for s in
        [0.0, 1.0, -1.0, 1.5, 1e300, f64::INFINITY, f64::NEG_INFINITY, 9007199254740992.0, -9007199254740993.0, 0.1]
    {
        let mut buf = vec![0, 0];
        encode_entry(&mut buf, b"abc", s);
        let e = decode_entry(&buf, 2);
        assert_eq!(e.member, b"abc");
        assert_eq!(e.score.to_bits(), s.to_bits(), "{s}");
        assert_eq!(e.end, buf.len());
    }
    // Small integer scores take one byte.
    let mut buf = Vec::new();
    encode_entry(&mut buf, b"a", 3.0);
    assert_eq!(buf.len(), 3);
}

#[test]
fn ranges_parse_like_redis() {
    let r = ScoreRange::parse(b"(1.5", b"+inf").unwrap();
    assert!(r.minex && !r.maxex && r.min == 1.5 && r.max == f64::INFINITY);
    assert!(ScoreRange::parse(b"-inf", b"(3").unwrap().maxex);
    assert!(ScoreRange::parse(b"x", b"1").is_none());
    assert!(ScoreRange::parse(b"1", b"nan").is_none());
    assert!(ScoreRange::parse(b"1", b"(").is_some());
    assert_eq!(ScoreRange::parse(b"1e400", b"2").unwrap().min, f64::INFINITY);
    assert!(ScoreRange::parse(b"(1", b"1").unwrap().is_empty());
    let l = LexRange::parse(b"-", b"+").unwrap();
    assert!(!l.is_empty() && l.contains(b"") && l.contains(b"zzz"));
    assert!(LexRange::parse(b"-", b"-").unwrap().is_empty());
    assert!(LexRange::parse(b"+", b"-").unwrap().is_empty());
    assert!(LexRange::parse(b"a", b"+").is_none());
    assert!(LexRange::parse(b"-x", b"+").is_none());
    let l = LexRange::parse(b"[b", b"(d").unwrap();
    assert!(!l.contains(b"a") && l.contains(b"b") && l.contains(b"c") && !l.contains(b"d"));
    assert!(!LexRange::parse(b"[a", b"[a").unwrap().is_empty());
    assert!(LexRange::parse(b"(a", b"[a").unwrap().is_empty());
}

#[test]
fn add_flags_follow_zsetadd() {
    let mut z = ZSetValue::new();
    let f = AddFlags::default();
    assert_eq!(z.add(b"a", 1.0, f, &LIM), Ok(AddOutcome::Added(1.0)));
    assert_eq!(z.add(b"a", 1.0, f, &LIM), Ok(AddOutcome::Same(1.0)));
    assert_eq!(z.add(b"a", 2.0, AddFlags { nx: true, ..f }, &LIM), Ok(AddOutcome::Nop));
    assert_eq!(z.add(b"b", 2.0, AddFlags { xx: true, ..f }, &LIM), Ok(AddOutcome::Nop));
    assert_eq!(z.add(b"a", 0.5, AddFlags { gt: true, ..f }, &LIM), Ok(AddOutcome::Nop));
    assert_eq!(z.add(b"a", 3.0, AddFlags { gt: true, ..f }, &LIM), Ok(AddOutcome::Updated(3.0)));
    assert_eq!(z.add(b"a", 2.0, AddFlags { incr: true, ..f }, &LIM), Ok(AddOutcome::Updated(5.0)));
    assert_eq!(z.add(b"a", 0.0, AddFlags { incr: true, ..f }, &LIM), Ok(AddOutcome::Same(5.0)));
    z.add(b"i", f64::INFINITY, f, &LIM).unwrap();
    assert_eq!(z.add(b"i", f64::NEG_INFINITY, AddFlags { incr: true, ..f }, &LIM), Err(ScoreIsNan));
    assert_eq!(z.add(b"x", f64::NAN, f, &LIM), Err(ScoreIsNan));
    assert_eq!(z.score(b"i"), Some(f64::INFINITY));
}

#[test]
fn converts_past_thresholds() {
    let mut z = ZSetValue::new();
    for i in 0..LIM.zset_max_listpack_entries {
        z.insert(format!("m{i}").as_bytes(), i as f64, &LIM);
    }
    assert_eq!(z.encoding_name(), "listpack");
    z.insert(b"one-more", 0.5, &LIM);
    assert_eq!(z.encoding_name(), "skiplist");
    z.check();
    let mut z = ZSetValue::new();
    z.insert(&[b'x'; LIM.zset_max_listpack_value], 1.0, &LIM);
    assert_eq!(z.encoding_name(), "listpack");
    z.insert(&[b'y'; LIM.zset_max_listpack_value + 1], 1.0, &LIM);
    assert_eq!(z.encoding_name(), "skiplist");
    // Computed results pick the compact encoding again when they fit.
    let small = ZSetValue::from_pairs(
        z.iter().filter(|(m, _)| m.len() <= LIM.zset_max_listpack_value).map(|(m, s)| (m.to_vec(), s)),
        &LIM,
    );
    assert_eq!(small.encoding_name(), "listpack");
    assert_eq!(small.len(), 1);
}

#[test]
fn equality_ignores_encoding() {
    let mut a = ZSetValue::new();
    let mut b = ZSetValue::new_skiplist();
    for i in 0..10 {
        a.insert(format!("m{i}").as_bytes(), (i % 3) as f64, &LIM);
        b.insert(format!("m{}", 9 - i).as_bytes(), ((9 - i) % 3) as f64, &LIM);
    }
    assert_eq!(a, b);
    b.insert(b"m0", 7.0, &LIM);
    assert_ne!(a, b);
}

#[test]
fn skiplist_ranks_and_ranges() {
    let mut z = ZSetValue::new_skiplist();
    for i in 0..1000 {
        z.insert(format!("m{i:04}").as_bytes(), (i / 10) as f64, &LIM);
    }
    z.check();
    assert_eq!(z.rank(b"m0000", false), Some((0, 0.0)));
    assert_eq!(z.rank(b"m0999", false), Some((999, 99.0)));
    assert_eq!(z.rank(b"m0999", true), Some((0, 99.0)));
    assert_eq!(z.get_by_rank(500), Some((&b"m0500"[..], 50.0)));
    let r = ScoreRange { min: 10.0, max: 12.0, minex: false, maxex: true };
    assert_eq!(z.count_by_score(&r), 20);
    let got = z.range_by_score(&r, true, 5, 3);
    assert_eq!(owned(got), vec![(b"m0114".to_vec(), 11.0), (b"m0113".to_vec(), 11.0), (b"m0112".to_vec(), 11.0)]);
    assert_eq!(z.remove_range_by_score(&r), 20);
    assert_eq!(z.remove_range_by_rank(0, 9), 10);
    z.check();
    assert_eq!(z.len(), 970);
    assert_eq!(z.get_by_rank(0), Some((&b"m0010"[..], 1.0)));
}

/// Random operation sequences against the model, crossing the encoding threshold as
/// the set grows past it and shrinks back, with both encodings checked after every
/// step (and a twin kept in the skiplist encoding from the start).
#[test]
fn property_matches_model() {
    for seed in 1..=12u64 {
        let mut rng = Rng::new(seed);
        let mut model = Model::default();
        let mut z = ZSetValue::new();
        let mut big = ZSetValue::new_skiplist();
        let universe = if seed % 2 == 0 { 60 } else { 400 };
        let mut max_len = 0;
        for step in 0..3000 {
            // Mostly grow in the first half, mostly shrink in the second.
            let grow = if step < 1500 { 6 } else { 3 };
            let mut op = rng.below(16);
            if step < 1500 && matches!(op, 6 | 7 | 11 | 12 | 13) && rng.below(4) != 0 {
                op = 0;
            }
            match op {
                0..=5 if op < grow => {
                    let m = member(&mut rng, universe);
                    let s = score(&mut rng);
                    let flags = AddFlags {
                        nx: rng.below(6) == 0,
                        xx: rng.below(6) == 0,
                        incr: rng.below(4) == 0,
                        ..Default::default()
                    };
                    let flags = if flags.nx { AddFlags { xx: false, ..flags } } else { flags };
                    let flags = AddFlags { gt: !flags.nx && rng.below(8) == 0, ..flags };
                    let r1 = z.add(&m, s, flags, &LIM);
                    let r2 = big.add(&m, s, flags, &LIM);
                    assert_eq!(r1, r2);
                    // Model of zsetAdd.
                    let expect = match model.m.get(&m).copied() {
                        Some(_) if flags.nx => Ok(AddOutcome::Nop),
                        Some(cur) => {
                            let new = if flags.incr { cur + s } else { s };
                            if new.is_nan() {
                                Err(ScoreIsNan)
                            } else if flags.gt && new <= cur {
                                Ok(AddOutcome::Nop)
                            } else if new != cur {
                                model.m.insert(m.clone(), new);
                                Ok(AddOutcome::Updated(new))
                            } else {
                                Ok(AddOutcome::Same(new))
                            }
                        }
                        None if flags.xx => Ok(AddOutcome::Nop),
                        None => {
                            model.m.insert(m.clone(), s);
                            Ok(AddOutcome::Added(s))
                        }
                    };
                    assert_eq!(r1, expect);
                }
                0..=7 => {
                    let m = member(&mut rng, universe);
                    let e = model.m.remove(&m);
                    assert_eq!(z.remove(&m), e);
                    assert_eq!(big.remove(&m), e);
                }
                8 => {
                    let sorted = model.sorted();
                    let a = rng.below(sorted.len() + 3);
                    let b = rng.below(sorted.len() + 3);
                    let rev = rng.below(2) == 0;
                    let mut want: Vec<(Vec<u8>, f64)> =
                        if rev { sorted.iter().rev().cloned().collect() } else { sorted.clone() };
                    want = if a <= b && a < want.len() { want[a..=b.min(want.len() - 1)].to_vec() } else { Vec::new() };
                    assert_eq!(owned(z.range_by_rank(a, b, rev)), want);
                    assert_eq!(owned(big.range_by_rank(a, b, rev)), want);
                }
                9 => {
                    let r = rand_score_range(&mut rng);
                    let rev = rng.below(2) == 0;
                    let off = rng.below(4);
                    let lim = if rng.below(3) == 0 { usize::MAX } else { rng.below(6) };
                    let sorted = model.sorted();
                    let mut want: Vec<(Vec<u8>, f64)> = sorted.into_iter().filter(|(_, s)| r.contains(*s)).collect();
                    assert_eq!(z.count_by_score(&r), want.len());
                    assert_eq!(big.count_by_score(&r), want.len());
                    if rev {
                        want.reverse();
                    }
                    let want: Vec<(Vec<u8>, f64)> = want.into_iter().skip(off).take(lim).collect();
                    assert_eq!(owned(z.range_by_score(&r, rev, off, lim)), want);
                    assert_eq!(owned(big.range_by_score(&r, rev, off, lim)), want);
                }
                10 => {
                    if let Some((m, s)) =
                        model.m.iter().nth(rng.below(model.m.len().max(1))).map(|(m, s)| (m.clone(), *s))
                    {
                        let sorted = model.sorted();
                        let r = sorted.iter().position(|(x, _)| *x == m).unwrap();
                        assert_eq!(z.rank(&m, false), Some((r, s)));
                        assert_eq!(big.rank(&m, true), Some((sorted.len() - 1 - r, s)));
                        assert_eq!(z.get_by_rank(r).map(|(m, s)| (m.to_vec(), s)), Some((m.clone(), s)));
                        assert_eq!(big.get_by_rank(r).map(|(m, s)| (m.to_vec(), s)), Some((m, s)));
                    }
                }
                11 => {
                    let sorted = model.sorted();
                    let a = rng.below(sorted.len() + 2);
                    let b = a + rng.below(4);
                    let want = if a < sorted.len() { b.min(sorted.len() - 1) + 1 - a } else { 0 };
                    for (m, _) in sorted.iter().skip(a).take(want) {
                        model.m.remove(m);
                    }
                    assert_eq!(z.remove_range_by_rank(a, b), want);
                    assert_eq!(big.remove_range_by_rank(a, b), want);
                }
                12 => {
                    let r = rand_score_range(&mut rng);
                    let gone: Vec<Vec<u8>> =
                        model.m.iter().filter(|(_, s)| r.contains(**s)).map(|(m, _)| m.clone()).collect();
                    // Keep the test from emptying the set too often.
                    if gone.len() <= 8 {
                        for m in &gone {
                            model.m.remove(m);
                        }
                        assert_eq!(z.remove_range_by_score(&r), gone.len());
                        assert_eq!(big.remove_range_by_score(&r), gone.len());
                    }
                }
                13 => {
                    let n = rng.below(4);
                    let max = rng.below(2) == 0;
                    let mut sorted = model.sorted();
                    if max {
                        sorted.reverse();
                    }
                    let want: Vec<(Vec<u8>, f64)> = sorted.into_iter().take(n).collect();
                    for (m, _) in &want {
                        model.m.remove(m);
                    }
                    assert_eq!(z.pop(n, max), want);
                    assert_eq!(big.pop(n, max), want);
                }
                14 => {
                    // Lex queries on a same-score slice behave like byte ranges.
                    let a = format!("m{}", rng.below(universe)).into_bytes();
                    let b = format!("m{}", rng.below(universe)).into_bytes();
                    let (ae, be) = (rng.below(2) == 0, rng.below(2) == 0);
                    let mut flat = ZSetValue::from_pairs(model.m.keys().map(|m| (m.clone(), 0.0)), &LIM);
                    flat.check();
                    let r = LexRange { min: LexKey::Str(&a), max: LexKey::Str(&b), minex: ae, maxex: be };
                    let want: Vec<Vec<u8>> = model.m.keys().filter(|m| r.contains(m)).cloned().collect();
                    let got: Vec<Vec<u8>> =
                        flat.range_by_lex(&r, false, 0, usize::MAX).into_iter().map(|(m, _)| m.to_vec()).collect();
                    assert_eq!(got, want);
                    assert_eq!(flat.count_by_lex(&r), want.len());
                    assert_eq!(flat.remove_range_by_lex(&r), want.len());
                    flat.check();
                }
                _ => {
                    // A full scan sees every member exactly once with its score.
                    let mut seen = BTreeMap::new();
                    for zz in [&z, &big] {
                        seen.clear();
                        let mut cursor = 0;
                        loop {
                            let (next, items) = zz.scan(cursor, 7);
                            for (m, s) in items {
                                assert!(seen.insert(m.to_vec(), s).is_none());
                            }
                            cursor = next;
                            if cursor == 0 {
                                break;
                            }
                        }
                        assert_eq!(seen, model.m);
                    }
                }
            }
            z.check();
            big.check();
            assert_eq!(z.len(), model.m.len());
            let sorted = model.sorted();
            assert_eq!(z.iter().map(|(m, s)| (m.to_vec(), s)).collect::<Vec<_>>(), sorted);
            assert_eq!(z, big);
            if z.len() > LIM.zset_max_listpack_entries {
                assert_eq!(z.encoding_name(), "skiplist");
            }
            max_len = max_len.max(z.len());
            // Rebuilding a computed result from the current contents re-picks the
            // encoding: compact once the set has shrunk back under the thresholds.
            if step % 97 == 0 {
                let rebuilt = ZSetValue::from_pairs(sorted.iter().cloned(), &LIM);
                let fits = sorted.len() <= LIM.zset_max_listpack_entries
                    && sorted.iter().all(|(m, _)| m.len() <= LIM.zset_max_listpack_value);
                assert_eq!(rebuilt.encoding_name(), if fits { "listpack" } else { "skiplist" });
                assert_eq!(rebuilt, z);
            }
        }
        if universe > LIM.zset_max_listpack_entries {
            assert!(max_len > LIM.zset_max_listpack_entries, "seed {seed} grew past the threshold");
            assert!(z.len() < max_len, "seed {seed} shrank again");
        }
    }
}

#[test]
fn skiplist_scan_survives_churn() {
    let mut z = ZSetValue::new_skiplist();
    for i in 0..300 {
        z.insert(format!("stay{i}").as_bytes(), i as f64, &LIM);
        z.insert(format!("go{i}").as_bytes(), i as f64, &LIM);
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = 0;
    let mut step = 0;
    loop {
        let (next, items) = z.scan(cursor, 10);
        seen.extend(items.iter().map(|(m, _)| m.to_vec()));
        for j in 0..5 {
            z.remove(format!("go{}", step * 5 + j).as_bytes());
            z.insert(format!("new{step}-{j}").as_bytes(), 0.0, &LIM);
        }
        step += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    for i in 0..300 {
        assert!(seen.contains(format!("stay{i}").as_bytes()), "missed stay{i}");
    }
}

#[test]
fn limits_are_read_on_each_insert() {
    let tight = EncodingLimits { zset_max_listpack_entries: 2, zset_max_listpack_value: 3, ..LIM };
    let mut z = ZSetValue::with_hint(1, 1, &tight);
    z.insert(b"a", 1.0, &tight);
    z.insert(b"b", 2.0, &tight);
    z.insert(b"a", 3.0, &tight);
    assert_eq!(z.encoding_name(), "listpack", "a score update adds no entry");
    z.insert(b"c", 1.0, &tight);
    assert_eq!(z.encoding_name(), "skiplist");
    let mut z = ZSetValue::new();
    z.insert(b"abcd", 1.0, &tight);
    assert_eq!(z.encoding_name(), "skiplist", "a member past the value limit");
    // Creation: zero entries or a long first member start as a skiplist.
    assert_eq!(
        ZSetValue::with_hint(1, 1, &EncodingLimits { zset_max_listpack_entries: 0, ..LIM }).encoding_name(),
        "skiplist"
    );
    assert_eq!(ZSetValue::with_hint(1, 4, &tight).encoding_name(), "skiplist");
    // Computed results take the encoding their size and longest member call for.
    assert_eq!(ZSetValue::from_pairs([(b"a", 1.0), (b"b", 2.0)], &tight).encoding_name(), "listpack");
    assert_eq!(ZSetValue::from_pairs([(b"abcd", 1.0)], &tight).encoding_name(), "skiplist");
    // Past the compact encoding's own cap, a skiplist whatever the limit says.
    let huge = EncodingLimits { zset_max_listpack_entries: usize::MAX, ..LIM };
    assert_eq!(ZSetValue::with_hint(LISTPACK_CAP + 1, 1, &huge).encoding_name(), "skiplist");
}
