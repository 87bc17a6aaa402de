//! The request path's bookkeeping (issue 14): pipelined commands timed in groups
//! (`cmd::cmdtime`) still count exactly in INFO commandstats and the latency
//! histograms, and SLOWLOG with threshold 0 still logs each of them.

use crate::common;
use common::*;

fn info(c: &mut Raw, section: &str) -> String {
    match c.cmd(&["INFO", section]) {
        Resp::Bulk(b) => String::from_utf8(b).expect("utf8"),
        other => panic!("INFO {section}: {other:?}"),
    }
}

/// `calls=N` of one `cmdstat_<name>` line, 0 when absent.
fn calls(c: &mut Raw, name: &str) -> u64 {
    let text = info(c, "commandstats");
    let Some(line) = text.lines().find(|l| l.starts_with(&format!("cmdstat_{name}:"))) else { return 0 };
    line.split([':', ',']).find_map(|f| f.strip_prefix("calls=")).expect("calls=").parse().expect("number")
}

/// Sends `n` copies of each command in one write and reads every reply.
fn pipeline(c: &mut Raw, cmds: &[&[&str]], n: usize) {
    let mut bytes = Vec::new();
    for _ in 0..n {
        for cmd in cmds {
            encode_cmd_into(&mut bytes, cmd);
        }
    }
    c.send(&bytes);
    for _ in 0..n * cmds.len() {
        let r = c.read();
        assert!(!matches!(r, Resp::Error(_)), "{r:?}");
    }
}

#[test]
fn pipelined_commands_count_exactly_in_commandstats_and_histograms() {
    let s = Server::start(1, &[]);
    let mut c = s.raw();
    // 1000 rounds of four grouped commands and one timed on its own (MSET is not
    // flagged fast), which closes each round's group.
    let cmds: &[&[&str]] =
        &[&["SET", "k", "v"], &["GET", "k"], &["INCR", "n"], &["MSET", "a", "1"], &["LPUSH", "l", "x"]];
    pipeline(&mut c, cmds, 1000);
    for name in ["set", "get", "incr", "mset", "lpush"] {
        assert_eq!(calls(&mut c, name), 1000, "{name}");
    }
    assert_eq!(c.cmd(&["GET", "n"]), Resp::bulk("1000"));
    // The latency histogram of GET holds every call, the last one included (closed by
    // the end of its batch).
    let hist = c.cmd(&["LATENCY", "HISTOGRAM", "get"]);
    let Resp::Array(top) = hist else { panic!("LATENCY HISTOGRAM: {hist:?}") };
    let Resp::Array(fields) = &top[1] else { panic!("{top:?}") };
    assert_eq!(fields[0], Resp::bulk("calls"));
    assert_eq!(fields[1], Resp::Int(1001));
}

#[test]
fn slowlog_at_zero_logs_every_pipelined_command_with_its_arguments() {
    let s = Server::start(1, &[]);
    let mut c = s.raw();
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "slowlog-max-len", "1000"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["SLOWLOG", "RESET"]), Resp::simple("OK"));
    let gets: Vec<Vec<String>> = (0..50).map(|i| vec!["GET".to_string(), format!("key:{i}")]).collect();
    let mut bytes = Vec::new();
    for g in &gets {
        encode_cmd_into(&mut bytes, g);
    }
    c.send(&bytes);
    for _ in &gets {
        c.read();
    }
    // SLOWLOG RESET and the 50 GETs (SLOWLOG LEN logs itself after it answered).
    assert_eq!(c.cmd(&["SLOWLOG", "LEN"]), Resp::Int(51));
    let Resp::Array(entries) = c.cmd(&["SLOWLOG", "GET", "1000"]) else { panic!("SLOWLOG GET") };
    let logged: Vec<String> = slowlogged_first_args(&entries, "GET");
    let expected: Vec<String> = (0..50).rev().map(|i| format!("key:{i}")).collect();
    assert_eq!(logged, expected);
}

/// Pipelined batches over databases too large for the caches are warmed before they
/// run (`net::lookahead`: their keys are skimmed from the read buffer and their lookups
/// started together). That is a hint, and must never change an answer, whatever a
/// batch holds: present and absent keys, heap keys, keys too long to warm, MSET/MGET,
/// a SELECT in the middle of a batch, inline commands, keys of the other shard.
#[test]
fn warmed_pipelines_over_many_keys_answer_exactly() {
    let s = Server::start(2, &[]);
    let mut c = s.raw();
    // Past the warming threshold (16k keys per database and shard) in dbs 0 and 1.
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "60000"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["SELECT", "1"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "60000", "one"]), Resp::simple("OK"));
    assert_eq!(c.cmd(&["SELECT", "0"]), Resp::simple("OK"));
    let long = "x".repeat(300);
    let mut counters = std::collections::HashMap::new();
    let mut bytes = Vec::new();
    let mut want = Vec::new();
    for i in 0..2000usize {
        let k = i * 7919 % 60000;
        let (key, value) = (format!("key:{k}"), format!("value:{k}"));
        encode_cmd_into(&mut bytes, &["GET", &key]);
        want.push(Resp::bulk(&value));
        encode_cmd_into(&mut bytes, &["GET", &format!("absent:{i}")]);
        want.push(Resp::NilBulk);
        let counter = format!("counter:{:012}", i % 97);
        let n = counters.entry(counter.clone()).or_insert(0);
        *n += 1;
        encode_cmd_into(&mut bytes, &["INCR", &counter]);
        want.push(Resp::Int(*n));
        let long_key = format!("{long}:{i}");
        encode_cmd_into(&mut bytes, &["SET", &long_key, &key]);
        want.push(Resp::simple("OK"));
        encode_cmd_into(&mut bytes, &["GET", &long_key]);
        want.push(Resp::bulk(&key));
        encode_cmd_into(&mut bytes, &["MSET", &format!("m:{i}:a"), "1", &format!("m:{i}:b"), "2"]);
        want.push(Resp::simple("OK"));
        encode_cmd_into(&mut bytes, &["MGET", &key, &format!("m:{i}:b"), "nope"]);
        want.push(Resp::Array(vec![Resp::bulk(&value), Resp::bulk("2"), Resp::NilBulk]));
        if i % 10 == 0 {
            encode_cmd_into(&mut bytes, &["SELECT", "1"]);
            encode_cmd_into(&mut bytes, &["GET", &format!("one:{k}")]);
            encode_cmd_into(&mut bytes, &["GET", &key]);
            encode_cmd_into(&mut bytes, &["SELECT", "0"]);
            want.extend([Resp::simple("OK"), Resp::bulk(&value), Resp::NilBulk, Resp::simple("OK")]);
            bytes.extend_from_slice(b"PING\r\n");
            want.push(Resp::simple("PONG"));
        }
    }
    // In pieces that end mid-request, as a socket may deliver them.
    for piece in bytes.chunks(7001) {
        c.send(piece);
    }
    for (n, expected) in want.iter().enumerate() {
        assert_eq!(&c.read(), expected, "reply {n}");
    }
    assert_eq!(c.cmd(&["DBSIZE"]), Resp::Int(60000 + 97 + 2000 * 3));
}

/// Client sockets are registered files named by their connection slot
/// (`io::ring::Sock`): slots freed by closed clients (QUIT, CLIENT KILL) are reused by
/// new ones, and every client must get its own answers, never another slot's.
#[test]
fn reused_connection_slots_answer_on_their_own_sockets_and_closes_reach_clients() {
    let s = Server::start(1, &[]);
    let mut conns: Vec<Option<(Raw, i64)>> = Vec::new();
    for _ in 0..40 {
        let mut c = s.raw();
        let Resp::Int(id) = c.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
        conns.push(Some((c, id)));
    }
    // Half close themselves (QUIT), a quarter are killed by the server.
    for (i, slot) in conns.iter_mut().enumerate() {
        if i % 2 == 0 {
            let (mut c, _) = slot.take().expect("open");
            assert_eq!(c.cmd(&["QUIT"]), Resp::simple("OK"));
            c.r.expect_closed();
        }
    }
    let mut admin = s.raw();
    for slot in conns.iter_mut().skip(1).step_by(4) {
        let (mut c, id) = slot.take().expect("open");
        assert_eq!(admin.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]), Resp::Int(1));
        c.r.expect_closed();
    }
    // New clients take the freed slots; every open client answers its own ECHO.
    for _ in 0..30 {
        let mut c = s.raw();
        let Resp::Int(id) = c.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
        conns.push(Some((c, id)));
    }
    for round in 0..3 {
        for (c, id) in conns.iter_mut().flatten() {
            let word = format!("client-{id}-round-{round}");
            c.send(&encode_cmd(&["ECHO", word.as_str()]));
        }
        for (c, id) in conns.iter_mut().flatten() {
            assert_eq!(c.read(), Resp::bulk(&format!("client-{id}-round-{round}")));
        }
    }
}

/// Per `cmdstat_<name>` line, its counts (`calls`, `rejected_calls`, `failed_calls`).
fn command_counts(c: &mut Raw) -> std::collections::BTreeMap<String, [u64; 3]> {
    let text = info(c, "commandstats");
    let field = |fields: &str, name: &str| -> u64 {
        fields.split(',').find_map(|f| f.strip_prefix(name)).map_or(0, |v| v.parse().expect("number"))
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .map(|l| {
            let (name, f) = l.split_once(':').expect("name:fields");
            (name.to_string(), [field(f, "calls="), field(f, "rejected_calls="), field(f, "failed_calls=")])
        })
        .collect()
}

/// What a pipeline added to the counts (commands it did not run left out).
fn counts_added(
    before: &std::collections::BTreeMap<String, [u64; 3]>,
    after: &std::collections::BTreeMap<String, [u64; 3]>,
) -> Vec<(String, [u64; 3])> {
    after
        .iter()
        .map(|(name, a)| {
            let b = before.get(name).copied().unwrap_or_default();
            (name.clone(), [a[0] - b[0], a[1] - b[1], a[2] - b[2]])
        })
        .filter(|(name, d)| *d != [0; 3] && name != "info")
        .collect()
}

/// INFO's `keyspace_hits` and `keyspace_misses`.
fn keyspace_counts(c: &mut Raw) -> Vec<u64> {
    let text = info(c, "stats");
    ["keyspace_hits:", "keyspace_misses:"]
        .iter()
        .map(|f| text.lines().find_map(|l| l.strip_prefix(f)).expect("field").trim().parse().expect("number"))
        .collect()
}

/// The `cmd=` field of client `id`'s CLIENT LIST line.
fn client_cmd(c: &mut Raw, id: i64) -> String {
    let Resp::Bulk(line) = c.cmd(&["CLIENT", "LIST", "ID", &id.to_string()]) else { panic!("CLIENT LIST") };
    let line = String::from_utf8(line).expect("utf8");
    line.split(' ').find_map(|f| f.strip_prefix("cmd=")).expect("cmd=").to_string()
}

/// A pipeline of runs of one command (`cmd::fastrun`: GET, SET, INCR, LPUSH, HSET ...,
/// in runs of 1 to 40, over keys of every shard), broken by everything that must end a
/// run: another command or spelling, an arity error, options, inline commands, a
/// WRONGTYPE or not-an-integer error, a key too long to frame, a 70 KB value read back.
fn mixed_runs(seed: u64) -> (Vec<u8>, usize) {
    let mut rng = Rng::new(seed);
    let (mut bytes, mut requests) = (Vec::new(), 0);
    let key = |rng: &mut Rng| format!("key:{}", rng.below(40));
    let big = "b".repeat(70_000);
    let long_key = "k".repeat(10_001);
    while bytes.len() < 400_000 {
        let run = 1 + rng.below(40);
        let kind = rng.below(16);
        for i in 0..run {
            requests += 1;
            let v = format!("v{}", rng.below(1000));
            match kind {
                0 | 1 => encode_cmd_into(&mut bytes, &["GET", &key(&mut rng)]),
                2 => encode_cmd_into(&mut bytes, &["get", &key(&mut rng)]),
                3 | 4 => encode_cmd_into(&mut bytes, &["SET", &key(&mut rng), &v]),
                5 => encode_cmd_into(&mut bytes, &["INCR", &format!("counter:{}", rng.below(12))]),
                6 => encode_cmd_into(&mut bytes, &["INCRBY", &format!("counter:{}", rng.below(12)), "-3"]),
                7 => encode_cmd_into(&mut bytes, &["LPUSH", &format!("list:{}", rng.below(5)), &v]),
                8 => encode_cmd_into(&mut bytes, &["HSET", &format!("hash:{}", rng.below(5)), &v, "x"]),
                9 => encode_cmd_into(&mut bytes, &["HGET", &format!("hash:{}", rng.below(5)), &v]),
                10 => encode_cmd_into(&mut bytes, &["APPEND", &key(&mut rng), "+"]),
                11 => encode_cmd_into(&mut bytes, &["SADD", &format!("set:{}", rng.below(5)), &v]),
                // WRONGTYPE inside runs: GET of a list, INCR of a word.
                12 => encode_cmd_into(&mut bytes, &["GET", &format!("list:{}", rng.below(5))]),
                13 if i % 2 == 0 => encode_cmd_into(&mut bytes, &["GET", &key(&mut rng), "extra"]),
                13 => encode_cmd_into(&mut bytes, &["SET", &key(&mut rng), &v, "PX", "100000"]),
                14 if i == 0 => bytes.extend_from_slice(b"PING\r\n"),
                14 => encode_cmd_into(&mut bytes, &["STRLEN", &key(&mut rng)]),
                _ if i == 0 => {
                    requests += 1;
                    encode_cmd_into(&mut bytes, &["SET", "big", &big]);
                    encode_cmd_into(&mut bytes, &["GET", &long_key]);
                }
                _ if i < 4 => encode_cmd_into(&mut bytes, &["GET", "big"]),
                _ => encode_cmd_into(&mut bytes, &["GET", &key(&mut rng)]),
            }
        }
    }
    // Ends with a run after another command: CLIENT LIST's `cmd=` names the run's.
    bytes.extend_from_slice(b"PING\r\n");
    for _ in 0..5 {
        encode_cmd_into(&mut bytes, &["STRLEN", &key(&mut rng)]);
    }
    (bytes, requests + 6)
}

/// Runs of one plain command take one set of checks per run (`cmd::fastrun`); every
/// reply, error, commandstats count (calls, failed and rejected calls), keyspace hit
/// and miss, and CLIENT LIST's `cmd=` must still be what redis-server gives for the
/// same pipeline, on one shard and on three (where runs stop at other shards' keys).
#[test]
fn runs_of_one_command_answer_and_count_as_redis_does() {
    let dir = temp_dir("fastrun-redis");
    let redis = RealRedis::start(&dir);
    let one = Server::start(1, &[]);
    let three = Server::start(3, &[]);
    let (input, requests) = mixed_runs(7);
    let mut seen = Vec::new();
    for port in [redis.port, one.port, three.port] {
        let (mut c, mut admin) = (raw_to(port), raw_to(port));
        let Resp::Int(id) = c.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
        // Words under the counters INCR must refuse.
        for i in [3, 7] {
            assert_eq!(c.cmd(&["SET", &format!("counter:{i}"), "word"]), Resp::simple("OK"));
        }
        assert_eq!(c.cmd(&["RPUSH", "list:0", "a"]), Resp::Int(1));
        let (counts_before, keyspace_before) = (command_counts(&mut admin), keyspace_counts(&mut admin));
        // In pieces that end mid-request, as a socket may deliver them, from another
        // thread, so that neither side's buffers fill while the other waits.
        let mut w = c.w.try_clone().expect("clone socket");
        let bytes = input.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            for piece in bytes.chunks(9_973) {
                w.write_all(piece).expect("write");
            }
        });
        let replies = c.r.read_n(requests).expect("every reply");
        writer.join().expect("writer");
        let counts = counts_added(&counts_before, &command_counts(&mut admin));
        let keyspace: Vec<u64> = keyspace_counts(&mut admin).iter().zip(&keyspace_before).map(|(a, b)| a - b).collect();
        seen.push((replies, counts, keyspace, client_cmd(&mut admin, id)));
    }
    let (want, got_one, got_three) = (&seen[0], &seen[1], &seen[2]);
    for (name, got) in [("1 shard", got_one), ("3 shards", got_three)] {
        for (n, (g, w)) in got.0.iter().zip(&want.0).enumerate() {
            assert_eq!(g, w, "{name}: reply {n}");
        }
        assert_eq!(got.1, want.1, "{name}: commandstats");
        assert_eq!(got.2, want.2, "{name}: keyspace hits and misses");
        assert_eq!((got.3.as_str(), want.3.as_str()), ("strlen", "strlen"), "{name}: CLIENT LIST cmd=");
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn send_all(c: &mut Raw, cmds: &[&[&str]]) {
    let mut bytes = Vec::new();
    for cmd in cmds {
        encode_cmd_into(&mut bytes, cmd);
    }
    c.send(&bytes);
}

/// Whatever makes a run of one command take the general path must still have its
/// effect on pipelined runs: MULTI queues them, a restricted ACL user is refused keys
/// one by one, MONITOR sees each, a tracking client is invalidated, keyspace events
/// fire, and a client paused for writes has its reads answered and its writes held.
/// Asserted alike on redis-server (which checks the expectations), one and three shards.
#[test]
fn runs_of_one_command_keep_multi_acl_monitor_tracking_events_and_pause() {
    let dir = temp_dir("fastrun-effects");
    let redis = RealRedis::start(&dir);
    let one = Server::start(1, &[]);
    let three = Server::start(3, &[]);
    for (name, port) in [("redis", redis.port), ("1 shard", one.port), ("3 shards", three.port)] {
        let (mut a, mut b) = (raw_to(port), raw_to(port));
        // MULTI: the run's commands are queued, not run.
        send_all(&mut a, &[&["SET", "k", "1"], &["MULTI"], &["SET", "k", "2"], &["SET", "k", "3"], &["GET", "k"]]);
        send_all(&mut a, &[&["EXEC"], &["GET", "k"], &["GET", "k"]]);
        let got = a.r.read_n(8).expect("replies");
        let q = Resp::simple("QUEUED");
        let exec = Resp::Array(vec![Resp::simple("OK"), Resp::simple("OK"), Resp::bulk("3")]);
        let want =
            [Resp::simple("OK"), Resp::simple("OK"), q.clone(), q.clone(), q, exec, Resp::bulk("3"), Resp::bulk("3")];
        assert_eq!(got, want, "{name}: MULTI");

        // ACL: a user limited to keys a* is refused the others, request by request.
        assert_eq!(b.cmd(&["ACL", "SETUSER", "lim", "on", "nopass", "~a*", "+@all"]), Resp::simple("OK"));
        let mut lim = raw_to(port);
        assert_eq!(lim.cmd(&["AUTH", "lim", "x"]), Resp::simple("OK"));
        send_all(
            &mut lim,
            &[&["SET", "a1", "v"], &["SET", "b1", "v"], &["SET", "a2", "w"], &["GET", "a1"], &["GET", "b1"]],
        );
        let got = lim.r.read_n(5).expect("replies");
        let noperm = || Resp::err("NOPERM this user has no permissions to access one of the keys used as arguments");
        let want = [Resp::simple("OK"), noperm(), Resp::simple("OK"), Resp::bulk("v"), noperm()];
        assert_eq!(got, want, "{name}: ACL");

        // MONITOR sees every command of a run, in order.
        let mut mon = raw_to(port);
        assert_eq!(mon.cmd(&["MONITOR"]), Resp::simple("OK"));
        let gets: Vec<Vec<String>> = (0..20).map(|i| vec!["GET".to_string(), format!("m{i}")]).collect();
        let mut bytes = Vec::new();
        for g in &gets {
            encode_cmd_into(&mut bytes, g);
        }
        a.send(&bytes);
        assert_eq!(a.r.read_n(20).expect("replies"), vec![Resp::NilBulk; 20], "{name}: GETs under MONITOR");
        for i in 0..20 {
            let Resp::Simple(line) = mon.read() else { panic!("{name}: MONITOR line") };
            assert!(line.ends_with(&format!("\"GET\" \"m{i}\"")), "{name}: {line}");
        }
        drop(mon);

        // Tracking: a run of SETs invalidates the key a tracking client read.
        let mut t = raw_to(port);
        assert!(matches!(t.cmd(&["HELLO", "3"]), Resp::Map(_)));
        assert_eq!(t.cmd(&["CLIENT", "TRACKING", "ON"]), Resp::simple("OK"));
        assert_eq!(t.cmd(&["GET", "tk"]), Resp::Null);
        send_all(&mut a, &[&["SET", "tk", "1"], &["SET", "tk", "2"], &["SET", "tk", "3"]]);
        assert_eq!(a.r.read_n(3).expect("replies"), vec![Resp::simple("OK"); 3], "{name}: SETs");
        let push = Resp::Push(vec![Resp::bulk("invalidate"), Resp::Array(vec![Resp::bulk("tk")])]);
        assert_eq!(t.read(), push, "{name}: tracking");
        drop(t);

        // Keyspace events: one per SET of the run.
        assert_eq!(b.cmd(&["CONFIG", "SET", "notify-keyspace-events", "E$"]), Resp::simple("OK"));
        let mut sub = raw_to(port);
        sub.send(&encode_cmd(&["SUBSCRIBE", "__keyevent@0__:set"]));
        assert!(matches!(sub.read(), Resp::Array(_)), "{name}: SUBSCRIBE");
        send_all(&mut a, &[&["SET", "e1", "1"], &["SET", "e2", "1"], &["SET", "e3", "1"]]);
        assert_eq!(a.r.read_n(3).expect("replies"), vec![Resp::simple("OK"); 3], "{name}: SETs");
        // (In order per shard; keys of different shards publish from their own.)
        let mut keys: Vec<Resp> = (0..3)
            .map(|_| match sub.read() {
                Resp::Array(m) if m[..2] == [Resp::bulk("message"), Resp::bulk("__keyevent@0__:set")] => m[2].clone(),
                other => panic!("{name}: keyspace event {other:?}"),
            })
            .collect();
        if name == "3 shards" {
            keys.sort_by_key(|k| format!("{k:?}"));
        }
        assert_eq!(keys, [Resp::bulk("e1"), Resp::bulk("e2"), Resp::bulk("e3")], "{name}: keyspace events");
        assert_eq!(b.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]), Resp::simple("OK"));

        // CLIENT PAUSE WRITE: the reads before the first write answer, the rest waits
        // (and the read after it sees it).
        assert_eq!(b.cmd(&["CLIENT", "PAUSE", "20000", "WRITE"]), Resp::simple("OK"));
        send_all(&mut a, &[&["GET", "p"], &["GET", "p"], &["SET", "p", "2"], &["GET", "p"]]);
        assert_eq!(a.r.read_n(2).expect("replies"), vec![Resp::NilBulk; 2], "{name}: reads under pause");
        assert_eq!(b.cmd(&["GET", "p"]), Resp::NilBulk, "{name}: the write is held");
        assert_eq!(b.cmd(&["CLIENT", "UNPAUSE"]), Resp::simple("OK"));
        assert_eq!(a.r.read_n(2).expect("replies"), vec![Resp::simple("OK"), Resp::bulk("2")], "{name}: after");
    }
    std::fs::remove_dir_all(&dir).ok();
}
