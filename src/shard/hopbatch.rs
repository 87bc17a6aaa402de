//! Hopped requests and their replies, packed per peer per turn in one buffer each.
//!
//! A single-key request whose key another shard owns travels there as one *record* in
//! a `Packed` buffer of requests (`Msg::Hops`): the reply address, the client, db,
//! protocol and command, then the arguments as length-prefixed bytes. The owner runs
//! the records in order and writes each reply as a record (sequence number and RESP
//! bytes) into a `Packed` buffer of replies going home (`Msg::Replies`), which the
//! home thread splices into each connection's output in request order.
//!
//! Why: a request sent as its own message cost four allocations (arguments, message
//! box, reply) made on one thread and freed on the other. A packed buffer holds a
//! whole turn's requests for one peer; once read, the receiver keeps it emptied as a
//! spare for what it sends back to that peer (`Outbox::recycle`), so buffers travel
//! back and forth, no thread frees memory another allocated, and a steady load
//! allocates nothing.
//!
//! A buffer is appended to only while it is the last message queued for its peer
//! (`Outbox::push_exec`/`push_reply`), so records keep their order with every other
//! message: a hopped GET queued before a cross-shard transaction's lock request still
//! arrives before it. Records past `MAX_RECORD` bytes (big arguments, big replies)
//! travel as their own `Msg::Exec`/`Msg::Reply` instead, which moves them rather than
//! copying them twice.
//!
//! The layout is this module's alone (little-endian, no alignment), written and read
//! by the same binary:
//! - request: seq u64, client id u64, slot u32, generation u32, argument count u32,
//!   db u16, command u16, protocol u8, then per argument its length u32 and bytes;
//! - reply: seq u64, slot u32, generation u32, length u32, then the bytes.

use super::msg::ReplyTo;
use crate::resp::Proto;

/// Requests and replies larger than this travel as their own message.
pub const MAX_RECORD: usize = 64 << 10;
/// A buffer this full is closed; further records start the next one.
pub const MAX_BATCH: usize = 1 << 20;
/// What a record costs against the inbox bound besides its bytes (`shard::msg`).
pub const RECORD_OVERHEAD: usize = 16;
/// Emptied buffers kept per peer, and the largest capacity kept (`Outbox::recycle`).
pub const SPARES_PER_PEER: usize = 8;
pub const SPARE_MAX_CAPACITY: usize = 256 << 10;
/// A fresh buffer's capacity: a turn's worth of small requests.
pub const FRESH_CAPACITY: usize = 4 << 10;

const EXEC_HEAD: usize = 8 + 8 + 4 + 4 + 4 + 2 + 2 + 1;
const REPLY_HEAD: usize = 8 + 4 + 4 + 4;

/// One buffer of records from shard `from`.
#[derive(Debug, Default)]
pub struct Packed {
    pub from: u16,
    pub count: u32,
    pub buf: Vec<u8>,
}

/// A hopped request's fixed fields (its reply address is `from` plus these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecHead {
    pub seq: u64,
    pub client_id: u64,
    pub slot: u32,
    pub generation: u32,
    pub db: u16,
    pub cmd: u16,
    pub proto: Proto,
}

impl ExecHead {
    /// Where the reply goes, for a request that came from shard `from`.
    pub fn reply_to(&self, from: u16) -> ReplyTo {
        ReplyTo { shard: from, slot: self.slot, generation: self.generation, seq: self.seq }
    }
}

/// The bytes a request record takes, or None past `MAX_RECORD`.
pub fn exec_record_len<'a>(args: impl Iterator<Item = &'a [u8]>) -> Option<usize> {
    let mut len = EXEC_HEAD;
    for a in args {
        len += 4 + a.len();
        if len > MAX_RECORD {
            return None;
        }
    }
    Some(len)
}

impl Packed {
    pub fn new(from: u16, buf: Vec<u8>) -> Packed {
        Packed { from, count: 0, buf }
    }

    /// What this buffer weighs against the inbox bound.
    pub fn cost(&self) -> usize {
        self.buf.len() + RECORD_OVERHEAD * self.count as usize
    }

    /// Appends a request record (its size checked by `exec_record_len`).
    pub fn push_exec<'a>(&mut self, head: &ExecHead, args: impl ExactSizeIterator<Item = &'a [u8]>) {
        let b = &mut self.buf;
        b.extend_from_slice(&head.seq.to_le_bytes());
        b.extend_from_slice(&head.client_id.to_le_bytes());
        b.extend_from_slice(&head.slot.to_le_bytes());
        b.extend_from_slice(&head.generation.to_le_bytes());
        b.extend_from_slice(&(args.len() as u32).to_le_bytes());
        b.extend_from_slice(&head.db.to_le_bytes());
        b.extend_from_slice(&head.cmd.to_le_bytes());
        b.push(match head.proto {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        });
        for a in args {
            b.extend_from_slice(&(a.len() as u32).to_le_bytes());
            b.extend_from_slice(a);
        }
        self.count += 1;
    }

    /// Appends a reply record; returns the bytes it added.
    pub fn push_reply(&mut self, to: ReplyTo, reply: &[u8]) -> usize {
        let b = &mut self.buf;
        b.extend_from_slice(&to.seq.to_le_bytes());
        b.extend_from_slice(&to.slot.to_le_bytes());
        b.extend_from_slice(&to.generation.to_le_bytes());
        b.extend_from_slice(&(reply.len() as u32).to_le_bytes());
        b.extend_from_slice(reply);
        self.count += 1;
        REPLY_HEAD + reply.len()
    }

    /// Reads the request record at `*pos` and moves past it: its head, and its
    /// arguments as (start, end) ranges into `buf` (`cmd::Args::Ranges`) in `ranges`.
    pub fn next_exec(&self, pos: &mut usize, ranges: &mut Vec<(u32, u32)>) -> Option<ExecHead> {
        let b = &self.buf;
        if *pos >= b.len() {
            return None;
        }
        let mut p = *pos;
        let head = ExecHead {
            seq: u64_at(b, &mut p),
            client_id: u64_at(b, &mut p),
            slot: u32_at(b, &mut p),
            generation: u32_at(b, &mut p),
            db: 0,
            cmd: 0,
            proto: Proto::Resp2,
        };
        let nargs = u32_at(b, &mut p);
        let db = u16_at(b, &mut p);
        let cmd = u16_at(b, &mut p);
        let proto = if b[p] == 3 { Proto::Resp3 } else { Proto::Resp2 };
        p += 1;
        ranges.clear();
        for _ in 0..nargs {
            let len = u32_at(b, &mut p) as usize;
            ranges.push((p as u32, (p + len) as u32));
            p += len;
        }
        *pos = p;
        Some(ExecHead { db, cmd, proto, ..head })
    }

    /// Reads the reply record at `*pos` and moves past it.
    pub fn next_reply(&self, pos: &mut usize) -> Option<(ReplyTo, &[u8])> {
        let b = &self.buf;
        if *pos >= b.len() {
            return None;
        }
        let mut p = *pos;
        let seq = u64_at(b, &mut p);
        let slot = u32_at(b, &mut p);
        let generation = u32_at(b, &mut p);
        let len = u32_at(b, &mut p) as usize;
        *pos = p + len;
        Some((ReplyTo { shard: self.from, slot, generation, seq }, &b[p..p + len]))
    }
}

fn u64_at(b: &[u8], p: &mut usize) -> u64 {
    let v = u64::from_le_bytes(b[*p..*p + 8].try_into().expect("8 bytes"));
    *p += 8;
    v
}

fn u32_at(b: &[u8], p: &mut usize) -> u32 {
    let v = u32::from_le_bytes(b[*p..*p + 4].try_into().expect("4 bytes"));
    *p += 4;
    v
}

fn u16_at(b: &[u8], p: &mut usize) -> u16 {
    let v = u16::from_le_bytes(b[*p..*p + 2].try_into().expect("2 bytes"));
    *p += 2;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(seq: u64, db: u16, proto: Proto) -> ExecHead {
        ExecHead { seq, client_id: 1000 + seq, slot: 7, generation: 0x00ab_cdef, db, cmd: 42, proto }
    }

    #[test]
    fn requests_round_trip_in_order_with_empty_and_binary_arguments() {
        let mut p = Packed::new(3, Vec::new());
        let reqs: Vec<Vec<&[u8]>> = vec![
            vec![b"get", b"key:1"],
            vec![b"set", b"", b"\r\n\x00\xff"],
            vec![b"ping"],
            vec![b"set", b"k", &[b'v'; 300][..]],
        ];
        for (i, r) in reqs.iter().enumerate() {
            let proto = if i % 2 == 0 { Proto::Resp2 } else { Proto::Resp3 };
            assert!(exec_record_len(r.iter().copied()).is_some());
            p.push_exec(&head(i as u64, i as u16, proto), r.iter().copied());
        }
        assert_eq!(p.count, 4);
        let expected_len: usize = reqs.iter().map(|r| exec_record_len(r.iter().copied()).unwrap()).sum();
        assert_eq!(p.buf.len(), expected_len);
        let (mut pos, mut ranges) = (0, Vec::new());
        for (i, r) in reqs.iter().enumerate() {
            let h = p.next_exec(&mut pos, &mut ranges).expect("a record");
            let proto = if i % 2 == 0 { Proto::Resp2 } else { Proto::Resp3 };
            assert_eq!(h, head(i as u64, i as u16, proto));
            assert_eq!(h.reply_to(3), ReplyTo { shard: 3, slot: 7, generation: 0x00ab_cdef, seq: i as u64 });
            let got: Vec<&[u8]> = ranges.iter().map(|&(s, e)| &p.buf[s as usize..e as usize]).collect();
            assert_eq!(&got, r);
        }
        assert!(p.next_exec(&mut pos, &mut ranges).is_none());
    }

    #[test]
    fn replies_round_trip_in_order() {
        let mut p = Packed::new(1, Vec::new());
        let replies: [&[u8]; 4] = [b"+OK\r\n", b"$-1\r\n", b"", b"$5\r\nhello\r\n"];
        let mut added = 0;
        for (i, r) in replies.iter().enumerate() {
            let to = ReplyTo { shard: 9, slot: i as u32, generation: 5, seq: 100 + i as u64 };
            added += p.push_reply(to, r);
        }
        assert_eq!(added, p.buf.len());
        assert_eq!(p.cost(), p.buf.len() + 4 * RECORD_OVERHEAD);
        let mut pos = 0;
        for (i, r) in replies.iter().enumerate() {
            let (to, bytes) = p.next_reply(&mut pos).expect("a record");
            // The reply goes to the buffer's sender, not to what the record was given.
            assert_eq!(to, ReplyTo { shard: 1, slot: i as u32, generation: 5, seq: 100 + i as u64 });
            assert_eq!(bytes, *r);
        }
        assert!(p.next_reply(&mut pos).is_none());
    }

    #[test]
    fn big_requests_do_not_fit_a_record() {
        let big = vec![b'x'; MAX_RECORD];
        assert_eq!(exec_record_len([&b"set"[..], b"k", &big].into_iter()), None);
        let fits = vec![b'x'; MAX_RECORD - EXEC_HEAD - 3 * 4 - 4];
        assert_eq!(exec_record_len([&b"set"[..], b"k", &fits].into_iter()), Some(MAX_RECORD));
    }
}
