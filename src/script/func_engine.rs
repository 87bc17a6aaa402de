//! The functions' Lua state (FUNCTION LOAD, FCALL). As in Redis 7.0, functions run
//! in a Lua state of their own, apart from EVAL's: one per shard thread
//! (`with_function_engine`), so `SCRIPT FLUSH` and the EVAL cache leave functions
//! alone and INFO reports each VM's memory (`used_memory_vm_eval`,
//! `used_memory_vm_functions`).
//!
//! While a library's top-level code runs (the load), its globals are Redis 7.0's
//! library API only: `redis` with `register_function`, `log`, the log levels and the
//! version; any other global is missing (prelude.lua, `raw.loading`). The functions
//! it registers see the full sandbox when they are called.

use super::{CallError, Engine, ScriptShared, error_text, func};
use mlua::{Function, MultiValue, Table, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

impl Engine {
    /// Runs a library's code with `redis.register_function` available and returns
    /// what it registered (FUNCTION LOAD's validation, and each thread's rebuild).
    /// `timeout`: FUNCTION LOAD's limit on the top-level code (`Watch::check`).
    pub fn register(
        &self,
        code: &[u8],
        timeout: Option<std::time::Duration>,
    ) -> Result<Vec<(func::FunctionInfo, Function)>, String> {
        let f = self.compile(code, "@user_function").map_err(|m| format!("ERR Error compiling function: {m}"))?;
        let raw: Table = self.lua.named_registry_value(super::RAW).map_err(|e| e.to_string())?;
        let (load_redis, loading): (Table, Function) =
            (raw.raw_get("load_redis").map_err(|e| e.to_string())?, raw.raw_get("loading").map_err(|e| e.to_string())?);
        let regs: RefCell<Vec<(func::FunctionInfo, Function)>> = RefCell::new(Vec::new());
        let fail = |m: &str| mlua::Error::external(CallError(m.to_string(), false));
        let res = self.lua.scope(|scope| {
            let reg = scope.create_function(|lua, args: MultiValue| {
                let (name, cb, flags, description) = register_args(lua, args).map_err(|m| fail(&format!("ERR {m}")))?;
                if !func::valid_name(&name) {
                    return Err(fail(func::NAME_RULE));
                }
                let mut regs = regs.borrow_mut();
                if regs.iter().any(|(i, _)| i.name == name) {
                    return Err(fail("ERR Function already exists in the library"));
                }
                regs.push((func::FunctionInfo { name, description, flags }, cb));
                Ok(())
            })?;
            load_redis.raw_set("register_function", reg)?;
            loading.call::<()>(true)?;
            self.watch.load_deadline.set(timeout.map(|t| std::time::Instant::now() + t));
            let r = self.run_fn.call::<MultiValue>(f.clone());
            self.watch.load_deadline.set(None);
            loading.call::<()>(false)?;
            r
        });
        // A library may keep the load's `redis` table (`local lib = redis`): its
        // functions calling `lib.register_function` later get Redis's refusal.
        let refuse = self.lua.create_function(|_, _: MultiValue| -> mlua::Result<()> {
            Err(mlua::Error::external(CallError(
                "ERR redis.register_function can only be called on FUNCTION LOAD command".into(),
                false,
            )))
        });
        load_redis.raw_set("register_function", refuse.map_or(Value::Nil, Value::Function)).ok();
        let r =
            res.map_err(|e| format!("ERR Error registering functions: {}", error_text(&Value::Error(Box::new(e)))))?;
        let mut it = r.into_iter();
        if !matches!(it.next(), Some(Value::Boolean(true))) {
            let err = match it.next() {
                Some(Value::Table(t)) => t.raw_get::<Option<String>>("err").ok().flatten().unwrap_or_default(),
                _ => String::new(),
            };
            return Err(format!("ERR Error registering functions: {err}"));
        }
        Ok(regs.into_inner())
    }

    /// Validates a library: what it registers, without keeping it.
    pub fn load_library(
        &self,
        code: &[u8],
        timeout: Option<std::time::Duration>,
    ) -> Result<Vec<func::FunctionInfo>, String> {
        Ok(self.register(code, timeout)?.into_iter().map(|(i, _)| i).collect())
    }

    /// Rebuilds this thread's functions if the libraries changed since it last did.
    pub fn sync_functions(&self, shared: &ScriptShared) {
        let epoch = shared.functions_epoch.load(std::sync::atomic::Ordering::Relaxed);
        if epoch == self.funcs_epoch.get() {
            return;
        }
        let codes: Vec<Vec<u8>> =
            shared.functions.lock().unwrap_or_else(|e| e.into_inner()).libs.values().map(|l| l.code.clone()).collect();
        let mut funcs = HashMap::new();
        for code in codes {
            if let Ok(regs) = self.register(&code, None) {
                for (i, f) in regs {
                    funcs.insert(i.name, f);
                }
            }
        }
        *self.funcs.borrow_mut() = funcs;
        self.funcs_epoch.set(epoch);
        let _ = self.lua.gc_collect();
    }

    pub fn function(&self, name: &str) -> Option<Function> {
        self.funcs.borrow().get(name).cloned()
    }
}

/// A registration: the function's name, callback, flags and description.
type Registration = (String, Function, Vec<String>, Option<String>);

/// `redis.register_function`'s arguments, read as Redis 7.0 reads them (its errors,
/// in its order): `(name, callback)`, or one table of named arguments whose keys and
/// flags are case-insensitive. A name or description may be a number (Lua's
/// `lua_isstring`).
fn register_args(lua: &mlua::Lua, args: MultiValue) -> Result<Registration, &'static str> {
    let text = |v: &Value| match v {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => {
            lua.coerce_string(v.clone()).ok().flatten().map(|s| s.to_string_lossy())
        }
        _ => None,
    };
    let wrong_count = "wrong number of arguments to redis.register_function";
    match args.len() {
        2 => {
            let name = text(&args[0]).ok_or("first argument to redis.register_function must be a string")?;
            let Value::Function(cb) = &args[1] else {
                return Err("second argument to redis.register_function must be a function");
            };
            Ok((name, cb.clone(), Vec::new(), None))
        }
        1 => {
            let Value::Table(t) = &args[0] else {
                return Err(
                    "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
                );
            };
            let (mut name, mut cb, mut flags, mut desc) = (None, None, Vec::new(), None);
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|_| wrong_count)?;
                let key = text(&k).ok_or("named argument key given to redis.register_function is not a string")?;
                match key.to_ascii_lowercase().as_str() {
                    "function_name" => {
                        name = Some(
                            text(&v)
                                .ok_or("function_name argument given to redis.register_function must be a string")?,
                        );
                    }
                    "description" => {
                        desc = Some(
                            text(&v).ok_or("description argument given to redis.register_function must be a string")?,
                        );
                    }
                    "callback" => {
                        let Value::Function(f) = v else {
                            return Err("callback argument given to redis.register_function must be a function");
                        };
                        cb = Some(f);
                    }
                    "flags" => {
                        let Value::Table(ft) = v else {
                            return Err(
                                "flags argument to redis.register_function must be a table representing function flags",
                            );
                        };
                        flags.clear();
                        for i in 1.. {
                            let fl: Value = ft.raw_get(i).map_err(|_| "unknown flag given")?;
                            if fl.is_nil() {
                                break;
                            }
                            let fl = text(&fl).map(|f| f.to_ascii_lowercase());
                            let known = fl.and_then(|f| func::FLAG_NAMES.iter().position(|&n| n == f));
                            flags.push(known.ok_or("unknown flag given")?);
                        }
                        // A set, listed in Redis's order (a bit mask there).
                        flags.sort_unstable();
                        flags.dedup();
                    }
                    _ => return Err("unknown argument given to redis.register_function"),
                }
            }
            let name = name.ok_or("redis.register_function must get a function name argument")?;
            let cb = cb.ok_or("redis.register_function must get a callback argument")?;
            Ok((name, cb, flags.into_iter().map(|i| func::FLAG_NAMES[i].to_string()).collect(), desc))
        }
        _ => Err(wrong_count),
    }
}

thread_local! {
    static FUNC_ENGINE: RefCell<Option<Rc<Engine>>> = const { RefCell::new(None) };
}

/// This thread's functions engine, built on first use.
pub fn with_function_engine<R>(f: impl FnOnce(&Engine) -> R) -> R {
    f(&super::engine_in(&FUNC_ENGINE))
}

/// The functions engine's memory on this thread (INFO `used_memory_vm_functions`).
pub fn thread_used_memory() -> usize {
    with_function_engine(|e| e.used_memory())
}
