
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: JWS signature verification (RFC 7515, RFC 7518, RFC 8037).
 */


#include <limits.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "mg_jws.h"


/* DER of two INTEGERs of up to 66 bytes, each maybe with a 0 prefix */
#define MG_JWS_ECDSA_DER_SIZE  160

#define MG_JWS_ED25519_SIZE    64
#define MG_JWS_ED448_SIZE      114


static int mg_jws_hmac(const EVP_MD *md, const mg_jwk_t *key,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len);
static int mg_jws_rsa(const EVP_MD *md, int padding, const mg_jwk_t *key,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len);
static int mg_jws_ecdsa(const EVP_MD *md, size_t size, const mg_jwk_t *key,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len);
static int mg_jws_eddsa(const mg_jwk_t *key, const unsigned char *input,
    size_t input_len, const unsigned char *sig, size_t sig_len);
static int mg_jws_pkey(const EVP_MD *md, int padding, EVP_PKEY *pkey,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len);


int
mg_jws_verify(mg_jwt_alg_e alg, const mg_jwk_t *key,
    const unsigned char *input, size_t input_len,
    const unsigned char *sig, size_t sig_len)
{
    int  rc;

    /*
     * Checked again so that a caller's slip cannot turn into an algorithm
     * confusion (an RSA key's public half used as an HMAC secret).
     */

    if (!mg_jwk_fits(key, alg)) {
        return MG_JWS_INVALID;
    }

    switch (alg) {

    case MG_JWT_HS256:
        rc = mg_jws_hmac(EVP_sha256(), key, input, input_len, sig, sig_len);
        break;

    case MG_JWT_HS384:
        rc = mg_jws_hmac(EVP_sha384(), key, input, input_len, sig, sig_len);
        break;

    case MG_JWT_HS512:
        rc = mg_jws_hmac(EVP_sha512(), key, input, input_len, sig, sig_len);
        break;

    case MG_JWT_RS256:
        rc = mg_jws_rsa(EVP_sha256(), RSA_PKCS1_PADDING, key,
                        input, input_len, sig, sig_len);
        break;

    case MG_JWT_RS384:
        rc = mg_jws_rsa(EVP_sha384(), RSA_PKCS1_PADDING, key,
                        input, input_len, sig, sig_len);
        break;

    case MG_JWT_RS512:
        rc = mg_jws_rsa(EVP_sha512(), RSA_PKCS1_PADDING, key,
                        input, input_len, sig, sig_len);
        break;

    case MG_JWT_PS256:
        rc = mg_jws_rsa(EVP_sha256(), RSA_PKCS1_PSS_PADDING, key,
                        input, input_len, sig, sig_len);
        break;

    case MG_JWT_PS384:
        rc = mg_jws_rsa(EVP_sha384(), RSA_PKCS1_PSS_PADDING, key,
                        input, input_len, sig, sig_len);
        break;

    case MG_JWT_PS512:
        rc = mg_jws_rsa(EVP_sha512(), RSA_PKCS1_PSS_PADDING, key,
                        input, input_len, sig, sig_len);
        break;

    case MG_JWT_ES256:
        rc = mg_jws_ecdsa(EVP_sha256(), 32, key, input, input_len,
                          sig, sig_len);
        break;

    case MG_JWT_ES384:
        rc = mg_jws_ecdsa(EVP_sha384(), 48, key, input, input_len,
                          sig, sig_len);
        break;

    case MG_JWT_ES512:
        rc = mg_jws_ecdsa(EVP_sha512(), 66, key, input, input_len,
                          sig, sig_len);
        break;

    case MG_JWT_EDDSA:
        rc = mg_jws_eddsa(key, input, input_len, sig, sig_len);
        break;

    default:
        rc = MG_JWS_INVALID;
    }

    if (rc != MG_JWS_VALID) {
        /*
         * A forged signature is the client's problem; its OpenSSL errors
         * must not surface later as the failure of some TLS connection.
         */
        ERR_clear_error();
    }

    return rc;
}


static int
mg_jws_hmac(const EVP_MD *md, const mg_jwk_t *key,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len)
{
    int            rc;
    unsigned int   len;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (sig_len != (size_t) EVP_MD_get_size(md)
        || key->secret.len > INT_MAX)
    {
        return MG_JWS_INVALID;
    }

    if (HMAC(md, key->secret.data, (int) key->secret.len, input, input_len,
             mac, &len)
        == NULL)
    {
        return MG_JWS_ERROR;
    }

    rc = (len == sig_len && CRYPTO_memcmp(mac, sig, len) == 0)
         ? MG_JWS_VALID : MG_JWS_INVALID;

    /* the right tag for this input is a forgery waiting to happen */
    OPENSSL_cleanse(mac, sizeof(mac));

    return rc;
}


static int
mg_jws_rsa(const EVP_MD *md, int padding, const mg_jwk_t *key,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len)
{
    /* RFC 7518 3.3: the signature is as long as the modulus, no shorter */

    if (sig_len != (size_t) EVP_PKEY_get_size(key->pkey)) {
        return MG_JWS_INVALID;
    }

    return mg_jws_pkey(md, padding, key->pkey, input, input_len,
                       sig, sig_len);
}


static int
mg_jws_ecdsa(const EVP_MD *md, size_t size, const mg_jwk_t *key,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len)
{
    int             len;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    unsigned char  *p;
    unsigned char   der[MG_JWS_ECDSA_DER_SIZE];

    /*
     * RFC 7518 3.4 fixes R || S at twice the coordinate size; anything
     * else, DER included, is another encoding of maybe the same signature,
     * and accepting it would make tokens malleable.
     */

    if (sig_len != 2 * size) {
        return MG_JWS_INVALID;
    }

    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int) size, NULL);
    s = BN_bin2bn(sig + size, (int) size, NULL);

    if (es == NULL || r == NULL || s == NULL) {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        return MG_JWS_ERROR;
    }

    /* cannot fail with both numbers given; es owns them now */
    ECDSA_SIG_set0(es, r, s);

    len = i2d_ECDSA_SIG(es, NULL);

    if (len <= 0 || len > (int) sizeof(der)) {
        ECDSA_SIG_free(es);
        return MG_JWS_ERROR;
    }

    p = der;
    len = i2d_ECDSA_SIG(es, &p);

    ECDSA_SIG_free(es);

    if (len <= 0) {
        return MG_JWS_ERROR;
    }

    return mg_jws_pkey(md, 0, key->pkey, input, input_len, der, len);
}


static int
mg_jws_eddsa(const mg_jwk_t *key, const unsigned char *input,
    size_t input_len, const unsigned char *sig, size_t sig_len)
{
    size_t  size;

    size = (key->crv == MG_JWK_ED448) ? MG_JWS_ED448_SIZE
                                      : MG_JWS_ED25519_SIZE;

    if (sig_len != size) {
        return MG_JWS_INVALID;
    }

    /* EdDSA hashes internally, so there is no digest to name */

    return mg_jws_pkey(NULL, 0, key->pkey, input, input_len, sig, sig_len);
}


static int
mg_jws_pkey(const EVP_MD *md, int padding, EVP_PKEY *pkey,
    const unsigned char *input, size_t input_len, const unsigned char *sig,
    size_t sig_len)
{
    int            rc;
    EVP_MD_CTX    *ctx;
    EVP_PKEY_CTX  *pctx;

    if (pkey == NULL) {
        return MG_JWS_INVALID;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return MG_JWS_ERROR;
    }

    rc = MG_JWS_ERROR;

    if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pkey) != 1) {
        goto done;
    }

    if (padding != 0
        && EVP_PKEY_CTX_set_rsa_padding(pctx, padding) <= 0)
    {
        goto done;
    }

    if (padding == RSA_PKCS1_PSS_PADDING
        && (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
            <= 0
            || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) <= 0))
    {
        goto done;
    }

    /* a negative result is a malformed signature too, not our failure */

    rc = (EVP_DigestVerify(ctx, sig, sig_len, input, input_len) == 1)
         ? MG_JWS_VALID : MG_JWS_INVALID;

done:

    EVP_MD_CTX_free(ctx);

    return rc;
}
