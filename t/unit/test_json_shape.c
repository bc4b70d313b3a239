
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: unit tests of mg_json_shape.c, the reshaping of aggregate's
 * part bodies: paths, fields lists, the union of objects, scalar text.
 * Prints TAP; t/06-json-shape.t builds and runs it.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"
#include "mg_json.h"
#include "mg_json_shape.h"


static int
parse(mg_json_t *js, const char *text)
{
    const char  *err;

    return mg_json_parse(js, (const unsigned char *) text, strlen(text), 0,
                         0xffffffff, 64, &test_allocator, &err);
}


/* paths */


static void
path_get(const char *doc, const char *spec, const char *expect)
{
    int32_t          i;
    mg_json_t        js;
    const char      *err;
    mg_json_path_t   path;

    if (parse(&js, doc) != 0
        || mg_json_path_compile(&path, (const unsigned char *) spec,
                                strlen(spec), &test_allocator, &err)
           != 0)
    {
        ok(0, "path %s: setup", spec);
        return;
    }

    i = mg_json_path_get(&js, 0, &path);

    if (expect == NULL) {
        ok(i == -1, "path %s in %s: not found", spec, doc);

    } else {
        ok(i >= 0
           && js.toks[i].end - js.toks[i].start == strlen(expect)
           && memcmp(js.buf + js.toks[i].start, expect, strlen(expect)) == 0,
           "path %s in %s: %s", spec, doc, expect);
    }

    test_free_all();
}


static void
path_bad(const char *spec, size_t len, const char *why)
{
    const char      *err;
    mg_json_path_t   path;

    err = NULL;

    ok(mg_json_path_compile(&path, (const unsigned char *) spec, len,
                            &test_allocator, &err)
       == -1 && err != NULL,
       "path rejects %s (%s)", why, err ? err : "");

    test_free_all();
}


static void
test_paths(void)
{
    const char      *err, *doc;
    mg_json_path_t   path;

    ok(mg_json_path_compile(&path, (const unsigned char *) "data.items", 10,
                            &test_allocator, &err) == 0
       && path.n == 2
       && path.names[0].len == 4 && memcmp(path.names[0].data, "data", 4) == 0
       && path.names[1].len == 5
       && memcmp(path.names[1].data, "items", 5) == 0,
       "path compiles into its names");
    test_free_all();

    path_bad("", 0, "an empty path");
    path_bad(".a", 2, "a leading dot");
    path_bad("a.", 2, "a trailing dot");
    path_bad("a..b", 4, "an empty name");
    path_bad("a,b", 3, "a comma");
    path_bad("a\nb", 3, "a control character");
    path_bad("a\0b", 3, "a NUL");
    path_bad("a\x7f", 2, "DEL");

    doc = "{\"a\":{\"b\":[1,{\"c\":true}]}}";

    path_get(doc, "a", "{\"b\":[1,{\"c\":true}]}");
    path_get(doc, "a.b", "[1,{\"c\":true}]");
    path_get(doc, "a.b.0", "1");
    path_get(doc, "a.b.1.c", "true");
    path_get(doc, "a.b.2", NULL);
    path_get(doc, "a.b.01", NULL);
    path_get(doc, "a.b.x", NULL);
    path_get(doc, "a.b.-1", NULL);
    path_get(doc, "a.c", NULL);
    path_get(doc, "a.b.0.x", NULL);
    path_get("{\"a\":1}", "b", NULL);
    path_get("[10,20,30]", "2", "30");
    path_get("[10,20,30]", "1234567890", NULL);
    path_get("\"text\"", "a", NULL);
    path_get("{\"0\":\"zero\"}", "0", "\"zero\"");
    path_get("{\"a\":1,\"a\":2}", "a", "2");
    path_get("{\"a\\u0062\":3}", "ab", "3");
    path_get("{\"x y\":{\"\xc3\xa9\":5}}", "x y.\xc3\xa9", "5");
}


/* fields */


static void
fields_ok(const char *doc, const char *spec, const char *expect)
{
    size_t             len;
    mg_json_t          js;
    const char        *err;
    unsigned char     *out;
    mg_json_fields_t   fields;

    if (parse(&js, doc) != 0
        || mg_json_fields_compile(&fields, (const unsigned char *) spec,
                                  strlen(spec), &test_allocator, &err)
           != 0)
    {
        ok(0, "fields %s: setup", spec);
        return;
    }

    out = test_alloc(NULL, js.toks[0].end - js.toks[0].start);

    if (expect == NULL) {
        ok(mg_json_fields_write(&js, 0, &fields, out, &len) == -1,
           "fields %s refuse %s", spec, doc);

    } else {
        ok(mg_json_fields_write(&js, 0, &fields, out, &len) == 0
           && len == strlen(expect) && memcmp(out, expect, len) == 0,
           "fields %s of %s: %s", spec, doc, expect);
    }

    test_free_all();
}


static void
fields_bad(const char *spec, const char *why)
{
    const char        *err;
    mg_json_fields_t   fields;

    err = NULL;

    ok(mg_json_fields_compile(&fields, (const unsigned char *) spec,
                              strlen(spec), &test_allocator, &err)
       == -1 && err != NULL,
       "fields reject %s (%s)", why, err ? err : "");

    test_free_all();
}


static void
test_fields(void)
{
    const char  *doc;

    fields_bad("", "an empty list");
    fields_bad("a,", "a trailing comma");
    fields_bad(",a", "a leading comma");
    fields_bad("a,,b", "an empty field");
    fields_bad("a,", "an empty last field");
    fields_bad("a.,b", "an empty name");
    fields_bad("a\tb", "a tab");

    doc = "{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":4}";

    fields_ok(doc, "a,b.c", "{\"a\":1,\"b\":{\"c\":2}}");
    fields_ok(doc, "b.c,a", "{\"a\":1,\"b\":{\"c\":2}}");
    fields_ok(doc, "e", "{\"e\":4}");
    fields_ok(doc, "b", "{\"b\":{\"c\":2,\"d\":3}}");
    fields_ok(doc, "b,b.c", "{\"b\":{\"c\":2,\"d\":3}}");
    fields_ok(doc, "b.c,b", "{\"b\":{\"c\":2,\"d\":3}}");
    fields_ok(doc, "b.c,b.d", "{\"b\":{\"c\":2,\"d\":3}}");
    fields_ok(doc, "a,a", "{\"a\":1}");
    fields_ok(doc, "x", "{}");
    fields_ok(doc, "b.x", "{\"b\":{}}");
    fields_ok(doc, "a.x", "{}");
    fields_ok(doc, "x.y.z,e", "{\"e\":4}");

    fields_ok("{ \"a\" : [ 1 , 2 ] , \"b\" : { \"c\" : \" x y \" } }",
              "a,b.c", "{\"a\":[1,2],\"b\":{\"c\":\" x y \"}}");

    fields_ok("{\"items\":[{\"id\":1,\"x\":2},{\"x\":3},5,[{\"id\":4}]]}",
              "items.id", "{\"items\":[{\"id\":1},{},[{\"id\":4}]]}");

    fields_ok("[{\"id\":1,\"n\":\"a\"},{\"id\":2,\"n\":\"b\"}]", "id",
              "[{\"id\":1},{\"id\":2}]");

    fields_ok("{\"a\\u0062\":1,\"ab\":2,\"c\":3}", "ab",
              "{\"a\\u0062\":1,\"ab\":2}");

    fields_ok("{\"a\":{\"b\":{\"c\":{\"d\":1,\"e\":2}}}}", "a.b.c.e",
              "{\"a\":{\"b\":{\"c\":{\"e\":2}}}}");

    fields_ok("42", "a", NULL);
    fields_ok("\"s\"", "a", NULL);
    fields_ok("null", "a", NULL);
    fields_ok("{}", "a", "{}");
    fields_ok("[]", "a", "[]");
}


/* merge */


static int
members_of(mg_json_members_t *m, mg_json_t *js, const char *doc)
{
    return parse(js, doc) == 0
           && mg_json_members(js, 0, m, &test_allocator) == 0;
}


static void
merge_ok(const char **docs, size_t n, const char *expect, const char *name)
{
    size_t              i, len, size;
    mg_json_t           js[8];
    unsigned char      *out;
    mg_json_members_t   m[8];

    for (i = 0; i < n; i++) {
        if (!members_of(&m[i], &js[i], docs[i])) {
            ok(0, "merge %s: setup", name);
            test_free_all();
            return;
        }
    }

    size = mg_json_merge_size(m, n);
    out = test_alloc(NULL, size);

    ok(mg_json_merge(m, n, out, &len, &test_allocator) == 0
       && len <= size && len == strlen(expect)
       && memcmp(out, expect, len) == 0,
       "merge %s: %s", name, expect);

    test_free_all();
}


static void
test_merge(void)
{
    mg_json_t          js;
    mg_json_members_t  m;
    const char        *d1[] = { "{\"a\":1,\"b\":2}", "{\"c\":3}" };
    const char        *d2[] = { "{\"a\":1,\"b\":2}", "{\"b\":3,\"d\":4}",
                                "{\"a\":[5]}" };
    const char        *d3[] = { "{}", "{ }" };
    const char        *d4[] = { "{\"a\":1,\"a\":2}" };
    const char        *d5[] = { "{\"k\":1}", "{\"\\u006b\":2}" };
    const char        *d6[] = { "{\"x\" : { \"y\" : 1 } }", "{}" };
    const char        *d7[] = { "{\"b\":1,\"a\":2,\"ab\":3,\"\":4}",
                                "{\"a\":5,\"\":6,\"b\":7}" };

    ok(parse(&js, "[1]") == 0 && mg_json_members(&js, 0, &m, &test_allocator)
                                 == -1,
       "members of an array: refused");
    test_free_all();

    ok(members_of(&m, &js, "{\"a\\n\":true,\"b\":null}") && m.n == 2
       && m.members[0].name.len == 2
       && memcmp(m.members[0].name.data, "a\n", 2) == 0
       && m.members[0].key.len == 5
       && m.members[1].value.len == 4,
       "members: names unescaped, keys and values as written");
    test_free_all();

    merge_ok(d1, 2, "{\"a\":1,\"b\":2,\"c\":3}", "disjoint");
    merge_ok(d2, 3, "{\"a\":[5],\"b\":3,\"d\":4}", "later parts win");
    merge_ok(d3, 2, "{}", "empty objects");
    merge_ok(d3, 0, "{}", "nothing");
    merge_ok(d4, 1, "{\"a\":2}", "a name twice in one object");
    merge_ok(d5, 2, "{\"k\":2}", "names compared unescaped");
    merge_ok(d6, 2, "{\"x\":{ \"y\" : 1 }}", "values as written");
    merge_ok(d7, 2, "{\"b\":7,\"a\":5,\"ab\":3,\"\":6}",
             "order of first appearance");
}


static void
test_merge_many(void)
{
    char               *doc, *p;
    size_t              len;
    uint32_t            i;
    mg_json_t           js[2];
    unsigned char      *out;
    mg_json_members_t   m[2];

    /* 2000 members, every name twice: sorted, not compared pairwise */

    doc = malloc(2000 * 16 + 2);
    p = doc;
    *p++ = '{';

    for (i = 0; i < 2000; i++) {
        p += sprintf(p, "%s\"k%u\":%u", i ? "," : "", i % 1000, i);
    }

    *p++ = '}';
    *p = '\0';

    if (!members_of(&m[0], &js[0], doc) || !members_of(&m[1], &js[1], "{}")) {
        ok(0, "merge many: setup");
        free(doc);
        test_free_all();
        return;
    }

    out = test_alloc(NULL, mg_json_merge_size(m, 2));

    ok(mg_json_merge(m, 2, out, &len, &test_allocator) == 0,
       "merge of 2000 members");

    out[len] = '\0';
    ok(strncmp((char *) out, "{\"k0\":1000,\"k1\":1001,", 21) == 0
       && strstr((char *) out, "\"k999\":1999}") != NULL,
       "each name once, with its last value");

    test_fail_alloc = 1;
    ok(mg_json_merge(m, 1, out, &len, &test_allocator) == -1,
       "merge out of memory: -1");
    test_fail_alloc = 0;

    free(doc);
    test_free_all();
}


/* scalars */


static void
text_ok(const char *doc, const char *expect)
{
    size_t          len;
    mg_json_t       js;
    unsigned char   out[64];

    if (parse(&js, doc) != 0) {
        ok(0, "text %s: setup", doc);
        return;
    }

    if (expect == NULL) {
        ok(mg_json_text(&js, 0, out, &len) == -1, "text of %s: none", doc);

    } else {
        ok(mg_json_text(&js, 0, out, &len) == 0 && len == strlen(expect)
           && memcmp(out, expect, len) == 0,
           "text of %s: %s", doc, expect);
    }

    test_free_all();
}


static void
test_text(void)
{
    text_ok("\"abc\"", "abc");
    text_ok("\"a\\/b\\u00e9\"", "a/b\xc3\xa9");
    text_ok("\"\"", "");
    text_ok("-12.5e3", "-12.5e3");
    text_ok("true", "true");
    text_ok("false", "false");
    text_ok("null", NULL);
    text_ok("{}", NULL);
    text_ok("[1]", NULL);
}


int
main(void)
{
    test_paths();
    test_fields();
    test_merge();
    test_merge_many();
    test_text();

    printf("1..%u\n", test_n);

    return test_failed ? 1 : 0;
}
