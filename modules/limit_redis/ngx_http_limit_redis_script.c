
/*
 * meshgate: the Lua script limit_redis runs in Redis, and the reading of
 * its reply.
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
 * converting it to a number): a client's requests in a row cost one
 * argument each, with their indices converted once.
 *
 * For each request the script reads every zone first and charges them
 * only when every zone fits, so that a rejected request charges no zone;
 * the clock is Redis's, so that nginx hosts whose clocks differ agree.
 * The answer is, request after request, {charged, backlog_1, ...,
 * backlog_n}: whether it charged the zones, and each key's backlog
 * max(tat, now) - now before the request, in microseconds; nginx derives
 * everything else from those with mg_gcra_decide(), and checks that it
 * reaches the same verdict.
 *
 * The batch is evaluated as if its requests came one by one at the same
 * instant, so what Redis spends per call (TIME, GET, SET, formatting) is
 * spent once per batch and key, not per request: each key is read once,
 * its tat moves with the batch, and only the final tat of a charged key is
 * written, once.  A GET that fails (a key of another type) fails only the
 * requests with that key: their charged flag is the error, and they charge
 * nothing.
 *
 * Lua numbers are doubles: Unix time in microseconds and every bound of
 * mg_gcra.h stay far below 2^53, so the arithmetic is exact; tats are
 * written with "%.0f" because tostring() would round them to 14 digits.
 * A key expires a second after its tat: from tat on, a missing key and a
 * stored one mean the same, so nothing is lost.
 *
 * The source is terse on purpose: after a NOSCRIPT reply the client sends
 * it again with each command in flight, which must fit into its buffer
 * (t/redis/ring.t).  A is ARGV; w is now; T and Q are the limits' T and
 * B * T; g maps a key's index to its tat as the batch moves it, e to the
 * error its GET got (false: none), s to whether to write it; L and K are
 * the limit and key indices of the request's zones, n their number, kept
 * for the requests that repeat them; a is where the request is in ARGV;
 * r is the answer, the request's part of it starting at p.
 */

ngx_str_t  ngx_http_limit_redis_script = ngx_string(
    "local A,g,e,s,T,Q,L,K,r,p,n=ARGV,{},{},{},{},{},{},{},{},1\n"
    "local t=redis.call('TIME')\n"
    "local w,a=t[1]*1e6+t[2],2*A[1]+2\n"
    "for l=1,A[1] do T[l],Q[l]=A[2*l]+0,A[2*l+1]+0 end\n"
    "for k=1,#KEYS do\n"
    "local v=redis.pcall('GET',KEYS[k])\n"
    "e[k]=type(v)=='table' and v\n"
    "g[k]=tonumber(v) or 0\n"
    "end\n"
    "while a<=#A do\n"
    "if A[a]~='0' then\n"
    "n=A[a]+0\n"
    "for j=1,n do L[j],K[j]=A[a+2*j-1]+0,A[a+2*j]+0 end\n"
    "a=a+2*n\n"
    "end\n"
    "local c=1\n"
    "for j=1,n do\n"
    "local v=g[K[j]]\n"
    "local b=v>w and v-w or 0\n"
    "r[p+j]=b\n"
    "c=e[K[j]] or c==1 and b>Q[L[j]] and 0 or c\n"
    "end\n"
    "r[p]=c\n"
    "if c==1 then\n"
    "for j=1,n do\n"
    "g[K[j]]=w+r[p+j]+T[L[j]]\n"
    "s[K[j]]=1\n"
    "end\n"
    "end\n"
    "a,p=a+1,p+1+n\n"
    "end\n"
    "for k in pairs(s) do\n"
    "redis.call('SET',KEYS[k],('%.0f'):format(g[k]),'PX',"
    "math.ceil((g[k]-w)/1e3)+1e3)\n"
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
