
/*
 * Copyright (C) 2026 The meshgate authors (BSD-2-Clause, see LICENSE)
 *
 * meshgate: the trace headers an upstream receives: trace_propagate, and
 * trace_incoming off.
 *
 * The request's own headers are rewritten before the content phase rather
 * than adding a proxy_set_header: every upstream module (proxy, grpc,
 * fastcgi, uwsgi, scgi) sends what r->headers_in holds, so propagation
 * works with any of them, needs nothing in the location, and leaves the
 * user's own proxy_set_header lists alone (a location that sets one header
 * would otherwise lose the inherited ones).
 *
 * With propagation on, a request's headers become a new list without any
 * incoming traceparent and with the request's $traceparent, which carries
 * this hop's span id.  tracestate is kept, unchanged, when the incoming
 * trace continues; when a new trace starts it belongs to no trace of ours
 * and is dropped, as the specification says.  The list is rebuilt, not
 * edited: a subrequest's list shares its elements with the parent's, and
 * a header cannot be removed from an nginx list.
 *
 * With propagation off, the headers are the client's, as in plain nginx:
 * a location reached by an internal redirect from a propagating one, or a
 * subrequest of a propagating request, gets the original list back.
 *
 * With trace_incoming off, the client's traceparent and tracestate are
 * removed from the request as soon as its server is known (POST_READ),
 * before any module reads them: the request starts a new trace, upstreams
 * never receive the client's trace headers, whether the location
 * propagates or not, and $http_traceparent is empty.  The list without
 * them is then what "original" means above.
 */


#include "ngx_http_trace_module.h"


static ngx_int_t ngx_http_trace_rebuild(ngx_http_request_t *r,
    ngx_uint_t tracestate, u_char *traceparent);


ngx_int_t
ngx_http_trace_propagate_handler(ngx_http_request_t *r)
{
    ngx_http_trace_ctx_t       *ctx;
    ngx_http_trace_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_trace_module);

    if (!tlcf->propagate) {
        ctx = ngx_http_trace_get_ctx(r, 0);

        if (ctx && ctx->propagated
            && r->headers_in.headers.part.elts != ctx->original.part.elts)
        {
            r->headers_in.headers = ctx->original;
        }

        return NGX_DECLINED;
    }

    ctx = ngx_http_trace_get_ctx(r, 1);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * The main request's rewritten list, seen again after an internal
     * redirect or inherited by a subrequest, is already what is needed.
     */

    if (r->headers_in.headers.part.elts == ctx->rewritten) {
        return NGX_DECLINED;
    }

    /* a new trace's tracestate belongs to no trace that is sent on */

    if (ngx_http_trace_rebuild(r, ctx->continued, ctx->traceparent)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r == r->main) {
        ctx->rewritten = r->headers_in.headers.part.elts;
    }

    ctx->propagated = 1;

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_trace_incoming_handler(ngx_http_request_t *r)
{
    ngx_uint_t                  i;
    ngx_list_part_t            *part;
    ngx_table_elt_t            *h;
    ngx_http_trace_ctx_t       *ctx;
    ngx_http_trace_srv_conf_t  *tscf;

    tscf = ngx_http_get_module_srv_conf(r, ngx_http_trace_module);

    if (tscf->incoming) {
        return NGX_DECLINED;
    }

    /* most requests have no trace headers: nothing to rebuild */

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_DECLINED;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_trace_is_traceparent(&h[i])
            || ngx_http_trace_is_tracestate(&h[i]))
        {
            break;
        }
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "trace_incoming off: the client's trace headers removed");

    if (ngx_http_trace_rebuild(r, 0, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * A context made earlier (a variable used by a handler before this
     * one) keeps the list as it came: what trace_propagate off restores
     * must be this one.
     */

    ctx = ngx_http_trace_get_ctx(r, 0);

    if (ctx) {
        ctx->original = r->headers_in.headers;
    }

    return NGX_DECLINED;
}


/*
 * r's headers become a new list without any traceparent, with tracestate
 * only when asked, and with the given traceparent (unless NULL) at the end.
 */

static ngx_int_t
ngx_http_trace_rebuild(ngx_http_request_t *r, ngx_uint_t tracestate,
    u_char *traceparent)
{
    ngx_uint_t                   i, n;
    ngx_list_t                   old;
    ngx_list_part_t             *part;
    ngx_table_elt_t             *h, *e;
    ngx_http_trace_main_conf_t  *tmcf;

    old = r->headers_in.headers;

    n = 1;    /* room for the traceparent */

    for (part = &old.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&r->headers_in.headers, r->pool, n,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        r->headers_in.headers = old;
        return NGX_ERROR;
    }

    part = &old.part;
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

        if (ngx_http_trace_is_traceparent(&h[i])
            || (!tracestate && ngx_http_trace_is_tracestate(&h[i])))
        {
            continue;
        }

        e = ngx_list_push(&r->headers_in.headers);
        if (e == NULL) {
            r->headers_in.headers = old;
            return NGX_ERROR;
        }

        *e = h[i];
    }

    if (traceparent == NULL) {
        return NGX_OK;
    }

    e = ngx_list_push(&r->headers_in.headers);
    if (e == NULL) {
        r->headers_in.headers = old;
        return NGX_ERROR;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trace_module);

    e->hash = tmcf->hash;
    ngx_str_set(&e->key, "traceparent");
    e->value.data = traceparent;
    e->value.len = MG_TRACEPARENT_LEN;
    e->lowcase_key = (u_char *) "traceparent";
#if (nginx_version >= 1023000)
    e->next = NULL;
#endif

    return NGX_OK;
}
