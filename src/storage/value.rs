//! Values stored under keys.

/// A stored value. Only strings exist so far; the other Redis types join this enum as
/// variants so that `TYPE`, `WRONGTYPE` checks and the persistence encoders can match on
/// one closed set.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A binary-safe string. Integers are kept as their decimal text: INCR parses and
    /// formats at most 20 bytes, and keeping one representation keeps GET, APPEND and
    /// GETRANGE trivially correct.
    Str(Vec<u8>),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
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
        }
    }

    /// Approximate heap bytes used by the value, for `MEMORY USAGE` and INFO memory.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.capacity(),
        }
    }
}
