//! Writing RDB version 10, as Redis 7.0 writes and loads it.
//!
//! Encodings chosen: strings as integers when they are short canonical ones (like
//! Redis's `rdbTryIntegerEncoding`), LZF-compressed when longer than 20 bytes and the
//! result saves at least four; lists as QUICKLIST_2 of listpack nodes sized by the
//! list's own fill (`list-max-listpack-size` when it was made); hashes and sorted sets
//! that are listpacks in memory as listpacks, others as plain pairs; intset sets as
//! intsets, others as plain member lists: the type follows the value's encoding, as
//! Redis's `rdbSaveObjectType` does, so a 7.0 server writes the same types.

use super::compact::{ListpackWriter, intset_encode};
use super::{RDB_VERSION, crc64, kind, opcode};
use crate::storage::hash::HashValue;
use crate::storage::list::{Elem as ListElem, ListValue};
use crate::storage::set::{Member, SetValue};
use crate::storage::zset::ZSetValue;
use crate::storage::{Db, Value};
use crate::util::lzf;
use crate::util::num::parse_i64;
use std::io::{self, Write};

/// A snapshot's place in the replication stream: (replid, offset, the db the stream
/// has selected there). A replica restarted from the file continues the stream at that
/// offset in that db (Redis's `repl-stream-db`).
pub type ReplPosition = (String, u64, u16);

/// How to write a snapshot.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when it helps.
    pub compress: bool,
    /// `rdbchecksum`: write the CRC-64 trailer (else eight zero bytes).
    pub checksum: bool,
    /// Write listpack/intset forms for small values (else only plain types).
    pub compact: bool,
    /// Current unix time in ms: keys already expired are left out, and `ctime`.
    pub now_ms: u64,
    /// Write each key's idle time (IDLE opcode), as Redis does under an LRU policy.
    pub idle: bool,
    /// `rdb-key-save-delay`: microseconds to sleep after each key (tests keep a
    /// snapshot child busy with it, as Redis's own tests do). 0 in production.
    pub key_save_delay_us: u64,
    /// A snapshot taken with a replication position (see `ReplPosition`), written as
    /// the aux fields `repl-stream-db`, `repl-id`, `repl-offset` (as Redis 7 does).
    pub repl: Option<ReplPosition>,
    /// Function libraries' code (FUNCTION LOAD), written as function opcodes before
    /// the first database, as Redis 7.0 does.
    pub functions: Vec<Vec<u8>>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compress: true,
            checksum: true,
            compact: true,
            now_ms: 0,
            idle: false,
            key_save_delay_us: 0,
            repl: None,
            functions: Vec::new(),
        }
    }
}

/// What a snapshot held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub keys: u64,
    pub expires: u64,
    pub bytes: u64,
}

/// Counts bytes and checksums them on the way to the writer.
struct Out<W> {
    w: W,
    crc: u64,
    n: u64,
}

impl<W: Write> Out<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc = crc64::update(self.crc, b);
        self.n += b.len() as u64;
        self.w.write_all(b)
    }
}

/// Writes every shard's databases as one RDB file. `dbs_per_shard[s][i]` is database
/// `i` of shard `s`; a database's keys from all shards go under one SELECTDB.
pub fn write_snapshot<W: Write>(dbs_per_shard: &[&[Db]], w: W, opts: &WriteOptions) -> io::Result<WriteStats> {
    let mut out = Out { w: io::BufWriter::with_capacity(64 * 1024, w), crc: 0, n: 0 };
    out.put(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
    let ctime = (opts.now_ms / 1000).to_string();
    for (name, value) in
        [("redis-ver", "7.0.0"), ("redis-bits", "64"), ("ctime", &ctime), ("used-mem", "0"), ("aof-base", "0")]
    {
        let mut b = vec![opcode::AUX];
        put_string(&mut b, name.as_bytes(), false);
        put_string(&mut b, value.as_bytes(), false);
        out.put(&b)?;
    }
    if let Some((id, off, db)) = &opts.repl {
        for (name, value) in
            [("repl-stream-db", db.to_string()), ("repl-id", id.clone()), ("repl-offset", off.to_string())]
        {
            let mut b = vec![opcode::AUX];
            put_string(&mut b, name.as_bytes(), false);
            put_string(&mut b, value.as_bytes(), false);
            out.put(&b)?;
        }
    }
    if !opts.functions.is_empty() {
        let mut b = Vec::new();
        super::function::put_functions(&mut b, &opts.functions);
        out.put(&b)?;
    }
    let ndb = dbs_per_shard.iter().map(|d| d.len()).max().unwrap_or(0);
    let live = |expire_at: u64| !crate::storage::has_expired(expire_at, opts.now_ms);
    let mut stats = WriteStats::default();
    let mut buf = Vec::with_capacity(4096);
    for db in 0..ndb {
        let (mut keys, mut expires) = (0u64, 0u64);
        for shard in dbs_per_shard {
            for (_, _, expire_at) in shard.get(db).into_iter().flat_map(|d| d.iter_with_expire()).filter(|e| live(e.2))
            {
                keys += 1;
                expires += (expire_at != 0) as u64;
            }
        }
        if keys == 0 {
            continue;
        }
        buf.clear();
        buf.push(opcode::SELECTDB);
        put_len(&mut buf, db as u64);
        buf.push(opcode::RESIZEDB);
        put_len(&mut buf, keys);
        put_len(&mut buf, expires);
        out.put(&buf)?;
        for shard in dbs_per_shard {
            for (k, e, expire_at) in shard.get(db).into_iter().flat_map(|d| d.iter_with_expire()).filter(|e| live(e.2))
            {
                key_save_delay(opts.key_save_delay_us);
                buf.clear();
                if expire_at != 0 {
                    buf.push(opcode::EXPIRETIME_MS);
                    buf.extend_from_slice(&expire_at.to_le_bytes());
                }
                if opts.idle {
                    let now_secs = (opts.now_ms / 1000) as u32;
                    buf.push(opcode::IDLE);
                    put_len(&mut buf, now_secs.saturating_sub(e.access_secs) as u64);
                }
                let type_at = buf.len();
                buf.push(0);
                put_string(&mut buf, &k, opts.compress);
                buf[type_at] = put_value(&mut buf, &e.value, opts.compress, opts.compact);
                out.put(&buf)?;
                stats.keys += 1;
                stats.expires += (expire_at != 0) as u64;
            }
        }
    }
    out.put(&[opcode::EOF])?;
    let crc = if opts.checksum { out.crc } else { 0 };
    out.put(&crc.to_le_bytes())?;
    out.w.flush()?;
    stats.bytes = out.n;
    Ok(stats)
}

/// A value as DUMP serializes it: type byte then the value.
pub fn encode_value(v: &Value, compress: bool) -> Vec<u8> {
    let mut buf = vec![0];
    buf[0] = put_value(&mut buf, v, compress, true);
    buf
}

/// Lengths: 6 bits, 14 bits, or a marker byte and 32/64 bits, big endian.
pub fn put_len(buf: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        buf.push(n as u8);
    } else if n < 1 << 14 {
        buf.push(0x40 | (n >> 8) as u8);
        buf.push(n as u8);
    } else if n <= u32::MAX as u64 {
        buf.push(0x80);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        buf.push(0x81);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

/// A string: integer-encoded if it is a short canonical integer in 32 bits, else
/// LZF-compressed if allowed and worth it, else raw.
pub fn put_string(buf: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= 11
        && let Some(v) = parse_i64(s)
    {
        if let Ok(v) = i8::try_from(v) {
            buf.extend_from_slice(&[0xC0, v as u8]);
            return;
        } else if let Ok(v) = i16::try_from(v) {
            buf.push(0xC1);
            buf.extend_from_slice(&v.to_le_bytes());
            return;
        } else if let Ok(v) = i32::try_from(v) {
            buf.push(0xC2);
            buf.extend_from_slice(&v.to_le_bytes());
            return;
        }
    }
    if compress
        && s.len() > 20
        && let Some(c) = lzf::compress(s, s.len() - 4)
    {
        buf.push(0xC3);
        put_len(buf, c.len() as u64);
        put_len(buf, s.len() as u64);
        buf.extend_from_slice(&c);
        return;
    }
    put_len(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

/// Appends the value and returns its RDB type byte.
fn put_value(buf: &mut Vec<u8>, v: &Value, compress: bool, compact: bool) -> u8 {
    match v {
        Value::Str(s) => {
            put_string(buf, s, compress);
            kind::STRING
        }
        Value::List(l) => put_list(buf, l, compress),
        Value::Set(s) => put_set(buf, s, compress, compact),
        Value::ZSet(z) => put_zset(buf, z, compress, compact),
        Value::Hash(h) => put_hash(buf, h, compress, compact),
        Value::Stream(s) => super::stream::put_stream(buf, s),
    }
}

fn put_list(buf: &mut Vec<u8>, l: &ListValue, compress: bool) -> u8 {
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let mut lp = ListpackWriter::new();
    let fill = l.fill();
    let mut count = 0;
    // `visit`, not `iter`: leaves no decompressed copy of a compressed node behind.
    l.visit(|el| {
        let size = match el {
            ListElem::Int(_) => 10,
            ListElem::Bytes(b) => b.len() + 10,
        };
        // A node takes elements while the list's fill admits them; a single larger
        // element gets a node of its own.
        if !lp.is_empty() && !fill.admits(count, lp.len(), size) {
            nodes.push(std::mem::take(&mut lp).finish());
            count = 0;
        }
        count += 1;
        match el {
            ListElem::Int(v) => lp.push_int(v),
            ListElem::Bytes(b) => lp.push(b),
        }
    });
    if !lp.is_empty() {
        nodes.push(lp.finish());
    }
    put_len(buf, nodes.len() as u64);
    // Redis writes a compressed node as its LZF blob whatever `rdbcompression` says:
    // with a compression depth, the nodes between the `depth` at each end are.
    let depth = usize::from(fill.depth);
    let n_nodes = nodes.len();
    for (i, n) in nodes.iter().enumerate() {
        let interior = depth > 0 && i >= depth && i + depth < n_nodes;
        put_len(buf, 2); // QUICKLIST_NODE_CONTAINER_PACKED
        put_string(buf, n, compress || interior);
    }
    kind::LIST_QUICKLIST_2
}

fn put_set(buf: &mut Vec<u8>, s: &SetValue, compress: bool, compact: bool) -> u8 {
    // The type follows the value's encoding, as Redis's `rdbSaveObjectType`: an
    // intset as one, anything else (a listpack here is a hashtable in 7.0) member by
    // member.
    if compact && s.encoding_name() == "intset" {
        let ints: Option<Vec<i64>> = s
            .iter()
            .map(|m| match m {
                Member::Int(v) => Some(v),
                Member::Bytes(b) => parse_i64(b),
            })
            .collect();
        if let Some(mut ints) = ints {
            ints.sort_unstable();
            put_string(buf, &intset_encode(&ints), compress);
            return kind::SET_INTSET;
        }
    }
    put_len(buf, s.len() as u64);
    let mut num = Vec::with_capacity(20);
    for m in s.iter() {
        match m {
            Member::Bytes(b) => put_string(buf, b, compress),
            Member::Int(v) => {
                num.clear();
                crate::util::num::write_i64(&mut num, v);
                put_string(buf, &num, compress);
            }
        }
    }
    kind::SET
}

fn put_zset(buf: &mut Vec<u8>, z: &ZSetValue, compress: bool, compact: bool) -> u8 {
    if compact && z.encoding_name() == "listpack" {
        let mut lp = ListpackWriter::new();
        let mut text = Vec::with_capacity(32);
        for (m, score) in z.iter() {
            lp.push(m);
            // Integral scores are stored as integers, as Redis's d2string + lpAppend
            // would; others as their shortest round-trip text (strtod reads it back).
            if score.fract() == 0.0 && score.abs() < 9.0e18 && !(score == 0.0 && score.is_sign_negative()) {
                lp.push_int(score as i64);
            } else {
                text.clear();
                crate::util::num::write_double(&mut text, score);
                lp.push_str(&text);
            }
        }
        put_string(buf, &lp.finish(), compress);
        return kind::ZSET_LISTPACK;
    }
    put_len(buf, z.len() as u64);
    let mut put = |(m, score): (&[u8], f64)| {
        put_string(buf, m, compress);
        buf.extend_from_slice(&score.to_le_bytes());
    };
    // Redis writes a skiplist from its tail (highest score first).
    match z.skiplist_desc() {
        Some(desc) => desc.for_each(&mut put),
        None => z.iter().for_each(&mut put),
    }
    kind::ZSET_2
}

fn put_hash(buf: &mut Vec<u8>, h: &HashValue, compress: bool, compact: bool) -> u8 {
    if compact && h.encoding_name() == "listpack" {
        let mut lp = ListpackWriter::new();
        for (f, v) in h.iter() {
            lp.push(f);
            lp.push(v);
        }
        put_string(buf, &lp.finish(), compress);
        return kind::HASH_LISTPACK;
    }
    put_len(buf, h.len() as u64);
    for (f, v) in h.iter() {
        put_string(buf, f, compress);
        put_string(buf, v, compress);
    }
    kind::HASH
}

/// `rdb-key-save-delay`: a pause per key written (a testing knob; 0 does nothing).
pub fn key_save_delay(us: u64) {
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}
