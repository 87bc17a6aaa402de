//! The `cjson` library Redis bundles (lua-cjson 2.1): `cjson.encode`, `cjson.decode`
//! and `cjson.null`, with lua-cjson's texts: decoding reads one token at a time and a
//! syntax error names what was expected and the token found (`T_NUMBER`, `T_END`, or
//! the tokenizer's own complaint: `invalid token`, `invalid number`, ...), at the
//! 1-based byte position of that token, as `luaL_error` raises it (the calling
//! script's line first, see `at_caller`).

use super::libs::fmt_g;
use super::{at_caller, check_string};
use mlua::{LightUserData, Lua, MultiValue, Table, Value};
use std::cell::Cell;
use std::rc::Rc;

/// lua-cjson's default `encode_max_depth` and `decode_max_depth`.
const MAX_DEPTH: i64 = 1000;

/// The settings lua-cjson keeps per Lua state, changed by its configuration functions
/// (`cjson.encode_max_depth(n)` ...), which a script may call: they last, as in Redis,
/// until changed again (on this shard's state).
struct Settings {
    encode_max_depth: Cell<i64>,
    decode_max_depth: Cell<i64>,
    /// `encode_invalid_numbers`: 0 off (an error), 1 on (`nan`, `inf`), 2 `null`.
    invalid_numbers: Cell<u8>,
    /// `encode_keep_buffer`: only reported (the buffer is not kept either way here).
    keep_buffer: Cell<bool>,
}

/// The `cjson` table: `encode`, `decode`, `null`, and the configuration functions
/// `encode_max_depth`, `decode_max_depth`, `encode_invalid_numbers`, `encode_keep_buffer`.
pub fn cjson_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let cfg = Rc::new(Settings {
        encode_max_depth: Cell::new(MAX_DEPTH),
        decode_max_depth: Cell::new(MAX_DEPTH),
        invalid_numbers: Cell::new(0),
        keep_buffer: Cell::new(true),
    });
    t.raw_set("null", Value::LightUserData(LightUserData(std::ptr::null_mut())))?;
    let c = cfg.clone();
    t.raw_set(
        "encode",
        lua.create_function(move |lua, args: MultiValue| {
            one_argument(lua, &args)?;
            let mut out = Vec::new();
            encode(&mut out, &args[0], 0, &c).map_err(|m| at_caller(lua, mlua::Error::RuntimeError(m)))?;
            lua.create_string(&out)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode",
        lua.create_function(move |lua, args: MultiValue| {
            one_argument(lua, &args)?;
            let s = check_string(lua, &args, 0, "decode")?;
            let b = s.as_bytes();
            decode(lua, &b, c.decode_max_depth.get()).map_err(|e| at_caller(lua, e))
        })?,
    )?;
    for (name, encode) in [("encode_max_depth", true), ("decode_max_depth", false)] {
        let c = cfg.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let setting = if encode { &c.encode_max_depth } else { &c.decode_max_depth };
                integer_option(lua, &args, setting, 1, i32::MAX as i64)
            })?,
        )?;
    }
    let c = cfg.clone();
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, args: MultiValue| {
            let v = enum_option(lua, &args, c.invalid_numbers.get(), &["off", "on", "null"])?;
            c.invalid_numbers.set(v);
            Ok(if v == 2 { Value::String(lua.create_string("null")?) } else { Value::Boolean(v == 1) })
        })?,
    )?;
    let c = cfg;
    t.raw_set(
        "encode_keep_buffer",
        lua.create_function(move |lua, args: MultiValue| {
            let v = enum_option(lua, &args, u8::from(c.keep_buffer.get()), &["off", "on"])?;
            c.keep_buffer.set(v == 1);
            Ok(v == 1)
        })?,
    )?;
    Ok(t)
}

/// lua-cjson's `json_arg_init` (at most `max` arguments) and `json_integer_option`:
/// no argument (or nil) reads the setting, an integer in `min..=max` sets it.
fn integer_option(lua: &Lua, args: &MultiValue, setting: &Cell<i64>, min: i64, max: i64) -> mlua::Result<i64> {
    at_most(lua, args, 1)?;
    let bad = |m: String| at_caller(lua, mlua::Error::RuntimeError(format!("bad argument #1 to '?' ({m})")));
    match args.front() {
        None | Some(Value::Nil) => {}
        Some(v) => {
            let n = match v {
                Value::Integer(i) => *i,
                Value::Number(n) => *n as i64,
                Value::String(s) => match s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()) {
                    Some(n) => n as i64,
                    None => return Err(bad(format!("number expected, got {}", type_name(v)))),
                },
                other => return Err(bad(format!("number expected, got {}", type_name(other)))),
            };
            if !(min..=max).contains(&n) {
                return Err(bad(format!("expected integer between {min} and {max}")));
            }
            setting.set(n);
        }
    }
    Ok(setting.get())
}

/// lua-cjson's `json_enum_option` with a boolean: true/false, or one of `options` by
/// name; no argument (or nil) keeps `now`. The new value.
fn enum_option(lua: &Lua, args: &MultiValue, now: u8, options: &[&str]) -> mlua::Result<u8> {
    at_most(lua, args, 1)?;
    match args.front() {
        None | Some(Value::Nil) => Ok(now),
        Some(Value::Boolean(b)) => Ok(u8::from(*b)),
        Some(Value::String(s)) => match options.iter().position(|o| s.as_bytes() == o.as_bytes()) {
            Some(i) => Ok(i as u8),
            None => Err(at_caller(
                lua,
                mlua::Error::RuntimeError(format!("bad argument #1 to '?' (invalid option '{}')", s.to_string_lossy())),
            )),
        },
        Some(other) => Err(at_caller(
            lua,
            mlua::Error::RuntimeError(format!("bad argument #1 to '?' (string expected, got {})", type_name(other))),
        )),
    }
}

/// `json_arg_init`'s check: "expected at most N argument(s)".
fn at_most(lua: &Lua, args: &MultiValue, n: usize) -> mlua::Result<()> {
    if args.len() <= n {
        return Ok(());
    }
    let s = if n == 1 { "" } else { "s" };
    Err(at_caller(
        lua,
        mlua::Error::RuntimeError(format!("bad argument #{} to '?' (expected at most {n} argument{s})", n + 1)),
    ))
}

/// Lua's name of a value's type, as `luaL_typerror` writes it.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// `luaL_argcheck(l, lua_gettop(l) == 1, 1, "expected 1 argument")`.
fn one_argument(lua: &Lua, args: &MultiValue) -> mlua::Result<()> {
    if args.len() == 1 {
        return Ok(());
    }
    Err(at_caller(lua, mlua::Error::RuntimeError("bad argument #1 to '?' (expected 1 argument)".into())))
}

fn encode(out: &mut Vec<u8>, v: &Value, depth: i64, cfg: &Settings) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) => {
            match cfg.invalid_numbers.get() {
                _ if n.is_finite() => {}
                0 => return Err("Cannot serialise number: must not be NaN or Inf".into()),
                // "on": NaN as `nan` (never `-nan`), infinities as printf writes them.
                1 if n.is_nan() => {
                    out.extend_from_slice(b"nan");
                    return Ok(());
                }
                1 => {}
                _ => {
                    out.extend_from_slice(b"null");
                    return Ok(());
                }
            }
            out.extend_from_slice(fmt_g(*n, 14).as_bytes());
        }
        Value::String(s) => encode_str(out, &s.as_bytes()),
        Value::Table(t) => {
            if depth >= cfg.encode_max_depth.get() {
                return Err(format!("Cannot serialise, excessive nesting ({})", depth + 1));
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
                    encode(out, &e, depth + 1, cfg)?;
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
                    encode(out, &e, depth + 1, cfg)?;
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

/// A JSON token (lua-cjson's `json_token_type_t`); `Error` carries the tokenizer's
/// complaint, shown in place of a token name.
enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Number(_) => "T_NUMBER",
            Token::Boolean(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(what) => what,
        }
    }
}

/// Decodes `b` as lua-cjson does: objects and arrays become tables, `null` becomes
/// `cjson.null`; numbers are read as C's `strtod` reads them (so `nan`, `inf` and hex
/// pass, as with lua-cjson's default `decode_invalid_numbers`).
fn decode(lua: &Lua, b: &[u8], max_depth: i64) -> mlua::Result<Value> {
    if b.len() >= 2 && (b[0] == 0 || b[1] == 0) {
        return Err(mlua::Error::runtime("JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut p = Json { lua, b, i: 0, depth: 0, max_depth: max_depth as usize };
    let (at, t) = p.next();
    let v = p.value(at, t)?;
    let (at, t) = p.next();
    if !matches!(t, Token::End) {
        return Err(Json::unexpected("the end", at, &t));
    }
    Ok(v)
}

struct Json<'a> {
    lua: &'a Lua,
    b: &'a [u8],
    i: usize,
    depth: usize,
    max_depth: usize,
}

impl Json<'_> {
    /// lua-cjson's `json_throw_parse_error`.
    fn unexpected(expected: &str, at: usize, found: &Token) -> mlua::Error {
        mlua::Error::RuntimeError(format!("Expected {expected} but found {} at character {}", found.name(), at + 1))
    }

    /// The byte at `i`; the end of the input reads as NUL, which ends the text there
    /// (lua-cjson works on C strings).
    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    /// The next token and where it starts (where the tokenizer stopped, for an error).
    fn next(&mut self) -> (usize, Token) {
        while matches!(self.at(self.i), b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
        let start = self.i;
        let single = match self.at(start) {
            0 => return (start, Token::End),
            b'{' => Token::ObjBegin,
            b'}' => Token::ObjEnd,
            b'[' => Token::ArrBegin,
            b']' => Token::ArrEnd,
            b':' => Token::Colon,
            b',' => Token::Comma,
            b'"' => return self.string(),
            b'-' | b'0'..=b'9' => return self.number(),
            b't' | b'f' | b'n' | b'i' | b'I' | b'N' | b'+' => {
                let rest = &self.b[start..];
                for (word, t) in
                    [(&b"true"[..], Token::Boolean(true)), (b"false", Token::Boolean(false)), (b"null", Token::Null)]
                {
                    if rest.starts_with(word) {
                        self.i += word.len();
                        return (start, t);
                    }
                }
                if invalid_number(rest) {
                    return self.number();
                }
                return (start, Token::Error("invalid token"));
            }
            _ => return (start, Token::Error("invalid token")),
        };
        self.i += 1;
        (start, single)
    }

    fn number(&mut self) -> (usize, Token) {
        let start = self.i;
        match strtod(&self.b[start..]) {
            Some((n, len)) => {
                self.i += len;
                (start, Token::Number(n))
            }
            None => (start, Token::Error("invalid number")),
        }
    }

    /// A string token (the opening quote at `self.i`); an error's position is where
    /// the tokenizer stopped inside it.
    fn string(&mut self) -> (usize, Token) {
        let start = self.i;
        self.i += 1;
        let mut s = Vec::new();
        loop {
            let c = self.at(self.i);
            match c {
                b'"' => break,
                0 => return (self.i, Token::Error("unexpected end of string")),
                b'\\' => {
                    let e = match self.at(self.i + 1) {
                        e @ (b'"' | b'\\' | b'/') => e,
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => match self.unicode_escape(&mut s) {
                            Some(len) => {
                                self.i += len;
                                continue;
                            }
                            None => return (self.i, Token::Error("invalid unicode escape code")),
                        },
                        _ => return (self.i, Token::Error("invalid escape code")),
                    };
                    s.push(e);
                    self.i += 2;
                }
                c => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
        self.i += 1;
        (start, Token::Str(s))
    }

    /// `\uXXXX` (or a surrogate pair of them) at `self.i`, appended as UTF-8: the
    /// escape's length, or None when it is not a valid one.
    fn unicode_escape(&self, s: &mut Vec<u8>) -> Option<usize> {
        let mut cp = self.hex4(self.i + 2)?;
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            // A high surrogate, then a `\u` low one.
            if cp & 0x400 != 0 || self.at(self.i + 6) != b'\\' || self.at(self.i + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.i + 8)?;
            if low & 0xFC00 != 0xDC00 {
                return None;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        // lua-cjson's codepoint_to_utf8 (no check beyond the surrogates above).
        let cont = |shift: u32| 0x80 | ((cp >> shift) & 0x3F) as u8;
        match cp {
            0..=0x7F => s.push(cp as u8),
            0x80..=0x7FF => s.extend_from_slice(&[0xC0 | (cp >> 6) as u8, cont(0)]),
            0x800..=0xFFFF => s.extend_from_slice(&[0xE0 | (cp >> 12) as u8, cont(6), cont(0)]),
            _ => s.extend_from_slice(&[0xF0 | (cp >> 18) as u8, cont(12), cont(6), cont(0)]),
        }
        Some(len)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let mut v = 0;
        for k in 0..4 {
            v = v << 4 | (self.at(at + k) as char).to_digit(16)?;
        }
        Some(v)
    }

    /// A value starting with token `t` (at `at`).
    fn value(&mut self, at: usize, t: Token) -> mlua::Result<Value> {
        Ok(match t {
            Token::Str(s) => Value::String(self.lua.create_string(&s)?),
            Token::Number(n) => Value::Number(n),
            Token::Boolean(v) => Value::Boolean(v),
            Token::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
            Token::ObjBegin => Value::Table(self.object()?),
            Token::ArrBegin => Value::Table(self.array()?),
            other => return Err(Json::unexpected("value", at, &other)),
        })
    }

    /// lua-cjson's `json_decode_descend`: its position has no `+ 1`.
    fn descend(&mut self) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(mlua::Error::RuntimeError(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.i
            )));
        }
        Ok(())
    }

    fn object(&mut self) -> mlua::Result<Table> {
        self.descend()?;
        let t = self.lua.create_table()?;
        let (mut at, mut tok) = self.next();
        if matches!(tok, Token::ObjEnd) {
            self.depth -= 1;
            return Ok(t);
        }
        loop {
            let Token::Str(k) = tok else { return Err(Json::unexpected("object key string", at, &tok)) };
            let (at2, colon) = self.next();
            if !matches!(colon, Token::Colon) {
                return Err(Json::unexpected("colon", at2, &colon));
            }
            let (at3, first) = self.next();
            let v = self.value(at3, first)?;
            t.raw_set(self.lua.create_string(&k)?, v)?;
            let (at4, sep) = self.next();
            match sep {
                Token::ObjEnd => break,
                Token::Comma => {}
                other => return Err(Json::unexpected("comma or object end", at4, &other)),
            }
            (at, tok) = self.next();
        }
        self.depth -= 1;
        Ok(t)
    }

    fn array(&mut self) -> mlua::Result<Table> {
        self.descend()?;
        let t = self.lua.create_table()?;
        let (mut at, mut tok) = self.next();
        if matches!(tok, Token::ArrEnd) {
            self.depth -= 1;
            return Ok(t);
        }
        for n in 1.. {
            let v = self.value(at, tok)?;
            t.raw_set(n, v)?;
            let (at2, sep) = self.next();
            match sep {
                Token::ArrEnd => break,
                Token::Comma => {}
                other => return Err(Json::unexpected("comma or array end", at2, &other)),
            }
            (at, tok) = self.next();
        }
        self.depth -= 1;
        Ok(t)
    }
}

/// lua-cjson's `json_is_invalid_number`: JSON does not allow these, `strtod` does
/// (a leading `+`, hex, leading zeros, `inf`, `nan`).
fn invalid_number(b: &[u8]) -> bool {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    if at(0) == b'+' {
        return true;
    }
    let p = usize::from(at(0) == b'-');
    if at(p) == b'0' {
        let c2 = at(p + 1);
        return c2 | 0x20 == b'x' || c2.is_ascii_digit();
    }
    if at(p) <= b'9' {
        return false;
    }
    let word = |w: &[u8]| b.len() >= p + 3 && b[p..p + 3].eq_ignore_ascii_case(w);
    word(b"inf") || word(b"nan")
}

/// The longest prefix of `b` that C's `strtod` reads (no leading blanks: the
/// tokenizer skipped them): its value and length, or None when it reads nothing.
pub fn strtod(b: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut i = 0;
    let negative = match at(0) {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if negative { -v } else { v };
    let rest = &b[i.min(b.len())..];
    let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
    if starts(b"infinity") {
        return Some((sign(f64::INFINITY), i + 8));
    }
    if starts(b"inf") {
        return Some((sign(f64::INFINITY), i + 3));
    }
    if starts(b"nan") {
        let mut len = i + 3;
        // `nan(chars)`.
        if at(len) == b'(' {
            let mut j = len + 1;
            while at(j).is_ascii_alphanumeric() || at(j) == b'_' {
                j += 1;
            }
            if at(j) == b')' {
                len = j + 1;
            }
        }
        return Some((sign(f64::NAN), len));
    }
    if at(i) == b'0' && at(i + 1) | 0x20 == b'x' {
        if let Some((v, len)) = hex_float(&b[i + 2..]) {
            return Some((sign(v), i + 2 + len));
        }
        // "0x" with no hex digits: strtod reads the "0".
        return Some((sign(0.0), i + 1));
    }
    let digits = |mut j: usize| {
        while at(j).is_ascii_digit() {
            j += 1;
        }
        j
    };
    let int_end = digits(i);
    let (mut end, mut frac) = (int_end, i..i);
    if at(end) == b'.' {
        frac = end + 1..digits(end + 1);
        end = frac.end;
    }
    if int_end == i && frac.is_empty() {
        return None;
    }
    let mut exp = end..end;
    if at(end) | 0x20 == b'e' {
        let mut j = end + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        let exp_end = digits(j);
        if exp_end > j {
            exp = end + 1..exp_end;
            end = exp_end;
        }
    }
    // Rust's parser wants digits on both sides of the point.
    let text = |r: std::ops::Range<usize>| std::str::from_utf8(&b[r]).unwrap_or("");
    let int = if int_end > i { text(i..int_end) } else { "0" };
    let frac = if frac.is_empty() { "0" } else { text(frac) };
    let exp = if exp.is_empty() { "0" } else { text(exp) };
    let v: f64 = format!("{int}.{frac}e{exp}").parse().ok()?;
    Some((sign(v), end))
}

/// The hex digits (with an optional point and `p` exponent) after `0x`.
fn hex_float(b: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let (mut v, mut i, mut any, mut scale) = (0f64, 0, false, 0i32);
    while let Some(d) = (at(i) as char).to_digit(16) {
        v = v * 16.0 + d as f64;
        i += 1;
        any = true;
    }
    if at(i) == b'.' {
        i += 1;
        while let Some(d) = (at(i) as char).to_digit(16) {
            v = v * 16.0 + d as f64;
            scale -= 4;
            i += 1;
            any = true;
        }
    }
    if !any {
        return None;
    }
    if at(i) | 0x20 == b'p' {
        let mut j = i + 1;
        let neg = at(j) == b'-';
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        let start = j;
        let mut e: i32 = 0;
        while at(j).is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add((at(j) - b'0') as i32);
            j += 1;
        }
        if j > start {
            scale = scale.saturating_add(if neg { -e } else { e });
            i = j;
        }
    }
    Some((v * 2f64.powi(scale), i))
}

#[cfg(test)]
mod tests {
    use super::strtod;

    #[test]
    fn reads_numbers_as_strtod_does() {
        assert_eq!(strtod(b"12abc"), Some((12.0, 2)));
        assert_eq!(strtod(b"-1.5e3,"), Some((-1500.0, 6)));
        assert_eq!(strtod(b"1e"), Some((1.0, 1)));
        assert_eq!(strtod(b"1.]"), Some((1.0, 2)));
        assert_eq!(strtod(b".5"), Some((0.5, 2)));
        assert_eq!(strtod(b"0x1F"), Some((31.0, 4)));
        assert_eq!(strtod(b"0x"), Some((0.0, 1)));
        assert_eq!(strtod(b"1e999"), Some((f64::INFINITY, 5)));
        assert_eq!(strtod(b"-Infinity"), Some((f64::NEG_INFINITY, 9)));
        assert!(strtod(b"nan]").is_some_and(|(v, n)| v.is_nan() && n == 3));
        assert_eq!(strtod(b"-"), None);
        assert_eq!(strtod(b"."), None);
        assert_eq!(strtod(b"x"), None);
    }
}
