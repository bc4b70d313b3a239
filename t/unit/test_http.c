
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: unit tests of the HTTP response reader (mg_http.c) that the
 * health checks use.  Prints TAP; t/04-http.t builds and runs it.  Every
 * response is read whole and then again byte by byte, the way a slow
 * server would send it, and both readings must agree.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "mg_http.h"


#define TEST_HEADERS  8


typedef struct {
    int                 rc;
    mg_http_response_t  r;
    mg_http_header_t    headers[TEST_HEADERS];
} test_head_t;


/* reads the head of s given all at once (piece 0) or piece bytes a call */

static void
read_head(const char *s, size_t piece, test_head_t *t)
{
    size_t  len, n;

    len = strlen(s);

    mg_http_response_init(&t->r, t->headers, TEST_HEADERS);

    if (piece == 0) {
        t->rc = mg_http_parse_response(&t->r, (const unsigned char *) s, len);
        return;
    }

    t->rc = MG_HTTP_AGAIN;

    for (n = 0; n < len && t->rc == MG_HTTP_AGAIN; /* void */) {
        n = (len - n < piece) ? len : n + piece;
        t->rc = mg_http_parse_response(&t->r, (const unsigned char *) s, n);
    }
}


static int
header_is(test_head_t *t, const char *name, const char *value)
{
    size_t                   i;
    const mg_http_header_t  *h;

    i = 0;
    h = mg_http_find_header(&t->r, (const unsigned char *) name,
                            strlen(name), &i);

    return h != NULL
           && h->value.len == strlen(value)
           && memcmp(h->value.data, value, h->value.len) == 0;
}


static void
head_ok(const char *s, unsigned status, size_t head_len, const char *desc)
{
    size_t       piece;
    test_head_t  t;

    for (piece = 0; piece <= 1; piece++) {
        read_head(s, piece, &t);

        ok(t.rc == MG_HTTP_OK && t.r.status == status
           && t.r.head_len == head_len,
           "%s (%s): status %u, head %zu bytes (got rc %d, %u, %zu%s%s)",
           desc, piece ? "byte by byte" : "whole", status, head_len, t.rc,
           t.r.status, t.r.head_len, t.r.error ? ", " : "",
           t.r.error ? t.r.error : "");
    }
}


static void
head_error(const char *s, const char *error, const char *desc)
{
    size_t       piece;
    test_head_t  t;

    for (piece = 0; piece <= 1; piece++) {
        read_head(s, piece, &t);

        ok(t.rc == MG_HTTP_ERROR && t.r.error != NULL
           && strcmp(t.r.error, error) == 0,
           "%s (%s): error \"%s\" (got rc %d, \"%s\")", desc,
           piece ? "byte by byte" : "whole", error, t.rc,
           t.r.error ? t.r.error : "");
    }
}


static void
head_again(const char *s, const char *desc)
{
    test_head_t  t;

    read_head(s, 0, &t);

    ok(t.rc == MG_HTTP_AGAIN, "%s: incomplete (got rc %d)", desc, t.rc);
}


static void
test_heads(void)
{
    test_head_t  t;

    head_ok("HTTP/1.1 200 OK\r\n\r\n", 200, 19, "minimal head");
    head_ok("HTTP/1.0 500 Internal Server Error\r\nServer: x\r\n\r\nbody",
            500, 49, "head followed by a body");
    head_ok("HTTP/1.1 204\r\n\r\n", 204, 16, "no reason phrase");
    head_ok("HTTP/1.1 301 \r\n\r\n", 301, 17, "empty reason phrase");
    head_ok("HTTP/1.1 200 OK\nA: b\n\n", 200, 22, "bare LF line ends");
    head_ok("HTTP/1.1 200 OK\r\nA: b\n\r\n", 200, 24, "mixed line ends");
    head_ok("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n"
            "\r\nHTTP/1.1 404 Not Found\r\n\r\n", 404, 82,
            "interim responses skipped");
    head_ok("HTTP/1.1 999 Odd\r\n\r\n", 999, 20, "any three-digit status");

    read_head("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
              "X-Empty:\r\nX-Blank:   \t \r\nx-multi: a\r\nX-Multi:  b  \r\n"
              "\r\n", 0, &t);

    ok(t.rc == MG_HTTP_OK && t.r.nheaders == 5, "five fields (got %zu)",
       t.r.nheaders);
    ok(header_is(&t, "content-type", "text/html; charset=utf-8"),
       "field found case-insensitively, value kept as sent");
    ok(header_is(&t, "X-EMPTY", ""), "empty value");
    ok(header_is(&t, "x-blank", ""), "blank value trimmed to empty");
    ok(header_is(&t, "X-Multi", "a"), "first of repeated fields");
    ok(!header_is(&t, "X-Missing", ""), "missing field not found");
    ok(t.r.version == 11, "HTTP/1.1 version");

    {
        size_t                   i;
        const mg_http_header_t  *h;

        i = 0;
        h = mg_http_find_header(&t.r, (const unsigned char *) "x-multi", 7,
                                &i);
        h = mg_http_find_header(&t.r, (const unsigned char *) "x-multi", 7,
                                &i);

        ok(h != NULL && h->value.len == 1 && h->value.data[0] == 'b',
           "second of repeated fields, trailing blanks trimmed");

        h = mg_http_find_header(&t.r, (const unsigned char *) "x-multi", 7,
                                &i);

        ok(h == NULL && i == t.r.nheaders, "no third one");
    }

    read_head("HTTP/1.0 200 OK\r\n\r\n", 0, &t);
    ok(t.r.version == 10, "HTTP/1.0 version");

    head_again("", "empty input");
    head_again("HTTP/1.1 200 OK\r\n", "status line only");
    head_again("HTTP/1.1 200 OK\r\nA: b\r\n\r", "last CR without LF");
    head_again("HTTP/1.1 100 Continue\r\n\r\n", "interim response only");
    head_again("HTT", "start of a status line");
    head_again("HTTP/1.1 20", "status line cut in the code");
    head_again("HTTP/1.1 200 OK\r\nContent-Type: te", "cut in a field");

    head_error("\r\n", "invalid status line",
               "empty first line, nothing after");
    head_error("hello world", "invalid status line",
               "HTTP/0.9 body: known before the line ends");
    head_error("HTTP/2", "invalid status line",
               "HTTP/2: known before the line ends");
    head_error("HTTP/1.1 100 Continue\r\n\r\nICY", "invalid status line",
               "garbage after an interim response");

    head_error("\r\n\r\n", "invalid status line", "empty status line");
    head_error("HTTP/2 200 OK\r\n\r\n", "invalid status line", "HTTP/2");
    head_error("HTTP/1.1 20 OK\r\n\r\n", "invalid status code",
               "two-digit status");
    head_error("HTTP/1.1 2000 OK\r\n\r\n", "invalid status code",
               "four-digit status");
    head_error("HTTP/1.1 099 OK\r\n\r\n", "invalid status code",
               "status below 100");
    head_error("ICY 200 OK\r\n\r\n", "invalid status line", "not HTTP");
    head_error("HTTP/1.1 200 O\rK\r\n\r\n", "invalid status line",
               "CR inside the status line");
    head_error("HTTP/1.1 101 Switching\r\n\r\n", "unexpected protocol switch",
               "101");
    head_error("HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", "invalid header field",
               "field without colon");
    head_error("HTTP/1.1 200 OK\r\n: value\r\n\r\n", "invalid header field",
               "field without name");
    head_error("HTTP/1.1 200 OK\r\nName : value\r\n\r\n",
               "invalid header field", "blank before the colon");
    head_error("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
               "obsolete line folding", "obs-fold");
    head_error("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
               "invalid header field value", "CR inside a value");
    head_error("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"
               "F: 6\r\nG: 7\r\nH: 8\r\nI: 9\r\n\r\n",
               "too many header fields", "more fields than room");

    {
        static const char  nul[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n";

        mg_http_response_init(&t.r, t.headers, TEST_HEADERS);
        t.rc = mg_http_parse_response(&t.r, (const unsigned char *) nul,
                                      sizeof(nul) - 1);

        ok(t.rc == MG_HTTP_ERROR
           && strcmp(t.r.error, "invalid header field value") == 0,
           "NUL inside a value");
    }
}


static void
test_framing(void)
{
    test_head_t  t;

    read_head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", 0, &t);
    ok(t.rc == MG_HTTP_OK && t.r.has_length && t.r.content_length == 12
       && !t.r.chunked, "Content-Length");

    read_head("HTTP/1.1 200 OK\r\n\r\n", 0, &t);
    ok(t.rc == MG_HTTP_OK && !t.r.has_length && !t.r.chunked,
       "no length: body to the end of the connection");

    read_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n", 0, &t);
    ok(t.rc == MG_HTTP_OK && t.r.chunked && !t.r.has_length, "chunked");

    read_head("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
              0, &t);
    ok(t.rc == MG_HTTP_OK && !t.r.chunked && t.r.has_length
       && t.r.content_length == 0, "204 has no body");

    read_head("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", 0,
              &t);
    ok(t.rc == MG_HTTP_OK && t.r.has_length && t.r.content_length == 0,
       "304 has no body");

    read_head("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n",
              0, &t);
    ok(t.rc == MG_HTTP_OK && t.r.content_length == 999999999999999999ULL,
       "eighteen-digit Content-Length");

    head_error("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n"
               "\r\n", "invalid Content-Length", "nineteen-digit length");
    head_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
               "invalid Content-Length", "negative length");
    head_error("HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\n",
               "invalid Content-Length", "length list");
    head_error("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
               "invalid Content-Length", "empty length");
    head_error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 1\r\n"
               "\r\n", "duplicate Content-Length", "two lengths");
    head_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
               "unsupported Transfer-Encoding", "other transfer coding");
    head_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
               "Transfer-Encoding: chunked\r\n\r\n",
               "duplicate Transfer-Encoding", "two transfer codings");
    head_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
               "Content-Length: 3\r\n\r\n",
               "both Content-Length and Transfer-Encoding",
               "length and chunked");
}


/* decodes s in pieces of piece bytes into out (size bytes) */

static int
dechunk(const char *s, size_t piece, unsigned char *out, size_t size,
    size_t *out_len, size_t *used, const char **error)
{
    int                   rc;
    size_t                len, n;
    mg_http_chunked_t     ch;
    const unsigned char  *p, *end;

    mg_http_chunked_init(&ch);

    len = strlen(s);
    *out_len = 0;
    rc = MG_HTTP_AGAIN;
    p = (const unsigned char *) s;

    for (n = 0; rc == MG_HTTP_AGAIN && n < len; /* void */) {
        n = (piece == 0 || len - n < piece) ? len : n + piece;
        end = (const unsigned char *) s + n;

        rc = mg_http_parse_chunked(&ch, &p, end, out, out_len, size);

        if (rc == MG_HTTP_AGAIN && *out_len == size) {
            break;
        }
    }

    *used = p - (const unsigned char *) s;
    *error = ch.error;

    return rc;
}


static void
chunked_ok(const char *s, const char *body, size_t used, const char *desc)
{
    int             rc;
    size_t          piece, out_len, n;
    const char     *error;
    unsigned char   out[256];

    for (piece = 0; piece <= 1; piece++) {
        rc = dechunk(s, piece, out, sizeof(out), &out_len, &n, &error);

        ok(rc == MG_HTTP_OK && out_len == strlen(body)
           && memcmp(out, body, out_len) == 0 && n == used,
           "%s (%s): \"%s\", %zu bytes read (got rc %d, %zu bytes, %zu "
           "read%s%s)", desc, piece ? "byte by byte" : "whole", body, used,
           rc, out_len, n, error ? ", " : "", error ? error : "");
    }
}


static void
chunked_error(const char *s, const char *error, const char *desc)
{
    int             rc;
    size_t          piece, out_len, n;
    const char     *e;
    unsigned char   out[256];

    for (piece = 0; piece <= 1; piece++) {
        rc = dechunk(s, piece, out, sizeof(out), &out_len, &n, &e);

        ok(rc == MG_HTTP_ERROR && e != NULL && strcmp(e, error) == 0,
           "%s (%s): error \"%s\" (got rc %d, \"%s\")", desc,
           piece ? "byte by byte" : "whole", error, rc, e ? e : "");
    }
}


static void
test_chunked(void)
{
    int             rc;
    size_t          out_len, n;
    const char     *error;
    unsigned char   out[8];

    chunked_ok("0\r\n\r\n", "", 5, "empty body");
    chunked_ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nnext", "hello world",
               26, "two chunks, the bytes after the body left alone");
    chunked_ok("A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 20,
               "upper-case hex size");
    chunked_ok("3;name=value\r\nabc\r\n0;x\r\n\r\n", "abc", 26,
               "chunk extensions");
    chunked_ok("3 \t;ext\r\nabc\r\n0\r\n\r\n", "abc", 19,
               "blanks before an extension");
    chunked_ok("3\nabc\n0\n\n", "abc", 9, "bare LF line ends");
    chunked_ok("3\r\nabc\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n", "abc", 35,
               "trailer fields");
    chunked_ok("000003\r\nabc\r\n0\r\n\r\n", "abc", 18, "leading zeros");

    chunked_error("x\r\n", "invalid chunk size", "not a number");
    chunked_error("\r\n", "invalid chunk size", "empty size");
    chunked_error("3x\r\n", "invalid chunk size", "garbage after the size");
    chunked_error("1000000000000000\r\n", "chunk size too large",
                  "sixteen hex digits");
    chunked_error("3\rabc", "invalid chunk size line", "CR without LF");
    chunked_error("3\r\nabcd\r\n", "no line end after chunk data",
                  "chunk longer than its size");
    chunked_error("3\r\nabc\rx", "no line end after chunk data",
                  "CR then garbage after data");
    chunked_error("0\r\n\rx", "invalid end of chunked body",
                  "garbage at the end");

    /* out fills up: the decoder stops in the data and says why */

    rc = dechunk("10\r\n0123456789abcdef\r\n0\r\n\r\n", 0, out, sizeof(out),
                 &out_len, &n, &error);

    ok(rc == MG_HTTP_AGAIN && out_len == 8 && memcmp(out, "01234567", 8) == 0
       && n == 12, "stops when the output is full (rc %d, %zu, %zu)", rc,
       out_len, n);

    rc = dechunk("3\r\nabc\r\n", 0, out, sizeof(out), &out_len, &n, &error);

    ok(rc == MG_HTTP_AGAIN && out_len == 3 && n == 8,
       "incomplete body: more needed");
}


int
main(void)
{
    test_heads();
    test_framing();
    test_chunked();

    printf("1..%u\n", test_n);

    return test_failed ? 1 : 0;
}
