//! Conversions between Lua values and RESP, as Redis 7.0 does them
//! (`script_lua.c`): a command's reply becomes a Lua value for `redis.call`, and a
//! script's return value becomes the client's reply.

use crate::resp::ReplyWriter;
use mlua::{Lua, Table, Value};

/// `{err = msg}`, the value `redis.pcall` returns for a failed call.
pub fn error_table(lua: &Lua, msg: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", msg)?;
    Ok(Value::Table(t))
}

/// Parses one RESP reply into a Lua value. The flag says it was an error reply.
/// RESP2 (the script's default): nil bulk/array -> false, status -> {ok=}, error ->
/// {err=}. RESP3 adds null -> nil, booleans, {double=}, {big_number=}, {map=}, {set=}.
pub fn reply_to_lua(lua: &Lua, buf: &[u8], resp3: bool) -> mlua::Result<(Value, bool)> {
    let mut p = Parser { lua, buf, i: 0, resp3 };
    let first = buf.first().copied();
    let v = p.value()?;
    Ok((v, first == Some(b'-') || first == Some(b'!')))
}

struct Parser<'a> {
    lua: &'a Lua,
    buf: &'a [u8],
    i: usize,
    resp3: bool,
}

impl Parser<'_> {
    fn line(&mut self) -> &[u8] {
        let start = self.i;
        let end = self.buf[start..].windows(2).position(|w| w == b"\r\n").map_or(self.buf.len(), |p| start + p);
        self.i = (end + 2).min(self.buf.len());
        &self.buf[start..end]
    }

    fn int(&mut self) -> i64 {
        crate::util::num::parse_i64(self.line()).unwrap_or(0)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let start = self.i.min(self.buf.len());
        let end = (start + n).min(self.buf.len());
        self.i = (end + 2).min(self.buf.len());
        &self.buf[start..end]
    }

    fn keyed(&self, key: &str, v: Value) -> mlua::Result<Value> {
        let t = self.lua.create_table()?;
        t.raw_set(key, v)?;
        Ok(Value::Table(t))
    }

    fn value(&mut self) -> mlua::Result<Value> {
        let Some(&kind) = self.buf.get(self.i) else { return Ok(Value::Nil) };
        self.i += 1;
        let lua = self.lua;
        Ok(match kind {
            b':' => Value::Number(self.int() as f64),
            b'+' => {
                let s = lua.create_string(self.line())?;
                self.keyed("ok", Value::String(s))?
            }
            b'-' => {
                let s = lua.create_string(self.line())?;
                self.keyed("err", Value::String(s))?
            }
            b'$' | b'=' | b'!' => {
                let n = self.int();
                if n < 0 {
                    return Ok(Value::Boolean(false));
                }
                let b = self.bytes(n as usize);
                if kind == b'=' && b.len() >= 4 {
                    // {verbatim_string = {format = 'txt', string = '...'}}, as Redis 7.0
                    // gives a RESP3 script (a RESP2 one sees a bulk string: the command
                    // replied in RESP2).
                    let (format, text) = (lua.create_string(&b[..3])?, lua.create_string(&b[4..])?);
                    let inner = lua.create_table()?;
                    inner.raw_set("string", text)?;
                    inner.raw_set("format", format)?;
                    return self.keyed("verbatim_string", Value::Table(inner));
                }
                let s = lua.create_string(b)?;
                if kind == b'!' { self.keyed("err", Value::String(s))? } else { Value::String(s) }
            }
            // A push reply Redis's conversion does not know: nil (only DEBUG PROTOCOL
            // PUSH, from a script, writes one).
            b'>' => Value::Nil,
            b'*' | b'~' => {
                let n = self.int();
                if n < 0 {
                    return Ok(Value::Boolean(false));
                }
                let t = lua.create_table_with_capacity(if kind == b'~' { 0 } else { n as usize }, 0)?;
                for j in 0..n {
                    let v = self.value()?;
                    if kind == b'~' {
                        t.raw_set(v, true)?;
                    } else {
                        t.raw_set(j + 1, v)?;
                    }
                }
                if kind == b'~' { self.keyed("set", Value::Table(t))? } else { Value::Table(t) }
            }
            b'%' => {
                let n = self.int();
                let t = lua.create_table()?;
                for _ in 0..n.max(0) {
                    let k = self.value()?;
                    let v = self.value()?;
                    t.raw_set(k, v)?;
                }
                self.keyed("map", Value::Table(t))?
            }
            b'_' => {
                self.line();
                if self.resp3 { Value::Nil } else { Value::Boolean(false) }
            }
            b'#' => Value::Boolean(self.line() == b"t"),
            b',' => {
                let l = self.line();
                let d = std::str::from_utf8(l).ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
                self.keyed("double", Value::Number(d))?
            }
            b'(' => {
                let s = lua.create_string(self.line())?;
                self.keyed("big_number", Value::String(s))?
            }
            // Attributes are not replies: skipped, as Redis's Lua conversion does.
            b'|' => {
                let n = self.int();
                for _ in 0..n.max(0) * 2 {
                    self.value()?;
                }
                return self.value();
            }
            _ => Value::Nil,
        })
    }
}

/// Writes a script's result as the client's reply (`luaReplyToRedisReply`). `resp3`
/// is the script's `redis.setresp` choice, which decides how booleans come out. The
/// error replies written that the stats have not counted yet (an `error_reply`, not a
/// `redis.pcall`'s) are added to `errs`, for the caller to count.
pub fn lua_to_reply(v: &Value, out: &mut ReplyWriter, resp3: bool, depth: usize, errs: &mut Vec<String>) {
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if resp3 {
                out.bool(*b)
            } else if *b {
                out.int(1)
            } else {
                out.null()
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(truncate(*n)),
        Value::Table(t) => table_reply(t, out, resp3, depth, errs),
        _ => out.null(),
    }
}

/// Lua numbers become integers by C's truncation toward zero; what does not fit (NaN,
/// infinities, beyond ±2^63) becomes i64::MIN, as x86's conversion gives Redis.
fn truncate(n: f64) -> i64 {
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) { n as i64 } else { i64::MIN }
}

fn table_reply(t: &Table, out: &mut ReplyWriter, resp3: bool, depth: usize, errs: &mut Vec<String>) {
    if depth > 1000 {
        out.error("ERR reached lua stack limit");
        errs.push("ERR reached lua stack limit".into());
        return;
    }
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        let msg = String::from_utf8_lossy(&e.as_bytes()).into_owned();
        out.error(&msg);
        if !counted_already(t) {
            errs.push(msg);
        }
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        let msg = String::from_utf8_lossy(&s.as_bytes()).into_owned();
        out.simple(&msg);
        return;
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return out.double(d),
        Ok(Value::Integer(d)) => return out.double(d as f64),
        _ => {}
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("big_number") {
        // As Redis: CR and LF become spaces, so the number stays one protocol line.
        let b: Vec<u8> = s.as_bytes().iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }).collect();
        if out.proto == crate::resp::Proto::Resp3 {
            out.raw(b"(");
            out.raw(&b);
            out.raw(b"\r\n");
        } else {
            out.bulk(&b);
        }
        return;
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string")
        && let (Ok(Value::String(format)), Ok(Value::String(text))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
    {
        out.verbatim(&verbatim_format(&format.as_bytes()), &text.as_bytes());
        return;
    }
    // Each pass holds one element at a time: a Lua value held on the Rust side takes a
    // slot of mlua's reference stack (about 8000 in all), so collecting a large table's
    // elements first would exhaust it and panic the shard.
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        out.map(m.pairs::<Value, Value>().filter(Result::is_ok).count());
        for (k, v) in m.pairs::<Value, Value>().filter_map(Result::ok) {
            lua_to_reply(&k, out, resp3, depth + 1, errs);
            lua_to_reply(&v, out, resp3, depth + 1, errs);
        }
        return;
    }
    if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
        out.set(s.pairs::<Value, Value>().filter(Result::is_ok).count());
        for (k, _) in s.pairs::<Value, Value>().filter_map(Result::ok) {
            lua_to_reply(&k, out, resp3, depth + 1, errs);
        }
        return;
    }
    // The array part ends at the first nil, as Redis reads it.
    let len = (1..).take_while(|&i| !matches!(t.raw_get::<Value>(i), Ok(Value::Nil) | Err(_))).count();
    out.array(len);
    for i in 1..=len {
        let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
        lua_to_reply(&v, out, resp3, depth + 1, errs);
    }
}

/// Does the error table `t` carry Redis's mark of an error the stats counted where it
/// arose (`ignore_error_stats_update`, set on a `redis.call`'s or `redis.pcall`'s)?
pub fn counted_already(t: &Table) -> bool {
    !matches!(t.raw_get::<Value>("ignore_error_stats_update"), Ok(Value::Nil | Value::Boolean(false)) | Err(_))
}

/// A verbatim string's format as Redis's `addReplyVerbatim` writes it: the first three
/// bytes, padded with spaces when shorter (up to a NUL, as C reads the Lua string).
fn verbatim_format(f: &[u8]) -> [u8; 3] {
    let f = f.split(|&c| c == 0).next().unwrap_or_default();
    let mut out = [b' '; 3];
    for (o, &c) in out.iter_mut().zip(f) {
        *o = c;
    }
    out
}

/// The error reply for a script that raised `v` (the error handler's table):
/// `<err> script: <name>, on <source>:<line>.` as Redis 7.0 writes it.
pub fn error_from_table(v: &Value, name: &str) -> String {
    let Value::Table(t) = v else {
        return format!("ERR Error running script {name}");
    };
    let err = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        _ => "ERR unknown error".to_string(),
    };
    let err = err.replace(['\r', '\n'], " ");
    match (t.raw_get::<Value>("source"), t.raw_get::<Value>("line")) {
        (Ok(Value::String(src)), Ok(line)) => {
            let line = match line {
                Value::Integer(i) => i,
                Value::Number(n) => n as i64,
                _ => 0,
            };
            format!("{err} script: {name}, on {}:{line}.", src.to_string_lossy())
        }
        _ => format!("{err} script: {name}"),
    }
}
