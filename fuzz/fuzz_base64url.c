
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_base64url.c.
 *
 * The input is decoded and, when accepted, encoded back: a strict decoder
 * accepts exactly the canonical encodings, so the round trip must give the
 * input again, and whether it accepts must agree with a plain restatement
 * of the rules below.  The input is also encoded and decoded back.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_base64url.h"

#include "fuzz.h"


static const char  fuzz_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static int
fuzz_canonical(const uint8_t *data, size_t size)
{
    size_t       i;
    unsigned     v;
    const char  *c;

    if (size % 4 == 1) {
        return 0;
    }

    v = 0;

    for (i = 0; i < size; i++) {
        c = data[i] ? memchr(fuzz_alphabet, data[i], 64) : NULL;

        if (c == NULL) {
            return 0;
        }

        v = (unsigned) (c - fuzz_alphabet);
    }

    /* the bits of the last character that fall beyond the last byte */

    if (size % 4 == 2) {
        return (v & 0x0f) == 0;
    }

    if (size % 4 == 3) {
        return (v & 0x03) == 0;
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc;
    size_t          n, m;
    unsigned char  *dec, *enc;

    /*
     * Buffers are exactly as long as the output may be, so that ASan sees
     * a write past it.  mg_jwt_parse() counts on the decoder never writing
     * more than 3 * len / 4 bytes, even for input that it rejects.
     */

    dec = fuzz_malloc(size * 3 / 4);

    rc = mg_base64url_decode(dec, &n, data, size);

    fuzz_assert((rc == 0) == fuzz_canonical(data, size));

    if (rc == 0) {
        fuzz_assert(n == size * 3 / 4);

        enc = fuzz_malloc(size);
        m = mg_base64url_encode(enc, dec, n);

        fuzz_assert(m == size && memcmp(enc, data, size) == 0);

        free(enc);
    }

    free(dec);

    n = (size * 4 + 2) / 3;

    fuzz_assert(n <= mg_base64url_encoded_size(size));

    enc = fuzz_malloc(n);
    dec = fuzz_malloc(size);

    fuzz_assert(mg_base64url_encode(enc, data, size) == n);
    fuzz_assert(mg_base64url_decode(dec, &m, enc, n) == 0);
    fuzz_assert(m == size && memcmp(dec, data, size) == 0);

    free(dec);
    free(enc);

    return 0;
}
