
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: a reader of HTTP/1.x responses, for the health checks.
 *
 * The head (status line and header fields) is parsed from a buffer that
 * holds everything received so far: the caller appends what it reads and
 * calls mg_http_parse_response() again until it stops answering
 * MG_HTTP_AGAIN.  The search for the end of the head resumes where the
 * previous call stopped, so a server that sends its head byte by byte
 * costs linear time.  Interim responses (1xx) are skipped: what is
 * reported is the final response, and head_len covers the interim heads.
 * Field names and values point into the buffer.
 *
 * A chunked body is decoded by mg_http_parse_chunked(), which keeps its
 * state between calls and writes the data into a caller's buffer, up to
 * its size: a caller that needs only the first bytes of a body stops
 * there.
 *
 * Bare LF is accepted as a line end, as nginx does.  A response that
 * nginx's upstream module would refuse (a field without a name, a NUL
 * byte, obsolete line folding, conflicting lengths, a transfer coding
 * other than chunked) is an error here too.  Nothing here allocates.
 */


#ifndef _MG_HTTP_H_INCLUDED_
#define _MG_HTTP_H_INCLUDED_


#include "mg_common.h"


#define MG_HTTP_OK          0
#define MG_HTTP_AGAIN       1
#define MG_HTTP_ERROR      -1

/* a chunk size needs at most this many hexadecimal digits (2^60) */
#define MG_HTTP_CHUNK_DIGITS  15


typedef struct {
    mg_str_t                   name;
    mg_str_t                   value;       /* without surrounding blanks */
} mg_http_header_t;


typedef struct {
    /* the caller's array of fields */
    mg_http_header_t          *headers;
    size_t                     max_headers;

    /* the final response, once MG_HTTP_OK is returned */
    unsigned                   status;
    unsigned                   version;      /* 10 or 11 */
    size_t                     nheaders;
    size_t                     head_len;     /* where the body starts */
    uint64_t                   content_length;

    unsigned                   has_length:1; /* content_length is valid */
    unsigned                   chunked:1;

    /* a short reason when MG_HTTP_ERROR is returned */
    const char                *error;

    /*
     * where the current head starts, where its last incomplete line
     * starts, and how far that line has been searched for its end
     */
    size_t                     start;
    size_t                     line;
    size_t                     scanned;
} mg_http_response_t;


typedef struct {
    uint64_t                   size;        /* left in the current chunk */
    unsigned                   state;
    unsigned                   digits;
    const char                *error;
} mg_http_chunked_t;


void mg_http_response_init(mg_http_response_t *r, mg_http_header_t *headers,
    size_t max_headers);

/*
 * buf holds the first len bytes of the response (the same bytes as at the
 * previous call, and possibly more).  MG_HTTP_AGAIN: the head is not
 * complete yet; MG_HTTP_OK: the fields of r describe the final response;
 * MG_HTTP_ERROR: r->error says why the response cannot be read.
 */
int mg_http_parse_response(mg_http_response_t *r, const unsigned char *buf,
    size_t len);

/* the first field named name (case-insensitively) from *i on, or NULL */
const mg_http_header_t *mg_http_find_header(const mg_http_response_t *r,
    const unsigned char *name, size_t len, size_t *i);

void mg_http_chunked_init(mg_http_chunked_t *ch);

/*
 * Decodes the chunked body from *pos up to end, appending the data to
 * out at *out_len, and moves *pos past what it took.  It stops when the
 * input is used up or out is full (*out_len == out_size) with
 * MG_HTTP_AGAIN, and after the last chunk and the trailer with MG_HTTP_OK;
 * MG_HTTP_ERROR: ch->error says what is wrong.
 */
int mg_http_parse_chunked(mg_http_chunked_t *ch, const unsigned char **pos,
    const unsigned char *end, unsigned char *out, size_t *out_len,
    size_t out_size);


#endif /* _MG_HTTP_H_INCLUDED_ */
