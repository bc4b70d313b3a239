
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: unit tests of the RESP command encoder and of the reply
 * framing reader (mg_resp.c).  Prints TAP; t/02-resp.t builds and runs
 * it.  What the encoder writes is read back with hiredis's reply reader,
 * the parser the Redis client uses, so the two sides of the protocol are
 * checked against each other; so is every reply the framing reader
 * accepts: hiredis must read it as exactly one reply.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "tap.h"
#include "mg_resp.h"


#define TEST_GUARD  0xa5
#define TEST_ARGS   64




/*
 * Encodes argv into a buffer with guard bytes after the announced size;
 * returns the buffer (malloc'ed) and whether the writer stopped exactly
 * at the size and left the guard alone.
 */

static unsigned char *
encode(size_t argc, const mg_str_t *argv, size_t *len, int *exact)
{
    size_t          size, i;
    unsigned char  *buf, *end;

    size = mg_resp_command_size(argc, argv);

    buf = malloc(size + 16);
    if (buf == NULL) {
        abort();
    }

    memset(buf, TEST_GUARD, size + 16);

    end = mg_resp_command(buf, argc, argv);

    *exact = (size_t) (end - buf) == size;

    for (i = size; i < size + 16; i++) {
        if (buf[i] != TEST_GUARD) {
            *exact = 0;
        }
    }

    *len = size;

    return buf;
}


/* the bytes, read back by hiredis, are exactly the arguments */

static int
parses_back(const unsigned char *buf, size_t len, size_t argc,
    const mg_str_t *argv)
{
    int           rc;
    void         *r;
    size_t        i;
    redisReply   *reply;
    redisReader  *reader;

    reader = redisReaderCreate();
    if (reader == NULL) {
        abort();
    }

    rc = 0;

    if (redisReaderFeed(reader, (const char *) buf, len) != REDIS_OK
        || redisReaderGetReply(reader, &r) != REDIS_OK
        || r == NULL)
    {
        goto done;
    }

    reply = r;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == argc) {
        rc = 1;

        for (i = 0; i < argc; i++) {
            if (reply->element[i]->type != REDIS_REPLY_STRING
                || reply->element[i]->len != argv[i].len
                || (argv[i].len
                    && memcmp(reply->element[i]->str, argv[i].data,
                              argv[i].len) != 0))
            {
                rc = 0;
            }
        }
    }

    freeReplyObject(reply);

    /* nothing may be left over: the size covered the whole command */

    if (redisReaderGetReply(reader, &r) != REDIS_OK || r != NULL) {
        rc = 0;

        if (r) {
            freeReplyObject(r);
        }
    }

done:

    redisReaderFree(reader);

    return rc;
}


static void
command_is(size_t argc, const mg_str_t *argv, const char *expect,
    size_t expect_len, const char *what)
{
    int             exact;
    size_t          len;
    unsigned char  *buf;

    buf = encode(argc, argv, &len, &exact);

    ok(len == expect_len && memcmp(buf, expect, len) == 0,
       "%s: the expected bytes", what);
    ok(exact, "%s: the size is what is written", what);
    ok(parses_back(buf, len, argc, argv), "%s: hiredis reads it back", what);

    free(buf);
}


static void
test_numbers(void)
{
    unsigned char  buf[64], *end;

    ok(mg_resp_array_size(0) == 4, "array of 0: 4 bytes");
    end = mg_resp_array(buf, 0);
    ok(end - buf == 4 && memcmp(buf, "*0\r\n", 4) == 0, "array of 0");

    ok(mg_resp_array_size(9) == 4, "array of 9: 4 bytes");
    ok(mg_resp_array_size(10) == 5, "array of 10: 5 bytes");
    end = mg_resp_array(buf, 10);
    ok(end - buf == 5 && memcmp(buf, "*10\r\n", 5) == 0, "array of 10");

    ok(mg_resp_array_size(99) == 5 && mg_resp_array_size(100) == 6,
       "array sizes around 100");

    /* the largest count has all the digits a size_t can have */

    end = mg_resp_array(buf, (size_t) -1);
    ok((size_t) (end - buf) == mg_resp_array_size((size_t) -1),
       "array of SIZE_MAX: size matches");

    if (sizeof(size_t) == 8) {
        ok(memcmp(buf, "*18446744073709551615\r\n", 23) == 0,
           "array of SIZE_MAX: all 20 digits");

    } else {
        ok(memcmp(buf, "*4294967295\r\n", 13) == 0,
           "array of SIZE_MAX: all 10 digits");
    }

    ok(mg_resp_bulk_size(0) == 6, "empty bulk: 6 bytes");
    end = mg_resp_bulk(buf, NULL, 0);
    ok(end - buf == 6 && memcmp(buf, "$0\r\n\r\n", 6) == 0,
       "empty bulk with no data pointer");

    ok(mg_resp_bulk_size(10) == 17, "bulk of 10: 17 bytes");

    ok(mg_resp_bulk_size((size_t) -1) == 0, "bulk of SIZE_MAX overflows");
    ok(mg_resp_bulk_size((size_t) -1 - 20) == 0,
       "bulk just under SIZE_MAX overflows");
    ok(mg_resp_bulk_size((size_t) -1 - 25) == (size_t) -1,
       "the largest bulk that fits");
}


static void
test_commands(void)
{
    mg_str_t  argv[4];

    static const mg_str_t  set[] = {
        mg_string("SET"), mg_string("key"), mg_string("value")
    };

    static const mg_str_t  binary[] = {
        mg_string("SET"), mg_string("a\r\nb"), mg_string("\0\r\n$5\r\n*")
    };

    static const mg_str_t  empty[] = {
        mg_string("SET"), mg_string(""), mg_string("")
    };

    command_is(3, set, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
               33, "SET key value");

    command_is(3, binary,
               "*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$8\r\n\0\r\n$5\r\n*\r\n",
               37, "binary-safe arguments");

    command_is(3, empty, "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n", 25,
               "empty arguments");

    command_is(0, NULL, "*0\r\n", 4, "no arguments");

    /* sizes past the address space are refused, never wrapped */

    argv[0].data = NULL;
    argv[0].len = (size_t) -1 / 2;
    argv[1].data = NULL;
    argv[1].len = (size_t) -1 / 2;

    ok(mg_resp_command_size(2, argv) == 0, "command size overflow");

    argv[0].len = (size_t) -1;
    ok(mg_resp_command_size(1, argv) == 0, "argument size overflow");
}


/* a fixed pseudo-random sequence, so that failures repeat */

static unsigned long  test_seed = 12345;


static unsigned
test_random(void)
{
    test_seed = test_seed * 1103515245 + 12345;
    return (unsigned) (test_seed >> 16);
}


static void
test_random_commands(void)
{
    int             exact, good;
    size_t          argc, len, i, j;
    mg_str_t        argv[TEST_ARGS];
    unsigned        round, bad;
    unsigned char  *buf, *data;

    bad = 0;

    for (round = 0; round < 2000; round++) {
        argc = test_random() % TEST_ARGS;

        for (i = 0; i < argc; i++) {

            /* mostly short, sometimes long enough for 4 or 5 digits */

            len = test_random() % 4 == 0 ? test_random() % 20000
                                         : test_random() % 16;

            data = malloc(len + 1);
            if (data == NULL) {
                abort();
            }

            for (j = 0; j < len; j++) {
                data[j] = (unsigned char) test_random();
            }

            argv[i].data = data;
            argv[i].len = len;
        }

        buf = encode(argc, argv, &len, &exact);
        good = exact && parses_back(buf, len, argc, argv);

        free(buf);

        for (i = 0; i < argc; i++) {
            free((void *) argv[i].data);
        }

        if (!good) {
            bad++;
        }
    }

    ok(bad == 0, "2000 random commands encode and read back (%u bad)", bad);
}


/*
 * Frames one reply, fed in pieces of the given size (0: whole): the
 * return code of the last call, and how many bytes the reply took.
 */

static int
frame(const char *data, size_t len, const mg_resp_limits_t *limits,
    size_t piece, size_t *taken, mg_resp_reader_t *out)
{
    int               rc;
    size_t            off, n, used;
    mg_resp_reader_t  rd;

    mg_resp_reader_init(&rd, limits);

    rc = MG_RESP_AGAIN;
    *taken = 0;

    for (off = 0; off < len; off += n) {
        n = (piece == 0 || len - off < piece) ? len - off : piece;

        rc = mg_resp_read(&rd, (const unsigned char *) data + off, n, &used);

        *taken = off + used;

        if (rc != MG_RESP_AGAIN) {
            break;
        }

        if (used != n) {
            rc = 99;
            break;
        }
    }

    if (out) {
        *out = rd;
    }

    return rc;
}


/* hiredis reads the bytes as exactly one reply, with nothing left over */

static int
hiredis_one(const char *data, size_t len)
{
    int           rc;
    void         *r;
    redisReader  *reader;

    reader = redisReaderCreate();
    if (reader == NULL) {
        abort();
    }

    rc = 0;

    if (redisReaderFeed(reader, data, len) == REDIS_OK
        && redisReaderGetReply(reader, &r) == REDIS_OK
        && r != NULL)
    {
        freeReplyObject(r);

        rc = redisReaderGetReply(reader, &r) == REDIS_OK && r == NULL;

        if (r) {
            freeReplyObject(r);
        }
    }

    redisReaderFree(reader);

    return rc;
}


static const mg_resp_limits_t  test_wide = { 4096, 16, 2 };


/* a reply that must be accepted whole, in any pieces, and that hiredis reads */

static void
reply_ok(const char *data, size_t len, const mg_resp_limits_t *limits,
    const char *what)
{
    size_t  taken, p, bad;

    static const size_t  pieces[] = { 0, 1, 2, 3, 5 };

    bad = 0;

    for (p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
        if (frame(data, len, limits, pieces[p], &taken, NULL) != MG_RESP_OK
            || taken != len)
        {
            bad++;
        }
    }

    ok(bad == 0, "%s: one reply, in any pieces", what);
    ok(hiredis_one(data, len), "%s: hiredis reads one reply", what);
}


/* a reply refused with the given reason, never past its bad byte */

static void
reply_bad(const char *data, size_t len, const mg_resp_limits_t *limits,
    const char *error, size_t at, const char *what)
{
    int               rc;
    size_t            taken, p, bad;
    mg_resp_reader_t  rd;

    static const size_t  pieces[] = { 0, 1, 4 };

    bad = 0;

    for (p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
        rc = frame(data, len, limits, pieces[p], &taken, &rd);

        if (rc != MG_RESP_ERROR || rd.error == NULL
            || strcmp(rd.error, error) != 0 || taken > at)
        {
            diag("%s, piece %zu: rc %d, error \"%s\", %zu bytes taken",
                 what, pieces[p], rc, rd.error ? rd.error : "", taken);
            bad++;
        }
    }

    ok(bad == 0, "%s: %s, within %zu bytes", what, error, at);
}


#define S(s)  s, sizeof(s) - 1


static void
test_replies(void)
{
    size_t            i, len, taken, used;
    char              buf[8192];
    mg_resp_reader_t  rd;
    mg_resp_limits_t  limits;

    static const char  row[] = "*2\r\n:1\r\n:2\r\n+OK\r\n$1\r\nx\r\n";

    static const mg_resp_limits_t  flat = { 4096, 2, 1 };
    static const mg_resp_limits_t  scalar = { 4096, 0, 0 };
    static const mg_resp_limits_t  deep = { 1 << 20, 100, 100 };

    reply_ok(S("+OK\r\n"), &scalar, "status");
    reply_ok(S("-ERR no such thing\r\n"), &scalar, "error");
    reply_ok(S("+\r\n"), &scalar, "empty status");
    reply_ok(S(":0\r\n"), &scalar, "integer 0");
    reply_ok(S(":-1\r\n"), &scalar, "integer -1");
    reply_ok(S(":9223372036854775807\r\n"), &scalar, "integer 2^63 - 1");
    reply_ok(S(":-9223372036854775808\r\n"), &scalar, "integer -2^63");
    reply_ok(S("$3\r\na\r\n\r\n"), &scalar, "bulk string with CRLF in it");
    reply_ok(S("$0\r\n\r\n"), &scalar, "empty bulk string");
    reply_ok(S("$-1\r\n"), &scalar, "nil bulk string");
    reply_ok(S("*-1\r\n"), &flat, "nil array");
    reply_ok(S("*0\r\n"), &flat, "empty array");
    reply_ok(S("*2\r\n:1\r\n:120000\r\n"), &flat, "limit_redis's answer");
    reply_ok(S("*2\r\n-WRONGTYPE Operation\r\n:0\r\n"), &flat,
             "an error in an array");
    reply_ok(S("*2\r\n*2\r\n:1\r\n$1\r\nx\r\n*0\r\n"), &test_wide,
             "nested arrays");
    reply_ok(S("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"), &deep,
             "seven levels, the most");

    /* the bounds */

    reply_bad(S("*10000000\r\n:1\r\n"), &flat, "too many array elements",
              11, "*10000000 for a reply of 2");
    frame(S("*10000000\r\n"), &flat, 0, &taken, &rd);
    ok(rd.bound && rd.value == 10000000 && rd.max == 2,
       "... says what was announced and what is allowed");
    reply_bad(S("*2147483647\r\n"), &flat, "too many array elements", 13,
              "*2147483647");
    reply_bad(S("*3\r\n:1\r\n"), &flat, "too many array elements", 4,
              "one element too many");
    reply_bad(S("$2000000000\r\nxxxx"), &scalar, "bulk string too long", 13,
              "$2000000000, before any of its bytes");
    frame(S("$2000000000\r\n"), &scalar, 0, &taken, &rd);
    ok(rd.bound && rd.value == 2000000000 && rd.max == 4096 - 13 - 2,
       "... says what was announced and what is left");

    /* a bulk string that fills the reply's bytes, and one byte more */

    memcpy(buf, "$4087\r\n", 7);
    memset(buf + 7, 'b', 4087);
    memcpy(buf + 7 + 4087, "\r\n", 2);
    reply_ok(buf, 4096, &scalar, "$4087: 4096 bytes in all");
    buf[4] = '8';
    reply_bad(buf, 4096, &scalar, "bulk string too long", 7, "$4088");
    reply_bad(S("*1\r\n:1\r\n"), &scalar, "arrays nested too deep", 1,
              "an array where none is expected");
    reply_bad(S("*1\r\n*0\r\n"), &flat, "arrays nested too deep", 5,
              "an empty array one level too deep");
    reply_bad(S("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n"),
              &deep, "arrays nested too deep", 29,
              "eight levels, even if the limits say 100");

    /* a line without an end is bounded by the reply's size */

    memset(buf, 'a', sizeof(buf));
    buf[0] = '-';
    reply_bad(buf, sizeof(buf), &scalar, "reply too long", 4097,
              "an error line that never ends");
    frame(buf, sizeof(buf), &scalar, 0, &taken, &rd);
    ok(rd.bound && rd.value == 4097 && rd.max == 4096,
       "... says how long the reply is allowed to be");

    /* exactly at the size: a bulk string that fills it */

    limits.size = 19;
    limits.elements = 0;
    limits.depth = 0;
    reply_ok(S("$12\r\n0123456789ab\r\n"), &limits,
             "a reply of exactly its size");
    reply_bad(S("$13\r\n0123456789abc\r\n"), &limits, "bulk string too long",
              5, "one byte over");
    limits.size = 5;
    reply_ok(S("+OK\r\n"), &limits, "a status of exactly its size");
    reply_bad(S("+OKK\r\n"), &limits, "reply too long", 6, "a status one over");

    /* not RESP2, or not as Redis writes it */

    reply_bad(S("HELLO I AM NOT REDIS\r\n"), &test_wide,
              "unknown reply type", 1, "garbage");
    reply_bad(S("_\r\n"), &test_wide, "unknown reply type", 1, "RESP3 null");
    reply_bad(S("%1\r\n+a\r\n+b\r\n"), &test_wide, "unknown reply type", 1,
              "RESP3 map");
    reply_bad(S(":01\r\n"), &test_wide, "bad number", 3, "leading zero");
    reply_bad(S(":-0\r\n"), &test_wide, "bad number", 3, "minus zero");
    reply_bad(S(":+1\r\n"), &test_wide, "bad number", 2, "plus sign");
    reply_bad(S(":\r\n"), &test_wide, "bad number", 2, "no digits");
    reply_bad(S(":1 \r\n"), &test_wide, "bad number", 3, "a space");
    reply_bad(S(":9223372036854775808\r\n"), &test_wide, "number out of range",
              20, "2^63");
    reply_bad(S(":-9223372036854775809\r\n"), &test_wide,
              "number out of range", 21, "-2^63 - 1");
    reply_bad(S(":99999999999999999999999\r\n"), &test_wide,
              "number out of range", 20, "more digits than any integer");
    reply_bad(S("$-2\r\n"), &test_wide, "bad length", 5, "$-2");
    reply_bad(S("*-5\r\n"), &test_wide, "bad length", 5, "*-5");
    reply_bad(S("$3\r\nabcd\r\n"), &test_wide,
              "bulk string longer than announced", 8,
              "bulk longer than its length");
    reply_bad(S("$3\r\nab\r\n"), &test_wide,
              "bulk string longer than announced", 9,
              "bulk shorter than its length");
    reply_bad(S("+a\nb\r\n"), &test_wide, "LF in a simple string", 3,
              "bare LF");
    reply_bad(S("+a\rb\r\n"), &test_wide, "CR without LF", 4, "bare CR");
    reply_bad(S(":1\r:"), &test_wide, "CR without LF", 4, "number, bare CR");

    /* after an error, every call says the same */

    mg_resp_reader_init(&rd, &scalar);
    (void) mg_resp_read(&rd, (const unsigned char *) "x", 1, &used);
    ok(mg_resp_read(&rd, (const unsigned char *) "+OK\r\n", 5, &used)
       == MG_RESP_ERROR && used == 0,
       "a reader that failed stays failed");
    ok(mg_resp_read(&rd, NULL, 0, &used) == MG_RESP_ERROR,
       "... even with no bytes");

    /* replies in a row: each ends where it ends, the next one starts anew */

    mg_resp_reader_init(&rd, &flat);
    len = sizeof(row) - 1;
    taken = 0;

    for (i = 0; i < 3; i++) {
        if (mg_resp_read(&rd, (const unsigned char *) row + taken,
                         len - taken, &used)
            != MG_RESP_OK)
        {
            break;
        }

        taken += used;
    }

    ok(i == 3 && taken == len, "three replies in a row, each found");

    /* limits wider than hiredis reads are narrowed */

    limits.size = (size_t) -1;
    limits.elements = (size_t) -1;
    limits.depth = 1000;
    mg_resp_reader_init(&rd, &limits);
    ok(rd.limits.depth == MG_RESP_MAX_DEPTH
       && rd.limits.elements == 0x7fffffff,
       "limits are narrowed to what hiredis reads");
    reply_bad(S("$536870913\r\n"), &limits, "bulk string too long", 12,
              "a bulk string over 512 MB, whatever the size");
}


/*
 * Random replies within random bounds, and random bytes: what the framing
 * reader accepts, hiredis reads as one reply, and what it refuses it
 * refuses before reading past the bad byte.
 */

static size_t
random_reply(char *buf, size_t room, unsigned depth, unsigned max_depth)
{
    size_t    n, i, len, at;
    unsigned  kind;

    if (room < 64) {
        return 0;
    }

    kind = test_random() % (depth < max_depth ? 6 : 5);

    switch (kind) {

    case 0:
        return snprintf(buf, room, "+OK\r\n");

    case 1:
        return snprintf(buf, room, "-ERR e%u\r\n", test_random() % 1000);

    case 2:
        return snprintf(buf, room, ":%ld\r\n",
                        (long) test_random() - 16384);

    case 3:
        len = test_random() % 40;
        at = snprintf(buf, room, "$%zu\r\n", len);
        for (i = 0; i < len; i++) {
            buf[at++] = (char) test_random();
        }
        buf[at++] = '\r';
        buf[at++] = '\n';
        return at;

    case 4:
        return snprintf(buf, room, test_random() % 2 ? "$-1\r\n" : "*-1\r\n");

    default:
        n = test_random() % 5;
        at = snprintf(buf, room, "*%zu\r\n", n);

        for (i = 0; i < n; i++) {
            len = random_reply(buf + at, room - at, depth + 1, max_depth);
            if (len == 0) {
                return 0;
            }

            at += len;
        }

        return at;
    }
}


static void
test_random_replies(void)
{
    int               rc, one;
    char              buf[4096];
    size_t            len, taken, i;
    unsigned          round, accepted, refused, disagree;
    mg_resp_limits_t  limits;

    accepted = 0;
    refused = 0;
    disagree = 0;

    for (round = 0; round < 20000; round++) {
        len = random_reply(buf, sizeof(buf), 0, 3);
        if (len == 0) {
            continue;
        }

        /* now and then a byte goes wrong */

        if (test_random() % 3 == 0) {
            i = test_random() % len;
            buf[i] = "\r\n*$:+-0123456789x"[test_random() % 19];
        }

        limits.size = 8 + test_random() % 200;
        limits.elements = test_random() % 6;
        limits.depth = test_random() % 4;

        rc = frame(buf, len, &limits, 1 + test_random() % 7, &taken, NULL);

        if (rc == MG_RESP_OK) {
            accepted++;

            /* the reply found must be what hiredis reads as one */

            one = hiredis_one(buf, taken);

            if (!one) {
                diag("round %u: accepted %zu bytes hiredis does not read",
                     round, taken);
                disagree++;
            }

        } else if (rc == MG_RESP_ERROR) {
            refused++;
        }
    }

    ok(disagree == 0 && accepted > 1000 && refused > 1000,
       "random replies: %u accepted, all read by hiredis; %u refused",
       accepted, refused);
}


int
main(void)
{
    test_numbers();
    test_commands();
    test_random_commands();
    test_replies();
    test_random_replies();

    printf("1..%u\n", test_n);

    return test_failed ? 1 : 0;
}
