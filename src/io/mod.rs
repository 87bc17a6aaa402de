//! The per-thread io_uring layer: the ring, the provided-buffer ring that multishot
//! receives draw from, and the `user_data` encoding that ties completions back to
//! connections.
//!
//! Job: submit and reap socket operations with as few syscalls as possible (one
//! `io_uring_enter` per loop turn) and keep every pointer the kernel holds valid until
//! its completion arrives.
//!
//! Non-goals: knowing anything about commands, RESP or shards. The worker loop in
//! `server::worker` decides what to submit; this layer only knows file descriptors,
//! buffers and operation tokens.
//!
//! Depends on: `io-uring`, `libc`, std. This is where the crate's `unsafe` lives; every
//! block carries a `// SAFETY:` note.

pub mod alloc;
pub mod bufring;
pub mod direct;
pub mod file;
pub mod listen;
pub mod numa;
pub mod pages;
pub mod poll;
pub mod proc;
pub mod ring;
pub mod sock;
pub mod token;
pub mod zc;

pub use bufring::BufRing;
pub use ring::Ring;
pub use token::{Op, Token};
