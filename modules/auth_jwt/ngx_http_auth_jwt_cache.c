
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: a per-worker memory of verified tokens.
 *
 * Clients send the same token with every request until it expires, and
 * checking a signature costs more than proxying the request (RSA, ECDSA
 * and EdDSA verification, or HMAC through OpenSSL 3's provider layer).  A
 * two-way set-associative table keeps recently verified tokens whole, so
 * that a hit is an exact comparison, never a guess from a digest, and
 * remembers which key set verified each, and that set's generation: an
 * entry counts only while a source of the location holds, for this
 * request, that very set (a key file's keys, or the keys fetched from the
 * same evaluated uri in the same server), and never past the token's exp.
 * A hit also spares parsing the token until a variable needs a claim; exp
 * and nbf come from the entry and are checked on every request, as are
 * the requirements.
 */


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
ngx_http_auth_jwt_cache_lookup(ngx_http_auth_jwt_main_conf_t *amcf,
    ngx_str_t *token)
{
    uint32_t                         hash;
    ngx_uint_t                       i, k;
    ngx_http_auth_jwt_cache_node_t  *node;

    if (amcf->cache == NULL || token->len > NGX_HTTP_AUTH_JWT_CACHE_TOKEN) {
        return NULL;
    }

    hash = ngx_murmur_hash2(token->data, token->len);
    i = hash & (NGX_HTTP_AUTH_JWT_CACHE_SIZE - 1) & ~(ngx_uint_t) 1;

    for (k = 0; k < 2; k++) {
        node = &amcf->cache[i + k];

        if (node->hash == hash
            && node->len == token->len
            && node->expires >= ngx_time()
            && ngx_memcmp(node->token, token->data, token->len) == 0)
        {
            return node;
        }
    }

    return NULL;
}


void
ngx_http_auth_jwt_cache_store(ngx_http_auth_jwt_main_conf_t *amcf,
    ngx_str_t *token, ngx_http_auth_jwt_set_t *set, mg_jwt_t *jwt,
    time_t leeway)
{
    time_t                           expires;
    uint32_t                         hash;
    ngx_uint_t                       i;
    ngx_http_auth_jwt_cache_node_t  *node;

    if (amcf->cache == NULL || token->len > NGX_HTTP_AUTH_JWT_CACHE_TOKEN) {
        return;
    }

    expires = ngx_time() + NGX_HTTP_AUTH_JWT_CACHE_TTL;

    if (jwt->has_exp && jwt->exp + (double) leeway < (double) expires) {
        expires = (time_t) (jwt->exp + (double) leeway);
    }

    hash = ngx_murmur_hash2(token->data, token->len);
    i = hash & (NGX_HTTP_AUTH_JWT_CACHE_SIZE - 1) & ~(ngx_uint_t) 1;

    /* the entry that expires first makes room */

    node = &amcf->cache[i];

    if (node[1].expires < node[0].expires) {
        node++;
    }

    node->set = set;
    node->generation = set->generation;
    node->expires = expires;
    node->exp = jwt->exp;
    node->nbf = jwt->nbf;
    node->hash = hash;
    node->len = (uint16_t) token->len;
    node->has_exp = jwt->has_exp;
    node->has_nbf = jwt->has_nbf;

    ngx_memcpy(node->token, token->data, token->len);
}
