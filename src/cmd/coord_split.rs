//! Split commands: multi-key commands whose keys are each handled on their own (MSET,
//! MGET, DEL, UNLINK, EXISTS, TOUCH) run across shards without gathering anything.
//!
//! The coordinator (the client's shard) cuts the command into one part per shard, the
//! same command on that shard's keys only, and sends each part in one `LockRun`
//! message. Each shard takes the part's key locks in the global transaction order,
//! runs the part in place through `call` as soon as they are granted (so it logs,
//! notifies and invalidates like any local command) and answers `Ran` with the part's
//! reply. When every part has answered, the coordinator sends `Release` everywhere
//! and combines the replies (`+OK`, the sum of the counts, or MGET's values put back
//! in the order asked).
//!
//! **What Redis guarantees, and how it holds here.** MSET is atomic: no client sees
//! some of its keys set and others not. A part's keys stay locked from its run until
//! every part has run, so a command touching them meanwhile waits (and sees all the
//! parts), and a client that saw one part's keys cannot then see another part's old
//! values. Two split commands over the same shards are granted in one global order on
//! every shard (`ShardState::flush_outbox` delivers a turn's lock requests under the
//! order mutex), so they apply in the same order everywhere: two concurrent MSETs never
//! leave the shards disagreeing about which came last.
//!
//! **One round trip.** Holding every part's locks until all have run costs a third
//! message (`Release`) and the lock table's work on every shard. A split command over
//! exactly two shards, one of them the coordinator's own, needs neither on the other
//! shard: our own part takes its locks first (it enters our lock table in the same
//! critical section that sends the other part, `take_own`) and keeps them until the
//! other part has answered, so the other part may run and release at once
//! (`SplitPart::release_at_run`; with nothing queued or locked on its keys it does
//! not enter the table at all). Atomicity holds as before: a client that saw the
//! other part's keys written finds ours locked until its answer arrives, then written;
//! a client that saw ours written did so after our release, after the other part ran.
//! It does not hold with three or more parts (one released part could be seen before
//! another ran), nor when our own part goes through our inbox (a client of ours could
//! read our keys before it arrives): those keep the `Release` (`hold_until_release`).
//! Parts logged for the AOF or replicas keep it too, as do DEL's deferred logs.
//!
//! **Per-connection order without a barrier.** The client's later commands need not
//! wait for the reply: a later command routed to another shard travels behind the
//! part in the same queue and finds its keys locked (or a lock request queued ahead of
//! it), a later command on this shard is deferred while this shard's own part has not
//! reached its lock table yet (`ShardState::split_self`), and a later keyless command
//! (fan-outs, EXEC, WAIT ...) waits until the connection's replies are in
//! (`dispatch::Outcome::Wait`). So a pipeline of MSETs goes out as one message per
//! shard per turn, instead of one round trip per command.
//!
//! **The coordinator's own part** does not pass through its own inbox: each pass
//! through the inbox costs a loop turn, and a part, its answer and its release would
//! take three. When the turn's lock requests go out (under the order mutex), the own
//! part enters the lock table directly if no earlier lock request waits in the inbox
//! (`take_own`), and runs; its `Ran` is handled once the turn's own parts have run
//! (`run_own`: it never enters the outbox), and the release happens in place when the
//! last answer arrives. The parts this shard fills are mostly ones the peer sent back
//! (read, and written, there last): they are asked for with a write hint when they
//! come back (`fetch_returned`) and again one command before `start` fills them
//! (`prefetch_spare`). Each part warms its keys' cache
//! lines before it runs: the connection's read-ahead warmed only the keys of its own
//! shard, and leaves a split request's alone (`net::lookahead`): our own part runs
//! only once the turn's other requests are dispatched, when what was warmed at parse
//! time is gone (skipping the warming here tripled the misses in `Table::find` in a
//! profile). Parts that run in one go (a peer's batch in `dispatch::handle_batch`,
//! our own granted parts in `run_own`) are warmed a few at a time (`warm_parts`, up
//! to 16 keys): a part has few keys (5 of a 10-key MSET), and warmed alone its misses
//! barely overlap; a part run on its own warms itself (`warm_keys`). A peer's parts
//! are lines the peer wrote (each part's box and arguments): before any is read, a
//! batch's are all asked for at once (`fetch_parts`), so those misses overlap too.
//!
//! With the AOF on or a replica attached, each part is logged as its shard's part of
//! one tagged block (as `coord` does), and its `Ran` leaves only once logged. DEL and
//! UNLINK log once every part has run, so only the parts that deleted something write
//! a block (none when nothing was deleted). A write is accepted or refused (MISCONF)
//! by the coordinator for all parts at once: a part then runs even if its own shard's
//! log failed meanwhile, so a command is never applied on some shards only.

use super::Args;
use super::coord::tx_marker;
use super::table::TABLE;
use crate::resp::Proto;
use crate::shard::lock::{LockPlan, SplitPart, Waiting, key_hash};
use crate::shard::msg::{CoordRef, ExecReq, HopResult, KeyEntries, Msg, OwnedArgs};
use crate::shard::state::{Coordinator, LocalReply};
use crate::shard::{ReplyTo, ShardState, shard_of};
use std::collections::VecDeque;

/// How a split command's part replies combine into the client's reply.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Combine {
    /// `+OK` (MSET): the first error if a part failed.
    Ok,
    /// The sum of the parts' integers (DEL, UNLINK, EXISTS, TOUCH).
    Sum,
    /// Each part's array of values, put back in the order of the keys (MGET).
    Values,
}

/// Can this command run split? Returns how its replies combine, or None.
fn combine_of(name: &str, nargs: usize) -> Option<Combine> {
    match name {
        // An odd pair count is left to the handler, which answers the arity error.
        "mset" => (nargs % 2 == 1).then_some(Combine::Ok),
        "del" | "unlink" | "exists" | "touch" => Some(Combine::Sum),
        "mget" => Some(Combine::Values),
        _ => None,
    }
}

/// Starts `cmd` as a split command if it is one; false leaves it to `coord`'s keyed
/// transaction. The reply arrives later (`Outcome::Pending`).
pub fn start(st: &mut ShardState, cmd: u16, args: &Args, db: u16, proto: Proto, client_id: u64, to: ReplyTo) -> bool {
    let spec = TABLE.get(cmd);
    let Some(combine) = split_combine(st, spec, args, db, client_id) else { return false };
    let write = spec.is_write();
    // DEL and UNLINK log their parts once every part has run: only those that deleted
    // something then write a block (`SplitTx::on_ran`).
    let defer_log = write && combine == Combine::Sum && st.aof.wants_parts();
    let n = st.nshards;
    let me = st.id;
    let step = if combine == Combine::Ok { 2 } else { 1 };
    // Which shard owns each key, in the order asked (MGET puts the values back by it),
    // and each part's argument count and bytes: every part then grows once, to its
    // exact size. Parts come from `SplitLocal::spare`, which the parts' `+OK` answers
    // refill (`run_part`): a steady load of MSETs allocates no part, and no thread
    // frees memory another allocated (a free across threads costs).
    let mut order = std::mem::take(&mut st.split_local.order);
    order.clear();
    let mut sizes = std::mem::take(&mut st.split_local.sizes);
    sizes.clear();
    sizes.resize(n, (0, 0));
    let mut i = 1;
    while i < args.len() {
        let s = shard_of(args.get(i), n);
        order.push(s as u16);
        sizes[s].0 += step;
        sizes[s].1 += (i..i + step).map(|j| args.get(j).len()).sum::<usize>();
        i += step;
    }
    // The transaction's state comes from one that finished (`SplitTx::retire`): its
    // box, and its shard list's vector.
    let mut spare_tx = st.split_local.spare_txs.pop();
    let mut shards = spare_tx.as_mut().map(|c| std::mem::take(&mut c.held)).unwrap_or_default();
    shards.clear();
    shards.extend((0..n).filter(|&s| sizes[s].0 > 0).map(|s| s as u16));
    // One round trip ("One round trip" above): our own part holds its locks until the
    // only other part has run, so that part may release its own as it runs.
    let one_round_trip = shards.len() == 2 && shards.contains(&(me as u16)) && !st.aof.wants_parts();
    // A replica reads one MSET, as from Redis, not a MULTI of per-shard MSETs.
    let whole_to_stream = combine == Combine::Ok && st.aof.repl.on && shards.len() > 1;
    let id = st.next_coord_id;
    st.next_coord_id += 1;
    // Unique without a shared counter: the coordinator's id and its shard. The top bit
    // keeps the range apart from the gathered transactions' (`tx_order`) and slot
    // migrations' (`cluster::migrate`) ids.
    debug_assert!(n <= 1 << 16);
    let tx = (1 << 63) | (id << 16) | me as u64;
    let nparts = shards.len() as u16;
    let name = args.get(0);
    let mut parts = std::mem::take(&mut st.split_local.parts);
    parts.clear();
    parts.resize_with(n, || None);
    for (k, &s) in shards.iter().enumerate() {
        let (count, bytes) = sizes[s as usize];
        let mut part = st.split_local.spare.pop().unwrap_or_else(|| {
            Box::new(SplitPart {
                req: ExecReq { to, client_id, db, proto, cmd, args: OwnedArgs::default() },
                parts: 0,
                counted: false,
                defer_log: false,
                release_at_run: false,
                warmed: false,
                aof_only: false,
                stream_whole: None,
            })
        });
        part.req.to = to;
        part.req.client_id = client_id;
        part.req.db = db;
        part.req.proto = proto;
        part.req.cmd = cmd;
        part.parts = nparts;
        part.counted = k == 0;
        part.defer_log = defer_log;
        part.release_at_run = one_round_trip && s as usize != me;
        part.aof_only = whole_to_stream;
        part.stream_whole = (whole_to_stream && k == 0).then(|| whole_command(args));
        let a = &mut part.req.args;
        a.data.clear();
        a.ends.clear();
        a.data.reserve(name.len() + bytes);
        a.ends.reserve(count + 1);
        a.data.extend_from_slice(name);
        a.ends.push(name.len() as u32);
        parts[s as usize] = Some(part);
    }
    for (k, &s) in order.iter().enumerate() {
        let i = 1 + k * step;
        let a = &mut parts[s as usize].as_mut().expect("sized above").req.args;
        for j in i..i + step {
            a.data.extend_from_slice(args.get(j));
            a.ends.push(a.data.len() as u32);
        }
    }
    let myself = CoordRef { shard: me as u16, id };
    for &s in &shards {
        let part = parts[s as usize].take().expect("filled above");
        st.outbox.push(s as usize, Msg::LockRun { tx, coord: myself, part });
    }
    st.split_local.parts = parts;
    prefetch_spare(&st.split_local.spare, shards.len());
    let kept_order = if combine == Combine::Values { order.clone() } else { Vec::new() };
    st.split_local.order = order;
    st.split_local.sizes = sizes;
    // The messages wait in the outbox with the turn's other traffic:
    // `ShardState::flush_outbox` delivers every destination's batch under the order
    // mutex while lock requests are among them, so each transaction reaches all its
    // shards inside one critical section.
    st.locks_queued = true;
    if shards.contains(&(me as u16)) {
        // Until our own part reaches the lock table, the client's later commands on
        // this shard must wait (they would run ahead of it).
        *st.split_self.entry(client_id).or_insert(0) += 1;
    }
    *st.split_inflight.entry(client_id).or_insert(0) += 1;
    let waiting = shards.len();
    let c = SplitTx {
        id,
        tx,
        to,
        client_id,
        proto,
        combine,
        held: shards,
        order: kept_order,
        waiting,
        replies: Vec::new(),
        defer_log,
        committing: None,
        wrote: Vec::new(),
    };
    let c = match spare_tx {
        Some(mut spare) => {
            *spare = c;
            spare
        }
        None => Box::new(c),
    };
    st.coords.insert(id, c);
    true
}

/// Would `start` take this multi-shard command (`cmd::order` asks before routing)?
pub fn would_split(st: &ShardState, spec: &super::CommandSpec, args: &Args, db: u16, client_id: u64) -> bool {
    split_combine(st, spec, args, db, client_id).is_some()
}

/// How a split command's parts combine, if this command runs split now.
fn split_combine(st: &ShardState, spec: &super::CommandSpec, args: &Args, db: u16, client_id: u64) -> Option<Combine> {
    let combine = combine_of(spec.name, args.len())?;
    // Each part publishes its own keyspace events, so subscribers would get them in
    // the order the shards ran their parts; Redis publishes them in key order. With
    // notifications on, the gathered path (`coord`) keeps Redis's order.
    // The master link's commands keep the gathered path too: the replica's offset
    // and its sub-replicas' stream follow each command as it completes there.
    if st.config.notify_mask != 0 || st.shared.replica.is_master_client(client_id) {
        return None;
    }
    if db as usize >= st.dbs.len() {
        return None;
    }
    // A write is accepted or refused (MISCONF) here, for all its parts at once: the
    // parts then run whatever their own shard's log says meanwhile, so none is refused
    // alone (`run_part`). While writes are refused, the gathered path answers.
    if spec.is_write() && st.aof.on && st.shared.aof_health.refusal().is_some() {
        return None;
    }
    Some(combine)
}

/// Runs a granted part in place and answers its coordinator with the reply. With the
/// AOF or a replica on, a write's part is this shard's part of the tagged block.
///
/// The coordinator accepted the write for every part (`start`), so the part runs even
/// if this shard's log started failing since: a part refused here alone would leave
/// the command half applied. Its bytes wait in the log with the stuck ones, and its
/// answer follows the log's rule for a failing log (`ShardLog::must_hold`).
///
/// With `defer_log` (DEL, UNLINK) the part stays staged: a part that wrote nothing
/// drops it at once, the others log it when the coordinator, knowing how many parts
/// wrote, asks (`commit_hop`).
pub fn run_part(st: &mut ShardState, tx: u64, coord: CoordRef, mut part: Box<SplitPart>, in_table: bool) {
    let logging = TABLE.get(part.req.cmd).is_write() && st.aof.wants_parts();
    // A part logged as its shard's part of a block keeps its locks until the
    // coordinator's release, as every logged part does (the coordinator decided on
    // one round trip before this shard's log or replicas came on).
    let release_now = part.release_at_run && !logging;
    if logging {
        st.aof.stage = Some(tx);
    }
    st.uncounted = !part.counted;
    st.split_part_admitted = true;
    let dirty = st.dirty;
    let mut out = std::mem::take(&mut st.split_local.reply);
    out.clear();
    if !std::mem::take(&mut part.warmed) {
        warm_keys(st, &part.req);
    }
    let req = &part.req;
    if part.aof_only {
        st.aof.skip_repl = true;
    }
    super::dispatch::call(st, req.cmd, &Args::Owned(&req.args), req.db, req.proto, &mut out, req.client_id);
    if part.aof_only {
        stream_whole(st, req.db, part.stream_whole.take(), logging);
    }
    st.split_part_admitted = false;
    st.uncounted = false;
    let me = st.id as u16;
    let ok = out == b"+OK\r\n";
    if ok {
        // Nothing to carry, nothing to allocate (MSET's parts): the buffer stays here.
        st.split_local.reply = out;
        out = Vec::new();
    }
    let result: HopResult = if logging && part.defer_log {
        st.aof.stage = None;
        let wrote = st.dirty > dirty;
        if !wrote {
            st.aof.discard(tx);
        }
        Box::new(PartRan { reply: if ok { b"+OK\r\n".to_vec() } else { out }, wrote })
    } else {
        if logging {
            st.aof.stage = None;
            let marker = tx_marker(st, tx, part.parts as usize);
            st.aof.commit(tx, &marker, |_| {});
        }
        if ok {
            // `+OK` is the part itself going back: the coordinator's next part travels
            // in it (`SplitLocal::spare`), and its flag says whether our locks went.
            part.release_at_run = release_now;
            part
        } else if release_now {
            Box::new(Released(out))
        } else {
            Box::new(out)
        }
    };
    if st.split_local.own_answers.collecting && coord.shard == me {
        // Our own part, run by `run_own`: its answer skips the outbox (and the flush's
        // next round), handled once `run_own` is done.
        st.split_local.own_answers.ran.push((coord.id, result));
    } else {
        st.outbox.push(coord.shard as usize, Msg::Ran { coord: coord.id, shard: me, result });
    }
    if release_now {
        if in_table {
            release_early(st, tx);
        } else if !st.blocked.ready.is_empty() {
            super::blocking::serve_blocked(st);
        }
    }
}

/// Ends an `aof_only` part's run: the first part puts the whole command in the
/// stream, inside the part's staged block (the assembler joins the parts; the others
/// have nothing there, so the block is the command alone).
#[cold]
fn stream_whole(st: &mut ShardState, db: u16, whole: Option<Vec<u8>>, logging: bool) {
    st.aof.skip_repl = false;
    if let Some(cmd) = whole.filter(|_| logging) {
        st.aof.skip_aof = true;
        st.aof.with_stream(db, |b| b.extend_from_slice(&cmd));
        st.aof.skip_aof = false;
    }
}

/// The command as the client sent it, RESP-encoded.
#[cold]
fn whole_command(args: &Args) -> Vec<u8> {
    let mut b = Vec::new();
    let all: Vec<&[u8]> = (0..args.len()).map(|i| args.get(i)).collect();
    crate::persist::resp::encode(&mut b, &all);
    b
}

/// Loads into the cache what looking up the part's keys will read, one stage for all
/// keys before the next (`storage::Warm`), so their cache misses overlap instead of
/// coming one after another. A part arrives from another shard, where the connection's
/// read-ahead (`net::lookahead`) warmed only that shard's keys.
fn warm_keys(st: &ShardState, req: &ExecReq) {
    let Some(d) = st.dbs.get(req.db as usize) else { return };
    if d.len() < crate::storage::db::WARM_MIN_KEYS || req.args.len() < 3 {
        return;
    }
    let step = if TABLE.get(req.cmd).name == "mset" { 2 } else { 1 };
    let mut hashes = [0u64; 16];
    let mut n = 0;
    for i in (1..req.args.len()).step_by(step).take(hashes.len()) {
        hashes[n] = d.key_hash(req.args.get(i));
        n += 1;
    }
    d.warm_all(&hashes[..n]);
}

/// Keys warmed together by `warm_parts`: about what the CPU keeps in flight per stage
/// (as `net::lookahead` and hopped requests do).
const PART_WARM_KEYS: usize = 16;

/// Warms the keys of the parts about to run here, the first and those after it, whole
/// parts up to `PART_WARM_KEYS` keys, one stage for all before the next, and marks
/// them warmed. A part has a few keys (5 of a 10-key MSET over two shards): warmed
/// alone, its misses barely overlap; a turn's parts arrive together (a batch from a
/// peer, or our own parts at the flush), so their keys are warmed together instead.
/// Parts for small databases (everything cached) are left alone.
pub fn warm_parts<'a>(st: &ShardState, parts: impl Iterator<Item = &'a mut SplitPart>) {
    let mut keys = [(0u16, 0u64); PART_WARM_KEYS];
    let mut n = 0;
    for part in parts {
        let req = &part.req;
        let step = if TABLE.get(req.cmd).name == "mset" { 2 } else { 1 };
        let nkeys = req.args.len().saturating_sub(1).div_ceil(step);
        if n > 0 && n + nkeys > PART_WARM_KEYS {
            break;
        }
        let Some(d) = st.dbs.get(req.db as usize) else { continue };
        if d.len() < crate::storage::db::WARM_MIN_KEYS {
            continue;
        }
        for i in (1..req.args.len()).step_by(step).take(PART_WARM_KEYS - n) {
            keys[n] = (req.db, d.key_hash(req.args.get(i)));
            n += 1;
        }
        part.warmed = true;
    }
    for stage in [crate::storage::Warm::Bucket, crate::storage::Warm::Slot, crate::storage::Warm::Key] {
        for &(db, h) in &keys[..n] {
            st.dbs[db as usize].warm(h, stage);
        }
    }
}

/// Parts of a peer's batch whose lines `fetch_parts` asks for at most.
const FETCH_PARTS: usize = 64;

/// How much of a part's argument bytes [`fetch_parts`] asks for (16 cache lines).
const FETCH_ARG_BYTES: usize = 1024;

/// Asks for the lines of a peer's batch of parts (each part's box, then its
/// arguments) before `warm_parts` reads them: the peer wrote them, so each is a miss
/// to the other core, and read part by part (box, then where its arguments are, then
/// the arguments) they come one after another. Two passes, the boxes of all, then the
/// arguments of all, keep many of them in flight at once.
pub fn fetch_parts(first: &SplitPart, rest: &[Msg]) {
    let parts = rest.iter().filter_map(|m| match m {
        Msg::LockRun { part, .. } => Some(&**part),
        _ => None,
    });
    hint_parts(first, parts, crate::storage::table::prefetch);
}

/// Asks, for writing, for the lines of the parts a peer's batch hands back with their
/// `+OK` (`run_part`), before `SplitTx::on_ran` reads them and `start` rewrites them
/// for our next split commands: the peer read them last (and wrote the box), so each
/// first touch here would otherwise be a miss or an invalidation to the other core,
/// one after another. Two passes as in `fetch_parts`; with the lines exclusive here
/// by the time `start` writes them, its writes wait for nothing.
pub fn fetch_returned(first: &SplitPart, rest: &[Msg]) {
    let parts = rest.iter().filter_map(|m| match m {
        Msg::Ran { result, .. } => result.downcast_ref::<SplitPart>(),
        _ => None,
    });
    hint_parts(first, parts, crate::storage::table::prefetch_write);
}

/// The two passes of `fetch_parts` and `fetch_returned`: every part's box, then every
/// part's argument ends and bytes (a small part whole; a big value's part is not
/// pulled into the cache line by line), each line asked for with `hint`.
#[inline(always)]
fn hint_parts<'a>(first: &'a SplitPart, rest: impl Iterator<Item = &'a SplitPart> + Clone, hint: fn(*const u8)) {
    let parts = || std::iter::once(first).chain(rest.clone()).take(FETCH_PARTS);
    for part in parts() {
        let p = std::ptr::from_ref(part).cast::<u8>();
        hint(p);
        hint(p.wrapping_add(size_of::<SplitPart>() - 1));
    }
    for part in parts() {
        let a = &part.req.args;
        hint(a.ends.as_ptr().cast());
        let data = a.data.as_ptr();
        for at in (0..a.data.len().min(FETCH_ARG_BYTES)).step_by(64) {
            hint(data.wrapping_add(at));
        }
    }
}

/// Asks, for writing, for the lines of the spare parts the next split commands will
/// fill (`start` takes them from the end): the arguments of the next command's
/// `nparts` (their boxes were asked for by the command before), the boxes of the
/// command's after. Most spare parts came back from the peer, which read them last
/// and wrote their box (`run_part`), so without this each is a miss or an invalidation
/// to the other core, taken while `start` waits on it (its capacity checks read the
/// box), one part after another.
fn prefetch_spare(spare: &[Box<SplitPart>], nparts: usize) {
    use crate::storage::table::prefetch_write;
    let len = spare.len();
    let next = len.saturating_sub(nparts);
    for part in &spare[next..] {
        let a = &part.req.args;
        prefetch_write(a.ends.as_ptr());
        prefetch_write(a.data.as_ptr());
        prefetch_write(a.data.as_ptr().wrapping_add(64));
    }
    for part in &spare[next.saturating_sub(nparts)..next] {
        let p = std::ptr::from_ref(&**part).cast::<u8>();
        prefetch_write(p);
        prefetch_write(p.wrapping_add(size_of::<SplitPart>() - 1));
    }
}

/// The split parts among inbox messages (`warm_parts` over a batch's rest).
pub fn parts_of(msgs: &mut [Msg]) -> impl Iterator<Item = &mut SplitPart> {
    msgs.iter_mut().filter_map(|m| match m {
        Msg::LockRun { part, .. } => Some(&mut **part),
        _ => None,
    })
}

/// A part's `LockRun` arrived (from another shard, or through our own inbox).
pub fn on_lock_run(st: &mut ShardState, tx: u64, coord: CoordRef, mut part: Box<SplitPart>) {
    arrived(st, coord, part.req.client_id);
    // Nothing to wait for and nothing to hold: it runs without entering the table
    // (and, with the table idle, without hashing its keys).
    let run_now = part.release_at_run && !st.aof.wants_parts();
    if run_now && st.locks.is_idle() {
        run_part(st, tx, coord, part, false);
        return;
    }
    let plan = part_plan(st, &part);
    if run_now && st.locks.grantable_now(&plan) {
        st.locks.recycle(plan);
        run_part(st, tx, coord, part, false);
        return;
    }
    // If it waits, whatever was warmed for it will be gone by the time it runs.
    part.warmed = false;
    if let Some(w) = st.locks.request(Waiting { tx, coord, plan, gather: false, run: Some(part) }) {
        super::coord::answer_granted(st, w);
    }
}

/// The locks a part takes: its keys' `key_hash`es (a key named twice, twice: the lock
/// table holds it twice), computed on the shard taking them and only when it needs its
/// lock table, into a vector a released plan left (`LockTable::hash_vec`).
fn part_plan(st: &mut ShardState, part: &SplitPart) -> LockPlan {
    let req = &part.req;
    let step = if TABLE.get(req.cmd).name == "mset" { 2 } else { 1 };
    let mut hashes = st.locks.hash_vec();
    hashes.extend((1..req.args.len()).step_by(step).map(|i| key_hash(req.db, req.args.get(i))));
    LockPlan::Hashes(hashes)
}

/// Releases the locks of a part that ran with `release_at_run`, and answers what that
/// grants. Granted parts may release early in turn: those queue here and the outermost
/// call works through them, so a long chain of them costs no stack.
fn release_early(st: &mut ShardState, tx: u64) {
    st.split_local.releases.push(tx);
    if st.split_local.releasing {
        return;
    }
    st.split_local.releasing = true;
    while let Some(tx) = st.split_local.releases.pop() {
        super::coord::release_locks(st, tx);
    }
    st.split_local.releasing = false;
    if !st.blocked.ready.is_empty() {
        super::blocking::serve_blocked(st);
    }
    super::dispatch::retry_deferred(st);
}

/// A part that ran and released its locks at once (`SplitPart::release_at_run`),
/// with its reply (other than `+OK`, which sends the part back: `run_part`).
struct Released(Vec<u8>);

/// Parts kept for reuse at most, and the biggest arguments buffer kept. Enough for
/// the parts a shard has out at once under deep pipelines (8 connections pipelining
/// 16 two-shard MSETs each have 128 commands out, so 256 parts, the own ones and the
/// peer's): parts coming back to a full spare list are freed, and the next turn's
/// commands allocate new ones (with 256 kept, 0.04 parts per MSET were).
const SPARE_PARTS: usize = 512;
const SPARE_PART_BYTES: usize = 4 << 10;

/// Per-shard state of the split parts run here.
#[derive(Default)]
pub struct SplitLocal {
    /// The reply buffer of the last part whose reply was not sent on (`+OK`).
    reply: Vec<u8>,
    /// Parts that came back with their `+OK` (`run_part`), for the next split commands
    /// coordinated here (`start`); bounded by `SPARE_PARTS` and `SPARE_PART_BYTES`.
    /// Boxed: the box itself is what travels (`Msg::LockRun`, then the `Ran` answer).
    #[allow(clippy::vec_box)]
    spare: Vec<Box<SplitPart>>,
    /// `start`'s scratch: each key's shard, each part's size, the parts being filled.
    order: Vec<u16>,
    sizes: Vec<(usize, usize)>,
    parts: Vec<Option<Box<SplitPart>>>,
    /// Finished split transactions, for the next ones (`SplitTx::retire`), at most
    /// `SPARE_PARTS`.
    #[allow(clippy::vec_box)]
    spare_txs: Vec<Box<SplitTx>>,
    /// Early releases not yet worked through (`release_early`).
    releases: Vec<u64>,
    releasing: bool,
    /// Our own parts' answers while `run_own` runs them.
    own_answers: OwnAnswers,
    /// `take_own`'s list of granted own parts, emptied by `run_own`, for the next one.
    own_granted: VecDeque<Waiting>,
}

/// The answers (`Ran`) of the parts this shard coordinates and runs itself in
/// `run_own`, kept here instead of going through the outbox to ourselves: `take_own`
/// took the batch only when such answers may skip the inbox (nothing logged as parts,
/// nothing held for the log), so handling them when `run_own` ends is what the
/// flush's next round would have done, without the messages.
#[derive(Default)]
struct OwnAnswers {
    collecting: bool,
    ran: Vec<(u64, HopResult)>,
}

/// A deferred-log part's answer (`SplitPart::defer_log`): its reply, and whether it
/// wrote (then it has a staged part to log).
struct PartRan {
    reply: Vec<u8>,
    wrote: bool,
}

/// A LockRun arrived: once it is in the lock table, the order of the client's later
/// commands on this shard is the lock table's business.
pub fn arrived(st: &mut ShardState, coord: CoordRef, client_id: u64) {
    if coord.shard as usize == st.id
        && let Some(n) = st.split_self.get_mut(&client_id)
    {
        *n -= 1;
        if *n == 0 {
            st.split_self.remove(&client_id);
        }
    }
}

/// Messages a shard queued for itself, taken out of its outbox to be handled at once
/// (`take_own`): lock requests already entered in the lock table (those granted, to
/// run), and the rest in order.
pub struct OwnBatch {
    granted: VecDeque<Waiting>,
    rest: Vec<Msg>,
}

/// Takes this shard's messages to itself out of the outbox when they can skip the
/// inbox, entering its own split parts' lock requests in the lock table. Called while
/// the outbox is flushed, `ordered` when under `Shared::tx_order` (the other shards'
/// parts of the same transactions are delivered in the same critical section).
///
/// An own part's `LockRun`, answer (`Ran`) and `Release` would otherwise each cost
/// a loop turn through the inbox. Going around it keeps every order only when:
/// - no lock request that reached us before ours waits in our inbox (then ours would
///   be granted ahead of a transaction every other shard grants first: a deadlock);
/// - nothing is logged as parts (AOF or replication): a part's log and stream entry
///   must be queued before the answers that let its locks go, which the turn's
///   order (`server::worker`) does and an answer handled here would not;
/// - the batch holds only split traffic (lock requests, answers, releases), whose
///   order among themselves the lock table keeps; anything else goes the usual way.
///
/// `allowed` false (the flush's last round) takes nothing. Whenever our own parts'
/// lock requests stay in the batch, to go through our inbox, the parts going out to
/// other shards in this flush lose `release_at_run`: a client of ours could otherwise
/// see our part's keys unwritten after another saw the other part's written.
pub fn take_own(st: &mut ShardState, ordered: bool, allowed: bool) -> Option<OwnBatch> {
    let me = st.id;
    let batch = &st.outbox.per_dest[me];
    if batch.is_empty() {
        return None;
    }
    let mut lock_requests = false;
    let mut only_split = true;
    for m in batch {
        match m {
            Msg::LockRun { .. } => lock_requests = true,
            Msg::Ran { .. } | Msg::Release { .. } => {}
            _ => only_split = false,
        }
    }
    let take = allowed
        && only_split
        && !st.aof.wants_parts()
        && !st.aof.must_hold()
        && st.held_out.is_empty()
        && !(lock_requests && (!ordered || st.shared.inboxes[me].locks_waiting() > 0));
    if !take {
        if lock_requests {
            hold_until_release(st);
        }
        return None;
    }
    let mut batch = std::mem::take(&mut st.outbox.per_dest[me]);
    st.outbox.flushed(me);
    st.outbox.dirty.retain(|&d| d as usize != me);
    // The granted list in the one the last `run_own` emptied; `rest` is mostly empty.
    let granted = std::mem::take(&mut st.split_local.own_granted);
    let mut own = OwnBatch { granted, rest: Vec::new() };
    for m in batch.drain(..) {
        match m {
            Msg::LockRun { tx, coord, part } => {
                arrived(st, coord, part.req.client_id);
                let plan = part_plan(st, &part);
                if let Some(w) = st.locks.request(Waiting { tx, coord, plan, gather: false, run: Some(part) }) {
                    own.granted.push_back(w);
                }
            }
            m => own.rest.push(m),
        }
    }
    st.outbox.recycle_batch(batch);
    Some(own)
}

/// Takes `release_at_run` off every part this shard coordinates that is about to leave
/// (see `take_own`): they keep their locks until our `Release`, as before.
fn hold_until_release(st: &mut ShardState) {
    let me = st.id;
    for (dest, batch) in st.outbox.per_dest.iter_mut().enumerate() {
        if dest == me {
            continue;
        }
        for m in batch {
            if let Msg::LockRun { coord, part, .. } = m
                && coord.shard as usize == me
            {
                part.release_at_run = false;
            }
        }
    }
}

/// Runs what `take_own` took: the granted parts, then the other messages in order.
pub fn run_own(st: &mut ShardState, own: OwnBatch) {
    st.split_local.own_answers.collecting = true;
    let mut granted = own.granted;
    while let Some(mut w) = granted.pop_front() {
        if let Some(part) = w.run.as_deref_mut()
            && !part.warmed
        {
            let next = granted.iter_mut().filter_map(|w| w.run.as_deref_mut());
            warm_parts(st, std::iter::once(part).chain(next));
        }
        super::coord::answer_granted(st, w);
    }
    if st.split_local.own_granted.capacity() == 0 {
        st.split_local.own_granted = granted;
    }
    for m in own.rest {
        super::dispatch::handle_msg(st, m);
    }
    // The answers in the order the parts ran, as the next round would take them from
    // the outbox; parts granted while they are handled (a release) answer as usual.
    st.split_local.own_answers.collecting = false;
    let mut ran = std::mem::take(&mut st.split_local.own_answers.ran);
    let me = st.id as u16;
    for (coord, result) in ran.drain(..) {
        super::coord::on_ran(st, coord, me, result);
    }
    if st.split_local.own_answers.ran.is_empty() {
        st.split_local.own_answers.ran = ran;
    }
}

struct SplitTx {
    id: u64,
    tx: u64,
    to: ReplyTo,
    client_id: u64,
    proto: Proto,
    combine: Combine,
    /// The shards whose part holds its locks until our `Release` (all but a part
    /// that released as it ran).
    held: Vec<u16>,
    order: Vec<u16>,
    waiting: usize,
    replies: Vec<(u16, Vec<u8>)>,
    /// The parts log once all have run (`SplitPart::defer_log`).
    defer_log: bool,
    /// The reply, held while the parts that wrote log their blocks.
    committing: Option<LocalReply>,
    /// The shards whose deferred-log part wrote.
    wrote: Vec<u16>,
}

impl Coordinator for SplitTx {
    fn on_locked(&mut self, _st: &mut ShardState, _from: u16, _entries: KeyEntries) -> bool {
        false
    }

    fn on_ran(&mut self, st: &mut ShardState, from: u16, result: HopResult) -> bool {
        if self.committing.is_some() {
            // A part that wrote has logged its block.
            self.waiting -= 1;
            if self.waiting > 0 {
                return false;
            }
            let out = self.committing.take().expect("checked");
            return self.finish(st, out);
        }
        let bytes = match result.downcast::<SplitPart>() {
            Ok(part) => {
                if part.release_at_run {
                    self.held.retain(|&s| s != from);
                }
                let spare = &mut st.split_local.spare;
                if spare.len() < SPARE_PARTS && part.req.args.data.capacity() <= SPARE_PART_BYTES {
                    spare.push(part);
                }
                // Only an error matters to `+OK`.
                (self.combine != Combine::Ok).then(|| b"+OK\r\n".to_vec())
            }
            Err(result) => match result.downcast::<Released>() {
                Ok(r) => {
                    self.held.retain(|&s| s != from);
                    Some(r.0)
                }
                Err(result) => match result.downcast::<PartRan>() {
                    Ok(p) => {
                        if p.wrote {
                            self.wrote.push(from);
                        }
                        Some(p.reply)
                    }
                    Err(result) => Some(result.downcast::<Vec<u8>>().map(|b| *b).unwrap_or_default()),
                },
            },
        };
        if let Some(bytes) = bytes
            && (self.combine != Combine::Ok || bytes.first() == Some(&b'-'))
        {
            self.replies.push((from, bytes));
        }
        self.waiting -= 1;
        if self.waiting > 0 {
            return false;
        }
        self.replies.sort_by_key(|(s, _)| *s);
        // MSET's parts keep only their errors: with none, the reply is the constant
        // `+OK`, not a buffer allocated here and freed by the connection.
        let out: LocalReply = if self.combine == Combine::Ok && self.replies.is_empty() {
            LocalReply::Borrowed(b"+OK\r\n")
        } else {
            combine(self.combine, self.proto, &self.replies, &self.order).into()
        };
        if self.defer_log && !self.wrote.is_empty() {
            // Only the parts that wrote log a block, tagged with their number; the
            // locks go and the reply leaves once every one is logged.
            let marker = tx_marker(st, self.tx, self.wrote.len());
            let me = CoordRef { shard: st.id as u16, id: self.id };
            for &s in &self.wrote {
                let hop = super::coord::commit_part_hop(self.tx, 0, marker.clone(), Vec::new(), Vec::new());
                st.outbox.push(s as usize, Msg::Run { coord: me, hop });
            }
            self.waiting = self.wrote.len();
            self.committing = Some(out);
            return false;
        }
        self.finish(st, out)
    }

    fn retire(mut self: Box<Self>, st: &mut ShardState) {
        let spare = &mut st.split_local.spare_txs;
        if spare.len() < SPARE_PARTS {
            self.order = Vec::new();
            self.replies = Vec::new();
            self.wrote = Vec::new();
            self.committing = None;
            spare.push(self);
        }
    }
}

impl SplitTx {
    /// Releases every part's locks and replies.
    fn finish(&mut self, st: &mut ShardState, out: LocalReply) -> bool {
        for &s in &self.held {
            let release = Msg::Release { tx: self.tx, writes: Vec::new(), kept: Vec::new(), writer: 0 };
            if s as usize == st.id && !st.aof.wants_parts() {
                // Our own part's locks go now rather than through the outbox (with
                // parts logged, they wait for the turn's log as the others do).
                super::dispatch::handle_msg(st, release);
            } else {
                st.outbox.push(s as usize, release);
            }
        }
        if let Some(n) = st.split_inflight.get_mut(&self.client_id) {
            *n -= 1;
            if *n == 0 {
                st.split_inflight.remove(&self.client_id);
            }
        }
        st.send_reply(self.to, out);
        true
    }
}

/// The client's reply from the parts' replies (sorted by shard).
fn combine(how: Combine, proto: Proto, replies: &[(u16, Vec<u8>)], order: &[u16]) -> Vec<u8> {
    if let Some((_, e)) = replies.iter().find(|(_, r)| r.first() == Some(&b'-')) {
        return e.clone();
    }
    match how {
        Combine::Ok => b"+OK\r\n".to_vec(),
        Combine::Sum => {
            let sum: i64 = replies.iter().map(|(_, r)| parse_int(r).unwrap_or(0)).sum();
            format!(":{sum}\r\n").into_bytes()
        }
        Combine::Values => {
            let mut elems: Vec<(u16, Vec<&[u8]>)> = replies.iter().map(|(s, r)| (*s, split_array(r))).collect();
            let mut next = vec![0usize; elems.len()];
            let mut out = format!("*{}\r\n", order.len()).into_bytes();
            for s in order {
                let k = elems.iter().position(|(x, _)| x == s).expect("every shard answered");
                match elems[k].1.get(next[k]) {
                    Some(e) => out.extend_from_slice(e),
                    None if proto == Proto::Resp3 => out.extend_from_slice(b"_\r\n"),
                    None => out.extend_from_slice(b"$-1\r\n"),
                }
                next[k] += 1;
            }
            elems.clear();
            out
        }
    }
}

fn parse_int(r: &[u8]) -> Option<i64> {
    let body = r.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(body).ok()?.parse().ok()
}

/// The elements of an array of bulk strings and nulls (MGET's reply), as encoded.
fn split_array(r: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let Some(nl) = r.iter().position(|&b| b == b'\n') else { return out };
    let mut at = nl + 1;
    while at < r.len() {
        let Some(len) = r[at..].iter().position(|&b| b == b'\n') else { break };
        let head = &r[at..at + len + 1];
        let size = match head[0] {
            b'$' => {
                let n: i64 =
                    std::str::from_utf8(&head[1..head.len() - 2]).ok().and_then(|s| s.parse().ok()).unwrap_or(-1);
                if n < 0 { head.len() } else { head.len() + n as usize + 2 }
            }
            _ => head.len(),
        };
        let end = (at + size).min(r.len());
        out.push(&r[at..end]);
        at = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_go_back_in_the_order_asked() {
        let a = b"*2\r\n$1\r\nx\r\n$-1\r\n".to_vec();
        let b = b"*1\r\n$3\r\nyy\n\r\n".to_vec();
        let out = combine(Combine::Values, Proto::Resp2, &[(0, a), (1, b)], &[0, 1, 0]);
        assert_eq!(out, b"*3\r\n$1\r\nx\r\n$3\r\nyy\n\r\n$-1\r\n");
        let r3 = combine(
            Combine::Values,
            Proto::Resp3,
            &[(0, b"*1\r\n_\r\n".to_vec()), (1, b"*1\r\n$1\r\nz\r\n".to_vec())],
            &[1, 0],
        );
        assert_eq!(r3, b"*2\r\n$1\r\nz\r\n_\r\n");
    }

    #[test]
    fn counts_add_up_and_errors_win() {
        assert_eq!(
            combine(Combine::Sum, Proto::Resp2, &[(0, b":2\r\n".to_vec()), (1, b":3\r\n".to_vec())], &[]),
            b":5\r\n"
        );
        let err = b"-MISCONF no\r\n".to_vec();
        assert_eq!(combine(Combine::Ok, Proto::Resp2, &[(0, b"+OK\r\n".to_vec()), (1, err.clone())], &[]), err);
        assert_eq!(combine_of("mset", 4), None);
        assert_eq!(combine_of("mset", 5), Some(Combine::Ok));
    }
}
