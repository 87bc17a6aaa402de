//! `dir/dbfilename` on disk: writing a snapshot file safely and loading it at start
//! (start-up routes each decoded key to its shard thread, which copies it into its own
//! memory: `load_routed`, `take_routed`).
//!
//! Writing goes to `dir/temp-<pid>.rdb` with plain blocking `write(2)` (this runs in a
//! forked child or under SAVE's stop, never on a ring), then fsync, rename over the
//! real name and fsync of the directory, so a crash leaves either the old file or the
//! new one, never a torn one.

use super::dbview::Loaded;
use crate::config::Config;
use crate::rdb::{self, DbSink, LoadOptions, LoadStats, LoadedKey, Sink, WriteOptions, WriteStats};
use crate::storage::Db;
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};

/// The snapshot file.
pub fn rdb_path(cfg: &Config) -> PathBuf {
    PathBuf::from(&cfg.dir).join(&cfg.dbfilename)
}

/// The temp file process `pid` writes before renaming.
pub fn temp_path(cfg: &Config, pid: u32) -> PathBuf {
    PathBuf::from(&cfg.dir).join(format!("temp-{pid}.rdb"))
}

/// A compatibility-only yes/no parameter's value.
pub fn flag(cfg: &Config, name: &str, default: bool) -> bool {
    cfg.compat.get(name).map(|v| v == "yes").unwrap_or(default)
}

/// Redis's `REDIS_AUTOSYNC_BYTES`: under `rdb-save-incremental-fsync` (snapshots) and
/// `aof-rewrite-incremental-fsync` (rewrite bases), the file being written is synced
/// each time this much more was written, so the final fsync does not meet hundreds of
/// megabytes of dirty pages at once (a latency spike for every other disk user).
pub const AUTOSYNC_BYTES: u64 = 4 << 20;

/// A file written with an fdatasync every `AUTOSYNC_BYTES` (or never, when off).
pub struct IncrementalSync {
    file: File,
    on: bool,
    unsynced: u64,
    /// fdatasyncs done while writing.
    pub syncs: u64,
}

impl IncrementalSync {
    pub fn new(file: File, on: bool) -> IncrementalSync {
        IncrementalSync { file, on, unsynced: 0, syncs: 0 }
    }

    pub fn into_inner(self) -> File {
        self.file
    }

    /// The verbose log line of a file that was synced on the way, if any.
    pub fn report(&self, what: &str) {
        if self.syncs > 0 {
            crate::util::log::verbose(&format!("{what}: {} incremental fsyncs while writing", self.syncs));
        }
    }
}

impl std::io::Write for IncrementalSync {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = std::io::Write::write(&mut self.file, buf)?;
        if self.on {
            self.unsynced += n as u64;
            if self.unsynced >= AUTOSYNC_BYTES {
                self.file.sync_data()?;
                self.unsynced = 0;
                self.syncs += 1;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut self.file)
    }
}

/// `rdb-key-save-delay` in microseconds (0 unless a test sets it).
pub fn key_save_delay_us(cfg: &Config) -> u64 {
    cfg.compat.get("rdb-key-save-delay").and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn write_options(cfg: &Config, now_ms: u64) -> WriteOptions {
    WriteOptions {
        compress: flag(cfg, "rdbcompression", true),
        checksum: flag(cfg, "rdbchecksum", true),
        compact: true,
        now_ms,
        // Redis writes idle times only under an LRU policy.
        idle: cfg.maxmemory_policy.contains("lru"),
        key_save_delay_us: key_save_delay_us(cfg),
        repl: None,
        functions: Vec::new(),
    }
}

/// Writes every shard's databases and the function libraries' code to
/// `dir/dbfilename` through a temp file, with the replication position
/// (`repl::fullsync::position_at_cut`) as aux fields if given.
pub fn save(
    dbs: &[&[Db]],
    functions: Vec<Vec<u8>>,
    cfg: &Config,
    now_ms: u64,
    repl: Option<crate::rdb::ReplPosition>,
) -> Result<WriteStats, String> {
    let tmp = temp_path(cfg, std::process::id());
    let r = save_via(dbs, functions, cfg, now_ms, &tmp, repl);
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

fn save_via(
    dbs: &[&[Db]],
    functions: Vec<Vec<u8>>,
    cfg: &Config,
    now_ms: u64,
    tmp: &std::path::Path,
    repl: Option<crate::rdb::ReplPosition>,
) -> Result<WriteStats, String> {
    let f = File::create(tmp).map_err(|e| {
        format!("Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}", tmp.display(), cfg.dir)
    })?;
    let opts = WriteOptions { repl, functions, ..write_options(cfg, now_ms) };
    let mut w = IncrementalSync::new(f, flag(cfg, "rdb-save-incremental-fsync", true));
    let stats = rdb::write_snapshot(dbs, &mut w, &opts).map_err(|e| format!("Write error saving DB on disk: {e}"))?;
    w.report("RDB");
    let f = w.into_inner();
    f.sync_all().map_err(|e| format!("Write error saving DB on disk (fsync): {e}"))?;
    drop(f);
    let dest = rdb_path(cfg);
    std::fs::rename(tmp, &dest).map_err(|e| {
        format!("Error moving temp DB file {} on the final destination {} : {e}", tmp.display(), dest.display())
    })?;
    // The rename is durable only once the directory entry is.
    if let Ok(d) = File::open(&cfg.dir) {
        let _ = d.sync_all();
    }
    Ok(stats)
}

/// Opens `dir/dbfilename` for start-up loading (`Ok(None)` when there is none).
pub fn open(cfg: &Config) -> Result<Option<File>, String> {
    let path = rdb_path(cfg);
    match File::open(&path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("Fatal error loading the DB {}: {e}. Exiting.", path.display())),
    }
}

/// Keys decoded on the loading thread, on their way to the shard thread that owns
/// them. Batches keep the channel traffic low; the bound keeps the loader at most a
/// few batches ahead of each shard.
pub type KeyBatch = Vec<LoadedKey>;
const BATCH: usize = 256;
pub const BATCHES_IN_FLIGHT: usize = 8;

/// Start-up loading with first-touch placement: decodes `f` here and sends each key
/// to its shard's channel (`txs[shard]`), where [`take_routed`] puts it in memory of
/// that shard's thread. Decoding stays on one thread (the file is one stream); the
/// copying and the inserts run on every shard at once. An `Err` means the caller
/// must discard what the shards received.
pub fn load_routed(cfg: &Config, f: File, txs: Vec<SyncSender<KeyBatch>>, now_ms: u64) -> Result<LoadStats, String> {
    let path = rdb_path(cfg);
    let nshards = txs.len();
    let mut router = Router { batches: (0..nshards).map(|_| Vec::with_capacity(BATCH)).collect(), txs, gone: false };
    let opts = LoadOptions {
        now_ms,
        skip_expired: true,
        databases: cfg.databases as u32,
        keep_expired: true,
        limits: cfg.encoding,
    };
    let r = rdb::load(f, &mut router, &opts).and_then(|stats| router.flush_all().map(|_| stats));
    r.map_err(|e| {
        if router.gone {
            format!("Fatal error loading the DB {}: a shard thread stopped taking keys. Exiting.", path.display())
        } else {
            format!("Fatal error loading the DB {}: {e}. Exiting.", path.display())
        }
    })
}

struct Router {
    txs: Vec<SyncSender<KeyBatch>>,
    batches: Vec<KeyBatch>,
    /// A shard dropped its receiver (it failed): stop loading.
    gone: bool,
}

impl Router {
    fn send(&mut self, s: usize) -> Result<(), String> {
        let batch = std::mem::replace(&mut self.batches[s], Vec::with_capacity(BATCH));
        self.txs[s].send(batch).map_err(|_| {
            self.gone = true;
            "shard thread gone".to_string()
        })
    }

    fn flush_all(&mut self) -> Result<(), rdb::Error> {
        for s in 0..self.batches.len() {
            if !self.batches[s].is_empty() {
                self.send(s).map_err(|m| rdb::Error::new(rdb::ErrorKind::Io, 0, m))?;
            }
        }
        Ok(())
    }
}

impl Sink for Router {
    fn key(&mut self, k: LoadedKey) -> Result<(), String> {
        let s = crate::shard::shard_of(&k.key, self.batches.len());
        self.batches[s].push(k);
        if self.batches[s].len() >= BATCH { self.send(s) } else { Ok(()) }
    }
}

/// The shard thread's side of [`load_routed`]: takes its keys until the loader is
/// done, copying each value into this thread's memory (the decoded original goes
/// back to the loader's heap), and returns its databases and key count. On `Err`
/// (a duplicate key) the receiver is dropped, which stops the loader.
pub fn take_routed(rx: Receiver<KeyBatch>, databases: usize, now_ms: u64) -> Result<(Vec<Db>, u64), String> {
    let mut dbs: Vec<Db> = (0..databases).map(|_| Db::new()).collect();
    let mut n = 0;
    let mut sink = DbSink { shards: std::slice::from_mut(&mut dbs), route: |_: &[u8]| 0, now_ms };
    for batch in rx {
        for mut k in batch {
            k.value = k.value.clone();
            sink.key(k)?;
            n += 1;
        }
    }
    Ok((dbs, n))
}

/// Loads `dir/dbfilename` into fresh per-shard databases (`Ok(None)` when there is no
/// file). Any error means nothing was loaded: the caller refuses to start.
pub fn load(cfg: &Config, nshards: usize, now_ms: u64) -> Result<Option<(Vec<Loaded>, LoadStats)>, String> {
    let path = rdb_path(cfg);
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("Fatal error loading the DB {}: {e}. Exiting.", path.display())),
    };
    let mut shards: Vec<Vec<Db>> = (0..nshards).map(|_| (0..cfg.databases).map(|_| Db::new()).collect()).collect();
    let opts = LoadOptions {
        now_ms,
        skip_expired: true,
        databases: cfg.databases as u32,
        keep_expired: false,
        limits: cfg.encoding,
    };
    let mut sink = DbSink { shards: &mut shards, route: |k: &[u8]| crate::shard::shard_of(k, nshards), now_ms };
    let stats = rdb::load(f, &mut sink, &opts)
        .map_err(|e| format!("Fatal error loading the DB {}: {e}. Exiting.", path.display()))?;
    Ok(Some((shards.into_iter().map(Loaded).collect(), stats)))
}
