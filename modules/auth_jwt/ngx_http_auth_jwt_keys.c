
/*
 * meshgate: where auth_jwt gets its keys: JWKS files read once at
 * configuration time (auth_jwt_key_file) and JWKS fetched through a
 * subrequest and kept per worker for auth_jwt_key_cache
 * (auth_jwt_key_request).
 */


#include "ngx_http_auth_jwt_module.h"


/* a key set larger than this is surely not a JWKS */
#define NGX_HTTP_AUTH_JWT_MAX_KEYS  (1024 * 1024)


static ngx_int_t ngx_http_auth_jwt_start_fetch(ngx_http_request_t *r,
    ngx_http_auth_jwt_ctx_t *ctx, ngx_http_auth_jwt_keys_t *keys);
static ngx_int_t ngx_http_auth_jwt_fetch_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_auth_jwt_fetched(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx);
static ngx_int_t ngx_http_auth_jwt_parse_fetched(ngx_http_request_t *r,
    ngx_http_auth_jwt_keys_t *keys, u_char *data, size_t len);
static ngx_http_auth_jwt_keys_t *ngx_http_auth_jwt_add_keys(ngx_conf_t *cf,
    ngx_http_auth_jwt_loc_conf_t *alcf);
static void ngx_http_auth_jwt_free_jwks(void *data);
static void ngx_http_auth_jwt_free_pool(void *data);


ngx_int_t
ngx_http_auth_jwt_fetch_keys(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_http_auth_jwt_keys_t  **keys, *k;

    if (alcf->keys == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: no key source for this request, add "
                      "\"auth_jwt_key_file\" or \"auth_jwt_key_request\"");
        return NGX_ERROR;
    }

    if (ctx->fetching) {

        if (!ctx->fetched) {
            return NGX_AGAIN;
        }

        rc = ngx_http_auth_jwt_fetched(r, alcf, ctx);

        ctx->fetching = NULL;
        ctx->subrequest = NULL;
        ctx->fetched = 0;

        if (rc != NGX_OK) {
            return rc;
        }
    }

    keys = alcf->keys->elts;

    for (i = ctx->next; i < alcf->keys->nelts; i++) {
        k = keys[i];

        if (!k->request) {
            continue;
        }

        if (k->jwks
            && (ngx_msec_int_t) (k->expires - ngx_current_msec) > 0)
        {
            continue;
        }

        ctx->next = i + 1;

        return ngx_http_auth_jwt_start_fetch(r, ctx, k);
    }

    ctx->next = i;

    return NGX_OK;
}


ngx_uint_t
ngx_http_auth_jwt_refresh_keys(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx)
{
    ngx_uint_t                  i, n;
    ngx_http_auth_jwt_keys_t  **keys, *k;

    keys = alcf->keys->elts;
    n = 0;

    for (i = 0; i < alcf->keys->nelts; i++) {
        k = keys[i];

        /*
         * A refresh on an unknown kid is rate-limited per key source, so
         * that tokens with made-up kids cannot make every request a fetch.
         */

        if (!k->request
            || ngx_current_msec - k->fetched < NGX_HTTP_AUTH_JWT_KID_REFRESH)
        {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "auth_jwt: unknown kid, fetching keys from \"%V\" "
                      "again", &k->name);

        k->fetched = ngx_current_msec;
        k->expires = ngx_current_msec;
        n++;
    }

    if (n) {
        ctx->next = 0;
    }

    return n;
}


static ngx_int_t
ngx_http_auth_jwt_start_fetch(ngx_http_request_t *r,
    ngx_http_auth_jwt_ctx_t *ctx, ngx_http_auth_jwt_keys_t *keys)
{
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_auth_jwt_fetch_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &keys->name, NULL, &sr, ps,
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
     * The key server learns nothing of the client: none of its headers
     * (its bearer token above all) and none of its body go there.
     */

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.server = r->headers_in.server;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    ctx->subrequest = sr;
    ctx->fetching = keys;
    ctx->fetched = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "auth_jwt: fetching keys from \"%V\"", &keys->name);

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


static ngx_int_t
ngx_http_auth_jwt_fetched(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx)
{
    ngx_http_request_t           *sr;
    ngx_http_auth_jwt_keys_t     *keys;
    ngx_http_meshgate_capture_t  *body;

    sr = ctx->subrequest;
    keys = ctx->fetching;

    keys->fetched = ngx_current_msec;

    if (sr->headers_out.status != NGX_HTTP_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: key request \"%V\" answered %ui",
                      &keys->name, sr->headers_out.status);
        goto failed;
    }

    body = ctx->body;

    if (body->overflow || body->error) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: key request \"%V\": %s", &keys->name,
                      body->overflow ? "the key set is larger than 1m"
                                     : "the key set could not be read");
        goto failed;
    }

    if (ngx_http_auth_jwt_parse_fetched(r, keys, body->data, body->len)
        != NGX_OK)
    {
        goto failed;
    }

    keys->expires = ngx_current_msec + alcf->key_cache;

    return NGX_OK;

failed:

    /*
     * With a key cache, keys fetched earlier stay in use for a while: a
     * passing failure of the key server should not lock every client out.
     */

    if (keys->jwks && alcf->key_cache) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "auth_jwt: using the keys fetched earlier from \"%V\"",
                      &keys->name);

        keys->expires = ngx_current_msec
                        + ngx_min(alcf->key_cache,
                                  NGX_HTTP_AUTH_JWT_KID_REFRESH);
        return NGX_OK;
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_auth_jwt_parse_fetched(ngx_http_request_t *r,
    ngx_http_auth_jwt_keys_t *keys, u_char *data, size_t len)
{
    char                 err[128];
    mg_jwks_t           *jwks;
    ngx_pool_t          *pool;
    mg_allocator_t       a;
    ngx_pool_cleanup_t  *cln;

    /* the keys outlive the request: they get a pool of their own */

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    jwks = ngx_pcalloc(pool, sizeof(mg_jwks_t));
    if (jwks == NULL) {
        goto failed;
    }

    ngx_http_meshgate_pool_allocator(&a, pool);

    if (mg_jwks_parse(jwks, data, len, &a, err, sizeof(err)) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: key request \"%V\": %s", &keys->name, err);
        goto failed;
    }

    cln->handler = ngx_http_auth_jwt_free_jwks;
    cln->data = jwks;

    if (jwks->nkeys == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "auth_jwt: key request \"%V\": no usable key: %s",
                      &keys->name,
                      jwks->skipped ? jwks->skip_reason : "the set is empty");
        goto failed;
    }

    if (jwks->skipped) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "auth_jwt: key request \"%V\": %uz key(s) left out, "
                      "last: %s", &keys->name, jwks->skipped,
                      jwks->skip_reason);
    }

    if (keys->pool) {
        ngx_destroy_pool(keys->pool);
    }

    keys->pool = pool;
    keys->jwks = jwks;
    keys->generation++;

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);

    return NGX_ERROR;
}


char *
ngx_http_auth_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_auth_jwt_loc_conf_t *alcf = conf;

    char                       err[128];
    u_char                    *buf;
    size_t                     size;
    ssize_t                    n;
    ngx_fd_t                   fd;
    ngx_str_t                 *value, name;
    ngx_file_info_t            fi;
    mg_allocator_t             a;
    ngx_pool_cleanup_t        *cln;
    ngx_http_auth_jwt_keys_t  *keys;

    value = cf->args->elts;
    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "auth_jwt_key_file: " ngx_open_file_n
                           " \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    buf = NULL;
    size = 0;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", name.data);
        goto failed;
    }

    size = ngx_file_size(&fi);

    if (size > NGX_HTTP_AUTH_JWT_MAX_KEYS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" is too large", name.data);
        goto failed;
    }

    buf = ngx_pnalloc(cf->pool, size + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, buf, size);

    if (n == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed", name.data);
        goto failed;
    }

    if ((size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" was read only partly",
                           name.data);
        goto failed;
    }

    ngx_close_file(fd);
    fd = NGX_INVALID_FILE;

    keys = ngx_http_auth_jwt_add_keys(cf, alcf);
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    keys->name = name;

    keys->jwks = ngx_pcalloc(cf->pool, sizeof(mg_jwks_t));
    if (keys->jwks == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_meshgate_pool_allocator(&a, cf->pool);

    if (mg_jwks_parse(keys->jwks, buf, size, &a, err, sizeof(err)) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key file \"%s\": %s", name.data, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_auth_jwt_free_jwks;
    cln->data = keys->jwks;

    if (keys->jwks->nkeys == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" has no usable key: %s",
                           name.data,
                           keys->jwks->skipped ? keys->jwks->skip_reason
                                               : "the set is empty");
        return NGX_CONF_ERROR;
    }

    if (keys->jwks->skipped) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "key file \"%s\": %uz key(s) left out, last: %s",
                           name.data, keys->jwks->skipped,
                           keys->jwks->skip_reason);
    }

    return NGX_CONF_OK;

failed:

    if (fd != NGX_INVALID_FILE) {
        ngx_close_file(fd);
    }

    return NGX_CONF_ERROR;
}


char *
ngx_http_auth_jwt_key_request(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_auth_jwt_loc_conf_t *alcf = conf;

    ngx_str_t                 *value;
    ngx_pool_cleanup_t        *cln;
    ngx_http_auth_jwt_keys_t  *keys;

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

    keys->name = value[1];
    keys->request = 1;

    /* keys fetched by a worker die with its cycle */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_auth_jwt_free_pool;
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
ngx_http_auth_jwt_free_pool(void *data)
{
    ngx_http_auth_jwt_keys_t  *keys = data;

    if (keys->pool) {
        ngx_destroy_pool(keys->pool);
        keys->pool = NULL;
        keys->jwks = NULL;
    }
}
