//! The RESP request parser, fed as a connection feeds it.
//!
//! Invariants checked (beyond "no panic"):
//! - every step consumes at least one byte and at most the buffer, and every argument
//!   range lies inside the buffer or the scratch space;
//! - `Incomplete { need }` never asks for fewer bytes than are already there;
//! - the same bytes delivered in fuzzer-chosen pieces yield exactly the requests (and
//!   the protocol error) of one read: `Connection::feed` below is the only place that
//!   knows how the parser resumes, so a stateful parser replaces that one function;
//! - a parsed request, re-encoded as a multibulk, parses back to the same arguments.
//!
//! Input layout: byte 0 picks the limits (bit 0: unauthenticated) and the number of
//! split points (bits 1-3); the next bytes are the split points; the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardis::resp::parse::{Limits, Parsed, ProtoError, arg_slice, parse_request};

#[derive(Debug, PartialEq)]
enum Event {
    Request(Vec<Vec<u8>>),
    Error(ProtoError),
}

/// What a connection keeps between reads.
struct Connection {
    buf: Vec<u8>,
    limits: Limits,
    events: Vec<Event>,
    closed: bool,
    args: Vec<(u32, u32)>,
    scratch: Vec<u8>,
}

impl Connection {
    fn new(limits: Limits) -> Connection {
        Connection { buf: Vec::new(), limits, events: Vec::new(), closed: false, args: Vec::new(), scratch: Vec::new() }
    }

    /// One read's bytes arrive: parse every complete request.
    fn feed(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.buf.extend_from_slice(bytes);
        let mut pos = 0;
        while pos < self.buf.len() {
            self.args.clear();
            self.scratch.clear();
            let rest = &self.buf[pos..];
            match parse_request(rest, &mut self.args, &mut self.scratch, &self.limits) {
                Ok(Parsed::Command { consumed }) => {
                    assert!(consumed > 0 && consumed <= rest.len(), "consumed {consumed} of {}", rest.len());
                    let args = self.args.iter().map(|&r| checked_arg(rest, &self.scratch, r).to_vec()).collect();
                    self.events.push(Event::Request(args));
                    pos += consumed;
                }
                Ok(Parsed::Empty { consumed }) => {
                    assert!(consumed > 0 && consumed <= rest.len(), "empty consumed {consumed} of {}", rest.len());
                    pos += consumed;
                }
                Ok(Parsed::Incomplete { need }) => {
                    assert!(need == 0 || need > rest.len(), "need {need} with {} bytes there", rest.len());
                    break;
                }
                Err(e) => {
                    self.events.push(Event::Error(e));
                    self.closed = true;
                    break;
                }
            }
        }
        self.buf.drain(..pos);
    }
}

fn checked_arg<'a>(buf: &'a [u8], scratch: &'a [u8], r: (u32, u32)) -> &'a [u8] {
    let flag = shardis::resp::parse::SCRATCH_FLAG;
    let (start, end) = ((r.0 & !flag) as usize, r.1 as usize);
    let room = if r.0 & flag != 0 { scratch.len() } else { buf.len() };
    assert!(start <= end && end <= room, "range {r:?} outside {room} bytes");
    arg_slice(buf, scratch, r)
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

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let limits = Limits { unauthenticated: mode & 1 != 0, ..Limits::default() };
    let nsplits = ((mode >> 1) & 7) as usize;
    let (cuts, stream) = rest.split_at(nsplits.min(rest.len()));

    let mut whole = Connection::new(limits);
    whole.feed(stream);

    let mut pieces = Connection::new(limits);
    let mut points: Vec<usize> = cuts.iter().map(|&c| c as usize * stream.len() / 256).collect();
    points.sort_unstable();
    let mut at = 0;
    for p in points.into_iter().chain([stream.len()]) {
        pieces.feed(&stream[at..p]);
        at = p;
    }
    assert_eq!(whole.events, pieces.events, "one read and split reads disagree");

    for ev in &whole.events {
        if let Event::Request(args) = ev {
            let mut again = Connection::new(Limits::default());
            again.feed(&multibulk(args));
            assert_eq!(again.events, vec![Event::Request(args.clone())], "re-encoded request");
        }
    }
});
