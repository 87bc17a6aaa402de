//! Loading a full sync's RDB on the shard threads, the way start-up loading does
//! (`persist::startload`): the link thread decodes the one stream and routes each key
//! to its shard; each shard thread copies its keys into its own memory and builds a
//! second set of databases beside the ones it serves. Decoding and inserting run at
//! once, on different cores, instead of one after the other on the link thread.
//!
//! ```text
//!  link thread: rdb::load ──> Router ──> per-shard bounded channel ──┐
//!                                 └──> a drain hop in the shard's inbox (one queued
//!                                      at a time, woken with MSG_RING if parked)
//!  shard thread, between two inbox messages: take up to HOP_BATCHES batches into
//!  `ShardState::repl_load` (its own `Vec<Db>`), then go back to serving clients
//!  link thread, after the last key: a finish hop per shard hands back the built
//!  databases (`Loaded`), which shard 0 swaps in at one cut (`Task::Install`)
//! ```
//!
//! The shards keep serving the old dataset all along (`replica-serve-stale-data`), so
//! a hop does a bounded amount of work (`HOP_BATCHES` × `BATCH` keys, a few ms) and
//! then queues the next one behind the requests already waiting. The channel bound
//! keeps the decoder at most `IN_FLIGHT` batches ahead of each shard.
//!
//! Why a hop can never be missed: the shard clears `queued` before it drains; the
//! link thread sends a batch, then queues a hop unless `queued` was already set. So a
//! batch sent after the drain's last receive finds `queued` clear and queues a hop,
//! and one sent before it is taken by that drain.
//!
//! A failed load (corrupt or truncated RDB, a duplicate key, a new REPLICAOF) still
//! collects every shard's half-built databases and drops them on the link thread, so
//! no shard is left holding them and no shard spends its turns freeing them.

use crate::persist::dbview::Loaded;
use crate::rdb::{self, LoadOptions, LoadStats, LoadedKey, Sink};
use crate::shard::msg::{CoordRef, Hop, Msg};
use crate::shard::{ShardState, Shared};
use crate::storage::Db;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Keys per batch sent to a shard.
const BATCH: usize = 512;
/// Batches a shard may have waiting in its channel.
const IN_FLIGHT: usize = 8;
/// Batches one hop takes before letting the shard serve again.
const HOP_BATCHES: usize = 4;
/// A coordinator id nobody has: the `Ran` answers of these hops are dropped.
const NO_COORD: u64 = u64::MAX;

static LOAD_SEQ: AtomicU64 = AtomicU64::new(1);

/// What travels to a shard: its keys, or a RESIZEDB hint to presize its share.
enum Part {
    Keys(Vec<LoadedKey>),
    Resize { db: u32, keys: u64, expires: u64 },
}

/// A shard's databases being built, in `ShardState::repl_load`.
pub struct Building {
    load: u64,
    dbs: Vec<Db>,
    keys: u64,
    error: Option<String>,
}

/// One shard's channel and its drain hop's flag.
struct Feed {
    rx: Mutex<Receiver<Part>>,
    /// A drain hop is queued in the shard's inbox and has not started yet.
    queued: AtomicBool,
}

/// The parameters every hop of one load shares.
#[derive(Clone, Copy)]
struct Params {
    load: u64,
    databases: usize,
    nshards: usize,
    now_ms: u64,
}

/// Decodes `src` here (the link thread) while every shard thread inserts its own keys;
/// returns each shard's databases, or `Err` (the half-built ones are already
/// dropped). `alive` going false (a new REPLICAOF, shutdown) aborts the load.
pub fn load_on_shards<R: Read>(
    shared: &Arc<Shared>,
    src: R,
    opts: &LoadOptions,
    alive: &dyn Fn() -> bool,
) -> Result<(Vec<Loaded>, LoadStats), String> {
    let nshards = shared.nshards;
    let params = Params {
        load: LOAD_SEQ.fetch_add(1, Ordering::Relaxed),
        databases: opts.databases as usize,
        nshards,
        now_ms: opts.now_ms,
    };
    let mut txs = Vec::with_capacity(nshards);
    let mut feeds = Vec::with_capacity(nshards);
    for _ in 0..nshards {
        let (tx, rx) = std::sync::mpsc::sync_channel(IN_FLIGHT);
        txs.push(tx);
        feeds.push(Arc::new(Feed { rx: Mutex::new(rx), queued: AtomicBool::new(false) }));
    }
    let mut router = Router {
        shared,
        params,
        txs,
        feeds: &feeds,
        batches: (0..nshards).map(|_| Vec::with_capacity(BATCH)).collect(),
        alive,
        aborted: false,
    };
    let decoded = rdb::load(src, &mut router, opts).map_err(|e| e.to_string()).and_then(|stats| {
        router.flush_all()?;
        Ok(stats)
    });
    let aborted = router.aborted;
    // Every batch is in its channel: the finish hops, queued behind the drain hops,
    // take the rest and hand the databases back.
    drop(router);
    let built = collect(shared, params, &feeds);
    let stats = match decoded {
        Err(_) if aborted => return Err("Replication target changed during the load".into()),
        Err(e) => return Err(e),
        Ok(stats) => stats,
    };
    let built = built?;
    let keys: u64 = built.iter().map(|b| b.keys).sum();
    if keys != stats.keys {
        return Err(format!("the shards took {keys} keys of the {} decoded", stats.keys));
    }
    Ok((built.into_iter().map(|b| b.dbs).collect(), stats))
}

/// One shard's part once its finish hop ran: its databases, key count and error.
struct Built {
    dbs: Loaded,
    keys: u64,
    error: Option<String>,
}

/// Sends each shard its finish hop and waits for every shard's databases.
fn collect(shared: &Shared, params: Params, feeds: &[Arc<Feed>]) -> Result<Vec<Built>, String> {
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Option<Built>)>();
    for (s, feed) in feeds.iter().enumerate() {
        let feed = feed.clone();
        let tx = Mutex::new(tx.clone());
        let hop: Hop = Arc::new(move |st: &mut ShardState| {
            drain(st, &feed, params, usize::MAX);
            let mine = st.repl_load.take_if(|b| b.load == params.load);
            let built = mine.map(|b| Built { dbs: Loaded(b.dbs), keys: b.keys, error: b.error });
            let _ = tx.lock().unwrap_or_else(|e| e.into_inner()).send((st.id, built));
            Box::new(())
        });
        deliver(shared, s, hop);
    }
    drop(tx);
    let mut out: Vec<Option<Built>> = (0..feeds.len()).map(|_| None).collect();
    let mut got = 0;
    while got < feeds.len() {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok((s, b)) => {
                out[s] = Some(b.unwrap_or_else(|| Built {
                    dbs: Loaded((0..params.databases).map(|_| Db::new()).collect()),
                    keys: 0,
                    error: Some("a newer load replaced this one".into()),
                }));
                got += 1;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !shared.shutdown.load(Ordering::Relaxed) => {}
            Err(_) => return Err("shutting down".into()),
        }
    }
    let built: Vec<Built> = out.into_iter().flatten().collect();
    if let Some(e) = built.iter().find_map(|b| b.error.clone()) {
        return Err(e);
    }
    Ok(built)
}

impl Building {
    fn new(p: Params) -> Building {
        Building { load: p.load, dbs: (0..p.databases).map(|_| Db::new()).collect(), keys: 0, error: None }
    }

    fn take(&mut self, part: Part, p: Params) {
        if self.error.is_some() {
            return;
        }
        let mut sink =
            rdb::DbSink { shards: std::slice::from_mut(&mut self.dbs), route: |_: &[u8]| 0, now_ms: p.now_ms };
        match part {
            Part::Keys(keys) => {
                for mut k in keys {
                    // The decoded value lives in the link thread's memory: a copy puts
                    // it in this shard's (first touch, as start-up loading does).
                    k.value = k.value.clone();
                    if let Err(e) = sink.key(k) {
                        self.error = Some(e);
                        return;
                    }
                    self.keys += 1;
                }
            }
            // The hint counts the whole database; this shard holds its share.
            Part::Resize { db, keys, expires } => {
                let n = p.nshards.max(1) as u64;
                sink.resize_db(db, keys / n, expires / n)
            }
        }
    }
}

/// On the shard: takes up to `max_batches` waiting batches into this shard's
/// databases being built, and queues the next hop if it stopped with batches left.
fn drain(st: &mut ShardState, feed: &Arc<Feed>, p: Params, max_batches: usize) {
    feed.queued.store(false, Ordering::SeqCst);
    let rx = feed.rx.lock().unwrap_or_else(|e| e.into_inner());
    match st.repl_load.as_ref().map(|b| b.load) {
        // A load that a newer one replaced (its link thread is giving up): unblock it.
        Some(newer) if newer > p.load => {
            while rx.try_recv().is_ok() {}
            return;
        }
        Some(same) if same == p.load => {}
        _ => st.repl_load = Some(Building::new(p)),
    }
    let Some(building) = st.repl_load.as_mut() else { return };
    let mut taken = 0;
    while taken < max_batches {
        match rx.try_recv() {
            Ok(part) => building.take(part, p),
            Err(_) => return,
        }
        taken += 1;
    }
    drop(rx);
    // More may wait: go on after the requests queued meanwhile.
    if !feed.queued.swap(true, Ordering::SeqCst) {
        let me = st.id;
        st.outbox
            .push(me, Msg::Run { coord: CoordRef { shard: me as u16, id: NO_COORD }, hop: drain_hop(feed.clone(), p) });
    }
}

fn drain_hop(feed: Arc<Feed>, p: Params) -> Hop {
    Arc::new(move |st: &mut ShardState| {
        drain(st, &feed, p, HOP_BATCHES);
        Box::new(())
    })
}

/// Does no database of any shard hold a key? (`repl-diskless-load on-empty-db`'s
/// test, Redis's `dbTotalServerKeyCount() == 0`.) Asks every shard with a hop; `false`
/// when shutting down.
pub fn dataset_is_empty(shared: &Shared) -> bool {
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    for s in 0..shared.nshards {
        let tx = Mutex::new(tx.clone());
        let hop: Hop = Arc::new(move |st: &mut ShardState| {
            let empty = st.dbs.iter().all(|db| db.is_empty());
            let _ = tx.lock().unwrap_or_else(|e| e.into_inner()).send(empty);
            Box::new(())
        });
        deliver(shared, s, hop);
    }
    drop(tx);
    let mut answered = 0;
    while answered < shared.nshards {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(true) => answered += 1,
            Ok(false) => return false,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !shared.shutdown.load(Ordering::Relaxed) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Queues `hop` in shard `s`'s inbox, waking it if it is parked.
fn deliver(shared: &Shared, s: usize, hop: Hop) {
    if shared.deliver(s, vec![Msg::Run { coord: CoordRef { shard: s as u16, id: NO_COORD }, hop }]) {
        shared.wake_from_helper_thread(s);
    }
}

/// The decoder's sink: batches keys per shard and sends them, with backpressure.
struct Router<'a> {
    shared: &'a Shared,
    params: Params,
    txs: Vec<SyncSender<Part>>,
    feeds: &'a [Arc<Feed>],
    batches: Vec<Vec<LoadedKey>>,
    alive: &'a dyn Fn() -> bool,
    aborted: bool,
}

impl Router<'_> {
    fn send(&mut self, s: usize, mut part: Part) -> Result<(), String> {
        loop {
            match self.txs[s].try_send(part) {
                Ok(()) => break,
                Err(TrySendError::Full(p)) => {
                    if !(self.alive)() {
                        self.aborted = true;
                        return Err("load aborted".into());
                    }
                    part = p;
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(TrySendError::Disconnected(_)) => return Err("shard gone".into()),
            }
        }
        if !self.feeds[s].queued.swap(true, Ordering::SeqCst) {
            deliver(self.shared, s, drain_hop(self.feeds[s].clone(), self.params));
        }
        Ok(())
    }

    fn send_batch(&mut self, s: usize) -> Result<(), String> {
        let batch = std::mem::replace(&mut self.batches[s], Vec::with_capacity(BATCH));
        self.send(s, Part::Keys(batch))
    }

    fn flush_all(&mut self) -> Result<(), String> {
        for s in 0..self.batches.len() {
            if !self.batches[s].is_empty() {
                self.send_batch(s)?;
            }
        }
        Ok(())
    }
}

impl Sink for Router<'_> {
    fn key(&mut self, k: LoadedKey) -> Result<(), String> {
        let s = crate::shard::shard_of(&k.key, self.batches.len());
        self.batches[s].push(k);
        if self.batches[s].len() >= BATCH { self.send_batch(s) } else { Ok(()) }
    }

    fn resize_db(&mut self, db: u32, keys: u64, expires: u64) {
        for s in 0..self.txs.len() {
            let _ = self.send(s, Part::Resize { db, keys, expires });
        }
    }
}
