//! What a script's `redis.call`s go through, as for any command: the ACL check of the
//! user running the script (Redis's script texts, ACL LOG context `lua`), MONITOR's
//! `[<db> lua]` lines, and client tracking / WATCH for the keys they write. Each
//! scenario runs on redis-server and on shardis, and the two must agree.

use crate::common;

use common::{RealRedis, Resp, Server, temp_dir};

use common::raw_to as connect;

fn text(r: &Resp) -> String {
    match r {
        Resp::Error(e) => format!("-{e}"),
        Resp::Simple(s) => format!("+{s}"),
        Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Scripts of restricted users: their replies, then the ACL LOG entries' fields
/// (with client-info reduced to its `cmd=` and `user=` fields).
fn acl_scenario(port: u16) -> Vec<String> {
    let mut admin = connect(port);
    for rule in [
        vec!["acl", "setuser", "u", "on", "nopass", "~k*", "+@all", "-del"],
        vec!["acl", "setuser", "v", "on", "nopass", "~k*", "+eval", "+get", "+auth"],
    ] {
        assert_eq!(admin.cmd(&rule), Resp::simple("OK"));
    }
    let mut out = Vec::new();
    let mut u = connect(port);
    assert_eq!(u.cmd(&["auth", "u", "x"]), Resp::simple("OK"));
    // A declared key, so the script is legal on any shard count.
    out.push(text(&u.cmd(&["eval", "return redis.call('del', KEYS[1])", "1", "k1"])));
    out.push(text(&u.cmd(&["eval", "return redis.pcall('del', KEYS[1])", "1", "k1"])));
    out.push(text(&u.cmd(&["eval", "return redis.call('get', KEYS[1])", "1", "other"])));
    out.push(text(&u.cmd(&["eval", "return redis.call('set', KEYS[1], 'a')", "1", "k2"])));
    let mut v = connect(port);
    assert_eq!(v.cmd(&["auth", "v", "x"]), Resp::simple("OK"));
    out.push(text(&v.cmd(&["eval", "return redis.call('set', KEYS[1], 'b')", "1", "k2"])));
    out.push(text(&v.cmd(&["eval", "return redis.call('get', KEYS[1])", "1", "k2"])));
    let Resp::Array(entries) = admin.cmd(&["acl", "log"]) else { panic!("ACL LOG is an array") };
    for e in entries {
        let Resp::Array(fields) = e else { panic!("an entry is an array") };
        let mut line = Vec::new();
        for pair in fields.chunks(2) {
            let name = text(&pair[0]);
            if name == "age-seconds" || name.starts_with("entry-id") || name.starts_with("timestamp") {
                continue;
            }
            let mut value = text(&pair[1]);
            if name == "client-info" {
                value = value
                    .split(' ')
                    .filter(|f| f.starts_with("cmd=") || f.starts_with("user="))
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            line.push(format!("{name}={value}"));
        }
        out.push(line.join(" "));
    }
    out
}

#[test]
fn inner_calls_are_acl_checked_as_redis_does() {
    let dir = temp_dir("script-acl");
    let real = RealRedis::start(&dir);
    let want = acl_scenario(real.port);
    assert!(want.iter().any(|l| l.contains("context=lua")), "redis-server logged {want:?}");
    for shards in [1, 3] {
        let s = Server::start(shards, &[]);
        assert_eq!(acl_scenario(s.port), want, "{shards} shards");
    }
}

/// MONITOR's lines for scripts (timestamps and client addresses dropped).
fn monitor_scenario(port: u16) -> Vec<String> {
    let mut mon = connect(port);
    assert_eq!(mon.cmd(&["monitor"]), Resp::simple("OK"));
    let mut c = connect(port);
    c.cmd(&["eval", "redis.call('set', KEYS[1], 'v'); return redis.call('get', KEYS[1])", "1", "k1"]);
    c.cmd(&["select", "3"]);
    c.cmd(&["eval", "redis.pcall('incr', KEYS[1]); return redis.call('ping')", "1", "k1"]);
    // A refused call is not shown.
    c.cmd(&["eval", "return redis.pcall('nosuch')", "0"]);
    c.cmd(&["ping", "end"]);
    let mut lines = Vec::new();
    loop {
        let Resp::Simple(l) = mon.read() else { panic!("MONITOR sends simple strings") };
        // "<secs>.<us> [<db> <source>] args": keep the db, the source when it is lua.
        let (_, rest) = l.split_once(" [").expect("a bracket");
        let (source, args) = rest.split_once("] ").expect("closing bracket");
        let (db, from) = source.split_once(' ').expect("db and source");
        let from = if from == "lua" { "lua" } else { "client" };
        lines.push(format!("[{db} {from}] {args}"));
        if args == "\"ping\" \"end\"" {
            return lines;
        }
    }
}

#[test]
fn monitor_shows_script_calls_as_redis_does() {
    let dir = temp_dir("script-monitor");
    let real = RealRedis::start(&dir);
    let want = monitor_scenario(real.port);
    assert!(want.iter().any(|l| l.starts_with("[3 lua] \"incr\"")), "redis-server showed {want:?}");
    for shards in [1, 2] {
        let s = Server::start(shards, &[]);
        assert_eq!(monitor_scenario(s.port), want, "{shards} shards");
    }
}

/// A tracking client (RESP3) reads `x`; a script writes it without declaring it (one
/// shard: every key is in reach). The client gets the invalidation; a WATCH on `x`
/// makes EXEC fail.
fn tracking_scenario(port: u16) -> (Resp, Resp) {
    let mut t = connect(port);
    t.cmd(&["hello", "3"]);
    assert_eq!(t.cmd(&["client", "tracking", "on"]), Resp::simple("OK"));
    assert_eq!(t.cmd(&["set", "x", "1"]), Resp::simple("OK"));
    t.cmd(&["get", "x"]);
    let mut w = connect(port);
    assert_eq!(w.cmd(&["watch", "x"]), Resp::simple("OK"));
    let mut other = connect(port);
    other.cmd(&["eval", "return redis.call('set', 'x', '2')", "0"]);
    let push = t.read();
    w.cmd(&["multi"]);
    w.cmd(&["get", "x"]);
    let exec = w.cmd(&["exec"]);
    (push, exec)
}

#[test]
fn undeclared_writes_of_a_script_invalidate_tracking_and_watch() {
    let dir = temp_dir("script-tracking");
    let real = RealRedis::start(&dir);
    let want = tracking_scenario(real.port);
    assert!(matches!(want.0, Resp::Push(_)), "redis-server sent {want:?}");
    let s = Server::start(1, &[]);
    assert_eq!(tracking_scenario(s.port), want);
}

/// A tracking client (RESP3) reads through scripts. Redis 7.0 remembers, for the
/// script's caller, the script's declared keys each time the script runs a read-only
/// command (all of them, read or not; a script that reads nothing tracks nothing,
/// even EVAL_RO's). shardis must agree wherever the
/// script runs: on the caller's shard, on another one, or across two. Each group's
/// keys share a hash tag, so one shard sees the group's writes in order and the
/// group's sentinel (read with a plain GET) is invalidated last. Returns the
/// invalidated keys, sorted.
fn script_reads_scenario(port: u16) -> Vec<String> {
    let groups = ["a", "b", "c", "d", "e", "f"];
    let names = ["1", "2", "z", "n", "w", "x", "y", "s"];
    let key = |g: &str, s: &str| format!("{{{g}}}{s}");
    let mut t = connect(port);
    t.cmd(&["hello", "3"]);
    assert_eq!(t.cmd(&["client", "tracking", "on"]), Resp::simple("OK"));
    let mut w = connect(port);
    for g in groups {
        for s in names {
            assert_eq!(w.cmd(&["set", &key(g, s), "v"]), Resp::simple("OK"));
        }
    }
    for (i, g) in groups.iter().enumerate() {
        // Writes one of its two keys, then reads the other.
        let read_one = "redis.call('set', KEYS[2], 'v') return redis.call('get', KEYS[1])";
        assert_eq!(t.cmd(&["eval", read_one, "2", &key(g, "1"), &key(g, "2")]), Resp::Bulk(b"v".to_vec()));
        assert_eq!(t.cmd(&["eval_ro", "return 1", "1", &key(g, "z")]), Resp::Int(1));
        // Reads nothing, writes one key.
        assert_eq!(t.cmd(&["eval", "return 1", "1", &key(g, "n")]), Resp::Int(1));
        assert_eq!(t.cmd(&["eval", "return redis.call('set', KEYS[1], 'v')", "1", &key(g, "w")]), Resp::simple("OK"));
        // Keys of two groups (on several shards: a script across them), one read.
        let next = groups[(i + 1) % groups.len()];
        let both = t.cmd(&["eval", "return redis.call('get', KEYS[1])", "2", &key(g, "x"), &key(next, "y")]);
        assert_eq!(both, Resp::Bulk(b"v".to_vec()));
        assert_eq!(t.cmd(&["get", &key(g, "s")]), Resp::Bulk(b"v".to_vec()));
    }
    for g in groups {
        for s in names {
            assert_eq!(w.cmd(&["set", &key(g, s), "w"]), Resp::simple("OK"));
        }
    }
    invalidated_until_sentinels(&mut t, groups.len())
}

/// Reads invalidation pushes on the tracking connection `t` until `sentinels` keys
/// ending in `s` (each group's last plain SET) came: the invalidated keys, sorted.
fn invalidated_until_sentinels(t: &mut common::Raw, sentinels: usize) -> Vec<String> {
    let (mut seen, mut found) = (Vec::new(), 0);
    while found < sentinels {
        let push = t.read();
        let Resp::Push(items) = &push else { panic!("expected an invalidation, got {push:?}") };
        let Some(Resp::Array(keys)) = items.get(1) else { panic!("invalidation without keys: {push:?}") };
        for k in keys {
            let Resp::Bulk(k) = k else { panic!("key {k:?}") };
            let k = String::from_utf8_lossy(k).into_owned();
            found += k.ends_with('s') as usize;
            seen.push(k);
        }
    }
    seen.sort();
    seen
}

#[test]
fn reads_inside_scripts_are_tracked_for_the_caller_on_any_shard() {
    let dir = temp_dir("script-tracking-reads");
    let real = RealRedis::start(&dir);
    let want = script_reads_scenario(real.port);
    let has = |k: &str| want.iter().any(|w| w == k);
    assert!(has("{a}2") && has("{a}y") && !has("{a}z") && !has("{a}n") && !has("{a}w"), "redis-server: {want:?}");
    for shards in [1, 3] {
        let s = Server::start(shards, &[]);
        assert_eq!(script_reads_scenario(s.port), want, "{shards} shard(s)");
    }
}

/// A tracking client (RESP3) has read every key of each group; another client runs
/// scripts that declare several keys but change only some of them: Redis 7.0
/// invalidates (and touches for WATCH) exactly the keys the script's commands
/// changed, not every declared key. Each group's keys share a hash tag (one shard
/// runs the group's scripts), and a plain SET of the group's sentinel comes last.
/// Returns the invalidated keys, sorted, and whether EXEC over a WATCH of a declared
/// key the script left alone went through.
fn script_writes_scenario(port: u16) -> (Vec<String>, Resp) {
    let groups = ["a", "b", "c", "d"];
    let key = |g: &str, s: &str| format!("{{{g}}}{s}");
    let mut w = connect(port);
    let mut t = connect(port);
    t.cmd(&["hello", "3"]);
    assert_eq!(t.cmd(&["client", "tracking", "on"]), Resp::simple("OK"));
    for g in groups {
        for s in ["1", "2", "3", "s"] {
            assert_eq!(w.cmd(&["set", &key(g, s), "v"]), Resp::simple("OK"));
        }
        for s in ["4", "5"] {
            assert_eq!(w.cmd(&["sadd", &key(g, s), "m"]), Resp::Int(1));
        }
        for s in ["1", "2", "3", "s"] {
            assert_eq!(t.cmd(&["get", &key(g, s)]), Resp::Bulk(b"v".to_vec()));
        }
        for s in ["4", "5"] {
            assert_eq!(t.cmd(&["scard", &key(g, s)]), Resp::Int(1));
        }
    }
    let mut watcher = connect(port);
    assert_eq!(watcher.cmd(&["watch", &key("a", "3")]), Resp::simple("OK"));
    for g in groups {
        // Writes KEYS[1]; PERSIST of a key without a TTL changes nothing; KEYS[3] is
        // only declared.
        let one = "redis.call('set', KEYS[1], 'n') return redis.call('persist', KEYS[2])";
        assert_eq!(w.cmd(&["eval", one, "3", &key(g, "1"), &key(g, "2"), &key(g, "3")]), Resp::Int(0));
        // SMOVE into a set that has the member: the source changes, not the destination.
        let smove = "return redis.call('smove', KEYS[1], KEYS[2], 'm')";
        assert_eq!(w.cmd(&["eval", smove, "2", &key(g, "4"), &key(g, "5")]), Resp::Int(1));
        // A script that only reads.
        assert_eq!(w.cmd(&["eval", "return redis.call('get', KEYS[1])", "1", &key(g, "3")]), Resp::Bulk(b"v".to_vec()));
        assert_eq!(w.cmd(&["set", &key(g, "s"), "w"]), Resp::simple("OK"));
    }
    assert_eq!(watcher.cmd(&["multi"]), Resp::simple("OK"));
    watcher.cmd(&["get", &key("a", "3")]);
    let exec = watcher.cmd(&["exec"]);
    (invalidated_until_sentinels(&mut t, groups.len()), exec)
}

#[test]
fn script_writes_invalidate_only_the_keys_they_changed() {
    let dir = temp_dir("script-tracking-writes");
    let real = RealRedis::start(&dir);
    let want = script_writes_scenario(real.port);
    let has = |k: &str| want.0.iter().any(|w| w == k);
    assert!(has("{a}1") && has("{a}4") && !has("{a}2") && !has("{a}3") && !has("{a}5"), "redis-server: {want:?}");
    assert!(matches!(want.1, Resp::Array(_)), "redis-server's EXEC: {:?}", want.1);
    for shards in [1, 3] {
        let s = Server::start(shards, &[]);
        assert_eq!(script_writes_scenario(s.port), want, "{shards} shard(s)");
    }
}

/// `redis.error_reply` gives a text without an error code Redis's `ERR ` (and drops a
/// leading `-`); FCALL looks its function up before numkeys and words numkeys' errors
/// its own way. Found by `diff_random_keys`.
#[test]
fn error_reply_codes_and_fcall_numkeys_errors_match_redis() {
    let real = common::compare::real_redis("scripting-error-reply");
    for shards in common::SHARD_COUNTS {
        let s = Server::start(shards, &[]);
        let mut p = common::compare::Pair::new(&s, &real, 2);
        for arg in ["'custom'", "'-custom x'", "''", "'-'", "'a b'", "'ERR a'"] {
            p.same(&["eval", &format!("return redis.error_reply({arg})"), "0"]);
            p.same(&["eval", &format!("return redis.error_reply({arg}).err"), "0"]);
        }
        p.same(&[
            "function",
            "load",
            "replace",
            "#!lua name=numkeys\nredis.register_function('f', function() return 1 end)",
        ]);
        for numkeys in ["x", "5", "-1", "1.5"] {
            p.same(&["fcall", "nosuch", numkeys, "k"]);
            p.same(&["fcall", "f", numkeys, "k"]);
            p.same(&["fcall_ro", "f", numkeys, "k"]);
            p.same(&["eval", "return 1", numkeys, "k"]);
        }
        p.same(&["fcall", "f", "1", "k"]);
        p.same(&["function", "delete", "numkeys"]);
    }
}
