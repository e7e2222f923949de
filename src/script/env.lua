-- The environment scripts run in, as Redis 7.0 gives it: its globals and libraries, and
-- every table reachable from them read-only. Redis patches its Lua for read-only tables; this
-- reaches the same behaviour with plain Lua 5.1: scripts see a proxy for each protected table
-- (empty, reading through to the real one, refusing writes), and the builtins that bypass
-- metatables (rawset, rawget, next, setmetatable, loadstring...) are wrapped to see through
-- proxies or refuse them. Run once per interpreter, as chunk "=tessera", with the Redis API
-- table (functions made in Rust) as its argument; returns what Rust keeps: the globals proxy
-- scripts get as their environment, the function that runs a script under the error
-- handler, and the environment of libraries with its switch (see the end).

local api = ...

local G = _G
local type, error, select, tostring = type, error, select, tostring
local raw_set, raw_get, raw_next = rawset, rawget, next
local raw_setmetatable, raw_getmetatable = setmetatable, getmetatable
local raw_ipairs, raw_unpack = ipairs, unpack
local raw_setfenv = setfenv
local raw_loadstring, raw_load, raw_pcall, raw_xpcall = loadstring, load, pcall, xpcall
local dbg = debug

local READONLY = 'Attempt to modify a readonly table'

-- The Redis API, made in Rust. Its functions raise Redis's error tables: Rust can only raise
-- an opaque value, so it leaves the table aside and `take_error` fetches it wherever an error
-- is caught. (They must be C functions, not Lua wrappers: `return redis.call(...)` is a
-- tail call, and Lua 5.1 drops the script's frame for a Lua callee, which the error's line
-- needs.)
local take_error = api.__take_error
local function redis_error(e)
  if type(e) == 'userdata' then
    return take_error() or e
  end
  return e
end

-- proxy -> the table it stands for. Weak keys: proxies of nothing live for ever anyway.
local real_of = raw_setmetatable({}, { __mode = 'k' })

local function refuse()
  error(READONLY, 2)
end

-- What getmetatable shows of a protected table: a table, as in Redis, and itself sealed.
local sealed = {}
raw_setmetatable(sealed, { __index = sealed, __newindex = refuse, __metatable = sealed })

local function protect(t)
  local proxy = {}
  real_of[proxy] = t
  raw_setmetatable(proxy, { __index = t, __newindex = refuse, __metatable = sealed })
  return proxy
end

-- Builtins that would write through a proxy or miss what is behind it.
rawset = function(t, k, v)
  if real_of[t] then
    error(READONLY, 0)
  end
  return raw_set(t, k, v)
end

rawget = function(t, k)
  return raw_get(real_of[t] or t, k)
end

setmetatable = function(t, mt)
  if real_of[t] then
    error(READONLY, 0)
  end
  return raw_setmetatable(t, mt)
end

next = function(t, k)
  return raw_next(real_of[t] or t, k)
end

pairs = function(t)
  return next, t, nil
end

ipairs = function(t)
  return raw_ipairs(real_of[t] or t)
end

unpack = function(t, ...)
  return raw_unpack(real_of[t] or t, ...)
end

-- Redis's pcall: an error raised as a table with a string `err` (what redis.call raises)
-- comes back as that string. Once SCRIPT KILL stopped the script, its error is not caught:
-- a script that calls pcall in a loop must still end (Redis raises it on every line).
local killed = api.__killed
local function pcall_result(ok, ...)
  if ok then
    return ok, ...
  end
  if killed() then
    error((...), 0)
  end
  local e = redis_error((...))
  if type(e) == 'table' then
    local text = e.err
    if type(text) == 'string' or type(text) == 'number' then
      return false, text
    end
  end
  return false, e
end

pcall = function(f, ...)
  return pcall_result(raw_pcall(f, ...))
end

local function xpcall_result(ok, ...)
  if not ok and killed() then
    error((...), 0)
  end
  return ok, ...
end

xpcall = function(f, h)
  return xpcall_result(raw_xpcall(f, function(e)
    if killed() then
      return e
    end
    return h(redis_error(e))
  end))
end

-- The Redis API table scripts see.
local redis = {}
for name, f in raw_next, api do
  if name:sub(1, 2) ~= '__' then
    redis[name] = f
  end
end
G.redis = redis

-- math.random and math.randomseed as Redis's: its own 48-bit generator, so that a script
-- draws the same numbers on every server.
math.random, math.randomseed = api.__random, api.__randomseed

-- Globals Redis removes or never loads: the function environments are out of reach, so the
-- only way to the real globals is through the proxy.
G.print, G.dofile, G.loadfile = nil, nil, nil
G.getfenv, G.setfenv, G.newproxy = nil, nil, nil

-- Every library table, and what scripts see of the string metatable, becomes a proxy.
local libraries = { 'string', 'table', 'math', 'coroutine', 'redis', 'cjson', 'bit', 'struct', 'cmsgpack' }
for _, name in raw_ipairs(libraries) do
  local lib = raw_get(G, name)
  if lib ~= nil then
    raw_set(G, name, protect(lib))
  end
end
local string_mt = raw_getmetatable('')
string_mt.__index = G.string
string_mt.__metatable = protect(string_mt)

local globals = protect(G)
raw_set(G, '_G', globals)

-- Code loaded at run time sees the proxy too, never the real globals; bytecode is refused,
-- as Redis refuses it.
local function is_binary(s)
  return type(s) == 'string' and s:byte(1) == 27
end

loadstring = function(s, name)
  if is_binary(s) then
    return nil, 'attempt to load a binary chunk'
  end
  local f, e = raw_loadstring(s, name)
  if f then
    raw_setfenv(f, globals)
  end
  return f, e
end

load = function(reader, name)
  local f, e = raw_load(reader, name)
  if f then
    raw_setfenv(f, globals)
  end
  return f, e
end

-- Where an error happened, for its reply, as Redis's handler finds it: the function that
-- raised it, or its caller when that function is a C one; frames of this file, and the
-- tail calls they make, do not count (Redis has no such Lua wrappers).
local function handler(err)
  local level, info, seen = 2, nil, 0
  while true do
    local i = dbg.getinfo(level, 'nSl')
    if i == nil then
      break
    end
    if i.source ~= '=tessera' and i.what ~= 'tail' then
      seen = seen + 1
      info = i
      if i.what ~= 'C' or seen == 2 then
        break
      end
    end
    level = level + 1
  end
  err = redis_error(err)
  if type(err) ~= 'table' then
    err = { err = 'ERR ' .. tostring(err) }
  end
  if info then
    err.source = info.source
    err.line = info.currentline
  end
  return err
end

G.debug = nil
G.__redis__err__handler = handler

-- Runs a script, or a function with its keys and arguments (Lua 5.1's xpcall passes none).
local function run(f, keys, args)
  if keys == nil then
    return raw_xpcall(f, handler)
  end
  return raw_xpcall(function()
    return f(keys, args)
  end, handler)
end

-- Reading a global that does not exist is an error, as in Redis.
local function nonexistent(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
raw_setmetatable(G, { __index = nonexistent })

-- A library's code (FUNCTION LOAD) runs in an environment of its own. While the code runs it
-- sees only what Redis gives a library to register its functions with; the functions it
-- registered later run with the same environment, which then reads through to the globals.
local load_redis = {
  register_function = api.__register_function,
  log = api.log,
  REDIS_VERSION = api.REDIS_VERSION,
  REDIS_VERSION_NUM = api.REDIS_VERSION_NUM,
}
for name, level in raw_next, api do
  if name:sub(1, 4) == 'LOG_' then
    load_redis[name] = level
  end
end
raw_setmetatable(load_redis, { __index = nonexistent })
local load_globals = raw_setmetatable({ redis = protect(load_redis) }, { __index = nonexistent })
load_globals = protect(load_globals)
local library_mt = { __index = load_globals, __newindex = refuse, __metatable = sealed }
local library_env = raw_setmetatable({}, library_mt)
local function loading(on)
  library_mt.__index = on and load_globals or globals
end

return globals, run, library_env, loading
