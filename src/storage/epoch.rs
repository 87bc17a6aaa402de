//! A per-thread count of the changes that make a shard's per-turn work visit
//! databases it skipped so far: a database created, or one whose set of keys with a
//! TTL went from empty to non-empty.
//!
//! Job: let the shard (`shard::dbwatch`) keep, between two of these events, which of
//! its 16 databases active expiry and the per-turn access clock must touch, instead
//! of touching all of them every turn. The count is per thread because a database is
//! only changed by the thread that owns it; databases built on another thread (a
//! snapshot's load, a replica's full sync) reach their shard through a cut or a
//! replaced vector, which the shard notices on its own.
//!
//! Non-goals: knowing which database changed (the shard rescans its few), or anything
//! about expiry itself.

use std::cell::Cell;

thread_local! {
    static EPOCH: Cell<u64> = const { Cell::new(0) };
}

/// This thread's count so far.
#[inline]
pub fn current() -> u64 {
    EPOCH.with(Cell::get)
}

/// Counts one such change on this thread.
#[inline]
pub(super) fn bump() {
    EPOCH.with(|e| e.set(e.get().wrapping_add(1)));
}

#[cfg(test)]
mod tests {
    use crate::storage::Db;

    #[test]
    fn a_first_ttl_and_a_new_database_move_the_epoch_and_more_ttls_do_not() {
        let mut db = Db::new();
        let e = super::current();
        db.set_str(b"a", b"1", 0);
        assert_eq!(super::current(), e, "a key without a TTL");
        db.set_str(b"b", b"1", u64::MAX / 2);
        let after_first = super::current();
        assert_ne!(after_first, e, "the first key with a TTL");
        db.set_str(b"c", b"1", u64::MAX / 2);
        assert_eq!(super::current(), after_first, "a second key with a TTL");
        let _other = Db::new();
        assert_ne!(super::current(), after_first, "a database created");
    }
}
