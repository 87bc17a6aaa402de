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
    pub fn register(&self, code: &[u8]) -> Result<Vec<(func::FunctionInfo, Function)>, String> {
        let f = self.compile(code, "@user_function").map_err(|m| format!("ERR Error compiling function: {m}"))?;
        let raw: Table = self.lua.named_registry_value(super::RAW).map_err(|e| e.to_string())?;
        let (load_redis, loading): (Table, Function) =
            (raw.raw_get("load_redis").map_err(|e| e.to_string())?, raw.raw_get("loading").map_err(|e| e.to_string())?);
        let regs: RefCell<Vec<(func::FunctionInfo, Function)>> = RefCell::new(Vec::new());
        let fail = |m: &str| mlua::Error::external(CallError(m.to_string()));
        let res = self.lua.scope(|scope| {
            let reg = scope.create_function(|_, args: MultiValue| {
                let (name, cb, flags, description) = match (args.front(), args.get(1), args.len()) {
                    (Some(Value::String(n)), Some(Value::Function(cb)), 2) => {
                        (n.to_string_lossy(), cb.clone(), Vec::new(), None)
                    }
                    (Some(Value::Table(t)), None, 1) => {
                        let (mut name, mut cb, mut flags, mut desc) = (None, None, Vec::new(), None);
                        for pair in t.pairs::<String, Value>() {
                            let (k, v) = pair.map_err(|_| {
                                fail("ERR named argument key given to redis.register_function is not a string")
                            })?;
                            match (k.as_str(), v) {
                                ("function_name", Value::String(s)) => name = Some(s.to_string_lossy()),
                                ("callback", Value::Function(f)) => cb = Some(f),
                                ("description", Value::String(s)) => desc = Some(s.to_string_lossy()),
                                ("flags", Value::Table(ft)) => {
                                    for fl in ft.sequence_values::<String>() {
                                        let fl = fl.map_err(|_| fail("ERR Unknown flag given"))?;
                                        if !func::FLAG_NAMES.contains(&fl.as_str()) {
                                            return Err(fail("ERR Unknown flag given"));
                                        }
                                        flags.push(fl);
                                    }
                                }
                                ("function_name" | "callback" | "description" | "flags", _) => {
                                    return Err(fail(&format!(
                                        "ERR wrong type for {k} argument given to redis.register_function"
                                    )));
                                }
                                _ => return Err(fail("ERR unknown argument given to redis.register_function")),
                            }
                        }
                        let name =
                            name.ok_or_else(|| fail("ERR redis.register_function must get a function name argument"))?;
                        let cb = cb.ok_or_else(|| fail("ERR redis.register_function must get a callback argument"))?;
                        (name, cb, flags, desc)
                    }
                    _ => return Err(fail("ERR wrong number of arguments to redis.register_function")),
                };
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
            let r = self.run_fn.call::<MultiValue>(f.clone());
            loading.call::<()>(false)?;
            r
        });
        load_redis.raw_set("register_function", Value::Nil).ok();
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
    pub fn load_library(&self, code: &[u8]) -> Result<Vec<func::FunctionInfo>, String> {
        Ok(self.register(code)?.into_iter().map(|(i, _)| i).collect())
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
            if let Ok(regs) = self.register(&code) {
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
