
/*
 * meshgate: trace_propagate, the traceparent an upstream receives.
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
 */


#include "ngx_http_trace_module.h"


static ngx_int_t ngx_http_trace_rewrite(ngx_http_request_t *r,
    ngx_http_trace_ctx_t *ctx);


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

    if (ngx_http_trace_rewrite(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r == r->main) {
        ctx->rewritten = r->headers_in.headers.part.elts;
    }

    ctx->propagated = 1;

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_trace_rewrite(ngx_http_request_t *r, ngx_http_trace_ctx_t *ctx)
{
    ngx_uint_t                   i, n;
    ngx_list_t                   old;
    ngx_list_part_t             *part;
    ngx_table_elt_t             *h, *e;
    ngx_http_trace_main_conf_t  *tmcf;

    old = r->headers_in.headers;

    n = 1;

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
            || (!ctx->continued && ngx_http_trace_is_tracestate(&h[i])))
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

    e = ngx_list_push(&r->headers_in.headers);
    if (e == NULL) {
        r->headers_in.headers = old;
        return NGX_ERROR;
    }

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_trace_module);

    e->hash = tmcf->hash;
    ngx_str_set(&e->key, "traceparent");
    e->value.data = ctx->traceparent;
    e->value.len = MG_TRACEPARENT_LEN;
    e->lowcase_key = (u_char *) "traceparent";
#if (nginx_version >= 1023000)
    e->next = NULL;
#endif

    return NGX_OK;
}
