//! Hash commands against the real server, with 1 and 4 shards: the HSET family, the
//! INCR pair, conversion from listpack to hashtable seen through OBJECT ENCODING,
//! HRANDFIELD, a full HSCAN of a large hash, RESP3 maps, and many hashes spread over
//! the shards in one pipeline.

use crate::common;

use common::{SHARD_COUNTS, Server};
use redis::Connection;
use std::collections::{BTreeMap, HashSet};

fn each(f: impl Fn(&mut Connection)) {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        f(&mut c);
    }
}

/// Runs a command that must fail and returns its full error text.
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

#[test]
fn basic_commands() {
    each(|c| {
        let n: i64 = redis::cmd("HSET").arg("h").arg("a").arg("1").arg("b").arg("2").query(c).unwrap();
        assert_eq!(n, 2);
        let v: Option<String> = redis::cmd("HGET").arg("h").arg("a").query(c).unwrap();
        assert_eq!(v.as_deref(), Some("1"));
        let v: Vec<Option<String>> = redis::cmd("HMGET").arg("h").arg("a").arg("x").arg("b").query(c).unwrap();
        assert_eq!(v, vec![Some("1".into()), None, Some("2".into())]);
        let all: BTreeMap<String, String> = redis::cmd("HGETALL").arg("h").query(c).unwrap();
        assert_eq!(all, BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]));
        let n: i64 = redis::cmd("HINCRBY").arg("h").arg("a").arg("41").query(c).unwrap();
        assert_eq!(n, 42);
        let f: String = redis::cmd("HINCRBYFLOAT").arg("h").arg("f").arg("2.5").query(c).unwrap();
        assert_eq!(f, "2.5");
        let n: i64 = redis::cmd("HSETNX").arg("h").arg("a").arg("9").query(c).unwrap();
        assert_eq!(n, 0);
        let n: i64 = redis::cmd("HSTRLEN").arg("h").arg("a").query(c).unwrap();
        assert_eq!(n, 2);
        let mut keys: Vec<String> = redis::cmd("HKEYS").arg("h").query(c).unwrap();
        keys.sort();
        assert_eq!(keys, ["a", "b", "f"]);
        let n: i64 = redis::cmd("HDEL").arg("h").arg("a").arg("b").arg("f").query(c).unwrap();
        assert_eq!(n, 3);
        let n: i64 = redis::cmd("EXISTS").arg("h").query(c).unwrap();
        assert_eq!(n, 0);
        let _: () = redis::cmd("SET").arg("s").arg("v").query(c).unwrap();
        assert_eq!(err(c, &["HGET", "s", "a"]), "WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(err(c, &["HSET", "h", "a"]), "ERR wrong number of arguments for 'hset' command");
        assert_eq!(err(c, &["HSET", "h", "a", "1", "b"]), "ERR wrong number of arguments for 'hset' command");
    });
}

#[test]
fn encoding_conversion_and_scan() {
    each(|c| {
        let mut pipe = redis::pipe();
        // Redis 7.0's built-in hash-max-listpack-entries is 512.
        for i in 0..512 {
            pipe.cmd("HSET").arg("h").arg(format!("field{i}")).arg(format!("value{i}")).ignore();
        }
        let _: () = pipe.query(c).unwrap();
        assert_eq!(encoding(c, "h"), "listpack");
        let _: i64 = redis::cmd("HSET").arg("h").arg("field512").arg("value512").query(c).unwrap();
        assert_eq!(encoding(c, "h"), "hashtable");
        let _: i64 = redis::cmd("HSET").arg("h2").arg("a").arg("x".repeat(65)).query(c).unwrap();
        assert_eq!(encoding(c, "h2"), "hashtable");

        // A full HSCAN sees every field exactly as stored.
        let mut cursor = 0u64;
        let mut seen = BTreeMap::new();
        loop {
            let (next, items): (u64, Vec<String>) =
                redis::cmd("HSCAN").arg("h").arg(cursor).arg("COUNT").arg(10).query(c).unwrap();
            for p in items.chunks(2) {
                seen.insert(p[0].clone(), p[1].clone());
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 513);
        assert!(seen.iter().all(|(f, v)| f[5..] == v[5..]));
    });
}

#[test]
fn hrandfield() {
    each(|c| {
        for i in 0..20 {
            let _: i64 = redis::cmd("HSET").arg("h").arg(format!("f{i}")).arg(i).query(c).unwrap();
        }
        let fields: Vec<String> = redis::cmd("HRANDFIELD").arg("h").arg(10).query(c).unwrap();
        assert_eq!(fields.iter().collect::<HashSet<_>>().len(), 10);
        let fields: Vec<String> = redis::cmd("HRANDFIELD").arg("h").arg(-50).query(c).unwrap();
        assert_eq!(fields.len(), 50);
        let pairs: Vec<String> = redis::cmd("HRANDFIELD").arg("h").arg(100).arg("WITHVALUES").query(c).unwrap();
        assert_eq!(pairs.len(), 40);
        let f: Option<String> = redis::cmd("HRANDFIELD").arg("nokey").query(c).unwrap();
        assert_eq!(f, None);
    });
}

#[test]
fn many_hashes_across_shards_and_resp3() {
    for n in SHARD_COUNTS {
        let s = Server::start(n, &[]);
        let mut c = s.conn();
        let mut pipe = redis::pipe();
        for i in 0..2000 {
            pipe.cmd("HSET").arg(format!("user:{i}")).arg("name").arg(format!("n{i}")).arg("age").arg(i).ignore();
        }
        let _: () = pipe.query(&mut c).unwrap();
        let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(size, 2000);
        let mut pipe = redis::pipe();
        for i in (0..2000).step_by(97) {
            pipe.cmd("HGET").arg(format!("user:{i}")).arg("age");
        }
        let ages: Vec<i64> = pipe.query(&mut c).unwrap();
        assert_eq!(ages, (0..2000).step_by(97).collect::<Vec<i64>>());

        // HGETALL is a map in RESP3.
        let mut t = s.tcp();
        use std::io::{Read, Write};
        t.write_all(b"HELLO 3\r\n").unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = t.read(&mut buf).unwrap();
        t.write_all(b"HGETALL user:7\r\n").unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"$1\r\n7\r\n") {
            let n = t.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"%2\r\n$4\r\nname\r\n$2\r\nn7\r\n$3\r\nage\r\n$1\r\n7\r\n");
    }
}
