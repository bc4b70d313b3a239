
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: JWS compact serialization (RFC 7515) of a JWT (RFC 7519).
 *
 * mg_jwt_parse() splits and decodes a token and checks everything that
 * does not need a key: the shape, the JOSE header, and that the claims set
 * is a JSON object whose "exp" and "nbf" are numbers.  The signature is
 * checked by mg_jws_verify(), the time claims by the caller.
 */


#ifndef _MG_JWT_H_INCLUDED_
#define _MG_JWT_H_INCLUDED_


#include "mg_common.h"
#include "mg_json.h"


#define MG_JWT_MAX_TOKEN     8192
#define MG_JWT_MAX_DEPTH     32


typedef enum {
    MG_JWT_ALG_UNKNOWN = 0,
    MG_JWT_HS256,
    MG_JWT_HS384,
    MG_JWT_HS512,
    MG_JWT_RS256,
    MG_JWT_RS384,
    MG_JWT_RS512,
    MG_JWT_PS256,
    MG_JWT_PS384,
    MG_JWT_PS512,
    MG_JWT_ES256,
    MG_JWT_ES384,
    MG_JWT_ES512,
    MG_JWT_EDDSA
} mg_jwt_alg_e;


typedef struct {
    mg_str_t              token;
    mg_str_t              signing_input;  /* header "." payload */

    mg_json_t             header;         /* decoded JOSE header */
    mg_json_t             payload;        /* decoded claims set */

    unsigned char        *signature;
    size_t                signature_len;

    mg_jwt_alg_e          alg;
    mg_str_t              kid;            /* unescaped; data NULL if none */

    double                exp;
    double                nbf;
    unsigned              has_exp:1;
    unsigned              has_nbf:1;
} mg_jwt_t;


/*
 * Returns 0, or -1 with *err set to a short static reason that is fit for
 * a log line ("alg \"none\" is not allowed", "bad base64url in payload").
 * Rejected: more than MG_JWT_MAX_TOKEN bytes; other than three segments
 * (five: "encrypted tokens are not supported"); bad base64url; a header or
 * claims set that is not a JSON object or has duplicate member names; a
 * missing, unknown or "none" (any case) alg; a "crit" header parameter; a
 * non-string kid; non-number exp or nbf; any string in the header or the
 * claims set that would unescape to a control character other than HT
 * (0x00-0x08, 0x0a-0x1f, 0x7f): "claim or header value contains CR, LF or
 * NUL" for those three, "... contains a control character" for the rest.
 */
int mg_jwt_parse(mg_jwt_t *jwt, const unsigned char *token, size_t len,
    mg_allocator_t *a, const char **err);

/* exact, case-sensitive names; MG_JWT_ALG_UNKNOWN and NULL otherwise */
mg_jwt_alg_e mg_jwt_alg_by_name(const unsigned char *name, size_t len);
const char *mg_jwt_alg_name(mg_jwt_alg_e alg);

/*
 * Looks up a claim (or, with json = &jwt->header, a header parameter)
 * through nested objects: path[0] at the top level, path[1] inside it, and
 * so on.  Returns the token index (0, the top level, for npath 0) or -1.
 */
int32_t mg_jwt_lookup(const mg_json_t *json, const mg_str_t *path,
    size_t npath);

/*
 * Writes value i as nginx variables show it: strings unescaped, numbers
 * exactly as written, true/false as words, null as the empty string,
 * arrays as their elements so rendered (elements that are objects or
 * arrays as compact JSON), each with its "," and "%" written as %2C and
 * %25, and joined by ",", objects as compact JSON.  dst needs
 * mg_jwt_value_size() bytes; returns the length written.
 */
size_t mg_jwt_value(const mg_json_t *json, uint32_t i, unsigned char *dst);

/*
 * The room mg_jwt_value() needs for value i: (end - start) bytes, and for
 * an array two more for each "," and "%" in its text.
 */
size_t mg_jwt_value_size(const mg_json_t *json, uint32_t i);


#endif /* _MG_JWT_H_INCLUDED_ */
