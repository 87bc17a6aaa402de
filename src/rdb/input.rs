//! Reading RDB primitives from a byte stream: lengths, strings (plain, integer and
//! LZF encoded), doubles. Tracks the offset of every byte (for error messages) and the
//! running CRC-64 (for the trailer), so the file is read exactly once, streaming.

use super::{Error, ErrorKind, crc64};
use crate::util::lzf;
use std::io::{BufRead, ErrorKind as IoKind};

/// Strings longer than this are read in pieces, so a corrupt length can't make us
/// allocate gigabytes before noticing that the input is shorter.
const CHUNK: usize = 1 << 20;

/// A length field: a count, or the marker of a specially encoded string.
pub enum Len {
    Plain(u64),
    Encoded(u8),
}

pub struct Input<R> {
    r: R,
    /// Offset of the next unread byte.
    pub off: u64,
    pub crc: u64,
}

impl<R: BufRead> Input<R> {
    pub fn new(r: R, start_offset: u64) -> Input<R> {
        Input { r, off: start_offset, crc: 0 }
    }

    pub fn corrupt(&self, at: u64, msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Corrupt, at, msg)
    }

    fn io(&self, e: std::io::Error) -> Error {
        if e.kind() == IoKind::UnexpectedEof {
            Error::new(ErrorKind::Truncated, self.off, "unexpected end of input (file truncated?)")
        } else {
            Error::new(ErrorKind::Io, self.off, format!("read error: {e}"))
        }
    }

    pub fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        if let Err(e) = self.r.read_exact(buf) {
            return Err(self.io(e));
        }
        self.crc = crc64::update(self.crc, buf);
        self.off += buf.len() as u64;
        Ok(())
    }

    pub fn u8(&mut self) -> Result<u8, Error> {
        let mut b = [0u8; 1];
        self.fill(&mut b)?;
        Ok(b[0])
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut b = [0u8; N];
        self.fill(&mut b)?;
        Ok(b)
    }

    /// True if nothing follows (used after the trailer).
    pub fn at_end(&mut self) -> Result<bool, Error> {
        match self.r.fill_buf() {
            Ok(b) => Ok(b.is_empty()),
            Err(e) => Err(self.io(e)),
        }
    }

    pub fn bytes(&mut self, n: u64) -> Result<Vec<u8>, Error> {
        let n = usize::try_from(n).map_err(|_| self.corrupt(self.off, format!("length {n} too large")))?;
        let mut out = Vec::with_capacity(n.min(CHUNK));
        while out.len() < n {
            let start = out.len();
            let take = (n - start).min(CHUNK);
            out.resize(start + take, 0);
            self.fill(&mut out[start..])?;
        }
        Ok(out)
    }

    /// A length or a special-encoding marker. The top two bits of the first byte
    /// say which: 00 six bits, 01 fourteen bits (big endian), 10 a 32- or 64-bit
    /// big-endian length, 11 an encoding number in the low six bits.
    pub fn len_or_enc(&mut self) -> Result<Len, Error> {
        let at = self.off;
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain((b & 0x3F) as u64),
            1 => Len::Plain(((b as u64 & 0x3F) << 8) | self.u8()? as u64),
            2 => match b {
                0x80 => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return Err(self.corrupt(at, format!("invalid length encoding byte 0x{b:02x}"))),
            },
            _ => Len::Encoded(b & 0x3F),
        })
    }

    /// A plain length; an encoded-string marker here is corruption. (Reads a length
    /// field from the input; not the size of the input, so no `is_empty`.)
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&mut self) -> Result<u64, Error> {
        let at = self.off;
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(e) => Err(self.corrupt(at, format!("expected a length, found string encoding {e}"))),
        }
    }

    /// A length that counts elements still to be read: bounded by what could fit in
    /// memory at all, so that pre-sizing on it stays sane.
    pub fn count(&mut self) -> Result<usize, Error> {
        let at = self.off;
        let n = self.len()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n < (1 << 40))
            .ok_or_else(|| self.corrupt(at, format!("count {n} is implausible")))
    }

    /// A string in any of its encodings.
    pub fn string(&mut self) -> Result<Vec<u8>, Error> {
        let at = self.off;
        match self.len_or_enc()? {
            Len::Plain(n) => self.bytes(n),
            Len::Encoded(0) => Ok(int_text(self.u8()? as i8 as i64)),
            Len::Encoded(1) => Ok(int_text(i16::from_le_bytes(self.array()?) as i64)),
            Len::Encoded(2) => Ok(int_text(i32::from_le_bytes(self.array()?) as i64)),
            Len::Encoded(3) => {
                let clen = self.len()?;
                let len = self.len()?;
                let data_at = self.off;
                let data = self.bytes(clen)?;
                let len = usize::try_from(len).map_err(|_| self.corrupt(at, "LZF length too large"))?;
                lzf::decompress(&data, len)
                    .map_err(|e| self.corrupt(data_at, format!("bad LZF data ({e:?}) in compressed string")))
            }
            Len::Encoded(e) => Err(self.corrupt(at, format!("unknown string encoding {e}"))),
        }
    }

    /// A double as RDB type ZSET writes it: one length byte (253 NaN, 254 +inf,
    /// 255 -inf), then that many ASCII characters.
    pub fn double_text(&mut self) -> Result<f64, Error> {
        let at = self.off;
        let n = self.u8()?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let text = self.bytes(n as u64)?;
                std::str::from_utf8(&text)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .ok_or_else(|| self.corrupt(at, "unparsable double"))
            }
        }
    }

    /// An IEEE 754 double, little endian (ZSET_2).
    pub fn double_bin(&mut self) -> Result<f64, Error> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

fn int_text(v: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(11);
    crate::util::num::write_i64(&mut out, v);
    out
}
