//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FCALL, FCALL_RO
//! and FUNCTION, over the Lua engine in `crate::script`.
//!
//! A script is a keyed command whose keys are the declared ones (`numkeys`), so it is
//! routed like any multi-key command: on the one shard that owns them, or, across
//! shards, as a keyed transaction (`coord`) that locks every owner and runs the script
//! on the coordinator over copies of the keys. Either way the script runs on one
//! thread, atomically, and each `redis.call` goes through the command table's handler
//! against the keys in reach. With one shard every key is in reach (as in Redis);
//! with several, an undeclared key gets Redis's cluster-mode error, unless the script
//! runs in lock-all mode (`script_all`), with every shard stopped.
//!
//! Effects replication, as Redis 7.0: the log (AOF and replicas) receives the write
//! commands the script ran, in their deterministic forms (`persist::propagate`),
//! wrapped in MULTI/EXEC when there are several; across shards, each owner logs the
//! final state of its keys as its part of the transaction. Never the script itself.

use super::ctx::{ConnCtx, ConnOutcome, ExecCtx};
use super::table::{CommandSpec, Handler, KeySpec, KeyedFn, TABLE, flag};
use super::{Args, CmdError};
use crate::resp::{Proto, ReplyWriter};
use crate::script::{self, Host};
use crate::shard::OwnedArgs;
use crate::util::sha1;
use crate::util::stopwatch::Stopwatch as Instant;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// `numkeys` at `at`, checked as Redis does.
fn numkeys(args: &Args, at: usize) -> Result<usize, CmdError> {
    let n = args.i64(at)?;
    if n < 0 {
        return Err(CmdError::msg("ERR Number of keys can't be negative"));
    }
    if n as u64 > (args.len() - at - 1) as u64 {
        return Err(CmdError::msg("ERR Number of keys can't be greater than number of args"));
    }
    Ok(n as usize)
}

/// Keys of EVAL/EVALSHA/FCALL and their _RO forms: `numkeys` at 2, keys after it.
pub(super) fn script_keys(args: &Args, db: u16) -> Result<Vec<(u16, usize)>, CmdError> {
    let n = match numkeys(args, 2) {
        Ok(n) => n,
        // FCALL looks its function up before it reads numkeys (`Function not found`
        // wins), and words numkeys' errors its own way: its handler answers them.
        Err(_) if args.is(0, "fcall") || args.is(0, "fcall_ro") => 0,
        Err(e) => return Err(e),
    };
    Ok((3..3 + n).map(|i| (db, i)).collect())
}

/// FCALL's `numkeys` at 2, checked as Redis 7.0's `fcallCommandGeneric` does.
pub(super) fn fcall_numkeys(args: &Args) -> Result<usize, CmdError> {
    let n = crate::util::num::parse_i64(args.get(2)).ok_or_else(|| CmdError::msg("ERR Bad number of keys provided"))?;
    if n > (args.len() - 3) as i64 {
        return Err(CmdError::msg("ERR Number of keys can't be greater than number of args"));
    }
    if n < 0 {
        return Err(CmdError::msg("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

/// Is `idx` one of the script-running commands (their writes are their keys' final
/// state when they ran across shards)?
pub fn is_script(idx: u16) -> bool {
    matches!(TABLE.get(idx).name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro")
}

/// The same, by spec (tracking's dispatch hook).
pub fn is_script_spec(spec: &CommandSpec) -> bool {
    spec.group == "scripting" && matches!(spec.handler, Handler::Keyed(_))
}

/// Flags a script declares in its `#!lua flags=...` line.
#[derive(Clone, Copy, Default)]
pub struct ScriptFlags {
    pub no_writes: bool,
    pub shebang: bool,
    /// `allow-undeclared-keys` (shardis's, as Dragonfly's): with several shards, the
    /// script runs with the whole keyspace in reach (`script_all`).
    pub undeclared_keys: bool,
}

impl ScriptFlags {
    fn bits(self) -> u8 {
        self.no_writes as u8 | (self.shebang as u8) << 1 | (self.undeclared_keys as u8) << 2
    }

    fn from_bits(b: u8) -> ScriptFlags {
        ScriptFlags { no_writes: b & 1 != 0, shebang: b & 2 != 0, undeclared_keys: b & 4 != 0 }
    }
}

/// Parses a `#!` first line (Redis 7.0's `evalExtractShebangFlags`): the line must
/// end in a newline, is split as `sdssplitargs` splits (blanks, quotes), and its
/// `flags=` list as `sdssplitlen` splits it (so `flags=a,` names an empty flag).
pub fn shebang_flags(body: &[u8]) -> Result<ScriptFlags, CmdError> {
    if !body.starts_with(b"#!") {
        return Ok(ScriptFlags::default());
    }
    let Some(line_end) = body.iter().position(|&b| b == b'\n') else {
        return Err(CmdError::msg("ERR Invalid script shebang"));
    };
    let parts = crate::util::splitargs::split_owned(&body[..line_end]).unwrap_or_default();
    let Some((engine, options)) = parts.split_first() else {
        return Err(CmdError::msg("ERR Invalid engine in script shebang"));
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if engine.as_slice() != b"#!lua" {
        return Err(CmdError::msg(format!("ERR Unexpected engine in script shebang: {}", text(engine))));
    }
    let mut flags = ScriptFlags { shebang: true, ..Default::default() };
    for p in options {
        let Some(list) = p.strip_prefix(b"flags=") else {
            return Err(CmdError::msg(format!("ERR Unknown lua shebang option: {}", text(p))));
        };
        if list.is_empty() {
            continue;
        }
        for f in list.split(|&b| b == b',') {
            match f {
                b"no-writes" => flags.no_writes = true,
                b"allow-undeclared-keys" => flags.undeclared_keys = true,
                b"allow-oom" | b"allow-stale" | b"no-cluster" | b"allow-cross-slot-keys" => {}
                other => {
                    return Err(CmdError::msg(format!("ERR Unexpected flag in script shebang: {}", text(other))));
                }
            }
        }
    }
    Ok(flags)
}

fn eval(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    eval_generic(c, a, false, false)
}
fn eval_ro(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    eval_generic(c, a, false, true)
}
fn evalsha(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    eval_generic(c, a, true, false)
}
fn evalsha_ro(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    eval_generic(c, a, true, true)
}

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// A lock-all script (`script_all`) inside MULTI touched a key it did not declare:
/// the transaction locked only the keys its commands name, so the script keeps
/// Redis's cluster-mode error, saying why.
pub const NON_LOCAL_IN_MULTI: &str = "ERR Script attempted to access a non local key in a cluster node \
    (lock-all mode does not apply inside MULTI: declare the script's keys)";

fn eval_generic(c: &mut ExecCtx, a: &Args, by_sha: bool, ro: bool) -> Result<(), CmdError> {
    // Taken first, so that a call refused before it runs leaves no entry behind.
    let reader = c.shared.script.take_reader(c.client_id);
    let n = numkeys(a, 2)?;
    let mut hex = [0u8; 40];
    let sha: std::borrow::Cow<str> = if by_sha {
        let s = a.get(1);
        if s.len() != 40 {
            return Err(CmdError::msg(NOSCRIPT));
        }
        hex.copy_from_slice(s);
        hex.make_ascii_lowercase();
        match std::str::from_utf8(&hex) {
            Ok(h) => h.into(),
            Err(_) => return Err(CmdError::msg(NOSCRIPT)),
        }
    } else {
        sha1::hex(a.get(1)).into()
    };
    let sha = &*sha;
    with_slices(a, 3..3 + n, |keys| {
        with_slices(a, 3 + n..a.len(), |argv| {
            let shared = &c.shared.script;
            script::with_engine(|eng| {
                eng.sync_flush(shared);
                let (func, flags) = match eng.cached(sha) {
                    Some((f, bits)) => (f, ScriptFlags::from_bits(bits)),
                    None => {
                        let body = if by_sha {
                            match shared.get(sha) {
                                Some(b) => b,
                                None => return Err(CmdError::msg(NOSCRIPT)),
                            }
                        } else {
                            std::sync::Arc::from(a.get(1))
                        };
                        let f = eng.script(sha, &body).map_err(CmdError::Msg)?;
                        if !by_sha {
                            shared.insert(sha, &body);
                        }
                        let flags = shebang_flags(&body)?;
                        eng.set_flags(sha, flags.bits());
                        (f, flags)
                    }
                };
                let read_only = ro || flags.no_writes;
                let wants_all = flags.undeclared_keys;
                run_script(c, eng, &func, sha, keys, argv, read_only, false, wants_all, reader)
            })
        })
    })
}

/// Calls `f` with arguments `range` of `a` as slices: on the stack for a few (a
/// script's keys and arguments usually are), in a vector past that.
pub(super) fn with_slices<R>(a: &Args, range: std::ops::Range<usize>, f: impl FnOnce(&[&[u8]]) -> R) -> R {
    const FEW: usize = 8;
    let n = range.len();
    if n <= FEW {
        let mut buf: [&[u8]; FEW] = [&[]; FEW];
        for (slot, i) in buf.iter_mut().zip(range) {
            *slot = a.get(i);
        }
        f(&buf[..n])
    } else {
        let v: Vec<&[u8]> = range.map(|i| a.get(i)).collect();
        f(&v)
    }
}

/// While a script is busy (past `busy-reply-threshold`), Redis's `-BUSY` for every
/// command but the few it allows (`ALLOW_BUSY`; of SCRIPT and FUNCTION only KILL
/// and FUNCTION STATS). SHUTDOWN NOSAVE passes and stops the busy script at once;
/// SHUTDOWN without NOSAVE gets `-BUSY` too, as in Redis. One atomic load otherwise.
#[inline]
pub fn busy_refusal(st: &crate::shard::ShardState, spec: &CommandSpec, args: &Args) -> Option<&'static str> {
    let text = st.shared.script.busy_reply()?;
    busy_refusal_slow(&st.shared.script, spec, args, text)
}

#[cold]
fn busy_refusal_slow(
    shared: &script::ScriptShared,
    spec: &CommandSpec,
    args: &Args,
    text: &'static str,
) -> Option<&'static str> {
    let sub = |name: &str| args.len() > 1 && args.get(1).eq_ignore_ascii_case(name.as_bytes());
    match spec.name {
        "script" => (!sub("kill")).then_some(text),
        "function" => (!(sub("kill") || sub("stats"))).then_some(text),
        "shutdown" => {
            if args.len() == 2 && args.get(1).eq_ignore_ascii_case(b"abort") {
                None
            } else if (1..args.len()).any(|i| args.get(i).eq_ignore_ascii_case(b"nosave")) {
                shared.shutdown.store(true, std::sync::atomic::Ordering::Release);
                None
            } else {
                Some(text)
            }
        }
        _ if spec.flags & flag::ALLOW_BUSY != 0 => None,
        _ => Some(text),
    }
}

/// Dispatch hook: a client whose user is restricted sends a script; note its user so
/// the script's `redis.call`s are checked against it wherever the script runs.
#[inline]
pub fn note_caller(st: &crate::shard::ShardState, sess: &super::ctx::Session, spec: &CommandSpec) {
    if sess.acl.unrestricted && !st.shared.script.has_callers() {
        return;
    }
    note_caller_slow(st, sess, spec);
}

#[cold]
fn note_caller_slow(st: &crate::shard::ShardState, sess: &super::ctx::Session, spec: &CommandSpec) {
    if spec.group != "scripting" || !matches!(spec.handler, Handler::Keyed(_)) {
        return;
    }
    st.shared.script.note_caller(sess.id, &sess.acl, || {
        let line = super::client::line_of(st, sess.id);
        // The log shows the script command as the client's current one, as Redis's does.
        match line.find(" cmd=") {
            Some(at) => {
                let start = at + " cmd=".len();
                let end = line[start..].find(' ').map_or(line.len(), |e| start + e);
                format!("{}{}{}", &line[..start], spec.name, &line[end..])
            }
            None => line,
        }
    })
}

/// MULTI hook: a transaction's queued commands will not run (DISCARD, EXECABORT): its
/// scripts' noted callers (`note_caller`, at queue time) go.
pub fn discard_queued(st: &crate::shard::ShardState, client: u64, cmds: &[(u16, OwnedArgs, u16)]) {
    if !st.shared.script.has_callers() {
        return;
    }
    let n = cmds
        .iter()
        .filter(|(idx, _, _)| {
            let spec = TABLE.get(*idx);
            spec.group == "scripting" && matches!(spec.handler, Handler::Keyed(_))
        })
        .count();
    st.shared.script.release_caller(client, n);
}

/// What a script's `redis.call`s leave for the shard once the script returns: MONITOR
/// lines (`[<db> lua]`), the keys its commands changed (declared or not: as in Redis,
/// exactly those are signalled to client tracking, WATCH and blocked clients; the
/// choke point does not signal a script's declared keys, `dispatch::call_inner`) and,
/// for a tracking caller whose script ran a read-only command, the declared keys.
#[derive(Default)]
struct AfterRun {
    monitor: Vec<(u16, OwnedArgs)>,
    written: Vec<(u16, Vec<u8>)>,
    /// The declared keys of a tracking client's script that read: (client, home, keys).
    reads: Vec<(u64, u16, Vec<Vec<u8>>)>,
    /// What it published, delivered when it returns (`script_publish`).
    published: Vec<super::script_publish::Published>,
}

thread_local! {
    static AFTER: std::cell::RefCell<AfterRun> = std::cell::RefCell::new(AfterRun::default());
    static AFTER_PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Choke-point hook (`dispatch::call_inner`, after the handler): feeds MONITOR the
/// script's commands and signals the keys they changed to client tracking, WATCH and
/// blocked clients, as Redis does for every command a script runs.
#[inline]
pub fn settle(st: &mut crate::shard::ShardState, client_id: u64) {
    LOG_OFF.with(|c| c.set(false));
    UNHEARD.with(|c| c.set(false));
    if AFTER_PENDING.with(|p| p.get()) {
        settle_slow(st, client_id);
    }
}

#[cold]
fn settle_slow(st: &mut crate::shard::ShardState, client_id: u64) {
    AFTER_PENDING.with(|p| p.set(false));
    let after = AFTER.with(|a| std::mem::take(&mut *a.borrow_mut()));
    for (db, args) in &after.monitor {
        let a = Args::Owned(args);
        let name = TABLE.lookup(a.get(0)).map_or("", |i| TABLE.get(i).name);
        super::monitor::feed(st, *db, "lua", name, a.iter());
    }
    if !after.published.is_empty() {
        super::script_publish::deliver(st, after.published);
    }
    // Writes first: a key the script wrote and then read stays tracked for the caller.
    let mine: Vec<&(u16, Vec<u8>)> =
        after.written.iter().filter(|(_, k)| crate::shard::shard_of(k, st.nshards) == st.id).collect();
    if !mine.is_empty() && super::tracking::writes_matter(st) {
        super::tracking::invalidate(st, mine.iter().map(|(_, k)| k.as_slice()), client_id);
    }
    for (db, k) in mine {
        st.watch.touch(*db, k);
        st.blocked.touched(*db, k);
    }
    for (client, home, keys) in after.reads {
        super::tracking::remember_reads(st, keys, client, home);
    }
}

thread_local! {
    /// The running command's shard log is off (no AOF, no replicas): a script's
    /// writes need no deterministic forms (`effects_of`), which cost as much as the
    /// writes. False unless `before_run` said so for the command running now.
    static LOG_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Nobody on the running command's shard listens for changed keys (no WATCH, no
    /// blocked client, no tracking): a script's writes need not be collected.
    static UNHEARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// A script's `redis.call` is running a command handler now (Redis's
    /// `CLIENT_SCRIPT` flag on the script's fake client).
    static CALLING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Is the handler running now called by a script? (XREAD refuses BLOCK there.)
pub fn called_from_script() -> bool {
    CALLING.with(|c| c.get())
}

/// Marks a handler call from a script; cleared on drop, also when the handler panics.
struct Calling;

impl Calling {
    fn enter() -> Calling {
        CALLING.with(|c| c.set(true));
        Calling
    }
}

impl Drop for Calling {
    fn drop(&mut self) {
        CALLING.with(|c| c.set(false));
    }
}

/// Dispatch hook (`dispatch::call_inner`, before a command that may replicate runs):
/// is the shard's log active, does anyone listen for changed keys? Reset by `settle`
/// when the command returns.
#[inline]
pub fn before_run(st: &crate::shard::ShardState) {
    LOG_OFF.with(|c| c.set(!st.aof.active()));
    UNHEARD.with(|c| c.set(st.watch.is_empty() && st.blocked.is_empty() && !super::tracking::writes_matter(st)));
}

fn log_off() -> bool {
    LOG_OFF.with(|c| c.get())
}

fn after_run(f: impl FnOnce(&mut AfterRun)) {
    AFTER.with(|a| f(&mut a.borrow_mut()));
    AFTER_PENDING.with(|p| p.set(true));
}

/// `busy-reply-threshold` (alias `lua-time-limit`) in milliseconds. Looked up once
/// per config version (a CONFIG SET gives the shard a new `Config`), not per script.
fn busy_threshold_ms(cfg: &crate::config::Config) -> u64 {
    thread_local! {
        static CACHED: std::cell::Cell<(usize, u64)> = const { std::cell::Cell::new((0, 0)) };
    }
    let key = cfg as *const _ as usize;
    CACHED.with(|c| {
        let (k, v) = c.get();
        if k == key {
            return v;
        }
        let v = cfg.compat_value("busy-reply-threshold").and_then(|v| v.parse().ok()).unwrap_or(5000);
        c.set((key, v));
        v
    })
}

/// Runs a compiled script or function on `c`'s keyspace: sets up the host, the
/// watchdog and the busy flags, and writes the reply or returns the error.
#[allow(clippy::too_many_arguments)]
pub fn run_script(
    c: &mut ExecCtx,
    eng: &script::Engine,
    func: &mlua::Function,
    name: &str,
    keys: &[&[u8]],
    argv: &[&[u8]],
    read_only: bool,
    as_function: bool,
    wants_all: bool,
    reader: Option<u16>,
) -> Result<(), CmdError> {
    let slot = script::thread_slot();
    let busy_ms = busy_threshold_ms(c.config);
    eng.watch.begin(&c.shared.script, slot, busy_ms, as_function);
    let caller = c.shared.script.take_caller(c.client_id);
    let wants_all = wants_all || super::script_all::configured(c.config);
    let reads = reader.map(|home| (home, false));
    let host = thread_host(eng, c);
    let (res, effects, reads) = {
        let lent = Lent::new(&host, c);
        lent.host.borrow_mut().begin(read_only, keys, slot, caller, wants_all, reads);
        // The reply goes straight to the client's output: a run writes it only once it
        // succeeded, so a failed one leaves nothing behind.
        let res = eng.run(func, name, keys, argv, as_function, &mut lent.c.out);
        let mut h = lent.host.borrow_mut();
        (res, std::mem::take(&mut h.effects), h.reads.take())
    };
    eng.watch.end();
    if let Some((home, true)) = reads
        && !keys.is_empty()
    {
        let (client, keys) = (c.client_id, keys.iter().map(|k| k.to_vec()).collect());
        after_run(|a| a.reads.push((client, home, keys)));
    }
    if !effects.is_empty() {
        let wrap = effects.len() > 1;
        if wrap {
            c.prop.push(&[b"MULTI"]);
        }
        for (db, e, stream_only) in effects {
            if stream_only {
                c.prop.push_stream_only_in(db, e);
            } else {
                c.prop.push_owned_in(db, e);
            }
        }
        if wrap {
            c.prop.push(&[b"EXEC"]);
        }
    }
    res.map_err(CmdError::Msg)
}

thread_local! {
    /// This thread's script host, installed in its engine (`Engine::set_host`).
    static HOST: std::cell::RefCell<Option<Rc<RefCell<ScriptHost>>>> = const { std::cell::RefCell::new(None) };
}

/// This thread's host, made (and installed in `eng`) on first use, with `c`'s config
/// and server state: a later run with others (a CONFIG SET gives the shard a new
/// `Config`) replaces them when it lends its parts (`Lent::new`).
fn thread_host(eng: &script::Engine, c: &ExecCtx) -> Rc<RefCell<ScriptHost>> {
    HOST.with(|h| {
        let mut h = h.borrow_mut();
        if let Some(host) = h.as_ref() {
            // The thread's two engines (EVAL's, the functions') share its host.
            if !eng.has_host() {
                eng.set_host(host.clone());
            }
            return host.clone();
        }
        let host = Rc::new(RefCell::new(ScriptHost::new(c.config.clone(), c.shared.clone())));
        eng.set_host(host.clone());
        *h = Some(host.clone());
        host
    })
}

/// The command's parts lent to the host for one run: the databases, stats and
/// keyspace events move in (a few words each) when the run starts and move back when
/// this is dropped, also when a handler panics through the script.
struct Lent<'h, 'c, 'a> {
    host: &'h Rc<RefCell<ScriptHost>>,
    c: &'c mut ExecCtx<'a>,
}

impl<'h, 'c, 'a> Lent<'h, 'c, 'a> {
    fn new(host: &'h Rc<RefCell<ScriptHost>>, c: &'c mut ExecCtx<'a>) -> Self {
        {
            let mut h = host.borrow_mut();
            let h = &mut *h;
            std::mem::swap(&mut h.dbs, c.dbs);
            std::mem::swap(&mut h.stats, c.stats);
            h.notes = c.notes.take();
            if !Arc::ptr_eq(&h.config, c.config) {
                h.config = c.config.clone();
            }
            if !Arc::ptr_eq(&h.shared, c.shared) {
                h.shared = c.shared.clone();
            }
            h.db = c.db;
            h.home_db = c.db;
            h.now_ms = c.now_ms;
            h.client_id = c.client_id;
            h.dirty = 0;
            h.active = true;
        }
        Lent { host, c }
    }
}

impl Drop for Lent<'_, '_, '_> {
    fn drop(&mut self) {
        let mut h = self.host.borrow_mut();
        let h = &mut *h;
        std::mem::swap(&mut h.dbs, self.c.dbs);
        std::mem::swap(&mut h.stats, self.c.stats);
        self.c.notes = h.notes.take();
        self.c.dirty += std::mem::take(&mut h.dirty);
        h.active = false;
        h.caller = None;
    }
}

/// Runs the script's `redis.call`s against the keyspace of the command that runs it.
/// 'static (it lives as long as the thread's engine): what it needs of the command
/// is lent to it for each run (`Lent`).
struct ScriptHost {
    /// The command's databases, stats and keyspace events while a run holds them
    /// (empty otherwise).
    dbs: Vec<crate::storage::Db>,
    stats: crate::shard::ShardStats,
    notes: Option<Box<super::ctx::Notes>>,
    config: Arc<crate::config::Config>,
    shared: Arc<crate::shard::Shared>,
    /// The db the script's commands run in: the caller's, until the script SELECTs
    /// another (which the caller keeps no trace of, as in Redis 7.0).
    db: usize,
    /// The caller's db, where the declared keys are.
    home_db: usize,
    now_ms: u64,
    client_id: u64,
    /// Changes made by the run's commands, added to the script command's own.
    dirty: u64,
    /// A run holds the parts: a `redis.call` kept past its run finds nothing to run on.
    active: bool,
    read_only: bool,
    /// The declared keys.
    keys: OwnedArgs,
    /// The deterministic forms of the writes made so far, each with its db, for the log,
    /// and whether it goes to the replication stream only (PUBLISH).
    effects: Vec<(u16, OwnedArgs, bool)>,
    slot: usize,
    /// The restricted user running the script (None: every command is allowed).
    caller: Option<(crate::acl::SessionAcl, String)>,
    /// Lock-all mode was asked for (setting or flag) but does not apply here: the
    /// script runs inside MULTI, whose transaction holds only its named keys.
    wants_all: bool,
    /// A tracking caller's home shard, and whether the script ran a read-only command.
    reads: Option<(u16, bool)>,
}

impl ScriptHost {
    fn new(config: Arc<crate::config::Config>, shared: Arc<crate::shard::Shared>) -> ScriptHost {
        ScriptHost {
            dbs: Vec::new(),
            stats: Default::default(),
            notes: None,
            config,
            shared,
            db: 0,
            home_db: 0,
            now_ms: 0,
            client_id: 0,
            dirty: 0,
            active: false,
            read_only: false,
            keys: OwnedArgs::default(),
            effects: Vec::new(),
            slot: 0,
            caller: None,
            wants_all: false,
            reads: None,
        }
    }

    /// The run's own settings (the lent parts are in already).
    fn begin(
        &mut self,
        read_only: bool,
        keys: &[&[u8]],
        slot: usize,
        caller: Option<(crate::acl::SessionAcl, String)>,
        wants_all: bool,
        reads: Option<(u16, bool)>,
    ) {
        self.read_only = read_only;
        self.keys.data.clear();
        self.keys.ends.clear();
        for k in keys {
            self.keys.data.extend_from_slice(k);
            self.keys.ends.push(self.keys.data.len() as u32);
        }
        self.effects.clear();
        self.slot = slot;
        self.caller = caller;
        self.wants_all = wants_all;
        self.reads = reads;
    }

    fn declared(&self, key: &[u8]) -> bool {
        (0..self.keys.len()).any(|i| self.keys.get(i) == key)
    }
}

impl Host for ScriptHost {
    fn acl_check(&mut self, owned: &OwnedArgs) -> Result<bool, String> {
        super::script_acl::acl_check(self.caller.as_mut().map(|(acl, _)| acl), &self.shared.acl, owned)
    }

    fn call(&mut self, owned: &OwnedArgs, resp3: bool, propagate: bool, out: &mut Vec<u8>) -> Result<(), String> {
        if !self.active {
            return Err("ERR redis.call is not available here".into());
        }
        let Some(idx) = TABLE.lookup(owned.get(0)) else {
            return Err("ERR Unknown Redis command called from script".into());
        };
        let spec = TABLE.get(idx);
        if !spec.arity_ok(owned.len()) {
            return Err("ERR Wrong number of args calling Redis command from script".into());
        }
        if spec.flags & flag::NOSCRIPT != 0 {
            return Err("ERR This Redis command is not allowed from script".into());
        }
        let args = Args::Owned(owned);
        if let Some((acl, info)) = self.caller.as_mut() {
            let info = &*info;
            let client_info = || info.clone();
            let ctx = crate::acl::LogCtx {
                in_multi: false,
                exec_recheck: false,
                client_info: &client_info,
                now_ms: self.now_ms,
            };
            crate::acl::check_script(&self.shared.acl, acl, idx, &args, &ctx)?;
        }
        if spec.is_write() && self.read_only {
            return Err("ERR Write commands are not allowed from read-only scripts.".into());
        }
        let proto = if resp3 { Proto::Resp3 } else { Proto::Resp2 };
        let db = self.db as u16;
        let f: KeyedFn = match spec.handler {
            Handler::Keyed(f) => f,
            Handler::Conn(_) if spec.name == "select" => {
                self.db = select_in_script(&args, self.config.databases)?;
                ReplyWriter::new(out, proto).ok();
                self.monitor(db, owned);
                return Ok(());
            }
            Handler::Conn(_) if super::script_keyspace::handles(spec.name) => {
                use super::script_keyspace::{Reach, run};
                let reach = match self.shared.nshards {
                    1 => Reach::Whole,
                    _ if super::script_all::active() => Reach::LockAll,
                    _ => Reach::Declared,
                };
                run(spec.name, &args, &mut self.dbs, self.db, self.now_ms, reach, ReplyWriter::new(out, proto))?;
                self.monitor(db, owned);
                return Ok(());
            }
            Handler::Conn(_) if matches!(spec.name, "publish" | "spublish") => {
                self.publish(idx, owned, propagate, ReplyWriter::new(out, proto));
                return Ok(());
            }
            Handler::Conn(_) => {
                conn_from_script(spec.name, &args, self.now_ms, ReplyWriter::new(out, proto))?;
                self.monitor(db, owned);
                return Ok(());
            }
        };
        let lock_all = self.shared.nshards > 1 && super::script_all::active();
        if self.shared.nshards > 1
            && let Ok(positions) = spec.key_positions(&args, db)
        {
            if lock_all {
                // Every shard is stopped: bring the keys into the scratch keyspace.
                super::script_all::reach(&mut self.dbs, &args, &positions);
            } else {
                for (d, i) in positions {
                    if d as usize != self.home_db || !self.declared(args.get(i)) {
                        if self.wants_all {
                            return Err(NON_LOCAL_IN_MULTI.into());
                        }
                        return Err("ERR Script attempted to access a non local key in a cluster node".into());
                    }
                }
            }
        }
        self.monitor(db, owned);
        let start = Instant::now();
        let mut ictx = ExecCtx {
            dbs: &mut self.dbs,
            db: self.db,
            now_ms: self.now_ms,
            out: ReplyWriter::new(out, proto),
            stats: &mut self.stats,
            dirty: 0,
            config: &self.config,
            shared: &self.shared,
            client_id: self.client_id,
            block: None,
            notes: self.notes.take(),
            prop: Default::default(),
            unchanged_key: None,
            only_changed_key: None,
            rerun: false,
        };
        let res = {
            let _calling = Calling::enter();
            f(&mut ictx, &args)
        };
        if let Err(e) = &res {
            ictx.out.error(&e.message());
            ictx.stats.count_error(&e.message());
        }
        if let Some(req) = ictx.block.take() {
            // Blocking commands never block inside a script: their timeout reply.
            super::blocking::timeout_reply(ictx.out.buf, proto, req.timeout_reply);
        }
        if let Some((_, read)) = &mut self.reads
            && spec.flags & flag::READONLY != 0
        {
            *read = true;
        }
        let dirty = ictx.dirty;
        let changed = super::dispatch::KeysChanged { unchanged: ictx.unchanged_key, only: ictx.only_changed_key };
        let prop = std::mem::take(&mut ictx.prop);
        self.notes = ictx.notes.take();
        drop(ictx);
        if dirty > 0 {
            self.dirty += dirty;
            self.shared.script.note_write(self.slot);
            if lock_all {
                // Their owners apply, log and signal them (`script_all`).
                if let Ok(positions) = spec.key_positions(&args, db) {
                    super::script_all::wrote(&args, &positions);
                }
            } else if !UNHEARD.with(|c| c.get())
                && let Ok(positions) = spec.key_positions(&args, db)
            {
                // The keys this command changed (not one it names but left as it was,
                // SMOVE's destination): signalled when the script returns (`settle`).
                let changed = positions.iter().filter(|&&(_, i)| changed.may_have_changed(i));
                let changed: Vec<(u16, Vec<u8>)> = changed.map(|&(d, i)| (d, args.get(i).to_vec())).collect();
                if !changed.is_empty() {
                    after_run(|a| a.written.extend(changed));
                }
            }
            if propagate && !log_off() {
                self.effects
                    .extend(effects_of(&self.dbs, spec.name, &args, db, prop).into_iter().map(|e| (db, e, false)));
            }
        }
        if let Some(s) = super::cmdtime::stat_of(&mut self.stats, super::cmdtime::stat_slot(idx, &args)) {
            s.calls += 1;
            s.usec += start.elapsed().as_micros() as u64;
            if res.is_err() {
                s.failed_calls += 1;
            }
        }
        self.stats.total_commands += 1;
        Ok(())
    }
}

impl ScriptHost {
    /// PUBLISH / SPUBLISH: answered from the census, delivered when the script returns,
    /// replicated with its effects (`script_publish`).
    fn publish(&mut self, idx: u16, owned: &OwnedArgs, propagate: bool, mut w: ReplyWriter) {
        let start = Instant::now();
        let db = self.db as u16;
        self.monitor(db, owned);
        let shard = TABLE.get(idx).name == "spublish";
        let (channel, message) = (owned.get(1).to_vec(), owned.get(2).to_vec());
        w.int(super::script_publish::receivers(&self.shared, shard, &channel) as i64);
        after_run(|a| a.published.push((shard, channel, message)));
        // Not in cluster mode, as a client's PUBLISH (`dispatch::replicate_keyless`).
        if propagate && !log_off() && !self.shared.cluster.enabled {
            self.effects.push((db, owned.clone(), true));
        }
        let args = Args::Owned(owned);
        if let Some(s) = super::cmdtime::stat_of(&mut self.stats, super::cmdtime::stat_slot(idx, &args)) {
            s.calls += 1;
            s.usec += start.elapsed().as_micros() as u64;
        }
        self.stats.total_commands += 1;
    }

    /// Queues the MONITOR line of a command the script runs (fed when it returns).
    fn monitor(&self, db: u16, args: &OwnedArgs) {
        if self.shared.monitors_total.load(std::sync::atomic::Ordering::Relaxed) != 0 {
            let args = args.clone();
            after_run(|a| a.monitor.push((db, args)));
        }
    }
}

/// SELECT inside a script: the script's own db (Redis 7.0's script client), checked
/// as SELECT checks it.
fn select_in_script(args: &Args, databases: usize) -> Result<usize, String> {
    let n = crate::util::num::parse_i64(args.get(1)).ok_or("ERR value is not an integer or out of range")?;
    if n < 0 || n as usize >= databases {
        return Err("ERR DB index is out of range".into());
    }
    Ok(n as usize)
}

/// The connection-level commands a script may call: the ones that need no session.
fn conn_from_script(name: &str, args: &Args, now_ms: u64, mut w: ReplyWriter) -> Result<(), String> {
    match name {
        "ping" if args.len() == 1 => w.simple("PONG"),
        "ping" | "echo" => w.bulk(args.get(1)),
        "time" => {
            let us = now_ms * 1000;
            w.array(2);
            w.bulk((us / 1_000_000).to_string().as_bytes());
            w.bulk((us % 1_000_000).to_string().as_bytes());
        }
        // Redis 7.0 runs these from scripts; here they write every shard's keyspace,
        // which a script (running on its keys' shard) does not hold: refused by name
        // (README, "Not supported yet", Scripting limits). The reads among them are
        // `script_keyspace`'s.
        "flushall" | "flushdb" | "swapdb" => {
            return Err(format!(
                "ERR {} is not supported inside scripts by shardis: it spans every shard's keyspace",
                name.to_ascii_uppercase()
            ));
        }
        _ => return Err("ERR This Redis command is not allowed from script".into()),
    }
    Ok(())
}

/// The deterministic forms a write propagates as (what `persist::propagate` would
/// log for it), as commands.
fn effects_of(
    dbs: &[crate::storage::Db],
    name: &str,
    args: &Args,
    db: u16,
    prop: crate::persist::Prop,
) -> Vec<OwnedArgs> {
    let mut log = crate::persist::log::ShardLog::default();
    log.on = true;
    crate::persist::propagate(&mut log, dbs, name, args, db, prop);
    let mut cmds = Vec::new();
    let b = &log.buf;
    let mut i = 0;
    let line = |i: &mut usize| -> Option<usize> {
        let end = b[*i..].windows(2).position(|w| w == b"\r\n")? + *i;
        let n = crate::util::num::parse_u64(&b[*i + 1..end])? as usize;
        *i = end + 2;
        Some(n)
    };
    while i < b.len() {
        let Some(n) = line(&mut i) else { break };
        let mut parts: Vec<&[u8]> = Vec::with_capacity(n);
        for _ in 0..n {
            let Some(len) = line(&mut i) else { break };
            parts.push(&b[i..i + len]);
            i += len + 2;
        }
        if !parts.first().is_some_and(|p| p.eq_ignore_ascii_case(b"select")) {
            cmds.push(OwnedArgs::from_slices(parts.into_iter()));
        }
    }
    cmds
}

fn script_cmd(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    let shared = &c.st.shared.script;
    match (sub.as_str(), a.len()) {
        ("load", 3) => {
            let body = a.get(2);
            let flags = shebang_flags(body)?;
            let sha = sha1::hex(body);
            script::with_engine(|eng| {
                eng.sync_flush(shared);
                eng.script(&sha, body).map(|_| eng.set_flags(&sha, flags.bits()))
            })
            .map_err(CmdError::Msg)?;
            shared.insert(&sha, body);
            c.out.bulk(sha.as_bytes());
        }
        ("exists", n) if n >= 3 => {
            c.out.array(n - 2);
            for i in 2..n {
                let sha = String::from_utf8_lossy(a.get(i)).to_ascii_lowercase();
                c.out.int(shared.contains(&sha) as i64);
            }
        }
        ("flush", 2) => {
            shared.flush();
            c.out.ok();
        }
        ("flush", 3) if a.is(2, "async") || a.is(2, "sync") => {
            shared.flush();
            c.out.ok();
        }
        ("flush", _) => return Err(CmdError::msg("ERR SCRIPT FLUSH only support SYNC|ASYNC option")),
        ("kill", 2) => {
            shared.request_kill(false).map_err(CmdError::msg)?;
            c.out.ok();
        }
        ("help", 2) => {
            let lines = [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Prints this help.",
            ];
            c.out.array(lines.len());
            for l in lines {
                c.out.simple(l);
            }
        }
        ("load" | "exists" | "kill" | "help", _) => {
            return Err(CmdError::msg(super::error::wrong_arity(&format!("script|{sub}"))));
        }
        _ => return Err(CmdError::msg(format!("ERR unknown subcommand '{}'. Try SCRIPT HELP.", a.str(1)))),
    }
    Ok(ConnOutcome::Done)
}

const SCRIPT_KEYS: KeySpec = KeySpec::Custom { first: 0, last: 0, step: 0, find: script_keys };

const fn scripting(name: &'static str, flags: u32, f: KeyedFn, summary: &'static str) -> CommandSpec {
    CommandSpec {
        name,
        arity: -3,
        flags: flags | flag::NOSCRIPT | flag::STALE,
        keys: SCRIPT_KEYS,
        handler: Handler::Keyed(f),
        group: "scripting",
        summary,
        since: "2.6.0",
    }
}

pub static COMMANDS: &[CommandSpec] = &[
    scripting("eval", flag::MAY_REPLICATE, eval, "Executes a server-side Lua script."),
    scripting("evalsha", flag::MAY_REPLICATE, evalsha, "Executes a server-side Lua script by SHA1 digest."),
    scripting("eval_ro", flag::READONLY, eval_ro, "Executes a read-only server-side Lua script."),
    scripting("evalsha_ro", flag::READONLY, evalsha_ro, "Executes a read-only server-side Lua script by SHA1 digest."),
    scripting("fcall", flag::MAY_REPLICATE, super::function::fcall, "Invokes a function."),
    scripting("fcall_ro", flag::READONLY, super::function::fcall_ro, "Invokes a read-only function."),
    CommandSpec {
        name: "script",
        arity: -2,
        flags: flag::NOSCRIPT | flag::ALLOW_BUSY,
        keys: KeySpec::None,
        handler: Handler::Conn(script_cmd),
        group: "scripting",
        summary: "A container for Lua scripts management commands.",
        since: "2.6.0",
    },
];
