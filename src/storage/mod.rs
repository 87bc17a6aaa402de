//! The keyspace: keys, values, expiry and the cursors that walk them.
//!
//! Job: hold one shard's data and answer questions about it cheaply. Lazy expiry happens
//! here (a read of an expired key deletes it), and so does the active expiry sampling;
//! so do the per-key LRU/LFU access data and the eviction pool (`evict`).
//!
//! Non-goals: sockets, RESP, command syntax, routing. Nothing here knows which client
//! asked or how a reply is encoded; callers get data back and encode it themselves. That
//! keeps this layer benchable and testable on its own.
//!
//! Depends on: std, `indexmap`, `hashbrown`, `foldhash`.

pub mod db;
pub mod epoch;
pub mod evict;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod limits;
pub mod list;
pub mod set;
pub mod small;
pub mod strbuf;
pub mod stream;
pub mod stream_group;
pub mod table;
pub mod value;
pub mod zset;

pub use db::{Db, Key, MAX_SAMPLES, Sample, has_expired};
pub use limits::{EncodingLimits, ListFill};
pub use small::SmallBytes;
pub use strbuf::{Origin, StrBuf};
pub use table::{Entry, KeyRef, Slot, Warm};
pub use value::Value;
