//! LZF, the compressor Redis uses for long strings in RDB files (`rdbcompression yes`)
//! and for the interior nodes of lists (`list-compress-depth`). It lives in `util` so
//! both `rdb` and `storage` can use it.
//!
//! The stream is a sequence of tokens, each led by a control byte:
//! - `000LLLLL`: a literal run of `L + 1` bytes (1..=32) follows;
//! - `LLLOOOOO OOOOOOOO` (L in 1..=6) or `111OOOOO EEEEEEEE OOOOOOOO`: a back reference
//!   of `L + 2` bytes (with `L = 7 + E` in the long form) starting `O + 1` bytes back
//!   in the output (up to 8192). References may overlap the bytes they produce.
//!
//! The compressor is the classic greedy one: a hash of the next three bytes finds the
//! last position they occurred at. It does not need to produce the same bytes as
//! liblzf, only a stream any LZF decoder expands to the input.

/// Largest hash table: 16K slots. Short inputs get a smaller one (see `compress`).
const HASH_LOG_MAX: u32 = 14;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 1 << 5;

#[inline]
fn hash3(b: &[u8], log: u32) -> usize {
    let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
    (v.wrapping_mul(2_654_435_761) >> (32 - log)) as usize
}

fn flush_literals(out: &mut Vec<u8>, lits: &[u8]) {
    for chunk in lits.chunks(MAX_LIT) {
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
}

/// Compresses `input`; returns None unless the result is at most `max_out` bytes
/// (Redis keeps a compressed string only when it saves at least four bytes).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(max_out.min(n + n / 32 + 1));
    // Positions are stored plus one so that 0 means "never seen". The table is sized
    // to the input: zeroing 64 KB for every 30-byte string dominated snapshot time.
    let log = (usize::BITS - n.max(256).leading_zeros()).min(HASH_LOG_MAX);
    let mut table = vec![0u32; 1 << log];
    let mut ip = 0;
    let mut lit_start = 0;
    while ip + 2 < n {
        let h = hash3(&input[ip..], log);
        let cand = table[h] as usize;
        table[h] = (ip + 1) as u32;
        if cand != 0 {
            let r = cand - 1;
            let off = ip - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[ip..ip + 3] {
                let max_len = MAX_REF.min(n - ip);
                let mut len = 3;
                while len < max_len && input[r + len] == input[ip + len] {
                    len += 1;
                }
                flush_literals(&mut out, &input[lit_start..ip]);
                let l = len - 2;
                if l < 7 {
                    out.push(((l as u8) << 5) | (off >> 8) as u8);
                } else {
                    out.push((7 << 5) | (off >> 8) as u8);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                // Index the positions inside the match too: finds more later matches
                // for little cost.
                let end = ip + len;
                ip += 1;
                while ip < end && ip + 2 < n {
                    table[hash3(&input[ip..], log)] = (ip + 1) as u32;
                    ip += 1;
                }
                ip = end;
                lit_start = ip;
                if out.len() > max_out {
                    return None;
                }
                continue;
            }
        }
        ip += 1;
    }
    flush_literals(&mut out, &input[lit_start..]);
    (out.len() <= max_out).then_some(out)
}

/// Why a stream did not expand to the expected length.
#[derive(Debug, PartialEq, Eq)]
pub enum LzfError {
    /// The stream ends inside a token.
    Truncated,
    /// A back reference points before the start of the output.
    BadReference,
    /// The output would be longer or shorter than announced.
    WrongLength,
}

/// Expands `input`, which must produce exactly `out_len` bytes.
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, LzfError> {
    // The announced length comes from the file: don't trust it for a huge allocation.
    let mut out = Vec::with_capacity(out_len.min(input.len().saturating_mul(64) + 64));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < MAX_LIT {
            let run = ctrl + 1;
            let lit = input.get(ip..ip + run).ok_or(LzfError::Truncated)?;
            if out.len() + run > out_len {
                return Err(LzfError::WrongLength);
            }
            out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip).ok_or(LzfError::Truncated)? as usize;
                ip += 1;
            }
            let len = len + 2;
            let lo = *input.get(ip).ok_or(LzfError::Truncated)? as usize;
            ip += 1;
            let back = ((ctrl & 0x1f) << 8 | lo) + 1;
            if back > out.len() {
                return Err(LzfError::BadReference);
            }
            if out.len() + len > out_len {
                return Err(LzfError::WrongLength);
            }
            let start = out.len() - back;
            // Byte by byte: an overlapping reference repeats what it just wrote.
            for i in 0..len {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    if out.len() != out_len {
        return Err(LzfError::WrongLength);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::rng::XorShift;

    fn round_trip(data: &[u8]) {
        let c = compress(data, data.len() + data.len() / 16 + 64).expect("fits with slack");
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
    }

    #[test]
    fn round_trips_varied_inputs() {
        round_trip(b"");
        round_trip(b"a");
        round_trip(b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        round_trip(&b"hello world ".repeat(1000));
        let mut rng = XorShift::new(7);
        for size in [1, 2, 3, 31, 32, 33, 100, 5000, 70_000] {
            let random: Vec<u8> = (0..size).map(|_| rng.next_u64() as u8).collect();
            round_trip(&random);
            let low_entropy: Vec<u8> = (0..size).map(|_| b"abc"[rng.below(3)]).collect();
            round_trip(&low_entropy);
        }
    }

    #[test]
    fn repetitive_input_shrinks_and_random_does_not_fit() {
        let data = b"0123456789".repeat(100);
        let c = compress(&data, data.len() - 4).unwrap();
        assert!(c.len() < 100, "{}", c.len());
        let mut rng = XorShift::new(1);
        let random: Vec<u8> = (0..200).map(|_| rng.next_u64() as u8).collect();
        assert!(compress(&random, random.len() - 4).is_none());
    }

    #[test]
    fn known_stream_decodes() {
        // Literal "ab", then a 6-byte reference one byte back: "ab" + "bbbbbb".
        assert_eq!(decompress(&[1, b'a', b'b', 4 << 5, 0], 8).unwrap(), b"abbbbbbb");
    }

    #[test]
    fn bad_streams_are_errors() {
        assert_eq!(decompress(&[5, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(decompress(&[0, b'a', 1 << 5, 5], 4), Err(LzfError::BadReference));
        assert_eq!(decompress(&[0, b'a'], 2), Err(LzfError::WrongLength));
        assert_eq!(decompress(&[1, b'a', b'b'], 1), Err(LzfError::WrongLength));
        assert_eq!(decompress(&[0, b'a', 7 << 5], 100), Err(LzfError::Truncated));
    }
}
