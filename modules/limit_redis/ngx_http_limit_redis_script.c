
/*
 * meshgate: the Lua script limit_redis runs in Redis, and the reading of
 * its reply.
 */


#include "ngx_http_limit_redis_module.h"


/*
 * KEYS[i] is a zone's key, ARGV[2i - 1] its emission interval T in
 * microseconds and ARGV[2i] its burst B.  The script reads every zone
 * first and writes only when every zone fits, so that a rejected request
 * charges no zone; the clock is Redis's, so that nginx hosts whose clocks
 * differ agree.  It answers {charged, backlog_1, ..., backlog_n}: whether
 * it charged the zones, and each key's backlog max(tat, now) - now before
 * the request, in microseconds; nginx derives everything else from those
 * with mg_gcra_decide(), and checks that it reaches the same verdict.
 *
 * Lua numbers are doubles: Unix time in microseconds and every bound of
 * mg_gcra.h stay far below 2^53, so the arithmetic is exact; tats are
 * written with "%.0f" because tostring() would round them to 14 digits.
 * A key expires a second after its tat: from tat on, a missing key and a
 * stored one mean the same, so nothing is lost.
 */

ngx_str_t  ngx_http_limit_redis_script = ngx_string(
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local r = {1}\n"
    "for i = 1, #KEYS do\n"
    "  local tat = tonumber(redis.call('GET', KEYS[i]))\n"
    "  local b = 0\n"
    "  if tat and tat > now then b = tat - now end\n"
    "  r[i + 1] = b\n"
    "  if b > tonumber(ARGV[2 * i]) * tonumber(ARGV[2 * i - 1]) then\n"
    "    r[1] = 0\n"
    "  end\n"
    "end\n"
    "if r[1] == 1 then\n"
    "  for i = 1, #KEYS do\n"
    "    local a = r[i + 1] + tonumber(ARGV[2 * i - 1])\n"
    "    redis.call('SET', KEYS[i], string.format('%.0f', now + a),\n"
    "               'PX', math.ceil(a / 1000) + 1000)\n"
    "  end\n"
    "end\n"
    "return r\n"
);


/*
 * Fills the zones' backlogs from the reply and decides the request.  The
 * reply comes from the network: anything but the expected shape, or a
 * verdict other than nginx's own, is an error that the fail mode handles.
 */

ngx_int_t
ngx_http_limit_redis_read_reply(redisReply *reply, mg_gcra_zone_t *zones,
    ngx_uint_t n, mg_gcra_decision_t *decision, ngx_str_t *error)
{
    ngx_uint_t   i;
    redisReply  *e;

    if (reply->type == REDIS_REPLY_ERROR) {
        error->len = reply->len;
        error->data = (u_char *) reply->str;
        return NGX_ERROR;
    }

    ngx_str_set(error, "unexpected reply");

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n + 1) {
        return NGX_ERROR;
    }

    for (i = 0; i <= n; i++) {
        e = reply->element[i];

        if (e == NULL || e->type != REDIS_REPLY_INTEGER) {
            return NGX_ERROR;
        }

        if (i > 0) {
            zones[i - 1].backlog = (int64_t) e->integer;
        }
    }

    e = reply->element[0];

    if ((e->integer != 0 && e->integer != 1)
        || mg_gcra_decide(zones, n, decision) != 0)
    {
        return NGX_ERROR;
    }

    if (e->integer != (decision->outcome != MG_GCRA_REJECTED)) {
        ngx_str_set(error, "reply disagrees with the limits");
        return NGX_ERROR;
    }

    return NGX_OK;
}
