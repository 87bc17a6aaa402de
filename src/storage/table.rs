//! The key table under `Db`: every key (key, value, access time and a has-a-TTL flag)
//! in one 56-byte slot of a dense, chunked array, found through a hash index of 32-bit
//! slot numbers. The expiry itself is not in the slot: most keys of a cache have none,
//! so `Db` keeps deadlines beside the table (an array by slot number, allocated once a
//! database has a TTL, and the set of slots with one, as Redis's `expires` dict), and
//! the slot's flag says whether to look there.
//!
//! Why this shape (it replaced an `IndexMap<Key, Entry>` that cost 150+ bytes per small
//! key):
//! - **One slot per key, no allocation per key.** A slot is a [`Slot`]: the value
//!   (strings up to 38 bytes inline, see `strbuf`), the access time, and the key
//!   itself, inline up to 11 bytes or, packed, up to 20 when it ends in decimal digits
//!   (`key:000000012345`); other keys get one heap block. A hit then costs no cache
//!   miss beyond the index and the slot.
//!   A `SET key:123456 <32 bytes>` costs 56 bytes of slot plus about 5–10 bytes of
//!   index and nothing else.
//! - **Dense array, in chunks.** Slots sit in fixed-size chunks of `CHUNK` entries,
//!   allocated when the previous one is full: no `Vec` doubling (which leaves up to 2×
//!   slack and copies every entry at once), and growth never moves an entry. Being
//!   dense is what gives `Db` O(1) uniform random keys and its SCAN cursor (removal
//!   moves the *last* slot into the hole, so entries only move down).
//! - **The index** is a `hashbrown::HashTable<u32>` of slot numbers: 5 bytes per bucket
//!   (4 + 1 control byte). The hash is not stored; it is recomputed from the slot's
//!   key when needed, which only happens when the index grows or a slot moves.
//! - **Incremental index growth.** Before the index would have to resize inside an
//!   insert (rehashing every key at once: a long stall at 10M keys), a second index of
//!   twice the size is started and filled `GROW_STEP` slots per insert, walking the
//!   dense array in order (prefetch-friendly). Lookups use the old, complete index
//!   until the new one covers every slot, then the old one is dropped. Small tables
//!   (under `GROW_INCREMENTAL_MIN` keys) simply resize in place.
//!
//! Outside the table a key's data travels as an [`Entry`] (a slot's contents plus the
//! expiry): what `Db::remove` returns and `Db::set_entry` takes.
//!
//! Depends on: `hashbrown`, `foldhash`. The only `unsafe` blocks are the heap-key
//! pointer in [`KeyBytes`] and the prefetch hint (`prefetch`, used by `Table::warm`,
//! `Table::prefetch` and eviction's sampling).

use super::value::Value;
use hashbrown::HashTable;
use std::hash::BuildHasher;

type Hasher = foldhash::fast::RandomState;

/// Slots per chunk: chunks of just under 64 KiB (1170 × 56 = 65520 bytes). Small
/// enough that the last, partly filled chunk wastes little; large enough that the
/// chunk directory is tiny. Not a power of two on purpose: mimalloc serves
/// power-of-two requests of 8 KiB and more from a larger bin (measured with 64-byte
/// slots: 1024 per chunk cost 86 bytes of RSS per slot, 1020 cost 65), and a division
/// by a constant is a multiply and a shift.
const CHUNK: usize = 1170;

/// Below this many keys the index resizes in place (a sub-millisecond rehash).
const GROW_INCREMENTAL_MIN: usize = 4096;
/// Slots moved into the growing index per insert. With growth started when a quarter
/// of the remaining room is left (see `maybe_start_growth`), the new index is complete
/// long before the old one would be full.
const GROW_STEP: usize = 8;

// ---- Keys inside a slot -------------------------------------------------------------

/// Longest key kept inline in the slot as plain bytes.
pub const INLINE_KEY: usize = 11;
const HEAP_TAG: u8 = 0x20;
/// Bit of byte 0 set while the slot's key has a TTL (its deadline is in `Db`'s side
/// map). Not part of the key: lookups compare with it masked off.
const TTL_FLAG: u8 = 0x80;
/// Byte 0 of a packed key is `PACKED_TAG | digit count`.
const PACKED_TAG: u8 = 0x40;
/// Bytes after the two header bytes of a packed key.
const PACKED_ROOM: usize = 10;
/// Longest packed key: `PACKED_ROOM` bytes of nibbles and no head.
const PACKED_MAX: usize = 2 * PACKED_ROOM;

/// A key stored in 12 bytes, in exactly one canonical form per key (so two inline
/// forms are equal exactly when the keys are, and a lookup compares 12 bytes):
/// - **plain**, up to 11 bytes: byte 0 is the length, bytes 1..=11 the key;
/// - **packed**, a longer key ending in decimal digits whose head and digits fit: byte
///   0 is `PACKED_TAG | digits`, byte 1 the head length, then the head, then the digits
///   two per byte (`key:000000012345`, what redis-benchmark and many id-based names
///   look like, fits with 4 + 6 of the 10 bytes);
/// - **heap** (`HEAP_TAG`): bytes 4..12 hold the address of a heap block made of the
///   key's length (u32, little endian) followed by its bytes.
///
/// Unused bytes are zero. Byte 0 also carries the slot's `TTL_FLAG` (the tags above
/// never use that bit). Twelve bytes is what is left of a 56-byte slot after the value
/// (40) and the access time (4).
pub struct KeyBytes([u8; 12]);

/// The inline (plain or packed) form of `key`, or `None` when it needs a heap block.
#[inline]
fn encode_inline(key: &[u8]) -> Option<[u8; 12]> {
    let mut b = [0u8; 12];
    if key.len() <= INLINE_KEY {
        b[0] = key.len() as u8;
        b[1..=key.len()].copy_from_slice(key);
        return Some(b);
    }
    if key.len() > PACKED_MAX {
        return None;
    }
    let digits = key.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let head = key.len() - digits;
    if head + digits.div_ceil(2) > PACKED_ROOM {
        return None;
    }
    b[0] = PACKED_TAG | digits as u8;
    b[1] = head as u8;
    b[2..2 + head].copy_from_slice(&key[..head]);
    for (n, d) in key[head..].iter().enumerate() {
        b[2 + head + n / 2] |= (d - b'0') << (4 * (n % 2));
    }
    Some(b)
}

/// A key read back from a slot: borrowed when stored as bytes, decoded when packed.
pub struct KeyRef<'a>(KeyRefRepr<'a>);

enum KeyRefRepr<'a> {
    Borrowed(&'a [u8]),
    Decoded { len: u8, buf: [u8; PACKED_MAX] },
}

impl std::ops::Deref for KeyRef<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            KeyRefRepr::Borrowed(s) => s,
            KeyRefRepr::Decoded { len, buf } => &buf[..*len as usize],
        }
    }
}

impl PartialEq<[u8]> for KeyRef<'_> {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl std::fmt::Debug for KeyRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

impl KeyBytes {
    const EMPTY: KeyBytes = KeyBytes([0; 12]);

    fn new(key: &[u8]) -> KeyBytes {
        if let Some(b) = encode_inline(key) {
            return KeyBytes(b);
        }
        let mut b = [0u8; 12];
        let len = u32::try_from(key.len()).expect("keys are limited to proto-max-bulk-len");
        let mut block = Vec::with_capacity(4 + key.len());
        block.extend_from_slice(&len.to_le_bytes());
        block.extend_from_slice(key);
        let ptr = Box::into_raw(block.into_boxed_slice()) as *mut u8;
        b[0] = HEAP_TAG;
        b[4..12].copy_from_slice(&ptr.expose_provenance().to_ne_bytes());
        KeyBytes(b)
    }

    /// Address of the heap block (only when `self.tag() == HEAP_TAG`).
    #[inline]
    fn heap_ptr(&self) -> *mut u8 {
        let addr = usize::from_ne_bytes(self.0[4..12].try_into().expect("8 bytes"));
        std::ptr::with_exposed_provenance_mut(addr)
    }

    /// The bytes of a heap key (only when `self.tag() == HEAP_TAG`).
    #[inline]
    fn heap_slice(&self) -> &[u8] {
        debug_assert_eq!(self.tag(), HEAP_TAG);
        let p = self.heap_ptr();
        // SAFETY: a HEAP_TAG key owns the block `new` leaked from a boxed slice of
        // 4 + len bytes, whose address was exposed there; the block lives until `drop`,
        // and `&self` keeps it from being dropped while the slice is borrowed.
        unsafe {
            let len = u32::from_le_bytes(std::ptr::read(p as *const [u8; 4])) as usize;
            std::slice::from_raw_parts(p.add(4), len)
        }
    }

    /// Byte 0 without the TTL flag.
    #[inline]
    fn tag(&self) -> u8 {
        self.0[0] & !TTL_FLAG
    }

    #[inline]
    fn get(&self) -> KeyRef<'_> {
        let tag = self.tag();
        if tag == HEAP_TAG {
            return KeyRef(KeyRefRepr::Borrowed(self.heap_slice()));
        }
        if tag & PACKED_TAG == 0 {
            return KeyRef(KeyRefRepr::Borrowed(&self.0[1..=tag as usize]));
        }
        let (digits, head) = ((tag & !PACKED_TAG) as usize, self.0[1] as usize);
        let mut buf = [0u8; PACKED_MAX];
        buf[..head].copy_from_slice(&self.0[2..2 + head]);
        for n in 0..digits {
            buf[head + n] = b'0' + ((self.0[2 + head + n / 2] >> (4 * (n % 2))) & 0xf);
        }
        KeyRef(KeyRefRepr::Decoded { len: (head + digits) as u8, buf })
    }

    /// Whether this is the key whose inline form is `enc` (see `encode_inline`), or,
    /// when `enc` is `None`, the heap key `key`.
    #[inline]
    fn matches(&self, enc: Option<&[u8; 12]>, key: &[u8]) -> bool {
        match enc {
            Some(e) => {
                let mut own = self.0;
                own[0] &= !TTL_FLAG;
                own == *e
            }
            None => self.tag() == HEAP_TAG && crate::util::bytes::eq(self.heap_slice(), key),
        }
    }

    /// Heap bytes this key costs (MEMORY USAGE).
    fn heap_bytes(&self) -> usize {
        if self.tag() == HEAP_TAG { 4 + self.heap_slice().len() } else { 0 }
    }
}

impl Drop for KeyBytes {
    fn drop(&mut self) {
        if self.tag() == HEAP_TAG {
            let len = self.heap_slice().len();
            let p = self.heap_ptr();
            // SAFETY: the block was made by `Box::into_raw` of a `[u8]` of 4 + len
            // bytes in `new`; this key is its only owner and forgets it right here.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, 4 + len)) });
            self.0[0] = 0;
        }
    }
}

impl Clone for KeyBytes {
    fn clone(&self) -> KeyBytes {
        if self.tag() != HEAP_TAG {
            return KeyBytes(self.0);
        }
        let mut k = KeyBytes::new(self.heap_slice());
        k.0[0] |= self.0[0] & TTL_FLAG;
        k
    }
}

// ---- Slots and entries ---------------------------------------------------------------

/// One key of the table, 56 bytes: value, access time, key and the has-a-TTL flag.
/// Readers (`Db::get`, `Db::peek`, ...) borrow slots; the deadline of a key with a TTL
/// is `Db`'s to answer (`Db::peek_with_expire` and friends).
#[derive(Clone)]
pub struct Slot {
    pub value: Value,
    /// Last access, in seconds of the shard clock, for OBJECT IDLETIME (and the
    /// LRU/LFU clock of eviction).
    pub access_secs: u32,
    key: KeyBytes,
}

impl Slot {
    /// The key this slot holds.
    #[inline]
    pub fn key(&self) -> KeyRef<'_> {
        self.key.get()
    }

    /// Whether the key has a TTL (its deadline is in `Db`'s deadline array).
    #[inline]
    pub fn has_ttl(&self) -> bool {
        self.key.0[0] & TTL_FLAG != 0
    }

    /// Sets or clears the TTL flag (`Db` keeps its deadlines and volatile set in step).
    #[inline]
    pub(super) fn set_ttl_flag(&mut self, on: bool) {
        if on {
            self.key.0[0] |= TTL_FLAG;
        } else {
            self.key.0[0] &= !TTL_FLAG;
        }
    }

    /// Heap bytes of the key (0 when inline in the slot).
    pub fn key_heap_bytes(&self) -> usize {
        self.key.heap_bytes()
    }

    /// The slot's contents with its deadline, leaving the table.
    pub(super) fn into_entry(self, expire_at: u64) -> Entry {
        let Slot { value, access_secs, mut key } = self;
        key.0[0] &= !TTL_FLAG;
        Entry { value, expire_at, access_secs, key }
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("key", &self.key())
            .field("value", &self.value)
            .field("has_ttl", &self.has_ttl())
            .field("access_secs", &self.access_secs)
            .finish()
    }
}

/// A key's value with its metadata outside the table: what `Db::remove` returns and
/// `Db::set_entry` stores (RENAME, MOVE, RESTORE, loading, cross-shard moves).
///
/// It still carries the key it was stored under, or none when built with
/// `Entry::new`; storing it under a key replaces that.
#[derive(Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in unix ms; 0 means no TTL.
    pub expire_at: u64,
    /// Last access, in seconds of the shard clock (see [`Slot::access_secs`]).
    pub access_secs: u32,
    key: KeyBytes,
}

impl Entry {
    pub fn new(value: Value) -> Entry {
        Entry { value, expire_at: 0, access_secs: 0, key: KeyBytes::EMPTY }
    }

    /// An entry with its metadata (RESTORE, RDB loading, RENAME across databases).
    pub fn with_meta(value: Value, expire_at: u64, access_secs: u32) -> Entry {
        Entry { value, expire_at, access_secs, key: KeyBytes::EMPTY }
    }

    /// A copy of a slot's contents with the deadline `Db` gave for it.
    pub fn of_slot(s: &Slot, expire_at: u64) -> Entry {
        s.clone().into_entry(expire_at)
    }

    /// The key this entry was stored under (empty for a fresh `Entry::new`).
    #[inline]
    pub fn key(&self) -> KeyRef<'_> {
        self.key.get()
    }

    /// The slot to store under `key` (with its TTL flag), and the deadline.
    pub(super) fn into_slot(self, key: KeyBytes) -> (Slot, u64) {
        let Entry { value, expire_at, access_secs, .. } = self;
        let mut s = Slot { value, access_secs, key };
        s.set_ttl_flag(expire_at != 0);
        (s, expire_at)
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key())
            .field("value", &self.value)
            .field("expire_at", &self.expire_at)
            .field("access_secs", &self.access_secs)
            .finish()
    }
}

// ---- The table ----------------------------------------------------------------------

/// A second index being filled while the current one stays authoritative.
struct Growth {
    next: HashTable<u32>,
    /// Slots `0..cursor` are in `next`.
    cursor: usize,
}

pub struct Table {
    chunks: Vec<Vec<Slot>>,
    len: usize,
    index: HashTable<u32>,
    growth: Option<Growth>,
    hasher: Hasher,
}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

#[inline]
fn slot(chunks: &[Vec<Slot>], i: usize) -> &Slot {
    &chunks[i / CHUNK][i % CHUNK]
}

#[inline]
fn hash_key(hasher: &Hasher, key: &[u8]) -> u64 {
    hasher.hash_one(key)
}

/// Asks the CPU to start loading the cache line at `p` without waiting for it (a hint:
/// nothing is read, so any address will do). Used by `Table::warm`, `Table::prefetch`,
/// eviction's sampling (`Db::sample_into`) and a peer's split parts
/// (`cmd::coord_split::fetch_parts`).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` never faults and reads nothing into the program: it is a
    // cache hint that is valid for any address, even an unmapped one. SSE, which it
    // needs, is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Asks the CPU to start loading the cache line at `p` for a write: the line comes
/// exclusive, invalidated in other cores' caches, so the write itself waits for
/// nothing. Where the CPU lacks `PREFETCHW`, a read hint (`prefetch`). A hint like
/// `prefetch`: any address will do. Used for a peer's returned split parts, which
/// this shard rewrites for its next split commands (`cmd::coord_split::fetch_returned`).
#[inline(always)]
pub fn prefetch_write<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    if has_prefetchw() {
        // SAFETY: the CPU has PREFETCHW (CPUID 8000_0001h ECX bit 8, checked above), a
        // cache hint that never faults, reads nothing into registers, writes nothing
        // and leaves the flags alone, valid for any address, even an unmapped one.
        unsafe {
            std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
        }
        return;
    }
    prefetch(p)
}

/// Does the CPU have `PREFETCHW`? Asked once (CPUID), then a relaxed load.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn has_prefetchw() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    // 0: not asked yet, 1: no, 2: yes.
    static HAS: AtomicU8 = AtomicU8::new(0);
    match HAS.load(Ordering::Relaxed) {
        0 => {
            let yes = std::arch::x86_64::__cpuid(0x8000_0001).ecx & (1 << 8) != 0;
            HAS.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        v => v == 2,
    }
}

/// The stages of warming a key before its `find` (`Table::warm`): each loads what the
/// next one needs, so a caller warming many keys runs one stage over all of them
/// before the next, and their cache misses overlap instead of queueing one by one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Warm {
    /// The key's index bucket: its control byte (read) and its slot number (hinted).
    Bucket,
    /// The slot the index names for the key's hash, if any (hinted).
    Slot,
    /// The key's heap block, when the slot holds a long key (hinted).
    Key,
}

/// Removes the index entry naming slot `i` (whose key hashes to `h`).
fn unindex(index: &mut HashTable<u32>, h: u64, i: usize) {
    if let Ok(e) = index.find_entry(h, |&j| j as usize == i) {
        e.remove();
    } else {
        debug_assert!(false, "slot {i} missing from the index");
    }
}

/// Points the index entry naming slot `from` (key hash `h`) at slot `to`.
fn reindex(index: &mut HashTable<u32>, h: u64, from: usize, to: usize) {
    match index.find_mut(h, |&j| j as usize == from) {
        Some(j) => *j = to as u32,
        None => debug_assert!(false, "slot {from} missing from the index"),
    }
}

impl Table {
    pub fn new() -> Table {
        Table { chunks: Vec::new(), len: 0, index: HashTable::new(), growth: None, hasher: Hasher::default() }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Room in the index for `additional` more keys without growing it (a snapshot's
    /// RESIZEDB announces its size before its keys). Skipped while an incremental
    /// growth is under way: that one already sizes the next index.
    pub fn reserve(&mut self, additional: usize) {
        if self.growth.is_some() {
            return;
        }
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.reserve(additional, |&j| hash_key(hasher, &slot(chunks, j as usize).key()));
        self.chunks.reserve(additional / CHUNK + 1);
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        hash_key(&self.hasher, key)
    }

    /// The slot holding `key` (hashing to `h`).
    #[inline]
    pub fn find(&self, h: u64, key: &[u8]) -> Option<usize> {
        let chunks = &self.chunks;
        let enc = encode_inline(key);
        self.index.find(h, |&j| slot(chunks, j as usize).key.matches(enc.as_ref(), key)).map(|&j| j as usize)
    }

    /// One stage of warming the cache for a coming `find(h, ..)` (see [`Warm`]). Only
    /// a hint: a wrong guess (another key's slot, a key that is absent) costs a wasted
    /// load, never a wrong answer.
    #[inline]
    pub fn warm(&self, h: u64, stage: Warm) {
        let buckets = self.index.num_buckets();
        if buckets == 0 {
            return;
        }
        match stage {
            // The first bucket `find` probes is `h` modulo the bucket count (the
            // probe sequence of `hashbrown`'s SwissTable); reading whether it is
            // full loads its control group's line.
            Warm::Bucket => {
                if let Some(j) = self.index.get_bucket(h as usize & (buckets - 1)) {
                    prefetch(j);
                }
            }
            Warm::Slot | Warm::Key => {
                let Some(b) = self.index.iter_hash_buckets(h).next() else { return };
                let Some(&j) = self.index.get_bucket(b) else { return };
                let Some(s) = self.chunks.get(j as usize / CHUNK).and_then(|c| c.get(j as usize % CHUNK)) else {
                    return;
                };
                if stage == Warm::Slot {
                    // A slot is 56 bytes: it may straddle two lines.
                    prefetch(s);
                    prefetch((s as *const Slot).cast::<u8>().wrapping_add(size_of::<Slot>() - 1));
                } else if s.key.tag() == HEAP_TAG {
                    prefetch(s.key.heap_ptr());
                }
            }
        }
    }

    /// The slot the index names first for hash `h` (a guess, as `warm`'s: it may be
    /// another key's), if any.
    #[inline]
    pub fn guess_slot(&self, h: u64) -> Option<usize> {
        if self.index.num_buckets() == 0 {
            return None;
        }
        let b = self.index.iter_hash_buckets(h).next()?;
        let &j = self.index.get_bucket(b)?;
        ((j as usize) < self.len).then_some(j as usize)
    }

    #[inline]
    pub fn at(&self, i: usize) -> &Slot {
        slot(&self.chunks, i)
    }

    /// Asks the CPU to start loading slot `i` (if there is one) into the cache, for a
    /// read a little later: eviction samples random slots one round ahead, so that
    /// their cache and TLB misses are paid while other work runs.
    #[inline]
    pub fn prefetch(&self, i: usize) {
        if let Some(s) = self.chunks.get(i / CHUNK).and_then(|c| c.get(i % CHUNK)) {
            // The access field and key, read by sampling, are at the slot's end.
            prefetch(&s.access_secs);
        }
    }

    #[inline]
    pub fn at_mut(&mut self, i: usize) -> &mut Slot {
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }

    /// Stores `entry` under `key`, which must be absent (`h` is its hash), its slot
    /// flagged when it has a TTL (the caller keeps the deadline). Returns the new slot.
    pub fn push(&mut self, h: u64, key: &[u8], entry: Entry) -> usize {
        let i = self.len;
        assert!(i < u32::MAX as usize, "a shard's database holds at most 2^32 - 1 keys");
        let (s, _) = entry.into_slot(KeyBytes::new(key));
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("pushed above").push(s);
        self.len += 1;
        self.maybe_start_growth();
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        debug_assert!(self.growth.is_none() || self.index.len() < self.index.capacity());
        self.index.insert_unique(h, i as u32, |&j| hash_key(hasher, &slot(chunks, j as usize).key()));
        if self.growth.is_some() {
            self.grow_step(GROW_STEP);
        }
        i
    }

    /// Starts filling a larger index once the current one has little room left, so it
    /// never has to resize (rehashing everything) inside one insert.
    fn maybe_start_growth(&mut self) {
        if self.growth.is_some() || self.len < GROW_INCREMENTAL_MIN {
            return;
        }
        let room = self.index.capacity() - self.index.len();
        if room > self.len / 4 + 16 {
            return;
        }
        self.growth = Some(Growth { next: HashTable::with_capacity(2 * self.len), cursor: 0 });
    }

    /// Moves up to `n` slots into the growing index; swaps it in when complete.
    fn grow_step(&mut self, n: usize) {
        let Some(g) = &mut self.growth else { return };
        let end = (g.cursor + n).min(self.len);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        for i in g.cursor..end {
            let h = hash_key(hasher, &slot(chunks, i).key());
            g.next.insert_unique(h, i as u32, |&j| hash_key(hasher, &slot(chunks, j as usize).key()));
        }
        g.cursor = end;
        if g.cursor >= self.len {
            let g = self.growth.take().expect("checked above");
            self.index = g.next;
        }
    }

    /// Removes slot `i` (whose key hashes to `h`), moving the last slot into its place.
    /// Returns the removed slot and, when a slot moved, where it came from.
    pub fn swap_remove(&mut self, i: usize, h: u64) -> (Slot, Option<usize>) {
        let last = self.len - 1;
        let h_last = (last != i).then(|| self.hash(&slot(&self.chunks, last).key()));
        unindex(&mut self.index, h, i);
        if let Some(hl) = h_last {
            reindex(&mut self.index, hl, last, i);
        }
        if let Some(g) = &mut self.growth {
            if i < g.cursor {
                unindex(&mut g.next, h, i);
            }
            if let Some(hl) = h_last {
                if last < g.cursor {
                    reindex(&mut g.next, hl, last, i);
                } else if i < g.cursor {
                    // The last slot was not covered yet but lands below the cursor.
                    let (chunks, hasher) = (&self.chunks, &self.hasher);
                    g.next.insert_unique(hl, i as u32, |&j| hash_key(hasher, &slot(chunks, j as usize).key()));
                }
            }
            g.cursor = g.cursor.min(last);
        }
        let tail = self.chunks.last_mut().expect("table is not empty");
        let moved = tail.pop().expect("chunks are never left empty");
        if tail.is_empty() {
            self.chunks.pop();
        }
        self.len -= 1;
        if self.growth.as_ref().is_some_and(|g| g.cursor >= self.len) {
            self.grow_step(0);
        }
        if i == last { (moved, None) } else { (std::mem::replace(self.at_mut(i), moved), Some(last)) }
    }

    pub fn clear(&mut self) {
        *self = Table { hasher: self.hasher.clone(), ..Table::new() };
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.chunks.iter().flatten()
    }

    /// Takes every slot out, in slot order, leaving the table empty.
    pub fn take_all(&mut self) -> impl Iterator<Item = Slot> + use<> {
        let chunks = std::mem::take(&mut self.chunks);
        self.clear();
        chunks.into_iter().flatten()
    }

    /// Bytes of index per key, on average (MEMORY USAGE): 4 bytes of slot number and
    /// one control byte per bucket, over the keys sharing the buckets.
    pub fn index_bytes_per_key(&self) -> usize {
        let buckets = (self.index.capacity() * 8 / 7).max(1);
        (buckets * 5).div_ceil(self.len.max(1))
    }

    /// Whether a larger index is being filled (tests).
    #[cfg(test)]
    pub fn is_growing(&self) -> bool {
        self.growth.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::XorShift;
    use std::collections::HashMap;

    fn val(i: u64) -> Value {
        Value::Str(format!("v{i}").into_bytes().into())
    }

    fn key(i: u64) -> Vec<u8> {
        // Mix plain, packed and heap keys.
        match i % 3 {
            0 => format!("a-much-longer-key-name:{i}").into_bytes(),
            1 => format!("key:{i:012}").into_bytes(),
            _ => format!("k:{i}").into_bytes(),
        }
    }

    #[test]
    fn slot_is_56_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 56);
    }

    /// The TTL flag rides in the key's first byte: it must never change which key a
    /// slot holds, how it compares or what it costs, and it survives a clone.
    #[test]
    fn the_ttl_flag_leaves_the_key_alone() {
        for k in [&b"a"[..], b"key:000000012345", b"a-much-longer-key-name:1", b""] {
            let mut e = Entry::with_meta(Value::Str(b"v".into()), 5, 0);
            e.key = KeyBytes::new(b"old");
            let (mut s, at) = e.into_slot(KeyBytes::new(k));
            assert!(s.has_ttl() && at == 5);
            assert_eq!(&*s.key(), k);
            assert!(s.key.matches(encode_inline(k).as_ref(), k));
            assert_eq!(s.key_heap_bytes(), KeyBytes::new(k).heap_bytes());
            let c = s.clone();
            assert!(c.has_ttl() && &*c.key() == k);
            s.set_ttl_flag(false);
            assert!(!s.has_ttl() && &*s.key() == k && s.key.matches(encode_inline(k).as_ref(), k));
            let back = c.into_entry(5);
            assert_eq!((&*back.key(), back.expire_at), (k, 5));
            assert_eq!(back.key.0[0] & TTL_FLAG, 0, "an entry outside the table carries no flag");
        }
    }

    #[test]
    fn keys_round_trip_inline_and_on_the_heap() {
        for len in [0usize, 1, 11, 12, 100, 5000] {
            let k: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let kb = KeyBytes::new(&k);
            assert_eq!(&*kb.get(), &k[..]);
            assert_eq!(&*kb.clone().get(), &k[..]);
            assert_eq!(kb.heap_bytes(), if len <= INLINE_KEY { 0 } else { 4 + len });
        }
    }

    #[test]
    fn digit_tailed_keys_pack_inline_and_compare_exactly() {
        let inline = [
            &b"key:000000012345"[..],
            b"key:999999999999",
            b"12345678901234567890",
            b"user:1234567890",
            b"abcdefghi12",
            b"abcdefgh1234",
        ];
        for k in inline {
            let kb = KeyBytes::new(k);
            assert_eq!(kb.heap_bytes(), 0, "{:?}", kb.get());
            assert_eq!(&*kb.get(), k);
            assert_eq!(&*kb.clone().get(), k);
            assert!(kb.matches(encode_inline(k).as_ref(), k));
        }
        // Too long a head or too many digits: on the heap.
        for k in [
            &b"abcdefghijk12"[..],
            b"abcdefghij00",
            b"123456789012345678901",
            b"key:0000000123456789",
            b"key:abcdefghijkl",
        ] {
            assert!(KeyBytes::new(k).heap_bytes() > 0, "{}", String::from_utf8_lossy(k));
            assert_eq!(&*KeyBytes::new(k).get(), k);
        }
        // Keys that differ only in leading zeros, digit count or head never collide.
        let similar = [
            &b"key:000000012345"[..],
            b"key:00000012345",
            b"key:0000000123450",
            b"key0:00000012345",
            b"kex:000000012345",
        ];
        for a in similar {
            for b in similar {
                let ka = KeyBytes::new(a);
                assert_eq!(ka.matches(encode_inline(b).as_ref(), b), a == b);
            }
        }
    }

    /// Random inserts and deletes against a `HashMap` model, through index growth.
    #[test]
    fn matches_a_hashmap_model_through_growth() {
        let mut t = Table::new();
        let mut model: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut rng = XorShift::new(7);
        let mut saw_growth = false;
        for step in 0..60_000u64 {
            let k = key(rng.below(40_000) as u64);
            let h = t.hash(&k);
            if rng.below(3) == 0 {
                if let Some(i) = t.find(h, &k) {
                    let (e, _) = t.swap_remove(i, h);
                    assert_eq!(&*e.key(), &k[..]);
                    assert_eq!(Some(e.value), model.remove(&k).map(val));
                } else {
                    assert!(!model.contains_key(&k));
                }
            } else if let Some(i) = t.find(h, &k) {
                t.at_mut(i).value = val(step);
                model.insert(k, step);
            } else {
                t.push(h, &k, Entry::new(val(step)));
                model.insert(k, step);
            }
            saw_growth |= t.is_growing();
            assert_eq!(t.len(), model.len());
        }
        assert!(saw_growth, "the test must exercise incremental growth");
        for (k, v) in &model {
            let i = t.find(t.hash(k), k).expect("present");
            assert_eq!(t.at(i).value, val(*v));
        }
        assert_eq!(t.iter().count(), model.len());
        let mut drained: Vec<Vec<u8>> = t.take_all().map(|e| e.key().to_vec()).collect();
        drained.sort();
        let mut want: Vec<Vec<u8>> = model.keys().cloned().collect();
        want.sort();
        assert_eq!(drained, want);
        assert!(t.is_empty() && t.find(t.hash(b"k:1"), b"k:1").is_none());
    }
}
