//! Zero-copy sends for the replication thread: a small io_uring of its own that sends
//! shared, immutable buffers with `IORING_OP_SEND_ZC`.
//!
//! With SEND_ZC the kernel pins the user pages and the NIC reads them directly, so the
//! buffer must stay valid and unchanged until the *notification* completion
//! (`IORING_CQE_F_NOTIF`) arrives, which can be well after the send's own completion
//! (when the peer acknowledged the data). The ring therefore takes an `Arc` of each
//! buffer it sends and drops it only at the notification: the caller can free or
//! trim its copy at any time, and nobody can mutate an `Arc<Vec<u8>>` that has a
//! second owner (`Arc::make_mut` would clone). That makes the API safe; the `unsafe`
//! stays here.
//!
//! The kernel may refuse SEND_ZC (`EINVAL` / `EOPNOTSUPP`: old kernel, a socket
//! family without zero-copy support): the ring remembers it (`refused`) and the caller
//! falls back to plain sends for good. Over loopback the kernel accepts SEND_ZC but
//! copies anyway; the notification says so (`IORING_SEND_ZC_REPORT_USAGE`), which
//! `kernel_copied` counts.
//!
//! The ring is set up without DEFER_TASKRUN so its fd polls readable when completions
//! are due: the replication thread waits in `poll(2)` on it with its sockets.

use io_uring::{IoUring, cqueue, opcode, types};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `IORING_SEND_ZC_REPORT_USAGE` (kernel 6.2): the notification's result tells whether
/// the kernel had to copy after all. Not exported by the io-uring crate's public API.
const SEND_ZC_REPORT_USAGE: u16 = 1 << 3;
/// `IORING_NOTIF_USAGE_ZC_COPIED`: set in such a notification's result when it copied.
const NOTIF_USAGE_ZC_COPIED: u32 = 1 << 31;

/// One finished send: the caller's `owner` tag and the send's result (bytes sent, or
/// a negative errno). `Refused` means nothing was sent because the kernel does not do
/// zero-copy here: send the same bytes plainly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Sent { owner: u64, bytes: usize },
    Failed { owner: u64, errno: i32 },
    Refused { owner: u64 },
}

struct Flight {
    owner: u64,
    /// The memory the kernel may still read, released at the notification.
    keep: Arc<Vec<u8>>,
    /// The send's own completion arrived.
    sent: bool,
}

pub struct ZcRing {
    uring: IoUring,
    flights: HashMap<u64, Flight>,
    next_tag: u64,
    refused: bool,
    report_usage: bool,
    /// Notifications that reported the kernel copied the data anyway (loopback).
    pub kernel_copied: u64,
}

impl ZcRing {
    pub fn new(entries: u32) -> io::Result<ZcRing> {
        let uring = IoUring::builder().setup_cqsize(entries * 4).build(entries)?;
        super::proc::keep_rings_out_of_children();
        Ok(ZcRing { uring, flights: HashMap::new(), next_tag: 1, refused: false, report_usage: true, kernel_copied: 0 })
    }

    /// The ring's fd: poll it for readability to learn that completions are due.
    pub fn fd(&self) -> RawFd {
        self.uring.as_raw_fd()
    }

    /// The kernel refused SEND_ZC once: use plain sends from now on.
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// Buffers still held for the kernel (sends or notifications outstanding).
    pub fn held(&self) -> usize {
        self.flights.len()
    }

    /// Sends `buf[off..off + len]` on the socket `fd` without copying; the ring keeps
    /// `buf` alive until the kernel is done with it. One `Done` for `owner` follows
    /// from `reap`. The caller must not write anything else to `fd` until then (the
    /// bytes would overtake these).
    pub fn send_zc(&mut self, fd: RawFd, buf: Arc<Vec<u8>>, off: usize, len: usize, owner: u64) -> io::Result<()> {
        let len = len.min(buf.len().saturating_sub(off)).min(u32::MAX as usize);
        let tag = self.next_tag;
        self.next_tag += 1;
        let ptr = buf[off..].as_ptr();
        let zc_flags = if self.report_usage { SEND_ZC_REPORT_USAGE } else { 0 };
        let e = opcode::SendZc::new(types::Fd(fd), ptr, len as u32)
            .flags(libc::MSG_NOSIGNAL)
            .zc_flags(zc_flags)
            .build()
            .user_data(tag);
        self.flights.insert(tag, Flight { owner, keep: buf, sent: false });
        // SAFETY: the entry reads `len` bytes at `ptr`, inside the heap buffer of the
        // `Arc<Vec<u8>>` just stored in `flights`. That buffer is neither freed (we own
        // a reference until the notification, or leak it in `drop`) nor mutated (a
        // shared Arc hands out no `&mut`) nor moved (a Vec's heap block stays put).
        let mut pushed = unsafe { self.uring.submission().push(&e) }.is_ok();
        if !pushed {
            let _ = self.uring.submit();
            // SAFETY: as above.
            pushed = unsafe { self.uring.submission().push(&e) }.is_ok();
        }
        if !pushed {
            self.flights.remove(&tag);
            return Err(io::Error::other("the zero-copy ring's submission queue is full"));
        }
        match self.uring.submit() {
            // EBUSY/EINTR: the entry stays queued and goes with the next submit.
            Err(e) if !matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EINTR)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Collects finished sends into `out` and releases buffers whose notification
    /// arrived.
    pub fn reap(&mut self, out: &mut Vec<Done>) {
        if !self.uring.submission().is_empty() {
            let _ = self.uring.submit(); // left queued by an EBUSY/EINTR
        }
        let mut cq = self.uring.completion();
        cq.sync();
        let cqes: Vec<(u64, i32, u32)> = cq.map(|c| (c.user_data(), c.result(), c.flags())).collect();
        for (tag, res, flags) in cqes {
            if cqueue::notif(flags) {
                if self.report_usage && res as u32 & NOTIF_USAGE_ZC_COPIED != 0 {
                    self.kernel_copied += 1;
                }
                self.flights.remove(&tag);
                continue;
            }
            let Some(f) = self.flights.get_mut(&tag) else { continue };
            f.sent = true;
            let owner = f.owner;
            out.push(match res {
                n if n >= 0 => Done::Sent { owner, bytes: n as usize },
                e if (e == -libc::EINVAL || e == -libc::EOPNOTSUPP) && self.report_usage => {
                    // Maybe only the usage report is unknown (kernel 6.0/6.1): retry without.
                    self.report_usage = false;
                    Done::Sent { owner, bytes: 0 }
                }
                e if e == -libc::EINVAL || e == -libc::EOPNOTSUPP => {
                    self.refused = true;
                    Done::Refused { owner }
                }
                e if e == -libc::EAGAIN || e == -libc::EINTR => Done::Sent { owner, bytes: 0 },
                e => Done::Failed { owner, errno: -e },
            });
            if !cqueue::more(flags) {
                // No notification follows: the kernel is done with the buffer.
                self.flights.remove(&tag);
            }
        }
    }
}

impl Drop for ZcRing {
    /// Waits (briefly) for the outstanding notifications; a buffer whose notification
    /// never came is leaked rather than freed under the kernel's feet.
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut sink = Vec::new();
        while !self.flights.is_empty() && Instant::now() < deadline {
            let ts = types::Timespec::new().nsec(10_000_000);
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.uring.submitter().submit_with_args(1, &args);
            self.reap(&mut sink);
        }
        for (_, f) in self.flights.drain() {
            std::mem::forget(f.keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn sends_a_shared_buffer_and_releases_it_after_the_notification() {
        let mut ring = ZcRing::new(8).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let tx = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut rx, _) = l.accept().unwrap();
        let data: Arc<Vec<u8>> = Arc::new((0..100_000u32).map(|i| (i % 253) as u8).collect());
        let mut pos = 10usize;
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pos < data.len() {
            assert!(Instant::now() < deadline, "send did not finish");
            ring.send_zc(tx.as_raw_fd(), data.clone(), pos, data.len() - pos, 7).unwrap();
            let mut done = Vec::new();
            while done.is_empty() {
                let mut buf = [0u8; 65536];
                rx.set_nonblocking(true).unwrap();
                if let Ok(n) = rx.read(&mut buf) {
                    got.extend_from_slice(&buf[..n]);
                }
                ring.reap(&mut done);
                assert!(Instant::now() < deadline, "no completion");
            }
            match done[0] {
                Done::Sent { owner: 7, bytes } => pos += bytes,
                d => panic!("{d:?}"),
            }
        }
        rx.set_nonblocking(false).unwrap();
        let mut buf = vec![0u8; data.len() - 10 - got.len()];
        rx.read_exact(&mut buf).unwrap();
        got.extend_from_slice(&buf);
        assert_eq!(got, &data[10..]);
        // The notifications come once the data is acknowledged; then only we hold it.
        while ring.held() > 0 {
            assert!(Instant::now() < deadline, "notification never came");
            ring.reap(&mut Vec::new());
        }
        assert_eq!(Arc::strong_count(&data), 1);
    }
}
