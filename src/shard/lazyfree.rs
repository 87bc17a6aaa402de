//! Lazy freeing: UNLINK, FLUSHALL/FLUSHDB ASYNC and the `lazyfree-lazy-*` settings.
//!
//! Job: take values (or whole databases) that a command has already removed from the
//! keyspace and free them off the request path, so deleting a 10M-member set costs
//! its client, and the other clients of that shard, only the unlinking. As in Redis
//! (`lazyfree.c`, BIO_LAZY_FREE), one helper thread drops what the shards hand it;
//! small values (`effort` at most `LAZYFREE_THRESHOLD` allocations) are freed at once
//! by the caller, since queueing them would cost more than freeing them.
//!
//! The helper thread is process-wide and started on first use. mimalloc takes frees
//! from a foreign thread through each page's lock-free delayed-free list, so the
//! shards' own allocations never wait on it.
//!
//! Counters (INFO memory `lazyfree_pending_objects`, INFO stats `lazyfreed_objects`)
//! count objects as Redis does: one per value, and one per key of a flushed database.
//!
//! Non-goals: deciding *when* a delete is lazy (the callers read the settings),
//! removing keys from the keyspace (the callers do that first).
//!
//! Depends on: `storage` (value sizes), `persist::dbview` (moving a `Db` to the
//! helper thread), std.

use crate::storage::{Db, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{LazyLock, Mutex};

/// Values with more allocations than this are freed by the helper thread (Redis's
/// `LAZYFREE_THRESHOLD`).
pub const LAZYFREE_THRESHOLD: usize = 64;

/// Something to drop, and how many objects it counts for.
struct Job {
    garbage: Box<dyn Send>,
    objects: u64,
}

struct LazyFree {
    queue: Mutex<Option<Sender<Job>>>,
    pending: AtomicU64,
    freed: AtomicU64,
}

static LAZY: LazyLock<LazyFree> =
    LazyLock::new(|| LazyFree { queue: Mutex::new(None), pending: AtomicU64::new(0), freed: AtomicU64::new(0) });

/// Objects handed to the helper thread and not freed yet (INFO `lazyfree_pending_objects`).
pub fn pending_objects() -> u64 {
    LAZY.pending.load(Ordering::Relaxed)
}

/// Objects the helper thread has freed since start (INFO `lazyfreed_objects`).
pub fn freed_objects() -> u64 {
    LAZY.freed.load(Ordering::Relaxed)
}

/// How many allocations freeing `v` takes, roughly (Redis's `lazyfreeGetFreeEffort`):
/// one for the compact encodings, one per element for tables, skiplists and lists.
pub fn effort(v: &Value) -> usize {
    use crate::storage::hash::HashValue;
    use crate::storage::set::SetValue;
    use crate::storage::zset::ZSetValue;
    match v {
        Value::Str(_) => 1,
        Value::List(l) => l.len(),
        Value::Set(SetValue::Table(t)) => t.len(),
        Value::Hash(HashValue::Table(t)) => t.len(),
        Value::ZSet(z @ ZSetValue::Skiplist(_)) => z.len(),
        _ => 1,
    }
}

/// Frees `v`: on the helper thread when `lazy` and it is big enough to be worth it,
/// here otherwise. Returns whether it was queued.
pub fn free_value(v: Value, lazy: bool) -> bool {
    if !lazy || effort(&v) <= LAZYFREE_THRESHOLD {
        drop(v);
        return false;
    }
    submit(Job { garbage: Box::new(v), objects: 1 })
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

/// Frees a database's contents (a flushed `Db` swapped out of the shard) holding
/// `keys` keys: on the helper thread when `lazy` and not tiny, here otherwise.
pub fn free_db(db: Db, keys: u64, lazy: bool) -> bool {
    if !lazy || keys == 0 {
        drop(db);
        return false;
    }
    submit(Job { garbage: Box::new(crate::persist::dbview::Discarded(db)), objects: keys })
}

/// Queues `job` for the helper thread, starting it if needed. If the thread cannot be
/// started, the job is freed here: slower, never lost.
fn submit(job: Job) -> bool {
    let mut queue = LAZY.queue.lock().unwrap_or_else(|e| e.into_inner());
    if queue.is_none() {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new().name("lazyfree".into()).spawn(move || {
            while let Ok(job) = rx.recv() {
                let n = job.objects;
                drop(job.garbage);
                LAZY.pending.fetch_sub(n, Ordering::Relaxed);
                LAZY.freed.fetch_add(n, Ordering::Relaxed);
            }
        });
        if spawned.is_err() {
            return false;
        }
        *queue = Some(tx);
    }
    let n = job.objects;
    LAZY.pending.fetch_add(n, Ordering::Relaxed);
    match queue.as_ref().expect("started").send(job) {
        Ok(()) => true,
        Err(e) => {
            LAZY.pending.fetch_sub(n, Ordering::Relaxed);
            drop(e.0);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::set::SetValue;

    fn big_set(n: usize) -> Value {
        let mut s = SetValue::default();
        for i in 0..n {
            s.insert(format!("member:{i}").as_bytes());
        }
        Value::Set(s)
    }

    #[test]
    fn small_values_are_freed_in_place_big_ones_on_the_helper() {
        assert!(!free_value(Value::Str(vec![0; 1 << 20]), true), "a string is one allocation");
        assert!(!free_value(big_set(1000), false), "not lazy");
        let before = freed_objects();
        assert!(free_value(big_set(1000), true));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while freed_objects() == before {
            assert!(std::time::Instant::now() < deadline, "the helper thread never freed the set");
            std::thread::yield_now();
        }
    }
}
