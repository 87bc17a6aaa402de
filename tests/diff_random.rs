//! Random command sequences, replayed on redis-server and on shardis (1 and 4 shards,
//! RESP2 and RESP3), reply for reply.
//!
//! Each seed draws a few hundred commands over a handful of keys from most data-type
//! families (strings, lists, hashes, sets, sorted sets, bitmaps, HyperLogLog, generic
//! key commands), with valid and invalid arguments alike: wrong types, bad numbers,
//! missing or extra arguments, out-of-range indexes. Keys spread over shards, so
//! multi-key commands cross them. Nothing that depends on time or randomness is drawn
//! (no relative TTLs, no SPOP/SRANDMEMBER/RANDOMKEY/SCAN); replies whose order is a
//! hash order in Redis (SMEMBERS, HGETALL, KEYS, ...) are compared as sets. At the end
//! of each sequence both servers' `DEBUG DIGEST` must match, so the datasets are equal
//! too, not only the replies.
//!
//! A failure names the seed, the step, the command and the last commands on the same
//! keys, so it replays with `DIFF_SEED=<seed>` (and `DIFF_STEPS`).

use crate::common;

use common::diff::{Spec, replay, seeds, steps};
use common::*;

const KEYS: [&str; 6] = ["a", "b", "c", "{a}x", "n", "zz"];
const MEMBERS: [&str; 8] = ["m1", "m2", "m3", "x", "10", "-2", "3.5", ""];
const NUMBERS: [&str; 14] = [
    "0",
    "1",
    "-1",
    "2",
    "7",
    "-3",
    "10",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "abc",
    "",
    "3e2",
];
const FLOATS: [&str; 10] = ["0", "1.5", "-2.25", "10", "inf", "-inf", "1e3", "nan", "x", "0.1"];

const SPEC: Spec = Spec {
    tag: "diff-random",
    keys: &KEYS,
    // Replies in a hash order on Redis's side.
    unordered: &["smembers", "sinter", "sunion", "sdiff", "hgetall", "hkeys", "hvals", "keys"],
};

struct Gen {
    rng: Rng,
}

impl Gen {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.rng.below(from.len() as u64) as usize]
    }
    fn key(&mut self) -> String {
        self.pick(&KEYS).to_string()
    }
    fn member(&mut self) -> String {
        self.pick(&MEMBERS).to_string()
    }
    fn num(&mut self) -> String {
        self.pick(&NUMBERS).to_string()
    }
    fn small_int(&mut self) -> String {
        (self.rng.below(13) as i64 - 6).to_string()
    }
    fn float(&mut self) -> String {
        self.pick(&FLOATS).to_string()
    }
    fn value(&mut self) -> String {
        match self.rng.below(5) {
            0 => self.num(),
            1 => self.member(),
            2 => "hello world".to_string(),
            3 => "x".repeat(self.rng.below(70) as usize),
            _ => format!("v{}", self.rng.below(100)),
        }
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.rng.below(one_in) == 0
    }
    fn score_bound(&mut self) -> String {
        match self.rng.below(6) {
            0 => "-inf".into(),
            1 => "+inf".into(),
            2 => format!("({}", self.small_int()),
            3 => "x".into(),
            _ => self.small_int(),
        }
    }
    fn lex_bound(&mut self) -> String {
        match self.rng.below(5) {
            0 => "-".into(),
            1 => "+".into(),
            2 => format!("({}", self.member()),
            3 => "m".into(),
            _ => format!("[{}", self.member()),
        }
    }

    /// One command, as its words.
    fn command(&mut self) -> Vec<String> {
        let k = self.key();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
        let mut c: Vec<String> = match self.rng.below(96) {
            // strings
            0 => vec!["set".into(), k, self.value()],
            1 => {
                let mut c = vec!["set".into(), k, self.value()];
                let opts = ["nx", "xx", "get", "keepttl", "exat", "pxat"];
                let o = self.pick(&opts);
                c.push(o.into());
                if o == "exat" || o == "pxat" {
                    c.push(self.pick(&["4000000000", "4000000000000", "0", "-5", "x"]).into());
                }
                c
            }
            2 => vec!["get".into(), k],
            3 => vec!["getset".into(), k, self.value()],
            4 => vec!["append".into(), k, self.value()],
            5 => vec!["strlen".into(), k],
            6 => vec!["incr".into(), k],
            7 => vec!["decrby".into(), k, self.num()],
            8 => vec!["incrbyfloat".into(), k, self.float()],
            9 => vec!["setrange".into(), k, self.pick(&["0", "3", "-1", "20", "x"]).into(), self.value()],
            10 => vec!["getrange".into(), k, self.small_int(), self.small_int()],
            11 => vec!["mset".into(), k, self.value(), self.key(), self.value()],
            12 => vec!["mget".into(), k, self.key(), self.key()],
            13 => vec!["msetnx".into(), k, self.value(), self.key(), self.value()],
            14 => vec!["setnx".into(), k, self.value()],
            15 => vec!["getdel".into(), k],
            16 => vec!["lcs".into(), k, self.key()],
            17 => vec!["incrby".into(), k, self.num()],
            // lists
            18 => vec!["lpush".into(), k, self.member(), self.member()],
            19 => vec!["rpush".into(), k, self.value()],
            20 => vec!["lpushx".into(), k, self.member()],
            21 => vec!["lpop".into(), k],
            22 => vec!["rpop".into(), k, self.pick(&["0", "1", "3", "-1", "x"]).into()],
            23 => vec!["lrange".into(), k, self.small_int(), self.small_int()],
            24 => vec!["lindex".into(), k, self.small_int()],
            25 => vec!["lset".into(), k, self.small_int(), self.member()],
            26 => vec!["lrem".into(), k, self.small_int(), self.member()],
            27 => vec!["ltrim".into(), k, self.small_int(), self.small_int()],
            28 => vec![
                "linsert".into(),
                k,
                self.pick(&["before", "after", "middle"]).into(),
                self.member(),
                self.member(),
            ],
            29 => vec!["llen".into(), k],
            30 => {
                let mut c = vec!["lpos".into(), k, self.member()];
                if self.chance(2) {
                    c.extend(["rank".into(), self.small_int()]);
                }
                if self.chance(2) {
                    c.extend(["count".into(), self.pick(&["0", "1", "2", "-1"]).into()]);
                }
                c
            }
            31 => vec![
                "lmove".into(),
                k,
                self.key(),
                self.pick(&["left", "right"]).into(),
                self.pick(&["left", "right", "up"]).into(),
            ],
            32 => vec!["rpoplpush".into(), k, self.key()],
            33 => {
                let mut c = vec!["lmpop".into(), self.pick(&["1", "2", "0", "x"]).into(), k, self.key()];
                c.push(self.pick(&["left", "right"]).into());
                if self.chance(2) {
                    c.extend(["count".into(), self.pick(&["1", "2", "0"]).into()]);
                }
                c
            }
            // hashes
            34 => vec!["hset".into(), k, self.member(), self.value()],
            35 => vec!["hset".into(), k, self.member(), self.value(), self.member(), self.num()],
            36 => vec!["hget".into(), k, self.member()],
            37 => vec!["hdel".into(), k, self.member(), self.member()],
            38 => vec!["hlen".into(), k],
            39 => vec!["hexists".into(), k, self.member()],
            40 => vec!["hincrby".into(), k, self.member(), self.num()],
            41 => vec!["hincrbyfloat".into(), k, self.member(), self.float()],
            42 => vec!["hmget".into(), k, self.member(), self.member()],
            43 => vec!["hsetnx".into(), k, self.member(), self.value()],
            44 => vec!["hstrlen".into(), k, self.member()],
            45 => vec![self.pick(&["hgetall", "hkeys", "hvals"]).into(), k],
            // sets
            46 => vec!["sadd".into(), k, self.member(), self.member(), self.member()],
            47 => vec!["srem".into(), k, self.member()],
            48 => vec!["scard".into(), k],
            49 => vec!["sismember".into(), k, self.member()],
            50 => vec!["smismember".into(), k, self.member(), self.member()],
            51 => vec!["smembers".into(), k],
            52 => vec![self.pick(&["sinter", "sunion", "sdiff"]).into(), k, self.key()],
            53 => vec![self.pick(&["sinterstore", "sunionstore", "sdiffstore"]).into(), k, self.key(), self.key()],
            54 => vec!["smove".into(), k, self.key(), self.member()],
            55 => vec![
                "sintercard".into(),
                "2".into(),
                k,
                self.key(),
                "limit".into(),
                self.pick(&["0", "1", "-1"]).into(),
            ],
            // sorted sets
            56 => vec!["zadd".into(), k, self.small_int(), self.member()],
            57 => {
                let mut c = vec!["zadd".into(), k];
                for _ in 0..self.rng.below(3) {
                    c.push(self.pick(&["nx", "xx", "gt", "lt", "ch", "incr"]).into());
                }
                c.extend([self.float(), self.member()]);
                if self.chance(2) {
                    c.extend([self.small_int(), self.member()]);
                }
                c
            }
            58 => vec!["zscore".into(), k, self.member()],
            59 => vec!["zincrby".into(), k, self.float(), self.member()],
            60 => {
                let mut c = vec!["zrange".into(), k];
                match self.rng.below(3) {
                    0 => c.extend([self.small_int(), self.small_int()]),
                    1 => c.extend([self.score_bound(), self.score_bound(), "byscore".into()]),
                    _ => c.extend([self.lex_bound(), self.lex_bound(), "bylex".into()]),
                }
                if self.chance(2) {
                    c.push("rev".into());
                }
                if self.chance(3) {
                    c.extend([
                        "limit".into(),
                        self.pick(&["0", "1", "-1"]).into(),
                        self.pick(&["1", "2", "-1", "0"]).into(),
                    ]);
                }
                if self.chance(2) {
                    c.push("withscores".into());
                }
                c
            }
            61 => vec!["zrangebyscore".into(), k, self.score_bound(), self.score_bound(), "withscores".into()],
            62 => vec![self.pick(&["zrank", "zrevrank"]).into(), k, self.member()],
            63 => vec!["zrem".into(), k, self.member(), self.member()],
            64 => vec!["zcard".into(), k],
            65 => vec!["zcount".into(), k, self.score_bound(), self.score_bound()],
            66 => vec!["zlexcount".into(), k, self.lex_bound(), self.lex_bound()],
            67 => vec![self.pick(&["zpopmin", "zpopmax"]).into(), k, self.pick(&["1", "2", "0", "-1"]).into()],
            68 => {
                let mut c =
                    vec![self.pick(&["zunionstore", "zinterstore"]).into(), k, "2".into(), self.key(), self.key()];
                if self.chance(2) {
                    c.extend(["weights".into(), self.float(), self.small_int()]);
                }
                if self.chance(2) {
                    c.extend(["aggregate".into(), self.pick(&["sum", "min", "max", "avg"]).into()]);
                }
                c
            }
            69 => vec!["zdiff".into(), "2".into(), k, self.key(), "withscores".into()],
            70 => vec!["zmscore".into(), k, self.member(), self.member()],
            71 => vec!["zremrangebyrank".into(), k, self.small_int(), self.small_int()],
            72 => vec!["zremrangebyscore".into(), k, self.score_bound(), self.score_bound()],
            73 => vec!["zrangestore".into(), k, self.key(), self.small_int(), self.small_int()],
            // bitmaps and HyperLogLog
            74 => vec![
                "setbit".into(),
                k,
                self.pick(&["0", "7", "100", "-1", "x"]).into(),
                self.pick(&["0", "1", "2"]).into(),
            ],
            75 => vec!["getbit".into(), k, self.pick(&["0", "7", "100"]).into()],
            76 => {
                let mut c = vec!["bitcount".into(), k];
                if self.chance(2) {
                    c.extend([self.small_int(), self.small_int()]);
                    if self.chance(2) {
                        c.push(self.pick(&["byte", "bit", "word"]).into());
                    }
                }
                c
            }
            77 => vec!["bitpos".into(), k, self.pick(&["0", "1", "2"]).into(), self.small_int()],
            78 => {
                vec!["bitop".into(), self.pick(&["and", "or", "xor", "not", "nand"]).into(), k, self.key(), self.key()]
            }
            79 => vec![
                "bitfield".into(),
                k,
                "incrby".into(),
                self.pick(&["u8", "i5", "u64", "i64", "x"]).into(),
                self.pick(&["0", "3", "#1"]).into(),
                self.small_int(),
                "get".into(),
                "u4".into(),
                "0".into(),
            ],
            80 => vec!["pfadd".into(), k, self.member(), self.member()],
            81 => vec!["pfcount".into(), k, self.key()],
            82 => vec!["pfmerge".into(), k, self.key()],
            // generic
            83 => vec!["del".into(), k, self.key()],
            84 => vec!["exists".into(), k.clone(), self.key(), k],
            85 => vec!["type".into(), k],
            86 => vec![self.pick(&["rename", "renamenx"]).into(), k, self.key()],
            87 => {
                let mut c = vec!["copy".into(), k, self.key()];
                if self.chance(2) {
                    c.push("replace".into());
                }
                c
            }
            88 => vec![
                self.pick(&["expireat", "pexpireat"]).into(),
                k,
                self.pick(&["4000000000", "4100000000000", "x"]).into(),
            ],
            89 => vec!["persist".into(), k],
            90 => vec![self.pick(&["expiretime", "pexpiretime"]).into(), k],
            91 => vec!["object".into(), "encoding".into(), k],
            92 => {
                let mut c = vec!["sort".into(), k];
                if self.chance(2) {
                    c.push("alpha".into());
                }
                if self.chance(2) {
                    c.push("desc".into());
                }
                if self.chance(3) {
                    c.extend(["limit".into(), self.pick(&["0", "1"]).into(), self.pick(&["2", "-1"]).into()]);
                }
                c
            }
            93 => s(&["keys", "*"]),
            94 => s(&["dbsize"]),
            _ => vec!["unlink".into(), k],
        };
        // Now and then, a word too few or too many: arity and syntax errors.
        match self.rng.below(40) {
            0 if c.len() > 1 => {
                c.pop();
            }
            1 => c.push(self.member()),
            _ => {}
        }
        c
    }
}

#[test]
fn random_commands_answer_as_redis_resp2() {
    for seed in seeds() {
        let mut g = Gen { rng: Rng::new(seed) };
        replay(&SPEC, seed, steps(), 2, || g.command());
    }
}

#[test]
fn random_commands_answer_as_redis_resp3() {
    for seed in seeds() {
        let mut g = Gen { rng: Rng::new(seed + 1000) };
        replay(&SPEC, seed + 1000, steps(), 3, || g.command());
    }
}
