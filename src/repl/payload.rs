//! A full sync's RDB payload as it arrives on the master's socket, as a `Read` that
//! ends exactly where the payload does: after `len` bytes (`$<len>`), or just before
//! the 40-byte mark of a diskless transfer (`$EOF:<mark>`). A diskless load
//! (`repl-diskless-load swapdb`, or `on-empty-db` on an empty dataset) decodes from
//! it directly, so the replica holds at most a few buffers of the transfer at a time
//! instead of the whole file.
//!
//! With a mark the reader cannot know that bytes belong to the RDB until it has seen
//! the bytes after them: it keeps the last `MARK_LEN - 1` bytes back until more arrive
//! (or the mark is found), so nothing of the mark ever reaches the decoder. It takes
//! from the socket's buffer only what it consumed, so the bytes after the payload (the
//! start of the stream) stay there for the connection.
//!
//! All-or-nothing is the caller's: a cut stream or a connection error is an `Err` here,
//! and `finish` checks that the payload really ended (the whole `len`, or the mark)
//! after the decoder stopped at the RDB's checksum. Only then is the dataset used.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;

/// Length of the random mark ending a diskless (`$EOF:`) transfer.
pub const MARK_LEN: usize = 40;

enum End {
    /// Bytes of the payload not read yet.
    Len(u64),
    /// The mark, whether it was seen, and the bytes read past the last ones handed
    /// out (`held[pos..]`), the RDB's unless they turn out to start the mark.
    Mark { mark: Vec<u8>, found: bool, held: Vec<u8>, pos: usize },
}

pub struct Payload<'a> {
    rd: &'a mut BufReader<TcpStream>,
    end: End,
    /// Payload bytes taken from the socket so far.
    read: u64,
    /// Called with `read` after every chunk taken from the socket; `false` stops the
    /// transfer (a new REPLICAOF, shutdown).
    progress: &'a mut dyn FnMut(u64) -> bool,
}

impl<'a> Payload<'a> {
    pub fn with_len(rd: &'a mut BufReader<TcpStream>, len: u64, progress: &'a mut dyn FnMut(u64) -> bool) -> Self {
        Payload { rd, end: End::Len(len), read: 0, progress }
    }

    pub fn with_mark(
        rd: &'a mut BufReader<TcpStream>,
        mark: Vec<u8>,
        progress: &'a mut dyn FnMut(u64) -> bool,
    ) -> Self {
        Payload { rd, end: End::Mark { mark, found: false, held: Vec::new(), pos: 0 }, read: 0, progress }
    }

    /// Payload bytes received so far.
    pub fn received(&self) -> u64 {
        self.read
    }

    /// Reads and drops whatever of the payload the decoder left (bytes after the RDB's
    /// checksum, and the wait for the mark): `Err` if the payload never ends properly.
    pub fn finish(&mut self) -> Result<u64, String> {
        let mut sink = [0u8; 16 << 10];
        let mut extra = 0u64;
        loop {
            match self.read(&mut sink) {
                Ok(0) => return Ok(extra),
                Ok(n) => extra += n as u64,
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Takes the next chunk of a marked payload from the socket's buffer into `held`,
    /// noting whether the mark is in it.
    fn pull(&mut self) -> std::io::Result<()> {
        if !(self.progress)(self.read) {
            return Err(std::io::Error::other("Replication target changed during the transfer"));
        }
        let read_before = self.read;
        let chunk =
            self.rd.fill_buf().map_err(|e| std::io::Error::new(e.kind(), format!("{e} during the RDB transfer")))?;
        if chunk.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("connection lost after {read_before} bytes of the RDB"),
            ));
        }
        let End::Mark { mark, found, held, pos } = &mut self.end else { unreachable!("pull is for marked payloads") };
        // Bytes already handed out go; at most MARK_LEN - 1 bytes stay to be searched again.
        held.drain(..*pos);
        *pos = 0;
        let searched_from = held.len().saturating_sub(MARK_LEN - 1);
        let before = held.len();
        held.extend_from_slice(chunk);
        let n = chunk.len();
        match find_mark(&held[searched_from..], mark) {
            Some(at) => {
                let at = searched_from + at;
                // The mark's bytes in this chunk are consumed; what follows is the stream.
                let used = at + MARK_LEN - before;
                held.truncate(at);
                *found = true;
                self.rd.consume(used);
                // Bytes of earlier chunks after `at` were the mark's start, not payload.
                self.read = self.read + at as u64 - before as u64;
            }
            None => {
                self.rd.consume(n);
                self.read += n as u64;
            }
        }
        Ok(())
    }
}

impl Read for Payload<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.end {
                End::Len(0) => return Ok(0),
                End::Len(left) => {
                    let left_now = *left;
                    if !(self.progress)(self.read) {
                        return Err(std::io::Error::other("Replication target changed during the transfer"));
                    }
                    let read_before = self.read;
                    let chunk = self
                        .rd
                        .fill_buf()
                        .map_err(|e| std::io::Error::new(e.kind(), format!("{e} during the RDB transfer")))?;
                    if chunk.is_empty() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("connection lost after {read_before} bytes of the RDB"),
                        ));
                    }
                    let n = chunk.len().min(buf.len()).min(left_now.min(usize::MAX as u64) as usize);
                    buf[..n].copy_from_slice(&chunk[..n]);
                    self.rd.consume(n);
                    self.read += n as u64;
                    if let End::Len(left) = &mut self.end {
                        *left -= n as u64;
                    }
                    return Ok(n);
                }
                End::Mark { found, held, pos, .. } => {
                    // Bytes that can no longer be the start of the mark.
                    let safe = if *found { held.len() } else { held.len().saturating_sub(MARK_LEN - 1) };
                    if safe > *pos {
                        let n = (safe - *pos).min(buf.len());
                        buf[..n].copy_from_slice(&held[*pos..*pos + n]);
                        *pos += n;
                        return Ok(n);
                    }
                    if *found {
                        return Ok(0);
                    }
                    self.pull()?;
                }
            }
        }
    }
}

/// Where `mark` starts in `hay`, if it does. Candidates are the positions holding the
/// mark's first byte (a random hex digit: one byte in 16 of an RDB at most), so the
/// scan costs about a byte comparison per byte instead of a 40-byte compare per byte.
pub fn find_mark(hay: &[u8], mark: &[u8]) -> Option<usize> {
    let first = *mark.first()?;
    let last_start = hay.len().checked_sub(mark.len())?;
    let mut from = 0;
    while from <= last_start {
        let p = from + hay[from..=last_start].iter().position(|&b| b == first)?;
        if &hay[p..p + mark.len()] == mark {
            return Some(p);
        }
        from = p + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    const MARK: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn mark_found_anywhere_and_only_whole() {
        assert_eq!(find_mark(b"", MARK), None);
        assert_eq!(find_mark(&MARK[..39], MARK), None);
        assert_eq!(find_mark(MARK, MARK), Some(0));
        // A false start (the mark's first 15 bytes, then a wrong one) before the mark.
        let mut hay = b"00000123450123456789abcdeX".to_vec();
        hay.extend_from_slice(MARK);
        hay.extend_from_slice(b"tail");
        assert_eq!(find_mark(&hay, MARK), Some(26));
    }

    /// Sends `parts` with a pause between them (so the mark and the payload are split
    /// across reads at the chosen points) and returns the reading side.
    fn socket_with(parts: Vec<Vec<u8>>) -> BufReader<TcpStream> {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            for p in parts {
                s.write_all(&p).unwrap();
                s.flush().unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        // A small buffer, so the payload crosses many fills.
        BufReader::with_capacity(7, TcpStream::connect(addr).unwrap())
    }

    /// Reads with an odd-sized buffer, as a decoder might.
    fn read_all(p: &mut Payload) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 5];
        loop {
            let n = p.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn marked_payload_ends_before_the_mark_wherever_reads_split_it() {
        let body: Vec<u8> = (0..300u32).map(|i| b"0123abcdXY"[i as usize % 10]).collect();
        for split in [0, 1, 20, 39, 40, 41, 299, 300, 320, 339] {
            let mut all = body.clone();
            all.extend_from_slice(MARK);
            all.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
            let (a, b) = all.split_at(split);
            let mut rd = socket_with(vec![a.to_vec(), b.to_vec()]);
            let mut progress = |_: u64| true;
            let mut p = Payload::with_mark(&mut rd, MARK.to_vec(), &mut progress);
            assert_eq!(read_all(&mut p).unwrap(), body, "split at {split}");
            assert_eq!(p.received(), body.len() as u64);
            assert_eq!(p.finish().unwrap(), 0);
            // The stream after the mark is left for the connection.
            let mut rest = vec![0u8; 14];
            rd.read_exact(&mut rest).unwrap();
            assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n");
        }
    }

    #[test]
    fn payload_cut_before_its_end_is_an_error() {
        let mut rd = socket_with(vec![b"abcdef".to_vec()]);
        let mut progress = |_: u64| true;
        let mut p = Payload::with_len(&mut rd, 10, &mut progress);
        assert!(read_all(&mut p).is_err());
        let mut rd = socket_with(vec![b"abcdef".to_vec(), b"no mark here".to_vec()]);
        let mut p = Payload::with_mark(&mut rd, MARK.to_vec(), &mut progress);
        assert!(read_all(&mut p).is_err());
    }

    #[test]
    fn sized_payload_stops_at_its_length_and_finish_skips_the_rest() {
        let mut rd = socket_with(vec![b"0123456789".to_vec(), b"ABCDEFtail".to_vec()]);
        let mut progress = |_: u64| true;
        let mut p = Payload::with_len(&mut rd, 16, &mut progress);
        let mut first = [0u8; 12];
        p.read_exact(&mut first).unwrap();
        assert_eq!(p.finish().unwrap(), 4);
        let mut rest = vec![0u8; 4];
        rd.read_exact(&mut rest).unwrap();
        assert_eq!(rest, b"tail");
    }

    #[test]
    fn a_stopped_transfer_is_an_error() {
        let mut rd = socket_with(vec![b"0123456789".to_vec()]);
        let mut progress = |_: u64| false;
        let mut p = Payload::with_len(&mut rd, 10, &mut progress);
        assert!(read_all(&mut p).is_err());
    }
}
