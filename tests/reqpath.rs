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
    let logged: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            Resp::Array(f) => match &f[3] {
                Resp::Array(a) if a[0] == Resp::bulk("GET") => match &a[1] {
                    Resp::Bulk(k) => Some(String::from_utf8_lossy(k).into_owned()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect();
    let expected: Vec<String> = (0..50).rev().map(|i| format!("key:{i}")).collect();
    assert_eq!(logged, expected);
}
