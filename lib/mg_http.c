
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: HTTP/1.x response reader, see mg_http.h.
 */


#include "mg_http.h"


typedef enum {
    MG_HTTP_CHUNK_SIZE_START = 0,
    MG_HTTP_CHUNK_SIZE,
    MG_HTTP_CHUNK_SIZE_BLANK,
    MG_HTTP_CHUNK_EXTENSION,
    MG_HTTP_CHUNK_SIZE_LF,
    MG_HTTP_CHUNK_DATA,
    MG_HTTP_CHUNK_DATA_CR,
    MG_HTTP_CHUNK_DATA_LF,
    MG_HTTP_CHUNK_TRAILER_START,
    MG_HTTP_CHUNK_TRAILER,
    MG_HTTP_CHUNK_LAST_LF,
    MG_HTTP_CHUNK_DONE
} mg_http_chunk_state_e;


static int mg_http_parse_head(mg_http_response_t *r, const unsigned char *p,
    const unsigned char *end);
static int mg_http_parse_status_line(mg_http_response_t *r,
    const unsigned char *p, const unsigned char *end);
static int mg_http_parse_field(mg_http_response_t *r, const unsigned char *p,
    const unsigned char *end);
static int mg_http_framing(mg_http_response_t *r, mg_http_header_t *h);
static int mg_http_hex(unsigned char c);
static int mg_http_equal(const mg_str_t *s, const char *lower, size_t len);


/* RFC 9110 tchar: the bytes a field name is made of */

static const unsigned char  mg_http_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1
};


void
mg_http_response_init(mg_http_response_t *r, mg_http_header_t *headers,
    size_t max_headers)
{
    memset(r, 0, sizeof(mg_http_response_t));

    r->headers = headers;
    r->max_headers = max_headers;
}


int
mg_http_parse_response(mg_http_response_t *r, const unsigned char *buf,
    size_t len)
{
    int                   rc;
    size_t                n;
    const unsigned char  *p, *nl, *line, *end;

    if (r->error) {
        return MG_HTTP_ERROR;
    }

    if (r->head_len) {
        return MG_HTTP_OK;
    }

    end = buf + len;

    for ( ;; ) {

        /* not HTTP/1.x at all: no need to wait for the rest */

        n = (size_t) (end - (buf + r->start));

        if (n > sizeof("HTTP/1.") - 1) {
            n = sizeof("HTTP/1.") - 1;
        }

        if (n && memcmp(buf + r->start, "HTTP/1.", n) != 0) {
            r->error = "invalid status line";
            return MG_HTTP_ERROR;
        }

        /*
         * "line" is the start of the line being searched, "scanned" how
         * far the search got: each byte is looked at once however the
         * response is cut.
         */

        line = buf + r->line;
        p = buf + r->scanned;

        for ( ;; ) {
            nl = (p < end) ? memchr(p, '\n', end - p) : NULL;

            if (nl == NULL) {
                r->line = line - buf;
                r->scanned = len;
                return MG_HTTP_AGAIN;
            }

            if (line != buf + r->start
                && (nl == line || (nl == line + 1 && *line == '\r')))
            {
                break;
            }

            line = nl + 1;
            p = line;
        }

        rc = mg_http_parse_head(r, buf + r->start, nl + 1);

        if (rc != MG_HTTP_OK) {
            return rc;
        }

        if (r->status >= 200) {
            r->head_len = nl + 1 - buf;
            return MG_HTTP_OK;
        }

        if (r->status == 101) {
            r->error = "unexpected protocol switch";
            return MG_HTTP_ERROR;
        }

        /* an interim response: the final one follows */

        r->start = nl + 1 - buf;
        r->line = r->start;
        r->scanned = r->start;
        r->nheaders = 0;
        r->content_length = 0;
        r->has_length = 0;
        r->chunked = 0;
    }
}


/* the head from p up to end, which is just past its empty last line */

static int
mg_http_parse_head(mg_http_response_t *r, const unsigned char *p,
    const unsigned char *end)
{
    size_t                i;
    const unsigned char  *nl, *eol;

    nl = memchr(p, '\n', end - p);
    eol = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;

    if (mg_http_parse_status_line(r, p, eol) != MG_HTTP_OK) {
        return MG_HTTP_ERROR;
    }

    for (p = nl + 1; /* void */; p = nl + 1) {
        nl = memchr(p, '\n', end - p);
        eol = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;

        if (eol == p) {
            break;
        }

        if (mg_http_parse_field(r, p, eol) != MG_HTTP_OK) {
            return MG_HTTP_ERROR;
        }
    }

    for (i = 0; i < r->nheaders; i++) {
        if (mg_http_framing(r, &r->headers[i]) != MG_HTTP_OK) {
            return MG_HTTP_ERROR;
        }
    }

    if (r->chunked && r->has_length) {
        r->error = "both Content-Length and Transfer-Encoding";
        return MG_HTTP_ERROR;
    }

    if (r->status == 204 || r->status == 304) {
        r->chunked = 0;
        r->has_length = 1;
        r->content_length = 0;
    }

    return MG_HTTP_OK;
}


/* "HTTP/1.x 200 reason", the line end excluded */

static int
mg_http_parse_status_line(mg_http_response_t *r, const unsigned char *p,
    const unsigned char *end)
{
    unsigned  status;

    if (end - p < 12
        || memcmp(p, "HTTP/", 5) != 0
        || p[5] != '1' || p[6] != '.' || p[7] < '0' || p[7] > '9'
        || p[8] != ' ')
    {
        r->error = "invalid status line";
        return MG_HTTP_ERROR;
    }

    r->version = (p[7] == '0') ? 10 : 11;

    p += 9;

    if (p[0] < '1' || p[0] > '9'
        || p[1] < '0' || p[1] > '9'
        || p[2] < '0' || p[2] > '9')
    {
        r->error = "invalid status code";
        return MG_HTTP_ERROR;
    }

    status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    p += 3;

    if (p < end && *p != ' ') {
        r->error = "invalid status code";
        return MG_HTTP_ERROR;
    }

    /* the reason phrase is not used, but may not hide a line end or NUL */

    for ( /* void */ ; p < end; p++) {
        if (*p == '\r' || *p == '\0') {
            r->error = "invalid status line";
            return MG_HTTP_ERROR;
        }
    }

    r->status = status;

    return MG_HTTP_OK;
}


/* "Name: value", the line end excluded */

static int
mg_http_parse_field(mg_http_response_t *r, const unsigned char *p,
    const unsigned char *end)
{
    mg_http_header_t     *h;
    const unsigned char  *name, *value, *last;

    if (*p == ' ' || *p == '\t') {
        r->error = "obsolete line folding";
        return MG_HTTP_ERROR;
    }

    name = p;

    while (p < end && mg_http_tchar[*p]) {
        p++;
    }

    if (p == end || *p != ':' || p == name) {
        r->error = "invalid header field";
        return MG_HTTP_ERROR;
    }

    if (r->nheaders == r->max_headers) {
        r->error = "too many header fields";
        return MG_HTTP_ERROR;
    }

    h = &r->headers[r->nheaders];

    h->name.data = name;
    h->name.len = p - name;

    for (p++; p < end && (*p == ' ' || *p == '\t'); p++) {
        /* void */
    }

    value = p;
    last = p;

    for ( /* void */ ; p < end; p++) {
        if (*p == '\r' || *p == '\0') {
            r->error = "invalid header field value";
            return MG_HTTP_ERROR;
        }

        if (*p != ' ' && *p != '\t') {
            last = p + 1;
        }
    }

    h->value.data = value;
    h->value.len = last - value;

    r->nheaders++;

    return MG_HTTP_OK;
}


/* Content-Length and Transfer-Encoding: where the body ends */

static int
mg_http_framing(mg_http_response_t *r, mg_http_header_t *h)
{
    size_t    i;
    uint64_t  n;

    if (mg_http_equal(&h->name, "content-length", 14)) {

        if (r->has_length) {
            r->error = "duplicate Content-Length";
            return MG_HTTP_ERROR;
        }

        if (h->value.len == 0 || h->value.len > 18) {
            r->error = "invalid Content-Length";
            return MG_HTTP_ERROR;
        }

        n = 0;

        for (i = 0; i < h->value.len; i++) {
            if (h->value.data[i] < '0' || h->value.data[i] > '9') {
                r->error = "invalid Content-Length";
                return MG_HTTP_ERROR;
            }

            n = n * 10 + (h->value.data[i] - '0');
        }

        r->content_length = n;
        r->has_length = 1;

        return MG_HTTP_OK;
    }

    if (mg_http_equal(&h->name, "transfer-encoding", 17)) {

        if (r->chunked) {
            r->error = "duplicate Transfer-Encoding";
            return MG_HTTP_ERROR;
        }

        if (!mg_http_equal(&h->value, "chunked", 7)) {
            r->error = "unsupported Transfer-Encoding";
            return MG_HTTP_ERROR;
        }

        r->chunked = 1;
    }

    return MG_HTTP_OK;
}


const mg_http_header_t *
mg_http_find_header(const mg_http_response_t *r, const unsigned char *name,
    size_t len, size_t *i)
{
    size_t             j, k;
    unsigned char      a, b;
    mg_http_header_t  *h;

    for (j = *i; j < r->nheaders; j++) {
        h = &r->headers[j];

        if (h->name.len != len) {
            continue;
        }

        for (k = 0; k < len; k++) {
            a = h->name.data[k];
            b = name[k];

            if (a >= 'A' && a <= 'Z') {
                a |= 0x20;
            }

            if (b >= 'A' && b <= 'Z') {
                b |= 0x20;
            }

            if (a != b) {
                break;
            }
        }

        if (k == len) {
            *i = j + 1;
            return h;
        }
    }

    *i = r->nheaders;

    return NULL;
}


void
mg_http_chunked_init(mg_http_chunked_t *ch)
{
    memset(ch, 0, sizeof(mg_http_chunked_t));
}


int
mg_http_parse_chunked(mg_http_chunked_t *ch, const unsigned char **pos,
    const unsigned char *end, unsigned char *out, size_t *out_len,
    size_t out_size)
{
    int                   d;
    size_t                n;
    unsigned char         c;
    const unsigned char  *p;

    if (ch->error) {
        return MG_HTTP_ERROR;
    }

    for (p = *pos; p < end || ch->state == MG_HTTP_CHUNK_DONE; /* void */) {

        switch (ch->state) {

        case MG_HTTP_CHUNK_DATA:

            n = end - p;

            if (n > ch->size) {
                n = (size_t) ch->size;
            }

            if (n > out_size - *out_len) {
                n = out_size - *out_len;
            }

            if (n == 0) {

                /* only when out is full */

                *pos = p;
                return MG_HTTP_AGAIN;
            }

            memcpy(out + *out_len, p, n);
            *out_len += n;
            ch->size -= n;
            p += n;

            if (ch->size == 0) {
                ch->state = MG_HTTP_CHUNK_DATA_CR;
            }

            continue;

        case MG_HTTP_CHUNK_DONE:
            *pos = p;
            return MG_HTTP_OK;

        default:
            break;
        }

        c = *p++;

        switch (ch->state) {

        case MG_HTTP_CHUNK_SIZE_START:
            d = mg_http_hex(c);

            if (d < 0) {
                ch->error = "invalid chunk size";
                goto failed;
            }

            ch->size = d;
            ch->digits = 1;
            ch->state = MG_HTTP_CHUNK_SIZE;
            break;

        case MG_HTTP_CHUNK_SIZE:
            d = mg_http_hex(c);

            if (d >= 0) {
                if (++ch->digits > MG_HTTP_CHUNK_DIGITS) {
                    ch->error = "chunk size too large";
                    goto failed;
                }

                ch->size = ch->size * 16 + d;
                break;
            }

            /* fall through */

        case MG_HTTP_CHUNK_SIZE_BLANK:

            if (c == ' ' || c == '\t') {
                ch->state = MG_HTTP_CHUNK_SIZE_BLANK;

            } else if (c == ';') {
                ch->state = MG_HTTP_CHUNK_EXTENSION;

            } else if (c == '\r') {
                ch->state = MG_HTTP_CHUNK_SIZE_LF;

            } else if (c == '\n') {
                ch->state = ch->size ? MG_HTTP_CHUNK_DATA
                                     : MG_HTTP_CHUNK_TRAILER_START;

            } else {
                ch->error = "invalid chunk size";
                goto failed;
            }

            break;

        case MG_HTTP_CHUNK_EXTENSION:

            if (c == '\r') {
                ch->state = MG_HTTP_CHUNK_SIZE_LF;

            } else if (c == '\n') {
                ch->state = ch->size ? MG_HTTP_CHUNK_DATA
                                     : MG_HTTP_CHUNK_TRAILER_START;

            } else if (c == '\0') {
                ch->error = "invalid chunk extension";
                goto failed;
            }

            break;

        case MG_HTTP_CHUNK_SIZE_LF:

            if (c != '\n') {
                ch->error = "invalid chunk size line";
                goto failed;
            }

            ch->state = ch->size ? MG_HTTP_CHUNK_DATA
                                 : MG_HTTP_CHUNK_TRAILER_START;
            break;

        case MG_HTTP_CHUNK_DATA_CR:

            if (c == '\r') {
                ch->state = MG_HTTP_CHUNK_DATA_LF;

            } else if (c == '\n') {
                ch->state = MG_HTTP_CHUNK_SIZE_START;

            } else {
                ch->error = "no line end after chunk data";
                goto failed;
            }

            break;

        case MG_HTTP_CHUNK_DATA_LF:

            if (c != '\n') {
                ch->error = "no line end after chunk data";
                goto failed;
            }

            ch->state = MG_HTTP_CHUNK_SIZE_START;
            break;

        case MG_HTTP_CHUNK_TRAILER_START:

            if (c == '\r') {
                ch->state = MG_HTTP_CHUNK_LAST_LF;

            } else if (c == '\n') {
                ch->state = MG_HTTP_CHUNK_DONE;

            } else if (c == '\0') {
                ch->error = "invalid trailer";
                goto failed;

            } else {
                ch->state = MG_HTTP_CHUNK_TRAILER;
            }

            break;

        case MG_HTTP_CHUNK_TRAILER:

            if (c == '\n') {
                ch->state = MG_HTTP_CHUNK_TRAILER_START;

            } else if (c == '\0') {
                ch->error = "invalid trailer";
                goto failed;
            }

            break;

        case MG_HTTP_CHUNK_LAST_LF:

            if (c != '\n') {
                ch->error = "invalid end of chunked body";
                goto failed;
            }

            ch->state = MG_HTTP_CHUNK_DONE;
            break;
        }
    }

    *pos = p;

    return MG_HTTP_AGAIN;

failed:

    *pos = p;

    return MG_HTTP_ERROR;
}


static int
mg_http_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* s equals the lowercase string, case-insensitively */

static int
mg_http_equal(const mg_str_t *s, const char *lower, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (s->len != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s->data[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (c != (unsigned char) lower[i]) {
            return 0;
        }
    }

    return 1;
}
