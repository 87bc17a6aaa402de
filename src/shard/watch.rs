//! Versions of WATCHed keys, for optimistic transactions.
//!
//! Only keys someone is watching are tracked: each has a version that every change
//! (a write command touching it, expiry, FLUSHDB, a cross-shard write-back) bumps.
//! WATCH records the version; EXEC, holding the keys' locks, compares it. Keys nobody
//! watches cost nothing beyond one `is_empty` check per write.

use std::collections::HashMap;

#[derive(Default)]
pub struct WatchTable {
    /// (db, key) -> (version, number of active watches)
    keys: HashMap<(u16, Vec<u8>), (u64, u32)>,
}

impl WatchTable {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Starts watching; returns the current version.
    pub fn watch(&mut self, db: u16, key: &[u8]) -> u64 {
        let e = self.keys.entry((db, key.to_vec())).or_insert((0, 0));
        e.1 += 1;
        e.0
    }

    pub fn unwatch(&mut self, db: u16, key: &[u8]) {
        let k = (db, key.to_vec());
        if let Some(e) = self.keys.get_mut(&k) {
            e.1 -= 1;
            if e.1 == 0 {
                self.keys.remove(&k);
            }
        }
    }

    pub fn version(&self, db: u16, key: &[u8]) -> Option<u64> {
        self.keys.get(&(db, key.to_vec())).map(|e| e.0)
    }

    /// A watched key changed.
    pub fn touch(&mut self, db: u16, key: &[u8]) {
        if let Some(e) = self.keys.get_mut(&(db, key.to_vec())) {
            e.0 += 1;
        }
    }

    /// The watched keys of `db` for which `changed` holds changed: FLUSHDB, FLUSHALL
    /// and SWAPDB touch only keys that existed (or, for SWAPDB, come in), as Redis's
    /// `touchAllWatchedKeysInDb` does.
    pub fn touch_db_where(&mut self, db: u16, changed: impl Fn(&[u8]) -> bool) {
        for ((d, k), e) in self.keys.iter_mut() {
            if *d == db && changed(k) {
                e.0 += 1;
            }
        }
    }

    /// Every watched key of `db` changed (FLUSHDB, SWAPDB); `None` = every db.
    pub fn touch_db(&mut self, db: Option<u16>) {
        for ((d, _), e) in self.keys.iter_mut() {
            if db.is_none_or(|x| x == *d) {
                e.0 += 1;
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
        let v = w.watch(0, b"a");
        w.touch(0, b"b");
        assert_eq!(w.version(0, b"a"), Some(v));
        w.touch(0, b"a");
        assert_eq!(w.version(0, b"a"), Some(v + 1));
        w.touch_db(Some(1));
        assert_eq!(w.version(0, b"a"), Some(v + 1));
        w.touch_db(None);
        assert_eq!(w.version(0, b"a"), Some(v + 2));
        w.unwatch(0, b"a");
        assert!(w.is_empty());
    }
}
