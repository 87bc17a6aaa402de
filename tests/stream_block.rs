//! Blocking stream reads against the real server: XREAD and XREADGROUP woken by XADD
//! from another client, whichever shard owns the key; `$` meaning "after what was
//! there when the read blocked"; timeouts; Redis's errors when the stream or the
//! group goes away under a blocked XREADGROUP (DEL, XGROUP DESTROY, FLUSHALL, FLUSHDB);
//! no blocking inside MULTI.

use crate::common;
use crate::stream_common;

use common::{Raw, Resp, SHARD_COUNTS, Server, wait_until};
use std::time::{Duration, Instant};

fn blocked_clients(c: &mut Raw) -> u64 {
    let (Resp::Bulk(b) | Resp::Verbatim(_, b)) = c.cmd(&["info", "clients"]) else { panic!("info") };
    String::from_utf8(b)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("blocked_clients field")
}

fn wait_blocked(c: &mut Raw, n: u64) {
    assert!(wait_until(Duration::from_secs(20), || blocked_clients(c) == n), "never {n} blocked");
}

/// Keys spread over the shards: with four shards, eight keys land on several.
const KEYS: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];

#[test]
fn xread_block_is_woken_by_xadd_on_any_shard() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut admin = s.raw();
        for k in KEYS {
            assert!(matches!(admin.cmd(&["xadd", k, "1-1", "old", "1"]), Resp::Bulk(_)));
        }
        for (round, target) in KEYS.iter().enumerate() {
            let mut reader = s.raw();
            let mut args = vec!["xread", "block", "0", "streams"];
            args.extend(KEYS);
            args.extend(["$"; 8]);
            reader.send(&common::encode_cmd(&args));
            wait_blocked(&mut admin, 1);
            let id = format!("{}-1", round + 2);
            assert!(matches!(admin.cmd(&["xadd", target, &id, "new", "v"]), Resp::Bulk(_)));
            let want = Resp::Array(vec![Resp::Array(vec![
                Resp::bulk(target),
                Resp::Array(vec![Resp::Array(vec![
                    Resp::bulk(&id),
                    Resp::Array(vec![Resp::bulk("new"), Resp::bulk("v")]),
                ])]),
            ])]);
            assert_eq!(reader.read(), want, "{target} ({shards} shards)");
            wait_blocked(&mut admin, 0);
        }
    }
}

#[test]
fn xreadgroup_block_gets_new_entries_and_propagates_the_delivery() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut admin = s.raw();
        assert_eq!(admin.cmd(&["xgroup", "create", "q", "g", "$", "mkstream"]), Resp::simple("OK"));
        let mut a = s.raw();
        let mut b = s.raw();
        a.send(&common::encode_cmd(&["xreadgroup", "group", "g", "alice", "block", "0", "streams", "q", ">"]));
        wait_blocked(&mut admin, 1);
        b.send(&common::encode_cmd(&["xreadgroup", "group", "g", "bob", "block", "0", "streams", "q", ">"]));
        wait_blocked(&mut admin, 2);
        assert!(matches!(admin.cmd(&["xadd", "q", "1-1", "job", "1"]), Resp::Bulk(_)));
        let has = |r: &Resp, id: &str| format!("{r:?}").contains(&format!("{:?}", Resp::bulk(id)));
        let got = a.read();
        assert!(has(&got, "1-1"), "{got:?}");
        assert!(matches!(admin.cmd(&["xadd", "q", "2-1", "job", "2"]), Resp::Bulk(_)));
        let got = b.read();
        assert!(has(&got, "2-1"), "the second consumer gets the second entry: {got:?}");
        let Resp::Array(summary) = admin.cmd(&["xpending", "q", "g"]) else { panic!() };
        assert_eq!(summary[0], Resp::Int(2));
    }
}

#[test]
fn timeouts_and_multi() {
    let s = Server::start(2, &[]);
    let mut c = s.raw();
    let t = Instant::now();
    assert_eq!(c.cmd(&["xread", "block", "150", "streams", "nothing", "$"]), Resp::NilArray);
    assert!(t.elapsed() >= Duration::from_millis(140), "returned early: {:?}", t.elapsed());
    assert_eq!(c.cmd(&["xgroup", "create", "q", "g", "$", "mkstream"]), Resp::simple("OK"));
    let t = Instant::now();
    assert_eq!(c.cmd(&["xreadgroup", "group", "g", "c", "block", "100", "streams", "q", ">"]), Resp::NilArray);
    assert!(t.elapsed() >= Duration::from_millis(90));
    // Inside MULTI a blocking read answers at once, as if it timed out.
    assert_eq!(c.cmd(&["multi"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["xread", "block", "0", "streams", "q", "$"]), Resp::simple("QUEUED"));
    assert_eq!(c.cmd(&["exec"]), Resp::Array(vec![Resp::NilArray]));
}

#[test]
fn blocked_xreadgroup_gets_redis_errors_when_its_stream_or_group_goes() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut admin = s.raw();
        assert_eq!(admin.cmd(&["xgroup", "create", "q", "g", "$", "mkstream"]), Resp::simple("OK"));
        let mut c = s.raw();
        c.send(&common::encode_cmd(&["xreadgroup", "group", "g", "c", "block", "0", "streams", "q", ">"]));
        wait_blocked(&mut admin, 1);
        assert_eq!(admin.cmd(&["xgroup", "destroy", "q", "g"]), Resp::Int(1));
        assert_eq!(c.read(), Resp::err("NOGROUP the consumer group this client was blocked on no longer exists"));
        assert_eq!(admin.cmd(&["xgroup", "create", "q", "g", "$"]), Resp::simple("OK"));
        c.send(&common::encode_cmd(&["xreadgroup", "group", "g", "c", "block", "0", "streams", "q", ">"]));
        wait_blocked(&mut admin, 1);
        assert_eq!(admin.cmd(&["del", "q"]), Resp::Int(1));
        assert_eq!(c.read(), Resp::err("UNBLOCKED the stream key no longer exists"));
        wait_blocked(&mut admin, 0);
    }
}

/// Redis 7.0 answers a woken XREAD / XREADGROUP with the stream whose write woke it,
/// the first one written, even when a transaction fed several of its streams before
/// it was served.
#[test]
fn woken_read_answers_with_the_stream_that_woke_it_as_redis() {
    let real = common::compare::real_redis("xread-woken");
    let streams = ["{t}a", "{t}b", "{t}c"];
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        for proto in [2u8, 3] {
            let mut p = common::compare::Pair::new(&s, &real, proto);
            p.both(&["flushall"]);
            for k in streams {
                p.same(&["xadd", k, "1-1", "f", "old"]);
            }
            let reads: [&[&str]; 2] = [
                &["xread", "block", "0", "streams", "{t}a", "{t}b", "{t}c", "$", "$", "$"],
                &["xreadgroup", "group", "g", "alice", "block", "0", "streams", "{t}a", "{t}b", "{t}c", ">", ">", ">"],
            ];
            for (round, read) in reads.iter().enumerate() {
                if round == 1 {
                    for k in streams {
                        p.same(&["xgroup", "create", k, "g", "$"]);
                    }
                }
                let mut ours = s.raw();
                let mut theirs = stream_common::raw_to(real.port);
                if proto == 3 {
                    ours.cmd(&["hello", "3"]);
                    theirs.cmd(&["hello", "3"]);
                }
                ours.send(&common::encode_cmd(read));
                theirs.send(&common::encode_cmd(read));
                wait_blocked(&mut p.ours, 1);
                wait_blocked(&mut p.theirs, 1);
                p.same(&["multi"]);
                for k in ["{t}b", "{t}a", "{t}c"] {
                    p.same(&["xadd", k, &format!("{}-1", round + 2), "f", "new"]);
                }
                p.same(&["exec"]);
                let (got, want) = (ours.read(), theirs.read());
                assert_eq!(got, want, "{read:?} on {shards} shard(s), RESP{proto}");
            }
        }
    }
}

/// With its streams on several shards, a woken read still answers with exactly one
/// stream, one that was written.
#[test]
fn woken_read_across_shards_answers_with_one_written_stream() {
    let s = Server::start(4, &[]);
    let mut admin = s.raw();
    for k in KEYS {
        admin.cmd(&["xadd", k, "1-1", "f", "old"]);
    }
    let mut reader = s.raw();
    let mut read = vec!["xread", "block", "0", "streams"];
    read.extend(KEYS);
    read.extend(["$"; 8]);
    reader.send(&common::encode_cmd(&read));
    wait_blocked(&mut admin, 1);
    admin.cmd(&["multi"]);
    for k in ["k6", "k1", "k3", "k4"] {
        admin.cmd(&["xadd", k, "2-1", "f", "new"]);
    }
    assert!(matches!(admin.cmd(&["exec"]), Resp::Array(v) if v.len() == 4));
    let Resp::Array(got) = reader.read() else { panic!("an array") };
    assert_eq!(got.len(), 1, "{got:?}");
    let Resp::Array(pair) = &got[0] else { panic!("{got:?}") };
    assert!(["k6", "k1", "k3", "k4"].iter().any(|k| pair[0] == Resp::bulk(k)), "{got:?}");
    assert_eq!(blocked_clients(&mut admin), 0);
}

/// FLUSHALL and FLUSHDB take the stream from under a blocked XREADGROUP: Redis 7.0
/// answers it an error at once (Redis's own suite, "Blocking XREADGROUP: flushed
/// DB"); shardis answered nothing and the client stayed blocked.
#[test]
fn flush_answers_a_blocked_xreadgroup_as_redis() {
    let real = common::compare::real_redis("xreadgroup-flush");
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut p = common::compare::Pair::new(&s, &real, 2);
        for flush in [&["flushall"][..], &["flushdb"], &["flushall", "async"], &["flushdb", "sync"]] {
            p.both(&["flushall"]);
            p.same(&["xadd", "q", "1-1", "f", "v"]);
            p.same(&["xgroup", "create", "q", "g", "$"]);
            let mut ours = s.raw();
            let mut theirs = stream_common::raw_to(real.port);
            let read = ["xreadgroup", "group", "g", "alice", "block", "0", "streams", "q", ">"];
            ours.send(&common::encode_cmd(&read));
            theirs.send(&common::encode_cmd(&read));
            wait_blocked(&mut p.ours, 1);
            wait_blocked(&mut p.theirs, 1);
            p.same(flush);
            let (got, want) = (ours.read(), theirs.read());
            assert_eq!(got, want, "{flush:?} on {shards} shard(s)");
            wait_blocked(&mut p.ours, 0);
        }
    }
}

/// INFO commandstats counts a command that blocked once, when it blocked; being served
/// adds its failure (Redis 7.0's `updateStatsOnUnblock`), not another call. Redis's
/// suite checks `calls=1,...,failed_calls=1` after XGROUP DESTROY wakes XREADGROUP;
/// shardis counted the wake-up as a second call.
#[test]
fn a_woken_blocked_command_counts_one_call_as_redis() {
    let real = common::compare::real_redis("blocked-calls");
    let calls = |c: &mut Raw, name: &str| -> String {
        let (Resp::Bulk(b) | Resp::Verbatim(_, b)) = c.cmd(&["info", "commandstats"]) else { panic!("info") };
        let line = String::from_utf8(b).unwrap().lines().find(|l| l.starts_with(name)).unwrap_or_default().to_owned();
        // usec differs between servers; calls and failures must not.
        line.split(',').filter(|f| !f.contains("usec")).collect::<Vec<_>>().join(",")
    };
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut p = common::compare::Pair::new(&s, &real, 2);
        p.both(&["flushall"]);
        p.same(&["config", "resetstat"]);
        p.same(&["xgroup", "create", "q", "g", "$", "mkstream"]);
        let blocked: [(&[&str], &[&str]); 3] = [
            (&["xreadgroup", "group", "g", "c", "block", "0", "streams", "q", ">"], &["xgroup", "destroy", "q", "g"]),
            (&["blpop", "a", "b", "c", "0"], &["rpush", "b", "x"]),
            (&["bzpopmin", "z", "0"], &["zadd", "z", "1", "m"]),
        ];
        for (read, wake) in blocked {
            let mut ours = s.raw();
            let mut theirs = stream_common::raw_to(real.port);
            ours.send(&common::encode_cmd(read));
            theirs.send(&common::encode_cmd(read));
            wait_blocked(&mut p.ours, 1);
            wait_blocked(&mut p.theirs, 1);
            p.same(wake);
            assert_eq!(ours.read(), theirs.read(), "{read:?}");
            wait_blocked(&mut p.ours, 0);
        }
        for name in ["cmdstat_xreadgroup:", "cmdstat_blpop:", "cmdstat_bzpopmin:"] {
            assert_eq!(calls(&mut p.ours, name), calls(&mut p.theirs, name), "{shards} shard(s)");
        }
        let total = |c: &mut Raw| {
            let (Resp::Bulk(b) | Resp::Verbatim(_, b)) = c.cmd(&["info", "stats"]) else { panic!("info") };
            String::from_utf8(b).unwrap().lines().find(|l| l.starts_with("total_error_replies:")).unwrap().to_owned()
        };
        assert_eq!(total(&mut p.ours), total(&mut p.theirs), "{shards} shard(s)");
    }
}
