
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: unit tests of mg_prom.c, the Prometheus text format pieces of
 * the metrics module.  Prints TAP; t/07-prom.t builds and runs it.  UTF-8
 * is checked against a decoder written here from the definition (code
 * points and their ranges), not from the table mg_prom.c uses.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "mg_prom.h"


static uint64_t  test_seed = 0x9e3779b97f4a7c15ULL;


static uint64_t
test_random(void)
{
    test_seed ^= test_seed << 13;
    test_seed ^= test_seed >> 7;
    test_seed ^= test_seed << 17;

    return test_seed;
}


/* the length of a well-formed UTF-8 character at p, 0 if none */

static size_t
test_utf8(const unsigned char *p, size_t len)
{
    size_t    n, i;
    uint32_t  cp, min;

    if (p[0] < 0x80) {
        return 1;
    }

    if ((p[0] & 0xe0) == 0xc0) {
        n = 2; cp = p[0] & 0x1f; min = 0x80;

    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3; cp = p[0] & 0x0f; min = 0x800;

    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4; cp = p[0] & 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return n;
}


/* valid UTF-8 with no raw LF, every '\\' and '"' escaped */

static int
test_well_escaped(const unsigned char *p, size_t len)
{
    size_t  n;

    while (len) {
        if (*p == '\n' || *p == '"') {
            return 0;
        }

        if (*p == '\\') {
            if (len < 2 || (p[1] != '\\' && p[1] != '"' && p[1] != 'n')) {
                return 0;
            }

            p += 2;
            len -= 2;
            continue;
        }

        n = test_utf8(p, len);
        if (n == 0) {
            return 0;
        }

        p += n;
        len -= n;
    }

    return 1;
}


static size_t
test_unescape(unsigned char *dst, const unsigned char *p, size_t len)
{
    unsigned char  *d;

    d = dst;

    while (len) {
        if (*p == '\\') {
            *d++ = (p[1] == 'n') ? '\n' : p[1];
            p += 2;
            len -= 2;
            continue;
        }

        *d++ = *p++;
        len--;
    }

    return d - dst;
}


static int
test_escape(const char *in, size_t len, const char *want, size_t want_len)
{
    size_t         n;
    unsigned char  out[256];

    memset(out, 0xa5, sizeof(out));

    n = mg_prom_escape(out, (const unsigned char *) in, len);

    return n == want_len && memcmp(out, want, n) == 0
           && n <= MG_PROM_ESCAPED_LEN(len) && out[n] == 0xa5;
}


#define FFFD  "\xef\xbf\xbd"

#define escapes(in, want, name)                                              \
    ok(test_escape(in, sizeof(in) - 1, want, sizeof(want) - 1), name)


static void
test_escapes(void)
{
    escapes("", "", "empty");
    escapes("/api/v1", "/api/v1", "plain text unchanged");
    escapes("a\\b", "a\\\\b", "backslash");
    escapes("say \"hi\"", "say \\\"hi\\\"", "double quotes");
    escapes("a\nb", "a\\nb", "line feed");
    escapes("\\\n\"", "\\\\\\n\\\"", "all three together");
    escapes("t\tr\r", "t\tr\r", "tab and CR are left (UTF-8)");
    escapes("\xc3\xa9", "\xc3\xa9", "2-byte character");
    escapes("\xe2\x82\xac", "\xe2\x82\xac", "3-byte character");
    escapes("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", "4-byte character");
    escapes("\xc2\x80", "\xc2\x80", "U+0080, the first 2-byte one");
    escapes("\xe0\xa0\x80", "\xe0\xa0\x80", "U+0800, the first 3-byte one");
    escapes("\xed\x9f\xbf", "\xed\x9f\xbf", "U+D7FF, before the surrogates");
    escapes("\xee\x80\x80", "\xee\x80\x80", "U+E000, after the surrogates");
    escapes("\xef\xbf\xbf", "\xef\xbf\xbf", "U+FFFF");
    escapes("\xf0\x90\x80\x80", "\xf0\x90\x80\x80", "U+10000");
    escapes("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "U+10FFFF, the last");

    escapes("\x80", FFFD, "a lone continuation byte");
    escapes("\xff", FFFD, "0xFF");
    escapes("\xfe\xff", FFFD FFFD, "0xFE 0xFF");
    escapes("\xc0\xaf", FFFD FFFD, "overlong '/' (C0 AF)");
    escapes("\xc1\xbf", FFFD FFFD, "overlong (C1)");
    escapes("\xe0\x80\xaf", FFFD FFFD FFFD, "overlong 3-byte");
    escapes("\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD, "overlong 4-byte");
    escapes("\xed\xa0\x80", FFFD FFFD FFFD, "a surrogate (U+D800)");
    escapes("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, "above U+10FFFF");
    escapes("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD, "F5 lead byte");
    escapes("a\xe2\x82", "a" FFFD FFFD, "cut at the end");
    escapes("\xe2\x82" "a", FFFD FFFD "a", "cut before ASCII");
    escapes("\xe2\x82\"", FFFD FFFD "\\\"", "cut before a quote");
    escapes("\xc3\xa9\xff\xc3\xa9", "\xc3\xa9" FFFD "\xc3\xa9",
            "a bad byte between good ones");
}


static void
test_random_escapes(void)
{
    size_t          len, n, i, m;
    unsigned        bad_form, bad_trip, bad_len;
    unsigned char   in[64], out[MG_PROM_ESCAPED_LEN(64)], back[256];

    bad_form = 0;
    bad_trip = 0;
    bad_len = 0;

    for (i = 0; i < 200000; i++) {
        len = test_random() % sizeof(in);

        for (n = 0; n < len; n++) {
            /* mostly bytes that matter: high ones, quotes, backslashes */
            switch (test_random() % 4) {
            case 0:
                in[n] = "\\\"\na"[test_random() % 4];
                break;
            case 1:
                in[n] = 0x80 + test_random() % 0x80;
                break;
            default:
                in[n] = (unsigned char) test_random();
            }
        }

        n = mg_prom_escape(out, in, len);

        if (n > MG_PROM_ESCAPED_LEN(len)) {
            bad_len++;
            continue;
        }

        if (!test_well_escaped(out, n)) {
            bad_form++;
            continue;
        }

        /* input that is UTF-8 already comes back unchanged */

        for (m = 0; m < len; m += test_utf8(in + m, len - m)) {
            if (test_utf8(in + m, len - m) == 0) {
                break;
            }
        }

        if (m == len) {
            m = test_unescape(back, out, n);

            if (m != len || memcmp(back, in, len) != 0) {
                bad_trip++;
            }
        }
    }

    ok(bad_len == 0, "200000 random values: within MG_PROM_ESCAPED_LEN "
       "(%u not)", bad_len);
    ok(bad_form == 0, "... always valid UTF-8, well escaped (%u not)",
       bad_form);
    ok(bad_trip == 0, "... UTF-8 input unescapes back to itself (%u not)",
       bad_trip);
}


static int
test_parse(const char *s, int64_t want)
{
    uint64_t  ms;
    int       rc;

    ms = 12345;
    rc = mg_prom_parse_seconds((const unsigned char *) s, strlen(s), &ms);

    if (want < 0) {
        return rc == -1 && ms == 12345;
    }

    return rc == 0 && ms == (uint64_t) want;
}


static void
test_seconds(void)
{
    size_t          n;
    uint64_t        ms, back;
    unsigned        i, bad;
    unsigned char   buf[MG_PROM_SECONDS_LEN + 1];

    static const struct {
        const char  *s;
        int64_t      ms;
    } parse[] = {
        { "10", 10000 }, { "2.5", 2500 }, { ".005", 5 }, { "0.005", 5 },
        { "0.250", 250 }, { "0.0050", 5 }, { "1.", 1000 }, { "0", 0 },
        { "0.000", 0 }, { "007", 7000 }, { "1000000000", 1000000000000LL },
        { "0.0005", -1 }, { "0.0001", -1 }, { "", -1 }, { ".", -1 },
        { "-1", -1 }, { "+1", -1 }, { "1e3", -1 }, { " 1", -1 },
        { "1 ", -1 }, { "1s", -1 }, { "1.2.3", -1 }, { "0x10", -1 },
        { "1000000000.001", -1 }, { "1000000001", -1 },
        { "99999999999999999999999", -1 }, { "inf", -1 }, { "NaN", -1 }
    };

    static const struct {
        uint64_t     ms;
        const char  *s;
    } format[] = {
        { 0, "0" }, { 5, "0.005" }, { 10, "0.01" }, { 250, "0.25" },
        { 1000, "1" }, { 1001, "1.001" }, { 1010, "1.01" }, { 1100, "1.1" },
        { 2500, "2.5" }, { 10000, "10" }, { 1000000000000ULL, "1000000000" },
        { 18446744073709551615ULL, "18446744073709551.615" }
    };

    for (i = 0; i < sizeof(parse) / sizeof(parse[0]); i++) {
        ok(test_parse(parse[i].s, parse[i].ms), "parse \"%s\": %lld",
           parse[i].s, (long long) parse[i].ms);
    }

    for (i = 0; i < sizeof(format) / sizeof(format[0]); i++) {
        n = mg_prom_format_seconds(buf, format[i].ms);
        buf[n] = '\0';
        ok(n <= MG_PROM_SECONDS_LEN && strcmp((char *) buf, format[i].s) == 0,
           "format %llu: \"%s\" (\"%s\")",
           (unsigned long long) format[i].ms, format[i].s, buf);
    }

    bad = 0;

    for (i = 0; i < 100000; i++) {
        ms = test_random() % 1000000000001ULL;

        if (i % 2) {
            ms = ms % 100000;
        }

        n = mg_prom_format_seconds(buf, ms);

        if (mg_prom_parse_seconds(buf, n, &back) != 0 || back != ms) {
            bad++;
        }
    }

    ok(bad == 0, "100000 random values: format then parse gives them back "
       "(%u not)", bad);
}


int
main(void)
{
    test_escapes();
    test_random_escapes();
    test_seconds();

    printf("1..%u\n", test_n);

    return test_failed ? 1 : 0;
}
