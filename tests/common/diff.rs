//! The engine of the differential tests (`tests/diff_random*.rs`): a generator draws
//! commands from a seed, `replay` runs each on redis-server and on shardis (1 and 4
//! shards) in one protocol, compares every reply, and at the end the datasets by
//! `DEBUG DIGEST`. A failure names the seed, the step, the command and the last commands
//! on its keys, and writes the whole sequence (one JSON array of words per line) to a
//! kept directory, so it replays with `DIFF_SEED=<seed>` (and `DIFF_STEPS`).

use super::compare::{Pair, real_redis};
use super::{Raw, Resp, SHARD_COUNTS, Server, temp_dir};

/// What a test tells `replay` about its commands.
pub struct Spec<'a> {
    /// Names the redis-server's directory and the failure's history file.
    pub tag: &'a str,
    /// The keys the generator draws from (a failure lists earlier commands on them).
    pub keys: &'a [&'a str],
    /// Commands whose reply array is in a hash order on Redis's side: compared as sets.
    pub unordered: &'a [&'a str],
}

/// A reply normalized for comparison: arrays and sets of unordered commands sorted
/// (maps by key).
pub fn normalized(unordered: &[&str], cmd: &str, r: Resp) -> Resp {
    if !unordered.contains(&cmd) {
        return r;
    }
    let key = |e: &Resp| format!("{e:?}");
    match r {
        Resp::Array(mut v) if cmd == "hgetall" => {
            // RESP2 HGETALL: field, value, field, value ...: sort the pairs.
            let mut pairs: Vec<Vec<Resp>> = v.chunks(2).map(|p| p.to_vec()).collect();
            pairs.sort_by_key(|p| format!("{p:?}"));
            v = pairs.into_iter().flatten().collect();
            Resp::Array(v)
        }
        Resp::Array(mut v) => {
            v.sort_by_key(key);
            Resp::Array(v)
        }
        Resp::Set(mut v) => {
            v.sort_by_key(key);
            Resp::Set(v)
        }
        Resp::Map(mut v) => {
            v.sort_by_key(|(k, _)| key(k));
            Resp::Map(v)
        }
        other => other,
    }
}

pub fn digest(c: &mut Raw) -> Resp {
    c.cmd(&["debug", "digest"])
}

/// Replays `steps` commands drawn by `next_command` on redis-server and on each shard
/// count, in `proto`, comparing every reply and the digests at the end. `seed` is only
/// named in failures: the generator was seeded with it.
pub fn replay(spec: &Spec, seed: u64, steps: usize, proto: u8, next_command: impl FnMut() -> Vec<String>) {
    replay_with(spec, seed, steps, proto, |_, r| r, next_command)
}

/// `replay`, with each reply (both sides) passed through `adjust` with the command's
/// words first: it blanks the fields that are time, not data (an idle time, a delivery
/// time), so the rest of the reply is still compared.
pub fn replay_with(
    spec: &Spec,
    seed: u64,
    steps: usize,
    proto: u8,
    adjust: impl Fn(&[String], Resp) -> Resp,
    mut next_command: impl FnMut() -> Vec<String>,
) {
    let real = real_redis(spec.tag);
    let servers: Vec<Server> = SHARD_COUNTS.iter().map(|&n| Server::start(n, &[])).collect();
    let mut pairs: Vec<(usize, Pair)> =
        SHARD_COUNTS.iter().zip(&servers).map(|(&n, s)| (n, Pair::new(s, &real, proto))).collect();
    let mut history: Vec<String> = Vec::new();
    let mut words: Vec<Vec<String>> = Vec::new();
    let mut differences = 0;
    for step in 0..steps {
        let cmd = next_command();
        let shown = cmd.join(" ");
        let name = cmd[0].clone();
        let mut theirs: Option<Resp> = None;
        for (n, p) in pairs.iter_mut() {
            let ours = adjust(&cmd, normalized(spec.unordered, &name, p.ours.cmd(&cmd)));
            // redis-server runs each command once: its reply is read from the first
            // pair and compared against every shard count.
            let want = match &theirs {
                Some(t) => t.clone(),
                None => {
                    let t = adjust(&cmd, normalized(spec.unordered, &name, p.theirs.cmd(&cmd)));
                    theirs = Some(t.clone());
                    t
                }
            };
            if ours != want {
                let keys: Vec<&String> = cmd.iter().skip(1).filter(|w| spec.keys.contains(&w.as_str())).collect();
                let related: Vec<&String> =
                    history.iter().filter(|h| keys.iter().any(|k| h.split(' ').any(|w| w == k.as_str()))).collect();
                let tail = &related[related.len().saturating_sub(16)..];
                let replay_file = temp_dir(&format!("{}-history", spec.tag)).join("commands.txt");
                let all: String = words.iter().chain(std::iter::once(&cmd)).map(|w| format!("{w:?}\n")).collect();
                std::fs::write(&replay_file, all).expect("write the history");
                let report = format!(
                    "seed {seed}, RESP{proto}, step {step}, {n} shard(s): replies differ for `{shown}`\n shardis: {ours:?}\n   redis: {want:?}\nall commands so far (one JSON array of words per line): {replay_file:?}\nearlier commands on its keys:\n  {}",
                    tail.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
                );
                // DIFF_KEEP_GOING=1 (while hunting): report every difference, fail at
                // the end. Later ones may follow from the first.
                if std::env::var_os("DIFF_KEEP_GOING").is_none() {
                    panic!("{report}");
                }
                eprintln!("{report}\n");
                differences += 1;
            }
        }
        history.push(shown);
        words.push(cmd);
    }
    assert_eq!(differences, 0, "seed {seed}, RESP{proto}: {differences} replies differ (above)");
    let want = digest(&mut pairs[0].1.theirs);
    for (n, p) in pairs.iter_mut() {
        assert_eq!(
            digest(&mut p.ours),
            want,
            "seed {seed}, RESP{proto}: DEBUG DIGEST differs with {n} shard(s) after {steps} steps"
        );
    }
}

/// The seeds to run: `DIFF_SEED` alone, or 1 to 6.
pub fn seeds() -> Vec<u64> {
    match std::env::var("DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("DIFF_SEED is a number")],
        Err(_) => (1..=6).collect(),
    }
}

/// Commands per seed: `DIFF_STEPS`, or 600.
pub fn steps() -> usize {
    std::env::var("DIFF_STEPS").map(|s| s.parse().expect("DIFF_STEPS is a number")).unwrap_or(600)
}
