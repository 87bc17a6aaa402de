//! Set commands against the real server, with 1 and 4 shards: membership, the three
//! encodings, random picks, SMOVE and the set algebra with STORE forms whose keys live
//! on different shards (run by the cross-shard coordinator), SINTERCARD and SSCAN.

use crate::common;

use common::{SHARD_COUNTS, Server};
use redis::Connection;
use std::collections::BTreeSet;

fn each(f: impl Fn(&mut Connection)) {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        f(&mut c);
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

fn encoding(c: &mut Connection, k: &str) -> String {
    redis::cmd("OBJECT").arg("ENCODING").arg(k).query(c).unwrap()
}

fn members(c: &mut Connection, k: &str) -> BTreeSet<String> {
    redis::cmd("SMEMBERS").arg(k).query(c).unwrap()
}

fn sadd(c: &mut Connection, k: &str, ms: &[&str]) -> i64 {
    redis::cmd("SADD").arg(k).arg(ms).query(c).unwrap()
}

fn set_of(ms: &[&str]) -> BTreeSet<String> {
    ms.iter().map(|s| s.to_string()).collect()
}

#[test]
fn membership_and_encodings() {
    each(|c| {
        assert_eq!(sadd(c, "s", &["1", "2", "3", "2"]), 3);
        assert_eq!(encoding(c, "s"), "intset");
        assert_eq!(sadd(c, "s", &["a"]), 1);
        // Redis 7.0 has no listpack sets and reports what it would use.
        assert_eq!(encoding(c, "s"), "hashtable");
        let long = "y".repeat(65);
        assert_eq!(sadd(c, "s", &[&long]), 1);
        assert_eq!(encoding(c, "s"), "hashtable");
        let n: i64 = redis::cmd("SCARD").arg("s").query(c).unwrap();
        assert_eq!(n, 5);
        let r: Vec<i64> = redis::cmd("SMISMEMBER").arg("s").arg("1").arg("z").arg("a").query(c).unwrap();
        assert_eq!(r, [1, 0, 1]);
        let n: i64 = redis::cmd("SREM").arg("s").arg("1").arg("2").arg("3").arg("a").arg(&long).query(c).unwrap();
        assert_eq!(n, 5);
        let n: i64 = redis::cmd("EXISTS").arg("s").query(c).unwrap();
        assert_eq!(n, 0);
        let ints: Vec<String> = (0..600).map(|i| i.to_string()).collect();
        let _: i64 = redis::cmd("SADD").arg("big").arg(&ints[..512]).query(c).unwrap();
        assert_eq!(encoding(c, "big"), "intset");
        let _: i64 = redis::cmd("SADD").arg("big").arg(&ints[512..]).query(c).unwrap();
        assert_eq!(encoding(c, "big"), "hashtable");
        let _: () = redis::cmd("SET").arg("str").arg("v").query(c).unwrap();
        assert_eq!(err(c, &["SADD", "str", "a"]), "WRONGTYPE Operation against a key holding the wrong kind of value");
    });
}

#[test]
fn random_picks() {
    each(|c| {
        let ms: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
        let _: i64 = redis::cmd("SADD").arg("s").arg(&ms).query(c).unwrap();
        let r: Vec<String> = redis::cmd("SRANDMEMBER").arg("s").arg(20).query(c).unwrap();
        assert_eq!(r.iter().collect::<BTreeSet<_>>().len(), 20);
        let r: Vec<String> = redis::cmd("SRANDMEMBER").arg("s").arg(-80).query(c).unwrap();
        assert_eq!(r.len(), 80);
        let popped: Vec<String> = redis::cmd("SPOP").arg("s").arg(45).query(c).unwrap();
        assert_eq!(popped.iter().collect::<BTreeSet<_>>().len(), 45);
        let n: i64 = redis::cmd("SCARD").arg("s").query(c).unwrap();
        assert_eq!(n, 5);
        let left = members(c, "s");
        assert!(popped.iter().all(|p| !left.contains(p)));
        assert_eq!(err(c, &["SPOP", "s", "-1"]), "ERR value is out of range, must be positive");
    });
}

#[test]
fn algebra_and_store_across_shards() {
    each(|c| {
        // Key names chosen freely: with 4 shards these land on different shards, so
        // the multi-key forms go through the cross-shard coordinator.
        sadd(c, "alpha", &["1", "2", "3", "x"]);
        sadd(c, "beta", &["2", "3", "4", "x"]);
        sadd(c, "gamma", &["3", "x", "z"]);
        let r: BTreeSet<String> = redis::cmd("SINTER").arg("alpha").arg("beta").arg("gamma").query(c).unwrap();
        assert_eq!(r, set_of(&["3", "x"]));
        let r: BTreeSet<String> = redis::cmd("SUNION").arg("alpha").arg("gamma").query(c).unwrap();
        assert_eq!(r, set_of(&["1", "2", "3", "x", "z"]));
        let r: BTreeSet<String> = redis::cmd("SDIFF").arg("alpha").arg("beta").query(c).unwrap();
        assert_eq!(r, set_of(&["1"]));
        let n: i64 = redis::cmd("SINTERCARD").arg(3).arg("alpha").arg("beta").arg("gamma").query(c).unwrap();
        assert_eq!(n, 2);
        let n: i64 = redis::cmd("SINTERCARD").arg(2).arg("alpha").arg("beta").arg("LIMIT").arg(1).query(c).unwrap();
        assert_eq!(n, 1);
        assert_eq!(err(c, &["SINTERCARD", "0", "alpha"]), "ERR numkeys should be greater than 0");
        assert_eq!(
            err(c, &["SINTERCARD", "5", "alpha", "beta"]),
            "ERR Number of keys can't be greater than number of args"
        );

        for (cmd, want) in [
            ("SINTERSTORE", set_of(&["2", "3", "x"])),
            ("SUNIONSTORE", set_of(&["1", "2", "3", "4", "x"])),
            ("SDIFFSTORE", set_of(&["1"])),
        ] {
            for dst in ["dest", "other:dest", "{alpha}dst"] {
                let n: i64 = redis::cmd(cmd).arg(dst).arg("alpha").arg("beta").query(c).unwrap();
                assert_eq!(n as usize, want.len(), "{cmd} {dst}");
                assert_eq!(members(c, dst), want, "{cmd} {dst}");
            }
        }
        let n: i64 = redis::cmd("SINTERSTORE").arg("dest").arg("alpha").arg("nokey").query(c).unwrap();
        assert_eq!(n, 0);
        let n: i64 = redis::cmd("EXISTS").arg("dest").query(c).unwrap();
        assert_eq!(n, 0);

        let n: i64 = redis::cmd("SMOVE").arg("alpha").arg("delta").arg("1").query(c).unwrap();
        assert_eq!(n, 1);
        assert_eq!(members(c, "delta"), set_of(&["1"]));
        assert_eq!(members(c, "alpha"), set_of(&["2", "3", "x"]));
    });
}

#[test]
fn sscan_full_iteration() {
    each(|c| {
        let ms: Vec<String> = (0..1000).map(|i| format!("member:{i}")).collect();
        let _: i64 = redis::cmd("SADD").arg("s").arg(&ms).query(c).unwrap();
        let mut cursor = 0u64;
        let mut seen = BTreeSet::new();
        let mut calls = 0;
        loop {
            let (next, items): (u64, Vec<String>) =
                redis::cmd("SSCAN").arg("s").arg(cursor).arg("MATCH").arg("member:1*").query(c).unwrap();
            seen.extend(items);
            calls += 1;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert!(calls > 10);
        // member:1, member:10..19, member:100..199
        assert_eq!(seen.len(), 1 + 10 + 100);
    });
}
