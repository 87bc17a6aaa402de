//! RESP2/RESP3 reply encoder.
//!
//! Job: append correctly framed replies to a connection's output `Vec<u8>`,
//! choosing the RESP2 or RESP3 spelling of each type (null, map, set, push,
//! double, boolean, verbatim) the way Redis 7 does for `HELLO 2`/`HELLO 3`
//! clients. Nothing is allocated per reply beyond the Vec growing.
//! Non-goals: deciding *what* to reply, tracking deferred lengths, flushing.
//! Dependencies: `crate::util::num` (integer and double formatting).

use crate::util::num::{i64_len, u64_len, write_double, write_i64, write_u64};

/// Protocol version negotiated by the client (HELLO).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Proto {
    #[default]
    Resp2,
    Resp3,
}

/// Appends replies to `buf` in the client's protocol.
pub struct ReplyWriter<'a> {
    pub buf: &'a mut Vec<u8>,
    pub proto: Proto,
}

impl<'a> ReplyWriter<'a> {
    pub fn new(buf: &'a mut Vec<u8>, proto: Proto) -> Self {
        ReplyWriter { buf, proto }
    }

    #[inline]
    fn is_resp3(&self) -> bool {
        self.proto == Proto::Resp3
    }

    /// `<prefix><n>\r\n`, the framing shared by all aggregate and length
    /// headers.
    #[inline]
    fn header(&mut self, prefix: u8, n: usize) {
        self.buf.push(prefix);
        write_u64(self.buf, n as u64);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Append `s` with CR/LF replaced by spaces: a raw newline inside a
    /// simple string or error would desynchronise the client's parser.
    #[inline]
    fn line_sanitized(&mut self, s: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(s);
        for b in &mut self.buf[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`
    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// Simple string `+s` (CR/LF in `s` become spaces).
    #[inline]
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.line_sanitized(s.as_bytes());
    }

    /// Error `-msg`. `msg` carries its own code ("ERR ...", "WRONGTYPE ...");
    /// a leading '-' is tolerated and not doubled. CR/LF become spaces, as
    /// Redis does for error replies.
    #[inline]
    pub fn error(&mut self, msg: &str) {
        let msg = msg.strip_prefix('-').unwrap_or(msg);
        self.buf.push(b'-');
        self.line_sanitized(msg.as_bytes());
    }

    /// Integer `:v`.
    #[inline]
    pub fn int(&mut self, v: i64) {
        self.buf.push(b':');
        write_i64(self.buf, v);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Bulk string `$len\r\n<b>\r\n`.
    #[inline]
    pub fn bulk(&mut self, b: &[u8]) {
        self.buf.reserve(b.len() + 24);
        self.header(b'$', b.len());
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An integer rendered as a bulk string (e.g. values stored as ints).
    #[inline]
    pub fn bulk_i64(&mut self, v: i64) {
        self.header(b'$', i64_len(v));
        write_i64(self.buf, v);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Missing value: RESP2 null bulk `$-1`, RESP3 `_`.
    #[inline]
    pub fn null(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// Missing aggregate: RESP2 null array `*-1`, RESP3 `_`.
    #[inline]
    pub fn null_array(&mut self) {
        if self.is_resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    /// Array header `*n`; the caller then writes `n` elements.
    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }

    /// Map header for `n` key/value pairs: RESP3 `%n`, RESP2 flat `*2n`.
    #[inline]
    pub fn map(&mut self, n: usize) {
        if self.is_resp3() {
            self.header(b'%', n);
        } else {
            self.header(b'*', n * 2);
        }
    }

    /// Set header: RESP3 `~n`, RESP2 `*n`.
    #[inline]
    pub fn set(&mut self, n: usize) {
        let prefix = if self.is_resp3() { b'~' } else { b'*' };
        self.header(prefix, n);
    }

    /// Out-of-band push header (pub/sub, invalidation): RESP3 `>n`, RESP2 `*n`.
    #[inline]
    pub fn push(&mut self, n: usize) {
        let prefix = if self.is_resp3() { b'>' } else { b'*' };
        self.header(prefix, n);
    }

    /// Double: RESP3 `,v` (`inf`, `-inf`, `nan` for specials); RESP2 a bulk
    /// string with the same text (Redis 7 formatting, see `write_double`).
    pub fn double(&mut self, v: f64) {
        if self.is_resp3() {
            self.buf.push(b',');
            write_double(self.buf, v);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            // The length prefix depends on the formatted text: format first,
            // then rotate the short header in front of it (< 32 bytes moved).
            let start = self.buf.len();
            write_double(self.buf, v);
            let len = self.buf.len() - start;
            self.buf.push(b'$');
            write_u64(self.buf, len as u64);
            self.buf.extend_from_slice(b"\r\n");
            let hlen = 1 + u64_len(len as u64) + 2;
            self.buf[start..].rotate_right(hlen);
            self.buf.extend_from_slice(b"\r\n");
        }
    }

    /// Boolean: RESP3 `#t`/`#f`; RESP2 `:1`/`:0`.
    #[inline]
    pub fn bool(&mut self, v: bool) {
        let s: &[u8] = match (self.is_resp3(), v) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        };
        self.buf.extend_from_slice(s);
    }

    /// Verbatim string: RESP3 `=len\r\nfmt:text\r\n` where `fmt` is a
    /// three-letter type such as "txt" or "mkd"; RESP2 a plain bulk string.
    pub fn verbatim(&mut self, fmt: &[u8; 3], text: &[u8]) {
        if self.is_resp3() {
            self.buf.reserve(text.len() + fmt.len() + 24);
            self.header(b'=', fmt.len() + 1 + text.len());
            self.buf.extend_from_slice(fmt);
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Already-encoded RESP bytes, copied verbatim.
    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(proto: Proto, f: impl FnOnce(&mut ReplyWriter)) -> String {
        let mut buf = Vec::new();
        let mut w = ReplyWriter::new(&mut buf, proto);
        f(&mut w);
        String::from_utf8(buf).unwrap()
    }

    fn both(f: impl Fn(&mut ReplyWriter)) -> (String, String) {
        (out(Proto::Resp2, &f), out(Proto::Resp3, &f))
    }

    #[test]
    fn scalars() {
        assert_eq!(both(|w| w.ok()), ("+OK\r\n".into(), "+OK\r\n".into()));
        assert_eq!(out(Proto::Resp2, |w| w.simple("PONG")), "+PONG\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.simple("a\r\nb")), "+a  b\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.error("ERR bad\r\nthing")), "-ERR bad  thing\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.error("-WRONGTYPE x")), "-WRONGTYPE x\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.int(-42)), ":-42\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.int(i64::MIN)), ":-9223372036854775808\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.bulk(b"hello")), "$5\r\nhello\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.bulk(b"")), "$0\r\n\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.bulk_i64(-1234)), "$5\r\n-1234\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.bulk_i64(0)), "$1\r\n0\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.raw(b"+X\r\n")), "+X\r\n");
    }

    #[test]
    fn nulls() {
        assert_eq!(both(|w| w.null()), ("$-1\r\n".into(), "_\r\n".into()));
        assert_eq!(both(|w| w.null_array()), ("*-1\r\n".into(), "_\r\n".into()));
    }

    #[test]
    fn aggregates() {
        assert_eq!(both(|w| w.array(3)), ("*3\r\n".into(), "*3\r\n".into()));
        assert_eq!(both(|w| w.map(2)), ("*4\r\n".into(), "%2\r\n".into()));
        assert_eq!(both(|w| w.set(5)), ("*5\r\n".into(), "~5\r\n".into()));
        assert_eq!(both(|w| w.push(3)), ("*3\r\n".into(), ">3\r\n".into()));
        assert_eq!(both(|w| w.array(0)), ("*0\r\n".into(), "*0\r\n".into()));
        let s = out(Proto::Resp3, |w| {
            w.map(1);
            w.bulk(b"k");
            w.int(1);
        });
        assert_eq!(s, "%1\r\n$1\r\nk\r\n:1\r\n");
    }

    #[test]
    fn doubles() {
        assert_eq!(both(|w| w.double(1.5)), ("$3\r\n1.5\r\n".into(), ",1.5\r\n".into()));
        assert_eq!(both(|w| w.double(3.0)), ("$1\r\n3\r\n".into(), ",3\r\n".into()));
        assert_eq!(both(|w| w.double(f64::INFINITY)), ("$3\r\ninf\r\n".into(), ",inf\r\n".into()));
        assert_eq!(both(|w| w.double(f64::NEG_INFINITY)), ("$4\r\n-inf\r\n".into(), ",-inf\r\n".into()));
        assert_eq!(both(|w| w.double(f64::NAN)), ("$3\r\nnan\r\n".into(), ",nan\r\n".into()));
        assert_eq!(out(Proto::Resp2, |w| w.double(0.1 + 0.2)), "$19\r\n0.30000000000000004\r\n");
        assert_eq!(out(Proto::Resp2, |w| w.double(1e20)), "$5\r\n1e+20\r\n");
        // Appending after existing content keeps earlier bytes intact.
        let s = out(Proto::Resp2, |w| {
            w.int(7);
            w.double(-2.25);
            w.int(8);
        });
        assert_eq!(s, ":7\r\n$5\r\n-2.25\r\n:8\r\n");
    }

    #[test]
    fn bools_and_verbatim() {
        assert_eq!(both(|w| w.bool(true)), (":1\r\n".into(), "#t\r\n".into()));
        assert_eq!(both(|w| w.bool(false)), (":0\r\n".into(), "#f\r\n".into()));
        assert_eq!(
            both(|w| w.verbatim(b"txt", b"Some string")),
            ("$11\r\nSome string\r\n".into(), "=15\r\ntxt:Some string\r\n".into())
        );
    }
}
