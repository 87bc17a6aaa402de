//! Which node serves a request: Redis's `getNodeByQuery`, in its order, with its
//! error texts. `check` runs in dispatch (on the connection's thread, before routing);
//! `recheck` runs again on the shard that executes a request that travelled or waited
//! (an `Exec` from another thread, a deferred request), because a slot can move, or a
//! key leave by MIGRATE, between the two.
//!
//! Whether a key exists matters only while its slot is migrating or importing. The
//! keys of one slot all live on shard `slot % shards`; when that is not the
//! connection's shard, `check` leaves the existence test to `recheck` there.

use super::state::UNASSIGNED;
use crate::cmd::Args;
use crate::cmd::ctx::Session;
use crate::cmd::table::{CommandSpec, KeySpec};
use crate::shard::ShardState;
use crate::shard::msg::ExecReq;
use crate::util::hash::key_slot;

pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
pub const TRYAGAIN: &str = "TRYAGAIN Multiple keys request during rehashing of slot";
pub const DOWN: &str = "CLUSTERDOWN The cluster is down";
pub const UNBOUND: &str = "CLUSTERDOWN Hash slot not served";

/// The shard channels of SPUBLISH, SSUBSCRIBE and SUNSUBSCRIBE: not keys (they route
/// nowhere within an instance), but in cluster mode their slots choose the node, as
/// keys' do (Redis's `getNodeByQuery` for pub/sub shard commands).
fn shard_channels(spec: &CommandSpec, args: &Args) -> Option<Vec<usize>> {
    match spec.name {
        "spublish" if args.len() == 3 => Some(vec![1]),
        "ssubscribe" | "sunsubscribe" => Some((1..args.len()).collect()),
        _ => None,
    }
}

/// The slot of every key (or shard channel) of the request, or the CROSSSLOT error.
/// `None` when the command has no keys (or its key list is malformed: the handler
/// reports that).
fn request_slot(spec: &CommandSpec, args: &Args, db: u16) -> Result<Option<(u16, Vec<usize>)>, &'static str> {
    let positions: Vec<usize> = if let Some(channels) = shard_channels(spec, args) {
        channels
    } else {
        match spec.keys {
            KeySpec::None => return Ok(None),
            KeySpec::Range { first, last, .. } if first == last => {
                if (first as usize) < args.len() && first > 0 {
                    vec![first as usize]
                } else {
                    return Ok(None);
                }
            }
            _ => match spec.key_positions(args, db) {
                Ok(k) => k.into_iter().map(|(_, i)| i).collect(),
                Err(_) => return Ok(None),
            },
        }
    };
    let Some(&first) = positions.first() else { return Ok(None) };
    let slot = key_slot(args.get(first));
    if positions.iter().any(|&i| key_slot(args.get(i)) != slot) {
        return Err(CROSSSLOT);
    }
    Ok(Some((slot, positions)))
}

/// (missing, existing) counts of the request's keys in this shard's db.
fn existence(st: &mut ShardState, args: &Args, db: u16, positions: &[usize]) -> (usize, usize) {
    let now = st.now_ms;
    let d = &mut st.dbs[db as usize];
    let existing = positions.iter().filter(|&&i| d.contains(args.get(i), now)).count();
    (positions.len() - existing, existing)
}

/// The redirection or refusal for a request in cluster mode, if any. Consumes the
/// session's ASKING flag (it is good for one command).
pub fn check(st: &mut ShardState, sess: &mut Session, spec: &CommandSpec, args: &Args) -> Option<String> {
    let asking = std::mem::take(&mut sess.asking) || spec.name == "restore-asking";
    if spec.name == "asking" {
        return None;
    }
    if st.shared.replica.is_master_client(sess.id) {
        return None;
    }
    if spec.name == "select" && args.len() == 2 && args.i64(1).is_ok_and(|db| db != 0) {
        return Some("ERR SELECT is not allowed in cluster mode".into());
    }
    let (slot, positions) = match request_slot(spec, args, sess.db) {
        Ok(Some(x)) => x,
        Ok(None) => return None,
        Err(e) => return Some(e.into()),
    };
    let cluster = &st.shared.cluster;
    let (owner, migrating_to, importing, down) = {
        let cs = cluster.read();
        let owner = cs.slots[slot as usize];
        if owner == UNASSIGNED {
            return Some(UNBOUND.into());
        }
        let migrating_to = if owner == 0 { cs.migrating.get(&slot).map(|&n| node_addr(&cs, n)) } else { None };
        let importing = cs.importing.contains_key(&slot);
        let down = !cs.all_assigned() && st.config.compat_value("cluster-require-full-coverage") != Some("no");
        let owner = if owner == 0 { None } else { Some(node_addr(&cs, owner)) };
        (owner, migrating_to, importing, down)
    };
    if down && shard_channels(spec, args).is_some() {
        // Shard channels have their own switch, on by default (Redis 7.0).
        if st.config.compat_value("cluster-allow-pubsubshard-when-down") == Some("no") {
            return Some(DOWN.into());
        }
    } else if down {
        let reads_ok = st.config.compat_value("cluster-allow-reads-when-down") == Some("yes");
        if !reads_ok {
            return Some(DOWN.into());
        }
        if spec.is_write() {
            return Some("CLUSTERDOWN The cluster is down and only accepts read commands".into());
        }
    }
    // MIGRATE works on the local node while the slot is open either way.
    if (migrating_to.is_some() || importing) && spec.name == "migrate" {
        return None;
    }
    // A shard channel is served by the slot's owner until the slot has moved: no
    // existence test, as in Redis.
    if shard_channels(spec, args).is_some() {
        return owner.map(|addr| format!("MOVED {slot} {addr}"));
    }
    let local = slot as usize % st.nshards == st.id;
    if let Some(to) = &migrating_to
        && local
    {
        let (missing, existing) = existence(st, args, sess.db, &positions);
        if missing > 0 {
            return Some(if existing > 0 { TRYAGAIN.into() } else { format!("ASK {slot} {to}") });
        }
    }
    if importing && asking {
        if positions.len() > 1 && local && existence(st, args, sess.db, &positions).0 > 0 {
            return Some(TRYAGAIN.into());
        }
        return None;
    }
    owner.map(|addr| format!("MOVED {slot} {addr}"))
}

/// The check again on the executing shard, for a request that travelled or waited:
/// the slot may have moved (MOVED) or the keys left by MIGRATE (ASK / TRYAGAIN).
/// Requests for importing slots passed ASKING at dispatch and are left alone.
pub fn recheck(st: &mut ShardState, req: &ExecReq) -> Option<String> {
    if st.shared.replica.is_master_client(req.client_id) {
        return None;
    }
    let spec = crate::cmd::table::TABLE.get(req.cmd);
    let args = Args::Owned(&req.args);
    let (slot, positions) = match request_slot(spec, &args, req.db) {
        Ok(Some(x)) => x,
        _ => return None,
    };
    let (owner, migrating_to) = {
        let cs = st.shared.cluster.read();
        let owner = cs.slots[slot as usize];
        if owner == UNASSIGNED || cs.importing.contains_key(&slot) {
            return None;
        }
        let migrating_to = if owner == 0 { cs.migrating.get(&slot).map(|&n| node_addr(&cs, n)) } else { None };
        (if owner == 0 { None } else { Some(node_addr(&cs, owner)) }, migrating_to)
    };
    if let Some(addr) = owner {
        return Some(format!("MOVED {slot} {addr}"));
    }
    if let Some(to) = migrating_to {
        let (missing, existing) = existence(st, &args, req.db, &positions);
        if missing > 0 {
            return Some(if existing > 0 { TRYAGAIN.into() } else { format!("ASK {slot} {to}") });
        }
    }
    None
}

fn node_addr(cs: &super::state::ClusterState, idx: u16) -> String {
    let n = &cs.nodes[idx as usize];
    format!("{}:{}", n.ip, n.port)
}
