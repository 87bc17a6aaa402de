//! Lua scripting against the real binary: EVAL/EVALSHA/SCRIPT replies compared with
//! redis-server's (RESP2 and RESP3, 1 and 4 shards), redis-py's `Lock`, a two-shard
//! script atomic under a concurrent reader, effects in the AOF, and bad input.
//!
//! Needs `redis-server` (`scripts/test.sh` installs it) and, for the Lock test, a
//! python3 with redis-py (Debian's `python3-redis`).

use crate::common;

use common::{RealRedis, Resp, Server, temp_dir, wait_until};
use std::time::Duration;

/// Scripts whose replies must match redis-server's byte for byte (as parsed RESP).
/// Keys carry one hash tag so that, with 4 shards, declared keys share a shard when
/// the script touches several.
const CASES: &[&[&str]] = &[
    &["eval", "return 1", "0"],
    &["eval", "return {1, 2, 3.7, 'x', nil, 4}", "0"],
    &["eval", "return 3.99", "0"],
    &["eval", "return -3.99", "0"],
    &["eval", "return true", "0"],
    &["eval", "return false", "0"],
    &["eval", "return nil", "0"],
    &["eval", "return {err='boom'}", "0"],
    &["eval", "return {ok='fine'}", "0"],
    &["eval", "return redis.error_reply('My Error')", "0"],
    &["eval", "return redis.status_reply('S')", "0"],
    &["eval", "return {double=3.5}", "0"],
    &["eval", "return {map={a=1}}", "0"],
    &["eval", "return {set={a=true}}", "0"],
    &["eval", "return {big_number='123'}", "0"],
    &["eval", "redis.setresp(3); return {true, false}", "0"],
    &["eval", "return redis.sha1hex('abc')", "0"],
    &["eval", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}", "2", "k1{t}", "k2{t}", "a1", "a2"],
    &["eval", "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])", "1", "s{t}", "bin\x00ary"],
    &["eval", "redis.call('set', KEYS[1], 0.1); return redis.call('get', KEYS[1])", "1", "s{t}"],
    &["eval", "return redis.call('incr', KEYS[1])", "1", "n{t}"],
    &["eval", "return redis.call('get', KEYS[1])", "1", "missing{t}"],
    &["eval", "return redis.call('ping')", "0"],
    &["eval", "return redis.pcall('incr', KEYS[1], 'x')", "1", "n{t}"],
    &["eval", "redis.call('set', KEYS[1], 'foo'); return redis.call('incr', KEYS[1])", "1", "s{t}"],
    &["eval", "redis.call('set', KEYS[1], 'foo'); return redis.pcall('incr', KEYS[1])", "1", "s{t}"],
    &["eval", "redis.call('hset', KEYS[1], 'a', '1'); return redis.call('hgetall', KEYS[1])", "1", "h{t}"],
    &["eval", "redis.setresp(3); return redis.call('hgetall', KEYS[1])", "1", "h{t}"],
    &["eval", "redis.setresp(3); return redis.call('get', KEYS[1])", "1", "missing{t}"],
    &["eval", "return redis.call('nosuch')", "0"],
    &["eval", "return redis.pcall('nosuch')", "0"],
    &["eval", "local ok, e = pcall(redis.call, 'nosuch') return {tostring(ok), e}", "0"],
    &["eval", "local ok, e = pcall(redis.call, 'incr') return {tostring(ok), e}", "0"],
    &[
        "eval",
        "redis.call('set', KEYS[1], 'a') local ok, e = pcall(redis.call, 'incr', KEYS[1]) return {tostring(ok), e}",
        "1",
        "pc{t}",
    ],
    &["eval", "local ok, e = pcall(function() error('boom') end) return {tostring(ok), e}", "0"],
    &["eval", "return redis.call('get')", "0"],
    &["eval", "return redis.call('eval', 'return 1', '0')", "0"],
    &["eval", "return redis.call('set', 'k', {})", "0"],
    &["eval", "return redis.call()", "0"],
    &["eval", "error('x')", "0"],
    &["eval", "error({err='MY bad'})", "0"],
    &["eval", "x = 1", "0"],
    &["eval", "return y", "0"],
    &["eval", "os.exit()", "0"],
    &["eval", "return loadstring('return 1')()", "0"],
    &["eval", "return 1 +", "0"],
    &["eval", "return 1", "-1"],
    &["eval", "return 1", "5", "a"],
    &["eval", "return 1", "abc"],
    &["eval", "redis.setresp(4)", "0"],
    &["eval", "redis.set_repl(9)", "0"],
    &["eval", "return redis.sha1hex()", "0"],
    &["eval", "return cjson.encode({1, 2, 'x', {a=1.5}})", "0"],
    &["eval", "return cjson.encode(cjson.decode('{\"a\":[1,2],\"b\":\"x\\\\ny\"}'))", "0"],
    &["eval", "return cjson.decode('[1,2,{\"a\":null}]')[3].a == cjson.null", "0"],
    &["eval", "return {bit.band(0xff, 0x0f), bit.tohex(255), bit.bor(1, 2), bit.lshift(1, 4)}", "0"],
    &["eval_ro", "return redis.call('set', KEYS[1], 'b')", "1", "a{t}"],
    &["eval", "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'b')", "1", "a{t}"],
    &["eval", "#!lua flags=bogus\nreturn 1", "0"],
    &["eval", "#!foo\nreturn 1", "0"],
    &["eval", "#!lua\nreturn redis.call('set', KEYS[1], 'b')", "1", "a{t}"],
    // The `#!` line as Redis splits it: it must end in a newline, blanks and quotes
    // as `sdssplitargs`, the flag list as `sdssplitlen` (an empty flag is an error).
    &["eval", "#!lua", "0"],
    &["eval", "#!lua flags=no-writes", "0"],
    &["eval", "#!lua\r\nreturn 1", "0"],
    &["eval", "#!lua\tflags=no-writes\nreturn 1", "0"],
    &["eval", "#!lua \"flags=no-writes\"\nreturn 1", "0"],
    &["eval", "#!lua \"flags\nreturn 1", "0"],
    &["eval", "#!lua flags=\nreturn 1", "0"],
    &["eval", "#!lua flags=no-writes,\nreturn 1", "0"],
    &["eval", "#!lua flags=no-writes,,allow-oom\nreturn 1", "0"],
    &["eval", "#! lua\nreturn 1", "0"],
    &["evalsha", "ffffffffffffffffffffffffffffffffffffffff", "0"],
    &["script", "load", "return 'hi'"],
    &["evalsha", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", "0"],
    &["evalsha_ro", "2F31BA2BB6D6A0F42CC159D2E2DAD55440778DE3", "0"],
    &["script", "exists", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3", "ffffffffffffffffffffffffffffffffffffffff"],
    &["script", "flush"],
    &["script", "exists", "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3"],
    &["script", "kill"],
    &["script", "foo"],
    &["function", "flush"],
    &["function", "load", "return 1"],
    &["function", "load", "#!lua\nreturn 1"],
    &["function", "load", LIB1],
    &["function", "load", "#!lua name=lib1\nredis.register_function('f1', function() end)"],
    &["function", "load", "#!lua name=lib2\nreturn 1"],
    &["fcall", "f1", "1", "k{t}"],
    &["fcall", "f2", "0", "hello"],
    &["fcall_ro", "f1", "1", "k{t}"],
    &["fcall_ro", "f2", "0", "hi"],
    &["fcall", "nosuch", "0"],
    &["fcall", "f1", "1"],
    &["function", "load", "#!lua name=lib3\nredis.register_function('f3', function() error('boom') end)"],
    &["fcall", "f3", "0"],
    &["function", "list", "libraryname", "lib3"],
    &["function", "list", "withcode", "libraryname", "lib3"],
    &["function", "stats"],
    &["function", "delete", "nosuch"],
    &["function", "load", "#!lua name=lib4\nredis.register_function('f1', function() end)"],
    &["function", "load", "#!lua name=lib5\nredis.register_function('bad-name', function() end)"],
    &["function", "load", "#!lua name=lib6"],
    &["function", "load", "#!lua name=a name=b\nreturn 1"],
    &["function", "load", "#!\nreturn 1"],
    &["function", "load", "#!foo name=a-b\nreturn 1"],
    &["function", "load", "#!foo name=ab\nreturn 1"],
    &["function", "load", "#!lua name=\"a b\nreturn 1"],
    &["function", "load", "#!lua\tNAME=lib7\r\nredis.register_function('f7', function() return 7 end)"],
    &["fcall", "f7", "0"],
    &["function", "delete", "lib3"],
    &["function", "list", "libraryname", "lib3"],
    &["function", "kill"],
];

const LIB1: &str = "#!lua name=lib1\n\
    redis.register_function('f1', function(keys, args) return redis.call('incr', keys[1]) end)\n\
    redis.register_function{function_name='f2', callback=function(keys, args) return args[1] end, \
    flags={'no-writes'}, description='d'}";

use common::raw_to as connect;

fn run_all(raw: &mut common::Raw, resp3: bool) -> Vec<Resp> {
    if resp3 {
        raw.cmd(&["hello", "3"]);
    }
    raw.cmd(&["flushall"]);
    CASES.iter().map(|c| raw.cmd(c)).collect()
}

#[test]
fn replies_match_redis_server_in_resp2_and_resp3() {
    let dir = temp_dir("script-real");
    let real = RealRedis::start(&dir);
    let port = real.port;
    let mut want = Vec::new();
    for resp3 in [false, true] {
        let mut raw = connect(port);
        want.push(run_all(&mut raw, resp3));
    }
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        for (i, resp3) in [false, true].into_iter().enumerate() {
            let got = run_all(&mut s.raw(), resp3);
            for (j, c) in CASES.iter().enumerate() {
                assert_eq!(got[j], want[i][j], "{shards} shards, resp3={resp3}: {c:?}");
            }
        }
    }
}

fn int(r: Resp) -> i64 {
    match r {
        Resp::Int(i) => i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

/// Two keys on different shards, incremented together by a script, are never seen
/// apart by a concurrent MGET (the script locks both shards, as MSET does).
#[test]
fn two_shard_script_is_atomic_under_a_concurrent_reader() {
    let s = Server::start(4, &[]);
    let (a, b) = ("a{1}", "b{2}");
    let mut c = s.raw();
    // The keys must live on different shards for the test to mean anything.
    let keys = c.cmd(&["eval", "return 1", "2", a, b]);
    assert_eq!(keys, Resp::Int(1));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let mut r = s.raw();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match r.cmd(&["mget", a, b]) {
                    Resp::Array(v) => assert_eq!(v[0], v[1], "a script's writes seen half-applied"),
                    other => panic!("{other:?}"),
                }
                seen += 1;
            }
            seen
        })
    };
    let script = "redis.call('incr', KEYS[1]); return redis.call('incr', KEYS[2])";
    for i in 1..=300 {
        assert_eq!(int(c.cmd(&["eval", script, "2", a, b])), i);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().expect("reader") > 0);
    // An undeclared key on a multi-shard server gets Redis's cluster-mode error.
    match c.cmd(&["eval", "return redis.call('get', 'zzz')", "0"]) {
        Resp::Error(e) => {
            assert!(e.starts_with("ERR Script attempted to access a non local key in a cluster node"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

/// The AOF gets the script's effects (deterministic forms, in MULTI/EXEC), never
/// the script, and replays to the same data.
#[test]
fn aof_logs_effects_not_the_script_and_replays() {
    for shards in [1, 4] {
        let dir = temp_dir("script-aof");
        let mut s = Server::start_in(dir.clone(), shards, &["--appendonly", "yes", "--appendfsync", "always"]);
        let mut c = s.raw();
        let rate =
            "local n = redis.call('incr', KEYS[1]); if n == 1 then redis.call('expire', KEYS[1], 100) end; return n";
        for _ in 0..3 {
            c.cmd(&["eval", rate, "1", "rl{x}"]);
        }
        c.cmd(&[
            "eval",
            "redis.call('set', KEYS[1], ARGV[1]); redis.call('set', KEYS[2], ARGV[1])",
            "2",
            "p{1}",
            "q{2}",
            "v",
        ]);
        let before = c.cmd(&["debug", "digest"]);
        let mut text = Vec::new();
        for e in std::fs::read_dir(dir.join("appendonlydir")).expect("aof dir") {
            let p = e.expect("entry").path();
            if p.to_string_lossy().contains(".incr.") {
                text.extend(std::fs::read(&p).expect("read aof"));
            }
        }
        let text = String::from_utf8_lossy(&text).to_lowercase();
        assert!(!text.contains("eval"), "the script itself was logged:\n{text}");
        assert!(text.contains("pexpireat"), "EXPIRE logged in its absolute form:\n{text}");
        assert!(text.contains("multi"), "several effects are wrapped in MULTI/EXEC:\n{text}");
        drop(c);
        s.terminate();
        let s2 = Server::start_in(dir, shards, &["--appendonly", "yes"]);
        assert_eq!(s2.raw().cmd(&["debug", "digest"]), before, "{shards} shards: replay differs");
    }
}

/// Bad scripts get errors and the server keeps serving; nothing is half-applied by
/// a refused script.
#[test]
fn bad_input_keeps_the_server_serving() {
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        let mut c = s.raw();
        let cases: &[&[&str]] = &[
            &["eval", "return (", "0"],
            &["eval", "local t = nil; return t.x", "0"],
            &["eval", "return 1", "99999999999999999999"],
            &["eval", "return 1", "9223372036854775807"],
            &["eval", "local function f(n) return 1 + f(n + 1) end return f(1)", "0"],
            &["eval", "return string.rep('x', 100)", "0"],
            &["eval", "return cjson.decode('[1,2')", "0"],
            &["eval", "return cjson.encode(function() end)", "0"],
            &["evalsha", "nope", "0"],
            &["script", "load", "return ("],
            &["eval", "return bit.band('x')", "0"],
            &["eval", "return math.random(0)", "0"],
        ];
        for case in cases {
            let r = c.cmd(case);
            if case[1].starts_with("return string.rep") {
                assert_eq!(r, Resp::bulk(&"x".repeat(100)));
            } else {
                assert!(matches!(r, Resp::Error(_)), "{case:?}: {r:?}");
            }
        }
        let bin: Vec<u8> = (0..=255u8).collect();
        c.send(&common::encode_cmd(&[
            &b"eval"[..],
            b"redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])",
            b"1",
            b"bin",
            &bin,
        ]));
        assert_eq!(c.read(), Resp::Bulk(bin));
        assert_eq!(c.cmd(&["ping"]), Resp::simple("PONG"));
        assert!(wait_until(Duration::from_secs(5), || c.cmd(&["dbsize"]) == Resp::Int(1)));
    }
}

/// FUNCTION DUMP payloads move between shardis and redis-server both ways.
#[test]
fn function_dump_restore_interop() {
    let dir = temp_dir("script-fn-real");
    let real = RealRedis::start(&dir);
    let mut r = connect(real.port);
    assert_eq!(r.cmd(&["function", "load", LIB1]), Resp::bulk("lib1"));
    let from_redis = match r.cmd(&["function", "dump"]) {
        Resp::Bulk(b) => b,
        other => panic!("{other:?}"),
    };
    let sdir = temp_dir("script-fn-aof");
    let s = Server::start_in(sdir, 4, &[]);
    let mut c = s.raw();
    c.send(&common::encode_cmd(&[&b"function"[..], b"restore", &from_redis]));
    assert_eq!(c.read(), Resp::simple("OK"));
    assert_eq!(c.cmd(&["fcall", "f2", "0", "x"]), Resp::bulk("x"));
    let from_shardis = match c.cmd(&["function", "dump"]) {
        Resp::Bulk(b) => b,
        other => panic!("{other:?}"),
    };
    r.cmd(&["function", "flush"]);
    r.send(&common::encode_cmd(&[&b"function"[..], b"restore", &from_shardis]));
    assert_eq!(r.read(), Resp::simple("OK"));
    assert_eq!(r.cmd(&["fcall", "f2", "0", "y"]), Resp::bulk("y"));
    assert_eq!(c.cmd(&["fcall", "f1", "1", "n"]), Resp::Int(1));
}

/// A python3 that has redis-py (Debian's python3-redis lives under /usr/bin/python3).
fn python_with_redis() -> String {
    for py in ["python3", "/usr/bin/python3"] {
        let ok = std::process::Command::new(py)
            .args(["-c", "import redis"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return py.to_string();
        }
    }
    panic!("no python3 with redis-py: install Debian's python3-redis (or pip install redis)");
}

/// redis-py's `Lock` (EVALSHA scripts for release and extend) works on 1 and 4 shards.
#[test]
fn redis_py_lock_acquire_extend_release() {
    let py = python_with_redis();
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        let code = format!(
            r#"
import redis
r = redis.Redis(port={port})
lock = r.lock("resource", timeout=10)
assert lock.acquire(blocking=False)
other = r.lock("resource", timeout=10)
assert not other.acquire(blocking=False)
assert lock.extend(5)
assert r.pttl("resource") > 10000
assert lock.owned()
lock.release()
assert r.get("resource") is None
assert other.acquire(blocking=False)
other.reacquire()
other.release()
try:
    other.release()
    raise SystemExit("released twice")
except redis.exceptions.LockError:
    pass
print("ok")
"#,
            port = s.port
        );
        let out = std::process::Command::new(&py).args(["-c", &code]).output().expect("run python");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
            "{shards} shards: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
