
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: strict base64url, see mg_base64url.h.
 */


#include "mg_base64url.h"


static const unsigned char  mg_base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


/*
 * 77 marks bytes outside the alphabet; like every value of 64 or more it
 * survives OR-ing a group of values together, so a group is checked once.
 * '+', '/', '=' and white space are all outside.
 */

static const unsigned char  mg_base64url_values[256] = {
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 62, 77, 77,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 77, 77, 77, 77, 77, 77,
    77,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 77, 77, 77, 77, 63,
    77, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77
};


int
mg_base64url_decode(unsigned char *dst, size_t *dst_len,
    const unsigned char *src, size_t len)
{
    unsigned char        *d;
    unsigned char         c0, c1, c2, c3;
    const unsigned char  *v;

    /* a lone character carries only 6 bits, not a whole byte */

    if (len % 4 == 1) {
        return -1;
    }

    v = mg_base64url_values;
    d = dst;

    while (len >= 4) {
        c0 = v[src[0]];
        c1 = v[src[1]];
        c2 = v[src[2]];
        c3 = v[src[3]];

        if ((c0 | c1 | c2 | c3) >= 64) {
            return -1;
        }

        *d++ = (unsigned char) (c0 << 2 | c1 >> 4);
        *d++ = (unsigned char) (c1 << 4 | c2 >> 2);
        *d++ = (unsigned char) (c2 << 6 | c3);

        src += 4;
        len -= 4;
    }

    /*
     * Without padding, the last 2 or 3 characters carry 1 or 2 bytes and
     * 4 or 2 bits more; those bits must be zero, or the same bytes would
     * have several encodings and a token could be altered without
     * touching what the signature covers.
     */

    if (len == 2) {
        c0 = v[src[0]];
        c1 = v[src[1]];

        if ((c0 | c1) >= 64 || (c1 & 0x0f)) {
            return -1;
        }

        *d++ = (unsigned char) (c0 << 2 | c1 >> 4);

    } else if (len == 3) {
        c0 = v[src[0]];
        c1 = v[src[1]];
        c2 = v[src[2]];

        if ((c0 | c1 | c2) >= 64 || (c2 & 0x03)) {
            return -1;
        }

        *d++ = (unsigned char) (c0 << 2 | c1 >> 4);
        *d++ = (unsigned char) (c1 << 4 | c2 >> 2);
    }

    *dst_len = d - dst;

    return 0;
}


size_t
mg_base64url_encode(unsigned char *dst, const unsigned char *src, size_t len)
{
    unsigned char        *d;
    const unsigned char  *b;

    b = mg_base64url_alphabet;
    d = dst;

    while (len >= 3) {
        *d++ = b[src[0] >> 2];
        *d++ = b[(src[0] & 0x03) << 4 | src[1] >> 4];
        *d++ = b[(src[1] & 0x0f) << 2 | src[2] >> 6];
        *d++ = b[src[2] & 0x3f];

        src += 3;
        len -= 3;
    }

    if (len == 1) {
        *d++ = b[src[0] >> 2];
        *d++ = b[(src[0] & 0x03) << 4];

    } else if (len == 2) {
        *d++ = b[src[0] >> 2];
        *d++ = b[(src[0] & 0x03) << 4 | src[1] >> 4];
        *d++ = b[(src[1] & 0x0f) << 2];
    }

    return d - dst;
}
