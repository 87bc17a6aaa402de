//! String commands against the real server, with 1 and 4 shards: SET options, the INCR
//! family, APPEND/GETRANGE/SETRANGE, MSET/MGET over many keys (so across shards), LCS,
//! and expiry observed through reads.

use crate::common;

use common::{SHARD_COUNTS, Server, wait_until};
use redis::Connection;
use std::time::Duration;

/// Runs `f` against a fresh server of each shard count.
fn each(f: impl Fn(&mut Connection)) {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        f(&mut c);
    }
}

/// Runs a command that must fail and returns its full error text ("ERR syntax error").
fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let e = cmd.query::<redis::Value>(c).expect_err("command must fail");
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn get(c: &mut Connection, k: &str) -> Option<String> {
    redis::cmd("GET").arg(k).query(c).unwrap()
}

#[test]
fn set_options() {
    each(|c| {
        let ok: String = redis::cmd("SET").arg("k").arg("v").query(c).unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(get(c, "k").as_deref(), Some("v"));
        let r: Option<String> = redis::cmd("SET").arg("k").arg("x").arg("NX").query(c).unwrap();
        assert_eq!(r, None);
        let r: Option<String> = redis::cmd("SET").arg("absent").arg("x").arg("xx").query(c).unwrap();
        assert_eq!(r, None);
        assert_eq!(get(c, "absent"), None);
        let r: Option<String> = redis::cmd("SET").arg("k").arg("v2").arg("GET").query(c).unwrap();
        assert_eq!(r.as_deref(), Some("v"));
        let r: Option<String> = redis::cmd("SET").arg("k").arg("v3").arg("nx").arg("get").query(c).unwrap();
        assert_eq!(r.as_deref(), Some("v2"), "NX+GET returns the old value and sets nothing");
        assert_eq!(get(c, "k").as_deref(), Some("v2"));
        let ok: String = redis::cmd("SET").arg("k").arg("v4").arg("EX").arg("100").arg("XX").query(c).unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(err(c, &["SET", "k", "v", "NX", "XX"]), "ERR syntax error");
        assert_eq!(err(c, &["SET", "k", "v", "EX", "10", "PX", "10"]), "ERR syntax error");
        assert_eq!(err(c, &["SET", "k", "v", "KEEPTTL", "EX", "10"]), "ERR syntax error");
        assert_eq!(err(c, &["SET", "k", "v", "EX"]), "ERR syntax error");
        assert_eq!(err(c, &["SET", "k", "v", "EX", "0"]), "ERR invalid expire time in 'set' command");
        assert_eq!(err(c, &["SETEX", "k", "-1", "v"]), "ERR invalid expire time in 'setex' command");
        assert_eq!(err(c, &["SET", "k", "v", "PX", "abc"]), "ERR value is not an integer or out of range");
        assert_eq!(get(c, "k").as_deref(), Some("v4"));
        let n: i64 = redis::cmd("SETNX").arg("k").arg("z").query(c).unwrap();
        assert_eq!(n, 0);
        let n: i64 = redis::cmd("SETNX").arg("nk").arg("z").query(c).unwrap();
        assert_eq!(n, 1);
        let old: Option<String> = redis::cmd("GETSET").arg("nk").arg("y").query(c).unwrap();
        assert_eq!(old.as_deref(), Some("z"));
        let old: Option<String> = redis::cmd("GETDEL").arg("nk").query(c).unwrap();
        assert_eq!(old.as_deref(), Some("y"));
        assert_eq!(get(c, "nk"), None);
    });
}

#[test]
fn incr_family() {
    each(|c| {
        let n: i64 = redis::cmd("INCR").arg("n").query(c).unwrap();
        assert_eq!(n, 1);
        let n: i64 = redis::cmd("INCRBY").arg("n").arg(41).query(c).unwrap();
        assert_eq!(n, 42);
        let n: i64 = redis::cmd("DECR").arg("n").query(c).unwrap();
        assert_eq!(n, 41);
        let n: i64 = redis::cmd("DECRBY").arg("n").arg(50).query(c).unwrap();
        assert_eq!(n, -9);
        assert_eq!(get(c, "n").as_deref(), Some("-9"));
        let f: String = redis::cmd("INCRBYFLOAT").arg("n").arg("0.5").query(c).unwrap();
        assert_eq!(f, "-8.5");
        let f: String = redis::cmd("INCRBYFLOAT").arg("n").arg("8.5").query(c).unwrap();
        assert_eq!(f, "0");
        let _: () = redis::cmd("SET").arg("s").arg(" 1").query(c).unwrap();
        assert_eq!(err(c, &["INCR", "s"]), "ERR value is not an integer or out of range");
        assert_eq!(err(c, &["INCRBYFLOAT", "s", "1"]), "ERR value is not a valid float");
        assert_eq!(err(c, &["INCRBYFLOAT", "n", "inf"]), "ERR increment would produce NaN or Infinity");
        let _: () = redis::cmd("SET").arg("max").arg(i64::MAX).query(c).unwrap();
        assert_eq!(err(c, &["INCR", "max"]), "ERR increment or decrement would overflow");
        assert_eq!(err(c, &["DECRBY", "n", "-9223372036854775808"]), "ERR decrement would overflow");
    });
}

#[test]
fn append_getrange_setrange() {
    each(|c| {
        let n: i64 = redis::cmd("APPEND").arg("s").arg("Hello").query(c).unwrap();
        assert_eq!(n, 5);
        let n: i64 = redis::cmd("APPEND").arg("s").arg(" World").query(c).unwrap();
        assert_eq!(n, 11);
        let n: i64 = redis::cmd("STRLEN").arg("s").query(c).unwrap();
        assert_eq!(n, 11);
        for (a, b, want) in [(0, 4, "Hello"), (-5, -1, "World"), (0, -100, "H"), (5, 3, ""), (6, 1000, "World")] {
            let r: String = redis::cmd("GETRANGE").arg("s").arg(a).arg(b).query(c).unwrap();
            assert_eq!(r, want, "GETRANGE {a} {b}");
        }
        let r: String = redis::cmd("SUBSTR").arg("s").arg(0).arg(-1).query(c).unwrap();
        assert_eq!(r, "Hello World");
        let n: i64 = redis::cmd("SETRANGE").arg("s").arg(6).arg("Redis").query(c).unwrap();
        assert_eq!(n, 11);
        assert_eq!(get(c, "s").as_deref(), Some("Hello Redis"));
        let n: i64 = redis::cmd("SETRANGE").arg("pad").arg(3).arg("x").query(c).unwrap();
        assert_eq!(n, 4);
        let v: Vec<u8> = redis::cmd("GET").arg("pad").query(c).unwrap();
        assert_eq!(v, b"\0\0\0x");
        assert_eq!(err(c, &["SETRANGE", "s", "-1", "x"]), "ERR offset is out of range");
        assert_eq!(
            err(c, &["SETRANGE", "s", "536870912", "x"]),
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
        );
    });
}

#[test]
fn mset_mget_many_keys() {
    each(|c| {
        let pairs: Vec<(String, String)> = (0..300).map(|i| (format!("key:{i}"), format!("value-{i}"))).collect();
        let mut mset = redis::cmd("MSET");
        for (k, v) in &pairs {
            mset.arg(k).arg(v);
        }
        let ok: String = mset.query(c).unwrap();
        assert_eq!(ok, "OK");
        let mut mget = redis::cmd("MGET");
        for (k, _) in &pairs {
            mget.arg(k);
        }
        mget.arg("missing");
        let got: Vec<Option<String>> = mget.query(c).unwrap();
        let mut want: Vec<Option<String>> = pairs.iter().map(|(_, v)| Some(v.clone())).collect();
        want.push(None);
        assert_eq!(got, want);
        // MSETNX is all or nothing, whichever shards hold the keys.
        let n: i64 = redis::cmd("MSETNX").arg("nx:a").arg("1").arg("nx:b").arg("2").query(c).unwrap();
        assert_eq!(n, 1);
        let n: i64 = redis::cmd("MSETNX").arg("nx:c").arg("3").arg("key:7").arg("4").query(c).unwrap();
        assert_eq!(n, 0);
        assert_eq!(get(c, "nx:c"), None);
        assert_eq!(get(c, "key:7").as_deref(), Some("value-7"));
        assert_eq!(err(c, &["MSET", "a", "1", "b"]), "ERR wrong number of arguments for 'mset' command");
        // A pipeline mixing keys of every shard keeps its order.
        let mut p = redis::pipe();
        for i in 0..100 {
            p.cmd("INCR").arg(format!("ctr:{}", i % 10));
        }
        let counts: Vec<i64> = p.query(c).unwrap();
        let want: Vec<i64> = (0..100).map(|i| i / 10 + 1).collect();
        assert_eq!(counts, want);
    });
}

#[test]
fn lcs_across_keys() {
    each(|c| {
        let _: () = redis::cmd("MSET").arg("lcs:1").arg("ohmytext").arg("lcs:2").arg("mynewtext").query(c).unwrap();
        let r: String = redis::cmd("LCS").arg("lcs:1").arg("lcs:2").query(c).unwrap();
        assert_eq!(r, "mytext");
        let n: i64 = redis::cmd("LCS").arg("lcs:1").arg("lcs:2").arg("LEN").query(c).unwrap();
        assert_eq!(n, 6);
        let v: redis::Value =
            redis::cmd("LCS").arg("lcs:1").arg("lcs:2").arg("IDX").arg("MINMATCHLEN").arg(4).query(c).unwrap();
        let text = format!("{v:?}");
        assert!(text.contains("matches") && text.contains("len"), "{text}");
        assert_eq!(
            err(c, &["LCS", "lcs:1", "lcs:2", "LEN", "IDX"]),
            "ERR If you want both the length and indexes, please just use IDX."
        );
    });
}

#[test]
fn expiry_observed_through_reads() {
    each(|c| {
        let _: () = redis::cmd("SET").arg("short").arg("v").arg("PX").arg(100).query(c).unwrap();
        let _: () = redis::cmd("PSETEX").arg("short2").arg(100).arg("v").query(c).unwrap();
        // KEEPTTL keeps the deadline; a plain SET removes it.
        let _: () = redis::cmd("SET").arg("kept").arg("v").arg("PX").arg(100).query(c).unwrap();
        let _: () = redis::cmd("SET").arg("kept").arg("w").arg("KEEPTTL").query(c).unwrap();
        let _: () = redis::cmd("SET").arg("cleared").arg("v").arg("PX").arg(100).query(c).unwrap();
        let _: () = redis::cmd("SET").arg("cleared").arg("w").query(c).unwrap();
        let v: Option<String> = redis::cmd("GETEX").arg("getex").arg("PX").arg(100).query(c).unwrap();
        assert_eq!(v, None);
        let _: () = redis::cmd("SET").arg("getex").arg("v").query(c).unwrap();
        let v: Option<String> = redis::cmd("GETEX").arg("getex").arg("PX").arg(100).query(c).unwrap();
        assert_eq!(v.as_deref(), Some("v"));
        let gone = |c: &mut Connection, k: &str| get(c, k).is_none();
        assert!(wait_until(Duration::from_secs(10), || gone(c, "short")), "SET PX expired");
        assert!(wait_until(Duration::from_secs(10), || gone(c, "short2")), "PSETEX expired");
        assert!(wait_until(Duration::from_secs(10), || gone(c, "kept")), "KEEPTTL kept the TTL");
        assert!(wait_until(Duration::from_secs(10), || gone(c, "getex")), "GETEX set a TTL");
        assert_eq!(get(c, "cleared").as_deref(), Some("w"), "plain SET cleared the TTL");
        // An absolute time in the past: OK, and the key is gone.
        let ok: String = redis::cmd("SET").arg("past").arg("v").arg("PXAT").arg(1).query(c).unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(get(c, "past"), None);
    });
}
