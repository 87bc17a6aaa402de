//! Appending to a file opened with O_DIRECT (`appendonly-direct yes`).
//!
//! O_DIRECT transfers must start, end and sit in memory at block boundaries, but a log
//! grows by arbitrary byte counts. So every write starts at the block holding the
//! file's logical end: it carries that block's bytes already in the file (`tail`),
//! then the new bytes, then padding up to a block boundary. Rewriting the tail can
//! never tear bytes that were already durable: each sector of it is rewritten with the
//! same content it already has, so a crash mid-write leaves old or new sectors, and
//! both hold those bytes. The padding is not log content (the file's logical length
//! is kept by the caller), but it must be something readers of the live file accept:
//! the caller's `Padding` fills each gap (the log's is a no-op command of the gap's
//! size, see `persist::resp::filler`). A gap too small for it grows by a block.
//!
//! Blocks are preallocated ahead of the log, a chunk at a time: `fallocate` reserves
//! them past the end of the file (KEEP_SIZE: the file's size never covers blocks that
//! read as zeros), then a write of padding blocks over them extends the file and makes
//! them written extents, so a later data sync of a log write in that range needs no
//! metadata update (on ext4, a write into a merely fallocated, still "unwritten"
//! extent has to journal its conversion). A log write never overlaps the padding
//! write in flight: it waits for it.
use super::ring::Ring;
use io_uring::{opcode, squeue, types};
use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::os::fd::RawFd;
use std::ptr::NonNull;

/// The transfer alignment used for offsets, lengths and buffers: the largest logical
/// block size in common use, so it suits every device.
pub const ALIGN: usize = 4096;

/// Bytes preallocated (and filled with padding blocks) per step.
pub const CHUNK: usize = 2 << 20;

/// What fills the bytes between a write's end and the next block boundary, and every
/// preallocated block: `fill` writes exactly `buf.len()` bytes of it, for any length
/// `fits` accepts (always at least every length in `ALIGN..2 * ALIGN`).
#[derive(Clone, Copy)]
pub struct Padding {
    pub fits: fn(usize) -> bool,
    pub fill: fn(&mut [u8]),
}

impl Padding {
    /// NUL bytes (tests of the I/O alone).
    pub const ZEROS: Padding = Padding { fits: |_| true, fill: |b| b.fill(0) };

    /// The padded length of `n` bytes starting at a block boundary.
    pub fn padded(&self, n: usize) -> usize {
        self.padded_to(n, 0)
    }

    /// The padded length of `n` bytes starting at a block boundary, reaching at least
    /// `at_least` (the end of an earlier write's padding, which must not be left with
    /// only its stale second half).
    pub fn padded_to(&self, n: usize, at_least: usize) -> usize {
        let mut end = round_up(n.max(at_least) as u64) as usize;
        while end != n && !(self.fits)(end - n) {
            end += ALIGN;
        }
        end
    }
}

pub fn round_up(n: u64) -> u64 {
    n.div_ceil(ALIGN as u64) * ALIGN as u64
}

pub fn round_down(n: u64) -> u64 {
    n / ALIGN as u64 * ALIGN as u64
}

/// A zero-initialised heap buffer aligned to `ALIGN`, its capacity a multiple of it.
struct AlignedBuf {
    ptr: NonNull<u8>,
    cap: usize,
}

// SAFETY: an AlignedBuf owns its allocation outright, as a Box<[u8]> does; nothing
// else points into it except the kernel during a write, which the owner tracks.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    fn empty() -> AlignedBuf {
        AlignedBuf { ptr: NonNull::dangling(), cap: 0 }
    }

    fn zeroed(n: usize) -> AlignedBuf {
        let cap = round_up(n.max(1) as u64) as usize;
        let layout = Layout::from_size_align(cap, ALIGN).expect("aligned layout");
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, cap }
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `cap` initialised bytes we own (or is dangling with
        // `cap` 0, which is a valid empty slice).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.cap) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: allocated by `zeroed` with this very layout and not freed since.
            unsafe { dealloc(self.ptr.as_ptr(), Layout::from_size_align_unchecked(self.cap, ALIGN)) }
        }
    }
}

/// One O_DIRECT log file's write state. The caller owns the fd and the logical length
/// and allows one log write in flight at a time.
pub struct DirectFile {
    /// The tail block, then the bytes of the write in flight, padded. Frozen while
    /// `writing` is set.
    buf: AlignedBuf,
    pad: Padding,
    /// How many bytes of the block at the logical end are log content already.
    tail: usize,
    /// The write in flight: its new bytes, its padded length, and where it starts.
    writing: Option<(usize, usize, u64)>,
    /// Where the last completed write's padding ends (a block past the logical end's
    /// block when the gap was too small for the padding): the next write reaches at
    /// least that far, so what it leaves behind its own end is one whole filler.
    padded_end: u64,
    /// CHUNK bytes of padding blocks, written over each preallocated chunk.
    zeros: AlignedBuf,
    /// Start of the chunk being preallocated (fallocate, then padding), if any.
    zeroing: Option<u64>,
    /// Everything below this offset is preallocated and padded (or holds the log); the
    /// file ends at this or `padded_end`, whichever is further.
    prealloc_end: u64,
    /// Preallocation failed once (a full disk, a filesystem without fallocate): the
    /// file grows by its own writes from then on.
    prealloc_off: bool,
}

impl DirectFile {
    /// State for a file whose log content is `len` bytes long; reads the partial last
    /// block so the next write can carry it.
    pub fn open(fd: RawFd, len: u64, pad: Padding) -> std::io::Result<DirectFile> {
        let tail = (len - round_down(len)) as usize;
        let mut buf = AlignedBuf::zeroed(ALIGN);
        if tail > 0 {
            let dst = buf.as_mut_slice();
            // SAFETY: `dst` is ALIGN bytes we own exclusively, aligned as O_DIRECT
            // needs; pread writes at most that many.
            let n = unsafe { libc::pread(fd, dst.as_mut_ptr().cast(), ALIGN, round_down(len) as libc::off_t) };
            if n < tail as isize {
                return Err(if n < 0 {
                    std::io::Error::last_os_error()
                } else {
                    std::io::ErrorKind::UnexpectedEof.into()
                });
            }
            dst[tail..].fill(0);
        }
        Ok(DirectFile {
            buf,
            pad,
            tail,
            writing: None,
            padded_end: len,
            zeros: AlignedBuf::empty(),
            zeroing: None,
            prealloc_end: len,
            prealloc_off: false,
        })
    }

    /// Is anything of ours in flight on the fd?
    pub fn busy(&self) -> bool {
        self.writing.is_some() || self.zeroing.is_some()
    }

    pub fn writing(&self) -> bool {
        self.writing.is_some()
    }

    /// How long a write of `n` new bytes after logical length `len` is, from the block
    /// holding `len`, padding included.
    fn write_len(&self, len: u64, n: usize) -> usize {
        let start = round_down(len);
        self.pad.padded_to((len - start) as usize + n, self.padded_end.saturating_sub(start) as usize)
    }

    /// Where a write of `n` new bytes after logical length `len` ends, padding included.
    fn write_end(&self, len: u64, n: usize) -> u64 {
        round_down(len) + self.write_len(len, n) as u64
    }

    /// May `n` new bytes be written after logical length `len` now? Not while a write
    /// is in flight, nor into the chunk being padded.
    pub fn can_write(&self, len: u64, n: usize) -> bool {
        self.writing.is_none() && self.zeroing.is_none_or(|z| self.write_end(len, n) <= z)
    }

    /// Writes `data` after logical length `len` (see the module docs); with `dsync`
    /// the write is durable when it completes (RWF_DSYNC).
    pub fn write(&mut self, ring: &mut Ring, fd: RawFd, len: u64, data: &[u8], ud: u64, dsync: bool) {
        assert!(self.can_write(len, data.len()) && !data.is_empty(), "one write at a time, outside the zeroing");
        let total = self.write_len(len, data.len());
        if total > self.buf.cap {
            let mut bigger = AlignedBuf::zeroed(total);
            bigger.as_mut_slice()[..self.tail].copy_from_slice(&self.buf.as_slice()[..self.tail]);
            self.buf = bigger;
        }
        let b = self.buf.as_mut_slice();
        b[self.tail..self.tail + data.len()].copy_from_slice(data);
        let end = self.tail + data.len();
        if end < total {
            (self.pad.fill)(&mut b[end..total]);
        }
        self.writing = Some((data.len(), total, round_down(len)));
        let flags = if dsync { libc::RWF_DSYNC } else { 0 };
        let w = opcode::Write::new(types::Fd(fd), self.buf.as_slice().as_ptr(), total as u32)
            .offset(round_down(len))
            .rw_flags(flags)
            .build()
            .user_data(ud);
        // SAFETY: `writing` freezes `buf` (nothing resizes, refills or drops it while
        // set: `write` asserts it is clear, and Drop leaks it) until `on_write`.
        unsafe { ring.push(w) }
    }

    /// The write completed with `res`. Returns how many new bytes are now in the file:
    /// all of them, or an error (a short transfer counts as one; the retry rewrites
    /// the same bytes at the same place, which is harmless).
    pub fn on_write(&mut self, res: i32) -> Result<usize, i32> {
        let Some((n, total, start)) = self.writing.take() else { return Err(-libc::EINVAL) };
        if res < 0 {
            return Err(res);
        }
        if (res as usize) < total {
            return Err(-libc::EIO);
        }
        self.padded_end = start + total as u64;
        let end = self.tail + n;
        let keep = end % ALIGN;
        let b = self.buf.as_mut_slice();
        b.copy_within(end - keep..end, 0);
        self.tail = keep;
        Ok(n)
    }

    /// If preallocation should run now, starts it: fallocate the next chunk after the
    /// end of the file, linked to a write of padding blocks over it. Never while the
    /// file's end is not a block boundary (just opened: the first log write pads it)
    /// nor while the log write in flight extends the file: the padding must land right
    /// at the end, or the file would have a run of zeros before it.
    pub fn maybe_prealloc(&mut self, ring: &mut Ring, fd: RawFd, len: u64, falloc_ud: u64, zero_ud: u64) {
        let file_end = self.prealloc_end.max(self.padded_end);
        let log_end = match self.writing {
            Some((_, total, start)) => start + total as u64,
            None => round_up(len).max(self.padded_end),
        };
        if self.prealloc_off
            || self.zeroing.is_some()
            || log_end > file_end
            || !file_end.is_multiple_of(ALIGN as u64)
            || self.prealloc_end >= log_end + CHUNK as u64 / 2
        {
            return;
        }
        if self.zeros.cap == 0 {
            self.zeros = AlignedBuf::zeroed(CHUNK);
            for block in self.zeros.as_mut_slice().chunks_mut(ALIGN) {
                (self.pad.fill)(block);
            }
        }
        let at = file_end;
        self.zeroing = Some(at);
        let f = opcode::Fallocate::new(types::Fd(fd), CHUNK as u64)
            .offset(at)
            .mode(libc::FALLOC_FL_KEEP_SIZE)
            .build()
            .user_data(falloc_ud);
        let z = opcode::Write::new(types::Fd(fd), self.zeros.as_slice().as_ptr(), CHUNK as u32)
            .offset(at)
            .build()
            .user_data(zero_ud);
        // SAFETY: `zeros` is never written to after it is filled and lives as long as
        // self; while `zeroing` is set it is not replaced, and Drop leaks it.
        unsafe { ring.push_pair(f.flags(squeue::Flags::IO_LINK), z) }
    }

    /// The fallocate of a chunk failed: no more preallocation for this file.
    pub fn on_fallocate(&mut self, res: i32) {
        if res < 0 {
            self.prealloc_off = true;
        }
    }

    /// The padding write completed (or was cancelled after its fallocate failed). A
    /// failed chunk is cut off again, and no more are preallocated: a fallocate or a
    /// padding write that ran out of space may still have taken blocks, and on a nearly
    /// full disk they are better left to the log itself. The cut never extends the
    /// file (that would expose zeros) and never reaches below the chunk's start, where
    /// the log lies (log writes wait for the padding).
    pub fn on_zeroed(&mut self, fd: RawFd, res: i32) {
        let Some(at) = self.zeroing.take() else { return };
        if res == CHUNK as i32 {
            self.prealloc_end = at + CHUNK as u64;
            return;
        }
        self.prealloc_off = true;
        if file_size(fd).is_some_and(|size| size >= at) {
            truncate(fd, at);
        }
    }
}

/// The size of an open file.
fn file_size(fd: RawFd) -> Option<u64> {
    // SAFETY: fstat writes one `stat` into memory we own; the fd is the caller's.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some(st.st_size as u64)
    }
}

impl Drop for DirectFile {
    fn drop(&mut self) {
        // The kernel may still read the buffers: leak them rather than free them.
        if self.writing.is_some() {
            std::mem::forget(std::mem::replace(&mut self.buf, AlignedBuf::empty()));
        }
        if self.zeroing.is_some() {
            std::mem::forget(std::mem::replace(&mut self.zeros, AlignedBuf::empty()));
        }
    }
}

/// Turns O_DIRECT on or off for an open file (fcntl F_SETFL); false if refused.
pub fn set_o_direct(fd: RawFd, on: bool) -> bool {
    // SAFETY: fcntl F_GETFL/F_SETFL take a plain fd and an int; no user memory.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return false;
        }
        let flags = if on { flags | libc::O_DIRECT } else { flags & !libc::O_DIRECT };
        libc::fcntl(fd, libc::F_SETFL, flags) == 0
    }
}

/// Cuts a file to its logical length (dropping padding and preallocated blocks, also
/// those reserved past its end), so a file this log is done with is exactly its commands.
pub fn truncate(fd: RawFd, len: u64) -> bool {
    // SAFETY: ftruncate takes a plain fd and touches no user memory.
    unsafe { libc::ftruncate(fd, len as libc::off_t) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!((round_up(0), round_up(1), round_up(4096), round_up(4097)), (0, 4096, 4096, 8192));
        assert_eq!((round_down(4095), round_down(4096), round_down(9000)), (0, 4096, 8192));
    }

    /// Padding units `<....>` of at least 8 bytes (so small gaps grow by a block).
    const DOTS: Padding = Padding {
        fits: |n| n >= 8,
        fill: |b| {
            b.fill(b'.');
            b[0] = b'<';
            b[b.len() - 1] = b'>';
        },
    };

    /// Is `b` a run of whole padding units?
    fn whole_units(b: &[u8]) -> bool {
        b.split_inclusive(|&c| c == b'>')
            .all(|u| u.len() >= 8 && u[0] == b'<' && u[1..u.len() - 1].iter().all(|&c| c == b'.') && u.ends_with(b">"))
    }

    /// Writes through a real ring to an O_DIRECT file: each write carries the tail
    /// block, the file's bytes up to the logical length are the log, the rest padding
    /// (never zeros: preallocated blocks stay outside the file's size until padded).
    #[test]
    fn appends_keep_the_tail_and_pad() {
        let dir = std::env::temp_dir().join(format!("shardis-direct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        use std::os::unix::fs::OpenOptionsExt;
        let f =
            std::fs::OpenOptions::new().create(true).write(true).read(true).custom_flags(libc::O_DIRECT).open(&path);
        let Ok(f) = f else {
            panic!("O_DIRECT refused on {}: this test needs a filesystem that takes it", dir.display())
        };
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd();
        let mut ring = Ring::new(8).unwrap();
        let mut q = std::collections::VecDeque::new();
        let mut d = DirectFile::open(fd, 0, DOTS).unwrap();
        let mut len = 0u64;
        let mut expect = Vec::new();
        // 4090 leaves a gap of 1 in its block: that write is padded a block further,
        // and the next one, ending on the boundary, still covers that block.
        for (i, n) in [5usize, 4090, 1, 3, 10000, 1].into_iter().enumerate() {
            let data = vec![b'a' + i as u8; n];
            d.maybe_prealloc(&mut ring, fd, len, 2, 3);
            while !d.can_write(len, n) {
                let (ud, res) = next(&mut ring, &mut q);
                match ud {
                    2 => d.on_fallocate(res),
                    3 => d.on_zeroed(fd, res),
                    _ => unreachable!(),
                }
            }
            d.write(&mut ring, fd, len, &data, 1, i % 2 == 0);
            loop {
                let (ud, res) = next(&mut ring, &mut q);
                match ud {
                    1 => {
                        assert_eq!(d.on_write(res), Ok(n));
                        break;
                    }
                    2 => d.on_fallocate(res),
                    3 => d.on_zeroed(fd, res),
                    _ => unreachable!(),
                }
            }
            len += n as u64;
            expect.extend_from_slice(&data);
        }
        while d.busy() {
            let (ud, res) = next(&mut ring, &mut q);
            if ud == 3 {
                d.on_zeroed(fd, res);
            }
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..expect.len()], &expect[..]);
        assert!(whole_units(&bytes[expect.len()..]), "padding and preallocated blocks are whole padding units");
        assert!(bytes.len() as u64 >= round_up(len) + CHUNK as u64 / 2, "preallocated ahead");
        assert_eq!(bytes.len() % ALIGN, 0);
        // Reopening carries the tail on.
        let mut d2 = DirectFile::open(fd, len, DOTS).unwrap();
        d2.write(&mut ring, fd, len, b"Z", 1, true);
        let (ud, res) = next(&mut ring, &mut q);
        assert_eq!((ud, res), (1, 4096), "one block: the tail, the new byte, padding");
        assert_eq!(d2.on_write(res), Ok(1));
        assert!(truncate(fd, len + 1));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((&bytes[..expect.len()], &bytes[expect.len()..]), (&expect[..], &b"Z"[..]));
        drop(f);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn next(ring: &mut Ring, q: &mut std::collections::VecDeque<(u64, i32)>) -> (u64, i32) {
        while q.is_empty() {
            let mut out = Vec::new();
            ring.submit_and_wait(Some(std::time::Duration::from_millis(100))).unwrap();
            ring.reap(&mut out);
            q.extend(out.into_iter().map(|(ud, res, _)| (ud, res)));
        }
        q.pop_front().unwrap()
    }
}
