
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: GCRA arithmetic, see mg_gcra.h.
 */


#include "mg_gcra.h"


static int mg_gcra_valid(const mg_gcra_limit_t *limit);


int
mg_gcra_decide(mg_gcra_zone_t *zones, size_t n, mg_gcra_decision_t *d)
{
    size_t                  i;
    int64_t                 t, b, room;
    mg_gcra_zone_t         *z, *best;
    const mg_gcra_limit_t  *l;

    if (n == 0) {
        return -1;
    }

    d->outcome = MG_GCRA_PASSED;
    d->delay = 0;
    d->retry = 0;
    d->binding = 0;

    /* the bounds keep every product and sum below 2^53 */

    for (i = 0; i < n; i++) {
        z = &zones[i];

        if (!mg_gcra_valid(z->limit)
            || z->backlog < 0 || z->backlog > MG_GCRA_MAX_BACKLOG)
        {
            return -1;
        }

        z->fits = (z->backlog <= z->limit->burst * z->limit->interval);

        if (!z->fits) {
            d->outcome = MG_GCRA_REJECTED;
        }
    }

    for (i = 0; i < n; i++) {
        z = &zones[i];
        l = z->limit;
        t = l->interval;

        /* a rejected request charges no zone, so "after" is the backlog */

        if (d->outcome == MG_GCRA_REJECTED) {
            z->after = z->backlog;
            z->delay = 0;

        } else {
            z->after = z->backlog + t;

            b = (l->delay < l->burst) ? l->delay : l->burst;
            z->delay = z->after - (b + 1) * t;

            if (z->delay < 0) {
                z->delay = 0;
            }
        }

        room = (l->burst + 1) * t - z->after;
        z->remaining = (room > 0) ? room / t : 0;

        z->retry = z->fits ? 0 : z->backlog - l->burst * t;

        if (z->delay > d->delay) {
            d->delay = z->delay;
        }

        if (z->retry > d->retry) {
            d->retry = z->retry;
        }
    }

    if (d->outcome == MG_GCRA_PASSED && d->delay > 0) {
        d->outcome = MG_GCRA_DELAYED;
    }

    best = &zones[0];

    for (i = 1; i < n; i++) {
        z = &zones[i];

        if (z->remaining < best->remaining
            || (z->remaining == best->remaining && z->after > best->after))
        {
            best = z;
            d->binding = i;
        }
    }

    return 0;
}


int
mg_gcra_read_reply(const mg_gcra_element_t *element, size_t n, size_t q,
    size_t m, mg_gcra_zone_t *zones, mg_gcra_decision_t *d)
{
    size_t   i;
    int64_t  t, b, count, charged;

    if (element[0].type == MG_GCRA_ELEMENT_ERROR) {
        return MG_GCRA_REPLY_ERROR;
    }

    for (i = 0; i <= n; i++) {
        if (element[i].type != MG_GCRA_ELEMENT_INTEGER
            || element[i].integer < 0
            || element[i].integer > MG_GCRA_MAX_BACKLOG)
        {
            return MG_GCRA_REPLY_UNEXPECTED;
        }
    }

    count = element[0].integer;

    if ((uint64_t) count > m) {
        return MG_GCRA_REPLY_UNEXPECTED;
    }

    /* the requests of the run before this one that were charged */

    charged = ((uint64_t) count < q) ? count : (int64_t) q;

    for (i = 0; i < n; i++) {
        t = zones[i].limit->interval;
        b = element[i + 1].integer;

        /*
         * mg_gcra_decide() refuses an invalid limit and a backlog over
         * MG_GCRA_MAX_BACKLOG too, but only after the product would have
         * overflowed.
         */

        if (!mg_gcra_valid(zones[i].limit)
            || charged > (MG_GCRA_MAX_BACKLOG - b) / t)
        {
            return MG_GCRA_REPLY_UNEXPECTED;
        }

        zones[i].backlog = b + charged * t;
    }

    if (mg_gcra_decide(zones, n, d) != 0) {
        return MG_GCRA_REPLY_UNEXPECTED;
    }

    if (((uint64_t) count > q) != (d->outcome != MG_GCRA_REJECTED)) {
        return MG_GCRA_REPLY_DISAGREES;
    }

    return MG_GCRA_REPLY_OK;
}


int64_t
mg_gcra_charge(const mg_gcra_limit_t *limit, int64_t tat, int64_t now)
{
    return now + mg_gcra_backlog(tat, now) + limit->interval;
}


int64_t
mg_gcra_backlog(int64_t tat, int64_t now)
{
    /* compared, not subtracted first: tat and now come from anywhere */

    if (tat <= now) {
        return 0;
    }

    if (now < 0 && tat > now + MG_GCRA_MAX_BACKLOG) {
        return MG_GCRA_MAX_BACKLOG;
    }

    if (now >= 0 && tat - now > MG_GCRA_MAX_BACKLOG) {
        return MG_GCRA_MAX_BACKLOG;
    }

    return tat - now;
}


int64_t
mg_gcra_seconds(int64_t us)
{
    if (us <= 0) {
        return 0;
    }

    return us / MG_GCRA_USEC + (us % MG_GCRA_USEC != 0);
}


int
mg_gcra_parse_rate(const unsigned char *s, size_t len, int64_t *interval)
{
    size_t   i, digits;
    int64_t  rate, per;

    per = MG_GCRA_USEC;
    digits = len;

    if (len > 3 && memcmp(s + len - 3, "r/s", 3) == 0) {
        digits = len - 3;

    } else if (len > 3 && memcmp(s + len - 3, "r/m", 3) == 0) {
        per = 60 * (int64_t) MG_GCRA_USEC;
        digits = len - 3;
    }

    if (digits == 0) {
        return -1;
    }

    rate = 0;

    for (i = 0; i < digits; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        rate = rate * 10 + (s[i] - '0');

        /* anything this large is refused below anyway */

        if (rate > per) {
            return -1;
        }
    }

    if (rate == 0) {
        return -1;
    }

    *interval = (per + rate / 2) / rate;

    return 0;
}


static int
mg_gcra_valid(const mg_gcra_limit_t *limit)
{
    return limit->interval >= 1 && limit->interval <= MG_GCRA_MAX_INTERVAL
           && limit->burst >= 0 && limit->burst <= MG_GCRA_MAX_BURST
           && limit->delay >= 0;
}
