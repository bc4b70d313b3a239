
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: libFuzzer harness for mg_jwks_parse() and mg_jws_verify().
 *
 * The input is a JWK or JWK Set.  Every key that comes out of it is then
 * tried with every algorithm on a fixed signing input, with signatures
 * taken from the input itself: of the exact length the algorithm wants,
 * and of a length that depends on the input.  Besides the sanitizers'
 * findings, it aborts when a key breaks its documented shape or is weaker
 * than RFC 7518 allows (an HMAC key shorter than the hash it is used with,
 * an RSA modulus under 2048 bits), when verification claims an internal
 * failure (it only may on allocation failures), and when OpenSSL's error
 * queue is left non-empty.
 *
 * The parse gets scratch memory of its own, as the module gives it a pool
 * of its own: that memory, and the copy of the input that is parsed, are
 * freed as soon as the parse returns, so that AddressSanitizer reports a
 * key that still points into either once it is used.
 */


#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "mg_jwk.h"
#include "mg_jws.h"

#include "fuzz.h"


static void *fuzz_scratch_alloc(void *data, size_t size);
static void fuzz_scratch_free(void);
static void fuzz_check_key(const mg_jwk_t *key);
static int fuzz_hmac_fits(const mg_jwk_t *key, mg_jwt_alg_e alg,
    size_t need);
static void fuzz_verify(const mg_jwk_t *key, const uint8_t *data,
    size_t size);


static const unsigned char  fuzz_input[] =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImZ1enoifQ.eyJzdWIiOiJmdXp6In0";

static fuzz_block_t    *fuzz_scratch_blocks;
static mg_allocator_t   fuzz_scratch = { fuzz_scratch_alloc, NULL };


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc;
    size_t          i;
    mg_jwks_t       jwks;
    unsigned char  *copy;
    char            err[128];

    copy = fuzz_malloc(size + 1);

    if (size) {
        memcpy(copy, data, size);
    }

    rc = mg_jwks_parse(&jwks, copy, size, &fuzz_allocator, &fuzz_scratch,
                       err, sizeof(err));

    free(copy);
    fuzz_scratch_free();

    if (rc == 0) {

        if (jwks.skipped != 0 && memchr(jwks.skip_reason, '\0',
                                        sizeof(jwks.skip_reason)) == NULL)
        {
            abort();
        }

        if (jwks.weak > jwks.skipped
            || (jwks.weak != 0
                && (memchr(jwks.weak_reason, '\0', sizeof(jwks.weak_reason))
                    == NULL
                    || strncmp(jwks.weak_reason, "key ", 4) != 0)))
        {
            abort();
        }

        for (i = 0; i < jwks.nkeys; i++) {
            fuzz_check_key(&jwks.keys[i]);
            fuzz_verify(&jwks.keys[i], data, size);
        }

        mg_jwks_free(&jwks);
        mg_jwks_free(&jwks);

    } else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
        abort();
    }

    if (ERR_peek_error() != 0) {
        abort();
    }

    fuzz_free_all();

    return 0;
}


/* fuzz_alloc(), for a list of blocks of its own */

static void *
fuzz_scratch_alloc(void *data, size_t size)
{
    fuzz_block_t  *b;

    (void) data;

    b = malloc(sizeof(fuzz_block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = fuzz_scratch_blocks;
    fuzz_scratch_blocks = b;

    return b->data;
}


static void
fuzz_scratch_free(void)
{
    fuzz_block_t  *b;

    while (fuzz_scratch_blocks) {
        b = fuzz_scratch_blocks;
        fuzz_scratch_blocks = b->next;
        free(b);
    }
}


static void
fuzz_check_key(const mg_jwk_t *key)
{
    if (key->kid.data == NULL && key->kid.len != 0) {
        abort();
    }

    /* a document with a NUL character is refused; this reads every byte */

    if (key->kid.len != 0
        && memchr(key->kid.data, '\0', key->kid.len) != NULL)
    {
        abort();
    }

    switch (key->kty) {

    case MG_JWK_OCT:
        if (key->secret.data == NULL || key->pkey != NULL
            || key->crv != MG_JWK_CRV_NONE
            || !fuzz_hmac_fits(key, MG_JWT_HS256, 32)
            || !fuzz_hmac_fits(key, MG_JWT_HS384, 48)
            || !fuzz_hmac_fits(key, MG_JWT_HS512, 64))
        {
            abort();
        }
        break;

    case MG_JWK_RSA:
        if (key->pkey == NULL || key->crv != MG_JWK_CRV_NONE
            || EVP_PKEY_get_bits(key->pkey) < 2048)
        {
            abort();
        }
        break;

    case MG_JWK_EC:
        if (key->pkey == NULL
            || (key->crv != MG_JWK_P256 && key->crv != MG_JWK_P384
                && key->crv != MG_JWK_P521))
        {
            abort();
        }
        break;

    case MG_JWK_OKP:
        if (key->pkey == NULL
            || (key->crv != MG_JWK_ED25519 && key->crv != MG_JWK_ED448))
        {
            abort();
        }
        break;

    default:
        abort();
    }

    if (key->alg != MG_JWT_ALG_UNKNOWN && !mg_jwk_fits(key, key->alg)) {
        abort();
    }
}


/*
 * Whether an oct key fits alg as RFC 7518 wants: of its own alg, if any,
 * and at least need bytes long; a key of that alg must be that long.
 */

static int
fuzz_hmac_fits(const mg_jwk_t *key, mg_jwt_alg_e alg, size_t need)
{
    int  own;

    own = (key->alg == MG_JWT_ALG_UNKNOWN || key->alg == alg);

    if (key->alg == alg && key->secret.len < need) {
        return 0;
    }

    if (key->alg == MG_JWT_ALG_UNKNOWN && key->secret.len < 32) {
        return 0;
    }

    return mg_jwk_fits(key, alg) == (own && key->secret.len >= need);
}


static void
fuzz_verify(const mg_jwk_t *key, const uint8_t *data, size_t size)
{
    int             alg, rc;
    size_t          i, len;
    unsigned char   sig[2048 + 2];

    static const size_t  sizes[] = {
        0, 32, 48, 64, 256, 256, 256, 256, 256, 256, 64, 96, 132, 64
    };

    /* signatures are the input backwards, cycled if need be */

    for (i = 0; i < sizeof(sig); i++) {
        sig[i] = data[size - 1 - i % size];
    }

    for (alg = MG_JWT_HS256; alg <= MG_JWT_EDDSA; alg++) {
        len = sizes[alg];

        if (alg >= MG_JWT_RS256 && alg <= MG_JWT_PS512 && key->pkey != NULL) {
            len = (size_t) EVP_PKEY_get_size(key->pkey);

        } else if (alg == MG_JWT_EDDSA && key->crv == MG_JWK_ED448) {
            len = 114;
        }

        if (len > sizeof(sig) - 2) {
            abort();
        }

        rc = mg_jws_verify((mg_jwt_alg_e) alg, key, fuzz_input,
                           sizeof(fuzz_input) - 1, sig, len);

        if (rc == MG_JWS_ERROR
            || (rc == MG_JWS_VALID && !mg_jwk_fits(key, alg)))
        {
            abort();
        }

        /* and one of a length the input picks, often a wrong one */

        rc = mg_jws_verify((mg_jwt_alg_e) alg, key, fuzz_input,
                           sizeof(fuzz_input) - 1, sig, size % (len + 2));

        if (rc == MG_JWS_ERROR) {
            abort();
        }
    }
}
