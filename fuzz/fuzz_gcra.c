
/*
 * meshgate: libFuzzer harness for mg_gcra.c.
 *
 * limit_redis trusts no store: the backlogs in a Redis script's reply
 * arrive from the network and go straight into mg_gcra_decide().  The
 * input is read as a rate to parse, then as up to 8 zones (limits, some
 * out of bounds, and backlogs of any 64-bit value); whatever is accepted
 * must satisfy the invariants of mg_gcra.h, with UBSan watching every
 * product and sum.
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


static void
fuzz_rate(const uint8_t *data, size_t size)
{
    int64_t  t;

    if (mg_gcra_parse_rate(data, size, &t) == 0) {
        fuzz_assert(t >= 1 && t <= MG_GCRA_MAX_INTERVAL);
        fuzz_assert(size > 0 && data[0] >= '0' && data[0] <= '9');
    }
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
