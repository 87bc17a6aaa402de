//! Client-side caching state of one thread (`cmd::tracking` has the commands and the
//! flow).
//!
//! Two sides, because a client and the keys it reads usually live on different shards:
//! - the *home* side: the tracking settings of this thread's own clients (mode,
//!   redirect, prefixes, the CLIENT CACHING flag for the next command);
//! - the *owner* side: for this shard's keys, which clients may hold them in a cache
//!   (client id and home shard), filled as they read and emptied by the first write,
//!   which invalidates them.
//!
//! As in Redis, the table is keyed by key name only (not by database), and a client
//! that turned tracking off or went away is dropped lazily: its home shard skips
//! invalidations for clients it no longer tracks.
//!
//! BCAST clients are not in the table: their prefixes are in `Shared::tracking`,
//! read by the shard of every written key while any exists.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The tracking settings of one client (CLIENT TRACKING ON ...).
#[derive(Clone, Debug, Default)]
pub struct ClientTracking {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// Invalidations go to this client (id, its shard) instead.
    pub redirect: Option<(u64, u16)>,
    pub prefixes: Vec<Vec<u8>>,
    /// CLIENT CACHING YES/NO, for the next command only.
    pub caching: Option<bool>,
}

/// One thread's tracking state.
#[derive(Default)]
pub struct Tracking {
    /// Home side: this thread's tracking clients.
    pub clients: HashMap<u64, ClientTracking>,
    /// Owner side: key -> clients that may cache it, as (client id, home shard).
    pub table: HashMap<Vec<u8>, Vec<(u64, u16)>>,
    /// Owner side: BCAST invalidations of this turn, by (client, home shard, prefix):
    /// the keys, each with the first client that changed it (NOLOOP). Sent at the end
    /// of the turn, one message per client and prefix, as Redis sends them before it
    /// sleeps (`cmd::tracking::flush_bcast`).
    pub bcast_pending: std::collections::BTreeMap<BcastTarget, Vec<(Vec<u8>, u64)>>,
}

/// A BCAST client (id, home shard) and one of its prefixes.
pub type BcastTarget = (u64, u16, Vec<u8>);

impl Tracking {
    /// Remembers that `client` (living on `home`) read `key`. Returns whether the key
    /// is new in the table and whether the client is new for it.
    pub fn remember(&mut self, key: &[u8], client: u64, home: u16) -> (bool, bool) {
        match self.table.get_mut(key) {
            Some(v) => {
                if v.iter().any(|&(c, _)| c == client) {
                    (false, false)
                } else {
                    v.push((client, home));
                    (false, true)
                }
            }
            None => {
                self.table.insert(key.to_vec(), vec![(client, home)]);
                (true, true)
            }
        }
    }

    /// The clients to invalidate for `key`, which leaves the table.
    pub fn take(&mut self, key: &[u8]) -> Option<Vec<(u64, u16)>> {
        if self.table.is_empty() { None } else { self.table.remove(key) }
    }
}

/// A BCAST client's prefix, in the server-wide list.
#[derive(Clone, Debug)]
pub struct BcastPrefix {
    pub prefix: Vec<u8>,
    pub client: u64,
    pub home: u16,
}

/// The server-wide part: counters for INFO, and the BCAST prefixes.
#[derive(Default)]
pub struct SharedTracking {
    /// Clients with tracking on (INFO `tracking_clients`).
    pub clients: AtomicUsize,
    /// Keys in all shards' tables, and (key, client) pairs (INFO `tracking_total_keys`,
    /// `tracking_total_items`).
    pub keys: AtomicUsize,
    pub items: AtomicUsize,
    /// Number of BCAST entries: writes read `bcast` only while it is not zero.
    pub bcast_len: AtomicUsize,
    pub bcast: RwLock<Vec<BcastPrefix>>,
}

impl SharedTracking {
    /// BCAST clients whose prefix `key` starts with, as (client, home shard).
    pub fn bcast_matches(&self, key: &[u8]) -> Vec<(u64, u16)> {
        let mut out: Vec<(u64, u16)> = self.bcast_prefix_matches(key).into_iter().map(|b| (b.client, b.home)).collect();
        out.dedup();
        out
    }

    /// The BCAST entries (client, home, prefix) whose prefix `key` starts with.
    pub fn bcast_prefix_matches(&self, key: &[u8]) -> Vec<BcastPrefix> {
        if self.bcast_len.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        let list = self.bcast.read().unwrap_or_else(|e| e.into_inner());
        list.iter().filter(|b| key.starts_with(&b.prefix)).cloned().collect()
    }

    pub fn add_bcast(&self, client: u64, home: u16, prefixes: &[Vec<u8>]) {
        let mut list = self.bcast.write().unwrap_or_else(|e| e.into_inner());
        if prefixes.is_empty() {
            list.push(BcastPrefix { prefix: Vec::new(), client, home });
        }
        for p in prefixes {
            list.push(BcastPrefix { prefix: p.clone(), client, home });
        }
        self.bcast_len.store(list.len(), Ordering::Relaxed);
    }

    pub fn remove_bcast(&self, client: u64) {
        let mut list = self.bcast.write().unwrap_or_else(|e| e.into_inner());
        list.retain(|b| b.client != client);
        self.bcast_len.store(list.len(), Ordering::Relaxed);
    }

    /// Distinct prefixes of all BCAST clients (INFO `tracking_total_prefixes`).
    pub fn prefixes(&self) -> usize {
        let list = self.bcast.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<&[u8]> = list.iter().map(|b| b.prefix.as_slice()).collect();
        all.sort();
        all.dedup();
        all.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_remembers_once_and_forgets_on_take() {
        let mut t = Tracking::default();
        assert_eq!(t.remember(b"k", 7, 1), (true, true));
        assert_eq!(t.remember(b"k", 7, 1), (false, false));
        assert_eq!(t.remember(b"k", 8, 0), (false, true));
        assert_eq!(t.take(b"k"), Some(vec![(7, 1), (8, 0)]));
        assert_eq!(t.take(b"k"), None);
    }

    #[test]
    fn bcast_prefixes_match_and_go() {
        let s = SharedTracking::default();
        assert!(s.bcast_matches(b"user:1").is_empty());
        s.add_bcast(5, 2, &[b"user:".to_vec(), b"obj".to_vec()]);
        s.add_bcast(6, 0, &[]);
        assert_eq!(s.bcast_matches(b"user:1"), vec![(5, 2), (6, 0)]);
        assert_eq!(s.bcast_matches(b"other"), vec![(6, 0)]);
        assert_eq!(s.prefixes(), 3);
        s.remove_bcast(6);
        assert!(s.bcast_matches(b"other").is_empty());
    }
}
