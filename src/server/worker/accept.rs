//! The accept path of a shard: its listening sockets and their multishot accepts,
//! taking in accepted sockets, switching listeners when CONFIG SET moves them, and
//! backing off when accept fails.
//!
//! A multishot accept ends at its first error. When it fails for lack of resources
//! (EMFILE, ENFILE, ENOBUFS, ENOMEM) re-arming at once would fail again at once, a
//! spin that floods the log while the pending connection stays queued; so the listener
//! waits instead, and is re-armed when a connection of this shard closes (an fd came
//! free) or at the next cron tick (another shard or process freed one), whichever
//! comes first. The failure is logged at most once a second (`listener::log_accept_error`).
//! Existing connections are served all along: nothing here blocks.

use super::{PROTECTED_MODE_DENIED, Worker};
use crate::io::ring::cqe_more;
use crate::io::{Op, Token, sock};
use crate::net::Conn;
use crate::net::listener;
use crate::shard::state::ClientMeta;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

/// The token slot of a cancel's own completion (posted only when there was nothing
/// left to cancel, which needs no action).
const CANCEL_SLOT: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// A multishot accept is in flight.
    Armed,
    /// The last accept failed; waiting to re-arm (see the module docs).
    Waiting,
    /// No longer listed (CONFIG SET port/bind): shut down, its accept cancelled; the
    /// fd is closed when the accept's last completion arrives.
    Retiring,
}

struct Listener {
    fd: RawFd,
    /// The Unix socket, shared by every shard: never closed or retired by a shard.
    unix: bool,
    state: State,
}

/// This shard's listeners, indexed by the slot their accept tokens carry.
#[derive(Default)]
pub(super) struct Acceptor {
    listeners: Vec<Option<Listener>>,
    /// The `io::listen::Handoff` epoch last taken.
    epoch: u64,
}

impl Acceptor {
    fn holds(&self, fd: RawFd) -> bool {
        self.listeners.iter().flatten().any(|l| l.fd == fd)
    }

    fn any_waiting(&self) -> bool {
        self.listeners.iter().flatten().any(|l| l.state == State::Waiting)
    }
}

impl Worker {
    /// Starts accepting: the Unix socket if there is one, and the TCP listeners that
    /// start-up published for this shard.
    pub(super) fn start_accepting(&mut self) {
        let unix = self.st.shared.listen.unix.load(Ordering::Acquire);
        if unix >= 0 {
            self.add_listener(unix, true);
        }
        self.switch_listeners();
    }

    /// Takes the TCP listeners published for this shard since the last turn, if any:
    /// arms the new ones and retires the ones no longer listed. Called before the
    /// turn's outboxes are flushed, so a CONFIG SET's fan-out (whose hop reached us in
    /// this turn's inbox) is answered only once this shard has switched.
    pub(super) fn switch_listeners(&mut self) {
        let handoff = &self.st.shared.listen;
        let epoch = handoff.epoch();
        if epoch == self.accept.epoch {
            return;
        }
        self.accept.epoch = epoch;
        let sets = handoff.take(self.st.id);
        let Some((wanted, replaced)) = sets.split_last() else { return };
        // Sets replaced before this shard took them were never armed: no ring
        // operation references them.
        for &fd in replaced.iter().flatten() {
            if !wanted.contains(&fd) && !self.accept.holds(fd) {
                sock::close(fd);
            }
        }
        for slot in 0..self.accept.listeners.len() {
            let Some(l) = self.accept.listeners[slot].as_mut() else { continue };
            if l.unix || l.state == State::Retiring || wanted.contains(&l.fd) {
                continue;
            }
            // Stop listening now, so the old address refuses connections from this
            // moment; the accept still holds the socket, so cancel it and close the fd
            // once its last completion is in.
            sock::shutdown(l.fd);
            if l.state == State::Armed {
                l.state = State::Retiring;
                let target = Token::new(Op::Accept, slot as u32, 0).encode();
                self.ring.cancel(target, Token::new(Op::Accept, CANCEL_SLOT, 0).encode());
            } else {
                sock::close(l.fd);
                self.accept.listeners[slot] = None;
            }
        }
        for &fd in wanted {
            if !self.accept.holds(fd) {
                self.add_listener(fd, false);
            }
        }
    }

    fn add_listener(&mut self, fd: RawFd, unix: bool) {
        let l = Listener { fd, unix, state: State::Armed };
        let slot = match self.accept.listeners.iter().position(Option::is_none) {
            Some(s) => {
                self.accept.listeners[s] = Some(l);
                s
            }
            None => {
                self.accept.listeners.push(Some(l));
                self.accept.listeners.len() - 1
            }
        };
        self.arm(slot);
    }

    fn arm(&mut self, slot: usize) {
        let Some(l) = self.accept.listeners[slot].as_mut() else { return };
        l.state = State::Armed;
        let (fd, unix) = (l.fd, l.unix);
        let ud = Token::new(Op::Accept, slot as u32, 0).encode();
        // The shared Unix socket gets one accept at a time: re-arming after each
        // connection puts this shard at the back of the socket's queue of waiters,
        // which the kernel wakes one at a time from the front, so Unix connections
        // go round the shards (`io::listen`).
        if unix { self.ring.accept_once(fd, ud) } else { self.ring.accept_multi(fd, ud) }
    }

    /// Re-arms listeners whose accept failed: called when a connection of this shard
    /// closed and from the cron.
    pub(super) fn retry_accepts(&mut self) {
        if !self.accept.any_waiting() || self.st.shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        for slot in 0..self.accept.listeners.len() {
            if self.accept.listeners[slot].as_ref().is_some_and(|l| l.state == State::Waiting) {
                self.arm(slot);
            }
        }
    }

    /// A completion of a multishot accept.
    pub(super) fn on_accept_cqe(&mut self, tok: Token, res: i32, flags: u32) {
        if tok.slot == CANCEL_SLOT {
            return;
        }
        let slot = tok.slot as usize;
        let Some(l) = self.accept.listeners.get(slot).and_then(Option::as_ref) else { return };
        let (unix, state, fd) = (l.unix, l.state, l.fd);
        if res >= 0 {
            self.on_accept(res, unix, None);
        }
        if cqe_more(flags) {
            return;
        }
        if state == State::Retiring {
            sock::close(fd);
            self.accept.listeners[slot] = None;
            return;
        }
        if self.st.shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        let transient = res >= 0 || [libc::EAGAIN, libc::EINTR, libc::ECONNABORTED].contains(&-res);
        if res < 0 && res != -libc::EAGAIN && res != -libc::EINTR {
            listener::log_accept_error(-res, self.st.clock.now_ms());
        }
        if transient {
            self.arm(slot);
        } else if let Some(l) = self.accept.listeners[slot].as_mut() {
            l.state = State::Waiting;
        }
    }

    /// A new connection (`login`: the user the busy door's AUTH logged it in as).
    pub(super) fn on_accept(&mut self, fd: RawFd, unix: bool, login: Option<crate::server::busy_door::Login>) {
        let shared = self.st.shared.clone();
        self.st.stats.total_connections += 1;
        let n = shared.connected_clients.fetch_add(1, Ordering::AcqRel) + 1;
        if n > self.st.config.maxclients {
            shared.connected_clients.fetch_sub(1, Ordering::AcqRel);
            self.st.stats.rejected_connections += 1;
            sock::write_best_effort(fd, b"-ERR max number of clients reached\r\n");
            sock::close(fd);
            return;
        }
        let (addr, laddr) = if unix {
            let a = listener::unix_addr(&self.st.config.unixsocket);
            (a.clone(), a)
        } else {
            listener::tune(fd, self.st.config.tcp_keepalive);
            listener::addrs(fd)
        };
        if matches!(self.st.config.loglevel.as_str(), "verbose" | "debug") {
            if unix {
                crate::util::log::verbose(&format!("Accepted connection to {}", self.st.config.unixsocket));
            } else {
                crate::util::log::verbose(&format!("Accepted {addr}"));
            }
        }
        // Unix clients are local by construction: protected mode lets them in.
        if !unix && self.refused_by_protected_mode(&addr) {
            shared.connected_clients.fetch_sub(1, Ordering::AcqRel);
            self.st.stats.rejected_connections += 1;
            sock::write_best_effort(fd, PROTECTED_MODE_DENIED);
            sock::close(fd);
            return;
        }
        let slot = self.take_slot();
        let generation = self.generations[slot as usize];
        let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        let mut sess = crate::cmd::Session::new(id, shared.acl.auth_required());
        let now = self.st.now_ms;
        self.st.clients.insert(
            id,
            ClientMeta {
                id,
                addr,
                laddr,
                fd,
                resp: 2,
                created_ms: now,
                last_interaction_ms: now,
                multi: -1,
                unix,
                ..Default::default()
            },
        );
        if let Some(l) = login {
            crate::cmd::acl::login_at(&mut self.st, &mut sess, l.user, l.generation);
        }
        let mut conn = Conn::new(fd, generation, sess);
        conn.last_interaction_ms = now;
        conn.sock = self.ring.register_socket(slot, fd);
        self.conns[slot as usize] = Some(conn);
        self.by_client.insert(id, slot);
        self.arm_recv(slot);
    }

    /// Protected mode: with no password set, only loopback clients may connect. This
    /// is stricter than Redis, which drops the check when `bind` is given explicitly;
    /// we bind loopback by default, so the check only bites when someone binds a public
    /// address without a password, which is exactly the mistake it exists to catch.
    fn refused_by_protected_mode(&self, peer: &str) -> bool {
        if !self.st.config.protected_mode || self.st.shared.acl.auth_required() {
            return false;
        }
        match peer.parse::<std::net::SocketAddr>() {
            Ok(a) => !a.ip().is_loopback(),
            Err(_) => false,
        }
    }

    /// Closes this shard's listening fds at exit (not the shared Unix socket: start-up
    /// closes it once, after every shard stopped).
    pub(super) fn close_listeners(&mut self) {
        for l in self.accept.listeners.iter_mut().filter_map(Option::take) {
            if !l.unix {
                sock::close(l.fd);
            }
        }
    }
}
