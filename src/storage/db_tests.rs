use super::*;

fn s(v: &str) -> Value {
    Value::Str(v.as_bytes().into())
}

#[test]
fn set_get_remove() {
    let mut db = Db::new();
    assert!(db.set(b"a", s("1"), 0).is_none());
    assert_eq!(db.get(b"a", 0).unwrap().value, s("1"));
    assert!(db.set(b"a", s("2"), 0).is_some());
    assert_eq!(db.len(), 1);
    assert!(db.remove(b"a", 0).is_some());
    assert!(db.get(b"a", 0).is_none());
}

/// `set_str` leaves the database as `set` of the same string would, and hands back
/// exactly the old values that own memory.
#[test]
fn set_str_matches_set_and_returns_only_values_to_free() {
    let long = "x".repeat(100);
    let list = Value::List(Box::new(crate::storage::list::ListValue::new(crate::storage::ListFill::default())));
    let cases: [(Option<Value>, &str, u64); 6] = [
        (None, "new", 0),
        (Some(s("short")), "other", 0),
        (Some(s("short")), &long, 500),
        (Some(s(&long)), "tiny", 0),
        (Some(s(&long)), &long, 0),
        (Some(list), "v", 700),
    ];
    for (before, bytes, ttl) in cases {
        for old_ttl in [0, 300] {
            let (mut a, mut b) = (Db::new(), Db::new());
            if let Some(v) = &before {
                a.set(b"k", v.clone(), old_ttl);
                b.set(b"k", v.clone(), old_ttl);
            }
            let freed = a.set_str(b"k", bytes.as_bytes(), ttl);
            b.set(b"k", s(bytes), ttl);
            let (ea, eb) = (a.peek_entry(b"k").unwrap(), b.peek_entry(b"k").unwrap());
            assert_eq!((&ea.value, ea.expire_at), (&eb.value, eb.expire_at), "{before:?} <- {bytes}");
            assert_eq!(a.volatile_len(), b.volatile_len());
            let owns_memory = match &before {
                Some(Value::Str(v)) => !v.is_inline(),
                other => other.is_some(),
            };
            assert_eq!(freed.as_ref(), if owns_memory { before.as_ref() } else { None });
        }
    }
    // A shorter string over a longer inline one reads back without the old tail.
    let mut db = Db::new();
    db.set_str(b"k", b"abcdef", 0);
    db.set_str(b"k", b"xy", 0);
    assert_eq!(db.peek(b"k").unwrap().value, s("xy"));
}

#[test]
fn lazy_expiry_records_expired_keys() {
    let mut db = Db::new();
    db.set(b"k", s("v"), 100);
    assert_eq!(db.volatile_len(), 1);
    assert!(db.get(b"k", 99).is_some());
    assert!(db.get(b"k", 100).is_some(), "still there during its last millisecond");
    assert!(db.get(b"k", 101).is_none());
    assert_eq!(db.volatile_len(), 0);
    assert_eq!(db.expired.len(), 1);
    assert_eq!(&*db.expired[0], b"k");
}

/// Redis's boundary (`now > when`), on every path that decides: lookups, writes
/// through `remove`/`set_expire`, SCAN, KEYS, RANDOMKEY and active expiry.
#[test]
fn a_key_expires_only_once_the_clock_is_past_its_deadline() {
    assert!(!has_expired(0, u64::MAX), "no TTL never expires");
    assert!(!has_expired(100, 99) && !has_expired(100, 100) && has_expired(100, 101));
    let mut db = Db::new();
    for k in ["a", "b", "c", "d"] {
        db.set(k.as_bytes(), s("v"), 100);
    }
    assert!(db.get(b"a", 100).is_some() && db.get_notouch(b"a", 100).is_some());
    assert!(db.contains(b"b", 100));
    assert_eq!(db.live_keys(100).count(), 4);
    assert_eq!(db.scan(0, 10, 100).keys.len(), 4);
    assert!(db.random_key(100).is_some());
    assert_eq!(db.active_expire(100, 20, || true), 0, "active expiry waits too");
    assert!(db.set_expire(b"c", 200, 100), "a key at its deadline is live for EXPIRE");
    assert!(db.remove(b"d", 100).is_some(), "and DEL finds it");
    assert!(db.expired.is_empty());
    assert_eq!(db.live_keys(101).count(), 1);
    assert_eq!(db.active_expire(101, 20, || true), 2);
    assert_eq!(db.len(), 1);
    assert!(db.get(b"c", 200).is_some());
    assert!(db.get(b"c", 201).is_none());
}

#[test]
fn active_expiry_leaves_held_keys_until_released() {
    let mut db = Db::new();
    for k in ["held", "free"] {
        db.set(k.as_bytes(), s("v"), 100);
    }
    assert_eq!(db.active_expire_except(101, 20, || true, |k| k == b"held"), 1);
    assert!(db.peek(b"held").is_some(), "a key a transaction holds stays");
    assert_eq!(db.active_expire(101, 20, || true), 1, "and goes once released");
    assert_eq!(db.len(), 0);
}

#[test]
fn lazy_expire_hands_the_values_over() {
    let mut db = Db::new();
    db.set(b"a", s("1"), 100);
    assert!(db.get(b"a", 200).is_none());
    assert!(db.expired_values.is_empty(), "dropped at once by default");
    db.lazy_expire = true;
    db.set(b"b", s("2"), 100);
    db.set(b"c", s("3"), 100);
    assert!(db.get(b"b", 200).is_none());
    db.active_expire(200, 20, || true);
    assert_eq!(db.expired_values, vec![s("2"), s("3")]);
    assert_eq!(db.expired.len(), 3);
}

/// Sampling reads positions drawn a round earlier: they must stay uniform draws
/// of the current table (every slot reachable, none past its end after it shrank),
/// and volatile samples must be keys with a TTL and their own deadline.
#[test]
fn eviction_samples_cover_the_table_and_follow_it() {
    let mut db = Db::new();
    for i in 0..1000u64 {
        let at = if i % 10 == 0 { 1_000_000 + i } else { 0 };
        db.set(format!("key:{i}").as_bytes(), s("v"), at);
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4000 {
        db.sample_into(false, 5, &mut out);
        assert_eq!(out.len(), 5);
        seen.extend(out.iter().map(|x| x.slot));
    }
    assert_eq!(seen.len(), 1000, "every slot is drawn");
    for i in 0..900u64 {
        db.remove(format!("key:{i}").as_bytes(), 0);
    }
    for _ in 0..50 {
        db.sample_into(false, 5, &mut out);
        assert!(out.iter().all(|x| (x.slot as usize) < db.len()), "drawn within the shrunk table");
    }
    for _ in 0..200 {
        db.sample_into(true, 3, &mut out);
        assert_eq!(out.len(), 3);
        for x in &out {
            let key = db.slot_key(x.slot).to_vec();
            let (_, at) = db.peek_with_expire(&key).unwrap();
            assert!(at != 0 && at == x.expire_at, "{:?} {at} {}", String::from_utf8_lossy(&key), x.expire_at);
        }
    }
    db.clear();
    db.sample_into(false, 5, &mut out);
    assert!(out.is_empty());
}

#[test]
fn overwrite_clears_ttl_from_volatile() {
    let mut db = Db::new();
    db.set(b"k", s("v"), 100);
    db.set(b"k", s("w"), 0);
    assert_eq!(db.volatile_len(), 0);
    assert!(db.set_expire(b"k", 50, 0));
    assert_eq!(db.volatile_len(), 1);
    assert!(db.set_expire(b"k", 0, 0));
    assert_eq!(db.volatile_len(), 0);
}

/// Deadlines are kept by slot number: a database that never had a TTL allocates no
/// deadline array, and a key keeps its own deadline when its slot moves (a removal
/// swaps the last slot into the hole), is given a new one, or loses it.
#[test]
fn deadlines_by_slot_follow_moves() {
    let mut db = Db::new();
    for i in 0..100 {
        db.set(format!("p{i}").as_bytes(), s("v"), 0);
    }
    assert!(db.deadlines.is_empty(), "no TTL yet, no deadline array");
    for i in 0..100 {
        db.set(format!("t{i}").as_bytes(), s("v"), 1000 + i);
    }
    assert!(db.set_expire(b"t7", 5000, 0), "a new deadline for a key that had one");
    assert!(db.set_expire(b"t8", 0, 0));
    // Remove from the front so that the last slots move down into the holes.
    for i in 0..50 {
        db.remove(format!("p{i}").as_bytes(), 0);
        db.remove(format!("t{}", 99 - i).as_bytes(), 0);
    }
    assert_eq!(db.volatile_len(), 49);
    for i in 0..50u64 {
        let (_, at) = db.peek_with_expire(format!("t{i}").as_bytes()).unwrap();
        let want = match i {
            7 => 5000,
            8 => 0,
            _ => 1000 + i,
        };
        assert_eq!(at, want, "t{i}");
        assert_eq!(db.peek_with_expire(format!("p{}", 50 + i).as_bytes()).unwrap().1, 0);
    }
    // Every volatile slot's deadline is the one its key was given.
    for (key, _, at) in db.iter_with_expire() {
        let key = key.to_vec();
        assert_eq!(at == 0, key.starts_with(b"p") || key == b"t8", "{key:?}");
    }
    db.clear();
    assert!(db.deadlines.is_empty());
}

#[test]
fn active_expire_removes_only_expired() {
    let mut db = Db::new();
    for i in 0..1000 {
        let k = format!("k{i}");
        db.set(k.as_bytes(), s("v"), if i % 2 == 0 { 10 } else { 0 });
    }
    let mut rounds = 0;
    while db.volatile_len() > 0 && rounds < 1000 {
        db.active_expire(20, 20, || true);
        rounds += 1;
    }
    assert_eq!(db.len(), 500);
    assert!(db.iter().all(|(_, e)| !e.has_ttl()));
}

#[test]
fn scan_returns_every_key_present_throughout_despite_deletes_and_inserts() {
    let mut db = Db::new();
    for i in 0..500 {
        db.set(format!("stay{i}").as_bytes(), s("v"), 0);
        db.set(format!("go{i}").as_bytes(), s("v"), 0);
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = 0;
    let mut step = 0;
    loop {
        let r = db.scan(cursor, 10, 0);
        seen.extend(r.keys.iter().map(|k| k.to_vec()));
        // Churn between steps: delete some transient keys, add new ones.
        for j in 0..5 {
            db.remove(format!("go{}", step * 5 + j).as_bytes(), 0);
            db.set(format!("new{step}-{j}").as_bytes(), s("v"), 0);
        }
        step += 1;
        cursor = r.next;
        if cursor == 0 {
            break;
        }
    }
    for i in 0..500 {
        assert!(seen.contains(format!("stay{i}").as_bytes()), "missed stay{i}");
    }
}

#[test]
fn random_key_skips_expired() {
    let mut db = Db::new();
    db.set(b"dead", s("v"), 5);
    db.set(b"live", s("v"), 0);
    for _ in 0..20 {
        assert_eq!(&*db.random_key(10).unwrap(), b"live");
    }
    assert!(Db::new().random_key(0).is_none());
}

/// Random commands against a `HashMap` model, through index growth and slot moves:
/// values, TTLs, lazy and active expiry, `volatile` bookkeeping, and SCAN's
/// guarantee (every key present for a whole scan is returned) while keys come and go.
#[test]
fn matches_a_hashmap_model_with_expiry_and_scan() {
    use crate::util::rng::XorShift;
    use std::collections::{HashMap, HashSet};
    let mut db = Db::new();
    // key -> (value tag, expire_at)
    let mut model: HashMap<Vec<u8>, (u64, u64)> = HashMap::new();
    let mut rng = XorShift::new(11);
    let mut now = 1_000u64;
    let key = |i: usize| -> Vec<u8> {
        if i.is_multiple_of(4) {
            format!("long-key-name-for-the-heap:{i}").into_bytes()
        } else {
            format!("k{i}").into_bytes()
        }
    };
    // The scan in progress: cursor, keys seen, keys removed (or expired) since it began.
    type KeySet = HashSet<Vec<u8>>;
    let mut scan: Option<(u64, KeySet, KeySet, KeySet)> = None;
    let mut scans_done = 0;
    for step in 0..40_000u64 {
        let k = key(rng.below(12_000));
        now += rng.below(3) as u64;
        let mut removed: Vec<Vec<u8>> = Vec::new();
        match rng.below(10) {
            0..=4 => {
                let ttl = if rng.below(4) == 0 { now + 1 + rng.below(200) as u64 } else { 0 };
                db.set(&k, Value::Str(format!("{step}").into_bytes().into()), ttl);
                model.insert(k.clone(), (step, ttl));
            }
            5 => {
                if db.remove(&k, now).is_some() {
                    model.remove(&k);
                    removed.push(k.clone());
                }
            }
            6 => {
                let ttl = if rng.below(2) == 0 { 0 } else { now + 1 + rng.below(200) as u64 };
                if db.set_expire(&k, ttl, now) {
                    model.get_mut(&k).expect("live in the model").1 = ttl;
                }
            }
            7 => {
                let got = db.get(&k, now).map(|e| e.value.clone());
                let want = model
                    .get(&k)
                    .filter(|(_, t)| !has_expired(*t, now))
                    .map(|(v, _)| Value::Str(format!("{v}").into_bytes().into()));
                assert_eq!(got, want);
            }
            8 => {
                db.active_expire(now, 20, || true);
            }
            _ => {
                let (cursor, mut seen, present, mut gone) =
                    scan.take().unwrap_or_else(|| (0, HashSet::new(), model.keys().cloned().collect(), HashSet::new()));
                let r = db.scan(cursor, 1 + rng.below(50), now);
                seen.extend(r.keys.iter().map(|k| k.to_vec()));
                if r.next == 0 {
                    for k in present.difference(&gone) {
                        let alive = model.get(k).is_some_and(|(_, t)| !has_expired(*t, now));
                        assert!(!alive || seen.contains(k), "scan missed {:?}", String::from_utf8_lossy(k));
                    }
                    scans_done += 1;
                } else {
                    gone.extend(std::mem::take(&mut removed));
                    scan = Some((r.next, seen, present, gone));
                }
            }
        }
        // Keys the db expired on its own, lazily or actively: the model agrees they
        // had expired.
        for k in db.expired.drain(..) {
            let (_, t) = model.remove(&*k).expect("expired key was in the model");
            assert!(has_expired(t, now), "key expired early");
            removed.push(k.to_vec());
        }
        if let Some((_, _, _, gone)) = &mut scan {
            gone.extend(removed);
        }
        assert_eq!(db.len(), model.len());
        assert_eq!(db.volatile_len(), model.values().filter(|(_, t)| *t != 0).count());
    }
    assert!(scans_done > 10);
    for (k, (v, t)) in &model {
        let (e, expire_at) = db.peek_with_expire(k).expect("model key present");
        assert_eq!((&e.value, expire_at), (&Value::Str(format!("{v}").into_bytes().into()), *t));
    }
    let mut it: Vec<Vec<u8>> = db.iter().map(|(k, _)| k.to_vec()).collect();
    it.sort();
    let mut want: Vec<Vec<u8>> = model.keys().cloned().collect();
    want.sort();
    assert_eq!(it, want);
}

#[test]
fn rename_style_moves_keep_metadata_and_insert_new_replaces_expired() {
    let mut db = Db::new();
    db.set_entry(b"a", Entry::with_meta(s("1"), 500, 42));
    let e = db.remove(b"a", 0).unwrap();
    assert_eq!(&*e.key(), b"a");
    db.set_entry(b"a-much-longer-destination-key", e);
    let (e, expire_at) = db.peek_with_expire(b"a-much-longer-destination-key").unwrap();
    assert_eq!((expire_at, e.access_secs, &*e.key()), (500, 42, &b"a-much-longer-destination-key"[..]));
    assert_eq!(db.volatile_len(), 1);
    db.set(b"x", s("old"), 10);
    db.insert_new(b"x", s("new"));
    assert_eq!(db.len(), 2);
    assert_eq!(db.volatile_len(), 1);
    assert_eq!(db.get(b"x", 20).unwrap().value, s("new"));
}
