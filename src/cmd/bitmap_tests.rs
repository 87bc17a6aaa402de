//! Unit tests of the bitmap commands, on 1- and 4-shard harnesses. Expected values were
//! taken from Redis 7.0.15 for the same command sequences.

use super::super::harness::shorthand::{arr, err, int};
use super::super::harness::{Harness, Reply};
use crate::shard::shard_of;

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BIT: &str = "ERR bit is not an integer or out of range";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

fn ints(v: &[i64]) -> Reply {
    arr(v.iter().map(|&n| int(n)).collect())
}
fn raw(b: &[u8]) -> Reply {
    Reply::Bulk(b.to_vec())
}

use super::super::harness::each;

fn dirty(h: &Harness) -> u64 {
    h.shards.iter().map(|s| s.dirty).sum()
}

fn hits_misses(h: &Harness) -> (u64, u64) {
    h.shards.iter().fold((0, 0), |(a, b), s| (a + s.stats.keyspace_hits, b + s.stats.keyspace_misses))
}

/// Sets `key` to raw bytes (SET takes them as they are).
fn set_raw(h: &mut Harness, key: &str, v: &[u8]) {
    let r = h.run_raw(&[b"set", key.as_bytes(), v]);
    assert_eq!(r, b"+OK\r\n");
}

/// `n` keys on pairwise different shards (as far as there are shards).
fn spread_keys(h: &Harness, n: usize) -> Vec<String> {
    let shards = h.shards.len();
    let mut keys: Vec<String> = Vec::new();
    for i in 0..10_000 {
        let k = format!("bk{i}");
        let s = shard_of(k.as_bytes(), shards);
        if keys.len() < shards.min(n) && keys.iter().any(|o| shard_of(o.as_bytes(), shards) == s) {
            continue;
        }
        keys.push(k);
        if keys.len() == n {
            return keys;
        }
    }
    panic!("not enough keys");
}

#[test]
fn setbit_getbit_basics() {
    each(|h| {
        assert_eq!(h.run(&["setbit", "k", "7", "1"]), int(0));
        assert_eq!(h.run(&["get", "k"]), raw(&[0x01]));
        assert_eq!(h.run(&["setbit", "k", "7", "1"]), int(1));
        assert_eq!(h.run(&["setbit", "k", "0", "1"]), int(0));
        assert_eq!(h.run(&["get", "k"]), raw(&[0x81]));
        assert_eq!(h.run(&["setbit", "k", "20", "1"]), int(0));
        assert_eq!(h.run(&["get", "k"]), raw(&[0x81, 0x00, 0x08]));
        assert_eq!(h.run(&["setbit", "k", "7", "0"]), int(1));
        assert_eq!(h.run(&["getbit", "k", "0"]), int(1));
        assert_eq!(h.run(&["getbit", "k", "7"]), int(0));
        assert_eq!(h.run(&["getbit", "k", "20"]), int(1));
        assert_eq!(h.run(&["getbit", "k", "1000"]), int(0), "past the end reads 0");
        assert_eq!(h.run(&["getbit", "missing", "3"]), int(0));
        // Bitmaps are strings: an integer-looking value has its text's bits.
        h.run(&["set", "n", "1"]);
        assert_eq!(h.run(&["getbit", "n", "2"]), int(1));
        assert_eq!(h.run(&["getbit", "n", "7"]), int(1));
        assert_eq!(h.run(&["getbit", "n", "6"]), int(0));
        assert_eq!(h.run(&["type", "k"]), Reply::Simple("string".into()));
    });
}

#[test]
fn setbit_keeps_ttl_and_counts_changes_like_redis() {
    each(|h| {
        let d0 = dirty(h);
        h.run(&["setbit", "k", "7", "1"]);
        assert_eq!(dirty(h), d0 + 1, "created");
        h.run(&["setbit", "k", "7", "1"]);
        assert_eq!(dirty(h), d0 + 1, "no flip, no growth: no change");
        h.run(&["setbit", "k", "6", "0"]);
        assert_eq!(dirty(h), d0 + 1);
        h.run(&["setbit", "k", "15", "0"]);
        assert_eq!(dirty(h), d0 + 2, "grown");
        h.run(&["setbit", "k", "7", "0"]);
        assert_eq!(dirty(h), d0 + 3, "flipped");
        h.run(&["setbit", "z", "0", "0"]);
        assert_eq!(dirty(h), d0 + 4, "a zero bit still creates the key");
        assert_eq!(h.run(&["get", "z"]), raw(&[0]));
        h.run(&["set", "t", "a", "ex", "100"]);
        h.run(&["setbit", "t", "100", "1"]);
        assert_eq!(h.run(&["ttl", "t"]), int(100));
    });
}

#[test]
fn setbit_getbit_errors() {
    each(|h| {
        for bad in ["-1", "x", "1.5", "", "4294967296", "9223372036854775807"] {
            assert_eq!(h.run(&["setbit", "k", bad, "1"]), err(OFFSET), "{bad:?}");
            assert_eq!(h.run(&["getbit", "k", bad]), err(OFFSET), "{bad:?}");
        }
        for bad in ["2", "-1", "x", "01", ""] {
            assert_eq!(h.run(&["setbit", "k", "0", bad]), err(BIT), "{bad:?}");
        }
        // The offset is checked before the bit, and both before the key.
        assert_eq!(h.run(&["setbit", "k", "x", "2"]), err(OFFSET));
        h.run(&["sadd", "s", "a"]);
        assert_eq!(h.run(&["setbit", "s", "0", "1"]), err(WRONGTYPE));
        assert_eq!(h.run(&["getbit", "s", "0"]), err(WRONGTYPE));
        assert_eq!(h.run(&["setbit", "s", "-1", "1"]), err(OFFSET));
        assert_eq!(h.run(&["exists", "k"]), int(0));
        assert_eq!(h.run(&["setbit", "k", "0"]), err("ERR wrong number of arguments for 'setbit' command"));
        assert_eq!(h.run(&["getbit", "k"]), err("ERR wrong number of arguments for 'getbit' command"));
    });
}

#[test]
fn setbit_offset_obeys_proto_max_bulk_len() {
    each(|h| {
        assert_eq!(h.run(&["config", "set", "proto-max-bulk-len", "1mb"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["setbit", "k", "8388608", "1"]), err(OFFSET));
        assert_eq!(h.run(&["getbit", "k", "8388608"]), err(OFFSET));
        assert_eq!(h.run(&["setbit", "k", "8388607", "1"]), int(0));
        assert_eq!(h.run(&["strlen", "k"]), int(1 << 20));
        assert_eq!(h.run(&["bitfield", "k", "get", "u8", "#1048576"]), err(OFFSET));
        assert_eq!(h.run(&["bitfield", "k", "get", "u8", "#1048575"]), ints(&[1]));
    });
}

#[test]
fn bitcount_ranges_bytes_and_bits() {
    each(|h| {
        h.run(&["set", "mykey", "foobar"]);
        for (args, want) in [
            (&[][..], 26),
            (&["0", "-1"], 26),
            (&["1", "1"], 6),
            (&["5", "30", "bit"], 17),
            (&["0", "0", "bit"], 0),
            (&["-1", "-1", "bit"], 0),
            (&["-8", "-1", "bit"], 4),
            (&["-100", "100"], 26),
            (&["2", "-3"], 9),
            (&["-2", "-3"], 0),
            (&["1", "0"], 0),
            (&["0", "-1", "byte"], 26),
            (&["0", "1", "BIT"], 1),
            (&["-9223372036854775808", "9223372036854775807", "bit"], 26),
        ] {
            let mut a = vec!["bitcount", "mykey"];
            a.extend_from_slice(args);
            assert_eq!(h.run(&a), int(want), "{args:?}");
        }
        h.run(&["set", "empty", ""]);
        assert_eq!(h.run(&["bitcount", "empty"]), int(0));
        assert_eq!(h.run(&["bitcount", "empty", "0", "-1", "bit"]), int(0));
        assert_eq!(h.run(&["bitcount", "missing"]), int(0));
    });
}

#[test]
fn bitcount_errors_in_redis_order() {
    each(|h| {
        h.run(&["set", "k", "foobar"]);
        assert_eq!(h.run(&["bitcount", "k", "0"]), err(SYNTAX));
        assert_eq!(h.run(&["bitcount", "k", "0", "1", "bits"]), err(SYNTAX));
        assert_eq!(h.run(&["bitcount", "k", "0", "1", "bit", "x"]), err(SYNTAX));
        assert_eq!(h.run(&["bitcount", "k", "a", "1"]), err(NOT_INT));
        assert_eq!(h.run(&["bitcount", "k", "0", "b"]), err(NOT_INT));
        // Both negative and reversed: 0 before the unit is even looked at.
        assert_eq!(h.run(&["bitcount", "k", "-1", "-2", "nonsense"]), int(0));
        // Redis 7.0 answers 0 for a missing key before parsing anything else.
        assert_eq!(h.run(&["bitcount", "missing", "0"]), int(0));
        assert_eq!(h.run(&["bitcount", "missing", "a", "b"]), int(0));
        h.run(&["lpush", "l", "a"]);
        assert_eq!(h.run(&["bitcount", "l"]), err(WRONGTYPE));
        assert_eq!(h.run(&["bitcount", "l", "0"]), err(WRONGTYPE));
        assert_eq!(h.run(&["bitcount"]), err("ERR wrong number of arguments for 'bitcount' command"));
    });
}

#[test]
fn bitpos_cases() {
    each(|h| {
        set_raw(h, "b1", &[0xff, 0xf0]);
        for (args, want) in [
            (&["0"][..], 12),
            (&["1"], 0),
            (&["0", "2"], -1),
            (&["0", "1", "-1"], 12),
            (&["1", "2", "-1", "byte"], -1),
            (&["1", "7", "15", "bit"], 7),
            (&["1", "7", "-3", "bit"], 7),
            (&["0", "0", "-1", "bit"], 12),
            (&["0", "0", "7", "bit"], -1),
            (&["1", "-1"], 8),
            (&["0", "1"], 12),
            (&["0", "1", "1"], 12),
            (&["0", "8", "11", "bit"], -1),
            (&["0", "8", "15", "bit"], 12),
            (&["0", "12", "15", "bit"], 12),
            (&["0", "5", "3"], -1),
            (&["1", "2", "2"], -1),
            (&["0", "0", "0"], -1),
            (&["0", "0", "-1"], 12),
            (&["1", "9", "-1", "BIT"], 9),
            (&["1", "12", "-1", "bit"], -1),
        ] {
            let mut a = vec!["bitpos", "b1"];
            a.extend_from_slice(args);
            assert_eq!(h.run(&a), int(want), "{args:?}");
        }
        set_raw(h, "ones", &[0xff, 0xff]);
        assert_eq!(h.run(&["bitpos", "ones", "0"]), int(16), "no end given: zero padded on the right");
        assert_eq!(h.run(&["bitpos", "ones", "0", "0"]), int(16));
        assert_eq!(h.run(&["bitpos", "ones", "0", "1"]), int(16));
        assert_eq!(h.run(&["bitpos", "ones", "0", "3", "bit"]), err(NOT_INT), "five arguments: the fourth is the end");
        assert_eq!(h.run(&["bitpos", "ones", "0", "0", "-1"]), int(-1), "an explicit end is not padded");
        assert_eq!(h.run(&["bitpos", "ones", "0", "3", "-1", "bit"]), int(-1));
        h.run(&["set", "empty", ""]);
        assert_eq!(h.run(&["bitpos", "empty", "0"]), int(-1));
        assert_eq!(h.run(&["bitpos", "empty", "1"]), int(-1));
        assert_eq!(h.run(&["bitpos", "missing", "0"]), int(0));
        assert_eq!(h.run(&["bitpos", "missing", "1"]), int(-1));
        // Long runs go through the whole-byte path.
        let mut long = vec![0u8; 1000];
        long[777] = 0x04;
        set_raw(h, "long", &long);
        assert_eq!(h.run(&["bitpos", "long", "1"]), int(777 * 8 + 5));
        assert_eq!(h.run(&["bitpos", "long", "1", "3", "-1"]), int(777 * 8 + 5));
        assert_eq!(h.run(&["bitpos", "long", "1", "6221", "-1", "bit"]), int(777 * 8 + 5));
        assert_eq!(h.run(&["bitpos", "long", "1", "6222", "-1", "bit"]), int(-1));
        assert_eq!(h.run(&["bitpos", "long", "0", "6221", "6221", "bit"]), int(-1));
        let long: Vec<u8> = long.iter().map(|b| !b).collect();
        set_raw(h, "long", &long);
        assert_eq!(h.run(&["bitpos", "long", "0"]), int(777 * 8 + 5));
        assert_eq!(h.run(&["bitpos", "long", "0", "778"]), int(8000));
        assert_eq!(h.run(&["bitpos", "long", "0", "778", "-1"]), int(-1));
    });
}

#[test]
fn bitpos_errors_in_redis_order() {
    each(|h| {
        h.run(&["set", "k", "foobar"]);
        let bad_bit = err("ERR The bit argument must be 1 or 0.");
        assert_eq!(h.run(&["bitpos", "k", "2"]), bad_bit);
        assert_eq!(h.run(&["bitpos", "missing", "2"]), bad_bit, "the bit is checked before the key");
        assert_eq!(h.run(&["bitpos", "k", "x"]), err(NOT_INT));
        assert_eq!(h.run(&["bitpos", "missing", "1", "x"]), int(-1), "a missing key answers before the range");
        assert_eq!(h.run(&["bitpos", "k", "1", "x"]), err(NOT_INT));
        assert_eq!(h.run(&["bitpos", "k", "1", "0", "x"]), err(NOT_INT));
        assert_eq!(h.run(&["bitpos", "k", "1", "0", "1", "foo"]), err(SYNTAX));
        assert_eq!(h.run(&["bitpos", "k", "1", "0", "1", "bit", "x"]), err(SYNTAX));
        h.run(&["sadd", "s", "a"]);
        assert_eq!(h.run(&["bitpos", "s", "1"]), err(WRONGTYPE));
        assert_eq!(h.run(&["bitpos", "k"]), err("ERR wrong number of arguments for 'bitpos' command"));
    });
}

#[test]
fn bitop_operations() {
    each(|h| {
        let k = spread_keys(h, 4);
        let (a, b, c, dst) = (&k[0], &k[1], &k[2], &k[3]);
        set_raw(h, a, &[0xf0, 0x0f, 0xaa]);
        set_raw(h, b, &[0xcc, 0xff]);
        set_raw(h, c, &[0x01]);
        assert_eq!(h.run(&["bitop", "and", dst, a, b]), int(3));
        assert_eq!(h.run(&["get", dst]), raw(&[0xc0, 0x0f, 0x00]));
        assert_eq!(h.run(&["bitop", "OR", dst, a, b, c]), int(3));
        assert_eq!(h.run(&["get", dst]), raw(&[0xfd, 0xff, 0xaa]));
        assert_eq!(h.run(&["bitop", "Xor", dst, a, b, c]), int(3));
        assert_eq!(h.run(&["get", dst]), raw(&[0x3d, 0xf0, 0xaa]));
        assert_eq!(h.run(&["bitop", "not", dst, a]), int(3));
        assert_eq!(h.run(&["get", dst]), raw(&[0x0f, 0xf0, 0x55]));
        // A missing source is a string of zeros.
        assert_eq!(h.run(&["bitop", "and", dst, a, "nokey"]), int(3));
        assert_eq!(h.run(&["get", dst]), raw(&[0, 0, 0]));
        assert_eq!(h.run(&["bitop", "or", dst, "nokey", c]), int(1));
        assert_eq!(h.run(&["get", dst]), raw(&[0x01]));
        // The destination may be a source.
        assert_eq!(h.run(&["bitop", "xor", a, a, c]), int(3));
        assert_eq!(h.run(&["get", a]), raw(&[0xf1, 0x0f, 0xaa]));
        // An empty result deletes the destination, and drops nothing else.
        h.run(&["set", "empty", ""]);
        assert_eq!(h.run(&["bitop", "or", dst, "nokey", "empty"]), int(0));
        assert_eq!(h.run(&["exists", dst]), int(0));
        assert_eq!(h.run(&["bitop", "not", dst, "nokey"]), int(0));
        assert_eq!(h.run(&["exists", dst]), int(0));
    });
}

#[test]
fn bitop_errors_dirty_and_ttl() {
    each(|h| {
        let k = spread_keys(h, 3);
        let (a, b, dst) = (&k[0], &k[1], &k[2]);
        h.run(&["set", a, "x"]);
        h.run(&["sadd", b, "m"]);
        assert_eq!(h.run(&["bitop", "nand", dst, a]), err(SYNTAX));
        assert_eq!(h.run(&["bitop", "not", dst, a, a]), err("ERR BITOP NOT must be called with a single source key."));
        assert_eq!(h.run(&["bitop", "or", dst, a, b]), err(WRONGTYPE));
        assert_eq!(h.run(&["exists", dst]), int(0));
        assert_eq!(h.run(&["bitop", "or", dst]), err("ERR wrong number of arguments for 'bitop' command"));
        // The result replaces any value and TTL at the destination.
        h.run(&["sadd", dst, "m"]);
        h.run(&["expire", dst, "100"]);
        let d0 = dirty(h);
        assert_eq!(h.run(&["bitop", "or", dst, a]), int(1));
        assert_eq!(dirty(h), d0 + 1);
        assert_eq!(h.run(&["ttl", dst]), int(-1));
        assert_eq!(h.run(&["get", dst]), Reply::bulk("x"));
        assert_eq!(h.run(&["bitop", "and", dst, "n1", "n2"]), int(0));
        assert_eq!(dirty(h), d0 + 2, "deleting the destination is a change");
        assert_eq!(h.run(&["bitop", "and", dst, "n1", "n2"]), int(0));
        assert_eq!(dirty(h), d0 + 2, "nothing to delete: no change");
        let (hits, misses) = hits_misses(h);
        h.run(&["bitop", "or", dst, a, "n1"]);
        assert_eq!(hits_misses(h), (hits + 1, misses + 1), "sources are read lookups");
    });
}

#[test]
fn bitfield_get_set_incrby_with_overflow_modes() {
    each(|h| {
        assert_eq!(
            h.run(&[
                "bitfield", "bf", "set", "i8", "0", "100", "get", "i8", "0", "incrby", "i8", "0", "100", "get", "u8",
                "0"
            ]),
            ints(&[0, 100, -56, 200])
        );
        assert_eq!(
            h.run(&[
                "bitfield", "bf", "overflow", "sat", "incrby", "i8", "0", "-300", "incrby", "u4", "100", "20",
                "overflow", "wrap", "incrby", "u4", "100", "20", "overflow", "fail", "incrby", "i8", "0", "-1",
                "incrby", "i8", "0", "-200"
            ]),
            arr(vec![int(-128), int(15), int(3), Reply::Nil, Reply::Nil])
        );
        assert_eq!(
            h.run(&[
                "bitfield", "bf", "set", "u8", "#2", "255", "get", "u8", "#2", "get", "i8", "#2", "get", "i64", "0",
                "get", "u63", "0", "get", "i64", "16"
            ]),
            ints(&[0, 255, -1, -9223091661389692928, 4611826206159929344, -72057594037927936])
        );
        let mut want = vec![0u8; 13];
        want[0] = 0x80;
        want[2] = 0xff;
        want[12] = 0x03;
        assert_eq!(h.run(&["get", "bf"]), raw(&want));
        assert_eq!(
            h.run(&[
                "bitfield",
                "bf",
                "set",
                "i64",
                "0",
                "-1",
                "get",
                "i64",
                "0",
                "get",
                "u63",
                "0",
                "incrby",
                "i64",
                "0",
                "1",
                "overflow",
                "sat",
                "incrby",
                "i64",
                "0",
                "-9223372036854775808",
                "incrby",
                "i64",
                "0",
                "-5",
                "overflow",
                "wrap",
                "incrby",
                "i64",
                "0",
                "-5"
            ]),
            ints(&[
                -9223091661389692928,
                -1,
                9223372036854775807,
                0,
                -9223372036854775808,
                -9223372036854775808,
                9223372036854775803
            ])
        );
        assert_eq!(
            h.run(&[
                "bitfield", "bf", "set", "u8", "0", "-1", "overflow", "sat", "set", "u8", "0", "-1", "set", "i4", "0",
                "100", "set", "i4", "0", "-100", "overflow", "fail", "set", "u2", "0", "4", "set", "i1", "0", "-1",
                "set", "i1", "0", "1", "get", "i1", "0"
            ]),
            arr(vec![int(127), int(255), int(-1), int(7), Reply::Nil, int(-1), Reply::Nil, int(-1)])
        );
        assert_eq!(h.run(&["bitfield_ro", "bf", "get", "u8", "0", "get", "u8", "#1"]), ints(&[143, 255]));
        assert_eq!(h.run(&["bitfield", "nokey", "get", "u8", "0", "get", "i64", "100"]), ints(&[0, 0]));
        assert_eq!(h.run(&["exists", "nokey"]), int(0), "GETs alone create nothing");
        assert_eq!(h.run(&["bitfield", "bf", "overflow", "sat"]), arr(vec![]));
        assert_eq!(h.run(&["bitfield", "bf"]), arr(vec![]));
        assert_eq!(h.run(&["bitfield_ro", "bf"]), arr(vec![]));
        assert_eq!(h.run(&["bitfield", "bf", "GET", "u8", "0", "OVERFLOW", "WRAP"]), ints(&[143]));
    });
}

#[test]
fn bitfield_unsigned_and_signed_edges() {
    each(|h| {
        // u63 covers the largest unsigned field; i64 the largest signed one.
        assert_eq!(
            h.run(&["bitfield", "k", "set", "u63", "0", "9223372036854775807", "get", "u63", "0"]),
            ints(&[0, i64::MAX])
        );
        assert_eq!(h.run(&["bitfield", "k", "incrby", "u63", "0", "1"]), ints(&[0]));
        assert_eq!(h.run(&["bitfield", "k", "overflow", "sat", "incrby", "u63", "0", "-1"]), ints(&[0]));
        assert_eq!(h.run(&["bitfield", "k", "overflow", "wrap", "incrby", "u63", "0", "-1"]), ints(&[i64::MAX]));
        assert_eq!(h.run(&["bitfield", "k", "incrby", "u1", "100", "3", "get", "u1", "100"]), ints(&[1, 1]));
        assert_eq!(
            h.run(&["bitfield", "k", "overflow", "sat", "incrby", "i1", "200", "5", "incrby", "i1", "200", "-5"]),
            ints(&[0, -1])
        );
        assert_eq!(
            h.run(&["bitfield", "k", "incrby", "i5", "3", "-17", "get", "i5", "3", "get", "u5", "3"]),
            ints(&[14, 14, 14])
        );
        assert_eq!(
            h.run(&[
                "bitfield", "k", "overflow", "fail", "incrby", "u8", "300", "256", "incrby", "u8", "300", "-1",
                "incrby", "u8", "300", "255"
            ]),
            arr(vec![Reply::Nil, Reply::Nil, int(255)])
        );
        // A field straddling bytes, at an unaligned offset.
        assert_eq!(h.run(&["bitfield", "s", "set", "u12", "5", "4095", "get", "u16", "0"]), ints(&[0, 0x07ff]));
        assert_eq!(h.run(&["get", "s"]), raw(&[0x07, 0xff, 0x80]));
    });
}

#[test]
fn bitfield_errors_in_redis_order() {
    each(|h| {
        for bad in ["u64", "i65", "i0", "u", "x8", "I8", "U8", "i-1", "", "i 8"] {
            assert_eq!(h.run(&["bitfield", "k", "get", bad, "0"]), err(BAD_TYPE), "{bad:?}");
        }
        assert_eq!(h.run(&["bitfield", "k", "get", "i8", "x"]), err(OFFSET));
        assert_eq!(h.run(&["bitfield", "k", "get", "i8", "-1"]), err(OFFSET));
        assert_eq!(h.run(&["bitfield", "k", "get", "i8", "#-1"]), err(OFFSET));
        assert_eq!(h.run(&["bitfield", "k", "get", "i8", "#"]), err(OFFSET));
        assert_eq!(h.run(&["bitfield", "k", "get", "i64", "#144115188075855872"]), err(OFFSET), "wraps negative");
        assert_eq!(h.run(&["bitfield", "k", "set", "i8", "0", "x"]), err(NOT_INT));
        assert_eq!(h.run(&["bitfield", "k", "incrby", "i8", "0", "1.5"]), err(NOT_INT));
        assert_eq!(h.run(&["bitfield", "k", "get", "i8", "0", "set"]), err(SYNTAX));
        assert_eq!(h.run(&["bitfield", "k", "get", "i8"]), err(SYNTAX));
        assert_eq!(h.run(&["bitfield", "k", "set", "i8", "0"]), err(SYNTAX));
        assert_eq!(h.run(&["bitfield", "k", "frob", "i8", "0"]), err(SYNTAX));
        assert_eq!(h.run(&["bitfield", "k", "overflow"]), err(SYNTAX));
        assert_eq!(h.run(&["bitfield", "k", "overflow", "foo"]), err("ERR Invalid OVERFLOW type specified"));
        // A bad later subcommand means nothing runs at all.
        assert_eq!(h.run(&["bitfield", "k", "set", "u8", "0", "1", "get", "u64", "0"]), err(BAD_TYPE));
        assert_eq!(h.run(&["exists", "k"]), int(0));
        let ro = err("ERR BITFIELD_RO only supports the GET subcommand");
        assert_eq!(h.run(&["bitfield_ro", "k", "set", "i8", "0", "1"]), ro);
        assert_eq!(h.run(&["bitfield_ro", "k", "get", "i8", "0", "incrby", "i8", "0", "1"]), ro);
        assert_eq!(h.run(&["bitfield_ro", "k", "overflow", "sat", "get", "u8", "0"]), ints(&[0]));
        h.run(&["sadd", "s", "a"]);
        assert_eq!(h.run(&["bitfield", "s", "get", "u8", "0"]), err(WRONGTYPE));
        assert_eq!(h.run(&["bitfield", "s", "set", "u8", "0", "1"]), err(WRONGTYPE));
        assert_eq!(h.run(&["bitfield_ro", "s", "get", "u8", "0"]), err(WRONGTYPE));
        assert_eq!(h.run(&["bitfield_ro", "s", "set", "u8", "0", "1"]), ro, "the RO check comes before the type");
        assert_eq!(h.run(&["bitfield", "s", "get", "u99", "0"]), err(BAD_TYPE), "parsing comes before the type");
        assert_eq!(h.run(&["bitfield"]), err("ERR wrong number of arguments for 'bitfield' command"));
    });
}

#[test]
fn bitfield_dirty_counts_like_redis_7_0() {
    each(|h| {
        let d0 = dirty(h);
        // A FAIL overflow writes nothing and is no change, but the key is created.
        assert_eq!(h.run(&["bitfield", "nk", "overflow", "fail", "incrby", "u2", "0", "8"]), arr(vec![Reply::Nil]));
        assert_eq!(dirty(h), d0);
        assert_eq!(h.run(&["get", "nk"]), raw(&[0]));
        assert_eq!(h.run(&["bitfield", "nk", "overflow", "fail", "incrby", "u2", "100", "8"]), arr(vec![Reply::Nil]));
        assert_eq!(h.run(&["strlen", "nk"]), int(13));
        assert_eq!(dirty(h), d0);
        // Writing the value already there changes nothing...
        assert_eq!(h.run(&["bitfield", "nk", "set", "u8", "0", "0"]), ints(&[0]));
        assert_eq!(dirty(h), d0);
        // ...unless the string grew.
        assert_eq!(h.run(&["bitfield", "nk", "set", "u8", "200", "0", "set", "u8", "0", "0"]), ints(&[0, 0]));
        assert_eq!(dirty(h), d0 + 2);
        assert_eq!(
            h.run(&["bitfield", "nk", "incrby", "u8", "0", "1", "get", "u8", "0", "set", "u8", "0", "7"]),
            ints(&[1, 1, 1])
        );
        assert_eq!(dirty(h), d0 + 4);
        let (hits, misses) = hits_misses(h);
        h.run(&["bitfield", "nk", "get", "u8", "0"]);
        h.run(&["bitfield_ro", "nokey", "get", "u8", "0"]);
        h.run(&["bitfield", "nk", "set", "u8", "0", "1"]);
        assert_eq!(hits_misses(h), (hits + 1, misses + 1), "only read-only BITFIELDs count lookups");
    });
}

#[test]
fn bitmaps_are_strings_everywhere() {
    each(|h| {
        h.run(&["setbit", "k", "1", "1"]);
        h.run(&["setbit", "k", "7", "1"]);
        assert_eq!(h.run(&["get", "k"]), Reply::bulk("A"));
        assert_eq!(h.run(&["append", "k", "B"]), int(2));
        assert_eq!(h.run(&["bitcount", "k"]), int(4));
        assert_eq!(h.run(&["bitfield", "k", "get", "u16", "0"]), ints(&[0x4142]));
    });
}

#[test]
fn command_table_entries_match_redis() {
    use super::super::table::flag;
    let spec = |name: &str| super::COMMANDS.iter().find(|c| c.name == name).expect(name);
    for (name, arity, flags, keys) in [
        ("setbit", 4, flag::WRITE | flag::DENYOOM, (1, 1, 1)),
        ("getbit", 3, flag::READONLY | flag::FAST, (1, 1, 1)),
        ("bitcount", -2, flag::READONLY, (1, 1, 1)),
        ("bitpos", -3, flag::READONLY, (1, 1, 1)),
        ("bitop", -4, flag::WRITE | flag::DENYOOM, (2, -1, 1)),
        ("bitfield", -2, flag::WRITE | flag::DENYOOM, (1, 1, 1)),
        ("bitfield_ro", -2, flag::READONLY | flag::FAST, (1, 1, 1)),
    ] {
        let s = spec(name);
        assert_eq!((s.arity, s.flags, s.key_triple(), s.group), (arity, flags, keys, "bitmap"), "{name}");
    }
}
