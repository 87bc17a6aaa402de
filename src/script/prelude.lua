-- Runs once per Lua state, as chunk "=shardis" (skipped when error positions are
-- computed). `raw` is the table Rust fills: raw.call (per run), raw.setresp,
-- raw.set_repl, raw.log, raw.errtext.
local raw, real = ...
local error, type, tostring, select, concat = error, type, tostring, select, table.concat
local find, sub = string.find, string.sub

-- Redis's error handler: a string error becomes {err='ERR ' .. msg}; an error from
-- Rust (userdata) gets its clean text; the first frame that is neither C nor ours
-- gives the source and line.
real.__redis__err__handler = function(err)
  local source, line, short_src = raw.where()
  if type(err) == 'userdata' then
    err = {err = raw.errtext(err)}
  elseif type(err) ~= 'table' then
    err = tostring(err)
    -- A builtin the sandbox wraps (below) names the wrapper's line in its argument
    -- errors; Redis, calling it straight from the script, names the script's.
    local _, e = find(err, '^shardis:%d+: ')
    if e then err = (short_src and short_src .. ':' .. line .. ': ' or '') .. sub(err, e + 1) end
    err = {err = 'ERR ' .. err}
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
local raw_pcall, errtext, errmsg, stopping = pcall, raw.errtext, raw.errmsg, raw.stopping
local function tidy(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if stopping() then error(e, 0) end
  if type(e) == 'userdata' then return false, errmsg(e) end
  -- A rare argument error of a builtin the sandbox wraps in Lua (below): not our line.
  if type(e) == 'string' then
    local _, n = find(e, '^shardis:%d+: ')
    if n then return false, sub(e, n + 1) end
  end
  return false, ...
end
real.pcall = function(...) return tidy(raw_pcall(...)) end

local redis = {}
-- redis.call is set for each run (`raw.exec`: a Rust function that reaches the
-- keyspace, raising the command's error). redis.pcall catches that error and
-- returns it as Redis does, {err = <the error reply>}; a kill is never caught.
local function pcall_reply(ok, ...)
  if ok then return ... end
  local e = ...
  if stopping() then error(e, 0) end
  if type(e) == 'userdata' then return {err = errtext(e)} end
  if type(e) == 'table' then return e end
  return {err = 'ERR ' .. tostring(e)}
end
redis.pcall = function(...)
  local call = redis.call
  if call == nil then error('attempt to call field \'pcall\' (a nil value)', 2) end
  return pcall_reply(raw_pcall(call, ...))
end
redis.error_reply = function(e)
  if type(e) ~= 'string' then error({err = 'ERR wrong number or type of arguments'}) end
  return {err = e}
end
redis.status_reply = function(s)
  if type(s) ~= 'string' then error({err = 'ERR wrong number or type of arguments'}) end
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
  setmetatable(p, {__index = t, __newindex = refuse_assignment, __metatable = false})
  return p
end

-- Reading a missing global is an error (Redis's sandbox).
local guard = {
  __index = function(_, n)
    error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
  end,
}
setmetatable(real, guard)
local env = protect(real, protect(guard))

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
-- Lua, 2-7x cheaper than a Rust callback. When the script tail-calls them its
-- frame is gone and their errors carry no line.
local function proxy_next(p, k) return next(real_of[p], k) end
local function proxy_inext(p, i)
  i = i + 1
  local v = rawget(real_of[p], i)
  if v ~= nil then return i, v end
end
-- luaL_typerror's text for a missing first argument, raised at the script's line
-- (level 3: this, the wrapper, its caller) as the C builtin raises it, pcall or not.
-- (Other bad arguments reach the builtin: the error handler above fixes their line,
-- a pcall drops it. Checking only nil keeps the wrappers cheap: type() is a call.)
local function missing_table(name, ...)
  local got = select('#', ...) == 0 and 'no value' or 'nil'
  error('bad argument #1 to \'' .. name .. '\' (table expected, got ' .. got .. ')', 3)
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
real.unpack = function(...)
  local t = ...
  if t == nil then missing_table('unpack', ...) end
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

raw.env, raw.redis, raw.real_of, raw.shown_of = env, redis, real_of, shown_of
