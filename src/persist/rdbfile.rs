//! `dir/dbfilename` on disk: writing a snapshot file safely and loading it at start.
//!
//! Writing goes to `dir/temp-<pid>.rdb` with plain blocking `write(2)` (this runs in a
//! forked child or under SAVE's stop, never on a ring), then fsync, rename over the
//! real name and fsync of the directory, so a crash leaves either the old file or the
//! new one, never a torn one.

use super::dbview::Loaded;
use crate::config::Config;
use crate::rdb::{self, DbSink, LoadOptions, LoadStats, WriteOptions, WriteStats};
use crate::storage::Db;
use std::fs::File;
use std::path::PathBuf;

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
    let mut f = File::create(tmp).map_err(|e| {
        format!("Failed opening the temp RDB file {} (in server root dir {}) for saving: {e}", tmp.display(), cfg.dir)
    })?;
    let opts = WriteOptions { repl, functions, ..write_options(cfg, now_ms) };
    let stats = rdb::write_snapshot(dbs, &mut f, &opts).map_err(|e| format!("Write error saving DB on disk: {e}"))?;
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
    let opts = LoadOptions { now_ms, skip_expired: true, databases: cfg.databases as u32 };
    let mut sink = DbSink { shards: &mut shards, route: |k: &[u8]| crate::shard::shard_of(k, nshards), now_ms };
    let stats = rdb::load(f, &mut sink, &opts)
        .map_err(|e| format!("Fatal error loading the DB {}: {e}. Exiting.", path.display()))?;
    Ok(Some((shards.into_iter().map(Loaded).collect(), stats)))
}
