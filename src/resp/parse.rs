//! Resumable, zero-copy client request parser (RESP multibulk + inline).
//!
//! Job: find the next complete request at the start of a byte buffer and
//! report its arguments as `(start, end)` ranges into that buffer, with the
//! same acceptance rules, limits and error texts as Redis 7
//! (`processMultibulkBuffer` / `processInlineBuffer` / `sdssplitargs`).
//! Non-goals: parsing replies (RESP3 types), executing commands, owning or
//! growing the read buffer.
//! Dependencies: `crate::util::num::parse_i64` (Redis `string2ll` rules).
//!
//! ## State kept across reads
//!
//! A request may arrive over many reads: one `RPUSH` of a million small
//! arguments is 13 MiB, which comes in as hundreds of 16-64 KiB chunks. A
//! stateless parser has to walk the partial request from its first byte on
//! every read, which makes such a request cost O(reads x size): seconds of
//! CPU for what Redis does in milliseconds. So, like Redis's client fields
//! `multibulklen` / `bulklen` and its `argv`, a [`RequestParser`] remembers,
//! per connection, how far into the partial request it got:
//!
//! - `pos`: the bytes already consumed (the count header and every complete
//!   argument; after a `$` header, the start of that argument's payload),
//! - `remaining`: the arguments still to read (0 before the count header),
//! - `bulk_len`: the payload length of an argument whose header was read,
//! - `scanned`: how much of an unfinished header or inline line was already
//!   searched for its line end (so a slowly arriving line is not re-searched),
//! - `args`: the ranges of the arguments parsed so far.
//!
//! Each call resumes there and touches only the new bytes, so a request costs
//! O(size) however it is split. The caller must hand the same request bytes
//! back, starting at the request's first byte, with more appended; it may move
//! them (ranges are relative to the request start, not addresses). Ranges stay
//! valid until the next call. The parser's `parsed_len` also tells the caller
//! how much of its buffer is unparsed input, which is what Redis's
//! `client-query-buffer-limit` measures.
//!
//! A caller may also move the complete arguments of a partial request out of
//! its buffer ([`RequestParser::detach_into`], into an [`ArgStore`]) and drop
//! their bytes; the parser then counts from the first unparsed byte.
//!
//! [`parse_request`] is the stateless form (a fresh state per call) for
//! callers that always hold whole requests, such as benchmarks and tests.
//!
//! Offsets are `u32`. Arguments that had to be unescaped (quoted inline
//! arguments) live in a caller-provided scratch buffer and are marked by
//! [`SCRATCH_FLAG`] in their start offset; resolve any range with
//! [`arg_slice`]. Because of that flag, requests must end below 2 GiB.
//!
//! Nothing is allocated from an announced length: `*2147483647` reserves room
//! for at most 64 ranges, and a `$` length only becomes a hint (`need`) to the
//! caller, which decides how to grow its buffer.

use super::argv::ArgStore;
use super::inline::split_args;
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
    /// A full request; its arguments are available (see the parse function).
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

/// Resolve a range produced by the parser to its bytes.
#[inline(always)]
pub fn arg_slice<'a>(buf: &'a [u8], scratch: &'a [u8], r: (u32, u32)) -> &'a [u8] {
    if r.0 & SCRATCH_FLAG != 0 {
        &scratch[(r.0 & !SCRATCH_FLAG) as usize..r.1 as usize]
    } else {
        &buf[r.0 as usize..r.1 as usize]
    }
}

/// `Progress::bulk_len` when no `$` header is pending.
const NO_BULK: usize = usize::MAX;

/// How far into the request at the front of the buffer parsing got (see the
/// module docs). The default value is "at the start of a request".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Progress {
    pos: usize,
    remaining: usize,
    bulk_len: usize,
    scanned: usize,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { pos: 0, remaining: 0, bulk_len: NO_BULK, scanned: 0 }
    }
}

/// A connection's request parser: the progress through a partial request,
/// kept across reads, and the argument ranges parsed so far.
#[derive(Debug, Default)]
pub struct RequestParser {
    progress: Progress,
    args: Vec<(u32, u32)>,
}

impl RequestParser {
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// Parses on from where the last call stopped. `buf` starts at the first
    /// byte of the current request and holds at least the bytes the last call
    /// saw. On `Command`, [`RequestParser::args`] holds the request's ranges
    /// (relative to `buf[0]`; unescaped inline arguments were appended to
    /// `scratch`, which is never cleared here) until the next call, which
    /// starts a new request. `Empty` and `Err` also end the request.
    #[inline]
    pub fn parse(&mut self, buf: &[u8], scratch: &mut Vec<u8>, limits: &Limits) -> Result<Parsed, ProtoError> {
        if self.progress.remaining == 0 {
            // At a request start: nothing of this request is in `args` yet.
            self.args.clear();
        }
        parse_with(&mut self.progress, buf, &mut self.args, scratch, limits)
    }

    /// The arguments of the request the last `parse` completed.
    #[inline]
    pub fn args(&self) -> &[(u32, u32)] {
        &self.args
    }

    /// Bytes of the current partial request already consumed (headers and
    /// complete arguments). Everything after them is unparsed input.
    #[inline]
    pub fn parsed_len(&self) -> usize {
        self.progress.pos
    }

    /// Is a request partly parsed (its count header read)?
    #[inline]
    pub fn in_request(&self) -> bool {
        self.progress.remaining != 0
    }

    /// Payload length of the argument being received, once its `$` header
    /// was read and while its bytes (plus the CRLF) are not all in.
    #[inline]
    pub fn pending_bulk(&self) -> Option<usize> {
        (self.progress.bulk_len != NO_BULK).then_some(self.progress.bulk_len)
    }

    /// Moves the complete arguments of the partial request into `store` (which
    /// the caller keeps until the request completes; its arguments come before
    /// [`RequestParser::args`] then) and forgets them. Returns the number of bytes
    /// at the start of the request they took (`parsed_len()` before the call): the
    /// caller drops them from its buffer, and later calls pass the buffer from the
    /// first unparsed byte on. `buf` is the buffer the last `parse` saw. So a big
    /// request does not have to stay whole in one growing read buffer.
    pub fn detach_into(&mut self, buf: &[u8], store: &mut ArgStore) -> usize {
        debug_assert!(self.in_request(), "only a partial multibulk request has arguments to detach");
        // Multibulk arguments are never unescaped into the scratch buffer.
        for &r in &self.args {
            store.push(arg_slice(buf, &[], r));
        }
        self.args.clear();
        std::mem::take(&mut self.progress.pos)
    }

    /// Forgets the first parsed argument, which must span `buf[..len]` of the
    /// buffer the last `parse` saw, and its CRLF: the caller took those bytes
    /// (`len + 2`) off its buffer's front, so the other ranges and the progress
    /// move back by as much. Returns that shift. So a big argument that fills its
    /// read buffer can become the argument itself, without a copy.
    pub fn take_first_arg(&mut self, len: usize) -> usize {
        debug_assert_eq!(self.args.first(), Some(&(0, len as u32)));
        let shift = len + 2;
        self.args.remove(0);
        for r in &mut self.args {
            r.0 -= shift as u32;
            r.1 -= shift as u32;
        }
        if self.in_request() {
            self.progress.pos -= shift;
        }
        shift
    }

    /// Forgets the partial request (the connection dropped its input).
    pub fn reset(&mut self) {
        self.progress = Progress::default();
        self.args.clear();
    }
}

/// Parse one request starting at `buf[0]`, from scratch.
///
/// Appends one range per argument to `args` (the caller clears it first).
/// Ranges are relative to `buf[0]`, except unescaped inline arguments, which
/// are appended to `scratch` (never cleared here) and flagged with
/// [`SCRATCH_FLAG`]. On `Incomplete`, `Empty` or `Err` the contents of `args`
/// (and anything appended to `scratch`) are meaningless. Connections use
/// [`RequestParser`], which does not re-parse a partial request.
#[inline]
pub fn parse_request(
    buf: &[u8],
    args: &mut Vec<(u32, u32)>,
    scratch: &mut Vec<u8>,
    limits: &Limits,
) -> Result<Parsed, ProtoError> {
    parse_with(&mut Progress::default(), buf, args, scratch, limits)
}

#[inline(always)]
fn parse_with(
    p: &mut Progress,
    buf: &[u8],
    args: &mut Vec<(u32, u32)>,
    scratch: &mut Vec<u8>,
    limits: &Limits,
) -> Result<Parsed, ProtoError> {
    if p.remaining == 0 {
        match buf.first() {
            None => return Ok(Parsed::Incomplete { need: 0 }),
            Some(b'*') => {}
            Some(_) => return parse_inline(p, buf, args, scratch, limits),
        }
    }
    let r = parse_multibulk(p, buf, args, limits);
    if !matches!(r, Ok(Parsed::Incomplete { .. })) {
        *p = Progress::default();
    }
    r
}

/// A `*<int>\r\n` or `$<int>\r\n` header line starting at `pos`.
enum Header {
    /// Line complete; `value` is `None` if it is not a valid integer.
    /// `cr` is the index of the terminating `\r`.
    Line { value: Option<i64>, cr: usize },
    /// Line not complete yet: minimum total buffer length (or 0 if unknown),
    /// and how many bytes from `pos` are known to hold no `\r`.
    Incomplete { need: usize, scanned: usize },
}

/// Read the header line at `pos` (the `*`/`$` type byte is not checked).
/// `scanned` bytes from `pos` are already known to hold no `\r`.
///
/// Redis finds the first `\r` at or after the type byte, assumes a `\n`
/// follows (skipping it unchecked) and parses the bytes between with
/// `string2ll`. A header longer than `max_line` without a `\r` is `too_big`.
#[inline(always)]
fn read_header(
    buf: &[u8],
    pos: usize,
    scanned: usize,
    max_line: usize,
    too_big: ProtoError,
) -> Result<Header, ProtoError> {
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
    read_header_slow(buf, pos, scanned, max_line, too_big)
}

/// Exact Redis behaviour for every header the fast path does not take. Like
/// Redis, the search starts at the type byte itself, so a line that *is*
/// "\r\n" is found (and then rejected by the caller's type-byte check).
#[inline(never)]
fn read_header_slow(
    buf: &[u8],
    pos: usize,
    scanned: usize,
    max_line: usize,
    too_big: ProtoError,
) -> Result<Header, ProtoError> {
    let len = buf.len();
    let from = (pos + scanned).min(len);
    match buf[from..].iter().position(|&b| b == b'\r') {
        Some(off) => {
            let cr = from + off;
            if cr + 1 >= len {
                return Ok(Header::Incomplete { need: cr + 2, scanned: cr - pos });
            }
            let value = if cr > pos { parse_i64(&buf[pos + 1..cr]) } else { None };
            Ok(Header::Line { value, cr })
        }
        None if len - pos > max_line => Err(too_big),
        None => Ok(Header::Incomplete { need: 0, scanned: len - pos }),
    }
}

fn parse_multibulk(
    p: &mut Progress,
    buf: &[u8],
    args: &mut Vec<(u32, u32)>,
    limits: &Limits,
) -> Result<Parsed, ProtoError> {
    let len = buf.len();
    if p.remaining == 0 {
        let (value, cr) = match read_header(buf, 0, p.scanned, limits.max_inline_len, ProtoError::TooBigMbulkCount)? {
            Header::Line { value, cr } => (value, cr),
            Header::Incomplete { need, scanned } => {
                p.scanned = scanned;
                return Ok(Parsed::Incomplete { need });
            }
        };
        let count = match value {
            Some(n) if n <= limits.max_multibulk_len.min(i64::MAX as usize) as i64 => n,
            _ => return Err(ProtoError::InvalidMultibulkLength),
        };
        if limits.unauthenticated && count > UNAUTH_MAX_MULTIBULK_LEN {
            return Err(ProtoError::UnauthenticatedMultibulkLength);
        }
        if count <= 0 {
            return Ok(Parsed::Empty { consumed: cr + 2 });
        }
        // Never trust the announced count for preallocation beyond a small cap.
        args.reserve((count as usize).min(64));
        *p = Progress { pos: cr + 2, remaining: count as usize, bulk_len: NO_BULK, scanned: 0 };
    }
    let Progress { mut pos, mut remaining, mut bulk_len, mut scanned } = *p;
    let max_bulk = limits.max_bulk_len.min(i64::MAX as usize) as i64;
    while remaining > 0 {
        if bulk_len == NO_BULK {
            let (value, cr) = match read_header(buf, pos, scanned, limits.max_inline_len, ProtoError::TooBigBulkCount)?
            {
                Header::Line { value, cr } => (value, cr),
                Header::Incomplete { need, scanned } => {
                    *p = Progress { pos, remaining, bulk_len: NO_BULK, scanned };
                    return Ok(Parsed::Incomplete { need });
                }
            };
            // Redis only looks at the type byte once the whole line is present.
            if buf[pos] != b'$' {
                return Err(ProtoError::ExpectedDollar(buf[pos]));
            }
            bulk_len = match value {
                Some(n) if n >= 0 && n <= max_bulk => n as usize,
                _ => return Err(ProtoError::InvalidBulkLength),
            };
            if limits.unauthenticated && bulk_len as i64 > UNAUTH_MAX_BULK_LEN {
                return Err(ProtoError::UnauthenticatedBulkLength);
            }
            pos = cr + 2;
            scanned = 0;
        }
        let end = pos + bulk_len;
        // The payload is followed by two bytes Redis skips without checking.
        let next = end + 2;
        if next > SCRATCH_FLAG as usize {
            // Offsets would collide with the scratch flag.
            return Err(ProtoError::InvalidBulkLength);
        }
        if next > len {
            *p = Progress { pos, remaining, bulk_len, scanned: 0 };
            return Ok(Parsed::Incomplete { need: next });
        }
        args.push((pos as u32, end as u32));
        pos = next;
        remaining -= 1;
        bulk_len = NO_BULK;
    }
    Ok(Parsed::Command { consumed: pos })
}

fn parse_inline(
    p: &mut Progress,
    buf: &[u8],
    args: &mut Vec<(u32, u32)>,
    scratch: &mut Vec<u8>,
    limits: &Limits,
) -> Result<Parsed, ProtoError> {
    let from = p.scanned.min(buf.len());
    let nl = match buf[from..].iter().position(|&b| b == b'\n') {
        Some(off) => from + off,
        None => {
            if buf.len() > limits.max_inline_len {
                *p = Progress::default();
                return Err(ProtoError::TooBigInline);
            }
            p.scanned = buf.len();
            return Ok(Parsed::Incomplete { need: 0 });
        }
    };
    *p = Progress::default();
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

/// The resumable parser against the stateless one: any split of a byte stream
/// into reads must give the same requests, empties and errors as one read.
#[cfg(test)]
mod split_tests {
    use super::*;

    /// What a connection would see, in order.
    #[derive(Debug, PartialEq, Eq)]
    enum Event {
        Command(Vec<Vec<u8>>),
        Empty,
        Error(ProtoError),
    }

    /// Parses `stream` delivered as reads ending at `cuts` (ascending, each
    /// < stream.len()), the way `net::conn` does: keep the unparsed bytes,
    /// resume on each read. Stops at the first error, like a connection.
    fn run_split(stream: &[u8], cuts: &[usize], limits: &Limits) -> Vec<Event> {
        run_split_detaching(stream, cuts, limits, false)
    }

    /// `run_split`, and with `detach` the complete arguments of a partial request
    /// move out to an `ArgStore` after every read (`net::conn` does it past a
    /// threshold) and their bytes are dropped.
    fn run_split_detaching(stream: &[u8], cuts: &[usize], limits: &Limits, detach: bool) -> Vec<Event> {
        let mut parser = RequestParser::new();
        let mut moved = ArgStore::new();
        let mut scratch = Vec::new();
        let mut events = Vec::new();
        let mut start = 0; // request start in `stream`
        let ends = cuts.iter().copied().chain(std::iter::once(stream.len()));
        for end in ends {
            loop {
                if start >= end {
                    break;
                }
                scratch.clear();
                let buf = &stream[start..end];
                match parser.parse(buf, &mut scratch, limits) {
                    Ok(Parsed::Command { consumed }) => {
                        let head = (0..moved.len()).map(|i| moved.get(i).to_vec());
                        let args =
                            head.chain(parser.args().iter().map(|&r| arg_slice(buf, &scratch, r).to_vec())).collect();
                        moved.clear();
                        events.push(Event::Command(args));
                        start += consumed;
                    }
                    Ok(Parsed::Empty { consumed }) => {
                        assert!(moved.is_empty());
                        events.push(Event::Empty);
                        start += consumed;
                    }
                    Ok(Parsed::Incomplete { need }) => {
                        assert!(need == 0 || need > buf.len(), "need {need} with {} bytes", buf.len());
                        if detach && parser.in_request() {
                            let parsed = parser.parsed_len();
                            assert_eq!(parser.detach_into(buf, &mut moved), parsed);
                            assert_eq!(parser.parsed_len(), 0);
                            start += parsed;
                        }
                        break;
                    }
                    Err(e) => {
                        events.push(Event::Error(e));
                        return events;
                    }
                }
            }
        }
        events
    }

    /// The same stream through the stateless `parse_request`, all at once.
    fn run_whole(stream: &[u8], limits: &Limits) -> Vec<Event> {
        let mut events = Vec::new();
        let mut off = 0;
        let mut args = Vec::new();
        let mut scratch = Vec::new();
        while off < stream.len() {
            args.clear();
            scratch.clear();
            let buf = &stream[off..];
            match parse_request(buf, &mut args, &mut scratch, limits) {
                Ok(Parsed::Command { consumed }) => {
                    events.push(Event::Command(args.iter().map(|&r| arg_slice(buf, &scratch, r).to_vec()).collect()));
                    off += consumed;
                }
                Ok(Parsed::Empty { consumed }) => {
                    events.push(Event::Empty);
                    off += consumed;
                }
                Ok(Parsed::Incomplete { .. }) => break,
                Err(e) => {
                    events.push(Event::Error(e));
                    break;
                }
            }
        }
        events
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    /// A random request stream: valid multibulk and inline requests, empty
    /// lines and `*0`, and sometimes a malformed request (so errors are
    /// compared too) and a torn last request.
    fn random_stream(rng: &mut Rng, limits: &Limits) -> Vec<u8> {
        let mut s = Vec::new();
        for _ in 0..rng.below(6) + 1 {
            match rng.below(12) {
                0..=5 => {
                    let n = rng.below(5) + 1;
                    s.extend_from_slice(format!("*{n}\r\n").as_bytes());
                    for _ in 0..n {
                        let len = match rng.below(4) {
                            0 => 0,
                            1 => rng.below(200) as usize,
                            _ => rng.below(12) as usize,
                        };
                        s.extend_from_slice(format!("${len}\r\n").as_bytes());
                        // Payloads may hold CR, LF and '$': they are length-delimited.
                        s.extend((0..len).map(|_| b"ab\r\n$*\0x"[rng.below(8) as usize]));
                        s.extend_from_slice(b"\r\n");
                    }
                }
                6 | 7 => {
                    let line = ["PING", "SET k v", "GET \"a b\"", "X 'it\\'s' y", "  A\tB  ", "ECHO \"\\x41\""];
                    s.extend_from_slice(line[rng.below(line.len() as u64) as usize].as_bytes());
                    s.extend_from_slice(if rng.below(2) == 0 { b"\r\n" } else { b"\n" });
                }
                8 => s.extend_from_slice([&b"\r\n"[..], b"*0\r\n", b"*-1\r\n", b"\n"][rng.below(4) as usize]),
                9 => {
                    let bad = [
                        &b"*abc\r\n"[..],
                        b"*2\r\n$3\r\nGET\r\n:1\r\n",
                        b"*1\r\n$-2\r\n",
                        b"SET \"x\r\n",
                        b"*1\r\n$99999\r\n",
                        b"*12\r\n",
                    ];
                    s.extend_from_slice(bad[rng.below(bad.len() as u64) as usize]);
                }
                10 => {
                    // A long header line slowly arriving: exercises `scanned`.
                    s.extend_from_slice(b"*1\r\n$000000000000000000000000005\r\nhello\r\n");
                }
                _ => {
                    // Oversized header/inline (too big ... errors).
                    let mut big = if rng.below(2) == 0 { b"*".to_vec() } else { b"GET ".to_vec() };
                    big.resize(limits.max_inline_len + 2, b'1');
                    s.extend_from_slice(&big);
                    return s;
                }
            }
        }
        if rng.below(3) == 0 {
            let cut = rng.below(s.len() as u64) as usize;
            s.truncate(cut);
        }
        s
    }

    /// Random limits. `max_inline_len` stays at its default: whether a header
    /// longer than it is refused depends on where reads end (in Redis too), so
    /// a small one would make the split result differ legitimately.
    fn limits_for(rng: &mut Rng) -> Limits {
        Limits {
            unauthenticated: rng.below(4) == 0,
            max_bulk_len: [512 << 20, 100][rng.below(2) as usize],
            ..Limits::default()
        }
    }

    #[test]
    fn random_splits_match_a_single_read() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let limits = limits_for(&mut rng);
            let stream = random_stream(&mut rng, &limits);
            let whole = run_whole(&stream, &limits);
            assert_eq!(run_split(&stream, &[], &limits), whole);
            // Random cut points.
            for _ in 0..4 {
                let mut cuts: Vec<usize> = (0..rng.below(8)).map(|_| rng.below(stream.len() as u64) as usize).collect();
                cuts.sort_unstable();
                cuts.dedup();
                assert_eq!(run_split(&stream, &cuts, &limits), whole, "stream {:?} cuts {cuts:?}", stream);
                let detached = run_split_detaching(&stream, &cuts, &limits, true);
                assert_eq!(detached, whole, "detaching, stream {:?} cuts {cuts:?}", stream);
            }
        }
    }

    #[test]
    fn every_split_of_small_streams_matches() {
        let mut rng = Rng(42);
        for _ in 0..150 {
            let limits = limits_for(&mut rng);
            let stream = random_stream(&mut rng, &limits);
            if stream.len() > 400 {
                continue;
            }
            let whole = run_whole(&stream, &limits);
            // One byte per read.
            let bytewise: Vec<usize> = (1..stream.len()).collect();
            assert_eq!(run_split(&stream, &bytewise, &limits), whole);
            assert_eq!(run_split_detaching(&stream, &bytewise, &limits, true), whole);
            // Every pair of cut points.
            for a in 0..stream.len() {
                for b in a..stream.len() {
                    let cuts = if a == b { vec![a] } else { vec![a, b] };
                    assert_eq!(run_split(&stream, &cuts, &limits), whole, "stream {:?} cuts {cuts:?}", stream);
                }
            }
        }
    }

    /// A million-argument request fed in 16 KiB reads is parsed in time
    /// linear in its size: every byte is looked at a bounded number of times,
    /// so the total is far below what re-parsing per read would cost.
    #[test]
    fn many_reads_do_not_reparse() {
        let n = 200_000;
        let mut s = format!("*{}\r\n$5\r\nRPUSH\r\n$4\r\nlist\r\n", n + 2).into_bytes();
        for i in 0..n {
            let v = format!("{}", i % 1000);
            s.extend_from_slice(format!("${}\r\n{v}\r\n", v.len()).as_bytes());
        }
        let mut parser = RequestParser::new();
        let mut scratch = Vec::new();
        let limits = Limits::default();
        let mut calls = 0;
        let mut end = 0;
        let mut max_parsed = 0;
        loop {
            end = (end + (16 << 10)).min(s.len());
            calls += 1;
            let r = parser.parse(&s[..end], &mut scratch, &limits).unwrap();
            if let Parsed::Command { consumed } = r {
                assert_eq!(consumed, s.len());
                assert_eq!(parser.args().len(), n + 2);
                break;
            }
            // Progress only moves forward and stays within a header of the end.
            assert!(parser.parsed_len() >= max_parsed && end - parser.parsed_len() < 32);
            max_parsed = parser.parsed_len();
            assert!(parser.in_request());
        }
        assert_eq!(calls, s.len().div_ceil(16 << 10));
    }
}
