
/*
 * meshgate: the Lua script limit_redis runs in Redis, and the reading of
 * its reply.
 */


#include "ngx_http_limit_redis_module.h"


/*
 * One call checks a batch: the requests that reached the limiter of one
 * worker during one pass of its event loop, in their order.  Request i
 * has n_i zones: its keys come next in KEYS, and ARGV holds n_i, then
 * each zone's emission interval T and its B * T (the largest backlog the
 * zone accepts), in microseconds, computed by nginx.  For each request the
 * script reads every zone first and charges them only when every zone
 * fits, so that a rejected request charges no zone; the clock is Redis's,
 * so that nginx hosts whose clocks differ agree.  The answer is, request
 * after request, {charged, backlog_1, ..., backlog_n}: whether it charged
 * the zones, and each key's backlog max(tat, now) - now before the
 * request, in microseconds; nginx derives everything else from those with
 * mg_gcra_decide(), and checks that it reaches the same verdict.
 *
 * The batch is evaluated as if its requests came one by one at the same
 * instant, so what Redis spends per call (TIME, GET, SET, formatting) is
 * spent once per batch and key, not per request: tats holds the keys the
 * batch has read, with their tats as the batch moves them, and only the
 * final tat of a charged key is written, once.  A GET that fails (a key of
 * another type) fails only the requests with that key: their charged flag
 * is the error, and they charge nothing.
 *
 * Lua numbers are doubles: Unix time in microseconds and every bound of
 * mg_gcra.h stay far below 2^53, so the arithmetic is exact; tats are
 * written with "%.0f" because tostring() would round them to 14 digits.
 * A key expires a second after its tat: from tat on, a missing key and a
 * stored one mean the same, so nothing is lost.
 *
 * The source is terse on purpose: after a NOSCRIPT reply the client sends
 * it along with every command still in flight, and all of those must fit
 * into its buffer.  w is now; g maps a key to its tat as the batch moves
 * it, e to the error its GET got, s to the tat to write; r is the answer,
 * request i's part of it starting at p, its keys after k, its arguments at
 * a (strings, which Lua's arithmetic takes as numbers).
 */

ngx_str_t  ngx_http_limit_redis_script = ngx_string(
    "local g,e,s,r,k,a,p={},{},{},{},0,1,1\n"
    "local t=redis.call('TIME')\n"
    "local w=t[1]*1e6+t[2]\n"
    "while a<=#ARGV do\n"
    "local n,c=ARGV[a]+0,1\n"
    "for j=1,n do\n"
    "local y=KEYS[k+j]\n"
    "local v=g[y]\n"
    "if not v then\n"
    "v=redis.pcall('GET',y)\n"
    "if type(v)=='table' then e[y]=v end\n"
    "v=tonumber(v) or 0\n"
    "g[y]=v\n"
    "end\n"
    "local b=v>w and v-w or 0\n"
    "r[p+j]=b\n"
    "c=e[y] or c==1 and b>ARGV[a+2*j]+0 and 0 or c\n"
    "end\n"
    "r[p]=c\n"
    "if c==1 then\n"
    "for j=1,n do\n"
    "local y,v=KEYS[k+j],w+r[p+j]+ARGV[a+2*j-1]\n"
    "g[y]=v\n"
    "s[y]=v\n"
    "end\n"
    "end\n"
    "k,a,p=k+n,a+1+2*n,p+1+n\n"
    "end\n"
    "for y,v in pairs(s) do\n"
    "redis.call('SET',y,('%.0f'):format(v),'PX',math.ceil((v-w)/1e3)+1e3)\n"
    "end\n"
    "return r\n"
);


/*
 * Fills a request's zone backlogs from its part of the reply, element[0]
 * (the charged flag) to element[n], and decides the request.  The reply
 * comes from the network: anything but the expected shape, or a verdict
 * other than nginx's own, is an error that the fail mode handles.  Returns
 * NGX_DECLINED when Redis answered the request with an error.
 */

ngx_int_t
ngx_http_limit_redis_read_reply(redisReply **element, ngx_uint_t n,
    mg_gcra_zone_t *zones, mg_gcra_decision_t *decision, ngx_str_t *error)
{
    ngx_uint_t   i;
    redisReply  *e;

    e = element[0];

    if (e != NULL && e->type == REDIS_REPLY_ERROR) {
        error->len = e->len;
        error->data = (u_char *) e->str;
        return NGX_DECLINED;
    }

    ngx_str_set(error, "unexpected reply");

    for (i = 0; i <= n; i++) {
        e = element[i];

        if (e == NULL || e->type != REDIS_REPLY_INTEGER) {
            return NGX_ERROR;
        }

        if (i > 0) {
            zones[i - 1].backlog = (int64_t) e->integer;
        }
    }

    e = element[0];

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
