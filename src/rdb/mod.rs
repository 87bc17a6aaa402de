//! The Redis RDB format, both ways: snapshots (`dump.rdb`) and DUMP/RESTORE payloads.
//!
//! Job: turn keyspaces (`storage::Db`) into RDB bytes that Redis 7.0 loads, and turn
//! RDB bytes written by any Redis up to 7.x (RDB versions 1..=12) back into values,
//! refusing anything malformed with an error that names the byte offset. Storage does
//! not know about this module; it only reads `Db`s and builds `Value`s through their
//! public APIs.
//!
//! A file is `REDIS` + four ASCII digits of version, then opcodes and key/value pairs,
//! then `0xFF` and the CRC-64 of everything before it (little endian):
//!
//! ```text
//! "REDIS0010"  AUX(redis-ver, redis-bits, ctime, used-mem, aof-base)
//! SELECTDB n   RESIZEDB keys expires
//!   [EXPIRETIME_MS t] [IDLE s | FREQ f] type key value   ...one per key
//! SELECTDB m   ...
//! EOF crc64
//! ```
//!
//! Integration (SAVE/BGSAVE, startup load) lives elsewhere; this module offers:
//! - [`write_snapshot`]: every shard's databases (`&[&[Db]]`, one slice per shard, all
//!   the same length) to any `Write`. Only reads, so a forked child can call it on its
//!   copy-on-write view, or a shard can call it on a cloned snapshot.
//! - [`load`]: any `Read` to a [`Sink`] that receives each key with its database
//!   number, so the caller routes every key to its shard. Keys arrive as they are
//!   decoded; the checksum is only known at the end, so a caller must treat an `Err`
//!   as "discard everything received" (load into fresh databases, swap on success).
//!   [`DbSink`] is that sink for per-shard `Db`s, given the key -> shard function.
//! - [`dump_payload`] / [`restore_payload`]: DUMP/RESTORE's `type value version crc`.
//!
//! Depends on: `storage`, `util`.

pub mod compact;
pub mod crc64;
mod decode;
mod encode;
pub mod function;
mod input;
mod sink;
mod stream;

pub use decode::{LoadOptions, LoadStats, LoadedKey, Sink, load, load_bytes};
pub use encode::{ReplPosition, WriteOptions, WriteStats, encode_value, key_save_delay, put_string, write_snapshot};
pub use input::Input;
pub use sink::DbSink;

use crate::storage::Value;
use std::fmt;

/// The version this module writes: Redis 7.0's.
pub const RDB_VERSION: u16 = 10;
/// Newest version read (Redis 7.4). Types it does not know are refused one by one.
pub const RDB_VERSION_MAX_READ: u16 = 12;

/// Opcodes that may appear where a value type is expected.
pub mod opcode {
    pub const SLOT_INFO: u8 = 0xF4;
    pub const FUNCTION2: u8 = 0xF5;
    pub const FUNCTION_PRE_GA: u8 = 0xF6;
    pub const MODULE_AUX: u8 = 0xF7;
    pub const IDLE: u8 = 0xF8;
    pub const FREQ: u8 = 0xF9;
    pub const AUX: u8 = 0xFA;
    pub const RESIZEDB: u8 = 0xFB;
    pub const EXPIRETIME_MS: u8 = 0xFC;
    pub const EXPIRETIME: u8 = 0xFD;
    pub const SELECTDB: u8 = 0xFE;
    pub const EOF: u8 = 0xFF;
}

/// Value type bytes.
pub mod kind {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;

    /// A name for messages and the checker's per-type counts.
    pub fn name(t: u8) -> &'static str {
        match t {
            STRING => "string",
            LIST => "list (linked list)",
            SET => "set",
            ZSET => "zset (text scores)",
            HASH => "hash",
            ZSET_2 => "zset",
            MODULE_PRE_GA | MODULE_2 => "module",
            HASH_ZIPMAP => "hash (zipmap)",
            LIST_ZIPLIST => "list (ziplist)",
            SET_INTSET => "set (intset)",
            ZSET_ZIPLIST => "zset (ziplist)",
            HASH_ZIPLIST => "hash (ziplist)",
            LIST_QUICKLIST => "list (quicklist)",
            HASH_LISTPACK => "hash (listpack)",
            ZSET_LISTPACK => "zset (listpack)",
            LIST_QUICKLIST_2 => "list (quicklist 2)",
            SET_LISTPACK => "set (listpack)",
            STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 => "stream",
            _ => "unknown",
        }
    }
}

/// What went wrong, coarsely, so callers can pick a reply or exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Reading or writing failed underneath.
    Io,
    /// The input ends before the format says it should.
    Truncated,
    /// Bytes that violate the format (bad lengths, bad encodings, duplicates...).
    Corrupt,
    /// The CRC-64 trailer does not match the contents.
    Checksum,
    /// Valid RDB that this server cannot represent (modules, functions).
    Unsupported,
}

/// A load or save failure, with the byte offset of the problem in the input.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub offset: u64,
    pub msg: String,
}

impl Error {
    pub fn new(kind: ErrorKind, offset: u64, msg: impl Into<String>) -> Error {
        Error { kind, offset, msg: msg.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.msg, self.offset)
    }
}

impl std::error::Error for Error {}

/// DUMP's payload for `value`: type byte, value, RDB version (2 bytes LE), CRC-64 of
/// all that (8 bytes LE). Strings are compressed as an `rdbcompression yes` server
/// would.
pub fn dump_payload(value: &Value) -> Vec<u8> {
    dump_payload_compressed(value, true)
}

/// [`dump_payload`] with or without LZF compression: DUMP follows `rdbcompression`,
/// as Redis's does.
pub fn dump_payload_compressed(value: &Value, compress: bool) -> Vec<u8> {
    let mut out = encode_value(value, compress);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why RESTORE refused a payload; the two cases have different Redis error texts.
#[derive(Debug)]
pub enum PayloadError {
    /// Too short, version newer than ours, or checksum mismatch.
    VersionOrChecksum,
    /// The envelope is fine but the value inside does not decode (or is an empty
    /// collection, or a type we cannot hold).
    BadData(Error),
}

/// Checks a DUMP payload's envelope, as Redis's `verifyDumpPayload` does.
pub fn verify_payload(p: &[u8]) -> Result<(), PayloadError> {
    if p.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, footer) = p.split_at(p.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION_MAX_READ {
        return Err(PayloadError::VersionOrChecksum);
    }
    let crc = u64::from_le_bytes(footer[2..10].try_into().expect("8 bytes"));
    if crc64::update(crc64::crc64(body), &footer[..2]) != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    Ok(())
}

/// The value a DUMP payload holds, in the encoding `lim` calls for (as `load`).
pub fn restore_payload(p: &[u8], lim: &crate::storage::EncodingLimits) -> Result<Value, PayloadError> {
    verify_payload(p)?;
    decode::decode_payload_value(&p[..p.len() - 10], lim).map_err(PayloadError::BadData)
}

#[cfg(test)]
mod tests;
