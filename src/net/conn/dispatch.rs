//! Parsing a connection's input and dispatching its requests (`process_input`).

use super::{Conn, Pause, Slot, Stopped, master};
use crate::cmd::table::flag;
use crate::cmd::{Args, Outcome, ReplyMode, TABLE, dispatch};
use crate::resp::{ArgStore, Limits, Parsed, ReplyWriter};
use crate::shard::{ReplyTo, ShardState};

impl Conn {
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
        // `rbuf` offset up to which the batch's keys were warmed (`lookahead`): all
        // of it when the turn's warming already did (`server::worker::overlap`).
        let mut warmed_to = if std::mem::take(&mut self.warmed_whole) { self.rbuf.len() } else { 0 };
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
                let skimmed = crate::net::lookahead::warm_batch(st, self.sess.db, &self.rbuf[self.rpos..]);
                warmed_to = self.rpos + skimmed.max(1);
            }
            if self.slots.is_empty() && !st.exec_db_undo.is_empty() {
                self.undo_exec_select(st);
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
                    if pause != Pause::None && held_by_pause(&args, pause, self.sess.multi.as_ref(), &st.shared.script)
                    {
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
                        master_error(st, args.get(0));
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

    /// An EXEC of this client that failed its WATCH check after a queued SELECT has
    /// answered: the connection goes back to the db it had (`ShardState::exec_db_undo`).
    #[cold]
    fn undo_exec_select(&mut self, st: &mut ShardState) {
        if let Some(db) = st.exec_db_undo.remove(&self.sess.id) {
            self.sess.db = db;
            if let Some(m) = st.clients.get_mut(&self.sess.id) {
                m.db = db;
            }
        }
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
/// reports at its highest level. A read-only replica under `propagation-error-behavior`
/// `panic` or `panic-on-replicas` stops there, as Redis's does (a panic: the process
/// exits and a restart resyncs from the master).
#[cold]
fn master_error(st: &ShardState, name: &[u8]) {
    let name = String::from_utf8_lossy(name).to_lowercase();
    crate::shard::stats::unexpected_error("replica", "master", &st.stats.last_error, &name);
    let behavior = st.config.compat_value("propagation-error-behavior").unwrap_or("ignore");
    if behavior != "ignore" && st.config.compat_value("replica-read-only") != Some("no") {
        panic!("This replica panicked sending an error to its master after processing the command '{name}'");
    }
}

/// Does CLIENT PAUSE hold this request? Under WRITE pauses, commands that may write
/// are held, and EXEC when it queued one, as in Redis; a script by its declared flags
/// (`script::declared_writes`: a `no-writes` one goes through).
fn held_by_pause(
    args: &Args,
    pause: Pause,
    multi: Option<&crate::cmd::multi::MultiQueue>,
    script: &crate::script::ScriptShared,
) -> bool {
    let may_write = |idx: u16, args: &Args| {
        let spec = TABLE.get(idx);
        if crate::cmd::script::is_script(idx)
            && let Some(writes) = crate::cmd::script::declared_writes(script, spec.name, args)
        {
            return writes;
        }
        spec.flags & (flag::WRITE | flag::MAY_REPLICATE) != 0
    };
    match pause {
        Pause::None => false,
        Pause::All => true,
        Pause::Writes => match TABLE.lookup(args.get(0)) {
            Some(i) => {
                may_write(i, args)
                    || (TABLE.get(i).name == "exec"
                        && multi.is_some_and(|m| m.cmds.iter().any(|c| may_write(c.0, &Args::Owned(&c.1)))))
            }
            None => false,
        },
    }
}
