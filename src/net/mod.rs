//! Connections: the bytes side of a client.
//!
//! Job: a connection's read buffer and parse state, its ordered queue of reply slots
//! (so replies leave in request order even when some come back from other shards),
//! and its double-buffered output (one buffer owned by an in-flight send, one being
//! filled). Also the listening sockets.
//!
//! Non-goals: the ring itself (`io`), what a command does (`cmd`).
//!
//! Depends on: `cmd` (dispatch), `resp` (parsing), `shard` (reply routing), `io`.

pub mod conn;
mod lastcmd;
pub mod listener;
pub mod lookahead;
pub mod outlimit;

pub use conn::Conn;
