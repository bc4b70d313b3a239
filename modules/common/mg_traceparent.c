
/*
 * meshgate: W3C traceparent values, see mg_traceparent.h.
 */


#include "mg_traceparent.h"


static int mg_traceparent_digit(unsigned char c);
static int mg_traceparent_field(const unsigned char *s, unsigned char *dst,
    size_t n);


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
    static const char  digits[] = "0123456789abcdef";

    while (n--) {
        *p++ = digits[*src >> 4];
        *p++ = digits[*src++ & 0xf];
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


static int
mg_traceparent_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    /* HEXDIGLC: uppercase is not hex here */

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* decodes 2 * n lowercase hex digits into n bytes */

static int
mg_traceparent_field(const unsigned char *s, unsigned char *dst, size_t n)
{
    int  hi, lo;

    while (n--) {
        hi = mg_traceparent_digit(*s++);
        lo = mg_traceparent_digit(*s++);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        *dst++ = (unsigned char) (hi << 4 | lo);
    }

    return 0;
}
