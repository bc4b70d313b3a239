
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: Prometheus text format pieces, see mg_prom.h.
 */


#include "mg_prom.h"


static size_t mg_prom_utf8_len(const unsigned char *p, size_t len);


size_t
mg_prom_escape(unsigned char *dst, const unsigned char *src, size_t len)
{
    size_t          n;
    unsigned char  *d;

    d = dst;

    while (len) {

        switch (*src) {

        case '\\':
        case '"':
            *d++ = '\\';
            *d++ = *src++;
            len--;
            continue;

        case '\n':
            *d++ = '\\';
            *d++ = 'n';
            src++;
            len--;
            continue;
        }

        if (*src < 0x80) {
            *d++ = *src++;
            len--;
            continue;
        }

        n = mg_prom_utf8_len(src, len);

        if (n == 0) {
            /* U+FFFD REPLACEMENT CHARACTER for the byte */
            *d++ = 0xef;
            *d++ = 0xbf;
            *d++ = 0xbd;
            src++;
            len--;
            continue;
        }

        memcpy(d, src, n);
        d += n;
        src += n;
        len -= n;
    }

    return d - dst;
}


/*
 * The length of the well-formed UTF-8 sequence at p (its first byte is
 * 0x80 or more), or 0 if there is none: the table of well-formed byte
 * sequences of the Unicode standard (section 3.9).
 */

static size_t
mg_prom_utf8_len(const unsigned char *p, size_t len)
{
    size_t         n, i;
    unsigned char  lo, hi;

    lo = 0x80;
    hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;

        if (p[0] == 0xe0) {
            lo = 0xa0;              /* overlong */

        } else if (p[0] == 0xed) {
            hi = 0x9f;              /* surrogates */
        }

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;

        if (p[0] == 0xf0) {
            lo = 0x90;              /* overlong */

        } else if (p[0] == 0xf4) {
            hi = 0x8f;              /* above U+10FFFF */
        }

    } else {
        return 0;
    }

    if (len < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


int
mg_prom_parse_seconds(const unsigned char *s, size_t len, uint64_t *ms)
{
    size_t               i, frac;
    uint64_t             sec, part;
    unsigned             digits;
    const unsigned char  *p, *last;

    p = s;
    last = s + len;

    sec = 0;
    digits = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        sec = sec * 10 + (*p++ - '0');
        digits++;

        if (sec > MG_PROM_MAX_SECONDS) {
            return -1;
        }
    }

    part = 0;
    frac = 0;

    if (p < last && *p == '.') {
        p++;

        for (i = 0; p < last && *p >= '0' && *p <= '9'; i++, p++) {
            digits++;

            if (i < 3) {
                part = part * 10 + (*p - '0');
                frac++;

            } else if (*p != '0') {
                return -1;          /* finer than a millisecond */
            }
        }
    }

    if (p != last || digits == 0) {
        return -1;
    }

    while (frac < 3) {
        part *= 10;
        frac++;
    }

    if (sec == MG_PROM_MAX_SECONDS && part) {
        return -1;
    }

    *ms = sec * 1000 + part;

    return 0;
}


size_t
mg_prom_format_seconds(unsigned char *dst, uint64_t ms)
{
    size_t          n;
    uint64_t        sec;
    unsigned        frac;
    unsigned char   tmp[MG_PROM_SECONDS_LEN], *d;

    sec = ms / 1000;
    frac = (unsigned) (ms % 1000);

    n = 0;

    do {
        tmp[n++] = (unsigned char) ('0' + sec % 10);
        sec /= 10;
    } while (sec);

    d = dst;

    while (n) {
        *d++ = tmp[--n];
    }

    if (frac) {
        *d++ = '.';
        *d++ = (unsigned char) ('0' + frac / 100);

        if (frac % 100) {
            *d++ = (unsigned char) ('0' + frac / 10 % 10);

            if (frac % 10) {
                *d++ = (unsigned char) ('0' + frac % 10);
            }
        }
    }

    return d - dst;
}
