//! Scripting details where shardis once answered differently from Redis 7.0: error
//! positions through the sandbox's wrapped builtins (tail calls, the script's own
//! `pcall`), `redis.acl_check_cmd`, the globals a library sees while FUNCTION LOAD
//! runs it, and INFO's memory of the functions' own Lua state. Each reply is compared
//! with redis-server's, on 1 and 2 shards.

use crate::common;

use common::{RealRedis, Resp, Server, raw_to, temp_dir};

/// EVAL ... 0 on redis-server and on shardis: every reply the same.
const TAIL_AND_PCALL: &[&str] = &[
    // A failing wrapped builtin in tail position: the script's line, twice.
    "return table.insert(nil, 1)",
    "return table.insert(1, 2)",
    "return table.insert({}, 1, 2, 3)",
    "return table.insert(string, 1)",
    "return next()",
    "return next(nil)",
    "return next(1)",
    "return next({}, 'nope')",
    "return pairs(nil)",
    "return pairs(1)",
    "return ipairs()",
    "return ipairs(1)",
    "return unpack(nil)",
    "return unpack(1)",
    "return unpack({}, 1, 1e8)",
    "return table.foreach(nil)",
    "local function f() return next(1) end return f()",
    "local x = 1\n\nreturn unpack(nil)",
    "local function f()\n  return table.insert(nil, 1)\nend\nreturn f()",
    // The redis helpers written in Lua: `on @user_script:1.` in tail position too.
    "return redis.setresp(4)",
    "return redis.setresp()",
    "return redis.set_repl(9)",
    "return redis.log()",
    "return redis.log('a', 'b')",
    "return redis.log(9, 'b')",
    // Bad arguments are returned as an error table, not raised.
    "return redis.error_reply(1)",
    "return redis.status_reply(1).err",
    // The script's own pcall: the caller's line when the script called the builtin,
    // none (and '?' for the name) when pcall called it.
    "local ok, e = pcall(pairs, 1) return e",
    "local ok, e = pcall(pairs) return e",
    "local ok, e = pcall(function() return pairs(1) end) return e",
    "local ok, e = pcall(function() local x = pairs(1) end) return e",
    "local ok, e = pcall(function() local x = pairs() end) return e",
    "local ok, e = pcall(function() return ipairs(nil) end) return e",
    "local ok, e = pcall(function() for k in pairs(nil) do end end) return e",
    "local ok, e = pcall(function() return unpack({}, 1, 1e8) end) return e",
    "local ok, e = pcall(unpack, {}, 1, 1e8) return e",
    "local ok, e = pcall(function() return table.insert({}, 1, 2, 3) end) return e",
    "local ok, e = pcall(function() return table.insert(string, 1) end) return e",
    "return {pcall(table.insert, nil, 1)}",
    "return {pcall(table.insert, {}, 1, 2, 3)}",
    "return {pcall(function() return pcall(function() return next(1) end) end)}",
    "local co = coroutine.wrap(function() return pcall(pairs, 1) end) return {co()}",
    // Redis's pcall: an error table gives its text; no argument, a boolean's call.
    "local ok, e = pcall(function() error({err = 'x'}) end) return type(e)",
    "local ok, e = pcall(redis.setresp, 4) return e",
    "return {pcall()}",
    "return {pcall(nil)}",
    // Arguments and results pass through unchanged.
    "return {pcall(function(a, b, c, d, e) return a + b + c + d + e end, 1, 2, 3, 4, 5)}",
    "return {pcall(function(a, b) return a .. b end, 'x', 'y')}",
    "return {pcall(function(...) return select('#', ...) end, nil, nil, nil, nil, nil)}",
    "return {pcall(function() return 1, 2, 3 end)}",
    "return {pcall(error, 'x')}",
    "local ok, e = pcall(redis.call, 'nosuch') return e",
    "return string.format('%d-%s', 4, select(2, 'a', 'b'))",
    "local function loop(n) if n == 0 then return 'done' end return loop(n - 1) end return loop(100000)",
];

fn evals(port: u16, scripts: &[&str]) -> Vec<Resp> {
    let mut c = raw_to(port);
    scripts.iter().map(|s| c.cmd(&["eval", s, "0"])).collect()
}

fn compare(what: &str, want: &[Resp], got: &[Resp], labels: &[String]) {
    for ((label, w), g) in labels.iter().zip(want).zip(got) {
        assert_eq!(g, w, "{what}: {label}");
    }
}

#[test]
fn errors_of_wrapped_builtins_name_the_scripts_line_as_redis() {
    let dir = temp_dir("script-gaps-tail");
    let want = evals(RealRedis::start(&dir).port, TAIL_AND_PCALL);
    assert!(matches!(&want[0], Resp::Error(e) if e.contains("user_script:1: bad argument")), "redis-server itself");
    let labels: Vec<String> = TAIL_AND_PCALL.iter().map(|s| s.to_string()).collect();
    for shards in [1, 2] {
        let s = Server::start(shards, &[]);
        compare(&format!("{shards} shard(s)"), &want, &evals(s.port, TAIL_AND_PCALL), &labels);
    }
}

/// Run as `default` and as a restricted user.
const ACL_CHECKS: &[&str] = &[
    "return redis.acl_check_cmd('get', 'a')",
    "return redis.acl_check_cmd('GET')",
    "return redis.acl_check_cmd('set', 'a', 'b')",
    "return redis.acl_check_cmd('set', 'a', 'b') == false",
    "return redis.acl_check_cmd('strlen', 'k1')",
    "return redis.acl_check_cmd('strlen', 'x1')",
    "return redis.acl_check_cmd('strlen', 1)",
    "return redis.acl_check_cmd('strlen', 'k', 'extra', 'x')",
    "return redis.acl_check_cmd('config', 'get', 'x')",
    "return redis.acl_check_cmd('config', 'set', 'x')",
    "return redis.acl_check_cmd('config')",
    "return redis.acl_check_cmd('eval', 'x', '0')",
    "return redis.acl_check_cmd('function', 'load', 'x')",
    // Unknown commands and bad arguments: redis.call's errors, caught or not.
    "return redis.acl_check_cmd('nosuch')",
    "return redis.acl_check_cmd('config', 'nosuch')",
    "return redis.acl_check_cmd(1)",
    "return redis.acl_check_cmd()",
    "return redis.acl_check_cmd({})",
    "return {pcall(redis.acl_check_cmd, 'nosuch')}",
    "local ok, e = pcall(redis.acl_check_cmd) return e",
    "local ok, e = pcall(redis.acl_check_cmd, {}) return e",
];

fn acl_checks(port: u16) -> Vec<Resp> {
    let mut admin = raw_to(port);
    let setup: &[&str] = &["acl", "setuser", "lim", "on", "nopass", "~k*", "+@read", "+eval", "+config|get", "-get"];
    assert_eq!(admin.cmd(setup), Resp::simple("OK"));
    let mut lim = raw_to(port);
    assert_eq!(lim.cmd(&["auth", "lim", "x"]), Resp::simple("OK"));
    let mut out = Vec::new();
    for s in ACL_CHECKS {
        out.push(admin.cmd(&["eval", s, "0"]));
        out.push(lim.cmd(&["eval", s, "0"]));
    }
    out
}

#[test]
fn acl_check_cmd_answers_as_redis() {
    let dir = temp_dir("script-gaps-acl");
    let want = acl_checks(RealRedis::start(&dir).port);
    assert_eq!(want[0], Resp::Int(1), "redis-server itself: default may GET");
    assert_eq!(want[1], Resp::NilBulk, "redis-server itself: lim may not GET");
    let labels: Vec<String> = ACL_CHECKS.iter().flat_map(|s| [format!("default: {s}"), format!("lim: {s}")]).collect();
    for shards in [1, 2] {
        let s = Server::start(shards, &[]);
        compare(&format!("{shards} shard(s)"), &want, &acl_checks(s.port), &labels);
    }
}

/// A library's second line, run at FUNCTION LOAD; each library also registers `f1`
/// (and some `f2`/`f3`), called after.
const LOAD_TIME: &[&str] = &[
    "redis.call('ping')",
    "local x = string.format('%d', 1)",
    "local t = {} table.insert(t, 1)",
    "redis.log(redis.LOG_NOTICE, 'hi')",
    "local x = redis.REDIS_VERSION_NUM .. redis.LOG_DEBUG .. redis.LOG_VERBOSE .. redis.LOG_WARNING",
    "local v = redis.REDIS_VERSION",
    "local x = redis.setresp",
    "local x = redis.pcall",
    "local x = redis.sha1hex",
    "local x = pairs",
    "local x = _G",
    "local x = KEYS",
    "local x = error",
    "local x = cjson",
    "x = 1",
    "redis.x = 1",
    "redis.log = nil",
    "rawset(redis, 'x', 1)",
    "redis.log(redis.LOG_NOTICE)",
    "local f = function() return string.rep('a', 2) end",
    "redis.register_function('f2', function() return string.rep('a', 2) end)",
    "redis.register_function{function_name = 'f3', callback = function() return redis.call('ping') end}",
    "redis.register_function('f1', function() return 2 end)",
];

fn loads(port: u16) -> Vec<Resp> {
    let mut c = raw_to(port);
    let mut out = Vec::new();
    for body in LOAD_TIME {
        let code = format!("#!lua name=l1\n{body}\nredis.register_function('f1', function() return 1 end)");
        out.push(c.cmd(&["function", "load", "replace", &code]));
        for f in ["f1", "f2", "f3"] {
            out.push(c.cmd(&["fcall", f, "0"]));
        }
    }
    out
}

#[test]
fn function_load_sees_only_the_library_api() {
    let dir = temp_dir("script-gaps-load");
    let want = loads(RealRedis::start(&dir).port);
    assert!(matches!(&want[0], Resp::Error(e) if e.contains("nonexistent global variable 'call'")), "redis-server");
    let labels: Vec<String> =
        LOAD_TIME.iter().flat_map(|b| ["load", "f1", "f2", "f3"].map(|w| format!("{w}: {b}"))).collect();
    for shards in [1, 2] {
        let s = Server::start(shards, &[]);
        compare(&format!("{shards} shard(s)"), &want, &loads(s.port), &labels);
    }
}

/// INFO memory's Lua fields: the same names in the same order as redis-server's.
fn lua_fields(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .filter(|(k, _)| ["lua", "vm_", "script", "function"].iter().any(|w| k.contains(w)))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn info_memory(c: &mut common::Raw) -> Vec<(String, String)> {
    match c.cmd(&["info", "memory"]) {
        Resp::Bulk(b) => lua_fields(&String::from_utf8_lossy(&b)),
        other => panic!("INFO: {other:?}"),
    }
}

fn field(fields: &[(String, String)], name: &str) -> u64 {
    fields.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.parse().ok()).unwrap_or_else(|| panic!("{name}"))
}

/// Functions run in a Lua state of their own, as in Redis: INFO reports its memory,
/// and SCRIPT FLUSH leaves the functions alone.
#[test]
fn info_reports_the_functions_lua_state() {
    let dir = temp_dir("script-gaps-info");
    let real = RealRedis::start(&dir);
    let want: Vec<String> = info_memory(&mut raw_to(real.port)).into_iter().map(|(k, _)| k).collect();
    assert!(want.iter().any(|k| k == "used_memory_vm_functions"), "redis-server itself: {want:?}");
    const LIB: &str = "#!lua name=mem\nredis.register_function('count', function(k, a) \
        local t = {} for i = 1, 100 do t[i] = i end return #t end)";
    for shards in [1, 2] {
        let s = Server::start(shards, &[]);
        let mut c = s.raw();
        let before = info_memory(&mut c);
        let names: Vec<String> = before.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(names, want, "{shards} shard(s): the Lua fields");
        let (eval, funcs) = (field(&before, "used_memory_vm_eval"), field(&before, "used_memory_vm_functions"));
        assert!(funcs > 0, "{shards} shard(s): the functions' VM has its memory: {before:?}");
        assert_eq!(field(&before, "used_memory_vm_total"), eval + funcs, "{shards} shard(s)");
        assert_eq!(c.cmd(&["function", "load", LIB]), Resp::bulk("mem"));
        assert_eq!(c.cmd(&["fcall", "count", "0"]), Resp::Int(100));
        assert_eq!(c.cmd(&["script", "flush"]), Resp::simple("OK"));
        assert_eq!(c.cmd(&["fcall", "count", "0"]), Resp::Int(100), "{shards} shard(s): after SCRIPT FLUSH");
        let after = info_memory(&mut c);
        assert!(field(&after, "used_memory_vm_functions") > 0, "{shards} shard(s): {after:?}");
        assert_eq!(field(&after, "number_of_functions"), 1);
    }
}

/// CLIENT PAUSE WRITE holds a script by its flags, as Redis 7.0's
/// `scriptFlagsToCmdFlags`: a `no-writes` one (EVAL with the shebang, its EVALSHA, a
/// `no-writes` function, EVAL_RO, also queued in MULTI) runs at once; a shebang without
/// `no-writes` and a script without one (EVAL's own may-replicate flag) are held until
/// UNPAUSE. A reply that does not come fails the read (20 s timeout).
#[test]
fn a_write_pause_lets_read_only_scripts_through_as_redis() {
    use std::time::Duration;
    let blocked = |c: &mut common::Raw| -> String {
        let Resp::Bulk(b) = c.cmd(&["info", "clients"]) else { panic!("INFO reply") };
        let text = String::from_utf8(b).unwrap();
        text.lines().find_map(|l| l.strip_prefix("blocked_clients:")).expect("blocked_clients").trim().to_string()
    };
    let run = |port: u16| -> Vec<String> {
        let mut admin = raw_to(port);
        let mut seen = vec![format!("{:?}", admin.cmd(&["set", "x", "y"]))];
        let lib = "#!lua name=pauselib\nredis.register_function{function_name='f1', callback=function() return 'hello' end, flags={'no-writes'}}\n\
            redis.register_function('fw', function() return 'w' end)";
        seen.push(format!("{:?}", admin.cmd(&["function", "load", "replace", lib])));
        let Resp::Bulk(sha) = admin.cmd(&["script", "load", "#!lua flags=no-writes\nreturn 2"]) else {
            panic!("SCRIPT LOAD gave no sha")
        };
        let sha = String::from_utf8(sha).unwrap();
        // Queued before the pause: queuing a write is held too.
        let mut tx = raw_to(port);
        seen.push(format!("{:?}", tx.cmd(&["multi"])));
        seen.push(format!("{:?}", tx.cmd(&["eval", "#!lua\nreturn 3", "0"])));
        assert_eq!(admin.cmd(&["client", "pause", "600000", "write"]), Resp::Simple("OK".into()));
        let mut rr = raw_to(port);
        for args in [
            &["eval", "#!lua flags=no-writes\nreturn 'unique script'", "0"][..],
            &["eval", "#!lua flags=no-writes\nreturn 'unique script'", "0"],
            &["eval_ro", "return redis.call('get', KEYS[1])..' unique script'", "1", "x"],
            &["evalsha", &sha, "0"],
            &["evalsha_ro", &sha, "0"],
            &["fcall", "f1", "0"],
            &["fcall_ro", "f1", "0"],
            &["multi"],
            &["eval", "#!lua flags=no-writes\nreturn 12", "0"],
            &["eval", "#!lua flags=no-writes\nreturn 13", "0"],
            &["exec"],
        ] {
            seen.push(format!("{:?}", rr.cmd(args)));
        }
        seen.push(blocked(&mut admin));
        // Held: a flagged script that may write, a flagless one, a writing function,
        // and an EXEC that queued a flagged writing script.
        let mut held = Vec::new();
        for args in [&["eval", "#!lua\nreturn 1", "0"][..], &["eval", "return 2", "0"], &["fcall", "fw", "0"]] {
            let mut c = raw_to(port);
            c.send(&common::encode_cmd(args));
            held.push(c);
        }
        tx.send(&common::encode_cmd(&["exec"]));
        held.push(tx);
        assert!(
            common::wait_until(Duration::from_secs(20), || blocked(&mut admin) == "4"),
            "held: {}",
            blocked(&mut admin)
        );
        admin.cmd(&["client", "unpause"]);
        for c in &mut held {
            seen.push(format!("{:?}", c.read()));
        }
        seen.push(format!("{:?}", admin.cmd(&["function", "delete", "pauselib"])));
        seen
    };
    let real = RealRedis::start(&temp_dir("pause-ro-scripts"));
    let want = run(real.port);
    for shards in [1, 4] {
        let s = Server::start(shards, &[]);
        assert_eq!(run(s.port), want, "{shards} shard(s)");
    }
}

/// DEBUG SET-DISABLE-DENY-SCRIPTS (Redis's debugging switch, `atoi` of its argument):
/// on, a script may call a command flagged `noscript` (BLPOP and BRPOPLPUSH answer
/// their timeout at once, as blocking commands do in scripts); off again, refused.
#[test]
fn debug_set_disable_deny_scripts_as_redis() {
    common::compare::each_pair("disable-deny-scripts", |p| {
        let blpop = "return redis.call('blpop', KEYS[1], 0)";
        let brpoplpush = "return redis.call('brpoplpush', KEYS[1], KEYS[2], 0)";
        p.same(&["eval", blpop, "1", "{l}a"]);
        p.same(&["debug", "set-disable-deny-scripts"]);
        p.same(&["debug", "set-disable-deny-scripts", "1"]);
        p.same(&["eval", blpop, "1", "{l}a"]);
        p.same(&["rpush", "{l}a", "v"]);
        p.same(&["eval", blpop, "1", "{l}a"]);
        p.same(&["eval", brpoplpush, "2", "{l}a", "{l}b"]);
        p.same(&["rpush", "{l}a", "w"]);
        p.same(&["eval", brpoplpush, "2", "{l}a", "{l}b"]);
        p.same(&["lrange", "{l}b", "0", "-1"]);
        p.same(&["debug", "set-disable-deny-scripts", "abc"]);
        p.same(&["eval", blpop, "1", "{l}a"]);
        p.same(&["debug", "set-disable-deny-scripts", "2"]);
        p.same(&["eval", blpop, "1", "{l}b"]);
        p.same(&["debug", "set-disable-deny-scripts", "0"]);
        p.same(&["eval", blpop, "1", "{l}b"]);
    });
}

/// A read-only script (EVAL_RO, a `no-writes` shebang) may not call a may-replicate
/// command (PUBLISH, PFCOUNT) either, as in Redis 7.0, which lets such scripts run
/// during CLIENT PAUSE WRITE; a script without flags may.
#[test]
fn read_only_scripts_refuse_may_replicate_commands_as_redis() {
    common::compare::each_pair("ro-script-may-replicate", |p| {
        p.same(&["pfadd", "{h}h", "a"]);
        for (cmd, body) in [
            ("eval_ro", "return redis.call('publish', 'ch', 'msg')"),
            ("eval", "#!lua flags=no-writes\nreturn redis.call('publish', 'ch', 'msg')"),
            ("eval_ro", "return redis.call('pfcount', KEYS[1])"),
            ("eval", "return redis.call('publish', 'ch', 'msg')"),
            ("eval", "return redis.call('pfcount', KEYS[1])"),
        ] {
            p.same(&[cmd, body, "1", "{h}h"]);
        }
    });
}

/// Under DEBUG SET-DISABLE-DENY-SCRIPTS, DEBUG PROTOCOL from a script gives each RESP3
/// type as a script sees it (an attribute skipped), back to the client in its protocol,
/// as Redis's tests check; a script's `big_number` loses its CR/LF to spaces. A verbatim
/// string reaches a RESP3 script as `{verbatim_string={format=, string=}}`, which a
/// RESP3 client gets back as verbatim (its format padded or cut to three bytes).
#[test]
fn debug_protocol_from_scripts_as_redis() {
    common::compare::each_pair("script-debug-protocol", |p| {
        p.same(&["debug", "set-disable-deny-scripts", "1"]);
        for resp in ["2", "3"] {
            for name in [
                "verbatim", "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push",
                "true", "false", "nope",
            ] {
                let script = format!("redis.setresp({resp}); return redis.call('debug', 'protocol', '{name}')");
                p.same(&["eval", &script, "0"]);
            }
        }
        p.same(&["eval", "return {big_number='123\\r\\n123'}", "0"]);
        for resp in ["2", "3"] {
            let fields = format!(
                "redis.setresp({resp}); local r = redis.call('debug', 'protocol', 'verbatim') \
                 if type(r) ~= 'table' then return r end return {{r.verbatim_string.format, r.verbatim_string.string}}"
            );
            p.same(&["eval", &fields, "0"]);
        }
        for table in [
            "{verbatim_string={format='ab', string='x'}}",
            "{verbatim_string={format='abcd', string='x'}}",
            "{verbatim_string={format='a\\0b', string='x'}}",
            "{verbatim_string={format='abc'}}",
            "{verbatim_string={format=1, string=2}, map={a=1}}",
            "{verbatim_string={format='xyz', string='q'}, double=1.5}",
            "{verbatim_string={format='xyz', string='q'}, big_number='12'}",
        ] {
            p.same(&["eval", &format!("return {table}"), "0"]);
        }
        p.same(&["debug", "set-disable-deny-scripts", "0"]);
        p.same(&["eval", "return redis.call('debug', 'protocol', 'string')", "0"]);
    });
}
