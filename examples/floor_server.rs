//! The floor of the request path: a data-less io_uring server that only frames RESP.
//!
//! It answers `GET` with a fixed 3-byte bulk (`xxx`, redis-benchmark's default `-d 3`),
//! `SET` with `+OK`, `PING` with `+PONG`, `CONFIG GET x` with `x` and an empty value
//! (so redis-benchmark's start-up probe is happy), and anything else with `+OK`. No
//! keyspace, no command table, no stats: what is left is what any io_uring server must
//! pay per request on this machine, which is what `perf/floor.sh` compares shardis and
//! redis-server against (issue 14, "Request path").
//!
//! It does what shardis's loop does, and no more: one thread, a multishot accept, a
//! multishot receive per connection drawing from a provided buffer ring (the same
//! `io::Ring` and `io::BufRing` shardis uses), requests framed straight out of the ring
//! buffer (only a partial request's tail is copied, into the connection's own buffer),
//! at most one send in flight per connection (output produced meanwhile goes out with
//! the next one), and one `io_uring_enter` per turn. `TCP_NODELAY` as in shardis.
//!
//! Usage: `cargo build --release --example floor_server`, then
//! `target/release/examples/floor_server PORT` (binds 127.0.0.1; pin it with taskset).

use shardis::io::ring::{Sock, cqe_buffer, cqe_more};
use shardis::io::{BufRing, Ring};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::time::Duration;

const RING_ENTRIES: u32 = 4096;
const RECV_BUFS: u16 = 512;
const RECV_BUF_SIZE: usize = 16 << 10;
const BUF_GROUP: u16 = 0;

/// `user_data`: the operation in the top byte, the connection slot below.
const OP_ACCEPT: u64 = 1;
const OP_RECV: u64 = 2;
const OP_SEND: u64 = 3;

fn user_data(op: u64, slot: usize) -> u64 {
    (op << 56) | slot as u64
}

#[derive(Default)]
struct Conn {
    fd: RawFd,
    /// The tail of a request cut by a read boundary, waiting for the rest.
    partial: Vec<u8>,
    /// Replies produced while a send is in flight.
    out: Vec<u8>,
    /// The bytes of the send in flight; untouched until its completion.
    sending: Vec<u8>,
    sent: usize,
    inflight: bool,
    recv_armed: bool,
    closing: bool,
}

/// Outcome of framing one request at the start of a buffer.
enum Frame {
    /// A complete request of this many bytes; `reply` was appended to the output.
    Done(usize),
    /// Not all of it has arrived.
    Partial,
    /// Not RESP this server understands: close the connection.
    Bad,
}

/// Reads a `\r\n`-terminated decimal after the type byte at `buf[at]`; returns the
/// number and the offset past the line.
fn number_line(buf: &[u8], at: usize) -> Option<Option<(i64, usize)>> {
    let nl = match buf[at..].iter().position(|&b| b == b'\n') {
        Some(p) => at + p,
        None => return Some(None),
    };
    if nl < at + 2 || buf[nl - 1] != b'\r' {
        return None;
    }
    let digits = std::str::from_utf8(&buf[at + 1..nl - 1]).ok()?;
    Some(Some((digits.parse().ok()?, nl + 1)))
}

/// Frames the request at the start of `buf` and answers it into `out`.
fn frame(buf: &[u8], out: &mut Vec<u8>) -> Frame {
    if buf.is_empty() {
        return Frame::Partial;
    }
    if buf[0] != b'*' {
        // Inline: `PING\r\n` from a health check.
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else { return Frame::Partial };
        out.extend_from_slice(b"+PONG\r\n");
        return Frame::Done(nl + 1);
    }
    let (n, mut pos) = match number_line(buf, 0) {
        None => return Frame::Bad,
        Some(None) => return Frame::Partial,
        Some(Some(v)) => v,
    };
    // Argument 0 (the name) and 1 (CONFIG GET's parameter) as ranges.
    let mut name = 0..0;
    let mut second = 0..0;
    for i in 0..n.max(0) {
        if pos >= buf.len() {
            return Frame::Partial;
        }
        if buf[pos] != b'$' {
            return Frame::Bad;
        }
        let (len, start) = match number_line(buf, pos) {
            None => return Frame::Bad,
            Some(None) => return Frame::Partial,
            Some(Some(v)) => v,
        };
        let end = start + len.max(0) as usize;
        if end + 2 > buf.len() {
            return Frame::Partial;
        }
        match i {
            0 => name = start..end,
            2 => second = start..end,
            _ => {}
        }
        pos = end + 2;
    }
    let name = &buf[name];
    if name.eq_ignore_ascii_case(b"GET") {
        out.extend_from_slice(b"$3\r\nxxx\r\n");
    } else if name.eq_ignore_ascii_case(b"PING") {
        out.extend_from_slice(b"+PONG\r\n");
    } else if name.eq_ignore_ascii_case(b"CONFIG") {
        let p = &buf[second];
        out.extend_from_slice(format!("*2\r\n${}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n$0\r\n\r\n");
    } else {
        out.extend_from_slice(b"+OK\r\n");
    }
    Frame::Done(pos)
}

/// Frames every complete request in `buf`, answering into `out`. Returns the bytes
/// consumed, or None on bad input.
fn frame_all(buf: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let mut pos = 0;
    loop {
        match frame(&buf[pos..], out) {
            Frame::Done(n) => pos += n,
            Frame::Partial => return Some(pos),
            Frame::Bad => return None,
        }
    }
}

struct Server {
    ring: Ring,
    bufs: BufRing,
    listen_fd: RawFd,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    to_send: Vec<usize>,
    to_arm: Vec<usize>,
}

impl Server {
    fn on_accept(&mut self, res: i32, flags: u32) {
        if !cqe_more(flags) {
            self.ring.accept_multi(self.listen_fd, user_data(OP_ACCEPT, 0));
        }
        if res < 0 {
            return;
        }
        let fd = res;
        // SAFETY: `fd` was just accepted and is owned here; the stream is turned back
        // into a raw fd before it is dropped, so it stays open.
        let s = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        let _ = s.set_nodelay(true);
        let _ = s.into_raw_fd();
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        self.conns[slot] = Some(Conn { fd, ..Conn::default() });
        self.to_arm.push(slot);
    }

    fn on_recv(&mut self, slot: usize, res: i32, flags: u32) {
        let bid = cqe_buffer(flags);
        let Some(c) = self.conns[slot].as_mut() else { return };
        if !cqe_more(flags) {
            c.recv_armed = false;
        }
        if res > 0 {
            let bid = bid.expect("a receive with data names its buffer");
            let data = self.bufs.data(bid, res as usize);
            let out = if c.inflight { &mut c.out } else { &mut c.sending };
            let ok = if c.partial.is_empty() {
                match frame_all(data, out) {
                    Some(n) => {
                        c.partial.extend_from_slice(&data[n..]);
                        true
                    }
                    None => false,
                }
            } else {
                c.partial.extend_from_slice(data);
                match frame_all(&c.partial, out) {
                    Some(n) => {
                        c.partial.drain(..n);
                        true
                    }
                    None => false,
                }
            };
            if !ok {
                c.closing = true;
            }
            if !c.inflight && !c.sending.is_empty() {
                self.to_send.push(slot);
            }
            if !c.recv_armed && !c.closing {
                self.to_arm.push(slot);
            }
        } else if res == -libc::ENOBUFS {
            if !c.recv_armed {
                self.to_arm.push(slot);
            }
        } else {
            c.closing = true;
        }
        if let Some(bid) = bid {
            self.bufs.push(bid);
        }
        self.maybe_close(slot);
    }

    fn on_send(&mut self, slot: usize, res: i32) {
        let Some(c) = self.conns[slot].as_mut() else { return };
        c.inflight = false;
        if res < 0 {
            c.closing = true;
        } else {
            c.sent += res as usize;
            if c.sent < c.sending.len() {
                self.to_send.push(slot);
            } else {
                c.sending.clear();
                c.sent = 0;
                std::mem::swap(&mut c.sending, &mut c.out);
                if !c.sending.is_empty() {
                    self.to_send.push(slot);
                }
            }
        }
        self.maybe_close(slot);
    }

    /// Frees a closing connection once nothing the kernel holds points into it.
    fn maybe_close(&mut self, slot: usize) {
        let Some(c) = self.conns[slot].as_ref() else { return };
        if !c.closing {
            return;
        }
        // SAFETY: shutdown on an fd we own; it ends the multishot receive.
        unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
        if c.inflight || c.recv_armed {
            return;
        }
        // SAFETY: no operation references the fd any more.
        unsafe { libc::close(c.fd) };
        self.conns[slot] = None;
        self.free.push(slot);
    }

    fn queue_sends(&mut self) {
        for slot in std::mem::take(&mut self.to_send) {
            let Some(c) = self.conns[slot].as_mut() else { continue };
            if c.inflight || c.closing || c.sent >= c.sending.len() {
                continue;
            }
            c.inflight = true;
            let rest = &c.sending[c.sent..];
            // SAFETY: `sending` is not touched while `inflight` is set, and the slot is
            // not freed until the send completes (`maybe_close`).
            unsafe { self.ring.send(Sock::Fd(c.fd), rest.as_ptr(), rest.len(), user_data(OP_SEND, slot)) };
        }
    }

    fn run(&mut self) {
        self.ring.accept_multi(self.listen_fd, user_data(OP_ACCEPT, 0));
        let mut cqes = Vec::new();
        loop {
            cqes.clear();
            self.ring.reap(&mut cqes);
            for &(ud, res, flags) in &cqes {
                let slot = (ud & 0xffff_ffff) as usize;
                match ud >> 56 {
                    OP_ACCEPT => self.on_accept(res, flags),
                    OP_RECV => self.on_recv(slot, res, flags),
                    OP_SEND => self.on_send(slot, res),
                    _ => {}
                }
            }
            self.bufs.publish();
            for slot in std::mem::take(&mut self.to_arm) {
                let Some(c) = self.conns[slot].as_mut() else { continue };
                if c.recv_armed || c.closing {
                    continue;
                }
                c.recv_armed = true;
                self.ring.recv_multi(Sock::Fd(c.fd), BUF_GROUP, user_data(OP_RECV, slot));
            }
            self.queue_sends();
            if let Err(e) = self.ring.submit_and_wait(Some(Duration::from_secs(1))) {
                eprintln!("floor_server: io_uring wait failed: {e}");
                std::process::exit(1);
            }
        }
    }
}

fn main() {
    let port: u16 = match std::env::args().nth(1).and_then(|p| p.parse().ok()) {
        Some(p) => p,
        None => {
            eprintln!("usage: floor_server PORT");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
        eprintln!("floor_server: bind 127.0.0.1:{port}: {e}");
        std::process::exit(1);
    });
    let ring = Ring::new(RING_ENTRIES).expect("io_uring setup");
    let bufs = BufRing::new(&ring.uring, RECV_BUFS, RECV_BUF_SIZE, BUF_GROUP).expect("buffer ring");
    let mut server = Server {
        ring,
        bufs,
        listen_fd: listener.as_raw_fd(),
        conns: Vec::new(),
        free: Vec::new(),
        to_send: Vec::new(),
        to_arm: Vec::new(),
    };
    server.run();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_pipelines_and_partials() {
        let mut out = Vec::new();
        let req = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$3\r\nxxx\r\n";
        assert_eq!(frame_all(req, &mut out), Some(req.len()));
        assert_eq!(out, b"$3\r\nxxx\r\n+OK\r\n");
        for cut in 0..req.len() {
            let mut out = Vec::new();
            let n = frame_all(&req[..cut], &mut out).unwrap();
            assert!(n <= cut);
        }
        let mut out = Vec::new();
        let probe = b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n";
        assert_eq!(frame_all(probe, &mut out), Some(probe.len()));
        assert_eq!(out, b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
        assert_eq!(frame_all(b"*1\r\n:3\r\n", &mut Vec::new()), None);
    }
}
