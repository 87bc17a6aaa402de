//! A failing disk under the AOF: a real I/O error, not a flag. The AOF directory is an
//! ext4 filesystem on a loop device whose backing file is a sparse image on a small
//! tmpfs. Filling that tmpfs makes every new block the filesystem writes fail in the
//! loop driver, so writeback fails and fdatasync returns the error (ENOSPC, then EIO),
//! exactly as with a dying disk; buffered write(2) into the page cache still succeeds.
//!
//! A failed fdatasync must end the server with Redis's log line and exit status 1
//! (Linux may have dropped the pages that failed, so no later fsync could prove them
//! durable), and under `always` the write whose sync failed is never acknowledged.
//!
//! Needs root, `mount`, `losetup` (util-linux, `mount` package) and `mkfs.ext4`
//! (e2fsprogs); a missing one fails the test rather than skipping it.

use crate::common;

use common::{Server, temp_dir, wait_until};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e} (this test needs root, util-linux's losetup and mount, e2fsprogs)"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// ext4 on a loop device over a sparse 64 MiB image on an 8 MiB tmpfs; torn down on drop.
struct FailingDisk {
    root: PathBuf,
    dev: String,
}

impl FailingDisk {
    fn new() -> FailingDisk {
        let root = temp_dir("fsync-fail");
        let (backing, mnt) = (root.join("backing"), root.join("mnt"));
        std::fs::create_dir_all(&backing).unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        run("mount", &["-t", "tmpfs", "-o", "size=8m", "tmpfs", backing.to_str().unwrap()]);
        let img = backing.join("img");
        run("truncate", &["-s", "64M", img.to_str().unwrap()]);
        run("mkfs.ext4", &["-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", img.to_str().unwrap()]);
        let dev = run("losetup", &["-f", "--show", img.to_str().unwrap()]);
        let disk = FailingDisk { root, dev };
        run("mount", &[&disk.dev, mnt.to_str().unwrap()]);
        std::fs::create_dir_all(disk.dir()).unwrap();
        disk
    }

    /// The server's `dir`, on the loop device.
    fn dir(&self) -> PathBuf {
        self.root.join("mnt/data")
    }

    /// From now on every block the filesystem has not written yet fails to write.
    fn fail(&self) {
        let fill = self.root.join("backing/fill");
        let mut f = std::fs::File::create(&fill).unwrap();
        let chunk = vec![0xa5u8; 1 << 20];
        use std::io::Write;
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
}

impl Drop for FailingDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.root.join("mnt")).status();
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
        let _ = Command::new("umount").arg("-l").arg(self.root.join("backing")).status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Starts a 1-shard server in `dir`; the test owns the directory (not the server).
fn start(dir: &Path, flags: &[&str]) -> Server {
    Server::start_in(dir.to_path_buf(), 1, &[&["--appendonly", "yes"], flags].concat())
}

fn exit_after_fsync_error(mut s: Server, line: &str) {
    let st = s.wait_exit(Duration::from_secs(20)).expect("the server exits after a failed fsync");
    assert_eq!(st.code(), Some(1), "exit status");
    // The reader thread may still be draining the pipe the process wrote before it
    // exited.
    wait_until(Duration::from_secs(5), || s.log.lock().unwrap().iter().any(|l| l.contains(line)));
    let log = s.log.lock().unwrap().clone();
    assert!(log.iter().any(|l| l.contains(line)), "log lacks {line:?}: {log:#?}");
    std::mem::forget(s); // the disk's guard removes the directory
}

/// `always`, buffered: the write's linked fdatasync fails; the reply never leaves and
/// the server exits as Redis 7.0 does.
#[test]
fn failed_fsync_under_always_exits_without_acknowledging() {
    let disk = FailingDisk::new();
    let s = start(&disk.dir(), &["--appendfsync", "always", "--appendonly-direct", "no"]);
    let mut c = s.conn();
    let _: () = redis::cmd("SET").arg("before").arg("1").query(&mut c).unwrap();
    disk.fail();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let big = "v".repeat(256 << 10);
    let res: redis::RedisResult<()> = redis::cmd("SET").arg("lost").arg(&big).query(&mut c);
    assert!(res.is_err(), "a write whose fsync failed was acknowledged");
    exit_after_fsync_error(s, "Can't persist AOF for fsync error when the AOF fsync policy is 'always': ");
}

/// `everysec`: replies leave once the write is in the page cache; the once-a-second
/// fdatasync then fails and the server exits (Redis's line, and why).
#[test]
fn failed_fsync_under_everysec_exits() {
    let disk = FailingDisk::new();
    let s = start(&disk.dir(), &["--appendfsync", "everysec"]);
    let mut c = s.conn();
    let _: () = redis::cmd("SET").arg("before").arg("1").query(&mut c).unwrap();
    disk.fail();
    let big = "v".repeat(256 << 10);
    // Written to the page cache: acknowledged (as by Redis under everysec); the sync
    // within the next second fails.
    let _: () = redis::cmd("SET").arg("cached").arg(&big).query(&mut c).unwrap();
    let gone = wait_until(Duration::from_secs(10), || redis::cmd("PING").query::<String>(&mut c).is_err());
    assert!(gone, "the server still answers after its fsync failed");
    exit_after_fsync_error(s, "Fail to fsync the AOF file: ");
}

/// Under `appendfsync no`: one write before the disk fails and one after, both
/// acknowledged from the page cache (nothing has fsynced yet).
fn cached_write_on_a_failing_disk(disk: &FailingDisk) -> (Server, redis::Connection) {
    let s = start(&disk.dir(), &["--appendfsync", "no", "--appendonly-direct", "no"]);
    let mut c = s.conn();
    let _: () = redis::cmd("SET").arg("before").arg("1").query(&mut c).unwrap();
    disk.fail();
    let big = "v".repeat(256 << 10);
    let _: () = redis::cmd("SET").arg("cached").arg(&big).query(&mut c).unwrap();
    (s, c)
}

/// `no`: nothing fsyncs in service, so the failure first shows at SHUTDOWN's final
/// fdatasync: Redis's warning, and a non-zero exit so a supervisor knows the last
/// acknowledged writes may not be on disk.
#[test]
fn failed_fsync_at_shutdown_is_logged_and_exits_non_zero() {
    let disk = FailingDisk::new();
    let (s, mut c) = cached_write_on_a_failing_disk(&disk);
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    exit_after_fsync_error(s, "Fail to fsync the AOF file: ");
}

/// `CONFIG SET appendonly no` syncs the file it closes; if that sync fails, writes it
/// acknowledged may be lost, so the server ends as for any failed fsync.
#[test]
fn failed_fsync_when_the_aof_is_turned_off_exits() {
    let disk = FailingDisk::new();
    let (s, mut c) = cached_write_on_a_failing_disk(&disk);
    let _ = redis::cmd("CONFIG").arg("SET").arg("appendonly").arg("no").query::<()>(&mut c);
    exit_after_fsync_error(s, "Fail to fsync the AOF file: ");
}
