//! The resumable parser against the stateless one: any split of a byte stream into reads
//! must give the same requests, empties and errors as one read.

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
