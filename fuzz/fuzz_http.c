
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_http.c, the reader of the responses
 * to health checks.
 *
 * 1. The input (after its first byte, which picks how the bytes arrive)
 *    is read as a response head at once and then in pieces, as recv()
 *    would cut it: both readings must agree, and what is reported must
 *    lie inside the head (fields, their values without line ends or NUL
 *    bytes, names made of token characters).
 *
 * 2. The same bytes (the body, when a head was read) are decoded as a
 *    chunked body at once into a large buffer and then in pieces into a
 *    small one: the small output must be the start of the large one, and
 *    the decoder must stop only at the end of the input, at the end of
 *    the body, when the output is full, or on an error.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_http.h"

#include "fuzz.h"


#define FUZZ_HEADERS   32
#define FUZZ_BODY      (64 * 1024)


static unsigned char  fuzz_body[FUZZ_BODY];
static unsigned char  fuzz_small[FUZZ_BODY];


static int
fuzz_head(const uint8_t *data, size_t size, size_t piece,
    mg_http_response_t *r, mg_http_header_t *headers)
{
    int     rc;
    size_t  n;

    mg_http_response_init(r, headers, FUZZ_HEADERS);

    rc = MG_HTTP_AGAIN;

    for (n = 0; rc == MG_HTTP_AGAIN && n < size; /* void */) {
        n = (size - n < piece) ? size : n + piece;
        rc = mg_http_parse_response(r, data, n);
    }

    if (size == 0) {
        rc = mg_http_parse_response(r, data, 0);
    }

    return rc;
}


static void
fuzz_check_head(const uint8_t *data, mg_http_response_t *r)
{
    size_t                   i, j;
    const mg_http_header_t  *h;

    fuzz_assert(r->status >= 200 && r->status <= 999 && r->status != 101);
    fuzz_assert(r->version == 10 || r->version == 11);
    fuzz_assert(r->nheaders <= FUZZ_HEADERS);
    fuzz_assert(r->head_len >= 12 + 2);

    for (i = 0; i < r->nheaders; i++) {
        h = &r->headers[i];

        fuzz_assert(h->name.len > 0);
        fuzz_assert(h->name.data >= data);
        fuzz_assert(h->name.data + h->name.len < data + r->head_len);
        fuzz_assert(h->value.data >= data);
        fuzz_assert(h->value.data + h->value.len <= data + r->head_len);

        for (j = 0; j < h->name.len; j++) {
            fuzz_assert(h->name.data[j] > 0x20 && h->name.data[j] < 0x7f
                        && h->name.data[j] != ':');
        }

        for (j = 0; j < h->value.len; j++) {
            fuzz_assert(h->value.data[j] != '\r' && h->value.data[j] != '\n'
                        && h->value.data[j] != '\0');
        }

        if (h->value.len) {
            fuzz_assert(h->value.data[0] != ' ' && h->value.data[0] != '\t');
            fuzz_assert(h->value.data[h->value.len - 1] != ' '
                        && h->value.data[h->value.len - 1] != '\t');
        }

        /* the lookup finds every field by its own name */

        j = 0;
        fuzz_assert(mg_http_find_header(r, h->name.data, h->name.len, &j)
                    != NULL);
        fuzz_assert(j <= i + 1);
    }

    fuzz_assert(!(r->chunked && r->has_length));
}


static void
fuzz_chunked(const uint8_t *data, size_t size, size_t piece)
{
    int                   rc, rc2;
    size_t                len, small_len, small_size, n;
    mg_http_chunked_t     ch;
    const unsigned char  *p, *end;

    mg_http_chunked_init(&ch);

    len = 0;
    p = data;

    rc = mg_http_parse_chunked(&ch, &p, data + size, fuzz_body, &len,
                               FUZZ_BODY);

    fuzz_assert(p >= data && p <= data + size);
    fuzz_assert(len <= size);

    if (rc == MG_HTTP_AGAIN && len < FUZZ_BODY) {
        fuzz_assert(p == data + size);
    }

    if (rc == MG_HTTP_ERROR) {
        fuzz_assert(ch.error != NULL);
    }

    /* again, in pieces, into an output that may fill up */

    small_size = piece * 7 % 301;

    mg_http_chunked_init(&ch);

    small_len = 0;
    p = data;
    rc2 = MG_HTTP_AGAIN;

    for (n = 0; rc2 == MG_HTTP_AGAIN && n < size; /* void */) {
        n = (size - n < piece) ? size : n + piece;
        end = data + n;

        rc2 = mg_http_parse_chunked(&ch, &p, end, fuzz_small, &small_len,
                                    small_size);

        if (rc2 == MG_HTTP_AGAIN && small_len < small_size) {
            fuzz_assert(p == end);
        }

        if (rc2 == MG_HTTP_AGAIN && small_len == small_size) {
            break;
        }
    }

    fuzz_assert(small_len <= small_size);
    fuzz_assert(small_len <= len);
    fuzz_assert(small_len == 0 || memcmp(fuzz_small, fuzz_body, small_len)
                                  == 0);

    if (small_len < small_size) {

        /* nothing cut the decoding short: the same outcome */

        fuzz_assert(rc2 == rc || (rc2 == MG_HTTP_AGAIN && size == 0));
        fuzz_assert(small_len == len);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc, rc2;
    size_t               piece;
    mg_http_header_t     headers[FUZZ_HEADERS], headers2[FUZZ_HEADERS];
    mg_http_response_t   r, r2;

    if (size == 0) {
        return 0;
    }

    piece = (size_t) data[0] % 13 + 1;
    data++;
    size--;

    rc = fuzz_head(data, size, (size_t) -1, &r, headers);
    rc2 = fuzz_head(data, size, piece, &r2, headers2);

    fuzz_assert(rc == rc2);

    if (rc == MG_HTTP_ERROR) {
        fuzz_assert(r.error != NULL && r2.error != NULL);
        fuzz_assert(strcmp(r.error, r2.error) == 0);
    }

    if (rc == MG_HTTP_OK) {
        fuzz_assert(r.status == r2.status);
        fuzz_assert(r.head_len == r2.head_len);
        fuzz_assert(r.nheaders == r2.nheaders);
        fuzz_assert(r.content_length == r2.content_length);
        fuzz_assert(r.chunked == r2.chunked);
        fuzz_assert(r.has_length == r2.has_length);
        fuzz_assert(r.head_len <= size);

        fuzz_check_head(data, &r);

        fuzz_chunked(data + r.head_len, size - r.head_len, piece);

    } else {
        fuzz_chunked(data, size, piece);
    }

    return 0;
}
