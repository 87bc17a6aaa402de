//! The resumable RESP request parser (`resp::RequestParser`), driven the way
//! `net::conn` drives it, against the stateless `parse_request`.
//!
//! Invariants checked (beyond "no panic"):
//! - every `Command`/`Empty` consumes at least one byte and at most the buffer; every
//!   argument range lies inside the consumed request or the scratch space;
//! - `Incomplete { need }` never asks for fewer bytes than are already there; while a
//!   request is half parsed, `parsed_len()` stays inside the buffer and never goes
//!   back, and a pending bulk's `need` is exactly `parsed_len() + len + 2`; after a
//!   request ends the parser is back at a request start;
//! - the same bytes give exactly the same requests, empties and protocol error
//!   (1) through the stateless `parse_request` in one read, (2) through a
//!   `RequestParser` in one read and (3) through a `RequestParser` fed in
//!   fuzzer-chosen reads, the connection's read buffer compacted between reads
//!   (the consumed prefix dropped, which moves a half-parsed request) as
//!   `Conn::compact` does or more eagerly, with or without the connection's
//!   `need` gating (no parse call until a pending bulk can be complete), and with
//!   a half-parsed request's complete arguments moved out to an `ArgStore` and
//!   their bytes dropped as `Conn::detach_parsed` does (at fuzzer-chosen
//!   thresholds, far below the connection's);
//! - a parsed request, re-encoded as a multibulk, parses back to the same arguments
//!   (through the same parser after `reset()`, in two reads).
//!
//! Input layout:
//! - byte 0: bit 0 the client starts unauthenticated (Redis 7's limits for such
//!   clients; a request whose first argument is AUTH lifts them, per request as in
//!   `Conn`); bits 1-3 the number of split points (7: one byte per read);
//!   bit 4 compact eagerly (drop the consumed prefix after every read; else
//!   `Conn::compact`'s rule: only once it is half the buffer); bit 5 no `need`
//!   gating (parse on every read); bit 6 compact after a `Command` before reading its
//!   arguments (a request held by CLIENT PAUSE); bit 7 an options byte and a limit
//!   byte follow;
//! - options byte (if bit 7): bits 0-1 limits: 0 default, 1 `proto-max-bulk-len` =
//!   the limit byte, 2 the multibulk count capped at limit % 16 and
//!   `proto-max-bulk-len` = limit * 16, 3 header / inline line limit = limit + 1;
//!   bit 2 the scratch buffer is not cleared between parse calls; bits 3-4 when a
//!   half-parsed request's arguments move out (`detach_parsed`): 0 never, 1 at any
//!   progress, 2 from 16 parsed bytes or a pending bulk of 8, 3 from 64 or 32;
//! - then the split points (byte c splits at c * len / 256), then the stream.
//!
//! With a small line limit (options 3) a split can legitimately refuse a line that
//! one read accepts (Redis refuses an unterminated line once the buffer passes the
//! limit, which depends on where reads end): there the split events must equal one
//! read's up to a final "too big" error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardis::resp::ArgStore;
use shardis::resp::parse::{Limits, Parsed, ProtoError, RequestParser, SCRATCH_FLAG, arg_slice, parse_request};

#[derive(Clone, Debug, PartialEq)]
enum Event {
    Request(Vec<Vec<u8>>),
    Empty,
    Error(ProtoError),
}

/// How the simulated connection handles its buffer.
#[derive(Clone, Copy)]
struct Opts {
    eager_compact: bool,
    gate: bool,
    compact_before_args: bool,
    clear_scratch: bool,
    /// `Conn::detach_parsed`'s thresholds (`DETACH_AT`, `BIG_ARG`), scaled down;
    /// `None`: never.
    detach: Option<(usize, usize)>,
}

/// The connection's limits for the next request: Redis's unauthenticated limits
/// until an AUTH request ran (`Conn::parse_and_dispatch` computes them per request).
fn limits_now(base: &Limits, authenticated: bool) -> Limits {
    Limits { unauthenticated: base.unauthenticated && !authenticated, ..*base }
}

fn is_auth(args: &[Vec<u8>]) -> bool {
    args.first().is_some_and(|a| a.eq_ignore_ascii_case(b"auth"))
}

/// A range checked against the buffer (the request's `consumed` bytes) or scratch.
fn checked_arg<'a>(buf: &'a [u8], consumed: usize, scratch: &'a [u8], r: (u32, u32)) -> &'a [u8] {
    let (start, end) = ((r.0 & !SCRATCH_FLAG) as usize, r.1 as usize);
    let room = if r.0 & SCRATCH_FLAG != 0 { scratch.len() } else { consumed };
    assert!(start <= end && end <= room, "range {r:?} outside {room} bytes");
    arg_slice(buf, scratch, r)
}

/// The stream in one read through the stateless parser (what the target checked
/// before the parser became resumable).
fn stateless(stream: &[u8], base: &Limits) -> Vec<Event> {
    let mut events = Vec::new();
    let (mut pos, mut args, mut scratch, mut authenticated) = (0, Vec::new(), Vec::new(), false);
    while pos < stream.len() {
        args.clear();
        scratch.clear();
        let rest = &stream[pos..];
        match parse_request(rest, &mut args, &mut scratch, &limits_now(base, authenticated)) {
            Ok(Parsed::Command { consumed }) => {
                assert!(consumed > 0 && consumed <= rest.len(), "consumed {consumed} of {}", rest.len());
                let a: Vec<Vec<u8>> = args.iter().map(|&r| checked_arg(rest, consumed, &scratch, r).to_vec()).collect();
                authenticated |= is_auth(&a);
                events.push(Event::Request(a));
                pos += consumed;
            }
            Ok(Parsed::Empty { consumed }) => {
                assert!(consumed > 0 && consumed <= rest.len(), "empty consumed {consumed} of {}", rest.len());
                events.push(Event::Empty);
                pos += consumed;
            }
            Ok(Parsed::Incomplete { need }) => {
                assert!(need == 0 || need > rest.len(), "need {need} with {} bytes there", rest.len());
                break;
            }
            Err(e) => {
                events.push(Event::Error(e));
                break;
            }
        }
    }
    events
}

/// A connection's input side, as `net::conn::Conn` keeps it: `rbuf[rpos..]` starts
/// at the current (maybe half-parsed) request, `need` is the buffer length before
/// which parsing cannot progress.
struct Conn {
    rbuf: Vec<u8>,
    rpos: usize,
    need: usize,
    parser: RequestParser,
    moved_args: ArgStore,
    scratch: Vec<u8>,
    base: Limits,
    authenticated: bool,
    opts: Opts,
    events: Vec<Event>,
    closed: bool,
    /// Progress through the current request at the last `Incomplete`.
    last_parsed: usize,
}

impl Conn {
    fn new(base: Limits, opts: Opts) -> Conn {
        Conn {
            rbuf: Vec::new(),
            rpos: 0,
            need: 0,
            parser: RequestParser::new(),
            moved_args: ArgStore::new(),
            scratch: Vec::new(),
            base,
            authenticated: false,
            opts,
            events: Vec::new(),
            closed: false,
            last_parsed: 0,
        }
    }

    /// One read's bytes arrive: parse (and "run") every complete request.
    fn read(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.rbuf.extend_from_slice(bytes);
        loop {
            if self.rpos >= self.rbuf.len() || (self.opts.gate && self.rbuf.len() < self.need) {
                break;
            }
            if self.opts.clear_scratch {
                self.scratch.clear();
            }
            let limits = limits_now(&self.base, self.authenticated);
            let input = &self.rbuf[self.rpos..];
            let len = input.len();
            let was_in_request = self.parser.in_request();
            let r = self.parser.parse(input, &mut self.scratch, &limits);
            match r {
                Ok(Parsed::Command { consumed }) => {
                    assert!(consumed > 0 && consumed <= len, "consumed {consumed} of {len}");
                    assert!(consumed >= self.last_parsed, "request of {consumed} after {} parsed", self.last_parsed);
                    self.at_request_start();
                    if self.opts.compact_before_args {
                        // Held by a pause: the buffer may move before the ranges are used.
                        self.compact();
                    }
                    let input = &self.rbuf[self.rpos..];
                    let moved = (0..self.moved_args.len()).map(|i| self.moved_args.get(i).to_vec());
                    let args: Vec<Vec<u8>> = moved
                        .chain(
                            self.parser.args().iter().map(|&r| checked_arg(input, consumed, &self.scratch, r).to_vec()),
                        )
                        .collect();
                    self.moved_args.clear();
                    self.authenticated |= is_auth(&args);
                    self.events.push(Event::Request(args));
                    self.rpos += consumed;
                    self.need = 0;
                }
                Ok(Parsed::Empty { consumed }) => {
                    assert!(consumed > 0 && consumed <= len, "empty consumed {consumed} of {len}");
                    self.at_request_start();
                    self.events.push(Event::Empty);
                    self.rpos += consumed;
                    self.need = 0;
                }
                Ok(Parsed::Incomplete { need }) => {
                    assert!(need == 0 || need > len, "need {need} with {len} bytes there");
                    let parsed = self.parser.parsed_len();
                    assert!(parsed <= len, "parsed {parsed} of {len}");
                    if was_in_request {
                        assert!(parsed >= self.last_parsed, "parsed_len went back: {} -> {parsed}", self.last_parsed);
                    }
                    if let Some(bulk) = self.parser.pending_bulk() {
                        assert!(self.parser.in_request(), "a pending bulk outside a request");
                        assert_eq!(need, parsed + bulk + 2, "need for a pending bulk of {bulk}");
                    }
                    if !self.parser.in_request() {
                        assert_eq!(parsed, 0, "progress outside a request");
                    }
                    self.last_parsed = parsed;
                    let dropped = self.detach_parsed();
                    self.need = if need == 0 { self.rbuf.len() + 1 } else { self.rpos + need - dropped };
                    break;
                }
                Err(e) => {
                    self.at_request_start();
                    self.moved_args.clear();
                    self.events.push(Event::Error(e));
                    self.closed = true;
                    self.rpos = self.rbuf.len();
                    break;
                }
            }
        }
        self.compact();
    }

    /// `Conn::detach_parsed`: a half-parsed request's complete arguments move to
    /// `moved_args`, and their bytes (with the requests before) leave `rbuf`.
    fn detach_parsed(&mut self) -> usize {
        let Some((at, big)) = self.opts.detach else { return 0 };
        let parsed = self.parser.parsed_len();
        let big_next = self.parser.pending_bulk().is_some_and(|len| len >= big);
        if !self.parser.in_request() || parsed == 0 || (parsed < at && !big_next) {
            return 0;
        }
        let before = self.moved_args.len() + self.parser.args().len();
        let dropped = self.parser.detach_into(&self.rbuf[self.rpos..], &mut self.moved_args);
        assert_eq!(dropped, parsed, "detach drops the parsed bytes");
        assert_eq!(self.moved_args.len(), before, "every parsed argument moved");
        assert!(self.parser.args().is_empty() && self.parser.parsed_len() == 0 && self.parser.in_request());
        self.rbuf.drain(..self.rpos + dropped);
        self.rpos = 0;
        self.last_parsed = 0;
        dropped
    }

    /// After `Command`, `Empty` or an error the parser waits for a new request.
    fn at_request_start(&mut self) {
        assert!(!self.parser.in_request(), "still in a request");
        assert_eq!(self.parser.parsed_len(), 0, "progress left after a request");
        assert_eq!(self.parser.pending_bulk(), None, "bulk left after a request");
        self.last_parsed = 0;
    }

    /// `Conn::compact`, or (eager) drop any consumed prefix.
    fn compact(&mut self) {
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
            self.need = 0;
        } else if self.rpos > 0 && (self.opts.eager_compact || self.rpos >= self.rbuf.len() / 2) {
            self.rbuf.drain(..self.rpos);
            self.need = self.need.saturating_sub(self.rpos);
            self.rpos = 0;
        }
    }
}

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `args` re-encoded parses back, through `parser` after a reset, in two reads.
fn reparse(parser: &mut RequestParser, args: &[Vec<u8>]) {
    let enc = multibulk(args);
    let limits = Limits::default();
    let mut scratch = Vec::new();
    parser.reset();
    let half = enc.len() / 2;
    let r = parser.parse(&enc[..half], &mut scratch, &limits);
    assert!(matches!(r, Ok(Parsed::Incomplete { .. })), "half a re-encoded request: {r:?}");
    let r = parser.parse(&enc, &mut scratch, &limits);
    assert_eq!(r, Ok(Parsed::Command { consumed: enc.len() }), "re-encoded request");
    let back: Vec<Vec<u8>> = parser.args().iter().map(|&r| arg_slice(&enc, &scratch, r).to_vec()).collect();
    assert_eq!(back, args, "re-encoded request");
}

fn too_big(e: &Event) -> bool {
    matches!(e, Event::Error(ProtoError::TooBigInline | ProtoError::TooBigMbulkCount | ProtoError::TooBigBulkCount))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let mut limits = Limits { unauthenticated: mode & 1 != 0, ..Limits::default() };
    let mut opts = Opts {
        eager_compact: mode & 0x10 != 0,
        gate: mode & 0x20 == 0,
        compact_before_args: mode & 0x40 != 0,
        clear_scratch: true,
        detach: None,
    };
    let mut small_lines = false;
    if mode & 0x80 != 0 {
        let [o, lim, tail @ ..] = rest else { return };
        rest = tail;
        let lim = *lim as usize;
        match o & 3 {
            1 => limits.max_bulk_len = lim,
            2 => {
                limits.max_multibulk_len = lim % 16;
                limits.max_bulk_len = lim * 16;
            }
            3 => {
                limits.max_inline_len = lim + 1;
                small_lines = true;
            }
            _ => {}
        }
        opts.clear_scratch = o & 4 == 0;
        opts.detach = [None, Some((1, 0)), Some((16, 8)), Some((64, 32))][((o >> 3) & 3) as usize];
    }
    let nsplits = ((mode >> 1) & 7) as usize;
    let bytewise = nsplits == 7;
    let (cuts, stream) = if bytewise { (&[][..], rest) } else { rest.split_at(nsplits.min(rest.len())) };

    let expected = stateless(stream, &limits);

    let mut whole = Conn::new(limits, opts);
    whole.read(stream);
    assert_eq!(whole.events, expected, "RequestParser in one read vs parse_request");

    let mut pieces = Conn::new(limits, opts);
    if bytewise {
        for b in stream.chunks(1) {
            pieces.read(b);
        }
    } else {
        let mut points: Vec<usize> = cuts.iter().map(|&c| c as usize * stream.len() / 256).collect();
        points.sort_unstable();
        let mut at = 0;
        for p in points.into_iter().chain([stream.len()]) {
            pieces.read(&stream[at..p]);
            at = p;
        }
    }
    if small_lines && pieces.events != expected && pieces.events.last().is_some_and(too_big) {
        let k = pieces.events.len() - 1;
        assert!(
            expected.len() >= k && pieces.events[..k] == expected[..k],
            "split reads before a too-big line disagree"
        );
    } else {
        assert_eq!(pieces.events, expected, "one read and split reads disagree");
    }

    for ev in &expected {
        if let Event::Request(args) = ev {
            reparse(&mut pieces.parser, args);
        }
    }
});
