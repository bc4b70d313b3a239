
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037) turned
 * once into OpenSSL 3 keys ready for verification.
 */


#ifndef _MG_JWK_H_INCLUDED_
#define _MG_JWK_H_INCLUDED_


#include <openssl/evp.h>

#include "mg_common.h"
#include "mg_jwt.h"


typedef enum {
    MG_JWK_OCT = 1,
    MG_JWK_RSA,
    MG_JWK_EC,
    MG_JWK_OKP
} mg_jwk_kty_e;


typedef enum {
    MG_JWK_CRV_NONE = 0,
    MG_JWK_P256,
    MG_JWK_P384,
    MG_JWK_P521,
    MG_JWK_ED25519,
    MG_JWK_ED448
} mg_jwk_crv_e;


typedef struct {
    mg_jwk_kty_e          kty;
    mg_jwk_crv_e          crv;
    mg_jwt_alg_e          alg;        /* MG_JWT_ALG_UNKNOWN: key has no alg */
    mg_str_t              kid;        /* data NULL: key has no kid */
    EVP_PKEY             *pkey;       /* RSA, EC, OKP */
    mg_str_t              secret;     /* oct */
} mg_jwk_t;


typedef struct {
    mg_jwk_t             *keys;
    size_t                nkeys;
    size_t                skipped;    /* keys left out, weak ones included */
    size_t                weak;       /* keys left out as too weak */
    char                  skip_reason[128];  /* why the last one was:
                                                "key N (kid \"...\"): ...",
                                                N from 0, printable ASCII */
    char                  weak_reason[128];  /* the first weak one, the
                                                same way */
} mg_jwks_t;


/*
 * Parses a JWK Set ({"keys": [...]}) or a single JWK object.  Keys that
 * cannot verify signatures are left out and counted in skipped: "use"
 * other than "sig", "key_ops" without "verify", an unknown kty, crv or alg,
 * missing or malformed members, EC points not on the curve.  Keys weaker
 * than RFC 7518 allows are left out too, and counted in weak as well: an
 * oct key shorter than 32 bytes, or than the hash of its own alg (48 bytes
 * for HS384, 64 for HS512), and an RSA modulus under 2048 bits.  Public
 * members only are read; private ones ("d", "p", ...) are ignored.
 *
 * The document is read by mg_json (mg_json.h), and refused as a whole if
 * a member name repeats in any object, if it nests deeper than 32, or if
 * it holds one of the values parsers disagree about: a NUL character in a
 * string (as "\u0000"), an integer beyond int64_t, a number beyond a
 * double or written with more than 255 characters.
 *
 * What the set keeps comes from a, and only that: the array of the keys
 * kept and their kids and secrets, however much else the document holds.
 * What serves the parse only comes from scratch: the tokens of the
 * document (20 bytes per JSON value), unescaped copies of members, the
 * keys left out.  Nothing in jwks points into scratch or into data, so
 * both may be released as soon as the call returns, whatever it returns.
 * scratch may be a, for a caller that releases both together.
 *
 * Returns 0 (nkeys may be 0: the caller decides), or -1 with a message in
 * err when the document itself is not a JWK or JWK Set (or on allocation
 * failure).  On success the caller owns the OpenSSL keys and releases them
 * with mg_jwks_free(), which may be called more than once.  Messages are
 * printable ASCII whatever the input; OpenSSL's error queue is left empty.
 */
int mg_jwks_parse(mg_jwks_t *jwks, const unsigned char *data, size_t len,
    mg_allocator_t *a, mg_allocator_t *scratch, char *err, size_t err_len);

void mg_jwks_free(mg_jwks_t *jwks);

/*
 * Whether key may verify a signature made with alg: kty, crv, its own alg,
 * and for an oct key without alg its length (a 40-byte key verifies HS256
 * but not HS384).
 */
int mg_jwk_fits(const mg_jwk_t *key, mg_jwt_alg_e alg);


#endif /* _MG_JWK_H_INCLUDED_ */
