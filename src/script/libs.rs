//! The libraries Redis adds to its Lua 5.1 sandbox, written here because the vendored
//! Lua does not carry them: `cjson` (encode/decode), `bit` (LuaBitOp), and Redis's
//! deterministic `math.random` (its own rand48, same sequence as redis-server).

use mlua::{LightUserData, Lua, Table, Value};
use std::cell::Cell;

/// Lua's number formatting (`%.<prec>g`), for JSON numbers (14, like Lua's
/// `tostring`) and `redis.call` arguments (17, like Redis 7).
pub fn fmt_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let fixed = format!("{:.*}", (prec as i32 - 1 - exp).max(0) as usize, v);
        trim_zeros(&fixed).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

/// Redis's rand48 (`redisLrand48`), per shard thread, starting from the same
/// unseeded state as redis-server's.
pub struct Rand48(Cell<u64>);

const RAND48_MAX: u64 = i32::MAX as u64;

impl Default for Rand48 {
    fn default() -> Self {
        Rand48(Cell::new(0x1234_ABCD_330E))
    }
}

impl Rand48 {
    fn next(&self) -> u64 {
        let x = (0x5_DEEC_E66Du64.wrapping_mul(self.0.get()).wrapping_add(0xB)) & ((1 << 48) - 1);
        self.0.set(x);
        x >> 17
    }

    fn seed(&self, s: i64) {
        self.0.set(((s as u32 as u64) << 16) | 0x330E);
    }
}

/// Replaces `math.random` / `math.randomseed` with Redis's versions.
pub fn install_random(lua: &Lua, math: &Table) -> mlua::Result<()> {
    let rng = std::rc::Rc::new(Rand48::default());
    let r = rng.clone();
    let random = lua.create_function(move |_, args: mlua::Variadic<f64>| {
        let x = (r.next() % RAND48_MAX) as f64 / RAND48_MAX as f64;
        match args.len() {
            0 => Ok(x),
            1 => {
                let u = args[0].trunc();
                if u < 1.0 {
                    return Err(mlua::Error::runtime("bad argument #1 to 'random' (interval is empty)"));
                }
                Ok((x * u).floor() + 1.0)
            }
            2 => {
                let (l, u) = (args[0].trunc(), args[1].trunc());
                if l > u {
                    return Err(mlua::Error::runtime("bad argument #2 to 'random' (interval is empty)"));
                }
                Ok((x * (u - l + 1.0)).floor() + l)
            }
            _ => Err(mlua::Error::runtime("wrong number of arguments")),
        }
    })?;
    let seed = lua.create_function(move |_, s: f64| {
        rng.seed(s as i64);
        Ok(())
    })?;
    math.raw_set("random", random)?;
    math.raw_set("randomseed", seed)?;
    Ok(())
}

/// LuaBitOp's conversion of a number to 32 bits (modular, rounding like its
/// 2^52+2^51 trick).
fn tobit(v: f64) -> i32 {
    let r = v.round_ties_even();
    (r.rem_euclid(4294967296.0) as u64) as u32 as i32
}

/// The `bit` table (LuaBitOp 1.0, as Redis bundles it).
pub fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", lua.create_function(|_, v: f64| Ok(tobit(v)))?)?;
    t.raw_set("bnot", lua.create_function(|_, v: f64| Ok(!tobit(v)))?)?;
    t.raw_set(
        "band",
        lua.create_function(|_, a: mlua::Variadic<f64>| Ok(a.iter().fold(-1i32, |acc, v| acc & tobit(*v))))?,
    )?;
    t.raw_set(
        "bor",
        lua.create_function(|_, a: mlua::Variadic<f64>| Ok(a.iter().fold(0i32, |acc, v| acc | tobit(*v))))?,
    )?;
    t.raw_set(
        "bxor",
        lua.create_function(|_, a: mlua::Variadic<f64>| Ok(a.iter().fold(0i32, |acc, v| acc ^ tobit(*v))))?,
    )?;
    t.raw_set(
        "lshift",
        lua.create_function(|_, (a, n): (f64, f64)| Ok(((tobit(a) as u32) << (tobit(n) as u32 & 31)) as i32))?,
    )?;
    t.raw_set(
        "rshift",
        lua.create_function(|_, (a, n): (f64, f64)| Ok(((tobit(a) as u32) >> (tobit(n) as u32 & 31)) as i32))?,
    )?;
    t.raw_set("arshift", lua.create_function(|_, (a, n): (f64, f64)| Ok(tobit(a) >> (tobit(n) as u32 & 31)))?)?;
    t.raw_set(
        "rol",
        lua.create_function(|_, (a, n): (f64, f64)| Ok((tobit(a) as u32).rotate_left(tobit(n) as u32 & 31) as i32))?,
    )?;
    t.raw_set(
        "ror",
        lua.create_function(|_, (a, n): (f64, f64)| Ok((tobit(a) as u32).rotate_right(tobit(n) as u32 & 31) as i32))?,
    )?;
    t.raw_set("bswap", lua.create_function(|_, a: f64| Ok((tobit(a) as u32).swap_bytes() as i32))?)?;
    t.raw_set(
        "tohex",
        lua.create_function(|_, (a, n): (f64, Option<f64>)| {
            let mut n = n.map(tobit).unwrap_or(8);
            let upper = n < 0;
            if upper {
                n = -n;
            }
            let n = n.clamp(1, 8) as u32;
            let v = (tobit(a) as u32 as u64) & ((1u64 << (4 * n)) - 1);
            Ok(if upper { format!("{:0w$X}", v, w = n as usize) } else { format!("{:0w$x}", v, w = n as usize) })
        })?,
    )?;
    Ok(t)
}

/// The `cjson` table: `encode`, `decode`, `null`.
pub fn cjson_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("null", Value::LightUserData(LightUserData(std::ptr::null_mut())))?;
    t.raw_set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = Vec::new();
            encode(&mut out, &v, 0).map_err(mlua::Error::runtime)?;
            lua.create_string(&out)
        })?,
    )?;
    t.raw_set(
        "decode",
        lua.create_function(|lua, s: mlua::String| {
            let b = s.as_bytes();
            let mut p = Json { lua, b: &b, i: 0, depth: 0 };
            p.ws();
            let v = p.value()?;
            p.ws();
            if p.i < b.len() {
                return Err(p.err("the end"));
            }
            Ok(v)
        })?,
    )?;
    Ok(t)
}

fn encode(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) => {
            if !n.is_finite() {
                return Err("Cannot serialise number: must not be NaN or Inf".into());
            }
            out.extend_from_slice(fmt_g(*n, 14).as_bytes());
        }
        Value::String(s) => encode_str(out, &s.as_bytes()),
        Value::Table(t) => {
            if depth >= 1000 {
                return Err("Cannot serialise, excessive nesting (1001)".into());
            }
            let (mut max, mut items, mut is_array) = (0usize, 0usize, true);
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, _) = pair.map_err(|e| e.to_string())?;
                items += 1;
                match k {
                    Value::Integer(i) if i >= 1 => max = max.max(i as usize),
                    Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as usize),
                    _ => is_array = false,
                }
            }
            if is_array && items > 0 && max > items * 2 && max > 10 {
                return Err("Cannot serialise table: excessively sparse array".into());
            }
            if is_array && items > 0 {
                out.push(b'[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(b',');
                    }
                    let e: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                    encode(out, &e, depth + 1)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut first = true;
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, e) = pair.map_err(|e| e.to_string())?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match k {
                        Value::String(s) => encode_str(out, &s.as_bytes()),
                        Value::Integer(i) => encode_str(out, i.to_string().as_bytes()),
                        Value::Number(n) => encode_str(out, fmt_g(n, 14).as_bytes()),
                        _ => return Err("Cannot serialise table: table key must be a number or string".into()),
                    }
                    out.push(b':');
                    encode(out, &e, depth + 1)?;
                }
                out.push(b'}');
            }
        }
        other => return Err(format!("Cannot serialise {}: type not supported", other.type_name())),
    }
    Ok(())
}

fn encode_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// A JSON decoder producing Lua values (objects and arrays become tables, `null`
/// becomes `cjson.null`).
struct Json<'a> {
    lua: &'a Lua,
    b: &'a [u8],
    i: usize,
    depth: usize,
}

impl Json<'_> {
    fn err(&self, expected: &str) -> mlua::Error {
        let found = match self.b.get(self.i) {
            None => "T_END".to_string(),
            Some(_) => "invalid token".to_string(),
        };
        mlua::Error::runtime(format!("Expected {expected} but found {found} at character {}", self.i + 1))
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8]) -> bool {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> mlua::Result<Value> {
        if self.depth > 1000 {
            return Err(mlua::Error::runtime(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                self.i + 1
            )));
        }
        match self.b.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                self.depth += 1;
                let t = self.lua.create_table()?;
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(self.err("object key string"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(self.err("colon"));
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value()?;
                    t.raw_set(k, v)?;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(self.err("comma or object end")),
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(t))
            }
            Some(b'[') => {
                self.i += 1;
                self.depth += 1;
                let t = self.lua.create_table()?;
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                let mut n = 1;
                loop {
                    self.ws();
                    let v = self.value()?;
                    t.raw_set(n, v)?;
                    n += 1;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(self.err("comma or array end")),
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(t))
            }
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') if self.lit(b"true") => Ok(Value::Boolean(true)),
            Some(b'f') if self.lit(b"false") => Ok(Value::Boolean(false)),
            Some(b'n') if self.lit(b"null") => Ok(Value::LightUserData(LightUserData(std::ptr::null_mut()))),
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.b.len() && matches!(self.b[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
                match text.parse::<f64>() {
                    Ok(n) => Ok(Value::Number(n)),
                    Err(_) => {
                        self.i = start;
                        Err(self.err("value"))
                    }
                }
            }
            _ => Err(self.err("value")),
        }
    }

    fn string(&mut self) -> mlua::Result<mlua::String> {
        self.i += 1;
        let mut s = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("string end"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(self.err("escape"));
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => s.push(e),
                        b'b' => s.push(8),
                        b'f' => s.push(12),
                        b'n' => s.push(b'\n'),
                        b'r' => s.push(b'\r'),
                        b't' => s.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.b[self.i..].starts_with(b"\\u") {
                                self.i += 2;
                                let lo = self.hex4()?;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut tmp = [0u8; 4];
                            s.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        }
                        _ => return Err(self.err("valid escape")),
                    }
                }
                c => s.push(c),
            }
        }
        self.lua.create_string(&s)
    }

    fn hex4(&mut self) -> mlua::Result<u32> {
        let h = self.b.get(self.i..self.i + 4).and_then(|h| std::str::from_utf8(h).ok());
        let v = h.and_then(|h| u32::from_str_radix(h, 16).ok()).ok_or_else(|| self.err("unicode escape"))?;
        self.i += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_g;

    #[test]
    fn formats_like_printf_g() {
        assert_eq!(fmt_g(0.1, 17), "0.10000000000000001");
        assert_eq!(fmt_g(1e20, 17), "1e+20");
        assert_eq!(fmt_g(1.5, 14), "1.5");
        assert_eq!(fmt_g(100.0, 14), "100");
        assert_eq!(fmt_g(1e-5, 14), "1e-05");
        assert_eq!(fmt_g(123456789012345.0, 14), "1.2345678901234e+14");
    }
}
