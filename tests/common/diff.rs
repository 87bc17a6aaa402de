//! The engine of the differential tests (`tests/diff_random*.rs`): a generator draws
//! commands from a seed, `replay` runs each on redis-server and on shardis (1 and 4
//! shards) in one protocol, compares every reply, and at the end the datasets by
//! `DEBUG DIGEST`. A failure names the seed, the step, the command and the last commands
//! on its keys, and writes the whole sequence (one JSON array of words per line) to a
//! kept directory, so it replays with `DIFF_SEED=<seed>` (and `DIFF_STEPS`).

use super::compare::{Pair, real_redis};
use super::repl::{Kind, Node, parse_info};
use super::{Raw, Resp, SHARD_COUNTS, Server, raw_to, temp_dir, wait_until};
use std::io::Write;
use std::time::Duration;

/// What a test tells `replay` about its commands.
pub struct Spec<'a> {
    /// Names the redis-server's directory and the failure's history file.
    pub tag: &'a str,
    /// The keys the generator draws from (a failure lists earlier commands on them).
    pub keys: &'a [&'a str],
    /// Commands whose reply array is in a hash order on Redis's side: compared as sets.
    pub unordered: &'a [&'a str],
}

/// A reply normalized for comparison: arrays and sets of unordered commands sorted
/// (maps by key).
pub fn normalized(unordered: &[&str], cmd: &str, r: Resp) -> Resp {
    // DUMP of a set or hash in its hash table encoding (RDB types 2 and 4) lists the
    // elements in hash order: compared by type and length only (RESTORE and the digest
    // check the contents).
    if cmd == "dump"
        && let Resp::Bulk(b) = &r
        && matches!(b.first(), Some(2 | 4))
    {
        return Resp::Bulk(format!("hash-ordered payload of type {}, {} bytes", b[0], b.len()).into_bytes());
    }
    if cmd == "ttl" || cmd == "pttl" {
        return match r {
            Resp::Int(n) if n > 0 => Resp::Int(1),
            other => other,
        };
    }
    if !unordered.contains(&cmd) {
        return r;
    }
    let key = |e: &Resp| format!("{e:?}");
    match r {
        Resp::Array(mut v) if cmd == "hgetall" => {
            // RESP2 HGETALL: field, value, field, value ...: sort the pairs.
            let mut pairs: Vec<Vec<Resp>> = v.chunks(2).map(|p| p.to_vec()).collect();
            pairs.sort_by_key(|p| format!("{p:?}"));
            v = pairs.into_iter().flatten().collect();
            Resp::Array(v)
        }
        Resp::Array(mut v) => {
            v.sort_by_key(key);
            Resp::Array(v)
        }
        Resp::Set(mut v) => {
            v.sort_by_key(key);
            Resp::Set(v)
        }
        Resp::Map(mut v) => {
            v.sort_by_key(|(k, _)| key(k));
            Resp::Map(v)
        }
        other => other,
    }
}

/// EXEC's reply normalized reply by reply, each as its queued command's (`names`).
fn normalized_exec(unordered: &[&str], names: &[String], r: Resp) -> Resp {
    match r {
        Resp::Array(v) if v.len() == names.len() => {
            Resp::Array(v.into_iter().zip(names).map(|(e, n)| normalized(unordered, n, e)).collect())
        }
        other => other,
    }
}

pub fn digest(c: &mut Raw) -> Resp {
    c.cmd(&["debug", "digest"])
}

/// Replays `steps` commands drawn by `next_command` on redis-server and on each shard
/// count, in `proto`, comparing every reply and the digests at the end. `seed` is only
/// named in failures: the generator was seeded with it.
///
/// Besides plain commands, a generator may yield these pseudo-commands (a first word
/// starting with `@`), which the engine expands on each server:
/// - `@2 CMD ...`: CMD on a second connection to the same server (WATCH's other client).
/// - `@scan SCAN|HSCAN|SSCAN|ZSCAN [key] [options]`: the whole iteration from cursor 0 to
///   the end; the reply is every element (pairs for HSCAN/ZSCAN) sorted, as one array.
/// - `@dumprestore SRC DST TTL [options]`: DUMP SRC, then RESTORE DST TTL <that payload>.
/// - `@xrestore SRC DST TTL [options]`: the same with the other side's payload: Redis's
///   DUMP restored into shardis and shardis's into Redis.
/// - `@corrupt HOW SRC DST TTL [options]`: RESTORE of SRC's DUMP altered by HOW (`trunc`:
///   last byte dropped, `flip`: a payload byte changed, `version`: RDB version 99).
///
/// TTL and PTTL replies are time: a positive one is compared as 1.
pub fn replay(spec: &Spec, seed: u64, steps: usize, proto: u8, next_command: impl FnMut() -> Vec<String>) {
    replay_with(spec, seed, steps, proto, |_, r| r, next_command)
}

/// `replay`, with each reply (both sides) passed through `adjust` with the command's
/// words first: it blanks the fields that are time, not data (an idle time, a delivery
/// time), so the rest of the reply is still compared.
pub fn replay_with(
    spec: &Spec,
    seed: u64,
    steps: usize,
    proto: u8,
    adjust: impl Fn(&[String], Resp) -> Resp,
    mut next_command: impl FnMut() -> Vec<String>,
) {
    let real = real_redis(spec.tag);
    // Each shardis server also logs every write to its AOF, which a fresh server loads
    // at the end (`check_aof_reloads`), and syncs its replicas (below) without delay:
    // they link at once, not after 5 s.
    let mut servers: Vec<Server> = SHARD_COUNTS
        .iter()
        .map(|&n| Server::start(n, &[AOF_FLAGS, &["--repl-diskless-sync-delay", "0"]].concat()))
        .collect();
    let mut pairs: Vec<(usize, Pair)> =
        SHARD_COUNTS.iter().zip(&servers).map(|(&n, s)| (n, Pair::new(s, &real, proto))).collect();
    let mut seconds: Vec<Pair> = servers.iter().map(|s| Pair::new(s, &real, proto)).collect();
    // A redis-server replica of each shardis server, linked before the first command:
    // every write drawn also crosses shardis's replication stream as Redis reads it, and
    // at the end each replica must hold its master's dataset.
    let replicas: Vec<Node> = servers.iter().map(|s| Node::start_replica_of(Kind::Redis, s.port, &[])).collect();
    for (s, r) in servers.iter().zip(&replicas) {
        wait_replica_caught_up(s, r, "before the first command");
    }
    // And a shardis replica (2 shards) of the server with the most shards: shardis's
    // own replica side reads the same stream, routing each key by another shard count.
    let widest = servers.len() - 1;
    let shardis_replica = Node::start_replica_of(Kind::Shardis(SHARDIS_REPLICA_SHARDS), servers[widest].port, &[]);
    wait_replica_caught_up(&servers[widest], &shardis_replica, "before the first command");
    // Active expiry off on every server: when a key whose time has passed goes is then a
    // matter of the commands alone (lazy expiry), not of when each server's cycle runs
    // (shardis expires in slices every turn, Redis 10 times a second), so DBSIZE and the
    // digest compare the same keyspace.
    for (i, (_, p)) in pairs.iter_mut().enumerate() {
        assert_eq!(p.ours.cmd(&["debug", "set-active-expire", "0"]), Resp::simple("OK"));
        if i == 0 {
            assert_eq!(p.theirs.cmd(&["debug", "set-active-expire", "0"]), Resp::simple("OK"));
        }
    }
    let mut history: Vec<String> = Vec::new();
    // Every command is written before it runs, so the file is whole even when a
    // server dies under one (the directory is kept when the test fails).
    let replay_file = temp_dir(&format!("{}-history", spec.tag)).join("commands.txt");
    let mut replay_log = std::io::BufWriter::new(std::fs::File::create(&replay_file).expect("create the history"));
    let mut differences = 0;
    // The main client's open transaction: the names of its queued commands (by
    // redis-server's replies), so that EXEC's replies are normalized as theirs.
    let mut queued: Option<Vec<String>> = None;
    for step in 0..steps {
        let cmd = next_command();
        writeln!(replay_log, "{cmd:?}").expect("write the history");
        let shown = cmd.join(" ");
        let name = command_name(&cmd);
        let main_client = cmd[0] != "@2";
        let exec_of = if main_client && name == "exec" { queued.take() } else { None };
        let norm = |r: Resp| match &exec_of {
            Some(names) => normalized_exec(spec.unordered, names, r),
            None => normalized(spec.unordered, &name, r),
        };
        // `@xrestore`: each side restores the other's payload (Redis: the first
        // shardis server's).
        let peer = (cmd[0] == "@xrestore").then(|| {
            let p = &mut pairs[0].1;
            (payload(p.theirs.cmd(&["dump", &cmd[1]])), payload(p.ours.cmd(&["dump", &cmd[1]])))
        });
        let mut theirs: Option<Resp> = None;
        for (i, ((n, p), second)) in pairs.iter_mut().zip(seconds.iter_mut()).enumerate() {
            // The payloads came from the first pair's DUMPs, which expire a key whose
            // time has passed on those servers: the other shardis servers DUMP it too,
            // so that every keyspace goes through the same lazy expiry.
            if i > 0 && peer.is_some() {
                p.ours.cmd(&["dump", &cmd[1]]);
            }
            let got = run(&mut p.ours, &mut second.ours, &cmd, peer.as_ref().map(|(t, _)| t.as_slice()));
            let ours = adjust(&cmd, norm(got));
            // redis-server runs each command once: its reply is read from the first
            // pair and compared against every shard count.
            let want = match &theirs {
                Some(t) => t.clone(),
                None => {
                    let got = run(&mut p.theirs, &mut second.theirs, &cmd, peer.as_ref().map(|(_, o)| o.as_slice()));
                    let t = adjust(&cmd, norm(got));
                    theirs = Some(t.clone());
                    t
                }
            };
            if ours != want {
                let keys: Vec<&String> = cmd.iter().skip(1).filter(|w| spec.keys.contains(&w.as_str())).collect();
                let related: Vec<&String> =
                    history.iter().filter(|h| keys.iter().any(|k| h.split(' ').any(|w| w == k.as_str()))).collect();
                let tail = &related[related.len().saturating_sub(16)..];
                replay_log.flush().expect("write the history");
                let report = format!(
                    "seed {seed}, RESP{proto}, step {step}, {n} shard(s): replies differ for `{shown}`\n shardis: {ours:?}\n   redis: {want:?}\nall commands so far (one JSON array of words per line): {replay_file:?}\nearlier commands on its keys:\n  {}",
                    tail.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
                );
                // DIFF_KEEP_GOING=1 (while hunting): report every difference, fail at
                // the end. Later ones may follow from the first.
                if std::env::var_os("DIFF_KEEP_GOING").is_none() {
                    panic!("{report}");
                }
                eprintln!("{report}\n");
                differences += 1;
            }
        }
        if main_client {
            match (name.as_str(), &theirs) {
                ("multi", Some(Resp::Simple(ok))) if ok == "OK" => queued = Some(Vec::new()),
                ("discard" | "exec", _) => queued = None,
                (_, Some(Resp::Simple(q))) if q == "QUEUED" => {
                    if let Some(names) = queued.as_mut() {
                        names.push(name.clone());
                    }
                }
                _ => {}
            }
        }
        history.push(shown);
    }
    assert_eq!(differences, 0, "seed {seed}, RESP{proto}: {differences} replies differ (above)");
    let want = digest(&mut pairs[0].1.theirs);
    for (n, p) in pairs.iter_mut() {
        assert_eq!(
            digest(&mut p.ours),
            want,
            "seed {seed}, RESP{proto}: DEBUG DIGEST differs with {n} shard(s) after {steps} steps"
        );
    }
    for ((s, r), n) in servers.iter().zip(&replicas).zip(SHARD_COUNTS) {
        wait_replica_caught_up(s, r, &format!("after {steps} steps (seed {seed}, RESP{proto})"));
        assert_eq!(
            digest(&mut raw_to(r.port)),
            digest(&mut s.raw()),
            "seed {seed}, RESP{proto}: the redis-server replica of shardis with {n} shard(s) holds another \
             dataset after {steps} steps (its log: {:?})",
            r.dir.join("redis.log"),
        );
    }
    let n = SHARD_COUNTS[widest];
    wait_replica_caught_up(
        &servers[widest],
        &shardis_replica,
        &format!("after {steps} steps (seed {seed}, RESP{proto})"),
    );
    assert_eq!(
        digest(&mut raw_to(shardis_replica.port)),
        digest(&mut servers[widest].raw()),
        "seed {seed}, RESP{proto}: the shardis replica ({SHARDIS_REPLICA_SHARDS} shards) of shardis with {n} \
         shard(s) holds another dataset after {steps} steps"
    );
    drop(shardis_replica);
    for (s, n) in servers.iter_mut().zip(SHARD_COUNTS) {
        check_aof_reloads(s, n, &format!("seed {seed}, RESP{proto}, after {steps} steps"));
    }
}

/// The shardis servers' persistence: the AOF on, fsync left to the kernel (the files
/// are read after a clean stop).
const AOF_FLAGS: &[&str] = &["--appendonly", "yes", "--appendfsync", "no"];

/// Shards of the shardis replica: fewer than its master's, so that keys move.
const SHARDIS_REPLICA_SHARDS: usize = 2;

/// Stops `master` (shardis with `shards` shards) cleanly, so its AOF is whole, and
/// starts a fresh shardis on a copy of its AOF directory, which must load the dataset
/// `master` held: the same shard count for 1 shard, another one (keys rerouted) above.
///
/// The loader is started as a replica of a listener that accepts and never answers,
/// because a replica never expires keys itself: the generators can leave keys whose
/// time had passed when they were set (`SET k v EXAT 1` keeps the key in Redis 7.0
/// until it is touched), which `master` (active expiry off) still holds and the AOF
/// still carries, and a master would expire them before DEBUG SET-ACTIVE-EXPIRE 0
/// could reach it. The link never completes, so nothing replaces the loaded data.
fn check_aof_reloads(master: &mut Server, shards: usize, when: &str) {
    let want = digest(&mut master.raw());
    let status = master.terminate();
    assert!(
        status.is_some_and(|s| s.success()),
        "{when}: shardis with {shards} shard(s) did not stop cleanly: {status:?}"
    );
    let copy = temp_dir("diff-aof");
    let from = master.dir.join("appendonlydir");
    std::fs::create_dir_all(copy.join("appendonlydir")).expect("create the AOF copy");
    for f in std::fs::read_dir(&from).unwrap_or_else(|e| panic!("{when}: read {from:?}: {e}")) {
        let f = f.expect("AOF directory entry");
        std::fs::copy(f.path(), copy.join("appendonlydir").join(f.file_name())).expect("copy an AOF file");
    }
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a silent master");
    let silent_port = silent.local_addr().expect("its port").port().to_string();
    let load_shards = if shards == 1 { 1 } else { shards - 1 };
    let mut flags = AOF_FLAGS.to_vec();
    flags.extend(["--replicaof", "127.0.0.1", &silent_port]);
    let loader = Server::start_in(copy.clone(), load_shards, &flags);
    assert_eq!(
        digest(&mut loader.raw()),
        want,
        "{when}: shardis with {load_shards} shard(s) loading the AOF of shardis with {shards} shard(s) (a copy \
         in {copy:?}) holds another dataset"
    );
}

/// Waits until `replica`'s link to `master` is up and it has read the master's whole
/// stream (its `slave_repl_offset` is the master's `master_repl_offset`).
fn wait_replica_caught_up(master: &Server, replica: &Node, when: &str) {
    let info = |port: u16| match raw_to(port).cmd(&["info", "replication"]) {
        Resp::Bulk(text) => parse_info(&String::from_utf8_lossy(&text)),
        other => panic!("INFO replication on port {port} answered {other:?}"),
    };
    let synced = wait_until(Duration::from_secs(30), || {
        let (m, r) = (info(master.port), info(replica.port));
        r.get("master_link_status").map(String::as_str) == Some("up")
            && m.contains_key("master_repl_offset")
            && m.get("master_repl_offset") == r.get("slave_repl_offset")
    });
    assert!(
        synced,
        "the redis-server replica (port {}) did not catch up with shardis (port {}) {when}:\n master: {:?}\n replica: {:?}",
        replica.port,
        master.port,
        info(master.port),
        info(replica.port)
    );
}

/// The command a reply answers, lowercased: `@2`'s command, a scan's own name.
fn command_name(cmd: &[String]) -> String {
    match cmd[0].as_str() {
        "@2" | "@scan" => cmd[1].to_ascii_lowercase(),
        other => other.to_ascii_lowercase(),
    }
}

/// A DUMP reply's bytes (empty for a nil or an error: RESTORE then fails on both sides).
fn payload(r: Resp) -> Vec<u8> {
    match r {
        Resp::Bulk(b) => b,
        _ => Vec::new(),
    }
}

/// Runs one (pseudo-)command on one server; `peer` is the other side's DUMP payload
/// for `@xrestore`.
fn run(main: &mut Raw, second: &mut Raw, cmd: &[String], peer: Option<&[u8]>) -> Resp {
    match cmd[0].as_str() {
        "@2" => second.cmd(&cmd[1..]),
        "@scan" => scan_all(main, &cmd[1..]),
        "@dumprestore" | "@xrestore" | "@corrupt" => {
            let (how, rest) = if cmd[0] == "@corrupt" { (cmd[1].as_str(), &cmd[2..]) } else { ("", &cmd[1..]) };
            let mut bytes = match peer {
                Some(p) => p.to_vec(),
                None => payload(main.cmd(&["dump", &rest[0]])),
            };
            let n = bytes.len();
            match how {
                "trunc" if n > 0 => bytes.truncate(n - 1),
                "flip" if n > 11 => bytes[1] ^= 0x20,
                // The two bytes before the CRC are the RDB version.
                "version" if n > 10 => bytes[n - 10] = 99,
                _ => {}
            }
            let mut args: Vec<Vec<u8>> =
                vec![b"restore".to_vec(), rest[1].as_bytes().to_vec(), rest[2].as_bytes().to_vec(), bytes];
            args.extend(rest[3..].iter().map(|w| w.as_bytes().to_vec()));
            main.cmd(&args)
        }
        _ => main.cmd(cmd),
    }
}

/// A whole SCAN-family iteration: every element returned, pairs kept together, sorted.
fn scan_all(c: &mut Raw, cmd: &[String]) -> Resp {
    let name = cmd[0].to_ascii_lowercase();
    // The cursor follows the key (HSCAN, SSCAN, ZSCAN) or the command name (SCAN).
    let at = if name == "scan" { 1 } else { 2 };
    let pairs = name == "hscan" || name == "zscan";
    let mut cursor = "0".to_string();
    let mut items: Vec<Vec<Resp>> = Vec::new();
    for _ in 0..100_000 {
        let mut args: Vec<String> = cmd.to_vec();
        if args.len() < at {
            return c.cmd(&args);
        }
        args.insert(at, cursor.clone());
        match c.cmd(&args) {
            Resp::Array(mut v) if v.len() == 2 => {
                let page = match v.pop() {
                    Some(Resp::Array(page)) => page,
                    other => return Resp::Array(vec![v.remove(0), other.unwrap_or(Resp::NilBulk)]),
                };
                let chunk = if pairs { 2 } else { 1 };
                items.extend(page.chunks(chunk).map(|c| c.to_vec()));
                cursor = match &v[0] {
                    Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("a scan cursor that is not a bulk string: {other:?}"),
                };
                if cursor == "0" {
                    items.sort_by_key(|p| format!("{p:?}"));
                    items.dedup();
                    return Resp::Array(items.into_iter().flatten().collect());
                }
            }
            other => return other,
        }
    }
    panic!("{cmd:?}: the iteration did not end");
}

/// The seeds to run: `DIFF_SEED` alone, or 1 to 6.
pub fn seeds() -> Vec<u64> {
    match std::env::var("DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("DIFF_SEED is a number")],
        Err(_) => (1..=6).collect(),
    }
}

/// Commands per seed: `DIFF_STEPS`, or 600.
pub fn steps() -> usize {
    std::env::var("DIFF_STEPS").map(|s| s.parse().expect("DIFF_STEPS is a number")).unwrap_or(600)
}
