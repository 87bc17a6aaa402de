//! The encoding tunables act as in Redis 7.0: `hash-max-listpack-*`,
//! `zset-max-listpack-*`, `set-max-intset-entries` and `list-max-listpack-size` (and
//! their `*-ziplist-*` aliases), set by flag or CONFIG SET, on 1 and 4 shards, against
//! a real redis-server run side by side: the same command sequences give the same
//! replies and the same OBJECT ENCODING after every step, a reload or restart under
//! lower limits converts as Redis's loader does, and a replica configured alike gets
//! its master's encodings. `list-compress-depth` has its own tests (`list_compress`).

use crate::common::repl::{Kind, Node, NodePair as Pair, wait_in_sync};
use crate::common::{Resp, raw_to};
use std::time::Duration;

/// Low limits, so a few commands cross every threshold.
const LOW: &[(&str, &str)] = &[
    ("hash-max-listpack-entries", "4"),
    ("hash-max-listpack-value", "8"),
    ("zset-max-listpack-entries", "3"),
    ("zset-max-listpack-value", "8"),
    ("set-max-intset-entries", "5"),
    ("list-max-listpack-size", "3"),
];

/// The same limits under the old names Redis still accepts.
const LOW_ALIASES: &[(&str, &str)] = &[
    ("hash-max-ziplist-entries", "4"),
    ("hash-max-ziplist-value", "8"),
    ("zset-max-ziplist-entries", "3"),
    ("zset-max-ziplist-value", "8"),
    ("set-max-intset-entries", "5"),
    ("list-max-ziplist-size", "3"),
];

fn flags(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs.iter().flat_map(|(k, v)| [format!("--{k}"), v.to_string()]).collect()
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

impl Pair {
    /// Asserts OBJECT ENCODING of each key is the same on both, and returns them.
    fn encodings(&self, keys: &[&str], ctx: &str) -> Vec<Resp> {
        keys.iter()
            .map(|k| {
                let ours = raw_to(self.ours.port).cmd(&["OBJECT", "ENCODING", k]);
                let redis = raw_to(self.redis.port).cmd(&["OBJECT", "ENCODING", k]);
                assert_eq!(ours, redis, "OBJECT ENCODING {k} after {ctx} ({:?})", self.ours.kind);
                ours
            })
            .collect()
    }

    fn config_set(&self, pairs: &[(&str, &str)]) {
        for (k, v) in pairs {
            assert_eq!(self.same(&["CONFIG", "SET", k, v]), Resp::simple("OK"));
        }
    }
}

/// Every key the sequences touch (one hash tag: the STORE and COPY forms span keys).
const KEYS: &[&str] = &[
    "{t}h", "{t}h2", "{t}h3", "{t}z", "{t}z2", "{t}zu", "{t}zr", "{t}g", "{t}s", "{t}s2", "{t}si", "{t}su", "{t}l",
    "{t}hc", "{t}zc", "{t}sd",
];

/// Growth sequences crossing each threshold, one command at a time, comparing replies
/// and every key's encoding after each step.
fn growth(p: &Pair) {
    let long = "0123456789abc"; // longer than the value limits (8)
    let steps: Vec<Vec<&str>> = vec![
        // Hash: entries (4), then a long value, then an overwrite, HINCRBY, HSETNX.
        vec!["HSET", "{t}h", "a", "1", "b", "2", "c", "3"],
        vec!["HSET", "{t}h", "d", "4"],
        vec!["HSET", "{t}h", "a", "9"],
        vec!["HSET", "{t}h", "e", "5"],
        vec!["HSET", "{t}h2", "f", long],
        vec!["HSET", "{t}h3", long, "v"],
        vec!["HINCRBY", "{t}hc", "n", "1"],
        vec!["HSETNX", "{t}hc", "m", "1"],
        vec!["HINCRBYFLOAT", "{t}hc", "x", "1.5"],
        vec!["HSETNX", "{t}hc", "y", "12345678901234567890"],
        // Sorted set: entries (3), a long member, score updates, the STORE forms.
        vec!["ZADD", "{t}z", "1", "a", "2", "b"],
        vec!["ZADD", "{t}z", "3", "c"],
        vec!["ZINCRBY", "{t}z", "5", "a"],
        vec!["ZADD", "{t}zc", "1", "a", "1", "a", "1", "a", "1", "a"],
        vec!["ZADD", "{t}z", "4", "d"],
        vec!["ZADD", "{t}z2", "1", long],
        vec!["ZUNIONSTORE", "{t}zu", "1", "{t}zc"],
        vec!["ZRANGESTORE", "{t}zr", "{t}z", "0", "1"],
        vec!["ZUNIONSTORE", "{t}zu", "2", "{t}zc", "{t}z"],
        vec!["ZRANGESTORE", "{t}zr", "{t}z2", "0", "-1"],
        vec!["GEOADD", "{t}g", "13.36", "38.11", "pa", "15.08", "37.50", "ct", "2.35", "48.85", "pr"],
        vec!["GEOADD", "{t}g", "0.12", "51.50", "ld"],
        // Set: intset up to 5, then a string, the STORE forms and SMOVE.
        vec!["SADD", "{t}s", "1", "2", "3", "4", "5"],
        vec!["SADD", "{t}s", "5"],
        vec!["SADD", "{t}s", "6"],
        vec!["SADD", "{t}s2", "1", "2"],
        vec!["SADD", "{t}s2", "x"],
        vec!["SADD", "{t}si", "1", "2", "3", "4", "5", "6", "7"],
        // More arguments than the limit, but duplicates leave it within: an intset.
        vec!["SADD", "{t}sd", "0", "2", "-1", "11", "12", "11"],
        vec!["SINTERSTORE", "{t}su", "{t}s", "{t}si"],
        vec!["SUNIONSTORE", "{t}su", "{t}s2", "{t}s"],
        vec!["SDIFFSTORE", "{t}su", "{t}si", "{t}s2"],
        vec!["SMOVE", "{t}si", "{t}s2", "7"],
        // Lists stay quicklist in 7.0 whatever the node size.
        vec!["RPUSH", "{t}l", "a", "b", "c", "d", "e", "f", "g"],
        vec!["LPUSH", "{t}l", long],
        vec!["LINSERT", "{t}l", "BEFORE", "c", "x"],
        vec!["LRANGE", "{t}l", "0", "-1"],
        // COPY keeps the source's encoding.
        vec!["COPY", "{t}z", "{t}zc", "REPLACE"],
        vec!["COPY", "{t}s", "{t}hc", "REPLACE"],
    ];
    for s in &steps {
        p.same(s);
        p.encodings(KEYS, &format!("{s:?}"));
    }
}

fn growth_on(shards: usize, by_config_set: bool, aliases: bool) {
    let pairs = if aliases { LOW_ALIASES } else { LOW };
    let f = flags(pairs);
    let p = if by_config_set { Pair::start(shards, &[]) } else { Pair::start(shards, &as_strs(&f)) };
    if by_config_set {
        p.config_set(pairs);
    }
    for (k, _) in pairs {
        p.same(&["CONFIG", "GET", k]);
    }
    growth(&p);
}

#[test]
fn growth_matches_redis_set_by_flag_1_shard() {
    growth_on(1, false, false);
}

#[test]
fn growth_matches_redis_set_by_flag_4_shards() {
    growth_on(4, false, true);
}

#[test]
fn growth_matches_redis_set_by_config_set_1_shard() {
    growth_on(1, true, true);
}

#[test]
fn growth_matches_redis_set_by_config_set_4_shards() {
    growth_on(4, true, false);
}

/// Values made under the defaults keep their encoding when the limits drop, until a
/// write converts them; raising the limits again converts nothing back. CONFIG SET
/// reaches every shard (keys spread over 4).
#[test]
fn lowered_limits_convert_on_next_write_only() {
    let p = Pair::start(4, &[]);
    let keys: Vec<String> = (0..8).flat_map(|i| [format!("h{i}"), format!("z{i}"), format!("s{i}")]).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    for i in 0..8 {
        p.same(&["HSET", &format!("h{i}"), "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6"]);
        p.same(&["ZADD", &format!("z{i}"), "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]);
        p.same(&["SADD", &format!("s{i}"), "1", "2", "3", "4", "5", "6", "7"]);
    }
    p.encodings(&keys, "filling under the defaults");
    p.config_set(LOW);
    p.encodings(&keys, "lowering the limits");
    for i in 0..8 {
        // Reads and removals convert nothing; an overwrite of a hash field does.
        p.same(&["HGET", &format!("h{i}"), "a"]);
        p.same(&["ZSCORE", &format!("z{i}"), "a"]);
        p.same(&["SREM", &format!("s{i}"), "7"]);
        p.encodings(&keys, "reads");
        p.same(&["HSET", &format!("h{i}"), "a", "2"]);
        p.same(&["ZADD", &format!("z{i}"), "9", "a"]);
        p.same(&["SADD", &format!("s{i}"), "1"]);
        p.encodings(&keys, "overwrites");
        p.same(&["ZADD", &format!("z{i}"), "9", "new"]);
        p.same(&["SADD", &format!("s{i}"), "100"]);
        p.encodings(&keys, "growing writes");
    }
    // Back up: nothing returns to the compact encodings, small new values start there.
    p.config_set(&[("hash-max-listpack-entries", "512"), ("zset-max-listpack-entries", "128")]);
    p.config_set(&[("set-max-intset-entries", "512")]);
    for i in 0..8 {
        p.same(&["HDEL", &format!("h{i}"), "a", "b", "c", "d", "e"]);
        p.same(&["ZREM", &format!("z{i}"), "a", "b", "c", "d", "e"]);
        p.same(&["HSET", &format!("n{i}"), "a", "1"]);
    }
    p.encodings(&keys, "raising the limits");
    let fresh: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
    p.encodings(&as_strs(&fresh), "new values");
}

/// DEBUG RELOAD and a restart under lower limits convert what the loader must: values
/// saved element by element are rebuilt under the limits (smaller may become compact),
/// saved listpacks stay listpacks unless they have too many entries, intsets convert
/// past the limit. DUMP/RESTORE follows the same rules.
#[test]
fn reload_and_restart_convert_as_redis_does() {
    for shards in [1, 4] {
        let mut p = Pair::start(shards, &[]);
        let long = "0123456789abc";
        p.same(&["HSET", "hl", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]);
        p.same(&["HSET", "hv", long, "1", "b", "2"]);
        p.same(&["HSET", "ht", "a", "x".repeat(100).as_str()]);
        p.same(&["HSET", "ht", "a", "1"]);
        p.same(&["ZADD", "zl", "1", "a", "2", "b", "3", "c", "4", "d"]);
        p.same(&["ZADD", "zv", "1", long, "2", "b"]);
        p.same(&["SADD", "si", "1", "2", "3", "4", "5", "6", "7"]);
        p.same(&["SADD", "sm", "1", "2", "3"]);
        p.same(&["RPUSH", "l", "a", "b", "c"]);
        let keys = ["hl", "hv", "ht", "zl", "zv", "si", "sm", "l"];
        p.encodings(&keys, "filling");
        let dumps: Vec<Resp> = keys.iter().map(|k| raw_to(p.redis.port).cmd(&["DUMP", k])).collect();
        p.config_set(LOW);
        p.same(&["DEBUG", "RELOAD"]);
        p.encodings(&keys, "DEBUG RELOAD under lower limits");
        // RESTORE of Redis's own payloads, under the low limits.
        for (k, d) in keys.iter().zip(&dumps) {
            let Resp::Bulk(d) = d else { panic!("DUMP {k}: {d:?}") };
            let r = format!("r{k}");
            let args: Vec<&[u8]> = vec![b"RESTORE", r.as_bytes(), b"0", d];
            assert_eq!(raw_to(p.ours.port).cmd(&args), raw_to(p.redis.port).cmd(&args));
        }
        let restored: Vec<String> = keys.iter().map(|k| format!("r{k}")).collect();
        p.encodings(&as_strs(&restored), "RESTORE under lower limits");
        // A restart with even lower limits (flags) loads the saved file under them.
        p.same(&["CONFIG", "SET", "hash-max-listpack-entries", "512"]);
        p.same(&["HSET", "hl", "f", "6"]);
        p.same(&["SAVE"]);
        p.ours.shutdown_save();
        p.redis.shutdown_save();
        let tighter = flags(&[("hash-max-listpack-entries", "2"), ("zset-max-listpack-entries", "1")]);
        p.ours.restart(&as_strs(&tighter));
        p.redis.restart(&as_strs(&tighter));
        p.encodings(&keys, "a restart under lower limits");
        p.encodings(&as_strs(&restored), "a restart under lower limits");
    }
}

/// A replica configured with the same limits as its master ends up with the same
/// encodings, through the full sync (an RDB) and the command stream after it.
#[test]
fn replica_gets_the_masters_encodings() {
    let f = flags(LOW);
    let master = Node::start(Kind::Shardis(2), &as_strs(&f));
    let redis = Node::start(Kind::Redis, &as_strs(&f));
    let both = |args: &[&str]| {
        assert_eq!(raw_to(master.port).cmd(args), raw_to(redis.port).cmd(args), "{args:?}");
    };
    let long = "0123456789abc";
    both(&["HSET", "h1", "a", "1"]);
    both(&["HSET", "h2", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]);
    both(&["ZADD", "z1", "1", long]);
    both(&["SADD", "s1", "1", "2"]);
    both(&["RPUSH", "l1", "a", "b", "c", "d"]);
    let replica = Node::start_replica_of(Kind::Shardis(3), master.port, &as_strs(&f));
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    both(&["HSET", "h3", "a", long]);
    both(&["ZADD", "z2", "1", "a", "2", "b"]);
    both(&["SADD", "s2", "1", "2", "3", "4", "5", "6"]);
    both(&["HSET", "h1", "b", "2"]);
    wait_in_sync(&master, &replica, Duration::from_secs(30));
    for k in ["h1", "h2", "h3", "z1", "z2", "s1", "s2", "l1"] {
        let want = raw_to(redis.port).cmd(&["OBJECT", "ENCODING", k]);
        assert_eq!(raw_to(master.port).cmd(&["OBJECT", "ENCODING", k]), want, "master, {k}");
        assert_eq!(raw_to(replica.port).cmd(&["OBJECT", "ENCODING", k]), want, "replica, {k}");
    }
}
