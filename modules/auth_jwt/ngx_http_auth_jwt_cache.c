
/*
 * meshgate: a per-worker memory of verified signatures.
 *
 * Clients send the same token with every request until it expires, and an
 * RSA, ECDSA or EdDSA verification costs more than proxying the request.
 * A small two-way set-associative table, keyed by the SHA-256 digest of
 * the whole token, remembers which key source verified a token; an entry
 * counts only while that source still holds the same keys (its generation)
 * and never past the token's exp.  Time claims and requirements are still
 * checked on every request.  HMAC is cheaper than the digest, so HS* tokens
 * are not cached.
 */


#include <openssl/sha.h>

#include "ngx_http_auth_jwt_module.h"


ngx_int_t
ngx_http_auth_jwt_cache_init(ngx_cycle_t *cycle,
    ngx_http_auth_jwt_main_conf_t *amcf)
{
    amcf->cache = ngx_pcalloc(cycle->pool, NGX_HTTP_AUTH_JWT_CACHE_SIZE
                                     * sizeof(ngx_http_auth_jwt_cache_node_t));
    if (amcf->cache == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_http_auth_jwt_cache_node_t *
ngx_http_auth_jwt_cache_node(ngx_http_auth_jwt_main_conf_t *amcf,
    mg_jwt_t *jwt, u_char *digest)
{
    ngx_uint_t                       i;
    ngx_http_auth_jwt_cache_node_t  *set;

    if (amcf->cache == NULL) {
        return NULL;
    }

    switch (jwt->alg) {

    case MG_JWT_HS256:
    case MG_JWT_HS384:
    case MG_JWT_HS512:
        return NULL;

    default:
        break;
    }

    SHA256(jwt->token.data, jwt->token.len, digest);

    i = ((ngx_uint_t) digest[0] << 8 | digest[1])
        & (NGX_HTTP_AUTH_JWT_CACHE_SIZE - 1) & ~(ngx_uint_t) 1;

    set = &amcf->cache[i];

    if (ngx_memcmp(set[1].digest, digest, 32) == 0) {
        return &set[1];
    }

    if (ngx_memcmp(set[0].digest, digest, 32) == 0) {
        return &set[0];
    }

    /* a miss: the entry to replace if the token verifies */

    return (set[0].expires <= set[1].expires) ? &set[0] : &set[1];
}


void
ngx_http_auth_jwt_cache_store(ngx_http_auth_jwt_cache_node_t *node,
    u_char *digest, ngx_http_auth_jwt_keys_t *keys, mg_jwt_t *jwt,
    time_t leeway)
{
    time_t  expires;

    expires = ngx_time() + NGX_HTTP_AUTH_JWT_CACHE_TTL;

    if (jwt->has_exp && jwt->exp + (double) leeway < (double) expires) {
        expires = (time_t) (jwt->exp + (double) leeway);
    }

    ngx_memcpy(node->digest, digest, 32);
    node->keys = keys;
    node->generation = keys->generation;
    node->expires = expires;
}
