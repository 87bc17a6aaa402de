//! A pool as one keyspace: forming the cluster and moving slots. There is no gossip
//! bus (`cluster` module docs), so this tool pushes the map to every node itself:
//! ADDSLOTSRANGE on each node for its share, MEET between every pair, and, when
//! slots move, SETSLOT NODE on every node (target first).

use super::ops::call;
use super::spec::Pool;
use crate::cluster::client::{Client, Reply};
use crate::util::hash::{NUM_SLOTS, key_slot};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn ok(r: Result<Reply, String>, what: &str) -> Result<(), String> {
    match r {
        Ok(Reply::Simple(_)) => Ok(()),
        Ok(Reply::Error(e)) => Err(format!("{what}: {e}")),
        Ok(other) => Err(format!("{what}: unexpected reply {other:?}")),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn text(port: u16, args: &[&str]) -> Result<String, String> {
    match call(port, args)? {
        Reply::Error(e) => Err(format!("{}: {e}", args.join(" "))),
        r => r.text().ok_or_else(|| format!("{}: unexpected reply", args.join(" "))),
    }
}

/// Each node's view: its id, and slot -> owner id for every assigned slot.
fn view(port: u16) -> Result<(String, HashMap<u16, String>, usize), String> {
    let nodes = text(port, &["CLUSTER", "NODES"])?;
    let mut me = String::new();
    let mut owners = HashMap::new();
    let mut known = 0;
    for line in nodes.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        known += 1;
        if f[2].contains("myself") {
            me = f[0].to_string();
        }
        for t in &f[8..] {
            if t.starts_with('[') {
                continue;
            }
            let (a, b) = match t.split_once('-') {
                Some((a, b)) => (a.parse::<u16>().unwrap_or(1), b.parse::<u16>().unwrap_or(0)),
                None => (t.parse().unwrap_or(1), t.parse().unwrap_or(0)),
            };
            for s in a..=b {
                owners.insert(s, f[0].to_string());
            }
        }
    }
    Ok((me, owners, known))
}

/// The node's own config epoch (`cluster_my_epoch`).
fn epoch_of(port: u16) -> Result<u64, String> {
    let info = text(port, &["CLUSTER", "INFO"])?;
    info.lines()
        .find_map(|l| l.strip_prefix("cluster_my_epoch:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "CLUSTER INFO: no cluster_my_epoch".into())
}

/// Assigns the slots evenly if nobody owns any yet, MEETs every pair that does not
/// know each other, and waits until every node reports `cluster_state:ok` and knows
/// all the others.
pub fn form(pool: &Pool) -> Result<Vec<String>, String> {
    let ports: Vec<u16> = pool.instances.iter().map(|i| i.port).collect();
    let n = ports.len();
    let mut lines = Vec::new();
    let views: Vec<_> = ports.iter().map(|&p| view(p)).collect::<Result<_, _>>()?;
    if views.iter().all(|(_, owners, _)| owners.is_empty()) {
        for (k, &p) in ports.iter().enumerate() {
            let (a, b) = (NUM_SLOTS * k / n, NUM_SLOTS * (k + 1) / n - 1);
            ok(call(p, &["CLUSTER", "ADDSLOTSRANGE", &a.to_string(), &b.to_string()]), "CLUSTER ADDSLOTSRANGE")?;
            lines.push(format!("{}: slots {a}-{b}", pool.instances[k].name));
        }
    }
    let ids: Vec<&String> = views.iter().map(|v| &v.0).collect();
    // A distinct config epoch per fresh node, as `redis-cli --cluster create` gives.
    for (k, &p) in ports.iter().enumerate() {
        if views[k].2 == 1 && epoch_of(p)? == 0 {
            ok(call(p, &["CLUSTER", "SET-CONFIG-EPOCH", &(k + 1).to_string()]), "CLUSTER SET-CONFIG-EPOCH")?;
        }
    }
    for (k, &p) in ports.iter().enumerate() {
        let known = text(p, &["CLUSTER", "NODES"])?;
        for (j, &q) in ports.iter().enumerate() {
            if j != k && !known.contains(ids[j].as_str()) {
                ok(call(p, &["CLUSTER", "MEET", "127.0.0.1", &q.to_string()]), "CLUSTER MEET")?;
            }
        }
    }
    let deadline = Instant::now() + WAIT;
    for (k, &p) in ports.iter().enumerate() {
        loop {
            let info = text(p, &["CLUSTER", "INFO"])?;
            if info.contains("cluster_state:ok") && info.contains(&format!("cluster_known_nodes:{n}\r")) {
                break;
            }
            if Instant::now() > deadline {
                let unowned = views.iter().all(|(_, o, _)| o.len() < NUM_SLOTS);
                return Err(format!(
                    "{} did not reach cluster_state:ok with {n} nodes within {WAIT:?}{}:\n{info}",
                    pool.instances[k].name,
                    if unowned { " (some slots are not served: assign them, or `rebalance`)" } else { "" }
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    lines.push(format!("cluster: state ok on all {n} nodes"));
    Ok(lines)
}

/// Moves slots so every node owns an even share, online. Each (source, target) pair
/// moves on its own thread, in batches: SETSLOT IMPORTING on the target and MIGRATING
/// on the source for the whole batch, a SCAN of the source migrating the batch's keys
/// (one MIGRATE ... KEYS per slot, pipelined on one connection), SCANs again until a
/// pass finds none left, then SETSLOT NODE on the target, the source and every other
/// node. Clients see only MOVED/ASK meanwhile.
pub fn rebalance(pool: &Pool) -> Result<Vec<String>, String> {
    let ports: Vec<u16> = pool.instances.iter().map(|i| i.port).collect();
    let n = ports.len();
    let (_, owners, _) = view(ports[0])?;
    if owners.len() != NUM_SLOTS {
        return Err("not every slot is assigned; run `up` first".into());
    }
    let ids: Vec<String> = ports.iter().map(|&p| text(p, &["CLUSTER", "MYID"])).collect::<Result<_, _>>()?;
    let mut owned: Vec<Vec<u16>> = vec![Vec::new(); n];
    for (slot, id) in &owners {
        let k = ids
            .iter()
            .position(|x| x == id)
            .ok_or_else(|| format!("slot {slot} is owned by a node outside the pool"))?;
        owned[k].push(*slot);
    }
    for o in owned.iter_mut() {
        o.sort();
    }
    let target: Vec<usize> = (0..n).map(|k| NUM_SLOTS * (k + 1) / n - NUM_SLOTS * k / n).collect();
    let mut moves: BTreeMap<(usize, usize), Vec<u16>> = BTreeMap::new();
    let mut surplus: Vec<(usize, Vec<u16>)> = Vec::new();
    for (k, o) in owned.iter_mut().enumerate() {
        if o.len() > target[k] {
            surplus.push((k, o.split_off(target[k])));
        }
    }
    for (k, o) in owned.iter().enumerate() {
        let mut need = target[k].saturating_sub(o.len());
        while need > 0 {
            let Some((src, slots)) = surplus.iter_mut().find(|(_, s)| !s.is_empty()) else { break };
            let take = need.min(slots.len());
            let moved: Vec<u16> = slots.drain(..take).collect();
            moves.entry((*src, k)).or_default().extend(moved);
            need -= take;
        }
    }
    let mut lines = Vec::new();
    if moves.is_empty() {
        lines.push("rebalance: already even".into());
        return Ok(lines);
    }
    let results: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = moves
            .iter()
            .map(|(&(src, dst), slots)| {
                let (ports, ids) = (&ports, &ids);
                scope.spawn(move || -> Result<String, String> {
                    let mut keys = 0;
                    // Batches keep each node's open-slot list (and nodes.conf) short,
                    // and each costs one or two SCANs of the source.
                    for batch in slots.chunks(BATCH_SLOTS) {
                        keys += move_slots(ports, ids, src, dst, batch)?;
                    }
                    Ok(format!(
                        "moved {} slots ({} keys) from {} to {}",
                        slots.len(),
                        keys,
                        pool.instances[src].name,
                        pool.instances[dst].name
                    ))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a mover thread panicked".into()))).collect()
    });
    for r in results {
        lines.push(r?);
    }
    // Refresh every node's view of the others' config epochs (the targets bumped
    // theirs on importing), as the bus would.
    for (k, &p) in ports.iter().enumerate() {
        for (j, &q) in ports.iter().enumerate() {
            if j != k {
                ok(call(p, &["CLUSTER", "MEET", "127.0.0.1", &q.to_string()]), "CLUSTER MEET")?;
            }
        }
    }
    Ok(lines)
}

/// Slots moved per batch.
const BATCH_SLOTS: usize = 1024;

/// CLUSTER SETSLOT <slot> <action> <id> for every slot, pipelined on one connection.
fn setslots(port: u16, slots: &[u16], action: &str, id: &str) -> Result<(), String> {
    let mut c = Client::connect("127.0.0.1", port, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    for chunk in slots.chunks(512) {
        for s in chunk {
            c.send(&["CLUSTER", "SETSLOT", &s.to_string(), action, id]).map_err(|e| e.to_string())?;
        }
        for _ in chunk {
            ok(c.read().map_err(|e| e.to_string()), &format!("CLUSTER SETSLOT {action} on port {port}"))?;
        }
    }
    Ok(())
}

fn move_slots(ports: &[u16], ids: &[String], src: usize, dst: usize, slots: &[u16]) -> Result<usize, String> {
    let (sp, dp) = (ports[src], ports[dst]);
    setslots(dp, slots, "IMPORTING", &ids[src])?;
    setslots(sp, slots, "MIGRATING", &ids[dst])?;
    let moving: std::collections::HashSet<u16> = slots.iter().copied().collect();
    let mut c = Client::connect("127.0.0.1", sp, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let mut moved = 0;
    // While the slots are MIGRATING, a key the source lacks is created on the target
    // (clients get ASK), so the source's keys in them only go away. A SCAN returns every
    // key present throughout it, so the first pass moves all of them but those a
    // MIGRATE skipped (NOKEY: deleted meanwhile); the next pass must find none.
    for pass in 0.. {
        let found = scan_and_migrate(&mut c, dp, &moving)?;
        moved += found;
        if found == 0 {
            break;
        }
        if pass == 10 {
            return Err(format!("keys keep appearing in slots moving from port {sp}"));
        }
    }
    // Target first, then source, then the rest: the source answers ASK until it
    // learns, and never MOVED back.
    let order: Vec<usize> = [dst, src].into_iter().chain((0..ports.len()).filter(|&k| k != src && k != dst)).collect();
    for k in order {
        setslots(ports[k], slots, "NODE", &ids[dst])?;
    }
    Ok(moved)
}

/// One SCAN pass over the source, migrating the keys of `moving` slots as it goes;
/// returns how many keys it found there.
fn scan_and_migrate(c: &mut Client, dst_port: u16, moving: &HashSet<u16>) -> Result<usize, String> {
    let mut found = 0;
    let port = dst_port.to_string();
    let mut cursor = "0".to_string();
    loop {
        let r = c.call(&["SCAN", &cursor, "COUNT", "2000"]).map_err(|e| e.to_string())?;
        let Reply::Array(Some(parts)) = r else { return Err(format!("SCAN: {r:?}")) };
        cursor = parts[0].text().unwrap_or_else(|| "0".into());
        let Reply::Array(Some(keys)) = &parts[1] else { return Err("SCAN: no key list".into()) };
        let mut by_slot: BTreeMap<u16, Vec<&[u8]>> = BTreeMap::new();
        for k in keys {
            if let Reply::Bulk(Some(k)) = k {
                let slot = key_slot(k);
                if moving.contains(&slot) {
                    by_slot.entry(slot).or_default().push(k);
                }
            }
        }
        // One MIGRATE per slot (a MIGRATE's keys must share a slot), all pipelined.
        for keys in by_slot.values() {
            found += keys.len();
            let mut args: Vec<&[u8]> = vec![b"MIGRATE", b"127.0.0.1", port.as_bytes(), b"", b"0", b"10000", b"KEYS"];
            args.extend(keys.iter().copied());
            c.send(&args).map_err(|e| e.to_string())?;
        }
        for _ in 0..by_slot.len() {
            match c.read().map_err(|e| e.to_string())? {
                Reply::Simple(s) if s == "OK" || s == "NOKEY" => {}
                r => return Err(format!("MIGRATE: {r:?}")),
            }
        }
        if cursor == "0" {
            return Ok(found);
        }
    }
}
