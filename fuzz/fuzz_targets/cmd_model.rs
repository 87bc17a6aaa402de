//! Command handlers, driven by random command sequences through the socketless harness
//! (1 shard, or 4 so that multi-key commands become cross-shard transactions), and
//! checked against a model, not only for "no panic".
//!
//! Keys live in two namespaces that never meet:
//! - *modeled* keys (`MKEYS`) are touched only by modeled operations on strings,
//!   hashes, sets and lists; a `HashMap` model predicts every reply exactly (GET,
//!   HGETALL, SMEMBERS, LRANGE, TYPE, EXISTS, WRONGTYPE errors, ...);
//! - *free* keys (`FKEYS`, and every other token, which never starts with `m` or `{m`)
//!   are hit by any data command of the table with random arguments.
//!
//! Cross-cutting checks: KEYS * agrees with DBSIZE and holds exactly the model's keys
//! among the modeled names; a read-only command (on any key) leaves the dataset
//! unchanged; DUMP -> RESTORE of any key gives the same value, TTL and TYPE; every
//! reply is one well-formed RESP reply.
//!
//! "Same value" is checked on the shards' data itself (`Canon`: a value's logical
//! content, whatever its encoding), not with DEBUG DIGEST: the SHA1 behind the digest,
//! under the fuzzer's comparison tracing, was a seventh of this target's time, and a
//! direct comparison is exact where a digest only is with high probability.
//!
//! Input layout: byte 0 bit 0 picks 1 or 4 shards; then one operation per byte (and
//! the bytes its arguments take), at most `MAX_OPS`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardis::cmd::harness::{Harness, Reply, decode};
use shardis::config::Config;
use shardis::shard::shard_of;
use shardis::storage::Value;
use shardis::storage::list::Elem as ListElem;
use shardis::storage::set::Member as SetMember;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

const MKEYS: &[&str] = &["ma", "mb", "mc", "{ma}md", "{mb}me"];
const FKEYS: &[&str] = &["x", "y", "z", "{x}w", "{y}v"];
const FIELDS: &[&str] = &["f1", "f2", "f3", "1", "2", "-3", "10", ""];
#[rustfmt::skip]
const VALUES: &[&str] = &[
    "", "v", "1", "-5", "0", "-0", "+1", "01", "9223372036854775807", "-9223372036854775808", "3.5", "abc",
    "a string longer than forty-four bytes, so not embedded in its object",
];
const INDICES: &[i64] = &[-100, -3, -1, 0, 1, 2, 5, 100];
const INCREMENTS: &[i64] = &[-1, 1, 5, -1000, i64::MAX, i64::MIN];
/// Argument tokens for free commands: numbers, options, free keys.
#[rustfmt::skip]
const TOKENS: &[&str] = &[
    "x", "y", "z", "{x}w", "0", "1", "-1", "2", "3", "10", "100", "-100", "1.5", "inf", "-inf", "+inf", "(1",
    "[a", "-", "+", "nan", "NX", "XX", "GT", "LT", "CH", "INCR", "EX", "PX", "EXAT", "KEEPTTL", "GET",
    "WITHSCORES", "LIMIT", "BYSCORE", "BYLEX", "REV", "COUNT", "MATCH", "TYPE", "LEFT", "RIGHT", "BEFORE",
    "AFTER", "RANK", "MAXLEN", "STORE", "BY", "ALPHA", "DESC", "WEIGHTS", "AGGREGATE", "SUM", "MIN", "MAX",
    "REPLACE", "ABSTTL", "IDLETIME", "FREQ", "ENCODING", "AND", "OR", "XOR", "NOT", "BIT", "BYTE", "OVERFLOW",
    "WRAP", "SAT", "FAIL", "u8", "i16", "#1", "WITHVALUES", "IDX", "LEN", "MINMATCHLEN", "WITHMATCHLEN",
    "PERSIST", "*", "a*", "?",
];
/// Data commands free operations may run (nothing blocking, nothing on other
/// databases or the whole server, no transactions).
#[rustfmt::skip]
const FREE_COMMANDS: &[&str] = &[
    "set", "get", "getset", "getdel", "getex", "append", "strlen", "incr", "decr", "incrby", "decrby",
    "incrbyfloat", "setnx", "setex", "psetex", "mset", "msetnx", "mget", "setrange", "getrange", "substr", "lcs",
    "del", "unlink", "exists", "type", "expire", "pexpire", "expireat", "pexpireat", "ttl", "pttl", "expiretime",
    "pexpiretime", "persist", "rename", "renamenx", "copy", "touch", "object", "dump", "restore", "sort",
    "sort_ro", "randomkey", "scan", "keys", "hset", "hsetnx", "hget", "hmset", "hmget", "hdel", "hlen", "hstrlen",
    "hexists", "hkeys", "hvals", "hgetall", "hincrby", "hincrbyfloat", "hrandfield", "hscan", "lpush", "rpush",
    "lpushx", "rpushx", "lpop", "rpop", "llen", "lrange", "lindex", "lset", "linsert", "lrem", "ltrim", "lpos",
    "rpoplpush", "lmove", "lmpop", "sadd", "srem", "smembers", "sismember", "smismember", "scard", "spop",
    "srandmember", "smove", "sinter", "sintercard", "sunion", "sdiff", "sinterstore", "sunionstore", "sdiffstore",
    "sscan", "zadd", "zincrby", "zrem", "zcard", "zscore", "zmscore", "zrank", "zrevrank", "zcount", "zlexcount",
    "zrange", "zrangestore", "zrevrange", "zrangebyscore", "zrevrangebyscore", "zrangebylex", "zrevrangebylex",
    "zremrangebyrank", "zremrangebyscore", "zremrangebylex", "zpopmin", "zpopmax", "zmpop", "zrandmember",
    "zunion", "zinter", "zdiff", "zunionstore", "zinterstore", "zdiffstore", "zintercard", "zscan", "setbit",
    "getbit", "bitcount", "bitpos", "bitop", "bitfield", "bitfield_ro", "pfadd", "pfcount", "pfmerge", "echo",
    "ping", "dbsize",
];
/// Commands that must not change the dataset (PFCOUNT may update an HLL's cache, as
/// in Redis, so it is not here).
#[rustfmt::skip]
const READ_ONLY: &[&str] = &[
    "get", "getrange", "strlen", "mget", "substr", "lcs", "exists", "type", "ttl", "pttl", "expiretime",
    "pexpiretime", "dump", "sort_ro", "scan", "keys", "randomkey", "object", "hget", "hmget", "hlen", "hstrlen",
    "hexists", "hkeys", "hvals", "hgetall", "hrandfield", "hscan", "llen", "lrange", "lindex", "lpos", "smembers",
    "sismember", "smismember", "scard", "srandmember", "sinter", "sintercard", "sunion", "sdiff", "sscan", "zcard",
    "zscore", "zmscore", "zrank", "zrevrank", "zcount", "zlexcount", "zrange", "zrevrange", "zrangebyscore",
    "zrevrangebyscore", "zrangebylex", "zrevrangebylex", "zrandmember", "zunion", "zinter", "zdiff", "zintercard",
    "zscan", "getbit", "bitcount", "bitpos", "bitfield_ro",
];

/// Operations per input. Longer programs find little that a sequence of shorter
/// ones does not, and libFuzzer grows inputs toward `-max_len` over a campaign:
/// unbounded, the late inputs ran hundreds of commands each and exec/s fell.
const MAX_OPS: usize = 64;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[derive(Clone, Debug)]
enum M {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    List(VecDeque<Vec<u8>>),
}

/// The fuzzer's bytes, read as choices; zeros once they run out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
    fn pick<'t, T: ?Sized>(&mut self, from: &'t [&'t T]) -> &'t T {
        from[self.byte() as usize % from.len()]
    }
    fn key(&mut self) -> Vec<u8> {
        self.pick(MKEYS).as_bytes().to_vec()
    }
    fn field(&mut self) -> Vec<u8> {
        self.pick(FIELDS).as_bytes().to_vec()
    }
    /// A value from the list, or (high bit) a few raw bytes of the input.
    fn value(&mut self) -> Vec<u8> {
        let b = self.byte();
        if b & 0x80 == 0 {
            return VALUES[b as usize % VALUES.len()].as_bytes().to_vec();
        }
        let n = (b & 0x0f) as usize;
        let take = n.min(self.0.len());
        let (v, rest) = self.0.split_at(take);
        self.0 = rest;
        v.to_vec()
    }
    fn index(&mut self) -> i64 {
        INDICES[self.byte() as usize % INDICES.len()]
    }
    /// A free-command argument: a token, a free key, or raw bytes made safe with an `r`.
    fn token(&mut self) -> Vec<u8> {
        let b = self.byte();
        if b < 0xf0 {
            return TOKENS[b as usize % TOKENS.len()].as_bytes().to_vec();
        }
        let mut v = b"r".to_vec();
        v.extend(self.value());
        v
    }
}

struct Fuzz {
    h: Harness,
    model: HashMap<Vec<u8>, M>,
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}
fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}
fn bulk(v: &[u8]) -> Reply {
    Reply::Bulk(v.to_vec())
}
/// Bytes to order replies by (bulk strings, and arrays of them).
fn order_key(r: &Reply) -> Vec<u8> {
    match r {
        Reply::Bulk(b) => b.clone(),
        Reply::Array(items) => items.iter().flat_map(|i| [order_key(i), vec![0xff]]).flatten().collect(),
        other => format!("{other:?}").into_bytes(),
    }
}
fn sorted(r: Reply) -> Reply {
    match r {
        Reply::Array(mut v) => {
            v.sort_by_cached_key(order_key);
            Reply::Array(v)
        }
        other => other,
    }
}
/// A flat field/value array as sorted pairs.
fn pairs(r: Reply) -> Reply {
    match r {
        Reply::Array(v) => sorted(Reply::Array(v.chunks(2).map(|c| Reply::Array(c.to_vec())).collect())),
        other => other,
    }
}

/// Redis's strict integer syntax (`string2ll`).
fn strict_i64(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

impl Fuzz {
    fn call(&mut self, args: &[Vec<u8>]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|v| v.as_slice()).collect();
        let raw = self.h.run_raw(&a);
        let (r, used) = decode(&raw).unwrap_or_else(|| panic!("malformed reply to {args:?}: {raw:?}"));
        assert_eq!(used, raw.len(), "more than one reply to {args:?}: {raw:?}");
        r
    }

    fn expect(&mut self, args: Vec<Vec<u8>>, want: Reply) {
        let got = self.call(&args);
        self.check(&args, got, want);
    }

    fn check(&self, args: &[Vec<u8>], got: Reply, want: Reply) {
        if got != want {
            let shown: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            panic!("{shown:?}: got {got:?}, model says {want:?}\nmodel: {:?}", self.model);
        }
    }

    /// The model's collection of `k` for a write, created empty if absent (`make`), or
    /// Err(WRONGTYPE) if `k` holds another type.
    fn coll<T>(&mut self, k: &[u8], make: fn() -> M, get: fn(&mut M) -> Option<&mut T>) -> Result<&mut T, Reply> {
        let m = self.model.entry(k.to_vec()).or_insert_with(make);
        get(m).ok_or_else(|| err(WRONGTYPE))
    }

    /// Removes `k` if it is an empty collection (Redis never keeps one).
    fn drop_empty(&mut self, k: &[u8]) {
        let empty = match self.model.get(k) {
            Some(M::Hash(h)) => h.is_empty(),
            Some(M::Set(s)) => s.is_empty(),
            Some(M::List(l)) => l.is_empty(),
            _ => false,
        };
        if empty {
            self.model.remove(k);
        }
    }

    fn step(&mut self, inp: &mut Input) {
        let op = inp.byte() % 30;
        let c = |s: &str| s.as_bytes().to_vec();
        match op {
            0 => {
                let (k, v) = (inp.key(), inp.value());
                self.model.insert(k.clone(), M::Str(v.clone()));
                self.expect(vec![c("set"), k, v], ok());
            }
            1 => {
                let k = inp.key();
                let want = match self.model.get(&k) {
                    None => Reply::Nil,
                    Some(M::Str(v)) => bulk(v),
                    Some(_) => err(WRONGTYPE),
                };
                self.expect(vec![c("get"), k], want);
            }
            2 => {
                let (k, v) = (inp.key(), inp.value());
                let want = match self.model.entry(k.clone()).or_insert(M::Str(Vec::new())) {
                    M::Str(s) => {
                        s.extend_from_slice(&v);
                        Reply::Int(s.len() as i64)
                    }
                    _ => err(WRONGTYPE),
                };
                self.expect(vec![c("append"), k, v], want);
            }
            3 => {
                let (k, by) = (inp.key(), INCREMENTS[inp.byte() as usize % INCREMENTS.len()]);
                let want = match self.model.get(&k) {
                    Some(M::Str(s)) if strict_i64(s).is_none() => err("ERR value is not an integer or out of range"),
                    None | Some(M::Str(_)) => {
                        let cur = match self.model.get(&k) {
                            Some(M::Str(s)) => strict_i64(s).expect("checked"),
                            _ => 0,
                        };
                        match cur.checked_add(by) {
                            Some(n) => {
                                self.model.insert(k.clone(), M::Str(n.to_string().into_bytes()));
                                Reply::Int(n)
                            }
                            None => err("ERR increment or decrement would overflow"),
                        }
                    }
                    Some(_) => err(WRONGTYPE),
                };
                self.expect(vec![c("incrby"), k, by.to_string().into_bytes()], want);
            }
            4 | 5 => {
                let keys = [inp.key(), inp.key()];
                let n = keys.iter().filter(|k| self.model.contains_key(*k)).count();
                if op == 4 {
                    let distinct = if keys[0] == keys[1] { n.min(1) } else { n };
                    for k in &keys {
                        self.model.remove(k);
                    }
                    self.expect(vec![c("del"), keys[0].clone(), keys[1].clone()], Reply::Int(distinct as i64));
                } else {
                    self.expect(vec![c("exists"), keys[0].clone(), keys[1].clone()], Reply::Int(n as i64));
                }
            }
            6 => {
                let k = inp.key();
                let t = match self.model.get(&k) {
                    None => "none",
                    Some(M::Str(_)) => "string",
                    Some(M::Hash(_)) => "hash",
                    Some(M::Set(_)) => "set",
                    Some(M::List(_)) => "list",
                };
                self.expect(vec![c("type"), k], Reply::Simple(t.into()));
            }
            7 => {
                let k = inp.key();
                let pairs: Vec<(Vec<u8>, Vec<u8>)> =
                    (0..1 + inp.byte() % 3).map(|_| (inp.field(), inp.value())).collect();
                let mut args = vec![c("hset"), k.clone()];
                pairs.iter().for_each(|(f, v)| args.extend([f.clone(), v.clone()]));
                let want = match self.coll(
                    &k,
                    || M::Hash(BTreeMap::new()),
                    |m| if let M::Hash(h) = m { Some(h) } else { None },
                ) {
                    Ok(h) => Reply::Int(
                        pairs.into_iter().filter(|(f, v)| h.insert(f.clone(), v.clone()).is_none()).count() as i64,
                    ),
                    Err(e) => e,
                };
                self.expect(args, want);
            }
            8 => {
                let (k, fs) = (inp.key(), [inp.field(), inp.field()]);
                let want = match self.model.get_mut(&k) {
                    None => Reply::Int(0),
                    Some(M::Hash(h)) => Reply::Int(fs.iter().filter(|f| h.remove(*f).is_some()).count() as i64),
                    Some(_) => err(WRONGTYPE),
                };
                self.drop_empty(&k);
                self.expect(vec![c("hdel"), k, fs[0].clone(), fs[1].clone()], want);
            }
            9 => {
                let (k, f) = (inp.key(), inp.field());
                let want = match self.model.get(&k) {
                    None => Reply::Nil,
                    Some(M::Hash(h)) => h.get(&f).map_or(Reply::Nil, |v| bulk(v)),
                    Some(_) => err(WRONGTYPE),
                };
                self.expect(vec![c("hget"), k, f], want);
            }
            10 => {
                let k = inp.key();
                let want = match self.model.get(&k) {
                    None => Reply::Array(vec![]),
                    Some(M::Hash(h)) => Reply::Array(h.iter().flat_map(|(f, v)| [bulk(f), bulk(v)]).collect()),
                    Some(_) => err(WRONGTYPE),
                };
                let args = vec![c("hgetall"), k];
                let got = pairs(self.call(&args));
                self.check(&args, got, pairs(want));
            }
            11 | 15 | 22 => {
                let k = inp.key();
                let name = match op {
                    11 => "hlen",
                    15 => "scard",
                    _ => "llen",
                };
                let want = match (op, self.model.get(&k)) {
                    (_, None) => Reply::Int(0),
                    (11, Some(M::Hash(h))) => Reply::Int(h.len() as i64),
                    (15, Some(M::Set(s))) => Reply::Int(s.len() as i64),
                    (22, Some(M::List(l))) => Reply::Int(l.len() as i64),
                    _ => err(WRONGTYPE),
                };
                self.expect(vec![c(name), k], want);
            }
            12 | 13 => {
                let k = inp.key();
                let ms: Vec<Vec<u8>> = (0..1 + inp.byte() % 3).map(|_| inp.field()).collect();
                let want = if op == 12 {
                    match self.coll(&k, || M::Set(BTreeSet::new()), |m| if let M::Set(s) = m { Some(s) } else { None })
                    {
                        Ok(s) => Reply::Int(ms.iter().filter(|m| s.insert(m.to_vec())).count() as i64),
                        Err(e) => e,
                    }
                } else {
                    match self.model.get_mut(&k) {
                        None => Reply::Int(0),
                        Some(M::Set(s)) => Reply::Int(ms.iter().filter(|m| s.remove(*m)).count() as i64),
                        Some(_) => err(WRONGTYPE),
                    }
                };
                self.drop_empty(&k);
                let mut args = vec![c(if op == 12 { "sadd" } else { "srem" }), k];
                args.extend(ms);
                self.expect(args, want);
            }
            14 => {
                let k = inp.key();
                let want = match self.model.get(&k) {
                    None => Reply::Array(vec![]),
                    Some(M::Set(s)) => Reply::Array(s.iter().map(|m| bulk(m)).collect()),
                    Some(_) => err(WRONGTYPE),
                };
                let args = vec![c("smembers"), k];
                let got = sorted(self.call(&args));
                self.check(&args, got, sorted(want));
            }
            16 => {
                let (k, m) = (inp.key(), inp.field());
                let want = match self.model.get(&k) {
                    None => Reply::Int(0),
                    Some(M::Set(s)) => Reply::Int(s.contains(&m) as i64),
                    Some(_) => err(WRONGTYPE),
                };
                self.expect(vec![c("sismember"), k, m], want);
            }
            17 | 18 => {
                let k = inp.key();
                let vs: Vec<Vec<u8>> = (0..1 + inp.byte() % 3).map(|_| inp.value()).collect();
                let want = match self.coll(
                    &k,
                    || M::List(VecDeque::new()),
                    |m| if let M::List(l) = m { Some(l) } else { None },
                ) {
                    Ok(l) => {
                        for v in &vs {
                            if op == 17 { l.push_front(v.clone()) } else { l.push_back(v.clone()) }
                        }
                        Reply::Int(l.len() as i64)
                    }
                    Err(e) => e,
                };
                let mut args = vec![c(if op == 17 { "lpush" } else { "rpush" }), k];
                args.extend(vs);
                self.expect(args, want);
            }
            19 | 20 => {
                let k = inp.key();
                let want = match self.model.get_mut(&k) {
                    None => Reply::Nil,
                    Some(M::List(l)) => {
                        let v = if op == 19 { l.pop_front() } else { l.pop_back() };
                        bulk(&v.expect("lists are never empty"))
                    }
                    Some(_) => err(WRONGTYPE),
                };
                self.drop_empty(&k);
                self.expect(vec![c(if op == 19 { "lpop" } else { "rpop" }), k], want);
            }
            21 => {
                let (k, a, b) = (inp.key(), inp.index(), inp.index());
                let want = match self.model.get(&k) {
                    None => Reply::Array(vec![]),
                    Some(M::List(l)) => {
                        let len = l.len() as i64;
                        let start = if a < 0 { (len + a).max(0) } else { a };
                        let end = if b < 0 { len + b } else { b.min(len - 1) };
                        if start > end || start >= len {
                            Reply::Array(vec![])
                        } else {
                            Reply::Array((start..=end).map(|i| bulk(&l[i as usize])).collect())
                        }
                    }
                    Some(_) => err(WRONGTYPE),
                };
                self.expect(vec![c("lrange"), k, a.to_string().into_bytes(), b.to_string().into_bytes()], want);
            }
            23 => {
                let (k, i, v) = (inp.key(), inp.index(), inp.value());
                let want = match self.model.get_mut(&k) {
                    None => err("ERR no such key"),
                    Some(M::List(l)) => {
                        let at = if i < 0 { l.len() as i64 + i } else { i };
                        match l.get_mut(at.max(0) as usize).filter(|_| at >= 0) {
                            Some(slot) => {
                                *slot = v.clone();
                                ok()
                            }
                            None => err("ERR index out of range"),
                        }
                    }
                    Some(_) => err(WRONGTYPE),
                };
                self.expect(vec![c("lset"), k, i.to_string().into_bytes(), v], want);
            }
            24 => {
                let (src, dst) = (inp.key(), inp.key());
                let want = match self.model.remove(&src) {
                    None => err("ERR no such key"),
                    Some(v) => {
                        self.model.insert(dst.clone(), v);
                        ok()
                    }
                };
                self.expect(vec![c("rename"), src, dst], want);
            }
            25 => {
                // Enough elements to pass the compact encodings' limits (128 by default).
                let (k, kind, n) = (inp.key(), inp.byte() % 3, 100 + inp.byte() as usize % 60);
                let items: Vec<Vec<u8>> = (0..n).map(|i| format!("e{i}").into_bytes()).collect();
                let (name, want) = match kind {
                    0 => (
                        "hset",
                        match self.coll(
                            &k,
                            || M::Hash(BTreeMap::new()),
                            |m| if let M::Hash(h) = m { Some(h) } else { None },
                        ) {
                            Ok(h) => Reply::Int(
                                items.iter().filter(|f| h.insert(f.to_vec(), f.to_vec()).is_none()).count() as i64,
                            ),
                            Err(e) => e,
                        },
                    ),
                    1 => (
                        "sadd",
                        match self.coll(
                            &k,
                            || M::Set(BTreeSet::new()),
                            |m| if let M::Set(s) = m { Some(s) } else { None },
                        ) {
                            Ok(s) => Reply::Int(items.iter().filter(|m| s.insert(m.to_vec())).count() as i64),
                            Err(e) => e,
                        },
                    ),
                    _ => (
                        "rpush",
                        match self.coll(
                            &k,
                            || M::List(VecDeque::new()),
                            |m| if let M::List(l) = m { Some(l) } else { None },
                        ) {
                            Ok(l) => {
                                l.extend(items.iter().cloned());
                                Reply::Int(l.len() as i64)
                            }
                            Err(e) => e,
                        },
                    ),
                };
                self.drop_empty(&k);
                let mut args = vec![c(name), k];
                for it in items {
                    args.push(it.clone());
                    if kind == 0 {
                        args.push(it);
                    }
                }
                self.expect(args, want);
            }
            26 => self.check_keyspace(),
            27 => {
                let before = dataset(&self.h);
                let args = self.free_args(inp, READ_ONLY, true);
                self.call(&args);
                let after = dataset(&self.h);
                if after != before {
                    let shown: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
                    panic!("read-only {shown:?} changed the dataset:\nbefore {before:?}\nafter {after:?}");
                }
            }
            28 => {
                let k = if inp.byte() & 1 == 0 { inp.key() } else { inp.pick(FKEYS).as_bytes().to_vec() };
                let Reply::Bulk(payload) = self.call(&[c("dump"), k.clone()]) else { return };
                // The digest marks a TTL: give the copy the same one (the clock stands still).
                let ttl = match self.call(&[c("pttl"), k.clone()]) {
                    Reply::Int(ms) if ms > 0 => ms,
                    _ => 0,
                };
                let tmp = c("rtmp");
                let args = vec![c("restore"), tmp.clone(), ttl.to_string().into_bytes(), payload, c("REPLACE")];
                let got = self.call(&args);
                self.check(&args, got, ok());
                let (orig, copy) = (stored(&self.h, &k), stored(&self.h, &tmp));
                assert!(orig.is_some(), "DUMP gave a payload for {k:?}, which is not stored");
                assert_eq!(orig, copy, "DUMP -> RESTORE of {k:?} changed its value or TTL");
                let (t1, t2) = (self.call(&[c("type"), k]), self.call(&[c("type"), tmp.clone()]));
                assert_eq!(t1, t2, "DUMP -> RESTORE changed the type");
                self.call(&[c("del"), tmp]);
            }
            _ => {
                let args = self.free_args(inp, FREE_COMMANDS, false);
                self.call(&args);
            }
        }
    }

    /// A command from `names` with 0-5 arguments: free tokens, and modeled keys too
    /// when `any_key` (read-only commands only).
    fn free_args(&self, inp: &mut Input, names: &[&str], any_key: bool) -> Vec<Vec<u8>> {
        let mut args = vec![inp.pick(names).as_bytes().to_vec()];
        for _ in 0..inp.byte() % 6 {
            let b = inp.byte();
            args.push(if any_key && b & 3 == 0 { inp.key() } else { inp.token() });
        }
        args
    }

    /// KEYS * and DBSIZE agree, and the modeled names among the keys are the model's.
    fn check_keyspace(&mut self) {
        let c = |s: &str| s.as_bytes().to_vec();
        let Reply::Array(keys) = self.call(&[c("keys"), c("*")]) else { panic!("KEYS * is an array") };
        assert_eq!(self.call(&[c("dbsize")]), Reply::Int(keys.len() as i64), "DBSIZE vs KEYS *");
        let mut modeled: Vec<Vec<u8>> = keys
            .into_iter()
            .filter_map(|k| match k {
                Reply::Bulk(b) if MKEYS.contains(&String::from_utf8_lossy(&b).as_ref()) => Some(b),
                _ => None,
            })
            .collect();
        modeled.sort();
        let mut want: Vec<Vec<u8>> = self.model.keys().cloned().collect();
        want.sort();
        assert_eq!(modeled, want, "KEYS * vs the model");
    }
}

/// A value's logical content, independent of its encoding (listpack or table, integer
/// or text elements): what DEBUG DIGEST-VALUE hashes, kept as data. Unordered types
/// are sorted; scores by their bits (DEBUG DIGEST tells 0 from -0 too).
#[derive(Debug, PartialEq)]
enum Canon {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, u64)>),
    /// Entries (ms, seq, fields) in order; consumer groups are not part of it, as in
    /// the digest.
    Stream(Vec<(u64, u64, Vec<(Vec<u8>, Vec<u8>)>)>),
}

/// A value's content, with its absolute expiry (0: none).
fn canon(value: &Value, expire_at: u64) -> (Canon, u64) {
    let c = match value {
        Value::Str(s) => Canon::Str(s.to_vec()),
        Value::List(l) => Canon::List(
            l.iter()
                .map(|el| match el {
                    ListElem::Bytes(b) => b.to_vec(),
                    ListElem::Int(n) => n.to_string().into_bytes(),
                })
                .collect(),
        ),
        Value::Set(v) => {
            let mut m: Vec<Vec<u8>> = v
                .iter()
                .map(|m| match m {
                    SetMember::Bytes(b) => b.to_vec(),
                    SetMember::Int(n) => n.to_string().into_bytes(),
                })
                .collect();
            m.sort_unstable();
            Canon::Set(m)
        }
        Value::Hash(h) => {
            let mut p: Vec<(Vec<u8>, Vec<u8>)> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            p.sort_unstable();
            Canon::Hash(p)
        }
        Value::ZSet(z) => {
            let mut p: Vec<(Vec<u8>, u64)> = z.iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect();
            p.sort_unstable();
            Canon::ZSet(p)
        }
        Value::Stream(s) => Canon::Stream(
            s.iter()
                .map(|en| {
                    let f = en.fields.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                    (en.id.ms, en.id.seq, f)
                })
                .collect(),
        ),
    };
    (c, expire_at)
}

/// Every key of every shard and database (logically expired ones too, as DEBUG
/// DIGEST), in a shard-independent order. The harness is idle between commands, so
/// no value is on loan to a cross-shard command.
fn dataset(h: &Harness) -> Vec<(usize, Vec<u8>, Canon, u64)> {
    let mut all = Vec::new();
    for st in &h.shards {
        for (db, d) in st.dbs.iter().enumerate() {
            for (k, e, at) in d.iter_with_expire() {
                let (c, exp) = canon(&e.value, at);
                all.push((db, k.to_vec(), c, exp));
            }
        }
    }
    all.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    all
}

/// Key `k` of the session's database, as `canon` sees it.
fn stored(h: &Harness, k: &[u8]) -> Option<(Canon, u64)> {
    let st = &h.shards[shard_of(k, h.shards.len())];
    st.dbs[h.sess.db as usize].peek_with_expire(k).map(|(e, at)| canon(&e.value, at))
}

thread_local! {
    /// One harness per shard count, reused (flushed) from input to input: building
    /// one costs more than most inputs' commands.
    static HARNESSES: RefCell<[Option<Harness>; 2]> = const { RefCell::new([None, None]) };
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, ops)) = data.split_first() else { return };
    let which = (mode & 1) as usize;
    HARNESSES.with_borrow_mut(|hs| {
        let h = hs[which].take().unwrap_or_else(|| {
            let mut cfg = Config::default();
            cfg.shards = [1, 4][which];
            cfg.enable_debug_command = "yes".into();
            Harness::with_config(cfg)
        });
        let mut f = Fuzz { h, model: HashMap::new() };
        let flushed = f.call(&[b"flushall".to_vec()]);
        assert_eq!(flushed, ok());
        let mut inp = Input(ops);
        for _ in 0..MAX_OPS {
            if inp.0.is_empty() {
                break;
            }
            f.step(&mut inp);
        }
        f.check_keyspace();
        hs[which] = Some(f.h);
    });
});
