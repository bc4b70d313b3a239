
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: W3C Trace Context (Level 1) for every request.
 *
 * A request continues the trace of a valid incoming traceparent or starts
 * a new one, and is a new span (hop) of it.  $trace_id, $span_id,
 * $parent_span_id and $traceparent exist in every request without any
 * directive and are computed on first use; trace_propagate only decides
 * whether upstreams receive the traceparent (ngx_http_trace_propagate.c).
 * A server with trace_incoming off starts a new trace for every request
 * and removes the client's trace headers.
 */


#include <openssl/err.h>
#include <openssl/rand.h>

#include "ngx_http_trace_module.h"


#define NGX_HTTP_TRACE_VAR_TRACE_ID     0
#define NGX_HTTP_TRACE_VAR_SPAN_ID      1
#define NGX_HTTP_TRACE_VAR_PARENT       2
#define NGX_HTTP_TRACE_VAR_TRACEPARENT  3


static ngx_int_t ngx_http_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_trace_start(ngx_http_request_t *r,
    ngx_http_trace_ctx_t *ctx);
static ngx_uint_t ngx_http_trace_find(ngx_http_request_t *r,
    ngx_table_elt_t **found);
static ngx_uint_t ngx_http_trace_is_header(ngx_table_elt_t *h, u_char *name,
    size_t len);
static ngx_int_t ngx_http_trace_new_id(ngx_http_request_t *r, u_char *id,
    size_t n);
static ngx_int_t ngx_http_trace_random(ngx_http_request_t *r, u_char *dst,
    size_t n);
static void *ngx_http_trace_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_trace_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_trace_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_trace_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_trace_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_trace_propagate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_trace_incoming(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_trace_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_trace_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_trace_commands[] = {

    { ngx_string("trace_propagate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_trace_propagate,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_trace_loc_conf_t, propagate),
      NULL },

    { ngx_string("trace_incoming"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_http_trace_incoming,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_trace_srv_conf_t, incoming),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_trace_module_ctx = {
    ngx_http_trace_add_variables,          /* preconfiguration */
    ngx_http_trace_init,                   /* postconfiguration */

    ngx_http_trace_create_main_conf,       /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_trace_create_srv_conf,        /* create server configuration */
    ngx_http_trace_merge_srv_conf,         /* merge server configuration */

    ngx_http_trace_create_loc_conf,        /* create location configuration */
    ngx_http_trace_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_trace_module = {
    NGX_MODULE_V1,
    &ngx_http_trace_module_ctx,            /* module context */
    ngx_http_trace_commands,               /* module directives */
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


static ngx_http_variable_t  ngx_http_trace_vars[] = {

    { ngx_string("trace_id"), NULL, ngx_http_trace_variable,
      NGX_HTTP_TRACE_VAR_TRACE_ID, 0, 0 },

    { ngx_string("span_id"), NULL, ngx_http_trace_variable,
      NGX_HTTP_TRACE_VAR_SPAN_ID, 0, 0 },

    { ngx_string("parent_span_id"), NULL, ngx_http_trace_variable,
      NGX_HTTP_TRACE_VAR_PARENT, 0, 0 },

    { ngx_string("traceparent"), NULL, ngx_http_trace_variable,
      NGX_HTTP_TRACE_VAR_TRACEPARENT, 0, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_trace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_trace_ctx_t  *ctx;

    ctx = ngx_http_trace_get_ctx(r, 1);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /* the ids are parts of the traceparent: "00-" trace "-" span "-" */

    switch (data) {

    case NGX_HTTP_TRACE_VAR_TRACE_ID:
        v->data = ctx->traceparent + 3;
        v->len = 2 * MG_TRACE_ID_LEN;
        break;

    case NGX_HTTP_TRACE_VAR_SPAN_ID:
        v->data = ctx->traceparent + 4 + 2 * MG_TRACE_ID_LEN;
        v->len = 2 * MG_SPAN_ID_LEN;
        break;

    case NGX_HTTP_TRACE_VAR_PARENT:
        v->data = ctx->parent;
        v->len = ctx->continued ? 2 * MG_SPAN_ID_LEN : 0;
        break;

    default: /* NGX_HTTP_TRACE_VAR_TRACEPARENT */
        v->data = ctx->traceparent;
        v->len = MG_TRACEPARENT_LEN;
        break;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


ngx_http_trace_ctx_t *
ngx_http_trace_get_ctx(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_http_trace_ctx_t  *ctx, trace;

    /* subrequests are part of their main request's hop */

    r = r->main;

    /*
     * An internal redirect (error_page, try_files) clears module contexts,
     * but the trace must not change: the base module finds it again.
     */

    ctx = ngx_http_meshgate_get_ctx(r, &ngx_http_trace_module);

    if (ctx || !create) {
        return ctx;
    }

    /* made aside: a half-made context must never be found */

    if (ngx_http_trace_start(r, &trace) != NGX_OK) {
        return NULL;
    }

    ctx = ngx_http_meshgate_create_ctx(r, &ngx_http_trace_module,
                                       sizeof(ngx_http_trace_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    *ctx = trace;

    return ctx;
}


/* r is a main request whose headers were not rewritten yet */

static ngx_int_t
ngx_http_trace_start(ngx_http_request_t *r, ngx_http_trace_ctx_t *ctx)
{
    u_char                      trace_id[MG_TRACE_ID_LEN];
    u_char                      span[MG_SPAN_ID_LEN];
    unsigned                    flags;
    ngx_uint_t                  n;
    const char                 *err;
    ngx_table_elt_t            *found;
    mg_traceparent_t            tp;
    ngx_http_trace_srv_conf_t  *tscf;

    /*
     * The server's setting: the request's server is chosen before any
     * phase runs, so that every variable of a request, whenever it is
     * first used, sees the same trace.  (A request refused before its
     * Host is read is logged in the default server of its address, and
     * has that server's setting.)
     */

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_trace_module);

    found = NULL;
    n = tscf->incoming ? ngx_http_trace_find(r, &found) : 0;

    ngx_memzero(ctx, sizeof(ngx_http_trace_ctx_t));

    if (n == 1) {
        if (mg_traceparent_parse(found->value.data, found->value.len, &tp,
                                 &err)
            == 0)
        {
            ctx->continued = 1;

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "traceparent ignored, a new trace starts: %s", err);
        }

    } else if (n > 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "traceparent ignored, a new trace starts: "
                      "%ui traceparent headers", n);
    }

    if (ctx->continued) {
        ngx_memcpy(trace_id, tp.trace_id, MG_TRACE_ID_LEN);

        /* Level 1 defines only "sampled"; the other flags are sent as 0 */
        flags = tp.flags & MG_TRACE_FLAG_SAMPLED;

        mg_traceparent_hex(ctx->parent, tp.parent_id, MG_SPAN_ID_LEN);

    } else {
        if (ngx_http_trace_new_id(r, trace_id, MG_TRACE_ID_LEN) != NGX_OK) {
            return NGX_ERROR;
        }

        /*
         * A trace that starts here is marked sampled: the gateway logs it
         * (the access log has its ids), so the services should record
         * their part of it too.
         */

        flags = MG_TRACE_FLAG_SAMPLED;
    }

    /* a span id of its own, never the caller's */

    do {
        if (ngx_http_trace_new_id(r, span, MG_SPAN_ID_LEN) != NGX_OK) {
            return NGX_ERROR;
        }

    } while (ctx->continued
             && ngx_memcmp(span, tp.parent_id, MG_SPAN_ID_LEN) == 0);

    mg_traceparent_format(ctx->traceparent, trace_id, span, flags);

    ctx->original = r->headers_in.headers;

    return NGX_OK;
}


/* the number of traceparent headers, and the last one */

static ngx_uint_t
ngx_http_trace_find(ngx_http_request_t *r, ngx_table_elt_t **found)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && ngx_http_trace_is_traceparent(&h[i])) {
            *found = &h[i];
            n++;
        }
    }

    return n;
}


ngx_uint_t
ngx_http_trace_is_traceparent(ngx_table_elt_t *h)
{
    return ngx_http_trace_is_header(h, (u_char *) "traceparent",
                                    sizeof("traceparent") - 1);
}


ngx_uint_t
ngx_http_trace_is_tracestate(ngx_table_elt_t *h)
{
    return ngx_http_trace_is_header(h, (u_char *) "tracestate",
                                    sizeof("tracestate") - 1);
}


/* name is lowercase */

static ngx_uint_t
ngx_http_trace_is_header(ngx_table_elt_t *h, u_char *name, size_t len)
{
    if (h->key.len != len) {
        return 0;
    }

    /* nginx's parsers keep a lowercase copy of every name */

    if (h->lowcase_key) {
        return ngx_memcmp(h->lowcase_key, name, len) == 0;
    }

    return ngx_strncasecmp(h->key.data, name, len) == 0;
}


/* an id that is not all zeros, which the specification forbids */

static ngx_int_t
ngx_http_trace_new_id(ngx_http_request_t *r, u_char *id, size_t n)
{
    do {
        if (ngx_http_trace_random(r, id, n) != NGX_OK) {
            return NGX_ERROR;
        }

    } while (mg_traceparent_zero(id, n));

    return NGX_OK;
}


static ngx_int_t
ngx_http_trace_random(ngx_http_request_t *r, u_char *dst, size_t n)
{
    ngx_http_trace_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trace_module);

    /*
     * The buffer is refilled in the process that uses it: bytes drawn
     * before a fork would give every worker the same ids.
     */

    if (tmcf->pid != ngx_pid || (size_t) (tmcf->last - tmcf->pos) < n) {

        if (RAND_bytes(tmcf->random, NGX_HTTP_TRACE_RANDOM_SIZE) != 1) {
            ERR_clear_error();
            tmcf->pos = tmcf->last;

            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "trace: RAND_bytes() failed");
            return NGX_ERROR;
        }

        tmcf->pos = tmcf->random;
        tmcf->last = tmcf->random + NGX_HTTP_TRACE_RANDOM_SIZE;
        tmcf->pid = ngx_pid;
    }

    ngx_memcpy(dst, tmcf->pos, n);
    tmcf->pos += n;

    return NGX_OK;
}


static void *
ngx_http_trace_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_trace_main_conf_t  *tmcf;

    /*
     * set by ngx_pcalloc():
     *
     *     tmcf->pos = NULL;
     *     tmcf->last = NULL;
     *     tmcf->pid = 0;
     *     tmcf->propagate = 0;
     *     tmcf->ignore = 0;
     */

    tmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_trace_main_conf_t));
    if (tmcf == NULL) {
        return NULL;
    }

    tmcf->hash = ngx_hash_key((u_char *) "traceparent",
                              sizeof("traceparent") - 1);

    return tmcf;
}


static void *
ngx_http_trace_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_trace_srv_conf_t  *tscf;

    tscf = ngx_palloc(cf->pool, sizeof(ngx_http_trace_srv_conf_t));
    if (tscf == NULL) {
        return NULL;
    }

    tscf->incoming = NGX_CONF_UNSET;

    return tscf;
}


static char *
ngx_http_trace_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_trace_srv_conf_t  *prev = parent;
    ngx_http_trace_srv_conf_t  *conf = child;

    ngx_conf_merge_value(conf->incoming, prev->incoming, 1);

    return NGX_CONF_OK;
}


static void *
ngx_http_trace_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_trace_loc_conf_t  *tlcf;

    tlcf = ngx_palloc(cf->pool, sizeof(ngx_http_trace_loc_conf_t));
    if (tlcf == NULL) {
        return NULL;
    }

    tlcf->propagate = NGX_CONF_UNSET;

    return tlcf;
}


static char *
ngx_http_trace_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_trace_loc_conf_t  *prev = parent;
    ngx_http_trace_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->propagate, prev->propagate, 0);

    return NGX_CONF_OK;
}


static char *
ngx_http_trace_propagate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trace_loc_conf_t  *tlcf = conf;

    char                        *rv;
    ngx_http_trace_main_conf_t  *tmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* without "on" anywhere, no phase handler costs anything */

    if (tlcf->propagate) {
        tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_trace_module);
        tmcf->propagate = 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_trace_incoming(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_trace_srv_conf_t  *tscf = conf;

    char                        *rv;
    ngx_http_trace_main_conf_t  *tmcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* as with trace_propagate: only "off" needs a phase handler */

    if (!tscf->incoming) {
        tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_trace_module);
        tmcf->ignore = 1;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_trace_add_variables(ngx_conf_t *cf)
{
    return ngx_http_meshgate_register_variables(cf, ngx_http_trace_vars);
}


static ngx_int_t
ngx_http_trace_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt         *h;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_trace_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_trace_module);
    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * POST_READ runs once for a main request, after its server is chosen
     * and before anything else looks at its headers; internal redirects
     * and subrequests start later and keep, or copy, what it left.
     */

    if (tmcf->ignore) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_trace_incoming_handler;
    }

    if (tmcf->propagate) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_trace_propagate_handler;
    }

    return NGX_OK;
}
