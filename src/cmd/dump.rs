//! DUMP and RESTORE: a key's value in Redis's serialized form (an RDB value, the RDB
//! version and a CRC-64), so values move between shardis and Redis servers, or are
//! backed up per key. The format is `rdb`'s; this file is the command syntax and
//! Redis 7.0's checks, in its order (`cluster.c` restoreCommand).

use super::ctx::ExecCtx;
use super::table::flag::{DENYOOM, READONLY, WRITE};
use super::table::{CommandSpec, Handler, KeySpec};
use super::{Args, CmdError};
use crate::config::notify;
use crate::rdb::{self, PayloadError};
use crate::storage::Entry;
use crate::storage::evict::AccessClock;
use crate::util::num::parse_i64;

/// DUMP key: the payload, or nil if the key does not exist.
fn dump(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let now = c.now_ms;
    // Redis's DUMP compresses strings only under `rdbcompression yes` (the default).
    let compress = c.config.compat.get("rdbcompression").is_none_or(|v| v == "yes");
    let (db, out, stats) = c.parts();
    match db.get_touch(a.get(1), now) {
        Some(e) => {
            stats.keyspace_hits += 1;
            out.bulk(&rdb::dump_payload_compressed(&e.value, compress));
        }
        None => {
            stats.keyspace_misses += 1;
            out.null();
        }
    }
    Ok(())
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency].
pub(crate) fn restore(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < a.len() {
        let more = j + 1 < a.len();
        if a.is(j, "replace") {
            replace = true;
        } else if a.is(j, "absttl") {
            absttl = true;
        } else if a.is(j, "idletime") && more && freq.is_none() {
            let v = parse_i64(a.get(j + 1)).ok_or(CmdError::NotInteger)?;
            if v < 0 {
                return Err(CmdError::msg("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            j += 1;
        } else if a.is(j, "freq") && more && idle.is_none() {
            let v = parse_i64(a.get(j + 1)).ok_or(CmdError::NotInteger)?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::msg("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(v);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let key = a.get(1);
    let now = c.now_ms;
    if !replace && c.db().contains(key, now) {
        return Err(CmdError::msg("BUSYKEY Target key name already exists."));
    }
    let ttl = parse_i64(a.get(2)).ok_or(CmdError::NotInteger)?;
    if ttl < 0 {
        return Err(CmdError::msg("ERR Invalid TTL value, must be >= 0"));
    }
    let value = match rdb::restore_payload(a.get(3), &c.config.encoding) {
        Ok(v) => v,
        Err(PayloadError::VersionOrChecksum) => {
            return Err(CmdError::msg("ERR DUMP payload version or checksum are wrong"));
        }
        Err(PayloadError::BadData(_)) => return Err(CmdError::msg("ERR Bad data format")),
    };
    let deleted = replace && c.db().remove(key, now).is_some();
    let expire_at = match ttl {
        0 => 0,
        t if absttl => t as u64,
        t => now.saturating_add(t as u64),
    };
    if expire_at != 0 && expire_at <= now {
        // Already expired: the key is gone (deleted above if it existed), as Redis.
        if deleted {
            c.dirty += 1;
            c.notify(notify::GENERIC, "del", key);
        }
        c.out.ok();
        return Ok(());
    }
    let now_secs = (now / 1000) as u32;
    // As Redis: under an LFU policy FREQ sets the counter (IDLETIME is ignored), under
    // any other the idle time sets the last access (FREQ is ignored).
    let access_secs = if c.config.maxmemory_policy.ends_with("-lfu") {
        match freq {
            Some(f) => AccessClock::lfu_field(now_secs, f as u8),
            None => AccessClock::lfu_fresh(now_secs),
        }
    } else {
        match idle {
            Some(s) => now_secs.saturating_sub(s.min(u32::MAX as i64) as u32).max(1),
            None => now_secs,
        }
    };
    c.db().set_entry(key, Entry::with_meta(value, expire_at, access_secs));
    c.dirty += 1;
    c.notify(notify::GENERIC, "restore", key);
    c.out.ok();
    Ok(())
}

const ONE: KeySpec = KeySpec::Range { first: 1, last: 1, step: 1 };

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "dump",
        arity: 2,
        flags: READONLY,
        keys: ONE,
        handler: Handler::Keyed(dump),
        group: "generic",
        summary: "Returns a serialized representation of the value stored at a key.",
        since: "2.6.0",
    },
    CommandSpec {
        name: "restore",
        arity: -4,
        flags: WRITE | DENYOOM,
        keys: ONE,
        handler: Handler::Keyed(restore),
        group: "generic",
        summary: "Creates a key from the serialized representation of a value.",
        since: "2.6.0",
    },
];

#[cfg(test)]
mod tests {
    use crate::cmd::harness::{Harness, Reply};

    fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }

    fn payload(h: &mut Harness, key: &str) -> Vec<u8> {
        match h.run(&["dump", key]) {
            Reply::Bulk(b) => b,
            other => panic!("dump {key}: {other:?}"),
        }
    }

    fn restore(h: &mut Harness, args: &[&[u8]]) -> Reply {
        let mut v: Vec<&[u8]> = vec![b"restore"];
        v.extend_from_slice(args);
        let raw = h.run_raw(&v);
        crate::cmd::harness::decode(&raw).expect("one reply").0
    }

    #[test]
    fn dump_restore_every_type_across_shards() {
        for shards in [1, 3] {
            let mut h = Harness::new(shards);
            h.run(&["set", "s", "hello"]);
            h.run(&["rpush", "l", "a", "1", "b"]);
            h.run(&["sadd", "si", "1", "2", "3"]);
            h.run(&["sadd", "ss", "x", "y"]);
            h.run(&["zadd", "z", "1", "a", "2.5", "b"]);
            h.run(&["hset", "h", "f", "v", "g", "12"]);
            for (src, dst, read) in [
                ("s", "s2", vec!["get"]),
                ("l", "l2", vec!["lrange", "0", "-1"]),
                ("si", "si2", vec!["smembers"]),
                ("ss", "ss2", vec!["smembers"]),
                ("z", "z2", vec!["zrange", "0", "-1", "withscores"]),
                ("h", "h2", vec!["hgetall"]),
            ] {
                let p = payload(&mut h, src);
                assert_eq!(restore(&mut h, &[dst.as_bytes(), b"0", &p]), Reply::Simple("OK".into()));
                let with_key = |k: &'static str| {
                    let mut v = vec![read[0], k];
                    v.extend_from_slice(&read[1..]);
                    v
                };
                let (a, b) = (with_key(src), with_key(dst));
                assert_eq!(h.run(&a), h.run(&b), "{src}");
            }
            assert_eq!(h.run(&["dump", "missing"]), Reply::Nil);
        }
    }

    #[test]
    fn restore_options_and_errors() {
        let mut h = Harness::new(1);
        h.run(&["set", "k", "v"]);
        let p = payload(&mut h, "k");
        assert_eq!(restore(&mut h, &[b"k", b"0", &p]), err("BUSYKEY Target key name already exists."));
        assert_eq!(restore(&mut h, &[b"n", b"-1", &p]), err("ERR Invalid TTL value, must be >= 0"));
        assert_eq!(restore(&mut h, &[b"n", b"x", &p]), err("ERR value is not an integer or out of range"));
        assert_eq!(restore(&mut h, &[b"n", b"0", b"garbage"]), err("ERR DUMP payload version or checksum are wrong"));
        let mut bad = p.clone();
        bad[1] ^= 0x40;
        assert_eq!(restore(&mut h, &[b"n", b"0", &bad]), err("ERR DUMP payload version or checksum are wrong"));
        // A valid envelope around a bad body.
        let mut body = b"\x04\x01\x01a".to_vec();
        body.extend_from_slice(&10u16.to_le_bytes());
        let crc = crate::rdb::crc64::crc64(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(restore(&mut h, &[b"n", b"0", &body]), err("ERR Bad data format"));
        assert_eq!(restore(&mut h, &[b"n", b"0", &p, b"bogus"]), err("ERR syntax error"));
        assert_eq!(
            restore(&mut h, &[b"n", b"0", &p, b"idletime", b"-1"]),
            err("ERR Invalid IDLETIME value, must be >= 0")
        );
        assert_eq!(
            restore(&mut h, &[b"n", b"0", &p, b"freq", b"256"]),
            err("ERR Invalid FREQ value, must be >= 0 and <= 255")
        );
        assert_eq!(restore(&mut h, &[b"n", b"0", &p, b"idletime", b"1", b"freq", b"1"]), err("ERR syntax error"));
        // REPLACE, TTLs relative and absolute, IDLETIME.
        h.run(&["set", "k", "old"]);
        assert_eq!(restore(&mut h, &[b"k", b"5000", &p, b"replace", b"idletime", b"100"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["object", "idletime", "k"]), Reply::Int(100));
        assert_eq!(h.run(&["get", "k"]), Reply::bulk("v"));
        assert_eq!(h.run(&["pttl", "k"]), Reply::Int(5000));
        let at = (h.clock.now_ms() + 9000).to_string();
        assert_eq!(restore(&mut h, &[b"a", at.as_bytes(), &p, b"absttl"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["pttl", "a"]), Reply::Int(9000));
        // An absolute TTL in the past: OK, and the key (replaced) is gone.
        assert_eq!(restore(&mut h, &[b"a", b"1000", &p, b"absttl", b"replace"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["exists", "a"]), Reply::Int(0));
    }
}
