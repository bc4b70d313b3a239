
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_resp.c and for hiredis's reply reader
 * as the Redis client uses it.
 *
 * 1. Arguments are cut from the input (its first byte is the separator,
 *    so that an argument may hold any other byte), encoded as a command,
 *    and read back with redisReader, fed in pieces of varying size: the
 *    encoder's size must be what it writes, and the reader must find the
 *    same arguments, with nothing left over.
 *
 * 2. As the client reads what it receives from Redis: the input, after
 *    five bytes that pick the bounds of the replies and the size of the
 *    pieces, goes through mg_resp_read(), and what it accepts through a
 *    hiredis reader, reply by reply.  When mg_resp_read() finds the end
 *    of a reply, hiredis must read exactly one reply from the same bytes,
 *    within the bounds (no array longer, no deeper, no string larger, no
 *    more bytes); until then, none; hiredis never fails on what
 *    mg_resp_read() accepted; and an error stops the connection before
 *    hiredis sees the bad bytes.  Every reply is walked (the client's
 *    callers read them) and freed.  This needs hiredis (-lhiredis).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "mg_resp.h"

#include "fuzz.h"


#define FUZZ_MAX_ARGS  256
#define FUZZ_GUARD     0x5a


/* piece sizes for feeding: whole, and small enough to split every token */

static const size_t  fuzz_pieces[] = { (size_t) -1, 1, 2, 3, 7, 64 };


static void
fuzz_roundtrip(const uint8_t *data, size_t size)
{
    void            *r;
    size_t           argc, i, len, piece, off, n, p;
    mg_str_t         argv[FUZZ_MAX_ARGS];
    redisReply      *reply;
    redisReader     *reader;
    unsigned char    sep, *buf, *end;
    const uint8_t   *a, *last;

    if (size == 0) {
        return;
    }

    sep = data[0];
    a = data + 1;
    last = data + size;
    argc = 0;

    /* separators split arguments; the last one runs to the end */

    while (argc < FUZZ_MAX_ARGS) {
        end = memchr(a, sep, last - a);

        argv[argc].data = a;
        argv[argc].len = end ? (size_t) (end - a) : (size_t) (last - a);
        argc++;

        if (end == NULL) {
            break;
        }

        a = end + 1;
    }

    len = mg_resp_command_size(argc, argv);
    fuzz_assert(len > 0);

    buf = malloc(len + 8);
    fuzz_assert(buf != NULL);

    memset(buf, FUZZ_GUARD, len + 8);

    end = mg_resp_command(buf, argc, argv);

    fuzz_assert((size_t) (end - buf) == len);

    for (i = len; i < len + 8; i++) {
        fuzz_assert(buf[i] == FUZZ_GUARD);
    }

    for (p = 0; p < sizeof(fuzz_pieces) / sizeof(fuzz_pieces[0]); p++) {
        piece = fuzz_pieces[p];

        reader = redisReaderCreate();
        fuzz_assert(reader != NULL);

        r = NULL;

        for (off = 0; off < len; off += n) {
            n = len - off < piece ? len - off : piece;

            fuzz_assert(redisReaderFeed(reader, (const char *) buf + off, n)
                        == REDIS_OK);

            fuzz_assert(redisReaderGetReply(reader, &r) == REDIS_OK);

            /* a whole command is one reply, complete only at the end */

            fuzz_assert((r != NULL) == (off + n == len));
        }

        reply = r;

        fuzz_assert(reply->type == REDIS_REPLY_ARRAY);
        fuzz_assert(reply->elements == argc);

        for (i = 0; i < argc; i++) {
            fuzz_assert(reply->element[i]->type == REDIS_REPLY_STRING);
            fuzz_assert(reply->element[i]->len == argv[i].len);
            fuzz_assert(argv[i].len == 0
                        || memcmp(reply->element[i]->str, argv[i].data,
                                  argv[i].len) == 0);
        }

        freeReplyObject(reply);

        fuzz_assert(redisReaderGetReply(reader, &r) == REDIS_OK);
        fuzz_assert(r == NULL);

        redisReaderFree(reader);
    }

    free(buf);
}


/* a reply within the bounds it was read with */

static void
fuzz_bounded(redisReply *reply, unsigned depth,
    const mg_resp_limits_t *limits)
{
    size_t  i;

    switch (reply->type) {

    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        fuzz_assert(reply->str != NULL);
        fuzz_assert(reply->str[reply->len] == '\0');
        fuzz_assert(reply->len < limits->size);
        break;

    case REDIS_REPLY_ARRAY:
        fuzz_assert(depth < limits->depth);
        fuzz_assert(reply->elements <= limits->elements);
        fuzz_assert(reply->elements == 0 || reply->element != NULL);

        for (i = 0; i < reply->elements; i++) {
            fuzz_assert(reply->element[i] != NULL);
            fuzz_bounded(reply->element[i], depth + 1, limits);
        }

        break;

    case REDIS_REPLY_INTEGER:
    case REDIS_REPLY_NIL:
        break;

    default:
        abort();
    }
}


static void
fuzz_framed(const uint8_t *data, size_t size)
{
    int                rc;
    void              *r;
    size_t             piece, off, n, left, used, bytes;
    redisReader       *reader;
    const uint8_t     *p;
    mg_resp_limits_t   limits;
    mg_resp_reader_t   rd;

    if (size < 5) {
        return;
    }

    /* depths past MG_RESP_MAX_DEPTH check that they are narrowed */

    limits.size = (size_t) data[0] << 8 | data[1];
    limits.elements = (size_t) data[2] * 4;
    limits.depth = data[3] % (MG_RESP_MAX_DEPTH + 3);
    piece = data[4] % 17 + 1;

    data += 5;
    size -= 5;

    mg_resp_reader_init(&rd, &limits);

    fuzz_assert(rd.limits.depth <= MG_RESP_MAX_DEPTH);

    reader = redisReaderCreate();
    fuzz_assert(reader != NULL);

    bytes = 0;

    for (off = 0; off < size; off += n) {
        n = size - off < piece ? size - off : piece;

        p = data + off;
        left = n;

        while (left) {
            rc = mg_resp_read(&rd, p, left, &used);

            fuzz_assert(used <= left);

            if (rc == MG_RESP_ERROR) {
                fuzz_assert(rd.error != NULL);

                /* the client drops the connection */

                goto done;
            }

            bytes += used;
            fuzz_assert(bytes <= limits.size);

            fuzz_assert(redisReaderFeed(reader, (const char *) p, used)
                        == REDIS_OK);

            p += used;
            left -= used;

            fuzz_assert(redisReaderGetReply(reader, &r) == REDIS_OK);

            if (rc == MG_RESP_AGAIN) {
                fuzz_assert(left == 0);
                fuzz_assert(r == NULL);
                break;
            }

            /* MG_RESP_OK: one reply, all of it, nothing more */

            fuzz_assert(r != NULL);
            fuzz_bounded(r, 0, &rd.limits);
            freeReplyObject(r);

            fuzz_assert(redisReaderGetReply(reader, &r) == REDIS_OK);
            fuzz_assert(r == NULL);
            fuzz_assert(reader->pos == reader->len);

            /* the next reply, as for the next command */

            mg_resp_reader_init(&rd, &limits);
            bytes = 0;
        }
    }

done:

    redisReaderFree(reader);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_roundtrip(data, size);
    fuzz_framed(data, size);

    return 0;
}
