//! Redis's `sdssplitargs`: the one tokenizer behind inline requests (`resp::inline`)
//! and configuration lines (`config::parse`), so both accept exactly what Redis does.
//!
//! Job: split one complete line into argument ranges, unescaping quoted tokens into
//! the caller's scratch buffer. Non-goals: finding the line end, NUL handling (callers
//! cut or refuse NULs first), turning ranges into owned strings.
//! Dependencies: none.

/// A quote was not closed, or a closing quote was followed by something other than
/// a blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unbalanced;

/// C `isspace` in the "C" locale.
#[inline(always)]
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[inline(always)]
fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// [`split`] into owned arguments, for callers that want the tokens themselves (a
/// script's `#!` line): the line ends at its first NUL byte, as a C string does.
pub fn split_owned(line: &[u8]) -> Result<Vec<Vec<u8>>, Unbalanced> {
    const QUOTED: u32 = 1 << 31;
    let line = &line[..line.iter().position(|&c| c == 0).unwrap_or(line.len())];
    let (mut ranges, mut scratch) = (Vec::new(), Vec::new());
    split(line, &mut ranges, &mut scratch, QUOTED)?;
    Ok(ranges
        .into_iter()
        .map(|(start, end)| {
            if start & QUOTED != 0 {
                scratch[(start & !QUOTED) as usize..end as usize].to_vec()
            } else {
                line[start as usize..end as usize].to_vec()
            }
        })
        .collect())
}

/// Redis `sdssplitargs` over `line` (which holds no NUL bytes): blanks separate
/// arguments; `"..."` understands `\n \r \t \b \a \\ \"` and `\xHH`; `'...'`
/// understands only `\'`; a closing quote must be followed by a blank or the end of
/// the line; a quote may start in the middle of an argument (`a"b c"` is `ab c`).
/// Unquoted tokens become ranges into the line; tokens containing quotes are
/// unescaped into `scratch`, and their range is into `scratch` with `scratch_flag`
/// or-ed into its start.
pub fn split(
    line: &[u8],
    args: &mut Vec<(u32, u32)>,
    scratch: &mut Vec<u8>,
    scratch_flag: u32,
) -> Result<(), Unbalanced> {
    // Reading past the end yields 0, like the C string terminator.
    let at = |i: usize| -> u8 { if i < line.len() { line[i] } else { 0 } };
    let mut p = 0usize;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(());
        }
        let tok_start = p;
        // Fast path: a token without quotes is a contiguous slice.
        while p < line.len() && !matches!(line[p], b' ' | b'\n' | b'\r' | b'\t' | b'"' | b'\'') {
            p += 1;
        }
        if !matches!(at(p), b'"' | b'\'') {
            args.push((tok_start as u32, p as u32));
            if p < line.len() {
                p += 1; // the terminating blank, as Redis's `if (*p) p++`
            }
            continue;
        }
        // Slow path: copy what we have and unescape the rest into scratch.
        let s_start = scratch.len();
        scratch.extend_from_slice(&line[tok_start..p]);
        let mut inq = false;
        let mut insq = false;
        loop {
            let c = at(p);
            if inq {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3)))
                {
                    scratch.push(h * 16 + l);
                    p += 4;
                    continue;
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    scratch.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // Closing quote must be followed by a blank or the end.
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(Unbalanced);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(Unbalanced);
                } else {
                    scratch.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    scratch.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(Unbalanced);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(Unbalanced);
                } else {
                    scratch.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => scratch.push(c),
                }
            }
            p += 1;
        }
        args.push((s_start as u32 | scratch_flag, scratch.len() as u32));
    }
}
