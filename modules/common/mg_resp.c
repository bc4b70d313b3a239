
/*
 * meshgate: RESP command encoding, see mg_resp.h.
 */


#include "mg_resp.h"


#define MG_RESP_MAX_DIGITS  20      /* 2^64 - 1 has 20 decimal digits */


static size_t mg_resp_digits(size_t n);
static unsigned char *mg_resp_number(unsigned char *dst, unsigned char type,
    size_t n);


size_t
mg_resp_array_size(size_t n)
{
    return 1 + mg_resp_digits(n) + 2;
}


unsigned char *
mg_resp_array(unsigned char *dst, size_t n)
{
    return mg_resp_number(dst, '*', n);
}


size_t
mg_resp_bulk_size(size_t len)
{
    size_t  frame;

    frame = 1 + mg_resp_digits(len) + 2 + 2;

    if (len > (size_t) -1 - frame) {
        return 0;
    }

    return frame + len;
}


unsigned char *
mg_resp_bulk(unsigned char *dst, const unsigned char *data, size_t len)
{
    dst = mg_resp_number(dst, '$', len);

    /* memcpy() with a NULL source is undefined even for no bytes */

    if (len) {
        memcpy(dst, data, len);
        dst += len;
    }

    *dst++ = '\r';
    *dst++ = '\n';

    return dst;
}


size_t
mg_resp_command_size(size_t argc, const mg_str_t *argv)
{
    size_t  i, size, n;

    size = mg_resp_array_size(argc);

    for (i = 0; i < argc; i++) {
        n = mg_resp_bulk_size(argv[i].len);

        if (n == 0 || size > (size_t) -1 - n) {
            return 0;
        }

        size += n;
    }

    return size;
}


unsigned char *
mg_resp_command(unsigned char *dst, size_t argc, const mg_str_t *argv)
{
    size_t  i;

    dst = mg_resp_array(dst, argc);

    for (i = 0; i < argc; i++) {
        dst = mg_resp_bulk(dst, argv[i].data, argv[i].len);
    }

    return dst;
}


static size_t
mg_resp_digits(size_t n)
{
    size_t  d;

    d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }

    return d;
}


static unsigned char *
mg_resp_number(unsigned char *dst, unsigned char type, size_t n)
{
    size_t         len;
    unsigned char  digits[MG_RESP_MAX_DIGITS], *p;

    /* the digits come out least significant first, from the end */

    p = digits + MG_RESP_MAX_DIGITS;

    do {
        *--p = (unsigned char) ('0' + n % 10);
        n /= 10;
    } while (n);

    len = digits + MG_RESP_MAX_DIGITS - p;

    *dst++ = type;
    memcpy(dst, p, len);
    dst += len;
    *dst++ = '\r';
    *dst++ = '\n';

    return dst;
}
