
/*
 * meshgate: unit tests of the RESP command encoder (mg_resp.c).  Prints
 * TAP; t/02-resp.t builds and runs it.  What the encoder writes is read
 * back with hiredis's reply reader, the parser the Redis client uses, so
 * the two sides of the protocol are checked against each other.
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


int
main(void)
{
    test_numbers();
    test_commands();
    test_random_commands();

    printf("1..%u\n", test_n);

    return test_failed ? 1 : 0;
}
