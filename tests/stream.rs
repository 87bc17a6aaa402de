//! Streams against redis-server 7.0: the same command sequences run on shardis (1 and
//! 4 shards) and on a real `redis-server`, over RESP2 and RESP3, and every reply must
//! match. Values that depend on the moment a command ran (idle times, delivery and
//! seen times) are zeroed on both sides before comparing; so is XINFO's
//! `radix-tree-nodes`, a count of Redis's radix tree nodes that a B-tree does not
//! have (`radix-tree-keys`, the node count, is compared). Explicit IDs are used
//! throughout; `*` IDs are checked on their own.
//!
//! Needs `redis-server`; a missing binary fails the test, it never skips.

use crate::common;

use common::{Raw, RealRedis, Resp, RespReader, SHARD_COUNTS, Server, temp_dir};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn raw_to(port: u16) -> Raw {
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let r = s.try_clone().unwrap();
    Raw { w: s, r: RespReader::new(r) }
}

const MASKED_KEYS: &[&[u8]] = &[b"idle", b"seen-time", b"radix-tree-nodes"];

fn zero_masked(v: &mut [Resp]) {
    for i in 0..v.len().saturating_sub(1) {
        if let Resp::Bulk(k) = &v[i]
            && MASKED_KEYS.contains(&k.as_slice())
        {
            v[i + 1] = Resp::Int(0);
        }
    }
}

/// Zeroes time-dependent values (see the module doc).
fn normalize(cmd: &[&str], r: Resp) -> Resp {
    let name = cmd[0].to_ascii_lowercase();
    let full = name == "xinfo" && cmd.iter().any(|a| a.eq_ignore_ascii_case("full"));
    let pending_ext = name == "xpending" && cmd.len() > 3;
    fn walk(r: Resp, full: bool, pending_ext: bool, depth: usize) -> Resp {
        match r {
            Resp::Array(v) => {
                let mut v: Vec<Resp> = v.into_iter().map(|x| walk(x, full, pending_ext, depth + 1)).collect();
                zero_masked(&mut v);
                let shape4 = v.len() == 4
                    && matches!(v[0], Resp::Bulk(_))
                    && matches!(v[1], Resp::Bulk(_))
                    && matches!(v[2], Resp::Int(_))
                    && matches!(v[3], Resp::Int(_));
                if (pending_ext && depth == 1 && shape4) || (full && shape4) {
                    v[2] = Resp::Int(0);
                }
                if full && v.len() == 3 && matches!(v[0], Resp::Bulk(_)) && matches!(v[1], Resp::Int(_)) {
                    v[1] = Resp::Int(0);
                }
                Resp::Array(v)
            }
            Resp::Map(m) => {
                let m = m
                    .into_iter()
                    .map(|(k, val)| {
                        let masked = matches!(&k, Resp::Bulk(b) if MASKED_KEYS.contains(&b.as_slice()));
                        let val = if masked { Resp::Int(0) } else { walk(val, full, pending_ext, depth + 1) };
                        (k, val)
                    })
                    .collect();
                Resp::Map(m)
            }
            other => other,
        }
    }
    walk(r, full, pending_ext, 0)
}

/// Runs `script` on a fresh shardis (each shard count) and on `real` (flushed), in
/// RESP2 and RESP3, comparing every reply.
pub fn compare(script: &[&[&str]]) {
    let dir = temp_dir("stream-real");
    let real = RealRedis::start(&dir);
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        for proto in [2, 3] {
            let mut a = raw_to(real.port);
            let mut b = s.raw();
            for c in [&mut a, &mut b] {
                assert_eq!(c.cmd(&["flushall"]), Resp::simple("OK"));
                if proto == 3 {
                    assert!(matches!(c.cmd(&["hello", "3"]), Resp::Map(_)));
                }
            }
            for cmd in script {
                let want = normalize(cmd, a.cmd(cmd));
                let got = normalize(cmd, b.cmd(cmd));
                assert_eq!(got, want, "{cmd:?} (shards {shards}, RESP{proto})");
            }
        }
    }
    drop(real);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn add_range_len_del_trim_setid_match_redis() {
    compare(&[
        &["xadd", "s", "1-1", "a", "1"],
        &["xadd", "s", "1-1", "a", "1"],
        &["xadd", "s", "0-0", "a", "1"],
        &["xadd", "s", "0", "a", "1"],
        &["xadd", "s", "1", "b", "2"],
        &["xadd", "s", "1-*", "c", "3"],
        &["xadd", "s", "5-*", "c", "3"],
        &["xadd", "s", "3-5", "a"],
        &["xadd", "s", "MAXLEN", "2", "LIMIT", "5", "6-1", "a", "1"],
        &["xadd", "s", "maxlen", "~", "2", "limit", "-1", "6-1", "a", "1"],
        &["xadd", "s", "maxlen", "-1", "6-1", "a", "1"],
        &["xadd", "s", "maxlen", "2", "minid", "5", "6-1", "a", "1"],
        &["xadd", "s", "limit", "2", "6-1", "a", "1"],
        &["xadd", "s", "nomkstream", "6-1", "a", "1"],
        &["xadd", "nos", "nomkstream", "6-1", "a", "1"],
        &["exists", "nos"],
        &["xadd", "s", "6-x", "a", "1"],
        &["xadd", "s", "18446744073709551615-18446744073709551615", "a", "1"],
        &["xadd", "s", "7-1", "a", "1"],
        &["xadd", "t", "18446744073709551615-18446744073709551615", "a", "1"],
        &["xadd", "t", "*", "a", "1"],
        &["xadd", "t", "18446744073709551615-*", "a", "1"],
        &["xrange", "s", "-", "+"],
        &["xrange", "s", "-", "+", "count", "2"],
        &["xrange", "s", "-", "+", "COUNT", "0"],
        &["xrange", "s", "-", "+", "count", "-1"],
        &["xrange", "s", "(1-1", "+"],
        &["xrange", "s", "1", "1"],
        &["xrange", "s", "(-", "+"],
        &["xrange", "s", "-", "(0-0"],
        &["xrange", "s", "(18446744073709551615-18446744073709551615", "+"],
        &["xrange", "s", "-", "+", "foo"],
        &["xrange", "s", "-", "+", "count"],
        &["xrange", "s", "abc", "+"],
        &["xrange", "s", "5", "1"],
        &["xrevrange", "s", "+", "-"],
        &["xrevrange", "s", "+", "-", "count", "1"],
        &["xrevrange", "s", "(5-1", "-"],
        &["xrange", "nokey", "-", "+"],
        &["xlen", "s"],
        &["xlen", "nokey"],
        &["xdel", "s", "1-2", "99-1"],
        &["xdel", "s", "bad"],
        &["xdel", "nokey", "bad"],
        &["xrange", "s", "-", "+"],
        &["xtrim", "s", "maxlen", "1"],
        &["xtrim", "s", "minid", "7"],
        &["xtrim", "s", "foo", "1"],
        &["xtrim", "s", "maxlen"],
        &["xtrim", "s", "maxlen", "~", "0", "limit", "2"],
        &["xtrim", "s", "maxlen", "0", "limit", "2"],
        &["xtrim", "nokey", "maxlen", "0"],
        &["set", "str", "x"],
        &["xadd", "str", "1-1", "a", "1"],
        &["xrange", "str", "-", "+"],
        &["xlen", "str"],
        &["xtrim", "str", "maxlen", "0"],
        &["xsetid", "s", "1-1"],
        &["xsetid", "s", "99-1", "entriesadded", "1"],
        &["xsetid", "s", "99-1", "entriesadded", "100", "maxdeletedid", "100-1"],
        &["xsetid", "s", "99-1", "entriesadded", "100", "maxdeletedid", "5-1"],
        &["xsetid", "nokey", "1-1"],
        &["xsetid", "s", "99-1", "foo"],
        &["xsetid", "s", "99-1", "entriesadded", "-1"],
        &["xsetid", "str", "99-1"],
        &["xinfo", "stream", "s"],
        &["xinfo", "stream", "t"],
        &["xinfo", "stream", "str"],
        &["xinfo", "stream", "nokey"],
        &["xinfo", "foo"],
        &["xinfo", "help"],
        &["xinfo", "stream"],
        &["xinfo", "stream", "s", "full", "count", "1"],
        &["xinfo", "stream", "s", "full", "foo"],
        &["xinfo", "stream", "s", "foo"],
        &["type", "s"],
        &["object", "encoding", "s"],
        &["xadd"],
        &["xadd", "s", "8-1"],
    ]);
}

#[test]
fn trims_across_nodes_match_redis() {
    let mut script: Vec<Vec<String>> = Vec::new();
    for i in 1..=350 {
        script.push(vec!["xadd".into(), "big".into(), format!("{i}-1"), "f".into(), i.to_string()]);
    }
    for c in [
        "xlen big",
        "xinfo stream big",
        "xadd big maxlen ~ 280 351-1 f 351",
        "xlen big",
        "xtrim big maxlen ~ 120",
        "xlen big",
        "xtrim big minid ~ 230",
        "xrange big - + count 2",
        "xtrim big minid 235",
        "xrange big - + count 2",
        "xtrim big maxlen ~ 10 limit 50",
        "xlen big",
        "xdel big 300-1 301-1",
        "xinfo stream big",
        "xtrim big maxlen = 3",
        "xrange big - +",
        "xinfo stream big",
    ] {
        script.push(c.split(' ').map(String::from).collect());
    }
    let refs: Vec<Vec<&str>> = script.iter().map(|c| c.iter().map(|s| s.as_str()).collect()).collect();
    let refs: Vec<&[&str]> = refs.iter().map(|c| c.as_slice()).collect();
    compare(&refs);
}

#[test]
fn consumer_groups_match_redis() {
    compare(&[
        &["xadd", "s", "1", "b", "2"],
        &["xadd", "s", "1-*", "c", "3"],
        &["xadd", "s", "2-1", "a", "1"],
        &["xadd", "s", "3-1", "a", "1", "b", "2"],
        &["xadd", "s", "4-1", "a", "1"],
        &["xgroup", "create", "s", "g", "0"],
        &["xgroup", "create", "s", "g", "0"],
        &["xgroup", "create", "nokey", "g", "0"],
        &["xgroup", "create", "nokey", "g", "$", "mkstream"],
        &["xinfo", "stream", "nokey"],
        &["xgroup", "create", "s", "g2", "$", "entriesread", "3"],
        &["xgroup", "create", "s", "g3", "$", "entriesread", "-2"],
        &["xgroup", "create", "s", "g3", "bad"],
        &["xgroup", "create", "s", "g3", "0", "foo"],
        &["xgroup", "create", "s", "g3", "0", "mkstream", "entriesread", "1", "foo"],
        &["xgroup", "setid", "s", "nog", "0"],
        &["xgroup", "setid", "s", "g2", "1-0", "entriesread", "1"],
        &["xgroup", "setid", "s", "g2", "1-0", "foo", "1"],
        &["xgroup", "setid", "s", "g2", "-"],
        &["xgroup", "foo"],
        &["xgroup", "create", "s"],
        &["xgroup", "destroy", "s", "g3"],
        &["xgroup", "destroy", "s", "nog"],
        &["xgroup", "help"],
        &["xgroup", "createconsumer", "s", "g", "alice"],
        &["xgroup", "createconsumer", "s", "g", "alice"],
        &["xgroup", "createconsumer", "s", "nog", "alice"],
        &["xgroup", "delconsumer", "s", "g", "nobody"],
        &["xgroup", "createconsumer", "str", "g", "alice"],
        &["xinfo", "groups", "s"],
        &["xinfo", "consumers", "s", "g"],
        &["xinfo", "consumers", "s", "nog"],
        &["xreadgroup", "group", "g", "alice", "count", "2", "streams", "s", ">"],
        &["xreadgroup", "group", "g", "bob", "streams", "s", ">"],
        &["xreadgroup", "group", "g", "bob", "streams", "s", ">"],
        &["xreadgroup", "group", "g", "alice", "streams", "s", "0"],
        &["xreadgroup", "group", "g", "alice", "count", "1", "streams", "s", "0"],
        &["xreadgroup", "group", "g", "alice", "streams", "s", "$"],
        &["xread", "streams", "s", ">"],
        &["xread", "group", "g", "a", "streams", "s", "0"],
        &["xreadgroup", "group", "nog", "a", "streams", "s", "0"],
        &["xreadgroup", "group", "g", "a", "streams", "s", "nokey", "0", "0"],
        &["xreadgroup", "group", "g", "a", "streams", "s"],
        &["xreadgroup", "streams", "s", "0"],
        &["xread", "count", "1", "streams", "s", "0"],
        &["xread", "count", "1", "streams", "s"],
        &["xread", "streams", "s", "nokey", "0", "0"],
        &["xread", "streams", "s", "nokey", "t", "1-1", "0", "0"],
        &["xread", "streams", "s", "$"],
        &["xread", "block", "-1", "streams", "s", "$"],
        &["xread", "block", "x", "streams", "s", "$"],
        &["xread", "noack", "streams", "s", "0"],
        &["xread", "count", "x", "streams", "s", "0"],
        &["xread", "streams", "str", "0"],
        &["xinfo", "groups", "s"],
        &["xpending", "s", "g"],
        &["xpending", "s", "g", "-", "+", "10"],
        &["xpending", "s", "g", "-", "+", "10", "alice"],
        &["xpending", "s", "g", "-", "+", "10", "nobody"],
        &["xpending", "s", "g", "(1-0", "(4-1", "1"],
        &["xpending", "s", "g", "IDLE", "100000", "-", "+", "10"],
        &["xpending", "s", "g", "idle"],
        &["xpending", "s", "g", "-", "+"],
        &["xpending", "s", "nog"],
        &["xpending", "nokey", "g"],
        &["xpending", "s", "g", "-", "+", "x"],
        &["xpending", "s", "g", "x", "+", "10"],
        &["xpending", "str", "g"],
        &["xack", "s", "g", "1-0", "1-0", "99-1"],
        &["xack", "s", "g", "bad"],
        &["xack", "s", "nog", "bad"],
        &["xack", "nokey", "g", "1"],
        &["xpending", "s", "g"],
        &["xdel", "s", "2-1"],
        &["xreadgroup", "group", "g", "bob", "streams", "s", "0"],
        &["xclaim", "s", "g", "carol", "0", "2-1", "3-1", "justid"],
        &["xclaim", "s", "g", "carol", "0", "4-1", "force", "retrycount", "7"],
        &["xclaim", "s", "g", "carol", "0", "1-1", "time", "12345", "justid"],
        &["xclaim", "s", "g", "carol", "x", "4-1"],
        &["xclaim", "s", "g", "carol", "0", "4-1", "bogus"],
        &["xclaim", "s", "g", "carol", "0", "4-1", "idle", "x"],
        &["xclaim", "s", "nog", "carol", "0", "4-1"],
        &["xclaim", "s", "g", "carol", "0", "4-1", "lastid", "9-9", "justid"],
        &["xinfo", "groups", "s"],
        &["xpending", "s", "g", "-", "+", "10"],
        &["xinfo", "stream", "s", "full"],
        &["xautoclaim", "s", "g", "dave", "0", "0"],
        &["xautoclaim", "s", "g", "dave", "0", "0", "count", "1"],
        &["xautoclaim", "s", "g", "erin", "0", "0", "count", "1", "justid"],
        &["xautoclaim", "s", "g", "dave", "0", "0", "count", "0"],
        &["xautoclaim", "s", "g", "dave", "0", "0", "justid", "count", "1", "foo"],
        &["xautoclaim", "s", "nog", "dave", "0", "0"],
        &["xautoclaim", "s", "g", "dave", "x", "0"],
        &["xautoclaim", "s", "g", "dave", "3600000", "0"],
        &["xinfo", "consumers", "s", "g"],
        &["xgroup", "delconsumer", "s", "g", "dave"],
        &["xinfo", "groups", "s"],
        &["xinfo", "stream", "s"],
        &["xinfo", "stream", "s", "full", "count", "0"],
        &["xgroup", "destroy", "s", "g"],
        &["xgroup", "destroy", "s", "g"],
        &["xinfo", "groups", "s"],
        &["xreadgroup", "group", "g2", "z", "noack", "streams", "s", ">"],
        &["xinfo", "groups", "s"],
        &["xadd", "s", "9-1", "x", "y"],
        &["xdel", "s", "3-1"],
        &["xinfo", "groups", "s"],
        &["xreadgroup", "group", "g2", "z", "streams", "s", ">"],
        &["xinfo", "groups", "s"],
    ]);
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn id_of(r: &Resp) -> (u64, u64) {
    let Resp::Bulk(b) = r else { panic!("not an ID: {r:?}") };
    let s = String::from_utf8(b.clone()).unwrap();
    let (ms, seq) = s.split_once('-').expect("ms-seq");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

/// `*` IDs: the server's time in ms, sequence 0 for a new ms, always increasing, and
/// `ms-*` picks the next sequence in that millisecond.
#[test]
fn generated_ids_follow_the_clock_and_grow() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut c = s.raw();
        let before = now_ms();
        let mut last = (0, 0);
        for _ in 0..200 {
            let id = id_of(&c.cmd(&["xadd", "s", "*", "f", "v"]));
            assert!(id > last, "{id:?} after {last:?}");
            last = id;
        }
        let after = now_ms();
        assert!(last.0 >= before && last.0 <= after + 1, "{last:?} not within [{before}, {after}]");
        let fut = format!("{}-5", after + 100_000);
        assert_eq!(id_of(&c.cmd(&["xadd", "s", &fut, "f", "v"])), (after + 100_000, 5));
        assert_eq!(id_of(&c.cmd(&["xadd", "s", "*", "f", "v"])), (after + 100_000, 6), "clock behind the last ID");
        let ms = format!("{}-*", after + 200_000);
        assert_eq!(id_of(&c.cmd(&["xadd", "s", &ms, "f", "v"])), (after + 200_000, 0));
        assert_eq!(id_of(&c.cmd(&["xadd", "s", &ms, "f", "v"])), (after + 200_000, 1));
        assert_eq!(c.cmd(&["xlen", "s"]), Resp::Int(204));
    }
}

/// Garbage of every kind gets an error and leaves the server serving.
#[test]
fn bad_input_gets_errors_and_the_server_lives() {
    let s = Server::start(4, &[]);
    let mut c = s.raw();
    assert!(matches!(c.cmd(&["xadd", "k", "1-1", "f", "v"]), Resp::Bulk(_)));
    let bad: &[&[&str]] = &[
        &["xadd", "k", "99999999999999999999999-1", "f", "v"],
        &["xadd", "k", "1-1-1", "f", "v"],
        &["xadd", "k", "maxlen", "~", "x", "*", "f", "v"],
        &["xrange", "k", "((1", "+"],
        &["xread", "count", "1", "block", "99999999999999999999", "streams", "k", "$"],
        &["xread", "block", "9223372036854775807", "streams", "k", "$"],
        &["xreadgroup", "group", "g", "c", "streams", "k", "k2", ">"],
        &["xgroup", "create", "k", "g", "0", "entriesread", "x"],
        &["xclaim", "k", "g", "c", "0", "1-1", "retrycount", "x"],
        &["xautoclaim", "k", "g", "c", "0", "(18446744073709551615-18446744073709551615"],
        &["xinfo", "stream", "k", "full", "count", "x"],
        &["xsetid", "k", "x"],
    ];
    for cmd in bad {
        let r = c.cmd(cmd);
        assert!(matches!(r, Resp::Error(_)), "{cmd:?}: {r:?}");
    }
    assert_eq!(c.cmd(&["xlen", "k"]), Resp::Int(1));
    assert_eq!(c.cmd(&["ping"]), Resp::simple("PONG"));
}

/// Found by `diff_random_types`: XTRIM parses its options before looking the key up
/// (a bad option is an error on a missing or wrong-type key); a group's lag is
/// negative when its entries-read is ahead of the stream's entries-added; an odd
/// STREAMS list gets Redis 7.0's one message, XREAD's, for XREADGROUP too.
#[test]
fn trim_options_negative_lag_and_unbalanced_streams_match_redis() {
    compare(&[
        &["xtrim", "nokey", "maxlen", "x"],
        &["xtrim", "nokey", "other", "5"],
        &["xtrim", "nokey", "minid", "=", "7-1", "limit"],
        &["set", "str", "v"],
        &["xtrim", "str", "other", "=", "0"],
        &["xtrim", "str", "maxlen", "-1"],
        &["xtrim", "str", "maxlen", "1"],
        &["xadd", "s", "1-1", "f", "v"],
        &["xadd", "s", "2-1", "f", "v"],
        &["xgroup", "create", "s", "g", "0", "entriesread", "5"],
        &["xinfo", "groups", "s"],
        &["xsetid", "s", "3-0", "entriesadded", "2"],
        &["xgroup", "create", "s", "h", "2-1", "entriesread", "3"],
        &["xinfo", "groups", "s"],
        &["xreadgroup", "group", "g", "c", "streams", "s"],
        &["xreadgroup", "group", "g", "c", "streams", "s", "t", ">"],
        &["xread", "streams", "s"],
    ]);
}

/// Found by `diff_random_types`: XREADGROUP creates its consumer only in the groups of
/// the streams it serves now; one that finds nothing new creates none.
#[test]
fn xreadgroup_creates_the_consumer_only_where_it_serves() {
    compare(&[
        &["xadd", "s", "1-1", "f", "v"],
        &["xadd", "t", "1-1", "f", "v"],
        &["xgroup", "create", "s", "g", "$"],
        &["xgroup", "create", "t", "g", "$"],
        &["xreadgroup", "group", "g", "c1", "streams", "s", ">"],
        &["xinfo", "consumers", "s", "g"],
        &["xinfo", "groups", "s"],
        &["xreadgroup", "group", "g", "c2", "streams", "s", "t", ">", "0"],
        &["xinfo", "consumers", "s", "g"],
        &["xinfo", "consumers", "t", "g"],
        &["xreadgroup", "group", "g", "c3", "streams", "s", "0"],
        &["xinfo", "consumers", "s", "g"],
        &["xgroup", "createconsumer", "s", "g", "c1"],
    ]);
}

/// Found by `diff_random_types`: XSETID does not compare the new ID with the current
/// max-deleted-entry-id (Redis 7.0 accepts it); a key named twice in one XREADGROUP
/// with `>` is served the second time from where the first read left the group.
#[test]
fn xsetid_below_the_tombstone_and_a_stream_read_twice_match_redis() {
    compare(&[
        &["xadd", "u", "1-1", "f", "v"],
        &["xadd", "u", "5-3", "f", "v"],
        &["xdel", "u", "5-3"],
        &["xsetid", "u", "4-3"],
        &["xsetid", "u", "3-3", "maxdeletedid", "1-3"],
        &["xinfo", "stream", "u"],
        &["xadd", "s", "1-1", "f", "1"],
        &["xadd", "s", "2-1", "f", "2"],
        &["xadd", "s", "3-1", "f", "3"],
        &["xgroup", "create", "s", "g", "0"],
        &["xreadgroup", "group", "g", "c", "count", "1", "streams", "s", "s", ">", ">"],
        &["xreadgroup", "group", "g", "c", "streams", "s", "s", ">", ">"],
        &["xreadgroup", "group", "g", "c", "streams", "s", "s", "0", ">"],
        &["xpending", "s", "g"],
    ]);
}

/// Found by `diff_random_types` (seed 52): a deletion before the stream's first entry
/// leaves no tombstone ahead of a group, so its lag is counted, not estimated, as in
/// Redis's `streamRangeHasTombstones`; the read counter advances the same way.
#[test]
fn lag_ignores_deletions_before_the_first_entry() {
    compare(&[
        &["xadd", "u", "1-0", "f", "v"],
        &["xadd", "u", "5-0", "f", "v"],
        &["xadd", "u", "6-0", "f", "v"],
        &["xgroup", "create", "u", "g", "0", "entriesread", "0"],
        &["xgroup", "create", "u", "h", "0"],
        &["xdel", "u", "1-0"],
        &["xinfo", "groups", "u"],
        &["xreadgroup", "group", "h", "c", "count", "1", "streams", "u", ">"],
        &["xinfo", "groups", "u"],
        &["xsetid", "u", "6-0", "maxdeletedid", "2-0"],
        &["xinfo", "groups", "u"],
        &["xsetid", "u", "6-0", "maxdeletedid", "5-0"],
        &["xinfo", "groups", "u"],
    ]);
}

/// Found by `diff_random_types` (seed 55): an entry XCLAIM ... FORCE adds to the PEL
/// counts one delivery, so with JUSTID its count is 1 and a plain claim makes it 2.
#[test]
fn xclaim_force_counts_the_new_entry_delivered_once() {
    compare(&[
        &["xadd", "s", "1-1", "f", "v"],
        &["xadd", "s", "2-1", "f", "v"],
        &["xadd", "s", "3-1", "f", "v"],
        &["xgroup", "create", "s", "g", "$"],
        &["xclaim", "s", "g", "c1", "0", "1-1", "justid", "force"],
        &["xclaim", "s", "g", "c1", "0", "2-1", "force"],
        &["xclaim", "s", "g", "c2", "0", "3-1", "force", "retrycount", "7"],
        &["xpending", "s", "g", "-", "+", "10"],
        &["xinfo", "groups", "s"],
    ]);
}

/// Found by `diff_random_types` (seed 60): an exact MINID trim that marks every live
/// entry of a node keeps the node (its last, deleted, ID is not below the MINID), as
/// Redis's streamTrim does; XINFO counts it and the next XADD appends to it.
#[test]
fn exact_trim_of_a_whole_node_by_marks_keeps_the_node() {
    compare(&[
        &["xadd", "s", "1-0", "f", "v"],
        &["xadd", "s", "2-0", "f", "v"],
        &["xadd", "s", "3-0", "f", "v"],
        &["xdel", "s", "3-0"],
        &["xtrim", "s", "minid", "3"],
        &["xinfo", "stream", "s"],
        &["xadd", "s", "4-0", "f", "v"],
        &["xinfo", "stream", "s"],
        &["xrange", "s", "-", "+"],
    ]);
}
