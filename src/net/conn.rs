//! One client connection.
//!
//! Input: received bytes are appended to `rbuf`; `rpos` marks the start of the first
//! request not yet run. The `RequestParser` keeps its progress through that request
//! across reads (a request spread over many reads is parsed once), and `need` skips
//! parse calls until a large argument has fully arrived. Each byte is copied into
//! `rbuf` once, plus the buffer's geometric growth; consumed bytes are dropped only
//! when they are at least half the buffer (so the cost stays linear), and an emptied
//! buffer that grew past 1 MiB is released.
//!
//! A big request does not stay whole in `rbuf`: once its complete arguments pass
//! `DETACH_AT` bytes, or a big argument starts, they move to `moved_args` (chunks
//! that never copy when they grow, `resp::ArgStore`) and `rbuf` drops them, as
//! Redis moves parsed arguments from its query buffer to `argv`. So `rbuf` stays
//! small and its doublings no longer copy (and fault in) the whole request. A big
//! argument is read into a buffer that grows in few steps to its exact size (kept
//! out of huge pages, `io::pages`), which then becomes the argument (no copy), and
//! SET moves it on into the value (`Args::lend`).

use super::lastcmd::LastCmd;

mod master;
use super::outlimit::OutputLimitCheck;
use crate::cmd::table::flag;
use crate::cmd::{Args, Outcome, ReplyMode, Session, TABLE, dispatch};
use crate::io::ring::Sock;
use crate::resp::{ArgStore, BIG_ARG, Limits, Parsed, Proto, ReplyWriter, RequestParser};
use crate::shard::state::ClientMeta;
use crate::shard::{ReplyTo, ShardState};
use std::collections::VecDeque;
use std::os::fd::RawFd;

/// Stop parsing a connection's pipeline while this much output waits to be sent: a
/// client that writes without reading gets backpressure instead of unbounded memory.
const OUTPUT_HIGH_WATER: usize = 8 << 20;

/// A reply slot: the request's sequence number, and its reply once known. `discard`
/// marks replies suppressed by CLIENT REPLY OFF/SKIP.
struct Slot {
    seq: u64,
    reply: Option<Vec<u8>>,
    discard: bool,
}

/// Buffers larger than this are released once empty and idle (`shrink_idle`).
pub const IDLE_BUF: usize = 16 << 10;

/// A partial request's complete arguments move out of `rbuf` once they hold this
/// many bytes (see the module docs).
const DETACH_AT: usize = 64 << 10;

/// Room left past a big argument when the read buffer is sized for it: the last
/// read may bring the start of the next request too (one receive buffer, 16 KiB),
/// and must not make the buffer reallocate (copy) the whole argument.
const READ_SLACK: usize = 16 << 10;

/// How much the read buffer may grow per step while a big argument arrives
/// (`reserve_for_bulk`).
const BULK_GROWTH: usize = 8;

/// The largest buffer a connection keeps as its `spare`.
const SPARE_MAX: usize = 64 << 10;

/// Output a connection keeps back while a request waits for owed replies
/// (`Conn::holds_output`): past this, sending it now costs less than the copying
/// and memory of keeping it.
const WAIT_HOLD_MAX: usize = 64 << 10;

pub struct Conn {
    pub fd: RawFd,
    /// How the ring's entries name the socket: `fd`, or its registered index
    /// (`io::ring::Sock`), released when the connection is finalized.
    pub sock: Sock,
    pub generation: u32,
    pub sess: Session,
    /// Received bytes; `rpos` is where the current (possibly partial) request starts.
    pub rbuf: Vec<u8>,
    rpos: usize,
    /// Don't try to parse until `rbuf` holds this many bytes (a bulk's length is known).
    need: usize,
    /// Progress through the request at `rpos`, kept across reads so a request that
    /// arrives in many pieces is parsed once, not once per read.
    parser: RequestParser,
    /// The first arguments of a big request at `rpos`, moved out of `rbuf`
    /// (`detach_parsed`); the parser's ranges follow them.
    moved_args: ArgStore,
    /// Received bytes that come after `rbuf`'s: those that did not fit while `rbuf`
    /// is sized for a big argument (`feed`), so it never reallocates (copies) it.
    overflow: Vec<u8>,
    scratch: Vec<u8>,
    /// A request parsed but held by CLIENT PAUSE (its length): run it from the
    /// parser's ranges when the pause ends instead of parsing it again.
    paused_request: Option<usize>,
    /// Replies ready to go, in order.
    pub out: Vec<u8>,
    /// The buffer an in-flight send points into; never touched while `send_inflight`.
    pub sending: Vec<u8>,
    /// A buffer `sending` gave up to a held chunk, to be the next `out` when output is
    /// held (`appendfsync always`), so holding allocates nothing in steady state. At
    /// most `SPARE_MAX` bytes: one large reply must not pin a third big buffer.
    pub spare: Vec<u8>,
    pub send_off: usize,
    pub send_inflight: bool,
    slots: VecDeque<Slot>,
    next_seq: u64,
    /// A cross-shard transaction of this client is in flight: stop dispatching.
    barrier: Option<u64>,
    /// A request waits (already parsed, in `paused_request`) for every owed reply to
    /// arrive (`Outcome::Wait`).
    drain_wait: bool,
    pub recv_active: bool,
    /// shutdown() was called; waiting for in-flight operations before close().
    pub closing: bool,
    /// Close once everything queued has been sent (QUIT, protocol error).
    pub close_after_flush: bool,
    pub queued_for_parse: bool,
    pub queued_for_send: bool,
    /// Output waiting for the shard's log, with the log offset each chunk needs
    /// (`persist`); it leaves before anything in `out`.
    pub held: VecDeque<(u64, Vec<u8>)>,
    /// Listed in the worker's set of connections waiting for the log.
    pub aof_waiting: bool,
    /// Bytes in `held`, and in filled reply slots not yet moved to `out`: with `out`
    /// and the unsent part of `sending`, the output `client-output-buffer-limit`
    /// counts (`output_bytes`).
    held_bytes: usize,
    slot_bytes: usize,
    /// The soft-limit timer of `client-output-buffer-limit`.
    pub out_limit: OutputLimitCheck,
    /// The last command, for CLIENT LIST's `cmd`.
    last: LastCmd,
    /// When a receive or a send last completed (the turn's `now_ms`): kept here, on
    /// the line the completion touches anyway, and copied into the `ClientMeta` by
    /// `sync_meta` (CLIENT LIST `idle`); the idle timeout reads it here.
    pub last_interaction_ms: u64,
    /// Argument bytes of the command still running (waiting for another shard or
    /// blocked): CLIENT LIST's `argv-mem`.
    running_argv: usize,
    /// Waiting in a blocking command (CLIENT LIST flag `b`).
    pub blocked: bool,
    /// Running average size of replies from other shards (0: none yet), and whether
    /// parsing stopped because `reply_window` replies were owed.
    avg_reply: usize,
    window_full: bool,
    /// The replica's link to its master: what it runs advances the replication
    /// offset and is forwarded to our replicas (`repl::replica`).
    pub master: bool,
    /// The master's requests since MULTI, not yet counted (see `master_applied`).
    master_pending: Vec<u8>,
    /// Commands in the master link's open batch (`repl::batch`), if any.
    batch_len: u32,
    /// The open batch's commands' shards, as queued (`repl::batch::batchable`).
    batch_owners: Vec<u16>,
    /// The master's requests counted in this `process_input`, forwarded to our
    /// replicas in one piece when it returns (`repl::replica::forward`).
    master_batch: Vec<u8>,
    /// Seated at the busy door: idle, so a busy script's door may answer it
    /// (`server::busy_door::sync_seat`).
    pub door_seated: bool,
}

/// What a connection costs besides its buffers (the struct, its session, its slot).
const CONN_OVERHEAD: usize = std::mem::size_of::<Conn>() + 256;

/// CLIENT PAUSE as seen by the connection layer this turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    None,
    /// Hold write commands (CLIENT PAUSE ... WRITE).
    Writes,
    /// Hold every command.
    All,
}

/// Why `process_input` stopped with input left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Everything parseable was processed (or a barrier/close holds the rest).
    Idle,
    /// Too much output waiting: resume when sends drain.
    Backpressure,
    /// CLIENT PAUSE holds the next command: resume when the pause ends.
    Paused,
    /// A shard's inbox is over its bound: resume when the inboxes drain.
    Flooded,
    /// The unparsed input exceeds `client-query-buffer-limit`: close the connection
    /// without a reply, as Redis does.
    QueryBufferLimit,
    /// This turn's share of commands ran (`shard::turns::COMMANDS_PER_TURN`): parse
    /// the rest next turn, after the other connections had theirs.
    Yield,
}

impl Conn {
    pub fn new(fd: RawFd, generation: u32, sess: Session) -> Conn {
        Conn {
            fd,
            sock: Sock::Fd(fd),
            generation,
            sess,
            last_interaction_ms: 0,
            rbuf: Vec::new(),
            rpos: 0,
            need: 0,
            parser: RequestParser::new(),
            moved_args: ArgStore::new(),
            overflow: Vec::new(),
            paused_request: None,
            scratch: Vec::new(),
            out: Vec::new(),
            sending: Vec::new(),
            spare: Vec::new(),
            send_off: 0,
            send_inflight: false,
            slots: VecDeque::new(),
            next_seq: 0,
            barrier: None,
            drain_wait: false,
            recv_active: false,
            closing: false,
            close_after_flush: false,
            queued_for_parse: false,
            queued_for_send: false,
            held: VecDeque::new(),
            aof_waiting: false,
            held_bytes: 0,
            slot_bytes: 0,
            out_limit: OutputLimitCheck::default(),
            last: LastCmd::default(),
            running_argv: 0,
            blocked: false,
            avg_reply: 0,
            window_full: false,
            master: false,
            master_pending: Vec::new(),
            batch_len: 0,
            batch_owners: Vec::new(),
            master_batch: Vec::new(),
            door_seated: false,
        }
    }

    /// Appends received bytes. `process_input` checks the query buffer limit once
    /// it has parsed them (it runs in the same turn as every receive).
    pub fn feed(&mut self, data: &[u8]) {
        if data.len() > self.rbuf.capacity() - self.rbuf.len() || !self.overflow.is_empty() {
            return self.feed_past_capacity(data);
        }
        self.rbuf.extend_from_slice(data);
    }

    /// Input that does not fit `rbuf`'s capacity. While a big argument arrives,
    /// `rbuf` grows by the argument's rule (`reserve_for_bulk`) and, once it has the
    /// argument's exact size, what does not fit waits in `overflow` (several reads
    /// can arrive in one turn: the bytes after the argument must not make `rbuf`
    /// reallocate the whole argument); it follows once the argument has left `rbuf`
    /// (`drain_overflow`).
    #[cold]
    fn feed_past_capacity(&mut self, data: &[u8]) {
        if self.overflow.is_empty() {
            self.append_input(data);
        } else {
            self.overflow.extend_from_slice(data);
        }
    }

    /// Appends to `rbuf` (with `overflow` empty) as `feed_past_capacity` says.
    fn append_input(&mut self, mut data: &[u8]) {
        while self.parser.pending_bulk().is_some_and(|len| len >= BIG_ARG) && self.need > 0 {
            let fits = (self.rbuf.capacity() - self.rbuf.len()).min(data.len());
            self.rbuf.extend_from_slice(&data[..fits]);
            data = &data[fits..];
            if data.is_empty() {
                return;
            }
            if self.rbuf.capacity() >= self.need {
                self.overflow.extend_from_slice(data);
                return;
            }
            let capacity = self.rbuf.capacity();
            self.reserve_for_bulk();
            if self.rbuf.capacity() == capacity {
                break;
            }
        }
        self.rbuf.extend_from_slice(data);
    }

    /// Moves waiting `overflow` bytes into `rbuf` (as many as `append_input` takes).
    /// Returns whether any moved.
    #[cold]
    fn drain_overflow(&mut self) -> bool {
        let waiting = std::mem::take(&mut self.overflow);
        let before = self.rbuf.len();
        self.append_input(&waiting);
        self.rbuf.len() > before
    }

    /// Received bytes not parsed yet. Redis's `client-query-buffer-limit` applies to
    /// this: its query buffer keeps only the unparsed tail (parsed arguments move to
    /// `argv`), so the complete arguments of a partial request do not count.
    fn unparsed(&self) -> usize {
        self.rbuf.len() - self.rpos - self.parser.parsed_len().min(self.rbuf.len() - self.rpos) + self.overflow.len()
    }

    /// Payload bytes of the complete arguments of the partial request still in `rbuf`.
    fn partial_argv_bytes(&self) -> usize {
        if !self.parser.in_request() {
            return 0;
        }
        self.parser.args().iter().map(|&(a, b)| b.saturating_sub(a) as usize).sum()
    }

    /// The first bytes of the unparsed input, quoted as Redis's `sdscatrepr` does,
    /// for the log line of a client closed for its query buffer.
    pub fn unparsed_head_repr(&self) -> String {
        let start = self.rpos + self.parser.parsed_len().min(self.rbuf.len() - self.rpos);
        let head = &self.rbuf[start..(start + 64).min(self.rbuf.len())];
        let mut s = String::from("\"");
        for &b in head {
            match b {
                b'\\' | b'"' => {
                    s.push('\\');
                    s.push(b as char);
                }
                b'\n' => s.push_str("\\n"),
                b'\r' => s.push_str("\\r"),
                b'\t' => s.push_str("\\t"),
                0x07 => s.push_str("\\a"),
                0x08 => s.push_str("\\b"),
                0x20..=0x7e => s.push(b as char),
                _ => s.push_str(&format!("\\x{b:02x}")),
            }
        }
        s.push('"');
        s
    }

    /// Is its output kept back for now? While a parsed request waits for the replies
    /// owed by another shard (`cmd::order`), those replies, and the requests after it,
    /// come within a round trip between the shard threads: sent at once, a pipeline
    /// that changes shard eight times would go out in eight pieces, each a send (the
    /// costliest step of a request at `-P 16`) and a wake-up of the client. So the
    /// output waits for the wait to end, up to `WAIT_HOLD_MAX` bytes. The wait ends
    /// when the owed replies land (`after_fill`), which queues the send.
    pub fn holds_output(&self) -> bool {
        self.drain_wait && self.out.len() < WAIT_HOLD_MAX
    }

    /// So much output waits that parsing stops (`OUTPUT_HIGH_WATER`).
    pub fn output_backlogged(&self) -> bool {
        self.out.len() + self.sending.len() > OUTPUT_HIGH_WATER
    }

    /// Output bytes the kernel has not taken yet: ready, in flight, held for the log,
    /// and replies that wait behind an earlier one (what `client-output-buffer-limit`
    /// counts).
    pub fn output_bytes(&self) -> usize {
        self.out.len() + self.sending.len().saturating_sub(self.send_off) + self.held_bytes + self.slot_bytes
    }

    /// Everything this connection holds in memory: its buffers at their capacity, the
    /// output waiting elsewhere, and a fixed share for its structures.
    pub fn memory(&self) -> usize {
        CONN_OVERHEAD
            + self.rbuf.capacity()
            + self.scratch.capacity()
            + self.moved_args.memory()
            + self.overflow.capacity()
            + self.out.capacity()
            + self.sending.capacity()
            + self.spare.capacity()
            + self.held_bytes
            + self.slot_bytes
    }

    /// Drops every byte of output not in flight (the client is being closed for its
    /// output limit: nothing more will be sent, and the memory goes now).
    pub fn discard_output(&mut self) {
        self.out = Vec::new();
        self.spare = Vec::new();
        self.held.clear();
        self.held_bytes = 0;
        for s in self.slots.iter_mut() {
            if let Some(r) = s.reply.take() {
                self.slot_bytes -= r.len();
                s.reply = Some(Vec::new());
            }
        }
    }

    /// Gives back buffers that grew past `IDLE_BUF` and are empty now (after a burst:
    /// a big reply, a pipelined load). Returns the bytes released.
    pub fn shrink_idle(&mut self) -> usize {
        let mut freed = 0;
        let mut release = |v: &mut Vec<u8>| {
            if v.is_empty() && v.capacity() > IDLE_BUF {
                freed += v.capacity();
                *v = Vec::new();
            }
        };
        if !self.pending_input() && self.paused_request.is_none() {
            self.rbuf.clear();
            self.rpos = 0;
            self.need = 0;
            release(&mut self.rbuf);
            self.scratch.clear();
            release(&mut self.scratch);
        }
        release(&mut self.out);
        release(&mut self.spare);
        if !self.send_inflight {
            release(&mut self.sending);
        }
        freed
    }

    /// Turns the output ready now into a chunk held until the log reaches offset
    /// `need` (`persist`).
    pub fn hold(&mut self, need: u64) {
        let fresh = std::mem::take(&mut self.spare);
        let chunk = std::mem::replace(&mut self.out, fresh);
        self.held_bytes += chunk.len();
        self.held.push_back((need, chunk));
    }

    /// Copies what CLIENT LIST/INFO and the memory limits read into the connection's
    /// metadata. Run after each burst of activity, not per command.
    pub fn sync_meta(&mut self, m: &mut ClientMeta) {
        // As Redis's: the query buffer holds only the unparsed tail of a partial
        // request; its complete arguments count in `argv-mem` (`cmd::client`).
        m.qbuf = self.unparsed();
        m.qbuf_free = crate::cmd::client::query_buffer_free(m.qbuf, self.parser.pending_bulk());
        m.argv_mem = self.running_argv + self.moved_args.arg_bytes() + self.partial_argv_bytes();
        m.omem = self.output_bytes();
        m.obl = self.out.len();
        // Chunks besides the ready buffer: in flight, held, and replies waiting behind
        // an earlier one (counted as one chunk).
        m.oll = self.held.len() + usize::from(self.send_inflight) + usize::from(self.slot_bytes > 0);
        m.tot_mem = self.memory();
        m.sub = self.sess.subs.len();
        m.psub = self.sess.psubs.len();
        m.ssub = self.sess.ssubs.len();
        m.blocked = self.blocked;
        m.multi = self.sess.multi.as_ref().map_or(-1, |q| q.cmds.len() as i32);
        m.last_interaction_ms = m.last_interaction_ms.max(self.last_interaction_ms);
        if self.last.changed {
            self.last.changed = false;
            self.last.write_name(&mut m.last_cmd);
        }
    }

    /// Are replies still owed to this client (from other shards, or a blocked command)?
    pub fn has_pending(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Bytes received and still held in the read buffer (the partial request's
    /// parsed arguments included): what a stalled connection costs in memory.
    pub fn buffered_input(&self) -> usize {
        self.rbuf.len() - self.rpos + self.overflow.len()
    }

    pub fn pending_input(&self) -> bool {
        self.rpos < self.rbuf.len() || !self.overflow.is_empty()
    }

    /// Is this connection waiting for nothing: no input, nothing owed or queued,
    /// its receive armed? (What a busy script's door may answer; `server::busy_door`.)
    pub fn idle_for_door(&self) -> bool {
        self.recv_active && !self.closing && !self.master && !self.pending_input() && self.drained()
    }

    /// Has everything queued for this client been sent?
    pub fn drained(&self) -> bool {
        self.out.is_empty() && !self.send_inflight && self.slots.is_empty() && self.held.is_empty()
    }

    /// Moves the held chunks the log has cleared (offset <= `cleared`) into `sending`.
    /// Returns false if none is cleared yet. Only when no send is in flight.
    pub fn take_cleared(&mut self, cleared: u64) -> bool {
        debug_assert!(!self.send_inflight);
        self.sending.clear();
        while self.held.front().is_some_and(|(need, _)| *need <= cleared) {
            let (_, chunk) = self.held.pop_front().expect("checked");
            self.held_bytes -= chunk.len();
            if self.sending.is_empty() {
                let mut old = std::mem::replace(&mut self.sending, chunk);
                if old.capacity() > self.spare.capacity() && old.capacity() <= SPARE_MAX {
                    old.clear();
                    self.spare = old;
                }
            } else {
                self.sending.extend_from_slice(&chunk);
            }
        }
        !self.sending.is_empty()
    }

    /// Parses and dispatches as many complete requests as possible, and says why it
    /// stopped. Input left unparsed beyond `client-query-buffer-limit` (checked on
    /// every exit: the worker runs this after every receive, even while a pause,
    /// backpressure or a barrier holds the input) stops with `QueryBufferLimit`.
    pub fn process_input(&mut self, st: &mut ShardState, slot: u32, limits: &Limits, pause: Pause) -> Stopped {
        // One clock reading per command in this batch (`ShardState::cmd_stamp`).
        st.cmd_chain = true;
        st.input_batch_len = self.unparsed();
        // The receive that brought this input reaches the `ClientMeta` only at the
        // batch's `sync_meta`: the caller's own CLIENT LIST line reads it from here.
        st.input_client = (self.sess.id, self.last_interaction_ms);
        let stopped = self.parse_and_dispatch(st, slot, limits, pause);
        if self.batch_len > 0 {
            self.close_batch(st, slot);
        }
        if self.master && !self.master_batch.is_empty() {
            crate::repl::replica::forward(&st.shared, std::mem::take(&mut self.master_batch));
        }
        st.cmd_chain = false;
        crate::cmd::cmdtime::end_batch(st);
        if !self.close_after_flush && !self.master && self.unparsed() as u64 > st.config.client_query_buffer_limit {
            return Stopped::QueryBufferLimit;
        }
        stopped
    }

    fn parse_and_dispatch(&mut self, st: &mut ShardState, slot: u32, limits: &Limits, pause: Pause) -> Stopped {
        let mut budget = crate::shard::turns::COMMANDS_PER_TURN;
        // `rbuf` offset up to which the batch's keys were warmed (`lookahead`).
        let mut warmed_to = 0;
        loop {
            if self.barrier.is_some() || self.drain_wait || self.closing || self.close_after_flush {
                break;
            }
            // A link that is no longer our master's (REPLICAOF NO ONE, or a new
            // REPLICAOF, maybe run by this very input) applies nothing more of what it
            // had read: Redis frees the master client at once.
            if self.master && !st.shared.replica.is_master_client(self.sess.id) {
                self.drop_input();
                break;
            }
            // A replica's master link waits while a cut locks its shard (`repl::apply`).
            if self.master && crate::repl::apply::link_gated(st) {
                break;
            }
            if !self.overflow.is_empty() {
                self.drain_overflow();
            }
            if self.output_backlogged() {
                self.compact();
                return Stopped::Backpressure;
            }
            // Replies owed by other shards are not output yet, but will be: keep
            // their expected bytes under the high-water mark too (`reply_window`).
            if self.slots.len() >= self.reply_window() {
                self.window_full = true;
                self.compact();
                return Stopped::Backpressure;
            }
            // A held request (`paused_request`) is parsed already: its bytes may all be
            // gone from `rbuf` (a big argument it adopted) while `need` still names
            // its length, so it runs whatever input is left.
            if self.paused_request.is_none() && (self.rpos >= self.rbuf.len() || self.rbuf.len() < self.need) {
                break;
            }
            if budget == 0 {
                self.compact();
                self.sync_reply_order();
                return Stopped::Yield;
            }
            // Some shard's inbox is over its bound: take no new request until it
            // drains (`shard::msg`, "The inbox bound").
            if st.outbox.full() {
                self.compact();
                return Stopped::Flooded;
            }
            if self.rpos >= warmed_to {
                let skimmed = super::lookahead::warm_batch(st, self.sess.db, &self.rbuf[self.rpos..]);
                warmed_to = self.rpos + skimmed.max(1);
            }
            if let Some(n) = self.run_plain(st, pause, budget) {
                budget -= n;
                continue;
            }
            let input = &self.rbuf[self.rpos..];
            let parsed = match self.paused_request.take() {
                // Parsed before a pause held it: its ranges (and scratch) are intact.
                Some(consumed) => Ok(Parsed::Command { consumed }),
                None => {
                    self.scratch.clear();
                    // Redis's limits for clients that have not authenticated while a
                    // password is required (per request: AUTH may come earlier in the
                    // pipeline).
                    let unauthenticated = !self.sess.authenticated && st.shared.acl.auth_required();
                    let limits = &Limits { unauthenticated, ..*limits };
                    self.parser.parse(input, &mut self.scratch, limits)
                }
            };
            match parsed {
                Ok(Parsed::Command { mut consumed }) => {
                    budget -= 1;
                    if !self.moved_args.is_empty() {
                        consumed -= self.adopt_big_arg();
                    }
                    let input = &self.rbuf[self.rpos..];
                    let args = if self.moved_args.is_empty() {
                        Args::Ranges { buf: input, scratch: &self.scratch, ranges: self.parser.args() }
                    } else {
                        Args::Split { head: &self.moved_args, buf: input, ranges: self.parser.args() }
                    };
                    if pause != Pause::None && held_by_pause(&args, pause) {
                        self.paused_request = Some(consumed);
                        self.compact();
                        return Stopped::Paused;
                    }
                    self.last.note(&args);
                    let getack =
                        self.master && args.len() >= 2 && crate::repl::replica::is_getack(args.get(0), args.get(1));
                    // Runs of the stream apply as batches (`repl::batch`): the command's
                    // index and shard, if it joins one.
                    let mut batched = None;
                    if self.master && st.config.replica_apply_order_strict && st.nshards > 1 {
                        let open = self.batch_len > 0;
                        batched =
                            if getack { None } else { crate::repl::batch::batchable(st, &self.sess, &args, open) };
                        if open
                            && (batched.is_none()
                                || crate::repl::batch::batch_full(self.batch_len, self.master_pending.len()))
                        {
                            self.close_batch(st, slot);
                            self.paused_request = Some(consumed);
                            break;
                        }
                        self.batch_len =
                            crate::repl::batch::joined(&mut self.sess, self.batch_len, batched, self.slots.is_empty());
                    }
                    let errors_before = st.stats.error_replies;
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    let to = ReplyTo { shard: st.id as u16, slot, generation: self.generation, seq };
                    let mode = self.sess.reply;
                    // Pub/Sub confirmations are pushes: Redis sends them under CLIENT
                    // REPLY OFF/SKIP too, as it does the messages.
                    let discard = matches!(mode, ReplyMode::Off | ReplyMode::Skipping)
                        && !crate::cmd::pubsub::is_subscription_command(args.get(0));
                    if self.slots.is_empty() {
                        // Nothing owed: the next command may go anywhere (`cmd::order`).
                        self.sess.lane = crate::cmd::order::Lane::Idle;
                    }
                    let outcome = if let Some((idx, shard)) = batched.filter(|_| self.batch_len > 0) {
                        master::queue_in_batch(st, &mut self.sess, &mut self.batch_owners, (idx, shard), &args, to)
                    } else if self.slots.is_empty() && !discard {
                        dispatch(st, &mut self.sess, &args, &mut self.out, to)
                    } else {
                        let mut tmp = Vec::new();
                        let o = dispatch(st, &mut self.sess, &args, &mut tmp, to);
                        // CLIENT REPLY ON answers +OK even while replies were off.
                        let discard = discard && self.sess.reply != ReplyMode::On;
                        if matches!(o, Outcome::Done | Outcome::Close) && (!discard || !self.slots.is_empty()) {
                            self.slot_bytes += tmp.len();
                            self.slots.push_back(Slot { seq, reply: Some(tmp), discard });
                        }
                        o
                    };
                    if outcome == Outcome::Wait {
                        // Run it again once the owed replies are in (`fill_reply`): an
                        // earlier command still runs elsewhere (`cmd::order`), or a
                        // keyless one waits for split commands (`coord_split`).
                        self.next_seq -= 1;
                        self.paused_request = Some(consumed);
                        self.drain_wait = true;
                        break;
                    }
                    let discard = discard && self.sess.reply != ReplyMode::On;
                    if self.master && !getack && st.stats.error_replies > errors_before {
                        master_error(args.get(0));
                    }
                    match outcome {
                        Outcome::Done => {}
                        Outcome::Pending => {
                            self.running_argv = args_bytes(&args);
                            self.slots.push_back(Slot { seq, reply: None, discard })
                        }
                        Outcome::Barrier => {
                            // Blocking commands wait behind a barrier (CLIENT LIST `b`).
                            self.running_argv = args_bytes(&args);
                            self.blocked = is_blocking(&args);
                            self.slots.push_back(Slot { seq, reply: None, discard });
                            self.barrier = Some(seq);
                        }
                        Outcome::Close => self.close_after_flush = true,
                        Outcome::Wait => unreachable!("handled above"),
                    }
                    if self.moved_args.has_lent() {
                        // The command kept a big argument as a value: move it there now
                        // that everything that reads the arguments has run.
                        fill_lent(st, &mut self.moved_args);
                    }
                    // CLIENT REPLY SKIP applies to the command after it.
                    self.sess.reply = match (mode, self.sess.reply) {
                        (ReplyMode::Skipping, ReplyMode::Skipping) => ReplyMode::On,
                        (_, ReplyMode::SkipNext) => ReplyMode::Skipping,
                        (_, m) => m,
                    };
                    self.rpos += consumed;
                    self.need = 0;
                    self.moved_args.clear();
                    if self.master {
                        // A coordinated command counts once it finished (`repl::apply`).
                        // (Not a parked blocking command: it may wait indefinitely.)
                        let held = (outcome == Outcome::Barrier && !self.blocked).then_some((slot, seq));
                        self.master_applied(st, consumed, getack, held);
                    }
                }
                Ok(Parsed::Empty { consumed }) => {
                    self.rpos += consumed;
                    self.need = 0;
                    if self.master {
                        self.master_applied(st, consumed, false, None);
                    }
                }
                Ok(Parsed::Incomplete { need }) => {
                    let dropped = self.detach_parsed();
                    self.need = if need == 0 { self.rbuf.len() + 1 } else { self.rpos + need - dropped };
                    self.reserve_for_bulk();
                    if !self.overflow.is_empty() && self.drain_overflow() {
                        continue;
                    }
                    break;
                }
                Err(e) => {
                    st.stats.count_error(&e.message());
                    if self.master {
                        // Garbage in the master's stream: the datasets may now differ,
                        // which Redis reports at its highest level before it drops
                        // the link (and resyncs).
                        let why: String = e.message().escape_debug().collect();
                        crate::util::log::warning(&format!(
                            "== CRITICAL == Protocol error ({why}) from the master: closing the link"
                        ));
                    }
                    let mut tmp = Vec::new();
                    ReplyWriter::new(&mut tmp, self.sess.proto).error(&e.message());
                    self.push_ready(tmp);
                    self.close_after_flush = true;
                    self.rpos = self.rbuf.len();
                    self.moved_args.clear();
                    self.overflow = Vec::new();
                    break;
                }
            }
        }
        self.compact();
        self.sync_reply_order();
        Stopped::Idle
    }

    /// Runs the requests at `rpos` that repeat one plain command (`cmd::fastrun`), when
    /// nothing of this client's is in flight or held and they are framed whole in
    /// `rbuf`: how many ran.
    #[inline]
    fn run_plain(&mut self, st: &mut ShardState, pause: Pause, budget: usize) -> Option<usize> {
        if !self.slots.is_empty()
            || self.master
            || pause != Pause::None
            || self.sess.reply != ReplyMode::On
            || self.paused_request.is_some()
            || !self.moved_args.is_empty()
            || self.parser.in_request()
        {
            return None;
        }
        let input = &self.rbuf[self.rpos..];
        let ran = crate::cmd::fastrun::run(st, &self.sess, input, &mut self.out, budget)?;
        self.last.note(&ran.last_args(input));
        self.next_seq += ran.requests as u64;
        self.rpos += ran.consumed;
        self.need = 0;
        Some(ran.requests)
    }

    /// Queues an already complete reply behind whatever is pending.
    pub fn push_ready(&mut self, bytes: Vec<u8>) {
        if self.slots.is_empty() {
            self.out.extend_from_slice(&bytes);
        } else {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.slot_bytes += bytes.len();
            self.slots.push_back(Slot { seq, reply: Some(bytes), discard: false });
        }
    }

    /// Moves the complete arguments of a big partial request out of `rbuf` (see the
    /// module docs) and drops their bytes, with the requests before it. Returns how
    /// many bytes of the request were dropped. Not on the master link: it forwards
    /// each request's bytes to our replicas once the request ran.
    fn detach_parsed(&mut self) -> usize {
        if self.master || !self.parser.in_request() {
            return 0;
        }
        let adopted = self.adopt_big_arg();
        let parsed = self.parser.parsed_len();
        let big_arg_next = self.parser.pending_bulk().is_some_and(|len| len >= BIG_ARG);
        if parsed == 0 || (parsed < DETACH_AT && !big_arg_next) {
            return adopted;
        }
        let dropped = self.parser.detach_into(&self.rbuf[self.rpos..], &mut self.moved_args);
        self.rbuf.drain(..self.rpos + dropped);
        self.rpos = 0;
        adopted + dropped
    }

    /// A big argument that starts the read buffer (it was detached up to its first
    /// byte, and the buffer sized for it: `reserve_for_bulk`) becomes the argument
    /// itself: the buffer moves into `moved_args` and only what follows the argument
    /// is copied into a fresh read buffer (a few KiB: the rest of the last read).
    /// Returns the bytes taken off the request's start. Redis does the same with a
    /// query buffer that holds exactly one big argument.
    fn adopt_big_arg(&mut self) -> usize {
        let len = match self.parser.args().first() {
            Some(&(0, end)) if self.rpos == 0 && !self.master && end as usize >= BIG_ARG => end as usize,
            _ => return 0,
        };
        let rest = self.rbuf[len + 2..].to_vec();
        let mut arg = std::mem::replace(&mut self.rbuf, rest);
        arg.truncate(len);
        self.moved_args.push_owned(arg);
        self.parser.take_first_arg(len)
    }

    /// While a large argument arrives, grows the read buffer towards the size the
    /// request needs (plus one read's slack), by up to `BULK_GROWTH` times what it
    /// holds per step, ending exactly at that size: the bytes received are copied
    /// about 1/7 of a time more on average (not once per doubling), and the buffer
    /// can then become the argument itself (`adopt_big_arg`). An announced length
    /// alone (up to `proto-max-bulk-len`) never makes the server reserve more than
    /// that factor times what the client sent. Redis reserves the whole announced
    /// argument up front instead.
    fn reserve_for_bulk(&mut self) {
        if self.parser.pending_bulk().is_none_or(|len| len < BIG_ARG) || self.need <= self.rbuf.capacity() {
            return;
        }
        let len = self.rbuf.len();
        let target = (self.need + READ_SLACK).min(len.saturating_mul(BULK_GROWTH).max(1 << 20));
        if target > self.rbuf.capacity() {
            // A fresh buffer, kept out of huge pages before the bytes are copied in
            // (`io::pages`: zeroing 2 MiB pages on first touch made a big SET cost
            // twice Redis's CPU), instead of a reallocation.
            let mut grown = Vec::with_capacity(target);
            crate::io::pages::avoid_huge_pages(&mut grown);
            grown.extend_from_slice(&self.rbuf);
            self.rbuf = grown;
        }
    }

    fn compact(&mut self) {
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
            self.need = 0;
            if self.rbuf.capacity() > 1 << 20 {
                self.rbuf.shrink_to(16 << 10);
            }
        } else if self.rpos > 0 && self.rpos >= self.rbuf.len() / 2 {
            self.rbuf.drain(..self.rpos);
            self.need = self.need.saturating_sub(self.rpos);
            self.rpos = 0;
        }
    }

    /// A reply for request `seq` arrived. Returns true if it lifted the barrier or
    /// reopened the reply window (the caller should parse this connection's remaining
    /// input).
    pub fn fill_reply(&mut self, seq: u64, bytes: Vec<u8>) -> bool {
        self.note_reply_size(bytes.len());
        if let Some(s) = self.slots.iter_mut().find(|s| s.seq == seq) {
            self.slot_bytes += bytes.len();
            s.reply = Some(bytes);
        }
        self.sync_reply_order();
        self.after_fill(seq)
    }

    /// `fill_reply` for a reply read from a packed buffer (`shard::hopbatch`): the
    /// request next in line (the usual case) gets it copied straight into the output;
    /// one behind an earlier request still owed keeps a copy in its slot.
    pub fn fill_reply_from(&mut self, seq: u64, bytes: &[u8]) -> bool {
        self.note_reply_size(bytes.len());
        if self.slots.front().is_some_and(|s| s.seq == seq && s.reply.is_none()) {
            let s = self.slots.pop_front().expect("checked");
            if !s.discard {
                self.out.extend_from_slice(bytes);
            }
        } else if let Some(s) = self.slots.iter_mut().find(|s| s.seq == seq) {
            self.slot_bytes += bytes.len();
            s.reply = Some(bytes.to_vec());
        }
        self.sync_reply_order();
        self.after_fill(seq)
    }

    fn note_reply_size(&mut self, len: usize) {
        self.avg_reply = if self.avg_reply == 0 { len.max(1) } else { (self.avg_reply * 7 + len) / 8 };
    }

    /// After reply `seq` arrived: did it lift the barrier or reopen the window?
    fn after_fill(&mut self, seq: u64) -> bool {
        if self.drain_wait && self.slots.is_empty() {
            self.drain_wait = false;
            return true;
        }
        if self.barrier == Some(seq) {
            self.barrier = None;
            return true;
        }
        if self.window_full && self.slots.len() < self.reply_window() {
            self.window_full = false;
            return true;
        }
        false
    }

    /// How many replies may be owed at once: as many as fit under the output
    /// high-water mark at the connection's average reply size (16 until one came
    /// back), between 4 and 1024. Without it, a client pipelining GETs of a big value
    /// on another shard would make that shard build every reply at once, whatever the
    /// output limits say.
    fn reply_window(&self) -> usize {
        if self.avg_reply == 0 { 16 } else { (OUTPUT_HIGH_WATER / self.avg_reply).clamp(4, 1024) }
    }

    /// Moves the ready prefix of the slot queue to the output buffer.
    fn sync_reply_order(&mut self) {
        while let Some(front) = self.slots.front() {
            if front.reply.is_none() {
                break;
            }
            let s = self.slots.pop_front().expect("front exists");
            let reply = s.reply.expect("checked");
            self.slot_bytes -= reply.len();
            if !s.discard {
                self.out.extend_from_slice(&reply);
            }
        }
        if self.slots.is_empty() {
            self.blocked = false;
            self.running_argv = 0;
        }
    }

    /// The protocol for replies written on this connection's behalf.
    pub fn proto(&self) -> Proto {
        self.sess.proto
    }
}

/// Moves the big argument the command just run kept as a value into it
/// (`Args::lend`), now that everything that reads the arguments has run.
#[cold]
fn fill_lent(st: &mut ShardState, moved: &mut ArgStore) {
    let Some((lent, bytes)) = moved.take_lent() else { return };
    crate::cmd::string::fill_lent_value(&mut st.dbs, lent.db, moved.get(lent.key), bytes, st.now_ms);
}

fn is_blocking(args: &Args) -> bool {
    TABLE.lookup(args.get(0)).is_some_and(|i| TABLE.get(i).flags & flag::BLOCKING != 0)
}

/// The bytes of a request's arguments (CLIENT LIST `argv-mem`).
fn args_bytes(args: &Args) -> usize {
    (0..args.len()).map(|i| args.get(i).len()).sum()
}

/// A command of the master failed here: the datasets may now differ, which Redis
/// reports at its highest level.
#[cold]
fn master_error(name: &[u8]) {
    crate::util::log::warning(&format!(
        "== CRITICAL == This replica is sending an error to its master after processing the command '{}'",
        String::from_utf8_lossy(name).to_lowercase()
    ));
}

/// Does CLIENT PAUSE hold this request? Under WRITE pauses, commands that may write
/// (and unknown ones, which will just error) are held, as in Redis.
fn held_by_pause(args: &Args, pause: Pause) -> bool {
    match pause {
        Pause::None => false,
        Pause::All => true,
        Pause::Writes => match TABLE.lookup(args.get(0)) {
            Some(i) => TABLE.get(i).flags & (flag::WRITE | flag::MAY_REPLICATE) != 0,
            None => false,
        },
    }
}
