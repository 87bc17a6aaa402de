//! A connection's commands execute in the order it sent them, on one shard or many.
//!
//! Redis runs one client's pipeline strictly in order, so another client never sees a
//! later command's effect without the earlier ones' (the job-queue pattern
//! `SET job:7 …; LPUSH queue 7` pipelined without MULTI relies on it: a worker that
//! pops 7 finds the job). Here a pipelined request may travel to another shard
//! (`shard::hopbatch`) while the next one could run at once on this shard; that would
//! execute the later one first. So each connection has a *lane*: where the commands it
//! still owes replies for are executing.
//!
//! - A command whose keys all live on the lane's shard joins it: that shard runs
//!   what arrives from one connection in the order it arrived (a packed buffer, then
//!   the next; deferrals behind locks keep per-client order, `dispatch::must_defer`).
//!   So consecutive commands for one peer still travel together in one packed buffer,
//!   and a turn's records from all connections still share it.
//! - A command for another shard (this one included) waits until every owed reply is
//!   in (`Outcome::Wait`: parsing stops, the request stays parsed in the read buffer,
//!   and the connection resumes in the same turn its last owed reply lands). A reply
//!   is the earliest sign this thread can have that the peer executed the request: it
//!   is written right after the request ran, in the peer's turn.
//! - Split commands (`coord_split`: MSET, MGET, DEL … over shards) keep their own
//!   order among themselves (lock requests in one global order, see its docs), so a
//!   run of them shares one lane; anything else after them waits for their replies.
//! - SELECT, PING, ECHO and CLIENT ID/INFO/GETNAME/SETNAME act on the connection alone
//!   and run at once (`connection_only`).
//! - Other keyless commands (PUBLISH, EXEC, fan-outs, CLIENT …), cross-shard transactions,
//!   scripts that lock every shard, and multi-key commands that cannot be split wait
//!   for everything owed, and whatever follows a transaction waits for it already
//!   (`Outcome::Barrier`).
//!
//! The cost is one round trip per change of shard within a pipeline (`docs/scaling.md`
//! models it). What it need not cost is a send per change of shard: while a request
//! waits, the connection keeps the replies ready before it back
//! (`net::Conn::holds_output`), so the pipeline's replies leave together once the
//! waits are over (as Redis, which runs a whole pipeline before it writes). With one shard, or when a pipeline's commands all go to one shard,
//! nothing ever waits. `pipeline-order per-shard` (`Config::pipeline_order_strict`)
//! turns the waiting off for users who prefer the throughput: each shard still runs a
//! connection's commands in the order they arrived, and replies stay in order.
//!
//! A replica's master link is a connection like the others (reply-off: its replies are
//! dropped, but other clients read what it writes). It keeps its lane, and waits by
//! it under its own setting, `replica-apply-order` (`strict`, the default). Waiting
//! would cost one round trip between shard threads per change of shard in the
//! stream, too slow to keep up with a busy master, so under `strict` the link mostly
//! applies runs of the stream as batches instead (`repl::apply` rule 4) and waits only
//! for what it dispatched outside one. Waiting only holds the link's requests back, so
//! `repl::apply`'s rules for cuts are unchanged.
//!
//! The lane lives in `Session::lane`; `dispatch` checks and sets it, and whoever owns
//! the session resets it to `Lane::Idle` once nothing is owed (the connection layer,
//! or the loaders and the test harness, which finish each command before the next).

use super::Args;
use super::table::{CommandSpec, Handler, KeySpec};
use crate::shard::{ShardState, shard_of};

/// Where a connection's owed commands execute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lane {
    /// Nothing owed: any command may run.
    #[default]
    Idle,
    /// Every owed command runs on this shard, in the order it was sent there.
    Shard(u16),
    /// Split commands over several shards (`coord_split`), ordered among themselves.
    Split,
    /// Anything else (a transaction, a fan-out, a keyless command): nothing may join.
    Many,
}

/// The lane a command would take, computed only while something is owed (the fast
/// path with nothing owed never calls this).
pub fn target(st: &ShardState, spec: &CommandSpec, args: &Args, db: u16, client_id: u64) -> Lane {
    if !matches!(spec.handler, Handler::Keyed(_)) || spec.name == "migrate" {
        return Lane::Many;
    }
    if st.nshards == 1 {
        return Lane::Shard(0);
    }
    if let KeySpec::Range { first, last, .. } = spec.keys
        && first == last
        && (first as usize) < args.len()
    {
        return Lane::Shard(shard_of(args.get(first as usize), st.nshards) as u16);
    }
    if super::script_all::needs_lock_all(st, spec, args) || super::sort::needs_pattern_tx(st, spec, args) {
        return Lane::Many;
    }
    let Ok(owner) = super::dispatch::owner_of_keys(spec, args, db, st.nshards, st.id) else { return Lane::Many };
    if let Some(s) = owner {
        Lane::Shard(s as u16)
    } else if super::coord_split::would_split(st, spec, args, db, client_id) {
        Lane::Split
    } else {
        Lane::Many
    }
}

/// Does the command act on the connection alone (SELECT, PING, ECHO, CLIENT ID / INFO /
/// GETNAME / SETNAME)? No other client can observe when it ran, so it neither waits for
/// owed replies nor takes a lane (a pipeline that switches databases between commands
/// for other shards would otherwise pay a round trip per SELECT). Hopped commands carry
/// their own db. Running at once also keeps CLIENT INFO's `qbuf` as Redis shows it: the
/// whole read, requests before it included (a wait compacts the read buffer).
pub fn connection_only(spec: &CommandSpec, args: &Args) -> bool {
    match spec.name {
        "select" | "ping" | "echo" => true,
        "client" => {
            args.len() == 2 && [&b"id"[..], b"info", b"getname"].iter().any(|s| args.get(1).eq_ignore_ascii_case(s))
                || args.len() == 3 && args.get(1).eq_ignore_ascii_case(b"setname")
        }
        _ => false,
    }
}

/// Does the connection keep its order across shards? Clients do under `pipeline-order
/// strict`; a replica's master link under `replica-apply-order strict` (it is
/// reply-off, but other clients read what it writes). Asked only while something is
/// owed.
pub fn strict(st: &ShardState, client_id: u64) -> bool {
    if st.shared.replica.is_master_client(client_id) {
        st.config.replica_apply_order_strict
    } else {
        st.config.pipeline_order_strict
    }
}

/// May a command for `target` run now, with the connection's owed commands on `lane`?
pub fn may_run(lane: Lane, target: Lane) -> bool {
    match (lane, target) {
        (Lane::Idle, _) => true,
        (Lane::Shard(a), Lane::Shard(b)) => a == b,
        (Lane::Split, Lane::Split) => true,
        _ => false,
    }
}

/// The lane a command leaves behind once dispatched with something owed (Pending or
/// Barrier). `Done` commands owe nothing and leave the lane as it was.
pub fn after(target: Lane) -> Lane {
    match target {
        Lane::Idle => Lane::Many,
        t => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_shard_or_a_run_of_split_commands_joins_a_lane() {
        let (a, b) = (Lane::Shard(0), Lane::Shard(1));
        for t in [a, b, Lane::Split, Lane::Many] {
            assert!(may_run(Lane::Idle, t), "nothing owed: {t:?} runs");
        }
        assert!(may_run(a, a));
        assert!(!may_run(a, b), "a hop's successor on another shard waits");
        assert!(!may_run(b, a), "a local command behind a hop waits");
        assert!(!may_run(a, Lane::Split) && !may_run(Lane::Split, a));
        assert!(may_run(Lane::Split, Lane::Split));
        assert!(!may_run(Lane::Many, Lane::Many) && !may_run(a, Lane::Many) && !may_run(Lane::Many, a));
        assert_eq!(after(Lane::Idle), Lane::Many);
        assert_eq!(after(b), b);
    }
}
