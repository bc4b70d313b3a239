
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: JWS compact serialization of a JWT, see mg_jwt.h.
 */


#include "mg_base64url.h"
#include "mg_jwt.h"


/* "none" written with every character escaped is 26 bytes with quotes */
#define MG_JWT_ALG_MAX       32


static int mg_jwt_json(mg_json_t *json, const unsigned char *data,
    size_t len, mg_allocator_t *a);
static const char *mg_jwt_ctl(const mg_json_t *json);
static int mg_jwt_string_ctl(const unsigned char *p,
    const unsigned char *last);
static size_t mg_jwt_list_escape(unsigned char *p, size_t n);
static int mg_jwt_header(mg_jwt_t *jwt, mg_allocator_t *a,
    const char **err);
static int mg_jwt_time(const mg_json_t *json, const char *name,
    double *value);


/* indexed by mg_jwt_alg_e */
static const mg_str_t  mg_jwt_algs[] = {
    { NULL, 0 },
    mg_string("HS256"),
    mg_string("HS384"),
    mg_string("HS512"),
    mg_string("RS256"),
    mg_string("RS384"),
    mg_string("RS512"),
    mg_string("PS256"),
    mg_string("PS384"),
    mg_string("PS512"),
    mg_string("ES256"),
    mg_string("ES384"),
    mg_string("ES512"),
    mg_string("EdDSA")
};


int
mg_jwt_parse(mg_jwt_t *jwt, const unsigned char *token, size_t len,
    mg_allocator_t *a, const char **err)
{
    int             rc;
    size_t          i, n, dot[2], hlen, plen;
    unsigned char  *buf, *header, *payload;

    memset(jwt, 0, sizeof(mg_jwt_t));

    if (len > MG_JWT_MAX_TOKEN) {
        *err = "token too long";
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (n < 2) {
                dot[n] = i;
            }

            n++;
        }
    }

    if (n == 4) {
        *err = "encrypted tokens are not supported";
        return -1;
    }

    if (n != 2) {
        *err = "malformed token: expected three segments";
        return -1;
    }

    /*
     * A segment of n characters decodes to 3 * n / 4 bytes, rounded down,
     * even when it turns out malformed, so the three fit in what len would
     * decode to.
     */

    buf = mg_alloc(a, mg_base64url_decoded_size(len));
    if (buf == NULL) {
        *err = "out of memory";
        return -1;
    }

    header = buf;

    if (mg_base64url_decode(header, &hlen, token, dot[0]) != 0) {
        *err = "bad base64url in header";
        return -1;
    }

    payload = header + hlen;

    if (mg_base64url_decode(payload, &plen, token + dot[0] + 1,
                            dot[1] - dot[0] - 1)
        != 0)
    {
        *err = "bad base64url in payload";
        return -1;
    }

    jwt->signature = payload + plen;

    if (mg_base64url_decode(jwt->signature, &jwt->signature_len,
                            token + dot[1] + 1, len - dot[1] - 1)
        != 0)
    {
        *err = "bad base64url in signature";
        return -1;
    }

    jwt->token.data = token;
    jwt->token.len = len;
    jwt->signing_input.data = token;
    jwt->signing_input.len = dot[1];

    rc = mg_jwt_json(&jwt->header, header, hlen, a);

    if (rc != 0) {
        *err = (rc == -2) ? "duplicate member name in header"
                          : "header is not valid JSON";
        return -1;
    }

    if (jwt->header.toks[0].type != MG_JSON_OBJECT) {
        *err = "header is not a JSON object";
        return -1;
    }

    if (mg_jwt_header(jwt, a, err) != 0) {
        return -1;
    }

    /*
     * Only now, so that a token that dropped its signature to go with
     * alg "none" is logged as such.
     */

    if (jwt->signature_len == 0) {
        *err = "missing signature";
        return -1;
    }

    rc = mg_jwt_json(&jwt->payload, payload, plen, a);

    if (rc != 0) {
        *err = (rc == -2) ? "duplicate member name in claims set"
                          : "claims set is not valid JSON";
        return -1;
    }

    if (jwt->payload.toks[0].type != MG_JSON_OBJECT) {
        *err = "claims set is not a JSON object";
        return -1;
    }

    /* claims end up in headers and logs: no way to split a line there */

    *err = mg_jwt_ctl(&jwt->payload);

    if (*err != NULL) {
        return -1;
    }

    rc = mg_jwt_time(&jwt->payload, "exp", &jwt->exp);

    if (rc == -1) {
        *err = "exp is not a number";
        return -1;
    }

    jwt->has_exp = rc;

    rc = mg_jwt_time(&jwt->payload, "nbf", &jwt->nbf);

    if (rc == -1) {
        *err = "nbf is not a number";
        return -1;
    }

    jwt->has_nbf = rc;

    return 0;
}


/*
 * Returns 0, -2 for a duplicate member name, -1 for any other error.  No
 * text of len bytes holds more than len / 2 + 1 values, so max_toks never
 * rejects a valid one.
 */

static int
mg_jwt_json(mg_json_t *json, const unsigned char *data, size_t len,
    mg_allocator_t *a)
{
    const char  *err;

    if (mg_json_parse(json, data, len, MG_JSON_UNIQUE_KEYS,
                      (uint32_t) (len / 2 + 1), MG_JWT_MAX_DEPTH, a, &err)
        == 0)
    {
        return 0;
    }

    return (strcmp(err, "duplicate member name") == 0) ? -2 : -1;
}


/*
 * Returns why a string of the header or claims set cannot be handed out,
 * or NULL.  No header value may carry a control character other than HT
 * (RFC 9110, section 5.5), and proxies and backends differ in what they
 * make of one, so every string is checked, member names and the strings
 * inside objects and arrays too: $jwt_payload shows them all.  The
 * tokenizer flags CR, LF and NUL; the other control characters are looked
 * for here.
 */

static const char *
mg_jwt_ctl(const mg_json_t *json)
{
    uint32_t              i;
    const char           *err;
    const mg_json_tok_t  *t;

    err = NULL;

    for (i = 0; i < json->ntoks; i++) {
        t = &json->toks[i];

        if (t->flags & MG_JSON_CTL) {
            return "claim or header value contains CR, LF or NUL";
        }

        if (err == NULL
            && t->type == MG_JSON_STRING
            && mg_jwt_string_ctl(json->buf + t->start + 1,
                                 json->buf + t->end - 1))
        {
            err = "claim or header value contains a control character";
        }
    }

    return err;
}


/*
 * The text between a string's quotes, which the tokenizer has found valid:
 * raw bytes below 0x20 are not there, escapes are complete.  DEL may be
 * raw, the others come as \b, \f, \n, \r or \u00XX.
 */

static int
mg_jwt_string_ctl(const unsigned char *p, const unsigned char *last)
{
    size_t         k;
    uint32_t       cp;
    unsigned char  c;

    while (p < last) {

        if (*p == 0x7f) {
            return 1;
        }

        if (*p++ != '\\') {
            continue;
        }

        switch (*p++) {

        case 'b':
        case 'f':
        case 'n':
        case 'r':
            return 1;

        case 'u':
            cp = 0;

            for (k = 0; k < 4; k++) {
                c = *p++;
                cp = cp * 16 + ((c <= '9') ? c - '0' : (c | 0x20) - 'a' + 10);
            }

            if ((cp < 0x20 && cp != '\t') || cp == 0x7f) {
                return 1;
            }

            break;

        default:
            break;
        }
    }

    return 0;
}


/*
 * jku, x5u, jwk and x5c are never looked at: keys come from configuration
 * only, never from the token they would vouch for.
 */

static int
mg_jwt_header(mg_jwt_t *jwt, mg_allocator_t *a, const char **err)
{
    size_t                n;
    int32_t               k;
    unsigned char        *kid, name[MG_JWT_ALG_MAX];
    const mg_json_t      *h;
    const mg_json_tok_t  *t;

    h = &jwt->header;

    *err = mg_jwt_ctl(h);

    if (*err != NULL) {
        return -1;
    }

    k = mg_json_object_get(h, 0, (const unsigned char *) "alg", 3);

    if (k < 0) {
        *err = "missing alg";
        return -1;
    }

    t = &h->toks[k];

    if (t->type != MG_JSON_STRING) {
        *err = "alg is not a string";
        return -1;
    }

    if (t->end - t->start > MG_JWT_ALG_MAX) {
        *err = "unsupported alg";
        return -1;
    }

    n = mg_json_string(h, k, name);

    /* RFC 7518 names are case-sensitive, but "NoNe" is still an attack */

    if (n == 4
        && (name[0] | 0x20) == 'n' && (name[1] | 0x20) == 'o'
        && (name[2] | 0x20) == 'n' && (name[3] | 0x20) == 'e')
    {
        *err = "alg \"none\" is not allowed";
        return -1;
    }

    jwt->alg = mg_jwt_alg_by_name(name, n);

    if (jwt->alg == MG_JWT_ALG_UNKNOWN) {
        *err = "unsupported alg";
        return -1;
    }

    /*
     * RFC 7515 section 4.1.11: a recipient must reject a token whose crit
     * names an extension it does not understand, and we understand none.
     * A malformed crit is an error anyway.
     */

    if (mg_json_object_get(h, 0, (const unsigned char *) "crit", 4) >= 0) {
        *err = "unsupported critical header parameter";
        return -1;
    }

    k = mg_json_object_get(h, 0, (const unsigned char *) "kid", 3);

    if (k >= 0) {
        t = &h->toks[k];

        if (t->type != MG_JSON_STRING) {
            *err = "kid is not a string";
            return -1;
        }

        kid = mg_alloc(a, t->end - t->start);
        if (kid == NULL) {
            *err = "out of memory";
            return -1;
        }

        jwt->kid.len = mg_json_string(h, k, kid);
        jwt->kid.data = kid;
    }

    return 0;
}


/* returns 1 and sets *value, 0 if the claim is absent, -1 if malformed */

static int
mg_jwt_time(const mg_json_t *json, const char *name, double *value)
{
    int32_t  k;

    k = mg_json_object_get(json, 0, (const unsigned char *) name,
                           strlen(name));

    if (k < 0) {
        return 0;
    }

    if (mg_json_number(json, k, value) != 0) {
        return -1;
    }

    return 1;
}


mg_jwt_alg_e
mg_jwt_alg_by_name(const unsigned char *name, size_t len)
{
    size_t  i;

    for (i = 1; i < sizeof(mg_jwt_algs) / sizeof(mg_str_t); i++) {
        if (mg_jwt_algs[i].len == len
            && memcmp(mg_jwt_algs[i].data, name, len) == 0)
        {
            return (mg_jwt_alg_e) i;
        }
    }

    return MG_JWT_ALG_UNKNOWN;
}


const char *
mg_jwt_alg_name(mg_jwt_alg_e alg)
{
    if ((size_t) alg == 0
        || (size_t) alg >= sizeof(mg_jwt_algs) / sizeof(mg_str_t))
    {
        return NULL;
    }

    return (const char *) mg_jwt_algs[alg].data;
}


int32_t
mg_jwt_lookup(const mg_json_t *json, const mg_str_t *path, size_t npath)
{
    size_t   i;
    int32_t  k;

    if (json->ntoks == 0) {
        return -1;
    }

    k = 0;

    for (i = 0; i < npath; i++) {
        k = mg_json_object_get(json, (uint32_t) k, path[i].data,
                               path[i].len);
        if (k < 0) {
            return -1;
        }
    }

    return k;
}


/*
 * An array's elements are joined by ",", and each element's own "," and
 * "%" are written as %2C and %25: "team,admin" inside an array cannot
 * pass for two elements, and a map or regex that splits the list at
 * commas sees each element exactly once.  Elements without either
 * character look as they do in NGINX Plus ("admin,dev").
 *
 * The room this takes (mg_jwt_value_size()):
 *
 *   - a string unescapes to at most end - start - 2 bytes (see
 *     mg_json_string()), a number, true or false is copied as is, null
 *     gives nothing, and compact JSON only ever drops bytes;
 *   - so each element of an array is rendered in at most its own length,
 *     and the n - 1 commas that join n elements are matched one for one by
 *     the commas of the array text, which also has its two brackets;
 *   - a "," or "%" in a rendered element comes from the same byte in the
 *     token, or from a \u escape of six bytes that the three of %2C or
 *     %25 fit in: two more bytes for each "," and "%" of the array's text
 *     are enough.
 */

size_t
mg_jwt_value(const mg_json_t *json, uint32_t i, unsigned char *dst)
{
    size_t                n;
    uint32_t              k, e;
    unsigned char        *d;
    const mg_json_tok_t  *t;

    if (i >= json->ntoks) {
        return 0;
    }

    t = &json->toks[i];

    switch (t->type) {

    case MG_JSON_OBJECT:
        return mg_json_compact(json, i, dst);

    case MG_JSON_ARRAY:
        break;

    case MG_JSON_STRING:
        return mg_json_string(json, i, dst);

    case MG_JSON_NULL:
        return 0;

    default:
        n = t->end - t->start;
        memcpy(dst, json->buf + t->start, n);
        return n;
    }

    d = dst;
    k = i + 1;

    for (e = 0; e < t->size; e++) {
        if (e) {
            *d++ = ',';
        }

        if (json->toks[k].type == MG_JSON_ARRAY) {
            n = mg_json_compact(json, k, d);

        } else {
            n = mg_jwt_value(json, k, d);
        }

        d += mg_jwt_list_escape(d, n);

        k = json->toks[k].next;
    }

    return d - dst;
}


size_t
mg_jwt_value_size(const mg_json_t *json, uint32_t i)
{
    size_t                n;
    const unsigned char  *p, *last;
    const mg_json_tok_t  *t;

    if (i >= json->ntoks) {
        return 0;
    }

    t = &json->toks[i];
    n = t->end - t->start;

    if (t->type != MG_JSON_ARRAY) {
        return n;
    }

    last = json->buf + t->end;

    for (p = json->buf + t->start; p < last; p++) {
        if (*p == ',' || *p == '%') {
            n += 2;
        }
    }

    return n;
}


/* escapes the n bytes at p in place, from the end; returns the new length */

static size_t
mg_jwt_list_escape(unsigned char *p, size_t n)
{
    size_t          m, i;
    unsigned char  *d;

    m = n;

    for (i = 0; i < n; i++) {
        if (p[i] == ',' || p[i] == '%') {
            m += 2;
        }
    }

    if (m == n) {
        return n;
    }

    d = p + m;

    while (n) {
        n--;

        switch (p[n]) {

        case ',':
            *--d = 'C';
            *--d = '2';
            *--d = '%';
            break;

        case '%':
            *--d = '5';
            *--d = '2';
            *--d = '%';
            break;

        default:
            *--d = p[n];
        }
    }

    return m;
}
