//! The busy door: how a shard thread stuck in a long script still answers.
//!
//! A script runs on its shard's thread, inside one command, so that thread's ring is
//! not served until the script returns: its clients wait, as Redis's would. Other
//! shards refuse commands with `-BUSY` (`cmd::script::busy_refusal`) once the script
//! passed `busy-reply-threshold`. For this shard's listening sockets, nobody would
//! answer, and with one shard that is every client, SCRIPT KILL included. So, past
//! the threshold, the script's instruction hook (`script::set_busy_hooks`) calls
//! [`poll`] about once a millisecond: it accepts the connections waiting on this
//! shard's TCP listeners and on the Unix socket (shared by every shard) itself (the ring defers its own accepts until the thread
//! enters it again, see `io::ring`), reads their complete commands and answers them
//! as Redis does while busy: SCRIPT KILL / FUNCTION KILL / SHUTDOWN NOSAVE act, AUTH
//! logs the client in (so that, with a password required, a new client can still
//! kill the script), everything else gets `-BUSY` (`-NOAUTH` when a password is
//! required and the client has not authenticated). Input is
//! only consumed command by command, so what a client sent after the script ended
//! stays in its socket. When the script ends, [`take_released`] gives the worker
//! these connections, which it adopts as if it had just accepted them, logged in as
//! the user their AUTH named ([`Login`]); a seated client's AUTH reaches its session
//! the same way ([`take_logins`]).
//!
//! Connections the shard already served are answered too when they are idle: nothing
//! owed or queued, their receive armed (the worker keeps them *seated* here,
//! [`sync_seat`]). The ring is set up with DEFER_TASKRUN, so their armed receive takes
//! no byte until the thread enters the ring again: what such a client sends during the
//! script stays in its socket for the door to answer, whole commands only, and the
//! rest (a partial command, what came after) for the ring. A client that had sent the
//! start of a command before the script (the worker found it incomplete) is seated
//! with a copy of those bytes: once the rest arrives the door answers the command, as
//! Redis does, and the worker drops the bytes it held (`TxEffects::input_taken`). A
//! busy connection (a reply owed or in flight, or a partial command the worker moved
//! out of its read buffer: a big one) waits for the script: answering it here would
//! reorder its replies.
//!
//! A seated client may be in a transaction. As in Redis, MULTI, EXEC, DISCARD and
//! UNWATCH (outside MULTI) act while busy: a command refused with `-BUSY` inside MULTI
//! makes EXEC abort, and EXEC refused while busy discards the transaction
//! (`EXECABORT ... BUSY`). The door only notes what happened to the transaction on the
//! seat ([`TxEffects`]); the worker applies it to the connection's session once the
//! script ended ([`take_effects`], `cmd::multi::apply_busy_effects`), before the
//! connection's next command is read.

use crate::io::sock;
use crate::shard::Shared;
use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Door {
    shared: Arc<Shared>,
    shard: usize,
    last_poll: Option<Instant>,
    /// Connections accepted while busy: fd, on the Unix socket?, what the door knows
    /// of the session.
    open: Vec<(RawFd, bool, Client)>,
    /// Connections to hand to the worker once the script ended.
    released: Vec<Released>,
}

/// A connection the door accepted, for the worker to adopt: its fd, whether on the
/// Unix socket, and the user its AUTH logged it in as.
pub type Released = (RawFd, bool, Option<Login>);

/// An AUTH the door accepted: the user and the ACL generation it was read at (as
/// `acl::SessionAcl::login` takes them).
#[derive(Clone)]
pub struct Login {
    pub user: Arc<crate::acl::User>,
    pub generation: u64,
}

/// What the door did to a seated client's transaction while a script was busy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxEffects {
    /// The client is in MULTI now (as of its seating, then as the door's answers left it).
    pub in_multi: bool,
    /// The transaction open at seating (if any) ended: EXEC refused or DISCARD; its
    /// WATCHes are gone too (also set by UNWATCH outside MULTI).
    pub ended: bool,
    /// A command was refused inside the (current) MULTI: EXEC must abort.
    pub dirty: bool,
    /// Something above changed since seating.
    pub touched: bool,
    /// The door answered the request whose start the connection held (its
    /// `door_prefix`): the worker drops those bytes.
    pub input_taken: bool,
}

#[derive(Clone)]
struct Seat {
    fd: RawFd,
    authed: bool,
    resp3: bool,
    tx: TxEffects,
    /// The start of a request the connection holds (its rest still in the socket).
    prefix: Vec<u8>,
}

thread_local! {
    static DOOR: RefCell<Option<Door>> = const { RefCell::new(None) };
    /// This thread's idle connections, by worker slot.
    static SEATS: RefCell<Vec<Option<Seat>>> = const { RefCell::new(Vec::new()) };
    /// Effects of seats unseated before the worker took them, by slot.
    static PENDING: RefCell<Vec<(u32, TxEffects)>> = const { RefCell::new(Vec::new()) };
    /// The door answered a seated client since the worker last took the effects (so
    /// the worker's per-turn check is one load).
    static ANSWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Seated clients the door's AUTH logged in, by slot, for the worker to apply.
    static LOGINS: RefCell<Vec<(u32, Login)>> = const { RefCell::new(Vec::new()) };
}

/// The worker's hook after a connection's state may have changed: seats it while it is
/// idle (`Conn::idle_for_door`), unseats it otherwise. A flag on the connection keeps
/// the thread-local untouched unless the state flips.
#[inline]
pub fn sync_seat(slot: u32, c: Option<&mut crate::net::conn::Conn>) {
    let Some(c) = c else { return };
    let idle = c.idle_for_door();
    // A seated client holding the start of a request is seated again when more of it
    // came (rare: only such clients look their seat up).
    let grown = idle && c.door_seated && c.pending_input() && {
        let len = c.door_prefix().map_or(0, <[u8]>::len);
        SEATS.with(|s| s.borrow().get(slot as usize).and_then(|x| x.as_ref()).is_none_or(|x| x.prefix.len() != len))
    };
    if idle != c.door_seated || grown {
        c.door_seated = idle;
        let tx = TxEffects { in_multi: c.sess.multi.is_some(), ..Default::default() };
        let resp3 = c.sess.proto == crate::resp::Proto::Resp3;
        let prefix = c.door_prefix().map(<[u8]>::to_vec).unwrap_or_default();
        let seat = idle.then_some(Seat { fd: c.fd, authed: c.sess.authenticated, resp3, tx, prefix });
        SEATS.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() <= slot as usize {
                s.resize(slot as usize + 1, None);
            }
            if let Some(old) = s[slot as usize].replace_with_pending(seat) {
                PENDING.with(|p| p.borrow_mut().push((slot, old)));
            }
        });
    }
}

trait SeatSlot {
    /// Puts `seat` in this slot; the effects the old seat still had for the worker.
    fn replace_with_pending(&mut self, seat: Option<Seat>) -> Option<TxEffects>;
}

impl SeatSlot for Option<Seat> {
    fn replace_with_pending(&mut self, seat: Option<Seat>) -> Option<TxEffects> {
        std::mem::replace(self, seat).map(|old| old.tx).filter(|tx| tx.touched)
    }
}

/// The worker freed connection slot `slot`.
pub fn unseat(slot: u32) {
    SEATS.with(|s| {
        if let Some(x) = s.borrow_mut().get_mut(slot as usize) {
            *x = None;
        }
    });
    PENDING.with(|p| p.borrow_mut().retain(|(s, _)| *s != slot));
    LOGINS.with(|l| l.borrow_mut().retain(|(s, _)| *s != slot));
}

/// The seated clients the door's AUTH logged in (by slot), for the worker to log their
/// sessions in (`cmd::acl::login_at`). Taken with [`take_effects`].
pub fn take_logins() -> Vec<(u32, Login)> {
    LOGINS.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// The transaction effects the door left on this thread's connections (by slot), for
/// the worker to apply to their sessions (`cmd::multi::apply_busy_effects`).
#[inline]
pub fn take_effects() -> Vec<(u32, TxEffects)> {
    if !ANSWERED.get() {
        return Vec::new();
    }
    ANSWERED.set(false);
    let mut out = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    SEATS.with(|s| {
        for (slot, seat) in s.borrow_mut().iter_mut().enumerate() {
            if let Some(seat) = seat
                && seat.tx.touched
            {
                out.push((slot as u32, seat.tx));
                seat.tx = TxEffects { in_multi: seat.tx.in_multi, ..Default::default() };
            }
        }
    });
    out
}

/// Makes this thread (shard `shard`) answer new connections while its script is busy.
pub fn install(shared: Arc<Shared>, shard: usize) {
    DOOR.with(|d| {
        *d.borrow_mut() = Some(Door { shared, shard, last_poll: None, open: Vec::new(), released: Vec::new() })
    });
    crate::script::set_busy_hooks(poll, end);
}

/// The connections served while busy, for the worker to adopt.
pub fn take_released() -> Vec<Released> {
    DOOR.with(|d| d.borrow_mut().as_mut().map(|d| std::mem::take(&mut d.released)).unwrap_or_default())
}

fn end() {
    DOOR.with(|d| {
        if let Some(d) = d.borrow_mut().as_mut() {
            let open = std::mem::take(&mut d.open);
            d.released.extend(open.into_iter().map(|(fd, unix, c)| (fd, unix, c.login)));
            d.last_poll = None;
        }
    });
}

fn poll() {
    DOOR.with(|d| {
        let Ok(mut d) = d.try_borrow_mut() else { return };
        let Some(d) = d.as_mut() else { return };
        if d.last_poll.is_some_and(|t| t.elapsed() < Duration::from_millis(1)) {
            return;
        }
        d.last_poll = Some(Instant::now());
        for fd in d.shared.listen.serving(d.shard) {
            while let Some(c) = sock::accept_pending(fd) {
                d.open.push((c, false, Client::default()));
            }
        }
        // Any shard may take a Unix client; this one's ring would only after the script.
        let unix = d.shared.listen.unix.load(std::sync::atomic::Ordering::Acquire);
        if unix >= 0 {
            while let Some(c) = sock::accept_pending(unix) {
                d.open.push((c, true, Client::default()));
            }
        }
        let mut i = 0;
        while i < d.open.len() {
            let (fd, _, client) = &mut d.open[i];
            if serve(&d.shared, *fd, client, None, &mut Vec::new()) {
                i += 1;
            } else {
                sock::close(d.open.swap_remove(i).0);
            }
        }
        // The worker's idle connections: the worker owns their fd, so one that should
        // close is shut down and its receive ends it after the script.
        SEATS.with(|s| {
            ANSWERED.set(true);
            for (slot, seat) in s.borrow_mut().iter_mut().enumerate() {
                let Some(Seat { fd, authed, resp3, tx, prefix }) = seat else { continue };
                let mut client = Client { authed: *authed, resp3: *resp3, login: None };
                let keep = serve(&d.shared, *fd, &mut client, Some(tx), prefix);
                if let Some(login) = client.login {
                    *authed = true;
                    LOGINS.with(|l| {
                        let mut l = l.borrow_mut();
                        l.retain(|(s, _)| *s != slot as u32);
                        l.push((slot as u32, login));
                    });
                }
                if !keep {
                    sock::shutdown(*fd);
                    if let Some(old) = seat.replace_with_pending(None) {
                        PENDING.with(|p| p.borrow_mut().push((slot as u32, old)));
                    }
                }
            }
        });
    });
}

/// What the door knows of a client's session.
#[derive(Clone, Default)]
struct Client {
    authed: bool,
    resp3: bool,
    /// The user an AUTH at the door logged in as (the worker applies it afterwards).
    login: Option<Login>,
}

/// Answers the complete commands waiting on `fd` (`tx` its transaction when it is a
/// seated client, `prefix` the start of a request it holds: the commands are read from
/// the prefix, then the socket); false once it should be closed. A held prefix is
/// taken only whole (its requests complete): it is emptied, and the worker told to
/// drop those bytes (`TxEffects::input_taken`).
fn serve(shared: &Shared, fd: RawFd, client: &mut Client, tx: Option<&mut TxEffects>, prefix: &mut Vec<u8>) -> bool {
    let held = prefix.len();
    let mut buf = std::mem::take(prefix);
    buf.resize(held + (64 << 10), 0);
    let n = match sock::peek_now(fd, &mut buf[held..]) {
        Some(0) => return false,
        Some(n) => held + n,
        None if held > 0 => held,
        None => {
            buf.truncate(held);
            *prefix = buf;
            return true;
        }
    };
    let mut used = 0;
    let mut out = Vec::new();
    let mut keep = true;
    // On a copy: answers that cannot be given (a held prefix not taken whole) leave
    // the transaction as it was.
    let mut fx = tx.as_deref().copied();
    let mut session = client.clone();
    while used < n {
        let b = &buf[used..n];
        let (args, len) = match crate::persist::resp::decode(b) {
            crate::persist::resp::Decoded::Cmd { args, len } => (args, len),
            crate::persist::resp::Decoded::Incomplete => break,
            crate::persist::resp::Decoded::Bad(_) => {
                out.extend_from_slice(b"-ERR Protocol error: expected '*'\r\n");
                used = n;
                keep = false;
                break;
            }
        };
        let arg = |i: usize| args.get(i).map(|&(s, e)| &b[s..e]);
        used += len;
        if arg(0).is_some_and(|a| a.eq_ignore_ascii_case(b"quit")) {
            // Allowed while busy (and before AUTH), as in Redis: `+OK`, then closed.
            out.extend_from_slice(b"+OK\r\n");
            keep = false;
            break;
        }
        match answer(shared, &arg, &mut session, fx.as_mut()) {
            Some(reply) => out.extend_from_slice(&reply),
            None => {
                keep = false;
                break;
            }
        }
    }
    if held > 0 && used < held && keep {
        // The held request is not complete yet: nothing is answered.
        buf.truncate(held);
        *prefix = buf;
        return true;
    }
    *client = session;
    if let (Some(tx), Some(fx)) = (tx, fx) {
        *tx = fx;
        if held > 0 {
            tx.input_taken = true;
            tx.touched = true;
        }
    }
    sock::consume(fd, used.saturating_sub(held));
    if !out.is_empty() {
        sock::write_best_effort(fd, &out);
    }
    keep
}

/// The reply to one command while busy, or None to close the connection.
fn answer<'a>(
    shared: &Shared,
    arg: &dyn Fn(usize) -> Option<&'a [u8]>,
    client: &mut Client,
    tx: Option<&mut TxEffects>,
) -> Option<Vec<u8>> {
    let is = |i: usize, s: &str| arg(i).is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()));
    let script = &shared.script;
    if is(0, "auth") {
        return Some(auth(shared, arg, client).into_bytes());
    }
    if !client.authed && shared.acl.auth_required() {
        return Some(b"-NOAUTH Authentication required.\r\n".to_vec());
    }
    if is(0, "function") && is(1, "stats") && arg(2).is_none() {
        let proto = if client.resp3 { crate::resp::Proto::Resp3 } else { crate::resp::Proto::Resp2 };
        let mut buf = Vec::new();
        if let Err(e) = crate::cmd::function::stats(script, &mut crate::resp::ReplyWriter::new(&mut buf, proto)) {
            buf = format!("-{e}\r\n").into_bytes();
        }
        return Some(buf);
    }
    answer_text(shared, arg, tx).map(String::into_bytes)
}

/// AUTH while busy (`ALLOW_BUSY` in Redis 7.0), as the connection's AUTH answers it
/// (`cmd::connection`): the login is kept on `client` for the worker. A failure is not
/// written to ACL LOG here (the door has no client line for it).
fn auth<'a>(shared: &Shared, arg: &dyn Fn(usize) -> Option<&'a [u8]>, client: &mut Client) -> String {
    let argc = (0..).take_while(|&i| arg(i).is_some()).count();
    let (user, pass) = match (argc, arg(1), arg(2)) {
        (2, _, _) if !shared.acl.default_has_password() => {
            return "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n".into();
        }
        (2, Some(pass), _) => (&b"default"[..], pass),
        (3, Some(user), Some(pass)) => (user, pass),
        (1, _, _) => return "-ERR wrong number of arguments for 'auth' command\r\n".into(),
        _ => return "-ERR syntax error\r\n".into(),
    };
    let generation = shared.acl.generation.load(std::sync::atomic::Ordering::Acquire);
    match shared.acl.authenticate(user, pass) {
        Some(user) => {
            client.authed = true;
            client.login = Some(Login { user, generation });
            "+OK\r\n".into()
        }
        None => "-WRONGPASS invalid username-password pair or user is disabled.\r\n".into(),
    }
}

/// The replies of [`answer`] that are plain text.
fn answer_text<'a>(
    shared: &Shared,
    arg: &dyn Fn(usize) -> Option<&'a [u8]>,
    tx: Option<&mut TxEffects>,
) -> Option<String> {
    let is = |i: usize, s: &str| arg(i).is_some_and(|a| a.eq_ignore_ascii_case(s.as_bytes()));
    let script = &shared.script;
    let busy = script.busy_reply().unwrap_or(
        // The script ended between two commands of the batch.
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    );
    let kill = |function: bool| match script.request_kill(function) {
        Ok(()) => "+OK\r\n".to_string(),
        Err(e) => format!("-{e}\r\n"),
    };
    if is(0, "script") && is(1, "kill") && arg(2).is_none() {
        return Some(kill(false));
    }
    if is(0, "function") && is(1, "kill") && arg(2).is_none() {
        return Some(kill(true));
    }
    if is(0, "shutdown") {
        let words: Vec<&[u8]> = (1..).map_while(arg).collect();
        match crate::cmd::server::shutdown_words(&words) {
            None => return Some("-ERR syntax error\r\n".into()),
            // As Redis's abortShutdown: a signal's shutdown not yet begun (shard 0
            // waits for the script, `server::worker`) is forgotten.
            Some((_, true)) => {
                return Some(if crate::repl::shutdown::abort_pending_signal(shared) {
                    "+OK\r\n".into()
                } else if crate::repl::shutdown::in_progress(shared) {
                    // A wait for replicas is cancelled on shard 0's thread, which
                    // may be the busy one: after the script.
                    format!("-{busy}\r\n")
                } else {
                    "-ERR No shutdown in progress.\r\n".into()
                });
            }
            Some((flags, false)) if flags.nosave => {
                crate::util::log::warning("User requested shutdown...");
                script.shutdown.store(true, std::sync::atomic::Ordering::Release);
                shared.shutdown.store(true, std::sync::atomic::Ordering::SeqCst);
                return None;
            }
            Some(_) => {}
        }
    }
    let Some(tx) = tx else { return Some(format!("-{busy}\r\n")) };
    Some(transaction_answer(tx, arg(0).unwrap_or_default(), arg(1).is_none(), busy))
}

/// A seated client's command while busy, as Redis answers it: MULTI, DISCARD and
/// UNWATCH are allowed while busy (`ALLOW_BUSY`); EXEC is refused, which discards the
/// transaction; anything else is refused and, inside MULTI, makes EXEC abort.
fn transaction_answer(tx: &mut TxEffects, name: &[u8], no_args: bool, busy: &str) -> String {
    let is = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    let arity = |cmd: &str| format!("-ERR wrong number of arguments for '{cmd}' command\r\n");
    let end = |tx: &mut TxEffects| {
        *tx = TxEffects { in_multi: false, ended: true, dirty: false, touched: true, ..*tx };
    };
    if is("multi") {
        if !no_args {
            tx.dirty |= tx.in_multi;
            tx.touched = true;
            return arity("multi");
        }
        if tx.in_multi {
            return "-ERR MULTI calls can not be nested\r\n".into();
        }
        *tx = TxEffects { in_multi: true, dirty: false, touched: true, ..*tx };
        return "+OK\r\n".into();
    }
    if is("exec") {
        end(tx);
        return format!("-EXECABORT Transaction discarded because of: {busy}\r\n");
    }
    if is("discard") && no_args {
        if !tx.in_multi {
            return "-ERR DISCARD without MULTI\r\n".into();
        }
        end(tx);
        return "+OK\r\n".into();
    }
    if is("unwatch") && no_args && !tx.in_multi {
        *tx = TxEffects { ended: true, touched: true, ..*tx };
        return "+OK\r\n".into();
    }
    if tx.in_multi {
        tx.dirty = true;
        tx.touched = true;
    }
    format!("-{busy}\r\n")
}
