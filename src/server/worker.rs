//! One shard thread's loop. The order of a turn matters (see the crate docs):
//! reap completions, parse and dispatch input, drain the inbox, deliver replies,
//! run timers, flush outboxes (one batch per destination) and wake sleeping shards,
//! queue sends, then one submit-and-wait bounded by the next timer.
//!
//! Parsing is the one step that waits on the inbox bound (`flow`, `shard::msg`);
//! draining the inbox never does, which is what keeps the bound free of deadlocks.

use crate::cmd::handle_batch;
use crate::io::ring::{cqe_buffer, cqe_more};
use crate::io::{BufRing, Op, Ring, Token, sock};
use crate::net::Conn;
use crate::net::conn::{Pause, Stopped};
use crate::resp::Limits;
use crate::shard::{ShardState, Shared};
use crate::util::clock::Clock;
use crate::util::log;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

mod accept;
mod aof;
mod flow;
mod outmem;
mod overlap;
mod replica;

const RING_ENTRIES: u32 = 4096;
const RECV_BUFS: u16 = 512;
const RECV_BUF_SIZE: usize = 16 << 10;
const BUF_GROUP: u16 = 0;
/// Sends up to this size go quiet (`Ring::send_quiet`); a larger one would most
/// likely be short anyway, and its count must fit a completion's `i32`.
const QUIET_SEND_MAX: usize = 1 << 20;

pub(super) const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

pub struct Worker {
    ring: Ring,
    bufs: BufRing,
    pub st: ShardState,
    conns: Vec<Option<Conn>>,
    generations: Vec<u32>,
    free_slots: Vec<u32>,
    accept: accept::Acceptor,
    cqes: Vec<(u64, i32, u32)>,
    parse_queue: Vec<u32>,
    send_queue: Vec<u32>,
    rearm_recv: Vec<u32>,
    /// Whether sends go quiet (the kernel passed `Ring::probe_quiet_sends`).
    quiet_sends: bool,
    /// Quiet sends queued (their `Token`s) and not yet known to be taken by an enter.
    quiet_queued: Vec<u64>,
    /// Quiet sends an enter has taken: finished whole, unless this turn's completions
    /// say otherwise (`settle_quiet_sends`).
    quiet_taken: Vec<u64>,
    /// Connection slot of each client id on this thread (Pub/Sub delivery).
    by_client: std::collections::HashMap<u64, u32, foldhash::fast::RandomState>,
    /// Connections held by CLIENT PAUSE, re-queued when it ends.
    paused: Vec<u32>,
    /// Connections that stopped parsing because their output is too large.
    backlogged: Vec<u32>,
    /// Connections that stopped parsing at the inbox bound (`flow`).
    stalled: flow::SlotSet,
    /// Stalled connections whose socket reading is paused (`flow`).
    unread: flow::SlotSet,
    limits: Limits,
    next_cron_ms: u64,
    /// Connections holding output until the log clears it (`persist`).
    aof_waiting: Vec<u32>,
    aof_cleared: u64,
    /// Parsed `client-output-buffer-limit` (`outmem`).
    class_limits: outmem::ClassLimits,
    next_collect_ms: u64,
    /// Shard 0 only: the replica's link to its master (`replica`).
    repl_link: replica::LinkSide,
}

impl Worker {
    pub fn new(id: usize, shared: Arc<Shared>) -> std::io::Result<Worker> {
        let mut ring = Ring::new(RING_ENTRIES)?;
        // On the shard's own thread (the registered ring table is per thread): no
        // file lookup per enter.
        ring.register_own_fd();
        // Client sockets by registered index: no file lookup per receive and send.
        ring.enable_fixed_sockets();
        let quiet_sends = ring.probe_quiet_sends();
        let bufs = BufRing::new(&ring.uring, RECV_BUFS, RECV_BUF_SIZE, BUF_GROUP)?;
        shared.ring_fds[id].store(ring.fd(), Ordering::Release);
        let st = ShardState::new(id, shared, Clock::system());
        let limits = limits_of(&st);
        Ok(Worker {
            ring,
            bufs,
            st,
            conns: Vec::new(),
            generations: Vec::new(),
            free_slots: Vec::new(),
            accept: accept::Acceptor::default(),
            cqes: Vec::with_capacity(1024),
            parse_queue: Vec::new(),
            send_queue: Vec::new(),
            rearm_recv: Vec::new(),
            quiet_sends,
            quiet_queued: Vec::new(),
            quiet_taken: Vec::new(),
            by_client: std::collections::HashMap::default(),
            paused: Vec::new(),
            backlogged: Vec::new(),
            stalled: Default::default(),
            unread: Default::default(),
            limits,
            next_cron_ms: 0,
            aof_waiting: Vec::new(),
            aof_cleared: 0,
            class_limits: Default::default(),
            next_collect_ms: 0,
            repl_link: Default::default(),
        })
    }

    pub fn run(&mut self) {
        self.start_accepting();
        let shared = self.st.shared.clone();
        let id = self.st.id;
        self.rdb_boot();
        self.aof_boot();
        loop {
            if shared.shutdown.load(Ordering::Relaxed) {
                break;
            }
            // Shard 0 turns a signal into a shutdown (saving first if configured);
            // the others stop when the shutdown flag rises.
            // As in Redis, whose cron does not run during a script: not while a script
            // is busy on another shard (SCRIPT KILL, or SHUTDOWN ABORT, comes first).
            if id == 0 && sock::TERMINATE.load(Ordering::Relaxed) && !shared.script.any_busy() {
                crate::persist::bgsave::on_terminate(&mut self.st);
            }
            // A SHUTDOWN's wait for replicas that ended (`repl::shutdown`).
            if id == 0 && shared.repl.shutdown_paused.load(Ordering::Relaxed) {
                crate::repl::shutdown::poll(&mut self.st);
            }
            self.st.begin_turn();
            self.st.aof.repl.on = shared.repl.feeds_stream();
            if id == 0 {
                crate::repl::fullsync::cron(&mut self.st);
            }
            self.limits = limits_of(&self.st);
            self.cqes.clear();
            // Before the reap: a quiet send's failure is in the queue once the enter
            // that took it returned (and no completion waits in the kernel's overflow).
            if !self.quiet_queued.is_empty() && self.ring.all_submitted() {
                std::mem::swap(&mut self.quiet_queued, &mut self.quiet_taken);
            }
            let mut cqes = std::mem::take(&mut self.cqes);
            self.ring.reap(&mut cqes);
            self.prefetch_reaped(&cqes);
            for &(ud, res, flags) in &cqes {
                self.on_completion(ud, res, flags);
            }
            self.cqes = cqes;
            self.settle_quiet_sends();
            self.aof_release();
            self.aof_kick();
            self.bufs.publish();
            let rearm = std::mem::take(&mut self.rearm_recv);
            for &slot in &rearm {
                self.arm_recv(slot);
            }
            self.rearm_recv = reuse(rearm, std::mem::take(&mut self.rearm_recv));
            self.replica_turn();
            self.process_inputs();
            // Connections a long script's busy door served (`server::busy_door`).
            for (fd, unix, login) in crate::server::busy_door::take_released() {
                self.on_accept(fd, unix, login);
            }
            self.apply_door_effects();
            // Drained whole, every turn, whatever the inbox bound says: only parsing
            // waits on it (`shard::msg`, "The inbox bound").
            while let Some(batch) = shared.inboxes[id].pop() {
                handle_batch(&mut self.st, batch);
            }
            self.apply_door_effects();
            self.link_reopen();
            self.st.publish_deferred_cost();
            crate::shard::evict::turn(&mut self.st);
            crate::cmd::blocking::expire_blocked(&mut self.st);
            // The turn's BCAST invalidations, batched (before the pushes go out).
            crate::cmd::tracking::flush_bcast(&mut self.st);
            self.deliver_local_replies();
            self.deliver_pushes();
            self.kill_marked();
            crate::shard::turns::expire_slice(&mut self.st);
            self.cron();
            // A slice of what UNLINK and lazy flushes left to free (`shard::lazyfree`).
            crate::shard::lazyfree::run_slice();
            self.aof_turn();
            self.switch_listeners();
            // Before the outboxes: a transaction's parts are in the stream's queue before
            // the acknowledgements that let its locks go (`repl::feed`).
            self.st.aof.repl.flush(&shared.repl);
            // Cluster mode: nodes.conf before the replies to what changed it (`cluster`).
            if shared.cluster.enabled {
                shared.cluster.save_if_dirty();
            }
            self.st.flush_outbox();
            let mut wakes = std::mem::take(&mut self.st.wakes);
            for dest in wakes.drain(..) {
                let fd = shared.ring_fds[dest as usize].load(Ordering::Acquire);
                self.ring.msg_ring(fd, Token::new(Op::Wake, 0, 0).encode(), Token::new(Op::WakeSent, 0, 0).encode());
            }
            self.st.wakes = wakes;
            self.queue_sends();
            let turn_us = self.st.turns.end();
            self.sleep(&shared, id, turn_us);
        }
        self.aof_shutdown();
        self.close_all();
    }

    /// Parks and waits for completions, unless work is already waiting. `turn_us`: how
    /// long the turn ran since `begin_turn` read the clock.
    fn sleep(&mut self, shared: &Shared, id: usize, turn_us: u64) {
        let busy = !self.parse_queue.is_empty()
            || !self.st.local_replies.is_empty()
            || !self.st.hop_replies.is_empty()
            || crate::shard::lazyfree::has_work();
        if busy {
            let _ = self.ring.submit();
            return;
        }
        shared.parked[id].store(true, Ordering::SeqCst);
        if !shared.inboxes[id].is_empty() {
            shared.parked[id].store(false, Ordering::SeqCst);
            let _ = self.ring.submit();
            return;
        }
        // The turn's clock reading plus its length (the TSC's, `turns`) instead of a
        // second clock read per turn; within a millisecond of it, which timers allow.
        let now = self.st.now_ms + turn_us.div_ceil(1000);
        let mut wake_at = self.next_cron_ms;
        if let Some(ms) = self.st.expiry.wake_in_ms() {
            wake_at = wake_at.min(now + ms);
        }
        if !self.paused.is_empty() {
            let until = self.st.shared.pause_until_ms.load(Ordering::Acquire);
            // A FAILOVER's or a SHUTDOWN's pause has no end time: its end is seen at
            // the next cron.
            if until != 0 || !self.st.shared.repl.writes_held() {
                wake_at = wake_at.min(until);
            }
        }
        if let Some(d) = self.st.blocked.next_deadline() {
            wake_at = wake_at.min(d);
        }
        // Connections stalled at the inbox bound poll for it to drain.
        let max_wait = if self.stalled.is_empty() { 1000 } else { 1 };
        let wait = wake_at.saturating_sub(now).clamp(1, max_wait);
        if let Err(e) = self.ring.submit_and_wait(Some(Duration::from_millis(wait))) {
            log::warning(&format!("shard {id}: io_uring wait failed: {e}"));
        }
        shared.parked[id].store(false, Ordering::SeqCst);
    }

    fn on_completion(&mut self, ud: u64, res: i32, flags: u32) {
        let Some(tok) = Token::decode(ud) else { return };
        match tok.op {
            Op::Accept => self.on_accept_cqe(tok, res, flags),
            Op::Recv => self.on_recv(tok, res, flags),
            Op::Send => self.on_send(tok, res),
            Op::Persist => self.on_persist(tok, res),
            Op::Cancel => {}
            Op::Wake | Op::WakeSent => {
                if tok.op == Op::WakeSent && res < 0 {
                    log::warning(&format!("MSG_RING wakeup failed: {}", std::io::Error::from_raw_os_error(-res)));
                }
            }
        }
    }

    pub(super) fn arm_recv(&mut self, slot: u32) {
        let Some(c) = self.conns[slot as usize].as_mut() else { return };
        if c.closing || c.recv_active {
            return;
        }
        c.recv_active = true;
        let ud = Token::new(Op::Recv, slot, c.generation).encode();
        self.ring.recv_multi(c.sock, self.bufs.bgid, ud);
        self.sync_door_seat(slot);
    }

    /// What the busy door did to its seated clients' transactions while a script ran
    /// (a script runs in `process_inputs` or from the inbox), applied before their next
    /// command is read.
    fn apply_door_effects(&mut self) {
        for (slot, fx) in crate::server::busy_door::take_effects() {
            if let Some(c) = self.conns.get_mut(slot as usize).and_then(|c| c.as_mut()) {
                if fx.input_taken {
                    c.drop_door_prefix();
                }
                crate::cmd::multi::apply_busy_effects(&mut self.st, &mut c.sess, fx);
            }
        }
        for (slot, l) in crate::server::busy_door::take_logins() {
            if let Some(c) = self.conns.get_mut(slot as usize).and_then(|c| c.as_mut()) {
                crate::cmd::acl::login_at(&mut self.st, &mut c.sess, l.user, l.generation);
            }
        }
    }

    /// Keeps the busy door's view of this connection's idleness current.
    #[inline]
    fn sync_door_seat(&mut self, slot: u32) {
        crate::server::busy_door::sync_seat(slot, self.conns.get_mut(slot as usize).and_then(|c| c.as_mut()));
    }

    fn on_recv(&mut self, tok: Token, res: i32, flags: u32) {
        let more = cqe_more(flags);
        let bid = cqe_buffer(flags);
        let now = self.st.now_ms;
        let mut data_len = 0;
        let mut close = false;
        let mut rearm = false;
        let mut pause = false;
        if let Some(c) = self.conns.get_mut(tok.slot as usize).and_then(|c| c.as_mut())
            && c.generation & 0x00ff_ffff == tok.generation
        {
            if !more {
                c.recv_active = false;
            }
            c.last_interaction_ms = now;
            // Input is parsed this turn, and the parse's `account_output` copies
            // the time into the `ClientMeta`; other outcomes copy it here.
            let parsed = res > 0 && bid.is_some() && !c.closing;
            if !parsed && let Some(m) = self.st.clients.get_mut(&c.sess.id) {
                m.last_interaction_ms = now;
            }
            if res > 0 {
                if let Some(bid) = bid {
                    data_len = res as usize;
                    if !c.closing {
                        c.feed(self.bufs.data(bid, data_len));
                    }
                    if !c.queued_for_parse {
                        c.queued_for_parse = true;
                        self.parse_queue.push(tok.slot);
                    }
                    // At the inbox bound, stop reading now rather than after the
                    // next parse: one turn can reap many receives (`flow`).
                    pause = more && (self.st.outbox.full() || c.output_backlogged()) && flow::past_read_pause(c);
                }
                rearm = !more && !close;
            } else if res == -libc::ENOBUFS {
                rearm = true;
            } else if res == -libc::ECANCELED {
                // Reading was paused at the inbox bound (`flow`), and may have
                // been resumed before the cancel landed.
                rearm = true;
            } else {
                close = true;
            }
        }
        if let Some(bid) = bid {
            self.bufs.push(bid);
        }
        self.st.stats.net_input_bytes += data_len as u64;
        if pause {
            self.pause_reading(tok.slot);
        }
        let rearm = rearm && self.reading_allowed(tok.slot);
        if close {
            self.begin_close(tok.slot);
        } else if rearm {
            self.rearm_recv.push(tok.slot);
        }
        self.sync_door_seat(tok.slot);
        self.try_finalize(tok.slot);
    }

    /// The quiet sends the last enter took and no completion reported: each sent
    /// its whole buffer, so it finishes as a send completion would.
    fn settle_quiet_sends(&mut self) {
        if self.quiet_taken.is_empty() {
            return;
        }
        let taken = std::mem::take(&mut self.quiet_taken);
        for &ud in &taken {
            let Some(tok) = Token::decode(ud) else { continue };
            let Some(c) = self.conns.get_mut(tok.slot as usize).and_then(|c| c.as_mut()) else { continue };
            if c.generation & 0x00ff_ffff != tok.generation || !c.send_quiet || !c.send_inflight {
                continue;
            }
            let whole = (c.sending.len() - c.send_off) as i32;
            self.on_send(tok, whole);
        }
        self.quiet_taken = taken;
        self.quiet_taken.clear();
    }

    fn on_send(&mut self, tok: Token, res: i32) {
        let mut close = false;
        let slot = tok.slot;
        let Some(c) = self.conns.get_mut(slot as usize).and_then(|c| c.as_mut()) else { return };
        if c.generation & 0x00ff_ffff != tok.generation {
            return;
        }
        // A quiet send that found the socket full sent nothing and did not wait:
        // the rest goes as an ordinary send, which waits for room.
        let res = if c.send_quiet && res == -libc::EAGAIN { 0 } else { res };
        c.send_quiet = false;
        c.send_inflight = false;
        if res < 0 {
            close = true;
        } else {
            c.send_off += res as usize;
            if c.send_off < c.sending.len() {
                c.send_inflight = true;
                let ptr = c.sending[c.send_off..].as_ptr();
                let len = c.sending.len() - c.send_off;
                let ud = Token::new(Op::Send, slot, c.generation).encode();
                let sock = c.sock;
                // SAFETY: `sending` is not touched while `send_inflight` is set, and the
                // connection slot is not freed until the send completes (try_finalize).
                unsafe { self.ring.send(sock, ptr, len, ud) };
            } else {
                c.sending.clear();
                c.send_off = 0;
                if (!c.out.is_empty() || !c.held.is_empty()) && !c.queued_for_send {
                    c.queued_for_send = true;
                    self.send_queue.push(slot);
                }
                // Parsed again even with no input left: its reading may be paused
                // (`flow`), and only a parse that ends idle resumes it.
                if !c.queued_for_parse
                    && let Some(pos) = self.backlogged.iter().position(|&s| s == slot)
                {
                    self.backlogged.swap_remove(pos);
                    c.queued_for_parse = true;
                    self.parse_queue.push(slot);
                }
                if c.close_after_flush && c.drained() {
                    close = true;
                }
            }
        }
        if res > 0 {
            self.st.stats.net_output_bytes += res as u64;
            // Like Redis, a write to the client counts as interaction: a client just
            // served a long blocking wait's reply is not idle. `account_output` below
            // copies it into the `ClientMeta`; a closing one gets it here.
            c.last_interaction_ms = self.st.now_ms;
            if (close || c.closing)
                && let Some(m) = self.st.clients.get_mut(&c.sess.id)
            {
                m.last_interaction_ms = self.st.now_ms;
            }
        }
        // Sends finish in the turn's first stage (`on_completion`, then
        // `settle_quiet_sends`); a connection queued for parsing is accounted by its
        // parse later in this turn (`after_activity`), with the same clock reading.
        let parse_follows = c.queued_for_parse;
        if close {
            self.begin_close(slot);
        } else if !parse_follows {
            // Less output now: refresh CLIENT LIST's view (and the soft-limit timer).
            self.account_output(slot);
        }
        self.sync_door_seat(slot);
        self.try_finalize(slot);
    }

    /// The CLIENT PAUSE in force now, if any.
    fn pause_now(&self) -> Pause {
        let until = self.st.shared.pause_until_ms.load(Ordering::Acquire);
        if until == 0 || self.st.clock.now_ms() >= until {
            // FAILOVER holds writes until it hands over (`repl::failover`), SHUTDOWN
            // while it waits for replicas (`repl::shutdown`).
            if self.st.shared.repl.writes_held() { Pause::Writes } else { Pause::None }
        } else if self.st.shared.pause_writes_only.load(Ordering::Acquire) {
            Pause::Writes
        } else {
            Pause::All
        }
    }

    fn process_inputs(&mut self) {
        let pause = self.pause_now();
        if pause == Pause::None && !self.paused.is_empty() {
            self.st.paused_clients = 0;
            for slot in std::mem::take(&mut self.paused) {
                if let Some(c) = self.conns[slot as usize].as_mut()
                    && !c.queued_for_parse
                {
                    c.queued_for_parse = true;
                    self.parse_queue.push(slot);
                }
            }
        }
        if self.st.refresh_inbox_gate() && !self.stalled.is_empty() {
            self.resume_stalled();
        }
        let queue = std::mem::take(&mut self.parse_queue);
        self.warm_parse_queue(&queue);
        for &slot in &queue {
            let Some(c) = self.conns[slot as usize].as_mut() else { continue };
            c.queued_for_parse = false;
            match c.process_input(&mut self.st, slot, &self.limits, pause) {
                Stopped::Idle => self.resume_reading(slot),
                // Some shard's inbox is full: parse again once it drains.
                Stopped::Flooded => self.on_flooded(slot),
                // Too much output queued: parse again once a send completes, and
                // past a few receive buffers of input stop reading too, so a client
                // that pipelines without reading is held back by TCP rather than by
                // the server's memory.
                Stopped::Backpressure => {
                    if !self.backlogged.contains(&slot) {
                        self.backlogged.push(slot);
                    }
                    if flow::past_read_pause(c) {
                        self.pause_reading(slot);
                    }
                }
                Stopped::Paused => {
                    if !self.paused.contains(&slot) {
                        self.paused.push(slot);
                    }
                    self.st.paused_clients = self.paused.len();
                }
                Stopped::Yield => {
                    self.st.turns.yields += 1;
                    c.queued_for_parse = true;
                    self.parse_queue.push(slot);
                }
                Stopped::QueryBufferLimit => {
                    let client = match self.st.clients.get(&c.sess.id) {
                        Some(m) => format!("id={} addr={} laddr={} fd={} name={}", m.id, m.addr, m.laddr, m.fd, m.name),
                        None => format!("id={}", c.sess.id),
                    };
                    log::warning(&format!(
                        "Closing client that reached max query buffer length: {client} (qbuf initial bytes: {})",
                        c.unparsed_head_repr()
                    ));
                    self.st.stats.query_limit_disconnections += 1;
                    self.begin_close(slot);
                    self.try_finalize(slot);
                    continue;
                }
            }
            self.after_activity(slot);
        }
        self.parse_queue = reuse(queue, std::mem::take(&mut self.parse_queue));
    }

    /// After a connection produced output or finished: queue its send or its close.
    fn after_activity(&mut self, slot: u32) {
        // Output was added: over its client-output-buffer-limit, the client goes now.
        if !self.account_output(slot) {
            return;
        }
        let Some(c) = self.conns[slot as usize].as_mut() else { return };
        if !c.out.is_empty() && !c.queued_for_send {
            c.queued_for_send = true;
            self.send_queue.push(slot);
        }
        crate::server::busy_door::sync_seat(slot, Some(c));
        if c.close_after_flush && c.drained() {
            self.begin_close(slot);
            self.try_finalize(slot);
        }
    }

    fn deliver_local_replies(&mut self) {
        loop {
            // A replica's coordinated master command counts before its reply lands.
            crate::repl::apply::settle(&mut self.st);
            let mut replies = std::mem::take(&mut self.st.local_replies);
            let packed = std::mem::take(&mut self.st.hop_replies);
            if replies.is_empty() && packed.is_empty() {
                self.st.local_replies = replies;
                return;
            }
            for (to, bytes) in replies.drain(..) {
                let Some(c) = self.live_conn(to) else { continue };
                // A lifted barrier or reopened window parses again even with no input
                // left: reading may have been paused meanwhile (`flow::resume_reading`).
                // A constant reply (a split MSET's `+OK`) is copied, never allocated.
                let filled = match bytes {
                    std::borrow::Cow::Borrowed(b) => c.fill_reply_from(to.seq, b),
                    std::borrow::Cow::Owned(b) => c.fill_reply(to.seq, b),
                };
                if filled && !c.queued_for_parse {
                    c.queued_for_parse = true;
                    self.parse_queue.push(to.slot);
                }
                self.after_activity(to.slot);
            }
            // The emptied list goes back for the next replies (split commands' replies
            // land here every turn; a new list each time was allocated, grown and freed).
            if self.st.local_replies.is_empty() {
                self.st.local_replies = replies;
            }
            for p in packed {
                self.splice_packed_replies(&p);
                self.st.outbox.recycle(p.from, p.buf);
            }
            // A lifted barrier lets pipelined input run now rather than next turn.
            if !self.parse_queue.is_empty() {
                self.process_inputs();
            }
        }
    }

    /// Fills each reply of a packed buffer from another shard (`shard::hopbatch`) into
    /// its connection, in order. A connection's replies come in a row, so its output
    /// is accounted once per row rather than per reply.
    fn splice_packed_replies(&mut self, p: &crate::shard::hopbatch::Packed) {
        let mut pos = 0;
        let mut row: Option<u32> = None;
        while let Some((to, bytes)) = p.next_reply(&mut pos) {
            if row.is_some_and(|s| s != to.slot) {
                self.after_activity(row.take().expect("checked"));
            }
            let Some(c) = self.live_conn(to) else { continue };
            if c.fill_reply_from(to.seq, bytes) && !c.queued_for_parse {
                c.queued_for_parse = true;
                self.parse_queue.push(to.slot);
            }
            row = Some(to.slot);
        }
        if let Some(slot) = row {
            self.after_activity(slot);
        }
    }

    /// The connection a reply is for, unless it closed (its slot may hold another).
    fn live_conn(&mut self, to: crate::shard::ReplyTo) -> Option<&mut Conn> {
        let c = self.conns.get_mut(to.slot as usize).and_then(|c| c.as_mut())?;
        (c.generation & 0x00ff_ffff == to.generation & 0x00ff_ffff).then_some(c)
    }

    /// Appends queued Pub/Sub messages to their subscribers' output.
    fn deliver_pushes(&mut self) {
        if self.st.pubsub.pushes.is_empty() {
            return;
        }
        for (client, bytes) in std::mem::take(&mut self.st.pubsub.pushes) {
            let Some(&slot) = self.by_client.get(&client) else { continue };
            if let Some(c) = self.conns[slot as usize].as_mut() {
                c.push_ready(bytes);
            }
            self.after_activity(slot);
        }
    }

    fn queue_sends(&mut self) {
        // Output produced while the log has bytes not yet cleared waits for them
        // (`persist`): it becomes a held chunk tagged with the log offset it needs.
        let need = self.st.aof.appended;
        let cleared = self.st.aof.cleared();
        let hold = self.st.aof.must_hold();
        let queue = std::mem::take(&mut self.send_queue);
        for &slot in &queue {
            let Some(c) = self.conns[slot as usize].as_mut() else { continue };
            c.queued_for_send = false;
            // A request waiting for owed replies: its output goes with theirs (the
            // replies landing queue the send again, `Conn::holds_output`).
            if c.closing || c.holds_output() {
                continue;
            }
            if !c.out.is_empty() && (hold || !c.held.is_empty()) {
                c.hold(need);
            }
            if !c.held.is_empty() && !c.aof_waiting {
                c.aof_waiting = true;
                self.aof_waiting.push(slot);
            }
            if c.send_inflight {
                continue;
            }
            if !c.held.is_empty() {
                if !c.take_cleared(cleared) {
                    continue;
                }
            } else if c.out.is_empty() {
                continue;
            } else {
                std::mem::swap(&mut c.out, &mut c.sending);
            }
            c.send_off = 0;
            c.send_inflight = true;
            let ud = Token::new(Op::Send, slot, c.generation).encode();
            let (sock, ptr, len) = (c.sock, c.sending.as_ptr(), c.sending.len());
            if self.quiet_sends && len <= QUIET_SEND_MAX {
                c.send_quiet = true;
                self.quiet_queued.push(ud);
                // SAFETY: as below; a quiet send's end is its completion or, without
                // one, `settle_quiet_sends` after the enter that took it.
                unsafe { self.ring.send_quiet(sock, ptr, len, ud) };
            } else {
                // SAFETY: `sending` stays untouched and the slot stays allocated until
                // the send's completion clears `send_inflight`.
                unsafe { self.ring.send(sock, ptr, len, ud) };
            }
        }
        self.send_queue = reuse(queue, std::mem::take(&mut self.send_queue));
    }

    /// A free connection slot (reused, or a new one at the end).
    pub(super) fn take_slot(&mut self) -> u32 {
        match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.conns.push(None);
                self.generations.push(0);
                (self.conns.len() - 1) as u32
            }
        }
    }

    fn begin_close(&mut self, slot: u32) {
        let Some(c) = self.conns[slot as usize].as_mut() else { return };
        if !c.closing {
            c.closing = true;
            if self.st.replconf.get(&c.sess.id).is_some_and(|h| h.handoff) {
                // PSYNC/SYNC: the socket goes on in the replication thread. Stop our
                // receive without touching the socket (`cmd::repl`).
                if c.recv_active {
                    let target = Token::new(Op::Recv, slot, c.generation).encode();
                    self.ring.cancel(target, Token::new(Op::Cancel, slot, c.generation).encode());
                }
                return;
            }
            sock::shutdown(c.fd);
        }
    }

    /// Frees a closing connection once no operation references its memory or fd.
    fn try_finalize(&mut self, slot: u32) {
        let Some(c) = self.conns[slot as usize].as_ref() else { return };
        if !c.closing || c.recv_active || c.send_inflight {
            return;
        }
        let c = self.conns[slot as usize].take().expect("checked");
        crate::server::busy_door::unseat(slot);
        // The table's reference would keep the socket open past close (or hand-over).
        self.ring.unregister_socket(c.sock);
        match self.st.replconf.remove(&c.sess.id) {
            Some(h) if h.handoff => crate::repl::master::hand_over(&self.st.shared, c.fd, h),
            _ => sock::close(c.fd),
        }
        if let Some(m) = self.st.clients.remove(&c.sess.id) {
            super::verbose::closed(m.id, &m.addr, &m.laddr, c.fd);
        }
        crate::cmd::monitor::client_gone(&mut self.st, c.sess.id);
        crate::cmd::tracking::stop(&mut self.st, c.sess.id);
        self.by_client.remove(&c.sess.id);
        crate::cmd::multi::drop_watches(&mut self.st, c.sess.id);
        self.st.exec_db_undo.remove(&c.sess.id);
        if c.has_pending() {
            // It may be blocked on some shard: withdraw it so no element is popped for
            // a client that is gone.
            let client = c.sess.id;
            let me = crate::shard::msg::CoordRef { shard: self.st.id as u16, id: 0 };
            let hop: crate::shard::Hop = std::sync::Arc::new(move |st: &mut ShardState| {
                crate::cmd::blocking::unblock_client(st, client, None);
                Box::new(())
            });
            for s in 0..self.st.nshards {
                self.st.outbox.push(s, crate::shard::Msg::Run { coord: me, hop: hop.clone() });
            }
        }
        self.st.pubsub.remove_client(c.sess.id, &c.sess.subs, &c.sess.psubs);
        self.st.pubsub.remove_shard_client(c.sess.id, &c.sess.ssubs);
        self.st.shared.connected_clients.fetch_sub(1, Ordering::AcqRel);
        self.generations[slot as usize] = (self.generations[slot as usize] + 1) & 0x00ff_ffff;
        self.forget_flow(slot);
        // A client held by CLIENT PAUSE that leaves is no longer blocked (Redis
        // unblocks it as it frees it): INFO's `blocked_clients` drops at once.
        if let Some(i) = self.paused.iter().position(|&s| s == slot) {
            self.paused.swap_remove(i);
            self.st.paused_clients = self.paused.len();
        }
        self.free_slots.push(slot);
        // An fd came free: a listener waiting after EMFILE may accept again.
        self.retry_accepts();
    }

    /// Closes connections that CLIENT KILL marked on this thread.
    fn kill_marked(&mut self) {
        if self.st.kill_list.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.st.kill_list);
        for slot in 0..self.conns.len() {
            let Some(c) = self.conns[slot].as_mut() else { continue };
            if !ids.contains(&c.sess.id) {
                continue;
            }
            // Stop reading now, but let a reply already queued (a client killing
            // itself gets its answer first, as in Redis) go out before closing.
            c.close_after_flush = true;
            if c.drained() {
                self.begin_close(slot as u32);
                self.try_finalize(slot as u32);
            } else {
                self.after_activity(slot as u32);
            }
        }
    }

    /// Periodic work, `hz` times a second (active expiry runs in slices every turn,
    /// `shard::turns`).
    fn cron(&mut self) {
        // The turn's own reading (`begin_turn`): a clock read per turn less, and the
        // cron is at most one turn late.
        let now = self.st.now_ms;
        if now < self.next_cron_ms {
            return;
        }
        let clients = self.st.shared.connected_clients.load(std::sync::atomic::Ordering::Relaxed);
        self.st.hz = crate::shard::turns::effective_hz(&self.st.config, clients);
        let hz = self.st.hz as u64;
        self.next_cron_ms = now + 1000 / hz;
        // Once a period, the databases the turns skip are looked at all the same.
        self.st.db_watch.stale();
        crate::shard::evict::cron(&mut self.st);
        self.idle_timeouts(now);
        self.client_memory_cron(now);
        super::verbose::cron(&self.st, now);
        self.retry_accepts();
        crate::persist::bgsave::cron(&mut self.st);
    }

    /// Takes the databases start-up loaded from the RDB file for this shard.
    fn rdb_boot(&mut self) {
        let loaded = {
            let mut boot = self.st.shared.rdb.boot.lock().unwrap_or_else(|e| e.into_inner());
            boot.get_mut(self.st.id).and_then(|b| b.take())
        };
        if let Some(l) = loaded {
            self.st.dbs = l.0;
        }
    }

    /// Closes clients idle longer than `timeout` seconds (0 = never), except those
    /// that `exempt_from_idle_timeout` spares, as Redis's `clientsCronHandleTimeout`
    /// does.
    fn idle_timeouts(&mut self, now: u64) {
        let timeout = self.st.config.timeout;
        if timeout == 0 {
            return;
        }
        let limit_ms = timeout.saturating_mul(1000);
        for c in self.conns.iter().flatten() {
            if exempt_from_idle_timeout(c) {
                continue;
            }
            if !self.st.clients.contains_key(&c.sess.id) {
                continue;
            }
            if now.saturating_sub(c.last_interaction_ms) > limit_ms {
                self.st.kill_list.push(c.sess.id);
            }
        }
        self.kill_marked();
    }

    fn close_all(&mut self) {
        for slot in 0..self.conns.len() {
            if let Some(c) = self.conns[slot].take() {
                self.ring.unregister_socket(c.sock);
                sock::close(c.fd);
            }
        }
        self.close_listeners();
    }
}

/// Connections the idle `timeout` never closes, as in Redis 7.0: Pub/Sub subscribers
/// (in either protocol: they only listen), and clients waiting for a reply, which
/// covers blocked ones (BLPOP and friends, whatever their own timeout; that one is
/// enforced by `cmd::blocking`) and a request still running on another shard.
/// Replicas and the master link belong here too once replication exists: Redis
/// spares them (and MONITOR clients) because silence is their normal state.
fn exempt_from_idle_timeout(c: &Conn) -> bool {
    c.master || crate::cmd::pubsub::subscribed(&c.sess) || c.has_pending()
}

/// The queue a turn just went through, emptied, keeping its capacity for the next
/// turn (a taken `Vec` would be allocated again at its first push, every turn), unless
/// the pass queued more meanwhile (`queued`, which then stays the queue).
fn reuse(mut done: Vec<u32>, queued: Vec<u32>) -> Vec<u32> {
    if !queued.is_empty() {
        return queued;
    }
    done.clear();
    done
}

fn limits_of(st: &ShardState) -> Limits {
    Limits { max_bulk_len: st.config.proto_max_bulk_len as usize, ..Limits::default() }
}
