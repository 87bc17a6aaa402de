//! The `struct` Lua library as Redis bundles it (Roberto Ierusalimschy's struct.c for
//! Lua 5.1): `pack`, `unpack`, `size` over a format of `>`/`<` (endianness), `!n`
//! (maximum alignment), `x`, `b`/`B`, `h`/`H`, `l`/`L`, `T`, `i`/`I`[n], `c`[n], `s`,
//! `f`, `d`, as on x86-64 Linux (little endian, 8-byte long and size_t).

use mlua::{Lua, MultiValue, Table, Value};

/// The widest `i`/`I` size the library accepts.
const MAX_INT_SIZE: usize = 32;
/// The native maximum alignment (a double's).
const MAX_ALIGN: usize = 8;

pub fn struct_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let at = super::at_caller;
    t.raw_set("pack", lua.create_function(move |lua, args: MultiValue| pack(lua, args).map_err(|e| at(lua, e)))?)?;
    t.raw_set(
        "unpack",
        lua.create_function(move |lua, args: MultiValue| {
            let fmt = super::check_string(lua, &args, 0, "unpack")?;
            let data = super::check_string(lua, &args, 1, "unpack")?;
            let pos = match args.get(2) {
                None | Some(Value::Nil) => None,
                Some(Value::Integer(i)) => Some(*i),
                Some(Value::Number(n)) => Some(*n as i64),
                Some(v) => {
                    return Err(at(lua, arg_err(3, "unpack", &format!("number expected, got {}", v.type_name()))));
                }
            };
            unpack(lua, &fmt.as_bytes(), &data.as_bytes(), pos).map_err(|e| at(lua, e))
        })?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(move |lua, args: MultiValue| {
            let fmt = super::check_string(lua, &args, 0, "size")?;
            size(&fmt.as_bytes()).map_err(|e| at(lua, e))
        })?,
    )?;
    Ok(t)
}

fn err(msg: String) -> mlua::Error {
    mlua::Error::runtime(msg)
}

fn arg_err(n: usize, func: &str, msg: &str) -> mlua::Error {
    err(format!("bad argument #{n} to '{func}' ({msg})"))
}

/// The format's state: endianness and maximum alignment.
struct Header {
    little: bool,
    align: usize,
}

struct Format<'a> {
    f: &'a [u8],
    at: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.f.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    fn num(&mut self, default: usize) -> mlua::Result<usize> {
        if !self.f.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.f.get(self.at).filter(|c| c.is_ascii_digit()) {
            let d = (d - b'0') as usize;
            if a > (i32::MAX as usize) / 10 || a * 10 > i32::MAX as usize - d {
                return Err(err("integral size overflow".into()));
            }
            a = a * 10 + d;
            self.at += 1;
        }
        Ok(a)
    }

    /// The size an option takes (0 for control options, and for `s`).
    fn size(&mut self, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'b' | b'B' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let sz = self.num(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(err(format!("integral size {sz} is larger than limit of {MAX_INT_SIZE}")));
                }
                sz
            }
            _ => 0,
        })
    }

    /// `>`, `<`, `!n` and spaces; anything else is an invalid option.
    fn control(&mut self, opt: u8, h: &mut Header, func: &str) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(err(format!("alignment {a} is not a power of 2")));
                }
                h.align = a;
            }
            other => {
                return Err(arg_err(1, func, &format!("invalid format option '{}'", other as char)));
            }
        }
        Ok(())
    }
}

fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn number(args: &MultiValue, i: usize, func: &str) -> mlua::Result<f64> {
    // struct.c's pack keeps its buffer on the Lua stack, above the arguments: a
    // missing one reads as nil there ("got nil"), elsewhere as "no value".
    let missing = if func == "pack" { "nil" } else { "no value" };
    match args.get(i) {
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::String(s)) => s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()).ok_or_else(|| {
            arg_err(i + 1, func, &format!("number expected, got {}", args.get(i).map_or(missing, |v| v.type_name())))
        }),
        other => {
            Err(arg_err(i + 1, func, &format!("number expected, got {}", other.map_or(missing, |v| v.type_name()))))
        }
    }
}

fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    let fmt = match args.front() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(Value::Integer(i)) => i.to_string().into_bytes(),
        Some(Value::Number(n)) => super::libs::fmt_g(*n, 14).into_bytes(),
        other => {
            let got = other.map_or("no value", |v| v.type_name());
            return Err(arg_err(1, "pack", &format!("string expected, got {got}")));
        }
    };
    let mut f = Format { f: &fmt, at: 0 };
    let mut h = Header { little: true, align: 1 };
    let mut out = Vec::new();
    let mut arg = 1;
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = number(&args, arg, "pack")?;
                arg += 1;
                let mut v: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut buf = [0u8; MAX_INT_SIZE];
                for b in buf.iter_mut().take(size) {
                    *b = v as u8;
                    v >>= 8;
                }
                if !h.little {
                    buf[..size].reverse();
                }
                out.extend_from_slice(&buf[..size]);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = number(&args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little { v.to_le_bytes() } else { v.to_be_bytes() });
            }
            b'd' => {
                let v = number(&args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if h.little { v.to_le_bytes() } else { v.to_be_bytes() });
            }
            b'c' | b's' => {
                let s = match args.get(arg) {
                    Some(Value::String(s)) => s.as_bytes().to_vec(),
                    Some(Value::Integer(i)) => i.to_string().into_bytes(),
                    Some(Value::Number(n)) => super::libs::fmt_g(*n, 14).into_bytes(),
                    other => {
                        let got = other.map_or("nil", |v| v.type_name());
                        return Err(arg_err(arg + 1, "pack", &format!("string expected, got {got}")));
                    }
                };
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(arg_err(arg + 1, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h, "pack")?,
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, fmt: &[u8], data: &[u8], pos: Option<i64>) -> mlua::Result<MultiValue> {
    let pos = pos.unwrap_or(1);
    if pos <= 0 {
        return Err(arg_err(3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = (pos - 1) as usize;
    let ld = data.len();
    let mut f = Format { f: fmt, at: 0 };
    let mut h = Header { little: true, align: 1 };
    let mut vals: Vec<Value> = Vec::new();
    let short = || arg_err(2, "unpack", "data string too short");
    while let Some(opt) = f.next() {
        if vals.len() >= super::MAX_RESULTS {
            return Err(mlua::Error::runtime("stack overflow (too many results)"));
        }
        let mut size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        if size > ld || pos > ld - size {
            return Err(short());
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut bytes = data[pos..pos + size].to_vec();
                if !h.little {
                    bytes.reverse();
                }
                // Little endian now: the low bytes first; past 8 bytes, only the low 64 bits count.
                let mut l: u64 = 0;
                for &b in bytes.iter().rev() {
                    l = l << 8 | b as u64;
                }
                let v = if opt.is_ascii_lowercase() {
                    let mask = if size == 0 || size > 8 { 0 } else { u64::MAX << (size * 8 - 1) };
                    if l & mask != 0 {
                        l |= mask;
                    }
                    l as i64 as f64
                } else {
                    l as f64
                };
                vals.push(Value::Number(v));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes");
                let v = if h.little { f32::from_le_bytes(b) } else { f32::from_be_bytes(b) };
                vals.push(Value::Number(v as f64));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().expect("8 bytes");
                let v = if h.little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) };
                vals.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let prev = match vals.last() {
                        Some(Value::Number(n)) => *n,
                        Some(Value::Integer(n)) => *n as f64,
                        _ => return Err(err("format 'c0' needs a previous size".into())),
                    };
                    vals.pop();
                    size = if prev > 0.0 { prev as usize } else { 0 };
                    if size > ld || pos > ld - size {
                        return Err(short());
                    }
                }
                vals.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(err("unfinished string in data".into()));
                };
                vals.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => f.control(opt, &mut h, "unpack")?,
        }
        pos += size;
    }
    vals.push(Value::Integer(pos as i64 + 1));
    Ok(MultiValue::from_vec(vals))
}

fn size(fmt: &[u8]) -> mlua::Result<i64> {
    let mut f = Format { f: fmt, at: 0 };
    let mut h = Header { little: true, align: 1 };
    let mut pos = 0usize;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos += to_align(pos, &h, opt, size);
        match opt {
            b's' => return Err(arg_err(1, "size", "option 's' has no fixed size")),
            b'c' if size == 0 => return Err(arg_err(1, "size", "option 'c0' has no fixed size")),
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' | b'x' | b'f' | b'd' | b'c' => {}
            _ => f.control(opt, &mut h, "size")?,
        }
        pos += size;
    }
    Ok(pos as i64)
}
