//! The keyspace-wide reads a script may run: DBSIZE, KEYS, SCAN and RANDOMKEY.
//!
//! Outside scripts these are fan-outs over every shard (`cmd::keys`, `cmd::server`).
//! A script runs on one shard's thread and cannot wait for the others, so it answers
//! them only where the whole keyspace is already in its reach:
//! - with one shard, the script's databases are the keyspace, so all four run as in
//!   Redis 7.0, SCAN with the same cursors a client's SCAN uses;
//! - in lock-all mode (`script_all`) every shard is stopped and lent to the script's
//!   thread, so DBSIZE and KEYS read each owner's keys, through the script's own
//!   changes (`script_all::keys`, `script_all::dbsize`);
//! - otherwise, and for SCAN and RANDOMKEY in lock-all mode, an error that says so
//!   (README, "Not supported yet", Scripting limits).
//!
//! The writes among the keyspace-wide commands (FLUSHALL, FLUSHDB, SWAPDB) stay
//! refused by `script::conn_from_script`.

use super::Args;
use super::scan_args::ScanArgs;
use crate::resp::ReplyWriter;
use crate::storage::Db;
use crate::util::glob::glob_match;

/// Is `name` one of the reads this module answers?
pub(super) fn handles(name: &str) -> bool {
    matches!(name, "dbsize" | "keys" | "scan" | "randomkey")
}

/// Where the script's keyspace is.
pub(super) enum Reach {
    /// One shard: `dbs` is the whole keyspace.
    Whole,
    /// Several shards, all stopped for a lock-all script; `dbs` is its scratch.
    LockAll,
    /// Several shards, the script holding only its declared keys.
    Declared,
}

/// Runs the read `name` (one `handles` accepts; its arity checked) for a script in
/// database `db`.
pub(super) fn run(
    name: &str,
    args: &Args,
    dbs: &mut [Db],
    db: usize,
    now_ms: u64,
    reach: Reach,
    mut w: ReplyWriter,
) -> Result<(), String> {
    let refused = || {
        let upper = name.to_ascii_uppercase();
        format!("ERR {upper} is not supported inside scripts by shardis: it spans every shard's keyspace")
    };
    match (reach, name) {
        (Reach::Whole, "dbsize") => w.int(dbs[db].len() as i64),
        (Reach::LockAll, "dbsize") => w.int(super::script_all::dbsize(dbs, db) as i64),
        (Reach::Whole, "keys") => {
            let pattern = args.get(1);
            let all = pattern == b"*";
            let found: Vec<Vec<u8>> = dbs[db]
                .live_keys(now_ms)
                .filter(|k| all || glob_match(pattern, k, false))
                .map(|k| k.to_vec())
                .collect();
            reply_keys(&mut w, &found);
        }
        (Reach::LockAll, "keys") => {
            let pattern = args.get(1);
            let all = pattern == b"*";
            let found = super::script_all::keys(dbs, db, now_ms, |k| all || glob_match(pattern, k, false));
            reply_keys(&mut w, &found);
        }
        (Reach::Whole, "scan") => {
            let scan = ScanArgs::parse(args).map_err(|e| e.message())?;
            let d = &mut dbs[db];
            let step = d.scan_expiring(scan.cursor, scan.count, now_ms, |k| scan.matches(k));
            let found: Vec<Vec<u8>> = step.keys.iter().filter(|k| scan.keeps(d, k)).map(|k| k.to_vec()).collect();
            w.array(2);
            w.bulk(step.next.to_string().as_bytes());
            reply_keys(&mut w, &found);
        }
        (Reach::Whole, "randomkey") => match dbs[db].random_key(now_ms) {
            Some(k) => w.bulk(&k),
            None => w.null(),
        },
        _ => return Err(refused()),
    }
    Ok(())
}

fn reply_keys(w: &mut ReplyWriter, keys: &[Vec<u8>]) {
    w.array(keys.len());
    for k in keys {
        w.bulk(k);
    }
}
