//! Start-up: find or create the AOF set, check every file, replay it through the
//! ordinary command dispatch, and hand each shard thread its keys and its open log.
//!
//! Replay runs on a socketless set of shards in the main thread (as `cmd::harness`
//! does) with the shard count that wrote the files, each file's commands dispatched
//! from its own shard, and a MULTI/EXEC block's commands simply run in order (loading
//! is single-threaded, so the block is atomic). A tagged block (a cross-shard
//! transaction's part, or a shard's part of a FLUSHALL, FLUSHDB or SWAPDB, which are
//! logged as DELs and MOVEs of the shard's own keys, see `persist`) replays only if every
//! part of its transaction is complete in the files (`count_parts`). Bare FLUSHALL,
//! FLUSHDB and SWAPDB, which files from before that scheme hold (every shard logged its
//! own copy), are applied to the file's shard only (`Loader::local`).
//! A base file in RDB form (a rewrite with `aof-use-rdb-preamble yes`, recognised by
//! its `.rdb` name or `REDIS` magic) is loaded by `rdb::load` straight into its shard's
//! databases; its checksum guards it, so it gets no torn-tail handling.
//! **On the shard threads.** When the files were written by as many shards as run now,
//! the main thread only reads and checks them ([`startup`] returns
//! [`Start::PerShard`]); each shard thread then replays its own files ([`replay_shard`])
//! into a socketless set of its own, so every value is allocated, and its pages first
//! touched, by the thread (and NUMA node) that will serve it, and the shards replay in
//! parallel. Each file holds only its shard's keys; anything a replay leaves on another
//! shard (a stray) is handed to that shard after its own replay.
//! Otherwise the keys are loaded on the main thread and bucketed by the current shard
//! count, fresh base files are written (a key's history would otherwise be spread over
//! files of different shards), and each shard thread copies its keys into its own
//! memory as it takes them ([`Boot::rehome`]).

use super::emit;
use super::files::{self, FileEntry, Kind, Manifest};
use super::resp::{Decoded, decode, encode};
use crate::cmd::{Args, Outcome, Session, dispatch, handle_msg};
use crate::config::Config;
use crate::shard::{OwnedArgs, ReplyTo, ShardState, Shared, shard_of};
use crate::storage::Entry;
use crate::util::clock::Clock;
use crate::util::log;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// What one shard thread starts with.
pub struct Boot {
    pub entries: Vec<(u16, Vec<u8>, Entry)>,
    /// Its incremental file, open for appending.
    pub file: files::LogFile,
    pub base_size: u64,
    /// The entries were built on another thread: the shard copies each value into its
    /// own memory (first-touch placement) as it takes it.
    pub rehome: bool,
}

/// What [`startup`] found.
pub enum Start {
    /// Checked files for each shard thread to replay itself ([`replay_shard`]).
    PerShard(Vec<ShardFiles>),
    /// Loaded on the main thread (a new set, or one written by another shard count),
    /// with the function libraries' code the files left (server-wide).
    Loaded(Vec<Boot>, Vec<Vec<u8>>),
}

/// One shard's checked AOF files, in manifest order, for [`replay_shard`].
pub struct ShardFiles {
    /// (name, bytes, is an RDB base).
    files: Vec<(String, Vec<u8>, bool)>,
    /// Complete parts of every cross-shard transaction, over all shards' files.
    seen: Arc<HashMap<Vec<u8>, (usize, usize)>>,
    file: files::LogFile,
    base_size: u64,
}

/// A shard's replay: its boot, what the replay left on other shards, and the count
/// of commands run.
pub struct Replayed {
    pub boot: Boot,
    pub strays: Vec<Vec<(u16, Vec<u8>, Entry)>>,
    pub commands: u64,
    /// The function libraries' code this shard's files left (its RDB base's, then
    /// what its replayed FUNCTION commands did).
    pub functions: Vec<Vec<u8>>,
}

/// Replays one shard's files on the calling thread (the shard's own), returning its
/// keys; `Err` if an RDB base inside is corrupt.
pub fn replay_shard(cfg: &Config, nshards: usize, id: usize, sf: ShardFiles) -> Result<Replayed, String> {
    let mut loader = Loader::new(cfg, nshards);
    let mut commands = 0;
    for (name, b, rdb) in &sf.files {
        if *rdb {
            loader.load_rdb(id, b).map_err(|e| format!("Bad RDB preamble in the AOF base {name}: {e}"))?;
        } else {
            commands += loader.replay(id, b, &sf.seen, name);
        }
    }
    drop(sf.files);
    let functions = crate::cmd::function::library_codes(&loader.shards[0].shared.script);
    let mut strays = loader.export(nshards);
    let entries = std::mem::take(&mut strays[id]);
    let boot = Boot { entries, file: sf.file, base_size: sf.base_size, rehome: false };
    Ok(Replayed { boot, strays, commands, functions })
}

/// How a file's bytes end.
#[derive(Debug, PartialEq, Eq)]
pub enum Tail {
    /// Every byte belongs to a complete command and every MULTI has its EXEC.
    Clean,
    /// Complete commands up to `at`, then only padding: the no-op fillers (or, from
    /// older versions, NUL bytes) of an O_DIRECT log that was not closed cleanly.
    Padded { at: usize },
    /// The bytes from `at` on are a torn command or an unfinished MULTI block.
    Truncated { at: usize },
    /// The bytes at `at` can never be a command.
    Bad { at: usize, why: &'static str },
}

/// Is this command the O_DIRECT log's padding (`resp::filler`)? Any ECHO that is not
/// a transaction marker: ECHO changes nothing and the log records it for no other use.
pub fn is_filler(args: &[&[u8]]) -> bool {
    args.len() == 2 && args[0].eq_ignore_ascii_case(b"echo") && !args[1].starts_with(TX_MARKER)
}

/// Walks `b` command by command: how it ends and where the last good command ends.
///
/// Padding is never log content: fillers (whole-block ones at the end, and the one
/// closing the last write's block) and trailing NUL bytes (the padding of older
/// versions, or blocks a crash left unwritten). A file that has padding and goes bad
/// in a command that runs into NUL bytes (before anything that looks like the start of
/// the next command) holds a torn O_DIRECT write: sectors of one write that did not all
/// reach the disk before a crash, the stale ones being filler payload or unwritten
/// blocks. That counts as a truncated tail.
pub fn scan(b: &[u8]) -> Tail {
    let content = padding_start(b);
    match scan_commands(&b[..content]) {
        (Tail::Clean, last) if last < b.len() => Tail::Padded { at: last },
        (Tail::Bad { at, .. }, _) if content < b.len() && runs_into_nul(&b[at..content]) => Tail::Truncated { at },
        (t, _) => t,
    }
}

/// Does `b` hold a NUL byte before its first `\r\n*` (the start of a next command)?
fn runs_into_nul(b: &[u8]) -> bool {
    let next = b.windows(3).position(|w| w == b"\r\n*").unwrap_or(b.len());
    b[..next].contains(&0)
}

/// Where the padding at the end of `b` starts: trailing NULs and whole blocks that are
/// one filler each, stripped from the end.
fn padding_start(b: &[u8]) -> usize {
    use crate::io::direct::ALIGN;
    let mut end = b.len();
    loop {
        let e = b[..end].iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
        if e >= ALIGN && e.is_multiple_of(ALIGN) {
            let block = &b[e - ALIGN..e];
            if let Decoded::Cmd { args, len } = decode(block)
                && len == ALIGN
                && is_filler(&args.iter().map(|&(s, t)| &block[s..t]).collect::<Vec<_>>())
            {
                end = e - ALIGN;
                continue;
            }
        }
        return e;
    }
}

/// How `b` ends, and where its last command that is not a filler ends.
fn scan_commands(b: &[u8]) -> (Tail, usize) {
    let mut pos = 0;
    let mut last = 0;
    let mut multi_at = None;
    while pos < b.len() {
        match decode(&b[pos..]) {
            Decoded::Cmd { args, len } => {
                let at = pos;
                let arg = |i: usize| &b[at + args[i].0..at + args[i].1];
                let name = arg(0);
                if name.eq_ignore_ascii_case(b"multi") {
                    multi_at = Some(pos);
                } else if name.eq_ignore_ascii_case(b"exec") {
                    multi_at = None;
                }
                pos += len;
                if !(args.len() == 2 && is_filler(&[name, arg(1)])) {
                    last = pos;
                }
            }
            Decoded::Incomplete => return (Tail::Truncated { at: multi_at.unwrap_or(pos) }, last),
            Decoded::Bad(why) => return (Tail::Bad { at: pos, why }, last),
        }
    }
    match multi_at {
        Some(at) => (Tail::Truncated { at }, last),
        None => (Tail::Clean, last),
    }
}

/// The marker a cross-shard transaction's part carries (see the module docs).
pub const TX_MARKER: &[u8] = b"shardis-tx:";

/// Splits a marker `shardis-tx:<run>:<tx>:<parts>` into (`<run>:<tx>`, parts).
fn parse_marker(m: &[u8]) -> Option<(Vec<u8>, usize)> {
    let rest = m.strip_prefix(TX_MARKER)?;
    let cut = rest.iter().rposition(|&c| c == b':')?;
    let parts = std::str::from_utf8(&rest[cut + 1..]).ok()?.parse().ok()?;
    Some((rest[..cut].to_vec(), parts))
}

/// Commands of a file, each as its arguments.
fn commands(b: &[u8]) -> impl Iterator<Item = Vec<&[u8]>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let Decoded::Cmd { args, len } = decode(&b[pos..]) else { return None };
        let v = args.iter().map(|&(s, e)| &b[pos + s..pos + e]).collect();
        pos += len;
        Some(v)
    })
}

/// Counts the complete tagged blocks of every transaction in `b`. Returns whether `b`
/// holds a FUNCTION command.
fn count_parts(b: &[u8], seen: &mut HashMap<Vec<u8>, (usize, usize)>) -> bool {
    let mut functions = false;
    let mut it = commands(b).peekable();
    while let Some(c) = it.next() {
        functions |= c[0].eq_ignore_ascii_case(b"function");
        if !c[0].eq_ignore_ascii_case(b"multi") {
            continue;
        }
        let Some(m) = it.peek().filter(|m| m.len() == 2 && m[0].eq_ignore_ascii_case(b"echo")) else { continue };
        let Some((id, parts)) = parse_marker(m[1]) else { continue };
        let e = seen.entry(id).or_insert((0, parts));
        e.0 += 1;
    }
    functions
}

/// Finds and checks the AOF set and opens the files to append to; loads it here
/// only if the shard threads cannot replay their own files (module docs).
pub fn startup(cfg: &Config, nshards: usize) -> Result<Start, String> {
    let dir = files::aof_dir(cfg);
    std::fs::create_dir_all(&dir).map_err(|e| format!("Can't create the AOF directory {}: {e}", dir.display()))?;
    let prefix = cfg.appendfilename.as_str();
    let mpath = dir.join(files::manifest_name(prefix));
    let manifest = match std::fs::read_to_string(&mpath) {
        Ok(t) => Some(Manifest::parse(&t)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("Can't read the AOF manifest {}: {e}", mpath.display())),
    };
    let Some(manifest) = manifest else {
        log::notice("Creating AOF base and incremental files");
        return create_set(&dir, prefix, nshards, 1, vec![Vec::new(); nshards], &[], cfg.aof_direct())
            .map(|b| Start::Loaded(b, Vec::new()));
    };
    let mut data: HashMap<String, Vec<u8>> = HashMap::new();
    let allow_truncated = cfg.compat_value("aof-load-truncated").is_none_or(|v| v == "yes");
    for s in 0..manifest.shards() {
        let list = manifest.files_of(s);
        for (i, f) in list.iter().enumerate() {
            let path = dir.join(&f.name);
            let mut b = std::fs::read(&path).map_err(|e| format!("Can't open the AOF file {}: {e}", f.name))?;
            let last = i + 1 == list.len();
            if !(f.kind == Kind::Base && files::is_rdb(&f.name, &b)) {
                check_tail(&path, f, &mut b, last, allow_truncated)?;
            }
            data.insert(f.name.clone(), b);
        }
    }
    let mut seen = HashMap::new();
    // The function libraries are server-wide; their history replays in order only
    // within one shard's files. FUNCTION writes are logged by shard 0 (and a rewrite
    // puts the libraries in shard 0's base), but older builds logged them on the shard
    // that ran them: when other shards' files hold some, everything replays here, on
    // one set of libraries.
    let mut functions_beyond_shard0 = false;
    for s in 0..manifest.shards() {
        for f in manifest.files_of(s) {
            let b = &data[&f.name];
            if !files::is_rdb(&f.name, b) && count_parts(b, &mut seen) && s != 0 {
                functions_beyond_shard0 = true;
            }
        }
    }
    if manifest.shards() == nshards && !functions_beyond_shard0 {
        let seen = Arc::new(seen);
        let mut out = Vec::new();
        for s in 0..nshards {
            let list = manifest.files_of(s);
            let (file, base_size) = open_incr(cfg, &dir, &list)?;
            let files = list
                .iter()
                .map(|f| {
                    let b = data.remove(&f.name).unwrap_or_default();
                    let rdb = f.kind == Kind::Base && files::is_rdb(&f.name, &b);
                    (f.name.clone(), b, rdb)
                })
                .collect();
            out.push(ShardFiles { files, seen: seen.clone(), file, base_size });
        }
        return Ok(Start::PerShard(out));
    }
    let start = std::time::Instant::now();
    let mut loader = Loader::new(cfg, manifest.shards());
    let mut ncmds = 0u64;
    for s in 0..manifest.shards() {
        for f in manifest.files_of(s) {
            let b = &data[&f.name];
            if f.kind == Kind::Base && files::is_rdb(&f.name, b) {
                loader.load_rdb(s, b).map_err(|e| format!("Bad RDB preamble in the AOF base {}: {e}", f.name))?;
            } else {
                ncmds += loader.replay(s, b, &seen, &f.name);
            }
        }
    }
    drop(data);
    let functions = crate::cmd::function::library_codes(&loader.shards[0].shared.script);
    let entries = loader.export(nshards);
    let keys: usize = entries.iter().map(|e| e.len()).sum();
    log::notice(&format!(
        "DB loaded from append only file: {:.3} seconds ({ncmds} commands, {keys} keys)",
        start.elapsed().as_secs_f64()
    ));
    if manifest.shards() == nshards {
        // Loaded here for its FUNCTION history (above): the files stay as they are.
        let mut boots = Vec::new();
        for (s, entries) in entries.into_iter().enumerate() {
            let (file, base_size) = open_incr(cfg, &dir, &manifest.files_of(s))?;
            boots.push(Boot { entries, file, base_size, rehome: true });
        }
        return Ok(Start::Loaded(boots, functions));
    }
    log::notice(&format!("AOF written by {} shards, running {nshards}: writing fresh base files", manifest.shards()));
    let mut boots = create_set(&dir, prefix, nshards, manifest.max_seq() + 1, entries, &functions, cfg.aof_direct())?;
    for f in &manifest.files {
        let _ = std::fs::remove_file(dir.join(&f.name));
    }
    for b in &mut boots {
        b.rehome = true;
    }
    Ok(Start::Loaded(boots, functions))
}

/// A shard's last incremental file, open for appending, and the size of its bases.
fn open_incr(cfg: &Config, dir: &Path, list: &[&FileEntry]) -> Result<(files::LogFile, u64), String> {
    let incr = list.iter().rev().find(|f| f.kind == Kind::Incr).ok_or("AOF manifest lacks an incr file")?;
    let file = files::open_log(&dir.join(&incr.name), cfg.aof_direct()).map_err(|e| format!("{}: {e}", incr.name))?;
    let base_size = list
        .iter()
        .filter(|f| f.kind == Kind::Base)
        .map(|f| std::fs::metadata(dir.join(&f.name)).map(|m| m.len()).unwrap_or(0))
        .sum();
    Ok((file, base_size))
}

/// Truncated tails are cut off (last file of a shard only, and only with
/// `aof-load-truncated yes`); anything else wrong stops start-up.
fn check_tail(path: &Path, f: &FileEntry, b: &mut Vec<u8>, last: bool, allow: bool) -> Result<(), String> {
    match scan(b) {
        Tail::Clean => Ok(()),
        Tail::Padded { at } => {
            log::notice(&format!(
                "AOF file {} ends in {} bytes of O_DIRECT padding (no-op fillers): cutting them off",
                f.name,
                b.len() - at
            ));
            let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| e.to_string())?;
            file.set_len(at as u64).and_then(|_| file.sync_all()).map_err(|e| format!("{}: {e}", f.name))?;
            b.truncate(at);
            Ok(())
        }
        Tail::Bad { at, why } => Err(format!(
            "Bad file format reading the append only file {} at offset {at} ({why}): \
             make a backup of your AOF file, then use shardis-check-aof --fix <filename.manifest>",
            f.name
        )),
        Tail::Truncated { at } if last && allow => {
            log::warning(&format!(
                "!!! Warning: short read while loading the AOF file {}!!! Truncating the AOF at offset {at} \
                 (dropping {} bytes of an incomplete command or transaction)",
                f.name,
                b.len() - at
            ));
            let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| e.to_string())?;
            file.set_len(at as u64).and_then(|_| file.sync_all()).map_err(|e| format!("{}: {e}", f.name))?;
            b.truncate(at);
            Ok(())
        }
        Tail::Truncated { at } => Err(format!(
            "Unexpected end of file reading the append only file {} at offset {at}: \
             use shardis-check-aof --fix, or set aof-load-truncated yes",
            f.name
        )),
    }
}

/// Writes one base file per shard from `entries`, fresh empty incremental files, and a
/// manifest naming them (`seq`), and opens the incremental files. Shard 0's base
/// starts with a `FUNCTION LOAD` of each library in `functions`, as a rewrite's does.
pub fn create_set(
    dir: &Path,
    prefix: &str,
    nshards: usize,
    seq: u64,
    entries: Vec<Vec<(u16, Vec<u8>, Entry)>>,
    functions: &[Vec<u8>],
    direct: bool,
) -> Result<Vec<Boot>, String> {
    let m = Manifest::fresh(prefix, nshards, seq);
    let mut boots = Vec::new();
    for (s, entries) in entries.into_iter().enumerate() {
        let mut base = Vec::new();
        if s == 0 {
            for code in functions {
                encode(&mut base, &[&b"FUNCTION"[..], b"LOAD", code]);
            }
        }
        base.extend(base_bytes(entries.iter().map(|(d, k, e)| (*d, k.as_slice(), e))));
        let bname = files::file_name(prefix, s, seq, Kind::Base);
        files::write_file_synced(&dir.join(&bname), &base).map_err(|e| format!("{bname}: {e}"))?;
        let iname = files::file_name(prefix, s, seq, Kind::Incr);
        files::write_file_synced(&dir.join(&iname), b"").map_err(|e| format!("{iname}: {e}"))?;
        let file = files::open_log(&dir.join(&iname), direct).map_err(|e| format!("{iname}: {e}"))?;
        boots.push(Boot { entries, file, base_size: base.len() as u64, rehome: false });
    }
    files::write_manifest(dir, prefix, &m).map_err(|e| format!("Can't write the AOF manifest: {e}"))?;
    Ok(boots)
}

/// A base file's content: every key's state, grouped by db.
pub fn base_bytes<'a>(entries: impl Iterator<Item = (u16, &'a [u8], &'a Entry)>) -> Vec<u8> {
    let mut by_db: Vec<(u16, &[u8], &Entry)> = entries.collect();
    by_db.sort_by_key(|(d, _, _)| *d);
    let mut buf = Vec::new();
    let mut cur = None;
    for (d, k, e) in by_db {
        if cur != Some(d) {
            encode(&mut buf, &[&b"SELECT"[..], d.to_string().as_bytes()]);
            cur = Some(d);
        }
        emit::key_state(&mut buf, k, &e.value, e.expire_at);
    }
    buf
}

/// One shard's keys as loaded: (db, key, entry).
pub type ShardKeys = Vec<(u16, Vec<u8>, Entry)>;

/// Loads AOF files held in memory, file `i` written by shard `i`, as start-up does once
/// it has read them (a padded or torn tail cut off, an RDB base loaded as such), and
/// returns every key bucketed by shard. No directory, manifest or log file is touched:
/// this is the fuzz target's way in (`fuzz/fuzz_targets/aof_load.rs`).
pub fn load_in_memory(cfg: &Config, files: &[&[u8]]) -> Result<Vec<ShardKeys>, String> {
    let mut data: Vec<&[u8]> = Vec::new();
    for &b in files {
        let keep = if files::is_rdb("", b) {
            b.len()
        } else {
            match scan(b) {
                Tail::Clean => b.len(),
                Tail::Padded { at } | Tail::Truncated { at } => at,
                Tail::Bad { at, why } => return Err(format!("bad AOF at offset {at}: {why}")),
            }
        };
        data.push(&b[..keep]);
    }
    let mut seen = HashMap::new();
    for b in data.iter().filter(|b| !files::is_rdb("", b)) {
        count_parts(b, &mut seen);
    }
    let mut loader = Loader::new(cfg, data.len());
    for (s, b) in data.iter().enumerate() {
        if files::is_rdb("", b) {
            loader.load_rdb(s, b)?;
        } else {
            loader.replay(s, b, &seen, "in-memory AOF");
        }
    }
    Ok(loader.export(data.len()))
}

/// Socketless shards replaying commands through `cmd::dispatch`.
struct Loader {
    shards: Vec<ShardState>,
    sess: Session,
    home: usize,
    seq: u64,
    errors: u64,
    /// `propagation-error-behavior panic`: a replayed command that fails stops here.
    panic_on_error: bool,
}

impl Loader {
    fn new(cfg: &Config, nshards: usize) -> Loader {
        let panic_on_error = cfg.compat_value("propagation-error-behavior") == Some("panic");
        let mut cfg = cfg.clone();
        cfg.shards = nshards;
        cfg.requirepass = None;
        // As in Redis, loading neither evicts nor refuses commands for OOM: the
        // shards evict once they serve clients.
        cfg.maxmemory = 0;
        let shared = Arc::new(Shared::new(cfg, None));
        let clock = Clock::system();
        let shards = (0..nshards).map(|i| ShardState::new(i, shared.clone(), clock.clone())).collect();
        Loader { shards, sess: loader_session(), home: 0, seq: 0, errors: 0, panic_on_error }
    }

    /// Loads an RDB base (the `aof-use-rdb-preamble` format) into shard `home`.
    fn load_rdb(&mut self, home: usize, b: &[u8]) -> Result<(), String> {
        let now_ms = Shared::now_unix_ms();
        let st = &mut self.shards[home];
        let opts = crate::rdb::LoadOptions {
            now_ms,
            skip_expired: true,
            databases: st.dbs.len() as u32,
            keep_expired: false,
            limits: st.config.encoding,
        };
        let mut sink = crate::rdb::DbSink { shards: std::slice::from_mut(&mut st.dbs), route: |_: &[u8]| 0, now_ms };
        let stats = crate::rdb::load(b, &mut sink, &opts).map_err(|e| e.to_string())?;
        crate::cmd::function::install_loaded(&st.shared.script, &stats.functions, false)
    }

    /// Replays one file; returns the number of commands run.
    fn replay(&mut self, home: usize, b: &[u8], seen: &HashMap<Vec<u8>, (usize, usize)>, name: &str) -> u64 {
        self.sess = loader_session();
        self.home = home;
        let mut n = 0;
        let mut it = commands(b).peekable();
        while let Some(c) = it.next() {
            if c[0].eq_ignore_ascii_case(b"multi")
                && let Some(m) = it.peek().filter(|m| m.len() == 2 && m[0].eq_ignore_ascii_case(b"echo"))
                && let Some((id, parts)) = parse_marker(m[1])
                && seen.get(&id).is_none_or(|&(got, _)| got < parts)
            {
                // A part of a cross-shard transaction whose other parts never made it
                // to disk: the whole transaction is dropped.
                log::warning(&format!(
                    "{name}: skipping incomplete cross-shard transaction {}",
                    String::from_utf8_lossy(&id)
                ));
                for c in it.by_ref() {
                    if c[0].eq_ignore_ascii_case(b"exec") {
                        break;
                    }
                }
                continue;
            }
            if n % 1024 == 0 {
                for s in &mut self.shards {
                    s.begin_turn();
                }
            }
            n += 1;
            if self.local(&c) {
                continue;
            }
            self.run(&c, name);
        }
        n
    }

    /// Commands applied to the file's own shard rather than dispatched: transaction
    /// framing and the whole-shard writes each shard logged for itself (files written
    /// before these were logged as the shard's DELs and MOVEs).
    fn local(&mut self, c: &[&[u8]]) -> bool {
        let st = &mut self.shards[self.home];
        let name = c[0].to_ascii_lowercase();
        let ndb = st.dbs.len();
        let db_arg = |i: usize| -> Option<usize> {
            std::str::from_utf8(c.get(i)?).ok()?.parse().ok().filter(|&d: &usize| d < ndb)
        };
        match name.as_slice() {
            b"multi" | b"exec" => true,
            // Transaction markers and the O_DIRECT log's fillers: ECHO changes nothing.
            b"echo" => true,
            b"flushall" => {
                st.dbs.iter_mut().for_each(|d| d.clear());
                true
            }
            b"flushdb" => {
                st.dbs[self.sess.db as usize].clear();
                true
            }
            b"swapdb" => {
                if let (Some(x), Some(y)) = (db_arg(1), db_arg(2)) {
                    st.dbs.swap(x, y);
                }
                true
            }
            _ => false,
        }
    }

    fn run(&mut self, args: &[&[u8]], name: &str) {
        let owned = OwnedArgs::from_slices(args.iter().copied());
        self.seq += 1;
        let home = self.home;
        let to = ReplyTo { shard: home as u16, slot: 0, generation: 0, seq: self.seq };
        let mut out = Vec::new();
        // Each command finishes before the next: nothing is owed (`cmd::order`).
        self.sess.lane = crate::cmd::order::Lane::Idle;
        let outcome = dispatch(&mut self.shards[home], &mut self.sess, &Args::Owned(&owned), &mut out, to);
        self.pump();
        if !matches!(outcome, Outcome::Done | Outcome::Close) {
            out = std::mem::take(&mut self.shards[home].local_replies)
                .into_iter()
                .flat_map(|(_, b)| b.into_owned())
                .collect();
        }
        if out.first() == Some(&b'-') && self.panic_on_error {
            // `propagation-error-behavior panic`, as Redis's AOF client.
            panic!(
                "This master panicked sending an error to its AOF after processing the command '{}'",
                String::from_utf8_lossy(args[0]).to_lowercase()
            );
        }
        if out.first() == Some(&b'-') {
            // As Redis's AOF client: counted (INFO unexpected_error_replies) and logged.
            let end = out.iter().position(|&b| b == b'\r').unwrap_or(out.len());
            let cmd = String::from_utf8_lossy(args[0]).to_lowercase();
            crate::shard::stats::unexpected_error(
                "server",
                "AOF-loading-client",
                &String::from_utf8_lossy(&out[..end]),
                &cmd,
            );
            self.errors += 1;
            if self.errors <= 10 {
                log::verbose(&format!("{name}: replaying {cmd} failed"));
            }
        }
    }

    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for s in &mut self.shards {
                s.flush_outbox();
                s.wakes.clear();
            }
            for i in 0..self.shards.len() {
                let shared = self.shards[i].shared.clone();
                while let Some(batch) = shared.inboxes[i].pop() {
                    moved = true;
                    for m in batch {
                        handle_msg(&mut self.shards[i], m);
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Every key, moved out and bucketed by its shard among `nshards`.
    fn export(&mut self, nshards: usize) -> Vec<Vec<(u16, Vec<u8>, Entry)>> {
        let mut out: Vec<Vec<(u16, Vec<u8>, Entry)>> = (0..nshards).map(|_| Vec::new()).collect();
        for s in &mut self.shards {
            for (d, db) in s.dbs.iter_mut().enumerate() {
                for (k, e) in db.drain() {
                    out[shard_of(&k, nshards)].push((d as u16, k.to_vec(), e));
                }
            }
        }
        out
    }
}

/// The replaying session: authenticated, and no ACL rule applies (as in Redis).
fn loader_session() -> Session {
    let mut s = Session::new(0, false);
    s.acl = crate::acl::SessionAcl::internal();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";

    #[test]
    fn scan_tells_padding_torn_writes_and_corruption_apart() {
        let two = [SET, SET].concat();
        assert_eq!(scan(&two), Tail::Clean);
        assert_eq!(scan(&[&two[..], &[0; 100][..]].concat()), Tail::Padded { at: two.len() });
        // A torn command at the end, with or without padding after it.
        assert_eq!(scan(&two[..two.len() - 3]), Tail::Truncated { at: SET.len() });
        assert_eq!(scan(&[&two[..two.len() - 3], &[0; 10][..]].concat()), Tail::Truncated { at: SET.len() });
        // A torn O_DIRECT write: a sector of zeros inside the last command, new bytes
        // after it, then padding.
        let mut torn = two.clone();
        torn[SET.len() + 5..SET.len() + 9].fill(0);
        torn.extend_from_slice(&[0; 64]);
        assert_eq!(scan(&torn), Tail::Truncated { at: SET.len() });
        // The same damage in a file without padding is corruption, not a torn write.
        let mut bad = two.clone();
        bad[SET.len() + 5..SET.len() + 9].fill(0);
        assert!(matches!(scan(&bad), Tail::Bad { at, .. } if at == SET.len()));
        // Garbage (no NUL) before padding stays corruption.
        let junk = [SET, b"+junk\r\n", SET, &[0; 8][..]].concat();
        assert!(matches!(scan(&junk), Tail::Bad { at, .. } if at == SET.len()));
        assert_eq!(scan(&[0; 4096]), Tail::Padded { at: 0 });
    }

    /// A live O_DIRECT file: commands, a filler to the block's end, then whole-block
    /// fillers (the preallocated chunk). A crash in the middle of the next write
    /// leaves some of its sectors and the stale filler bytes of others.
    #[test]
    fn scan_skips_fillers_and_tells_torn_writes_over_them() {
        use crate::io::direct::ALIGN;
        let pad = |n: usize| {
            let mut v = vec![0; n];
            super::super::resp::filler(&mut v);
            v
        };
        let two = [SET, SET].concat();
        let live = [&two[..], &pad(ALIGN - two.len()), &pad(ALIGN), &pad(ALIGN)].concat();
        assert_eq!(scan(&live), Tail::Padded { at: two.len() });
        assert_eq!(scan(&[&two[..], &pad(ALIGN - two.len())].concat()), Tail::Padded { at: two.len() });
        // A transaction marker is content, not padding.
        let mut tx = Vec::new();
        encode(&mut tx, &[&b"MULTI"[..]]);
        encode(&mut tx, &[&b"ECHO"[..], b"shardis-tx:r:1:1"]);
        encode(&mut tx, &[&b"EXEC"[..]]);
        assert_eq!(scan(&[&two[..], &tx].concat()), Tail::Clean);
        // The next write: a long command over the old filler; its fourth sector
        // (the payload's end and the CR LF) never made it: stale filler payload, NULs.
        // (A stale sector that falls wholly inside a payload cannot be told from
        // data, as with any unchecksummed AOF.)
        let mut torn = live.clone();
        let long = [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1500\r\n".as_slice(), &[b'z'; 1500], b"\r\n"].concat();
        torn[two.len()..two.len() + long.len()].copy_from_slice(&long);
        torn[1536..2048].fill(0);
        assert_eq!(scan(&torn), Tail::Truncated { at: two.len() });
        // Garbage followed by more commands stays corruption, fillers or not.
        let body = [SET, b"+junk\r\n", SET].concat();
        let junk = [&body[..], &pad(ALIGN - body.len()), &pad(ALIGN)].concat();
        assert!(matches!(scan(&junk), Tail::Bad { at, .. } if at == SET.len()));
    }
}
