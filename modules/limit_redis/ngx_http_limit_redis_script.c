
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the Lua script limit_redis runs in Redis.  Its reply is read
 * by mg_gcra_read_reply() (lib/mg_gcra.c).
 */


#include "ngx_http_limit_redis_module.h"


/*
 * One call checks a batch: the requests that reached the limiter of one
 * worker during one pass of its event loop, in their order.  KEYS holds
 * each key of the batch once, whatever the number of its requests.  ARGV
 * starts with the limits of the batch, each once: their number m, then
 * each limit's emission interval T and B * T (the largest backlog it
 * accepts), in microseconds, computed by nginx.  Then come the requests:
 * a request with n zones is n, then n pairs of indices, each a zone's
 * limit (1..m) and its key (in KEYS); a request with the same zones and
 * keys as the request before it is just "0".  What Redis spends per
 * request is mostly per argument (parsing it, making it a Lua string,
 * converting it to a number) and per element of the answer.
 *
 * So a run of requests with the same zones and keys, a client's requests
 * in a row, is evaluated at once: as the requests of a batch come at the
 * same instant, each request the run accepts adds T to every backlog, and
 * the run accepts the first c requests, c the smallest over its zones of
 * floor((B * T - backlog) / T) + 1 (exact: every value is an integer far
 * below 2^53), and rejects the others, which charge nothing.  The answer
 * is, run after run, {c, backlog_1, ..., backlog_n}: how many of the
 * run's requests it charged, and each key's backlog max(tat, now) - now
 * before the run, in microseconds; nginx derives the backlog each request
 * of the run saw, and everything else, with mg_gcra_read_reply(), and
 * checks that it reaches the same verdict.  For each run the script reads
 * every zone first and charges them only when every zone fits, so that a
 * rejected request charges no zone; the clock is Redis's, so that nginx
 * hosts whose clocks differ agree.
 *
 * What Redis spends per call (TIME, GET, SET, formatting) is spent once
 * per batch and key, not per request: each key is read once, its tat
 * moves with the batch, and only the final tat of a charged key is
 * written, once.  A GET that fails (a key of another type) fails only the
 * runs with that key: their count is the error, and they charge nothing.
 *
 * Lua numbers are doubles: Unix time in microseconds and every bound of
 * mg_gcra.h stay far below 2^53, so the arithmetic is exact.
 *
 * Every connection loads the source once (SCRIPT LOAD), and after a
 * NOSCRIPT reply it goes again with each command in flight
 * (t/redis/ring.t): the explanations are C comments, out of the string.
 */

ngx_str_t  ngx_http_limit_redis_script = ngx_string(

    /* Redis's clock: seconds and microseconds */

    "local time = redis.call('TIME')\n"
    "local now = time[1] * 1e6 + time[2]\n"

    /* the limits: each one's T and B * T, its quota, by index */

    "local nlimits = tonumber(ARGV[1])\n"
    "local interval, quota = {}, {}\n"
    "for limit = 1, nlimits do\n"
    "  interval[limit] = tonumber(ARGV[2 * limit])\n"
    "  quota[limit] = tonumber(ARGV[2 * limit + 1])\n"
    "end\n"

    /*
     * Each key's tat, 0 for a missing key, moves with the batch from here
     * on.  A GET that fails returns a table, the error (false: none);
     * "charged" says which keys to write at the end.
     */

    "local tat, get_error, charged = {}, {}, {}\n"
    "for key = 1, #KEYS do\n"
    "  local value = redis.pcall('GET', KEYS[key])\n"
    "  get_error[key] = type(value) == 'table' and value\n"
    "  tat[key] = tonumber(value) or 0\n"
    "end\n"

    /*
     * The runs, one after the other: "arg" is where the next one starts in
     * ARGV, "at" where its part of the reply starts; zone_limit and
     * zone_key are the limit and key indices of its zones.
     */

    "local reply, at, arg = {}, 1, 2 * nlimits + 2\n"
    "local zone_limit, zone_key = {}, {}\n"
    "while arg <= #ARGV do\n"
    "  local nzones, count, err = tonumber(ARGV[arg]), 1\n"
    "  for zone = 1, nzones do\n"
    "    zone_limit[zone] = tonumber(ARGV[arg + 2 * zone - 1])\n"
    "    zone_key[zone] = tonumber(ARGV[arg + 2 * zone])\n"
    "  end\n"
    "  arg = arg + 1 + 2 * nzones\n"

    /* each "0" is one more request of the run */

    "  while ARGV[arg] == '0' do\n"
    "    count = count + 1\n"
    "    arg = arg + 1\n"
    "  end\n"

    /*
     * Every zone is read before any is charged: the run's count is what
     * the tightest zone lets through, and a key's error is the run's.
     */

    "  for zone = 1, nzones do\n"
    "    local limit, key = zone_limit[zone], zone_key[zone]\n"
    "    local backlog = math.max(tat[key] - now, 0)\n"
    "    local room = math.floor((quota[limit] - backlog) / interval[limit])\n"
    "    reply[at + zone] = backlog\n"
    "    err = err or get_error[key]\n"
    "    count = math.min(count, room + 1)\n"
    "  end\n"
    "  reply[at] = err or math.max(count, 0)\n"

    /* each request the run accepts adds T to every zone's backlog */

    "  if not err and count > 0 then\n"
    "    for zone = 1, nzones do\n"
    "      local key, limit = zone_key[zone], zone_limit[zone]\n"
    "      tat[key] = now + reply[at + zone] + count * interval[limit]\n"
    "      charged[key] = true\n"
    "    end\n"
    "  end\n"
    "  at = at + 1 + nzones\n"
    "end\n"

    /*
     * "%.0f": tostring() would round a tat to 14 digits.  A key expires a
     * second after its tat: from then on, a missing key and a stored one
     * mean the same, so nothing is lost.
     */

    "for key in pairs(charged) do\n"
    "  local ttl = math.ceil((tat[key] - now) / 1e3) + 1e3\n"
    "  redis.call('SET', KEYS[key], ('%.0f'):format(tat[key]), 'PX', ttl)\n"
    "end\n"
    "return reply\n"
);
