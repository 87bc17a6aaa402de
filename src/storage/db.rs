//! One logical database (`SELECT n`) of one shard.
//!
//! Keys live in a [`Table`]: one 56-byte slot per key (key, value and access time
//! inline, and a has-a-TTL flag) in a dense array, found through a compact hash index. The dense array
//! gives us three things Redis needs and a plain hash map does not:
//! - O(1) uniform random keys (RANDOMKEY, active expiry sampling, eviction sampling);
//! - a SCAN cursor that is a slot number: removal swaps the *last* slot into the hole,
//!   so an entry only ever moves to a lower slot. Scanning from the top down therefore
//!   visits every key that stays present for the whole iteration (a moved key may be
//!   returned twice, which SCAN allows);
//! - cheap iteration for KEYS, FLUSHDB and the persistence encoders.
//!
//! Deadlines live beside the table: `deadlines` holds each key's deadline (unix ms)
//! by slot number, read only when the slot's flag says there is one, so a lookup
//! reaches it by indexing (and the lookahead can prefetch it) instead of a second
//! hash lookup; `volatile` is the set of slot numbers with a TTL, as Redis's
//! `expires` dict, which active expiry and the `volatile-*` policies sample. A
//! database that never had a TTL allocates neither; one that has keys with TTLs pays 8
//! bytes per slot up to its highest slot with a TTL. Both are kept right when a slot
//! moves. Readers get
//! the deadline from `Db` (`peek_with_expire`, `get_with_expire`, `iter_with_expire`),
//! never from the slot.

use super::strbuf::StrBuf;
use super::table::{Entry, KeyRef, Slot, Table, Warm};
use super::value::Value;
use indexmap::IndexSet;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set while this server is a replica: lookups answer an expired key as absent but
/// leave it in place for the master's DEL, as Redis's replicas do (the replica side,
/// `repl::replica`, flips it; only read on the cold path where a key has expired).
pub static KEEP_EXPIRED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set by the shard at the start of each turn while clients are paused (CLIENT
    /// PAUSE WRITE or ALL, FAILOVER's and SHUTDOWN's pauses): as on a replica, an
    /// expired key answers as absent but stays until the pause ends, so the dataset
    /// stays still and nothing is propagated (Redis 7.0's `expireIfNeeded` asks
    /// `checkClientPauseTimeoutAndReturnIfPaused`). Per thread, since each shard
    /// reads the pause itself.
    static EXPIRY_PAUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };

    /// Set when a `Db` of this thread records an expired key in its `expired` list, so
    /// the shard can learn whether any of its databases has one with one flag after
    /// each command instead of a pass over all sixteen (a cache line each).
    static EXPIRED_RECORDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a `Db` of this thread may have recorded expired keys since the last
/// [`clear_expired_recorded`] (false: every `expired` list of this thread is empty).
#[inline]
pub fn expired_recorded() -> bool {
    EXPIRED_RECORDED.get()
}

/// Called by whoever is about to empty every `expired` list of this thread's databases.
#[inline]
pub fn clear_expired_recorded() {
    EXPIRED_RECORDED.set(false);
}

/// Longest key a `Key` holds without an allocation.
const INLINE_KEY: usize = 22;

/// An owned key outside the table: the keys SCAN, RANDOMKEY and the expiry and
/// creation logs hand out. Short keys (up to 22 bytes) need no allocation. (Inside the
/// table keys are stored more tightly, see `table::KeyBytes`.)
#[derive(Clone)]
pub struct Key(KeyRepr);

#[derive(Clone)]
enum KeyRepr {
    Inline { len: u8, buf: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl Key {
    #[inline]
    pub fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE_KEY {
            let mut buf = [0u8; INLINE_KEY];
            buf[..bytes.len()].copy_from_slice(bytes);
            Key(KeyRepr::Inline { len: bytes.len() as u8, buf })
        } else {
            Key(KeyRepr::Heap(Box::from(bytes)))
        }
    }

    /// Bytes this key costs outside the map entry (MEMORY USAGE).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            KeyRepr::Inline { .. } => 0,
            KeyRepr::Heap(r) => r.len(),
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

/// Holds (or lets go) this thread's lazy expiry while clients are paused
/// ([`EXPIRY_PAUSED`]).
pub fn set_expiry_paused(paused: bool) {
    EXPIRY_PAUSED.set(paused);
}

/// Whether this thread's shard saw clients paused at the start of its turn.
#[inline]
pub fn expiry_paused() -> bool {
    EXPIRY_PAUSED.get()
}

/// Whether lookups must leave expired keys in place: on a replica, or while clients
/// are paused. Read only on the cold path where a key has expired.
#[inline]
pub fn keeps_expired() -> bool {
    KEEP_EXPIRED.load(Ordering::Relaxed) || EXPIRY_PAUSED.get()
}

/// Whether a key with expiry `expire_at` (unix ms, 0 = none) has expired at `now_ms`.
/// Redis's rule (`keyIsExpired`: `now > when`): a key still exists during the very
/// millisecond it expires at, and PTTL answers 0 then. Every "is it gone yet" test
/// (lookups, active expiry, persistence, replicas, WATCH) goes through here. Setting
/// a deadline that is already reached (EXPIRE, SET PX, RESTORE) is a different rule,
/// Redis's `checkAlreadyExpired` (`when <= now`), applied by those commands.
#[inline]
pub fn has_expired(expire_at: u64, now_ms: u64) -> bool {
    expire_at != 0 && now_ms > expire_at
}

/// Below this many keys a database stays in the caches: warming keys ahead of their
/// lookups ([`Db::warm`]) would only cost.
pub const WARM_MIN_KEYS: usize = 16 << 10;

/// Most samples [`Db::sample_into`] draws at once (`maxmemory-samples` is clamped to it).
pub const MAX_SAMPLES: usize = 64;

/// One eviction sample: a slot drawn at random, with what its score needs.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub slot: u32,
    /// The slot's access field (LRU seconds or LFU counter, `storage::evict`).
    pub access_secs: u32,
    /// The key's deadline when drawn among the keys with a TTL (`volatile`), else 0.
    pub expire_at: u64,
}

pub struct Db {
    table: Table,
    /// Slot numbers of the keys with a TTL; sampled by active expiry and the
    /// `volatile-*` eviction policies.
    volatile: IndexSet<u32, Hasher>,
    /// Deadline (unix ms) by slot number, meaningful only for slots flagged as having
    /// a TTL (others hold stale values); no longer than one past the highest slot
    /// that had a TTL, and empty until the first.
    deadlines: Vec<u64>,
    /// Keys removed because their TTL passed, in order, since the caller last drained
    /// them. The shard turns these into DEL propagation, `expired_keys` stats and `expired`
    /// keyspace events. Whoever empties the lists calls [`clear_expired_recorded`]
    /// (the flag that tells the shard any list may be non-empty).
    pub expired: Vec<Key>,
    /// `lazyfree-lazy-expire`: while set, the values of expired keys are not dropped
    /// here but handed to the shard in `expired_values` (which frees the big ones in
    /// slices, `shard::lazyfree`). The shard sets it from the config every turn.
    pub lazy_expire: bool,
    pub expired_values: Vec<Value>,
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
    /// Positions the next eviction sampling will read (`sample_into`).
    sample_ahead: SampleAhead,
}

/// Positions drawn (and prefetched) for the next [`Db::sample_into`].
#[derive(Default)]
struct SampleAhead {
    volatile: bool,
    positions: Vec<u32>,
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
        // A new database's access clock is not ticked yet (`shard::dbwatch`).
        super::epoch::bump();
        Db {
            table: Table::new(),
            volatile: IndexSet::with_hasher(Hasher::default()),
            deadlines: Vec::new(),
            expired: Vec::new(),
            lazy_expire: false,
            expired_values: Vec::new(),
            track_created: false,
            created: Vec::new(),
            access: Default::default(),
            rng: crate::util::rng::XorShift::new(0),
            sample_ahead: SampleAhead::default(),
        }
    }

    /// Room for `keys` more keys, `volatile` of them with a TTL, without rehashing
    /// (a snapshot's RESIZEDB announces its size before its keys).
    pub fn reserve(&mut self, keys: usize, volatile: usize) {
        self.table.reserve(keys);
        self.volatile.reserve(volatile);
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Number of keys with a TTL (INFO keyspace `expires=`).
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Deadline of the key in slot `i` (0: no TTL). Reads `deadlines` only for a
    /// flagged slot.
    #[inline]
    fn slot_expire(&self, i: usize) -> u64 {
        if !self.table.at(i).has_ttl() {
            return 0;
        }
        debug_assert!(self.volatile.contains(&(i as u32)), "slot {i} is flagged but not volatile");
        self.deadlines.get(i).copied().unwrap_or(0)
    }

    /// Writes slot `i`'s deadline, growing `deadlines` (amortized) to reach it.
    #[inline]
    fn put_deadline(&mut self, i: usize, expire_at: u64) {
        if i >= self.deadlines.len() {
            self.deadlines.resize(i + 1, 0);
        }
        self.deadlines[i] = expire_at;
    }

    #[inline]
    fn slot_expired(&self, i: usize, now_ms: u64) -> bool {
        has_expired(self.slot_expire(i), now_ms)
    }

    /// Records slot `i`'s deadline and adds it to the volatile set. The first key with a
    /// TTL moves the thread's `epoch`, so the shard's active expiry visits this
    /// database again.
    #[inline]
    fn add_volatile(&mut self, i: u32, expire_at: u64) {
        if self.volatile.is_empty() {
            super::epoch::bump();
        }
        self.volatile.insert(i);
        self.put_deadline(i as usize, expire_at);
    }

    /// Gives slot `i` the deadline `expire_at` (0 = none): its flag and the side map.
    fn set_slot_expire(&mut self, i: usize, expire_at: u64) {
        let s = self.table.at_mut(i);
        if expire_at == 0 {
            if s.has_ttl() {
                s.set_ttl_flag(false);
                self.volatile.swap_remove(&(i as u32));
            }
        } else if s.has_ttl() {
            // Already in the volatile set: only the deadline changes.
            self.put_deadline(i, expire_at);
        } else {
            s.set_ttl_flag(true);
            self.add_volatile(i as u32, expire_at);
        }
    }

    /// Removes slot `i` (key hash `h`), keeping `volatile` in step with the slot that
    /// moves into the hole.
    fn remove_slot(&mut self, i: usize, h: u64) -> Entry {
        let (s, moved_from) = self.table.swap_remove(i, h);
        let expire_at = if s.has_ttl() {
            self.volatile.swap_remove(&(i as u32));
            self.deadlines.get(i).copied().unwrap_or(0)
        } else {
            0
        };
        if let Some(from) = moved_from
            && self.table.at(i).has_ttl()
            && self.volatile.swap_remove(&(from as u32))
        {
            let at = self.deadlines.get(from).copied().unwrap_or(0);
            self.add_volatile(i as u32, at);
        }
        s.into_entry(expire_at)
    }

    /// Deletes slot `i` as expired, recording its key (and keeping its value for the
    /// shard to free under `lazy_expire`).
    fn expire_slot(&mut self, i: usize, h: u64) {
        let e = self.remove_slot(i, h);
        self.expired.push(Key::new(&e.key()));
        EXPIRED_RECORDED.set(true);
        if self.lazy_expire {
            self.expired_values.push(e.value);
        }
    }

    /// The live entry for `key`, deleting it first if expired, recorded as accessed
    /// (LRU/LFU: Redis's lookups touch unless asked not to). One hash lookup on the
    /// common path (GET is the most frequent command there is).
    #[inline]
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Slot> {
        self.get_touch(key, now_ms).map(|e| &*e)
    }

    /// Mutable access to a live entry, recorded as accessed.
    #[inline]
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Slot> {
        self.get_touch(key, now_ms)
    }

    /// `key`'s entry and deadline whether or not it has expired, without recording an
    /// access: a cross-shard gather hands a key over as it is, and the command's run
    /// decides whether it reads (and so expires) it, as Redis expires only what a
    /// command looks up.
    pub fn get_as_is(&mut self, key: &[u8]) -> Option<(&mut Slot, u64)> {
        let i = self.table.find(self.table.hash(key), key)?;
        let at = self.slot_expire(i);
        Some((self.table.at_mut(i), at))
    }

    /// Deletes `key` as expired whatever the clock says (recorded like a lazy expiry):
    /// a command that ran elsewhere on the key's value judged it expired.
    pub fn expire_now(&mut self, key: &[u8]) -> bool {
        let h = self.table.hash(key);
        let Some(i) = self.table.find(h, key) else { return false };
        self.expire_slot(i, h);
        true
    }

    /// The live entry for `key` without recording an access (Redis's
    /// `LOOKUP_NOTOUCH`: OBJECT, TYPE-like introspection).
    pub fn get_notouch(&mut self, key: &[u8], now_ms: u64) -> Option<&Slot> {
        let idx = self.live_index(key, now_ms)?;
        Some(self.table.at(idx))
    }

    /// As [`Db::get_notouch`], with the key's deadline (0 = none): TTL, PTTL,
    /// EXPIRETIME.
    pub fn get_notouch_with_expire(&mut self, key: &[u8], now_ms: u64) -> Option<(&Slot, u64)> {
        let idx = self.live_index(key, now_ms)?;
        Some((self.table.at(idx), self.slot_expire(idx)))
    }

    /// A copy of `key`'s live entry with its deadline, recorded as accessed
    /// (cross-shard commands gather copies).
    pub fn get_entry(&mut self, key: &[u8], now_ms: u64) -> Option<Entry> {
        self.get_with_expire(key, now_ms).map(|(s, at)| Entry::of_slot(s, at))
    }

    /// As [`Db::get_touch`], with the key's deadline (0 = none).
    pub fn get_with_expire(&mut self, key: &[u8], now_ms: u64) -> Option<(&mut Slot, u64)> {
        let idx = self.live_index(key, now_ms)?;
        let at = self.slot_expire(idx);
        Some((self.touch_slot(idx), at))
    }

    /// Slot of `key`'s live entry; an expired one is deleted on the way.
    #[inline]
    fn live_index(&mut self, key: &[u8], now_ms: u64) -> Option<usize> {
        let h = self.table.hash(key);
        let i = self.table.find(h, key)?;
        if !self.slot_expired(i, now_ms) {
            return Some(i);
        }
        if keeps_expired() {
            return None;
        }
        self.expire_slot(i, h);
        None
    }

    /// The live entry for `key`, recorded as accessed now (OBJECT IDLETIME, LRU/LFU
    /// eviction): what Redis's lookups without `LOOKUP_NOTOUCH` do. Writes the field
    /// only when it changes, so repeated reads do not dirty the entry.
    #[inline]
    pub fn get_touch(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Slot> {
        let idx = self.live_index(key, now_ms)?;
        Some(self.touch_slot(idx))
    }

    #[inline]
    fn touch_slot(&mut self, idx: usize) -> &mut Slot {
        let access = &mut self.access;
        let e = self.table.at_mut(idx);
        let touched = access.touch(e.access_secs);
        if e.access_secs != touched {
            e.access_secs = touched;
        }
        e
    }

    /// Bytes `key` costs, for MEMORY USAGE: its slot, its share of the index, the key's
    /// heap block if it is too long to be inline, the side map's entry when the key
    /// has a TTL, and the value's heap. Expired-but-present keys are measured too, as
    /// Redis's `dictFind` there does not expire.
    pub fn memory_usage(&self, key: &[u8]) -> Option<usize> {
        use std::mem::size_of;
        let i = self.table.find(self.table.hash(key), key)?;
        let e = self.table.at(i);
        let slot = size_of::<Slot>() + self.table.index_bytes_per_key();
        // The volatile set's bucket (hash, u32 slot) plus its index slot and control
        // byte, and the deadline.
        let volatile = if e.has_ttl() { 16 + size_of::<usize>() + 1 + 8 } else { 0 };
        Some(slot + e.key_heap_bytes() + volatile + e.value.heap_bytes())
    }

    /// The hash [`Db::warm`] takes for `key`.
    #[inline]
    pub fn key_hash(&self, key: &[u8]) -> u64 {
        self.table.hash(key)
    }

    /// One stage of loading into the cache what a coming lookup of the key hashing to
    /// `h` will read (`Table::warm`): pipelined requests overlap their cache misses.
    #[inline]
    pub fn warm(&self, h: u64, stage: Warm) {
        self.table.warm(h, stage)
    }

    /// All of `warm`'s stages for the keys hashing to `hashes`, one stage for every key
    /// before the next, so their cache misses overlap.
    pub fn warm_all(&self, hashes: &[u64]) {
        for stage in [Warm::Bucket, Warm::Slot, Warm::Key] {
            for &h in hashes {
                self.warm(h, stage);
            }
        }
    }

    /// After `warm`'s stages: starts loading the deadline of the key hashing to `h`
    /// (its guessed slot's), so that a caller warming many keys overlaps those misses
    /// too instead of the commands paying them one by one. A prefetch only: it does
    /// not wait for the slot to say whether it has a TTL.
    #[inline]
    pub fn warm_deadline(&self, h: u64) {
        if self.deadlines.is_empty() {
            return;
        }
        if let Some(j) = self.table.guess_slot(h)
            && let Some(d) = self.deadlines.get(j)
        {
            super::table::prefetch(d);
        }
    }

    /// Reads without expiring or touching anything (DEBUG, persistence, tests).
    #[inline]
    pub fn peek(&self, key: &[u8]) -> Option<&Slot> {
        let i = self.table.find(self.table.hash(key), key)?;
        Some(self.table.at(i))
    }

    /// As [`Db::peek`], with the key's deadline (0 = none).
    pub fn peek_with_expire(&self, key: &[u8]) -> Option<(&Slot, u64)> {
        let i = self.table.find(self.table.hash(key), key)?;
        Some((self.table.at(i), self.slot_expire(i)))
    }

    /// A copy of `key`'s entry with its deadline, live or not (cross-shard commands
    /// and SORT work on copies).
    pub fn peek_entry(&self, key: &[u8]) -> Option<Entry> {
        self.peek_with_expire(key).map(|(s, at)| Entry::of_slot(s, at))
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
        let old = if self.access.lfu { self.peek(key).map(|e| e.access_secs) } else { None };
        let access = match old {
            Some(old) => self.access.touch(old),
            None => self.access.fresh(),
        };
        self.set_entry(key, Entry::with_meta(value, expire_at, access))
    }

    /// SET's store: makes `bytes` the string value of `key` with the given expiry
    /// (0 = none), as [`Db::set`] would, but writes the bytes straight into the key's
    /// slot: an inline string overwritten by one that fits is edited in place, so no
    /// 40-byte `Value` is built and moved through the calls (reqpath4's profile showed
    /// store-forwarding stalls at each hop). Returns the old value when dropping it
    /// frees memory (a heap string, another type), for the caller to free lazily.
    #[inline]
    pub fn set_str(&mut self, key: &[u8], bytes: &[u8], expire_at: u64) -> Option<Value> {
        let h = self.table.hash(key);
        let Some(i) = self.table.find(h, key) else {
            if self.track_created {
                self.created.push(Key::new(key));
            }
            let entry = Entry::with_meta(Value::Str(StrBuf::new(bytes)), expire_at, self.access.fresh());
            let i = self.table.push(h, key, entry);
            if expire_at != 0 {
                self.add_volatile(i as u32, expire_at);
            }
            return None;
        };
        let slot = self.table.at_mut(i);
        // As `set`: a new LRU clock; under LFU the old counter, bumped by this write.
        slot.access_secs = self.access.touch(slot.access_secs);
        let had_ttl = slot.has_ttl();
        let old = match &mut slot.value {
            Value::Str(s) => s.assign(bytes).map(Value::Str),
            other => Some(std::mem::replace(other, Value::Str(StrBuf::new(bytes)))),
        };
        if had_ttl || expire_at != 0 {
            self.set_slot_expire(i, expire_at);
        }
        old
    }

    /// Stores a whole entry (value, expiry and access time) under `key`, replacing any
    /// old one. RENAME and MOVE use it so a moved value keeps its metadata.
    pub fn set_entry(&mut self, key: &[u8], entry: Entry) -> Option<Entry> {
        let h = self.table.hash(key);
        match self.table.find(h, key) {
            Some(i) => {
                let old_expire = self.slot_expire(i);
                let slot = self.table.at_mut(i);
                let old_value = std::mem::replace(&mut slot.value, entry.value);
                let old = Entry::with_meta(old_value, old_expire, slot.access_secs);
                slot.access_secs = entry.access_secs;
                if old_expire != entry.expire_at {
                    self.set_slot_expire(i, entry.expire_at);
                }
                Some(old)
            }
            None => {
                if self.track_created {
                    self.created.push(Key::new(key));
                }
                let expire_at = entry.expire_at;
                let i = self.table.push(h, key, entry);
                if expire_at != 0 {
                    self.add_volatile(i as u32, expire_at);
                }
                None
            }
        }
    }

    /// Inserts a fresh entry for `key` (which must not be live) and returns it.
    pub fn insert_new(&mut self, key: &[u8], value: Value) -> &mut Slot {
        if self.track_created {
            self.created.push(Key::new(key));
        }
        let h = self.table.hash(key);
        // An expired entry may still be there: replace it (Redis deletes it first too).
        if let Some(i) = self.table.find(h, key) {
            self.remove_slot(i, h);
        }
        let access_secs = self.access.fresh();
        let i = self.table.push(h, key, Entry::with_meta(value, 0, access_secs));
        self.table.at_mut(i)
    }

    /// Sets (or clears, with 0) the TTL of a live key. Returns false if the key is absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64, now_ms: u64) -> bool {
        let Some(i) = self.live_index(key, now_ms) else { return false };
        self.set_slot_expire(i, expire_at);
        true
    }

    /// Removes a key, live or not. Returns the entry if it was live.
    pub fn remove(&mut self, key: &[u8], now_ms: u64) -> Option<Entry> {
        let h = self.table.hash(key);
        let i = self.table.find(h, key)?;
        if self.slot_expired(i, now_ms) {
            self.expire_slot(i, h);
            return None;
        }
        Some(self.remove_slot(i, h))
    }

    pub fn clear(&mut self) {
        self.table.clear();
        self.volatile = IndexSet::with_hasher(Hasher::default());
        self.deadlines = Vec::new();
    }

    /// Takes every entry out, leaving the db empty (start-up hands loaded keys from
    /// the loading thread to their shard's thread this way).
    pub fn drain(&mut self) -> impl Iterator<Item = (Key, Entry)> + use<> {
        self.volatile = IndexSet::with_hasher(Hasher::default());
        let deadlines = std::mem::take(&mut self.deadlines);
        self.table.take_all().enumerate().map(move |(i, s)| {
            let at = if s.has_ttl() { deadlines.get(i).copied().unwrap_or(0) } else { 0 };
            (Key::new(&s.key()), s.into_entry(at))
        })
    }

    /// Iterates every entry with its key, expired ones included (callers filter with
    /// `now`).
    pub fn iter(&self) -> impl Iterator<Item = (KeyRef<'_>, &Slot)> {
        self.table.iter().map(|e| (e.key(), e))
    }

    /// As [`Db::iter`], with each key's deadline (0 = none): persistence, DEBUG
    /// DIGEST, INFO's TTL average.
    pub fn iter_with_expire(&self) -> impl Iterator<Item = (KeyRef<'_>, &Slot, u64)> {
        self.table.iter().enumerate().map(|(i, e)| {
            let at = if e.has_ttl() { self.deadlines.get(i).copied().unwrap_or(0) } else { 0 };
            (e.key(), e, at)
        })
    }

    /// Live keys, for KEYS.
    pub fn live_keys(&self, now_ms: u64) -> impl Iterator<Item = KeyRef<'_>> {
        self.iter_with_expire().filter(move |(_, _, at)| !has_expired(*at, now_ms)).map(|(k, _, _)| k)
    }

    fn next_random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// A uniformly random entry (live or not) of the whole keyspace, or of the keys
    /// with a TTL when `volatile`: the random eviction policies (`shard::evict`).
    pub fn random_entry(&mut self, volatile: bool) -> Option<KeyRef<'_>> {
        let idx = if volatile {
            if self.volatile.is_empty() {
                return None;
            }
            let i = (self.next_random() % self.volatile.len() as u64) as usize;
            *self.volatile.get_index(i)? as usize
        } else {
            if self.table.is_empty() {
                return None;
            }
            (self.next_random() % self.table.len() as u64) as usize
        };
        Some(self.table.at(idx).key())
    }

    /// Replaces `out` with up to `n` (at most `MAX_SAMPLES`) uniformly random entries
    /// (live or not) of the whole keyspace, or of the keys with a TTL when `volatile`:
    /// eviction sampling (`shard::evict`). Read a sample's key with [`Db::slot_key`]
    /// before this database changes.
    ///
    /// Why it draws one round ahead: each sample is a cache and TLB miss in a table far
    /// larger than the cache, and taken one by one they were over a third of the CPU
    /// of a write that evicts. So each call uses the positions the previous call drew
    /// and prefetched (their misses were paid while the commands in between ran), and
    /// draws and prefetches the next call's. A position is a uniform draw whenever it
    /// is read (positions past a shrunk table are drawn again), so the samples are as
    /// random as drawing them now. The slots are then read in one loop without
    /// dependencies between iterations, so whatever still misses is waited for at once.
    pub fn sample_into(&mut self, volatile: bool, n: usize, out: &mut Vec<Sample>) {
        out.clear();
        let n = n.min(MAX_SAMPLES);
        let len = if volatile { self.volatile.len() } else { self.table.len() };
        if len == 0 {
            return;
        }
        let mut drawn = [0u32; MAX_SAMPLES];
        let ahead = std::mem::take(&mut self.sample_ahead);
        let reuse = ahead.volatile == volatile && ahead.positions.len() == n;
        for (k, pos) in drawn[..n].iter_mut().enumerate() {
            let p = if reuse { ahead.positions[k] as usize } else { len };
            *pos = if p < len { p } else { (self.next_random() % len as u64) as usize } as u32;
        }
        let mut next = ahead;
        next.volatile = volatile;
        next.positions.clear();
        for _ in 0..n {
            let p = (self.next_random() % len as u64) as usize;
            next.positions.push(p as u32);
            if volatile {
                // The volatile set's entry; its slot and deadline are read (and
                // missed) when used.
                if let Some(slot) = self.volatile.get_index(p) {
                    super::table::prefetch(slot);
                }
            } else {
                self.table.prefetch(p);
            }
        }
        self.sample_ahead = next;
        let mut deadlines = [0u64; MAX_SAMPLES];
        if volatile {
            for (pos, deadline) in drawn[..n].iter_mut().zip(&mut deadlines) {
                let &slot = self.volatile.get_index(*pos as usize).expect("drawn below len");
                (*pos, *deadline) = (slot, self.deadlines.get(slot as usize).copied().unwrap_or(0));
            }
        }
        out.extend((0..n).map(|k| Sample {
            slot: drawn[k],
            access_secs: self.table.at(drawn[k] as usize).access_secs,
            expire_at: deadlines[k],
        }));
    }

    /// The key in slot `slot` (from [`Db::sample_into`], this database unchanged since).
    #[inline]
    pub fn slot_key(&self, slot: u32) -> KeyRef<'_> {
        self.table.at(slot as usize).key()
    }

    /// A random live key, or None if the database is empty. Expired keys met on the way
    /// are deleted, as Redis's dictGetRandomKey loop does.
    pub fn random_key(&mut self, now_ms: u64) -> Option<Key> {
        for _ in 0..100 {
            if self.table.is_empty() {
                return None;
            }
            let idx = (self.next_random() % self.table.len() as u64) as usize;
            let e = self.table.at(idx);
            if !self.slot_expired(idx, now_ms) {
                return Some(Key::new(&e.key()));
            }
            if keeps_expired() {
                continue;
            }
            let h = self.table.hash(&e.key());
            self.expire_slot(idx, h);
        }
        // A database full of expired keys: fall back to returning one of them, as Redis
        // does after too many tries, rather than looping forever.
        (!self.table.is_empty()).then(|| Key::new(&self.table.at(0).key()))
    }

    /// One SCAN step over at most `count` slots, starting from `cursor` (0 = start).
    ///
    /// Cursor meaning: `c` > 0 means "positions `c-1` and below remain". Walking down is
    /// what makes the guarantee hold (see the module doc).
    pub fn scan(&mut self, cursor: u64, count: usize, now_ms: u64) -> ScanStep {
        self.scan_expiring(cursor, count, now_ms, |_| true)
    }

    /// `scan` that deletes the expired keys it meets as Redis 7.0's SCAN does
    /// (`expireIfNeeded` on each key it returns), recorded like any lazy expiry, but
    /// not on a replica nor while clients are paused (`keeps_expired`), nor a key
    /// `may_expire` refuses (one a cross-shard transaction holds, one SCAN's pattern
    /// leaves out). The walk goes down the table, so the entry a deletion moves into
    /// the hole (the last one) was visited already.
    pub fn scan_expiring(
        &mut self,
        cursor: u64,
        count: usize,
        now_ms: u64,
        may_expire: impl Fn(&[u8]) -> bool,
    ) -> ScanStep {
        let len = self.table.len();
        let mut pos = if cursor == 0 { len } else { (cursor as usize).min(len) };
        let mut keys = Vec::with_capacity(count.min(pos));
        let mut visited = 0;
        let keep = keeps_expired();
        while pos > 0 && visited < count.max(1) {
            pos -= 1;
            visited += 1;
            if !self.slot_expired(pos, now_ms) {
                keys.push(Key::new(&self.table.at(pos).key()));
            } else if !keep {
                let key = Key::new(&self.table.at(pos).key());
                if may_expire(&key) {
                    let h = self.table.hash(&key);
                    self.expire_slot(pos, h);
                }
            }
        }
        ScanStep { next: pos as u64, keys }
    }

    /// One active-expiry pass as in Redis's activeExpireCycle: sample up to `sample`
    /// volatile keys, delete the expired ones, and go again while more than a quarter of
    /// a sample was expired and `keep_going` allows. Returns the number deleted.
    pub fn active_expire(&mut self, now_ms: u64, sample: usize, keep_going: impl FnMut() -> bool) -> usize {
        self.active_expire_except(now_ms, sample, keep_going, |_| false)
    }

    /// `active_expire`, leaving alone the expired keys `held` names (keys a
    /// cross-shard transaction holds locked: deleting one under it would put the DEL
    /// out of order with the transaction in the replication stream).
    pub fn active_expire_except(
        &mut self,
        now_ms: u64,
        sample: usize,
        keep_going: impl FnMut() -> bool,
        held: impl Fn(&[u8]) -> bool,
    ) -> usize {
        self.active_expire_stale(now_ms, sample, 25, keep_going, held)
    }

    /// `active_expire_except` that goes on sampling while more than `stale_percent`
    /// of a round's keys had expired (Redis's acceptable stale share).
    pub fn active_expire_stale(
        &mut self,
        now_ms: u64,
        sample: usize,
        stale_percent: usize,
        mut keep_going: impl FnMut() -> bool,
        held: impl Fn(&[u8]) -> bool,
    ) -> usize {
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
                let pick = (self.next_random() % self.volatile.len() as u64) as usize;
                let &i = self.volatile.get_index(pick).expect("index in range");
                let at = self.deadlines.get(i as usize).copied().unwrap_or(0);
                if has_expired(at, now_ms) && !held(&self.table.at(i as usize).key()) {
                    let i = i as usize;
                    let h = self.table.hash(&self.table.at(i).key());
                    self.expire_slot(i, h);
                    expired_now += 1;
                }
            }
            total += expired_now;
            if expired_now * 100 <= n * stale_percent || !keep_going() {
                return total;
            }
        }
    }

    /// Updates the access time of a key (OBJECT IDLETIME).
    pub fn touch(&mut self, key: &[u8], now_secs: u32) {
        let h = self.table.hash(key);
        if let Some(i) = self.table.find(h, key) {
            self.table.at_mut(i).access_secs = now_secs;
        }
    }
}

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
