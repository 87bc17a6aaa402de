//! The rewrite child: one base file per shard from copy-on-write memory, each through a
//! temp file, fsync and rename, then `_exit`.

use crate::config::Config;
use crate::io::proc::{self, SharedPage};
use crate::persist::cut::World;
use crate::persist::files;
use crate::persist::snapstate::report;
use crate::util::log;

pub(super) fn temp_name(shard: usize, pid: u32) -> String {
    format!("temp-rewriteaof-s{shard}-{pid}")
}

/// The rewrite child: one base file per shard, then exit.
pub(super) fn child_main(w: &World, cfg: &Config, seq: u64, rdb_base: bool, now: u64, page: &SharedPage) -> ! {
    crate::persist::bgsave::place_child(cfg, "aof_rewrite_cpulist");
    let code = match write_bases(w, cfg, seq, rdb_base, now) {
        Ok(()) => {
            let cow = crate::persist::bgsave::private_dirty_bytes();
            page.slot(report::COW_BYTES).store(cow, std::sync::atomic::Ordering::Relaxed);
            log::notice(&format!("Fork CoW for AOF rewrite: current {} MB", cow >> 20));
            log::notice("Successfully created the temporary AOF base files");
            0
        }
        Err(e) => {
            log::warning(&e);
            1
        }
    };
    proc::exit_now(code)
}

fn write_bases(w: &World, cfg: &Config, seq: u64, rdb_base: bool, now: u64) -> Result<(), String> {
    let dir = files::aof_dir(cfg);
    let pid = std::process::id();
    for (s, dbs) in w.views().into_iter().enumerate() {
        let tmp = dir.join(temp_name(s, pid));
        let f = std::fs::File::create(&tmp).map_err(|e| format!("Opening the temp AOF file: {e}"))?;
        let incremental = crate::persist::rdbfile::flag(cfg, "aof-rewrite-incremental-fsync", true);
        let f = crate::persist::rdbfile::IncrementalSync::new(f, incremental);
        let mut bw = std::io::BufWriter::with_capacity(1 << 20, f);
        // The function libraries are server-wide: shard 0's base holds them.
        let functions = if s == 0 { w.function_codes() } else { Vec::new() };
        if rdb_base {
            let opts = crate::rdb::WriteOptions { functions, ..crate::persist::rdbfile::write_options(cfg, now) };
            crate::rdb::write_snapshot(&[dbs], &mut bw, &opts)
                .map_err(|e| format!("Write error writing the AOF base: {e}"))?;
        } else {
            for code in &functions {
                let mut b = Vec::new();
                crate::persist::resp::encode(&mut b, &[&b"FUNCTION"[..], b"LOAD", code]);
                std::io::Write::write_all(&mut bw, &b).map_err(|e| format!("Write error writing the AOF base: {e}"))?;
            }
            write_resp_base(dbs, &mut bw, crate::persist::rdbfile::key_save_delay_us(cfg))
                .map_err(|e| format!("Write error writing the AOF base: {e}"))?;
        }
        let f = bw.into_inner().map_err(|e| format!("Write error writing the AOF base: {e}"))?;
        f.report("AOF rewrite");
        let f = f.into_inner();
        f.sync_all().map_err(|e| format!("fsync of the AOF base: {e}"))?;
        let name = files::base_name(&cfg.appendfilename, s, seq, rdb_base);
        std::fs::rename(&tmp, dir.join(&name)).map_err(|e| format!("Renaming the AOF base {name}: {e}"))?;
    }
    files::fsync_dir(&dir).map_err(|e| format!("fsync of the AOF directory: {e}"))
}

/// A RESP base: per non-empty db a SELECT, then each key's state (`emit::key_state`).
fn write_resp_base(dbs: &[crate::storage::Db], w: &mut impl std::io::Write, delay_us: u64) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 16);
    for (d, db) in dbs.iter().enumerate().filter(|(_, db)| !db.is_empty()) {
        crate::persist::resp::encode(&mut buf, &[&b"SELECT"[..], d.to_string().as_bytes()]);
        for (k, e, expire_at) in db.iter_with_expire() {
            crate::rdb::key_save_delay(delay_us);
            crate::persist::emit::key_state(&mut buf, &k, &e.value, expire_at);
            if buf.len() >= 1 << 16 {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    w.write_all(&buf)
}
