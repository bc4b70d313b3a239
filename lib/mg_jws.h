
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: JWS signature verification (RFC 7515, RFC 7518, RFC 8037)
 * with OpenSSL 3.
 */


#ifndef _MG_JWS_H_INCLUDED_
#define _MG_JWS_H_INCLUDED_


#include "mg_common.h"
#include "mg_jwk.h"


#define MG_JWS_VALID      1
#define MG_JWS_INVALID    0
#define MG_JWS_ERROR     -1


/*
 * Checks sig over input with key for alg.  The caller has already checked
 * mg_jwk_fits(key, alg).  HMAC tags are compared in constant time; ECDSA
 * signatures must be exactly twice the curve's coordinate size (R || S as
 * RFC 7518 section 3.4 says) and are converted to DER for OpenSSL; RSA-PSS
 * uses MGF1 with the same hash and a salt as long as the hash.  Returns
 * MG_JWS_VALID, MG_JWS_INVALID, or MG_JWS_ERROR when OpenSSL itself fails
 * (out of memory).  A key that does not fit alg gives MG_JWS_INVALID.  The
 * OpenSSL error queue is left empty.
 */
int mg_jws_verify(mg_jwt_alg_e alg, const mg_jwk_t *key,
    const unsigned char *input, size_t input_len,
    const unsigned char *sig, size_t sig_len);


#endif /* _MG_JWS_H_INCLUDED_ */
