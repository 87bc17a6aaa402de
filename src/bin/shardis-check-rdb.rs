//! shardis-check-rdb: verifies an RDB file (structure, every value, the CRC-64
//! trailer) and prints what it holds per type and database. On the first problem it
//! prints the problem and its byte offset and exits with status 1.
//!
//! Usage: shardis-check-rdb <file>

use shardis::rdb::{self, LoadOptions, LoadedKey, Sink, kind};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Default)]
struct Counter {
    /// keys and keys-with-TTL per database.
    dbs: BTreeMap<u32, (u64, u64)>,
    already_expired: u64,
    now_ms: u64,
}

impl Sink for Counter {
    fn key(&mut self, k: LoadedKey) -> Result<(), String> {
        let e = self.dbs.entry(k.db).or_default();
        e.0 += 1;
        if k.expire_at != 0 {
            e.1 += 1;
            if shardis::storage::has_expired(k.expire_at, self.now_ms) {
                self.already_expired += 1;
            }
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 || args[1] == "-h" || args[1] == "--help" {
        eprintln!("usage: shardis-check-rdb <file>");
        return ExitCode::from(2);
    }
    let path = &args[1];
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot open {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    println!("Checking RDB file {path}");
    let mut counter = Counter { now_ms, ..Default::default() };
    // Expired keys are kept, as in the file: this reports, it does not filter.
    let opts = LoadOptions { databases: u32::MAX, ..Default::default() };
    let result = rdb::load(file, &mut counter, &opts);
    for (db, (keys, expires)) in &counter.dbs {
        println!("db {db}: {keys} keys, {expires} with a TTL");
    }
    match result {
        Ok(stats) => {
            println!("RDB version {}", stats.version);
            for (k, v) in &stats.aux {
                println!("aux {} = {}", String::from_utf8_lossy(k), String::from_utf8_lossy(v));
            }
            for (t, n) in &stats.by_type {
                println!("{:<20} {n}", kind::name(*t));
            }
            if stats.empty_skipped > 0 {
                println!("empty collections (ignored on load): {}", stats.empty_skipped);
            }
            if counter.already_expired > 0 {
                println!("keys already expired (dropped on load): {}", counter.already_expired);
            }
            match stats.checksum {
                Some(c) => println!("checksum: OK ({c:016x})"),
                None => println!("checksum: not present (disabled or RDB version < 5)"),
            }
            println!("OK: {} keys, {} bytes", stats.keys, stats.bytes);
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error ({:?}): {} at offset {} (0x{:x})", e.kind, e.msg, e.offset, e.offset);
            println!("RDB file {path} is NOT valid");
            ExitCode::from(1)
        }
    }
}
