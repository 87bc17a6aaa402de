//! The AOF directory: file names, the manifest, and its atomic replacement.
//!
//! Manifest lines follow Redis 7 (`file <name> seq <n> type <b|i>`), with one more
//! pair, `shard <s>`, naming the shard whose log the file is. Lines starting with `#`
//! are comments.

use crate::io::direct::DirectFile;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{IntoRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Base,
    Incr,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub seq: u64,
    pub kind: Kind,
    pub shard: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub files: Vec<FileEntry>,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut files = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words.len().is_multiple_of(2) {
                return Err(format!("Invalid AOF manifest file format (line {})", n + 1));
            }
            let (mut name, mut seq, mut kind, mut shard) = (None, None, None, 0usize);
            for kv in words.chunks(2) {
                match kv[0] {
                    "file" => name = Some(kv[1].to_string()),
                    "seq" => seq = kv[1].parse::<u64>().ok(),
                    "type" => {
                        kind = match kv[1] {
                            "b" => Some(Kind::Base),
                            "i" => Some(Kind::Incr),
                            _ => None,
                        }
                    }
                    "shard" => shard = kv[1].parse().map_err(|_| format!("bad shard on line {}", n + 1))?,
                    _ => {} // unknown keys are ignored, as Redis does
                }
            }
            match (name, seq, kind) {
                (Some(name), Some(seq), Some(kind)) => files.push(FileEntry { name, seq, kind, shard }),
                _ => return Err(format!("Invalid AOF manifest file format (line {})", n + 1)),
            }
        }
        Ok(Manifest { files })
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            let t = if f.kind == Kind::Base { "b" } else { "i" };
            s.push_str(&format!("file {} seq {} type {} shard {}\n", f.name, f.seq, t, f.shard));
        }
        s
    }

    /// The number of shards the files were written by.
    pub fn shards(&self) -> usize {
        self.files.iter().map(|f| f.shard + 1).max().unwrap_or(0)
    }

    /// Shard `s`'s files in replay order: its base, then its incremental files by seq.
    pub fn files_of(&self, s: usize) -> Vec<&FileEntry> {
        let mut v: Vec<&FileEntry> = self.files.iter().filter(|f| f.shard == s).collect();
        v.sort_by_key(|f| (f.kind == Kind::Incr, f.seq));
        v
    }

    pub fn max_seq(&self) -> u64 {
        self.files.iter().map(|f| f.seq).max().unwrap_or(0)
    }

    /// A fresh set: one base and one incremental file per shard, all with `seq`.
    pub fn fresh(prefix: &str, shards: usize, seq: u64) -> Manifest {
        let mut files = Vec::new();
        for s in 0..shards {
            files.push(FileEntry { name: file_name(prefix, s, seq, Kind::Base), seq, kind: Kind::Base, shard: s });
            files.push(FileEntry { name: file_name(prefix, s, seq, Kind::Incr), seq, kind: Kind::Incr, shard: s });
        }
        Manifest { files }
    }
}

pub fn file_name(prefix: &str, shard: usize, seq: u64, kind: Kind) -> String {
    let k = if kind == Kind::Base { "base" } else { "incr" };
    format!("{prefix}.s{shard}.{seq}.{k}.aof")
}

/// A base file written by a rewrite: `.base.rdb` with the RDB preamble, else `.base.aof`.
pub fn base_name(prefix: &str, shard: usize, seq: u64, rdb: bool) -> String {
    let ext = if rdb { "rdb" } else { "aof" };
    format!("{prefix}.s{shard}.{seq}.base.{ext}")
}

/// Is this file (by name or content) an RDB base?
pub fn is_rdb(name: &str, bytes: &[u8]) -> bool {
    name.ends_with(".rdb") || bytes.starts_with(b"REDIS")
}

pub fn manifest_name(prefix: &str) -> String {
    format!("{prefix}.manifest")
}

/// `<dir>/<appenddirname>`.
pub fn aof_dir(cfg: &crate::config::Config) -> PathBuf {
    Path::new(&cfg.dir).join(&cfg.appenddirname)
}

/// Replaces the manifest atomically: temp file, fsync, rename, fsync the directory.
pub fn write_manifest(dir: &Path, prefix: &str, m: &Manifest) -> std::io::Result<()> {
    let tmp = dir.join(format!("temp-{}", manifest_name(prefix)));
    let mut f = File::create(&tmp)?;
    f.write_all(m.render().as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(manifest_name(prefix)))?;
    fsync_dir(dir)
}

pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An incremental file open for appending: its fd, its logical length, and when it is
/// written with O_DIRECT (`Config::aof_direct`) its O_DIRECT write state.
pub struct LogFile {
    pub fd: RawFd,
    pub len: u64,
    pub direct: Option<DirectFile>,
}

/// Opens (creating) a log file for positional writes at its end. With `direct`, the
/// file is opened O_DIRECT; a filesystem that refuses that gets buffered I/O and a
/// warning rather than a server that cannot start.
pub fn open_log(path: &Path, direct: bool) -> std::io::Result<LogFile> {
    if direct {
        match OpenOptions::new().read(true).write(true).create(true).custom_flags(libc::O_DIRECT).open(path) {
            Ok(f) => {
                let len = f.metadata()?.len();
                let fd = f.into_raw_fd();
                return match DirectFile::open(fd, len, super::resp::PADDING) {
                    Ok(d) => Ok(LogFile { fd, len, direct: Some(d) }),
                    Err(e) => {
                        crate::io::file::close(fd);
                        Err(e)
                    }
                };
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => crate::util::log::warning(&format!(
                "{}: the filesystem refuses O_DIRECT, so this AOF file uses buffered I/O",
                path.display()
            )),
            Err(e) => return Err(e),
        }
    }
    // Readable too: switching to O_DIRECT later (`ShardLog::set_direct`) reads the
    // partial last block back.
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    let len = f.metadata()?.len();
    Ok(LogFile { fd: f.into_raw_fd(), len, direct: None })
}

/// Writes `bytes` as the whole content of `path` and fsyncs it.
pub fn write_file_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_order() {
        let mut m = Manifest::fresh("appendonly.aof", 2, 1);
        m.files.push(FileEntry { name: "x".into(), seq: 2, kind: Kind::Incr, shard: 1 });
        let parsed = Manifest::parse(&m.render()).unwrap();
        assert_eq!(parsed, m);
        assert_eq!(parsed.shards(), 2);
        let names: Vec<&str> = parsed.files_of(1).iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["appendonly.aof.s1.1.base.aof", "appendonly.aof.s1.1.incr.aof", "x"]);
        // Redis's own lines (no shard) parse as shard 0.
        let r = Manifest::parse("file appendonly.aof.1.base.rdb seq 1 type b\n# c\n").unwrap();
        assert_eq!(r.files[0].shard, 0);
        assert!(Manifest::parse("file a seq x type b\n").is_err());
    }
}
