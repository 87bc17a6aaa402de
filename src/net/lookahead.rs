//! Warming the keyspace for a pipelined batch before it runs.
//!
//! With many keys (more than the caches hold) a key lookup is a chain of dependent
//! cache misses: the index's control group, the bucket's slot number, the slot, and a
//! long key's heap block (`storage::table`). Run one request after another, a batch of
//! 16 pipelined `INCR`s waits for 64 misses in a row. Yet all 16 requests are already
//! in the read buffer: this module skims them (without the parser: only complete
//! multibulk requests, key = the second argument, a script's declared keys), hashes
//! their keys, and walks the lookup chain one stage at a time over all of them
//! (`storage::Warm`), so the misses of one stage overlap. The requests then run as
//! before and find their data cached.
//!
//! It is a hint only: a skimmed "key" that is not one (a subcommand, a command on
//! another database after a `SELECT` in the same batch) costs a wasted load, never a
//! wrong answer. It is skipped where it cannot pay: small databases (everything is
//! cached), one request at a time (nothing to overlap), keys owned by other shards, and
//! a request whose keys span shards (a split command: its part here runs only when the
//! turn's outbox is flushed, and warms its keys then, `cmd::coord_split`).
//! Under `pipeline-order strict` the window also ends at the first request for
//! another shard: the requests after it wait for its reply (`cmd::order`), a round
//! trip between the shard threads during which other connections' work evicts what
//! was warmed, so they are warmed when they run (warming them twice, or once too
//! early, cost more than the misses it saved).

use crate::shard::ShardState;

/// Requests (and keys) warmed together: one receive of a `-P 16` client, and about
/// what the CPU's fill buffers can keep in flight per stage.
const WINDOW: usize = 16;

/// Keys longer than this are not worth hashing twice.
const MAX_KEY: usize = 256;

/// Requests with more arguments than this are not skimmed past (stop there).
const MAX_ARGS: usize = 64;

/// Warms the keys of the complete requests at the start of `input` (up to `WINDOW`
/// requests or keys) in database `db`. Returns how many bytes the skimmed requests
/// take: the caller warms again once it has run past them (0 when the first request
/// is not a complete multibulk one; all of `input` when the database is too small).
pub fn warm_batch(st: &ShardState, db: u16, input: &[u8]) -> usize {
    let Some(d) = st.dbs.get(db as usize) else { return input.len() };
    if d.len() < crate::storage::db::WARM_MIN_KEYS {
        // Not worth a look for this batch (even if it grows the database).
        return input.len();
    }
    let mut keys = [(0usize, 0usize); WINDOW];
    let (mut n, mut pos) = (0, 0);
    let mut scripts = false;
    let stop_at_foreign = st.nshards > 1 && st.config.pipeline_order_strict;
    for _ in 0..WINDOW {
        let (at, before) = (pos, n);
        let mut full = false;
        let (mut foreign, mut local) = (false, false);
        let Some(len) = skim(&input[at..], |start, len| {
            if foreign && local {
                // Keys on several shards: nothing of it is warmed (below).
            } else if st.nshards > 1
                && crate::shard::shard_of(&input[at + start..at + start + len], st.nshards) != st.id
            {
                foreign = true;
            } else if n == WINDOW {
                local = true;
                full = true;
            } else {
                local = true;
                if len <= MAX_KEY {
                    keys[n] = (at + start, len);
                    n += 1;
                }
            }
        }) else {
            break;
        };
        if full && before > 0 {
            // Its keys go into the next window, whole.
            n = before;
            break;
        }
        if foreign && local {
            // Keys here and on other shards: a split command (its part here runs when
            // the turn's outbox is flushed, `cmd::coord_split`, and warms its keys
            // then) or a transaction. Warmed now, they would be cold again by then.
            n = before;
        }
        if foreign && stop_at_foreign {
            // The requests after it wait for it (warmed when they run). Not skimmed
            // again: it is past the window.
            pos += len;
            break;
        }
        scripts |= n > before && names_script(&input[at..]);
        pos += len;
        if n == WINDOW {
            break;
        }
    }
    if n < 2 {
        return pos;
    }
    let mut hashes = [0u64; WINDOW];
    let mut m = 0;
    for &(at, len) in &keys[..n] {
        hashes[m] = d.key_hash(&input[at..at + len]);
        m += 1;
    }
    d.warm_all(&hashes[..m]);
    if scripts {
        // A script's keys: their deadlines too (a rate limiter's keys all have one).
        for &h in &hashes[..m] {
            d.warm_deadline(h);
        }
    }
    pos
}

/// The keys of the turn's connections that each hold one request with one key,
/// warmed together. At `-P 1` every connection with input brings one request, so
/// `warm_batch` finds nothing to overlap within a connection; across the turn's
/// connections there is (a turn holds about five at `-c 50 -P 1`). The same rules as
/// `warm_batch`: only keys this shard owns, in databases big enough to miss, as a
/// hint. A connection with more (several requests, or several keys) is left to its
/// own `warm_batch`, which warms its window when it runs.
pub struct AcrossConns {
    keys: [(u16, u64); WINDOW],
    n: usize,
}

impl Default for AcrossConns {
    fn default() -> Self {
        AcrossConns { keys: [(0, 0); WINDOW], n: 0 }
    }
}

impl AcrossConns {
    /// Notes the key of `input` (a connection's unparsed input, in database `db`) if
    /// it is exactly one complete request naming one key this shard owns. Returns
    /// whether the connection's own `warm_batch` would find nothing (more) to warm
    /// in `input`: one request with at most one key, or a database too small.
    pub fn add(&mut self, st: &ShardState, db: u16, input: &[u8]) -> bool {
        let Some(d) = st.dbs.get(db as usize) else { return true };
        if d.len() < crate::storage::db::WARM_MIN_KEYS {
            return true;
        }
        let (mut keys, mut key) = (0, (0, 0));
        let Some(len) = skim(input, |start, len| {
            keys += 1;
            key = (start, len);
        }) else {
            return false;
        };
        if len != input.len() || keys > 1 {
            return false;
        }
        let key = &input[key.0..key.0 + key.1];
        let local = st.nshards == 1 || crate::shard::shard_of(key, st.nshards) == st.id;
        if keys == 1 && local && key.len() <= MAX_KEY && self.n < WINDOW {
            self.keys[self.n] = (db, d.key_hash(key));
            self.n += 1;
        }
        true
    }

    /// `warm_all`'s stages over every noted key (each in its own database), one stage
    /// for all of them before the next; nothing for a single key (nothing overlaps).
    pub fn warm(&self, st: &ShardState) {
        if self.n < 2 {
            return;
        }
        use crate::storage::Warm;
        for stage in [Warm::Bucket, Warm::Slot, Warm::Key] {
            for &(db, h) in &self.keys[..self.n] {
                st.dbs[db as usize].warm(h, stage);
            }
        }
    }

    /// How many keys were noted (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.n
    }
}

/// Calls `on_key(offset, length)` for each key of the multibulk request at the start
/// of `input` (the second argument; every key of MSET, MSETNX and MGET) and returns
/// the request's length, or `None` when it is not a complete multibulk request
/// (incomplete, inline, malformed or with more than `MAX_ARGS` arguments: the parser
/// decides what those are; keys seen before that point may have been reported).
fn skim(input: &[u8], mut on_key: impl FnMut(usize, usize)) -> Option<usize> {
    let (argc, mut pos) = header(input, b'*')?;
    if argc == 0 || argc > MAX_ARGS {
        return None;
    }
    // Arguments 1, 1 + stride, ... are keys; a script's are the `numkeys` after it.
    let mut stride = argc;
    let mut script = false;
    let mut script_keys = 0..0;
    for i in 0..argc {
        let (len, at) = header(input.get(pos..)?, b'$')?;
        let start = pos + at;
        let end = start.checked_add(len)?;
        if input.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        let arg = &input[start..end];
        if i == 0 && is_script(arg) {
            script = true;
        } else if script {
            if i == 2 {
                script_keys = 3..3 + crate::util::num::parse_u64(arg).map_or(0, |n| n.min(argc as u64) as usize);
            } else if script_keys.contains(&i) {
                on_key(start, len);
            }
        } else if i == 0 && argc > 3 {
            stride = key_stride(arg).unwrap_or(argc);
        } else if i > 0 && (i - 1) % stride == 0 {
            on_key(start, len);
        }
        pos = end + 2;
    }
    Some(pos)
}

/// Is the (complete, skimmed) request at the start of `input` a script's?
fn names_script(input: &[u8]) -> bool {
    let Some((_, at)) = header(input, b'*') else { return false };
    let Some((len, start)) = header(&input[at..], b'$') else { return false };
    input.get(at + start..at + start + len).is_some_and(is_script)
}

/// EVAL, EVALSHA, FCALL and their read-only forms: `<name> <script> <numkeys> key...`.
/// (A script commonly starts with a `redis.call` on its first key, which would miss.)
fn is_script(name: &[u8]) -> bool {
    [&b"evalsha"[..], b"eval", b"fcall", b"evalsha_ro", b"eval_ro", b"fcall_ro"]
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n))
}

/// The distance between the keys of a multi-key command whose keys start at its
/// second argument (the commonly pipelined ones).
fn key_stride(name: &[u8]) -> Option<usize> {
    if name.eq_ignore_ascii_case(b"mset") || name.eq_ignore_ascii_case(b"msetnx") {
        Some(2)
    } else if name.eq_ignore_ascii_case(b"mget") {
        Some(1)
    } else {
        None
    }
}

/// `<mark><decimal>\r\n` at the start of `input`: the number and the bytes it took.
fn header(input: &[u8], mark: u8) -> Option<(usize, usize)> {
    if input.first() != Some(&mark) {
        return None;
    }
    let mut n: usize = 0;
    for (i, &c) in input.iter().enumerate().skip(1).take(12) {
        match c {
            b'0'..=b'9' => n = n * 10 + (c - b'0') as usize,
            b'\r' if i > 1 => return (input.get(i + 1) == Some(&b'\n')).then_some((n, i + 2)),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Warm;

    fn keys_of(input: &[u8]) -> (Option<usize>, Vec<&[u8]>) {
        let mut keys = Vec::new();
        let len = skim(input, |at, len| keys.push(&input[at..at + len]));
        (len, keys)
    }

    #[test]
    fn skims_complete_multibulk_requests_and_their_keys() {
        let two = b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n*1\r\n$4\r\nPING\r\n";
        assert_eq!(keys_of(two), (Some(24), vec![&b"key:1"[..]]));
        assert_eq!(keys_of(&two[24..]), (Some(14), vec![]));
        assert_eq!(keys_of(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"), (Some(26), vec![&b"k"[..]]));
        let mset = b"*5\r\n$4\r\nmSeT\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n";
        assert_eq!(keys_of(mset), (Some(mset.len()), vec![&b"a"[..], b"b"]));
        let mget = b"*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n";
        assert_eq!(keys_of(mget), (Some(mget.len()), vec![&b"a"[..], b"b", b"c"]));
        let hset = b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\nv\r\n";
        assert_eq!(keys_of(hset), (Some(hset.len()), vec![&b"h"[..]]));
        // A script's keys are its `numkeys` arguments after the count, not its body or SHA.
        let evalsha = b"*5\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$4\r\nrl:1\r\n$2\r\n60\r\n";
        assert_eq!(keys_of(evalsha), (Some(evalsha.len()), vec![&b"rl:1"[..]]));
        let fcall = b"*6\r\n$5\r\nfcall\r\n$1\r\nf\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nx\r\n";
        assert_eq!(keys_of(fcall), (Some(fcall.len()), vec![&b"a"[..], b"b"]));
        let none = b"*4\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n$1\r\n0\r\n$1\r\nx\r\n";
        assert_eq!(keys_of(none), (Some(none.len()), vec![]));
        // A count past the arguments (the command's own error) warms what is there.
        let over = b"*4\r\n$4\r\nEVAL\r\n$1\r\ns\r\n$2\r\n99\r\n$1\r\nk\r\n";
        assert_eq!(keys_of(over), (Some(over.len()), vec![&b"k"[..]]));
    }

    #[test]
    fn warming_any_key_at_any_stage_is_harmless() {
        use crate::storage::{Db, Value};
        let mut db = Db::new();
        let stages = [Warm::Bucket, Warm::Slot, Warm::Key];
        for stage in stages {
            db.warm(db.key_hash(b"k"), stage); // no index yet
        }
        // Plain, packed and heap keys, through the index's growth.
        for i in 0..20_000u32 {
            let key = match i % 3 {
                0 => format!("k{i}"),
                1 => format!("key:{i:012}"),
                _ => format!("a-key-too-long-to-be-kept-inline:{i}"),
            };
            db.set(key.as_bytes(), Value::Str(b"v".as_slice().into()), 0);
            for probe in [key.as_bytes(), b"absent"] {
                for stage in stages {
                    db.warm(db.key_hash(probe), stage);
                }
            }
        }
        assert_eq!(db.len(), 20_000);
        assert!(db.peek(b"key:000000019999").is_some());
    }

    /// Under `pipeline-order strict` the window ends after the first request for
    /// another shard (the ones after it wait for its reply); under `per-shard` it goes on.
    #[test]
    fn the_window_ends_at_a_request_for_another_shard_when_order_is_strict() {
        use crate::shard::shard_of;
        use crate::storage::Value;
        let mut h = crate::cmd::harness::Harness::new(2);
        let on = |shard: usize, from: usize| {
            (from..).map(|i| format!("k{i}")).find(|k| shard_of(k.as_bytes(), 2) == shard).expect("a key")
        };
        let st = &mut h.shards[0];
        for i in 0..crate::storage::db::WARM_MIN_KEYS + 1 {
            st.dbs[0].set(on(0, i * 4).as_bytes(), Value::Str(b"v".as_slice().into()), 0);
        }
        let get = |k: &str| format!("*2\r\n$3\r\nGET\r\n${}\r\n{k}\r\n", k.len());
        let head = get(&on(0, 1)) + &get(&on(0, 2)) + &get(&on(1, 3));
        let input = head.clone() + &get(&on(0, 4)) + &get(&on(0, 5));
        assert_eq!(warm_batch(st, 0, input.as_bytes()), head.len(), "strict: up to the foreign request");
        assert_eq!(warm_batch(st, 0, &input.as_bytes()[head.len()..]), input.len() - head.len());
        let mut cfg = (*st.config).clone();
        cfg.pipeline_order_strict = false;
        st.config = std::sync::Arc::new(cfg);
        assert_eq!(warm_batch(st, 0, input.as_bytes()), input.len(), "per-shard: the whole window");
    }

    /// Across connections: one request with one local key each, nothing else (a
    /// second request or key is the connection's own window's), and only in a
    /// database big enough.
    #[test]
    fn across_connections_takes_single_requests_with_one_key() {
        use crate::storage::Value;
        let mut h = crate::cmd::harness::Harness::new(1);
        let st = &mut h.shards[0];
        let get = |k: &str| format!("*2\r\n$3\r\nGET\r\n${}\r\n{k}\r\n", k.len());
        let mut small = AcrossConns::default();
        assert!(small.add(st, 0, get("a").as_bytes()), "a small database has nothing to warm");
        assert_eq!(small.len(), 0);
        for i in 0..crate::storage::db::WARM_MIN_KEYS {
            st.dbs[0].set(format!("k{i}").as_bytes(), Value::Str(b"v".as_slice().into()), 0);
        }
        let mut across = AcrossConns::default();
        assert!(across.add(st, 0, get("k1").as_bytes()));
        assert!(!across.add(st, 0, (get("k2") + &get("k3")).as_bytes()), "two requests: the connection's window");
        assert!(!across.add(st, 0, b"*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"), "three keys: its window");
        assert!(across.add(st, 0, b"*1\r\n$4\r\nPING\r\n"), "no key: nothing to warm");
        assert!(!across.add(st, 0, &get("k4").as_bytes()[..10]), "incomplete: the parser's");
        assert!(across.add(st, 1, get("k5").as_bytes()), "database 1 is small");
        assert!(across.add(st, 0, get("k6").as_bytes()));
        assert_eq!(across.len(), 2, "k1 and k6 only");
        across.warm(st);
        for _ in 0..WINDOW {
            assert!(across.add(st, 0, get("k7").as_bytes()));
        }
        assert_eq!(across.len(), WINDOW, "a window at most");
        across.warm(st);
    }

    #[test]
    fn leaves_everything_else_to_the_parser() {
        for bad in [
            &b""[..],
            b"*2\r\n$3\r\nGET\r\n$5\r\nkey:",
            b"*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r",
            b"*2\r\n$3\r\nGET\r\n$5\r\nkey:12\r\n",
            b"GET key\r\n",
            b"*\r\n",
            b"*0\r\n",
            b"*-1\r\n",
            b"*2\r\n$-1\r\n",
            b"*99999999999999999999\r\n",
            b"*2\r\n$99999999999\r\nx\r\n",
            b"*65\r\n",
        ] {
            assert_eq!(skim(bad, |_, _| {}), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
