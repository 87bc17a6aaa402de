//! Error positions through the sandbox's Lua wrappers.
//!
//! The read-only sandbox (prelude.lua) wraps `next`, `pairs`, `ipairs`, `unpack`,
//! `table.insert` and the `redis` helpers in Lua. When a script tail-calls one
//! (`return pairs(x)`), Lua 5.1 replaces the script's frame with the wrapper's, so
//! the wrapper's error would name no script line (Redis, calling its C builtins, says
//! `user_script:1: ...` and `on @user_script:1.`). Two remedies, both here:
//!
//! - `keep_frames`: a compiled chunk's tail calls into a global (`return next(t)`) or
//!   a field of one (`return table.insert(t, v)`, `return redis.setresp(4)`) become
//!   plain calls. Lua 5.1 always follows a tail call with `RETURN A 0`, so turning
//!   `OP_TAILCALL` into `OP_CALL` (the same operands) returns the same values; the
//!   callee is a builtin or a library function (the sandbox lets scripts create no
//!   global), so no deep tail recursion needs the reused frame. Lua's own loader
//!   checks the patched code (`luaG_checkcode`).
//! - `wrapper_caller`: for an error a wrapper's builtin raised (`shardis:<line>:`
//!   first), the position of the frame that called the wrapper, as Lua gives for a C
//!   builtin the script called itself; the error handlers (the run's and the
//!   script's own `pcall`) put it in place at raise time.

use mlua::{ChunkMode, Function, Lua, Table};

const OP_GETGLOBAL: u32 = 5;
const OP_GETTABLE: u32 = 6;
const OP_CALL: u32 = 28;
const OP_TAILCALL: u32 = 29;

/// `f` (just compiled) with its tail calls into globals made plain calls, in every
/// nested function too; `f` itself when its bytecode is not the expected Lua 5.1
/// layout.
pub(super) fn keep_frames(lua: &Lua, f: Function, env: &Table) -> Function {
    let mut code = f.dump(false);
    if patch_chunk(&mut code).is_none_or(|patched| patched == 0) {
        return f;
    }
    lua.load(&code[..]).set_mode(ChunkMode::Binary).set_environment(env.clone()).into_function().unwrap_or(f)
}

/// Patches a dumped chunk in place; how many tail calls changed. None: not a Lua
/// 5.1 chunk as this build writes them (little-endian, 4-byte int, 8-byte size_t).
fn patch_chunk(b: &mut [u8]) -> Option<usize> {
    const HEADER: [u8; 12] = [0x1b, b'L', b'u', b'a', 0x51, 0, 1, 4, 8, 4, 8, 0];
    if b.get(..12)? != HEADER {
        return None;
    }
    let mut r = Reader { b, pos: 12, patched: 0 };
    r.function()?;
    Some(r.patched)
}

struct Reader<'a> {
    b: &'a mut [u8],
    pos: usize,
    patched: usize,
}

impl Reader<'_> {
    fn skip(&mut self, n: usize) -> Option<()> {
        self.pos = self.pos.checked_add(n).filter(|&p| p <= self.b.len())?;
        Some(())
    }

    fn int(&mut self) -> Option<usize> {
        let v = u32::from_le_bytes(self.b.get(self.pos..self.pos + 4)?.try_into().ok()?);
        self.skip(4)?;
        Some(v as usize)
    }

    fn string(&mut self) -> Option<()> {
        let n = u64::from_le_bytes(self.b.get(self.pos..self.pos + 8)?.try_into().ok()?);
        self.skip(8)?;
        self.skip(usize::try_from(n).ok()?)
    }

    /// One function (ldump.c's DumpFunction): header, code, constants, nested
    /// functions, debug info.
    fn function(&mut self) -> Option<()> {
        self.string()?; // source
        self.skip(4 + 4 + 4)?; // linedefined, lastlinedefined, nups/params/vararg/stack
        let n = self.int()?;
        let start = self.pos;
        self.skip(n.checked_mul(4)?)?;
        let code = &mut self.b[start..self.pos];
        self.patched += patch_code(code);
        for _ in 0..self.int()? {
            let tag = *self.b.get(self.pos)?;
            self.skip(1)?;
            match tag {
                0 => {}
                1 => self.skip(1)?,
                3 => self.skip(8)?,
                4 => self.string()?,
                _ => return None,
            }
        }
        for _ in 0..self.int()? {
            self.function()?;
        }
        let lines = self.int()?;
        self.skip(lines.checked_mul(4)?)?;
        for _ in 0..self.int()? {
            self.string()?;
            self.skip(8)?;
        }
        for _ in 0..self.int()? {
            self.string()?;
        }
        Some(())
    }
}

/// Turns each `TAILCALL A` whose function register was last loaded from a global, or
/// from a constant field of a table loaded from a global, into `CALL A`.
fn patch_code(code: &mut [u8]) -> usize {
    let at = |code: &[u8], pc: usize| u32::from_le_bytes(code[pc * 4..pc * 4 + 4].try_into().unwrap_or_default());
    let n = code.len() / 4;
    let mut patched = 0;
    for pc in 0..n {
        let ins = at(code, pc);
        if ins & 0x3f != OP_TAILCALL {
            continue;
        }
        let target = (ins >> 6) & 0xff;
        if global_loaded(code, pc, target, &at) {
            let call = (ins & !0x3f) | OP_CALL;
            code[pc * 4..pc * 4 + 4].copy_from_slice(&call.to_le_bytes());
            patched += 1;
        }
    }
    patched
}

/// Was register `reg` last written (before `pc`, reading back) by `GETGLOBAL`, maybe
/// through `GETTABLE reg reg K`s? Any other write to it, or a write of a range that
/// may cover it, says no.
fn global_loaded(code: &[u8], pc: usize, reg: u32, at: &impl Fn(&[u8], usize) -> u32) -> bool {
    for j in (0..pc).rev() {
        let ins = at(code, j);
        let (op, a, b, c) = (ins & 0x3f, (ins >> 6) & 0xff, ins >> 23, (ins >> 14) & 0x1ff);
        match op {
            OP_GETGLOBAL if a == reg => return true,
            // A field with a constant key of the table in the same register.
            OP_GETTABLE if a == reg && b == reg && c & 0x100 != 0 => continue,
            // MOVE, LOADK, LOADBOOL, GETUPVAL, GETTABLE, NEWTABLE, arithmetic, NOT,
            // UNM, LEN, CONCAT, TESTSET, CLOSURE: write R(A) only.
            0..=2 | 4 | 6 | 10 | 12..=21 | 27 | 36 if a == reg => return false,
            // LOADNIL, SELF, CALL, FORLOOP, FORPREP, TFORLOOP, VARARG write from R(A) up.
            3 | 11 | 28 | 31..=33 | 37 if a <= reg => return false,
            _ => {}
        }
    }
    false
}

/// `raw.wrapper_caller()`, called by an error handler: the position (`short_src`,
/// line) of the frame that called the sandbox wrapper whose builtin raised the error,
/// or nothing when that caller is not the script's code (a C function such as
/// `pcall`, or a tail call).
pub(super) fn install_wrapper_caller(lua: &Lua, raw: &Table) -> mlua::Result<()> {
    let f = lua.create_function(|lua, ()| {
        // From level 1 (0 is this function): the handler's prelude frames, the
        // raising C function (the builtin, or `error`), the wrapper's prelude frames,
        // then its caller.
        let mut phase = 0;
        for level in 1..64 {
            let Some(d) = lua.inspect_stack(level) else { break };
            let src = d.source();
            let prelude = src.what == "Lua" && src.source.as_deref() == Some("=shardis");
            match phase {
                0 if prelude || src.what == "tail" => continue,
                0 | 1 if src.what == "C" => phase = 1,
                1 | 2 if prelude => phase = 2,
                2 if src.what == "Lua" || src.what == "main" => {
                    let line = d.curr_line();
                    return Ok((src.short_src.map(|s| s.into_owned()), (line > 0).then_some(line)));
                }
                _ => break,
            }
        }
        Ok((None, None))
    })?;
    raw.raw_set("wrapper_caller", f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lua: &Lua, src: &str) -> mlua::Result<String> {
        let f = lua.load(src).set_name("@t").into_function()?;
        let f = keep_frames(lua, f, &lua.globals());
        f.call::<String>(())
    }

    #[test]
    fn tail_calls_into_globals_keep_the_callers_line() {
        let lua = Lua::new();
        lua.load("function w(x) error('bad', 2) end").exec().unwrap();
        // A tail call into a global: the caller's frame stays, so level 3 names it.
        let e = run(&lua, "local function g() return w(1) end\nreturn g()").unwrap_err().to_string();
        assert!(e.contains("t:1: bad"), "{e}");
        // A field of a global: the same.
        lua.load("lib = {w = w}").exec().unwrap();
        let e = run(&lua, "\nreturn (function() return lib.w(1) end)()").unwrap_err().to_string();
        assert!(e.contains("t:2: bad"), "{e}");
        // Results are unchanged, multiple ones included.
        assert_eq!(run(&lua, "return string.format('%d-%s', 4, select(2, 'a', 'b'))").unwrap(), "4-b");
        assert_eq!(run(&lua, "return select('#', unpack({1, 2, 3})) .. ''").unwrap(), "3");
    }

    #[test]
    fn tail_recursion_through_locals_stays_a_tail_call() {
        let lua = Lua::new();
        let src = "local function loop(n) if n == 0 then return 'done' end return loop(n - 1) end\n\
                   return loop(1000000)";
        assert_eq!(run(&lua, src).unwrap(), "done");
    }
}
