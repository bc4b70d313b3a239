
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: unit tests of the W3C traceparent parser and formatter
 * (mg_traceparent.c).  Prints TAP; t/05-traceparent.t builds and runs it.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "mg_traceparent.h"


#define TEST_TRACE   "4bf92f3577b34da6a3ce929d0e0e4736"
#define TEST_PARENT  "00f067aa0ba902b7"
#define TEST_VALUE   "00-" TEST_TRACE "-" TEST_PARENT "-01"


static const unsigned char  test_trace[MG_TRACE_ID_LEN] = {
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36
};

static const unsigned char  test_parent[MG_SPAN_ID_LEN] = {
    0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7
};


static int
parse(const char *s, mg_traceparent_t *tp, const char **err)
{
    *err = NULL;

    return mg_traceparent_parse((const unsigned char *) s, strlen(s), tp,
                                err);
}


static void
valid(const char *s, unsigned version, unsigned flags, const char *what)
{
    int                rc;
    const char        *err;
    mg_traceparent_t   tp;

    memset(&tp, 0x5a, sizeof(tp));

    rc = parse(s, &tp, &err);

    ok(rc == 0 && tp.version == version && tp.flags == flags
       && memcmp(tp.trace_id, test_trace, MG_TRACE_ID_LEN) == 0
       && memcmp(tp.parent_id, test_parent, MG_SPAN_ID_LEN) == 0,
       "valid: %s (version %02x, flags %02x)", what, tp.version, tp.flags);
}


static void
invalid(const char *s, const char *reason, const char *what)
{
    int                rc;
    const char        *err;
    mg_traceparent_t   tp;

    rc = parse(s, &tp, &err);

    ok(rc == -1 && err != NULL && strstr(err, reason) != NULL,
       "invalid: %s (%s)", what, err ? err : "no reason");
}


static void
test_valid(void)
{
    valid(TEST_VALUE, 0x00, 0x01, "the specification's example");
    valid("00-" TEST_TRACE "-" TEST_PARENT "-00", 0x00, 0x00,
          "not sampled");
    valid("00-" TEST_TRACE "-" TEST_PARENT "-ff", 0x00, 0xff,
          "unknown flags are read as they come");
    valid("00-" TEST_TRACE "-" TEST_PARENT "-02", 0x00, 0x02,
          "flags 02");
    valid("01-" TEST_TRACE "-" TEST_PARENT "-01", 0x01, 0x01,
          "version 01, 55 characters");
    valid("cc-" TEST_TRACE "-" TEST_PARENT "-01-what-the-future-adds", 0xcc,
          0x01, "version cc with more fields");
    valid("cc-" TEST_TRACE "-" TEST_PARENT "-01-", 0xcc, 0x01,
          "version cc, a '-' after the flags");
    valid("fe-" TEST_TRACE "-" TEST_PARENT "-09-XYZ ,;", 0xfe, 0x09,
          "version fe: what follows the '-' is not looked at");
}


static void
test_invalid(void)
{
    invalid("", "version", "empty");
    invalid("0", "version", "one character");
    invalid("00", "version", "a version alone");
    invalid("00-", "55 characters", "a version and '-'");
    invalid("0-" TEST_TRACE "-" TEST_PARENT "-01", "version",
            "one-digit version");
    invalid("000-" TEST_TRACE "-" TEST_PARENT "-01", "version",
            "three-digit version");
    invalid("0A-" TEST_TRACE "-" TEST_PARENT "-01", "version",
            "uppercase version");
    invalid("0g-" TEST_TRACE "-" TEST_PARENT "-01", "version",
            "version not hex");
    invalid("ff-" TEST_TRACE "-" TEST_PARENT "-01", "version ff",
            "version ff");
    invalid("ff-" TEST_TRACE "-" TEST_PARENT "-01-more", "version ff",
            "version ff with more fields");
    invalid("00_" TEST_TRACE "-" TEST_PARENT "-01", "version",
            "'_' after the version");

    invalid("00-" TEST_TRACE "-" TEST_PARENT "-01-", "55 characters",
            "version 00 with a '-' after the flags");
    invalid("00-" TEST_TRACE "-" TEST_PARENT "-01-extra", "55 characters",
            "version 00 with another field");
    invalid("00-" TEST_TRACE "-" TEST_PARENT "-01 ", "55 characters",
            "version 00 with a trailing space");
    invalid("00-" TEST_TRACE "-" TEST_PARENT "-1", "55 characters",
            "one-digit flags");
    invalid("00-" TEST_TRACE "-" TEST_PARENT "-011", "55 characters",
            "three-digit flags");
    invalid("00-" TEST_TRACE "1-" TEST_PARENT "-01", "55 characters",
            "33-digit trace-id");
    invalid("00-4bf92f3577b34da6a3ce929d0e0e473-" TEST_PARENT "-01",
            "55 characters", "31-digit trace-id");
    invalid("00-" TEST_TRACE "-00f067aa0ba902b-01", "55 characters",
            "15-digit parent-id");

    invalid("00-4BF92F3577B34DA6A3CE929D0E0E4736-" TEST_PARENT "-01",
            "trace-id is not 32 lowercase", "uppercase trace-id");
    invalid("00-4bf92f3577b34da6a3ce929d0e0e473A-" TEST_PARENT "-01",
            "trace-id is not 32 lowercase", "one uppercase trace-id digit");
    invalid("00-" TEST_TRACE "-00F067AA0BA902B7-01",
            "parent-id is not 16 lowercase", "uppercase parent-id");
    invalid("00-" TEST_TRACE "-" TEST_PARENT "-0A",
            "trace-flags are not two lowercase", "uppercase flags");
    invalid("00-4bf92f3577b34da6a3ce929d0e0e47g6-" TEST_PARENT "-01",
            "trace-id is not 32 lowercase", "'g' in the trace-id");
    invalid("00-" TEST_TRACE "-00f067aa0ba902 7-01",
            "parent-id is not 16 lowercase", "space in the parent-id");
    invalid("00-" TEST_TRACE "-" TEST_PARENT "-0x",
            "trace-flags", "'x' in the flags");

    invalid("00-00000000000000000000000000000000-" TEST_PARENT "-01",
            "trace-id is all zeros", "all-zero trace-id");
    invalid("00-" TEST_TRACE "-0000000000000000-01",
            "parent-id is all zeros", "all-zero parent-id");
    invalid("01-00000000000000000000000000000000-" TEST_PARENT "-01",
            "trace-id is all zeros", "all-zero trace-id, version 01");

    invalid("00-" TEST_TRACE "_" TEST_PARENT "-01",
            "trace-id is not followed by '-'", "'_' after the trace-id");
    invalid("00-" TEST_TRACE "-" TEST_PARENT "_01",
            "parent-id is not followed by '-'", "'_' after the parent-id");
    invalid("00-" TEST_TRACE "--" TEST_PARENT "01", "parent-id",
            "separator moved");
    invalid("00 " TEST_TRACE " " TEST_PARENT " 01", "version",
            "spaces as separators");

    invalid("01-" TEST_TRACE "-" TEST_PARENT "-0", "shorter than 55",
            "version 01, 54 characters");
    invalid("01-" TEST_TRACE "-" TEST_PARENT "-01x",
            "followed by neither", "version 01, flags followed by 'x'");
    invalid("01-" TEST_TRACE "-" TEST_PARENT "-01.", "followed by neither",
            "version 01, flags followed by '.'");
    invalid("01-" TEST_TRACE "-" TEST_PARENT "-011", "followed by neither",
            "version 01, three-digit flags");
    invalid("01-4BF92F3577B34DA6A3CE929D0E0E4736-" TEST_PARENT "-01",
            "trace-id is not 32 lowercase", "version 01, uppercase trace-id");
    invalid("01-" TEST_TRACE "-" TEST_PARENT "-0A-x", "trace-flags",
            "version 01, uppercase flags");
}


/*
 * Every single-byte change of a valid value: at a separator only '-' is
 * valid, elsewhere only lowercase hex digits (the ids of TEST_VALUE have
 * enough non-zero digits that no change makes them all zeros, and no
 * change of one digit makes version 00 into ff).
 */

static void
test_mutations(void)
{
    int                expect, rc;
    size_t             pos;
    unsigned           c, wrong, checked;
    const char        *err;
    unsigned char      s[MG_TRACEPARENT_LEN];
    mg_traceparent_t   tp;

    wrong = 0;
    checked = 0;

    for (pos = 0; pos < MG_TRACEPARENT_LEN; pos++) {
        for (c = 0; c < 256; c++) {
            memcpy(s, TEST_VALUE, MG_TRACEPARENT_LEN);
            s[pos] = (unsigned char) c;

            if (pos == 2 || pos == 35 || pos == 52) {
                expect = (c == '-');

            } else {
                expect = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            }

            err = NULL;
            rc = mg_traceparent_parse(s, sizeof(s), &tp, &err);

            if ((rc == 0) != expect || (rc != 0 && err == NULL)) {
                if (wrong++ < 5) {
                    printf("# position %zu byte 0x%02x: %s\n", pos, c,
                           rc == 0 ? "accepted" : err);
                }
            }

            checked++;
        }
    }

    ok(wrong == 0, "%u single-byte changes judged right (%u wrong)",
       checked, wrong);
}


static void
test_lengths(void)
{
    size_t             len;
    unsigned           wrong;
    const char        *err;
    unsigned char      s[256];
    mg_traceparent_t   tp;

    /* every prefix of a valid value, of version 00 and of a later one */

    wrong = 0;

    for (len = 0; len < MG_TRACEPARENT_LEN; len++) {
        memcpy(s, TEST_VALUE, MG_TRACEPARENT_LEN);

        if (mg_traceparent_parse(s, len, &tp, &err) == 0) {
            wrong++;
        }

        s[1] = '1';

        if (mg_traceparent_parse(s, len, &tp, &err) == 0) {
            wrong++;
        }
    }

    ok(wrong == 0, "every shorter prefix is invalid, versions 00 and 01");

    /* anything after version 00; after version 01, only from a '-' on */

    wrong = 0;

    for (len = MG_TRACEPARENT_LEN + 1; len < sizeof(s); len++) {
        memcpy(s, TEST_VALUE, MG_TRACEPARENT_LEN);
        memset(s + MG_TRACEPARENT_LEN, '-', len - MG_TRACEPARENT_LEN);

        if (mg_traceparent_parse(s, len, &tp, &err) == 0) {
            wrong++;
        }

        s[1] = '1';

        if (mg_traceparent_parse(s, len, &tp, &err) != 0) {
            wrong++;
        }

        s[MG_TRACEPARENT_LEN] = 'a';

        if (mg_traceparent_parse(s, len, &tp, &err) == 0) {
            wrong++;
        }
    }

    ok(wrong == 0, "longer values: never version 00, version 01 with '-'");

    /* the parser reads no byte beyond len */

    memcpy(s, TEST_VALUE, MG_TRACEPARENT_LEN);
    s[MG_TRACEPARENT_LEN] = 'x';

    ok(mg_traceparent_parse(s, MG_TRACEPARENT_LEN, &tp, &err) == 0,
       "a byte after len is not looked at");

    ok(mg_traceparent_parse(s, MG_TRACEPARENT_LEN, &tp, NULL) == 0
       && mg_traceparent_parse(s, 10, &tp, NULL) == -1,
       "err may be NULL");
}


static void
test_format(void)
{
    unsigned char      buf[MG_TRACEPARENT_LEN + 8], *end;
    unsigned char      zero[MG_TRACE_ID_LEN];
    mg_traceparent_t   tp;

    memset(buf, '#', sizeof(buf));

    end = mg_traceparent_format(buf, test_trace, test_parent, 0x01);

    ok(end == buf + MG_TRACEPARENT_LEN
       && memcmp(buf, TEST_VALUE, MG_TRACEPARENT_LEN) == 0
       && buf[MG_TRACEPARENT_LEN] == '#',
       "format writes the example, 55 characters and no more");

    end = mg_traceparent_format(buf, test_trace, test_parent, 0xa0);

    ok(memcmp(buf + 53, "a0", 2) == 0, "format: flags in lowercase hex");

    ok(mg_traceparent_parse(buf, MG_TRACEPARENT_LEN, &tp, NULL) == 0
       && tp.flags == 0xa0 && tp.version == 0,
       "format's output parses back");

    end = mg_traceparent_hex(buf, (const unsigned char *) "\x00\x09\xab\xff",
                             4);

    ok(end == buf + 8 && memcmp(buf, "0009abff", 8) == 0,
       "hex: lowercase, two digits a byte");

    memset(zero, 0, sizeof(zero));

    ok(mg_traceparent_zero(zero, sizeof(zero)), "zero: 16 zero bytes");

    zero[15] = 1;

    ok(!mg_traceparent_zero(zero, sizeof(zero)), "zero: a last byte of 1");

    zero[15] = 0;
    zero[0] = 0x80;

    ok(!mg_traceparent_zero(zero, sizeof(zero)), "zero: a first byte of 0x80");
}


int
main(void)
{
    test_valid();
    test_invalid();
    test_mutations();
    test_lengths();
    test_format();

    printf("1..%u\n", test_n);

    return test_failed ? 1 : 0;
}
