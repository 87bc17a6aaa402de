//! Commands: the table, argument access, dispatch and one file per family.
//!
//! Job: turn a request (arguments) into an effect on a shard and a reply. Handlers
//! write replies through `resp::ReplyWriter`; storage returns plain data.
//!
//! Non-goals: sockets and buffers (the `net` layer owns them), thread wiring (`server`).
//!
//! Depends on: `shard`, `storage`, `resp`, `config`, `util`.

pub mod acl;
pub mod args;
pub mod bitmap;
pub mod blocking;
#[cfg(test)]
mod blocking_tests;
pub mod client;
pub mod client_replybuf;
pub mod cmdtime;
pub mod config_cmd;
pub mod connection;
pub mod coord;
pub mod coord_log;
pub mod coord_split;
pub mod ctx;
pub mod debug;
pub mod debug_populate;
pub mod dispatch;
pub mod dump;
pub mod error;
#[cfg(test)]
mod expiry_tests;
pub mod failover;
pub mod fastrun;
pub mod function;
pub mod geo;
pub mod harness;
pub mod hash;
pub mod hll;
pub mod info;
pub mod introspect;
pub mod keys;
pub mod latency;
pub mod list;
pub mod lolwut;
pub mod memory;
pub mod module;
pub mod monitor;
pub mod multi;
pub mod multi_exec;
pub mod name_index;
#[cfg(test)]
mod notify_tests;
pub mod order;
pub mod pubsub;
pub mod redis_commands;
pub mod redis_info;
pub mod repl;
pub mod replicaof;
pub mod save;
mod scan_args;
pub mod script;
pub mod script_acl;
pub mod script_all;
mod script_debug;
mod script_host;
pub mod script_keyspace;
mod script_publish;
pub mod server;
pub mod set;
pub mod slowlog;
pub mod sort;
pub mod stream;
pub mod stream_group;
pub mod stream_read;
pub mod string;
pub mod table;
pub mod tracking;
pub mod zset;

pub use args::Args;
pub use ctx::{ConnCtx, ConnOutcome, ExecCtx, ReplyMode, Session};
pub use dispatch::{Outcome, dispatch, handle_batch, handle_msg};
pub use error::CmdError;
pub use table::{CommandSpec, TABLE};
