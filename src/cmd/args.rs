//! A request's arguments, wherever they live: ranges into a connection's read buffer
//! (the zero-copy local path), the same after a big request's first arguments moved
//! out of the read buffer (`resp::ArgStore`), or an owned copy that travelled from
//! another thread.

use super::error::CmdError;
use crate::resp::ArgStore;
use crate::shard::OwnedArgs;
use crate::util::num;

#[derive(Clone, Copy)]
pub enum Args<'a> {
    Ranges {
        buf: &'a [u8],
        scratch: &'a [u8],
        ranges: &'a [(u32, u32)],
    },
    /// A big request: its first arguments in `head`, the rest ranges into `buf`.
    Split {
        head: &'a ArgStore,
        buf: &'a [u8],
        ranges: &'a [(u32, u32)],
    },
    Owned(&'a OwnedArgs),
}

impl<'a> Args<'a> {
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            Args::Ranges { ranges, .. } => ranges.len(),
            Args::Split { head, ranges, .. } => head.len() + ranges.len(),
            Args::Owned(o) => o.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // Every handler's first call: out of line, it showed as its own symbol in profiles.
    #[inline(always)]
    pub fn get(&self, i: usize) -> &'a [u8] {
        match *self {
            Args::Ranges { buf, scratch, ranges } => crate::resp::arg_slice(buf, scratch, ranges[i]),
            Args::Split { head, buf, ranges } => split_get(head, buf, ranges, i),
            Args::Owned(o) => o.get(i),
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Bytes received from this request's start to the end of the connection's input
    /// (the request and any pipelined after it), when the arguments still point into
    /// the read buffer: what CLIENT INFO reports as the caller's `qbuf`.
    pub fn input_len(&self) -> Option<usize> {
        match self {
            // A split request's head has left the read buffer, as Redis's parsed
            // arguments leave its query buffer.
            Args::Ranges { buf, .. } | Args::Split { buf, .. } => Some(buf.len()),
            Args::Owned(_) => None,
        }
    }

    /// Asks to keep big argument `i` as the value stored under argument `key` in
    /// database `db`, without a copy. True: store a placeholder (an empty string);
    /// the connection puts the bytes there once the command and everything reading
    /// its arguments after it ran (`resp::ArgStore::lend`). False: copy as usual.
    /// Only for values stored whole under their key, and only where nothing reads
    /// the stored value back before the command ends (the log does for SET with a
    /// relative expiry).
    pub fn lend(&self, i: usize, key: usize, db: usize) -> bool {
        match self {
            Args::Split { head, .. } => i < head.len() && head.lend(i, key, db),
            _ => false,
        }
    }

    pub fn to_owned(&self) -> OwnedArgs {
        OwnedArgs::from_slices_exact((0..self.len()).map(|i| self.get(i)))
    }

    /// Argument `i` as a strict integer, with Redis's error.
    pub fn i64(&self, i: usize) -> Result<i64, CmdError> {
        num::parse_i64(self.get(i)).ok_or(CmdError::NotInteger)
    }

    /// Argument `i` as a float, with Redis's error.
    pub fn f64(&self, i: usize) -> Result<f64, CmdError> {
        num::parse_f64(self.get(i)).ok_or(CmdError::NotFloat)
    }

    /// Case-insensitive comparison of argument `i` with an ASCII keyword.
    #[inline]
    pub fn is(&self, i: usize, word: &str) -> bool {
        self.get(i).eq_ignore_ascii_case(word.as_bytes())
    }

    /// Argument `i` as UTF-8 (lossy), for messages and names.
    pub fn str(&self, i: usize) -> String {
        String::from_utf8_lossy(self.get(i)).into_owned()
    }
}

/// Argument `i` of a split request, out of the hot path's inlined `get`.
#[inline(never)]
fn split_get<'a>(head: &'a ArgStore, buf: &'a [u8], ranges: &'a [(u32, u32)], i: usize) -> &'a [u8] {
    match i.checked_sub(head.len()) {
        None => head.get(i),
        Some(j) => &buf[ranges[j].0 as usize..ranges[j].1 as usize],
    }
}
