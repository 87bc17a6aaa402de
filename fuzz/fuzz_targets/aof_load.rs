//! The AOF loader: tail scan (torn commands, O_DIRECT padding, corruption), cross-shard
//! transaction parts, and replay of arbitrary commands through the ordinary dispatch.
//!
//! Input layout: byte 0 bit 0 picks one or two shard files, bytes 1-2 (little endian)
//! where the second file starts; the rest is file content.
//! Invariants checked (beyond "no panic"):
//! - the dataset a load produces, written back as AOF base files (what a rewrite
//!   writes) and loaded again, is the same dataset: same keys in the same databases,
//!   same TTLs, same DEBUG DIGEST-VALUE per key.
//!
//! Commands that reach outside the process (SAVE, BGSAVE's fork, SHUTDOWN, DEBUG,
//! CONFIG, ...) are not replayed: inputs naming them are skipped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardis::cmd::debug::{Digest, object_digest};
use shardis::config::Config;
use shardis::persist::load::{base_bytes, load_in_memory};
use shardis::persist::resp::{Decoded, decode};
use shardis::storage::Entry;
use std::sync::LazyLock;

#[rustfmt::skip]
const SKIPPED: &[&[u8]] = &[
    b"save", b"bgsave", b"bgrewriteaof", b"shutdown", b"debug", b"config", b"monitor", b"sync", b"psync",
    b"replicaof", b"slaveof", b"failover", b"client", b"wait", b"waitaof", b"acl", b"module", b"subscribe",
    b"psubscribe", b"ssubscribe",
];

/// True if some complete command in `b` is one the fuzzer must not run.
fn names_skipped(b: &[u8]) -> bool {
    let mut pos = 0;
    while pos < b.len() {
        let Decoded::Cmd { args, len } = decode(&b[pos..]) else { return false };
        let name = b[pos + args[0].0..pos + args[0].1].to_ascii_lowercase();
        if SKIPPED.contains(&name.as_slice()) {
            return true;
        }
        pos += len;
    }
    false
}

static CONFIG: LazyLock<Config> = LazyLock::new(Config::default);

type Loaded = Vec<Vec<(u16, Vec<u8>, Entry)>>;

/// Every key as (db, key, TTL, value digest), in one order.
fn normalize(shards: &Loaded) -> Vec<(u16, Vec<u8>, u64, Digest)> {
    let mut v: Vec<_> = shards
        .iter()
        .flatten()
        .map(|(db, k, e)| (*db, k.clone(), e.expire_at, object_digest(Digest::default(), &e.value, e.expire_at != 0)))
        .collect();
    v.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    v
}

fuzz_target!(|data: &[u8]| {
    let [mode, lo, hi, content @ ..] = data else { return };
    let files: Vec<&[u8]> = if mode & 1 == 0 {
        vec![content]
    } else {
        let at = u16::from_le_bytes([*lo, *hi]) as usize % (content.len() + 1);
        vec![&content[..at], &content[at..]]
    };
    if files.iter().any(|f| names_skipped(f)) {
        return;
    }
    shardis::util::log::set_level("nothing");
    let cfg = &*CONFIG;
    let Ok(first) = load_in_memory(cfg, &files) else { return };
    let bases: Vec<Vec<u8>> =
        first.iter().map(|keys| base_bytes(keys.iter().map(|(d, k, e)| (*d, k.as_slice(), e)))).collect();
    let base_refs: Vec<&[u8]> = bases.iter().map(|b| b.as_slice()).collect();
    let second = load_in_memory(cfg, &base_refs).unwrap_or_else(|e| panic!("rewritten AOF does not load: {e}"));
    assert_eq!(normalize(&first), normalize(&second), "AOF rewrite -> load changed the dataset");
});
