//! Which of a shard's databases the per-turn work must visit.
//!
//! Job: every turn, `ShardState::begin_turn` moves each database's access clock and
//! `turns::expire_slice` asks each whether it has keys with a TTL. With the usual 16
//! databases and one in use, that is 32 cold cache lines per turn for nothing. This
//! keeps, per shard, a set of the databases that may have keys with a TTL and the
//! clock settings last given to all of them, and lets the two visit only what can
//! have changed. The results are exactly those of visiting all: the set is a
//! superset, narrowed only by looking, and it is taken again whenever it could have
//! grown:
//! - the thread's `storage::epoch` moved (a database created, or one's first key with
//!   a TTL on this thread);
//! - the databases' vector is another one (a script, MULTI or a load swapped it);
//! - `stale()` was called: a consistent cut (which lends the databases to another
//!   thread: DEBUG RELOAD, a replica's full sync), SWAPDB, and the cron, which
//!   also rescans every period as a safety net.
//!
//! Non-goals: what a slice or a tick does (`shard::turns`, `storage::evict`).

use crate::storage::Db;

/// What a set was taken on: the thread's epoch and the databases' vector.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Layout {
    epoch: u64,
    ptr: usize,
    len: usize,
}

impl Layout {
    fn of(dbs: &[Db]) -> Layout {
        Layout { epoch: crate::storage::epoch::current(), ptr: dbs.as_ptr() as usize, len: dbs.len() }
    }
}

/// The settings a tick gives every database's access clock (and `lazy_expire`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TickParams {
    pub now_secs: u64,
    pub lfu: bool,
    pub log_factor: u32,
    pub decay_time: u32,
    pub lazy_expire: bool,
}

#[derive(Default)]
pub struct DbWatch {
    /// The layout `volatile` was taken on; None: take it again.
    volatile_seen: Option<Layout>,
    /// Bit d: database d may have keys with a TTL (only with at most 64 databases).
    volatile: u64,
    /// The layout and settings of the last tick of every database.
    ticked: Option<(Layout, TickParams)>,
}

impl DbWatch {
    /// Something may have changed the databases behind the shard's back: look at all
    /// of them again.
    pub fn stale(&mut self) {
        self.volatile_seen = None;
        self.ticked = None;
    }

    /// The databases that have keys with a TTL, as a bit set (bit d: database d), or
    /// None with more than 64 databases (the caller asks each). Visits the databases
    /// of the set only, unless the set may have grown.
    pub fn volatile_dbs(&mut self, dbs: &[Db]) -> Option<u64> {
        if dbs.len() > 64 {
            return None;
        }
        let now = Layout::of(dbs);
        let mut maybe =
            if self.volatile_seen == Some(now) { self.volatile } else { u64::MAX >> (64 - dbs.len().max(1)) };
        let mut set = 0;
        while maybe != 0 {
            let d = maybe.trailing_zeros() as usize;
            maybe &= maybe - 1;
            if dbs.get(d).is_some_and(|db| db.volatile_len() > 0) {
                set |= 1 << d;
            }
        }
        self.volatile = set;
        self.volatile_seen = Some(now);
        Some(set)
    }

    /// Must every database's clock be ticked with `params`? False when the last tick
    /// gave these settings to these same databases.
    pub fn tick_due(&mut self, dbs: &[Db], params: TickParams) -> bool {
        let now = (Layout::of(dbs), params);
        if self.ticked == Some(now) {
            return false;
        }
        self.ticked = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(now_secs: u64) -> TickParams {
        TickParams { now_secs, lfu: false, log_factor: 10, decay_time: 1, lazy_expire: false }
    }

    const FAR: u64 = u64::MAX / 2;

    #[test]
    fn the_set_follows_ttls_added_removed_and_swapped() {
        let mut w = DbWatch::default();
        let mut dbs: Vec<Db> = (0..16).map(|_| Db::new()).collect();
        assert_eq!(w.volatile_dbs(&dbs), Some(0));
        dbs[3].set_str(b"k", b"v", FAR);
        assert_eq!(w.volatile_dbs(&dbs), Some(1 << 3), "a first TTL is seen at once");
        dbs[5].set_str(b"k", b"v", FAR);
        assert_eq!(w.volatile_dbs(&dbs), Some(1 << 3 | 1 << 5));
        dbs[3].remove(b"k", 0);
        assert_eq!(w.volatile_dbs(&dbs), Some(1 << 5), "an emptied database leaves the set");
        dbs[3].set_str(b"k", b"v", FAR);
        assert_eq!(w.volatile_dbs(&dbs), Some(1 << 3 | 1 << 5), "and comes back with its next TTL");
        // SWAPDB moves databases without a new TTL: the caller says so.
        dbs.swap(5, 9);
        w.stale();
        assert_eq!(w.volatile_dbs(&dbs), Some(1 << 3 | 1 << 9));
        // Another vector (a load, a script's swap) is noticed without being told.
        let mut other: Vec<Db> = (0..16).map(|_| Db::new()).collect();
        other[7].set_str(b"k", b"v", FAR);
        std::mem::swap(&mut dbs, &mut other);
        assert_eq!(w.volatile_dbs(&dbs), Some(1 << 7));
    }

    #[test]
    fn more_than_64_databases_are_asked_one_by_one() {
        let dbs: Vec<Db> = (0..65).map(|_| Db::new()).collect();
        assert_eq!(DbWatch::default().volatile_dbs(&dbs), None);
    }

    #[test]
    fn a_tick_is_due_when_its_settings_or_the_databases_change() {
        let mut w = DbWatch::default();
        let mut dbs: Vec<Db> = (0..16).map(|_| Db::new()).collect();
        assert!(w.tick_due(&dbs, params(1)));
        assert!(!w.tick_due(&dbs, params(1)), "same second, same settings");
        assert!(w.tick_due(&dbs, params(2)), "the next second");
        assert!(!w.tick_due(&dbs, params(2)));
        assert!(w.tick_due(&dbs, TickParams { lfu: true, ..params(2) }), "a policy change");
        dbs[4] = Db::new();
        assert!(w.tick_due(&dbs, TickParams { lfu: true, ..params(2) }), "a new database");
        w.stale();
        assert!(w.tick_due(&dbs, TickParams { lfu: true, ..params(2) }), "after a cut or SWAPDB");
    }
}
