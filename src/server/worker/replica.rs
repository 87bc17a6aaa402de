//! Shard 0's part of being a replica (`repl::replica` has the whole picture): start
//! the link thread when REPLICAOF changes the target, switch every shard to a fully
//! synced dataset at a consistent cut, adopt the master's socket as a connection whose
//! requests run through the ordinary dispatch, acknowledge the applied offset every
//! second, and notice when that connection goes away.

use super::Worker;
use crate::cmd::{ReplyMode, Session};
use crate::io::sock;
use crate::net::Conn;
use crate::repl::replica::{Handoff, LinkState, Task, ack_request, refresh_mirrors};
use crate::shard::Shared;
use crate::shard::state::ClientMeta;
use crate::util::log;
use std::sync::atomic::Ordering;

/// What shard 0 remembers about the link between turns.
#[derive(Default)]
pub(super) struct LinkSide {
    /// The `ReplicaShared::epoch` whose link thread was started.
    epoch: u64,
    config_epoch: Option<u64>,
    /// The master connection: slot, generation, client id.
    master: Option<(u32, u32, u64)>,
    last_ack_ms: u64,
    /// The `replicaof` directive was looked at.
    booted: bool,
}

impl Worker {
    /// Called every turn on shard 0; cheap when there is nothing to do.
    pub(super) fn replica_turn(&mut self) {
        if self.st.id != 0 {
            return;
        }
        let shared = self.st.shared.clone();
        let r = &shared.replica;
        if !self.repl_link.booted {
            self.repl_link.booted = true;
            let cfg = shared.config();
            let directive = cfg.compat_value("replicaof").unwrap_or("");
            let mut it = directive.split_whitespace();
            if let (Some(host), Some(Ok(port))) = (it.next(), it.next().map(str::parse::<u16>)) {
                crate::repl::replica::follow(&shared, host, port, true);
                // The replication thread keeps the replica's backlog and offset (the
                // master's stream, forwarded verbatim) even with no replica of its own.
                crate::repl::master::start(&shared);
            }
        }
        let cfg_epoch = shared.config_epoch.load(Ordering::Acquire);
        if self.repl_link.config_epoch != Some(cfg_epoch) {
            self.repl_link.config_epoch = Some(cfg_epoch);
            refresh_mirrors(r, &shared.config());
        }
        let epoch = r.epoch.load(Ordering::Acquire);
        if epoch != self.repl_link.epoch {
            self.repl_link.epoch = epoch;
            self.drop_master_conn();
            if let crate::repl::Role::Replica { host, port } = shared.repl.role() {
                crate::repl::link::spawn(shared.clone(), host, port, epoch);
            }
        }
        while let Some(task) = r.tasks.pop() {
            match task {
                Task::Install { dbs, handoff, replid, offset, stream_db, swapdb } => {
                    self.install(dbs, handoff, (replid, offset, stream_db), swapdb)
                }
                Task::Adopt(h) => self.adopt(h),
            }
        }
        let Some((slot, generation, id)) = self.repl_link.master else { return };
        let alive = self
            .conns
            .get(slot as usize)
            .and_then(|c| c.as_ref())
            .is_some_and(|c| c.generation == generation && c.sess.id == id && !c.closing && !c.close_after_flush);
        if !alive {
            if self.st.link.held.is_some() {
                // Its coordinated command is still running: count it first, so the
                // next PSYNC asks for what follows it (`repl::apply`).
                return;
            }
            self.repl_link.master = None;
            r.master_client_id.store(0, Ordering::Release);
            r.set_state(LinkState::Connect);
            r.down_since_ms.store(Shared::now_unix_ms(), Ordering::Relaxed);
            log::notice("Connection with master lost.");
            log::notice("Caching the disconnected master state.");
            r.link_lost.store(true, Ordering::Release);
            return;
        }
        let now = self.st.now_ms;
        let timeout_ms =
            self.st.config.compat_value("repl-timeout").and_then(|v| v.parse::<u64>().ok()).unwrap_or(60) * 1000;
        if now.saturating_sub(r.last_io_ms.load(Ordering::Relaxed)) > timeout_ms {
            log::warning("MASTER timeout: no data nor PING received...");
            self.st.kill_list.push(id);
            self.kill_marked();
            return;
        }
        if now.saturating_sub(self.repl_link.last_ack_ms) >= 1000 {
            self.repl_link.last_ack_ms = now;
            self.send_ack(slot);
        }
    }

    /// The master connection stopped parsing while a cut locked this shard whole
    /// (`repl::apply`): once the lock is gone, let it go on.
    pub(super) fn link_reopen(&mut self) {
        if !self.st.link.gated || self.st.locks.whole_holder().is_some() {
            return;
        }
        self.st.link.gated = false;
        let Some((slot, generation, _)) = self.repl_link.master else { return };
        let Some(c) = self.conns.get_mut(slot as usize).and_then(|c| c.as_mut()) else { return };
        if c.generation == generation && c.pending_input() && !c.queued_for_parse {
            c.queued_for_parse = true;
            self.parse_queue.push(slot);
            self.process_inputs();
        }
    }

    fn send_ack(&mut self, slot: u32) {
        let offset = self.st.shared.replica.processed.load(Ordering::Acquire);
        if let Some(c) = self.conns[slot as usize].as_mut() {
            c.push_ready(ack_request(offset));
        }
        self.after_activity(slot);
    }

    /// Closes the master connection of a previous REPLICAOF, if any.
    fn drop_master_conn(&mut self) {
        if let Some((_, _, id)) = self.repl_link.master.take() {
            self.st.shared.replica.master_client_id.store(0, Ordering::Release);
            self.st.kill_list.push(id);
        }
    }

    /// Switches every shard to the loaded databases at one cut, then adopts the link.
    fn install(
        &mut self,
        dbs: Vec<crate::persist::dbview::Loaded>,
        handoff: Handoff,
        at: crate::rdb::ReplPosition,
        swapdb: bool,
    ) {
        let (replid, offset, stream_db) = at;
        if handoff.epoch != self.st.shared.replica.epoch.load(Ordering::Acquire) {
            sock::close(handoff.fd);
            return;
        }
        let lazy = self.st.config.compat_value("replica-lazy-flush") == Some("yes");
        let leader = move |w: &mut crate::persist::cut::World| {
            let mut old = Vec::with_capacity(dbs.len());
            for (mine, mut new) in w.dbs.iter_mut().zip(dbs) {
                std::mem::swap(&mut **mine, &mut new.0);
                old.push(new);
            }
            if lazy {
                // `replica-lazy-flush yes`, as Redis's async flush: lazily freed
                // objects, counted in INFO, freed in slices by this thread's loop.
                for db in old.into_iter().flat_map(|l| l.0) {
                    crate::shard::lazyfree::free_db(db, true);
                }
                return;
            }
            // Freed at once, but a large dataset takes long: not while every shard
            // waits, so on a helper thread.
            let _ = std::thread::Builder::new().name("repl-free".into()).spawn(move || drop(old));
        };
        let finish = move |st: &mut crate::shard::ShardState, done: Option<()>, _: &mut crate::resp::ReplyWriter| {
            let shared = st.shared.clone();
            if done.is_none() {
                sock::close(handoff.fd);
                return;
            }
            if swapdb {
                log::notice("MASTER <-> REPLICA sync: Swapping active DB with loaded DB");
                log::notice("MASTER <-> REPLICA sync: Discarding old DB in background");
            }
            let r = &shared.replica;
            shared.repl.reset_ids(replid.clone(), "0".repeat(40), -1);
            shared.repl.feed.push(crate::repl::state::Segment::Reset { replid: replid.clone(), offset });
            r.set_master_replid(&replid);
            r.processed.store(offset, Ordering::Release);
            r.master_db.store(stream_db, Ordering::Relaxed);
            r.has_history.store(true, Ordering::Release);
            // The AOF holds the old dataset's history: a rewrite makes it describe the
            // new one (Redis restarts its AOF after a full sync).
            if st.config.appendonly {
                shared.aofrw.scheduled.store(true, Ordering::Release);
            }
            r.tasks.push(Task::Adopt(handoff));
        };
        let fan = crate::persist::cut::cut(leader, None, finish);
        crate::cmd::coord::start_fanout_detached(&mut self.st, fan);
    }

    /// Makes the master's socket a connection of this shard.
    fn adopt(&mut self, h: Handoff) {
        let shared = self.st.shared.clone();
        let r = &shared.replica;
        if h.epoch != r.epoch.load(Ordering::Acquire) {
            sock::close(h.fd);
            return;
        }
        let slot = self.take_slot();
        let generation = self.generations[slot as usize];
        crate::repl::apply::reset(&mut self.st, slot, generation);
        let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        let mut sess = Session::new(id, false);
        // The master's stream is not subject to ACLs, as in Redis.
        sess.acl = crate::acl::SessionAcl::internal();
        // The stream continues in the database it had selected (a partial resync), or
        // the one the snapshot's `repl-stream-db` names (a full sync).
        sess.db = r.master_db.load(Ordering::Relaxed);
        // Nothing the master's commands answer goes back, except ACKs.
        sess.reply = ReplyMode::Off;
        let now = self.st.now_ms;
        let laddr = crate::net::listener::addrs(h.fd).1;
        self.st.clients.insert(
            id,
            ClientMeta {
                id,
                addr: h.addr.clone(),
                laddr,
                fd: h.fd,
                resp: 2,
                created_ms: now,
                last_interaction_ms: now,
                multi: -1,
                master: true,
                ..Default::default()
            },
        );
        shared.connected_clients.fetch_add(1, Ordering::AcqRel);
        let mut c = Conn::new(h.fd, generation, sess);
        c.last_interaction_ms = now;
        c.master = true;
        c.feed(&h.leftover);
        c.queued_for_parse = true;
        self.conns[slot as usize] = Some(c);
        self.by_client.insert(id, slot);
        self.parse_queue.push(slot);
        r.master_client_id.store(id, Ordering::Release);
        // A REPLICAOF on another shard since the check above bumped the epoch before
        // clearing the id: if it is gone now, this link is no master's either.
        if r.epoch.load(Ordering::Acquire) != h.epoch {
            let _ = r.master_client_id.compare_exchange(id, 0, Ordering::AcqRel, Ordering::Acquire);
        }
        r.down_since_ms.store(0, Ordering::Relaxed);
        r.last_io_ms.store(Shared::now_unix_ms(), Ordering::Relaxed);
        r.set_state(LinkState::Connected);
        self.repl_link.master = Some((slot, generation, id));
        self.arm_recv(slot);
        if h.full {
            log::notice("MASTER <-> REPLICA sync: Finished with success");
        }
        // The first ACK at once: a diskless master waits for it to start the stream.
        self.repl_link.last_ack_ms = self.st.now_ms;
        self.send_ack(slot);
    }
}
