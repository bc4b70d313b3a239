
/*
 * meshgate: JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037).
 */


#include <stdio.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "mg_base64url.h"
#include "mg_jwk.h"


#define MG_JWK_SKIP          -1
#define MG_JWK_NOMEM         -2
#define MG_JWK_WEAK          -3   /* skipped, and weaker than RFC 7518 allows */

#define MG_JWK_REASON_LEN    96

/* shown in skip reasons; longer kids are cut */
#define MG_JWK_KID_SHOWN     32

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


static int mg_jwk_parse_key(mg_jwk_t *key, json_t *jwk, mg_allocator_t *a,
    char *reason);
static int mg_jwk_fits_type(const mg_jwk_t *key, mg_jwt_alg_e alg);
static size_t mg_jwk_hmac_size(mg_jwt_alg_e alg);
static int mg_jwk_oct(mg_jwk_t *key, json_t *jwk, mg_allocator_t *a,
    char *reason);
static int mg_jwk_rsa(mg_jwk_t *key, json_t *jwk, char *reason);
static int mg_jwk_ec(mg_jwk_t *key, json_t *jwk, char *reason);
static int mg_jwk_okp(mg_jwk_t *key, json_t *jwk, char *reason);
static int mg_jwk_decode(json_t *jwk, const char *name, unsigned char *buf,
    size_t size, size_t *len, char *reason);
static int mg_jwk_check_ops(json_t *jwk, char *reason);
static int mg_jwk_is(json_t *value, const char *s);
static const mg_jwk_curve_t *mg_jwk_curve(json_t *jwk,
    const mg_jwk_curve_t *curves);
static void mg_jwk_printable(char *dst, size_t size, const char *src,
    size_t len, int quoted);
static void mg_jwk_skip_reason(char *dst, size_t size, json_t *jwk,
    size_t i, const char *reason);


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
    mg_allocator_t *a, char *err, size_t err_len)
{
    int           rc;
    size_t        i, n;
    json_t       *root, *keys, *jwk;
    json_error_t  jerr;
    char          text[JSON_ERROR_TEXT_LENGTH];
    char          reason[MG_JWK_REASON_LEN];

    memset(jwks, 0, sizeof(mg_jwks_t));

    root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                      &jerr);

    if (root == NULL) {
        /*
         * jansson quotes the input in its messages, and the input is not
         * trusted to be fit for a log line
         */

        mg_jwk_printable(text, sizeof(text), jerr.text, strlen(jerr.text),
                         0);
        snprintf(err, err_len,
                 "not a JWK or JWK Set: invalid JSON at line %d, column %d: "
                 "%s", jerr.line, jerr.column, text);
        return -1;
    }

    keys = NULL;

    if (!json_is_object(root)) {
        snprintf(err, err_len, "not a JWK or JWK Set");
        goto failed;
    }

    keys = json_object_get(root, "keys");

    if (keys != NULL) {
        if (!json_is_array(keys)) {
            snprintf(err, err_len,
                     "not a JWK or JWK Set: \"keys\" is not an array");
            goto failed;
        }

        n = json_array_size(keys);

    } else if (json_object_get(root, "kty") != NULL) {
        n = 1;

    } else {
        snprintf(err, err_len, "not a JWK or JWK Set");
        goto failed;
    }

    if (n == 0) {
        json_decref(root);
        return 0;
    }

    jwks->keys = mg_alloc(a, n * sizeof(mg_jwk_t));
    if (jwks->keys == NULL) {
        snprintf(err, err_len, "out of memory");
        goto failed;
    }

    for (i = 0; i < n; i++) {
        jwk = (keys != NULL) ? json_array_get(keys, i) : root;

        rc = mg_jwk_parse_key(&jwks->keys[jwks->nkeys], jwk, a, reason);

        if (rc == 0) {
            jwks->nkeys++;
            continue;
        }

        if (rc == MG_JWK_NOMEM) {
            snprintf(err, err_len, "out of memory");
            mg_jwks_free(jwks);
            memset(jwks, 0, sizeof(mg_jwks_t));
            goto failed;
        }

        jwks->skipped++;

        mg_jwk_skip_reason(jwks->skip_reason, sizeof(jwks->skip_reason),
                           jwk, i, reason);

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

    json_decref(root);

    /*
     * failed key imports leave OpenSSL errors that nginx would report
     * against some unrelated connection later
     */

    ERR_clear_error();

    return 0;

failed:

    json_decref(root);
    ERR_clear_error();

    return -1;
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
mg_jwk_parse_key(mg_jwk_t *key, json_t *jwk, mg_allocator_t *a, char *reason)
{
    int             rc;
    size_t          len;
    json_t         *kid, *kty, *v;
    mg_jwt_alg_e    alg;
    unsigned char  *p;

    memset(key, 0, sizeof(mg_jwk_t));

    if (!json_is_object(jwk)) {
        snprintf(reason, MG_JWK_REASON_LEN, "not a JSON object");
        return MG_JWK_SKIP;
    }

    kid = json_object_get(jwk, "kid");

    if (kid != NULL && !json_is_string(kid)) {
        snprintf(reason, MG_JWK_REASON_LEN, "\"kid\" is not a string");
        return MG_JWK_SKIP;
    }

    kty = json_object_get(jwk, "kty");

    if (!json_is_string(kty)) {
        snprintf(reason, MG_JWK_REASON_LEN,
                 "\"kty\" is missing or not a string");
        return MG_JWK_SKIP;
    }

    v = json_object_get(jwk, "use");

    if (v != NULL && !mg_jwk_is(v, "sig")) {
        snprintf(reason, MG_JWK_REASON_LEN, "\"use\" is not \"sig\"");
        return MG_JWK_SKIP;
    }

    if (mg_jwk_check_ops(jwk, reason) != 0) {
        return MG_JWK_SKIP;
    }

    alg = MG_JWT_ALG_UNKNOWN;

    v = json_object_get(jwk, "alg");

    if (v != NULL) {
        if (json_is_string(v)) {
            alg = mg_jwt_alg_by_name((const unsigned char *)
                                     json_string_value(v),
                                     json_string_length(v));
        }

        if (alg == MG_JWT_ALG_UNKNOWN) {
            snprintf(reason, MG_JWK_REASON_LEN,
                     "\"alg\" is not a supported signature algorithm");
            return MG_JWK_SKIP;
        }
    }

    if (mg_jwk_is(kty, "oct")) {
        rc = mg_jwk_oct(key, jwk, a, reason);

    } else if (mg_jwk_is(kty, "RSA")) {
        rc = mg_jwk_rsa(key, jwk, reason);

    } else if (mg_jwk_is(kty, "EC")) {
        rc = mg_jwk_ec(key, jwk, reason);

    } else if (mg_jwk_is(kty, "OKP")) {
        rc = mg_jwk_okp(key, jwk, reason);

    } else {
        snprintf(reason, MG_JWK_REASON_LEN, "unsupported \"kty\"");
        return MG_JWK_SKIP;
    }

    if (rc != 0) {
        return rc;
    }

    if (alg != MG_JWT_ALG_UNKNOWN && !mg_jwk_fits_type(key, alg)) {
        snprintf(reason, MG_JWK_REASON_LEN,
                 "\"alg\" does not match the key type or curve");
        rc = MG_JWK_SKIP;
        goto failed;
    }

    /* the shortest HMAC key RFC 7518 allows is the size of the hash */

    if (key->kty == MG_JWK_OCT
        && key->secret.len < mg_jwk_hmac_size(alg))
    {
        snprintf(reason, MG_JWK_REASON_LEN,
                 "oct key of %zu bytes, shorter than the %zu RFC 7518 "
                 "requires%s%s", key->secret.len, mg_jwk_hmac_size(alg),
                 (alg != MG_JWT_ALG_UNKNOWN) ? " for " : "",
                 (alg != MG_JWT_ALG_UNKNOWN) ? mg_jwt_alg_name(alg) : "");
        rc = MG_JWK_WEAK;
        goto failed;
    }

    key->alg = alg;

    if (kid != NULL) {
        len = json_string_length(kid);

        p = mg_alloc(a, len ? len : 1);
        if (p == NULL) {
            rc = MG_JWK_NOMEM;
            goto failed;
        }

        memcpy(p, json_string_value(kid), len);

        key->kid.data = p;
        key->kid.len = len;
    }

    return 0;

failed:

    EVP_PKEY_free(key->pkey);
    key->pkey = NULL;

    return rc;
}


static int
mg_jwk_oct(mg_jwk_t *key, json_t *jwk, mg_allocator_t *a, char *reason)
{
    size_t          n, len;
    json_t         *k;
    unsigned char  *p;

    k = json_object_get(jwk, "k");

    if (!json_is_string(k)) {
        snprintf(reason, MG_JWK_REASON_LEN,
                 "\"k\" is missing or not a string");
        return MG_JWK_SKIP;
    }

    n = json_string_length(k);

    if (n == 0) {
        snprintf(reason, MG_JWK_REASON_LEN, "\"k\" is empty");
        return MG_JWK_SKIP;
    }

    p = mg_alloc(a, mg_base64url_decoded_size(n));
    if (p == NULL) {
        return MG_JWK_NOMEM;
    }

    if (mg_base64url_decode(p, &len, (const unsigned char *)
                            json_string_value(k), n)
        != 0 || len == 0)
    {
        snprintf(reason, MG_JWK_REASON_LEN, "\"k\" is not valid base64url");
        return MG_JWK_SKIP;
    }

    key->kty = MG_JWK_OCT;
    key->secret.data = p;
    key->secret.len = len;

    return 0;
}


static int
mg_jwk_rsa(mg_jwk_t *key, json_t *jwk, char *reason)
{
    int              rc, bits;
    size_t           nlen, elen;
    BIGNUM          *n, *e;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    unsigned char   *np, *ep;
    OSSL_PARAM_BLD  *bld;
    unsigned char    nbuf[MG_JWK_RSA_N_SIZE], ebuf[MG_JWK_RSA_E_SIZE];

    if (mg_jwk_decode(jwk, "n", nbuf, sizeof(nbuf), &nlen, reason) != 0
        || mg_jwk_decode(jwk, "e", ebuf, sizeof(ebuf), &elen, reason) != 0)
    {
        return MG_JWK_SKIP;
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
        snprintf(reason, MG_JWK_REASON_LEN, "\"n\" is not an RSA modulus");
        return MG_JWK_SKIP;
    }

    if (elen == 0 || elen > MG_JWK_RSA_E_MAX || (ep[elen - 1] & 1) == 0
        || (elen == 1 && ep[0] == 1))
    {
        snprintf(reason, MG_JWK_REASON_LEN,
                 "\"e\" is not a usable RSA exponent");
        return MG_JWK_SKIP;
    }

    /*
     * OpenSSL failing here is out of memory or, in a restricted build, a
     * key type it does not offer: either way this key is of no use, and
     * the others may still be.
     */

    snprintf(reason, MG_JWK_REASON_LEN, "OpenSSL cannot load the RSA key");
    rc = MG_JWK_SKIP;

    pkey = NULL;
    params = NULL;
    ctx = NULL;

    bld = OSSL_PARAM_BLD_new();
    n = BN_bin2bn(np, (int) nlen, NULL);
    e = BN_bin2bn(ep, (int) elen, NULL);

    if (bld == NULL || n == NULL || e == NULL) {
        goto done;
    }

    bits = BN_num_bits(n);

    if (bits < MG_JWK_RSA_MIN_BITS) {
        snprintf(reason, MG_JWK_REASON_LEN,
                 "RSA modulus of %d bits, shorter than the %d RFC 7518 "
                 "requires", bits, MG_JWK_RSA_MIN_BITS);
        rc = MG_JWK_WEAK;
        goto done;
    }

    if (bits > MG_JWK_RSA_MAX_BITS) {
        snprintf(reason, MG_JWK_REASON_LEN,
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

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL) {
        goto done;
    }

    if (EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        goto done;
    }

    key->kty = MG_JWK_RSA;
    key->pkey = pkey;

    rc = 0;

done:

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    return rc;
}


static int
mg_jwk_ec(mg_jwk_t *key, json_t *jwk, char *reason)
{
    int                    rc;
    size_t                 xlen, ylen;
    EVP_PKEY              *pkey;
    OSSL_PARAM             params[3];
    EVP_PKEY_CTX          *ctx, *check;
    const mg_jwk_curve_t  *curve;
    unsigned char          x[MG_JWK_COORD_SIZE], y[MG_JWK_COORD_SIZE];
    unsigned char          point[1 + 2 * MG_JWK_COORD_MAX];

    curve = mg_jwk_curve(jwk, mg_jwk_ec_curves);

    if (curve == NULL) {
        snprintf(reason, MG_JWK_REASON_LEN,
                 "\"crv\" is not P-256, P-384 or P-521");
        return MG_JWK_SKIP;
    }

    if (mg_jwk_decode(jwk, "x", x, sizeof(x), &xlen, reason) != 0
        || mg_jwk_decode(jwk, "y", y, sizeof(y), &ylen, reason) != 0)
    {
        return MG_JWK_SKIP;
    }

    if (xlen != curve->size || ylen != curve->size) {
        snprintf(reason, MG_JWK_REASON_LEN,
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

    snprintf(reason, MG_JWK_REASON_LEN, "OpenSSL cannot load the EC key");
    rc = MG_JWK_SKIP;

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1) {
        goto done;
    }

    /*
     * OpenSSL already refuses points off the curve and coordinates not
     * below the field prime here; the explicit check below keeps that
     * guarantee whatever the provider does on import.
     */

    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
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

    snprintf(reason, MG_JWK_REASON_LEN, "EC point is not on the curve");

done:

    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);

    return rc;
}


static int
mg_jwk_okp(mg_jwk_t *key, json_t *jwk, char *reason)
{
    size_t                 len;
    json_t                *crv;
    EVP_PKEY              *pkey;
    const mg_jwk_curve_t  *curve;
    unsigned char          x[MG_JWK_COORD_SIZE];

    curve = mg_jwk_curve(jwk, mg_jwk_okp_curves);

    if (curve == NULL) {
        crv = json_object_get(jwk, "crv");

        if (mg_jwk_is(crv, "X25519") || mg_jwk_is(crv, "X448")) {
            snprintf(reason, MG_JWK_REASON_LEN,
                     "\"crv\" %s is for key agreement, not signatures",
                     json_string_value(crv));

        } else {
            snprintf(reason, MG_JWK_REASON_LEN,
                     "\"crv\" is not Ed25519 or Ed448");
        }

        return MG_JWK_SKIP;
    }

    if (mg_jwk_decode(jwk, "x", x, sizeof(x), &len, reason) != 0) {
        return MG_JWK_SKIP;
    }

    if (len != curve->size) {
        snprintf(reason, MG_JWK_REASON_LEN, "\"x\" is not %zu bytes long",
                 curve->size);
        return MG_JWK_SKIP;
    }

    /* Ed25519 and Ed448 points are only decoded when verifying */

    pkey = EVP_PKEY_new_raw_public_key_ex(NULL, curve->group, NULL, x, len);
    if (pkey == NULL) {
        snprintf(reason, MG_JWK_REASON_LEN, "OpenSSL cannot load the %s key",
                 curve->name);
        return MG_JWK_SKIP;
    }

    key->kty = MG_JWK_OKP;
    key->crv = curve->crv;
    key->pkey = pkey;

    return 0;
}


static int
mg_jwk_decode(json_t *jwk, const char *name, unsigned char *buf, size_t size,
    size_t *len, char *reason)
{
    size_t   n;
    json_t  *v;

    v = json_object_get(jwk, name);

    if (!json_is_string(v)) {
        snprintf(reason, MG_JWK_REASON_LEN,
                 "\"%s\" is missing or not a string", name);
        return -1;
    }

    n = json_string_length(v);

    if (mg_base64url_decoded_size(n) > size) {
        snprintf(reason, MG_JWK_REASON_LEN, "\"%s\" is too long", name);
        return -1;
    }

    if (mg_base64url_decode(buf, len, (const unsigned char *)
                            json_string_value(v), n)
        != 0)
    {
        snprintf(reason, MG_JWK_REASON_LEN,
                 "\"%s\" is not valid base64url", name);
        return -1;
    }

    return 0;
}


static int
mg_jwk_check_ops(json_t *jwk, char *reason)
{
    size_t   i;
    json_t  *ops;

    ops = json_object_get(jwk, "key_ops");

    if (ops == NULL) {
        return 0;
    }

    if (!json_is_array(ops)) {
        snprintf(reason, MG_JWK_REASON_LEN, "\"key_ops\" is not an array");
        return -1;
    }

    for (i = 0; i < json_array_size(ops); i++) {
        if (mg_jwk_is(json_array_get(ops, i), "verify")) {
            return 0;
        }
    }

    snprintf(reason, MG_JWK_REASON_LEN, "\"key_ops\" lacks \"verify\"");

    return -1;
}


static int
mg_jwk_is(json_t *value, const char *s)
{
    size_t  len;

    if (!json_is_string(value)) {
        return 0;
    }

    /* json_string_value() would stop at an escaped NUL */

    len = strlen(s);

    return json_string_length(value) == len
           && memcmp(json_string_value(value), s, len) == 0;
}


static const mg_jwk_curve_t *
mg_jwk_curve(json_t *jwk, const mg_jwk_curve_t *curves)
{
    json_t  *crv;

    crv = json_object_get(jwk, "crv");

    for ( /* void */ ; curves->name != NULL; curves++) {
        if (mg_jwk_is(crv, curves->name)) {
            return curves;
        }
    }

    return NULL;
}


/* "key N (kid \"...\"): reason", or "key N: reason" */

static void
mg_jwk_skip_reason(char *dst, size_t size, json_t *jwk, size_t i,
    const char *reason)
{
    int      n;
    json_t  *v;
    char     kid[MG_JWK_KID_SHOWN + 4];

    v = json_is_object(jwk) ? json_object_get(jwk, "kid") : NULL;

    if (json_is_string(v)) {
        mg_jwk_printable(kid, sizeof(kid), json_string_value(v),
                         json_string_length(v), 1);

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
