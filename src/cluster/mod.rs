//! The Redis Cluster protocol, as clients see it (`cluster-enabled yes`).
//!
//! An instance in cluster mode owns some of the 16384 hash slots and answers requests
//! for keys in other slots with `-MOVED slot ip:port` (or `-ASK` while a slot moves),
//! so cluster clients (`redis-cli -c`, redis-py's `RedisCluster`, `redis-benchmark
//! --cluster`, `memtier_benchmark --cluster-mode`) see a pool of instances as one
//! keyspace. Within one instance the keys of a slot still live on shard
//! `slot % shards`, as always.
//!
//! **No gossip bus.** Redis nodes learn each other's slots over a cluster bus (a
//! second TCP port with PING/PONG gossip, failure detection and failover votes).
//! shardis does not run one. Instead:
//! - `CLUSTER MEET ip port` records the peer: a helper thread asks it once for its
//!   id and the slots it claims (`CLUSTER NODES`, its `myself` line) and adds it;
//! - whoever manages the pool (`shardis-pool`, or an operator) pushes the map to every
//!   node: `ADDSLOTSRANGE` on each node for its own slots, then `MEET` from every node
//!   to every other, and `SETSLOT <slot> NODE <id>` on every node when a slot moves.
//!
//! So there is no failure detection and no failover; `cluster-node-timeout` bounds the
//! MEET handshake (connect and reply) and nothing else. Nodes are always reported
//! `connected`. Epochs follow Redis where no vote is involved: `currentEpoch` and each
//! node's config epoch are kept in nodes.conf and CLUSTER NODES/INFO; this node's
//! moves with `CLUSTER SET-CONFIG-EPOCH` (a fresh node only), `CLUSTER BUMPEPOCH` and
//! a finished import (`SETSLOT <slot> NODE <myself>` on an importing slot); a peer's
//! is what MEET last read from it. `docs/pools.md` explains how a pool would grow past
//! one machine with a real bus.
//!
//! The state (`state::ClusterState`) is shared by the shard threads behind an RwLock
//! that only cluster mode reads: with cluster mode off, the hot path pays one
//! boolean test (`Shared::cluster.enabled`). Every change is written to
//! `cluster-config-file` (Redis's `nodes.conf` format, in `dir`) atomically (temp
//! file, rename) before the command replies, and loaded at start.
//!
//! Files: `state` (the map, NODES lines, nodes.conf parsing), `cmd` (CLUSTER,
//! ASKING, READONLY/READWRITE), `redirect` (the per-command check: MOVED, ASK,
//! CROSSSLOT, TRYAGAIN, CLUSTERDOWN), `migrate` (MIGRATE), `client` (a small
//! blocking RESP client for MEET and MIGRATE helper threads).

pub mod client;
pub mod cmd;
pub mod migrate;
pub mod redirect;
pub mod state;

use crate::config::Config;
use state::{ClusterState, Node};
use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard};

/// Shared cluster state (in `Shared`).
pub struct Cluster {
    /// `cluster-enabled`: fixed at start, so reading it needs no synchronisation.
    pub enabled: bool,
    state: RwLock<ClusterState>,
    path: PathBuf,
    /// The state changed since nodes.conf was last written (`save_if_dirty`).
    dirty: std::sync::atomic::AtomicBool,
    /// Serializes writers of nodes.conf; holds the epochs last written, so a change
    /// of epoch (and only that, as in Redis) is fsynced.
    saving: std::sync::Mutex<(u64, u64)>,
}

impl Cluster {
    /// Cluster mode off: nothing is read or written.
    pub fn disabled() -> Cluster {
        let me = Node { id: "0".repeat(40), ip: String::new(), port: 0, cport: 0, config_epoch: 0 };
        Cluster {
            enabled: false,
            state: RwLock::new(ClusterState::new(me)),
            path: PathBuf::new(),
            dirty: Default::default(),
            saving: Default::default(),
        }
    }

    /// Loads `cluster-config-file` (relative to `dir`) or starts a fresh node with a
    /// new id and writes the file. `port` is the port actually bound.
    pub fn start(config: &Config, port: u16) -> Result<Cluster, String> {
        let file = config.compat_value("cluster-config-file").unwrap_or("nodes.conf");
        let path = std::path::Path::new(&config.dir).join(file);
        let (ip, port, cport) = announced(config, port);
        let state = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut st = ClusterState::parse_config(&text).map_err(|e| {
                    format!("Unrecoverable error: corrupted cluster config file \"{}\": {e}", path.display())
                })?;
                // The address may have changed since the file was written (Redis
                // learns its own IP from peers; we take the announced one).
                st.nodes[0].ip = ip;
                st.nodes[0].port = port;
                st.nodes[0].cport = cport;
                st
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                ClusterState::new(Node { id: state::random_node_id(), ip, port, cport, config_epoch: 0 })
            }
            Err(e) => return Err(format!("Can't read cluster config file {}: {e}", path.display())),
        };
        let c = Cluster {
            enabled: true,
            state: RwLock::new(state),
            path,
            dirty: Default::default(),
            saving: Default::default(),
        };
        c.save_now()?;
        Ok(c)
    }

    pub fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state under the write lock; a change is written to nodes.conf
    /// at the end of the shard's turn (`save_if_dirty`), before its replies leave:
    /// like Redis's `clusterBeforeSleep`, one write covers a pipeline of changes.
    pub fn update<R>(&self, f: impl FnOnce(&mut ClusterState) -> Result<R, String>) -> Result<R, String> {
        let mut guard = self.state.write().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut guard)?;
        self.dirty.store(true, std::sync::atomic::Ordering::Release);
        Ok(r)
    }

    /// Writes nodes.conf if anything changed (called by every shard once per turn
    /// before it sends replies, and by MEET's helper thread). A failed write is logged
    /// and retried at the next turn.
    pub fn save_if_dirty(&self) {
        if !self.dirty.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let mut saved = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        if !self.dirty.swap(false, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        let snapshot = self.read().clone();
        if let Err(e) = self.save_locked(&snapshot, &mut saved) {
            crate::util::log::warning(&e);
            self.dirty.store(true, std::sync::atomic::Ordering::Release);
        }
    }

    /// CLUSTER SAVECONFIG: write now, reporting a failure.
    pub fn save_now(&self) -> Result<(), String> {
        let mut saved = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        self.dirty.store(false, std::sync::atomic::Ordering::Release);
        let snapshot = self.read().clone();
        self.save_locked(&snapshot, &mut saved)
    }

    /// Writes `st` (the caller holds `saving`, whose epochs it updates).
    fn save_locked(&self, st: &ClusterState, saved: &mut (u64, u64)) -> Result<(), String> {
        // Temp file and rename: the file is always whole. Fsynced only when an epoch
        // changed, as Redis does (CLUSTER_TODO_FSYNC_CONFIG): a slot move issues
        // thousands of SETSLOTs, and an fsync each costs milliseconds on ordinary disks.
        let epochs = (st.current_epoch, st.myself().config_epoch);
        let durable = epochs != *saved;
        let write = || -> std::io::Result<()> {
            let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(dir)?;
            let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let tmp = dir.join(format!("temp-{}-{name}", std::process::id()));
            std::fs::write(&tmp, st.config_text().as_bytes())?;
            if durable {
                std::fs::File::open(&tmp)?.sync_all()?;
            }
            std::fs::rename(&tmp, &self.path)?;
            if durable {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("ERR Can't write cluster config file {}: {e}", self.path.display()))?;
        *saved = epochs;
        Ok(())
    }
}

/// The address this node gives in MOVED/ASK and CLUSTER SLOTS: `cluster-announce-ip`
/// (else the first concrete bind address, else 127.0.0.1), `cluster-announce-port`
/// (else the bound port), and the bus port Redis would use.
fn announced(config: &Config, bound: u16) -> (String, u16, u16) {
    let ip = match config.compat_value("cluster-announce-ip") {
        Some(ip) if !ip.is_empty() => ip.to_string(),
        _ => config
            .bind
            .iter()
            .map(|b| b.trim_start_matches('-'))
            .find(|b| !matches!(*b, "*" | "0.0.0.0" | "::" | "::*"))
            .unwrap_or("127.0.0.1")
            .to_string(),
    };
    let port = match config.compat_value("cluster-announce-port").and_then(|p| p.parse::<u16>().ok()) {
        Some(p) if p != 0 => p,
        _ => bound,
    };
    let cport = match config.compat_value("cluster-port").and_then(|p| p.parse::<u16>().ok()) {
        Some(p) if p != 0 => p,
        _ => port.wrapping_add(10000),
    };
    (ip, port, cport)
}
