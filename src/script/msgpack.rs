//! The `cmsgpack` Lua library as Redis bundles it (lua_cmsgpack 0.4): `pack`,
//! `unpack`, `unpack_one`, `unpack_limit`, with its choices of encoding (the smallest
//! integer form, float32 when exact, `str8` for short strings, a table is an array
//! when its keys are exactly 1..n) so packed bytes equal Redis's.

use mlua::{Lua, MultiValue, Table, Value};

/// Tables nested deeper than this pack as nil, as lua_cmsgpack does.
const MAX_NESTING: usize = 16;

pub fn cmsgpack_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(super::at_caller(
                    lua,
                    mlua::Error::runtime("bad argument #0 to 'pack' (MessagePack pack needs input.)"),
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(&mut out, v, 0).map_err(|e| super::at_caller(lua, e))?;
            }
            lua.create_string(&out)
        })?,
    )?;
    let at = super::at_caller;
    t.raw_set(
        "unpack",
        lua.create_function(move |lua, args: MultiValue| {
            let s = super::check_string(lua, &args, 0, "unpack")?;
            unpack_full(lua, &s.as_bytes(), 0, 0, true).map_err(|e| at(lua, e))
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(move |lua, (s, offset): (mlua::String, Option<i64>)| {
            unpack_full(lua, &s.as_bytes(), 1, offset.unwrap_or(0), false).map_err(|e| at(lua, e))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(move |lua, (s, limit, offset): (mlua::String, i64, Option<i64>)| {
            unpack_full(lua, &s.as_bytes(), limit, offset.unwrap_or(0), false).map_err(|e| at(lua, e))
        })?,
    )?;
    Ok(t)
}

fn encode(out: &mut Vec<u8>, v: &Value, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(out, *i),
        Value::Number(n) => {
            let n = *n;
            if n.is_finite() && (n as i64) as f64 == n {
                encode_int(out, n as i64);
            } else if (n as f32) as f64 == n {
                out.push(0xca);
                out.extend_from_slice(&(n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::String(s) => {
            let b = s.as_bytes();
            let len = b.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MAX_NESTING => encode_table(out, t, depth + 1)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        let u = n as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2147483648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// An array when every key is a positive integer and they are exactly 1..n. Two passes
/// over the table rather than a list of its pairs: every Lua value held on the Rust
/// side takes a slot of mlua's reference stack (about 8000 in all), so a large table's
/// pairs collected at once would exhaust it and panic the shard.
fn encode_table(out: &mut Vec<u8>, t: &Table, depth: usize) -> mlua::Result<()> {
    let (mut count, mut max, mut array) = (0u64, 0f64, true);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match &k {
            Value::Integer(i) => Some(*i as f64),
            Value::Number(n) => Some(*n),
            _ => None,
        };
        match n {
            Some(n) if array && n > 0.0 && n.fract() == 0.0 => max = max.max(n),
            _ => array = false,
        }
        count += 1;
    }
    if array && max == count as f64 {
        let len = t.raw_len();
        header(out, len, 0x90, 0xdc, 0xdd);
        for i in 1..=len {
            encode(out, &t.raw_get::<Value>(i)?, depth)?;
        }
    } else {
        header(out, count as usize, 0x80, 0xde, 0xdf);
        for pair in t.clone().pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(out, &k, depth)?;
            encode(out, &v, depth)?;
        }
    }
    Ok(())
}

fn header(out: &mut Vec<u8>, len: usize, fix: u8, b16: u8, b32: u8) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// lua_cmsgpack's `mp_unpack_full`: up to `limit` objects from `offset` (all of them
/// for `unpack`); the partial forms return the next offset first (-1 at the end).
fn unpack_full(lua: &Lua, s: &[u8], limit: i64, offset: i64, all: bool) -> mlua::Result<MultiValue> {
    let len = s.len() as i64;
    if offset < 0 || limit < 0 {
        return Err(mlua::Error::runtime(format!(
            "Invalid request to unpack with offset of {offset} and limit of {len}."
        )));
    }
    if offset > len {
        return Err(mlua::Error::runtime(format!("Start offset {offset} greater than input length {len}.")));
    }
    let limit = if all || limit == 0 { i64::MAX } else { limit };
    let mut c = Cursor { b: s, at: offset as usize };
    let mut vals = Vec::new();
    while c.at < s.len() && (vals.len() as i64) < limit {
        if vals.len() >= super::MAX_RESULTS {
            return Err(mlua::Error::runtime(
                "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)",
            ));
        }
        match c.decode(lua) {
            Ok(v) => vals.push(v),
            Err(Bad::Eof) => return Err(mlua::Error::runtime("Missing bytes in input.")),
            Err(Bad::Format) => return Err(mlua::Error::runtime("Bad data format in input.")),
            Err(Bad::Lua(e)) => return Err(e),
        }
    }
    if !all {
        let next = if c.at == s.len() { -1 } else { c.at as i64 };
        vals.insert(0, Value::Number(next as f64));
    }
    Ok(MultiValue::from_vec(vals))
}

enum Bad {
    Eof,
    Format,
    Lua(mlua::Error),
}

impl From<mlua::Error> for Bad {
    fn from(e: mlua::Error) -> Bad {
        Bad::Lua(e)
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Bad> {
        if self.b.len() - self.at < n {
            return Err(Bad::Eof);
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> Result<u64, Bad> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, &b| acc << 8 | b as u64))
    }

    fn decode(&mut self, lua: &Lua) -> Result<Value, Bad> {
        let tag = self.take(1)?[0];
        let num = |n: f64| Value::Number(n);
        Ok(match tag {
            0x00..=0x7f => num(tag as f64),
            0xe0..=0xff => num(tag as i8 as f64),
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xcc => num(self.uint(1)? as f64),
            0xcd => num(self.uint(2)? as f64),
            0xce => num(self.uint(4)? as f64),
            0xcf => num(self.uint(8)? as f64),
            0xd0 => num(self.uint(1)? as u8 as i8 as f64),
            0xd1 => num(self.uint(2)? as u16 as i16 as f64),
            0xd2 => num(self.uint(4)? as u32 as i32 as f64),
            0xd3 => num(self.uint(8)? as i64 as f64),
            0xca => num(f32::from_bits(self.uint(4)? as u32) as f64),
            0xcb => num(f64::from_bits(self.uint(8)?)),
            0xa0..=0xbf => self.string(lua, (tag & 0x1f) as usize)?,
            0xd9 => {
                let n = self.uint(1)? as usize;
                self.string(lua, n)?
            }
            0xda => {
                let n = self.uint(2)? as usize;
                self.string(lua, n)?
            }
            0xdb => {
                let n = self.uint(4)? as usize;
                self.string(lua, n)?
            }
            0x90..=0x9f => self.array(lua, (tag & 0x0f) as usize)?,
            0xdc => {
                let n = self.uint(2)? as usize;
                self.array(lua, n)?
            }
            0xdd => {
                let n = self.uint(4)? as usize;
                self.array(lua, n)?
            }
            0x80..=0x8f => self.map(lua, (tag & 0x0f) as usize)?,
            0xde => {
                let n = self.uint(2)? as usize;
                self.map(lua, n)?
            }
            0xdf => {
                let n = self.uint(4)? as usize;
                self.map(lua, n)?
            }
            _ => return Err(Bad::Format),
        })
    }

    fn string(&mut self, lua: &Lua, n: usize) -> Result<Value, Bad> {
        let s = self.take(n)?;
        Ok(Value::String(lua.create_string(s)?))
    }

    fn array(&mut self, lua: &Lua, n: usize) -> Result<Value, Bad> {
        let t = lua.create_table()?;
        for i in 1..=n {
            let v = self.decode(lua)?;
            t.raw_set(i, v)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> Result<Value, Bad> {
        let t = lua.create_table()?;
        for _ in 0..n {
            let k = self.decode(lua)?;
            let v = self.decode(lua)?;
            if !matches!(k, Value::Nil) {
                t.raw_set(k, v)?;
            }
        }
        Ok(Value::Table(t))
    }
}
