
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: aggregate, one JSON answer made of the JSON answers of several
 * subrequests sent in parallel.  This file holds the directives, their
 * configuration and the variables that carry a value from the answer of
 * one part into the uri of a later one ("$id=user.id").  The requests are
 * made in ngx_http_aggregate_handler.c, the bodies read and the answer
 * written in ngx_http_aggregate_body.c.
 *
 * A part's uri is kept in pieces, text and variables, split where its own
 * text has the first "?": what a variable holds never separates the path
 * from the arguments, and is percent-encoded when the uri is made.
 */


#include "ngx_http_aggregate_module.h"


static ngx_int_t ngx_http_aggregate_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_http_aggregate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_aggregate_uri(ngx_conf_t *cf,
    ngx_http_aggregate_part_t *part, ngx_str_t *uri);
static char *ngx_http_aggregate_uri_text(ngx_conf_t *cf,
    ngx_http_aggregate_part_t *part, u_char *start, u_char *end,
    ngx_uint_t args);
static char *ngx_http_aggregate_uri_var(ngx_conf_t *cf,
    ngx_http_aggregate_part_t *part, u_char *start, u_char *end,
    ngx_str_t *name);
static char *ngx_http_aggregate_option(ngx_conf_t *cf,
    ngx_http_aggregate_loc_conf_t *alcf, ngx_http_aggregate_part_t *part,
    ngx_str_t *value);
static char *ngx_http_aggregate_bind(ngx_conf_t *cf,
    ngx_http_aggregate_loc_conf_t *alcf, ngx_http_aggregate_part_t *part,
    ngx_str_t *value);
static ngx_int_t ngx_http_aggregate_add_variable(ngx_conf_t *cf,
    ngx_http_aggregate_binding_t *b);
static char *ngx_http_aggregate_resolve(ngx_conf_t *cf,
    ngx_http_aggregate_loc_conf_t *alcf);
static ngx_uint_t ngx_http_aggregate_valid_name(ngx_str_t *name,
    ngx_uint_t dash);
static ngx_uint_t ngx_http_aggregate_hex(u_char c);
static char *ngx_http_aggregate_positive_msec(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_aggregate_positive_size(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_http_aggregate_init(ngx_conf_t *cf);
static void *ngx_http_aggregate_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_aggregate_create_conf(ngx_conf_t *cf);
static char *ngx_http_aggregate_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_conf_enum_t  ngx_http_aggregate_modes[] = {
    { ngx_string("group"), NGX_HTTP_AGGREGATE_GROUP },
    { ngx_string("merge"), NGX_HTTP_AGGREGATE_MERGE },
    { ngx_null_string, 0 }
};


static ngx_conf_post_t  ngx_http_aggregate_timeout_post =
    { ngx_http_aggregate_positive_msec };

static ngx_conf_post_t  ngx_http_aggregate_buffer_size_post =
    { ngx_http_aggregate_positive_size };


static ngx_command_t  ngx_http_aggregate_commands[] = {

    { ngx_string("aggregate"),
      NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_aggregate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aggregate_mode"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aggregate_loc_conf_t, mode),
      &ngx_http_aggregate_modes },

    { ngx_string("aggregate_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aggregate_loc_conf_t, timeout),
      &ngx_http_aggregate_timeout_post },

    { ngx_string("aggregate_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aggregate_loc_conf_t, buffer_size),
      &ngx_http_aggregate_buffer_size_post },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_aggregate_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_aggregate_init,               /* postconfiguration */

    ngx_http_aggregate_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_aggregate_create_conf,        /* create location configuration */
    ngx_http_aggregate_merge_conf          /* merge location configuration */
};


/* $request_id, for the error answers */
ngx_int_t  ngx_http_aggregate_request_id = NGX_ERROR;


ngx_module_t  ngx_http_aggregate_module = {
    NGX_MODULE_V1,
    &ngx_http_aggregate_module_ctx,        /* module context */
    ngx_http_aggregate_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/*
 * The value of a "$name=part.path" variable: found in the aggregation the
 * request belongs to, so that the part's own location (a header it sets,
 * a proxy_pass with variables) sees it as the uri did.
 */

static ngx_int_t
ngx_http_aggregate_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t                     i;
    ngx_http_request_t            *pr;
    ngx_http_aggregate_ctx_t      *ctx;
    ngx_http_aggregate_binding_t  *b;

    for (pr = r; pr; pr = pr->parent) {
        ctx = ngx_http_get_module_ctx(pr, ngx_http_aggregate_module);

        if (ctx == NULL || ctx->conf->bindings == NULL) {
            continue;
        }

        b = ctx->conf->bindings->elts;

        for (i = 0; i < ctx->conf->bindings->nelts; i++) {
            if (b[i].index != (ngx_int_t) data || ctx->values[i].len == 0) {
                continue;
            }

            v->len = ctx->values[i].len;
            v->valid = 1;
            v->no_cacheable = 0;
            v->not_found = 0;
            v->data = ctx->values[i].data;

            return NGX_OK;
        }
    }

    v->not_found = 1;

    return NGX_OK;
}


static char *
ngx_http_aggregate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aggregate_loc_conf_t *alcf = conf;

    char                            *rv;
    u_char                          *p;
    ngx_str_t                       *value;
    ngx_uint_t                       i;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_aggregate_part_t       *part, *parts;
    ngx_http_aggregate_main_conf_t  *amcf;

    value = cf->args->elts;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aggregate_module);
    amcf->used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler && clcf->handler != ngx_http_aggregate_handler) {
        return "cannot be mixed with another content handler "
               "(proxy_pass, fastcgi_pass, js_content...) in one location";
    }

    if (!ngx_http_aggregate_valid_name(&value[1], 1)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid part name \"%V\": letters, digits, "
                           "\"_\" and \"-\" only", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (alcf->parts == NULL) {
        alcf->parts = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_http_aggregate_part_t));
        if (alcf->parts == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    parts = alcf->parts->elts;

    for (i = 0; i < alcf->parts->nelts; i++) {
        if (parts[i].name.len == value[1].len
            && ngx_strncmp(parts[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate part name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    part = ngx_array_push(alcf->parts);
    if (part == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(part, sizeof(ngx_http_aggregate_part_t));

    part->name = value[1];
    part->file = cf->conf_file->file.name.data;
    part->line = cf->conf_file->line;

    /* what goes before the part's value in a group: {"name": or ,"name": */

    part->key.len = value[1].len + 4;
    part->key.data = ngx_pnalloc(cf->pool, part->key.len);
    if (part->key.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = part->key.data;
    *p++ = (alcf->parts->nelts == 1) ? '{' : ',';
    *p++ = '"';
    p = ngx_cpymem(p, value[1].data, value[1].len);
    *p++ = '"';
    *p = ':';

    if (value[2].len == 0) {
        return "has an empty uri";
    }

    rv = ngx_http_aggregate_uri(cf, part, &value[2]);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    for (i = 3; i < cf->args->nelts; i++) {
        rv = ngx_http_aggregate_option(cf, alcf, part, &value[i]);

        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    clcf->handler = ngx_http_aggregate_handler;

    return NGX_CONF_OK;
}


/*
 * "/_users/$arg_id?view=$v": text and variables, as nginx reads them in
 * complex values ("$name", "${name}", "$1"), and the first "?" of the
 * text as the start of the arguments.
 */

static char *
ngx_http_aggregate_uri(ngx_conf_t *cf, ngx_http_aggregate_part_t *part,
    ngx_str_t *uri)
{
    char       *rv;
    u_char     *p, *last, *start;
    ngx_str_t   name;
    ngx_uint_t  bracket;

    if (uri->data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid uri \"%V\": a location uri starting "
                           "with \"/\" is expected", uri);
        return NGX_CONF_ERROR;
    }

    part->uri = *uri;
    part->args = NGX_CONF_UNSET_UINT;

    part->elts = ngx_array_create(cf->pool, 4,
                                  sizeof(ngx_http_aggregate_elt_t));
    if (part->elts == NULL) {
        return NGX_CONF_ERROR;
    }

    p = uri->data;
    last = p + uri->len;

    while (p < last) {

        if (*p != '$') {
            start = p;

            while (p < last && *p != '$'
                   && !(*p == '?' && part->args == NGX_CONF_UNSET_UINT))
            {
                p++;
            }

            rv = ngx_http_aggregate_uri_text(cf, part, start, p,
                                         part->args != NGX_CONF_UNSET_UINT);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            if (p < last && *p == '?') {
                part->args = part->elts->nelts;
                p++;
            }

            continue;
        }

        start = p++;
        ngx_str_null(&name);

        if (p < last && *p >= '1' && *p <= '9') {
            p++;

        } else {
            bracket = (p < last && *p == '{');

            if (bracket) {
                p++;
            }

            name.data = p;

            while (p < last
                   && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                       || (*p >= '0' && *p <= '9') || *p == '_'))
            {
                p++;
            }

            name.len = p - name.data;

            if (bracket) {
                if (p == last || *p != '}') {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid uri \"%V\": the closing "
                                       "bracket of a variable is missing",
                                       uri);
                    return NGX_CONF_ERROR;
                }

                p++;
            }

            if (name.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid uri \"%V\": invalid variable "
                                   "name", uri);
                return NGX_CONF_ERROR;
            }
        }

        rv = ngx_http_aggregate_uri_var(cf, part, start, p, &name);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    return NGX_CONF_OK;
}


/*
 * Text of the uri goes as written, but as a request target can carry it:
 * what must be percent-encoded is ("/_x/a b" is "/_x/a%20b"), and a "%"
 * must start an encoded byte already.
 */

static char *
ngx_http_aggregate_uri_text(ngx_conf_t *cf, ngx_http_aggregate_part_t *part,
    u_char *start, u_char *end, ngx_uint_t args)
{
    u_char                    *p, *d, c;
    size_t                     n;
    ngx_http_aggregate_elt_t  *elt;

    if (start == end) {
        return NGX_CONF_OK;
    }

    n = 0;

    for (p = start; p < end; p++) {
        c = *p;

        if (c == '%') {
            if (end - p < 3 || !ngx_http_aggregate_hex(p[1])
                || !ngx_http_aggregate_hex(p[2]))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid uri \"%V\": \"%%\" must start "
                                   "a percent-encoded byte (\"%%25\" is "
                                   "\"%%\" itself)", &part->uri);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (!(args && c == '?')) {
            n += ngx_escape_uri(NULL, &c, 1, NGX_ESCAPE_URI);
        }
    }

    elt = ngx_array_push(part->elts);
    if (elt == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(elt, sizeof(ngx_http_aggregate_elt_t));

    elt->binding = NGX_CONF_UNSET_UINT;

    elt->text.len = (end - start) + 2 * n;
    elt->text.data = ngx_pnalloc(cf->pool, elt->text.len);
    if (elt->text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    d = elt->text.data;

    for (p = start; p < end; p++) {
        c = *p;

        if (c == '%' || (args && c == '?')) {
            *d++ = c;
            continue;
        }

        d = (u_char *) ngx_escape_uri(d, &c, 1, NGX_ESCAPE_URI);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_aggregate_uri_var(ngx_conf_t *cf, ngx_http_aggregate_part_t *part,
    u_char *start, u_char *end, ngx_str_t *name)
{
    ngx_str_t                          source;
    ngx_http_aggregate_elt_t          *elt;
    ngx_http_compile_complex_value_t   ccv;

    elt = ngx_array_push(part->elts);
    if (elt == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(elt, sizeof(ngx_http_aggregate_elt_t));

    elt->name = *name;
    elt->binding = NGX_CONF_UNSET_UINT;

    elt->value = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (elt->value == NULL) {
        return NGX_CONF_ERROR;
    }

    source.data = start;
    source.len = end - start;

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &source;
    ccv.complex_value = elt->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_aggregate_option(ngx_conf_t *cf, ngx_http_aggregate_loc_conf_t *alcf,
    ngx_http_aggregate_part_t *part, ngx_str_t *value)
{
    ngx_str_t        s;
    ngx_int_t        n;
    const char      *err;
    mg_allocator_t   a;

    ngx_http_meshgate_pool_allocator(&a, cf->pool);

    if (value->len == 8 && ngx_strncmp(value->data, "optional", 8) == 0) {
        part->optional = 1;
        return NGX_CONF_OK;
    }

    if (value->len > 8 && ngx_strncmp(value->data, "timeout=", 8) == 0) {
        s.data = value->data + 8;
        s.len = value->len - 8;

        n = ngx_parse_time(&s, 0);

        if (n == NGX_ERROR || n == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid timeout \"%V\" of part \"%V\"",
                               &s, &part->name);
            return NGX_CONF_ERROR;
        }

        part->timeout = (ngx_msec_t) n;
        return NGX_CONF_OK;
    }

    if (value->len >= 7 && ngx_strncmp(value->data, "fields=", 7) == 0) {
        part->fields = ngx_palloc(cf->pool, sizeof(mg_json_fields_t));
        if (part->fields == NULL) {
            return NGX_CONF_ERROR;
        }

        if (mg_json_fields_compile(part->fields, value->data + 7,
                                   value->len - 7, &a, &err)
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\" of part \"%V\": %s "
                               "(expected names separated by commas, "
                               "with dots between levels: "
                               "\"fields=id,price.amount\")",
                               value, &part->name, err);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (value->len >= 5 && ngx_strncmp(value->data, "path=", 5) == 0) {
        part->path = ngx_palloc(cf->pool, sizeof(mg_json_path_t));
        if (part->path == NULL) {
            return NGX_CONF_ERROR;
        }

        if (mg_json_path_compile(part->path, value->data + 5, value->len - 5,
                                 &a, &err)
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\" of part \"%V\": %s "
                               "(expected names with dots between levels: "
                               "\"path=data.items\")",
                               value, &part->name, err);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (value->len > 1 && value->data[0] == '$'
        && ngx_strlchr(value->data, value->data + value->len, '='))
    {
        return ngx_http_aggregate_bind(cf, alcf, part, value);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of part \"%V\"",
                       value, &part->name);

    return NGX_CONF_ERROR;
}


/* "$name=part.path": the part uses a value of an earlier one */

static char *
ngx_http_aggregate_bind(ngx_conf_t *cf, ngx_http_aggregate_loc_conf_t *alcf,
    ngx_http_aggregate_part_t *part, ngx_str_t *value)
{
    u_char                        *eq, *dot, *last;
    ngx_str_t                      name, spec;
    ngx_uint_t                     i, *index;
    const char                    *err;
    mg_allocator_t                 a;
    ngx_http_aggregate_binding_t  *b;

    last = value->data + value->len;
    eq = ngx_strlchr(value->data, last, '=');

    name.data = value->data + 1;
    name.len = eq - name.data;

    spec.data = eq + 1;
    spec.len = last - spec.data;

    if (!ngx_http_aggregate_valid_name(&name, 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variable name in \"%V\" of part \"%V\"",
                           value, &part->name);
        return NGX_CONF_ERROR;
    }

    dot = ngx_strlchr(spec.data, last, '.');

    if (dot == NULL || dot == spec.data || dot + 1 == last) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" of part \"%V\": a part and a path "
                           "in it are expected (\"$id=user.id\")",
                           value, &part->name);
        return NGX_CONF_ERROR;
    }

    if ((size_t) (dot - spec.data) == part->name.len
        && ngx_strncmp(spec.data, part->name.data, part->name.len) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "part \"%V\" cannot use a value of its own "
                           "(\"%V\")", &part->name, value);
        return NGX_CONF_ERROR;
    }

    if (alcf->bindings == NULL) {
        alcf->bindings = ngx_array_create(cf->pool, 2,
                                          sizeof(ngx_http_aggregate_binding_t));
        if (alcf->bindings == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    b = alcf->bindings->elts;

    for (i = 0; i < alcf->bindings->nelts; i++) {
        if (b[i].name.len != name.len
            || ngx_strncmp(b[i].name.data, name.data, name.len) != 0)
        {
            continue;
        }

        /* several parts may use one value, declared alike by each */

        if (b[i].spec.len != spec.len
            || ngx_strncmp(b[i].spec.data, spec.data, spec.len) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" of part \"%V\": the variable is "
                               "already \"%V\" in this location",
                               value, &part->name, &b[i].spec);
            return NGX_CONF_ERROR;
        }

        break;
    }

    if (i == alcf->bindings->nelts) {
        b = ngx_array_push(alcf->bindings);
        if (b == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(b, sizeof(ngx_http_aggregate_binding_t));

        b->name = name;
        b->spec = spec;
        b->source_name.data = spec.data;
        b->source_name.len = dot - spec.data;
        b->source = NGX_CONF_UNSET_UINT;

        ngx_http_meshgate_pool_allocator(&a, cf->pool);

        if (mg_json_path_compile(&b->path, dot + 1, last - dot - 1, &a, &err)
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid path in \"%V\" of part \"%V\": %s",
                               value, &part->name, err);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_aggregate_add_variable(cf, b) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (part->bindings == NULL) {
        part->bindings = ngx_array_create(cf->pool, 2, sizeof(ngx_uint_t));
        if (part->bindings == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    index = ngx_array_push(part->bindings);
    if (index == NULL) {
        return NGX_CONF_ERROR;
    }

    *index = i;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_aggregate_add_variable(ngx_conf_t *cf,
    ngx_http_aggregate_binding_t *b)
{
    ngx_int_t             index;
    ngx_http_variable_t  *v;

    v = ngx_http_add_variable(cf, &b->name,
                              NGX_HTTP_VAR_CHANGEABLE
                              |NGX_HTTP_VAR_NOCACHEABLE);
    if (v == NULL) {
        return NGX_ERROR;
    }

    if (v->get_handler && v->get_handler != ngx_http_aggregate_variable) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "variable \"$%V\" is already defined by another "
                           "directive", &b->name);
        return NGX_ERROR;
    }

    index = ngx_http_get_variable_index(cf, &b->name);
    if (index == NGX_ERROR) {
        return NGX_ERROR;
    }

    /*
     * Parts and subrequests share the variables of their main request:
     * the value is looked up each time, never cached.
     */

    v->get_handler = ngx_http_aggregate_variable;
    v->data = (uintptr_t) index;
    v->flags |= NGX_HTTP_VAR_NOCACHEABLE;

    b->index = index;

    return NGX_OK;
}


/*
 * Once the location is read: a part may use only values of parts before
 * it, which keeps the order of the requests a matter of reading the
 * configuration from top to bottom, and a dependency cycle impossible.
 */

static char *
ngx_http_aggregate_resolve(ngx_conf_t *cf, ngx_http_aggregate_loc_conf_t *alcf)
{
    ngx_uint_t                     i, j, k, *used;
    ngx_http_aggregate_elt_t      *elt;
    ngx_http_aggregate_part_t     *parts;
    ngx_http_aggregate_binding_t  *b;

    parts = alcf->parts->elts;

    if (alcf->bindings == NULL) {
        return NGX_CONF_OK;
    }

    b = alcf->bindings->elts;

    for (i = 0; i < alcf->bindings->nelts; i++) {
        for (k = 0; k < alcf->parts->nelts; k++) {
            if (parts[k].name.len == b[i].source_name.len
                && ngx_strncmp(parts[k].name.data, b[i].source_name.data,
                               b[i].source_name.len)
                   == 0)
            {
                b[i].source = k;
                break;
            }
        }
    }

    for (k = 0; k < alcf->parts->nelts; k++) {

        if (parts[k].bindings == NULL) {
            continue;
        }

        used = parts[k].bindings->elts;

        for (j = 0; j < parts[k].bindings->nelts; j++) {
            i = used[j];

            if (b[i].source == NGX_CONF_UNSET_UINT) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "aggregate part \"%V\" uses \"$%V=%V\", but "
                              "there is no part \"%V\" in this location "
                              "in %s:%ui", &parts[k].name, &b[i].name,
                              &b[i].spec, &b[i].source_name, parts[k].file,
                              parts[k].line);
                return NGX_CONF_ERROR;
            }

            if (b[i].source > k) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "aggregate part \"%V\" uses \"$%V=%V\", but "
                              "part \"%V\" comes after it: a part can use "
                              "values of earlier parts only in %s:%ui",
                              &parts[k].name, &b[i].name, &b[i].spec,
                              &b[i].source_name, parts[k].file,
                              parts[k].line);
                return NGX_CONF_ERROR;
            }

            parts[b[i].source].source = 1;
        }
    }

    /* values of parts are encoded already: the uri takes them as they are */

    for (k = 0; k < alcf->parts->nelts; k++) {
        elt = parts[k].elts->elts;

        for (j = 0; j < parts[k].elts->nelts; j++) {
            if (elt[j].name.len == 0) {
                continue;
            }

            for (i = 0; i < alcf->bindings->nelts; i++) {
                if (b[i].name.len == elt[j].name.len
                    && ngx_strncmp(b[i].name.data, elt[j].name.data,
                                   elt[j].name.len)
                       == 0)
                {
                    elt[j].binding = i;
                    break;
                }
            }
        }
    }

    return NGX_CONF_OK;
}


/* part names: letters, digits, "_" and "-"; variable names: no "-" */

static ngx_uint_t
ngx_http_aggregate_valid_name(ngx_str_t *name, ngx_uint_t dash)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len == 0) {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_' || (dash && c == '-'))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


static ngx_uint_t
ngx_http_aggregate_hex(u_char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}


static char *
ngx_http_aggregate_positive_msec(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *msec = data;

    if (*msec == 0) {
        return "must be positive";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_aggregate_positive_size(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *size = data;

    if (*size == 0) {
        return "must be positive";
    }

    return NGX_CONF_OK;
}


/*
 * A part reaches its location as an internal request, and proxy_pass
 * percent-encodes the uri of internal requests once more before sending
 * it: the values of a part's uri, encoded already, would arrive encoded
 * twice.  Once the part's location is found (an "internal" location
 * admits it), the part stops being internal, so that the uri goes to the
 * service as it was made.  See ngx_http_aggregate_precontent().
 */

static ngx_int_t
ngx_http_aggregate_init(ngx_conf_t *cf)
{
    ngx_str_t                        name = ngx_string("request_id");
    ngx_http_handler_pt             *h;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_aggregate_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aggregate_module);

    /* a configuration without parts pays nothing per request */

    if (!amcf->used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_aggregate_precontent;

    ngx_http_aggregate_request_id = ngx_http_get_variable_index(cf, &name);

    if (ngx_http_aggregate_request_id == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void *
ngx_http_aggregate_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_aggregate_main_conf_t));
}


static void *
ngx_http_aggregate_create_conf(ngx_conf_t *cf)
{
    ngx_http_aggregate_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aggregate_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->parts = NULL;
     *     conf->bindings = NULL;
     */

    conf->mode = NGX_CONF_UNSET_UINT;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->buffer_size = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_aggregate_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_aggregate_loc_conf_t *prev = parent;
    ngx_http_aggregate_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_aggregate_part_t  *parts;

    ngx_conf_merge_uint_value(conf->mode, prev->mode,
                              NGX_HTTP_AGGREGATE_GROUP);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 10000);
    ngx_conf_merge_size_value(conf->buffer_size, prev->buffer_size,
                              1024 * 1024);

    /* parts belong to their location: nested locations answer otherwise */

    if (conf->parts == NULL) {
        return NGX_CONF_OK;
    }

    parts = conf->parts->elts;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != ngx_http_aggregate_handler) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"aggregate\" cannot be mixed with another content "
                      "handler (proxy_pass, fastcgi_pass, js_content...) in "
                      "one location in %s:%ui", parts[0].file, parts[0].line);
        return NGX_CONF_ERROR;
    }

    return ngx_http_aggregate_resolve(cf, conf);
}
