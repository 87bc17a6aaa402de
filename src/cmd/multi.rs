//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queued commands are checked (name, arity, auth) as they arrive and answered
//! `+QUEUED`; a bad one flags the transaction so EXEC answers EXECABORT.
//!
//! EXEC runs on the same intent locks as every cross-shard command (`cmd::coord`):
//! the coordinator queues, in global transaction order, locks on every key the queued
//! commands name plus the WATCHed keys (or whole shards, when a queued command reads
//! or changes a whole shard, like DBSIZE or FLUSHALL). With everything locked it first
//! compares the WATCHed keys' versions, then runs the queued commands in order, each on
//! the shard that owns its keys (`cmd::multi_exec`), and finally releases the locks.
//! No other client can touch those keys in between, so nobody sees a partial
//! transaction, and a runtime error in one command does not stop the others.

use super::ctx::{ConnCtx, ConnOutcome, Session};
use super::multi_exec::ExecPlan;
use super::table::{CommandSpec, Handler, KeySpec, TABLE, flag};
use super::{Args, CmdError};
use crate::resp::ReplyWriter;
use crate::shard::msg::{CoordRef, HopResult, Msg, OwnedArgs};
use crate::shard::{ShardState, shard_of};
use std::sync::Arc;

/// A transaction being queued on a connection.
#[derive(Clone, Debug, Default)]
pub struct MultiQueue {
    pub cmds: Vec<(u16, OwnedArgs, u16)>,
    /// A queued command was rejected: EXEC must abort.
    pub aborted: bool,
    /// The db selected as of the last queued command (SELECT inside MULTI).
    pub db: u16,
}

/// Commands that act on the transaction itself and so are never queued. UNWATCH is
/// not one of them: Redis 7.0 queues it (QUEUED, then OK in EXEC's array).
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

/// Redis's `no-multi` rule, checked after authentication and before the ACL as in
/// `processCommand`: SAVE, SHUTDOWN, SYNC and PSYNC are refused while queuing, and
/// the refusal aborts the transaction. (WATCH and MULTI answer errors of their own.)
pub fn refused_while_queuing(sess: &Session, spec: &CommandSpec) -> Option<&'static str> {
    (sess.multi.is_some() && spec.flags & flag::NO_MULTI != 0 && !runs_inside_multi(spec.name))
        .then_some("ERR Command not allowed inside a transaction")
}

/// Commands Redis queues but refuses when EXEC runs them: MONITOR cannot switch a
/// client into streaming mode halfway through EXEC's reply (Redis marks a client in
/// EXEC "deny blocking", and MONITOR refuses such clients).
fn refused_at_exec(spec: &CommandSpec) -> Option<&'static str> {
    (spec.name == "monitor").then_some("ERR MONITOR isn't allowed for DENY BLOCKING client")
}

/// Queues a command during MULTI. Called by dispatch after lookup, arity and auth.
/// A SELECT of one of the `dbs` databases changes the db the next commands queue
/// with; one of a db that does not exist fails at EXEC and changes nothing, as in Redis.
pub fn enqueue(sess: &mut Session, idx: u16, args: &Args, dbs: usize, out: &mut ReplyWriter) {
    let spec = TABLE.get(idx);
    let q = sess.multi.as_mut().expect("in MULTI");
    if spec.name == "select"
        && let Some(n) = crate::util::num::parse_i64(args.get(1)).filter(|n| *n >= 0 && (*n as usize) < dbs)
    {
        q.db = n as u16;
    }
    q.cmds.push((idx, args.to_owned(), q.db));
    out.simple("QUEUED");
}

fn multi(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    if c.sess.multi.is_some() {
        return Err(CmdError::msg("ERR MULTI calls can not be nested"));
    }
    c.sess.multi = Some(MultiQueue { db: c.sess.db, ..Default::default() });
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.multi = 0;
    }
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn discard(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    let Some(q) = c.sess.multi.take() else {
        return Err(CmdError::msg("ERR DISCARD without MULTI"));
    };
    super::script::discard_queued(c.st, c.sess.id, &q.cmds);
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.multi = -1;
    }
    drop_watches(c.st, c.sess.id);
    c.out.ok();
    Ok(ConnOutcome::Done)
}

/// Whether a command counts as a write and may run on a stale replica, for the replica
/// checks: EXEC takes them from its queued commands, as Redis's `processCommand` does
/// (a transaction queued while the link was up is refused whole once it is down).
pub fn write_and_stale_flags(sess: &Session, spec: &CommandSpec) -> (bool, bool) {
    let (write, stale) = (spec.is_write(), spec.flags & flag::STALE != 0);
    match sess.multi.as_ref() {
        Some(q) if spec.name == "exec" => (
            write || q.cmds.iter().any(|(i, _, _)| TABLE.get(*i).is_write()),
            stale && q.cmds.iter().all(|(i, _, _)| TABLE.get(*i).flags & flag::STALE != 0),
        ),
        _ => (write, stale),
    }
}

/// Ends a transaction without running it (EXEC refused for OOM): as DISCARD.
pub fn abort_exec(st: &mut ShardState, sess: &mut Session) {
    if let Some(q) = sess.multi.take() {
        super::script::discard_queued(st, sess.id, &q.cmds);
    }
    if let Some(m) = st.clients.get_mut(&sess.id) {
        m.multi = -1;
    }
    drop_watches(st, sess.id);
}

/// Applies to a client's session what the busy door did to its transaction while a
/// script was busy (`server::busy_door`): the transaction it had ended (EXEC refused,
/// DISCARD; its WATCHes dropped, also by UNWATCH), one it began (MULTI), and whether a
/// refused command must make EXEC abort.
pub fn apply_busy_effects(st: &mut ShardState, sess: &mut Session, fx: crate::server::busy_door::TxEffects) {
    if fx.ended {
        abort_exec(st, sess);
    }
    if !fx.in_multi {
        return;
    }
    if sess.multi.is_none() {
        sess.multi = Some(MultiQueue { db: sess.db, ..Default::default() });
        if let Some(m) = st.clients.get_mut(&sess.id) {
            m.multi = 0;
        }
    }
    if let Some(q) = sess.multi.as_mut() {
        q.aborted |= fx.dirty;
    }
}

/// Forgets a client's WATCHes, telling the owning shards (fire and forget: the hop's
/// answer goes to a coordinator id that does not exist and is dropped).
pub fn drop_watches(st: &mut ShardState, client: u64) {
    let Some(ws) = st.client_watches.remove(&client) else { return };
    let mut per_shard: Vec<Vec<(u16, Vec<u8>)>> = vec![Vec::new(); st.nshards];
    for (shard, db, key, _) in ws {
        per_shard[shard as usize].push((db, key));
    }
    let me = CoordRef { shard: st.id as u16, id: 0 };
    for (s, keys) in per_shard.into_iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        let hop = Arc::new(move |st: &mut ShardState| -> HopResult {
            for (db, k) in &keys {
                st.watch.unwatch(*db, k);
            }
            Box::new(())
        });
        st.outbox.push(s, Msg::Run { coord: me, hop });
    }
}

fn unwatch(c: &mut ConnCtx, _a: &Args) -> Result<ConnOutcome, CmdError> {
    drop_watches(c.st, c.sess.id);
    c.out.ok();
    Ok(ConnOutcome::Done)
}

fn watch(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if c.sess.multi.is_some() {
        return Err(CmdError::msg("ERR WATCH inside MULTI is not allowed"));
    }
    let db = c.sess.db;
    let keys: Arc<Vec<Vec<u8>>> = Arc::new(a.iter().skip(1).map(|k| k.to_vec()).collect());
    let client = c.sess.id;
    let hop_keys = keys.clone();
    Ok(ConnOutcome::FanOut(super::ctx::FanOut {
        // Each shard registers the keys it owns and returns their versions.
        hop: Arc::new(move |st: &mut ShardState| -> HopResult {
            let (mut got, now) = (Vec::new(), st.now_ms);
            for k in hop_keys.iter() {
                if shard_of(k, st.nshards) == st.id {
                    let stale = st.dbs[db as usize]
                        .peek_with_expire(k)
                        .is_some_and(|(_, at)| crate::storage::has_expired(at, now));
                    got.push((db, k.clone(), st.watch.watch(db, k, stale)));
                }
            }
            Box::new(got)
        }),
        lock_whole: false,
        finish: Box::new(move |st, results, out| {
            let list = st.client_watches.entry(client).or_default();
            for (shard, r) in results {
                let got = r.downcast::<Vec<(u16, Vec<u8>, u64)>>().expect("watch hop result");
                list.extend(got.into_iter().map(|(d, k, v)| (shard, d, k, v)));
            }
            out.ok();
        }),
    }))
}

fn exec(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let Some(q) = c.sess.multi.take() else {
        return Err(CmdError::msg("ERR EXEC without MULTI"));
    };
    if let Some(m) = c.st.clients.get_mut(&c.sess.id) {
        m.multi = -1;
    }
    let watches = c.st.client_watches.remove(&c.sess.id).unwrap_or_default();
    // Redis checks min-replicas-to-write for EXEC as for a write when a queued command
    // writes, before running any (`processCommand`): a transaction queued while the
    // replicas were good is refused whole if they no longer are.
    let refusal =
        if crate::repl::master::too_few_replicas(c.st) && q.cmds.iter().any(|(i, _, _)| TABLE.get(*i).is_write()) {
            Some("EXECABORT Transaction discarded because of: NOREPLICAS Not enough good replicas to write.")
        } else if q.aborted {
            Some("EXECABORT Transaction discarded because of previous errors.")
        } else {
            None
        };
    if let Some(msg) = refusal {
        super::script::discard_queued(c.st, c.sess.id, &q.cmds);
        c.st.client_watches.insert(c.sess.id, watches);
        drop_watches(c.st, c.sess.id);
        return Err(CmdError::msg(msg));
    }
    // SELECT inside the transaction leaves the connection on the last db it chose.
    let session = c.sess.clone();
    c.sess.db = q.db;
    let word = a.get(0).to_vec();
    // Redis 7.0 checks every queued command's permissions again at EXEC: ACL rules
    // may have changed since it was queued. A refused command answers its NOPERM error
    // in its slot (and is logged), the others run.
    let refused = q
        .cmds
        .iter()
        .map(|(idx, args, _)| {
            super::acl::recheck_queued(c.st, c.sess, *idx, &Args::Owned(args))
                .or_else(|| refused_at_exec(TABLE.get(*idx)).map(str::to_owned))
        })
        .collect();
    Ok(ConnOutcome::Exec(Box::new(ExecPlan { cmds: q.cmds, watches, session, word, refused, owners: Vec::new() })))
}

const fn tx_cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    f: super::table::ConnFn,
    summary: &'static str,
    since: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        keys: KeySpec::None,
        handler: Handler::Conn(f),
        group: "transactions",
        summary,
        since,
    }
}

pub static COMMANDS: &[CommandSpec] = &[
    tx_cmd(
        "multi",
        1,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY,
        multi,
        "Starts a transaction.",
        "1.2.0",
    ),
    tx_cmd(
        "exec",
        1,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::SKIP_SLOWLOG,
        exec,
        "Executes all commands in a transaction.",
        "1.2.0",
    ),
    tx_cmd(
        "discard",
        1,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY,
        discard,
        "Discards a transaction.",
        "2.0.0",
    ),
    tx_cmd(
        "watch",
        -2,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY | flag::NO_MULTI,
        watch,
        "Monitors changes to keys to determine the execution of a transaction.",
        "2.2.0",
    ),
    tx_cmd(
        "unwatch",
        1,
        flag::NOSCRIPT | flag::LOADING | flag::STALE | flag::FAST | flag::ALLOW_BUSY,
        unwatch,
        "Forgets about watched keys of a transaction.",
        "2.2.0",
    ),
];

#[cfg(test)]
mod tests {
    use super::super::ctx::Session;
    use super::super::harness::{Harness, Reply};

    fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    fn queued() -> Reply {
        Reply::Simple("QUEUED".into())
    }

    /// Runs `args` as a second client (its own session), then switches back.
    fn as_other(h: &mut Harness, other: &mut Session, args: &[&str]) -> Reply {
        std::mem::swap(&mut h.sess, other);
        let r = h.run(args);
        std::mem::swap(&mut h.sess, other);
        r
    }

    /// A queued SELECT of a db that does not exist fails at EXEC and the commands after
    /// it run in the db the transaction was in, as in Redis (they were queued with db
    /// 99, and the server died indexing it).
    #[test]
    fn a_queued_select_of_a_missing_db_changes_nothing() {
        for n in [1, 2] {
            let mut h = Harness::new(n);
            assert_eq!(h.run(&["multi"]), ok());
            assert_eq!(h.run(&["select", "99"]), queued());
            assert_eq!(h.run(&["set", "a", "1"]), queued());
            assert_eq!(h.run(&["select", "1"]), queued());
            assert_eq!(h.run(&["set", "b", "2"]), queued());
            let Reply::Array(r) = h.run(&["exec"]) else { panic!("EXEC answers an array") };
            assert!(matches!(&r[0], Reply::Error(e) if e == "ERR DB index is out of range"), "{r:?}");
            assert_eq!(r[1..], [ok(), ok(), ok()]);
            assert_eq!(h.run(&["get", "b"]), Reply::bulk("2"), "SELECT 1 held");
            assert_eq!(h.run(&["select", "0"]), ok());
            assert_eq!(h.run(&["get", "a"]), Reply::bulk("1"), "the SET after SELECT 99 ran in db 0");
        }
    }

    #[test]
    fn exec_runs_queued_commands_across_shards() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            assert_eq!(h.run(&["multi"]), ok());
            assert_eq!(h.run(&["set", "a", "1"]), queued());
            assert_eq!(h.run(&["incr", "a"]), queued());
            assert_eq!(h.run(&["mset", "b", "x", "c", "y", "d", "z"]), queued());
            assert_eq!(h.run(&["mget", "a", "b", "c", "d"]), queued());
            assert_eq!(h.run(&["dbsize"]), queued());
            assert_eq!(h.run(&["ping"]), queued());
            assert_eq!(
                h.run(&["exec"]),
                Reply::Array(vec![
                    ok(),
                    Reply::Int(2),
                    ok(),
                    Reply::Array(vec![Reply::bulk("2"), Reply::bulk("x"), Reply::bulk("y"), Reply::bulk("z")]),
                    Reply::Int(4),
                    Reply::Simple("PONG".into()),
                ]),
                "{n} shards"
            );
            for s in &h.shards {
                assert!(s.locks.is_idle());
            }
            assert_eq!(h.run(&["get", "c"]), Reply::bulk("y"));
        }
    }

    #[test]
    fn queue_errors_abort_and_runtime_errors_do_not() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["multi"]);
            assert!(matches!(h.run(&["nosuchcmd"]), Reply::Error(_)));
            h.run(&["set", "k", "v"]);
            assert_eq!(
                h.run(&["exec"]),
                Reply::Error("EXECABORT Transaction discarded because of previous errors.".into())
            );
            assert_eq!(h.run(&["get", "k"]), Reply::Nil);

            h.run(&["multi"]);
            assert!(matches!(h.run(&["get"]), Reply::Error(_)));
            assert!(matches!(h.run(&["exec"]), Reply::Error(e) if e.starts_with("EXECABORT")));

            h.run(&["multi"]);
            h.run(&["set", "s", "notanumber"]);
            h.run(&["incr", "s"]);
            h.run(&["set", "t", "1"]);
            let r = h.run(&["exec"]);
            let Reply::Array(items) = r else { panic!("array") };
            assert_eq!(items[0], ok());
            assert!(matches!(&items[1], Reply::Error(e) if e.contains("not an integer")));
            assert_eq!(items[2], ok());
        }
    }

    #[test]
    fn nesting_and_stray_exec_discard() {
        let mut h = Harness::new(2);
        assert_eq!(h.run(&["exec"]), Reply::Error("ERR EXEC without MULTI".into()));
        assert_eq!(h.run(&["discard"]), Reply::Error("ERR DISCARD without MULTI".into()));
        h.run(&["multi"]);
        assert_eq!(h.run(&["multi"]), Reply::Error("ERR MULTI calls can not be nested".into()));
        assert_eq!(h.run(&["watch", "x"]), Reply::Error("ERR WATCH inside MULTI is not allowed".into()));
        h.run(&["set", "x", "1"]);
        assert_eq!(h.run(&["discard"]), ok());
        assert_eq!(h.run(&["get", "x"]), Reply::Nil);
    }

    #[test]
    fn watch_aborts_when_another_client_writes() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            let mut other = Session::new(2, false);
            h.run(&["set", "w", "0"]);
            assert_eq!(h.run(&["watch", "w", "unrelated"]), ok());
            assert_eq!(as_other(&mut h, &mut other, &["set", "w", "1"]), ok());
            h.run(&["multi"]);
            h.run(&["set", "w", "2"]);
            assert_eq!(h.run(&["exec"]), Reply::Nil, "{n} shards");
            assert_eq!(h.run(&["get", "w"]), Reply::bulk("1"));
            // Watches are gone after EXEC: the next transaction runs.
            h.run(&["multi"]);
            h.run(&["set", "w", "3"]);
            assert_eq!(h.run(&["exec"]), Reply::Array(vec![ok()]));
            for s in &h.shards {
                assert!(s.watch.is_empty(), "watch table cleaned on shard {}", s.id);
            }
        }
    }

    #[test]
    fn watch_untouched_key_lets_exec_run_and_flush_or_expiry_abort() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["set", "a", "1"]);
            h.run(&["watch", "a"]);
            h.run(&["multi"]);
            h.run(&["incr", "a"]);
            assert_eq!(h.run(&["exec"]), Reply::Array(vec![Reply::Int(2)]));

            h.run(&["watch", "a"]);
            h.run(&["flushdb"]);
            h.run(&["multi"]);
            h.run(&["set", "a", "9"]);
            assert_eq!(h.run(&["exec"]), Reply::Nil);

            h.run(&["set", "e", "v", "px", "100"]);
            h.run(&["watch", "e"]);
            h.advance_ms(200);
            h.run(&["multi"]);
            h.run(&["set", "e", "again"]);
            assert_eq!(h.run(&["exec"]), Reply::Nil, "expired watched key aborts ({n} shards)");
        }
    }

    #[test]
    fn select_inside_multi_applies_to_later_commands() {
        let mut h = Harness::new(3);
        h.run(&["multi"]);
        h.run(&["select", "2"]);
        h.run(&["set", "k", "in2"]);
        assert_eq!(h.run(&["exec"]), Reply::Array(vec![ok(), ok()]));
        assert_eq!(h.run(&["get", "k"]), Reply::bulk("in2"));
        h.run(&["select", "0"]);
        assert_eq!(h.run(&["get", "k"]), Reply::Nil);
    }
}
