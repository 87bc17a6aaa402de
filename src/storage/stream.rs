//! Streams: append-only logs of field/value entries keyed by a 128-bit ID, with
//! consumer groups (`stream_group`).
//!
//! Job: store a Redis stream compactly and give the stream commands what they need:
//! append with a growing ID, range reads both ways, delete by ID, trim by length or
//! minimum ID, and the bookkeeping Redis 7.0 keeps for lag tracking (`entries_added`,
//! `max_deleted_id`, the first and last IDs).
//!
//! Layout: like Redis's rax of listpacks, entries live in *nodes* of up to
//! `stream-node-max-entries` entries / `stream-node-max-bytes` bytes ([`NodeLimits`],
//! the caller's; [`NODE_MAX_ENTRIES`] and [`NODE_MAX_BYTES`] are Redis's defaults).
//! The bytes are counted as Redis's listpack would take them (`listpack_size`), so
//! nodes split where Redis's do. A node is one contiguous byte buffer of
//! packed entries; the nodes sit in a `BTreeMap` keyed by the ID of the node's first
//! entry. A B-tree rather than a radix tree: IDs are fixed-width integers compared as
//! a pair, so an ordered map over `(ms, seq)` gives the same O(log n) seek for XRANGE
//! with std code, and the per-entry overhead is what matters for memory, which the
//! packed nodes keep at a few bytes. Appends only ever touch the last node. An entry is
//!
//! ```text
//! [flags][ms - node ms: varint][seq: varint][pairs: varint]([len varint][bytes]){2*pairs}
//! ```
//!
//! `flags` bit 0 marks an entry deleted (XDEL and exact trims mark, as Redis does, and
//! a node whose entries are all deleted is dropped).
//!
//! Non-goals: RESP, command syntax, keys and expiry (see `cmd::stream`).
//!
//! Depends on: std.

use super::stream_group::Group;
use std::collections::BTreeMap;
use std::fmt;

/// Entries per node before a new one starts (Redis's `stream-node-max-entries`).
pub const NODE_MAX_ENTRIES: usize = 100;
/// Bytes per node before a new one starts (Redis's `stream-node-max-bytes`).
pub const NODE_MAX_BYTES: usize = 4096;

/// Redis caps a node's bytes at 1 GiB whatever `stream-node-max-bytes` says.
const NODE_BYTES_CAP: usize = 1 << 30;

/// When an append starts a new node: `stream-node-max-entries` (0 = no limit on
/// entries) and `stream-node-max-bytes` (0 = the 1 GiB cap), read by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    max_entries: usize,
    max_bytes: usize,
}

impl NodeLimits {
    pub fn new(max_entries: u64, max_bytes: u64) -> NodeLimits {
        let max_bytes = if max_bytes == 0 { NODE_BYTES_CAP } else { (max_bytes as usize).min(NODE_BYTES_CAP) };
        let max_entries = if max_entries == 0 { usize::MAX } else { max_entries.min(usize::MAX as u64) as usize };
        NodeLimits { max_entries, max_bytes }
    }

    /// The default trim LIMIT of an approximate (`~`) trim: 100 nodes' worth of
    /// entries, as Redis.
    pub fn approx_trim_limit(&self) -> u64 {
        if self.max_entries == usize::MAX { 0 } else { (self.max_entries as u64).saturating_mul(100) }
    }
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits { max_entries: NODE_MAX_ENTRIES, max_bytes: NODE_MAX_BYTES }
    }
}

/// A stream entry ID: milliseconds and a sequence number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next ID, or None past the maximum.
    pub fn incr(&self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX { None } else { Some(StreamId::new(self.ms + 1, 0)) }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or None before zero.
    pub fn decr(&self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 { None } else { Some(StreamId::new(self.ms - 1, u64::MAX)) }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// `ms-seq`, as replies show it.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("{}-{}", self.ms, self.seq).into_bytes()
    }

    /// Parses `ms-seq` or `ms` (then the sequence is `missing_seq`). Strict: digits
    /// only, no sign, no overflow.
    pub fn parse(b: &[u8], missing_seq: u64) -> Option<StreamId> {
        let (ms, seq) = match b.iter().position(|&c| c == b'-') {
            Some(p) => (&b[..p], Some(&b[p + 1..])),
            None => (b, None),
        };
        let ms = parse_u64(ms)?;
        let seq = match seq {
            Some(s) => parse_u64(s)?,
            None => missing_seq,
        };
        Some(StreamId::new(ms, seq))
    }

    /// The 16-byte big-endian form Redis uses as rax keys (RDB node keys, PEL).
    pub fn to_be_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_be_bytes(b: &[u8]) -> Option<StreamId> {
        if b.len() != 16 {
            return None;
        }
        let ms = u64::from_be_bytes(b[..8].try_into().ok()?);
        let seq = u64::from_be_bytes(b[8..].try_into().ok()?);
        Some(StreamId::new(ms, seq))
    }
}

/// Redis's `string2ull`: decimal digits, leading zeros and a leading `+` allowed (it
/// falls back to `strtoull`), no overflow.
fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.len() > 127 {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One entry as read: its ID and field/value pairs borrowed from the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub id: StreamId,
    pub fields: Vec<(&'a [u8], &'a [u8])>,
}

const DELETED: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], p: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let c = b[*p];
        *p += 1;
        v |= ((c & 0x7f) as u64) << shift;
        if c & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

/// A node of packed entries (see the module doc).
#[derive(Clone, Debug, PartialEq, Default)]
struct Node {
    buf: Vec<u8>,
    /// Entries in `buf`, deleted ones included.
    total: u32,
    /// Entries not deleted.
    live: u32,
    /// The bytes Redis's listpack would take for this node (`listpack_size`), which
    /// is what `stream-node-max-bytes` is compared with.
    lp_bytes: u32,
}

/// A decoded entry position inside a node.
struct Slot<'a> {
    deleted: bool,
    id: StreamId,
    fields: Vec<(&'a [u8], &'a [u8])>,
}

impl Node {
    /// Does an entry with `fields` have the node's first entry's field names (Redis's
    /// master entry), so that Redis would store only its values?
    fn same_fields_as_first(&self, fields: &[(&[u8], &[u8])]) -> bool {
        let b = &self.buf;
        if b.is_empty() {
            return true;
        }
        let mut p = 1;
        get_varint(b, &mut p);
        get_varint(b, &mut p);
        if get_varint(b, &mut p) as usize != fields.len() {
            return false;
        }
        for (f, _) in fields {
            let l = get_varint(b, &mut p) as usize;
            if &b[p..p + l] != *f {
                return false;
            }
            p += l;
            let l = get_varint(b, &mut p) as usize;
            p += l;
        }
        true
    }

    fn push(&mut self, base_ms: u64, id: StreamId, fields: &[(&[u8], &[u8])]) {
        self.buf.push(0);
        put_varint(&mut self.buf, id.ms - base_ms);
        put_varint(&mut self.buf, id.seq);
        put_varint(&mut self.buf, fields.len() as u64);
        for (f, v) in fields {
            put_varint(&mut self.buf, f.len() as u64);
            self.buf.extend_from_slice(f);
            put_varint(&mut self.buf, v.len() as u64);
            self.buf.extend_from_slice(v);
        }
        self.total += 1;
        self.live += 1;
    }

    /// The header of the entry at `*p` (its offset, deleted flag and ID), leaving `*p`
    /// at its pair count; None at the end. Lets scans skip entries without decoding
    /// their fields.
    #[inline]
    fn header(&self, base_ms: u64, p: &mut usize) -> Option<(usize, bool, StreamId)> {
        let b = &self.buf;
        if *p >= b.len() {
            return None;
        }
        let at = *p;
        let deleted = b[at] & DELETED != 0;
        *p += 1;
        let ms = base_ms + get_varint(b, p);
        let seq = get_varint(b, p);
        Some((at, deleted, StreamId::new(ms, seq)))
    }

    /// Skips the fields of the entry whose pair count is at `*p`.
    #[inline]
    fn skip_fields(&self, p: &mut usize) {
        let b = &self.buf;
        let n = get_varint(b, p);
        for _ in 0..2 * n {
            let l = get_varint(b, p) as usize;
            *p += l;
        }
    }

    /// Reads the fields of the entry whose pair count is at `*p`.
    #[inline]
    fn read_fields(&self, p: &mut usize) -> Vec<(&[u8], &[u8])> {
        let b = &self.buf;
        let n = get_varint(b, p) as usize;
        let mut fields = Vec::with_capacity(n);
        for _ in 0..n {
            let l = get_varint(b, p) as usize;
            let f = &b[*p..*p + l];
            *p += l;
            let l = get_varint(b, p) as usize;
            let v = &b[*p..*p + l];
            *p += l;
            fields.push((f, v));
        }
        fields
    }

    /// (offset, deleted, id) of every entry, without decoding fields.
    fn ids(&self, base_ms: u64) -> Vec<(usize, bool, StreamId)> {
        let mut out = Vec::with_capacity(self.total as usize);
        let mut p = 0;
        while let Some(h) = self.header(base_ms, &mut p) {
            self.skip_fields(&mut p);
            out.push(h);
        }
        out
    }

    /// Every entry, deleted ones included, in ID order.
    fn slots(&self, base_ms: u64) -> Vec<Slot<'_>> {
        let b = &self.buf;
        let mut out = Vec::with_capacity(self.total as usize);
        let mut p = 0;
        while p < b.len() {
            let deleted = b[p] & DELETED != 0;
            p += 1;
            let ms = base_ms + get_varint(b, &mut p);
            let seq = get_varint(b, &mut p);
            let n = get_varint(b, &mut p) as usize;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                let l = get_varint(b, &mut p) as usize;
                let f = &b[p..p + l];
                p += l;
                let l = get_varint(b, &mut p) as usize;
                let v = &b[p..p + l];
                p += l;
                fields.push((f, v));
            }
            out.push(Slot { deleted, id: StreamId::new(ms, seq), fields });
        }
        out
    }
}

/// A stream value.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct StreamValue {
    nodes: BTreeMap<StreamId, Node>,
    /// Live entries.
    length: u64,
    /// The greatest ID ever added (or set by XSETID).
    pub last_id: StreamId,
    /// The greatest ID ever deleted (XDEL, trims), for lag tracking.
    pub max_deleted_id: StreamId,
    /// Entries ever added (or set by XSETID).
    pub entries_added: u64,
    /// Consumer groups by name, in name order (as Redis's rax lists them).
    pub groups: BTreeMap<Vec<u8>, Group>,
}

/// A stream's counters, for lag tracking (Redis 7.0).
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
}

impl Meta {
    /// Redis's `streamEstimateDistanceFromFirstEverEntry`: the logical read counter of
    /// `id`, or None when it cannot be known.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.length);
            } else if id == self.first_id {
                return Some(self.entries_added - self.length + 1);
            }
        }
        None
    }

    /// Redis's `streamRangeHasTombstones` from `start` to the end.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        // Empty, never deleted from, or the latest deletion lies before the first entry.
        if self.length == 0 || self.max_deleted_id.is_zero() || self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// Redis's `streamReplyWithCGLag`: None when it cannot be known. Negative when
    /// XGROUP SETID / CREATE set ENTRIESREAD past the entries added, as in Redis
    /// (it subtracts as `long long`).
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let lag = |read: u64| (self.entries_added as i64).wrapping_sub(read as i64);
        if let Some(read) = g.entries_read
            && !self.has_tombstones_from(g.last_id)
        {
            return Some(lag(read));
        }
        self.estimate_distance(g.last_id).map(lag)
    }
}

/// How XADD/XTRIM trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

impl StreamValue {
    pub fn new() -> StreamValue {
        StreamValue::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Number of nodes (XINFO STREAM FULL's `radix-tree-nodes`-like figures).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The first live entry's ID (zero when empty, as Redis reports it).
    pub fn first_id(&self) -> StreamId {
        self.first_entry().map(|e| e.id).unwrap_or(StreamId::ZERO)
    }

    pub fn first_entry(&self) -> Option<EntryRef<'_>> {
        self.range(StreamId::ZERO, StreamId::MAX, Some(1)).into_iter().next()
    }

    /// The last live entry's ID, without decoding any fields.
    pub fn last_live_id(&self) -> Option<StreamId> {
        let (base, node) = self.nodes.last_key_value()?;
        node.ids(base.ms).into_iter().filter(|(_, d, _)| !d).map(|(_, _, id)| id).next_back()
    }

    pub fn last_entry(&self) -> Option<EntryRef<'_>> {
        self.rev_range(StreamId::ZERO, StreamId::MAX, Some(1)).into_iter().next()
    }

    /// Appends an entry with `id`, which must be greater than `last_id`.
    pub fn append(&mut self, id: StreamId, fields: &[(&[u8], &[u8])]) {
        self.append_in(id, fields, false, NodeLimits::default());
    }

    /// [`append`](Self::append) with the node limits the server is configured with.
    pub fn append_limited(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], limits: NodeLimits) {
        self.append_in(id, fields, false, limits);
    }

    fn append_in(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], force_new_node: bool, limits: NodeLimits) {
        debug_assert!(id > self.last_id || (self.entries_added == 0 && id > StreamId::ZERO) || self.last_id.is_zero());
        // As Redis: a new node once the last one holds the maximum entries, or would
        // pass the byte budget with this entry.
        let size: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
        let start_new = force_new_node
            || match self.nodes.last_key_value() {
                None => true,
                Some((_, n)) => {
                    n.total as usize >= limits.max_entries || n.lp_bytes as usize + size >= limits.max_bytes
                }
            };
        if start_new {
            self.nodes.insert(id, Node::default());
        }
        let (base, node) = self.nodes.iter_mut().next_back().expect("a node");
        node.lp_bytes = node.lp_bytes.saturating_add(listpack_size::entry(node, *base, id, fields) as u32);
        node.push(base.ms, id, fields);
        self.length += 1;
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Live entries with `start <= id <= end`, in order, at most `count`.
    pub fn range(&self, start: StreamId, end: StreamId, count: Option<usize>) -> Vec<EntryRef<'_>> {
        let mut out = Vec::new();
        if start > end || count == Some(0) {
            return out;
        }
        let first_node = self.nodes.range(..=start).next_back().map(|(k, _)| *k).unwrap_or(StreamId::ZERO);
        for (base, node) in self.nodes.range(first_node..) {
            if *base > end {
                break;
            }
            let mut p = 0;
            while let Some((_, deleted, id)) = node.header(base.ms, &mut p) {
                if deleted || id < start {
                    node.skip_fields(&mut p);
                    continue;
                }
                if id > end {
                    return out;
                }
                out.push(EntryRef { id, fields: node.read_fields(&mut p) });
                if count.is_some_and(|c| out.len() >= c) {
                    return out;
                }
            }
        }
        out
    }

    /// Live entries with `start <= id <= end`, newest first, at most `count`.
    pub fn rev_range(&self, start: StreamId, end: StreamId, count: Option<usize>) -> Vec<EntryRef<'_>> {
        let mut out = Vec::new();
        if start > end || count == Some(0) {
            return out;
        }
        for (base, node) in self.nodes.range(..=end).rev() {
            for s in node.slots(base.ms).into_iter().rev() {
                if s.deleted || s.id > end {
                    continue;
                }
                if s.id < start {
                    return out;
                }
                out.push(EntryRef { id: s.id, fields: s.fields });
                if count.is_some_and(|c| out.len() >= c) {
                    return out;
                }
            }
        }
        out
    }

    /// The live entry with exactly `id`.
    pub fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        self.range(id, id, Some(1)).into_iter().next()
    }

    /// Deletes the entry `id`; true if it was there.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&base, node)) = self.nodes.range_mut(..=id).next_back() else { return false };
        let Some(at) = node.ids(base.ms).into_iter().find(|(_, d, i)| *i == id && !d).map(|(at, _, _)| at) else {
            return false;
        };
        node.buf[at] |= DELETED;
        node.lp_bytes = (node.lp_bytes as isize + listpack_size::after_delete(node)) as u32;
        node.live -= 1;
        if node.live == 0 {
            self.nodes.remove(&base);
        }
        self.length -= 1;
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        true
    }

    /// Trims from the oldest end (which, as in Redis, leaves `max_deleted_id` alone:
    /// trimming moves the first ID, it makes no tombstones). With `approx`, only whole nodes go (as Redis's `~`),
    /// and `limit` caps the entries removed (0 = no cap). Returns entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut removed = 0u64;
        loop {
            match how {
                Trim::MaxLen(n) if self.length <= n => break,
                Trim::MinId(min) if self.nodes.first_key_value().is_none_or(|(b, _)| *b >= min) => break,
                _ => {}
            }
            let Some((&base, node)) = self.nodes.first_key_value() else { break };
            let live = node.live as u64;
            // Can the whole node go?
            let whole = match how {
                Trim::MaxLen(n) => self.length - live >= n,
                Trim::MinId(min) => node.ids(base.ms).last().map_or(base, |(_, _, id)| *id) < min,
            };
            if whole {
                if limit != 0 && removed + live > limit {
                    break;
                }
                self.nodes.remove(&base);
                self.length -= live;
                removed += live;
                continue;
            }
            if approx {
                break;
            }
            // Mark entries of the first node one by one.
            let slots: Vec<(usize, StreamId)> =
                node.ids(base.ms).into_iter().filter(|(_, d, _)| !d).map(|(at, _, id)| (at, id)).collect();
            let mut marks = Vec::new();
            let mut len = self.length;
            for (at, id) in slots {
                let go = match how {
                    Trim::MaxLen(n) => len > n,
                    Trim::MinId(min) => id < min,
                };
                if !go {
                    break;
                }
                marks.push((at, id));
                len -= 1;
            }
            let node = self.nodes.get_mut(&base).expect("present");
            for (at, _) in &marks {
                node.buf[*at] |= DELETED;
                node.lp_bytes = (node.lp_bytes as isize + listpack_size::after_delete(node)) as u32;
                node.live -= 1;
            }
            // A node whose entries are all marked stays, as in Redis's streamTrim: only
            // a whole-node removal drops it (XINFO's radix-tree-keys counts it, and the
            // next XADD may still append to it).
            self.length -= marks.len() as u64;
            removed += marks.len() as u64;
            break;
        }
        removed
    }

    /// Approximate heap bytes, for MEMORY USAGE.
    pub fn heap_bytes(&self) -> usize {
        let nodes: usize = self.nodes.values().map(|n| n.buf.capacity() + 64).sum();
        nodes + self.groups.values().map(|g| g.heap_bytes()).sum::<usize>()
    }

    /// Every live entry, for persistence (RDB, AOF rewrite, DEBUG DIGEST).
    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        self.nodes.iter().flat_map(|(base, n)| {
            n.slots(base.ms).into_iter().filter(|s| !s.deleted).map(|s| EntryRef { id: s.id, fields: s.fields })
        })
    }

    /// The counters lag tracking needs, copied out so a group can be updated while
    /// they are consulted.
    pub fn meta(&self) -> Meta {
        Meta {
            length: self.length,
            last_id: self.last_id,
            first_id: self.first_id(),
            max_deleted_id: self.max_deleted_id,
            entries_added: self.entries_added,
        }
    }

    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        self.meta().estimate_distance(id)
    }

    /// A group's lag (XINFO), None when it cannot be known.
    pub fn group_lag(&self, g: &Group) -> Option<i64> {
        self.meta().group_lag(g)
    }

    /// Live entries node by node: an RDB writes one listpack per node, so a stream
    /// keeps its node layout through a save and a load (here and in Redis).
    pub fn nodes_live(&self) -> impl Iterator<Item = Vec<EntryRef<'_>>> + '_ {
        self.nodes
            .iter()
            .map(|(base, n)| {
                n.slots(base.ms)
                    .into_iter()
                    .filter(|s| !s.deleted)
                    .map(|s| EntryRef { id: s.id, fields: s.fields })
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
    }

    /// Rebuilds the nodes from entries (RDB load; `new_node` at each node the file
    /// had); metadata is set by the caller.
    pub fn push_loaded(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], new_node: bool) {
        let (last, added) = (self.last_id, self.entries_added);
        // The file's node boundaries, not the configured limits, decide the layout.
        self.append_in(id, fields, new_node, NodeLimits::new(0, 0));
        self.last_id = last.max(id);
        self.entries_added = added;
    }
}

/// The sizes of Redis's stream listpacks, so that `stream-node-max-bytes` splits
/// nodes where Redis does. A node's listpack holds a 6-byte header and an end byte, a
/// master entry (live count, deleted count, the first entry's field names, a 0), and
/// per entry: flags, the ID's difference from the node's first ID (ms and seq), the
/// field names unless they are the master's, the values, and an element count.
mod listpack_size {
    use super::{Node, StreamId};

    /// An integer element: its encoding plus the trailing length byte(s).
    fn int(v: i64) -> usize {
        with_backlen(match v {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8_388_608..=8_388_607 => 4,
            -2_147_483_648..=2_147_483_647 => 5,
            _ => 9,
        })
    }

    /// A string element; one that reads as a canonical integer is stored as one.
    fn string(s: &[u8]) -> usize {
        if let Some(v) = as_int(s) {
            return int(v);
        }
        with_backlen(match s.len() {
            0..=63 => 1 + s.len(),
            64..=4095 => 2 + s.len(),
            _ => 5 + s.len(),
        })
    }

    fn with_backlen(encoded: usize) -> usize {
        encoded
            + match encoded {
                0..=127 => 1,
                128..=16382 => 2,
                16383..=2_097_150 => 3,
                2_097_151..=268_435_454 => 4,
                _ => 5,
            }
    }

    /// Digits with an optional minus, no leading zeros or plus, within i64.
    fn as_int(s: &[u8]) -> Option<i64> {
        if s.is_empty() || s.len() > 20 {
            return None;
        }
        if s == b"0" {
            return Some(0);
        }
        let digits = s.strip_prefix(b"-").unwrap_or(s);
        if digits.first().is_none_or(|d| !(b'1'..=b'9').contains(d)) || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    }

    /// What appending entry `id` to `node` (first ID `base`) adds to its listpack.
    pub fn entry(node: &Node, base: StreamId, id: StreamId, fields: &[(&[u8], &[u8])]) -> isize {
        let n = fields.len() as i64;
        let mut bytes = 0usize;
        let same = node.total == 0 || node.same_fields_as_first(fields);
        if node.total == 0 {
            bytes += 7 + int(1) + int(0) + int(n) + fields.iter().map(|(f, _)| string(f)).sum::<usize>() + int(0);
        }
        let mut grown = bytes as isize;
        if node.total > 0 {
            // The master entry's live count grows by one.
            grown += int(node.live as i64 + 1) as isize - int(node.live as i64) as isize;
        }
        let mut entry = int(if same { 2 } else { 0 })
            + int(id.ms.wrapping_sub(base.ms) as i64)
            + int(id.seq.wrapping_sub(base.seq) as i64);
        if !same {
            entry += int(n) + fields.iter().map(|(f, _)| string(f)).sum::<usize>();
        }
        entry += fields.iter().map(|(_, v)| string(v)).sum::<usize>();
        entry += int(if same { n + 3 } else { 2 * n + 4 });
        grown + entry as isize
    }

    /// What deleting one live entry changes: the master's live and deleted counts.
    pub fn after_delete(node: &Node) -> isize {
        let (live, deleted) = (node.live as i64, (node.total - node.live) as i64);
        (int(live - 1) + int(deleted + 1)) as isize - (int(live) + int(deleted)) as isize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn filled(n: u64) -> StreamValue {
        let mut s = StreamValue::new();
        for i in 1..=n {
            s.append(id(i, 0), &[(b"f", format!("{i}").as_bytes())]);
        }
        s
    }

    #[test]
    fn ids_parse_and_order() {
        assert_eq!(StreamId::parse(b"5-3", 0), Some(id(5, 3)));
        assert_eq!(StreamId::parse(b"5", 7), Some(id(5, 7)));
        assert_eq!(StreamId::parse(b"-5", 0), None);
        assert_eq!(StreamId::parse(b"5-", 0), None);
        assert_eq!(StreamId::parse(b"18446744073709551616", 0), None);
        assert_eq!(StreamId::parse(b"007-1", 0), Some(id(7, 1)));
        assert!(id(1, 5) < id(2, 0));
        assert_eq!(id(1, u64::MAX).incr(), Some(id(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::from_be_bytes(&id(7, 9).to_be_bytes()), Some(id(7, 9)));
    }

    #[test]
    fn ranges_across_nodes_both_ways() {
        let s = filled(350);
        assert_eq!(s.node_count(), 4);
        let r = s.range(id(99, 0), id(102, 0), None);
        assert_eq!(r.iter().map(|e| e.id.ms).collect::<Vec<_>>(), vec![99, 100, 101, 102]);
        assert_eq!(r[0].fields, vec![(&b"f"[..], &b"99"[..])]);
        let r = s.rev_range(id(99, 0), id(102, 0), Some(3));
        assert_eq!(r.iter().map(|e| e.id.ms).collect::<Vec<_>>(), vec![102, 101, 100]);
        assert_eq!(s.iter().count(), 350);
    }

    #[test]
    fn delete_marks_and_drops_empty_nodes() {
        let mut s = filled(150);
        assert!(s.delete(id(5, 0)));
        assert!(!s.delete(id(5, 0)));
        assert_eq!(s.len(), 149);
        assert_eq!(s.max_deleted_id, id(5, 0));
        for i in 101..=150 {
            s.delete(id(i, 0));
        }
        assert_eq!(s.node_count(), 1);
        assert_eq!(s.last_id, id(150, 0));
        assert!(s.get(id(5, 0)).is_none());
        assert!(s.get(id(6, 0)).is_some());
    }

    #[test]
    fn trims_exact_and_approximate() {
        let mut s = filled(250);
        assert_eq!(s.trim(Trim::MaxLen(180), true, 0), 0, "approx keeps a partly needed node");
        assert_eq!(s.trim(Trim::MaxLen(150), true, 0), 100);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.first_id(), id(131, 0));
        assert_eq!(s.trim(Trim::MinId(id(140, 0)), false, 0), 9);
        assert_eq!(s.first_id(), id(140, 0));
        let mut s = filled(250);
        assert_eq!(s.trim(Trim::MaxLen(0), true, 100), 100, "LIMIT caps whole nodes");
    }

    #[test]
    fn distance_estimates() {
        let mut s = filled(10);
        assert_eq!(s.estimate_distance(id(10, 0)), Some(10));
        assert_eq!(s.estimate_distance(id(1, 0)), Some(1));
        assert_eq!(s.estimate_distance(id(0, 5)), Some(0));
        assert_eq!(s.estimate_distance(id(11, 0)), None);
        s.delete(id(5, 0));
        assert_eq!(s.estimate_distance(id(3, 0)), None);
    }
}
