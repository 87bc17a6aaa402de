//! `shardis-check-rdb`: a valid file is reported with its counts; a corrupt or
//! truncated one fails with the problem and its offset.

use crate::common;

use shardis::rdb::{self, WriteOptions};
use shardis::storage::list::ListValue;
use shardis::storage::{Db, Value};
use std::process::Command;

fn check(path: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardis-check-rdb")).arg(path).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn check_tool_reports_counts_and_first_problem() {
    let dir = common::temp_dir("check-rdb");
    let mut dbs: Vec<Db> = (0..16).map(|_| Db::new()).collect();
    dbs[0].set(b"a", Value::Str(b"1".into()), 0);
    dbs[0].set(b"b", Value::Str(b"x".repeat(100).into()), 4_000_000_000_000);
    dbs[2].set(b"l", Value::List(ListValue::from_items(["p", "q"], Default::default()).into()), 0);
    let mut file = Vec::new();
    rdb::write_snapshot(&[&dbs[..]], &mut file, &WriteOptions::default()).unwrap();
    let good = dir.join("good.rdb");
    std::fs::write(&good, &file).unwrap();
    let (ok, out) = check(&good);
    assert!(ok, "{out}");
    for line in ["db 0: 2 keys, 1 with a TTL", "db 2: 1 keys", "RDB version 10", "checksum: OK", "OK: 3 keys"] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(out.lines().any(|l| l.starts_with("string") && l.ends_with(" 2")), "{out}");

    let mut bad = file.clone();
    let n = bad.len();
    bad[n - 3] ^= 0x10;
    let path = dir.join("bad.rdb");
    std::fs::write(&path, &bad).unwrap();
    let (ok, out) = check(&path);
    assert!(!ok && out.contains("checksum mismatch") && out.contains(&format!("at offset {}", n - 8)), "{out}");

    std::fs::write(&path, &file[..file.len() / 2]).unwrap();
    let (ok, out) = check(&path);
    assert!(!ok && out.contains("unexpected end of input") && out.contains("NOT valid"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
