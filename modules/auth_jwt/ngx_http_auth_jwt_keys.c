
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: where auth_jwt gets its keys: JWKS files read once at
 * configuration time (auth_jwt_key_file) and JWKS fetched through a
 * subrequest (auth_jwt_key_request), and the signature check with them.
 *
 * Fetched keys are kept per worker for auth_jwt_key_cache under what the
 * subrequest is: its uri with variables evaluated and with its arguments,
 * and the server it runs in.  Nothing else of the client's request reaches
 * the subrequest, not even the Host header (see
 * ngx_http_auth_jwt_start_fetch()), so two requests that would fetch from
 * different places never share keys.  A key request keeps at most
 * NGX_HTTP_AUTH_JWT_KEY_SETS sets, the least recently used one goes first,
 * and only a fetch that succeeded takes a place: a uri built from client
 * input that names no key set costs a fetch each time, and evicts nothing.
 */


#include "ngx_http_auth_jwt_module.h"


/* a key set larger than this is surely not a JWKS */
#define NGX_HTTP_AUTH_JWT_MAX_KEYS  (1024 * 1024)

/* a fetched set's pool: the set, its uri, the keys and their secrets */
#define NGX_HTTP_AUTH_JWT_SET_POOL  2048

/*
 * A parse's own pool: the tokens of the document, 20 bytes per JSON value,
 * and copies of members.  A usual set needs no more; the tokens of a large
 * one are allocated apart, and freed with the pool as the parse returns.
 */
#define NGX_HTTP_AUTH_JWT_PARSE_POOL  4096


static ngx_int_t ngx_http_auth_jwt_try(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx,
    ngx_http_auth_jwt_set_t *set);
static ngx_uint_t ngx_http_auth_jwt_refresh(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf);
static ngx_http_auth_jwt_set_t *ngx_http_auth_jwt_find_set(
    ngx_http_request_t *r, ngx_http_auth_jwt_keys_t *keys, ngx_str_t *uri);
static ngx_int_t ngx_http_auth_jwt_start_fetch(ngx_http_request_t *r,
    ngx_http_auth_jwt_ctx_t *ctx, ngx_http_auth_jwt_keys_t *keys,
    ngx_str_t *uri);
static ngx_int_t ngx_http_auth_jwt_fetch_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_http_auth_jwt_set_t *ngx_http_auth_jwt_fetched(
    ngx_http_request_t *r, ngx_http_auth_jwt_loc_conf_t *alcf,
    ngx_http_auth_jwt_ctx_t *ctx);
static ngx_http_auth_jwt_set_t *ngx_http_auth_jwt_parse_fetched(
    ngx_http_request_t *r, ngx_http_auth_jwt_ctx_t *ctx, u_char *data,
    size_t len);
static void ngx_http_auth_jwt_keep_set(ngx_http_auth_jwt_keys_t *keys,
    ngx_http_auth_jwt_set_t *old, ngx_http_auth_jwt_set_t *set);
static ngx_int_t ngx_http_auth_jwt_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_pool_t *pool, ngx_str_t *text);
static ngx_http_auth_jwt_keys_t *ngx_http_auth_jwt_add_keys(ngx_conf_t *cf,
    ngx_http_auth_jwt_loc_conf_t *alcf);
static void ngx_http_auth_jwt_free_jwks(void *data);
static void ngx_http_auth_jwt_free_set(void *data);
static void ngx_http_auth_jwt_free_sets(void *data);


static ngx_uint_t  ngx_http_auth_jwt_generation;


#define ngx_http_auth_jwt_expired(set)                                        \
    ((ngx_msec_int_t) ((set)->expires - ngx_current_msec) <= 0)


ngx_int_t
ngx_http_auth_jwt_verify(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_str_t                   uri;
    ngx_http_auth_jwt_set_t    *set;
    ngx_http_auth_jwt_keys_t  **keys, *k;

    if (alcf->keys == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: no key source for this request, add "
                      "\"auth_jwt_key_file\" or \"auth_jwt_key_request\"");
        return NGX_ERROR;
    }

    keys = alcf->keys->elts;

    for ( ;; ) {

        /*
         * Each source's keys are tried as soon as they are at hand, so no
         * set is held across a fetch: another request may replace it.
         */

        while (ctx->next < alcf->keys->nelts) {
            k = keys[ctx->next];

            if (ctx->fetching) {

                if (!ctx->fetched) {
                    return NGX_AGAIN;
                }

                set = ngx_http_auth_jwt_fetched(r, alcf, ctx);

                ctx->fetching = NULL;
                ctx->subrequest = NULL;
                ctx->fetched = 0;

                if (set == NULL) {
                    return NGX_ERROR;
                }

            } else if (!k->request) {
                set = k->file;

            } else {
                if (ngx_http_complex_value(r, k->uri, &uri) != NGX_OK) {
                    return NGX_ERROR;
                }

                set = alcf->key_cache ? ngx_http_auth_jwt_find_set(r, k, &uri)
                                      : NULL;

                if (set == NULL || ngx_http_auth_jwt_expired(set)) {
                    return ngx_http_auth_jwt_start_fetch(r, ctx, k, &uri);
                }
            }

            ctx->next++;

            rc = ngx_http_auth_jwt_try(r, alcf, ctx, set);

            if (rc != NGX_DECLINED) {
                return rc;
            }
        }

        /*
         * A kid that no key has: the keys may have been rotated, so the
         * sets of this request are fetched again, once per request and at
         * most once every NGX_HTTP_AUTH_JWT_KID_REFRESH per set, so that
         * tokens with made-up kids cannot make every request a fetch.
         */

        if (ctx->jwt.kid.data == NULL || ctx->named || ctx->refreshed) {
            break;
        }

        ctx->refreshed = 1;

        if (ngx_http_auth_jwt_refresh(r, alcf) == 0) {
            break;
        }

        ctx->next = 0;
        ctx->fit = 0;
    }

    if (ctx->jwt.kid.data && !ctx->named) {
        ctx->reason = "no key for kid";

    } else {
        ctx->reason = ctx->fit ? "signature verification failed"
                               : "no key fits the token's alg";
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_auth_jwt_try(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx,
    ngx_http_auth_jwt_set_t *set)
{
    int                             rc;
    mg_jwk_t                       *key;
    mg_jwt_t                       *jwt;
    ngx_uint_t                      j;
    ngx_http_auth_jwt_main_conf_t  *amcf;

    jwt = &ctx->jwt;
    key = set->jwks->keys;

    for (j = 0; j < set->jwks->nkeys; j++, key++) {

        if (jwt->kid.data) {
            if (key->kid.data == NULL
                || key->kid.len != jwt->kid.len
                || ngx_memcmp(key->kid.data, jwt->kid.data, jwt->kid.len)
                   != 0)
            {
                continue;
            }

            ctx->named = 1;
        }

        if (!mg_jwk_fits(key, jwt->alg)) {
            continue;
        }

        ctx->fit = 1;

        rc = mg_jws_verify(jwt->alg, key, jwt->signing_input.data,
                           jwt->signing_input.len, jwt->signature,
                           jwt->signature_len);

        if (rc == MG_JWS_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "auth_jwt: signature verification failed "
                          "inside OpenSSL");
            return NGX_ERROR;
        }

        if (rc == MG_JWS_VALID) {

            /* keys of this request only are not remembered with it */

            if (!set->temporary) {
                amcf = ngx_http_get_module_main_conf(r,
                                                     ngx_http_auth_jwt_module);

                ngx_http_auth_jwt_cache_store(amcf, &ctx->token, set, jwt,
                                              alcf->leeway);
            }

            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_uint_t
ngx_http_auth_jwt_refresh(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf)
{
    ngx_str_t                   uri;
    ngx_uint_t                  i, n;
    ngx_http_auth_jwt_set_t    *set;
    ngx_http_auth_jwt_keys_t  **keys;

    if (!alcf->key_cache) {
        /* every key request of this request has just been made */
        return 0;
    }

    keys = alcf->keys->elts;
    n = 0;

    for (i = 0; i < alcf->keys->nelts; i++) {

        if (!keys[i]->request) {
            continue;
        }

        if (ngx_http_complex_value(r, keys[i]->uri, &uri) != NGX_OK) {
            continue;
        }

        set = ngx_http_auth_jwt_find_set(r, keys[i], &uri);

        if (set == NULL
            || ngx_current_msec - set->fetched < NGX_HTTP_AUTH_JWT_KID_REFRESH)
        {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "auth_jwt: unknown kid, fetching keys from \"%V\" "
                      "again", &uri);

        set->fetched = ngx_current_msec;
        set->expires = ngx_current_msec;
        n++;
    }

    return n;
}


ngx_http_auth_jwt_set_t *
ngx_http_auth_jwt_current_set(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_keys_t *keys)
{
    ngx_str_t                 uri;
    ngx_http_auth_jwt_set_t  *set;

    if (!keys->request) {
        return keys->file;
    }

    if (!alcf->key_cache
        || ngx_http_complex_value(r, keys->uri, &uri) != NGX_OK)
    {
        return NULL;
    }

    set = ngx_http_auth_jwt_find_set(r, keys, &uri);

    if (set == NULL || ngx_http_auth_jwt_expired(set)) {
        return NULL;
    }

    return set;
}


/*
 * The set fetched from uri in this request's server, expired or not, and
 * now the most recently used one.
 */

static ngx_http_auth_jwt_set_t *
ngx_http_auth_jwt_find_set(ngx_http_request_t *r,
    ngx_http_auth_jwt_keys_t *keys, ngx_str_t *uri)
{
    ngx_queue_t               *q;
    ngx_http_auth_jwt_set_t   *set;
    ngx_http_core_srv_conf_t  *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    for (q = ngx_queue_head(&keys->sets);
         q != ngx_queue_sentinel(&keys->sets);
         q = ngx_queue_next(q))
    {
        set = ngx_queue_data(q, ngx_http_auth_jwt_set_t, queue);

        if (set->server == cscf
            && set->uri.len == uri->len
            && ngx_memcmp(set->uri.data, uri->data, uri->len) == 0)
        {
            ngx_queue_remove(q);
            ngx_queue_insert_head(&keys->sets, q);

            return set;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_auth_jwt_start_fetch(ngx_http_request_t *r,
    ngx_http_auth_jwt_ctx_t *ctx, ngx_http_auth_jwt_keys_t *keys,
    ngx_str_t *uri)
{
    u_char                      *p;
    ngx_str_t                    path, args;
    ngx_uint_t                   flags;
    ngx_http_request_t          *sr;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_post_subrequest_t  *ps;

    /*
     * A uri built from client input must not leave the key locations:
     * no "..", no NUL, and it starts at the root.
     */

    path = *uri;
    ngx_str_null(&args);
    flags = 0;

    if (uri->len == 0 || uri->data[0] != '/'
        || ngx_http_parse_unsafe_uri(r, &path, &args, &flags) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: unsafe key request uri \"%V\"", uri);
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_auth_jwt_fetch_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &path, args.len ? &args : NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->body = ngx_http_meshgate_capture(sr, NGX_HTTP_AUTH_JWT_MAX_KEYS);
    if (ctx->body == NULL) {
        return NGX_ERROR;
    }

    /*
     * The key server learns nothing of the client, and the keys depend on
     * nothing of the client's request but what the uri holds: none of its
     * headers (its bearer token above all, and Host too: $host is the
     * server's name), none of its body, and none of the variables it has
     * evaluated.  A subrequest shares its parent's variable values, which
     * would carry the client's $http_* values in, and the key location's
     * out.  What remains is the connection: $remote_addr, $server_port,
     * $ssl_server_name and the like.
     */

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    sr->variables = ngx_pcalloc(r->pool, cmcf->variables.nelts
                                         * sizeof(ngx_http_variable_value_t));
    if (sr->variables == NULL) {
        return NGX_ERROR;
    }

    /* $request_uri and $request are the key request's own */

    sr->unparsed_uri = *uri;

    p = ngx_pnalloc(r->pool, sizeof("GET ") - 1 + uri->len + 1
                             + r->http_protocol.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    sr->request_line.data = p;

    p = ngx_cpymem(p, "GET ", sizeof("GET ") - 1);
    p = ngx_cpymem(p, uri->data, uri->len);

    if (r->http_protocol.len) {
        *p++ = ' ';
        p = ngx_cpymem(p, r->http_protocol.data, r->http_protocol.len);
    }

    sr->request_line.len = p - sr->request_line.data;

    ctx->subrequest = sr;
    ctx->fetching = keys;
    ctx->uri = *uri;
    ctx->fetched = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "auth_jwt: fetching keys from \"%V\"", uri);

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_auth_jwt_fetch_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_auth_jwt_ctx_t  *ctx = data;

    ctx->fetched = 1;

    if (rc != NGX_OK && r->headers_out.status == 0) {
        r->headers_out.status = (rc >= NGX_HTTP_SPECIAL_RESPONSE)
                                ? (ngx_uint_t) rc
                                : NGX_HTTP_BAD_GATEWAY;
    }

    return rc;
}


static ngx_http_auth_jwt_set_t *
ngx_http_auth_jwt_fetched(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_request_t           *sr;
    ngx_http_auth_jwt_set_t      *set, *old;
    ngx_http_meshgate_capture_t  *body;

    sr = ctx->subrequest;

    old = alcf->key_cache ? ngx_http_auth_jwt_find_set(r, ctx->fetching,
                                                       &ctx->uri)
                          : NULL;

    if (old) {
        old->fetched = ngx_current_msec;
    }

    if (sr->headers_out.status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: key request \"%V\" answered %ui",
                      &ctx->uri, sr->headers_out.status);
        goto failed;
    }

    body = ctx->body;

    if (body->overflow || body->error) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: key request \"%V\": %s", &ctx->uri,
                      body->overflow ? "the key set is larger than 1m"
                                     : "the key set could not be read");
        goto failed;
    }

    set = ngx_http_auth_jwt_parse_fetched(r, ctx, body->data, body->len);

    if (set == NULL) {
        goto failed;
    }

    if (!alcf->key_cache) {

        /* without a cache, the keys serve this request only */

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            ngx_destroy_pool(set->pool);
            return NULL;
        }

        cln->handler = ngx_http_auth_jwt_free_set;
        cln->data = set;

        set->temporary = 1;

        return set;
    }

    set->expires = ngx_current_msec + alcf->key_cache;

    ngx_http_auth_jwt_keep_set(ctx->fetching, old, set);

    return set;

failed:

    /*
     * With a key cache, keys fetched earlier stay in use for a while: a
     * passing failure of the key server should not lock every client out.
     */

    if (old) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "auth_jwt: using the keys fetched earlier from \"%V\"",
                      &ctx->uri);

        old->expires = ngx_current_msec
                       + ngx_min(alcf->key_cache,
                                 NGX_HTTP_AUTH_JWT_KID_REFRESH);
        return old;
    }

    return NULL;
}


static ngx_http_auth_jwt_set_t *
ngx_http_auth_jwt_parse_fetched(ngx_http_request_t *r,
    ngx_http_auth_jwt_ctx_t *ctx, u_char *data, size_t len)
{
    int                       rc;
    char                      err[128];
    mg_jwks_t                *jwks;
    ngx_pool_t               *pool, *temp;
    mg_allocator_t            a, scratch;
    ngx_pool_cleanup_t       *cln;
    ngx_http_auth_jwt_set_t  *set;

    /* the keys outlive the request: they get a pool of their own */

    pool = ngx_create_pool(NGX_HTTP_AUTH_JWT_SET_POOL, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    set = ngx_pcalloc(pool, sizeof(ngx_http_auth_jwt_set_t));
    if (set == NULL) {
        goto failed;
    }

    set->uri.data = ngx_pstrdup(pool, &ctx->uri);
    if (set->uri.data == NULL) {
        goto failed;
    }

    set->uri.len = ctx->uri.len;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    jwks = ngx_pcalloc(pool, sizeof(mg_jwks_t));
    if (jwks == NULL) {
        goto failed;
    }

    /*
     * The set may be kept for as long as auth_jwt_key_cache says, and the
     * tokens of its document take up to ten times the document: they come
     * from a pool of the parse's own, which goes as soon as it returns.
     */

    temp = ngx_create_pool(NGX_HTTP_AUTH_JWT_PARSE_POOL, r->connection->log);
    if (temp == NULL) {
        goto failed;
    }

    ngx_http_meshgate_pool_allocator(&a, pool);
    ngx_http_meshgate_pool_allocator(&scratch, temp);

    rc = mg_jwks_parse(jwks, data, len, &a, &scratch, err, sizeof(err));

    ngx_destroy_pool(temp);

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: key request \"%V\": %s", &ctx->uri, err);
        goto failed;
    }

    cln->handler = ngx_http_auth_jwt_free_jwks;
    cln->data = jwks;

    if (jwks->nkeys == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: key request \"%V\": no usable key: %s",
                      &ctx->uri,
                      jwks->skipped ? jwks->skip_reason : "the set is empty");
        goto failed;
    }

    /* one line per fetch for each kind of key left out */

    if (jwks->weak) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "auth_jwt: key request \"%V\": %uz key(s) weaker "
                      "than RFC 7518 allows left out, first: %s",
                      &ctx->uri, jwks->weak, jwks->weak_reason);
    }

    if (jwks->skipped > jwks->weak) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "auth_jwt: key request \"%V\": %uz key(s) left out, "
                      "last: %s", &ctx->uri, jwks->skipped - jwks->weak,
                      jwks->skip_reason);
    }

    set->jwks = jwks;
    set->pool = pool;
    set->server = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
    set->generation = ++ngx_http_auth_jwt_generation;
    set->fetched = ngx_current_msec;

    return set;

failed:

    ngx_destroy_pool(pool);

    return NULL;
}


/*
 * The new set takes the place of the old one for the same uri, or of the
 * least recently used one when the source has no room left.  Nothing holds
 * a set across calls of the handler, so the one replaced goes at once; the
 * cache of verified tokens only compares pointers to sets it finds again.
 */

static void
ngx_http_auth_jwt_keep_set(ngx_http_auth_jwt_keys_t *keys,
    ngx_http_auth_jwt_set_t *old, ngx_http_auth_jwt_set_t *set)
{
    ngx_queue_t  *q;

    if (old == NULL && keys->nsets == NGX_HTTP_AUTH_JWT_KEY_SETS) {
        q = ngx_queue_last(&keys->sets);
        old = ngx_queue_data(q, ngx_http_auth_jwt_set_t, queue);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "auth_jwt: keys from \"%V\" dropped, the least "
                       "recently used", &old->uri);
    }

    if (old) {
        ngx_queue_remove(&old->queue);
        ngx_destroy_pool(old->pool);

    } else {
        keys->nsets++;
    }

    ngx_queue_insert_head(&keys->sets, &set->queue);
}


char *
ngx_http_auth_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_auth_jwt_loc_conf_t *alcf = conf;

    int                        rc;
    char                       err[128];
    ngx_str_t                 *value, name, text;
    mg_jwks_t                 *jwks;
    ngx_pool_t                *temp;
    mg_allocator_t             a, scratch;
    ngx_pool_cleanup_t        *cln;
    ngx_http_auth_jwt_keys_t  *keys;

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * The text of the file and the tokens of its document, up to ten times
     * the text, serve the parse only: they go as soon as it returns rather
     * than stay as long as the configuration, in every worker.
     */

    temp = ngx_create_pool(NGX_HTTP_AUTH_JWT_PARSE_POOL, cf->log);
    if (temp == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_auth_jwt_read_file(cf, &name, temp, &text) != NGX_OK) {
        goto failed;
    }

    keys = ngx_http_auth_jwt_add_keys(cf, alcf);
    if (keys == NULL) {
        goto failed;
    }

    keys->file = ngx_pcalloc(cf->pool, sizeof(ngx_http_auth_jwt_set_t));
    if (keys->file == NULL) {
        goto failed;
    }

    keys->file->generation = ++ngx_http_auth_jwt_generation;

    jwks = ngx_pcalloc(cf->pool, sizeof(mg_jwks_t));
    if (jwks == NULL) {
        goto failed;
    }

    keys->file->jwks = jwks;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    ngx_http_meshgate_pool_allocator(&a, cf->pool);
    ngx_http_meshgate_pool_allocator(&scratch, temp);

    rc = mg_jwks_parse(jwks, text.data, text.len, &a, &scratch, err,
                       sizeof(err));

    ngx_destroy_pool(temp);

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key file \"%s\": %s", name.data, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_auth_jwt_free_jwks;
    cln->data = jwks;

    /*
     * A key weaker than RFC 7518 allows is a mistake to fix, not a key
     * meant for something else: the file is refused, even with other keys.
     */

    if (jwks->weak) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" has %uz key(s) weaker than "
                           "RFC 7518 allows, first: %s", name.data,
                           jwks->weak, jwks->weak_reason);
        return NGX_CONF_ERROR;
    }

    if (jwks->nkeys == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" has no usable key: %s",
                           name.data,
                           jwks->skipped ? jwks->skip_reason
                                         : "the set is empty");
        return NGX_CONF_ERROR;
    }

    if (jwks->skipped) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "key file \"%s\": %uz key(s) left out, last: %s",
                           name.data, jwks->skipped, jwks->skip_reason);
    }

    return NGX_CONF_OK;

failed:

    ngx_destroy_pool(temp);

    return NGX_CONF_ERROR;
}


/* the whole of file name, in pool */

static ngx_int_t
ngx_http_auth_jwt_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_pool_t *pool,
    ngx_str_t *text)
{
    u_char           *buf;
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_file_info_t   fi;

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "auth_jwt_key_file: " ngx_open_file_n
                           " \"%s\" failed", name->data);
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", name->data);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size > NGX_HTTP_AUTH_JWT_MAX_KEYS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" is too large", name->data);
        goto done;
    }

    buf = ngx_pnalloc(pool, size + 1);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, buf, size);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed", name->data);
        goto done;
    }

    if ((size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" was read only partly",
                           name->data);
        goto done;
    }

    text->data = buf;
    text->len = size;

    rc = NGX_OK;

done:

    ngx_close_file(fd);

    return rc;
}


char *
ngx_http_auth_jwt_key_request(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_auth_jwt_loc_conf_t *alcf = conf;

    ngx_str_t                         *value;
    ngx_pool_cleanup_t                *cln;
    ngx_http_auth_jwt_keys_t          *keys;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid uri \"%V\": a location uri starting "
                           "with \"/\" is expected", &value[1]);
        return NGX_CONF_ERROR;
    }

    keys = ngx_http_auth_jwt_add_keys(cf, alcf);
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    keys->request = 1;

    keys->uri = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (keys->uri == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = keys->uri;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_queue_init(&keys->sets);

    /* keys fetched by a worker die with its cycle */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_auth_jwt_free_sets;
    cln->data = keys;

    return NGX_CONF_OK;
}


static ngx_http_auth_jwt_keys_t *
ngx_http_auth_jwt_add_keys(ngx_conf_t *cf, ngx_http_auth_jwt_loc_conf_t *alcf)
{
    ngx_http_auth_jwt_keys_t  **kp;

    if (alcf->keys == NULL) {
        alcf->keys = ngx_array_create(cf->pool, 2,
                                      sizeof(ngx_http_auth_jwt_keys_t *));
        if (alcf->keys == NULL) {
            return NULL;
        }
    }

    kp = ngx_array_push(alcf->keys);
    if (kp == NULL) {
        return NULL;
    }

    *kp = ngx_pcalloc(cf->pool, sizeof(ngx_http_auth_jwt_keys_t));

    return *kp;
}


static void
ngx_http_auth_jwt_free_jwks(void *data)
{
    mg_jwks_free(data);
}


static void
ngx_http_auth_jwt_free_set(void *data)
{
    ngx_http_auth_jwt_set_t  *set = data;

    ngx_destroy_pool(set->pool);
}


static void
ngx_http_auth_jwt_free_sets(void *data)
{
    ngx_http_auth_jwt_keys_t  *keys = data;

    ngx_queue_t              *q;
    ngx_http_auth_jwt_set_t  *set;

    while (!ngx_queue_empty(&keys->sets)) {
        q = ngx_queue_head(&keys->sets);
        set = ngx_queue_data(q, ngx_http_auth_jwt_set_t, queue);

        ngx_queue_remove(q);
        ngx_destroy_pool(set->pool);
    }

    keys->nsets = 0;
}
