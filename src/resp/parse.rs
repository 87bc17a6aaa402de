//! Resumable, zero-copy client request parser (RESP multibulk + inline).
//!
//! Job: find the next complete request at the start of a byte buffer and
//! report its arguments as `(start, end)` ranges into that buffer, with the
//! same acceptance rules, limits and error texts as Redis 7
//! (`processMultibulkBuffer` / `processInlineBuffer` / `sdssplitargs`).
//! The parser keeps no state: on `Incomplete` the caller keeps the bytes and
//! calls again when more arrive. `Incomplete::need` (when a bulk length is
//! already known) tells it how many bytes to wait for, so a large value is
//! not re-scanned on every read.
//! Non-goals: parsing replies (RESP3 types), executing commands, buffering.
//! Re-parsing from the start means a single request with a huge number of
//! small arguments split across many reads is re-scanned per read; pipelines
//! of ordinary commands are unaffected.
//! Dependencies: `crate::util::num::parse_i64` (Redis `string2ll` rules).
//!
//! Offsets are `u32`. Arguments that had to be unescaped (quoted inline
//! arguments) live in a caller-provided scratch buffer and are marked by
//! [`SCRATCH_FLAG`] in their start offset; resolve any range with
//! [`arg_slice`]. Because of that flag, requests must end below 2 GiB.

use crate::util::num::parse_i64;

/// Set in the start offset of ranges that point into the scratch buffer.
pub const SCRATCH_FLAG: u32 = 1 << 31;

/// Redis's `PROTO_INLINE_MAX_SIZE`.
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// Largest bulk length an unauthenticated client may announce (Redis 7).
const UNAUTH_MAX_BULK_LEN: i64 = 16384;
/// Largest argument count an unauthenticated client may announce (Redis 7).
const UNAUTH_MAX_MULTIBULK_LEN: i64 = 10;

/// Protocol limits, mirroring Redis's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len` (default 512 MiB).
    pub max_bulk_len: usize,
    /// Largest accepted multibulk count (Redis: `INT_MAX`).
    pub max_multibulk_len: usize,
    /// Longest inline request line and longest `*`/`$` header line without a
    /// `\r` (Redis: `PROTO_INLINE_MAX_SIZE`, 64 KiB).
    pub max_inline_len: usize,
    /// Client has not authenticated while auth is required: Redis 7 then
    /// caps multibulk counts at 10 and bulk lengths at 16384 so a stranger
    /// cannot make the server allocate large buffers.
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: i32::MAX as usize,
            max_inline_len: PROTO_INLINE_MAX_SIZE,
            unauthenticated: false,
        }
    }
}

/// Outcome of a successful parse step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A full request; its arguments were appended to `args`.
    Command { consumed: usize },
    /// More bytes are needed. `need` is the minimum total buffer length (from
    /// `buf[0]`) before parsing can progress, or 0 if unknown.
    Incomplete { need: usize },
    /// Bytes forming no command (`\r\n`, blank inline line, `*0`, `*-1`):
    /// skip `consumed` bytes and carry on.
    Empty { consumed: usize },
}

/// Protocol violations; Redis replies with [`ProtoError::message`] and then
/// closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    /// A multibulk argument did not start with `$`; carries the byte found.
    ExpectedDollar(u8),
    UnbalancedQuotes,
    TooBigInline,
    TooBigMbulkCount,
    TooBigBulkCount,
    UnauthenticatedMultibulkLength,
    UnauthenticatedBulkLength,
}

impl ProtoError {
    /// Redis's error text, without the leading `-`.
    ///
    /// For `ExpectedDollar` with a non-ASCII byte Redis emits the raw byte;
    /// a `String` cannot, so it is shown as the Latin-1 character.
    pub fn message(&self) -> String {
        let detail = match self {
            ProtoError::InvalidMultibulkLength => "invalid multibulk length",
            ProtoError::InvalidBulkLength => "invalid bulk length",
            ProtoError::ExpectedDollar(b) => {
                return format!("ERR Protocol error: expected '$', got '{}'", *b as char);
            }
            ProtoError::UnbalancedQuotes => "unbalanced quotes in request",
            ProtoError::TooBigInline => "too big inline request",
            ProtoError::TooBigMbulkCount => "too big mbulk count string",
            ProtoError::TooBigBulkCount => "too big bulk count string",
            ProtoError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            ProtoError::UnauthenticatedBulkLength => "unauthenticated bulk length",
        };
        format!("ERR Protocol error: {detail}")
    }
}

impl std::fmt::Display for ProtoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ProtoError {}

/// Resolve a range produced by [`parse_request`] to its bytes.
#[inline(always)]
pub fn arg_slice<'a>(buf: &'a [u8], scratch: &'a [u8], r: (u32, u32)) -> &'a [u8] {
    if r.0 & SCRATCH_FLAG != 0 {
        &scratch[(r.0 & !SCRATCH_FLAG) as usize..r.1 as usize]
    } else {
        &buf[r.0 as usize..r.1 as usize]
    }
}

/// Parse one request starting at `buf[0]`.
///
/// Appends one range per argument to `args` (the caller clears it first).
/// Ranges are relative to `buf[0]`, except unescaped inline arguments, which
/// are appended to `scratch` (never cleared here) and flagged with
/// [`SCRATCH_FLAG`]. On `Incomplete`, `Empty` or `Err` the contents of `args`
/// (and anything appended to `scratch`) are meaningless.
#[inline]
pub fn parse_request(
    buf: &[u8],
    args: &mut Vec<(u32, u32)>,
    scratch: &mut Vec<u8>,
    limits: &Limits,
) -> Result<Parsed, ProtoError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete { need: 0 }),
        Some(b'*') => parse_multibulk(buf, args, limits),
        Some(_) => parse_inline(buf, args, scratch, limits),
    }
}

/// A `*<int>\r\n` or `$<int>\r\n` header line starting at `pos`.
enum Header {
    /// Line complete; `value` is `None` if it is not a valid integer.
    /// `cr` is the index of the terminating `\r`.
    Line { value: Option<i64>, cr: usize },
    /// Line not complete yet; minimum total buffer length, or 0 if unknown.
    Incomplete(usize),
}

/// Read the header line at `pos` (the `*`/`$` type byte is not checked).
///
/// Redis finds the first `\r` at or after the type byte, assumes a `\n`
/// follows (skipping it unchecked) and parses the bytes between with
/// `string2ll`. A header longer than `max_line` without a `\r` is `too_big`.
#[inline(always)]
fn read_header(buf: &[u8], pos: usize, max_line: usize, too_big: ProtoError) -> Result<Header, ProtoError> {
    let len = buf.len();
    // Fast path for the overwhelmingly common shape: 1-18 digits without a
    // leading zero (cannot overflow, so string2ll would accept it as is),
    // then `\r` and one more byte present.
    let mut i = pos + 1;
    if i < len {
        let d0 = buf[i].wrapping_sub(b'0');
        if d0 == 0 {
            if i + 2 < len && buf[i + 1] == b'\r' {
                return Ok(Header::Line { value: Some(0), cr: i + 1 });
            }
        } else if d0 <= 9 {
            let mut v = d0 as i64;
            i += 1;
            while i < len && i - pos <= 18 {
                let d = buf[i].wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                v = v * 10 + d as i64;
                i += 1;
            }
            if i + 1 < len && buf[i] == b'\r' {
                return Ok(Header::Line { value: Some(v), cr: i });
            }
        }
    }
    // General path: exact Redis behaviour for everything else. Like Redis,
    // the search starts at the type byte itself, so a line that *is* "\r\n"
    // is found (and then rejected by the caller's type-byte check).
    match buf[pos..].iter().position(|&b| b == b'\r') {
        Some(off) => {
            let cr = pos + off;
            if cr + 1 >= len {
                return Ok(Header::Incomplete(cr + 2));
            }
            let value = if cr > pos { parse_i64(&buf[pos + 1..cr]) } else { None };
            Ok(Header::Line { value, cr })
        }
        None if len - pos > max_line => Err(too_big),
        None => Ok(Header::Incomplete(0)),
    }
}

fn parse_multibulk(buf: &[u8], args: &mut Vec<(u32, u32)>, limits: &Limits) -> Result<Parsed, ProtoError> {
    let len = buf.len();
    let (value, cr) = match read_header(buf, 0, limits.max_inline_len, ProtoError::TooBigMbulkCount)? {
        Header::Line { value, cr } => (value, cr),
        Header::Incomplete(need) => return Ok(Parsed::Incomplete { need }),
    };
    let count = match value {
        Some(n) if n <= limits.max_multibulk_len.min(i64::MAX as usize) as i64 => n,
        _ => return Err(ProtoError::InvalidMultibulkLength),
    };
    if limits.unauthenticated && count > UNAUTH_MAX_MULTIBULK_LEN {
        return Err(ProtoError::UnauthenticatedMultibulkLength);
    }
    let mut pos = cr + 2;
    if count <= 0 {
        return Ok(Parsed::Empty { consumed: pos });
    }
    // Never trust the announced count for preallocation beyond a small cap.
    args.reserve((count as usize).min(64));
    let max_bulk = limits.max_bulk_len.min(i64::MAX as usize) as i64;
    for _ in 0..count {
        let (value, cr) = match read_header(buf, pos, limits.max_inline_len, ProtoError::TooBigBulkCount)? {
            Header::Line { value, cr } => (value, cr),
            Header::Incomplete(need) => return Ok(Parsed::Incomplete { need }),
        };
        // Redis only looks at the type byte once the whole line is present.
        if buf[pos] != b'$' {
            return Err(ProtoError::ExpectedDollar(buf[pos]));
        }
        let blen = match value {
            Some(n) if n >= 0 && n <= max_bulk => n as usize,
            _ => return Err(ProtoError::InvalidBulkLength),
        };
        if limits.unauthenticated && blen as i64 > UNAUTH_MAX_BULK_LEN {
            return Err(ProtoError::UnauthenticatedBulkLength);
        }
        let start = cr + 2;
        let end = start + blen;
        // The payload is followed by two bytes Redis skips without checking.
        let next = end + 2;
        if next > SCRATCH_FLAG as usize {
            // Offsets would collide with the scratch flag.
            return Err(ProtoError::InvalidBulkLength);
        }
        if next > len {
            return Ok(Parsed::Incomplete { need: next });
        }
        args.push((start as u32, end as u32));
        pos = next;
    }
    Ok(Parsed::Command { consumed: pos })
}

fn parse_inline(
    buf: &[u8],
    args: &mut Vec<(u32, u32)>,
    scratch: &mut Vec<u8>,
    limits: &Limits,
) -> Result<Parsed, ProtoError> {
    let nl = match buf.iter().position(|&b| b == b'\n') {
        Some(nl) => nl,
        None => {
            if buf.len() > limits.max_inline_len {
                return Err(ProtoError::TooBigInline);
            }
            return Ok(Parsed::Incomplete { need: 0 });
        }
    };
    let consumed = nl + 1;
    if consumed > SCRATCH_FLAG as usize {
        return Err(ProtoError::TooBigInline);
    }
    let mut line_end = nl;
    if nl > 0 && buf[nl - 1] == b'\r' {
        line_end -= 1;
    }
    // Redis splits a C string, so an embedded NUL ends the line for splitting.
    let line = &buf[..line_end];
    let line = match line.iter().position(|&b| b == 0) {
        Some(z) => &line[..z],
        None => line,
    };
    split_args(line, args, scratch)?;
    if args.is_empty() { Ok(Parsed::Empty { consumed }) } else { Ok(Parsed::Command { consumed }) }
}

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
fn split_args(line: &[u8], args: &mut Vec<(u32, u32)>, scratch: &mut Vec<u8>) -> Result<(), ProtoError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(buf: &[u8], limits: &Limits) -> Result<(Parsed, Vec<Vec<u8>>), ProtoError> {
        let mut args = Vec::new();
        let mut scratch = Vec::new();
        let r = parse_request(buf, &mut args, &mut scratch, limits)?;
        let v = args.iter().map(|&r| arg_slice(buf, &scratch, r).to_vec()).collect();
        Ok((r, v))
    }

    fn one(buf: &[u8]) -> Result<(Parsed, Vec<Vec<u8>>), ProtoError> {
        parse_all(buf, &Limits::default())
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_basic() {
        let req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
        let (p, a) = one(req).unwrap();
        assert_eq!(p, Parsed::Command { consumed: req.len() });
        assert_eq!(a, strs(&["SET", "k", "value"]));
        // Empty and binary arguments.
        let req = b"*2\r\n$0\r\n\r\n$3\r\n\r\n\0\r\n";
        let (p, a) = one(req).unwrap();
        assert_eq!(p, Parsed::Command { consumed: req.len() });
        assert_eq!(a, vec![b"".to_vec(), b"\r\n\0".to_vec()]);
    }

    #[test]
    fn pipelined_batch() {
        let mut buf = Vec::new();
        for i in 0..100 {
            let k = format!("key:{i}");
            buf.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n${}\r\n{}\r\n", k.len(), k).as_bytes());
            buf.extend_from_slice(format!("PING {i}\r\n").as_bytes());
        }
        let mut off = 0;
        let mut args = Vec::new();
        let mut scratch = Vec::new();
        let mut n = 0;
        while off < buf.len() {
            args.clear();
            let r = parse_request(&buf[off..], &mut args, &mut scratch, &Limits::default()).unwrap();
            let Parsed::Command { consumed } = r else { panic!("{r:?}") };
            let a0 = arg_slice(&buf[off..], &scratch, args[0]);
            let a1 = arg_slice(&buf[off..], &scratch, args[1]);
            if n % 2 == 0 {
                assert_eq!(a0, b"GET");
                assert_eq!(a1, format!("key:{}", n / 2).as_bytes());
            } else {
                assert_eq!(a0, b"PING");
                assert_eq!(a1, format!("{}", n / 2).as_bytes());
            }
            off += consumed;
            n += 1;
        }
        assert_eq!(n, 200);
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let samples: [&[u8]; 3] = [
            b"*3\r\n$3\r\nSET\r\n$10\r\nkey:000001\r\n$5\r\nhello\r\n",
            b"SET \"a b\\x41\" 'c\\'d'\r\n",
            b"*2\r\n$0\r\n\r\n$1\r\nx\r\n",
        ];
        for req in samples {
            let (full, full_args) = one(req).unwrap();
            assert_eq!(full, Parsed::Command { consumed: req.len() });
            for cut in 0..req.len() {
                let r = one(&req[..cut]).unwrap().0;
                match r {
                    Parsed::Incomplete { need } => {
                        assert!(need == 0 || (need > cut && need <= req.len()), "cut {cut} need {need}")
                    }
                    other => panic!("cut {cut}: {other:?}"),
                }
            }
            // Extra trailing bytes (next request) don't change the result.
            let mut more = req.to_vec();
            more.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
            let (p, a) = one(&more).unwrap();
            assert_eq!(p, full);
            assert_eq!(a, full_args);
        }
    }

    #[test]
    fn need_hint_for_big_bulk() {
        let r = one(b"*2\r\n$3\r\nGET\r\n$100\r\nabc").unwrap().0;
        assert_eq!(r, Parsed::Incomplete { need: 13 + 6 + 100 + 2 });
        let r = one(b"*1\r\n$3\r").unwrap().0;
        assert_eq!(r, Parsed::Incomplete { need: 8 });
    }

    #[test]
    fn empty_requests() {
        assert_eq!(one(b"*0\r\n").unwrap().0, Parsed::Empty { consumed: 4 });
        assert_eq!(one(b"*-1\r\n").unwrap().0, Parsed::Empty { consumed: 5 });
        assert_eq!(one(b"\r\n").unwrap().0, Parsed::Empty { consumed: 2 });
        assert_eq!(one(b"\n").unwrap().0, Parsed::Empty { consumed: 1 });
        assert_eq!(one(b"   \t \r\n").unwrap().0, Parsed::Empty { consumed: 7 });
        assert_eq!(one(b"").unwrap().0, Parsed::Incomplete { need: 0 });
    }

    #[test]
    fn inline_commands() {
        let (p, a) = one(b"SET  key   value\r\nGET").unwrap();
        assert_eq!(p, Parsed::Command { consumed: 18 });
        assert_eq!(a, strs(&["SET", "key", "value"]));
        let (_, a) = one(b"PING\n").unwrap();
        assert_eq!(a, strs(&["PING"]));
        // 'it''s': a closing quote followed by a quote, not a blank.
        assert_eq!(one(b"set 'it''s'\r\n").unwrap_err(), ProtoError::UnbalancedQuotes);
    }

    #[test]
    fn inline_quotes() {
        let (_, a) = one(b"SET \"a b\" 'c d'\r\n").unwrap();
        assert_eq!(a, strs(&["SET", "a b", "c d"]));
        let (_, a) = one(b"X \"\\x41\\x4a\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n").unwrap();
        assert_eq!(a[1], b"AJ\n\r\t\x08\x07\\\"q".to_vec());
        let (_, a) = one(b"X 'it\\'s' '\\n'\r\n").unwrap();
        assert_eq!(a[1], b"it's".to_vec());
        assert_eq!(a[2], b"\\n".to_vec());
        // Quotes in the middle of a token join with the surrounding bytes.
        let (_, a) = one(b"X ab\"c d\" f\r\n").unwrap();
        assert_eq!(a, strs(&["X", "abc d", "f"]));
        // Empty quoted argument.
        let (_, a) = one(b"X \"\" ''\r\n").unwrap();
        assert_eq!(a, strs(&["X", "", ""]));
        // Invalid \x escape is taken literally (as '\' then 'x').
        let (_, a) = one(b"X \"\\xZZ\"\r\n").unwrap();
        assert_eq!(a[1], b"xZZ".to_vec());
        // \v and \f are skipped as leading blanks but do not end a token.
        let (_, a) = one(b"X\x0b\x0ca\x0bb\r\n").unwrap();
        assert_eq!(a, vec![b"X\x0b\x0ca\x0bb".to_vec()]);
        let (_, a) = one(b"\x0b\x0cPING\r\n").unwrap();
        assert_eq!(a, strs(&["PING"]));
        // NUL ends the line for splitting purposes.
        let (p, a) = one(b"GET a\0b c\r\n").unwrap();
        assert_eq!(p, Parsed::Command { consumed: 11 });
        assert_eq!(a, strs(&["GET", "a"]));
    }

    #[test]
    fn inline_unbalanced() {
        for bad in [
            &b"SET \"abc\r\n"[..],
            b"SET 'abc\r\n",
            b"SET \"abc\"def\r\n",
            b"SET 'abc'def\r\n",
            b"SET \"abc\\\"\r\n",
            b"X ab\"c d\"e\r\n",
        ] {
            let e = one(bad).unwrap_err();
            assert_eq!(e, ProtoError::UnbalancedQuotes, "{:?}", String::from_utf8_lossy(bad));
            assert_eq!(e.message(), "ERR Protocol error: unbalanced quotes in request");
        }
    }

    #[test]
    fn multibulk_errors() {
        let e = one(b"*abc\r\n").unwrap_err();
        assert_eq!(e.message(), "ERR Protocol error: invalid multibulk length");
        assert_eq!(one(b"*\r\n").unwrap_err(), ProtoError::InvalidMultibulkLength);
        assert_eq!(one(b"*01\r\n").unwrap_err(), ProtoError::InvalidMultibulkLength);
        assert_eq!(one(b"*2147483648\r\n").unwrap_err(), ProtoError::InvalidMultibulkLength);
        assert_eq!(one(b"*2147483647\r\n").unwrap().0, Parsed::Incomplete { need: 0 });
        let e = one(b"*1\r\nx\r\n").unwrap_err();
        assert_eq!(e, ProtoError::ExpectedDollar(b'x'));
        assert_eq!(e.message(), "ERR Protocol error: expected '$', got 'x'");
        // The type byte is only checked once the full line is there.
        assert_eq!(one(b"*1\r\nxyz").unwrap().0, Parsed::Incomplete { need: 0 });
        let e = one(b"*1\r\n$-1\r\n").unwrap_err();
        assert_eq!(e.message(), "ERR Protocol error: invalid bulk length");
        assert_eq!(one(b"*1\r\n$x\r\n").unwrap_err(), ProtoError::InvalidBulkLength);
        assert_eq!(one(b"*1\r\n$03\r\n").unwrap_err(), ProtoError::InvalidBulkLength);
        assert_eq!(one(b"*1\r\n$\r\n").unwrap_err(), ProtoError::InvalidBulkLength);
        assert_eq!(one(b"*1\r\n\r\n").unwrap_err(), ProtoError::ExpectedDollar(b'\r'));
        // Second argument's header is only validated after the first arrived.
        assert_eq!(one(b"*2\r\n$3\r\nGE").unwrap().0, Parsed::Incomplete { need: 13 });
        assert_eq!(one(b"*2\r\n$3\r\nGET\r\n?\r\n").unwrap_err(), ProtoError::ExpectedDollar(b'?'));
    }

    #[test]
    fn huge_lengths_rejected_early() {
        let e = one(b"*1\r\n$3000000000\r\n").unwrap_err();
        assert_eq!(e, ProtoError::InvalidBulkLength);
        let e = one(b"*1\r\n$536870913\r\n").unwrap_err();
        assert_eq!(e, ProtoError::InvalidBulkLength);
        assert_eq!(one(b"*1\r\n$536870912\r\n").unwrap().0, Parsed::Incomplete { need: 16 + 536870912 + 2 });
        let lim = Limits { max_bulk_len: 5, ..Limits::default() };
        assert_eq!(parse_all(b"*1\r\n$6\r\n", &lim).unwrap_err(), ProtoError::InvalidBulkLength);
        let lim = Limits { max_multibulk_len: 3, ..Limits::default() };
        assert_eq!(parse_all(b"*4\r\n", &lim).unwrap_err(), ProtoError::InvalidMultibulkLength);
        // Count lines/bulk headers without \r beyond 64 KiB.
        let mut big = b"*".to_vec();
        big.resize(64 * 1024 + 1, b'1');
        assert_eq!(one(&big).unwrap_err(), ProtoError::TooBigMbulkCount);
        assert_eq!(ProtoError::TooBigMbulkCount.message(), "ERR Protocol error: too big mbulk count string");
        big.truncate(64 * 1024);
        assert_eq!(one(&big).unwrap().0, Parsed::Incomplete { need: 0 });
        let mut big = b"*1\r\n$".to_vec();
        big.resize(4 + 64 * 1024 + 1, b'1');
        assert_eq!(one(&big).unwrap_err(), ProtoError::TooBigBulkCount);
        assert_eq!(ProtoError::TooBigBulkCount.message(), "ERR Protocol error: too big bulk count string");
        let mut big = b"GET ".to_vec();
        big.resize(64 * 1024 + 1, b'a');
        assert_eq!(one(&big).unwrap_err(), ProtoError::TooBigInline);
        assert_eq!(ProtoError::TooBigInline.message(), "ERR Protocol error: too big inline request");
        big.truncate(64 * 1024);
        assert_eq!(one(&big).unwrap().0, Parsed::Incomplete { need: 0 });
    }

    #[test]
    fn unauthenticated_limits() {
        let lim = Limits { unauthenticated: true, ..Limits::default() };
        let e = parse_all(b"*11\r\n", &lim).unwrap_err();
        assert_eq!(e.message(), "ERR Protocol error: unauthenticated multibulk length");
        assert_eq!(parse_all(b"*10\r\n", &lim).unwrap().0, Parsed::Incomplete { need: 0 });
        let e = parse_all(b"*1\r\n$16385\r\n", &lim).unwrap_err();
        assert_eq!(e.message(), "ERR Protocol error: unauthenticated bulk length");
        assert!(matches!(parse_all(b"*1\r\n$16384\r\n", &lim).unwrap().0, Parsed::Incomplete { .. }));
    }
}
