//! `user_data` tokens: which operation a completion belongs to.
//!
//! A token packs the operation kind, a connection slot and that slot's generation, so a
//! late completion for a slot that was closed and reused is recognised and ignored.

/// The kind of operation a completion reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Multishot accept on this thread's listening socket.
    Accept = 1,
    /// Multishot receive on a connection.
    Recv = 2,
    /// A send of a connection's reply buffer.
    Send = 3,
    /// Another shard woke us through `IORING_OP_MSG_RING`: our inbox has messages.
    Wake = 4,
    /// Completion of our own MSG_RING submission (ignored; only errors matter).
    WakeSent = 5,
    /// An fdatasync or write issued by persistence (reserved for the AOF).
    Persist = 6,
    /// Completion of our own cancel request (ignored; the cancelled operation reports
    /// `-ECANCELED` under its own token).
    Cancel = 7,
}

/// A packed `user_data` value: `kind << 56 | generation << 32 | slot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub op: Op,
    pub slot: u32,
    pub generation: u32,
}

impl Token {
    pub const fn new(op: Op, slot: u32, generation: u32) -> Token {
        Token { op, slot, generation: generation & 0x00ff_ffff }
    }

    pub const fn encode(self) -> u64 {
        ((self.op as u64) << 56) | ((self.generation as u64 & 0x00ff_ffff) << 32) | self.slot as u64
    }

    pub fn decode(v: u64) -> Option<Token> {
        let op = match v >> 56 {
            1 => Op::Accept,
            2 => Op::Recv,
            3 => Op::Send,
            4 => Op::Wake,
            5 => Op::WakeSent,
            6 => Op::Persist,
            7 => Op::Cancel,
            _ => return None,
        };
        Some(Token { op, slot: v as u32, generation: ((v >> 32) & 0x00ff_ffff) as u32 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = Token::new(Op::Send, 12345, 0x00ab_cdef);
        assert_eq!(Token::decode(t.encode()), Some(t));
        assert_eq!(Token::decode(0), None);
    }

    #[test]
    fn generation_wraps_into_24_bits() {
        let t = Token::new(Op::Recv, 1, 0x0100_0001);
        assert_eq!(Token::decode(t.encode()).unwrap().generation, 1);
    }
}
