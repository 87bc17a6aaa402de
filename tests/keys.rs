//! Generic key commands against the real server, with 1 and 4 shards: DEL/EXISTS/TYPE/
//! TOUCH, the EXPIRE and TTL families, RENAME/COPY/MOVE across shards and databases,
//! OBJECT and MEMORY USAGE, KEYS/RANDOMKEY, SCAN completeness, and both expiry paths
//! (active expiry of keys nobody reads, lazy expiry on access).

use crate::common;

use common::{SHARD_COUNTS, Server, wait_until};
use redis::Connection;
use std::collections::HashSet;
use std::time::Duration;

/// Runs `f` against a fresh server of each shard count.
fn each(extra: &[&str], f: impl Fn(&mut Connection)) {
    for n in SHARD_COUNTS {
        let s = Server::start(n, extra);
        let mut c = s.conn();
        f(&mut c);
    }
}

fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

fn int(c: &mut Connection, args: &[&str]) -> i64 {
    cmd(args).query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Runs a command that must fail and returns its full error text ("ERR syntax error").
fn err(c: &mut Connection, args: &[&str]) -> String {
    let e = cmd(args).query::<redis::Value>(c).expect_err("command must fail");
    format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or(""))
}

fn get(c: &mut Connection, k: &str) -> Option<String> {
    redis::cmd("GET").arg(k).query(c).unwrap()
}

fn dbsize(c: &mut Connection) -> i64 {
    int(c, &["DBSIZE"])
}

#[test]
fn del_exists_type_touch() {
    each(&[], |c| {
        let _: () = redis::cmd("MSET").arg(&["a", "1", "b", "2", "c", "3", "d", "4"]).query(c).unwrap();
        assert_eq!(int(c, &["EXISTS", "a", "a", "b", "zz"]), 3);
        let t: String = cmd(&["TYPE", "a"]).query(c).unwrap();
        assert_eq!(t, "string");
        let t: String = cmd(&["TYPE", "zz"]).query(c).unwrap();
        assert_eq!(t, "none");
        assert_eq!(int(c, &["TOUCH", "a", "b", "zz"]), 2);
        assert_eq!(int(c, &["DEL", "a", "b", "zz", "a"]), 2);
        assert_eq!(int(c, &["UNLINK", "c", "d"]), 2);
        assert_eq!(dbsize(c), 0);
        assert_eq!(err(c, &["DEL"]), "ERR wrong number of arguments for 'del' command");
    });
}

#[test]
fn expire_ttl_persist() {
    each(&[], |c| {
        let _: () = cmd(&["SET", "k", "v"]).query(c).unwrap();
        assert_eq!(int(c, &["TTL", "k"]), -1);
        assert_eq!(int(c, &["TTL", "missing"]), -2);
        assert_eq!(int(c, &["EXPIRE", "k", "100", "XX"]), 0);
        assert_eq!(int(c, &["EXPIRE", "k", "100", "NX"]), 1);
        let ttl = int(c, &["TTL", "k"]);
        assert!((99..=100).contains(&ttl), "{ttl}");
        assert_eq!(int(c, &["EXPIRE", "k", "50", "GT"]), 0);
        assert_eq!(int(c, &["EXPIRE", "k", "50", "LT"]), 1);
        let pttl = int(c, &["PTTL", "k"]);
        assert!((49_000..=50_000).contains(&pttl), "{pttl}");
        let at = int(c, &["PEXPIRETIME", "k"]);
        let secs = int(c, &["EXPIRETIME", "k"]);
        assert_eq!((at + 500) / 1000, secs);
        assert_eq!(int(c, &["PERSIST", "k"]), 1);
        assert_eq!(int(c, &["PEXPIRETIME", "k"]), -1);
        assert_eq!(
            err(c, &["EXPIRE", "k", "1", "NX", "XX"]),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            err(c, &["PEXPIRE", "k", "1", "GT", "LT"]),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(err(c, &["EXPIRE", "k", "9223372036854775807"]), "ERR invalid expire time in 'expire' command");
        assert_eq!(err(c, &["EXPIRE", "k", "1", "FOO"]), "ERR Unsupported option FOO");
        // A time in the past deletes.
        assert_eq!(int(c, &["EXPIREAT", "k", "1"]), 1);
        assert_eq!(get(c, "k"), None);
    });
}

#[test]
fn rename_copy_move_across_shards_and_dbs() {
    each(&[], |c| {
        // Many names, so that with 4 shards most pairs live on different shards.
        for i in 0..20 {
            let src = format!("src{i}");
            let dst = format!("dst{i}");
            let _: () = cmd(&["SET", &src, &i.to_string(), "PX", "100000"]).query(c).unwrap();
            let ok: String = cmd(&["RENAME", &src, &dst]).query(c).unwrap();
            assert_eq!(ok, "OK");
            assert_eq!(get(c, &dst), Some(i.to_string()));
            assert!(int(c, &["PTTL", &dst]) > 90_000, "TTL kept");
            assert_eq!(int(c, &["EXISTS", &src]), 0);
            assert_eq!(int(c, &["RENAMENX", &dst, &src]), 1);
            assert_eq!(int(c, &["COPY", &src, &dst]), 1);
            assert_eq!(int(c, &["COPY", &src, &dst]), 0);
            assert_eq!(int(c, &["COPY", &src, &dst, "DB", "2", "REPLACE"]), 1);
        }
        assert_eq!(err(c, &["RENAME", "nope", "x"]), "ERR no such key");
        assert_eq!(dbsize(c), 40);
        assert_eq!(int(c, &["MOVE", "src0", "1"]), 1);
        assert_eq!(int(c, &["MOVE", "src1", "2"]), 1);
        assert_eq!(int(c, &["MOVE", "dst1", "2"]), 0, "exists in the target db");
        assert_eq!(err(c, &["MOVE", "src2", "0"]), "ERR source and destination objects are the same");
        assert_eq!(err(c, &["MOVE", "src2", "16"]), "ERR DB index is out of range");
        assert_eq!(err(c, &["COPY", "src2", "dst2", "DB", "99"]), "ERR DB index is out of range");
        assert_eq!(dbsize(c), 38);
        let _: () = cmd(&["SELECT", "2"]).query(c).unwrap();
        assert_eq!(dbsize(c), 21);
        assert_eq!(get(c, "src1").as_deref(), Some("1"));
        let _: () = cmd(&["SELECT", "1"]).query(c).unwrap();
        assert_eq!(get(c, "src0").as_deref(), Some("0"));
    });
}

#[test]
fn object_memory_keys_randomkey() {
    each(&[], |c| {
        let none: Option<String> = cmd(&["RANDOMKEY"]).query(c).unwrap();
        assert_eq!(none, None);
        let _: () = redis::cmd("MSET").arg(&["n", "42", "s", "hello", "user:1", "a", "user:2", "b"]).query(c).unwrap();
        let enc: String = cmd(&["OBJECT", "ENCODING", "n"]).query(c).unwrap();
        assert_eq!(enc, "int");
        let enc: String = cmd(&["OBJECT", "ENCODING", "s"]).query(c).unwrap();
        assert_eq!(enc, "embstr");
        assert_eq!(int(c, &["OBJECT", "REFCOUNT", "n"]), 2147483647);
        assert_eq!(int(c, &["OBJECT", "REFCOUNT", "s"]), 1);
        assert!(int(c, &["OBJECT", "IDLETIME", "s"]) <= 1);
        assert!(err(c, &["OBJECT", "FREQ", "s"]).starts_with("ERR An LFU maxmemory policy is not selected"));
        assert_eq!(err(c, &["OBJECT", "NOPE", "s"]), "ERR unknown subcommand 'NOPE'. Try OBJECT HELP.");
        let missing: Option<String> = cmd(&["OBJECT", "ENCODING", "zz"]).query(c).unwrap();
        assert_eq!(missing, None);
        assert!(int(c, &["MEMORY", "USAGE", "s"]) > 5);
        let missing: Option<i64> = cmd(&["MEMORY", "USAGE", "zz"]).query(c).unwrap();
        assert_eq!(missing, None);
        let mut users: Vec<String> = cmd(&["KEYS", "user:*"]).query(c).unwrap();
        users.sort();
        assert_eq!(users, ["user:1", "user:2"]);
        let all: Vec<String> = cmd(&["KEYS", "*"]).query(c).unwrap();
        assert_eq!(all.len(), 4);
        let k: String = cmd(&["RANDOMKEY"]).query(c).unwrap();
        assert!(all.contains(&k));
    });
}

/// A full SCAN with the given options; returns every key returned, with repeats.
fn scan_all(c: &mut Connection, opts: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(opts);
        let (next, keys): (String, Vec<String>) = cmd(&args).query(c).unwrap();
        out.extend(keys);
        cursor = next;
        if cursor == "0" {
            return out;
        }
    }
    panic!("SCAN did not finish");
}

#[test]
fn scan_returns_every_key() {
    each(&[], |c| {
        let mut want = HashSet::new();
        let mut mset = redis::cmd("MSET");
        for i in 0..1000 {
            let k = format!("key:{i}");
            mset.arg(&k).arg(i);
            want.insert(k);
        }
        let _: () = mset.query(c).unwrap();
        let got = scan_all(c, &["COUNT", "10"]);
        let set: HashSet<String> = got.iter().cloned().collect();
        assert_eq!(set, want);
        assert_eq!(got.len(), 1000, "no churn, no repeats");
        let matched: HashSet<String> = scan_all(c, &["MATCH", "key:1??", "COUNT", "50"]).into_iter().collect();
        assert_eq!(matched.len(), 100);
        assert_eq!(scan_all(c, &["TYPE", "hash"]).len(), 0);
        assert_eq!(err(c, &["SCAN", "abc"]), "ERR invalid cursor");
        assert_eq!(err(c, &["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
    });
}

#[test]
fn active_expiry_removes_untouched_keys() {
    each(&[], |c| {
        for i in 0..100 {
            let _: () = cmd(&["SET", &format!("tmp:{i}"), "v", "PX", "100"]).query(c).unwrap();
        }
        let _: () = cmd(&["SET", "keep", "v"]).query(c).unwrap();
        // DBSIZE reads no key, so only the background cycle can bring it down.
        assert!(wait_until(Duration::from_secs(10), || dbsize(c) == 1), "expired keys still counted: {}", dbsize(c));
        assert_eq!(get(c, "keep").as_deref(), Some("v"));
    });
}

#[test]
fn lazy_expiry_on_access() {
    each(&["--enable-debug-command", "yes"], |c| {
        let ok: String = cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]).query(c).unwrap();
        assert_eq!(ok, "OK");
        for i in 0..20 {
            let _: () = cmd(&["SET", &format!("lazy:{i}"), "v", "PX", "50"]).query(c).unwrap();
        }
        // With the background cycle off, the keys stay counted until something reads
        // them, however long that takes; reads then see them gone. The last key set is
        // the last to expire, so once it reads as gone, all have passed their TTL.
        assert!(wait_until(Duration::from_secs(10), || get(c, "lazy:19").is_none()));
        assert_eq!(dbsize(c), 19, "only the key that was read has been removed");
        for i in 0..19 {
            assert_eq!(int(c, &["EXISTS", &format!("lazy:{i}")]), 0);
        }
        assert_eq!(dbsize(c), 0);
    });
}

/// EXPIRETIME/TTL of a key whose PXAT is near i64::MAX round up as Redis's do instead
/// of wrapping to a negative number. Found by `diff_random_keys`.
#[test]
fn expiretime_near_the_largest_pxat_rounds_like_redis() {
    let real = common::compare::real_redis("keys-expiretime-max");
    let s = common::Server::start(1, &[]);
    let mut p = common::compare::Pair::new(&s, &real, 2);
    p.same(&["set", "k", "v", "pxat", "9223372036854775807"]);
    p.same(&["expiretime", "k"]);
    p.same(&["pexpiretime", "k"]);
    p.same(&["pexpireat", "k", "9223372036854775000"]);
    p.same(&["expiretime", "k"]);
}
