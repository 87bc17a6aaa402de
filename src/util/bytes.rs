//! Equality of short byte strings without a `memcmp` call.
//!
//! `a == b` on slices calls libc's `memcmp`, which profiles of one-key pipelines show
//! per request (a key's bytes against the stored key's, a command's head against the
//! run's first). For the lengths keys and command heads mostly have, two overlapping
//! word loads per side decide it inline.

/// `a == b`, comparing 4 to 16 bytes as two overlapping words each.
#[inline(always)]
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        8..=16 => {
            let w = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().expect("8 bytes"));
            w(a, 0) == w(b, 0) && w(a, n - 8) == w(b, n - 8)
        }
        4..=7 => {
            let w = |s: &[u8], i: usize| u32::from_ne_bytes(s[i..i + 4].try_into().expect("4 bytes"));
            w(a, 0) == w(b, 0) && w(a, n - 4) == w(b, n - 4)
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::eq;

    #[test]
    fn agrees_with_slice_equality_at_every_length_and_position() {
        for n in 0..=40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37).wrapping_add(1)).collect();
            assert!(eq(&a, &a.clone()), "len {n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x80;
                assert!(!eq(&a, &b), "len {n}, byte {i}");
            }
            if n > 0 {
                assert!(!eq(&a, &a[..n - 1]), "len {n} against a prefix");
            }
        }
    }
}
