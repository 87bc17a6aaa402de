-- Runs once per Lua state, as chunk "=shardis" (skipped when error positions are
-- computed). `raw` is the table Rust fills: raw.call (per run), raw.setresp,
-- raw.set_repl, raw.log, raw.errtext.
local raw, real = ...
local error, type, tostring, select, concat = error, type, tostring, select, table.concat
local find, sub, unpack_ = string.find, string.sub, unpack

-- A builtin the sandbox wraps (below) names the wrapper's line in its errors
-- (`shardis:<line>:`); Redis, calling it straight from the script, names the line of
-- the script that called it, or nothing (and '?' for the function) when a C
-- function such as pcall called it. Run at raise time, while the stack is whole.
local function from_script(err)
  local _, e = find(err, '^shardis:%d+: ')
  if not e then return err end
  local short_src, line = raw.wrapper_caller()
  if line then return short_src .. ':' .. line .. ': ' .. sub(err, e + 1) end
  local rest = sub(err, e + 1)
  local _, n = find(rest, "^bad argument #%d+ to '")
  if n then
    local close = find(rest, "'", n + 1, true)
    if close then rest = sub(rest, 1, n) .. '?' .. sub(rest, close) end
  end
  return rest
end

-- Redis's error handler: a string error becomes {err='ERR ' .. msg}; an error from
-- Rust (userdata) gets its clean text; the first frame that is neither C nor ours
-- gives the source and line.
real.__redis__err__handler = function(err)
  local source, line = raw.where()
  if type(err) == 'userdata' then
    local counted = raw.errcounted(err)
    err = {err = raw.errtext(err)}
    -- Counted where it arose (a redis.call's): Redis's mark, read by the reply.
    if counted then err['ignore_error_stats_update'] = true end
  elseif type(err) ~= 'table' then
    err = tostring(err)
    err = {err = 'ERR ' .. from_script(err)}
  end
  if source then
    err['source'] = source
    err['line'] = line
  end
  return err
end

local handler = real.__redis__err__handler
raw.run = function(f, ...)
  local n = select('#', ...)
  if n == 0 then return xpcall(f, handler) end
  local a, b = ...
  return xpcall(function() return f(a, b) end, handler)
end

-- pcall(redis.call, ...) gives the error's text, as Redis 7.0's does (a Rust error
-- is userdata to Lua).
local raw_pcall, raw_xpcall, errtext, errmsg, stopping = pcall, xpcall, raw.errtext, raw.errmsg, raw.stopping
local errcounted = raw.errcounted
local rawget_ = rawget
local function tidy(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if stopping() then error(e, 0) end
  if type(e) == 'userdata' then return false, errmsg(e) end
  -- An error table gives its text, as Redis's pcall does.
  if type(e) == 'table' then
    local m = rawget_(e, 'err')
    if type(m) == 'string' then return false, m end
  end
  -- A rare argument error of a builtin the sandbox wraps in Lua (below): not our line.
  if type(e) == 'string' then
    local _, n = find(e, '^shardis:%d+: ')
    if n then return false, sub(e, n + 1) end
  end
  return false, ...
end
-- The script's pcall is an xpcall, so that `from_script` sees the stack of a
-- wrapper's error. Lua 5.1's xpcall passes no arguments: they wait in upvalues (a
-- table past three), which the trampoline takes at once, before any nested pcall.
local pf, pn, p1, p2, p3, pargs
local function trampoline()
  local f, n, a, b, c = pf, pn, p1, p2, p3
  pf, p1, p2, p3 = nil, nil, nil, nil
  if n == 0 then return f() end
  if n == 1 then return f(a) end
  if n == 2 then return f(a, b) end
  if n == 3 then return f(a, b, c) end
  local t = pargs
  pargs = nil
  return f(unpack_(t, 1, n))
end
local function fix(e)
  -- (Not tail calls: `raw.wrapper_caller` counts the frames.)
  if type(e) == 'string' then
    e = from_script(e)
  elseif type(e) == 'userdata' then
    -- A Rust builtin (sandbox.rs, the libraries) the trampoline called names the
    -- trampoline's line: as pcall's C call, no line and '?'.
    local m = errmsg(e)
    if find(m, '^shardis:%d+: ') then e = from_script(m) end
  end
  return e
end
-- Redis's own pcall (luaRedisPcall): an error table gives its `err` text (`tidy`),
-- and no argument at all is an attempt to call its placeholder boolean.
real.pcall = function(...)
  local n = select('#', ...) - 1
  if n < 0 then return false, 'attempt to call a boolean value' end
  local f = ...
  -- Not a function (nil, a callable table): Lua's own message, no frame to fix.
  if type(f) ~= 'function' then return tidy(raw_pcall(...)) end
  pf, pn = f, n
  if n <= 3 then
    p1, p2, p3 = select(2, ...)
  else
    pargs = {select(2, ...)}
  end
  return tidy(raw_xpcall(trampoline, fix))
end

local redis = {}
-- redis.call is set for each run (`raw.exec`: a Rust function that reaches the
-- keyspace, raising the command's error). redis.pcall catches that error and
-- returns it as Redis does, {err = <the error reply>}; a kill is never caught.
local function pcall_reply(ok, ...)
  if ok then return ... end
  local e = ...
  if stopping() then error(e, 0) end
  if type(e) == 'userdata' then
    if errcounted(e) then return {err = errtext(e), ignore_error_stats_update = true} end
    return {err = errtext(e)}
  end
  if type(e) == 'table' then return e end
  return {err = 'ERR ' .. tostring(e)}
end
redis.pcall = function(...)
  local call = redis.call
  if call == nil then error('attempt to call field \'pcall\' (a nil value)', 2) end
  return pcall_reply(raw_pcall(call, ...))
end
-- A bad argument is not raised: Redis returns the error table.
-- As Redis 7.0's: a leading '-' goes, and a text without a space (no error code of
-- its own) gets 'ERR ': error_reply('oops') is {err = 'ERR oops'}.
redis.error_reply = function(e)
  if type(e) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  if e:sub(1, 1) == '-' then e = e:sub(2) end
  if not e:find(' ', 1, true) then e = 'ERR ' .. e end
  return {err = e}
end
redis.status_reply = function(s)
  if type(s) ~= 'string' then return {err = 'ERR wrong number or type of arguments'} end
  return {ok = s}
end
redis.sha1hex = raw.sha1hex
redis.setresp = function(...)
  if select('#', ...) ~= 1 then error({err = 'ERR redis.setresp() requires one argument.'}) end
  local v = ...
  if v ~= 2 and v ~= 3 then error({err = 'ERR RESP version must be 2 or 3.'}) end
  raw.setresp(v)
end
redis.set_repl = function(...)
  if select('#', ...) ~= 1 then error({err = 'ERR redis.set_repl() requires one argument.'}) end
  local v = ...
  if type(v) ~= 'number' or v < 0 or v > 3 or v % 1 ~= 0 then
    error({err = 'ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.'})
  end
  raw.set_repl(v)
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.log = function(...)
  if select('#', ...) < 2 then error({err = 'ERR redis.log() requires two arguments or more.'}) end
  local level = ...
  if type(level) ~= 'number' then error({err = 'ERR First argument must be a number (log level).'}) end
  if level < 0 or level > 3 then error({err = 'ERR Invalid debug level.'}) end
  local parts = {}
  for j = 2, select('#', ...) do parts[#parts + 1] = tostring((select(j, ...))) end
  raw.log(level, concat(parts, ' '))
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = '7.0.15'
redis.REDIS_VERSION_NUM = 458767
real.redis = redis

-- One script run: `call` becomes redis.call for its duration; an EVAL script sees
-- KEYS and ARGV as globals, a function gets them as arguments. Everything per run
-- happens here, in one entry from Rust.
raw.exec = function(call, f, as_function, keys, argv)
  redis.call = call
  local ok, r
  if as_function then
    ok, r = xpcall(function() return f(keys, argv) end, handler)
  else
    real.KEYS, real.ARGV = keys, argv
    ok, r = xpcall(f, handler)
  end
  redis.call = nil
  return ok, r
end

-- Redis 7.0's read-only sandbox: the globals, every library table and the string
-- metatable refuse writes. Lua 5.1 has no read-only flag, so scripts reach each such
-- table through an empty proxy whose metatable reads from the real one and refuses
-- assignments; the builtins that bypass metamethods (rawset, setmetatable,
-- table.insert, ...) are replaced by versions that know the proxies. The prelude and
-- Rust keep using the real tables (locals above), so the hot paths take no extra hop.
local next, rawget, setmetatable, getmetatable, load, setfenv = next, rawget, setmetatable, getmetatable, load, setfenv
local pairs, ipairs, unpack, insert, foreach = pairs, ipairs, unpack, table.insert, table.foreach
local real_of = {}
-- What getmetatable shows for a proxy (nil for a library table, as in Redis).
local shown_of = {}
local function refuse_assignment() error('Attempt to modify a readonly table', 2) end
local function protect(t, shown)
  local p = {}
  real_of[p], shown_of[p] = t, shown
  local mt = {__index = t, __newindex = refuse_assignment, __metatable = false}
  setmetatable(p, mt)
  return p, mt
end

-- Reading a missing global is an error (Redis's sandbox).
local guard = {
  __index = function(_, n)
    error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
  end,
}
setmetatable(real, guard)
local env, env_meta = protect(real, protect(guard))

local library_names = {}
for k, v in next, real do
  if type(v) == 'table' and k ~= '_G' then library_names[#library_names + 1] = k end
end
for _, k in ipairs(library_names) do real[k] = protect(real[k]) end
real._G = env
local string_meta = getmetatable('')
string_meta.__index = real.string
string_meta.__metatable = protect({__index = real.string})

-- The builtins that bypass metamethods get versions that know the proxies. The rare
-- ones are Rust (sandbox.rs): a C function keeps the script's frame on the stack even
-- when the script tail-calls it, so its errors always name the script's line, as
-- Redis's do. Those a script calls in loops (insert, unpack, next, pairs, ipairs) are
-- Lua, 2-7x cheaper than a Rust callback. A script's tail call into them is
-- compiled as a plain call (tailcall.rs), so its frame, and its line, stay.
local function proxy_next(p, k) return next(real_of[p], k) end
local function proxy_inext(p, i)
  i = i + 1
  local v = rawget(real_of[p], i)
  if v ~= nil then return i, v end
end
-- luaL_typerror's text for a missing first argument, raised at the wrapper's line
-- (level 2: this, the wrapper) as its builtin raises the others: `from_script` puts
-- the line of the wrapper's caller there, pcall or not. (Checking only nil keeps the
-- wrappers cheap: type() is a call.)
local function missing_table(name, ...)
  local got = select('#', ...) == 0 and 'no value' or 'nil'
  error('bad argument #1 to \'' .. name .. '\' (table expected, got ' .. got .. ')', 2)
end
real.next = function(...)
  local t = ...
  if t == nil then missing_table('next', ...) end
  local r = real_of[t]
  if r then return next(r, select(2, ...)) end
  return next(...)
end
real.pairs = function(...)
  local t = ...
  if t == nil then missing_table('pairs', ...) end
  if real_of[t] then return proxy_next, t, nil end
  return pairs(...)
end
real.ipairs = function(...)
  local t = ...
  if t == nil then missing_table('ipairs', ...) end
  if real_of[t] then return proxy_inext, t, 0 end
  return ipairs(...)
end
-- Lua 5.1's unpack counts `e - i + 1` in a C int: for a range of 2^31 or more the
-- count overflows, and the compiled VM (the overflow is undefined behaviour, its check
-- optimized out) pushes values until the process crashes. Redis patched its VM to raise
-- "too many results to unpack" there; the wrapper checks first. `c_int` is
-- luaL_checkint's conversion: truncated to 64 bits, then cut to 32.
local floor, ceil, tonumber = math.floor, math.ceil, tonumber
local function c_int(x)
  x = tonumber(x)
  if x == nil then return nil end
  if x ~= x or x >= 2^63 or x < -2^63 then return 0 end
  x = (x >= 0 and floor(x) or ceil(x)) % 2^32
  return x >= 2^31 and x - 2^32 or x
end
local function check_unpack_range(i, e)
  local ci, ce = i == nil and 1 or c_int(i), c_int(e)
  if ci and ce and ci <= ce and ce - ci >= 2147483647 then
    error('too many results to unpack', 2)
  end
end
real.unpack = function(...)
  local t, i, e = ...
  if t == nil then missing_table('unpack', ...) end
  if e ~= nil then check_unpack_range(i, e) end
  local r = real_of[t]
  if r then return unpack(r, select(2, ...)) end
  return unpack(...)
end
local table_lib = real_of[real.table]
-- table.remove and table.sort write nothing to a table without an array part (every
-- library table), and Redis lets them run: only insert writes.
table_lib.insert = function(...)
  local t = ...
  if t == nil then missing_table('insert', ...) end
  if real_of[t] then error('Attempt to modify a readonly table', 0) end
  return insert(...)
end
real.load = function(...)
  local f, e = load(...)
  if f then setfenv(f, env) end
  return f, e
end
table_lib.foreach = function(...)
  local r = real_of[(...)]
  if r then return foreach(r, select(2, ...)) end
  return foreach(...)
end

-- FUNCTION LOAD's globals, Redis 7.0's library API: while a library's top-level code
-- runs, the only global is a `redis` with register_function (set by Rust for the
-- load), log, the log levels and the version; reading anything else is the missing
-- global error, writing is refused. `raw.loading(true)` points the protected
-- environment there for the load, `raw.loading(false)` back to the real globals
-- (which the library's functions see when called).
local load_redis = setmetatable({
  log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE,
  LOG_NOTICE = redis.LOG_NOTICE, LOG_WARNING = redis.LOG_WARNING,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}, guard)
local load_globals = setmetatable({redis = protect(load_redis)}, guard)
raw.load_redis = load_redis
raw.loading = function(on) env_meta.__index = on and load_globals or real end

raw.env, raw.redis, raw.real_of, raw.shown_of = env, redis, real_of, shown_of
