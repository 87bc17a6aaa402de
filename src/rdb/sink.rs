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
        if db.peek(&k.key).is_some() {
            return Err(format!("duplicate key '{}' in database {}", String::from_utf8_lossy(&k.key), k.db));
        }
        let now_secs = (self.now_ms / 1000) as u32;
        let access_secs = match k.idle_secs {
            Some(idle) => now_secs.saturating_sub(idle.min(u32::MAX as u64) as u32).max(1),
            None => now_secs,
        };
        db.set_entry(&k.key, Entry::with_meta(k.value, k.expire_at, access_secs));
        Ok(())
    }
}
