//! The SCAN family's arguments, one parser for SCAN and for HSCAN/SSCAN/ZSCAN: the
//! cursor, and the COUNT, MATCH and (SCAN's only) TYPE options, read as Redis 7.0's
//! `parseScanCursorOrReply` and `scanGenericCommand` read them, with their errors.

use super::{Args, CmdError};
use crate::util::glob::glob_match;

/// A SCAN-family cursor as Redis's `parseScanCursorOrReply` reads it (`strtoul`: an
/// optional sign, digits, nothing else; an empty string is 0 and `-n` wraps like C's
/// unsigned parse).
pub(super) fn parse_cursor(b: &[u8]) -> Result<u64, CmdError> {
    let invalid = || CmdError::msg("ERR invalid cursor");
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return if b.is_empty() { Ok(0) } else { Err(invalid()) };
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(invalid());
        }
        v = v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))).ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// The options after a cursor.
pub(super) struct ScanOpts<'a> {
    pub count: usize,
    /// None for no MATCH or `MATCH *` (no matcher to run).
    pub pattern: Option<&'a [u8]>,
    pub type_name: Option<&'a [u8]>,
}

/// Reads the options from argument `from` on. TYPE is an option only where `with_type`
/// (SCAN); for a key's SCAN it is a syntax error, as in Redis.
pub(super) fn parse_scan_opts<'a>(a: &Args<'a>, from: usize, with_type: bool) -> Result<ScanOpts<'a>, CmdError> {
    let mut count: i64 = 10;
    let mut opts = ScanOpts { count: 0, pattern: None, type_name: None };
    let mut i = from;
    while i < a.len() {
        let more = i + 1 < a.len();
        if a.is(i, "count") && more {
            count = a.i64(i + 1)?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
        } else if a.is(i, "match") && more {
            let p = a.get(i + 1);
            opts.pattern = (p != b"*").then_some(p);
        } else if with_type && a.is(i, "type") && more {
            opts.type_name = Some(a.get(i + 1));
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    opts.count = usize::try_from(count).unwrap_or(usize::MAX);
    Ok(opts)
}

/// Does `item` pass a SCAN MATCH pattern?
#[inline]
pub(super) fn scan_match(pattern: Option<&[u8]>, item: &[u8]) -> bool {
    pattern.is_none_or(|p| glob_match(p, item, false))
}

/// The reply every SCAN-family command gives for a missing key.
pub(super) fn empty_scan(out: &mut crate::resp::ReplyWriter) {
    out.array(2);
    out.bulk(b"0");
    out.array(0);
}

/// SCAN's arguments, owned, for a walk that runs on every shard.
pub(super) struct ScanArgs {
    pub cursor: u64,
    pub count: usize,
    pub pattern: Option<Vec<u8>>,
    pub type_name: Option<Vec<u8>>,
}

impl ScanArgs {
    pub fn parse(a: &Args) -> Result<ScanArgs, CmdError> {
        let cursor = parse_cursor(a.get(1))?;
        let opts = parse_scan_opts(a, 2, true)?;
        Ok(ScanArgs {
            cursor,
            count: opts.count,
            pattern: opts.pattern.map(<[u8]>::to_vec),
            type_name: opts.type_name.map(<[u8]>::to_vec),
        })
    }

    /// Does a key pass MATCH? Only such a key may be expired by the walk: Redis 7.0's
    /// SCAN filters by pattern before it looks the key up (TYPE) or expires it, so an
    /// expired key the pattern leaves out stays until something else expires it.
    pub fn matches(&self, k: &[u8]) -> bool {
        scan_match(self.pattern.as_deref(), k)
    }

    /// Does a key the walk met in `d` pass MATCH and TYPE?
    pub fn keeps(&self, d: &crate::storage::Db, k: &[u8]) -> bool {
        self.matches(k)
            && self
                .type_name
                .as_ref()
                .is_none_or(|t| d.peek(k).is_some_and(|e| e.value.type_name().as_bytes().eq_ignore_ascii_case(t)))
    }
}
