//! Intent locks that make cross-shard commands atomic.
//!
//! A command whose keys live on several shards runs as a transaction: its coordinator
//! takes a global sequence number and, while holding the global order mutex, queues a
//! `Lock` request on every shard involved. Because every shard therefore sees lock
//! requests in the same global order, and a shard grants them strictly in arrival
//! order, no two transactions can wait on each other in a cycle: deadlock is impossible
//! by construction (the idea behind Dragonfly's VLL, simplified to FIFO granting).
//!
//! While a key is locked, ordinary commands that touch it are deferred by the shard
//! and replayed when the lock is released, so no client can observe a transaction's
//! keys half-written. Commands on other keys keep running.
//!
//! The table holds 64-bit hashes of (db, key), not the keys: checking a command's
//! keys then allocates nothing. Two keys sharing a hash only make a command wait for a
//! lock it did not need, never run under one it should have waited for.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use super::lockkeys::LockKeys;
use super::msg::{CoordRef, ExecReq};

/// The hash a (db, key) pair is locked under. A fixed function with a fixed seed, so
/// every shard and every call agrees. foldhash rather than SipHash: a split command
/// hashes each of its keys once on the coordinator, and every command checked against
/// a busy lock table hashes its keys too; nobody outside chooses what collides here
/// to any effect but a needless wait.
pub fn key_hash(db: u16, key: &[u8]) -> u64 {
    const LOCK_HASH: foldhash::quality::FixedState = foldhash::quality::FixedState::with_seed(0x5ba2_d15c_0ffe_e5ed);
    let mut h = LOCK_HASH.build_hasher();
    h.write_u16(db);
    h.write(key);
    h.finish()
}

/// What a transaction locks on one shard.
#[derive(Clone, Debug)]
pub enum LockPlan {
    /// These (db, key) pairs.
    Keys(Vec<(u16, Vec<u8>)>),
    /// The keys of a part that runs in place when granted (`key_hash` of each, in any
    /// order, a key listed twice held twice).
    Hashes(Vec<u64>),
    /// The whole shard (FLUSHALL, SWAPDB, ...).
    Whole,
}

/// A lock request waiting for earlier transactions to release.
pub struct Waiting {
    pub tx: u64,
    pub coord: CoordRef,
    pub plan: LockPlan,
    pub gather: bool,
    /// A split command's part (`cmd::coord_split`): run it here when the locks are
    /// granted, and keep them until the coordinator's release (or, with
    /// `SplitPart::release_at_run`, until it has run).
    pub run: Option<Box<SplitPart>>,
}

/// One shard's part of a command split across shards: the command on this shard's
/// keys only, and the number of shards taking part (the log's block marker).
pub struct SplitPart {
    pub req: ExecReq,
    pub parts: u16,
    /// Count the command in this shard's stats (one part does, so a split command
    /// counts once).
    pub counted: bool,
    /// Log the part only once every part has run and the coordinator knows how many
    /// wrote (`cmd::coord_split`, DEL and UNLINK): a part that deleted nothing then
    /// logs nothing.
    pub defer_log: bool,
    /// Release this part's locks as soon as it has run, instead of at the coordinator's
    /// `Release` (`cmd::coord_split`, "One round trip"): set only when the coordinator
    /// holds its own part's locks until this part has answered, and it is the only
    /// other part.
    pub release_at_run: bool,
    /// Its keys' cache lines were warmed with the parts around it (`cmd::coord_split::
    /// warm_parts`): `run_part` need not warm them again. Cleared as it runs.
    pub warmed: bool,
    /// With a replica attached (MSET): the part's own command goes to the AOF only,
    /// and the stream gets, from the first part, the whole command as the client sent
    /// it (RESP-encoded, `stream_whole`), as Redis sends one MSET.
    pub aof_only: bool,
    pub stream_whole: Option<Vec<u8>>,
}

/// Hashes the table's u64 keys (already `key_hash` outputs, or transaction ids) with
/// one multiply: SipHash over a hash is most of what taking a split command's locks
/// cost. Also for maps keyed by ids this server hands out (coordinator ids, client
/// ids), which nobody outside chooses.
#[derive(Default)]
pub struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u64(&mut self, x: u64) {
        // Fibonacci hashing: the high bits (hashbrown's tags) mix every input bit.
        self.0 = (self.0 ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(26);
    }
}

pub type Mix = BuildHasherDefault<MixHasher>;

#[derive(Default)]
pub struct LockTable {
    /// Locked keys' hashes, once per holding (a transaction may list a key twice, e.g.
    /// `MSET a 1 a 2`: then twice).
    keys: LockKeys,
    whole: bool,
    /// Plans of granted transactions, to release them.
    granted: HashMap<u64, LockPlan, Mix>,
    queue: VecDeque<Waiting>,
    /// Released `Hashes` plans' vectors, for the next parts' plans (`hash_vec`): a
    /// steady load of split commands then allocates none.
    spare_hashes: Vec<Vec<u64>>,
    /// The vector `release` returns the granted requests in, back from the last
    /// release (`recycle_granted`): a release under load grants the parts queued
    /// behind it, and a new vector each time was an allocation, a growth and a free.
    spare_granted: Vec<Waiting>,
}

/// Released plan vectors kept at most (`LockTable::spare_hashes`), and the biggest kept.
/// As many as the split parts a shard keeps (`cmd::coord_split`): 8 connections
/// pipelining 16 two-shard MSETs have up to 256 parts, so plans, out on each shard,
/// and with 64 kept the rest were freed at their release and allocated again.
const SPARE_HASH_VECS: usize = 512;
const SPARE_HASH_CAPACITY: usize = 256;

impl LockTable {
    /// True when no lock is held or queued: the hot path checks only this.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.granted.is_empty() && self.queue.is_empty()
    }

    /// Would a command touching (db, key) have to wait?
    pub fn blocks(&self, db: u16, key: &[u8]) -> bool {
        if self.is_idle() {
            return false;
        }
        // Queued transactions also block newcomers: a command arriving after a lock
        // request must not run ahead of it on the keys it wants.
        self.whole || !self.queue.is_empty() || self.keys.contains(key_hash(db, key))
    }

    /// Could a lock request for `plan` be granted right now? A part that releases as it
    /// runs then runs without entering the table at all.
    pub fn grantable_now(&self, plan: &LockPlan) -> bool {
        self.is_idle() || (self.queue.is_empty() && self.grantable(plan))
    }

    /// Does a granted key lock hold (db, key)? (Whole-shard locks and queued requests
    /// aside: `repl::apply`.)
    pub fn key_held(&self, db: u16, key: &[u8]) -> bool {
        !self.keys.is_empty() && self.keys.contains(key_hash(db, key))
    }

    /// Does anything block a keyless command that reads the whole shard?
    pub fn blocks_all(&self) -> bool {
        !self.is_idle()
    }

    /// The transaction holding this shard whole, if one does (a whole lock is only
    /// granted alone, so it is the one granted plan).
    pub fn whole_holder(&self) -> Option<u64> {
        if self.whole { self.granted.keys().next().copied() } else { None }
    }

    fn grantable(&self, plan: &LockPlan) -> bool {
        if self.whole {
            return false;
        }
        match plan {
            LockPlan::Whole => self.granted.is_empty(),
            LockPlan::Keys(keys) => keys.iter().all(|(db, k)| !self.keys.contains(key_hash(*db, k))),
            LockPlan::Hashes(hashes) => {
                if self.keys.is_empty() {
                    return true;
                }
                for &h in hashes {
                    self.keys.prefetch(h);
                }
                hashes.iter().all(|&h| !self.keys.contains(h))
            }
        }
    }

    /// Takes the locks of `plan`, and keeps the plan to release them. A split part's
    /// hashes move into the table (the granted request needs them no more); other
    /// plans are copied (a gathering coordinator is answered with the keys).
    fn grant(&mut self, tx: u64, plan: &mut LockPlan) {
        match &*plan {
            LockPlan::Whole => self.whole = true,
            LockPlan::Keys(keys) => {
                for (db, k) in keys {
                    self.keys.insert(key_hash(*db, k));
                }
            }
            LockPlan::Hashes(hashes) => {
                for &h in hashes.iter() {
                    self.keys.prefetch(h);
                }
                for &h in hashes.iter() {
                    self.keys.insert(h);
                }
            }
        }
        let kept = match plan {
            LockPlan::Hashes(h) => LockPlan::Hashes(std::mem::take(h)),
            other => other.clone(),
        };
        self.granted.insert(tx, kept);
    }

    /// A new lock request. Returns it back if granted at once (the caller answers the
    /// coordinator); otherwise it waits in the queue.
    pub fn request(&mut self, mut w: Waiting) -> Option<Waiting> {
        if self.queue.is_empty() && self.try_grant(w.tx, &mut w.plan) {
            Some(w)
        } else {
            self.queue.push_back(w);
            None
        }
    }

    /// `grantable` and `grant` in one: a split part's keys take one probe each (an
    /// entry taken, or a conflict that undoes the ones taken before it) instead of a
    /// check and then an insert.
    fn try_grant(&mut self, tx: u64, plan: &mut LockPlan) -> bool {
        let LockPlan::Hashes(hashes) = plan else {
            if !self.grantable(plan) {
                return false;
            }
            self.grant(tx, plan);
            return true;
        };
        if self.whole {
            return false;
        }
        // Every key's place asked for first: their misses overlap.
        for &h in hashes.iter() {
            self.keys.prefetch(h);
        }
        for i in 0..hashes.len() {
            let h = hashes[i];
            if self.keys.insert_new(h) {
                continue;
            }
            if hashes[..i].contains(&h) {
                // The same key twice in one plan (`MSET a 1 a 2`): held twice.
                self.keys.insert(h);
                continue;
            }
            for &taken in &hashes[..i] {
                self.keys.remove(taken);
            }
            return false;
        }
        self.granted.insert(tx, LockPlan::Hashes(std::mem::take(hashes)));
        true
    }

    /// An empty vector for a `Hashes` plan (one a released plan left, if any).
    pub fn hash_vec(&mut self) -> Vec<u64> {
        self.spare_hashes.pop().unwrap_or_default()
    }

    /// Keeps a plan's vector for `hash_vec` (a plan that was never granted, or released).
    pub fn recycle(&mut self, plan: LockPlan) {
        if let LockPlan::Hashes(mut h) = plan
            && self.spare_hashes.len() < SPARE_HASH_VECS
            && h.capacity() > 0
            && h.capacity() <= SPARE_HASH_CAPACITY
        {
            h.clear();
            self.spare_hashes.push(h);
        }
    }

    /// Releases `tx`'s locks and returns the queued requests that are granted now, in
    /// order (give the vector back with `recycle_granted` once emptied).
    pub fn release(&mut self, tx: u64) -> Vec<Waiting> {
        if let Some(plan) = self.granted.remove(&tx) {
            match plan {
                LockPlan::Whole => self.whole = false,
                LockPlan::Keys(keys) => {
                    for (db, k) in keys {
                        self.keys.remove(key_hash(db, &k));
                    }
                }
                LockPlan::Hashes(hashes) => {
                    for &h in &hashes {
                        self.keys.prefetch(h);
                    }
                    for &h in &hashes {
                        self.keys.remove(h);
                    }
                    self.recycle(LockPlan::Hashes(hashes));
                }
            }
        }
        let mut granted = std::mem::take(&mut self.spare_granted);
        while let Some(head) = self.queue.front() {
            if !self.grantable(&head.plan) {
                break;
            }
            let mut w = self.queue.pop_front().expect("front exists");
            self.grant(w.tx, &mut w.plan);
            granted.push(w);
        }
        granted
    }

    /// Keeps the emptied vector of a `release` for the next one.
    pub fn recycle_granted(&mut self, granted: Vec<Waiting>) {
        if granted.is_empty() && granted.capacity() > self.spare_granted.capacity() {
            self.spare_granted = granted;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(tx: u64, keys: &[&str]) -> Waiting {
        Waiting {
            tx,
            coord: CoordRef { shard: 0, id: tx },
            plan: LockPlan::Keys(keys.iter().map(|k| (0, k.as_bytes().to_vec())).collect()),
            gather: false,
            run: None,
        }
    }

    #[test]
    fn grants_in_order_and_blocks_conflicts() {
        let mut t = LockTable::default();
        assert!(t.is_idle());
        assert!(t.request(req(1, &["a", "b"])).is_some());
        assert!(t.blocks(0, b"a"));
        assert!(t.request(req(2, &["b"])).is_none());
        // FIFO: a later non-conflicting request still waits behind the queued one.
        assert!(t.request(req(3, &["c"])).is_none());
        let g = t.release(1);
        assert_eq!(g.iter().map(|w| w.tx).collect::<Vec<_>>(), vec![2, 3]);
        t.release(2);
        t.release(3);
        assert!(t.is_idle());
        assert!(!t.blocks(0, b"a"));
    }

    #[test]
    fn whole_shard_lock_excludes_everything() {
        let mut t = LockTable::default();
        assert!(
            t.request(Waiting {
                tx: 1,
                coord: CoordRef { shard: 0, id: 1 },
                plan: LockPlan::Whole,
                gather: false,
                run: None
            })
            .is_some()
        );
        assert!(t.blocks(3, b"anything"));
        assert!(t.request(req(2, &["x"])).is_none());
        assert_eq!(t.release(1).len(), 1);
    }

    #[test]
    fn grantable_now_says_whether_a_request_would_wait() {
        let mut t = LockTable::default();
        let hashes = |keys: &[&str]| LockPlan::Hashes(keys.iter().map(|k| key_hash(0, k.as_bytes())).collect());
        assert!(t.grantable_now(&hashes(&["a"])));
        assert!(t.request(req(1, &["a"])).is_some());
        assert!(!t.grantable_now(&hashes(&["a", "b"])), "a is locked");
        assert!(t.grantable_now(&hashes(&["b"])));
        assert!(t.request(req(2, &["a"])).is_none());
        assert!(!t.grantable_now(&hashes(&["b"])), "a queued request goes first");
        assert_eq!(t.release(1).len(), 1);
        t.release(2);
        assert!(t.grantable_now(&hashes(&["a"])));
        // The same (db, key) hashes alike every time; another db does not collide.
        assert_eq!(key_hash(3, b"k"), key_hash(3, b"k"));
        assert_ne!(key_hash(3, b"k"), key_hash(4, b"k"));
    }

    fn part(tx: u64, keys: &[&str]) -> Waiting {
        Waiting {
            tx,
            coord: CoordRef { shard: 0, id: tx },
            plan: LockPlan::Hashes(keys.iter().map(|k| key_hash(0, k.as_bytes())).collect()),
            gather: false,
            run: None,
        }
    }

    #[test]
    fn a_part_that_conflicts_midway_takes_no_lock_and_waits() {
        let mut t = LockTable::default();
        assert!(t.request(part(1, &["c"])).is_some());
        // a and b are taken before c conflicts: both must be given back.
        assert!(t.request(part(2, &["a", "b", "c", "d"])).is_none());
        assert!(!t.key_held(0, b"a") && !t.key_held(0, b"b") && !t.key_held(0, b"d"));
        assert!(t.key_held(0, b"c"));
        let granted = t.release(1);
        assert_eq!(granted.iter().map(|w| w.tx).collect::<Vec<_>>(), vec![2]);
        assert!(["a", "b", "c", "d"].iter().all(|k| t.key_held(0, k.as_bytes())));
        t.release(2);
        assert!(t.is_idle());
        assert!(!["a", "b", "c", "d"].iter().any(|k| t.key_held(0, k.as_bytes())));
    }

    #[test]
    fn a_part_naming_a_key_twice_holds_it_until_released_and_its_vector_is_reused() {
        let mut t = LockTable::default();
        assert!(t.request(part(1, &["a", "b", "a"])).is_some(), "its own key twice is no conflict");
        assert!(t.blocks(0, b"a"));
        assert!(t.request(part(2, &["a"])).is_none());
        assert_eq!(t.release(1).len(), 1);
        assert!(t.key_held(0, b"a"), "held by 2 now");
        assert!(!t.key_held(0, b"b"));
        t.release(2);
        assert!(t.is_idle() && !t.key_held(0, b"a"));
        // Both plans' vectors came back, emptied.
        let v = t.hash_vec();
        assert!(v.is_empty() && v.capacity() > 0);
    }

    #[test]
    fn duplicate_keys_in_one_plan_release_cleanly() {
        let mut t = LockTable::default();
        assert!(t.request(req(1, &["a", "a"])).is_some());
        t.release(1);
        assert!(t.is_idle());
        assert!(!t.blocks(0, b"a"));
    }
}
