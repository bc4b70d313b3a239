
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the RESP encoding of Redis commands, and the framing of the
 * replies, within bounds.
 *
 * A command is an array of binary-safe bulk strings,
 * "*<argc>\r\n" then "$<len>\r\n<bytes>\r\n" for each argument.  The
 * functions come in pairs: *_size() gives the exact number of bytes the
 * writer will produce, so that a caller can reserve room once (in a
 * connection's output buffer) and write without further checks.
 *
 * A reply is read by hiredis's reply reader, which believes what a header
 * announces: "*10000000" makes it allocate ten million element pointers at
 * once, "$2000000000" makes it keep everything that arrives until two
 * gigabytes have.  So the bytes from the network go through
 * mg_resp_read() first, which finds where each reply ends, checks every
 * header against the bounds of the command that the reply answers, before
 * any of it is believed, and keeps nothing but a few counters.  What it
 * accepts is a reply that hiredis reads as exactly one reply (RESP2, with
 * integers written as Redis writes them); anything else, over a bound or
 * not RESP2, is an error, and the caller drops the connection.  Nothing
 * here allocates.
 */


#ifndef _MG_RESP_H_INCLUDED_
#define _MG_RESP_H_INCLUDED_


#include "mg_common.h"


/* "*<n>\r\n" */
size_t mg_resp_array_size(size_t n);
unsigned char *mg_resp_array(unsigned char *dst, size_t n);

/* "$<len>\r\n<data>\r\n"; the size is 0 if it does not fit in size_t */
size_t mg_resp_bulk_size(size_t len);
unsigned char *mg_resp_bulk(unsigned char *dst, const unsigned char *data,
    size_t len);

/*
 * A whole command; the size is 0 if it does not fit in size_t (no real
 * command is that large, a valid encoding is never empty).  The writers
 * return the end of what they wrote.
 */
size_t mg_resp_command_size(size_t argc, const mg_str_t *argv);
unsigned char *mg_resp_command(unsigned char *dst, size_t argc,
    const mg_str_t *argv);


#define MG_RESP_OK          0
#define MG_RESP_AGAIN       1
#define MG_RESP_ERROR      -1

/*
 * Arrays within arrays, at most; hiredis 0.14 reads eight levels, and a
 * reader keeps a counter per level.
 */
#define MG_RESP_MAX_DEPTH   7


/*
 * What a reply may be, at most: its bytes, all headers and line ends
 * included (so also each bulk string's length and each error message's),
 * the elements of each array, and the levels of arrays, 0 for a command
 * whose reply is no array, 1 for a flat array.  Larger values are taken
 * as the largest that hiredis reads (MG_RESP_MAX_DEPTH levels, 2^31 - 1
 * elements, 512 MB of bulk string).
 */
typedef struct {
    size_t                     size;
    size_t                     elements;
    unsigned                   depth;
} mg_resp_limits_t;


typedef struct {
    mg_resp_limits_t           limits;

    /* bytes of the reply so far, and of the bulk string being skipped */
    size_t                     size;
    uint64_t                   skip;

    /* elements still to come in each open array, the outermost first */
    uint64_t                   left[MG_RESP_MAX_DEPTH];
    unsigned                   depth;

    /* the line being read: its type byte and number */
    unsigned                   state;
    unsigned char              type;
    unsigned                   negative:1;
    uint64_t                   number;

    /*
     * MG_RESP_ERROR: a short reason; for a bound, what the reply
     * announced (value) and what the limits allow (max)
     */
    const char                *error;
    unsigned                   bound:1;
    uint64_t                   value;
    uint64_t                   max;
} mg_resp_reader_t;


/* starts a reply, to be read within the limits */
void mg_resp_reader_init(mg_resp_reader_t *rd, const mg_resp_limits_t *limits);

/*
 * Reads len bytes of the reply, continuing where the previous call
 * stopped.  MG_RESP_OK: the reply ends after the first *used bytes (the
 * rest belong to the next reply, which needs mg_resp_reader_init() again);
 * MG_RESP_AGAIN: all of them were taken (*used == len) and the reply goes
 * on; MG_RESP_ERROR: rd->error says what is wrong, and every later call
 * says the same.
 */
int mg_resp_read(mg_resp_reader_t *rd, const unsigned char *buf, size_t len,
    size_t *used);


#endif /* _MG_RESP_H_INCLUDED_ */
