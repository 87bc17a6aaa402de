//! RESP protocol: request parsing and reply encoding.
//!
//! Job: turn client bytes into argument ranges (`parse`, resumable across reads;
//! `inline` splits inline requests; `argv` holds a big request's arguments out of
//! the read buffer) and encode replies
//! for RESP2/RESP3 clients (`write`), without per-request allocation.
//! Non-goals: command semantics, connection state, I/O.
//! Dependencies: `crate::util::num` (strict integer parsing, number formatting),
//! `crate::io::pages` (`argv`'s chunks kept out of huge pages).

pub mod argv;
mod inline;
pub mod parse;
pub mod write;

pub use argv::{ArgStore, BIG_ARG};
pub use parse::*;
pub use write::*;
