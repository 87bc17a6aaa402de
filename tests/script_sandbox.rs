//! The scripts' read-only sandbox (Redis 7.0): the globals, every library table and
//! the string metatable refuse writes, by assignment and by the builtins that bypass
//! metamethods, while reads (raw ones and iteration included) see them whole. Every
//! reply, errors with their sha and line, is compared with redis-server's; then a
//! later script must still see the libraries intact.

use crate::common;

use common::{RealRedis, Resp, Server, raw_to, temp_dir};

/// Scripts run with EVAL ... 0, in order, on redis-server and on shardis.
const SCRIPTS: &[&str] = &[
    // Writes Redis refuses: by assignment (`user_script:1:` first) ...
    "x = 1",
    "_G.x = 1",
    "redis = nil",
    "string.rep = nil",
    "getmetatable('').__index = nil",
    "cjson.encode = nil",
    "bit.band = nil",
    "struct.pack = nil",
    "cmsgpack.pack = nil",
    "math.floor = nil",
    "table.concat = nil",
    "coroutine.x = 1",
    "redis.call = nil",
    "local mt = getmetatable(_G) mt.__index = nil return 1",
    "local ok, e = pcall(function() string.x = 1 end) return e",
    "return loadstring('x=1')()",
    "local f = load(coroutine.wrap(function() coroutine.yield('z = 1') end)) return f()",
    // ... and through the builtins (raised in C: no position), tail calls included.
    "rawset(_G, 'x', 1)",
    "return rawset(_G, 'x', 1)",
    "rawset(string, 'rep', nil)",
    "table.insert(string, 1)",
    "setmetatable(_G, nil)",
    "return setmetatable(_G, nil)",
    "setmetatable(string, {})",
    "setmetatable(getmetatable(''), {})",
    "local ok, e = pcall(rawset, string, 'a', 1) return e",
    // Reads see the real tables.
    "local n=0 for k,v in pairs(string) do n=n+1 end return n",
    "local t={} for k in pairs(_G) do t[#t+1]=k end table.sort(t) return t",
    "local n=0 table.foreach(string, function(k) n=n+1 end) return n",
    "local c=0 for i,v in ipairs(_G) do c=c+1 end return c",
    "return rawget(string,'rep') ~= nil",
    "return type(rawget(_G, 'redis'))",
    "return rawget(_G, 'nosuch')",
    "return next(string) ~= nil",
    "return unpack(string)",
    "return type(getmetatable(''))",
    "return getmetatable('').__index == string",
    "return rawequal(string, getmetatable('').__index)",
    "return tostring(getmetatable(string))",
    "return getmetatable(getmetatable(''))",
    "return type(getmetatable(_G).__index)",
    "return getmetatable(_G) == getmetatable(_G)",
    "return _G == _G._G",
    "return _G.nosuch",
    "return table.remove(string)",
    "table.sort(string)",
    "return table.concat(string)",
    "return ('x'):rep(3)",
    "return ('%d'):format(5)",
    "return setmetatable({}, {__index=string}).rep('b', 2)",
    // User tables, KEYS and ARGV stay writable; the wrapped builtins work as before.
    "local t = {} t.x = 1 return t.x",
    "KEYS[1] = 'a' return KEYS[1]",
    "return rawset({}, 'a', 1).a",
    "local t={} table.insert(t, 'a') table.insert(t, 1, 'b') return t",
    "return {next({5})}",
    "return {unpack({1,2,3}, 2)}",
    "return select('#', unpack({1,nil,3}))",
    "return getmetatable(setmetatable({}, {__index = 1})).__index",
    "return loadstring('return 1')()",
    "return tostring(select(2, loadstring('y = ')))",
    // The wrapped builtins' own errors: position and name as when Redis's script
    // calls the C builtin itself. (Those wrapped in Lua lose the line when the
    // script tail-calls them: not compared.)
    "return rawget(nil,1)",
    "return rawget()",
    "table.insert(nil, 1)",
    "local ok, e = pcall(function() table.insert(nil, 1) end) return e",
    "table.insert({}, 1, 2, 3)",
    "return setmetatable({}, 1)",
    "local k = next({}, 'nope')",
    "for i in ipairs() do end",
    "for k in pairs(nil) do end",
    "local x = unpack(nil)",
    "return loadstring(nil)",
    "return rawset({}, nil, 1)",
    "rawset({}, 0/0, 1)",
    "local x = unpack({}, 1, 1e8)",
    "local t = setmetatable({}, {__metatable=1}) setmetatable(t, {})",
    "local ok, e = pcall(rawget, nil) return e",
    "local ok, e = pcall(function() return rawget(nil) end) return e",
];

/// Run after all of SCRIPTS: nothing they tried stuck.
const AFTER: &[(&str, &str)] = &[
    ("return string.rep('a', 3)", "aaa"),
    ("return ('b'):rep(2)", "bb"),
    ("return string.format('%s-%d', 'x', 7)", "x-7"),
    ("return redis.call('ping')", "PONG"),
    ("return cjson.encode({1})", "[1]"),
    ("return type(rawget(_G, 'x'))", "nil"),
    ("return tostring(pcall(function() return x end))", "false"),
];

fn run_all(port: u16) -> Vec<Resp> {
    let mut c = raw_to(port);
    SCRIPTS.iter().chain(AFTER.iter().map(|(s, _)| s)).map(|s| c.cmd(&["eval", s, "0"])).collect()
}

#[test]
fn library_tables_and_globals_are_read_only_as_in_redis() {
    let dir = temp_dir("script-sandbox");
    let want = run_all(RealRedis::start(&dir).port);
    for (i, (script, reply)) in AFTER.iter().enumerate() {
        let got = &want[SCRIPTS.len() + i];
        let expected = if *reply == "PONG" { Resp::simple(reply) } else { Resp::bulk(reply) };
        assert_eq!(*got, expected, "redis-server itself: {script}");
    }
    for shards in [1, 2] {
        let s = Server::start(shards, &[]);
        let got = run_all(s.port);
        let scripts = SCRIPTS.iter().chain(AFTER.iter().map(|(s, _)| s));
        for ((script, got), want) in scripts.zip(&got).zip(&want) {
            assert_eq!(got, want, "{shards} shard(s): {script}");
        }
    }
}

/// FUNCTION libraries run in the same protected environment: registering works, a
/// function's write is refused, and it leaves the libraries whole for later calls.
#[test]
fn functions_cannot_change_the_shared_libraries() {
    const LIB: &str = "#!lua name=sandboxed\n\
        redis.register_function('breaks_rep', function(k, a) string.rep = nil return 1 end)\n\
        redis.register_function('uses_rep', function(k, a) return ('a'):rep(2) end)\n\
        redis.register_function('raw_global', function(k, a) return rawset(_G, 'y', 1) end)";
    let dir = temp_dir("script-sandbox-fn");
    let real = RealRedis::start(&dir);
    let calls: &[&[&str]] = &[
        &["function", "load", LIB],
        &["fcall", "breaks_rep", "0"],
        &["fcall", "uses_rep", "0"],
        &["fcall", "raw_global", "0"],
        &["eval", "return string.rep('q', 2)", "0"],
        &["eval", "return type(rawget(_G, 'y'))", "0"],
    ];
    let mut c = raw_to(real.port);
    let want: Vec<Resp> = calls.iter().map(|a| c.cmd(a)).collect();
    assert_eq!(want[2], Resp::bulk("aa"), "redis-server itself");
    for shards in [1, 2] {
        let s = Server::start(shards, &[]);
        let mut c = s.raw();
        for (args, want) in calls.iter().zip(&want) {
            assert_eq!(c.cmd(args), *want, "{shards} shard(s): {args:?}");
        }
    }
}
