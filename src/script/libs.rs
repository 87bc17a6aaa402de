//! The libraries Redis adds to its Lua 5.1 sandbox, written here because the vendored
//! Lua does not carry them: `bit` (LuaBitOp), and Redis's
//! deterministic `math.random` (its own rand48, same sequence as redis-server).

use mlua::{Lua, MultiValue, Table};
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

/// The `bit` table (LuaBitOp 1.0, as Redis bundles it). Arguments are read as
/// `luaL_checknumber` reads them (numbers and numeric strings), in LuaBitOp's order:
/// the variadic ones from the last argument down to the second, after the first.
pub fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    fn arg(lua: &Lua, args: &MultiValue, i: usize) -> mlua::Result<i32> {
        super::check_number(lua, args, i).map(tobit)
    }
    fn unary(lua: &Lua, t: &Table, name: &str, op: fn(i32) -> i32) -> mlua::Result<()> {
        t.raw_set(name, lua.create_function(move |lua, args: MultiValue| Ok(op(arg(lua, &args, 0)?)))?)
    }
    fn fold(lua: &Lua, t: &Table, name: &str, op: fn(i32, i32) -> i32) -> mlua::Result<()> {
        let f = lua.create_function(move |lua, args: MultiValue| {
            let mut acc = arg(lua, &args, 0)?;
            for i in (1..args.len()).rev() {
                acc = op(acc, arg(lua, &args, i)?);
            }
            Ok(acc)
        })?;
        t.raw_set(name, f)
    }
    fn shift(lua: &Lua, t: &Table, name: &str, op: fn(u32, u32) -> u32) -> mlua::Result<()> {
        let f = lua.create_function(move |lua, args: MultiValue| {
            let a = arg(lua, &args, 0)? as u32;
            let n = arg(lua, &args, 1)? as u32 & 31;
            Ok(op(a, n) as i32)
        })?;
        t.raw_set(name, f)
    }
    let t = lua.create_table()?;
    unary(lua, &t, "tobit", |a| a)?;
    unary(lua, &t, "bnot", |a| !a)?;
    unary(lua, &t, "bswap", |a| a.swap_bytes())?;
    fold(lua, &t, "band", |a, b| a & b)?;
    fold(lua, &t, "bor", |a, b| a | b)?;
    fold(lua, &t, "bxor", |a, b| a ^ b)?;
    shift(lua, &t, "lshift", |a, n| a << n)?;
    shift(lua, &t, "rshift", |a, n| a >> n)?;
    shift(lua, &t, "arshift", |a, n| ((a as i32) >> n) as u32)?;
    shift(lua, &t, "rol", |a, n| a.rotate_left(n))?;
    shift(lua, &t, "ror", |a, n| a.rotate_right(n))?;
    t.raw_set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| {
            let a = arg(lua, &args, 0)?;
            // An explicit nil is checked (and refused); only a missing count defaults.
            let n = if args.len() < 2 { 8 } else { arg(lua, &args, 1)? };
            // A negative count asks for capitals; i32::MIN counts as -i32::MAX (Redis
            // 7.0.15's fix of its negation overflow), so 8 capitals. A count of 0 gives "".
            let upper = n < 0;
            let width = n.max(i32::MIN + 1).unsigned_abs().min(8) as usize;
            if width == 0 {
                return Ok(String::new());
            }
            let v = (a as u32 as u64) & ((1u64 << (4 * width)) - 1);
            Ok(if upper { format!("{:0width$X}", v) } else { format!("{:0width$x}", v) })
        })?,
    )?;
    Ok(t)
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
