//! DEBUG: ERROR, SLEEP, OBJECT, DIGEST, DIGEST-VALUE, RELOAD, SET-ACTIVE-EXPIRE, LOG, PANIC,
//! HELP.
//!
//! DEBUG is one command with keyed and keyless subcommands, so it is a connection
//! command that fans out: OBJECT runs on the key's owner only, DIGEST-VALUE on every
//! shard, each answering for the keys it owns.
//!
//! DIGEST follows Redis's algorithm byte for byte (SHA-1 based, see `Digest`), so a
//! dataset digests to the same value here as in Redis 7.0: per key, mix the key, the
//! value's type and the value, and note whether it has a TTL; XOR the keys' digests of
//! a database together (order independent, hence shard independent) and mix in each
//! non-empty database's number. Like Redis, a TTL contributes its presence, not its
//! value.

use super::ctx::{ConnCtx, ConnOutcome, FanOut};
use super::introspect::help_reply;
use super::table::{CommandSpec, Handler, KeySpec, flag};
use super::{Args, CmdError};
use crate::shard::shard_of;
use crate::storage::list::Elem as ListElem;
use crate::storage::set::Member as SetMember;
use crate::storage::{Db, Slot, Value};
use std::sync::Arc;

use crate::util::sha1;

/// A 160-bit digest with Redis's two combining steps.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Digest(pub [u8; 20]);

impl Digest {
    /// Redis's xorDigest: `self ^= SHA1(data)`. Order independent.
    pub fn xor(&mut self, data: &[u8]) {
        let h = sha1::digest(&[data]);
        for (d, x) in self.0.iter_mut().zip(h) {
            *d ^= x;
        }
    }

    /// Redis's mixDigest: `self = SHA1(self ^ SHA1(data))`. Order dependent.
    pub fn mix(&mut self, data: &[u8]) {
        self.xor(data);
        self.0 = sha1::digest(&[&self.0]);
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Redis's xorObjectDigest: mixes the value's type code and contents into `d`, then
/// marks a TTL's presence.
pub fn object_digest(mut d: Digest, value: &Value, has_ttl: bool) -> Digest {
    // Redis's type codes: OBJ_STRING 0, LIST 1, SET 2, ZSET 3, HASH 4, STREAM 6.
    let mut num = [0u8; 20];
    match value {
        Value::Str(s) => {
            d.mix(&0u32.to_be_bytes());
            d.mix(s);
        }
        // Lists are ordered: mix every element in turn.
        Value::List(l) => {
            d.mix(&1u32.to_be_bytes());
            l.visit(|el| match el {
                ListElem::Bytes(b) => d.mix(b),
                ListElem::Int(n) => d.mix(int_text(n, &mut num)),
            });
        }
        // Sets are unordered: XOR each member's hash in.
        Value::Set(v) => {
            d.mix(&2u32.to_be_bytes());
            for m in v.iter() {
                match m {
                    SetMember::Bytes(b) => d.xor(b),
                    SetMember::Int(n) => d.xor(int_text(n, &mut num)),
                }
            }
        }
        // Sorted sets: each member and its score (as `%.17g` text) digested as a pair,
        // pairs XORed together, as Redis 7.0 does.
        Value::ZSet(z) => {
            d.mix(&3u32.to_be_bytes());
            let mut text = Vec::with_capacity(32);
            for (m, score) in z.iter() {
                let mut pair = Digest::default();
                pair.mix(m);
                text.clear();
                crate::util::num::write_double(&mut text, score);
                pair.mix(&text);
                d.xor(&pair.0);
            }
        }
        // Hashes: each field/value pair digested in order, pairs XORed together.
        Value::Hash(h) => {
            d.mix(&4u32.to_be_bytes());
            for (f, v) in h.iter() {
                let mut pair = Digest::default();
                pair.mix(f);
                pair.mix(v);
                d.xor(&pair.0);
            }
        }
        // Streams: each entry's `ms.seq` then its fields and values, mixed in order.
        // Groups are not part of the digest, as in Redis.
        Value::Stream(s) => {
            d.mix(&6u32.to_be_bytes());
            for entry in s.iter() {
                d.mix(format!("{}.{}", entry.id.ms, entry.id.seq).as_bytes());
                for (f, v) in entry.fields {
                    d.mix(f);
                    d.mix(v);
                }
            }
        }
    }
    if has_ttl {
        d.xor(b"!!expire!!");
    }
    d
}

/// One shard's part of DEBUG DIGEST: per database, (has keys, XOR of the keys'
/// digests). XOR commutes, so the shards' parts combine exactly. Like Redis's
/// `computeDatasetDigest` (and DIGEST-VALUE), logically expired keys that are still
/// there count: the digest is of what the keyspace holds, not of what a read sees.
fn shard_digest(dbs: &[Db]) -> Vec<(bool, Digest)> {
    dbs.iter()
        .map(|db| {
            let mut acc = Digest::default();
            let mut any = false;
            for (k, e, _) in db.iter_with_expire() {
                any = true;
                let mut kd = Digest::default();
                kd.mix(&k);
                let kd = object_digest(kd, &e.value, e.has_ttl());
                acc.xor(&kd.0);
            }
            (any, acc)
        })
        .collect()
}

/// Redis's computeDatasetDigest from the shards' parts.
pub fn combine(parts: &[Vec<(bool, Digest)>], ndb: usize) -> Digest {
    let mut fin = Digest::default();
    for j in 0..ndb {
        let present = parts.iter().any(|p| p[j].0);
        if !present {
            continue;
        }
        fin.mix(&(j as u32).to_be_bytes());
        for p in parts {
            for (a, b) in fin.0.iter_mut().zip(p[j].1.0) {
                *a ^= b;
            }
        }
    }
    fin
}

/// Redis's rdbSavedObjectLen for a string: integer encodings when the text is a
/// canonical integer that fits 32 bits, else length prefix plus the bytes
/// (uncompressed: shardis has no RDB compression to mirror yet).
fn serialized_len(v: &Value) -> usize {
    let Value::Str(s) = v else {
        // Aggregates: their in-memory payload is a fair stand-in for the RDB size until
        // the RDB encoder exists.
        return v.heap_bytes();
    };
    if s.len() <= 11
        && let Some(n) = crate::util::num::parse_i64(s)
    {
        if (i8::MIN as i64..=i8::MAX as i64).contains(&n) {
            return 2;
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&n) {
            return 3;
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&n) {
            return 5;
        }
    }
    let prefix = if s.len() < 1 << 6 {
        1
    } else if s.len() < 1 << 14 {
        2
    } else if s.len() <= u32::MAX as usize {
        5
    } else {
        9
    };
    prefix + s.len()
}

fn object_line(e: &Slot, now_ms: u64) -> String {
    let addr: *const u8 = match &e.value {
        Value::Str(s) => s.as_ptr(),
        _ => (e as *const Slot).cast(),
    };
    let now_secs = (now_ms / 1000) as u32;
    // access_secs 0 means "never recorded": report it as accessed now.
    let access = if e.access_secs == 0 { now_secs } else { e.access_secs };
    let mut line = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        addr,
        super::keys::reported_encoding(&e.value),
        serialized_len(&e.value),
        access & ((1 << 24) - 1),
        now_secs.saturating_sub(access)
    );
    if let Value::List(l) = &e.value {
        // Redis 7.0 adds the quicklist's shape. The sizes are of shardis's nodes (its
        // own entry encoding), so they are close to Redis's, not equal.
        let nodes = l.node_count();
        let avg = if nodes == 0 { 0.0 } else { l.len() as f64 / nodes as f64 };
        line.push_str(&format!(
            " ql_nodes:{nodes} ql_avg_node:{avg:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{}",
            l.fill().fill,
            u8::from(l.fill().depth != 0),
            l.uncompressed_bytes()
        ));
    }
    line
}

fn sleep(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    sleep_thread(a.get(2));
    c.out.ok();
    Ok(ConnOutcome::Done)
}

/// DEBUG SLEEP's wait (also from a script): blocks this shard thread on purpose, like
/// Redis blocks its one thread. Redis reads the seconds with strtod: junk means 0.
pub fn sleep_thread(secs: &[u8]) {
    let secs = crate::util::num::parse_f64(secs).unwrap_or(0.0);
    if secs.is_finite() && secs > 0.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(1e9)));
    }
}

fn object(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let key = a.get(2).to_vec();
    let db = c.sess.db as usize;
    let owner = shard_of(&key, c.st.nshards);
    let mut f = FanOut::single(
        owner,
        // As Redis's (a dictionary find): a logically expired key still there is shown,
        // not expired.
        Arc::new(move |st| Box::new(st.dbs[db].peek(&key).map(|e| object_line(e, st.now_ms)))),
        Box::new(|_, r, out| match *r.downcast::<Option<String>>().expect("line") {
            Some(l) => out.simple(&l),
            None => out.error("ERR no such key"),
        }),
    );
    // A value on loan to a cross-shard command (`coord`) is back once the locks are.
    f.lock_whole = true;
    Ok(ConnOutcome::FanOut(f))
}

fn digest(_c: &mut ConnCtx) -> Result<ConnOutcome, CmdError> {
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(|st| Box::new(shard_digest(&st.dbs))),
        // A consistent snapshot: no shard may change while the others are read.
        lock_whole: true,
        finish: Box::new(|st, results, out| {
            let parts: Vec<Vec<(bool, Digest)>> =
                results.into_iter().map(|(_, r)| *r.downcast::<Vec<(bool, Digest)>>().expect("parts")).collect();
            out.simple(&combine(&parts, st.dbs.len()).hex());
        }),
    }))
}

fn digest_value(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    let keys: Vec<Vec<u8>> = (2..a.len()).map(|i| a.get(i).to_vec()).collect();
    let db = c.sess.db as usize;
    let n = keys.len();
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| {
            // Like Redis, logically expired keys that still exist are digested too.
            let mine: Vec<(usize, Digest)> = keys
                .iter()
                .enumerate()
                .filter(|(_, k)| shard_of(k, st.nshards) == st.id)
                .map(|(i, k)| {
                    (
                        i,
                        st.dbs[db]
                            .peek(k)
                            .map(|e| object_digest(Digest::default(), &e.value, e.has_ttl()))
                            .unwrap_or_default(),
                    )
                })
                .collect();
            Box::new(mine)
        }),
        // A value on loan to a cross-shard command (`coord`) is back once the locks are.
        lock_whole: true,
        finish: Box::new(move |_, results, out| {
            let mut all = vec![Digest::default(); n];
            for (_, r) in results {
                for (i, d) in *r.downcast::<Vec<(usize, Digest)>>().expect("digests") {
                    all[i] = d;
                }
            }
            out.array(n);
            for d in all {
                out.simple(&d.hex());
            }
        }),
    }))
}

/// C's `atoi`, as Redis reads DEBUG's switches: anything that does not start with a
/// number is 0.
fn atoi(s: &[u8]) -> i64 {
    let digits: Vec<u8> =
        s.iter().copied().skip_while(|b| *b == b' ').take_while(|b| b.is_ascii_digit() || *b == b'-').collect();
    crate::util::num::parse_i64(&digits).unwrap_or(0)
}

fn set_active_expire(a: &Args) -> Result<ConnOutcome, CmdError> {
    let on = atoi(a.get(2)) != 0;
    Ok(ConnOutcome::FanOut(FanOut {
        hop: Arc::new(move |st| {
            st.active_expire = on;
            Box::new(())
        }),
        lock_whole: false,
        finish: Box::new(|_, _, out| out.ok()),
    }))
}

const HELP: &[&str] = &[
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about the <key> and associated value.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: Merge the content of the RDB file with the existing data (live keys",
    "      and libraries of the same name are replaced).",
    "    * NOFLUSH: Do not empty the dataset before loading the RDB file.",
    "    * NOSAVE: Do not save the RDB file before loading it.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
];

/// Is DEBUG allowed for this connection under `enable-debug-command`?
fn allowed(c: &ConnCtx) -> bool {
    allowed_by(&c.st.config.enable_debug_command, c)
}

/// Redis 7.0's `allowProtectedAction` for a `yes|no|local` setting
/// (`enable-debug-command`, `enable-protected-configs`): `yes`, or `local` from a
/// loopback or Unix-socket client.
pub(crate) fn allowed_by(setting: &str, c: &ConnCtx) -> bool {
    match setting {
        "yes" => true,
        "local" => match c.st.clients.get(&c.sess.id) {
            Some(m) => is_local_peer(&m.addr),
            // No socket at all (the test harness) is as local as it gets.
            None => true,
        },
        _ => false,
    }
}

/// A loopback TCP peer, or a Unix-socket one (whose address, as in Redis's CLIENT
/// LIST, is the socket's path).
fn is_local_peer(addr: &str) -> bool {
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => a.ip().to_canonical().is_loopback(),
        Err(_) => addr.starts_with('/'),
    }
}

fn debug(c: &mut ConnCtx, a: &Args) -> Result<ConnOutcome, CmdError> {
    if !allowed(c) {
        return Err(CmdError::msg(
            "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.",
        ));
    }
    let n = a.len();
    if a.is(1, "HELP") && n == 2 {
        help_reply(&mut c.out, "DEBUG", HELP);
        Ok(ConnOutcome::Done)
    } else if a.is(1, "SLEEP") && n == 3 {
        sleep(c, a)
    } else if a.is(1, "OBJECT") && n == 3 {
        object(c, a)
    } else if a.is(1, "DIGEST") && n == 2 {
        digest(c)
    } else if a.is(1, "DIGEST-VALUE") && n >= 2 {
        digest_value(c, a)
    } else if a.is(1, "RELOAD") {
        let mut opts = crate::persist::bgsave::ReloadOptions { save: true, flush: true, merge: false };
        for i in 2..n {
            if a.is(i, "MERGE") {
                opts.merge = true;
            } else if a.is(i, "NOFLUSH") {
                opts.flush = false;
            } else if a.is(i, "NOSAVE") {
                opts.save = false;
            } else {
                return Err(CmdError::msg("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."));
            }
        }
        Ok(ConnOutcome::FanOut(crate::persist::bgsave::reload_fanout(opts)))
    } else if a.is(1, "SET-ACTIVE-EXPIRE") && n == 3 {
        set_active_expire(a)
    } else if a.is(1, "SET-DISABLE-DENY-SCRIPTS") && n == 3 {
        let on = atoi(a.get(2)) != 0;
        c.st.shared.script.noscript_allowed.store(on, std::sync::atomic::Ordering::Relaxed);
        c.out.ok();
        Ok(ConnOutcome::Done)
    } else if a.is(1, "PANIC") && n == 2 {
        // As in Redis: crash on purpose, on the shard thread that owns this
        // connection, to check that a panic takes the whole process down.
        panic!("DEBUG PANIC called at Unix time {}", crate::shard::Shared::now_unix_ms() / 1000);
    } else if a.is(1, "POPULATE") && (3..=5).contains(&n) {
        super::debug_populate::populate(c, a)
    } else if a.is(1, "CHANGE-REPL-ID") && n == 2 {
        super::debug_populate::change_repl_id(c)
    } else if a.is(1, "TURNS") && (n == 2 || (n == 3 && a.is(2, "RESET"))) {
        Ok(ConnOutcome::FanOut(crate::shard::turns::debug_turns(n == 3)))
    } else if a.is(1, "REPLYBUFFER") && n == 4 {
        super::client_replybuf::debug_replybuffer(a)
    } else if a.is(1, "ERROR") && n == 3 {
        // Clients' own tests use it to see how they handle an error (redis-py's
        // LOADING, READONLY, OOM cases). As Redis: the argument, after a '-' and with
        // CR/LF as spaces, written as is (no "ERR" added, a leading '-' kept), and
        // not counted as an error in INFO errorstats.
        let mut line = Vec::with_capacity(a.get(2).len() + 3);
        line.push(b'-');
        line.extend(a.get(2).iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
        line.extend_from_slice(b"\r\n");
        c.out.raw(&line);
        Ok(ConnOutcome::Done)
    } else if a.is(1, "LOG") && n == 3 {
        crate::util::log::warning(&format!("DEBUG LOG: {}", a.str(2)));
        c.out.ok();
        Ok(ConnOutcome::Done)
    } else {
        Err(CmdError::msg(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            a.str(1).chars().take(128).collect::<String>(),
            a.str(0).to_ascii_uppercase()
        )))
    }
}

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "debug",
    arity: -2,
    flags: flag::ADMIN | flag::NOSCRIPT | flag::LOADING | flag::STALE,
    keys: KeySpec::None,
    handler: Handler::Conn(debug),
    group: "server",
    summary: "A container for debugging commands.",
    since: "1.0.0",
}];

/// An integer member's decimal text, as Redis digests integer-encoded elements.
fn int_text(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut v = Vec::with_capacity(20);
    crate::util::num::write_i64(&mut v, n);
    buf[..v.len()].copy_from_slice(&v);
    &buf[..v.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cmd::harness::{Harness, Reply};

    #[test]
    fn local_peers_are_loopback_or_unix_sockets() {
        assert!(is_local_peer("127.0.0.1:5000"));
        assert!(is_local_peer("[::1]:5000"));
        assert!(is_local_peer("[::ffff:127.0.0.1]:5000"));
        assert!(is_local_peer("/tmp/shardis.sock:0"));
        assert!(!is_local_peer("10.1.2.3:5000"));
        assert!(!is_local_peer("[2001:db8::1]:5000"));
        assert!(!is_local_peer(""));
    }

    fn hex(r: Reply) -> String {
        match r {
            Reply::Simple(s) => s,
            other => panic!("expected status, got {other:?}"),
        }
    }

    #[test]
    fn sha1_vectors() {
        let h = |s: &[u8]| Digest(sha1::digest(&[s])).hex();
        assert_eq!(h(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(h(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            h(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(Digest(sha1::digest(&[&long[..500], &long[500..]])).hex(), h(&long));
    }

    #[test]
    fn digest_is_redis_compatible() {
        // Expected values were produced by Redis 7.0.15 for the same commands.
        for n in [1, 4] {
            let mut h = Harness::new(n);
            assert_eq!(hex(h.run(&["debug", "digest"])), "0".repeat(40));
            h.run(&["set", "foo", "bar"]);
            assert_eq!(hex(h.run(&["debug", "digest"])), "d2ab4820c1be0580ea28efbfe8bfa1dc05bb802a");
            assert_eq!(
                h.run(&["debug", "digest-value", "foo", "nope"]),
                Reply::Array(vec![
                    Reply::Simple("68467c70ae30376e7ce005bcc8827f5ba7fd67dc".into()),
                    Reply::Simple("0".repeat(40)),
                ])
            );
            let now = h.clock.now_ms();
            h.shards[shard_of(b"foo", n)].dbs[0].set_expire(b"foo", now + 1_000_000, now);
            assert_eq!(hex(h.run(&["debug", "digest"])), "8b0c6d22108f15467022bc27c005787072eb4c4b");

            let mut h = Harness::new(n);
            h.run(&["mset", "a", "1", "b", "2", "c", "3", "{x}d", "hello"]);
            h.run(&["select", "2"]);
            h.run(&["set", "a", "1"]);
            assert_eq!(hex(h.run(&["debug", "digest"])), "67fb20e4298cba4418c51d3b2a8146cf1f672468");
            h.run(&["set", "a", "2"]);
            assert_eq!(hex(h.run(&["debug", "digest"])), "05cf1187c770e471be765dd4346db89c3bf151c4");
        }
    }

    #[test]
    fn digest_is_shard_independent_and_changes_on_write() {
        let mut digests = Vec::new();
        for n in [1, 3, 4] {
            let mut h = Harness::new(n);
            h.run(&["mset", "a", "1", "b", "2", "c", "3", "{x}d", "hello"]);
            h.run(&["select", "2"]);
            h.run(&["set", "a", "1"]);
            let d = hex(h.run(&["debug", "digest"]));
            h.run(&["set", "a", "2"]);
            let d2 = hex(h.run(&["debug", "digest"]));
            assert_ne!(d, d2);
            h.run(&["set", "a", "1"]);
            assert_eq!(hex(h.run(&["debug", "digest"])), d);
            digests.push(d);
        }
        assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
        // The same key in another database digests differently.
        let mut h1 = Harness::new(2);
        h1.run(&["set", "a", "1"]);
        let mut h2 = Harness::new(2);
        h2.run(&["select", "1"]);
        h2.run(&["set", "a", "1"]);
        assert_ne!(hex(h1.run(&["debug", "digest"])), hex(h2.run(&["debug", "digest"])));
    }

    #[test]
    fn object_and_expire_marker() {
        for n in [1, 4] {
            let mut h = Harness::new(n);
            h.run(&["set", "num", "12345"]);
            h.run(&["set", "s", "hello"]);
            let Reply::Simple(l) = h.run(&["debug", "object", "num"]) else { panic!() };
            assert!(
                l.starts_with("Value at:0x") && l.contains(" refcount:1 encoding:int serializedlength:3 lru:"),
                "{l}"
            );
            assert!(l.ends_with(" lru_seconds_idle:0"), "{l}");
            let Reply::Simple(l) = h.run(&["debug", "object", "s"]) else { panic!() };
            assert!(l.contains("encoding:embstr serializedlength:6 "), "{l}");
            assert_eq!(h.run(&["debug", "object", "missing"]), Reply::Error("ERR no such key".into()));
            // A TTL changes the digest of the value.
            let before = h.run(&["debug", "digest-value", "s"]);
            let now = h.clock.now_ms();
            let owner = shard_of(b"s", n);
            h.shards[owner].dbs[0].set_expire(b"s", now + 100_000, now);
            assert_ne!(h.run(&["debug", "digest-value", "s"]), before);
        }
    }

    #[test]
    fn active_expire_log_help_and_errors() {
        let mut h = Harness::new(3);
        assert_eq!(h.run(&["debug", "set-active-expire", "0"]), Reply::Simple("OK".into()));
        assert!(h.shards.iter().all(|s| !s.active_expire));
        assert_eq!(h.run(&["debug", "set-active-expire", "1"]), Reply::Simple("OK".into()));
        assert!(h.shards.iter().all(|s| s.active_expire));
        assert_eq!(h.run(&["debug", "log", "hello"]), Reply::Simple("OK".into()));
        assert_eq!(h.run(&["debug", "sleep", "0"]), Reply::Simple("OK".into()));
        let Reply::Array(help) = h.run(&["debug", "help"]) else { panic!() };
        assert!(help.len() > 5);
        assert_eq!(
            h.run(&["debug", "frob"]),
            Reply::Error("ERR unknown subcommand or wrong number of arguments for 'frob'. Try DEBUG HELP.".into())
        );
        assert_eq!(
            h.run(&["debug", "object"]),
            Reply::Error("ERR unknown subcommand or wrong number of arguments for 'object'. Try DEBUG HELP.".into())
        );
    }

    #[test]
    fn serialized_lengths() {
        let s = |v: &str| serialized_len(&Value::Str(v.as_bytes().into()));
        assert_eq!(s("1"), 2);
        assert_eq!(s("-200"), 3);
        assert_eq!(s("100000"), 5);
        assert_eq!(s("99999999999"), 1 + 11);
        assert_eq!(s("007"), 1 + 3);
        assert_eq!(s(&"x".repeat(100)), 2 + 100);
    }
}
