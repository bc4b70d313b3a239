
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: W3C traceparent values, see mg_traceparent.h.
 */


#include "mg_traceparent.h"


static int mg_traceparent_field(const unsigned char *s, unsigned char *dst,
    size_t n);


/*
 * HEXDIGLC: a lowercase hex digit's value plus one, 0 for anything else
 * (uppercase is not hex here).
 */
static const unsigned char  mg_traceparent_digits[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
    ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16
};


int
mg_traceparent_parse(const unsigned char *s, size_t len,
    mg_traceparent_t *tp, const char **err)
{
    const char     *e;
    unsigned char   version;

    /*
     * The layout of version 00, which later versions keep as a prefix:
     *
     *     0  2 3                                35 36             52 53 55
     *     vv - tttttttttttttttttttttttttttttttt - pppppppppppppppp - ff
     */

    if (len < 3 || mg_traceparent_field(s, &version, 1) != 0 || s[2] != '-') {
        e = "version is not two lowercase hex digits and '-'";
        goto invalid;
    }

    if (version == 0xff) {
        e = "version ff is forbidden";
        goto invalid;
    }

    if (version == 0x00) {
        if (len != MG_TRACEPARENT_LEN) {
            e = "version 00 is not 55 characters long";
            goto invalid;
        }

    } else {
        if (len < MG_TRACEPARENT_LEN) {
            e = "shorter than 55 characters";
            goto invalid;
        }

        /* a later version may add fields, each after a '-' */

        if (len > MG_TRACEPARENT_LEN && s[MG_TRACEPARENT_LEN] != '-') {
            e = "trace-flags are followed by neither '-' nor the end";
            goto invalid;
        }
    }

    if (mg_traceparent_field(s + 3, tp->trace_id, MG_TRACE_ID_LEN) != 0) {
        e = "trace-id is not 32 lowercase hex digits";
        goto invalid;
    }

    if (s[35] != '-') {
        e = "trace-id is not followed by '-'";
        goto invalid;
    }

    if (mg_traceparent_field(s + 36, tp->parent_id, MG_SPAN_ID_LEN) != 0) {
        e = "parent-id is not 16 lowercase hex digits";
        goto invalid;
    }

    if (s[52] != '-') {
        e = "parent-id is not followed by '-'";
        goto invalid;
    }

    if (mg_traceparent_field(s + 53, &tp->flags, 1) != 0) {
        e = "trace-flags are not two lowercase hex digits";
        goto invalid;
    }

    if (mg_traceparent_zero(tp->trace_id, MG_TRACE_ID_LEN)) {
        e = "trace-id is all zeros";
        goto invalid;
    }

    if (mg_traceparent_zero(tp->parent_id, MG_SPAN_ID_LEN)) {
        e = "parent-id is all zeros";
        goto invalid;
    }

    tp->version = version;

    return 0;

invalid:

    if (err) {
        *err = e;
    }

    return -1;
}


unsigned char *
mg_traceparent_format(unsigned char *p, const unsigned char *trace_id,
    const unsigned char *span_id, unsigned flags)
{
    unsigned char  f;

    f = (unsigned char) flags;

    *p++ = '0';
    *p++ = '0';
    *p++ = '-';
    p = mg_traceparent_hex(p, trace_id, MG_TRACE_ID_LEN);
    *p++ = '-';
    p = mg_traceparent_hex(p, span_id, MG_SPAN_ID_LEN);
    *p++ = '-';

    return mg_traceparent_hex(p, &f, 1);
}


unsigned char *
mg_traceparent_hex(unsigned char *p, const unsigned char *src, size_t n)
{
    unsigned char                c;
    static const unsigned char  digits[] = "0123456789abcdef";

    while (n--) {
        c = *src++;

        p[0] = digits[c >> 4];
        p[1] = digits[c & 0xf];
        p += 2;
    }

    return p;
}


int
mg_traceparent_zero(const unsigned char *id, size_t n)
{
    unsigned char  any;

    any = 0;

    while (n--) {
        any |= *id++;
    }

    return any == 0;
}


/* decodes 2 * n lowercase hex digits into n bytes */

static int
mg_traceparent_field(const unsigned char *s, unsigned char *dst, size_t n)
{
    unsigned  hi, lo, bad;

    bad = 0;

    while (n--) {
        hi = mg_traceparent_digits[*s++];
        lo = mg_traceparent_digits[*s++];

        /* a zero (not a digit) anywhere shows after the loop */

        bad |= (hi - 1) | (lo - 1);

        *dst++ = (unsigned char) ((hi - 1) << 4 | (lo - 1));
    }

    return (bad & ~0xfu) ? -1 : 0;
}
