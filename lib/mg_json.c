
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: a strict RFC 8259 JSON tokenizer, see mg_json.h.
 */


#include <float.h>
#include <stdlib.h>

#include "mg_json.h"


/* the longest number text mg_json_number() converts, see mg_json.h */
#define MG_JSON_NUMBER_MAX   255

/* objects with fewer members are checked for duplicates pairwise */
#define MG_JSON_SORT_MIN     16


typedef enum {
    mg_json_sw_value = 0,
    mg_json_sw_first_value,
    mg_json_sw_key,
    mg_json_sw_first_key,
    mg_json_sw_colon,
    mg_json_sw_after
} mg_json_state_e;


/*
 * Tokens are written through toks[i & mask]: when validating, toks is one
 * scratch token and mask 0, so that both modes run the same code.
 */

typedef struct {
    mg_json_t            *json;
    size_t                pos;
    mg_json_tok_t        *toks;
    uint32_t              mask;
    uint32_t              max_toks;
    uint32_t             *stack;    /* open containers' tokens */
    uint8_t              *types;    /* and their types */
    mg_json_tok_t         scratch;
    unsigned              bounded;  /* max_toks is the bound from len */
    unsigned              depth;
    unsigned              max_depth;
    mg_allocator_t       *alloc;
    const char           *err;
} mg_json_parser_t;


/* a cursor over the unescaped bytes of a string token */
typedef struct {
    const unsigned char  *pos;
    const unsigned char  *last;
    unsigned char         out[4];
    unsigned              n;
    unsigned              i;
} mg_json_unescape_t;


static uint32_t mg_json_count(const unsigned char *buf, size_t len);
static int mg_json_token(mg_json_parser_t *p, mg_json_type_e type);
static int mg_json_push(mg_json_parser_t *p, mg_json_type_e type);
static void mg_json_pop(mg_json_parser_t *p);
static int mg_json_scalar(mg_json_parser_t *p, unsigned char c);
static int mg_json_parse_string(mg_json_parser_t *p);
static int mg_json_parse_number(mg_json_parser_t *p);
static int mg_json_parse_literal(mg_json_parser_t *p, const char *word,
    size_t len);
static size_t mg_json_utf8_check(const unsigned char *s,
    const unsigned char *last);
static int32_t mg_json_hex4(const unsigned char *s);
static const unsigned char *mg_json_escape(const unsigned char *s,
    uint32_t *cp);
static size_t mg_json_utf8(unsigned char *dst, uint32_t cp);
static void mg_json_unescape_init(mg_json_unescape_t *u,
    const mg_json_t *json, uint32_t i);
static int mg_json_unescape_next(mg_json_unescape_t *u);
static int mg_json_check_keys(mg_json_parser_t *p, uint32_t obj);
static int mg_json_key_cmp(const mg_json_t *json, uint32_t a, uint32_t b);
static void mg_json_sort_keys(const mg_json_t *json, uint32_t *keys,
    uint32_t n);
static void mg_json_sift(const mg_json_t *json, uint32_t *keys,
    uint32_t root, uint32_t n);


#define mg_json_space(c)                                                     \
    ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

#define mg_json_digit(c)     ((c) >= '0' && (c) <= '9')

#define mg_json_tok(p, i)    (&(p)->toks[(i) & (p)->mask])


int
mg_json_parse(mg_json_t *json, const unsigned char *buf, size_t len,
    unsigned options, uint32_t max_toks, unsigned max_depth,
    mg_allocator_t *a, const char **err)
{
    size_t            size;
    uint32_t          bound, count, top;
    unsigned          validate;
    unsigned char     c;
    mg_json_type_e    type;
    mg_json_state_e   state;
    mg_json_parser_t  p;

    json->buf = buf;
    json->len = len;
    json->toks = NULL;
    json->ntoks = 0;
    json->error_pos = 0;

    validate = (options & MG_JSON_VALIDATE) ? 1 : 0;

    if (validate && (options & MG_JSON_UNIQUE_KEYS)) {
        *err = "duplicate member names cannot be found without tokens";
        return -1;
    }

    /* offsets are uint32_t, and len / 2 + 1 tokens must fit int32_t */

    if (len > 0xffffffff - 1) {
        *err = "JSON text too long";
        return -1;
    }

    /*
     * Every token but the first owns a byte of its own and is paid for by
     * one more: a separator before it or, for the first child, the closing
     * bracket of its container ("[1,2]": 3 tokens, 5 bytes).  Hence
     * 2 * ntoks - 1 <= len, and a valid text never has more tokens.
     *
     * Most texts have far fewer (a long string is one token), and at that
     * bound the tokens would take ten times the text: what is allocated
     * is what a first pass counts.
     */

    bound = (uint32_t) (len / 2 + 1);

    if (!validate) {
        count = mg_json_count(buf, len);

        if (count < bound) {
            bound = count;
        }
    }

    p.bounded = (max_toks >= bound);

    if (p.bounded) {
        max_toks = bound;
    }

    /* each open container is a token, so the stack never outgrows them */

    if (max_depth > max_toks) {
        max_depth = max_toks;
    }

    p.json = json;
    p.pos = 0;
    p.toks = &p.scratch;
    p.mask = 0;
    p.max_toks = max_toks;
    p.stack = NULL;
    p.types = NULL;
    p.depth = 0;
    p.max_depth = max_depth;
    p.alloc = a;
    p.err = NULL;

    /* only a 32-bit size_t can overflow here */

    size = (size_t) max_toks * sizeof(mg_json_tok_t);

    if (size / sizeof(mg_json_tok_t) != max_toks) {
        *err = "JSON text too long";
        goto failed;
    }

    if (max_toks && !validate) {
        json->toks = mg_alloc(a, size);
        if (json->toks == NULL) {
            *err = "out of memory";
            goto failed;
        }

        p.toks = json->toks;
        p.mask = 0xffffffff;
    }

    if (max_depth) {
        p.stack = mg_alloc(a, max_depth * (sizeof(uint32_t) + 1));
        if (p.stack == NULL) {
            *err = "out of memory";
            goto failed;
        }

        p.types = (uint8_t *) (p.stack + max_depth);
    }

    state = mg_json_sw_value;

    for ( ;; ) {

        while (p.pos < len && mg_json_space(buf[p.pos])) {
            p.pos++;
        }

        if (p.pos == len) {
            if (state == mg_json_sw_after && p.depth == 0) {
                return 0;
            }

            *err = "invalid JSON: unexpected end of input";
            goto failed;
        }

        c = buf[p.pos];

        switch (state) {

        case mg_json_sw_first_key:
            if (c == '}') {
                mg_json_pop(&p);
                state = mg_json_sw_after;
                break;
            }

            /* fall through */

        case mg_json_sw_key:
            if (c != '"') {
                *err = "invalid JSON: expected member name";
                goto failed;
            }

            mg_json_tok(&p, p.stack[p.depth - 1])->size++;

            if (mg_json_scalar(&p, c) != 0) {
                *err = p.err;
                goto failed;
            }

            state = mg_json_sw_colon;
            break;

        case mg_json_sw_colon:
            if (c != ':') {
                *err = "invalid JSON: expected \":\"";
                goto failed;
            }

            p.pos++;
            state = mg_json_sw_value;
            break;

        case mg_json_sw_first_value:
            if (c == ']') {
                mg_json_pop(&p);
                state = mg_json_sw_after;
                break;
            }

            /* fall through */

        case mg_json_sw_value:
            if (p.depth && p.types[p.depth - 1] == MG_JSON_ARRAY) {
                mg_json_tok(&p, p.stack[p.depth - 1])->size++;
            }

            if (c == '{' || c == '[') {
                type = (c == '{') ? MG_JSON_OBJECT : MG_JSON_ARRAY;

                if (mg_json_token(&p, type) != 0
                    || mg_json_push(&p, type) != 0)
                {
                    *err = p.err;
                    goto failed;
                }

                p.pos++;
                state = (c == '{') ? mg_json_sw_first_key
                                   : mg_json_sw_first_value;
                break;
            }

            if (mg_json_scalar(&p, c) != 0) {
                *err = p.err;
                goto failed;
            }

            state = mg_json_sw_after;
            break;

        case mg_json_sw_after:
            if (p.depth == 0) {
                *err = "trailing data after JSON value";
                goto failed;
            }

            top = p.stack[p.depth - 1];

            if (p.types[p.depth - 1] == MG_JSON_OBJECT) {

                if (c == ',') {
                    p.pos++;
                    state = mg_json_sw_key;
                    break;
                }

                if (c == '}') {
                    mg_json_pop(&p);

                    if ((options & MG_JSON_UNIQUE_KEYS)
                        && mg_json_check_keys(&p, top) != 0)
                    {
                        *err = p.err;
                        goto failed;
                    }

                    break;
                }

                *err = "invalid JSON: expected \",\" or \"}\"";
                goto failed;
            }

            if (c == ',') {
                p.pos++;
                state = mg_json_sw_value;
                break;
            }

            if (c == ']') {
                mg_json_pop(&p);
                break;
            }

            *err = "invalid JSON: expected \",\" or \"]\"";
            goto failed;
        }
    }

failed:

    json->error_pos = p.pos;

    return -1;
}


/*
 * An upper bound of the tokens of a text, exact for a valid one: one for
 * each string, each opening bracket, and each run of other bytes outside
 * strings (a number or a literal).  The parser makes a token nowhere
 * else, and up to where it stops it sees strings where this pass does
 * (a backslash escapes the byte after it for both, and nothing a string
 * may hold ends one), so it never needs more tokens than counted, valid
 * text or not.
 */

static uint32_t
mg_json_count(const unsigned char *buf, size_t len)
{
    uint32_t              n;
    unsigned char         c;
    const unsigned char  *s, *q, *b, *last;

    n = 0;
    s = buf;
    last = buf + len;

    while (s < last) {
        c = *s++;

        switch (c) {

        case '"':
            n++;

            /* the string ends at a quote after an even run of backslashes */

            for ( ;; ) {
                q = memchr(s, '"', last - s);

                if (q == NULL) {
                    s = last;
                    break;
                }

                for (b = q; b > s && b[-1] == '\\'; b--) { /* void */ }

                s = q + 1;

                if ((q - b) % 2 == 0) {
                    break;
                }
            }

            break;

        case '{':
        case '[':
            n++;
            break;

        case '}':
        case ']':
        case ',':
        case ':':
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            break;

        default:
            n++;

            while (s < last) {
                c = *s;

                if (c == '"' || c == '{' || c == '}' || c == '[' || c == ']'
                    || c == ',' || c == ':' || mg_json_space(c))
                {
                    break;
                }

                s++;
            }

            break;
        }
    }

    return n;
}


static int
mg_json_token(mg_json_parser_t *p, mg_json_type_e type)
{
    mg_json_tok_t  *t;

    if (p->json->ntoks == p->max_toks) {

        /* no valid text of this length has that many values */

        p->err = p->bounded ? "invalid JSON: truncated or malformed text"
                            : "too many JSON values";
        return -1;
    }

    t = mg_json_tok(p, p->json->ntoks++);

    t->start = (uint32_t) p->pos;
    t->end = (uint32_t) p->pos;
    t->size = 0;
    t->next = p->json->ntoks;
    t->type = (uint8_t) type;
    t->flags = 0;

    return 0;
}


static int
mg_json_push(mg_json_parser_t *p, mg_json_type_e type)
{
    if (p->depth == p->max_depth) {
        p->err = "nesting too deep";
        return -1;
    }

    p->stack[p->depth] = p->json->ntoks - 1;
    p->types[p->depth] = (uint8_t) type;
    p->depth++;

    return 0;
}


/* closes the innermost container at the bracket under p->pos */

static void
mg_json_pop(mg_json_parser_t *p)
{
    mg_json_tok_t  *t;

    t = mg_json_tok(p, p->stack[--p->depth]);

    p->pos++;
    t->end = (uint32_t) p->pos;
    t->next = p->json->ntoks;
}


static int
mg_json_scalar(mg_json_parser_t *p, unsigned char c)
{
    int  rc;

    switch (c) {

    case '"':
        if (mg_json_token(p, MG_JSON_STRING) != 0) {
            return -1;
        }

        rc = mg_json_parse_string(p);
        break;

    case 't':
        if (mg_json_token(p, MG_JSON_TRUE) != 0) {
            return -1;
        }

        rc = mg_json_parse_literal(p, "true", 4);
        break;

    case 'f':
        if (mg_json_token(p, MG_JSON_FALSE) != 0) {
            return -1;
        }

        rc = mg_json_parse_literal(p, "false", 5);
        break;

    case 'n':
        if (mg_json_token(p, MG_JSON_NULL) != 0) {
            return -1;
        }

        rc = mg_json_parse_literal(p, "null", 4);
        break;

    default:
        if (c != '-' && !mg_json_digit(c)) {
            p->err = "invalid JSON: unexpected character";
            return -1;
        }

        if (mg_json_token(p, MG_JSON_NUMBER) != 0) {
            return -1;
        }

        rc = mg_json_parse_number(p);
        break;
    }

    if (rc != 0) {
        return -1;
    }

    mg_json_tok(p, p->json->ntoks - 1)->end = (uint32_t) p->pos;

    return 0;
}


static int
mg_json_parse_string(mg_json_parser_t *p)
{
    size_t                n;
    int32_t               cp, lo;
    unsigned char         c;
    mg_json_tok_t        *t;
    const unsigned char  *s, *last;

    t = mg_json_tok(p, p->json->ntoks - 1);
    s = p->json->buf + p->pos + 1;
    last = p->json->buf + p->json->len;

    while (s < last) {
        c = *s;

        if (c == '"') {
            p->pos = s + 1 - p->json->buf;
            return 0;
        }

        if (c < 0x20) {
            p->err = "invalid JSON: control character in string";
            goto failed;
        }

        if (c >= 0x80) {
            n = mg_json_utf8_check(s, last);
            if (n == 0) {
                p->err = "invalid UTF-8 in string";
                goto failed;
            }

            s += n;
            continue;
        }

        if (c != '\\') {
            s++;
            continue;
        }

        t->flags |= MG_JSON_ESCAPED;

        if (last - s < 2) {
            break;
        }

        switch (s[1]) {

        case 'n':
        case 'r':
            t->flags |= MG_JSON_CTL;

            /* fall through */

        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 't':
            s += 2;
            continue;

        case 'u':
            break;

        default:
            p->err = "invalid JSON: bad escape in string";
            goto failed;
        }

        if (last - s < 6 || (cp = mg_json_hex4(s + 2)) < 0) {
            p->err = "invalid JSON: bad \\u escape in string";
            goto failed;
        }

        s += 6;

        if (cp >= 0xdc00 && cp <= 0xdfff) {
            p->err = "invalid JSON: unpaired surrogate in string";
            goto failed;
        }

        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (last - s < 6 || s[0] != '\\' || s[1] != 'u'
                || (lo = mg_json_hex4(s + 2)) < 0xdc00 || lo > 0xdfff)
            {
                p->err = "invalid JSON: unpaired surrogate in string";
                goto failed;
            }

            s += 6;
        }

        if (cp == 0 || cp == '\n' || cp == '\r') {
            t->flags |= MG_JSON_CTL;
        }
    }

    p->err = "invalid JSON: unterminated string";

failed:

    /* where the string goes wrong, for the caller's message */

    p->pos = s - p->json->buf;

    return -1;
}


/* RFC 8259 section 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */

static int
mg_json_parse_number(mg_json_parser_t *p)
{
    const unsigned char  *s, *last;

    s = p->json->buf + p->pos;
    last = p->json->buf + p->json->len;

    if (*s == '-') {
        s++;
    }

    if (s == last || !mg_json_digit(*s)) {
        goto invalid;
    }

    if (*s++ == '0') {
        if (s < last && mg_json_digit(*s)) {
            goto invalid;
        }

    } else {
        while (s < last && mg_json_digit(*s)) {
            s++;
        }
    }

    if (s < last && *s == '.') {
        s++;

        if (s == last || !mg_json_digit(*s)) {
            goto invalid;
        }

        while (s < last && mg_json_digit(*s)) {
            s++;
        }
    }

    if (s < last && (*s == 'e' || *s == 'E')) {
        s++;

        if (s < last && (*s == '+' || *s == '-')) {
            s++;
        }

        if (s == last || !mg_json_digit(*s)) {
            goto invalid;
        }

        while (s < last && mg_json_digit(*s)) {
            s++;
        }
    }

    p->pos = s - p->json->buf;

    return 0;

invalid:

    p->err = "invalid JSON: bad number";
    return -1;
}


static int
mg_json_parse_literal(mg_json_parser_t *p, const char *word, size_t len)
{
    if (p->json->len - p->pos < len
        || memcmp(p->json->buf + p->pos, word, len) != 0)
    {
        p->err = "invalid JSON: unexpected character";
        return -1;
    }

    p->pos += len;

    return 0;
}


/*
 * Returns the length of the UTF-8 sequence at s, or 0 if it is not the
 * shortest form of a scalar value (RFC 3629 section 4): the ranges of the
 * second byte rule out overlongs, surrogates and what lies past U+10FFFF.
 */

static size_t
mg_json_utf8_check(const unsigned char *s, const unsigned char *last)
{
    size_t         n, i;
    unsigned char  c, lo, hi;

    c = s[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if ((size_t) (last - s) < n || s[1] < lo || s[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
    }

    return n;
}


static int32_t
mg_json_hex4(const unsigned char *s)
{
    int32_t        v;
    unsigned       i;
    unsigned char  c;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = s[i];

        if (mg_json_digit(c)) {
            c -= '0';

        } else {
            c |= 0x20;

            if (c < 'a' || c > 'f') {
                return -1;
            }

            c -= 'a' - 10;
        }

        v = v << 4 | c;
    }

    return v;
}


/*
 * Decodes the escape at s, which the parser has validated: a high
 * surrogate is always followed by a low one.  Returns what follows it.
 */

static const unsigned char *
mg_json_escape(const unsigned char *s, uint32_t *cp)
{
    switch (s[1]) {

    case 'b':
        *cp = '\b';
        return s + 2;

    case 'f':
        *cp = '\f';
        return s + 2;

    case 'n':
        *cp = '\n';
        return s + 2;

    case 'r':
        *cp = '\r';
        return s + 2;

    case 't':
        *cp = '\t';
        return s + 2;

    case 'u':
        *cp = (uint32_t) mg_json_hex4(s + 2);

        if (*cp >= 0xd800 && *cp <= 0xdbff) {
            *cp = 0x10000 + ((*cp - 0xd800) << 10)
                  + ((uint32_t) mg_json_hex4(s + 8) - 0xdc00);
            return s + 12;
        }

        return s + 6;

    default:
        *cp = s[1];
        return s + 2;
    }
}


static size_t
mg_json_utf8(unsigned char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (unsigned char) cp;
        return 1;
    }

    if (cp < 0x800) {
        dst[0] = (unsigned char) (0xc0 | cp >> 6);
        dst[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        dst[0] = (unsigned char) (0xe0 | cp >> 12);
        dst[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
        dst[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }

    dst[0] = (unsigned char) (0xf0 | cp >> 18);
    dst[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3f));
    dst[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
    dst[3] = (unsigned char) (0x80 | (cp & 0x3f));
    return 4;
}


static void
mg_json_unescape_init(mg_json_unescape_t *u, const mg_json_t *json,
    uint32_t i)
{
    u->pos = json->buf + json->toks[i].start + 1;
    u->last = json->buf + json->toks[i].end - 1;
    u->n = 0;
    u->i = 0;
}


/* returns the next unescaped byte, or -1 at the end of the string */

static int
mg_json_unescape_next(mg_json_unescape_t *u)
{
    uint32_t  cp;

    if (u->i < u->n) {
        return u->out[u->i++];
    }

    if (u->pos >= u->last) {
        return -1;
    }

    if (*u->pos != '\\') {
        return *u->pos++;
    }

    u->pos = mg_json_escape(u->pos, &cp);
    u->n = (unsigned) mg_json_utf8(u->out, cp);
    u->i = 1;

    return u->out[0];
}


/*
 * Objects are small in practice, but the members of one come from the
 * client, so big ones are sorted: n log n comparisons, not n * n.
 */

static int
mg_json_check_keys(mg_json_parser_t *p, uint32_t obj)
{
    uint32_t          n, i, j, k;
    uint32_t         *keys, local[MG_JSON_SORT_MIN];
    const mg_json_t  *json;

    json = p->json;
    n = json->toks[obj].size;

    if (n < 2) {
        return 0;
    }

    if (n < MG_JSON_SORT_MIN) {
        keys = local;

    } else {
        keys = mg_alloc(p->alloc, n * sizeof(uint32_t));
        if (keys == NULL) {
            p->err = "out of memory";
            return -1;
        }
    }

    k = obj + 1;

    for (i = 0; i < n; i++) {
        keys[i] = k;
        k = json->toks[k + 1].next;
    }

    if (n < MG_JSON_SORT_MIN) {
        for (i = 0; i < n; i++) {
            for (j = i + 1; j < n; j++) {
                if (mg_json_key_cmp(json, keys[i], keys[j]) == 0) {
                    goto duplicate;
                }
            }
        }

        return 0;
    }

    mg_json_sort_keys(json, keys, n);

    for (i = 1; i < n; i++) {
        if (mg_json_key_cmp(json, keys[i - 1], keys[i]) == 0) {
            goto duplicate;
        }
    }

    return 0;

duplicate:

    p->err = "duplicate member name";
    return -1;
}


/* orders string tokens by their unescaped bytes */

static int
mg_json_key_cmp(const mg_json_t *json, uint32_t a, uint32_t b)
{
    int                   ca, cb;
    size_t                la, lb;
    mg_json_unescape_t    ua, ub;
    const mg_json_tok_t  *ta, *tb;

    ta = &json->toks[a];
    tb = &json->toks[b];

    if (!((ta->flags | tb->flags) & MG_JSON_ESCAPED)) {
        la = ta->end - ta->start - 2;
        lb = tb->end - tb->start - 2;

        ca = memcmp(json->buf + ta->start + 1, json->buf + tb->start + 1,
                    la < lb ? la : lb);
        if (ca != 0) {
            return ca;
        }

        return (la > lb) - (la < lb);
    }

    mg_json_unescape_init(&ua, json, a);
    mg_json_unescape_init(&ub, json, b);

    do {
        ca = mg_json_unescape_next(&ua);
        cb = mg_json_unescape_next(&ub);

    } while (ca == cb && ca != -1);

    return ca - cb;
}


/* heapsort: no recursion and no scratch memory */

static void
mg_json_sort_keys(const mg_json_t *json, uint32_t *keys, uint32_t n)
{
    uint32_t  i, tmp;

    for (i = n / 2; i-- > 0; /* void */) {
        mg_json_sift(json, keys, i, n);
    }

    for (i = n - 1; i > 0; i--) {
        tmp = keys[0];
        keys[0] = keys[i];
        keys[i] = tmp;

        mg_json_sift(json, keys, 0, i);
    }
}


static void
mg_json_sift(const mg_json_t *json, uint32_t *keys, uint32_t root,
    uint32_t n)
{
    uint32_t  child, tmp;

    for ( ;; ) {
        child = 2 * root + 1;

        if (child >= n) {
            return;
        }

        if (child + 1 < n
            && mg_json_key_cmp(json, keys[child], keys[child + 1]) < 0)
        {
            child++;
        }

        if (mg_json_key_cmp(json, keys[root], keys[child]) >= 0) {
            return;
        }

        tmp = keys[root];
        keys[root] = keys[child];
        keys[child] = tmp;

        root = child;
    }
}


int32_t
mg_json_object_get(const mg_json_t *json, uint32_t obj,
    const unsigned char *name, size_t len)
{
    uint32_t  n, k;

    if (obj >= json->ntoks || json->toks[obj].type != MG_JSON_OBJECT) {
        return -1;
    }

    k = obj + 1;

    for (n = json->toks[obj].size; n; n--) {
        if (mg_json_string_eq(json, k, name, len)) {
            return (int32_t) (k + 1);
        }

        k = json->toks[k + 1].next;
    }

    return -1;
}


size_t
mg_json_string(const mg_json_t *json, uint32_t i, unsigned char *dst)
{
    uint32_t              cp;
    unsigned char        *d;
    const mg_json_tok_t  *t;
    const unsigned char  *s, *last;

    if (i >= json->ntoks || json->toks[i].type != MG_JSON_STRING) {
        return 0;
    }

    t = &json->toks[i];
    s = json->buf + t->start + 1;
    last = json->buf + t->end - 1;

    if (!(t->flags & MG_JSON_ESCAPED)) {
        memcpy(dst, s, last - s);
        return last - s;
    }

    /*
     * Every escape is at least as long as what it stands for: 2 bytes for
     * 1, "\uXXXX" (6) for up to 3 bytes, a surrogate pair (12) for 4.
     */

    d = dst;

    while (s < last) {
        if (*s != '\\') {
            *d++ = *s++;
            continue;
        }

        s = mg_json_escape(s, &cp);
        d += mg_json_utf8(d, cp);
    }

    return d - dst;
}


int
mg_json_string_eq(const mg_json_t *json, uint32_t i,
    const unsigned char *s, size_t len)
{
    int                   c;
    size_t                n;
    mg_json_unescape_t    u;
    const mg_json_tok_t  *t;

    if (i >= json->ntoks || json->toks[i].type != MG_JSON_STRING) {
        return 0;
    }

    t = &json->toks[i];
    n = t->end - t->start - 2;

    if (!(t->flags & MG_JSON_ESCAPED)) {
        return n == len && memcmp(json->buf + t->start + 1, s, len) == 0;
    }

    /* unescaping never makes a string longer */

    if (len > n) {
        return 0;
    }

    mg_json_unescape_init(&u, json, i);

    for (n = 0; /* void */; n++) {
        c = mg_json_unescape_next(&u);

        if (c == -1) {
            return n == len;
        }

        if (n == len || c != s[n]) {
            return 0;
        }
    }
}


/*
 * strtod() needs a terminated string, hence the copy; it is also bound
 * by the locale, which nginx leaves as "C".
 */

int
mg_json_number(const mg_json_t *json, uint32_t i, double *value)
{
    char                  text[MG_JSON_NUMBER_MAX + 1];
    double                v;
    size_t                n;
    const mg_json_tok_t  *t;

    if (i >= json->ntoks || json->toks[i].type != MG_JSON_NUMBER) {
        return -1;
    }

    t = &json->toks[i];
    n = t->end - t->start;

    if (n > MG_JSON_NUMBER_MAX) {
        return -1;
    }

    memcpy(text, json->buf + t->start, n);
    text[n] = '\0';

    v = strtod(text, NULL);

    if (v > DBL_MAX || v < -DBL_MAX) {
        return -1;
    }

    *value = v;

    return 0;
}


/*
 * Outside strings a valid text holds nothing but tokens, punctuation and
 * white space, so dropping the white space is all there is to it.  Inside
 * a string a backslash always escapes the next byte.
 */

size_t
mg_json_compact(const mg_json_t *json, uint32_t i, unsigned char *dst)
{
    unsigned char        *d, c;
    const unsigned char  *s, *last;

    if (i >= json->ntoks) {
        return 0;
    }

    s = json->buf + json->toks[i].start;
    last = json->buf + json->toks[i].end;
    d = dst;

    while (s < last) {
        c = *s++;

        if (mg_json_space(c)) {
            continue;
        }

        *d++ = c;

        if (c != '"') {
            continue;
        }

        while (s < last) {
            c = *s++;
            *d++ = c;

            if (c == '"') {
                break;
            }

            if (c == '\\' && s < last) {
                *d++ = *s++;
            }
        }
    }

    return d - dst;
}
