//! A ready-made [`Sink`] that puts loaded keys into per-shard databases, for the
//! startup loader: `route(key)` names the shard that owns a key (the server passes its
//! hash-slot function; this module does not know about shards).
//!
//! Refuses a key that is already present in its database, as Redis does ("duplicate
//! key"), since that means a corrupt or concatenated file. Converts the IDLE opcode
//! back into an access time, so OBJECT IDLETIME survives a restart.

use super::decode::{LoadedKey, Sink};
use crate::storage::{Db, Entry};

pub struct DbSink<'a, F> {
    /// `shards[s][db]`: every shard must have at least `LoadOptions::databases` dbs.
    pub shards: &'a mut [Vec<Db>],
    pub route: F,
    /// Current unix time in ms, for idle times.
    pub now_ms: u64,
}

impl<F: FnMut(&[u8]) -> usize> Sink for DbSink<'_, F> {
    fn key(&mut self, k: LoadedKey) -> Result<(), String> {
        let shard = (self.route)(&k.key);
        let db = self
            .shards
            .get_mut(shard)
            .and_then(|s| s.get_mut(k.db as usize))
            .ok_or_else(|| format!("no database {} on shard {shard}", k.db))?;
        let now_secs = (self.now_ms / 1000) as u32;
        let access_secs = match k.idle_secs {
            Some(idle) => now_secs.saturating_sub(idle.min(u32::MAX as u64) as u32).max(1),
            None => now_secs,
        };
        // One lookup: a key that was already there is found by the insert itself (the
        // half-loaded databases are dropped on the error anyway).
        if db.set_entry(&k.key, Entry::with_meta(k.value, k.expire_at, access_secs)).is_some() {
            return Err(format!("duplicate key '{}' in database {}", String::from_utf8_lossy(&k.key), k.db));
        }
        Ok(())
    }

    /// RESIZEDB: presize each shard's share of the database (keys hash evenly over the
    /// shards), so a large load neither rehashes nor copies its tables as they grow.
    /// Bounded, as the count comes from the file: past the bound tables grow as usual.
    fn resize_db(&mut self, db: u32, keys: u64, expires: u64) {
        let n = self.shards.len().max(1) as u64;
        let share = |total: u64| (total / n + total / n / 64 + 64).min(PRESIZE_KEYS_MAX) as usize;
        for shard in self.shards.iter_mut() {
            if let Some(d) = shard.get_mut(db as usize) {
                d.reserve(share(keys), share(expires));
            }
        }
    }
}

/// Most keys a shard's database is presized for from a RESIZEDB count (a corrupt
/// count must not allocate gigabytes up front).
const PRESIZE_KEYS_MAX: u64 = 1 << 24;
