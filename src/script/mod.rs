//! Lua scripting: the engine behind EVAL, EVALSHA, FCALL and FUNCTION.
//!
//! Job: one pre-built Lua 5.1 state per shard thread for EVAL (`with_engine`) and
//! one for functions (`with_function_engine`, as Redis keeps two), each with Redis's
//! sandbox (read-only globals, no `os`/`io`/`loadfile`, Redis's `math.random`,
//! `cjson`, `bit`, `cmsgpack`, `struct`), the `redis` API, and the conversions between Lua values and
//! RESP2/RESP3 replies exactly as Redis 7.0 does them. Scripts are compiled once per
//! thread and kept by SHA-1; the bodies live in the server-wide `ScriptShared`, so a
//! script loaded through one shard runs on any.
//!
//! Non-goals: what a command is and where it runs. The engine asks its `Host` to run
//! each `redis.call` (`cmd::script` runs it through the command table, on the keys in
//! reach) and gets raw RESP back.
//!
//! Depends on: `resp` (reply writer), `util`; `mlua` with vendored Lua 5.1.

mod acl_check;
pub mod cjson;
pub mod convert;
pub mod func;
mod func_engine;
pub mod libs;
pub mod msgpack;
mod sandbox;
pub mod structlib;
mod tailcall;
use crate::util::sha1;
pub mod shared;

pub use func_engine::{thread_used_memory as thread_functions_memory, with_function_engine};
pub use shared::ScriptShared;

/// The prelude's `raw` table, kept in the registry for the functions engine's load.
const RAW: &str = "shardis.raw";

/// How many values a library function may hand back at once. Each Lua string or table
/// held on the Rust side takes a slot of mlua's reference stack, which Lua 5.1 caps at
/// 8000 for everything held at that moment, and running out panics (and a panic stops
/// the server). Redis's own cap comes from the Lua stack at about the same size, 7999
/// values, so a script near it gets the same error a little earlier here.
pub const MAX_RESULTS: usize = 7000;

use crate::resp::ReplyWriter;
use crate::shard::OwnedArgs;
use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
// The watchdog's clock: a TSC read where it is usable (the run's start is taken on
// every EVALSHA, and is only compared with the busy threshold, in ms).
use crate::util::stopwatch::Stopwatch as Instant;

/// What a script may ask of the server. The host is 'static and installed once per
/// thread (`Engine::set_host`): the command layer moves what a run needs into it for
/// the run and back out after, so `redis.call` is made once per Lua state instead of
/// once per run (a scoped function costs its creation and its invalidation each time).
pub trait Host {
    /// Runs `args` as a command from the script; the reply as raw RESP (RESP3 when
    /// `resp3`), or the script-level refusal ("ERR Unknown Redis command called from
    /// script" ...). `propagate` is false after `redis.set_repl(redis.REPL_NONE)`.
    /// The reply goes to `reply` (empty on entry).
    fn call(&mut self, args: &OwnedArgs, resp3: bool, propagate: bool, reply: &mut Vec<u8>) -> Result<(), String>;

    /// `redis.acl_check_cmd`: may the script's user run `args`? Err: Redis's error
    /// reply for an unknown command (`acl_check.rs`).
    fn acl_check(&mut self, args: &OwnedArgs) -> Result<bool, String>;
}

/// Redis's C libraries (`struct`, `cmsgpack`) raise errors with `luaL_error`, which
/// puts the calling Lua line first (`user_script:1: ...`): ours do the same. A
/// `bad argument` names the function as the call site does (`luaL_argerror`): `'?'`
/// when nothing names it, as under `pcall(struct.pack, ...)`, where no line comes
/// first either.
pub fn at_caller(lua: &Lua, e: mlua::Error) -> mlua::Error {
    let mlua::Error::RuntimeError(msg) = &e else { return e };
    let mut msg = msg.clone();
    if let Some(rest) = msg.strip_prefix("bad argument #")
        && let Some(open) = rest.find(" to '")
        && let Some(close) = rest[open + 5..].find('\'')
    {
        let called = lua.inspect_stack(0).and_then(|d| d.names().name.map(|n| n.into_owned()));
        let name = called.unwrap_or_else(|| "?".to_string());
        let start = "bad argument #".len() + open + 5;
        msg.replace_range(start..start + close, &name);
    }
    let Some(d) = lua.inspect_stack(1) else { return mlua::Error::RuntimeError(msg) };
    let line = d.curr_line();
    let src = d.source();
    match src.short_src.as_deref() {
        Some(short) if line > 0 => mlua::Error::RuntimeError(format!("{short}:{line}: {msg}")),
        _ => mlua::Error::RuntimeError(msg),
    }
}

/// Argument `i` (0-based) of a library function as `luaL_checklstring` takes it: a
/// string or a number, else Redis's `bad argument` text (raised through `at_caller`).
pub fn check_string(lua: &Lua, args: &MultiValue, i: usize, func: &str) -> mlua::Result<mlua::String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            lua.coerce_string(v.clone())?.ok_or_else(|| mlua::Error::runtime("string expected"))
        }
        other => {
            let got = other.map_or("no value", |v| v.type_name());
            Err(at_caller(
                lua,
                mlua::Error::RuntimeError(format!("bad argument #{} to '{func}' (string expected, got {got})", i + 1)),
            ))
        }
    }
}

/// Argument `i` (0-based) of a library function as `luaL_checknumber` takes it: a
/// number or a string Lua reads as one, else Redis's `bad argument` text.
pub fn check_number(lua: &Lua, args: &MultiValue, i: usize) -> mlua::Result<f64> {
    let v = args.get(i);
    if let Some(v @ (Value::Integer(_) | Value::Number(_) | Value::String(_))) = v
        && let Some(n) = lua.coerce_number(v.clone())?
    {
        return Ok(n);
    }
    let got = v.map_or("no value", |v| v.type_name());
    Err(at_caller(
        lua,
        mlua::Error::RuntimeError(format!("bad argument #{} to '?' (number expected, got {got})", i + 1)),
    ))
}

/// How a run ended badly: the error reply to send.
pub type ScriptError = String;

/// A run that failed: its error reply, and whether the error stats counted it already
/// (a `redis.call`'s error, raised through the script: Redis's
/// `ignore_error_stats_update`).
#[derive(Debug)]
pub struct RunFailure {
    pub msg: ScriptError,
    pub counted: bool,
}

impl RunFailure {
    fn new(msg: ScriptError) -> RunFailure {
        RunFailure { msg, counted: false }
    }
}

/// The message a killed script ends with (SCRIPT KILL, FUNCTION KILL).
pub const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// Per-run state the `redis` API changes (`setresp`, `set_repl`).
#[derive(Default)]
struct RunState {
    resp3: Cell<bool>,
    repl: Cell<u8>,
}

/// A thread's Lua state and its compiled scripts.
pub struct Engine {
    pub lua: Lua,
    /// The protected environment user chunks see (`_G` to them): empty, reads fall
    /// through to the real globals, every assignment fails (prelude.lua).
    env: Table,
    run_fn: Function,
    /// `raw.exec`: one script run (see prelude.lua).
    exec_fn: Function,
    /// `redis.call`, made once (`make_call`): it reaches the server through `host`.
    call_fn: Function,
    /// The host `redis.call` runs commands through (`set_host`).
    host: HostSlot,
    /// EVAL scripts compiled on this thread, by SHA-1, with their shebang flags. A
    /// run takes the function by `Rc` (no Lua reference made and dropped per call) and
    /// the key is already a hash, so a fast hasher does.
    scripts: RefCell<HashMap<String, (Rc<Function>, u8), foldhash::fast::RandomState>>,
    /// The `ScriptShared::flush_epoch` this thread's cache reflects.
    seen_flush: Cell<u64>,
    /// Functions (FCALL) built on this thread, and the `functions_epoch` they reflect.
    funcs: RefCell<HashMap<String, Function>>,
    funcs_epoch: Cell<u64>,
    state: Rc<RunState>,
    /// The running script's watchdog, polled by the instruction hook.
    pub watch: Rc<Watch>,
}

/// Checked every few thousand instructions: kill requests, shutdown, and the busy
/// threshold (after which the shard is marked busy for other clients).
#[derive(Default)]
pub struct Watch {
    started: Cell<Option<Instant>>,
    shared: RefCell<Option<std::sync::Arc<ScriptShared>>>,
    slot: Cell<usize>,
    busy_ms: Cell<u64>,
    marked_busy: Cell<bool>,
    function: Cell<bool>,
    /// While FUNCTION LOAD runs a library's top-level code: when it must stop.
    pub load_deadline: Cell<Option<std::time::Instant>>,
}

thread_local! {
    /// The FCALL this thread is about to run or runs (function name, the caller's
    /// words), kept for FUNCTION STATS should it get busy (`note_function_call`).
    static FCALL: RefCell<(String, Vec<Vec<u8>>)> = const { RefCell::new((String::new(), Vec::new())) };
}

/// Notes the FCALL about to run on this thread (its buffers reused from call to call),
/// which FUNCTION STATS reports if it runs past `busy-reply-threshold`.
pub fn note_function_call<'a>(name: &str, words: impl Iterator<Item = &'a [u8]>) {
    FCALL.with(|f| {
        let mut f = f.borrow_mut();
        let (n, w) = &mut *f;
        n.clear();
        n.push_str(name);
        let mut i = 0;
        for word in words {
            if i == w.len() {
                w.push(Vec::new());
            }
            w[i].clear();
            w[i].extend_from_slice(word);
            i += 1;
        }
        w.truncate(i);
    });
}

impl Engine {
    pub fn new() -> mlua::Result<Engine> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH;
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        // Each run leaves a little garbage (its KEYS/ARGV tables, the key strings).
        // Lua's default pause (a cycle once the heap doubles), as Redis runs it: on
        // the AMD EPYC a pause of 400 (fewer cycles over a heap twice the size, ~150
        // KB against ~75 KB) cost 3-5% more CPU per EVALSHA than the smaller heap's
        // extra marking (perf/RESULTS.md, lua13).
        lua.gc_set_pause(200);
        let real = lua.globals();
        let raw = lua.create_table()?;
        let state = Rc::new(RunState::default());
        raw.raw_set(
            "sha1hex",
            lua.create_function(|lua, args: MultiValue| {
                if args.len() != 1 {
                    return Err(mlua::Error::external(CallError("ERR wrong number of arguments".into(), false)));
                }
                let s = lua.coerce_string(args[0].clone())?.map(|s| sha1::hex(&s.as_bytes()));
                Ok(s.unwrap_or_else(|| sha1::hex(b"")))
            })?,
        )?;
        let st = state.clone();
        raw.raw_set(
            "setresp",
            lua.create_function(move |_, v: u8| {
                st.resp3.set(v == 3);
                Ok(())
            })?,
        )?;
        let st = state.clone();
        raw.raw_set(
            "set_repl",
            lua.create_function(move |_, v: u8| {
                st.repl.set(v);
                Ok(())
            })?,
        )?;
        raw.raw_set(
            "log",
            lua.create_function(|_, (level, msg): (u8, mlua::String)| {
                use crate::util::log::{Level, log};
                let level = match level {
                    0 => Level::Debug,
                    1 => Level::Verbose,
                    2 => Level::Notice,
                    _ => Level::Warning,
                };
                log(level, &String::from_utf8_lossy(&msg.as_bytes()));
                Ok(())
            })?,
        )?;
        // The error handler's position: the innermost frame that is the user's code.
        raw.raw_set(
            "where",
            lua.create_function(|lua, ()| {
                for level in 1..64 {
                    let Some(d) = lua.inspect_stack(level) else { break };
                    let src = d.source();
                    // A tail call's frame is gone: Lua leaves a "(tail call)" mark.
                    if src.what == "C" || src.what == "tail" {
                        continue;
                    }
                    let name = src.source.as_deref().unwrap_or("");
                    if name == "=shardis" {
                        continue;
                    }
                    let short = src.short_src.as_deref().map(str::to_string);
                    let name = name.to_string();
                    return Ok((Some(name), Some(d.curr_line()), short));
                }
                Ok((None, None, None))
            })?,
        )?;
        raw.raw_set("errtext", lua.create_function(|_, e: Value| Ok(error_text(&e)))?)?;
        raw.raw_set("errcounted", lua.create_function(|_, e: Value| Ok(counted_already(&e)))?)?;
        // What Lua's pcall returns for an error raised in Rust: the text as Lua code
        // would have raised it (no `ERR ` added; a failed redis.call keeps its reply).
        raw.raw_set("errmsg", lua.create_function(|_, e: Value| Ok(error_message(&e)))?)?;
        // pcall must not swallow a kill (SCRIPT KILL, SHUTDOWN NOSAVE): Redis's hook
        // raises again on every line, ours every 10k instructions, so the wrapper asks.
        let watch = Rc::new(Watch::default());
        let w = watch.clone();
        raw.raw_set("stopping", lua.create_function(move |_, ()| Ok(w.stop_requested()))?)?;
        real.raw_set("cjson", cjson::cjson_table(&lua)?)?;
        real.raw_set("bit", libs::bit_table(&lua)?)?;
        real.raw_set("cmsgpack", msgpack::cmsgpack_table(&lua)?)?;
        real.raw_set("struct", structlib::struct_table(&lua)?)?;
        let math: Table = real.raw_get("math")?;
        libs::install_random(&lua, &math)?;
        // The prelude builds the `redis` table and the read-only sandbox over every
        // library (so they must all be in place first), and hands back the real
        // `redis` table and the protected environment.
        lua.load(include_str!("prelude.lua")).set_name("=shardis").call::<()>((raw.clone(), real.clone()))?;
        tailcall::install_wrapper_caller(&lua, &raw)?;
        lua.set_named_registry_value(RAW, &raw)?;
        let run_fn: Function = raw.raw_get("run")?;
        let exec_fn: Function = raw.raw_get("exec")?;
        let redis: Table = raw.raw_get("redis")?;
        let env: Table = raw.raw_get("env")?;
        sandbox::install(&lua, &real, &raw)?;
        for name in ["print", "getfenv", "setfenv", "dofile", "loadfile", "require", "newproxy", "module"] {
            real.raw_set(name, Value::Nil)?;
        }
        let scratch = Rc::new(RefCell::new((OwnedArgs::default(), Vec::new())));
        let host: HostSlot = Rc::new(RefCell::new(None));
        let call_fn = make_call(&lua, state.clone(), scratch, host.clone())?;
        acl_check::install(&lua, &redis, host.clone())?;
        let w = watch.clone();
        lua.set_hook(mlua::HookTriggers::new().every_nth_instruction(10_000), move |_, _| w.check());
        Ok(Engine {
            lua,
            env,
            run_fn,
            exec_fn,
            call_fn,
            host,
            scripts: RefCell::new(HashMap::default()),
            seen_flush: Cell::new(0),
            funcs: RefCell::new(HashMap::new()),
            funcs_epoch: Cell::new(u64::MAX),
            state,
            watch,
        })
    }

    /// The protected environment, for function libraries too.
    pub fn env(&self) -> &Table {
        &self.env
    }

    /// Compiles `body` as chunk `@user_script` (a `#!` first line becomes a comment,
    /// so line numbers stay the body's).
    pub fn compile(&self, body: &[u8], name: &str) -> Result<Function, String> {
        let src: std::borrow::Cow<[u8]> = if body.starts_with(b"#!") {
            let mut v = b"--".to_vec();
            v.extend_from_slice(&body[2..]);
            v.into()
        } else {
            body.into()
        };
        self.lua
            .load(&*src)
            .set_name(name)
            .set_environment(self.env.clone())
            .into_function()
            .map(|f| tailcall::keep_frames(&self.lua, f, &self.env))
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }

    /// The compiled EVAL script `sha`, compiling `body` on first use on this thread.
    pub fn script(&self, sha: &str, body: &[u8]) -> Result<Rc<Function>, ScriptError> {
        if let Some((f, _)) = self.scripts.borrow().get(sha) {
            return Ok(f.clone());
        }
        let f = self
            .compile(body, "@user_script")
            .map_err(|m| format!("ERR Error compiling script (new function): {m}"))?;
        let f = Rc::new(f);
        self.scripts.borrow_mut().insert(sha.to_string(), (f.clone(), 0));
        Ok(f)
    }

    /// The compiled script `sha` and its flags, if this thread has it.
    pub fn cached(&self, sha: &str) -> Option<(Rc<Function>, u8)> {
        self.scripts.borrow().get(sha).cloned()
    }

    /// Records the shebang flags (a bit set the caller defines) of a compiled script.
    pub fn set_flags(&self, sha: &str, flags: u8) {
        if let Some(e) = self.scripts.borrow_mut().get_mut(sha) {
            e.1 = flags;
        }
    }

    /// Drops this thread's compiled scripts if SCRIPT FLUSH ran since it last looked.
    pub fn sync_flush(&self, shared: &ScriptShared) {
        let epoch = shared.flush_epoch.load(std::sync::atomic::Ordering::Relaxed);
        if epoch != self.seen_flush.get() {
            self.seen_flush.set(epoch);
            self.scripts.borrow_mut().clear();
            let _ = self.lua.gc_collect();
        }
    }

    pub fn cached_scripts(&self) -> usize {
        self.scripts.borrow().len()
    }

    /// Installs this thread's host: every `redis.call` from now on runs through it.
    /// The command layer installs one per thread, before its first run.
    pub fn set_host(&self, host: Rc<RefCell<dyn Host>>) {
        *self.host.borrow_mut() = Some(host);
    }

    pub fn has_host(&self) -> bool {
        self.host.borrow().is_some()
    }

    /// Runs `f` (an EVAL script, with `KEYS`/`ARGV` set, or a function with
    /// `(keys, args)`), letting it call the server through the installed host
    /// (`set_host`), and writes its result to `out`. On error, the error reply's text,
    /// with the script's name and line as Redis formats them.
    ///
    /// The hot path of EVALSHA: two tables built in one step each, one entry into Lua
    /// (`raw.exec`) with the state's one `redis.call` (made once, with the engine), and
    /// per `redis.call` the arguments gathered into one reused buffer and the reply
    /// parsed straight into a Lua value.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        f: &Function,
        name: &str,
        keys: &[&[u8]],
        argv: &[&[u8]],
        as_function: bool,
        out: &mut ReplyWriter,
    ) -> Result<Vec<String>, RunFailure> {
        self.state.resp3.set(false);
        self.state.repl.set(3);
        let (kt, at) = match (self.sequence(keys), self.sequence(argv)) {
            (Ok(k), Ok(a)) => (k, a),
            _ => return Err(RunFailure::new("ERR Out of memory building the script's arguments".into())),
        };
        let res: mlua::Result<(bool, Value)> = self.exec_fn.call((&self.call_fn, f, as_function, &kt, &at));
        match res {
            Ok((true, v)) => {
                let mut errs = Vec::new();
                convert::lua_to_reply(&v, out, self.state.resp3.get(), 0, &mut errs);
                Ok(errs)
            }
            Ok((false, v)) => Err(RunFailure {
                counted: matches!(&v, Value::Table(t) if convert::counted_already(t)),
                msg: convert::error_from_table(&v, name),
            }),
            Err(e) => Err(RunFailure::new(format!("ERR {}", error_text(&Value::Error(Box::new(e)))))),
        }
    }

    /// A Lua sequence of `items`, built in one step: UTF-8 items are pushed as they
    /// are (a few, the usual case, validated once into a stack array), others become
    /// Lua strings first.
    fn sequence(&self, items: &[&[u8]]) -> mlua::Result<Table> {
        const FEW: usize = 8;
        let lua = &self.lua;
        if items.len() <= FEW {
            let mut texts: [&str; FEW] = [""; FEW];
            let valid = items.iter().zip(texts.iter_mut()).all(|(b, t)| match std::str::from_utf8(b) {
                Ok(s) => {
                    *t = s;
                    true
                }
                Err(_) => false,
            });
            if valid {
                return lua.create_sequence_from(texts[..items.len()].iter().copied());
            }
        } else if items.iter().all(|b| std::str::from_utf8(b).is_ok()) {
            return lua.create_sequence_from(items.iter().map(|b| std::str::from_utf8(b).unwrap_or_default()));
        }
        let mut strings = Vec::with_capacity(items.len());
        for b in items {
            strings.push(lua.create_string(b)?);
        }
        lua.create_sequence_from(strings)
    }

    /// Bytes the Lua state holds.
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }
}

impl Watch {
    /// A script starts on this thread (`slot`, see `thread_slot`).
    pub fn begin(&self, shared: &std::sync::Arc<ScriptShared>, slot: usize, busy_ms: u64, function: bool) {
        shared.begin(slot, function);
        {
            // Kept from run to run (no reference count traffic) unless it changed.
            let mut mine = self.shared.borrow_mut();
            if !mine.as_ref().is_some_and(|m| std::sync::Arc::ptr_eq(m, shared)) {
                *mine = Some(shared.clone());
            }
        }
        self.slot.set(slot);
        self.busy_ms.set(busy_ms);
        self.marked_busy.set(false);
        self.function.set(function);
        self.started.set(Some(Instant::now()));
    }

    pub fn end(&self) {
        if self.started.get().is_some()
            && let Some(sh) = self.shared.borrow().as_ref()
        {
            sh.end(self.slot.get());
        }
        self.started.set(None);
        if self.marked_busy.replace(false)
            && let Some((_, end)) = BUSY_HOOKS.with(|h| h.get())
        {
            end();
        }
    }

    /// Was the running script asked to stop (it ran past the threshold and got SCRIPT
    /// KILL / FUNCTION KILL, or SHUTDOWN NOSAVE)?
    fn stop_requested(&self) -> bool {
        self.marked_busy.get()
            && self.shared.borrow().as_ref().is_some_and(|sh| {
                sh.kill_requested(self.slot.get()) || sh.shutdown.load(std::sync::atomic::Ordering::Acquire)
            })
    }

    /// The instruction hook: stop the script when asked to, mark the shard busy once
    /// it ran past `busy-reply-threshold`.
    fn check(&self) -> mlua::Result<mlua::VmState> {
        let Some(start) = self.started.get() else {
            // Sticky too: a library that catches it with pcall gets it again.
            if self.load_deadline.get().is_some_and(|d| std::time::Instant::now() > d) {
                return Err(mlua::Error::external(CallError("ERR FUNCTION LOAD timeout".into(), false)));
            }
            return Ok(mlua::VmState::Continue);
        };
        if let Some(sh) = self.shared.borrow().as_ref() {
            if !self.marked_busy.get() && start.elapsed().as_millis() as u64 >= self.busy_ms.get() {
                self.marked_busy.set(true);
                if self.function.get() {
                    let (name, command) = FCALL.with(|f| f.borrow().clone());
                    let started = std::time::Instant::now() - start.elapsed();
                    sh.note_running(self.slot.get(), shared::RunningFunction { name, command, started });
                }
                sh.mark_busy(self.slot.get());
            }
            if self.marked_busy.get() {
                // This thread's own clients wait, except for the busy door (`set_busy_hooks`).
                if let Some((poll, _)) = BUSY_HOOKS.with(|h| h.get()) {
                    poll();
                }
                // Sticky: a script that catches the error with pcall gets it again.
                if sh.kill_requested(self.slot.get()) {
                    return Err(mlua::Error::runtime(KILLED));
                }
                if sh.shutdown.load(std::sync::atomic::Ordering::Acquire) {
                    return Err(mlua::Error::runtime("ERR Script stopped by SHUTDOWN NOSAVE"));
                }
            }
        }
        Ok(mlua::VmState::Continue)
    }
}

/// Where `redis.call` finds its host.
type HostSlot = Rc<RefCell<Option<Rc<RefCell<dyn Host>>>>>;

/// The words of a `redis.call`/`pcall`/`acl_check_cmd` as Redis takes them from Lua:
/// strings as they are, integers and floats (`%.17g`) as their text, anything else
/// an error; at least one word.
#[inline]
pub(super) fn command_args(cmd: &mut OwnedArgs, args: &MultiValue) -> mlua::Result<()> {
    cmd.data.clear();
    cmd.ends.clear();
    for v in args.iter() {
        match v {
            Value::String(s) => cmd.data.extend_from_slice(&s.as_bytes()),
            Value::Integer(i) => cmd.data.extend_from_slice(i.to_string().as_bytes()),
            Value::Number(n) => cmd.data.extend_from_slice(libs::fmt_g(*n, 17).as_bytes()),
            _ => return Err(call_error("ERR Lua redis lib command arguments must be strings or integers")),
        }
        cmd.ends.push(cmd.data.len() as u32);
    }
    if cmd.is_empty() {
        return Err(call_error("ERR Please specify at least one argument for this redis lib call"));
    }
    Ok(())
}

/// `redis.call`: a C function (not a Lua wrapper), so `return redis.call(..)` keeps the
/// script's frame and its line for the error message. It raises the command's error;
/// redis.pcall (prelude.lua) catches it. `scratch` holds the arguments and the reply,
/// reused from call to call.
fn make_call(
    lua: &Lua,
    state: Rc<RunState>,
    scratch: Rc<RefCell<(OwnedArgs, Vec<u8>)>>,
    host: HostSlot,
) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: MultiValue| -> mlua::Result<Value> {
        let mut scratch = scratch.borrow_mut();
        let (cmd, reply) = &mut *scratch;
        command_args(cmd, &args)?;
        let resp3 = state.resp3.get();
        reply.clear();
        let slot = host.borrow();
        let Some(host) = slot.as_ref() else { return Err(call_error("ERR redis.call is not available here")) };
        // The call's refusals and the command's errors are counted where they arose
        // (Redis's `ignore_error_stats_update`).
        if let Err(msg) = host.borrow_mut().call(cmd, resp3, state.repl.get() != 0, reply) {
            return Err(counted_call_error(&msg));
        }
        drop(slot);
        if reply.first() == Some(&b'-') {
            let end = reply.iter().position(|&b| b == b'\r').unwrap_or(reply.len());
            return Err(counted_call_error(&String::from_utf8_lossy(&reply[1..end])));
        }
        let (v, is_err) = convert::reply_to_lua(lua, reply, resp3)?;
        if !is_err {
            return Ok(v);
        }
        let msg = match &v {
            Value::Table(t) => t.raw_get::<Option<String>>("err").ok().flatten().unwrap_or_default(),
            _ => String::new(),
        };
        Err(counted_call_error(&msg))
    })
}

fn call_error(msg: &str) -> mlua::Error {
    mlua::Error::external(CallError(msg.to_string(), false))
}

fn counted_call_error(msg: &str) -> mlua::Error {
    mlua::Error::external(CallError(msg.to_string(), true))
}

/// The error `redis.call` raises for a failed command: its error reply, verbatim, and
/// whether the error stats counted it already (the command's error, the call's
/// refusal), so that the script's error reply does not count it again.
#[derive(Debug)]
struct CallError(String, bool);

/// Was `v` raised by a `redis.call` whose error the stats counted already?
fn counted_already(v: &Value) -> bool {
    fn of(e: &mlua::Error) -> bool {
        match e {
            mlua::Error::CallbackError { cause, .. } => of(cause),
            mlua::Error::ExternalError(x) => x.downcast_ref::<CallError>().is_some_and(|c| c.1),
            _ => false,
        }
    }
    matches!(v, Value::Error(e) if of(e))
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// `error_text` without the `ERR` prefix, as pcall hands it to the script.
fn error_message(v: &Value) -> String {
    let t = error_text(v);
    match v {
        Value::Error(e) if !is_call_error(e) => match t.strip_prefix("ERR ") {
            Some(rest) if !raw_text(e).starts_with("ERR ") => rest.to_string(),
            _ => t,
        },
        _ => t,
    }
}

fn is_call_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::CallbackError { cause, .. } => is_call_error(cause),
        mlua::Error::ExternalError(x) => x.downcast_ref::<CallError>().is_some(),
        _ => false,
    }
}

/// The innermost runtime message of `e`, as raised.
fn raw_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => raw_text(cause),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The clean text of an error raised from Rust (a callback's or the hook's), with
/// Redis's `ERR` prefix where it has none.
fn error_text(v: &Value) -> String {
    fn root(e: &mlua::Error) -> String {
        match e {
            mlua::Error::CallbackError { cause, .. } => root(cause),
            mlua::Error::RuntimeError(m) => m.clone(),
            mlua::Error::ExternalError(x) => match x.downcast_ref::<CallError>() {
                Some(c) => c.0.clone(),
                None => x.to_string(),
            },
            mlua::Error::MemoryError(m) => m.clone(),
            mlua::Error::SyntaxError { message, .. } => message.clone(),
            mlua::Error::BadArgument { pos, name, cause, .. } => {
                format!("bad argument #{pos} to '{}' ({})", name.as_deref().unwrap_or("?"), root(cause))
            }
            mlua::Error::FromLuaConversionError { from, to, .. } => format!("{to} expected, got {from}"),
            other => other.to_string(),
        }
    }
    let msg = match v {
        Value::Error(e) => {
            let m = root(e);
            if let mlua::Error::CallbackError { cause, .. } = &**e
                && let mlua::Error::ExternalError(x) = &**cause
                && x.downcast_ref::<CallError>().is_some()
            {
                return m;
            }
            m
        }
        Value::String(s) => s.to_string_lossy(),
        other => format!("{other:?}"),
    };
    if msg.starts_with("ERR ") { msg } else { format!("ERR {msg}") }
}

/// A thread's busy hooks: `(poll, end)`, see `set_busy_hooks`.
type BusyHooks = Option<(fn(), fn())>;

thread_local! {
    /// What a thread does while its script is busy (`poll`, called from the
    /// instruction hook) and once it is over (`end`); see `set_busy_hooks`.
    static BUSY_HOOKS: Cell<BusyHooks> = const { Cell::new(None) };
}

/// Installs this thread's busy hooks: the server's shard threads serve new
/// connections while their script is busy (`server::busy_door`).
pub fn set_busy_hooks(poll: fn(), end: fn()) {
    BUSY_HOOKS.with(|h| h.set(Some((poll, end))));
}

/// For a shard thread waiting while another thread's script runs (a led cut,
/// `persist::cut`): once that script is busy, serve this thread's busy door too.
pub fn serve_busy_door(shared: &ScriptShared) {
    if shared.busy_reply().is_some()
        && let Some((poll, _)) = BUSY_HOOKS.with(|h| h.get())
    {
        poll();
    }
}

/// The wait of `serve_busy_door` is over: hand what the door accepted to the worker.
pub fn close_busy_door() {
    if let Some((_, end)) = BUSY_HOOKS.with(|h| h.get()) {
        end();
    }
}

/// A thread's lazily built Lua state: EVAL's (`ENGINE`) or the functions'
/// (`func_engine`).
pub(super) type EngineSlot = std::thread::LocalKey<RefCell<Option<Rc<Engine>>>>;

thread_local! {
    static ENGINE: RefCell<Option<Rc<Engine>>> = const { RefCell::new(None) };
}

/// The engine in `slot`, built on first use.
pub(super) fn engine_in(slot: &'static EngineSlot) -> Rc<Engine> {
    slot.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(Rc::new(Engine::new().expect("the Lua state builds")));
        }
        slot.as_ref().cloned().expect("just built")
    })
}

/// This thread's engine, built on first use.
pub fn with_engine<R>(f: impl FnOnce(&Engine) -> R) -> R {
    f(&engine_in(&ENGINE))
}

/// This thread's index into `ScriptShared`'s busy/kill flags.
pub fn thread_slot() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % shared::SLOTS;
    }
    SLOT.with(|s| *s)
}

/// The engine's memory, if this thread built one.
pub fn thread_used_memory() -> usize {
    ENGINE.with(|slot| slot.borrow().as_ref().map_or(0, |e| e.used_memory()))
}
