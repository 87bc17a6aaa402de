//! One logical database (`SELECT n`) of one shard.
//!
//! Keys live in an insertion-ordered hash map (`IndexMap`). Its dense entry vector gives
//! us three things Redis needs and a plain hash map does not:
//! - O(1) uniform random keys (RANDOMKEY, active expiry sampling, eviction sampling);
//! - a SCAN cursor that is an index: removal swaps the *last* entry into the hole, so an
//!   entry only ever moves to a lower index. Scanning from the top down therefore visits
//!   every key that stays present for the whole iteration (a moved key may be returned
//!   twice, which SCAN allows);
//! - cheap iteration for KEYS, FLUSHDB and the persistence encoders.
//!
//! Keys with a TTL are also kept in `volatile`, a second index set (short keys are
//! copied, long ones share the `Rc` allocation), so active expiry samples only keys that
//! can expire.

use super::value::Value;
use indexmap::{IndexMap, IndexSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set while this server is a replica: lookups answer an expired key as absent but
/// leave it in place for the master's DEL, as Redis's replicas do (the replica side,
/// `repl::replica`, flips it; only read on the cold path where a key has expired).
pub static KEEP_EXPIRED: AtomicBool = AtomicBool::new(false);

/// Longest key stored inline in the map's entry (no allocation of its own).
const INLINE_KEY: usize = 22;

/// A key. Short keys (up to 22 bytes, which covers most real key names) live inline in
/// the map entry, so a lookup compares the bytes it already loaded with the entry
/// instead of following a pointer to a separate allocation: one cache miss fewer per
/// command on a large keyspace. Longer keys are a shared `Rc`, so the main map and the
/// volatile set still share one copy.
#[derive(Clone)]
pub struct Key(KeyRepr);

#[derive(Clone)]
enum KeyRepr {
    Inline { len: u8, buf: [u8; INLINE_KEY] },
    Heap(Rc<[u8]>),
}

impl Key {
    #[inline]
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE_KEY {
            let mut buf = [0u8; INLINE_KEY];
            buf[..bytes.len()].copy_from_slice(bytes);
            Key(KeyRepr::Inline { len: bytes.len() as u8, buf })
        } else {
            Key(KeyRepr::Heap(Rc::from(bytes)))
        }
    }

    /// Bytes this key costs outside the map entry (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            KeyRepr::Inline { .. } => 0,
            KeyRepr::Heap(r) => 2 * std::mem::size_of::<usize>() + r.len(),
        }
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            KeyRepr::Inline { len, buf } => &buf[..*len as usize],
            KeyRepr::Heap(r) => r,
        }
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Key) -> bool {
        **self == **other
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    /// Must hash exactly as `[u8]` does: lookups pass a borrowed `&[u8]`.
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Key {
        Key::new(b)
    }
}

type Hasher = foldhash::fast::RandomState;

/// A key's value with its metadata.
#[derive(Clone, Debug)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix ms; 0 means no TTL.
    pub expire_at: u64,
    /// Last access: the shard clock in seconds (OBJECT IDLETIME, LRU eviction), or
    /// under an LFU policy the LFU time and counter (see `storage::evict`).
    pub access_secs: u32,
}

impl Entry {
    pub fn new(value: Value) -> Entry {
        Entry { value, expire_at: 0, access_secs: 0 }
    }
}

pub struct Db {
    map: IndexMap<Key, Entry, Hasher>,
    volatile: IndexSet<Key, Hasher>,
    /// Keys removed because their TTL passed, in order, since the caller last drained
    /// them. The shard turns these into DEL propagation, `expired_keys` stats and `expired`
    /// keyspace events.
    pub expired: Vec<Key>,
    /// While set, keys this database did not hold and now does are appended to
    /// `created`. The shard turns them into `new` keyspace events; it switches this on
    /// only around a command, and only when those events are wanted, so the hot path
    /// pays one predictable branch per insert.
    pub track_created: bool,
    pub created: Vec<Key>,
    /// Writes the access field of created and touched entries (LRU or LFU); the
    /// shard moves it forward every turn.
    pub access: super::evict::AccessClock,
    rng: crate::util::rng::XorShift,
}

impl Default for Db {
    fn default() -> Self {
        Db::new()
    }
}

/// What a SCAN step returns: the next cursor (0 when done) and the keys visited.
pub struct ScanStep {
    pub next: u64,
    pub keys: Vec<Key>,
}

impl Db {
    pub fn new() -> Db {
        Db {
            map: IndexMap::with_hasher(Hasher::default()),
            volatile: IndexSet::with_hasher(Hasher::default()),
            expired: Vec::new(),
            track_created: false,
            created: Vec::new(),
            access: Default::default(),
            rng: crate::util::rng::XorShift::new(0),
        }
    }

    /// Room for `keys` more keys, `volatile` of them with a TTL, without rehashing
    /// (a snapshot's RESIZEDB announces its size before its keys).
    pub fn reserve(&mut self, keys: usize, volatile: usize) {
        self.map.reserve(keys);
        self.volatile.reserve(volatile);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with a TTL (INFO keyspace `expires=`).
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    fn is_expired(e: &Entry, now_ms: u64) -> bool {
        e.expire_at != 0 && e.expire_at <= now_ms
    }

    /// Deletes `key` if its TTL has passed. Returns true if it was deleted.
    fn expire_if_needed(&mut self, key: &[u8], now_ms: u64) -> bool {
        match self.map.get_full(key) {
            Some((idx, _, e)) if Self::is_expired(e, now_ms) => {
                let (k, _) = self.map.swap_remove_index(idx).expect("index from get_full");
                self.volatile.swap_remove(&*k);
                self.expired.push(k);
                true
            }
            _ => false,
        }
    }

    /// The live entry for `key`, deleting it first if expired, recorded as accessed
    /// (LRU/LFU: Redis's lookups touch unless asked not to). One hash lookup on the
    /// common path (GET is the most frequent command there is).
    #[inline]
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.get_touch(key, now_ms).map(|e| &*e)
    }

    /// Mutable access to a live entry, recorded as accessed.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        self.get_touch(key, now_ms)
    }

    /// The live entry for `key` without recording an access (Redis's
    /// `LOOKUP_NOTOUCH`: OBJECT, TYPE-like introspection).
    pub fn get_notouch(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        let idx = self.live_index(key, now_ms)?;
        Some(&self.map[idx])
    }

    /// Index of `key`'s live entry; an expired one is deleted on the way.
    #[inline]
    fn live_index(&mut self, key: &[u8], now_ms: u64) -> Option<usize> {
        let (idx, _, e) = self.map.get_full(key)?;
        if !Self::is_expired(e, now_ms) {
            return Some(idx);
        }
        if KEEP_EXPIRED.load(Ordering::Relaxed) {
            return None;
        }
        let (k, _) = self.map.swap_remove_index(idx).expect("index from get_full");
        self.volatile.swap_remove(&*k);
        self.expired.push(k);
        None
    }

    /// The live entry for `key`, recorded as accessed now (OBJECT IDLETIME, LRU/LFU
    /// eviction): what Redis's lookups without `LOOKUP_NOTOUCH` do. Writes the field
    /// only when it changes, so repeated reads do not dirty the entry.
    #[inline]
    pub fn get_touch(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        let idx = self.live_index(key, now_ms)?;
        let e = &mut self.map[idx];
        let access = self.access.touch(e.access_secs);
        if e.access_secs != access {
            e.access_secs = access;
        }
        Some(e)
    }

    /// Estimated bytes `key` costs, for MEMORY USAGE: the key allocation (with its
    /// reference counts), the map slot (hash, key handle, entry, index), the volatile
    /// set slot when the key has a TTL, and the value's heap. Expired-but-present keys
    /// are measured too, as Redis's `dictFind` there does not expire.
    pub fn memory_usage(&self, key: &[u8]) -> Option<usize> {
        use std::mem::size_of;
        let (k, e) = self.map.get_key_value(key)?;
        let key_alloc = k.heap_bytes();
        let slot = size_of::<u64>() + size_of::<Key>() + size_of::<Entry>() + size_of::<usize>();
        let volatile = if e.expire_at != 0 { size_of::<u64>() + size_of::<Key>() + size_of::<usize>() } else { 0 };
        Some(key_alloc + slot + volatile + e.value.heap_bytes())
    }

    /// Reads without expiring or touching anything (DEBUG, persistence, tests).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    pub fn contains(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.get_notouch(key, now_ms).is_some()
    }

    /// Stores `value` under `key` with the given expiry (0 = none), replacing any old
    /// value and TTL. Returns the old entry.
    #[inline]
    pub fn set(&mut self, key: &[u8], value: Value, expire_at: u64) -> Option<Entry> {
        // Redis: a new object starts its LRU now; under LFU an overwrite keeps the old
        // counter, bumped by the write's own lookup.
        let old = if self.access.lfu { self.map.get(key).map(|e| e.access_secs) } else { None };
        let access = match old {
            Some(old) => self.access.touch(old),
            None => self.access.fresh(),
        };
        self.set_entry(key, Entry { value, expire_at, access_secs: access })
    }

    /// Stores a whole entry (value, expiry and access time) under `key`, replacing any
    /// old one. RENAME and MOVE use it so a moved value keeps its metadata.
    pub fn set_entry(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        let expire_at = entry.expire_at;
        match self.map.get_full_mut(key) {
            Some((_, k, slot)) => {
                let k = k.clone();
                let old = std::mem::replace(slot, entry);
                self.sync_volatile(k, old.expire_at != 0, expire_at != 0);
                Some(old)
            }
            None => {
                let k = Key::new(key);
                if expire_at != 0 {
                    self.volatile.insert(k.clone());
                }
                if self.track_created {
                    self.created.push(k.clone());
                }
                self.map.insert(k, entry);
                None
            }
        }
    }

    /// Inserts a fresh entry for `key` (which must not be live) and returns it.
    pub fn insert_new(&mut self, key: &[u8], value: Value) -> &mut Entry {
        let k = Key::new(key);
        if self.track_created {
            self.created.push(k.clone());
        }
        let access_secs = self.access.fresh();
        let (idx, _) = self.map.insert_full(k, Entry { value, expire_at: 0, access_secs });
        &mut self.map[idx]
    }

    fn sync_volatile(&mut self, key: Key, had_ttl: bool, has_ttl: bool) {
        match (had_ttl, has_ttl) {
            (false, true) => {
                self.volatile.insert(key);
            }
            (true, false) => {
                self.volatile.swap_remove(&*key);
            }
            _ => {}
        }
    }

    /// Sets (or clears, with 0) the TTL of a live key. Returns false if the key is absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64, now_ms: u64) -> bool {
        self.expire_if_needed(key, now_ms);
        let Some((_, k, e)) = self.map.get_full_mut(key) else { return false };
        let had = e.expire_at != 0;
        e.expire_at = expire_at;
        let k = k.clone();
        self.sync_volatile(k, had, expire_at != 0);
        true
    }

    /// Removes a key, live or not. Returns the entry if it was live.
    pub fn remove(&mut self, key: &[u8], now_ms: u64) -> Option<Entry> {
        if self.expire_if_needed(key, now_ms) {
            return None;
        }
        let (k, e) = self.map.swap_remove_entry(key)?;
        if e.expire_at != 0 {
            self.volatile.swap_remove(&*k);
        }
        Some(e)
    }

    pub fn clear(&mut self) {
        self.map = IndexMap::with_hasher(Hasher::default());
        self.volatile = IndexSet::with_hasher(Hasher::default());
    }

    /// Takes every entry out, leaving the db empty (start-up hands loaded keys from
    /// the loading thread to their shard's thread this way).
    pub fn drain(&mut self) -> impl Iterator<Item = (Key, Entry)> {
        self.volatile = IndexSet::with_hasher(Hasher::default());
        std::mem::replace(&mut self.map, IndexMap::with_hasher(Hasher::default())).into_iter()
    }

    /// Iterates every entry, expired ones included (callers filter with `now`).
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.iter()
    }

    /// Live keys matching `pred`, for KEYS.
    pub fn live_keys(&self, now_ms: u64) -> impl Iterator<Item = &Key> {
        self.map.iter().filter(move |(_, e)| !Self::is_expired(e, now_ms)).map(|(k, _)| k)
    }

    fn next_random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A uniformly random entry (live or not) of the whole keyspace, or of the keys
    /// with a TTL when `volatile`: eviction sampling (`shard::evict`).
    pub fn random_entry(&mut self, volatile: bool) -> Option<(&Key, &Entry)> {
        if volatile {
            if self.volatile.is_empty() {
                return None;
            }
            let idx = (self.next_random() % self.volatile.len() as u64) as usize;
            let k = self.volatile.get_index(idx)?;
            self.map.get_key_value(&**k)
        } else {
            if self.map.is_empty() {
                return None;
            }
            let idx = (self.next_random() % self.map.len() as u64) as usize;
            self.map.get_index(idx)
        }
    }

    /// A random live key, or None if the database is empty. Expired keys met on the way
    /// are deleted, as Redis's dictGetRandomKey loop does.
    pub fn random_key(&mut self, now_ms: u64) -> Option<Key> {
        for _ in 0..100 {
            if self.map.is_empty() {
                return None;
            }
            let idx = (self.next_random() % self.map.len() as u64) as usize;
            let (k, e) = self.map.get_index(idx).expect("index in range");
            if !Self::is_expired(e, now_ms) {
                return Some(k.clone());
            }
            let k = k.clone();
            self.expire_if_needed(&k, now_ms);
        }
        // A database full of expired keys: fall back to returning one of them, as Redis
        // does after too many tries, rather than looping forever.
        self.map.get_index(0).map(|(k, _)| k.clone())
    }

    /// One SCAN step over at most `count` slots, starting from `cursor` (0 = start).
    ///
    /// Cursor meaning: `c` > 0 means "positions `c-1` and below remain". Walking down is
    /// what makes the guarantee hold (see the module doc).
    pub fn scan(&mut self, cursor: u64, count: usize, now_ms: u64) -> ScanStep {
        let mut pos = if cursor == 0 { self.map.len() } else { (cursor as usize).min(self.map.len()) };
        let mut keys = Vec::with_capacity(count.min(pos));
        let mut visited = 0;
        while pos > 0 && visited < count.max(1) {
            pos -= 1;
            visited += 1;
            let (k, e) = self.map.get_index(pos).expect("index in range");
            if !Self::is_expired(e, now_ms) {
                keys.push(k.clone());
            }
        }
        ScanStep { next: pos as u64, keys }
    }

    /// One active-expiry pass as in Redis's activeExpireCycle: sample up to `sample`
    /// volatile keys, delete the expired ones, and go again while more than a quarter of
    /// a sample was expired and `keep_going` allows. Returns the number deleted.
    pub fn active_expire(&mut self, now_ms: u64, sample: usize, mut keep_going: impl FnMut() -> bool) -> usize {
        let mut total = 0;
        loop {
            if self.volatile.is_empty() {
                return total;
            }
            let n = sample.min(self.volatile.len());
            let mut expired_now = 0;
            for _ in 0..n {
                if self.volatile.is_empty() {
                    break;
                }
                let idx = (self.next_random() % self.volatile.len() as u64) as usize;
                let k = self.volatile.get_index(idx).expect("index in range").clone();
                if self.expire_if_needed(&k, now_ms) {
                    expired_now += 1;
                }
            }
            total += expired_now;
            if expired_now * 4 <= n || !keep_going() {
                return total;
            }
        }
    }

    /// Updates the access time of a key (OBJECT IDLETIME).
    pub fn touch(&mut self, key: &[u8], now_secs: u32) {
        if let Some(e) = self.map.get_mut(key) {
            e.access_secs = now_secs;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.as_bytes().to_vec())
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

    #[test]
    fn lazy_expiry_records_expired_keys() {
        let mut db = Db::new();
        db.set(b"k", s("v"), 100);
        assert_eq!(db.volatile_len(), 1);
        assert!(db.get(b"k", 99).is_some());
        assert!(db.get(b"k", 100).is_none());
        assert_eq!(db.volatile_len(), 0);
        assert_eq!(db.expired.len(), 1);
        assert_eq!(&*db.expired[0], b"k");
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
        assert!(db.iter().all(|(_, e)| e.expire_at == 0));
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
}
