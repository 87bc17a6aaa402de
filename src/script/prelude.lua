-- Runs once per Lua state, as chunk "=shardis" (skipped when error positions are
-- computed). `raw` is the table Rust fills: raw.call (per run), raw.setresp,
-- raw.set_repl, raw.log, raw.errtext.
local raw, real = ...
local error, type, tostring, select, concat = error, type, tostring, select, table.concat

-- Redis's error handler: a string error becomes {err='ERR ' .. msg}; an error from
-- Rust (userdata) gets its clean text; the first frame that is neither C nor ours
-- gives the source and line.
real.__redis__err__handler = function(err)
  local source, line = raw.where()
  if type(err) == 'userdata' then
    err = {err = raw.errtext(err)}
  elseif type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
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
