//! RESP protocol: request parsing and reply encoding.
//!
//! Job: turn client bytes into argument ranges (`parse`, resumable across reads;
//! `inline` splits inline requests) and encode replies
//! for RESP2/RESP3 clients (`write`), without per-request allocation.
//! Non-goals: command semantics, connection state, I/O.
//! Dependencies: `crate::util::num` (strict integer parsing, number formatting).

mod inline;
pub mod parse;
pub mod write;

pub use parse::*;
pub use write::*;
