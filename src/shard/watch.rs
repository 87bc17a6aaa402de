//! Versions of WATCHed keys, for optimistic transactions.
//!
//! Only keys someone is watching are tracked: each has a version that every change
//! (a write command touching it, expiry, FLUSHDB, a cross-shard write-back) bumps.
//! WATCH records the version; EXEC, holding the keys' locks, compares it. Keys nobody
//! watches cost nothing beyond one `is_empty` check per write.

use std::collections::HashMap;

/// Marks a WATCH token taken while the key was already expired (not yet deleted).
const STALE: u64 = 1 << 63;

/// What a whole-database change (FLUSHDB, FLUSHALL, SWAPDB) did to one watched key,
/// as Redis 7.0's `touchAllWatchedKeysInDb` judges it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DbChange {
    /// Not there before or after.
    None,
    /// A live value went or came.
    Real,
    /// An already expired key went (or stays expired): no change for whoever watched
    /// it already expired; a change for whoever watched it live.
    ExpiredGone,
    /// A missing key was replaced with an already expired one: no change.
    ExpiredCame,
}

#[derive(Default)]
struct Watched {
    /// Bumped by every change.
    version: u64,
    /// Active watches.
    count: u32,
    /// The bumps that only removed an already expired key.
    expired_gone: u64,
    /// The version at which a missing key was replaced with an expired one (SWAPDB):
    /// its being expired is no change for watches taken before.
    expired_came_at: Option<u64>,
}

#[derive(Default)]
pub struct WatchTable {
    keys: HashMap<(u16, Vec<u8>), Watched>,
}

impl WatchTable {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Starts watching; returns the token EXEC checks with `unchanged`. `stale`: the
    /// key exists but already expired, so that its deletion is no change (Redis 7.0).
    pub fn watch(&mut self, db: u16, key: &[u8], stale: bool) -> u64 {
        let e = self.keys.entry((db, key.to_vec())).or_default();
        e.count += 1;
        if stale { STALE | (e.version - e.expired_gone) } else { e.version }
    }

    pub fn unwatch(&mut self, db: u16, key: &[u8]) {
        let k = (db, key.to_vec());
        if let Some(e) = self.keys.get_mut(&k) {
            e.count -= 1;
            if e.count == 0 {
                self.keys.remove(&k);
            }
        }
    }

    /// Whether the key a WATCH returned `token` for is logically unchanged, with
    /// `expired_now`: the key exists but is expired (a key that expired since a live
    /// WATCH is a change).
    pub fn unchanged(&self, db: u16, key: &[u8], token: u64, expired_now: bool) -> bool {
        let Some(e) = self.keys.get(&(db, key.to_vec())) else { return false };
        if token & STALE != 0 {
            // Watched already expired: only its removal may have happened since.
            return e.version - e.expired_gone == token & !STALE;
        }
        e.version == token && (!expired_now || e.expired_came_at == Some(e.version))
    }

    /// A watched key changed.
    pub fn touch(&mut self, db: u16, key: &[u8]) {
        if let Some(e) = self.keys.get_mut(&(db, key.to_vec())) {
            e.version += 1;
        }
    }

    /// A watched key that had already expired was removed.
    pub fn touch_expired(&mut self, db: u16, key: &[u8]) {
        if let Some(e) = self.keys.get_mut(&(db, key.to_vec())) {
            e.version += 1;
            e.expired_gone += 1;
        }
    }

    /// FLUSHDB, FLUSHALL and SWAPDB: what happened to each watched key of `db`.
    pub fn touch_db_where(&mut self, db: u16, change: impl Fn(&[u8]) -> DbChange) {
        for ((d, k), e) in self.keys.iter_mut() {
            if *d != db {
                continue;
            }
            match change(k) {
                DbChange::None => {}
                DbChange::Real => e.version += 1,
                DbChange::ExpiredGone => {
                    e.version += 1;
                    e.expired_gone += 1;
                }
                DbChange::ExpiredCame => e.expired_came_at = Some(e.version),
            }
        }
    }

    /// Every watched key of `db` changed; `None` = every db.
    pub fn touch_db(&mut self, db: Option<u16>) {
        for ((d, _), e) in self.keys.iter_mut() {
            if db.is_none_or(|x| x == *d) {
                e.version += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_move_only_for_watched_keys() {
        let mut w = WatchTable::default();
        w.touch(0, b"a");
        assert!(w.is_empty());
        let v = w.watch(0, b"a", false);
        w.touch(0, b"b");
        assert!(w.unchanged(0, b"a", v, false));
        assert!(!w.unchanged(0, b"a", v, true), "expired since a live WATCH");
        w.touch(0, b"a");
        assert!(!w.unchanged(0, b"a", v, false));
        let v = w.watch(0, b"a", false);
        w.touch_db(Some(1));
        assert!(w.unchanged(0, b"a", v, false));
        w.touch_db(None);
        assert!(!w.unchanged(0, b"a", v, false));
        w.unwatch(0, b"a");
        w.unwatch(0, b"a");
        assert!(w.is_empty());
    }

    #[test]
    fn removing_a_key_watched_already_expired_is_no_change() {
        let mut w = WatchTable::default();
        let stale = w.watch(0, b"x", true);
        let live = w.watch(0, b"x", false);
        w.touch_expired(0, b"x");
        assert!(w.unchanged(0, b"x", stale, false));
        assert!(!w.unchanged(0, b"x", live, false));
        w.touch(0, b"x");
        assert!(!w.unchanged(0, b"x", stale, false), "a write after the removal is a change");
        let missing = w.watch(0, b"y", false);
        w.touch_db_where(0, |k| if k == b"y" { DbChange::ExpiredCame } else { DbChange::None });
        assert!(w.unchanged(0, b"y", missing, true), "a missing key swapped in expired");
    }
}
