//! The link thread of a replica: one per REPLICAOF (and per `replicaof` directive),
//! started by shard 0 (`server::worker::replica`) when `ReplicaShared::epoch` moves,
//! ending when it moves again.
//!
//! It does everything that blocks: connect, the handshake exactly as redis-server 7.0
//! sends it (`PING`, `AUTH [masteruser] masterauth`, `REPLCONF listening-port`,
//! `REPLCONF ip-address` when `replica-announce-ip` is set, `REPLCONF capa eof capa
//! psync2`, `PSYNC <replid> <offset+1>`), the RDB transfer (`$<len>` or `$EOF:<mark>`,
//! skipping the newlines a master sends while it prepares), and decoding the RDB while
//! every shard thread builds its share of the new databases (`repl::load`). Only a complete, checksummed dataset is handed to shard 0
//! (`Task::Install`); a truncated transfer, a wrong mark, a corrupt file or a master
//! that closes mid-transfer is logged and retried, and the old data stays.
//!
//! Once the master connection is adopted by shard 0 this thread just waits: for
//! `link_lost` (retry after a second, partial resync first) or a new epoch (exit).
//!
//! Non-goals: applying the stream (shard 0 does, through `cmd::dispatch`), SYNC for
//! masters older than PSYNC (Redis < 2.8).

use super::payload::{MARK_LEN, Payload};
use super::replica::{Handoff, LinkState, Task};
use crate::config::Config;
use crate::persist::dbview::Loaded;
use crate::shard::Shared;
use crate::util::log;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Starts the link thread for `host:port` under `epoch`.
pub fn spawn(shared: Arc<Shared>, host: String, port: u16, epoch: u64) {
    let r = std::thread::Builder::new().name("repl-link".into()).spawn(move || run(&shared, &host, port, epoch));
    if let Err(e) = r {
        log::warning(&format!("Can't start the replication link thread: {e}"));
    }
}

fn current(shared: &Shared, epoch: u64) -> bool {
    shared.replica.epoch.load(Ordering::Acquire) == epoch && !shared.shutdown.load(Ordering::Relaxed)
}

/// Sleeps up to `d`, returning early (false) once the epoch is gone.
fn nap(shared: &Shared, epoch: u64, d: Duration) -> bool {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if !current(shared, epoch) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    current(shared, epoch)
}

fn run(shared: &Arc<Shared>, host: &str, port: u16, epoch: u64) {
    let r = &shared.replica;
    loop {
        if !current(shared, epoch) {
            return;
        }
        r.link_lost.store(false, Ordering::Release);
        match attempt(shared, host, port, epoch) {
            Ok(()) => {
                // The connection is shard 0's now: wait until it breaks or we are gone.
                while !r.link_lost.load(Ordering::Acquire) {
                    if !nap(shared, epoch, Duration::from_millis(100)) {
                        return;
                    }
                }
            }
            Err(e) => {
                if !current(shared, epoch) {
                    return;
                }
                log::warning(&e);
                r.set_state(LinkState::Connect);
                if r.down_since_ms.load(Ordering::Relaxed) == 0 {
                    r.down_since_ms.store(Shared::now_unix_ms(), Ordering::Relaxed);
                }
            }
        }
        // Redis retries from its once-a-second replication cron.
        if !nap(shared, epoch, Duration::from_secs(1)) {
            return;
        }
    }
}

/// A master's one-line reply.
fn read_line(rd: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut line = Vec::new();
    let n = rd.by_ref().take(64 << 10).read_until(b'\n', &mut line).map_err(|e| io_error(&e))?;
    if n == 0 {
        return Err("Master closed the connection".into());
    }
    if line.last() != Some(&b'\n') {
        return Err("Master sent a line that is too long or truncated".into());
    }
    while line.last().is_some_and(|&c| c == b'\n' || c == b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "Timeout connecting to the MASTER...".into(),
        _ => format!("I/O error with the MASTER: {e}"),
    }
}

fn send(s: &mut TcpStream, args: &[&str]) -> Result<(), String> {
    let mut b = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        b.extend_from_slice(a.as_bytes());
        b.extend_from_slice(b"\r\n");
    }
    s.write_all(&b).map_err(|e| io_error(&e))
}

/// Sends a command and reads its one-line reply.
fn ask(s: &mut TcpStream, rd: &mut BufReader<TcpStream>, args: &[&str]) -> Result<String, String> {
    send(s, args)?;
    read_line(rd)
}

fn compat(cfg: &Config, name: &str) -> String {
    cfg.compat_value(name).unwrap_or("").to_string()
}

fn attempt(shared: &Arc<Shared>, host: &str, port: u16, epoch: u64) -> Result<(), String> {
    let r = &shared.replica;
    let cfg = shared.config();
    let timeout = Duration::from_secs(compat(&cfg, "repl-timeout").parse::<u64>().unwrap_or(60).max(1));
    r.set_state(LinkState::Connecting);
    log::notice(&format!("Connecting to MASTER {host}:{port}"));
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("Unable to connect to MASTER: {e}"))?
        .next()
        .ok_or_else(|| "Unable to connect to MASTER: no address".to_string())?;
    let source = compat(&cfg, "bind-source-addr");
    let mut s = crate::io::sock::connect_from(&addr, &source, timeout)
        .map_err(|e| format!("Unable to connect to MASTER: {e}"))?;
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(timeout)).map_err(|e| io_error(&e))?;
    s.set_write_timeout(Some(timeout)).map_err(|e| io_error(&e))?;
    log::notice("MASTER <-> REPLICA sync started");
    let mut rd = BufReader::with_capacity(64 << 10, s.try_clone().map_err(|e| io_error(&e))?);
    r.last_io_ms.store(Shared::now_unix_ms(), Ordering::Relaxed);

    log::notice("Non blocking connect for SYNC fired the event.");
    let pong = ask(&mut s, &mut rd, &["PING"])?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    log::notice("Master replied to PING, replication can continue...");

    let pass = compat(&cfg, "masterauth");
    if !pass.is_empty() {
        let user = compat(&cfg, "masteruser");
        let reply = if user.is_empty() {
            ask(&mut s, &mut rd, &["AUTH", &pass])?
        } else {
            ask(&mut s, &mut rd, &["AUTH", &user, &pass])?
        };
        if reply.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {reply}"));
        }
    }
    let announce_port = compat(&cfg, "replica-announce-port");
    let my_port = match announce_port.parse::<u16>() {
        Ok(p) if p != 0 => p,
        _ => shared.port.load(Ordering::Relaxed) as u16,
    };
    let reply = ask(&mut s, &mut rd, &["REPLCONF", "listening-port", &my_port.to_string()])?;
    if reply.starts_with('-') {
        log::notice(&format!("(Non critical) Master does not understand REPLCONF listening-port: {reply}"));
    }
    let ip = compat(&cfg, "replica-announce-ip");
    if !ip.is_empty() {
        let reply = ask(&mut s, &mut rd, &["REPLCONF", "ip-address", &ip])?;
        if reply.starts_with('-') {
            log::notice(&format!("(Non critical) Master does not understand REPLCONF ip-address: {reply}"));
        }
    }
    let reply = ask(&mut s, &mut rd, &["REPLCONF", "capa", "eof", "capa", "psync2"])?;
    if reply.starts_with('-') {
        log::notice(&format!("(Non critical) Master does not understand REPLCONF capa: {reply}"));
    }

    let (req_id, req_off) = if r.has_history.load(Ordering::Acquire) {
        let id = r.master_replid();
        let off = r.processed.load(Ordering::Acquire) + 1;
        log::notice(&format!("Trying a partial resynchronization (request {id}:{off})."));
        (id, off.to_string())
    } else {
        log::notice("Partial resynchronization not possible (no cached master)");
        ("?".to_string(), "-1".to_string())
    };
    // A FAILOVER hands over to this master: the PSYNC tells it to promote itself.
    let failing_over = super::failover::phase(shared) == super::failover::Phase::InProgress;
    let sent = if failing_over {
        send(&mut s, &["PSYNC", &req_id, &req_off, "FAILOVER"])
    } else {
        send(&mut s, &["PSYNC", &req_id, &req_off])
    };
    if let Err(e) = sent {
        if failing_over {
            super::failover::abort(shared, "Write error to failover target");
        }
        return Err(e);
    }
    let reply = loop {
        let l = read_line(&mut rd)?;
        // Newlines are keepalives a master sends while it works on the reply.
        if !l.is_empty() {
            break l;
        }
    };
    if !current(shared, epoch) {
        return Ok(());
    }
    if failing_over {
        // A full resync is not what a failover expects, but nothing is wrong with it.
        if reply.starts_with("+CONTINUE") || reply.starts_with("+FULLRESYNC") {
            super::failover::clear(shared);
        } else {
            super::failover::abort(shared, "Failover target rejected psync request");
            return Err(format!("Unexpected reply to PSYNC FAILOVER from the failover target: {reply}"));
        }
    }
    let addr_text = format!("{host}:{port}");
    if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        log::notice("Successful partial resynchronization with master.");
        if !new_id.is_empty() && new_id != req_id {
            if new_id.len() != 40 {
                return Err(format!("Master sent a malformed replication id in +CONTINUE: '{new_id}'"));
            }
            shared.repl.shift_ids(new_id.to_string());
            r.set_master_replid(new_id);
            log::notice(&format!("Master replication ID changed to {new_id}"));
            // Our replicas must learn the new id too: they reconnect and continue
            // partially with our replid2 (Redis disconnects them here as well).
            crate::repl::master::kill_replicas(shared);
        }
        log::notice("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        let leftover = rd.buffer().to_vec();
        drop(rd);
        let _ = s.set_read_timeout(None);
        r.sync_total.store(0, Ordering::Relaxed);
        r.tasks.push(Task::Adopt(Handoff { fd: s.into_raw_fd(), leftover, epoch, addr: addr_text, full: false }));
        return Ok(());
    }
    let Some(rest) = reply.strip_prefix("+FULLRESYNC ") else {
        if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
            return Err(format!("Master is currently unable to PSYNC but should be in the future: {reply}"));
        }
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    };
    let mut parts = rest.split(' ');
    let (Some(replid), Some(off)) = (parts.next(), parts.next().and_then(|o| o.parse::<u64>().ok())) else {
        return Err(format!("Master replied with wrong +FULLRESYNC syntax: {reply}"));
    };
    if replid.len() != 40 {
        return Err(format!("Master replied with wrong +FULLRESYNC syntax: {reply}"));
    }
    log::notice(&format!("Full resync from master: {replid}:{off}"));
    if req_id != "?" {
        // As Redis drops the cached master it offered a partial resync from.
        log::notice("Discarding previously cached master state.");
    }
    r.set_state(LinkState::Sync);
    let (dbs, stream_db, mode) = receive_and_load(shared, &cfg, &mut rd, epoch)?;
    if !current(shared, epoch) {
        return Ok(());
    }
    let leftover = rd.buffer().to_vec();
    drop(rd);
    let _ = s.set_read_timeout(None);
    r.tasks.push(Task::Install {
        dbs,
        handoff: Handoff { fd: s.into_raw_fd(), leftover, epoch, addr: addr_text, full: true },
        replid: replid.to_string(),
        offset: off,
        stream_db,
        swapdb: mode == LoadMode::Swap,
    });
    Ok(())
}

/// Removes the temp file unless the transfer succeeded.
struct TempGuard(Option<std::path::PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// How a full sync's payload is loaded (`repl-diskless-load`), decided as it starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// Received into a temp file in `dir`, then loaded from it (`disabled`, and
    /// `on-empty-db` when the dataset has keys).
    Disk,
    /// `swapdb`: decoded as it arrives, beside the served dataset, swapped in at the end.
    Swap,
    /// `on-empty-db` with no key anywhere: decoded as it arrives.
    Empty,
}

/// Redis 7.0's choice (`useDisklessLoad`): `on-empty-db` loads from the socket only
/// when no database of any shard holds a key, else through a file as `disabled` does.
/// (Every mode keeps the served data until the new dataset is complete.)
fn load_mode(shared: &Shared, cfg: &Config) -> LoadMode {
    match cfg.compat_value("repl-diskless-load") {
        Some("swapdb") => LoadMode::Swap,
        Some("on-empty-db") if super::load::dataset_is_empty(shared) => LoadMode::Empty,
        _ => LoadMode::Disk,
    }
}

/// Reads the RDB payload (either format) and parses it into per-shard databases.
fn receive_and_load(
    shared: &Arc<Shared>,
    cfg: &Config,
    rd: &mut BufReader<TcpStream>,
    epoch: u64,
) -> Result<(Vec<Loaded>, u16, LoadMode), String> {
    let r = &shared.replica;
    let header = loop {
        let l = read_line(rd).map_err(|e| format!("{e} while reading the bulk count from the MASTER"))?;
        if !l.is_empty() {
            break l;
        }
        r.last_io_ms.store(Shared::now_unix_ms(), Ordering::Relaxed);
    };
    if header.starts_with('-') {
        return Err(format!("MASTER aborted replication with an error: {}", header.trim_start_matches('-')));
    }
    let Some(spec) = header.strip_prefix('$') else {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
        ));
    };
    let mark = match spec.strip_prefix("EOF:") {
        Some(m) if m.len() == MARK_LEN => Some(m.as_bytes().to_vec()),
        Some(_) => return Err(format!("Bad EOF mark from MASTER: '{header}'")),
        None => None,
    };
    let len = match &mark {
        Some(_) => None,
        None => Some(spec.parse::<u64>().map_err(|_| format!("Bad bulk length from MASTER: '{header}'"))?),
    };
    let mode = load_mode(shared, cfg);
    let place = if mode == LoadMode::Disk { "to disk" } else { "to parser" };
    match len {
        Some(n) => log::notice(&format!("MASTER <-> REPLICA sync: receiving {n} bytes from master {place}")),
        None => log::notice(&format!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF {place}")),
    }
    r.sync_total.store(len.unwrap_or(0), Ordering::Relaxed);
    r.sync_read.store(0, Ordering::Relaxed);
    let mut progress = |read: u64| {
        r.sync_read.store(read, Ordering::Relaxed);
        r.last_io_ms.store(Shared::now_unix_ms(), Ordering::Relaxed);
        current(shared, epoch)
    };
    let mut payload = match (mark, len) {
        (Some(mark), _) => Payload::with_mark(rd, mark, &mut progress),
        (None, n) => Payload::with_len(rd, n.unwrap_or(0), &mut progress),
    };
    let now_ms = Shared::now_unix_ms();
    // A replica keeps keys whose TTL passed: the master's DELs for them follow.
    let opts = crate::rdb::LoadOptions {
        now_ms,
        skip_expired: false,
        databases: cfg.databases as u32,
        keep_expired: false,
        limits: cfg.encoding,
    };
    let alive = || current(shared, epoch);
    let mut guard = TempGuard(None);
    let (shards, stats) = if mode == LoadMode::Disk {
        let path = receive_to_disk(&mut payload, cfg, &mut guard)?;
        log::notice("MASTER <-> REPLICA sync: Flushing old data");
        log::notice("MASTER <-> REPLICA sync: Loading DB in memory");
        let f = std::fs::File::open(&path).map_err(|e| format!("Failed trying to open the MASTER's DB: {e}"))?;
        // Decoded here, inserted by every shard thread at once (`repl::load`).
        super::load::load_on_shards(shared, BufReader::with_capacity(1 << 20, f), &opts, &alive).map_err(|e| {
            format!("Failed trying to load the MASTER synchronization DB from disk, check server logs. ({e}; the old data is kept)")
        })?
    } else {
        if mode == LoadMode::Empty {
            log::notice("MASTER <-> REPLICA sync: Flushing old data");
        }
        log::notice("MASTER <-> REPLICA sync: Loading DB in memory");
        // Decoded as it arrives; the databases are used only if the payload then ends
        // as announced (its length, or the mark), else they are dropped here.
        let loaded = super::load::load_on_shards(shared, &mut payload, &opts, &alive).and_then(|done| {
            payload.finish()?;
            Ok(done)
        });
        loaded.map_err(|e| {
            format!("Failed trying to load the MASTER synchronization DB from socket, check server logs. ({e}; the old data is kept)")
        })?
    };
    r.sync_read.store(payload.received(), Ordering::Relaxed);
    // The master's libraries replace ours, as its keys do.
    crate::cmd::function::install_loaded(&shared.script, &stats.functions, true)?;
    if let Some(path) = guard.0.as_ref() {
        // Like Redis, the master's snapshot becomes our RDB file.
        let dest = std::path::Path::new(&cfg.dir).join(&cfg.dbfilename);
        if std::fs::rename(path, &dest).is_ok() {
            guard.0 = None;
            // `rdb-del-sync-files yes` with persistence off: the file was only the
            // transfer's, so it goes once loaded (Redis's words).
            if compat(cfg, "rdb-del-sync-files") == "yes" && cfg.save.is_empty() && !cfg.appendonly {
                log::notice("Removing the RDB file obtained from the master. This replica has persistence disabled");
                let _ = std::fs::remove_file(&dest);
            }
        }
    }
    log::notice(&format!("Done loading RDB, keys loaded: {}, keys expired: 0.", stats.keys));
    // The stream that follows goes on in the db the master's stream had selected at
    // the snapshot (a chained master forwards its own master's stream verbatim).
    let stream_db = stats
        .aux
        .iter()
        .find(|(k, _)| k == b"repl-stream-db")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<u16>().ok())
        .unwrap_or(0);
    Ok((shards, stream_db, mode))
}

/// Writes the whole payload to a temp file in `dir` (removed by `guard` unless the
/// load succeeds) and returns its path.
fn receive_to_disk(payload: &mut Payload, cfg: &Config, guard: &mut TempGuard) -> Result<std::path::PathBuf, String> {
    let now = Shared::now_unix_ms() / 1000;
    let path = std::path::Path::new(&cfg.dir).join(format!("temp-{now}.{}.rdb", std::process::id()));
    let mut file = std::fs::File::create(&path)
        .map_err(|e| format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}"))?;
    guard.0 = Some(path.clone());
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = payload
            .read(&mut buf)
            .map_err(|e| format!("I/O error trying to sync with MASTER: {e} (the old data is kept)"))?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).map_err(|e| format!("Write error writing to the DB file {}: {e}", path.display()))?;
    }
    file.sync_all().map_err(|e| format!("Failed trying to sync the temp DB to disk: {e}"))?;
    Ok(path)
}
