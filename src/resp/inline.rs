//! Inline requests (`PING\r\n`, `SET "a b" 'c'\n`): Redis's `sdssplitargs`.
//!
//! Job: split one complete inline line into argument ranges, unescaping quoted
//! tokens into the caller's scratch buffer, with Redis's acceptance rules (the
//! tokenizer itself is `util::splitargs`, shared with the config file parser).
//! Non-goals: finding the line end (the request parser does that, resumably).
//! Dependencies: `util::splitargs`, `super::parse` for the range encoding.

use super::parse::{ProtoError, SCRATCH_FLAG};

/// Splits `line` (which holds no NUL bytes) into ranges; quoted tokens are
/// unescaped into `scratch` and flagged with `SCRATCH_FLAG`.
#[inline]
pub(super) fn split_args(line: &[u8], args: &mut Vec<(u32, u32)>, scratch: &mut Vec<u8>) -> Result<(), ProtoError> {
    crate::util::splitargs::split(line, args, scratch, SCRATCH_FLAG).map_err(|_| ProtoError::UnbalancedQuotes)
}
