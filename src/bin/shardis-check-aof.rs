//! `shardis-check-aof [--fix] <file.aof|file.manifest>`
//!
//! Checks an AOF file (or every file a manifest names): reports the offset of the first
//! byte that is not part of a complete command (a torn tail or an unfinished MULTI
//! block, or corruption). With `--fix`, truncates the file to the last good command.
//! An RDB base file (`aof-use-rdb-preamble yes`) is verified as a whole RDB (it cannot
//! be fixed by truncation). Exit status: 0 when everything is (now) valid, 1 otherwise.

use shardis::persist::files::Manifest;
use shardis::persist::load::{Tail, scan};
use std::path::{Path, PathBuf};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fix = args.iter().any(|a| a == "--fix");
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [target] = files.as_slice() else {
        eprintln!("Usage: shardis-check-aof [--fix] <file.aof|file.manifest>");
        std::process::exit(1);
    };
    let target = Path::new(target.as_str());
    let paths: Vec<PathBuf> = if target.extension().is_some_and(|e| e == "manifest") {
        let text =
            std::fs::read_to_string(target).unwrap_or_else(|e| fail(&format!("Cannot read {}: {e}", target.display())));
        let m = Manifest::parse(&text).unwrap_or_else(|e| fail(&e));
        let dir = target.parent().unwrap_or(Path::new("."));
        println!("Start checking Multi Part AOF");
        m.files.iter().map(|f| dir.join(&f.name)).collect()
    } else {
        vec![target.to_path_buf()]
    };
    let mut ok = true;
    for p in paths {
        ok &= check(&p, fix);
    }
    std::process::exit(if ok { 0 } else { 1 });
}

struct Discard;

impl shardis::rdb::Sink for Discard {
    fn key(&mut self, _k: shardis::rdb::LoadedKey) -> Result<(), String> {
        Ok(())
    }
}

fn check(path: &Path, fix: bool) -> bool {
    let b = std::fs::read(path).unwrap_or_else(|e| fail(&format!("Cannot open {}: {e}", path.display())));
    if shardis::persist::files::is_rdb(&path.to_string_lossy(), &b) {
        let opts = shardis::rdb::LoadOptions { databases: u32::MAX, ..Default::default() };
        return match shardis::rdb::load(b.as_slice(), &mut Discard, &opts) {
            Ok(_) => {
                println!("RDB preamble of {} is OK ({} bytes)", path.display(), b.len());
                true
            }
            Err(e) => {
                println!("RDB preamble of {} is not valid: {e}", path.display());
                false
            }
        };
    }
    let (at, what) = match scan(&b) {
        Tail::Clean => {
            println!("AOF {} is valid ({} bytes)", path.display(), b.len());
            return true;
        }
        Tail::Padded { at } => {
            println!(
                "AOF {} is valid ({at} bytes, then {} bytes of O_DIRECT padding that loading cuts off)",
                path.display(),
                b.len() - at
            );
            return true;
        }
        Tail::Truncated { at } => (at, "truncated (incomplete command or MULTI without EXEC)".to_string()),
        Tail::Bad { at, why } => (at, format!("corrupt: {why}")),
    };
    println!(
        "AOF analyzed: filename={}, size={}, ok_up_to={at}, diff={}: {what}",
        path.display(),
        b.len(),
        b.len() - at
    );
    if !fix {
        println!("AOF {} is not valid. Use the --fix option to try fixing it.", path.display());
        return false;
    }
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap_or_else(|e| fail(&e.to_string()));
    if let Err(e) = f.set_len(at as u64).and_then(|_| f.sync_all()) {
        fail(&format!("Failed to truncate AOF {}: {e}", path.display()));
    }
    println!("Successfully truncated AOF {} to offset {at}", path.display());
    true
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1);
}
