//! The `struct`, `cmsgpack`, `bit` and `cjson` Lua libraries: the same scripts on
//! redis-server and on shardis give the same bytes (packed data is returned
//! hex-encoded) and the same unpacked values and errors.

use crate::common;

use common::{RealRedis, Resp, Server, temp_dir};

use common::raw_to as connect;

/// A Lua prelude: `hex(s)` for comparing packed bytes.
const HEX: &str = "local function hex(s) return (string.gsub(s, '.', function(c) return string.format('%02x', string.byte(c)) end)) end\n";

const SCRIPTS: &[&str] = &[
    // cmsgpack: every integer width, floats, strings of each length class, arrays,
    // maps, nesting, nil/booleans, several values.
    "return hex(cmsgpack.pack(0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649))",
    "return hex(cmsgpack.pack(0.5, 1.1, -2.25, 1e300, 3.0))",
    "return hex(cmsgpack.pack('', 'abc', string.rep('x', 31), string.rep('y', 32), string.rep('z', 255), string.rep('w', 256)))",
    "return hex(cmsgpack.pack({1, 2, 3}, {}, {a = 1}, {1, 2, nil, 4}, {[1] = 'x', [3] = 'y'}, true, false, nil))",
    "return hex(cmsgpack.pack({1, {2, {3, {4, {5, {6, {7, {8, {9, {10, {11, {12, {13, {14, {15, {16, {17, {18}}}}}}}}}}}}}}}}}}))",
    "local t = {} for i = 1, 20 do t[i] = i end return hex(cmsgpack.pack(t))",
    "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, -5, 2.5))}",
    "local a, b, c = cmsgpack.unpack(cmsgpack.pack({x = 1}, {y = {2, 3}}, true)) return {a.x, b.y[2], tostring(c)}",
    "local s = cmsgpack.pack(1, 2, 3) local o, v = cmsgpack.unpack_one(s) local o2, v2 = cmsgpack.unpack_one(s, o) local o3, v3 = cmsgpack.unpack_one(s, o2) return {o, v, o2, v2, o3, v3}",
    "local s = cmsgpack.pack(1, 2, 3, 4) return {cmsgpack.unpack_limit(s, 2)}",
    "local s = cmsgpack.pack(1, 2, 3, 4) return {cmsgpack.unpack_limit(s, 2, 2)}",
    "return {cmsgpack.unpack('\\205\\001')}",
    "return {cmsgpack.unpack('\\193')}",
    "return cmsgpack.pack()",
    "return {cmsgpack.unpack_one('abc', 10)}",
    // Large tables and many results: more Lua strings than mlua's reference stack holds
    // at once (about 8000) once crashed the server; past Redis's own Lua stack limit
    // both answer its error.
    "local t = {} for i = 1, 20000 do t[i] = tostring(i) end return t",
    "local t = {} for i = 1, 20000 do t['k' .. i] = 'v' .. i end return #cmsgpack.pack(t)",
    "local t = {} for i = 1, 20000 do t[i] = 'v' .. i end local u = cmsgpack.unpack(cmsgpack.pack(t)) return {#u, u[1], u[20000]}",
    "local t = {} for i = 1, 3000 do t[i] = 'm' .. i end local s = cmsgpack.pack(unpack(t)) return select('#', cmsgpack.unpack(s .. s))",
    "local t = {} for i = 1, 3000 do t[i] = 'm' .. i end local s = cmsgpack.pack(unpack(t)) return select('#', cmsgpack.unpack(s .. s .. s))",
    "return select('#', struct.unpack(string.rep('c1', 9000), string.rep('x', 9000)))",
    // struct: sizes, endianness, alignment, strings, round trips.
    "return hex(struct.pack('>i4<i4hHbB', 1, -2, -3, 65535, -1, 200))",
    "return hex(struct.pack('>I2I8i3', 513, 4294967296, -5))",
    "return hex(struct.pack('!4 b i4 b d', 1, 2, 3, 1.5))",
    "return hex(struct.pack('c3c0s', 'abcdef', 'xy', 'zz'))",
    "return hex(struct.pack('<fd>fd', 1.5, -2.25, 0.1, 1e10))",
    "return hex(struct.pack('xlLT', -7, 7, 9))",
    "return {struct.unpack('>i4<i4hHbB', struct.pack('>i4<i4hHbB', 1, -2, -3, 65535, -1, 200))}",
    "return {struct.unpack('c3c0s', struct.pack('c3', 'abc') .. struct.pack('B', 2) .. 'xy' .. 'tail\\0')}",
    "return {struct.unpack('i2', struct.pack('i2i2', 7, 8), 3)}",
    "return {struct.size('i4hbd'), struct.size('!8 b d'), struct.size('c10x'), struct.size('>I3')}",
    "return {struct.unpack('>d', struct.pack('>d', 2.5))}",
    "return struct.pack('z', 1)",
    "return struct.size('s')",
    "return {struct.unpack('i4', 'ab')}",
    "return {struct.unpack('s', 'abc')}",
    "return struct.pack('i40', 1)",
    "return struct.pack('>q', 'x')",
    "return struct.pack('!17i', 1)",
    "return cmsgpack.pack()",
    "return cmsgpack.unpack('\\193')",
    // Errors caught by pcall: Lua's text, no `ERR`; the function named as the call
    // site names it ('?' under pcall), a missing argument as struct.c sees it.
    "return {pcall(struct.pack, 'z')}",
    "return {pcall(struct.pack, 'i')}",
    "return {pcall(struct.pack, 'c')}",
    "return {pcall(struct.pack)}",
    "return {pcall(struct.pack, '!3i', 1)}",
    "return {pcall(struct.unpack, 'z')}",
    "return {pcall(struct.unpack, 'i', 'ab')}",
    "return {pcall(struct.size, 's')}",
    "return {pcall(cmsgpack.unpack)}",
    "return {pcall(cmsgpack.pack)}",
    "local ok, e = pcall(function() return struct.pack('z') end) return e",
    "local ok, e = pcall(function() return struct.unpack('z') end) return e",
    "return struct.pack('i')",
    "return cmsgpack.unpack()",
    // bit: luaL_checknumber's texts, LuaBitOp's argument order, numeric strings.
    "return {pcall(bit.tohex)}",
    "return {pcall(bit.tohex, 'x')}",
    "return {pcall(bit.tohex, 1, {})}",
    "return {pcall(bit.tohex, 1, nil)}",
    "return {pcall(bit.band, 1, 'x', {})}",
    "return {pcall(bit.bor)}",
    "return {pcall(bit.lshift, 1)}",
    "return {pcall(function() return bit.band({}) end)}",
    "return bit.tohex(1, {})",
    "return {bit.band(0xff, '0x0f'), bit.bor(1, 2, 4), bit.bxor(7, 2), bit.tohex(-1, -4), bit.tohex(255, 2), bit.tohex('12', '2'), bit.arshift(-256, 4), bit.rol(1, 33), bit.bswap(1)}",
    // cjson: one argument, lua-cjson's token names and positions, strtod's numbers.
    "return {pcall(cjson.decode)}",
    "return {pcall(cjson.decode, 1, 2)}",
    "return {pcall(cjson.encode)}",
    "return {pcall(cjson.decode, {})}",
    "return {pcall(cjson.decode, '{\"a\":}')}",
    "return {pcall(cjson.decode, '\"abc')}",
    "return {pcall(cjson.decode, '1 2')}",
    "return {pcall(cjson.decode, '{1:2}')}",
    "return {pcall(cjson.decode, '[1 2]')}",
    "return {pcall(cjson.decode, '{\"a\" 1}')}",
    "return {pcall(cjson.decode, '{\"a\":1 \"b\":2}')}",
    "return {pcall(cjson.decode, '-')}",
    "return {pcall(cjson.decode, ']')}",
    "return {pcall(cjson.decode, 'tru')}",
    "return {pcall(cjson.decode, '\"\\\\ud83d\"')}",
    "return {pcall(cjson.decode, '\"\\\\u12\"')}",
    "return {pcall(cjson.decode, '[\"a\\\\x\"]')}",
    "return {pcall(cjson.decode, string.rep('[', 1001))}",
    "return {pcall(cjson.decode, 'a\\0b')}",
    "return {pcall(cjson.decode, '[1]\\0xx')}",
    "return {pcall(function() return cjson.decode('{') end)}",
    "return cjson.decode()",
    "return cjson.encode(function() end)",
    "return {pcall(cjson.decode, '[0x10, 010, +5, -inf, Infinity, 1e999, 1.5e2, 2.]')}",
    "return cjson.encode(cjson.decode('[\"\\\\u00e9\\\\ud83d\\\\ude00\", \"\\\\/\\\\b\"]'))",
    "return {1e19, -1e19, 1/0, -1/0, 0/0, 9.2e18}",
];

fn replies(port: u16) -> Vec<String> {
    let mut c = connect(port);
    SCRIPTS
        .iter()
        .map(|s| {
            let r = c.cmd(&["eval", &format!("{HEX}{s}"), "0"]);
            match r {
                // Keep the message with the script's position (`user_script:2: `),
                // not the script's SHA (the bodies are the same anyway).
                Resp::Error(e) => format!("{s} => -{}", e.split(" script:").next().unwrap_or(&e)),
                other => format!("{s} => {}", render(&other)),
            }
        })
        .collect()
}

/// A reply as text (bulk strings as text, so the hex shows).
fn render(r: &Resp) -> String {
    match r {
        Resp::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Resp::Array(items) => format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}

#[test]
fn struct_and_cmsgpack_match_redis_byte_for_byte() {
    let dir = temp_dir("script-libs");
    let real = RealRedis::start(&dir);
    let want = replies(real.port);
    assert!(want[0].contains("00017fcc80") && !want[0].contains("-ERR"), "redis-server packed {}", want[0]);
    let s = Server::start(1, &[]);
    let got = replies(s.port);
    let diffs: Vec<String> =
        got.iter().zip(&want).filter(|(g, w)| g != w).map(|(g, w)| format!("shardis {g}\nredis   {w}")).collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
