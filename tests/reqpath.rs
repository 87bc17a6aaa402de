//! The request path's bookkeeping (issue 14): pipelined commands timed in groups
//! (`cmd::cmdtime`) still count exactly in INFO commandstats and the latency
//! histograms, and SLOWLOG with threshold 0 still logs each of them.

mod common;
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
