//! Small, dependency-free helpers shared by the whole server.
//!
//! Job: group the leaf utilities (time source, glob matching, strict number
//! parsing/formatting, key hashing, Redis-style logging) that the protocol,
//! storage and command layers all need.
//! Non-goals: anything that knows about clients, shards or the keyspace.
//! Dependencies: std only, and `csrc/longdouble.c` (C's `long double`, for
//! INCRBYFLOAT) through `longdouble`.

pub mod bytes;
pub mod clock;
pub mod glob;
pub mod hash;
pub mod log;
pub mod longdouble;
pub mod lzf;
pub mod num;
pub mod pqsort;
pub mod rng;
pub mod sha1;
pub mod splitargs;
pub mod stopwatch;
