//! Bounded turns (`shard::turns`): a connection pipelining a bulk load yields after
//! its share of commands per turn, without reordering anything, and active expiry
//! runs in slices that still remove every expired key. `DEBUG TURNS` reports both.

use crate::common;
use common::*;
use std::time::Duration;

/// The `name:value` field of a `DEBUG TURNS` line.
fn field(line: &str, name: &str) -> u64 {
    line.split(' ')
        .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        .parse()
        .expect("number")
}

fn turns(c: &mut Raw) -> String {
    match c.cmd(&["DEBUG", "TURNS"]) {
        Resp::Bulk(b) => String::from_utf8(b).expect("utf8"),
        other => panic!("DEBUG TURNS: {other:?}"),
    }
}

#[test]
fn a_bulk_pipeline_yields_between_turns_in_order() {
    let s = Server::start(1, &[]);
    let mut admin = s.raw();
    assert_eq!(admin.cmd(&["DEBUG", "TURNS", "RESET"]), Resp::simple("OK"));
    // 20k INCRs in one write: a 16 KB receive buffer alone holds ~700 of them, more
    // than one turn's share, so the connection must yield at least once.
    const N: i64 = 20_000;
    let mut bulk = Vec::new();
    for _ in 0..N {
        encode_cmd_into(&mut bulk, &["INCR", "counter"]);
    }
    let mut c = s.raw();
    let mut w = c.w.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        w.write_all(&bulk).expect("write bulk");
    });
    // Another client is served meanwhile, and sees a consistent counter.
    let mut other = s.raw();
    match other.cmd(&["GET", "counter"]) {
        Resp::NilBulk => {}
        Resp::Bulk(v) => {
            let n: i64 = String::from_utf8(v).unwrap().parse().unwrap();
            assert!((1..=N).contains(&n), "{n}");
        }
        r => panic!("GET: {r:?}"),
    }
    for i in 1..=N {
        assert_eq!(c.read(), Resp::Int(i));
    }
    writer.join().expect("writer");
    let line = turns(&mut admin);
    assert!(field(&line, "yields") >= 1, "{line}");
    assert!(field(&line, "turns") >= 2, "{line}");
}

#[test]
fn expiry_slices_remove_every_expired_key_unread() {
    let s = Server::start(2, &[]);
    let mut c = s.raw();
    const N: usize = 5000;
    let mut load = Vec::new();
    for i in 0..N {
        encode_cmd_into(&mut load, &["SET", &format!("k{i}"), "v", "PX", "30"]);
    }
    encode_cmd_into(&mut load, &["SET", "stays", "v"]);
    c.send(&load);
    for _ in 0..=N {
        assert_eq!(c.read(), Resp::simple("OK"));
    }
    // Nothing reads the keys: only active expiry can remove them.
    assert!(
        wait_until(Duration::from_secs(20), || c.cmd(&["DBSIZE"]) == Resp::Int(1)),
        "keys left: {:?}",
        c.cmd(&["DBSIZE"])
    );
    let text = turns(&mut c);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("shard:0 ") && lines[1].starts_with("shard:1 "), "{text}");
    let expired: u64 = lines.iter().map(|l| field(l, "expired_by_slices")).sum();
    assert_eq!(expired, N as u64, "{text}");
    let info = match c.cmd(&["INFO", "stats"]) {
        Resp::Bulk(b) => String::from_utf8(b).unwrap(),
        r => panic!("INFO: {r:?}"),
    };
    assert!(info.contains(&format!("expired_keys:{N}\r\n")), "{info}");
}

#[test]
fn debug_turns_rejects_other_arguments() {
    let s = Server::start(1, &[]);
    let mut c = s.raw();
    assert!(matches!(c.cmd(&["DEBUG", "TURNS", "CLEAR"]), Resp::Error(e) if e.starts_with("ERR unknown subcommand")));
    assert!(field(&turns(&mut c), "turns") >= 1);
}

/// Loads `n` keys expiring in `px` ms and one without a TTL into `db`.
fn load_expiring(c: &mut Raw, db: &str, n: usize, px: &str) {
    assert_eq!(c.cmd(&["SELECT", db]), Resp::simple("OK"));
    let mut load = Vec::new();
    for i in 0..n {
        encode_cmd_into(&mut load, &["SET", &format!("k{i}"), "v", "PX", px]);
    }
    encode_cmd_into(&mut load, &["SET", "stays", "v"]);
    c.send(&load);
    for _ in 0..=n {
        assert_eq!(c.read(), Resp::simple("OK"));
    }
}

/// Waits until active expiry left only `stays` in `db`.
fn wait_expired(c: &mut Raw, db: &str) {
    assert_eq!(c.cmd(&["SELECT", db]), Resp::simple("OK"));
    assert!(
        wait_until(Duration::from_secs(20), || c.cmd(&["DBSIZE"]) == Resp::Int(1)),
        "db {db}: keys left: {:?}",
        c.cmd(&["DBSIZE"])
    );
}

/// Active expiry visits only the databases that have keys with a TTL
/// (`shard::dbwatch`): keys in a database other than 0, keys SWAPDB moved to another
/// index and keys DEBUG RELOAD loaded all go unread.
#[test]
fn expiry_slices_find_keys_in_every_database_after_swapdb_and_reload() {
    for shards in [1, 2] {
        let s = Server::start(shards, &[]);
        let mut c = s.raw();
        load_expiring(&mut c, "9", 200, "30");
        wait_expired(&mut c, "9");
        // Moved from 4 (before its keys expire) to 11, which never had a TTL.
        load_expiring(&mut c, "4", 200, "300");
        assert_eq!(c.cmd(&["SWAPDB", "4", "11"]), Resp::simple("OK"));
        wait_expired(&mut c, "11");
        // Loaded again from the snapshot, on the reload's thread.
        load_expiring(&mut c, "6", 200, "1000");
        assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), Resp::simple("OK"));
        wait_expired(&mut c, "6");
    }
}
