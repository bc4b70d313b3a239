
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
 * of the run saw, and everything else, with mg_gcra_decide(), and checks
 * that it reaches the same verdict.  For each run the script reads every
 * zone first and charges them only when every zone fits, so that a
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
 * mg_gcra.h stay far below 2^53, so the arithmetic is exact; tats are
 * written with "%.0f" because tostring() would round them to 14 digits.
 * A key expires a second after its tat: from tat on, a missing key and a
 * stored one mean the same, so nothing is lost.
 *
 * The source is terse on purpose: after a NOSCRIPT reply the client sends
 * it again with each command in flight (t/redis/ring.t).  A is ARGV; w is
 * now; T and Q are the limits' T and B * T; g maps a key's index to its
 * tat as the batch moves it, e to the error its GET got (false: none), s
 * to whether to write it; L and K are the limit and key indices of the
 * run's zones, n their number; a is where the run is in ARGV, c its
 * count, f its error; r is the answer, the run's part of it starting at p.
 */

ngx_str_t  ngx_http_limit_redis_script = ngx_string(
    "local A,g,e,s,T,Q,L,K,r,p=ARGV,{},{},{},{},{},{},{},{},1\n"
    "local t=redis.call('TIME')\n"
    "local w,a=t[1]*1e6+t[2],2*A[1]+2\n"
    "for l=1,A[1] do T[l],Q[l]=A[2*l]+0,A[2*l+1]+0 end\n"
    "for k=1,#KEYS do\n"
    "local v=redis.pcall('GET',KEYS[k])\n"
    "e[k]=type(v)=='table' and v\n"
    "g[k]=tonumber(v) or 0\n"
    "end\n"
    "while a<=#A do\n"
    "local n,c,f=A[a]+0,1\n"
    "for j=1,n do L[j],K[j]=A[a+2*j-1]+0,A[a+2*j]+0 end\n"
    "a=a+1+2*n\n"
    "while A[a]=='0' do c,a=c+1,a+1 end\n"
    "for j=1,n do\n"
    "local b,l=math.max(g[K[j]]-w,0),L[j]\n"
    "r[p+j]=b\n"
    "f=f or e[K[j]]\n"
    "c=math.min(c,math.floor((Q[l]-b)/T[l])+1)\n"
    "end\n"
    "r[p]=f or math.max(c,0)\n"
    "if not f and c>0 then\n"
    "for j=1,n do g[K[j]],s[K[j]]=w+r[p+j]+c*T[L[j]],1 end\n"
    "end\n"
    "p=p+1+n\n"
    "end\n"
    "for k in pairs(s) do\n"
    "redis.call('SET',KEYS[k],('%.0f'):format(g[k]),'PX',"
    "math.ceil((g[k]-w)/1e3)+1e3)\n"
    "end\n"
    "return r\n"
);


/*
 * Fills a request's zone backlogs from its run's part of the reply,
 * element[0] (the count the run charged) to element[n], q the request's
 * place in its run of m requests, and decides the request.  The reply
 * comes from the network: anything but the expected shape, or a verdict
 * other than nginx's own, is an error that the fail mode handles.  Returns
 * NGX_DECLINED when Redis answered the run with an error.
 */

ngx_int_t
ngx_http_limit_redis_read_reply(redisReply **element, ngx_uint_t n,
    ngx_uint_t q, ngx_uint_t m, mg_gcra_zone_t *zones,
    mg_gcra_decision_t *decision, ngx_str_t *error)
{
    int64_t      charged;
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

        if (e == NULL || e->type != REDIS_REPLY_INTEGER
            || e->integer < 0 || e->integer > MG_GCRA_MAX_BACKLOG)
        {
            return NGX_ERROR;
        }
    }

    if (element[0]->integer > (int64_t) m) {
        return NGX_ERROR;
    }

    /* the requests of the run before this one that were charged */

    charged = ngx_min((int64_t) q, element[0]->integer);

    for (i = 0; i < n; i++) {
        zones[i].backlog = element[i + 1]->integer
                           + charged * zones[i].limit->interval;
    }

    if (mg_gcra_decide(zones, n, decision) != 0) {
        return NGX_ERROR;
    }

    if (((int64_t) q < element[0]->integer)
        != (decision->outcome != MG_GCRA_REJECTED))
    {
        ngx_str_set(error, "reply disagrees with the limits");
        return NGX_ERROR;
    }

    return NGX_OK;
}
