
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_json.c.
 *
 * The first byte chooses the options: bit 0 MG_JSON_UNIQUE_KEYS, bits 1-6
 * max_depth, bit 7 a max_toks of 16; the rest is the JSON text.  Every
 * token of an accepted text is checked against the layout mg_json.h
 * promises and put through the accessors, each writing into a buffer that
 * is exactly as long as promised, so that ASan sees any overrun.  The
 * compact form of the top-level value must parse again to as many tokens.
 *
 * Tokens are allocated as a first pass counts them: the array is exactly
 * as long as the tokens of an accepted text (ASan sees a parser that
 * writes past what was counted, for any text), and MG_JSON_VALIDATE,
 * which keeps no tokens, must come to the same verdict, the same error
 * and the same number of values.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_json.h"

#include "fuzz.h"


#define fuzz_space(c)                                                        \
    ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')


/* the size of the first block a parse asks for: its tokens */

static size_t  fuzz_first, fuzz_allocs;


static void *
fuzz_json_alloc(void *data, size_t size)
{
    if (fuzz_allocs++ == 0) {
        fuzz_first = size;
    }

    return fuzz_alloc(data, size);
}


static mg_allocator_t  fuzz_json_allocator = { fuzz_json_alloc, NULL };


/*
 * Validating alone: what the tokens would have said, except that only
 * they can find duplicate names (a text refused for one may be valid, or
 * refused later for something else).
 */

static void
fuzz_validate(const uint8_t *data, size_t size, unsigned options,
    uint32_t max_toks, unsigned max_depth, int rc, const char *err,
    uint32_t ntoks)
{
    int          vrc;
    mg_json_t    v;
    const char  *verr;

    verr = NULL;

    vrc = mg_json_parse(&v, data, size, MG_JSON_VALIDATE, max_toks,
                        max_depth, &fuzz_allocator, &verr);

    fuzz_assert(v.toks == NULL);

    if (rc == 0) {
        fuzz_assert(vrc == 0 && v.ntoks == ntoks);
        return;
    }

    if ((options & MG_JSON_UNIQUE_KEYS)
        && strcmp(err, "duplicate member name") == 0)
    {
        return;
    }

    fuzz_assert(vrc == -1 && verr != NULL && strcmp(verr, err) == 0);
}


static void
fuzz_string(const mg_json_t *js, uint32_t i)
{
    size_t                n, room;
    unsigned char        *s;
    const mg_json_tok_t  *t;

    t = &js->toks[i];
    room = t->end - t->start;

    fuzz_assert(room >= 2);
    fuzz_assert(js->buf[t->start] == '"' && js->buf[t->end - 1] == '"');

    s = fuzz_malloc(room);
    n = mg_json_string(js, i, s);

    fuzz_assert(n <= room - 2);
    fuzz_assert(mg_json_string_eq(js, i, s, n));

    if (n) {
        fuzz_assert(!mg_json_string_eq(js, i, s, n - 1));

        s[n - 1] ^= 0x01;
        fuzz_assert(!mg_json_string_eq(js, i, s, n));
        s[n - 1] ^= 0x01;
    }

    if (!(t->flags & MG_JSON_ESCAPED)) {
        fuzz_assert(n == room - 2);
        fuzz_assert(memcmp(s, js->buf + t->start + 1, n) == 0);
        fuzz_assert(memchr(js->buf + t->start + 1, '\\', n) == NULL);
    }

    fuzz_assert(!!(t->flags & MG_JSON_CTL)
                == (memchr(s, '\r', n) || memchr(s, '\n', n)
                    || memchr(s, '\0', n)));

    free(s);
}


static void
fuzz_number(const mg_json_t *js, uint32_t i)
{
    int                   rc;
    char                 *text;
    double                v, w;
    size_t                n;
    const mg_json_tok_t  *t;

    t = &js->toks[i];
    n = t->end - t->start;

    rc = mg_json_number(js, i, &v);

    text = (char *) fuzz_malloc(n + 1);
    memcpy(text, js->buf + t->start, n);
    text[n] = '\0';

    w = strtod(text, NULL);

    if (n <= 255 && w == w && w - w == 0) {
        fuzz_assert(rc == 0 && (v == w));

    } else {
        fuzz_assert(rc == -1);
    }

    free(text);
}


static void
fuzz_object(const mg_json_t *js, uint32_t obj, unsigned options)
{
    size_t          n;
    int32_t         v;
    uint32_t        k, m;
    unsigned char  *name;

    k = obj + 1;

    for (m = 0; m < js->toks[obj].size; m++) {
        fuzz_assert(js->toks[k].type == MG_JSON_STRING);

        name = fuzz_malloc(js->toks[k].end - js->toks[k].start);
        n = mg_json_string(js, k, name);

        v = mg_json_object_get(js, obj, name, n);

        /* the first member of that name */

        fuzz_assert(v > (int32_t) obj && (uint32_t) v <= k + 1);
        fuzz_assert(mg_json_string_eq(js, (uint32_t) v - 1, name, n));

        if (options & MG_JSON_UNIQUE_KEYS) {
            fuzz_assert((uint32_t) v == k + 1);
        }

        free(name);

        k = js->toks[k + 1].next;
    }
}


static void
fuzz_compact(const mg_json_t *js, uint32_t i, unsigned options, int reparse)
{
    size_t                n, room;
    mg_json_t             again;
    const char           *err;
    unsigned char        *c;
    const mg_json_tok_t  *t;

    t = &js->toks[i];
    room = t->end - t->start;

    c = fuzz_malloc(room);
    n = mg_json_compact(js, i, c);

    fuzz_assert(n <= room);

    if (reparse) {
        fuzz_assert(mg_json_parse(&again, c, n, options, 0xffffffff, 64,
                                  &fuzz_allocator, &err)
                    == 0);
        fuzz_assert(again.ntoks == t->next - i);
        fuzz_assert(again.toks[0].start == 0 && again.toks[0].end == n);
    }

    free(c);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc;
    size_t                j;
    uint32_t              i, k, m, children, max_toks;
    unsigned              options, max_depth;
    mg_json_t             js;
    const char           *err;
    const mg_json_tok_t  *t;

    if (size == 0) {
        return 0;
    }

    options = (data[0] & 0x01) ? MG_JSON_UNIQUE_KEYS : 0;
    max_depth = (data[0] >> 1) & 0x3f;
    max_toks = (data[0] & 0x80) ? 16 : 0xffffffff;

    data++;
    size--;

    err = NULL;
    fuzz_allocs = 0;
    fuzz_first = 0;

    rc = mg_json_parse(&js, data, size, options, max_toks, max_depth,
                       &fuzz_json_allocator, &err);

    fuzz_validate(data, size, options, max_toks, max_depth, rc, err,
                  js.ntoks);

    if (rc != 0) {
        fuzz_assert(rc == -1 && err != NULL && err[0] != '\0');

        /* where it stopped is inside the text (or its end) */

        fuzz_assert(js.error_pos <= size);
        goto done;
    }

    fuzz_assert(js.ntoks >= 1 && js.ntoks <= max_toks);
    fuzz_assert(fuzz_first == js.ntoks * sizeof(mg_json_tok_t));
    fuzz_assert(js.ntoks <= size / 2 + 1);
    fuzz_assert(js.toks[0].next == js.ntoks);

    for (j = 0; j < js.toks[0].start; j++) {
        fuzz_assert(fuzz_space(data[j]));
    }

    for (j = js.toks[0].end; j < size; j++) {
        fuzz_assert(fuzz_space(data[j]));
    }

    for (i = 0; i < js.ntoks; i++) {
        t = &js.toks[i];

        fuzz_assert(t->start < t->end && t->end <= size);
        fuzz_assert(t->next > i && t->next <= js.ntoks);
        fuzz_assert(t->type >= MG_JSON_OBJECT && t->type <= MG_JSON_NULL);
        fuzz_assert(t->flags == 0 || t->type == MG_JSON_STRING);
        fuzz_assert(!(t->flags & MG_JSON_CTL)
                    || (t->flags & MG_JSON_ESCAPED));

        switch (t->type) {

        case MG_JSON_OBJECT:
        case MG_JSON_ARRAY:
            fuzz_assert(data[t->start] == (t->type == MG_JSON_OBJECT ? '{'
                                                                     : '['));
            fuzz_assert(data[t->end - 1] == (t->type == MG_JSON_OBJECT
                                             ? '}' : ']'));

            children = t->size * (t->type == MG_JSON_OBJECT ? 2 : 1);
            k = i + 1;

            for (m = 0; m < children; m++) {
                fuzz_assert(k < t->next);
                fuzz_assert(js.toks[k].start > t->start
                            && js.toks[k].end < t->end);
                k = js.toks[k].next;
            }

            fuzz_assert(k == t->next);

            if (t->type == MG_JSON_OBJECT) {
                fuzz_object(&js, i, options);
            }

            break;

        case MG_JSON_STRING:
            fuzz_assert(t->next == i + 1 && t->size == 0);
            fuzz_string(&js, i);
            break;

        default:
            fuzz_assert(t->next == i + 1 && t->size == 0);
            break;
        }

        if (t->type == MG_JSON_NUMBER) {
            fuzz_number(&js, i);

        } else {
            fuzz_assert(mg_json_number(&js, i, &(double) { 0 }) == -1);
        }

        fuzz_compact(&js, i, options, i < 8);
    }

done:

    fuzz_free_all();

    return 0;
}
