//! `scripts/backup` against a live server: two backups with a change between them,
//! then the older one restored into a fresh server's `dir` has the digest taken at
//! the first backup, and the newer one the digest at the second. Also the script's
//! failures: a wrong password and an unreachable server exit non-zero with a message.
//!
//! Needs `redis-cli` and `rdiff-backup` (scripts/test.sh installs them); a missing
//! tool fails the test.

use crate::common;

use common::{Server, temp_dir, tool};
use std::path::Path;
use std::process::{Command, Output};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/backup");

fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn digest(c: &mut redis::Connection) -> String {
    q(c, &["DEBUG", "DIGEST"])
}

/// Runs `scripts/backup` with `args`, with the Redis tools' directory and
/// rdiff-backup's on PATH.
fn backup(args: &[&str]) -> Output {
    let cli = tool("redis-cli");
    let rdiff = tool("rdiff-backup");
    let mut path: Vec<std::path::PathBuf> =
        [&cli, &rdiff].iter().map(|t| Path::new(t).parent().unwrap().to_path_buf()).collect();
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    Command::new("bash")
        .arg(SCRIPT)
        .args(args)
        .env("PATH", std::env::join_paths(path).unwrap())
        .env_remove("REDISCLI_AUTH")
        .output()
        .expect("run scripts/backup")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn rdiff(args: &[&str]) -> Output {
    Command::new(tool("rdiff-backup")).args(args).output().expect("run rdiff-backup")
}

/// Restores the repository's state at `at` into a new directory as `dump.rdb`
/// (README, "Backups": restore into `dir` as `dbfilename`) and returns the directory.
fn restore(repo: &Path, at: &str) -> std::path::PathBuf {
    let out = temp_dir("restore-out");
    std::fs::remove_dir(&out).unwrap();
    let o = rdiff(&["restore", "--at", at, repo.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success(), "rdiff-backup restore --at {at}: {}", text(&o));
    let dir = temp_dir("restore-dir");
    std::fs::rename(out.join("dump.rdb"), dir.join("dump.rdb")).expect("restored dump.rdb");
    std::fs::remove_dir_all(&out).unwrap();
    dir
}

#[test]
fn backup_twice_and_restore_the_older_increment() {
    let s = Server::start(2, &["--enable-debug-command", "yes", "--requirepass", "s3cret"]);
    let mut c = s.client().get_connection().unwrap();
    let _: () = q(&mut c, &["AUTH", "s3cret"]);
    for i in 0..200 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    let _: () = q(&mut c, &["HSET", "h", "f", "1", "g", "2"]);
    let _: () = q(&mut c, &["RPUSH", "l", "a", "b", "c"]);
    let _: () = q(&mut c, &["PEXPIRE", "k1", "10000000"]);
    let first = digest(&mut c);

    let work = temp_dir("backup");
    let repo = work.join("repo");
    let repo_s = repo.to_str().unwrap();
    let port = s.port.to_string();

    let o = backup(&["-p", &port, "-a", "s3cret", "-q", repo_s]);
    assert!(o.status.success(), "first backup: {}", text(&o));

    // Change the data: overwrite, delete, add. The last change lands while a slow
    // BGSAVE child (rdb-key-save-delay) runs: the backup must wait for that child
    // (BGSAVE answers "already in progress") and take a snapshot of its own.
    let _: () = q(&mut c, &["SET", "k0", "changed"]);
    let _: () = q(&mut c, &["DEL", "k2", "h"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "2000"]);
    let started: String = q(&mut c, &["BGSAVE"]);
    assert_eq!(started, "Background saving started");
    let _: () = q(&mut c, &["SADD", "s", "x", "y"]);
    let second = digest(&mut c);
    assert_ne!(first, second);

    // Right after the first: the script itself waits out rdiff-backup's one session
    // per second. `-k 1D` finds nothing to prune (a warning from rdiff-backup, not a
    // failure).
    let o = backup(&["-h", "127.0.0.1", "-p", &port, "-a", "s3cret", "-k", "1D", repo_s]);
    assert!(o.status.success(), "second backup: {}", text(&o));
    let log = text(&o);
    assert!(log.contains("Background saving started") && log.contains("dump.rdb"), "{log}");
    let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);

    // Two sessions: the mirror and one reverse increment.
    let o = rdiff(&["--parsable-output", "list", "increments", repo_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2, "{}", text(&o));

    // The older session (1B: the newest increment) holds the first snapshot.
    let old = Server::start_in(restore(&repo, "1B"), 1, &["--enable-debug-command", "yes"]);
    assert_eq!(digest(&mut old.conn()), first, "restored 1B");
    // The latest (now) holds the second.
    let new = Server::start_in(restore(&repo, "now"), 3, &["--enable-debug-command", "yes"]);
    assert_eq!(digest(&mut new.conn()), second, "restored now");

    // A wrong password is a failure with the server's error, and no new session.
    let o = backup(&["-p", &port, "-a", "wrong", repo_s]);
    assert!(!o.status.success(), "wrong password accepted: {}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("WRONGPASS"), "{}", text(&o));
    let o = rdiff(&["--parsable-output", "list", "increments", repo_s]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 2, "{}", text(&o));

    // -k prunes: every session but the new one is older than now.
    let o = backup(&["-p", &port, "-a", "s3cret", "-q", "-k", "now", repo_s]);
    assert!(o.status.success(), "backup -k now: {}", text(&o));
    let o = rdiff(&["--parsable-output", "list", "increments", repo_s]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1, "{}", text(&o));
    let restored = Server::start_in(restore(&repo, "now"), 1, &["--enable-debug-command", "yes"]);
    assert_eq!(digest(&mut restored.conn()), second, "restored after pruning");
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn backup_of_an_unreachable_server_fails_loudly() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let work = temp_dir("backup-down");
    let repo = work.join("repo");
    let o = backup(&["-p", &port.to_string(), "-t", "5", repo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")) && err.contains("onnect"), "{}", text(&o));
    assert!(!repo.join("rdiff-backup-data").exists());
    std::fs::remove_dir_all(&work).unwrap();
}

#[test]
fn a_failed_snapshot_fails_the_backup() {
    let s = Server::start(1, &[]);
    let _: () = q(&mut s.conn(), &["SET", "k", "v"]);
    // The child cannot create its temp file in a directory that is gone.
    std::fs::remove_dir_all(&s.dir).unwrap();
    let work = temp_dir("backup-fail");
    let repo = work.join("repo");
    let o = backup(&["-p", &s.port.to_string(), "-t", "30", repo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("rdb_last_bgsave_status:err"), "{}", text(&o));
    assert!(!repo.join("rdiff-backup-data").exists());
    std::fs::remove_dir_all(&work).unwrap();
}
