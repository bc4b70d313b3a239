
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_traceparent.c.
 *
 * Every request's traceparent header reaches mg_traceparent_parse() as
 * the client sent it.  Whatever is accepted must have the shape of
 * mg_traceparent.h, and the value nginx sends on, written by
 * mg_traceparent_format() from what was read, must repeat the input's
 * ids and flags and parse again.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_traceparent.h"

#include "fuzz.h"


static int
fuzz_lowhex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t             i;
    unsigned char     *copy, out[MG_TRACEPARENT_LEN];
    const char        *err;
    mg_traceparent_t   tp, again;

    /* an exact-size copy, so that ASan sees any read past the end */

    copy = fuzz_malloc(size ? size : 1);
    memcpy(copy, data, size);

    err = NULL;

    if (mg_traceparent_parse(copy, size, &tp, &err) != 0) {
        fuzz_assert(err != NULL && err[0] != '\0');
        free(copy);
        return 0;
    }

    fuzz_assert(size >= MG_TRACEPARENT_LEN);
    fuzz_assert(tp.version != 0xff);
    fuzz_assert(tp.version != 0x00 || size == MG_TRACEPARENT_LEN);
    fuzz_assert(size == MG_TRACEPARENT_LEN || copy[MG_TRACEPARENT_LEN] == '-');
    fuzz_assert(!mg_traceparent_zero(tp.trace_id, MG_TRACE_ID_LEN));
    fuzz_assert(!mg_traceparent_zero(tp.parent_id, MG_SPAN_ID_LEN));

    for (i = 0; i < MG_TRACEPARENT_LEN; i++) {
        if (i == 2 || i == 35 || i == 52) {
            fuzz_assert(copy[i] == '-');

        } else {
            fuzz_assert(fuzz_lowhex(copy[i]));
        }
    }

    /* written back as version 00: the same text but for the version */

    mg_traceparent_format(out, tp.trace_id, tp.parent_id, tp.flags);

    fuzz_assert(out[0] == '0' && out[1] == '0');
    fuzz_assert(memcmp(out + 2, copy + 2, MG_TRACEPARENT_LEN - 2) == 0);

    fuzz_assert(mg_traceparent_parse(out, sizeof(out), &again, NULL) == 0);
    fuzz_assert(again.version == 0 && again.flags == tp.flags);
    fuzz_assert(memcmp(again.trace_id, tp.trace_id, MG_TRACE_ID_LEN) == 0);
    fuzz_assert(memcmp(again.parent_id, tp.parent_id, MG_SPAN_ID_LEN) == 0);

    free(copy);

    return 0;
}
