
/*
 * meshgate: libFuzzer harness for mg_resp.c and for hiredis's reply reader
 * as the Redis client uses it.
 *
 * 1. Arguments are cut from the input (its first byte is the separator,
 *    so that an argument may hold any other byte), encoded as a command,
 *    and read back with redisReader, fed in pieces of varying size: the
 *    encoder's size must be what it writes, and the reader must find the
 *    same arguments, with nothing left over.
 *
 * 2. The raw input is fed to a reader in pieces, and replies are taken
 *    until there are none or the reader fails, as the client does with
 *    what it receives from Redis; every reply is walked (the client's
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
fuzz_walk(redisReply *reply, unsigned depth)
{
    size_t  i;

    fuzz_assert(depth < 64);

    switch (reply->type) {

    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        fuzz_assert(reply->str != NULL);

        /* the reader terminates strings; callers may rely on it */

        fuzz_assert(reply->str[reply->len] == '\0');
        break;

    case REDIS_REPLY_ARRAY:
        fuzz_assert(reply->elements == 0 || reply->element != NULL);

        for (i = 0; i < reply->elements; i++) {
            fuzz_assert(reply->element[i] != NULL);
            fuzz_walk(reply->element[i], depth + 1);
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


static void
fuzz_replies(const uint8_t *data, size_t size)
{
    void         *r;
    size_t        piece, off, n;
    redisReader  *reader;

    /* the first byte picks how the bytes arrive, as recv() cuts them */

    piece = size ? (size_t) data[0] % 17 + 1 : 1;

    reader = redisReaderCreate();
    fuzz_assert(reader != NULL);

    for (off = 0; off < size; off += n) {
        n = size - off < piece ? size - off : piece;

        fuzz_assert(redisReaderFeed(reader, (const char *) data + off, n)
                    == REDIS_OK);

        for ( ;; ) {
            if (redisReaderGetReply(reader, &r) != REDIS_OK) {

                /* a protocol error: the client drops the connection */

                fuzz_assert(reader->err != 0);
                goto done;
            }

            if (r == NULL) {
                break;
            }

            fuzz_walk(r, 0);
            freeReplyObject(r);
        }
    }

done:

    redisReaderFree(reader);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_roundtrip(data, size);
    fuzz_replies(data, size);

    return 0;
}
