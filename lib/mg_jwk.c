
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037).
 */


#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "mg_base64url.h"
#include "mg_json.h"
#include "mg_jwk.h"


#define MG_JWK_SKIP          -1
#define MG_JWK_NOMEM         -2
#define MG_JWK_WEAK          -3   /* skipped, and weaker than RFC 7518 allows */

#define MG_JWK_REASON_LEN    96

/* shown in skip reasons; longer kids are cut */
#define MG_JWK_KID_SHOWN     32

/*
 * A JWK Set is 3 levels deep, 5 with the "oth" member of a multi-prime
 * RSA private key; deeper nesting has no use but to make a parser work.
 */
#define MG_JWK_MAX_DEPTH     32

/* "EdDSA", the longest name, with every character escaped and quoted */
#define MG_JWK_ALG_MAX       32

/* the longest integer an int64_t may hold: "-" and 19 digits */
#define MG_JWK_INT_MAX_LEN   20

/*
 * OpenSSL refuses to verify with moduli above OPENSSL_RSA_MAX_MODULUS_BITS,
 * so larger keys would only fail later, on every request.  RFC 7518,
 * section 3.3: "A key of size 2048 bits or larger MUST be used".
 */
#define MG_JWK_RSA_MAX_BITS  16384
#define MG_JWK_RSA_MIN_BITS  2048

/* RFC 7518 wants no leading zeros, but some encoders add a few */
#define MG_JWK_RSA_N_SIZE    (MG_JWK_RSA_MAX_BITS / 8 + 16)

/* JOSE libraries cap e well below this; 64 bits is what OpenSSL allows */
#define MG_JWK_RSA_E_MAX     8
#define MG_JWK_RSA_E_SIZE    16

#define MG_JWK_COORD_MAX     66
#define MG_JWK_COORD_SIZE    72


typedef struct {
    const char           *name;
    mg_jwk_crv_e          crv;
    const char           *group;      /* OpenSSL's name */
    size_t                size;       /* bytes of a coordinate */
} mg_jwk_curve_t;


/* the key being read */
typedef struct {
    const mg_json_t      *json;
    uint32_t              jwk;        /* its token */
    mg_allocator_t       *alloc;      /* what the set keeps */
    mg_allocator_t       *scratch;    /* what serves the parse only */
    char                  reason[MG_JWK_REASON_LEN];  /* why it is skipped */
} mg_jwk_ctx_t;


static void mg_jwk_where(const unsigned char *data, size_t pos,
    size_t *line, size_t *column);
static const char *mg_jwk_check_values(const mg_json_t *json);
static int mg_jwk_has_nul(const mg_json_t *json, uint32_t i);
static int mg_jwk_number_fits(const mg_json_t *json, uint32_t i);
static int mg_jwk_parse_key(mg_jwk_t *key, mg_jwk_ctx_t *ctx);
static int mg_jwk_fits_type(const mg_jwk_t *key, mg_jwt_alg_e alg);
static size_t mg_jwk_hmac_size(mg_jwt_alg_e alg);
static int mg_jwk_oct(mg_jwk_t *key, mg_jwk_ctx_t *ctx);
static int mg_jwk_rsa(mg_jwk_t *key, mg_jwk_ctx_t *ctx);
static int mg_jwk_ec(mg_jwk_t *key, mg_jwk_ctx_t *ctx);
static int mg_jwk_okp(mg_jwk_t *key, mg_jwk_ctx_t *ctx);
static int mg_jwk_decode(mg_jwk_ctx_t *ctx, const char *name,
    unsigned char *buf, size_t size, size_t *len);
static int mg_jwk_check_ops(mg_jwk_ctx_t *ctx);
static int32_t mg_jwk_get(mg_jwk_ctx_t *ctx, const char *name);
static int mg_jwk_string(mg_jwk_ctx_t *ctx, const char *name, mg_str_t *s);
static int mg_jwk_text(mg_jwk_ctx_t *ctx, uint32_t i, mg_str_t *s);
static unsigned char *mg_jwk_keep(mg_jwk_ctx_t *ctx, mg_str_t *s);
static int mg_jwk_is(const mg_json_t *json, int32_t i, const char *s);
static const mg_jwk_curve_t *mg_jwk_curve(mg_jwk_ctx_t *ctx,
    const mg_jwk_curve_t *curves);
static size_t mg_jwk_string_head(const mg_json_t *json, uint32_t i,
    unsigned char *dst, size_t n);
static void mg_jwk_printable(char *dst, size_t size, const char *src,
    size_t len, int quoted);
static void mg_jwk_skip_reason(char *dst, size_t size, const mg_json_t *json,
    uint32_t jwk, size_t i, const char *reason);


static const mg_jwk_curve_t  mg_jwk_ec_curves[] = {
    { "P-256", MG_JWK_P256, "prime256v1", 32 },
    { "P-384", MG_JWK_P384, "secp384r1", 48 },
    { "P-521", MG_JWK_P521, "secp521r1", 66 },
    { NULL, MG_JWK_CRV_NONE, NULL, 0 }
};


static const mg_jwk_curve_t  mg_jwk_okp_curves[] = {
    { "Ed25519", MG_JWK_ED25519, "ED25519", 32 },
    { "Ed448", MG_JWK_ED448, "ED448", 57 },
    { NULL, MG_JWK_CRV_NONE, NULL, 0 }
};


int
mg_jwks_parse(mg_jwks_t *jwks, const unsigned char *data, size_t len,
    mg_allocator_t *a, mg_allocator_t *scratch, char *err, size_t err_len)
{
    int            rc;
    size_t         i, n, line, column;
    int32_t        keys;
    uint32_t       jwk;
    mg_jwk_t      *kept;
    mg_json_t      json;
    const char    *msg;
    mg_jwk_ctx_t   ctx;

    memset(jwks, 0, sizeof(mg_jwks_t));

    /*
     * The tokens take up to ten times the document ({"x":[0,0,...]}), and
     * a fetched set may be kept for hours: they are scratch, as is all that
     * the keys kept do not point to.  mg_json's messages are static ASCII,
     * fit for a log line as they are.
     */

    if (mg_json_parse(&json, data, len, MG_JSON_UNIQUE_KEYS, 0xffffffff,
                      MG_JWK_MAX_DEPTH, scratch, &msg)
        != 0)
    {
        if (strcmp(msg, "out of memory") == 0) {
            snprintf(err, err_len, "out of memory");

        } else {
            mg_jwk_where(data, json.error_pos, &line, &column);
            snprintf(err, err_len,
                     "not a JWK or JWK Set: %s (line %zu, column %zu)",
                     msg, line, column);
        }

        return -1;
    }

    msg = mg_jwk_check_values(&json);

    if (msg != NULL) {
        snprintf(err, err_len, "not a JWK or JWK Set: %s", msg);
        return -1;
    }

    if (json.toks[0].type != MG_JSON_OBJECT) {
        snprintf(err, err_len, "not a JWK or JWK Set");
        return -1;
    }

    keys = mg_json_object_get(&json, 0, (const unsigned char *) "keys", 4);

    if (keys >= 0) {
        if (json.toks[keys].type != MG_JSON_ARRAY) {
            snprintf(err, err_len,
                     "not a JWK or JWK Set: \"keys\" is not an array");
            return -1;
        }

        n = json.toks[keys].size;
        jwk = (uint32_t) keys + 1;

    } else if (mg_json_object_get(&json, 0, (const unsigned char *) "kty", 3)
               >= 0)
    {
        n = 1;
        jwk = 0;

    } else {
        snprintf(err, err_len, "not a JWK or JWK Set");
        return -1;
    }

    if (n == 0) {
        return 0;
    }

    /*
     * Room for every element of "keys", most of which may be no key at
     * all ({"keys":[0,0,...]}): scratch too, and the keys kept are copied
     * out at the end.
     */

    jwks->keys = mg_alloc(scratch, n * sizeof(mg_jwk_t));
    if (jwks->keys == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }

    ctx.json = &json;
    ctx.alloc = a;
    ctx.scratch = scratch;

    for (i = 0; i < n; i++, jwk = json.toks[jwk].next) {
        ctx.jwk = jwk;

        rc = mg_jwk_parse_key(&jwks->keys[jwks->nkeys], &ctx);

        if (rc == 0) {
            jwks->nkeys++;
            continue;
        }

        if (rc == MG_JWK_NOMEM) {
            goto nomem;
        }

        jwks->skipped++;

        mg_jwk_skip_reason(jwks->skip_reason, sizeof(jwks->skip_reason),
                           &json, jwk, i, ctx.reason);

        /*
         * A weak key is counted apart: it is a mistake of whoever made the
         * set, which a key file must not get through with, rather than a
         * key meant for something else.
         */

        if (rc == MG_JWK_WEAK && jwks->weak++ == 0) {
            memcpy(jwks->weak_reason, jwks->skip_reason,
                   sizeof(jwks->weak_reason));
        }
    }

    if (jwks->nkeys == 0) {
        jwks->keys = NULL;

    } else {
        kept = mg_alloc(a, jwks->nkeys * sizeof(mg_jwk_t));
        if (kept == NULL) {
            goto nomem;
        }

        memcpy(kept, jwks->keys, jwks->nkeys * sizeof(mg_jwk_t));
        jwks->keys = kept;
    }

    /*
     * failed key imports leave OpenSSL errors that nginx would report
     * against some unrelated connection later
     */

    ERR_clear_error();

    return 0;

nomem:

    snprintf(err, err_len, "out of memory");
    mg_jwks_free(jwks);
    memset(jwks, 0, sizeof(mg_jwks_t));
    ERR_clear_error();

    return -1;
}


/*
 * Two kinds of values that valid JSON may hold, that no key needs, and
 * that JSON parsers disagree about: a NUL character in a string, which
 * code handling C strings cuts the string at, and a number that neither
 * an int64_t (if it is an integer) nor a double can hold.  A document
 * with either is refused, so that what keys it holds does not depend on
 * which parser reads it.
 */

/*
 * The line and column (from 1, in bytes) of offset pos: an operator with a
 * key file of hundreds of lines needs to know where it is wrong.
 */

static void
mg_jwk_where(const unsigned char *data, size_t pos, size_t *line,
    size_t *column)
{
    size_t  i, start;

    *line = 1;
    start = 0;

    for (i = 0; i < pos; i++) {
        if (data[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    }

    *column = pos - start + 1;
}


static const char *
mg_jwk_check_values(const mg_json_t *json)
{
    uint32_t              i;
    const mg_json_tok_t  *t;

    for (i = 0; i < json->ntoks; i++) {
        t = &json->toks[i];

        if (t->type == MG_JSON_STRING
            && (t->flags & MG_JSON_CTL)
            && mg_jwk_has_nul(json, i))
        {
            return "NUL character (\\u0000) in a string";
        }

        if (t->type == MG_JSON_NUMBER && !mg_jwk_number_fits(json, i)) {
            return "number out of range";
        }
    }

    return NULL;
}


/* the tokenizer has found the string valid: every escape is complete */

static int
mg_jwk_has_nul(const mg_json_t *json, uint32_t i)
{
    const unsigned char  *s, *last;

    s = json->buf + json->toks[i].start + 1;
    last = json->buf + json->toks[i].end - 1;

    while (s < last) {
        if (*s++ != '\\') {
            continue;
        }

        if (*s != 'u') {
            s++;
            continue;
        }

        if (memcmp(s + 1, "0000", 4) == 0) {
            return 1;
        }

        s += 5;
    }

    return 0;
}


static int
mg_jwk_number_fits(const mg_json_t *json, uint32_t i)
{
    char                  text[MG_JWK_INT_MAX_LEN + 1];
    double                value;
    size_t                len;
    const unsigned char  *p;

    p = json->buf + json->toks[i].start;
    len = json->toks[i].end - json->toks[i].start;

    if (memchr(p, '.', len) != NULL
        || memchr(p, 'e', len) != NULL
        || memchr(p, 'E', len) != NULL)
    {
        return mg_json_number(json, i, &value) == 0;
    }

    /* the grammar allows no leading zeros: a longer integer overflows */

    if (len > MG_JWK_INT_MAX_LEN) {
        return 0;
    }

    memcpy(text, p, len);
    text[len] = '\0';

    errno = 0;
    (void) strtoll(text, NULL, 10);

    return errno != ERANGE;
}


void
mg_jwks_free(mg_jwks_t *jwks)
{
    size_t  i;

    if (jwks->keys == NULL) {
        return;
    }

    for (i = 0; i < jwks->nkeys; i++) {
        EVP_PKEY_free(jwks->keys[i].pkey);
        jwks->keys[i].pkey = NULL;
    }
}


int
mg_jwk_fits(const mg_jwk_t *key, mg_jwt_alg_e alg)
{
    if (!mg_jwk_fits_type(key, alg)) {
        return 0;
    }

    /*
     * RFC 7518, section 3.2: the key must be at least as long as the hash;
     * an oct key without alg serves the algorithms it is long enough for.
     */

    return key->kty != MG_JWK_OCT || key->secret.len >= mg_jwk_hmac_size(alg);
}


static int
mg_jwk_fits_type(const mg_jwk_t *key, mg_jwt_alg_e alg)
{
    int  fits;

    switch (alg) {

    case MG_JWT_HS256:
    case MG_JWT_HS384:
    case MG_JWT_HS512:
        fits = (key->kty == MG_JWK_OCT);
        break;

    case MG_JWT_RS256:
    case MG_JWT_RS384:
    case MG_JWT_RS512:
    case MG_JWT_PS256:
    case MG_JWT_PS384:
    case MG_JWT_PS512:
        fits = (key->kty == MG_JWK_RSA);
        break;

    case MG_JWT_ES256:
        fits = (key->kty == MG_JWK_EC && key->crv == MG_JWK_P256);
        break;

    case MG_JWT_ES384:
        fits = (key->kty == MG_JWK_EC && key->crv == MG_JWK_P384);
        break;

    case MG_JWT_ES512:
        fits = (key->kty == MG_JWK_EC && key->crv == MG_JWK_P521);
        break;

    case MG_JWT_EDDSA:
        fits = (key->kty == MG_JWK_OKP
                && (key->crv == MG_JWK_ED25519 || key->crv == MG_JWK_ED448));
        break;

    default:
        fits = 0;
    }

    return fits && (key->alg == MG_JWT_ALG_UNKNOWN || key->alg == alg);
}


static size_t
mg_jwk_hmac_size(mg_jwt_alg_e alg)
{
    switch (alg) {

    case MG_JWT_HS384:
        return 48;

    case MG_JWT_HS512:
        return 64;

    default:
        return 32;
    }
}


static int
mg_jwk_parse_key(mg_jwk_t *key, mg_jwk_ctx_t *ctx)
{
    int                   rc;
    size_t                n;
    int32_t               kid, kty, v;
    mg_jwt_alg_e          alg;
    unsigned char        *p, name[MG_JWK_ALG_MAX];
    const mg_json_t      *json;
    const mg_json_tok_t  *t;

    memset(key, 0, sizeof(mg_jwk_t));

    json = ctx->json;

    if (json->toks[ctx->jwk].type != MG_JSON_OBJECT) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN, "not a JSON object");
        return MG_JWK_SKIP;
    }

    kid = mg_jwk_get(ctx, "kid");

    if (kid >= 0 && json->toks[kid].type != MG_JSON_STRING) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN, "\"kid\" is not a string");
        return MG_JWK_SKIP;
    }

    kty = mg_jwk_get(ctx, "kty");

    if (kty < 0 || json->toks[kty].type != MG_JSON_STRING) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"kty\" is missing or not a string");
        return MG_JWK_SKIP;
    }

    v = mg_jwk_get(ctx, "use");

    if (v >= 0 && !mg_jwk_is(json, v, "sig")) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN, "\"use\" is not \"sig\"");
        return MG_JWK_SKIP;
    }

    if (mg_jwk_check_ops(ctx) != 0) {
        return MG_JWK_SKIP;
    }

    alg = MG_JWT_ALG_UNKNOWN;

    v = mg_jwk_get(ctx, "alg");

    if (v >= 0) {
        t = &json->toks[v];

        /* a longer string is no algorithm name, however it is escaped */

        if (t->type == MG_JSON_STRING && t->end - t->start <= MG_JWK_ALG_MAX) {
            n = mg_json_string(json, v, name);
            alg = mg_jwt_alg_by_name(name, n);
        }

        if (alg == MG_JWT_ALG_UNKNOWN) {
            snprintf(ctx->reason, MG_JWK_REASON_LEN,
                     "\"alg\" is not a supported signature algorithm");
            return MG_JWK_SKIP;
        }
    }

    if (mg_jwk_is(json, kty, "oct")) {
        rc = mg_jwk_oct(key, ctx);

    } else if (mg_jwk_is(json, kty, "RSA")) {
        rc = mg_jwk_rsa(key, ctx);

    } else if (mg_jwk_is(json, kty, "EC")) {
        rc = mg_jwk_ec(key, ctx);

    } else if (mg_jwk_is(json, kty, "OKP")) {
        rc = mg_jwk_okp(key, ctx);

    } else {
        snprintf(ctx->reason, MG_JWK_REASON_LEN, "unsupported \"kty\"");
        return MG_JWK_SKIP;
    }

    if (rc != 0) {
        return rc;
    }

    if (alg != MG_JWT_ALG_UNKNOWN && !mg_jwk_fits_type(key, alg)) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"alg\" does not match the key type or curve");
        rc = MG_JWK_SKIP;
        goto failed;
    }

    /* the shortest HMAC key RFC 7518 allows is the size of the hash */

    if (key->kty == MG_JWK_OCT
        && key->secret.len < mg_jwk_hmac_size(alg))
    {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "oct key of %zu bytes, shorter than the %zu RFC 7518 "
                 "requires%s%s", key->secret.len, mg_jwk_hmac_size(alg),
                 (alg != MG_JWT_ALG_UNKNOWN) ? " for " : "",
                 (alg != MG_JWT_ALG_UNKNOWN) ? mg_jwt_alg_name(alg) : "");
        rc = MG_JWK_WEAK;
        goto failed;
    }

    key->alg = alg;

    /*
     * The key is kept: its secret and kid go to the set's memory, the kid
     * copied even when it has no escapes, as the text is the caller's.
     */

    if (key->kty == MG_JWK_OCT) {
        p = mg_jwk_keep(ctx, &key->secret);
        if (p == NULL) {
            rc = MG_JWK_NOMEM;
            goto failed;
        }

        key->secret.data = p;
    }

    if (kid >= 0) {
        rc = mg_jwk_text(ctx, (uint32_t) kid, &key->kid);
        if (rc != 0) {
            goto failed;
        }

        p = mg_jwk_keep(ctx, &key->kid);
        if (p == NULL) {
            rc = MG_JWK_NOMEM;
            goto failed;
        }

        key->kid.data = p;
    }

    return 0;

failed:

    EVP_PKEY_free(key->pkey);
    key->pkey = NULL;

    return rc;
}


static int
mg_jwk_oct(mg_jwk_t *key, mg_jwk_ctx_t *ctx)
{
    int             rc;
    size_t          len;
    mg_str_t        k;
    unsigned char  *p;

    rc = mg_jwk_string(ctx, "k", &k);
    if (rc != 0) {
        return rc;
    }

    if (k.len == 0) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN, "\"k\" is empty");
        return MG_JWK_SKIP;
    }

    /* mg_jwk_parse_key() copies the secret out if the key is kept */

    p = mg_alloc(ctx->scratch, mg_base64url_decoded_size(k.len));
    if (p == NULL) {
        return MG_JWK_NOMEM;
    }

    if (mg_base64url_decode(p, &len, k.data, k.len) != 0 || len == 0) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"k\" is not valid base64url");
        return MG_JWK_SKIP;
    }

    key->kty = MG_JWK_OCT;
    key->secret.data = p;
    key->secret.len = len;

    return 0;
}


static int
mg_jwk_rsa(mg_jwk_t *key, mg_jwk_ctx_t *ctx)
{
    int              rc, bits;
    size_t           nlen, elen;
    BIGNUM          *n, *e;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *pctx;
    unsigned char   *np, *ep;
    OSSL_PARAM_BLD  *bld;
    unsigned char    nbuf[MG_JWK_RSA_N_SIZE], ebuf[MG_JWK_RSA_E_SIZE];

    rc = mg_jwk_decode(ctx, "n", nbuf, sizeof(nbuf), &nlen);
    if (rc != 0) {
        return rc;
    }

    rc = mg_jwk_decode(ctx, "e", ebuf, sizeof(ebuf), &elen);
    if (rc != 0) {
        return rc;
    }

    np = nbuf;
    ep = ebuf;

    while (nlen && *np == 0) {
        np++;
        nlen--;
    }

    while (elen && *ep == 0) {
        ep++;
        elen--;
    }

    /*
     * Cheap sanity checks instead of EVP_PKEY_public_check(), which for
     * RSA also rejects small exponents such as 3 and runs a primality
     * test on the modulus.
     */

    if (nlen == 0 || (np[nlen - 1] & 1) == 0) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"n\" is not an RSA modulus");
        return MG_JWK_SKIP;
    }

    if (elen == 0 || elen > MG_JWK_RSA_E_MAX || (ep[elen - 1] & 1) == 0
        || (elen == 1 && ep[0] == 1))
    {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"e\" is not a usable RSA exponent");
        return MG_JWK_SKIP;
    }

    /*
     * OpenSSL failing here is out of memory or, in a restricted build, a
     * key type it does not offer: either way this key is of no use, and
     * the others may still be.
     */

    snprintf(ctx->reason, MG_JWK_REASON_LEN,
             "OpenSSL cannot load the RSA key");
    rc = MG_JWK_SKIP;

    pkey = NULL;
    params = NULL;
    pctx = NULL;

    bld = OSSL_PARAM_BLD_new();
    n = BN_bin2bn(np, (int) nlen, NULL);
    e = BN_bin2bn(ep, (int) elen, NULL);

    if (bld == NULL || n == NULL || e == NULL) {
        goto done;
    }

    bits = BN_num_bits(n);

    if (bits < MG_JWK_RSA_MIN_BITS) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "RSA modulus of %d bits, shorter than the %d RFC 7518 "
                 "requires", bits, MG_JWK_RSA_MIN_BITS);
        rc = MG_JWK_WEAK;
        goto done;
    }

    if (bits > MG_JWK_RSA_MAX_BITS) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "RSA modulus of %d bits is longer than %d", bits,
                 MG_JWK_RSA_MAX_BITS);
        goto done;
    }

    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
    {
        goto done;
    }

    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL) {
        goto done;
    }

    pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (pctx == NULL) {
        goto done;
    }

    if (EVP_PKEY_fromdata_init(pctx) != 1
        || EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        goto done;
    }

    key->kty = MG_JWK_RSA;
    key->pkey = pkey;

    rc = 0;

done:

    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    return rc;
}


static int
mg_jwk_ec(mg_jwk_t *key, mg_jwk_ctx_t *ctx)
{
    int                    rc;
    size_t                 xlen, ylen;
    EVP_PKEY              *pkey;
    OSSL_PARAM             params[3];
    EVP_PKEY_CTX          *pctx, *check;
    const mg_jwk_curve_t  *curve;
    unsigned char          x[MG_JWK_COORD_SIZE], y[MG_JWK_COORD_SIZE];
    unsigned char          point[1 + 2 * MG_JWK_COORD_MAX];

    curve = mg_jwk_curve(ctx, mg_jwk_ec_curves);

    if (curve == NULL) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"crv\" is not P-256, P-384 or P-521");
        return MG_JWK_SKIP;
    }

    rc = mg_jwk_decode(ctx, "x", x, sizeof(x), &xlen);
    if (rc != 0) {
        return rc;
    }

    rc = mg_jwk_decode(ctx, "y", y, sizeof(y), &ylen);
    if (rc != 0) {
        return rc;
    }

    if (xlen != curve->size || ylen != curve->size) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"x\" or \"y\" is not %zu bytes long", curve->size);
        return MG_JWK_SKIP;
    }

    /* SEC 1 uncompressed form */

    point[0] = 0x04;
    memcpy(&point[1], x, xlen);
    memcpy(&point[1 + xlen], y, ylen);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *) curve->group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  point, 1 + xlen + ylen);
    params[2] = OSSL_PARAM_construct_end();

    pkey = NULL;
    check = NULL;

    /* as for RSA, an OpenSSL failure only costs this key */

    snprintf(ctx->reason, MG_JWK_REASON_LEN,
             "OpenSSL cannot load the EC key");
    rc = MG_JWK_SKIP;

    pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1) {
        goto done;
    }

    /*
     * OpenSSL already refuses points off the curve and coordinates not
     * below the field prime here; the explicit check below keeps that
     * guarantee whatever the provider does on import.
     */

    if (EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        goto invalid;
    }

    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (check == NULL) {
        goto done;
    }

    if (EVP_PKEY_public_check(check) != 1) {
        goto invalid;
    }

    key->kty = MG_JWK_EC;
    key->crv = curve->crv;
    key->pkey = pkey;
    pkey = NULL;

    rc = 0;
    goto done;

invalid:

    snprintf(ctx->reason, MG_JWK_REASON_LEN, "EC point is not on the curve");

done:

    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(pctx);

    return rc;
}


static int
mg_jwk_okp(mg_jwk_t *key, mg_jwk_ctx_t *ctx)
{
    int                    rc;
    size_t                 len;
    int32_t                crv;
    EVP_PKEY              *pkey;
    const char            *agreement;
    const mg_jwk_curve_t  *curve;
    unsigned char          x[MG_JWK_COORD_SIZE];

    curve = mg_jwk_curve(ctx, mg_jwk_okp_curves);

    if (curve == NULL) {
        crv = mg_jwk_get(ctx, "crv");

        agreement = mg_jwk_is(ctx->json, crv, "X25519") ? "X25519"
                    : mg_jwk_is(ctx->json, crv, "X448") ? "X448" : NULL;

        if (agreement != NULL) {
            snprintf(ctx->reason, MG_JWK_REASON_LEN,
                     "\"crv\" %s is for key agreement, not signatures",
                     agreement);

        } else {
            snprintf(ctx->reason, MG_JWK_REASON_LEN,
                     "\"crv\" is not Ed25519 or Ed448");
        }

        return MG_JWK_SKIP;
    }

    rc = mg_jwk_decode(ctx, "x", x, sizeof(x), &len);
    if (rc != 0) {
        return rc;
    }

    if (len != curve->size) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"x\" is not %zu bytes long", curve->size);
        return MG_JWK_SKIP;
    }

    /* Ed25519 and Ed448 points are only decoded when verifying */

    pkey = EVP_PKEY_new_raw_public_key_ex(NULL, curve->group, NULL, x, len);
    if (pkey == NULL) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "OpenSSL cannot load the %s key", curve->name);
        return MG_JWK_SKIP;
    }

    key->kty = MG_JWK_OKP;
    key->crv = curve->crv;
    key->pkey = pkey;

    return 0;
}


static int
mg_jwk_decode(mg_jwk_ctx_t *ctx, const char *name, unsigned char *buf,
    size_t size, size_t *len)
{
    int       rc;
    mg_str_t  text;

    rc = mg_jwk_string(ctx, name, &text);
    if (rc != 0) {
        return rc;
    }

    if (mg_base64url_decoded_size(text.len) > size) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN, "\"%s\" is too long", name);
        return MG_JWK_SKIP;
    }

    if (mg_base64url_decode(buf, len, text.data, text.len) != 0) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"%s\" is not valid base64url", name);
        return MG_JWK_SKIP;
    }

    return 0;
}


static int
mg_jwk_check_ops(mg_jwk_ctx_t *ctx)
{
    uint32_t          n, k;
    int32_t           ops;
    const mg_json_t  *json;

    json = ctx->json;

    ops = mg_jwk_get(ctx, "key_ops");

    if (ops < 0) {
        return 0;
    }

    if (json->toks[ops].type != MG_JSON_ARRAY) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"key_ops\" is not an array");
        return -1;
    }

    k = (uint32_t) ops + 1;

    for (n = json->toks[ops].size; n; n--) {
        if (mg_jwk_is(json, (int32_t) k, "verify")) {
            return 0;
        }

        k = json->toks[k].next;
    }

    snprintf(ctx->reason, MG_JWK_REASON_LEN, "\"key_ops\" lacks \"verify\"");

    return -1;
}


/* the token of the key's member name, or -1 */

static int32_t
mg_jwk_get(mg_jwk_ctx_t *ctx, const char *name)
{
    return mg_json_object_get(ctx->json, ctx->jwk,
                              (const unsigned char *) name, strlen(name));
}


/*
 * The string member name of the key without its escapes (see
 * mg_jwk_text()).  Returns 0, MG_JWK_SKIP if the member is missing or not
 * a string, or MG_JWK_NOMEM.
 */

static int
mg_jwk_string(mg_jwk_ctx_t *ctx, const char *name, mg_str_t *s)
{
    int32_t  v;

    v = mg_jwk_get(ctx, name);

    if (v < 0 || ctx->json->toks[v].type != MG_JSON_STRING) {
        snprintf(ctx->reason, MG_JWK_REASON_LEN,
                 "\"%s\" is missing or not a string", name);
        return MG_JWK_SKIP;
    }

    return mg_jwk_text(ctx, (uint32_t) v, s);
}


/*
 * String token i without its escapes: in place when it has none, as a
 * base64url value never needs one, or else a copy in scratch memory.
 * Returns 0 or MG_JWK_NOMEM.
 */

static int
mg_jwk_text(mg_jwk_ctx_t *ctx, uint32_t i, mg_str_t *s)
{
    unsigned char        *p;
    const mg_json_tok_t  *t;

    t = &ctx->json->toks[i];

    if (!(t->flags & MG_JSON_ESCAPED)) {
        s->data = ctx->json->buf + t->start + 1;
        s->len = t->end - t->start - 2;
        return 0;
    }

    p = mg_alloc(ctx->scratch, t->end - t->start);
    if (p == NULL) {
        return MG_JWK_NOMEM;
    }

    s->len = mg_json_string(ctx->json, i, p);
    s->data = p;

    return 0;
}


/*
 * A copy of s in the set's memory, of its exact length, and never NULL
 * but for lack of memory: an empty kid is not a missing one.
 */

static unsigned char *
mg_jwk_keep(mg_jwk_ctx_t *ctx, mg_str_t *s)
{
    unsigned char  *p;

    p = mg_alloc(ctx->alloc, s->len ? s->len : 1);
    if (p == NULL) {
        return NULL;
    }

    if (s->len) {
        memcpy(p, s->data, s->len);
    }

    return p;
}


/* whether token i (-1: none) is the string s, compared unescaped */

static int
mg_jwk_is(const mg_json_t *json, int32_t i, const char *s)
{
    return i >= 0 && mg_json_string_eq(json, (uint32_t) i,
                                       (const unsigned char *) s, strlen(s));
}


static const mg_jwk_curve_t *
mg_jwk_curve(mg_jwk_ctx_t *ctx, const mg_jwk_curve_t *curves)
{
    int32_t  crv;

    crv = mg_jwk_get(ctx, "crv");

    for ( /* void */ ; curves->name != NULL; curves++) {
        if (mg_jwk_is(ctx->json, crv, curves->name)) {
            return curves;
        }
    }

    return NULL;
}


/*
 * Writes to dst the start of string token i without its escapes: all of
 * it, or n bytes or more of a longer one.  dst needs 12 * n + 2 bytes.
 *
 * Each character or escape is at least one byte unescaped, so the first
 * n of them are enough; the token is cut after them and unescaped by
 * mg_json_string(), which stops at the cut (a token's end is one past its
 * closing quote).  A surrogate pair is one escape of 12 bytes.
 */

static size_t
mg_jwk_string_head(const mg_json_t *json, uint32_t i, unsigned char *dst,
    size_t n)
{
    unsigned char         c;
    mg_json_t             head;
    mg_json_tok_t         tok;
    const unsigned char  *s, *last;

    tok = json->toks[i];
    s = json->buf + tok.start + 1;
    last = json->buf + tok.end - 1;

    for ( /* void */ ; s < last && n; n--) {

        if (*s != '\\') {
            s++;
            continue;
        }

        if (s[1] != 'u') {
            s += 2;
            continue;
        }

        /* a high surrogate, D800 to DBFF */

        c = s[3] | 0x20;

        s += ((s[2] | 0x20) == 'd'
              && (c == '8' || c == '9' || c == 'a' || c == 'b'))
             ? 12 : 6;
    }

    tok.end = (uint32_t) (s - json->buf) + 1;

    head.buf = json->buf;
    head.len = json->len;
    head.toks = &tok;
    head.ntoks = 1;

    return mg_json_string(&head, 0, dst);
}


/* "key N (kid \"...\"): reason", or "key N: reason" */

static void
mg_jwk_skip_reason(char *dst, size_t size, const mg_json_t *json,
    uint32_t jwk, size_t i, const char *reason)
{
    int            n;
    size_t         len;
    int32_t        v;
    char           kid[MG_JWK_KID_SHOWN + 4];
    unsigned char  text[12 * sizeof(kid) + 2];

    v = mg_json_object_get(json, jwk, (const unsigned char *) "kid", 3);

    if (v >= 0 && json->toks[v].type == MG_JSON_STRING) {

        /* enough of it for mg_jwk_printable() to know whether to cut */

        len = mg_jwk_string_head(json, (uint32_t) v, text, sizeof(kid));

        mg_jwk_printable(kid, sizeof(kid), (const char *) text, len, 1);

        n = snprintf(dst, size, "key %zu (kid \"%s\"): ", i, kid);

    } else {
        n = snprintf(dst, size, "key %zu: ", i);
    }

    /* the prefix always fits, the reason is cut if need be */

    mg_jwk_printable(dst + n, size - n, reason, strlen(reason), 0);
}


static void
mg_jwk_printable(char *dst, size_t size, const char *src, size_t len,
    int quoted)
{
    char    c;
    size_t  i, n;

    /* size >= 4; quoted: dst goes between quotes, which it must not end */

    n = (len < size) ? len : size - 4;

    for (i = 0; i < n; i++) {
        c = src[i];

        if (c < 0x20 || c > 0x7e || (quoted && (c == '"' || c == '\\'))) {
            c = '?';
        }

        dst[i] = c;
    }

    if (n < len) {
        memcpy(&dst[n], "...", 3);
        n += 3;
    }

    dst[n] = '\0';
}
