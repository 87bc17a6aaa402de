//! Startup, threads and shutdown.
//!
//! Job: turn a `Config` into running shard threads: open the listeners (one per shard
//! per address, SO_REUSEPORT), build the shared state, spawn and pin one worker per
//! shard, report readiness, and join them on shutdown.
//!
//! Depends on: everything below it (`net`, `cmd`, `shard`, `io`, `config`).

pub mod worker;

use crate::config::Config;
use crate::io::sock;
use crate::shard::Shared;
use crate::util::log;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Runs the server until SHUTDOWN or a termination signal. Returns the process exit
/// code.
pub fn run(config: Config, config_file: Option<PathBuf>) -> i32 {
    log::set_level(&config.loglevel);
    if let Err(e) = log::set_file(&config.logfile) {
        eprintln!("Can't open the log file: {e}");
        return 1;
    }
    sock::install_signal_handlers();
    if let Err(e) = std::fs::create_dir_all(&config.dir) {
        log::warning(&format!("Can't create working directory {}: {e}", config.dir));
        return 1;
    }
    let nshards = config.shards.max(1);
    log::notice(&format!(
        "shardis {} starting, pid={}, shards={nshards}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    ));

    // Listeners: every shard gets one socket per bind address.
    let mut per_shard: Vec<Vec<i32>> = vec![Vec::new(); nshards];
    let mut port = config.port;
    for addr in &config.bind {
        match crate::net::listener::open(addr, port, nshards, config.tcp_backlog) {
            Ok((fds, bound)) => {
                port = bound;
                for (s, fd) in fds.into_iter().enumerate() {
                    per_shard[s].push(fd);
                }
            }
            Err(e) => {
                log::warning(&format!("Warning: Could not create server TCP listening socket {addr}:{port}: {e}"));
                return 1;
            }
        }
    }

    let boots = if config.appendonly {
        match crate::persist::load::startup(&config, nshards) {
            Ok(b) => b,
            Err(e) => {
                log::warning(&e);
                return 1;
            }
        }
    } else {
        Vec::new()
    };
    let shared = Arc::new(Shared::new(config.clone(), config_file));
    *shared.aof_boot.lock().unwrap_or_else(|e| e.into_inner()) = boots.into_iter().map(Some).collect();
    shared.port.store(port as u64, Ordering::Relaxed);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let ready = Arc::new(std::sync::Barrier::new(nshards + 1));
    let mut handles = Vec::new();
    for (id, listeners) in per_shard.into_iter().enumerate() {
        let shared = shared.clone();
        let ready = ready.clone();
        let cpu = if config.cpus.is_empty() {
            cores.get(id % cores.len().max(1)).map(|c| c.id)
        } else {
            Some(config.cpus[id % config.cpus.len()])
        };
        let h = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
                }
                let mut w = match worker::Worker::new(id, shared.clone(), listeners) {
                    Ok(w) => w,
                    Err(e) => {
                        log::warning(&format!("shard {id}: cannot set up io_uring: {e}"));
                        shared.shutdown.store(true, Ordering::SeqCst);
                        ready.wait();
                        return;
                    }
                };
                ready.wait();
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
    for addr in &config.bind {
        log::notice(&format!("Listening on {addr}:{port}"));
    }
    log::notice("Ready to accept connections tcp");
    for h in handles {
        let _ = h.join();
    }
    log::notice("shardis is now ready to exit, bye bye...");
    0
}
