
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: unit tests of the nginx-free parsers (base64url, JSON, JWT).
 * Prints TAP; t/00-parsers.t builds and runs it.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "test_alloc.h"
#include "mg_base64url.h"
#include "mg_json.h"
#include "mg_jwt.h"


/* base64url */


static void
b64_ok(const char *in, const char *out, size_t out_len)
{
    int            rc;
    size_t         n;
    unsigned char  buf[256], enc[512];

    rc = mg_base64url_decode(buf, &n, (const unsigned char *) in,
                             strlen(in));

    ok(rc == 0 && n == out_len && memcmp(buf, out, n) == 0,
       "base64url decodes \"%s\"", in);

    n = mg_base64url_encode(enc, (const unsigned char *) out, out_len);

    ok(n == strlen(in) && memcmp(enc, in, n) == 0,
       "base64url encodes back to \"%s\"", in);
}


static void
b64_bad(const char *in, size_t len, const char *why)
{
    size_t         n;
    unsigned char  buf[256];

    ok(mg_base64url_decode(buf, &n, (const unsigned char *) in, len) == -1,
       "base64url rejects %s", why);
}


static void
test_base64url(void)
{
    int            fail;
    size_t         len, i, n, m;
    unsigned char  src[64], enc[128], dec[128];

    b64_ok("", "", 0);
    b64_ok("Zg", "f", 1);
    b64_ok("Zm8", "fo", 2);
    b64_ok("Zm9v", "foo", 3);
    b64_ok("Zm9vYg", "foob", 4);
    b64_ok("Zm9vYmE", "fooba", 5);
    b64_ok("Zm9vYmFy", "foobar", 6);
    b64_ok("-_-_", "\xfb\xff\xbf", 3);
    b64_ok("AA", "\0", 1);

    b64_bad("Zg==", 4, "padding");
    b64_bad("Zm8=", 4, "a single pad");
    b64_bad("Zm9v=", 5, "a trailing pad");
    b64_bad("Z", 1, "a length of 1 mod 4");
    b64_bad("Zm9vY", 5, "a length of 5");
    b64_bad("Zh", 2, "non-zero unused bits (2 chars)");
    b64_bad("Zm9", 3, "non-zero unused bits (3 chars)");
    b64_bad("Zm+v", 4, "'+' from the standard alphabet");
    b64_bad("Zm/v", 4, "'/' from the standard alphabet");
    b64_bad("Zm9 v", 5, "a space");
    b64_bad("Zm9v\n", 5, "a newline");
    b64_bad("Zm9v\0Yg", 7, "a NUL");
    b64_bad("Zm9\x80", 4, "a high byte");
    b64_bad("Zm.v", 4, "a dot");

    fail = 0;

    for (len = 0; len <= sizeof(src); len++) {
        for (i = 0; i < len; i++) {
            src[i] = (unsigned char) (i * 37 + len * 101);
        }

        n = mg_base64url_encode(enc, src, len);

        if (n != len * 4 / 3 + (len % 3 != 0)
            || n > mg_base64url_encoded_size(len)
            || mg_base64url_decode(dec, &m, enc, n) != 0
            || m != len || memcmp(dec, src, len) != 0)
        {
            fail = 1;
        }
    }

    ok(!fail, "base64url round trips of 0 to 64 bytes");
}


/* JSON */


static int
json(mg_json_t *js, const char *text, size_t len, unsigned options,
    uint32_t max_toks, unsigned max_depth, const char **err)
{
    *err = "";

    return mg_json_parse(js, (const unsigned char *) text, len, options,
                         max_toks, max_depth, &test_allocator, err);
}


static void
json_ok(const char *text)
{
    int          rc;
    mg_json_t    js, v;
    const char  *err;

    ok(json(&js, text, strlen(text), 0, 1000, 32, &err) == 0,
       "JSON valid: %s", text);

    if (*err) {
        diag("error: %s", err);
    }

    /* validating alone finds as many values, and keeps none */

    rc = json(&v, text, strlen(text), MG_JSON_VALIDATE, 1000, 32, &err);

    ok(rc == 0 && v.toks == NULL && v.ntoks == js.ntoks,
       "JSON valid, validated only: %s", text);
}


static void
json_bad_len(const char *text, size_t len, const char *desc,
    const char *expect)
{
    int          rc;
    mg_json_t    js;
    const char  *err;

    rc = json(&js, text, len, MG_JSON_UNIQUE_KEYS, 1000, 32, &err);

    ok(rc == -1 && (expect == NULL || strcmp(err, expect) == 0),
       "JSON invalid: %s", desc);

    if (rc == 0 || (expect && strcmp(err, expect) != 0)) {
        diag("rc %d, error \"%s\", expected \"%s\"", rc, err,
             expect ? expect : "any");
    }

    /* the same error without tokens (only duplicates need them) */

    if (expect && strcmp(expect, "duplicate member name") == 0) {
        return;
    }

    rc = json(&js, text, len, MG_JSON_VALIDATE, 1000, 32, &err);

    ok(rc == -1 && (expect == NULL || strcmp(err, expect) == 0),
       "JSON invalid, validated only: %s", desc);
}


static void
json_bad(const char *text, const char *expect)
{
    json_bad_len(text, strlen(text), text, expect);
}


/* where a failed parse stopped, with tokens and without */

static void
json_error_at(const char *text, size_t pos)
{
    int          rc, vrc;
    size_t       got, vgot;
    mg_json_t    js;
    const char  *err;

    rc = json(&js, text, strlen(text), 0, 1000, 32, &err);
    got = js.error_pos;

    vrc = json(&js, text, strlen(text), MG_JSON_VALIDATE, 1000, 32, &err);
    vgot = js.error_pos;

    ok(rc == -1 && vrc == -1 && got == pos && vgot == pos,
       "JSON error position %zu: %s", pos, text);

    if (got != pos || vgot != pos) {
        diag("error at %zu (%zu without tokens)", got, vgot);
    }
}


static void
json_flags(const char *text, uint8_t flags)
{
    mg_json_t    js;
    const char  *err;

    ok(json(&js, text, strlen(text), 0, 100, 8, &err) == 0
       && js.toks[0].type == MG_JSON_STRING && js.toks[0].flags == flags,
       "JSON flags %u: %s", flags, text);
}


static void
json_unescape(const char *text, const char *expect, size_t len)
{
    int             rc;
    size_t          n;
    mg_json_t       js;
    const char     *err;
    unsigned char  *dst;

    rc = json(&js, text, strlen(text), 0, 100, 8, &err);

    if (rc != 0) {
        ok(0, "JSON unescape: %s (%s)", text, err);
        return;
    }

    dst = malloc(js.toks[0].end - js.toks[0].start);
    n = mg_json_string(&js, 0, dst);

    ok(n == len && memcmp(dst, expect, len) == 0
       && mg_json_string_eq(&js, 0, (const unsigned char *) expect, len)
       && !mg_json_string_eq(&js, 0, (const unsigned char *) expect,
                             len ? len - 1 : 1),
       "JSON unescape: %s", text);

    free(dst);
}


static void
json_number(const char *text, int expect_rc, double expect)
{
    int          rc;
    double       v;
    mg_json_t    js;
    const char  *err;

    v = -12345;

    if (json(&js, text, strlen(text), 0, 100, 8, &err) != 0) {
        ok(0, "JSON number %s (%s)", text, err);
        return;
    }

    rc = mg_json_number(&js, 0, &v);

    ok(rc == expect_rc && (rc != 0 || v == expect),
       "JSON number %s -> %s", text, expect_rc ? "-1" : "value");
}


static void
json_compact(const char *text, const char *expect)
{
    size_t          n;
    mg_json_t       js;
    const char     *err;
    unsigned char  *dst;

    if (json(&js, text, strlen(text), 0, 100, 8, &err) != 0) {
        ok(0, "JSON compact %s (%s)", text, err);
        return;
    }

    dst = malloc(js.toks[0].end - js.toks[0].start + 1);
    n = mg_json_compact(&js, 0, dst);

    ok(n == strlen(expect) && memcmp(dst, expect, n) == 0,
       "JSON compact: %s", text);

    free(dst);
}


static void
test_json_valid(void)
{
    json_ok("{}");
    json_ok("[]");
    json_ok("0");
    json_ok("-0");
    json_ok("1e5");
    json_ok("1E+5");
    json_ok("-1.5e-3");
    json_ok("0.0");
    json_ok("123456789012345678901234567890");
    json_ok("true");
    json_ok("false");
    json_ok("null");
    json_ok("\"\"");
    json_ok(" \t\r\n[ 1 , 2 ]\n\t\r ");
    json_ok("[1,[2,{\"a\":null,\"b\":[true,false]}],\"x\"]");
    json_ok("{\"\":0}");
    json_ok("\"\\u00e9\\ud83d\\ude00\"");
    json_ok("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"");
    json_ok("\"\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80\"");
    json_ok("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
    json_ok("{\"a\":1,\"a\":2}");
    json_ok("\"\x7f\"");
}


static void
test_json_invalid(void)
{
    json_error_at("[1,2,}", 5);
    json_error_at("{\"a\":1,\n \"b\" 2}", 13);
    json_error_at("{\"a\":[1,2]", 10);
    json_error_at("[\"\\x\"]", 2);
    json_error_at("[1] 2", 4);

    json_bad("", "invalid JSON: unexpected end of input");
    json_bad(" \n", "invalid JSON: unexpected end of input");
    json_bad("01", "invalid JSON: bad number");
    json_bad("-01", "invalid JSON: bad number");
    json_bad("1.", "invalid JSON: bad number");
    json_bad("1.e5", "invalid JSON: bad number");
    json_bad(".5", "invalid JSON: unexpected character");
    json_bad("-", "invalid JSON: bad number");
    json_bad("-a", "invalid JSON: bad number");
    json_bad("+1", "invalid JSON: unexpected character");
    json_bad("1e", "invalid JSON: bad number");
    json_bad("1e+", "invalid JSON: bad number");
    json_bad("0x10", "trailing data after JSON value");
    json_bad("NaN", "invalid JSON: unexpected character");
    json_bad("[1,]", "invalid JSON: unexpected character");
    json_bad("[,1]", "invalid JSON: unexpected character");
    json_bad("{\"a\":1,}", "invalid JSON: expected member name");
    json_bad("{\"a\"}", "invalid JSON: expected \":\"");
    json_bad("{a:1}", "invalid JSON: expected member name");
    json_bad("{1:1}", "invalid JSON: expected member name");
    json_bad("[1 2]", "invalid JSON: expected \",\" or \"]\"");
    json_bad("{\"a\":1 \"b\":2}", "invalid JSON: expected \",\" or \"}\"");
    json_bad("[1}", "invalid JSON: expected \",\" or \"]\"");
    json_bad("{\"a\":1]", "invalid JSON: expected \",\" or \"}\"");
    json_bad("tru", "invalid JSON: unexpected character");
    json_bad("True", "invalid JSON: unexpected character");
    json_bad("nul", "invalid JSON: unexpected character");
    json_bad("truex", "trailing data after JSON value");
    json_bad("\"abc", "invalid JSON: unterminated string");
    json_bad("\"abc\\", "invalid JSON: unterminated string");
    json_bad("\"\\x\"", "invalid JSON: bad escape in string");
    json_bad("\"\\'\"", "invalid JSON: bad escape in string");
    json_bad("\"\\u12\"", "invalid JSON: bad \\u escape in string");
    json_bad("\"\\u12G4\"", "invalid JSON: bad \\u escape in string");
    json_bad("\"\\ud800\"", "invalid JSON: unpaired surrogate in string");
    json_bad("\"\\udc00\\ud800\"",
             "invalid JSON: unpaired surrogate in string");
    json_bad("\"\\ud800\\u0041\"",
             "invalid JSON: unpaired surrogate in string");
    json_bad("\"\\ud800\\n\"", "invalid JSON: unpaired surrogate in string");
    json_bad("\"\\ud800\\ud800\"",
             "invalid JSON: unpaired surrogate in string");
    json_bad("\"a\tb\"", "invalid JSON: control character in string");
    json_bad("\"a\nb\"", "invalid JSON: control character in string");
    json_bad_len("\"a\0b\"", 5, "raw NUL in string",
                 "invalid JSON: control character in string");
    json_bad("\"\xc0\xaf\"", "invalid UTF-8 in string");
    json_bad("\"\xc1\xbf\"", "invalid UTF-8 in string");
    json_bad("\"\xe0\x80\xaf\"", "invalid UTF-8 in string");
    json_bad("\"\xe0\x9f\xbf\"", "invalid UTF-8 in string");
    json_bad("\"\xf0\x8f\xbf\xbf\"", "invalid UTF-8 in string");
    json_bad("\"\xed\xa0\x80\"", "invalid UTF-8 in string");
    json_bad("\"\xed\xbf\xbf\"", "invalid UTF-8 in string");
    json_bad("\"\xf4\x90\x80\x80\"", "invalid UTF-8 in string");
    json_bad("\"\xf5\x80\x80\x80\"", "invalid UTF-8 in string");
    json_bad("\"\x80\"", "invalid UTF-8 in string");
    json_bad("\"\xc3\"", "invalid UTF-8 in string");
    json_bad("\"\xe2\x82\"", "invalid UTF-8 in string");
    json_bad("\"\xe2\x82x\"", "invalid UTF-8 in string");
    json_bad("\"\xff\"", "invalid UTF-8 in string");
    json_bad("{} {}", "trailing data after JSON value");
    json_bad("1 x", "trailing data after JSON value");
    json_bad("[]]", "trailing data after JSON value");
    json_bad("\f1", "invalid JSON: unexpected character");
    json_bad("\xc2\xa0" "1", "invalid JSON: unexpected character");
    json_bad("[1", "invalid JSON: unexpected end of input");
    json_bad("{\"a\":", "invalid JSON: unexpected end of input");
    json_bad("[[[[[[", "invalid JSON: truncated or malformed text");
    json_bad("\xef\xbb\xbf{}", "invalid JSON: unexpected character");
    json_bad("\"\\u0000\"x", "trailing data after JSON value");
}


static void
test_json_limits(void)
{
    char        *deep;
    mg_json_t    js;
    const char  *err;

    ok(json(&js, "[[[[1]]]]", 9, 0, 100, 4, &err) == 0,
       "JSON nesting at max_depth");
    ok(json(&js, "[[[[1]]]]", 9, 0, 100, 3, &err) == -1
       && strcmp(err, "nesting too deep") == 0,
       "JSON nesting beyond max_depth");
    ok(json(&js, "{\"a\":{\"b\":{}}}", 14, 0, 100, 2, &err) == -1
       && strcmp(err, "nesting too deep") == 0,
       "JSON object nesting beyond max_depth");
    ok(json(&js, "1", 1, 0, 100, 0, &err) == 0,
       "JSON scalar with max_depth 0");
    ok(json(&js, "[]", 2, 0, 100, 0, &err) == -1,
       "JSON array with max_depth 0");

    deep = malloc(100000);
    memset(deep, '[', 50000);
    memset(deep + 50000, ']', 50000);

    ok(json(&js, deep, 100000, 0, 0xffffffff, 32, &err) == -1
       && strcmp(err, "nesting too deep") == 0,
       "JSON 50000 levels rejected by max_depth 32");
    ok(json(&js, deep, 100000, 0, 0xffffffff, 100000, &err) == 0
       && js.ntoks == 50000 && js.toks[0].next == 50000
       && js.toks[49999].end == 50001,
       "JSON 50000 levels without recursion");

    free(deep);

    ok(json(&js, "[1,2,3]", 7, 0, 3, 8, &err) == -1
       && strcmp(err, "too many JSON values") == 0,
       "JSON more values than max_toks");
    ok(json(&js, "[1,2,3]", 7, 0, 4, 8, &err) == 0 && js.ntoks == 4,
       "JSON exactly max_toks values");
    ok(json(&js, "1", 1, 0, 0, 8, &err) == -1,
       "JSON max_toks 0");

    if (sizeof(size_t) > 4) {
        ok(json(&js, "1", (size_t) 0xffffffff, 0, 10, 8, &err) == -1
           && strcmp(err, "JSON text too long") == 0,
           "JSON longer than 0xfffffffe bytes");

    } else {
        printf("ok %u # SKIP 32-bit size_t\n", ++test_n);
    }

    test_fail_alloc = 1;
    ok(json(&js, "[1]", 3, 0, 10, 8, &err) == -1
       && strcmp(err, "out of memory") == 0,
       "JSON allocation failure");
    test_fail_alloc = 0;

    /* the densest texts reach the bound, len / 2 + 1 tokens, exactly */

    ok(json(&js, "[1,2,3,4,5,6,7]", 15, 0, 0xffffffff, 8, &err) == 0
       && js.ntoks == 8, "JSON densest array fits the token bound");
    ok(json(&js, "[[],[],[]]", 10, 0, 0xffffffff, 8, &err) == 0
       && js.ntoks == 4, "JSON nested arrays fit the token bound");
}


static void
test_json_keys(void)
{
    int          rc;
    char         buf[4096], *p;
    size_t       i;
    int32_t      k;
    mg_json_t    js;
    const char  *err;

#define K(s)  (const unsigned char *) s, sizeof(s) - 1

    json_bad("{\"a\":1,\"a\":2}", "duplicate member name");
    json_bad("{\"a\":1,\"\\u0061\":2}", "duplicate member name");
    json_bad("{\"\\/\":1,\"/\":2}", "duplicate member name");
    json_bad("{\"a\":{\"b\":1,\"b\":2}}", "duplicate member name");
    json_bad("[{},{\"x\":[],\"x\":[]}]", "duplicate member name");

    p = "{\"a\":1,\"b\":{\"a\":2},\"ab\":3,\"a\\u0000\":4}";
    rc = json(&js, p, strlen(p), MG_JSON_UNIQUE_KEYS, 100, 8, &err);
    ok(rc == 0, "JSON same name in different objects, prefixes, NUL");

    /* big objects are sorted, not compared pairwise */

    for (i = 0; i < 3; i++) {
        p = buf;
        *p++ = '{';

        for (k = 0; k < 200; k++) {
            p += sprintf(p, "%s\"k%d\":%d", k ? "," : "", k * 7 % 200, k);
        }

        if (i == 1) {
            p += sprintf(p, ",\"k\\u0031\\u0039\\u0039\":0");

        } else if (i == 2) {
            p += sprintf(p, ",\"k\\u0032\\u0030\\u0030\":0");
        }

        *p++ = '}';

        rc = json(&js, buf, p - buf, MG_JSON_UNIQUE_KEYS, 10000, 8, &err);

        ok(rc == (i == 1 ? -1 : 0)
           && (rc == 0 || strcmp(err, "duplicate member name") == 0),
           "JSON 200-member object %s",
           i == 0 ? "unique" : (i == 1 ? "with an escaped duplicate"
                                       : "with an escaped new name"));
    }

    p = "{\"a\":1,\"a\":2,\"b\":[3],\"\\u0063\":{\"d\":4}}";
    rc = json(&js, p, strlen(p), 0, 100, 8, &err);

    ok(rc == 0 && mg_json_object_get(&js, 0, K("a")) == 2,
       "JSON object_get returns the first duplicate");
    k = mg_json_object_get(&js, 0, K("b"));
    ok(k == 6 && js.toks[k].type == MG_JSON_ARRAY && js.toks[k].size == 1,
       "JSON object_get after a value");
    k = mg_json_object_get(&js, 0, K("c"));
    ok(k == 9 && js.toks[k].type == MG_JSON_OBJECT,
       "JSON object_get with an escaped key");
    ok(mg_json_object_get(&js, 0, K("d")) == -1,
       "JSON object_get does not descend");
    ok(mg_json_object_get(&js, (uint32_t) k, K("d")) == 11,
       "JSON object_get in a nested object");
    ok(mg_json_object_get(&js, 6, K("a")) == -1,
       "JSON object_get on an array");
    ok(mg_json_object_get(&js, 1000, K("a")) == -1,
       "JSON object_get out of range");
    ok(mg_json_object_get(&js, 0, K("")) == -1,
       "JSON object_get missing name");

#undef K
}


static void
test_json_tokens(void)
{
    int             rc;
    mg_json_t       js;
    const char     *err, *t;
    mg_json_tok_t  *k;

    t = " {\"a\" : [1, \"x\"], \"b\":true} ";

    rc = json(&js, t, strlen(t), 0, 100, 8, &err);
    k = js.toks;

    ok(rc == 0 && js.ntoks == 7
       && k[0].type == MG_JSON_OBJECT && k[0].size == 2 && k[0].next == 7
       && k[0].start == 1 && k[0].end == strlen(t) - 1
       && k[1].type == MG_JSON_STRING && k[1].start == 2 && k[1].end == 5
       && k[2].type == MG_JSON_ARRAY && k[2].size == 2 && k[2].next == 5
       && k[3].type == MG_JSON_NUMBER && k[3].next == 4
       && k[3].end - k[3].start == 1
       && k[4].type == MG_JSON_STRING && k[4].next == 5
       && k[5].type == MG_JSON_STRING && k[5].size == 0
       && k[6].type == MG_JSON_TRUE && k[6].next == 7,
       "JSON token layout");

    json_flags("\"plain\"", 0);
    json_flags("\"a\\nb\"", MG_JSON_ESCAPED | MG_JSON_CTL);
    json_flags("\"a\\rb\"", MG_JSON_ESCAPED | MG_JSON_CTL);
    json_flags("\"\\u000A\"", MG_JSON_ESCAPED | MG_JSON_CTL);
    json_flags("\"\\u000d\"", MG_JSON_ESCAPED | MG_JSON_CTL);
    json_flags("\"\\u0000\"", MG_JSON_ESCAPED | MG_JSON_CTL);
    json_flags("\"\\u0009\\t\\b\\f\"", MG_JSON_ESCAPED);
    json_flags("\"a\\/b\"", MG_JSON_ESCAPED);
    json_flags("\"\\u010a\\u0d0d\"", MG_JSON_ESCAPED);

    t = "{\"a\\nb\":1,\"c\":\"\\u0000\"}";
    rc = json(&js, t, strlen(t), 0, 100, 8, &err);

    ok(rc == 0 && js.toks[1].flags == (MG_JSON_ESCAPED | MG_JSON_CTL)
       && js.toks[3].flags == 0
       && js.toks[4].flags == (MG_JSON_ESCAPED | MG_JSON_CTL),
       "JSON flags on keys and values");
}


/* an allocator that tells what the parser asked for */

static size_t  json_alloc_first, json_alloc_total;
static int     json_allocs;


static void *
json_alloc(void *data, size_t size)
{
    if (json_allocs++ == 0) {
        json_alloc_first = size;
    }

    json_alloc_total += size;

    return test_alloc(data, size);
}


static int
json_measured(mg_json_t *js, const char *text, size_t len, unsigned options,
    unsigned max_depth, const char **err)
{
    mg_allocator_t  a = { json_alloc, NULL };

    json_allocs = 0;
    json_alloc_first = 0;
    json_alloc_total = 0;
    *err = "";

    return mg_json_parse(js, (const unsigned char *) text, len, options,
                         0xffffffff, max_depth, &a, err);
}


static void
test_json_memory(void)
{
    int          rc;
    char        *big;
    size_t       i, len;
    mg_json_t    js, v;
    const char  *err, *t;

    /* a long string is one token, not one per two bytes */

    len = 1000000;
    big = malloc(len);
    memcpy(big, "{\"s\":\"", 6);
    memset(big + 6, 'x', len - 8);
    memcpy(big + len - 2, "\"}", 2);

    rc = json_measured(&js, big, len, 0, 256, &err);

    ok(rc == 0 && js.ntoks == 3
       && json_alloc_first == 3 * sizeof(mg_json_tok_t),
       "JSON tokens allocated as counted: 3 for a 1 MB string member");

    if (rc != 0 || json_alloc_first != 3 * sizeof(mg_json_tok_t)) {
        diag("rc %d (%s), %u tokens, %zu bytes for them", rc, err,
             js.ntoks, json_alloc_first);
    }

    /* validating takes the nesting only */

    rc = json_measured(&v, big, len, MG_JSON_VALIDATE, 256, &err);

    ok(rc == 0 && v.toks == NULL && v.ntoks == 3
       && json_alloc_total == 256 * (sizeof(uint32_t) + 1),
       "JSON validated only: no tokens, %zu bytes", json_alloc_total);

    /* the densest text: as many as the bound from its length */

    for (i = 0; i < len; i += 2) {
        big[i] = (i == 0) ? '[' : ',';
        big[i + 1] = '1';
    }

    big[len - 1] = ']';
    big[len - 2] = '1';

    rc = json_measured(&js, big, len, 0, 256, &err);

    ok(rc == 0 && js.ntoks == len / 2
       && json_alloc_first == js.ntoks * sizeof(mg_json_tok_t),
       "JSON tokens allocated as counted: %u for an array of ones",
       js.ntoks);

    free(big);

    /* strings with escaped quotes and backslashes, keys, literals */

    t = " {\"a\\\"\":[\"\\\\\",true,null,-1.5e3,{}],\"\\u0022\":\"]\"} ";

    rc = json_measured(&js, t, strlen(t), 0, 8, &err);

    ok(rc == 0 && js.ntoks == 10
       && json_alloc_first == 10 * sizeof(mg_json_tok_t),
       "JSON tokens allocated as counted: escapes in strings");

    rc = json_measured(&v, t, strlen(t), MG_JSON_VALIDATE, 8, &err);

    ok(rc == 0 && v.ntoks == 10, "JSON validated only: as many values");

    /* what is counted for invalid text is enough to find the error */

    t = "[\"a\"b,tru e,\"\\\"]";

    rc = json_measured(&js, t, strlen(t), 0, 8, &err);

    ok(rc == -1 && strcmp(err, "invalid JSON: expected \",\" or \"]\"") == 0,
       "JSON invalid text: the error, not a lack of tokens");

    rc = json_measured(&js, "[1", 2, MG_JSON_VALIDATE | MG_JSON_UNIQUE_KEYS,
                       8, &err);

    ok(rc == -1 && json_allocs == 0,
       "JSON duplicates cannot be looked for without tokens");
}


static void
test_json_values(void)
{
    char        *big;
    mg_json_t    js;
    const char  *err;

    json_unescape("\"\"", "", 0);
    json_unescape("\"abc\"", "abc", 3);
    json_unescape("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
                  "a\"b\\c/d\b\f\n\r\t", 12);
    json_unescape("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6);
    json_unescape("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
    json_unescape("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);
    json_unescape("\"x\\u0000y\"", "x\0y", 3);
    json_unescape("\"\xc3\xa9\\u00e9\"", "\xc3\xa9\xc3\xa9", 4);

    json_number("0", 0, 0);
    json_number("-0", 0, -0.0);
    json_number("1.50", 0, 1.5);
    json_number("1e3", 0, 1000);
    json_number("-2.5E-1", 0, -0.25);
    json_number("1700000000", 0, 1700000000);
    json_number("1e999", -1, 0);
    json_number("-1e999", -1, 0);
    json_number("1e-999", 0, 0);
    json_number("\"1\"", -1, 0);
    json_number("true", -1, 0);

    big = malloc(300);
    memset(big, '1', 299);
    big[299] = '\0';
    json_number(big, -1, 0);
    big[255] = '\0';
    json_number(big, 0, strtod(big, NULL));
    free(big);

    json_compact("{ \"a\" : [ 1 , \"x y\" ] ,\n\t\"b\\\" \" : null }",
                 "{\"a\":[1,\"x y\"],\"b\\\" \":null}");
    json_compact("\" a \\\\\"", "\" a \\\\\"");
    json_compact("  [ ]  ", "[]");
    json_compact("-1.5e+3", "-1.5e+3");

    ok(json(&js, "[\"a\"]", 5, 0, 10, 8, &err) == 0
       && mg_json_string(&js, 0, NULL) == 0
       && !mg_json_string_eq(&js, 0, (const unsigned char *) "", 0),
       "JSON string functions on a non-string");
}


/* JWT */


static char *
jwt_make(const char *header, const char *payload, const char *sig,
    size_t sig_len)
{
    char         *p;
    static char   buf[3 * 12000];  /* as long as any token built here */

    p = buf;
    p += mg_base64url_encode((unsigned char *) p,
                             (const unsigned char *) header, strlen(header));
    *p++ = '.';
    p += mg_base64url_encode((unsigned char *) p,
                             (const unsigned char *) payload,
                             strlen(payload));
    *p++ = '.';
    p += mg_base64url_encode((unsigned char *) p,
                             (const unsigned char *) sig, sig_len);
    *p = '\0';

    return buf;
}


static int
jwt(mg_jwt_t *j, const char *token, const char **err)
{
    *err = "";

    return mg_jwt_parse(j, (const unsigned char *) token, strlen(token),
                        &test_allocator, err);
}


static void
jwt_bad(const char *token, const char *expect, const char *desc)
{
    int          rc;
    mg_jwt_t     j;
    const char  *err;

    rc = jwt(&j, token, &err);

    ok(rc == -1 && strcmp(err, expect) == 0, "JWT rejected: %s", desc);

    if (rc == 0 || strcmp(err, expect) != 0) {
        diag("rc %d, error \"%s\", expected \"%s\"", rc, err, expect);
    }
}


static void
jwt_bad_json(const char *header, const char *payload, const char *expect,
    const char *desc)
{
    jwt_bad(jwt_make(header, payload, "sig", 3), expect, desc);
}


#define HS  "{\"alg\":\"HS256\"}"


static void
test_jwt_parse(void)
{
    int          rc;
    char        *t, *big, deep[128];
    size_t       n;
    mg_jwt_t     j;
    const char  *err;

    t = jwt_make("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
                 "{\"sub\":\"alice\",\"exp\":1700000000,\"nbf\":1.5e9}",
                 "\x01\x02\x03", 3);

    rc = jwt(&j, t, &err);

    ok(rc == 0, "JWT valid HS256 token");

    if (rc != 0) {
        diag("error: %s", err);
    }

    n = strchr(strchr(t, '.') + 1, '.') - t;

    ok(rc == 0 && j.alg == MG_JWT_HS256
       && j.kid.len == 2 && memcmp(j.kid.data, "k1", 2) == 0
       && j.has_exp && j.exp == 1700000000 && j.has_nbf && j.nbf == 1.5e9
       && j.signature_len == 3 && memcmp(j.signature, "\1\2\3", 3) == 0
       && j.signing_input.data == (const unsigned char *) t
       && j.signing_input.len == n
       && j.token.len == strlen(t)
       && j.header.toks[0].type == MG_JSON_OBJECT
       && j.payload.toks[0].size == 3,
       "JWT fields of a valid token");

    t = jwt_make("{\"alg\":\"ES256\",\"jku\":\"https://evil/\","
                 "\"x5u\":\"https://evil/\",\"jwk\":{\"kty\":\"oct\"},"
                 "\"x5c\":[\"MIIB\"]}", "{}", "s", 1);

    rc = jwt(&j, t, &err);

    ok(rc == 0 && j.alg == MG_JWT_ES256 && j.kid.data == NULL
       && !j.has_exp && !j.has_nbf,
       "JWT with jku, x5u, jwk, x5c (ignored), no kid, exp, nbf");

    rc = jwt(&j, jwt_make("{\"alg\":\"EdDSA\",\"kid\":\"\"}", "{}", "s", 1),
             &err);

    ok(rc == 0 && j.alg == MG_JWT_EDDSA && j.kid.data != NULL
       && j.kid.len == 0, "JWT with an empty kid");

    rc = jwt(&j, jwt_make("{\"alg\":\"RS256\",\"kid\":\"a\\/b\\u00e9\\\"\"}",
                          "{}", "s", 1), &err);

    ok(rc == 0 && j.kid.len == 6 && memcmp(j.kid.data, "a/b\xc3\xa9\"", 6)
       == 0, "JWT kid is unescaped");

    rc = jwt(&j, jwt_make("{\"alg\":\"H\\u0053256\"}", "{}", "s", 1), &err);

    ok(rc == 0 && j.alg == MG_JWT_HS256, "JWT escaped alg name");

    /* shape */

    big = malloc(MG_JWT_MAX_TOKEN + 2);
    memset(big, 'A', MG_JWT_MAX_TOKEN + 1);
    big[0] = '.';
    big[10] = '.';
    big[MG_JWT_MAX_TOKEN + 1] = '\0';

    jwt_bad(big, "token too long", "8193 bytes");

    free(big);

    jwt_bad("", "malformed token: expected three segments", "empty");
    jwt_bad("abc", "malformed token: expected three segments", "no dot");
    jwt_bad("a.b", "malformed token: expected three segments", "one dot");
    jwt_bad("a.b.c.d", "malformed token: expected three segments",
            "three dots");
    jwt_bad("a.b.c.d.e.f", "malformed token: expected three segments",
            "five dots");
    jwt_bad("a.b.c.d.e", "encrypted tokens are not supported", "JWE");
    jwt_bad("....", "encrypted tokens are not supported", "four dots");

    jwt_bad("eyJhbGciOiJIUzI1NiJ9=.e30.c2ln", "bad base64url in header",
            "padded header");
    jwt_bad("eyJhbGciOiJIUzI1NiJ+.e30.c2ln", "bad base64url in header",
            "'+' in header");
    jwt_bad("eyJhbGciOiJIUzI1NiJ9.e31.c2ln", "bad base64url in payload",
            "non-canonical payload");
    jwt_bad("eyJhbGciOiJIUzI1NiJ9.e 30.c2ln", "bad base64url in payload",
            "space in payload");
    jwt_bad("eyJhbGciOiJIUzI1NiJ9.e30.c2ln=", "bad base64url in signature",
            "padded signature");
    jwt_bad("eyJhbGciOiJIUzI1NiJ9.e30.c/ln", "bad base64url in signature",
            "'/' in signature");
    jwt_bad("eyJhbGciOiJIUzI1NiJ9.e30.", "missing signature",
            "empty signature");
    jwt_bad(jwt_make("{\"alg\":\"none\"}", "{}", "", 0),
            "alg \"none\" is not allowed", "unsigned token with alg none");

    /* JSON */

    jwt_bad_json("", "{}", "header is not valid JSON", "empty header");
    jwt_bad_json("{\"alg\":\"HS256\"", "{}", "header is not valid JSON",
                 "truncated header");
    jwt_bad_json("[\"alg\"]", "{}", "header is not a JSON object",
                 "array header");
    jwt_bad_json("\"HS256\"", "{}", "header is not a JSON object",
                 "string header");
    jwt_bad_json("{\"alg\":\"HS256\",\"alg\":\"RS256\"}", "{}",
                 "duplicate member name in header", "duplicate alg");
    jwt_bad_json(HS, "{\"sub\":1,\"sub\":2}",
                 "duplicate member name in claims set", "duplicate claim");
    jwt_bad_json(HS, "{\"a\":{\"b\":1,\"\\u0062\":2}}",
                 "duplicate member name in claims set",
                 "nested escaped duplicate claim");
    jwt_bad_json(HS, "", "claims set is not valid JSON", "empty payload");
    jwt_bad_json(HS, "{\"a\":\"\xc0\xaf\"}", "claims set is not valid JSON",
                 "overlong UTF-8 in payload");
    jwt_bad_json(HS, "[1]", "claims set is not a JSON object",
                 "array payload");
    jwt_bad_json(HS, "\"x\"", "claims set is not a JSON object",
                 "string payload");
    /* the claims set itself is the first level */

    n = sprintf(deep, "{\"a\":");
    memset(deep + n, '[', 31);
    n += 31;
    n += sprintf(deep + n, "1");
    memset(deep + n, ']', 31);
    n += 31;
    sprintf(deep + n, "}");

    rc = jwt(&j, jwt_make(HS, deep, "s", 1), &err);
    ok(rc == 0, "JWT claims nested 32 deep");

    n = sprintf(deep, "{\"a\":");
    memset(deep + n, '[', 32);
    n += 32;
    n += sprintf(deep + n, "1");
    memset(deep + n, ']', 32);
    n += 32;
    sprintf(deep + n, "}");

    jwt_bad_json(HS, deep, "claims set is not valid JSON",
                 "claims nested 33 deep");

    /* alg */

    jwt_bad_json("{}", "{}", "missing alg", "no alg");
    jwt_bad_json("{\"ALG\":\"HS256\"}", "{}", "missing alg", "ALG");
    jwt_bad_json("{\"alg\":256}", "{}", "alg is not a string",
                 "numeric alg");
    jwt_bad_json("{\"alg\":null}", "{}", "alg is not a string", "null alg");
    jwt_bad_json("{\"alg\":[\"HS256\"]}", "{}", "alg is not a string",
                 "array alg");
    jwt_bad_json("{\"alg\":\"none\"}", "{}", "alg \"none\" is not allowed",
                 "alg none");
    jwt_bad_json("{\"alg\":\"NoNe\"}", "{}", "alg \"none\" is not allowed",
                 "alg NoNe");
    jwt_bad_json("{\"alg\":\"NONE\"}", "{}", "alg \"none\" is not allowed",
                 "alg NONE");
    jwt_bad_json("{\"alg\":\"\\u006eo\\u004Ee\"}", "{}",
                 "alg \"none\" is not allowed", "escaped alg none");
    jwt_bad_json("{\"alg\":\"\\u006e\\u006f\\u006e\\u0065\"}", "{}",
                 "alg \"none\" is not allowed", "fully escaped alg none");
    jwt_bad_json("{\"alg\":\"none \"}", "{}", "unsupported alg",
                 "alg \"none \"");
    jwt_bad_json("{\"alg\":\"hs256\"}", "{}", "unsupported alg",
                 "alg hs256");
    jwt_bad_json("{\"alg\":\"HS257\"}", "{}", "unsupported alg",
                 "alg HS257");
    jwt_bad_json("{\"alg\":\"EDDSA\"}", "{}", "unsupported alg",
                 "alg EDDSA");
    jwt_bad_json("{\"alg\":\"\"}", "{}", "unsupported alg", "empty alg");
    jwt_bad_json("{\"alg\":\"HS256HS256HS256HS256HS256HS256HS256HS256\"}",
                 "{}", "unsupported alg", "long alg");

    /* crit, kid */

    jwt_bad_json("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", "{}",
                 "unsupported critical header parameter", "crit");
    jwt_bad_json("{\"alg\":\"HS256\",\"crit\":[]}", "{}",
                 "unsupported critical header parameter", "empty crit");
    jwt_bad_json("{\"alg\":\"HS256\",\"crit\":null}", "{}",
                 "unsupported critical header parameter", "null crit");
    jwt_bad_json("{\"alg\":\"HS256\",\"kid\":1}", "{}",
                 "kid is not a string", "numeric kid");
    jwt_bad_json("{\"alg\":\"HS256\",\"kid\":null}", "{}",
                 "kid is not a string", "null kid");

    /* CR, LF, NUL */

    jwt_bad_json("{\"alg\":\"HS256\",\"kid\":\"a\\nb\"}", "{}",
                 "claim or header value contains CR, LF or NUL",
                 "LF in kid");
    jwt_bad_json("{\"alg\":\"HS256\",\"x\\r\":1}", "{}",
                 "claim or header value contains CR, LF or NUL",
                 "CR in a header name");
    jwt_bad_json(HS, "{\"sub\":\"alice\\nX-Admin: 1\"}",
                 "claim or header value contains CR, LF or NUL",
                 "LF escape in a claim");
    jwt_bad_json(HS, "{\"a\":[\"x\",{\"b\":\"\\u000D\"}]}",
                 "claim or header value contains CR, LF or NUL",
                 "CR in a nested claim");
    jwt_bad_json(HS, "{\"a\\u0000\":1}",
                 "claim or header value contains CR, LF or NUL",
                 "NUL in a claim name");

    /* exp, nbf */

    jwt_bad_json(HS, "{\"exp\":\"1700000000\"}", "exp is not a number",
                 "string exp");
    jwt_bad_json(HS, "{\"exp\":null}", "exp is not a number", "null exp");
    jwt_bad_json(HS, "{\"exp\":1e999}", "exp is not a number",
                 "overflowing exp");
    jwt_bad_json(HS, "{\"exp\":1,\"nbf\":true}", "nbf is not a number",
                 "boolean nbf");
    jwt_bad_json(HS, "{\"nbf\":[1]}", "nbf is not a number", "array nbf");

    rc = jwt(&j, jwt_make(HS, "{\"exp\":-1.25,\"nbf\":0,\"Exp\":\"x\"}",
                          "s", 1), &err);

    ok(rc == 0 && j.has_exp && j.exp == -1.25 && j.has_nbf && j.nbf == 0,
       "JWT exp and nbf parsed, other names ignored");

    test_fail_alloc = 1;
    jwt_bad(jwt_make(HS, "{}", "s", 1), "out of memory", "no memory");
    test_fail_alloc = 0;
}


static void
test_jwt_algs(void)
{
    int          fail;
    unsigned     a;
    const char  *name;

    fail = 0;

    for (a = MG_JWT_HS256; a <= MG_JWT_EDDSA; a++) {
        name = mg_jwt_alg_name((mg_jwt_alg_e) a);

        if (name == NULL
            || mg_jwt_alg_by_name((const unsigned char *) name,
                                  strlen(name))
               != (mg_jwt_alg_e) a)
        {
            fail = 1;
        }
    }

    ok(!fail, "JWT alg names round trip");
    ok(strcmp(mg_jwt_alg_name(MG_JWT_EDDSA), "EdDSA") == 0
       && strcmp(mg_jwt_alg_name(MG_JWT_PS384), "PS384") == 0,
       "JWT alg names spelled as in RFC 7518 and RFC 8037");
    ok(mg_jwt_alg_name(MG_JWT_ALG_UNKNOWN) == NULL
       && mg_jwt_alg_name((mg_jwt_alg_e) 99) == NULL,
       "JWT unknown alg has no name");
    ok(mg_jwt_alg_by_name((const unsigned char *) "HS25", 4)
       == MG_JWT_ALG_UNKNOWN
       && mg_jwt_alg_by_name((const unsigned char *) "HS2560", 6)
          == MG_JWT_ALG_UNKNOWN
       && mg_jwt_alg_by_name((const unsigned char *) "es256", 5)
          == MG_JWT_ALG_UNKNOWN
       && mg_jwt_alg_by_name((const unsigned char *) "none", 4)
          == MG_JWT_ALG_UNKNOWN,
       "JWT alg names are exact");
}


static void
value_is(const mg_json_t *js, int32_t k, const char *expect,
    const char *desc)
{
    size_t          n, room;
    unsigned char  *dst;

    if (k < 0) {
        ok(0, "JWT value %s: not found", desc);
        return;
    }

    room = js->toks[k].end - js->toks[k].start;
    dst = malloc(room ? room : 1);
    n = mg_jwt_value(js, (uint32_t) k, dst);

    ok(n <= room && n == strlen(expect) && memcmp(dst, expect, n) == 0,
       "JWT value %s: \"%s\"", desc, expect);

    if (n != strlen(expect) || memcmp(dst, expect, n) != 0) {
        diag("got \"%.*s\"", (int) n, dst);
    }

    free(dst);
}


static void
test_jwt_values(void)
{
    int          rc;
    mg_str_t     p[4];
    mg_jwt_t     j;
    const char  *err;

    rc = jwt(&j, jwt_make(HS,
        "{\"arr\":[\"a\",\"b\",1,true,null],"
        "\"o\":{ \"x\" : [1, 2], \"y\": \"a b\" },"
        "\"n\":1.50,\"e\":1e3,\"t\":true,\"f\":false,\"z\":null,"
        "\"s\":\"h\\u00e9\\\"\",\"na\":[[1, 2] , { \"k\" : \"v\" }],"
        "\"empty\":[],\"eo\":{},\"es\":\"\",\"one\":[\"\\/x\"],"
        "\"deep\":{\"a\":{\"b\":{\"c\":\"deep\"}}},\"neg\":-0}",
        "s", 1), &err);

    ok(rc == 0, "JWT with claims of every kind");

    if (rc != 0) {
        diag("error: %s", err);
        return;
    }

#define P(i, s)  p[i].data = (const unsigned char *) s; p[i].len = strlen(s)
#define V(name, expect)                                                      \
    P(0, name);                                                              \
    value_is(&j.payload, mg_jwt_lookup(&j.payload, p, 1), expect, name)

    V("arr", "a,b,1,true,");
    V("o", "{\"x\":[1,2],\"y\":\"a b\"}");
    V("n", "1.50");
    V("e", "1e3");
    V("t", "true");
    V("f", "false");
    V("z", "");
    V("s", "h\xc3\xa9\"");
    V("na", "[1%2C2],{\"k\":\"v\"}");
    V("empty", "");
    V("eo", "{}");
    V("es", "");
    V("one", "/x");
    V("neg", "-0");

    P(0, "deep");
    P(1, "a");
    P(2, "b");
    ok(mg_jwt_lookup(&j.payload, p, 3) > 0
       && j.payload.toks[mg_jwt_lookup(&j.payload, p, 3)].type
          == MG_JSON_OBJECT, "JWT lookup deep.a.b");

    P(3, "c");
    value_is(&j.payload, mg_jwt_lookup(&j.payload, p, 4), "deep",
             "deep.a.b.c");

    P(2, "c");
    ok(mg_jwt_lookup(&j.payload, p, 3) == -1, "JWT lookup deep.a.c");

    P(1, "x");
    ok(mg_jwt_lookup(&j.payload, p, 2) == -1, "JWT lookup missing step");

    P(0, "s");
    P(1, "t");
    ok(mg_jwt_lookup(&j.payload, p, 2) == -1,
       "JWT lookup through a string");

    P(0, "arr");
    P(1, "0");
    ok(mg_jwt_lookup(&j.payload, p, 2) == -1,
       "JWT lookup through an array");

    ok(mg_jwt_lookup(&j.payload, p, 0) == 0, "JWT lookup of no path");

    P(0, "alg");
    value_is(&j.header, mg_jwt_lookup(&j.header, p, 1), "HS256",
             "header alg");

#undef V
#undef P
}


int
main(void)
{
    test_base64url();
    test_json_valid();
    test_json_invalid();
    test_json_limits();
    test_json_keys();
    test_json_tokens();
    test_json_memory();
    test_json_values();
    test_jwt_parse();
    test_jwt_algs();
    test_jwt_values();

    test_free_all();

    printf("1..%u\n", test_n);

    return test_failed ? 1 : 0;
}
