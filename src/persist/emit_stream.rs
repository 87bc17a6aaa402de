//! A stream's state as commands, as Redis's AOF rewrite writes it: one XADD per entry
//! (or `XADD key MAXLEN 0 <last-id> x y` for an empty stream, which leaves the key
//! empty), XSETID with the last ID and the lag counters, then per group XGROUP CREATE
//! with its read counter, and per consumer its pending entries as XCLAIM ... FORCE
//! JUSTID (a consumer with none as XGROUP CREATECONSUMER).

use super::emit::int;
use super::resp::encode;
use crate::storage::stream::StreamValue;

pub fn stream_state(buf: &mut Vec<u8>, key: &[u8], s: &StreamValue) {
    if s.is_empty() {
        let id = s.last_id.to_bytes();
        encode(buf, &[&b"XADD"[..], key, b"MAXLEN", b"0", &id, b"x", b"y"]);
    } else {
        for e in s.iter() {
            let id = e.id.to_bytes();
            let mut args: Vec<&[u8]> = Vec::with_capacity(3 + 2 * e.fields.len());
            args.extend_from_slice(&[b"XADD", key, &id]);
            for (f, v) in &e.fields {
                args.push(f);
                args.push(v);
            }
            encode(buf, &args);
        }
    }
    let (last, added, maxdel) = (s.last_id.to_bytes(), int(s.entries_added as i64), s.max_deleted_id.to_bytes());
    encode(buf, &[&b"XSETID"[..], key, &last, b"ENTRIESADDED", &added, b"MAXDELETEDID", &maxdel]);
    for (name, g) in &s.groups {
        let last = g.last_id.to_bytes();
        let read = int(g.entries_read.map(|v| v as i64).unwrap_or(-1));
        encode(buf, &[&b"XGROUP"[..], b"CREATE", key, name, &last, b"ENTRIESREAD", &read]);
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                encode(buf, &[&b"XGROUP"[..], b"CREATECONSUMER", key, name, cname]);
                continue;
            }
            for id in &c.pel {
                let p = &g.pel[id];
                let (id, time, count) = (id.to_bytes(), int(p.delivery_time as i64), int(p.delivery_count as i64));
                encode(
                    buf,
                    &[
                        &b"XCLAIM"[..],
                        key,
                        name,
                        cname,
                        b"0",
                        &id,
                        b"TIME",
                        &time,
                        b"RETRYCOUNT",
                        &count,
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}
