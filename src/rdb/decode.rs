//! Reading RDB: the file loop (header, opcodes, keys, trailer) and every value type
//! Redis has written from RDB version 1 to 12, compact encodings included.
//!
//! Values are rebuilt through the storage types' public APIs, so each lands in the
//! encoding our own thresholds pick. Structural rules Redis enforces on load are
//! enforced here too: no duplicate members or fields, no NaN scores, balanced
//! field/value and member/score pairs. Empty collections are skipped in files (as
//! Redis 7.0 does) and refused in DUMP payloads.

use super::compact::{self, BlobError, Item};
use super::input::Input;
use super::{Error, ErrorKind, RDB_VERSION_MAX_READ, kind, opcode};
use crate::storage::hash::HashValue;
use crate::storage::list::ListValue;
use crate::storage::set::SetValue;
use crate::storage::zset::ZSetValue;
use crate::storage::{EncodingLimits, Value};
use std::io::{BufRead, BufReader, Read};

/// How to load.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Current unix time in ms, for `skip_expired`.
    pub now_ms: u64,
    /// Drop keys whose TTL has passed (what a Redis master does on load).
    pub skip_expired: bool,
    /// SELECTDB beyond this is an error (the server's `databases`).
    pub databases: u32,
    /// Keep the (db, name) of every key dropped as expired in `LoadStats::expired_keys`
    /// (a master's start-up load tells its replicas, as Redis's does).
    pub keep_expired: bool,
    /// The encoding limits loaded values get (the server's current ones): as Redis's
    /// `rdbLoadObject`, a value too large for them is converted on load.
    pub limits: EncodingLimits,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            now_ms: 0,
            skip_expired: false,
            databases: 16,
            keep_expired: false,
            limits: EncodingLimits::DEFAULT,
        }
    }
}

/// One key as read from the file.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedKey {
    pub db: u32,
    pub key: Vec<u8>,
    pub value: Value,
    /// Absolute unix ms, 0 = no TTL.
    pub expire_at: u64,
    /// Seconds since last access (IDLE opcode, written under an LRU policy).
    pub idle_secs: Option<u64>,
    /// LFU counter (FREQ opcode, written under an LFU policy).
    pub freq: Option<u8>,
    /// The RDB type byte the value had, for statistics.
    pub rdb_type: u8,
}

/// Where loaded keys go.
pub trait Sink {
    /// Takes one key. An `Err` aborts the load (e.g. a duplicate key).
    fn key(&mut self, k: LoadedKey) -> Result<(), String>;
    fn aux(&mut self, _name: &[u8], _value: &[u8]) {}
    fn resize_db(&mut self, _db: u32, _keys: u64, _expires: u64) {}
}

impl<F: FnMut(LoadedKey)> Sink for F {
    fn key(&mut self, k: LoadedKey) -> Result<(), String> {
        self(k);
        Ok(())
    }
}

/// What a load saw.
#[derive(Clone, Debug, Default)]
pub struct LoadStats {
    pub version: u16,
    pub keys: u64,
    pub expires: u64,
    pub expired_skipped: u64,
    pub empty_skipped: u64,
    /// Keys per RDB type byte.
    pub by_type: std::collections::BTreeMap<u8, u64>,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// The trailer's checksum; None before version 5 or when written as 0 (disabled).
    pub checksum: Option<u64>,
    pub bytes: u64,
    /// Function libraries' code (the function opcode), in file order.
    pub functions: Vec<Vec<u8>>,
    /// With `LoadOptions::keep_expired`: the keys dropped as expired, (db, name), in
    /// file order.
    pub expired_keys: Vec<(u16, Vec<u8>)>,
}

/// Loads a whole RDB stream into `sink`. On `Err` the sink may have received some
/// keys already: the caller must discard them.
pub fn load<R: Read>(r: R, sink: &mut dyn Sink, opts: &LoadOptions) -> Result<LoadStats, Error> {
    let mut input = Input::new(BufReader::with_capacity(64 * 1024, r), 0);
    load_input(&mut input, sink, opts)
}

/// Loads from memory, collecting the keys.
pub fn load_bytes(b: &[u8], opts: &LoadOptions) -> Result<(Vec<LoadedKey>, LoadStats), Error> {
    let mut keys = Vec::new();
    let mut sink = |k: LoadedKey| keys.push(k);
    let mut input = Input::new(b, 0);
    let stats = load_input(&mut input, &mut sink, opts)?;
    Ok((keys, stats))
}

fn load_input<R: BufRead>(inp: &mut Input<R>, sink: &mut dyn Sink, opts: &LoadOptions) -> Result<LoadStats, Error> {
    let magic: [u8; 9] = inp.array().map_err(|e| match e.kind {
        ErrorKind::Truncated => Error::new(ErrorKind::Truncated, 0, "file too short for an RDB header"),
        _ => e,
    })?;
    if &magic[..5] != b"REDIS" {
        return Err(Error::new(ErrorKind::Corrupt, 0, "not an RDB file (no REDIS signature)"));
    }
    let version = std::str::from_utf8(&magic[5..])
        .ok()
        .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::new(ErrorKind::Corrupt, 5, "RDB version is not four digits"))?;
    if version == 0 || version > RDB_VERSION_MAX_READ {
        return Err(Error::new(ErrorKind::Unsupported, 5, format!("unsupported RDB version {version}")));
    }
    let mut stats = LoadStats { version, ..Default::default() };
    let (mut db, mut expire_at, mut idle, mut freq) = (0u32, 0u64, None, None);
    loop {
        let at = inp.off;
        let t = inp.u8()?;
        match t {
            opcode::EXPIRETIME_MS => {
                expire_at = u64::from_le_bytes(inp.array()?);
                continue;
            }
            opcode::EXPIRETIME => {
                expire_at = u32::from_le_bytes(inp.array()?) as u64 * 1000;
                continue;
            }
            opcode::FREQ => {
                freq = Some(inp.u8()?);
                continue;
            }
            opcode::IDLE => {
                idle = Some(inp.len()?);
                continue;
            }
            opcode::EOF => break,
            opcode::SELECTDB => {
                let n = inp.len()?;
                if n >= opts.databases as u64 {
                    return Err(
                        inp.corrupt(at, format!("SELECTDB {n}, but only {} databases are configured", opts.databases))
                    );
                }
                db = n as u32;
                continue;
            }
            opcode::RESIZEDB => {
                let keys = inp.len()?;
                let expires = inp.len()?;
                sink.resize_db(db, keys, expires);
                continue;
            }
            opcode::AUX => {
                let name = inp.string()?;
                let value = inp.string()?;
                sink.aux(&name, &value);
                stats.aux.push((name, value));
                continue;
            }
            opcode::SLOT_INFO => {
                // Cluster slot sizing hints (Redis 7.4): slot, keys, expires.
                for _ in 0..3 {
                    inp.len()?;
                }
                continue;
            }
            opcode::MODULE_AUX => {
                return Err(Error::new(ErrorKind::Unsupported, at, "module auxiliary data is not supported"));
            }
            opcode::FUNCTION2 => {
                stats.functions.push(inp.string()?);
                continue;
            }
            opcode::FUNCTION_PRE_GA => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    at,
                    "function libraries in the pre-GA format (Redis 7.0 release candidates) are not supported",
                ));
            }
            _ => {}
        }
        let key = inp.string()?;
        let value = read_value(inp, t, at, &opts.limits)?;
        let expired = opts.skip_expired && crate::storage::has_expired(expire_at, opts.now_ms);
        match value {
            None => stats.empty_skipped += 1,
            Some(_) if expired => {
                stats.expired_skipped += 1;
                if opts.keep_expired {
                    stats.expired_keys.push((db as u16, key));
                }
            }
            Some(value) => {
                stats.keys += 1;
                if expire_at != 0 {
                    stats.expires += 1;
                }
                *stats.by_type.entry(t).or_default() += 1;
                let k = LoadedKey { db, key, value, expire_at, idle_secs: idle, freq, rdb_type: t };
                sink.key(k).map_err(|m| Error::new(ErrorKind::Corrupt, at, m))?;
            }
        }
        (expire_at, idle, freq) = (0, None, None);
    }
    if version >= 5 {
        let computed = inp.crc;
        let at = inp.off;
        let stored = u64::from_le_bytes(inp.array()?);
        if stored != 0 {
            if stored != computed {
                return Err(Error::new(
                    ErrorKind::Checksum,
                    at,
                    format!("checksum mismatch: file says {stored:016x}, contents give {computed:016x}"),
                ));
            }
            stats.checksum = Some(stored);
        }
    }
    if !inp.at_end()? {
        return Err(inp.corrupt(inp.off, "unexpected bytes after the end of the RDB data"));
    }
    stats.bytes = inp.off;
    Ok(stats)
}

/// Decodes a DUMP payload's type byte and value (envelope already checked).
pub(super) fn decode_payload_value(body: &[u8], lim: &EncodingLimits) -> Result<Value, Error> {
    let mut inp = Input::new(body, 0);
    let t = inp.u8()?;
    read_value(&mut inp, t, 0, lim)?.ok_or_else(|| Error::new(ErrorKind::Corrupt, 1, "empty collection in payload"))
}

/// Turns a blob error into a file error at the blob's position.
fn blob(start: u64, what: &str) -> impl FnOnce(BlobError) -> Error + '_ {
    move |e| Error::new(ErrorKind::Corrupt, start + e.offset as u64, format!("{what}: {}", e.msg))
}

fn dup(at: u64, what: &str) -> Error {
    Error::new(ErrorKind::Corrupt, at, format!("duplicate {what} in one value"))
}

/// Reads a value of RDB type `t` (whose type byte was at `at`). `None`: an empty
/// collection, which Redis 7.0 skips on load.
///
/// Encodings follow Redis 7.0's `rdbLoadObject` with the limits `lim`: a value saved
/// element by element is built by inserting (so it takes the encoding its size and
/// lengths call for, possibly more compact than when it was saved); a value saved as a
/// listpack/ziplist stays one unless it has more entries than the limit allows (its
/// element lengths are not checked again, as in Redis 7.0).
fn read_value<R: BufRead>(inp: &mut Input<R>, t: u8, at: u64, lim: &EncodingLimits) -> Result<Option<Value>, Error> {
    let blob_lim = EncodingLimits { hash_max_listpack_value: usize::MAX, zset_max_listpack_value: usize::MAX, ..*lim };
    let v = match t {
        kind::STRING => Value::Str(inp.string()?.into()),
        kind::LIST => {
            let n = inp.count()?;
            let mut l = ListValue::new(lim.list_fill());
            for _ in 0..n {
                l.push_back(&inp.string()?);
            }
            Value::List(l.into())
        }
        kind::SET => {
            let n = inp.count()?;
            let mut set: Option<SetValue> = None;
            for _ in 0..n {
                let m_at = inp.off;
                let m = inp.string()?;
                // The count comes from the file: presize for it only up to a sane bound.
                let s = set.get_or_insert_with(|| SetValue::with_hint(&m, n.min(PRESIZE_MAX)));
                if !s.insert(&m, lim) {
                    return Err(dup(m_at, "set member"));
                }
            }
            Value::Set(set.unwrap_or_default())
        }
        kind::ZSET | kind::ZSET_2 => {
            let n = inp.count()?;
            let mut z = ZSetValue::with_hint(n, 0, lim);
            for _ in 0..n {
                let m_at = inp.off;
                let m = inp.string()?;
                let score = if t == kind::ZSET { inp.double_text()? } else { inp.double_bin()? };
                zset_add(&mut z, &m, score, m_at, lim)?;
            }
            Value::ZSet(z)
        }
        kind::HASH => {
            let n = inp.count()?;
            let mut h = HashValue::new();
            if n > lim.hash_max_listpack_entries {
                h.convert_to_table();
            }
            for _ in 0..n {
                let f_at = inp.off;
                let f = inp.string()?;
                let v = inp.string()?;
                if !h.set(&f, &v, lim) {
                    return Err(dup(f_at, "hash field"));
                }
            }
            Value::Hash(h)
        }
        kind::HASH_ZIPMAP => {
            let start = inp.off;
            let b = inp.string()?;
            let pairs = compact::zipmap_pairs(&b).map_err(blob(start, "zipmap"))?;
            let mut h = HashValue::new();
            // Redis checks a zipmap's lengths too (it converts it by re-inserting).
            for (f, v) in pairs {
                if !h.set(f, v, lim) {
                    return Err(dup(start, "hash field"));
                }
            }
            Value::Hash(h)
        }
        kind::LIST_ZIPLIST => {
            let start = inp.off;
            let b = inp.string()?;
            let mut l = ListValue::new(lim.list_fill());
            for it in compact::ziplist_items(&b).map_err(blob(start, "ziplist"))? {
                push_item(&mut l, it);
            }
            Value::List(l.into())
        }
        kind::SET_INTSET => {
            let start = inp.off;
            let b = inp.string()?;
            let ints = compact::intset_items(&b).map_err(blob(start, "intset"))?;
            let mut s = SetValue::with_hint(b"0", ints.len());
            for v in ints {
                s.insert(&Item::Int(v).to_vec(), lim);
            }
            Value::Set(s)
        }
        kind::SET_LISTPACK => {
            let start = inp.off;
            let b = inp.string()?;
            let items = compact::listpack_items(&b).map_err(blob(start, "set listpack"))?;
            let mut set: Option<SetValue> = None;
            for it in items {
                let m = it.to_vec();
                let s = set.get_or_insert_with(|| SetValue::with_hint(&m, items_len_hint()));
                if !s.insert(&m, lim) {
                    return Err(dup(start, "set member"));
                }
            }
            Value::Set(set.unwrap_or_default())
        }
        kind::ZSET_ZIPLIST | kind::ZSET_LISTPACK => {
            let start = inp.off;
            let b = inp.string()?;
            let items = if t == kind::ZSET_ZIPLIST {
                compact::ziplist_items(&b).map_err(blob(start, "zset ziplist"))?
            } else {
                compact::listpack_items(&b).map_err(blob(start, "zset listpack"))?
            };
            if items.len() % 2 != 0 {
                return Err(inp.corrupt(start, "sorted set blob has a member without a score"));
            }
            let mut z = ZSetValue::new();
            for pair in items.chunks_exact(2) {
                let score = match pair[1] {
                    Item::Int(v) => v as f64,
                    Item::Str(s) => crate::util::num::parse_f64(s)
                        .or_else(|| std::str::from_utf8(s).ok().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| inp.corrupt(start, "unparsable score in sorted set blob"))?,
                };
                zset_add(&mut z, &pair[0].to_vec(), score, start, &blob_lim)?;
            }
            Value::ZSet(z)
        }
        kind::HASH_ZIPLIST | kind::HASH_LISTPACK => {
            let start = inp.off;
            let b = inp.string()?;
            let items = if t == kind::HASH_ZIPLIST {
                compact::ziplist_items(&b).map_err(blob(start, "hash ziplist"))?
            } else {
                compact::listpack_items(&b).map_err(blob(start, "hash listpack"))?
            };
            if items.len() % 2 != 0 {
                return Err(inp.corrupt(start, "hash blob has a field without a value"));
            }
            let mut h = HashValue::new();
            if items.len() / 2 > lim.hash_max_listpack_entries {
                h.convert_to_table();
            }
            for pair in items.chunks_exact(2) {
                if !h.set(&pair[0].to_vec(), &pair[1].to_vec(), &blob_lim) {
                    return Err(dup(start, "hash field"));
                }
            }
            Value::Hash(h)
        }
        kind::LIST_QUICKLIST | kind::LIST_QUICKLIST_2 => {
            let nodes = inp.count()?;
            let mut l = ListValue::new(lim.list_fill());
            for _ in 0..nodes {
                let container = if t == kind::LIST_QUICKLIST_2 {
                    let c_at = inp.off;
                    match inp.len()? {
                        1 => Container::Plain,
                        2 => Container::Packed,
                        c => return Err(inp.corrupt(c_at, format!("unknown quicklist container {c}"))),
                    }
                } else {
                    Container::Ziplist
                };
                let start = inp.off;
                let b = inp.string()?;
                match container {
                    Container::Plain => l.push_back(&b),
                    Container::Packed => {
                        for it in compact::listpack_items(&b).map_err(blob(start, "quicklist listpack node"))? {
                            push_item(&mut l, it);
                        }
                    }
                    Container::Ziplist => {
                        for it in compact::ziplist_items(&b).map_err(blob(start, "quicklist ziplist node"))? {
                            push_item(&mut l, it);
                        }
                    }
                }
            }
            Value::List(l.into())
        }
        kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 | kind::STREAM_LISTPACKS_3 => {
            super::stream::read_stream(inp, t, at)?
        }
        kind::MODULE_PRE_GA | kind::MODULE_2 => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                at,
                format!("unsupported type: module value (RDB type {t})"),
            ));
        }
        _ => return Err(Error::new(ErrorKind::Corrupt, at, format!("unknown value type {t}"))),
    };
    let empty = match &v {
        Value::Str(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::ZSet(z) => z.is_empty(),
        Value::Hash(h) => h.is_empty(),
        // An empty stream is a valid value (groups, last ID), as in Redis.
        Value::Stream(_) => false,
    };
    Ok((!empty).then_some(v))
}

enum Container {
    Plain,
    Packed,
    Ziplist,
}

/// Most elements a collection is presized for from a count read from the input (a
/// corrupt or hostile count must not allocate gigabytes before the data runs out).
const PRESIZE_MAX: usize = 1 << 16;

/// A set listpack never exceeds the listpack limit, so size the set for that.
fn items_len_hint() -> usize {
    crate::storage::set::SET_MAX_LISTPACK_ENTRIES
}

fn push_item(l: &mut ListValue, it: Item) {
    match it {
        Item::Str(s) => l.push_back(s),
        Item::Int(v) => l.push_back(&Item::Int(v).to_vec()),
    }
}

fn zset_add(z: &mut ZSetValue, m: &[u8], score: f64, at: u64, lim: &EncodingLimits) -> Result<(), Error> {
    if score.is_nan() {
        return Err(Error::new(ErrorKind::Corrupt, at, "NaN score in sorted set"));
    }
    if z.insert(m, score, lim).is_some() {
        return Err(dup(at, "sorted set member"));
    }
    Ok(())
}
