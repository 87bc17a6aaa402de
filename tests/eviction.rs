//! `maxmemory` and eviction against the real binary: every policy holds the budget
//! while 4x its size is written, volatile policies spare keys without a TTL,
//! `noeviction` answers Redis's OOM error, LRU/LFU keep a hot set at least as well as
//! redis-server under the same workload, and an AOF replayed after evictions gives
//! the same dataset.

use crate::common;
use common::{Raw, RealRedis, Resp, Server, encode_cmd_into, temp_dir, wait_until};
use std::collections::HashMap;
use std::time::Duration;

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
const MB: u64 = 1 << 20;

fn info(raw: &mut Raw, section: &str) -> HashMap<String, String> {
    let text = match raw.cmd(&["INFO", section]) {
        Resp::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("INFO: {other:?}"),
    };
    text.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.trim().to_string())).collect()
}

fn num(m: &HashMap<String, String>, k: &str) -> u64 {
    m.get(k).unwrap_or_else(|| panic!("no {k}")).parse().unwrap_or_else(|_| panic!("{k}={}", m[k]))
}

/// Sends `cmds` pipelined in batches and returns the replies.
fn pipeline(raw: &mut Raw, cmds: impl Iterator<Item = Vec<Vec<u8>>>) -> Vec<Resp> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut pending = 0;
    let mut cmds = cmds.peekable();
    while cmds.peek().is_some() {
        for c in cmds.by_ref().take(256) {
            encode_cmd_into(&mut buf, &c);
            pending += 1;
        }
        raw.send(&buf);
        buf.clear();
        for _ in 0..pending {
            out.push(raw.read());
        }
        pending = 0;
    }
    out
}

fn set_cmd(key: &str, value: &[u8], ttl: Option<u64>) -> Vec<Vec<u8>> {
    let mut c = vec![b"SET".to_vec(), key.as_bytes().to_vec(), value.to_vec()];
    if let Some(t) = ttl {
        c.push(b"EX".to_vec());
        c.push(t.to_string().into_bytes());
    }
    c
}

/// Fills a server with 4x `maxmemory` of writes under `policy` and checks the budget.
/// Under volatile policies, keys without a TTL (a quarter of the budget) must all stay.
fn fill_under(policy: &str, shards: usize) {
    fill_under_with(policy, shards, &[]);
}

fn fill_under_with(policy: &str, shards: usize, extra: &[&str]) {
    let max = 24 * MB;
    let mut args = vec!["--maxmemory".to_string(), max.to_string(), "--maxmemory-policy".into(), policy.into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start(shards, &args);
    let mut raw = s.raw();
    let empty_rss = num(&info(&mut raw, "memory"), "used_memory_rss");
    let value = vec![b'v'; 1000];
    let volatile = policy.starts_with("volatile");
    let persistent = if volatile { (max / 10 / 1200) as usize } else { 0 };
    let replies = pipeline(&mut raw, (0..persistent).map(|i| set_cmd(&format!("p:{i}"), &value, None)));
    assert!(replies.iter().all(|r| *r == Resp::simple("OK")), "{policy}: persistent keys stored");
    let n = (4 * max / value.len() as u64) as usize;
    let ttl = if volatile { Some(100_000) } else { None };
    let replies = pipeline(&mut raw, (0..n).map(|i| set_cmd(&format!("k:{i}"), &value, ttl)));
    for r in &replies {
        assert_eq!(*r, Resp::simple("OK"), "{policy}: every write fits after eviction");
    }
    let m = info(&mut raw, "memory");
    let used = num(&m, "used_memory");
    assert!(used <= max, "{policy}: used_memory {used} <= maxmemory {max}");
    // Freed pages go back to the OS in the shards' cron (about once a second).
    let rss_limit = max + max * 15 / 100 + empty_rss;
    let mut rss = 0;
    let settled = wait_until(Duration::from_secs(5), || {
        rss = num(&info(&mut raw, "memory"), "used_memory_rss");
        rss <= rss_limit
    });
    assert!(settled, "{policy}: rss {rss} <= 1.15 * {max} + empty {empty_rss}");
    let evicted = num(&info(&mut raw, "stats"), "evicted_keys");
    assert!(evicted > 0, "{policy}: evicted_keys {evicted}");
    if volatile {
        let exists =
            pipeline(&mut raw, (0..persistent).map(|i| vec![b"EXISTS".to_vec(), format!("p:{i}").into_bytes()]));
        let kept = exists.iter().filter(|r| **r == Resp::Int(1)).count();
        assert_eq!(kept, persistent, "{policy}: keys without a TTL are never evicted");
    }
}

#[test]
fn allkeys_lru_holds_the_budget() {
    fill_under("allkeys-lru", 2);
}

#[test]
fn allkeys_lfu_holds_the_budget() {
    fill_under("allkeys-lfu", 1);
}

#[test]
fn allkeys_random_holds_the_budget() {
    fill_under("allkeys-random", 2);
}

#[test]
fn volatile_lru_evicts_only_keys_with_ttl() {
    fill_under("volatile-lru", 2);
}

#[test]
fn volatile_lfu_evicts_only_keys_with_ttl() {
    fill_under("volatile-lfu", 1);
}

#[test]
fn volatile_random_evicts_only_keys_with_ttl() {
    fill_under("volatile-random", 1);
}

#[test]
fn volatile_ttl_evicts_only_keys_with_ttl() {
    fill_under("volatile-ttl", 2);
}

/// The shard that runs the client's commands runs out of keys with a TTL long before
/// the others do; with a slow cron (`hz 1`) the others' counts of evictable keys are
/// never published by it during the fill. Writes must still fit: the others evict.
#[test]
fn volatile_fill_fits_when_the_client_shard_runs_out_of_candidates() {
    fill_under_with("volatile-lru", 2, &["--hz", "1"]);
}

#[test]
fn noeviction_refuses_writes_with_redis_error_and_serves_reads() {
    for shards in [1, 2] {
        let max = 24 * MB;
        let s = Server::start(shards, &["--maxmemory", &max.to_string()]);
        let mut raw = s.raw();
        let value = vec![b'v'; 1000];
        let n = (2 * max / value.len() as u64) as usize;
        let replies = pipeline(&mut raw, (0..n).map(|i| set_cmd(&format!("k:{i}"), &value, None)));
        let first_oom = replies.iter().position(|r| *r == Resp::err(OOM)).expect("OOM once full");
        assert!(first_oom > 0, "the first writes fit");
        assert!(replies[first_oom..].iter().all(|r| *r == Resp::err(OOM) || *r == Resp::simple("OK")));
        assert_eq!(raw.cmd(&["SET", "new", "x"]), Resp::err(OOM));
        assert_eq!(raw.cmd(&["GET", "k:0"]), Resp::Bulk(value.clone()), "reads still work");
        assert_eq!(raw.cmd(&["EXISTS", "k:1"]), Resp::Int(1));
        // MULTI/EXEC as Redis 7.0: queueing under OOM is refused and EXEC aborts.
        assert_eq!(raw.cmd(&["MULTI"]), Resp::simple("OK"));
        assert_eq!(raw.cmd(&["GET", "k:0"]), Resp::err(OOM));
        assert_eq!(raw.cmd(&["EXEC"]), Resp::err("EXECABORT Transaction discarded because of previous errors."));
        assert_eq!(num(&info(&mut raw, "stats"), "evicted_keys"), 0);
        // DEL frees memory; once under the limit, writes work again.
        let dels = pipeline(&mut raw, (0..first_oom).map(|i| vec![b"DEL".to_vec(), format!("k:{i}").into_bytes()]));
        assert!(dels.iter().all(|r| *r == Resp::Int(1)));
        assert!(wait_until(Duration::from_secs(10), || raw.cmd(&["SET", "new", "x"]) == Resp::simple("OK")));
        // A transaction queued before the server ran out of memory: EXEC is refused
        // with the reason, and the transaction is gone.
        let mut other = s.raw();
        assert_eq!(raw.cmd(&["MULTI"]), Resp::simple("OK"));
        assert_eq!(raw.cmd(&["SET", "a", "1"]), Resp::simple("QUEUED"));
        assert_eq!(other.cmd(&["CONFIG", "SET", "maxmemory", "1"]), Resp::simple("OK"));
        assert_eq!(raw.cmd(&["EXEC"]), Resp::err(&format!("EXECABORT Transaction discarded because of: {OOM}")));
        assert_eq!(raw.cmd(&["EXEC"]), Resp::err("ERR EXEC without MULTI"));
        assert_eq!(raw.cmd(&["DEL", "new"]), Resp::Int(1), "DEL still works");
        assert_eq!(other.cmd(&["CONFIG", "SET", "maxmemory", "0"]), Resp::simple("OK"));
        assert_eq!(raw.cmd(&["SET", "a", "1"]), Resp::simple("OK"));
    }
}

/// Redis waits for pending lazy frees before it answers OOM: a write pipelined right
/// behind the UNLINK of the value that put the server over the limit succeeds. With
/// `maxmemory-eviction-tenacity 100` the wait has no time limit, so the outcome does
/// not depend on the machine's speed.
#[test]
fn oom_waits_for_pending_lazy_frees_as_redis_does() {
    let s = Server::start(1, &["--maxmemory-eviction-tenacity", "100"]);
    let mut raw = s.raw();
    let members = (0..20_000).map(|i| vec![b"SADD".to_vec(), b"big".to_vec(), format!("member:{i:0>64}").into_bytes()]);
    assert!(pipeline(&mut raw, members).iter().all(|r| *r == Resp::Int(1)));
    let used = num(&info(&mut raw, "memory"), "used_memory");
    // Over the limit by a quarter of the set's size: only freeing the set helps, and
    // noeviction has nothing to evict.
    let over = used - MB / 2;
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory", &over.to_string()]), Resp::simple("OK"));
    assert_eq!(raw.cmd(&["SET", "k", "v"]), Resp::err(OOM), "over the limit");
    let mut batch = Vec::new();
    encode_cmd_into(&mut batch, &["UNLINK", "big"]);
    encode_cmd_into(&mut batch, &["SET", "k", "v"]);
    raw.send(&batch);
    assert_eq!(raw.read(), Resp::Int(1));
    assert_eq!(raw.read(), Resp::simple("OK"), "the SET waited for the set to be freed");
    assert_eq!(raw.cmd(&["GET", "k"]), Resp::bulk("v"));
}

#[test]
fn maxmemory_is_runtime_settable_and_evictions_are_notified() {
    let s = Server::start(2, &["--notify-keyspace-events", "Ee"]);
    let mut raw = s.raw();
    let value = vec![b'v'; 1000];
    let replies = pipeline(&mut raw, (0..20_000).map(|i| set_cmd(&format!("k:{i}"), &value, None)));
    assert!(replies.iter().all(|r| *r == Resp::simple("OK")));
    let mut sub = s.raw();
    assert!(matches!(sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]), Resp::Array(_)));
    let used = num(&info(&mut raw, "memory"), "used_memory");
    let target = used - 8 * MB;
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]), Resp::simple("OK"));
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory", &target.to_string()]), Resp::simple("OK"));
    // The shards evict in their loop turns, without any command arriving.
    assert!(wait_until(Duration::from_secs(10), || num(&info(&mut raw, "memory"), "used_memory") <= target));
    let evicted = num(&info(&mut raw, "stats"), "evicted_keys");
    assert!(evicted > 1000, "{evicted}");
    match sub.read() {
        Resp::Array(v) => {
            assert_eq!(v[0], Resp::bulk("message"));
            assert_eq!(v[1], Resp::bulk("__keyevent@0__:evicted"));
        }
        other => panic!("{other:?}"),
    }
}

/// OBJECT FREQ and IDLETIME under the policies that track them.
#[test]
fn object_freq_and_idletime_follow_the_policy() {
    let s = Server::start(1, &["--maxmemory-policy", "allkeys-lfu"]);
    let mut raw = s.raw();
    raw.cmd(&["SET", "k", "v"]);
    assert_eq!(raw.cmd(&["OBJECT", "FREQ", "k"]), Resp::Int(5), "new keys start at LFU_INIT_VAL");
    for _ in 0..2000 {
        raw.cmd(&["GET", "k"]);
    }
    let Resp::Int(f) = raw.cmd(&["OBJECT", "FREQ", "k"]) else { panic!() };
    assert!((12..=40).contains(&f), "logarithmic counter after 2000 hits: {f}");
    assert!(
        matches!(raw.cmd(&["OBJECT", "IDLETIME", "k"]), Resp::Error(e) if e.starts_with("ERR An LFU maxmemory policy is selected"))
    );
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]), Resp::simple("OK"));
    raw.cmd(&["SET", "j", "v"]);
    assert_eq!(raw.cmd(&["OBJECT", "IDLETIME", "j"]), Resp::Int(0));
    assert!(
        matches!(raw.cmd(&["OBJECT", "FREQ", "j"]), Resp::Error(e) if e.starts_with("ERR An LFU maxmemory policy is not selected"))
    );
}

/// Writes `cold` keys while reading a hot set between writes; returns how many hot
/// keys are still there. The run spans several seconds so that Redis's LRU clock
/// (one tick per second) can tell old writes from recent reads.
fn hot_set_kept(port: u16, hot: usize, cold: usize) -> usize {
    let mut raw = raw_to(port);
    let value = vec![b'h'; 1000];
    pipeline(&mut raw, (0..hot).map(|i| set_cmd(&format!("hot:{i}"), &value, None)));
    let mut rng = common::Rng::new(7);
    let start = std::time::Instant::now();
    let batches = 40;
    for b in 0..batches {
        let per = cold / batches;
        let writes = (b * per..(b + 1) * per).map(|i| set_cmd(&format!("cold:{i}"), &value, None));
        let reads: Vec<Vec<Vec<u8>>> = (0..hot / 2)
            .map(|_| vec![b"GET".to_vec(), format!("hot:{}", rng.below(hot as u64)).into_bytes()])
            .collect();
        pipeline(&mut raw, writes.chain(reads));
        // Spread the run over ~4 s (Redis's LRU resolution is one second).
        let due = Duration::from_millis(100 * (b as u64 + 1));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    let exists = pipeline(&mut raw, (0..hot).map(|i| vec![b"EXISTS".to_vec(), format!("hot:{i}").into_bytes()]));
    exists.iter().filter(|r| **r == Resp::Int(1)).count()
}

fn raw_to(port: u16) -> Raw {
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let r = stream.try_clone().unwrap();
    Raw { w: stream, r: common::RespReader::new(r) }
}

/// Sets `policy` and a `maxmemory` that leaves room for `keys` keys of the test's
/// shape on the server at `port`: its empty size plus `keys` times what one such key
/// costs there (measured with a probe fill, then flushed). Both servers then hold the
/// same number of keys, so the comparison is of the eviction algorithms, not of the
/// bytes each spends per key (the key table's business, measured by perf/memory.sh).
fn room_for(port: u16, policy: &str, keys: u64) {
    let mut raw = raw_to(port);
    let used = |raw: &mut Raw| num(&info(raw, "memory"), "used_memory");
    let before = used(&mut raw);
    let probe = 4000;
    pipeline(&mut raw, (0..probe).map(|i| set_cmd(&format!("probe:{i}"), &[b'p'; 1000], None)));
    let per_key = (used(&mut raw) - before) / probe;
    assert_eq!(raw.cmd(&["FLUSHALL"]), Resp::simple("OK"));
    let base = used(&mut raw);
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory-policy", policy]), Resp::simple("OK"));
    let max = (base + keys * per_key).to_string();
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory", &max]), Resp::simple("OK"));
}

#[test]
fn lru_and_lfu_keep_the_hot_set_at_least_as_well_as_redis() {
    let (hot, cold, room) = (2000, 40_000, 10_000);
    for policy in ["allkeys-lru", "allkeys-lfu"] {
        let dir = temp_dir("evict-quality");
        let redis = RealRedis::start(&dir);
        let s = Server::start(1, &[]);
        room_for(redis.port, policy, room);
        room_for(s.port, policy, room);
        let (theirs, ours) = std::thread::scope(|sc| {
            let t = sc.spawn(|| hot_set_kept(redis.port, hot, cold));
            let o = sc.spawn(|| hot_set_kept(s.port, hot, cold));
            (t.join().unwrap(), o.join().unwrap())
        });
        eprintln!("{policy}: hot keys kept: shardis {ours}/{hot}, redis-server {theirs}/{hot}");
        // Sampling is random on both sides: allow 2% of the hot set for the draw.
        assert!(ours + hot / 50 >= theirs, "{policy}: shardis kept {ours}, redis-server {theirs} of {hot}");
        drop(redis);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn aof_reload_after_evictions_gives_the_same_digest() {
    let dir = temp_dir("evict-aof");
    let max = 24 * MB;
    let flags = ["--maxmemory", &max.to_string(), "--maxmemory-policy", "allkeys-lru", "--appendonly", "yes"];
    let (digest, dir) = {
        let mut s = Server::start_in(dir, 2, &flags);
        let mut raw = s.raw();
        let value = vec![b'a'; 1000];
        let replies = pipeline(&mut raw, (0..60_000).map(|i| set_cmd(&format!("k:{i}"), &value, None)));
        assert!(replies.iter().all(|r| *r == Resp::simple("OK")));
        assert!(num(&info(&mut raw, "stats"), "evicted_keys") > 0);
        // No more evictions from here on, so the digest is the final dataset.
        assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory", "0"]), Resp::simple("OK"));
        let d = raw.cmd(&["DEBUG", "DIGEST"]);
        s.terminate();
        let dir = s.dir.clone();
        std::mem::forget(s);
        (d, dir)
    };
    // Reload without a limit: the DELs in the log must reproduce the same dataset.
    let s = Server::start_in(dir.clone(), 2, &["--appendonly", "yes"]);
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&["DEBUG", "DIGEST"]), digest);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `maxmemory-clients`: past the limit the biggest clients are closed, never one that
/// said `CLIENT NO-EVICT on`, and INFO counts them.
#[test]
fn client_eviction_spares_no_evict_clients() {
    let s = Server::start(1, &[]);
    let mut admin = s.raw();
    assert_eq!(admin.cmd(&["CLIENT", "NO-EVICT", "on"]), Resp::simple("OK"));
    let mut others: Vec<Raw> = (0..3).map(|_| s.raw()).collect();
    for o in &mut others {
        assert_eq!(o.cmd(&["PING"]), Resp::simple("PONG"));
    }
    // Each connection counts at least its fixed cost (16 KiB): four of them are over
    // 40000 bytes, so two of the three evictable ones must go.
    assert_eq!(admin.cmd(&["CONFIG", "SET", "maxmemory-clients", "40000"]), Resp::simple("OK"));
    assert!(wait_until(Duration::from_secs(10), || num(&info(&mut admin, "stats"), "evicted_clients") >= 2));
    assert_eq!(admin.cmd(&["PING"]), Resp::simple("PONG"), "the NO-EVICT client stays");
    let mut alive = 0;
    for o in &mut others {
        o.r.get_mut().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut buf = Vec::new();
        common::encode_cmd_into(&mut buf, &["PING"]);
        use std::io::Write;
        if o.w.write_all(&buf).is_ok() && matches!(o.r.read(), Ok(Resp::Simple(_))) {
            alive += 1;
        }
    }
    assert_eq!(alive, 1);
    assert_eq!(admin.cmd(&["CONFIG", "SET", "maxmemory-clients", "0"]), Resp::simple("OK"));
}
