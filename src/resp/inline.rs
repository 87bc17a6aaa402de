//! Inline requests (`PING\r\n`, `SET "a b" 'c'\n`): Redis's `sdssplitargs`.
//!
//! Job: split one complete inline line into argument ranges, unescaping quoted
//! tokens into the caller's scratch buffer, with Redis's acceptance rules.
//! Non-goals: finding the line end (the request parser does that, resumably).
//! Dependencies: none beyond `super::parse` for the range encoding.

use super::parse::{ProtoError, SCRATCH_FLAG};

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

/// Redis `sdssplitargs` over `line` (which holds no NUL bytes). Unquoted
/// tokens become ranges into the line; tokens containing quotes are
/// unescaped into `scratch`.
pub(super) fn split_args(line: &[u8], args: &mut Vec<(u32, u32)>, scratch: &mut Vec<u8>) -> Result<(), ProtoError> {
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
                        return Err(ProtoError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtoError::UnbalancedQuotes);
                } else {
                    scratch.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    scratch.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(ProtoError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtoError::UnbalancedQuotes);
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
        args.push((s_start as u32 | SCRATCH_FLAG, scratch.len() as u32));
    }
}
