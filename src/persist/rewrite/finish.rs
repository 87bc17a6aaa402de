//! The reaped rewrite child: install the new file set, or keep the old one.

use super::{R, child::temp_name};
use crate::io::proc::Exit;
use crate::persist::files::{self, FileEntry, Kind, Manifest};
use crate::persist::snapstate::Child;
use crate::shard::Shared;
use crate::util::log;
use std::path::Path;
use std::sync::atomic::Ordering;

/// The reaped rewrite child: install the new set, or keep the old one.
pub fn done(shared: &Shared, c: Child, exit: Exit) {
    let rw = &shared.aofrw;
    let now = Shared::now_unix_ms();
    rw.last_cow_bytes.store(c.report.slot(crate::persist::snapstate::report::COW_BYTES).load(R), R);
    rw.last_secs.store(((now - c.started_ms.min(now)) / 1000) as i64, R);
    let cfg = shared.config();
    let dir = c.tmp.clone();
    let prefix = cfg.appendfilename.as_str();
    let nshards = shared.aof.len();
    let rdb_base = rw.rdb_base.load(R);
    let rotated = !rw.rotate_failed.swap(false, Ordering::SeqCst);
    let result = match exit {
        Exit::Code(0) if !c.killed && rotated => install(shared, &dir, prefix, nshards, c.seq, rdb_base),
        _ if c.killed => Err("Background AOF rewrite terminated by signal 10".to_string()),
        Exit::Code(_) if !rotated => Err("Background AOF rewrite: a shard kept its old file".to_string()),
        Exit::Code(_) => Err("Background AOF rewrite terminated with error".to_string()),
        Exit::Signal(s) => Err(format!("Background AOF rewrite terminated by signal {s}")),
    };
    match result {
        Ok(()) => {
            log::notice("Background AOF rewrite finished successfully");
            rw.last_ok.store(true, R);
            rw.failures.store(0, R);
            rw.rewrites.fetch_add(1, R);
            rw.waiting.store(false, R);
            rw.installed.store(c.seq, R);
        }
        Err(e) => {
            log::warning(&e);
            for s in 0..nshards {
                let _ = std::fs::remove_file(dir.join(temp_name(s, c.pid as u32)));
                let _ = std::fs::remove_file(dir.join(files::base_name(prefix, s, c.seq, rdb_base)));
            }
            if !c.killed {
                rw.last_ok.store(false, R);
                rw.failures.fetch_add(1, R);
                rw.last_fail_ms.store(now, R);
            }
            if rw.waiting.load(R) && cfg.appendonly {
                rw.scheduled.store(true, R);
            }
        }
    }
}

/// Writes the manifest naming only the new files and deletes everything else.
fn install(shared: &Shared, dir: &Path, prefix: &str, n: usize, seq: u64, rdb_base: bool) -> Result<(), String> {
    let mut m = Manifest::default();
    for s in 0..n {
        let base = files::base_name(prefix, s, seq, rdb_base);
        m.files.push(FileEntry { name: base, seq, kind: Kind::Base, shard: s });
        m.files.push(FileEntry { name: files::file_name(prefix, s, seq, Kind::Incr), seq, kind: Kind::Incr, shard: s });
    }
    // LATENCY: Redis's `aof-rename` times the rename that makes the new base current,
    // here the manifest's; its `aof-fstat` the stat of the new base for its size.
    let t = std::time::Instant::now();
    files::write_manifest(dir, prefix, &m).map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    let ms = |t: std::time::Instant| t.elapsed().as_millis() as u64;
    crate::cmd::latency::add_shared_sample_if_needed(shared, "aof-rename", ms(t));
    for (s, info) in shared.aof.iter().enumerate() {
        let base = dir.join(files::base_name(prefix, s, seq, rdb_base));
        let t = std::time::Instant::now();
        info.base_size.store(std::fs::metadata(base).map(|m| m.len()).unwrap_or(0), R);
        crate::cmd::latency::add_shared_sample_if_needed(shared, "aof-fstat", ms(t));
    }
    // Old bases and incrs, and incrs of earlier failed attempts: gone.
    let keep: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    let mname = files::manifest_name(prefix);
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = name.starts_with(&format!("{prefix}.")) || name.starts_with("temp-rewriteaof-");
            if ours && name != mname && !keep.contains(&name.as_str()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}
