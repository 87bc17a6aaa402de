//! Lazy freeing: UNLINK, FLUSHALL/FLUSHDB ASYNC and the `lazyfree-lazy-*` settings
//! free big values in slices, one per loop turn of the owning shard. The command returns at once, the counters
//! (`lazyfree_pending_objects`, `lazyfreed_objects`) move, the data is gone, and the
//! other clients of the shard that owned the value keep being served.

use crate::common;
use common::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn info(c: &mut Raw, section: &str) -> HashMap<String, String> {
    let Resp::Bulk(b) = c.cmd(&["INFO", section]) else { panic!("INFO") };
    String::from_utf8(b)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.to_string(), v.trim().to_string())))
        .collect()
}

fn freed(c: &mut Raw) -> u64 {
    info(c, "memory")["lazyfreed_objects"].parse().unwrap()
}

fn pending(c: &mut Raw) -> u64 {
    info(c, "memory")["lazyfree_pending_objects"].parse().unwrap()
}

/// Builds a set of `n` members of 40 bytes (each its own allocation) at `key`.
fn big_set(c: &mut Raw, key: &str, n: usize) {
    let mut buf = Vec::new();
    let mut cmds = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut args: Vec<Vec<u8>> = vec![b"SADD".to_vec(), key.as_bytes().to_vec()];
        args.extend(chunk.iter().map(|i| format!("member-{i:033}").into_bytes()));
        encode_cmd_into(&mut buf, &args);
        cmds += 1;
    }
    c.send(&buf);
    for _ in 0..cmds {
        assert!(matches!(c.read(), Resp::Int(_)));
    }
    assert_eq!(c.cmd(&["SCARD", key]), Resp::Int(n as i64));
}

/// How long `args` takes to answer, and the longest wait a probe client saw for GETs
/// on the same shard meanwhile.
fn timed_with_probe(s: &Server, c: &mut Raw, args: &[&str], expect: Resp) -> (Duration, Duration) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut probe = s.raw();
    assert_eq!(probe.cmd(&["GET", "{big}probe"]), Resp::NilBulk);
    let stop2 = stop.clone();
    let prober = std::thread::spawn(move || {
        let mut worst = Duration::ZERO;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let t = Instant::now();
            assert_eq!(probe.cmd(&["GET", "{big}probe"]), Resp::NilBulk);
            worst = worst.max(t.elapsed());
        }
        worst
    });
    let t = Instant::now();
    assert_eq!(c.cmd(args), expect);
    let took = t.elapsed();
    // Let the probe see the freeing (helper thread or not) run its course.
    assert!(wait_until(Duration::from_secs(20), || pending(c) == 0));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (took, prober.join().unwrap())
}

/// UNLINK of a 1M-member set answers at once and frees the set in later slices;
/// DEL of the same set stalls its shard for the whole free.
#[test]
fn unlink_of_a_large_set_returns_fast_and_frees_later() {
    for shards in SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut c = s.raw();
        big_set(&mut c, "{big}a", 1_000_000);
        assert_eq!(c.cmd(&["COPY", "{big}a", "{big}b"]), Resp::Int(1));
        let before = freed(&mut c);
        let (del_took, del_worst) = timed_with_probe(&s, &mut c, &["DEL", "{big}a"], Resp::Int(1));
        assert_eq!(freed(&mut c), before, "DEL frees in place by default");
        let (unlink_took, unlink_worst) = timed_with_probe(&s, &mut c, &["UNLINK", "{big}b"], Resp::Int(1));
        eprintln!(
            "{shards} shards: DEL {del_took:?} (probe worst {del_worst:?}), UNLINK {unlink_took:?} (probe worst {unlink_worst:?})"
        );
        // No timing is asserted (CI shares 2 cores, and a 4 ms DEL lost to a 5 ms
        // UNLINK there once): the times are printed above and measured by
        // perf/unlink.sh. What is checked is the path: UNLINK's free went to the lazy
        // free (counted), DEL's did not.
        assert_eq!(freed(&mut c), before + 1);
        assert_eq!(pending(&mut c), 0);
        assert_eq!(c.cmd(&["EXISTS", "{big}a", "{big}b"]), Resp::Int(0));
        // Small values are freed in place even by UNLINK.
        c.cmd(&["SADD", "{big}small", "x", "y"]);
        assert_eq!(c.cmd(&["UNLINK", "{big}small", "{big}none"]), Resp::Int(1));
        assert_eq!(freed(&mut c), before + 1);
    }
}

/// FLUSHALL ASYNC and FLUSHDB ASYNC empty the keyspace at once and count every key
/// freed (in slices, on each shard's own loop); the server keeps serving and new writes land in the fresh keyspace.
#[test]
fn flush_async_frees_in_slices() {
    let s = Server::start(4, &[]);
    let mut c = s.raw();
    let mut buf = Vec::new();
    for i in 0..200_000 {
        encode_cmd_into(&mut buf, &["SET", &format!("k:{i}"), "some value that is not tiny"]);
    }
    c.send(&buf);
    for _ in 0..200_000 {
        assert_eq!(c.read(), Resp::simple("OK"));
    }
    assert_eq!(c.cmd(&["SELECT", "1"]), Resp::simple("OK"));
    big_set(&mut c, "one", 10_000);
    let before = freed(&mut c);
    assert_eq!(c.cmd(&["FLUSHDB", "ASYNC"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(0));
    assert!(wait_until(Duration::from_secs(20), || freed(&mut c) == before + 1), "one key in db 1");
    assert_eq!(c.cmd(&["SELECT", "0"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(200_000));
    assert_eq!(c.cmd(&["FLUSHALL", "ASYNC"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(0));
    assert_eq!(c.cmd(&["SET", "after", "1"]), Resp::simple("OK"));
    assert!(wait_until(Duration::from_secs(20), || freed(&mut c) == before + 200_001 && pending(&mut c) == 0));
    assert_eq!(c.cmd(&["GET", "after"]), Resp::bulk("1"));
    assert_eq!(c.cmd(&["GET", "k:1"]), Resp::NilBulk);
    // lazyfree-lazy-user-flush makes a plain FLUSHALL lazy.
    assert_eq!(c.cmd(&["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["FLUSHALL"]), Resp::simple("OK"));
    assert!(wait_until(Duration::from_secs(20), || freed(&mut c) == before + 200_002));
    assert_eq!(c.cmd(&["FLUSHALL", "SYNC"]), Resp::simple("OK"));
    assert_eq!(freed(&mut c), before + 200_002, "SYNC overrides the setting");
}

/// `lazyfree-lazy-user-del` makes DEL lazy; `lazyfree-lazy-server-del` covers values
/// replaced by SET, RENAME and the STORE commands.
#[test]
fn lazy_settings_apply_at_run_time() {
    let s = Server::start(2, &[]);
    let mut c = s.raw();
    let lazy_count = |c: &mut Raw, setup: &dyn Fn(&mut Raw), cmd: &[&str]| {
        setup(c);
        let before = freed(c);
        c.cmd(cmd);
        assert!(wait_until(Duration::from_secs(10), || pending(c) == 0));
        freed(c) - before
    };
    let setup = |c: &mut Raw| {
        assert_eq!(c.cmd(&["FLUSHALL", "SYNC"]), Resp::simple("OK"));
        big_set(c, "{s}big", 1000);
        c.cmd(&["SET", "{s}str", "x"]);
    };
    // Off: freed in place.
    assert_eq!(lazy_count(&mut c, &setup, &["DEL", "{s}big"]), 0);
    assert_eq!(lazy_count(&mut c, &setup, &["SET", "{s}big", "v"]), 0);
    assert_eq!(c.cmd(&["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]), Resp::simple("OK"));
    assert_eq!(lazy_count(&mut c, &setup, &["DEL", "{s}big"]), 1);
    assert_eq!(c.cmd(&["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]), Resp::simple("OK"));
    assert_eq!(lazy_count(&mut c, &setup, &["SET", "{s}big", "v"]), 1);
    assert_eq!(lazy_count(&mut c, &setup, &["RENAME", "{s}str", "{s}big"]), 1);
    assert_eq!(lazy_count(&mut c, &setup, &["SUNIONSTORE", "{s}big", "{s}none"]), 1, "an empty result deletes");
    let setup_one = |c: &mut Raw| {
        setup(c);
        assert_eq!(c.cmd(&["SADD", "{s}one", "a"]), Resp::Int(1));
    };
    assert_eq!(lazy_count(&mut c, &setup_one, &["SUNIONSTORE", "{s}big", "{s}one"]), 1);
    assert_eq!(c.cmd(&["SMEMBERS", "{s}big"]), Resp::Array(vec![Resp::bulk("a")]));
    // lazyfree-lazy-expire: a big value whose TTL passes is freed in slices, whether
    // a lookup or active expiry finds it; off, it is freed where it expires.
    let expire_count = |c: &mut Raw, lookup: bool| {
        setup(c);
        let expired = |c: &mut Raw| info(c, "stats")["expired_keys"].parse::<u64>().unwrap();
        let (before, expired_before) = (freed(c), expired(c));
        assert_eq!(c.cmd(&["PEXPIRE", "{s}big", "20"]), Resp::Int(1));
        if lookup {
            assert!(wait_until(Duration::from_secs(5), || c.cmd(&["PTTL", "{s}big"]) == Resp::Int(-2)));
        } else {
            // No lookup of the key: the shard's active expiry has to find it.
            assert!(wait_until(Duration::from_secs(5), || expired(c) > expired_before));
        }
        assert!(wait_until(Duration::from_secs(10), || pending(c) == 0));
        assert_eq!(c.cmd(&["EXISTS", "{s}big"]), Resp::Int(0));
        freed(c) - before
    };
    assert_eq!(expire_count(&mut c, true), 0);
    assert_eq!(expire_count(&mut c, false), 0);
    assert_eq!(c.cmd(&["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]), Resp::simple("OK"));
    assert_eq!(expire_count(&mut c, true), 1, "expired on lookup");
    assert_eq!(expire_count(&mut c, false), 1, "expired by the active cycle");
}

/// CONFIG RESETSTAT zeroes `lazyfreed_objects`, as Redis's `lazyfreeResetStats` does
/// (Redis's suite, "lazy free a stream with deleted cgroup"); shardis kept counting.
#[test]
fn resetstat_zeroes_lazyfreed_objects_as_redis() {
    let real = common::compare::real_redis("lazyfree-resetstat");
    let s = Server::start(2, &[]);
    for c in [&mut s.raw(), &mut raw_to(real.port)] {
        big_set(c, "big", 2000);
        assert_eq!(c.cmd(&["UNLINK", "big"]), Resp::Int(1));
        assert!(wait_until(Duration::from_secs(20), || pending(c) == 0 && freed(c) == 1), "freed once");
        assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), Resp::simple("OK"));
        assert_eq!(freed(c), 0);
    }
}
