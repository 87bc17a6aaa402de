//! Start-up loading on the shard threads, so that every key's memory is first touched
//! (and placed, under a NUMA memory policy) by the thread that will serve it, never by
//! the main thread.
//!
//! - **RDB**: the main thread decodes `dir/dbfilename` (one stream) and routes each key
//!   to its shard's channel; each shard thread copies its keys into its own memory and
//!   builds its databases (`rdbfile::load_routed` / `take_routed`).
//! - **AOF**: the main thread reads and checks the files (`load::startup`); each shard
//!   thread replays its own through the ordinary dispatch (`load::replay_shard`). When
//!   the files were written by another shard count they are loaded on the main thread
//!   as before, and each shard copies its keys as it takes them (`Boot::rehome`).
//!
//! The order (`server::run`): the shard threads start and pin themselves, each runs
//! [`on_shard`], all meet the main thread at a barrier, the main thread checks every
//! outcome ([`finish`]: logs, statistics, strays, the replication position) and only
//! then lets them serve. Any failure stops start-up before a client is served.

use super::load::{self, ShardFiles, Start};
use super::rdbfile::{self, KeyBatch};
use crate::config::Config;
use crate::rdb::LoadStats;
use crate::shard::Shared;
use crate::storage::Entry;
use crate::util::log;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What one shard thread loads.
#[derive(Default)]
pub struct ShardInput {
    rdb: Option<Receiver<KeyBatch>>,
    aof: Option<ShardFiles>,
}

/// What a shard thread's load came to.
#[derive(Default)]
pub struct ShardOutcome {
    keys: u64,
    commands: u64,
    /// AOF: keys its replay left on other shards, by shard.
    strays: Vec<Vec<(u16, Vec<u8>, Entry)>>,
    /// AOF: the function libraries its files left.
    functions: Vec<Vec<u8>>,
}

/// Each shard thread's outcome, filled in as it finishes (None: it never started).
pub type Outcomes = Arc<Mutex<Vec<Option<Result<ShardOutcome, String>>>>>;

/// Prepared on the main thread before the shard threads start.
pub struct Plan {
    pub inputs: Vec<ShardInput>,
    rdb: Option<(std::fs::File, Vec<SyncSender<KeyBatch>>)>,
    aof_per_shard: bool,
    /// The function libraries an AOF loaded on the main thread left.
    aof_functions: Vec<Vec<u8>>,
    pub outcomes: Outcomes,
    started: Instant,
}

/// Reads and checks what there is to load (the AOF set if `appendonly`, else the RDB
/// file); `Err` (to log) stops start-up. Boots loaded here go straight to `shared`.
pub fn plan(config: &Config, nshards: usize, shared: &Shared) -> Result<Plan, String> {
    let started = Instant::now();
    let mut inputs: Vec<ShardInput> = (0..nshards).map(|_| ShardInput::default()).collect();
    *shared.aof_boot.lock().unwrap_or_else(|e| e.into_inner()) = (0..nshards).map(|_| None).collect();
    *shared.rdb.boot.lock().unwrap_or_else(|e| e.into_inner()) = (0..nshards).map(|_| None).collect();
    let mut rdb = None;
    let mut aof_per_shard = false;
    let mut aof_functions = Vec::new();
    if config.appendonly {
        // With the AOF on, the AOF is the dataset (as in Redis).
        match load::startup(config, nshards)? {
            Start::Loaded(boots, functions) => {
                aof_functions = functions;
                *shared.aof_boot.lock().unwrap_or_else(|e| e.into_inner()) = boots.into_iter().map(Some).collect();
            }
            Start::PerShard(files) => {
                aof_per_shard = true;
                for (input, f) in inputs.iter_mut().zip(files) {
                    input.aof = Some(f);
                }
            }
        }
    } else if let Some(f) = rdbfile::open(config)? {
        let mut txs = Vec::new();
        for input in inputs.iter_mut() {
            let (tx, rx) = std::sync::mpsc::sync_channel(rdbfile::BATCHES_IN_FLIGHT);
            txs.push(tx);
            input.rdb = Some(rx);
        }
        rdb = Some((f, txs));
    }
    let outcomes = Arc::new(Mutex::new((0..nshards).map(|_| None).collect()));
    Ok(Plan { inputs, rdb, aof_per_shard, aof_functions, outcomes, started })
}

/// A shard thread's part, before it serves: its keys into its own databases (left in
/// `shared` for `Worker::run` to take, on this same thread).
pub fn on_shard(
    id: usize,
    shared: &Shared,
    input: ShardInput,
    outcomes: &Mutex<Vec<Option<Result<ShardOutcome, String>>>>,
) {
    let cfg = shared.config();
    let run = || -> Result<ShardOutcome, String> {
        let mut out = ShardOutcome::default();
        if let Some(rx) = input.rdb {
            let (dbs, keys) = rdbfile::take_routed(rx, cfg.databases, Shared::now_unix_ms())?;
            out.keys = keys;
            shared.rdb.boot.lock().unwrap_or_else(|e| e.into_inner())[id] = Some(super::dbview::Loaded(dbs));
        }
        if let Some(files) = input.aof {
            let r = load::replay_shard(&cfg, shared.nshards, id, files)?;
            out.keys = r.boot.entries.len() as u64;
            out.commands = r.commands;
            out.strays = r.strays;
            out.functions = r.functions;
            shared.aof_boot.lock().unwrap_or_else(|e| e.into_inner())[id] = Some(r.boot);
        }
        Ok(out)
    };
    let r = run();
    outcomes.lock().unwrap_or_else(|e| e.into_inner())[id] = Some(r);
}

/// The main thread's part while the shard threads load: decoding the RDB file for
/// them. Returns its statistics (None without a file); `Err` is logged by [`finish`].
pub fn drive(plan: &mut Plan, config: &Config) -> Option<Result<LoadStats, String>> {
    let (f, txs) = plan.rdb.take()?;
    Some(rdbfile::load_routed(config, f, txs, Shared::now_unix_ms()))
}

/// After every shard thread is done: any failure is logged and ends start-up (false);
/// else the load is logged as Redis logs it, strays join their shards, and an RDB's
/// replication position is restored.
pub fn finish(mut plan: Plan, shared: &Arc<Shared>, config: &Config, rdb: Option<Result<LoadStats, String>>) -> bool {
    let mut outcomes: Vec<ShardOutcome> = Vec::new();
    let mut failed = false;
    // The decoder's error first: a shard's "loader gone" is its consequence.
    if let Some(Err(e)) = &rdb {
        log::warning(e);
        failed = true;
    }
    for o in plan.outcomes.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        match o {
            Some(Ok(o)) => outcomes.push(o),
            Some(Err(e)) => {
                log::warning(&e);
                failed = true;
            }
            // The shard thread could not start (it said why).
            None => failed = true,
        }
    }
    if failed {
        return false;
    }
    // The function libraries: the RDB's, or the AOF's (shard by shard, a later
    // shard's library replacing a same-named one). A library that fails to build
    // stops start-up, as in Redis.
    let mut functions = std::mem::take(&mut plan.aof_functions);
    if let Some(Ok(stats)) = &rdb {
        functions.extend(stats.functions.iter().cloned());
    }
    for o in &mut outcomes {
        functions.append(&mut o.functions);
    }
    if let Err(e) = crate::cmd::function::install_loaded(&shared.script, &functions, false) {
        log::warning(&format!("{e}. Exiting."));
        return false;
    }
    let keys: u64 = outcomes.iter().map(|o| o.keys).sum();
    let secs = plan.started.elapsed().as_secs_f64();
    if plan.aof_per_shard {
        let commands: u64 = outcomes.iter().map(|o| o.commands).sum();
        let mut boots = shared.aof_boot.lock().unwrap_or_else(|e| e.into_inner());
        let mut strays = 0;
        for o in outcomes {
            for (s, entries) in o.strays.into_iter().enumerate() {
                if let (false, Some(Some(b))) = (entries.is_empty(), boots.get_mut(s)) {
                    strays += entries.len();
                    b.entries.extend(entries);
                    b.rehome = true;
                }
            }
        }
        if strays > 0 {
            log::notice(&format!("AOF: {strays} keys replayed on another shard's files moved to their own shards"));
        }
        log::notice(&format!(
            "DB loaded from append only file: {secs:.3} seconds ({commands} commands, {} keys)",
            keys + strays as u64
        ));
    }
    if let Some(Ok(stats)) = rdb {
        log::notice(&format!("Done loading RDB, keys loaded: {keys}, keys expired: {}.", stats.expired_skipped));
        log::notice(&format!("DB loaded from disk: {secs:.3} seconds"));
        let aux = |n: &[u8]| stats.aux.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let num = |v: &[u8]| std::str::from_utf8(v).ok().and_then(|o| o.parse::<u64>().ok());
        if let (Some(id), Some(off)) = (aux(b"repl-id"), aux(b"repl-offset"))
            && id.len() == 40
            && let Some(off) = num(&off)
        {
            let stream_db = aux(b"repl-stream-db").and_then(|d| num(&d)).unwrap_or(0).min(u16::MAX as u64) as u16;
            if restore_repl(shared, config, (String::from_utf8_lossy(&id).into_owned(), off, stream_db)) {
                feed_expired(shared, config, &stats.expired_keys);
            }
        }
        shared.rdb.load_keys.store(keys, std::sync::atomic::Ordering::Relaxed);
        shared.rdb.load_expired.store(stats.expired_skipped, std::sync::atomic::Ordering::Relaxed);
    }
    true
}

/// The replication position an RDB carried. True when this server is a master that
/// now continues that history (its replicas may resync partially).
fn restore_repl(shared: &Arc<Shared>, config: &Config, (id, off, stream_db): crate::rdb::ReplPosition) -> bool {
    if config.compat_value("replicaof").is_some_and(|v| !v.is_empty()) {
        // A replica restarting from its own RDB (Redis's
        // `replicationCacheMasterUsingMyself`): it still holds the master's history up
        // to `off`, so its link asks PSYNC <id> <off+1> and continues partially
        // instead of a full sync.
        shared.replica.set_master_replid(&id);
        shared.replica.processed.store(off, std::sync::atomic::Ordering::Release);
        shared.replica.has_history.store(true, std::sync::atomic::Ordering::Release);
        shared.repl.reset_ids(id, "0".repeat(40), -1);
        shared.repl.offset.store(off, std::sync::atomic::Ordering::Release);
        // ... in the db its stream had selected (Redis's `repl-stream-db`).
        shared.replica.master_db.store(stream_db, std::sync::atomic::Ordering::Relaxed);
        crate::repl::master::start(shared);
        return false;
    }
    crate::repl::state::restore_from_rdb(&shared.repl, id, off);
    crate::repl::master::start(shared);
    true
}

/// The keys the load dropped because their TTL passed while the server was down go to
/// the backlog as DELs (UNLINK under `lazyfree-lazy-expire`), before any client
/// writes, as Redis 7.0's start-up load feeds them (`RDBFLAGS_FEED_REPL`): a replica
/// that continues partially still holds those keys, and the offset moves past them.
fn feed_expired(shared: &Shared, config: &Config, keys: &[(u16, Vec<u8>)]) {
    let verb: &[u8] = if config.lazyfree_lazy_expire { b"UNLINK" } else { b"DEL" };
    for run in keys.chunk_by(|a, b| a.0 == b.0) {
        let db = run[0].0;
        let mut bytes = Vec::new();
        for (_, key) in run {
            crate::persist::resp::encode(&mut bytes, &[verb, key.as_slice()]);
        }
        shared.repl.push(crate::repl::state::Segment::Stream { db, end_db: db, bytes });
    }
}
