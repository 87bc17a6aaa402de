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
//!
//! Files: this one holds the state and its accounting; `input` the read buffer,
//! `dispatch` parsing and running requests (`process_input`), `output` the reply
//! slots and the output buffers, `master` a replica's link to its master.

mod dispatch;
mod input;
mod master;
mod output;

use super::lastcmd::LastCmd;
use super::outlimit::OutputLimitCheck;
use crate::cmd::Session;
use crate::io::ring::Sock;
use crate::resp::{ArgStore, BIG_ARG, Proto, RequestParser};
use crate::shard::state::ClientMeta;
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
    /// The send in flight is a quiet one (`io::ring::Ring::send_quiet`): it posts a
    /// completion only if it did not send everything, so the worker settles it.
    pub send_quiet: bool,
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
    /// The turn's warming (`lookahead::AcrossConns`) skimmed all of the input and
    /// left the next `process_input`'s own lookahead nothing to warm in it.
    pub warmed_whole: bool,
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
            send_quiet: false,
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
            warmed_whole: false,
        }
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

    /// Starts loading the lines a completion and the parse after it touch first (the
    /// generation, the session's id and database, the buffers' headers, the flags),
    /// so that the worker can have a turn's connections' misses overlap
    /// (`server::worker::overlap`). A hint: the lines may be evicted again by then.
    pub fn prefetch_hot(&self) {
        use crate::storage::table::prefetch_write;
        prefetch_write(&self.generation);
        prefetch_write(&self.sess.id);
        prefetch_write(&self.sess.db);
        prefetch_write(&self.rbuf);
        prefetch_write(&self.out);
        prefetch_write(&self.queued_for_parse);
        prefetch_write(&self.last_interaction_ms);
        prefetch_write(&self.sending);
        prefetch_write(&self.send_off);
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
        self.recv_active
            && !self.closing
            && !self.master
            && self.drained()
            && (!self.pending_input() || self.door_prefix().is_some())
    }

    /// The unparsed input the busy door may take over: the start of a request whose
    /// rest is still in the socket (the parser found it incomplete since the last
    /// receive, `need`), all of it in the read buffer, nothing moved out, no request
    /// held. None when there is none it could take.
    pub fn door_prefix(&self) -> Option<&[u8]> {
        let whole = self.moved_args.is_empty() && self.overflow.is_empty();
        let held = self.paused_request.is_some() || self.drain_wait || self.barrier.is_some();
        let incomplete = self.rpos < self.rbuf.len() && self.need > self.rbuf.len();
        (incomplete && whole && !held).then(|| &self.rbuf[self.rpos..])
    }

    /// The busy door answered the request(s) whose start this connection held
    /// (`door_prefix`) while a script ran: forget those bytes.
    pub fn drop_door_prefix(&mut self) {
        self.rbuf.truncate(self.rpos);
        self.parser = RequestParser::new();
        self.need = 0;
    }

    /// Has everything queued for this client been sent?
    pub fn drained(&self) -> bool {
        self.out.is_empty() && !self.send_inflight && self.slots.is_empty() && self.held.is_empty()
    }

    /// The protocol for replies written on this connection's behalf.
    pub fn proto(&self) -> Proto {
        self.sess.proto
    }
}
