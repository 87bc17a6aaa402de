//! FUNCTION LOAD's refusals and the sandbox's, compared with redis-server 7.0:
//! `redis.register_function`'s argument errors (Redis's texts, case-insensitive named
//! arguments and flags, listed as status replies), its refusal at run time through a
//! kept `redis` table, the 500 ms limit on a library's top-level code, FUNCTION FLUSH
//! and RESTORE past their arity, `loadstring` refusing a binary chunk, and `unpack`
//! over a range whose count overflows (which crashed the server).

use crate::common::{self, Resp};

fn lib(body: &str) -> String {
    format!("#!lua name=lib\n{body}")
}

const REGISTRATIONS: &[&str] = &[
    "redis.register_function()",
    "redis.register_function('f1')",
    "redis.register_function('f1', function() return 1 end, {}, 'description', 'extra arg')",
    "redis.register_function(nil, function() return 1 end)",
    "redis.register_function('f1', 5)",
    "redis.register_function(1, function() return 1 end)",
    "redis.register_function{function_name=1.5, callback=function() return 1 end}",
    "redis.register_function{function_name={}, callback=function() return 1 end}",
    "redis.register_function{function_name='f1', callback=5}",
    "redis.register_function{function_name='f1', callback=function() return 1 end, description={}}",
    "redis.register_function{function_name='f1', callback=function() return 1 end, description=5}",
    "redis.register_function{function_name='f1', callback=function() return 1 end, flags=5}",
    "redis.register_function{function_name='f1', callback=function() return 1 end, flags={'bad'}}",
    "redis.register_function{function_name='f1', callback=function() return 1 end, flags={5}}",
    "redis.register_function{function_name='f1', callback=function() return 1 end, some='x'}",
    "redis.register_function{callback=function() return 1 end}",
    "redis.register_function{function_name='f1'}",
    "redis.register_function{[{}]='f1', callback=function() return 1 end}",
    "redis.register_function{FUNCTION_NAME='f1', Callback=function() return 1 end, flags={'NO-WRITES', 'allow-stale', 'no-writes'}}",
    "redis.register_function('', function() return 1 end)",
];

#[test]
fn register_function_arguments_as_redis() {
    common::compare::each_pair("function-load-errors", |p| {
        for body in REGISTRATIONS {
            p.same(&["function", "load", &lib(body)]);
            p.same(&["function", "list"]);
            p.same(&["function", "flush"]);
        }
        // A function keeping the load's `redis` table: writing to it is refused, and
        // registering through it is refused at run time.
        p.same(&[
            "function",
            "load",
            &lib("local lib = redis\n\
                  lib.register_function('f1', function() lib.redis = redis return 1 end)\n\
                  lib.register_function('f2', function() lib.register_function('f3', function() return 1 end) end)"),
        ]);
        p.same(&["fcall", "f1", "0"]);
        p.same(&["fcall", "f2", "0"]);
        p.same(&["function", "flush"]);
    });
}

#[test]
fn load_timeout_and_arity_as_redis() {
    common::compare::each_pair("function-load-timeout", |p| {
        // Stopped after 500 ms, even when the library catches the error.
        p.same(&["function", "load", &lib("local a = 1\nwhile 1 do a = a + 1 end")]);
        p.same(&["function", "load", &lib("while true do pcall(function() while true do end end) end")]);
        p.same(&["ping"]);
        for args in [
            &["function", "flush", "x", "y"][..],
            &["function", "flush", "async", "sync"],
            &["function", "flush", "x"],
            &["function", "restore"],
            &["function", "restore", "a", "b", "c"],
            &["function", "restore", "a", "b"],
        ] {
            p.same(args);
        }
    });
}

#[test]
fn binary_chunks_and_unpack_overflow_as_redis() {
    common::compare::each_pair("lua-binary-unpack", |p| {
        for script in [
            "local f, e = loadstring(string.dump(function() return 1 end)) return {tostring(f), e}",
            "local f, e = loadstring(string.dump(function() return 1 end), '=foo') return {tostring(f), e}",
            "local f, e = loadstring('\\27' .. string.rep('x', 80)) return {tostring(f), e}",
            "local f, e = loadstring('\\27x\\ny') return {tostring(f), e}",
            "return loadstring('return 1')()",
            "return {unpack({1,2,3}, 0, 2147483647)}",
            "return {unpack({1,2,3}, -2, 2147483647)}",
            "return {unpack({1,2,3}, -2147483648, -2)}",
            "return {unpack({1,2,3}, 1, 1e10)}",
            "return {unpack({1,2,3}, -1, 2)}",
            "return {unpack({1,2,3}, 2)}",
            "return {unpack({1,2,3}, 3, 2)}",
            "return {pcall(unpack, {1,2,3}, 0, 2147483647)}",
        ] {
            p.same(&["eval", script, "0"]);
        }
        p.same(&["ping"]);
    });
}

/// Found by Redis's Tcl units (functions, scripting): FUNCTION LIST's LIBRARYNAME
/// without its pattern, FUNCTION LOAD and RESTORE refused over `maxmemory` (their
/// subcommands are `denyoom` in Redis 7.0, the container is not), which a later
/// `LOAD REPLACE` of a function the refused library would have owned relies on, and
/// `bit.tohex`'s count at its limits (i32::MIN, 0, past 8).
#[test]
fn list_arguments_oom_refusals_and_tohex_as_redis() {
    common::compare::each_pair("function-list-oom", |p| {
        p.same(&["function", "flush"]);
        let f1 = "#!lua name=test\nredis.register_function('f1', function() return 1 end)";
        p.same(&["function", "load", f1]);
        for args in [
            &["function", "list", "libraryname"][..],
            &["function", "list", "withcode", "libraryname"],
            &["function", "list", "libraryname", "test", "libraryname"],
            &["function", "list", "libraryname", "test", "withcode", "withcode"],
            &["function", "list", "libraryname", "nomatch"],
            &["function", "list", "LIBRARYNAME", "TE*"],
        ] {
            p.same(args);
        }
        // Each server's own payload: the refusal comes before it is read.
        let (Resp::Bulk(ours), Resp::Bulk(theirs)) = p.both(&["function", "dump"]) else {
            panic!("FUNCTION DUMP gave no payload")
        };
        let flagged = "#!lua name=flagged\n\
            redis.register_function('fw', function() return redis.call('set', 'x', '1') end)\n\
            redis.register_function{function_name='fnw', callback=function() return 'hello' end, flags={'no-writes'}}\n\
            redis.register_function{function_name='foom', callback=function(keys) return redis.call('set', keys[1], '2') end, flags={'allow-oom'}}";
        p.same(&["function", "load", flagged]);
        let shebang = "#!lua\nreturn redis.call('set', 'y', '1')";
        let Resp::Bulk(sha) = p.same(&["script", "load", shebang]) else { panic!("SCRIPT LOAD gave no sha") };
        let sha = String::from_utf8(sha).expect("a hex sha");
        p.same(&["config", "set", "maxmemory", "1"]);
        // A script's flags decide whether it is `denyoom` (a function always has flags).
        for args in [
            &["fcall", "fw", "1", "k"][..],
            &["fcall", "fnw", "1", "k"],
            &["fcall_ro", "fnw", "1", "k"],
            &["fcall_ro", "fw", "1", "k"],
            &["fcall", "foom", "1", "x"],
            &["get", "x"],
            &["fcall", "missing", "0"],
            &["eval", shebang, "0"],
            &["evalsha", &sha, "0"],
            &["eval", "#!lua flags=no-writes\nreturn 1", "0"],
            &["eval", "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], '2')", "1", "y"],
            &["eval", "return 1", "0"],
        ] {
            p.same(args);
        }
        p.same(&["function", "flush"]);
        p.same(&["function", "load", "replace", f1]);
        let restore = |payload: &[u8]| vec![b"function".to_vec(), b"restore".to_vec(), payload.to_vec()];
        let (o, t) = (p.ours.cmd(&restore(&ours)), p.theirs.cmd(&restore(&theirs)));
        assert_eq!(o, t, "FUNCTION RESTORE over maxmemory");
        p.same(&["multi"]);
        p.same(&["function", "load", f1]);
        p.same(&["exec"]);
        // Not `denyoom`: these still run.
        p.same(&["function", "list"]);
        p.same(&["function", "delete", "test"]);
        p.same(&["function", "flush"]);
        p.same(&["config", "set", "maxmemory", "0"]);
        // Nothing was loaded, so a library named f1 may register f1.
        p.same(&[
            "function",
            "load",
            "replace",
            "#!lua name=f1\nredis.register_function('f1', function() return 2 end)",
        ]);
        p.same(&["fcall", "f1", "0"]);
        p.same(&[
            "function",
            "load",
            "replace",
            "#!lua name=other\nredis.register_function('f1', function() return 3 end)",
        ]);
        p.same(&["function", "flush"]);
        for (n, width) in [
            ("65535", "-2147483648"),
            ("65535", "2147483647"),
            ("65535", "0"),
            ("65535", "-4"),
            ("65535", "4"),
            ("65535", "-9"),
            ("-1", "-8"),
            ("65535", "4294967300"),
        ] {
            p.same(&["eval", &format!("return bit.tohex({n}, {width})"), "0"]);
        }
    });
}

/// Redis 7.0's `scriptVerifyOOM`: past `maxmemory` when the command began, a script
/// without flags (which runs) gets `-OOM` at its first `denyoom` command if it has
/// not written yet (a read first changes nothing, a write that is not `denyoom`, as
/// DEL, lets the rest run), through `redis.call` and `redis.pcall`; `allow-oom` and
/// `maxmemory 0` lift it. The keys share a hash tag, so one shard owns them all.
#[test]
fn a_flagless_scripts_first_denyoom_write_past_maxmemory_is_refused_as_redis() {
    common::compare::each_pair("script-oom-first-write", |p| {
        p.same(&["set", "{t}a", "1"]);
        p.same(&["config", "set", "maxmemory", "1"]);
        let set = "redis.call('set', KEYS[2], 'y')";
        for script in [
            format!("{set} return 1"),
            format!("redis.call('get', KEYS[1]) {set} return 2"),
            "return redis.pcall('set', KEYS[2], 'y')".to_string(),
            "return redis.pcall('incr', KEYS[1])".to_string(),
            "return redis.call('get', KEYS[1])".to_string(),
            format!("redis.call('del', KEYS[3]) {set} return 3"),
            format!("#!lua flags=allow-oom\n{set} return 4"),
        ] {
            p.same(&["eval", &script, "3", "{t}a", "{t}x", "{t}nokey"]);
        }
        p.same(&["get", "{t}x"]);
        p.same(&["del", "{t}x"]);
        p.same(&["config", "set", "maxmemory", "0"]);
        p.same(&["eval", &format!("{set} return 5"), "2", "{t}a", "{t}x"]);
        p.same(&["get", "{t}x"]);
    });
}
