//! Random command sequences over the data commands the other generators never draw:
//! the older range forms of sorted sets (ZREVRANGE, ZRANGEBYLEX, ZREVRANGEBYSCORE ...),
//! SETEX/PSETEX/DECR/HMSET/RPUSHX, the blocking pops (on keys that hold data, and on
//! empty ones with a short timeout), and the random-member commands where their answer
//! is no draw: a count at least the size (the whole collection, compared as a set), 0,
//! a missing key, a wrong type. Replayed on redis-server and on shardis (1 and 4
//! shards, RESP2 and RESP3) with the engine of `common::diff`, which compares every
//! reply and the datasets' `DEBUG DIGEST` at the end.

use crate::common;

use common::diff::{Spec, replay_with, seeds, steps};
use common::*;

const KEYS: [&str; 7] = ["a", "b", "c", "n", "zz", "{a}x", "lx"];
const MEMBERS: [&str; 8] = ["m1", "m2", "m3", "x", "", "10", "-2", "3.5"];

/// The random-member commands' answers, with a count at least the size, are the whole
/// collection in an order of the server's choosing (HRANDFIELD and ZRANDMEMBER are
/// sorted by `whole_draw`, which keeps their pairs together).
const SPEC: Spec = Spec {
    tag: "diff-more",
    keys: &KEYS,
    unordered: &["srandmember", "spop", "smembers", "hkeys", "hvals", "hgetall"],
};

struct Gen {
    rng: Rng,
}

impl Gen {
    fn pick(&mut self, from: &[&str]) -> String {
        from[self.rng.below(from.len() as u64) as usize].to_string()
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.rng.below(one_in) == 0
    }
    /// "lx" is written by ZADD with score 0 alone, so lex ranges over it are in lex
    /// order (over members of different scores Redis's answer depends on its
    /// skiplist's random levels).
    fn key(&mut self) -> String {
        self.pick(&KEYS[..6])
    }
    fn member(&mut self) -> String {
        self.pick(&MEMBERS)
    }
    fn score(&mut self) -> String {
        self.pick(&["0", "1", "2", "-1", "1.5", "inf", "-inf", "x", "2"])
    }
    fn score_bound(&mut self) -> String {
        self.pick(&["-inf", "+inf", "(1", "0", "2", "(2", "1.5", "x", "3"])
    }
    fn lex_bound(&mut self) -> String {
        self.pick(&["-", "+", "[m1", "(m2", "[x", "(", "m", "[", "[10"])
    }
    fn index(&mut self) -> String {
        (self.rng.below(9) as i64 - 4).to_string()
    }
    /// A count whose answer is no draw: at least the size, 0, or not a count.
    fn whole_count(&mut self) -> String {
        self.pick(&["100", "0", "20", "x", "100"])
    }
    fn timeout(&mut self) -> String {
        self.pick(&["0.01", "0.01", "-1", "x"])
    }

    fn command(&mut self) -> Vec<String> {
        let k = self.key();
        let mut c: Vec<String> = match self.rng.below(36) {
            // filling
            0..=2 => vec!["zadd".into(), k, self.score(), self.member(), self.score(), self.member()],
            3 => vec!["zadd".into(), "lx".into(), "0".into(), self.member(), "0".into(), self.member()],
            4 | 5 => vec!["sadd".into(), k, self.member(), self.member(), self.member()],
            6 | 7 => vec![self.pick(&["rpush", "lpush", "rpushx", "lpushx"]), k, self.member(), self.member()],
            8 => vec!["hmset".into(), k, self.member(), self.member(), self.member(), self.member()],
            // Times far from running out (in seconds or milliseconds), or not times.
            9 => vec![
                self.pick(&["setex", "psetex"]),
                k,
                self.pick(&["100000", "0", "-5", "x", "1000000"]),
                self.member(),
            ],
            10 => vec![self.pick(&["decr", "incr"]), k],
            11 => vec!["set".into(), k, self.pick(&["5", "-9223372036854775808", "x", "1.5"])],
            // the older sorted-set ranges
            12 => vec![self.pick(&["zrevrange", "zrange"]), k, self.index(), self.index()],
            13 => {
                let mut c =
                    vec![self.pick(&["zrangebyscore", "zrevrangebyscore"]), k, self.score_bound(), self.score_bound()];
                if self.chance(2) {
                    c.push("withscores".into());
                }
                if self.chance(3) {
                    c.extend(["limit".into(), self.pick(&["0", "1", "-1"]), self.pick(&["1", "2", "-1", "0"])]);
                }
                c
            }
            14 | 15 => {
                let src = if self.chance(4) { k } else { "lx".into() };
                let mut c = vec![
                    self.pick(&["zrangebylex", "zrevrangebylex", "zlexcount"]),
                    src,
                    self.lex_bound(),
                    self.lex_bound(),
                ];
                if c[0] != "zlexcount" && self.chance(3) {
                    c.extend(["limit".into(), self.pick(&["0", "1", "-1"]), self.pick(&["1", "2", "-1", "0"])]);
                }
                c
            }
            16 => {
                let src = if self.chance(4) { k } else { "lx".into() };
                vec!["zremrangebylex".into(), src, self.lex_bound(), self.lex_bound()]
            }
            17 => vec!["zremrangebyscore".into(), k, self.score_bound(), self.score_bound()],
            18 => vec!["zrange".into(), k, "0".into(), "-1".into(), "withscores".into()],
            // blocking pops: served at once from a key that holds data, or waiting out
            // a short timeout on empty ones
            19 | 20 => {
                let mut c = vec![self.pick(&["blpop", "brpop", "bzpopmin", "bzpopmax"]), k];
                if self.chance(2) {
                    c.push(self.key());
                }
                c.push(self.timeout());
                c
            }
            21 => {
                let mut c = vec![self.pick(&["blmove", "brpoplpush"]), k, self.key()];
                if c[0] == "blmove" {
                    c.extend([self.pick(&["left", "right"]), self.pick(&["right", "left", "up"])]);
                }
                c.push(self.timeout());
                c
            }
            22 => {
                let mut c = vec![
                    self.pick(&["blmpop", "bzmpop"]),
                    self.timeout(),
                    self.pick(&["1", "2", "0", "x"]),
                    k,
                    self.key(),
                ];
                c.push(if c[0] == "blmpop" {
                    self.pick(&["left", "right", "min"])
                } else {
                    self.pick(&["min", "max", "left"])
                });
                if self.chance(2) {
                    c.extend(["count".into(), self.pick(&["1", "2", "0", "-1"])]);
                }
                c
            }
            // the random-member commands, without a draw
            23 | 24 => vec!["srandmember".into(), k, self.whole_count()],
            25 => vec!["spop".into(), k, self.whole_count()],
            26 | 27 => {
                let mut c = vec!["hrandfield".into(), k, self.whole_count()];
                if self.chance(2) {
                    c.push("withvalues".into());
                }
                c
            }
            28 | 29 => {
                let mut c = vec!["zrandmember".into(), k, self.whole_count()];
                if self.chance(2) {
                    c.push("withscores".into());
                }
                c
            }
            // reads that show the state
            30 => vec!["smembers".into(), k],
            31 => vec![self.pick(&["hgetall", "hkeys", "hvals", "hlen"]), k],
            32 => vec![self.pick(&["lrange", "zrange"]), k, "0".into(), "-1".into()],
            33 => vec![self.pick(&["get", "type", "exists", "ttl"]), k],
            34 => vec![self.pick(&["del", "unlink"]), k],
            _ => vec!["zrangestore".into(), k, "lx".into(), self.lex_bound(), self.lex_bound(), "bylex".into()],
        };
        // Now and then a word too few or too many: arity and syntax errors (never the
        // count of a random-member command: without it the answer is a draw).
        let draws = ["srandmember", "spop", "hrandfield", "zrandmember"].contains(&c[0].as_str());
        match self.rng.below(40) {
            0 if c.len() > 1 && !draws => {
                c.pop();
            }
            1 => c.push(self.pick(&["x", "1", "count"])),
            _ => {}
        }
        c
    }
}

/// HRANDFIELD and ZRANDMEMBER with a count: sorted, and with their values (RESP2 flat,
/// RESP3 an array of pairs) as a set of pairs rather than of words.
fn whole_draw(cmd: &[String], r: Resp) -> Resp {
    if cmd[0] != "hrandfield" && cmd[0] != "zrandmember" {
        return r;
    }
    let row = if cmd.len() > 3 { 2 } else { 1 };
    match r {
        Resp::Array(v) => {
            let flat = v.iter().all(|e| !matches!(e, Resp::Array(_)));
            let mut rows: Vec<Vec<Resp>> = if flat {
                v.chunks(row).map(|c| c.to_vec()).collect()
            } else {
                v.into_iter().map(|e| vec![e]).collect()
            };
            rows.sort_by_key(|r| format!("{r:?}"));
            Resp::Array(rows.into_iter().flatten().collect())
        }
        other => other,
    }
}

fn run(proto: u8) {
    for seed in seeds() {
        let mut g = Gen { rng: Rng::new(seed + 700 + if proto == 3 { 1000 } else { 0 }) };
        replay_with(&SPEC, seed, steps(), proto, whole_draw, || g.command());
    }
}

#[test]
fn older_forms_blocking_pops_and_whole_draws_answer_as_redis_resp2() {
    run(2);
}

#[test]
fn older_forms_blocking_pops_and_whole_draws_answer_as_redis_resp3() {
    run(3);
}
