//! Strict number parsing and fast number formatting with Redis semantics.
//!
//! Job: parse integers exactly as Redis `string2ll` accepts them (no `+`, no
//! leading zeros, no spaces, no `-0`, no overflow), parse floats as Redis's
//! `string2d`/`string2ld` accept them (strtod syntax incl. hex floats and
//! inf/infinity, but no surrounding whitespace, no NaN, no overflow to
//! infinity, no underflow to zero), and format integers/doubles the way Redis
//! replies render them, appending straight into an output buffer.
//! Non-goals: `long double` arithmetic (INCRBYFLOAT's sums are `util::longdouble`).
//! Dependencies: std only (`core::fmt` for shortest round-trip digits).

use std::fmt::Write as _;

/// Longest accepted integer literal: Redis rejects `slen >= LONG_STR_SIZE` (21).
const MAX_INT_LEN: usize = 20;

/// Parse a signed 64-bit integer with Redis `string2ll` strictness.
#[inline]
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if b.len() > MAX_INT_LEN {
        return None;
    }
    if digits == b"0" {
        // "0" is fine, "-0" is not (Redis requires a 1-9 after '-').
        return if neg { None } else { Some(0) };
    }
    let mag = parse_digits_no_leading_zero(digits)?;
    if neg {
        if mag <= i64::MAX as u64 {
            Some(-(mag as i64))
        } else if mag == i64::MAX as u64 + 1 {
            Some(i64::MIN)
        } else {
            None
        }
    } else if mag <= i64::MAX as u64 {
        Some(mag as i64)
    } else {
        None
    }
}

/// Parse an unsigned 64-bit integer with the same strictness (no sign at all).
#[inline]
pub fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.len() > MAX_INT_LEN {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    parse_digits_no_leading_zero(b)
}

/// Non-empty run of ASCII digits starting with 1-9, without overflow.
#[inline(always)]
fn parse_digits_no_leading_zero(d: &[u8]) -> Option<u64> {
    let (&first, rest) = d.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v = (first - b'0') as u64;
    for &c in rest {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(digit as u64)?;
    }
    Some(v)
}

/// Parse a float the way Redis validates scores and increments.
///
/// Accepts C `strtod` syntax over the whole input: optional sign, decimal
/// (`1.5`, `.5`, `1.`, `1e10`) or hex (`0x1.8p3`) mantissa, and `inf` /
/// `infinity` in any case. Rejects empty input, any whitespace (leading or
/// trailing), trailing garbage, NaN, finite literals that overflow to
/// infinity and non-zero literals that underflow to zero (Redis treats those
/// `ERANGE` results as errors).
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    let (neg, body) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if body.len() >= 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
        let v = parse_hex_float(&body[2..])?;
        return Some(if neg { -v } else { v });
    }
    // Only the characters strtod's decimal/inf grammar can use; this also
    // rules out whitespace and "_" that `str::parse` might otherwise see.
    if b.iter().any(|&c| !(c.is_ascii_alphanumeric() || c == b'.' || c == b'-' || c == b'+')) {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    let is_inf_literal = body.first().is_some_and(|c| c.is_ascii_alphabetic());
    if v.is_infinite() && !is_inf_literal {
        return None; // overflow (ERANGE, HUGE_VAL)
    }
    if v == 0.0 && mantissa_has_nonzero_digit(body) {
        return None; // underflow to zero (ERANGE)
    }
    Some(v)
}

/// True if the decimal mantissa (before any exponent) has a digit 1-9.
fn mantissa_has_nonzero_digit(body: &[u8]) -> bool {
    body.iter().take_while(|&&c| c != b'e' && c != b'E').any(|&c| (b'1'..=b'9').contains(&c))
}

/// Parse the part of a C hex float after "0x": hex digits with an optional
/// '.', at least one digit, optional `p[+-]digits` binary exponent. Correctly
/// rounded (round-half-even) for normal results.
fn parse_hex_float(s: &[u8]) -> Option<f64> {
    let mut i = 0;
    let mut mant: u64 = 0;
    let mut exp2: i64 = 0;
    let mut sticky = false;
    let mut ndigits = 0;
    let mut seen_point = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !seen_point {
            seen_point = true;
            i += 1;
            continue;
        }
        let d = match (c as char).to_digit(16) {
            Some(d) => d as u64,
            None => break,
        };
        ndigits += 1;
        if mant >> 60 == 0 {
            mant = mant * 16 + d;
            if seen_point {
                exp2 -= 4;
            }
        } else {
            // Mantissa full: remember only whether anything non-zero was
            // dropped, which is all correct rounding needs.
            sticky |= d != 0;
            if !seen_point {
                exp2 += 4;
            }
        }
        i += 1;
    }
    if ndigits == 0 {
        return None;
    }
    if i < s.len() {
        if s[i] | 0x20 != b'p' {
            return None;
        }
        i += 1;
        let eneg = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        if i >= s.len() {
            return None;
        }
        let mut e: i64 = 0;
        for &c in &s[i..] {
            if !c.is_ascii_digit() {
                return None;
            }
            // Saturate: anything this large over/underflows anyway.
            e = (e * 10 + (c - b'0') as i64).min(1 << 20);
        }
        exp2 += if eneg { -e } else { e };
    }
    if mant == 0 {
        return Some(0.0);
    }
    if sticky {
        mant |= 1;
    }
    // Normalise so the value is mant * 2^exp2 with mant in [2^63, 2^64).
    let lz = mant.leading_zeros();
    mant <<= lz;
    exp2 -= lz as i64;
    let mut e = exp2 + 63; // binary exponent of the leading bit
    if e > 1023 {
        return None; // overflow
    }
    // Bits to drop to get a 53-bit significand (more for subnormals).
    let shift: i64 = if e >= -1022 { 11 } else { 11 + (-1022 - e) };
    if shift > 64 {
        return None; // underflow to zero
    }
    let (mut sig, rem, half) = if shift == 64 {
        (0u64, mant, 1u64 << 63)
    } else {
        let shift = shift as u32;
        (mant >> shift, mant & ((1u64 << shift) - 1), 1u64 << (shift - 1))
    };
    if rem > half || (rem == half && sig & 1 == 1) {
        sig += 1;
    }
    if sig == 0 {
        return None; // underflow to zero
    }
    let bits = if e >= -1022 {
        if sig == 1 << 53 {
            sig >>= 1;
            e += 1;
            if e > 1023 {
                return None;
            }
        }
        (((e + 1023) as u64) << 52) | (sig & ((1u64 << 52) - 1))
    } else {
        // Subnormal: the biased exponent field is 0; a significand that
        // rounded up to 2^52 spills into the exponent field and becomes the
        // smallest normal, which is exactly right.
        sig
    };
    Some(f64::from_bits(bits))
}

const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Append the decimal form of `v` to `buf`, without allocating.
#[inline]
pub fn write_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    write_u64(buf, v.unsigned_abs());
}

/// Append the decimal form of `v` to `buf`, without allocating.
#[inline]
pub fn write_u64(buf: &mut Vec<u8>, v: u64) {
    if v < 10 {
        buf.push(b'0' + v as u8);
        return;
    }
    let mut tmp = [0u8; 20];
    let pos = u64_digits(v, &mut tmp);
    buf.extend_from_slice(&tmp[pos..]);
}

/// The decimal form of `v` written into `tmp`, for a caller that keeps it without a
/// `Vec` (INCR stores the result inline in the value). 20 bytes hold `i64::MIN`.
#[inline]
pub fn i64_text(v: i64, tmp: &mut [u8; 20]) -> &[u8] {
    let mut pos = u64_digits(v.unsigned_abs(), tmp);
    if v < 0 {
        pos -= 1;
        tmp[pos] = b'-';
    }
    &tmp[pos..]
}

/// Writes `v`'s digits at the end of `tmp`, two at a time; returns where they start.
#[inline]
fn u64_digits(mut v: u64, tmp: &mut [u8; 20]) -> usize {
    let mut pos = tmp.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        pos -= 2;
        tmp[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        pos -= 2;
        tmp[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        pos -= 1;
        tmp[pos] = b'0' + v as u8;
    }
    pos
}

/// Number of bytes `write_i64` produces for `v` (sign included).
#[inline]
pub fn i64_len(v: i64) -> usize {
    (v < 0) as usize + u64_len(v.unsigned_abs())
}

/// Number of decimal digits of `v`.
#[inline]
pub fn u64_len(v: u64) -> usize {
    match v.checked_ilog10() {
        Some(l) => l as usize + 1,
        None => 1,
    }
}

/// Fixed-capacity `fmt::Write` sink on the stack, so we can borrow core's
/// shortest round-trip float formatting without a heap `String`.
struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    fn new() -> Self {
        StackBuf { buf: [0; N], len: 0 }
    }
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> std::fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Append `v` formatted as Redis 7.0 renders doubles in replies (ZSCORE, RESP2 and
/// RESP3 doubles, ...): C `%.17g`, i.e. 17 significant digits with trailing zeros
/// dropped (1.1 prints as `1.1000000000000001`, as redis-server 7.0 does), plain
/// notation when the decimal exponent is in [-4, 17), otherwise `d.ddde+XX` with at
/// least two exponent digits. Specials are `inf`, `-inf`, `nan`; zero keeps its
/// sign (`0` / `-0`).
pub fn write_double(buf: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        buf.extend_from_slice(b"nan");
        return;
    }
    if v.is_infinite() {
        buf.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if v == 0.0 {
        buf.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // `{:.16e}` yields exactly 17 significant digits, correctly rounded, as `%.17g`
    // computes them: "-1.2345000000000000e-7", "1.1000000000000001e0".
    let mut sb = StackBuf::<40>::new();
    write!(sb, "{:.16e}", v).expect("f64 {:.16e} fits in 40 bytes");
    let s = sb.as_bytes();
    let epos = s.iter().position(|&c| c == b'e').expect("{:e} has an 'e'");
    let (mant, exp_txt) = (&s[..epos], &s[epos + 1..]);
    let exp: i32 = parse_small_exp(exp_txt);
    let (neg, mant) = match mant.first() {
        Some(b'-') => (true, &mant[1..]),
        _ => (false, mant),
    };
    // Collect the significant digits without the decimal point.
    let mut digits = [0u8; 24];
    let mut nd = 0;
    for &c in mant {
        if c != b'.' {
            digits[nd] = c;
            nd += 1;
        }
    }
    // `%g` drops trailing zeros.
    while nd > 1 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    let digits = &digits[..nd];
    if neg {
        buf.push(b'-');
    }
    if !(-4..17).contains(&exp) {
        buf.push(digits[0]);
        if nd > 1 {
            buf.push(b'.');
            buf.extend_from_slice(&digits[1..]);
        }
        buf.push(b'e');
        buf.push(if exp < 0 { b'-' } else { b'+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            buf.push(b'0');
        }
        write_u64(buf, a as u64);
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if nd <= int_len {
            buf.extend_from_slice(digits);
            buf.resize(buf.len() + (int_len - nd), b'0');
        } else {
            buf.extend_from_slice(&digits[..int_len]);
            buf.push(b'.');
            buf.extend_from_slice(&digits[int_len..]);
        }
    } else {
        buf.extend_from_slice(b"0.");
        buf.resize(buf.len() + (-exp - 1) as usize, b'0');
        buf.extend_from_slice(digits);
    }
}

fn parse_small_exp(t: &[u8]) -> i32 {
    let (neg, d) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        _ => (false, t),
    };
    let mut e: i32 = 0;
    for &c in d {
        e = e * 10 + (c - b'0') as i32;
    }
    if neg { -e } else { e }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i64_strict() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"1"), Some(1));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"1234567890"), Some(1234567890));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"00",
            b"-0",
            b"-01",
            b" 1",
            b"1 ",
            b"1a",
            b"0x10",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999",
            b"18446744073709551616",
            b"000000000000000000001",
            b"1.0",
            b"--1",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn u64_strict() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        for bad in [&b""[..], b"-1", b"+1", b"01", b"-0", b"18446744073709551616", b"1 "] {
            assert_eq!(parse_u64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn f64_accepts() {
        let ok: &[(&str, f64)] = &[
            ("1.5", 1.5),
            ("-3", -3.0),
            ("+2", 2.0),
            ("1e10", 1e10),
            ("1E+10", 1e10),
            ("2.5e-3", 2.5e-3),
            (".5", 0.5),
            ("5.", 5.0),
            ("0", 0.0),
            ("-0", -0.0),
            ("007", 7.0),
            ("0e-999", 0.0),
            ("inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("INF", f64::INFINITY),
            ("Infinity", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
            ("0x10", 16.0),
            ("0x1.8p1", 3.0),
            ("-0X.8", -0.5),
            ("0x1p-1074", 5e-324),
            ("1.7976931348623157e308", f64::MAX),
            ("4.9e-324", 5e-324),
        ];
        for &(s, want) in ok {
            let got = parse_f64(s.as_bytes());
            assert_eq!(got, Some(want), "{s}");
            assert_eq!(got.unwrap().is_sign_negative(), want.is_sign_negative(), "{s}");
        }
    }

    #[test]
    fn f64_rejects() {
        for bad in [
            "",
            " 1",
            "1 ",
            "\t1",
            "1\n",
            "nan",
            "NaN",
            "-nan",
            "abc",
            "1.5x",
            "1e",
            "1e+",
            ".",
            "-",
            "+",
            "e5",
            "1_0",
            "1e400",
            "-1e400",
            "1e-400",
            "0x",
            "0x1p",
            "0xg",
            "0x1p99999",
            "0x1p-99999",
            "in",
            "infin",
            "infinityy",
            "1..2",
            "--1",
        ] {
            assert_eq!(parse_f64(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn hex_float_rounding() {
        // 2^53 + 1 is not representable: ties to even -> 2^53.
        assert_eq!(parse_f64(b"0x20000000000001"), Some(9007199254740992.0));
        // 2^53 + 3 -> ties to even -> 2^53 + 4.
        assert_eq!(parse_f64(b"0x20000000000003"), Some(9007199254740996.0));
        // Sticky bits beyond the kept digits break the tie upwards.
        assert_eq!(
            parse_f64(b"0x200000000000010000000000001"),
            Some(f64::from_bits((9007199254740994.0f64).to_bits()) * 2f64.powi(52))
        );
        assert_eq!(parse_f64(b"0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(parse_f64(b"0x1.fffffffffffff8p1023"), None);
    }

    fn wi(v: i64) -> String {
        let mut b = Vec::new();
        write_i64(&mut b, v);
        assert_eq!(b.len(), i64_len(v), "{v}");
        // The stack form says the same.
        assert_eq!(i64_text(v, &mut [0; 20]), &b[..], "{v}");
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn int_formatting() {
        let mut vals = vec![0, 1, -1, 9, 10, 11, 99, 100, 101, -100, i64::MAX, i64::MIN];
        let mut p: i64 = 1;
        for _ in 0..18 {
            p *= 10;
            vals.extend([p - 1, p, p + 1, -(p - 1), -p, -(p + 1)]);
        }
        for v in vals {
            assert_eq!(wi(v), v.to_string());
        }
        let mut b = b"x".to_vec();
        write_u64(&mut b, u64::MAX);
        assert_eq!(b, b"x18446744073709551615");
        assert_eq!(u64_len(u64::MAX), 20);
        assert_eq!(u64_len(0), 1);
    }

    fn wd(v: f64) -> String {
        let mut b = Vec::new();
        write_double(&mut b, v);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn double_formatting() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (3.0, "3"),
            (-3.0, "-3"),
            (0.1, "0.10000000000000001"),
            (1.1, "1.1000000000000001"),
            (1.0 / 3.0, "0.33333333333333331"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e20, "1e+20"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (123456789.0, "123456789"),
            (1.2345678901234567e16, "12345678901234568"),
            (1.2345678901234566e17, "1.2345678901234566e+17"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1.0000000000000001e-05"),
            (-1.5e-7, "-1.4999999999999999e-07"),
            (1e100, "1e+100"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (0.1 + 0.2, "0.30000000000000004"),
            (100.25, "100.25"),
        ];
        for &(v, want) in cases {
            assert_eq!(wd(v), want, "{v:e}");
        }
        // Everything finite round-trips through parse_f64.
        let mut x = 1.2345e-300f64;
        while x < 1e300 {
            for v in [x, -x, x * 3.7] {
                let s = wd(v);
                assert_eq!(parse_f64(s.as_bytes()), Some(v), "{s}");
            }
            x *= 13.3;
        }
    }
}
