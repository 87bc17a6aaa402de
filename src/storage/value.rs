//! Values stored under keys.

use super::hash::HashValue;
use super::list::ListValue;
use super::set::SetValue;
use super::strbuf::StrBuf;
use super::stream::StreamValue;
use super::zset::ZSetValue;

/// A stored value: one closed set of Redis types, so that `TYPE`, `WRONGTYPE` checks
/// and the persistence encoders all match on the same enum. Every variant is `Send`:
/// cross-shard commands copy values between threads.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A binary-safe string, inline up to 38 bytes (see `strbuf`). Integers are kept as
    /// their decimal text: INCR parses and formats at most 20 bytes, and keeping one
    /// representation keeps GET, APPEND and GETRANGE trivially correct.
    Str(StrBuf),
    Hash(HashValue),
    /// Boxed: a `ListValue` is 40 bytes, and unboxed it would make every `Value` (and
    /// so every key's slot) 8 bytes larger.
    List(Box<ListValue>),
    Set(SetValue),
    ZSet(ZSetValue),
    /// Boxed: a stream's header (IDs, counters, groups) is bigger than the other
    /// variants and streams are rare, so the common enum stays small.
    Stream(Box<StreamValue>),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name `OBJECT ENCODING` reports, chosen as Redis would for the same value so
    /// that tools which inspect encodings see familiar answers.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => {
                if s.len() <= 20 && crate::util::num::parse_i64(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::Hash(h) => h.encoding_name(),
            Value::List(l) => l.encoding_name(),
            Value::Set(v) => v.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
            Value::Stream(_) => "stream",
        }
    }

    /// Approximate heap bytes used by the value, for `MEMORY USAGE` and INFO memory.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_bytes(),
            Value::Hash(h) => h.heap_bytes(),
            Value::List(l) => std::mem::size_of::<ListValue>() + l.heap_bytes(),
            Value::Set(v) => v.heap_bytes(),
            Value::ZSet(z) => z.heap_bytes(),
            Value::Stream(s) => std::mem::size_of::<StreamValue>() + s.heap_bytes(),
        }
    }
}
