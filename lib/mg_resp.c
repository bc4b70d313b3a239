
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: RESP command encoding and reply framing, see mg_resp.h.
 */


#include "mg_resp.h"


#define MG_RESP_MAX_DIGITS    20    /* 2^64 - 1 has 20 decimal digits */

/* what hiredis reads: createArray() takes an int, bulk strings 512 MB */
#define MG_RESP_MAX_ELEMENTS  0x7fffffff
#define MG_RESP_MAX_BULK      (512 * 1024 * 1024)

/* integers are long long: down to -2^63, up to 2^63 - 1 */
#define MG_RESP_MAX_NEGATIVE  ((uint64_t) 1 << 63)
#define MG_RESP_MAX_POSITIVE  (((uint64_t) 1 << 63) - 1)


/* where mg_resp_read() is in a reply */
enum {
    MG_RESP_STATE_TYPE = 0,     /* an element's type byte */
    MG_RESP_STATE_LINE,         /* a simple string or error, up to CR */
    MG_RESP_STATE_SIGN,         /* a number's first byte */
    MG_RESP_STATE_MINUS,        /* after "-" */
    MG_RESP_STATE_ZERO,         /* after "0": the number ends */
    MG_RESP_STATE_DIGITS,
    MG_RESP_STATE_LF,           /* after the CR that ends a line */
    MG_RESP_STATE_BULK,         /* a bulk string's bytes */
    MG_RESP_STATE_BULK_CR,
    MG_RESP_STATE_BULK_LF,
    MG_RESP_STATE_FAILED
};


static size_t mg_resp_digits(size_t n);
static unsigned char *mg_resp_number(unsigned char *dst, unsigned char type,
    size_t n);
static int mg_resp_line(mg_resp_reader_t *rd);
static int mg_resp_element(mg_resp_reader_t *rd);
static int mg_resp_fail(mg_resp_reader_t *rd, const char *error);
static int mg_resp_over(mg_resp_reader_t *rd, const char *error,
    uint64_t value, uint64_t max);


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


void
mg_resp_reader_init(mg_resp_reader_t *rd, const mg_resp_limits_t *limits)
{
    memset(rd, 0, sizeof(mg_resp_reader_t));

    /*
     * set by memset():
     *
     *     rd->size = 0;
     *     rd->depth = 0;
     *     rd->state = MG_RESP_STATE_TYPE;
     *     rd->error = NULL;
     */

    rd->limits = *limits;

    if (rd->limits.depth > MG_RESP_MAX_DEPTH) {
        rd->limits.depth = MG_RESP_MAX_DEPTH;
    }

    if (rd->limits.elements > MG_RESP_MAX_ELEMENTS) {
        rd->limits.elements = MG_RESP_MAX_ELEMENTS;
    }
}


int
mg_resp_read(mg_resp_reader_t *rd, const unsigned char *buf, size_t len,
    size_t *used)
{
    int            rc;
    size_t         i, n;
    unsigned       d;
    uint64_t       max;
    unsigned char  c;

    i = 0;
    rc = MG_RESP_AGAIN;

    if (rd->state == MG_RESP_STATE_FAILED) {
        rc = MG_RESP_ERROR;
        goto done;
    }

    while (i < len) {

        if (rd->state == MG_RESP_STATE_BULK) {

            /* its length was checked against the bounds: skipped whole */

            n = len - i;

            if (n > rd->skip) {
                n = (size_t) rd->skip;
            }

            i += n;
            rd->size += n;
            rd->skip -= n;

            if (rd->skip == 0) {
                rd->state = MG_RESP_STATE_BULK_CR;
            }

            continue;
        }

        /* lines have no length of their own: every byte counts */

        if (rd->size >= rd->limits.size) {
            rc = mg_resp_over(rd, "reply too long", (uint64_t) rd->size + 1,
                              rd->limits.size);
            break;
        }

        c = buf[i++];
        rd->size++;

        switch (rd->state) {

        case MG_RESP_STATE_TYPE:

            rd->type = c;
            rd->negative = 0;
            rd->number = 0;

            switch (c) {

            case '+':
            case '-':
                rd->state = MG_RESP_STATE_LINE;
                break;

            case '*':

                /* checked before the count: an empty array nests too */

                if (rd->depth >= rd->limits.depth) {
                    rc = mg_resp_over(rd, "arrays nested too deep",
                                      rd->depth + 1, rd->limits.depth);
                    goto done;
                }

                /* fall through */

            case ':':
            case '$':
                rd->state = MG_RESP_STATE_SIGN;
                break;

            default:
                rc = mg_resp_fail(rd, "unknown reply type");
                goto done;
            }

            break;

        case MG_RESP_STATE_LINE:

            /* Redis never puts CR or LF into a status or an error */

            if (c == '\r') {
                rd->state = MG_RESP_STATE_LF;

            } else if (c == '\n') {
                rc = mg_resp_fail(rd, "LF in a simple string");
                goto done;
            }

            break;

        case MG_RESP_STATE_SIGN:

            /* numbers as Redis writes them: no "+", "-0" or leading 0 */

            if (c == '-') {
                rd->negative = 1;
                rd->state = MG_RESP_STATE_MINUS;

            } else if (c == '0') {
                rd->state = MG_RESP_STATE_ZERO;

            } else if (c >= '1' && c <= '9') {
                rd->number = c - '0';
                rd->state = MG_RESP_STATE_DIGITS;

            } else {
                rc = mg_resp_fail(rd, "bad number");
                goto done;
            }

            break;

        case MG_RESP_STATE_MINUS:

            if (c < '1' || c > '9') {
                rc = mg_resp_fail(rd, "bad number");
                goto done;
            }

            rd->number = c - '0';
            rd->state = MG_RESP_STATE_DIGITS;
            break;

        case MG_RESP_STATE_ZERO:

            if (c != '\r') {
                rc = mg_resp_fail(rd, "bad number");
                goto done;
            }

            rd->state = MG_RESP_STATE_LF;
            break;

        case MG_RESP_STATE_DIGITS:

            if (c == '\r') {
                rd->state = MG_RESP_STATE_LF;
                break;
            }

            if (c < '0' || c > '9') {
                rc = mg_resp_fail(rd, "bad number");
                goto done;
            }

            d = c - '0';
            max = rd->negative ? MG_RESP_MAX_NEGATIVE : MG_RESP_MAX_POSITIVE;

            if (rd->number > (max - d) / 10) {
                rc = mg_resp_fail(rd, "number out of range");
                goto done;
            }

            rd->number = rd->number * 10 + d;
            break;

        case MG_RESP_STATE_LF:

            if (c != '\n') {
                rc = mg_resp_fail(rd, "CR without LF");
                goto done;
            }

            rc = mg_resp_line(rd);

            if (rc != MG_RESP_AGAIN) {
                goto done;
            }

            break;

        case MG_RESP_STATE_BULK_CR:

            if (c != '\r') {
                rc = mg_resp_fail(rd, "bulk string longer than announced");
                goto done;
            }

            rd->state = MG_RESP_STATE_BULK_LF;
            break;

        default: /* MG_RESP_STATE_BULK_LF */

            if (c != '\n') {
                rc = mg_resp_fail(rd, "bulk string longer than announced");
                goto done;
            }

            rc = mg_resp_element(rd);

            if (rc != MG_RESP_AGAIN) {
                goto done;
            }

            break;
        }
    }

done:

    *used = i;

    return rc;
}


/* a line is complete: what it starts, or ends */

static int
mg_resp_line(mg_resp_reader_t *rd)
{
    size_t  left;

    switch (rd->type) {

    case '$':

        if (rd->negative) {
            if (rd->number != 1) {
                return mg_resp_fail(rd, "bad length");
            }

            /* nil */

            return mg_resp_element(rd);
        }

        /* the bytes and their CRLF must fit into what is left */

        left = rd->limits.size - rd->size;

        if (left < 2 || rd->number > left - 2
            || rd->number > MG_RESP_MAX_BULK)
        {
            return mg_resp_over(rd, "bulk string too long", rd->number,
                                left < 2 ? 0
                                : (left - 2 < MG_RESP_MAX_BULK ? left - 2
                                   : MG_RESP_MAX_BULK));
        }

        rd->skip = rd->number;
        rd->state = rd->skip ? MG_RESP_STATE_BULK : MG_RESP_STATE_BULK_CR;

        return MG_RESP_AGAIN;

    case '*':

        if (rd->negative) {
            if (rd->number != 1) {
                return mg_resp_fail(rd, "bad length");
            }

            return mg_resp_element(rd);
        }

        if (rd->number > rd->limits.elements) {
            return mg_resp_over(rd, "too many array elements", rd->number,
                                rd->limits.elements);
        }

        if (rd->number == 0) {
            return mg_resp_element(rd);
        }

        rd->left[rd->depth++] = rd->number;
        rd->state = MG_RESP_STATE_TYPE;

        return MG_RESP_AGAIN;

    default: /* '+', '-', ':' */
        return mg_resp_element(rd);
    }
}


/*
 * An element is complete, and with it every array whose last element it
 * is; the reply is, when no array is left open.
 */

static int
mg_resp_element(mg_resp_reader_t *rd)
{
    while (rd->depth) {
        if (--rd->left[rd->depth - 1]) {
            rd->state = MG_RESP_STATE_TYPE;
            return MG_RESP_AGAIN;
        }

        rd->depth--;
    }

    /* ready for another reply within the same limits */

    rd->size = 0;
    rd->state = MG_RESP_STATE_TYPE;

    return MG_RESP_OK;
}


static int
mg_resp_fail(mg_resp_reader_t *rd, const char *error)
{
    rd->state = MG_RESP_STATE_FAILED;
    rd->error = error;

    return MG_RESP_ERROR;
}


static int
mg_resp_over(mg_resp_reader_t *rd, const char *error, uint64_t value,
    uint64_t max)
{
    rd->bound = 1;
    rd->value = value;
    rd->max = max;

    return mg_resp_fail(rd, error);
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
