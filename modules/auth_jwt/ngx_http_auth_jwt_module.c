
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: JWT authentication in the ACCESS phase, with the directives of
 * NGINX Plus's auth_jwt module.
 */


#include "ngx_http_auth_jwt_module.h"


/* the results reported for metrics */
#define NGX_HTTP_AUTH_JWT_OK         1
#define NGX_HTTP_AUTH_JWT_MISSING    2
#define NGX_HTTP_AUTH_JWT_INVALID    3
#define NGX_HTTP_AUTH_JWT_FORBIDDEN  4
#define NGX_HTTP_AUTH_JWT_ERROR      5


static ngx_int_t ngx_http_auth_jwt_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_auth_jwt_parse(ngx_http_request_t *r,
    ngx_http_auth_jwt_ctx_t *ctx);
static ngx_int_t ngx_http_auth_jwt_cached(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx);
static ngx_int_t ngx_http_auth_jwt_token(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_str_t *token);
static ngx_int_t ngx_http_auth_jwt_check_time(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx);
static ngx_int_t ngx_http_auth_jwt_check_require(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf);
static ngx_int_t ngx_http_auth_jwt_invalid(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, const char *reason);
static ngx_int_t ngx_http_auth_jwt_answer(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_int_t status, const char *error);
static ngx_http_auth_jwt_ctx_t *ngx_http_auth_jwt_create_ctx(
    ngx_http_request_t *r);
static ngx_http_auth_jwt_ctx_t *ngx_http_auth_jwt_get_ctx(
    ngx_http_request_t *r);

static void *ngx_http_auth_jwt_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_auth_jwt_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_auth_jwt_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_auth_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_auth_jwt_type(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_auth_jwt_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_auth_jwt_init_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_auth_jwt_commands[] = {

    { ngx_string("auth_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
                        |NGX_CONF_TAKE12,
      ngx_http_auth_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("auth_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
                        |NGX_CONF_TAKE1,
      ngx_http_auth_jwt_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("auth_jwt_key_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
                        |NGX_CONF_TAKE1,
      ngx_http_auth_jwt_key_request,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("auth_jwt_key_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_auth_jwt_loc_conf_t, key_cache),
      NULL },

    { ngx_string("auth_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_auth_jwt_loc_conf_t, leeway),
      NULL },

    { ngx_string("auth_jwt_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
                        |NGX_CONF_1MORE,
      ngx_http_auth_jwt_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("auth_jwt_claim_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_auth_jwt_claim_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("auth_jwt_header_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_auth_jwt_claim_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      1,
      NULL },

    { ngx_string("auth_jwt_type"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF
                        |NGX_CONF_TAKE1,
      ngx_http_auth_jwt_type,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_auth_jwt_module_ctx = {
    ngx_http_auth_jwt_add_variables,       /* preconfiguration */
    ngx_http_auth_jwt_init,                /* postconfiguration */

    ngx_http_auth_jwt_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_auth_jwt_create_loc_conf,     /* create location configuration */
    ngx_http_auth_jwt_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_auth_jwt_module = {
    NGX_MODULE_V1,
    &ngx_http_auth_jwt_module_ctx,         /* module context */
    ngx_http_auth_jwt_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_auth_jwt_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* what the handler decided, for metrics; [0] is the empty name */

static ngx_str_t  ngx_http_auth_jwt_results[] = {
    ngx_null_string,
    ngx_string("ok"),
    ngx_string("missing"),
    ngx_string("invalid"),
    ngx_string("forbidden"),
    ngx_string("error")
};


static ngx_int_t
ngx_http_auth_jwt_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_uint_t                     result;
    ngx_http_auth_jwt_ctx_t       *ctx;
    ngx_http_auth_jwt_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_auth_jwt_module);

    if (alcf->realm == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_auth_jwt_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_auth_jwt_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_auth_jwt_token(r, alcf, &ctx->token);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "auth_jwt: no token");

            rc = ngx_http_auth_jwt_answer(r, alcf, NGX_HTTP_UNAUTHORIZED,
                                          NULL);
            result = NGX_HTTP_AUTH_JWT_MISSING;
            goto done;
        }

        ctx->alcf = alcf;

    } else if (ctx->alcf != alcf) {

        /*
         * An internal redirect to a location with keys or requirements of
         * its own: the token is checked again, the parsing is kept.
         */

        if (ctx->token.len == 0) {
            rc = ngx_http_auth_jwt_answer(r, alcf, NGX_HTTP_UNAUTHORIZED,
                                          NULL);
            result = NGX_HTTP_AUTH_JWT_MISSING;
            goto done;
        }

        ctx->alcf = alcf;
        ctx->done = 0;
        ctx->verified = 0;
        ctx->next = 0;
        ctx->refreshed = 0;
        ctx->named = 0;
        ctx->fit = 0;

    } else if (ctx->done) {
        /* the access phase may run the handler again, e.g. "satisfy any" */
        return ctx->status;
    }

    if (!ctx->parsed) {

        if (ngx_http_auth_jwt_cached(r, alcf, ctx) == NGX_OK) {
            rc = ngx_http_auth_jwt_check_time(r, alcf, ctx);
            goto verified;
        }

        if (ngx_http_auth_jwt_parse(r, ctx) != NGX_OK) {
            rc = ngx_http_auth_jwt_invalid(r, alcf, ctx->reason);
            result = NGX_HTTP_AUTH_JWT_INVALID;
            goto done;
        }
    }

    /* an expired token is refused before keys are fetched */

    if (ngx_http_auth_jwt_check_time(r, alcf, ctx) != NGX_OK) {
        rc = ngx_http_auth_jwt_invalid(r, alcf, ctx->reason);
        result = NGX_HTTP_AUTH_JWT_INVALID;
        goto done;
    }

    rc = ngx_http_auth_jwt_verify(r, alcf, ctx);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

verified:

    if (rc == NGX_OK) {
        ctx->verified = 1;
        rc = ngx_http_auth_jwt_check_require(r, alcf);

        result = (rc == NGX_OK) ? NGX_HTTP_AUTH_JWT_OK
                 : (rc == NGX_HTTP_INTERNAL_SERVER_ERROR)
                   ? NGX_HTTP_AUTH_JWT_ERROR : NGX_HTTP_AUTH_JWT_FORBIDDEN;

    } else if (rc == NGX_DECLINED) {
        rc = ngx_http_auth_jwt_invalid(r, alcf, ctx->reason);
        result = NGX_HTTP_AUTH_JWT_INVALID;

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        result = NGX_HTTP_AUTH_JWT_ERROR;
    }

done:

    ctx->done = 1;
    ctx->status = rc;

    ngx_http_meshgate_report(r, NGX_HTTP_MESHGATE_AUTH_JWT,
                             &ngx_http_auth_jwt_results[0],
                             &ngx_http_auth_jwt_results[result]);

    return rc;
}


mg_jwt_t *
ngx_http_auth_jwt_claims(ngx_http_request_t *r)
{
    ngx_http_auth_jwt_ctx_t  *ctx;

    ctx = ngx_http_auth_jwt_get_ctx(r->main);

    if (ctx == NULL || !ctx->verified) {
        return NULL;
    }

    /* a signature known from the cache leaves parsing to the first use */

    if (!ctx->parsed && ngx_http_auth_jwt_parse(r->main, ctx) != NGX_OK) {
        return NULL;
    }

    return &ctx->jwt;
}


static ngx_int_t
ngx_http_auth_jwt_parse(ngx_http_request_t *r, ngx_http_auth_jwt_ctx_t *ctx)
{
    mg_allocator_t  a;

    ngx_http_meshgate_pool_allocator(&a, r->pool);

    if (mg_jwt_parse(&ctx->jwt, ctx->token.data, ctx->token.len, &a,
                     &ctx->reason)
        != 0)
    {
        return NGX_DECLINED;
    }

    ctx->parsed = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_auth_jwt_cached(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx)
{
    ngx_uint_t                       i, hit;
    ngx_http_auth_jwt_set_t         *set;
    ngx_http_auth_jwt_keys_t       **keys;
    ngx_http_auth_jwt_cache_node_t  *node;
    ngx_http_auth_jwt_main_conf_t   *amcf;

    if (alcf->keys == NULL) {
        return NGX_DECLINED;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_auth_jwt_module);

    node = ngx_http_auth_jwt_cache_lookup(amcf, &ctx->token);

    if (node == NULL) {
        return NGX_DECLINED;
    }

    /*
     * The token counts as verified if one of the sets this request would
     * use is the set that verified it; keys due for a fetch are fetched
     * first: they may have been revoked.
     */

    keys = alcf->keys->elts;
    hit = 0;

    for (i = 0; i < alcf->keys->nelts; i++) {
        set = ngx_http_auth_jwt_current_set(r, alcf, keys[i]);

        if (set == NULL) {
            return NGX_DECLINED;
        }

        if (set == node->set && set->generation == node->generation) {
            hit = 1;
        }
    }

    if (!hit) {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "auth_jwt: signature known to be valid");

    ctx->jwt.exp = node->exp;
    ctx->jwt.nbf = node->nbf;
    ctx->jwt.has_exp = node->has_exp;
    ctx->jwt.has_nbf = node->has_nbf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_auth_jwt_token(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_str_t *token)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    if (alcf->token) {
        if (ngx_http_complex_value(r, alcf->token, token) != NGX_OK) {
            return NGX_ERROR;
        }

        return token->len ? NGX_OK : NGX_DECLINED;
    }

    h = r->headers_in.authorization;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    if (h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(p, (u_char *) "Bearer ", sizeof("Bearer ") - 1)
           != 0)
    {
        return NGX_DECLINED;
    }

    p += sizeof("Bearer ") - 1;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    token->data = p;
    token->len = last - p;

    return token->len ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_auth_jwt_check_time(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_http_auth_jwt_ctx_t *ctx)
{
    double  now;

    now = (double) ngx_time();

    if (ctx->jwt.has_exp && now > ctx->jwt.exp + (double) alcf->leeway) {
        ctx->reason = "token expired";
        return NGX_DECLINED;
    }

    if (ctx->jwt.has_nbf && now + (double) alcf->leeway < ctx->jwt.nbf) {
        ctx->reason = "token not yet valid (nbf)";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_auth_jwt_check_require(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf)
{
    ngx_str_t                     value;
    ngx_uint_t                    i, j;
    ngx_http_complex_value_t     *cv;
    ngx_http_auth_jwt_require_t  *req;

    if (alcf->require == NULL) {
        return NGX_OK;
    }

    req = alcf->require->elts;

    for (i = 0; i < alcf->require->nelts; i++) {

        cv = req[i].values.elts;

        for (j = 0; j < req[i].values.nelts; j++) {

            if (ngx_http_complex_value(r, &cv[j], &value) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (value.len == 0 || (value.len == 1 && value.data[0] == '0')) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "auth_jwt: requirement \"%V\" not met",
                              &cv[j].value);

                return ngx_http_auth_jwt_answer(r, alcf, req[i].status,
                                                "insufficient_scope");
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_auth_jwt_invalid(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, const char *reason)
{
    /* a client's bad token is not a server error: log at "info" */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "auth_jwt: invalid token: %s", reason);

    return ngx_http_auth_jwt_answer(r, alcf, NGX_HTTP_UNAUTHORIZED,
                                    "invalid_token");
}


static ngx_int_t
ngx_http_auth_jwt_answer(ngx_http_request_t *r,
    ngx_http_auth_jwt_loc_conf_t *alcf, ngx_int_t status, const char *error)
{
    size_t            len;
    u_char           *p, *s, *last;
    ngx_str_t         realm;
    ngx_table_elt_t  *h;

    if (status != NGX_HTTP_UNAUTHORIZED) {
        return status;
    }

    if (ngx_http_complex_value(r, alcf->realm, &realm) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* every realm character may need a backslash before it */

    len = sizeof("Bearer realm=\"\"") - 1 + 2 * realm.len;

    if (error) {
        len += sizeof(",error=\"\"") - 1 + ngx_strlen(error);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = ngx_cpymem(p, "Bearer realm=\"", sizeof("Bearer realm=\"") - 1);

    last = realm.data + realm.len;

    while (realm.data < last) {

        /*
         * A realm built from variables must not split the header, nor
         * carry any other control character a header may not have.
         */

        if ((*realm.data < 0x20 && *realm.data != '\t')
            || *realm.data == 0x7f)
        {
            realm.data++;
            continue;
        }

        if (*realm.data == '"' || *realm.data == '\\') {
            *s++ = '\\';
        }

        *s++ = *realm.data++;
    }

    *s++ = '"';

    if (error) {
        s = ngx_sprintf(s, ",error=\"%s\"", error);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value.data = p;
    h->value.len = s - p;

    r->headers_out.www_authenticate = h;

    return NGX_HTTP_UNAUTHORIZED;
}


/*
 * An internal redirect (error_page, try_files) clears module contexts;
 * the base module finds the context again, so that the claims of the
 * verified token stay available.
 */

static ngx_http_auth_jwt_ctx_t *
ngx_http_auth_jwt_create_ctx(ngx_http_request_t *r)
{
    return ngx_http_meshgate_create_ctx(r, &ngx_http_auth_jwt_module,
                                        sizeof(ngx_http_auth_jwt_ctx_t));
}


static ngx_http_auth_jwt_ctx_t *
ngx_http_auth_jwt_get_ctx(ngx_http_request_t *r)
{
    return ngx_http_meshgate_get_ctx(r, &ngx_http_auth_jwt_module);
}


static void *
ngx_http_auth_jwt_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_auth_jwt_main_conf_t));
}


static void *
ngx_http_auth_jwt_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_auth_jwt_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_auth_jwt_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->token = NULL;
     *     conf->keys = NULL;
     *     conf->require = NULL;
     *     conf->file = NULL;
     *     conf->line = 0;
     */

    conf->realm = NGX_CONF_UNSET_PTR;
    conf->key_cache = NGX_CONF_UNSET_MSEC;
    conf->leeway = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_auth_jwt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_auth_jwt_loc_conf_t *prev = parent;
    ngx_http_auth_jwt_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    if (conf->realm == NGX_CONF_UNSET_PTR) {
        conf->realm = prev->realm;
        conf->token = prev->token;
        conf->file = prev->file;
        conf->line = prev->line;
    }

    if (conf->realm == NGX_CONF_UNSET_PTR) {
        conf->realm = NULL;
    }

    /* modules that use $jwt_* in ACCESS (limit_redis keys) run after it */

    if (ngx_http_meshgate_access_sets_variables(cf, &ngx_http_auth_jwt_module,
                                                conf->realm != NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->keys == NULL) {
        conf->keys = prev->keys;
    }

    if (conf->require == NULL) {
        conf->require = prev->require;
    }

    ngx_conf_merge_msec_value(conf->key_cache, prev->key_cache, 0);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);

    /*
     * Unlike NGINX Plus, which then skips signature verification, a
     * location that authenticates without keys is refused.  Server and
     * http levels may leave keys to their locations; if such a level
     * answers a request itself, it answers 500.
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->realm && conf->keys == NULL && clcf->name.len) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"auth_jwt\" in %s:%ui has no key source: add "
                      "\"auth_jwt_key_file\" or \"auth_jwt_key_request\"",
                      conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_auth_jwt_loc_conf_t *alcf = conf;

    ngx_str_t                         *value;
    ngx_http_auth_jwt_main_conf_t     *amcf;
    ngx_http_compile_complex_value_t   ccv;

    if (alcf->realm != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    alcf->file = cf->conf_file->file.name.data;
    alcf->line = cf->conf_file->line;

    if (ngx_strcmp(value[1].data, "off") == 0) {

        if (cf->args->nelts != 2) {
            return "takes no token= with \"off\"";
        }

        alcf->realm = NULL;
        return NGX_CONF_OK;
    }

    alcf->realm = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (alcf->realm == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = alcf->realm;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {

        if (ngx_strncmp(value[2].data, "token=", 6) != 0
            || value[2].len < 8
            || value[2].data[6] != '$')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"token=$variable\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        value[2].data += 6;
        value[2].len -= 6;

        alcf->token = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (alcf->token == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[2];
        ccv.complex_value = alcf->token;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_auth_jwt_module);
    amcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_auth_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_auth_jwt_loc_conf_t *alcf = conf;

    ngx_str_t                         *value;
    ngx_int_t                          status;
    ngx_uint_t                         i, n;
    ngx_http_complex_value_t          *cv;
    ngx_http_auth_jwt_require_t       *req;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;
    n = cf->args->nelts;
    status = NGX_HTTP_UNAUTHORIZED;

    if (ngx_strncmp(value[n - 1].data, "error=", 6) == 0) {

        status = ngx_atoi(value[n - 1].data + 6, value[n - 1].len - 6);

        if (status != NGX_HTTP_UNAUTHORIZED && status != NGX_HTTP_FORBIDDEN) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": the error code "
                               "must be 401 or 403", &value[n - 1]);
            return NGX_CONF_ERROR;
        }

        n--;

        if (n == 1) {
            return "needs at least one value to check";
        }
    }

    if (alcf->require == NULL) {
        alcf->require = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_auth_jwt_require_t));
        if (alcf->require == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(alcf->require);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    req->status = status;

    if (ngx_array_init(&req->values, cf->pool, n - 1,
                       sizeof(ngx_http_complex_value_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < n; i++) {

        if (value[i].data[0] != '$') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\": a variable is "
                               "expected", &value[i]);
            return NGX_CONF_ERROR;
        }

        cv = ngx_array_push(&req->values);
        if (cv == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = cv;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_auth_jwt_type(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "signed") == 0) {
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "encrypted") == 0
        || ngx_strcmp(value[1].data, "nested") == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"auth_jwt_type %V\" is not supported, only "
                           "signed tokens are", &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"auth_jwt_type\"",
                       &value[1]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_auth_jwt_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_auth_jwt_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_auth_jwt_module);

    /* without an auth_jwt directive, requests do not pass through here */

    if (!amcf->used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_auth_jwt_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_auth_jwt_init_process(ngx_cycle_t *cycle)
{
    ngx_http_auth_jwt_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_auth_jwt_module);

    if (amcf == NULL || !amcf->used) {
        return NGX_OK;
    }

    return ngx_http_auth_jwt_cache_init(cycle, amcf);
}
