//! Unit tests of the string commands (GET/SET family, counters, ranges, APPEND, LCS)
//! on 1- and 4-shard harnesses.

use crate::cmd::harness::shorthand::{arr, b, err, int, ok};
use crate::cmd::harness::{Harness, Reply};
use crate::shard::shard_of;

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

use crate::cmd::harness::each;

/// The stored absolute expiry of `key` in db 0 (None if absent, 0 if no TTL).
fn expire_of(h: &Harness, key: &str) -> Option<u64> {
    let s = shard_of(key.as_bytes(), h.shards.len());
    h.shards[s].dbs[0].peek_with_expire(key.as_bytes()).map(|(_, at)| at)
}

fn now(h: &Harness) -> u64 {
    h.clock.now_ms()
}

fn hits_misses(h: &Harness) -> (u64, u64) {
    h.shards.iter().fold((0, 0), |(a, b), s| (a + s.stats.keyspace_hits, b + s.stats.keyspace_misses))
}

fn dirty(h: &Harness) -> u64 {
    h.shards.iter().map(|s| s.dirty).sum()
}

/// Two keys that live on different shards when there are several.
fn split_keys(h: &Harness) -> (String, String) {
    let n = h.shards.len();
    let first = "k0".to_string();
    let other = (1..1000)
        .map(|i| format!("k{i}"))
        .find(|k| n == 1 || shard_of(k.as_bytes(), n) != shard_of(first.as_bytes(), n))
        .expect("some key on another shard");
    (first, other)
}

#[test]
fn get_and_plain_set() {
    each(|h| {
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
        assert_eq!(h.run(&["set", "k", "v"]), ok());
        assert_eq!(h.run(&["get", "k"]), b("v"));
        assert_eq!(h.run(&["set", "k", ""]), ok());
        assert_eq!(h.run(&["get", "k"]), b(""));
        assert_eq!(h.run(&["set", "k"]), err("ERR wrong number of arguments for 'set' command"));
        assert_eq!(h.run(&["get", "k", "x"]), err("ERR wrong number of arguments for 'get' command"));
        h.resp3();
        assert_eq!(h.run(&["get", "missing"]), Reply::Nil);
    });
}

#[test]
fn binary_safe_values() {
    let mut h = Harness::new(1);
    let v: &[u8] = b"a\r\n\0b";
    let raw = h.run_raw(&[b"set", b"bin", v]);
    assert_eq!(raw, b"+OK\r\n");
    assert_eq!(h.run_raw(&[b"get", b"bin"]), b"$5\r\na\r\n\0b\r\n");
}

#[test]
fn hits_misses_and_dirty() {
    each(|h| {
        h.run(&["set", "a", "1"]);
        let d0 = dirty(h);
        assert!(d0 >= 1);
        let (h0, m0) = hits_misses(h);
        h.run(&["get", "a"]);
        h.run(&["get", "nope"]);
        h.run(&["strlen", "a"]);
        h.run(&["getrange", "nope", "0", "1"]);
        assert_eq!(hits_misses(h), (h0 + 2, m0 + 2));
        h.run(&["mget", "a", "nope", "a"]);
        assert_eq!(hits_misses(h), (h0 + 4, m0 + 3));
        // Write lookups are not reads.
        h.run(&["incr", "a"]);
        h.run(&["append", "a", "x"]);
        assert_eq!(hits_misses(h), (h0 + 4, m0 + 3));
        // Reads do not dirty; a declined SET NX does not either.
        h.run(&["set", "a", "1", "nx"]);
        assert_eq!(dirty(h), d0 + 2);
    });
}

#[test]
fn set_nx_xx() {
    each(|h| {
        assert_eq!(h.run(&["set", "k", "1", "xx"]), Reply::Nil);
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
        assert_eq!(h.run(&["set", "k", "1", "NX"]), ok());
        assert_eq!(h.run(&["set", "k", "2", "nx"]), Reply::Nil);
        assert_eq!(h.run(&["get", "k"]), b("1"));
        assert_eq!(h.run(&["set", "k", "3", "Xx"]), ok());
        assert_eq!(h.run(&["get", "k"]), b("3"));
        assert_eq!(h.run(&["set", "k", "4", "nx", "xx"]), err(SYNTAX));
        assert_eq!(h.run(&["set", "k", "4", "xx", "nx"]), err(SYNTAX));
        // The same option twice is accepted, as in Redis.
        assert_eq!(h.run(&["set", "k", "4", "xx", "xx"]), ok());
        assert_eq!(h.run(&["set", "k", "4", "bogus"]), err(SYNTAX));
        assert_eq!(h.run(&["set", "k", "4", "persist"]), err(SYNTAX));
    });
}

#[test]
fn set_expire_options() {
    each(|h| {
        let t = now(h);
        assert_eq!(h.run(&["set", "k", "v", "ex", "10"]), ok());
        assert_eq!(expire_of(h, "k"), Some(t + 10_000));
        assert_eq!(h.run(&["set", "k", "v", "PX", "1500"]), ok());
        assert_eq!(expire_of(h, "k"), Some(t + 1500));
        let at = (t / 1000 + 100).to_string();
        assert_eq!(h.run(&["set", "k", "v", "exat", &at]), ok());
        assert_eq!(expire_of(h, "k"), Some((t / 1000 + 100) * 1000));
        let pat = (t + 12345).to_string();
        assert_eq!(h.run(&["set", "k", "v", "pxat", &pat]), ok());
        assert_eq!(expire_of(h, "k"), Some(t + 12345));
        // The same expire option twice: the last one wins.
        assert_eq!(h.run(&["set", "k", "v", "ex", "10", "ex", "20"]), ok());
        assert_eq!(expire_of(h, "k"), Some(t + 20_000));
        // Plain SET drops the TTL; KEEPTTL keeps it.
        assert_eq!(h.run(&["set", "k", "v", "keepttl"]), ok());
        assert_eq!(expire_of(h, "k"), Some(t + 20_000));
        assert_eq!(h.run(&["set", "k", "w"]), ok());
        assert_eq!(expire_of(h, "k"), Some(0));
        assert_eq!(h.run(&["set", "new", "v", "keepttl"]), ok());
        assert_eq!(expire_of(h, "new"), Some(0));
        // Expire options with NX/XX/GET in any order.
        assert_eq!(h.run(&["set", "k", "v2", "px", "100", "xx", "get"]), b("w"));
        assert_eq!(expire_of(h, "k"), Some(t + 100));
    });
}

#[test]
fn set_option_conflicts_and_bad_expires() {
    each(|h| {
        for opts in [
            &["ex", "1", "px", "1"][..],
            &["px", "1", "exat", "1"],
            &["exat", "1", "pxat", "1"],
            &["ex", "1", "keepttl"],
            &["keepttl", "px", "1"],
            &["ex"],
            &["nx", "ex"],
            // A syntax error wins over a bad number earlier on the line.
            &["ex", "abc", "foo"],
        ] {
            let mut args = vec!["set", "k", "v"];
            args.extend_from_slice(opts);
            assert_eq!(h.run(&args), err(SYNTAX), "{opts:?}");
        }
        let invalid = err("ERR invalid expire time in 'set' command");
        assert_eq!(h.run(&["set", "k", "v", "ex", "0"]), invalid);
        assert_eq!(h.run(&["set", "k", "v", "px", "-5"]), invalid);
        assert_eq!(h.run(&["set", "k", "v", "exat", "0"]), invalid);
        assert_eq!(h.run(&["set", "k", "v", "ex", "9223372036854775807"]), invalid);
        assert_eq!(h.run(&["set", "k", "v", "px", "9223372036854775807"]), invalid);
        assert_eq!(h.run(&["set", "k", "v", "ex", "1.5"]), err(NOT_INT));
        assert_eq!(h.run(&["set", "k", "v", "ex", " 1"]), err(NOT_INT));
        // None of those stored anything.
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
        // Large absolute times are fine.
        assert_eq!(h.run(&["set", "k", "v", "exat", "9223372036854775"]), ok());
        assert_eq!(expire_of(h, "k"), Some(9_223_372_036_854_775_000));
    });
}

#[test]
fn set_in_the_past_stays_until_accessed() {
    each(|h| {
        h.run(&["set", "k", "old"]);
        let past = (now(h) - 1).to_string();
        assert_eq!(h.run(&["set", "k", "v", "pxat", &past]), ok());
        // As Redis 7.0: stored with the past TTL, counted by DBSIZE until an access.
        assert_eq!(expire_of(h, "k"), Some(now(h) - 1));
        assert_eq!(h.run(&["dbsize"]), Reply::Int(1));
        let expired: u64 = h.shards.iter().map(|s| s.stats.expired_keys).sum();
        assert_eq!(expired, 0);
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
        assert_eq!(h.run(&["dbsize"]), Reply::Int(0));
        let expired: u64 = h.shards.iter().map(|s| s.stats.expired_keys).sum();
        assert_eq!(expired, 1);
        assert_eq!(h.run(&["set", "k", "v", "exat", "1"]), ok());
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
    });
}

#[test]
fn set_px_expires_with_the_clock() {
    each(|h| {
        assert_eq!(h.run(&["set", "k", "v", "px", "100"]), ok());
        h.advance_ms(99);
        assert_eq!(h.run(&["get", "k"]), b("v"));
        h.advance_ms(2);
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
        // An expired key counts as missing for NX.
        assert_eq!(h.run(&["set", "j", "v", "px", "10"]), ok());
        h.advance_ms(11);
        assert_eq!(h.run(&["set", "j", "w", "nx"]), ok());
    });
}

#[test]
fn set_get_option() {
    each(|h| {
        assert_eq!(h.run(&["set", "k", "1", "get"]), Reply::Nil);
        assert_eq!(h.run(&["get", "k"]), b("1"));
        assert_eq!(h.run(&["set", "k", "2", "GET"]), b("1"));
        assert_eq!(h.run(&["get", "k"]), b("2"));
        // NX + GET (allowed since 7.0): returns the old value, sets nothing.
        assert_eq!(h.run(&["set", "k", "3", "nx", "get"]), b("2"));
        assert_eq!(h.run(&["get", "k"]), b("2"));
        assert_eq!(h.run(&["set", "n", "3", "nx", "get"]), Reply::Nil);
        assert_eq!(h.run(&["get", "n"]), b("3"));
        // XX + GET on a missing key: nil, nothing set.
        assert_eq!(h.run(&["set", "m", "3", "xx", "get"]), Reply::Nil);
        assert_eq!(h.run(&["get", "m"]), Reply::Nil);
        // Expire errors come before the GET reply.
        assert_eq!(h.run(&["set", "k", "9", "get", "ex", "0"]), err("ERR invalid expire time in 'set' command"));
        assert_eq!(h.run(&["get", "k"]), b("2"));
    });
}

#[test]
fn setnx_setex_psetex() {
    each(|h| {
        assert_eq!(h.run(&["setnx", "k", "1"]), int(1));
        assert_eq!(h.run(&["setnx", "k", "2"]), int(0));
        assert_eq!(h.run(&["get", "k"]), b("1"));
        let t = now(h);
        assert_eq!(h.run(&["setex", "k", "10", "v"]), ok());
        assert_eq!(expire_of(h, "k"), Some(t + 10_000));
        assert_eq!(h.run(&["get", "k"]), b("v"));
        assert_eq!(h.run(&["psetex", "k", "250", "w"]), ok());
        assert_eq!(expire_of(h, "k"), Some(t + 250));
        assert_eq!(h.run(&["setex", "k", "0", "v"]), err("ERR invalid expire time in 'setex' command"));
        assert_eq!(h.run(&["psetex", "k", "-1", "v"]), err("ERR invalid expire time in 'psetex' command"));
        assert_eq!(h.run(&["setex", "k", "x", "v"]), err(NOT_INT));
        assert_eq!(h.run(&["setex", "k", "10"]), err("ERR wrong number of arguments for 'setex' command"));
        h.advance_ms(251);
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
        assert_eq!(h.run(&["setnx", "k", "again"]), int(1));
    });
}

#[test]
fn getset_getdel() {
    each(|h| {
        assert_eq!(h.run(&["getset", "k", "1"]), Reply::Nil);
        assert_eq!(h.run(&["getset", "k", "2"]), b("1"));
        assert_eq!(h.run(&["get", "k"]), b("2"));
        h.run(&["set", "k", "3", "ex", "100"]);
        assert_eq!(h.run(&["getset", "k", "4"]), b("3"));
        assert_eq!(expire_of(h, "k"), Some(0), "GETSET clears the TTL");
        assert_eq!(h.run(&["getdel", "k"]), b("4"));
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
        assert_eq!(h.run(&["getdel", "k"]), Reply::Nil);
    });
}

#[test]
fn getex_options() {
    each(|h| {
        let t = now(h);
        assert_eq!(h.run(&["getex", "k"]), Reply::Nil);
        assert_eq!(h.run(&["getex", "k", "ex", "0"]), Reply::Nil, "missing key wins over a bad expire");
        h.run(&["set", "k", "v", "ex", "100"]);
        assert_eq!(h.run(&["getex", "k"]), b("v"));
        assert_eq!(expire_of(h, "k"), Some(t + 100_000));
        assert_eq!(h.run(&["getex", "k", "px", "500"]), b("v"));
        assert_eq!(expire_of(h, "k"), Some(t + 500));
        assert_eq!(h.run(&["getex", "k", "EX", "7"]), b("v"));
        assert_eq!(expire_of(h, "k"), Some(t + 7000));
        let pat = (t + 999).to_string();
        assert_eq!(h.run(&["getex", "k", "pxat", &pat]), b("v"));
        assert_eq!(expire_of(h, "k"), Some(t + 999));
        let at = (t / 1000 + 50).to_string();
        assert_eq!(h.run(&["getex", "k", "exat", &at]), b("v"));
        assert_eq!(expire_of(h, "k"), Some((t / 1000 + 50) * 1000));
        assert_eq!(h.run(&["getex", "k", "persist"]), b("v"));
        assert_eq!(expire_of(h, "k"), Some(0));
        let d = dirty(h);
        assert_eq!(h.run(&["getex", "k", "persist"]), b("v"));
        assert_eq!(dirty(h), d, "PERSIST without a TTL changes nothing");
        for bad in [
            &["nx"][..],
            &["keepttl"],
            &["get"],
            &["ex", "1", "persist"],
            &["persist", "ex", "1"],
            &["ex", "1", "px", "1"],
            &["px"],
        ] {
            let mut args = vec!["getex", "k"];
            args.extend_from_slice(bad);
            assert_eq!(h.run(&args), err(SYNTAX), "{bad:?}");
        }
        assert_eq!(h.run(&["getex", "k", "ex", "0"]), err("ERR invalid expire time in 'getex' command"));
        assert_eq!(h.run(&["getex", "k", "ex", "x"]), err(NOT_INT));
        // An absolute time in the past deletes the key after replying.
        assert_eq!(h.run(&["getex", "k", "pxat", "1"]), b("v"));
        assert_eq!(expire_of(h, "k"), None);
    });
}

#[test]
fn mset_mget_across_shards() {
    each(|h| {
        let mut args = vec!["mset".to_string()];
        for i in 0..50 {
            args.push(format!("key{i}"));
            args.push(format!("val{i}"));
        }
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        assert_eq!(h.run(&a), ok());
        let mut get = vec!["mget".to_string()];
        get.extend((0..52).map(|i| format!("key{i}")));
        let g: Vec<&str> = get.iter().map(|s| s.as_str()).collect();
        let mut want: Vec<Reply> = (0..50).map(|i| b(&format!("val{i}"))).collect();
        want.extend([Reply::Nil, Reply::Nil]);
        assert_eq!(h.run(&g), arr(want));
        assert_eq!(h.run(&["mset", "a", "1", "b"]), err("ERR wrong number of arguments for 'mset' command"));
        assert_eq!(h.run(&["get", "a"]), Reply::Nil);
        // MSET clears TTLs, like SET.
        h.run(&["set", "t", "v", "ex", "10"]);
        assert_eq!(h.run(&["mset", "t", "w", "key0", "z"]), ok());
        assert_eq!(expire_of(h, "t"), Some(0));
        // Repeated keys: the last value wins.
        assert_eq!(h.run(&["mset", "r", "1", "r", "2"]), ok());
        assert_eq!(h.run(&["get", "r"]), b("2"));
    });
}

#[test]
fn msetnx_all_or_nothing() {
    each(|h| {
        let (k1, k2) = split_keys(h);
        assert_eq!(h.run(&["msetnx", &k1, "1", &k2, "2"]), int(1));
        assert_eq!(h.run(&["mget", &k1, &k2]), arr(vec![b("1"), b("2")]));
        assert_eq!(h.run(&["msetnx", "fresh", "x", &k2, "3"]), int(0));
        assert_eq!(h.run(&["get", "fresh"]), Reply::Nil);
        assert_eq!(h.run(&["get", &k2]), b("2"));
        assert_eq!(h.run(&["msetnx", "x", "1", "y"]), err("ERR wrong number of arguments for 'msetnx' command"));
        // A key whose TTL has passed does not count as existing.
        h.run(&["set", "gone", "v", "px", "5"]);
        h.advance_ms(6);
        assert_eq!(h.run(&["msetnx", "gone", "new", &k1, "x"]), int(0));
        assert_eq!(h.run(&["msetnx", "gone", "new", "other", "x"]), int(1));
        assert_eq!(h.run(&["get", "gone"]), b("new"));
    });
}

#[test]
fn append_and_strlen() {
    each(|h| {
        assert_eq!(h.run(&["strlen", "k"]), int(0));
        assert_eq!(h.run(&["append", "k", "Hello"]), int(5));
        assert_eq!(h.run(&["append", "k", " World"]), int(11));
        assert_eq!(h.run(&["get", "k"]), b("Hello World"));
        assert_eq!(h.run(&["strlen", "k"]), int(11));
        assert_eq!(h.run(&["append", "k", ""]), int(11));
        h.run(&["set", "t", "a", "ex", "100"]);
        let e = expire_of(h, "t");
        assert_eq!(h.run(&["append", "t", "b"]), int(2));
        assert_eq!(expire_of(h, "t"), e, "APPEND keeps the TTL");
        h.run(&["set", "n", "12"]);
        assert_eq!(h.run(&["append", "n", "3"]), int(3));
        assert_eq!(h.run(&["incr", "n"]), int(124));
    });
}

#[test]
fn getrange_like_redis_7_0() {
    each(|h| {
        h.run(&["set", "k", "Hello World"]);
        for (s, e, want) in [
            ("0", "3", "Hell"),
            ("0", "-1", "Hello World"),
            ("-4", "-1", "orld"),
            ("5", "3", ""),
            ("5", "5000", " World"),
            ("-5000", "10000", "Hello World"),
            ("0", "-100", "H"),
            ("-1", "-5", ""),
            ("10", "10", "d"),
            ("11", "20", ""),
            ("-9223372036854775808", "9223372036854775807", "Hello World"),
        ] {
            assert_eq!(h.run(&["getrange", "k", s, e]), b(want), "getrange {s} {e}");
            assert_eq!(h.run(&["substr", "k", s, e]), b(want), "substr {s} {e}");
        }
        assert_eq!(h.run(&["getrange", "missing", "0", "-1"]), b(""));
        h.run(&["set", "empty", ""]);
        assert_eq!(h.run(&["getrange", "empty", "0", "-1"]), b(""));
        assert_eq!(h.run(&["getrange", "k", "a", "1"]), err(NOT_INT));
        assert_eq!(h.run(&["getrange", "k", "0", "1.0"]), err(NOT_INT));
        assert_eq!(h.run(&["getrange", "k", "0"]), err("ERR wrong number of arguments for 'getrange' command"));
    });
}

#[test]
fn setrange_cases() {
    each(|h| {
        assert_eq!(h.run(&["setrange", "k", "5", "foo"]), int(8));
        assert_eq!(h.run(&["get", "k"]), Reply::Bulk(b"\0\0\0\0\0foo".to_vec()));
        assert_eq!(h.run(&["setrange", "m", "3", ""]), int(0));
        assert_eq!(h.run(&["get", "m"]), Reply::Nil, "an empty SETRANGE creates nothing");
        h.run(&["set", "s", "Hello World", "ex", "100"]);
        let e = expire_of(h, "s");
        assert_eq!(h.run(&["setrange", "s", "6", "Redis"]), int(11));
        assert_eq!(h.run(&["get", "s"]), b("Hello Redis"));
        assert_eq!(expire_of(h, "s"), e, "SETRANGE keeps the TTL");
        assert_eq!(h.run(&["setrange", "s", "0", ""]), int(11));
        assert_eq!(h.run(&["setrange", "s", "9", "xyz"]), int(12));
        assert_eq!(h.run(&["get", "s"]), b("Hello Redxyz"));
        assert_eq!(h.run(&["setrange", "s", "14", "!"]), int(15));
        assert_eq!(h.run(&["get", "s"]), Reply::Bulk(b"Hello Redxyz\0\0!".to_vec()));
        assert_eq!(h.run(&["setrange", "s", "-1", "x"]), err("ERR offset is out of range"));
        assert_eq!(h.run(&["setrange", "s", "x", "x"]), err(NOT_INT));
        let too_big = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        assert_eq!(h.run(&["setrange", "s", "536870912", "x"]), too_big);
        assert_eq!(h.run(&["setrange", "new", "536870912", "x"]), too_big);
        assert_eq!(h.run(&["setrange", "new", "536870912", ""]), int(0));
        assert_eq!(h.run(&["setrange", "new", "9223372036854775807", "x"]), too_big);
    });
}

#[test]
fn incr_family() {
    each(|h| {
        assert_eq!(h.run(&["incr", "n"]), int(1));
        assert_eq!(h.run(&["incrby", "n", "10"]), int(11));
        assert_eq!(h.run(&["decr", "n"]), int(10));
        assert_eq!(h.run(&["decrby", "n", "20"]), int(-10));
        assert_eq!(h.run(&["incrby", "n", "-5"]), int(-15));
        assert_eq!(h.run(&["get", "n"]), b("-15"));
        assert_eq!(h.run(&["decr", "fresh"]), int(-1));
        assert_eq!(h.run(&["decrby", "fresh2", "5"]), int(-5));
        assert_eq!(h.run(&["incrby", "fresh3", "-7"]), int(-7));
        for bad in [" 1", "1 ", "01", "+1", "-0", "abc", "", "1.0", "123456789012345678901", "9223372036854775808"] {
            h.run(&["set", "b", bad]);
            assert_eq!(h.run(&["incr", "b"]), err(NOT_INT), "{bad:?}");
            assert_eq!(h.run(&["get", "b"]), b(bad), "unchanged after the error");
        }
        h.run(&["set", "max", "9223372036854775807"]);
        assert_eq!(h.run(&["incr", "max"]), err("ERR increment or decrement would overflow"));
        assert_eq!(h.run(&["incrby", "max", "-1"]), int(9223372036854775806));
        h.run(&["set", "min", "-9223372036854775808"]);
        assert_eq!(h.run(&["decr", "min"]), err("ERR increment or decrement would overflow"));
        assert_eq!(h.run(&["decrby", "min", "1"]), err("ERR increment or decrement would overflow"));
        assert_eq!(h.run(&["incrby", "min", "9223372036854775807"]), int(-1));
        assert_eq!(h.run(&["incrby", "n", "x"]), err(NOT_INT));
        assert_eq!(h.run(&["incrby", "n", "9223372036854775808"]), err(NOT_INT));
        assert_eq!(h.run(&["decrby", "n", "-9223372036854775808"]), err("ERR decrement would overflow"));
        assert_eq!(h.run(&["decrby", "n", "-9223372036854775807"]), int(9223372036854775792));
        h.run(&["set", "t", "5", "ex", "100"]);
        let e = expire_of(h, "t");
        assert_eq!(h.run(&["incr", "t"]), int(6));
        assert_eq!(expire_of(h, "t"), e, "INCR keeps the TTL");
        assert_eq!(h.run(&["incr", "n", "x"]), err("ERR wrong number of arguments for 'incr' command"));
    });
}

/// A counter lives inside its key's slot: no heap block, whether the key was new,
/// held an inline number, or held a heap string (an APPEND made it `raw`).
#[test]
fn incr_keeps_counters_inline() {
    fn inline(h: &Harness, key: &str) -> bool {
        let s = shard_of(key.as_bytes(), h.shards.len());
        match h.shards[s].dbs[0].peek(key.as_bytes()).map(|e| &e.value) {
            Some(super::Value::Str(v)) => v.is_inline(),
            _ => panic!("{key} holds no string"),
        }
    }
    each(|h| {
        h.run(&["incr", "c"]);
        assert!(inline(h, "c"), "new key");
        assert_eq!(h.run(&["incrby", "c", "-9223372036854775807"]), int(-9223372036854775806));
        assert_eq!(h.run(&["decrby", "c", "2"]), int(i64::MIN));
        assert!(inline(h, "c"), "the longest number, 20 bytes");
        assert_eq!(h.run(&["get", "c"]), b("-9223372036854775808"));
        h.run(&["set", "r", "1"]);
        h.run(&["append", "r", "2"]);
        assert!(!inline(h, "r"), "APPEND moves the string to the heap");
        assert_eq!(h.run(&["incr", "r"]), int(13));
        assert!(inline(h, "r"), "and INCR brings it back");
        assert_eq!(h.run(&["object", "encoding", "r"]), b("int"));
    });
}

#[test]
fn incrbyfloat_cases() {
    each(|h| {
        assert_eq!(h.run(&["incrbyfloat", "f", "10.5"]), b("10.5"));
        assert_eq!(h.run(&["incrbyfloat", "f", "0.1"]), b("10.6"));
        assert_eq!(h.run(&["get", "f"]), b("10.6"));
        h.run(&["set", "e", "5.0e3"]);
        assert_eq!(h.run(&["incrbyfloat", "e", "2.0e2"]), b("5200"));
        h.run(&["set", "i", "1"]);
        assert_eq!(h.run(&["incrbyfloat", "i", "-1"]), b("0"));
        assert_eq!(h.run(&["incr", "i"]), int(1), "an integral result stays an integer");
        assert_eq!(h.run(&["incrbyfloat", "new", "-3"]), b("-3"));
        let bad = err("ERR value is not a valid float");
        assert_eq!(h.run(&["incrbyfloat", "f", "abc"]), bad);
        assert_eq!(h.run(&["incrbyfloat", "f", " 1"]), bad);
        assert_eq!(h.run(&["incrbyfloat", "f", "nan"]), bad);
        h.run(&["set", "s", "abc"]);
        assert_eq!(h.run(&["incrbyfloat", "s", "1"]), bad);
        let naninf = err("ERR increment would produce NaN or Infinity");
        assert_eq!(h.run(&["incrbyfloat", "f", "+inf"]), naninf);
        assert_eq!(h.run(&["incrbyfloat", "missing", "inf"]), naninf);
        assert_eq!(h.run(&["get", "missing"]), Reply::Nil);
        // Redis sums in `long double`: 0.1 + 0.2 is 0.3, 3e308 is finite, 2e4932 is not.
        h.run(&["set", "p", "0.1"]);
        assert_eq!(h.run(&["incrbyfloat", "p", "0.2"]), b("0.3"));
        h.run(&["set", "big", "1.5e308"]);
        let Reply::Bulk(sum) = h.run(&["incrbyfloat", "big", "1.5e308"]) else { panic!("a bulk sum") };
        assert!(sum.starts_with(b"2999999999999999999998029529789") && sum.len() == 309, "{sum:?}");
        h.run(&["set", "huge", "1e4932"]);
        assert_eq!(h.run(&["incrbyfloat", "huge", "1e4932"]), naninf);
        assert_eq!(h.run(&["get", "huge"]), b("1e4932"), "unchanged after the error");
        assert_eq!(h.run(&["get", "f"]), b("10.6"));
        h.run(&["set", "t", "1", "ex", "100"]);
        let e = expire_of(h, "t");
        assert_eq!(h.run(&["incrbyfloat", "t", "0.5"]), b("1.5"));
        assert_eq!(expire_of(h, "t"), e, "INCRBYFLOAT keeps the TTL");
    });
}

#[test]
fn lcs_plain_len_and_idx() {
    each(|h| {
        let (k1, k2) = split_keys(h);
        h.run(&["mset", &k1, "ohmytext", &k2, "mynewtext"]);
        assert_eq!(h.run(&["lcs", &k1, &k2]), b("mytext"));
        assert_eq!(h.run(&["lcs", &k1, &k2, "len"]), int(6));
        let range = |a0, a1, b0, b1| arr(vec![arr(vec![int(a0), int(a1)]), arr(vec![int(b0), int(b1)])]);
        assert_eq!(
            h.run(&["lcs", &k1, &k2, "IDX"]),
            arr(vec![b("matches"), arr(vec![range(4, 7, 5, 8), range(2, 3, 0, 1)]), b("len"), int(6),])
        );
        let with_len = |a0, a1, b0, b1, n| arr(vec![arr(vec![int(a0), int(a1)]), arr(vec![int(b0), int(b1)]), int(n)]);
        assert_eq!(
            h.run(&["lcs", &k1, &k2, "idx", "minmatchlen", "4", "withmatchlen"]),
            arr(vec![b("matches"), arr(vec![with_len(4, 7, 5, 8, 4)]), b("len"), int(6)])
        );
        assert_eq!(
            h.run(&["lcs", &k1, &k2, "idx", "withmatchlen", "minmatchlen", "-3"]),
            arr(vec![b("matches"), arr(vec![with_len(4, 7, 5, 8, 4), with_len(2, 3, 0, 1, 2)]), b("len"), int(6)])
        );
        h.resp3();
        assert_eq!(
            h.run(&["lcs", &k1, &k2, "idx", "minmatchlen", "3"]),
            Reply::Map(vec![(b("matches"), arr(vec![range(4, 7, 5, 8)])), (b("len"), int(6))])
        );
    });
}

#[test]
fn lcs_edges_and_errors() {
    each(|h| {
        let (k1, k2) = split_keys(h);
        assert_eq!(h.run(&["lcs", &k1, &k2]), b(""));
        assert_eq!(h.run(&["lcs", &k1, &k2, "len"]), int(0));
        assert_eq!(h.run(&["lcs", &k1, &k2, "idx"]), arr(vec![b("matches"), arr(vec![]), b("len"), int(0)]));
        h.run(&["set", &k1, "abcdef"]);
        assert_eq!(h.run(&["lcs", &k1, &k1]), b("abcdef"));
        assert_eq!(h.run(&["lcs", &k1, &k2]), b(""));
        h.run(&["set", &k2, "xbxdxf"]);
        assert_eq!(h.run(&["lcs", &k1, &k2]), b("bdf"));
        assert_eq!(
            h.run(&["lcs", &k1, &k2, "len", "idx"]),
            err("ERR If you want both the length and indexes, please just use IDX.")
        );
        assert_eq!(h.run(&["lcs", &k1, &k2, "foo"]), err(SYNTAX));
        assert_eq!(h.run(&["lcs", &k1, &k2, "minmatchlen"]), err(SYNTAX));
        assert_eq!(h.run(&["lcs", &k1, &k2, "minmatchlen", "x"]), err(NOT_INT));
        assert_eq!(h.run(&["lcs", &k1]), err("ERR wrong number of arguments for 'lcs' command"));
        // The DP table for two 16 KiB strings needs ~1 GiB: over proto-max-bulk-len.
        let big = "a".repeat(16 * 1024);
        h.run(&["mset", &k1, &big, &k2, &big]);
        assert_eq!(
            h.run(&["lcs", &k1, &k2, "len"]),
            err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
        );
    });
}

#[test]
fn command_flags_match_redis() {
    use crate::cmd::table::flag;
    let f = |name: &str| super::COMMANDS.iter().find(|c| c.name == name).expect(name).flags;
    for n in ["get", "mget", "strlen"] {
        assert_eq!(f(n), flag::READONLY | flag::FAST, "{n}");
    }
    for n in ["getrange", "substr", "lcs"] {
        assert_eq!(f(n), flag::READONLY, "{n}");
    }
    for n in ["set", "setex", "psetex", "mset", "msetnx", "setrange"] {
        assert_eq!(f(n), flag::WRITE | flag::DENYOOM, "{n}");
    }
    for n in ["setnx", "getset", "append", "incr", "decr", "incrby", "decrby", "incrbyfloat"] {
        assert_eq!(f(n), flag::WRITE | flag::DENYOOM | flag::FAST, "{n}");
    }
    for n in ["getdel", "getex"] {
        assert_eq!(f(n), flag::WRITE | flag::FAST, "{n}");
    }
}

#[test]
fn keyspace_events() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEA");
        h.run(&["set", "k", "v"]);
        h.run(&["set", "k", "w", "ex", "100"]);
        h.run(&["set", "k", "x", "nx"]);
        assert_eq!(h.events(), ["set k", "set k", "expire k"], "{n} shards");
        h.run(&["setnx", "k", "x"]);
        h.run(&["setnx", "k2", "x"]);
        h.run(&["setex", "k3", "10", "x"]);
        h.run(&["psetex", "k3", "10", "x"]);
        h.run(&["getset", "k3", "y"]);
        assert_eq!(h.events(), ["set k2", "set k3", "expire k3", "set k3", "expire k3", "set k3"]);
        h.run(&["mset", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(h.events(), ["set a", "set b", "set c"]);
        h.run(&["msetnx", "a", "1", "z", "2"]);
        h.run(&["msetnx", "y", "1", "z", "2"]);
        assert_eq!(h.events(), ["set y", "set z"]);
        h.run(&["incr", "n"]);
        h.run(&["decrby", "n", "5"]);
        h.run(&["incrbyfloat", "n", "1.5"]);
        h.run(&["incr", "k"]);
        assert_eq!(h.events(), ["incrby n", "incrby n", "incrbyfloat n"], "no event on error");
        h.run(&["append", "s", "ab"]);
        h.run(&["setrange", "s", "1", "xy"]);
        h.run(&["setrange", "s", "1", ""]);
        h.run(&["setrange", "nosuch", "1", ""]);
        assert_eq!(h.events(), ["append s", "setrange s"]);
        h.run(&["getex", "s"]);
        h.run(&["getex", "s", "ex", "100"]);
        h.run(&["getex", "s", "persist"]);
        h.run(&["getex", "s", "persist"]);
        h.run(&["getdel", "s"]);
        h.run(&["getdel", "s"]);
        h.run(&["get", "a"]);
        h.run(&["mget", "a", "b"]);
        assert_eq!(h.events(), ["expire s", "persist s", "del s"]);
        let past = (h.clock.now_ms() / 1000 - 10).to_string();
        h.run(&["set", "p", "v", "exat", &past]);
        assert_eq!(h.events(), ["set p", "expire p"]);
        h.run(&["exists", "p"]);
        assert_eq!(h.events(), ["expired p"]);
        h.run(&["getex", "a", "pxat", "1"]);
        assert_eq!(h.events(), ["del a"]);
    }
}

#[test]
fn new_events_come_first_and_only_with_n() {
    for n in [1, 4] {
        let mut h = Harness::with_events(n, "KEA");
        h.run(&["set", "k", "v"]);
        assert_eq!(h.events(), ["set k"], "A does not include n");
        let mut h = Harness::with_events(n, "KE$n");
        h.run(&["set", "k", "v"]);
        h.run(&["set", "k", "w"]);
        h.run(&["mset", "a", "1", "k", "2", "b", "3"]);
        h.run(&["incr", "c"]);
        assert_eq!(
            h.events(),
            ["new k", "set k", "set k", "new a", "set a", "set k", "new b", "set b", "new c", "incrby c"]
        );
        let mut h = Harness::with_events(n, "En");
        h.run(&["set", "k", "v"]);
        h.run(&["append", "k", "v"]);
        assert_eq!(h.events(), ["new k"]);
    }
}
