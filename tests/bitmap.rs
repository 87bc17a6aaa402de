//! Bitmap commands against the real server, with 1 and 4 shards: SETBIT/GETBIT,
//! BITCOUNT/BITPOS ranges, BITFIELD, and BITOP whose destination and sources live on
//! different shards (one atomic cross-shard transaction).

use crate::common;

use common::{SHARD_COUNTS, Server};
use redis::Connection;

fn each(f: impl Fn(&mut Connection, usize)) {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        f(&mut c, n);
    }
}

fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let e = cmd.query::<redis::Value>(c).expect_err("command must fail");
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn int(c: &mut Connection, args: &[&str]) -> i64 {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn get_raw(c: &mut Connection, k: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(k).query(c).unwrap()
}

/// `n` keys on pairwise different shards (as far as there are shards).
fn spread_keys(shards: usize, n: usize) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut used = vec![false; shards];
    for i in 0.. {
        let k = format!("bits{i}");
        let s = shardis::util::hash::shard_of(k.as_bytes(), shards);
        if used[s] && keys.len() < shards {
            continue;
        }
        used[s] = true;
        keys.push(k);
        if keys.len() == n {
            break;
        }
    }
    keys
}

#[test]
fn setbit_getbit_bitcount_bitpos() {
    each(|c, _| {
        assert_eq!(int(c, &["SETBIT", "bm", "7", "1"]), 0);
        assert_eq!(int(c, &["SETBIT", "bm", "7", "1"]), 1);
        assert_eq!(int(c, &["SETBIT", "bm", "100", "1"]), 0);
        assert_eq!(get_raw(c, "bm").unwrap().len(), 13);
        assert_eq!(int(c, &["GETBIT", "bm", "7"]), 1);
        assert_eq!(int(c, &["GETBIT", "bm", "8"]), 0);
        assert_eq!(int(c, &["BITCOUNT", "bm"]), 2);
        assert_eq!(int(c, &["BITCOUNT", "bm", "0", "0"]), 1);
        assert_eq!(int(c, &["BITCOUNT", "bm", "8", "-1", "BIT"]), 1);
        assert_eq!(int(c, &["BITPOS", "bm", "1"]), 7);
        assert_eq!(int(c, &["BITPOS", "bm", "1", "1"]), 100);
        assert_eq!(int(c, &["BITPOS", "bm", "0"]), 0);
        assert_eq!(int(c, &["BITPOS", "bm", "1", "8", "99", "bit"]), -1);
        assert_eq!(err(c, &["SETBIT", "bm", "-1", "1"]), "ERR bit offset is not an integer or out of range");
        assert_eq!(err(c, &["SETBIT", "bm", "4294967296", "1"]), "ERR bit offset is not an integer or out of range");
        assert_eq!(err(c, &["SETBIT", "bm", "1", "2"]), "ERR bit is not an integer or out of range");
        assert_eq!(err(c, &["BITPOS", "bm", "3"]), "ERR The bit argument must be 1 or 0.");
        assert_eq!(err(c, &["BITCOUNT", "bm", "0"]), "ERR syntax error");
        let _: i64 = redis::cmd("SADD").arg("set").arg("m").query(c).unwrap();
        assert_eq!(
            err(c, &["GETBIT", "set", "0"]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
    });
}

#[test]
fn bitfield_and_bitfield_ro() {
    each(|c, _| {
        let v: Vec<Option<i64>> = redis::cmd("BITFIELD")
            .arg(&[
                "bf", "SET", "i8", "0", "100", "INCRBY", "i8", "0", "100", "OVERFLOW", "FAIL", "INCRBY", "u2", "8", "4",
            ])
            .query(c)
            .unwrap();
        assert_eq!(v, vec![Some(0), Some(-56), None]);
        let v: Vec<i64> = redis::cmd("BITFIELD_RO").arg(&["bf", "GET", "u8", "0", "GET", "i8", "#0"]).query(c).unwrap();
        assert_eq!(v, vec![200, -56]);
        assert_eq!(get_raw(c, "bf"), Some(vec![200, 0]));
        assert_eq!(
            err(c, &["BITFIELD_RO", "bf", "SET", "u8", "0", "1"]),
            "ERR BITFIELD_RO only supports the GET subcommand"
        );
        assert_eq!(
            err(c, &["BITFIELD", "bf", "GET", "u64", "0"]),
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
        );
    });
}

#[test]
fn bitop_across_shards() {
    each(|c, shards| {
        let k = spread_keys(shards, 4);
        if shards > 1 {
            let distinct: std::collections::HashSet<usize> =
                k.iter().map(|k| shardis::util::hash::shard_of(k.as_bytes(), shards)).collect();
            assert_eq!(distinct.len(), 4, "the keys live on four shards");
        }
        let (a, b, x, dst) = (&k[0], &k[1], &k[2], &k[3]);
        let _: () = redis::cmd("SET").arg(a).arg(&[0xf0u8, 0x0f, 0xaa][..]).query(c).unwrap();
        let _: () = redis::cmd("SET").arg(b).arg(&[0xccu8, 0xff][..]).query(c).unwrap();
        let _: () = redis::cmd("SET").arg(x).arg(&[0x01u8][..]).query(c).unwrap();
        assert_eq!(int(c, &["BITOP", "AND", dst, a, b]), 3);
        assert_eq!(get_raw(c, dst), Some(vec![0xc0, 0x0f, 0x00]));
        assert_eq!(int(c, &["BITOP", "OR", dst, a, b, x]), 3);
        assert_eq!(get_raw(c, dst), Some(vec![0xfd, 0xff, 0xaa]));
        assert_eq!(int(c, &["BITOP", "XOR", dst, a, b, x]), 3);
        assert_eq!(get_raw(c, dst), Some(vec![0x3d, 0xf0, 0xaa]));
        assert_eq!(int(c, &["BITOP", "NOT", dst, b]), 2);
        assert_eq!(get_raw(c, dst), Some(vec![0x33, 0x00]));
        // The destination as a source, on its own shard.
        assert_eq!(int(c, &["BITOP", "OR", a, a, x]), 3);
        assert_eq!(get_raw(c, a), Some(vec![0xf1, 0x0f, 0xaa]));
        // Empty inputs delete the destination wherever it lives.
        assert_eq!(int(c, &["BITOP", "AND", dst, "nosuch1", "nosuch2"]), 0);
        assert_eq!(int(c, &["EXISTS", dst]), 0);
        assert_eq!(err(c, &["BITOP", "NOT", dst, a, b]), "ERR BITOP NOT must be called with a single source key.");
        let _: i64 = redis::cmd("DEL").arg(x).query(c).unwrap();
        let _: i64 = redis::cmd("LPUSH").arg(x).arg("z").query(c).unwrap();
        assert_eq!(
            err(c, &["BITOP", "OR", dst, a, x]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(int(c, &["EXISTS", dst]), 0);
    });
}
