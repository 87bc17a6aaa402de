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
#[path = "parse_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "parse_split_tests.rs"]
mod split_tests;
