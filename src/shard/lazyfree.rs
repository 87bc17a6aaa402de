//! Lazy freeing: UNLINK, FLUSHALL/FLUSHDB ASYNC and the `lazyfree-lazy-*` settings.
//!
//! Job: take values (or whole databases) that a command has already removed from the
//! keyspace and free them off the request path, so deleting a 10M-member set costs
//! its client, and the other clients of that shard, only the unlinking. Small values
//! (`effort` at most `LAZYFREE_THRESHOLD` allocations) are freed at once by the
//! caller, since queueing them would cost more than freeing them.
//!
//! Unlike Redis's helper thread, the freeing happens on the thread that owns the
//! memory, in bounded slices: each loop turn frees at most `SLICE` elements
//! (`run_slice`), and a shard with garbage left does not park. Freeing on another
//! thread does not work with mimalloc: a foreign free of a block in a full page goes
//! to the owning heap's delayed-free list, which the owner then processes whole at its
//! next allocation, so a 1M-element free on a helper thread stalled the shard for
//! several milliseconds anyway. The queue is thread-local, so handlers that only see
//! their keyspace (`ExecCtx`) can hand values over without any plumbing.
//!
//! Counters (INFO memory `lazyfree_pending_objects`, `lazyfreed_objects`) count
//! objects as Redis does: one per value, one per key of a flushed database.
//!
//! Non-goals: deciding *when* a delete is lazy (the callers read the settings),
//! removing keys from the keyspace (the callers do that first).
//!
//! Depends on: `storage` (values and their element-wise removal), std.

use crate::storage::hash::HashValue;
use crate::storage::set::SetValue;
use crate::storage::zset::ZSetValue;
use crate::storage::{Db, SmallBytes, Value};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values with more allocations than this are freed lazily (Redis's
/// `LAZYFREE_THRESHOLD`).
pub const LAZYFREE_THRESHOLD: usize = 64;

/// Elements freed per loop turn: about 100 µs of work at ~30 ns per element.
pub const SLICE: usize = 4096;

/// Something left to free, and how many objects it counts for once gone.
struct Garbage {
    what: Kind,
    objects: u64,
}

enum Kind {
    Value(Value),
    /// A set table's members, its hash index already gone (see `garbage_of`).
    Members(indexmap::set::IntoIter<SmallBytes>),
    /// A hash table's fields and values, likewise.
    Fields(indexmap::map::IntoIter<SmallBytes, SmallBytes>),
    /// Boxed: a `Db` is several times the size of the other variants.
    Db(Box<Db>),
}

/// What freeing `v` in slices works on. A set or hash table is taken apart into its
/// entries right away, which drops its hash index in one go (a single allocation):
/// removing entries from a live table, as `truncate` or `pop` do, has to find and
/// erase each one in the index first, a cache miss per element into an index of
/// hundreds of megabytes for a 10M-member set. That index work, not the freeing,
/// was most of a big UNLINK's background cost (77% of it in indexmap's `truncate`).
fn garbage_of(v: Value) -> Kind {
    match v {
        Value::Set(SetValue::Table(t)) => Kind::Members((*t).into_iter()),
        Value::Hash(HashValue::Table(t)) => Kind::Fields((*t).into_iter()),
        v => Kind::Value(v),
    }
}

thread_local! {
    static QUEUE: RefCell<VecDeque<Garbage>> = const { RefCell::new(VecDeque::new()) };
}

static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

/// Objects queued on any thread and not freed yet (INFO `lazyfree_pending_objects`).
pub fn pending_objects() -> u64 {
    PENDING.load(Ordering::Relaxed)
}

/// Objects freed lazily since start or the last CONFIG RESETSTAT (INFO `lazyfreed_objects`).
pub fn freed_objects() -> u64 {
    FREED.load(Ordering::Relaxed)
}

/// CONFIG RESETSTAT: `lazyfreed_objects` starts again from 0, as Redis's
/// `lazyfreeResetStats` does (the pending count is state, not a statistic).
pub fn reset_freed_objects() {
    FREED.store(0, Ordering::Relaxed);
}

/// How many allocations freeing `v` takes, roughly (Redis's `lazyfreeGetFreeEffort`):
/// one for the compact encodings and for lists (whose nodes hold many elements each
/// and are freed in one go), one per element for tables and skiplists, one per node
/// and per group for streams.
pub fn effort(v: &Value) -> usize {
    match v {
        Value::Set(SetValue::Table(t)) => t.len(),
        Value::Hash(HashValue::Table(t)) => t.len(),
        Value::ZSet(z @ ZSetValue::Skiplist(_)) => z.len(),
        // Each node is an allocation; each group and its PEL's entries too, the first
        // group's PEL standing for every group's, as Redis estimates it.
        Value::Stream(s) => s.node_count() + s.groups.values().next().map_or(0, |g| s.groups.len() * (1 + g.pel.len())),
        _ => 1,
    }
}

/// Frees `v`: lazily (a slice per loop turn) when `lazy` and it is big enough to be
/// worth it, here otherwise. Returns whether it was queued.
pub fn free_value(v: Value, lazy: bool) -> bool {
    if !lazy || effort(&v) <= LAZYFREE_THRESHOLD {
        drop(v);
        return false;
    }
    PENDING.fetch_add(1, Ordering::Relaxed);
    QUEUE.with(|q| q.borrow_mut().push_back(Garbage { what: garbage_of(v), objects: 1 }));
    true
}

/// Frees what a server-side delete removed (an overwritten SET, RENAME's or a STORE
/// command's destination), lazily under `lazyfree-lazy-server-del`.
pub fn server_del(old: Option<crate::storage::Entry>, config: &crate::config::Config) {
    if let Some(e) = old {
        free_value(e.value, config.lazyfree_lazy_server_del);
    }
}

/// Frees a value that eviction removed, lazily under `lazyfree-lazy-eviction` (for
/// the eviction code to call with each evicted entry's value).
pub fn evicted(v: Value, config: &crate::config::Config) {
    free_value(v, config.lazyfree_lazy_eviction);
}

/// Frees a database swapped out of its shard by a flush: lazily when `lazy` and not
/// empty, here otherwise.
pub fn free_db(db: Db, lazy: bool) -> bool {
    let keys = db.len() as u64;
    if !lazy || keys == 0 {
        drop(db);
        return false;
    }
    PENDING.fetch_add(keys, Ordering::Relaxed);
    QUEUE.with(|q| q.borrow_mut().push_back(Garbage { what: Kind::Db(Box::new(db)), objects: keys }));
    true
}

/// Has this thread garbage left? (Its loop should not park while it has.)
pub fn has_work() -> bool {
    QUEUE.with(|q| !q.borrow().is_empty())
}

/// Frees up to `SLICE` elements of this thread's garbage, oldest first.
pub fn run_slice() {
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        let mut budget = SLICE;
        // Big values found in a flushed database: their own slices, later.
        let mut spilled = Vec::new();
        while budget > 0 {
            let Some(front) = q.front_mut() else { break };
            let done = match &mut front.what {
                Kind::Value(v) => free_some(v, &mut budget),
                Kind::Members(it) => drop_some(it, &mut budget),
                Kind::Fields(it) => drop_some(it, &mut budget),
                Kind::Db(db) => free_some_keys(db, &mut budget, &mut spilled),
            };
            if done {
                let objects = q.pop_front().map_or(0, |g| g.objects);
                PENDING.fetch_sub(objects, Ordering::Relaxed);
                FREED.fetch_add(objects, Ordering::Relaxed);
            }
        }
        // Counted with their database already.
        q.extend(spilled.into_iter().map(|v| Garbage { what: garbage_of(v), objects: 0 }));
    });
}

/// Drops up to `budget` of a taken-apart table's entries, taking them off `budget`.
/// True once none is left (the entries' own buffer goes with the iterator).
fn drop_some<I: ExactSizeIterator>(it: &mut I, budget: &mut usize) -> bool {
    let n = (*budget).min(it.len());
    *budget -= n;
    it.by_ref().take(n).for_each(drop);
    it.len() == 0
}

/// Frees up to `budget` elements of `v`, taking them off `budget` (at least one, so
/// every call makes progress). True once `v` holds nothing worth another slice.
fn free_some(v: &mut Value, budget: &mut usize) -> bool {
    let n = *budget;
    *budget = 0;
    match v {
        Value::ZSet(z @ ZSetValue::Skiplist(_)) => {
            if n > 0 {
                z.remove_range_by_rank(0, n - 1);
            }
            z.is_empty()
        }
        _ => true,
    }
}

/// Removes up to `budget` keys of a flushed database, freeing small values at once
/// and moving big ones to `spilled`. True once the database is empty.
fn free_some_keys(db: &mut Db, budget: &mut usize, spilled: &mut Vec<Value>) -> bool {
    let keys: Vec<crate::storage::Key> =
        db.iter().take((*budget).max(1)).map(|(k, _)| crate::storage::Key::new(&k)).collect();
    *budget = budget.saturating_sub(keys.len().max(1));
    for k in &keys {
        // `now` 0: nothing counts as expired, every key just goes.
        if let Some(e) = db.remove(k, 0)
            && effort(&e.value) > LAZYFREE_THRESHOLD
        {
            spilled.push(e.value);
        }
    }
    db.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big_set(n: usize) -> Value {
        let mut s = SetValue::default();
        for i in 0..n {
            s.insert(format!("member:{i:030}").as_bytes(), &crate::storage::EncodingLimits::DEFAULT);
        }
        Value::Set(s)
    }

    #[test]
    fn values_and_dbs_are_freed_in_slices() {
        assert!(!free_value(Value::Str(vec![0u8; 1 << 20].into()), true), "a string is one allocation");
        assert!(!free_value(big_set(1000), false), "not lazy");
        assert!(!has_work());
        let freed = freed_objects();
        assert!(free_value(big_set(SLICE * 2 + 10), true));
        assert!(has_work());
        run_slice();
        run_slice();
        assert!(has_work(), "two slices free 2 * SLICE elements, not more");
        assert_eq!(freed_objects(), freed);
        run_slice();
        assert!(!has_work());
        assert_eq!(freed_objects(), freed + 1);

        // A big hash likewise, and a value queued behind it gets the rest of a slice.
        let mut h = HashValue::default();
        for i in 0..SLICE + 100 {
            h.set(format!("field:{i:030}").as_bytes(), b"v", &crate::storage::EncodingLimits::DEFAULT);
        }
        assert!(matches!(h, HashValue::Table(_)));
        assert!(free_value(Value::Hash(h), true));
        assert!(free_value(big_set(200), true));
        run_slice();
        assert!(has_work());
        assert_eq!(freed_objects(), freed + 1);
        run_slice();
        assert!(!has_work(), "100 fields and 200 members fit one slice");
        assert_eq!(freed_objects(), freed + 3);

        // A flushed db goes key by key, and its big values in slices of their own.
        let mut db = Db::new();
        for i in 0..(SLICE + 5) {
            db.set(format!("k{i}").as_bytes(), Value::Str(b"v".to_vec().into()), 0);
        }
        db.set(b"big", big_set(SLICE + 1), 0);
        let freed = freed_objects();
        assert!(free_db(db, true));
        let mut turns = 0;
        while has_work() {
            run_slice();
            turns += 1;
            assert!(turns < 10);
        }
        assert!(turns >= 3, "{turns}");
        assert_eq!(freed_objects(), freed + SLICE as u64 + 6);
    }
}
