//! Streams in RDB: the listpack-of-entries nodes and consumer groups of types 15
//! (Redis 5-6), 19 (Redis 7.0, written) and 21 (Redis 7.2, read).
//!
//! Layout of type 19, after the type byte:
//!
//! ```text
//! nodes:len  (master-id:string(16 bytes BE)  listpack:string){nodes}
//! length:len  last-id(ms:len seq:len)  first-id(ms seq)  max-deleted(ms seq)
//! entries-added:len  groups:len
//!   (name:string  last-id(ms seq)  entries-read:len
//!    pel:len (id:16 raw bytes BE  delivery-time:8 bytes LE  count:len){pel}
//!    consumers:len (name:string  seen-time:8 LE  [active-time:8 LE, type 21]
//!                   pel:len (id:16 raw){pel}){consumers}){groups}
//! ```
//!
//! A node's listpack starts with the master entry `count deleted nfields f1..fN 0`,
//! then per entry `flags ms-diff seq-diff [nfields f1 v1 .. | v1 ..] lp-count`, the
//! short form (flag SAMEFIELDS) when the entry has the master's fields. We write one
//! listpack per node of ours (so the layout survives a save and a load) with the
//! first entry's fields as master
//! and no deleted entries, which is what Redis itself produces for an append-only
//! stream.

use super::compact::{self, Item, ListpackWriter};
use super::encode::{put_len, put_string};
use super::input::Input;
use super::{Error, kind};
use crate::storage::Value;
use crate::storage::stream::{StreamId, StreamValue};
use crate::storage::stream_group::{Consumer, Group, Pending};
use std::io::BufRead;

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;

/// Appends a stream value as type 19; returns the type byte.
pub fn put_stream(buf: &mut Vec<u8>, s: &StreamValue) -> u8 {
    let chunks: Vec<_> = s.nodes_live().collect();
    put_len(buf, chunks.len() as u64);
    for chunk in &chunks {
        let master = chunk[0].id;
        let master_fields: Vec<&[u8]> = chunk[0].fields.iter().map(|(f, _)| *f).collect();
        let mut lp = ListpackWriter::new();
        lp.push_int(chunk.len() as i64);
        lp.push_int(0);
        lp.push_int(master_fields.len() as i64);
        for f in &master_fields {
            lp.push(f);
        }
        lp.push_int(0);
        for e in chunk.iter() {
            let same =
                e.fields.len() == master_fields.len() && e.fields.iter().zip(&master_fields).all(|(a, b)| a.0 == *b);
            lp.push_int(if same { FLAG_SAMEFIELDS } else { 0 });
            lp.push_int(e.id.ms.wrapping_sub(master.ms) as i64);
            lp.push_int(e.id.seq.wrapping_sub(master.seq) as i64);
            if same {
                for (_, v) in &e.fields {
                    lp.push(v);
                }
                lp.push_int(e.fields.len() as i64 + 3);
            } else {
                lp.push_int(e.fields.len() as i64);
                for (f, v) in &e.fields {
                    lp.push(f);
                    lp.push(v);
                }
                lp.push_int(2 * e.fields.len() as i64 + 4);
            }
        }
        put_string(buf, &master.to_be_bytes(), false);
        put_string(buf, &lp.finish(), false);
    }
    put_len(buf, s.len());
    put_id(buf, s.last_id);
    put_id(buf, s.first_id());
    put_id(buf, s.max_deleted_id);
    put_len(buf, s.entries_added);
    put_len(buf, s.groups.len() as u64);
    for (name, g) in &s.groups {
        put_string(buf, name, false);
        put_id(buf, g.last_id);
        put_len(buf, g.entries_read.unwrap_or(u64::MAX));
        put_len(buf, g.pel.len() as u64);
        for (id, p) in &g.pel {
            buf.extend_from_slice(&id.to_be_bytes());
            buf.extend_from_slice(&p.delivery_time.to_le_bytes());
            put_len(buf, p.delivery_count);
        }
        put_len(buf, g.consumers.len() as u64);
        for (name, c) in &g.consumers {
            put_string(buf, name, false);
            buf.extend_from_slice(&c.seen_time.to_le_bytes());
            put_len(buf, c.pel.len() as u64);
            for id in &c.pel {
                buf.extend_from_slice(&id.to_be_bytes());
            }
        }
    }
    kind::STREAM_LISTPACKS_2
}

fn put_id(buf: &mut Vec<u8>, id: StreamId) {
    put_len(buf, id.ms);
    put_len(buf, id.seq);
}

fn read_id<R: BufRead>(inp: &mut Input<R>) -> Result<StreamId, Error> {
    Ok(StreamId::new(inp.len()?, inp.len()?))
}

fn raw_id<R: BufRead>(inp: &mut Input<R>) -> Result<StreamId, Error> {
    let b: [u8; 16] = inp.array()?;
    Ok(StreamId::from_be_bytes(&b).expect("16 bytes"))
}

fn int_of(it: Option<&Item>, inp_at: u64, inp: &Input<impl BufRead>) -> Result<i64, Error> {
    match it {
        Some(Item::Int(v)) => Ok(*v),
        Some(Item::Str(s)) => {
            crate::util::num::parse_i64(s).ok_or_else(|| inp.corrupt(inp_at, "stream listpack: integer expected"))
        }
        None => Err(inp.corrupt(inp_at, "stream listpack ends early")),
    }
}

/// Reads a stream value of type `t` (15, 19 or 21).
pub fn read_stream<R: BufRead>(inp: &mut Input<R>, t: u8, at: u64) -> Result<Value, Error> {
    let mut s = StreamValue::new();
    let nodes = inp.count()?;
    let mut prev: Option<StreamId> = None;
    for _ in 0..nodes {
        let key_at = inp.off;
        let key = inp.string()?;
        let master =
            StreamId::from_be_bytes(&key).ok_or_else(|| inp.corrupt(key_at, "stream node key is not 16 bytes"))?;
        let lp_at = inp.off;
        let lp = inp.string()?;
        let items =
            compact::listpack_items(&lp).map_err(|e| inp.corrupt(lp_at, format!("stream listpack: {}", e.msg)))?;
        if items.is_empty() {
            return Err(inp.corrupt(lp_at, "empty listpack inside stream"));
        }
        let mut it = items.iter();
        let _count = int_of(it.next(), lp_at, inp)?;
        let _deleted = int_of(it.next(), lp_at, inp)?;
        let nmaster = int_of(it.next(), lp_at, inp)?;
        if !(0..=1 << 20).contains(&nmaster) {
            return Err(inp.corrupt(lp_at, "stream master field count"));
        }
        let mut master_fields = Vec::with_capacity(nmaster as usize);
        for _ in 0..nmaster {
            master_fields.push(it.next().ok_or_else(|| inp.corrupt(lp_at, "stream listpack ends early"))?.to_vec());
        }
        int_of(it.next(), lp_at, inp)?; // master terminator
        let mut first_in_node = true;
        while let Some(flags) = it.next() {
            let flags = int_of(Some(flags), lp_at, inp)?;
            let ms = master.ms.wrapping_add(int_of(it.next(), lp_at, inp)? as u64);
            let seq = master.seq.wrapping_add(int_of(it.next(), lp_at, inp)? as u64);
            let id = StreamId::new(ms, seq);
            let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            if flags & FLAG_SAMEFIELDS != 0 {
                for f in &master_fields {
                    let v = it.next().ok_or_else(|| inp.corrupt(lp_at, "stream listpack ends early"))?;
                    pairs.push((f.clone(), v.to_vec()));
                }
            } else {
                let n = int_of(it.next(), lp_at, inp)?;
                if !(0..=1 << 20).contains(&n) {
                    return Err(inp.corrupt(lp_at, "stream entry field count"));
                }
                for _ in 0..n {
                    let f = it.next().ok_or_else(|| inp.corrupt(lp_at, "stream listpack ends early"))?;
                    let v = it.next().ok_or_else(|| inp.corrupt(lp_at, "stream listpack ends early"))?;
                    pairs.push((f.to_vec(), v.to_vec()));
                }
            }
            int_of(it.next(), lp_at, inp)?; // lp-count
            if flags & FLAG_DELETED != 0 {
                continue;
            }
            if prev.is_some_and(|p| p >= id) {
                return Err(inp.corrupt(lp_at, "stream entry IDs out of order"));
            }
            prev = Some(id);
            let refs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(f, v)| (f.as_slice(), v.as_slice())).collect();
            s.push_loaded(id, &refs, first_in_node);
            first_in_node = false;
        }
    }
    let length = inp.len()?;
    if length != s.len() {
        return Err(inp.corrupt(at, "stream length does not match its entries"));
    }
    s.last_id = read_id(inp)?;
    if t >= kind::STREAM_LISTPACKS_2 {
        let _first = read_id(inp)?;
        s.max_deleted_id = read_id(inp)?;
        s.entries_added = inp.len()?;
    } else {
        s.entries_added = s.len();
    }
    let ngroups = inp.count()?;
    for _ in 0..ngroups {
        let name = inp.string()?;
        let last_id = read_id(inp)?;
        let entries_read = if t >= kind::STREAM_LISTPACKS_2 {
            let v = inp.len()?;
            (v != u64::MAX).then_some(v)
        } else {
            s.estimate_distance(last_id)
        };
        let mut g = Group::new(last_id, entries_read);
        let npel = inp.count()?;
        for _ in 0..npel {
            let id = raw_id(inp)?;
            let time = u64::from_le_bytes(inp.array()?);
            let count = inp.len()?;
            g.pel.insert(id, Pending { consumer: Vec::new(), delivery_time: time, delivery_count: count });
        }
        let ncons = inp.count()?;
        for _ in 0..ncons {
            let cname = inp.string()?;
            let seen = u64::from_le_bytes(inp.array()?);
            if t >= kind::STREAM_LISTPACKS_3 {
                let _active: [u8; 8] = inp.array()?;
            }
            let mut c = Consumer { seen_time: seen, ..Default::default() };
            let n = inp.count()?;
            for _ in 0..n {
                let id_at = inp.off;
                let id = raw_id(inp)?;
                let p =
                    g.pel.get_mut(&id).ok_or_else(|| inp.corrupt(id_at, "consumer PEL entry not in the group PEL"))?;
                p.consumer = cname.clone();
                c.pel.insert(id);
            }
            g.consumers.insert(cname, c);
        }
        if g.pel.values().any(|p| p.consumer.is_empty()) {
            return Err(inp.corrupt(at, "group PEL entry without a consumer"));
        }
        if s.groups.insert(name, g).is_some() {
            return Err(inp.corrupt(at, "duplicate stream consumer group"));
        }
    }
    Ok(Value::Stream(Box::new(s)))
}
