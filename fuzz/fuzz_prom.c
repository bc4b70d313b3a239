
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_prom.c.
 *
 * The metrics module escapes label values that come from requests (routes
 * built from variables, upstream names): whatever the bytes, the output
 * must stay within MG_PROM_ESCAPED_LEN, be valid UTF-8 (checked here by
 * decoding code points, independently of mg_prom.c's table) with every
 * backslash, quote and line feed escaped, and give UTF-8 input back when
 * unescaped.  The input is also parsed as seconds; what parses must format
 * and parse back to the same milliseconds.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_prom.h"

#include "fuzz.h"


static size_t
fuzz_utf8(const uint8_t *p, size_t len)
{
    size_t    n, i;
    uint32_t  cp, min;

    if (p[0] < 0x80) {
        return 1;
    }

    if ((p[0] & 0xe0) == 0xc0) {
        n = 2;
        cp = p[0] & 0x1f;
        min = 0x80;

    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = p[0] & 0x0f;
        min = 0x800;

    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4;
        cp = p[0] & 0x07;
        min = 0x10000;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return n;
}


static int
fuzz_is_utf8(const uint8_t *p, size_t len)
{
    size_t  n;

    while (len) {
        n = fuzz_utf8(p, len);

        if (n == 0) {
            return 0;
        }

        p += n;
        len -= n;
    }

    return 1;
}


static void
fuzz_escape(const uint8_t *data, size_t size)
{
    size_t    n, i, m;
    uint8_t  *out, *back;

    /* one byte more, to see that nothing is written past the length */
    out = fuzz_malloc(MG_PROM_ESCAPED_LEN(size) + 1);
    back = fuzz_malloc(MG_PROM_ESCAPED_LEN(size) + 1);

    out[MG_PROM_ESCAPED_LEN(size)] = 0xa5;

    n = mg_prom_escape(out, data, size);

    fuzz_assert(n <= MG_PROM_ESCAPED_LEN(size));
    fuzz_assert(out[MG_PROM_ESCAPED_LEN(size)] == 0xa5);
    fuzz_assert(fuzz_is_utf8(out, n));

    m = 0;

    for (i = 0; i < n; i++) {
        fuzz_assert(out[i] != '\n' && out[i] != '"');

        if (out[i] == '\\') {
            fuzz_assert(i + 1 < n);
            i++;
            fuzz_assert(out[i] == '\\' || out[i] == '"' || out[i] == 'n');
            back[m++] = (out[i] == 'n') ? '\n' : out[i];
            continue;
        }

        back[m++] = out[i];
    }

    if (fuzz_is_utf8(data, size)) {
        fuzz_assert(m == size && memcmp(back, data, size) == 0);
    }

    free(out);
    free(back);
}


static void
fuzz_seconds(const uint8_t *data, size_t size)
{
    size_t    n;
    uint64_t  ms, back;
    uint8_t   buf[MG_PROM_SECONDS_LEN];

    if (mg_prom_parse_seconds(data, size, &ms) != 0) {
        return;
    }

    fuzz_assert(ms <= (uint64_t) MG_PROM_MAX_SECONDS * 1000);

    n = mg_prom_format_seconds(buf, ms);

    fuzz_assert(n > 0 && n <= MG_PROM_SECONDS_LEN);
    fuzz_assert(mg_prom_parse_seconds(buf, n, &back) == 0 && back == ms);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t  ms;
    size_t    n;
    uint8_t   buf[MG_PROM_SECONDS_LEN];

    fuzz_escape(data, size);
    fuzz_seconds(data, size);

    /* any 8 bytes as milliseconds: formatted within bounds */

    if (size >= 8) {
        memcpy(&ms, data, 8);
        n = mg_prom_format_seconds(buf, ms);
        fuzz_assert(n > 0 && n <= MG_PROM_SECONDS_LEN);
    }

    return 0;
}
