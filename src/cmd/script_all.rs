//! Scripts that may touch undeclared keys on a server with several shards: the
//! lock-all mode.
//!
//! By default a script reaches only its declared keys there (`KEYS`), and any other
//! key gets Redis's cluster-mode error (`cmd::script`). With `lua-undeclared-keys
//! lock-all` (every script), or the `allow-undeclared-keys` flag of one script
//! (`#!lua flags=allow-undeclared-keys`) or function (`redis.register_function`'s
//! `flags`), the script instead runs with the whole keyspace in reach:
//!
//! 1. A fan-out locks every shard whole, in the global transaction order
//!    (`coord::queue_locks`), as FLUSHALL and SORT's patterns do, then stops every
//!    shard at a *led* cut (`persist::cut::cut_led`) whose leader is the client's shard.
//! 2. The leader runs the script as usual (`dispatch::call`, so stats, slowlog,
//!    MONITOR and keyspace events are as for any script) against a scratch keyspace.
//!    Each key a `redis.call` names is copied into the scratch keyspace from its
//!    owner the first time (`reach`): the owners are stopped, so the read is safe.
//! 3. The final state of every key the script wrote goes back to its owner, which, on
//!    its own thread right after the cut, logs it as its part of one tagged block
//!    (`coord::commit_part_hop`; AOF and replicas see all parts or none) and applies
//!    it (tracking, WATCH and blocked clients as for any cross-shard write).
//!
//! Costs (README, scripting): each such script stops every shard for its whole run
//! plus a lock round and a cut (a few message hops), so the server runs one of them
//! at a time and nothing else meanwhile; each key it names is copied once. A script
//! that declares its keys locks only their owners. Inside MULTI the transaction
//! already holds its locks: a script there keeps the error, with a note saying so
//! (`script::NON_LOCAL_IN_MULTI`).

use super::Args;
use super::ctx::FanOut;
use super::table::CommandSpec;
use crate::persist::cut;
use crate::shard::msg::{ExecReq, KeyEntries};
use crate::shard::{ShardState, shard_of};
use crate::storage::Db;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// `lua-undeclared-keys`: does every script get the whole keyspace? Looked up once
/// per config version (a CONFIG SET gives the shard a new `Config`).
fn lock_all_configured(cfg: &crate::config::Config) -> bool {
    thread_local! {
        static CACHED: std::cell::Cell<(usize, bool)> = const { std::cell::Cell::new((0, false)) };
    }
    let key = cfg as *const _ as usize;
    CACHED.with(|c| {
        let (k, v) = c.get();
        if k == key {
            return v;
        }
        let v = cfg.compat_value("lua-undeclared-keys").is_some_and(|v| v == "lock-all");
        c.set((key, v));
        v
    })
}

/// Is `lua-undeclared-keys lock-all` set (for a script that cannot have it: inside
/// MULTI, `cmd::script` says why it errs)?
pub fn configured(cfg: &crate::config::Config) -> bool {
    lock_all_configured(cfg)
}

/// Routing hook (`dispatch::route_keyed`): must this script command run in lock-all
/// mode? Only with several shards (with one, every key is in reach anyway).
pub fn needs_lock_all(st: &ShardState, spec: &CommandSpec, args: &Args) -> bool {
    if st.nshards == 1 || spec.group != "scripting" || args.len() < 3 {
        return false;
    }
    let script = &st.shared.script;
    match spec.name {
        "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro" => {}
        _ => return false,
    }
    if super::script::script_keys(args, 0).is_err() {
        // The ordinary path answers the numkeys error.
        return false;
    }
    if lock_all_configured(&st.config) {
        return true;
    }
    match spec.name {
        "eval" | "eval_ro" => undeclared_flag(args.get(1)),
        "evalsha" | "evalsha_ro" => {
            let sha = String::from_utf8_lossy(args.get(1)).to_ascii_lowercase();
            script.get(&sha).is_some_and(|body| undeclared_flag(&body))
        }
        _ => super::function::allows_undeclared_keys(script, &args.str(1)),
    }
}

fn undeclared_flag(body: &[u8]) -> bool {
    body.starts_with(b"#!") && super::script::shebang_flags(body).is_ok_and(|f| f.undeclared_keys)
}

/// What the leader hands each shard: the final state of its keys the script wrote,
/// and how many shards got some (the tagged block's part count).
struct Parts {
    writes: Vec<KeyEntries>,
    parts: usize,
}

/// Starts a lock-all script for `req` (a script command whose client is on this shard).
pub fn start(st: &mut ShardState, req: ExecReq) {
    let (to, proto, writer) = (req.to, req.proto, req.client_id);
    let slots = Arc::new(Mutex::new(Parts { writes: Vec::new(), parts: 0 }));
    let leader_slots = slots.clone();
    let leader = move |st: &mut ShardState| -> Vec<u8> { run_leader(st, &req, &leader_slots) };
    let each: cut::Each = Arc::new(move |st: &mut ShardState| {
        let (writes, parts) = {
            let mut p = slots.lock().unwrap_or_else(|e| e.into_inner());
            let w = p.writes.get_mut(st.id).map(std::mem::take).unwrap_or_default();
            (w, p.parts)
        };
        if writes.is_empty() {
            return;
        }
        match st.locks.whole_holder() {
            Some(tx) if st.aof.wants_parts() => {
                let marker = super::coord::tx_marker(st, tx, parts);
                let items = (0..writes.len())
                    .map(|pos| super::coord_log::LogItem::State { pos, to: super::coord_log::To::Both })
                    .collect();
                super::coord::commit_part_hop(tx, writer, marker, writes, items)(st);
            }
            _ => super::coord::apply_writes(st, writes, writer),
        }
    });
    let finish = move |_st: &mut ShardState, reply: Option<Vec<u8>>, out: &mut crate::resp::ReplyWriter| match reply {
        Some(r) => out.raw(&r),
        None => out.error("ERR the server is shutting down"),
    };
    let fan: FanOut = cut::cut_led(st.id, leader, Some(each), finish);
    super::coord::start_fanout(st, fan, to, proto);
}

/// The script's run on the leader, every shard stopped: returns the reply.
fn run_leader(st: &mut ShardState, req: &ExecReq, slots: &Mutex<Parts>) -> Vec<u8> {
    let scratch: Vec<Db> = (0..st.dbs.len()).map(|_| Db::new()).collect();
    let mut real = std::mem::replace(&mut st.dbs, scratch);
    let mut out = Vec::new();
    let id = st.id;
    // The scratch run is not this shard's history: each owner logs its part.
    st.aof.suppress += 1;
    REACH.with(|r| *r.borrow_mut() = Some(Reach { now_ms: st.now_ms, nshards: st.nshards, ..Default::default() }));
    cut::lend_own(id, &mut real, || {
        super::dispatch::call(st, req.cmd, &Args::Owned(&req.args), req.db, req.proto, &mut out, req.client_id);
    });
    let reach = REACH.with(|r| r.borrow_mut().take()).unwrap_or_default();
    st.aof.suppress -= 1;
    let mut scratch = std::mem::replace(&mut st.dbs, real);
    let n = st.nshards;
    let mut writes: Vec<KeyEntries> = vec![Vec::new(); n];
    for (db, key) in reach.written {
        let fin = scratch[db as usize].remove(&key, 0);
        writes[shard_of(&key, n)].push((db, key, fin));
    }
    let mut p = slots.lock().unwrap_or_else(|e| e.into_inner());
    p.parts = writes.iter().filter(|w| !w.is_empty()).count();
    p.writes = writes;
    out
}

/// The keys a lock-all script reached so far (copied into its scratch keyspace) and
/// the ones it wrote, in first-write order.
#[derive(Default)]
struct Reach {
    now_ms: u64,
    nshards: usize,
    seen: std::collections::HashSet<(u16, Vec<u8>)>,
    written: Vec<(u16, Vec<u8>)>,
    written_set: std::collections::HashSet<(u16, Vec<u8>)>,
}

thread_local! {
    static REACH: RefCell<Option<Reach>> = const { RefCell::new(None) };
}

/// Is a lock-all script running on this thread?
pub(super) fn active() -> bool {
    REACH.with(|r| r.borrow().is_some())
}

/// Brings the keys a script's command names into its scratch keyspace `dbs`, each
/// the first time (later commands see the script's own changes).
pub(super) fn reach(dbs: &mut [Db], args: &Args, positions: &[(u16, usize)]) {
    REACH.with(|r| {
        let mut r = r.borrow_mut();
        let Some(r) = r.as_mut() else { return };
        for &(db, i) in positions {
            let key = args.get(i);
            if db as usize >= dbs.len() || r.seen.contains(&(db, key.to_vec())) {
                continue;
            }
            r.seen.insert((db, key.to_vec()));
            if let Ok(Some(e)) = cut::peer_entry(shard_of(key, r.nshards), db, key, r.now_ms) {
                dbs[db as usize].set_entry(key, e);
            }
        }
    });
}

/// Notes the keys of a command the script ran that wrote: their final state goes back.
pub(super) fn wrote(args: &Args, positions: &[(u16, usize)]) {
    REACH.with(|r| {
        let mut r = r.borrow_mut();
        let Some(r) = r.as_mut() else { return };
        for &(db, i) in positions {
            let k = (db, args.get(i).to_vec());
            if r.written_set.insert(k.clone()) {
                r.written.push(k);
            }
        }
    });
}

/// KEYS for a lock-all script: the live keys of database `db` that pass `keep`, as the
/// script sees them: each owner's keys the script has not reached, and the reached
/// ones as the scratch keyspace `dbs` holds them now (written, deleted or as copied).
pub(super) fn keys(dbs: &[Db], db: usize, now_ms: u64, keep: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
    REACH.with(|r| {
        let r = r.borrow();
        let Some(r) = r.as_ref() else { return Vec::new() };
        let unreached = |k: &[u8]| r.seen.is_empty() || !r.seen.contains(&(db as u16, k.to_vec()));
        let mut found = Vec::new();
        for shard in 0..r.nshards {
            let _ = cut::peer_db(shard, db as u16, |d| {
                let Some(d) = d else { return };
                found.extend(d.live_keys(now_ms).filter(|k| keep(k) && unreached(k)).map(|k| k.to_vec()));
            });
        }
        if let Some(d) = dbs.get(db) {
            found.extend(d.live_keys(now_ms).filter(|k| keep(k)).map(|k| k.to_vec()));
        }
        found
    })
}

/// DBSIZE for a lock-all script: every owner's count in database `db`, with the keys
/// the script reached counted as its scratch keyspace `dbs` holds them.
pub(super) fn dbsize(dbs: &[Db], db: usize) -> usize {
    REACH.with(|r| {
        let r = r.borrow();
        let Some(r) = r.as_ref() else { return 0 };
        let mut n = 0;
        for shard in 0..r.nshards {
            let _ = cut::peer_db(shard, db as u16, |d| {
                let Some(d) = d else { return };
                let reached_there = r.seen.iter().filter(|(sdb, k)| *sdb as usize == db && d.peek(k).is_some()).count();
                n += d.len() - reached_there;
            });
        }
        n + dbs.get(db).map_or(0, Db::len)
    })
}
