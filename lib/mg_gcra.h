
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the generic cell rate algorithm (GCRA) with limit_req's burst
 * and delay semantics, in integer microseconds, free of nginx so that the
 * Redis script's results and the local fallback share one arithmetic and
 * both can be unit-tested and fuzzed.
 *
 * A key's state is its theoretical arrival time (tat).  The store (Redis
 * or shared memory) only reports, per zone, the backlog of the key before
 * the request: max(tat, now) - now, 0 for a key it does not hold.  With the
 * emission interval T (1 / rate), burst B and delay d (limit_req's delay=,
 * B for nodelay, 0 by default):
 *
 *     a zone fits the request      when backlog + T <= (B + 1) * T,
 *                                  that is backlog <= B * T;
 *     the request is accepted      when every zone fits, and then charges
 *                                  every zone: tat = now + backlog + T;
 *                                  otherwise it charges no zone;
 *     after                        the backlog after the request:
 *                                  backlog + T if accepted, else backlog;
 *     delay (accepted)             max(0, after - (min(d, B) + 1) * T),
 *                                  the request's delay is the largest;
 *     remaining                    requests the zone would still accept
 *                                  now: max(0, floor(((B+1)*T - after) / T));
 *     retry (zone does not fit)    backlog - B * T, the time until it fits;
 *                                  the request's retry is the largest.
 */


#ifndef _MG_GCRA_H_INCLUDED_
#define _MG_GCRA_H_INCLUDED_


#include "mg_common.h"


#define MG_GCRA_PASSED        0
#define MG_GCRA_DELAYED       1
#define MG_GCRA_REJECTED      2

/* 1 r/m; Redis's Lua numbers are doubles, exact below 2^53 */
#define MG_GCRA_MAX_INTERVAL  60000000
#define MG_GCRA_MAX_BURST     1000000

/* what "nodelay" sets delay to: every delay is clamped to the burst */
#define MG_GCRA_NODELAY       MG_GCRA_MAX_BURST

/* larger backlogs come from a broken or foreign store, not from a limit */
#define MG_GCRA_MAX_BACKLOG   ((int64_t) 1 << 52)

#define MG_GCRA_USEC          1000000

/* the type of an element of limit_redis's script reply */
#define MG_GCRA_ELEMENT_OTHER     0     /* anything else, or none */
#define MG_GCRA_ELEMENT_INTEGER   1
#define MG_GCRA_ELEMENT_ERROR     2

/* what mg_gcra_read_reply() makes of a reply */
#define MG_GCRA_REPLY_OK          0
#define MG_GCRA_REPLY_ERROR      -1     /* Redis answered with an error */
#define MG_GCRA_REPLY_UNEXPECTED -2     /* not the shape or values expected */
#define MG_GCRA_REPLY_DISAGREES  -3     /* another verdict than the script's */


typedef struct {
    int64_t                 interval;   /* T, us, 1..MG_GCRA_MAX_INTERVAL */
    int64_t                 burst;      /* 0..MG_GCRA_MAX_BURST */
    int64_t                 delay;      /* >= 0; >= burst: nodelay */
} mg_gcra_limit_t;


typedef struct {
    const mg_gcra_limit_t  *limit;      /* in */
    int64_t                 backlog;    /* in: max(tat, now) - now, us */

    int64_t                 after;      /* out, us */
    int64_t                 delay;      /* out, us */
    int64_t                 remaining;  /* out, requests */
    int64_t                 retry;      /* out, us; 0: the zone fits */
    int                     fits;       /* out */
} mg_gcra_zone_t;


/* an element of a reply, as the caller's Redis client decoded it */
typedef struct {
    int                     type;       /* MG_GCRA_ELEMENT_* */
    int64_t                 integer;    /* MG_GCRA_ELEMENT_INTEGER's value */
} mg_gcra_element_t;


typedef struct {
    int                     outcome;    /* MG_GCRA_PASSED ... */
    int64_t                 delay;      /* us, the largest zone delay */
    int64_t                 retry;      /* us, the largest zone retry */
    size_t                  binding;    /* the most restrictive zone */
} mg_gcra_decision_t;


/*
 * Decides a request against n >= 1 zones whose limit and backlog are set.
 * The most restrictive zone is the one with the fewest remaining requests,
 * then the largest "after", then the first.  Returns -1, deciding nothing,
 * when a limit is out of its bounds or a backlog is negative or larger
 * than MG_GCRA_MAX_BACKLOG (a store's answer must not be trusted blindly).
 */
int mg_gcra_decide(mg_gcra_zone_t *zones, size_t n, mg_gcra_decision_t *d);

/*
 * Decides a request from its run's part of limit_redis's script reply
 * (ngx_http_limit_redis_script.c): element[0] is how many of the run's m
 * requests the script charged, element[1..n] each zone's backlog before
 * the run.  The request is the run's q-th (from 0), so it saw each backlog
 * plus one interval per request before it that was charged; the zones'
 * limits are set, their backlogs are set here.  The reply comes from the
 * network: anything but integers within their bounds is refused, and so
 * is a count that disagrees with mg_gcra_decide()'s verdict.  Returns
 * MG_GCRA_REPLY_OK (d is set) or an error: MG_GCRA_REPLY_ERROR when
 * element[0] is an error, Redis's answer for the whole run.
 */
int mg_gcra_read_reply(const mg_gcra_element_t *element, size_t n, size_t q,
    size_t m, mg_gcra_zone_t *zones, mg_gcra_decision_t *d);

/* the new tat of a charged key, for stores that keep tats themselves */
int64_t mg_gcra_charge(const mg_gcra_limit_t *limit, int64_t tat,
    int64_t now);

/* max(tat, now) - now, clamped to MG_GCRA_MAX_BACKLOG */
int64_t mg_gcra_backlog(int64_t tat, int64_t now);

/* microseconds rounded up to whole seconds; 0 for us <= 0 */
int64_t mg_gcra_seconds(int64_t us);

/*
 * Parses limit_req's rate syntax, "N", "Nr/s" or "Nr/m", into an emission
 * interval rounded to the nearest microsecond.  Returns -1 for anything
 * else, for 0, and for rates above 1000000r/s (an interval under 1 us).
 */
int mg_gcra_parse_rate(const unsigned char *s, size_t len,
    int64_t *interval);


#endif /* _MG_GCRA_H_INCLUDED_ */
