//! CLUSTER and its subcommands, ASKING, READONLY/READWRITE, RESTORE-ASKING and the
//! MIGRATE row, with Redis 7.0's replies and error texts. State changes go through
//! `Cluster::update` (which persists nodes.conf); anything that must look at keys
//! (COUNTKEYSINSLOT, GETKEYSINSLOT, SETSLOT NODE's "still hold keys", RESET and
//! FLUSHSLOTS's "must be empty") runs on the shards by fan-out.

use super::state::{ClusterState, Node, UNASSIGNED, valid_node_id};
use crate::cmd::ctx::{ConnCtx, ConnOutcome, FanOut};
use crate::cmd::introspect::{help_reply, sub_arity, unknown_subcommand};
use crate::cmd::table::{CommandSpec, Handler, KeySpec, flag};
use crate::cmd::{Args, CmdError};
use crate::resp::ReplyWriter;
use crate::shard::ShardState;
use crate::util::hash::{NUM_SLOTS, key_slot};
use std::sync::Arc;

const DISABLED: &str = "ERR This instance has cluster support disabled";

fn err(s: impl Into<String>) -> CmdError {
    CmdError::msg(format!("ERR {}", s.into()))
}

fn enabled(c: &ConnCtx) -> Result<(), CmdError> {
    if c.st.shared.cluster.enabled { Ok(()) } else { Err(CmdError::msg(DISABLED)) }
}

/// A slot argument as Redis's getSlotOrReply reads it.
fn slot_arg(a: &Args, i: usize) -> Result<u16, CmdError> {
    match a.i64(i) {
        Ok(s) if (0..NUM_SLOTS as i64).contains(&s) => Ok(s as u16),
        _ => Err(err("Invalid or out of range slot")),
    }
}

fn cluster(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    enabled(c)?;
    let sub = a.str(1).to_ascii_lowercase();
    let arity = |n: i32| sub_arity(a, &format!("cluster|{sub}"), n);
    let shared = c.st.shared.clone();
    let cl = &shared.cluster;
    match sub.as_str() {
        "help" => {
            help_reply(
                &mut c.out,
                "CLUSTER",
                &[
                    "ADDSLOTS <slot> [<slot> ...]",
                    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
                    "COUNTKEYSINSLOT <slot>",
                    "DELSLOTS <slot> [<slot> ...]",
                    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
                    "FLUSHSLOTS",
                    "FORGET <node-id>",
                    "GETKEYSINSLOT <slot> <count>",
                    "INFO",
                    "KEYSLOT <key>",
                    "LINKS",
                    "MEET <ip> <port> [<bus-port>]",
                    "MYID",
                    "NODES",
                    "RESET [HARD|SOFT]",
                    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
                    "SHARDS",
                    "SLOTS",
                ],
            );
        }
        "info" => {
            arity(2)?;
            let text = info_text(&cl.read(), c.st.config.compat_value("cluster-require-full-coverage") != Some("no"));
            c.out.verbatim(b"txt", text.as_bytes());
        }
        "myid" => {
            arity(2)?;
            c.out.bulk(cl.read().myself().id.as_bytes());
        }
        "nodes" => {
            arity(2)?;
            c.out.verbatim(b"txt", cl.read().nodes_text().as_bytes());
        }
        "slots" => {
            arity(2)?;
            slots_reply(&cl.read(), &mut c.out);
        }
        "shards" => {
            arity(2)?;
            shards_reply(&cl.read(), &mut c.out);
        }
        "links" => {
            arity(2)?;
            c.out.array(0);
        }
        "keyslot" => {
            arity(3)?;
            c.out.int(key_slot(a.get(2)) as i64);
        }
        "countkeysinslot" => {
            arity(3)?;
            let slot = a.i64(2)?;
            if !(0..NUM_SLOTS as i64).contains(&slot) {
                return Err(err("Invalid slot"));
            }
            return Ok(keys_in_slot(c.st, slot as u16, None));
        }
        "getkeysinslot" => {
            arity(4)?;
            let (slot, count) = (a.i64(2)?, a.i64(3)?);
            if !(0..NUM_SLOTS as i64).contains(&slot) || count < 0 {
                return Err(err("Invalid slot or number of keys"));
            }
            return Ok(keys_in_slot(c.st, slot as u16, Some(count as usize)));
        }
        "addslots" | "delslots" => {
            if a.len() < 3 {
                return Err(CmdError::msg(crate::cmd::error::wrong_arity(&format!("cluster|{sub}"))));
            }
            let slots = (2..a.len()).map(|i| slot_arg(a, i)).collect::<Result<Vec<_>, _>>()?;
            change_slots(cl, &slots, sub == "addslots")?;
            c.out.ok();
        }
        "addslotsrange" | "delslotsrange" => {
            if a.len() < 4 || !a.len().is_multiple_of(2) {
                return Err(CmdError::msg(crate::cmd::error::wrong_arity(&format!("cluster|{sub}"))));
            }
            let mut slots = Vec::new();
            for i in (2..a.len()).step_by(2) {
                let (s, e) = (slot_arg(a, i)?, slot_arg(a, i + 1)?);
                if s > e {
                    return Err(err(format!("start slot number {s} is greater than end slot number {e}")));
                }
                slots.extend(s..=e);
            }
            change_slots(cl, &slots, sub == "addslotsrange")?;
            c.out.ok();
        }
        "setslot" => return setslot(c, a),
        "meet" => {
            if a.len() != 4 && a.len() != 5 {
                return Err(CmdError::msg(crate::cmd::error::wrong_arity("cluster|meet")));
            }
            let ip = a.str(2);
            let port =
                a.str(3).parse::<u16>().map_err(|_| err(format!("Invalid TCP base port specified: {}", a.str(3))))?;
            if a.len() == 5 && a.str(4).parse::<u16>().is_err() {
                return Err(err(format!("Invalid TCP bus port specified: {}", a.str(4))));
            }
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(err(format!("Invalid node address specified: {ip}:{port}")));
            }
            let timeout =
                c.st.config.compat_value("cluster-node-timeout").and_then(|v| v.parse::<u64>().ok()).unwrap_or(15000);
            meet(shared.clone(), ip, port, std::time::Duration::from_millis(timeout.max(100)));
            c.out.ok();
        }
        "forget" => {
            arity(3)?;
            let id = a.str(2);
            cl.update(|st| {
                let idx = st.node_index(&id).ok_or_else(|| format!("ERR Unknown node {id}"))?;
                if idx == 0 {
                    return Err("ERR I tried hard but I can't forget myself...".into());
                }
                st.remove(idx);
                Ok(())
            })
            .map_err(CmdError::msg)?;
            c.out.ok();
        }
        "reset" | "flushslots" => {
            let hard = match (sub.as_str(), a.len()) {
                ("flushslots", 2) => false,
                ("reset", 2) => false,
                ("reset", 3) if a.is(2, "hard") => true,
                ("reset", 3) if a.is(2, "soft") => false,
                ("reset", 3) => return Err(CmdError::Syntax),
                _ => return Err(CmdError::msg(crate::cmd::error::wrong_arity(&format!("cluster|{sub}")))),
            };
            let reset = sub == "reset";
            return Ok(ConnOutcome::FanOut(FanOut {
                hop: Arc::new(|st: &mut ShardState| Box::new(st.dbs.iter().map(|d| d.len()).sum::<usize>())),
                lock_whole: false,
                finish: Box::new(move |st, results, out| {
                    let keys: usize = results.into_iter().map(|(_, r)| *r.downcast::<usize>().expect("usize")).sum();
                    if keys > 0 {
                        out.error(if reset {
                            "ERR CLUSTER RESET can't be called with master nodes containing keys"
                        } else {
                            "ERR DB must be empty to perform CLUSTER FLUSHSLOTS."
                        });
                        return;
                    }
                    let res = st.shared.cluster.update(|cs| {
                        if reset {
                            let mut me = cs.myself().clone();
                            if hard {
                                me.id = super::state::random_node_id();
                                me.config_epoch = 0;
                            }
                            let epoch = if hard { 0 } else { cs.current_epoch };
                            *cs = ClusterState::new(me);
                            cs.current_epoch = epoch;
                        } else {
                            for s in cs.slots.iter_mut().filter(|s| **s == 0) {
                                *s = UNASSIGNED;
                            }
                        }
                        Ok(())
                    });
                    match res {
                        Ok(()) => out.ok(),
                        Err(e) => out.error(&e),
                    }
                }),
            }));
        }
        "saveconfig" => {
            arity(2)?;
            cl.save_now().map_err(|e| err(format!("error saving the cluster node config: {e}")))?;
            c.out.ok();
        }
        "set-config-epoch" => {
            arity(3)?;
            let epoch = a.i64(2)?;
            cl.update(|st| {
                if epoch < 0 {
                    return Err(format!("ERR Invalid config epoch specified: {epoch}"));
                }
                if st.nodes.len() > 1 {
                    return Err(
                        "ERR The user can assign a config epoch only when the node does not know any other node."
                            .into(),
                    );
                }
                if st.myself().config_epoch != 0 {
                    return Err("ERR Node config epoch is already non-zero".into());
                }
                st.nodes[0].config_epoch = epoch as u64;
                st.current_epoch = st.current_epoch.max(epoch as u64);
                Ok(())
            })
            .map_err(CmdError::msg)?;
            crate::util::log::warning(&format!("configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH"));
            c.out.ok();
        }
        "bumpepoch" => {
            arity(2)?;
            let (bumped, epoch) = cl
                .update(|st| {
                    let b = st.bump_epoch();
                    Ok((b, st.myself().config_epoch))
                })
                .map_err(CmdError::msg)?;
            if bumped {
                crate::util::log::warning(&format!("New configEpoch set to {epoch}"));
            }
            c.out.simple(&format!("{} {epoch}", if bumped { "BUMPED" } else { "STILL" }));
        }
        "count-failure-reports" => {
            arity(3)?;
            if cl.read().node_index(&a.str(2)).is_none() {
                return Err(err(format!("Unknown node {}", a.str(2))));
            }
            c.out.int(0);
        }
        "replicas" | "slaves" => {
            arity(3)?;
            if cl.read().node_index(&a.str(2)).is_none() {
                return Err(err(format!("Unknown node {}", a.str(2))));
            }
            c.out.array(0);
        }
        _ => return Err(unknown_subcommand(a)),
    }
    Ok(ConnOutcome::Done)
}

/// ADDSLOTS/DELSLOTS with Redis's checks: all slots are validated before any change.
fn change_slots(cl: &super::Cluster, slots: &[u16], add: bool) -> Result<(), CmdError> {
    let mut seen = vec![false; NUM_SLOTS];
    cl.update(|st| {
        for &s in slots {
            let owner = st.slots[s as usize];
            if add && owner != UNASSIGNED {
                return Err(format!("ERR Slot {s} is already busy"));
            }
            if !add && owner == UNASSIGNED {
                return Err(format!("ERR Slot {s} is already unassigned"));
            }
            if std::mem::replace(&mut seen[s as usize], true) {
                return Err(format!("ERR Slot {s} specified multiple times"));
            }
        }
        for &s in slots {
            st.slots[s as usize] = if add { 0 } else { UNASSIGNED };
            if add {
                st.importing.remove(&s);
            } else {
                st.importing.remove(&s);
                st.migrating.remove(&s);
            }
        }
        Ok(())
    })
    .map_err(CmdError::msg)
}

fn setslot(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if a.len() < 4 {
        return Err(CmdError::msg(crate::cmd::error::wrong_arity("cluster|setslot")));
    }
    let slot = slot_arg(a, 2)?;
    let shared = c.st.shared.clone();
    let cl = &shared.cluster;
    let action = a.str(3).to_ascii_lowercase();
    let node_arg = || -> Result<String, CmdError> {
        if a.len() != 5 {
            return Err(err("Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"));
        }
        Ok(a.str(4))
    };
    let res = match action.as_str() {
        "migrating" => {
            let id = node_arg()?;
            cl.update(|st| {
                if st.slots[slot as usize] != 0 {
                    return Err(format!("ERR I'm not the owner of hash slot {slot}"));
                }
                let n = st.node_index(&id).ok_or_else(|| format!("ERR I don't know about node {id}"))?;
                if n == 0 {
                    return Err("ERR Target node is not a master".into());
                }
                st.migrating.insert(slot, n);
                Ok(())
            })
        }
        "importing" => {
            let id = node_arg()?;
            cl.update(|st| {
                if st.slots[slot as usize] == 0 {
                    return Err(format!("ERR I'm already the owner of hash slot {slot}"));
                }
                let n = st.node_index(&id).ok_or_else(|| format!("ERR I don't know about node {id}"))?;
                if n == 0 {
                    return Err("ERR Target node is not a master".into());
                }
                st.importing.insert(slot, n);
                Ok(())
            })
        }
        "stable" => {
            if a.len() != 4 {
                return Err(err("Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"));
            }
            cl.update(|st| {
                st.migrating.remove(&slot);
                st.importing.remove(&slot);
                Ok(())
            })
        }
        "node" => {
            let id = node_arg()?;
            let (n, mine) = {
                let st = cl.read();
                let n = st.node_index(&id).ok_or_else(|| err(format!("Unknown node {id}")))?;
                (n, st.slots[slot as usize] == 0)
            };
            if mine && n != 0 {
                // Giving the slot away: refuse while keys remain (counted on its shard).
                let shard = slot as usize % c.st.nshards;
                let hop: crate::shard::msg::Hop =
                    Arc::new(move |st: &mut ShardState| Box::new(count_in_slot(st, slot)));
                return Ok(ConnOutcome::FanOut(FanOut::single(
                    shard,
                    hop,
                    Box::new(move |st, r, out| {
                        if *r.downcast::<usize>().expect("usize") > 0 {
                            out.error(&format!("ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."));
                            return;
                        }
                        match st.shared.cluster.update(|cs| assign(cs, slot, &id)) {
                            Ok(()) => out.ok(),
                            Err(e) => out.error(&e),
                        }
                    }),
                )));
            }
            cl.update(|st| assign(st, slot, &id))
        }
        _ => return Err(err("Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")),
    };
    res.map_err(CmdError::msg)?;
    c.out.ok();
    Ok(ConnOutcome::Done)
}

/// SETSLOT NODE: the slot now belongs to `id`; a finished migration or import closes.
fn assign(st: &mut ClusterState, slot: u16, id: &str) -> Result<(), String> {
    let n = st.node_index(id).ok_or_else(|| format!("ERR Unknown node {id}"))?;
    if st.slots[slot as usize] == 0 && n != 0 {
        st.migrating.remove(&slot);
    }
    // A finished import: a new config epoch for our claim, without a vote, as Redis
    // does (it then tells the others over the bus; here the pool tool does).
    if n == 0 && st.importing.remove(&slot).is_some() && st.bump_epoch() {
        crate::util::log::warning(&format!("configEpoch updated after importing slot {slot}"));
    }
    st.slots[slot as usize] = n;
    Ok(())
}

fn count_in_slot(st: &mut ShardState, slot: u16) -> usize {
    let now = st.now_ms;
    st.dbs[0].live_keys(now).filter(|k| key_slot(k) == slot).count()
}

/// COUNTKEYSINSLOT (`limit` None) or GETKEYSINSLOT: a scan of db 0 on the slot's
/// shard. O(keys on that shard): there is no per-slot index, so cluster mode costs
/// nothing on writes; `shardis-pool rebalance` moves keys with one SCAN instead.
fn keys_in_slot(st: &ShardState, slot: u16, limit: Option<usize>) -> ConnOutcome {
    let shard = slot as usize % st.nshards;
    let hop: crate::shard::msg::Hop = Arc::new(move |st: &mut ShardState| -> crate::shard::msg::HopResult {
        let now = st.now_ms;
        let keys = st.dbs[0].live_keys(now).filter(|k| key_slot(k) == slot);
        match limit {
            None => Box::new(keys.count()),
            Some(n) => Box::new(keys.take(n).map(|k| k.to_vec()).collect::<Vec<Vec<u8>>>()),
        }
    });
    ConnOutcome::FanOut(FanOut::single(
        shard,
        hop,
        Box::new(move |_, r, out| match limit {
            None => out.int(*r.downcast::<usize>().expect("usize") as i64),
            Some(_) => {
                let keys = r.downcast::<Vec<Vec<u8>>>().expect("keys");
                out.array(keys.len());
                for k in keys.iter() {
                    out.bulk(k);
                }
            }
        }),
    ))
}

pub fn info_text(st: &ClusterState, full_coverage: bool) -> String {
    let assigned = st.assigned_count();
    let ok = !full_coverage || st.all_assigned();
    format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{assigned}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\ncluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n",
        if ok { "ok" } else { "fail" },
        st.nodes.len(),
        st.size(),
        st.current_epoch,
        st.myself().config_epoch
    )
}

fn node_entry(n: &Node, out: &mut ReplyWriter) {
    out.array(4);
    out.bulk(n.ip.as_bytes());
    out.int(n.port as i64);
    out.bulk(n.id.as_bytes());
    out.map(0);
}

fn slots_reply(st: &ClusterState, out: &mut ReplyWriter) {
    let mut ranges: Vec<(u16, u16, u16)> = Vec::new();
    for i in 0..st.nodes.len() as u16 {
        ranges.extend(st.ranges_of(i).into_iter().map(|(a, b)| (a, b, i)));
    }
    ranges.sort();
    out.array(ranges.len());
    for (a, b, i) in ranges {
        out.array(3);
        out.int(a as i64);
        out.int(b as i64);
        node_entry(&st.nodes[i as usize], out);
    }
}

fn shards_reply(st: &ClusterState, out: &mut ReplyWriter) {
    out.array(st.nodes.len());
    for (i, n) in st.nodes.iter().enumerate() {
        let ranges = st.ranges_of(i as u16);
        out.map(2);
        out.bulk(b"slots");
        out.array(ranges.len() * 2);
        for (a, b) in ranges {
            out.int(a as i64);
            out.int(b as i64);
        }
        out.bulk(b"nodes");
        out.array(1);
        out.map(7);
        for (k, v) in [("id", n.id.clone()), ("port", String::new()), ("ip", n.ip.clone()), ("endpoint", n.ip.clone())]
        {
            out.bulk(k.as_bytes());
            if k == "port" {
                out.int(n.port as i64);
            } else {
                out.bulk(v.as_bytes());
            }
        }
        out.bulk(b"role");
        out.bulk(b"master");
        out.bulk(b"replication-offset");
        out.int(0);
        out.bulk(b"health");
        out.bulk(b"online");
    }
}

/// MEET's handshake, on a helper thread (it connects and waits for replies): learn the
/// peer's id and the slots it claims, and add it. Slots it claims that we think are
/// unassigned become its own; we never take a slot from its current owner this way
/// (without a bus, SETSLOT NODE settles a conflict, not the epochs). Its config
/// epoch is recorded, and advances our `currentEpoch` as a PONG would.
fn meet(shared: Arc<crate::shard::Shared>, ip: String, port: u16, timeout: std::time::Duration) {
    let run = move || {
        let fetch = || -> Result<(String, String), String> {
            let source = shared.config().compat_value("bind-source-addr").unwrap_or("").to_string();
            let mut cl = super::client::Client::connect_from(&ip, port, timeout, &source).map_err(|e| e.to_string())?;
            let id = cl.call(&["CLUSTER", "MYID"]).map_err(|e| e.to_string())?.text().ok_or("no id in reply")?;
            let nodes =
                cl.call(&["CLUSTER", "NODES"]).map_err(|e| e.to_string())?.text().ok_or("no node list in reply")?;
            Ok((id, nodes))
        };
        let res = fetch().and_then(|(id, nodes)| {
            if !valid_node_id(&id) {
                return Err(format!("bad node id '{id}'"));
            }
            let line = nodes.lines().find(|l| l.split_whitespace().nth(2).is_some_and(|f| f.contains("myself")));
            let cport = line
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|a| a.split(',').next()?.split_once('@')?.1.parse().ok())
                .unwrap_or(port.wrapping_add(10000));
            let config_epoch: u64 = line.and_then(|l| l.split_whitespace().nth(6)?.parse().ok()).unwrap_or(0);
            let claimed: Vec<(u16, u16)> = line
                .map(|l| {
                    l.split_whitespace()
                        .skip(8)
                        .filter(|t| !t.starts_with('['))
                        .filter_map(|t| match t.split_once('-') {
                            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                            None => t.parse().ok().map(|a| (a, a)),
                        })
                        .collect()
                })
                .unwrap_or_default();
            shared.cluster.update(|st| {
                if st.myself().id == id {
                    return Ok(());
                }
                let idx = st.upsert(Node { id: id.clone(), ip: ip.clone(), port, cport, config_epoch });
                // As a PONG would: a peer's newer epoch advances ours.
                st.current_epoch = st.current_epoch.max(config_epoch);
                for (a, b) in claimed {
                    for s in a..=b.min(NUM_SLOTS as u16 - 1) {
                        if st.slots[s as usize] == UNASSIGNED {
                            st.slots[s as usize] = idx;
                        }
                    }
                }
                Ok(())
            })
        });
        shared.cluster.save_if_dirty();
        match res {
            Ok(()) => crate::util::log::notice(&format!("Cluster: met node {ip}:{port}")),
            Err(e) => crate::util::log::warning(&format!("Cluster: MEET {ip}:{port} failed: {e}")),
        }
    };
    if let Err(e) = std::thread::Builder::new().name("cluster-meet".into()).spawn(run) {
        crate::util::log::warning(&format!("Cluster: can't start the MEET handshake: {e}"));
    }
}

fn asking(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    enabled(c)?;
    c.sess.asking = true;
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn readonly(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    enabled(c)?;
    c.sess.readonly = true;
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn readwrite(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    enabled(c)?;
    c.sess.readonly = false;
    c.out.ok();
    Ok(ConnOutcome::Done)
}

const fn conn(
    name: &'static str,
    arity: i32,
    flags: u32,
    f: crate::cmd::table::ConnFn,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    CommandSpec { name, arity, flags, keys: KeySpec::None, handler: Handler::Conn(f), group: "cluster", summary, since }
}

pub static COMMANDS: &[CommandSpec] = &[
    conn("cluster", -2, 0, cluster, "A container for Redis Cluster commands.", "3.0.0"),
    conn("asking", 1, flag::FAST, asking, "Sent by cluster clients after an -ASK redirect.", "3.0.0"),
    conn(
        "readonly",
        1,
        flag::FAST | flag::LOADING | flag::STALE,
        readonly,
        "Enables read-only queries for a connection to a Redis Cluster replica node.",
        "3.0.0",
    ),
    conn(
        "readwrite",
        1,
        flag::FAST | flag::LOADING | flag::STALE,
        readwrite,
        "Enables read-write queries for a connection to a Redis Cluster replica node.",
        "3.0.0",
    ),
    CommandSpec {
        name: "restore-asking",
        arity: -4,
        flags: flag::WRITE | flag::DENYOOM,
        keys: KeySpec::Range { first: 1, last: 1, step: 1 },
        handler: Handler::Keyed(crate::cmd::dump::restore),
        group: "server",
        summary: "An internal command for migrating keys in a cluster.",
        since: "3.0.0",
    },
    CommandSpec {
        name: "migrate",
        arity: -6,
        flags: flag::WRITE,
        keys: KeySpec::Custom { first: 3, last: 3, step: 1, find: super::migrate::key_positions },
        handler: Handler::Conn(super::migrate::inside_transaction),
        group: "generic",
        summary: "Atomically transfers a key from one Redis instance to another.",
        since: "2.6.0",
    },
];
