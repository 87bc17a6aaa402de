//! Runs of one plain command: the request path for a pipeline that repeats GET, SET
//! (or another command of `PLAIN`) on keys of this shard.
//!
//! With one hot key, a pipelined GET costs the kernel's TCP and ring work plus about
//! 0.09 µs of our own, spread over many small steps per request (reqpath5): `dispatch`'s
//! checks (auth, ACL, MULTI, cluster, OOM, replica, scripts, tracking, MONITOR), the
//! routing, `call_inner`'s per-command checks (AOF, notifications, WATCH, blocked
//! clients, log), the timing, the connection's reply slot and CLIENT LIST copies, and
//! the general parser. For a run of the same command in one receive, most of those
//! decisions are the same for every request, so `run` takes them once per run:
//!
//! - It runs only when every check `dispatch` and `call_inner` make per request would
//!   pass without doing anything: the client is authenticated and ACL-unrestricted,
//!   not in MULTI, not subscribed; no cluster mode, maxmemory, replica role, busy
//!   script, client tracking, MONITOR, keyspace notifications, locks or deferred
//!   requests on this shard; and for writes also no AOF or replicas, WATCH, blocked
//!   clients, failed BGSAVE or min-replicas refusal. Anything else returns `None` and
//!   the request takes the general path, which is where all those effects live.
//! - Each request still runs through the command's own handler (same lookups,
//!   keyspace hits/misses, lazy expiry, replies, errors), with its key checked to be on
//!   this shard (the run stops before a key of another shard).
//! - Timing and counting are what `cmdtime` does for a group of fast commands, added
//!   once for the run: the run never goes past the open group's room, so the group
//!   closes at the same command, with the same SLOWLOG entry, as one by one.
//! - The connection notes only the run's last request for CLIENT LIST's `cmd=`
//!   (nothing can read it in between: the shard runs nothing else meanwhile).
//!
//! The connection calls `run` only when nothing of the client's is in flight (no reply
//! slot waiting, so no hop to another shard), no pause holds requests, replies are on,
//! and no request is partly parsed or moved out of its buffer (`net::conn`).
//!
//! Requests are framed here only in the canonical RESP form redis clients send
//! (`*N\r\n` then `$len\r\n<bytes>\r\n`, lengths without sign or leading zeros and of at
//! most 4 digits); anything else (inline commands, odd framing, big arguments, an
//! incomplete request) ends the run and is left to the general parser.

use super::ctx::{ExecCtx, Session};
use super::table::{Handler, KeySpec, TABLE, flag};
use super::{Args, cmdtime};
use crate::resp::ReplyWriter;
use crate::shard::{ShardState, shard_of};
use std::sync::OnceLock;

/// The commands a run may repeat: single-key, bounded-cost commands whose only
/// effects beyond their key and reply are the ones `run_allowed` rules out.
const PLAIN: &[&str] =
    &["get", "set", "incr", "decr", "incrby", "decrby", "append", "strlen", "lpush", "rpush", "hset", "hget", "sadd"];

/// At most this many arguments per request (HSET key field value).
const MAX_ARGS: usize = 4;

/// What a run did, for the connection's bookkeeping.
pub struct Ran {
    /// Requests run (at least one).
    pub requests: usize,
    /// Input bytes they took.
    pub consumed: usize,
    /// The last request's argument ranges in the input.
    last: [(u32, u32); MAX_ARGS],
    last_len: usize,
}

impl Ran {
    /// The run's last request, read from the same input `run` was given.
    pub fn last_args<'a>(&'a self, input: &'a [u8]) -> Args<'a> {
        Args::Ranges { buf: input, scratch: &[], ranges: &self.last[..self.last_len] }
    }
}

/// Per command index: may a run repeat it (`PLAIN`, and the shape that makes it so).
fn plain_command(idx: u16) -> bool {
    static PLAIN_BY_INDEX: OnceLock<Vec<bool>> = OnceLock::new();
    let table = PLAIN_BY_INDEX.get_or_init(|| {
        (0..TABLE.len())
            .map(|i| {
                let spec = TABLE.get(i as u16);
                PLAIN.contains(&spec.name)
                    && matches!(spec.handler, Handler::Keyed(_))
                    && matches!(spec.keys, KeySpec::Range { first: 1, last: 1, .. })
                    && spec.flags & (flag::BLOCKING | flag::MAY_REPLICATE) == 0
                    && cmdtime::groupable_command(i as u16)
            })
            .collect()
    });
    table.get(idx as usize).copied().unwrap_or(false)
}

/// Runs the requests at the start of `input` that repeat one plain command on keys of
/// this shard, at most `max` of them, replying into `out`; `None` when the first
/// request does not qualify (nothing ran, nothing changed).
pub fn run(st: &mut ShardState, sess: &Session, input: &[u8], out: &mut Vec<u8>, max: usize) -> Option<Ran> {
    if input.len() >= crate::resp::SCRATCH_FLAG as usize {
        return None;
    }
    let mut ranges = [(0u32, 0u32); MAX_ARGS];
    let (argc, first_len) = frame(input, 0, &mut ranges)?;
    let name = &input[ranges[0].0 as usize..ranges[0].1 as usize];
    let idx = TABLE.lookup(name)?;
    let spec = TABLE.get(idx);
    if !plain_command(idx) || !spec.arity_ok(argc) || !run_allowed(st, sess, spec.is_write()) {
        return None;
    }
    let Handler::Keyed(handler) = spec.handler else { return None };
    let max = max.min(cmdtime::group_room(st));
    if max == 0 || !local(st.nshards, st.id, &input[ranges[1].0 as usize..ranges[1].1 as usize]) {
        return None;
    }
    cmdtime::begin_run(st);
    let (nshards, shard) = (st.nshards, st.id);
    // The first request's bytes up to its arguments (`*2\r\n$3\r\nGET\r\n`): a request
    // that starts with the same bytes is the same command, spelled the same.
    let head = ranges[0].1 as usize + 2;
    let (mut pos, mut len, mut requests, mut failed) = (0, first_len, 0, 0);
    let (mut last_at, mut big_reply);
    let mut ctx = ExecCtx {
        dbs: &mut st.dbs,
        db: sess.db as usize,
        now_ms: st.now_ms,
        out: ReplyWriter::new(out, sess.proto),
        stats: &mut st.stats,
        dirty: 0,
        config: &st.config,
        shared: &st.shared,
        client_id: sess.id,
        block: None,
        notes: None,
        prop: Default::default(),
        unchanged_key: None,
        only_changed_key: None,
        unchanged_keys: Vec::new(),
        rerun: false,
    };
    loop {
        let args = Args::Ranges { buf: input, scratch: &[], ranges: &ranges[..argc] };
        let reply_start = ctx.out.buf.len();
        if let Err(e) = handler(&mut ctx, &args) {
            ctx.stats.count_error(&e.message());
            ctx.out.error(&e.message());
            failed += 1;
        }
        requests += 1;
        last_at = pos;
        pos += len;
        big_reply = ctx.out.buf.len() - reply_start > cmdtime::BIG_REPLY;
        // A lazily expired key is accounted for (`account_expired`) before anything
        // else runs: end the run with the command that found it.
        if requests == max || big_reply || crate::storage::db::expired_recorded() {
            break;
        }
        // The next request continues the run if it is the same command, spelled the
        // same, with the same number of arguments, on a key of this shard.
        if !same_head(input, pos, head) {
            break;
        }
        match frame_args(input, pos, head, argc, &mut ranges) {
            Some(l) if local(nshards, shard, &input[ranges[1].0 as usize..ranges[1].1 as usize]) => len = l,
            _ => break,
        }
    }
    st.dirty += ctx.dirty;
    st.account_expired();
    // The last request's ranges, framed again (once per run) rather than copied per
    // request: a failed attempt at the next one may have overwritten `ranges`.
    let mut last = [(0u32, 0u32); MAX_ARGS];
    frame(input, last_at, &mut last).expect("a request of the run frames as the first did");
    let ran = Ran { requests, consumed: pos, last, last_len: argc };
    cmdtime::end_run(st, idx, requests, failed, &ran.last_args(input), sess.id, big_reply);
    // What `call_inner` does after each command, for commands of scripts only.
    super::script::settle(st, sess.id);
    Some(ran)
}

#[inline]
fn local(nshards: usize, shard: usize, key: &[u8]) -> bool {
    nshards == 1 || shard_of(key, nshards) == shard
}

/// Would every per-request check of `dispatch` and `call_inner` pass without effect
/// for this client's commands (see the module docs)? Read once per run.
fn run_allowed(st: &ShardState, sess: &Session, write: bool) -> bool {
    use std::sync::atomic::Ordering::{Acquire, Relaxed};
    let shared = &st.shared;
    let quiet_client = sess.authenticated
        && sess.multi.is_none()
        && sess.acl.unrestricted
        && sess.acl.generation == shared.acl.generation.load(Acquire)
        && !super::pubsub::subscribed(sess);
    let quiet_shard = !shared.cluster.enabled
        && st.evict.settings.maxmemory == 0
        && !shared.replica.is_replica.load(Relaxed)
        && shared.script.busy_reply().is_none()
        && st.tracking.clients.is_empty()
        && !super::monitor::active(st)
        && st.config.notify_mask == 0
        && st.locks.is_idle()
        && st.deferred.is_empty()
        && st.split_self.is_empty()
        && st.cmd_chain
        && !st.uncounted
        && cmdtime::groups_allowed(st);
    let quiet_writes = !write
        || (!st.aof.on
            && !st.aof.active()
            && st.watch.is_empty()
            && st.blocked.is_empty()
            && !super::tracking::writes_matter(st)
            && !crate::persist::bgsave::writes_refused(st)
            && !crate::repl::master::too_few_replicas(st));
    quiet_client && quiet_shard && quiet_writes
}

/// Frames the request at `input[at..]` if it is a complete, canonical multibulk of 2
/// to `MAX_ARGS` short arguments: its argument count and length, with the arguments'
/// ranges (offsets into `input`) in `ranges`.
#[inline]
fn frame(input: &[u8], at: usize, ranges: &mut [(u32, u32); MAX_ARGS]) -> Option<(usize, usize)> {
    let b = input.get(at..)?;
    if b.len() < 4 || b[0] != b'*' || b[2] != b'\r' || b[3] != b'\n' {
        return None;
    }
    let argc = (b[1] as usize).wrapping_sub(b'0' as usize);
    if !(2..=MAX_ARGS).contains(&argc) {
        return None;
    }
    ranges[0] = bulk(input, at + 4)?;
    let len = frame_args(input, at, ranges[0].1 as usize + 2 - at, argc, ranges)?;
    Some((argc, len))
}

/// Does the request at `input[at..]` start with the same `head` bytes (count and
/// name) as the one at `input[0..]`? A plain command's head is 13 to 16 bytes
/// (`*2\r\n$3\r\nGET\r\n` to `*3\r\n$6\r\nINCRBY\r\n`), compared inline
/// (`util::bytes`) rather than through `memcmp` (a call per request in profiles).
#[inline(always)]
fn same_head(input: &[u8], at: usize, head: usize) -> bool {
    let (Some(next), Some(first)) = (input.get(at..at + head), input.get(..head)) else { return false };
    crate::util::bytes::eq(next, first)
}

/// Frames the arguments after the first of a request at `input[at..]` whose first
/// `head` bytes (count and name) are known good: the request's length. Inlined with
/// `bulk` so the ranges stay in registers: out of line, reading `bulk`'s result back
/// from the stack stalled on store forwarding (most of this function's samples).
#[inline(always)]
fn frame_args(input: &[u8], at: usize, head: usize, argc: usize, ranges: &mut [(u32, u32); MAX_ARGS]) -> Option<usize> {
    let mut p = at + head;
    for r in ranges.iter_mut().take(argc).skip(1) {
        *r = bulk(input, p)?;
        p = r.1 as usize + 2;
    }
    Some(p - at)
}

/// The canonical bulk string at `input[p..]` (`$len\r\n<bytes>\r\n`), as its range.
#[inline(always)]
fn bulk(input: &[u8], p: usize) -> Option<(u32, u32)> {
    let b = input.get(p..)?;
    if b.first() != Some(&b'$') {
        return None;
    }
    let (len, digits) = short_len(&b[1..])?;
    let start = 1 + digits + 2;
    if b.get(1 + digits..start) != Some(b"\r\n") || b.get(start + len..start + len + 2) != Some(b"\r\n") {
        return None;
    }
    Some(((p + start) as u32, (p + start + len) as u32))
}

/// A length of 1 to 4 decimal digits without a leading zero (or the single digit 0)
/// and how many digits it took.
#[inline(always)]
fn short_len(b: &[u8]) -> Option<(usize, usize)> {
    let mut n = 0usize;
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        if i == 4 || (i == 1 && b[0] == b'0') {
            return None;
        }
        n = n * 10 + (b[i] - b'0') as usize;
        i += 1;
    }
    (i > 0).then_some((n, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(input: &[u8]) -> Option<(usize, usize, Vec<Vec<u8>>)> {
        let mut r = [(0, 0); MAX_ARGS];
        let (n, len) = frame(input, 0, &mut r)?;
        Some((n, len, r[..n].iter().map(|&(s, e)| input[s as usize..e as usize].to_vec()).collect()))
    }

    #[test]
    fn frames_canonical_requests_only() {
        let get = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        assert_eq!(framed(get), Some((2, get.len(), vec![b"GET".to_vec(), b"key".to_vec()])));
        let set = b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$0\r\n\r\n*2";
        assert_eq!(framed(set), Some((3, set.len() - 2, vec![b"set".to_vec(), b"k".to_vec(), b"".to_vec()])));
        let long = format!("*2\r\n$3\r\nGET\r\n$9999\r\n{}\r\n", "k".repeat(9999));
        assert_eq!(framed(long.as_bytes()).map(|f| f.1), Some(long.len()));
        for bad in [
            &b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r"[..], // incomplete
            b"*2\r\n$3\r\nGET\r\n$3\r\nkeyy\r\n",   // wrong length
            b"*2\r\n$3\r\nGET\r\n$03\r\nkey\r\n",   // leading zero
            b"*2\r\n$3\r\nGET\r\n$-1\r\n",          // null bulk
            b"*1\r\n$4\r\nPING\r\n",                // too few arguments
            b"*5\r\n$1\r\na\r\n",                   // too many
            b"*2\r\n:3\r\nGET\r\n$3\r\nkey\r\n",    // not a bulk
            b"GET key\r\n",                         // inline
            b"*2\n$3\nGET\n$3\nkey\n",              // bare newlines
        ] {
            assert_eq!(framed(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let big = format!("*2\r\n$3\r\nGET\r\n$10000\r\n{}\r\n", "k".repeat(10000));
        assert_eq!(framed(big.as_bytes()), None, "five digits go to the general parser");
    }

    #[test]
    fn same_head_compares_the_whole_head() {
        let get = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n";
        let head = 13;
        let mut input = get.to_vec();
        input.extend_from_slice(get);
        assert!(same_head(&input, get.len(), head));
        // A difference at any byte of the head, or a head cut by the end, is another.
        for i in 0..head {
            let mut other = input.clone();
            other[get.len() + i] ^= 0x20;
            assert!(!same_head(&other, get.len(), head), "byte {i}");
        }
        assert!(!same_head(&input[..get.len() + head - 1], get.len(), head));
        // Heads outside 8..=16 bytes take the plain comparison.
        assert!(same_head(b"*1\r\n*1\r\n", 4, 4));
        assert!(!same_head(b"*1\r\n*2\r\n", 4, 4));
        let long = b"*2\r\n$9\r\nLONGERCMD\r\n";
        let twice = [&long[..], &long[..]].concat();
        assert!(same_head(&twice, long.len(), 16 + 3));
    }

    #[test]
    fn plain_commands_are_single_key_and_groupable() {
        for name in PLAIN {
            let idx = TABLE.lookup(name.as_bytes()).expect(name);
            assert!(plain_command(idx), "{name}");
        }
        for name in ["mset", "blpop", "eval", "ping", "del", "client", "getex"] {
            let idx = TABLE.lookup(name.as_bytes()).expect(name);
            assert!(!plain_command(idx), "{name}");
        }
    }
}
