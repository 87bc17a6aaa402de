//! `maxmemory`: key eviction and client eviction, per shard, against one server-wide
//! budget.
//!
//! The budget is the process's allocator figure (`io::alloc::used_bytes`, exact and
//! cheap to read) minus what Redis does not count for eviction (the AOF buffers). Every
//! shard sees the same figure, and every shard evicts only its own keys: a shard that
//! runs a command while the server is over the limit frees keys here until it is under
//! again, and every shard does the same in each loop turn (`turn`), so the memory goes
//! from the shards where the data is, in proportion to where the writes land. Two
//! shards evicting at once can overshoot by at most one slice each.
//!
//! Each round is bounded in time by `maxmemory-eviction-tenacity` (Redis's
//! `evictionTimeLimitUs`: 50 µs per step up to 10, then +15% per step, unbounded at
//! 100), checked every 16 keys, so a write burst never stalls the loop: a round that
//! runs out of time lets the command run (Redis's `EVICT_RUNNING`) and the next turn
//! goes on. Only when nothing at all can be evicted (`noeviction`, or no candidate key
//! on this shard) is the server out of memory, and `denyoom` commands are refused with
//! `OOM` (see `oom_refusal`, Redis's rules for MULTI/EXEC included).
//!
//! Evicted keys take the path of expired ones: `DEL` into the shard's log feed (AOF
//! and replication stream), WATCH invalidation, `evicted` keyspace events, and the
//! `evicted_keys` counter.
//!
//! Client eviction (`maxmemory-clients`, Redis 7.0): each shard publishes the memory
//! its clients hold (`ClientMeta::qbuf + omem` plus a fixed per-client cost); while the
//! server-wide sum is over the limit, each shard closes its biggest clients that did
//! not ask for `CLIENT NO-EVICT on`, and counts them in `evicted_clients`.

use super::{KeyEvent, ShardState};
use crate::config::{Config, notify};
use crate::storage::evict::Pool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Redis's reply when a `denyoom` command is refused.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// What a client costs beyond its buffers (the connection's state and its fixed
/// buffers), counted toward `maxmemory-clients`.
pub const CLIENT_BASE_BYTES: u64 = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub fn parse(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    fn volatile_only(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }

    fn random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }
}

/// The eviction settings, parsed once per config change.
#[derive(Clone, Debug)]
pub struct Settings {
    pub maxmemory: u64,
    pub policy: Policy,
    pub samples: usize,
    /// Time a round may take; `None` at tenacity 100 (no limit).
    pub round_limit: Option<Duration>,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    /// `maxmemory-clients` in bytes (a percentage is of `maxmemory`); 0 = off.
    pub clients_limit: u64,
    /// `replica-ignore-maxmemory`: while a replica, leave the budget to the master
    /// (whose DELs keep the copy the same) and never evict or refuse for it.
    pub replica_ignores: bool,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Settings {
        let compat = |name: &str| cfg.compat.get(name).map(String::as_str).unwrap_or("");
        let num = |name: &str, default: u64| compat(name).parse::<u64>().unwrap_or(default);
        let tenacity = num("maxmemory-eviction-tenacity", 10);
        let clients = compat("maxmemory-clients");
        let clients_limit = match clients.strip_suffix('%') {
            Some(p) => cfg.maxmemory.saturating_mul(p.parse::<u64>().unwrap_or(0)) / 100,
            None => clients.parse::<u64>().unwrap_or(0),
        };
        Settings {
            maxmemory: cfg.maxmemory,
            policy: Policy::parse(&cfg.maxmemory_policy),
            samples: (cfg.maxmemory_samples as usize).clamp(1, crate::storage::MAX_SAMPLES),
            round_limit: round_limit(tenacity),
            lfu_log_factor: num("lfu-log-factor", 10).min(u32::MAX as u64) as u32,
            lfu_decay_time: num("lfu-decay-time", 1).min(u32::MAX as u64) as u32,
            clients_limit,
            replica_ignores: compat("replica-ignore-maxmemory") != "no",
        }
    }
}

/// Redis's `evictionTimeLimitUs`.
fn round_limit(tenacity: u64) -> Option<Duration> {
    if tenacity <= 10 {
        Some(Duration::from_micros(50 * tenacity))
    } else if tenacity < 100 {
        Some(Duration::from_micros((500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64))
    } else {
        None
    }
}

/// A shard's eviction state.
pub struct EvictState {
    pub settings: Settings,
    pool: Pool,
    /// The last sampling's draw (kept to reuse its buffer).
    samples: Vec<crate::storage::Sample>,
    /// Next database the random policies draw from (round robin, as Redis).
    next_db: usize,
    /// When the server went over the limit as seen here, for INFO's
    /// `current_eviction_exceeded_time`.
    pub over_since_ms: Option<u64>,
    /// Milliseconds spent over the limit before, `total_eviction_exceeded_time`.
    pub exceeded_total_ms: u64,
    /// `evicted_keys` at the last page return (`cron`).
    evicted_at_collect: u64,
    last_collect_ms: u64,
}

impl EvictState {
    pub fn new(cfg: &Config) -> EvictState {
        keep_rss_near_used(cfg);
        EvictState {
            settings: Settings::from_config(cfg),
            pool: Pool::default(),
            samples: Vec::with_capacity(crate::storage::MAX_SAMPLES),
            next_db: 0,
            over_since_ms: None,
            exceeded_total_ms: 0,
            evicted_at_collect: 0,
            last_collect_ms: 0,
        }
    }

    /// The configuration changed.
    pub fn refresh(&mut self, cfg: &Config) {
        let old = self.settings.policy;
        keep_rss_near_used(cfg);
        self.settings = Settings::from_config(cfg);
        if old != self.settings.policy {
            self.pool.clear();
        }
    }
}

/// Set once transparent huge pages are off for the process (see `keep_rss_near_used`).
static THP_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns transparent huge pages off for the process once a `maxmemory` is set, as
/// `disable-thp yes` does (and `disable-thp no` does not prevent it).
///
/// Why: mimalloc asks for huge pages for its arenas, and a huge page is resident in
/// full as soon as one byte of it is touched and stays so while one live block is in
/// it. RSS then follows the allocator's address-space high-water mark in 2 MB steps
/// instead of `used_memory`: filling a 24 MB budget to 4x measured RSS 19 MB above
/// `used_memory` with huge pages and 5 MB without (1000-byte values, one shard), which
/// broke the budget the `volatile-*` eviction tests hold. A server with a memory
/// budget needs RSS to follow what it holds; the price is the slower fork of
/// `disable-thp yes` (see README, Persistence). Huge pages already faulted in stay.
fn keep_rss_near_used(cfg: &Config) {
    if cfg.maxmemory == 0 || THP_OFF.swap(true, Ordering::Relaxed) {
        return;
    }
    if let Err(e) = crate::io::proc::disable_thp() {
        crate::util::log::warning(&format!("Can't disable transparent huge pages for maxmemory: {e}"));
    }
}

/// Server-wide memory facts, in `Shared`.
pub struct MemShared {
    /// The highest `used_memory` seen (INFO `used_memory_peak`).
    pub peak: AtomicU64,
    /// `used_memory` once start-up was done (`used_memory_startup`).
    pub startup: AtomicU64,
    /// Per shard: what its clients hold, for `maxmemory-clients` and INFO.
    pub client_bytes: Vec<AtomicU64>,
    /// Per shard: keys held, refreshed every cron (MEMORY STATS `keys.count`).
    pub keys: Vec<AtomicU64>,
    /// Per shard: keys the policy could evict there, refreshed every loop turn while
    /// a limit is set (and every cron), so a shard can tell whether the others can
    /// still free memory.
    pub evictable: Vec<AtomicU64>,
}

impl MemShared {
    pub fn new(nshards: usize) -> MemShared {
        MemShared {
            peak: AtomicU64::new(0),
            startup: AtomicU64::new(0),
            client_bytes: (0..nshards).map(|_| AtomicU64::new(0)).collect(),
            keys: (0..nshards).map(|_| AtomicU64::new(0)).collect(),
            evictable: (0..nshards).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// `used_memory`, noting the peak on the way.
    pub fn used(&self) -> u64 {
        let used = crate::io::alloc::used_bytes();
        // Read first: a read-modify-write on every check would bounce the line
        // between shards.
        if used > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(used, Ordering::Relaxed);
        }
        used
    }

    pub fn clients_total(&self) -> u64 {
        self.client_bytes.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// Bytes that `used_memory` holds but eviction does not count: the AOF buffers
/// (Redis's `freeMemoryGetNotCountedMemory`; replica buffers join once replication
/// exists).
pub fn not_counted(st: &ShardState) -> u64 {
    buffered(&st.shared)
}

fn buffered(shared: &crate::shard::Shared) -> u64 {
    shared.aof.iter().map(|a| a.buffer_length.load(Ordering::Relaxed)).sum()
}

/// Over `maxmemory` now, as the `OOM` refusal counts it (the command's eviction round
/// ran already, on the thread that took it): a script's check of Redis's
/// `pre_command_oom_state`, made where the script runs. A replica that ignores the
/// limit (`replica-ignore-maxmemory`) is never over it.
pub fn over_limit(shared: &crate::shard::Shared, cfg: &crate::config::Config) -> bool {
    if cfg.maxmemory == 0 {
        return false;
    }
    let ignores = cfg.compat.get("replica-ignore-maxmemory").is_none_or(|v| v != "no");
    if ignores && shared.replica.is_replica.load(Ordering::Relaxed) {
        return false;
    }
    shared.mem.used().saturating_sub(buffered(shared)) > cfg.maxmemory
}

/// How far over `maxmemory` the server is, as eviction counts it (0 when under or
/// unlimited).
pub fn excess(st: &ShardState) -> u64 {
    excess_over(st, st.evict.settings.maxmemory)
}

fn excess_over(st: &ShardState, limit: u64) -> u64 {
    if st.evict.settings.maxmemory == 0 {
        return 0;
    }
    let used = st.shared.mem.used().saturating_sub(not_counted(st));
    used.saturating_sub(limit)
}

/// Eviction keeps the keys this much below the limit, so that the replies and
/// buffers of the commands that follow do not cross it (Redis frees to the limit
/// exactly and so hovers just above it). `OOM` still means over the limit itself.
fn headroom(max: u64) -> u64 {
    (max / 200).min(256 * 1024)
}

/// Result of an eviction round (Redis's `EVICT_OK`/`RUNNING`/`FAIL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    /// Under the limit (or no limit).
    Ok,
    /// Still over, but keys are being freed: commands may run.
    Running,
    /// Over, and nothing can be evicted here: refuse `denyoom` commands.
    Fail,
}

/// One bounded eviction round: frees this shard's keys while the server is over
/// `maxmemory`.
pub fn perform(st: &mut ShardState) -> Round {
    let max = st.evict.settings.maxmemory;
    if max == 0 || (st.evict.settings.replica_ignores && st.shared.replica.is_replica.load(Ordering::Relaxed)) {
        return Round::Ok;
    }
    // While clients are paused the dataset stays still (Redis's
    // `isSafeToPerformEvictions`): nothing is evicted, and nothing refused for it.
    if crate::storage::db::expiry_paused() {
        return Round::Ok;
    }
    // Keys are kept within the limit less a little headroom; only past the limit
    // itself is the server out of memory.
    let target = max - headroom(max);
    if excess_over(st, target) == 0 {
        if let Some(since) = st.evict.over_since_ms.take() {
            st.evict.exceeded_total_ms += st.now_ms.saturating_sub(since);
        }
        return Round::Ok;
    }
    let over = excess(st) > 0;
    let unless_over = |r: Round| if r == Round::Fail && !over { Round::Ok } else { r };
    if over {
        st.evict.over_since_ms.get_or_insert(st.now_ms);
    }
    let policy = st.evict.settings.policy;
    if policy == Policy::NoEviction {
        return unless_over(Round::Fail);
    }
    // This shard's share: a shard that holds far fewer candidates than the average
    // leaves the freeing to the others, so that a spike on one shard does not empty
    // another. The shard that runs a client's commands checks before each of them and
    // so frees first: without fresh counts from the others (`publish_evictable`, every
    // turn) it emptied itself and then answered OOM while they held thousands of keys
    // with a TTL (the `volatile-*` fill tests on 2 shards).
    let own = publish_evictable(st);
    let total: u64 = st.shared.mem.evictable.iter().map(|e| e.load(Ordering::Relaxed)).sum();
    if own == 0 || own * 2 * (st.nshards as u64) < total {
        if total > own {
            wake_evicting_shards(st);
            return unless_over(Round::Running);
        }
        return unless_over(Round::Fail);
    }
    if st.locks.whole_holder().is_some() {
        // A shard held whole evicts nothing until it is released (`evict_key`).
        return unless_over(Round::Running);
    }
    let start = Instant::now();
    let limit = st.evict.settings.round_limit;
    let mut events = Vec::new();
    let mut freed = 0u64;
    // Redis's `eviction-del` latency event times each deletion (only while the
    // latency monitor is on: a clock read per key otherwise).
    let timed = st.config.latency_monitor_threshold > 0;
    let result = loop {
        let Some((db, key)) = pick(st) else { break Round::Fail };
        let del_start = timed.then(Instant::now);
        let evicted = evict_key(st, db, &key);
        if let Some(t) = del_start {
            crate::cmd::latency::add_sample_if_needed(st, "eviction-del", t.elapsed().as_millis() as u64);
        }
        if evicted {
            freed += 1;
            if st.config.notify_mask & notify::EVICTED != 0 {
                events.push(KeyEvent { db: db as u16, event: "evicted", key: key.clone() });
            }
        }
        st.evict.pool.recycle(key);
        if excess_over(st, target) == 0 {
            break Round::Ok;
        }
        if freed.is_multiple_of(16) && limit.is_some_and(|l| start.elapsed() > l) {
            break Round::Running;
        }
    };
    crate::cmd::latency::add_sample_if_needed(st, "eviction-cycle", start.elapsed().as_millis() as u64);
    if !events.is_empty() {
        st.publish_events(&events);
    }
    st.account_expired();
    publish_evictable(st);
    if result == Round::Fail && excess(st) == 0 { Round::Ok } else { result }
}

/// Counts the keys the policy could evict on this shard and publishes the figure for
/// the other shards' share decisions (a store only when it changed: the others read
/// the line on every eviction check).
fn publish_evictable(st: &ShardState) -> u64 {
    let volatile = st.evict.settings.policy.volatile_only();
    let own: u64 = st.dbs.iter().map(|d| if volatile { d.volatile_len() } else { d.len() } as u64).sum();
    let slot = &st.shared.mem.evictable[st.id];
    if slot.load(Ordering::Relaxed) != own {
        slot.store(own, Ordering::Relaxed);
    }
    own
}

/// This shard leaves the freeing to the others: wake those that are parked and hold
/// candidates, so their turn (`turn`) evicts now rather than at their next cron.
fn wake_evicting_shards(st: &mut ShardState) {
    let shared = &st.shared;
    for other in 0..st.nshards {
        if other != st.id
            && shared.mem.evictable[other].load(Ordering::Relaxed) > 0
            && shared.parked[other].load(Ordering::SeqCst)
            && shared.parked[other].swap(false, Ordering::SeqCst)
        {
            st.wakes.push(other as u16);
        }
    }
}

/// Deletes an evicted key and propagates it. Returns false if it was gone already
/// (or had expired, which `account_expired` reports instead).
fn evict_key(st: &mut ShardState, db: usize, key: &[u8]) -> bool {
    // Not under a cross-shard transaction's lock: its DEL could reach the replication
    // stream ahead of the transaction (as for active expiry, `shard::turns`).
    if st.locks.whole_holder().is_some() || st.locks.key_held(db as u16, key) {
        return false;
    }
    if st.dbs[db].remove(key, st.now_ms).is_none() {
        return false;
    }
    st.stats.evicted_keys += 1;
    st.dirty += 1;
    if st.aof.active() {
        st.aof.feed(db as u16, &[&b"DEL"[..], key]);
    }
    if !st.watch.is_empty() {
        st.watch.touch(db as u16, key);
    }
    // Client-side caches drop evicted keys too (Redis invalidates every deletion).
    if crate::cmd::tracking::writes_matter(st) {
        crate::cmd::tracking::invalidate(st, std::iter::once(key), 0);
    }
    true
}

/// The next key to evict under the current policy, or None if there is none here.
/// The key comes in one of the pool's buffers: give it back (`Pool::recycle`).
fn pick(st: &mut ShardState) -> Option<(usize, Vec<u8>)> {
    let policy = st.evict.settings.policy;
    let volatile = policy.volatile_only();
    let ndb = st.dbs.len();
    let ev = &mut st.evict;
    if policy.random() {
        for i in 0..ndb {
            let db = (ev.next_db + i) % ndb;
            if let Some(k) = st.dbs[db].random_entry(volatile) {
                ev.next_db = (db + 1) % ndb;
                let mut buf = ev.pool.buffer();
                buf.extend_from_slice(&k);
                return Some((db, buf));
            }
        }
        return None;
    }
    // Sample, pool, take the best candidate that still exists; a few refills at most
    // (every pooled key may have been deleted since it was sampled).
    let samples = ev.settings.samples;
    for _ in 0..4 {
        let mut any = false;
        for (i, d) in st.dbs.iter_mut().enumerate() {
            let n = if volatile { d.volatile_len() } else { d.len() };
            if n == 0 {
                continue;
            }
            any = true;
            d.sample_into(volatile, samples, &mut ev.samples);
            let clock = d.access;
            for s in &ev.samples {
                let score = if policy == Policy::VolatileTtl {
                    u64::MAX - s.expire_at
                } else {
                    clock.idle_score(s.access_secs)
                };
                // Most samples of a full pool lose: skip reading their keys.
                if ev.pool.admits(score) {
                    ev.pool.offer(score, i as u16, &d.slot_key(s.slot));
                }
            }
        }
        if !any {
            ev.pool.clear();
            return None;
        }
        while let Some(c) = ev.pool.pop_best() {
            let db = c.db as usize;
            let d = &st.dbs[db];
            let Some(e) = d.peek(&c.key).filter(|e| !volatile || e.has_ttl()) else {
                ev.pool.recycle(c.key);
                continue;
            };
            // Accessed since it was sampled: its score is stale, and evicting it
            // would throw away a key that just proved hot. Put it back as it is now.
            if policy != Policy::VolatileTtl {
                let now = d.access.idle_score(e.access_secs);
                if now < c.score {
                    ev.pool.offer(now, c.db, &c.key);
                    ev.pool.recycle(c.key);
                    continue;
                }
            }
            return Some((db, c.key));
        }
    }
    None
}

/// The OOM check before a command, as Redis's `processCommand`: run an eviction round
/// (every command, while a limit is set), then refuse the command if memory could
/// not be freed and it is `denyoom` (EXEC counts as such when it queued one), or if
/// it would be queued in a MULTI. Returns true if the command must get `OOM`.
pub fn oom_refusal(st: &mut ShardState, denyoom: bool, queuing: bool) -> bool {
    let mut round = perform(st);
    if round == Round::Fail && (denyoom || queuing) && super::lazyfree::has_work() {
        round = free_pending_garbage(st);
    }
    round == Round::Fail && (denyoom || queuing)
}

/// The last resort before `OOM`, as Redis's: with nothing left to evict but lazily
/// freed values still pending, Redis waits up to one eviction round's time limit for
/// its lazy-free thread and checks the limit again. Here the garbage is this shard's
/// own (`lazyfree`), so it frees slices of it for that long instead (with no limit,
/// `maxmemory-eviction-tenacity 100`, until none is left) and checks again.
/// The time it takes is Redis's `eviction-lazyfree` latency event.
fn free_pending_garbage(st: &mut ShardState) -> Round {
    let start = Instant::now();
    let limit = st.evict.settings.round_limit;
    let mut round = Round::Fail;
    while super::lazyfree::has_work() && limit.is_none_or(|l| start.elapsed() <= l) {
        super::lazyfree::run_slice();
        if excess(st) == 0 {
            round = Round::Ok;
            break;
        }
    }
    crate::cmd::latency::add_sample_if_needed(st, "eviction-lazyfree", start.elapsed().as_millis() as u64);
    round
}

/// Per-turn work: an eviction round when over the limit, and client eviction.
pub fn turn(st: &mut ShardState) {
    if st.evict.settings.maxmemory > 0 {
        publish_evictable(st);
        perform(st);
    }
}

/// Cron work: publish this shard's key count and client memory, and close the biggest clients while `maxmemory-clients` is exceeded.
pub fn cron(st: &mut ShardState) {
    let mem = &st.shared.mem;
    let keys: usize = st.dbs.iter().map(|d| d.len()).sum();
    mem.keys[st.id].store(keys as u64, Ordering::Relaxed);
    publish_evictable(st);
    let mem = &st.shared.mem;
    let mine: u64 = st.clients.values().map(client_bytes).sum();
    mem.client_bytes[st.id].store(mine, Ordering::Relaxed);
    mem.used();
    // Evicted blocks are scattered over many pages: give the emptied ones back to
    // the OS now and then, so RSS follows used_memory down.
    if st.stats.evicted_keys != st.evict.evicted_at_collect && st.now_ms >= st.evict.last_collect_ms + 1000 {
        st.evict.evicted_at_collect = st.stats.evicted_keys;
        st.evict.last_collect_ms = st.now_ms;
        crate::io::alloc::collect_thread();
    }
    let limit = st.evict.settings.clients_limit;
    if limit == 0 {
        return;
    }
    let mut total = mem.clients_total();
    if total <= limit {
        return;
    }
    let mut candidates: Vec<(u64, u64)> = st
        .clients
        .values()
        .filter(|m| !m.no_evict && !m.kill && !st.kill_list.contains(&m.id))
        .map(|m| (client_bytes(m), m.id))
        .collect();
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    for (bytes, id) in candidates {
        if total <= limit {
            break;
        }
        total = total.saturating_sub(bytes);
        st.kill_list.push(id);
        st.stats.evicted_clients += 1;
        crate::util::log::notice(&format!("Evicting client: id={id} tot-mem={bytes} (maxmemory-clients)"));
    }
    let kept = st.clients.values().filter(|m| !st.kill_list.contains(&m.id)).map(client_bytes).sum();
    mem.client_bytes[st.id].store(kept, Ordering::Relaxed);
}

/// What a client holds, as `maxmemory-clients` counts it.
pub fn client_bytes(m: &super::state::ClientMeta) -> u64 {
    (m.qbuf + m.omem) as u64 + CLIENT_BASE_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_limit_follows_redis() {
        assert_eq!(round_limit(0), Some(Duration::ZERO));
        assert_eq!(round_limit(10), Some(Duration::from_micros(500)));
        assert_eq!(round_limit(11), Some(Duration::from_micros(575)));
        assert_eq!(round_limit(100), None);
    }

    #[test]
    fn settings_parse_percentages_and_policies() {
        let mut cfg = Config { maxmemory: 1000, maxmemory_policy: "volatile-lfu".into(), ..Default::default() };
        cfg.compat.insert("maxmemory-clients".into(), "10%".into());
        let s = Settings::from_config(&cfg);
        assert_eq!(s.clients_limit, 100);
        assert_eq!(s.policy, Policy::VolatileLfu);
        assert!(s.policy.is_lfu() && s.policy.volatile_only() && !s.policy.random());
        assert_eq!(Policy::parse("noeviction"), Policy::NoEviction);
    }
}
