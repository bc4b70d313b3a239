
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the claims and header parameters of a verified token as
 * variables: $jwt_claim_<name>, $jwt_header_<name>, $jwt_payload, and the
 * variables of auth_jwt_claim_set and auth_jwt_header_set.
 *
 * They are empty until auth_jwt has accepted the token's signature, and
 * they read the main request's token, so that subrequests see it too.
 */


#include "ngx_http_auth_jwt_module.h"


typedef struct {
    mg_str_t                   *path;
    ngx_uint_t                  npath;
    ngx_uint_t                  header;
} ngx_http_auth_jwt_var_t;


static ngx_int_t ngx_http_auth_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_auth_jwt_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_auth_jwt_payload_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_auth_jwt_set_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_auth_jwt_prefix_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_str_t *name, size_t prefix,
    ngx_uint_t header);
static ngx_int_t ngx_http_auth_jwt_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, const mg_str_t *path, size_t npath,
    ngx_uint_t header);


static ngx_http_variable_t  ngx_http_auth_jwt_vars[] = {

    { ngx_string("jwt_claim_"), NULL, ngx_http_auth_jwt_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("jwt_header_"), NULL, ngx_http_auth_jwt_header_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("jwt_payload"), NULL, ngx_http_auth_jwt_payload_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_auth_jwt_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    return ngx_http_auth_jwt_prefix_variable(r, v, (ngx_str_t *) data,
                                             sizeof("jwt_claim_") - 1, 0);
}


static ngx_int_t
ngx_http_auth_jwt_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    return ngx_http_auth_jwt_prefix_variable(r, v, (ngx_str_t *) data,
                                             sizeof("jwt_header_") - 1, 1);
}


static ngx_int_t
ngx_http_auth_jwt_payload_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char    *p;
    mg_jwt_t  *jwt;

    jwt = ngx_http_auth_jwt_claims(r);

    if (jwt == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, jwt->payload.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = mg_json_compact(&jwt->payload, 0, p);
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_auth_jwt_set_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_auth_jwt_var_t  *var = (ngx_http_auth_jwt_var_t *) data;

    return ngx_http_auth_jwt_value(r, v, var->path, var->npath, var->header);
}


static ngx_int_t
ngx_http_auth_jwt_prefix_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_str_t *name, size_t prefix,
    ngx_uint_t header)
{
    mg_str_t  path;

    path.data = name->data + prefix;
    path.len = name->len - prefix;

    return ngx_http_auth_jwt_value(r, v, &path, 1, header);
}


static ngx_int_t
ngx_http_auth_jwt_value(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    const mg_str_t *path, size_t npath, ngx_uint_t header)
{
    u_char     *p;
    size_t      size;
    int32_t     i;
    mg_jwt_t   *jwt;
    mg_json_t  *json;

    jwt = ngx_http_auth_jwt_claims(r);

    if (jwt == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    json = header ? &jwt->header : &jwt->payload;

    i = mg_jwt_lookup(json, path, npath);

    if (i < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    size = mg_jwt_value_size(json, (uint32_t) i);

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = mg_jwt_value(json, i, p);
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}



char *
ngx_http_auth_jwt_claim_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                *value, name;
    ngx_uint_t                i;
    ngx_http_variable_t      *v;
    ngx_http_auth_jwt_var_t  *var;

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variable name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 1;
    name.len = value[1].len - 1;

    v = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (v == NULL) {
        return NGX_CONF_ERROR;
    }

    var = ngx_palloc(cf->pool, sizeof(ngx_http_auth_jwt_var_t));
    if (var == NULL) {
        return NGX_CONF_ERROR;
    }

    var->npath = cf->args->nelts - 2;
    var->header = cmd->offset;

    var->path = ngx_palloc(cf->pool, var->npath * sizeof(mg_str_t));
    if (var->path == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < var->npath; i++) {
        var->path[i].data = value[i + 2].data;
        var->path[i].len = value[i + 2].len;
    }

    v->get_handler = ngx_http_auth_jwt_set_variable;
    v->data = (uintptr_t) var;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_auth_jwt_add_variables(ngx_conf_t *cf)
{
    return ngx_http_meshgate_register_variables(cf, ngx_http_auth_jwt_vars);
}
