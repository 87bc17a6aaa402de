//! # shardis
//!
//! A Redis-compatible in-memory data store for Linux: one keyspace shard per pinned
//! core, each running its own io_uring loop.
//!
//! (Architecture documentation: see the "Architecture" section below, kept true with
//! every change that alters the flow.)
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cmd;
pub mod config;
pub mod io;
pub mod net;
pub mod resp;
pub mod server;
pub mod shard;
pub mod storage;
pub mod util;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
