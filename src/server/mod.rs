//! Startup, threads and shutdown.
//!
//! Job: turn a `Config` into running shard threads, in this order: install the panic
//! hook (`panic`: a panic anywhere ends the process), log the first lines
//! (`startup`), lock `dir` (`persist::dirlock`), fit the open-files limit to
//! `maxclients` (`rlimit`), check that io_uring works, open the listeners (one per
//! shard per address, SO_REUSEPORT; one Unix socket they share; `net::listener`), write the pid file (`pidfile`), load the data,
//! spawn and pin one worker per shard, report readiness (the log, and the supervisor:
//! `supervise`), and join them on shutdown, removing the pid file.
//!
//! Any failure before readiness logs why and returns exit code 1: never a
//! half-started server.
//!
//! Depends on: everything below it (`net`, `cmd`, `shard`, `io`, `config`).

pub mod busy_door;
pub mod panic;
pub mod pidfile;
pub mod rlimit;
pub mod startup;
pub mod supervise;
pub mod verbose;
pub mod worker;

use crate::config::Config;
use crate::io::sock;
use crate::shard::Shared;
use crate::util::log;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Runs the server until SHUTDOWN or a termination signal. Returns the process exit
/// code. `bare_command_line`: started without any argument (for the "no config file"
/// warning).
pub fn run(mut config: Config, config_file: Option<PathBuf>, bare_command_line: bool) -> i32 {
    panic::install();
    log::set_level(&config.loglevel);
    if let Err(e) = log::set_file(&config.logfile) {
        eprintln!("Can't open the log file: {e}");
        return 1;
    }
    startup::starting(config_file.as_deref(), bare_command_line);
    log::set_role_master();
    sock::install_signal_handlers();
    // `disable-thp yes` (Redis's default) guards against one write after a fork copying
    // a whole 2 MB huge page. Our default is `no`: on the kernels measured (see the RDB
    // section of perf/RESULTS.md) copy-on-write copied 4 KB pages anyway, and keeping
    // THP made the fork ~10x faster.
    let mut thp_disabled = false;
    if crate::persist::rdbfile::flag(&config, "disable-thp", false) {
        match crate::io::proc::disable_thp() {
            Ok(()) => thp_disabled = true,
            Err(e) => log::warning(&format!("Can't disable transparent huge pages: {e}")),
        }
    }
    if let Err(e) = std::fs::create_dir_all(&config.dir) {
        log::warning(&format!("Can't create working directory {}: {e}", config.dir));
        return 1;
    }
    // One server per data directory, decided before anything is read from it.
    match crate::persist::dirlock::acquire(&config.dir) {
        Ok(lock) => crate::persist::dirlock::hold(lock),
        Err(e) => {
            log::warning(&e);
            return 1;
        }
    }
    let nshards = config.shards.max(1);
    // NUMA placement before anything big is allocated: every thread started from here
    // inherits the memory policy and the CPU set (`io::numa`, `docs/pools.md`).
    if let Err(e) = place_on_numa_node(&config) {
        log::warning(&e);
        return 1;
    }
    match rlimit::fit(config.maxclients, config.reserved_fds()) {
        rlimit::Outcome::Fits(_) => {}
        rlimit::Outcome::Lowered(n) => config.maxclients = n,
        rlimit::Outcome::TooLow => return 1,
    }
    // Fail here, with the reason, rather than in every shard thread after loading.
    if let Err(e) = crate::io::Ring::new(8) {
        log::warning(&startup::explain_uring_error(&e));
        return 1;
    }
    let supervisor = supervise::Supervisor::from_config(config.compat_value("supervised").unwrap_or("no"));

    // Listeners: every shard gets one socket per bind address (plus the Unix socket,
    // which they share); a port in use ends start-up here, as in redis-server.
    let Some(opened) = crate::net::listener::open_at_startup(&config, nshards) else {
        return 1;
    };
    let port = opened.tcp.port;
    let listening = opened.tcp.listening.clone();

    let pidfile = pidfile::write(&config.pidfile);
    startup::banner_or_mode(&config, port, nshards);
    startup::check_tcp_backlog(config.tcp_backlog);
    log::warning("Server initialized");
    startup::memory_warnings(thp_disabled);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let cpus: Vec<Option<usize>> = (0..nshards)
        .map(|id| {
            if config.cpus.is_empty() {
                cores.get(id % cores.len().max(1)).map(|c| c.id)
            } else {
                Some(config.cpus[id % config.cpus.len()])
            }
        })
        .collect();
    startup::describe(&config, &cpus);

    let (boots, mut functions) = if config.appendonly {
        match crate::persist::load::startup(&config, nshards) {
            Ok(b) => b,
            Err(e) => {
                log::warning(&e);
                return 1;
            }
        }
    } else {
        (Vec::new(), Vec::new())
    };
    // With the AOF on, the AOF is the dataset (as in Redis); otherwise the RDB file.
    let mut loaded = if config.appendonly { None } else { load_rdb(&config, nshards) };
    if loaded.as_ref().is_some_and(|l| l.is_err()) {
        return 1;
    }
    let mut shared = Shared::new(config.clone(), config_file);
    if let Err(e) = crate::acl::startup(&shared.acl, &config) {
        log::warning(&format!("Aborting Redis startup because of ACL errors: {e}"));
        return 1;
    }
    if config.compat_value("cluster-enabled") == Some("yes") {
        match crate::cluster::Cluster::start(&config, port) {
            Ok(c) => shared.cluster = c,
            Err(e) => {
                log::warning(&e);
                return 1;
            }
        }
    }
    let shared = Arc::new(shared);
    if let Some(Ok((_, _, _, _, f))) = &mut loaded {
        functions = std::mem::take(f);
    }
    if let Err(e) = crate::cmd::function::install_loaded(&shared.script, &functions, false) {
        log::warning(&format!("{e}. Exiting."));
        return 1;
    }
    if let Some(Ok((dbs, keys, expired, repl, _))) = loaded {
        if let Some((id, off, stream_db)) = repl {
            if config.compat_value("replicaof").is_some_and(|v| !v.is_empty()) {
                // A replica restarting from its own RDB (Redis's
                // `replicationCacheMasterUsingMyself`): it still holds the master's
                // history up to `off`, so its link asks PSYNC <id> <off+1> and
                // continues partially instead of a full sync.
                shared.repl.reset_ids(id, "0".repeat(40), -1);
                shared.repl.offset.store(off, Ordering::Release);
                // ... in the db its stream had selected (Redis's `repl-stream-db`).
                shared.replica.master_db.store(stream_db, Ordering::Relaxed);
            } else {
                crate::repl::state::restore_from_rdb(&shared.repl, id, off);
            }
            crate::repl::master::start(&shared);
        }
        shared.rdb.load_keys.store(keys, Ordering::Relaxed);
        shared.rdb.load_expired.store(expired, Ordering::Relaxed);
        *shared.rdb.boot.lock().unwrap_or_else(|e| e.into_inner()) = dbs.into_iter().map(Some).collect();
    }
    *shared.aof_boot.lock().unwrap_or_else(|e| e.into_inner()) = boots.into_iter().map(Some).collect();
    shared.port.store(port as u64, Ordering::Relaxed);
    shared.listen.publish(&opened.tcp, &config.bind);
    if let Some(u) = &opened.unix {
        shared.listen.unix.store(u.fd, Ordering::Release);
    }
    let ready = Arc::new(std::sync::Barrier::new(nshards + 1));
    let mut handles = Vec::new();
    for id in 0..nshards {
        let shared = shared.clone();
        let ready = ready.clone();
        let cpu = cpus[id];
        let h = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || {
                if let Some(cpu) = cpu
                    && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
                {
                    log::warning(&format!("shard {id}: can't pin the thread to CPU {cpu}; it runs unpinned"));
                }
                let mut w = match worker::Worker::new(id, shared.clone()) {
                    Ok(w) => w,
                    Err(e) => {
                        log::warning(&format!("shard {id}: {}", startup::explain_uring_error(&e)));
                        shared.shutdown.store(true, Ordering::SeqCst);
                        ready.wait();
                        return;
                    }
                };
                ready.wait();
                busy_door::install(shared.clone(), id);
                w.run();
            })
            .expect("spawn shard thread");
        handles.push(h);
    }
    ready.wait();
    if shared.shutdown.load(Ordering::SeqCst) {
        for h in handles {
            let _ = h.join();
        }
        return 1;
    }
    for addr in &listening {
        log::notice(&format!("Listening on {addr}"));
    }
    log::notice("Ready to accept connections tcp");
    if opened.unix.is_some() {
        // Redis 7.0's wording, then 7.2's: harnesses grep for either.
        log::notice(&format!("The server is now ready to accept connections at {}", config.unixsocket));
        log::notice("Ready to accept connections unix");
    }
    supervisor.ready();
    for h in handles {
        let _ = h.join();
    }
    supervisor.stopping();
    crate::persist::bgsave::kill_child(&shared);
    drop(pidfile);
    drop(opened);
    log::notice("shardis is now ready to exit, bye bye...");
    // A final AOF fsync that failed: the last acknowledged writes may not be on disk.
    if shared.aof_health.shutdown_sync_failed.load(std::sync::atomic::Ordering::Relaxed) { 1 } else { 0 }
}

/// `numa-node`/`numa-policy`, and the main thread restricted to the `cpus` (whose
/// shard threads then pin themselves to one each).
fn place_on_numa_node(config: &Config) -> Result<(), String> {
    if !config.cpus.is_empty() {
        crate::io::numa::pin_to_cpus(&config.cpus)
            .map_err(|e| format!("Can't restrict the process to the CPUs {:?}: {e}", config.cpus))?;
    }
    let nodes = config.compat_value("numa-node").unwrap_or("");
    if nodes.is_empty() {
        return Ok(());
    }
    let list: Vec<usize> = crate::config::parse::parse_cpus(nodes).map_err(|e| format!("numa-node '{nodes}': {e}"))?;
    let policy = match config.compat_value("numa-policy") {
        Some("preferred") => crate::io::numa::Policy::Preferred,
        _ => crate::io::numa::Policy::Bind,
    };
    crate::io::numa::set_memory_policy(policy, &list)
        .map_err(|e| format!("Can't set the NUMA memory policy {policy:?} on node(s) {nodes}: {e}"))?;
    log::notice(&format!("Memory policy: {policy:?} to NUMA node(s) {nodes}"));
    Ok(())
}

/// Loads `dir/dbfilename` if present: None when there is no file, Err (already
/// logged) when it cannot be loaded, which stops start-up.
#[allow(clippy::type_complexity)]
fn load_rdb(
    config: &Config,
    nshards: usize,
) -> Option<Result<(Vec<crate::persist::dbview::Loaded>, u64, u64, Option<crate::rdb::ReplPosition>, Vec<Vec<u8>>), ()>> {
    let start = std::time::Instant::now();
    match crate::persist::rdbfile::load(config, nshards, Shared::now_unix_ms()) {
        Ok(None) => None,
        Ok(Some((dbs, stats))) => {
            log::notice(&format!(
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                stats.keys, stats.expired_skipped
            ));
            log::notice(&format!("DB loaded from disk: {:.3} seconds", start.elapsed().as_secs_f64()));
            let aux = |n: &[u8]| stats.aux.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            let repl = match (aux(b"repl-id"), aux(b"repl-offset")) {
                (Some(id), Some(off)) if id.len() == 40 => {
                    let num = |v: &[u8]| std::str::from_utf8(v).ok().and_then(|o| o.parse::<u64>().ok());
                    let db = aux(b"repl-stream-db").and_then(|d| num(&d)).unwrap_or(0);
                    num(&off).map(|o| (String::from_utf8_lossy(&id).into_owned(), o, db.min(u16::MAX as u64) as u16))
                }
                _ => None,
            };
            Some(Ok((dbs, stats.keys, stats.expired_skipped, repl, stats.functions)))
        }
        Err(e) => {
            log::warning(&e);
            Some(Err(()))
        }
    }
}
