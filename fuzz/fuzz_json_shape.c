
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_json_shape.c, what the aggregate
 * module does to the bodies of its parts.
 *
 * The first byte is the length of a spec, the spec follows, the rest is a
 * JSON text.  The spec is compiled as a path and as a fields list; what
 * compiles is applied to the text if it parses.  Checked: a path leads to
 * a token of the document and a scalar's text fits its promised room; a
 * fields result fits in the value's own length (the buffer is exactly that
 * long, so that ASan sees an overrun) and parses again, with the same
 * type at the top; the union of the document's object with itself parses,
 * with each of the object's names once at its top.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_json.h"
#include "mg_json_shape.h"

#include "fuzz.h"


#define FUZZ_DEPTH  64


static void
fuzz_path(const mg_json_t *js, const uint8_t *spec, size_t len)
{
    size_t           n;
    int32_t          i;
    const char      *err;
    unsigned char   *text;
    mg_json_path_t   path;

    if (mg_json_path_compile(&path, spec, len, &fuzz_allocator, &err) != 0) {
        fuzz_assert(err != NULL);
        return;
    }

    fuzz_assert(path.n >= 1);

    if (js == NULL) {
        return;
    }

    i = mg_json_path_get(js, 0, &path);

    if (i < 0) {
        fuzz_assert(i == -1);
        return;
    }

    fuzz_assert((uint32_t) i < js->ntoks);

    n = js->toks[i].end - js->toks[i].start;
    text = fuzz_malloc(n);

    if (mg_json_text(js, (uint32_t) i, text, &n) == 0) {
        fuzz_assert(n <= js->toks[i].end - js->toks[i].start);
        fuzz_assert(js->toks[i].type != MG_JSON_OBJECT
                    && js->toks[i].type != MG_JSON_ARRAY
                    && js->toks[i].type != MG_JSON_NULL);

    } else {
        fuzz_assert(js->toks[i].type == MG_JSON_OBJECT
                    || js->toks[i].type == MG_JSON_ARRAY
                    || js->toks[i].type == MG_JSON_NULL);
    }

    free(text);
}


static void
fuzz_fields(const mg_json_t *js, const uint8_t *spec, size_t len)
{
    int                rc;
    size_t             n, room;
    mg_json_t          again;
    const char        *err;
    unsigned char     *out;
    mg_json_fields_t   fields;

    if (mg_json_fields_compile(&fields, spec, len, &fuzz_allocator, &err)
        != 0)
    {
        fuzz_assert(err != NULL);
        return;
    }

    fuzz_assert(fields.child != NULL);

    if (js == NULL) {
        return;
    }

    room = js->toks[0].end - js->toks[0].start;
    out = fuzz_malloc(room);

    rc = mg_json_fields_write(js, 0, &fields, out, &n);

    if (rc != 0) {
        fuzz_assert(js->toks[0].type != MG_JSON_OBJECT
                    && js->toks[0].type != MG_JSON_ARRAY);
        free(out);
        return;
    }

    fuzz_assert(n <= room);
    fuzz_assert(mg_json_parse(&again, out, n, 0, 0xffffffff, FUZZ_DEPTH,
                              &fuzz_allocator, &err)
                == 0);
    fuzz_assert(again.toks[0].type == js->toks[0].type);
    fuzz_assert(again.toks[0].start == 0 && again.toks[0].end == n);
    fuzz_assert(again.ntoks <= js->ntoks);

    free(out);
}


static void
fuzz_merge(const mg_json_t *js)
{
    size_t              n, size;
    uint32_t            i, j, names;
    mg_json_t           again;
    const char         *err;
    unsigned char      *out;
    mg_json_members_t   m[2];

    if (mg_json_members(js, 0, &m[0], &fuzz_allocator) != 0) {
        fuzz_assert(js->toks[0].type != MG_JSON_OBJECT);
        return;
    }

    fuzz_assert(m[0].n == js->toks[0].size);

    /* names counted the slow way */

    names = 0;

    for (i = 0; i < m[0].n; i++) {
        for (j = 0; j < i; j++) {
            if (m[0].members[j].name.len == m[0].members[i].name.len
                && memcmp(m[0].members[j].name.data,
                          m[0].members[i].name.data,
                          m[0].members[i].name.len)
                   == 0)
            {
                break;
            }
        }

        names += (j == i);
    }

    m[1] = m[0];

    size = mg_json_merge_size(m, 2);
    out = fuzz_malloc(size);

    fuzz_assert(mg_json_merge(m, 2, out, &n, &fuzz_allocator) == 0);
    fuzz_assert(n <= size);
    fuzz_assert(mg_json_parse(&again, out, n, 0, 0xffffffff, FUZZ_DEPTH,
                              &fuzz_allocator, &err)
                == 0);
    fuzz_assert(again.toks[0].type == MG_JSON_OBJECT);
    fuzz_assert(again.toks[0].size == names);

    /* each name once at the top (nested objects are as they came) */

    fuzz_assert(mg_json_members(&again, 0, &m[1], &fuzz_allocator) == 0);

    for (i = 0; i < m[1].n; i++) {
        for (j = 0; j < i; j++) {
            fuzz_assert(m[1].members[j].name.len != m[1].members[i].name.len
                        || memcmp(m[1].members[j].name.data,
                                  m[1].members[i].name.data,
                                  m[1].members[i].name.len)
                           != 0);
        }
    }

    free(out);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          len;
    mg_json_t       js, *doc;
    const char     *err;
    const uint8_t  *spec;

    if (size == 0) {
        return 0;
    }

    len = data[0];

    if (len > size - 1) {
        len = size - 1;
    }

    spec = data + 1;
    data += 1 + len;
    size -= 1 + len;

    doc = NULL;

    if (mg_json_parse(&js, data, size, 0, 0xffffffff, FUZZ_DEPTH,
                      &fuzz_allocator, &err)
        == 0)
    {
        doc = &js;
    }

    fuzz_path(doc, spec, len);
    fuzz_fields(doc, spec, len);

    if (doc) {
        fuzz_merge(doc);
    }

    fuzz_free_all();

    return 0;
}
