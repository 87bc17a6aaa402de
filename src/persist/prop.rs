//! Propagation: what goes into the log for a command that changed data, made
//! deterministic so that replaying the log (or a replica applying the stream) rebuilds
//! exactly the same data whenever it runs.
//!
//! Two mechanisms, both following what Redis 7 propagates:
//! - a handler that made a choice replay cannot repeat (SPOP's random members, which
//!   key a blocking pop served) says so through `ExecCtx::prop`;
//! - commands whose only non-determinism is time are rewritten here from the key's
//!   state after the command, which is exact by construction: relative expiries become
//!   `PXAT`/`PEXPIREAT` with the absolute time the command computed, an expiry in the
//!   past becomes `DEL`, INCRBYFLOAT becomes `SET ... KEEPTTL` of the result, and so on.
//!
//! Everything else is logged verbatim.
//!
//! The whole-keyspace writes (FLUSHALL, FLUSHDB, SWAPDB) are fan-outs, not keyed
//! commands, so they do not pass `cmd::dispatch::call`; their hop on each shard hands
//! the shard's state to `flush_part` / `swap_part` here instead. Each shard logs only
//! what the command did to *its own* keys, never the command itself: a shard's log
//! must replay on its own, and the shards' files concatenated into a real Redis must
//! rebuild the dataset (a logged FLUSHALL from shard 1 would wipe shard 0's later
//! keys there). The hop's caller (`cmd::coord::atomic_part`) wraps each shard's part in
//! a tagged block so the command replays on every shard or on none (see `persist`).

use super::emit::int;
use super::log::ShardLog;
use crate::cmd::Args;
use crate::shard::OwnedArgs;
use crate::storage::{Db, Value};

/// A handler's "propagate as ..." instead of its own arguments.
#[derive(Default, Debug)]
pub struct Prop {
    /// The commands, each with its own db when not the command's (a script's SELECT),
    /// and whether it goes to the replication stream only (a script's PUBLISH).
    cmds: Vec<(Option<u16>, OwnedArgs, bool)>,
    set: bool,
}

impl Prop {
    /// Propagate `args` instead of the command (may be called again to add more).
    pub fn push(&mut self, args: &[&[u8]]) {
        self.set = true;
        self.cmds.push((None, OwnedArgs::from_slices(args.iter().copied()), false));
    }

    /// Propagate these owned arguments instead of the command.
    pub fn push_owned(&mut self, args: OwnedArgs) {
        self.set = true;
        self.cmds.push((None, args, false));
    }

    /// Propagate these owned arguments in database `db` (a script that SELECTed it).
    pub fn push_owned_in(&mut self, db: u16, args: OwnedArgs) {
        self.set = true;
        self.cmds.push((Some(db), args, false));
    }

    /// Propagate these arguments in database `db` to the replication stream only, never
    /// the AOF (PUBLISH run by a script: Redis's `PROPAGATE_REPL`, see
    /// `ShardLog::feed_stream_only`).
    pub fn push_stream_only_in(&mut self, db: u16, args: OwnedArgs) {
        self.set = true;
        self.cmds.push((Some(db), args, true));
    }

    /// Does it hold something to propagate even though the command changed no data (a
    /// script that only published)?
    pub fn has_stream_only(&self) -> bool {
        self.cmds.iter().any(|c| c.2)
    }

    /// Propagate nothing for this command (XREADGROUP that created a consumer or
    /// bumped delivery counts, which Redis does not propagate either).
    pub fn suppress(&mut self) {
        self.set = true;
    }

    pub fn is_set(&self) -> bool {
        self.set
    }
}

/// Feeds one executed write into the shard's log.
pub fn propagate(log: &mut ShardLog, dbs: &[Db], name: &str, args: &Args, db: u16, prop: Prop) {
    if !log.active() {
        return;
    }
    if prop.set {
        for (in_db, c, stream_only) in &prop.cmds {
            // Inside EXEC the part is wrapped in the transaction's MULTI/EXEC already:
            // a script's own wrapper would nest (Redis joins its effects to the
            // transaction's).
            if (log.stage.is_some() || log.capture.is_some())
                && c.len() == 1
                && (c.get(0) == b"MULTI" || c.get(0) == b"EXEC")
            {
                continue;
            }
            let a: Vec<&[u8]> = (0..c.len()).map(|i| c.get(i)).collect();
            if *stream_only {
                log.feed_stream_only(in_db.unwrap_or(db), &a);
            } else {
                log.feed(in_db.unwrap_or(db), &a);
            }
        }
        return;
    }
    let d = &dbs[db as usize];
    let key = || args.get(1);
    match name {
        "set" if has_expiry(args) => set_pxat(log, d, db, key()),
        "set" if has_get(args) => without_get(log, args, db),
        "setex" | "psetex" => set_pxat(log, d, db, key()),
        "getex" => match d.peek_with_expire(key()) {
            Some((_, at)) if at != 0 => log.feed(db, &[&b"PEXPIREAT"[..], key(), &int(at as i64)]),
            Some(_) => log.feed(db, &[&b"PERSIST"[..], key()]),
            None => log.feed(db, &[&b"DEL"[..], key()]),
        },
        "getdel" => log.feed(db, &[&b"DEL"[..], key()]),
        // The flags (NX, XX, GT, LT) go along, as Redis rewrites only the name and the
        // time: on the replica's same state they decide the same way.
        "expire" | "pexpire" | "expireat" | "pexpireat" => match d.peek_with_expire(key()) {
            Some((_, at)) if at != 0 => {
                let at = int(at as i64);
                let mut a: Vec<&[u8]> = vec![b"PEXPIREAT", key(), &at];
                a.extend(args.iter().skip(3));
                log.feed(db, &a);
            }
            Some(_) => verbatim(log, args, db),
            None => log.feed(db, &[&b"DEL"[..], key()]),
        },
        "incrbyfloat" => match d.peek(key()).map(|e| &e.value) {
            Some(Value::Str(v)) => log.feed(db, &[&b"SET"[..], key(), v, b"KEEPTTL"]),
            _ => verbatim(log, args, db),
        },
        "hincrbyfloat" => match d.peek(key()).map(|e| &e.value) {
            Some(Value::Hash(h)) => match h.get(args.get(2)) {
                Some(v) => log.feed(db, &[&b"HSET"[..], key(), args.get(2), v]),
                None => verbatim(log, args, db),
            },
            _ => verbatim(log, args, db),
        },
        // A relative TTL is replayed as the absolute time it gave (ABSTTL), as Redis
        // 7 propagates RESTORE; a TTL already in the past left no key: DEL.
        "restore" => match d.peek_with_expire(key()) {
            Some((_, expire_at)) => {
                let mut a: Vec<&[u8]> = args.iter().collect();
                let abs = int(expire_at as i64);
                a[2] = &abs;
                if !a[4..].iter().any(|o| o.eq_ignore_ascii_case(b"absttl")) {
                    a.push(b"ABSTTL");
                }
                log.feed(db, &a);
            }
            None => log.feed(db, &[&b"DEL"[..], key()]),
        },
        _ => verbatim(log, args, db),
    }
}

/// Keys per DEL / UNLINK that a flush logs, so that no logged command is huge.
pub const FLUSH_BATCH: usize = 512;

/// FLUSHALL (`db` None) or FLUSHDB (`Some(db)`) on this shard, before it clears
/// `dbs`: DEL (UNLINK when `lazy`, as FLUSHALL ASYNC frees lazily in Redis) of
/// every key of this shard in each database it empties, `FLUSH_BATCH` keys a command.
/// Keys already expired but not yet removed are included: deleting them is harmless
/// and keeps this a plain copy of the shard's state.
///
/// A `sole` shard (a server with one shard) holds every key: it logs the command
/// itself, as Redis does, rather than a log growing with the keys.
/// `selected`: the client's database; the command itself is logged under it, as
/// Redis does (no SELECT 0 before a FLUSHALL).
pub fn flush_part(log: &mut ShardLog, dbs: &[Db], db: Option<u16>, selected: u16, lazy: bool, sole: bool) {
    if !log.active() {
        return;
    }
    let (d, name): (u16, &[u8]) = match db {
        Some(d) => (d, b"FLUSHDB"),
        None => (selected, b"FLUSHALL"),
    };
    let mut args = vec![name];
    if lazy {
        args.push(b"ASYNC");
    }
    if sole {
        log.feed(d, &args);
        return;
    }
    if log.whole_part {
        // A standalone fan-out: the replication stream gets the command itself, once
        // (from shard 0); the per-key part below is the AOF's alone.
        stream_only(log, |log| log.feed(d, &args));
        log.skip_repl = true;
    }
    let verb: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
    let targets = match db {
        Some(d) => d as usize..d as usize + 1,
        None => 0..dbs.len(),
    };
    // Keys come out of the table decoded (`KeyRef`), so a batch holds them until fed.
    let mut keys: Vec<crate::storage::KeyRef<'_>> = Vec::with_capacity(FLUSH_BATCH);
    let mut feed = |d: usize, keys: &mut Vec<crate::storage::KeyRef<'_>>| {
        let args: Vec<&[u8]> = std::iter::once(verb).chain(keys.iter().map(|k| &**k)).collect();
        log.feed(d as u16, &args);
        keys.clear();
    };
    for d in targets {
        for (k, _) in dbs[d].iter() {
            keys.push(k);
            if keys.len() >= FLUSH_BATCH {
                feed(d, &mut keys);
            }
        }
        if !keys.is_empty() {
            feed(d, &mut keys);
        }
    }
    log.skip_repl = false;
}

/// Runs `f` with only the replication stream listening, on shard 0 only.
fn stream_only(log: &mut ShardLog, f: impl FnOnce(&mut ShardLog)) {
    if log.repl.shard == 0 {
        log.skip_aof = true;
        f(log);
        log.skip_aof = false;
    }
}

/// SWAPDB `x` `y` on this shard, before it swaps `dbs`, as commands that move only this
/// shard's keys: `MOVE k y` for a key only in `x`, `MOVE k x` for a key only in `y`
/// (neither can meet an existing key: the first group is not in `y`, the second is in
/// neither `x`'s remaining keys nor the first group), and for a key in both the other
/// database's state written over each (`emit::replace_key`), since Redis cannot swap two
/// keys across databases without a temporary name. The log grows with the keys of the
/// two databases (and with the data of the keys they share), where Redis logs one
/// SWAPDB: the price of a log that replays shard by shard. A `sole` shard logs the
/// SWAPDB.
/// `selected`: the client's database, under which SWAPDB itself is logged, as Redis does.
pub fn swap_part(log: &mut ShardLog, dbs: &[Db], x: u16, y: u16, selected: u16, sole: bool) {
    if !log.active() || x == y {
        return;
    }
    let (xs, ys) = (x.to_string(), y.to_string());
    let swap = [&b"SWAPDB"[..], xs.as_bytes(), ys.as_bytes()];
    if sole {
        log.feed(selected, &swap);
        return;
    }
    if log.whole_part {
        stream_only(log, |log| log.feed(selected, &swap));
        log.skip_repl = true;
    }
    let (dx, dy) = (&dbs[x as usize], &dbs[y as usize]);
    for (k, _) in dx.iter().filter(|(k, _)| dy.peek(k).is_none()) {
        log.feed(x, &[&b"MOVE"[..], &k, ys.as_bytes()]);
    }
    for (k, _) in dy.iter().filter(|(k, _)| dx.peek(k).is_none()) {
        log.feed(y, &[&b"MOVE"[..], &k, xs.as_bytes()]);
    }
    // The shared keys: in `x` each gets `y`'s state, then in `y` `x`'s (one SELECT
    // each way).
    for (db, here, other) in [(x, dx, dy), (y, dy, dx)] {
        for (k, _) in here.iter() {
            if let Some(e) = other.peek_entry(&k) {
                log.with_stream(db, |b| super::emit::replace_key(b, &k, Some(&e)));
            }
        }
    }
    log.skip_repl = false;
}

fn verbatim(log: &mut ShardLog, args: &Args, db: u16) {
    log.with_stream(db, |buf| super::resp::encode_iter(buf, args.len(), args.iter()));
}

/// SET with EX/PX/EXAT (or SETEX/PSETEX) goes out as `SET key value PXAT ms`, as in
/// Redis 7; a key already gone (an expiry in the past) as DEL.
fn set_pxat(log: &mut ShardLog, d: &Db, db: u16, key: &[u8]) {
    match d.peek_with_expire(key) {
        Some((e, expire_at)) => match &e.value {
            Value::Str(v) if expire_at != 0 => log.feed(db, &[&b"SET"[..], key, v, b"PXAT", &int(expire_at as i64)]),
            Value::Str(v) => log.feed(db, &[&b"SET"[..], key, v]),
            _ => {}
        },
        None => log.feed(db, &[&b"DEL"[..], key]),
    }
}

/// Any expiry option, PXAT included: Redis 7.0 rewrites them all to `SET k v PXAT ms`.
fn has_expiry(args: &Args) -> bool {
    (3..args.len()).any(|i| {
        let a = args.get(i);
        [&b"ex"[..], b"px", b"exat", b"pxat"].iter().any(|o| a.eq_ignore_ascii_case(o))
    })
}

fn has_get(args: &Args) -> bool {
    (3..args.len()).any(|i| args.get(i).eq_ignore_ascii_case(b"get"))
}

/// SET ... GET without an expiry goes out without its GET (the reply is the client's
/// business), as Redis 7.0 propagates it.
fn without_get(log: &mut ShardLog, args: &Args, db: u16) {
    let a: Vec<&[u8]> =
        args.iter().enumerate().filter(|&(i, a)| i < 3 || !a.eq_ignore_ascii_case(b"get")).map(|(_, a)| a).collect();
    log.feed(db, &a);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::resp::{Decoded, decode};
    use crate::cmd::harness::{Harness, Reply};

    /// The commands in a log buffer, as strings.
    pub(crate) fn cmds(b: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Decoded::Cmd { args, len } = decode(&b[pos..]) {
            out.push(args.iter().map(|&(s, e)| b[pos + s..pos + e].to_vec()).collect());
            pos += len;
        }
        assert_eq!(pos, b.len(), "whole commands only");
        out
    }

    /// A harness of `n` shards whose logs collect into their buffers (no file). A log with
    /// an error set holds nothing back (as while it fails), so the synchronous harness
    /// gets its replies; what is appended is the same.
    pub(crate) fn logged(n: usize) -> Harness {
        let mut h = Harness::new(n);
        for s in &mut h.shards {
            s.aof.on = true;
            s.aof.error = Some("unit test: no file".into());
        }
        h
    }

    fn fill(h: &mut Harness, db: &str, prefix: &str, n: usize) {
        h.run(&["select", db]);
        for i in 0..n {
            h.run(&["set", &format!("{prefix}{i}"), &format!("{db}:{i}")]);
        }
        h.run(&["rpush", &format!("{prefix}list"), "a", "b"]);
        h.run(&["pexpire", &format!("{prefix}0"), "100000000"]);
        h.run(&["select", "0"]);
    }

    fn digest(h: &mut Harness) -> Reply {
        h.run(&["debug", "digest"])
    }

    /// Every shard's log, concatenated shard after shard, replayed into one keyspace
    /// (a 1-shard harness standing in for a real Redis, commands as `redis-cli --pipe`
    /// sends them) gives the same data: what a shard logs touches only its own keys.
    fn replay_concatenated(h: &Harness) -> Harness {
        let mut r = Harness::new(1);
        for s in &h.shards {
            for c in cmds(&s.aof.buf) {
                let a: Vec<&[u8]> = c.iter().map(|v| v.as_slice()).collect();
                let out = r.run_raw(&a);
                assert!(
                    !out.starts_with(b"-"),
                    "{:?}: {}",
                    String::from_utf8_lossy(a[0]),
                    String::from_utf8_lossy(&out)
                );
            }
        }
        r
    }

    #[test]
    fn flushes_log_each_shards_own_keys_in_one_tagged_block_per_shard() {
        let mut h = logged(4);
        fill(&mut h, "0", "a", 40);
        fill(&mut h, "3", "b", 40);
        for s in &mut h.shards {
            s.aof.buf.clear();
        }
        assert_eq!(h.run(&["flushall", "async"]), Reply::Simple("OK".into()));
        let mut markers = Vec::new();
        for s in &h.shards {
            let c = cmds(&s.aof.buf);
            assert_eq!(c[0], [b"MULTI".to_vec()]);
            assert_eq!(c[1][0], b"ECHO");
            markers.push(String::from_utf8(c[1][1].clone()).unwrap());
            assert_eq!(c.last().unwrap(), &[b"EXEC".to_vec()]);
            let dels: Vec<_> = c.iter().filter(|c| c[0] == b"UNLINK").collect();
            assert!(!dels.is_empty(), "shard {} deleted its keys", s.id);
            for d in dels {
                for k in &d[1..] {
                    assert_eq!(crate::shard::shard_of(k, 4), s.id, "only the shard's own keys");
                }
            }
            assert!(!c.iter().any(|c| c[0].eq_ignore_ascii_case(b"flushall")));
        }
        assert!(markers[0].starts_with("shardis-tx:") && markers[0].ends_with(":4"), "{markers:?}");
        assert!(markers.iter().all(|m| *m == markers[0]), "one transaction: {markers:?}");
    }

    #[test]
    fn flush_batches_are_bounded() {
        let mut h = logged(4);
        for i in 0..3000 {
            h.run(&["set", &format!("key:{i}"), "v"]);
        }
        for s in &mut h.shards {
            s.aof.buf.clear();
        }
        h.run(&["flushdb"]);
        let mut keys = 0;
        for s in &h.shards {
            for c in cmds(&s.aof.buf).iter().filter(|c| c[0] == b"DEL") {
                assert!(c.len() - 1 <= super::FLUSH_BATCH);
                keys += c.len() - 1;
            }
        }
        assert_eq!(keys, 3000);
    }

    /// With several shards, nothing bare is logged; with one, the commands themselves
    /// (untagged: one command is atomic), as Redis logs them.
    #[test]
    fn whole_keyspace_writes_replay_shard_by_shard_into_one_keyspace() {
        for n in [1, 4] {
            let mut h = logged(n);
            fill(&mut h, "0", "k", 30);
            h.run(&["flushall"]);
            fill(&mut h, "0", "k", 30);
            fill(&mut h, "1", "k", 20); // k0..k19 in both dbs (different values), k20.. only in 0
            fill(&mut h, "1", "only1-", 10);
            fill(&mut h, "2", "x", 10);
            h.run(&["select", "2"]);
            h.run(&["flushdb", "async"]);
            h.run(&["select", "0"]);
            h.run(&["swapdb", "0", "1"]);
            h.run(&["swapdb", "1", "1"]);
            h.run(&["set", "after", "1"]);
            // The same inside MULTI/EXEC.
            h.run(&["multi"]);
            h.run(&["set", "in-tx", "1"]);
            h.run(&["swapdb", "0", "5"]);
            h.run(&["flushdb"]);
            h.run(&["set", "in-tx2", "2"]);
            h.run(&["exec"]);
            let want = digest(&mut h);
            let mut r = replay_concatenated(&h);
            assert_eq!(digest(&mut r), want, "{n} shards");
            let text: String =
                h.shards.iter().map(|s| String::from_utf8_lossy(&s.aof.buf).to_ascii_lowercase()).collect();
            for cmd in ["flushall", "flushdb", "swapdb"] {
                assert_eq!(text.contains(cmd), n == 1, "{n} shards: {cmd} logged");
            }
            assert!(text.contains("shardis-tx:"), "{n} shards: tagged blocks (EXEC's, with one shard)");
        }
    }
}
