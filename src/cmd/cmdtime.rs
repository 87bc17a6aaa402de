//! Command timing (INFO commandstats, latency histograms, SLOWLOG, LATENCY events)
//! with as few clock readings as a pipelined batch allows.
//!
//! A clock reading costs about 26 ns on this VM (`rdtsc`, see `util::stopwatch`), close
//! to a tenth of a pipelined GET's whole cost. So:
//! - Outside a batch (inbox messages, scripts' callers, ...) a command reads the clock
//!   at its start and at its end.
//! - In a pipelined batch (`ShardState::cmd_chain`, set by the connection layer) the
//!   reading that ends one command starts the next (`ShardState::cmd_stamp`).
//! - In a batch, commands of bounded cost are not read at all: they join a *group*
//!   whose time is read once when the group closes (after `GROUP_MAX` commands, before
//!   and after a command timed on its own, at the end of the batch) and shared evenly
//!   among its members. Bounded cost means: flagged `fast` (O(1) or O(log N)), or SET;
//!   no subcommands (their histograms are per subcommand); a request of at most
//!   `BIG_REQUEST` bytes; and, checked after the command ran, a reply of at most
//!   `BIG_REPLY` bytes (a larger one closes the group at once).
//!
//! What grouping changes, and why that is acceptable: such a command's only way to be
//! slow is to be preempted, and its time is below a microsecond, which is what its
//! commandstats `usec` and histogram bucket resolve anyway. For SLOWLOG, a group that
//! took at least `slowlog-log-slower-than` is logged once, under the command that
//! closed it, with the group's time (a group closed by the end of the batch has no
//! command left to name and is not logged). Grouping is off while
//! `slowlog-log-slower-than` is 0 (log every command with its own time) or
//! `latency-monitor-threshold` is set (events are per command), so both keep Redis's
//! exact per-command semantics when someone is looking.

use super::Args;
use super::introspect::CONTAINERS;
use super::table::{TABLE, flag};
use crate::acl::cmdacl::AclId;
use crate::resp::SCRATCH_FLAG;
use crate::shard::ShardState;
use crate::shard::stats::{CmdStat, ShardStats};
use crate::util::stopwatch::Stopwatch;
use std::sync::OnceLock;

/// Commands per group: keeps a preempted group's time from being spread too thin, and
/// bounds the state.
const GROUP_MAX: usize = 16;
/// A request longer than this is timed on its own (copying it is work that scales).
const BIG_REQUEST: usize = 64 << 10;
/// A reply longer than this closes its command's group at once.
pub(super) const BIG_REPLY: usize = 64 << 10;

/// The commands timed together since `ShardState::cmd_stamp`, by table index.
#[derive(Default)]
pub struct CmdGroup {
    members: [u16; GROUP_MAX],
    len: usize,
}

/// How the running command is timed: from its own start reading, or as a group member.
#[derive(Clone, Copy)]
pub enum Timing {
    Own(Stopwatch),
    Grouped,
}

/// Per command index: may it be timed in a group (before the per-call checks).
pub(super) fn groupable_command(idx: u16) -> bool {
    static GROUPABLE: OnceLock<Vec<bool>> = OnceLock::new();
    let table = GROUPABLE.get_or_init(|| {
        (0..TABLE.len())
            .map(|i| {
                let spec = TABLE.get(i as u16);
                (spec.flags & flag::FAST != 0 || spec.name == "set") && !CONTAINERS.contains(&spec.name)
            })
            .collect()
    });
    table.get(idx as usize).copied().unwrap_or(false)
}

fn request_bytes(args: &Args) -> usize {
    match args {
        // The arguments' total without resolving each one (the per-command path).
        Args::Ranges { ranges, .. } => ranges.iter().map(|r| r.1.wrapping_sub(r.0 & !SCRATCH_FLAG) as usize).sum(),
        _ => args.iter().map(|a| a.len()).sum(),
    }
}

/// Starts timing command `idx`: as a group member when it qualifies, else on its own
/// (closing any open group with the reading that starts it).
#[inline]
pub fn begin(st: &mut ShardState, idx: u16, args: &Args) -> Timing {
    if st.cmd_chain
        && groupable_command(idx)
        && st.config.slowlog_log_slower_than != 0
        && st.config.latency_monitor_threshold == 0
        && request_bytes(args) <= BIG_REQUEST
    {
        if st.cmd_stamp.is_none() {
            st.cmd_stamp = Some(Stopwatch::now());
        }
        return Timing::Grouped;
    }
    Timing::Own(begin_own(st))
}

/// Are groups formed at all (see the module docs: not while someone looks per command)?
#[inline]
pub(super) fn groups_allowed(st: &ShardState) -> bool {
    st.config.slowlog_log_slower_than != 0 && st.config.latency_monitor_threshold == 0
}

/// How many more members the open group takes before it closes.
#[inline]
pub(super) fn group_room(st: &ShardState) -> usize {
    GROUP_MAX - st.cmd_group.len
}

/// Starts a run of grouped commands (`cmd::fastrun`), as `begin` starts each of them.
#[inline]
pub(super) fn begin_run(st: &mut ShardState) {
    if st.cmd_stamp.is_none() {
        st.cmd_stamp = Some(Stopwatch::now());
    }
}

/// Ends a run of `n` equal grouped commands (at most `group_room`), `failed` of them
/// with an error, as `end` would have ended each: counts them and adds them to the
/// open group, which closes when they fill it or the last one (`last`, the only one
/// that may have) wrote a big reply, with `last` as the closing command.
pub(super) fn end_run(
    st: &mut ShardState,
    idx: u16,
    n: usize,
    failed: usize,
    last: &Args,
    client_id: u64,
    big_reply: bool,
) {
    debug_assert!(n >= 1 && n <= group_room(st) && !st.uncounted);
    st.stats.total_commands += n as u64;
    let stats = &mut st.stats.commands;
    if stats.len() <= idx as usize {
        stats.resize(TABLE.len(), Default::default());
    }
    let c = &mut stats[idx as usize];
    c.calls += n as u64;
    c.failed_calls += failed as u64;
    let g = &mut st.cmd_group;
    g.members[g.len..g.len + n].fill(idx);
    g.len += n;
    if g.len == GROUP_MAX || big_reply {
        let now = Stopwatch::now();
        close_group(st, now, Some((idx, last, client_id)));
        st.cmd_stamp = Some(now);
    }
}

/// The start reading of a command timed on its own.
#[inline]
pub fn begin_own(st: &mut ShardState) -> Stopwatch {
    if st.cmd_group.len > 0 {
        let now = Stopwatch::now();
        close_group(st, now, None);
        st.cmd_stamp = None;
        return now;
    }
    st.cmd_stamp.take().unwrap_or_else(Stopwatch::now)
}

/// Ends command `idx`'s timing and counts the call. `slowlog`: false when the caller
/// logs it itself (a fan-out, once its results are in). `reply_bytes`: what it wrote.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn end(
    st: &mut ShardState,
    idx: u16,
    timing: Timing,
    failed: bool,
    args: &Args,
    client_id: u64,
    slowlog: bool,
    reply_bytes: usize,
) {
    if st.uncounted {
        // One part of a split command: another part counts it (`coord_split`).
        if let Timing::Own(_) = timing
            && st.cmd_chain
        {
            st.cmd_stamp = Some(Stopwatch::now());
        }
        return;
    }
    match timing {
        Timing::Grouped => {
            count_call(st, idx, failed);
            let g = &mut st.cmd_group;
            g.members[g.len] = idx;
            g.len += 1;
            if g.len == GROUP_MAX || reply_bytes > BIG_REPLY {
                let now = Stopwatch::now();
                close_group(st, now, Some((idx, args, client_id)));
                st.cmd_stamp = Some(now);
            }
        }
        Timing::Own(start) => record_own(st, idx, start, failed, args, client_id, slowlog),
    }
}

/// The connection's batch is over: closes the open group, if any.
pub fn end_batch(st: &mut ShardState) {
    if st.cmd_group.len > 0 {
        close_group(st, Stopwatch::now(), None);
    }
    st.cmd_stamp = None;
}

/// Shares the time from `cmd_stamp` to `now` among the group's members; logs it as
/// slow under `closer` (the command that closed the group) when it reaches the
/// SLOWLOG threshold.
fn close_group(st: &mut ShardState, now: Stopwatch, closer: Option<(u16, &Args, u64)>) {
    let n = std::mem::take(&mut st.cmd_group.len);
    let total = st.cmd_stamp.map(|s| s.until(now)).unwrap_or_default();
    // In u64: a 128-bit division (`__udivti3`) showed in profiles.
    let share = total.as_nanos() as u64 / n as u64 / 1000;
    let tracking = st.config.latency_tracking;
    // Members share one time, and a pipeline mostly repeats one command: account each
    // run of equal commands at once.
    let members = st.cmd_group.members;
    let mut i = 0;
    while i < n {
        let idx = members[i];
        let run = members[i..n].iter().take_while(|&&m| m == idx).count();
        if tracking {
            st.stats.latency.record_n(idx, share, run as u32);
        }
        st.stats.commands[idx as usize].usec += share * run as u64;
        i += run;
    }
    let us = total.as_micros() as u64;
    let threshold = st.config.slowlog_log_slower_than;
    if let Some((idx, args, client_id)) = closer
        && threshold >= 0
        && us >= threshold as u64
        && TABLE.get(idx).flags & flag::SKIP_SLOWLOG == 0
    {
        slowlog_add(st, us, args.iter(), client_id);
    }
}

/// A command timed on its own: reads the end, feeds every record.
fn record_own(
    st: &mut ShardState,
    idx: u16,
    start: Stopwatch,
    failed: bool,
    args: &Args,
    client_id: u64,
    slowlog: bool,
) {
    let end = Stopwatch::now();
    // A group opened inside this command (the commands a script or EXEC ran) closes
    // with the same reading.
    if st.cmd_group.len > 0 {
        close_group(st, end, None);
    }
    if st.cmd_chain {
        st.cmd_stamp = Some(end);
    }
    let us = start.until(end).as_micros() as u64;
    let threshold = st.config.slowlog_log_slower_than;
    if (slowlog && threshold >= 0 && us >= threshold as u64) || st.config.latency_monitor_threshold > 0 {
        log_slow(st, idx, us, args, client_id, slowlog);
    }
    account(st, stat_slot(idx, args), failed, us);
}

/// Ends the timing of a command that finishes later (a fan-out): the chain's next
/// command starts here, and `finished` counts it once its reply is written, so INFO
/// does not count itself, as in Redis (which counts a call after it returns).
pub fn end_unfinished(st: &mut ShardState) {
    let end = Stopwatch::now();
    if st.cmd_group.len > 0 {
        close_group(st, end, None);
    }
    if st.cmd_chain {
        st.cmd_stamp = Some(end);
    }
}

/// Counts a command `end_unfinished` left open, `us` after it started.
pub fn finished(st: &mut ShardState, slot: StatSlot, failed: bool, us: u64) {
    if let StatSlot::Command(idx) = slot
        && st.config.latency_monitor_threshold > 0
    {
        let event = if TABLE.get(idx).flags & flag::FAST != 0 { "fast-command" } else { "command" };
        super::latency::add_sample_if_needed(st, event, us / 1000);
    }
    account(st, slot, failed, us);
}

/// Where a call is counted (INFO commandstats, latency histograms): a container's
/// subcommand under its own `container|sub` name, as Redis 7.0 does; `None` for a
/// subcommand Redis does not know (Redis rejects it before it is a command at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatSlot {
    Command(u16),
    Sub(AclId),
    None,
}

/// The slot command `idx` called with `args` counts in.
#[inline]
pub fn stat_slot(idx: u16, args: &Args) -> StatSlot {
    if args.len() > 1 && is_container(idx) { sub_slot(idx, args) } else { StatSlot::Command(idx) }
}

#[cold]
fn sub_slot(idx: u16, args: &Args) -> StatSlot {
    let full = format!("{}|{}", TABLE.get(idx).name, args.str(1).to_ascii_lowercase());
    match crate::acl::cmdacl::by_name(&full) {
        Some(id) => StatSlot::Sub(id),
        None => StatSlot::None,
    }
}

/// Per command index: is it a container of subcommands (CONFIG, CLIENT, ...)?
#[inline]
pub(super) fn is_container(idx: u16) -> bool {
    static CONTAINER: OnceLock<Vec<bool>> = OnceLock::new();
    let table =
        CONTAINER.get_or_init(|| (0..TABLE.len()).map(|i| CONTAINERS.contains(&TABLE.get(i as u16).name)).collect());
    table.get(idx as usize).copied().unwrap_or(false)
}

/// The counters of `slot`, if it has any.
pub(super) fn stat_of(stats: &mut ShardStats, slot: StatSlot) -> Option<&mut CmdStat> {
    match slot {
        StatSlot::Command(idx) => {
            if stats.commands.len() <= idx as usize {
                stats.commands.resize(TABLE.len(), Default::default());
            }
            Some(&mut stats.commands[idx as usize])
        }
        StatSlot::Sub(id) => Some(stats.subcommand(id)),
        StatSlot::None => None,
    }
}

/// Counts one call of `slot` that took `us`: commandstats and the latency histogram.
fn account(st: &mut ShardState, slot: StatSlot, failed: bool, us: u64) {
    if st.config.latency_tracking {
        match slot {
            StatSlot::Command(idx) => st.stats.latency.record(idx, us),
            StatSlot::Sub(id) => st.stats.latency.record_sub(crate::acl::cmdacl::get(id).name, us),
            StatSlot::None => {}
        }
    }
    // A woken blocked command was counted when it blocked, as Redis 7.0 counts it in
    // `call()`; serving it adds only its time and its failure (`updateStatsOnUnblock`).
    let new_call = u64::from(!st.rerunning_waiter);
    st.stats.total_commands += new_call;
    if let Some(c) = stat_of(&mut st.stats, slot) {
        c.calls += new_call;
        c.usec += us;
        if failed {
            c.failed_calls += 1;
        }
    }
}

/// Counts a grouped call (its time comes when the group closes).
#[inline]
fn count_call(st: &mut ShardState, idx: u16, failed: bool) {
    // As `account`: a woken blocked command was counted when it blocked.
    let new_call = u64::from(!st.rerunning_waiter);
    st.stats.total_commands += new_call;
    let stats = &mut st.stats.commands;
    if stats.len() <= idx as usize {
        stats.resize(TABLE.len(), Default::default());
    }
    let c = &mut stats[idx as usize];
    c.calls += new_call;
    if failed {
        c.failed_calls += 1;
    }
}

/// SLOWLOG and LATENCY bookkeeping for a command that took `us` microseconds.
#[cold]
fn log_slow(st: &mut ShardState, idx: u16, us: u64, args: &Args, client_id: u64, slowlog: bool) {
    let spec = TABLE.get(idx);
    let threshold = st.config.slowlog_log_slower_than;
    if slowlog && threshold >= 0 && us >= threshold as u64 && spec.flags & flag::SKIP_SLOWLOG == 0 {
        slowlog_add(st, us, args.iter(), client_id);
    }
    let event = if spec.flags & flag::FAST != 0 { "fast-command" } else { "command" };
    super::latency::add_sample_if_needed(st, event, us / 1000);
}

/// Counts a command that ran away from its connection's dispatch (MIGRATE, whose
/// round trip runs on a helper thread and answers from its keys' shard): INFO
/// commandstats, the latency monitor and the slowlog, as `call` would, `us` after it
/// started. `who`: the client's address and name, taken on its own shard.
pub fn account_detached(st: &mut ShardState, idx: u16, failed: bool, us: u64, args: &[Vec<u8>], who: (&str, &str)) {
    finished(st, StatSlot::Command(idx), failed, us);
    let threshold = st.config.slowlog_log_slower_than;
    if threshold >= 0 && us >= threshold as u64 && TABLE.get(idx).flags & flag::SKIP_SLOWLOG == 0 {
        let all: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let secs = st.now_ms / 1000;
        let max = st.config.slowlog_max_len as usize;
        st.monitor.log_slow(us, secs, redacted(&all).into_iter(), max, who);
    }
}

#[cold]
pub(super) fn slowlog_add<'a>(
    st: &mut ShardState,
    us: u64,
    args: impl ExactSizeIterator<Item = &'a [u8]>,
    client_id: u64,
) {
    let secs = st.now_ms / 1000;
    let who = st.clients.get(&client_id).map(|m| (m.addr.clone(), m.name.clone()));
    let max = st.config.slowlog_max_len as usize;
    // A client of another shard: the entry is filed there, where its address and name
    // are known (`Msg::SlowEntry`).
    let home = st.running_for;
    let elsewhere = who.is_none() && home != crate::shard::state::NO_SHARD && home as usize != st.id;
    let (addr, name) = who.unwrap_or_default();
    let mut args = args.peekable();
    let entry = if args.peek().is_some_and(|n| REDACTING.iter().any(|r| n.eq_ignore_ascii_case(r))) {
        let all: Vec<&[u8]> = args.collect();
        crate::shard::slowlog::slow_entry(us, secs, redacted(&all).into_iter(), (&addr, &name))
    } else {
        // Straight through: the entry keeps at most 32 arguments, and a big request's
        // millions would otherwise be collected first (a fresh Vec of 16 bytes each).
        crate::shard::slowlog::slow_entry(us, secs, args, (&addr, &name))
    };
    if elsewhere {
        st.outbox.push(home as usize, crate::shard::Msg::SlowEntry(Box::new((entry, client_id))));
    } else {
        st.monitor.file_slow(entry, max);
    }
}

/// The commands some of whose arguments SLOWLOG shows as `(redacted)`.
const REDACTING: [&[u8]; 5] = [b"auth", b"hello", b"acl", b"config", b"migrate"];

/// The configs whose values CONFIG SET hides (Redis's SENSITIVE_CONFIG).
const SENSITIVE_CONFIGS: [&[u8]; 3] = [b"masteruser", b"masterauth", b"requirepass"];

/// A command line as SLOWLOG keeps it: passwords and ACL rules replaced by
/// `(redacted)` where Redis 7.0 redacts them, whether or not the command succeeded
/// (Redis redacts before it validates): AUTH's arguments, HELLO's AUTH pair, every
/// argument of ACL SETUSER after the subcommand, the value of a sensitive CONFIG SET
/// parameter, and MIGRATE's AUTH password or AUTH2 user and password.
pub(super) fn redacted<'a>(args: &[&'a [u8]]) -> Vec<&'a [u8]> {
    const HIDDEN: &[u8] = b"(redacted)";
    let mut out = args.to_vec();
    let is = |i: usize, w: &[u8]| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(w));
    let mut hide = |i: usize| {
        if let Some(a) = out.get_mut(i) {
            *a = HIDDEN;
        }
    };
    if is(0, b"auth") {
        (1..args.len()).for_each(&mut hide);
    } else if is(0, b"acl") && is(1, b"setuser") {
        (2..args.len()).for_each(&mut hide);
    } else if is(0, b"config") && is(1, b"set") {
        for i in (2..args.len()).step_by(2) {
            if SENSITIVE_CONFIGS.iter().any(|c| args[i].eq_ignore_ascii_case(c)) {
                hide(i + 1);
            }
        }
    } else if is(0, b"hello") {
        if let Some(i) = (2..args.len()).find(|&i| is(i, b"auth")) {
            hide(i + 1);
            hide(i + 2);
        }
    } else if is(0, b"migrate") {
        let mut i = 6;
        while i < args.len() && !is(i, b"keys") {
            if is(i, b"auth") {
                hide(i + 1);
                i += 1;
            } else if is(i, b"auth2") {
                hide(i + 1);
                hide(i + 2);
                i += 2;
            }
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redacted;

    fn shown(line: &str) -> String {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        redacted(&args).iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn slowlog_hides_what_redis_hides() {
        assert_eq!(shown("AUTH u p"), "AUTH (redacted) (redacted)");
        assert_eq!(shown("acl SETUSER bob on >pw"), "acl SETUSER (redacted) (redacted) (redacted)");
        assert_eq!(shown("acl getuser bob"), "acl getuser bob");
        assert_eq!(
            shown("config set maxmemory 1 masterauth pw Requirepass x"),
            "config set maxmemory 1 masterauth (redacted) Requirepass (redacted)"
        );
        assert_eq!(shown("hello 3 AUTH u p SETNAME n"), "hello 3 AUTH (redacted) (redacted) SETNAME n");
        assert_eq!(shown("migrate h 1 k 0 5000 COPY AUTH pw"), "migrate h 1 k 0 5000 COPY AUTH (redacted)");
        assert_eq!(
            shown("migrate h 1  0 5000 AUTH2 u p KEYS auth"),
            "migrate h 1  0 5000 AUTH2 (redacted) (redacted) KEYS auth"
        );
    }
}
