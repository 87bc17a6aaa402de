//! INCRBYFLOAT and HINCRBYFLOAT arithmetic in C's `long double`, as Redis does it.
//!
//! Redis parses both operands with `strtold`, adds them in `long double` (80-bit
//! extended precision on x86-64) and stores the sum's `%.17Lf` text without trailing
//! zeros. In `f64` the same sums differ in what clients see: `0.1 + 0.2` is `0.3` in
//! Redis and `0.30000000000000004` in f64; `-9223372036854775808 + 0.1` is
//! `-9223372036854775808` there and `-9223372036854776000` in f64; and `1e400` is a
//! valid operand there only. Rust has no `long double`, so the sum is computed in
//! `csrc/longdouble.c` (built by `build.rs`), with the platform's C library, which is
//! what redis-server on the same platform uses.

use std::ffi::c_char;

unsafe extern "C" {
    fn shardis_ld_check(s: *const c_char, len: usize) -> i32;
    fn shardis_ld_add(
        a: *const c_char,
        alen: usize,
        b: *const c_char,
        blen: usize,
        out: *mut c_char,
        cap: usize,
    ) -> i32;
}

/// Longest sum text plus its NUL: `%.17Lf` of the largest long double is ~4950 bytes.
const OUT_CAP: usize = 5 * 1024;

/// What Redis's `string2ld` makes of a float text.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum LdText {
    Finite,
    Infinite,
    NotAFloat,
}

/// Checks `text` as Redis parses a float operand of INCRBYFLOAT/HINCRBYFLOAT.
pub fn check(text: &[u8]) -> LdText {
    // SAFETY: `text` is a live slice; the C side reads exactly `len` bytes of it
    // (copying them into its own buffer) and keeps no pointer.
    match unsafe { shardis_ld_check(text.as_ptr().cast(), text.len()) } {
        1 => LdText::Finite,
        2 => LdText::Infinite,
        _ => LdText::NotAFloat,
    }
}

/// Why a sum failed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum LdAddError {
    /// The first operand (the stored value) is not a float.
    BadFirst,
    /// The second operand (the increment) is not a float.
    BadSecond,
    /// The sum is NaN or infinite.
    NotFinite,
}

/// `a + b` in `long double`, appended to `out` as Redis prints it.
pub fn add(a: &[u8], b: &[u8], out: &mut Vec<u8>) -> Result<(), LdAddError> {
    let mut text = [0u8; OUT_CAP];
    // SAFETY: `a` and `b` are live slices read for exactly their lengths; `text` is a
    // writable buffer of `OUT_CAP` bytes, which the C side never writes past (it
    // passes `cap` to snprintf); no pointer is kept after the call.
    let n = unsafe {
        shardis_ld_add(a.as_ptr().cast(), a.len(), b.as_ptr().cast(), b.len(), text.as_mut_ptr().cast(), OUT_CAP)
    };
    match n {
        -1 => Err(LdAddError::BadFirst),
        -2 => Err(LdAddError::BadSecond),
        n if n < 0 => Err(LdAddError::NotFinite),
        n => {
            out.extend_from_slice(&text[..n as usize]);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> Result<String, LdAddError> {
        let mut out = Vec::new();
        add(a.as_bytes(), b.as_bytes(), &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn sums_print_as_redis_prints_them() {
        // Each expectation is redis-server 7.0.15's reply on x86-64.
        assert_eq!(sum("0.1", "0.2").unwrap(), "0.3");
        assert_eq!(sum("10.50", "0.1").unwrap(), "10.6");
        assert_eq!(sum("-9223372036854775808", "0.1").unwrap(), "-9223372036854775808");
        assert_eq!(sum("5.0e3", "2.0e2").unwrap(), "5200");
        assert_eq!(sum("1", "-1").unwrap(), "0");
        assert_eq!(sum("-0", "0").unwrap(), "0");
        assert_eq!(sum("0", "1e-20").unwrap(), "0");
        assert_eq!(sum("0x10", "1").unwrap(), "17");
        assert_eq!(sum("1e400", "0").unwrap().len(), 401);
    }

    #[test]
    fn bad_operands_and_sums() {
        assert_eq!(sum("abc", "1"), Err(LdAddError::BadFirst));
        assert_eq!(sum("1", ""), Err(LdAddError::BadSecond));
        assert_eq!(sum(" 1", "1"), Err(LdAddError::BadFirst));
        assert_eq!(sum("1", "1 "), Err(LdAddError::BadSecond));
        assert_eq!(sum("1", "nan"), Err(LdAddError::BadSecond));
        assert_eq!(sum("1\0", "1"), Err(LdAddError::BadFirst));
        assert_eq!(sum("1e99999", "1"), Err(LdAddError::BadFirst));
        assert_eq!(sum("1", "inf"), Err(LdAddError::NotFinite));
        assert_eq!(sum("1.1e4932", "1.1e4932"), Err(LdAddError::NotFinite));
        assert_eq!(check(b"inf"), LdText::Infinite);
        assert_eq!(check(b"-1.5"), LdText::Finite);
        assert_eq!(check(b"1.5x"), LdText::NotAFloat);
        assert_eq!(check(&vec![b'1'; 5120]), LdText::NotAFloat);
    }
}
