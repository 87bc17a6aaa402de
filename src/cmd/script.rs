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
use crate::script;
use crate::shard::OwnedArgs;
use crate::util::sha1;

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
    /// `allow-oom`: runs past `maxmemory` (`denies_oom`).
    pub allow_oom: bool,
}

impl ScriptFlags {
    fn bits(self) -> u8 {
        self.no_writes as u8
            | (self.shebang as u8) << 1
            | (self.undeclared_keys as u8) << 2
            | (self.allow_oom as u8) << 3
    }

    fn from_bits(b: u8) -> ScriptFlags {
        ScriptFlags { no_writes: b & 1 != 0, shebang: b & 2 != 0, undeclared_keys: b & 4 != 0, allow_oom: b & 8 != 0 }
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
                b"allow-oom" => flags.allow_oom = true,
                b"allow-stale" | b"no-cluster" | b"allow-cross-slot-keys" => {}
                other => {
                    return Err(CmdError::msg(format!("ERR Unexpected flag in script shebang: {}", text(other))));
                }
            }
        }
    }
    Ok(flags)
}

/// Redis 7.0's `denyoom` for a script command (`scriptFlagsToCmdFlags`): a script that
/// declares flags (a function, or an EVAL script with a `#!` line) is refused past
/// `maxmemory` unless flagged `no-writes` or `allow-oom`; one without keeps EVAL's own
/// flags (not `denyoom`). An unknown script or function is not refused here: it gets
/// its own error when it runs, as in Redis.
pub fn denies_oom(shared: &script::ScriptShared, name: &str, args: &Args) -> bool {
    let body_denies =
        |body: &[u8]| body.starts_with(b"#!") && shebang_flags(body).is_ok_and(|f| !f.no_writes && !f.allow_oom);
    match name {
        "fcall" | "fcall_ro" if args.len() > 1 => super::function::denies_oom(shared, &args.str(1)),
        "eval" | "eval_ro" if args.len() > 1 => body_denies(args.get(1)),
        "evalsha" | "evalsha_ro" if args.len() > 1 => {
            shared.get(&args.str(1).to_ascii_lowercase()).is_some_and(|b| body_denies(&b))
        }
        _ => false,
    }
}

/// Redis 7.0's write flag for a script command, as CLIENT PAUSE WRITE sees it
/// (`scriptFlagsToCmdFlags`): a script that declares flags (a function, an EVAL script
/// with a valid `#!` line, an EVALSHA of a known one) writes unless it is `no-writes`;
/// None for one without (or not found), which keeps its command's own flags.
pub fn declared_writes(shared: &script::ScriptShared, name: &str, args: &Args) -> Option<bool> {
    let body_writes = |body: &[u8]| {
        if !body.starts_with(b"#!") {
            return None;
        }
        shebang_flags(body).ok().map(|f| !f.no_writes)
    };
    match name {
        "fcall" | "fcall_ro" if args.len() > 1 => super::function::declared_writes(shared, &args.str(1)),
        "eval" | "eval_ro" if args.len() > 1 => body_writes(args.get(1)),
        "evalsha" | "evalsha_ro" if args.len() > 1 && args.get(1).len() == 40 => {
            shared.get(&args.str(1).to_ascii_lowercase()).and_then(|b| body_writes(&b))
        }
        _ => None,
    }
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

pub use super::script_host::{before_run, called_from_script, run_script, settle};

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
                if ro && flags.shebang && !flags.no_writes {
                    // As FCALL_RO: a script declaring it may write is refused, not run
                    // read-only.
                    return Err(CmdError::msg("ERR Can not execute a script with write flag using *_ro command."));
                }
                let read_only = ro || flags.no_writes;
                let wants_all = flags.undeclared_keys;
                run_script(c, eng, &func, sha, keys, argv, read_only, false, wants_all, flags.allow_oom, reader)
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
