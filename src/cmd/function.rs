//! FUNCTION and FCALL: libraries of named Lua functions, shared by every shard and
//! part of the dataset (RDB function opcode, FUNCTION DUMP/RESTORE, logged in the AOF).
//!
//! A library's code is validated by running it on the loading thread's Lua state;
//! every other thread runs it again the first time it needs a function after a change
//! (`Engine::sync_functions`), so a function call never crosses threads.

use super::ctx::{ConnCtx, ConnOutcome, ExecCtx};
use super::{Args, CmdError};
use crate::script::func::{FunctionInfo, Libraries, Library, RDB_OPCODE_FUNCTION2, library_name};
use crate::script::{self, ScriptShared};
use std::sync::atomic::Ordering;

fn libs(shared: &ScriptShared) -> std::sync::MutexGuard<'_, Libraries> {
    shared.functions.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long FUNCTION LOAD lets a library's top-level code run, as Redis 7.0
/// (`LOAD_TIMEOUT_MS`): past it the load fails with "FUNCTION LOAD timeout". Libraries
/// from a snapshot or FUNCTION RESTORE have no limit, as in Redis.
pub const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Builds a library from its code (validating it on this thread's state), its
/// top-level code stopped after `timeout` if given.
pub fn build_library(code: &[u8], timeout: Option<std::time::Duration>) -> Result<Library, String> {
    let name = library_name(code)?;
    let regs = script::with_function_engine(|eng| eng.load_library(code, timeout))?;
    if regs.is_empty() {
        return Err("ERR No functions registered".into());
    }
    let mut functions = std::collections::BTreeMap::new();
    for r in regs {
        functions.insert(r.name.clone(), r);
    }
    Ok(Library { name, code: code.to_vec(), functions })
}

/// Loads a library into the server's registry (FUNCTION LOAD, with its time limit).
pub fn load_library(shared: &ScriptShared, code: &[u8], replace: bool) -> Result<String, String> {
    let lib = build_library(code, Some(LOAD_TIMEOUT))?;
    let name = lib.name.clone();
    libs(shared).add(lib, replace)?;
    shared.functions_epoch.fetch_add(1, Ordering::Relaxed);
    Ok(name)
}

/// Installs the libraries a snapshot held (`rdb::LoadStats::functions`), all or
/// nothing. `flush`: they replace every library (a replica's full sync, DEBUG
/// RELOAD); otherwise they are added, replacing same-named ones (start-up, an AOF
/// base). A library that fails to build is the load's error, as in Redis.
pub fn install_loaded(shared: &ScriptShared, codes: &[Vec<u8>], flush: bool) -> Result<(), String> {
    if codes.is_empty() && !flush {
        return Ok(());
    }
    let mut built = Vec::with_capacity(codes.len());
    for code in codes {
        built.push(build_library(code, None).map_err(|e| format!("Failed loading library: {e}"))?);
    }
    let mut l = libs(shared);
    let mut next = if flush { Libraries::default() } else { l.clone() };
    for lib in built {
        next.add(lib, true)?;
    }
    *l = next;
    shared.functions_epoch.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Every library's code, for RDB and FUNCTION DUMP.
pub fn library_codes(shared: &ScriptShared) -> Vec<Vec<u8>> {
    libs(shared).libs.values().map(|l| l.code.clone()).collect()
}

fn dump_payload(shared: &ScriptShared) -> Vec<u8> {
    let mut body = Vec::new();
    for code in library_codes(shared) {
        body.push(RDB_OPCODE_FUNCTION2);
        crate::rdb::put_string(&mut body, &code, true);
    }
    body.extend_from_slice(&10u16.to_le_bytes());
    let crc = crate::rdb::crc64::crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// The library codes in a FUNCTION DUMP payload, or Redis's error.
fn parse_payload(p: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    const BAD: &str = "ERR DUMP payload version or checksum are wrong";
    if p.len() < 10 {
        return Err(BAD.into());
    }
    let (body, trailer) = p.split_at(p.len() - 10);
    let version = u16::from_le_bytes([trailer[0], trailer[1]]);
    let crc = u64::from_le_bytes(trailer[2..10].try_into().expect("8 bytes"));
    if version > 10 || crate::rdb::crc64::crc64(&p[..p.len() - 8]) != crc {
        return Err(BAD.into());
    }
    let mut input = crate::rdb::Input::new(body, 0);
    let mut codes = Vec::new();
    while !input.at_end().map_err(|_| "ERR given payload is not a valid function payload".to_string())? {
        let op = input.u8().map_err(|e| e.to_string())?;
        if op != RDB_OPCODE_FUNCTION2 {
            return Err("ERR given type is not a function".into());
        }
        codes.push(input.string().map_err(|_| "ERR Bad data format".to_string())?);
    }
    Ok(codes)
}

/// Propagates a FUNCTION write (LOAD, DELETE, FLUSH, RESTORE) to shard 0's log,
/// whichever shard ran it: the libraries are server-wide, so their history must stay in
/// one shard's files to replay in order (per-shard AOF replay, a replica's stream).
/// Called under `function_writes`, so the queue's order is the writes' order.
fn propagate(c: &mut ConnCtx, a: &Args) {
    let args: Vec<Vec<u8>> = a.iter().map(|x| x.to_vec()).collect();
    c.st.shared.script.function_log.lock().unwrap_or_else(|e| e.into_inner()).push((c.sess.db, args));
    c.st.dirty += 1;
    if c.st.id == 0 {
        drain_function_log(c.st);
        return;
    }
    let me = crate::shard::msg::CoordRef { shard: c.st.id as u16, id: 0 };
    let hop: crate::shard::Hop = std::sync::Arc::new(|st: &mut crate::shard::ShardState| {
        drain_function_log(st);
        Box::new(())
    });
    c.st.outbox.push(0, crate::shard::Msg::Run { coord: me, hop });
}

/// On shard 0: logs the FUNCTION writes queued so far, in order.
fn drain_function_log(st: &mut crate::shard::ShardState) {
    let queued = std::mem::take(&mut *st.shared.script.function_log.lock().unwrap_or_else(|e| e.into_inner()));
    for (db, args) in queued {
        st.aof.feed(db, &args);
    }
}

fn function_cmd(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let sub = a.str(1).to_ascii_lowercase();
    let shared = c.st.shared.script.clone();
    let _serial = matches!(sub.as_str(), "load" | "delete" | "flush" | "restore")
        .then(|| shared.function_writes.lock().unwrap_or_else(|e| e.into_inner()));
    let n = a.len();
    match sub.as_str() {
        "load" if n >= 3 => {
            // Options before the code: REPLACE (repeatable) only, as in Redis.
            if let Some(i) = (2..n - 1).find(|&i| !a.is(i, "replace")) {
                return Err(CmdError::Msg(format!("ERR Unknown option given: {}", a.str(i))));
            }
            let name = load_library(&shared, a.get(n - 1), n > 3).map_err(CmdError::Msg)?;
            propagate(c, a);
            c.out.bulk(name.as_bytes());
        }
        "delete" if n == 3 => {
            if !libs(&shared).remove(&a.str(2)) {
                return Err(CmdError::msg("ERR Library not found"));
            }
            shared.functions_epoch.fetch_add(1, Ordering::Relaxed);
            propagate(c, a);
            c.out.ok();
        }
        "flush" if n == 2 || (n == 3 && (a.is(2, "async") || a.is(2, "sync"))) => {
            *libs(&shared) = Libraries::default();
            shared.functions_epoch.fetch_add(1, Ordering::Relaxed);
            propagate(c, a);
            c.out.ok();
        }
        "flush" if n == 3 => return Err(CmdError::msg("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")),
        "kill" if n == 2 => {
            shared.request_kill(true).map_err(CmdError::msg)?;
            c.out.ok();
        }
        "stats" if n == 2 => stats(&shared, &mut c.out).map_err(CmdError::msg)?,
        "list" => {
            let (mut pattern, mut code) = (None, false);
            let mut i = 2;
            while i < n {
                if a.is(i, "withcode") && !code {
                    code = true;
                } else if a.is(i, "libraryname") && pattern.is_none() {
                    if i + 1 == n {
                        return Err(CmdError::msg("ERR library name argument was not given"));
                    }
                    pattern = Some(a.get(i + 1).to_vec());
                    i += 1;
                } else {
                    return Err(CmdError::msg(format!("ERR Unknown argument {}", a.str(i))));
                }
                i += 1;
            }
            let l = libs(&shared);
            let chosen: Vec<&Library> = l
                .libs
                .values()
                .filter(|lib| {
                    // Redis matches LIBRARYNAME without regard to case (`stringmatchlen(..., 1)`).
                    pattern.as_ref().is_none_or(|p| crate::util::glob::glob_match(p, lib.name.as_bytes(), true))
                })
                .collect();
            c.out.array(chosen.len());
            for lib in chosen {
                c.out.map(if code { 4 } else { 3 });
                c.out.bulk(b"library_name");
                c.out.bulk(lib.name.as_bytes());
                c.out.bulk(b"engine");
                c.out.bulk(b"LUA");
                c.out.bulk(b"functions");
                c.out.array(lib.functions.len());
                for f in lib.functions.values() {
                    write_function(&mut c.out, f);
                }
                if code {
                    c.out.bulk(b"library_code");
                    c.out.bulk(&lib.code);
                }
            }
        }
        "dump" if n == 2 => c.out.bulk(&dump_payload(&shared)),
        "restore" if n == 3 || n == 4 => {
            let policy = if n == 4 { a.str(3).to_ascii_lowercase() } else { "append".into() };
            if !matches!(policy.as_str(), "append" | "replace" | "flush") {
                return Err(CmdError::msg(
                    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                ));
            }
            let codes = parse_payload(a.get(2)).map_err(CmdError::Msg)?;
            let mut built = Vec::new();
            for code in &codes {
                built.push(build_library(code, None).map_err(CmdError::Msg)?);
            }
            {
                let mut l = libs(&shared);
                let mut next = if policy == "flush" { Libraries::default() } else { l.clone() };
                for lib in built {
                    if policy == "append" && next.libs.contains_key(&lib.name) {
                        return Err(CmdError::msg(format!("ERR Library {} already exists", lib.name)));
                    }
                    next.add(lib, policy != "append").map_err(CmdError::Msg)?;
                }
                *l = next;
            }
            shared.functions_epoch.fetch_add(1, Ordering::Relaxed);
            propagate(c, a);
            c.out.ok();
        }
        "help" if n == 2 => {
            let lines = [
                "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LOAD [REPLACE] <FUNCTION CODE>",
                "DELETE <LIBRARY NAME>",
                "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
                "FLUSH [ASYNC|SYNC]",
                "STATS",
                "KILL",
                "DUMP",
                "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
                "HELP",
            ];
            c.out.array(lines.len());
            for l in lines {
                c.out.simple(l);
            }
        }
        // Past their arity (-3, -2), RESTORE's and FLUSH's own checks answer the
        // syntax error.
        "restore" | "flush" if n > 4 || (sub == "flush" && n > 3) => {
            return Err(CmdError::msg(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
                a.str(1)
            )));
        }
        "load" | "delete" | "kill" | "stats" | "dump" | "restore" | "help" => {
            return Err(CmdError::msg(super::error::wrong_arity(&format!("function|{sub}"))));
        }
        _ => return Err(CmdError::msg(format!("ERR unknown subcommand '{}'. Try FUNCTION HELP.", a.str(1)))),
    }
    Ok(ConnOutcome::Done)
}

fn write_function(out: &mut crate::resp::ReplyWriter, f: &FunctionInfo) {
    out.map(3);
    out.bulk(b"name");
    out.bulk(f.name.as_bytes());
    out.bulk(b"description");
    match &f.description {
        Some(d) => out.bulk(d.as_bytes()),
        None => out.null(),
    }
    out.bulk(b"flags");
    out.set(f.flags.len());
    // Status replies, as Redis's (`addReplyStatus`).
    for fl in &f.flags {
        out.simple(fl);
    }
}

/// FUNCTION STATS, also answered by a busy script's door (`server::busy_door`): the
/// busy function (name, its caller's command, how long it has run), Redis's BUSY error
/// while an EVAL script is busy, and the libraries' counts.
pub fn stats(shared: &ScriptShared, out: &mut crate::resp::ReplyWriter) -> Result<(), &'static str> {
    let running = shared.running_function()?;
    let l = libs(shared);
    out.map(2);
    out.bulk(b"running_script");
    match running {
        None => out.null(),
        Some(r) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(r.name.as_bytes());
            out.bulk(b"command");
            out.array(r.command.len());
            for w in &r.command {
                out.bulk(w);
            }
            out.bulk(b"duration_ms");
            out.int(r.started.elapsed().as_millis() as i64);
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(l.libs.len() as i64);
    out.bulk(b"functions_count");
    out.int(l.function_count() as i64);
    Ok(())
}

/// Is function `name` flagged `allow-undeclared-keys` (`script_all`)?
pub fn allows_undeclared_keys(shared: &ScriptShared, name: &str) -> bool {
    libs(shared).function(name).is_some_and(|f| f.flags.iter().any(|x| x == "allow-undeclared-keys"))
}

/// Is function `name` refused past `maxmemory` (neither `no-writes` nor `allow-oom`,
/// `script::denies_oom`)?
pub fn denies_oom(shared: &ScriptShared, name: &str) -> bool {
    libs(shared).function(name).is_some_and(|f| !f.flags.iter().any(|x| x == "no-writes" || x == "allow-oom"))
}

/// Does function `name` write (not flagged `no-writes`)? None when there is no such
/// function (`script::declared_writes`).
pub fn declared_writes(shared: &ScriptShared, name: &str) -> Option<bool> {
    libs(shared).function(name).map(|f| !f.flags.iter().any(|x| x == "no-writes"))
}

pub fn fcall(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    fcall_generic(c, a, false)
}

pub fn fcall_ro(c: &mut ExecCtx, a: &Args) -> Result<(), CmdError> {
    fcall_generic(c, a, true)
}

fn fcall_generic(c: &mut ExecCtx, a: &Args, ro: bool) -> Result<(), CmdError> {
    // Taken first, so that a call refused before it runs leaves no entry behind.
    let reader = c.shared.script.take_reader(c.client_id);
    let shared = c.shared.script.clone();
    // Looked up in any case; runs (and is reported) under the name it was registered as.
    let flagged = |f: &FunctionInfo, flag: &str| f.flags.iter().any(|x| x == flag);
    let (name, no_writes, allow_oom) = libs(&shared)
        .function(&a.str(1))
        .map(|f| (f.name.clone(), flagged(f, "no-writes"), flagged(f, "allow-oom")))
        .ok_or_else(|| CmdError::msg("ERR Function not found"))?;
    let n = super::script::fcall_numkeys(a)?;
    if ro && !no_writes {
        return Err(CmdError::msg("ERR Can not execute a script with write flag using *_ro command."));
    }
    script::note_function_call(&name, (0..a.len()).map(|i| a.get(i)));
    script::with_function_engine(|eng| {
        eng.sync_functions(&shared);
        let f = eng.function(&name).ok_or_else(|| CmdError::msg("ERR Function not found"))?;
        let wants_all = allows_undeclared_keys(&shared, &name);
        super::script::with_slices(a, 3..3 + n, |keys| {
            super::script::with_slices(a, 3 + n..a.len(), |argv| {
                super::script::run_script(c, eng, &f, &name, keys, argv, no_writes, true, wants_all, allow_oom, reader)
            })
        })
    })
}

pub static COMMANDS: &[super::CommandSpec] = &[super::CommandSpec {
    name: "function",
    arity: -2,
    flags: super::table::flag::NOSCRIPT | super::table::flag::ALLOW_BUSY,
    keys: super::table::KeySpec::None,
    handler: super::table::Handler::Conn(function_cmd),
    group: "scripting",
    summary: "A container for function commands.",
    since: "7.0.0",
}];
