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
    panic::set_crash_log(&config);
    log::set_level(&config.loglevel);
    if let Err(e) = log::set_file(&config.logfile) {
        eprintln!("Can't open the log file: {e}");
        return 1;
    }
    startup::starting(config_file.as_deref(), bare_command_line);
    log::set_role_master();
    if config.compat_value("replicaof").is_some_and(|v| !v.is_empty()) {
        log::set_role_replica(true);
    }
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

    let mut shared = Shared::new(config.clone(), config_file);
    // The data: read and checked here; the shard threads put the keys in their own
    // memory before anyone is served (`persist::startload`).
    let mut plan = match crate::persist::startload::plan(&config, nshards, &shared) {
        Ok(p) => p,
        Err(e) => {
            log::warning(&e);
            return 1;
        }
    };
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
    shared.port.store(port as u64, Ordering::Relaxed);
    shared.listen.publish(&opened.tcp, &config.bind);
    if let Some(u) = &opened.unix {
        shared.listen.unix.store(u.fd, Ordering::Release);
    }
    // `created`: every shard's rings and tables exist and no data is loaded yet, the
    // moment Redis takes `used_memory_startup` (before it loads its files). Passed twice:
    // once to stop the shards there, once to let them load after the figure is taken.
    let created = Arc::new(std::sync::Barrier::new(nshards + 1));
    let loaded = Arc::new(std::sync::Barrier::new(nshards + 1));
    let ready = Arc::new(std::sync::Barrier::new(nshards + 1));
    let mut handles = Vec::new();
    let inputs = std::mem::take(&mut plan.inputs);
    for (id, input) in inputs.into_iter().enumerate() {
        let shared = shared.clone();
        let (created, loaded, ready) = (created.clone(), loaded.clone(), ready.clone());
        let outcomes = plan.outcomes.clone();
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
                        drop(input);
                        created.wait();
                        created.wait();
                        loaded.wait();
                        ready.wait();
                        return;
                    }
                };
                created.wait();
                created.wait();
                // Pinned already: the keys land in this CPU's memory (first touch).
                crate::persist::startload::on_shard(id, &shared, input, &outcomes);
                loaded.wait();
                ready.wait();
                if shared.shutdown.load(Ordering::SeqCst) {
                    return;
                }
                busy_door::install(shared.clone(), id);
                w.run();
            })
            .expect("spawn shard thread");
        handles.push(h);
    }
    created.wait();
    shared.mem.startup.store(shared.mem.used().max(1), Ordering::Relaxed);
    created.wait();
    let rdb = crate::persist::startload::drive(&mut plan, &config);
    loaded.wait();
    if !crate::persist::startload::finish(plan, &shared, &config, rdb) {
        shared.shutdown.store(true, Ordering::SeqCst);
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
    crate::repl::master::flush_at_exit(&shared);
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
