//! A connection's input side: appending received bytes to the read buffer, the query
//! buffer's accounting, and moving a big request's arguments out of it (see the
//! parent module's docs).

use super::{BIG_ARG, BULK_GROWTH, Conn, DETACH_AT, READ_SLACK};

impl Conn {
    /// Appends received bytes. `process_input` checks the query buffer limit once
    /// it has parsed them (it runs in the same turn as every receive).
    pub fn feed(&mut self, data: &[u8]) {
        if data.len() > self.rbuf.capacity() - self.rbuf.len() || !self.overflow.is_empty() {
            return self.feed_past_capacity(data);
        }
        self.rbuf.extend_from_slice(data);
    }

    /// Input that does not fit `rbuf`'s capacity. While a big argument arrives,
    /// `rbuf` grows by the argument's rule (`reserve_for_bulk`) and, once it has the
    /// argument's exact size, what does not fit waits in `overflow` (several reads
    /// can arrive in one turn: the bytes after the argument must not make `rbuf`
    /// reallocate the whole argument); it follows once the argument has left `rbuf`
    /// (`drain_overflow`).
    #[cold]
    fn feed_past_capacity(&mut self, data: &[u8]) {
        if self.overflow.is_empty() {
            self.append_input(data);
        } else {
            self.overflow.extend_from_slice(data);
        }
    }

    /// Appends to `rbuf` (with `overflow` empty) as `feed_past_capacity` says.
    fn append_input(&mut self, mut data: &[u8]) {
        while self.parser.pending_bulk().is_some_and(|len| len >= BIG_ARG) && self.need > 0 {
            let fits = (self.rbuf.capacity() - self.rbuf.len()).min(data.len());
            self.rbuf.extend_from_slice(&data[..fits]);
            data = &data[fits..];
            if data.is_empty() {
                return;
            }
            if self.rbuf.capacity() >= self.need {
                self.overflow.extend_from_slice(data);
                return;
            }
            let capacity = self.rbuf.capacity();
            self.reserve_for_bulk();
            if self.rbuf.capacity() == capacity {
                break;
            }
        }
        self.rbuf.extend_from_slice(data);
    }

    /// Moves waiting `overflow` bytes into `rbuf` (as many as `append_input` takes).
    /// Returns whether any moved.
    #[cold]
    pub(super) fn drain_overflow(&mut self) -> bool {
        let waiting = std::mem::take(&mut self.overflow);
        let before = self.rbuf.len();
        self.append_input(&waiting);
        self.rbuf.len() > before
    }

    /// Received bytes not parsed yet. Redis's `client-query-buffer-limit` applies to
    /// this: its query buffer keeps only the unparsed tail (parsed arguments move to
    /// `argv`), so the complete arguments of a partial request do not count.
    pub(super) fn unparsed(&self) -> usize {
        self.rbuf.len() - self.rpos - self.parser.parsed_len().min(self.rbuf.len() - self.rpos) + self.overflow.len()
    }

    /// The unparsed input as the turn's warming skims it (`lookahead::AcrossConns`):
    /// `rbuf` from `rpos`, or nothing while a request is partly moved out, held by a
    /// pause, or followed by overflow (those are not single small requests).
    pub fn skimmable_input(&self) -> &[u8] {
        if self.moved_args.is_empty() && self.paused_request.is_none() && self.overflow.is_empty() {
            &self.rbuf[self.rpos..]
        } else {
            &[]
        }
    }

    /// Starts loading, for a write, the line of `rbuf` the next receive appends to.
    pub fn prefetch_input_end(&self) {
        crate::storage::table::prefetch_write(self.rbuf.as_ptr().wrapping_add(self.rbuf.len()));
    }

    /// Payload bytes of the complete arguments of the partial request still in `rbuf`.
    pub(super) fn partial_argv_bytes(&self) -> usize {
        if !self.parser.in_request() {
            return 0;
        }
        self.parser.args().iter().map(|&(a, b)| b.saturating_sub(a) as usize).sum()
    }

    /// The first bytes of the unparsed input, quoted as Redis's `sdscatrepr` does,
    /// for the log line of a client closed for its query buffer.
    pub fn unparsed_head_repr(&self) -> String {
        let start = self.rpos + self.parser.parsed_len().min(self.rbuf.len() - self.rpos);
        let head = &self.rbuf[start..(start + 64).min(self.rbuf.len())];
        let mut s = String::from("\"");
        for &b in head {
            match b {
                b'\\' | b'"' => {
                    s.push('\\');
                    s.push(b as char);
                }
                b'\n' => s.push_str("\\n"),
                b'\r' => s.push_str("\\r"),
                b'\t' => s.push_str("\\t"),
                0x07 => s.push_str("\\a"),
                0x08 => s.push_str("\\b"),
                0x20..=0x7e => s.push(b as char),
                _ => s.push_str(&format!("\\x{b:02x}")),
            }
        }
        s.push('"');
        s
    }

    /// Moves the complete arguments of a big partial request out of `rbuf` (see the
    /// module docs) and drops their bytes, with the requests before it. Returns how
    /// many bytes of the request were dropped. Not on the master link: it forwards
    /// each request's bytes to our replicas once the request ran.
    pub(super) fn detach_parsed(&mut self) -> usize {
        if self.master || !self.parser.in_request() {
            return 0;
        }
        let adopted = self.adopt_big_arg();
        let parsed = self.parser.parsed_len();
        let big_arg_next = self.parser.pending_bulk().is_some_and(|len| len >= BIG_ARG);
        if parsed == 0 || (parsed < DETACH_AT && !big_arg_next) {
            return adopted;
        }
        let dropped = self.parser.detach_into(&self.rbuf[self.rpos..], &mut self.moved_args);
        self.rbuf.drain(..self.rpos + dropped);
        self.rpos = 0;
        adopted + dropped
    }

    /// A big argument that starts the read buffer (it was detached up to its first
    /// byte, and the buffer sized for it: `reserve_for_bulk`) becomes the argument
    /// itself: the buffer moves into `moved_args` and only what follows the argument
    /// is copied into a fresh read buffer (a few KiB: the rest of the last read).
    /// Returns the bytes taken off the request's start. Redis does the same with a
    /// query buffer that holds exactly one big argument.
    pub(super) fn adopt_big_arg(&mut self) -> usize {
        let len = match self.parser.args().first() {
            Some(&(0, end)) if self.rpos == 0 && !self.master && end as usize >= BIG_ARG => end as usize,
            _ => return 0,
        };
        let rest = self.rbuf[len + 2..].to_vec();
        let mut arg = std::mem::replace(&mut self.rbuf, rest);
        arg.truncate(len);
        self.moved_args.push_owned(arg);
        self.parser.take_first_arg(len)
    }

    /// While a large argument arrives, grows the read buffer towards the size the
    /// request needs (plus one read's slack), by up to `BULK_GROWTH` times what it
    /// holds per step, ending exactly at that size: the bytes received are copied
    /// about 1/7 of a time more on average (not once per doubling), and the buffer
    /// can then become the argument itself (`adopt_big_arg`). An announced length
    /// alone (up to `proto-max-bulk-len`) never makes the server reserve more than
    /// that factor times what the client sent. Redis reserves the whole announced
    /// argument up front instead.
    pub(super) fn reserve_for_bulk(&mut self) {
        if self.parser.pending_bulk().is_none_or(|len| len < BIG_ARG) || self.need <= self.rbuf.capacity() {
            return;
        }
        let len = self.rbuf.len();
        let target = (self.need + READ_SLACK).min(len.saturating_mul(BULK_GROWTH).max(1 << 20));
        if target > self.rbuf.capacity() {
            // A fresh buffer, kept out of huge pages before the bytes are copied in
            // (`io::pages`: zeroing 2 MiB pages on first touch made a big SET cost
            // twice Redis's CPU), instead of a reallocation.
            let mut grown = Vec::with_capacity(target);
            crate::io::pages::avoid_huge_pages(&mut grown);
            grown.extend_from_slice(&self.rbuf);
            self.rbuf = grown;
        }
    }

    pub(super) fn compact(&mut self) {
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
            self.need = 0;
            if self.rbuf.capacity() > 1 << 20 {
                self.rbuf.shrink_to(16 << 10);
            }
        } else if self.rpos > 0 && self.rpos >= self.rbuf.len() / 2 {
            self.rbuf.drain(..self.rpos);
            self.need = self.need.saturating_sub(self.rpos);
            self.rpos = 0;
        }
    }
}
