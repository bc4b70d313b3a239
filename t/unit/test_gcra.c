
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: unit tests of mg_gcra.c, the GCRA arithmetic of limit_redis.
 * Prints TAP; t/03-gcra.t builds and runs it.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "mg_gcra.h"


#define T_SEC  1000000


/* a key's tat kept as Redis or the shared memory would keep it */
typedef struct {
    int64_t              tat;
} test_store_t;


static uint64_t  test_seed = 0x9e3779b97f4a7c15ULL;


static uint64_t
test_random(void)
{
    /* xorshift64*: deterministic, so a failure can be replayed */

    test_seed ^= test_seed >> 12;
    test_seed ^= test_seed << 25;
    test_seed ^= test_seed >> 27;

    return test_seed * 2685821657736338717ULL;
}


/* one request against n zones at "now", charging the stores as Redis does */

static int
request(test_store_t *stores, mg_gcra_zone_t *zones, size_t n, int64_t now,
    mg_gcra_decision_t *d)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        zones[i].backlog = mg_gcra_backlog(stores[i].tat, now);
    }

    if (mg_gcra_decide(zones, n, d) != 0) {
        return -1;
    }

    if (d->outcome != MG_GCRA_REJECTED) {
        for (i = 0; i < n; i++) {
            stores[i].tat = now + zones[i].after;
        }
    }

    return 0;
}


static void
test_parse_rate(void)
{
    int      rc;
    size_t   i;
    int64_t  t;

    static const struct {
        const char  *rate;
        int64_t      interval;
    } good[] = {
        { "1r/s", 1000000 },
        { "10r/s", 100000 },
        { "2r/s", 500000 },
        { "3r/s", 333333 },
        { "7r/s", 142857 },
        { "10", 100000 },
        { "1000000r/s", 1 },
        { "1r/m", 60000000 },
        { "30r/m", 2000000 },
        { "7r/m", 8571429 },
        { "60000000r/m", 1 },
        { "0010r/s", 100000 }
    };

    static const char  *bad[] = {
        "", "r/s", "r/m", "0r/s", "0", "0r/m", "1000001r/s", "60000001r/m",
        "1r/h", "-1r/s", "+1r/s", "1.5r/s", " 1r/s", "1 r/s", "1r/s ",
        "1r", "1r/", "99999999999999999999999r/s", "1r/sr/s", "abc"
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        t = -1;

        /* called first: the description shows what it set */

        rc = mg_gcra_parse_rate((const unsigned char *) good[i].rate,
                                strlen(good[i].rate), &t);

        ok(rc == 0 && t == good[i].interval,
           "rate \"%s\" is an interval of %lld us (got %lld)", good[i].rate,
           (long long) good[i].interval, (long long) t);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(mg_gcra_parse_rate((const unsigned char *) bad[i], strlen(bad[i]),
                              &t) == -1,
           "rate \"%s\" is refused", bad[i]);
    }
}


static void
test_helpers(void)
{
    mg_gcra_limit_t  l = { 100000, 0, 0 };

    ok(mg_gcra_seconds(0) == 0, "seconds(0) = 0");
    ok(mg_gcra_seconds(-5) == 0, "seconds(-5) = 0");
    ok(mg_gcra_seconds(1) == 1, "seconds(1 us) = 1");
    ok(mg_gcra_seconds(T_SEC) == 1, "seconds(1 s) = 1");
    ok(mg_gcra_seconds(T_SEC + 1) == 2, "seconds(1 s + 1 us) = 2");
    ok(mg_gcra_seconds(120 * (int64_t) T_SEC) == 120, "seconds(120 s) = 120");

    ok(mg_gcra_backlog(5, 10) == 0, "a past tat is no backlog");
    ok(mg_gcra_backlog(10, 10) == 0, "a present tat is no backlog");
    ok(mg_gcra_backlog(15, 10) == 5, "a future tat is its distance");
    ok(mg_gcra_backlog(INT64_MAX, 0) == MG_GCRA_MAX_BACKLOG,
       "a far tat is clamped");
    ok(mg_gcra_backlog(INT64_MAX, INT64_MIN) == MG_GCRA_MAX_BACKLOG,
       "extreme tat and now are clamped, not overflowed");
    ok(mg_gcra_backlog(INT64_MIN, INT64_MAX) == 0,
       "extreme past tat is no backlog");

    ok(mg_gcra_charge(&l, 0, 1000) == 101000, "charging an idle key");
    ok(mg_gcra_charge(&l, 5000, 1000) == 105000, "charging a busy key");
}


static void
test_single(void)
{
    int                 i, fail;
    int64_t             now;
    test_store_t        s;
    mg_gcra_zone_t      z;
    mg_gcra_limit_t     l;
    mg_gcra_decision_t  d;

    /* 1r/s, no burst */

    l.interval = T_SEC;
    l.burst = 0;
    l.delay = 0;
    z.limit = &l;
    s.tat = 0;
    now = 1000 * (int64_t) T_SEC;

    ok(request(&s, &z, 1, now, &d) == 0 && d.outcome == MG_GCRA_PASSED
       && d.delay == 0 && z.remaining == 0 && z.after == T_SEC
       && d.binding == 0,
       "1r/s: the first request passes, nothing remains, reset in 1 s");

    ok(request(&s, &z, 1, now + 1, &d) == 0
       && d.outcome == MG_GCRA_REJECTED && d.retry == T_SEC - 1
       && z.remaining == 0 && z.after == T_SEC - 1 && z.retry == T_SEC - 1,
       "1r/s: the next one is rejected, retry when the interval is over");

    ok(s.tat == now + T_SEC, "a rejected request charges nothing");

    ok(request(&s, &z, 1, now + T_SEC, &d) == 0
       && d.outcome == MG_GCRA_PASSED,
       "1r/s: a request one interval later passes");

    /* 10r/s burst=5: limit_req delays the excess, rejects past the burst */

    l.interval = 100000;
    l.burst = 5;
    l.delay = 0;
    s.tat = 0;
    fail = 0;

    for (i = 0; i < 6; i++) {
        if (request(&s, &z, 1, now, &d) != 0
            || d.outcome != (i ? MG_GCRA_DELAYED : MG_GCRA_PASSED)
            || d.delay != i * 100000
            || z.remaining != 5 - i
            || z.after != (i + 1) * 100000)
        {
            diag("request %d: outcome %d delay %lld remaining %lld", i,
                 d.outcome, (long long) d.delay, (long long) z.remaining);
            fail = 1;
        }
    }

    ok(!fail, "burst=5: six requests at once, delayed by 0, 100 .. 500 ms");

    ok(request(&s, &z, 1, now, &d) == 0 && d.outcome == MG_GCRA_REJECTED
       && d.retry == 100000 && z.remaining == 0 && z.after == 600000,
       "burst=5: the seventh is rejected, retry in 100 ms");

    ok(request(&s, &z, 1, now + 100000, &d) == 0
       && d.outcome == MG_GCRA_DELAYED && d.delay == 500000,
       "burst=5: 100 ms later one more is accepted, delayed 500 ms");

    /* nodelay */

    l.delay = MG_GCRA_NODELAY;
    s.tat = 0;
    fail = 0;

    for (i = 0; i < 6; i++) {
        if (request(&s, &z, 1, now, &d) != 0
            || d.outcome != MG_GCRA_PASSED || d.delay != 0)
        {
            fail = 1;
        }
    }

    ok(!fail, "burst=5 nodelay: six requests at once pass undelayed");

    ok(request(&s, &z, 1, now, &d) == 0 && d.outcome == MG_GCRA_REJECTED,
       "burst=5 nodelay: the seventh is rejected");

    /* delay=2 */

    l.delay = 2;
    s.tat = 0;
    fail = 0;

    for (i = 0; i < 6; i++) {
        if (request(&s, &z, 1, now, &d) != 0
            || d.delay != (i < 3 ? 0 : (i - 2) * 100000)
            || d.outcome != (i < 3 ? MG_GCRA_PASSED : MG_GCRA_DELAYED))
        {
            diag("request %d: outcome %d delay %lld", i, d.outcome,
                 (long long) d.delay);
            fail = 1;
        }
    }

    ok(!fail, "burst=5 delay=2: three pass, then 100, 200, 300 ms delays");

    /* a delay larger than the burst is nodelay */

    l.delay = 50;
    s.tat = 0;
    fail = 0;

    for (i = 0; i < 6; i++) {
        if (request(&s, &z, 1, now, &d) != 0 || d.delay != 0) {
            fail = 1;
        }
    }

    ok(!fail, "burst=5 delay=50: nothing is delayed");

    /* a zone half drained */

    l.interval = T_SEC;
    l.burst = 3;
    l.delay = MG_GCRA_NODELAY;
    s.tat = now + 2500000;

    ok(request(&s, &z, 1, now, &d) == 0 && d.outcome == MG_GCRA_PASSED
       && z.after == 3500000 && z.remaining == 0
       && mg_gcra_seconds(z.after) == 4,
       "backlog 2.5 s of 4 s: accepted, nothing remains, reset in 4 s");

    s.tat = now + 1500000;

    ok(request(&s, &z, 1, now, &d) == 0 && z.remaining == 1,
       "backlog 1.5 s of 4 s: accepted, one remains");
}


static void
test_multi(void)
{
    int64_t             now;
    test_store_t        s[3];
    mg_gcra_zone_t      z[3];
    mg_gcra_limit_t     l[3];
    mg_gcra_decision_t  d;

    now = 5000 * (int64_t) T_SEC;

    /* 1r/s burst=2 and 10r/s burst=1, both nodelay */

    l[0].interval = T_SEC;
    l[0].burst = 2;
    l[0].delay = MG_GCRA_NODELAY;
    l[1].interval = 100000;
    l[1].burst = 1;
    l[1].delay = MG_GCRA_NODELAY;

    z[0].limit = &l[0];
    z[1].limit = &l[1];
    s[0].tat = 0;
    s[1].tat = 0;

    ok(request(s, z, 2, now, &d) == 0 && d.outcome == MG_GCRA_PASSED
       && z[0].remaining == 2 && z[1].remaining == 1 && d.binding == 1,
       "two zones: the one with fewer remaining requests binds");

    ok(request(s, z, 2, now, &d) == 0 && d.outcome == MG_GCRA_PASSED
       && z[0].remaining == 1 && z[1].remaining == 0 && d.binding == 1,
       "two zones: second request");

    ok(request(s, z, 2, now, &d) == 0 && d.outcome == MG_GCRA_REJECTED
       && !z[1].fits && z[0].fits && z[0].retry == 0
       && z[1].retry == 100000 && d.retry == 100000
       && z[0].after == 2 * T_SEC && z[0].remaining == 1
       && d.binding == 1,
       "two zones: rejected by one, the other is reported uncharged");

    ok(s[0].tat == now + 2 * T_SEC && s[1].tat == now + 200000,
       "two zones: the rejected request charged neither");

    /* ties: equal remaining, the larger "after" binds, then the first */

    l[0].interval = T_SEC;
    l[0].burst = 0;
    l[0].delay = 0;
    l[1].interval = 2 * T_SEC;
    l[1].burst = 0;
    l[1].delay = 0;
    l[2] = l[0];
    z[2].limit = &l[2];
    s[0].tat = 0;
    s[1].tat = 0;
    s[2].tat = 0;

    ok(request(s, z, 3, now, &d) == 0 && d.binding == 1,
       "a tie on remaining goes to the longer reset");

    l[1] = l[0];
    s[0].tat = 0;
    s[1].tat = 0;
    s[2].tat = 0;

    ok(request(s, z, 3, now, &d) == 0 && d.binding == 0,
       "a full tie goes to the first zone");

    /* the request's delay and retry are the largest of its zones */

    l[0].interval = 100000;
    l[0].burst = 5;
    l[0].delay = 0;
    l[1].interval = 200000;
    l[1].burst = 5;
    l[1].delay = 0;
    s[0].tat = now + 300000;
    s[1].tat = now + 200000;

    ok(request(s, z, 2, now, &d) == 0 && d.outcome == MG_GCRA_DELAYED
       && z[0].delay == 300000 && z[1].delay == 200000
       && d.delay == 300000,
       "the largest zone delay delays the request");

    s[0].tat = now + 600000;
    s[1].tat = now + 1300000;

    ok(request(s, z, 2, now, &d) == 0 && d.outcome == MG_GCRA_REJECTED
       && z[0].retry == 100000 && z[1].retry == 300000 && d.retry == 300000
       && d.delay == 0,
       "the largest zone retry is the request's");
}


static void
test_invalid(void)
{
    mg_gcra_zone_t      z;
    mg_gcra_limit_t     l = { 100000, 5, 0 };
    mg_gcra_decision_t  d;

    z.limit = &l;

    z.backlog = -1;
    ok(mg_gcra_decide(&z, 1, &d) == -1, "a negative backlog is refused");

    z.backlog = MG_GCRA_MAX_BACKLOG + 1;
    ok(mg_gcra_decide(&z, 1, &d) == -1, "a huge backlog is refused");

    z.backlog = MG_GCRA_MAX_BACKLOG;
    ok(mg_gcra_decide(&z, 1, &d) == 0 && d.outcome == MG_GCRA_REJECTED,
       "the largest backlog is a rejection");

    z.backlog = 0;
    ok(mg_gcra_decide(&z, 0, &d) == -1, "no zones is refused");

    l.interval = 0;
    ok(mg_gcra_decide(&z, 1, &d) == -1, "an interval of 0 is refused");

    l.interval = MG_GCRA_MAX_INTERVAL + 1;
    ok(mg_gcra_decide(&z, 1, &d) == -1, "a too long interval is refused");

    l.interval = 100000;
    l.burst = MG_GCRA_MAX_BURST + 1;
    ok(mg_gcra_decide(&z, 1, &d) == -1, "a too large burst is refused");

    l.burst = -1;
    ok(mg_gcra_decide(&z, 1, &d) == -1, "a negative burst is refused");

    l.burst = 0;
    l.delay = -1;
    ok(mg_gcra_decide(&z, 1, &d) == -1, "a negative delay is refused");
}


/* a reply of integers: count, then the zones' backlogs */

static void
reply_set(mg_gcra_element_t *e, size_t n, const int64_t *values)
{
    size_t  i;

    for (i = 0; i <= n; i++) {
        e[i].type = MG_GCRA_ELEMENT_INTEGER;
        e[i].integer = values[i];
    }
}


static void
test_reply(void)
{
    int                 rc;
    size_t              q;
    mg_gcra_zone_t      z[2];
    mg_gcra_limit_t     a = { T_SEC, 2, MG_GCRA_NODELAY };
    mg_gcra_limit_t     b = { T_SEC / 2, 0, MG_GCRA_NODELAY };
    mg_gcra_element_t   e[3];
    mg_gcra_decision_t  d;

    static const int      outcomes[] = {
        MG_GCRA_PASSED, MG_GCRA_PASSED, MG_GCRA_PASSED,
        MG_GCRA_REJECTED, MG_GCRA_REJECTED
    };
    static const int64_t  run[] = { 3, 0 };
    static const int64_t  two[] = { 1, 0, 0 };

    z[0].limit = &a;
    z[1].limit = &b;

    /* 1r/s, burst=2: a run of 5 from an empty key charges 3 */

    for (q = 0; q < 5; q++) {
        reply_set(e, 1, run);
        rc = mg_gcra_read_reply(e, 1, q, 5, z, &d);

        ok(rc == MG_GCRA_REPLY_OK && d.outcome == outcomes[q]
           && z[0].backlog == (int64_t) (q < 3 ? q : 3) * T_SEC,
           "run of 5, count 3: request %zu sees backlog %zu s, %s",
           q, q < 3 ? q : 3, q < 3 ? "passed" : "rejected");
    }

    /* from a backlog of 0.5 s, the same run charges 2 */

    reply_set(e, 1, run);
    e[0].integer = 2;
    e[1].integer = T_SEC / 2;
    ok(mg_gcra_read_reply(e, 1, 1, 5, z, &d) == MG_GCRA_REPLY_OK
       && z[0].backlog == T_SEC + T_SEC / 2 && d.outcome == MG_GCRA_PASSED,
       "the backlog before the run adds to the charged requests'");

    reply_set(e, 1, run);
    e[0].integer = 2;
    e[1].integer = T_SEC / 2;
    ok(mg_gcra_read_reply(e, 1, 2, 5, z, &d) == MG_GCRA_REPLY_OK
       && z[0].backlog == 2 * T_SEC + T_SEC / 2
       && d.outcome == MG_GCRA_REJECTED && d.retry == T_SEC / 2,
       "and the first request not charged is rejected");

    /* two zones: the second lets one through */

    reply_set(e, 2, two);
    ok(mg_gcra_read_reply(e, 2, 0, 2, z, &d) == MG_GCRA_REPLY_OK
       && d.outcome == MG_GCRA_PASSED, "two zones, first request passed");

    reply_set(e, 2, two);
    ok(mg_gcra_read_reply(e, 2, 1, 2, z, &d) == MG_GCRA_REPLY_OK
       && d.outcome == MG_GCRA_REJECTED && d.binding == 1
       && z[0].backlog == T_SEC && z[1].backlog == T_SEC / 2
       && d.retry == T_SEC / 2,
       "two zones, second request rejected by the second zone");

    /* verdicts other than the script's */

    reply_set(e, 1, run);
    e[0].integer = 1;
    ok(mg_gcra_read_reply(e, 1, 1, 5, z, &d) == MG_GCRA_REPLY_DISAGREES,
       "a count too small disagrees");

    reply_set(e, 1, run);
    e[0].integer = 5;
    ok(mg_gcra_read_reply(e, 1, 3, 5, z, &d) == MG_GCRA_REPLY_DISAGREES,
       "a count too large disagrees");

    reply_set(e, 1, run);
    e[1].integer = 3 * T_SEC;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_DISAGREES,
       "a backlog that cannot have let the run through disagrees");

    /* Redis's error */

    reply_set(e, 1, run);
    e[0].type = MG_GCRA_ELEMENT_ERROR;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_ERROR,
       "an error as the count is Redis's error for the run");

    reply_set(e, 1, run);
    e[0].type = MG_GCRA_ELEMENT_ERROR;
    e[1].type = MG_GCRA_ELEMENT_OTHER;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_ERROR,
       "whatever follows it");

    /* not the expected shape or values */

    reply_set(e, 1, run);
    e[1].type = MG_GCRA_ELEMENT_ERROR;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "an error as a backlog is unexpected");

    reply_set(e, 1, run);
    e[0].type = MG_GCRA_ELEMENT_OTHER;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "a count that is no integer is unexpected");

    reply_set(e, 1, run);
    e[1].type = MG_GCRA_ELEMENT_OTHER;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "a backlog that is no integer is unexpected");

    reply_set(e, 1, run);
    e[0].integer = -1;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "a negative count is unexpected");

    reply_set(e, 1, run);
    e[1].integer = -1;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "a negative backlog is unexpected");

    reply_set(e, 1, run);
    e[1].integer = MG_GCRA_MAX_BACKLOG + 1;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "a huge backlog is unexpected");

    reply_set(e, 1, run);
    e[0].integer = 6;
    ok(mg_gcra_read_reply(e, 1, 0, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "a count larger than the run is unexpected");

    reply_set(e, 1, run);
    e[1].integer = MG_GCRA_MAX_BACKLOG;
    ok(mg_gcra_read_reply(e, 1, 3, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "a backlog the run pushes over the largest is unexpected");

    reply_set(e, 1, run);
    e[0].integer = MG_GCRA_MAX_BACKLOG;
    e[1].integer = MG_GCRA_MAX_BACKLOG;
    ok(mg_gcra_read_reply(e, 1, (size_t) -1, (size_t) -1, z, &d)
       == MG_GCRA_REPLY_UNEXPECTED,
       "so is one of the largest count and backlog, without overflow");

    reply_set(e, 0, run);
    ok(mg_gcra_read_reply(e, 0, 0, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "a reply for no zones is unexpected");

    a.interval = 0;
    reply_set(e, 1, run);
    ok(mg_gcra_read_reply(e, 1, 1, 5, z, &d) == MG_GCRA_REPLY_UNEXPECTED,
       "so is one for a limit out of bounds");
}


/* floor(a / b) for b > 0, as Lua's math.floor(a / b) */

static int64_t
floor_div(int64_t a, int64_t b)
{
    return (a >= 0) ? a / b : -((-a + b - 1) / b);
}


/*
 * The script of ngx_http_limit_redis_script.c, for one run of m requests
 * that arrive at the same instant: it charges the first c and answers
 * {c, backlog...}.  Read back request by request, the reply must give
 * every request the verdict, delay and retry it gets when the requests
 * are decided one at a time, and leave the same tats.
 */

static void
test_reply_script(void)
{
    int                 fail;
    size_t              i, j, n, m, q, runs;
    int64_t             now, c, room, backlog[3];
    test_store_t        script[3], one[3];
    mg_gcra_zone_t      z[3], zs[3];
    mg_gcra_limit_t     l[3];
    mg_gcra_element_t   e[4];
    mg_gcra_decision_t  d, ds;

    static const int64_t  intervals[] = {
        1000, 100000, 333333, T_SEC, 60 * (int64_t) T_SEC
    };

    fail = 0;
    runs = 0;
    now = 1700000000 * (int64_t) T_SEC;

    for (i = 0; i < 2000 && !fail; i++) {
        n = 1 + test_random() % 3;

        for (j = 0; j < n; j++) {
            l[j].interval = intervals[test_random() % 5];
            l[j].burst = test_random() % 6;
            l[j].delay = (test_random() % 2) ? MG_GCRA_NODELAY
                                             : (int64_t) (test_random() % 4);

            script[j].tat = now + (int64_t) (test_random() % 8)
                                  * l[j].interval
                            - (int64_t) (test_random() % 3) * l[j].interval;
            one[j] = script[j];

            z[j].limit = &l[j];
            zs[j].limit = &l[j];
        }

        m = 1 + test_random() % 8;

        /* the script */

        c = (int64_t) m;

        for (j = 0; j < n; j++) {
            backlog[j] = mg_gcra_backlog(script[j].tat, now);
            room = floor_div(l[j].burst * l[j].interval - backlog[j],
                             l[j].interval);

            if (room + 1 < c) {
                c = room + 1;
            }
        }

        if (c < 0) {
            c = 0;
        }

        if (c > 0) {
            for (j = 0; j < n; j++) {
                script[j].tat = now + backlog[j] + c * l[j].interval;
            }
        }

        /* its reply, read for each request, and each decided alone */

        for (q = 0; q < m && !fail; q++) {
            e[0].type = MG_GCRA_ELEMENT_INTEGER;
            e[0].integer = c;

            for (j = 0; j < n; j++) {
                e[j + 1].type = MG_GCRA_ELEMENT_INTEGER;
                e[j + 1].integer = backlog[j];
            }

            if (mg_gcra_read_reply(e, n, q, m, z, &d) != MG_GCRA_REPLY_OK
                || request(one, zs, n, now, &ds) != 0
                || d.outcome != ds.outcome || d.delay != ds.delay
                || d.retry != ds.retry || d.binding != ds.binding)
            {
                diag("run %zu, request %zu of %zu, %zu zones: %d / %d",
                     i, q, m, n, d.outcome, ds.outcome);
                fail = 1;
            }
        }

        for (j = 0; j < n && !fail; j++) {
            if (script[j].tat != one[j].tat) {
                diag("run %zu, zone %zu: tat %lld, one at a time %lld", i, j,
                     (long long) script[j].tat, (long long) one[j].tat);
                fail = 1;
            }
        }

        runs += (c > 0 && c < (int64_t) m);
        now += (int64_t) (test_random() % 3) * T_SEC / 2;
    }

    ok(!fail && runs > 100, "a run decided at once by the script and read "
       "back agrees with its requests decided one at a time (%zu runs cut "
       "short)", runs);
}


/*
 * limit_req's own model (ngx_http_limit_req_lookup): an excess in
 * requests that drains at the rate, grows by one per request and is
 * clamped at 0; a request is rejected, unaccounted, when its excess
 * exceeds the burst, and delayed by (excess - delay) / rate.  Here it is
 * kept in microseconds (excess * T), exactly; GCRA must agree with it on
 * every request of random traffic.
 */

static void
test_limit_req(void)
{
    int                 fail;
    size_t              i, k, accepted, rejected;
    int64_t             now, last, excess, e, delay, dl;
    test_store_t        s;
    mg_gcra_zone_t      z;
    mg_gcra_limit_t     l;
    mg_gcra_decision_t  d;

    fail = 0;
    accepted = 0;
    rejected = 0;

    for (k = 0; k < 200 && !fail; k++) {
        l.interval = 1 + test_random() % 2000000;
        l.burst = test_random() % 20;
        l.delay = (test_random() % 3 == 0) ? MG_GCRA_NODELAY
                                           : (int64_t) (test_random() % 25);
        z.limit = &l;

        s.tat = 0;
        now = 1700000000 * (int64_t) T_SEC;
        last = now;
        excess = -1;

        for (i = 0; i < 500; i++) {
            now += test_random() % (3 * l.interval);

            if (excess < 0) {
                e = 0;

            } else {
                e = excess - (now - last) + l.interval;

                if (e < 0) {
                    e = 0;
                }
            }

            dl = (l.delay < l.burst) ? l.delay : l.burst;
            delay = (e > dl * l.interval) ? e - dl * l.interval : 0;

            if (request(&s, &z, 1, now, &d) != 0) {
                fail = 1;
                break;
            }

            if (e > l.burst * l.interval) {
                if (d.outcome != MG_GCRA_REJECTED) {
                    fail = 1;
                }

                rejected++;
                continue;
            }

            excess = e;
            last = now;
            accepted++;

            if (d.outcome == MG_GCRA_REJECTED || d.delay != delay) {
                fail = 1;
            }
        }

        if (fail) {
            diag("T %lld burst %lld delay %lld, request %zu: excess %lld, "
                 "outcome %d, delay %lld instead of %lld",
                 (long long) l.interval, (long long) l.burst,
                 (long long) l.delay, i, (long long) e, d.outcome,
                 (long long) d.delay, (long long) delay);
        }
    }

    ok(!fail, "GCRA agrees with limit_req's model on random traffic "
       "(%zu accepted, %zu rejected)", accepted, rejected);

    ok(accepted > 1000 && rejected > 1000, "the traffic hit both outcomes");
}


/* over any stretch of time, at most B + 1 + stretch / T requests pass */

static void
test_bound(void)
{
    int                 fail;
    size_t              i, j, n;
    int64_t             now, times[2000];
    test_store_t        s;
    mg_gcra_zone_t      z;
    mg_gcra_limit_t     l;
    mg_gcra_decision_t  d;

    l.interval = 10000;
    l.burst = 7;
    l.delay = MG_GCRA_NODELAY;
    z.limit = &l;
    s.tat = 0;
    now = 0;
    n = 0;
    fail = 0;

    for (i = 0; i < 20000 && n < 2000; i++) {
        now += test_random() % 4000;

        if (request(&s, &z, 1, now, &d) != 0) {
            fail = 1;
            break;
        }

        if (d.outcome != MG_GCRA_REJECTED) {
            times[n++] = now;
        }
    }

    for (i = 0; i < n && !fail; i++) {
        for (j = i; j < n; j++) {
            if ((int64_t) (j - i + 1)
                > l.burst + 1 + (times[j] - times[i]) / l.interval)
            {
                diag("%zu requests in %lld us", j - i + 1,
                     (long long) (times[j] - times[i]));
                fail = 1;
                break;
            }
        }
    }

    ok(!fail && n > 100, "no stretch of time lets more than the burst and "
       "the rate through (%zu accepted)", n);
}


int
main(void)
{
    test_parse_rate();
    test_helpers();
    test_single();
    test_multi();
    test_invalid();
    test_reply();
    test_reply_script();
    test_limit_req();
    test_bound();

    printf("1..%u\n", test_n);

    if (test_failed) {
        diag("%u of %u tests failed", test_failed, test_n);
    }

    return test_failed ? 1 : 0;
}
