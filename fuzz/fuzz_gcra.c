
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_gcra.c.
 *
 * limit_redis trusts no store: a Redis script's reply arrives from the
 * network, goes through mg_gcra_read_reply() and its backlogs into
 * mg_gcra_decide().  The input is read as a rate to parse, then as up to
 * 8 zones (limits, some out of bounds, and backlogs of any 64-bit value),
 * then as a reply for them: each element's type, the request's place in
 * its run and the run's length, and the count, the zones' backlogs being
 * the other elements.  Whatever is accepted must satisfy the invariants of
 * mg_gcra.h, with UBSan watching every product and sum.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_gcra.h"

#include "fuzz.h"


static int64_t
fuzz_int64(const uint8_t **data, size_t *size)
{
    uint64_t  v;

    v = 0;

    if (*size >= 8) {
        memcpy(&v, *data, 8);
        *data += 8;
        *size -= 8;
    }

    return (int64_t) v;
}


/* mostly valid values, so that the checks after the bounds get reached */

static int64_t
fuzz_bounded(const uint8_t **data, size_t *size, int64_t max)
{
    int64_t  v;

    v = fuzz_int64(data, size);

    if ((v & 0xff) == 0xff) {
        return v >> 8;
    }

    return (int64_t) ((uint64_t) v % (uint64_t) (max + 1));
}


static uint8_t
fuzz_byte(const uint8_t **data, size_t *size)
{
    uint8_t  v;

    v = 0;

    if (*size >= 1) {
        v = **data;
        (*data)++;
        (*size)--;
    }

    return v;
}


static void
fuzz_rate(const uint8_t *data, size_t size)
{
    int64_t  t;

    if (mg_gcra_parse_rate(data, size, &t) == 0) {
        fuzz_assert(t >= 1 && t <= MG_GCRA_MAX_INTERVAL);
        fuzz_assert(size > 0 && data[0] >= '0' && data[0] <= '9');
    }
}


/*
 * The reply of a run of m requests with n zones, read for its q-th
 * request: whatever mg_gcra_read_reply() accepts agrees with the script
 * and with mg_gcra_decide(), and whatever it refuses has a reason to be.
 */

static void
fuzz_reply(const mg_gcra_zone_t *in, size_t n, const uint8_t *data,
    size_t size)
{
    int                     rc, valid;
    size_t                  i, q, m;
    int64_t                 charged;
    uint32_t                types;
    mg_gcra_zone_t          zones[8], check[8];
    mg_gcra_element_t       element[9];
    mg_gcra_decision_t      d, d2;
    const mg_gcra_limit_t  *l;

    /* two bits an element: mostly integers, then errors and others */

    types = fuzz_byte(&data, &size);
    types |= (uint32_t) fuzz_byte(&data, &size) << 8;
    types |= (uint32_t) fuzz_byte(&data, &size) << 16;

    q = fuzz_byte(&data, &size);
    m = fuzz_byte(&data, &size);

    /* a run has at most 128 requests; the byte 0xff tries far more */

    if (m == 0xff) {
        m = (size_t) -1;
    }

    element[0].integer = fuzz_bounded(&data, &size, 130);

    for (i = 0; i < n; i++) {
        zones[i] = in[i];
        zones[i].backlog = -1;
        element[i + 1].integer = in[i].backlog;
    }

    valid = 1;

    for (i = 0; i <= n; i++) {
        switch ((types >> (2 * i)) & 3) {

        case 2:
            element[i].type = MG_GCRA_ELEMENT_ERROR;
            valid = 0;
            break;

        case 3:
            element[i].type = MG_GCRA_ELEMENT_OTHER;
            valid = 0;
            break;

        default:
            element[i].type = MG_GCRA_ELEMENT_INTEGER;

            if (element[i].integer < 0
                || element[i].integer > MG_GCRA_MAX_BACKLOG)
            {
                valid = 0;
            }
        }
    }

    if (valid && (uint64_t) element[0].integer > m) {
        valid = 0;
    }

    rc = mg_gcra_read_reply(element, n, q, m, zones, &d);

    fuzz_assert(rc == MG_GCRA_REPLY_OK || rc == MG_GCRA_REPLY_ERROR
                || rc == MG_GCRA_REPLY_UNEXPECTED
                || rc == MG_GCRA_REPLY_DISAGREES);

    /* Redis's error for the run wins over whatever else is wrong */

    fuzz_assert((rc == MG_GCRA_REPLY_ERROR)
                == (element[0].type == MG_GCRA_ELEMENT_ERROR));

    if (rc == MG_GCRA_REPLY_ERROR) {
        return;
    }

    charged = ((uint64_t) element[0].integer < q) ? element[0].integer
                                                  : (int64_t) q;

    if (rc == MG_GCRA_REPLY_UNEXPECTED) {

        /*
         * A reply as expected is refused only for no zones, a limit out
         * of bounds, or a backlog that the requests before this one would
         * push over MG_GCRA_MAX_BACKLOG.
         */

        if (!valid || n == 0) {
            return;
        }

        for (i = 0; i < n; i++) {
            l = in[i].limit;

            if (l->interval < 1 || l->interval > MG_GCRA_MAX_INTERVAL
                || l->burst < 0 || l->burst > MG_GCRA_MAX_BURST
                || l->delay < 0
                || charged > (MG_GCRA_MAX_BACKLOG - element[i + 1].integer)
                             / l->interval)
            {
                return;
            }
        }

        fuzz_assert(0);
    }

    /* decided: the reply was as expected, and so are the backlogs */

    fuzz_assert(valid && n > 0);

    for (i = 0; i < n; i++) {
        fuzz_assert(zones[i].backlog
                    == element[i + 1].integer
                       + charged * zones[i].limit->interval);

        check[i] = zones[i];
    }

    /* the same decision as mg_gcra_decide() makes of the same zones */

    fuzz_assert(mg_gcra_decide(check, n, &d2) == 0);
    fuzz_assert(d.outcome == d2.outcome && d.delay == d2.delay
                && d.retry == d2.retry && d.binding == d2.binding);

    /* the script charged the run's first requests, this one or not */

    fuzz_assert((rc == MG_GCRA_REPLY_OK)
                == (((uint64_t) element[0].integer > q)
                    == (d.outcome != MG_GCRA_REJECTED)));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t              i, n, len;
    int64_t             a, b, min, product;
    mg_gcra_zone_t      zones[8], *z;
    mg_gcra_limit_t     limits[8], *l;
    mg_gcra_decision_t  d;

    if (size == 0) {
        return 0;
    }

    /* the first byte: how much of the rest is a rate */

    len = data[0] % 32;
    data++;
    size--;

    if (len > size) {
        len = size;
    }

    fuzz_rate(data, len);

    data += len;
    size -= len;

    a = fuzz_int64(&data, &size);
    b = fuzz_int64(&data, &size);

    min = mg_gcra_backlog(a, b);
    fuzz_assert(min >= 0 && min <= MG_GCRA_MAX_BACKLOG);
    fuzz_assert(a <= b ? min == 0 : min > 0);

    fuzz_assert(mg_gcra_seconds(a) >= 0);

    n = 0;

    while (n < 8 && size >= 32) {
        l = &limits[n];
        z = &zones[n];

        l->interval = fuzz_bounded(&data, &size, MG_GCRA_MAX_INTERVAL);
        l->burst = fuzz_bounded(&data, &size, MG_GCRA_MAX_BURST);
        l->delay = fuzz_bounded(&data, &size, MG_GCRA_NODELAY);

        z->limit = l;
        z->backlog = fuzz_bounded(&data, &size, MG_GCRA_MAX_BACKLOG);

        n++;
    }

    fuzz_reply(zones, n, data, size);

    if (mg_gcra_decide(zones, n, &d) != 0) {
        return 0;
    }

    fuzz_assert(n > 0 && d.binding < n);
    fuzz_assert(d.delay >= 0 && d.retry >= 0);
    fuzz_assert(d.outcome == MG_GCRA_PASSED || d.outcome == MG_GCRA_DELAYED
                || d.outcome == MG_GCRA_REJECTED);
    fuzz_assert((d.outcome == MG_GCRA_DELAYED) == (d.delay > 0));
    fuzz_assert((d.outcome == MG_GCRA_REJECTED) == (d.retry > 0));

    min = zones[d.binding].remaining;

    for (i = 0; i < n; i++) {
        z = &zones[i];
        l = &limits[i];
        product = l->burst * l->interval;

        fuzz_assert(l->interval >= 1 && l->interval <= MG_GCRA_MAX_INTERVAL);
        fuzz_assert(z->fits == (z->backlog <= product));
        fuzz_assert(z->fits || d.outcome == MG_GCRA_REJECTED);
        fuzz_assert(z->fits ? z->retry == 0
                            : z->retry == z->backlog - product);
        fuzz_assert(z->retry <= d.retry && z->delay <= d.delay);
        fuzz_assert(z->remaining >= 0 && z->remaining >= min);
        fuzz_assert(z->remaining <= l->burst + 1);
        fuzz_assert(z->delay >= 0 && z->delay <= z->after);
        fuzz_assert(!z->fits || z->remaining >= 1
                    || d.outcome != MG_GCRA_REJECTED);

        if (d.outcome == MG_GCRA_REJECTED) {
            fuzz_assert(z->after == z->backlog && z->delay == 0);

        } else {
            fuzz_assert(z->after == z->backlog + l->interval);
            fuzz_assert(z->remaining <= l->burst);
        }

        fuzz_assert(mg_gcra_seconds(z->after) >= 0);
    }

    return 0;
}
