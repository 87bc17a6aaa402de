//! The script host: what runs a script's `redis.call`s against the keyspace of the
//! command that runs the script (`ScriptHost`, lent the command's parts for one run by
//! `Lent`), what the run leaves for the shard once it returns (`settle`: MONITOR lines,
//! the keys it changed, what it published) and the write effects it logs
//! (`effects_of`). The commands that start a run are in `script` and `function`.

use super::ctx::ExecCtx;
use super::table::{Handler, KeyedFn, TABLE, flag};
use super::{Args, CmdError};
use crate::resp::{Proto, ReplyWriter};
use crate::script::{self, Host};
use crate::shard::OwnedArgs;
use crate::util::stopwatch::Stopwatch as Instant;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

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
    /// The databases its FLUSHDB / FLUSHALL emptied (one shard only), kept until it
    /// returns so that WATCH sees what they held (`flush`).
    flushed: Vec<Flushed>,
}

/// One FLUSHDB or FLUSHALL a script ran: the old databases and how to free them.
struct Flushed {
    all: bool,
    lazy: bool,
    dbs: Vec<(u16, crate::storage::Db)>,
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
    // As the FLUSHDB / FLUSHALL commands' own hop does (`server::flushdb`).
    for f in after.flushed {
        let now = st.now_ms;
        for (db, old) in &f.dbs {
            st.watch.touch_db_where(*db, |k| super::server::flushed_change(old, k, now));
        }
        super::tracking::on_flush(st, f.all);
        for (db, old) in f.dbs {
            crate::shard::lazyfree::free_db(old, f.lazy);
            st.blocked.touched_db(db);
        }
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
    allow_oom: bool,
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
        // Redis's `scriptVerifyOOM`: past `maxmemory` when it starts, a script not
        // flagged `allow-oom` may not begin writing with a `denyoom` command.
        let oom_guard = !allow_oom && crate::shard::evict::over_limit(c.shared, c.config);
        let lent = Lent::new(&host, c);
        lent.host.borrow_mut().begin(read_only, keys, slot, caller, wants_all, reads, oom_guard);
        // The reply goes straight to the client's output: a run writes it only once it
        // succeeded, so a failed one leaves nothing behind.
        let res = eng.run(func, name, keys, argv, as_function, &mut lent.c.out);
        let mut h = lent.host.borrow_mut();
        (res, std::mem::take(&mut h.effects), h.reads.take())
    };
    eng.watch.end();
    let res = match res {
        Ok(errs) => {
            // The error replies the script returned (an `error_reply`), counted as
            // Redis's reply writer counts them.
            for e in errs {
                c.stats.count_error(&e);
            }
            Ok(())
        }
        Err(f) if f.counted => Err(CmdError::Counted(f.msg)),
        Err(f) => Err(CmdError::Msg(f.msg)),
    };
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
    res
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
    /// Memory was over the limit when the command began and the script is not
    /// `allow-oom`: its `denyoom` commands are refused until it has written
    /// (`scriptVerifyOOM`); cleared by its first write command.
    oom_guard: bool,
    /// The run has called a write command (Redis's `SCRIPT_WRITE_DIRTY`): past it, no
    /// server state (too few replicas) may fail the script half way.
    wrote: bool,
    /// How far the current `redis.call` got, for its command stats.
    stage: CallStage,
}

/// How far a script's `redis.call` got: still checked (an error is a refusal,
/// `rejected_calls`), running a connection-level command here (a call, counted by
/// `call`), or past the point where the command counts its own stats.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CallStage {
    Checking,
    Conn,
    Counted,
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
            oom_guard: false,
            wrote: false,
            stage: CallStage::Checking,
        }
    }

    /// The run's own settings (the lent parts are in already).
    #[allow(clippy::too_many_arguments)]
    fn begin(
        &mut self,
        read_only: bool,
        keys: &[&[u8]],
        slot: usize,
        caller: Option<(crate::acl::SessionAcl, String)>,
        wants_all: bool,
        reads: Option<(u16, bool)>,
        oom_guard: bool,
    ) {
        self.read_only = read_only;
        self.oom_guard = oom_guard;
        self.wrote = false;
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
        self.stage = CallStage::Checking;
        let res = self.call_checked(owned, resp3, propagate, out);
        if let Err(e) = &res {
            // A refused call is counted here, where it arose, as Redis's `scriptCall`
            // does (the script's error reply then does not count it again).
            self.stats.count_error(e);
        }
        // Command stats, as Redis's: a refused call is a rejected one; a connection-level
        // command run here (SELECT ...) a call, failed or not. A keyed command and
        // PUBLISH/FLUSH count their own.
        let stage = self.stage;
        if matches!(stage, CallStage::Checking | CallStage::Conn)
            && let Some(idx) = TABLE.lookup(owned.get(0))
            && let Some(s) =
                super::cmdtime::stat_of(&mut self.stats, super::cmdtime::stat_slot(idx, &Args::Owned(owned)))
        {
            match (stage, res.is_err()) {
                (CallStage::Checking, true) => s.rejected_calls += 1,
                (CallStage::Conn, failed) => {
                    s.calls += 1;
                    s.failed_calls += u64::from(failed);
                }
                _ => {}
            }
        }
        res
    }
}

impl ScriptHost {
    fn call_checked(
        &mut self,
        owned: &OwnedArgs,
        resp3: bool,
        propagate: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
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
        // DEBUG SET-DISABLE-DENY-SCRIPTS lifts the `noscript` refusal, as in Redis, but
        // never for a script command: a script inside a script would re-enter this
        // thread's Lua state (Redis asserts and exits on it).
        if spec.flags & flag::NOSCRIPT != 0
            && (!self.shared.script.noscript_allowed.load(std::sync::atomic::Ordering::Relaxed)
                || super::script::is_script(idx))
        {
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
        // As Redis: may-replicate commands (PUBLISH, PFCOUNT) count as writes here, so
        // that a read-only script may run during CLIENT PAUSE WRITE.
        if self.read_only && spec.flags & (flag::WRITE | flag::MAY_REPLICATE) != 0 {
            return Err("ERR Write commands are not allowed from read-only scripts.".into());
        }
        if spec.is_write() && !self.wrote {
            // Redis's `scriptVerifyWriteCommandAllow`: a script without flags (one
            // with flags was refused before it ran) may not begin writing with too few
            // good replicas.
            if crate::repl::master::too_few_replicas_for(
                &self.shared,
                crate::shard::state::min_replicas_of(&self.config),
            ) {
                return Err(crate::repl::master::NOREPLICAS.into());
            }
            self.wrote = true;
        }
        if self.oom_guard {
            if spec.flags & flag::DENYOOM != 0 {
                return Err(crate::shard::evict::OOM.into());
            }
            // Once the script wrote it cannot be stopped half way (Redis's
            // `SCRIPT_WRITE_DIRTY`).
            self.oom_guard = !spec.is_write();
        }
        let proto = if resp3 { Proto::Resp3 } else { Proto::Resp2 };
        let db = self.db as u16;
        if matches!(spec.handler, Handler::Conn(_)) && spec.flags & flag::NOSCRIPT == 0 {
            self.stage = if matches!(spec.name, "flushdb" | "flushall" | "publish" | "spublish") {
                CallStage::Counted
            } else {
                CallStage::Conn
            };
        }
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
            Handler::Conn(_) if matches!(spec.name, "flushdb" | "flushall") && self.shared.nshards == 1 => {
                self.flush(idx, owned, propagate, ReplyWriter::new(out, proto))?;
                return Ok(());
            }
            Handler::Conn(_) if matches!(spec.name, "publish" | "spublish") => {
                self.publish(idx, owned, propagate, ReplyWriter::new(out, proto));
                return Ok(());
            }
            Handler::Conn(_) if spec.name == "debug" && args.len() == 3 && args.is(1, "protocol") => {
                super::script_debug::debug_protocol(args.get(2), ReplyWriter::new(out, proto));
                self.monitor(db, owned);
                return Ok(());
            }
            Handler::Conn(_) if spec.name == "debug" && args.len() == 3 && args.is(1, "sleep") => {
                // The script's clock stays where it started, as Redis's does.
                super::debug::sleep_thread(args.get(2));
                ReplyWriter::new(out, proto).ok();
                self.monitor(db, owned);
                return Ok(());
            }
            Handler::Conn(_) if spec.flags & flag::NOSCRIPT != 0 => {
                // Let through by DEBUG SET-DISABLE-DENY-SCRIPTS, but these need the
                // calling connection's session, which a script does not hold here.
                return Err(format!(
                    "ERR {} is not supported inside scripts by shardis: it needs the calling connection",
                    spec.name.to_ascii_uppercase()
                ));
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
                            return Err(super::script::NON_LOCAL_IN_MULTI.into());
                        }
                        return Err("ERR Script attempted to access a non local key in a cluster node".into());
                    }
                }
            }
        }
        self.stage = CallStage::Counted;
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
            unchanged_keys: Vec::new(),
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
            // Blocking commands never block inside a script: their no-wait reply.
            super::blocking::no_wait_reply(ictx.out.buf, proto, req.no_wait_reply);
        }
        if let Some((_, read)) = &mut self.reads
            && spec.flags & flag::READONLY != 0
        {
            *read = true;
        }
        let dirty = ictx.dirty;
        let changed = super::dispatch::KeysChanged {
            unchanged: ictx.unchanged_key,
            only: ictx.only_changed_key,
            unchanged_more: std::mem::take(&mut ictx.unchanged_keys),
        };
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

    /// FLUSHDB / FLUSHALL with one shard, where the lent databases are the whole
    /// keyspace: emptied now, logged in the script's effects as the command's own hop
    /// logs it (`persist::prop::flush_part`, FLUSHDB / FLUSHALL with ASYNC when lazy);
    /// WATCH, tracking and blocked clients hear of it when the script returns (`settle`).
    fn flush(&mut self, idx: u16, owned: &OwnedArgs, propagate: bool, mut w: ReplyWriter) -> Result<(), String> {
        let start = Instant::now();
        let args = Args::Owned(owned);
        let lazy = match args.len() {
            1 => self.config.lazyfree_lazy_user_flush,
            2 if args.is(1, "async") => true,
            2 if args.is(1, "sync") => false,
            _ => return Err("ERR syntax error".into()),
        };
        let db = self.db as u16;
        self.monitor(db, owned);
        let all = TABLE.get(idx).name == "flushall";
        let targets = if all { 0..self.dbs.len() } else { self.db..self.db + 1 };
        let mut removed = 0;
        let mut dbs = Vec::with_capacity(targets.len());
        for d in targets {
            removed += self.dbs[d].len() as u64;
            dbs.push((d as u16, std::mem::take(&mut self.dbs[d])));
        }
        after_run(|a| a.flushed.push(Flushed { all, lazy, dbs }));
        // Redis counts one more change for FLUSHALL, as the command's hop does.
        self.dirty += removed + u64::from(all);
        self.shared.script.note_write(self.slot);
        if propagate && !log_off() {
            let name: &[u8] = if all { b"FLUSHALL" } else { b"FLUSHDB" };
            let logged: &[&[u8]] = if lazy { &[name, b"ASYNC"] } else { &[name] };
            self.effects.push((db, OwnedArgs::from_slices(logged.iter().copied()), false));
        }
        w.ok();
        if let Some(s) = super::cmdtime::stat_of(&mut self.stats, super::cmdtime::stat_slot(idx, &args)) {
            s.calls += 1;
            s.usec += start.elapsed().as_micros() as u64;
        }
        self.stats.total_commands += 1;
        Ok(())
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
        // Redis 7.0 runs these from scripts; with several shards they write every
        // shard's keyspace, which a script (running on its keys' shard) does not hold:
        // refused by name (README, "Not supported yet", Scripting limits). With one
        // shard FLUSHDB and FLUSHALL are the host's (`ScriptHost::flush`); the reads
        // among them are `script_keyspace`'s.
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
