//! Redis 7.0's read-only sandbox, the Rust half. prelude.lua puts every library table
//! and the globals behind proxies that refuse assignments; here the builtins that
//! bypass metamethods and that scripts seldom call in loops (`rawset`, `setmetatable`,
//! which write raw, `rawget` and `getmetatable`, which read raw) get versions that
//! know the proxies, and `loadstring` gives its chunks the protected globals. The
//! prelude wraps the hot ones in Lua.
//!
//! These are Rust (C) functions, not Lua ones, for the errors: Lua 5.1 runs a C
//! function called in tail position as a plain call, so the script's frame (its line
//! in `user_script:1: ...` and in `on @user_script:1.`) stays on the stack, as it does
//! when Redis's script calls the C builtin itself. A Lua wrapper's frame would
//! replace the script's there.

use mlua::{Function, Lua, MultiValue, Table, Value};

/// What a wrapper does when its first argument is a proxy.
#[derive(Clone)]
enum OnProxy {
    /// A write: Redis's error (raised from C there, so no position).
    Refuse,
    /// A read: the builtin reads the real table instead.
    ReadReal,
    /// getmetatable: what the proxy shows (nil for a library table).
    Shown(Table),
}

/// Installs the wrappers over the builtins in `real` (the real globals; the prelude
/// has run and left its tables in `raw`).
pub fn install(lua: &Lua, real: &Table, raw: &Table) -> mlua::Result<()> {
    let real_of: Table = raw.raw_get("real_of")?;
    let shown_of: Table = raw.raw_get("shown_of")?;
    let env: Table = raw.raw_get("env")?;
    let wrap = |t: &Table, name: &str, on_proxy: OnProxy| wrap(lua, t, name, &real_of, on_proxy);
    wrap(real, "rawset", OnProxy::Refuse)?;
    wrap(real, "setmetatable", OnProxy::Refuse)?;
    wrap(real, "rawget", OnProxy::ReadReal)?;
    wrap(real, "getmetatable", OnProxy::Shown(shown_of))?;
    // A chunk compiled at run time gets the script's protected globals, not the real
    // ones (where `x = 1` would succeed).
    let loadstring: Function = real.raw_get("loadstring")?;
    let setfenv: Function = real.raw_get("setfenv")?;
    let f = lua.create_function(move |lua, args: MultiValue| {
        // Redis's Lua never loads precompiled (binary) chunks: it parses them as text,
        // which fails at once. Loading bytecode would let a script forge a function.
        if let Some(Value::String(code)) = args.front()
            && code.as_bytes().first() == Some(&0x1b)
        {
            let name = match args.get(1) {
                Some(Value::String(n)) => n.as_bytes().to_vec(),
                _ => code.as_bytes().to_vec(),
            };
            let mut msg = chunk_id(&name);
            msg.extend_from_slice(b":1: unexpected symbol near 'char(27)'");
            return Ok(MultiValue::from_iter([Value::Nil, Value::String(lua.create_string(&msg)?)]));
        }
        let r: MultiValue = loadstring.call(args).map_err(|e| builtin_error(lua, e))?;
        if let Some(Value::Function(chunk)) = r.front() {
            setfenv.call::<()>((chunk.clone(), env.clone()))?;
        }
        Ok(r)
    })?;
    real.raw_set("loadstring", f)
}

/// How Lua 5.1 names a chunk in messages (`luaO_chunkid`, in a syntax error): `=name`
/// as it is, `@file` by its last characters, source text as `[string "first line"]`.
fn chunk_id(source: &[u8]) -> Vec<u8> {
    let source = &source[..source.iter().position(|&b| b == 0).unwrap_or(source.len())];
    // llex.c formats syntax errors with MAXSRC (80), not LUA_IDSIZE.
    const ID_SIZE: usize = 80;
    match source.first() {
        Some(b'=') => source[1..].iter().take(ID_SIZE - 1).copied().collect(),
        Some(b'@') => {
            let file = &source[1..];
            let room = ID_SIZE - " '...' ".len() - 1;
            if file.len() > room { [b"...", &file[file.len() - room..]].concat() } else { file.to_vec() }
        }
        _ => {
            let line = source.iter().position(|&b| b == b'\n' || b == b'\r').unwrap_or(source.len());
            let len = line.min(ID_SIZE - " [string \"...\"] ".len() - 1);
            let dots: &[u8] = if len < source.len() { b"..." } else { b"" };
            [b"[string \"", &source[..len], dots, b"\"]"].concat()
        }
    }
}

fn wrap(lua: &Lua, t: &Table, name: &str, real_of: &Table, on_proxy: OnProxy) -> mlua::Result<()> {
    let builtin: Function = t.raw_get(name)?;
    let real_of = real_of.clone();
    let f = lua.create_function(move |lua, mut args: MultiValue| {
        if let Some(first @ Value::Table(_)) = args.front() {
            let real: Value = real_of.raw_get(first.clone())?;
            if !real.is_nil() {
                match &on_proxy {
                    OnProxy::Refuse => return Err(mlua::Error::runtime("Attempt to modify a readonly table")),
                    OnProxy::ReadReal => args[0] = real,
                    OnProxy::Shown(shown_of) => {
                        let shown: Value = shown_of.raw_get(args[0].clone())?;
                        return Ok(MultiValue::from_iter([shown]));
                    }
                }
            }
        }
        builtin.call::<MultiValue>(args).map_err(|e| builtin_error(lua, e))
    })?;
    t.raw_set(name, f)
}

/// A builtin's error as Redis shows it when the script calls the builtin itself:
/// `luaL_error`'s (argument checks, "too many results to unpack") name the script's
/// line and the function as called; the VM's own ("table index is nil", "invalid key
/// to 'next'") carry no position. The traceback the call added goes.
fn builtin_error(lua: &Lua, e: mlua::Error) -> mlua::Error {
    let mlua::Error::RuntimeError(msg) = &e else { return e };
    let msg = msg.split("\nstack traceback:").next().unwrap_or_default().to_string();
    if matches!(msg.as_str(), "table index is nil" | "table index is NaN" | "invalid key to 'next'") {
        return mlua::Error::RuntimeError(msg);
    }
    super::at_caller(lua, mlua::Error::RuntimeError(msg))
}
