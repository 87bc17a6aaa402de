//! A key's state as commands: what a base file (rewrite) holds for every key, and what
//! a shard logs for the keys a cross-shard command wrote back to it (their final state,
//! not the command, so each shard's log replays on its own).
//!
//! Collections go out in commands of at most `ITEMS_PER_CMD` elements, as Redis's
//! rewrite does, so no single command in the log is huge.

use super::resp::encode;
use crate::storage::list::Elem;
use crate::storage::set::Member;
use crate::storage::{Entry, Value};
use crate::util::num::{write_double, write_i64};

pub const ITEMS_PER_CMD: usize = 64;

/// Appends the commands that recreate `key` holding `value` with the deadline
/// `expire_at` (0 = none; the key must not exist).
pub fn key_state(buf: &mut Vec<u8>, key: &[u8], value: &Value, expire_at: u64) {
    match value {
        Value::Str(s) => encode(buf, &[&b"SET"[..], key, s]),
        Value::List(l) => {
            // `visit`, not `iter`: leaves no decompressed copy of a compressed node.
            let mut items: Vec<Vec<u8>> = Vec::with_capacity(l.len());
            l.visit(|el| {
                items.push(match el {
                    Elem::Bytes(b) => b.to_vec(),
                    Elem::Int(n) => int(n),
                })
            });
            chunked(buf, b"RPUSH", key, items.iter().map(|v| vec![v.as_slice()]));
        }
        Value::Set(v) => {
            let items: Vec<Vec<u8>> = v
                .iter()
                .map(|m| match m {
                    Member::Bytes(b) => b.to_vec(),
                    Member::Int(n) => int(n),
                })
                .collect();
            chunked(buf, b"SADD", key, items.iter().map(|v| vec![v.as_slice()]));
        }
        Value::ZSet(z) => {
            let items: Vec<(Vec<u8>, Vec<u8>)> = z
                .iter()
                .map(|(m, s)| {
                    let mut t = Vec::with_capacity(24);
                    write_double(&mut t, s);
                    (t, m.to_vec())
                })
                .collect();
            chunked(buf, b"ZADD", key, items.iter().map(|(s, m)| vec![s.as_slice(), m.as_slice()]));
        }
        Value::Hash(h) => {
            let items: Vec<(Vec<u8>, Vec<u8>)> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            chunked(buf, b"HSET", key, items.iter().map(|(f, v)| vec![f.as_slice(), v.as_slice()]));
        }
        Value::Stream(s) => crate::persist::emit_stream::stream_state(buf, key, s),
    }
    if expire_at != 0 {
        encode(buf, &[&b"PEXPIREAT"[..], key, &int(expire_at as i64)]);
    }
}

/// Appends `DEL key` and, when the key now exists, its state: a key written back by a
/// cross-shard command.
pub fn replace_key(buf: &mut Vec<u8>, key: &[u8], e: Option<&Entry>) {
    encode(buf, &[&b"DEL"[..], key]);
    if let Some(e) = e {
        key_state(buf, key, &e.value, e.expire_at);
    }
}

fn chunked<'a>(buf: &mut Vec<u8>, cmd: &[u8], key: &[u8], items: impl Iterator<Item = Vec<&'a [u8]>>) {
    let mut args: Vec<&[u8]> = vec![cmd, key];
    let mut n = 0;
    for it in items {
        args.extend(it);
        n += 1;
        if n == ITEMS_PER_CMD {
            encode(buf, &args);
            args.truncate(2);
            n = 0;
        }
    }
    if n > 0 {
        encode(buf, &args);
    }
}

pub fn int(n: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    write_i64(&mut v, n);
    v
}
