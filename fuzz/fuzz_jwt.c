
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_jwt.c.
 *
 * The first byte chooses how the rest is used.  If it is even, the rest is
 * the token as is.  If it is odd, the rest is a header, a claims set and a
 * signature separated by 0xff bytes (which no valid JSON text contains),
 * and each is base64url-encoded into a token: this gets the fuzzer past
 * base64url and into the JSON and JWT checks.  Seeds start with '0' or
 * '1' accordingly.
 *
 * For an accepted token, everything mg_jwt.h promises is checked, and every
 * value of the header and claims set goes through mg_jwt_value() and
 * mg_json_compact() into a buffer exactly as long as mg_jwt_value_size()
 * and the token say it needs, so that ASan sees any overrun; no value
 * holds a control character other than HT, and an array's value splits
 * at its commas into exactly its elements, each rendered on its own with
 * "," and "%" escaped; lookups are done along every path of up to three
 * names.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_base64url.h"
#include "mg_jwt.h"

#include "fuzz.h"


/* no header value may carry these */

static void
fuzz_no_ctl(const unsigned char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        fuzz_assert((p[i] >= 0x20 || p[i] == '\t') && p[i] != 0x7f);
    }
}


/* the n bytes of out, the value of array i, are its elements, escaped */

static void
fuzz_array(const mg_json_t *js, uint32_t i, const unsigned char *out,
    size_t n)
{
    size_t                m, j;
    uint32_t              k, e;
    unsigned char        *el;
    const unsigned char  *p, *q, *end, *last;
    const mg_json_tok_t  *t;

    t = &js->toks[i];
    p = out;
    last = out + n;
    k = i + 1;

    if (t->size == 0) {
        fuzz_assert(n == 0);
        return;
    }

    for (e = 0; e < t->size; e++) {
        end = memchr(p, ',', last - p);

        if (end == NULL) {
            end = last;
        }

        /* the last element ends the value, the others at a comma */

        fuzz_assert((e == t->size - 1) == (end == last));

        el = fuzz_malloc(js->toks[k].end - js->toks[k].start);

        m = (js->toks[k].type == MG_JSON_ARRAY) ? mg_json_compact(js, k, el)
                                                : mg_jwt_value(js, k, el);
        q = p;

        for (j = 0; j < m; j++) {
            if (el[j] == ',' || el[j] == '%') {
                fuzz_assert(end - q >= 3 && q[0] == '%' && q[1] == '2'
                            && q[2] == (el[j] == ',' ? 'C' : '5'));
                q += 3;

            } else {
                fuzz_assert(q < end && *q == el[j]);
                q++;
            }
        }

        fuzz_assert(q == end);

        free(el);

        p = (end < last) ? end + 1 : last;
        k = js->toks[k].next;
    }
}


static void
fuzz_values(const mg_json_t *js)
{
    size_t                n, room;
    uint32_t              i;
    unsigned char        *dst;
    const mg_json_tok_t  *t;

    for (i = 0; i < js->ntoks; i++) {
        t = &js->toks[i];

        fuzz_assert(!(t->flags & MG_JSON_CTL));

        room = mg_jwt_value_size(js, i);
        fuzz_assert(room >= (size_t) (t->end - t->start));

        dst = fuzz_malloc(room);

        n = mg_jwt_value(js, i, dst);
        fuzz_assert(n <= room);
        fuzz_no_ctl(dst, n);

        if (t->type == MG_JSON_ARRAY) {
            fuzz_array(js, i, dst, n);
        }

        if (t->type == MG_JSON_NULL) {
            fuzz_assert(n == 0);
        }

        if (t->type == MG_JSON_NUMBER || t->type == MG_JSON_TRUE
            || t->type == MG_JSON_FALSE)
        {
            fuzz_assert(n == room && memcmp(dst, js->buf + t->start, n) == 0);
        }

        n = mg_json_compact(js, i, dst);
        fuzz_assert(n <= (size_t) (t->end - t->start));
        fuzz_no_ctl(dst, n);

        free(dst);
    }
}


/* looks up every path of up to three names that leads through objects */

static void
fuzz_paths(const mg_json_t *js, uint32_t obj, mg_str_t *path, size_t depth)
{
    int32_t         v;
    uint32_t        k, m;
    unsigned char  *name;

    if (depth == 3) {
        return;
    }

    k = obj + 1;

    for (m = 0; m < js->toks[obj].size; m++) {
        name = fuzz_malloc(js->toks[k].end - js->toks[k].start);

        path[depth].data = name;
        path[depth].len = mg_json_string(js, k, name);

        v = mg_jwt_lookup(js, path, depth + 1);

        /* names are unique in a token that parsed */

        fuzz_assert(v >= 0 && (uint32_t) v == k + 1);

        if (js->toks[v].type == MG_JSON_OBJECT) {
            fuzz_paths(js, (uint32_t) v, path, depth + 1);

        } else if (depth < 2) {
            path[depth + 1].data = (const unsigned char *) "x";
            path[depth + 1].len = 1;

            fuzz_assert(mg_jwt_lookup(js, path, depth + 2) == -1);
        }

        free(name);

        k = js->toks[k + 1].next;
    }
}


static void
fuzz_check(const mg_jwt_t *jwt, const unsigned char *token, size_t len)
{
    mg_str_t     path[3];
    const char  *name;

    fuzz_assert(len <= MG_JWT_MAX_TOKEN);
    fuzz_assert(jwt->token.data == token && jwt->token.len == len);
    fuzz_assert(jwt->signing_input.data == token);
    fuzz_assert(jwt->signing_input.len < len
                && token[jwt->signing_input.len] == '.');
    fuzz_assert(jwt->signature_len > 0);

    name = mg_jwt_alg_name(jwt->alg);
    fuzz_assert(name != NULL);
    fuzz_assert(mg_jwt_alg_by_name((const unsigned char *) name,
                                   strlen(name))
                == jwt->alg);

    fuzz_assert(jwt->header.ntoks > 0
                && jwt->header.toks[0].type == MG_JSON_OBJECT);
    fuzz_assert(jwt->payload.ntoks > 0
                && jwt->payload.toks[0].type == MG_JSON_OBJECT);

    fuzz_assert(mg_json_object_get(&jwt->header, 0,
                                   (const unsigned char *) "crit", 4)
                == -1);

    if (jwt->kid.data) {
        fuzz_assert(memchr(jwt->kid.data, '\n', jwt->kid.len) == NULL);
    }

    fuzz_assert(jwt->has_exp
                == (mg_json_object_get(&jwt->payload, 0,
                                       (const unsigned char *) "exp", 3)
                    >= 0));

    fuzz_values(&jwt->header);
    fuzz_values(&jwt->payload);

    fuzz_paths(&jwt->header, 0, path, 0);
    fuzz_paths(&jwt->payload, 0, path, 0);

    fuzz_assert(mg_jwt_lookup(&jwt->payload, path, 0) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          n, left, len[3];
    unsigned        part;
    mg_jwt_t        jwt;
    const char     *err;
    unsigned char  *token, *p;
    const uint8_t  *seg[3], *end;

    if (size == 0) {
        return 0;
    }

    if ((data[0] & 1) == 0) {
        token = fuzz_malloc(size - 1);
        memcpy(token, data + 1, size - 1);
        n = size - 1;

    } else {
        data++;
        left = size - 1;

        for (part = 0; part < 3; part++) {
            seg[part] = data;
            end = (part < 2) ? memchr(data, 0xff, left) : NULL;
            len[part] = end ? (size_t) (end - data) : left;

            data += len[part];
            left -= len[part];

            if (left) {
                data++;
                left--;
            }
        }

        n = mg_base64url_encoded_size(len[0])
            + mg_base64url_encoded_size(len[1])
            + mg_base64url_encoded_size(len[2]) + 2;

        token = fuzz_malloc(n);
        p = token;

        for (part = 0; part < 3; part++) {
            if (part) {
                *p++ = '.';
            }

            p += mg_base64url_encode(p, seg[part], len[part]);
        }

        n = p - token;
    }

    err = NULL;

    if (mg_jwt_parse(&jwt, token, n, &fuzz_allocator, &err) == 0) {
        fuzz_check(&jwt, token, n);

    } else {
        fuzz_assert(err != NULL && err[0] != '\0');
    }

    free(token);
    fuzz_free_all();

    return 0;
}
