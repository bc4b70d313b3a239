-- Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
-- bench/ratelimit/limiter.lua: the Lua peer of limit_redis in
-- bench/ratelimit/run, written the way a Lua gateway limits with Redis:
-- lua-nginx-module's cosockets, Debian's lua-nginx-redis client (the
-- resty Redis driver, installed as "nginx.redis"), one connection per
-- request in flight taken from and given back to the worker's keepalive
-- pool.
--
-- Why this design is the fair peer:
--
-- * The same algorithm, evaluated the same way: GCRA in one script call
--   per request (EVALSHA, with EVAL when Redis answers NOSCRIPT), Redis's
--   TIME as the clock, the tat stored in microseconds with an expiry.  The
--   script makes the same calls as limit_redis's (TIME, GET, SET PX), so
--   Redis does the same work for both and the comparison measures what
--   the gateway does around the call.  A fixed window (INCR + PEXPIRE in a
--   pipeline) would be a few microseconds cheaper in Redis but lets twice
--   the limit through at window edges: a weaker limiter, not a peer.
-- * One round trip per request, over a pooled connection: nothing is
--   connected per request once the pool is warm (the benchmark checks
--   that Redis sees no new connections while it measures).  The pool holds
--   as many connections as there are requests in flight; a smaller one
--   would make the peer open and close connections.
-- * The same answer as limit_redis: 429 beyond the limit, and the
--   RateLimit-Policy / RateLimit headers (Retry-After on a rejection) that
--   limit_redis adds by default, computed from the same reply.
-- * The same failure policy as limit_redis's default (fail open): when
--   Redis cannot be reached the request goes on, and the error is logged.

local redis = require "nginx.redis"

local ceil = math.ceil
local floor = math.floor
local max = math.max
local fmt = string.format

local M = {}

-- KEYS[1]: the key; ARGV[1]: the emission interval T in microseconds,
-- ARGV[2]: the burst B.  Answers {accepted, backlog before the request}.
-- Integers below 2^53 are exact in Lua's doubles; "%.0f" keeps every digit
-- of the new tat.
local script = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local backlog = 0
if tat > now then backlog = tat - now end
if backlog > tonumber(ARGV[2]) * T then
  return {0, backlog}
end
redis.call('SET', KEYS[1], string.format('%.0f', now + backlog + T),
           'PX', math.ceil((backlog + T) / 1000) + 1000)
return {1, backlog}
]]

local sha = (ngx.sha1_bin(script):gsub(".", function(c)
    return fmt("%02x", c:byte())
end))

local host, port, timeout, pool_size

-- configure{host=, port=, timeout= (ms), pool= (connections)}: called
-- from init_by_lua_block, once.
function M.configure(conf)
    host = conf.host
    port = conf.port
    timeout = conf.timeout or 100
    pool_size = conf.pool or 64
end

-- check(zone, T, B): the access phase check of one zone keyed by the
-- client address; T in microseconds, burst B, nodelay.
function M.check(zone, T, B)
    local red = redis:new()
    red:set_timeout(timeout)

    local ok, err
    if port then
        ok, err = red:connect(host, port, { pool_size = pool_size })
    else
        -- a unix socket: the path is in host
        ok, err = red:connect(host, { pool_size = pool_size })
    end
    if not ok then
        ngx.log(ngx.ERR, "lua limiter: connect: ", err)
        return
    end

    local key = "lua:rl:" .. zone .. ":" .. ngx.var.binary_remote_addr
    local res
    res, err = red:evalsha(sha, 1, key, T, B)
    if res == false and err:sub(1, 8) == "NOSCRIPT" then
        -- a fresh Redis: EVAL caches the script for the next EVALSHA
        res, err = red:eval(script, 1, key, T, B)
    end

    if res == nil then
        -- a broken connection or a timeout: not fit for the pool
        red:close()
    else
        -- back to the pool (an error reply leaves the connection usable);
        -- the idle timeout outlives any pause of the benchmark
        local kept, kerr = red:set_keepalive(60000, pool_size)
        if not kept then
            ngx.log(ngx.ERR, "lua limiter: set_keepalive: ", kerr)
        end
    end
    if not res then
        ngx.log(ngx.ERR, "lua limiter: evalsha: ", err)
        return
    end

    local accepted, backlog = res[1], res[2]
    local after = accepted == 1 and backlog + T or backlog
    local remaining = max(0, floor(((B + 1) * T - after) / T))
    local h = ngx.header
    h["RateLimit-Policy"] = fmt('"%s";q=%d;w=%d', zone, B + 1,
                                ceil((B + 1) * T / 1e6))
    h["RateLimit"] = fmt('"%s";r=%d;t=%d', zone, remaining,
                         ceil(after / 1e6))
    if accepted ~= 1 then
        h["Retry-After"] = max(1, ceil((backlog - B * T) / 1e6))
        return ngx.exit(429)
    end
end

return M
